/*
 * cogread_tiles: the decoded-tile cache, shared by every window of the
 * mount (include/satfs/cogread.h).
 *
 * A window names the tiles it needs (cr_tiles_ask, then cr_tiles_wait),
 * and those of the window after it, asked ahead. Tiles already decoded
 * or on their way are shared; the missing ones get an entry at once, so a
 * second window wanting the same tile waits for it instead of fetching it
 * again, and their byte ranges go out together, adjacent ranges of one URL
 * in one request. When a request completes, the fetch engine's I/O thread
 * hands it to the decoders (a pool of one thread per core; foreground work
 * first), which check the answer and decode each of its tiles in a task of
 * its own, so that the tiles of one window decode on every core. A window
 * then samples straight from the decoded tiles.
 *
 * A tile keeps the blocks of it that the render asking for it covers
 * (the read's extent), not the whole tile (cogread_private.h, struct
 * cr_tile); a window needing pixels outside them has the tile fetched
 * again, keeping both (counted in tiles_recropped).
 *
 * Bounds: decoded tiles take at most cr->tile_cap_bytes, except what
 * windows have pinned (a window pins the tiles of one chunk of a render,
 * bounded by the chunk's size); idle tiles are evicted least recently used
 * first, their blocks going back to the buffer pool's slabs for the next
 * ones (its own caps). The compressed bytes live only until the tiles in
 * them are decoded.
 *
 * Failures: every waiter of a failed tile gets its error and cause, the
 * tile leaves the table (the next window fetches it anew), and, as before
 * this cache existed, a header that may be what is wrong is forgotten.
 *
 * Threading: cr->lock protects the table, the LRU list, the byte count,
 * the counters and each tile's state, pins and blk; the tile's stripe of
 * cr->tile_cond (tile_cond_of) is broadcast when it becomes READY or
 * FAILED: one condition for all had every tile decoded wake every window
 * waiting (700 tiles, a dozen windows, in a cold 50-snippet copy), each to
 * find its own tile still coming. Decoding runs without
 * the lock into a buffer no one else sees until the state says READY. The
 * lock is never held across the network, a decode or a call into another
 * module.
 */
#include "satfs/cogread.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cogread_private.h"
#include "satfs/bufpool.h"
#include "satfs/cog.h"
#include "satfs/log.h"
#include "satfs/sign.h"
#include "satfs/workq.h"

#define CR_MERGE_CAP (16u << 20)
/* Tiles this close are fetched in one request: GDAL's COG writer puts a
 * 4-byte leader and trailer around every tile, so tiles stored one after
 * another are never exactly adjacent; a few wasted bytes cost far less
 * than a round trip. */
#define CR_MERGE_GAP 16384u
/* A URL for a log line (query strings may carry tokens); needs ubuf. */
#define CR_URL(u) sat_log_url((u), ubuf, sizeof(ubuf))

/* One request: a run of tiles of one URL. */
struct cr_req {
	struct sat_cogread *cr;
	struct sat_cogread_header *hdr;  /* a reference */
	struct sat_fetch_req req;
	char *signed_url;                /* what went out, when signed */
	bool resigned;                   /* the 403 retry was used */
	bool urgent;                     /* someone waits: decode first */
	struct cr_tile **tiles;          /* each holds a reference (pin) */
	size_t ntiles;
	struct sat_fetch_result res;
	atomic_uint decodes_left;
};

struct cr_decode {
	struct cr_req *rq;
	struct cr_tile *tile;
};

/* A whole tile is decoded into a scratch buffer, then its crop's blocks
 * copied out: scratch tiles of 2 MiB and more (a 1024x1024 uint16 tile is
 * exactly 2 MiB) go in huge pages, smaller ones (a 1024x1024 SCL tile is
 * 1 MiB) in the buffer pool's buffers, kept there for the next decode
 * (of 256 KiB and more: include/satfs/bufpool.h); a page never touched
 * costs that much here. */
static void *scratch_alloc(size_t bytes)
{
	return bytes < SAT_BUFPOOL_HUGE ? sat_buf_alloc(bytes)
					: sat_buf_alloc_huge(bytes);
}

static void scratch_free(void *p, size_t bytes)
{
	if (bytes < SAT_BUFPOOL_HUGE)
		sat_buf_free(p);
	else
		sat_buf_free_huge(p, bytes);
}

