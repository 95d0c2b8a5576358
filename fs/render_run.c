/*
 * render_run: runs a plan (include/satfs/render.h), streaming.
 *
 * The output is written tile by tile in the file's order (tiffout calls
 * rd_fill for each 256x256 tile, row after row). Tiles are filled from a
 * chunk: a block of whole output tiles whose pixels were read in one go
 * from the inputs' sources. A small file is one chunk; a large one is cut
 * into chunks of one tile row and at most RD_CHUNK_PIXELS pixels, so that
 * the memory of a render does not grow with the size of its output. With
 * each chunk's read the source is told which chunk comes next
 * (sat_read.next), and asks for its tiles before it waits for the
 * chunk's own, so that downloads run a chunk ahead of our work.
 *
 * The region cloud covers of the inputs go into the GDAL metadata, which
 * libtiff writes after the tiles: a single scene's is counted (or waited
 * for, when the listing's count is under way) only then, overlapping the
 * render instead of holding up its first pixel. A mosaic needs them
 * first: they order its scenes.
 *
 * For each chunk: the bands of the first input are read, and its SCL
 * classes the product masks made invalid; where pixels are still invalid,
 * the bands of the next input, and so on (a mosaic takes each pixel from
 * the first scene that has it; its scenes go in order of increasing region
 * cloud cover, then id). Then per pixel, docs/ARCHITECTURE.md "Rendering
 * rules": a picture (rules 4-7: stretch, or an expression through a
 * palette), the data values in their own type (raw), or reflectance as
 * float32.
 *
 * Threading: everything here belongs to the calling thread; the sources
 * and the region cloud covers are thread-safe.
 */
#include "satfs/render.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "satfs/album.h"
#include "satfs/bufpool.h"
#include "satfs/cache.h"
#include "satfs/log.h"
#include "satfs/pngio.h"
#include "satfs/regioncloud.h"
#include "satfs/sample.h"
#include "satfs/source.h"

/* A chunk holds at most this many output pixels: four output tiles, so
 * that a render's arrays (its band values, validity, masks: about 10 bytes
 * a pixel) take 2.6 MB, not the 10 MB of a 1000 x 1000 snippet drawn in
 * one go. Memory a process touches for the first time costs a fault a
 * page (10 us each where satfs is measured), and a dozen renders run at
 * once: a cold 5-snippet copy took 0.40 s of daemon CPU instead of 0.50 s.
 * The next chunk's tiles are asked for before the current chunk's are
 * waited for (sat_read.next), so the cut costs no round trip. */
#define RD_CHUNK_PIXELS (1u << 18)
/* ... and where a chunk's reads cannot ask for the next one's tiles */
#define RD_CHUNK_PIXELS_ALONE (1u << 20)
/* A render of at most this many pixels (a 1000 x 1000 snippet) asks for
 * every tile it needs with its first chunk. */
#define RD_AHEAD_PIXELS (1u << 20)
#define RD_MAX_INPUTS 64

struct rd_chunk {
	uint32_t tx0, ty0, tw, th;   /* in output tiles */
	struct sat_grid grid;        /* the chunk's pixels */
};

/* What the tile callback reads from. */
struct rd_run {
	const struct sat_render_plan *plan;
	const struct sat_render_ctx *ctx;
	size_t order[RD_MAX_INPUTS]; /* inputs, in the order pixels are taken */
	uint32_t tiles_x, tiles_y;
	uint32_t chunk_tw, chunk_th; /* chunk size, in tiles */
	bool have_chunk;
	bool read_failed;    /* the error came from the pixels, not the disk */
	struct rd_chunk cur;
	/* the chunk's pixels */
	struct sat_read_band bands[SAT_RENDER_MAX_BANDS];  /* merged */
	struct sat_read_band more[SAT_RENDER_MAX_BANDS];   /* a later input */
	uint8_t *valid;      /* 1: some input has data there */
	uint8_t *valid_more;
	uint8_t *from;       /* which input (index into plan->inputs); NULL
			      * with one input: rd_from() */
	uint8_t *inside;     /* 1: inside the region (or no clipping) */
	uint8_t *outline;    /* 1: outline colour; NULL when none */
	size_t cap_pixels;   /* what the pixel arrays above hold */
	/* Rules 4-5 per input and band for every 16-bit DN (uint8 and
	 * uint16 samples); other types are computed per pixel. An input's
	 * tables are one reserved block, owned by lut[k][0]. */
	uint8_t *lut[RD_MAX_INPUTS][SAT_PRODUCT_MAX_BANDS];
	/* a PNG: one row of tiles, as rows of pixels, and one tile */
	uint8_t *strip, *tile;
	double pct[RD_MAX_INPUTS]; /* region cloud covers, once counted */
	char *metadata;            /* the file's, with them */
};

