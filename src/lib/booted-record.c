/* SPDX-License-Identifier: MIT */
/* /run/ostree-booted written as GVariant a{sv} without GLib (cfsroot is static and tiny).
 * The GVariant serialisation rules used here (GLib's docs/reference "GVariant
 * serialisation format"): a dict entry {sv} is the key's bytes and NUL, zero padding to the
 * variant's 8-byte alignment, the variant (the value's bytes, a NUL, the value's type
 * string), then one framing offset, the end of the key; an array of variable-size
 * elements is the elements, each zero-padded to its 8-byte alignment, then one framing
 * offset per element (its end). Framing offsets are little-endian and 1, 2 or 4 bytes
 * wide: the smallest width in which the container's whole size, offsets included, fits.
 * tests/unit/test-booted-record.c checks every byte against GLib's own builder. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "booted-record.h"
#include "util.h"

struct buf {
        uint8_t *p;
        size_t n, alloc;
};

static int buf_put(struct buf *b, const void *data, size_t n) {
        if (GROW_ARRAY(b->p, b->alloc, b->n + n, 256) < 0)
                return -ENOMEM;
        if (n > 0)
                memcpy(b->p + b->n, data, n);
        b->n += n;
        return 0;
}

static int buf_pad(struct buf *b, size_t align) {
        static const uint8_t zero[8];
        return buf_put(b, zero, ALIGN_TO(b->n, align) - b->n);
}

static int buf_put_le(struct buf *b, uint64_t v, size_t width) {
        uint8_t le[8];
        for (size_t i = 0; i < width; i++)
                le[i] = (uint8_t) (v >> (8 * i));
        return buf_put(b, le, width);
}

/* The framing offset width of a container with this body size and number of offsets. */
static size_t offset_width(size_t body, size_t n_offsets) {
        if (body + n_offsets <= UINT8_MAX)
                return 1;
        if (body + 2 * n_offsets <= UINT16_MAX)
                return 2;
        return 4;
}

/* One dict entry {sv}: key, then a variant holding value (n bytes) of type `type`. */
static int put_entry(struct buf *array, const char *key, const char *type, const void *value, size_t n) {
        struct buf e = {};
        size_t key_end = strlen(key) + 1;
        int r;

        if ((r = buf_put(&e, key, key_end)) < 0 ||
            (r = buf_pad(&e, 8)) < 0 ||
            (r = buf_put(&e, value, n)) < 0 ||
            (r = buf_put(&e, "", 1)) < 0 ||
            (r = buf_put(&e, type, strlen(type))) < 0 ||
            (r = buf_put_le(&e, key_end, offset_width(e.n, 1))) < 0) {
                free(e.p);
                return r;
        }
        /* Array elements of alignment 8 start 8-aligned from the array's start. */
        r = buf_pad(array, 8);
        if (r >= 0)
                r = buf_put(array, e.p, e.n);
        free(e.p);
        return r;
}

int cfs_ostree_booted_serialize(const struct cfs_ostree_booted *b, uint8_t **ret, size_t *ret_size) {
        struct buf a = {};
        size_t ends[8], n = 0;
        uint8_t devino[16];
        const uint8_t yes = 1, no = 0;
        int r = 0;

        if (b->transient_etc && strlen(b->transient_etc) > 4096)
                return -EINVAL;
        /* (tt): two little-endian uint64, the dev_t and ino_t widened as ostree does. */
        for (size_t i = 0; i < 8; i++) {
                devino[i] = (uint8_t) (b->backing_dev >> (8 * i));
                devino[8 + i] = (uint8_t) (b->backing_ino >> (8 * i));
        }

#define ENTRY(key, type, value, size)                                   \
        do {                                                            \
                if (r >= 0)                                             \
                        r = put_entry(&a, key, type, value, size);      \
                if (r >= 0)                                             \
                        ends[n++] = a.n;                                \
        } while (0)
        ENTRY("backing-root-device-inode", "(tt)", devino, sizeof devino);
        ENTRY("composefs", "b", b->composefs ? &yes : &no, 1);
        ENTRY("root.transient", "b", &no, 1);
        ENTRY("root.transient-ro", "b", &no, 1);
        ENTRY("sysroot-ro", "b", b->sysroot_ro ? &yes : &no, 1);
        if (b->transient_etc)
                ENTRY("transient-etc", "s", b->transient_etc, strlen(b->transient_etc) + 1);
#undef ENTRY
        CHECK(n <= ELEMENTSOF(ends));

        size_t width = offset_width(a.n, n);
        for (size_t i = 0; r >= 0 && i < n; i++)
                r = buf_put_le(&a, ends[i], width);
        if (r < 0) {
                free(a.p);
                return r;
        }
        *ret = a.p;
        *ret_size = a.n;
        return 0;
}

int cfs_ostree_booted_write(const struct cfs_ostree_booted *b, const char *path) {
        _cleanup_free_ uint8_t *data = NULL;
        _cleanup_free_ char *tmp = NULL;
        size_t size;
        int r;

        r = cfs_ostree_booted_serialize(b, &data, &size);
        if (r < 0)
                return r;
        if (asprintf(&tmp, "%s.cfsroot-tmp", path) < 0)
                return -ENOMEM;
        _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return -errno;
        r = loop_write(fd, data, size);
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(tmp);
        return r;
}
