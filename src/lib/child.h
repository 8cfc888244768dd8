/* SPDX-License-Identifier: MIT */
/* Running a parser of hostile bytes (libblkid's probers, fed by the root device) in a
 * forked child, so that a crash there is an error code in PID 1, not a dead PID 1 (which
 * panics the kernel without the refusal line or the failure policy). */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* fn runs in a child and fills out (at most out_size bytes); its return value (0 or
 * -errno) and the bytes come back over a pipe. Returns what fn returned (with *ret_len the
 * byte count), or -ECHILD when the child died without answering (a crash: *ret_signal is
 * its signal, 0 when it exited), or -errno when fork/pipe failed. */
int cfs_call_in_child(int (*fn)(void *userdata, void *out, size_t out_size, size_t *ret_len), void *userdata,
                      void *out, size_t out_size, size_t *ret_len, int *ret_signal);
