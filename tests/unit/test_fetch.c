/*
 * Tests for the fetch module against a scripted HTTP/1.1 server that runs
 * in this process (a listening socket on 127.0.0.1:0, one thread per
 * connection, keep-alive) and counts connections and hits per path.
 */
#include "satest.h"

#include "../../fs/fetch_private.h"
#include "satfs/bufpool.h"
#include "satfs/fetch.h"
#include "satfs/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- The scripted server ---- */

#define SRV_MAX_CONN 256
#define SRV_MAX_PATHS 32
#define OBJ_SIZE 1000

static struct {
	int lfd, port;
	int stop_pipe[2];
	int gate_pipe[2]; /* /gate answers once this is readable */
	pthread_t acceptor;
	pthread_mutex_t lock;
	pthread_t conns[SRV_MAX_CONN]; /* protected by lock */
	int nconns;                    /* protected by lock */
	struct {
		char path[64];
		int hits;
	} paths[SRV_MAX_PATHS]; /* protected by lock */
	int npaths;             /* protected by lock */
	int coded_ranges; /* range requests offering gzip; protected by lock */
} srv = { .lock = PTHREAD_MUTEX_INITIALIZER };

static char obj[OBJ_SIZE];

/* gzip of "hello gzip world, hello gzip world" (34 bytes). */
static const char gz[] =
	"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\xcb\x48\xcd\xc9\xc9\x57"
	"\x48\xaf\xca\x2c\x50\x28\xcf\x2f\xca\x49\xd1\x51\xc8\x40\x13\x01"
	"\x00\xa0\x7d\xcc\x30\x22\x00\x00\x00";

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int srv_hit(const char *path)
{
	int i, n;

	pthread_mutex_lock(&srv.lock);
	for (i = 0; i < srv.npaths; i++)
		if (strcmp(srv.paths[i].path, path) == 0)
			break;
	if (i == srv.npaths && i < SRV_MAX_PATHS) {
		snprintf(srv.paths[i].path, sizeof(srv.paths[i].path), "%.*s",
			 (int)sizeof(srv.paths[i].path) - 1, path);
		srv.npaths++;
	}
	n = i < SRV_MAX_PATHS ? ++srv.paths[i].hits : 0;
	pthread_mutex_unlock(&srv.lock);
	return n;
}

static int srv_hits(const char *path)
{
	int i, n = 0;

	pthread_mutex_lock(&srv.lock);
	for (i = 0; i < srv.npaths; i++)
		if (strcmp(srv.paths[i].path, path) == 0)
			n = srv.paths[i].hits;
	pthread_mutex_unlock(&srv.lock);
	return n;
}

static int srv_connections(void)
{
	int n;

	pthread_mutex_lock(&srv.lock);
	n = srv.nconns;
	pthread_mutex_unlock(&srv.lock);
	return n;
}

/* Waits up to ms for fd to be readable. Returns 1, or 0 on stop/timeout. */
static int srv_wait(int fd, int ms)
{
	struct pollfd p[2] = { { .fd = srv.stop_pipe[0], .events = POLLIN },
			       { .fd = fd, .events = POLLIN } };

	if (poll(p, fd >= 0 ? 2 : 1, ms) <= 0 || p[0].revents)
		return 0;
	return 1;
}

static void srv_send(int fd, const void *p, size_t n)
{
	const char *c = p;
	ssize_t w;

	while (n > 0) {
		w = send(fd, c, n, MSG_NOSIGNAL);
		if (w <= 0)
			return;
		c += w;
		n -= (size_t)w;
	}
}

static void respond(int fd, int status, const char *extra, const void *body,
		    size_t len)
{
	char head[1024];
	int n;

	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n", status,
		     len, extra ? extra : "");
	srv_send(fd, head, (size_t)n);
	srv_send(fd, body, len);
}

