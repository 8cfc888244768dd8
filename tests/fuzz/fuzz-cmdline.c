/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the kernel command line parser and the activation rules: any
 * bytes must parse or fail cleanly, never crash or leak, and a success must leave a config
 * that satisfies the contract's invariants. */
#include <stdint.h>
#include <stdio.h>

#include "cmdline.h"
#include "composefs-root.h"
#include "mount.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct cfsroot_config c;
        char err[512];
        bool unverified = false;

        if (size > 8192)
                return 0;
        char *s = malloc(size + 1);
        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0'; /* /proc/cmdline is a C string: stops at the first NUL */

        int r = cfsroot_config_parse(s, &c, err, sizeof err);
        if (r < 0) {
                CHECK(r == -EINVAL || r == -ENOMEM);
                CHECK(err[0] != '\0');
        } else {
                CHECK(r == 0);
                CHECK(c.verity_check >= -1 && c.verity_check <= 2);
                CHECK(c.pcr >= -1 && c.pcr <= CFSROOT_PCR_MAX);
                CHECK(!c.image || c.image[0] == '/');
                CHECK(!c.basedirs || c.n_basedirs > 0);
                for (size_t i = 0; i < c.n_basedirs; i++)
                        CHECK(c.basedirs[i][0] == '/' && !strchr(c.basedirs[i], ':'));
                if (c.active) {
                        r = cfsroot_config_check(&c, &unverified, err, sizeof err);
                        if (r == 0) {
                                /* Exactly one way to name the image: cfsroot=, or an ostree root. */
                                CHECK(!c.image != !cfsroot_config_is_ostree(&c));
                                CHECK(!c.ostree || c.ostree[0] == '/');
                                /* The UKI case finds the deployment only by its digest. */
                                CHECK(!c.ostree_scan || c.ostree || c.have_digest);
                                CHECK(c.etc == CFSROOT_ETC_PERSISTENT || cfsroot_config_is_ostree(&c));
                                CHECK(c.verity_check >= 0 && c.verity_check <= 2);
                                /* Never an unverified boot unless explicitly asked for. */
                                CHECK(c.have_digest || c.verity_check < 2);
                                CHECK(unverified == !c.have_digest);
                                CHECK(c.n_basedirs > 0);
                                CHECK(!(c.tpm_require && c.pcr < 0));
                                _cleanup_free_ char *o = NULL;
                                r = cfs_ovl_legacy_options("/lower", c.basedirs, c.n_basedirs,
                                                           cfsroot_verity_mode(c.verity_check), &o);
                                CHECK(r == 0 || r == -E2BIG);
                                if (r < 0) {
                                        CHECK(!o);
                                        cfsroot_config_done(&c);
                                        free(s);
                                        return 0;
                                }
                                CHECK(strlen(o) <= CFS_MOUNT_DATA_MAX);
                                CHECK(strncmp(o, "metacopy=on,redirect_dir=on,verity=", 35) == 0);
                                /* Escaping: exactly the options we add, whatever the paths. */
                                int commas = 0;
                                for (const char *p = o; *p; p++) {
                                        if (*p == '\\') {
                                                CHECK(p[1]);
                                                p++;
                                        } else if (*p == ',')
                                                commas++;
                                }
                                CHECK(commas == 3);
                        } else
                                CHECK(err[0] != '\0');
                }
        }
        cfsroot_config_done(&c);
        free(s);
        return 0;
}
