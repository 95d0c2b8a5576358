/*
 * cogread_window: one window of pixels (see include/satfs/cogread.h).
 *
 * Pass 1 maps every output pixel centre to a source pixel of the chosen
 * level and collects the tiles hit; the tiles of every band are fetched in
 * one sat_fetch_all(), adjacent byte ranges merged; pass 2 maps
 * again, decodes each tile when first hit and frees it after the last
 * output row that uses it, so only the tiles of a band in use are held.
 *
 * Threading: runs on the caller's thread; shared state is only reached
 * through cogread.c's header cache (its lock). A window that sees an
 * object change under it (tile ETag != header ETag) is read once more.
 */
#include "satfs/cogread.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cogread_private.h"
#include "satfs/cog.h"
#include "satfs/geom.h"
#include "satfs/log.h"
#include "satfs/source.h"

#define CR_MERGE_CAP (16u << 20)
/* Tiles this close are fetched in one request: GDAL's COG writer puts a
 * 4-byte leader and trailer around every tile, so tiles stored one after
 * another are never exactly adjacent; a few wasted bytes cost far less
 * than a round trip. */
#define CR_MERGE_GAP 16384u
#define CR_MAX_TILES (1u << 22)       /* tiles of one level: sanity bound */
#define CR_MAX_TILE_BYTES (64u << 20) /* one decoded tile */
/* A URL for a log line (query strings may carry tokens); needs ubuf. */
#define CR_URL(u) sat_log_url((u), ubuf, sizeof(ubuf))
#define CR_SAMPLEFORMAT_UINT 1 /* TIFF SampleFormat 1; 0 is "unset" */

struct cr_tile {
	size_t band;
	uint32_t tx, ty;
	uint64_t offset, length;  /* length 0: sparse */
	const char *url;
	size_t req;               /* request holding the bytes */
	uint64_t req_off;         /* where in that request */
	uint32_t last_row;        /* last output row sampling it */
	void *pix;                /* decoded, while needed */
	bool done;                /* decoded (or sparse) and maybe freed */
};

struct cr_band {
	struct sat_cogread_header *hdr;
	size_t level;
	const struct sat_cog_level *lv;
	int src_epsg;             /* non-zero: reproject centres into it */
	/* Same CRS: the mapping is separable, computed once. */
	int32_t *tcol;            /* tile column per output column, or -1 */
	uint32_t *xin;            /* column within that tile */
	int32_t *rowmap;          /* source row per output row, or -1 */
	uint32_t *txs;            /* the distinct tile columns hit */
	size_t ntxs;
	int32_t *tilemap;         /* tile number -> index in tiles, or -1 */
	bool has_nodata;
	double nodata;
	uint16_t fill;            /* value of sparse tiles */
	size_t tile_bytes;        /* one decoded tile */
};

struct cr_window {
	struct sat_cogread *cr;
	const struct sat_grid *g;
	struct sat_band_window *bands;
	size_t n;
	uint8_t *valid;
	enum sat_fetch_priority prio;
	struct sat_progress *progress;
	struct cr_band *b;
	struct cr_tile *tiles;
	size_t ntiles, captiles;
	struct sat_fetch_req *reqs;
	struct sat_fetch_result *res;
	struct sat_cogread_header **req_hdr;
	unsigned int *req_users;  /* tiles not yet decoded, per request */
	size_t nreqs;
	double *xy;               /* one row of centres */
	int32_t *tnum;            /* one row: tile number per pixel, or -1 */
	uint32_t *toff;           /* one row: sample index within the tile */
	/* Decoded tiles no row needs any more, kept for the next decode:
	 * a 1024x1024 tile is 2 MiB, and allocating each anew costs a fresh
	 * mapping and its page faults. */
	void *spare[4];
	size_t spare_bytes[4];
	size_t nspare;
};

static void *cr_pix_get(struct cr_window *w, size_t bytes)
{
	for (size_t i = 0; i < w->nspare; i++) {
		if (w->spare_bytes[i] != bytes)
			continue;
		void *p = w->spare[i];

		w->nspare--;
		w->spare[i] = w->spare[w->nspare];
		w->spare_bytes[i] = w->spare_bytes[w->nspare];
		return p;
	}
	return malloc(bytes);
}

static void cr_pix_put(struct cr_window *w, void *p, size_t bytes)
{
	if (!p)
		return;
	if (w->nspare == sizeof(w->spare) / sizeof(w->spare[0])) {
		free(p);
		return;
	}
	w->spare[w->nspare] = p;
	w->spare_bytes[w->nspare++] = bytes;
}