/* Decoded size of one whole tile of a level and plane. */
static size_t full_bytes(const struct sat_cog *cog, uint32_t level,
			 uint16_t plane)
{
	const struct sat_cog_level *lv = sat_cog_level(cog, level);

	return plane & CR_PLANE_MASK
		       ? (size_t)lv->tile_width * lv->tile_height
		       : sat_cog_tile_bytes(cog, level);
}

/* Sets t's block layout for crop c: the blocks of its level's tiles, and
 * how many of them c covers. */
static void tile_layout(struct cr_tile *t, const struct cr_rect *c)
{
	const struct sat_cog_level *lv = sat_cog_level(t->hdr->cog, t->level);

	t->crop = *c;
	t->px = (uint32_t)(full_bytes(t->hdr->cog, t->level, t->plane) /
			   ((size_t)lv->tile_width * lv->tile_height));
	t->block_w = lv->tile_width < CR_BLOCK ? lv->tile_width : CR_BLOCK;
	t->block_h = lv->tile_height < CR_BLOCK ? lv->tile_height : CR_BLOCK;
	t->block_bytes = (size_t)t->block_w * t->block_h * t->px;
	t->nbx = (c->x1 - c->x0 + t->block_w - 1) / t->block_w;
	t->nblk = t->nbx * ((c->y1 - c->y0 + t->block_h - 1) / t->block_h);
	/* what the blocks take, their size classes' rounding included */
	t->bytes = t->nblk * sat_buf_block_size(t->block_bytes);
}

static bool rect_contains(const struct cr_rect *a, const struct cr_rect *b)
{
	if (b->x0 >= b->x1 || b->y0 >= b->y1)
		return true;
	return a->x0 <= b->x0 && a->y0 <= b->y0 && a->x1 >= b->x1 &&
	       a->y1 >= b->y1;
}

/* The crop of a new tile: keep, and what the tile it replaces held, out
 * to block boundaries (which also lets renders of one region whose
 * windows differ by a pixel share it). */
static struct cr_rect crop_of(const struct sat_cog_level *lv,
			      const struct cr_rect *keep,
			      const struct cr_rect *old)
{
	struct cr_rect c = *keep;
	uint32_t bw = lv->tile_width < CR_BLOCK ? lv->tile_width : CR_BLOCK;
	uint32_t bh = lv->tile_height < CR_BLOCK ? lv->tile_height : CR_BLOCK;

	if (old) {
		c.x0 = c.x0 < old->x0 ? c.x0 : old->x0;
		c.y0 = c.y0 < old->y0 ? c.y0 : old->y0;
		c.x1 = c.x1 > old->x1 ? c.x1 : old->x1;
		c.y1 = c.y1 > old->y1 ? c.y1 : old->y1;
	}
	if (c.x0 >= c.x1 || c.y0 >= c.y1) /* nothing: one block */
		c = (struct cr_rect){ 0, 0, 1, 1 };
	c.x0 -= c.x0 % bw;
	c.y0 -= c.y0 % bh;
	c.x1 = c.x1 + bw - 1 < lv->tile_width ? (c.x1 + bw - 1) / bw * bw
					      : lv->tile_width;
	c.y1 = c.y1 + bh - 1 < lv->tile_height ? (c.y1 + bh - 1) / bh * bh
					       : lv->tile_height;
	return c;
}

/* Frees t's blocks (not t). */
static void blocks_free(struct cr_tile *t, void **blk)
{
	if (!blk)
		return;
	for (uint32_t i = 0; i < t->nblk; i++)
		sat_buf_block_free(blk[i], t->block_bytes);
	free(blk);
}

/* t's blocks, or NULL. */
static void **blocks_alloc(const struct cr_tile *t)
{
	void **blk = calloc(t->nblk, sizeof(*blk));

	for (uint32_t i = 0; blk && i < t->nblk; i++) {
		blk[i] = sat_buf_block_alloc(t->block_bytes);
		if (!blk[i]) {
			while (i-- > 0)
				sat_buf_block_free(blk[i], t->block_bytes);
			free(blk);
			return NULL;
		}
	}
	return blk;
}

/* Copies t's crop out of the decoded tile whole into its blocks. */
static void blocks_fill(const struct cr_tile *t, void **blk,
			const uint8_t *whole)
{
	const struct sat_cog_level *lv = sat_cog_level(t->hdr->cog, t->level);
	size_t stride = (size_t)lv->tile_width * t->px;

	for (uint32_t y = t->crop.y0; y < t->crop.y1; y++) {
		uint32_t by = (y - t->crop.y0) / t->block_h;
		size_t row = (size_t)(y % t->block_h) * t->block_w * t->px;

		for (uint32_t bx = 0; bx < t->nbx; bx++) {
			uint32_t x = t->crop.x0 + bx * t->block_w;
			uint32_t n = t->crop.x1 - x < t->block_w
					     ? t->crop.x1 - x
					     : t->block_w;

			memcpy((uint8_t *)blk[(size_t)by * t->nbx + bx] + row,
			       whole + (size_t)y * stride + (size_t)x * t->px,
			       (size_t)n * t->px);
		}
	}
}

