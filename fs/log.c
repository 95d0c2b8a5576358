/*
 * log: see include/satfs/log.h.
 *
 * One mutex serialises writes so that lines from different threads never
 * interleave; formatting happens before taking it. The same mutex protects
 * the ring of recent warnings and errors. Causes (sat_log_cause) live in a
 * thread-local buffer: no lock.
 */
#include "satfs/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static enum sat_log_level log_max = SAT_LOG_INFO; /* protected by log_lock */
static FILE *log_file;                            /* protected by log_lock */
static int log_syslog;                            /* protected by log_lock */
static bool log_echo;                             /* protected by log_lock */

/* The newest warnings and errors, for the status file. */
struct recent {
	long when_s;
	enum sat_log_level level;
	char msg[320];
};
static struct recent recent_ring[SAT_LOG_RECENT]; /* protected by log_lock */
static unsigned recent_next;                      /* protected by log_lock */
static unsigned recent_count;                     /* protected by log_lock */

static __thread char thread_cause[512];

static const char *const level_names[] = { "error", "warning", "info",
					   "debug" };

int sat_log_setup(enum sat_log_level max_level, const char *path,
		  int use_syslog)
{
	FILE *f = NULL;

	if (path) {
		f = fopen(path, "a");
		if (!f)
			return -errno;
		setvbuf(f, NULL, _IOLBF, 0);
	}
	pthread_mutex_lock(&log_lock);
	if (log_file)
		fclose(log_file);
	log_file = f;
	log_max = max_level;
	log_syslog = use_syslog && !f;
	pthread_mutex_unlock(&log_lock);
	if (use_syslog && !f)
		openlog("satfs", LOG_PID, LOG_DAEMON);
	return 0;
}

void sat_log_echo_stderr(bool on)
{
	pthread_mutex_lock(&log_lock);
	log_echo = on;
	pthread_mutex_unlock(&log_lock);
}

void sat_log_set_level(enum sat_log_level max_level)
{
	pthread_mutex_lock(&log_lock);
	log_max = max_level;
	pthread_mutex_unlock(&log_lock);
}

enum sat_log_level sat_log_get_level(void)
{
	enum sat_log_level l;

	pthread_mutex_lock(&log_lock);
	l = log_max;
	pthread_mutex_unlock(&log_lock);
	return l;
}

void sat_log(enum sat_log_level level, const char *fmt, ...)
{
	static const int syslog_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO,
					   LOG_DEBUG };
	char msg[2048], stamp[32];
	struct timespec ts;
	struct tm tm;
	bool show = level <= sat_log_get_level();
	va_list ap;

	/* warnings and errors go to the ring even when not shown */
	if (!show && level > SAT_LOG_WARN)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* One line per event: ids and URLs come from the network, and a
	 * newline in one must not forge a log line. */
	for (char *c = msg; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

	pthread_mutex_lock(&log_lock);
	if (level <= SAT_LOG_WARN) {
		struct recent *r = &recent_ring[recent_next];
		size_t n = strnlen(msg, sizeof(r->msg) - 1);

		r->when_s = (long)ts.tv_sec;
		r->level = level;
		memcpy(r->msg, msg, n); /* cut: it is only a reminder */
		r->msg[n] = '\0';
		recent_next = (recent_next + 1) % SAT_LOG_RECENT;
		if (recent_count < SAT_LOG_RECENT)
			recent_count++;
	}
	if (show && log_syslog)
		syslog(syslog_prio[level], "%s: %s", level_names[level], msg);
	else if (show)
		fprintf(log_file ? log_file : stderr, "%s.%03ldZ satfs %s: %s\n",
			stamp, ts.tv_nsec / 1000000, level_names[level], msg);
	if (log_echo && level <= SAT_LOG_WARN && (log_syslog || log_file))
		fprintf(stderr, "satfs: %s: %s\n", level_names[level], msg);
	pthread_mutex_unlock(&log_lock);
}

void sat_log_cause(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(thread_cause, sizeof(thread_cause), fmt, ap);
	va_end(ap);
	sat_debug("%s", thread_cause);
}

const char *sat_log_take_cause(char *buf, size_t len)
{
	snprintf(buf, len, "%s", thread_cause);
	thread_cause[0] = '\0';
	return buf;
}

void sat_log_recent(long since_s, sat_log_recent_fn fn, void *payload)
{
	unsigned i, first;

	pthread_mutex_lock(&log_lock);
	first = (recent_next + SAT_LOG_RECENT - recent_count) % SAT_LOG_RECENT;
	for (i = 0; i < recent_count; i++) {
		const struct recent *r =
			&recent_ring[(first + i) % SAT_LOG_RECENT];

		if (r->when_s >= since_s)
			fn(r->when_s, r->level, r->msg, payload);
	}
	pthread_mutex_unlock(&log_lock);
}

const char *sat_log_url(const char *url, char *buf, size_t len)
{
	const char *scheme_end, *at, *host, *query;
	size_t n;

	if (!url) {
		snprintf(buf, len, "(null)");
		return buf;
	}
	scheme_end = strstr(url, "://");
	host = scheme_end ? scheme_end + 3 : url;
	at = strchr(host, '@');
	if (at && at < host + strcspn(host, "/?#"))
		host = at + 1; /* drop user:password@ */
	query = strpbrk(host, "?#");
	n = query ? (size_t)(query - host) : strlen(host);
	snprintf(buf, len, "%.*s%.*s%s",
		 scheme_end ? (int)(scheme_end + 3 - url) : 0, url, (int)n, host,
		 query ? "?..." : "");
	return buf;
}
