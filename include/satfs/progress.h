/*
 * progress: how far one render's downloads have got, for the status file.
 *
 * A render job owns a record and hands it down, with the render, to the
 * source's reads, which put it in every request they submit
 * (sat_fetch_req.progress); the fetch engine counts into it from its I/O
 * thread.
 *
 * The counters are atomics: the I/O thread adds, readers take a snapshot
 * with no lock. The record must outlive the requests that name it (it
 * does: a render waits for all of its requests).
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

/* Plain numbers from a record (relaxed loads). */
struct sat_progress_snapshot {
	uint64_t bytes_done, bytes_wanted;
	uint32_t requests, retries;
};
void sat_progress_read(const struct sat_progress *p,
		       struct sat_progress_snapshot *out);

#endif
