/* SPDX-License-Identifier: MIT */
/* The test OS's /sbin/init for the QEMU boot suite: a static program that reports what the
 * booted root looks like on the console ("CFSTEST: ..." lines the harness greps), acts on
 * cfstest.* keys of the kernel command line, then syncs and powers off so QEMU ends.
 *
 *   cfstest.install         enable fs-verity on every regular file under /sysroot/cfs
 *                           with the product's `/usr/bin/cfsroot verity enable` (the install
 *                           boot; the physical root must be mounted rw), except under
 *                           /sysroot/cfs/plain*, kept without verity on purpose; each file is
 *                           then measured with this program's own ioctl to count successes
 *   cfstest.measure=PATH    print the fs-verity digest the kernel reports for PATH
 *   cfstest.mkcfs=SRC       run `/usr/bin/mkcfs --store /sysroot/cfs/objects-g --enable-verity
 *                           --print-digest SRC /sysroot/cfs/images/g.cfs` (needs rw), then
 *                           `/usr/bin/cfsroot verity measure` on that image and every object
 *   cfstest.storeswap       the store repair scenario of tests/qemu/suite-store.sh: mkcfs
 *                           --enable-verity builds a store of three objects (two of the same
 *                           size) on the physical root; the two same-sized objects swap
 *                           names (RENAME_EXCHANGE) before each of two rebuilds (no option,
 *                           then --enable-verity); then cfsroot measures every object
 *   cfstest.cfsmeasure=PATH run `/usr/bin/cfsroot verity measure PATH`
 *   cfstest.sha256=PATH     print the SHA-256 of PATH's bytes as read through this root
 *   cfstest.read=PATH       read PATH to the end: "CFSTEST: read PATH: OK" or ": EIO" (errno name)
 *   cfstest.cat=PATH        print each line of PATH (first 64 KiB) as "CFSTEST: cat PATH: LINE",
 *                           or "CFSTEST: cat PATH: ! ENOENT" (errno name) if it cannot be read
 *   cfstest.nobody=PATH     run `PATH --ids` as uid/gid 65534 (PATH: a setuid-root copy of this
 *                           program, planted on the physical root; it prints "ids: uid=U euid=E")
 *   cfstest.devread=PATH    as uid 65534, open PATH and read a byte: "CFSTEST: devread PATH as
 *                           uid 65534: OK" or the errno name (EACCES on a nodev mount)
 *   cfstest.readlink=PATH   "CFSTEST: readlink PATH: TARGET" or the errno name
 *   cfstest.verity-enable=PATH  like cfstest.install, for the regular file PATH or every
 *                           regular file under the directory PATH (an ostree sysroot's repo)
 *   cfstest.write=PATH      create or replace PATH with one line and fsync it:
 *                           "CFSTEST: write PATH: OK" or ": EROFS" (errno name)
 *   cfstest.exec=PROG,ARG,...  run PROG with the comma-separated arguments (label "exec PROG";
 *                           e.g. a dynamic program started through its loader on /sysroot)
 *
 * Run as anything but PID 1 it only prints the SHA-256 of its arguments (a host self-test).
 *
 * Programs run by these keys have their output echoed as "CFSTEST: LABEL: line" and end
 * with "CFSTEST: LABEL: exit N". Each key may repeat. Written for the test guest only: no
 * dependencies beyond libc. */
#include <dirent.h>
#define ELEMENTSOF_ARGV(a) (sizeof(a) / sizeof((a)[0]) - 1)
#include <grp.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fsverity.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
        char buf[4096];
        va_list ap;
        int n;

        n = snprintf(buf, sizeof buf, "CFSTEST: ");
        va_start(ap, fmt);
        vsnprintf(buf + n, sizeof buf - n, fmt, ap);
        va_end(ap);
        /* stdout is the console; unbuffered single writes keep lines whole between kernel
         * messages that land on the same serial port. */
        strncat(buf, "\n", sizeof buf - strlen(buf) - 1);
        (void) !write(STDOUT_FILENO, buf, strlen(buf));
}

static bool streq_dot(const char *n) {
        return strcmp(n, ".") == 0 || strcmp(n, "..") == 0;
}

