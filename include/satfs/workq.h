/*
 * workq: a pool of threads, for work that may block (the catalog), so that
 * the threads that submit it (FUSE's) never do, and for CPU work spread
 * over the cores (decoding tiles).
 *
 * Thread-safe. Items run in submission order on up to `threads` threads,
 * urgent ones before the others.
 */
#ifndef SATFS_WORKQ_H
#define SATFS_WORKQ_H

struct sat_workq;

typedef void (*sat_work_fn)(void *payload);

int sat_workq_new(struct sat_workq **out, int threads);
/* Runs every queued item, then stops the threads. */
void sat_workq_free(struct sat_workq *q);
/* Queues fn(payload). Returns 0 or -ENOMEM (fn not called). */
int sat_workq_submit(struct sat_workq *q, sat_work_fn fn, void *payload);
/* The same, ahead of every item not submitted this way. */
int sat_workq_submit_urgent(struct sat_workq *q, sat_work_fn fn,
			    void *payload);

#endif
