/*
 * Tests for the objstore module against a real S3 server: Ceph's RADOS
 * Gateway on 127.0.0.1, a throwaway single-node cluster started by
 * tests/s3/rgw.sh. Under ctest the cases share one cluster, started and
 * stopped by the fixture tests unit.objstore.rgw_start/_stop (its
 * directory in SATFS_RGW_DIR); run alone, a case starts its own. The
 * outage cases always start a private one, since they freeze and kill it.
 * Every case works under its own prefix of the one bucket.
 *
 * Without the Ceph packages the cases fail (never skip), naming
 * scripts/deps.
 */
#include "satest.h"

#include "satfs/cache.h"
#include "satfs/fetch.h"
#include "satfs/log.h"
#include "satfs/objstore.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- The gateway ---- */

struct rgw {
	char dir[512];
	char endpoint[128];
	char bucket[64];
	char region[64];
	char key[128];
	char secret[128];
	bool own; /* started by this process: stopped at exit */
};

static struct rgw shared_rgw, private_rgw;

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs tests/s3/rgw.sh CMD DIR; returns its exit status. */
static int rgw_script(const char *cmd, const char *dir)
{
	char line[2048];
	int st;

	snprintf(line, sizeof(line), "RGW_OWNER_PID=%ld bash '%s' %s %s%s%s",
		 (long)getpid(), satest_src("tests/s3/rgw.sh"), cmd,
		 dir ? "'" : "", dir ? dir : "", dir ? "'" : "");
	st = system(line);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void rgw_stop_at_exit(void)
{
	if (shared_rgw.own)
		rgw_script("stop", shared_rgw.dir);
	if (private_rgw.own)
		rgw_script("stop", private_rgw.dir);
}

static void rgw_read_env(struct rgw *r)
{
	char path[600], *text, *line, *eq;

	snprintf(path, sizeof(path), "%s/env", r->dir);
	text = satest_read_file(path, NULL);
	for (line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq++ = '\0';
		if (!strcmp(line, "RGW_ENDPOINT"))
			snprintf(r->endpoint, sizeof(r->endpoint), "%s", eq);
		else if (!strcmp(line, "RGW_BUCKET"))
			snprintf(r->bucket, sizeof(r->bucket), "%s", eq);
		else if (!strcmp(line, "RGW_REGION"))
			snprintf(r->region, sizeof(r->region), "%s", eq);
		else if (!strcmp(line, "AWS_ACCESS_KEY_ID"))
			snprintf(r->key, sizeof(r->key), "%s", eq);
		else if (!strcmp(line, "AWS_SECRET_ACCESS_KEY"))
			snprintf(r->secret, sizeof(r->secret), "%s", eq);
	}
	free(text);
	CHECK(r->endpoint[0] && r->bucket[0] && r->key[0] && r->secret[0]);
}

static void rgw_start(struct rgw *r, const char *name)
{
	static bool registered;

	if (rgw_script("check", NULL) != 0)
		satest_fail(__FILE__, __LINE__, "Ceph packages installed",
			    "ceph-mon, ceph-osd, radosgw missing: run "
			    "scripts/deps test");
	snprintf(r->dir, sizeof(r->dir), "%s/%s", satest_tmpdir(), name);
	if (!registered) {
		atexit(rgw_stop_at_exit);
		registered = true;
	}
	r->own = true;
	CHECK_INT(rgw_script("start", r->dir), 0);
	rgw_read_env(r);
}

/* The suite's gateway (SATFS_RGW_DIR), else one of this process's. */
static struct rgw *rgw_shared(void)
{
	const char *dir = getenv("SATFS_RGW_DIR");
	char env[600];
	struct stat st;

	if (shared_rgw.endpoint[0])
		return &shared_rgw;
	if (dir && dir[0]) {
		snprintf(env, sizeof(env), "%s/env", dir);
		if (stat(env, &st) != 0)
			satest_fail(__FILE__, __LINE__, "gateway started",
				    "SATFS_RGW_DIR has no env: did "
				    "unit.objstore.rgw_start fail? (Ceph "
				    "packages: scripts/deps test)");
		snprintf(shared_rgw.dir, sizeof(shared_rgw.dir), "%s", dir);
		rgw_read_env(&shared_rgw);
		return &shared_rgw;
	}
	rgw_start(&shared_rgw, "rgw");
	return &shared_rgw;
}

static pid_t rgw_pid(const struct rgw *r)
{
	char path[600], *text;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/pids/rgw", r->dir);
	text = satest_read_file(path, NULL);
	pid = (pid_t)atol(text);
	free(text);
	CHECK(pid > 1);
	return pid;
}

/* ---- Helpers ---- */

static struct sat_fetch *fetch_new(void)
{
	struct sat_fetch *f = NULL;

	CHECK_INT(sat_fetch_new(&f, NULL), 0);
	return f;
}

static void creds_env(const struct rgw *r)
{
	setenv("AWS_ACCESS_KEY_ID", r->key, 1);
	setenv("AWS_SECRET_ACCESS_KEY", r->secret, 1);
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	unsetenv("AWS_REGION");
}

/* A store on r under a prefix of its own ("t-TAG-PID"). */
static struct sat_objstore *store_open(struct sat_fetch *f,
				       const struct rgw *r, const char *tag,
				       struct sat_objstore_opts *o)
{
	struct sat_objstore_opts dflt = { 0 };
	struct sat_objstore *s = NULL;
	static char url[256];
	char err[256];

	if (!o)
		o = &dflt;
	snprintf(url, sizeof(url), "s3://%s/t-%s-%ld", r->bucket, tag,
		 (long)getpid());
	o->store = url;
	o->endpoint = r->endpoint;
	o->region = r->region;
	if (sat_objstore_new(&s, f, o, err, sizeof(err)) != 0)
		satest_fail(__FILE__, __LINE__, "sat_objstore_new", err);
	return s;
}

/* A file of n bytes of a pattern seeded by seed, open read-write. */
static int data_file(const char *name, uint64_t n, unsigned seed)
{
	char path[600];
	uint64_t off, x = seed * 0x9e3779b97f4a7c15ULL + 1;
	size_t chunk = 1 << 20, i, k;
	uint64_t *buf = malloc(chunk);
	int fd;

	snprintf(path, sizeof(path), "%s/%s", satest_tmpdir(), name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0 && buf);
	for (off = 0; off < n; off += k) {
		k = n - off < chunk ? (size_t)(n - off) : chunk;
		for (i = 0; i < chunk / 8; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = x;
		}
		CHECK(pwrite(fd, buf, k, (off_t)off) == (ssize_t)k);
	}
	free(buf);
	return fd;
}

static void hash_of(int fd, char hex[SAT_HASH_HEX])
{
	char buf[65536];
	struct sat_hash h;
	off_t off = 0;
	ssize_t r;

	sat_hash_init(&h);
	while ((r = pread(fd, buf, sizeof(buf), off)) > 0) {
		sat_hash_add(&h, buf, (size_t)r);
		off += r;
	}
	sat_hash_final(&h, hex);
}

static int empty_file(const char *name)
{
	return data_file(name, 0, 0);
}

static long rss_kib(const char *field)
{
	char line[256];
	long v = -1;
	FILE *fp = fopen("/proc/self/status", "r");

	CHECK(fp != NULL);
	while (fgets(line, sizeof(line), fp))
		if (!strncmp(line, field, strlen(field)))
			v = atol(line + strlen(field) + 1);
	fclose(fp);
	return v;
}

/* Resets the peak RSS (VmHWM) to the current RSS. */
static void rss_peak_reset(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY);

	CHECK(fd >= 0);
	CHECK(write(fd, "5", 1) == 1);
	close(fd);
}