static size_t tile_hash(const struct sat_cogread_header *h, uint32_t level,
			uint16_t plane, uint32_t tx, uint32_t ty)
{
	size_t v = 5381;

	for (const char *p = h->url; *p; p++)
		v = v * 33 + (unsigned char)*p;
	v ^= (size_t)level * 0x9e3779b97f4a7c15u;
	v ^= ((size_t)tx << 20) ^ ty ^ ((size_t)plane << 40);
	return v % CR_TILE_BUCKETS;
}

static bool same_header(const struct sat_cogread_header *a,
			const struct sat_cogread_header *b)
{
	if (a == b)
		return true;
	if (strcmp(a->url, b->url) != 0)
		return false;
	if (!a->etag || !b->etag)
		return !a->etag && !b->etag;
	return strcmp(a->etag, b->etag) == 0;
}

static struct cr_tile *find_locked(struct sat_cogread *cr,
				   const struct cr_want *w)
{
	struct cr_tile *t = cr->tiles[tile_hash(w->hdr, w->level, w->plane,
						w->tx, w->ty)];

	for (; t; t = t->hnext)
		if (t->level == w->level && t->tx == w->tx &&
		    t->ty == w->ty && t->plane == w->plane &&
		    same_header(t->hdr, w->hdr))
			return t;
	return NULL;
}

static void unhash_locked(struct sat_cogread *cr, struct cr_tile *t)
{
	struct cr_tile **pp = &cr->tiles[tile_hash(t->hdr, t->level, t->plane,
						   t->tx, t->ty)];

	for (; *pp; pp = &(*pp)->hnext)
		if (*pp == t) {
			*pp = t->hnext;
			break;
		}
	t->in_table = false;
}

static void lru_remove_locked(struct sat_cogread *cr, struct cr_tile *t)
{
	if (t->lru_prev)
		t->lru_prev->lru_next = t->lru_next;
	else if (cr->lru_head == t)
		cr->lru_head = t->lru_next;
	if (t->lru_next)
		t->lru_next->lru_prev = t->lru_prev;
	else if (cr->lru_tail == t)
		cr->lru_tail = t->lru_prev;
	t->lru_prev = t->lru_next = NULL;
}

static void lru_push_locked(struct sat_cogread *cr, struct cr_tile *t)
{
	t->lru_prev = NULL;
	t->lru_next = cr->lru_head;
	if (cr->lru_head)
		cr->lru_head->lru_prev = t;
	cr->lru_head = t;
	if (!cr->lru_tail)
		cr->lru_tail = t;
}

/* Frees a tile no one holds (out of the table, the LRU and every pin). */
static void tile_destroy(struct sat_cogread *cr, struct cr_tile *t)
{
	blocks_free(t, t->blk);
	sat_cogread_header_unref(cr, t->hdr);
	free(t);
}

/* Drops one pin; the last pin of an idle tile makes it evictable (READY)
 * or frees it (FAILED). Returns the tile to destroy after unlocking. */
static struct cr_tile *unpin_locked(struct sat_cogread *cr, struct cr_tile *t)
{
	if (--t->pins > 0)
		return NULL;
	if (t->state == CR_TILE_READY && t->in_table) {
		lru_push_locked(cr, t);
		return NULL;
	}
	if (t->state == CR_TILE_FAILED || !t->in_table) {
		if (t->blk)
			cr->tile_bytes -= t->bytes;
		return t;
	}
	return NULL; /* still on its way: its request holds it */
}

/* Room for `bytes` more, counted: evicts idle tiles, least recently used
 * first, onto *victims (their blocks then serve the next tiles). */
static void make_room_locked(struct sat_cogread *cr, size_t bytes,
			     struct cr_tile **victims)
{
	while (cr->tile_bytes + bytes > cr->tile_cap_bytes && cr->lru_tail) {
		struct cr_tile *t = cr->lru_tail;

		lru_remove_locked(cr, t);
		unhash_locked(cr, t);
		cr->stats.tiles_evicted++;
		if (t->blk)
			cr->tile_bytes -= t->bytes;
		t->hnext = *victims; /* freed after unlocking */
		*victims = t;
	}
	cr->tile_bytes += bytes;
}

