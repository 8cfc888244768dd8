/* SPDX-License-Identifier: MIT */
/* The image reader: turns a composefs EROFS image back into a cfs_node tree.
 *
 * The bytes are untrusted (an attacker may hand us any image), so every offset, length,
 * count and nid is checked against the image before it is used, everything we allocate is
 * charged to a budget proportional to the image size, directories are walked without
 * recursion (depth capped), and a directory inode reached twice is a loop. Anything that is
 * not what a composefs writer produces is -EBADMSG; the reason goes to the debug log. */
#include <endian.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "cfs-format.h"
#include "log.h"
#include "tree.h"
#include "uapi/erofs_fs.h"
#include "util.h"

/* Trees deeper than this cannot have paths within CFS_PATH_MAX: tree.c's walk (and with it
 * the dump printer and the writer) refuses a node below this depth that has children. */
#define MAX_DEPTH (CFS_PATH_MAX / 2 + 1)
/* cfs_node_set_xattr is linear per key: keep a hostile inode from making that quadratic in
 * the tens of thousands. More than the kernel can list on one inode (64 KiB of names). */
#define MAX_XATTRS_PER_INODE 10000
/* Largest image read from a pipe or block device (regular files are mapped instead). */
#define MAX_STREAM_SIZE (1ULL << 32)

struct nid_slot {
        uint64_t nid_plus1; /* 0 = empty */
        cfs_node *node;
        uint32_t disk_mode; /* mode as stored in the image (a whiteout is S_IFREG there) */
};

struct reader {
        const uint8_t *data;
        uint64_t size; /* bytes that belong to the image: min(buffer, blocks * 4096) */
        uint64_t meta_off, xattr_off;
        int64_t build_time;
        uint32_t build_time_nsec;
        uint64_t budget; /* bytes we may still allocate */

        struct nid_slot *slots; /* open-addressing map nid -> first node that named it */
        size_t n_slots, n_used;
};

/* What one inode says, after validation. */
struct inode_info {
        uint64_t nid;
        uint64_t off;   /* image offset of the inode */
        unsigned isize; /* 32 or 64 */
        unsigned layout;
        uint32_t mode;
        uint32_t nlink, uid, gid;
        int64_t mtime_sec;
        uint32_t mtime_nsec;
        uint64_t size;
        uint32_t i_u;
        uint64_t xattr_off; /* inline xattr area */
        uint64_t xattr_size;
        uint64_t tail_off; /* FLAT_INLINE: where the last block's bytes are */
};

/* One directory entry, name pointing into the image. */
struct entry {
        const char *name;
        size_t len;
        uint64_t nid;
        uint8_t ftype;
};

/* One directory on the walk stack: its entries and how far we got. */
struct frame {
        cfs_node *dir;
        uint64_t nid;
        struct entry *entries;
        size_t n, next;
};

struct raw_xattr {
        char *key;
        const uint8_t *value;
        uint16_t len;
        bool keep;
};

static int bad(const char *fmt, ...) _printf_(1, 2);
static int bad(const char *fmt, ...) {
        if (log_get_max_level() >= LOG_LEVEL_DEBUG) {
                char buf[512];
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(buf, sizeof buf, fmt, ap);
                va_end(ap);
                log_debug("Invalid composefs image: %s", buf);
        }
        return -EBADMSG;
}

static uint16_t get16(const void *p) {
        uint16_t v;
        memcpy(&v, p, sizeof v);
        return le16toh(v);
}
static uint32_t get32(const void *p) {
        uint32_t v;
        memcpy(&v, p, sizeof v);
        return le32toh(v);
}
static uint64_t get64(const void *p) {
        uint64_t v;
        memcpy(&v, p, sizeof v);
        return le64toh(v);
}

static bool in_image(const struct reader *r, uint64_t off, uint64_t len) {
        return off <= r->size && len <= r->size - off;
}

static int charge(struct reader *r, uint64_t n) {
        if (n > r->budget)
                return bad("tree would need more memory than an image of this size can describe");
        r->budget -= n;
        return 0;
}

/* ---- nid map ---- */

static size_t nid_hash(uint64_t nid, size_t n_slots) {
        return (size_t) ((nid * 0x9E3779B97F4A7C15ULL) >> 17) & (n_slots - 1);
}

static struct nid_slot *nid_lookup(const struct reader *r, uint64_t nid) {
        if (r->n_slots == 0)
                return NULL;
        for (size_t i = nid_hash(nid, r->n_slots);; i = (i + 1) & (r->n_slots - 1)) {
                if (r->slots[i].nid_plus1 == 0)
                        return NULL;
                if (r->slots[i].nid_plus1 == nid + 1)
                        return &r->slots[i];
        }
}

