/*
 * album: see include/satfs/album.h. This file makes the plans of the
 * time-lapses and pages, and writes the pages; fs/album_gif.c writes the
 * time-lapses.
 *
 * The page is one HTML5 document without scripts: a table per date (its
 * scenes, and its mosaic, with the catalog's and the region's cloud cover
 * and links to the .json and every .tif), the quicklooks (loading="lazy",
 * so that a browser asks only for those in view, each a link to its .tif)
 * and links to the time-lapses. Every link is relative, so the page works
 * from file:// on the mount (or on a copy of the region). The region
 * cloud covers sit in cells of fixed width: the page is written once with
 * them unknown when it is planned (its size), and again with them when it
 * is rendered; both have the same length.
 *
 * Threading: no shared state.
 */
#include "satfs/album.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "satfs/cache.h"
#include "satfs/log.h"
#include "satfs/strbuf.h"
#include "satfs/regioncloud.h"
#include "satfs/render.h"

#ifndef SATFS_VERSION
#define SATFS_VERSION "unknown"
#endif

struct sat_album *sat_album_new(const char *region)
{
	struct sat_album *a = calloc(1, sizeof(*a));

	if (a && !(a->region = strdup(region))) {
		free(a);
		return NULL;
	}
	return a;
}

void sat_album_free(struct sat_album *a)
{
	if (!a)
		return;
	for (size_t i = 0; a->frames && i < a->nframes; i++)
		sat_render_plan_unref(a->frames[i].quicklook);
	for (size_t i = 0; a->scenes && i < a->nscenes; i++) {
		free(a->scenes[i].file_id);
		free(a->scenes[i].files);
		sat_render_plan_unref(a->scenes[i].cloud_plan);
	}
	for (size_t i = 0; a->dates && i < a->ndates; i++)
		free(a->dates[i].mosaic);
	for (size_t i = 0; a->products && i < a->nproducts; i++)
		free(a->products[i]);
	free(a->frames);
	free(a->scenes);
	free(a->dates);
	free(a->products);
	free(a->timelapse);
	free(a->region);
	free(a);
}

/* A plan with no inputs: the file is made of others. */
static int album_plan(struct sat_render_plan **out, struct sat_album *a,
		      enum sat_render_format format, const char *item,
		      const char *product)
{
	struct sat_render_plan *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p) {
		sat_album_free(a);
		return -ENOMEM;
	}
	p->format = format;
	p->album = a;
	p->scl = -1;
	p->item_id = strdup(item);
	p->product.name = strdup(product);
	if (!p->item_id || !p->product.name) {
		sat_render_plan_free(p);
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

int sat_album_plan_timelapse(struct sat_render_plan **out,
			     struct sat_album *a, const char *product)
{
	struct sat_render_plan *p;
	struct sat_hash h;
	uint32_t w, hgt;
	int ret;

	*out = NULL;
	if (!a->nframes) {
		sat_album_free(a);
		return -EINVAL;
	}
	ret = album_plan(&p, a, SAT_RENDER_GIF, "timelapse", product);
	if (ret)
		return ret;
	ret = sat_album_gif_size(a, &w, &hgt, &p->size_bytes);
	if (ret) {
		sat_warn("render: %s: timelapse.%s: %s", a->region, product,
			 strerror(-ret));
		sat_render_plan_free(p);
		return ret;
	}
	/* the frames' keys decide their pixels: with the dates and the
	 * delay, everything in the file */
	sat_hash_init(&h);
	sat_hash_add_str(&h, "satfs-timelapse 1");
	sat_hash_add_double(&h, SAT_RENDER_VERSION);
	sat_hash_add_str(&h, SATFS_VERSION);
	sat_hash_add_double(&h, a->delay_cs);
	sat_hash_add_double(&h, (double)a->nframes);
	for (size_t i = 0; i < a->nframes; i++) {
		sat_hash_add_str(&h, a->frames[i].date);
		sat_hash_add_str(&h, a->frames[i].quicklook->key);
	}
	sat_hash_final(&h, p->key);
	*out = p;
	return 0;
}

/* ---- the page ---- */



/* Text, escaped for HTML (also inside attribute values). */
static void put_text(struct sat_strbuf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': sat_strbuf_printf(b, "&amp;"); break;
		case '<': sat_strbuf_printf(b, "&lt;"); break;
		case '>': sat_strbuf_printf(b, "&gt;"); break;
		case '"': sat_strbuf_printf(b, "&quot;"); break;
		case '\'': sat_strbuf_printf(b, "&#39;"); break;
		default: sat_strbuf_printf(b, "%c", *s);
		}
	}
}

/* One path segment of a relative URL: what is not unreserved is
 * percent-encoded (ids may hold '#', '?', '%', spaces). */
static void put_seg(struct sat_strbuf *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '.' ||
		    c == '_' || c == '~')
			sat_strbuf_printf(b, "%c", c);
		else
			sat_strbuf_printf(b, "%%%02X", c);
	}
}

