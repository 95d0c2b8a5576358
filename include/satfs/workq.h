/*
 * workq: a pool of threads, for work that may block (the catalog), so that
 * the threads that submit it (FUSE's) never do, and for CPU work spread
 * over the cores (decoding tiles).
 *
 * Thread-safe. Items run in submission order on up to `threads` threads
 * (more for an elastic pool), urgent ones before the others.
 */
#ifndef SATFS_WORKQ_H
#define SATFS_WORKQ_H

#include <stdint.h>

struct sat_workq;

typedef void (*sat_work_fn)(void *payload);

int sat_workq_new(struct sat_workq **out, int threads);
/* A pool of `threads` threads that grows, one thread for each item that
 * finds none idle, up to max_threads: work that waits on one slow server
 * never makes the work for another wait behind it. */
int sat_workq_new_elastic(struct sat_workq **out, int threads,
			  int max_threads);
/* Runs every queued item, then stops the threads. */
void sat_workq_free(struct sat_workq *q);
/* Queues fn(payload). Returns 0 or -ENOMEM (fn not called). */
int sat_workq_submit(struct sat_workq *q, sat_work_fn fn, void *payload);
/* The same, ahead of every item not submitted this way. */
int sat_workq_submit_urgent(struct sat_workq *q, sat_work_fn fn,
			    void *payload);
/* The same, but at most one item of a given key (not 0) runs at a time:
 * the others wait in the queue, holding no thread (the listings of one
 * region, which would all wait for the first one anyway). */
int sat_workq_submit_keyed(struct sat_workq *q, uint64_t key, sat_work_fn fn,
			   void *payload);

#endif
