/* SPDX-License-Identifier: MIT */
/* TPM 2.0 command marshalling and response parsing for measured boot (see tpm2.h).
 * Wire format: TPM 2.0 Library Part 1 (command/response structure) and Part 3 (the
 * commands), all integers big-endian. Every length in a response is checked against
 * the bytes actually received before it is used. */
#include <fcntl.h>
#include <stdio.h>
#include <time.h>

#include "tpm2.h"
#include "util.h"

#define TPM2_ST_NO_SESSIONS 0x8001
#define TPM2_ST_SESSIONS 0x8002
#define TPM2_CC_PCR_EVENT 0x0000013C
#define TPM2_CC_GET_CAPABILITY 0x0000017A
#define TPM2_CAP_PCRS 0x00000005
#define TPM2_RS_PW 0x40000009
#define TPM2_HEADER 10

size_t tpm2_alg_digest_size(uint16_t alg) {
        switch (alg) {
        case TPM2_ALG_SHA1:
                return 20;
        case TPM2_ALG_SHA256:
        case TPM2_ALG_SM3_256:
        case TPM2_ALG_SHA3_256:
                return 32;
        case TPM2_ALG_SHA384:
        case TPM2_ALG_SHA3_384:
                return 48;
        case TPM2_ALG_SHA512:
        case TPM2_ALG_SHA3_512:
                return 64;
        default:
                return 0;
        }
}

const char *tpm2_alg_name(uint16_t alg) {
        switch (alg) {
        case TPM2_ALG_SHA1:
                return "sha1";
        case TPM2_ALG_SHA256:
                return "sha256";
        case TPM2_ALG_SHA384:
                return "sha384";
        case TPM2_ALG_SHA512:
                return "sha512";
        case TPM2_ALG_SM3_256:
                return "sm3_256";
        case TPM2_ALG_SHA3_256:
                return "sha3_256";
        case TPM2_ALG_SHA3_384:
                return "sha3_384";
        case TPM2_ALG_SHA3_512:
                return "sha3_512";
        default:
                return NULL;
        }
}

/* ---- marshalling */

struct wbuf {
        uint8_t *p;
        size_t size, len;
        bool overflow;
};

static void put(struct wbuf *w, const void *d, size_t n) {
        if (w->overflow || n > w->size - w->len) {
                w->overflow = true;
                return;
        }
        memcpy(w->p + w->len, d, n);
        w->len += n;
}
static void put8(struct wbuf *w, uint8_t v) { put(w, &v, 1); }
static void put16(struct wbuf *w, uint16_t v) { put(w, (uint8_t[]) { v >> 8, v & 0xff }, 2); }
static void put32(struct wbuf *w, uint32_t v) {
        put(w, (uint8_t[]) { v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff }, 4);
}

/* Writes the final size into the header; returns the length or -ENOBUFS. */
static int finish(struct wbuf *w) {
        if (w->overflow || w->len < TPM2_HEADER)
                return -ENOBUFS;
        uint32_t n = (uint32_t) w->len;
        w->p[2] = n >> 24;
        w->p[3] = (n >> 16) & 0xff;
        w->p[4] = (n >> 8) & 0xff;
        w->p[5] = n & 0xff;
        return (int) n;
}

int tpm2_build_get_pcr_banks(uint8_t *buf, size_t size) {
        struct wbuf w = { .p = buf, .size = size };
        put16(&w, TPM2_ST_NO_SESSIONS);
        put32(&w, 0);
        put32(&w, TPM2_CC_GET_CAPABILITY);
        put32(&w, TPM2_CAP_PCRS);
        put32(&w, 0); /* property: unused for TPM_CAP_PCRS */
        put32(&w, 1);
        return finish(&w);
}

int tpm2_build_pcr_event(uint8_t *buf, size_t size, unsigned pcr, const void *event, size_t event_len) {
        struct wbuf w = { .p = buf, .size = size };

        if (pcr >= TPM2_NUM_PCRS || event_len > TPM2_MAX_EVENT)
                return -EINVAL;
        put16(&w, TPM2_ST_SESSIONS);
        put32(&w, 0);
        put32(&w, TPM2_CC_PCR_EVENT);
        put32(&w, pcr); /* the PCR handle is the PCR number */
        /* One password session with the empty password: PCRs 0-23 have an empty authValue
         * on every PC client TPM, and PCR_Event needs USER authorisation. */
        put32(&w, 9);
        put32(&w, TPM2_RS_PW);
        put16(&w, 0); /* nonceCaller */
        put8(&w, 0);  /* sessionAttributes */
        put16(&w, 0); /* hmac: the empty password */
        put16(&w, (uint16_t) event_len);
        put(&w, event, event_len);
        return finish(&w);
}

/* ---- parsing */