/* Value of header name in the header block hdrs, or NULL. */
static const char *hdr(const char *hdrs, const char *name, char *out,
		       size_t len)
{
	size_t nl = strlen(name);
	const char *p, *e;

	for (p = strstr(hdrs, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
		if (strncasecmp(p + 2, name, nl) || p[2 + nl] != ':')
			continue;
		p += 3 + nl;
		while (*p == ' ')
			p++;
		e = strstr(p, "\r\n");
		snprintf(out, len, "%.*s", (int)(e ? e - p : (long)strlen(p)),
			 p);
		return out;
	}
	return NULL;
}

/* Answers one request. Returns 0 to keep the connection, -1 to close. */
static int serve(int fd, const char *path, const char *hdrs,
		 const char *body, size_t body_len)
{
	char v[256], extra[256];
	long a = -1, b = -1;
	int hit = srv_hit(path);
	char *big;

	if (hdr(hdrs, "Range", v, sizeof(v)) &&
	    sscanf(v, "bytes=%ld-%ld", &a, &b) == 2 && b >= OBJ_SIZE)
		b = OBJ_SIZE - 1;
	if (a >= 0 && hdr(hdrs, "Accept-Encoding", v, sizeof(v))) {
		pthread_mutex_lock(&srv.lock);
		srv.coded_ranges++;
		pthread_mutex_unlock(&srv.lock);
	}
	if (!strcmp(path, "/ok")) {
		respond(fd, 200, "ETag: \"abc123\"\r\n", "hello world", 11);
	} else if (!strcmp(path, "/range") || !strcmp(path, "/badrange") ||
		   (!strcmp(path, "/shortrange"))) {
		if (a < 0) {
			respond(fd, 200, NULL, obj, OBJ_SIZE);
			return 0;
		}
		if (a >= OBJ_SIZE) {
			respond(fd, 416, "Content-Range: bytes */1000\r\n", "",
				0);
			return 0;
		}
		if (!strcmp(path, "/shortrange") && hit == 1 && b - a > 10)
			b = a + 9; /* a valid 206, but less than asked */
		snprintf(extra, sizeof(extra),
			 "Content-Range: bytes %ld-%ld/%d\r\n",
			 a + !strcmp(path, "/badrange"), b, OBJ_SIZE);
		respond(fd, 206, extra, obj + a, (size_t)(b - a + 1));
	} else if (!strcmp(path, "/range200")) {
		respond(fd, 200, NULL, obj, OBJ_SIZE);
	} else if (!strcmp(path, "/flaky")) {
		if (hit <= 2)
			respond(fd, 503, NULL, "busy", 4);
		else
			respond(fd, 200, NULL, "finally", 7);
	} else if (!strcmp(path, "/429")) {
		if (hit == 1)
			respond(fd, 429, "Retry-After: 1\r\n", "slow down", 9);
		else
			respond(fd, 200, NULL, "ok after wait", 13);
	} else if (!strcmp(path, "/truncate")) {
		if (hit > 1) {
			respond(fd, 200, NULL, obj, 100);
			return 0;
		}
		srv_send(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
			 40);
		srv_send(fd, obj, 50);
		return -1;
	} else if (!strcmp(path, "/redirect-file")) {
		respond(fd, 302, "Location: file:///etc/passwd\r\n", "moved",
			5);
	} else if (!strcmp(path, "/redirect-ok")) {
		respond(fd, 302, "Location: /ok\r\n", "moved", 5);
	} else if (!strcmp(path, "/big")) {
		big = calloc(1, 1 << 20);
		respond(fd, 200, NULL, big, 1 << 20);
		free(big);
		return -1;
	} else if (!strcmp(path, "/stall")) {
		srv_wait(-1, -1); /* never answers; returns at server stop */
		return -1;
	} else if (!strcmp(path, "/drip")) {
		/* the head at once, then a byte every 50 ms: never stalled,
		 * never useful (20 bytes/s) */
		static const char head[] =
			"HTTP/1.1 200 X\r\nContent-Length: 100000\r\n\r\n";
		srv_send(fd, head, sizeof(head) - 1);
		for (int i = 0; i < 100000; i++) {
			if (srv_wait(-1, 50))
				return -1;
			if (send(fd, "x", 1, MSG_NOSIGNAL) != 1)
				return -1;
		}
		return -1;
	} else if (!strcmp(path, "/gate")) {
		if (!srv_wait(srv.gate_pipe[0], -1))
			return -1;
		respond(fd, 200, NULL, "gate", 4);
	} else if (!strcmp(path, "/slow")) {
		srv_wait(-1, 200);
		respond(fd, 200, NULL, "slow", 4);
	} else if (!strncmp(path, "/status/", 8)) {
		respond(fd, atoi(path + 8), NULL, "status", 6);
	} else if (!strcmp(path, "/gzip")) {
		if (hdr(hdrs, "Accept-Encoding", v, sizeof(v)) &&
		    strstr(v, "gzip"))
			respond(fd, 200, "Content-Encoding: gzip\r\n", gz,
				sizeof(gz) - 1);
		else
			respond(fd, 200, NULL, "plain", 5);
	} else if (!strcmp(path, "/echo")) {
		respond(fd, 200, NULL, body, body_len);
	} else if (!strcmp(path, "/headers")) {
		/* the request's header block, for checking what was sent */
		respond(fd, 200, NULL, hdrs, strlen(hdrs));
	} else {
		respond(fd, 404, NULL, "not found", 9);
	}
	return 0;
}

static void *conn_main(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[65536], method[16], target[512], path[512], v[64];
	size_t have = 0, need;
	char *end, *q;
	ssize_t n;

	for (;;) {
		while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
			if (have >= sizeof(buf) - 1 || !srv_wait(fd, -1))
				goto out;
			n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);
			if (n <= 0)
				goto out;
			have += (size_t)n;
		}
		end[2] = '\0'; /* header block ends with its last CRLF */
		need = (size_t)(end + 4 - buf);
		if (hdr(buf, "Content-Length", v, sizeof(v)))
			need += strtoul(v, NULL, 10);
		while (have < need) {
			if (need >= sizeof(buf) || !srv_wait(fd, -1))
				goto out;
			n = recv(fd, buf + have, sizeof(buf) - have, 0);
			if (n <= 0)
				goto out;
			have += (size_t)n;
		}
		if (sscanf(buf, "%15s %511s", method, target) != 2)
			goto out;
		snprintf(path, sizeof(path), "%s", target);
		q = strchr(path, '?');
		if (q)
			*q = '\0';
		if (serve(fd, path, buf, end + 4, buf + need - (end + 4)))
			goto out;
		memmove(buf, buf + need, have - need);
		have -= need;
	}
out:
	close(fd);
	return NULL;
}