/* ---- Fixture entries (ctest runs them before and after the rest) ---- */

SAT_TEST(rgw_start)
{
	const char *dir = getenv("SATFS_RGW_DIR");
	uint64_t t0 = ms_now();

	CHECK(dir != NULL);
	if (rgw_script("check", NULL) != 0)
		satest_fail(__FILE__, __LINE__, "Ceph packages installed",
			    "run scripts/deps test");
	rgw_script("stop", dir); /* a leftover of an interrupted run */
	/* owned by ctest (our parent): its watchdog stops it if ctest dies */
	{
		char line[2048];

		snprintf(line, sizeof(line),
			 "rm -rf '%s' && RGW_OWNER_PID=%ld bash '%s' start '%s'",
			 dir, (long)getppid(), satest_src("tests/s3/rgw.sh"),
			 dir);
		CHECK_INT(system(line), 0);
	}
	fprintf(stderr, "gateway up in %llu ms\n",
		(unsigned long long)(ms_now() - t0));
}

SAT_TEST(rgw_stop)
{
	const char *dir = getenv("SATFS_RGW_DIR");

	CHECK(dir != NULL);
	CHECK_INT(rgw_script("stop", dir), 0);
}

/* ---- Cases ---- */

SAT_TEST(store_url_and_names)
{
	char b[SAT_OBJSTORE_BUCKET_MAX], p[SAT_OBJSTORE_PREFIX_MAX], err[256];

	CHECK_INT(sat_objstore_parse_store("s3://my-bucket/a/b/", b, sizeof(b),
					   p, sizeof(p), err, sizeof(err)),
		  0);
	CHECK_STR(b, "my-bucket");
	CHECK_STR(p, "a/b");
	CHECK_INT(sat_objstore_parse_store("s3://bkt", b, sizeof(b), p,
					   sizeof(p), err, sizeof(err)),
		  0);
	CHECK_STR(p, "");
	CHECK_INT(sat_objstore_parse_store("https://bkt/x", b, sizeof(b), p,
					   sizeof(p), err, sizeof(err)),
		  -EINVAL);
	CHECK(strstr(err, "s3://BUCKET") != NULL);
	CHECK_INT(sat_objstore_parse_store("s3://Bad_Bucket", b, sizeof(b),
					   p, sizeof(p), err, sizeof(err)),
		  -EINVAL);
	CHECK_INT(sat_objstore_parse_store("s3://ab", b, sizeof(b), p,
					   sizeof(p), err, sizeof(err)),
		  -EINVAL);
	CHECK_INT(sat_objstore_parse_store("s3://bkt/a//b", b, sizeof(b), p,
					   sizeof(p), err, sizeof(err)),
		  -EINVAL);
	CHECK_INT(sat_objstore_parse_store("s3://bkt/a b", b, sizeof(b), p,
					   sizeof(p), err, sizeof(err)),
		  -EINVAL);
	CHECK(sat_objstore_valid_endpoint("http://127.0.0.1:7480"));
	CHECK(sat_objstore_valid_endpoint("https://s3.example.org/"));
	CHECK(!sat_objstore_valid_endpoint("ftp://x"));
	CHECK(!sat_objstore_valid_endpoint("http://user:pw@host"));
	CHECK(!sat_objstore_valid_endpoint("http://"));
	CHECK(sat_objstore_valid_region("eu-central-1"));
	CHECK(!sat_objstore_valid_region("EU"));
	CHECK(!sat_objstore_valid_region(""));
}

