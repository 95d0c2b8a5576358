/*
 * The fetch engine against the fixture server (tests/server), through the
 * public API only: what goes on the wire and in which order.
 *
 *  - The Range header, exactly: "bytes=OFF-LAST" with LAST = OFF + LEN - 1,
 *    none for a whole object (the server logs the header verbatim).
 *  - The per-host cap and the priorities, on two and three hosts at once:
 *    127.0.0.1, 127.0.0.2 and 127.0.0.3 are all loopback but different
 *    hosts to the engine and to curl. The server's hold_paths keeps chosen
 *    requests in flight for as long as a case needs, and /_stats counts
 *    the requests in progress on the server's side.
 *
 * Nothing here waits for a time to pass. A case that must show something
 * did NOT happen makes the engine prove it had the chance: it submits one
 * more foreground request, to an idle third host, after everything else;
 * when that request has completed, the engine has run a scheduling pass
 * with every earlier request in its queues, so whatever it was going to
 * start it has started (stats.in_flight counts those).
 */
#include "satest.h"

#include "satfs/fetch.h"
#include "satfs/log.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OBJ_SIZE 200000
#define MAX_SERVERS 3
#define WAIT_S 30 /* for something that must happen; only a failure waits */

struct fixture {
	pid_t pid;
	char base[64]; /* http://127.0.0.N:PORT */
};

static struct fixture servers[MAX_SERVERS];
static int nservers;
static struct sat_fetch *ctl; /* talks to /_control, /_stats, /_log */
static unsigned char obj[OBJ_SIZE];

static void stop_servers(void)
{
	sat_fetch_free(ctl);
	ctl = NULL;
	for (int i = 0; i < nservers; i++) {
		if (servers[i].pid > 0) {
			kill(servers[i].pid, SIGTERM);
			waitpid(servers[i].pid, NULL, 0);
			servers[i].pid = 0;
		}
	}
}

/* The catalog the servers serve: one object, cogs/obj.bin. */
static const char *catalog(void)
{
	static char dir[512];
	char path[600];
	FILE *f;

	if (dir[0])
		return dir;
	for (size_t i = 0; i < OBJ_SIZE; i++)
		obj[i] = (unsigned char)(i * 2654435761u >> 11);
	snprintf(dir, sizeof(dir), "%s/cat", satest_tmpdir());
	snprintf(path, sizeof(path), "%s/cogs", dir);
	CHECK(mkdir(dir, 0700) == 0 && mkdir(path, 0700) == 0);
	snprintf(path, sizeof(path), "%s/cogs/obj.bin", dir);
	f = fopen(path, "wb");
	CHECK(f != NULL);
	CHECK(fwrite(obj, 1, OBJ_SIZE, f) == OBJ_SIZE);
	CHECK(fclose(f) == 0);
	return dir;
}

static void need_python(void)
{
	satest_need_program("python3");
}

/* Starts a fixture server bound to host; returns it. */
static struct fixture *serve(const char *host)
{
	struct fixture *fx = &servers[nservers];
	char port_file[512], log[512], out[512];
	const char *cat = catalog();
	int port = 0;
	FILE *f;

	CHECK(nservers < MAX_SERVERS);
	if (nservers == 0) {
		need_python();
		atexit(stop_servers);
		CHECK_INT(sat_fetch_new(&ctl, NULL), 0);
	}
	snprintf(port_file, sizeof(port_file), "%s/port.%d", satest_tmpdir(),
		 nservers);
	snprintf(log, sizeof(log), "%s/requests.%d.log", satest_tmpdir(),
		 nservers);
	snprintf(out, sizeof(out), "%s/server.%d.out", satest_tmpdir(),
		 nservers);
	fx->pid = fork();
	CHECK(fx->pid >= 0);
	if (fx->pid == 0) {
		if (!freopen(out, "w", stdout) || !freopen(out, "a", stderr))
			_exit(126);
		execlp("python3", "python3",
		       satest_src("tests/server/fixture_server.py"),
		       "--catalog", cat, "--host", host, "--port", "0",
		       "--port-file", port_file, "--log", log,
		       "--exit-with-parent", (char *)NULL);
		_exit(127);
	}
	nservers++;
	for (int i = 0; i < 200 && !port; i++) {
		f = fopen(port_file, "r");
		if (f) {
			if (fscanf(f, "%d", &port) != 1)
				port = 0;
			fclose(f);
		}
		if (!port)
			usleep(50000);
	}
	CHECK(port > 0);
	snprintf(fx->base, sizeof(fx->base), "http://%s:%d", host, port);
	return fx;
}

