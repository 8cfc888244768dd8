/* SPDX-License-Identifier: MIT */
/* Unit tests for measured boot: the TPM 2.0 command bytes (src/lib/tpm2.c), the response
 * parsers against scripted responses (good, TPM errors, every truncation, padding, bad
 * counts and algorithms), tpm2_measure over a scripted transport (bank filtering, retries),
 * systemd's event log record (src/lib/tpm-eventlog.c) and the failure rules
 * (src/lib/measure.c) with a fake TPM and a temporary log directory. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "measure.h"
#include "tpm-eventlog.h"
#include "tpm2.h"
#include "util.h"

/* ---- building responses */

struct buf {
        uint8_t b[4096];
        size_t n;
};
static void b8(struct buf *b, uint8_t v) { b->b[b->n++] = v; }
static void b16(struct buf *b, uint16_t v) { b8(b, v >> 8); b8(b, v & 0xff); }
static void b32(struct buf *b, uint32_t v) { b16(b, v >> 16); b16(b, v & 0xffff); }
static void bfill(struct buf *b, uint8_t v, size_t n) { while (n--) b8(b, v); }
static void bsize(struct buf *b) { /* patch the header's size field */
        b->b[2] = (uint8_t) (b->n >> 24); b->b[3] = (uint8_t) (b->n >> 16); b->b[4] = (uint8_t) (b->n >> 8); b->b[5] = (uint8_t) b->n;
}

/* GetCapability(PCRS): sha1 with PCRs 0-23, sha256 with PCRs 0-23 except 15 when !with15. */
static void caps_response(struct buf *b, bool sha1_has_15, bool sha256_has_15) {
        *b = (struct buf) {};
        b16(b, 0x8001); b32(b, 0); b32(b, 0);
        b8(b, 0);           /* moreData */
        b32(b, 5);          /* TPM_CAP_PCRS */
        b32(b, 2);
        b16(b, TPM2_ALG_SHA1); b8(b, 3); b8(b, 0xff); b8(b, sha1_has_15 ? 0xff : 0x7f); b8(b, 0xff);
        b16(b, TPM2_ALG_SHA256); b8(b, 3); b8(b, 0xff); b8(b, sha256_has_15 ? 0xff : 0x7f); b8(b, 0xff);
        bsize(b);
}

/* PCR_Event: digests sha1 (0x11...) and sha256 (0x22...), then the password session. */
static void event_response(struct buf *b) {
        *b = (struct buf) {};
        b16(b, 0x8002); b32(b, 0); b32(b, 0);
        b32(b, 4 + 2 + 20 + 2 + 32); /* parameterSize */
        b32(b, 2);
        b16(b, TPM2_ALG_SHA1); bfill(b, 0x11, 20);
        b16(b, TPM2_ALG_SHA256); bfill(b, 0x22, 32);
        b16(b, 0); b8(b, 1); b16(b, 0); /* nonceTPM, attributes, hmac */
        bsize(b);
}

static void error_response(struct buf *b, uint32_t rc) {
        *b = (struct buf) {};
        b16(b, 0x8001); b32(b, 10); b32(b, rc);
}

static void test_commands(void) {
        uint8_t buf[2048];
        static const uint8_t caps[] = { 0x80, 0x01, 0, 0, 0, 22, 0, 0, 0x01, 0x7a, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 1 };
        CHECK(tpm2_build_get_pcr_banks(buf, sizeof buf) == sizeof caps);
        CHECK(memcmp(buf, caps, sizeof caps) == 0);
        CHECK(tpm2_build_get_pcr_banks(buf, 21) == -ENOBUFS);

        static const uint8_t ev[] = {
                0x80, 0x02, 0, 0, 0, 32, 0, 0, 0x01, 0x3c, /* header, TPM_CC_PCR_Event */
                0, 0, 0, 15,                               /* pcrHandle */
                0, 0, 0, 9, 0x40, 0, 0, 9, 0, 0, 0, 0, 0,  /* password session, empty */
                0, 3, 'a', 'b', 'c',                       /* TPM2B_EVENT */
        };
        CHECK(tpm2_build_pcr_event(buf, sizeof buf, 15, "abc", 3) == sizeof ev);
        CHECK(memcmp(buf, ev, sizeof ev) == 0);
        CHECK(tpm2_build_pcr_event(buf, sizeof ev - 1, 15, "abc", 3) == -ENOBUFS);
        CHECK(tpm2_build_pcr_event(buf, sizeof buf, 24, "abc", 3) == -EINVAL);
        static char big[TPM2_MAX_EVENT + 1];
        CHECK(tpm2_build_pcr_event(buf, sizeof buf, 0, big, sizeof big) == -EINVAL);
        CHECK(tpm2_build_pcr_event(buf, sizeof buf, 0, big, TPM2_MAX_EVENT) == 29 + TPM2_MAX_EVENT);
        printf("PASS: command bytes for GetCapability(PCRS) and PCR_Event (password session), bounds\n");
}

