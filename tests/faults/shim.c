/* SPDX-License-Identifier: MIT */
/* LD_PRELOAD shim for fault injection (tests/host/faults.sh): counts the calls a dynamically
 * linked cfsroot (and the shared libraries it uses) makes to the libc wrappers of system
 * calls, and makes exactly one of them fail.
 *   FAULT_LOG=FILE   append one line per call: "N NAME OBJECT+OFFSET" (the call site), and
 *                    "injected N NAME ERRNO SITE" for the failed one
 *   FAULT_LOG_FD=N   the same, to an inherited fd (for runs in a chroot)
 *   FAULT_AT=N       the N-th wrapped call (1-based) fails, without doing anything
 *   FAULT_ERRNO=E    with this errno (a number; default EIO)
 * Only calls that cross the PLT are seen: glibc's internal calls (inside fopen, mkdtemp...) are
 * not, so mkdtemp and opendir are wrapped as a whole. Test code only: never in the initramfs. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The shim's own system calls: libc's syscall(), not our wrapper of it below. */
#define RAW(...) ((long (*)(long, ...)) dlsym(RTLD_NEXT, "syscall"))(__VA_ARGS__)

static long fault_at = -1;
static int fault_errno = EIO;
static long calls;
static int log_fd = -1;
static int initialised;

