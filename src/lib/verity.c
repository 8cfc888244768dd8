/* SPDX-License-Identifier: MIT */
/* fs-verity digests in user space (OpenSSL SHA-256). The kernel's verity ioctls are in
 * verity-ioctl.c, so that cfsroot, which only measures, can be built without libcrypto. */
#include <endian.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <sys/stat.h>

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
        size_t level_fill[MAX_LEVELS];     /* bytes in the pending block of that level */
        uint64_t level_blocks[MAX_LEVELS]; /* hashes pushed into that level so far */
};

static EVP_MD *sha256_md(void) {
        /* SHA256() looks the algorithm up (a lock and a name search) on every call, about
         * as long as hashing a small block: fetched once, by whichever thread comes first. */
        static EVP_MD *cached;
        EVP_MD *md = __atomic_load_n(&cached, __ATOMIC_ACQUIRE);
        if (!md) {
                EVP_MD *fetched = EVP_MD_fetch(NULL, "SHA256", NULL), *none = NULL;
                if (fetched && !__atomic_compare_exchange_n(&cached, &none, fetched, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                        EVP_MD_free(fetched); /* another thread was first: use its */
                md = __atomic_load_n(&cached, __ATOMIC_ACQUIRE);
        }
        return md;
}

/* One EVP_MD_CTX per thread, reused: a fresh one per hash takes and drops a reference on
 * the shared EVP_MD, an atomic on one cache line that every hashing thread writes. */
static pthread_key_t ctx_key;
static bool ctx_key_ok;
static pthread_once_t ctx_key_once = PTHREAD_ONCE_INIT;

static void ctx_free(void *ctx) {
        EVP_MD_CTX_free(ctx);
}

static void ctx_key_init(void) {
        ctx_key_ok = pthread_key_create(&ctx_key, ctx_free) == 0;
}

static EVP_MD_CTX *thread_ctx(void) {
        EVP_MD_CTX *ctx;
        pthread_once(&ctx_key_once, ctx_key_init);
        if (!ctx_key_ok)
                return NULL;
        ctx = pthread_getspecific(ctx_key);
        if (!ctx) {
                ctx = EVP_MD_CTX_new();
                if (ctx && pthread_setspecific(ctx_key, ctx) != 0) {
                        EVP_MD_CTX_free(ctx);
                        ctx = NULL;
                }
        }
        return ctx;
}

static void sha256(const void *data, size_t n, uint8_t out[CFS_DIGEST_SIZE]) {
        EVP_MD *md = sha256_md();
        EVP_MD_CTX *ctx = thread_ctx();
        if (md && ctx && EVP_DigestInit_ex2(ctx, md, NULL) == 1 && EVP_DigestUpdate(ctx, data, n) == 1 &&
            EVP_DigestFinal_ex(ctx, out, NULL) == 1)
                return;
        SHA256(data, n, out);
}

/* zero_hash[L]: the hash of an all-zero block at level L (data blocks are level 0). */
static uint8_t zero_hash[MAX_LEVELS][CFS_DIGEST_SIZE];
static pthread_once_t zero_hash_once = PTHREAD_ONCE_INIT;

static void zero_hash_init(void) {
        static uint8_t blk[CFS_VERITY_BLOCK_SIZE];
        memset(blk, 0, sizeof blk);
        sha256(blk, sizeof blk, zero_hash[0]);
        for (unsigned l = 1; l < MAX_LEVELS; l++) {
                for (unsigned i = 0; i < HASHES_PER_BLOCK; i++)
                        memcpy(blk + i * CFS_DIGEST_SIZE, zero_hash[l - 1], CFS_DIGEST_SIZE);
                sha256(blk, sizeof blk, zero_hash[l]);
        }
}

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

/* Pushes k hashes of all-zero blocks into level lvl; whole tree blocks of them go up as
 * one known hash each. */
static void push_zero_run(cfs_verity_ctx *c, unsigned lvl, uint64_t k) {
        while (k > 0) {
                if (c->level_fill[lvl] == 0 && k >= HASHES_PER_BLOCK) {
                        uint64_t q = k / HASHES_PER_BLOCK;
                        CHECK(lvl + 1 < MAX_LEVELS);
                        c->level_blocks[lvl] += q * HASHES_PER_BLOCK;
                        push_zero_run(c, lvl + 1, q);
                        k -= q * HASHES_PER_BLOCK;
                } else {
                        push_hash(c, lvl, zero_hash[lvl]);
                        k--;
                }
        }
}

static void hash_block(cfs_verity_ctx *c, const uint8_t *block) {
        uint8_t h[CFS_DIGEST_SIZE];
        sha256(block, CFS_VERITY_BLOCK_SIZE, h);
        push_hash(c, 0, h);
}

cfs_verity_ctx *cfs_verity_new(void) {
        pthread_once(&zero_hash_once, zero_hash_init);
        return calloc(1, sizeof(cfs_verity_ctx));
}

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

void cfs_verity_update_zeros(cfs_verity_ctx *c, uint64_t n) {
        static const uint8_t z[CFS_VERITY_BLOCK_SIZE];
        if (c->block_fill > 0) {
                size_t k = (size_t) MIN(n, (uint64_t) (CFS_VERITY_BLOCK_SIZE - c->block_fill));
                cfs_verity_update(c, z, k);
                n -= k;
        }
        uint64_t blocks = n / CFS_VERITY_BLOCK_SIZE;
        c->size += blocks * CFS_VERITY_BLOCK_SIZE;
        push_zero_run(c, 0, blocks);
        cfs_verity_update(c, z, (size_t) (n % CFS_VERITY_BLOCK_SIZE));
}

static void descriptor_digest(uint64_t size, const uint8_t root_hash[CFS_DIGEST_SIZE],
                              uint8_t ret_digest[CFS_DIGEST_SIZE]) {
        struct cfs_fsverity_descriptor d = {
                .version = 1,
                .hash_algorithm = CFS_FSVERITY_HASH_ALG_SHA256,
                .log_blocksize = 12,
                .data_size = htole64(size),
        };
        memcpy(d.root_hash, root_hash, CFS_DIGEST_SIZE);
        sha256(&d, sizeof d, ret_digest);
}

void cfs_verity_final(cfs_verity_ctx *c, uint8_t ret_digest[CFS_DIGEST_SIZE]) {
        uint8_t root[CFS_DIGEST_SIZE] = {};

        if (c->block_fill > 0) {
                memset(c->block + c->block_fill, 0, CFS_VERITY_BLOCK_SIZE - c->block_fill);
                hash_block(c, c->block);
                c->block_fill = 0;
        }

        /* Empty file: all-zero root hash. One block: its hash is the root. Otherwise close
         * each level's last block bottom-up until a level consists of a single block (a
         * single hash is always stored in level[]: zero runs only skip whole blocks). */
        if (c->level_blocks[0] == 1)
                memcpy(root, c->level[0], CFS_DIGEST_SIZE);
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
                                memcpy(root, c->level[lvl + 1], CFS_DIGEST_SIZE);
                                break;
                        }
                }
        descriptor_digest(c->size, root, ret_digest);
}

