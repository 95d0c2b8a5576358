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
 * written; the one value known only when rendering, the region cloud
 * cover, sits in a field of fixed width (padded with blanks between
 * elements, which XML ignores). It records, besides the product
 * parameters:
 *   satfs_offset_applied  per band, 10000 * offset: the number added to
 *                         DN * 10000 * scale (rule 4), i.e. the DN offset
 *                         "-1000" for baseline >= 04.00 data, "0" else;
 *   satfs_dn_scale        per band, 10000 * scale (1 for Sentinel-2 L2A);
 *   satfs_sources         the asset hrefs, without query strings (which
 *                         may carry tokens);
 *   satfs_datetime, satfs_cloud_cover, satfs_region_cloud
 *                         acquisition time, the catalog's and the region's
 *                         cloud cover (also as GDAL's IMAGERY domain
 *                         ACQUISITIONDATETIME and CLOUDCOVER).
 * Raw and reflectance products also get per-band OFFSET/SCALE and
 * DESCRIPTION items, which GDAL shows as band properties.
 */
#include "satfs/render.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "satfs/album.h"
#include "satfs/log.h"
#include "satfs/strbuf.h"
#include "satfs/palette.h"
#include "satfs/pngio.h"
#include "satfs/region.h"
#include "satfs/source.h"
#include "satfs/stac.h"

#ifndef SATFS_VERSION
#define SATFS_VERSION "unknown"
#endif

#define RD_DEFAULT_SCALE 0.0001



