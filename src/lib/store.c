/* SPDX-License-Identifier: MIT */
/* Filling the content-addressed object store (see store.h).
 *
 * Crash safety and durability, without one fsync per object:
 *  1. Every missing object is written to a temporary name "xx/.tmp-<rest of digest>-<pid>"
 *     next to its final name "xx/<rest of digest>" (O_EXCL, so never someone else's file).
 *     While copying, the data is hashed and compared with the digest recorded at scan time,
 *     so an object's content always matches its name even if the source changed meanwhile.
 *  2. syncfs() on the store: all temporary files' data and inodes, and the xx/ directories
 *     created for them, are on disk.
 *  3. Each temporary file is renamed to its final name with RENAME_NOREPLACE: an object that
 *     appeared meanwhile (another mkcfs sharing the store) is kept and our copy dropped, so
 *     an object under its final name is never rewritten.
 *  4. syncfs() again: the renames are on disk. Only now does mkcfs report success (and only
 *     after this does it install the image that refers to these objects).
 * A crash before 2 completes leaves only temporary names; a crash between 2 and 4 leaves
 * some final names, each pointing to data that step 2 already made durable, because a
 * rename is not journalled before the syncfs that precedes it. So at any point a final name
 * is either absent or holds the complete, verified object. Leftover ".tmp-*" files from a
 * crash are garbage that any later cleanup may delete; overlayfs only ever looks up final
 * names. Temporary files sit in the same xx/ directory as their final name because renames
 * within one directory do not take the filesystem-wide cross-directory rename lock.
 *
 * A store that does not exist yet is built the same way one level up: objects are written
 * under their final names inside a private directory "STORE.tmp-PID", syncfs(), then that
 * directory is renamed to STORE (RENAME_NOREPLACE), syncfs() again. Before that rename the
 * store does not exist, after it every object in it is complete and on disk. This saves
 * the temporary name and the rename per object, the dominant costs for a first build. If
 * STORE appeared meanwhile, the objects are moved in one by one as above.
 *
 * Objects already in the store are not trusted by their name alone (anyone who can write the
 * store, or a failing disk, may have changed them). Before one is reused, the checks that
 * cost nothing pass: a regular file (checked on the opened fd); with fs-verity, the digest
 * the kernel measures (one ioctl) equals its name; without, its size matches. With
 * --enable-verity, enabling verity on an existing object makes the kernel hash it, so its
 * measured digest is checked too. verify_store re-hashes every reused object in user space.
 * A bad object is replaced the way new objects are written: a verified temporary file,
 * synced, then renamed over the bad one (RENAME_EXCHANGE for a directory, which rename()
 * cannot replace), so the name never goes missing or half-written. Two builds repairing the
 * same object each rename their own complete copy: whichever lands last, the name holds a
 * verified object.
 *
 * Copying: a reflink (FICLONE) when the filesystem can share extents, then the clone is
 * read back and verified; otherwise read + hash + write in user space, skipping all-zero
 * blocks so sparse files stay sparse. copy_file_range() is not used because the data has to
 * pass through user space anyway to be verified against its digest. */
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "log.h"
#include "scan.h"
#include "store.h"
#include "util.h"
#include "verity.h"

#define COPY_CHUNK (256 * 1024)
#define TMP_NAME_SIZE (CFS_OBJECT_PATH_SIZE + 32)

struct object {
        uint8_t digest[CFS_DIGEST_SIZE];
        uint64_t size;
        const char *src_path;
        bool is_new;      /* not in the store when we looked */
        bool tmp_created; /* our temporary file exists and must be renamed or removed */
        const char *damage; /* set: the object under the final name is bad, ours replaces it */
        bool damage_is_dir; /* that bad object is a directory: exchanged, not renamed over */
};

