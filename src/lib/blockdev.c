/* SPDX-License-Identifier: MIT */
/* root= resolution: every block device in /sys/class/block is probed with libblkid and
 * compared with the tag, so nothing depends on udev having created links. */
#include <blkid/blkid.h>
#include <fcntl.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "blockdev.h"
#include "log.h"
#include "util.h"

double cfs_now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_BOOTTIME, &ts);
        return (double) ts.tv_sec * 1000.0 + (double) ts.tv_nsec / 1e6;
}

int cfs_root_spec_parse(const char *spec, enum cfs_root_tag *ret_tag, const char **ret_value) {
        static const struct {
                const char *prefix;
                enum cfs_root_tag tag;
        } forms[] = {
                { "UUID=", CFS_ROOT_UUID },
                { "LABEL=", CFS_ROOT_LABEL },
                { "PARTUUID=", CFS_ROOT_PARTUUID },
                { "PARTLABEL=", CFS_ROOT_PARTLABEL },
                { "/dev/disk/by-uuid/", CFS_ROOT_UUID },
                { "/dev/disk/by-label/", CFS_ROOT_LABEL },
                { "/dev/disk/by-partuuid/", CFS_ROOT_PARTUUID },
                { "/dev/disk/by-partlabel/", CFS_ROOT_PARTLABEL },
        };

        if (!spec)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(forms); i++) {
                size_t n = strlen(forms[i].prefix);
                if (strncmp(spec, forms[i].prefix, n) == 0) {
                        if (!spec[n])
                                return -EINVAL;
                        *ret_tag = forms[i].tag;
                        *ret_value = spec + n;
                        return 0;
                }
        }
        if (strncmp(spec, "/dev/", 5) != 0 || !spec[5])
                return -EINVAL;
        *ret_tag = CFS_ROOT_PATH;
        *ret_value = spec;
        return 0;
}

static void probe_freep(blkid_probe *p) {
        if (*p)
                blkid_free_probe(*p);
}

/* Probes one device node: whether it matches the tag, and its filesystem type. */
static int probe_device(const char *devnode, enum cfs_root_tag tag, const char *value, bool *ret_match,
                        char **ret_fstype) {
        _cleanup_(probe_freep) blkid_probe pr = blkid_new_probe_from_filename(devnode);
        const char *v = NULL, *key;

        if (!pr)
                return errno > 0 ? -errno : -EIO;
        blkid_probe_enable_superblocks(pr, 1);
        blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_LABEL | BLKID_SUBLKS_UUID | BLKID_SUBLKS_TYPE);
        blkid_probe_enable_partitions(pr, 1);
        blkid_probe_set_partitions_flags(pr, BLKID_PARTS_ENTRY_DETAILS);
        if (blkid_do_safeprobe(pr) < 0)
                return -EIO;

        switch (tag) {
        case CFS_ROOT_UUID:
                key = "UUID";
                break;
        case CFS_ROOT_LABEL:
                key = "LABEL";
                break;
        case CFS_ROOT_PARTUUID:
                key = "PART_ENTRY_UUID";
                break;
        case CFS_ROOT_PARTLABEL:
                key = "PART_ENTRY_NAME";
                break;
        default:
                key = NULL;
        }

        bool match = !key; /* a path matches by itself */
        if (key && blkid_probe_lookup_value(pr, key, &v, NULL) == 0 && v)
                match = (tag == CFS_ROOT_UUID || tag == CFS_ROOT_PARTUUID) ? strcasecmp(v, value) == 0
                                                                           : streq(v, value);
        char *type = NULL;
        if (match && blkid_probe_lookup_value(pr, "TYPE", &v, NULL) == 0 && v) {
                type = strdup(v);
                if (!type)
                        return -ENOMEM;
        }
        *ret_match = match;
        *ret_fstype = type;
        return 0;
}

/* Size 0 means no medium (empty loop device, empty drive): nothing to probe. */
static bool has_medium(int classfd, const char *name) {
        char path[300], buf[32];
        snprintf(path, sizeof path, "%s/size", name);
        _cleanup_close_ int fd = openat(classfd, path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        ssize_t n = loop_read(fd, buf, sizeof buf - 1);
        if (n <= 0)
                return false;
        buf[n] = '\0';
        return strtoull(buf, NULL, 10) > 0;
}

int cfs_blockdev_find(const char *spec, char **ret_devnode, char **ret_fstype) {
        enum cfs_root_tag tag;
        const char *value;
        int r;

        r = cfs_root_spec_parse(spec, &tag, &value);
        if (r < 0)
                return r;

        if (tag == CFS_ROOT_PATH) {
                struct stat st;
                bool match;
                char *type = NULL;
                if (stat(value, &st) < 0)
                        return -errno;
                if (!S_ISBLK(st.st_mode))
                        return -ENOTBLK;
                r = probe_device(value, tag, value, &match, &type);
                if (r < 0)
                        type = NULL; /* an unknown type is fine: rootfstype= may say it */
                char *dev = strdup(value);
                if (!dev) {
                        free(type);
                        return -ENOMEM;
                }
                *ret_devnode = dev;
                *ret_fstype = type;
                return 0;
        }

        _cleanup_closedir_ DIR *d = opendir("/sys/class/block");
        if (!d)
                return -errno;
        for (struct dirent *de; (de = readdir(d));) {
                if (de->d_name[0] == '.' || !has_medium(dirfd(d), de->d_name))
                        continue;
                char devnode[300];
                snprintf(devnode, sizeof devnode, "/dev/%s", de->d_name);
                for (char *p = devnode; *p; p++)
                        if (*p == '!')
                                *p = '/'; /* sysfs spells "/" in device names as "!" */
                bool match = false;
                char *type = NULL;
                if (probe_device(devnode, tag, value, &match, &type) < 0 || !match)
                        continue;
                char *dev = strdup(devnode);
                if (!dev) {
                        free(type);
                        return -ENOMEM;
                }
                *ret_devnode = dev;
                *ret_fstype = type;
                return 0;
        }
        return -ENOENT;
}

int cfs_blockdev_wait(const char *spec, unsigned timeout_sec, void (*poll)(void *userdata), void *userdata,
                      char **ret_devnode, char **ret_fstype) {
        /* The caller loaded the drivers of what was there just now: first rescan later. */
        double start = cfs_now_ms(), last_poll = start, last_notice = start;
        enum cfs_root_tag tag;
        const char *value;

        if (cfs_root_spec_parse(spec, &tag, &value) < 0)
                return log_error_errno(EINVAL, "invalid root=%s: expected /dev/NAME, UUID=, LABEL=, PARTUUID= or PARTLABEL=", spec);

        for (;;) {
                double now = cfs_now_ms();
                if (poll && now - last_poll >= 500) {
                        poll(userdata);
                        last_poll = now;
                }
                int r = cfs_blockdev_find(spec, ret_devnode, ret_fstype);
                if (r == 0)
                        return 0;
                if (r == -ENOMEM)
                        return log_error_errno(r, "out of memory");

                now = cfs_now_ms();
                if (timeout_sec > 0 && now - start >= timeout_sec * 1000.0)
                        return log_error_errno(ETIMEDOUT, "root device %s did not appear within %u s", spec, timeout_sec);
                if (now - last_notice >= 5000) {
                        log_notice("waiting for root device %s (%.0f s)...", spec, (now - start) / 1000.0);
                        last_notice = now;
                }
                usleep(100 * 1000);
        }
}
