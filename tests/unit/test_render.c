/*
 * Tests of render (docs/ARCHITECTURE.md "Rendering rules") against the real
 * Sentinel-2 scene in tests/data, served over HTTP by the server in
 * render_fixture.h, with GDAL's command-line tools as the independent judge
 * of the pixels and of the GeoTIFF.
 */
#include "render_fixture.h"

static uint8_t expect_byte(uint16_t dn, double max, double gamma)
{
	double t = dn / max; /* scale 0.0001, offset 0, min 0 */

	t = t < 0 ? 0 : t > 1 ? 1 : t;
	return (uint8_t)round(255 * pow(t, 1 / gamma));
}

/* Where a pixel centre lies relative to the lon/lat bbox of the region,
 * judged with PROJ alone (not with the mask code under test): 1 inside
 * with a margin of m pixels all round, 0 outside with that margin, 2
 * within 0.9 pixel of the boundary, -1 undecided. */
static int classify(const struct sat_grid *g, const double *bbox, uint32_t c,
		    uint32_t r, double m)
{
	static const int dx[8] = { 1, -1, 0, 0, 1, 1, -1, -1 };
	static const int dy[8] = { 0, 0, 1, -1, 1, -1, 1, -1 };
	double pt[2 * 13];
	int in[13], n = 0, nin = 0;
	double x = g->origin_x + (c + 0.5) * g->pixel_size;
	double y = g->origin_y - (r + 0.5) * g->pixel_size;

	pt[n * 2] = x, pt[n * 2 + 1] = y, n++;
	for (int k = 0; k < 8; k++, n++) {
		pt[n * 2] = x + dx[k] * m * g->pixel_size;
		pt[n * 2 + 1] = y + dy[k] * m * g->pixel_size;
	}
	for (int k = 0; k < 4; k++, n++) {
		pt[n * 2] = x + dx[k] * 0.9 * g->pixel_size;
		pt[n * 2 + 1] = y + dy[k] * 0.9 * g->pixel_size;
	}
	CHECK_INT(sat_geom_transform(g->epsg, 4326, pt, (size_t)n), 0);
	for (int k = 0; k < n; k++)
		in[k] = pt[2 * k] > bbox[0] && pt[2 * k] < bbox[2] &&
			pt[2 * k + 1] > bbox[1] && pt[2 * k + 1] < bbox[3];
	for (int k = 0; k < 9; k++)
		nin += in[k];
	if (nin == 9)
		return 1;
	if (nin == 0)
		return 0;
	for (int k = 9; k < 13; k++)
		if (in[k] != in[0])
			return 2;
	return -1;
}

/* Checks a visual (RGBA) render against gdalwarp of its source bands:
 * interior pixels equal the formula within 1, pixels on the boundary are
 * outline blue, pixels outside transparent. */
static void check_visual(struct fx *f, const struct sat_render_plan *p,
			 const char *tif, const char *const *src,
			 const char *ovr)
{
	const struct sat_grid *g = &p->grid;
	size_t npix = (size_t)g->width * g->height;
	int nb = p->nbands, counts[3] = { 0 };
	uint16_t *dn[3];
	uint8_t *out;

	free(gdal_info(tif, g));
	out = gdal_read(tif, 4 * npix);
	for (int b = 0; b < nb; b++)
		dn[b] = gdal_warp(src[b], g, ovr);
	for (uint32_t r = 0; r < g->height; r++) {
		for (uint32_t c = 0; c < g->width; c++) {
			size_t i = (size_t)r * g->width + c;
			int k = p->product.clip ? classify(g, f->region->bbox,
							   c, r, 1.5)
						: 1;
			uint8_t a = out[3 * npix + i];

			if (k == 2 && p->product.outline) {
				CHECK_INT(out[i], p->product.outline_rgb[0]);
				CHECK_INT(out[npix + i],
					  p->product.outline_rgb[1]);
				CHECK_INT(out[2 * npix + i],
					  p->product.outline_rgb[2]);
				CHECK_INT(a, 255);
				counts[2]++;
			} else if (k == 0) {
				CHECK_INT(a, 0);
				counts[0]++;
			} else if (k == 1) {
				CHECK_INT(a, 255);
				for (int s = 0; s < 3; s++) {
					int b = nb == 1 ? 0 : s;
					int e = expect_byte(dn[b][i],
							    p->product.max[b],
							    p->product.gamma);

					CHECK(abs(out[s * npix + i] - e) <= 1);
				}
				counts[1]++;
			}
		}
	}
	fprintf(stderr, "%ux%u px: %d inside checked, %d outside, %d "
		"outline\n", g->width, g->height, counts[1], counts[0],
		counts[2]);
	CHECK(counts[1] > (int)npix / 3);
	if (p->product.clip && p->product.outline)
		CHECK(counts[2] > (int)(g->width + g->height));
	for (int b = 0; b < nb; b++)
		free(dn[b]);
	free(out);
}

