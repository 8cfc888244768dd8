/* SPDX-License-Identifier: MIT */
/* The composefs-dump(5) text format: parser (untrusted input) and printer.
 *
 * One line per inode: PATH SIZE MODE NLINK UID GID RDEV MTIME PAYLOAD CONTENT DIGEST, then
 * xattrs KEY=VALUE, separated by single spaces. Fields use \\ \n \r \t \xNN escapes; "-" is
 * an unset optional field (a literal "-" is written \x2d). MODE "@..." makes a hard link to
 * the path in PAYLOAD.
 *
 * Where we are stricter than upstream mkcomposefs 1.0.8 (each is an error naming the line):
 *  - numbers are plain digits (no sign, blanks, "0x" or other strtoull() leniency) and must
 *    fit their field: SIZE 64 bits, MODE/NLINK/UID/GID/RDEV 32 bits (upstream truncates
 *    larger values silently);
 *  - MTIME is SEC.NSEC with NSEC below 10^9 (SEC may be negative);
 *  - a line must have at least PATH..PAYLOAD, and a regular file all 11 fixed fields
 *    (upstream reads missing fields as empty strings);
 *  - paths must be absolute, without empty, "." or ".." components, and at most 4096
 *    bytes; upstream folds repeated slashes;
 *  - DIGEST must be exactly 64 hex digits; it and CONTENT are only allowed on regular
 *    files, and a hard link's target must exist and not be a directory (also upstream);
 *  - an xattr key must start with user., trusted., security. or system. and may appear
 *    once per line (upstream lets a later one replace an earlier one);
 *  - a regular file without inline content may not exceed 2^53 bytes (upstream fails only
 *    when writing the image);
 *  - an escaped NUL (\x00) in PATH or PAYLOAD is an error (upstream cuts the string there);
 *  - empty lines are errors.
 * Accepted like upstream's default (non-strict) mode: no newline after the last line, a
 * non-zero RDEV on a non-device (ignored), a symlink whose SIZE differs from its target's
 * length (the length wins), one trailing space after the fixed fields or last xattr, a
 * non-regular file's line ending after PAYLOAD (CONTENT and DIGEST then unset), and MODE
 * bits above 0177777 (dropped: upstream stores only the low 16 bits in the image). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cfs-format.h"
#include "tree.h"
#include "util.h"

enum {
        F_PATH,
        F_SIZE,
        F_MODE,
        F_NLINK,
        F_UID,
        F_GID,
        F_RDEV,
        F_MTIME,
        F_PAYLOAD,
        F_CONTENT,
        F_DIGEST,
        N_FIXED_FIELDS,
};

/* Upstream caps the xattr part of a line at 64 KiB. */
#define XATTR_PART_MAX 65535
/* Largest external file: 1024 chunks of 2^43 bytes. */
#define EXTERNAL_SIZE_MAX ((uint64_t) CFS_MAX_NONINLINE_CHUNKS << 43)

/* (parent, name) -> node index, so that path lookups and duplicate checks are O(1). */
struct name_index {
        cfs_node **slots;
        size_t n_slots, n_used;
};

struct pending_link {
        cfs_node *node;
        char *target;
        unsigned line;
};

struct parser {
        cfs_node *root;
        struct name_index idx;
        struct pending_link *links;
        size_t n_links, links_alloc;
        struct cfs_parse_error *err;
        unsigned line;
};

static int parse_error(struct parser *p, int r, const char *fmt, ...) _printf_(3, 4);
static int parse_error(struct parser *p, int r, const char *fmt, ...) {
        va_list ap;

        if (p->err) {
                p->err->line = p->line;
                va_start(ap, fmt);
                vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
                va_end(ap);
        }
        return r;
}

static uint64_t hash_name(const cfs_node *parent, const char *name, size_t len) {
        uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t) (uintptr_t) parent;
        for (size_t i = 0; i < len; i++) {
                h ^= (uint8_t) name[i];
                h *= 0x100000001b3ULL;
        }
        return h ^ (h >> 29);
}