static void test_parse_banks(void) {
        struct buf b;
        uint16_t algs[TPM2_MAX_BANKS];
        size_t n = 99;
        uint32_t rc = 1;

        caps_response(&b, true, true);
        CHECK(tpm2_parse_pcr_banks(b.b, b.n, 15, algs, &n, &rc) == 0);
        CHECK(rc == 0 && n == 2 && algs[0] == TPM2_ALG_SHA1 && algs[1] == TPM2_ALG_SHA256);
        caps_response(&b, false, true);
        CHECK(tpm2_parse_pcr_banks(b.b, b.n, 15, algs, &n, &rc) == 0);
        CHECK(n == 1 && algs[0] == TPM2_ALG_SHA256);
        CHECK(tpm2_parse_pcr_banks(b.b, b.n, 14, algs, &n, &rc) == 0 && n == 2);
        /* A PCR beyond the selection bitmap is in no bank. */
        CHECK(tpm2_parse_pcr_banks(b.b, b.n, 24, algs, &n, &rc) == 0 && n == 0);

        /* Every truncation, and one byte too many, is refused. */
        caps_response(&b, true, true);
        for (size_t l = 0; l < b.n; l++)
                CHECK(tpm2_parse_pcr_banks(b.b, l, 15, algs, &n, &rc) == -EBADMSG);
        b.b[b.n] = 0;
        CHECK(tpm2_parse_pcr_banks(b.b, b.n + 1, 15, algs, &n, &rc) == -EBADMSG);
        b.n++;
        bsize(&b);
        CHECK(tpm2_parse_pcr_banks(b.b, b.n, 15, algs, &n, &rc) == -EBADMSG);

        /* TPM errors carry the response code. */
        error_response(&b, TPM2_RC_RETRY);
        CHECK(tpm2_parse_pcr_banks(b.b, b.n, 15, algs, &n, &rc) == -EIO && rc == TPM2_RC_RETRY);
        /* Wrong tag, wrong capability, too many banks, unknown algorithm selected, duplicate. */
        caps_response(&b, true, true);
        b.b[1] = 0x03;
        CHECK(tpm2_parse_pcr_banks(b.b, b.n, 15, algs, &n, &rc) == -EBADMSG);
        caps_response(&b, true, true);
        b.b[14] = 6;
        CHECK(tpm2_parse_pcr_banks(b.b, b.n, 15, algs, &n, &rc) == -EBADMSG);
        caps_response(&b, true, true);
        b.b[18] = 17;
        CHECK(tpm2_parse_pcr_banks(b.b, b.n, 15, algs, &n, &rc) == -EBADMSG);
        caps_response(&b, true, true);
        b.b[20] = 0x99; /* sha1 -> unknown algorithm 0x0099, PCR 15 selected */
        CHECK(tpm2_parse_pcr_banks(b.b, b.n, 15, algs, &n, &rc) == -EBADMSG);
        caps_response(&b, false, true);
        b.b[20] = 0x99; /* unknown algorithm without PCR 15: not our bank, ignored */
        CHECK(tpm2_parse_pcr_banks(b.b, b.n, 15, algs, &n, &rc) == 0 && n == 1);
        caps_response(&b, true, true);
        b.b[26] = TPM2_ALG_SHA1; /* sha256 -> a second sha1 */
        CHECK(tpm2_parse_pcr_banks(b.b, b.n, 15, algs, &n, &rc) == -EBADMSG);
        printf("PASS: GetCapability(PCRS) parser: banks holding a PCR; truncations, padding, TPM errors, bad tag/capability/count/algorithm refused\n");
}

