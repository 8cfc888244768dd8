/* SPDX-License-Identifier: MIT */
/* fs-verity: the SHA-256 digest computed in user space (4096-byte Merkle blocks, no salt:
 * what `fsverity digest --block-size=4096` and FS_IOC_MEASURE_VERITY report), and the
 * kernel ioctls to enable and measure it.
 *
 * Errors: -ENODATA the file has no fs-verity; -EOPNOTSUPP the filesystem or kernel has
 * none; -EBADMSG a digest that is not SHA-256. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CFS_DIGEST_SIZE 32
#define CFS_VERITY_BLOCK_SIZE 4096

typedef struct cfs_verity_ctx cfs_verity_ctx;

/* Streaming digest: feed the file's bytes in order, any chunking. Runs of zeros (holes) can
 * be fed by length: a zero block, and a tree block of equal zero hashes, always hash to the
 * same value, so a run of any length costs a few hashes per tree level. */
cfs_verity_ctx *cfs_verity_new(void);
void cfs_verity_update(cfs_verity_ctx *c, const void *data, size_t n);
void cfs_verity_update_zeros(cfs_verity_ctx *c, uint64_t n);
/* A cfs_chunk_fn (util.h) feeding the context in userdata: data, or a hole when data is NULL. */
int cfs_verity_update_chunk(const uint8_t *data, size_t n, uint64_t off, void *userdata);
void cfs_verity_final(cfs_verity_ctx *c, uint8_t ret_digest[CFS_DIGEST_SIZE]);
cfs_verity_ctx *cfs_verity_free(cfs_verity_ctx *c);

void cfs_verity_digest_buffer(const void *data, size_t n, uint8_t ret_digest[CFS_DIGEST_SIZE]);

/* Files of at most 128 blocks have a one-level tree: their digest needs no context. */
#define CFS_VERITY_SMALL_MAX ((size_t) CFS_VERITY_BLOCK_SIZE * (CFS_VERITY_BLOCK_SIZE / CFS_DIGEST_SIZE))
void cfs_verity_digest_small(const void *data, size_t n, uint8_t ret_digest[CFS_DIGEST_SIZE]);

/* Reads fd from offset 0 to EOF, skipping holes. */
int cfs_verity_digest_fd(int fd, uint8_t ret_digest[CFS_DIGEST_SIZE]);

/* Kernel: measure (FS_IOC_MEASURE_VERITY) and enable (FS_IOC_ENABLE_VERITY, SHA-256,
 * 4096-byte blocks). enable is 0 if verity was already on (EEXIST). The fd for enable must
 * be opened read-only and have no writers. */
int cfs_verity_measure_fd(int fd, uint8_t ret_digest[CFS_DIGEST_SIZE]);
int cfs_verity_enable_fd(int fd);
