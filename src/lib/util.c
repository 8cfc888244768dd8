/* SPDX-License-Identifier: MIT */
/* Full-length and hole-aware I/O, hex, and constant-time compare. */
#include "util.h"

int grow_array(void **p, size_t *alloc, size_t need, size_t size, size_t initial) {
        if (need <= *alloc)
                return 0;
        size_t na = MAX(*alloc, initial);
        while (na < need) {
                if (na > SIZE_MAX / 2)
                        return -ENOMEM;
                na *= 2;
        }
        void *n = reallocarray(*p, na, size);
        if (!n)
                return -ENOMEM;
        *p = n;
        *alloc = na;
        return 0;
}

ssize_t loop_read(int fd, void *buf, size_t n) {
        size_t done = 0;
        while (done < n) {
                ssize_t k = read(fd, (uint8_t *) buf + done, n - done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                done += (size_t) k;
        }
        return (ssize_t) done;
}

ssize_t loop_pread(int fd, void *buf, size_t n, off_t off) {
        size_t done = 0;
        while (done < n) {
                ssize_t k = pread(fd, (uint8_t *) buf + done, n - done, off + (off_t) done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                done += (size_t) k;
        }
        return (ssize_t) done;
}

int loop_write(int fd, const void *buf, size_t n) {
        size_t done = 0;
        while (done < n) {
                ssize_t k = write(fd, (const uint8_t *) buf + done, n - done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                done += (size_t) k;
        }
        return 0;
}

int loop_pwrite(int fd, const void *buf, size_t n, off_t off) {
        size_t done = 0;
        while (done < n) {
                ssize_t k = pwrite(fd, (const uint8_t *) buf + done, n - done, off + (off_t) done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                done += (size_t) k;
        }
        return 0;
}

int cfs_read_sparse(int fd, uint64_t size, uint8_t *buf, size_t buf_size, cfs_chunk_fn fn, void *userdata) {
        uint64_t off = 0;
        bool holes = true;
        int r;

        while (off < size) {
                uint64_t data = off, end = size;
                if (holes) {
                        off_t d = lseek(fd, (off_t) off, SEEK_DATA);
                        if (d < 0 && errno == ENXIO)
                                data = size; /* only a hole up to EOF */
                        else if (d < 0 && (errno == EINVAL || errno == EOPNOTSUPP))
                                holes = false; /* no hole support: read everything */
                        else if (d < 0)
                                return -errno;
                        else
                                data = MIN((uint64_t) d, size);
                }
                if (data > off) {
                        r = fn(NULL, data - off, off, userdata);
                        if (r < 0)
                                return r;
                        off = data;
                        continue;
                }
                if (holes) {
                        off_t h = lseek(fd, (off_t) off, SEEK_HOLE);
                        if (h < 0)
                                return -errno;
                        end = MIN((uint64_t) h, size);
                        if (end <= off) /* shrank under us */
                                return -ESTALE;
                }
                while (off < end) {
                        ssize_t k = loop_pread(fd, buf, (size_t) MIN((uint64_t) buf_size, end - off), (off_t) off);
                        if (k < 0)
                                return (int) k;
                        if (k == 0)
                                return -ESTALE;
                        r = fn(buf, (size_t) k, off, userdata);
                        if (r < 0)
                                return r;
                        off += (uint64_t) k;
                }
        }
        /* Nothing may follow: a file that grew is not the file we measured. */
        ssize_t k = pread(fd, buf, 1, (off_t) size);
        if (k < 0)
                return -errno;
        return k == 0 ? 0 : -ESTALE;
}

void hex_encode(const uint8_t *data, size_t n, char *out) {
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[data[i] >> 4];
                out[2 * i + 1] = digits[data[i] & 15];
        }
        out[2 * n] = '\0';
}

int unhexchar(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int hex_decode(const char *s, size_t len, uint8_t *out, size_t n) {
        if (len != 2 * n)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                int hi = unhexchar(s[2 * i]), lo = unhexchar(s[2 * i + 1]);
                if (hi < 0 || lo < 0)
                        return -EINVAL;
                out[i] = (uint8_t) (hi << 4 | lo);
        }
        return 0;
}

int memcmp_ct(const void *a, const void *b, size_t n) {
        const volatile uint8_t *x = a, *y = b;
        uint8_t acc = 0;
        for (size_t i = 0; i < n; i++)
                acc |= x[i] ^ y[i];
        return acc != 0;
}