static const char *errname(int e) {
        const char *n = strerrorname_np(e);
        return n ? n : "unknown error";
}

/* ---- SHA-256 (FIPS 180-4), small and slow; fine for a few hundred KB in a test guest. */
struct sha256 {
        uint32_t h[8];
        uint8_t buf[64];
        size_t used;
        uint64_t total;
};

static const uint32_t K[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_block(struct sha256 *s, const uint8_t *p) {
        uint32_t w[64], a, b, c, d, e, f, g, h;

        for (int i = 0; i < 16; i++)
                w[i] = (uint32_t) p[4 * i] << 24 | (uint32_t) p[4 * i + 1] << 16 |
                       (uint32_t) p[4 * i + 2] << 8 | p[4 * i + 3];
        for (int i = 16; i < 64; i++) {
                uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
                uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
                w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3];
        e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
        for (int i = 0; i < 64; i++) {
                uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
                uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
                h = g; g = f; f = e; e = d + t1;
                d = c; c = b; b = a; a = t1 + t2;
        }
        s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d;
        s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

static void sha256_init(struct sha256 *s) {
        static const uint32_t iv[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
        memcpy(s->h, iv, sizeof iv);
        s->used = 0;
        s->total = 0;
}

static void sha256_update(struct sha256 *s, const uint8_t *p, size_t n) {
        s->total += n;
        while (n > 0) {
                size_t k = 64 - s->used < n ? 64 - s->used : n;
                memcpy(s->buf + s->used, p, k);
                s->used += k;
                p += k;
                n -= k;
                if (s->used == 64) {
                        sha256_block(s, s->buf);
                        s->used = 0;
                }
        }
}

static void sha256_final(struct sha256 *s, char hex[65]) {
        uint64_t bits = s->total * 8;
        uint8_t pad = 0x80, zero = 0, len[8];

        sha256_update(s, &pad, 1);
        while (s->used != 56)
                sha256_update(s, &zero, 1);
        for (int i = 0; i < 8; i++)
                len[i] = (uint8_t) (bits >> (56 - 8 * i));
        sha256_update(s, len, 8);
        for (int i = 0; i < 8; i++)
                sprintf(hex + 8 * i, "%08x", s->h[i]);
}

/* Reads PATH to the end, hashing it. Returns 0 or -errno (EIO is what fs-verity gives). */
static int hash_file(const char *path, char hex[65]) {
        static uint8_t buf[65536];
        struct sha256 s;
        int fd, r = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        sha256_init(&s);
        for (;;) {
                ssize_t n = read(fd, buf, sizeof buf);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        break;
                }
                if (n == 0)
                        break;
                sha256_update(&s, buf, (size_t) n);
        }
        close(fd);
        if (r == 0)
                sha256_final(&s, hex);
        return r;
}

/* ---- running the product's own binaries (in the test OS at /usr/bin) */

/* Runs ARGV (fork+exec, absolute path) with its stdout and stderr echoed line by line as
 * "CFSTEST: LABEL: ..." and then "CFSTEST: LABEL: exit N". Returns N, or -1 when the program
 * did not start or did not exit normally. */
/* uid 0: as we are; anything else: with that uid and gid and no supplementary groups. */
static int run_prog_as(const char *label, char *const argv[], uid_t uid) {
        static char out[65536];
        size_t used = 0;
        int p[2], status, code;
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0) {
                say("%s: pipe: %s", label, errname(errno));
                return -1;
        }
        pid = fork();
        if (pid < 0) {
                say("%s: fork: %s", label, errname(errno));
                close(p[0]);
                close(p[1]);
                return -1;
        }
        if (pid == 0) {
                /* dup2 clears O_CLOEXEC on the copies: the program inherits only these. */
                if (dup2(p[1], STDOUT_FILENO) < 0 || dup2(p[1], STDERR_FILENO) < 0)
                        _exit(126);
                if (uid != 0 && (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0)) {
                        dprintf(STDERR_FILENO, "cannot become uid %d: %s\n", (int) uid, errname(errno));
                        _exit(126);
                }
                execv(argv[0], argv);
                dprintf(STDERR_FILENO, "exec %s: %s\n", argv[0], errname(errno));
                _exit(127);
        }
        close(p[1]);
        for (;;) {
                ssize_t n;
                if (used == sizeof out - 1) /* a runaway program: keep what fits */
                        used = 0;
                n = read(p[0], out + used, sizeof out - 1 - used);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                used += (size_t) n;
        }
        close(p[0]);
        out[used] = 0;
        for (char *line = out, *nl; *line; line = nl) {
                nl = strchr(line, '\n');
                if (nl)
                        *nl++ = 0;
                else
                        nl = line + strlen(line);
                if (*line)
                        say("%s: %s", label, line);
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR) {
                        say("%s: waitpid: %s", label, errname(errno));
                        return -1;
                }
        code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (code >= 0)
                say("%s: exit %d", label, code);
        else
                say("%s: killed by signal %d", label, WTERMSIG(status));
        return code;
}

static int run_prog(const char *label, char *const argv[]) {
        return run_prog_as(label, argv, 0);
}

/* cfstest.devread=PATH: as uid 65534, open PATH (a device node planted on the physical
 * root) and read one byte. On a nodev mount the open fails with EACCES. */
static void devread_as_nobody(const char *path) {
        int p[2], status;
        char res[64] = "no result";
        pid_t pid;

        if (pipe2(p, O_CLOEXEC) < 0)
                return;
        pid = fork();
        if (pid == 0) {
                char c;
                int fd;
                const char *r = "OK";
                if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
                        r = "cannot become uid 65534";
                else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || read(fd, &c, 1) != 1)
                        r = errname(errno);
                (void) !write(p[1], r, strlen(r));
                _exit(0);
        }
        close(p[1]);
        if (pid > 0) {
                ssize_t n = read(p[0], res, sizeof res - 1);
                res[n > 0 ? n : 0] = 0;
                waitpid(pid, &status, 0);
        }
        close(p[0]);
        say("devread %s as uid 65534: %s", path, res);
}

