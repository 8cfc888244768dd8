/* SPDX-License-Identifier: MIT */
/* The composefs image writer: turns an inode tree into the EROFS image that upstream
 * mkcomposefs 1.0.8 writes for the same tree, byte for byte (so digests agree across tools).
 *
 * Layout, in file order:
 *   composefs header (32 bytes) | zeros to 1024 | EROFS superblock (128 bytes) |
 *   inodes from 1152, each on a 32-byte slot, in breadth-first order, each followed by its
 *   xattrs and inline tail (directory entries, symlink target, small file content or the
 *   chunk table of an external file) | shared xattrs | zeros to a block boundary |
 *   data blocks (full directory blocks, larger inline files, long symlinks), breadth-first.
 *
 * The rules that make it upstream's layout (see the functions for details):
 *  - the tree gets "." and ".." entries, an opaque root, whiteouts 00..ff in the root (for
 *    overlayfs' data-only layer lookups), escaped user "trusted.overlay.*" xattrs, and
 *    metacopy/redirect xattrs on external files; whiteouts (chardev 0:0) become empty
 *    regular files marked with escaped + user.overlay.* xattrs;
 *  - inode numbers are breadth-first indexes; children in bytewise name order, "." and ".."
 *    included in that order;
 *  - compact (32-byte) inodes when mtime equals the oldest mtime in the tree (which is the
 *    superblock build time) and nlink/uid/gid fit 16 bits and size 32 bits;
 *  - xattrs sorted by name; a (name, value) pair used by more than one inode is shared,
 *    shared ones are stored in descending (name, value length, value) order;
 *  - directory entries fill 4096-byte blocks greedily; a last block of at most 2048 bytes is
 *    inlined after the inode, and any inline tail that would cross a block boundary moves
 *    the inode to a later slot (or, if still no fit, the tail to a block of its own).
 * The whole image is built in memory and written with one call: images are small (metadata
 * only), and it keeps the layout code free of I/O. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "cfs-format.h"
#include "tree.h"
#include "util.h"

#define BLKSZ EROFS_BLKSIZ
#define INODE_START (EROFS_SUPER_OFFSET + sizeof(struct erofs_super_block))
#define MAX_SHARED_PER_INODE 128 /* as upstream: more shared ones are stored inline */

/* ---- xxh32 (the kernel's EROFS xattr name filter hash) ---- */

#define XXH_P1 2654435761U
#define XXH_P2 2246822519U
#define XXH_P3 3266489917U
#define XXH_P4 668265263U
#define XXH_P5 374761393U

static inline uint32_t rotl32(uint32_t x, int r) {
        return (x << r) | (x >> (32 - r));
}

static inline uint32_t rd32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

uint32_t cfs_xxh32(const void *data, size_t len, uint32_t seed) {
        const uint8_t *p = data, *end = p + len;
        uint32_t h;

        if (len >= 16) {
                uint32_t v[4] = { seed + XXH_P1 + XXH_P2, seed + XXH_P2, seed, seed - XXH_P1 };
                do {
                        for (int i = 0; i < 4; i++, p += 4)
                                v[i] = rotl32(v[i] + rd32(p) * XXH_P2, 13) * XXH_P1;
                } while (p + 16 <= end);
                h = rotl32(v[0], 1) + rotl32(v[1], 7) + rotl32(v[2], 12) + rotl32(v[3], 18);
        } else
                h = seed + XXH_P5;
        h += (uint32_t) len;
        for (; p + 4 <= end; p += 4)
                h = rotl32(h + rd32(p) * XXH_P3, 17) * XXH_P4;
        for (; p < end; p++)
                h = rotl32(h + *p * XXH_P5, 11) * XXH_P1;
        h ^= h >> 15;
        h *= XXH_P2;
        h ^= h >> 13;
        h *= XXH_P3;
        h ^= h >> 16;
        return h;
}

/* ---- Working model ---- */

struct wxattr {
        const char *key;      /* points into the tree, or into the writer's string pool */
        const uint8_t *value;
        size_t value_len;
        uint32_t ent;         /* its (key, value) entry: index into writer.xents */
        bool shared;
};

/* A distinct (key, value) pair over the whole image. */
struct xent {
        const char *key;
        const uint8_t *value;
        size_t value_len;
        uint64_t hash;
        uint32_t count;
        bool shared;
        uint32_t shared_off; /* from the start of the shared area */
        /* how EROFS stores the name, computed once */
        uint8_t index;
        const char *suffix;
        size_t suffix_len, entry_size;
        uint32_t filter_bit;
};

struct wdirent {
        const char *name;
        size_t name_len;
        cfs_node *target_node; /* the entry's inode in the tree, until resolved */
        size_t target;         /* index + 1 into writer.inodes; 0 until resolved */
        bool is_link;
};

struct winode {
        cfs_node *node; /* NULL for the synthetic root whiteouts */
        size_t parent;  /* index of the parent directory (the root's is itself) */
        uint32_t mode, nlink, uid, gid, rdev;
        uint64_t size;
        int64_t mtime_sec;
        uint32_t mtime_nsec;
        const char *payload;
        const uint8_t *content;
        bool has_digest;
        const uint8_t *digest;

        struct wxattr *xattrs;
        size_t n_xattrs, xattrs_alloc;

        struct wdirent *dirents; /* directories, sorted, with "." and ".." */
        size_t n_dirents;

        /* layout */
        uint32_t ino;
        bool compact;
        uint32_t ipad, xattr_size, isize, n_blocks, tailsize;
        uint64_t nid;
        uint32_t chunkbits, chunk_count;
        uint32_t blkaddr; /* first data block, when n_blocks > 0 */
};

struct writer {
        unsigned version;
        struct winode *inodes; /* breadth-first */
        size_t n_inodes, inodes_alloc;

