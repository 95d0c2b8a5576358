/*
 * jobs: render jobs, one per output file, shared by everyone who wants it.
 *
 * A request for a file that is already in the cache completes at once. One
 * that is not starts a job, or joins the job in flight for the same key;
 * when the job ends every waiter is told. Jobs run on a pool of worker
 * threads: foreground jobs (someone is waiting) first, prefetch jobs only
 * on a bounded share of the workers and never ahead of a foreground one. A
 * prefetch job that someone starts waiting for becomes foreground.
 *
 * Thread-safe. Callbacks run on a worker thread (or on the caller's, when
 * the file is cached) and must not block for long.
 */
#ifndef SATFS_JOBS_H
#define SATFS_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "satfs/progress.h"

struct sat_cache;
struct sat_render_plan;
struct sat_jobs;

/* err is 0 when the file is in the cache, else the render's -errno. */
typedef void (*sat_job_done_fn)(int err, void *payload);

/* Renders run on `workers` threads, at most prefetch_workers of them
 * speculative ones at a time. */
int sat_jobs_new(struct sat_jobs **out, struct sat_cache *cache, int workers,
		 int prefetch_workers);
/* Renders then get their region cloud covers there (borrowed; must
 * outlive j). Call before the first request. */
struct sat_regioncloud;
void sat_jobs_set_regioncloud(struct sat_jobs *j, struct sat_regioncloud *rc);
/* Renders then look in the shared store first and upload what they
 * made (include/satfs/shared.h; borrowed, must outlive j). Call before
 * the first request. */
struct sat_shared;
void sat_jobs_set_shared(struct sat_jobs *j, struct sat_shared *sh);
/* Waits for running jobs, fails queued ones with -ECANCELED. */
void sat_jobs_free(struct sat_jobs *j);

/* Gets plan's file into the cache and calls done exactly once. A job
 * takes its own reference to plan, held until its waiters are told: the
 * caller may drop its own as soon as this returns. Returns 0, or -ENOMEM
 * (done not called). */
int sat_jobs_request(struct sat_jobs *j, struct sat_render_plan *plan,
		     sat_job_done_fn done, void *payload);

/* Files larger than this are never rendered speculatively: prefetching
 * the next four 400 MB files of a region because one was opened costs
 * more memory, disk and network than the guess is worth. */
#define SAT_JOBS_PREFETCH_MAX_BYTES (64u << 20)

/* Queues a speculative render unless the file is cached or in flight, or
 * larger than SAT_JOBS_PREFETCH_MAX_BYTES (with its own reference to
 * plan, as sat_jobs_request). */
void sat_jobs_prefetch(struct sat_jobs *j, struct sat_render_plan *plan);

/* Is a job for this key queued or running? */
bool sat_jobs_in_flight(struct sat_jobs *j, const char *key);

struct sat_jobs_stats {
	uint64_t rendered;   /* jobs that succeeded */
	uint64_t failed;
	uint64_t cache_hits; /* requests answered from the cache */
	uint64_t misses;     /* requests that started or joined a job */
	uint32_t queued, running;
};
void sat_jobs_get_stats(struct sat_jobs *j, struct sat_jobs_stats *st);

/* A job in flight, for the status file. */
struct sat_job_info {
	struct sat_render_plan *plan; /* a reference: sat_jobs_list_free */
	bool running;
	bool foreground;      /* someone waits (else a prefetch) */
	unsigned waiters;
	double age_s;         /* since it was queued */
	struct sat_progress_snapshot progress;
};
/* A snapshot of the jobs queued and running, oldest first. *out is
 * malloc'd (NULL when n is 0) and holds a reference to each plan: free it
 * with sat_jobs_list_free(). Returns 0 or -ENOMEM. */
int sat_jobs_list(struct sat_jobs *j, struct sat_job_info **out, size_t *n);
void sat_jobs_list_free(struct sat_job_info *v, size_t n);

/* When the last render of key failed (and none succeeded since): copies
 * the failure's cause into msg, sets *when, returns 0. Else -ENOENT. The
 * most recent failures are kept (a bounded number). */
int sat_jobs_last_error(struct sat_jobs *j, const char *key, char *msg,
			size_t len, time_t *when);

#endif
