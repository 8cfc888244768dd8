/* SPDX-License-Identifier: MIT */
/* The image writer: known answers (images upstream mkcomposefs 1.0.8 wrote for small
 * upstream test dumps), the xattr filter hash, the header/superblock fields, format version
 * choice, reproducibility whatever the insertion order, big directories, and the trees the
 * format cannot hold. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "cfs-format.h"
#include "tree.h"
#include "util.h"

static cfs_node *parse(const char *text) {
        struct cfs_parse_error err;
        cfs_node *root = NULL;
        if (cfs_dump_parse_buffer(text, strlen(text), &root, &err) < 0)
                fprintf(stderr, "line %u: %s\n", err.line, err.msg);
        CHECK(root);
        return root;
}

/* Writes the image into memory; returns its size, the data in *ret. */
static int write_image(cfs_node *root, const struct cfs_write_options *o, uint8_t **ret, size_t *ret_size) {
        _cleanup_close_ int fd = memfd_create("img", MFD_CLOEXEC);
        CHECK(fd >= 0);
        int r = cfs_image_write(root, fd, o);
        if (r < 0)
                return r;
        off_t size = lseek(fd, 0, SEEK_END);
        CHECK(size > 0 && size % 4096 == 0);
        uint8_t *buf = malloc(size);
        CHECK(buf);
        CHECK(loop_pread(fd, buf, size, 0) == size);
        *ret = buf;
        *ret_size = size;
        return 0;
}

static void sha256_hex(const uint8_t *data, size_t n, char out[65]) {
        uint8_t md[32];
        unsigned len = 0;
        CHECK(EVP_Digest(data, n, md, &len, EVP_sha256(), NULL) == 1 && len == 32);
        hex_encode(md, 32, out);
}

static const struct {
        const char *name, *dump;
        unsigned min, max;
        const char *sha256;
        size_t size;
} known[] = {
        { "bigfile",
          "/ 4096 40755 2 0 0 0 0.0 - - -\n"
          "/bigfile 9000000000000000 100777 1 0 0 0 0.0 - - -\n",
          0, 1, "475838479da68b086445eca1f12dd30fc4513f3f88c66b40b58fd70f7495ea27", 20480 },
        { "bigfile-xattr",
          "/ 4096 40755 2 0 0 0 0.0 - - -\n"
          "/bigfile 9001899274941000 100777 1 0 0 0 0.0 - - - user.foo=\n",
          0, 1, "5bdb37d78dcf03b4ab1adc9a2d5212d3d95213b41628939f5fe3769f93d927cc", 20480 },
        { "chardev-nonzero-size",
          "/ 4096 40755 2 0 0 0 0.0 - - -\n"
          "/chardev 1 20777 1 0 0 0 0.0 - - -\n",
          0, 1, "3e7ca8195f29cfd0583ed761c8eead21892ef0ec61d1402aa7f7d84ef8316947", 16384 },
        { "no-newline (v0)",
          "/ 4096 40555 222 0 0 10 0.0 - - - trusted.foo1=bar-1 user.foo2=bar-2\n"
          "/a 0 100644 1 0 0 0 0.0 - - -\n"
          "/b 0 100644 1 0 0 0 0.0 - - -",
          0, 0, "99f02c3c63d0c4c14be6f63e87250adafc0e173a12354f50d9ba7cd320deeca7", 16384 },
        { "bigfile-with-acl",
          "/ 4096 40755 2 0 0 0 0.0 - - -\n"
          "/something-with-acls-and-overlay 8960932074941261 100777 1 0 0 0 0.0 - - - "
          "system.posix_acl_default=x user.foo=xxxxxx\n",
          0, 1, "49fcb98c1d331c3f4b414d99d17aac0a6a7e1f8fe7de0d33bbe53064fa55e88b", 24576 },
};

