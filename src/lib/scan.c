/* SPDX-License-Identifier: MIT */
/* Directory scanner: turns a source directory into a sorted cfs_node tree (see scan.h).
 *
 * Work is split by directory: a pool of threads takes directories off a shared stack; the
 * thread that owns a directory lists it, lstat's (statx) each entry, reads xattrs, and for
 * regular files reads the content right away (inline it, or compute the fs-verity digest),
 * so each file is opened exactly once. Only that thread touches the directory's node, so
 * the tree needs no locking. Children are sorted at the end and hard links are resolved
 * in sorted order, so nothing depends on listing order or on which thread did what.
 *
 * Mount points: by default the scan descends into other filesystems (like cp -a or upstream
 * mkcomposefs); with one_file_system a directory on another filesystem is recorded with
 * its own metadata and xattrs but without entries, as tar --one-file-system would. Hard
 * links are keyed on (st_dev, st_ino), so crossing filesystems never merges inodes.
 *
 * Files larger than CFS_VERITY_SMALL_MAX are read around their holes (SEEK_DATA/
 * SEEK_HOLE) and hashed with cfs_verity_update_zeros() for the holes, so a
 * 10 GiB sparse file costs microseconds and never fills the page cache with zeros.
 * A file whose size differs from what statx said when it is read is an error (-ESTALE):
 * the image must describe one consistent content per file.
 *
 * Paths inside the source must stay below PATH_MAX: directories are opened by their path
 * relative to the source root. */
#include <endian.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "log.h"
#include "scan.h"
#include "uapi/fsverity.h"
#include "util.h"

#define STATX_WANT (STATX_TYPE | STATX_MODE | STATX_NLINK | STATX_UID | STATX_GID | STATX_MTIME | STATX_INO | STATX_SIZE)
#define XATTR_LIST_MAX_BYTES 65536
#define XATTR_VALUE_MAX_BYTES 65536
#define STREAM_CHUNK (256 * 1024)

struct dir_task {
        cfs_node *dir;
        char *relpath; /* relative to the root, "" for the root */
        uint64_t dev, ino;
        bool descend;
};

struct link_cand {
        cfs_node *node;
        uint64_t dev, ino;
};

struct scan_ctx {
        const char *root_path;
        int root_fd;
        uint64_t root_dev;
        const struct cfs_scan_options *opts;

        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct dir_task *tasks; /* a stack: depth-first keeps the working set small */
        size_t n_tasks, tasks_alloc;
        unsigned busy;
        int error; /* first error; once set, everyone stops */

        struct link_cand *links;
        size_t n_links, links_alloc;
};

/* Per-thread scratch, allocated once per worker instead of once per file. */
struct worker {
        struct scan_ctx *ctx;
        uint8_t *buf; /* CFS_VERITY_SMALL_MAX + 1 bytes */
        char *xlist;  /* XATTR_LIST_MAX_BYTES */
        uint8_t *xval; /* XATTR_VALUE_MAX_BYTES */
        struct link_cand *links;
        size_t n_links, links_alloc;
        bool no_noatime; /* O_NOATIME was refused once: do not try again */
};

void cfs_object_path(const uint8_t digest[CFS_DIGEST_SIZE], char out[CFS_OBJECT_PATH_SIZE]) {
        char hex[CFS_DIGEST_SIZE * 2 + 1];
        hex_encode(digest, CFS_DIGEST_SIZE, hex);
        out[0] = hex[0];
        out[1] = hex[1];
        out[2] = '/';
        memcpy(out + 3, hex + 2, CFS_DIGEST_SIZE * 2 - 2 + 1);
}

/* Records the first error (logging it once) and tells every worker to stop. */
_printf_(3, 4) static int scan_fail(struct scan_ctx *ctx, int r, const char *fmt, ...) {
        va_list ap;
        pthread_mutex_lock(&ctx->lock);
        if (ctx->error == 0) {
                va_start(ap, fmt);
                ctx->error = log_internalv(LOG_LEVEL_ERR, r, fmt, ap);
                va_end(ap);
                pthread_cond_broadcast(&ctx->cond);
        }
        pthread_mutex_unlock(&ctx->lock);
        return r < 0 ? r : -r;
}