static void *accept_main(void *arg)
{
	pthread_t t;
	int fd, one = 1;

	while (srv_wait(srv.lfd, -1)) {
		fd = accept(srv.lfd, NULL, NULL);
		if (fd < 0)
			continue;
		/* Headers and body go in two sends: no Nagle delay. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		pthread_mutex_lock(&srv.lock);
		if (srv.nconns == SRV_MAX_CONN ||
		    pthread_create(&t, NULL, conn_main, (void *)(intptr_t)fd)) {
			close(fd);
		} else {
			srv.conns[srv.nconns++] = t;
		}
		pthread_mutex_unlock(&srv.lock);
	}
	return NULL;
}

static void srv_start(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int i;

	for (i = 0; i < OBJ_SIZE; i++)
		obj[i] = (char)('A' + (i * 7) % 26);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	srv.lfd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(srv.lfd >= 0);
	CHECK(bind(srv.lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(listen(srv.lfd, 128) == 0);
	CHECK(getsockname(srv.lfd, (struct sockaddr *)&sa, &sl) == 0);
	srv.port = ntohs(sa.sin_port);
	CHECK(pipe(srv.stop_pipe) == 0);
	CHECK(pipe(srv.gate_pipe) == 0);
	CHECK(pthread_create(&srv.acceptor, NULL, accept_main, NULL) == 0);
}

static void srv_stop(void)
{
	int i;

	CHECK(write(srv.stop_pipe[1], "x", 1) == 1);
	pthread_join(srv.acceptor, NULL);
	for (i = 0; i < srv.nconns; i++)
		pthread_join(srv.conns[i], NULL);
	close(srv.lfd);
	close(srv.stop_pipe[0]);
	close(srv.stop_pipe[1]);
	close(srv.gate_pipe[0]);
	close(srv.gate_pipe[1]);
}

/* URL of path on the test server, in one of 4 rotating buffers. */
static const char *url(const char *path)
{
	static char bufs[4][256];
	static int k;
	char *b = bufs[k++ % 4];

	snprintf(b, 256, "http://127.0.0.1:%d%s", srv.port, path);
	return b;
}

/* Options for tests: quick retries so that the suite stays fast. */
static struct sat_fetch *fetch_start(int conns, int tries)
{
	struct sat_fetch_opts o = { .connections_per_host = conns,
				    .max_tries = tries,
				    .backoff_base_ms = 10,
				    .backoff_max_ms = 5000,
				    .verify_tls = true };
	struct sat_fetch *f = NULL;

	CHECK_INT(sat_fetch_new(&f, &o), 0);
	CHECK(f != NULL);
	return f;
}

static int get(struct sat_fetch *f, const char *path, uint64_t off,
	       uint64_t len, struct sat_fetch_result *res)
{
	struct sat_fetch_req r = { .url = url(path),
				   .range_offset = off,
				   .range_length = len };

	return sat_fetch_sync(f, &r, res);
}

/* ---- Cases ---- */

SAT_TEST(get_ok)
{
	struct sat_fetch_result res;
	struct sat_fetch_stats st;
	struct sat_fetch *f;
	int i;

	srv_start();
	f = fetch_start(4, 3);
	CHECK_INT(get(f, "/ok", 0, 0, &res), 0);
	CHECK_INT(res.status, 200);
	CHECK_STR(res.data, "hello world");
	CHECK_INT(res.len, 11);
	CHECK_STR(res.etag, "\"abc123\"");
	CHECK_INT(res.object_size, 11);
	CHECK_INT(res.tries, 1);
	sat_fetch_result_clear(&res);
	CHECK(res.data == NULL);
	/* Sequential requests reuse the one kept-alive connection. */
	for (i = 0; i < 9; i++) {
		CHECK_INT(get(f, "/ok", 0, 0, &res), 0);
		sat_fetch_result_clear(&res);
	}
	CHECK_INT(srv_hits("/ok"), 10);
	CHECK_INT(srv_connections(), 1);
	sat_fetch_get_stats(f, &st);
	CHECK_INT(st.requests, 10);
	CHECK_INT(st.bytes, 110);
	CHECK_INT(st.failures, 0);
	CHECK_INT(st.in_flight, 0);
	/* gzip is offered and decoded for whole-object requests. */
	CHECK_INT(get(f, "/gzip", 0, 0, &res), 0);
	CHECK_STR(res.data, "hello gzip world, hello gzip world");
	CHECK_INT(res.object_size, 34);
	sat_fetch_result_clear(&res);
	sat_fetch_free(f);
	srv_stop();
}

SAT_TEST(range_206)
{
	struct sat_fetch_result res;
	struct sat_fetch *f;

	srv_start();
	f = fetch_start(4, 3);
	CHECK_INT(get(f, "/range", 100, 50, &res), 0);
	CHECK_INT(res.status, 206);
	CHECK_INT(res.len, 50);
	CHECK(memcmp(res.data, obj + 100, 50) == 0);
	CHECK_INT(res.data[50], 0);
	CHECK_INT(res.object_size, OBJ_SIZE);
	sat_fetch_result_clear(&res);
	/* A range running past the end is answered with what exists. */
	CHECK_INT(get(f, "/range", 990, 100, &res), 0);
	CHECK_INT(res.len, 10);
	CHECK(memcmp(res.data, obj + 990, 10) == 0);
	sat_fetch_result_clear(&res);
	/* Range requests never offer a content coding. */
	pthread_mutex_lock(&srv.lock);
	CHECK_INT(srv.coded_ranges, 0);
	pthread_mutex_unlock(&srv.lock);
	/* Beyond the end: 416. */
	CHECK_INT(get(f, "/range", 5000, 10, &res), -EINVAL);
	CHECK_INT(res.status, 416);
	CHECK_INT(res.tries, 1);
	sat_fetch_result_clear(&res);
	sat_fetch_free(f);
	srv_stop();
}

SAT_TEST(range_200_sliced)
{
	struct sat_fetch_result res;
	struct sat_fetch *f;

	srv_start();
	f = fetch_start(4, 3);
	CHECK_INT(get(f, "/range200", 500, 100, &res), 0);
	CHECK_INT(res.status, 200);
	CHECK_INT(res.len, 100);
	CHECK(memcmp(res.data, obj + 500, 100) == 0);
	CHECK_INT(res.object_size, OBJ_SIZE);
	CHECK_INT(res.tries, 1);
	sat_fetch_result_clear(&res);
	CHECK_INT(get(f, "/range200", 0, 7, &res), 0);
	CHECK_INT(res.len, 7);
	CHECK(memcmp(res.data, obj, 7) == 0);
	sat_fetch_result_clear(&res);
	CHECK_INT(get(f, "/range200", 950, 100, &res), 0);
	CHECK_INT(res.len, 50);
	CHECK(memcmp(res.data, obj + 950, 50) == 0);
	sat_fetch_result_clear(&res);
	CHECK_INT(get(f, "/range200", 2000, 100, &res), -EINVAL);
	sat_fetch_result_clear(&res);
	sat_fetch_free(f);
	srv_stop();
}

static int get_packed(struct sat_fetch *f, const char *path, uint64_t off,
		      uint64_t len, struct sat_fetch_result *res)
{
	struct sat_fetch_req r = { .url = url(path),
				   .range_offset = off,
				   .range_length = len,
				   .flags = SAT_FETCH_BODY_PACKED };

	return sat_fetch_sync(f, &r, res);
}

/* Bodies asked for packed land in a packed slab (kept, all free, once
 * they are cleared), whether the server answered the range or the whole
 * object; an error page longer than the range leaves the packed buffer
 * for a plain one. */
SAT_TEST(range_bodies_packed)
{
	struct sat_fetch_result res;
	struct sat_fetch *f;

	srv_start();
	f = fetch_start(4, 3);
	sat_buf_trim();
	CHECK_INT(get_packed(f, "/range", 100, 50, &res), 0);
	CHECK_INT(res.len, 50);
	CHECK(memcmp(res.data, obj + 100, 50) == 0);
	CHECK_INT(res.data[50], 0);
	sat_fetch_result_clear(&res);
	CHECK_INT(sat_buf_pooled_bytes(), SAT_BUFPOOL_HUGE);
	CHECK_INT(get_packed(f, "/range200", 500, 100, &res), 0);
	CHECK_INT(res.len, 100);
	CHECK(memcmp(res.data, obj + 500, 100) == 0);
	sat_fetch_result_clear(&res);
	CHECK_INT(get_packed(f, "/status/404", 0, 2, &res), -ENOENT);
	CHECK_STR(res.data, "status");
	sat_fetch_result_clear(&res);
	sat_fetch_free(f);
	sat_buf_trim();
	CHECK_INT(sat_buf_pooled_bytes(), 0);
	srv_stop();
}

SAT_TEST(range_wrong_content_range)
{
	struct sat_fetch_result res;
	struct sat_fetch *f;

	srv_start();
	f = fetch_start(4, 3);
	CHECK_INT(get(f, "/badrange", 100, 50, &res), -EPROTO);
	CHECK(res.data == NULL);
	CHECK_INT(res.tries, 3);
	CHECK_INT(srv_hits("/badrange"), 3);
	sat_fetch_result_clear(&res);
	sat_fetch_free(f);
	srv_stop();
}

SAT_TEST(range_short_retried)
{
	struct sat_fetch_result res;
	struct sat_fetch *f;

	srv_start();
	f = fetch_start(4, 3);
	CHECK_INT(get(f, "/shortrange", 200, 100, &res), 0);
	CHECK_INT(res.tries, 2);
	CHECK_INT(res.len, 100);
	CHECK(memcmp(res.data, obj + 200, 100) == 0);
	CHECK_INT(srv_hits("/shortrange"), 2);
	sat_fetch_result_clear(&res);
	sat_fetch_free(f);
	srv_stop();
}

SAT_TEST(retry_503)
{
	struct sat_fetch_result res;
	struct sat_fetch_stats st;
	struct sat_fetch *f;

	srv_start();
	f = fetch_start(4, 5);
	CHECK_INT(get(f, "/flaky", 0, 0, &res), 0);
	CHECK_INT(res.tries, 3);
	CHECK_INT(res.status, 200);
	CHECK_STR(res.data, "finally");
	CHECK_INT(srv_hits("/flaky"), 3);
	sat_fetch_get_stats(f, &st);
	CHECK_INT(st.requests, 3);
	CHECK_INT(st.retries, 2);
	CHECK_INT(st.failures, 0);
	sat_fetch_result_clear(&res);
	sat_fetch_free(f);
	srv_stop();
}

SAT_TEST(retry_503_exhausted)
{
	struct sat_fetch_result res;
	struct sat_fetch_stats st;
	struct sat_fetch *f;

	srv_start();
	f = fetch_start(4, 2);
	CHECK_INT(get(f, "/flaky", 0, 0, &res), -EIO);
	CHECK_INT(res.tries, 2);
	CHECK_INT(res.status, 503);
	CHECK_STR(res.data, "busy"); /* the error page, for diagnostics */
	sat_fetch_get_stats(f, &st);
	CHECK_INT(st.failures, 1);
	sat_fetch_result_clear(&res);
	sat_fetch_free(f);
	srv_stop();
}

SAT_TEST(retry_after_429)
{
	struct sat_fetch_result res;
	struct sat_fetch *f;
	uint64_t t0, dt;

	srv_start();
	f = fetch_start(4, 3);
	t0 = ms_now();
	CHECK_INT(get(f, "/429", 0, 0, &res), 0);
	dt = ms_now() - t0;
	CHECK(dt >= 900); /* Retry-After: 1, not the 10 ms backoff */
	CHECK(dt < 5000);
	CHECK_INT(res.tries, 2);
	CHECK_STR(res.data, "ok after wait");
	sat_fetch_result_clear(&res);
	sat_fetch_free(f);
	srv_stop();
}

SAT_TEST(truncated_retried)
{
	struct sat_fetch_result res;
	struct sat_fetch *f;

	srv_start();
	f = fetch_start(4, 3);
	CHECK_INT(get(f, "/truncate", 0, 0, &res), 0);
	CHECK_INT(res.tries, 2);
	CHECK_INT(res.len, 100);
	CHECK(memcmp(res.data, obj, 100) == 0);
	CHECK_INT(srv_hits("/truncate"), 2);
	sat_fetch_result_clear(&res);
	sat_fetch_free(f);
	srv_stop();
}

SAT_TEST(redirect_to_file_refused)
{
	struct sat_fetch_result res;
	struct sat_fetch *f;

	srv_start();
	f = fetch_start(4, 3);
	CHECK_INT(get(f, "/redirect-file", 0, 0, &res), -EPROTO);
	CHECK(res.data == NULL || !strstr(res.data, "root:"));
	CHECK_INT(res.tries, 1);
	CHECK_INT(srv_hits("/redirect-file"), 1);
	sat_fetch_result_clear(&res);
	/* Redirects within http are followed. */
	CHECK_INT(get(f, "/redirect-ok", 0, 0, &res), 0);
	CHECK_STR(res.data, "hello world");
	CHECK_INT(srv_hits("/ok"), 1);
	sat_fetch_result_clear(&res);
	sat_fetch_free(f);
	srv_stop();
}

SAT_TEST(scheme_refused)
{
	static const char *const bad[] = { "file:///etc/passwd",
					   "ftp://127.0.0.1/x",
					   "gopher://127.0.0.1/x",
					   "FILE:///etc/passwd" };
	struct sat_fetch_req r = { 0 };
	struct sat_fetch_result res;
	struct sat_fetch_stats st;
	struct sat_fetch *f;
	size_t i;

	srv_start();
	f = fetch_start(4, 3);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r.url = bad[i];
		CHECK_INT(sat_fetch_sync(f, &r, &res), -EPROTO);
		CHECK(res.data == NULL);
		CHECK_INT(res.tries, 0);
		sat_fetch_result_clear(&res);
	}
	r.url = "not a url";
	CHECK(sat_fetch_sync(f, &r, &res) < 0);
	sat_fetch_result_clear(&res);
	sat_fetch_get_stats(f, &st);
	CHECK_INT(st.requests, 0);
	CHECK_INT(srv_connections(), 0);
	sat_fetch_free(f);
	srv_stop();
}

SAT_TEST(not_found_no_retry)
{
	static const char *const hdrs[] = { "Authorization: Bearer hunter2",
					    NULL };
	struct sat_fetch_req r = { 0 };
	struct sat_fetch_result res;
	struct sat_fetch *f;
	char log[512], *text;
	size_t len;

	srv_start();
	f = fetch_start(4, 5);
	snprintf(log, sizeof(log), "%s/log", satest_tmpdir());
	/* debug: the caller logs the failure; fetch's own line is debug */
	CHECK_INT(sat_log_setup(SAT_LOG_DEBUG, log, 0), 0);
	r.url = url("/404?sig=secret");
	r.headers = hdrs;
	CHECK_INT(sat_fetch_sync(f, &r, &res), -ENOENT);
	sat_log_setup(SAT_LOG_INFO, NULL, 0);
	CHECK_INT(res.status, 404);
	CHECK_INT(res.tries, 1);
	CHECK_INT(srv_hits("/404"), 1);
	CHECK(strcmp(res.why, "HTTP error") == 0);
	sat_fetch_result_clear(&res);
	/* One debug line, with URL and status, without credentials. */
	text = satest_read_file(log, &len);
	CHECK(strchr(text, '\n') == text + len - 1);
	CHECK(strstr(text, "GET http://127.0.0.1:") != NULL);
	CHECK(strstr(text, "/404?...") != NULL);
	CHECK(strstr(text, "status 404") != NULL);
	CHECK(strstr(text, "secret") == NULL);
	CHECK(strstr(text, "hunter2") == NULL);
	free(text);
	CHECK_INT(get(f, "/status/401", 0, 0, &res), -EACCES);
	sat_fetch_result_clear(&res);
	CHECK_INT(get(f, "/status/403", 0, 0, &res), -EACCES);
	sat_fetch_result_clear(&res);
	CHECK_INT(get(f, "/status/410", 0, 0, &res), -ENOENT);
	sat_fetch_result_clear(&res);
	CHECK_INT(get(f, "/status/400", 0, 0, &res), -EIO);
	CHECK_INT(res.tries, 1);
	CHECK_STR(res.data, "status");
	sat_fetch_result_clear(&res);
	CHECK_INT(get(f, "/status/501", 0, 0, &res), -EIO);
	CHECK_INT(res.tries, 1); /* not a transient status */
	sat_fetch_result_clear(&res);
	CHECK_INT(get(f, "/status/502", 0, 0, &res), -EIO);
	CHECK_INT(res.tries, 5);
	CHECK_INT(srv_hits("/status/502"), 5);
	sat_fetch_result_clear(&res);
	sat_fetch_free(f);
	srv_stop();
}

SAT_TEST(body_cap)
{
	struct sat_fetch_opts o = { .max_body_bytes = 100000,
				    .verify_tls = true };
	struct sat_fetch_req r = { 0 };
	struct sat_fetch_result res;
	struct sat_fetch *f;

	srv_start();
	f = fetch_start(4, 5);
	r.url = url("/big");
	r.max_body_bytes = 65536;
	CHECK_INT(sat_fetch_sync(f, &r, &res), -EFBIG);
	CHECK_INT(res.tries, 1);
	CHECK(res.data == NULL);
	CHECK_INT(srv_hits("/big"), 1);
	sat_fetch_result_clear(&res);
	sat_fetch_free(f);
	/* The engine's default cap applies when the request sets none. */
	CHECK_INT(sat_fetch_new(&f, &o), 0);
	r.max_body_bytes = 0;
	CHECK_INT(sat_fetch_sync(f, &r, &res), -EFBIG);
	sat_fetch_result_clear(&res);
	r.max_body_bytes = 2 << 20;
	CHECK_INT(sat_fetch_sync(f, &r, &res), 0);
	CHECK_INT(res.len, 1 << 20);
	sat_fetch_result_clear(&res);
	sat_fetch_free(f);
	srv_stop();
}

SAT_TEST(stall_timeout)
{
	struct sat_fetch_opts o = { .max_tries = 2,
				    .stall_timeout_ms = 1000,
				    .backoff_base_ms = 10,
				    .verify_tls = true };
	struct sat_fetch_result res;
	struct sat_fetch *f;
	uint64_t t0, dt;

	srv_start();
	CHECK_INT(sat_fetch_new(&f, &o), 0);
	t0 = ms_now();
	CHECK_INT(get(f, "/stall", 0, 0, &res), -ETIMEDOUT);
	dt = ms_now() - t0;
	CHECK(dt >= 1500);
	CHECK(dt < 10000);
	CHECK_INT(res.tries, 2);
	CHECK_INT(srv_hits("/stall"), 2);
	sat_fetch_result_clear(&res);
	sat_fetch_free(f);
	srv_stop();
}

SAT_TEST(post_echo)
{
	static const char *const hdrs[] = { "Content-Type: application/json",
					    NULL };
	const char *body = "{\"collections\":[\"sentinel-2-l2a\"]}";
	struct sat_fetch_req r = { 0 };
	struct sat_fetch_result res;
	struct sat_fetch *f;

	srv_start();
	f = fetch_start(4, 3);
	r.url = url("/echo?token=secret");
	r.method = "POST";
	r.body = body;
	r.body_len = strlen(body);
	r.headers = hdrs;
	CHECK_INT(sat_fetch_sync(f, &r, &res), 0);
	CHECK_STR(res.data, body);
	CHECK_INT(res.len, strlen(body));
	sat_fetch_result_clear(&res);
	/* HEAD: size without a body. */
	r.url = url("/range");
	r.method = "HEAD";
	r.body = NULL;
	r.body_len = 0;
	CHECK_INT(sat_fetch_sync(f, &r, &res), 0);
	CHECK_INT(res.len, 0);
	CHECK_INT(res.object_size, OBJ_SIZE);
	sat_fetch_result_clear(&res);
	sat_fetch_free(f);
	srv_stop();
}

SAT_TEST(fetch_all_concurrent)
{
	struct sat_fetch_req reqs[64];
	struct sat_fetch_result res[64];
	struct sat_fetch *f;
	char slow[256], nf[256];
	uint64_t t0, dt;
	int i;

	srv_start();
	f = fetch_start(16, 3);
	snprintf(slow, sizeof(slow), "%s", url("/slow"));
	snprintf(nf, sizeof(nf), "%s", url("/404"));
	memset(reqs, 0, sizeof(reqs));
	for (i = 0; i < 64; i++)
		reqs[i].url = slow;
	t0 = ms_now();
	CHECK_INT(sat_fetch_all(f, reqs, res, 64), 0);
	dt = ms_now() - t0;
	for (i = 0; i < 64; i++) {
		CHECK_INT(res[i].err, 0);
		CHECK_STR(res[i].data, "slow");
		sat_fetch_result_clear(&res[i]);
	}
	/* Serial would be 64 * 200 ms; 16 at a time is about 4 * 200. */
	CHECK(dt < 64 * 200 / 4);
	CHECK_INT(srv_hits("/slow"), 64);
	CHECK(srv_connections() <= 16);
	/* One failure among successes is reported, and every slot is set. */
	reqs[3].url = nf;
	CHECK_INT(sat_fetch_all(f, reqs, res, 8), -ENOENT);
	for (i = 0; i < 8; i++) {
		CHECK_INT(res[i].err, i == 3 ? -ENOENT : 0);
		sat_fetch_result_clear(&res[i]);
	}
	sat_fetch_free(f);
	srv_stop();
}

/* Completion order, recorded by callbacks on the I/O thread. */
struct order {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int ids[16], errs[16];
	int n; /* protected by lock */
};

struct order_slot {
	struct order *o;
	int id;
};

static void on_order(struct sat_fetch_result *res, void *payload)
{
	struct order_slot *s = payload;
	struct order *o = s->o;

	pthread_mutex_lock(&o->lock);
	o->ids[o->n] = s->id;
	o->errs[o->n] = res->err;
	o->n++;
	pthread_cond_signal(&o->cond);
	pthread_mutex_unlock(&o->lock);
	sat_fetch_result_clear(res);
}

/* Waits until n callbacks ran, for at most 10 s. Returns how many ran. */
static int order_wait(struct order *o, int n)
{
	struct timespec ts;
	int got;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&o->lock);
	while (o->n < n &&
	       pthread_cond_timedwait(&o->cond, &o->lock, &ts) == 0)
		;
	got = o->n;
	pthread_mutex_unlock(&o->lock);
	return got;
}

