/*
 * Unit tests for render jobs (fs/jobs.c) against a fake source
 * (fake_source.h): real plans, the real renderer and the real cache; the
 * source's reads wait at a gate the test opens, so what runs when is the
 * test's to decide. Also run under ThreadSanitizer (scripts/test, stage
 * tsan).
 */
#include "fake_source.h"

#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "satfs/jobs.h"
#include "satfs/render.h"

/* What the done callbacks were told. */
struct outcome {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int calls;
	int err[16];
	pthread_t thread[16];
};

static void outcome_init(struct outcome *o)
{
	memset(o, 0, sizeof(*o));
	pthread_mutex_init(&o->lock, NULL);
	pthread_cond_init(&o->cond, NULL);
}

static void on_done(int err, void *payload)
{
	struct outcome *o = payload;

	pthread_mutex_lock(&o->lock);
	if (o->calls < 16) {
		o->err[o->calls] = err;
		o->thread[o->calls] = pthread_self();
	}
	o->calls++;
	pthread_cond_broadcast(&o->cond);
	pthread_mutex_unlock(&o->lock);
}

static void outcome_wait(struct outcome *o, int calls)
{
	pthread_mutex_lock(&o->lock);
	while (o->calls < calls)
		pthread_cond_wait(&o->cond, &o->lock);
	pthread_mutex_unlock(&o->lock);
}

struct fixture {
	struct sat_config *cfg;
	struct fake_source fs;
	struct sat_cache *cache;
	struct sat_jobs *jobs;
};

static void fixture_init(struct fixture *fx, int workers, int prefetch)
{
	char dir[4096];

	fx->cfg = fake_config(NULL, NULL);
	fake_init(&fx->fs, fx->cfg);
	snprintf(dir, sizeof(dir), "%s/cache", satest_tmpdir());
	CHECK_INT(sat_cache_new(&fx->cache, dir, 0), 0);
	CHECK_INT(sat_jobs_new(&fx->jobs, fx->cache, workers, prefetch), 0);
}

static void fixture_done(struct fixture *fx)
{
	sat_jobs_free(fx->jobs);
	sat_cache_free(fx->cache);
	fake_destroy(&fx->fs);
	sat_config_free(fx->cfg);
}

/* A plan for item id in the configuration's region and first product. */
static struct sat_render_plan *plan_for(struct fixture *fx, const char *id)
{
	struct fake_scene_spec sp = { .cloud = 1 };
	struct sat_render_plan *p;
	struct sat_scene *s;

	snprintf(sp.id, sizeof(sp.id), "%s", id);
	snprintf(sp.date, sizeof(sp.date), "2024-01-03");
	s = fake_scene(&fx->fs, &sp);
	CHECK_INT(sat_render_plan_new(&p, s, fx->cfg->products[0],
				      fx->cfg->regions[0],
				      fx->cfg->offset_mode), 0);
	sat_scene_free(s);
	return p;
}

