/* SPDX-License-Identifier: MIT */
/* Reading an ostree commit into a cfs_node tree (see ostree-commit.h for the rules).
 *
 * The directory structure (commit, dirtree and dirmeta objects, all small) is walked on the
 * calling thread, each object checked by the SHA-256 of its bytes. The content objects,
 * where nearly all the bytes are, are loaded by worker threads (each with its own
 * OstreeRepo), one job per distinct object, taken as soon as a directory's entries are
 * queued, so walking and reading overlap; the calling thread joins them after the walk.
 *
 * For each content object libostree gives the metadata (ostree_repo_load_file(), or for bare
 * repositories fstat plus ostree_fs_get_all_xattrs(): see load_object_bare()) and the header
 * bytes ostree hashes before the content (ostree_raw_file_to_content_stream() without
 * content). The content is then read once, in big chunks, each feeding both the ostree
 * checksum (SHA-256 of header + content) and the fs-verity digest.
 *
 * Results go to the nodes on the calling thread after the join: workers write nothing but
 * their own job. */
#include <fcntl.h>
#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <openssl/evp.h>
#include <ostree.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>

/* glib defines these too, identically; ours follow. */
#undef MIN
#undef MAX

#include "log.h"
#include "ostree-commit.h"
#include "store.h"
#include "util.h"
#include "verity.h"

/* Files up to this size are read whole and get their fs-verity digest without a context. */
#define READ_CHUNK CFS_VERITY_SMALL_MAX
#define HEADER_CACHE 16

/* ---- Errors from glib: the message is kept for the one log line the caller writes ---- */

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

/* key: the checksum's first 8 bytes, so a probe reads the job only on a likely match
 * (jobs are spread over megabytes: each dereference is a cache miss). */
struct index_slot {
        uint64_t key;
        size_t job; /* job index + 1, 0 = free */
};

struct node_ref {
        cfs_node *node;
        size_t job;
};

struct reader {
        const char *repo_path;
        OstreeRepo *repo;
        struct index_slot *job_index; /* open addressing on the checksum */
        size_t job_index_size;       /* a power of two, at least twice n_jobs */
        GHashTable *dirmeta_cache;   /* hex -> GVariant (checked) */
        /* Jobs live in fixed chunks that never move, so a worker may hold one while the walk
         * queues more; the chunk table grows only under the lock. */
        struct object_job **chunks;
        size_t n_chunks_alloc;
        size_t n_jobs;
        struct node_ref *refs;
        size_t n_refs, refs_alloc;
        int objects_fd;  /* REPO/objects */
        int prefix_fd[256]; /* REPO/objects/xx, opened before the workers start (-1: none) */
        bool fast_bare;  /* read bare objects directly (see load_object_bare()) */
        GVariant *no_xattrs; /* the empty a(ayay) */
        EVP_MD *sha256; /* fetched once: EVP_sha256() is looked up again on every init */
        pthread_mutex_t lock; /* guards what follows, and the chunk table's growth */
        pthread_cond_t cond;
        size_t n_published; /* jobs workers may take */
        size_t next_job;
        bool walk_done;
        int error;          /* the first worker error: stops the others and the walk */
};

#define JOBS_PER_CHUNK 4096
#define JOBS_PER_TAKE 8
static struct object_job *job_at(struct reader *rd, size_t i) {
        return &rd->chunks[i / JOBS_PER_CHUNK][i % JOBS_PER_CHUNK];
}

/* Hands the queued jobs to the workers. */
static void publish(struct reader *rd, bool done) {
        pthread_mutex_lock(&rd->lock);
        rd->n_published = rd->n_jobs;
        if (done)
                rd->walk_done = true;
        pthread_cond_broadcast(&rd->cond);
        pthread_mutex_unlock(&rd->lock);
}

static int worker_error(struct reader *rd) {
        pthread_mutex_lock(&rd->lock);
        int r = rd->error;
        pthread_mutex_unlock(&rd->lock);
        return r;
}

static void csum_hex(const uint8_t csum[32], char out[CFS_OSTREE_CHECKSUM_HEX]) {
        hex_encode(csum, 32, out);
}

