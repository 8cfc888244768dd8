/* SPDX-License-Identifier: MIT */
/* root= resolution: every block device in /sys/class/block is probed with libblkid and
 * compared with the tag, so nothing depends on udev having created links. libblkid parses
 * bytes the root device chooses: it runs in a forked child (a crash there is a refusal, not
 * a dead PID 1) with only the probers needed, and not at all for root=/dev/X rootfstype=. */
#include <blkid/blkid.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "blockdev.h"
#include "child.h"
#include "escape.h"
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

/* Filesystems a root can be on, when rootfstype= does not say: the superblock probers of
 * libblkid are limited to these (every other prober is parsing code that need not run). */
static const char *const root_fstypes[] = { "ext4", "ext3", "ext2", "xfs", "btrfs", "f2fs", NULL };

struct probe_args {
        const char *devnode;
        enum cfs_root_tag tag;
        const char *value;
        char *const *fstypes;
        bool want_type; /* superblocks: the TYPE (and UUID/LABEL) */
};

struct probe_answer {
        bool match;
        char type[64];
};

/* In the child: one libblkid probe with only the chains and probers that are needed. */
static int probe_child(void *userdata, void *out, size_t out_size, size_t *ret_len) {
        const struct probe_args *a = userdata;
        struct probe_answer *ans = out;
        const char *v = NULL, *key = NULL;

        if (out_size < sizeof *ans)
                return -EINVAL;
        *ans = (struct probe_answer) {};
        _cleanup_(probe_freep) blkid_probe pr = blkid_new_probe_from_filename(a->devnode);
        if (!pr)
                return errno > 0 ? -errno : -EIO;

        bool part = a->tag == CFS_ROOT_PARTUUID || a->tag == CFS_ROOT_PARTLABEL;
        if (a->want_type) {
                blkid_probe_enable_superblocks(pr, 1);
                blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_LABEL | BLKID_SUBLKS_UUID | BLKID_SUBLKS_TYPE);
                if (blkid_probe_filter_superblocks_type(pr, BLKID_FLTR_ONLYIN,
                                                        (char **) (a->fstypes ?: (char *const *) root_fstypes)) < 0)
                        return -ENOMEM;
                blkid_probe_enable_partitions(pr, 0);
        } else {
                /* Only the partition entry (PARTUUID=, PARTLABEL=): GPT and MBR tables. */
                static const char *const tables[] = { "gpt", "dos", NULL };
                blkid_probe_enable_superblocks(pr, 0);
                blkid_probe_enable_partitions(pr, 1);
                blkid_probe_set_partitions_flags(pr, BLKID_PARTS_ENTRY_DETAILS);
                if (blkid_probe_filter_partitions_type(pr, BLKID_FLTR_ONLYIN, (char **) tables) < 0)
                        return -ENOMEM;
        }
        blkid_probe_enable_topology(pr, 0);
        if (blkid_do_safeprobe(pr) < 0)
                return -EIO;

        switch (a->tag) {
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
        if (part && a->want_type)
                key = NULL; /* the second probe, for the type of the partition found */
        ans->match = !key; /* a path matches by itself */
        if (key && blkid_probe_lookup_value(pr, key, &v, NULL) == 0 && v)
                ans->match = (a->tag == CFS_ROOT_UUID || a->tag == CFS_ROOT_PARTUUID) ? strcasecmp(v, a->value) == 0
                                                                                     : streq(v, a->value);
        if (a->want_type && ans->match && blkid_probe_lookup_value(pr, "TYPE", &v, NULL) == 0 && v)
                snprintf(ans->type, sizeof ans->type, "%s", v);
        *ret_len = sizeof *ans;
        return 0;
}

