/* SPDX-License-Identifier: MIT */
/* Reading an ostree commit into a cfs_node tree (see ostree-commit.h for the rules).
 *
 * Two passes. The directory structure (commit, dirtree and dirmeta objects, all small) is
 * walked on the calling thread. The content objects, where nearly all the bytes are, are
 * then loaded by worker threads, each with its own OstreeRepo, one job per distinct object:
 * libostree gives the metadata (for bare-user it comes from the object's user.ostreemeta
 * xattr), and the content is read once through a stream that feeds our fs-verity context
 * while ostree_checksum_file_from_input() computes the ostree checksum from the same bytes.
 * Results are applied to the nodes on the calling thread, so workers touch no shared state
 * but their own job. */
#include <fcntl.h>
#include <gio/gio.h>
#include <ostree.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <sys/stat.h>

/* glib defines these too, identically; ours follow. */
#undef MIN
#undef MAX

#include "log.h"
#include "ostree-commit.h"
#include "scan.h"
#include "store.h"
#include "util.h"
#include "verity.h"

#define READ_CHUNK (256 * 1024)

/* ---- A GInputStream that reads a base stream in big chunks and feeds each chunk to an
 * fs-verity context before handing it on: one read, two hashes. ---- */

typedef struct {
        GInputStream parent_instance;
        GInputStream *base;
        cfs_verity_ctx *verity;
        uint8_t *buf; /* READ_CHUNK bytes, the caller's */
        size_t len, pos;
        uint64_t total;
} CfsTeeStream;

typedef struct {
        GInputStreamClass parent_class;
} CfsTeeStreamClass;

GType cfs_tee_stream_get_type(void);
G_DEFINE_TYPE(CfsTeeStream, cfs_tee_stream, G_TYPE_INPUT_STREAM)

static gssize cfs_tee_stream_read(GInputStream *stream, void *buffer, gsize count, GCancellable *cancellable,
                                  GError **error) {
        CfsTeeStream *self = (CfsTeeStream *) stream;

        if (self->pos == self->len) {
                gssize n = g_input_stream_read(self->base, self->buf, READ_CHUNK, cancellable, error);
                if (n <= 0)
                        return n;
                cfs_verity_update(self->verity, self->buf, (size_t) n);
                self->total += (uint64_t) n;
                self->len = (size_t) n;
                self->pos = 0;
        }
        size_t n = MIN((size_t) count, self->len - self->pos);
        memcpy(buffer, self->buf + self->pos, n);
        self->pos += n;
        return (gssize) n;
}

static void cfs_tee_stream_finalize(GObject *object) {
        CfsTeeStream *self = (CfsTeeStream *) object;
        g_clear_object(&self->base);
        G_OBJECT_CLASS(cfs_tee_stream_parent_class)->finalize(object);
}

static void cfs_tee_stream_class_init(CfsTeeStreamClass *klass) {
        G_OBJECT_CLASS(klass)->finalize = cfs_tee_stream_finalize;
        G_INPUT_STREAM_CLASS(klass)->read_fn = cfs_tee_stream_read;
}

static void cfs_tee_stream_init(CfsTeeStream *self) {}

static CfsTeeStream *cfs_tee_stream_new(GInputStream *base, cfs_verity_ctx *verity, uint8_t *buf) {
        CfsTeeStream *s = g_object_new(cfs_tee_stream_get_type(), NULL);
        s->base = g_object_ref(base);
        s->verity = verity;
        s->buf = buf;
        return s;
}

/* ---- Errors from glib: the message is kept for the one log line the caller writes. ---- */

