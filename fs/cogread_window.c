/*
 * cogread_window: one window of pixels (include/satfs/cogread.h).
 *
 * For each band: its header (fs/cogread.c), the level to read (the
 * coarsest still at least as fine as the grid, docs/ARCHITECTURE.md
 * "Rendering rules", rule 3) and where each output pixel centre falls in
 * it: computed once per column and once per row when the source is in
 * the grid's CRS, else per pixel through PROJ (sat_geom_transform_crs,
 * once per row for all the bands of one CRS; the file's CRS may be a full
 * definition rather than a code). Then the tiles those pixels lie in, all
 * at once from the tile cache (fs/cogread_tiles.c), which fetches and
 * decodes the missing ones on every core: the band's own tiles (a
 * separate level stores one per band), and where the file says which
 * pixels are invalid, its mask tiles (a mask IFD) or, for a separate
 * level with alpha, the alpha band's; then the values, in the file's
 * sample type, copied from the decoded tiles, and a pixel invalid where
 * GDAL's mask band says so (mask, nodata compared in the band's type,
 * alpha 0), outside the raster, or in a sparse mask tile. The tiles of the caller's next window are asked
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
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cogread_private.h"
#include "satfs/bufpool.h"
#include "satfs/cog.h"
#include "satfs/geom.h"
#include "satfs/log.h"
#include "satfs/sample.h"
#include "satfs/source.h"

#define CR_MAX_TILES (1u << 22)       /* tiles of one level: sanity bound */
#define CR_MAX_TILE_BYTES (64u << 20) /* one decoded tile */
/* A URL for a log line (query strings may carry tokens); needs ubuf. */
#define CR_URL(u) sat_log_url((u), ubuf, sizeof(ubuf))

/* A run of output columns [c, e) of one band: outside the raster (tc
 * < 0), or with their sources in one block of tile column tc, at
 * consecutive source columns or not. The same in every row. */
struct cr_run {
	uint32_t c, e;
	int32_t tc;
	bool consecutive;
};

struct cr_band {
	struct sat_cogread_header *hdr;
	size_t level;
	const struct sat_cog_level *lv;
	const char *src_crs;      /* non-NULL: reproject centres into it */
	enum sat_sample_type type;
	uint16_t sample;          /* the band within the file, from 0 */
	uint16_t plane;           /* its tiles: the band (separate) or 0 */
	uint16_t spp;             /* samples per pixel of a decoded tile */
	uint16_t sit;             /* its sample within a pixel of one */
	bool mask_ifd;            /* mask tiles (a mask IFD) say validity */
	int alpha;                /* the alpha band that masks it, or -1 */
	uint16_t alpha_plane;     /* separate alpha: its own tiles' plane */
	uint16_t alpha_sit;
	bool has_nodata;
	double nodata;            /* compared in the band's own type */
	double fill;              /* value of sparse tiles */
	/* Same CRS: the mapping is separable, computed once. */
	int32_t *tcol;            /* tile column per output column, or -1 */
	uint32_t *xin;            /* column within that tile */
	int32_t *rowmap;          /* source row per output row, or -1 */
	struct cr_run *runs;      /* the columns' runs (cr_runs_of) */
	size_t nruns;
	/* Another CRS: tile number and pixel offset per output pixel. */
	int32_t *ptile;
	uint32_t *poff;
	/* In the level's pixels: those the window reads, and those worth
	 * keeping of the tiles it decodes (cogread_private.h, struct
	 * cr_tile); both the whole raster for another CRS. */
	struct cr_rect need, keep;
	/* The tiles it needs: sorted tile numbers, and where their wants
	 * start in the window's want array (image tiles, then mask tiles,
	 * then alpha tiles, as it has them). */
	uint32_t *tnums;
	size_t ntnums;
	size_t want0, want_mask, want_alpha;
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
	char grid_crs[32];        /* "EPSG:n" of the grid */
};

/* floor(d / px) when within [0, n), else -1; px may be negative (a
 * south-up raster's rows). */