static int join_path(char *out, size_t size, const char *a, const char *b) {
        int n = *a ? snprintf(out, size, "%s/%s", a, b) : snprintf(out, size, "%s", b);
        if (n < 0 || (size_t) n >= size)
                return -ENAMETOOLONG;
        return 0;
}

/* fd >= 0: read via the fd; otherwise via the path (l*xattr, never following a symlink).
 * The kernel allocates a buffer as large as the one passed in, so ask for the size first
 * (most files have no xattrs: one cheap call) and pass small buffers. */
static ssize_t list_xattrs(int fd, const char *path, char *buf, size_t size) {
        ssize_t len = fd >= 0 ? flistxattr(fd, buf, size) : llistxattr(path, buf, size);
        return len < 0 ? -errno : len;
}

static ssize_t get_xattr(int fd, const char *path, const char *key, void *buf, size_t size) {
        ssize_t len = fd >= 0 ? fgetxattr(fd, key, buf, size) : lgetxattr(path, key, buf, size);
        return len < 0 ? -errno : len;
}

static int read_xattrs(struct worker *w, cfs_node *n, int fd, const char *path, const char *relpath) {
        ssize_t len = list_xattrs(fd, path, NULL, 0);
        if (len > 0)
                len = list_xattrs(fd, path, w->xlist, MIN((size_t) len + 256, (size_t) XATTR_LIST_MAX_BYTES));
        if (len == -ERANGE) /* grew meanwhile */
                len = list_xattrs(fd, path, w->xlist, XATTR_LIST_MAX_BYTES);
        if (len == -ENOTSUP)
                return 0; /* the filesystem has no xattrs at all */
        if (len < 0)
                return scan_fail(w->ctx, (int) len, "Failed to list xattrs of '%s': %m", relpath);

        for (const char *key = w->xlist; key < w->xlist + len; key += strlen(key) + 1) {
                ssize_t vlen = get_xattr(fd, path, key, w->xval, 4096);
                if (vlen == -ERANGE)
                        vlen = get_xattr(fd, path, key, w->xval, XATTR_VALUE_MAX_BYTES);
                if (vlen < 0)
                        return scan_fail(w->ctx, (int) vlen, "Failed to read xattr '%s' of '%s': %m", key, relpath);
                int r = cfs_node_set_xattr(n, key, w->xval, (size_t) vlen);
                if (r < 0)
                        return scan_fail(w->ctx, r, "Cannot record xattr '%s' of '%s': %m", key, relpath);
        }
        return 0;
}