/* A growing list of paths. */
struct paths {
        char **v;
        size_t n, cap;
};

static void paths_add(struct paths *l, const char *p) {
        if (l->n == l->cap) {
                size_t cap = l->cap ? 2 * l->cap : 64;
                char **v = realloc(l->v, cap * sizeof *v);
                if (!v)
                        return;
                l->v = v;
                l->cap = cap;
        }
        l->v[l->n] = strdup(p);
        if (l->v[l->n])
                l->n++;
}

static void paths_free(struct paths *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->v[i]);
        free(l->v);
        *l = (struct paths) {};
}

/* Every regular file under DIR (recursively), except
 * directories named plain* directly under /sysroot/cfs: the suite keeps deliberately
 * unprotected copies there. */
static void collect_files(const char *dir, struct paths *l, unsigned *n_fail) {
        struct dirent *de;
        DIR *d;

        d = opendir(dir);
        if (!d) {
                say("cannot open %s: %s", dir, errname(errno));
                (*n_fail)++;
                return;
        }
        while ((de = readdir(d))) {
                char p[4096];
                struct stat st;

                if (streq_dot(de->d_name))
                        continue;
                snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
                if (lstat(p, &st) < 0)
                        continue;
                if (S_ISDIR(st.st_mode)) {
                        if (strcmp(dir, "/sysroot/cfs") == 0 && strncmp(de->d_name, "plain", 5) == 0)
                                continue;
                        collect_files(p, l, n_fail);
                } else if (S_ISREG(st.st_mode))
                        paths_add(l, p);
        }
        closedir(d);
}

/* Runs PROG SUB1 SUB2 PATHS[0..N-1]. */
static int run_on_paths(const char *label, const char *prog, const char *sub1, const char *sub2,
                        char **paths, size_t n) {
        char **argv = calloc(n + 4, sizeof *argv);
        int r;

        if (!argv)
                return -1;
        argv[0] = (char *) prog;
        argv[1] = (char *) sub1;
        argv[2] = (char *) sub2;
        memcpy(argv + 3, paths, n * sizeof *argv);
        r = run_prog(label, argv);
        free(argv);
        return r;
}

