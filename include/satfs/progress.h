/*
 * progress: how far one render's downloads have got, for the status file.
 *
 * A render runs on one worker thread and submits every request from that
 * thread (sat_fetch_all waits for them all before it returns). Rather than
 * thread a counter through render, cogread and fetch, the worker names its
 * record once (sat_progress_set_current) and the fetch engine picks it up
 * at submit and counts into it from its I/O thread.
 *
 * The counters are atomics: the I/O thread adds, readers take a snapshot
 * with no lock. The record must outlive the requests submitted while it
 * was current (it does: the worker's render waits for all of them).
 */
#ifndef SATFS_PROGRESS_H
#define SATFS_PROGRESS_H

#include <stdatomic.h>
#include <stdint.h>

struct sat_progress {
	_Atomic uint64_t bytes_done;   /* body bytes received so far */
	_Atomic uint64_t bytes_wanted; /* bytes of the ranges requested */
	_Atomic uint32_t requests;     /* HTTP requests, retries included */
	_Atomic uint32_t retries;
};

/* The calling thread's current record (NULL: count nowhere). */
void sat_progress_set_current(struct sat_progress *p);
struct sat_progress *sat_progress_current(void);

/* Plain numbers from a record (relaxed loads). */
struct sat_progress_snapshot {
	uint64_t bytes_done, bytes_wanted;
	uint32_t requests, retries;
};
void sat_progress_read(const struct sat_progress *p,
		       struct sat_progress_snapshot *out);

#endif
