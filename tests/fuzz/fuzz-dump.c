/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the dump parser (untrusted input): any bytes must give an error
 * with a message, or a tree that (1) the writer turns into an image the reader accepts,
 * and (2) prints as a dump that parses back and prints identically. Never a crash or leak. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "log.h"
#include "tree.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *print(cfs_node *root, size_t *ret_len) {
        char *buf = NULL;
        FILE *f = open_memstream(&buf, ret_len);
        CHECK(f);
        CHECK(cfs_dump_write(f, root) == 0);
        CHECK(fclose(f) == 0);
        return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct cfs_parse_error err;
        cfs_node *root = NULL;

        log_set_max_level(LOG_LEVEL_ERR);
        int r = cfs_dump_parse_buffer((const char *) data, size, &root, &err);
        if (r < 0) {
                CHECK(!root);
                CHECK(err.msg[0] != '\0');
                return 0;
        }
        CHECK(root);

        int fd = memfd_create("fuzz-dump", MFD_CLOEXEC);
        CHECK(fd >= 0);
        r = cfs_image_write(root, fd, NULL);
        /* The parser accepts only what the writer can hold. */
        CHECK(r == 0);
        off_t img_size = lseek(fd, 0, SEEK_END);
        CHECK(img_size > 0);
        uint8_t *img = malloc(img_size);
        CHECK(img);
        CHECK(loop_pread(fd, img, img_size, 0) == img_size);
        safe_close(fd);
        cfs_node *back = NULL;
        CHECK(cfs_image_read_buffer(img, img_size, &back) == 0);
        cfs_node_free(back);
        free(img);

        size_t len1, len2;
        char *text1 = print(root, &len1);
        cfs_node *again = NULL;
        r = cfs_dump_parse_buffer(text1, len1, &again, &err);
        if (r < 0)
                fprintf(stderr, "reparse failed at line %u: %s\n", err.line, err.msg);
        CHECK(r == 0);
        char *text2 = print(again, &len2);
        CHECK(len1 == len2 && memcmp(text1, text2, len1) == 0);

        free(text1);
        free(text2);
        cfs_node_free(again);
        cfs_node_free(root);
        return 0;
}