static void test_parse_event(void) {
        struct buf b;
        struct tpm2_digests d;
        uint32_t rc;

        event_response(&b);
        CHECK(tpm2_parse_pcr_event(b.b, b.n, &d, &rc) == 0);
        CHECK(d.n == 2 && d.d[0].alg == TPM2_ALG_SHA1 && d.d[0].size == 20 && d.d[0].digest[19] == 0x11);
        CHECK(d.d[1].alg == TPM2_ALG_SHA256 && d.d[1].size == 32 && d.d[1].digest[0] == 0x22);
        for (size_t l = 0; l < b.n; l++)
                CHECK(tpm2_parse_pcr_event(b.b, l, &d, &rc) == -EBADMSG);
        /* parameterSize that disagrees with the digests, either way. */
        event_response(&b);
        b.b[13]++;
        CHECK(tpm2_parse_pcr_event(b.b, b.n, &d, &rc) == -EBADMSG);
        event_response(&b);
        b.b[13]--;
        CHECK(tpm2_parse_pcr_event(b.b, b.n, &d, &rc) == -EBADMSG);
        /* A session area that claims more nonce than there is. */
        event_response(&b);
        b.b[b.n - 4] = 1;
        CHECK(tpm2_parse_pcr_event(b.b, b.n, &d, &rc) == -EBADMSG);
        /* Unknown digest algorithm: its size is unknown, so nothing after it can be read. */
        event_response(&b);
        b.b[19] = 0x77;
        CHECK(tpm2_parse_pcr_event(b.b, b.n, &d, &rc) == -EBADMSG);
        /* The no-sessions tag on a success is not a PCR_Event answer. */
        event_response(&b);
        b.b[1] = 0x01;
        CHECK(tpm2_parse_pcr_event(b.b, b.n, &d, &rc) == -EBADMSG);
        error_response(&b, TPM2_RC_LOCALITY);
        CHECK(tpm2_parse_pcr_event(b.b, b.n, &d, &rc) == -EIO && rc == TPM2_RC_LOCALITY);
        printf("PASS: PCR_Event parser: digests per algorithm; truncations, wrong parameterSize, session overrun, unknown algorithm, TPM error\n");
}

/* ---- a scripted TPM */

struct script {
        struct buf resp[8];
        size_t n, next;
        uint8_t last_cmd[2048];
        size_t last_len;
};

static ssize_t scripted(void *userdata, const uint8_t *cmd, size_t len, uint8_t *resp, size_t resp_size) {
        struct script *s = userdata;
        CHECK(len <= sizeof s->last_cmd);
        memcpy(s->last_cmd, cmd, len);
        s->last_len = len;
        if (s->next >= s->n)
                return -EIO;
        struct buf *b = &s->resp[s->next++];
        CHECK(b->n <= resp_size);
        memcpy(resp, b->b, b->n);
        return (ssize_t) b->n;
}