/* URL of target on fx, in one of 8 rotating buffers. */
static const char *at(const struct fixture *fx, const char *target)
{
	static char bufs[8][256];
	static int k;
	char *b = bufs[k++ % 8];

	snprintf(b, 256, "%s%s", fx->base, target);
	return b;
}

/* A control request; returns the body (malloc'd). */
static char *control(const struct fixture *fx, const char *method,
		     const char *path, const char *json)
{
	static const char *const hdrs[] = { "Content-Type: application/json",
					    NULL };
	struct sat_fetch_req r = { .url = at(fx, path), .method = method };
	struct sat_fetch_result res;
	char *body;

	if (json) {
		r.body = json;
		r.body_len = strlen(json);
		r.headers = hdrs;
	}
	CHECK_INT(sat_fetch_sync(ctl, &r, &res), 0);
	CHECK_INT(res.status, 200);
	body = res.data;
	res.data = NULL;
	sat_fetch_result_clear(&res);
	return body;
}

static void hold(const struct fixture *fx, const char *paths_json)
{
	char json[256];

	snprintf(json, sizeof(json), "{\"hold_paths\": %s}", paths_json);
	free(control(fx, "POST", "/_control", json));
}

static long stat_of(const char *json, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\": ", key);
	p = strstr(json, k);
	CHECK(p != NULL);
	return strtol(p + strlen(k), NULL, 10);
}

/* The server's count of key ("active", "max_active", "held"). */
static long server_stat(const struct fixture *fx, const char *key)
{
	char *s = control(fx, "GET", "/_stats", NULL);
	long v = stat_of(s, key);

	free(s);
	return v;
}

/* Waits until n requests are held on fx (they are in flight: the engine
 * started them). */
static void wait_held(const struct fixture *fx, long n)
{
	time_t end = time(NULL) + WAIT_S;

	while (server_stat(fx, "held") < n && time(NULL) < end)
		usleep(10000);
	CHECK_INT(server_stat(fx, "held"), n);
}

/* ---- completions, in order ---- */

#define MAX_JOBS 64

struct order {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int ids[MAX_JOBS], errs[MAX_JOBS];
	size_t lens[MAX_JOBS];
	bool done[MAX_JOBS];
	int n; /* protected by lock */
};

static struct order order = { .lock = PTHREAD_MUTEX_INITIALIZER,
			      .cond = PTHREAD_COND_INITIALIZER };
static int ids[MAX_JOBS];

static void on_done(struct sat_fetch_result *res, void *payload)
{
	int id = *(int *)payload;

	pthread_mutex_lock(&order.lock);
	order.ids[order.n] = id;
	order.errs[order.n] = res->err;
	order.lens[order.n] = res->len;
	order.done[id] = true;
	order.n++;
	pthread_cond_broadcast(&order.cond);
	pthread_mutex_unlock(&order.lock);
	sat_fetch_result_clear(res);
}

static void submit(struct sat_fetch *f, int id, const char *url,
		   enum sat_fetch_priority prio)
{
	struct sat_fetch_req r = { .url = url, .priority = prio,
				   .range_offset = (uint64_t)id * 10,
				   .range_length = 10 };

	CHECK(id < MAX_JOBS);
	ids[id] = id;
	CHECK_INT(sat_fetch_submit(f, &r, on_done, &ids[id]), 0);
}

