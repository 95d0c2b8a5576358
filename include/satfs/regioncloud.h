/*
 * regioncloud: how cloudy a scene is over a region, rather than over its
 * whole tile: the percentage (one decimal) of the region's pixels whose
 * Sentinel-2 scene classification (SCL) is cloud shadow (3), cloud (8, 9)
 * or cirrus (10), among the region's pixels whose SCL is not 0 (no data),
 * counted on the scene's grid at its finest band's resolution.
 *
 * SCL is read through the scene's source, in chunks (bounded memory
 * whatever the region's size), tiles shared with every other read. Results
 * are kept in memory and in the cache directory (they never change for a
 * scene), and concurrent asks for one scene and region share one count.
 *
 * Thread-safe; sat_regioncloud_get() blocks on the network when the value
 * is not known yet. sat_regioncloud_ahead() counts in the background, on
 * a thread of the module's own.
 */
#ifndef SATFS_REGIONCLOUD_H
#define SATFS_REGIONCLOUD_H

#include <stddef.h>

#include "satfs/fetch.h"

struct sat_cache;
struct sat_progress;
struct sat_render_input;
struct sat_render_plan;
struct sat_regioncloud;

/* cache may be NULL (memory only). */
int sat_regioncloud_new(struct sat_regioncloud **out, struct sat_cache *cache);
/* Covers not on disk are then looked up in the shared store before they
 * are counted, and those counted are offered to it (include/satfs/
 * shared.h; borrowed, must outlive rc; needs a cache). Call before the
 * first count. */
struct sat_shared;
void sat_regioncloud_set_shared(struct sat_regioncloud *rc,
				struct sat_shared *sh);
void sat_regioncloud_free(struct sat_regioncloud *rc);

/* The region cloud cover of input `in` (a scene of a render plan) over the
 * region ring (lon/lat pairs, n vertices) into *pct: 0..100, or NaN when
 * the scene has no SCL band. 0 or -errno (the SCL could not be read: the
 * cause is left with sat_log_cause). Blocks. */
int sat_regioncloud_get(struct sat_regioncloud *rc,
			const struct sat_render_input *in,
			const double *ring_lonlat, size_t n,
			enum sat_fetch_priority prio,
			struct sat_progress *progress, double *pct);

/* The value if it is known without reading anything (memory or disk):
 * 0, or -ENOENT. Never blocks on the network. */
int sat_regioncloud_peek(struct sat_regioncloud *rc,
			 const struct sat_render_input *in, double *pct);

/* The covers of the first input of plans[0..n), each into pct[i] (NaN
 * where unknown: no SCL, or it could not be read, logged), all at once
 * on up to `threads` threads. Blocks. */
void sat_regioncloud_get_all(struct sat_regioncloud *rc,
			     struct sat_render_plan *const *plans, size_t n,
			     int threads, double *pct);

/* Queues the covers of the first input of plans[0..n) that are not known
 * yet, to be counted in the background at prefetch priority (at listing,
 * so that they are ready when asked). Takes references; never blocks on
 * the network. A full queue drops the rest: asking counts them. */
void sat_regioncloud_ahead(struct sat_regioncloud *rc,
			   struct sat_render_plan *const *plans, size_t n);
/* The same for one plan, at the head of the queue: a render that will ask
 * for the cover once its pixels are written, so that the count runs
 * meanwhile (when the listing's has not started it; a full queue leaves
 * it to that ask). */
void sat_regioncloud_soon(struct sat_regioncloud *rc,
			  struct sat_render_plan *plan);

#endif
