/*
 * Tests of log: the ring of recent warnings and errors the status file
 * shows (kept whatever the level, oldest first, bounded), causes (per
 * thread, debug only, taken once), and URLs without their secrets.
 */
#include "satest.h"
#include "satfs/log.h"

#include <pthread.h>
#include <time.h>

struct seen {
	int n;
	char last[400];
	enum sat_log_level level;
};

static void collect(long when_s, enum sat_log_level level, const char *msg,
		    void *payload)
{
	struct seen *s = payload;

	s->n++;
	s->level = level;
	snprintf(s->last, sizeof(s->last), "%s", msg);
}

SAT_TEST(recent_ring)
{
	char path[512];
	struct seen s = { 0 };
	size_t len;
	char *text;
	int i;

	snprintf(path, sizeof(path), "%s/log", satest_tmpdir());
	/* errors only in the file, but warnings still reach the ring */
	CHECK(sat_log_setup(SAT_LOG_ERROR, path, 0) == 0);
	sat_warn("first %d", 1);
	sat_info("not kept");
	sat_error("second %d", 2);
	sat_log_recent(time(NULL) - 60, collect, &s);
	CHECK(s.n == 2);
	CHECK(strcmp(s.last, "second 2") == 0);
	CHECK(s.level == SAT_LOG_ERROR);
	text = satest_read_file(path, &len);
	CHECK(strstr(text, "first") == NULL); /* below the level */
	CHECK(strstr(text, "error: second 2") != NULL);
	free(text);
	/* bounded: the newest SAT_LOG_RECENT */
	for (i = 0; i < 3 * SAT_LOG_RECENT; i++)
		sat_warn("w%d", i);
	memset(&s, 0, sizeof(s));
	sat_log_recent(time(NULL) - 60, collect, &s);
	CHECK(s.n == SAT_LOG_RECENT);
	CHECK(strcmp(s.last, "w95") == 0);
	/* and only the recent ones */
	memset(&s, 0, sizeof(s));
	sat_log_recent(time(NULL) + 10, collect, &s);
	CHECK(s.n == 0);
	sat_log_setup(SAT_LOG_INFO, NULL, 0);
}

static void *other_thread(void *arg)
{
	char buf[64];

	sat_log_take_cause((char *)arg, 64);
	sat_log_cause("theirs");
	sat_log_take_cause(buf, sizeof(buf));
	return strcmp(buf, "theirs") == 0 ? arg : NULL;
}

SAT_TEST(causes_per_thread)
{
	char path[512], buf[64], other[64];
	pthread_t th;
	void *ret;
	size_t len;
	char *text;

	snprintf(path, sizeof(path), "%s/log", satest_tmpdir());
	CHECK(sat_log_setup(SAT_LOG_INFO, path, 0) == 0);
	sat_log_cause("tiles of %s: HTTP %d", "http://x/a.tif", 503);
	CHECK(pthread_create(&th, NULL, other_thread, other) == 0);
	pthread_join(th, &ret);
	CHECK(ret == other);
	CHECK(other[0] == '\0'); /* not this thread's cause */
	sat_log_take_cause(buf, sizeof(buf));
	CHECK(strcmp(buf, "tiles of http://x/a.tif: HTTP 503") == 0);
	sat_log_take_cause(buf, sizeof(buf));
	CHECK(buf[0] == '\0'); /* taken once */
	sat_log_setup(SAT_LOG_INFO, NULL, 0);
	/* a cause is no log line of its own (debug only) */
	text = satest_read_file(path, &len);
	CHECK(len == 0);
	free(text);
}

SAT_TEST(url_without_secrets)
{
	char buf[256];

	CHECK(strcmp(sat_log_url("https://u:p@h.example/a/b.tif?sig=1", buf,
				 sizeof(buf)),
		     "https://h.example/a/b.tif?...") == 0);
}