static int32_t cr_index(double d, double px, uint32_t n)
{
	double f;

	if (!isfinite(d) || !(px > 0))
		return -1;
	f = floor(d / px);
	if (f < 0 || f >= (double)n)
		return -1;
	return (int32_t)f;
}

/* Rule 3: the coarsest level still at least as fine as the grid. */
static size_t cr_pick_level(const struct sat_cog *cog, double pixel_size)
{
	size_t best = 0, nl = sat_cog_level_count(cog);
	double bestpx = -1;

	for (size_t l = 0; l < nl; l++) {
		const struct sat_cog_level *lv = sat_cog_level(cog, l);
		double px = fmax(lv->pixel_x, lv->pixel_y);

		if (px <= pixel_size * (1 + 1e-9) && px > bestpx) {
			best = l;
			bestpx = px;
		}
	}
	return best;
}

static int cr_band_setup(struct cr_window *w, size_t i)
{
	const struct sat_grid *g = w->g;
	struct cr_band *b = &w->b[i];
	const struct sat_cog *cog = b->hdr->cog;
	const struct sat_cog_level *lv;
	char ubuf[512];
	size_t ntile;
	int epsg;

	b->level = cr_pick_level(cog, g->pixel_size);
	lv = b->lv = sat_cog_level(cog, b->level);
	if ((lv->bits != 8 && lv->bits != 16) || lv->samples < 1 ||
	    (lv->sample_format != CR_SAMPLEFORMAT_UINT &&
	     lv->sample_format != 0)) {
		sat_log_cause("%s: %u-bit samples of format %u are not "
			      "supported (uint8, uint16 only)",
			      CR_URL(w->bands[i].href),
			      lv->bits, lv->sample_format);
		return -ENOTSUP;
	}
	ntile = (size_t)lv->tiles_across * lv->tiles_down;
	b->tile_bytes = (size_t)lv->tile_width * lv->tile_height *
			lv->samples * (lv->bits / 8);
	if (ntile == 0 || ntile > CR_MAX_TILES || b->tile_bytes == 0 ||
	    b->tile_bytes > CR_MAX_TILE_BYTES || lv->width == 0 ||
	    lv->height == 0)
		return -EIO;
	b->tilemap = malloc(ntile * sizeof(*b->tilemap));
	if (!b->tilemap)
		return -ENOMEM;
	memset(b->tilemap, 0xff, ntile * sizeof(*b->tilemap)); /* -1 */

	if (w->bands[i].has_nodata) {
		b->has_nodata = true;
		b->nodata = w->bands[i].nodata;
	} else {
		b->has_nodata = sat_cog_nodata(cog, &b->nodata);
	}
	if (b->has_nodata && b->nodata >= 0 && b->nodata == floor(b->nodata) &&
	    b->nodata <= (lv->bits == 8 ? 255 : 65535))
		b->fill = (uint16_t)b->nodata;

	epsg = sat_cog_epsg(cog);
	if (epsg != 0 && epsg != g->epsg) {
		b->src_epsg = epsg;
		return 0;
	}
	/* Same CRS: the mapping is separable, compute it once. */
	b->tcol = malloc(g->width * sizeof(*b->tcol));
	b->xin = malloc(g->width * sizeof(*b->xin));
	b->txs = malloc(lv->tiles_across * sizeof(*b->txs));
	b->rowmap = malloc(g->height * sizeof(*b->rowmap));
	if (!b->tcol || !b->xin || !b->txs || !b->rowmap)
		return -ENOMEM;
	for (uint32_t c = 0; c < g->width; c++) {
		double x = g->origin_x + (c + 0.5) * g->pixel_size;
		int32_t sc = cr_index(x - lv->origin_x, lv->pixel_x, lv->width);
		uint32_t tx = (uint32_t)sc / lv->tile_width;

		b->tcol[c] = sc < 0 ? -1 : (int32_t)tx;
		b->xin[c] = sc < 0 ? 0 : (uint32_t)sc % lv->tile_width;
		/* Columns grow with c: distinct values come in order. */
		if (sc >= 0 && (b->ntxs == 0 || b->txs[b->ntxs - 1] != tx))
			b->txs[b->ntxs++] = tx;
	}
	for (uint32_t r = 0; r < g->height; r++) {
		double y = g->origin_y - (r + 0.5) * g->pixel_size;

		b->rowmap[r] = cr_index(lv->origin_y - y, lv->pixel_y,
					lv->height);
	}
	return 0;
}

