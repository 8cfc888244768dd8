/* SPDX-License-Identifier: MIT */
/* libFuzzer target for what cfsroot reads from the untrusted root device about an ostree
 * deployment: the path an ostree= symlink resolves to (cfs_ostree_parse_deploy_path) and
 * the /run/ostree-booted record built from it (cfs_ostree_booted_serialize). Any bytes must
 * parse or be refused cleanly; an accepted path has exactly the deployment shape, and a
 * record is well framed (its last framing offset points inside it). */
#include <stdint.h>
#include <stdio.h>

#include "booted-record.h"
#include "deployment.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 16 || size > 8192)
                return 0;
        uint64_t dev, ino;
        memcpy(&dev, data, 8);
        memcpy(&ino, data + 8, 8);
        char *s = strndup((const char *) data + 16, size - 16);
        if (!s)
                return 0;

        char *os = NULL;
        int r = cfs_ostree_parse_deploy_path(s, &os);
        if (r == 0) {
                CHECK(strncmp(s, "/ostree/deploy/", 15) == 0);
                CHECK(*os && !strchr(os, '/') && !streq(os, ".") && !streq(os, ".."));
                size_t n = strlen(os);
                CHECK(strncmp(s + 15 + n, "/deploy/", 8) == 0);
                const char *name = s + 15 + n + 8;
                CHECK(*name && !strchr(name, '/') && !streq(name, ".") && !streq(name, ".."));
                free(os);
        } else
                CHECK(r == -EINVAL || r == -ENOMEM);

        struct cfs_ostree_booted b = {
                .backing_dev = dev, .backing_ino = ino, .composefs = dev & 1, .sysroot_ro = ino & 1,
                .transient_etc = (dev & 2) ? s : NULL,
        };
        uint8_t *buf = NULL;
        size_t len = 0;
        r = cfs_ostree_booted_serialize(&b, &buf, &len);
        if (r == 0) {
                CHECK(len > 16);
                /* The array's last framing offset is the end of its last element. */
                size_t w = len <= 0xff ? 1 : len <= 0xffff ? 2 : 4, end = 0;
                for (size_t i = 0; i < w; i++)
                        end |= (size_t) buf[len - w + i] << (8 * i);
                CHECK(end < len);
                free(buf);
        } else
                CHECK(r == -EINVAL || r == -ENOMEM);
        free(s);
        return 0;
}
