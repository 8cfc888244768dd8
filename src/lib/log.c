/* SPDX-License-Identifier: MIT */
/* The logger behind log.h: formats one line, hands it to the sink. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

static log_sink_t log_sink;
static void *log_userdata;
static int log_max_level = LOG_LEVEL_INFO;
static const char *log_prefix;

void log_set_sink(log_sink_t sink, void *userdata) {
        log_sink = sink;
        log_userdata = userdata;
}

void log_set_max_level(int level) { log_max_level = level; }
int log_get_max_level(void) { return log_max_level; }
void log_set_prefix(const char *prefix) { log_prefix = prefix; }

int log_internalv(int level, int error, const char *fmt, va_list ap) {
        int r = error > 0 ? -error : error;

        if (level > log_max_level)
                return r;

        int saved = errno;
        char msg[2048];
        errno = r < 0 ? -r : 0; /* for %m */
        int n = snprintf(msg, sizeof msg, "%s: ", log_prefix ?: program_invocation_short_name);
        if (n < 0 || (size_t) n >= sizeof msg)
                n = 0;
        vsnprintf(msg + n, sizeof msg - (size_t) n, fmt, ap);
        if (log_sink)
                log_sink(level, msg, log_userdata);
        else
                fprintf(stderr, "%s\n", msg);
        errno = saved;
        return r;
}

int log_internal(int level, int error, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        int r = log_internalv(level, error, fmt, ap);
        va_end(ap);
        return r;
}
