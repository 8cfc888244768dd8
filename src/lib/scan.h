/* SPDX-License-Identifier: MIT */
/* Directory tree -> cfs_node tree: what mkcfs records about a source directory.
 *
 * Every entry is lstat'ed (statx relative to its directory fd, never following symlinks);
 * modes, owners, mtimes (ns), device numbers, symlink targets and all xattrs are kept.
 * Regular files of 1..CFS_SCAN_INLINE_MAX bytes are inlined (as upstream mkcomposefs does);
 * larger ones get their fs-verity digest and the backing path "xx/yyyy..." of the object
 * store, plus src_path (relative to the source root) so a store can be filled. Entries
 * sharing an inode become hard links to the first of them in sorted order. The result is
 * sorted and does not depend on directory listing order or on the thread count.
 *
 * Errors are logged here (this layer knows the path) and returned as -errno. */
#pragma once

#include <stdbool.h>

#include "tree.h"

/* Upstream's LCFS_RECOMMENDED_INLINE_CONTENT_MAX: non-empty files up to this size are inlined. */
#define CFS_SCAN_INLINE_MAX 64

struct cfs_scan_options {
        unsigned n_threads;   /* 0: one per online CPU */
        bool one_file_system; /* do not descend into directories on another filesystem */
};

/* Scans the directory `path`. The root node gets the directory's own metadata. */
int cfs_scan(const char *path, const struct cfs_scan_options *opts, cfs_node **ret_root);

/* The object-store path of a digest: "xx/" + 62 hex chars; out must hold 66 bytes. */
#define CFS_OBJECT_PATH_SIZE (CFS_DIGEST_SIZE * 2 + 2)
void cfs_object_path(const uint8_t digest[CFS_DIGEST_SIZE], char out[CFS_OBJECT_PATH_SIZE]);

/* fs-verity digest of a file whose size is known and small (<= CFS_SCAN_FAST_DIGEST_MAX):
 * one read into the caller's buffer, no context allocation. Same result as
 * cfs_verity_digest_buffer(). */
#define CFS_SCAN_FAST_DIGEST_MAX ((size_t) CFS_VERITY_BLOCK_SIZE * (CFS_VERITY_BLOCK_SIZE / CFS_DIGEST_SIZE))
void cfs_scan_digest_small(const void *data, size_t n, uint8_t ret_digest[CFS_DIGEST_SIZE]);

/* Reads exactly `size` bytes of fd in order, handing each piece to fn: data (read into buf,
 * at most buf_size bytes at a time) or, for a hole, data == NULL and the hole's length, so
 * holes are never read (reading a hole fills the page cache with zeros). -ESTALE if the
 * file is shorter or longer than `size`; fn's errors are passed on. */
typedef int (*cfs_chunk_fn)(const uint8_t *data, size_t n, uint64_t off, void *userdata);
int cfs_read_sparse(int fd, uint64_t size, uint8_t *buf, size_t buf_size, cfs_chunk_fn fn, void *userdata);

/* Streaming fs-verity digest (same result as cfs_verity_*) that also takes runs of zeros
 * (holes) by length, at a cost of a few hashes per tree level however long the run. */
typedef struct cfs_merkle cfs_merkle;
cfs_merkle *cfs_merkle_new(void);
cfs_merkle *cfs_merkle_free(cfs_merkle *m);
void cfs_merkle_update(cfs_merkle *m, const void *data, size_t n);
void cfs_merkle_zeros(cfs_merkle *m, uint64_t n);
void cfs_merkle_final(cfs_merkle *m, uint8_t ret_digest[CFS_DIGEST_SIZE]);
