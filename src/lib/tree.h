/* SPDX-License-Identifier: MIT */
/* The in-memory inode tree every source (directory, dump file, image) is turned into and
 * the image writer consumes. Pure data: no I/O here.
 *
 * A node holds what the image records about one inode. Only user-visible xattrs are kept
 * here: the overlayfs xattrs that make a composefs image (metacopy, redirect, whiteout
 * markers) are derived by the writer from `digest`/`payload`/`mode`, and user-supplied
 * "trusted.overlay.*" xattrs are escaped by the writer and unescaped by the reader. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "verity.h"

#define CFS_NAME_MAX 255
#define CFS_PATH_MAX 4096

struct cfs_xattr {
        char *key;
        uint8_t *value;
        size_t value_len;
};

typedef struct cfs_node cfs_node;

struct cfs_node {
        cfs_node *parent; /* NULL for the root */
        char *name;       /* name in parent; NULL for the root */

        /* A hard link: this directory entry names the inode of link_to (never a directory),
         * which owns all inode fields; the fields below are unused on such a node. */
        cfs_node *link_to;

        uint32_t mode; /* S_IFMT | permission bits */
        uint32_t uid, gid;
        uint32_t nlink; /* kept as given; the writer computes the one it records */
        uint64_t rdev;  /* device number (makedev encoding) for S_IFCHR/S_IFBLK */
        uint64_t size;  /* regular files: content size */
        int64_t mtime_sec;
        uint32_t mtime_nsec;

        char *payload;     /* symlink target; or a regular file's backing path, relative to the basedir */
        uint8_t *content;  /* inline content of a regular file (exactly `size` bytes), or NULL */
        bool has_digest;   /* regular files: digest is the content's fs-verity SHA-256 */
        uint8_t digest[CFS_DIGEST_SIZE];

        struct cfs_xattr *xattrs;
        size_t n_xattrs;

        cfs_node **children; /* directories: entries, in insertion order until cfs_node_sort_children() */
        size_t n_children, children_alloc;

        char *src_path; /* where the content comes from when building a store; never in an image */

        uint64_t priv[4]; /* scratch for the writer/reader; do not use elsewhere */
};

cfs_node *cfs_node_new(uint32_t mode);
/* Frees a node and everything below it. Accepts NULL, returns NULL. */
cfs_node *cfs_node_free(cfs_node *n);
void cfs_node_freep(cfs_node **n);
#define _cleanup_node_ __attribute__((cleanup(cfs_node_freep)))

/* Checks a single path component: -EINVAL for "", ".", "..", "/" inside, NUL, or
 * over CFS_NAME_MAX bytes (-ENAMETOOLONG). */
int cfs_name_valid(const char *name, size_t len);

/* Takes ownership of child on success only. -ENOTDIR parent not a directory, -EEXIST name
 * taken, -EINVAL/-ENAMETOOLONG bad name, -EBUSY child already in a tree. O(1) amortised: duplicate detection happens in
 * cfs_node_sort_children() for callers that pass `check_dup = false`. */
int cfs_node_add_child(cfs_node *parent, cfs_node *child, const char *name, bool check_dup);
/* A linear scan: callers that build big trees keep their own index. */
cfs_node *cfs_node_lookup_child(const cfs_node *dir, const char *name);
/* Sorts entries by name (bytewise, as strcmp); -EEXIST if two share a name. Recursive. */
int cfs_node_sort_children(cfs_node *dir);

int cfs_node_set_payload(cfs_node *n, const char *payload);
/* -EFBIG above the inline limit (5000 bytes, as upstream). */
int cfs_node_set_content(cfs_node *n, const void *data, size_t len);
void cfs_node_set_digest(cfs_node *n, const uint8_t digest[CFS_DIGEST_SIZE]);
/* Adds or replaces. -EINVAL for an empty key or one without a user./trusted./security./
 * system. prefix; -E2BIG for a value over 65535 bytes. */
int cfs_node_set_xattr(cfs_node *n, const char *key, const void *value, size_t len);
const struct cfs_xattr *cfs_node_get_xattr(const cfs_node *n, const char *key);
/* Makes n a hard link to target: -EPERM if target is a directory, -ELOOP if target is n. */
int cfs_node_make_hardlink(cfs_node *n, cfs_node *target);

/* The inode behind an entry (follows link_to). */
static inline cfs_node *cfs_node_inode(cfs_node *n) { return n->link_to ? n->link_to : n; }

/* Path from the root ("/" for the root), malloc'ed. */
char *cfs_node_path(const cfs_node *n);

/* Depth-first pre-order walk, children in their current order. The callback returns 0 to go
 * on, > 0 to skip a directory's children, < 0 to stop (returned). */
typedef int (*cfs_walk_fn)(cfs_node *n, void *userdata);
int cfs_node_walk(cfs_node *root, cfs_walk_fn fn, void *userdata);

/* ---- Image writer and reader (erofs-writer.c, erofs-reader.c) ---- */

struct cfs_write_options {
        unsigned min_version, max_version; /* composefs format version range (default 0..1) */
};

/* Writes the composefs EROFS image of the tree to fd from offset 0 (fd should be empty).
 * Sorts the tree, may fill priv fields. -EINVAL on a tree the format cannot hold, -EFBIG for
 * an external file over 2^53 bytes. nlink is computed for directories and recorded as given
 * for everything else, as upstream does. */
int cfs_image_write(cfs_node *root, int fd, const struct cfs_write_options *opts);

/* Reads and validates an image (untrusted input: never crashes, -EBADMSG for anything that
 * is not a well-formed composefs image; never reads out of bounds). */
int cfs_image_read(int fd, cfs_node **ret_root);
int cfs_image_read_buffer(const void *data, size_t size, cfs_node **ret_root);

/* ---- Dump format (dump.c): composefs-dump(5) ---- */

struct cfs_parse_error {
        unsigned line; /* 1-based line of the error, 0 if not tied to a line */
        char msg[256];
};

/* Parses a whole dump. On error returns -EINVAL (or -ENOMEM/-EIO) and fills *err. */
int cfs_dump_parse(FILE *f, cfs_node **ret_root, struct cfs_parse_error *err);
int cfs_dump_parse_buffer(const char *data, size_t size, cfs_node **ret_root, struct cfs_parse_error *err);
/* Writes the tree in dump format (pre-order, children sorted). */
int cfs_dump_write(FILE *f, cfs_node *root);
