/*
 * Rule 4's offset under `offset = auto` for items without raster:bands
 * (Planetary Computer's): processing baseline 04.00 or later means DNs
 * carry +1000, so the plan applies -1000 and records it; earlier baselines
 * get 0; raster:bands, when present, win. Plans from the recorded
 * Planetary Computer and Earth Search answers in tests/data/stac,
 * and from small items made here for the cases they lack.
 */
#include "satest.h"
#include "satfs/config.h"
#include "satfs/region.h"
#include "satfs/render.h"
#include "satfs/stac.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct sat_stac_request prev = {
	.method = "POST",
	.url = "https://planetarycomputer.microsoft.com/api/stac/v1/search",
	.body = "{}",
};

struct items {
	struct sat_scene **v;
	size_t n;
};

static void items_parse(struct items *it, const char *body, size_t len)
{
	struct sat_stac_request next = { 0 };
	size_t skipped = 0;
	bool has_next;

	memset(it, 0, sizeof(*it));
	CHECK_INT(sat_stac_parse_page(body, len, &prev, NULL, &it->v, &it->n,
				      &skipped, &next, &has_next), 0);
	sat_stac_request_clear(&next);
	CHECK(it->n > 0);
}

static void items_file(struct items *it, const char *rel)
{
	size_t len;
	char *body = satest_read_file(satest_data(rel), &len);

	items_parse(it, body, len);
	free(body);
}

static void items_free(struct items *it)
{
	for (size_t i = 0; i < it->n; i++)
		sat_scene_free(it->v[i]);
	free(it->v);
}

/* The plan's offset (10000 * offset, i.e. the DN offset) of falsecolor
 * over a small box in the middle of scene s, and its recorded text. */
static double plan_offset(const struct sat_scene *s, enum sat_offset_mode m,
			  char *applied, size_t len)
{
	struct sat_product prod = {
		.name = "falsecolor", .nbands = 3,
		.bands = { "B8", "B4", "B3" },
		.max = { 5000, 5000, 5000 }, .gamma = 1.35, .scale_m = 200,
		.clip = true,
	};
	double cx = (s->bbox[0] + s->bbox[2]) / 2;
	double cy = (s->bbox[1] + s->bbox[3]) / 2;
	double bbox[4] = { cx - 0.02, cy - 0.02, cx + 0.02, cy + 0.02 };
	struct sat_render_plan *p;
	struct sat_region *r;
	const char *at, *end;
	char msg[128];
	double off;

	CHECK_INT(sat_region_new_bbox(&r, "t", bbox, msg, sizeof(msg)), 0);
	CHECK_INT(sat_render_plan_new(&p, s, &prod, r, m), 0);
	for (int b = 1; b < 3; b++)
		CHECK_NEAR(p->inputs[0].dn_offset[b], p->inputs[0].dn_offset[0], 0);
	off = 10000 * p->inputs[0].dn_offset[0];
	at = strstr(p->metadata, "<Item name=\"satfs_offset_applied\">");
	CHECK(at != NULL);
	at += strlen("<Item name=\"satfs_offset_applied\">");
	end = strchr(at, '<');
	CHECK(end != NULL);
	snprintf(applied, len, "%.*s", (int)(end - at), at);
	sat_render_plan_free(p);
	sat_region_free(r);
	return off;
}

SAT_TEST(planetary_baseline_0400)
{
	char applied[64];
	struct items it;

	/* rustac's recorded Planetary Computer page: baseline 04.00, no
	 * raster:bands */
	items_file(&it, "stac/rustac_planetary_s2l2a_search_page1.json");
	CHECK_STR(it.v[0]->processing_baseline, "04.00");
	CHECK(!sat_scene_find_band(it.v[0], "B8")->has_scale);
	CHECK_NEAR(plan_offset(it.v[0], SAT_OFFSET_AUTO, applied,
			       sizeof(applied)), -1000, 1e-9);
	CHECK_STR(applied, "-1000,-1000,-1000");
	CHECK_NEAR(plan_offset(it.v[0], SAT_OFFSET_ZERO, applied,
			       sizeof(applied)), 0, 0);
	CHECK_STR(applied, "0,0,0");
	CHECK_NEAR(plan_offset(it.v[0], SAT_OFFSET_MINUS1000, applied,
			       sizeof(applied)), -1000, 1e-9);
	items_free(&it);
}

SAT_TEST(planetary_baseline_0212)
{
	char applied[64];
	struct items it;

	/* 33 recorded items of 2019, baseline 02.12: no offset */
	items_file(&it, "stac/planetary_v1_search_s2l2a_33items.json");
	CHECK_INT(it.n, 33);
	for (size_t i = 0; i < it.n; i++) {
		CHECK_STR(it.v[i]->processing_baseline, "02.12");
		CHECK_NEAR(plan_offset(it.v[i], SAT_OFFSET_AUTO, applied,
				       sizeof(applied)), 0, 0);
		CHECK_STR(applied, "0,0,0");
	}
	/* the override still applies */
	CHECK_NEAR(plan_offset(it.v[0], SAT_OFFSET_MINUS1000, applied,
			       sizeof(applied)), -1000, 1e-9);
	items_free(&it);
}

