/* SPDX-License-Identifier: MIT */
/* Content-addressed object store: DIR/xx/yyyy... holds the file whose fs-verity digest is
 * xxyyyy... . Many images share one store; an object, once under its final name, is never
 * rewritten. Errors are logged here and returned as -errno. */
#pragma once

#include <stdbool.h>

#include "tree.h"

struct cfs_store_options {
        unsigned n_threads; /* 0: one per online CPU */
        bool enable_verity; /* enable fs-verity on every object (new and existing) */
        bool verify_store;  /* re-hash every existing object before reusing it */
};

struct cfs_store_stats {
        size_t n_objects;  /* distinct objects the tree needs */
        size_t n_new;      /* of which copied by this call */
        size_t n_replaced; /* of which found damaged and replaced (each reported) */
        uint64_t new_bytes;
};

/* Makes sure every non-inlined regular file of the tree (src_path, relative to src_root) is
 * in the store at `store_path` (created if missing), durably: on success everything is on
 * disk. Each copied object is verified against its digest while copying. An existing object
 * is reused only if it is a regular file whose fs-verity digest (when it has one) equals its
 * name and whose size matches (and, with verify_store, whose re-hashed content matches);
 * otherwise it is replaced atomically and a warning names it. */
int cfs_store_fill(const char *store_path, const char *src_root, cfs_node *root,
                   const struct cfs_store_options *opts, struct cfs_store_stats *ret_stats);

/* A human name for the filesystem behind fd ("ext4", "tmpfs", "0x1234abcd"), for messages. */
const char *cfs_fs_name(int fd, char buf[16]);
