/* SPDX-License-Identifier: MIT */
/* Leaving the initramfs like switch_root(8): move the API mounts into the new root,
 * delete the initramfs contents (they would pin RAM forever), make the new root "/". */
#pragma once

/* Deletes everything below the open directory dirfd that lives on the same device as
 * dirfd itself: mount points and whatever is under them are left alone, symlinks are
 * never followed. dirfd stays open and is not removed. Returns 0 or the first -errno. */
int cfs_rm_rf_same_dev(int dirfd);

/* The new root must already provide these directories (it is read-only: nothing gets
 * created). Logs the first one missing and returns -ENOENT. */
int cfs_newroot_check(const char *newroot);

/* MS_MOVE of each API mount (/dev, /proc, /sys, /run) to newroot/<same>. */
int cfs_move_api_mounts(const char *newroot);

/* chdir(newroot); delete the initramfs (only when "/" is a ramfs/tmpfs); move newroot onto
 * "/"; chroot("."). Logs what failed. */
int cfs_switch_root(const char *newroot);