/* 0 if the kernel reports an fs-verity digest for PATH, else -errno. */
static int has_verity(const char *path) {
        struct {
                struct fsverity_digest d;
                uint8_t buf[64];
        } m = { .d.digest_size = 64 };
        int fd, r = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        if (ioctl(fd, FS_IOC_MEASURE_VERITY, &m.d) < 0)
                r = -errno;
        close(fd);
        return r;
}

#define CFSROOT_BIN "/usr/bin/cfsroot"
#define MKCFS_BIN "/usr/bin/mkcfs"

/* ---- install: the product's `cfsroot verity enable` on every file of the store and the
 * images; then each file's measurement (by this program's own ioctl) decides success. */
static void run_install_under(const char *top) {
        struct paths l = {};
        unsigned ok = 0, failed = 0, runs = 0, runs_ok = 0;
        const size_t batch = 64;
        struct stat st;

        if (lstat(top, &st) == 0 && S_ISREG(st.st_mode))
                paths_add(&l, top);
        else
                collect_files(top, &l, &failed);
        for (size_t i = 0; i < l.n; i += batch) {
                size_t k = l.n - i < batch ? l.n - i : batch;
                runs++;
                if (run_on_paths("install: cfsroot verity enable", CFSROOT_BIN, "verity", "enable", l.v + i, k) == 0)
                        runs_ok++;
        }
        for (size_t i = 0; i < l.n; i++) {
                int r = has_verity(l.v[i]);
                if (r < 0) {
                        say("install: %s has no fs-verity after cfsroot verity enable: %s", l.v[i], errname(-r));
                        failed++;
                } else
                        ok++;
        }
        paths_free(&l);
        sync();
        say("install: enabled with %s verity enable: %u runs, %u exited 0", CFSROOT_BIN, runs, runs_ok);
        say("install: fs-verity enabled on %u files, %u failures", ok, failed);
}

static void run_install(void) {
        run_install_under("/sysroot/cfs");
}

/* cfstest.write=PATH: proves a directory writable (or not) and leaves a marker that a
 * later boot of the same disk can look for. */
static void write_marker(const char *path) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        int e = 0;
        if (fd < 0)
                e = errno;
        else {
                static const char line[] = "written by guest-init\n";
                if (write(fd, line, sizeof line - 1) != (ssize_t) (sizeof line - 1) || fsync(fd) < 0)
                        e = errno ? errno : EIO;
                close(fd);
        }
        say("write %s: %s", path, e ? errname(e) : "OK");
}

/* ---- cfstest.mkcfs=SRC: the product's mkcfs builds a new image and store from SRC on the
 * verified root, enabling fs-verity itself; cfsroot then measures the image and objects. */
#define G_STORE "/sysroot/cfs/objects-g"
#define G_IMAGE "/sysroot/cfs/images/g.cfs"

static void guest_mkcfs(const char *src) {
        char *argv[] = { MKCFS_BIN, "--store", G_STORE, "--enable-verity", "--print-digest",
                         (char *) src, G_IMAGE, NULL };
        struct paths l = {};
        unsigned failed = 0;

        run_prog("mkcfs", argv);
        paths_add(&l, G_IMAGE);
        collect_files(G_STORE, &l, &failed);
        run_on_paths("mkcfs: cfsroot verity measure", CFSROOT_BIN, "verity", "measure", l.v, l.n);
        say("mkcfs: measured %zu files", l.n);
        paths_free(&l);
        sync();
}

/* ---- cfstest.storeswap: an object swapped for another verity-enabled file of the same size
 * (so only the measured digest can tell); mkcfs must notice it without --verify-store. */
#define S_SRC "/sysroot/cfs/swap-src"
#define S_STORE "/sysroot/cfs/objects-s"

static int write_filled(const char *path, char c, size_t n) {
        char buf[4096];
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        memset(buf, c, sizeof buf);
        for (size_t done = 0; done < n;) {
                size_t k = n - done < sizeof buf ? n - done : sizeof buf;
                if (write(fd, buf, k) != (ssize_t) k) {
                        close(fd);
                        return -EIO;
                }
                done += k;
        }
        return close(fd) < 0 ? -errno : 0;
}