struct rbuf {
        const uint8_t *p;
        size_t n, off;
};

static int get(struct rbuf *r, void *d, size_t n) {
        if (n > r->n - r->off)
                return -EBADMSG;
        if (d)
                memcpy(d, r->p + r->off, n);
        r->off += n;
        return 0;
}
static int get8(struct rbuf *r, uint8_t *v) { return get(r, v, 1); }
static int get16(struct rbuf *r, uint16_t *v) {
        uint8_t b[2];
        if (get(r, b, 2) < 0)
                return -EBADMSG;
        *v = (uint16_t) (b[0] << 8 | b[1]);
        return 0;
}
static int get32(struct rbuf *r, uint32_t *v) {
        uint8_t b[4];
        if (get(r, b, 4) < 0)
                return -EBADMSG;
        *v = (uint32_t) b[0] << 24 | (uint32_t) b[1] << 16 | (uint32_t) b[2] << 8 | b[3];
        return 0;
}

/* The 10-byte header. The size field must equal what was received: a short or padded
 * response is refused rather than guessed at. */
static int parse_header(struct rbuf *r, uint16_t *ret_tag, uint32_t *ret_rc) {
        uint16_t tag;
        uint32_t size, rc;

        if (get16(r, &tag) < 0 || get32(r, &size) < 0 || get32(r, &rc) < 0)
                return -EBADMSG;
        if (size != r->n || (tag != TPM2_ST_NO_SESSIONS && tag != TPM2_ST_SESSIONS))
                return -EBADMSG;
        if (ret_rc)
                *ret_rc = rc;
        if (rc != TPM2_RC_SUCCESS)
                return -EIO;
        *ret_tag = tag;
        return 0;
}

int tpm2_parse_pcr_banks(const uint8_t *buf, size_t n, unsigned pcr, uint16_t ret_algs[TPM2_MAX_BANKS],
                         size_t *ret_n, uint32_t *ret_rc) {
        struct rbuf r = { .p = buf, .n = n };
        uint16_t tag, algs[TPM2_MAX_BANKS];
        uint32_t cap, count;
        uint8_t more;
        size_t k = 0;
        int e;

        e = parse_header(&r, &tag, ret_rc);
        if (e < 0)
                return e;
        if (tag != TPM2_ST_NO_SESSIONS || get8(&r, &more) < 0 || get32(&r, &cap) < 0 || cap != TPM2_CAP_PCRS ||
            get32(&r, &count) < 0 || count > TPM2_MAX_BANKS)
                return -EBADMSG;
        for (uint32_t i = 0; i < count; i++) {
                uint16_t alg;
                uint8_t sel_size, sel[255];
                if (get16(&r, &alg) < 0 || get8(&r, &sel_size) < 0 || get(&r, sel, sel_size) < 0)
                        return -EBADMSG;
                if (pcr / 8 >= sel_size || !(sel[pcr / 8] & (1u << (pcr % 8))))
                        continue;
                /* A bank we cannot size cannot be logged or checked: refuse the answer. */
                if (tpm2_alg_digest_size(alg) == 0)
                        return -EBADMSG;
                for (size_t j = 0; j < k; j++)
                        if (algs[j] == alg)
                                return -EBADMSG;
                algs[k++] = alg;
        }
        if (r.off != r.n)
                return -EBADMSG;
        memcpy(ret_algs, algs, k * sizeof algs[0]);
        *ret_n = k;
        return 0;
}

int tpm2_parse_pcr_event(const uint8_t *buf, size_t n, struct tpm2_digests *ret, uint32_t *ret_rc) {
        struct rbuf r = { .p = buf, .n = n };
        struct tpm2_digests d = {};
        uint16_t tag, nonce, hmac;
        uint32_t param_size, count;
        uint8_t attrs;
        int e;

        e = parse_header(&r, &tag, ret_rc);
        if (e < 0)
                return e;
        if (tag != TPM2_ST_SESSIONS || get32(&r, &param_size) < 0 || param_size > r.n - r.off)
                return -EBADMSG;
        size_t param_end = r.off + param_size;
        if (get32(&r, &count) < 0 || count > TPM2_MAX_BANKS)
                return -EBADMSG;
        for (uint32_t i = 0; i < count; i++) {
                struct tpm2_digest *x = &d.d[i];
                if (get16(&r, &x->alg) < 0)
                        return -EBADMSG;
                x->size = (uint8_t) tpm2_alg_digest_size(x->alg);
                if (x->size == 0 || get(&r, x->digest, x->size) < 0)
                        return -EBADMSG;
                for (uint32_t j = 0; j < i; j++)
                        if (d.d[j].alg == x->alg)
                                return -EBADMSG;
        }
        d.n = count;
        if (r.off != param_end)
                return -EBADMSG;
        /* The password session's response: an empty nonce and hmac are all it can hold. */
        if (get16(&r, &nonce) < 0 || get(&r, NULL, nonce) < 0 || get8(&r, &attrs) < 0 || get16(&r, &hmac) < 0 ||
            get(&r, NULL, hmac) < 0 || r.off != r.n)
                return -EBADMSG;
        *ret = d;
        return 0;
}