/* For every centre of output row `row`: the number of the source tile
 * holding it (ty * tiles_across + tx, -1 when outside the source) into
 * w->tnum and the index of its sample within that tile into w->toff. */
static int cr_row_tiles(struct cr_window *w, const struct cr_band *b,
			uint32_t row)
{
	const struct sat_grid *g = w->g;
	const struct sat_cog_level *lv = b->lv;
	double y = g->origin_y - (row + 0.5) * g->pixel_size;
	int rc;

	if (!b->src_epsg) {
		int32_t sr = b->rowmap[row];
		uint32_t ty = (uint32_t)sr / lv->tile_height;
		uint32_t yin = (uint32_t)sr % lv->tile_height;

		for (uint32_t c = 0; c < g->width; c++) {
			if (sr < 0 || b->tcol[c] < 0) {
				w->tnum[c] = -1;
				continue;
			}
			w->tnum[c] = (int32_t)(ty * lv->tiles_across) +
				     b->tcol[c];
			w->toff[c] = (yin * lv->tile_width + b->xin[c]) *
				     lv->samples;
		}
		return 0;
	}
	for (uint32_t c = 0; c < g->width; c++) {
		w->xy[2 * c] = g->origin_x + (c + 0.5) * g->pixel_size;
		w->xy[2 * c + 1] = y;
	}
	rc = sat_geom_transform(g->epsg, b->src_epsg, w->xy, g->width);
	if (rc)
		return rc;
	for (uint32_t c = 0; c < g->width; c++) {
		int32_t sc = cr_index(w->xy[2 * c] - lv->origin_x,
				      lv->pixel_x, lv->width);
		int32_t sr = cr_index(lv->origin_y - w->xy[2 * c + 1],
				      lv->pixel_y, lv->height);

		if (sc < 0 || sr < 0) {
			w->tnum[c] = -1;
			continue;
		}
		w->tnum[c] = (int32_t)((uint32_t)sr / lv->tile_height *
				       lv->tiles_across +
				       (uint32_t)sc / lv->tile_width);
		w->toff[c] = ((uint32_t)sr % lv->tile_height * lv->tile_width +
			      (uint32_t)sc % lv->tile_width) * lv->samples;
	}
	return 0;
}

static int cr_add_tile(struct cr_window *w, size_t bi, uint32_t tnum,
		       uint32_t row)
{
	struct cr_band *b = &w->b[bi];
	int32_t *slot = &b->tilemap[tnum];
	struct cr_tile *t;

	if (*slot >= 0) {
		w->tiles[*slot].last_row = row;
		return 0;
	}
	if (w->ntiles == w->captiles) {
		size_t cap = w->captiles ? 2 * w->captiles : 64;
		struct cr_tile *nt = realloc(w->tiles, cap * sizeof(*nt));

		if (!nt)
			return -ENOMEM;
		w->tiles = nt;
		w->captiles = cap;
	}
	t = &w->tiles[w->ntiles];
	memset(t, 0, sizeof(*t));
	t->band = bi;
	t->tx = tnum % b->lv->tiles_across;
	t->ty = tnum / b->lv->tiles_across;
	t->url = b->hdr->url;
	t->last_row = row;
	if (sat_cog_tile_range(b->hdr->cog, b->level, t->tx, t->ty,
			       &t->offset, &t->length) != 0)
		return -EIO;
	*slot = (int32_t)w->ntiles++;
	return 0;
}

/* Pass 1: the tiles each band needs, and the last output row of each. */
static int cr_collect(struct cr_window *w)
{
	for (size_t bi = 0; bi < w->n; bi++) {
		struct cr_band *b = &w->b[bi];
		const struct sat_cog_level *lv = b->lv;
		int rc = 0;

		for (uint32_t row = 0; row < w->g->height && !rc; row++) {
			if (!b->src_epsg) {
				uint32_t ty;

				if (b->rowmap[row] < 0)
					continue;
				ty = (uint32_t)b->rowmap[row] / lv->tile_height;
				for (size_t k = 0; k < b->ntxs && !rc; k++)
					rc = cr_add_tile(w, bi, ty *
							 lv->tiles_across +
							 b->txs[k], row);
				continue;
			}
			rc = cr_row_tiles(w, b, row);
			for (uint32_t c = 0; c < w->g->width && !rc; c++)
				if (w->tnum[c] >= 0)
					rc = cr_add_tile(w, bi,
							 (uint32_t)w->tnum[c],
							 row);
		}
		if (rc)
			return rc;
	}
	return 0;
}