static void destroy_list(struct sat_cogread *cr, struct cr_tile *list)
{
	while (list) {
		struct cr_tile *next = list->hnext;

		tile_destroy(cr, list);
		list = next;
	}
}

/* The condition the windows waiting for t wait on: its stripe's. */
static pthread_cond_t *tile_cond_of(struct sat_cogread *cr,
				     const struct cr_tile *t)
{
	return &cr->tile_cond[((uintptr_t)t / sizeof(*t)) % CR_TILE_CONDS];
}

/* Ends a tile: READY with its blocks blk (counted in tile_bytes), or
 * FAILED with err and why (blk NULL, nothing counted). Wakes waiters;
 * drops the request's pin. */

static void tile_finish(struct sat_cogread *cr, struct cr_tile *t, void **blk,
			int err, const char *why)
{
	struct cr_tile *dead;

	pthread_mutex_lock(&cr->lock);
	cr->coming_bytes -= t->coming;
	t->coming = 0;
	if (err) {
		t->state = CR_TILE_FAILED;
		t->err = err;
		snprintf(t->why, sizeof(t->why), "%s", why ? why : "");
		if (t->in_table)
			unhash_locked(cr, t);
	} else {
		t->state = CR_TILE_READY;
		t->blk = blk;
		cr->stats.tiles_decoded += t->length ? 1 : 0;
	}
	pthread_cond_broadcast(tile_cond_of(cr, t)); /* before t may go */
	dead = unpin_locked(cr, t);
	pthread_mutex_unlock(&cr->lock);
	if (dead)
		tile_destroy(cr, dead);
}

static void req_free(struct cr_req *rq)
{
	sat_fetch_result_clear(&rq->res);
	sat_cogread_header_unref(rq->cr, rq->hdr);
	free(rq->signed_url);
	free(rq->tiles);
	free(rq);
}

static void decode_task(void *payload)
{
	struct cr_decode *d = payload;
	struct cr_req *rq = d->rq;
	struct sat_cogread *cr = rq->cr;
	struct cr_tile *t = d->tile, *victims = NULL;
	const struct sat_cog *cog = t->hdr->cog;
	bool mask = t->plane & CR_PLANE_MASK;
	uint16_t band = t->plane & ~CR_PLANE_MASK;
	size_t full = full_bytes(cog, t->level, t->plane);
	const uint8_t *raw = (const uint8_t *)rq->res.data +
			     (t->offset - rq->req.range_offset);
	char why[400] = "", ubuf[512];
	void **blk, *whole = NULL;
	int rc = -ENOMEM; /* until the buffers are there */

	free(d);
	pthread_mutex_lock(&cr->lock);
	make_room_locked(cr, t->bytes, &victims);
	pthread_mutex_unlock(&cr->lock);
	destroy_list(cr, victims);
	/* decoded whole into a scratch tile, its crop copied out */
	blk = blocks_alloc(t);
	if (blk)
		whole = scratch_alloc(full);
	if (whole)
		rc = mask ? sat_cog_decode_mask(cog, t->level, band, t->tx,
						t->ty, raw, t->length, whole,
						full)
			  : sat_cog_decode_band_part(
				    cog, t->level, band, t->tx, t->ty, raw,
				    t->length, whole, full, t->crop.y0,
				    t->crop.y1, t->crop.x1);
	if (!rc)
		blocks_fill(t, blk, whole);
	scratch_free(whole, full);
	if (rc) {
		if (!whole)
			snprintf(why, sizeof(why), "out of memory");
		else
			snprintf(why, sizeof(why), "%s: %s %u,%u of level "
				 "%u does not decode (%s)", CR_URL(t->hdr->url),
				 mask ? "mask tile" : "tile", t->tx, t->ty,
				 t->level, sat_cog_last_error());
		blocks_free(t, blk);
		blk = NULL;
		pthread_mutex_lock(&cr->lock);
		cr->tile_bytes -= t->bytes;
		pthread_mutex_unlock(&cr->lock);
	}
	tile_finish(cr, t, blk, !whole ? -ENOMEM : rc ? -EIO : 0, why);
	if (atomic_fetch_sub(&rq->decodes_left, 1) == 1)
		req_free(rq);
}