static int nid_insert(struct reader *r, uint64_t nid, cfs_node *node, uint32_t disk_mode) {
        if ((r->n_used + 1) * 2 > r->n_slots) {
                size_t n = r->n_slots ? r->n_slots * 2 : 256;
                int k = charge(r, n * sizeof(struct nid_slot));
                if (k < 0)
                        return k;
                struct nid_slot *s = calloc(n, sizeof(*s));
                if (!s)
                        return -ENOMEM;
                for (size_t i = 0; i < r->n_slots; i++) {
                        if (r->slots[i].nid_plus1 == 0)
                                continue;
                        size_t j = nid_hash(r->slots[i].nid_plus1 - 1, n);
                        while (s[j].nid_plus1 != 0)
                                j = (j + 1) & (n - 1);
                        s[j] = r->slots[i];
                }
                free(r->slots);
                r->slots = s;
                r->n_slots = n;
        }
        size_t j = nid_hash(nid, r->n_slots);
        while (r->slots[j].nid_plus1 != 0)
                j = (j + 1) & (r->n_slots - 1);
        r->slots[j] = (struct nid_slot) { .nid_plus1 = nid + 1, .node = node, .disk_mode = disk_mode };
        r->n_used++;
        return 0;
}

/* ---- inodes and their data ---- */

static bool mode_type_valid(uint32_t mode) {
        switch (mode & S_IFMT) {
        case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFCHR: case S_IFBLK: case S_IFIFO: case S_IFSOCK:
                return true;
        default:
                return false;
        }
}

static uint8_t mode_to_ftype(uint32_t mode) {
        switch (mode & S_IFMT) {
        case S_IFREG: return EROFS_FT_REG_FILE;
        case S_IFDIR: return EROFS_FT_DIR;
        case S_IFLNK: return EROFS_FT_SYMLINK;
        case S_IFCHR: return EROFS_FT_CHRDEV;
        case S_IFBLK: return EROFS_FT_BLKDEV;
        case S_IFIFO: return EROFS_FT_FIFO;
        case S_IFSOCK: return EROFS_FT_SOCK;
        default: return EROFS_FT_UNKNOWN;
        }
}

static int read_inode(const struct reader *r, uint64_t nid, struct inode_info *ret) {
        struct inode_info ino = { .nid = nid };

        if (nid > (r->size - r->meta_off) / EROFS_SLOTSIZE)
                return bad("nid %" PRIu64 " is past the end of the image", nid);
        ino.off = r->meta_off + nid * EROFS_SLOTSIZE;
        if (!in_image(r, ino.off, sizeof(struct erofs_inode_compact)))
                return bad("inode %" PRIu64 " is truncated", nid);

        const uint8_t *p = r->data + ino.off;
        uint16_t format = get16(p + offsetof(struct erofs_inode_compact, i_format));
        if (format & ~EROFS_I_ALL)
                return bad("inode %" PRIu64 " has unknown format bits 0x%x", nid, format);
        ino.layout = (format >> EROFS_I_DATALAYOUT_BIT) & EROFS_I_DATALAYOUT_MASK;
        uint16_t icount;

        if (((format >> EROFS_I_VERSION_BIT) & EROFS_I_VERSION_MASK) == EROFS_INODE_LAYOUT_COMPACT) {
                const struct erofs_inode_compact *c = (const void *) p;
                ino.isize = sizeof(*c);
                icount = get16(&c->i_xattr_icount);
                ino.mode = get16(&c->i_mode);
                ino.nlink = get16(&c->i_nlink);
                ino.size = get32(&c->i_size);
                ino.i_u = get32(&c->i_u);
                ino.uid = get16(&c->i_uid);
                ino.gid = get16(&c->i_gid);
                ino.mtime_sec = r->build_time;
                ino.mtime_nsec = r->build_time_nsec;
        } else {
                const struct erofs_inode_extended *e = (const void *) p;
                ino.isize = sizeof(*e);
                if (!in_image(r, ino.off, ino.isize))
                        return bad("inode %" PRIu64 " is truncated", nid);
                icount = get16(&e->i_xattr_icount);
                ino.mode = get16(&e->i_mode);
                ino.nlink = get32(&e->i_nlink);
                ino.size = get64(&e->i_size);
                ino.i_u = get32(&e->i_u);
                ino.uid = get32(&e->i_uid);
                ino.gid = get32(&e->i_gid);
                ino.mtime_sec = (int64_t) get64(&e->i_mtime);
                ino.mtime_nsec = get32(&e->i_mtime_nsec);
        }

        if (!mode_type_valid(ino.mode))
                return bad("inode %" PRIu64 " has invalid mode 0%o", nid, ino.mode);

        ino.xattr_off = ino.off + ino.isize;
        ino.xattr_size = erofs_xattr_ibody_size(icount);
        if (!in_image(r, ino.xattr_off, ino.xattr_size))
                return bad("inode %" PRIu64 ": xattrs run past the end of the image", nid);
        ino.tail_off = ino.xattr_off + ino.xattr_size;

        switch (ino.layout) {
        case EROFS_INODE_FLAT_PLAIN:
                break;
        case EROFS_INODE_FLAT_INLINE: {
                /* The last (partial) block follows the inode and may not cross a block
                 * boundary: the kernel refuses such inodes. */
                uint64_t tail = ino.size == 0 ? 0 : ino.size - (ino.size - 1) / EROFS_BLKSIZ * EROFS_BLKSIZ;
                if (!in_image(r, ino.tail_off, tail))
                        return bad("inode %" PRIu64 ": inline data runs past the end of the image", nid);
                if (tail > 0 && ino.tail_off / EROFS_BLKSIZ != (ino.tail_off + tail - 1) / EROFS_BLKSIZ)
                        return bad("inode %" PRIu64 ": inline data crosses a block boundary", nid);
                break;
        }
        case EROFS_INODE_CHUNK_BASED: {
                /* Only external regular files are chunk-based: their chunks are all holes and
                 * overlayfs reads the content from the object store, so the chunk table is
                 * never read here; its format still has to be one the kernel accepts. */
                uint16_t cfmt = (uint16_t) ino.i_u;
                if (!S_ISREG(ino.mode))
                        return bad("inode %" PRIu64 ": chunk-based layout on a non-regular file", nid);
                if (cfmt & ~EROFS_CHUNK_FORMAT_BLKBITS_MASK)
                        return bad("inode %" PRIu64 ": unsupported chunk format 0x%x", nid, cfmt);
                break;
        }
        default:
                return bad("inode %" PRIu64 ": unsupported data layout %u", nid, ino.layout);
        }

        *ret = ino;
        return 0;
}

