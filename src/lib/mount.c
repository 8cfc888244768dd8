/* SPDX-License-Identifier: MIT */
/* Mount primitives: the new mount API (one fsconfig() call per option), attaching a
 * detached mount, the initramfs's API filesystems, and lookups that stay inside a root.
 * The composefs root built from them is in composefs-root.c. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "escape.h"
#include "log.h"
#include "mount.h"
#include "uapi/mount.h"
#include "util.h"

_Static_assert(sizeof(struct cfs_open_how) == 24, "struct open_how layout");

/* The fs context log holds messages like "e overlayfs: ..."; keep the last one. */
static void read_fc_log(int fsfd, char *kmsg, size_t kmsglen) {
        char buf[512];

        for (;;) {
                ssize_t n = read(fsfd, buf, sizeof buf - 1);
                if (n <= 0)
                        break;
                buf[n] = '\0';
                if (n > 0 && buf[n - 1] == '\n')
                        buf[n - 1] = '\0';
                log_debug("kernel: %s", CFS_ESC(buf));
                if (kmsg && kmsglen > 0)
                        snprintf(kmsg, kmsglen, "%s", CFS_ESC(n > 2 && buf[1] == ' ' ? buf + 2 : buf));
        }
}

int cfs_fsmount(const char *fstype, const char *source, const struct cfs_fs_option *opts, size_t n_opts,
                bool rdonly, const char **ret_failed_key, char *kmsg, size_t kmsglen) {
        const char *failed = NULL;
        int r;

        if (kmsg && kmsglen > 0)
                kmsg[0] = '\0';
        if (ret_failed_key)
                *ret_failed_key = NULL;

        _cleanup_close_ int fs = cfs_sys_fsopen(fstype, CFS_FSOPEN_CLOEXEC);
        if (fs < 0)
                return -errno;

        if (source && cfs_sys_fsconfig(fs, CFS_FSCONFIG_SET_STRING, "source", source, 0) < 0) {
                r = -errno;
                failed = "source";
                goto fail;
        }
        /* MOUNT_ATTR_RDONLY only makes the mount read-only; "ro" makes the superblock so,
         * which a read-only block device (our loop device) needs to be opened at all. */
        if (rdonly && cfs_sys_fsconfig(fs, CFS_FSCONFIG_SET_FLAG, "ro", NULL, 0) < 0) {
                r = -errno;
                failed = "ro";
                goto fail;
        }
        for (size_t i = 0; i < n_opts; i++) {
                int k = opts[i].value ? cfs_sys_fsconfig(fs, CFS_FSCONFIG_SET_STRING, opts[i].key, opts[i].value, 0)
                                      : cfs_sys_fsconfig(fs, CFS_FSCONFIG_SET_FLAG, opts[i].key, NULL, 0);
                if (k < 0) {
                        r = -errno;
                        failed = opts[i].key;
                        goto fail;
                }
        }
        if (cfs_sys_fsconfig(fs, CFS_FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
                r = -errno;
                goto fail;
        }
        int m = cfs_sys_fsmount(fs, CFS_FSMOUNT_CLOEXEC, rdonly ? CFS_MOUNT_ATTR_RDONLY : 0);
        if (m < 0) {
                r = -errno;
                goto fail;
        }
        return m;

fail:
        read_fc_log(fs, kmsg, kmsglen);
        if (ret_failed_key)
                *ret_failed_key = failed;
        return r;
}

int cfs_move_mount_fd(int mntfd, const char *target) {
        if (cfs_sys_move_mount(mntfd, "", AT_FDCWD, target, CFS_MOVE_MOUNT_F_EMPTY_PATH) < 0)
                return -errno;
        return 0;
}

/* A directory is a mount point when it lives on another device than its parent. */
static bool is_mount_point(const char *path) {
        struct stat st, parent;
        _cleanup_free_ char *up = NULL;

        if (asprintf(&up, "%s/..", path) < 0)
                return false;
        if (stat(path, &st) < 0 || stat(up, &parent) < 0)
                return false;
        return st.st_dev != parent.st_dev || st.st_ino == parent.st_ino;
}

int cfs_mount_api_vfs(void) {
        static const struct {
                const char *what, *where, *type, *data;
                unsigned long flags;
        } table[] = {
                { "proc", "/proc", "proc", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC },
                { "sysfs", "/sys", "sysfs", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC },
                { "devtmpfs", "/dev", "devtmpfs", "mode=0755", MS_NOSUID },
                { "tmpfs", "/run", "tmpfs", "mode=0755", MS_NOSUID | MS_NODEV },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                if (mkdir(table[i].where, 0755) < 0 && errno != EEXIST)
                        return log_error_errno(errno, "cannot create %s: %m", table[i].where);
                if (is_mount_point(table[i].where))
                        continue;
                if (mount(table[i].what, table[i].where, table[i].type, table[i].flags, table[i].data) < 0)
                        return log_error_errno(errno, "cannot mount %s on %s: %m", table[i].type, table[i].where);
        }
        return 0;
}

int cfs_open_in_root(int rootfd, const char *path, int flags) {
        /* RESOLVE_NO_XDEV: "on the root device" means exactly that; in prepare mode other
         * mounts (or, in a hostile setup, bind mounts) can sit below SYSROOT. */
        struct cfs_open_how how = {
                .flags = (uint64_t) (unsigned) flags,
                .resolve = CFS_RESOLVE_IN_ROOT | CFS_RESOLVE_NO_MAGICLINKS | CFS_RESOLVE_NO_XDEV,
        };

        /* RESOLVE_IN_ROOT gives EAGAIN when a rename or mount anywhere raced with the
         * lookup (it cannot then prove ".." stayed inside): look up again, a bounded number
         * of times. Without openat2 (before 5.6) there is no safe lookup at all: no such
         * kernel can boot a composefs root, so -ENOSYS is passed on, never papered over. */
        for (unsigned attempt = 0;; attempt++) {
                int fd = cfs_sys_openat2(rootfd, path, &how);
                if (fd >= 0)
                        return fd;
                if (errno != EAGAIN || attempt + 1 >= CFS_OPEN_IN_ROOT_ATTEMPTS)
                        return -errno;
        }
}