static int cr_cmp_range(const void *pa, const void *pb)
{
	const struct cr_tile *a = *(struct cr_tile *const *)pa;
	const struct cr_tile *b = *(struct cr_tile *const *)pb;
	int c = strcmp(a->url, b->url);

	if (c)
		return c;
	return a->offset < b->offset ? -1 : a->offset > b->offset;
}

/* One request per run of adjacent tiles of one URL, gaps of up to
 * CR_MERGE_GAP bytes included (identical ranges, e.g. the same band twice,
 * share one). */
static int cr_plan_requests(struct cr_window *w)
{
	struct cr_tile **order = malloc((w->ntiles + 1) * sizeof(*order));
	size_t m = 0;
	int ret = 0;

	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < w->ntiles; i++)
		if (w->tiles[i].length)
			order[m++] = &w->tiles[i];
	qsort(order, m, sizeof(*order), cr_cmp_range);
	w->reqs = calloc(m + 1, sizeof(*w->reqs));
	w->res = calloc(m + 1, sizeof(*w->res));
	w->req_hdr = calloc(m + 1, sizeof(*w->req_hdr));
	w->req_users = calloc(m + 1, sizeof(*w->req_users));
	if (!w->reqs || !w->res || !w->req_hdr || !w->req_users) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t k = 0; k < m; k++) {
		struct cr_tile *t = order[k];
		struct sat_fetch_req *r = w->nreqs ? &w->reqs[w->nreqs - 1]
						   : NULL;
		bool same = r && strcmp(r->url, t->url) == 0;
		uint64_t end = r ? r->range_offset + r->range_length : 0;

		if (same && t->offset >= r->range_offset &&
		    t->offset + t->length <= end) {
			/* inside the last request already */
		} else if (same && t->offset >= end &&
			   t->offset - end <= CR_MERGE_GAP &&
			   t->offset + t->length - r->range_offset <=
				   CR_MERGE_CAP) {
			r->range_length = t->offset + t->length -
					  r->range_offset;
		} else {
			r = &w->reqs[w->nreqs];
			r->url = t->url;
			r->range_offset = t->offset;
			r->range_length = t->length;
			r->priority = w->prio;
			r->progress = w->progress;
			w->req_hdr[w->nreqs++] = w->b[t->band].hdr;
		}
		t->req = w->nreqs - 1;
		t->req_off = t->offset - r->range_offset;
		w->req_users[t->req]++;
	}
out:
	free(order);
	return ret;
}

/* Fetches every request at once. -ESTALE when an object changed since its
 * header was read (its header is forgotten). */
static int cr_fetch_tiles(struct cr_window *w)
{
	char ubuf[512];
	int ret = 0;

	if (w->nreqs == 0)
		return 0;
	sat_cogread_fetch_all(w->cr, w->reqs, w->res, w->nreqs);
	for (size_t k = 0; k < w->nreqs; k++) {
		const struct sat_fetch_result *res = &w->res[k];
		const struct sat_cogread_header *h = w->req_hdr[k];

		if (res->err && !(h->etag && res->etag &&
				  strcmp(h->etag, res->etag) != 0)) {
			sat_log_cause("tiles of %s: %s (HTTP %ld, %d tries)",
				      CR_URL(w->reqs[k].url),
				      res->status < 300 && res->why[0]
					      ? res->why
					      : strerror(-res->err),
				      res->status, res->tries);
			/* The header may be what is wrong (the object was
			 * replaced, e.g. a 416 for offsets past its new end,
			 * and no ETag said so): a later read starts afresh
			 * instead of failing on it forever. */
			if (res->err != -ECANCELED)
				sat_cogread_forget(w->cr, w->req_hdr[k]);
			return res->err;
		}
		if (h->etag && res->etag && strcmp(h->etag, res->etag) != 0) {
			sat_info("cogread: %s changed (ETag %s, was %s); "
				 "rereading its header",
				 CR_URL(w->reqs[k].url),
				 res->etag, h->etag);
			sat_cogread_forget(w->cr, w->req_hdr[k]);
			ret = -ESTALE;
			continue;
		}
		if (res->len != w->reqs[k].range_length) {
			sat_log_cause("%s: short answer "
				      "(%zu of %llu bytes)",
				      CR_URL(w->reqs[k].url),
				      res->len,
				      (unsigned long long)w->reqs[k].range_length);
			sat_cogread_forget(w->cr, w->req_hdr[k]); /* as above */
			return -EIO;
		}
	}
	return ret;
}

