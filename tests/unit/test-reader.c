/* SPDX-License-Identifier: MIT */
/* Unit test of the image reader: trees built in memory are written with cfs_image_write,
 * read back and compared field by field; rewriting what was read gives the same bytes; the
 * dump of what was read parses back to the same image; and damaged images (truncated,
 * bit-flipped, hand-crafted loops and bad offsets) fail cleanly with -EBADMSG or give a
 * valid tree, never a crash. */
#include <fcntl.h>
#include <inttypes.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "cfs-format.h"
#include "tree.h"
#include "uapi/erofs_fs.h"
#include "util.h"

/* ---- helpers ---- */

static uint64_t rng_state = 0x2545F4914F6CDD1DULL;
static uint64_t rng(void) {
        /* xorshift64*: fixed seed, so every run tests the same damaged images. */
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * 0x2545F4914F6CDD1DULL;
}

static cfs_node *add(cfs_node *dir, const char *name, uint32_t mode) {
        cfs_node *n = cfs_node_new(mode);
        CHECK(n);
        n->uid = 0;
        n->gid = 0;
        n->mtime_sec = 1700000000;
        n->mtime_nsec = 0;
        CHECK(cfs_node_add_child(dir, n, name, true) == 0);
        return n;
}

static void set_x(cfs_node *n, const char *key, const char *value) {
        CHECK(cfs_node_set_xattr(n, key, value, strlen(value)) == 0);
}

/* Writes the tree's image; returns it in a malloc'ed buffer. */
static uint8_t *write_image(cfs_node *root, unsigned version, size_t *ret_size) {
        int fd = memfd_create("image", MFD_CLOEXEC);
        CHECK(fd >= 0);
        struct cfs_write_options o = { .min_version = version, .max_version = version ? version : 1 };
        int r = cfs_image_write(root, fd, &o);
        if (r < 0)
                fprintf(stderr, "cfs_image_write: %s\n", strerror(-r));
        CHECK(r == 0);
        struct stat st;
        CHECK(fstat(fd, &st) == 0);
        uint8_t *buf = malloc((size_t) st.st_size + 1);
        CHECK(buf);
        CHECK(loop_pread(fd, buf, (size_t) st.st_size, 0) == st.st_size);
        close(fd);
        *ret_size = (size_t) st.st_size;
        return buf;
}

static cfs_node *read_fd_image(const uint8_t *img, size_t size) {
        int fd = memfd_create("image", MFD_CLOEXEC);
        CHECK(fd >= 0);
        CHECK(loop_write(fd, img, size) == 0);
        cfs_node *root = NULL;
        int r = cfs_image_read(fd, &root);
        if (r < 0)
                fprintf(stderr, "cfs_image_read: %s\n", strerror(-r));
        CHECK(r == 0 && root);
        close(fd);
        return root;
}

static int cmp_xattr(const void *a, const void *b) {
        return strcmp(((const struct cfs_xattr *) a)->key, ((const struct cfs_xattr *) b)->key);
}

static void sort_xattrs(cfs_node *n) {
        if (n->n_xattrs > 1)
                qsort(n->xattrs, n->n_xattrs, sizeof(*n->xattrs), cmp_xattr);
}