static void test_known_answers(void) {
        for (size_t i = 0; i < ELEMENTSOF(known); i++) {
                _cleanup_node_ cfs_node *root = parse(known[i].dump);
                struct cfs_write_options o = { .min_version = known[i].min, .max_version = known[i].max };
                _cleanup_free_ uint8_t *img = NULL;
                size_t size;
                char hex[65];
                CHECK(write_image(root, &o, &img, &size) == 0);
                sha256_hex(img, size, hex);
                if (!streq(hex, known[i].sha256))
                        fprintf(stderr, "%s: got %s (%zu bytes)\n", known[i].name, hex, size);
                CHECK(size == known[i].size);
                CHECK(streq(hex, known[i].sha256));
        }
        printf("PASS: writer: %zu known-answer images byte-identical to upstream\n", ELEMENTSOF(known));
}

static void test_xxh32(void) {
        /* Reference values of XXH32 with seed 0. */
        CHECK(cfs_xxh32("", 0, 0) == 0x02CC5D05U);
        CHECK(cfs_xxh32("a", 1, 0) == 0x550D7456U);
        CHECK(cfs_xxh32("abc", 3, 0) == 0x32D153FFU);
        /* 16 bytes and more go through the four-lane stripe loop. */
        CHECK(cfs_xxh32("Nobody inspects the spammish repetition", 39, 0) == 0xE2293B2FU);
        printf("PASS: writer: xxh32 reference values\n");
}

static uint32_t le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static void test_header_and_version(void) {
        const char *with_whiteout =
                "/ 4096 40755 2 0 0 0 100.5 - - -\n"
                "/d 4096 40755 2 0 0 0 50.7 - - -\n"
                "/d/wh 0 20000 1 0 0 0 200.0 - - -\n"
                "/f 1 100644 1 0 0 0 300.0 - - - system.posix_acl_access=\\x02\\x00\\x00\\x00\n";
        _cleanup_node_ cfs_node *root = parse(with_whiteout);
        _cleanup_free_ uint8_t *img = NULL, *img0 = NULL;
        size_t size, size0;

        CHECK(write_image(root, NULL, &img, &size) == 0);
        CHECK(le32(img) == CFS_EROFS_MAGIC);
        CHECK(le32(img + 4) == CFS_EROFS_HEADER_VERSION);
        CHECK(le32(img + 8) == CFS_EROFS_FLAGS_HAS_ACL);
        CHECK(le32(img + 12) == 1); /* a whiteout makes it version 1 */
        const struct erofs_super_block *sb = (const void *) (img + EROFS_SUPER_OFFSET);
        CHECK(le32toh(sb->magic) == EROFS_SUPER_MAGIC_V1);
        CHECK(sb->blkszbits == 12);
        CHECK(le16toh(sb->root_nid) == 36); /* first slot after the superblock */
        CHECK(le64toh(sb->inos) == 4 + 256); /* 4 inodes + whiteouts 00..ff in the root */
        CHECK(le64toh(sb->build_time) == 50 && le32toh(sb->build_time_nsec) == 7);
        CHECK((uint64_t) le32toh(sb->blocks) * 4096 == size);

        struct cfs_write_options v0 = { .min_version = 0, .max_version = 0 };
        CHECK(write_image(root, &v0, &img0, &size0) == 0);
        CHECK(le32(img0 + 12) == 0);
        CHECK(size0 != size || memcmp(img0, img, size) != 0); /* no opaque "x" in v0 */

        /* no whiteout: version 0 even when 1 is allowed */
        _cleanup_node_ cfs_node *plain = parse("/ 0 40755 2 0 0 0 0.0 - - -\n");
        _cleanup_free_ uint8_t *img2 = NULL;
        CHECK(write_image(plain, NULL, &img2, &size) == 0);
        CHECK(le32(img2 + 12) == 0 && le32(img2 + 8) == 0);
        struct cfs_write_options bad = { .min_version = 2, .max_version = 2 };
        CHECK(cfs_image_write(plain, STDOUT_FILENO, &bad) == -EINVAL); /* refused before any output */
        printf("PASS: writer: header, superblock, version choice, ACL flag\n");
}