        char **strings; /* allocated keys/values the writer added */
        size_t n_strings, strings_alloc;

        struct xent *xents;    /* distinct (key, value) pairs */
        size_t n_xents, xents_alloc;
        uint32_t *xent_slots;  /* open addressing: index + 1 into xents */
        size_t n_xent_slots;
        uint32_t *shared;      /* sorted shared entries (indexes into xents) */
        size_t n_shared;
        uint64_t shared_size;

        int64_t min_mtime_sec;
        uint32_t min_mtime_nsec;
        bool has_acl;

        uint64_t inodes_end, data_start, n_data_blocks;
        uint8_t *img;
        size_t img_size;
};

static void writer_done(struct writer *w) {
        for (size_t i = 0; i < w->n_inodes; i++) {
                free(w->inodes[i].xattrs);
                free(w->inodes[i].dirents);
        }
        free(w->inodes);
        for (size_t i = 0; i < w->n_strings; i++)
                free(w->strings[i]);
        free(w->strings);
        free(w->xents);
        free(w->xent_slots);
        free(w->shared);
        free(w->img);
}

static const char *pool_add(struct writer *w, char *s) {
        if (!s)
                return NULL;
        if (GROW_ARRAY(w->strings, w->strings_alloc, w->n_strings + 1, 64) < 0) {
                free(s);
                return NULL;
        }
        w->strings[w->n_strings++] = s;
        return s;
}

static const char *pool_concat(struct writer *w, const char *a, const char *b) {
        char *s;
        if (asprintf(&s, "%s%s", a, b) < 0)
                return NULL;
        return pool_add(w, s);
}

/* Adds or replaces an xattr on a working inode (the tree is never modified). */
static int wx_set(struct winode *wi, const char *key, const void *value, size_t len) {
        for (size_t i = 0; i < wi->n_xattrs; i++)
                if (streq(wi->xattrs[i].key, key)) {
                        wi->xattrs[i].value = value;
                        wi->xattrs[i].value_len = len;
                        return 0;
                }
        if (GROW_ARRAY(wi->xattrs, wi->xattrs_alloc, wi->n_xattrs + 1, 4) < 0)
                return -ENOMEM;
        wi->xattrs[wi->n_xattrs++] = (struct wxattr) { .key = key, .value = value, .value_len = len };
        return 0;
}

static const struct wxattr *wx_get(const struct winode *wi, const char *key) {
        for (size_t i = 0; i < wi->n_xattrs; i++)
                if (streq(wi->xattrs[i].key, key))
                        return &wi->xattrs[i];
        return NULL;
}

static bool is_whiteout(uint32_t mode, uint32_t rdev) {
        return S_ISCHR(mode) && rdev == 0;
}

static bool mode_valid(uint32_t mode) {
        if (mode & ~(uint32_t) 0xffff)
                return false;
        switch (mode & S_IFMT) {
        case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFBLK: case S_IFCHR: case S_IFIFO: case S_IFSOCK:
                return true;
        default:
                return false;
        }
}

/* ---- Step 1: validate the tree, pick the format version ---- */

struct check_state {
        bool has_whiteout;
};

static int check_node(cfs_node *n, void *userdata) {
        struct check_state *st = userdata;

        n->priv[0] = 0; /* inode index + 1, set in breadth-first order */
        if (n->link_to) {
                if (n->n_children > 0 || n->link_to->link_to || S_ISDIR(n->link_to->mode))
                        return -EINVAL;
                return 1;
        }
        if (!mode_valid(n->mode))
                return -EINVAL;
        if (!S_ISDIR(n->mode) && n->n_children > 0)
                return -ENOTDIR;
        if ((S_ISCHR(n->mode) || S_ISBLK(n->mode)) && n->rdev > UINT32_MAX)
                return -ERANGE; /* EROFS stores a 32-bit (new_encode_dev) device number */
        if (S_ISLNK(n->mode) && (!n->payload || !*n->payload || strlen(n->payload) > CFS_PAYLOAD_MAX))
                return -EINVAL;
        if (S_ISREG(n->mode)) {
                if (n->content && n->size > CFS_INLINE_CONTENT_MAX)
                        return -EFBIG;
                if (!n->content && n->size > ((uint64_t) CFS_MAX_NONINLINE_CHUNKS << 43))
                        return -EFBIG;
        }
        if (is_whiteout(n->mode, (uint32_t) n->rdev))
                st->has_whiteout = true;
        return 0;
}

/* ---- Step 2: breadth-first list of inodes with the overlayfs rewrites applied ---- */

static struct winode *add_inode(struct writer *w) {
        if (GROW_ARRAY(w->inodes, w->inodes_alloc, w->n_inodes + 1, 1024) < 0)
                return NULL;
        struct winode *wi = &w->inodes[w->n_inodes++];
        *wi = (struct winode) {};
        return wi;
}

#define HEXCHAR(v) ((char) ((v) < 10 ? '0' + (v) : 'a' + (v) - 10))
static const char whiteout_names[256][3] = {
#define W(i) { HEXCHAR((i) >> 4), HEXCHAR((i) & 15), 0 }
#define W4(i) W(i), W(i + 1), W(i + 2), W(i + 3)
#define W16(i) W4(i), W4(i + 4), W4(i + 8), W4(i + 12)
        W16(0), W16(16), W16(32), W16(48), W16(64), W16(80), W16(96), W16(112),
        W16(128), W16(144), W16(160), W16(176), W16(192), W16(208), W16(224), W16(240),
#undef W16
#undef W4
#undef W
};

