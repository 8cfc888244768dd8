/* SPDX-License-Identifier: MIT */
/* The composefs root: the verified image as an EROFS lower layer from an already-open fd,
 * the overlayfs on top with the basedirs as data-only layers, and the kernel capability
 * probing that explains why a verity-enforcing mount is impossible. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mount.h"
#include "verity.h"

/* Opens the image (no symlink followed at the last component), checks it is a regular
 * file and, when digest is given, measures it with FS_IOC_MEASURE_VERITY and compares in
 * constant time. Logs the catalogue messages (verified / digest mismatch / no fs-verity /
 * cannot open). Returns the open fd or -errno (-EBADMSG mismatch, -ENODATA no fs-verity,
 * -EOPNOTSUPP no fs-verity on this filesystem). */
int cfs_image_open_verified(int sysroot_fd, const char *image, const uint8_t *digest, int verity_check);

/* Mounts EROFS from the open image fd (file-backed mount through /proc/self/fd, else a
 * read-only autoclear loop device configured from the fd) and returns a detached mount fd. */
int cfs_erofs_mount_fd(int image_fd);

struct cfs_composefs {
        int sysroot_fd;          /* the root device's mount */
        char *const *basedirs;   /* paths on the root device */
        size_t n_basedirs;
        int verity_check;        /* 0, 1, 2 */
        const char *workdir;     /* a private empty dir for the EROFS layer while mounting */
        const char *target;      /* where the composefs root gets mounted */
};

/* Mounts the composefs root from the verified image fd at c->target: EROFS lower layer,
 * each basedir a data-only layer, metacopy=on, redirect_dir=on, verity=MODE, read-only.
 * Logs what failed, including a missing kernel capability. */
int cfs_composefs_mount(const struct cfs_composefs *c, int image_fd);

/* The overlayfs verity= value for cfsroot.verity_check: "on" (1), "require" (2), NULL for 0:
 * verity=off is the overlayfs default, and leaving it out keeps verity_check=0 mountable
 * on kernels that do not know the option. */
const char *cfs_ovl_verity_option(int verity_check);

/* The new-API options of a composefs overlay, one fsconfig() call each, in order:
 * lowerdir+=LOWER, datadir+=DIR for each, metacopy=on, redirect_dir=on[, verity=MODE].
 * ret must have room for n_datadirs + 4 entries; returns the count. */
size_t cfs_ovl_fs_options(const char *lower, char *const *datadirs, size_t n_datadirs, const char *verity_mode,
                          struct cfs_fs_option *ret);

/* Escapes a path for a legacy overlayfs option string: ',' (option separator), ':' (layer
 * separator) and '\\' get a backslash, so no path can inject an option or a layer.
 * Returns a malloc'd string or NULL on allocation failure. */
char *cfs_ovl_escape_path(const char *path);

/* mount(2) copies at most one page of options (4096 bytes on every Linux architecture at
 * least) and terminates it at the last byte: longer strings are cut silently. */
#define CFS_MOUNT_DATA_MAX 4095
/* fsconfig(FSCONFIG_SET_STRING) refuses values of this length and more (EINVAL). */
#define CFS_FSCONFIG_STRING_MAX 256

/* The legacy mount(2) data string for a composefs overlay:
 * "metacopy=on,redirect_dir=on[,verity=MODE],lowerdir=LOWER::DATA1::DATA2" with every path
 * escaped (verity_mode NULL leaves that option out). The fixed options come first, so that
 * no cut can drop them. Returns 0 and a malloc'd string in *ret, -ENOMEM, or -E2BIG when
 * the string would be longer than CFS_MOUNT_DATA_MAX (mount(2) would cut it). */
int cfs_ovl_legacy_options(const char *lower, char *const *datadirs, size_t n_datadirs, const char *verity_mode,
                           char **ret);