/* Swaps the names of the two store objects whose first byte is 'a' and 'b'. */
static int swap_objects(void) {
        struct paths l = {};
        unsigned failed = 0;
        const char *pa = NULL, *pb = NULL;
        int r = 0;

        collect_files(S_STORE, &l, &failed);
        for (size_t i = 0; i < l.n; i++) {
                char c = 0;
                int fd = open(l.v[i], O_RDONLY | O_CLOEXEC);
                if (fd >= 0 && read(fd, &c, 1) == 1) {
                        if (c == 'a')
                                pa = l.v[i];
                        else if (c == 'b')
                                pb = l.v[i];
                }
                if (fd >= 0)
                        close(fd);
        }
        if (!pa || !pb)
                r = -ENOENT;
        else if (renameat2(AT_FDCWD, pa, AT_FDCWD, pb, RENAME_EXCHANGE) < 0)
                r = -errno;
        say("storeswap: swapped the objects of a and b (%zu objects): %s", l.n, r < 0 ? errname(-r) : "OK");
        paths_free(&l);
        sync();
        return r;
}

static void guest_storeswap(void) {
        char *build[] = { MKCFS_BIN, "-v", "--store", S_STORE, "--enable-verity", S_SRC, "/sysroot/cfs/images/s.cfs", NULL };
        char *rebuild_plain[] = { MKCFS_BIN, "-v", "--store", S_STORE, S_SRC, "/sysroot/cfs/images/s.cfs", NULL };
        struct paths l = {};
        unsigned failed = 0;

        (void) mkdir(S_SRC, 0755);
        if (write_filled(S_SRC "/a", 'a', 8192) < 0 || write_filled(S_SRC "/b", 'b', 8192) < 0 ||
            write_filled(S_SRC "/c", 'c', 5000) < 0) {
                say("storeswap: cannot write the source files: %s", errname(errno));
                return;
        }
        run_prog("storeswap build", build);
        /* Swapped verity objects: their measurement (one ioctl) gives them away. */
        if (swap_objects() == 0)
                run_prog("storeswap rebuild", rebuild_plain);
        /* The copies that rebuild wrote have no fs-verity: swapped, only the size could tell,
         * and it matches; --enable-verity makes the kernel hash them, and that tells. */
        if (swap_objects() == 0)
                run_prog("storeswap rebuild --enable-verity", build);
        collect_files(S_STORE, &l, &failed);
        run_on_paths("storeswap: cfsroot verity measure", CFSROOT_BIN, "verity", "measure", l.v, l.n);
        paths_free(&l);
        sync();
}

static void measure(const char *path) {
        struct {
                struct fsverity_digest d;
                uint8_t buf[64];
        } m = { .d.digest_size = 64 };
        char hex[129];
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                say("measure %s: %s", path, errname(errno));
                return;
        }
        if (ioctl(fd, FS_IOC_MEASURE_VERITY, &m.d) < 0) {
                say("measure %s: %s", path, errname(errno));
                close(fd);
                return;
        }
        close(fd);
        for (unsigned i = 0; i < m.d.digest_size && i < 64; i++)
                sprintf(hex + 2 * i, "%02x", m.d.digest[i]);
        say("measure %s: sha256:%s", path, hex);
}

static void list_dir(const char *label, const char *dir) {
        char line[2048] = "";
        struct dirent *de;
        DIR *d;
        int n = 0;
        char *names[256];

        d = opendir(dir);
        if (!d) {
                say("%s: cannot list %s: %s", label, dir, errname(errno));
                return;
        }
        while ((de = readdir(d)) && n < 256)
                if (!streq_dot(de->d_name))
                        names[n++] = strdup(de->d_name);
        closedir(d);
        /* readdir order is not stable between filesystems: sort for the log. */
        for (int i = 0; i < n; i++)
                for (int j = i + 1; j < n; j++)
                        if (strcmp(names[j], names[i]) < 0) {
                                char *t = names[i];
                                names[i] = names[j];
                                names[j] = t;
                        }
        for (int i = 0; i < n; i++) {
                if (strlen(line) + strlen(names[i]) + 2 < sizeof line) {
                        strcat(line, " ");
                        strcat(line, names[i]);
                }
                free(names[i]);
        }
        say("%s:%s", label, line);
}

