/* SPDX-License-Identifier: MIT */
/* Kernel command line -> struct cfsroot_config. A pure function over a string, so it can be
 * unit-tested and fuzzed: the command line decides whether a root is verified, so every
 * cfsroot.* key is strict (no unknown keys, no silently conflicting repeats). */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmdline.h"
#include "rootfs.h"
#include "util.h"

#define MAX_SECONDS 86400u

/* The cfsroot keys, by their normalised name ('-' written as '_'). */
enum cfs_key {
        KEY_IMAGE,
        KEY_DIGEST,
        KEY_BASEDIR,
        KEY_VERITY_CHECK,
        KEY_ON_FAILURE,
        KEY_DEBUG,
        KEY_OSTREE,
        KEY_ETC,
        KEY_PCR,
        KEY_TPM,
        _KEY_MAX,
};

static const char *const key_names[_KEY_MAX] = {
        [KEY_IMAGE] = "cfsroot",
        [KEY_DIGEST] = "cfsroot.digest",
        [KEY_BASEDIR] = "cfsroot.basedir",
        [KEY_VERITY_CHECK] = "cfsroot.verity_check",
        [KEY_ON_FAILURE] = "cfsroot.on_failure",
        [KEY_DEBUG] = "cfsroot.debug",
        [KEY_OSTREE] = "cfsroot.ostree",
        [KEY_ETC] = "cfsroot.etc",
        [KEY_PCR] = "cfsroot.pcr",
        [KEY_TPM] = "cfsroot.tpm",
};

struct parse_state {
        struct cfsroot_config *c;
        char *seen[_KEY_MAX]; /* first raw value of each cfsroot key ("" when bare) */
        char *err;
        size_t errlen;
};

_printf_(2, 3) static int fail(struct parse_state *s, const char *fmt, ...) {
        if (s->err && s->errlen > 0) {
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(s->err, s->errlen, fmt, ap);
                va_end(ap);
        }
        return -EINVAL;
}

/* The kernel's isspace() (lib/ctype.c), which next_arg() uses: the C locale's set plus
 * Latin-1 NBSP (0xa0). Splitting differently from the kernel would let one signed command
 * line mean one thing to a reader of the kernel's rules and another thing to us. */
static bool is_space(char c) {
        unsigned char u = (unsigned char) c;
        return u == ' ' || (u >= '\t' && u <= '\r') || u == 0xa0;
}

/* One argument, exactly like lib/cmdline.c next_arg(): modifies args in place. */
static char *next_arg(char *args, char **ret_param, char **ret_val) {
        size_t i, equals = 0;
        bool in_quote = false, quoted = false;

        if (*args == '"') {
                args++;
                in_quote = quoted = true;
        }
        for (i = 0; args[i]; i++) {
                if (is_space(args[i]) && !in_quote)
                        break;
                if (equals == 0 && args[i] == '=')
                        equals = i;
                if (args[i] == '"')
                        in_quote = !in_quote;
        }

        *ret_param = args;
        if (equals == 0)
                *ret_val = NULL;
        else {
                args[equals] = '\0';
                *ret_val = args + equals + 1;
                if (**ret_val == '"') {
                        (*ret_val)++;
                        if (args[i - 1] == '"')
                                args[i - 1] = '\0';
                }
        }
        if (quoted && i > 0 && args[i - 1] == '"')
                args[i - 1] = '\0';

        if (args[i]) {
                args[i] = '\0';
                args += i + 1;
        } else
                args += i;
        while (is_space(*args))
                args++;
        return args;
}

static bool is_hex(char c) { return isxdigit((unsigned char) c); }

/* Digest forms: 64 hex digits in either case, optionally prefixed "sha256:". */
static int parse_digest(struct parse_state *s, const char *v, uint8_t ret[CFS_DIGEST_SIZE]) {
        const char *hex = v, *colon = strchr(v, ':');

        if (colon) {
                if ((size_t) (colon - v) == 6 && strncasecmp(v, "sha256", 6) == 0)
                        hex = colon + 1;
                else
                        return fail(s, "invalid cfsroot.digest=%s: unknown digest prefix '%.*s'", v,
                                    (int) MIN((size_t) (colon - v) + 1, 64u), v);
        }
        for (const char *p = hex; *p; p++)
                if (!is_hex(*p))
                        return fail(s, "invalid cfsroot.digest=%s: non-hex character", v);
        if (strlen(hex) != 2 * CFS_DIGEST_SIZE)
                return fail(s, "invalid cfsroot.digest=%s: expected 64 hex digits", v);
        CHECK(hex_decode(hex, 2 * CFS_DIGEST_SIZE, ret, CFS_DIGEST_SIZE) == 0);
        return 0;
}

