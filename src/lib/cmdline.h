/* SPDX-License-Identifier: MIT */
/* The kernel command line contract of cfsroot: a pure parser from a string to a
 * struct cfsroot_config, plus the rules that decide whether a parsed config may boot.
 * Nothing here touches the system; errors come back as -errno plus a message. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "verity.h"

enum cfsroot_on_failure {
        CFSROOT_ON_FAILURE_HALT,
        CFSROOT_ON_FAILURE_POWEROFF,
        CFSROOT_ON_FAILURE_REBOOT,
};

/* cfsroot.etc= for ostree roots: the deployment's own /etc, or an overlay of the image's
 * /usr/etc with a tmpfs upper layer that is lost at reboot. */
enum cfsroot_etc {
        CFSROOT_ETC_PERSISTENT,
        CFSROOT_ETC_TRANSIENT,
};

/* Without rootwait the root device gets this long to appear (drivers are loaded by us,
 * from modaliases, and probe asynchronously; the kernel itself would not wait at all). */
#define CFSROOT_DEFAULT_ROOT_WAIT_SEC 10
#define CFSROOT_DEFAULT_BASEDIR "/cfs/objects"
/* ostree roots: the repository's content objects back the deployment's .ostree.cfs. */
#define CFSROOT_OSTREE_DEFAULT_BASEDIR "/ostree/repo/objects"
/* Measured boot: the UAPI PCR registry gives PCR 15 to system identity. */
#define CFSROOT_DEFAULT_PCR 15
#define CFSROOT_PCR_MAX 23

struct cfsroot_config {
        /* cfsroot.* keys */
        bool active;         /* cfsroot= or any cfsroot.* key seen */
        char *image;         /* cfsroot=PATH, absolute path on the root device */
        bool have_digest;
        uint8_t digest[CFS_DIGEST_SIZE];
        char **basedirs;     /* NULL-terminated; default { CFSROOT_DEFAULT_BASEDIR } */
        size_t n_basedirs;
        int verity_check;    /* 0, 1, 2; -1 when not given */
        enum cfsroot_on_failure on_failure;
        bool debug;
        int pcr;             /* cfsroot.pcr=N: PCR to extend; -1 for off; default CFSROOT_DEFAULT_PCR */
        bool tpm_require;    /* cfsroot.tpm=require: no TPM fails the boot (default auto) */

        /* standard kernel keys (last one wins, as in the kernel) */
        char *root;          /* root= */
        char *rootfstype;    /* rootfstype=, a comma-separated list tried in order */
        char *rootflags;     /* rootflags= */
        bool rw;             /* "rw" given after any "ro" */
        bool rootwait;       /* rootwait or rootwait=N */
        unsigned rootwait_sec; /* rootwait=N; 0 means wait forever */
        unsigned rootdelay;  /* rootdelay=N seconds */
        char *init;          /* init= */

        /* ostree roots (issue 6) */
        char *ostree;        /* ostree=/ostree/boot.N/OS/BOOTCSUM/SERIAL, from ostree's BLS entries */
        bool ostree_scan;    /* cfsroot.ostree: the deployment is found by cfsroot.digest alone */
        enum cfsroot_etc etc; /* cfsroot.etc=persistent|transient */

        /* modprobe.blacklist=a,b (may repeat): modules cfsroot never loads, nor anything
         * that depends on them. NULL-terminated, '-' written as '_'. */
        char **modprobe_blacklist;
        size_t n_modprobe_blacklist;
};

/* True when the root is an ostree deployment (ostree= or cfsroot.ostree). */
static inline bool cfsroot_config_is_ostree(const struct cfsroot_config *c) {
        return c->ostree || c->ostree_scan;
}

/* Parses a whole command line (e.g. the content of /proc/cmdline) with the kernel's
 * next_arg() rules: whitespace separates, double quotes group and are removed around the
 * value, "--" ends the kernel's arguments, '-' and '_' are equal in key names.
 * Every cfsroot.* key is validated here; a repeated cfsroot key with a different value is
 * an error, an unknown cfsroot.* key is an error.
 * On success returns 0 and fills *ret (free with cfsroot_config_done()). On failure returns
 * -EINVAL and writes a one-line reason without the program prefix to err (errlen bytes,
 * may be NULL); *ret then holds everything parsed before the error (on_failure in
 * particular) and must still be freed. */
int cfsroot_config_parse(const char *cmdline, struct cfsroot_config *ret, char *err, size_t errlen);

/* The activation rules, for a config with active set: cfsroot= is required (or, for an
 * ostree root, ostree= or cfsroot.ostree, never together with cfsroot=); without a digest,
 * refuse unless verity_check is explicitly 0 or 1 (cfsroot.ostree without ostree= always
 * needs the digest: it is how the deployment is found); cfsroot.etc= only for ostree roots;
 * fills in the defaults (verity_check 2, default basedir, /ostree/repo/objects for ostree). Returns 0 (and sets *ret_unverified when the root will
 * not be verified) or -EINVAL with a reason in err. */
int cfsroot_config_check(struct cfsroot_config *c, bool *ret_unverified, char *err, size_t errlen);

void cfsroot_config_done(struct cfsroot_config *c);

const char *cfsroot_on_failure_to_string(enum cfsroot_on_failure f);

/* Overlayfs mount option values for verity_check 0/1/2. */
const char *cfsroot_verity_mode(int verity_check);