static bool rd_visual_bands(const struct sat_render_plan *p)
{
	return p->product.type == SAT_PRODUCT_VISUAL && !p->expr;
}

/* Rules 4-5 for one value, exactly as written. */
static uint8_t rd_stretch(const struct sat_render_plan *p,
			  const struct sat_render_input *in, int b, double dn)
{
	const struct sat_product *pr = &p->product;
	double v = dn * 10000 * in->dn_scale[b] + 10000 * in->dn_offset[b];
	double t = (v - pr->min[b]) / (pr->max[b] - pr->min[b]);

	if (!(t > 0)) /* NaN too */
		t = 0;
	else if (t > 1)
		t = 1;
	return (uint8_t)round(255 * pow(t, 1.0 / pr->gamma));
}

/* Fills lut with rd_stretch() over 0..65535. With a positive scale the
 * stretch never decreases with the DN, so each of the 256 outputs starts
 * at a DN found by bisection on the exact formula: 4096 evaluations of
 * pow() instead of 65536, and the same bytes. */
static void rd_lut(const struct sat_render_plan *p, size_t k, int b,
		   uint8_t *lut)
{
	const struct sat_render_input *in = &p->inputs[k];
	uint32_t start = 0;

	if (!(in->dn_scale[b] > 0) ||
	    !(p->product.max[b] > p->product.min[b])) {
		for (uint32_t dn = 0; dn < 65536; dn++)
			lut[dn] = rd_stretch(p, in, b, dn);
		return;
	}
	for (uint32_t level = rd_stretch(p, in, b, 0); start < 65536;
	     level++) {
		/* the first DN above start whose output passes level */
		uint32_t lo = start, hi = 65536;

		while (lo < hi) {
			uint32_t mid = lo + (hi - lo) / 2;

			if (rd_stretch(p, in, b, mid) > level)
				hi = mid;
			else
				lo = mid + 1;
		}
		memset(lut + start, (int)level, lo - start);
		start = lo;
	}
}

/* The tables of input k, once it has pixels to draw: one block for its
 * bands (lut[k][0] owns it), packed when that is three tables, so that a
 * render's 192 KB of them are not fresh pages each time. */
static int rd_luts(struct rd_run *r, size_t k)
{
	const struct sat_render_plan *p = r->plan;
	void *block = NULL;

	if (!rd_visual_bands(p) || p->nout < 1 || r->lut[k][0])
		return 0;
	if (sat_buf_reserve(&block, (size_t)p->nout * 65536))
		return -ENOMEM;
	for (int b = 0; b < p->nout; b++) {
		r->lut[k][b] = (uint8_t *)block + (size_t)b * 65536;
		rd_lut(p, k, b, r->lut[k][b]);
	}
	return 0;
}

static void rd_chunk_at(const struct rd_run *r, uint32_t tx, uint32_t ty,
			struct rd_chunk *c)
{
	const struct sat_grid *g = &r->plan->grid;
	const uint32_t T = SAT_TIFFOUT_TILE;
	uint32_t x0, y0;

	c->tx0 = tx;
	c->ty0 = ty;
	c->tw = r->tiles_x - tx < r->chunk_tw ? r->tiles_x - tx : r->chunk_tw;
	c->th = r->tiles_y - ty < r->chunk_th ? r->tiles_y - ty : r->chunk_th;
	x0 = tx * T;
	y0 = ty * T;
	c->grid = *g;
	c->grid.origin_x = g->origin_x + x0 * g->pixel_size;
	c->grid.origin_y = g->origin_y - y0 * g->pixel_size;
	c->grid.width = g->width - x0 < c->tw * T ? g->width - x0 : c->tw * T;
	c->grid.height = g->height - y0 < c->th * T ? g->height - y0
						    : c->th * T;
}