static int read_regular(struct worker *w, cfs_node *n, int dfd, const char *name, const char *relpath) {
        _cleanup_close_ int fd = -EBADF;
        uint64_t size = n->size;
        int r;

        /* O_NONBLOCK: if the entry turned into a FIFO since statx, do not hang on it.
         * O_NOATIME: reading a tree to image it should not dirty every inode; only the
         * owner (or root) may ask for it, so fall back for the rest. */
        int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK;
        fd = w->no_noatime ? -1 : openat(dfd, name, flags | O_NOATIME);
        if (fd < 0 && (w->no_noatime || errno == EPERM)) {
                w->no_noatime = true;
                fd = openat(dfd, name, flags);
        }
        if (fd < 0)
                return scan_fail(w->ctx, -errno, "Failed to open '%s': %m", relpath);

        r = read_xattrs(w, n, fd, NULL, relpath);
        if (r < 0)
                return r;
        if (size == 0)
                return 0;

        if (size <= CFS_VERITY_SMALL_MAX) {
                /* One byte more than expected, to notice a file that grew. A local
                 * filesystem returns everything up to EOF in one read(); only a short
                 * read needs a second call (which then also confirms EOF). */
                ssize_t k = read(fd, w->buf, (size_t) size + 1);
                if (k < 0)
                        return scan_fail(w->ctx, -errno, "Failed to read '%s': %m", relpath);
                if ((uint64_t) k < size) {
                        ssize_t more = loop_read(fd, w->buf + k, (size_t) (size + 1 - (uint64_t) k));
                        if (more < 0)
                                return scan_fail(w->ctx, (int) more, "Failed to read '%s': %m", relpath);
                        k += more;
                }
                if ((uint64_t) k != size)
                        return scan_fail(w->ctx, -ESTALE, "'%s' changed size while being read (%" PRIu64 " bytes, now %zd), retry on a quiet tree",
                                         relpath, size, k);
                if (size <= CFS_SCAN_INLINE_MAX) {
                        r = cfs_node_set_content(n, w->buf, (size_t) size);
                        if (r < 0)
                                return scan_fail(w->ctx, r, "Failed to record the content of '%s': %m", relpath);
                        return 0;
                }
                cfs_verity_digest_small(w->buf, (size_t) size, n->digest);
        } else {
                cfs_verity_ctx *m = cfs_verity_new();
                if (!m)
                        return scan_fail(w->ctx, -ENOMEM, "Out of memory hashing '%s'", relpath);
                r = cfs_read_sparse(fd, size, w->buf, STREAM_CHUNK, cfs_verity_update_chunk, m);
                cfs_verity_final(m, n->digest);
                cfs_verity_free(m);
                if (r == -ESTALE)
                        return scan_fail(w->ctx, r, "'%s' changed size while being read (%" PRIu64 " bytes expected), retry on a quiet tree",
                                         relpath, size);
                if (r < 0)
                        return scan_fail(w->ctx, r, "Failed to read '%s': %m", relpath);
        }

        n->has_digest = true;
        char obj[CFS_OBJECT_PATH_SIZE];
        cfs_object_path(n->digest, obj);
        r = cfs_node_set_payload(n, obj);
        if (r < 0)
                return scan_fail(w->ctx, r, "Failed to record '%s': %m", relpath);
        n->src_path = strdup(relpath);
        if (!n->src_path)
                return scan_fail(w->ctx, -ENOMEM, "Out of memory recording '%s'", relpath);
        return 0;
}

static int push_task(struct scan_ctx *ctx, const struct dir_task *t) {
        pthread_mutex_lock(&ctx->lock);
        if (GROW_ARRAY(ctx->tasks, ctx->tasks_alloc, ctx->n_tasks + 1, 64) < 0) {
                pthread_mutex_unlock(&ctx->lock);
                return -ENOMEM;
        }
        ctx->tasks[ctx->n_tasks++] = *t;
        pthread_cond_signal(&ctx->cond);
        pthread_mutex_unlock(&ctx->lock);
        return 0;
}

static int add_link_cand(struct worker *w, cfs_node *n, uint64_t dev, uint64_t ino) {
        if (GROW_ARRAY(w->links, w->links_alloc, w->n_links + 1, 16) < 0)
                return -ENOMEM;
        w->links[w->n_links++] = (struct link_cand) { .node = n, .dev = dev, .ino = ino };
        return 0;
}

