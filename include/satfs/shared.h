/*
 * shared: the shared cache tier in the daemon (docs/SCALE-OUT.md): how
 * the render path (fs/jobs.c) and the COG header cache (fs/cogread.c) use
 * an S3-compatible store (include/satfs/objstore.h) that several mounts
 * share. The store is an accelerator, never a dependency: every function
 * here that fails leaves the caller to do what it would do without a
 * store (render, fetch the header), and none blocks longer than the
 * store's deadlines or, for a render another mount holds, the wait.
 *
 * Objects, under the store's prefix, named by the local cache's keys
 * (docs/ARCHITECTURE.md "The cache: layout and invariants", invariant 2:
 * equal keys mean equal bytes):
 *
 *   files/<key>.tif           the bytes of CACHE/files/<key>.tif
 *   headers/<key>.hdr         the bytes of CACHE/headers/<key>.hdr
 *   clouds/<key>.cloud        a region cloud cover, the bytes of
 *                             CACHE/listings/<key>.listing
 *   leases/files/<key>.tif    a mount rendering that file (and its
 *                             successors ...~TOKEN, objstore.h)
 *
 * A render (sat_shared_obtain, then sat_shared_rendered; a region cloud
 * cover is made the same way):
 *   1. GET files/<key>.tif into a cache temporary: found, with its
 *      digest and the plan's size, it is published locally. Done.
 *   2. Missing: take the lease on it. Taken: HEAD once more (another
 *      mount may have uploaded it meanwhile), then render locally; the
 *      render is queued for upload and the lease released after the
 *      upload. Held by another mount: poll for the object (HEAD, 100 ms
 *      doubling to 1 s) until it appears (then step 1), the lease goes
 *      without it (then take it), or the wait's deadline passes (then
 *      render locally, without a lease).
 *   3. A bad object (digest or size) is never published: it is deleted
 *      from the store so that this mount's render replaces it.
 * Uploads run on two threads of their own from a bounded queue, with a
 * conditional PUT (If-None-Match: *); the reader never waits for them.
 *
 * Threads: any thread but the fetch I/O thread may call; obtain and the
 * header functions block on the store (render workers and work-queue
 * threads only, never a FUSE thread). sh->lock protects the queue and the
 * counters, never held across a request or the disk.
 */
#ifndef SATFS_SHARED_H
#define SATFS_SHARED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "satfs/objstore.h"

struct sat_cache;
struct sat_fetch;
struct sat_shared;

struct sat_shared_opts {
	const char *store;    /* s3://BUCKET[/PREFIX] */
	const char *endpoint; /* NULL: AWS */
	const char *region;   /* NULL: $AWS_REGION, else us-east-1 */
	int timeout_ms;       /* a request to the store with no progress
				 this long fails; 5000 */
	int lease_s;          /* a lease's lifetime; 120 */
	int wait_s;           /* the longest wait for another mount's
				 render; 0: never wait; 120 */
	int backoff_min_ms;   /* after a failure, no request for this long
				 (doubling); 0: the store's default */
};

/* Creates the tier: the store client (reads the credentials; no request
 * is made) and the upload threads. fetch and cache are borrowed and must
 * outlive it. Returns 0, or -EINVAL / -ENOKEY with what is wrong in err
 * (never a key), -ENOMEM, or a thread error. */
int sat_shared_new(struct sat_shared **out, struct sat_fetch *fetch,
		   struct sat_cache *cache, const struct sat_shared_opts *o,
		   char *err, size_t errlen);
/* Unmount begins: renders waiting for another mount stop waiting
 * (-ECANCELED), and the upload queue has a few seconds more to drain. */
void sat_shared_stop(struct sat_shared *sh);
/* Joins the upload threads (each finishes the upload it has started,
 * within the store's deadlines) and frees sh; uploads still queued are
 * dropped, and the count logged. Call after every user of sh has stopped
 * and before fetch is freed. Accepts NULL. */
void sat_shared_free(struct sat_shared *sh);

const char *sat_shared_describe(const struct sat_shared *sh);

/* What is shared: rendered files, and the small entries that cost
 * requests to the COG server too. */
enum sat_shared_kind {
	SAT_SHARED_FILE,   /* a rendered file (fs/jobs.c) */
	SAT_SHARED_HEADER, /* a COG header (fs/cogread.c) */
	SAT_SHARED_CLOUD,  /* a region cloud cover (fs/regioncloud.c) */
};

/* What a render holds on the store: a lease, or nothing. */
struct sat_shared_claim {
	bool leased;
	struct sat_objstore_lease lease;
};

/* Steps 1-2 above for the entry key of that kind (FILE or CLOUD), of
 * exactly size bytes when size is not 0. Returns 0 when the entry is now
 * in the local cache (from the store: nothing to make); -ECANCELED when
 * unmounting; any other value means "make it locally" (-ENOENT: the
 * store has none; a failure of the store), with *claim saying whether
 * this mount holds the lease. Either way the caller ends with
 * sat_shared_rendered(). Blocks: the store's deadlines, plus the wait
 * (wait_s) when another mount is making the entry. */
int sat_shared_obtain(struct sat_shared *sh, enum sat_shared_kind kind,
		      const char *key, uint64_t size,
		      struct sat_shared_claim *claim);
/* After making the entry key: err 0 (written to the local cache) queues
 * its upload, which releases the claim's lease once done; otherwise the
 * lease is released now. Never waits for the upload; may send one DELETE
 * (the lease) when the queue is full or the render failed. */
void sat_shared_rendered(struct sat_shared *sh, enum sat_shared_kind kind,
			 const char *key, struct sat_shared_claim *claim,
			 int err);

/* The entry key of that kind from the store into the local cache, without
 * a lease (headers: two mounts fetching one costs a request, not a
 * render): 0 when it is there now, else -ENOENT or a failure. Blocks
 * within the store's deadlines. */
int sat_shared_fetch(struct sat_shared *sh, enum sat_shared_kind kind,
		     const char *key);
/* Queues the upload of the entry key of that kind, just written to the
 * local cache. Never blocks on the store. */
void sat_shared_offer(struct sat_shared *sh, enum sat_shared_kind kind,
		      const char *key);

struct sat_shared_stats {
	struct sat_objstore_health store;
	uint64_t files_got;       /* renders published from the store */
	uint64_t entries_got;     /* headers and cloud covers from it */
	uint64_t leases;          /* leases taken (renders claimed) */
	uint64_t waits;           /* renders that waited for another mount */
	uint64_t waits_timed_out; /* ... and rendered locally at the end */
	uint64_t uploads;         /* objects stored by this mount */
	uint64_t uploads_present; /* already there (another mount's) */
	uint64_t uploads_failed;  /* store failing: not stored */
	uint64_t uploads_dropped; /* queue full, or unmounting */
	uint32_t queued;          /* uploads waiting or running now */
	uint32_t waiting;         /* renders waiting for another mount now */
};
void sat_shared_get_stats(struct sat_shared *sh, struct sat_shared_stats *st);

#endif