SAT_TEST(raster_bands_win)
{
	char applied[64];
	struct items it;

	/* Earth Search: baseline 05.09 and raster:bands offset -0.1 */
	items_file(&it,
		   "stac/earthsearch_v1_search_s2l2a_landsat_page1.json");
	CHECK_STR(it.v[0]->processing_baseline, "05.09");
	CHECK(sat_scene_find_band(it.v[0], "B8")->has_scale);
	CHECK_NEAR(plan_offset(it.v[0], SAT_OFFSET_AUTO, applied,
			       sizeof(applied)), -1000, 1e-9);
	CHECK_STR(applied, "-1000,-1000,-1000");
	items_free(&it);
}

/* A one-item page in Planetary Computer's shape (no raster:bands unless
 * rb is given) with processing baseline pb (NULL: none). */
static void small_item(struct items *it, const char *pb, const char *rb)
{
	char body[4096], prop[128] = "", asset[1024];
	size_t n = 0;

	if (pb)
		snprintf(prop, sizeof(prop),
			 ", \"s2:processing_baseline\": \"%s\"", pb);
	n += (size_t)snprintf(body + n, sizeof(body) - n,
		"{\"type\": \"FeatureCollection\", \"features\": [{"
		"\"type\": \"Feature\", \"stac_version\": \"1.0.0\", "
		"\"id\": \"S2B_MSIL2A_20240103T155219_R011_T17PLK\", "
		"\"collection\": \"sentinel-2-l2a\", "
		"\"bbox\": [-82.6, 8.2, -82.2, 8.6], "
		"\"geometry\": {\"type\": \"Polygon\", \"coordinates\": "
		"[[[-82.6, 8.2], [-82.2, 8.2], [-82.2, 8.6], [-82.6, 8.6], "
		"[-82.6, 8.2]]]}, "
		"\"properties\": {\"datetime\": \"2024-01-03T15:52:19Z\", "
		"\"proj:epsg\": 32617, \"eo:cloud_cover\": 1.5%s}, "
		"\"links\": [], \"assets\": {", prop);
	for (int b = 0; b < 3; b++) {
		static const char *const names[] = { "B08", "B04", "B03" };

		snprintf(asset, sizeof(asset),
			 "%s\"%s\": {\"href\": \"https://sentinel2l2a01.blob."
			 "core.windows.net/sentinel2-l2/17/P/LK/%s.tif\", "
			 "\"type\": \"image/tiff; application=geotiff; "
			 "profile=cloud-optimized\", \"gsd\": 10.0, "
			 "\"eo:bands\": [{\"name\": \"%s\"}]%s%s}",
			 b ? ", " : "", names[b], names[b], names[b],
			 rb ? ", \"raster:bands\": " : "", rb ? rb : "");
		n += (size_t)snprintf(body + n, sizeof(body) - n, "%s", asset);
	}
	snprintf(body + n, sizeof(body) - n, "}}]}");
	CHECK(n < sizeof(body) - 8);
	items_parse(it, body, strlen(body));
	CHECK_INT(it->n, 1);
}

SAT_TEST(baseline_forms)
{
	static const struct {
		const char *pb;
		double want;
	} cases[] = {
		{ "04.00", -1000 }, { "05.11", -1000 }, { "4", -1000 },
		{ "03.99", 0 },     { "02.14", 0 },     { NULL, 0 },
		{ "", 0 },          { "N0500", 0 },     { "05.00x", 0 },
		{ "nan", 0 },
	};
	char applied[64];
	struct items it;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		small_item(&it, cases[i].pb, NULL);
		double got = plan_offset(it.v[0], SAT_OFFSET_AUTO, applied,
					 sizeof(applied));
		if (fabs(got - cases[i].want) > 1e-9) {
			char d[96];

			snprintf(d, sizeof(d), "baseline %s: offset %g, not %g",
				 cases[i].pb ? cases[i].pb : "(none)", got,
				 cases[i].want);
			satest_fail(__FILE__, __LINE__, "offset", d);
		}
		items_free(&it);
	}
	/* raster:bands saying offset 0 win over a 05.11 baseline */
	small_item(&it, "05.11", "[{\"scale\": 0.0001, \"offset\": 0}]");
	CHECK_NEAR(plan_offset(it.v[0], SAT_OFFSET_AUTO, applied,
			       sizeof(applied)), 0, 0);
	CHECK_STR(applied, "0,0,0");
	items_free(&it);
}
