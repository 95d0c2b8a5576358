/*
 * progress: how far one render's downloads have got, for the status file.
 *
 * A render job owns a record and hands it down, with the render, to the
 * source's reads, which put it in every request they submit
 * (sat_fetch_req.progress); the fetch engine counts into it from its I/O
 * thread.
 *
 * The counters are atomics: the I/O thread adds, readers take a snapshot
 * with no lock. A record is counted by references: a request can outlive
 * the render that submitted it (a look-ahead, or the tiles still coming
 * when another one failed), so the fetch engine holds one for each
 * request that names the record.
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
	_Atomic uint32_t refs;
};

/* A zeroed record with one reference, or NULL (out of memory). */
struct sat_progress *sat_progress_new(void);
/* Both accept NULL. The last unref frees the record. */
void sat_progress_ref(struct sat_progress *p);
void sat_progress_unref(struct sat_progress *p);

/* Plain numbers from a record (relaxed loads). */
struct sat_progress_snapshot {
	uint64_t bytes_done, bytes_wanted;
	uint32_t requests, retries;
};
void sat_progress_read(const struct sat_progress *p,
		       struct sat_progress_snapshot *out);

#endif