static void gate_open(void)
{
	CHECK(write(srv.gate_pipe[1], "x", 1) == 1);
}

static void wait_hits(const char *path, int n)
{
	uint64_t t0 = ms_now();

	while (srv_hits(path) < n && ms_now() - t0 < 5000)
		usleep(5000);
	CHECK(srv_hits(path) >= n);
}

SAT_TEST(priority_foreground_first)
{
	struct order o = { .lock = PTHREAD_MUTEX_INITIALIZER,
			   .cond = PTHREAD_COND_INITIALIZER };
	struct order_slot slots[6];
	struct sat_fetch_req r = { 0 };
	struct sat_fetch_stats st;
	struct sat_fetch *f;
	int i;

	srv_start();
	f = fetch_start(1, 3);
	r.priority = SAT_FETCH_PREFETCH;
	for (i = 0; i < 5; i++) {
		slots[i] = (struct order_slot){ &o, i };
		r.url = url(i ? "/slow?prefetch" : "/gate?prefetch");
		CHECK_INT(sat_fetch_submit(f, &r, on_order, &slots[i]), 0);
	}
	wait_hits("/gate", 1); /* the first prefetch is in flight */
	sat_fetch_get_stats(f, &st);
	CHECK_INT(st.in_flight, 1);
	slots[5] = (struct order_slot){ &o, 5 };
	r.priority = SAT_FETCH_FOREGROUND;
	r.url = url("/slow?foreground");
	CHECK_INT(sat_fetch_submit(f, &r, on_order, &slots[5]), 0);
	usleep(50000);
	CHECK_INT(srv_hits("/slow"), 0); /* one connection, and it is busy */
	gate_open();
	CHECK_INT(order_wait(&o, 6), 6);
	for (i = 0; i < 6; i++)
		CHECK_INT(o.errs[i], 0);
	CHECK_INT(o.ids[0], 0);
	CHECK_INT(o.ids[1], 5); /* before prefetches 1..4 */
	for (i = 2; i < 6; i++)
		CHECK_INT(o.ids[i], i - 1);
	CHECK_INT(srv_connections(), 1);
	sat_fetch_free(f);
	srv_stop();
}