/* Compares everything an image records; both trees sorted. */
static void compare(cfs_node *a, cfs_node *b) {
        _cleanup_free_ char *pa = cfs_node_path(a), *pb = cfs_node_path(b);
        CHECK(pa && pb);
        if (!streq(pa, pb))
                fprintf(stderr, "path %s != %s\n", pa, pb);
        CHECK(streq(pa, pb));
        if (!a->link_to != !b->link_to)
                fprintf(stderr, "%s: link_to differs\n", pa);
        CHECK(!a->link_to == !b->link_to);
        if (a->link_to) {
                _cleanup_free_ char *ta = cfs_node_path(a->link_to), *tb = cfs_node_path(b->link_to);
                CHECK(ta && tb && streq(ta, tb));
                return;
        }
        if (a->mode != b->mode)
                fprintf(stderr, "%s: mode %o != %o\n", pa, a->mode, b->mode);
        CHECK(a->mode == b->mode);
        CHECK(a->uid == b->uid && a->gid == b->gid);
        CHECK(a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec);
        if (S_ISREG(a->mode))
                CHECK(a->size == b->size);
        if (S_ISLNK(a->mode) || S_ISREG(a->mode))
                CHECK(!a->payload == !b->payload && (!a->payload || streq(a->payload, b->payload)));
        if (S_ISCHR(a->mode) || S_ISBLK(a->mode))
                CHECK(a->rdev == b->rdev);
        CHECK(!a->content == !b->content);
        if (a->content)
                CHECK(memcmp(a->content, b->content, a->size) == 0);
        CHECK(a->has_digest == b->has_digest);
        if (a->has_digest)
                CHECK(memcmp(a->digest, b->digest, CFS_DIGEST_SIZE) == 0);
        sort_xattrs(a);
        sort_xattrs(b);
        if (a->n_xattrs != b->n_xattrs)
                fprintf(stderr, "%s: %zu xattrs != %zu\n", pa, a->n_xattrs, b->n_xattrs);
        CHECK(a->n_xattrs == b->n_xattrs);
        for (size_t i = 0; i < a->n_xattrs; i++) {
                CHECK(streq(a->xattrs[i].key, b->xattrs[i].key));
                CHECK(a->xattrs[i].value_len == b->xattrs[i].value_len);
                CHECK(memcmp(a->xattrs[i].value, b->xattrs[i].value, a->xattrs[i].value_len) == 0);
        }
        CHECK(a->n_children == b->n_children);
        for (size_t i = 0; i < a->n_children; i++)
                compare(a->children[i], b->children[i]);
}

static size_t count_nodes(cfs_node *n) {
        size_t c = 1;
        for (size_t i = 0; i < n->n_children; i++)
                c += count_nodes(n->children[i]);
        return c;
}

/* ---- the trees ---- */