static void test_measure(void) {
        struct script s = {};
        struct tpm2 t = { .fd = -1, .transport = scripted, .userdata = &s };
        struct tpm2_digests d;
        uint32_t rc;

        /* Only sha256 holds PCR 15: the sha1 digest the TPM also returns is dropped. */
        caps_response(&s.resp[0], false, true);
        event_response(&s.resp[1]);
        s.n = 2;
        CHECK(tpm2_measure(&t, 15, "abc", 3, &d, &rc) == 0);
        CHECK(d.n == 1 && d.d[0].alg == TPM2_ALG_SHA256 && d.d[0].digest[31] == 0x22);
        CHECK(s.last_len == 32 && s.last_cmd[13] == 15 && memcmp(s.last_cmd + 29, "abc", 3) == 0);

        /* RETRY is retried; LOCALITY is not. */
        s = (struct script) {};
        error_response(&s.resp[0], TPM2_RC_RETRY);
        caps_response(&s.resp[1], true, true);
        error_response(&s.resp[2], TPM2_RC_TESTING);
        event_response(&s.resp[3]);
        s.n = 4;
        CHECK(tpm2_measure(&t, 15, "abc", 3, &d, &rc) == 0 && d.n == 2 && s.next == 4);
        s = (struct script) {};
        caps_response(&s.resp[0], true, true);
        error_response(&s.resp[1], TPM2_RC_LOCALITY);
        event_response(&s.resp[2]);
        s.n = 3;
        CHECK(tpm2_measure(&t, 15, "abc", 3, &d, &rc) == -EIO && rc == TPM2_RC_LOCALITY && s.next == 2);

        /* No bank holds the PCR: nothing is sent but the query. */
        s = (struct script) {};
        caps_response(&s.resp[0], false, false);
        s.n = 1;
        CHECK(tpm2_measure(&t, 15, "abc", 3, &d, &rc) == -ENODATA && s.next == 1);

        /* An active bank the TPM returned no digest for cannot be logged. */
        s = (struct script) {};
        caps_response(&s.resp[0], true, true);
        caps_response(&s.resp[0], true, true);
        s.resp[0].b[20] = TPM2_ALG_SHA384;
        event_response(&s.resp[1]);
        s.n = 2;
        CHECK(tpm2_measure(&t, 15, "abc", 3, &d, &rc) == -EBADMSG);

        /* The transport failing is passed on. */
        s = (struct script) {};
        CHECK(tpm2_measure(&t, 15, "abc", 3, &d, &rc) == -EIO && rc == 0);
        printf("PASS: tpm2_measure over a scripted TPM: only the PCR's banks kept, RETRY/TESTING retried, LOCALITY and transport errors passed on, missing bank digest refused\n");
}

static char *read_all(const char *path) {
        static char buf[8192];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return NULL;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n < 0)
                return NULL;
        buf[n] = '\0';
        return buf;
}

