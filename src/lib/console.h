/* SPDX-License-Identifier: MIT */
/* The log sink of cfsroot as PID 1: every message goes to /dev/kmsg with its level, and
 * straight to /dev/console when the kernel would not print it there itself (quiet, or
 * /dev/kmsg rate limiting), so the console shows each line exactly once. */
#pragma once

/* Call after /dev, /proc are mounted. Turns /dev/kmsg rate limiting off
 * (kernel.printk_devkmsg=on) unless the command line locked it. Installs the sink. */
void cfs_console_open(void);
void cfs_console_close(void);
/* Puts kernel.printk_devkmsg back to the value cfs_console_open() found (it sets "on" so
 * that no line of ours is rate limited away). Returns 0 or -errno. */
int cfs_console_restore(void);