static cfs_node *index_lookup(const struct name_index *idx, const cfs_node *parent, const char *name, size_t len) {
        if (idx->n_slots == 0)
                return NULL;
        for (size_t i = hash_name(parent, name, len) & (idx->n_slots - 1);; i = (i + 1) & (idx->n_slots - 1)) {
                cfs_node *n = idx->slots[i];
                if (!n)
                        return NULL;
                if (n->parent == parent && strncmp(n->name, name, len) == 0 && n->name[len] == '\0')
                        return n;
        }
}

static int index_add(struct name_index *idx, cfs_node *n) {
        if ((idx->n_used + 1) * 2 > idx->n_slots) {
                size_t ns = idx->n_slots ? idx->n_slots * 2 : 1024;
                cfs_node **s = calloc(ns, sizeof(*s));
                if (!s)
                        return -ENOMEM;
                for (size_t i = 0; i < idx->n_slots; i++) {
                        cfs_node *o = idx->slots[i];
                        if (!o)
                                continue;
                        size_t j = hash_name(o->parent, o->name, strlen(o->name)) & (ns - 1);
                        while (s[j])
                                j = (j + 1) & (ns - 1);
                        s[j] = o;
                }
                free(idx->slots);
                idx->slots = s;
                idx->n_slots = ns;
        }
        size_t j = hash_name(n->parent, n->name, strlen(n->name)) & (idx->n_slots - 1);
        while (idx->slots[j])
                j = (j + 1) & (idx->n_slots - 1);
        idx->slots[j] = n;
        idx->n_used++;
        return 0;
}

/* Unescapes into a new NUL-terminated buffer (which may hold NULs: see *ret_len). */
static int unescape(struct parser *p, const char *field, const char *s, size_t len, char **ret, size_t *ret_len) {
        _cleanup_free_ char *out = malloc(len + 1);
        size_t o = 0;

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                if (c != '\\') {
                        out[o++] = c;
                        continue;
                }
                if (++i >= len)
                        return parse_error(p, -EINVAL, "%s: no character after '\\'", field);
                switch (s[i]) {
                case '\\': out[o++] = '\\'; break;
                case 'n': out[o++] = '\n'; break;
                case 'r': out[o++] = '\r'; break;
                case 't': out[o++] = '\t'; break;
                case 'x': {
                        int hi = i + 1 < len ? unhexchar(s[i + 1]) : -1;
                        int lo = i + 2 < len ? unhexchar(s[i + 2]) : -1;
                        if (hi < 0 || lo < 0)
                                return parse_error(p, -EINVAL, "%s: '\\x' needs two hex digits", field);
                        out[o++] = (char) (hi << 4 | lo);
                        i += 2;
                        break;
                }
                default:
                        return parse_error(p, -EINVAL, "%s: unsupported escape '\\%c'", field, s[i]);
                }
        }
        out[o] = '\0';
        *ret = TAKE_PTR(out);
        if (ret_len)
                *ret_len = o;
        return 0;
}

static bool is_unset(const char *s, size_t len) {
        return len == 1 && s[0] == '-';
}

/* Unescapes an optional field: *ret = NULL for "-". Rejects embedded NULs unless
 * ret_len is given (only CONTENT may hold them). */
static int unescape_opt(struct parser *p, const char *field, const char *s, size_t len, char **ret, size_t *ret_len) {
        size_t l;
        int r;

        if (is_unset(s, len)) {
                *ret = NULL;
                if (ret_len)
                        *ret_len = 0;
                return 0;
        }
        r = unescape(p, field, s, len, ret, &l);
        if (r < 0)
                return r;
        if (!ret_len && memchr(*ret, '\0', l)) {
                free(*ret);
                *ret = NULL;
                return parse_error(p, -EINVAL, "%s: contains a NUL byte", field);
        }
        if (ret_len)
                *ret_len = l;
        return 0;
}