/* One directory entry: stat it, make its node, fill it in. */
static int scan_entry(struct worker *w, const struct dir_task *t, int dfd, const char *name, const char *dirpath) {
        struct scan_ctx *ctx = w->ctx;
        char relpath[PATH_MAX];
        struct statx stx;
        int r;

        r = join_path(relpath, sizeof relpath, t->relpath, name);
        if (r < 0)
                return scan_fail(ctx, r, "Path of '%s' in '%s' is too long", name, *t->relpath ? t->relpath : ".");

        if (statx(dfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_WANT, &stx) < 0)
                return scan_fail(ctx, -errno, "Failed to stat '%s': %m", relpath);

        cfs_node *n = cfs_node_new(stx.stx_mode);
        if (!n)
                return scan_fail(ctx, -ENOMEM, "Out of memory");
        n->uid = stx.stx_uid;
        n->gid = stx.stx_gid;
        n->nlink = stx.stx_nlink;
        n->mtime_sec = stx.stx_mtime.tv_sec;
        n->mtime_nsec = stx.stx_mtime.tv_nsec;

        r = cfs_node_add_child(t->dir, n, name, false);
        if (r < 0) {
                cfs_node_free(n);
                if (r == -ENAMETOOLONG)
                        return scan_fail(ctx, r, "Name of '%s' is longer than %d bytes", relpath, CFS_NAME_MAX);
                return scan_fail(ctx, r, "Cannot add '%s': %m", relpath);
        }

        uint64_t dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);
        char path[PATH_MAX];

        switch (stx.stx_mode & S_IFMT) {
        case S_IFDIR: {
                struct dir_task sub = {
                        .dir = n,
                        .dev = dev,
                        .ino = stx.stx_ino,
                        .descend = !ctx->opts->one_file_system || dev == ctx->root_dev,
                };
                sub.relpath = strdup(relpath);
                if (!sub.relpath || push_task(ctx, &sub) < 0) {
                        free(sub.relpath);
                        return scan_fail(ctx, -ENOMEM, "Out of memory");
                }
                return 0;
        }

        case S_IFREG:
                n->size = stx.stx_size;
                r = read_regular(w, n, dfd, name, relpath);
                break;

        case S_IFLNK: {
                char target[PATH_MAX + 1];
                ssize_t k = readlinkat(dfd, name, target, sizeof target);
                if (k < 0)
                        return scan_fail(ctx, -errno, "Failed to read symlink '%s': %m", relpath);
                if ((uint64_t) k != stx.stx_size || k > PATH_MAX - 1)
                        return scan_fail(ctx, -ESTALE, "Symlink '%s' changed while being read, retry on a quiet tree", relpath);
                target[k] = '\0';
                n->size = (uint64_t) k;
                r = cfs_node_set_payload(n, target);
                if (r < 0)
                        return scan_fail(ctx, r, "Cannot record the target of '%s': %m", relpath);
                goto by_path;
        }

        case S_IFCHR:
        case S_IFBLK:
                n->rdev = makedev(stx.stx_rdev_major, stx.stx_rdev_minor);
                goto by_path;

        case S_IFIFO:
        case S_IFSOCK:
        by_path:
                /* Special files cannot be opened without side effects: use their path. */
                r = join_path(path, sizeof path, dirpath, name);
                if (r < 0)
                        return scan_fail(ctx, r, "Path of '%s' is too long", relpath);
                r = read_xattrs(w, n, -EBADF, path, relpath);
                break;

        default:
                return scan_fail(ctx, -EBADMSG, "'%s' has an unknown file type (mode %o)", relpath, stx.stx_mode);
        }
        if (r < 0)
                return r;

        if (stx.stx_nlink > 1 && add_link_cand(w, n, dev, stx.stx_ino) < 0)
                return scan_fail(ctx, -ENOMEM, "Out of memory");
        return 0;
}

static int scan_dir(struct worker *w, const struct dir_task *t) {
        struct scan_ctx *ctx = w->ctx;
        const char *shown = *t->relpath ? t->relpath : ".";
        _cleanup_closedir_ DIR *d = NULL;
        char dirpath[PATH_MAX];
        struct stat st;
        int fd, r;

        fd = openat(ctx->root_fd, *t->relpath ? t->relpath : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return scan_fail(ctx, -errno, "Failed to open directory '%s': %m", shown);
        d = fdopendir(fd);
        if (!d) {
                r = -errno;
                safe_close(fd);
                return scan_fail(ctx, r, "Failed to open directory '%s': %m", shown);
        }
        /* The directory we list must be the one whose metadata the parent recorded. */
        if (fstat(fd, &st) < 0)
                return scan_fail(ctx, -errno, "Failed to stat directory '%s': %m", shown);
        if (st.st_ino != t->ino || st.st_dev != t->dev)
                return scan_fail(ctx, -ESTALE, "Directory '%s' was replaced while scanning, retry on a quiet tree", shown);

        r = read_xattrs(w, t->dir, fd, NULL, shown);
        if (r < 0 || !t->descend)
                return r;

        r = join_path(dirpath, sizeof dirpath, ctx->root_path, t->relpath);
        if (r < 0)
                return scan_fail(ctx, r, "Path of '%s' is too long", shown);

        for (;;) {
                errno = 0;
                struct dirent *de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                return scan_fail(ctx, -errno, "Failed to list '%s': %m", shown);
                        return 0;
                }
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                r = scan_entry(w, t, fd, de->d_name, dirpath);
                if (r < 0)
                        return r;
                if (__atomic_load_n(&ctx->error, __ATOMIC_RELAXED) != 0)
                        return ctx->error;
        }
}