static int gerror_to_errno(const GError *e) {
        if (!e)
                return -EIO;
        if (g_error_matches(e, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
                return -ENOENT;
        if (e->domain == G_IO_ERROR && e->code == G_IO_ERROR_NO_SPACE)
                return -ENOSPC;
        if (e->domain == G_IO_ERROR && e->code == G_IO_ERROR_PERMISSION_DENIED)
                return -EACCES;
        return -EIO;
}

static void gerrorp(GError **e) {
        if (*e)
                g_error_free(*e);
}
#define _cleanup_gerror_ _cleanup_(gerrorp)

static void gobjectp(void *p) {
        void *o = *(void **) p;
        if (o)
                g_object_unref(o);
}
#define _cleanup_gobject_ _cleanup_(gobjectp)

static void gvariantp(GVariant **v) {
        if (*v)
                g_variant_unref(*v);
}
#define _cleanup_gvariant_ _cleanup_(gvariantp)

/* ---- Objects ---- */

struct object_job {
        uint8_t csum[32]; /* the ostree checksum the tree names */
        cfs_node *first;  /* the first node naming it, for messages */

        /* results */
        uint32_t mode, uid, gid;
        uint64_t size;
        char *symlink_target;
        GVariant *xattrs; /* a(ayay), or NULL */
        bool has_digest;
        uint8_t digest[CFS_DIGEST_SIZE];
        int error;
        char *error_msg;
};

struct node_ref {
        cfs_node *node;
        size_t job;
};

struct reader {
        const char *repo_path;
        OstreeRepo *repo;
        GHashTable *jobs_by_csum;    /* hex -> index + 1 */
        GHashTable *dirmeta_cache;   /* hex -> GVariant (checked) */
        struct object_job *jobs;
        size_t n_jobs, jobs_alloc;
        struct node_ref *refs;
        size_t n_refs, refs_alloc;
        size_t next_job; /* atomic */
        int error;       /* atomic: first worker error stops the others */
};

static void csum_hex(const uint8_t csum[32], char out[CFS_OSTREE_CHECKSUM_HEX]) {
        hex_encode(csum, 32, out);
}

/* "xx/yyyy....file", relative to REPO/objects (ostree's loose object path for bare modes). */
static char *object_path(const uint8_t csum[32]) {
        char hex[CFS_OSTREE_CHECKSUM_HEX];
        char *p;
        csum_hex(csum, hex);
        if (asprintf(&p, "%.2s/%s.file", hex, hex + 2) < 0)
                return NULL;
        return p;
}

/* A meta object (commit, dirtree, dirmeta) is checked by the SHA-256 of its serialized
 * bytes, exactly what ostree names it by. */
static int load_meta(struct reader *rd, OstreeObjectType type, const uint8_t csum[32], GVariant **ret) {
        char hex[CFS_OSTREE_CHECKSUM_HEX];
        _cleanup_gerror_ GError *err = NULL;
        _cleanup_gvariant_ GVariant *v = NULL;
        uint8_t actual[32];

        csum_hex(csum, hex);
        if (!ostree_repo_load_variant(rd->repo, type, hex, &v, &err)) {
                int r = gerror_to_errno(err);
                if (r == -ENOENT && type == OSTREE_OBJECT_TYPE_COMMIT)
                        return r; /* the caller names the rev */
                return log_error_errno(r, "Failed to load %s object %s of '%s': %s",
                                       ostree_object_type_to_string(type), hex, rd->repo_path, err ? err->message : "unknown error");
        }
        SHA256(g_variant_get_data(v), g_variant_get_size(v), actual);
        if (memcmp(actual, csum, 32) != 0) {
                char ahex[CFS_OSTREE_CHECKSUM_HEX];
                csum_hex(actual, ahex);
                return log_error_errno(-EBADMSG, "Corrupt %s object %s in '%s': its content has checksum %s; refusing to build an image",
                                       ostree_object_type_to_string(type), hex, rd->repo_path, ahex);
        }
        *ret = TAKE_PTR(v);
        return 0;
}

/* A checksum field of a meta object: exactly 32 bytes. */
static int get_csum(GVariant *v, uint8_t out[32]) {
        gsize n;
        const uint8_t *p = g_variant_get_fixed_array(v, &n, 1);
        if (!p || n != 32)
                return -EBADMSG;
        memcpy(out, p, 32);
        return 0;
}

static int set_xattrs(cfs_node *n, GVariant *xattrs) {
        if (!xattrs)
                return 0;
        size_t count = g_variant_n_children(xattrs);
        for (size_t i = 0; i < count; i++) {
                const char *name;
                _cleanup_gvariant_ GVariant *value = NULL;
                gsize len;
                g_variant_get_child(xattrs, i, "(^&ay@ay)", &name, &value);
                const void *data = g_variant_get_fixed_array(value, &len, 1);
                int r = cfs_node_set_xattr(n, name, data, len);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int apply_dirmeta(struct reader *rd, cfs_node *dir, const uint8_t csum[32]) {
        char hex[CFS_OSTREE_CHECKSUM_HEX];
        GVariant *meta;
        int r;

        csum_hex(csum, hex);
        meta = g_hash_table_lookup(rd->dirmeta_cache, hex);
        if (!meta) {
                r = load_meta(rd, OSTREE_OBJECT_TYPE_DIR_META, csum, &meta);
                if (r < 0)
                        return r;
                g_hash_table_insert(rd->dirmeta_cache, g_strdup(hex), meta);
        }
        if (!g_variant_is_of_type(meta, G_VARIANT_TYPE("(uuua(ayay))")))
                return log_error_errno(-EBADMSG, "Malformed dirmeta object %s in '%s'", hex, rd->repo_path);

        uint32_t uid, gid, mode;
        _cleanup_gvariant_ GVariant *xattrs = NULL;
        g_variant_get(meta, "(uuu@a(ayay))", &uid, &gid, &mode, &xattrs);
        mode = GUINT32_FROM_BE(mode);
        if (!S_ISDIR(mode))
                return log_error_errno(-EBADMSG, "dirmeta object %s in '%s' has mode %o, not a directory", hex, rd->repo_path, mode);
        dir->mode = mode;
        dir->uid = GUINT32_FROM_BE(uid);
        dir->gid = GUINT32_FROM_BE(gid);
        r = set_xattrs(dir, xattrs);
        if (r < 0) {
                _cleanup_free_ char *path = cfs_node_path(dir);
                return log_error_errno(r, "Cannot record the xattrs of directory '%s' (dirmeta %s): %m", path ?: "?", hex);
        }
        return 0;
}

static int add_child(struct reader *rd, cfs_node *parent, cfs_node *child, const char *name) {
        int r = cfs_node_add_child(parent, child, name, false);
        if (r < 0) {
                _cleanup_free_ char *path = cfs_node_path(parent);
                return log_error_errno(r, "Invalid entry name '%s' in directory '%s' of the commit in '%s': %m", name,
                                       path ?: "?", rd->repo_path);
        }
        return 0;
}

static int queue_file(struct reader *rd, cfs_node *node, const uint8_t csum[32]) {
        char hex[CFS_OSTREE_CHECKSUM_HEX];
        size_t idx;

        csum_hex(csum, hex);
        idx = GPOINTER_TO_SIZE(g_hash_table_lookup(rd->jobs_by_csum, hex));
        if (idx == 0) {
                if (GROW_ARRAY(rd->jobs, rd->jobs_alloc, rd->n_jobs + 1, 1024) < 0)
                        return log_error_errno(-ENOMEM, "Out of memory");
                rd->jobs[rd->n_jobs] = (struct object_job) { .first = node };
                memcpy(rd->jobs[rd->n_jobs].csum, csum, 32);
                idx = ++rd->n_jobs;
                g_hash_table_insert(rd->jobs_by_csum, g_strdup(hex), GSIZE_TO_POINTER(idx));
        }
        if (GROW_ARRAY(rd->refs, rd->refs_alloc, rd->n_refs + 1, 1024) < 0)
                return log_error_errno(-ENOMEM, "Out of memory");
        rd->refs[rd->n_refs++] = (struct node_ref) { .node = node, .job = idx - 1 };
        return 0;
}

static int walk_dirtree(struct reader *rd, cfs_node *dir, const uint8_t tree_csum[32], unsigned depth) {
        _cleanup_gvariant_ GVariant *tree = NULL, *files = NULL, *dirs = NULL;
        char hex[CFS_OSTREE_CHECKSUM_HEX];
        int r;

        csum_hex(tree_csum, hex);
        /* Directory paths cannot be deeper than PATH_MAX allows anyway. */
        if (depth > CFS_PATH_MAX / 2)
                return log_error_errno(-ELOOP, "Directories nested too deep in the commit in '%s' (dirtree %s)", rd->repo_path, hex);
        r = load_meta(rd, OSTREE_OBJECT_TYPE_DIR_TREE, tree_csum, &tree);
        if (r < 0)
                return r;
        if (!g_variant_is_of_type(tree, G_VARIANT_TYPE("(a(say)a(sayay))")))
                return log_error_errno(-EBADMSG, "Malformed dirtree object %s in '%s'", hex, rd->repo_path);

        files = g_variant_get_child_value(tree, 0);
        dirs = g_variant_get_child_value(tree, 1);

        size_t n = g_variant_n_children(files);
        for (size_t i = 0; i < n; i++) {
                const char *name;
                _cleanup_gvariant_ GVariant *csum_v = NULL;
                uint8_t csum[32];
                g_variant_get_child(files, i, "(&s@ay)", &name, &csum_v);
                if (get_csum(csum_v, csum) < 0)
                        return log_error_errno(-EBADMSG, "Malformed dirtree object %s in '%s': bad checksum for '%s'", hex,
                                               rd->repo_path, name);
                /* Mode and the rest come with the object; a placeholder until then. */
                cfs_node *child = cfs_node_new(S_IFREG);
                if (!child)
                        return log_error_errno(-ENOMEM, "Out of memory");
                r = add_child(rd, dir, child, name);
                if (r < 0) {
                        cfs_node_free(child);
                        return r;
                }
                r = queue_file(rd, child, csum);
                if (r < 0)
                        return r;
        }

        n = g_variant_n_children(dirs);
        for (size_t i = 0; i < n; i++) {
                const char *name;
                _cleanup_gvariant_ GVariant *tree_v = NULL, *meta_v = NULL;
                uint8_t sub_tree[32], sub_meta[32];
                g_variant_get_child(dirs, i, "(&s@ay@ay)", &name, &tree_v, &meta_v);
                if (get_csum(tree_v, sub_tree) < 0 || get_csum(meta_v, sub_meta) < 0)
                        return log_error_errno(-EBADMSG, "Malformed dirtree object %s in '%s': bad checksum for '%s'", hex,
                                               rd->repo_path, name);
                cfs_node *child = cfs_node_new(S_IFDIR | 0755);
                if (!child)
                        return log_error_errno(-ENOMEM, "Out of memory");
                r = add_child(rd, dir, child, name);
                if (r < 0) {
                        cfs_node_free(child);
                        return r;
                }
                r = apply_dirmeta(rd, child, sub_meta);
                if (r < 0)
                        return r;
                r = walk_dirtree(rd, child, sub_tree, depth + 1);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* One content object: metadata from libostree, content read once for both checksums. */
static int load_object(OstreeRepo *repo, struct object_job *job, uint8_t *buf) {
        char hex[CFS_OSTREE_CHECKSUM_HEX];
        _cleanup_gerror_ GError *err = NULL;
        _cleanup_gobject_ GInputStream *in = NULL;
        _cleanup_gobject_ GFileInfo *info = NULL;
        _cleanup_gobject_ CfsTeeStream *tee = NULL;
        _cleanup_gvariant_ GVariant *xattrs = NULL;
        g_autofree guchar *actual = NULL;
        cfs_verity_ctx *verity = NULL;
        int r = 0;

        csum_hex(job->csum, hex);
        if (!ostree_repo_load_file(repo, hex, &in, &info, &xattrs, NULL, &err)) {
                job->error_msg = strdup(err ? err->message : "unknown error");
                return gerror_to_errno(err);
        }

        GFileType type = g_file_info_get_file_type(info);
        if (type == G_FILE_TYPE_REGULAR && in) {
                verity = cfs_verity_new();
                if (!verity)
                        return -ENOMEM;
                tee = cfs_tee_stream_new(in, verity, buf);
                if (!ostree_checksum_file_from_input(info, xattrs, G_INPUT_STREAM(tee), OSTREE_OBJECT_TYPE_FILE, &actual, NULL, &err)) {
                        job->error_msg = strdup(err ? err->message : "unknown error");
                        r = gerror_to_errno(err);
                        goto out;
                }
                cfs_verity_final(verity, job->digest);
                job->has_digest = true;
                if (tee->total != (uint64_t) g_file_info_get_size(info)) {
                        job->error_msg = strdup("size differs from its metadata");
                        r = -EBADMSG;
                        goto out;
                }
        } else if (type == G_FILE_TYPE_SYMBOLIC_LINK || type == G_FILE_TYPE_REGULAR) {
                if (!ostree_checksum_file_from_input(info, xattrs, in, OSTREE_OBJECT_TYPE_FILE, &actual, NULL, &err)) {
                        job->error_msg = strdup(err ? err->message : "unknown error");
                        return gerror_to_errno(err);
                }
        } else {
                job->error_msg = strdup("not a regular file or symlink");
                return -EBADMSG;
        }

        if (memcmp(actual, job->csum, 32) != 0) {
                char ahex[CFS_OSTREE_CHECKSUM_HEX];
                csum_hex(actual, ahex);
                if (asprintf(&job->error_msg, "its content and metadata have checksum %s", ahex) < 0)
                        job->error_msg = NULL;
                r = -EBADMSG;
                goto out;
        }

        job->mode = g_file_info_get_attribute_uint32(info, "unix::mode");
        job->uid = g_file_info_get_attribute_uint32(info, "unix::uid");
        job->gid = g_file_info_get_attribute_uint32(info, "unix::gid");
        job->size = (uint64_t) g_file_info_get_size(info);
        if (type == G_FILE_TYPE_SYMBOLIC_LINK) {
                job->symlink_target = strdup(g_file_info_get_symlink_target(info) ?: "");
                if (!job->symlink_target)
                        r = -ENOMEM;
        }
        job->xattrs = TAKE_PTR(xattrs);
out:
        cfs_verity_free(verity);
        return r;
}

struct worker {
        struct reader *rd;
        OstreeRepo *repo;
        uint8_t *buf;
};

static void *worker_main(void *userdata) {
        struct worker *w = userdata;
        struct reader *rd = w->rd;

        for (;;) {
                if (__atomic_load_n(&rd->error, __ATOMIC_RELAXED) != 0)
                        break;
                size_t i = __atomic_fetch_add(&rd->next_job, 1, __ATOMIC_RELAXED);
                if (i >= rd->n_jobs)
                        break;
                int r = load_object(w->repo, &rd->jobs[i], w->buf);
                if (r < 0) {
                        rd->jobs[i].error = r;
                        int zero = 0;
                        __atomic_compare_exchange_n(&rd->error, &zero, r, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
                }
        }
        return NULL;
}

static unsigned default_threads(void) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        return n < 1 ? 1 : n > 64 ? 64 : (unsigned) n;
}

static int open_repo(const char *path, OstreeRepo **ret, GError **err) {
        _cleanup_gobject_ GFile *f = g_file_new_for_path(path);
        _cleanup_gobject_ OstreeRepo *repo = ostree_repo_new(f);
        if (!ostree_repo_open(repo, NULL, err))
                return gerror_to_errno(*err);
        *ret = TAKE_PTR(repo);
        return 0;
}

static int load_objects(struct reader *rd, unsigned n_threads) {
        struct worker *workers = NULL;
        pthread_t *tids = NULL;
        unsigned started = 0;
        int r = 0;

        n_threads = MAX(1u, MIN(n_threads, (unsigned) MAX(rd->n_jobs, (size_t) 1)));
        workers = calloc(n_threads, sizeof *workers);
        tids = calloc(n_threads, sizeof *tids);
        if (!workers || !tids) {
                r = log_error_errno(-ENOMEM, "Out of memory");
                goto out;
        }
        for (unsigned i = 0; i < n_threads; i++) {
                _cleanup_gerror_ GError *err = NULL;
                workers[i].rd = rd;
                workers[i].buf = malloc(READ_CHUNK);
                if (!workers[i].buf) {
                        r = log_error_errno(-ENOMEM, "Out of memory");
                        goto out;
                }
                if (i == 0)
                        workers[i].repo = g_object_ref(rd->repo);
                else {
                        r = open_repo(rd->repo_path, &workers[i].repo, &err);
                        if (r < 0) {
                                r = log_error_errno(r, "Failed to open the ostree repository '%s': %s", rd->repo_path, err->message);
                                goto out;
                        }
                }
        }
        for (started = 1; started < n_threads; started++) {
                r = -pthread_create(&tids[started], NULL, worker_main, &workers[started]);
                if (r < 0) {
                        log_error_errno(r, "Failed to start a thread: %m");
                        __atomic_store_n(&rd->error, r, __ATOMIC_RELAXED);
                        break;
                }
        }
        worker_main(&workers[0]);
        for (unsigned i = 1; i < started; i++)
                pthread_join(tids[i], NULL);
        if (r < 0)
                goto out;

        /* Report the first failed object in tree order, the same whatever the threads did. */
        for (size_t i = 0; i < rd->n_jobs; i++) {
                struct object_job *j = &rd->jobs[i];
                if (j->error == 0)
                        continue;
                char hex[CFS_OSTREE_CHECKSUM_HEX];
                _cleanup_free_ char *path = cfs_node_path(j->first), *obj = object_path(j->csum);
                csum_hex(j->csum, hex);
                if (j->error == -EBADMSG)
                        r = log_error_errno(j->error, "Corrupt object %s/objects/%s (for '%s'): %s; refusing to build an image",
                                            rd->repo_path, obj ?: hex, path ?: "?", j->error_msg ?: "checksum mismatch");
                else if (j->error == -ENOENT)
                        r = log_error_errno(j->error, "Missing object %s/objects/%s (for '%s'): %s", rd->repo_path, obj ?: hex,
                                            path ?: "?", j->error_msg ?: "not found");
                else
                        r = log_error_errno(j->error, "Failed to read object %s/objects/%s (for '%s'): %s", rd->repo_path,
                                            obj ?: hex, path ?: "?", j->error_msg ?: strerror(-j->error));
                goto out;
        }
out:
        if (workers)
                for (unsigned i = 0; i < n_threads; i++) {
                        if (workers[i].repo)
                                g_object_unref(workers[i].repo);
                        free(workers[i].buf);
                }
        free(workers);
        free(tids);
        return r;
}

static int apply_objects(struct reader *rd) {
        for (size_t i = 0; i < rd->n_refs; i++) {
                cfs_node *n = rd->refs[i].node;
                struct object_job *j = &rd->jobs[rd->refs[i].job];
                int r;

                n->mode = j->mode;
                n->uid = j->uid;
                n->gid = j->gid;
                n->nlink = 1;
                if (S_ISLNK(j->mode)) {
                        n->size = strlen(j->symlink_target);
                        r = cfs_node_set_payload(n, j->symlink_target);
                } else if (S_ISREG(j->mode)) {
                        n->size = j->size;
                        r = 0;
                        if (j->size > 0) {
                                _cleanup_free_ char *p = object_path(j->csum);
                                if (!p)
                                        return log_error_errno(-ENOMEM, "Out of memory");
                                r = cfs_node_set_payload(n, p);
                                cfs_node_set_digest(n, j->digest);
                        }
                } else
                        r = -EBADMSG;
                if (r >= 0)
                        r = set_xattrs(n, j->xattrs);
                if (r < 0) {
                        _cleanup_free_ char *path = cfs_node_path(n);
                        return log_error_errno(r, "Cannot record '%s' of the commit in '%s': %m", path ?: "?", rd->repo_path);
                }
        }
        return 0;
}

/* The directories ostree's own image adds at the root for its bind mounts. */
static int add_root_dirs(cfs_node *root) {
        static const char *const names[] = { "usr", "etc", "boot", "var", "sysroot" };
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                if (cfs_node_lookup_child(root, names[i]))
                        continue;
                cfs_node *d = cfs_node_new(S_IFDIR | 0755);
                if (!d)
                        return -ENOMEM;
                int r = cfs_node_add_child(root, d, names[i], false);
                if (r < 0) {
                        cfs_node_free(d);
                        return r;
                }
        }
        return 0;
}

static void reader_done(struct reader *rd) {
        for (size_t i = 0; i < rd->n_jobs; i++) {
                free(rd->jobs[i].symlink_target);
                free(rd->jobs[i].error_msg);
                if (rd->jobs[i].xattrs)
                        g_variant_unref(rd->jobs[i].xattrs);
        }
        free(rd->jobs);
        free(rd->refs);
        if (rd->jobs_by_csum)
                g_hash_table_unref(rd->jobs_by_csum);
        if (rd->dirmeta_cache)
                g_hash_table_unref(rd->dirmeta_cache);
        if (rd->repo)
                g_object_unref(rd->repo);
}

int cfs_ostree_read_commit(const char *repo_path, const char *rev, const struct cfs_ostree_options *opts,
                           cfs_node **ret_root, char ret_commit[CFS_OSTREE_CHECKSUM_HEX]) {
        _cleanup_(reader_done) struct reader rd = { .repo_path = repo_path };
        _cleanup_gerror_ GError *err = NULL;
        _cleanup_free_ char *commit_hex = NULL;
        _cleanup_gvariant_ GVariant *commit = NULL, *tree_v = NULL, *meta_v = NULL;
        _cleanup_node_ cfs_node *root = NULL;
        uint8_t commit_csum[32], tree_csum[32], meta_csum[32];
        struct stat st;
        int r;

        /* libostree's message for a missing directory is less clear than this. */
        if (stat(repo_path, &st) < 0)
                return log_error_errno(-errno, "Cannot open the ostree repository '%s': %m", repo_path);
        if (!S_ISDIR(st.st_mode))
                return log_error_errno(-ENOTDIR, "'%s' is not an ostree repository: not a directory", repo_path);
        r = open_repo(repo_path, &rd.repo, &err);
        if (r < 0)
                return log_error_errno(-EINVAL, "'%s' is not an ostree repository: %s", repo_path, err->message);

        OstreeRepoMode mode = ostree_repo_get_mode(rd.repo);
        if (mode != OSTREE_REPO_MODE_BARE && mode != OSTREE_REPO_MODE_BARE_USER)
                return log_error_errno(-EOPNOTSUPP,
                                       "The ostree repository '%s' has mode %s: its objects cannot back a composefs image "
                                       "(mode bare or bare-user is needed%s)",
                                       repo_path, mode == OSTREE_REPO_MODE_ARCHIVE ? "archive" : mode == OSTREE_REPO_MODE_BARE_USER_ONLY ? "bare-user-only" : "unknown",
                                       mode == OSTREE_REPO_MODE_ARCHIVE ? "; archive objects are compressed" : "");

        if (!ostree_repo_resolve_rev(rd.repo, rev, FALSE, &commit_hex, &err))
                return log_error_errno(-ENOENT, "Unknown ref or commit '%s' in the ostree repository '%s': %s", rev, repo_path, err->message);
        if (!ostree_validate_checksum_string(commit_hex, NULL) || hex_decode(commit_hex, 64, commit_csum, 32) < 0)
                return log_error_errno(-EINVAL, "'%s' in '%s' resolves to '%s', not a commit checksum", rev, repo_path, commit_hex);

        r = load_meta(&rd, OSTREE_OBJECT_TYPE_COMMIT, commit_csum, &commit);
        if (r == -ENOENT)
                return log_error_errno(r, "Unknown commit '%s' in the ostree repository '%s' (rev '%s')", commit_hex, repo_path, rev);
        if (r < 0)
                return r;
        if (!g_variant_is_of_type(commit, G_VARIANT_TYPE("(a{sv}aya(say)sstayay)")))
                return log_error_errno(-EBADMSG, "Malformed commit object %s in '%s'", commit_hex, repo_path);
        tree_v = g_variant_get_child_value(commit, 6);
        meta_v = g_variant_get_child_value(commit, 7);
        if (get_csum(tree_v, tree_csum) < 0 || get_csum(meta_v, meta_csum) < 0)
                return log_error_errno(-EBADMSG, "Malformed commit object %s in '%s': bad root checksum", commit_hex, repo_path);

        rd.jobs_by_csum = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        rd.dirmeta_cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_variant_unref);
        root = cfs_node_new(S_IFDIR | 0755);
        if (!root)
                return log_error_errno(-ENOMEM, "Out of memory");
        r = apply_dirmeta(&rd, root, meta_csum);
        if (r < 0)
                return r;
        r = walk_dirtree(&rd, root, tree_csum, 0);
        if (r < 0)
                return r;

        r = load_objects(&rd, opts && opts->n_threads ? opts->n_threads : default_threads());
        if (r < 0)
                return r;
        r = apply_objects(&rd);
        if (r < 0)
                return r;
        r = add_root_dirs(root);
        if (r < 0)
                return log_error_errno(r, "Failed to add the root directories: %m");
        r = cfs_node_sort_children(root);
        if (r < 0)
                return log_error_errno(r, "The commit %s in '%s' has two entries of one name in a directory", commit_hex, repo_path);

        if (ret_commit)
                memcpy(ret_commit, commit_hex, CFS_OSTREE_CHECKSUM_HEX);
        *ret_root = TAKE_PTR(root);
        return 0;
}

struct verity_walk {
        const char *repo_path;
        int objects_fd;
};

static int enable_one(cfs_node *n, void *userdata) {
        struct verity_walk *w = userdata;
        if (!S_ISREG(n->mode) || n->link_to || !n->payload)
                return 0;
        _cleanup_close_ int fd = openat(w->objects_fd, n->payload, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return log_error_errno(-errno, "Failed to open object %s/objects/%s: %m", w->repo_path, n->payload);
        int r = cfs_verity_enable_fd(fd);
        if (r == -EOPNOTSUPP) {
                char buf[16];
                return log_error_errno(r, "Cannot enable fs-verity on object %s/objects/%s: the filesystem (%s) or the kernel does not support it "
                                       "(for ext4: mkfs/tune2fs -O verity, 4096-byte blocks)",
                                       w->repo_path, n->payload, cfs_fs_name(fd, buf));
        }
        if (r < 0)
                return log_error_errno(r, "Failed to enable fs-verity on object %s/objects/%s: %m", w->repo_path, n->payload);
        return 0;
}

int cfs_ostree_enable_verity(const char *repo_path, cfs_node *root) {
        _cleanup_free_ char *objects = NULL;
        if (asprintf(&objects, "%s/objects", repo_path) < 0)
                return log_error_errno(-ENOMEM, "Out of memory");
        _cleanup_close_ int fd = open(objects, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(-errno, "Failed to open '%s': %m", objects);
        struct verity_walk w = { .repo_path = repo_path, .objects_fd = fd };
        return cfs_node_walk(root, enable_one, &w);
}