SAT_TEST(credentials_env_and_file)
{
	struct sat_objstore_opts o = { .store = "s3://bkt/p",
				       .endpoint = "http://127.0.0.1:9" };
	struct sat_objstore *s = NULL;
	char path[600], err[512];
	FILE *fp;

	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	unsetenv("AWS_PROFILE");
	snprintf(path, sizeof(path), "%s/credentials", satest_tmpdir());
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	/* nothing anywhere: -ENOKEY, naming the variables and the file */
	CHECK_INT(sat_objstore_new(&s, NULL, &o, err, sizeof(err)), -ENOKEY);
	CHECK(strstr(err, path) != NULL);
	fp = fopen(path, "w");
	CHECK(fp != NULL);
	fprintf(fp, "# a comment\n[default]\naws_access_key_id = AKDEFAULT\n"
		    "aws_secret_access_key = s3cr3tDefault\n\n[team]\n"
		    "aws_access_key_id=AKTEAM\n"
		    "aws_secret_access_key=s3cr3tTeam\n"
		    "aws_session_token = tok3n\n[half]\n"
		    "aws_access_key_id = AKHALF\n");
	fclose(fp);
	CHECK_INT(sat_objstore_new(&s, NULL, &o, err, sizeof(err)), 0);
	sat_objstore_free(s);
	setenv("AWS_PROFILE", "team", 1);
	CHECK_INT(sat_objstore_new(&s, NULL, &o, err, sizeof(err)), 0);
	sat_objstore_free(s);
	/* a profile without a secret, a missing profile */
	setenv("AWS_PROFILE", "half", 1);
	CHECK_INT(sat_objstore_new(&s, NULL, &o, err, sizeof(err)), -ENOKEY);
	CHECK(strstr(err, "aws_secret_access_key") != NULL);
	CHECK(strstr(err, "AKHALF") == NULL);
	setenv("AWS_PROFILE", "nosuch", 1);
	CHECK_INT(sat_objstore_new(&s, NULL, &o, err, sizeof(err)), -ENOKEY);
	CHECK(strstr(err, "[nosuch]") != NULL);
	/* half a pair in the environment is an error, not a fallback */
	setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
	CHECK_INT(sat_objstore_new(&s, NULL, &o, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "AWS_SECRET_ACCESS_KEY is not") != NULL);
	setenv("AWS_SECRET_ACCESS_KEY", "envSecret", 1);
	CHECK_INT(sat_objstore_new(&s, NULL, &o, err, sizeof(err)), 0);
	sat_objstore_free(s);
	/* bad options */
	o.store = "s3://b";
	CHECK_INT(sat_objstore_new(&s, NULL, &o, err, sizeof(err)), -EINVAL);
	o.store = "s3://bkt";
	o.region = "Mars";
	CHECK_INT(sat_objstore_new(&s, NULL, &o, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "region") != NULL);
	CHECK(s == NULL);
}

