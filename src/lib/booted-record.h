/* SPDX-License-Identifier: MIT */
/* /run/ostree-booted: the record an ostree-aware initramfs leaves for the booted system.
 * ostree since 2023 reads it as a GVariant of type a{sv}; its key
 * "backing-root-device-inode" (tt) names the booted deployment by the device and inode of
 * its directory, which ostree cannot find from "/" when "/" is a composefs overlay. This is
 * a small writer of exactly that serialisation (GVariant normal form), with no GLib. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CFS_OSTREE_BOOTED "/run/ostree-booted"

struct cfs_ostree_booted {
        uint64_t backing_dev;       /* st_dev of the deployment directory on the physical root */
        uint64_t backing_ino;       /* st_ino of the deployment directory */
        bool composefs;             /* "/" is the composefs image of the deployment */
        bool sysroot_ro;            /* /sysroot is mounted read-only */
        const char *transient_etc;  /* the transient /etc's state dir, NULL for a persistent /etc */
};

/* Serialises the record as GVariant a{sv} in normal form, keys in this order:
 * backing-root-device-inode (tt), composefs (b), root.transient (b, false),
 * root.transient-ro (b, false), sysroot-ro (b) and, when set, transient-etc (s).
 * Returns 0 with a malloc'd buffer in *ret and its size in *ret_size, or -ENOMEM
 * (-EINVAL for a transient_etc longer than 4096 bytes). */
int cfs_ostree_booted_serialize(const struct cfs_ostree_booted *b, uint8_t **ret, size_t *ret_size);

/* Writes the record to path (a temporary file in the same directory, renamed over path: a
 * retried boot step replaces it). Returns 0 or -errno. */
int cfs_ostree_booted_write(const struct cfs_ostree_booted *b, const char *path);
