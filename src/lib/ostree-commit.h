/* SPDX-License-Identifier: MIT */
/* An ostree commit -> cfs_node tree: the image ostree (built with composefs) makes of a
 * commit, read through libostree with no checkout, so that the fs-verity digest of our
 * image equals the `ostree.composefs.digest.v0` that ostree records.
 *
 * The tree follows ostree's own rules: every mtime 0, nlink 1 (hard links are not kept:
 * equal content shares one object), nothing inlined, non-empty regular files redirect to
 * their content object "xx/<62 hex>.file" relative to REPO/objects with the object's
 * fs-verity digest, empty files no redirect, metadata and xattrs as committed, and the
 * directories usr, etc, boot, var and sysroot added at the root when the commit lacks them.
 *
 * The repository is not trusted: every object read is checked against its ostree checksum
 * (the commit, each dirtree and dirmeta, and each content object, whose bytes are read once
 * for both its ostree checksum and its fs-verity digest). A digest made from a corrupt
 * repository would otherwise become a root of trust.
 *
 * This file and ostree-deploy.c are the only ones that need libostree (glib): the static
 * binaries (cfsroot, the fuzzers, the guest's mkcfs) are built without them.
 * Errors are logged here (this layer knows the object and the repository). */
#pragma once

#include <stdbool.h>

#include "tree.h"

#define CFS_OSTREE_CHECKSUM_HEX 65 /* 64 hex digits + NUL */

struct cfs_ostree_options {
        unsigned n_threads; /* 0: one per online CPU */
};

/* What the commit says about itself. */
struct cfs_ostree_commit_info {
        char commit[CFS_OSTREE_CHECKSUM_HEX];
        /* ostree built with composefs records the fs-verity digest of its image of the commit
         * as `ostree.composefs.digest.v0` (ay, 32 bytes); ours should be the same. */
        bool has_recorded_digest;
        uint8_t recorded_digest[CFS_DIGEST_SIZE];
};

/* Reads commit `rev` (a ref or a commit checksum) of the bare or bare-user repository at
 * repo_path. ret_info (may be NULL) gets the commit's checksum and recorded digest. -ENOENT: an unknown rev or
 * a missing object; -EBADMSG: an object whose content does not match its checksum;
 * -EOPNOTSUPP: a repository mode whose objects cannot back an image (archive);
 * -EINVAL: not a repository, or a commit that cannot be an image. */
int cfs_ostree_read_commit(const char *repo_path, const char *rev, const struct cfs_ostree_options *opts,
                           cfs_node **ret_root, struct cfs_ostree_commit_info *ret_info);

/* Enables fs-verity on every object the tree redirects to (objects relative to
 * repo_path/objects); objects that have it already are left alone. -EOPNOTSUPP where the
 * filesystem cannot (the message names the object and the filesystem). */
int cfs_ostree_enable_verity(const char *repo_path, cfs_node *root);