static int32_t cr_index(double d, double px, uint32_t n)
{
	double f;

	if (!isfinite(d) || !isfinite(px) || px == 0)
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
		double px = fmax(lv->pixel_x, fabs(lv->pixel_y));

		if (px <= pixel_size * (1 + 1e-9) && px > bestpx) {
			best = l;
			bestpx = px;
		}
	}
	return best;
}

/* What marks band b's pixels invalid: GDAL's mask band (a mask IFD,
 * nodata, or alpha), and the catalog's nodata before the file's. */
static void cr_band_validity(struct cr_band *b, const struct sat_read_band *rb)
{
	const struct sat_cog *cog = b->hdr->cog;
	const struct sat_cog_level *lv = b->lv;
	int alpha = sat_cog_alpha(cog);

	b->alpha = -1;
	b->mask_ifd = lv->mask == SAT_COG_MASK_IFD;
	if (lv->mask == SAT_COG_MASK_ALPHA && alpha >= 0 &&
	    alpha != b->sample) {
		b->alpha = alpha;
		b->alpha_plane = lv->separate ? (uint16_t)alpha : 0;
		b->alpha_sit = lv->separate ? 0 : (uint16_t)alpha;
	}
	if (rb->has_nodata) {
		b->has_nodata = true;
		b->nodata = rb->nodata;
	} else {
		b->has_nodata = sat_cog_nodata(cog, &b->nodata);
	}
	if (b->has_nodata && b->type == SAT_SAMPLE_F32)
		b->nodata = (float)b->nodata; /* compared as float, as GDAL */
	/* sparse tiles read as nodata (as GDAL fills them), else 0 */
	b->fill = b->has_nodata && !sat_sample_is_float(b->type) &&
			  (b->nodata != floor(b->nodata) ||
			   (b->type <= SAT_SAMPLE_U32 && b->nodata < 0))
		  ? 0
		  : b->has_nodata ? b->nodata : 0;
}

/* Band b's runs over the grid's columns, into runs[] (room for width);
 * returns how many. shift: a block's columns are the same column >>
 * shift. */
static size_t cr_runs_of(const struct cr_band *b, uint32_t width,
			 uint32_t shift, struct cr_run *runs)
{
	size_t n = 0;

	for (uint32_t c = 0; c < width;) {
		int32_t tc = b->tcol[c];
		uint32_t e = c + 1, blk = b->xin[c] >> shift;
		bool consecutive = true;

		if (tc < 0) {
			while (e < width && b->tcol[e] < 0)
				e++;
		} else {
			while (e < width && b->tcol[e] == tc &&
			       b->xin[e] >> shift == blk) {
				consecutive = consecutive &&
					      b->xin[e] == b->xin[e - 1] + 1;
				e++;
			}
		}
		runs[n++] = (struct cr_run){ c, e, tc, consecutive };
		c = e;
	}
	return n;
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
	const char *crs;

	b->level = cr_pick_level(cog, g->pixel_size);
	lv = b->lv = sat_cog_level(cog, b->level);
	b->type = lv->type;
	if (rb->sample >= lv->samples) {
		sat_log_cause("%s has %u bands, not %u", CR_URL(rb->href),
			      lv->samples, rb->sample + 1);
		return -EINVAL;
	}
	b->sample = rb->sample;
	b->plane = lv->separate ? rb->sample : 0;
	b->spp = lv->separate ? 1 : lv->samples;
	b->sit = lv->separate ? 0 : rb->sample;
	ntile = (size_t)lv->tiles_across * lv->tiles_down;
	tile_bytes = sat_cog_tile_bytes(cog, b->level);
	if (ntile == 0 || ntile > CR_MAX_TILES || tile_bytes == 0 ||
	    tile_bytes > CR_MAX_TILE_BYTES || lv->width == 0 ||
	    lv->height == 0) {
		sat_log_cause("%s: a tile layout we refuse (%zu tiles of "
			      "%zu bytes)", CR_URL(rb->href), ntile,
			      tile_bytes);
		return -EIO;
	}
	cr_band_validity(b, rb);

	crs = sat_cog_crs(cog, NULL);
	if (crs && strcmp(crs, w->grid_crs) != 0) {
		b->src_crs = crs;
		b->ptile = malloc((size_t)g->width * g->height *
				  sizeof(*b->ptile));
		b->poff = malloc((size_t)g->width * g->height *
				 sizeof(*b->poff));
		return b->ptile && b->poff ? 0 : -ENOMEM;
	}
	/* Same CRS (or the file says none: the item's): the mapping is
	 * separable, compute it once. */
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
	b->runs = malloc(g->width * sizeof(*b->runs));
	if (!b->runs)
		return -ENOMEM;
	/* a tile narrower than a block is one block wide */
	b->nruns = cr_runs_of(b, g->width,
			      lv->tile_width < CR_BLOCK ? 31 : CR_BLOCK_SHIFT,
			      b->runs);
	return 0;
}