/* ---- plans ---- */

SAT_TEST(plan_grid)
{
	struct sat_render_plan *p;
	struct fx f;

	fx_start(&f, NULL);
	CHECK_INT(sat_render_plan_new(&p, f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	CHECK_INT(p->grid.epsg, 32629);
	CHECK_NEAR(p->grid.pixel_size, 100, 0);
	CHECK_NEAR(fmod(p->grid.origin_x, 100), 0, 1e-9);
	CHECK_NEAR(fmod(p->grid.origin_y, 100), 0, 1e-9);
	for (size_t i = 0; i < p->nring; i++) {
		double x = p->ring_xy[2 * i], y = p->ring_xy[2 * i + 1];

		CHECK(x >= p->grid.origin_x);
		CHECK(x <= p->grid.origin_x + p->grid.width * 100.0);
		CHECK(y <= p->grid.origin_y);
		CHECK(y >= p->grid.origin_y - p->grid.height * 100.0);
	}
	/* Smallest: each side of the grid touches the ring within a pixel. */
	double minx = INFINITY, maxy = -INFINITY;
	for (size_t i = 0; i < p->nring; i++) {
		minx = fmin(minx, p->ring_xy[2 * i]);
		maxy = fmax(maxy, p->ring_xy[2 * i + 1]);
	}
	CHECK(minx - p->grid.origin_x < 100);
	CHECK(p->grid.origin_y - maxy < 100);
	CHECK(p->grid.width > 90 && p->grid.width < 120);
	CHECK_INT(p->spec.samples, 4);
	CHECK_INT(p->spec.bits, 8);
	CHECK(p->spec.alpha);
	CHECK(p->size_bytes > (uint64_t)p->grid.width * p->grid.height * 4);
	CHECK(strstr(p->metadata, "<Item name=\"satfs_offset_applied\">"
				  "0,0,0</Item>"));
	CHECK(strstr(p->metadata, "<Item name=\"satfs_bands\">B8,B4,B3<"));
	CHECK(strstr(p->metadata, "<Item name=\"satfs_gamma\">1.35<"));
	sat_render_plan_free(p);

	/* scale 0: the bands' resolution as the item states it (10 m). */
	f.prod.scale_m = 0;
	CHECK_INT(sat_render_plan_new(&p, f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	CHECK_NEAR(p->grid.pixel_size, 10, 0);
	sat_render_plan_free(p);

	/* raw: uint16, no alpha, nodata 0; offsets by mode. */
	fx_product(&f, "raw", "B4", "B3", "B2", 0, 0, 100);
	f.prod.type = SAT_PRODUCT_RAW;
	CHECK_INT(sat_render_plan_new(&p, f.scene, &f.prod, f.region,
				      SAT_OFFSET_MINUS1000), 0);
	CHECK_INT(p->spec.samples, 3);
	CHECK_INT(p->spec.bits, 16);
	CHECK(!p->spec.alpha);
	CHECK_STR(p->spec.nodata, "0");
	CHECK_NEAR(p->inputs[0].dn_offset[0], -0.1, 1e-15);
	CHECK(strstr(p->metadata, "<Item name=\"satfs_offset_applied\">"
				  "-1000,-1000,-1000</Item>"));
	sat_render_plan_free(p);

	/* A band the item does not have; an XML-hostile product name. */
	fx_product(&f, "a<b>&\"c'", "B8", "B99", "B3", 5000, 1, 100);
	CHECK_INT(sat_render_plan_new(&p, f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), -EINVAL);
	CHECK(p == NULL);
	f.prod.bands[1] = "red";
	CHECK_INT(sat_render_plan_new(&p, f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	CHECK(strstr(p->metadata, ">a&lt;b&gt;&amp;&quot;c&apos;</Item>"));
	sat_render_plan_free(p);
	fx_stop(&f);
}

static void key_of(struct fx *f, enum sat_offset_mode m, char *key)
{
	struct sat_render_plan *p;

	CHECK_INT(sat_render_plan_new(&p, f->scene, &f->prod, f->region, m),
		  0);
	strcpy(key, p->key);
	sat_render_plan_free(p);
}

SAT_TEST(plan_key)
{
	char base[SAT_HASH_HEX], k[SAT_HASH_HEX];
	struct fx f;
	int changed = 0;

	fx_start(&f, NULL);
	key_of(&f, SAT_OFFSET_AUTO, base);
	key_of(&f, SAT_OFFSET_AUTO, k);
	CHECK_STR(k, base); /* stable */
	CHECK_INT(strlen(base), 64);
	for (int v = 0; v < 16; v++) {
		fx_product(&f, "falsecolor", "B8", "B4", "B3", 5000, 1.35, 100);
		fx_region(&f, -11.50, 24.80, -11.40, 24.88);
		enum sat_offset_mode m = SAT_OFFSET_AUTO;
		switch (v) {
		case 0: f.prod.name = "falsecolor2"; break;
		case 1: f.prod.bands[0] = "nir08"; break;
		case 2: f.prod.min[1] = 1; break;
		case 3: f.prod.max[2] = 4999; break;
		case 4: f.prod.gamma = 1.3; break;
		case 5: f.prod.scale_m = 50; break;
		case 6: f.prod.outline = false; break;
		case 7: f.prod.outline_rgb[0] = 1; break;
		case 8: f.prod.outline_width_px = 3; break;
		case 9: f.prod.clip = false; break;
		case 10: f.prod.type = SAT_PRODUCT_RAW; break;
		case 11: fx_region(&f, -11.50, 24.80, -11.40, 24.881); break;
		case 12: m = SAT_OFFSET_ZERO; break;
		case 13: m = SAT_OFFSET_MINUS1000; break;
		case 14: free(f.region->name);
			 f.region->name = strdup("other"); break;
		case 15: fx_set_href(&f, "red", "B04b.tif"); break;
		}
		key_of(&f, m, k);
		if (strcmp(k, base) != 0)
			changed++;
		else
			fprintf(stderr, "variant %d kept the key\n", v);
	}
	/* ZERO gives the same offsets as AUTO for this item, but the mode
	 * is an input: it still changes the key. */
	CHECK_INT(changed, 16);
	fx_stop(&f);
}

/* ---- pixels against GDAL ---- */

SAT_TEST(falsecolor_native)
{
	const char *src[] = { "B08", "B04", "B03" };
	const char *tif = tmpfile_in("fc.tif");
	struct sat_render_plan *p;
	struct fx f;
	double t0;

	fx_start(&f, NULL);
	CHECK_INT(sat_render_plan_new(&p, f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	t0 = now_s();
	CHECK_INT(fx_render(&f, p, tif), 0);
	fprintf(stderr, "cold render %ux%u: %.3f s, %d requests\n",
		p->grid.width, p->grid.height, now_s() - t0, f.srv.nlog);
	CHECK_INT(file_size(tif), p->size_bytes);
	check_visual(&f, p, tif, src, "NONE");
	sat_render_plan_free(p);
	fx_stop(&f);
}

SAT_TEST(truecolor_noclip)
{
	const char *src[] = { "B04", "B03", "B02" };
	const char *tif = tmpfile_in("tc.tif");
	struct sat_render_plan *p;
	struct fx f;

	fx_start(&f, NULL);
	fx_product(&f, "truecolor", "red", "green", "blue", 3000, 1.0, 100);
	f.prod.clip = false;
	f.prod.outline = false;
	CHECK_INT(sat_render_plan_new(&p, f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	CHECK_INT(fx_render(&f, p, tif), 0);
	CHECK_INT(file_size(tif), p->size_bytes);
	check_visual(&f, p, tif, src, "NONE");
	sat_render_plan_free(p);
	fx_stop(&f);
}

SAT_TEST(single_band_grey)
{
	const char *src[] = { "B08" };
	const char *tif = tmpfile_in("nir.tif");
	struct sat_render_plan *p;
	struct fx f;

	fx_start(&f, NULL);
	fx_product(&f, "nir", "B8", NULL, NULL, 6000, 2.0, 100);
	CHECK_INT(sat_render_plan_new(&p, f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	CHECK_INT(fx_render(&f, p, tif), 0);
	check_visual(&f, p, tif, src, "NONE");
	sat_render_plan_free(p);
	fx_stop(&f);
}

/* The tutorial's 2 m on a small region: upsampling, 50x50 per source px. */
SAT_TEST(scale_2m)
{
	const char *src[] = { "B08", "B04", "B03" };
	const char *tif = tmpfile_in("fc2.tif");
	struct sat_render_plan *p;
	struct fx f;

	fx_start(&f, NULL);
	fx_region(&f, -11.462, 24.828, -11.455, 24.836);
	f.prod.scale_m = 2;
	CHECK_INT(sat_render_plan_new(&p, f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	CHECK_NEAR(p->grid.pixel_size, 2, 0);
	CHECK(p->grid.width > 300);
	CHECK_INT(fx_render(&f, p, tif), 0);
	CHECK_INT(file_size(tif), p->size_bytes);
	check_visual(&f, p, tif, src, "NONE");
	sat_render_plan_free(p);
	fx_stop(&f);
}

/* 200 m reads the 549x549 overview (level 1), and only it. */
SAT_TEST(scale_200m_overview)
{
	const char *src[] = { "B08", "B04", "B03" };
	const char *tif = tmpfile_in("fc200.tif");
	struct sat_render_plan *p;
	struct sat_cog *cog[4] = { 0 };
	uint64_t need;
	int tiles = 0;
	struct fx f;

	fx_start(&f, NULL);
	fx_region(&f, -11.7, 24.5, -11.2, 25.0);
	f.prod.scale_m = 200;
	CHECK_INT(sat_render_plan_new(&p, f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	CHECK_INT(fx_render(&f, p, tif), 0);
	/* GDAL reading its first overview explicitly. */
	check_visual(&f, p, tif, src, "0");
	/* Server files 1..3 are B03, B04, B08: every tile request lies
	 * within the byte span of the tiles of level 1 (549x549). */
	for (int i = 1; i <= 3; i++) {
		size_t len;
		char *d = satest_read_file(f.srv.files[i].local, &len);

		CHECK_INT(sat_cog_open(&cog[i], (uint8_t *)d, len, &need), 0);
		CHECK_INT(sat_cog_level(cog[i], 1)->width, 549);
		free(d);
	}
	for (int i = 0; i < f.srv.nlog; i++) {
		const struct srv_hit *h = &f.srv.log[i];
		const struct sat_cog_level *lv;
		uint64_t lo = UINT64_MAX, hi = 0, o, l;

		if (h->off == 0)
			continue;
		CHECK(h->file >= 1 && h->file <= 3);
		lv = sat_cog_level(cog[h->file], 1);
		for (uint32_t ty = 0; ty < lv->tiles_down; ty++)
			for (uint32_t tx = 0; tx < lv->tiles_across; tx++) {
				CHECK_INT(sat_cog_tile_range(cog[h->file], 1,
							     tx, ty, &o, &l),
					  0);
				lo = o < lo ? o : lo;
				hi = o + l > hi ? o + l : hi;
			}
		CHECK(h->off >= lo && h->off + h->len <= hi);
		tiles++;
	}
	CHECK(tiles >= 3);
	for (int i = 0; i < 4; i++)
		sat_cog_free(cog[i]);
	sat_render_plan_free(p);
	fx_stop(&f);
}

SAT_TEST(raw_exact)
{
	const char *src[] = { "B04", "B03", "B02" };
	const char *tif = tmpfile_in("raw.tif");
	struct sat_render_plan *p;
	uint16_t *out, *dn;
	size_t npix;
	char *info;
	struct fx f;
	int inside = 0, outside = 0;

	fx_start(&f, NULL);
	fx_product(&f, "raw", "B4", "B3", "B2", 0, 0, 100);
	f.prod.type = SAT_PRODUCT_RAW;
	CHECK_INT(sat_render_plan_new(&p, f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	CHECK_INT(fx_render(&f, p, tif), 0);
	CHECK_INT(file_size(tif), p->size_bytes);
	info = gdal_info(tif, &p->grid);
	CHECK(strstr(info, "Type=UInt16"));
	CHECK(strstr(info, "NoData Value=0"));
	CHECK(strstr(info, "Offset: 0,   Scale:0.0001"));
	CHECK(!strstr(info, "Band 4"));
	free(info);
	npix = (size_t)p->grid.width * p->grid.height;
	out = (uint16_t *)gdal_read(tif, 3 * npix * 2);
	for (int b = 0; b < 3; b++) {
		dn = gdal_warp(src[b], &p->grid, "NONE");
		for (uint32_t r = 0; r < p->grid.height; r++)
			for (uint32_t c = 0; c < p->grid.width; c++) {
				size_t i = (size_t)r * p->grid.width + c;
				int k = classify(&p->grid, f.region->bbox, c,
						 r, 0.01);

				if (k == 1) {
					CHECK_INT(out[b * npix + i], dn[i]);
					inside++;
				} else if (k == 0) {
					CHECK_INT(out[b * npix + i], 0);
					outside++;
				}
			}
		free(dn);
	}
	CHECK(inside > (int)npix * 3 / 2 && outside > 0);
	free(out);
	sat_render_plan_free(p);
	fx_stop(&f);
}

