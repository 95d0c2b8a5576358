/*
 * jobs: see include/satfs/jobs.h.
 *
 * Threading: j->lock protects the job list, both queues, every job's
 * waiter list and the counters. Workers take a job under the lock, render
 * without it, then detach the waiter list under the lock and call the
 * waiters after unlocking. A job leaves the list when it ends, so a later
 * request for a file whose render failed starts a new job (a later open
 * tries again).
 *
 * A job holds a reference to its plan from its creation until its waiters
 * have been told (or, at shutdown, cancelled).
 *
 * Status: a job's progress record goes with its render to every request
 * (include/satfs/progress.h), where the fetch engine counts into it; the
 * recent failures
 * (j->failures, a ring) keep each failed key's cause for user.satfs.error.
 */
#include "satfs/jobs.h"
#include "satfs/cache.h"
#include "satfs/log.h"
#include "satfs/render.h"
#include "satfs/shared.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct waiter {
	struct waiter *next;
	sat_job_done_fn done;
	void *payload;
};

struct job {
	struct job *next;     /* in j->jobs */
	struct job *qnext;    /* in a queue while queued */
	struct sat_render_plan *plan; /* a reference */
	bool foreground;
	bool running;
	struct waiter *waiters;
	struct timespec queued_at;
	struct sat_progress *progress; /* atomics: no lock; counted */
};

#define JOBS_FAILURES_KEPT 128

struct failure {
	char key[SAT_HASH_HEX]; /* "" when the slot is free */
	time_t when;
	char cause[400];
};

struct queue {
	struct job *head, *tail;
};

struct sat_jobs {
	struct sat_cache *cache;
	struct sat_regioncloud *clouds; /* may be NULL; set before jobs */
	struct sat_shared *shared;      /* may be NULL; set before jobs */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *jobs;          /* queued and running; protected by lock */
	struct queue fg, pf;       /* protected by lock */
	int prefetch_running;      /* protected by lock */
	int prefetch_max;
	bool stopping;             /* protected by lock */
	pthread_t *threads;
	int nthreads;
	struct sat_jobs_stats stats; /* protected by lock */
	struct failure failures[JOBS_FAILURES_KEPT]; /* protected by lock */
	unsigned failures_next;                      /* protected by lock */
};

static void queue_push(struct queue *q, struct job *job)
{
	job->qnext = NULL;
	if (q->tail)
		q->tail->qnext = job;
	else
		q->head = job;
	q->tail = job;
}

static struct job *queue_pop(struct queue *q)
{
	struct job *job = q->head;

	if (job) {
		q->head = job->qnext;
		if (!q->head)
			q->tail = NULL;
	}
	return job;
}

static void queue_remove(struct queue *q, struct job *job)
{
	struct job **pp, *prev = NULL;

	for (pp = &q->head; *pp; prev = *pp, pp = &(*pp)->qnext) {
		if (*pp != job)
			continue;
		*pp = job->qnext;
		if (q->tail == job)
			q->tail = prev;
		return;
	}
}

static struct job *find_locked(struct sat_jobs *j, const char *key)
{
	struct job *job;

	for (job = j->jobs; job; job = job->next)
		if (strcmp(job->plan->key, key) == 0)
			return job;
	return NULL;
}

static void unlink_locked(struct sat_jobs *j, struct job *job)
{
	struct job **pp;

	for (pp = &j->jobs; *pp; pp = &(*pp)->next)
		if (*pp == job) {
			*pp = job->next;
			return;
		}
}

static struct failure *failure_find_locked(struct sat_jobs *j,
					   const char *key)
{
	for (unsigned i = 0; i < JOBS_FAILURES_KEPT; i++)
		if (strcmp(j->failures[i].key, key) == 0)
			return &j->failures[i];
	return NULL;
}

/* Remembers (err != 0) or forgets (err == 0) the failure of key's render. */
static void failure_note_locked(struct sat_jobs *j, const char *key, int err,
				const char *cause)
{
	struct failure *f = failure_find_locked(j, key);

	if (!err) {
		if (f)
			f->key[0] = '\0';
		return;
	}
	if (!f) {
		f = &j->failures[j->failures_next];
		j->failures_next = (j->failures_next + 1) % JOBS_FAILURES_KEPT;
	}
	snprintf(f->key, sizeof(f->key), "%s", key);
	snprintf(f->cause, sizeof(f->cause), "%s", cause);
	f->when = time(NULL);
}