/* Fails every tile of rq with err and why. */
static void req_fail(struct cr_req *rq, int err, const char *why)
{
	for (size_t i = 0; i < rq->ntiles; i++)
		tile_finish(rq->cr, rq->tiles[i], NULL, err, why);
	req_free(rq);
}

static void on_fetched(struct sat_fetch_result *res, void *payload);

/* Signs (again, after a refusal) and submits rq. 0 or -errno. */
static int req_submit(struct cr_req *rq)
{
	struct sat_cogread *cr = rq->cr;
	struct sat_fetch_req req = rq->req;
	int rc;

	if (cr->signer) {
		free(rq->signed_url);
		rq->signed_url = NULL;
		rc = sat_signer_sign(cr->signer, rq->req.url,
				     &rq->signed_url);
		if (rc)
			return rc;
		if (rq->signed_url)
			req.url = rq->signed_url;
	}
	return sat_fetch_submit(cr->fetch, &req, on_fetched, rq);
}

/* On a decoder: checks the answer, then decodes its tiles, one task each. */
static void fetched_task(void *payload)
{
	struct cr_req *rq = payload;
	struct sat_cogread *cr = rq->cr;
	const struct sat_fetch_result *res = &rq->res;
	const struct sat_cogread_header *h = rq->hdr;
	bool changed = h->etag && res->etag && strcmp(h->etag, res->etag);
	char why[400], ubuf[512];
	int rc;

	if (res->err == -EACCES && res->status == 403 && cr->signer &&
	    rq->signed_url && !rq->resigned) {
		/* the token was refused: a new one, once */
		sat_signer_reject(cr->signer, rq->req.url, rq->signed_url);
		rq->resigned = true;
		sat_fetch_result_clear(&rq->res);
		memset(&rq->res, 0, sizeof(rq->res));
		rc = req_submit(rq);
		if (rc) {
			snprintf(why, sizeof(why), "no SAS token for %s (%s)",
				 CR_URL(rq->req.url), strerror(-rc));
			req_fail(rq, rc, why);
		}
		return;
	}
	if (changed) {
		snprintf(why, sizeof(why), "%s changed (ETag %s, was %s)",
			 CR_URL(rq->req.url), res->etag, h->etag);
		sat_info("cogread: %s; rereading its header", why);
		sat_cogread_forget(cr, rq->hdr);
		req_fail(rq, -ESTALE, why);
		return;
	}
	if (res->err) {
		snprintf(why, sizeof(why), "tiles of %s: %s (HTTP %ld, %d tries)",
			 CR_URL(rq->req.url),
			 res->status < 300 && res->why[0] ? res->why
							  : strerror(-res->err),
			 res->status, res->tries);
		/* The header may be what is wrong (the object was replaced,
		 * e.g. a 416 for offsets past its new end, and no ETag said
		 * so): a later read starts afresh instead of failing on it
		 * forever. */
		if (res->err != -ECANCELED)
			sat_cogread_forget(cr, rq->hdr);
		req_fail(rq, res->err, why);
		return;
	}
	if (res->len != rq->req.range_length) {
		snprintf(why, sizeof(why), "%s: short answer (%zu of %llu "
			 "bytes)", CR_URL(rq->req.url), res->len,
			 (unsigned long long)rq->req.range_length);
		sat_cogread_forget(cr, rq->hdr); /* as above */
		req_fail(rq, -EIO, why);
		return;
	}
	/* one count per decode, and one for this loop, which reads rq until
	 * it ends: whoever drops the last count frees rq */
	atomic_store(&rq->decodes_left, (unsigned)rq->ntiles + 1);
	for (size_t i = 0; i < rq->ntiles; i++) {
		struct cr_decode *d = malloc(sizeof(*d));

		if (d) {
			d->rq = rq;
			d->tile = rq->tiles[i];
		}
		if (!d || (rq->urgent ? sat_workq_submit_urgent(cr->decoders,
								decode_task, d)
				      : sat_workq_submit(cr->decoders,
							 decode_task, d))) {
			free(d);
			tile_finish(cr, rq->tiles[i], NULL, -ENOMEM,
				    "out of memory");
			atomic_fetch_sub(&rq->decodes_left, 1);
		}
	}
	if (atomic_fetch_sub(&rq->decodes_left, 1) == 1)
		req_free(rq);
}

/* On the fetch engine's I/O thread: must not block. */
static void on_fetched(struct sat_fetch_result *res, void *payload)
{
	struct cr_req *rq = payload;
	struct sat_cogread *cr = rq->cr;

	rq->res = *res; /* the buffers move */
	if ((rq->urgent ? sat_workq_submit_urgent(cr->decoders, fetched_task,
						  rq)
			: sat_workq_submit(cr->decoders, fetched_task, rq)))
		req_fail(rq, -ENOMEM, "out of memory");
}