SAT_TEST(prefetch_half_the_cap)
{
	struct order o = { .lock = PTHREAD_MUTEX_INITIALIZER,
			   .cond = PTHREAD_COND_INITIALIZER };
	struct order_slot slots[9];
	struct sat_fetch_req r = { 0 };
	struct sat_fetch_stats st;
	struct sat_fetch *f;
	int i;

	srv_start();
	f = fetch_start(4, 3);
	r.priority = SAT_FETCH_PREFETCH;
	r.url = url("/gate?prefetch");
	for (i = 0; i < 8; i++) {
		slots[i] = (struct order_slot){ &o, i };
		CHECK_INT(sat_fetch_submit(f, &r, on_order, &slots[i]), 0);
	}
	wait_hits("/gate", 2);
	usleep(50000);
	/* Prefetch holds 2 of the 4 slots, so a foreground request finds
	 * room while every prefetch is still blocked. */
	slots[8] = (struct order_slot){ &o, 8 };
	r.priority = SAT_FETCH_FOREGROUND;
	r.url = url("/ok");
	CHECK_INT(sat_fetch_submit(f, &r, on_order, &slots[8]), 0);
	CHECK_INT(order_wait(&o, 1), 1);
	CHECK_INT(o.ids[0], 8);
	CHECK_INT(o.errs[0], 0);
	CHECK_INT(srv_hits("/gate"), 2);
	sat_fetch_get_stats(f, &st);
	CHECK_INT(st.in_flight, 2);
	gate_open();
	CHECK_INT(order_wait(&o, 9), 9);
	for (i = 0; i < 9; i++)
		CHECK_INT(o.errs[i], 0);
	CHECK_INT(srv_hits("/gate"), 8);
	sat_fetch_free(f);
	srv_stop();
}