/* DATE/STEM.PRODUCT.EXT as a URL */
static void put_url(struct sat_strbuf *b, const char *date, const char *stem,
		    const char *product, const char *ext)
{
	put_seg(b, date);
	sat_strbuf_printf(b, "/");
	put_seg(b, stem);
	if (product) {
		sat_strbuf_printf(b, ".");
		put_seg(b, product);
	}
	sat_strbuf_printf(b, ".%s", ext);
}

/* The region cloud cover's cell: always 7 characters. */
#define PAGE_CLOUD_WIDTH 7

static void put_cloud(struct sat_strbuf *b, double pct)
{
	char cell[32];

	if (isnan(pct))
		snprintf(cell, sizeof(cell), "%*s", PAGE_CLOUD_WIDTH, "n/a");
	else
		snprintf(cell, sizeof(cell), "%5.1f %%",
			 pct < 0 ? 0 : pct > 100 ? 100 : pct);
	sat_strbuf_printf(b, "%-*.*s", PAGE_CLOUD_WIDTH, PAGE_CLOUD_WIDTH, cell);
}

static const char page_style[] =
	"body{font-family:sans-serif;margin:1em 2em;color:#222}"
	"table{border-collapse:collapse;margin:.5em 0}"
	"td,th{border:1px solid #ccc;padding:2px 8px;text-align:left;"
	"white-space:pre}"
	"figure{display:inline-block;margin:4px;text-align:center}"
	"figure img{max-width:256px;max-height:256px;"
	"background:repeating-conic-gradient(#ddd 0 25%,#fff 0 50%) "
	"0 0/16px 16px}"
	"figcaption{font-size:small}";

/* A row of the table: a scene or a mosaic, with its files. */
static void page_row(struct sat_strbuf *b, const struct sat_album *a,
		     const char *date, const char *stem, const char *catalog,
		     double region_pct, const uint8_t *files, bool json)
{
	sat_strbuf_printf(b, "<tr><td>");
	put_text(b, stem);
	sat_strbuf_printf(b, "</td><td>%s</td><td>", catalog);
	put_cloud(b, region_pct);
	sat_strbuf_printf(b, "</td><td>");
	if (json) {
		sat_strbuf_printf(b, "<a href=\"");
		put_url(b, date, stem, NULL, "json");
		sat_strbuf_printf(b, "\">json</a> ");
	}
	for (size_t j = 0; j < a->nproducts; j++) {
		if (!(files[j] & SAT_ALBUM_TIF))
			continue;
		sat_strbuf_printf(b, "<a href=\"");
		put_url(b, date, stem, a->products[j], "tif");
		sat_strbuf_printf(b, "\">");
		put_text(b, a->products[j]);
		sat_strbuf_printf(b, ".tif</a> ");
	}
	sat_strbuf_printf(b, "</td></tr>\n");
}

/* The quicklooks of a scene or mosaic, each a link to its GeoTIFF. */
static void page_quicklooks(struct sat_strbuf *b, const struct sat_album *a,
			    const char *date, const char *stem,
			    const uint8_t *files)
{
	for (size_t j = 0; j < a->nproducts; j++) {
		if (!(files[j] & SAT_ALBUM_PNG))
			continue;
		sat_strbuf_printf(b, "<figure><a href=\"");
		put_url(b, date, stem, a->products[j], "tif");
		sat_strbuf_printf(b, "\"><img src=\"");
		put_url(b, date, stem, a->products[j], "png");
		sat_strbuf_printf(b, "\" loading=\"lazy\" alt=\"");
		put_text(b, stem);
		sat_strbuf_printf(b, " ");
		put_text(b, a->products[j]);
		sat_strbuf_printf(b, "\"></a><figcaption>");
		put_text(b, stem);
		sat_strbuf_printf(b, "<br>");
		put_text(b, a->products[j]);
		sat_strbuf_printf(b, "</figcaption></figure>\n");
	}
}

/* The page, with the region cloud covers pct[] (per scene; NaN: not
 * known). malloc'd, its length in *len; NULL when out of memory. */