static int cmp_range(const void *pa, const void *pb)
{
	const struct cr_tile *a = *(struct cr_tile *const *)pa;
	const struct cr_tile *b = *(struct cr_tile *const *)pb;
	int c = strcmp(a->hdr->url, b->hdr->url);

	if (c)
		return c;
	return a->offset < b->offset ? -1 : a->offset > b->offset;
}

/* Submits one request for the adjacent tiles t[0..n) of one URL, from
 * the first's offset to the end of the last's. */
static void submit_run(struct sat_cogread *cr, struct cr_tile **t, size_t n,
		       enum sat_fetch_priority prio,
		       struct sat_progress *progress)
{
	struct cr_req *rq = calloc(1, sizeof(*rq));
	uint64_t start = t[0]->offset;
	char why[400], ubuf[512];
	int rc;

	if (rq)
		rq->tiles = malloc(n * sizeof(*rq->tiles));
	if (!rq || !rq->tiles) {
		free(rq);
		for (size_t i = 0; i < n; i++)
			tile_finish(cr, t[i], NULL, -ENOMEM, "out of memory");
		return;
	}
	rq->cr = cr;
	rq->hdr = t[0]->hdr;
	pthread_mutex_lock(&cr->lock);
	rq->hdr->refs++;
	pthread_mutex_unlock(&cr->lock);
	rq->urgent = prio == SAT_FETCH_FOREGROUND;
	rq->req.url = rq->hdr->url;
	rq->req.range_offset = start;
	rq->req.range_length = t[n - 1]->offset + t[n - 1]->length - start;
	rq->req.priority = prio;
	rq->req.progress = progress;
	/* bodies are decoded and let go: a fault per 2 MiB of them, not
	 * per 4 KiB (freed by sat_fetch_result_clear) */
	rq->req.flags = SAT_FETCH_BODY_PACKED;
	for (size_t i = 0; i < n; i++)
		rq->tiles[rq->ntiles++] = t[i];
	rc = req_submit(rq);
	if (rc) {
		snprintf(why, sizeof(why), "tiles of %s: %s",
			 CR_URL(rq->hdr->url), strerror(-rc));
		req_fail(rq, rc, why);
	}
}

struct cr_run {
	size_t first, end; /* in the sorted nt[] */
	bool wanted_now;
};

/* Fetches the new tiles nt[0..n), of which nt[0..nnow) are wanted by the
 * window asking and the rest by its look-ahead: one request per run of
 * adjacent ranges of one URL (gaps of up to CR_MERGE_GAP included), the
 * runs holding a tile wanted now submitted first (their FIFO is the fetch
 * engine's). Each tile holds a pin for its request, released when it is
 * finished. */
static void fetch_new(struct sat_cogread *cr, struct cr_tile **nt, size_t n,
		      size_t nnow, enum sat_fetch_priority prio,
		      struct sat_progress *progress)
{
	struct cr_run *runs;
	size_t nruns = 0, i, j;

	if (!n)
		return;
	runs = calloc(n, sizeof(*runs));
	if (!runs) {
		for (i = 0; i < n; i++)
			tile_finish(cr, nt[i], NULL, -ENOMEM, "out of memory");
		return;
	}
	for (i = 0; i < n; i++)
		nt[i]->wanted_now = i < nnow;
	qsort(nt, n, sizeof(*nt), cmp_range);
	for (i = 0; i < n; i = j) {
		uint64_t start = nt[i]->offset, end = start + nt[i]->length;
		bool now = nt[i]->wanted_now;

		for (j = i + 1;
		     j < n && strcmp(nt[j]->hdr->url, nt[i]->hdr->url) == 0 &&
		     nt[j]->offset >= end &&
		     nt[j]->offset - end <= CR_MERGE_GAP &&
		     nt[j]->offset + nt[j]->length - start <= CR_MERGE_CAP;
		     j++) {
			end = nt[j]->offset + nt[j]->length;
			now |= nt[j]->wanted_now;
		}
		runs[nruns++] = (struct cr_run){ i, j, now };
	}
	for (int pass = 0; pass < 2; pass++)
		for (size_t r = 0; r < nruns; r++)
			if (runs[r].wanted_now == (pass == 0))
				submit_run(cr, nt + runs[r].first,
					   runs[r].end - runs[r].first, prio,
					   progress);
	free(runs);
}