SAT_TEST(signed_put_get_head_delete)
{
	struct rgw *r = rgw_shared();
	struct sat_fetch *f;
	struct sat_objstore *s;
	struct sat_objstore_health h;
	char want[SAT_HASH_HEX], got[SAT_HASH_HEX], url[512];
	struct sat_fetch_req raw = { 0 };
	struct sat_fetch_result res;
	uint64_t size = 0;
	int src, dst;

	creds_env(r);
	f = fetch_new();
	s = store_open(f, r, "basic", NULL);
	src = data_file("src", 300000, 1);
	dst = empty_file("dst");
	CHECK_INT(sat_objstore_get(s, "files/a.tif", dst, &size), -ENOENT);
	CHECK_INT(sat_objstore_head(s, "files/a.tif", NULL), -ENOENT);
	CHECK_INT(sat_objstore_put_if_absent(s, "files/a.tif", src, 300000,
					     NULL),
		  0);
	CHECK_INT(sat_objstore_head(s, "files/a.tif", &size), 0);
	CHECK_INT(size, 300000);
	CHECK_INT(sat_objstore_get(s, "files/a.tif", dst, &size), 0);
	CHECK_INT(size, 300000);
	hash_of(src, want);
	hash_of(dst, got);
	CHECK_STR(got, want);
	/* a second upload of the name is refused: nothing is overwritten */
	CHECK_INT(sat_objstore_put_if_absent(s, "files/a.tif", dst, 300000,
					     got),
		  -EEXIST);
	/* the bucket is not public: unsigned, RGW says 403 */
	snprintf(url, sizeof(url), "%s/%s/t-basic-%ld/files/a.tif",
		 r->endpoint, r->bucket, (long)getpid());
	raw.url = url;
	CHECK_INT(sat_fetch_sync(f, &raw, &res), -EACCES);
	CHECK_INT(res.status, 403);
	sat_fetch_result_clear(&res);
	CHECK_INT(sat_objstore_delete(s, "files/a.tif"), 0);
	CHECK_INT(sat_objstore_head(s, "files/a.tif", NULL), -ENOENT);
	CHECK_INT(sat_objstore_delete(s, "files/a.tif"), 0);
	/* names that would escape the prefix */
	CHECK_INT(sat_objstore_head(s, "../x", NULL), -EINVAL);
	CHECK_INT(sat_objstore_head(s, "/x", NULL), -EINVAL);
	CHECK_INT(sat_objstore_head(s, "a?b", NULL), -EINVAL);
	sat_objstore_get_health(s, &h);
	CHECK(h.ok);
	CHECK_INT(h.hits, 1);
	CHECK_INT(h.misses, 1);
	CHECK_INT(h.uploads, 1);
	CHECK_INT(h.lost, 1);
	CHECK(h.requests >= 9);
	close(src);
	close(dst);
	sat_objstore_free(s);
	/* a wrong secret: 403, and the store counts as failing */
	setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret", 1);
	s = store_open(f, r, "basic", NULL);
	dst = empty_file("dst");
	CHECK_INT(sat_objstore_get(s, "files/a.tif", dst, NULL), -EACCES);
	close(dst);
	sat_objstore_get_health(s, &h);
	CHECK(!h.ok);
	CHECK(strstr(h.last_why, "HTTP 403 SignatureDoesNotMatch") != NULL);
	sat_objstore_free(s);
	sat_fetch_free(f);
}

struct racer {
	struct sat_objstore *s;
	pthread_barrier_t *go;
	int fd;
	int rc;
};

static void *racer_main(void *arg)
{
	struct racer *rc = arg;

	pthread_barrier_wait(rc->go);
	rc->rc = sat_objstore_put_if_absent(rc->s, "files/race.tif", rc->fd,
					    2 << 20, NULL);
	return NULL;
}

SAT_TEST(conditional_put_one_winner)
{
	enum { N = 6 };
	struct rgw *r = rgw_shared();
	struct racer rc[N];
	pthread_t t[N];
	pthread_barrier_t go;
	struct sat_objstore *s;
	struct sat_fetch *f;
	char name[32], want[SAT_HASH_HEX], got[SAT_HASH_HEX];
	int i, wins = 0, winner = -1, dst;

	creds_env(r);
	f = fetch_new();
	s = store_open(f, r, "race", NULL);
	pthread_barrier_init(&go, NULL, N);
	for (i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "src%d", i);
		rc[i] = (struct racer){ .s = s, .go = &go,
					.fd = data_file(name, 2 << 20,
							(unsigned)i + 10) };
		CHECK(pthread_create(&t[i], NULL, racer_main, &rc[i]) == 0);
	}
	for (i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		if (rc[i].rc == 0) {
			wins++;
			winner = i;
		} else {
			CHECK_INT(rc[i].rc, -EEXIST);
		}
	}
	CHECK_INT(wins, 1);
	/* what is stored is the winner's, whole */
	dst = empty_file("dst");
	CHECK_INT(sat_objstore_get(s, "files/race.tif", dst, NULL), 0);
	hash_of(rc[winner].fd, want);
	hash_of(dst, got);
	CHECK_STR(got, want);
	CHECK_INT(sat_objstore_delete(s, "files/race.tif"), 0);
	for (i = 0; i < N; i++)
		close(rc[i].fd);
	close(dst);
	pthread_barrier_destroy(&go);
	sat_objstore_free(s);
	sat_fetch_free(f);
}

SAT_TEST(large_object_streamed)
{
	const uint64_t n = 100ULL << 20;
	struct rgw *r = rgw_shared();
	struct sat_objstore *s;
	struct sat_fetch *f;
	char want[SAT_HASH_HEX], got[SAT_HASH_HEX];
	long base, up_kib, down_kib;
	uint64_t t0, up_ms, down_ms, size = 0;
	int src, dst;

	creds_env(r);
	f = fetch_new();
	s = store_open(f, r, "large", NULL);
	src = data_file("src", n, 7);
	dst = empty_file("dst");
	hash_of(src, want);

	rss_peak_reset();
	base = rss_kib("VmRSS:");
	t0 = ms_now();
	CHECK_INT(sat_objstore_put_if_absent(s, "files/big.tif", src, n, want),
		  0);
	up_ms = ms_now() - t0;
	up_kib = rss_kib("VmHWM:") - base;

	rss_peak_reset();
	base = rss_kib("VmRSS:");
	t0 = ms_now();
	CHECK_INT(sat_objstore_get(s, "files/big.tif", dst, &size), 0);
	down_ms = ms_now() - t0;
	down_kib = rss_kib("VmHWM:") - base;
	CHECK_INT(size, n);
	hash_of(dst, got);
	CHECK_STR(got, want);
	fprintf(stderr, "100 MiB: up %llu ms, peak RSS +%ld KiB; down %llu ms "
			"(digest checked), peak RSS +%ld KiB\n",
		(unsigned long long)up_ms, up_kib, (unsigned long long)down_ms,
		down_kib);
	/* streamed: memory grows by buffers, not by the object */
	CHECK(up_kib < 16 * 1024);
	CHECK(down_kib < 16 * 1024);
	CHECK_INT(sat_objstore_delete(s, "files/big.tif"), 0);
	close(src);
	close(dst);
	sat_objstore_free(s);
	sat_fetch_free(f);
}

