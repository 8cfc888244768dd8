/* SPDX-License-Identifier: MIT */
/* The root device named by root= (UUID=, LABEL=, PARTUUID=, PARTLABEL=, /dev/...), found
 * with libblkid over /sys/class/block (there is no udev, so no /dev/disk/by-* links), and
 * the rootwait/rootdelay waiting loop around it. */
#pragma once

#include <stdbool.h>

enum cfs_root_tag {
        CFS_ROOT_PATH,
        CFS_ROOT_UUID,
        CFS_ROOT_LABEL,
        CFS_ROOT_PARTUUID,
        CFS_ROOT_PARTLABEL,
};

/* Splits a root= value; "/dev/disk/by-uuid/X" and friends map onto their tag, since no
 * udev creates those links here. Returns 0 or -EINVAL (empty or unsupported form);
 * *ret_value points into spec. */
int cfs_root_spec_parse(const char *spec, enum cfs_root_tag *ret_tag, const char **ret_value);

/* Where a probe child crashed. */
struct cfs_probe_crash {
        char devnode[300];
        int signal; /* 0: it exited without an answer */
};

/* One libblkid probe of devnode in a forked child. Superblock probers only (limited to
 * fstypes, a NULL-terminated list, or by default the root filesystems ext4, ext3, ext2,
 * xfs, btrfs, f2fs), except for PARTUUID/PARTLABEL: partition tables (GPT, MBR) only, then
 * the matching partition's filesystem. *ret_fstype is NULL when no prober recognised it.
 * Returns 0, -ECHILD when the child crashed (*ret_signal: its signal, 0 if none), -errno. */
int cfs_blockdev_probe(const char *devnode, enum cfs_root_tag tag, const char *value, char *const *fstypes,
                       bool *ret_match, char **ret_fstype, int *ret_signal);

/* One look for the device: 0 with the device node (and its filesystem type, NULL when
 * not probed) in malloc'd strings; -ENOENT when it is not there (yet), -ENOMEDIUM when
 * root=/dev/X has no medium, -EMEDIUMTYPE when root=/dev/X (without rootfstype=, i.e.
 * fstypes NULL) holds nothing the probers recognise, -ECHILD when a probe crashed
 * (*ret_crash says where). root=/dev/X with fstypes given is not probed at all. */
int cfs_blockdev_find(const char *spec, char *const *fstypes, char **ret_devnode, char **ret_fstype,
                      struct cfs_probe_crash *ret_crash);

/* Waits for the device: poll(userdata) runs every half second (to load drivers for new
 * devices) and a notice is logged every 5 s. timeout_sec 0 waits forever. A device without
 * medium or without a recognised filesystem is waited for like a missing one. Logs
 * "root device SPEC did not appear within N s" (or "has no medium after", "holds no
 * filesystem cfsroot knows after") and returns -ETIMEDOUT on timeout; a crashed probe is
 * refused at once (-EIO). */
int cfs_blockdev_wait(const char *spec, char *const *fstypes, unsigned timeout_sec, void (*poll)(void *userdata),
                      void *userdata, char **ret_devnode, char **ret_fstype);

/* Milliseconds since boot (CLOCK_BOOTTIME), for timing lines and deadlines. */
double cfs_now_ms(void);
