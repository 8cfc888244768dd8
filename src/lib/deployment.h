/* SPDX-License-Identifier: MIT */
/* ostree deployments booted verified: find the deployment (by ostree= from its boot loader
 * entry, or by the digest alone), take its .ostree.cfs as the image, and, once the
 * composefs root is mounted, assemble the rest the way ostree-prepare-root does for
 * composefs: /etc, /var, /boot, a read-only /sysroot, /run/ostree-booted. No libostree: the
 * layout is read with plain *at() calls inside the root device. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "cmdline.h"

#define CFS_OSTREE_IMAGE ".ostree.cfs"
#define CFS_OSTREE_TRANSIENT_ETC "/run/ostree/transient-etc"
/* Tells ostree's systemd generator that /var is already mounted (no var.mount). */
#define CFS_OSTREE_INITRAMFS_MOUNT_VAR "/run/ostree/initramfs-mount-var"

struct cfs_ostree_deployment {
        char *path;      /* "/ostree/deploy/STATEROOT/deploy/CHECKSUM.SERIAL" on the root device */
        char *stateroot; /* STATEROOT */
        dev_t dev;       /* the deployment directory's device and inode, for /run/ostree-booted */
        ino_t ino;
};

/* Finds the deployment on the root device (sysroot_fd) and opens its image verified with
 * cfs_image_open_verified (c->digest when given). With c->ostree, the boot loader's
 * symlink is resolved inside the root device and must end at /ostree/deploy/OS/deploy/NAME;
 * with only cfsroot.ostree, every .ostree.cfs of /ostree/deploy/OS/deploy/NAME is measured and
 * exactly one must have the digest (several: refused, naming them). Logs what failed.
 * Returns the image fd and fills *ret (free with cfs_ostree_deployment_done), or -errno. */
int cfs_ostree_open_image(int sysroot_fd, const struct cfsroot_config *c, struct cfs_ostree_deployment *ret);

/* With the composefs root of deployment d mounted at target and the root device at sysroot
 * (not yet moved): /etc (the deployment's, bind-mounted writable, or a transient overlay
 * of target/usr/etc), the stateroot's var on /var, the root device's /boot on /boot when
 * ostree keeps it there (boot/loader a symlink), the /run state ostree reads
 * (/run/ostree-booted and friends), and finally sysroot read-only. Every step may be
 * retried. Logs what failed. Returns 0 or -errno. */
int cfs_ostree_assemble(const struct cfs_ostree_deployment *d, int sysroot_fd, const char *sysroot,
                        const char *target, enum cfsroot_etc etc);

void cfs_ostree_deployment_done(struct cfs_ostree_deployment *d);

/* The init= to honour for an ostree root: ostree's entries for deployments without an
 * initramfs say init=/ostree/boot.N/.../usr/lib/ostree/ostree-prepare-root, the job cfsroot
 * has just done, so that one is dropped (NULL: the default init); any other is kept. */
const char *cfs_ostree_init(const char *init);

/* Splits "/ostree/deploy/OS/deploy/NAME" (exactly that shape, OS and NAME one non-dot
 * component each) and returns a malloc'd copy of OS in *ret_stateroot; -EINVAL otherwise. */
int cfs_ostree_parse_deploy_path(const char *path, char **ret_stateroot);