static void jobs_want(struct sat_render_plan *const *plans, size_t n,
		      void *payload);
static int jobs_get(struct sat_render_plan *plan, int *fd, void *payload);
static void jobs_put(struct sat_render_plan *plan, void *payload);

static int render_here(struct sat_jobs *j, struct job *job, bool foreground)
{
	const struct sat_render_plan *p = job->plan;
	struct sat_filehash hash;
	struct sat_render_ctx ctx = {
		.prio = foreground ? SAT_FETCH_FOREGROUND : SAT_FETCH_PREFETCH,
		.progress = job->progress,
		.clouds = j->clouds,
		.want = jobs_want,
		.get = jobs_get,
		.put = jobs_put,
		.files_payload = j,
		.hash = &hash,
	};
	char tmp[4096];
	int fd, err;

	err = sat_cache_create_tmp(j->cache, SAT_CACHE_FILE, p->key, tmp,
				   sizeof(tmp), &fd);
	if (err)
		return err;
	/* the digest the cache records, taken as the file is written */
	sat_filehash_init(&hash);
	err = sat_render_run(p, &ctx, fd);
	if (err) {
		sat_filehash_discard(&hash);
		sat_cache_discard(tmp, fd);
		return err;
	}
	return sat_cache_publish_file(j->cache, p->key, tmp, fd, &hash);
}

/* With a shared store: the store's copy, or another mount's render
 * (waiting for it), else ours, uploaded afterwards (include/satfs/
 * shared.h). Whatever the store does, a file comes of it or the
 * render's own error. */
static int render_to_cache(struct sat_jobs *j, struct job *job, bool foreground)
{
	struct sat_shared_claim claim;
	int err;

	if (!j->shared)
		return render_here(j, job, foreground);
	err = sat_shared_obtain(j->shared, SAT_SHARED_FILE, job->plan->key,
				job->plan->size_bytes, &claim);
	if (err == 0 || err == -ECANCELED)
		return err;
	err = render_here(j, job, foreground);
	sat_shared_rendered(j->shared, SAT_SHARED_FILE, job->plan->key, &claim,
			    err);
	return err;
}

/* Runs job (taken off its queue, marked running, counted) on this thread,
 * tells its waiters and frees it. Called without the lock; returns the
 * render's result. */
static int job_run(struct sat_jobs *j, struct job *job, bool fg)
{
	struct waiter *w, *next;
	char cause[400];
	bool pinned;
	int err;

	/* pinned until the waiters have it open: the cap must not evict a
	 * file between its publication and their open */
	pinned = sat_cache_pin(j->cache, job->plan->key) == 0;
	sat_log_take_cause(cause, sizeof(cause)); /* a stale one */
	if (sat_cache_has_file(j->cache, job->plan->key))
		err = 0; /* rendered by an earlier mount */
	else
		err = render_to_cache(j, job, fg);
	/* the one line for this failure, with what caused it */
	sat_log_take_cause(cause, sizeof(cause));
	if (!cause[0] && err)
		snprintf(cause, sizeof(cause), "%s", strerror(-err));
	if (err && err != -ECANCELED)
		sat_error("render of %s.%s failed: %s", job->plan->item_id,
			  job->plan->product.name, cause);

	pthread_mutex_lock(&j->lock);
	if (err != -ECANCELED)
		failure_note_locked(j, job->plan->key, err, cause);
	if (!fg)
		j->prefetch_running--;
	j->stats.running--;
	if (err)
		j->stats.failed++;
	else
		j->stats.rendered++;
	unlink_locked(j, job);
	w = job->waiters;
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->lock);

	for (; w; w = next) {
		next = w->next;
		w->done(err, w->payload);
		free(w);
	}
	if (pinned)
		sat_cache_unpin(j->cache, job->plan->key);
	sat_render_plan_unref(job->plan);
	sat_progress_unref(job->progress);
	free(job);
	return err;
}

