/*
 * render: docs/ARCHITECTURE.md "Rendering rules" — plan (pure CPU: grid,
 * bands, scale/offset, GeoTIFF layout, size, cache key) and run (pixels
 * through each input's source, rules 4-7, GeoTIFF through tiffout).
 *
 * This file makes plans; fs/render_run.c runs them.
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

#include "satfs/log.h"
#include "satfs/region.h"
#include "satfs/source.h"
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
	const struct sat_render_input *in = &p->inputs[0];
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
	rd_item_nums(&b, "satfs_dn_scale", in->dn_scale, p->nbands, 10000);
	rd_item_nums(&b, "satfs_offset_applied", in->dn_offset, p->nbands,
		     10000);
	rd_item_open(&b, "satfs_sources");
	for (size_t k = 0; k < p->ninputs; k++)
		for (int i = 0; i < p->nbands; i++) {
			rd_printf(&b, "%s", i || k ? " " : "");
			rd_escape(&b, sat_log_url(p->inputs[k].hrefs[i], url,
						  sizeof(url)));
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
			  rd_num(in->dn_scale[i], num));
		rd_printf(&b, "  <Item name=\"OFFSET\" sample=\"%d\" "
			  "role=\"offset\">%s</Item>\n", i,
			  rd_num(in->dn_offset[i], num));
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
	sat_hash_add_double(&h, (double)p->ninputs);
	for (size_t k = 0; k < p->ninputs; k++)
		for (int i = 0; i < p->nbands; i++)
			sat_hash_add_str(&h, p->inputs[k].hrefs[i]);
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
	for (int i = 0; i < SAT_PRODUCT_MAX_BANDS; i++)
		free(plan->product.bands[i]);
	for (size_t k = 0; plan->inputs && k < plan->ninputs; k++) {
		free(plan->inputs[k].item_id);
		for (int i = 0; i < SAT_PRODUCT_MAX_BANDS; i++)
			free(plan->inputs[k].hrefs[i]);
	}
	free(plan->inputs);
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
	struct sat_render_input *in;
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
	p->item_id = strdup(id);
	p->inputs = calloc(1, sizeof(*p->inputs));
	if (!p->item_id || !p->inputs)
		goto nomem;
	p->ninputs = 1;
	in = &p->inputs[0];
	in->source = scene->source;
	in->item_id = strdup(id);
	ret = rd_copy_product(&p->product, product);
	if (ret || !in->item_id)
		goto nomem;
	for (int i = 0; i < p->nbands; i++) {
		in->hrefs[i] = strdup(assets[i]->href);
		if (!in->hrefs[i])
			goto nomem;
		rd_scale_offset(assets[i], scene->processing_baseline,
				offset_mode, &in->dn_scale[i],
				&in->dn_offset[i]);
		in->has_nodata[i] = assets[i]->has_nodata;
		in->nodata[i] = assets[i]->nodata;
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
