/*
 * cogread_window: one window of pixels (include/satfs/cogread.h).
 *
 * For each band: its header (fs/cogread.c), the level to read (the
 * coarsest still at least as fine as the grid, docs/ARCHITECTURE.md
 * "Rendering rules", rule 3) and where each output pixel centre falls in
 * it: computed once per column and once per row when the source is in
 * the grid's CRS, else per pixel through PROJ (sat_geom_transform, once
 * per row for all the bands of one CRS). Then the tiles those pixels lie
 * in, all at once from the tile cache (fs/cogread_tiles.c), which fetches
 * and decodes the missing ones on every core; then the values, copied
 * from the decoded tiles. The tiles of the caller's next window are asked
 * for as well, without waiting, so that they arrive while the caller
 * works on this one.
 *
 * Threading: runs on the caller's thread; shared state is only reached
 * through the header and tile caches (cr->lock). A window that sees an
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
#include "satfs/sample.h"
#include "satfs/source.h"

#define CR_MAX_TILES (1u << 22)       /* tiles of one level: sanity bound */
#define CR_MAX_TILE_BYTES (64u << 20) /* one decoded tile */
/* A URL for a log line (query strings may carry tokens); needs ubuf. */
#define CR_URL(u) sat_log_url((u), ubuf, sizeof(ubuf))
#define CR_SAMPLEFORMAT_UINT 1 /* TIFF SampleFormat 1; 0 is "unset" */

struct cr_band {
	struct sat_cogread_header *hdr;
	size_t level;
	const struct sat_cog_level *lv;
	int src_epsg;             /* non-zero: reproject centres into it */
	enum sat_sample_type type;
	uint16_t sample;          /* which sample of each pixel */
	bool has_nodata;
	double nodata;
	double fill;              /* value of sparse tiles */
	/* Same CRS: the mapping is separable, computed once. */
	int32_t *tcol;            /* tile column per output column, or -1 */
	uint32_t *xin;            /* column within that tile */
	int32_t *rowmap;          /* source row per output row, or -1 */
	/* Another CRS: tile number and sample offset per output pixel. */
	int32_t *ptile;
	uint32_t *poff;
	/* The tiles it needs: sorted tile numbers, and where their wants
	 * start in the window's want array. */
	uint32_t *tnums;
	size_t ntnums;
	size_t want0;
};