static void *worker_main(void *arg)
{
	struct sat_jobs *j = arg;

	pthread_mutex_lock(&j->lock);
	for (;;) {
		struct job *job;
		bool fg;

		job = queue_pop(&j->fg);
		if (!job && j->prefetch_running < j->prefetch_max) {
			job = queue_pop(&j->pf);
			if (job)
				j->prefetch_running++;
		}
		if (!job) {
			if (j->stopping)
				break;
			pthread_cond_wait(&j->cond, &j->lock);
			continue;
		}
		fg = job->foreground;
		job->running = true;
		j->stats.queued--;
		j->stats.running++;
		pthread_mutex_unlock(&j->lock);
		job_run(j, job, fg);
		pthread_mutex_lock(&j->lock);
	}
	pthread_mutex_unlock(&j->lock);
	return NULL;
}

int sat_jobs_new(struct sat_jobs **out, struct sat_cache *cache, int workers,
		 int prefetch_workers)
{
	struct sat_jobs *j = calloc(1, sizeof(*j));
	int i, err;

	*out = NULL;
	if (!j)
		return -ENOMEM;
	if (workers < 1)
		workers = 1;
	j->cache = cache;
	j->prefetch_max = prefetch_workers < workers ? prefetch_workers
						     : workers - 1;
	if (j->prefetch_max < 0)
		j->prefetch_max = 0;
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->cond, NULL);
	j->threads = calloc((size_t)workers, sizeof(*j->threads));
	if (!j->threads) {
		free(j);
		return -ENOMEM;
	}
	for (i = 0; i < workers; i++) {
		err = -pthread_create(&j->threads[i], NULL, worker_main, j);
		if (err) {
			j->nthreads = i;
			sat_jobs_free(j);
			return err;
		}
	}
	j->nthreads = workers;
	*out = j;
	return 0;
}

void sat_jobs_free(struct sat_jobs *j)
{
	struct job *job, *queued = NULL;
	struct waiter *w, *next;
	int i;

	if (!j)
		return;
	pthread_mutex_lock(&j->lock);
	j->stopping = true;
	/* queued jobs will not run: take them out before waking workers */
	while ((job = queue_pop(&j->fg)) || (job = queue_pop(&j->pf))) {
		unlink_locked(j, job);
		job->qnext = queued;
		queued = job;
	}
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->lock);
	for (i = 0; i < j->nthreads; i++)
		pthread_join(j->threads[i], NULL);
	while ((job = queued)) {
		queued = job->qnext;
		for (w = job->waiters; w; w = next) {
			next = w->next;
			w->done(-ECANCELED, w->payload);
			free(w);
		}
		sat_render_plan_unref(job->plan);
		sat_progress_unref(job->progress);
		free(job);
	}
	pthread_cond_destroy(&j->cond);
	pthread_mutex_destroy(&j->lock);
	free(j->threads);
	free(j);
}

/* A new job for plan, in j->jobs but in no queue; NULL when out of
 * memory. */
static struct job *job_new_locked(struct sat_jobs *j,
				  struct sat_render_plan *plan, bool foreground)
{
	struct job *job = calloc(1, sizeof(*job));

	if (job)
		job->progress = sat_progress_new();
	if (!job || !job->progress) {
		free(job);
		return NULL;
	}
	job->plan = sat_render_plan_ref(plan);
	job->foreground = foreground;
	clock_gettime(CLOCK_MONOTONIC, &job->queued_at);
	job->next = j->jobs;
	j->jobs = job;
	return job;
}

/* Makes *w, a waiter for done(payload) (none when done is NULL), and
 * takes j->lock: 0, or -ENOMEM / -ECANCELED (stopping) without either. */
static int lock_with_waiter(struct sat_jobs *j, sat_job_done_fn done,
			    void *payload, struct waiter **w)
{
	*w = NULL;
	if (done) {
		*w = calloc(1, sizeof(**w));
		if (!*w)
			return -ENOMEM;
		(*w)->done = done;
		(*w)->payload = payload;
	}
	pthread_mutex_lock(&j->lock);
	if (j->stopping) {
		pthread_mutex_unlock(&j->lock);
		free(*w);
		*w = NULL;
		return -ECANCELED;
	}
	return 0;
}

