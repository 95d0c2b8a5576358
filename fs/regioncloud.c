/*
 * regioncloud: see include/satfs/regioncloud.h.
 *
 * Threading: rc->lock protects the table. The entry of a value being
 * counted is marked `filling`; others asking for it wait on rc->cond and
 * get the filler's answer (or count themselves when it failed). Counting
 * (reads through the source, disk I/O) runs without the lock.
 *
 * Counting ahead: sat_regioncloud_ahead() queues plans (references) for
 * RC_AHEAD_THREADS background threads (started with the first), each
 * taking the next plan as soon as it is done with one, at prefetch
 * priority: a count is two round trips (the SCL's header, its tile) and
 * little CPU, and a render waits for its scene's, so the counts of a
 * listing run side by side (two threads counting in batches made a
 * 50-scene copy's renders wait 0.33 s on average for theirs). The queue
 * holds at most RC_AHEAD_MAX plans; what does not fit is counted when
 * someone asks. At free the queue is dropped and the counts under way
 * finish.
 *
 * Disk: cache entries of the listing kind (they belong to a listing's
 * scenes and are as small), "satfs-region-cloud 1 PCT\n" with PCT a number
 * or "nan".
 */
#include "satfs/regioncloud.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "satfs/bufpool.h"
#include "satfs/cache.h"
#include "satfs/config.h"
#include "satfs/geom.h"
#include "satfs/log.h"
#include "satfs/render.h"
#include "satfs/sample.h"
#include "satfs/shared.h"
#include "satfs/source.h"

#define RC_BUCKETS 1024
#define RC_MAX_ENTRIES 65536     /* values kept in memory, at most */
#define RC_CHUNK_PIXELS (1u << 18) /* SCL counted this much at a time */
#define RC_MAGIC "satfs-region-cloud 1"
#define RC_AHEAD_MAX 512         /* plans waiting to be counted ahead */
#define RC_AHEAD_THREADS 12 /* counting ahead, in the background */

struct rc_entry {
	struct rc_entry *next;       /* in its bucket */
	struct rc_entry *newer;      /* the FIFO of entries; rc->lock */
	char key[SAT_HASH_HEX];
	bool filling;
	bool known;
	double pct;
};

struct sat_regioncloud {
	struct sat_cache *cache;
	struct sat_shared *shared; /* may be NULL */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct rc_entry *buckets[RC_BUCKETS]; /* protected by lock */
	struct rc_entry *newest, *oldest;     /* FIFO; protected by lock */
	size_t n;                             /* protected by lock */
	/* counting ahead; protected by lock */
	struct sat_render_plan *ahead[RC_AHEAD_MAX]; /* a ring */
	size_t ahead_first, ahead_n;
	bool stopping;
	int nahead_threads;
	pthread_t ahead_threads[RC_AHEAD_THREADS];
};

void sat_regioncloud_set_shared(struct sat_regioncloud *rc,
				struct sat_shared *sh)
{
	rc->shared = rc->cache ? sh : NULL;
}

int sat_regioncloud_new(struct sat_regioncloud **out, struct sat_cache *cache)
{
	struct sat_regioncloud *rc = calloc(1, sizeof(*rc));

	*out = NULL;
	if (!rc)
		return -ENOMEM;
	rc->cache = cache;
	pthread_mutex_init(&rc->lock, NULL);
	pthread_cond_init(&rc->cond, NULL);
	*out = rc;
	return 0;
}

void sat_regioncloud_free(struct sat_regioncloud *rc)
{
	if (!rc)
		return;
	pthread_mutex_lock(&rc->lock);
	rc->stopping = true;
	pthread_cond_broadcast(&rc->cond);
	pthread_mutex_unlock(&rc->lock);
	for (int i = 0; i < rc->nahead_threads; i++)
		pthread_join(rc->ahead_threads[i], NULL);
	for (; rc->ahead_n; rc->ahead_n--) {
		sat_render_plan_unref(rc->ahead[rc->ahead_first]);
		rc->ahead_first = (rc->ahead_first + 1) % RC_AHEAD_MAX;
	}
	for (size_t b = 0; b < RC_BUCKETS; b++)
		while (rc->buckets[b]) {
			struct rc_entry *e = rc->buckets[b];

			rc->buckets[b] = e->next;
			free(e);
		}
	pthread_cond_destroy(&rc->cond);
	pthread_mutex_destroy(&rc->lock);
	free(rc);
}