/* The chunk after c in the order tiles are written, or false at the end. */
static bool rd_chunk_next(const struct rd_run *r, const struct rd_chunk *c,
			  struct rd_chunk *next)
{
	uint32_t tx = c->tx0 + c->tw, ty = c->ty0;

	if (tx >= r->tiles_x) {
		tx = 0;
		ty += c->th;
	}
	if (ty >= r->tiles_y)
		return false;
	rd_chunk_at(r, tx, ty, next);
	return true;
}

/* The input pixel i of the chunk comes from. */
static size_t rd_from(const struct rd_run *r, size_t i)
{
	return r->from ? r->from[i] : r->order[0];
}

static int rd_reserve(struct rd_run *r, size_t npix)
{
	uint8_t **arrays[] = { &r->valid, &r->valid_more, &r->from,
			       &r->inside, &r->outline };
	bool one = r->plan->ninputs == 1;

	if (npix <= r->cap_pixels)
		return 0;
	for (size_t i = 0; i < sizeof(arrays) / sizeof(arrays[0]); i++) {
		void *v = *arrays[i];

		if (arrays[i] == &r->outline && !r->outline)
			continue;
		/* one input: no merging, a megabyte less to touch */
		if (one &&
		    (arrays[i] == &r->from || arrays[i] == &r->valid_more))
			continue;
		if (sat_buf_reserve(&v, npix))
			return -ENOMEM;
		*arrays[i] = v;
	}
	r->cap_pixels = npix;
	return 0;
}

/* Makes the pixels whose SCL class the product masks invalid. */
static void rd_mask(const struct rd_run *r, const struct sat_read_band *rb,
		    uint8_t *valid, size_t npix)
{
	const struct sat_render_plan *p = r->plan;
	const struct sat_read_band *scl = &rb[p->scl];
	uint32_t mask = p->product.mask;

	for (size_t i = 0; i < npix; i++) {
		double c = sat_sample_get(scl->values, scl->type, i);

		if (c >= 0 && c < 32 && (mask >> (unsigned)c & 1))
			valid[i] = 0;
	}
}

/* The read of input k's bands on grid g into rb / valid. */
static struct sat_read rd_read_of(const struct rd_run *r, size_t k,
				  const struct sat_grid *g,
				  struct sat_read_band *rb, uint8_t *valid,
				  const struct sat_grid *next)
{
	const struct sat_render_plan *p = r->plan;
	const struct sat_render_input *in = &p->inputs[k];

	for (int b = 0; b < p->nbands; b++) {
		rb[b].href = in->hrefs[b];
		rb[b].sample = in->samples[b];
		rb[b].has_nodata = in->has_nodata[b];
		rb[b].nodata = in->nodata[b];
	}
	return (struct sat_read){
		.grid = g,
		.bands = rb,
		.nbands = (size_t)p->nbands,
		.valid = valid,
		.prio = r->ctx->prio,
		.progress = r->ctx->progress,
		.next = next,
		.extent = &p->grid,
	};
}

/* Reads the bands of input k on the chunk's grid into rb / valid. */
static int rd_read_input(struct rd_run *r, size_t k,
			 struct sat_read_band *rb, uint8_t *valid,
			 const struct sat_grid *next)
{
	const struct sat_render_plan *p = r->plan;
	const struct sat_render_input *in = &p->inputs[k];
	const struct sat_grid *g = &r->cur.grid;
	struct sat_read rd;
	int ret;

	if (!in->source) {
		sat_log_cause("%s: no source to read it from", in->item_id);
		return -EIO;
	}
	rd = rd_read_of(r, k, g, rb, valid, next);
	ret = in->source->ops->read(in->source, &rd);
	if (!ret && p->scl >= 0)
		rd_mask(r, rb, valid, (size_t)g->width * g->height);
	return ret;
}