/* ---- the device */

int tpm2_open(const char *dev, const char *sysfs, struct tpm2 *ret) {
        static const char *const names[] = { "tpmrm0", "tpm0" };
        char path[512];
        int fd = -ENOENT;

        /* The kernel tells us the major version; a TPM 1.2 speaks another protocol. */
        if (sysfs) {
                snprintf(path, sizeof path, "%s/class/tpm/tpm0/tpm_version_major", sysfs);
                _cleanup_close_ int vfd = open(path, O_RDONLY | O_CLOEXEC);
                char v[8] = {};
                if (vfd >= 0 && read(vfd, v, sizeof v - 1) > 0 && v[0] != '2')
                        return -EOPNOTSUPP;
        }
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                snprintf(path, sizeof path, "%s/%s", dev, names[i]);
                fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY);
                if (fd >= 0)
                        break;
                fd = -errno;
                if (fd != -ENOENT)
                        break;
        }
        if (fd < 0)
                return fd;
        *ret = (struct tpm2) { .fd = fd };
        return 0;
}

void tpm2_close(struct tpm2 *t) {
        t->fd = safe_close(t->fd);
}

/* The kernel's TPM character devices take one whole command per write() and give one
 * whole response per read(). */
static ssize_t transmit(struct tpm2 *t, const uint8_t *cmd, size_t len, uint8_t *resp, size_t resp_size) {
        if (t->transport)
                return t->transport(t->userdata, cmd, len, resp, resp_size);
        ssize_t n = write(t->fd, cmd, len);
        if (n < 0)
                return -errno;
        if ((size_t) n != len)
                return -EIO;
        n = read(t->fd, resp, resp_size);
        return n < 0 ? -errno : n;
}

static bool retryable(uint32_t rc) {
        return rc == TPM2_RC_RETRY || rc == TPM2_RC_YIELDED || rc == TPM2_RC_TESTING;
}

int tpm2_measure(struct tpm2 *t, unsigned pcr, const void *event, size_t event_len, struct tpm2_digests *ret,
                 uint32_t *ret_rc) {
        uint8_t cmd[TPM2_MAX_EVENT + 64], resp[TPM2_MAX_RESPONSE];
        uint16_t algs[TPM2_MAX_BANKS];
        struct tpm2_digests all, out = {};
        size_t n_algs = 0;
        uint32_t rc = 0;
        ssize_t n;
        int len, e = -EIO;

        if (ret_rc)
                *ret_rc = 0;
        len = tpm2_build_get_pcr_banks(cmd, sizeof cmd);
        if (len < 0)
                return len;
        for (int attempt = 0; attempt < 10; attempt++) {
                n = transmit(t, cmd, (size_t) len, resp, sizeof resp);
                if (n < 0)
                        return (int) n;
                e = tpm2_parse_pcr_banks(resp, (size_t) n, pcr, algs, &n_algs, &rc);
                if (e != -EIO || !retryable(rc))
                        break;
                nanosleep(&(struct timespec) { .tv_nsec = 50 * 1000 * 1000 }, NULL);
        }
        if (e < 0) {
                if (ret_rc)
                        *ret_rc = rc;
                return e;
        }
        if (n_algs == 0)
                return -ENODATA;

        len = tpm2_build_pcr_event(cmd, sizeof cmd, pcr, event, event_len);
        if (len < 0)
                return len;
        for (int attempt = 0; attempt < 10; attempt++) {
                n = transmit(t, cmd, (size_t) len, resp, sizeof resp);
                if (n < 0)
                        return (int) n;
                e = tpm2_parse_pcr_event(resp, (size_t) n, &all, &rc);
                if (e != -EIO || !retryable(rc))
                        break;
                nanosleep(&(struct timespec) { .tv_nsec = 50 * 1000 * 1000 }, NULL);
        }
        if (e < 0) {
                if (ret_rc)
                        *ret_rc = rc;
                return e;
        }
        /* The TPM extended exactly the banks that hold the PCR; it must have told us the
         * digest of each, or the event log could not describe what happened. */
        for (size_t i = 0; i < n_algs; i++) {
                size_t j;
                for (j = 0; j < all.n; j++)
                        if (all.d[j].alg == algs[i])
                                break;
                if (j == all.n)
                        return -EBADMSG;
                out.d[out.n++] = all.d[j];
        }
        *ret = out;
        return 0;
}
