/* SPDX-License-Identifier: MIT */
/* `cfsroot prepare` mounts. A caller (a dracut hook, a systemd unit, a shell) may ignore our
 * exit status, so safety cannot rest on it: after a failure SYSROOT is covered by an empty
 * read-only mount, and whatever the caller does next finds nothing from the disk to run. */
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "prepare.h"
#include "uapi/mount.h"
#include "util.h"

static int ns_ids(const char *path, struct stat *ret) {
        if (stat(path, ret) < 0)
                return -errno;
        return 0;
}

int cfs_mount_ns_check(void) {
        struct stat self, init;
        int r;

        r = ns_ids("/proc/self/ns/mnt", &self);
        if (r < 0)
                return r;
        r = ns_ids("/proc/1/ns/mnt", &init);
        if (r < 0)
                return r;
        return self.st_dev == init.st_dev && self.st_ino == init.st_ino ? 0 : -EXDEV;
}

int cfs_prepare_attach(const char *sysroot, const char *newroot, const char **ret_step) {
        _cleanup_free_ char *inner = NULL;
        _cleanup_close_ int phys = -EBADF, root = -EBADF;
        const char *step;
        int r;

        if (asprintf(&inner, "%s/sysroot", newroot) < 0)
                return -ENOMEM;

        /* Our own temporary mount only: were it shared, the clone over SYSROOT would be its
         * peer, and taking the temporary one down would take the clone's submounts too. */
        step = "make the temporary new root private";
        if (mount(NULL, newroot, NULL, MS_PRIVATE, NULL) < 0)
                goto fail_errno;

        step = "clone the physical root";
        phys = cfs_sys_open_tree(AT_FDCWD, sysroot, CFS_OPEN_TREE_CLONE | O_CLOEXEC | CFS_AT_RECURSIVE);
        if (phys < 0)
                goto fail_errno;
        /* Not covered by the digest: a setuid file or a device node planted on the disk
         * must not work at /sysroot in the booted system. */
        step = "set nosuid,nodev on the physical root";
        struct cfs_mount_attr attr = {
                .attr_set = CFS_MOUNT_ATTR_NOSUID | CFS_MOUNT_ATTR_NODEV,
                .propagation = MS_PRIVATE, /* the clone only: the original keeps its peers */
        };
        if (cfs_sys_mount_setattr(phys, "", CFS_AT_EMPTY_PATH | CFS_AT_RECURSIVE, &attr) < 0)
                goto fail_errno;
        step = "attach the physical root inside the new root";
        if (cfs_sys_move_mount(phys, "", AT_FDCWD, inner, CFS_MOVE_MOUNT_F_EMPTY_PATH) < 0)
                goto fail_errno;

        step = "clone the new root";
        root = cfs_sys_open_tree(AT_FDCWD, newroot, CFS_OPEN_TREE_CLONE | O_CLOEXEC | CFS_AT_RECURSIVE);
        if (root < 0)
                goto fail_errno;
        step = "attach the new root over SYSROOT";
        if (cfs_sys_move_mount(root, "", AT_FDCWD, sysroot, CFS_MOVE_MOUNT_F_EMPTY_PATH) < 0)
                goto fail_errno;
        return 0;

fail_errno:
        r = -errno;
        if (ret_step)
                *ret_step = step;
        return r;
}

/* True when path is a mount point (its device differs from its parent's, or it is "/"). */
static bool is_mount_point(const char *path) {
        _cleanup_free_ char *up = NULL;
        struct stat st, parent;

        if (asprintf(&up, "%s/..", path) < 0)
                return false;
        if (stat(path, &st) < 0 || stat(up, &parent) < 0)
                return false;
        return st.st_dev != parent.st_dev || st.st_ino == parent.st_ino;
}

int cfs_prepare_cover(const char *sysroot, const char **ret_how) {
        bool other_ns = false;
        int r;

        /* In another namespace our mounts are not what PID 1 will boot: cover PID 1's view. */
        if (cfs_mount_ns_check() == -EXDEV) {
                _cleanup_close_ int ns = open("/proc/1/ns/mnt", O_RDONLY | O_CLOEXEC);
                if (ns < 0 || setns(ns, CLONE_NEWNS) < 0) {
                        if (ret_how)
                                *ret_how = "cannot join PID 1's mount namespace to cover it";
                        return -errno;
                }
                other_ns = true;
        }
        /* The root device goes first, not just under the cover: a caller that unmounts what
         * it finds at sysroot (dracut does, when it finds no usable root there) must get an
         * empty directory, not the disk back. */
        for (unsigned i = 0; i < 64 && is_mount_point(sysroot); i++)
                if (umount2(sysroot, MNT_DETACH) < 0)
                        break;
        bool detached = !is_mount_point(sysroot);

        if (mount("cfsroot-failed", sysroot, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  "mode=0555,size=4k,nr_inodes=1") == 0) {
                if (ret_how)
                        *ret_how = !detached ? "an empty read-only tmpfs mounted over it (the root device could not be detached below it)"
                                   : other_ns ? "root device detached, an empty read-only tmpfs mounted in its place (in PID 1's mount namespace)"
                                              : "root device detached, an empty read-only tmpfs mounted in its place";
                return 0;
        }
        r = -errno;
        if (detached) {
                if (ret_how)
                        *ret_how = "root device detached (no tmpfs for a cover)";
                return 0;
        }
        if (ret_how)
                *ret_how = "neither detaching the root device nor a tmpfs cover worked";
        return r;
}