static int parse_u64(struct parser *p, const char *field, const char *s, size_t len, int base, uint64_t max, uint64_t *ret) {
        uint64_t v = 0;

        if (len == 0)
                return parse_error(p, -EINVAL, "%s: empty number", field);
        for (size_t i = 0; i < len; i++) {
                int d = unhexchar(s[i]);
                if (d < 0 || d >= base)
                        return parse_error(p, -EINVAL, "%s: invalid number '%.*s'", field, (int) MIN(len, 40), s);
                if (v > (max - (uint64_t) d) / (uint64_t) base)
                        return parse_error(p, -ERANGE, "%s: '%.*s' is out of range (max %" PRIu64 ")", field,
                                           (int) MIN(len, 40), s, max);
                v = v * (uint64_t) base + (uint64_t) d;
        }
        *ret = v;
        return 0;
}

static int parse_mtime(struct parser *p, const char *s, size_t len, int64_t *ret_sec, uint32_t *ret_nsec) {
        const char *dot = memchr(s, '.', len);
        bool neg = len > 0 && s[0] == '-';
        uint64_t sec = 0, nsec = 0; /* set for the analyzers: they do not follow parse_error() */
        int r;

        if (!dot)
                return parse_error(p, -EINVAL, "MTIME: expected SECONDS.NANOSECONDS, got '%.*s'", (int) MIN(len, 40), s);
        r = parse_u64(p, "MTIME", s + neg, dot - s - neg, 10, neg ? (uint64_t) INT64_MAX + 1 : INT64_MAX, &sec);
        if (r < 0)
                return r;
        r = parse_u64(p, "MTIME", dot + 1, s + len - dot - 1, 10, 999999999, &nsec);
        if (r < 0)
                return r;
        *ret_sec = neg ? (int64_t) (0 - sec) : (int64_t) sec;
        *ret_nsec = (uint32_t) nsec;
        return 0;
}

static bool mode_type_valid(uint32_t mode) {
        switch (mode & S_IFMT) {
        case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFBLK: case S_IFCHR: case S_IFIFO: case S_IFSOCK:
                return true;
        default:
                return false;
        }
}

/* Finds the node for an absolute path; sets *ret_name/len to the last component when
 * want_parent (the parent is returned, the last component need not exist). */
static int resolve_path(struct parser *p, const char *path, bool want_parent, cfs_node **ret,
                        const char **ret_name, size_t *ret_len) {
        size_t len = strlen(path);
        const char *s = path + 1, *end = path + len;
        cfs_node *n = p->root;

        if (path[0] != '/')
                return parse_error(p, -EINVAL, "path '%s' is not absolute", path);
        if (len > CFS_PATH_MAX)
                return parse_error(p, -ENAMETOOLONG, "path is longer than %d bytes", CFS_PATH_MAX);
        if (len == 1) {
                if (want_parent)
                        return parse_error(p, -EINVAL, "path '/' has no parent");
                *ret = n;
                return 0;
        }
        for (;;) {
                const char *slash = memchr(s, '/', end - s);
                size_t cl = slash ? (size_t) (slash - s) : (size_t) (end - s);
                int r = cfs_name_valid(s, cl);
                if (r == -ENAMETOOLONG)
                        return parse_error(p, r, "path '%s': a name is longer than %d bytes", path, CFS_NAME_MAX);
                if (r < 0)
                        return parse_error(p, r, "path '%s': empty, '.' or '..' component", path);
                if (!slash && want_parent) {
                        *ret = n;
                        *ret_name = s;
                        *ret_len = cl;
                        return 0;
                }
                if (!n)
                        return parse_error(p, -ENOENT, "path '%s': the root directory must come first", path);
                cfs_node *c = index_lookup(&p->idx, n, s, cl);
                if (!c)
                        return parse_error(p, -ENOENT, "path '%s': '%.*s' does not exist (parents must come first)",
                                           path, (int) (s + cl - path), path);
                if (slash && (c->link_to || !S_ISDIR(c->mode)))
                        return parse_error(p, -ENOTDIR, "path '%s': '%.*s' is not a directory", path,
                                           (int) (s + cl - path), path);
                n = c;
                if (!slash) {
                        *ret = n;
                        return 0;
                }
                s = slash + 1;
        }
}