/* Finds or creates the job for plan; with a waiter when done != NULL. */
static int enqueue(struct sat_jobs *j, struct sat_render_plan *plan,
		   bool foreground, sat_job_done_fn done, void *payload)
{
	struct waiter *w;
	struct job *job;
	int err = lock_with_waiter(j, done, payload, &w);

	if (err)
		return err;
	job = find_locked(j, plan->key);
	if (!job) {
		job = job_new_locked(j, plan, foreground);
		if (!job) {
			pthread_mutex_unlock(&j->lock);
			free(w);
			return -ENOMEM;
		}
		queue_push(foreground ? &j->fg : &j->pf, job);
		j->stats.queued++;
		pthread_cond_signal(&j->cond);
	} else if (foreground && !job->foreground && !job->running) {
		/* someone waits for a queued prefetch: promote it */
		queue_remove(&j->pf, job);
		job->foreground = true;
		queue_push(&j->fg, job);
		pthread_cond_signal(&j->cond);
	}
	if (w) {
		w->next = job->waiters;
		job->waiters = w;
		j->stats.misses++;
	}
	pthread_mutex_unlock(&j->lock);
	return 0;
}

/* Wakes the thread blocked in run_now(). */
struct sync_wait {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;  /* protected by lock */
	int err;
};

static void sync_done(int err, void *payload)
{
	struct sync_wait *sw = payload;

	pthread_mutex_lock(&sw->lock);
	sw->err = err;
	sw->done = true;
	pthread_cond_signal(&sw->cond);
	pthread_mutex_unlock(&sw->lock);
}

/* Gets plan's file into the cache for a render that is made of it (a
 * time-lapse of quicklooks), on the calling worker: a job running
 * elsewhere is waited for (it needs nothing but the network: no cycle); a
 * queued one is taken off its queue and run here, as is a new one, so
 * that renders waiting for others can never take every worker and
 * starve them. */
static int run_now(struct sat_jobs *j, struct sat_render_plan *plan)
{
	struct sync_wait sw = { .lock = PTHREAD_MUTEX_INITIALIZER,
				.cond = PTHREAD_COND_INITIALIZER };
	struct waiter *w;
	struct job *job;
	int err;

	if (sat_cache_has_file(j->cache, plan->key))
		return 0;
	err = lock_with_waiter(j, sync_done, &sw, &w);
	if (err)
		return err;
	job = find_locked(j, plan->key);
	if (job && !job->running) {
		queue_remove(job->foreground ? &j->fg : &j->pf, job);
		j->stats.queued--;
	} else if (!job) {
		job = job_new_locked(j, plan, true);
		if (!job) {
			pthread_mutex_unlock(&j->lock);
			free(w);
			return -ENOMEM;
		}
	}
	w->next = job->waiters;
	job->waiters = w;
	j->stats.misses++;
	if (job->running) {
		pthread_mutex_unlock(&j->lock);
		pthread_mutex_lock(&sw.lock);
		while (!sw.done)
			pthread_cond_wait(&sw.cond, &sw.lock);
		err = sw.err;
		pthread_mutex_unlock(&sw.lock);
	} else {
		job->foreground = true;
		job->running = true;
		j->stats.running++;
		pthread_mutex_unlock(&j->lock);
		err = job_run(j, job, true);
	}
	pthread_cond_destroy(&sw.cond);
	pthread_mutex_destroy(&sw.lock);
	return err;
}

/* The render context's want/get/put (include/satfs/render.h). */
static void jobs_want(struct sat_render_plan *const *plans, size_t n,
		      void *payload)
{
	struct sat_jobs *j = payload;

	for (size_t i = 0; i < n; i++)
		if (!sat_cache_has_file(j->cache, plans[i]->key))
			enqueue(j, plans[i], true, NULL, NULL);
}

static int jobs_get(struct sat_render_plan *plan, int *fd, void *payload)
{
	struct sat_jobs *j = payload;
	char why[256];
	int err = 0;

	/* a second time when the file went between its render and the
	 * open (satfs cache --clear), or was found damaged */
	for (int tries = 0; tries < 2; tries++) {
		err = run_now(j, plan);
		if (!err)
			err = sat_cache_open_checked(j->cache, plan->key,
						     plan->size_bytes, fd, why,
						     sizeof(why));
		if (err == -EBADMSG) {
			sat_warn("cache: %s.%s: the cached file is damaged "
				 "(%s); rendered again", plan->item_id,
				 plan->product.name, why);
			err = -ENOENT;
		}
		if (err != -ENOENT)
			break;
	}
	return err;
}

