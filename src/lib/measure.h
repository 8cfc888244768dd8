/* SPDX-License-Identifier: MIT */
/* Measured boot: before the new root runs, extend cfsroot.pcr= (default 15) with the
 * verified image's digest and record the event in systemd's TPM measurement log.
 * What is measured is the string "cfsroot:sha256:HEX" (HEX: the image's fs-verity digest,
 * lower case), or "cfsroot:unverified" for the documented unverified mode; each active bank
 * of the PCR is extended with that string's hash in the bank's algorithm (computed by the
 * TPM, TPM2_PCR_Event), so a verifier predicts PCR 15 from the digest alone:
 *   sha256: PCR = SHA256(PCR_before || SHA256("cfsroot:sha256:HEX")).
 * Policy (cfsroot.tpm=auto|require): a TPM that is there but fails is always fatal; no TPM
 * at all is one warning line under auto and fatal under require. */
#pragma once

#include <stddef.h>

#include "cmdline.h"
#include "tpm2.h"

/* The measured string for this config into buf. */
void cfs_measure_string(const struct cfsroot_config *c, char *buf, size_t size);

/* The whole step with the real devices (/dev, /sys, /run/log/systemd). Logs; returns 0
 * (measured, or nothing to do) or -errno (the boot must fail). */
int cfs_measure_root(const struct cfsroot_config *c);

/* The same with a given TPM (NULL with open_error when none could be opened) and log
 * directory: for tests. */
int cfs_measure_root_with(const struct cfsroot_config *c, struct tpm2 *t, int open_error, const char *logdir);