/* PUTs an object directly, with the digest header given (or none). */
static void raw_put(struct sat_fetch *f, const struct rgw *r,
		    const char *tag, const char *name, const char *body,
		    const char *digest_hdr)
{
	const struct sat_fetch_sigv4 v = { .region = r->region,
					   .service = "s3",
					   .access_key = r->key,
					   .secret_key = r->secret };
	const char *hdrs[] = { digest_hdr, NULL };
	struct sat_fetch_req req = { .method = "PUT", .body = body,
				     .body_len = strlen(body), .sigv4 = &v,
				     .headers = hdrs, .deadline_ms = 10000 };
	struct sat_fetch_result res;
	char url[512];

	snprintf(url, sizeof(url), "%s/%s/t-%s-%ld/%s", r->endpoint, r->bucket,
		 tag, (long)getpid(), name);
	req.url = url;
	CHECK_INT(sat_fetch_sync(f, &req, &res), 0);
	sat_fetch_result_clear(&res);
}

SAT_TEST(digest_mismatch_refused)
{
	struct rgw *r = rgw_shared();
	struct sat_objstore_health h;
	struct sat_objstore *s;
	struct sat_fetch *f;
	char good[SAT_HASH_HEX];
	struct sat_hash hs;
	char hdr[128];
	int dst;

	creds_env(r);
	f = fetch_new();
	s = store_open(f, r, "digest", NULL);
	dst = empty_file("dst");
	/* the digest of other bytes than the body's */
	sat_hash_init(&hs);
	sat_hash_add(&hs, "other bytes", 11);
	sat_hash_final(&hs, good);
	snprintf(hdr, sizeof(hdr), "x-amz-meta-satfs-sha256: %s", good);
	raw_put(f, r, "digest", "files/bad.tif", "tampered bytes", hdr);
	CHECK_INT(sat_objstore_get(s, "files/bad.tif", dst, NULL), -EBADMSG);
	CHECK_INT(lseek(dst, 0, SEEK_END), 0); /* nothing left to serve */
	/* no digest at all: refused too */
	raw_put(f, r, "digest", "files/nodigest.tif", "some bytes", NULL);
	CHECK_INT(sat_objstore_get(s, "files/nodigest.tif", dst, NULL),
		  -EBADMSG);
	CHECK_INT(lseek(dst, 0, SEEK_END), 0);
	/* the right digest: served */
	sat_hash_init(&hs);
	sat_hash_add(&hs, "fine bytes", 10);
	sat_hash_final(&hs, good);
	snprintf(hdr, sizeof(hdr), "x-amz-meta-satfs-sha256: %s", good);
	raw_put(f, r, "digest", "files/good.tif", "fine bytes", hdr);
	CHECK_INT(sat_objstore_get(s, "files/good.tif", dst, NULL), 0);
	CHECK_INT(lseek(dst, 0, SEEK_END), 10);
	sat_objstore_get_health(s, &h);
	CHECK_INT(h.bad_objects, 2);
	CHECK(h.ok); /* a bad object is no failure of the store */
	close(dst);
	sat_objstore_free(s);
	sat_fetch_free(f);
}

struct taker {
	struct sat_objstore *s;
	pthread_barrier_t *go;
	struct sat_objstore_lease lease, busy;
	int rc;
};

static void *taker_main(void *arg)
{
	struct taker *t = arg;

	pthread_barrier_wait(t->go);
	t->rc = sat_objstore_lease_take(t->s, "files/x.tif", 30, &t->lease,
					&t->busy);
	return NULL;
}