/* cfstest.exec=PROG,ARG,...: splits at commas (the kernel command line has no other
 * separator left inside one key). */
static void exec_prog(char *spec) {
        char *argv[64], label[4200], *save = NULL;
        unsigned n = 0;

        for (char *a = strtok_r(spec, ",", &save); a && n < ELEMENTSOF_ARGV(argv); a = strtok_r(NULL, ",", &save))
                argv[n++] = a;
        argv[n] = NULL;
        if (n == 0)
                return;
        snprintf(label, sizeof label, "exec %s", argv[0]);
        run_prog(label, argv);
}

/* The filesystem type mounted at PATH, from /proc/self/mountinfo (last mount wins). */
/* cfstest.cat=PATH: small text files such as /proc/mounts or a module's parameter in sysfs.
 * A failure is printed with a "!" that no file line of interest starts with. */
static void cat_file(const char *path) {
        static char buf[65536];
        size_t len = 0;
        ssize_t n;
        char *line, *save = NULL;
        int fd;

        /* sysfs is the new root's business; mount it if nothing did (module parameters). */
        if (strncmp(path, "/sys/", 5) == 0 && access("/sys/module", F_OK) < 0)
                (void) mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                say("cat %s: ! %s", path, errname(errno));
                return;
        }
        while (len < sizeof buf - 1 && (n = read(fd, buf + len, sizeof buf - 1 - len)) != 0) {
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        say("cat %s: ! %s", path, errname(errno));
                        close(fd);
                        return;
                }
                len += (size_t) n;
        }
        close(fd);
        buf[len] = 0;
        for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                say("cat %s: %s", path, line);
}

static void print_mount(const char *path) {
        char line[4096], found[300] = "none";
        FILE *f = fopen("/proc/self/mountinfo", "re");

        if (!f)
                return;
        while (fgets(line, sizeof line, f)) {
                char mp[2048], opts[1024], fstype[256], src[1024];
                /* id parent maj:min root mountpoint options [optional...] - fstype source superopts */
                char *dash = strstr(line, " - ");
                if (!dash || sscanf(line, "%*s %*s %*s %*s %2047s %1023s", mp, opts) != 2)
                        continue;
                if (sscanf(dash + 3, "%255s %1023s", fstype, src) != 2)
                        continue;
                if (strcmp(mp, path) == 0)
                        snprintf(found, sizeof found, "%s %s", fstype, strncmp(opts, "ro", 2) == 0 &&
                                 (opts[2] == ',' || opts[2] == 0) ? "ro" : "rw");
        }
        fclose(f);
        say("mount %s: %s", path, found);
}

/* Kernel messages about verity or overlayfs, echoed so the log shows them even when the
 * console loglevel hides them. */
static void print_klog(void) {
        int n = klogctl(10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0);
        char *buf, *line, *save = NULL;

        if (n <= 0)
                return;
        buf = malloc((size_t) n + 1);
        if (!buf)
                return;
        n = klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf, n);
        if (n > 0) {
                buf[n] = 0;
                for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                        if (strstr(line, "fs-verity") || strstr(line, "CORRUPTED") || strstr(line, "overlayfs:"))
                                say("klog: %s", line);
        }
        free(buf);
}