static cfs_node *make_big_tree(void) {
        cfs_node *root = cfs_node_new(S_IFDIR | 0755);
        CHECK(root);
        root->mtime_sec = 1700000000;
        set_x(root, "security.selinux", "system_u:object_r:root_t:s0");

        cfs_node *f = add(root, "inline", S_IFREG | 0644);
        CHECK(cfs_node_set_content(f, "hello\n", 6) == 0);
        set_x(f, "user.foo", "bar");
        set_x(f, "security.selinux", "system_u:object_r:etc_t:s0");
        set_x(f, "trusted.overlay.redirect", "/user-owned"); /* must be escaped and come back */
        set_x(f, "user.overlay.redirect", "/foo\n");

        uint8_t big[CFS_INLINE_CONTENT_MAX];
        for (size_t i = 0; i < sizeof big; i++)
                big[i] = (uint8_t) rng();
        cfs_node *b = add(root, "inline-5000", S_IFREG | 0600);
        CHECK(cfs_node_set_content(b, big, sizeof big) == 0);
        b = add(root, "inline-4095", S_IFREG | 0600);
        CHECK(cfs_node_set_content(b, big, 4095) == 0);
        b = add(root, "inline-4096", S_IFREG | 0600);
        CHECK(cfs_node_set_content(b, big, 4096) == 0);
        b = add(root, "inline-2049", S_IFREG | 0600);
        CHECK(cfs_node_set_content(b, big, 2049) == 0);

        uint8_t digest[CFS_DIGEST_SIZE];
        for (size_t i = 0; i < sizeof digest; i++)
                digest[i] = (uint8_t) (i * 7 + 1);
        cfs_node *e = add(root, "external", S_IFREG | 0755);
        e->size = 123456789;
        cfs_node_set_digest(e, digest);
        CHECK(cfs_node_set_payload(e, "01/234567890abcdef") == 0);
        set_x(e, "security.selinux", "system_u:object_r:etc_t:s0");

        cfs_node *e2 = add(root, "external-nodigest", S_IFREG | 0644);
        e2->size = 1;
        CHECK(cfs_node_set_payload(e2, "aa/bb") == 0);
        cfs_node *e3 = add(root, "external-huge", S_IFREG | 0644);
        e3->size = (uint64_t) 1 << 50;
        cfs_node_set_digest(e3, digest);
        CHECK(cfs_node_set_payload(e3, "cc/dd") == 0);

        add(root, "empty", S_IFREG | 0644);

        cfs_node *l = add(root, "symlink", S_IFLNK | 0777);
        CHECK(cfs_node_set_payload(l, "target/of/link") == 0);
        l->size = strlen(l->payload);
        char longt[CFS_PAYLOAD_MAX + 1];
        memset(longt, 'x', CFS_PAYLOAD_MAX);
        longt[CFS_PAYLOAD_MAX] = '\0';
        l = add(root, "symlink-long", S_IFLNK | 0777);
        CHECK(cfs_node_set_payload(l, longt) == 0);
        l->size = CFS_PAYLOAD_MAX;

        cfs_node *c = add(root, "null", S_IFCHR | 0666);
        c->rdev = makedev(1, 3);
        c = add(root, "sda1", S_IFBLK | 0660);
        c->rdev = makedev(8, 1);
        c->gid = 6;
        c = add(root, "bigdev", S_IFCHR | 0600);
        c->rdev = makedev(4000, 300000);
        add(root, "fifo", S_IFIFO | 0644);
        add(root, "sock", S_IFSOCK | 0755);

        /* Extended inodes: big ids, own mtimes. */
        cfs_node *x = add(root, "extended", S_IFREG | 04755);
        x->uid = 100000;
        x->gid = 200000;
        x->mtime_sec = 1800000000;
        x->mtime_nsec = 123456789;
        CHECK(cfs_node_set_content(x, "x", 1) == 0);
        x = add(root, "old", S_IFREG | 0644);
        x->mtime_sec = -5;
        x->mtime_nsec = 999999999;

        /* Hard links, including one to an external file. */
        cfs_node *h = add(root, "zz-hardlink", S_IFREG | 0644);
        CHECK(cfs_node_make_hardlink(h, f) == 0);
        h = add(root, "zz-hardlink-ext", S_IFREG | 0644);
        CHECK(cfs_node_make_hardlink(h, e) == 0);

        /* A big directory (several blocks), names up to 255 bytes, shared xattrs. */
        cfs_node *d = add(root, "big", S_IFDIR | 0755);
        for (int i = 0; i < 300; i++) {
                char name[CFS_NAME_MAX + 1];
                int len = 1 + i % 255;
                snprintf(name, sizeof name, "%04d", i);
                memset(name + 4, 'a' + i % 26, (size_t) MAX(len - 4, 0));
                name[MAX(len, 4)] = '\0';
                cfs_node *n = add(d, name, S_IFREG | 0644);
                set_x(n, "user.shared", "same value everywhere");
                if (i % 3 == 0)
                        set_x(n, "user.odd", "x");
        }

        /* Whiteouts in a subdirectory and an escaped opaque of the user's own. */
        cfs_node *w = add(root, "wdir", S_IFDIR | 0755);
        cfs_node *wo = add(w, "gone", S_IFCHR | 0000);
        wo->rdev = makedev(0, 0);
        add(w, "kept", S_IFREG | 0644);
        cfs_node *o = add(root, "opaque-dir", S_IFDIR | 0755);
        set_x(o, "trusted.overlay.opaque", "y");
        set_x(o, "user.overlay.opaque", "x");

        /* A deep chain. */
        cfs_node *p = root;
        for (int i = 0; i < 60; i++)
                p = add(p, "deep", S_IFDIR | 0700);
        add(p, "bottom", S_IFREG | 0644);

        /* ACLs (their own xattr name indexes). */
        cfs_node *acl = add(root, "acl", S_IFREG | 0644);
        CHECK(cfs_node_set_xattr(acl, "system.posix_acl_access", "\x02\0\0\0", 4) == 0);
        set_x(acl, "system.nfs4_acl", "nfs");
        set_x(acl, "trusted.foo", "t");
        return root;
}