/* Per-inode xattr budget, counted as upstream does so both accept the same files. */
static size_t xattr_cost(size_t key_len, size_t value_len, bool first) {
        return (first ? 12 : 0) + 7 + key_len + value_len;
}

static int parse_xattr(struct parser *p, cfs_node *n, const char *s, size_t len, size_t *budget) {
        const char *eq = memchr(s, '=', len);
        _cleanup_free_ char *key = NULL, *value = NULL;
        size_t key_len = 0, value_len = 0; /* set for the analyzers (parse_error() is variadic) */
        int r;

        if (!eq)
                return parse_error(p, -EINVAL, "xattr '%.*s': missing '='", (int) MIN(len, 60), s);
        r = unescape(p, "xattr key", s, eq - s, &key, &key_len);
        if (r < 0)
                return r;
        r = unescape(p, "xattr value", eq + 1, s + len - eq - 1, &value, &value_len);
        if (r < 0)
                return r;
        if (key_len == 0)
                return parse_error(p, -EINVAL, "empty xattr key");
        if (memchr(key, '\0', key_len))
                return parse_error(p, -EINVAL, "xattr key contains a NUL byte");
        if (key_len > CFS_XATTR_NAME_MAX)
                return parse_error(p, -ERANGE, "xattr key '%.40s...' is longer than %d bytes", key, CFS_XATTR_NAME_MAX);
        if (value_len > CFS_XATTR_VALUE_MAX)
                return parse_error(p, -ERANGE, "xattr '%s': value is longer than %d bytes", key, CFS_XATTR_VALUE_MAX);
        if (cfs_node_get_xattr(n, key))
                return parse_error(p, -EEXIST, "xattr '%s' given twice", key);
        *budget += xattr_cost(key_len, value_len, n->n_xattrs == 0);
        if (*budget > CFS_XATTR_EXTERNAL_MAX)
                return parse_error(p, -ERANGE, "xattrs of this file exceed %d bytes", CFS_XATTR_EXTERNAL_MAX);
        r = cfs_node_set_xattr(n, key, value, value_len);
        if (r == -EINVAL)
                return parse_error(p, r, "xattr key '%s' has no known namespace (user., trusted., security., system.)", key);
        if (r < 0)
                return parse_error(p, r, "cannot set xattr '%s': %s", key, strerror(-r));
        return 0;
}

static int add_pending_link(struct parser *p, cfs_node *n, char *target) {
        if (GROW_ARRAY(p->links, p->links_alloc, p->n_links + 1, 64) < 0)
                return -ENOMEM;
        p->links[p->n_links++] = (struct pending_link) { .node = n, .target = target, .line = p->line };
        return 0;
}