int cfs_blockdev_probe(const char *devnode, enum cfs_root_tag tag, const char *value, char *const *fstypes,
                       bool *ret_match, char **ret_fstype, int *ret_signal) {
        struct probe_args a = {
                .devnode = devnode,
                .tag = tag,
                .value = value,
                .fstypes = fstypes,
                .want_type = tag != CFS_ROOT_PARTUUID && tag != CFS_ROOT_PARTLABEL,
        };
        struct probe_answer ans;
        size_t len = 0;
        int sig = 0, r;

        r = cfs_call_in_child(probe_child, &a, &ans, sizeof ans, &len, &sig);
        if (r == -ECHILD && ret_signal)
                *ret_signal = sig;
        if (r < 0)
                return r;
        if (len != sizeof ans)
                return -EIO;
        if (ans.match && !a.want_type) {
                /* The partition matched: now its filesystem, in a probe of its own. */
                a.want_type = true;
                len = 0;
                r = cfs_call_in_child(probe_child, &a, &ans, sizeof ans, &len, &sig);
                if (r == -ECHILD && ret_signal)
                        *ret_signal = sig;
                if (r < 0)
                        return r;
                if (len != sizeof ans)
                        return -EIO;
                ans.match = true;
        }
        ans.type[sizeof ans.type - 1] = '\0';
        char *type = NULL;
        if (ans.match && ans.type[0]) {
                type = strdup(ans.type);
                if (!type)
                        return -ENOMEM;
        }
        *ret_match = ans.match;
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

/* A device node named by path: its medium is checked by opening it (a removable drive
 * reports its medium only when opened; without one the open fails with ENOMEDIUM). */
static int node_has_medium(const char *devnode) {
        uint64_t size = 0;
        _cleanup_close_ int fd = open(devnode, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (ioctl(fd, BLKGETSIZE64, &size) < 0)
                return -errno;
        return size > 0 ? 0 : -ENOMEDIUM;
}

/* cfs_blockdev_probe(), naming the device and the signal in *ret_crash (optional) when the
 * probing child died. */
static int probe_noting_crash(const char *devnode, enum cfs_root_tag tag, const char *value, char *const *fstypes,
                              bool *ret_match, char **ret_fstype, struct cfs_probe_crash *ret_crash) {
        int sig = 0;
        int r = cfs_blockdev_probe(devnode, tag, value, fstypes, ret_match, ret_fstype, &sig);
        if (r == -ECHILD && ret_crash) {
                snprintf(ret_crash->devnode, sizeof ret_crash->devnode, "%s", devnode);
                ret_crash->signal = sig;
        }
        return r;
}

int cfs_blockdev_find(const char *spec, char *const *fstypes, char **ret_devnode, char **ret_fstype,
                      struct cfs_probe_crash *ret_crash) {
        enum cfs_root_tag tag;
        const char *value;
        int r;

        r = cfs_root_spec_parse(spec, &tag, &value);
        if (r < 0)
                return r;

        if (tag == CFS_ROOT_PATH) {
                struct stat st;
                bool match = false;
                char *type = NULL;
                if (stat(value, &st) < 0)
                        return -errno;
                if (!S_ISBLK(st.st_mode))
                        return -ENOTBLK;
                r = node_has_medium(value);
                if (r < 0)
                        return r == -ENOMEM ? r : -ENOMEDIUM; /* no medium, or not readable yet */
                /* root=/dev/X with rootfstype=: nothing on the device needs parsing here. */
                if (!fstypes) {
                        r = probe_noting_crash(value, tag, value, NULL, &match, &type, ret_crash);
                        if (r == -ECHILD || r == -ENOMEM)
                                return r;
                        /* Still probing, or nothing known there yet: not ready. */
                        if (r < 0 || !type)
                                return -EMEDIUMTYPE;
                }
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
                r = probe_noting_crash(devnode, tag, value, fstypes, &match, &type, ret_crash);
                if (r == -ECHILD || r == -ENOMEM)
                        return r;
                if (r < 0 || !match) {
                        free(type);
                        continue;
                }
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

int cfs_blockdev_wait(const char *spec, char *const *fstypes, unsigned timeout_sec, void (*poll)(void *userdata),
                      void *userdata, char **ret_devnode, char **ret_fstype) {
        /* The caller loaded the drivers of what was there just now: first rescan later. */
        double start = cfs_now_ms(), last_poll = start, last_notice = start;
        enum cfs_root_tag tag;
        const char *value;
        int r;

        if (cfs_root_spec_parse(spec, &tag, &value) < 0)
                return log_error_errno(EINVAL, "invalid root=%s: expected /dev/NAME, UUID=, LABEL=, PARTUUID= or PARTLABEL=",
                                       CFS_ESC(spec));

        for (;;) {
                double now = cfs_now_ms();
                struct cfs_probe_crash crash = {};
                if (poll && now - last_poll >= 500) {
                        poll(userdata);
                        last_poll = now;
                }
                r = cfs_blockdev_find(spec, fstypes, ret_devnode, ret_fstype, &crash);
                if (r == 0)
                        return 0;
                if (r == -ENOMEM)
                        return log_error_errno(r, "out of memory");
                /* libblkid crashed on what the device holds: that device is hostile or
                 * broken, and waiting longer would only probe it again. */
                if (r == -ECHILD)
                        return log_error_errno(EIO, "probing block device %s crashed (%s%s): refusing to look for root device %s",
                                               CFS_ESC(crash.devnode), crash.signal ? "signal " : "exit without an answer",
                                               crash.signal ? strsignal(crash.signal) : "", CFS_ESC(spec));

                now = cfs_now_ms();
                if (timeout_sec > 0 && now - start >= timeout_sec * 1000.0) {
                        if (r == -ENOMEDIUM)
                                return log_error_errno(ETIMEDOUT, "root device %s has no medium after %u s", CFS_ESC(spec),
                                                       timeout_sec);
                        if (r == -EMEDIUMTYPE)
                                return log_error_errno(ETIMEDOUT, "root device %s holds no filesystem cfsroot knows after %u s (add rootfstype=)",
                                                       CFS_ESC(spec), timeout_sec);
                        return log_error_errno(ETIMEDOUT, "root device %s did not appear within %u s", CFS_ESC(spec),
                                               timeout_sec);
                }
                if (now - last_notice >= 5000) {
                        log_notice("waiting for root device %s (%.0f s)...", CFS_ESC(spec), (now - start) / 1000.0);
                        last_notice = now;
                }
                usleep(100 * 1000);
        }
}
