/* SPDX-License-Identifier: MIT */
/* systemd's userspace TPM measurement log, /run/log/systemd/tpm2-measure.log: JSON-SEQ
 * (RFC 7464: each record is RS, a JSON object, LF), appended under an exclusive flock(),
 * one record per PCR extension:
 *   {"pcr":15,"digests":[{"hashAlg":"sha256","digest":"HEX"},...],
 *    "content_type":"systemd","content":{"string":"cfsroot:sha256:HEX"}}
 * content.string is the measured data itself, so systemd-pcrlock (and any verifier) can
 * recompute every digest from it. systemd's tools read this file across the switch root. */
#pragma once

#include <stddef.h>

#include "tpm2.h"

#define TPM_EVENTLOG_DIR "/run/log/systemd"
#define TPM_EVENTLOG_NAME "tpm2-measure.log"

/* One record, RS-prefixed and LF-terminated, into *ret (malloc'ed). The string must be
 * printable ASCII without '"' or '\\' (what cfsroot measures); -EINVAL otherwise. */
int tpm_eventlog_format(unsigned pcr, const struct tpm2_digests *d, const char *string, char **ret);

/* Creates dir (and its parent) if needed, opens dir/tpm2-measure.log for appending
 * (created 0600, never through a symlink) and takes an exclusive flock() on it, which
 * the caller keeps until the record is written. Returns the fd or -errno. */
int tpm_eventlog_open(const char *dir);

/* Appends one formatted record with a single write(). */
int tpm_eventlog_append(int fd, const char *record);