/* The level pixels [*lo, *hi) that the points a to b (offsets from the
 * level's origin along one axis, pixel size px) fall in, within [0, n);
 * false when none does. */
static bool cr_span(double a, double b, double px, uint32_t n, uint32_t *lo,
		    uint32_t *hi)
{
	double fa = floor(a / px), fb = floor(b / px);
	double l = fmin(fa, fb), h = fmax(fa, fb);

	if (!isfinite(l) || !isfinite(h) || h < 0 || l >= (double)n)
		return false;
	*lo = l < 0 ? 0 : (uint32_t)l;
	*hi = h >= (double)n ? n : (uint32_t)h + 1;
	return true;
}

/* Band b's need and keep rectangles (struct cr_band). The window reads
 * the pixels its mapping names; its render will read those under the
 * extent's pixel centres, a rectangle too in the same CRS. */
static void cr_band_rects(struct cr_window *w, struct cr_band *b)
{
	const struct sat_grid *g = w->g, *e = w->rd->extent;
	const struct sat_cog_level *lv = b->lv;
	struct cr_rect whole = { 0, 0, lv->width, lv->height };
	struct cr_rect n = { UINT32_MAX, UINT32_MAX, 0, 0 }, k;

	if (b->src_crs) {
		b->need = b->keep = whole;
		return;
	}
	for (uint32_t c = 0; c < g->width; c++) {
		uint32_t x;

		if (b->tcol[c] < 0)
			continue;
		x = (uint32_t)b->tcol[c] * lv->tile_width + b->xin[c];
		n.x0 = x < n.x0 ? x : n.x0;
		n.x1 = x + 1 > n.x1 ? x + 1 : n.x1;
	}
	for (uint32_t r = 0; r < g->height; r++) {
		uint32_t y;

		if (b->rowmap[r] < 0)
			continue;
		y = (uint32_t)b->rowmap[r];
		n.y0 = y < n.y0 ? y : n.y0;
		n.y1 = y + 1 > n.y1 ? y + 1 : n.y1;
	}
	b->need = n;
	if (!e || e->epsg != g->epsg || e->width == 0 || e->height == 0 ||
	    !cr_span(e->origin_x + 0.5 * e->pixel_size - lv->origin_x,
		     e->origin_x + (e->width - 0.5) * e->pixel_size -
			     lv->origin_x,
		     lv->pixel_x, lv->width, &k.x0, &k.x1) ||
	    !cr_span(lv->origin_y - (e->origin_y - 0.5 * e->pixel_size),
		     lv->origin_y - (e->origin_y -
				     (e->height - 0.5) * e->pixel_size),
		     lv->pixel_y, lv->height, &k.y0, &k.y1)) {
		b->keep = whole;
		return;
	}
	/* with the window's own pixels, whatever the rounding */
	k.x0 = k.x0 < n.x0 ? k.x0 : n.x0;
	k.y0 = k.y0 < n.y0 ? k.y0 : n.y0;
	k.x1 = k.x1 > n.x1 ? k.x1 : n.x1;
	k.y1 = k.y1 > n.y1 ? k.y1 : n.y1;
	b->keep = k;
}