/* ---- crafted damage ---- */

static void test_damage(const uint8_t *img, size_t size, int iterations);

/* Finds the directory entry NAME in directory DIR_NID of image (inline tail or first block). */
static uint8_t *find_dirent(uint8_t *img, size_t size, uint64_t dir_nid, const char *name) {
        const struct erofs_super_block *sb = (const void *) (img + EROFS_SUPER_OFFSET);
        uint64_t off = (uint64_t) le32toh(sb->meta_blkaddr) * EROFS_BLKSIZ + dir_nid * EROFS_SLOTSIZE;
        CHECK(off + 64 <= size);
        uint16_t fmt = le16toh(*(uint16_t *) (img + off));
        unsigned isize = (fmt & 1) ? 64 : 32;
        uint16_t icount = le16toh(*(uint16_t *) (img + off + 2));
        unsigned layout = (fmt >> 1) & 7;
        uint64_t dsize = (fmt & 1) ? le64toh(*(uint64_t *) (img + off + 8)) : le32toh(*(uint32_t *) (img + off + 8));
        uint32_t blk = le32toh(*(uint32_t *) (img + off + 16));
        uint8_t *b;
        size_t blen;
        if (layout == EROFS_INODE_FLAT_INLINE && dsize < EROFS_BLKSIZ) {
                b = img + off + isize + erofs_xattr_ibody_size(icount);
                blen = dsize;
        } else {
                b = img + (uint64_t) blk * EROFS_BLKSIZ;
                blen = MIN(dsize, (uint64_t) EROFS_BLKSIZ);
        }
        unsigned n = le16toh(((struct erofs_dirent *) b)->nameoff) / 12;
        for (unsigned i = 0; i < n; i++) {
                struct erofs_dirent *d = (struct erofs_dirent *) b + i;
                size_t s = le16toh(d->nameoff);
                size_t e = i + 1 < n ? le16toh(d[1].nameoff) : strnlen((char *) b + s, blen - s) + s;
                if (e - s == strlen(name) && memcmp(b + s, name, e - s) == 0)
                        return (uint8_t *) d;
        }
        CHECK(!"dirent not found");
        return NULL;
}

static uint64_t dirent_nid(const uint8_t *d) {
        uint64_t v;
        memcpy(&v, d, 8);
        return le64toh(v);
}

static void set_dirent_nid(uint8_t *d, uint64_t nid) {
        uint64_t v = htole64(nid);
        memcpy(d, &v, 8);
}

static int read_copy(const uint8_t *img, size_t size) {
        /* An exact-size copy, so ASan sees any read past the end. */
        uint8_t *c = malloc(size ? size : 1);
        CHECK(c);
        memcpy(c, img, size);
        cfs_node *root = NULL;
        int r = cfs_image_read_buffer(c, size, &root);
        if (r == 0) {
                CHECK(root);
                /* A tree we accepted must be usable: dump it. */
                char *buf = NULL;
                size_t len = 0;
                FILE *f = open_memstream(&buf, &len);
                CHECK(f);
                CHECK(cfs_dump_write(f, root) == 0);
                fclose(f);
                free(buf);
                cfs_node_free(root);
        } else
                CHECK(!root);
        free(c);
        return r;
}

