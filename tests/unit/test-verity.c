/* SPDX-License-Identifier: MIT */
/* fs-verity digests: known answers (obtained with `fsverity digest --block-size=4096` from
 * fsverity-utils), the same digests from the streaming API with odd chunk sizes, from an fd,
 * from the scanner's small-file shortcut, and at run time against the fsverity tool itself
 * when it is installed. Content: byte i = i*31 mod 251. */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "scan.h"
#include "util.h"
#include "verity.h"

static const struct {
        size_t size;
        const char *hex;
} vectors[] = {
        { 0, "3d248ca542a24fc62d1c43b916eae5016878e2533c88238480b26128a1f1af95" },
        { 1, "b803429503d95915829b29fdbc8bbad142f3abfd11b1cadf5526582e685c0551" },
        { 4096, "35bee561c5795a8044fe6cb352e9149fa1ab4445092438d6da1d9cf7dac6b653" },
        { 4097, "eb9268ed8c3c87ab4009d7fbf2cb766ac2d96b4cf87456f5a78a1d76ef29963b" },
        { 524288, "25c0582aa4a2f68722d96cd8a53b10ab80593e6759e76b197e73105c78e59647" }, /* 128 blocks: one full level */
        { 524289, "d7e8b3c9ab45c38f386bea044be6dd0a852d3dc3b9ce3cea43358644254f0937" }, /* first with two levels */
        { 528384, "305b47de7a83da5305c5d18890e9ea65b29b62741af369a3a17449c01480b049" },
        { 1048576, "a67042484ef0fb0c2194a62eb03817c3a871a0c5b009c7664ad282b1d4612341" },
};

static uint8_t *gen(size_t n) {
        uint8_t *p = malloc(n ?: 1);
        CHECK(p);
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t) ((i * 31) % 251);
        return p;
}

static void to_hex(const uint8_t d[CFS_DIGEST_SIZE], char out[CFS_DIGEST_SIZE * 2 + 1]) { hex_encode(d, CFS_DIGEST_SIZE, out); }

static void test_known_answers(void) {
        for (size_t v = 0; v < ELEMENTSOF(vectors); v++) {
                _cleanup_free_ uint8_t *data = gen(vectors[v].size);
                uint8_t d[CFS_DIGEST_SIZE];
                char hex[CFS_DIGEST_SIZE * 2 + 1];

                cfs_verity_digest_buffer(data, vectors[v].size, d);
                to_hex(d, hex);
                if (!streq(hex, vectors[v].hex))
                        fprintf(stderr, "size %zu: got %s, want %s\n", vectors[v].size, hex, vectors[v].hex);
                CHECK(streq(hex, vectors[v].hex));

                if (vectors[v].size <= CFS_VERITY_SMALL_MAX) {
                        uint8_t d2[CFS_DIGEST_SIZE];
                        cfs_verity_digest_small(data, vectors[v].size, d2);
                        CHECK(memcmp(d, d2, CFS_DIGEST_SIZE) == 0);
                }
        }
        printf("PASS: known answers (%zu sizes, empty .. 1 MiB)\n", ELEMENTSOF(vectors));
        printf("PASS: small-file shortcut equals the general digest\n");
}

static void test_streaming(void) {
        static const size_t chunks[] = { 1, 3, 31, 4095, 4096, 4097, 65537, 1000000 };
        for (size_t v = 0; v < ELEMENTSOF(vectors); v++) {
                size_t n = vectors[v].size;
                _cleanup_free_ uint8_t *data = gen(n);
                uint8_t want[CFS_DIGEST_SIZE];
                cfs_verity_digest_buffer(data, n, want);
                for (size_t c = 0; c < ELEMENTSOF(chunks); c++) {
                        if (chunks[c] < 4096 && n > 600000)
                                continue; /* byte-sized chunks over a MiB only cost time */
                        cfs_verity_ctx *ctx = cfs_verity_new();
                        CHECK(ctx);
                        /* Vary the chunk a little so block boundaries fall everywhere. */
                        for (size_t off = 0, i = 0; off < n; i++) {
                                size_t k = MIN(n - off, chunks[c] + (i % 3));
                                cfs_verity_update(ctx, data + off, k);
                                off += k;
                        }
                        uint8_t got[CFS_DIGEST_SIZE];
                        cfs_verity_final(ctx, got);
                        cfs_verity_free(ctx);
                        CHECK(memcmp(got, want, CFS_DIGEST_SIZE) == 0);
                }
        }
        printf("PASS: streaming with odd chunk sizes equals one-shot\n");
}

static void test_fd(void) {
        for (size_t v = 0; v < ELEMENTSOF(vectors); v++) {
                size_t n = vectors[v].size;
                _cleanup_free_ uint8_t *data = gen(n);
                _cleanup_close_ int fd = memfd_create("verity", MFD_CLOEXEC);
                uint8_t want[CFS_DIGEST_SIZE], got[CFS_DIGEST_SIZE];
                CHECK(fd >= 0);
                CHECK(loop_write(fd, data, n) == 0);
                cfs_verity_digest_buffer(data, n, want);
                CHECK(cfs_verity_digest_fd(fd, got) == 0);
                CHECK(memcmp(got, want, CFS_DIGEST_SIZE) == 0);
        }
        printf("PASS: digest of an fd equals the digest of its bytes\n");
}

/* The hole-aware digest against the plain one on materialised data: zero runs of every
 * alignment, including whole 128-block tree blocks (bulk path) and runs across levels. */