static void *worker_main(void *arg) {
        struct worker *w = arg;
        struct scan_ctx *ctx = w->ctx;

        pthread_mutex_lock(&ctx->lock);
        for (;;) {
                while (ctx->error == 0 && ctx->n_tasks == 0 && ctx->busy > 0)
                        pthread_cond_wait(&ctx->cond, &ctx->lock);
                if (ctx->error != 0 || ctx->n_tasks == 0)
                        break;
                struct dir_task t = ctx->tasks[--ctx->n_tasks];
                ctx->busy++;
                pthread_mutex_unlock(&ctx->lock);

                scan_dir(w, &t); /* errors are recorded in ctx */
                free(t.relpath);

                pthread_mutex_lock(&ctx->lock);
                ctx->busy--;
                if (ctx->busy == 0 && ctx->n_tasks == 0)
                        pthread_cond_broadcast(&ctx->cond);
        }
        pthread_cond_broadcast(&ctx->cond);
        pthread_mutex_unlock(&ctx->lock);
        return NULL;
}

static int link_cand_cmp(const void *a, const void *b) {
        const struct link_cand *x = a, *y = b;
        if (x->dev != y->dev)
                return x->dev < y->dev ? -1 : 1;
        if (x->ino != y->ino)
                return x->ino < y->ino ? -1 : 1;
        return 0;
}

static size_t node_depth(const cfs_node *n) {
        size_t d = 0;
        for (; n->parent; n = n->parent)
                d++;
        return d;
}

/* Position in a pre-order walk of the sorted tree. */
static int tree_order_cmp(const cfs_node *a, const cfs_node *b) {
        size_t da = node_depth(a), db = node_depth(b);
        const cfs_node *x = a, *y = b;

        for (; da > db; da--)
                x = x->parent;
        for (; db > da; db--)
                y = y->parent;
        if (x == y) /* one is an ancestor of the other: it comes first */
                return node_depth(a) < node_depth(b) ? -1 : node_depth(a) > node_depth(b);
        while (x->parent != y->parent) {
                x = x->parent;
                y = y->parent;
        }
        return strcmp(x->name, y->name);
}

/* Entries sharing (dev, ino) become hard links to the first of them in sorted order. */
static int resolve_hardlinks(struct scan_ctx *ctx) {
        if (ctx->n_links == 0)
                return 0;
        qsort(ctx->links, ctx->n_links, sizeof *ctx->links, link_cand_cmp);
        for (size_t i = 0, j; i < ctx->n_links; i = j) {
                size_t first = i;
                for (j = i + 1; j < ctx->n_links && link_cand_cmp(&ctx->links[i], &ctx->links[j]) == 0; j++)
                        if (tree_order_cmp(ctx->links[j].node, ctx->links[first].node) < 0)
                                first = j;
                for (size_t k = i; k < j; k++) {
                        if (k == first)
                                continue;
                        int r = cfs_node_make_hardlink(ctx->links[k].node, ctx->links[first].node);
                        if (r < 0) {
                                _cleanup_free_ char *p = cfs_node_path(ctx->links[k].node);
                                return log_error_errno(r, "Cannot record '%s' as a hard link: %m", p ?: "?");
                        }
                }
        }
        return 0;
}

static unsigned default_threads(void) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        return n < 1 ? 1 : n > 64 ? 64 : (unsigned) n;
}

