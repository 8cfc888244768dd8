/* SPDX-License-Identifier: MIT */
/* The mounts of `cfsroot prepare SYSROOT`, for an initramfs that mounted the root device
 * itself (dracut): the namespace check, placing the verified root over SYSROOT with the
 * physical root below it, and the cover that makes any failure leave nothing bootable. */
#pragma once

#include <stdbool.h>

/* 0 when this process shares PID 1's mount namespace, -EXDEV when it does not (a unit with
 * PrivateMounts= or ProtectSystem=: its mounts would vanish with it), -errno when it
 * cannot tell. */
int cfs_mount_ns_check(void);

/* Clones the physical root mounted at sysroot (with its submounts) to newroot/sysroot with
 * nosuid,nodev set on every mount of the clone, then clones newroot with it over sysroot.
 * Clones, not MS_MOVE: nothing needs to become private, shared propagation stays as the
 * initramfs set it. Returns 0 or -errno; *ret_step names the step that failed. */
int cfs_prepare_attach(const char *sysroot, const char *newroot, const char **ret_step);

/* The fail-closed state, in PID 1's mount namespace (joined first when this process is
 * elsewhere): every mount at sysroot detached (the root device with them), then an empty,
 * read-only, noexec tmpfs mounted there. A caller that unmounts the cover finds an empty
 * directory. Returns 0 when sysroot no longer shows the root device, -errno otherwise;
 * *ret_how says what was done or what failed. */
int cfs_prepare_cover(const char *sysroot, const char **ret_how);
