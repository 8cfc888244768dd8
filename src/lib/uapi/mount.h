/* SPDX-License-Identifier: MIT */
/* The new mount API (fsopen/fsconfig/fsmount/move_mount, Linux 5.2+) and the loop-device
 * UAPI we depend on, vendored: glibc before 2.36 has no wrappers and the host's kernel
 * headers may be older than the kernel we boot. The syscall numbers are the unified ones
 * every architecture except alpha uses (424+). */
#pragma once

#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_open_tree
#define __NR_open_tree 428
#endif
#ifndef __NR_move_mount
#define __NR_move_mount 429
#endif
#ifndef __NR_openat2
#define __NR_openat2 437
#endif
#ifndef __NR_fsopen
#define __NR_fsopen 430
#endif
#ifndef __NR_fsconfig
#define __NR_fsconfig 431
#endif
#ifndef __NR_fsmount
#define __NR_fsmount 432
#endif

#define CFS_FSOPEN_CLOEXEC 0x00000001u
#define CFS_FSMOUNT_CLOEXEC 0x00000001u
#define CFS_MOVE_MOUNT_F_EMPTY_PATH 0x00000004u
#define CFS_MOUNT_ATTR_RDONLY 0x00000001u

enum {
        CFS_FSCONFIG_SET_FLAG = 0,
        CFS_FSCONFIG_SET_STRING = 1,
        CFS_FSCONFIG_SET_BINARY = 2,
        CFS_FSCONFIG_SET_PATH = 3,
        CFS_FSCONFIG_SET_PATH_EMPTY = 4,
        CFS_FSCONFIG_SET_FD = 5,
        CFS_FSCONFIG_CMD_CREATE = 6,
        CFS_FSCONFIG_CMD_RECONFIGURE = 7,
};

static inline int cfs_sys_fsopen(const char *fsname, unsigned flags) {
        return (int) syscall(__NR_fsopen, fsname, flags);
}
static inline int cfs_sys_fsconfig(int fd, unsigned cmd, const char *key, const void *value, int aux) {
        return (int) syscall(__NR_fsconfig, fd, cmd, key, value, aux);
}
static inline int cfs_sys_fsmount(int fd, unsigned flags, unsigned attr_flags) {
        return (int) syscall(__NR_fsmount, fd, flags, attr_flags);
}
static inline int cfs_sys_move_mount(int from_dfd, const char *from_path, int to_dfd, const char *to_path,
                                     unsigned flags) {
        return (int) syscall(__NR_move_mount, from_dfd, from_path, to_dfd, to_path, flags);
}

/* openat2 (5.6+): resolve a path as if the given directory were "/", so an absolute
 * symlink on the root device cannot point into the initramfs. */
struct cfs_open_how {
        uint64_t flags;
        uint64_t mode;
        uint64_t resolve;
};
#define CFS_RESOLVE_NO_XDEV 0x01u
#define CFS_RESOLVE_NO_MAGICLINKS 0x02u
#define CFS_RESOLVE_IN_ROOT 0x10u

static inline int cfs_sys_openat2(int dfd, const char *path, const struct cfs_open_how *how) {
        return (int) syscall(__NR_openat2, dfd, path, how, sizeof(*how));
}

/* Loop devices (linux/loop.h): LOOP_CONFIGURE (5.8+) binds a backing fd atomically. */
#define CFS_LOOP_CTL_GET_FREE 0x4C82
#define CFS_LOOP_CONFIGURE 0x4C0A
#define CFS_LO_FLAGS_READ_ONLY 1u
#define CFS_LO_FLAGS_AUTOCLEAR 4u

struct cfs_loop_info64 {
        uint64_t lo_device;
        uint64_t lo_inode;
        uint64_t lo_rdevice;
        uint64_t lo_offset;
        uint64_t lo_sizelimit;
        uint32_t lo_number;
        uint32_t lo_encrypt_type;
        uint32_t lo_encrypt_key_size;
        uint32_t lo_flags;
        uint8_t lo_file_name[64];
        uint8_t lo_crypt_name[64];
        uint8_t lo_encrypt_key[32];
        uint64_t lo_init[2];
};

struct cfs_loop_config {
        uint32_t fd;
        uint32_t block_size;
        struct cfs_loop_info64 info;
        uint64_t __reserved[8];
};

/* open_tree (5.2+) and mount_setattr (5.12+): `cfsroot prepare` clones mount trees instead
 * of moving them (MS_MOVE refuses a mount whose parent is shared, and a systemd initramfs
 * keeps "/" shared until switch-root). */
#ifndef __NR_mount_setattr
#define __NR_mount_setattr 442
#endif
#define CFS_OPEN_TREE_CLONE 0x00000001u
#define CFS_AT_RECURSIVE 0x8000u
#define CFS_AT_EMPTY_PATH 0x1000u
#define CFS_MOUNT_ATTR_NOSUID 0x00000002u
#define CFS_MOUNT_ATTR_NODEV 0x00000004u

struct cfs_mount_attr {
        uint64_t attr_set;
        uint64_t attr_clr;
        uint64_t propagation;
        uint64_t userns_fd;
};

static inline int cfs_sys_open_tree(int dfd, const char *path, unsigned flags) {
        return (int) syscall(__NR_open_tree, dfd, path, flags);
}
static inline int cfs_sys_mount_setattr(int dfd, const char *path, unsigned flags, struct cfs_mount_attr *attr) {
        return (int) syscall(__NR_mount_setattr, dfd, path, flags, attr, sizeof(*attr));
}
