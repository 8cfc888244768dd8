/* SPDX-License-Identifier: MIT */
/* Mount primitives: the new mount API (one fsconfig call per option, so no path can inject
 * an option), attaching detached mounts, the initramfs's API filesystems, and lookups that
 * stay inside a root. The composefs root itself: composefs-root.h. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "verity.h"

/* One fsconfig() call: value NULL sets a flag. */
struct cfs_fs_option {
        const char *key;
        const char *value;
};

/* fsopen(fstype) + fsconfig(source, options...) + create + fsmount: returns a detached
 * mount fd (read-only when rdonly) or -errno. *ret_failed_key (optional) names the option
 * the kernel refused (NULL when it was fsopen, create or fsmount); kmsg (optional, kmsglen
 * bytes) receives the last message of the kernel's fs context log. */
int cfs_fsmount(const char *fstype, const char *source, const struct cfs_fs_option *opts, size_t n_opts,
                bool rdonly, const char **ret_failed_key, char *kmsg, size_t kmsglen);

/* Attaches a detached mount fd at target. */
int cfs_move_mount_fd(int mntfd, const char *target);

/* Mounts /proc, /sys, /dev (devtmpfs) and /run (tmpfs) for an initramfs /init; an
 * already mounted one is fine. */
int cfs_mount_api_vfs(void);

/* Opens path resolved inside the directory dirfd as if it were "/", never leaving the
 * mount of dirfd (openat2 RESOLVE_IN_ROOT | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS).
 * EAGAIN (a concurrent rename or mount) is retried up to CFS_OPEN_IN_ROOT_ATTEMPTS times.
 * Returns the fd or -errno: -EXDEV when the path crosses a mount, -ENOSYS without openat2
 * (no fallback: a plain openat could be led out of the root). */
#define CFS_OPEN_IN_ROOT_ATTEMPTS 16
int cfs_open_in_root(int rootfd, const char *path, int flags);