/* "xx/yyyy....file", relative to REPO/objects (ostree's loose object path for bare modes). */
#define OBJECT_PATH_SIZE (2 + 1 + 62 + 5 + 1)
static void object_path_buf(const uint8_t csum[32], char out[OBJECT_PATH_SIZE]) {
        char hex[CFS_OSTREE_CHECKSUM_HEX];
        csum_hex(csum, hex);
        out[0] = hex[0];
        out[1] = hex[1];
        out[2] = '/';
        memcpy(out + 3, hex + 2, 62);
        memcpy(out + 65, ".file", 6);
}

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
        g_autoptr(GError) err = NULL;
        g_autoptr(GVariant) v = NULL;
        uint8_t actual[32];

        csum_hex(csum, hex);
        if (!ostree_repo_load_variant(rd->repo, type, hex, &v, &err)) {
                int r = gerror_to_errno(err);
                if (r == -ENOENT && type == OSTREE_OBJECT_TYPE_COMMIT)
                        return r; /* the caller names the rev */
                return log_error_errno(r, "Failed to load %s object %s of '%s': %s",
                                       ostree_object_type_to_string(type), hex, rd->repo_path, err ? err->message : "unknown error");
        }
        if (EVP_Digest(g_variant_get_data(v), g_variant_get_size(v), actual, NULL, rd->sha256, NULL) != 1)
                return log_error_errno(-ENOMEM, "Failed to hash %s object %s of '%s'", ostree_object_type_to_string(type), hex, rd->repo_path);
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
                g_autoptr(GVariant) value = NULL;
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
        g_autoptr(GVariant) xattrs = NULL;
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

/* Checksums are uniformly distributed: their first bytes are the hash. */
static size_t slot_of(const uint8_t csum[32], size_t size) {
        uint64_t h;
        memcpy(&h, csum, sizeof h);
        return (size_t) h & (size - 1);
}

/* The slot holding csum's job, or the free slot where it belongs. */
static struct index_slot *index_find(struct reader *rd, const uint8_t csum[32]) {
        uint64_t key;
        memcpy(&key, csum, sizeof key);
        for (size_t i = slot_of(csum, rd->job_index_size);; i = (i + 1) & (rd->job_index_size - 1)) {
                struct index_slot *e = &rd->job_index[i];
                if (e->job == 0 || (e->key == key && memcmp(job_at(rd, e->job - 1)->csum, csum, 32) == 0))
                        return e;
        }
}

static void index_unmap(struct index_slot *index, size_t size) {
        if (index)
                munmap(index, size * sizeof *index);
}