static void test_crafted(void) {
        cfs_node *root = cfs_node_new(S_IFDIR | 0755);
        CHECK(root);
        cfs_node *a = add(root, "a", S_IFDIR | 0755);
        add(root, "b", S_IFDIR | 0755);
        cfs_node *f = add(root, "file", S_IFREG | 0644);
        CHECK(cfs_node_set_content(f, "data", 4) == 0);
        add(a, "inner", S_IFREG | 0644);
        size_t size;
        uint8_t *img = write_image(root, 0, &size);
        CHECK(read_copy(img, size) == 0);
        test_damage(img, size, 20000);

        const struct erofs_super_block *sb = (const void *) (img + EROFS_SUPER_OFFSET);
        uint64_t root_nid = le16toh(sb->root_nid);
        uint8_t *img2 = malloc(size);
        CHECK(img2);

        /* A directory entry pointing back at the root: a loop. */
        memcpy(img2, img, size);
        set_dirent_nid(find_dirent(img2, size, root_nid, "a"), root_nid);
        CHECK(read_copy(img2, size) == -EBADMSG);
        printf("PASS: reader: entry pointing at the root is refused\n");

        /* Two entries naming the same directory: a directory hard link. */
        memcpy(img2, img, size);
        uint64_t a_nid = dirent_nid(find_dirent(img2, size, root_nid, "a"));
        set_dirent_nid(find_dirent(img2, size, root_nid, "b"), a_nid);
        CHECK(read_copy(img2, size) == -EBADMSG);
        printf("PASS: reader: directory reached twice is refused\n");

        /* A subdirectory whose entry names its own parent: loop through a child. */
        memcpy(img2, img, size);
        set_dirent_nid(find_dirent(img2, size, a_nid, "inner"), a_nid);
        CHECK(read_copy(img2, size) == -EBADMSG);
        printf("PASS: reader: directory containing itself is refused\n");

        /* Entry type disagreeing with the inode. */
        memcpy(img2, img, size);
        find_dirent(img2, size, root_nid, "file")[10] = EROFS_FT_DIR;
        CHECK(read_copy(img2, size) == -EBADMSG);
        /* nid far past the end. */
        memcpy(img2, img, size);
        set_dirent_nid(find_dirent(img2, size, root_nid, "file"), UINT64_MAX / 2);
        CHECK(read_copy(img2, size) == -EBADMSG);
        /* "." pointing elsewhere. */
        memcpy(img2, img, size);
        set_dirent_nid(find_dirent(img2, size, a_nid, "."), root_nid);
        CHECK(read_copy(img2, size) == -EBADMSG);
        /* root_nid pointing at a file. */
        memcpy(img2, img, size);
        uint64_t file_nid = dirent_nid(find_dirent(img2, size, root_nid, "file"));
        ((struct erofs_super_block *) (img2 + EROFS_SUPER_OFFSET))->root_nid = htole16((uint16_t) file_nid);
        CHECK(read_copy(img2, size) == -EBADMSG);
        /* Bad magics, block size, incompat features, version. */
        static const size_t offs[] = { 0, 4, 12, EROFS_SUPER_OFFSET, EROFS_SUPER_OFFSET + 12,
                                       EROFS_SUPER_OFFSET + offsetof(struct erofs_super_block, feature_incompat) };
        for (size_t i = 0; i < ELEMENTSOF(offs); i++) {
                memcpy(img2, img, size);
                img2[offs[i]] ^= 0x40;
                CHECK(read_copy(img2, size) == -EBADMSG);
        }
        printf("PASS: reader: bad nids, types, magics and features are refused\n");

        /* Not images at all. */
        CHECK(read_copy((const uint8_t *) "", 0) == -EBADMSG);
        memset(img2, 0, size);
        CHECK(read_copy(img2, size) == -EBADMSG);
        for (size_t i = 0; i < size; i++)
                img2[i] = (uint8_t) rng();
        CHECK(read_copy(img2, size) == -EBADMSG);
        CHECK(read_copy((const uint8_t *) "hello world\n", 12) == -EBADMSG);
        printf("PASS: reader: empty, zero and random input is refused\n");

        free(img2);
        free(img);
        cfs_node_free(root);
}