SAT_TEST(free_cancels_pending)
{
	struct order o = { .lock = PTHREAD_MUTEX_INITIALIZER,
			   .cond = PTHREAD_COND_INITIALIZER };
	struct order_slot slots[5];
	struct sat_fetch_req r = { 0 };
	struct sat_fetch *f;
	int i;

	srv_start();
	f = fetch_start(1, 3);
	for (i = 0; i < 5; i++) {
		slots[i] = (struct order_slot){ &o, i };
		r.url = url(i < 4 ? "/stall" : "/ok");
		r.priority = i % 2 ? SAT_FETCH_PREFETCH : SAT_FETCH_FOREGROUND;
		CHECK_INT(sat_fetch_submit(f, &r, on_order, &slots[i]), 0);
	}
	wait_hits("/stall", 1);
	sat_fetch_free(f);
	CHECK_INT(order_wait(&o, 5), 5); /* no waiting: already done */
	/* Every callback ran, during free, and each saw -ECANCELED. */
	CHECK_INT(o.n, 5);
	for (i = 0; i < 5; i++)
		CHECK_INT(o.errs[i], -ECANCELED);
	CHECK_INT(srv_hits("/stall"), 1);
	CHECK_INT(srv_hits("/ok"), 0);
	srv_stop();
}

SAT_TEST(backoff_and_retry_after)
{
	uint64_t rng = 12345;
	int i, d, maxd = 0;
	time_t now = 1704067200; /* 2024-01-01 00:00:00 UTC */

	for (i = 0; i < 200; i++) {
		d = sat_fetch_backoff_ms(3, 200, 20000, &rng);
		CHECK(d >= 0 && d <= 800);
		if (d > maxd)
			maxd = d;
	}
	CHECK(maxd > 400); /* jitter spreads over the whole window */
	for (i = 0; i < 50; i++)
		CHECK(sat_fetch_backoff_ms(60, 200, 20000, &rng) <= 20000);
	CHECK_INT(sat_fetch_retry_after_ms("1", now, 20000), 1000);
	CHECK_INT(sat_fetch_retry_after_ms(" 7 ", now, 20000), 7000);
	CHECK_INT(sat_fetch_retry_after_ms("999999999999", now, 20000), 20000);
	CHECK_INT(sat_fetch_retry_after_ms("Mon, 01 Jan 2024 00:00:05 GMT",
					   now, 20000),
		  5000);
	CHECK_INT(sat_fetch_retry_after_ms("Sun, 31 Dec 2023 00:00:05 GMT",
					   now, 20000),
		  0);
	CHECK_INT(sat_fetch_retry_after_ms("soon", now, 20000), -1);
	CHECK_INT(sat_fetch_retry_after_ms("", now, 20000), -1);
	CHECK_INT(sat_fetch_retry_after_ms(NULL, now, 20000), -1);
}