/* Takes the pixels of input k where the chunk has none yet. */
static void rd_merge(struct rd_run *r, size_t k, size_t npix)
{
	int nb = r->plan->nbands;

	for (size_t i = 0; i < npix; i++) {
		if (r->valid[i] || !r->valid_more[i])
			continue;
		for (int b = 0; b < nb; b++) {
			struct sat_read_band *dst = &r->bands[b];
			const struct sat_read_band *src = &r->more[b];

			if (src->type == dst->type) {
				size_t sz = sat_sample_size(dst->type);

				memcpy((uint8_t *)dst->values + i * sz,
				       (const uint8_t *)src->values + i * sz,
				       sz);
			} else {
				sat_sample_put(dst->values, dst->type, i,
					       sat_sample_get(src->values,
							      src->type, i));
			}
		}
		r->valid[i] = 1;
		r->from[i] = (uint8_t)k;
	}
}

/* Reads chunk c from every input it needs, and its masks. */
static int rd_load(struct rd_run *r, const struct rd_chunk *c)
{
	const struct sat_render_plan *p = r->plan;
	const struct sat_grid *g = &c->grid;
	size_t npix = (size_t)g->width * g->height, k0 = r->order[0];
	bool small = (uint64_t)p->grid.width * p->grid.height <= RD_AHEAD_PIXELS;
	const struct sat_grid *next = NULL;
	struct rd_chunk nc;
	int ret;

	/* A small render asks for all its tiles with its first chunk (one
	 * request per run of adjacent tiles, as when it was drawn whole),
	 * a larger one for the next chunk's with each. */
	if (rd_chunk_next(r, c, &nc))
		next = !small ? &nc.grid
		       : c->tx0 == 0 && c->ty0 == 0 ? &p->grid : NULL;
	r->cur = *c;
	r->have_chunk = true;
	ret = rd_reserve(r, npix);
	if (ret)
		return ret;
	ret = rd_read_input(r, k0, r->bands, r->valid, next);
	if (!ret)
		ret = rd_luts(r, k0);
	if (ret)
		return ret;
	if (r->from)
		memset(r->from, (int)k0, npix);
	for (size_t j = 1; j < p->ninputs; j++) {
		size_t k = r->order[j];

		if (!memchr(r->valid, 0, npix))
			break; /* nothing left to fill */
		ret = rd_read_input(r, k, r->more, r->valid_more, NULL);
		if (!ret)
			ret = rd_luts(r, k);
		if (ret)
			return ret;
		rd_merge(r, k, npix);
	}
	if (p->product.clip)
		sat_geom_mask_inside(p->ring_xy, p->nring, g, r->inside);
	else
		memset(r->inside, 1, npix);
	if (r->outline) {
		memset(r->outline, 0, npix);
		sat_geom_mask_outline(p->ring_xy, p->nring, g,
				      p->product.outline_width_px,
				      r->outline);
	}
	return 0;
}

/* One visual pixel's colour channel from band b. */
static uint8_t rd_visual(const struct rd_run *r, int b, size_t i)
{
	const struct sat_read_band *rb = &r->bands[b];
	size_t k = rd_from(r, i);

	switch (rb->type) {
	case SAT_SAMPLE_U16:
		return r->lut[k][b][((const uint16_t *)rb->values)[i]];
	case SAT_SAMPLE_U8:
		return r->lut[k][b][((const uint8_t *)rb->values)[i]];
	default:
		return rd_stretch(r->plan, &r->plan->inputs[k], b,
				  sat_sample_get(rb->values, rb->type, i));
	}
}

/* Reflectance of band b at pixel i: DN * scale + offset of its input. */
static double rd_reflectance(const struct rd_run *r, int b, size_t i)
{
	const struct sat_render_input *in = &r->plan->inputs[rd_from(r, i)];
	const struct sat_read_band *rb = &r->bands[b];

	return sat_sample_get(rb->values, rb->type, i) * in->dn_scale[b] +
	       in->dn_offset[b];
}

/* The expression's value at pixel i (NaN: none). */
static double rd_expr(const struct rd_run *r, size_t i)
{
	double v[SAT_RENDER_MAX_BANDS];
	size_t n = sat_expr_nbands(r->plan->expr);

	for (size_t b = 0; b < n; b++)
		v[b] = rd_reflectance(r, (int)b, i);
	return sat_expr_eval(r->plan->expr, v);
}