struct cr_window {
	struct sat_cogread *cr;
	const struct sat_grid *g;
	const struct sat_read *rd;
	struct cr_band *b;
	size_t n;
	struct cr_want *want;
	size_t nwant;
	double *xy;               /* one row of centres */
};

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
	const struct sat_read_band *rb = &w->rd->bands[i];
	struct cr_band *b = &w->b[i];
	const struct sat_cog *cog = b->hdr->cog;
	const struct sat_cog_level *lv;
	char ubuf[512];
	size_t ntile, tile_bytes;
	int epsg;

	b->level = cr_pick_level(cog, g->pixel_size);
	lv = b->lv = sat_cog_level(cog, b->level);
	if ((lv->bits != 8 && lv->bits != 16) || lv->samples < 1 ||
	    (lv->sample_format != CR_SAMPLEFORMAT_UINT &&
	     lv->sample_format != 0)) {
		sat_log_cause("%s: %u-bit samples of format %u are not "
			      "supported (uint8, uint16 only)",
			      CR_URL(rb->href), lv->bits, lv->sample_format);
		return -ENOTSUP;
	}
	b->type = lv->bits == 8 ? SAT_SAMPLE_U8 : SAT_SAMPLE_U16;
	if (rb->sample >= lv->samples) {
		sat_log_cause("%s has %u bands, not %u", CR_URL(rb->href),
			      lv->samples, rb->sample + 1);
		return -EINVAL;
	}
	b->sample = rb->sample;
	/* The reader locates these; this window does not sample them. */
	if ((lv->separate && lv->samples > 1) || !(lv->pixel_y > 0)) {
		sat_log_cause("%s: %s are not supported here",
			      CR_URL(rb->href),
			      lv->separate ? "planar-separate bands"
					   : "south-up rasters");
		return -ENOTSUP;
	}
	ntile = (size_t)lv->tiles_across * lv->tiles_down;
	tile_bytes = (size_t)lv->tile_width * lv->tile_height * lv->samples *
		     (lv->bits / 8);
	if (ntile == 0 || ntile > CR_MAX_TILES || tile_bytes == 0 ||
	    tile_bytes > CR_MAX_TILE_BYTES || lv->width == 0 ||
	    lv->height == 0) {
		sat_log_cause("%s: a tile layout we refuse (%zu tiles of "
			      "%zu bytes)", CR_URL(rb->href), ntile,
			      tile_bytes);
		return -EIO;
	}
	if (rb->has_nodata) {
		b->has_nodata = true;
		b->nodata = rb->nodata;
	} else {
		b->has_nodata = sat_cog_nodata(cog, &b->nodata);
	}
	b->fill = b->has_nodata && b->nodata >= 0 &&
			  b->nodata == floor(b->nodata) &&
			  b->nodata <= (lv->bits == 8 ? 255 : 65535)
		  ? b->nodata
		  : 0;

	epsg = sat_cog_epsg(cog);
	if (epsg != 0 && epsg != g->epsg) {
		b->src_epsg = epsg;
		b->ptile = malloc((size_t)g->width * g->height *
				  sizeof(*b->ptile));
		b->poff = malloc((size_t)g->width * g->height *
				 sizeof(*b->poff));
		return b->ptile && b->poff ? 0 : -ENOMEM;
	}
	/* Same CRS: the mapping is separable, compute it once. */
	b->tcol = malloc(g->width * sizeof(*b->tcol));
	b->xin = malloc(g->width * sizeof(*b->xin));
	b->rowmap = malloc(g->height * sizeof(*b->rowmap));
	if (!b->tcol || !b->xin || !b->rowmap)
		return -ENOMEM;
	for (uint32_t c = 0; c < g->width; c++) {
		double x = g->origin_x + (c + 0.5) * g->pixel_size;
		int32_t sc = cr_index(x - lv->origin_x, lv->pixel_x, lv->width);

		b->tcol[c] = sc < 0 ? -1 : (int32_t)((uint32_t)sc /
						     lv->tile_width);
		b->xin[c] = sc < 0 ? 0 : (uint32_t)sc % lv->tile_width;
	}
	for (uint32_t r = 0; r < g->height; r++) {
		double y = g->origin_y - (r + 0.5) * g->pixel_size;

		b->rowmap[r] = cr_index(lv->origin_y - y, lv->pixel_y,
					lv->height);
	}
	return 0;
}

/* Bands in another CRS: their per-pixel tile and offset, with one PROJ
 * call per row for all the bands of one CRS. */