SAT_TEST(content_range_and_status)
{
	uint64_t a, b, t;

	CHECK_INT(sat_fetch_parse_content_range("bytes 0-99/1000", &a, &b, &t),
		  0);
	CHECK_INT(a, 0);
	CHECK_INT(b, 99);
	CHECK_INT(t, 1000);
	CHECK_INT(sat_fetch_parse_content_range("bytes 5-9/*", &a, &b, &t), 0);
	CHECK_INT(t, 0);
	CHECK_INT(sat_fetch_parse_content_range("bytes 9-5/10", &a, &b, &t),
		  -EPROTO);
	CHECK_INT(sat_fetch_parse_content_range("bytes 0-10/10", &a, &b, &t),
		  -EPROTO);
	CHECK_INT(sat_fetch_parse_content_range("bytes */10", &a, &b, &t),
		  -EPROTO);
	CHECK_INT(sat_fetch_parse_content_range(NULL, &a, &b, &t), -EPROTO);
	CHECK_INT(sat_fetch_parse_content_range(
			  "bytes 0-1/99999999999999999999999", &a, &b, &t),
		  -EPROTO);
	CHECK_INT(sat_fetch_status_errno(404), -ENOENT);
	CHECK_INT(sat_fetch_status_errno(410), -ENOENT);
	CHECK_INT(sat_fetch_status_errno(401), -EACCES);
	CHECK_INT(sat_fetch_status_errno(403), -EACCES);
	CHECK_INT(sat_fetch_status_errno(416), -EINVAL);
	CHECK_INT(sat_fetch_status_errno(409), -EBUSY);
	CHECK_INT(sat_fetch_status_errno(412), -EEXIST);
	CHECK_INT(sat_fetch_status_errno(413), -EFBIG);
	CHECK_INT(sat_fetch_status_errno(507), -ENOSPC);
	CHECK(!sat_fetch_status_retryable(409));
	CHECK(!sat_fetch_status_retryable(412));
	CHECK_INT(sat_fetch_status_errno(400), -EIO);
	CHECK_INT(sat_fetch_status_errno(503), -EIO);
	CHECK(sat_fetch_status_retryable(429));
	CHECK(sat_fetch_status_retryable(502));
	CHECK(!sat_fetch_status_retryable(404));
	CHECK(!sat_fetch_status_retryable(501));
}

/* A temporary file of n pattern bytes (or empty), open read-write. */
static int tmp_file(const char *name, size_t n)
{
	char path[512], buf[4096];
	size_t i, k;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", satest_tmpdir(), name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	for (i = 0; i < n; i += k) {
		k = n - i < sizeof(buf) ? n - i : sizeof(buf);
		for (size_t b = 0; b < k; b++)
			buf[b] = (char)('a' + (i + b) % 23);
		CHECK(pwrite(fd, buf, k, (off_t)i) == (ssize_t)k);
	}
	return fd;
}

SAT_TEST(put_from_fd_get_into_fd)
{
	const size_t n = 40000; /* the scripted server holds 64 KiB */
	struct sat_fetch_req r = { 0 };
	struct sat_fetch_result res;
	struct sat_fetch *f;
	char *a, *b, v[64];
	int src, dst, p[2];

	srv_start();
	f = fetch_start(4, 3);
	src = tmp_file("src", n);
	dst = tmp_file("dst", 100000); /* longer: must be cut to size */
	r.url = url("/echo");
	r.method = "PUT";
	r.flags = SAT_FETCH_UPLOAD_FD | SAT_FETCH_DOWNLOAD_FD |
		  SAT_FETCH_KEEP_HEADERS;
	r.upload_fd = src;
	r.upload_bytes = n;
	r.download_fd = dst;
	CHECK_INT(sat_fetch_sync(f, &r, &res), 0);
	CHECK_INT(res.status, 200);
	CHECK_INT(res.len, n);
	CHECK_STR(res.data, ""); /* the body went to the file */
	CHECK_STR(sat_fetch_result_header(&res, "content-length", v,
					  sizeof(v)), "40000");
	CHECK(sat_fetch_result_header(&res, "X-None", v, sizeof(v)) == NULL);
	sat_fetch_result_clear(&res);
	CHECK_INT(lseek(dst, 0, SEEK_END), n);
	a = malloc(n);
	b = malloc(n);
	CHECK(pread(src, a, n, 0) == (ssize_t)n);
	CHECK(pread(dst, b, n, 0) == (ssize_t)n);
	CHECK(memcmp(a, b, n) == 0);
	free(a);
	free(b);
	/* A PUT body from memory. */
	r.flags = 0;
	r.body = "lease";
	r.body_len = 5;
	CHECK_INT(sat_fetch_sync(f, &r, &res), 0);
	CHECK_STR(res.data, "lease");
	CHECK(res.headers == NULL); /* not asked for */
	sat_fetch_result_clear(&res);
	/* A file shorter than announced fails at once, saying why. */
	r.body = NULL;
	r.flags = SAT_FETCH_UPLOAD_FD;
	r.upload_bytes = n + 10;
	CHECK_INT(sat_fetch_sync(f, &r, &res), -EIO);
	CHECK_INT(res.tries, 1);
	CHECK(strstr(res.why, "reading the body file") != NULL);
	sat_fetch_result_clear(&res);
	/* A body into a pipe (no retry could rewrite it), or an upload
	 * file on a GET, is refused at submit. */
	CHECK(pipe(p) == 0);
	r.flags = SAT_FETCH_DOWNLOAD_FD;
	r.method = NULL;
	r.download_fd = p[1];
	CHECK_INT(sat_fetch_sync(f, &r, &res), -EINVAL);
	r.flags = SAT_FETCH_UPLOAD_FD;
	CHECK_INT(sat_fetch_sync(f, &r, &res), -EINVAL);
	close(p[0]);
	close(p[1]);
	close(src);
	close(dst);
	sat_fetch_free(f);
	srv_stop();
}

SAT_TEST(sigv4_signed_headers)
{
	const struct sat_fetch_sigv4 v = { .region = "eu-west-3",
					   .service = "s3",
					   .access_key = "AKIDEXAMPLE",
					   .secret_key = "wJalrXUtnFEMIsecret",
					   .session_token = "TOKEN123" };
	struct sat_fetch_req r = { 0 };
	struct sat_fetch_result res;
	struct sat_fetch *f;

	srv_start();
	f = fetch_start(4, 3);
	r.url = url("/headers");
	r.sigv4 = &v;
	CHECK_INT(sat_fetch_sync(f, &r, &res), 0);
	CHECK(strstr(res.data, "Authorization: AWS4-HMAC-SHA256 "
			       "Credential=AKIDEXAMPLE/") != NULL);
	CHECK(strstr(res.data, "/eu-west-3/s3/aws4_request") != NULL);
	CHECK(strstr(res.data, "x-amz-content-sha256: UNSIGNED-PAYLOAD") !=
	      NULL);
	CHECK(strstr(res.data, "x-amz-security-token: TOKEN123") != NULL);
	CHECK(strstr(res.data, "X-Amz-Date: ") != NULL);
	CHECK(strstr(res.data, "wJalrXUtnFEMIsecret") == NULL);
	sat_fetch_result_clear(&res);
	/* A signed request follows no redirect. */
	r.url = url("/redirect-ok");
	CHECK_INT(sat_fetch_sync(f, &r, &res), -EIO);
	CHECK_INT(res.status, 302);
	CHECK_INT(srv_hits("/ok"), 0);
	sat_fetch_result_clear(&res);
	/* Without a secret there is nothing to sign with. */
	{
		struct sat_fetch_sigv4 bad = v;

		bad.secret_key = NULL;
		r.sigv4 = &bad;
		CHECK_INT(sat_fetch_sync(f, &r, &res), -EINVAL);
	}
	sat_fetch_free(f);
	srv_stop();
}