SAT_TEST(lease_take_contend_expire_takeover)
{
	struct rgw *r = rgw_shared();
	struct sat_objstore_opts oa = { .holder = "mount-a",
					.lease_skew_s = -1 };
	struct sat_objstore_opts ob = { .holder = "mount-b",
					.lease_skew_s = -1 };
	struct sat_objstore_opts oc = { .holder = "mount-c",
					.lease_skew_s = -1 };
	struct sat_objstore_opts od = { .holder = "mount-d",
					.lease_skew_s = -1 };
	struct sat_objstore *a, *b, *c, *d;
	struct sat_objstore_lease la, lb, busy, cur;
	struct taker tc, td;
	pthread_barrier_t go;
	pthread_t t1, t2;
	struct sat_fetch *f;
	struct taker *win;
	uint64_t t0;
	int rc;

	creds_env(r);
	f = fetch_new();
	a = store_open(f, r, "lease", &oa);
	b = store_open(f, r, "lease", &ob);
	c = store_open(f, r, "lease", &oc);
	d = store_open(f, r, "lease", &od);
	CHECK_INT(sat_objstore_lease_read(b, "files/x.tif", &cur), -ENOENT);
	CHECK_INT(sat_objstore_lease_take(a, "files/x.tif", 30, &la, NULL), 0);
	CHECK_STR(la.holder, "mount-a");
	CHECK(la.expires_s >= time(NULL) + 29);
	/* contended */
	CHECK_INT(sat_objstore_lease_take(b, "files/x.tif", 30, &lb, &busy),
		  -EEXIST);
	CHECK_STR(busy.holder, "mount-a");
	CHECK_INT(busy.expires_s, la.expires_s);
	CHECK_INT(sat_objstore_lease_read(b, "files/x.tif", &cur), 0);
	CHECK_STR(cur.token, la.token);
	/* released: free for the next one */
	CHECK_INT(sat_objstore_lease_release(a, &la), 0);
	CHECK_INT(sat_objstore_lease_read(b, "files/x.tif", &cur), -ENOENT);
	CHECK_INT(sat_objstore_lease_take(b, "files/x.tif", 1, &lb, NULL), 0);
	CHECK(strcmp(lb.name, "leases/files/x.tif") == 0);
	/* b "crashes": its lease expires */
	for (t0 = ms_now();
	     (rc = sat_objstore_lease_read(c, "files/x.tif", &cur)) == 0 &&
	     ms_now() - t0 < 5000;)
		usleep(100000);
	CHECK_INT(rc, -ENOENT);
	/* c and d race to take it over: exactly one does */
	pthread_barrier_init(&go, NULL, 2);
	tc = (struct taker){ .s = c, .go = &go };
	td = (struct taker){ .s = d, .go = &go };
	CHECK(pthread_create(&t1, NULL, taker_main, &tc) == 0);
	CHECK(pthread_create(&t2, NULL, taker_main, &td) == 0);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	pthread_barrier_destroy(&go);
	CHECK((tc.rc == 0) != (td.rc == 0));
	win = tc.rc == 0 ? &tc : &td;
	CHECK_INT((tc.rc == 0 ? td.rc : tc.rc), -EEXIST);
	CHECK_STR((tc.rc == 0 ? td.busy.holder : tc.busy.holder),
		  win->lease.holder);
	/* the successor of b's expired lease, named by its token */
	CHECK(strstr(win->lease.name, lb.token) != NULL);
	CHECK_INT(sat_objstore_lease_read(a, "files/x.tif", &cur), 0);
	CHECK_STR(cur.holder, win->lease.holder);
	/* b comes back and releases: its lease expired, so nothing is
	 * deleted, and the winner keeps the lease */
	CHECK_INT(sat_objstore_lease_release(b, &lb), 0);
	CHECK_INT(sat_objstore_head(a, "leases/files/x.tif", NULL), 0);
	CHECK_INT(sat_objstore_lease_take(a, "files/x.tif", 30, &la, &busy),
		  -EEXIST);
	CHECK_STR(busy.holder, win->lease.holder);
	/* the winner releases: free again */
	CHECK_INT(sat_objstore_lease_release(win->s, &win->lease), 0);
	CHECK_INT(sat_objstore_lease_read(a, "files/x.tif", &cur), -ENOENT);
	CHECK_INT(sat_objstore_lease_take(a, "files/x.tif", 30, &la, NULL), 0);
	CHECK_INT(sat_objstore_lease_release(a, &la), 0);
	sat_objstore_free(a);
	sat_objstore_free(b);
	sat_objstore_free(c);
	sat_objstore_free(d);
	sat_fetch_free(f);
}

/* The number of lines of the log file holding needle. */
static int log_lines(const char *path, const char *needle)
{
	char *text = satest_read_file(path, NULL), *p;
	int n = 0;

	for (p = text; (p = strstr(p, needle)); p++)
		n++;
	free(text);
	return n;
}

/* A store "at" a closed port of 127.0.0.1 (refused at once), with keys
 * in the environment. */
static void closed_port_store(struct rgw *fake)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int lfd;

	snprintf(fake->bucket, sizeof(fake->bucket), "bkt");
	snprintf(fake->region, sizeof(fake->region), "us-east-1");
	snprintf(fake->key, sizeof(fake->key), "AKFAKE");
	snprintf(fake->secret, sizeof(fake->secret), "fakeSecret");
	creds_env(fake);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(getsockname(lfd, (struct sockaddr *)&sa, &sl) == 0);
	close(lfd);
	snprintf(fake->endpoint, sizeof(fake->endpoint),
		 "http://127.0.0.1:%d", ntohs(sa.sin_port));
}