static int cr_map_reprojected(struct cr_window *w)
{
	const struct sat_grid *g = w->g;

	for (size_t i = 0; i < w->n; i++) {
		int epsg = w->b[i].src_epsg;
		bool done = false;

		for (size_t k = 0; k < i; k++)
			done = done || w->b[k].src_epsg == epsg;
		if (!epsg || done)
			continue;
		for (uint32_t row = 0; row < g->height; row++) {
			double y = g->origin_y - (row + 0.5) * g->pixel_size;
			int rc;

			for (uint32_t c = 0; c < g->width; c++) {
				w->xy[2 * c] = g->origin_x +
					       (c + 0.5) * g->pixel_size;
				w->xy[2 * c + 1] = y;
			}
			rc = sat_geom_transform(g->epsg, epsg, w->xy,
						g->width);
			if (rc)
				return rc;
			for (size_t k = i; k < w->n; k++) {
				struct cr_band *b = &w->b[k];
				const struct sat_cog_level *lv = b->lv;
				size_t base = (size_t)row * g->width;

				if (b->src_epsg != epsg)
					continue;
				for (uint32_t c = 0; c < g->width; c++) {
					int32_t sc = cr_index(
						w->xy[2 * c] - lv->origin_x,
						lv->pixel_x, lv->width);
					int32_t sr = cr_index(
						lv->origin_y - w->xy[2 * c + 1],
						lv->pixel_y, lv->height);

					if (sc < 0 || sr < 0) {
						b->ptile[base + c] = -1;
						continue;
					}
					b->ptile[base + c] = (int32_t)(
						(uint32_t)sr / lv->tile_height *
							lv->tiles_across +
						(uint32_t)sc / lv->tile_width);
					b->poff[base + c] =
						(uint32_t)sr % lv->tile_height *
							lv->tile_width +
						(uint32_t)sc % lv->tile_width;
				}
			}
		}
	}
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Appends tile number t unless it is the last one added. */
static int push_tnum(struct cr_band *b, size_t *cap, uint32_t t)
{
	if (b->ntnums && b->tnums[b->ntnums - 1] == t)
		return 0;
	if (b->ntnums == *cap) {
		size_t nc = *cap ? 2 * *cap : 16;
		uint32_t *v = realloc(b->tnums, nc * sizeof(*v));

		if (!v)
			return -ENOMEM;
		b->tnums = v;
		*cap = nc;
	}
	b->tnums[b->ntnums++] = t;
	return 0;
}

/* The sorted, distinct tiles band b needs on grid g. */
static int cr_band_tiles(struct cr_window *w, struct cr_band *b)
{
	const struct sat_grid *g = w->g;
	const struct sat_cog_level *lv = b->lv;
	size_t cap = 0, npix = (size_t)g->width * g->height, k = 0;
	int32_t lastrow = -2;
	int rc = 0;

	if (b->src_epsg) {
		for (size_t i = 0; i < npix && !rc; i++)
			if (b->ptile[i] >= 0)
				rc = push_tnum(b, &cap, (uint32_t)b->ptile[i]);
	} else {
		for (uint32_t r = 0; r < g->height && !rc; r++) {
			int32_t ty;

			if (b->rowmap[r] < 0)
				continue;
			ty = b->rowmap[r] / (int32_t)lv->tile_height;
			if (ty == lastrow)
				continue;
			lastrow = ty;
			for (uint32_t c = 0; c < g->width && !rc; c++)
				if (b->tcol[c] >= 0)
					rc = push_tnum(b, &cap,
						       (uint32_t)ty *
							       lv->tiles_across +
						       (uint32_t)b->tcol[c]);
		}
	}
	if (rc)
		return rc;
	if (b->ntnums)
		qsort(b->tnums, b->ntnums, sizeof(*b->tnums), cmp_u32);
	for (size_t i = 0; i < b->ntnums; i++)
		if (i == 0 || b->tnums[i] != b->tnums[k - 1])
			b->tnums[k++] = b->tnums[i];
	b->ntnums = k;
	return 0;
}

/* One want per tile per band, in the window's want array. */
static int cr_wants(struct cr_window *w)
{
	size_t total = 0, k = 0;

	for (size_t i = 0; i < w->n; i++)
		total += w->b[i].ntnums;
	w->want = calloc(total + 1, sizeof(*w->want));
	if (!w->want)
		return -ENOMEM;
	for (size_t i = 0; i < w->n; i++) {
		struct cr_band *b = &w->b[i];

		b->want0 = k;
		for (size_t j = 0; j < b->ntnums; j++, k++) {
			struct cr_want *cw = &w->want[k];

			cw->hdr = b->hdr;
			cw->level = (uint32_t)b->level;
			cw->tx = b->tnums[j] % b->lv->tiles_across;
			cw->ty = b->tnums[j] / b->lv->tiles_across;
			if (sat_cog_tile_range(b->hdr->cog, b->level, cw->tx,
					       cw->ty, &cw->offset,
					       &cw->length) != 0)
				return -EIO;
		}
	}
	w->nwant = k;
	return 0;
}

/* The pinned tile number t of band b. */
static const struct cr_tile *cr_tile_of(const struct cr_window *w,
					const struct cr_band *b, uint32_t t)
{
	size_t lo = 0, hi = b->ntnums;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (b->tnums[mid] == t)
			return w->want[b->want0 + mid].tile;
		if (b->tnums[mid] < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* Copies band i's values into its read band; clears valid where it has
 * no data. */
static void cr_sample(struct cr_window *w, size_t i)
{
	const struct sat_grid *g = w->g;
	struct cr_band *b = &w->b[i];
	struct sat_read_band *rb = &w->rd->bands[i];
	const struct sat_cog_level *lv = b->lv;
	uint8_t *valid = w->rd->valid;
	const struct cr_tile *t = NULL;
	int32_t tlast = -1;
	bool u8 = b->type == SAT_SAMPLE_U8;

	for (uint32_t row = 0; row < g->height; row++) {
		size_t base = (size_t)row * g->width;
		int32_t sr = b->src_epsg ? 0 : b->rowmap[row];
		uint32_t ty = sr < 0 ? 0 : (uint32_t)sr / lv->tile_height;
		uint32_t yoff = sr < 0 ? 0 : (uint32_t)sr % lv->tile_height *
						      lv->tile_width;

		for (uint32_t c = 0; c < g->width; c++) {
			int32_t tn;
			uint32_t off;
			double v;

			if (b->src_epsg) {
				tn = b->ptile[base + c];
				off = b->poff[base + c];
			} else if (sr < 0 || b->tcol[c] < 0) {
				tn = -1;
				off = 0;
			} else {
				tn = (int32_t)(ty * lv->tiles_across) +
				     b->tcol[c];
				off = yoff + b->xin[c];
			}
			if (tn < 0) {
				sat_sample_put(rb->values, b->type, base + c,
					       0);
				valid[base + c] = 0;
				continue;
			}
			if (tn != tlast) {
				t = cr_tile_of(w, b, (uint32_t)tn);
				tlast = tn;
			}
			off = off * lv->samples + b->sample;
			if (!t || !t->pix)
				v = b->fill;
			else if (u8)
				v = ((const uint8_t *)t->pix)[off];
			else
				v = ((const uint16_t *)t->pix)[off];
			if (u8)
				((uint8_t *)rb->values)[base + c] = (uint8_t)v;
			else
				((uint16_t *)rb->values)[base + c] =
					(uint16_t)v;
			if (b->has_nodata && v == b->nodata)
				valid[base + c] = 0;
		}
	}
}

static void cr_window_clear(struct cr_window *w)
{
	for (size_t i = 0; w->b && i < w->n; i++) {
		struct cr_band *b = &w->b[i];

		sat_cogread_header_unref(w->cr, b->hdr);
		free(b->tcol);
		free(b->xin);
		free(b->rowmap);
		free(b->ptile);
		free(b->poff);
		free(b->tnums);
	}
	free(w->b);
	free(w->want);
	free(w->xy);
	w->b = NULL;
	w->want = NULL;
	w->xy = NULL;
}

/* Maps grid g for the bands of rd, with their headers: everything up to
 * the wants, no tile fetched. */
static int cr_window_plan(struct cr_window *w, const struct sat_grid *g,
			  struct sat_progress *progress)
{
	const struct sat_read *rd = w->rd;
	const char **urls = calloc(w->n, sizeof(*urls));
	struct sat_cogread_header **hdrs = calloc(w->n, sizeof(*hdrs));
	int ret;

	w->g = g;
	w->b = calloc(w->n, sizeof(*w->b));
	w->xy = malloc(2 * (size_t)g->width * sizeof(*w->xy));
	if (!w->b || !urls || !hdrs || !w->xy) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < w->n; i++)
		urls[i] = rd->bands[i].href;
	ret = sat_cogread_get_headers(w->cr, urls, w->n, hdrs, rd->prio,
				      progress);
	if (ret)
		goto out;
	for (size_t i = 0; i < w->n; i++)
		w->b[i].hdr = hdrs[i];
	for (size_t i = 0; i < w->n && !ret; i++)
		ret = cr_band_setup(w, i);
	if (!ret)
		ret = cr_map_reprojected(w);
	for (size_t i = 0; i < w->n && !ret; i++)
		ret = cr_band_tiles(w, &w->b[i]);
	if (!ret)
		ret = cr_wants(w);
out:
	free(urls);
	free(hdrs);
	return ret;
}

/* Asks for the tiles of the next window, without waiting. Best effort:
 * a failure here is met again, and reported, when that window is read. */
static void cr_prefetch_next(struct sat_cogread *cr, const struct sat_read *rd)
{
	struct cr_window nw = { .cr = cr, .rd = rd, .n = rd->nbands };

	if (cr_window_plan(&nw, rd->next, rd->progress) == 0)
		cr_tiles_get(cr, nw.want, nw.nwant, false, rd->prio,
			     rd->progress);
	cr_window_clear(&nw);
}

/* Is any band read through PROJ (whose per-pixel cost a look ahead would
 * pay twice)? */
static bool cr_reprojects(const struct cr_window *w)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->b[i].src_epsg)
			return true;
	return false;
}

