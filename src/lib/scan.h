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