static char *page_make(const struct sat_album *a, const double *pct,
		       size_t *len)
{
	struct sat_strbuf b = { 0 };
	size_t ngif = 0;

	sat_strbuf_printf(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
		"<meta charset=\"utf-8\">\n<title>");
	put_text(&b, a->region);
	sat_strbuf_printf(&b, " - satfs</title>\n<style>%s</style>\n</head>\n<body>\n"
		"<h1>", page_style);
	put_text(&b, a->region);
	sat_strbuf_printf(&b, "</h1>\n<p>%zu dates, %zu scenes.", a->ndates, a->nscenes);
	for (size_t j = 0; j < a->nproducts; j++) {
		if (!a->timelapse[j])
			continue;
		sat_strbuf_printf(&b, "%s <a href=\"timelapse.", ngif++ ? "," : " Time-lapses:");
		put_seg(&b, a->products[j]);
		sat_strbuf_printf(&b, ".gif\">");
		put_text(&b, a->products[j]);
		sat_strbuf_printf(&b, "</a>");
	}
	sat_strbuf_printf(&b, "</p>\n");
	for (size_t d = 0; d < a->ndates; d++) {
		const struct sat_album_date *dt = &a->dates[d];

		sat_strbuf_printf(&b, "<section id=\"d");
		put_text(&b, dt->date);
		sat_strbuf_printf(&b, "\">\n<h2>");
		put_text(&b, dt->date);
		sat_strbuf_printf(&b, "</h2>\n<table>\n<tr><th>scene</th><th>catalog cloud"
			"</th><th>region cloud</th><th>files</th></tr>\n");
		for (size_t i = dt->first; i < dt->first + dt->n; i++) {
			const struct sat_album_scene *s = &a->scenes[i];
			char cc[32] = "n/a";

			if (s->has_cloud)
				snprintf(cc, sizeof(cc), "%.1f %%",
					 s->cloud_cover);
			page_row(&b, a, dt->date, s->file_id, cc, pct[i],
				 s->files, true);
		}
		for (size_t j = 0; j < a->nproducts; j++)
			if (dt->mosaic[j]) {
				page_row(&b, a, dt->date, "mosaic", "", NAN,
					 dt->mosaic, false);
				break;
			}
		sat_strbuf_printf(&b, "</table>\n");
		for (size_t i = dt->first; i < dt->first + dt->n; i++)
			page_quicklooks(&b, a, dt->date, a->scenes[i].file_id,
					a->scenes[i].files);
		page_quicklooks(&b, a, dt->date, "mosaic", dt->mosaic);
		sat_strbuf_printf(&b, "</section>\n");
	}
	sat_strbuf_printf(&b, "<p><small>satfs %s</small></p>\n</body>\n</html>\n",
	    SATFS_VERSION);
	if (b.oom) {
		free(b.s);
		return NULL;
	}
	*len = b.len;
	return b.s;
}

int sat_album_plan_index(struct sat_render_plan **out, struct sat_album *a)
{
	struct sat_render_plan *p;
	double *pct = calloc(a->nscenes + 1, sizeof(*pct));
	struct sat_hash h;
	size_t len = 0;
	char *page = NULL;
	int ret;

	*out = NULL;
	if (!pct) {
		sat_album_free(a);
		return -ENOMEM;
	}
	ret = album_plan(&p, a, SAT_RENDER_HTML, "index", "html");
	if (ret) {
		free(pct);
		return ret;
	}
	for (size_t i = 0; i < a->nscenes; i++)
		pct[i] = NAN;
	page = page_make(a, pct, &len);
	free(pct);
	if (!page) {
		sat_render_plan_free(p);
		return -ENOMEM;
	}
	p->size_bytes = len;
	/* the text, and what the region cloud covers are counted from */
	sat_hash_init(&h);
	sat_hash_add_str(&h, "satfs-index 1");
	sat_hash_add(&h, page, len);
	for (size_t i = 0; i < a->nscenes; i++) {
		const struct sat_render_plan *c = a->scenes[i].cloud_plan;

		sat_hash_add_str(&h, c && c->ninputs ? c->inputs[0].cloud_key
						     : "");
	}
	sat_hash_final(&h, p->key);
	free(page);
	*out = p;
	return 0;
}

static int write_all(int fd, const char *s, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, s, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

static int page_run(const struct sat_render_plan *plan,
		    const struct sat_render_ctx *ctx, int fd)
{
	const struct sat_album *a = plan->album;
	struct sat_render_plan **plans = calloc(a->nscenes + 1,
						sizeof(*plans));
	double *pct = calloc(a->nscenes + 1, sizeof(*pct));
	size_t len = 0;
	char *page = NULL;
	int ret;

	if (!plans || !pct) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < a->nscenes; i++) {
		plans[i] = a->scenes[i].cloud_plan;
		pct[i] = NAN;
	}
	if (ctx->clouds)
		sat_regioncloud_get_all(ctx->clouds, plans, a->nscenes, 8,
					pct);
	page = page_make(a, pct, &len);
	if (!page) {
		ret = -ENOMEM;
		goto out;
	}
	ret = write_all(fd, page, len);
	if (ret)
		sat_log_cause("writing the page failed: %s", strerror(-ret));
out:
	free(page);
	free(plans);
	free(pct);
	return ret;
}

int sat_album_run(const struct sat_render_plan *plan,
		  const struct sat_render_ctx *ctx, int fd)
{
	if (!plan->album)
		return -EINVAL;
	if (plan->format == SAT_RENDER_HTML)
		return page_run(plan, ctx, fd);
	return sat_album_gif_run(plan, ctx, fd);
}