int cfs_scan(const char *path, const struct cfs_scan_options *opts, cfs_node **ret_root) {
        static const struct cfs_scan_options defaults = {};
        struct scan_ctx ctx = {
                .root_path = path,
                .opts = opts ?: &defaults,
                .lock = PTHREAD_MUTEX_INITIALIZER,
                .cond = PTHREAD_COND_INITIALIZER,
        };
        _cleanup_close_ int root_fd = -EBADF;
        _cleanup_node_ cfs_node *root = NULL;
        struct statx stx;
        unsigned n_threads = ctx.opts->n_threads ?: default_threads();
        struct worker *workers = NULL;
        pthread_t *tids = NULL;
        unsigned started = 0;
        int r = 0;

        root_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return log_error_errno(-errno, "Failed to open source directory '%s': %m", path);
        if (statx(root_fd, "", AT_EMPTY_PATH, STATX_WANT, &stx) < 0)
                return log_error_errno(-errno, "Failed to stat '%s': %m", path);

        root = cfs_node_new(stx.stx_mode);
        if (!root)
                return log_error_errno(-ENOMEM, "Out of memory");
        root->uid = stx.stx_uid;
        root->gid = stx.stx_gid;
        root->nlink = stx.stx_nlink;
        root->mtime_sec = stx.stx_mtime.tv_sec;
        root->mtime_nsec = stx.stx_mtime.tv_nsec;
        ctx.root_fd = root_fd;
        ctx.root_dev = makedev(stx.stx_dev_major, stx.stx_dev_minor);

        struct dir_task t0 = { .dir = root, .relpath = strdup(""), .dev = ctx.root_dev, .ino = stx.stx_ino, .descend = true };
        workers = calloc(n_threads, sizeof *workers);
        tids = calloc(n_threads, sizeof *tids);
        if (!t0.relpath || !workers || !tids || push_task(&ctx, &t0) < 0) {
                free(t0.relpath);
                r = log_error_errno(-ENOMEM, "Out of memory");
                goto finish;
        }

        for (unsigned i = 0; i < n_threads; i++) {
                workers[i].ctx = &ctx;
                workers[i].buf = malloc(MAX(CFS_VERITY_SMALL_MAX + 1, (size_t) STREAM_CHUNK));
                workers[i].xlist = malloc(XATTR_LIST_MAX_BYTES);
                workers[i].xval = malloc(XATTR_VALUE_MAX_BYTES);
                if (!workers[i].buf || !workers[i].xlist || !workers[i].xval) {
                        r = log_error_errno(-ENOMEM, "Out of memory");
                        goto finish;
                }
        }
        /* The calling thread is worker 0. */
        for (unsigned i = 1; i < n_threads; i++) {
                r = -pthread_create(&tids[i], NULL, worker_main, &workers[i]);
                if (r < 0) {
                        scan_fail(&ctx, r, "Failed to start a scanning thread: %m");
                        break;
                }
                started = i;
        }
        worker_main(&workers[0]);
        for (unsigned i = 1; i <= started; i++)
                pthread_join(tids[i], NULL);

        r = ctx.error;
        if (r < 0)
                goto finish;

        r = cfs_node_sort_children(root);
        if (r < 0) {
                r = log_error_errno(r, "Failed to sort the entries of '%s': %m", path);
                goto finish;
        }

        for (unsigned i = 0; i < n_threads; i++) {
                struct worker *w = &workers[i];
                if (w->n_links == 0)
                        continue;
                struct link_cand *nl = realloc(ctx.links, (ctx.n_links + w->n_links) * sizeof *nl);
                if (!nl) {
                        r = log_error_errno(-ENOMEM, "Out of memory");
                        goto finish;
                }
                ctx.links = nl;
                memcpy(ctx.links + ctx.n_links, w->links, w->n_links * sizeof *nl);
                ctx.n_links += w->n_links;
        }
        r = resolve_hardlinks(&ctx);
        if (r < 0)
                goto finish;

        *ret_root = TAKE_PTR(root);
        r = 0;

finish:
        /* Tasks left after an error own their relpath; their nodes belong to the tree. */
        for (size_t i = 0; i < ctx.n_tasks; i++)
                free(ctx.tasks[i].relpath);
        free(ctx.tasks);
        free(ctx.links);
        if (workers)
                for (unsigned i = 0; i < n_threads; i++) {
                        free(workers[i].buf);
                        free(workers[i].xlist);
                        free(workers[i].xval);
                        free(workers[i].links);
                }
        free(workers);
        free(tids);
        return r;
}
