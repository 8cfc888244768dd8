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

/* One look for the device: 0 with the device node (and its filesystem type, NULL when
 * blkid does not know it) in malloc'd strings, -ENOENT when it is not there (yet). */
int cfs_blockdev_find(const char *spec, char **ret_devnode, char **ret_fstype);

/* Waits for the device: poll(userdata) runs every half second (to load drivers for new
 * devices) and a notice is logged every 5 s. timeout_sec 0 waits forever. Logs
 * "root device SPEC did not appear within N s" and returns -ETIMEDOUT on timeout. */
int cfs_blockdev_wait(const char *spec, unsigned timeout_sec, void (*poll)(void *userdata), void *userdata,
                      char **ret_devnode, char **ret_fstype);

/* Milliseconds since boot (CLOCK_BOOTTIME), for timing lines and deadlines. */
double cfs_now_ms(void);
