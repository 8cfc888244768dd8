/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the image reader: any bytes must give -EBADMSG or a tree, never a
 * crash, leak or out-of-bounds read; an accepted tree must be printable as a dump. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "tree.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        cfs_node *root = NULL;

        log_set_max_level(LOG_LEVEL_ERR);
        int r = cfs_image_read_buffer(data, size, &root);
        if (r < 0) {
                /* Only "malformed" (or out of memory) may come back for bad bytes. */
                CHECK(r == -EBADMSG || r == -ENOMEM);
                CHECK(!root);
                return 0;
        }
        CHECK(root);

        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        CHECK(f);
        CHECK(cfs_dump_write(f, root) == 0);
        fclose(f);
        free(buf);
        cfs_node_free(root);
        return 0;
}
