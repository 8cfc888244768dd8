/* Test helper for tests/host/xz-dec.sh: decompresses one .xz file to stdout through the
 * liblzma it is linked with (the static cfsroot's decoder-only build), with the decoder
 * libkmod uses (lzma_stream_decoder, concatenated streams) plus LZMA_TELL_UNSUPPORTED_CHECK,
 * so that a stream whose check this build cannot verify fails instead of decoding unchecked.
 * Usage: xz-dec FILE. Exit 0 when decoded and checked, 1 otherwise. */
#include <errno.h>
#include <fcntl.h>
#include <lzma.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *lzma_ret_name(lzma_ret r) {
        switch (r) {
        case LZMA_UNSUPPORTED_CHECK: return "unsupported check";
        case LZMA_MEM_ERROR:         return "out of memory";
        case LZMA_FORMAT_ERROR:      return "not .xz";
        case LZMA_OPTIONS_ERROR:     return "unsupported options (filter not built in?)";
        case LZMA_DATA_ERROR:        return "corrupt data or check mismatch";
        case LZMA_BUF_ERROR:         return "truncated";
        default:                     return "other error";
        }
}

static int write_all(const uint8_t *p, size_t n) {
        while (n > 0) {
                ssize_t w = write(STDOUT_FILENO, p, n);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += w;
                n -= (size_t) w;
        }
        return 0;
}

int main(int argc, char **argv) {
        lzma_stream s = LZMA_STREAM_INIT;
        uint8_t in[65536], out[65536];
        lzma_action action = LZMA_RUN;
        lzma_ret r;
        int fd;

        if (argc != 2) {
                fprintf(stderr, "usage: xz-dec FILE\n");
                return 2;
        }
        fd = open(argv[1], O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "xz-dec: cannot open '%s': %s\n", argv[1], strerror(errno));
                return 1;
        }
        r = lzma_stream_decoder(&s, UINT64_MAX, LZMA_CONCATENATED | LZMA_TELL_UNSUPPORTED_CHECK);
        if (r != LZMA_OK) {
                fprintf(stderr, "xz-dec: cannot set up the decoder: %s\n", lzma_ret_name(r));
                close(fd);
                return 1;
        }
        for (;;) {
                if (s.avail_in == 0 && action == LZMA_RUN) {
                        ssize_t n = read(fd, in, sizeof(in));
                        if (n < 0) {
                                fprintf(stderr, "xz-dec: cannot read '%s': %s\n", argv[1], strerror(errno));
                                break;
                        }
                        s.next_in = in;
                        s.avail_in = (size_t) n;
                        if (n == 0)
                                action = LZMA_FINISH;
                }
                s.next_out = out;
                s.avail_out = sizeof(out);
                r = lzma_code(&s, action);
                if (write_all(out, sizeof(out) - s.avail_out) < 0) {
                        fprintf(stderr, "xz-dec: cannot write the output of '%s'\n", argv[1]);
                        break;
                }
                if (r == LZMA_STREAM_END) {
                        lzma_end(&s);
                        close(fd);
                        return 0;
                }
                if (r != LZMA_OK) {
                        fprintf(stderr, "xz-dec: cannot decode '%s': %s\n", argv[1], lzma_ret_name(r));
                        break;
                }
        }
        lzma_end(&s);
        close(fd);
        return 1;
}