struct store_ctx {
        const char *store_path;
        int store_fd, src_fd;
        /* Where new objects are written: store_fd, or for a store that did not exist yet a
         * private directory "STORE.tmp-PID" that becomes the store with one rename. */
        int work_fd;
        bool fresh;
        char *work_path;
        const struct cfs_store_options *opts;
        mode_t umask_bits;
        pid_t pid;

        struct object *objs;
        size_t n_objs, objs_alloc;
        /* The order the threads take objects in: sorted from the second digest byte on, so
         * threads working side by side are in different xx/ directories (creating a file
         * locks its directory) instead of queueing on the same one. */
        struct object **order;

        bool dir_fresh[256]; /* we created DIR/xx just now: nothing to look up in it */

        pthread_mutex_t lock;
        int error;
        size_t next; /* next item for the thread pool */
};

const char *cfs_fs_name(int fd, char buf[16]) {
        static const struct {
                unsigned long magic;
                const char *name;
        } names[] = {
                { EXT4_SUPER_MAGIC, "ext4" },   { XFS_SUPER_MAGIC, "xfs" },
                { BTRFS_SUPER_MAGIC, "btrfs" }, { F2FS_SUPER_MAGIC, "f2fs" },
                { TMPFS_MAGIC, "tmpfs" },       { OVERLAYFS_SUPER_MAGIC, "overlayfs" },
                { EROFS_SUPER_MAGIC_V1, "erofs" }, { NFS_SUPER_MAGIC, "nfs" },
                { 0x65735546 /* FUSE */, "fuse" }, { SQUASHFS_MAGIC, "squashfs" },
        };
        struct statfs sfs;

        if (fstatfs(fd, &sfs) < 0)
                return "unknown filesystem";
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if ((unsigned long) sfs.f_type == names[i].magic)
                        return names[i].name;
        snprintf(buf, 16, "0x%lx", (unsigned long) sfs.f_type);
        return buf;
}

_printf_(3, 4) static int store_fail(struct store_ctx *ctx, int r, const char *fmt, ...) {
        va_list ap;
        pthread_mutex_lock(&ctx->lock);
        if (ctx->error == 0) {
                va_start(ap, fmt);
                ctx->error = log_internalv(LOG_LEVEL_ERR, r, fmt, ap);
                va_end(ap);
        }
        pthread_mutex_unlock(&ctx->lock);
        return r < 0 ? r : -r;
}

/* Name of a new object relative to work_fd: its final name in a fresh store's private
 * directory, else a temporary name next to its final name. */
static void tmp_name(const struct store_ctx *ctx, const struct object *o, char out[TMP_NAME_SIZE]) {
        char obj[CFS_OBJECT_PATH_SIZE];
        cfs_object_path(o->digest, obj);
        if (ctx->fresh)
                snprintf(out, TMP_NAME_SIZE, "%s", obj);
        else
                snprintf(out, TMP_NAME_SIZE, "%.2s/.tmp-%s-%ld", obj, obj + 3, (long) ctx->pid);
}

static int enable_verity_at(struct store_ctx *ctx, int dir_fd, const char *name, const char *shown) {
        _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return store_fail(ctx, -errno, "Failed to open '%s/%s': %m", ctx->store_path, shown);
        int r = cfs_verity_enable_fd(fd);
        if (r == -EOPNOTSUPP) {
                char buf[16];
                return store_fail(ctx, r, "Cannot enable fs-verity on '%s/%s': the filesystem (%s) or the kernel does not support it "
                                  "(for ext4: mkfs/tune2fs -O verity, 4096-byte blocks)",
                                  ctx->store_path, shown, cfs_fs_name(fd, buf));
        }
        if (r < 0)
                return store_fail(ctx, r, "Failed to enable fs-verity on '%s/%s': %m", ctx->store_path, shown);
        return 0;
}