static int index_grow(struct reader *rd) {
        size_t size = rd->job_index_size ? rd->job_index_size * 2 : 4096;
        struct index_slot *old = rd->job_index;
        size_t old_size = rd->job_index_size;
        /* Populated, not calloc()ed (nor malloc() + memset(), which the compiler turns into
         * calloc()): a fresh zero page that a probe reads and a later insert writes costs a
         * copy-on-write fault, and with the workers running, a TLB shootdown on every CPU. */
        void *p = mmap(NULL, size * sizeof *rd->job_index, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (p == MAP_FAILED)
                return -ENOMEM;
        rd->job_index = p;
        rd->job_index_size = size;
        /* Keys are distinct checksums' prefixes: only a free slot is needed, no compare. */
        for (size_t i = 0; i < old_size; i++)
                if (old[i].job != 0) {
                        size_t k = (size_t) old[i].key & (size - 1);
                        while (rd->job_index[k].job != 0)
                                k = (k + 1) & (size - 1);
                        rd->job_index[k] = old[i];
                }
        index_unmap(old, old_size);
        return 0;
}

static int queue_file(struct reader *rd, cfs_node *node, const uint8_t csum[32]) {
        struct index_slot *slot;
        size_t idx;

        if (rd->n_jobs * 2 >= rd->job_index_size && index_grow(rd) < 0)
                return log_error_errno(-ENOMEM, "Out of memory");
        slot = index_find(rd, csum);
        idx = slot->job;
        if (idx == 0) {
                size_t c = rd->n_jobs / JOBS_PER_CHUNK;
                if (rd->n_jobs % JOBS_PER_CHUNK == 0) {
                        struct object_job *chunk = calloc(JOBS_PER_CHUNK, sizeof *chunk);
                        if (!chunk)
                                return log_error_errno(-ENOMEM, "Out of memory");
                        pthread_mutex_lock(&rd->lock);
                        int r = GROW_ARRAY(rd->chunks, rd->n_chunks_alloc, c + 1, 64);
                        if (r >= 0)
                                rd->chunks[c] = chunk;
                        pthread_mutex_unlock(&rd->lock);
                        if (r < 0) {
                                free(chunk);
                                return log_error_errno(-ENOMEM, "Out of memory");
                        }
                }
                struct object_job *j = job_at(rd, rd->n_jobs);
                *j = (struct object_job) { .first = node };
                memcpy(j->csum, csum, 32);
                idx = ++rd->n_jobs;
                *slot = (struct index_slot) { .job = idx };
                memcpy(&slot->key, csum, sizeof slot->key);
        }
        if (GROW_ARRAY(rd->refs, rd->refs_alloc, rd->n_refs + 1, 1024) < 0)
                return log_error_errno(-ENOMEM, "Out of memory");
        rd->refs[rd->n_refs++] = (struct node_ref) { .node = node, .job = idx - 1 };
        return 0;
}

static int walk_dirtree(struct reader *rd, cfs_node *dir, const uint8_t tree_csum[32], unsigned depth) {
        g_autoptr(GVariant) tree = NULL;
        g_autoptr(GVariant) files = NULL;
        g_autoptr(GVariant) dirs = NULL;
        char hex[CFS_OSTREE_CHECKSUM_HEX];
        int r;

        csum_hex(tree_csum, hex);
        /* A corrupt object found meanwhile ends the walk; it is reported with the others. */
        r = worker_error(rd);
        if (r < 0)
                return r;
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

        /* Per entry, through an iterator and glib's accessors: g_variant_get_child()'s
         * format string costs more than the rest of the entry together, and an indexed
         * g_variant_get_child_value() on the array a third more than the iterator. */
        GVariantIter iter;
        g_variant_iter_init(&iter, files);
        for (GVariant *next; (next = g_variant_iter_next_value(&iter));) {
                g_autoptr(GVariant) entry = next;
                g_autoptr(GVariant) name_v = g_variant_get_child_value(entry, 0);
                g_autoptr(GVariant) csum_v = g_variant_get_child_value(entry, 1);
                const char *name = g_variant_get_string(name_v, NULL);
                uint8_t csum[32];
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
        publish(rd, false);

        size_t n = g_variant_n_children(dirs);
        for (size_t i = 0; i < n; i++) {
                const char *name;
                g_autoptr(GVariant) tree_v = NULL;
                g_autoptr(GVariant) meta_v = NULL;
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

/* What a worker keeps between objects. The header ostree hashes before the content depends
 * only on the metadata (owner, mode, xattrs), which most files share: libostree's bytes for
 * it are kept for the last few distinct metadata seen. */
struct header_entry {
        uint32_t uid, gid, mode;
        GVariant *xattrs; /* NULL for none */
        uint8_t *bytes;
        size_t len;
};

struct worker {
        struct reader *rd;
        OstreeRepo *repo;
        uint8_t *buf; /* READ_CHUNK bytes */
        EVP_MD_CTX *md;
        struct header_entry headers[HEADER_CACHE];
        unsigned n_headers, next_evict;
};

static void header_entry_clear(struct header_entry *e) {
        if (e->xattrs)
                g_variant_unref(e->xattrs);
        free(e->bytes);
        *e = (struct header_entry) {};
}

/* The bytes ostree hashes before a regular file's content, or a symlink's whole object. */
static int object_header(GFileInfo *info, GVariant *xattrs, uint8_t **ret, size_t *ret_len, GError **err) {
        g_autoptr(GInputStream) hdr = NULL;
        guint64 len = 0;
        if (!ostree_raw_file_to_content_stream(NULL, info, xattrs, &hdr, &len, NULL, err))
                return -EIO;
        size_t alloc = 0, n = 0;
        uint8_t *buf = NULL;
        for (;;) {
                if (GROW_ARRAY(buf, alloc, n + 4096, 4096) < 0) {
                        free(buf);
                        return -ENOMEM;
                }
                gssize k = g_input_stream_read(hdr, buf + n, alloc - n, NULL, err);
                if (k < 0) {
                        free(buf);
                        return -EIO;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
        }
        *ret = buf;
        *ret_len = n;
        return 0;
}

static bool xattrs_equal(GVariant *a, GVariant *b) {
        size_t na = a ? g_variant_n_children(a) : 0, nb = b ? g_variant_n_children(b) : 0;
        if (na == 0 || nb == 0)
                return na == nb;
        return g_variant_equal(a, b);
}

/* Feeds the object's header to w->md: cached for regular files, built for symlinks (their
 * target is part of it). */
static int hash_header(struct worker *w, GFileInfo *info, uint32_t uid, uint32_t gid, uint32_t mode, GVariant *xattrs,
                       bool regular, GError **err) {
        g_autoptr(GFileInfo) made = NULL;
        int r;

        if (regular)
                for (unsigned i = 0; i < w->n_headers; i++) {
                        struct header_entry *e = &w->headers[i];
                        if (e->uid == uid && e->gid == gid && e->mode == mode && xattrs_equal(e->xattrs, xattrs)) {
                                EVP_DigestUpdate(w->md, e->bytes, e->len);
                                return 0;
                        }
                }
        if (!info) {
                /* What ostree's header reads of a regular file's metadata. */
                info = made = g_file_info_new();
                g_file_info_set_file_type(info, G_FILE_TYPE_REGULAR);
                g_file_info_set_attribute_uint32(info, "unix::uid", uid);
                g_file_info_set_attribute_uint32(info, "unix::gid", gid);
                g_file_info_set_attribute_uint32(info, "unix::mode", mode);
        }
        _cleanup_free_ uint8_t *bytes = NULL;
        size_t len;
        r = object_header(info, xattrs ?: w->rd->no_xattrs, &bytes, &len, err);
        if (r < 0)
                return r;
        EVP_DigestUpdate(w->md, bytes, len);
        if (regular) {
                unsigned i = w->n_headers < HEADER_CACHE ? w->n_headers++ : w->next_evict++ % HEADER_CACHE;
                header_entry_clear(&w->headers[i]);
                w->headers[i] = (struct header_entry) {
                        .uid = uid, .gid = gid, .mode = mode,
                        .xattrs = xattrs ? g_variant_ref(xattrs) : NULL,
                        .bytes = TAKE_PTR(bytes), .len = len,
                };
        }
        return 0;
}

/* Reads the content once: each chunk goes to the ostree checksum (w->md) and the fs-verity
 * digest. Returns the number of bytes read. With the size known (expect, else UINT64_MAX),
 * reads ask for one byte more than is left, so a small file takes one read() as in
 * scan.c: a local filesystem returns everything up to EOF at once, and a short read that
 * ends exactly at the expected size is EOF. A file that grew shows as more bytes read. */
static int hash_content(struct worker *w, int fd, GInputStream *in, uint64_t expect, struct object_job *job, uint64_t *ret_total,
                        GError **err) {
        cfs_verity_ctx *verity = NULL;
        uint64_t total = 0;
        size_t fill = 0;
        int r = 0;

        for (;;) {
                ssize_t n;
                if (fd >= 0) {
                        size_t want = READ_CHUNK - fill;
                        if (expect != UINT64_MAX && total <= expect && expect - total < want)
                                want = (size_t) (expect - total) + 1;
                        n = read(fd, w->buf + fill, want);
                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0)
                                r = -errno;
                        if (n >= 0 && (size_t) n < want && total + (uint64_t) n == expect) {
                                /* Short at the expected size: EOF, no second call. */
                                EVP_DigestUpdate(w->md, w->buf + fill, (size_t) n);
                                fill += (size_t) n;
                                total += (uint64_t) n;
                                break;
                        }
                } else {
                        n = g_input_stream_read(in, w->buf + fill, READ_CHUNK - fill, NULL, err);
                        if (n < 0)
                                r = -EIO;
                }
                if (n <= 0)
                        break;
                EVP_DigestUpdate(w->md, w->buf + fill, (size_t) n);
                fill += (size_t) n;
                total += (uint64_t) n;
                if (fill == READ_CHUNK) {
                        /* Bigger than a one-level tree: stream it. */
                        if (!verity) {
                                verity = cfs_verity_new();
                                if (!verity)
                                        return -ENOMEM;
                        }
                        cfs_verity_update(verity, w->buf, fill);
                        fill = 0;
                }
        }
        if (r >= 0) {
                if (verity) {
                        cfs_verity_update(verity, w->buf, fill);
                        cfs_verity_final(verity, job->digest);
                } else
                        cfs_verity_digest_small(w->buf, fill, job->digest);
                job->has_digest = true;
                *ret_total = total;
        }
        cfs_verity_free(verity);
        return r;
}

/* A regular file object of a bare repository is a file with the object's own metadata:
 * libostree's ostree_repo_load_file() for it comes down to fstatat, openat and
 * ostree_fs_get_all_xattrs(), plus a GFileInfo and a stream (three more syscalls for glib's
 * pollability check) that cost more than the rest together on small files. So it is opened
 * here directly, relative to REPO/objects only (an object of a parent repository could not
 * back the image anyway), and its xattrs come from libostree's own reader. Symlinks are
 * left to ostree_repo_load_file(): returns 1 for them. */
static int load_object_bare(struct worker *w, struct object_job *job) {
        g_autoptr(GError) err = NULL;
        g_autoptr(GVariant) xattrs = NULL;
        _cleanup_close_ int fd = -EBADF;
        char name[CFS_OSTREE_CHECKSUM_HEX + 8];
        struct stat st;
        uint8_t actual[32];
        uint64_t total = 0;
        ssize_t n;
        int r;

        /* Relative to the xx/ directory: one path component to resolve, not two. */
        csum_hex(job->csum, name);
        memmove(name, name + 2, 62);
        memcpy(name + 62, ".file", 6);
        int dfd = w->rd->prefix_fd[job->csum[0]];
        if (dfd < 0) {
                job->error_msg = strdup("not found");
                return -ENOENT;
        }
        fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0 && errno == ELOOP)
                return 1;
        if (fd < 0) {
                r = -errno;
                job->error_msg = strdup(r == -ENOENT ? "not found" : strerror(-r));
                return r;
        }
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode)) {
                job->error_msg = strdup("not a regular file or symlink");
                return -EBADMSG;
        }
        /* Most objects have none: then NULL, no GVariant to build, compare and free. */
        n = flistxattr(fd, NULL, 0);
        if (n < 0 && errno != ENOTSUP)
                return -errno;
        if (n > 0) {
                xattrs = ostree_fs_get_all_xattrs(fd, NULL, &err);
                if (!xattrs) {
                        job->error_msg = strdup(err ? err->message : "cannot read its xattrs");
                        return -EIO;
                }
        }
        if (EVP_DigestInit_ex2(w->md, w->rd->sha256, NULL) != 1)
                return -ENOMEM;
        r = hash_header(w, NULL, st.st_uid, st.st_gid, st.st_mode, xattrs, true, &err);
        if (r >= 0)
                r = hash_content(w, fd, NULL, (uint64_t) st.st_size, job, &total, &err);
        if (r < 0) {
                job->error_msg = strdup(err ? err->message : strerror(-r));
                return r;
        }
        if (total != (uint64_t) st.st_size) {
                job->error_msg = strdup("it changed size while it was read");
                return -EBADMSG;
        }
        if (EVP_DigestFinal_ex(w->md, actual, NULL) != 1)
                return -EIO;
        if (memcmp(actual, job->csum, 32) != 0) {
                char ahex[CFS_OSTREE_CHECKSUM_HEX];
                csum_hex(actual, ahex);
                if (asprintf(&job->error_msg, "its content and metadata have checksum %s", ahex) < 0)
                        job->error_msg = NULL;
                return -EBADMSG;
        }
        job->mode = st.st_mode;
        job->uid = st.st_uid;
        job->gid = st.st_gid;
        job->size = total;
        job->xattrs = g_steal_pointer(&xattrs);
        return 0;
}

/* One content object: metadata from libostree, content read once for both checksums. */
static int load_object(struct worker *w, struct object_job *job) {
        char hex[CFS_OSTREE_CHECKSUM_HEX];
        g_autoptr(GError) err = NULL;
        g_autoptr(GInputStream) in = NULL;
        g_autoptr(GFileInfo) info = NULL;
        g_autoptr(GVariant) xattrs = NULL;
        uint8_t actual[32];
        uint64_t total = 0;
        int r;

        if (w->rd->fast_bare) {
                r = load_object_bare(w, job);
                if (r <= 0)
                        return r;
        }
        csum_hex(job->csum, hex);
        if (!ostree_repo_load_file(w->repo, hex, &in, &info, &xattrs, NULL, &err)) {
                job->error_msg = strdup(err ? err->message : "unknown error");
                return gerror_to_errno(err);
        }
        GFileType type = g_file_info_get_file_type(info);
        if (type != G_FILE_TYPE_REGULAR && type != G_FILE_TYPE_SYMBOLIC_LINK) {
                job->error_msg = strdup("not a regular file or symlink");
                return -EBADMSG;
        }
        /* libostree also looks in a parent repository, but the image can only point into
         * REPO/objects. */
        if (type == G_FILE_TYPE_REGULAR && g_file_info_get_size(info) > 0) {
                char path[OBJECT_PATH_SIZE];
                object_path_buf(job->csum, path);
                if (faccessat(w->rd->objects_fd, path, F_OK, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = -errno;
                        job->error_msg = strdup(r == -ENOENT ? "not in this repository (in a parent repository?)" : strerror(-r));
                        return r;
                }
        }
        if (EVP_DigestInit_ex2(w->md, w->rd->sha256, NULL) != 1)
                return -ENOMEM;
        r = hash_header(w, info, g_file_info_get_attribute_uint32(info, "unix::uid"), g_file_info_get_attribute_uint32(info, "unix::gid"),
                        g_file_info_get_attribute_uint32(info, "unix::mode"), xattrs, type == G_FILE_TYPE_REGULAR, &err);
        if (r >= 0 && type == G_FILE_TYPE_REGULAR && in)
                r = hash_content(w, G_IS_UNIX_INPUT_STREAM(in) ? g_unix_input_stream_get_fd(G_UNIX_INPUT_STREAM(in)) : -1, in,
                                 UINT64_MAX, job, &total, &err);
        if (r < 0) {
                job->error_msg = strdup(err ? err->message : strerror(-r));
                return r;
        }
        if (type == G_FILE_TYPE_REGULAR && total != (uint64_t) g_file_info_get_size(info)) {
                job->error_msg = strdup("its size differs from its metadata");
                return -EBADMSG;
        }
        if (EVP_DigestFinal_ex(w->md, actual, NULL) != 1)
                return -EIO;

        if (memcmp(actual, job->csum, 32) != 0) {
                char ahex[CFS_OSTREE_CHECKSUM_HEX];
                csum_hex(actual, ahex);
                if (asprintf(&job->error_msg, "its content and metadata have checksum %s", ahex) < 0)
                        job->error_msg = NULL;
                return -EBADMSG;
        }

        job->mode = g_file_info_get_attribute_uint32(info, "unix::mode");
        job->uid = g_file_info_get_attribute_uint32(info, "unix::uid");
        job->gid = g_file_info_get_attribute_uint32(info, "unix::gid");
        job->size = total;
        if (type == G_FILE_TYPE_SYMBOLIC_LINK) {
                job->symlink_target = strdup(g_file_info_get_symlink_target(info) ?: "");
                if (!job->symlink_target)
                        return -ENOMEM;
        }
        job->xattrs = g_steal_pointer(&xattrs);
        return 0;
}

static void *worker_main(void *userdata) {
        struct worker *w = userdata;
        struct reader *rd = w->rd;

        for (;;) {
                pthread_mutex_lock(&rd->lock);
                while (rd->next_job >= rd->n_published && !rd->walk_done && rd->error == 0)
                        pthread_cond_wait(&rd->cond, &rd->lock);
                if (rd->error != 0 || rd->next_job >= rd->n_published) {
                        pthread_mutex_unlock(&rd->lock);
                        break;
                }
                /* A few at a time: one lock round per batch, not per object. */
                struct object_job *batch[JOBS_PER_TAKE];
                size_t n = 0;
                while (n < JOBS_PER_TAKE && rd->next_job < rd->n_published)
                        batch[n++] = job_at(rd, rd->next_job++);
                pthread_mutex_unlock(&rd->lock);

                for (size_t k = 0; k < n; k++) {
                        int r = load_object(w, batch[k]);
                        if (r < 0) {
                                batch[k]->error = r;
                                pthread_mutex_lock(&rd->lock);
                                if (rd->error == 0)
                                        rd->error = r;
                                pthread_cond_broadcast(&rd->cond);
                                pthread_mutex_unlock(&rd->lock);
                                break;
                        }
                }
        }
        return NULL;
}

static unsigned default_threads(void) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        return n < 1 ? 1 : n > 64 ? 64 : (unsigned) n;
}

static int open_repo(const char *path, OstreeRepo **ret, GError **err) {
        g_autoptr(GFile) f = g_file_new_for_path(path);
        g_autoptr(OstreeRepo) repo = ostree_repo_new(f);
        if (!ostree_repo_open(repo, NULL, err))
                return gerror_to_errno(*err);
        *ret = TAKE_PTR(repo);
        return 0;
}

struct pool {
        struct worker *workers;
        pthread_t *tids;
        unsigned n, started;
};

static void pool_free(struct pool *p) {
        for (unsigned i = 0; p->workers && i < p->n; i++) {
                struct worker *w = &p->workers[i];
                if (w->repo)
                        g_object_unref(w->repo);
                free(w->buf);
                EVP_MD_CTX_free(w->md);
                for (unsigned k = 0; k < w->n_headers; k++)
                        header_entry_clear(&w->headers[k]);
        }
        free(p->workers);
        free(p->tids);
        *p = (struct pool) {};
}

/* Workers 1..n-1 start now and wait for jobs; worker 0 is the calling thread, after the walk. */
static int pool_start(struct reader *rd, unsigned n_threads, struct pool *p) {
        int r;

        p->n = MAX(1u, n_threads);
        p->workers = calloc(p->n, sizeof *p->workers);
        p->tids = calloc(p->n, sizeof *p->tids);
        if (!p->workers || !p->tids)
                return log_error_errno(-ENOMEM, "Out of memory");
        for (unsigned i = 0; i < p->n; i++) {
                g_autoptr(GError) err = NULL;
                struct worker *w = &p->workers[i];
                w->rd = rd;
                w->buf = malloc(READ_CHUNK);
                w->md = EVP_MD_CTX_new();
                if (!w->buf || !w->md)
                        return log_error_errno(-ENOMEM, "Out of memory");
                if (i == 0)
                        w->repo = g_object_ref(rd->repo);
                else {
                        r = open_repo(rd->repo_path, &w->repo, &err);
                        if (r < 0)
                                return log_error_errno(r, "Failed to open the ostree repository '%s': %s", rd->repo_path, err->message);
                }
        }
        for (p->started = 1; p->started < p->n; p->started++) {
                r = -pthread_create(&p->tids[p->started], NULL, worker_main, &p->workers[p->started]);
                if (r < 0)
                        return log_error_errno(r, "Failed to start a thread: %m");
        }
        return 0;
}

/* Ends the pool: with walk_ok, the calling thread works too until the jobs are done;
 * otherwise the workers are told to stop. */
static void pool_join(struct reader *rd, struct pool *p, bool walk_ok) {
        if (!walk_ok) {
                pthread_mutex_lock(&rd->lock);
                if (rd->error == 0)
                        rd->error = -ECANCELED;
                pthread_cond_broadcast(&rd->cond);
                pthread_mutex_unlock(&rd->lock);
        } else {
                publish(rd, true);
                if (p->workers)
                        worker_main(&p->workers[0]);
        }
        for (unsigned i = 1; i < p->started; i++)
                pthread_join(p->tids[i], NULL);
        p->started = 0;
}

/* The first failed object in tree order. */
static int report_objects(struct reader *rd) {
        for (size_t i = 0; i < rd->n_jobs; i++) {
                struct object_job *j = job_at(rd, i);
                if (j->error == 0)
                        continue;
                char hex[CFS_OSTREE_CHECKSUM_HEX];
                _cleanup_free_ char *path = cfs_node_path(j->first), *obj = object_path(j->csum);
                csum_hex(j->csum, hex);
                if (j->error == -EBADMSG)
                        return log_error_errno(j->error, "Corrupt object %s/objects/%s (for '%s'): %s; refusing to build an image",
                                               rd->repo_path, obj ?: hex, path ?: "?", j->error_msg ?: "checksum mismatch");
                if (j->error == -ENOENT)
                        return log_error_errno(j->error, "Missing object %s/objects/%s (for '%s'): %s", rd->repo_path, obj ?: hex,
                                               path ?: "?", j->error_msg ?: "not found");
                return log_error_errno(j->error, "Failed to read object %s/objects/%s (for '%s'): %s", rd->repo_path,
                                       obj ?: hex, path ?: "?", j->error_msg ?: strerror(-j->error));
        }
        return 0;
}

static int apply_objects(struct reader *rd) {
        for (size_t i = 0; i < rd->n_refs; i++) {
                cfs_node *n = rd->refs[i].node;
                struct object_job *j = job_at(rd, rd->refs[i].job);
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
                                char p[OBJECT_PATH_SIZE];
                                object_path_buf(j->csum, p);
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
                struct object_job *j = job_at(rd, i);
                free(j->symlink_target);
                free(j->error_msg);
                if (j->xattrs)
                        g_variant_unref(j->xattrs);
        }
        for (size_t c = 0; c * JOBS_PER_CHUNK < rd->n_jobs; c++)
                free(rd->chunks[c]);
        free(rd->chunks);
        pthread_mutex_destroy(&rd->lock);
        pthread_cond_destroy(&rd->cond);
        free(rd->refs);
        index_unmap(rd->job_index, rd->job_index_size);
        if (rd->dirmeta_cache)
                g_hash_table_unref(rd->dirmeta_cache);
        if (rd->repo)
                g_object_unref(rd->repo);
        safe_close(rd->objects_fd);
        for (unsigned i = 0; i < 256; i++)
                safe_close(rd->prefix_fd[i]);
        if (rd->no_xattrs)
                g_variant_unref(rd->no_xattrs);
        EVP_MD_free(rd->sha256);
}

int cfs_ostree_read_commit(const char *repo_path, const char *rev, const struct cfs_ostree_options *opts,
                           cfs_node **ret_root, struct cfs_ostree_commit_info *ret_info) {
        _cleanup_(reader_done) struct reader rd = {
                .repo_path = repo_path,
                .objects_fd = -EBADF,
                .lock = PTHREAD_MUTEX_INITIALIZER,
                .cond = PTHREAD_COND_INITIALIZER,
        };
        _cleanup_(pool_free) struct pool pool = {};
        for (unsigned i = 0; i < 256; i++)
                rd.prefix_fd[i] = -EBADF;
        g_autoptr(GError) err = NULL;
        _cleanup_free_ char *commit_hex = NULL;
        g_autoptr(GVariant) commit = NULL;
        g_autoptr(GVariant) tree_v = NULL;
        g_autoptr(GVariant) meta_v = NULL;
        g_autoptr(GVariant) md = NULL;
        g_autoptr(GVariant) recorded = NULL;
        struct cfs_ostree_commit_info info = {};
        _cleanup_node_ cfs_node *root = NULL;
        uint8_t commit_csum[32], tree_csum[32], meta_csum[32];
        struct stat st;
        int r;

        /* libostree's message for a missing directory is less clear than this. */
        if (stat(repo_path, &st) < 0)
                return log_error_errno(-errno, "Cannot open the ostree repository '%s': %m", repo_path);
        if (!S_ISDIR(st.st_mode))
                return log_error_errno(-ENOTDIR, "'%s' is not an ostree repository: not a directory", repo_path);
        rd.sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
        if (!rd.sha256)
                return log_error_errno(-ENOMEM, "Failed to set up SHA-256 (OpenSSL)");
        r = open_repo(repo_path, &rd.repo, &err);
        if (r < 0)
                return log_error_errno(-EINVAL, "'%s' is not an ostree repository: %s", repo_path, err->message);

        OstreeRepoMode mode = ostree_repo_get_mode(rd.repo);
        if (mode == OSTREE_REPO_MODE_ARCHIVE)
                return log_error_errno(-EOPNOTSUPP, "The ostree repository '%s' has mode archive: its objects are compressed and "
                                       "cannot back a composefs image (mode bare or bare-user is needed)", repo_path);
        /* bare-user-only and bare-split-xattrs are not tested here: refused rather than guessed. */
        if (mode != OSTREE_REPO_MODE_BARE && mode != OSTREE_REPO_MODE_BARE_USER)
                return log_error_errno(-EOPNOTSUPP, "The ostree repository '%s' has mode %s, which mkcfs --ostree does not support "
                                       "(mode bare or bare-user is needed)", repo_path,
                                       mode == OSTREE_REPO_MODE_BARE_USER_ONLY ? "bare-user-only"
                                       : mode == OSTREE_REPO_MODE_BARE_SPLIT_XATTRS ? "bare-split-xattrs" : "unknown");

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

        md = g_variant_get_child_value(commit, 0);
        recorded = g_variant_lookup_value(md, "ostree.composefs.digest.v0", G_VARIANT_TYPE_BYTESTRING);
        if (recorded) {
                gsize n;
                const void *p = g_variant_get_fixed_array(recorded, &n, 1);
                if (n == CFS_DIGEST_SIZE) {
                        memcpy(info.recorded_digest, p, CFS_DIGEST_SIZE);
                        info.has_recorded_digest = true;
                }
        }

        /* libostree reads bare objects with their xattrs unless the repository says not to. */
        rd.fast_bare = mode == OSTREE_REPO_MODE_BARE &&
                       !g_key_file_get_boolean(ostree_repo_get_config(rd.repo), "core", "disable-xattrs", NULL);
        rd.objects_fd = openat(ostree_repo_get_dfd(rd.repo), "objects", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (rd.objects_fd < 0)
                return log_error_errno(-errno, "Failed to open '%s/objects': %m", repo_path);
        for (unsigned i = 0; i < 256; i++) {
                char xx[3];
                hex_encode((const uint8_t[]) { (uint8_t) i }, 1, xx);
                rd.prefix_fd[i] = openat(rd.objects_fd, xx, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                if (rd.prefix_fd[i] < 0 && errno != ENOENT)
                        return log_error_errno(-errno, "Failed to open '%s/objects/%s': %m", repo_path, xx);
        }
        rd.no_xattrs = g_variant_ref_sink(g_variant_new_array(G_VARIANT_TYPE("(ayay)"), NULL, 0));

        rd.dirmeta_cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_variant_unref);
        root = cfs_node_new(S_IFDIR | 0755);
        if (!root)
                return log_error_errno(-ENOMEM, "Out of memory");
        r = apply_dirmeta(&rd, root, meta_csum);
        if (r < 0)
                return r;
        r = pool_start(&rd, opts && opts->n_threads ? opts->n_threads : default_threads(), &pool);
        if (r >= 0)
                r = walk_dirtree(&rd, root, tree_csum, 0);
        pool_join(&rd, &pool, r >= 0);
        /* An object error beats the walk's: the walk stops early on one (-ECANCELED). */
        int q = report_objects(&rd);
        if (q < 0)
                return q;
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

        memcpy(info.commit, commit_hex, CFS_OSTREE_CHECKSUM_HEX);
        if (ret_info)
                *ret_info = info;
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