/* Stores v at index o of a tile of type t, clamped into the type's range
 * (a data value that fits is kept exactly). */
static void rd_put(uint8_t *buf, enum sat_sample_type t, size_t o, double v)
{
	static const double lo[] = { 0, -128, 0, -32768, 0, -2147483648.0 };
	static const double hi[] = { 255, 127, 65535, 32767, 4294967295.0,
				     2147483647.0 };

	if (!sat_sample_is_float(t)) {
		v = isnan(v) ? 0 : round(v);
		v = v < lo[t] ? lo[t] : v > hi[t] ? hi[t] : v;
	}
	sat_sample_put(buf, t, o, v);
}

/* One output pixel: the picture's RGBA, or the data/reflectance bands. */
static void rd_pixel(const struct rd_run *r, uint8_t *buf, size_t o,
		     size_t i)
{
	const struct sat_render_plan *p = r->plan;
	const struct sat_product *pr = &p->product;
	bool show = r->valid[i] && r->inside[i];
	double v;

	if (pr->type != SAT_PRODUCT_VISUAL) {
		enum sat_sample_type t = p->out_type;
		bool refl = pr->type == SAT_PRODUCT_REFLECTANCE;
		double none = sat_sample_is_float(t) ? NAN : 0;

		if (p->expr) {
			rd_put(buf, t, o, show ? rd_expr(r, i) : none);
			return;
		}
		for (int b = 0; b < p->nout; b++) {
			const struct sat_read_band *rb = &r->bands[b];

			v = !show ? none
			    : refl ? rd_reflectance(r, b, i)
				   : sat_sample_get(rb->values, rb->type, i);
			rd_put(buf, t, o * (size_t)p->nout + (size_t)b, v);
		}
		return;
	}
	uint8_t *px = buf + o * 4;

	if (r->outline && r->outline[i]) {
		memcpy(px, pr->outline_rgb, 3);
		px[3] = 255;
		return;
	}
	if (!show)
		return;
	if (p->expr) {
		double t;

		v = rd_expr(r, i);
		if (isnan(v))
			return; /* no value: transparent */
		t = (v - pr->min[0]) / (pr->max[0] - pr->min[0]);
		t = t < 0 ? 0 : t > 1 ? 1 : t;
		memcpy(px, p->palette[lround(255 * t)], 3);
		px[3] = 255;
		return;
	}
	for (int ch = 0; ch < 3; ch++)
		px[ch] = rd_visual(r, p->nout == 1 ? 0 : ch, i);
	px[3] = 255;
}

/* One row of n pixels of a picture from index i of the chunk into px,
 * each channel from its table: rd_pixel's visual case without an
 * expression, in a loop the compiler keeps tight (rd_pixel's dispatch per
 * pixel and channel took a tenth of the daemon's CPU time in a cold copy
 * of 50 snippets). wide: the bands are uint16, else uint8. */
static inline __attribute__((always_inline)) void
rd_visual_row(const struct rd_run *r, size_t i, uint32_t n, uint8_t *px,
	      bool wide)
{
	const struct sat_render_plan *p = r->plan;
	const uint8_t *ol = r->outline, *rgb = p->product.outline_rgb;
	/* read once: px may alias anything the loop would reread */
	const uint8_t *from = r->from, *valid = r->valid, *inside = r->inside;
	uint8_t *const *lut0 = r->lut[r->order[0]];
	const void *v[3];
	int bc[3];

	for (int ch = 0; ch < 3; ch++) {
		bc[ch] = p->nout == 1 ? 0 : ch;
		v[ch] = r->bands[bc[ch]].values;
	}
	for (uint32_t x = 0; x < n; x++, i++, px += 4) {
		uint8_t *const *lut = from ? r->lut[from[i]] : lut0;

		if (ol && ol[i]) {
			memcpy(px, rgb, 3);
			px[3] = 255;
			continue;
		}
		if (!valid[i] || !inside[i])
			continue;
		for (int ch = 0; ch < 3; ch++)
			px[ch] = lut[bc[ch]][wide ? ((const uint16_t *)v[ch])[i]
						  : ((const uint8_t *)v[ch])[i]];
		px[3] = 255;
	}
}

