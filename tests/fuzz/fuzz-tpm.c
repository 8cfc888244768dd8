/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the TPM 2.0 response parsers (src/lib/tpm2.c): a TPM, or whatever
 * answers on /dev/tpmrm0, is not trusted to send well-formed bytes. Any input must parse
 * or fail with -EBADMSG/-EIO, never read out of bounds, and a success must hold only
 * digests of known algorithms and sizes. The first byte picks the PCR for the bank query. */
#include <stdint.h>
#include <stdio.h>

#include "tpm-eventlog.h"
#include "tpm2.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        uint16_t algs[TPM2_MAX_BANKS];
        struct tpm2_digests d;
        size_t n = 0;
        uint32_t rc = 0;
        int r;

        if (size < 1 || size > TPM2_MAX_RESPONSE + 1)
                return 0;
        unsigned pcr = data[0] % 32;
        /* A copy of exactly the response bytes, so ASan sees any read past them. */
        uint8_t *buf = malloc(size - 1 ?: 1);
        if (!buf)
                return 0;
        memcpy(buf, data + 1, size - 1);

        r = tpm2_parse_pcr_banks(buf, size - 1, pcr, algs, &n, &rc);
        CHECK(r == 0 || r == -EBADMSG || r == -EIO);
        if (r == -EIO)
                CHECK(rc != 0);
        if (r == 0) {
                CHECK(n <= TPM2_MAX_BANKS);
                for (size_t i = 0; i < n; i++)
                        CHECK(tpm2_alg_digest_size(algs[i]) > 0);
        }

        r = tpm2_parse_pcr_event(buf, size - 1, &d, &rc);
        CHECK(r == 0 || r == -EBADMSG || r == -EIO);
        if (r == 0) {
                CHECK(d.n <= TPM2_MAX_BANKS);
                for (size_t i = 0; i < d.n; i++)
                        CHECK(d.d[i].size == tpm2_alg_digest_size(d.d[i].alg) && d.d[i].size > 0);
                /* What parsed must be loggable. */
                char *rec = NULL;
                CHECK(tpm_eventlog_format(pcr, &d, "cfsroot:sha256:00", &rec) == 0);
                free(rec);
        }
        free(buf);
        return 0;
}