/* Takes t, whose crop is too small for a window, out of the table: an
 * idle one goes on *dead (freed after unlocking), one in use when its
 * last user lets go. */
static void retire_locked(struct sat_cogread *cr, struct cr_tile *t,
			  struct cr_tile **dead)
{
	unhash_locked(cr, t);
	cr->stats.tiles_recropped++;
	if (t->pins || t->state != CR_TILE_READY)
		return;
	lru_remove_locked(cr, t);
	if (t->blk)
		cr->tile_bytes -= t->bytes;
	t->hnext = *dead;
	*dead = t;
}

/* Finds want's tile or makes it (FETCHING, pinned for its request, put in
 * nt[] to fetch). With pin, pins it for the caller. Sets *joined when the
 * tile was there already. A tile whose crop lacks pixels the window needs
 * is replaced by one that keeps both (its old self goes on *dead when
 * idle). -ENOMEM. */
static int acquire_locked(struct sat_cogread *cr, struct cr_want *want,
			  bool pin, struct cr_tile **nt, size_t *nnew,
			  bool *joined, struct cr_tile **dead)
{
	const struct sat_cog_level *lv = sat_cog_level(want->hdr->cog,
						       want->level);
	struct cr_tile *t = find_locked(cr, want), *fresh;
	struct cr_rect crop;
	size_t h;

	want->tile = NULL;
	*joined = t && rect_contains(&t->crop, &want->need);
	if (*joined) {
		cr->stats.tile_hits++;
		if (pin) {
			if (t->pins++ == 0 && t->state == CR_TILE_READY)
				lru_remove_locked(cr, t);
			want->tile = t;
		}
		return 0;
	}
	/* a new tile, keeping what the one it replaces (t) kept too */
	crop = crop_of(lv, &want->keep, t ? &t->crop : NULL);
	if (want->length == 0) /* sparse: nothing kept, any pixel read */
		crop = (struct cr_rect){ 0, 0, lv->tile_width,
					 lv->tile_height };
	fresh = calloc(1, sizeof(*fresh));
	if (!fresh)
		return -ENOMEM;
	fresh->hdr = want->hdr;
	fresh->level = want->level;
	fresh->plane = want->plane;
	tile_layout(fresh, &crop);
	/* A look ahead never takes room that tiles in use may need: it is
	 * a guess, and evicting for it would only fetch those again. */
	if (!pin && want->length &&
	    cr->tile_bytes + cr->coming_bytes + fresh->bytes >
		    cr->tile_cap_bytes) {
		free(fresh);
		return 0;
	}
	if (t)
		retire_locked(cr, t, dead);
	t = fresh;
	t->hdr->refs++;
	t->tx = want->tx;
	t->ty = want->ty;
	t->offset = want->offset;
	t->length = want->length;
	t->in_table = true;
	if (t->length == 0) {
		t->state = CR_TILE_READY; /* sparse: nothing to fetch */
		if (!pin)
			lru_push_locked(cr, t);
	} else {
		t->state = CR_TILE_FETCHING;
		t->pins = 1; /* its request's */
		t->coming = t->bytes;
		cr->coming_bytes += t->bytes;
		nt[(*nnew)++] = t;
		cr->stats.tiles_fetched++;
	}
	h = tile_hash(t->hdr, t->level, t->plane, t->tx, t->ty);
	t->hnext = cr->tiles[h];
	cr->tiles[h] = t;
	if (pin) {
		t->pins++;
		want->tile = t;
	}
	return 0;
}

int cr_tiles_ask(struct sat_cogread *cr, struct cr_want *want, size_t n,
		 size_t npin, enum sat_fetch_priority prio,
		 struct sat_progress *progress)
{
	struct cr_tile **nt = calloc(n + 1, sizeof(*nt)), *dead = NULL;
	size_t nnew = 0, nnow = 0, i;
	int err = 0;

	if (!nt)
		return -ENOMEM;
	pthread_mutex_lock(&cr->lock);
	for (i = 0; i < n && !err; i++) {
		err = acquire_locked(cr, &want[i], i < npin, nt, &nnew,
				     &want[i].joined, &dead);
		if (i < npin)
			nnow = nnew;
	}
	pthread_mutex_unlock(&cr->lock);
	/* the look-ahead is best effort: its failure is not the window's */
	if (err && i > npin)
		err = 0;
	destroy_list(cr, dead);
	fetch_new(cr, nt, nnew, nnow, prio, progress);
	free(nt);
	if (err)
		cr_tiles_unpin(cr, want, npin);
	return err;
}