struct gate_arg {
	struct sat_fetch *f;
	struct sat_fetch_req req;
	struct sat_fetch_result res;
	int rc;
};

static void *gate_main(void *arg)
{
	struct gate_arg *ga = arg;

	ga->rc = sat_fetch_sync(ga->f, &ga->req, &ga->res);
	return NULL;
}

/* A server that sends a byte now and then is never "stalled", so only the
 * minimum rate (curl's LOW_SPEED_LIMIT over the stall time) ends the try;
 * and a request without a deadline of its own gets the engine's. */
SAT_TEST(min_rate_and_default_deadline)
{
	struct sat_fetch_opts o = { .connections_per_host = 4,
				    .max_tries = 1,
				    .stall_timeout_ms = 1000,
				    .min_rate_bytes = 1024,
				    .verify_tls = true };
	struct sat_fetch_req r = { 0 };
	struct sat_fetch_result res;
	struct sat_fetch *f;
	uint64_t t0, dt;

	srv_start();
	CHECK_INT(sat_fetch_new(&f, &o), 0);
	r.url = url("/drip");
	t0 = ms_now();
	CHECK_INT(sat_fetch_sync(f, &r, &res), -ETIMEDOUT);
	dt = ms_now() - t0;
	CHECK(dt >= 900);
	CHECK(dt < 5000); /* 100000 bytes at 20 a second: 5000 s */
	CHECK(strstr(res.why, "too slow") != NULL);
	sat_fetch_result_clear(&res);
	sat_fetch_free(f);

	/* With 5 tries of a 30 s stall timeout each, only the engine's
	 * default deadline (0.8 s here) ends a request to a server that
	 * never answers. */
	o.max_tries = 5;
	o.stall_timeout_ms = 30000;
	o.min_rate_bytes = 0;
	o.deadline_ms = 800;
	CHECK_INT(sat_fetch_new(&f, &o), 0);
	r.url = url("/stall");
	t0 = ms_now();
	CHECK_INT(sat_fetch_sync(f, &r, &res), -ETIMEDOUT);
	dt = ms_now() - t0;
	CHECK(dt >= 750);
	CHECK(dt < 5000);
	sat_fetch_result_clear(&res);
	sat_fetch_free(f);
	srv_stop();
}

/* sat_fetch_cancel(): what is in flight ends at once with -ECANCELED, and
 * later requests are refused. */
SAT_TEST(cancel_ends_transfers)
{
	struct sat_fetch_opts o = { .connections_per_host = 4,
				    .stall_timeout_ms = 30000,
				    .verify_tls = true };
	struct gate_arg ga = { 0 };
	struct sat_fetch_req r = { 0 };
	struct sat_fetch_result res;
	struct sat_fetch *f;
	uint64_t t0;
	pthread_t t;

	srv_start();
	CHECK_INT(sat_fetch_new(&f, &o), 0);
	ga.f = f;
	ga.req.url = url("/stall");
	CHECK(pthread_create(&t, NULL, gate_main, &ga) == 0);
	for (t0 = ms_now(); srv_hits("/stall") == 0 && ms_now() - t0 < 5000;)
		usleep(1000);
	CHECK_INT(srv_hits("/stall"), 1);
	t0 = ms_now();
	sat_fetch_cancel(f);
	pthread_join(t, NULL);
	CHECK(ms_now() - t0 < 1000);
	CHECK_INT(ga.rc, -ECANCELED);
	sat_fetch_result_clear(&ga.res);
	r.url = url("/ok");
	CHECK_INT(sat_fetch_sync(f, &r, &res), -ECANCELED);
	sat_fetch_result_clear(&res);
	CHECK_INT(srv_hits("/ok"), 0);
	sat_fetch_free(f);
	srv_stop();
}

SAT_TEST(deadline_bounds_request)
{
	struct sat_fetch_opts o = { .connections_per_host = 1,
				    .max_tries = 5,
				    .stall_timeout_ms = 30000,
				    .backoff_base_ms = 10,
				    .verify_tls = true };
	struct gate_arg ga = { 0 };
	struct sat_fetch_req r = { 0 };
	struct sat_fetch_result res;
	struct sat_fetch *f;
	uint64_t t0, dt;
	pthread_t t;

	srv_start();
	CHECK_INT(sat_fetch_new(&f, &o), 0);
	/* A server that never answers: the deadline, not the 30 s stall
	 * timeout times 5 tries, ends it. */
	r.url = url("/stall");
	r.deadline_ms = 600;
	t0 = ms_now();
	CHECK_INT(sat_fetch_sync(f, &r, &res), -ETIMEDOUT);
	dt = ms_now() - t0;
	CHECK(dt >= 550);
	CHECK(dt < 2000);
	CHECK_INT(res.tries, 1);
	sat_fetch_result_clear(&res);
	/* A per-request stall timeout and number of tries. */
	r.deadline_ms = 0;
	r.stall_timeout_ms = 300;
	r.max_tries = 2;
	t0 = ms_now();
	CHECK_INT(sat_fetch_sync(f, &r, &res), -ETIMEDOUT);
	dt = ms_now() - t0;
	CHECK(dt >= 550);
	CHECK(dt < 4000);
	CHECK_INT(res.tries, 2);
	sat_fetch_result_clear(&res);
	/* Waiting in the queue counts: the one connection is taken. */
	ga.f = f;
	ga.req.url = url("/gate");
	CHECK(pthread_create(&t, NULL, gate_main, &ga) == 0);
	for (t0 = ms_now(); srv_hits("/gate") == 0 && ms_now() - t0 < 5000;)
		usleep(1000);
	CHECK_INT(srv_hits("/gate"), 1);
	r.url = url("/ok");
	r.deadline_ms = 300;
	t0 = ms_now();
	CHECK_INT(sat_fetch_sync(f, &r, &res), -ETIMEDOUT);
	dt = ms_now() - t0;
	CHECK(dt >= 250);
	CHECK(dt < 2500); /* a queue is looked at once a second */
	CHECK_INT(res.tries, 0);
	CHECK(strstr(res.why, "queued") != NULL);
	CHECK_INT(srv_hits("/ok"), 0);
	sat_fetch_result_clear(&res);
	CHECK(write(srv.gate_pipe[1], "x", 1) == 1);
	pthread_join(t, NULL);
	CHECK_INT(ga.rc, 0);
	CHECK_STR(ga.res.data, "gate");
	sat_fetch_result_clear(&ga.res);
	sat_fetch_free(f);
	srv_stop();
}