static bool all_zero(const uint8_t *p, size_t n) {
        return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

struct copy_state {
        cfs_verity_ctx *m;
        int dfd;
};

/* Holes and all-zero chunks are not written: the object stays sparse, its size is set last. */
static int copy_chunk(const uint8_t *data, size_t n, uint64_t off, void *userdata) {
        struct copy_state *cs = userdata;
        if (!data) {
                cfs_verity_update_zeros(cs->m, n);
                return 0;
        }
        cfs_verity_update(cs->m, data, n);
        if (cs->dfd < 0 || all_zero(data, n))
                return 0;
        return loop_pwrite(cs->dfd, data, n, (off_t) off);
}

/* Copies src into dfd (empty), verifying the digest on the way. */
static int copy_verified(struct store_ctx *ctx, const struct object *o, int sfd, int dfd, uint8_t *buf) {
        uint8_t digest[CFS_DIGEST_SIZE];
        uint64_t total = 0;

        if (ioctl(dfd, FICLONE, sfd) == 0) {
                /* Shared extents: nothing was copied, but check what we now point at. */
                struct copy_state cs = { .m = cfs_verity_new(), .dfd = -EBADF };
                if (!cs.m)
                        return -ENOMEM;
                int r = cfs_read_sparse(dfd, o->size, buf, COPY_CHUNK, copy_chunk, &cs);
                cfs_verity_final(cs.m, digest);
                cfs_verity_free(cs.m);
                if (r < 0)
                        return r;
                total = o->size;
        } else if (o->size <= CFS_VERITY_SMALL_MAX) {
                ssize_t k = loop_read(sfd, buf, (size_t) o->size + 1);
                if (k < 0)
                        return (int) k;
                total = (uint64_t) k;
                if (total == o->size) {
                        cfs_verity_digest_small(buf, (size_t) k, digest);
                        int r = loop_write(dfd, buf, (size_t) k);
                        if (r < 0)
                                return r;
                }
        } else {
                struct copy_state cs = { .m = cfs_verity_new(), .dfd = dfd };
                if (!cs.m)
                        return -ENOMEM;
                int r = cfs_read_sparse(sfd, o->size, buf, COPY_CHUNK, copy_chunk, &cs);
                cfs_verity_final(cs.m, digest);
                cfs_verity_free(cs.m);
                if (r < 0)
                        return r;
                if (ftruncate(dfd, (off_t) o->size) < 0)
                        return -errno;
                total = o->size;
        }
        if (total != o->size || memcmp(digest, o->digest, CFS_DIGEST_SIZE) != 0)
                return -ESTALE;
        return 0;
}

/* An object already under its final name: 0 when it may be reused, 1 when it is missing or
 * bad (o->damage says why) and our copy must go in, <0 on errors (logged). */
static int check_existing(struct store_ctx *ctx, struct object *o, const char *obj, uint8_t *buf) {
        uint8_t got[CFS_DIGEST_SIZE];
        struct stat st;
        int r;

        /* Judged by lstat first: a device or fifo under the name is never opened. */
        if (fstatat(ctx->store_fd, obj, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return 1;
                return store_fail(ctx, -errno, "Failed to look up '%s/%s': %m", ctx->store_path, obj);
        }
        if (S_ISLNK(st.st_mode)) {
                o->damage = "a symbolic link";
                return 1;
        }
        if (S_ISDIR(st.st_mode)) {
                o->damage = "a directory";
                o->damage_is_dir = true;
                return 1;
        }
        if (!S_ISREG(st.st_mode)) {
                o->damage = "not a regular file";
                return 1;
        }
        /* Then the fd we read is checked to be that same file (O_NONBLOCK | O_NOCTTY in
         * case it was swapped for something else meanwhile). */
        _cleanup_close_ int fd = openat(ctx->store_fd, obj, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (fd < 0 && (errno == ENOENT || errno == ELOOP)) {
                o->damage = "replaced while it was checked";
                return 1;
        }
        if (fd < 0)
                return store_fail(ctx, -errno, "Failed to open '%s/%s': %m", ctx->store_path, obj);
        dev_t dev = st.st_dev;
        ino_t ino = st.st_ino;
        if (fstat(fd, &st) < 0)
                return store_fail(ctx, -errno, "Failed to check '%s/%s': %m", ctx->store_path, obj);
        if (!S_ISREG(st.st_mode) || st.st_dev != dev || st.st_ino != ino) {
                o->damage = "replaced while it was checked";
                o->damage_is_dir = S_ISDIR(st.st_mode);
                return 1;
        }
        if ((uint64_t) st.st_size != o->size) {
                o->damage = (uint64_t) st.st_size < o->size ? "truncated" : "larger than its content";
                return 1;
        }

        r = cfs_verity_measure_fd(fd, got);
        if (r == -ENODATA && ctx->opts->enable_verity) {
                /* Enabling makes the kernel hash the file: its measurement checks the content. */
                r = cfs_verity_enable_fd(fd);
                if (r == -EOPNOTSUPP) {
                        char fsname[16];
                        return store_fail(ctx, r, "Cannot enable fs-verity on '%s/%s': the filesystem (%s) or the kernel does not support it "
                                          "(for ext4: mkfs/tune2fs -O verity, 4096-byte blocks)",
                                          ctx->store_path, obj, cfs_fs_name(fd, fsname));
                }
                if (r < 0)
                        return store_fail(ctx, r, "Failed to enable fs-verity on '%s/%s': %m", ctx->store_path, obj);
                r = cfs_verity_measure_fd(fd, got);
        }
        if (r == 0) {
                if (memcmp(got, o->digest, CFS_DIGEST_SIZE) != 0) {
                        o->damage = "its fs-verity digest is not its name";
                        return 1;
                }
        } else if (r == -EBADMSG) {
                o->damage = "fs-verity with another hash algorithm";
                return 1;
        } else if (r != -ENODATA && r != -EOPNOTSUPP)
                return store_fail(ctx, r, "Failed to measure '%s/%s': %m", ctx->store_path, obj);

        if (ctx->opts->verify_store) {
                cfs_verity_ctx *m = cfs_verity_new();
                if (!m)
                        return store_fail(ctx, -ENOMEM, "Out of memory");
                r = cfs_read_sparse(fd, o->size, buf, COPY_CHUNK, cfs_verity_update_chunk, m);
                cfs_verity_final(m, got);
                cfs_verity_free(m);
                if (r == -ESTALE) {
                        o->damage = "its size changed while it was read";
                        return 1;
                }
                if (r == -EIO) {
                        /* With fs-verity, a block that does not match its tree reads as EIO. */
                        o->damage = "unreadable (I/O error)";
                        return 1;
                }
                if (r < 0)
                        return store_fail(ctx, r, "Failed to read '%s/%s': %m", ctx->store_path, obj);
                if (memcmp(got, o->digest, CFS_DIGEST_SIZE) != 0) {
                        o->damage = "its content does not match its name";
                        return 1;
                }
        }
        return 0;
}

static int copy_object(struct store_ctx *ctx, struct object *o, uint8_t *buf) {
        char obj[CFS_OBJECT_PATH_SIZE], tmp[TMP_NAME_SIZE];
        _cleanup_close_ int sfd = -EBADF, dfd = -EBADF;
        int r;

        cfs_object_path(o->digest, obj);
        /* In a fan-out directory we just created there is nothing to find (a concurrent
         * mkcfs adding the same object is handled by RENAME_NOREPLACE). */
        if (!ctx->dir_fresh[o->digest[0]]) {
                r = check_existing(ctx, o, obj, buf);
                if (r <= 0)
                        return r; /* reusable (0), or failed */
                /* r > 0: missing (o->damage unset) or damaged: write our own copy */
        }
        if (!o->damage)
                o->is_new = true;

        /* O_NOATIME as in the scanner; only the owner or root may use it. */
        int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK;
        sfd = openat(ctx->src_fd, o->src_path, flags | O_NOATIME);
        if (sfd < 0 && errno == EPERM)
                sfd = openat(ctx->src_fd, o->src_path, flags);
        if (sfd < 0)
                return store_fail(ctx, -errno, "Failed to open '%s': %m", o->src_path);

        tmp_name(ctx, o, tmp);
        for (int attempt = 0;; attempt++) {
                dfd = openat(ctx->work_fd, tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                if (dfd >= 0 || errno != EEXIST || attempt > 0 || ctx->fresh)
                        break;
                /* Left by a crashed run that had our pid: nobody else can own that name. */
                (void) unlinkat(ctx->work_fd, tmp, 0);
        }
        if (dfd < 0)
                return store_fail(ctx, -errno, "Failed to create '%s/%s': %m", ctx->store_path, tmp);
        o->tmp_created = true;

        r = copy_verified(ctx, o, sfd, dfd, buf);
        if (r == -ESTALE)
                return store_fail(ctx, r, "'%s' changed after it was scanned, retry on a quiet tree", o->src_path);
        if (r < 0)
                return store_fail(ctx, r, "Failed to copy '%s' to '%s/%s': %m", o->src_path, ctx->store_path, tmp);
        if ((0644 & ~ctx->umask_bits) != 0644 && fchmod(dfd, 0644) < 0)
                return store_fail(ctx, -errno, "Failed to set the mode of '%s/%s': %m", ctx->store_path, tmp);
        if (close(TAKE_FD(dfd)) < 0)
                return store_fail(ctx, -errno, "Failed to write '%s/%s': %m", ctx->store_path, tmp);

        if (ctx->opts->enable_verity)
                return enable_verity_at(ctx, ctx->work_fd, tmp, tmp);
        return 0;
}

/* Our verified copy takes the place of a bad object in one rename: the name always holds
 * either the bad object or the good one. */
static int replace_object(struct store_ctx *ctx, struct object *o, const char *obj, const char *tmp) {
        char aside[TMP_NAME_SIZE] = "";

        if (o->damage_is_dir) {
                /* rename() cannot replace a directory by a file; exchanging them is one step
                 * too, then the directory, now under our temporary name, goes. */
                if (renameat2(ctx->work_fd, tmp, ctx->store_fd, obj, RENAME_EXCHANGE) < 0)
                        return store_fail(ctx, -errno, "Failed to replace the directory '%s/%s' by the object: %m",
                                          ctx->store_path, obj);
                o->tmp_created = false;
                if (unlinkat(ctx->work_fd, tmp, AT_REMOVEDIR) < 0) {
                        /* Not empty (or not ours to remove): keep it, out of the way. */
                        snprintf(aside, sizeof aside, "%.2s/.damaged-%s-%ld", obj, obj + 3, (long) ctx->pid);
                        if (renameat(ctx->work_fd, tmp, ctx->work_fd, aside) < 0)
                                snprintf(aside, sizeof aside, "%s", tmp);
                }
        } else {
                if (renameat(ctx->work_fd, tmp, ctx->store_fd, obj) < 0)
                        return store_fail(ctx, -errno, "Failed to replace the damaged object '%s/%s': %m", ctx->store_path, obj);
                o->tmp_created = false;
        }
        log_warning("Object '%s/%s' was damaged (%s): replaced by a verified copy of '%s'%s%s%s", ctx->store_path, obj,
                    o->damage, o->src_path, aside[0] ? ", the directory kept as '" : "", aside, aside[0] ? "'" : "");
        return 0;
}

static int install_object(struct store_ctx *ctx, struct object *o, uint8_t *buf) {
        char obj[CFS_OBJECT_PATH_SIZE], tmp[TMP_NAME_SIZE];

        if (!o->tmp_created)
                return 0;
        cfs_object_path(o->digest, obj);
        tmp_name(ctx, o, tmp);
        if (o->damage)
                return replace_object(ctx, o, obj, tmp);
        if (renameat2(ctx->work_fd, tmp, ctx->store_fd, obj, RENAME_NOREPLACE) == 0) {
                o->tmp_created = false;
                return 0;
        }
        if (errno == EINVAL) {
                /* No RENAME_NOREPLACE here: link() never replaces either. */
                if (linkat(ctx->work_fd, tmp, ctx->store_fd, obj, 0) < 0 && errno != EEXIST)
                        return store_fail(ctx, -errno, "Failed to install '%s/%s': %m", ctx->store_path, obj);
        } else if (errno != EEXIST)
                return store_fail(ctx, -errno, "Failed to install '%s/%s': %m", ctx->store_path, obj);
        /* Someone installed the same object meanwhile: same content by construction. */
        if (unlinkat(ctx->work_fd, tmp, 0) < 0)
                return store_fail(ctx, -errno, "Failed to remove '%s/%s': %m", ctx->store_path, tmp);
        o->tmp_created = false;
        return 0;
}

typedef int (*item_fn)(struct store_ctx *ctx, struct object *o, uint8_t *buf);

struct pool_arg {
        struct store_ctx *ctx;
        item_fn fn;
};

static void *pool_main(void *p) {
        struct pool_arg *a = p;
        struct store_ctx *ctx = a->ctx;
        _cleanup_free_ uint8_t *buf = malloc(MAX((size_t) COPY_CHUNK, CFS_VERITY_SMALL_MAX + 1));

        if (!buf) {
                store_fail(ctx, -ENOMEM, "Out of memory");
                return NULL;
        }
        for (;;) {
                size_t i = __atomic_fetch_add(&ctx->next, 1, __ATOMIC_RELAXED);
                if (i >= ctx->n_objs || __atomic_load_n(&ctx->error, __ATOMIC_RELAXED) != 0)
                        return NULL;
                if (a->fn(ctx, ctx->order[i], buf) < 0)
                        return NULL;
        }
}

static int run_pool(struct store_ctx *ctx, item_fn fn, unsigned n_threads) {
        pthread_t tids[64];
        struct pool_arg a = { .ctx = ctx, .fn = fn };
        unsigned started = 0;

        ctx->next = 0;
        n_threads = MIN(MAX(n_threads, 1u), (unsigned) ELEMENTSOF(tids));
        for (unsigned i = 1; i < n_threads; i++) {
                int r = pthread_create(&tids[i], NULL, pool_main, &a);
                if (r != 0) {
                        store_fail(ctx, -r, "Failed to start a thread: %m");
                        break;
                }
                started = i;
        }
        pool_main(&a);
        for (unsigned i = 1; i <= started; i++)
                pthread_join(tids[i], NULL);
        return ctx->error;
}

static int collect(cfs_node *n, void *userdata) {
        struct store_ctx *ctx = userdata;

        if (n->link_to || (n->mode & S_IFMT) != S_IFREG || n->content || !n->has_digest || !n->src_path)
                return 0;
        if (GROW_ARRAY(ctx->objs, ctx->objs_alloc, ctx->n_objs + 1, 1024) < 0)
                return -ENOMEM;
        struct object *o = &ctx->objs[ctx->n_objs++];
        *o = (struct object) { .size = n->size, .src_path = n->src_path };
        memcpy(o->digest, n->digest, CFS_DIGEST_SIZE);
        return 0;
}

static int object_cmp(const void *a, const void *b) {
        return memcmp(((const struct object *) a)->digest, ((const struct object *) b)->digest, CFS_DIGEST_SIZE);
}

static int object_spread_cmp(const void *a, const void *b) {
        const struct object *x = *(const struct object *const *) a, *y = *(const struct object *const *) b;
        int c = memcmp(x->digest + 1, y->digest + 1, CFS_DIGEST_SIZE - 1);
        return c != 0 ? c : (int) x->digest[0] - (int) y->digest[0];
}

static unsigned default_threads(void) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        return n < 1 ? 1 : n > 64 ? 64 : (unsigned) n;
}

int cfs_store_fill(const char *store_path, const char *src_root, cfs_node *root,
                   const struct cfs_store_options *opts, struct cfs_store_stats *ret_stats) {
        static const struct cfs_store_options defaults = {};
        struct store_ctx ctx = {
                .store_path = store_path,
                .opts = opts ?: &defaults,
                .lock = PTHREAD_MUTEX_INITIALIZER,
                .pid = getpid(),
        };
        _cleanup_close_ int store_fd = -EBADF, src_fd = -EBADF, work_fd = -EBADF;
        unsigned n_threads = ctx.opts->n_threads ?: default_threads();
        int r;

        ctx.umask_bits = umask(0);
        umask(ctx.umask_bits);

        r = cfs_node_walk(root, collect, &ctx);
        if (r < 0) {
                free(ctx.objs);
                return log_error_errno(r, "Out of memory");
        }
        if (ctx.n_objs > 0)
                qsort(ctx.objs, ctx.n_objs, sizeof *ctx.objs, object_cmp);
        size_t u = 0;
        for (size_t i = 0; i < ctx.n_objs; i++)
                if (u == 0 || object_cmp(&ctx.objs[u - 1], &ctx.objs[i]) != 0)
                        ctx.objs[u++] = ctx.objs[i];
        ctx.n_objs = u;
        ctx.order = malloc(MAX(ctx.n_objs, (size_t) 1) * sizeof *ctx.order);
        if (!ctx.order) {
                r = log_error_errno(-ENOMEM, "Out of memory");
                goto finish;
        }
        for (size_t i = 0; i < ctx.n_objs; i++)
                ctx.order[i] = &ctx.objs[i];
        if (ctx.n_objs > 0)
                qsort(ctx.order, ctx.n_objs, sizeof *ctx.order, object_spread_cmp);

        src_fd = open(src_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (src_fd < 0) {
                r = log_error_errno(-errno, "Failed to open source directory '%s': %m", src_root);
                goto finish;
        }
        ctx.src_fd = src_fd;

        store_fd = open(store_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (store_fd < 0 && errno == ENOENT) {
                /* A new store is built privately and appears with one rename, which saves a
                 * temporary name and a rename per object. */
                size_t len = strlen(store_path);
                while (len > 1 && store_path[len - 1] == '/')
                        len--;
                if (asprintf(&ctx.work_path, "%.*s.tmp-%ld", (int) len, store_path, (long) ctx.pid) < 0) {
                        ctx.work_path = NULL;
                        r = log_error_errno(-ENOMEM, "Out of memory");
                        goto finish;
                }
                if (mkdir(ctx.work_path, 0755) < 0) {
                        r = log_error_errno(-errno, "Failed to create '%s': %m", ctx.work_path);
                        free(ctx.work_path);
                        ctx.work_path = NULL;
                        goto finish;
                }
                ctx.fresh = true;
                work_fd = open(ctx.work_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        } else if (store_fd < 0) {
                r = log_error_errno(-errno, "Failed to open the store '%s': %m", store_path);
                goto finish;
        } else
                work_fd = fcntl(store_fd, F_DUPFD_CLOEXEC, 3);
        if (work_fd < 0) {
                r = log_error_errno(-errno, "Failed to open the store '%s': %m", ctx.work_path ?: store_path);
                goto finish;
        }
        ctx.store_fd = store_fd;
        ctx.work_fd = work_fd;

        /* The fan-out directories, once each (sorted objects: one run per first byte). */
        for (size_t i = 0; i < ctx.n_objs; i++) {
                if (i > 0 && ctx.objs[i].digest[0] == ctx.objs[i - 1].digest[0])
                        continue;
                char d[3];
                snprintf(d, sizeof d, "%02x", ctx.objs[i].digest[0]);
                if (mkdirat(work_fd, d, 0755) >= 0)
                        ctx.dir_fresh[ctx.objs[i].digest[0]] = true;
                else if (errno != EEXIST) {
                        r = log_error_errno(-errno, "Failed to create '%s/%s': %m", store_path, d);
                        goto finish;
                }
        }

        r = run_pool(&ctx, copy_object, n_threads);
        if (r < 0)
                goto finish;
        if (syncfs(work_fd) < 0) {
                r = log_error_errno(-errno, "Failed to flush the store '%s' to disk: %m", store_path);
                goto finish;
        }

        if (ctx.fresh) {
                if (renameat2(AT_FDCWD, ctx.work_path, AT_FDCWD, store_path, RENAME_NOREPLACE) == 0) {
                        for (size_t i = 0; i < ctx.n_objs; i++)
                                ctx.objs[i].tmp_created = false;
                        free(ctx.work_path);
                        ctx.work_path = NULL;
                } else if (errno == EEXIST || errno == ENOTEMPTY || errno == EINVAL) {
                        /* The store appeared meanwhile (or no RENAME_NOREPLACE here): move
                         * our objects in one by one, never replacing one. */
                        if (mkdir(store_path, 0755) < 0 && errno != EEXIST) {
                                r = log_error_errno(-errno, "Failed to create the store '%s': %m", store_path);
                                goto finish;
                        }
                        store_fd = open(store_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                        if (store_fd < 0) {
                                r = log_error_errno(-errno, "Failed to open the store '%s': %m", store_path);
                                goto finish;
                        }
                        ctx.store_fd = store_fd;
                        for (unsigned b = 0; b < 256; b++) {
                                char d[3];
                                snprintf(d, sizeof d, "%02x", b);
                                if (ctx.dir_fresh[b] && mkdirat(store_fd, d, 0755) < 0 && errno != EEXIST) {
                                        r = log_error_errno(-errno, "Failed to create '%s/%s': %m", store_path, d);
                                        goto finish;
                                }
                        }
                        r = run_pool(&ctx, install_object, n_threads);
                        if (r < 0)
                                goto finish;
                } else {
                        r = log_error_errno(-errno, "Failed to move '%s' into place as '%s': %m", ctx.work_path, store_path);
                        goto finish;
                }
        } else {
                r = run_pool(&ctx, install_object, n_threads);
                if (r < 0)
                        goto finish;
        }
        if (syncfs(work_fd) < 0) {
                r = log_error_errno(-errno, "Failed to flush the store '%s' to disk: %m", store_path);
                goto finish;
        }

        if (ret_stats) {
                struct cfs_store_stats s = { .n_objects = ctx.n_objs };
                for (size_t i = 0; i < ctx.n_objs; i++)
                        if (ctx.objs[i].damage)
                                s.n_replaced++;
                        else if (ctx.objs[i].is_new) {
                                s.n_new++;
                                s.new_bytes += ctx.objs[i].size;
                        }
                *ret_stats = s;
        }
        r = 0;

finish:
        /* No temporary file of ours stays behind, whatever happened. */
        for (size_t i = 0; i < ctx.n_objs; i++)
                if (ctx.objs[i].tmp_created) {
                        char tmp[TMP_NAME_SIZE];
                        tmp_name(&ctx, &ctx.objs[i], tmp);
                        (void) unlinkat(work_fd, tmp, 0);
                }
        if (ctx.work_path) {
                /* A private directory that did not become the store: empty by now. */
                for (unsigned b = 0; b < 256; b++)
                        if (ctx.dir_fresh[b]) {
                                char d[3];
                                snprintf(d, sizeof d, "%02x", b);
                                (void) unlinkat(work_fd, d, AT_REMOVEDIR);
                        }
                (void) rmdir(ctx.work_path);
                free(ctx.work_path);
        }
        free(ctx.order);
        free(ctx.objs);
        return r;
}