int cr_tiles_wait(struct sat_cogread *cr, struct cr_want *want, size_t n,
		  enum sat_fetch_priority prio, struct sat_progress *progress)
{
	struct cr_tile *nt[2], *dead;
	size_t nnew, i;
	int err = 0;

	/* Wait for all of them; the first failure is the answer. A tile we
	 * found on its way and that failed was someone else's try: ours is
	 * one more, of our own. */
	pthread_mutex_lock(&cr->lock);
	for (i = 0; i < n && !err; i++) {
		struct cr_tile *t = want[i].tile;

		dead = NULL;
		while (t->state == CR_TILE_FETCHING)
			pthread_cond_wait(tile_cond_of(cr, t), &cr->lock);
		if (t->state != CR_TILE_FAILED)
			continue;
		if (want[i].joined) {
			want[i].joined = false;
			dead = unpin_locked(cr, t);
			if (dead)
				dead->hnext = NULL;
			nnew = 0;
			err = acquire_locked(cr, &want[i], true, nt, &nnew,
					     &want[i].joined, &dead);
			want[i].joined = false;
			pthread_mutex_unlock(&cr->lock);
			destroy_list(cr, dead);
			fetch_new(cr, nt, nnew, nnew, prio, progress);
			pthread_mutex_lock(&cr->lock);
			i--; /* wait for it again */
			continue;
		}
		err = t->err;
		sat_log_cause("%s", t->why);
	}
	pthread_mutex_unlock(&cr->lock);
	if (err)
		cr_tiles_unpin(cr, want, n);
	return err;
}

void cr_tiles_unpin(struct sat_cogread *cr, struct cr_want *want, size_t n)
{
	struct cr_tile *dead = NULL;

	pthread_mutex_lock(&cr->lock);
	for (size_t i = 0; i < n; i++) {
		struct cr_tile *t = want[i].tile, *d;

		if (!t)
			continue;
		want[i].tile = NULL;
		d = unpin_locked(cr, t);
		if (d) {
			d->hnext = dead;
			dead = d;
		}
	}
	/* back under the cap, now that these are idle */
	make_room_locked(cr, 0, &dead);
	pthread_mutex_unlock(&cr->lock);
	destroy_list(cr, dead);
}

void cr_tiles_drop(struct sat_cogread *cr)
{
	struct cr_tile *dead = NULL;

	pthread_mutex_lock(&cr->lock);
	for (size_t b = 0; b < CR_TILE_BUCKETS; b++) {
		struct cr_tile *t = cr->tiles[b], *next;

		cr->tiles[b] = NULL;
		for (; t; t = next) {
			next = t->hnext;
			t->in_table = false;
			if (t->pins || t->state != CR_TILE_READY)
				continue; /* its last unpin frees it */
			lru_remove_locked(cr, t);
			if (t->blk)
				cr->tile_bytes -= t->bytes;
			t->hnext = dead;
			dead = t;
		}
	}
	pthread_mutex_unlock(&cr->lock);
	destroy_list(cr, dead);
}

int cr_tiles_init(struct sat_cogread *cr, int threads)
{
	for (int i = 0; i < CR_TILE_CONDS; i++)
		pthread_cond_init(&cr->tile_cond[i], NULL);
	return sat_workq_new(&cr->decoders, threads);
}

void cr_tiles_fini(struct sat_cogread *cr)
{
	struct cr_tile *dead = NULL;

	/* runs what is queued: every request in flight ends, and with it
	 * its tiles' pins (the fetch engine stops first, completing what
	 * it had with -ECANCELED) */
	sat_workq_free(cr->decoders);
	cr->decoders = NULL;
	for (size_t b = 0; b < CR_TILE_BUCKETS; b++) {
		while (cr->tiles[b]) {
			struct cr_tile *t = cr->tiles[b];

			cr->tiles[b] = t->hnext;
			t->hnext = dead;
			dead = t;
		}
	}
	destroy_list(cr, dead);
	cr->lru_head = cr->lru_tail = NULL;
	for (int i = 0; i < CR_TILE_CONDS; i++)
		pthread_cond_destroy(&cr->tile_cond[i]);
}

void sat_cogread_get_stats(struct sat_cogread *cr,
			   struct sat_cogread_stats *st)
{
	pthread_mutex_lock(&cr->lock);
	*st = cr->stats;
	st->tile_bytes = cr->tile_bytes;
	pthread_mutex_unlock(&cr->lock);
}