static int cr_decode(struct cr_window *w, struct cr_tile *t)
{
	struct cr_band *b = &w->b[t->band];
	struct sat_fetch_result *res;
	char ubuf[512];
	int rc;

	t->done = true;
	if (t->length == 0)
		return 0; /* sparse: b->fill */
	t->pix = cr_pix_get(w, b->tile_bytes);
	if (!t->pix)
		return -ENOMEM;
	res = &w->res[t->req];
	rc = sat_cog_decode_tile(b->hdr->cog, b->level, t->tx, t->ty,
				 (const uint8_t *)res->data + t->req_off,
				 t->length, t->pix, b->tile_bytes);
	if (--w->req_users[t->req] == 0)
		sat_fetch_result_clear(res);
	if (rc) {
		sat_log_cause("%s: tile %u,%u of level %zu does not "
			      "decode (%s)",
			      CR_URL(t->url), t->tx, t->ty,
			      b->level, strerror(-rc));
		return rc == -ENOMEM ? rc : -EIO;
	}
	return 0;
}

static int cr_cmp_last_row(const void *pa, const void *pb)
{
	const struct cr_tile *a = *(struct cr_tile *const *)pa;
	const struct cr_tile *b = *(struct cr_tile *const *)pb;

	return a->last_row < b->last_row ? -1 : a->last_row > b->last_row;
}

static int cr_sample_band(struct cr_window *w, size_t bi)
{
	const struct sat_grid *g = w->g;
	struct cr_band *b = &w->b[bi];
	const struct sat_cog_level *lv = b->lv;
	uint16_t *dn = w->bands[bi].dn;
	struct cr_tile **order;
	size_t m = 0, next = 0;
	int ret = 0;

	order = malloc((w->ntiles + 1) * sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < w->ntiles; i++)
		if (w->tiles[i].band == bi)
			order[m++] = &w->tiles[i];
	qsort(order, m, sizeof(*order), cr_cmp_last_row);

	for (uint32_t row = 0; row < g->height && !ret; row++) {
		size_t base = (size_t)row * g->width;

		ret = cr_row_tiles(w, b, row);
		for (uint32_t c = 0; c < g->width && !ret; c++) {
			struct cr_tile *t;
			uint16_t v;

			if (w->tnum[c] < 0) {
				dn[base + c] = 0;
				w->valid[base + c] = 0;
				continue;
			}
			t = &w->tiles[b->tilemap[w->tnum[c]]];
			if (!t->done && (ret = cr_decode(w, t)) != 0)
				break;
			if (!t->pix)
				v = b->fill;
			else if (lv->bits == 8)
				v = ((const uint8_t *)t->pix)[w->toff[c]];
			else
				v = ((const uint16_t *)t->pix)[w->toff[c]];
			dn[base + c] = v;
			if (b->has_nodata && (double)v == b->nodata)
				w->valid[base + c] = 0;
		}
		/* Tiles no later row needs. */
		while (next < m && order[next]->last_row <= row) {
			cr_pix_put(w, order[next]->pix, b->tile_bytes);
			order[next++]->pix = NULL;
		}
	}
	free(order);
	return ret;
}

static void cr_window_clear(struct cr_window *w)
{
	for (size_t i = 0; i < w->n; i++) {
		struct cr_band *b = &w->b[i];

		sat_cogread_header_unref(w->cr, b->hdr);
		free(b->tcol);
		free(b->xin);
		free(b->txs);
		free(b->rowmap);
		free(b->tilemap);
	}
	for (size_t i = 0; i < w->ntiles; i++)
		free(w->tiles[i].pix);
	for (size_t i = 0; i < w->nspare; i++)
		free(w->spare[i]);
	w->nspare = 0;
	for (size_t k = 0; k < w->nreqs; k++)
		sat_fetch_result_clear(&w->res[k]);
	free(w->b);
	free(w->tiles);
	free(w->reqs);
	free(w->res);
	free(w->req_hdr);
	free(w->req_users);
	free(w->xy);
	free(w->tnum);
	free(w->toff);
}