static void rd_visual_row16(const struct rd_run *r, size_t i, uint32_t n,
			    uint8_t *px)
{
	rd_visual_row(r, i, n, px, true);
}

static void rd_visual_row8(const struct rd_run *r, size_t i, uint32_t n,
			   uint8_t *px)
{
	rd_visual_row(r, i, n, px, false);
}

typedef void (*rd_row_fn)(const struct rd_run *r, size_t i, uint32_t n,
			  uint8_t *px);

/* The row function for the chunk's bands, or NULL: rd_pixel draws. */
static rd_row_fn rd_row_of(const struct rd_run *r)
{
	const struct sat_render_plan *p = r->plan;
	enum sat_sample_type t = r->bands[0].type;

	if (!rd_visual_bands(p) || (p->nout != 1 && p->nout != 3))
		return NULL;
	for (int b = 1; b < p->nout; b++)
		if (r->bands[b].type != t)
			return NULL;
	return t == SAT_SAMPLE_U16 ? rd_visual_row16
	       : t == SAT_SAMPLE_U8 ? rd_visual_row8
				     : NULL;
}

static int rd_fill(uint32_t tile_x, uint32_t tile_y, uint8_t *buf,
		   void *payload)
{
	struct rd_run *r = payload;
	const struct sat_render_plan *p = r->plan;
	const struct rd_chunk *c = &r->cur;
	const uint32_t T = SAT_TIFFOUT_TILE;
	size_t bpp = (size_t)p->spec.samples * (p->spec.bits / 8);
	rd_row_fn row;
	uint32_t cx0, cy0, w, nx;
	int ret;

	if (!r->have_chunk || tile_x < c->tx0 || tile_x >= c->tx0 + c->tw ||
	    tile_y < c->ty0 || tile_y >= c->ty0 + c->th) {
		struct rd_chunk nc;

		rd_chunk_at(r, tile_x, tile_y, &nc);
		ret = rd_load(r, &nc);
		if (ret) {
			r->read_failed = true;
			return ret;
		}
	}
	/* this tile's first pixel within the chunk */
	cx0 = (tile_x - c->tx0) * T;
	cy0 = (tile_y - c->ty0) * T;
	w = c->grid.width;
	memset(buf, 0, (size_t)T * T * bpp);
	row = rd_row_of(r);
	nx = w - cx0 < T ? w - cx0 : T;
	for (uint32_t yy = 0; yy < T && cy0 + yy < c->grid.height; yy++) {
		size_t i = (size_t)(cy0 + yy) * w + cx0;

		if (row) {
			row(r, i, nx, buf + (size_t)yy * T * 4);
			continue;
		}
		for (uint32_t xx = 0; xx < nx; xx++)
			rd_pixel(r, buf, (size_t)yy * T + xx, i + xx);
	}
	return 0;
}

/* A quicklook's row y: its row of tiles is drawn when y enters it (tiles
 * of the chunks rd_fill reads), then rows are copied out of the strip. */
static int rd_png_row(uint32_t y, uint8_t *rgba, void *payload)
{
	struct rd_run *r = payload;
	const uint32_t T = SAT_TIFFOUT_TILE;
	size_t w = r->plan->grid.width, n;
	int ret;

	if (y % T == 0) {
		for (uint32_t tx = 0; tx < r->tiles_x; tx++) {
			ret = rd_fill(tx, y / T, r->tile, r);
			if (ret)
				return ret;
			n = w - (size_t)tx * T < T ? w - (size_t)tx * T : T;
			for (uint32_t yy = 0; yy < T; yy++)
				memcpy(r->strip + ((size_t)yy * w + tx * T) * 4,
				       r->tile + (size_t)yy * T * 4, n * 4);
		}
	}
	memcpy(rgba, r->strip + (size_t)(y % T) * w * 4, w * 4);
	return 0;
}