/* Decimal seconds, as the kernel's rootwait=/rootdelay= take them. */
static int parse_seconds(const char *v, unsigned *ret) {
        unsigned n = 0;
        if (!v || !*v)
                return -EINVAL;
        for (const char *p = v; *p; p++) {
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                n = n * 10 + (unsigned) (*p - '0');
                if (n > MAX_SECONDS)
                        return -ERANGE;
        }
        *ret = n;
        return 0;
}

static bool is_absolute_path(const char *p) { return p[0] == '/'; }

static int set_basedirs(struct parse_state *s, const char *v) {
        struct cfsroot_config *c = s->c;
        size_t n = 1;

        for (const char *p = v; *p; p++)
                if (*p == ':')
                        n++;
        char **dirs = calloc(n + 1, sizeof(char *));
        if (!dirs)
                return -ENOMEM;

        size_t k = 0;
        for (const char *p = v;;) {
                const char *end = strchrnul(p, ':');
                if (end == p || *p != '/') {
                        for (size_t j = 0; j < k; j++)
                                free(dirs[j]);
                        free(dirs);
                        return fail(s, "invalid cfsroot.basedir=%s: expected absolute directories separated by ':'", v);
                }
                dirs[k] = strndup(p, (size_t) (end - p));
                if (!dirs[k]) {
                        for (size_t j = 0; j < k; j++)
                                free(dirs[j]);
                        free(dirs);
                        return -ENOMEM;
                }
                k++;
                if (!*end)
                        break;
                p = end + 1;
        }
        c->basedirs = dirs;
        c->n_basedirs = k;
        return 0;
}

/* Applies one cfsroot key. The first occurrence sets the value; a repeat must mean the
 * same thing (compared after decoding for the digest) or it is an error. */
static int set_cfs_key(struct parse_state *s, enum cfs_key k, const char *raw) {
        struct cfsroot_config *c = s->c;
        const char *v = raw ?: "";
        int r;

        s->c->active = true;
        switch (k) {
        case KEY_IMAGE:
                if (!is_absolute_path(v))
                        return fail(s, "invalid cfsroot=%s: expected the absolute path of the image on the root device", v);
                break;
        case KEY_DIGEST: {
                uint8_t d[CFS_DIGEST_SIZE];
                r = parse_digest(s, v, d);
                if (r < 0)
                        return r;
                if (s->seen[k]) {
                        if (memcmp(d, c->digest, sizeof d) != 0)
                                return fail(s, "conflicting values for %s: '%s' and '%s'", key_names[k], s->seen[k], v);
                        return 0;
                }
                memcpy(c->digest, d, sizeof d);
                c->have_digest = true;
                break;
        }
        case KEY_BASEDIR:
                break; /* validated below, on first occurrence */
        case KEY_VERITY_CHECK:
                if (strlen(v) != 1 || v[0] < '0' || v[0] > '2')
                        return fail(s, "invalid cfsroot.verity_check=%s: expected 0, 1 or 2", v);
                break;
        case KEY_ON_FAILURE:
                if (!streq(v, "halt") && !streq(v, "poweroff") && !streq(v, "reboot"))
                        return fail(s, "invalid cfsroot.on_failure=%s: expected halt, poweroff or reboot", v);
                break;
        case KEY_DEBUG:
                if (raw && !streq(v, "0") && !streq(v, "1"))
                        return fail(s, "invalid cfsroot.debug=%s: expected cfsroot.debug, cfsroot.debug=0 or cfsroot.debug=1", v);
                v = raw && streq(v, "0") ? "0" : "1"; /* bare and "1" are the same */
                break;
        case KEY_OSTREE:
                if (raw && !streq(v, "0") && !streq(v, "1"))
                        return fail(s, "invalid cfsroot.ostree=%s: expected cfsroot.ostree, cfsroot.ostree=0 or cfsroot.ostree=1", v);
                v = raw && streq(v, "0") ? "0" : "1";
                break;
        case KEY_ETC:
                if (!streq(v, "persistent") && !streq(v, "transient"))
                        return fail(s, "invalid cfsroot.etc=%s: expected persistent or transient", v);
                break;
        case KEY_PCR: {
                /* Plain decimal 0..23 (the PCRs every TPM 2.0 PC client has), or "off". */
                size_t l = strlen(v);
                if (!streq(v, "off") &&
                    (l < 1 || l > 2 || !isdigit((unsigned char) v[0]) || (l == 2 && (v[0] == '0' || !isdigit((unsigned char) v[1]))) ||
                     atoi(v) > CFSROOT_PCR_MAX))
                        return fail(s, "invalid cfsroot.pcr=%s: expected a PCR number 0-%d or off", v, CFSROOT_PCR_MAX);
                break;
        }
        case KEY_TPM:
                if (!streq(v, "auto") && !streq(v, "require"))
                        return fail(s, "invalid cfsroot.tpm=%s: expected auto or require", v);
                break;
        default:
                CHECK(false);
        }

        if (s->seen[k]) {
                if (!streq(s->seen[k], v))
                        return fail(s, "conflicting values for %s: '%s' and '%s'", key_names[k], s->seen[k], v);
                return 0;
        }
        s->seen[k] = strdup(v);
        if (!s->seen[k])
                return -ENOMEM;

        switch (k) {
        case KEY_IMAGE:
                c->image = strdup(v);
                if (!c->image)
                        return -ENOMEM;
                break;
        case KEY_BASEDIR:
                return set_basedirs(s, v);
        case KEY_VERITY_CHECK:
                c->verity_check = v[0] - '0';
                break;
        case KEY_ON_FAILURE:
                c->on_failure = streq(v, "halt") ? CFSROOT_ON_FAILURE_HALT
                        : streq(v, "poweroff") ? CFSROOT_ON_FAILURE_POWEROFF
                                                 : CFSROOT_ON_FAILURE_REBOOT;
                break;
        case KEY_DEBUG:
                c->debug = streq(v, "1");
                break;
        case KEY_OSTREE:
                c->ostree_scan = streq(v, "1");
                break;
        case KEY_ETC:
                c->etc = streq(v, "transient") ? CFSROOT_ETC_TRANSIENT : CFSROOT_ETC_PERSISTENT;
                break;
        case KEY_PCR:
                c->pcr = streq(v, "off") ? -1 : atoi(v);
                break;
        case KEY_TPM:
                c->tpm_require = streq(v, "require");
                break;
        default:
                break;
        }
        return 0;
}