static int cr_window_once(struct cr_window *w)
{
	const struct sat_grid *g = w->g;
	size_t npix = (size_t)g->width * g->height;
	const char **urls;
	struct sat_cogread_header **hdrs;
	int ret;

	w->b = calloc(w->n, sizeof(*w->b));
	urls = calloc(w->n, sizeof(*urls));
	hdrs = calloc(w->n, sizeof(*hdrs));
	w->xy = malloc(2 * (size_t)g->width * sizeof(*w->xy));
	w->tnum = malloc(g->width * sizeof(*w->tnum));
	w->toff = malloc(g->width * sizeof(*w->toff));
	if (!w->b || !urls || !hdrs || !w->xy || !w->tnum || !w->toff) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < w->n; i++)
		urls[i] = w->bands[i].href;
	ret = sat_cogread_get_headers(w->cr, urls, w->n, hdrs, w->prio,
				      w->progress);
	if (ret)
		goto out;
	for (size_t i = 0; i < w->n; i++)
		w->b[i].hdr = hdrs[i];
	for (size_t i = 0; i < w->n && !ret; i++)
		ret = cr_band_setup(w, i);
	if (!ret)
		ret = cr_collect(w);
	if (!ret)
		ret = cr_plan_requests(w);
	if (!ret)
		ret = cr_fetch_tiles(w);
	if (ret)
		goto out;
	memset(w->valid, 1, npix);
	for (size_t i = 0; i < w->n && !ret; i++) {
		w->bands[i].dn = malloc(npix * sizeof(uint16_t));
		if (!w->bands[i].dn)
			ret = -ENOMEM;
		else
			ret = cr_sample_band(w, i);
	}
out:
	if (ret == -EINVAL)
		ret = -EIO; /* e.g. a transformation PROJ refused */
	cr_window_clear(w);
	free(urls);
	free(hdrs);
	return ret;
}

static int cr_window(struct sat_cogread *cr, const struct sat_grid *g,
		     struct sat_band_window *bands, size_t n, uint8_t *valid,
		     enum sat_fetch_priority prio,
		     struct sat_progress *progress)
{
	int ret = 0;

	for (size_t i = 0; i < n; i++)
		bands[i].dn = NULL;
	if (!cr || !g || !bands || n == 0 || !valid || g->width == 0 ||
	    g->height == 0 || !(g->pixel_size > 0))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!bands[i].href)
			return -EINVAL;
	for (int attempt = 0; attempt < 2; attempt++) {
		struct cr_window w = {
			.cr = cr, .g = g, .bands = bands, .n = n,
			.valid = valid, .prio = prio, .progress = progress,
		};

		ret = cr_window_once(&w);
		if (ret) {
			for (size_t i = 0; i < n; i++) {
				free(bands[i].dn);
				bands[i].dn = NULL;
			}
		}
		if (ret != -ESTALE)
			return ret;
	}
	sat_log_cause("sources changed twice while being read");
	return -EIO;
}

int sat_cogread_window(struct sat_cogread *cr, const struct sat_grid *g,
		       struct sat_band_window *bands, size_t n,
		       uint8_t *valid, enum sat_fetch_priority prio)
{
	return cr_window(cr, g, bands, n, valid, prio, NULL);
}

int sat_cogread_read(struct sat_cogread *cr, const struct sat_read *rd)
{
	const struct sat_grid *g = rd->grid;
	size_t npix = (size_t)g->width * g->height;
	struct sat_band_window *bw = calloc(rd->nbands + 1, sizeof(*bw));
	int ret;

	if (!bw)
		return -ENOMEM;
	for (size_t i = 0; i < rd->nbands; i++) {
		bw[i].href = rd->bands[i].href;
		bw[i].has_nodata = rd->bands[i].has_nodata;
		bw[i].nodata = rd->bands[i].nodata;
	}
	ret = cr_window(cr, g, bw, rd->nbands, rd->valid, rd->prio,
			rd->progress);
	for (size_t i = 0; i < rd->nbands && !ret; i++) {
		ret = sat_read_band_reserve(&rd->bands[i], SAT_SAMPLE_U16,
					    npix);
		if (!ret)
			memcpy(rd->bands[i].values, bw[i].dn,
			       npix * sizeof(uint16_t));
	}
	for (size_t i = 0; i < rd->nbands; i++)
		free(bw[i].dn);
	free(bw);
	return ret;
}