static void winode_from_node(struct winode *wi, cfs_node *n) {
        wi->node = n;
        wi->mode = n->mode;
        wi->nlink = n->nlink;
        wi->uid = n->uid;
        wi->gid = n->gid;
        wi->rdev = (S_ISCHR(n->mode) || S_ISBLK(n->mode)) ? (uint32_t) n->rdev : 0;
        wi->size = S_ISLNK(n->mode) ? strlen(n->payload) : n->size;
        wi->mtime_sec = n->mtime_sec;
        wi->mtime_nsec = n->mtime_nsec;
        wi->payload = n->payload;
        wi->content = S_ISREG(n->mode) && n->size > 0 ? n->content : NULL;
        wi->has_digest = n->has_digest;
        wi->digest = n->digest;
}

/* User xattrs, escaped; metacopy/redirect for external files. */
static int add_node_xattrs(struct writer *w, struct winode *wi) {
        cfs_node *n = wi->node;
        size_t plen = strlen(CFS_XATTR_OVERLAY_PREFIX);
        int r;

        for (size_t i = 0; i < n->n_xattrs; i++) {
                const char *key = n->xattrs[i].key;
                if (strncmp(key, CFS_XATTR_OVERLAY_PREFIX, plen) == 0) {
                        key = pool_concat(w, CFS_XATTR_OVERLAY_ESCAPE_PREFIX, key + plen);
                        if (!key)
                                return -ENOMEM;
                }
                r = wx_set(wi, key, n->xattrs[i].value, n->xattrs[i].value_len);
                if (r < 0)
                        return r;
        }

        if (S_ISREG(wi->mode) && wi->size > 0 && !wi->content) {
                struct cfs_metacopy *mc = NULL;
                if (wi->has_digest) {
                        mc = calloc(1, sizeof(*mc));
                        if (!mc || !pool_add(w, (char *) mc))
                                return -ENOMEM;
                        mc->version = CFS_METACOPY_VERSION;
                        mc->len = sizeof(*mc);
                        mc->digest_algo = CFS_FSVERITY_HASH_ALG_SHA256;
                        memcpy(mc->digest, wi->digest, CFS_DIGEST_SIZE);
                }
                r = wx_set(wi, CFS_XATTR_METACOPY, mc ? (const void *) mc : (const void *) "", mc ? sizeof(*mc) : 0);
                if (r < 0)
                        return r;
                if (wi->payload && *wi->payload) {
                        /* The data-only layer is looked up by absolute path. */
                        const char *redirect = pool_concat(w, "/", wi->payload);
                        if (!redirect)
                                return -ENOMEM;
                        r = wx_set(wi, CFS_XATTR_REDIRECT, redirect, strlen(redirect));
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* A whiteout must survive being a lower layer: store it as an empty file that carries the
 * escaped marker (seen as a whiteout by the overlay mounted on top) and the user.* one, and
 * mark its directory as holding whiteouts. */
static int convert_whiteout(struct writer *w, size_t idx) {
        struct winode *wi = &w->inodes[idx], *parent = &w->inodes[wi->parent];
        int r;

        wi->size = 0;
        wi->content = NULL;
        wi->mode = S_IFREG | (wi->mode & ~S_IFMT);
        if ((r = wx_set(wi, CFS_XATTR_ESCAPED_WHITEOUT, "", 0)) < 0 ||
            (r = wx_set(wi, CFS_XATTR_USER_WHITEOUT, "", 0)) < 0 ||
            (r = wx_set(parent, CFS_XATTR_ESCAPED_WHITEOUTS, "", 0)) < 0 ||
            (r = wx_set(parent, CFS_XATTR_USER_WHITEOUTS, "", 0)) < 0)
                return r;
        if (w->version >= 1 &&
            ((r = wx_set(parent, CFS_XATTR_ESCAPED_OPAQUE, "x", 1)) < 0 ||
             (r = wx_set(parent, CFS_XATTR_USER_OPAQUE, "x", 1)) < 0))
                return r;
        return 0;
}

/* Directory entries of one directory: ".", "..", the children, and for the root the
 * whiteouts 00..ff that are not taken by real entries (so that overlayfs' lookups of
 * object-store paths like "/ab/cdef..." in the data-only layer stop at the image).
 * Sorted bytewise, "." and ".." included. */
static int build_dirents(struct writer *w, size_t idx) {
        struct winode *wi = &w->inodes[idx];
        cfs_node *n = wi->node;
        bool is_root = idx == 0;
        size_t cap = n->n_children + 2 + (is_root ? 256 : 0), k = 0;
        struct wdirent *d = calloc(cap, sizeof(*d));

        if (!d)
                return -ENOMEM;
        /* The children are sorted; merge the extra entries (sorted too) into them. */
        struct wdirent extra[258];
        size_t n_extra = 0, ci = 0, ei = 0;
        extra[n_extra++] = (struct wdirent) { .name = ".", .name_len = 1, .target = idx + 1, .is_link = true };
        extra[n_extra++] = (struct wdirent) { .name = "..", .name_len = 2, .target = wi->parent + 1, .is_link = true };
        if (is_root)
                for (int i = 0; i < 256; i++)
                        extra[n_extra++] = (struct wdirent) { .name = whiteout_names[i], .name_len = 2 };
        while (ci < n->n_children || ei < n_extra) {
                int c = ci >= n->n_children ? 1 : ei >= n_extra ? -1 : strcmp(n->children[ci]->name, extra[ei].name);
                if (c == 0 && ei >= 2)
                        ei++; /* a real entry takes the whiteout's name */
                else if (c <= 0) {
                        cfs_node *ch = n->children[ci++];
                        d[k++] = (struct wdirent) {
                                .name = ch->name,
                                .name_len = strlen(ch->name),
                                .target_node = cfs_node_inode(ch),
                                .is_link = ch->link_to != NULL,
                        };
                } else
                        d[k++] = extra[ei++];
        }
        wi->dirents = d;
        wi->n_dirents = k;
        return 0;
}

static int add_root_whiteout(struct writer *w, struct wdirent *d) {
        struct winode *ci = add_inode(w);
        if (!ci)
                return -ENOMEM;
        struct winode *rt = &w->inodes[0];
        ci->parent = 0;
        ci->mode = S_IFCHR | 0644;
        ci->nlink = 1;
        ci->uid = rt->uid;
        ci->gid = rt->gid;
        ci->mtime_sec = rt->mtime_sec;
        ci->mtime_nsec = rt->mtime_nsec;
        d->target = w->n_inodes;
        /* They inherit the root's SELinux label, so policy treats them like the root. */
        const struct cfs_xattr *se = cfs_node_get_xattr(rt->node, "security.selinux");
        if (se)
                return wx_set(ci, "security.selinux", se->value, se->value_len);
        return 0;
}

static int build_inodes(struct writer *w, cfs_node *root) {
        struct winode *wi;
        int r;

        wi = add_inode(w);
        if (!wi)
                return -ENOMEM;
        winode_from_node(wi, root);
        wi->parent = 0;
        root->priv[0] = 1;

        /* Breadth-first: the array is the queue. It moves when it grows: use indexes. */
        for (size_t qi = 0; qi < w->n_inodes; qi++) {
                if (!w->inodes[qi].node)
                        continue; /* synthetic whiteout */
                r = add_node_xattrs(w, &w->inodes[qi]);
                if (r < 0)
                        return r;
                if (is_whiteout(w->inodes[qi].mode, w->inodes[qi].rdev)) {
                        r = convert_whiteout(w, qi);
                        if (r < 0)
                                return r;
                }
                if (!S_ISDIR(w->inodes[qi].mode))
                        continue;

                r = build_dirents(w, qi);
                if (r < 0)
                        return r;

                uint32_t nlink = 2;
                struct wdirent *dents = w->inodes[qi].dirents;
                size_t n_dents = w->inodes[qi].n_dirents;
                for (size_t i = 0; i < n_dents; i++) {
                        struct wdirent *d = &dents[i];
                        if (d->is_link)
                                continue; /* ".", "..", hard links: the inode is queued where it lives */
                        if (!d->target_node) {
                                r = add_root_whiteout(w, d);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        cfs_node *c = d->target_node;
                        struct winode *ci = add_inode(w);
                        if (!ci)
                                return -ENOMEM;
                        winode_from_node(ci, c);
                        ci->parent = qi;
                        c->priv[0] = w->n_inodes;
                        d->target = w->n_inodes;
                        if (S_ISDIR(c->mode))
                                nlink++;
                }
                w->inodes[qi].nlink = nlink;
        }

        r = wx_set(&w->inodes[0], CFS_XATTR_OPAQUE, "y", 1);
        if (r < 0)
                return r;

        /* Hard link entries point at inodes queued anywhere in the tree. */
        for (size_t qi = 0; qi < w->n_inodes; qi++)
                for (size_t i = 0; i < w->inodes[qi].n_dirents; i++) {
                        struct wdirent *d = &w->inodes[qi].dirents[i];
                        if (d->target)
                                continue;
                        if (!d->target_node || d->target_node->priv[0] == 0)
                                return -EINVAL; /* a hard link to an inode outside the tree */
                        d->target = d->target_node->priv[0];
                }
        return 0;
}

/* ---- Step 3: xattr order, prefixes, sharing ---- */

static int cmp_wxattr(const void *a, const void *b) {
        return strcmp(((const struct wxattr *) a)->key, ((const struct wxattr *) b)->key);
}

/* EROFS stores a name as a prefix index plus the rest (matched in this order). */
static uint8_t xattr_index(const char *key, const char **ret_suffix) {
        static const struct {
                const char *prefix;
                uint8_t index;
        } table[] = {
                { "user.", EROFS_XATTR_INDEX_USER },
                { CFS_XATTR_ACL_ACCESS, EROFS_XATTR_INDEX_POSIX_ACL_ACCESS },
                { CFS_XATTR_ACL_DEFAULT, EROFS_XATTR_INDEX_POSIX_ACL_DEFAULT },
                { "trusted.", EROFS_XATTR_INDEX_TRUSTED },
                { "security.", EROFS_XATTR_INDEX_SECURITY },
        };
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                size_t l = strlen(table[i].prefix);
                if (strncmp(key, table[i].prefix, l) == 0) {
                        *ret_suffix = key + l;
                        return table[i].index;
                }
        }
        *ret_suffix = key;
        return 0;
}

static inline uint64_t mix64(uint64_t h, uint64_t v) {
        h ^= v * 0x9e3779b97f4a7c15ULL;
        return (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ULL;
}

static uint64_t hash_bytes(uint64_t h, const void *data, size_t len) {
        const uint8_t *p = data;
        for (; len >= 8; p += 8, len -= 8) {
                uint64_t v;
                memcpy(&v, p, 8);
                h = mix64(h, v);
        }
        uint64_t v = 0;
        memcpy(&v, p, len);
        return mix64(h, v ^ ((uint64_t) len << 56));
}

static uint64_t hash_xattr(const char *key, const uint8_t *value, size_t len) {
        uint64_t h = hash_bytes(0x243f6a8885a308d3ULL, key, strlen(key));
        h = hash_bytes(h, value, len);
        return h ^ (h >> 32);
}

static int xent_get(struct writer *w, const struct wxattr *x, uint32_t *ret) {
        uint64_t h = hash_xattr(x->key, x->value, x->value_len);
        size_t mask = w->n_xent_slots - 1;

        for (size_t i = h & mask;; i = (i + 1) & mask) {
                uint32_t slot = w->xent_slots[i];
                if (slot == 0) {
                        if (GROW_ARRAY(w->xents, w->xents_alloc, w->n_xents + 1, 256) < 0)
                                return -ENOMEM;
                        struct xent *e = &w->xents[w->n_xents];
                        *e = (struct xent) { .key = x->key, .value = x->value, .value_len = x->value_len, .hash = h };
                        e->index = xattr_index(x->key, &e->suffix);
                        e->suffix_len = strlen(e->suffix);
                        e->entry_size = ALIGN_TO(sizeof(struct erofs_xattr_entry) + e->suffix_len + x->value_len, (size_t) 4);
                        e->filter_bit = 1U << (cfs_xxh32(e->suffix, e->suffix_len, EROFS_XATTR_FILTER_SEED + e->index) & 31);
                        w->xent_slots[i] = (uint32_t) ++w->n_xents;
                        *ret = (uint32_t) (w->n_xents - 1);
                        return 0;
                }
                const struct xent *e = &w->xents[slot - 1];
                if (e->hash == h && e->value_len == x->value_len && streq(e->key, x->key) &&
                    memcmp(e->value, x->value, x->value_len) == 0) {
                        *ret = slot - 1;
                        return 0;
                }
        }
}

/* Upstream's canonical order for the shared area: descending by name, then by value
 * length, then by value bytes. */
static int cmp_shared(const void *a, const void *b, void *userdata) {
        const struct xent *xents = userdata;
        const struct xent *x = &xents[*(const uint32_t *) a], *y = &xents[*(const uint32_t *) b];
        int c = strcmp(y->key, x->key);
        if (c != 0)
                return c;
        if (x->value_len != y->value_len)
                return x->value_len < y->value_len ? 1 : -1;
        return memcmp(y->value, x->value, x->value_len);
}

static int compute_xattrs(struct writer *w) {
        size_t total = 0;

        for (size_t i = 0; i < w->n_inodes; i++) {
                struct winode *wi = &w->inodes[i];
                if (wi->n_xattrs > 1)
                        qsort(wi->xattrs, wi->n_xattrs, sizeof(*wi->xattrs), cmp_wxattr);
                total += wi->n_xattrs;
                if (wx_get(wi, CFS_XATTR_ACL_ACCESS) || wx_get(wi, CFS_XATTR_ACL_DEFAULT))
                        w->has_acl = true;
        }

        w->n_xent_slots = 64;
        while (w->n_xent_slots < total * 2)
                w->n_xent_slots *= 2;
        w->xent_slots = calloc(w->n_xent_slots, sizeof(*w->xent_slots));
        if (!w->xent_slots)
                return -ENOMEM;
        for (size_t i = 0; i < w->n_inodes; i++)
                for (size_t j = 0; j < w->inodes[i].n_xattrs; j++) {
                        struct wxattr *x = &w->inodes[i].xattrs[j];
                        int r = xent_get(w, x, &x->ent);
                        if (r < 0)
                                return r;
                        w->xents[x->ent].count++;
                }

        w->shared = calloc(w->n_xents + 1, sizeof(*w->shared));
        if (!w->shared)
                return -ENOMEM;
        for (size_t i = 0; i < w->n_xents; i++)
                if (w->xents[i].count > 1)
                        w->shared[w->n_shared++] = (uint32_t) i;
        qsort_r(w->shared, w->n_shared, sizeof(*w->shared), cmp_shared, w->xents);
        uint64_t off = 0;
        for (size_t i = 0; i < w->n_shared; i++) {
                struct xent *e = &w->xents[w->shared[i]];
                e->shared = true;
                e->shared_off = (uint32_t) off;
                off += e->entry_size;
                if (off > UINT32_MAX / 2)
                        return -EFBIG;
        }
        w->shared_size = off;

        for (size_t i = 0; i < w->n_inodes; i++) {
                size_t n_shared = 0;
                for (size_t j = 0; j < w->inodes[i].n_xattrs; j++) {
                        struct wxattr *x = &w->inodes[i].xattrs[j];
                        x->shared = w->xents[x->ent].shared && n_shared < MAX_SHARED_PER_INODE;
                        if (x->shared)
                                n_shared++;
                }
        }
        return 0;
}

/* ---- Step 4: layout ---- */

static void dir_blocks(const struct winode *wi, uint32_t *ret_blocks, uint32_t *ret_tail) {
        uint32_t blocks = 0;
        size_t used = 0;

        for (size_t i = 0; i < wi->n_dirents; i++) {
                size_t len = sizeof(struct erofs_dirent) + wi->dirents[i].name_len;
                if (used + len > BLKSZ) {
                        blocks++;
                        used = 0;
                }
                used += len;
        }
        /* Inline at most half a block. */
        if (used > BLKSZ / 2) {
                blocks++;
                used = 0;
        }
        *ret_blocks = blocks;
        *ret_tail = (uint32_t) used;
}

static unsigned ilog2_u64(uint64_t v) {
        return v ? 63 - (unsigned) __builtin_clzll(v) : 0;
}

/* External files are chunk-based with every chunk a hole: overlayfs takes the data from
 * the object store. The smallest chunk size (>= one block) that needs the fewest chunks. */
static void chunking(uint64_t size, uint32_t *ret_bits, uint32_t *ret_count) {
        uint32_t bits = ilog2_u64(size - 1) + 1;
        if (bits < EROFS_BLKSIZ_BITS)
                bits = EROFS_BLKSIZ_BITS;
        if (bits - EROFS_BLKSIZ_BITS > EROFS_CHUNK_FORMAT_BLKBITS_MASK)
                bits = EROFS_CHUNK_FORMAT_BLKBITS_MASK + EROFS_BLKSIZ_BITS;
        *ret_bits = bits;
        *ret_count = (uint32_t) ((size + (1ULL << bits) - 1) >> bits);
}

static void inode_data_size(struct winode *wi) {
        wi->n_blocks = 0;
        wi->tailsize = 0;
        if (S_ISDIR(wi->mode))
                dir_blocks(wi, &wi->n_blocks, &wi->tailsize);
        else if (S_ISLNK(wi->mode))
                wi->tailsize = (uint32_t) wi->size;
        else if (S_ISREG(wi->mode) && wi->size > 0) {
                if (wi->content) {
                        wi->n_blocks = (uint32_t) (wi->size / BLKSZ);
                        wi->tailsize = wi->size % BLKSZ;
                        if (wi->tailsize > BLKSZ / 2) {
                                wi->n_blocks++;
                                wi->tailsize = 0;
                        }
                } else {
                        chunking(wi->size, &wi->chunkbits, &wi->chunk_count);
                        wi->tailsize = wi->chunk_count * EROFS_BLOCK_MAP_ENTRY_SIZE;
                }
        }
}

static bool fits_compact(const struct writer *w, const struct winode *wi) {
        uint64_t size = S_ISDIR(wi->mode) ? (uint64_t) wi->n_blocks * BLKSZ + wi->tailsize : wi->size;

        return wi->mtime_sec == w->min_mtime_sec && wi->mtime_nsec == w->min_mtime_nsec &&
               wi->nlink <= UINT16_MAX && wi->uid <= UINT16_MAX && wi->gid <= UINT16_MAX && size <= UINT32_MAX;
}

/* Padding before an inode so that its inline tail does not cross a block boundary (the
 * kernel reads a tail from one block). May move the tail into a block of its own. */
static uint64_t tail_padding(struct winode *wi, uint64_t pos, size_t inode_size) {
        size_t head = inode_size + wi->xattr_size;
        size_t total = head + wi->tailsize;

        if (S_ISLNK(wi->mode)) {
                /* Keep inode and target together; a target that cannot fit with the inode
                 * in one block goes to a data block. */
                bool crosses = pos / BLKSZ != (pos + total - 1) / BLKSZ;
                if (total / BLKSZ > 0) {
                        wi->n_blocks++;
                        wi->tailsize = 0;
                }
                return crosses ? ALIGN_TO(pos, (uint64_t) BLKSZ) - pos : 0;
        }

        uint64_t room = BLKSZ - (pos + head) % BLKSZ;
        if (room >= wi->tailsize)
                return 0;
        uint64_t pad = ALIGN_TO(room, (uint64_t) EROFS_SLOTSIZE);
        room = BLKSZ - (pos + head + pad) % BLKSZ;
        if (wi->tailsize <= room)
                return pad;
        wi->n_blocks++;
        wi->tailsize = 0;
        return ALIGN_TO(pos, (uint64_t) BLKSZ) - pos;
}

static int compute_layout(struct writer *w) {
        uint64_t pos = INODE_START;

        w->min_mtime_sec = w->inodes[0].mtime_sec;
        w->min_mtime_nsec = w->inodes[0].mtime_nsec;
        for (size_t i = 0; i < w->n_inodes; i++) {
                const struct winode *wi = &w->inodes[i];
                if (wi->mtime_sec < w->min_mtime_sec ||
                    (wi->mtime_sec == w->min_mtime_sec && wi->mtime_nsec < w->min_mtime_nsec)) {
                        w->min_mtime_sec = wi->mtime_sec;
                        w->min_mtime_nsec = wi->mtime_nsec;
                }
        }

        for (size_t i = 0; i < w->n_inodes; i++) {
                struct winode *wi = &w->inodes[i];
                size_t n_shared = 0, inline_size = 0;

                wi->ino = (uint32_t) i;
                inode_data_size(wi);
                wi->compact = fits_compact(w, wi);
                size_t inode_size = wi->compact ? sizeof(struct erofs_inode_compact) : sizeof(struct erofs_inode_extended);

                for (size_t j = 0; j < wi->n_xattrs; j++) {
                        if (wi->xattrs[j].shared)
                                n_shared++;
                        else
                                inline_size += w->xents[wi->xattrs[j].ent].entry_size;
                }
                wi->xattr_size = 0;
                if (n_shared > 0 || inline_size > 0)
                        wi->xattr_size = ALIGN_TO(sizeof(struct erofs_xattr_ibody_header) + 4 * n_shared + inline_size, (size_t) 4);
                if (wi->xattr_size > 0 && (wi->xattr_size - sizeof(struct erofs_xattr_ibody_header)) / 4 + 1 > UINT16_MAX)
                        return -E2BIG;

                uint64_t aligned = ALIGN_TO(pos, (uint64_t) EROFS_SLOTSIZE);
                uint64_t pad = tail_padding(wi, aligned, inode_size);
                wi->ipad = (uint32_t) (aligned - pos + pad);
                pos = aligned + pad;
                wi->isize = (uint32_t) (inode_size + wi->xattr_size + wi->tailsize);
                wi->nid = pos / EROFS_SLOTSIZE;
                w->n_data_blocks += wi->n_blocks;
                pos += wi->isize;
        }
        if (w->inodes[0].nid > UINT16_MAX)
                return -EFBIG;

        w->inodes_end = ALIGN_TO(pos, (uint64_t) EROFS_SLOTSIZE);
        w->data_start = ALIGN_TO(w->inodes_end + w->shared_size, (uint64_t) BLKSZ);
        uint64_t blocks = w->data_start / BLKSZ + w->n_data_blocks;
        if (blocks > UINT32_MAX)
                return -EFBIG;
        w->img_size = blocks * BLKSZ;
        return 0;
}

/* ---- Step 5: bytes ---- */

static void put_dirents(const struct writer *w, const struct winode *wi, size_t first, size_t count, uint8_t *out) {
        uint16_t nameoff = (uint16_t) (count * sizeof(struct erofs_dirent));
        uint8_t *names = out + nameoff;

        for (size_t i = first; i < first + count; i++) {
                const struct wdirent *d = &wi->dirents[i];
                const struct winode *t = &w->inodes[d->target - 1];
                static const uint8_t ftypes[16] = {
                        [S_IFREG >> 12] = EROFS_FT_REG_FILE, [S_IFDIR >> 12] = EROFS_FT_DIR,
                        [S_IFCHR >> 12] = EROFS_FT_CHRDEV,   [S_IFBLK >> 12] = EROFS_FT_BLKDEV,
                        [S_IFIFO >> 12] = EROFS_FT_FIFO,     [S_IFSOCK >> 12] = EROFS_FT_SOCK,
                        [S_IFLNK >> 12] = EROFS_FT_SYMLINK,
                };
                struct erofs_dirent de = {
                        .nid = htole64(t->nid),
                        .nameoff = htole16(nameoff),
                        .file_type = ftypes[(t->mode & S_IFMT) >> 12],
                };
                memcpy(out, &de, sizeof(de));
                out += sizeof(de);
                memcpy(names, d->name, d->name_len);
                names += d->name_len;
                nameoff += (uint16_t) d->name_len;
        }
}

/* Writes the directory's full blocks at its data address and returns where the inline
 * tail's entries start (n_dirents if none). */
static size_t put_dir_blocks(const struct writer *w, const struct winode *wi) {
        size_t used = 0, first = 0;
        uint32_t written = 0;
        uint8_t *blk = w->img + (uint64_t) wi->blkaddr * BLKSZ;

        for (size_t i = 0; i < wi->n_dirents; i++) {
                size_t len = sizeof(struct erofs_dirent) + wi->dirents[i].name_len;
                if (used + len > BLKSZ) {
                        put_dirents(w, wi, first, i - first, blk + (uint64_t) written * BLKSZ);
                        written++;
                        used = 0;
                        first = i;
                }
                used += len;
        }
        if (written < wi->n_blocks) {
                put_dirents(w, wi, first, wi->n_dirents - first, blk + (uint64_t) written * BLKSZ);
                first = wi->n_dirents;
        }
        return first;
}

static uint8_t *put_xattr(uint8_t *p, const struct xent *x) {
        struct erofs_xattr_entry e = {
                .e_name_len = (uint8_t) x->suffix_len,
                .e_name_index = x->index,
                .e_value_size = htole16((uint16_t) x->value_len),
        };
        memcpy(p, &e, sizeof(e));
        memcpy(p + sizeof(e), x->suffix, x->suffix_len);
        if (x->value_len > 0)
                memcpy(p + sizeof(e) + x->suffix_len, x->value, x->value_len);
        return p + x->entry_size;
}

static uint32_t xattr_filter(const struct writer *w, const struct winode *wi) {
        uint32_t bits = 0;
        for (size_t i = 0; i < wi->n_xattrs; i++)
                bits |= w->xents[wi->xattrs[i].ent].filter_bit;
        return ~bits;
}

static void put_inode(struct writer *w, struct winode *wi, uint64_t *data_end) {
        uint8_t *p = w->img + wi->nid * EROFS_SLOTSIZE;
        unsigned layout = wi->tailsize > 0 ? EROFS_INODE_FLAT_INLINE : EROFS_INODE_FLAT_PLAIN;
        bool chunked = S_ISREG(wi->mode) && wi->size > 0 && !wi->content;
        union erofs_inode_i_u iu = {};
        uint64_t size = 0;

        if (chunked)
                layout = EROFS_INODE_CHUNK_BASED;
        if (S_ISDIR(wi->mode))
                size = (uint64_t) wi->n_blocks * BLKSZ + wi->tailsize;
        else if (S_ISREG(wi->mode) || S_ISLNK(wi->mode))
                size = wi->size;

        if ((S_ISDIR(wi->mode) || S_ISREG(wi->mode) || S_ISLNK(wi->mode)) && wi->n_blocks > 0) {
                wi->blkaddr = (uint32_t) (*data_end / BLKSZ);
                iu.raw_blkaddr = htole32(wi->blkaddr);
                *data_end += (uint64_t) wi->n_blocks * BLKSZ;
        } else if (S_ISCHR(wi->mode) || S_ISBLK(wi->mode))
                iu.rdev = htole32(wi->rdev);
        /* (Upstream lets the chunk format win over a block address in the union.) */
        if (chunked) {
                iu.raw_blkaddr = 0;
                iu.c.format = htole16((uint16_t) (wi->chunkbits - EROFS_BLKSIZ_BITS));
        }

        uint16_t format = (uint16_t) (layout << EROFS_I_DATALAYOUT_BIT | (wi->compact ? 0 : 1) << EROFS_I_VERSION_BIT);
        uint16_t icount = wi->xattr_size ? (uint16_t) ((wi->xattr_size - sizeof(struct erofs_xattr_ibody_header)) / 4 + 1) : 0;
        if (wi->compact) {
                struct erofs_inode_compact ci = {
                        .i_format = htole16(format),
                        .i_xattr_icount = htole16(icount),
                        .i_mode = htole16((uint16_t) wi->mode),
                        .i_nlink = htole16((uint16_t) wi->nlink),
                        .i_size = htole32((uint32_t) size),
                        .i_u = iu,
                        .i_ino = htole32(wi->ino),
                        .i_uid = htole16((uint16_t) wi->uid),
                        .i_gid = htole16((uint16_t) wi->gid),
                };
                memcpy(p, &ci, sizeof(ci));
                p += sizeof(ci);
        } else {
                struct erofs_inode_extended ei = {
                        .i_format = htole16(format),
                        .i_xattr_icount = htole16(icount),
                        .i_mode = htole16((uint16_t) wi->mode),
                        .i_size = htole64(size),
                        .i_u = iu,
                        .i_ino = htole32(wi->ino),
                        .i_uid = htole32(wi->uid),
                        .i_gid = htole32(wi->gid),
                        .i_mtime = htole64((uint64_t) wi->mtime_sec),
                        .i_mtime_nsec = htole32(wi->mtime_nsec),
                        .i_nlink = htole32(wi->nlink),
                };
                memcpy(p, &ei, sizeof(ei));
                p += sizeof(ei);
        }

        if (wi->xattr_size > 0) {
                uint8_t *xstart = p;
                struct erofs_xattr_ibody_header h = { .h_name_filter = htole32(xattr_filter(w, wi)) };
                uint8_t n_shared = 0;
                p += sizeof(h);
                for (size_t i = 0; i < wi->n_xattrs; i++)
                        if (wi->xattrs[i].shared) {
                                uint32_t id = htole32((uint32_t) ((w->inodes_end % BLKSZ + w->xents[wi->xattrs[i].ent].shared_off) / 4));
                                memcpy(p, &id, 4);
                                p += 4;
                                n_shared++;
                        }
                h.h_shared_count = n_shared;
                memcpy(xstart, &h, sizeof(h));
                for (size_t i = 0; i < wi->n_xattrs; i++)
                        if (!wi->xattrs[i].shared)
                                p = put_xattr(p, &w->xents[wi->xattrs[i].ent]);
                p = xstart + wi->xattr_size;
        }

        /* Inline tail, then full data blocks. */
        if (S_ISDIR(wi->mode)) {
                size_t first = put_dir_blocks(w, wi);
                if (wi->tailsize > 0)
                        put_dirents(w, wi, first, wi->n_dirents - first, p);
        } else if (S_ISLNK(wi->mode)) {
                if (wi->n_blocks == 0)
                        memcpy(p, wi->payload, wi->size);
                else
                        memcpy(w->img + (uint64_t) wi->blkaddr * BLKSZ, wi->payload, wi->size);
        } else if (S_ISREG(wi->mode) && wi->size > 0) {
                if (wi->content) {
                        if (wi->n_blocks > 0)
                                memcpy(w->img + (uint64_t) wi->blkaddr * BLKSZ, wi->content,
                                       MIN(wi->size, (uint64_t) wi->n_blocks * BLKSZ));
                        if (wi->tailsize > 0)
                                memcpy(p, wi->content + wi->size - wi->tailsize, wi->tailsize);
                } else if (wi->tailsize > 0)
                        memset(p, 0xff, (size_t) wi->chunk_count * EROFS_BLOCK_MAP_ENTRY_SIZE);
                else if (wi->n_blocks > 0) /* chunk table pushed out of the inode: upstream writes a block of holes */
                        memset(w->img + (uint64_t) wi->blkaddr * BLKSZ, 0xff, BLKSZ);
        }
}

static int emit(struct writer *w) {
        uint64_t data_end = w->data_start;

        w->img = calloc(1, w->img_size);
        if (!w->img)
                return -ENOMEM;

        struct cfs_erofs_header hdr = {
                .magic = htole32(CFS_EROFS_MAGIC),
                .version = htole32(CFS_EROFS_HEADER_VERSION),
                .flags = htole32(w->has_acl ? CFS_EROFS_FLAGS_HAS_ACL : 0),
                .composefs_version = htole32(w->version),
        };
        memcpy(w->img, &hdr, sizeof(hdr));

        struct erofs_super_block sb = {
                .magic = htole32(EROFS_SUPER_MAGIC_V1),
                .feature_compat = htole32(EROFS_FEATURE_COMPAT_MTIME | EROFS_FEATURE_COMPAT_XATTR_FILTER),
                .blkszbits = EROFS_BLKSIZ_BITS,
                .root_nid = htole16((uint16_t) w->inodes[0].nid),
                .inos = htole64(w->n_inodes),
                .build_time = htole64((uint64_t) w->min_mtime_sec),
                .build_time_nsec = htole32(w->min_mtime_nsec),
                .blocks = htole32((uint32_t) (w->img_size / BLKSZ)),
                .meta_blkaddr = htole32(INODE_START / BLKSZ),
                .xattr_blkaddr = htole32((uint32_t) (w->inodes_end / BLKSZ)),
        };
        memcpy(w->img + EROFS_SUPER_OFFSET, &sb, sizeof(sb));

        for (size_t i = 0; i < w->n_inodes; i++)
                put_inode(w, &w->inodes[i], &data_end);
        CHECK(data_end == w->img_size);

        uint8_t *p = w->img + w->inodes_end;
        for (size_t i = 0; i < w->n_shared; i++)
                p = put_xattr(p, &w->xents[w->shared[i]]);
        CHECK((uint64_t) (p - w->img) == w->inodes_end + w->shared_size);
        return 0;
}

int cfs_image_write(cfs_node *root, int fd, const struct cfs_write_options *opts) {
        struct cfs_write_options o = opts ? *opts : (struct cfs_write_options) { .min_version = 0, .max_version = 1 };
        struct check_state st = {};
        struct writer w = {};
        int r;

        if (!root || fd < 0)
                return -EINVAL;
        if (o.max_version < o.min_version)
                o.max_version = o.min_version;
        if (o.max_version > CFS_FORMAT_VERSION_MAX)
                return -EINVAL;
        if (root->link_to || !S_ISDIR(root->mode) || root->parent)
                return -EINVAL;

        r = cfs_node_sort_children(root);
        if (r < 0)
                return r;
        r = cfs_node_walk(root, check_node, &st);
        if (r < 0)
                return r;
        /* Version 1 changed how whiteouts are marked: use it only when the tree has any. */
        w.version = o.min_version;
        if (w.version < 1 && o.max_version >= 1 && st.has_whiteout)
                w.version = 1;

        if ((r = build_inodes(&w, root)) < 0 ||
            (r = compute_xattrs(&w)) < 0 ||
            (r = compute_layout(&w)) < 0 ||
            (r = emit(&w)) < 0)
                goto out;
        r = loop_write(fd, w.img, w.img_size);
out:
        writer_done(&w);
        return r;
}