/* Locates bytes [pos, pos + len) of a flat inode's data; the range must lie in one block. */
static int data_at(const struct reader *r, const struct inode_info *ino, uint64_t pos, uint64_t len,
                   const uint8_t **ret) {
        uint64_t off;

        if (ino->layout == EROFS_INODE_FLAT_INLINE && pos >= (ino->size - 1) / EROFS_BLKSIZ * EROFS_BLKSIZ)
                off = ino->tail_off + (pos % EROFS_BLKSIZ); /* checked by read_inode */
        else if (ino->layout == EROFS_INODE_FLAT_PLAIN || ino->layout == EROFS_INODE_FLAT_INLINE)
                off = (uint64_t) ino->i_u * EROFS_BLKSIZ + pos;
        else
                return bad("inode %" PRIu64 ": data of a non-flat inode", ino->nid);

        if (!in_image(r, off, len))
                return bad("inode %" PRIu64 ": data block is past the end of the image", ino->nid);
        *ret = r->data + off;
        return 0;
}

/* Copies a whole (small) flat inode's data into buf (ino->size bytes). */
static int read_data(const struct reader *r, const struct inode_info *ino, uint8_t *buf) {
        for (uint64_t pos = 0; pos < ino->size; pos += EROFS_BLKSIZ) {
                uint64_t len = MIN((uint64_t) EROFS_BLKSIZ, ino->size - pos);
                const uint8_t *p = NULL;
                int k = data_at(r, ino, pos, len, &p);
                if (k < 0)
                        return k;
                memcpy(buf + pos, p, len);
        }
        return 0;
}

/* ---- directories ---- */

static int cmp_names(const char *a, size_t alen, const char *b, size_t blen) {
        int c = memcmp(a, b, MIN(alen, blen));
        if (c != 0)
                return c;
        return alen < blen ? -1 : alen > blen;
}

/* Reads a directory's entries (without "." and "..", which must name the directory itself
 * and its parent). Entries must be sorted, as the kernel's lookup relies on it. */
static int read_dir(struct reader *r, const struct inode_info *ino, uint64_t parent_nid,
                    struct entry **ret, size_t *ret_n) {
        _cleanup_free_ struct entry *e = NULL;
        size_t n = 0, alloc = 0;
        const char *prev = NULL;
        size_t prev_len = 0;
        bool dot = false, dotdot = false;
        int k;

        if (ino->layout != EROFS_INODE_FLAT_PLAIN && ino->layout != EROFS_INODE_FLAT_INLINE)
                return bad("directory %" PRIu64 " is not flat", ino->nid);
        if (!in_image(r, 0, ino->size))
                return bad("directory %" PRIu64 " is larger than the image", ino->nid);

        for (uint64_t pos = 0; pos < ino->size; pos += EROFS_BLKSIZ) {
                size_t blen = (size_t) MIN((uint64_t) EROFS_BLKSIZ, ino->size - pos);
                const uint8_t *b = NULL;

                k = data_at(r, ino, pos, blen, &b);
                if (k < 0)
                        return k;
                if (blen < sizeof(struct erofs_dirent))
                        return bad("directory %" PRIu64 ": block too short", ino->nid);

                size_t first = get16(b + offsetof(struct erofs_dirent, nameoff));
                if (first < sizeof(struct erofs_dirent) || first % sizeof(struct erofs_dirent) != 0 ||
                    first >= blen)
                        return bad("directory %" PRIu64 ": bad first name offset %zu", ino->nid, first);
                size_t count = first / sizeof(struct erofs_dirent);

                for (size_t i = 0; i < count; i++) {
                        const uint8_t *d = b + i * sizeof(struct erofs_dirent);
                        size_t off = get16(d + offsetof(struct erofs_dirent, nameoff)), end;

                        if (i + 1 < count)
                                end = get16(d + sizeof(struct erofs_dirent) + offsetof(struct erofs_dirent, nameoff));
                        else {
                                const void *nul = off < blen ? memchr(b + off, 0, blen - off) : NULL;
                                end = nul ? (size_t) ((const uint8_t *) nul - b) : blen;
                        }
                        if (off < first || off >= end || end > blen)
                                return bad("directory %" PRIu64 ": bad name offsets", ino->nid);

                        const char *name = (const char *) b + off;
                        size_t len = end - off;
                        uint64_t nid = get64(d + offsetof(struct erofs_dirent, nid));

                        if (prev && cmp_names(prev, prev_len, name, len) >= 0)
                                return bad("directory %" PRIu64 ": entries not sorted or duplicated", ino->nid);
                        prev = name;
                        prev_len = len;

                        if (len == 1 && name[0] == '.') {
                                if (nid != ino->nid)
                                        return bad("directory %" PRIu64 ": '.' points elsewhere", ino->nid);
                                dot = true;
                                continue;
                        }
                        if (len == 2 && name[0] == '.' && name[1] == '.') {
                                if (nid != parent_nid)
                                        return bad("directory %" PRIu64 ": '..' is not its parent", ino->nid);
                                dotdot = true;
                                continue;
                        }
                        if (cfs_name_valid(name, len) < 0)
                                return bad("directory %" PRIu64 ": invalid entry name", ino->nid);

                        if (n == alloc) {
                                size_t na = alloc ? alloc * 2 : 16;
                                k = charge(r, (na - alloc) * sizeof(struct entry));
                                if (k < 0)
                                        return k;
                                struct entry *ne = reallocarray(e, na, sizeof(*ne));
                                if (!ne)
                                        return -ENOMEM;
                                e = ne;
                                alloc = na;
                        }
                        e[n++] = (struct entry) {
                                .name = name,
                                .len = len,
                                .nid = nid,
                                .ftype = d[offsetof(struct erofs_dirent, file_type)],
                        };
                }
        }

        if (!dot || !dotdot)
                return bad("directory %" PRIu64 " lacks '.' or '..'", ino->nid);

        *ret = TAKE_PTR(e);
        *ret_n = n;
        return 0;
}