/* Rectangle r of the level, within tile (tx, ty), in the tile's pixels. */
static struct cr_rect cr_in_tile(const struct cr_rect *r,
				 const struct sat_cog_level *lv, uint32_t tx,
				 uint32_t ty)
{
	uint64_t x0 = (uint64_t)tx * lv->tile_width;
	uint64_t y0 = (uint64_t)ty * lv->tile_height;
	uint64_t x1 = x0 + lv->tile_width, y1 = y0 + lv->tile_height;
	struct cr_rect t = { 0, 0, 0, 0 };

	if (r->x0 >= x1 || r->x1 <= x0 || r->y0 >= y1 || r->y1 <= y0)
		return t; /* empty */
	t.x0 = (uint32_t)((r->x0 > x0 ? r->x0 : x0) - x0);
	t.y0 = (uint32_t)((r->y0 > y0 ? r->y0 : y0) - y0);
	t.x1 = (uint32_t)((r->x1 < x1 ? r->x1 : x1) - x0);
	t.y1 = (uint32_t)((r->y1 < y1 ? r->y1 : y1) - y0);
	return t;
}

/* Bands in another CRS: their per-pixel tile and offset, with one PROJ
 * call per row for all the bands of one CRS. */
static int cr_map_reprojected(struct cr_window *w)
{
	const struct sat_grid *g = w->g;

	for (size_t i = 0; i < w->n; i++) {
		const char *crs = w->b[i].src_crs;
		bool done = false;

		for (size_t k = 0; k < i; k++)
			done = done || (w->b[k].src_crs &&
					strcmp(w->b[k].src_crs, crs ? crs : "")
						== 0);
		if (!crs || done)
			continue;
		for (uint32_t row = 0; row < g->height; row++) {
			double y = g->origin_y - (row + 0.5) * g->pixel_size;
			int rc;

			for (uint32_t c = 0; c < g->width; c++) {
				w->xy[2 * c] = g->origin_x +
					       (c + 0.5) * g->pixel_size;
				w->xy[2 * c + 1] = y;
			}
			rc = sat_geom_transform_crs(w->grid_crs, crs, w->xy,
						    g->width);
			if (rc)
				return rc;
			for (size_t k = i; k < w->n; k++) {
				struct cr_band *b = &w->b[k];
				const struct sat_cog_level *lv = b->lv;
				size_t base = (size_t)row * g->width;

				if (!b->src_crs || strcmp(b->src_crs, crs))
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

	if (b->src_crs) {
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

/* Fills the wants of band b's tiles from k on: of plane `plane`, the
 * mask IFD's (mask) or the image's. */
static int cr_band_wants(struct cr_window *w, const struct cr_band *b,
			 size_t k, uint16_t plane, bool mask)
{
	for (size_t j = 0; j < b->ntnums; j++) {
		struct cr_want *cw = &w->want[k + j];
		int rc;

		cw->hdr = b->hdr;
		cw->level = (uint32_t)b->level;
		cw->plane = mask ? (uint16_t)(CR_PLANE_MASK | plane) : plane;
		cw->tx = b->tnums[j] % b->lv->tiles_across;
		cw->ty = b->tnums[j] / b->lv->tiles_across;
		cw->need = cr_in_tile(&b->need, b->lv, cw->tx, cw->ty);
		cw->keep = cr_in_tile(&b->keep, b->lv, cw->tx, cw->ty);
		rc = mask ? sat_cog_mask_range(b->hdr->cog, b->level, plane,
					       cw->tx, cw->ty, &cw->offset,
					       &cw->length)
			  : sat_cog_band_range(b->hdr->cog, b->level, plane,
					       cw->tx, cw->ty, &cw->offset,
					       &cw->length);
		if (rc) {
			char ubuf[512];

			sat_log_cause("%s: %s", CR_URL(b->hdr->url),
				      sat_cog_last_error());
			return -EIO;
		}
	}
	return 0;
}

/* The wants of every band's tiles: its image tiles, then its mask
 * tiles, then its alpha band's (separate levels), as it has them. */
static int cr_wants(struct cr_window *w)
{
	size_t total = 0, k = 0;
	int rc = 0;

	for (size_t i = 0; i < w->n; i++) {
		const struct cr_band *b = &w->b[i];

		total += b->ntnums * (1 + b->mask_ifd +
				      (b->alpha >= 0 && b->lv->separate));
	}
	w->want = calloc(total + 1, sizeof(*w->want));
	if (!w->want)
		return -ENOMEM;
	for (size_t i = 0; i < w->n && !rc; i++) {
		struct cr_band *b = &w->b[i];

		b->want0 = k;
		rc = cr_band_wants(w, b, k, b->plane, false);
		k += b->ntnums;
		b->want_mask = k;
		if (!rc && b->mask_ifd) {
			rc = cr_band_wants(w, b, k, b->sample, true);
			k += b->ntnums;
		}
		b->want_alpha = k;
		if (!rc && b->alpha >= 0 && b->lv->separate) {
			rc = cr_band_wants(w, b, k, b->alpha_plane, false);
			k += b->ntnums;
		}
	}
	w->nwant = k;
	return rc;
}

/* Index of tile number t among band b's tiles, or -1. */
static ptrdiff_t cr_tile_index(const struct cr_band *b, uint32_t t)
{
	size_t lo = 0, hi = b->ntnums;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (b->tnums[mid] == t)
			return (ptrdiff_t)mid;
		if (b->tnums[mid] < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Value v of type t at pixel i of band b: is it invalid by nodata? */
static bool cr_is_nodata(const struct cr_band *b, double v)
{
	if (!b->has_nodata)
		return false;
	if (isnan(b->nodata))
		return isnan(v);
	return v == b->nodata;
}

/* Clears valid[0..n) where vals[] (of b's type) holds b's nodata: in the
 * type itself for the 8- and 16-bit unsigned types (a loop the compiler
 * vectorises), else through doubles as cr_is_nodata() compares. */
static void cr_clear_nodata(const struct cr_band *b, const void *vals,
			    size_t n, uint8_t *valid)
{
	double nd = b->nodata;

	if (b->type == SAT_SAMPLE_U16 && nd >= 0 && nd <= 65535 &&
	    nd == floor(nd)) {
		const uint16_t *v = vals, k = (uint16_t)nd;

		for (size_t j = 0; j < n; j++)
			valid[j] &= (uint8_t)(v[j] != k);
		return;
	}
	if (b->type == SAT_SAMPLE_U8 && nd >= 0 && nd <= 255 &&
	    nd == floor(nd)) {
		const uint8_t *v = vals, k = (uint8_t)nd;

		for (size_t j = 0; j < n; j++)
			valid[j] &= (uint8_t)(v[j] != k);
		return;
	}
	for (size_t j = 0; j < n; j++)
		if (cr_is_nodata(b, sat_sample_get(vals, b->type, j)))
			valid[j] = 0;
}

/* Copies the n samples of sz bytes of run u: src[xs[k] - xs[0]] to dst[k],
 * the source columns xs[] in one row of one block. */
static void cr_gather(uint8_t *dst, const uint8_t *src, const uint32_t *xs,
		      size_t n, size_t sz, bool consecutive)
{
	if (consecutive) { /* the usual case */
		memcpy(dst, src, n * sz);
		return;
	}
	for (size_t k = 0; k < n; k++) {
		ptrdiff_t d = (ptrdiff_t)xs[k] - (ptrdiff_t)xs[0];

		if (sz == 2)
			memcpy(dst + 2 * k, src + 2 * d, 2);
		else if (sz == 1)
			dst[k] = src[d];
		else
			memcpy(dst + k * sz, src + d * (ptrdiff_t)sz, sz);
	}
}

/* cr_sample() for the common case: a band in the grid's CRS, one sample
 * per decoded pixel, no alpha. Each output row is cut into the same runs
 * of pixels whose sources lie in one block of one tile (all the pixels of
 * a block's row when the grid has the source's resolution and alignment,
 * copied whole; each source pixel twice over for a band of half the
 * grid's resolution); the values and validity are cr_sample()'s, pixel
 * for pixel. */
static void cr_sample_runs(struct cr_window *w, size_t i)
{
	const struct sat_grid *g = w->g;
	struct cr_band *b = &w->b[i];
	struct sat_read_band *rb = &w->rd->bands[i];
	const struct sat_cog_level *lv = b->lv;
	size_t sz = sat_sample_size(b->type);
	uint8_t *out = rb->values;

	for (uint32_t row = 0; row < g->height; row++) {
		size_t base = (size_t)row * g->width;
		uint8_t *valid = w->rd->valid + base;
		int32_t sr = b->rowmap[row], tc_last = -1;
		const struct cr_tile *t = NULL, *mt = NULL;
		uint32_t ty, yin;

		if (sr < 0) { /* outside the raster */
			memset(out + base * sz, 0, (size_t)g->width * sz);
			memset(valid, 0, g->width);
			continue;
		}
		ty = (uint32_t)sr / lv->tile_height;
		yin = (uint32_t)sr % lv->tile_height;
		for (size_t r = 0; r < b->nruns; r++) {
			const struct cr_run *u = &b->runs[r];
			const uint32_t *xs = b->xin + u->c;
			size_t n = u->e - u->c;

			if (u->tc < 0) { /* outside the raster */
				memset(out + (base + u->c) * sz, 0, n * sz);
				memset(valid + u->c, 0, n);
				continue;
			}
			if (u->tc != tc_last) {
				ptrdiff_t x = cr_tile_index(
					b, ty * lv->tiles_across +
						   (uint32_t)u->tc);

				t = x < 0 ? NULL : w->want[b->want0 + x].tile;
				mt = x < 0 || !b->mask_ifd
					     ? NULL
					     : w->want[b->want_mask + x].tile;
				tc_last = u->tc;
			}
			if (t && t->blk)
				cr_gather(out + (base + u->c) * sz,
					  cr_tile_at(t, xs[0], yin), xs, n, sz,
					  u->consecutive);
			else
				for (uint32_t k = u->c; k < u->e; k++)
					sat_sample_put(out, b->type, base + k,
						       b->fill);
			if (b->mask_ifd) {
				const uint8_t *m = mt && mt->blk
					? cr_tile_at(mt, xs[0], yin)
					: NULL;

				for (size_t k = 0; k < n; k++)
					if (!m || !m[(ptrdiff_t)xs[k] -
						     (ptrdiff_t)xs[0]])
						valid[u->c + k] = 0;
			}
		}
		if (b->has_nodata)
			cr_clear_nodata(b, out + base * sz, g->width, valid);
	}
}

/* Copies band i's values into its read band; clears valid where GDAL's
 * mask says the pixel is invalid, or where the band has no data. */
static void cr_sample(struct cr_window *w, size_t i)
{
	if (!w->b[i].src_crs && w->b[i].alpha < 0 && w->b[i].spp == 1 &&
	    w->b[i].sit == 0) {
		cr_sample_runs(w, i);
		return;
	}
	const struct sat_grid *g = w->g;
	struct cr_band *b = &w->b[i];
	struct sat_read_band *rb = &w->rd->bands[i];
	const struct sat_cog_level *lv = b->lv;
	size_t sz = sat_sample_size(b->type);
	uint8_t *valid = w->rd->valid, *out = rb->values;
	const struct cr_tile *t = NULL, *mt = NULL, *at = NULL;
	int32_t tlast = -1;

	for (uint32_t row = 0; row < g->height; row++) {
		size_t base = (size_t)row * g->width;
		int32_t sr = b->src_crs ? 0 : b->rowmap[row];
		uint32_t ty = sr < 0 ? 0 : (uint32_t)sr / lv->tile_height;
		uint32_t yin = sr < 0 ? 0 : (uint32_t)sr % lv->tile_height;

		for (uint32_t c = 0; c < g->width; c++) {
			size_t o = base + c;
			int32_t tn;
			uint32_t xi = 0, yi = yin; /* within the tile */

			if (b->src_crs) {
				tn = b->ptile[o];
				xi = b->poff[o] % lv->tile_width;
				yi = b->poff[o] / lv->tile_width;
			} else if (sr < 0 || b->tcol[c] < 0) {
				tn = -1;
			} else {
				tn = (int32_t)(ty * lv->tiles_across) +
				     b->tcol[c];
				xi = b->xin[c];
			}
			if (tn < 0) { /* outside the raster */
				memset(out + o * sz, 0, sz);
				valid[o] = 0;
				continue;
			}
			if (tn != tlast) {
				ptrdiff_t x = cr_tile_index(b, (uint32_t)tn);

				t = x < 0 ? NULL : w->want[b->want0 + x].tile;
				mt = x < 0 || !b->mask_ifd
					     ? NULL
					     : w->want[b->want_mask + x].tile;
				at = x < 0 || b->alpha < 0 ? NULL
				     : b->lv->separate
					     ? w->want[b->want_alpha + x].tile
					     : t;
				tlast = tn;
			}
			if (t && t->blk)
				memcpy(out + o * sz,
				       cr_tile_at(t, xi, yi) + (size_t)b->sit * sz,
				       sz);
			else
				sat_sample_put(out, b->type, o, b->fill);
			if (b->has_nodata &&
			    cr_is_nodata(b, sat_sample_get(out, b->type, o)))
				valid[o] = 0;
			if (b->mask_ifd &&
			    (!mt || !mt->blk || !*cr_tile_at(mt, xi, yi)))
				valid[o] = 0; /* sparse mask tiles: invalid */
			if (b->alpha >= 0) {
				if (at && at->blk &&
				    sat_sample_get(cr_tile_at(at, xi, yi),
						   b->type, b->alpha_sit) == 0)
					valid[o] = 0;
			}
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
		free(b->runs);
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
	snprintf(w->grid_crs, sizeof(w->grid_crs), "EPSG:%d", g->epsg);
	w->b = calloc(w->n, sizeof(*w->b));
	w->xy = malloc(2 * (size_t)g->width * sizeof(*w->xy));
	if (!w->b || !urls || !hdrs || !w->xy) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < w->n; i++)
		urls[i] = rd->bands[i].href;
	ret = sat_cogread_get_headers(w->cr, urls, w->n, hdrs, progress);
	if (ret)
		goto out;
	for (size_t i = 0; i < w->n; i++)
		w->b[i].hdr = hdrs[i];
	for (size_t i = 0; i < w->n && !ret; i++)
		ret = cr_band_setup(w, i);
	if (!ret)
		ret = cr_map_reprojected(w);
	for (size_t i = 0; i < w->n && !ret; i++) {
		ret = cr_band_tiles(w, &w->b[i]);
		cr_band_rects(w, &w->b[i]);
	}
	if (!ret)
		ret = cr_wants(w);
out:
	free(urls);
	free(hdrs);
	return ret;
}

/* Is any band read through PROJ (whose per-pixel cost a look ahead would
 * pay twice)? */
static bool cr_reprojects(const struct cr_window *w)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->b[i].src_crs)
			return true;
	return false;
}

/* Asks for the window's tiles (pinned) and, in the same go, for those of
 * rd->next, so that the next window's requests go out now, not one round
 * trip later, and adjacent ranges of both make one request. The look
 * ahead is best effort: a failure there is met again, and reported, when
 * that window is read. */
static int cr_window_ask(struct cr_window *w)
{
	const struct sat_read *rd = w->rd;
	struct cr_window nw = { .cr = w->cr, .rd = rd, .n = rd->nbands };
	struct cr_want *all = NULL;
	int ret;

	if (rd->next && !cr_reprojects(w) &&
	    cr_window_plan(&nw, rd->next, rd->progress) == 0 && nw.nwant)
		all = malloc((w->nwant + nw.nwant) * sizeof(*all));
	if (!all) {
		cr_window_clear(&nw);
		return cr_tiles_ask(w->cr, w->want, w->nwant, w->nwant,
				    rd->prio, rd->progress);
	}
	memcpy(all, w->want, w->nwant * sizeof(*all));
	memcpy(all + w->nwant, nw.want, nw.nwant * sizeof(*all));
	ret = cr_tiles_ask(w->cr, all, w->nwant + nw.nwant, w->nwant,
			   rd->prio, rd->progress);
	memcpy(w->want, all, w->nwant * sizeof(*all)); /* what was pinned */
	free(all);
	cr_window_clear(&nw);
	return ret;
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
	ret = cr_window_ask(w);
	if (ret)
		goto out;
	ret = cr_tiles_wait(w->cr, w->want, w->nwant, rd->prio, rd->progress);
	if (ret)
		goto out;
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
		sat_buf_free(rb[i].values);
	free(rb);
	return ret;
}