/* Builds the same tree with entries and xattrs added in an order given by seed. */
static cfs_node *build_tree(unsigned seed) {
        enum { N = 300 };
        unsigned order[N];
        cfs_node *root = cfs_node_new(S_IFDIR | 0755);
        CHECK(root);
        for (unsigned i = 0; i < N; i++)
                order[i] = i;
        srand(seed);
        for (unsigned i = N - 1; seed && i > 0; i--) {
                unsigned j = (unsigned) rand() % (i + 1), t = order[i];
                order[i] = order[j];
                order[j] = t;
        }
        cfs_node *dirs[3];
        for (int d = 0; d < 3; d++) {
                char name[16];
                snprintf(name, sizeof(name), "dir%d", (d + seed) % 3);
                dirs[(d + seed) % 3] = cfs_node_new(S_IFDIR | 0700);
                CHECK(cfs_node_add_child(root, dirs[(d + seed) % 3], name, true) == 0);
        }
        for (unsigned k = 0; k < N; k++) {
                unsigned i = order[k];
                char name[64];
                cfs_node *n = cfs_node_new(i % 7 == 0 ? S_IFLNK | 0777 : S_IFREG | 0644);
                CHECK(n);
                snprintf(name, sizeof(name), "file-%u-%s", i, i % 2 ? "odd" : "even");
                n->uid = i % 5;
                n->mtime_sec = 1000 + i % 3;
                if (S_ISLNK(n->mode)) {
                        CHECK(cfs_node_set_payload(n, "../target") == 0);
                        n->size = 9;
                } else if (i % 3 == 0) {
                        CHECK(cfs_node_set_content(n, name, strlen(name)) == 0);
                } else {
                        uint8_t dg[CFS_DIGEST_SIZE] = { (uint8_t) i };
                        n->size = 1000 * i + 1;
                        cfs_node_set_digest(n, dg);
                        CHECK(cfs_node_set_payload(n, "aa/bbcc") == 0);
                }
                /* xattrs in seed-dependent order */
                if (seed % 2) {
                        CHECK(cfs_node_set_xattr(n, "user.b", "1", 1) == 0);
                        CHECK(cfs_node_set_xattr(n, "security.selinux", "ctx", 3) == 0);
                } else {
                        CHECK(cfs_node_set_xattr(n, "security.selinux", "ctx", 3) == 0);
                        CHECK(cfs_node_set_xattr(n, "user.b", "1", 1) == 0);
                }
                if (i % 11 == 0)
                        CHECK(cfs_node_set_xattr(n, "trusted.overlay.redirect", "/user/value", 11) == 0);
                CHECK(cfs_node_add_child(dirs[i % 3], n, name, false) == 0);
        }
        /* a hard link and a whiteout */
        cfs_node *l = cfs_node_new(S_IFREG | 0644);
        CHECK(cfs_node_add_child(root, l, "hardlink", true) == 0);
        CHECK(cfs_node_make_hardlink(l, cfs_node_lookup_child(dirs[1], "file-1-odd")) == 0);
        cfs_node *wh = cfs_node_new(S_IFCHR | 0000);
        CHECK(cfs_node_add_child(dirs[2], wh, "gone", true) == 0);
        return root;
}

static void test_reproducible(void) {
        _cleanup_free_ uint8_t *ref = NULL;
        size_t ref_size;
        _cleanup_node_ cfs_node *r0 = build_tree(0);
        CHECK(write_image(r0, NULL, &ref, &ref_size) == 0);
        for (unsigned seed = 1; seed < 6; seed++) {
                _cleanup_node_ cfs_node *r = build_tree(seed);
                _cleanup_free_ uint8_t *img = NULL;
                size_t size;
                CHECK(write_image(r, NULL, &img, &size) == 0);
                CHECK(size == ref_size && memcmp(img, ref, size) == 0);
        }
        /* and writing twice from the same tree gives the same bytes */
        _cleanup_free_ uint8_t *again = NULL;
        size_t again_size;
        CHECK(write_image(r0, NULL, &again, &again_size) == 0);
        CHECK(again_size == ref_size && memcmp(again, ref, ref_size) == 0);
        printf("PASS: writer: same tree in 6 insertion orders -> identical images (%zu bytes)\n", ref_size);
}

