/* SPDX-License-Identifier: MIT */
/* A function call in a forked child with its answer over a pipe (see child.h). */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>

#include "child.h"
#include "util.h"

struct answer {
        int32_t r;
        uint32_t len;
};

int cfs_call_in_child(int (*fn)(void *userdata, void *out, size_t out_size, size_t *ret_len), void *userdata,
                      void *out, size_t out_size, size_t *ret_len, int *ret_signal) {
        int p[2];

        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        _cleanup_close_ int rd = p[0];
        _cleanup_close_ int wr = p[1];

        pid_t pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                size_t len = 0;
                rd = safe_close(rd);
                int r = fn(userdata, out, out_size, &len);
                struct answer a = { .r = r, .len = (uint32_t) (r < 0 ? 0 : MIN(len, out_size)) };
                /* One write of header plus data would be nicer; two are fine, the parent
                 * reads until EOF. */
                if (loop_write(wr, &a, sizeof a) < 0 || loop_write(wr, out, a.len) < 0)
                        _exit(2);
                _exit(0);
        }
        wr = safe_close(wr);

        struct answer a = {};
        ssize_t n = loop_read(rd, &a, sizeof a);
        ssize_t m = n == (ssize_t) sizeof a && a.len <= out_size ? loop_read(rd, out, a.len) : -1;

        int status = 0;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (n != (ssize_t) sizeof a || a.len > out_size || m != (ssize_t) a.len || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0) {
                if (ret_signal)
                        *ret_signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
                return -ECHILD;
        }
        if (ret_len)
                *ret_len = a.len;
        return a.r;
}
