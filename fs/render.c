/*
 * render: DESIGN.md "Rendering, exactly" — plan (pure CPU: grid, bands,
 * scale/offset, GeoTIFF layout, size, cache key) and run (pixels through
 * cogread, rules 4-7, GeoTIFF through tiffout).
 *
 * Threading: no shared state. A plan is immutable after
 * sat_render_plan_new() and may be run by several threads at once.
 *
 * The GDAL_METADATA text is a pure function of the plan's inputs, so that
 * the file size computed at listing time (sat_tiffout_size) is the size
 * written. It records, besides the product parameters:
 *   satfs_offset_applied  per band, 10000 * offset: the number added to
 *                         DN * 10000 * scale (rule 4), i.e. the DN offset
 *                         "-1000" for baseline >= 04.00 data, "0" else;
 *   satfs_dn_scale        per band, 10000 * scale (1 for Sentinel-2 L2A);
 *   satfs_sources         the asset hrefs, without query strings (which
 *                         may carry tokens).
 * Raw products also get per-band OFFSET/SCALE (reflectance = DN * scale +
 * offset) and DESCRIPTION items, which GDAL shows as band properties.
 */
#include "satfs/render.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "satfs/cogread.h"
#include "satfs/ee.h"
#include "satfs/log.h"
#include "satfs/region.h"
#include "satfs/stac.h"

#ifndef SATFS_VERSION
#define SATFS_VERSION "unknown"
#endif

#define RD_DEFAULT_SCALE 0.0001

/* A growing string; any allocation failure sticks in oom. */
struct rd_str {
	char *s;
	size_t len, cap;
	bool oom;
};

__attribute__((format(printf, 2, 3)))
static void rd_printf(struct rd_str *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL,
			      b->s ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if (b->s && b->len + (size_t)n < b->cap) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = (b->cap ? 2 * b->cap : 1024) + (size_t)n;
		char *ns = realloc(b->s, cap);

		if (!ns) {
			b->oom = true;
			return;
		}
		b->s = ns;
		b->cap = cap;
	}
}

static void rd_escape(struct rd_str *b, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': rd_printf(b, "&amp;"); break;
		case '<': rd_printf(b, "&lt;"); break;
		case '>': rd_printf(b, "&gt;"); break;
		case '"': rd_printf(b, "&quot;"); break;
		case '\'': rd_printf(b, "&apos;"); break;
		default:
			/* XML 1.0 has no control characters but these. */
			if ((unsigned char)*s < 0x20 && *s != '\t' &&
			    *s != '\n' && *s != '\r')
				rd_printf(b, "?");
			else
				rd_printf(b, "%c", *s);
		}
	}
}

/* Shortest of %.15g / %.17g that reads back as v: deterministic and
 * readable (0.0001, not 0.00010000000000000000479). */
