/* SPDX-License-Identifier: MIT */
/* The ostree deployment an image is installed into (`mkcfs --ostree-deployment`): which
 * sysroot, repository and commit a deployment directory belongs to, as libostree's
 * OstreeSysroot lists them, and ostree's seal on deployment directories (the immutable
 * attribute), which must be lifted to add `.ostree.cfs` and put back afterwards.
 *
 * Needs libostree (see ostree-commit.h). Errors are logged here. */
#pragma once

#include <stdbool.h>

#include "ostree-commit.h"

struct cfs_ostree_deployment {
        char *sysroot; /* absolute */
        char *repo;    /* SYSROOT/ostree/repo */
        char *dir;     /* SYSROOT/ostree/deploy/OS/deploy/CHECKSUM.SERIAL */
        char *osname;
        int index;     /* in the sysroot's deployment list (0 = the default boot entry) */
        char commit[CFS_OSTREE_CHECKSUM_HEX];
        void *sysroot_obj; /* the locked OstreeSysroot: no ostree admin command runs meanwhile */
};

/* The deployment whose directory is `deploy_dir` (any path to it). -ENOENT if no
 * deployment of the sysroot it lies in has that directory. Locks the sysroot. */
int cfs_ostree_deployment_by_dir(const char *deploy_dir, struct cfs_ostree_deployment *ret);
/* The deployment number `index` of the sysroot, as `ostree admin status` lists them. */
int cfs_ostree_deployment_by_index(const char *sysroot, unsigned index, struct cfs_ostree_deployment *ret);
/* Unlocks and frees; accepts a zeroed struct. */
void cfs_ostree_deployment_done(struct cfs_ostree_deployment *d);

/* The immutable attribute (FS_IMMUTABLE_FL) of the directory `dfd`: lift it if set
 * (*ret_was tells whether it was), and set it again. -EOPNOTSUPP where the filesystem has
 * no such flags (then there is nothing to lift: ret_was false, 0 returned). */
int cfs_immutable_lift(int dfd, bool *ret_was);
int cfs_immutable_set(int dfd);
