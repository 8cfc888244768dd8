/* SPDX-License-Identifier: MIT */
/* The kernel's fs-verity ioctls: measure and enable. Apart from verity.c (the user-space
 * digest) because cfsroot needs only these and is built without libcrypto by default. */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "uapi/fsverity.h"
#include "verity.h"

int cfs_verity_measure_fd(int fd, uint8_t ret_digest[CFS_DIGEST_SIZE]) {
        union {
                struct cfs_fsverity_digest d;
                uint8_t buf[sizeof(struct cfs_fsverity_digest) + 64];
        } u = { .d.digest_size = 64 };

        if (ioctl(fd, CFS_FS_IOC_MEASURE_VERITY, &u) < 0) {
                if (errno == ENOTTY || errno == ENOTSUP)
                        return -EOPNOTSUPP;
                return -errno;
        }
        if (u.d.digest_algorithm != CFS_FSVERITY_HASH_ALG_SHA256 || u.d.digest_size != CFS_DIGEST_SIZE)
                return -EBADMSG;
        memcpy(ret_digest, u.d.digest, CFS_DIGEST_SIZE);
        return 0;
}

int cfs_verity_enable_fd(int fd) {
        struct cfs_fsverity_enable_arg arg = {
                .version = 1,
                .hash_algorithm = CFS_FSVERITY_HASH_ALG_SHA256,
                .block_size = CFS_VERITY_BLOCK_SIZE,
        };

        if (ioctl(fd, CFS_FS_IOC_ENABLE_VERITY, &arg) < 0) {
                if (errno == EEXIST)
                        return 0;
                if (errno == ENOTTY || errno == ENOTSUP)
                        return -EOPNOTSUPP;
                return -errno;
        }
        return 0;
}