static void test_eventlog_and_policy(const char *tmp) {
        struct tpm2_digests d = { .n = 2 };
        _cleanup_free_ char *rec = NULL;
        char dir[512], path[600];

        d.d[0] = (struct tpm2_digest) { .alg = TPM2_ALG_SHA1, .size = 20 };
        memset(d.d[0].digest, 0xab, 20);
        d.d[1] = (struct tpm2_digest) { .alg = TPM2_ALG_SHA256, .size = 32 };
        memset(d.d[1].digest, 0x01, 32);
        CHECK(tpm_eventlog_format(15, &d, "cfsroot:sha256:00", &rec) == 0);
        CHECK(streq(rec, "\x1e{\"pcr\":15,\"digests\":[{\"hashAlg\":\"sha1\",\"digest\":\"abababababababababababababababababababab\"},"
                         "{\"hashAlg\":\"sha256\",\"digest\":\"0101010101010101010101010101010101010101010101010101010101010101\"}],"
                         "\"content_type\":\"systemd\",\"content\":{\"string\":\"cfsroot:sha256:00\"}}\n"));
        char *bad = NULL;
        CHECK(tpm_eventlog_format(15, &d, "a\"b", &bad) == -EINVAL && !bad);
        CHECK(tpm_eventlog_format(15, &d, "a\nb", &bad) == -EINVAL && !bad);
        d.d[0].size = 19;
        CHECK(tpm_eventlog_format(15, &d, "x", &bad) == -EINVAL && !bad);
        printf("PASS: event log record: RS, JSON with pcr, digests{hashAlg,digest}, content_type systemd, content.string, LF\n");

        /* The policy, with a fake TPM and the log under tmp/log/systemd. */
        struct cfsroot_config c = { .pcr = 15, .have_digest = true };
        memset(c.digest, 0xcd, sizeof c.digest);
        char s[128];
        cfs_measure_string(&c, s, sizeof s);
        CHECK(streq(s, "cfsroot:sha256:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"));
        snprintf(dir, sizeof dir, "%s/log/systemd", tmp);
        snprintf(path, sizeof path, "%s/tpm2-measure.log", dir);

        struct script sc = {};
        struct tpm2 t = { .fd = -1, .transport = scripted, .userdata = &sc };
        caps_response(&sc.resp[0], false, true);
        event_response(&sc.resp[1]);
        sc.n = 2;
        CHECK(cfs_measure_root_with(&c, &t, 0, dir) == 0);
        CHECK(sc.last_len == 29 + strlen(s) && memcmp(sc.last_cmd + 29, s, strlen(s)) == 0);
        struct stat st;
        CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0600);
        char *log1 = read_all(path);
        CHECK(log1 && log1[0] == '\x1e' && strstr(log1, "\"pcr\":15") && strstr(log1, s) && strstr(log1, "\"sha256\"") &&
              !strstr(log1, "\"sha1\""));
        size_t len1 = strlen(log1);

        /* A second measurement appends. */
        sc = (struct script) {};
        caps_response(&sc.resp[0], true, true);
        event_response(&sc.resp[1]);
        sc.n = 2;
        CHECK(cfs_measure_root_with(&c, &t, 0, dir) == 0);
        char *log2 = read_all(path);
        CHECK(log2 && strlen(log2) > 2 * len1 - 4 && log2[len1] == '\x1e' && strstr(log2 + len1, "\"sha1\""));

        /* A TPM that fails fails the step, and nothing is recorded. */
        size_t len2 = strlen(log2);
        sc = (struct script) {};
        caps_response(&sc.resp[0], true, true);
        error_response(&sc.resp[1], TPM2_RC_LOCALITY);
        sc.n = 2;
        CHECK(cfs_measure_root_with(&c, &t, 0, dir) == -EIO);
        CHECK(strlen(read_all(path)) == len2);

        /* No TPM: auto goes on, require fails; another open error always fails. */
        CHECK(cfs_measure_root_with(&c, NULL, -ENOENT, dir) == 0);
        CHECK(cfs_measure_root_with(&c, NULL, -EOPNOTSUPP, dir) == 0);
        CHECK(cfs_measure_root_with(&c, NULL, -EACCES, dir) == -EACCES);
        c.tpm_require = true;
        CHECK(cfs_measure_root_with(&c, NULL, -ENOENT, dir) == -ENODEV);
        /* Off: the TPM is never asked. */
        c.pcr = -1;
        sc = (struct script) {};
        CHECK(cfs_measure_root_with(&c, &t, 0, dir) == 0 && sc.next == 0);

        /* The unverified mode measures a marker no digest can produce. */
        c = (struct cfsroot_config) { .pcr = 15 };
        cfs_measure_string(&c, s, sizeof s);
        CHECK(streq(s, "cfsroot:unverified"));

        /* A log path that cannot be created fails before the TPM is touched. */
        snprintf(path, sizeof path, "%s/file", tmp);
        int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        CHECK(fd >= 0);
        close(fd);
        snprintf(dir, sizeof dir, "%s/file/systemd", tmp);
        sc = (struct script) {};
        CHECK(cfs_measure_root_with(&c, &t, 0, dir) < 0 && sc.next == 0);
        printf("PASS: measurement policy: log 0600, records appended; TPM failure fatal and unrecorded; no TPM: auto goes on, require fails; off asks nothing; unverified marker\n");
}

int main(void) {
        setvbuf(stdout, NULL, _IOLBF, 0);
        test_commands();
        test_parse_banks();
        test_parse_event();
        test_measure();

        char tmp[] = "/tmp/test-tpm2.XXXXXX";
        CHECK(mkdtemp(tmp));
        test_eventlog_and_policy(tmp);
        char p[600];
        snprintf(p, sizeof p, "%s/log/systemd/tpm2-measure.log", tmp);
        unlink(p);
        snprintf(p, sizeof p, "%s/log/systemd", tmp);
        rmdir(p);
        snprintf(p, sizeof p, "%s/log", tmp);
        rmdir(p);
        snprintf(p, sizeof p, "%s/file", tmp);
        unlink(p);
        rmdir(tmp);
        return 0;
}