static int rd_write_png(struct rd_run *r, int fd)
{
	const struct sat_grid *g = &r->plan->grid;
	const uint32_t T = SAT_TIFFOUT_TILE;

	r->strip = malloc((size_t)g->width * T * 4);
	r->tile = malloc((size_t)T * T * 4);
	if (!r->strip || !r->tile)
		return -ENOMEM;
	return sat_png_write(fd, g->width, g->height, rd_png_row, r);
}

static void rd_run_clear(struct rd_run *r)
{
	for (int b = 0; b < SAT_RENDER_MAX_BANDS; b++) {
		sat_buf_free(r->bands[b].values);
		sat_buf_free(r->more[b].values);
	}
	for (size_t k = 0; k < RD_MAX_INPUTS; k++)
		sat_buf_free(r->lut[k][0]); /* the block of all its tables */
	free(r->strip);
	free(r->tile);
	sat_buf_free(r->valid);
	sat_buf_free(r->valid_more);
	sat_buf_free(r->from);
	sat_buf_free(r->inside);
	sat_buf_free(r->outline);
}

/* Are all of a chunk's reads told of the next chunk (sat_read.next)? Not
 * a mosaic's scenes after the first (read only where pixels are missing),
 * and a source may not look ahead through PROJ (cogread does not: it
 * would map the pixels twice). */
static bool rd_asks_ahead(const struct rd_run *r)
{
	const struct sat_render_plan *p = r->plan;

	return p->ninputs == 1 && p->inputs[0].epsg == p->grid.epsg;
}

/* Chunk size: the whole file when it is small enough, else one tile row
 * of at most RD_CHUNK_PIXELS (RD_CHUNK_PIXELS_ALONE where the reads of a
 * chunk cannot ask for the next one's tiles: there each chunk costs a
 * round trip). */
static void rd_chunk_size(struct rd_run *r)
{
	const uint32_t T = SAT_TIFFOUT_TILE;
	uint64_t row_px = (uint64_t)r->tiles_x * T * T;
	uint64_t all_px = row_px * r->tiles_y;
	uint32_t max = rd_asks_ahead(r) ? RD_CHUNK_PIXELS
					: RD_CHUNK_PIXELS_ALONE;

	if (all_px <= max) {
		r->chunk_tw = r->tiles_x;
		r->chunk_th = r->tiles_y;
		return;
	}
	r->chunk_th = 1;
	r->chunk_tw = max / (T * T);
	if (r->chunk_tw > r->tiles_x)
		r->chunk_tw = r->tiles_x;
}

struct rd_sort {
	const double *pct;
	const struct sat_render_plan *plan;
};

/* Increasing region cloud (unknown last), then id. */
static int rd_cmp_input(const void *a, const void *b, void *arg)
{
	const struct rd_sort *so = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	double cx = so->pct[x], cy = so->pct[y];

	if (isnan(cx) != isnan(cy))
		return isnan(cx) ? 1 : -1;
	if (!isnan(cx) && cx != cy)
		return cx < cy ? -1 : 1;
	return strcmp(so->plan->inputs[x].item_id, so->plan->inputs[y].item_id);
}

/* The region cloud cover of every input (NaN where unknown), and the
 * order in which they give pixels. */
static int rd_clouds(struct rd_run *r, double *pct)
{
	const struct sat_render_plan *p = r->plan;
	struct rd_sort so = { .pct = pct, .plan = p };

	for (size_t k = 0; k < p->ninputs; k++) {
		char cause[400];
		int err;

		r->order[k] = k;
		pct[k] = NAN;
		if (!r->ctx->clouds)
			continue;
		err = sat_regioncloud_get(r->ctx->clouds, &p->inputs[k],
					  p->ring_lonlat, p->nring_lonlat,
					  r->ctx->prio, r->ctx->progress,
					  &pct[k]);
		/* unmounting: no "unknown" in a file that would be kept */
		if (err == -ECANCELED)
			return err;
		if (err) {
			sat_log_take_cause(cause, sizeof(cause));
			sat_warn("render: %s: region cloud cover unknown: %s",
				 p->inputs[k].item_id,
				 cause[0] ? cause : strerror(-err));
			pct[k] = NAN;
		}
	}
	if (p->ninputs > 1)
		qsort_r(r->order, p->ninputs, sizeof(r->order[0]),
			rd_cmp_input, &so);
	return 0;
}