/* Waits until job id completed (at most WAIT_S); true if it did. */
static bool wait_done(int id)
{
	struct timespec ts;
	bool done;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += WAIT_S;
	pthread_mutex_lock(&order.lock);
	while (!order.done[id] &&
	       pthread_cond_timedwait(&order.cond, &order.lock, &ts) == 0)
		;
	done = order.done[id];
	pthread_mutex_unlock(&order.lock);
	return done;
}

static bool is_done(int id)
{
	bool done;

	pthread_mutex_lock(&order.lock);
	done = order.done[id];
	pthread_mutex_unlock(&order.lock);
	return done;
}

static int completed(void)
{
	int n;

	pthread_mutex_lock(&order.lock);
	n = order.n;
	pthread_mutex_unlock(&order.lock);
	return n;
}

/* Position of job id in the completion order, or -1. */
static int rank(int id)
{
	int r = -1;

	pthread_mutex_lock(&order.lock);
	for (int i = 0; i < order.n; i++)
		if (order.ids[i] == id)
			r = i;
	pthread_mutex_unlock(&order.lock);
	return r;
}

static void check_all_ok(int n)
{
	for (int i = 0; i < n; i++)
		CHECK(wait_done(i));
	CHECK_INT(completed(), n);
	for (int i = 0; i < n; i++) {
		CHECK_INT(order.errs[i], 0);
		CHECK_INT(order.lens[i], 10);
	}
}

/* A foreground request to the idle host sync, which completes only after
 * the engine has considered every request submitted before it. */
static void settle(struct sat_fetch *f, const struct fixture *sync, int id)
{
	submit(f, id, at(sync, "/cogs/obj.bin?sync"), SAT_FETCH_FOREGROUND);
	CHECK(wait_done(id));
}

static uint32_t in_flight(struct sat_fetch *f)
{
	struct sat_fetch_stats st;

	sat_fetch_get_stats(f, &st);
	return st.in_flight;
}

static struct sat_fetch *engine(int cap)
{
	struct sat_fetch_opts o = { .connections_per_host = cap,
				    .max_tries = 1,
				    .verify_tls = true };
	struct sat_fetch *f;

	CHECK_INT(sat_fetch_new(&f, &o), 0);
	return f;
}

/* ---- Cases ---- */

/* The Range header of the line of the server log whose query is q. */
static void logged_range(const char *log, const char *q, char *out,
			 size_t len)
{
	char key[64];
	const char *line, *r, *e;

	snprintf(key, sizeof(key), "\"query\": \"%s\"", q);
	line = strstr(log, key);
	CHECK(line != NULL);
	CHECK(strstr(line + 1, key) == NULL); /* one request, no retry */
	r = strstr(line, "\"range\": ");
	CHECK(r != NULL);
	r += strlen("\"range\": ");
	if (*r == '"') {
		e = strchr(r + 1, '"');
		CHECK(e != NULL);
		snprintf(out, len, "%.*s", (int)(e - r - 1), r + 1);
	} else {
		snprintf(out, len, "%.*s", (int)strcspn(r, ",}"), r);
	}
}

SAT_TEST(range_header_text)
{
	static const struct {
		uint64_t off, len;
		const char *header;
		int err;
		size_t got;
	} cases[] = {
		{ 0, 1, "bytes=0-0", 0, 1 },
		{ 100, 50, "bytes=100-149", 0, 50 },
		{ 16383, 16384, "bytes=16383-32766", 0, 16384 },
		{ OBJ_SIZE - 1, 1, "bytes=199999-199999", 0, 1 },
		/* past the end: the server answers what there is */
		{ OBJ_SIZE - 10, 100, "bytes=199990-200089", 0, 10 },
		/* over 32 bits, past the end: 416 */
		{ 5000000000ull, 100, "bytes=5000000000-5000000099", -EINVAL,
		  0 },
		/* the whole object: no Range at all */
		{ 0, 0, "null", 0, OBJ_SIZE },
	};
	struct fixture *fx;
	struct sat_fetch *f;
	char *log, q[32], got[64];

	fx = serve("127.0.0.1");
	f = engine(4);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sat_fetch_req r = { .range_offset = cases[i].off,
					   .range_length = cases[i].len };
		struct sat_fetch_result res;

		snprintf(q, sizeof(q), "/cogs/obj.bin?case=%zu", i);
		r.url = at(fx, q);
		CHECK_INT(sat_fetch_sync(f, &r, &res), cases[i].err);
		if (!cases[i].err) {
			CHECK_INT(res.len, cases[i].got);
			CHECK(memcmp(res.data, obj + cases[i].off,
				     cases[i].got) == 0);
			CHECK_INT(res.object_size, OBJ_SIZE);
		}
		sat_fetch_result_clear(&res);
	}
	log = control(fx, "GET", "/_log", NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(q, sizeof(q), "case=%zu", i);
		logged_range(log, q, got, sizeof(got));
		CHECK_STR(got, cases[i].header);
	}
	free(log);
	sat_fetch_free(f);
}