void cfs_verity_digest_buffer(const void *data, size_t n, uint8_t ret_digest[CFS_DIGEST_SIZE]) {
        if (n <= CFS_VERITY_SMALL_MAX)
                return cfs_verity_digest_small(data, n, ret_digest);
        cfs_verity_ctx *c = cfs_verity_new();
        CHECK(c);
        cfs_verity_update(c, data, n);
        cfs_verity_final(c, ret_digest);
        cfs_verity_free(c);
}

/* A tree of one level (or none) needs no context: hash the blocks, hash the block of
 * hashes, hash the descriptor. test-verity checks it against the streaming code. */
void cfs_verity_digest_small(const void *data, size_t n, uint8_t ret_digest[CFS_DIGEST_SIZE]) {
        uint8_t hashes[CFS_VERITY_BLOCK_SIZE], root[CFS_DIGEST_SIZE] = {};
        const uint8_t *p = data;
        size_t nblocks = (n + CFS_VERITY_BLOCK_SIZE - 1) / CFS_VERITY_BLOCK_SIZE;

        CHECK(n <= CFS_VERITY_SMALL_MAX);
        for (size_t i = 0; i < nblocks; i++) {
                size_t off = i * CFS_VERITY_BLOCK_SIZE, len = MIN(n - off, (size_t) CFS_VERITY_BLOCK_SIZE);
                if (len == CFS_VERITY_BLOCK_SIZE)
                        sha256(p + off, len, hashes + i * CFS_DIGEST_SIZE);
                else {
                        uint8_t block[CFS_VERITY_BLOCK_SIZE] = {};
                        memcpy(block, p + off, len);
                        sha256(block, sizeof block, hashes + i * CFS_DIGEST_SIZE);
                }
        }
        if (nblocks == 1)
                memcpy(root, hashes, CFS_DIGEST_SIZE);
        else if (nblocks > 1) {
                memset(hashes + nblocks * CFS_DIGEST_SIZE, 0, sizeof hashes - nblocks * CFS_DIGEST_SIZE);
                sha256(hashes, sizeof hashes, root);
        }
        descriptor_digest(n, root, ret_digest);
}

static void verity_freep(cfs_verity_ctx **c) { cfs_verity_free(*c); }

int cfs_verity_update_chunk(const uint8_t *data, size_t n, uint64_t off, void *userdata) {
        if (data)
                cfs_verity_update(userdata, data, n);
        else
                cfs_verity_update_zeros(userdata, n);
        return 0;
}

int cfs_verity_digest_fd(int fd, uint8_t ret_digest[CFS_DIGEST_SIZE]) {
        _cleanup_(verity_freep) cfs_verity_ctx *c = cfs_verity_new();
        _cleanup_free_ uint8_t *buf = malloc(256 * 1024);
        struct stat st;

        if (!c || !buf)
                return -ENOMEM;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        int r = cfs_read_sparse(fd, (uint64_t) st.st_size, buf, 256 * 1024, cfs_verity_update_chunk, c);
        if (r < 0)
                return r;
        cfs_verity_final(c, ret_digest);
        return 0;
}