/* ---- xattrs ---- */

static const char *const xattr_prefixes[] = {
        [0] = "",
        [EROFS_XATTR_INDEX_USER] = "user.",
        [EROFS_XATTR_INDEX_POSIX_ACL_ACCESS] = CFS_XATTR_ACL_ACCESS,
        [EROFS_XATTR_INDEX_POSIX_ACL_DEFAULT] = CFS_XATTR_ACL_DEFAULT,
        [EROFS_XATTR_INDEX_TRUSTED] = "trusted.",
        [EROFS_XATTR_INDEX_LUSTRE] = "lustre.",
        [EROFS_XATTR_INDEX_SECURITY] = "security.",
};

static bool has_prefix(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Parses one xattr entry at off; returns its padded size in *ret_size. */
static int read_xattr_entry(struct reader *r, uint64_t off, uint64_t limit, struct raw_xattr *ret,
                            uint64_t *ret_size) {
        if (off > limit || limit - off < sizeof(struct erofs_xattr_entry))
                return bad("xattr entry out of bounds");
        const uint8_t *p = r->data + off;
        uint8_t name_len = p[offsetof(struct erofs_xattr_entry, e_name_len)];
        uint8_t index = p[offsetof(struct erofs_xattr_entry, e_name_index)];
        uint16_t value_len = get16(p + offsetof(struct erofs_xattr_entry, e_value_size));
        uint64_t total = ALIGN_TO((uint64_t) sizeof(struct erofs_xattr_entry) + name_len + value_len, 4);

        /* The padding may be missing only at the very end of the image. */
        if (limit - off < sizeof(struct erofs_xattr_entry) + (uint64_t) name_len + value_len)
                return bad("xattr entry out of bounds");
        if (index >= ELEMENTSOF(xattr_prefixes))
                return bad("xattr with unsupported name index %u", index);
        const char *name = (const char *) p + sizeof(struct erofs_xattr_entry);
        if (memchr(name, '\0', name_len))
                return bad("xattr name contains NUL");

        const char *prefix = xattr_prefixes[index];
        size_t plen = strlen(prefix);
        int k = charge(r, plen + name_len + 1 + value_len + sizeof(struct cfs_xattr) + 32);
        if (k < 0)
                return k;
        char *key = malloc(plen + name_len + 1);
        if (!key)
                return -ENOMEM;
        memcpy(key, prefix, plen);
        memcpy(key + plen, name, name_len);
        key[plen + name_len] = '\0';

        *ret = (struct raw_xattr) {
                .key = key,
                .value = p + sizeof(struct erofs_xattr_entry) + name_len,
                .len = value_len,
        };
        *ret_size = total;
        return 0;
}

static void raw_xattrs_free(struct raw_xattr *x, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(x[i].key);
        free(x);
}

static int cmp_raw_key(const void *a, const void *b) {
        return strcmp(((const struct raw_xattr *) a)->key, ((const struct raw_xattr *) b)->key);
}

/* Collects all xattrs of an inode (inline and shared) in image order. */
static int collect_xattrs(struct reader *r, const struct inode_info *ino, struct raw_xattr **ret,
                          size_t *ret_n) {
        struct raw_xattr *x = NULL;
        size_t n = 0, alloc = 0;
        int k = 0;

        if (ino->xattr_size == 0) {
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        if (ino->xattr_size < sizeof(struct erofs_xattr_ibody_header))
                return bad("inode %" PRIu64 ": xattr area too small", ino->nid);

        const uint8_t *h = r->data + ino->xattr_off;
        unsigned shared = h[offsetof(struct erofs_xattr_ibody_header, h_shared_count)];
        uint64_t inline_off = ino->xattr_off + sizeof(struct erofs_xattr_ibody_header) + 4ULL * shared;
        uint64_t end = ino->xattr_off + ino->xattr_size;
        if (inline_off > end)
                return bad("inode %" PRIu64 ": shared xattr ids overflow the xattr area", ino->nid);

        /* Upper bound of entries: one per shared id, one per 4 inline bytes. */
        uint64_t max = shared + (end - inline_off) / 4;
        if (max > MAX_XATTRS_PER_INODE)
                return bad("inode %" PRIu64 ": too many xattrs", ino->nid);

        for (uint64_t off = inline_off; off < end;) {
                uint64_t sz = 0; /* set for the analyzers: they do not follow bad() (variadic) */
                k = GROW_ARRAY(x, alloc, n + 1, 8);
                if (k < 0)
                        goto fail;
                k = read_xattr_entry(r, off, end, &x[n], &sz);
                if (k < 0)
                        goto fail;
                n++;
                if (sz > end - off) {
                        k = bad("inode %" PRIu64 ": xattr entry overruns the xattr area", ino->nid);
                        goto fail;
                }
                off += sz;
        }

        for (unsigned i = 0; i < shared; i++) {
                uint64_t id = get32(h + sizeof(struct erofs_xattr_ibody_header) + 4 * i), sz;
                k = GROW_ARRAY(x, alloc, n + 1, 8);
                if (k < 0)
                        goto fail;
                k = read_xattr_entry(r, r->xattr_off + 4 * id, r->size, &x[n], &sz);
                if (k < 0)
                        goto fail;
                n++;
        }

        /* A key twice on one inode is ambiguous (which one does the kernel return?). */
        if (n > 1) {
                struct raw_xattr *sorted = malloc(n * sizeof(*sorted));
                if (!sorted) {
                        k = -ENOMEM;
                        goto fail;
                }
                memcpy(sorted, x, n * sizeof(*sorted));
                qsort(sorted, n, sizeof(*sorted), cmp_raw_key);
                bool dup = false;
                for (size_t i = 1; i < n && !dup; i++)
                        dup = streq(sorted[i - 1].key, sorted[i].key);
                free(sorted);
                if (dup) {
                        k = bad("inode %" PRIu64 ": duplicate xattr", ino->nid);
                        goto fail;
                }
        }

        *ret = x;
        *ret_n = n;
        return 0;
fail:
        raw_xattrs_free(x, n);
        return k;
}

static const struct raw_xattr *find_raw(const struct raw_xattr *x, size_t n, const char *key) {
        for (size_t i = 0; i < n; i++)
                if (streq(x[i].key, key))
                        return &x[i];
        return NULL;
}

static bool value_is(const struct raw_xattr *x, const char *v) {
        return x->len == strlen(v) && memcmp(x->value, v, x->len) == 0;
}

/* Turns the overlayfs xattrs back into tree fields and keeps the user's own xattrs (with the
 * "trusted.overlay.overlay." escape undone). Sets *ret_whiteout for an escaped whiteout. */
static int apply_xattrs(struct reader *r, const struct inode_info *ino, cfs_node *n, bool *ret_whiteout) {
        struct raw_xattr *x = NULL;
        size_t nx = 0;
        bool whiteout = false;
        int k;

        k = collect_xattrs(r, ino, &x, &nx);
        if (k < 0)
                return k;

        bool is_reg = S_ISREG(ino->mode);
        /* Format version 1 marks a directory holding whiteouts also with opaque = "x"; that
         * marker is the writer's, not the user's. */
        bool has_whiteouts = find_raw(x, nx, CFS_XATTR_ESCAPED_WHITEOUTS) != NULL;

        for (size_t i = 0; i < nx; i++) {
                struct raw_xattr *a = &x[i];
                const char *key = a->key;

                if (streq(key, CFS_XATTR_METACOPY)) {
                        if (!is_reg)
                                continue;
                        if (a->len == 0)
                                continue;
                        struct cfs_metacopy mc;
                        if (a->len != sizeof(mc)) {
                                k = bad("inode %" PRIu64 ": metacopy xattr of size %u", ino->nid, a->len);
                                goto out;
                        }
                        memcpy(&mc, a->value, sizeof(mc));
                        if (mc.version != CFS_METACOPY_VERSION || mc.len != sizeof(mc) ||
                            mc.digest_algo != CFS_FSVERITY_HASH_ALG_SHA256) {
                                k = bad("inode %" PRIu64 ": unsupported metacopy xattr", ino->nid);
                                goto out;
                        }
                        cfs_node_set_digest(n, mc.digest);
                } else if (streq(key, CFS_XATTR_REDIRECT)) {
                        if (!is_reg)
                                continue;
                        if (a->len < 2 || a->value[0] != '/' || memchr(a->value, '\0', a->len) ||
                            a->len - 1 > CFS_PAYLOAD_MAX) {
                                k = bad("inode %" PRIu64 ": invalid redirect xattr", ino->nid);
                                goto out;
                        }
                        char buf[CFS_PAYLOAD_MAX + 1];
                        memcpy(buf, a->value + 1, a->len - 1);
                        buf[a->len - 1] = '\0';
                        k = cfs_node_set_payload(n, buf);
                        if (k < 0)
                                goto out;
                } else if (streq(key, CFS_XATTR_ESCAPED_WHITEOUT) && is_reg) {
                        whiteout = true;
                } else if (streq(key, CFS_XATTR_ESCAPED_WHITEOUTS) || streq(key, CFS_XATTR_USER_WHITEOUT) ||
                           streq(key, CFS_XATTR_USER_WHITEOUTS)) {
                        continue;
                } else if (has_whiteouts && (streq(key, CFS_XATTR_ESCAPED_OPAQUE) || streq(key, CFS_XATTR_USER_OPAQUE)) &&
                           value_is(a, "x")) {
                        continue;
                } else if (has_prefix(key, CFS_XATTR_OVERLAY_ESCAPE_PREFIX)) {
                        /* trusted.overlay.overlay.X -> trusted.overlay.X */
                        size_t skip = strlen(CFS_XATTR_OVERLAY_ESCAPE_PREFIX) - strlen(CFS_XATTR_OVERLAY_PREFIX);
                        size_t plen = strlen(CFS_XATTR_OVERLAY_PREFIX);
                        memmove(a->key + plen, a->key + plen + skip, strlen(a->key + plen + skip) + 1);
                        a->keep = true;
                } else if (has_prefix(key, CFS_XATTR_OVERLAY_PREFIX)) {
                        continue; /* overlayfs' own (the root's opaque marker and the like) */
                } else
                        a->keep = true;
        }

        /* Canonical order, as the writer sorts them (the image splits them into inline and
         * shared ones, which says nothing about the user's order). */
        if (nx > 1)
                qsort(x, nx, sizeof(*x), cmp_raw_key);
        for (size_t i = 0; i < nx; i++) {
                if (!x[i].keep)
                        continue;
                k = cfs_node_set_xattr(n, x[i].key, x[i].value, x[i].len);
                if (k == -ENOMEM)
                        goto out;
                if (k < 0) {
                        k = bad("inode %" PRIu64 ": invalid xattr", ino->nid);
                        goto out;
                }
        }

        *ret_whiteout = whiteout;
        k = 0;
out:
        raw_xattrs_free(x, nx);
        return k;
}

/* Builds the node for an inode. Sets *ret to NULL for an overlayfs whiteout stored as a real
 * character device 0:0: composefs adds those (the 256 "00".."ff" in the root) to hide the
 * object store's own entries; they are not part of the tree. */
static int build_node(struct reader *r, const struct inode_info *ino, cfs_node **ret) {
        _cleanup_node_ cfs_node *n = NULL;
        uint32_t type = ino->mode & S_IFMT;
        bool whiteout = false;
        int k;

        if ((type == S_IFCHR) && ino->i_u == 0) {
                *ret = NULL;
                return 0;
        }

        k = charge(r, sizeof(cfs_node) + 64);
        if (k < 0)
                return k;
        n = cfs_node_new(ino->mode);
        if (!n)
                return -ENOMEM;
        n->uid = ino->uid;
        n->gid = ino->gid;
        n->nlink = ino->nlink;
        n->mtime_sec = ino->mtime_sec;
        n->mtime_nsec = ino->mtime_nsec;
        /* As stored: for directories that is the writer's entry-block size, as upstream's
         * composefs-info reports it too. */
        n->size = ino->size;

        switch (type) {
        case S_IFCHR:
        case S_IFBLK:
                n->rdev = ino->i_u;
                break;
        case S_IFLNK: {
                char buf[CFS_PAYLOAD_MAX + 1];
                if (ino->size == 0 || ino->size > CFS_PAYLOAD_MAX)
                        return bad("symlink %" PRIu64 " has invalid size %" PRIu64, ino->nid, ino->size);
                if (ino->layout == EROFS_INODE_CHUNK_BASED)
                        return bad("symlink %" PRIu64 " is not flat", ino->nid);
                k = read_data(r, ino, (uint8_t *) buf);
                if (k < 0)
                        return k;
                buf[ino->size] = '\0';
                if (strlen(buf) != ino->size)
                        return bad("symlink %" PRIu64 " target contains NUL", ino->nid);
                k = charge(r, ino->size + 1);
                if (k < 0)
                        return k;
                k = cfs_node_set_payload(n, buf);
                if (k < 0)
                        return k;
                break;
        }
        case S_IFREG:
                if (ino->layout != EROFS_INODE_CHUNK_BASED && ino->size > 0) {
                        /* Content stored in the image itself. */
                        if (ino->size > CFS_INLINE_CONTENT_MAX)
                                return bad("file %" PRIu64 ": inline content of %" PRIu64 " bytes exceeds %d",
                                           ino->nid, ino->size, CFS_INLINE_CONTENT_MAX);
                        uint8_t buf[CFS_INLINE_CONTENT_MAX];
                        k = read_data(r, ino, buf);
                        if (k < 0)
                                return k;
                        k = charge(r, ino->size);
                        if (k < 0)
                                return k;
                        k = cfs_node_set_content(n, buf, ino->size);
                        if (k < 0)
                                return k;
                }
                n->size = ino->size;
                break;
        default:
                break;
        }

        k = apply_xattrs(r, ino, n, &whiteout);
        if (k < 0)
                return k;

        if (whiteout) {
                if (ino->size != 0 || n->payload || n->has_digest)
                        return bad("whiteout %" PRIu64 " has content", ino->nid);
                n->mode = S_IFCHR | (n->mode & ~S_IFMT);
                n->rdev = makedev(0, 0);
                n->size = 0;
        }

        *ret = TAKE_PTR(n);
        return 0;
}

/* ---- the walk ---- */

static void frames_free(struct frame *f, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(f[i].entries);
        free(f);
}

static int push_dir(struct reader *r, struct frame **stack, size_t *depth, size_t *alloc, cfs_node *dir,
                    const struct inode_info *ino, uint64_t parent_nid) {
        struct entry *e = NULL;
        size_t n = 0;
        int k;

        if (*depth > MAX_DEPTH + 1)
                return bad("directories nested deeper than %d", MAX_DEPTH);
        if (*depth == *alloc) {
                size_t na = *alloc ? *alloc * 2 : 16;
                k = charge(r, (na - *alloc) * sizeof(struct frame));
                if (k < 0)
                        return k;
                struct frame *f = reallocarray(*stack, na, sizeof(*f));
                if (!f)
                        return -ENOMEM;
                *stack = f;
                *alloc = na;
        }
        k = read_dir(r, ino, parent_nid, &e, &n);
        if (k < 0)
                return k;
        if (*depth > MAX_DEPTH && n > 0) {
                free(e);
                return bad("directories nested deeper than %d", MAX_DEPTH);
        }
        (*stack)[(*depth)++] = (struct frame) { .dir = dir, .nid = ino->nid, .entries = e, .n = n };
        return 0;
}

/* Depth-first, entries in directory order: the first entry naming an inode owns it and later
 * ones become hard links to it, as in the dump's pre-order. */
static int read_tree(struct reader *r, uint64_t root_nid, cfs_node **ret) {
        _cleanup_node_ cfs_node *root = NULL;
        struct frame *stack = NULL;
        size_t depth = 0, alloc = 0;
        struct inode_info ino = {}; /* set for the analyzers: they do not follow bad() (variadic) */
        int k;

        k = read_inode(r, root_nid, &ino);
        if (k < 0)
                return k;
        if (!S_ISDIR(ino.mode))
                return bad("root inode is not a directory");
        k = build_node(r, &ino, &root);
        if (k < 0)
                return k;
        k = nid_insert(r, root_nid, root, ino.mode);
        if (k < 0)
                return k;
        k = push_dir(r, &stack, &depth, &alloc, root, &ino, root_nid);
        if (k < 0)
                goto out;

        while (depth > 0) {
                struct frame *f = &stack[depth - 1];
                if (f->next == f->n) {
                        free(f->entries);
                        depth--;
                        continue;
                }
                const struct entry *e = &f->entries[f->next++];
                cfs_node *dir = f->dir;
                uint64_t dir_nid = f->nid;
                char name[CFS_NAME_MAX + 1];
                memcpy(name, e->name, e->len); /* len <= CFS_NAME_MAX: checked by read_dir */
                name[e->len] = '\0';

                struct nid_slot *s = nid_lookup(r, e->nid);
                if (s) {
                        if (S_ISDIR(s->disk_mode)) {
                                k = bad("directory %" PRIu64 " is linked more than once", e->nid);
                                goto out;
                        }
                        if (e->ftype != mode_to_ftype(s->disk_mode)) {
                                k = bad("entry type of '%s' does not match inode %" PRIu64, name, e->nid);
                                goto out;
                        }
                        k = charge(r, sizeof(cfs_node) + e->len + 64);
                        if (k < 0)
                                goto out;
                        cfs_node *l = cfs_node_new(s->node->mode);
                        if (!l) {
                                k = -ENOMEM;
                                goto out;
                        }
                        k = cfs_node_make_hardlink(l, s->node);
                        if (k >= 0)
                                k = cfs_node_add_child(dir, l, name, false);
                        if (k < 0) {
                                cfs_node_free(l);
                                if (k != -ENOMEM)
                                        k = bad("cannot link '%s' to inode %" PRIu64, name, e->nid);
                                goto out;
                        }
                        continue;
                }

                k = read_inode(r, e->nid, &ino);
                if (k < 0)
                        goto out;
                if (e->ftype != mode_to_ftype(ino.mode)) {
                        k = bad("entry type of '%s' does not match inode %" PRIu64, name, e->nid);
                        goto out;
                }
                cfs_node *c = NULL;
                k = build_node(r, &ino, &c);
                if (k < 0)
                        goto out;
                if (!c)
                        continue; /* an overlayfs whiteout of the image itself */
                k = charge(r, e->len + 1);
                if (k >= 0)
                        k = cfs_node_add_child(dir, c, name, false);
                if (k < 0) {
                        cfs_node_free(c);
                        goto out;
                }
                k = nid_insert(r, e->nid, c, ino.mode);
                if (k < 0)
                        goto out;
                if (S_ISDIR(ino.mode)) {
                        k = push_dir(r, &stack, &depth, &alloc, c, &ino, dir_nid);
                        if (k < 0)
                                goto out;
                }
        }

        *ret = TAKE_PTR(root);
        k = 0;
out:
        frames_free(stack, depth);
        return k;
}

int cfs_image_read_buffer(const void *data, size_t size, cfs_node **ret_root) {
        struct reader r = { .data = data, .size = size };
        cfs_node *root = NULL;
        int k;

        if (!ret_root || (!data && size > 0))
                return -EINVAL;
        if (size < EROFS_SUPER_OFFSET + sizeof(struct erofs_super_block))
                return bad("file too small (%zu bytes)", size);

        const uint8_t *h = data;
        if (get32(h + offsetof(struct cfs_erofs_header, magic)) != CFS_EROFS_MAGIC)
                return bad("no composefs header");
        if (get32(h + offsetof(struct cfs_erofs_header, version)) != CFS_EROFS_HEADER_VERSION)
                return bad("unsupported composefs header version");
        if (get32(h + offsetof(struct cfs_erofs_header, composefs_version)) > CFS_FORMAT_VERSION_MAX)
                return bad("unsupported composefs format version");

        const uint8_t *sb = h + EROFS_SUPER_OFFSET;
        if (get32(sb + offsetof(struct erofs_super_block, magic)) != EROFS_SUPER_MAGIC_V1)
                return bad("no EROFS superblock");
        if (sb[offsetof(struct erofs_super_block, blkszbits)] != EROFS_BLKSIZ_BITS)
                return bad("block size is not %u", EROFS_BLKSIZ);
        if (sb[offsetof(struct erofs_super_block, dirblkbits)] != 0)
                return bad("unsupported directory block size");
        /* Everything else (compression, extra devices, long xattr prefixes, fragments) is
         * nothing a composefs writer produces. */
        if (get32(sb + offsetof(struct erofs_super_block, feature_incompat)) & ~(uint32_t) EROFS_FEATURE_INCOMPAT_CHUNKED_FILE)
                return bad("unsupported EROFS incompatible features");

        uint64_t blocks = get32(sb + offsetof(struct erofs_super_block, blocks));
        if (blocks * EROFS_BLKSIZ > size)
                return bad("image truncated: superblock says %" PRIu64 " bytes, have %zu",
                           blocks * EROFS_BLKSIZ, size);
        r.size = blocks * EROFS_BLKSIZ;

        r.meta_off = (uint64_t) get32(sb + offsetof(struct erofs_super_block, meta_blkaddr)) * EROFS_BLKSIZ;
        r.xattr_off = (uint64_t) get32(sb + offsetof(struct erofs_super_block, xattr_blkaddr)) * EROFS_BLKSIZ;
        if (r.meta_off >= r.size || r.xattr_off > r.size)
                return bad("metadata or xattr area outside the image");
        r.build_time = (int64_t) get64(sb + offsetof(struct erofs_super_block, build_time));
        r.build_time_nsec = get32(sb + offsetof(struct erofs_super_block, build_time_nsec));

        /* A tree in memory takes a few times the bytes its image does (node structs for
         * 12-byte entries, shared xattrs copied to each inode): allow generously, but
         * bounded, so a crafted image cannot make us allocate without limit. */
        r.budget = r.size * 64 + (64ULL << 20);

        k = read_tree(&r, get16(sb + offsetof(struct erofs_super_block, root_nid)), &root);
        free(r.slots);
        if (k < 0)
                return k;
        *ret_root = root;
        return 0;
}

int cfs_image_read(int fd, cfs_node **ret_root) {
        struct stat st;
        int k;

        if (fstat(fd, &st) < 0)
                return -errno;

        if (S_ISREG(st.st_mode)) {
                if (st.st_size == 0)
                        return bad("empty file");
                if ((uint64_t) st.st_size > SIZE_MAX)
                        return -EFBIG;
                void *p = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
                if (p == MAP_FAILED)
                        return -errno;
                k = cfs_image_read_buffer(p, (size_t) st.st_size, ret_root);
                munmap(p, (size_t) st.st_size);
                return k;
        }
        if (S_ISDIR(st.st_mode))
                return -EISDIR;

        /* A pipe or a block device: read the first block, then as many blocks as the
         * superblock says the image has (not the whole device). */
        _cleanup_free_ uint8_t *buf = malloc(EROFS_BLKSIZ);
        if (!buf)
                return -ENOMEM;
        ssize_t n = loop_read(fd, buf, EROFS_BLKSIZ);
        if (n < 0)
                return (int) n;
        size_t len = (size_t) n;
        if (len < EROFS_SUPER_OFFSET + sizeof(struct erofs_super_block))
                return bad("file too small (%zu bytes)", len);
        uint64_t want = (uint64_t) get32(buf + EROFS_SUPER_OFFSET + offsetof(struct erofs_super_block, blocks)) *
                        EROFS_BLKSIZ;
        if (want > MAX_STREAM_SIZE)
                return -EFBIG;
        if (want > len) {
                uint8_t *nb = realloc(buf, (size_t) want);
                if (!nb)
                        return -ENOMEM;
                buf = nb;
                n = loop_read(fd, buf + len, (size_t) want - len);
                if (n < 0)
                        return (int) n;
                len += (size_t) n;
        }
        return cfs_image_read_buffer(buf, len, ret_root);
}