static void rd_escape(struct sat_strbuf *b, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': sat_strbuf_printf(b, "&amp;"); break;
		case '<': sat_strbuf_printf(b, "&lt;"); break;
		case '>': sat_strbuf_printf(b, "&gt;"); break;
		case '"': sat_strbuf_printf(b, "&quot;"); break;
		case '\'': sat_strbuf_printf(b, "&apos;"); break;
		default:
			/* XML 1.0 has no control characters but these. */
			if ((unsigned char)*s < 0x20 && *s != '\t' &&
			    *s != '\n' && *s != '\r')
				sat_strbuf_printf(b, "?");
			else
				sat_strbuf_printf(b, "%c", *s);
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

static void rd_item_open(struct sat_strbuf *b, const char *name)
{
	sat_strbuf_printf(b, "  <Item name=\"%s\">", name);
}

static void rd_item(struct sat_strbuf *b, const char *name, const char *value)
{
	rd_item_open(b, name);
	rd_escape(b, value);
	sat_strbuf_printf(b, "</Item>\n");
}

/* An item whose value is one number per band, comma separated. */
static void rd_item_nums(struct sat_strbuf *b, const char *name, const double *v,
			 int n, double mul)
{
	char num[32];

	rd_item_open(b, name);
	for (int i = 0; i < n; i++)
		sat_strbuf_printf(b, "%s%s", i ? "," : "", rd_num(v[i] * mul, num));
	sat_strbuf_printf(b, "</Item>\n");
}

/* Width of the region cloud field: "100.0," per input. */
#define RD_CLOUD_WIDTH 6

static void rd_iso8601(time_t t, char buf[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *rd_type_name(enum sat_product_type t)
{
	return t == SAT_PRODUCT_RAW	    ? "raw"
	       : t == SAT_PRODUCT_REFLECTANCE ? "reflectance"
					      : "visual";
}

static char *rd_metadata(struct sat_render_plan *p,
			 const struct sat_region *region)
{
	const struct sat_product *pr = &p->product;
	const struct sat_render_input *in = &p->inputs[0];
	bool visual = pr->type == SAT_PRODUCT_VISUAL;
	int nstretch = pr->expression ? 1 : p->nbands - (p->scl >= 0);
	struct sat_strbuf b = { 0 };
	char num[32], url[2048], when[32];

	sat_strbuf_printf(&b, "<GDALMetadata>\n");
	rd_item(&b, "satfs_item", p->item_id);
	rd_item(&b, "satfs_product", pr->name);
	rd_item(&b, "satfs_type", rd_type_name(pr->type));
	rd_item_open(&b, "satfs_bands");
	for (int i = 0; i < p->nbands; i++) {
		sat_strbuf_printf(&b, "%s", i ? "," : "");
		rd_escape(&b, p->band_names[i]);
	}
	sat_strbuf_printf(&b, "</Item>\n");
	if (pr->expression)
		rd_item(&b, "satfs_expression", pr->expression);
	if (pr->mask)
		for (int c = 0, first = 1; c < 32; c++)
			if (pr->mask & (1u << c)) {
				if (first)
					rd_item_open(&b, "satfs_mask");
				sat_strbuf_printf(&b, "%s%d", first ? "" : ",", c);
				first = 0;
				if (!(pr->mask >> (c + 1)))
					sat_strbuf_printf(&b, "</Item>\n");
			}
	if (visual || pr->expression) {
		rd_item_nums(&b, "satfs_min", pr->min, nstretch, 1);
		rd_item_nums(&b, "satfs_max", pr->max, nstretch, 1);
	}
	if (visual) {
		if (pr->expression)
			rd_item(&b, "satfs_palette",
				pr->palette ? pr->palette : "greys");
		else
			rd_item(&b, "satfs_gamma", rd_num(pr->gamma, num));
		if (pr->outline)
			sat_strbuf_printf(&b, "  <Item name=\"satfs_outline\">"
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
	rd_item_nums(&b, "satfs_dn_scale", in->dn_scale, nstretch, 10000);
	rd_item_nums(&b, "satfs_offset_applied", in->dn_offset, nstretch,
		     10000);
	rd_item_open(&b, "satfs_sources");
	for (size_t k = 0; k < p->ninputs; k++)
		for (int i = 0; i < p->nbands; i++) {
			sat_strbuf_printf(&b, "%s", i || k ? " " : "");
			rd_escape(&b, sat_log_url(p->inputs[k].hrefs[i], url,
						  sizeof(url)));
		}
	sat_strbuf_printf(&b, "</Item>\n");
	if (p->ninputs > 1) {
		rd_item_open(&b, "satfs_scenes");
		for (size_t k = 0; k < p->ninputs; k++) {
			sat_strbuf_printf(&b, "%s", k ? "," : "");
			rd_escape(&b, p->inputs[k].item_id);
		}
		sat_strbuf_printf(&b, "</Item>\n");
	}
	/* acquisition and cloud cover, per scene */
	rd_item_open(&b, "satfs_datetime");
	for (size_t k = 0; k < p->ninputs; k++) {
		rd_iso8601(p->inputs[k].datetime, when);
		sat_strbuf_printf(&b, "%s%s", k ? "," : "", when);
	}
	sat_strbuf_printf(&b, "</Item>\n");
	rd_item_open(&b, "satfs_cloud_cover");
	for (size_t k = 0; k < p->ninputs; k++)
		sat_strbuf_printf(&b, "%s%s", k ? "," : "",
			  p->inputs[k].has_cloud
				  ? rd_num(p->inputs[k].cloud_cover, num)
				  : "n/a");
	sat_strbuf_printf(&b, "</Item>\n");
	rd_item_open(&b, "satfs_region_cloud");
	p->cloud_at = b.len;
	p->cloud_width = RD_CLOUD_WIDTH * p->ninputs + strlen("</Item>");
	sat_strbuf_printf(&b, "%-*s\n", (int)p->cloud_width, "</Item>");
	rd_iso8601(in->datetime, when);
	sat_strbuf_printf(&b, "  <Item name=\"ACQUISITIONDATETIME\" "
		  "domain=\"IMAGERY\">%s</Item>\n", when);
	if (p->ninputs == 1 && in->has_cloud)
		sat_strbuf_printf(&b, "  <Item name=\"CLOUDCOVER\" domain=\"IMAGERY\">"
			  "%s</Item>\n", rd_num(in->cloud_cover, num));
	rd_item(&b, "satfs_version", SATFS_VERSION);
	sat_strbuf_printf(&b, "  <Item name=\"satfs_renderer\">%d</Item>\n",
		  SAT_RENDER_VERSION);
	for (int i = 0; !visual && i < p->nout; i++) {
		const char *desc = pr->expression ? pr->expression
						  : p->band_names[i];
		bool refl = pr->type == SAT_PRODUCT_REFLECTANCE;

		sat_strbuf_printf(&b, "  <Item name=\"DESCRIPTION\" sample=\"%d\" "
			  "role=\"description\">", i);
		rd_escape(&b, desc);
		sat_strbuf_printf(&b, "</Item>\n");
		/* raw DNs: reflectance = DN * scale + offset (GDAL's unit
		 * scaling); reflectance files hold that already */
		sat_strbuf_printf(&b, "  <Item name=\"SCALE\" sample=\"%d\" "
			  "role=\"scale\">%s</Item>\n", i,
			  rd_num(refl ? 1 : in->dn_scale[i], num));
		sat_strbuf_printf(&b, "  <Item name=\"OFFSET\" sample=\"%d\" "
			  "role=\"offset\">%s</Item>\n", i,
			  rd_num(refl ? 0 : in->dn_offset[i], num));
	}
	sat_strbuf_printf(&b, "</GDALMetadata>");
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	return b.s;
}

/* Writes the region cloud covers (percent, NaN unknown) into a copy of
 * plan's metadata at its fixed place. malloc'd, or NULL. */
char *sat_render_metadata_with_clouds(const struct sat_render_plan *p,
				      const double *pct)
{
	size_t len = strlen(p->metadata), off = 0;
	char *m = strdup(p->metadata), field[512];

	if (!m || p->cloud_width >= sizeof(field))
		goto fail;
	for (size_t k = 0; k < p->ninputs; k++)
		off += (size_t)snprintf(field + off, sizeof(field) - off,
					isnan(pct[k]) ? "%sn/a" : "%s%.1f",
					k ? "," : "", pct[k]);
	off += (size_t)snprintf(field + off, sizeof(field) - off, "</Item>");
	if (off > p->cloud_width || p->cloud_at + p->cloud_width > len)
		goto fail;
	memset(field + off, ' ', p->cloud_width - off);
	memcpy(m + p->cloud_at, field, p->cloud_width);
	return m;
fail:
	free(m);
	return NULL;
}

static void rd_hash_product(struct sat_hash *h, const struct sat_product *pr)
{
	sat_hash_add_str(h, pr->name);
	sat_hash_add_double(h, pr->nbands);
	for (int i = 0; i < pr->nbands; i++)
		sat_hash_add_str(h, pr->bands[i]);
	for (int i = 0; i < SAT_PRODUCT_MAX_BANDS; i++) {
		sat_hash_add_double(h, pr->min[i]);
		sat_hash_add_double(h, pr->max[i]);
	}
	sat_hash_add_double(h, pr->gamma);
	sat_hash_add_double(h, pr->scale_m);
	sat_hash_add_double(h, pr->outline);
	sat_hash_add(h, pr->outline_rgb, sizeof(pr->outline_rgb));
	sat_hash_add_double(h, pr->outline_width_px);
	sat_hash_add_double(h, pr->clip);
	sat_hash_add_double(h, pr->type);
	sat_hash_add_str(h, pr->expression ? pr->expression : "");
	sat_hash_add_str(h, pr->palette ? pr->palette : "");
	sat_hash_add_double(h, pr->mask);
}

static void rd_hash_region(struct sat_hash *h, const struct sat_region *r)
{
	sat_hash_add_str(h, r->name);
	sat_hash_add_double(h, (double)r->nring);
	for (size_t i = 0; i < 2 * r->nring; i++)
		sat_hash_add_double(h, r->ring[i]);
}

static void rd_key(struct sat_render_plan *p,
		   const struct sat_scene *const *scenes, size_t n,
		   const struct sat_region *region,
		   enum sat_offset_mode offset_mode)
{
	struct sat_hash h;

	sat_hash_init(&h);
	sat_hash_add_str(&h, "satfs-render");
	sat_hash_add_double(&h, SAT_RENDER_VERSION);
	sat_hash_add_double(&h, p->format);
	/* The metadata names the satfs version: a new version may write
	 * other bytes, so it must not reuse an old file. */
	sat_hash_add_str(&h, SATFS_VERSION);
	sat_hash_add_double(&h, (double)n);
	for (size_t k = 0; k < n; k++) {
		sat_hash_add_str(&h, scenes[k]->id);
		if (scenes[k]->json)
			sat_hash_add(&h, scenes[k]->json, scenes[k]->json_len);
	}
	sat_hash_add_double(&h, (double)p->nbands);
	for (size_t k = 0; k < p->ninputs; k++)
		for (int i = 0; i < p->nbands; i++) {
			sat_hash_add_str(&h, p->inputs[k].hrefs[i]);
			sat_hash_add_double(&h, p->inputs[k].samples[i]);
		}
	rd_hash_product(&h, &p->product);
	rd_hash_region(&h, region);
	sat_hash_add_double(&h, (double)offset_mode);
	/* Everything in the file's layout, so equal keys mean equal bytes. */
	sat_hash_add_str(&h, p->metadata);
	sat_hash_final(&h, p->key);
}

/* The key of one scene's region cloud cover: the scene, the region and
 * the grid it is counted on. */
static void rd_cloud_key(struct sat_render_input *in,
			 const struct sat_scene *s,
			 const struct sat_region *region)
{
	struct sat_hash h;

	sat_hash_init(&h);
	sat_hash_add_str(&h, "satfs-region-cloud 1");
	sat_hash_add_str(&h, s->id);
	if (s->json)
		sat_hash_add(&h, s->json, s->json_len);
	rd_hash_region(&h, region);
	sat_hash_add_double(&h, in->epsg);
	sat_hash_add_double(&h, in->default_scale);
	sat_hash_final(&h, in->cloud_key);
}

static void rd_input_clear(struct sat_render_input *in)
{
	free(in->item_id);
	free(in->scl_href);
	for (int i = 0; i < SAT_RENDER_MAX_BANDS; i++)
		free(in->hrefs[i]);
}

void sat_render_plan_free(struct sat_render_plan *plan)
{
	if (!plan)
		return;
	sat_album_free(plan->album);
	free(plan->item_id);
	free(plan->product.name);
	free(plan->product.expression);
	free(plan->product.palette);
	for (int i = 0; i < SAT_PRODUCT_MAX_BANDS; i++)
		free(plan->product.bands[i]);
	for (int i = 0; i < SAT_RENDER_MAX_BANDS; i++)
		free(plan->band_names[i]);
	for (size_t k = 0; plan->inputs && k < plan->ninputs; k++)
		rd_input_clear(&plan->inputs[k]);
	free(plan->inputs);
	sat_expr_free(plan->expr);
	free(plan->palette);
	sat_geom_ring_put(plan->ring);
	free(plan->ring_lonlat);
	free(plan->metadata);
	free(plan);
}

struct sat_render_plan *sat_render_plan_ref(struct sat_render_plan *plan)
{
	__atomic_add_fetch(&plan->extra_refs, 1, __ATOMIC_RELAXED);
	return plan;
}

void sat_render_plan_unref(struct sat_render_plan *plan)
{
	unsigned n;

	if (!plan)
		return;
	n = __atomic_load_n(&plan->extra_refs, __ATOMIC_ACQUIRE);
	/* the last reference is the one with no extra ones beside it */
	while (n > 0)
		if (__atomic_compare_exchange_n(&plan->extra_refs, &n, n - 1,
						false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			return;
	sat_render_plan_free(plan);
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
	bool visual = pr->type == SAT_PRODUCT_VISUAL;
	int nstretch = pr->expression ? 1 : pr->nbands;

	if (!pr->name)
		goto bad;
	if (pr->expression) {
		if (pr->type == SAT_PRODUCT_RAW)
			goto bad; /* an expression's value is no DN */
	} else if (pr->nbands < 1 || pr->nbands > SAT_PRODUCT_MAX_BANDS ||
		   (visual && pr->nbands != 1 && pr->nbands != 3)) {
		goto bad;
	}
	for (int i = 0; !pr->expression && i < pr->nbands; i++)
		if (!pr->bands[i])
			goto bad;
	for (int i = 0; visual && i < nstretch; i++)
		if (!isfinite(pr->min[i]) || !isfinite(pr->max[i]) ||
		    pr->min[i] == pr->max[i])
			goto bad;
	if (visual && !pr->expression &&
	    !(isfinite(pr->gamma) && pr->gamma > 0))
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
	dst->expression = src->expression ? strdup(src->expression) : NULL;
	dst->palette = src->palette ? strdup(src->palette) : NULL;
	for (int i = 0; i < SAT_PRODUCT_MAX_BANDS; i++)
		dst->bands[i] = i < src->nbands ? strdup(src->bands[i]) : NULL;
	if (!dst->name || (src->expression && !dst->expression) ||
	    (src->palette && !dst->palette))
		return -ENOMEM;
	for (int i = 0; i < src->nbands; i++)
		if (!dst->bands[i])
			return -ENOMEM;
	return 0;
}

/* The asset a product band names, and the band within it: "visual:2" is
 * band 2 (GDAL's numbering, from 1) of the asset "visual". */
static const struct sat_asset *rd_find_band(const struct sat_scene *s,
					    const char *name,
					    uint16_t *sample)
{
	const char *colon = strrchr(name, ':');
	char base[128];
	char *end;
	long n;

	*sample = 0;
	if (!colon)
		return sat_scene_find_band(s, name);
	n = strtol(colon + 1, &end, 10);
	if (end == colon + 1 || *end || n < 1 || n > 65535 ||
	    (size_t)(colon - name) >= sizeof(base))
		return sat_scene_find_band(s, name);
	memcpy(base, name, (size_t)(colon - name));
	base[colon - name] = '\0';
	*sample = (uint16_t)(n - 1);
	return sat_scene_find_band(s, base);
}

/* The band names a product reads, into p. 0 or -errno (logged). */
static int rd_bands(struct sat_render_plan *p, const char *id)
{
	const struct sat_product *pr = &p->product;
	char err[200];
	int n = 0, ret;

	if (pr->expression) {
		ret = sat_expr_parse(&p->expr, pr->expression, err,
				     sizeof(err));
		if (ret) {
			if (ret == -EINVAL)
				sat_warn("render: %s: product %s: expression: %s",
					 id, pr->name, err);
			return ret;
		}
		for (size_t i = 0; i < sat_expr_nbands(p->expr); i++)
			if (!(p->band_names[n++] =
				      strdup(sat_expr_band(p->expr, i))))
				return -ENOMEM;
		p->nout = 1;
	} else {
		for (int i = 0; i < pr->nbands; i++)
			if (!(p->band_names[n++] = strdup(pr->bands[i])))
				return -ENOMEM;
		p->nout = pr->nbands;
	}
	p->scl = -1;
	if (pr->mask) {
		p->scl = n;
		if (!(p->band_names[n++] = strdup("SCL")))
			return -ENOMEM;
	}
	p->nbands = n;
	if (pr->type == SAT_PRODUCT_VISUAL && pr->expression) {
		p->palette = malloc(256 * sizeof(*p->palette));
		if (!p->palette)
			return -ENOMEM;
		ret = sat_palette_parse(pr->palette ? pr->palette : "greys",
					p->palette, err, sizeof(err));
		if (ret) {
			sat_warn("render: %s: product %s: palette: %s", id,
				 pr->name, err);
			return ret;
		}
	}
	return 0;
}

/* Input k from scene s: every band found, its scale/offset; the CRS and
 * finest resolution. -EINVAL (with a warning) when a band is missing. */
static int rd_input(struct sat_render_plan *p, struct sat_render_input *in,
		    const struct sat_scene *s, const struct sat_region *region,
		    enum sat_offset_mode offset_mode, int *data_type)
{
	const char *id = s->id ? s->id : "?";
	const struct sat_asset *scl;
	uint16_t sample;

	in->source = s->source;
	in->item_id = strdup(id);
	in->datetime = s->datetime;
	in->has_cloud = s->has_cloud;
	in->cloud_cover = s->cloud_cover;
	in->epsg = s->epsg;
	if (!in->item_id)
		return -ENOMEM;
	for (int i = 0; i < p->nbands; i++) {
		const struct sat_asset *a = rd_find_band(s, p->band_names[i],
							 &sample);
		double gsd;

		if (!a || !a->href) {
			char have[400];

			/* the caller says it once for the product (tree) */
			sat_log_cause("%s has no band %s; it has %s", id,
				      p->band_names[i],
				      sat_scene_band_list(s, have,
							  sizeof(have)));
			return -EINVAL;
		}
		if (!(in->hrefs[i] = strdup(a->href)))
			return -ENOMEM;
		in->samples[i] = sample;
		rd_scale_offset(a, s->processing_baseline, offset_mode,
				&in->dn_scale[i], &in->dn_offset[i]);
		in->has_nodata[i] = a->has_nodata;
		in->nodata[i] = a->nodata;
		if (!in->epsg)
			in->epsg = a->epsg;
		gsd = a->gsd;
		if (i != p->scl && isfinite(gsd) && gsd > 0 &&
		    (in->default_scale <= 0 || gsd < in->default_scale))
			in->default_scale = gsd;
		if (i == 0)
			*data_type = a->data_type;
	}
	if (in->epsg <= 0) {
		sat_warn("render: %s: unknown CRS", id);
		return -EINVAL;
	}
	if (!(in->default_scale > 0)) {
		sat_warn("render: %s: unknown resolution of %s", id,
			 p->band_names[0]);
		return -EINVAL;
	}
	scl = sat_scene_find_band(s, "SCL");
	if (scl && scl->href && !(in->scl_href = strdup(scl->href)))
		return -ENOMEM;
	rd_cloud_key(in, s, region);
	return 0;
}

/* The output layout: picture, data values, or reflectance. */
static void rd_spec(struct sat_render_plan *p, int data_type)
{
	const struct sat_product *pr = &p->product;

	p->spec.grid = &p->grid;
	p->spec.gdal_metadata = p->metadata;
	switch (pr->type) {
	case SAT_PRODUCT_VISUAL:
		p->spec.samples = 4;
		p->spec.bits = 8;
		p->spec.alpha = true;
		p->spec.nodata = NULL;
		return;
	case SAT_PRODUCT_RAW:
		/* the catalog's data type; Sentinel-2 L2A's when unsaid */
		p->out_type = data_type >= 0 && data_type != SAT_SAMPLE_F64
				      ? (enum sat_sample_type)data_type
				      : data_type == SAT_SAMPLE_F64
						? SAT_SAMPLE_F64
						: SAT_SAMPLE_U16;
		p->spec.nodata = sat_sample_is_float(p->out_type) ? "nan"
								    : "0";
		break;
	case SAT_PRODUCT_REFLECTANCE:
		p->out_type = SAT_SAMPLE_F32;
		p->spec.nodata = "nan";
		break;
	}
	p->spec.samples = (uint16_t)p->nout;
	p->spec.bits = (uint16_t)(8 * sat_sample_size(p->out_type));
	p->spec.alpha = false;
	p->spec.sample_format =
		sat_sample_is_float(p->out_type) ? SAT_TIFFOUT_FLOAT
		: p->out_type == SAT_SAMPLE_I8 || p->out_type == SAT_SAMPLE_I16 ||
				p->out_type == SAT_SAMPLE_I32
			? SAT_TIFFOUT_INT
			: SAT_TIFFOUT_UINT;
	if (p->out_type == SAT_SAMPLE_I8) { /* TIFF readers want 8-bit uint */
		p->out_type = SAT_SAMPLE_I16;
		p->spec.bits = 16;
	}
}

/* What every plan needs once its inputs are set: the grid in epsg at the
 * product's scale (or px), the metadata, the layout, size and key. */
static int rd_finish(struct sat_render_plan *p,
		     const struct sat_scene *const *scenes, size_t n,
		     const struct sat_region *region,
		     enum sat_offset_mode offset_mode, int epsg, double px,
		     int data_type)
{
	const char *id = p->item_id;
	int ret;

	p->ring_lonlat = malloc(2 * region->nring * sizeof(double));
	if (!p->ring_lonlat)
		return -ENOMEM;
	memcpy(p->ring_lonlat, region->ring, 2 * region->nring *
	       sizeof(double));
	p->nring_lonlat = region->nring;
	ret = sat_geom_ring_get(epsg, region->ring, region->nring,
				&p->ring);
	if (ret == 0) {
		p->ring_xy = p->ring->xy;
		p->nring = p->ring->n;
		ret = sat_geom_grid_for_ring(p->ring_xy, p->nring, epsg, px,
					     &p->grid);
	}
	if (ret) {
		sat_warn("render: %s: region %s does not fit EPSG:%d at %g m "
			 "(%s)", id, region->name, epsg, px, strerror(-ret));
		return ret == -ENOMEM ? ret : -EINVAL;
	}
	p->metadata = rd_metadata(p, region);
	if (!p->metadata)
		return -ENOMEM;
	rd_spec(p, data_type);
	if (p->format == SAT_RENDER_PNG)
		ret = sat_png_size(p->grid.width, p->grid.height,
				   &p->size_bytes);
	else
		ret = sat_tiffout_layout(&p->spec, &p->size_bytes,
					 p->tiff_header, &p->ntiff_header);
	if (ret) {
		sat_warn("render: %s: cannot lay out the output (%s)", id,
			 strerror(-ret));
		return ret;
	}
	rd_key(p, scenes, n, region, offset_mode);
	return 0;
}

/* A plan with the product copied and its bands named. */
static int rd_plan_start(struct sat_render_plan **out, const char *id,
			 const struct sat_product *product, size_t ninputs,
			 enum sat_render_format format)
{
	struct sat_render_plan *p;
	int ret;

	*out = NULL;
	ret = rd_check_product(product, id);
	if (ret)
		return ret;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->format = format;
	p->item_id = strdup(id);
	p->inputs = calloc(ninputs, sizeof(*p->inputs));
	ret = !p->item_id || !p->inputs ? -ENOMEM
					: rd_copy_product(&p->product, product);
	if (!ret)
		ret = rd_bands(p, id);
	if (ret) {
		sat_render_plan_free(p);
		return ret;
	}
	*out = p;
	return 0;
}

static int rd_plan_scene(struct sat_render_plan **out,
			 const struct sat_scene *scene,
			 const struct sat_product *product,
			 const struct sat_region *region,
			 enum sat_offset_mode offset_mode,
			 enum sat_render_format format)
{
	struct sat_render_plan *p;
	int ret, data_type = -1;
	double px;

	*out = NULL;
	if (!scene || !product || !region || !region->ring ||
	    region->nring < 3)
		return -EINVAL;
	ret = rd_plan_start(&p, scene->id ? scene->id : "?", product, 1,
			    format);
	if (ret)
		return ret;
	p->ninputs = 1;
	ret = rd_input(p, &p->inputs[0], scene, region, offset_mode,
		       &data_type);
	px = product->scale_m > 0 ? product->scale_m
				  : p->inputs[0].default_scale;
	if (!ret)
		ret = rd_finish(p, &scene, 1, region, offset_mode,
				p->inputs[0].epsg, px, data_type);
	if (ret) {
		sat_render_plan_free(p);
		return ret;
	}
	*out = p;
	return 0;
}

int sat_render_plan_new(struct sat_render_plan **out,
			const struct sat_scene *scene,
			const struct sat_product *product,
			const struct sat_region *region,
			enum sat_offset_mode offset_mode)
{
	return rd_plan_scene(out, scene, product, region, offset_mode,
			     SAT_RENDER_TIFF);
}

static int rd_plan_mosaic(struct sat_render_plan **out, const char *name,
			  const struct sat_scene *const *scenes, size_t n,
			  const struct sat_product *product,
			  const struct sat_region *region,
			  enum sat_offset_mode offset_mode,
			  enum sat_render_format format)
{
	const struct sat_scene **used = calloc(n + 1, sizeof(*used));
	struct sat_render_plan *p = NULL;
	int ret, data_type = -1, dt, epsg = 0, best = 0;
	size_t k = 0;
	double px = 0;

	*out = NULL;
	if (!used)
		return -ENOMEM;
	if (!region || !region->ring || region->nring < 3 || n < 2) {
		ret = -EINVAL;
		goto out;
	}
	ret = rd_plan_start(&p, name, product, n, format);
	if (ret)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct sat_render_input *in = &p->inputs[k];

		ret = rd_input(p, in, scenes[i], region, offset_mode, &dt);
		if (ret == -ENOMEM)
			goto out;
		if (ret) { /* warned: this scene is left out */
			rd_input_clear(in);
			memset(in, 0, sizeof(*in));
			continue;
		}
		if (k == 0)
			data_type = dt;
		if (px <= 0 || in->default_scale < px)
			px = in->default_scale;
		used[k++] = scenes[i];
	}
	p->ninputs = k;
	if (k < 2) {
		ret = -EINVAL;
		goto out;
	}
	/* the CRS most scenes have; the smaller code on a tie */
	for (size_t i = 0; i < k; i++) {
		int count = 0;

		for (size_t j = 0; j < k; j++)
			count += p->inputs[j].epsg == p->inputs[i].epsg;
		if (count > best ||
		    (count == best && p->inputs[i].epsg < epsg)) {
			best = count;
			epsg = p->inputs[i].epsg;
		}
	}
	if (product->scale_m > 0)
		px = product->scale_m;
	ret = rd_finish(p, used, k, region, offset_mode, epsg, px, data_type);
out:
	free(used);
	if (ret) {
		sat_render_plan_free(p);
		return ret;
	}
	*out = p;
	return 0;
}

int sat_render_plan_new_mosaic(struct sat_render_plan **out,
			       const char *name,
			       const struct sat_scene *const *scenes, size_t n,
			       const struct sat_product *product,
			       const struct sat_region *region,
			       enum sat_offset_mode offset_mode)
{
	return rd_plan_mosaic(out, name, scenes, n, product, region,
			      offset_mode, SAT_RENDER_TIFF);
}

/* Rule 9: the picture at f times the pixel size, the smallest whole f
 * that brings its long side to max_px or less. The grid is rule 2's at
 * that scale (so the extent may grow by up to f - 1 fine pixels, and the
 * outline keeps its width in the quicklook's pixels). */
int sat_render_plan_new_quicklook(struct sat_render_plan **out,
				  const struct sat_render_plan *full,
				  const struct sat_scene *const *scenes,
				  size_t n, const struct sat_product *product,
				  const struct sat_region *region,
				  enum sat_offset_mode offset_mode,
				  uint32_t max_px)
{
	uint32_t side = full->grid.width > full->grid.height
				? full->grid.width
				: full->grid.height;
	struct sat_product pr = *product;
	struct sat_render_plan *p = NULL;
	uint32_t f;
	int ret = -EINVAL;

	*out = NULL;
	if (product->type != SAT_PRODUCT_VISUAL || max_px < 1 || n < 1 ||
	    full->format != SAT_RENDER_TIFF)
		return -EINVAL;
	f = (side + max_px - 1) / max_px;
	if (f < 1)
		f = 1;
	/* alignment to the coarser pixels may add one: a few tries */
	for (int tries = 0; tries < 4; tries++, f++) {
		pr.scale_m = full->grid.pixel_size * f;
		ret = n == 1 ? rd_plan_scene(&p, scenes[0], &pr, region,
					     offset_mode, SAT_RENDER_PNG)
			     : rd_plan_mosaic(&p, full->item_id, scenes, n, &pr,
					      region, offset_mode,
					      SAT_RENDER_PNG);
		if (ret)
			return ret;
		if (p->grid.width <= max_px && p->grid.height <= max_px) {
			*out = p;
			return 0;
		}
		sat_render_plan_free(p);
		p = NULL;
	}
	return -EINVAL;
}