static int parse_line(struct parser *p, const char *line, size_t len) {
        const char *f[N_FIXED_FIELDS];
        size_t fl[N_FIXED_FIELDS];
        const char *s = line, *end = line + len;
        _cleanup_free_ char *path = NULL, *payload = NULL, *content = NULL, *digest = NULL;
        _cleanup_node_ cfs_node *n = NULL;
        size_t content_len = 0;
        uint64_t size = 0, mode = 0, nlink = 0, uid = 0, gid = 0, rdev = 0;
        int64_t mtime_sec = 0;
        uint32_t mtime_nsec = 0;
        bool hardlink;
        int r;

        if (len == 0)
                return parse_error(p, -EINVAL, "empty line");
        if (memchr(line, '\0', len))
                return parse_error(p, -EINVAL, "NUL byte in line (escape it as \\x00)");

        int n_fields = 0;
        for (int i = 0; i < N_FIXED_FIELDS; i++) {
                const char *sp = memchr(s, ' ', end - s);
                f[i] = s;
                fl[i] = (sp ? sp : end) - s;
                n_fields = i + 1;
                if (!sp) {
                        s = end;
                        break;
                }
                s = sp + 1;
        }
        /* Upstream reads missing fields as empty; we allow only CONTENT and DIGEST to be
         * missing, as unset, and only on lines that are not regular files (checked below). */
        if (n_fields < F_CONTENT)
                return parse_error(p, -EINVAL, "expected %d fields, found %d", N_FIXED_FIELDS, n_fields);
        for (int i = n_fields; i < N_FIXED_FIELDS; i++) {
                f[i] = "-";
                fl[i] = 1;
        }

        size_t path_len;
        r = unescape(p, "PATH", f[F_PATH], fl[F_PATH], &path, &path_len);
        if (r < 0)
                return r;
        if (memchr(path, '\0', path_len))
                return parse_error(p, -EINVAL, "PATH contains a NUL byte");

        hardlink = fl[F_MODE] > 0 && f[F_MODE][0] == '@';
        r = parse_u64(p, "MODE", f[F_MODE] + hardlink, fl[F_MODE] - hardlink, 8, UINT32_MAX, &mode);
        if (r < 0)
                return r;
        /* Upstream takes the type from bits 12-15 and stores the low 16 bits; higher bits
         * are dropped there too, so accept and drop them (a fuzzer-made vector has them). */
        mode &= 0177777;
        if (!mode_type_valid(mode))
                return parse_error(p, -EINVAL, "MODE %o has no valid file type", (unsigned) mode);
        if (hardlink && S_ISDIR(mode))
                return parse_error(p, -EINVAL, "directories cannot be hard links");

        n = cfs_node_new(mode);
        if (!n)
                return -ENOMEM;

        if (!hardlink) {
                if ((r = parse_u64(p, "SIZE", f[F_SIZE], fl[F_SIZE], 10, UINT64_MAX, &size)) < 0 ||
                    (r = parse_u64(p, "NLINK", f[F_NLINK], fl[F_NLINK], 10, UINT32_MAX, &nlink)) < 0 ||
                    (r = parse_u64(p, "UID", f[F_UID], fl[F_UID], 10, UINT32_MAX, &uid)) < 0 ||
                    (r = parse_u64(p, "GID", f[F_GID], fl[F_GID], 10, UINT32_MAX, &gid)) < 0 ||
                    (r = parse_u64(p, "RDEV", f[F_RDEV], fl[F_RDEV], 10, UINT32_MAX, &rdev)) < 0 ||
                    (r = parse_mtime(p, f[F_MTIME], fl[F_MTIME], &mtime_sec, &mtime_nsec)) < 0)
                        return r;
                n->size = size;
                n->nlink = (uint32_t) nlink;
                n->uid = (uint32_t) uid;
                n->gid = (uint32_t) gid;
                n->rdev = (S_ISCHR(mode) || S_ISBLK(mode)) ? rdev : 0;
                n->mtime_sec = mtime_sec;
                n->mtime_nsec = mtime_nsec;
        }

        r = unescape_opt(p, "PAYLOAD", f[F_PAYLOAD], fl[F_PAYLOAD], &payload, NULL);
        if (r < 0)
                return r;
        if (payload && strlen(payload) > CFS_PAYLOAD_MAX)
                return parse_error(p, -ENAMETOOLONG, "PAYLOAD is longer than %d bytes", CFS_PAYLOAD_MAX);

        if (!hardlink) {
                r = unescape_opt(p, "CONTENT", f[F_CONTENT], fl[F_CONTENT], &content, &content_len);
                if (r < 0)
                        return r;
                r = unescape_opt(p, "DIGEST", f[F_DIGEST], fl[F_DIGEST], &digest, NULL);
                if (r < 0)
                        return r;
                if ((content || digest) && !S_ISREG(mode))
                        return parse_error(p, -EINVAL, "CONTENT and DIGEST are only for regular files");
                if (S_ISREG(mode) && n_fields < N_FIXED_FIELDS)
                        return parse_error(p, -EINVAL, "expected %d fields, found %d", N_FIXED_FIELDS, n_fields);

                if (S_ISLNK(mode)) {
                        if (!payload || !*payload)
                                return parse_error(p, -EINVAL, "symlink without a target");
                        n->size = strlen(payload);
                } else if (S_ISREG(mode)) {
                        if (content) {
                                if (content_len != size)
                                        return parse_error(p, -EINVAL, "CONTENT has %zu bytes but SIZE is %" PRIu64,
                                                           content_len, size);
                                if (content_len > CFS_INLINE_CONTENT_MAX)
                                        return parse_error(p, -EFBIG, "inline content size %zu exceeds maximum %d",
                                                           content_len, CFS_INLINE_CONTENT_MAX);
                                r = cfs_node_set_content(n, content, content_len);
                                if (r < 0)
                                        return r;
                        } else if (size > EXTERNAL_SIZE_MAX)
                                return parse_error(p, -EFBIG, "SIZE %" PRIu64 " is too large (max %" PRIu64 ")",
                                                   size, EXTERNAL_SIZE_MAX);
                        if (digest) {
                                uint8_t raw[CFS_DIGEST_SIZE];
                                if (strlen(digest) != 2 * CFS_DIGEST_SIZE ||
                                    hex_decode(digest, strlen(digest), raw, sizeof(raw)) < 0)
                                        return parse_error(p, -EINVAL, "DIGEST must be %d hex digits", 2 * CFS_DIGEST_SIZE);
                                cfs_node_set_digest(n, raw);
                        }
                }
                if (payload && !hardlink) {
                        r = cfs_node_set_payload(n, payload);
                        if (r < 0)
                                return r;
                }

                /* Xattrs: space separated; one trailing space is tolerated like upstream. */
                if (end - s > XATTR_PART_MAX)
                        return parse_error(p, -E2BIG, "too many xattrs (more than %d bytes)", XATTR_PART_MAX);
                size_t budget = 0;
                while (s < end) {
                        const char *sp = memchr(s, ' ', end - s);
                        const char *xe = sp ? sp : end;
                        r = parse_xattr(p, n, s, xe - s, &budget);
                        if (r < 0)
                                return r;
                        s = sp ? sp + 1 : end;
                }
        } else if (!payload)
                return parse_error(p, -EINVAL, "hard link without a target path in PAYLOAD");

        /* Place the node. */
        if (streq(path, "/")) {
                if (!S_ISDIR(mode) || hardlink)
                        return parse_error(p, -EINVAL, "the root must be a directory");
                if (p->root)
                        return parse_error(p, -EEXIST, "a second root directory");
                p->root = TAKE_PTR(n);
                return 0;
        }
        if (!p->root)
                return parse_error(p, -EINVAL, "the root directory '/' must be the first line");

        cfs_node *parent;
        const char *name;
        size_t name_len;
        r = resolve_path(p, path, true, &parent, &name, &name_len);
        if (r < 0)
                return r;
        if (parent->link_to || !S_ISDIR(parent->mode))
                return parse_error(p, -ENOTDIR, "parent of '%s' is not a directory", path);
        if (index_lookup(&p->idx, parent, name, name_len))
                return parse_error(p, -EEXIST, "path '%s' already exists", path);
        r = cfs_node_add_child(parent, n, name, false);
        if (r < 0)
                return parse_error(p, r, "cannot add '%s': %s", path, strerror(-r));
        cfs_node *added = TAKE_PTR(n);
        r = index_add(&p->idx, added);
        if (r < 0)
                return r;
        if (hardlink) {
                r = add_pending_link(p, added, payload);
                if (r < 0)
                        return r;
                payload = NULL;
        }
        return 0;
}