static void init(void) {
        if (initialised)
                return;
        initialised = 1;
        const char *s = getenv("FAULT_AT");
        if (s)
                fault_at = strtol(s, NULL, 10);
        s = getenv("FAULT_ERRNO");
        if (s)
                fault_errno = (int) strtol(s, NULL, 10);
        s = getenv("FAULT_LOG_FD");
        if (s) {
                /* An fd the harness opened: outlives a chroot or a private /tmp. */
                log_fd = (int) RAW(SYS_fcntl, (int) strtol(s, NULL, 10), F_DUPFD_CLOEXEC, 900);
                return;
        }
        s = getenv("FAULT_LOG");
        if (s) {
                /* The raw system call: our own open() wrapper must not count this. */
                log_fd = (int) RAW(SYS_openat, AT_FDCWD, s, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                if (log_fd >= 0 && log_fd < 100) {
                        /* Out of the way of the fds the program numbers itself. */
                        int moved = (int) RAW(SYS_fcntl, log_fd, F_DUPFD_CLOEXEC, 900);
                        if (moved >= 0) {
                                RAW(SYS_close, log_fd);
                                log_fd = moved;
                        }
                }
        }
}

static void log_line(const char *fmt, ...) {
        char buf[512];
        va_list ap;
        if (log_fd < 0)
                return;
        va_start(ap, fmt);
        int n = vsnprintf(buf, sizeof buf, fmt, ap);
        va_end(ap);
        if (n > 0)
                RAW(SYS_write, log_fd, buf, (size_t) (n < (int) sizeof buf ? n : (int) sizeof buf - 1));
}

static void site(void *ret, char *out, size_t len) {
        Dl_info di;
        if (dladdr(ret, &di) && di.dli_fname) {
                const char *base = strrchr(di.dli_fname, '/');
                snprintf(out, len, "%s+0x%lx", base ? base + 1 : di.dli_fname,
                         (unsigned long) ((char *) ret - (char *) di.dli_fbase));
        } else
                snprintf(out, len, "%p", ret);
}

/* 1 when this call must fail (errno set). */
static int inject(const char *name, void *ret) {
        char where[256];
        init();
        long n = ++calls;
        site(ret, where, sizeof where);
        log_line("%ld %s %s\n", n, name, where);
        if (n != fault_at)
                return 0;
        log_line("injected %ld %s %d %s\n", n, name, fault_errno, where);
        errno = fault_errno;
        return 1;
}

#define REAL(name) ((__typeof__(&name)) dlsym(RTLD_NEXT, #name))
#define RA __builtin_return_address(0)

/* Wrappers returning -1 on failure. */
#define WRAP_INT(ret_t, name, params, args)                                                \
        ret_t name params {                                                                \
                if (inject(#name, RA))                                                     \
                        return -1;                                                         \
                return REAL(name) args;                                                    \
        }

static mode_t mode_arg(int flags, va_list ap) {
        return (flags & (O_CREAT | __O_TMPFILE)) ? (mode_t) va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...) {
        va_list ap;
        va_start(ap, flags);
        mode_t m = mode_arg(flags, ap);
        va_end(ap);
        if (inject("open", RA))
                return -1;
        return REAL(open)(path, flags, m);
}
int open64(const char *path, int flags, ...) {
        va_list ap;
        va_start(ap, flags);
        mode_t m = mode_arg(flags, ap);
        va_end(ap);
        if (inject("open64", RA))
                return -1;
        return REAL(open64)(path, flags, m);
}
int openat(int dfd, const char *path, int flags, ...) {
        va_list ap;
        va_start(ap, flags);
        mode_t m = mode_arg(flags, ap);
        va_end(ap);
        if (inject("openat", RA))
                return -1;
        return REAL(openat)(dfd, path, flags, m);
}
int openat64(int dfd, const char *path, int flags, ...) {
        va_list ap;
        va_start(ap, flags);
        mode_t m = mode_arg(flags, ap);
        va_end(ap);
        if (inject("openat64", RA))
                return -1;
        return REAL(openat64)(dfd, path, flags, m);
}
int ioctl(int fd, unsigned long req, ...) {
        va_list ap;
        va_start(ap, req);
        void *arg = va_arg(ap, void *);
        va_end(ap);
        if (inject("ioctl", RA))
                return -1;
        return REAL(ioctl)(fd, req, arg);
}
int fcntl(int fd, int cmd, ...) {
        va_list ap;
        va_start(ap, cmd);
        void *arg = va_arg(ap, void *);
        va_end(ap);
        if (inject("fcntl", RA))
                return -1;
        return REAL(fcntl)(fd, cmd, arg);
}
long syscall(long nr, ...) {
        va_list ap;
        long a[6];
        va_start(ap, nr);
        for (int i = 0; i < 6; i++)
                a[i] = va_arg(ap, long);
        va_end(ap);
        char name[32];
        snprintf(name, sizeof name, "syscall-%ld", nr);
        if (inject(name, RA))
                return -1;
        return REAL(syscall)(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

WRAP_INT(ssize_t, read, (int fd, void *buf, size_t n), (fd, buf, n))
WRAP_INT(ssize_t, write, (int fd, const void *buf, size_t n), (fd, buf, n))
WRAP_INT(ssize_t, pread, (int fd, void *buf, size_t n, off_t off), (fd, buf, n, off))
WRAP_INT(ssize_t, pread64, (int fd, void *buf, size_t n, off64_t off), (fd, buf, n, off))
WRAP_INT(off_t, lseek, (int fd, off_t off, int whence), (fd, off, whence))
WRAP_INT(off64_t, lseek64, (int fd, off64_t off, int whence), (fd, off, whence))
WRAP_INT(int, mount, (const char *src, const char *tgt, const char *type, unsigned long fl, const void *data),
         (src, tgt, type, fl, data))
WRAP_INT(int, umount2, (const char *tgt, int fl), (tgt, fl))
WRAP_INT(int, umount, (const char *tgt), (tgt))
WRAP_INT(int, mkdir, (const char *p, mode_t m), (p, m))
WRAP_INT(int, mkdirat, (int d, const char *p, mode_t m), (d, p, m))
WRAP_INT(int, rmdir, (const char *p), (p))
WRAP_INT(int, unlinkat, (int d, const char *p, int fl), (d, p, fl))
WRAP_INT(int, stat, (const char *p, struct stat *st), (p, st))
WRAP_INT(int, lstat, (const char *p, struct stat *st), (p, st))
WRAP_INT(int, fstat, (int fd, struct stat *st), (fd, st))
WRAP_INT(int, fstatat, (int d, const char *p, struct stat *st, int fl), (d, p, st, fl))
WRAP_INT(int, stat64, (const char *p, struct stat64 *st), (p, st))
WRAP_INT(int, fstat64, (int fd, struct stat64 *st), (fd, st))
WRAP_INT(int, fstatat64, (int d, const char *p, struct stat64 *st, int fl), (d, p, st, fl))
WRAP_INT(int, statx, (int d, const char *p, int fl, unsigned mask, struct statx *st), (d, p, fl, mask, st))
WRAP_INT(ssize_t, readlink, (const char *p, char *b, size_t n), (p, b, n))
WRAP_INT(ssize_t, readlinkat, (int d, const char *p, char *b, size_t n), (d, p, b, n))
WRAP_INT(int, chdir, (const char *p), (p))
WRAP_INT(int, fchdir, (int fd), (fd))
WRAP_INT(int, chroot, (const char *p), (p))
WRAP_INT(int, access, (const char *p, int m), (p, m))
WRAP_INT(int, faccessat, (int d, const char *p, int m, int fl), (d, p, m, fl))
WRAP_INT(int, dup, (int fd), (fd))
WRAP_INT(int, dup3, (int a, int b, int fl), (a, b, fl))
WRAP_INT(int, pipe2, (int p[2], int fl), (p, fl))
WRAP_INT(int, poll, (struct pollfd *p, unsigned long n, int t), (p, n, t))
WRAP_INT(int, unshare, (int fl), (fl))
WRAP_INT(int, syncfs, (int fd), (fd))
WRAP_INT(int, symlink, (const char *a, const char *b), (a, b))
WRAP_INT(int, mknod, (const char *p, mode_t m, dev_t d), (p, m, d))
WRAP_INT(int, execve, (const char *p, char *const a[], char *const e[]), (p, a, e))

/* Wrappers returning NULL on failure. */
char *mkdtemp(char *tmpl) {
        if (inject("mkdtemp", RA))
                return NULL;
        return REAL(mkdtemp)(tmpl);
}
DIR *opendir(const char *p) {
        if (inject("opendir", RA))
                return NULL;
        return REAL(opendir)(p);
}
DIR *fdopendir(int fd) {
        if (inject("fdopendir", RA))
                return NULL;
        return REAL(fdopendir)(fd);
}
struct dirent *readdir(DIR *d) {
        if (inject("readdir", RA))
                return NULL;
        return REAL(readdir)(d);
}
struct dirent64 *readdir64(DIR *d) {
        if (inject("readdir64", RA))
                return NULL;
        return REAL(readdir64)(d);
}
FILE *fopen(const char *p, const char *m) {
        if (inject("fopen", RA))
                return NULL;
        return REAL(fopen)(p, m);
}
FILE *fopen64(const char *p, const char *m) {
        if (inject("fopen64", RA))
                return NULL;
        return REAL(fopen64)(p, m);
}