SAT_TEST(unreachable_store_fails_fast)
{
	struct sat_objstore_opts o = { .timeout_ms = 700,
				       .backoff_min_ms = 1000 };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct rgw fake = { 0 };
	struct sat_objstore_health h;
	struct sat_fetch_stats st0, st1;
	struct sat_objstore *s;
	struct sat_fetch *f;
	socklen_t sl;
	char log[600];
	uint64_t t0, dt;
	int lfd, dst;

	closed_port_store(&fake);
	snprintf(log, sizeof(log), "%s/log", satest_tmpdir());
	CHECK_INT(sat_log_setup(SAT_LOG_DEBUG, log, 0), 0);
	f = fetch_new();
	s = store_open(f, &fake, "down", &o);
	dst = empty_file("dst");
	t0 = ms_now();
	CHECK_INT(sat_objstore_get(s, "files/a.tif", dst, NULL), -EIO);
	dt = ms_now() - t0;
	CHECK(dt < 700);
	sat_objstore_get_health(s, &h);
	CHECK(!h.ok);
	CHECK_INT(h.last_err, -EIO);
	CHECK(strstr(h.last_why, "GET http://127.0.0.1:") != NULL);
	CHECK(strstr(h.last_why, "onnect") != NULL); /* curl's words */
	CHECK(h.retry_s >= h.last_err_s + 1);
	/* failing: answered at once, with no request */
	sat_fetch_get_stats(f, &st0);
	t0 = ms_now();
	CHECK_INT(sat_objstore_head(s, "files/a.tif", NULL), -EHOSTDOWN);
	CHECK_INT(sat_objstore_lease_take(s, "files/a.tif", 10, NULL, NULL),
		  -EHOSTDOWN);
	CHECK(ms_now() - t0 < 50);
	sat_fetch_get_stats(f, &st1);
	CHECK_INT(st1.requests, st0.requests);
	sat_objstore_get_health(s, &h);
	CHECK_INT(h.refused, 2);
	sat_objstore_free(s);

	/* a server that accepts and never answers: the deadline ends it */
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(listen(lfd, 16) == 0);
	sl = sizeof(sa);
	CHECK(getsockname(lfd, (struct sockaddr *)&sa, &sl) == 0);
	snprintf(fake.endpoint, sizeof(fake.endpoint), "http://127.0.0.1:%d",
		 ntohs(sa.sin_port));
	s = store_open(f, &fake, "hung", &o);
	t0 = ms_now();
	CHECK_INT(sat_objstore_head(s, "files/a.tif", NULL), -ETIMEDOUT);
	dt = ms_now() - t0;
	CHECK(dt >= 650);
	CHECK(dt < 2000);
	t0 = ms_now();
	CHECK_INT(sat_objstore_head(s, "files/a.tif", NULL), -EHOSTDOWN);
	CHECK(ms_now() - t0 < 50);
	sat_objstore_free(s);
	close(lfd);
	close(dst);
	sat_fetch_free(f);
	sat_log_setup(SAT_LOG_INFO, NULL, 0);
	/* one warning per store that went down, however many failures */
	CHECK_INT(log_lines(log, "rendering locally"), 2);
}

/* A backoff lasts its length whenever the failure falls: kept in whole
 * seconds, one recorded 5 ms before a second began let the next request
 * through 5 ms later (gateway_frozen_then_back failed so, in CI). */
SAT_TEST(backoff_lasts_across_a_second_boundary)
{
	struct sat_objstore_opts o = { .timeout_ms = 700, .max_tries = 1,
				       .backoff_min_ms = 1000 };
	struct rgw fake = { 0 };
	struct sat_objstore *s = NULL;
	struct sat_fetch *f;
	struct timespec a, b;
	int tries = 0;

	closed_port_store(&fake);
	f = fetch_new();
	/* a failure recorded in the last 20 ms of a wall-clock second (a
	 * fresh store each time one ends in the next second instead) */
	do {
		CHECK(++tries <= 10);
		if (s)
			sat_objstore_free(s);
		s = store_open(f, &fake, "boundary", &o);
		do {
			usleep(1000);
			clock_gettime(CLOCK_REALTIME, &a);
		} while (a.tv_nsec < 980000000 || a.tv_nsec >= 985000000);
		CHECK_INT(sat_objstore_head(s, "files/a.tif", NULL), -EIO);
		clock_gettime(CLOCK_REALTIME, &b);
	} while (b.tv_sec != a.tv_sec);
	usleep(40000); /* into the next second */
	CHECK_INT(sat_objstore_head(s, "files/a.tif", NULL), -EHOSTDOWN);
	sat_objstore_free(s);
	sat_fetch_free(f);
}