static uint64_t cached_size(struct fixture *fx, const char *key)
{
	char path[4096];
	struct stat st;

	sat_cache_path(fx->cache, SAT_CACHE_FILE, key, path, sizeof(path));
	return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* A file already in the cache: done at once, on the caller's thread, and
 * nothing read. */
SAT_TEST(cached_file_answers_at_once)
{
	struct fixture fx;
	struct sat_render_plan *p;
	struct sat_jobs_stats st;
	struct outcome o;
	char tmp[4096];
	int fd;

	fixture_init(&fx, 2, 1);
	outcome_init(&o);
	p = plan_for(&fx, "S2A_CACHED");
	CHECK_INT(sat_cache_create_tmp(fx.cache, SAT_CACHE_FILE, p->key, tmp,
				       sizeof(tmp), &fd), 0);
	CHECK(write(fd, "x", 1) == 1);
	CHECK_INT(sat_cache_publish(fx.cache, SAT_CACHE_FILE, p->key, tmp, fd),
		  0);
	CHECK_INT(sat_jobs_request(fx.jobs, p, on_done, &o), 0);
	CHECK_INT(o.calls, 1); /* before returning */
	CHECK_INT(o.err[0], 0);
	CHECK(pthread_equal(o.thread[0], pthread_self()));
	CHECK_INT(fake_get(&fx.fs, &fx.fs.reads), 0);
	sat_jobs_get_stats(fx.jobs, &st);
	CHECK_INT(st.cache_hits, 1);
	CHECK_INT(st.misses, 0);
	sat_render_plan_unref(p);
	fixture_done(&fx);
}

/* Three requests for one file while it renders: one job, one render,
 * three answers, and the file in the cache at the planned size. */
SAT_TEST(one_render_for_every_waiter)
{
	struct fixture fx;
	struct sat_render_plan *p;
	struct sat_jobs_stats st;
	struct sat_job_info *info;
	struct outcome o;
	size_t n;

	fixture_init(&fx, 4, 1);
	outcome_init(&o);
	p = plan_for(&fx, "S2A_SHARED");
	fake_gate(&fx.fs, &fx.fs.gate, true);
	for (int i = 0; i < 3; i++)
		CHECK_INT(sat_jobs_request(fx.jobs, p, on_done, &o), 0);
	fake_wait_for(&fx.fs, &fx.fs.waiting, 1);
	CHECK(sat_jobs_in_flight(fx.jobs, p->key));
	CHECK_INT(sat_jobs_list(fx.jobs, &info, &n), 0);
	CHECK_INT(n, 1);
	CHECK_INT(info[0].waiters, 3);
	CHECK(info[0].running && info[0].foreground);
	CHECK_STR(info[0].plan->key, p->key);
	sat_jobs_list_free(info, n);
	fake_gate(&fx.fs, &fx.fs.gate, false);
	outcome_wait(&o, 3);
	for (int i = 0; i < 3; i++)
		CHECK_INT(o.err[i], 0);
	CHECK_INT(fx.fs.norder, 1);
	CHECK_INT(cached_size(&fx, p->key), p->size_bytes);
	CHECK(!sat_jobs_in_flight(fx.jobs, p->key));
	sat_jobs_get_stats(fx.jobs, &st);
	CHECK_INT(st.rendered, 1);
	CHECK_INT(st.misses, 3);
	sat_render_plan_unref(p);
	fixture_done(&fx);
}

/* The job holds the plan: the requester may drop its reference at once
 * (AddressSanitizer would see the render read a freed plan), and the
 * status snapshot holds one of its own. */
SAT_TEST(job_holds_its_plan)
{
	struct fixture fx;
	struct sat_render_plan *p;
	struct sat_job_info *info;
	struct outcome o;
	char key[SAT_HASH_HEX];
	uint64_t size;
	size_t n;

	fixture_init(&fx, 1, 0);
	outcome_init(&o);
	p = plan_for(&fx, "S2A_DROPPED");
	snprintf(key, sizeof(key), "%s", p->key);
	size = p->size_bytes;
	fake_gate(&fx.fs, &fx.fs.gate, true);
	CHECK_INT(sat_jobs_request(fx.jobs, p, on_done, &o), 0);
	sat_render_plan_unref(p); /* the job's reference is the last */
	fake_wait_for(&fx.fs, &fx.fs.waiting, 1);
	CHECK_INT(sat_jobs_list(fx.jobs, &info, &n), 0);
	CHECK_INT(n, 1);
	fake_gate(&fx.fs, &fx.fs.gate, false);
	outcome_wait(&o, 1);
	CHECK_INT(o.err[0], 0);
	/* the job is gone; the snapshot's plan is still whole */
	CHECK_STR(info[0].plan->key, key);
	CHECK_INT(info[0].plan->size_bytes, size);
	sat_jobs_list_free(info, n);
	CHECK_INT(cached_size(&fx, key), size);
	fixture_done(&fx);
}

/* Prefetch runs on its share of the workers only, never ahead of a file
 * someone waits for, and a queued prefetch someone starts waiting for
 * becomes foreground. Two workers, one for prefetch; the gate decides
 * which render may finish. */
SAT_TEST(prefetch_never_ahead_of_foreground)
{
	struct fixture fx;
	struct sat_render_plan *a, *b, *p1, *p2, *p3;
	struct sat_job_info *info;
	struct outcome o;
	int running = 0;
	char buf[64];
	size_t n, i;

	fixture_init(&fx, 2, 1);
	outcome_init(&o);
	a = plan_for(&fx, "A");
	b = plan_for(&fx, "B");
	p1 = plan_for(&fx, "P1");
	p2 = plan_for(&fx, "P2");
	p3 = plan_for(&fx, "P3");
	fake_gate(&fx.fs, &fx.fs.gate, true);
	CHECK_INT(sat_jobs_request(fx.jobs, a, on_done, &o), 0);
	sat_jobs_prefetch(fx.jobs, p1);
	sat_jobs_prefetch(fx.jobs, p2);
	sat_jobs_prefetch(fx.jobs, p3);
	fake_wait_for(&fx.fs, &fx.fs.norder, 2); /* A and P1 */
	/* one prefetch at a time: P2 and P3 wait, though nothing else does */
	CHECK_INT(sat_jobs_list(fx.jobs, &info, &n), 0);
	CHECK_INT(n, 4);
	for (i = 0; i < n; i++)
		running += info[i].running;
	CHECK_INT(running, 2);
	sat_jobs_list_free(info, n);
	/* someone waits for B, and for the queued P3 */
	CHECK_INT(sat_jobs_request(fx.jobs, b, on_done, &o), 0);
	CHECK_INT(sat_jobs_request(fx.jobs, p3, on_done, &o), 0);
	CHECK_INT(sat_jobs_list(fx.jobs, &info, &n), 0);
	for (i = 0; i < n; i++)
		if (strcmp(info[i].plan->item_id, "P3") == 0)
			CHECK(info[i].foreground && !info[i].running);
	sat_jobs_list_free(info, n);

	fake_let_pass(&fx.fs, "A"); /* A's worker takes B, not P2 */
	fake_wait_for(&fx.fs, &fx.fs.norder, 3);
	CHECK_STR(fake_order(&fx.fs, 2, buf), "B");
	fake_let_pass(&fx.fs, "B"); /* then P3, promoted */
	fake_wait_for(&fx.fs, &fx.fs.norder, 4);
	CHECK_STR(fake_order(&fx.fs, 3, buf), "P3");
	fake_gate(&fx.fs, &fx.fs.gate, false);
	outcome_wait(&o, 3);
	for (i = 0; i < 3; i++)
		CHECK_INT(o.err[i], 0);
	while (sat_jobs_in_flight(fx.jobs, p2->key) ||
	       sat_jobs_in_flight(fx.jobs, p1->key))
		usleep(1000);
	CHECK_STR(fake_order(&fx.fs, 4, buf), "P2");
	CHECK_INT(cached_size(&fx, p2->key), p2->size_bytes);
	sat_render_plan_unref(a);
	sat_render_plan_unref(b);
	sat_render_plan_unref(p1);
	sat_render_plan_unref(p2);
	sat_render_plan_unref(p3);
	fixture_done(&fx);
}

/* A failing source: the waiter gets -EIO, the cause is kept for
 * user.satfs.error, nothing is cached, and the next request renders
 * again (and clears the failure when it works). */
SAT_TEST(failure_remembered_then_retried)
{
	struct fixture fx;
	struct sat_render_plan *p;
	struct sat_jobs_stats st;
	struct outcome o;
	char msg[400];
	time_t when = 0;

	fixture_init(&fx, 2, 1);
	outcome_init(&o);
	p = plan_for(&fx, "S2A_BROKEN");
	fake_set(&fx.fs, &fx.fs.read_err, -EIO);
	CHECK_INT(sat_jobs_request(fx.jobs, p, on_done, &o), 0);
	outcome_wait(&o, 1);
	CHECK_INT(o.err[0], -EIO);
	CHECK_INT(sat_jobs_last_error(fx.jobs, p->key, msg, sizeof(msg),
				      &when), 0);
	CHECK(strstr(msg, "S2A_BROKEN: the pixels failed") != NULL);
	CHECK(when > 0);
	CHECK_INT(cached_size(&fx, p->key), 0);
	sat_jobs_get_stats(fx.jobs, &st);
	CHECK_INT(st.failed, 1);

	fake_set(&fx.fs, &fx.fs.read_err, 0);
	CHECK_INT(sat_jobs_request(fx.jobs, p, on_done, &o), 0);
	outcome_wait(&o, 2);
	CHECK_INT(o.err[1], 0);
	CHECK_INT(cached_size(&fx, p->key), p->size_bytes);
	CHECK_INT(sat_jobs_last_error(fx.jobs, p->key, msg, sizeof(msg), NULL),
		  -ENOENT);
	sat_render_plan_unref(p);
	fixture_done(&fx);
}

/* A render the source cancels is not a failure to remember. */
SAT_TEST(cancelled_render_is_not_a_failure)
{
	struct fixture fx;
	struct sat_render_plan *p;
	struct outcome o;
	char msg[64];

	fixture_init(&fx, 1, 0);
	outcome_init(&o);
	p = plan_for(&fx, "S2A_CANCELLED");
	fake_set(&fx.fs, &fx.fs.read_err, -ECANCELED);
	CHECK_INT(sat_jobs_request(fx.jobs, p, on_done, &o), 0);
	outcome_wait(&o, 1);
	CHECK_INT(o.err[0], -ECANCELED);
	CHECK_INT(sat_jobs_last_error(fx.jobs, p->key, msg, sizeof(msg), NULL),
		  -ENOENT);
	sat_render_plan_unref(p);
	fixture_done(&fx);
}

static void *free_jobs(void *arg)
{
	sat_jobs_free(arg);
	return NULL;
}

/* Shutdown: the running render finishes and its waiter is told; the
 * queued one is cancelled (-ECANCELED), never started. */
SAT_TEST(shutdown_cancels_queued_jobs)
{
	struct fixture fx;
	struct sat_render_plan *a, *b;
	struct outcome oa, ob;
	pthread_t th;

	fixture_init(&fx, 1, 0);
	outcome_init(&oa);
	outcome_init(&ob);
	a = plan_for(&fx, "RUNNING");
	b = plan_for(&fx, "QUEUED");
	fake_gate(&fx.fs, &fx.fs.gate, true);
	CHECK_INT(sat_jobs_request(fx.jobs, a, on_done, &oa), 0);
	fake_wait_for(&fx.fs, &fx.fs.waiting, 1);
	CHECK_INT(sat_jobs_request(fx.jobs, b, on_done, &ob), 0);
	CHECK_INT(pthread_create(&th, NULL, free_jobs, fx.jobs), 0);
	/* the jobs object lives until the running render ends, which the
	 * gate holds: free_jobs has taken QUEUED out once it is not in
	 * flight any more */
	while (sat_jobs_in_flight(fx.jobs, b->key))
		usleep(1000);
	fake_gate(&fx.fs, &fx.fs.gate, false);
	CHECK_INT(pthread_join(th, NULL), 0);
	fx.jobs = NULL;
	CHECK_INT(oa.calls, 1);
	CHECK_INT(oa.err[0], 0);
	CHECK_INT(ob.calls, 1);
	CHECK_INT(ob.err[0], -ECANCELED);
	CHECK_INT(fx.fs.norder, 1);
	CHECK_INT(cached_size(&fx, b->key), 0);
	sat_render_plan_unref(a);
	sat_render_plan_unref(b);
	fixture_done(&fx);
}
