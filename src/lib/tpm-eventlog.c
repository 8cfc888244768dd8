/* SPDX-License-Identifier: MIT */
/* Writing records to systemd's userspace TPM measurement log (see tpm-eventlog.h). */
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "tpm-eventlog.h"
#include "util.h"

int tpm_eventlog_format(unsigned pcr, const struct tpm2_digests *d, const char *string, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size, len = 0;
        int n;

        for (const char *p = string; *p; p++)
                if (*p < 0x20 || *p > 0x7e || *p == '"' || *p == '\\')
                        return -EINVAL;
        /* Fixed text, the string, and per bank its name and hex digest. */
        size = 128 + strlen(string) + d->n * (64 + 2 * TPM2_MAX_DIGEST);
        buf = malloc(size);
        if (!buf)
                return -ENOMEM;
        n = snprintf(buf, size, "\x1e{\"pcr\":%u,\"digests\":[", pcr);
        len += (size_t) n;
        for (size_t i = 0; i < d->n; i++) {
                const char *name = tpm2_alg_name(d->d[i].alg);
                char hex[2 * TPM2_MAX_DIGEST + 1];
                if (!name || d->d[i].size != tpm2_alg_digest_size(d->d[i].alg))
                        return -EINVAL;
                hex_encode(d->d[i].digest, d->d[i].size, hex);
                n = snprintf(buf + len, size - len, "%s{\"hashAlg\":\"%s\",\"digest\":\"%s\"}", i ? "," : "", name, hex);
                len += (size_t) n;
        }
        n = snprintf(buf + len, size - len, "],\"content_type\":\"systemd\",\"content\":{\"string\":\"%s\"}}\n", string);
        len += (size_t) n;
        CHECK(len < size);
        *ret = TAKE_PTR(buf);
        return 0;
}

static int mkdir_one(const char *path) {
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int tpm_eventlog_open(const char *dir) {
        _cleanup_free_ char *parent = strdup(dir), *path = NULL;
        int r;

        if (!parent)
                return -ENOMEM;
        char *slash = strrchr(parent, '/');
        if (slash && slash != parent) {
                *slash = '\0';
                r = mkdir_one(parent);
                if (r < 0)
                        return r;
        }
        r = mkdir_one(dir);
        if (r < 0)
                return r;
        if (asprintf(&path, "%s/%s", dir, TPM_EVENTLOG_NAME) < 0)
                return -ENOMEM;
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        /* systemd takes the same lock; records of concurrent writers never interleave. */
        if (flock(fd, LOCK_EX) < 0)
                return -errno;
        return TAKE_FD(fd);
}

int tpm_eventlog_append(int fd, const char *record) {
        size_t n = strlen(record);
        ssize_t w = write(fd, record, n);
        if (w < 0)
                return -errno;
        return (size_t) w == n ? 0 : -EIO;
}