/* The size was promised at listing time: never serve another. */
static int rd_check_size(const struct sat_render_plan *plan, int fd)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		st.st_size = -1;
	if ((uint64_t)st.st_size == plan->size_bytes)
		return 0;
	sat_error("render: %s.%s: wrote %lld bytes, planned %llu",
		  plan->item_id, plan->product.name, (long long)st.st_size,
		  (unsigned long long)plan->size_bytes);
	return -EIO;
}

/* tiffout's late_metadata: the GDAL metadata with the region cloud covers,
 * counted now for a single scene (they only go into the metadata, which
 * libtiff writes after the tiles: the count overlaps the render instead
 * of holding up its first pixel). */
static int rd_late_metadata(const char **metadata, void *payload)
{
	struct rd_run *r = payload;
	int ret;

	if (r->plan->ninputs == 1) {
		ret = rd_clouds(r, r->pct);
		if (ret)
			return ret;
	}
	r->metadata = sat_render_metadata_with_clouds(r->plan, r->pct);
	if (!r->metadata)
		return -ENOMEM;
	*metadata = r->metadata;
	return 0;
}

int sat_render_run(const struct sat_render_plan *plan,
		   const struct sat_render_ctx *ctx, int fd)
{
	const struct sat_grid *g = &plan->grid;
	struct rd_run r = { .plan = plan, .ctx = ctx };
	struct sat_tiffout_spec spec;
	int ret = 0;

	if (plan->format == SAT_RENDER_GIF || plan->format == SAT_RENDER_HTML) {
		ret = sat_album_run(plan, ctx, fd);
		return ret ? ret : rd_check_size(plan, fd);
	}
	if (plan->ninputs < 1 || plan->ninputs > RD_MAX_INPUTS)
		return -EINVAL;
	r.tiles_x = (g->width + SAT_TIFFOUT_TILE - 1) / SAT_TIFFOUT_TILE;
	r.tiles_y = (g->height + SAT_TIFFOUT_TILE - 1) / SAT_TIFFOUT_TILE;
	rd_chunk_size(&r);
	/* A mosaic takes its scenes in the order of their region cloud
	 * covers: it counts them first. A single scene's count goes to the
	 * head of the background queue, to run while we render. */
	if (plan->ninputs > 1) {
		ret = rd_clouds(&r, r.pct);
		if (ret)
			goto out;
	} else if (ctx->clouds && plan->format != SAT_RENDER_PNG) {
		sat_regioncloud_soon(ctx->clouds,
				     (struct sat_render_plan *)plan);
	}
	if (plan->product.type == SAT_PRODUCT_VISUAL &&
	    plan->product.outline) {
		r.outline = malloc(1);
		if (!r.outline) {
			ret = -ENOMEM;
			goto out;
		}
	}

	if (plan->format == SAT_RENDER_PNG) {
		ret = rd_write_png(&r, fd);
	} else {
		/* the metadata's length is fixed (the covers' field is
		 * padded), so the placeholder lays the file out as the
		 * final one will be */
		spec = plan->spec;
		spec.gdal_metadata = plan->metadata;
		spec.late_metadata = rd_late_metadata;
		spec.hash = ctx->hash;
		if (ctx->hash && plan->ntiff_header)
			sat_filehash_expect(ctx->hash, plan->tiff_header,
					    plan->ntiff_header);
		ret = sat_tiffout_write(fd, &spec, rd_fill, &r);
	}
	if (ret) {
		if (!r.read_failed)
			sat_log_cause("writing the %s failed: %s",
				      plan->format == SAT_RENDER_PNG ? "PNG"
								     : "GeoTIFF",
				      strerror(-ret));
		goto out;
	}
	ret = rd_check_size(plan, fd);
out:
	/* Errors from the network or the data are "cannot render this
	 * file now": EIO. Resource errors stay. */
	if (ret && ret != -ENOMEM && ret != -ENOSPC && ret != -ECANCELED)
		ret = -EIO;
	free(r.metadata);
	rd_run_clear(&r);
	return ret;
}
