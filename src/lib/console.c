/* SPDX-License-Identifier: MIT */
/* /dev/kmsg + /dev/console log sink. The kernel echoes a /dev/kmsg line to the console
 * only when its level is below console_loglevel ("quiet" lowers that to 4) and only when
 * the write was not rate limited; everything else is written to the console by us. */
#include <fcntl.h>
#include <stdio.h>

#include "console.h"
#include "log.h"
#include "util.h"

static int kmsg_fd = -EBADF;
static int console_fd = -EBADF;
static int console_loglevel = 0;  /* 0: unknown, so always write to the console ourselves */
static bool kmsg_unlimited = false;
/* kernel.printk_devkmsg as we found it ("ratelimit" by default), restored before exec: the
 * booted system must keep /dev/kmsg rate limiting against its own userspace. */
static char devkmsg_saved[32];

static int read_small_file(const char *path, char *buf, size_t n) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t k = loop_read(fd, buf, n - 1);
        if (k < 0)
                return (int) k;
        buf[k] = '\0';
        return 0;
}

static void sink(int level, const char *line, void *userdata) {
        char buf[2200];
        bool kmsg_ok = false;

        if (kmsg_fd >= 0) {
                int n = snprintf(buf, sizeof buf, "<%d>%s\n", level, line);
                if (n > 0)
                        kmsg_ok = write(kmsg_fd, buf, (size_t) MIN((size_t) n, sizeof buf - 1)) > 0;
        }
        if (!kmsg_ok || !kmsg_unlimited || console_loglevel == 0 || level >= console_loglevel) {
                int fd = console_fd >= 0 ? console_fd : STDERR_FILENO;
                int n = snprintf(buf, sizeof buf, "%s\n", line);
                if (n > 0)
                        (void) loop_write(fd, buf, MIN((size_t) n, sizeof buf - 1));
        }
}

void cfs_console_open(void) {
        char buf[64];

        kmsg_fd = open("/dev/kmsg", O_WRONLY | O_NOCTTY | O_CLOEXEC);
        console_fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);

        devkmsg_saved[0] = '\0';
        if (read_small_file("/proc/sys/kernel/printk_devkmsg", devkmsg_saved, sizeof devkmsg_saved) < 0)
                devkmsg_saved[0] = '\0';
        /* Fails when printk.devkmsg= on the command line locked the setting: then read it. */
        _cleanup_close_ int fd = open("/proc/sys/kernel/printk_devkmsg", O_WRONLY | O_CLOEXEC);
        if (fd >= 0)
                (void) loop_write(fd, "on\n", 3);
        kmsg_unlimited = read_small_file("/proc/sys/kernel/printk_devkmsg", buf, sizeof buf) == 0 &&
                         strncmp(buf, "on", 2) == 0;
        if (read_small_file("/proc/sys/kernel/printk", buf, sizeof buf) == 0)
                console_loglevel = atoi(buf);

        log_set_sink(sink, NULL);
}

int cfs_console_restore(void) {
        char now[32];

        if (!devkmsg_saved[0])
                return 0;
        /* Nothing to undo when it was already what we set, or locked by printk.devkmsg=. */
        if (read_small_file("/proc/sys/kernel/printk_devkmsg", now, sizeof now) == 0 && streq(now, devkmsg_saved))
                return 0;
        _cleanup_close_ int fd = open("/proc/sys/kernel/printk_devkmsg", O_WRONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        int r = loop_write(fd, devkmsg_saved, strlen(devkmsg_saved));
        if (r < 0)
                return r;
        /* From here on our own /dev/kmsg lines may be rate limited: echo them ourselves. */
        kmsg_unlimited = false;
        return 0;
}

void cfs_console_close(void) {
        log_set_sink(NULL, NULL);
        kmsg_fd = safe_close(kmsg_fd);
        console_fd = safe_close(console_fd);
}