static int cr_window_once(struct cr_window *w)
{
	const struct sat_read *rd = w->rd;
	const struct sat_grid *g = rd->grid;
	size_t npix = (size_t)g->width * g->height;
	int ret;

	ret = cr_window_plan(w, g, rd->progress);
	if (ret)
		goto out;
	for (size_t i = 0; i < w->n && !ret; i++)
		ret = sat_read_band_reserve(&rd->bands[i], w->b[i].type, npix);
	if (ret)
		goto out;
	/* ours first, then the next window's: ours go out first */
	ret = cr_tiles_get(w->cr, w->want, w->nwant, true, rd->prio,
			   rd->progress);
	if (ret)
		goto out;
	if (rd->next && !cr_reprojects(w))
		cr_prefetch_next(w->cr, rd);
	memset(rd->valid, 1, npix);
	for (size_t i = 0; i < w->n; i++)
		cr_sample(w, i);
	cr_tiles_unpin(w->cr, w->want, w->nwant);
out:
	if (ret == -EINVAL)
		ret = -EIO; /* e.g. a transformation PROJ refused */
	cr_window_clear(w);
	return ret;
}

int sat_cogread_read(struct sat_cogread *cr, const struct sat_read *rd)
{
	const struct sat_grid *g = rd->grid;
	int ret = 0;

	if (!cr || !g || !rd->bands || rd->nbands == 0 || !rd->valid ||
	    g->width == 0 || g->height == 0 || !(g->pixel_size > 0))
		return -EINVAL;
	for (size_t i = 0; i < rd->nbands; i++)
		if (!rd->bands[i].href)
			return -EINVAL;
	for (int attempt = 0; attempt < 2; attempt++) {
		struct cr_window w = { .cr = cr, .rd = rd, .n = rd->nbands };

		ret = cr_window_once(&w);
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
	size_t npix = g ? (size_t)g->width * g->height : 0;
	struct sat_read_band *rb = calloc(n + 1, sizeof(*rb));
	struct sat_read rd = { .grid = g, .bands = rb, .nbands = n,
			       .valid = valid, .prio = prio };
	int ret;

	for (size_t i = 0; i < n; i++)
		bands[i].dn = NULL;
	if (!rb)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		rb[i].href = bands[i].href;
		rb[i].has_nodata = bands[i].has_nodata;
		rb[i].nodata = bands[i].nodata;
	}
	ret = sat_cogread_read(cr, &rd);
	for (size_t i = 0; i < n && !ret; i++) {
		bands[i].dn = malloc(npix * sizeof(uint16_t));
		if (!bands[i].dn) {
			ret = -ENOMEM;
			break;
		}
		for (size_t p = 0; p < npix; p++)
			bands[i].dn[p] = (uint16_t)sat_sample_get(
				rb[i].values, rb[i].type, p);
	}
	if (ret)
		for (size_t i = 0; i < n; i++) {
			free(bands[i].dn);
			bands[i].dn = NULL;
		}
	for (size_t i = 0; i < n; i++)
		free(rb[i].values);
	free(rb);
	return ret;
}
