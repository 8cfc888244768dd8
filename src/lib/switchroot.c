/* SPDX-License-Identifier: MIT */
/* switch_root for a PID 1 that already has every mount it needs. */
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "log.h"
#include "switchroot.h"
#include "util.h"

static const char *const newroot_dirs[] = { "sysroot", "dev", "proc", "sys", "run" };
static const char *const api_mounts[] = { "/dev", "/proc", "/sys", "/run" };

static int rm_rf_at(int dfd, dev_t dev, unsigned depth) {
        int r = 0;

        if (depth > 256)
                return -ELOOP;
        int dup_fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
        if (dup_fd < 0)
                return -errno;
        _cleanup_closedir_ DIR *d = fdopendir(dup_fd);
        if (!d) {
                safe_close(dup_fd);
                return -errno;
        }
        for (struct dirent *de; (de = readdir(d));) {
                struct stat st;
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (r == 0 && errno != ENOENT)
                                r = -errno;
                        continue;
                }
                if (st.st_dev != dev)
                        continue; /* a mount point: not ours to delete */
                if (S_ISDIR(st.st_mode)) {
                        _cleanup_close_ int sub = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub < 0) {
                                if (r == 0)
                                        r = -errno;
                                continue;
                        }
                        int k = rm_rf_at(sub, dev, depth + 1);
                        if (k < 0 && r == 0)
                                r = k;
                        if (unlinkat(dfd, de->d_name, AT_REMOVEDIR) < 0 && r == 0 && errno != EBUSY)
                                r = -errno;
                } else if (unlinkat(dfd, de->d_name, 0) < 0 && r == 0)
                        r = -errno;
        }
        return r;
}

int cfs_rm_rf_same_dev(int dirfd) {
        struct stat st;
        if (fstat(dirfd, &st) < 0)
                return -errno;
        return rm_rf_at(dirfd, st.st_dev, 0);
}

int cfs_newroot_check(const char *newroot) {
        _cleanup_close_ int fd = open(newroot, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(errno, "cannot open the new root %s: %m", newroot);
        for (size_t i = 0; i < ELEMENTSOF(newroot_dirs); i++) {
                struct stat st;
                if (fstatat(fd, newroot_dirs[i], &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
                        return log_error_errno(ENOENT, "the new root has no /%s directory: the image must provide /sysroot, /dev, /proc, /sys and /run",
                                               newroot_dirs[i]);
        }
        return 0;
}

int cfs_move_api_mounts(const char *newroot) {
        for (size_t i = 0; i < ELEMENTSOF(api_mounts); i++) {
                _cleanup_free_ char *to = NULL;
                if (asprintf(&to, "%s%s", newroot, api_mounts[i]) < 0)
                        return log_error_errno(ENOMEM, "out of memory");
                if (mount(api_mounts[i], to, NULL, MS_MOVE, NULL) < 0)
                        return log_error_errno(errno, "cannot move %s to %s: %m", api_mounts[i], to);
        }
        return 0;
}

static bool is_initramfs(int fd) {
        struct statfs sfs;
        if (fstatfs(fd, &sfs) < 0)
                return false;
        return sfs.f_type == RAMFS_MAGIC || sfs.f_type == TMPFS_MAGIC;
}

int cfs_switch_root(const char *newroot) {
        _cleanup_close_ int oldroot = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (oldroot < 0)
                return log_error_errno(errno, "cannot open /: %m");
        if (chdir(newroot) < 0)
                return log_error_errno(errno, "cannot enter the new root %s: %m", newroot);

        /* The new root is a mount point, so the walk skips it and everything below. */
        if (is_initramfs(oldroot)) {
                int r = cfs_rm_rf_same_dev(oldroot);
                if (r < 0)
                        log_warning_errno(r, "could not delete all of the initramfs: %m");
        }

        if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
                return log_error_errno(errno, "cannot move %s to /: %m", newroot);
        if (chroot(".") < 0)
                return log_error_errno(errno, "cannot chroot into the new root: %m");
        if (chdir("/") < 0)
                return log_error_errno(errno, "cannot enter the new root: %m");
        return 0;
}
