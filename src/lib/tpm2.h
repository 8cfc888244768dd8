/* SPDX-License-Identifier: MIT */
/* The few TPM 2.0 commands cfsroot needs, marshalled by hand (no tpm2-tss in a static
 * initramfs binary): TPM2_GetCapability(TPM_CAP_PCRS) for the active PCR banks and
 * TPM2_PCR_Event, which makes the TPM itself hash the event data in every bank's algorithm
 * and extend each active bank with that hash. So cfsroot needs no hash code of its own for
 * any bank. Responses come from a device and are parsed as untrusted input (fuzzed).
 * Helpers are silent: they return -errno and, for a TPM error, the TPM's response code. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* TPM_ALG_ID values of the hash algorithms a PCR bank can use. */
#define TPM2_ALG_SHA1 0x0004
#define TPM2_ALG_SHA256 0x000B
#define TPM2_ALG_SHA384 0x000C
#define TPM2_ALG_SHA512 0x000D
#define TPM2_ALG_SM3_256 0x0012
#define TPM2_ALG_SHA3_256 0x0027
#define TPM2_ALG_SHA3_384 0x0028
#define TPM2_ALG_SHA3_512 0x0029

#define TPM2_MAX_BANKS 16
#define TPM2_MAX_DIGEST 64
#define TPM2_MAX_EVENT 1024   /* TPM2B_EVENT's buffer */
#define TPM2_MAX_RESPONSE 4096
#define TPM2_NUM_PCRS 24

/* Response codes worth naming (TPM 2.0 Part 2, 6.6). */
#define TPM2_RC_SUCCESS 0x000
#define TPM2_RC_LOCALITY 0x907
#define TPM2_RC_YIELDED 0x908
#define TPM2_RC_TESTING 0x90A
#define TPM2_RC_RETRY 0x922

struct tpm2_digest {
        uint16_t alg;
        uint8_t size;
        uint8_t digest[TPM2_MAX_DIGEST];
};

struct tpm2_digests {
        size_t n;
        struct tpm2_digest d[TPM2_MAX_BANKS];
};

/* The digest size of a hash algorithm, 0 when unknown. */
size_t tpm2_alg_digest_size(uint16_t alg);
/* "sha256" etc., as systemd names banks in its event log; NULL when unknown. */
const char *tpm2_alg_name(uint16_t alg);

/* Command builders: write the command into buf (size bytes), return its length or -ENOBUFS
 * (-EINVAL for an event over TPM2_MAX_EVENT bytes or a PCR beyond 23). */
int tpm2_build_get_pcr_banks(uint8_t *buf, size_t size);
int tpm2_build_pcr_event(uint8_t *buf, size_t size, unsigned pcr, const void *event, size_t event_len);

/* Response parsers. Each checks the header (size field equal to n, a known tag) and the
 * whole body against n. A TPM error gives -EIO with *ret_rc set to the TPM's response
 * code (ret_rc may be NULL); malformed bytes give -EBADMSG; success gives 0.
 * tpm2_parse_pcr_banks: the algorithms of the banks in which PCR pcr is allocated.
 * tpm2_parse_pcr_event: the digests the TPM computed (one per implemented algorithm). */
int tpm2_parse_pcr_banks(const uint8_t *buf, size_t n, unsigned pcr, uint16_t ret_algs[TPM2_MAX_BANKS],
                         size_t *ret_n, uint32_t *ret_rc);
int tpm2_parse_pcr_event(const uint8_t *buf, size_t n, struct tpm2_digests *ret, uint32_t *ret_rc);

/* A TPM connection: a command/response transport, the device by default. */
typedef ssize_t (*tpm2_transport_fn)(void *userdata, const uint8_t *cmd, size_t len, uint8_t *resp, size_t resp_size);

struct tpm2 {
        int fd;
        tpm2_transport_fn transport; /* NULL: write() then read() on fd */
        void *userdata;
};

/* Opens /dev/tpmrm0, else /dev/tpm0, under dev (normally "/dev"). -ENOENT when neither
 * exists; -EOPNOTSUPP when sysfs says the TPM is not a TPM 2.0 (sysfs may be NULL). */
int tpm2_open(const char *dev, const char *sysfs, struct tpm2 *ret);
void tpm2_close(struct tpm2 *t);

/* Extends PCR pcr with the TPM's own hash of event in every bank where pcr is allocated.
 * On success *ret holds the digest extended into each of those banks (the digests of
 * other implemented algorithms are dropped). Retries a few times while the TPM says
 * RETRY/YIELDED/TESTING. Errors as the parsers; -ENODATA when no bank holds pcr. */
int tpm2_measure(struct tpm2 *t, unsigned pcr, const void *event, size_t event_len, struct tpm2_digests *ret,
                 uint32_t *ret_rc);
