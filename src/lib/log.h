/* SPDX-License-Identifier: MIT */
/* Logging. Every message names the program; the layer that knows the context logs and
 * returns in one statement: return log_error_errno(r, "Failed to open '%s': %m", p);
 * "%m" formats the error passed in (not the global errno). Output goes to a sink:
 * stderr by default, the kernel log and console in cfsroot. */
#pragma once

#include <errno.h>
#include <stdarg.h>

enum {
        LOG_LEVEL_ERR = 3,
        LOG_LEVEL_WARNING = 4,
        LOG_LEVEL_NOTICE = 5,
        LOG_LEVEL_INFO = 6,
        LOG_LEVEL_DEBUG = 7,
};

typedef void (*log_sink_t)(int level, const char *line, void *userdata);

void log_set_sink(log_sink_t sink, void *userdata);
void log_set_max_level(int level);
int log_get_max_level(void);
/* Prefix for messages ("mkcfs", "cfsroot"). Defaults to program_invocation_short_name. */
void log_set_prefix(const char *prefix);

/* Returns -abs(error), so "return log_error_errno(r, ...)" passes the error on. */
int log_internal(int level, int error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int log_internalv(int level, int error, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));

/* What the *_errno macros return: the negative error, and never 0. An error of 0 (errno not
 * set where it was expected) becomes -EIO, so a logged failure can never read as success;
 * being inline, it also lets static analysers see that these calls return < 0. */
static inline int log_errno_ret(int r) { return r < 0 ? r : -EIO; }

#define log_error_errno(e, ...) log_errno_ret(log_internal(LOG_LEVEL_ERR, (e), __VA_ARGS__))
#define log_warning_errno(e, ...) log_errno_ret(log_internal(LOG_LEVEL_WARNING, (e), __VA_ARGS__))
#define log_error(...) ((void) log_internal(LOG_LEVEL_ERR, 0, __VA_ARGS__))
#define log_warning(...) ((void) log_internal(LOG_LEVEL_WARNING, 0, __VA_ARGS__))
#define log_notice(...) ((void) log_internal(LOG_LEVEL_NOTICE, 0, __VA_ARGS__))
#define log_info(...) ((void) log_internal(LOG_LEVEL_INFO, 0, __VA_ARGS__))
#define log_debug(...) ((void) log_internal(LOG_LEVEL_DEBUG, 0, __VA_ARGS__))
