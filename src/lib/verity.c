/* SPDX-License-Identifier: MIT */
/* fs-verity digests in user space (OpenSSL SHA-256) and the kernel's verity ioctls. */
#include <endian.h>
#include <openssl/sha.h>
#include <sys/ioctl.h>

#include "uapi/fsverity.h"
#include "util.h"
#include "verity.h"

#define HASHES_PER_BLOCK (CFS_VERITY_BLOCK_SIZE / CFS_DIGEST_SIZE)
#define MAX_LEVELS 12 /* 128^12 blocks: far beyond 2^64 bytes */

/* Level 0 collects the hashes of data blocks; level L+1 the hashes of level L's blocks. */
struct cfs_verity_ctx {
        uint64_t size;
        uint8_t block[CFS_VERITY_BLOCK_SIZE]; /* partial data block */
        size_t block_fill;
        uint8_t level[MAX_LEVELS][CFS_VERITY_BLOCK_SIZE];
        size_t level_fill[MAX_LEVELS];    /* bytes in the pending block of that level */
        uint64_t level_blocks[MAX_LEVELS]; /* hashes pushed into that level so far */
};

static void sha256(const void *data, size_t n, uint8_t out[CFS_DIGEST_SIZE]) { SHA256(data, n, out); }

static void push_hash(cfs_verity_ctx *c, unsigned lvl, const uint8_t h[CFS_DIGEST_SIZE]) {
        CHECK(lvl < MAX_LEVELS);
        memcpy(c->level[lvl] + c->level_fill[lvl], h, CFS_DIGEST_SIZE);
        c->level_fill[lvl] += CFS_DIGEST_SIZE;
        c->level_blocks[lvl]++;
        if (c->level_fill[lvl] == CFS_VERITY_BLOCK_SIZE) {
                uint8_t up[CFS_DIGEST_SIZE];
                sha256(c->level[lvl], CFS_VERITY_BLOCK_SIZE, up);
                c->level_fill[lvl] = 0;
                push_hash(c, lvl + 1, up);
        }
}

static void hash_block(cfs_verity_ctx *c, const uint8_t *block) {
        uint8_t h[CFS_DIGEST_SIZE];
        sha256(block, CFS_VERITY_BLOCK_SIZE, h);
        push_hash(c, 0, h);
}

cfs_verity_ctx *cfs_verity_new(void) { return calloc(1, sizeof(cfs_verity_ctx)); }

cfs_verity_ctx *cfs_verity_free(cfs_verity_ctx *c) {
        free(c);
        return NULL;
}

void cfs_verity_update(cfs_verity_ctx *c, const void *data, size_t n) {
        const uint8_t *p = data;
        c->size += n;
        if (c->block_fill > 0) {
                size_t k = MIN(n, CFS_VERITY_BLOCK_SIZE - c->block_fill);
                memcpy(c->block + c->block_fill, p, k);
                c->block_fill += k;
                p += k;
                n -= k;
                if (c->block_fill < CFS_VERITY_BLOCK_SIZE)
                        return;
                hash_block(c, c->block);
                c->block_fill = 0;
        }
        for (; n >= CFS_VERITY_BLOCK_SIZE; p += CFS_VERITY_BLOCK_SIZE, n -= CFS_VERITY_BLOCK_SIZE)
                hash_block(c, p);
        memcpy(c->block, p, n);
        c->block_fill = n;
}

void cfs_verity_final(cfs_verity_ctx *c, uint8_t ret_digest[CFS_DIGEST_SIZE]) {
        struct cfs_fsverity_descriptor d = {
                .version = 1,
                .hash_algorithm = CFS_FSVERITY_HASH_ALG_SHA256,
                .log_blocksize = 12,
                .data_size = htole64(c->size),
        };

        if (c->block_fill > 0) {
                memset(c->block + c->block_fill, 0, CFS_VERITY_BLOCK_SIZE - c->block_fill);
                hash_block(c, c->block);
                c->block_fill = 0;
        }

        /* Empty file: all-zero root hash. One block: its hash is the root. Otherwise close
         * each level's last block bottom-up until a level consists of a single block. */
        if (c->level_blocks[0] == 1)
                memcpy(d.root_hash, c->level[0], CFS_DIGEST_SIZE);
        else if (c->level_blocks[0] > 1)
                for (unsigned lvl = 0;; lvl++) {
                        CHECK(lvl + 1 < MAX_LEVELS);
                        if (c->level_fill[lvl] > 0) {
                                uint8_t h[CFS_DIGEST_SIZE];
                                memset(c->level[lvl] + c->level_fill[lvl], 0,
                                       CFS_VERITY_BLOCK_SIZE - c->level_fill[lvl]);
                                sha256(c->level[lvl], CFS_VERITY_BLOCK_SIZE, h);
                                c->level_fill[lvl] = 0;
                                push_hash(c, lvl + 1, h);
                        }
                        if (c->level_blocks[lvl + 1] == 1) {
                                memcpy(d.root_hash, c->level[lvl + 1], CFS_DIGEST_SIZE);
                                break;
                        }
                }

        sha256(&d, sizeof d, ret_digest);
}

void cfs_verity_digest_buffer(const void *data, size_t n, uint8_t ret_digest[CFS_DIGEST_SIZE]) {
        cfs_verity_ctx *c = cfs_verity_new();
        CHECK(c);
        cfs_verity_update(c, data, n);
        cfs_verity_final(c, ret_digest);
        cfs_verity_free(c);
}

static void verity_freep(cfs_verity_ctx **c) { cfs_verity_free(*c); }

int cfs_verity_digest_fd(int fd, uint8_t ret_digest[CFS_DIGEST_SIZE]) {
        _cleanup_(verity_freep) cfs_verity_ctx *c = cfs_verity_new();
        static _Thread_local uint8_t buf[256 * 1024];
        off_t off = 0;

        if (!c)
                return -ENOMEM;
        for (;;) {
                ssize_t n = loop_pread(fd, buf, sizeof buf, off);
                if (n < 0)
                        return (int) n;
                if (n == 0)
                        break;
                cfs_verity_update(c, buf, (size_t) n);
                off += n;
        }
        cfs_verity_final(c, ret_digest);
        return 0;
}

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
