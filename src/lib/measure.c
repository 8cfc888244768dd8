/* SPDX-License-Identifier: MIT */
/* The measured-boot step of cfsroot and its failure rules (see measure.h). */
#include <stdio.h>

#include "log.h"
#include "measure.h"
#include "tpm-eventlog.h"
#include "util.h"

void cfs_measure_string(const struct cfsroot_config *c, char *buf, size_t size) {
        char hex[2 * CFS_DIGEST_SIZE + 1];

        if (!c->have_digest) {
                snprintf(buf, size, "cfsroot:unverified");
                return;
        }
        hex_encode(c->digest, CFS_DIGEST_SIZE, hex);
        snprintf(buf, size, "cfsroot:sha256:%s", hex);
}

static const char *rc_hint(uint32_t rc) {
        switch (rc) {
        case TPM2_RC_LOCALITY:
                return " (TPM_RC_LOCALITY: this PCR cannot be extended from the OS; use PCR 0-16 or 23)";
        case TPM2_RC_RETRY:
        case TPM2_RC_YIELDED:
        case TPM2_RC_TESTING:
                return " (the TPM stayed busy)";
        default:
                return "";
        }
}

int cfs_measure_root_with(const struct cfsroot_config *c, struct tpm2 *t, int open_error, const char *logdir) {
        char event[96];
        struct tpm2_digests d;
        uint32_t rc = 0;
        int r;

        if (c->pcr < 0) {
                log_debug("cfsroot.pcr=off: the image digest is not measured");
                return 0;
        }
        if (!t) {
                if (open_error != -ENOENT && open_error != -EOPNOTSUPP)
                        return log_error_errno(open_error, "cannot open the TPM (/dev/tpmrm0): %m");
                const char *what = open_error == -EOPNOTSUPP ? "the TPM is not a TPM 2.0" : "no TPM found";
                if (c->tpm_require)
                        return log_error_errno(ENODEV, "%s, and cfsroot.tpm=require: refusing to boot without measuring the image into PCR %d",
                                               what, c->pcr);
                log_warning("%s: the image digest is not measured into PCR %d (boot goes on; cfsroot.tpm=require refuses this)",
                            what, c->pcr);
                return 0;
        }

        cfs_measure_string(c, event, sizeof event);
        _cleanup_close_ int logfd = tpm_eventlog_open(logdir);
        if (logfd < 0)
                return log_error_errno(logfd, "cannot open the TPM event log %s/%s: %m", logdir, TPM_EVENTLOG_NAME);

        r = tpm2_measure(t, (unsigned) c->pcr, event, strlen(event), &d, &rc);
        if (r == -EIO && rc != 0)
                return log_error_errno(r, "the TPM failed to extend PCR %d with %s: TPM response code 0x%x%s", c->pcr, event,
                                       rc, rc_hint(rc));
        if (r == -EBADMSG)
                return log_error_errno(r, "malformed TPM response while extending PCR %d with %s", c->pcr, event);
        if (r == -ENODATA)
                return log_error_errno(r, "PCR %d is in no active bank of the TPM: cannot measure %s", c->pcr, event);
        if (r < 0)
                return log_error_errno(r, "cannot extend PCR %d with %s: %m", c->pcr, event);

        _cleanup_free_ char *record = NULL;
        r = tpm_eventlog_format((unsigned) c->pcr, &d, event, &record);
        if (r >= 0)
                r = tpm_eventlog_append(logfd, record);
        if (r < 0)
                return log_error_errno(r, "cannot record the measurement of PCR %d in %s/%s: %m", c->pcr, logdir,
                                       TPM_EVENTLOG_NAME);

        char banks[128] = "";
        for (size_t i = 0; i < d.n; i++) {
                size_t l = strlen(banks);
                snprintf(banks + l, sizeof banks - l, "%s%s", i ? "," : "", tpm2_alg_name(d.d[i].alg));
        }
        log_info("measured %s into PCR %d (banks %s)", event, c->pcr, banks);
        return 0;
}

int cfs_measure_root(const struct cfsroot_config *c) {
        struct tpm2 t = { .fd = -EBADF };
        int r;

        if (c->pcr < 0)
                return cfs_measure_root_with(c, NULL, 0, TPM_EVENTLOG_DIR);
        r = tpm2_open("/dev", "/sys", &t);
        if (r < 0)
                return cfs_measure_root_with(c, NULL, r, TPM_EVENTLOG_DIR);
        r = cfs_measure_root_with(c, &t, 0, TPM_EVENTLOG_DIR);
        tpm2_close(&t);
        return r;
}
