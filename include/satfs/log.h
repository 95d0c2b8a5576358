/*
 * log: one line per event, to stderr (foreground), a file, or syslog.
 *
 * Thread-safe; never blocks on the network. Messages must never contain
 * credentials: callers log URLs through sat_log_url() which strips query
 * strings that may carry tokens.
 */
#ifndef SATFS_LOG_H
#define SATFS_LOG_H

#include <stdbool.h>
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
/* While on, warnings and errors also go to stderr when the log goes to a
 * file or syslog: while the daemon starts, its user is watching stderr. */
void sat_log_echo_stderr(bool on);
enum sat_log_level sat_log_get_level(void);

void sat_log(enum sat_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define sat_error(...) sat_log(SAT_LOG_ERROR, __VA_ARGS__)
#define sat_warn(...) sat_log(SAT_LOG_WARN, __VA_ARGS__)
#define sat_info(...) sat_log(SAT_LOG_INFO, __VA_ARGS__)
#define sat_debug(...) sat_log(SAT_LOG_DEBUG, __VA_ARGS__)

/* The failure a lower layer understood, for the caller on the same thread
 * to report in its one log line ("render of X failed: CAUSE"): remembers
 * it on the calling thread (the latest wins) and logs it at debug level
 * only, so that one failure makes one line. */
void sat_log_cause(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Copies the calling thread's latest cause into buf ("" when none) and
 * forgets it. Returns buf. */
const char *sat_log_take_cause(char *buf, size_t len);

/* The warnings and errors of the last minutes, whatever the level, for
 * MOUNT/.satfs/status: calls fn for each of the newest (at most
 * SAT_LOG_RECENT) lines logged at or after since (epoch seconds), oldest
 * first. fn runs with the log's lock held: it must not log. */
#define SAT_LOG_RECENT 32
typedef void (*sat_log_recent_fn)(long when_s, enum sat_log_level level,
				  const char *msg, void *payload);
void sat_log_recent(long since_s, sat_log_recent_fn fn, void *payload);

/* Copies url into buf with any query string and userinfo replaced by
 * "...", so that signed URLs and tokens never reach a log. Returns buf. */
const char *sat_log_url(const char *url, char *buf, size_t len);

#endif