/* Truncations and random damage of a real image: never a crash; -EBADMSG or a tree. */
static void test_damage(const uint8_t *img, size_t size, int iterations) {
        size_t ok = 0, bad = 0;

        /* Plain truncation: the superblock's block count no longer fits. */
        for (size_t len = 0; len < size; len += (len < 8192 ? 1 : 97)) {
                int r = read_copy(img, len);
                CHECK(r == -EBADMSG);
        }
        printf("PASS: reader: every truncation is refused\n");

        /* Truncation with the block count adjusted: the deeper bounds checks must hold. */
        uint8_t *c = malloc(size);
        CHECK(c);
        for (size_t len = EROFS_SUPER_OFFSET + 128; len < size; len += 61) {
                memcpy(c, img, len);
                ((struct erofs_super_block *) (c + EROFS_SUPER_OFFSET))->blocks = htole32((uint32_t) (len / EROFS_BLKSIZ));
                int r = read_copy(c, len);
                CHECK(r == 0 || r == -EBADMSG);
                r == 0 ? ok++ : bad++;
        }
        printf("PASS: reader: truncations with adjusted block count: %zu refused, %zu read\n", bad, ok);

        /* Random bit flips and byte smashes, mostly in the metadata where they matter. */
        ok = bad = 0;
        for (int iter = 0; iter < iterations; iter++) {
                memcpy(c, img, size);
                int flips = 1 + (int) (rng() % 8);
                size_t span = iter % 2 ? size : MIN(size, (size_t) 3 * EROFS_BLKSIZ);
                for (int k = 0; k < flips; k++) {
                        size_t pos = rng() % span;
                        if (rng() % 4 == 0)
                                c[pos] = (uint8_t) rng();
                        else
                                c[pos] ^= (uint8_t) (1u << (rng() % 8));
                }
                int r = read_copy(c, size);
                CHECK(r == 0 || r == -EBADMSG);
                r == 0 ? ok++ : bad++;
        }
        free(c);
        printf("PASS: reader: %d damaged images of %zu bytes: %zu refused, %zu read as valid trees\n",
               iterations, size, bad, ok);
}

static void test_roundtrip(void) {
        _cleanup_node_ cfs_node *root = make_big_tree();
        size_t size, size2, size3;
        uint8_t *img = write_image(root, 0, &size);

        _cleanup_node_ cfs_node *back = read_fd_image(img, size);
        CHECK(cfs_node_sort_children(root) == 0);
        CHECK(cfs_node_sort_children(back) == 0);
        compare(root, back);
        printf("PASS: reader: every field of %zu nodes survives write -> read\n", count_nodes(root));

        /* Rewriting what was read gives the same bytes. */
        uint8_t *img2 = write_image(back, 0, &size2);
        CHECK(size == size2 && memcmp(img, img2, size) == 0);
        printf("PASS: reader: write -> read -> write is byte-identical (%zu bytes)\n", size);

        /* Through the dump format, and the dump of the second read is the same text. */
        char *d1 = NULL, *d2 = NULL;
        size_t l1 = 0, l2 = 0;
        FILE *f = open_memstream(&d1, &l1);
        CHECK(f && cfs_dump_write(f, back) == 0);
        fclose(f);
        struct cfs_parse_error err = {};
        _cleanup_node_ cfs_node *parsed = NULL;
        int r = cfs_dump_parse_buffer(d1, l1, &parsed, &err);
        if (r < 0)
                fprintf(stderr, "dump parse: line %u: %s\n", err.line, err.msg);
        CHECK(r == 0);
        uint8_t *img3 = write_image(parsed, 0, &size3);
        CHECK(size == size3 && memcmp(img, img3, size) == 0);
        _cleanup_node_ cfs_node *back3 = read_fd_image(img3, size3);
        f = open_memstream(&d2, &l2);
        CHECK(f && cfs_dump_write(f, back3) == 0);
        fclose(f);
        CHECK(l1 == l2 && memcmp(d1, d2, l1) == 0);
        printf("PASS: reader: image -> dump -> image is byte-identical, dump stable\n");

        /* The whiteout came back as a character device 0:0, and the writer's markers are gone. */
        cfs_node *w = cfs_node_lookup_child(back, "wdir");
        CHECK(w && w->n_xattrs == 0);
        cfs_node *g = cfs_node_lookup_child(w, "gone");
        CHECK(g && S_ISCHR(g->mode) && g->rdev == 0 && g->n_xattrs == 0);
        cfs_node *o = cfs_node_lookup_child(back, "opaque-dir");
        CHECK(o && cfs_node_get_xattr(o, "trusted.overlay.opaque") && cfs_node_get_xattr(o, "user.overlay.opaque"));
        CHECK(back->n_xattrs == 1); /* the root's opaque marker is the writer's */
        printf("PASS: reader: whiteouts and escaped overlay xattrs come back as the tree had them\n");

        /* Format version 1 adds opaque markers to directories with whiteouts: still invisible. */
        uint8_t *img4 = write_image(root, 1, &size3);
        _cleanup_node_ cfs_node *back4 = read_fd_image(img4, size3);
        CHECK(cfs_node_sort_children(back4) == 0);
        compare(root, back4);
        printf("PASS: reader: format version 1 image reads back the same tree\n");

        test_damage(img, size, 3000);

        free(img);
        free(img2);
        free(img3);
        free(img4);
        free(d1);
        free(d2);
}