static int replace_string(char **field, const char *v) {
        char *n = strdup(v);
        if (!n)
                return -ENOMEM;
        free(*field);
        *field = n;
        return 0;
}

static int apply(struct parse_state *s, char *key, const char *val) {
        struct cfsroot_config *c = s->c;
        unsigned n = 0;

        /* The kernel treats '-' and '_' in parameter names as the same character. */
        for (char *p = key; *p; p++)
                if (*p == '-')
                        *p = '_';

        if (streq(key, "cfsroot"))
                return set_cfs_key(s, KEY_IMAGE, val);
        if (strncmp(key, "cfsroot.", 8) == 0) {
                for (size_t k = 0; k < _KEY_MAX; k++)
                        if (streq(key, key_names[k]))
                                return set_cfs_key(s, (enum cfs_key) k, val);
                c->active = true;
                return fail(s, "unknown option %s", key);
        }

        /* ostree's own key names the image (the deployment's .ostree.cfs) when cfsroot is
         * active: strict like a cfsroot key, so two entries cannot name two deployments. */
        if (streq(key, "ostree") && val) {
                if (c->ostree) {
                        if (!streq(c->ostree, val))
                                return fail(s, "conflicting values for ostree: '%s' and '%s'", c->ostree, val);
                        return 0;
                }
                c->ostree = strdup(val);
                return c->ostree ? 0 : -ENOMEM;
        }

        /* The kernel's own keys: last one wins, malformed numbers are refused. */
        if (streq(key, "root") && val)
                return replace_string(&c->root, val);
        if (streq(key, "rootfstype") && val)
                return replace_string(&c->rootfstype, val);
        if (streq(key, "rootflags") && val)
                return replace_string(&c->rootflags, val);
        if (streq(key, "init") && val)
                return replace_string(&c->init, val);
        if (streq(key, "ro") && !val) {
                c->rw = false;
                return 0;
        }
        if (streq(key, "rw") && !val) {
                c->rw = true;
                return 0;
        }
        if (streq(key, "rootwait")) {
                if (val && parse_seconds(val, &n) < 0)
                        return fail(s, "invalid rootwait=%s: expected a number of seconds", val);
                c->rootwait = true;
                c->rootwait_sec = val ? n : 0;
                return 0;
        }
        if (streq(key, "modprobe.blacklist") && val) {
                size_t first = c->n_modprobe_blacklist;
                if (cfs_list_append_split(&c->modprobe_blacklist, &c->n_modprobe_blacklist, val) < 0)
                        return -ENOMEM;
                /* Module names, like parameter names, do not tell '-' from '_'. */
                for (size_t i = first; i < c->n_modprobe_blacklist; i++)
                        for (char *p = c->modprobe_blacklist[i]; *p; p++)
                                if (*p == '-')
                                        *p = '_';
                return 0;
        }
        if (streq(key, "rootdelay") && val) {
                if (parse_seconds(val, &n) < 0)
                        return fail(s, "invalid rootdelay=%s: expected a number of seconds", val);
                c->rootdelay = n;
                return 0;
        }
        return 0;
}