static size_t rc_bucket(const char *key)
{
	size_t v = 0;

	for (int i = 0; i < 8 && key[i]; i++)
		v = v * 16 + (size_t)(key[i] <= '9' ? key[i] - '0'
						    : key[i] - 'a' + 10);
	return v % RC_BUCKETS;
}

static struct rc_entry *rc_find_locked(struct sat_regioncloud *rc,
				       const char *key)
{
	struct rc_entry *e = rc->buckets[rc_bucket(key)];

	for (; e; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

static void rc_unlink_locked(struct sat_regioncloud *rc, struct rc_entry *e)
{
	struct rc_entry **pp = &rc->buckets[rc_bucket(e->key)];

	for (; *pp; pp = &(*pp)->next)
		if (*pp == e) {
			*pp = e->next;
			break;
		}
	rc->n--;
}

/* A new entry, filling; the oldest settled ones go past the cap. */
static struct rc_entry *rc_add_locked(struct sat_regioncloud *rc,
				      const char *key)
{
	struct rc_entry *e = calloc(1, sizeof(*e));
	size_t b;

	if (!e)
		return NULL;
	snprintf(e->key, sizeof(e->key), "%s", key);
	e->filling = true;
	b = rc_bucket(key);
	e->next = rc->buckets[b];
	rc->buckets[b] = e;
	if (rc->newest)
		rc->newest->newer = e;
	rc->newest = e;
	if (!rc->oldest)
		rc->oldest = e;
	rc->n++;
	while (rc->n > RC_MAX_ENTRIES && rc->oldest && !rc->oldest->filling) {
		struct rc_entry *old = rc->oldest;

		rc->oldest = old->newer;
		rc_unlink_locked(rc, old);
		free(old);
	}
	return e;
}

static int rc_disk_get(struct sat_regioncloud *rc, const char *key,
		       double *pct)
{
	char *data = NULL, word[16];
	size_t len;
	int ret = -ENOENT;

	if (!rc->cache ||
	    sat_cache_read(rc->cache, SAT_CACHE_LISTING, key, &data, &len,
			   NULL) != 0)
		return -ENOENT;
	if (sscanf(data, RC_MAGIC " %15s", word) == 1) {
		char *end;
		double v = strtod(word, &end);

		if (strcmp(word, "nan") == 0) {
			*pct = NAN;
			ret = 0;
		} else if (*end == '\0' && v >= 0 && v <= 100) {
			*pct = v;
			ret = 0;
		}
	}
	if (ret)
		sat_cache_remove(rc->cache, SAT_CACHE_LISTING, key);
	free(data);
	return ret;
}

static int rc_disk_put(struct sat_regioncloud *rc, const char *key,
		       double pct)
{
	char buf[64];
	int n, err;

	if (!rc->cache)
		return -ENOENT;
	n = isnan(pct) ? snprintf(buf, sizeof(buf), RC_MAGIC " nan\n")
		       : snprintf(buf, sizeof(buf), RC_MAGIC " %.1f\n", pct);
	/* the shared store gets it from the file (rc_fill) */
	err = (rc->shared ? sat_cache_write : sat_cache_write_later)(
		rc->cache, SAT_CACHE_LISTING, key, buf, (size_t)n);
	if (err)
		sat_debug("regioncloud: %s not saved", key);
	return err;
}

/* Counts the cloudy SCL pixels of the region on the scene's grid. */
static int rc_count(const struct sat_render_input *in, const double *ring,
		    size_t n, enum sat_fetch_priority prio,
		    struct sat_progress *progress, double *pct)
{
	struct sat_read_band band = { .href = in->scl_href,
				      .sample = in->scl_sample };
	struct sat_grid g, chunk;
	double *xy = NULL;
	size_t nxy = 0, rows;
	uint64_t total = 0, cloudy = 0;
	uint8_t *valid = NULL, *inside = NULL;
	int ret;

	ret = sat_geom_project_ring(in->epsg, ring, n, &xy, &nxy);
	if (!ret)
		ret = sat_geom_grid_for_ring(xy, nxy, in->epsg,
					     in->default_scale, &g);
	if (ret) {
		sat_log_cause("the region does not fit EPSG:%d", in->epsg);
		goto out;
	}
	rows = RC_CHUNK_PIXELS / g.width ? RC_CHUNK_PIXELS / g.width : 1;
	/* packed, like a render's arrays: no fresh pages at every count */
	if (sat_buf_reserve((void **)&valid, rows * g.width) ||
	    sat_buf_reserve((void **)&inside, rows * g.width)) {
		ret = -ENOMEM;
		goto out;
	}
	for (uint32_t y = 0; y < g.height && !ret; y += (uint32_t)rows) {
		struct sat_grid next = g;
		struct sat_read rd = { .grid = &chunk, .bands = &band,
				       .nbands = 1, .valid = valid,
				       .prio = prio, .progress = progress,
				       .extent = &g };
		size_t npix;

		chunk = g;
		chunk.origin_y = g.origin_y - y * g.pixel_size;
		chunk.height = g.height - y < rows ? g.height - y
						    : (uint32_t)rows;
		if (y + rows < g.height) {
			next.origin_y = chunk.origin_y -
					chunk.height * g.pixel_size;
			next.height = g.height - y - chunk.height < rows
					      ? g.height - y - chunk.height
					      : (uint32_t)rows;
			rd.next = &next;
		}
		npix = (size_t)chunk.width * chunk.height;
		ret = in->source->ops->read(in->source, &rd);
		if (ret)
			break;
		sat_geom_mask_inside(xy, nxy, &chunk, inside);
		if (band.type == SAT_SAMPLE_U8) { /* SCL as written: bytes */
			const uint8_t *v = band.values;

			for (size_t i = 0; i < npix; i++) {
				unsigned c = v[i];

				if (!inside[i] || !valid[i] || c == 0)
					continue;
				total++;
				cloudy += c < 32 && (SAT_SCL_CLOUDY >> c & 1);
			}
			continue;
		}
		for (size_t i = 0; i < npix; i++) {
			double c;

			if (!inside[i] || !valid[i])
				continue;
			c = sat_sample_get(band.values, band.type, i);
			if (c == 0)
				continue; /* SCL 0: no data */
			total++;
			if (c > 0 && c < 32 &&
			    (SAT_SCL_CLOUDY >> (unsigned)c & 1))
				cloudy++;
		}
	}
	if (!ret)
		*pct = total ? round(1000.0 * (double)cloudy / (double)total) /
				       10
			     : NAN;
out:
	sat_buf_free(band.values);
	sat_buf_free(valid);
	sat_buf_free(inside);
	free(xy);
	return ret;
}

/* Counts the cover and keeps it on disk; with a shared store, takes
 * another mount's count instead, or shares ours (one count among all the
 * mounts: include/satfs/shared.h). */
static int rc_fill(struct sat_regioncloud *rc,
		   const struct sat_render_input *in, const double *ring,
		   size_t n, enum sat_fetch_priority prio,
		   struct sat_progress *progress, double *pct)
{
	struct sat_shared_claim claim;
	int ret;

	if (rc->shared) {
		ret = sat_shared_obtain(rc->shared, SAT_SHARED_CLOUD,
					in->cloud_key, 0, &claim);
		if (ret == -ECANCELED)
			return ret;
		if (ret == 0 && rc_disk_get(rc, in->cloud_key, pct) == 0)
			return 0;
	}
	ret = rc_count(in, ring, n, prio, progress, pct);
	if (!ret)
		ret = rc_disk_put(rc, in->cloud_key, *pct) == 0 ? 0 : 1;
	if (rc->shared)
		sat_shared_rendered(rc->shared, SAT_SHARED_CLOUD,
				    in->cloud_key, &claim, ret);
	return ret < 0 ? ret : 0;
}

int sat_regioncloud_peek(struct sat_regioncloud *rc,
			 const struct sat_render_input *in, double *pct)
{
	struct rc_entry *e;
	bool known;

	*pct = NAN;
	if (!in->scl_href)
		return 0; /* no SCL: no cover, and that is known */
	pthread_mutex_lock(&rc->lock);
	e = rc_find_locked(rc, in->cloud_key);
	known = e && e->known;
	if (known)
		*pct = e->pct;
	pthread_mutex_unlock(&rc->lock);
	return known ? 0 : rc_disk_get(rc, in->cloud_key, pct);
}

int sat_regioncloud_get(struct sat_regioncloud *rc,
			const struct sat_render_input *in,
			const double *ring_lonlat, size_t n,
			enum sat_fetch_priority prio,
			struct sat_progress *progress, double *pct)
{
	struct rc_entry *e;
	double v = NAN;
	int ret = 0;

	*pct = NAN;
	if (!in->scl_href || !in->source)
		return 0; /* no SCL: no cover to give */
	pthread_mutex_lock(&rc->lock);
	for (;;) {
		e = rc_find_locked(rc, in->cloud_key);
		if (!e || !e->filling)
			break;
		pthread_cond_wait(&rc->cond, &rc->lock);
	}
	if (e && e->known) {
		*pct = e->pct;
		pthread_mutex_unlock(&rc->lock);
		return 0;
	}
	if (e)
		e->filling = true; /* the last filler failed: our turn */
	else
		e = rc_add_locked(rc, in->cloud_key);
	pthread_mutex_unlock(&rc->lock);
	if (!e)
		return -ENOMEM;

	if (rc_disk_get(rc, in->cloud_key, &v) != 0)
		ret = rc_fill(rc, in, ring_lonlat, n, prio, progress, &v);
	pthread_mutex_lock(&rc->lock);
	e->filling = false;
	if (!ret) {
		e->known = true;
		e->pct = v;
		*pct = v;
	}
	pthread_cond_broadcast(&rc->cond);
	pthread_mutex_unlock(&rc->lock);
	return ret;
}

struct rc_batch {
	struct sat_regioncloud *rc;
	struct sat_render_plan *const *plans;
	double *pct;
	size_t n;
	enum sat_fetch_priority prio;
	size_t next;               /* protected by lock */
	pthread_mutex_t lock;
};

static bool rc_stopping(struct sat_regioncloud *rc)
{
	bool stop;

	pthread_mutex_lock(&rc->lock);
	stop = rc->stopping;
	pthread_mutex_unlock(&rc->lock);
	return stop;
}

static void *rc_batch_main(void *arg)
{
	struct rc_batch *b = arg;

	for (;;) {
		const struct sat_render_plan *p;
		size_t i;
		int err;

		pthread_mutex_lock(&b->lock);
		i = b->next++;
		pthread_mutex_unlock(&b->lock);
		if (i >= b->n)
			break;
		p = b->plans[i];
		b->pct[i] = NAN;
		if (!p || !p->ninputs || rc_stopping(b->rc))
			continue;
		err = sat_regioncloud_get(b->rc, &p->inputs[0], p->ring_lonlat,
					  p->nring_lonlat, b->prio, NULL,
					  &b->pct[i]);
		if (err) {
			char cause[400];

			sat_log_take_cause(cause, sizeof(cause));
			/* cancelled by the unmount: no failure to report */
			if (err != -ECANCELED && !rc_stopping(b->rc))
				sat_warn("regioncloud: %s: region cloud cover "
					 "unknown: %s", p->item_id, cause);
			b->pct[i] = NAN;
		}
	}
	return NULL;
}

static void rc_batch_run(struct sat_regioncloud *rc,
			 struct sat_render_plan *const *plans, size_t n,
			 int threads, enum sat_fetch_priority prio,
			 double *pct)
{
	struct rc_batch b = { .rc = rc, .plans = plans, .pct = pct, .n = n,
			      .prio = prio };
	pthread_t th[32];
	int nt = 0;

	pthread_mutex_init(&b.lock, NULL);
	if (threads > 32)
		threads = 32;
	for (int i = 0; i + 1 < threads && (size_t)i + 1 < n; i++)
		if (pthread_create(&th[nt], NULL, rc_batch_main, &b) == 0)
			nt++;
	rc_batch_main(&b); /* this thread too */
	for (int i = 0; i < nt; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&b.lock);
}

void sat_regioncloud_get_all(struct sat_regioncloud *rc,
			     struct sat_render_plan *const *plans, size_t n,
			     int threads, double *pct)
{
	rc_batch_run(rc, plans, n, threads, SAT_FETCH_FOREGROUND, pct);
}

/* A background thread of sat_regioncloud_ahead(): one plan at a time. */
static void *rc_ahead_main(void *arg)
{
	struct sat_regioncloud *rc = arg;

	pthread_mutex_lock(&rc->lock);
	for (;;) {
		struct sat_render_plan *p;
		double pct;
		int err;

		while (!rc->stopping && !rc->ahead_n)
			pthread_cond_wait(&rc->cond, &rc->lock);
		if (rc->stopping)
			break;
		p = rc->ahead[rc->ahead_first];
		rc->ahead_first = (rc->ahead_first + 1) % RC_AHEAD_MAX;
		rc->ahead_n--;
		pthread_mutex_unlock(&rc->lock);
		err = sat_regioncloud_get(rc, &p->inputs[0], p->ring_lonlat,
					  p->nring_lonlat, SAT_FETCH_PREFETCH,
					  NULL, &pct);
		if (err) {
			char cause[400];

			sat_log_take_cause(cause, sizeof(cause));
			/* cancelled by the unmount: no failure to report */
			if (err != -ECANCELED && !rc_stopping(rc))
				sat_warn("regioncloud: %s: region cloud cover "
					 "unknown: %s", p->item_id, cause);
		}
		sat_render_plan_unref(p);
		pthread_mutex_lock(&rc->lock);
	}
	pthread_mutex_unlock(&rc->lock);
	return NULL;
}

/* Queues plans[0..n) for the background threads (started here, once):
 * at the tail, or with first at the head. */
static void rc_queue(struct sat_regioncloud *rc,
		     struct sat_render_plan *const *plans, size_t n,
		     bool first)
{
	pthread_mutex_lock(&rc->lock);
	while (rc->nahead_threads < RC_AHEAD_THREADS && !rc->stopping &&
	       pthread_create(&rc->ahead_threads[rc->nahead_threads], NULL,
			      rc_ahead_main, rc) == 0)
		rc->nahead_threads++;
	for (size_t i = 0; i < n && rc->nahead_threads && !rc->stopping; i++) {
		const struct sat_render_plan *p = plans[i];
		const struct rc_entry *e;

		if (!p->ninputs || !p->inputs[0].scl_href)
			continue;
		e = rc_find_locked(rc, p->inputs[0].cloud_key);
		if (e && (e->known || e->filling))
			continue;
		if (rc->ahead_n == RC_AHEAD_MAX)
			break; /* counted when someone asks */
		if (first) {
			rc->ahead_first = (rc->ahead_first + RC_AHEAD_MAX - 1) %
					  RC_AHEAD_MAX;
			rc->ahead[rc->ahead_first] =
				sat_render_plan_ref((struct sat_render_plan *)p);
			rc->ahead_n++;
			continue;
		}
		rc->ahead[(rc->ahead_first + rc->ahead_n++) % RC_AHEAD_MAX] =
			sat_render_plan_ref((struct sat_render_plan *)p);
	}
	pthread_cond_broadcast(&rc->cond);
	pthread_mutex_unlock(&rc->lock);
}

void sat_regioncloud_ahead(struct sat_regioncloud *rc,
			   struct sat_render_plan *const *plans, size_t n)
{
	rc_queue(rc, plans, n, false);
}

void sat_regioncloud_soon(struct sat_regioncloud *rc,
			  struct sat_render_plan *plan)
{
	if (rc && plan)
		rc_queue(rc, &plan, 1, true);
}