static void test_zero_runs(void) {
        static const struct {
                size_t lead, zeros, tail;
        } cases[] = {
                { 0, 0, 0 }, { 0, 1, 0 }, { 0, 4096, 0 }, { 0, 4097, 0 }, { 5, 4096 * 128, 0 },
                { 0, 4096 * 128, 0 }, { 0, 4096 * 129, 3 }, { 4096, 4096 * 128 * 3, 1 },
                { 100, 4096 * 128 * 130 + 17, 5000 }, /* > one level-1 block of zero blocks */
                { 4096 * 127, 4096 * 128 * 128, 0 },  /* exactly a level-2 block of zeros, misaligned */
                { 0, 4096 * 128 * 128, 4096 },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                size_t n = cases[i].lead + cases[i].zeros + cases[i].tail;
                _cleanup_free_ uint8_t *data = gen(n);
                uint8_t want[CFS_DIGEST_SIZE], got[CFS_DIGEST_SIZE];

                memset(data + cases[i].lead, 0, cases[i].zeros);
                cfs_verity_digest_buffer(data, n, want);

                cfs_verity_ctx *m = cfs_verity_new();
                CHECK(m);
                /* Data in odd pieces, zeros as a run split in two odd parts. */
                for (size_t off = 0; off < cases[i].lead; off += 777)
                        cfs_verity_update(m, data + off, MIN((size_t) 777, cases[i].lead - off));
                cfs_verity_update_zeros(m, cases[i].zeros / 3);
                cfs_verity_update_zeros(m, cases[i].zeros - cases[i].zeros / 3);
                cfs_verity_update(m, data + cases[i].lead + cases[i].zeros, cases[i].tail);
                cfs_verity_final(m, got);
                cfs_verity_free(m);
                if (memcmp(got, want, CFS_DIGEST_SIZE) != 0)
                        fprintf(stderr, "case %zu (lead %zu zeros %zu tail %zu) differs\n", i, cases[i].lead,
                                cases[i].zeros, cases[i].tail);
                CHECK(memcmp(got, want, CFS_DIGEST_SIZE) == 0);
        }
        printf("PASS: hole-aware digest equals the plain digest (%zu zero-run layouts)\n", ELEMENTSOF(cases));
}

/* A 10 GiB sparse file as a run of zeros, against the digest fsverity-utils printed for it. */
static void test_zero_runs_huge(void) {
        uint8_t d[CFS_DIGEST_SIZE];
        char hex[CFS_DIGEST_SIZE * 2 + 1];
        cfs_verity_ctx *m = cfs_verity_new();
        CHECK(m);
        cfs_verity_update_zeros(m, 5000000000ull);
        cfs_verity_update(m, "hello", 5);
        cfs_verity_update_zeros(m, 10737418240ull - 5000000005ull);
        cfs_verity_final(m, d);
        cfs_verity_free(m);
        to_hex(d, hex);
        CHECK(streq(hex, "65f5fa9c6079ce15c4432c6160bccc7cd8da86e94e3bf7ea45b3d916b0aba5fb"));
        printf("PASS: 10 GiB sparse known answer\n");
}

static void test_object_path(void) {
        uint8_t d[CFS_DIGEST_SIZE];
        char p[CFS_OBJECT_PATH_SIZE];
        for (size_t i = 0; i < CFS_DIGEST_SIZE; i++)
                d[i] = (uint8_t) (0xa0 + i);
        cfs_object_path(d, p);
        CHECK(strlen(p) == 65);
        CHECK(streq(p, "a0/a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"));
        printf("PASS: object path layout xx/yyyy\n");
}

/* The reference tool, run on files we write now: guards against stale hard-coded answers. */
static void test_against_tool(void) {
        static const size_t sizes[] = { 0, 1, 63, 64, 65, 4095, 4096, 4097, 12345, 524288, 524289, 1048576, 3 * 1048576 + 7 };
        char dir[] = "/tmp/test-verity-XXXXXX";

        if (system("fsverity --version >/dev/null 2>&1") != 0) {
                printf("SKIP: comparison with fsverity digest: the fsverity tool is not installed\n");
                return;
        }
        CHECK(mkdtemp(dir));
        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                char path[128], cmd[256], line[256], hex[CFS_DIGEST_SIZE * 2 + 1], want[80];
                _cleanup_free_ uint8_t *data = gen(sizes[i]);
                uint8_t d[CFS_DIGEST_SIZE];

                snprintf(path, sizeof path, "%s/f%zu", dir, sizes[i]);
                int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                CHECK(fd >= 0);
                CHECK(loop_write(fd, data, sizes[i]) == 0);
                close(fd);

                snprintf(cmd, sizeof cmd, "fsverity digest --block-size=4096 '%s'", path);
                FILE *p = popen(cmd, "r");
                CHECK(p);
                CHECK(fgets(line, sizeof line, p));
                CHECK(pclose(p) == 0);
                CHECK(strncmp(line, "sha256:", 7) == 0);
                snprintf(want, sizeof want, "%.64s", line + 7);

                cfs_verity_digest_buffer(data, sizes[i], d);
                to_hex(d, hex);
                if (!streq(hex, want))
                        fprintf(stderr, "size %zu: we say %s, fsverity says %s\n", sizes[i], hex, want);
                CHECK(streq(hex, want));
                unlink(path);
        }
        rmdir(dir);
        printf("PASS: equals fsverity digest at run time (%zu sizes)\n", ELEMENTSOF(sizes));
}

int main(void) {
        test_known_answers();
        test_streaming();
        test_fd();
        test_zero_runs();
        test_zero_runs_huge();
        test_object_path();
        test_against_tool();
        return 0;
}