int cfsroot_config_parse(const char *cmdline, struct cfsroot_config *ret, char *err, size_t errlen) {
        struct parse_state s = { .c = ret, .err = err, .errlen = errlen };
        int r = 0;

        *ret = (struct cfsroot_config) { .verity_check = -1, .on_failure = CFSROOT_ON_FAILURE_HALT,
                                         .pcr = CFSROOT_DEFAULT_PCR };
        if (err && errlen > 0)
                err[0] = '\0';

        _cleanup_free_ char *buf = strdup(cmdline);
        if (!buf)
                return -ENOMEM;

        char *args = buf;
        while (is_space(*args))
                args++;
        while (*args) {
                char *param, *val;
                args = next_arg(args, &param, &val);
                if (!val && streq(param, "--"))
                        break; /* the rest belongs to init */
                r = apply(&s, param, val);
                if (r < 0)
                        break;
        }

        for (size_t k = 0; k < _KEY_MAX; k++)
                free(s.seen[k]);
        if (r == -ENOMEM)
                fail(&s, "out of memory");
        return r;
}

int cfsroot_config_check(struct cfsroot_config *c, bool *ret_unverified, char *err, size_t errlen) {
        struct parse_state s = { .c = c, .err = err, .errlen = errlen };

        bool ostree = cfsroot_config_is_ostree(c);

        if (ostree && c->image)
                return fail(&s, "%s and cfsroot=%s both name the image to boot: give one of them",
                            c->ostree ? "ostree=" : "cfsroot.ostree", c->image);
        if (c->ostree && !is_absolute_path(c->ostree))
                return fail(&s, "invalid ostree=%s: expected an absolute path such as /ostree/boot.1/OS/CHECKSUM/0", c->ostree);
        if (!c->image && !ostree)
                return fail(&s, "no cfsroot= on the kernel command line: add cfsroot=IMAGE cfsroot.digest=sha256:HEX");
        if (c->ostree_scan && !c->ostree && !c->have_digest)
                return fail(&s, "cfsroot.ostree finds the deployment by its digest: add cfsroot.digest=sha256:HEX (or ostree=PATH)");
        if (c->etc != CFSROOT_ETC_PERSISTENT && !ostree)
                return fail(&s, "cfsroot.etc= applies to ostree roots only: add ostree= or cfsroot.ostree, or remove it");
        if (!c->have_digest && c->verity_check != 0 && c->verity_check != 1)
                return fail(&s, "no cfsroot.digest= given: refusing to boot an unverified root (add cfsroot.digest=, or cfsroot.verity_check=0|1 to accept an unverified root)");
        if (c->tpm_require && c->pcr < 0)
                return fail(&s, "cfsroot.tpm=require contradicts cfsroot.pcr=off: remove one of them");
        if (c->verity_check < 0)
                c->verity_check = 2;
        if (!c->basedirs) {
                char **dirs = calloc(2, sizeof(char *));
                if (!dirs)
                        return -ENOMEM;
                dirs[0] = strdup(ostree ? CFSROOT_OSTREE_DEFAULT_BASEDIR : CFSROOT_DEFAULT_BASEDIR);
                if (!dirs[0]) {
                        free(dirs);
                        return -ENOMEM;
                }
                c->basedirs = dirs;
                c->n_basedirs = 1;
        }
        if (ret_unverified)
                *ret_unverified = !c->have_digest;
        return 0;
}

void cfsroot_config_done(struct cfsroot_config *c) {
        free(c->image);
        for (size_t i = 0; i < c->n_basedirs; i++)
                free(c->basedirs[i]);
        free(c->basedirs);
        free(c->root);
        free(c->rootfstype);
        free(c->rootflags);
        free(c->init);
        free(c->ostree);
        cfs_list_free(c->modprobe_blacklist);
        *c = (struct cfsroot_config) { .verity_check = -1 };
}

const char *cfsroot_on_failure_to_string(enum cfsroot_on_failure f) {
        switch (f) {
        case CFSROOT_ON_FAILURE_POWEROFF:
                return "poweroff";
        case CFSROOT_ON_FAILURE_REBOOT:
                return "reboot";
        default:
                return "halt";
        }
}

const char *cfsroot_verity_mode(int verity_check) {
        switch (verity_check) {
        case 0:
                return "off";
        case 1:
                return "on";
        default:
                return "require";
        }
}