/* The requests logged as held on fx are exactly those with query
 * hold&NAME=0 .. NAME=n-1. */
static void held_were_first(const struct fixture *fx, const char *name,
			    int n)
{
	char *log = control(fx, "GET", "/_log", NULL), *line, *save = NULL;
	char want[64];
	int held = 0;

	for (line = strtok_r(log, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!strstr(line, "\"held\": true"))
			continue;
		held++;
		int ok = 0;

		for (int i = 0; i < n; i++) {
			snprintf(want, sizeof(want),
				 "\"query\": \"hold&%s=%d\"", name, i);
			ok |= strstr(line, want) != NULL;
		}
		CHECK(ok);
	}
	CHECK_INT(held, n);
	free(log);
}

/* Both hosts saturated: the engine hands curl exactly cap requests per
 * host, never one more for curl to queue, and each server sees at most
 * cap at once. */
SAT_TEST(per_host_cap_two_hosts)
{
	const int cap = 3, per_host = 12;
	struct fixture *a, *b, *sync;
	struct sat_fetch *f;
	char target[64];
	int id = 0;

	a = serve("127.0.0.1");
	b = serve("127.0.0.2");
	sync = serve("127.0.0.3");
	hold(a, "[\"hold\"]");
	hold(b, "[\"hold\"]");
	f = engine(cap);
	for (int i = 0; i < per_host; i++) {
		snprintf(target, sizeof(target), "/cogs/obj.bin?hold&a=%d", i);
		submit(f, id++, at(a, target), SAT_FETCH_FOREGROUND);
		snprintf(target, sizeof(target), "/cogs/obj.bin?hold&b=%d", i);
		submit(f, id++, at(b, target), SAT_FETCH_FOREGROUND);
	}
	settle(f, sync, id++);
	wait_held(a, cap);
	wait_held(b, cap);
	CHECK_INT(in_flight(f), 2 * cap);
	CHECK_INT(completed(), 1); /* the sync request only */
	hold(a, "[]");
	hold(b, "[]");
	check_all_ok(id);
	CHECK_INT(in_flight(f), 0);
	CHECK_INT(server_stat(a, "max_active"), cap);
	CHECK_INT(server_stat(b, "max_active"), cap);
	/* first in, first out: the ones held were the first submitted */
	held_were_first(a, "a", cap);
	held_were_first(b, "b", cap);
	sat_fetch_free(f);
}

/* One connection, busy with a foreground request, and prefetch queued
 * behind it: a foreground request submitted after the prefetch goes
 * next. Had the engine handed curl one request over the cap, a prefetch
 * would be waiting inside curl for that connection, and the foreground
 * request would be stuck behind it. */