struct link_ref {
        const cfs_node *node;
        size_t i;
};

static int cmp_link_ref(const void *a, const void *b) {
        const struct link_ref *x = a, *y = b;
        return x->node < y->node ? -1 : x->node > y->node;
}

static int resolve_links(struct parser *p) {
        /* A link may name another link, in any line order: follow each chain to the inode it
         * ends at, without recursion (chains in untrusted input can be long). */
        enum { TODO, WALKING, DONE };
        _cleanup_free_ struct link_ref *refs = NULL;
        _cleanup_free_ cfs_node **tgt = NULL;
        _cleanup_free_ uint8_t *state = NULL;
        _cleanup_free_ size_t *chain = NULL;
        size_t n = p->n_links;
        int r;

        if (n == 0)
                return 0;
        refs = calloc(n, sizeof(*refs));
        tgt = calloc(n, sizeof(*tgt));
        state = calloc(n, sizeof(*state));
        chain = calloc(n, sizeof(*chain));
        if (!refs || !tgt || !state || !chain)
                return -ENOMEM;

        for (size_t i = 0; i < n; i++) {
                struct pending_link *l = &p->links[i];
                p->line = l->line;
                r = resolve_path(p, l->target, false, &tgt[i], NULL, NULL);
                if (r < 0)
                        return r;
                if (tgt[i] == l->node)
                        return parse_error(p, -ELOOP, "self-referential hard link '%s'", l->target);
                refs[i] = (struct link_ref) { .node = l->node, .i = i };
        }
        qsort(refs, n, sizeof(*refs), cmp_link_ref);

        for (size_t i = 0; i < n; i++) {
                size_t len = 0, cur = i;
                cfs_node *final;

                if (state[i] == DONE)
                        continue;
                for (;;) {
                        state[cur] = WALKING;
                        chain[len++] = cur;
                        struct link_ref key = { .node = tgt[cur] }, *hit;
                        hit = bsearch(&key, refs, n, sizeof(*refs), cmp_link_ref);
                        if (!hit) {
                                final = tgt[cur];
                                break;
                        }
                        if (state[hit->i] == DONE) {
                                final = p->links[hit->i].node->link_to;
                                break;
                        }
                        if (state[hit->i] == WALKING) {
                                p->line = p->links[i].line;
                                return parse_error(p, -ELOOP, "hard links form a cycle through '%s'", p->links[i].target);
                        }
                        cur = hit->i;
                }
                /* resolve_path() set every tgt[] entry; a DONE link has its target set. */
                CHECK(final);
                for (size_t k = 0; k < len; k++) {
                        struct pending_link *l = &p->links[chain[k]];
                        p->line = l->line;
                        if (S_ISDIR(final->mode))
                                return parse_error(p, -EPERM, "hard link to directory '%s'", l->target);
                        r = cfs_node_make_hardlink(l->node, final);
                        if (r < 0)
                                return parse_error(p, r, "invalid hard link to '%s': %s", l->target, strerror(-r));
                        state[chain[k]] = DONE;
                }
        }
        return 0;
}