int main(int argc, char **argv) {
        static char cmdline[8192];
        char *tok, *save = NULL;
        bool install = false;
        ssize_t n;
        int fd;

        /* Outside a guest (not PID 1) only hash files: a self-test of the SHA-256 code, and
         * never a power-off of the machine running the suite. */
        if (getpid() != 1) {
                /* Planted setuid-root by a test: which ids does it run with? */
                if (argc == 2 && strcmp(argv[1], "--ids") == 0) {
                        printf("ids: uid=%d euid=%d\n", (int) getuid(), (int) geteuid());
                        return 0;
                }
                for (int i = 1; i < argc; i++) {
                        char hex[65];
                        int r = hash_file(argv[i], hex);
                        printf("%s  %s\n", r < 0 ? errname(-r) : hex, argv[i]);
                }
                return 0;
        }

        say("init started (pid %d)", (int) getpid());
        {
                /* When the new root's init got control, for boot-time comparisons between
                 * initramfs kinds (the same clock cfsroot's timing line uses). */
                struct timespec ts;
                clock_gettime(CLOCK_BOOTTIME, &ts);
                say("init boottime %.3f ms", ts.tv_sec * 1e3 + ts.tv_nsec / 1e6);
        }
        /* cfsroot moves /proc and friends into the new root; mount them if something didn't. */
        if (access("/proc/cmdline", R_OK) < 0)
                (void) mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);

        fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
        n = fd >= 0 ? read(fd, cmdline, sizeof cmdline - 1) : -1;
        if (fd >= 0)
                close(fd);
        if (n < 0) {
                say("cannot read /proc/cmdline: %s", errname(errno));
                n = 0;
        }
        cmdline[n] = 0;

        print_mount("/");
        print_mount("/sysroot");
        list_dir("sysroot", "/sysroot");
        list_dir("root", "/");
        for (int i = 1; i < argc; i++)
                say("argv[%d]=%s", i, argv[i]);

        /* Two passes: install first, so the checks below see the finished store. */
        for (tok = strtok_r(cmdline, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
                if (strcmp(tok, "cfstest.install") == 0)
                        install = true;
        }
        if (install)
                run_install();

        /* strtok_r wrote NULs: walk the buffer token by token instead of re-splitting. */
        for (char *p = cmdline; p < cmdline + n; p += strlen(p) + 1) {
                if (!*p)
                        continue;
                if (strncmp(p, "cfstest.measure=", 16) == 0)
                        measure(p + 16);
                else if (strncmp(p, "cfstest.mkcfs=", 14) == 0)
                        guest_mkcfs(p + 14);
                else if (strcmp(p, "cfstest.storeswap") == 0)
                        guest_storeswap();
                else if (strncmp(p, "cfstest.cfsmeasure=", 19) == 0) {
                        char label[4200];
                        char *argv[] = { CFSROOT_BIN, "verity", "measure", p + 19, NULL };
                        snprintf(label, sizeof label, "cfsroot verity measure %s", p + 19);
                        run_prog(label, argv);
                }
                else if (strncmp(p, "cfstest.sha256=", 15) == 0) {
                        char hex[65];
                        int r = hash_file(p + 15, hex);
                        if (r < 0)
                                say("sha256 %s: %s", p + 15, errname(-r));
                        else
                                say("sha256 %s: %s", p + 15, hex);
                } else if (strncmp(p, "cfstest.read=", 13) == 0) {
                        char hex[65];
                        int r = hash_file(p + 13, hex);
                        say("read %s: %s", p + 13, r < 0 ? errname(-r) : "OK");
                } else if (strncmp(p, "cfstest.cat=", 12) == 0)
                        cat_file(p + 12);
                else if (strncmp(p, "cfstest.nobody=", 15) == 0) {
                        char label[4200];
                        char *argv[] = { p + 15, "--ids", NULL };
                        snprintf(label, sizeof label, "nobody %s", p + 15);
                        run_prog_as(label, argv, 65534);
                } else if (strncmp(p, "cfstest.devread=", 16) == 0)
                        devread_as_nobody(p + 16);
                else if (strncmp(p, "cfstest.readlink=", 17) == 0) {
                        char target[4096];
                        ssize_t k = readlink(p + 17, target, sizeof target - 1);
                        target[k > 0 ? k : 0] = 0;
                        say("readlink %s: %s", p + 17, k < 0 ? errname(errno) : target);
                } else if (strncmp(p, "cfstest.verity-enable=", 22) == 0)
                        run_install_under(p + 22);
                else if (strncmp(p, "cfstest.write=", 14) == 0)
                        write_marker(p + 14);
                else if (strncmp(p, "cfstest.exec=", 13) == 0)
                        exec_prog(p + 13);
        }
        print_klog();

        sync();
        /* Leave the physical root clean: a journal left for recovery would make every later
         * boot of this disk replay it (and skew the timings). */
        if (mount(NULL, "/sysroot", NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0 && errno != EINVAL)
                say("remounting /sysroot read-only failed: %s", errname(errno));
        say("done");
        reboot(RB_POWER_OFF);
        say("poweroff failed: %s", errname(errno));
        for (;;)
                pause();
}
