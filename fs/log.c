/*
 * log: see include/satfs/log.h.
 *
 * One mutex serialises writes so that lines from different threads never
 * interleave; formatting happens before taking it.
 */
#include "satfs/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static enum sat_log_level log_max = SAT_LOG_INFO; /* protected by log_lock */
static FILE *log_file;                            /* protected by log_lock */
static int log_syslog;                            /* protected by log_lock */

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
	va_list ap;

	if (level > sat_log_get_level())
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);

	pthread_mutex_lock(&log_lock);
	if (log_syslog)
		syslog(syslog_prio[level], "%s: %s", level_names[level], msg);
	else
		fprintf(log_file ? log_file : stderr, "%s.%03ldZ satfs %s: %s\n",
			stamp, ts.tv_nsec / 1000000, level_names[level], msg);
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