static void parser_done(struct parser *p) {
        for (size_t i = 0; i < p->n_links; i++)
                free(p->links[i].target);
        free(p->links);
        free(p->idx.slots);
        cfs_node_free(p->root);
}

static int parser_finish(struct parser *p, cfs_node **ret_root) {
        int r;

        p->line = 0;
        if (!p->root)
                return parse_error(p, -EINVAL, "no root directory '/' in the dump");
        r = resolve_links(p);
        if (r < 0)
                return r;
        *ret_root = TAKE_PTR(p->root);
        return 0;
}

static int parse_buffer_lines(struct parser *p, const char *data, size_t size) {
        const char *s = data, *end = data + size;
        int r;

        while (s < end) {
                const char *nl = memchr(s, '\n', end - s);
                const char *le = nl ? nl : end;
                p->line++;
                r = parse_line(p, s, le - s);
                if (r < 0)
                        return r;
                s = nl ? nl + 1 : end;
        }
        return 0;
}

/* Both entry points end here: finish the tree on success, make sure an error has a message. */
static int parse_end(struct parser *p, int r, cfs_node **ret_root) {
        if (r >= 0)
                r = parser_finish(p, ret_root);
        if (r < 0 && p->err && !p->err->msg[0])
                parse_error(p, r, "%s", strerror(-r));
        parser_done(p);
        return r < 0 ? r : 0;
}

int cfs_dump_parse_buffer(const char *data, size_t size, cfs_node **ret_root, struct cfs_parse_error *err) {
        struct parser p = { .err = err };
        int r;

        if (err)
                *err = (struct cfs_parse_error) {};
        r = parse_buffer_lines(&p, data, size);
        return parse_end(&p, r, ret_root);
}