static void jobs_put(struct sat_render_plan *plan, void *payload)
{
	struct sat_jobs *j = payload;

	sat_cache_close_file(j->cache, plan->key);
}

int sat_jobs_request(struct sat_jobs *j, struct sat_render_plan *plan,
		     sat_job_done_fn done, void *payload)
{
	int err;

	if (sat_cache_has_file(j->cache, plan->key)) {
		pthread_mutex_lock(&j->lock);
		j->stats.cache_hits++;
		pthread_mutex_unlock(&j->lock);
		done(0, payload);
		return 0;
	}
	err = enqueue(j, plan, true, done, payload);
	if (err == -ECANCELED) {
		done(err, payload);
		return 0;
	}
	return err;
}

void sat_jobs_set_regioncloud(struct sat_jobs *j, struct sat_regioncloud *rc)
{
	j->clouds = rc;
}

void sat_jobs_set_shared(struct sat_jobs *j, struct sat_shared *sh)
{
	j->shared = sh;
}

void sat_jobs_prefetch(struct sat_jobs *j, struct sat_render_plan *plan)
{
	/* a large file is someone's deliberate choice, not a guess */
	if (j->prefetch_max == 0 ||
	    plan->size_bytes > SAT_JOBS_PREFETCH_MAX_BYTES ||
	    sat_cache_has_file(j->cache, plan->key))
		return;
	enqueue(j, plan, false, NULL, NULL);
}

bool sat_jobs_in_flight(struct sat_jobs *j, const char *key)
{
	bool found;

	pthread_mutex_lock(&j->lock);
	found = find_locked(j, key) != NULL;
	pthread_mutex_unlock(&j->lock);
	return found;
}

void sat_jobs_get_stats(struct sat_jobs *j, struct sat_jobs_stats *st)
{
	pthread_mutex_lock(&j->lock);
	*st = j->stats;
	pthread_mutex_unlock(&j->lock);
}

int sat_jobs_list(struct sat_jobs *j, struct sat_job_info **out, size_t *n)
{
	struct sat_job_info *v;
	struct timespec now;
	struct waiter *w;
	struct job *job;
	size_t count = 0, i;

	*out = NULL;
	*n = 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&j->lock);
	for (job = j->jobs; job; job = job->next)
		count++;
	if (!count) {
		pthread_mutex_unlock(&j->lock);
		return 0;
	}
	v = calloc(count, sizeof(*v));
	if (!v) {
		pthread_mutex_unlock(&j->lock);
		return -ENOMEM;
	}
	/* j->jobs is newest first: fill from the end */
	for (job = j->jobs, i = count; job; job = job->next) {
		struct sat_job_info *ji = &v[--i];

		ji->plan = sat_render_plan_ref(job->plan);
		ji->running = job->running;
		ji->foreground = job->foreground;
		for (w = job->waiters; w; w = w->next)
			ji->waiters++;
		ji->age_s = (double)(now.tv_sec - job->queued_at.tv_sec) +
			    (double)(now.tv_nsec - job->queued_at.tv_nsec) /
				    1e9;
		sat_progress_read(job->progress, &ji->progress);
	}
	pthread_mutex_unlock(&j->lock);
	*out = v;
	*n = count;
	return 0;
}

void sat_jobs_list_free(struct sat_job_info *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		sat_render_plan_unref(v[i].plan);
	free(v);
}

int sat_jobs_last_error(struct sat_jobs *j, const char *key, char *msg,
			size_t len, time_t *when)
{
	struct failure *f;

	pthread_mutex_lock(&j->lock);
	f = key[0] ? failure_find_locked(j, key) : NULL;
	if (f) {
		snprintf(msg, len, "%s", f->cause);
		if (when)
			*when = f->when;
	}
	pthread_mutex_unlock(&j->lock);
	return f ? 0 : -ENOENT;
}