static void test_big_directory(void) {
        /* 20,000 entries with long names: many dirent blocks; must write and be stable. */
        _cleanup_node_ cfs_node *root = cfs_node_new(S_IFDIR | 0755);
        for (int i = 19999; i >= 0; i--) {
                char name[128];
                snprintf(name, sizeof(name), "%05d-%0*d", i, 40 + i % 60, 0);
                cfs_node *n = cfs_node_new(S_IFREG | 0644);
                CHECK(cfs_node_add_child(root, n, name, false) == 0);
        }
        _cleanup_free_ uint8_t *img = NULL;
        size_t size;
        CHECK(write_image(root, NULL, &img, &size) == 0);
        /* the root's first data block starts with ".", "..", then "00000-..." */
        const struct erofs_inode_extended *ri = (const void *) (img + 36 * 32);
        uint16_t fmt = le16toh(ri->i_format);
        uint32_t blk = (fmt & 1) ? le32toh(ri->i_u.raw_blkaddr) : le32toh(((const struct erofs_inode_compact *) ri)->i_u.raw_blkaddr);
        const uint8_t *b = img + (size_t) blk * 4096;
        const struct erofs_dirent *de = (const void *) b;
        uint16_t off0 = le16toh(de[0].nameoff), off1 = le16toh(de[1].nameoff), off2 = le16toh(de[2].nameoff);
        CHECK(off0 % 12 == 0 && memcmp(b + off0, ".", 1) == 0 && off1 == off0 + 1);
        CHECK(memcmp(b + off1, "..", 2) == 0 && off2 == off1 + 2);
        CHECK(memcmp(b + off2, "00", 2) == 0);
        CHECK(le64toh(de[0].nid) == 36 && de[0].file_type == EROFS_FT_DIR);
        printf("PASS: writer: 20000-entry directory over many blocks (%zu bytes)\n", size);
}

static void test_rejected_trees(void) {
        _cleanup_close_ int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        CHECK(null >= 0);
        _cleanup_node_ cfs_node *root = cfs_node_new(S_IFDIR | 0755);
        _cleanup_node_ cfs_node *outside = cfs_node_new(S_IFREG | 0644);
        cfs_node *l = cfs_node_new(S_IFREG | 0644);
        CHECK(cfs_node_add_child(root, l, "l", true) == 0);
        CHECK(cfs_node_make_hardlink(l, outside) == 0);
        CHECK(cfs_image_write(root, null, NULL) == -EINVAL); /* link target not in the tree */

        _cleanup_node_ cfs_node *r2 = cfs_node_new(S_IFDIR | 0755);
        cfs_node *bad = cfs_node_new(0170000 | 0644);
        CHECK(cfs_node_add_child(r2, bad, "bad", true) == 0);
        CHECK(cfs_image_write(r2, null, NULL) == -EINVAL); /* unknown file type */
        bad->mode = S_IFLNK | 0777; /* symlink without target */
        CHECK(cfs_image_write(r2, null, NULL) == -EINVAL);
        bad->mode = S_IFREG | 0644;
        bad->size = UINT64_MAX; /* too big for the chunk table */
        CHECK(cfs_image_write(r2, null, NULL) == -EFBIG);

        _cleanup_node_ cfs_node *notdir = cfs_node_new(S_IFREG | 0644);
        CHECK(cfs_image_write(notdir, null, NULL) == -EINVAL);
        printf("PASS: writer: trees the format cannot hold are refused\n");
}

int main(void) {
        test_xxh32();
        test_known_answers();
        test_header_and_version();
        test_reproducible();
        test_big_directory();
        test_rejected_trees();
        return 0;
}
