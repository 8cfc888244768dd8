/* SPDX-License-Identifier: MIT */
/* The fs-verity UAPI we depend on (Documentation/filesystems/fsverity.rst), vendored so the
 * build does not depend on the host's kernel headers. */
#pragma once

#include <stdint.h>
#include <sys/ioctl.h>

#define CFS_FSVERITY_HASH_ALG_SHA256 1

struct cfs_fsverity_enable_arg {
        uint32_t version;
        uint32_t hash_algorithm;
        uint32_t block_size;
        uint32_t salt_size;
        uint64_t salt_ptr;
        uint32_t sig_size;
        uint32_t __reserved1;
        uint64_t sig_ptr;
        uint64_t __reserved2[11];
};

struct cfs_fsverity_digest {
        uint16_t digest_algorithm;
        uint16_t digest_size; /* input/output */
        uint8_t digest[];
};

/* The descriptor whose SHA-256 is the file's fs-verity digest. Little-endian fields. */
struct cfs_fsverity_descriptor {
        uint8_t version;
        uint8_t hash_algorithm;
        uint8_t log_blocksize;
        uint8_t salt_size;
        uint32_t __reserved_0x04;
        uint64_t data_size;
        uint8_t root_hash[64];
        uint8_t salt[32];
        uint8_t __reserved[144];
};

#define CFS_FS_IOC_ENABLE_VERITY _IOW('f', 133, struct cfs_fsverity_enable_arg)
#define CFS_FS_IOC_MEASURE_VERITY _IOWR('f', 134, struct cfs_fsverity_digest)