SAT_TEST(foreground_not_stuck_behind_prefetch)
{
	struct fixture *a, *sync;
	struct sat_fetch *f;
	char target[64];

	a = serve("127.0.0.1");
	sync = serve("127.0.0.2");
	hold(a, "[\"hold=\"]");
	f = engine(1);
	submit(f, 0, at(a, "/cogs/obj.bin?hold=fg"), SAT_FETCH_FOREGROUND);
	wait_held(a, 1);
	for (int i = 1; i <= 4; i++) {
		snprintf(target, sizeof(target), "/cogs/obj.bin?hold=p%d", i);
		submit(f, i, at(a, target), SAT_FETCH_PREFETCH);
	}
	submit(f, 5, at(a, "/cogs/obj.bin?late-foreground"),
	       SAT_FETCH_FOREGROUND);
	settle(f, sync, 6);
	CHECK_INT(in_flight(f), 1);
	/* release the first request only; the prefetch stay held */
	hold(a, "[\"hold=p\"]");
	CHECK(wait_done(5));
	CHECK_INT(rank(0), 1);
	CHECK_INT(rank(5), 2);
	for (int i = 1; i <= 4; i++)
		CHECK(!is_done(i));
	/* now the prefetch go, one at a time, in order */
	wait_held(a, 1);
	CHECK_INT(in_flight(f), 1);
	hold(a, "[]");
	check_all_ok(7);
	for (int i = 1; i <= 4; i++)
		CHECK_INT(rank(i), 2 + i);
	CHECK_INT(server_stat(a, "max_active"), 1);
	sat_fetch_free(f);
}

/* A foreground request waits for host A: no prefetch starts anywhere,
 * not even on host B, which is idle. */
SAT_TEST(no_prefetch_while_foreground_waits_two_hosts)
{
	struct fixture *a, *b, *sync;
	struct sat_fetch *f;

	a = serve("127.0.0.1");
	b = serve("127.0.0.2");
	sync = serve("127.0.0.3");
	hold(a, "[\"hold\"]");
	f = engine(1);
	submit(f, 0, at(a, "/cogs/obj.bin?hold"), SAT_FETCH_FOREGROUND);
	wait_held(a, 1);
	submit(f, 1, at(a, "/cogs/obj.bin?waiting"), SAT_FETCH_FOREGROUND);
	submit(f, 2, at(b, "/cogs/obj.bin?prefetch"), SAT_FETCH_PREFETCH);
	submit(f, 3, at(b, "/cogs/obj.bin?prefetch2"), SAT_FETCH_PREFETCH);
	settle(f, sync, 4);
	CHECK_INT(in_flight(f), 1); /* the held request only */
	CHECK(!is_done(2) && !is_done(3));
	CHECK_INT(server_stat(b, "max_active"), 0);
	hold(a, "[]");
	check_all_ok(5);
	/* the prefetch could start only once the foreground one had */
	CHECK(rank(2) > rank(0) && rank(3) > rank(0));
	sat_fetch_free(f);
}

/* Many prefetch queued on host A (one in flight, held): foreground
 * requests to host B, and to A's free slot, complete before any of them. */
SAT_TEST(foreground_overtakes_prefetch_queue_two_hosts)
{
	const int nprefetch = 20;
	struct fixture *a, *b;
	struct sat_fetch *f;
	char target[64];

	a = serve("127.0.0.1");
	b = serve("127.0.0.2");
	hold(a, "[\"prefetch\"]");
	f = engine(2); /* prefetch may take half: one slot */
	for (int i = 0; i < nprefetch; i++) {
		snprintf(target, sizeof(target), "/cogs/obj.bin?prefetch=%d",
			 i);
		submit(f, i, at(a, target), SAT_FETCH_PREFETCH);
	}
	wait_held(a, 1);
	submit(f, nprefetch, at(b, "/cogs/obj.bin?fg-b"),
	       SAT_FETCH_FOREGROUND);
	CHECK(wait_done(nprefetch));
	submit(f, nprefetch + 1, at(a, "/cogs/obj.bin?fg-a"),
	       SAT_FETCH_FOREGROUND);
	CHECK(wait_done(nprefetch + 1));
	CHECK_INT(rank(nprefetch), 0);
	CHECK_INT(rank(nprefetch + 1), 1);
	CHECK_INT(in_flight(f), 1);
	CHECK_INT(server_stat(a, "held"), 1);
	hold(a, "[]");
	check_all_ok(nprefetch + 2);
	for (int i = 0; i < nprefetch; i++)
		CHECK_INT(rank(i), 2 + i);
	CHECK_INT(server_stat(a, "max_active"), 2);
	sat_fetch_free(f);
}