SAT_TEST(gateway_frozen_then_back)
{
	struct sat_objstore_opts o = { .timeout_ms = 800,
				       .backoff_min_ms = 1000 };
	struct sat_objstore_health h;
	struct sat_objstore *s;
	struct sat_fetch *f;
	char log[600];
	uint64_t t0, dt;
	pid_t pid;
	int rc;

	rgw_start(&private_rgw, "rgw-private");
	creds_env(&private_rgw);
	snprintf(log, sizeof(log), "%s/log", satest_tmpdir());
	CHECK_INT(sat_log_setup(SAT_LOG_INFO, log, 0), 0);
	f = fetch_new();
	s = store_open(f, &private_rgw, "frozen", &o);
	CHECK_INT(sat_objstore_head(s, "files/a.tif", NULL), -ENOENT);
	/* frozen: connections are accepted by the kernel, nothing answers */
	pid = rgw_pid(&private_rgw);
	CHECK(kill(pid, SIGSTOP) == 0);
	t0 = ms_now();
	rc = sat_objstore_head(s, "files/a.tif", NULL);
	dt = ms_now() - t0;
	kill(pid, SIGCONT);
	CHECK_INT(rc, -ETIMEDOUT);
	CHECK(dt < 2000);
	CHECK_INT(sat_objstore_head(s, "files/a.tif", NULL), -EHOSTDOWN);
	/* back: after the backoff, the next request goes, and works */
	for (t0 = ms_now();
	     (rc = sat_objstore_head(s, "files/a.tif", NULL)) == -EHOSTDOWN &&
	     ms_now() - t0 < 5000;)
		usleep(100000);
	CHECK_INT(rc, -ENOENT);
	sat_objstore_get_health(s, &h);
	CHECK(h.ok);
	CHECK_INT(h.failures, 0);
	/* gone: refused, quickly */
	CHECK_INT(rgw_script("stop", private_rgw.dir), 0);
	private_rgw.own = false;
	t0 = ms_now();
	CHECK_INT(sat_objstore_head(s, "files/a.tif", NULL), -EIO);
	CHECK(ms_now() - t0 < 1000);
	sat_objstore_free(s);
	sat_fetch_free(f);
	sat_log_setup(SAT_LOG_INFO, NULL, 0);
	CHECK_INT(log_lines(log, "rendering locally"), 2);
	CHECK_INT(log_lines(log, "working again"), 1);
}

SAT_TEST(credentials_never_logged)
{
	struct rgw *r = rgw_shared();
	struct sat_objstore_lease l;
	struct sat_objstore_health h;
	struct sat_objstore *s;
	struct sat_fetch *f;
	char log[600], *text;
	int src, dst;

	creds_env(r);
	snprintf(log, sizeof(log), "%s/log", satest_tmpdir());
	CHECK_INT(sat_log_setup(SAT_LOG_DEBUG, log, 0), 0);
	f = fetch_new();
	s = store_open(f, r, "secret", NULL);
	src = data_file("src", 5000, 3);
	dst = empty_file("dst");
	CHECK_INT(sat_objstore_put_if_absent(s, "files/s.tif", src, 5000,
					     NULL),
		  0);
	CHECK_INT(sat_objstore_get(s, "files/s.tif", dst, NULL), 0);
	CHECK_INT(sat_objstore_lease_take(s, "files/s.tif", 30, &l, NULL), 0);
	CHECK_INT(sat_objstore_lease_release(s, &l), 0);
	CHECK_INT(sat_objstore_delete(s, "files/s.tif"), 0);
	/* keys rotated under a running mount: a 403, read again, works */
	setenv("AWS_SECRET_ACCESS_KEY", "wrong-Secret-9f8e7d", 1);
	sat_objstore_free(s);
	s = store_open(f, r, "secret", NULL);
	setenv("AWS_SECRET_ACCESS_KEY", r->secret, 1);
	CHECK_INT(sat_objstore_head(s, "files/s.tif", NULL), -ENOENT);
	sat_objstore_free(s);
	/* a session token goes along (RGW without STS does not check it) */
	setenv("AWS_SESSION_TOKEN", "SessTok-0a1b2c3d4e5f", 1);
	s = store_open(f, r, "secret", NULL);
	CHECK_INT(sat_objstore_head(s, "files/s.tif", NULL), -ENOENT);
	sat_objstore_free(s);
	/* and a wrong secret with it: 403, logged, without any key */
	setenv("AWS_SECRET_ACCESS_KEY", "wrong-Secret-9f8e7d", 1);
	s = store_open(f, r, "secret", NULL);
	CHECK_INT(sat_objstore_get(s, "files/s.tif", dst, NULL), -EACCES);
	sat_objstore_get_health(s, &h);
	CHECK(!h.ok);
	CHECK(strstr(h.last_why, "HTTP 403 SignatureDoesNotMatch") != NULL);
	CHECK(strstr(h.last_why, "SessTok") == NULL);
	CHECK(strstr(h.last_why, "wrong-Secret") == NULL);
	CHECK(strstr(h.last_why, r->key) == NULL);
	sat_objstore_free(s);
	sat_fetch_free(f);
	sat_log_setup(SAT_LOG_INFO, NULL, 0);
	text = satest_read_file(log, NULL);
	CHECK(strstr(text, "shared store") != NULL); /* it did log */
	CHECK(strstr(text, "credentials read again") != NULL);
	CHECK(strstr(text, r->secret) == NULL);
	CHECK(strstr(text, r->key) == NULL);
	CHECK(strstr(text, "wrong-Secret-9f8e7d") == NULL);
	CHECK(strstr(text, "SessTok-0a1b2c3d4e5f") == NULL);
	free(text);
	close(src);
	close(dst);
}
