/*
 * log: one line per event, to stderr (foreground), a file, or syslog.
 *
 * Thread-safe; never blocks on the network. Messages must never contain
 * credentials: callers log URLs through sat_log_url() which strips query
 * strings that may carry tokens.
 */
#ifndef SATFS_LOG_H
#define SATFS_LOG_H

#include <stddef.h>

enum sat_log_level {
	SAT_LOG_ERROR = 0,
	SAT_LOG_WARN = 1,
	SAT_LOG_INFO = 2,
	SAT_LOG_DEBUG = 3,
};

/* Sends messages at or below max_level to syslog (use_syslog), to the file
 * at path (when not NULL), or to stderr. Returns 0 or -errno (file). */
int sat_log_setup(enum sat_log_level max_level, const char *path,
		  int use_syslog);
void sat_log_set_level(enum sat_log_level max_level);
enum sat_log_level sat_log_get_level(void);

void sat_log(enum sat_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define sat_error(...) sat_log(SAT_LOG_ERROR, __VA_ARGS__)
#define sat_warn(...) sat_log(SAT_LOG_WARN, __VA_ARGS__)
#define sat_info(...) sat_log(SAT_LOG_INFO, __VA_ARGS__)
#define sat_debug(...) sat_log(SAT_LOG_DEBUG, __VA_ARGS__)

/* Copies url into buf with any query string and userinfo replaced by
 * "...", so that signed URLs and tokens never reach a log. Returns buf. */
const char *sat_log_url(const char *url, char *buf, size_t len);

#endif