static const char *rd_num(double v, char buf[32])
{
	snprintf(buf, 32, "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, 32, "%.17g", v);
	return buf;
}

static void rd_item_open(struct rd_str *b, const char *name)
{
	rd_printf(b, "  <Item name=\"%s\">", name);
}

static void rd_item(struct rd_str *b, const char *name, const char *value)
{
	rd_item_open(b, name);
	rd_escape(b, value);
	rd_printf(b, "</Item>\n");
}

/* An item whose value is one number per band, comma separated. */
static void rd_item_nums(struct rd_str *b, const char *name, const double *v,
			 int n, double mul)
{
	char num[32];

	rd_item_open(b, name);
	for (int i = 0; i < n; i++)
		rd_printf(b, "%s%s", i ? "," : "", rd_num(v[i] * mul, num));
	rd_printf(b, "</Item>\n");
}

static char *rd_metadata(const struct sat_render_plan *p,
			 const struct sat_region *region)
{
	const struct sat_product *pr = &p->product;
	struct rd_str b = { 0 };
	char num[32], url[2048];

	rd_printf(&b, "<GDALMetadata>\n");
	rd_item(&b, "satfs_item", p->item_id);
	rd_item(&b, "satfs_product", pr->name);
	rd_item(&b, "satfs_type", pr->raw ? "raw" : "visual");
	rd_item_open(&b, "satfs_bands");
	for (int i = 0; i < pr->nbands; i++) {
		rd_printf(&b, "%s", i ? "," : "");
		rd_escape(&b, pr->bands[i]);
	}
	rd_printf(&b, "</Item>\n");
	if (!pr->raw) {
		rd_item_nums(&b, "satfs_min", pr->min, pr->nbands, 1);
		rd_item_nums(&b, "satfs_max", pr->max, pr->nbands, 1);
		rd_item(&b, "satfs_gamma", rd_num(pr->gamma, num));
		if (pr->outline)
			rd_printf(&b, "  <Item name=\"satfs_outline\">"
				  "#%02x%02x%02x,%s</Item>\n",
				  pr->outline_rgb[0], pr->outline_rgb[1],
				  pr->outline_rgb[2],
				  rd_num(pr->outline_width_px, num));
		else
			rd_item(&b, "satfs_outline", "none");
	}
	rd_item(&b, "satfs_clip", pr->clip ? "on" : "off");
	rd_item(&b, "satfs_scale_m", rd_num(p->grid.pixel_size, num));
	rd_item(&b, "satfs_region", region->name);
	rd_item_nums(&b, "satfs_dn_scale", p->dn_scale, p->nbands, 10000);
	rd_item_nums(&b, "satfs_offset_applied", p->dn_offset, p->nbands,
		     10000);
	rd_item_open(&b, "satfs_sources");
	for (int i = 0; i < p->nbands; i++) {
		rd_printf(&b, "%s", i ? " " : "");
		rd_escape(&b, sat_log_url(p->hrefs[i], url, sizeof(url)));
	}
	rd_printf(&b, "</Item>\n");
	rd_item(&b, "satfs_version", SATFS_VERSION);
	rd_printf(&b, "  <Item name=\"satfs_renderer\">%d</Item>\n",
		  SAT_RENDER_VERSION);
	for (int i = 0; pr->raw && i < p->nbands; i++) {
		rd_printf(&b, "  <Item name=\"DESCRIPTION\" sample=\"%d\" "
			  "role=\"description\">", i);
		rd_escape(&b, pr->bands[i]);
		rd_printf(&b, "</Item>\n");
		rd_printf(&b, "  <Item name=\"SCALE\" sample=\"%d\" "
			  "role=\"scale\">%s</Item>\n", i,
			  rd_num(p->dn_scale[i], num));
		rd_printf(&b, "  <Item name=\"OFFSET\" sample=\"%d\" "
			  "role=\"offset\">%s</Item>\n", i,
			  rd_num(p->dn_offset[i], num));
	}
	rd_printf(&b, "</GDALMetadata>");
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

static void rd_key(struct sat_render_plan *p, const struct sat_scene *scene,
		   const struct sat_region *region,
		   enum sat_offset_mode offset_mode)
{
	const struct sat_product *pr = &p->product;
	struct sat_hash h;

	sat_hash_init(&h);
	sat_hash_add_str(&h, "satfs-render");
	sat_hash_add_double(&h, SAT_RENDER_VERSION);
	/* The metadata names the satfs version: a new version may write
	 * other bytes, so it must not reuse an old file. */
	sat_hash_add_str(&h, SATFS_VERSION);
	sat_hash_add_str(&h, scene->id);
	if (scene->json)
		sat_hash_add(&h, scene->json, scene->json_len);
	sat_hash_add_double(&h, (double)p->nbands);
	for (int i = 0; i < p->nbands; i++)
		sat_hash_add_str(&h, p->hrefs[i]);
	sat_hash_add_str(&h, pr->name);
	for (int i = 0; i < pr->nbands; i++) {
		sat_hash_add_str(&h, pr->bands[i]);
		sat_hash_add_double(&h, pr->min[i]);
		sat_hash_add_double(&h, pr->max[i]);
	}
	sat_hash_add_double(&h, pr->gamma);
	sat_hash_add_double(&h, pr->scale_m);
	sat_hash_add_double(&h, pr->outline);
	sat_hash_add(&h, pr->outline_rgb, sizeof(pr->outline_rgb));
	sat_hash_add_double(&h, pr->outline_width_px);
	sat_hash_add_double(&h, pr->clip);
	sat_hash_add_double(&h, pr->raw);
	sat_hash_add_str(&h, region->name);
	sat_hash_add_double(&h, (double)region->nring);
	for (size_t i = 0; i < 2 * region->nring; i++)
		sat_hash_add_double(&h, region->ring[i]);
	sat_hash_add_double(&h, (double)offset_mode);
	/* Everything in the file's layout, so equal keys mean equal bytes. */
	sat_hash_add_str(&h, p->metadata);
	sat_hash_final(&h, p->key);
}

void sat_render_plan_free(struct sat_render_plan *plan)
{
	if (!plan)
		return;
	free(plan->item_id);
	free(plan->product.name);
	for (int i = 0; i < SAT_PRODUCT_MAX_BANDS; i++) {
		free(plan->product.bands[i]);
		free(plan->hrefs[i]);
	}
	free(plan->ring_xy);
	free(plan->metadata);
	free(plan);
}

/* Processing baseline 04.00 or later: L2A DNs carry a +1000 offset
 * ("04.00", "05.10"; Planetary Computer and Earth Search both say it so). */
static bool rd_baseline_offset(const char *baseline)
{
	char *end;
	double v;

	if (!baseline)
		return false;
	v = strtod(baseline, &end);
	return end != baseline && *end == '\0' && isfinite(v) && v >= 4.0;
}

/* Rule 4 scale/offset of one band. Under offset = auto, an item without
 * raster:bands (Planetary Computer's) gets the -1000 its processing
 * baseline implies. */
static void rd_scale_offset(const struct sat_asset *a, const char *baseline,
			    enum sat_offset_mode mode, double *scale,
			    double *offset)
{
	*scale = RD_DEFAULT_SCALE;
	*offset = 0;
	if (a->has_scale) {
		if (isfinite(a->scale) && a->scale != 0)
			*scale = a->scale;
		if (isfinite(a->offset))
			*offset = a->offset;
	} else if (mode == SAT_OFFSET_AUTO && rd_baseline_offset(baseline)) {
		*offset = -1000 * *scale;
	}
	if (mode == SAT_OFFSET_ZERO)
		*offset = 0;
	else if (mode == SAT_OFFSET_MINUS1000)
		*offset = -1000 * *scale; /* -0.1 at scale 0.0001 */
}

static int rd_check_product(const struct sat_product *pr, const char *id)
{
	if (!pr->name || pr->nbands < 1 ||
	    pr->nbands > SAT_PRODUCT_MAX_BANDS ||
	    (!pr->raw && pr->nbands != 1 && pr->nbands != 3))
		goto bad;
	for (int i = 0; i < pr->nbands; i++)
		if (!pr->bands[i] ||
		    (!pr->raw && (!isfinite(pr->min[i]) ||
				  !isfinite(pr->max[i]) ||
				  pr->min[i] == pr->max[i])))
			goto bad;
	if (!pr->raw && !(isfinite(pr->gamma) && pr->gamma > 0))
		goto bad;
	if (pr->scale_m < 0 || !isfinite(pr->scale_m))
		goto bad;
	return 0;
bad:
	sat_warn("render: %s: product %s has invalid parameters", id,
		 pr->name ? pr->name : "?");
	return -EINVAL;
}

static int rd_copy_product(struct sat_product *dst,
			   const struct sat_product *src)
{
	*dst = *src;
	dst->name = strdup(src->name);
	for (int i = 0; i < SAT_PRODUCT_MAX_BANDS; i++)
		dst->bands[i] = i < src->nbands ? strdup(src->bands[i]) : NULL;
	if (!dst->name)
		return -ENOMEM;
	for (int i = 0; i < src->nbands; i++)
		if (!dst->bands[i])
			return -ENOMEM;
	return 0;
}

int sat_render_plan_new(struct sat_render_plan **out,
			const struct sat_scene *scene,
			const struct sat_product *product,
			const struct sat_region *region,
			enum sat_offset_mode offset_mode)
{
	const struct sat_asset *assets[SAT_PRODUCT_MAX_BANDS];
	struct sat_render_plan *p;
	const char *id = scene && scene->id ? scene->id : "?";
	double px;
	int ret, epsg;

	*out = NULL;
	if (!scene || !product || !region || !region->ring ||
	    region->nring < 3)
		return -EINVAL;
	ret = rd_check_product(product, id);
	if (ret)
		return ret;
	for (int i = 0; i < product->nbands; i++) {
		assets[i] = sat_scene_find_band(scene, product->bands[i]);
		if (!assets[i] || !assets[i]->href) {
			sat_warn("render: %s has no band %s (product %s)", id,
				 product->bands[i], product->name);
			return -EINVAL;
		}
	}
	epsg = scene->epsg ? scene->epsg : assets[0]->epsg;
	if (epsg <= 0) {
		sat_warn("render: %s: unknown CRS", id);
		return -EINVAL;
	}
	px = product->scale_m;
	if (px <= 0) {	/* the finest band's resolution */
		for (int i = 0; i < product->nbands; i++) {
			double gsd = assets[i]->gsd;

			if (isfinite(gsd) && gsd > 0 && (px <= 0 || gsd < px))
				px = gsd;
		}
	}
	if (!(px > 0)) {
		sat_warn("render: %s: unknown resolution of %s", id,
			 product->bands[0]);
		return -EINVAL;
	}

	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->nbands = product->nbands;
	p->ee = scene->ee;
	p->item_id = strdup(id);
	ret = rd_copy_product(&p->product, product);
	if (ret || !p->item_id)
		goto nomem;
	for (int i = 0; i < p->nbands; i++) {
		p->hrefs[i] = strdup(assets[i]->href);
		if (!p->hrefs[i])
			goto nomem;
		rd_scale_offset(assets[i], scene->processing_baseline,
				offset_mode, &p->dn_scale[i],
				&p->dn_offset[i]);
		p->has_nodata[i] = assets[i]->has_nodata;
		p->nodata[i] = assets[i]->nodata;
	}

	ret = sat_geom_project_ring(epsg, region->ring, region->nring,
				    &p->ring_xy, &p->nring);
	if (ret == 0)
		ret = sat_geom_grid_for_ring(p->ring_xy, p->nring, epsg, px,
					     &p->grid);
	if (ret) {
		sat_warn("render: %s: region %s does not fit EPSG:%d at %g m "
			 "(%s)", id, region->name, epsg, px, strerror(-ret));
		sat_render_plan_free(p);
		return ret == -ENOMEM ? ret : -EINVAL;
	}

	p->metadata = rd_metadata(p, region);
	if (!p->metadata)
		goto nomem;
	p->spec.grid = &p->grid;
	if (product->raw) {
		p->spec.samples = (uint16_t)p->nbands;
		p->spec.bits = 16;
		p->spec.alpha = false;
		p->spec.nodata = "0";
	} else {
		p->spec.samples = 4;
		p->spec.bits = 8;
		p->spec.alpha = true;
		p->spec.nodata = NULL;
	}
	p->spec.gdal_metadata = p->metadata;
	ret = sat_tiffout_size(&p->spec, &p->size_bytes);
	if (ret) {
		sat_warn("render: %s: cannot lay out the output (%s)", id,
			 strerror(-ret));
		sat_render_plan_free(p);
		return ret;
	}
	rd_key(p, scene, region, offset_mode);
	*out = p;
	return 0;
nomem:
	sat_render_plan_free(p);
	return -ENOMEM;
}

/* What the tile callback reads from. */
struct rd_run {
	const struct sat_render_plan *plan;
	uint16_t *dn[SAT_PRODUCT_MAX_BANDS];
	uint8_t *valid;    /* 1: alpha 255 (data, and inside when clipping) */
	uint8_t *outline;  /* 1: outline colour; NULL when none */
	uint8_t *lut[SAT_PRODUCT_MAX_BANDS]; /* DN -> byte, rules 4-5 */
};

/* Rules 4-5 for every possible DN, exactly as written in DESIGN.md. */
static uint8_t *rd_lut(const struct sat_render_plan *p, int b)
{
	const struct sat_product *pr = &p->product;
	double lo = pr->min[b], span = pr->max[b] - pr->min[b];
	double inv_gamma = 1.0 / pr->gamma;
	uint8_t *lut = malloc(65536);

	if (!lut)
		return NULL;
	for (uint32_t dn = 0; dn < 65536; dn++) {
		double v = dn * 10000 * p->dn_scale[b] +
			   10000 * p->dn_offset[b];
		double t = (v - lo) / span;

		t = t < 0 ? 0 : t > 1 ? 1 : t;
		lut[dn] = (uint8_t)round(255 * pow(t, inv_gamma));
	}
	return lut;
}

static int rd_fill(uint32_t tile_x, uint32_t tile_y, uint8_t *buf,
		   void *payload)
{
	const struct rd_run *r = payload;
	const struct sat_render_plan *p = r->plan;
	const struct sat_grid *g = &p->grid;
	const uint32_t T = SAT_TIFFOUT_TILE;
	size_t bpp = (size_t)p->spec.samples * (p->spec.bits / 8);
	uint32_t x0 = tile_x * T, y0 = tile_y * T;
	int nb = p->nbands;

	memset(buf, 0, (size_t)T * T * bpp);
	for (uint32_t yy = 0; yy < T && y0 + yy < g->height; yy++) {
		for (uint32_t xx = 0; xx < T && x0 + xx < g->width; xx++) {
			size_t i = (size_t)(y0 + yy) * g->width + x0 + xx;
			size_t o = (size_t)yy * T + xx;

			if (p->product.raw) {
				uint16_t *px = (uint16_t *)buf + o * nb;

				for (int b = 0; r->valid[i] && b < nb; b++)
					px[b] = r->dn[b][i];
				continue;
			}
			uint8_t *px = buf + o * 4;

			if (r->outline && r->outline[i]) {
				memcpy(px, p->product.outline_rgb, 3);
				px[3] = 255;
			} else if (r->valid[i]) {
				for (int c = 0; c < 3; c++) {
					int b = nb == 1 ? 0 : c;

					px[c] = r->lut[b][r->dn[b][i]];
				}
				px[3] = 255;
			}
		}
	}
	return 0;
}

int sat_render_run(const struct sat_render_plan *plan,
		   struct sat_cogread *cr, enum sat_fetch_priority prio,
		   int fd)
{
	const struct sat_grid *g = &plan->grid;
	size_t npix = (size_t)g->width * g->height;
	struct sat_band_window bw[SAT_PRODUCT_MAX_BANDS];
	struct rd_run r = { .plan = plan };
	uint8_t *inside = NULL;
	struct stat st;
	int ret;

	memset(bw, 0, sizeof(bw));
	r.valid = malloc(npix);
	if (!r.valid)
		return -ENOMEM;
	for (int b = 0; b < plan->nbands; b++) {
		bw[b].href = plan->hrefs[b];
		bw[b].has_nodata = plan->has_nodata[b];
		bw[b].nodata = plan->nodata[b];
	}
	if (plan->ee && !sat_cogread_ee(cr))
		ret = -EIO; /* a cached Earth Engine listing, another source */
	else if (plan->ee)
		ret = sat_ee_window(sat_cogread_ee(cr), g, bw,
				    (size_t)plan->nbands, r.valid, prio);
	else
		ret = sat_cogread_window(cr, g, bw, (size_t)plan->nbands,
					 r.valid, prio);
	if (ret)
		goto out;
	for (int b = 0; b < plan->nbands; b++)
		r.dn[b] = bw[b].dn;

	if (plan->product.clip) {
		inside = malloc(npix);
		if (!inside) {
			ret = -ENOMEM;
			goto out;
		}
		sat_geom_mask_inside(plan->ring_xy, plan->nring, g, inside);
		for (size_t i = 0; i < npix; i++)
			r.valid[i] &= inside[i];
		free(inside); /* large grids: hold as little as we can */
		inside = NULL;
	}
	if (!plan->product.raw && plan->product.outline) {
		r.outline = calloc(npix, 1);
		if (!r.outline) {
			ret = -ENOMEM;
			goto out;
		}
		sat_geom_mask_outline(plan->ring_xy, plan->nring, g,
				      plan->product.outline_width_px,
				      r.outline);
	}
	for (int b = 0; !plan->product.raw && b < plan->nbands; b++) {
		r.lut[b] = rd_lut(plan, b);
		if (!r.lut[b]) {
			ret = -ENOMEM;
			goto out;
		}
	}

	ret = sat_tiffout_write(fd, &plan->spec, rd_fill, &r);
	if (ret) {
		sat_log_cause("writing the GeoTIFF failed: %s",
			      strerror(-ret));
		goto out;
	}
	/* The size was promised at listing time: never serve another. */
	if (fstat(fd, &st) != 0)
		st.st_size = -1;
	if ((uint64_t)st.st_size != plan->size_bytes) {
		sat_error("render: %s.%s: wrote %lld bytes, planned %llu",
			  plan->item_id, plan->product.name,
			  (long long)st.st_size,
			  (unsigned long long)plan->size_bytes);
		ret = -EIO;
	}
out:
	/* Errors from the network or the data are "cannot render this
	 * file now": EIO, as DESIGN.md asks. Resource errors stay. */
	if (ret && ret != -ENOMEM && ret != -ENOSPC && ret != -ECANCELED)
		ret = -EIO;
	for (int b = 0; b < plan->nbands; b++) {
		free(bw[b].dn);
		free(r.lut[b]);
	}
	free(r.valid);
	free(r.outline);
	free(inside);
	return ret;
}