static void test_minimal(void) {
        /* The smallest tree: an empty root. */
        _cleanup_node_ cfs_node *root = cfs_node_new(S_IFDIR | 0700);
        CHECK(root);
        size_t size;
        uint8_t *img = write_image(root, 0, &size);
        _cleanup_node_ cfs_node *back = read_fd_image(img, size);
        compare(root, back);
        CHECK(back->n_children == 0);

        /* Through a pipe, too. */
        int p[2];
        CHECK(pipe2(p, O_CLOEXEC) == 0);
        CHECK(size < 65536);
        CHECK(loop_write(p[1], img, size) == 0);
        close(p[1]);
        _cleanup_node_ cfs_node *back2 = NULL;
        CHECK(cfs_image_read(p[0], &back2) == 0);
        close(p[0]);
        compare(root, back2);
        test_damage(img, size, 20000);
        free(img);
        printf("PASS: reader: empty root via memfd and pipe\n");
}

static void test_deep(void) {
        /* 2000 nested directories: paths just under CFS_PATH_MAX; read without recursion. */
        _cleanup_node_ cfs_node *root = cfs_node_new(S_IFDIR | 0755);
        CHECK(root);
        cfs_node *p = root;
        for (int i = 0; i < 2000; i++)
                p = add(p, "d", S_IFDIR | 0755);
        size_t size;
        uint8_t *img = write_image(root, 0, &size);
        _cleanup_node_ cfs_node *back = read_fd_image(img, size);
        compare(root, back);
        size_t depth = 0;
        for (cfs_node *n = back; n->n_children > 0; n = n->children[0])
                depth++;
        CHECK(depth == 2000);
        free(img);

        /* At the depth limit, the reader accepts exactly what the writer and the dump printer
         * (tree.c's walk) accept. */
        for (int extra = 40; extra <= 45; extra++) {
                for (int i = 0; i < 10; i++)
                        p = add(p, "d", S_IFDIR | 0755);
                int fd = memfd_create("image", MFD_CLOEXEC);
                CHECK(fd >= 0);
                int w = cfs_image_write(root, fd, NULL);
                if (w == 0) {
                        cfs_node *t = NULL;
                        int r = cfs_image_read(fd, &t);
                        if (r < 0)
                                fprintf(stderr, "depth %d: written, read gives %s\n", 2000 + 10 * (extra - 39), strerror(-r));
                        CHECK(r == 0);
                        char *buf = NULL;
                        size_t len = 0;
                        FILE *f = open_memstream(&buf, &len);
                        CHECK(f && cfs_dump_write(f, t) == 0);
                        fclose(f);
                        free(buf);
                        cfs_node_free(t);
                }
                close(fd);
        }
        printf("PASS: reader: 2000 nested directories, and as deep as the writer goes\n");
}

int main(void) {
        test_minimal();
        test_deep();
        test_roundtrip();
        test_crafted();
        return 0;
}