int cfs_dump_parse(FILE *f, cfs_node **ret_root, struct cfs_parse_error *err) {
        struct parser p = { .err = err };
        _cleanup_free_ char *buf = NULL;
        size_t alloc = 0;
        ssize_t n;
        int r = 0;

        if (err)
                *err = (struct cfs_parse_error) {};
        while ((n = getline(&buf, &alloc, f)) > 0) {
                size_t len = (size_t) n;
                if (buf[len - 1] == '\n')
                        len--;
                p.line++;
                r = parse_line(&p, buf, len);
                if (r < 0)
                        break;
        }
        if (r >= 0 && ferror(f)) {
                p.line = 0;
                r = parse_error(&p, -EIO, "read error");
        }
        return parse_end(&p, r, ret_root);
}

/* ---- Printer ---- */

/* Escaping as upstream's dump writer does: everything but printable non-space ASCII is
 * escaped; '=' too inside xattrs; a field that is exactly "-" becomes "\x2d". */
enum {
        ESC_EQUAL = 1 << 0,
        ESC_LONE_DASH = 1 << 1,
};

static void print_escaped(FILE *f, const void *data, size_t len, int flags) {
        const uint8_t *s = data;

        if ((flags & ESC_LONE_DASH) && len == 1 && s[0] == '-') {
                fputs("\\x2d", f);
                return;
        }
        for (size_t i = 0; i < len; i++) {
                uint8_t c = s[i];
                switch (c) {
                case '\\': fputs("\\\\", f); continue;
                case '\n': fputs("\\n", f); continue;
                case '\r': fputs("\\r", f); continue;
                case '\t': fputs("\\t", f); continue;
                }
                bool graph = c > 0x20 && c < 0x7f;
                if (!graph || (c == '=' && (flags & ESC_EQUAL)))
                        fprintf(f, "\\x%02x", c);
                else
                        fputc(c, f);
        }
}

static int print_node(cfs_node *e, void *userdata) {
        FILE *f = userdata;
        cfs_node *n = cfs_node_inode(e);
        _cleanup_free_ char *path = cfs_node_path(e), *target = NULL;

        if (!path)
                return -ENOMEM;
        if (e->link_to) {
                target = cfs_node_path(e->link_to);
                if (!target)
                        return -ENOMEM;
        }

        print_escaped(f, path, strlen(path), 0);
        fprintf(f, " %" PRIu64 " %s%o %" PRIu32 " %" PRIu32 " %" PRIu32 " %" PRIu64 " %" PRIi64 ".%" PRIu32 " ",
                n->size, target ? "@" : "", n->mode, n->nlink, n->uid, n->gid, n->rdev, n->mtime_sec, n->mtime_nsec);
        const char *payload = target ? target : n->payload;
        if (payload)
                print_escaped(f, payload, strlen(payload), ESC_LONE_DASH);
        else
                fputc('-', f);
        fputc(' ', f);
        if (n->content && S_ISREG(n->mode))
                print_escaped(f, n->content, n->size, ESC_LONE_DASH);
        else
                fputc('-', f);
        if (n->has_digest) {
                char hex[2 * CFS_DIGEST_SIZE + 1];
                hex_encode(n->digest, CFS_DIGEST_SIZE, hex);
                fprintf(f, " %s", hex);
        } else
                fputs(" -", f);
        for (size_t i = 0; i < n->n_xattrs; i++) {
                fputc(' ', f);
                print_escaped(f, n->xattrs[i].key, strlen(n->xattrs[i].key), ESC_EQUAL);
                fputc('=', f);
                print_escaped(f, n->xattrs[i].value, n->xattrs[i].value_len, ESC_EQUAL);
        }
        fputc('\n', f);
        return 0;
}

int cfs_dump_write(FILE *f, cfs_node *root) {
        int r;

        if (!root)
                return -EINVAL;
        r = cfs_node_sort_children(root);
        if (r < 0)
                return r;
        r = cfs_node_walk(root, print_node, f);
        if (r < 0)
                return r;
        if (fflush(f) != 0 || ferror(f))
                return -EIO;
        return 0;
}
