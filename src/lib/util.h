/* SPDX-License-Identifier: MIT */
/* Small helpers every file uses: cleanup attributes, ownership transfer, always-on checks. */
#pragma once

#include <dirent.h>
#include <stdint.h>
#include <sys/types.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _likely_(x) __builtin_expect(!!(x), 1)
#define _unlikely_(x) __builtin_expect(!!(x), 0)

#define ELEMENTSOF(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN_TO(x, a) (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

static inline bool streq(const char *a, const char *b) { return strcmp(a, b) == 0; }

static inline void freep(void *p) { free(*(void **) p); }
#define _cleanup_free_ _cleanup_(freep)

/* Destructors accept "nothing" and return "nothing", so they can be used as p = xfree(p). */
static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                close(fd);
                errno = saved;
        }
        return -EBADF;
}
static inline void closep(int *fd) { safe_close(*fd); }
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f) { if (*f) fclose(*f); }
#define _cleanup_fclose_ _cleanup_(fclosep)

static inline void closedirp(DIR **d) { if (*d) closedir(*d); }
#define _cleanup_closedir_ _cleanup_(closedirp)

/* Hand ownership out of a cleanup-managed variable. */
#define TAKE_PTR(p) ({ __typeof__(p) _p = (p); (p) = NULL; _p; })
#define TAKE_FD(fd) ({ int _fd = (fd); (fd) = -EBADF; _fd; })

/* Always-on assertion for tests and "cannot happen" states: never compiled out. */
#define CHECK(cond)                                                                        \
        do {                                                                               \
                if (_unlikely_(!(cond))) {                                                 \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
                        abort();                                                           \
                }                                                                          \
        } while (0)

/* Room for `need` elements in the array *p of capacity *alloc (each `size` bytes): grows by
 * doubling, starting at `initial`. Returns 0, or -ENOMEM with *p and *alloc untouched. */
int grow_array(void **p, size_t *alloc, size_t need, size_t size, size_t initial);
#define GROW_ARRAY(p, alloc, need, initial) grow_array((void **) &(p), &(alloc), (need), sizeof(*(p)), (initial))

/* Full-length I/O helpers. Return 0 or -errno; loop_read returns bytes read (short only at EOF). */
ssize_t loop_read(int fd, void *buf, size_t n);
int loop_write(int fd, const void *buf, size_t n);
ssize_t loop_pread(int fd, void *buf, size_t n, off_t off);
int loop_pwrite(int fd, const void *buf, size_t n, off_t off);

/* Reads exactly `size` bytes of fd in order, handing each piece to fn: data (read into buf,
 * at most buf_size bytes at a time) or, for a hole, data == NULL and the hole's length, so
 * holes are never read (reading a hole fills the page cache with zeros). -ESTALE if the
 * file is shorter or longer than `size`; fn's errors are passed on. */
typedef int (*cfs_chunk_fn)(const uint8_t *data, size_t n, uint64_t off, void *userdata);
int cfs_read_sparse(int fd, uint64_t size, uint8_t *buf, size_t buf_size, cfs_chunk_fn fn, void *userdata);

/* Hex helpers: hex_encode writes 2*n+1 bytes; hex_decode returns 0 or -EINVAL (either case);
 * unhexchar returns a digit's value or -1. */
int unhexchar(char c);
void hex_encode(const uint8_t *data, size_t n, char *out);
int hex_decode(const char *s, size_t len, uint8_t *out, size_t n);

/* Constant-time compare of two equal-length buffers: 0 when equal. */
int memcmp_ct(const void *a, const void *b, size_t n);
