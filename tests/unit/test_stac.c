/*
 * Unit tests of the stac module, part one: every recorded real response in
 * tests/data/stac, the real item of cog/S2A_29RKH_20200219_0_L2A,
 * and the search requests we build. Hostile input is in
 * test_stac_input.c.
 *
 * json-c is used here only to read back the JSON the module produced.
 */
#include "satest.h"
#include "satfs/stac.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#define ES "https://earth-search.aws.element84.com/v1"
#define ES_COGS                                                                \
	"https://sentinel-cogs.s3.us-west-2.amazonaws.com/"                    \
	"sentinel-s2-l2a-cogs/"

struct page {
	int ret;
	struct sat_scene **items;
	size_t n, skipped;
	struct sat_stac_request next;
	bool has_next;
};

static void page_parse(struct page *p, const char *body, size_t len,
		       const struct sat_stac_request *prev)
{
	memset(p, 0, sizeof(*p));
	p->ret = sat_stac_parse_page(body, len, prev, NULL, &p->items, &p->n,
				     &p->skipped, &p->next, &p->has_next);
}

static void page_parse_str(struct page *p, const char *body,
			   const struct sat_stac_request *prev)
{
	page_parse(p, body, strlen(body), prev);
}

static void page_file(struct page *p, const char *rel,
		      const struct sat_stac_request *prev)
{
	size_t len;
	char *body = satest_read_file(satest_data(rel), &len);

	page_parse(p, body, len, prev);
	free(body);
}

static void page_free(struct page *p)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		sat_scene_free(p->items[i]);
	free(p->items);
	sat_stac_request_clear(&p->next);
}

/* The request that produced Earth Search's recorded search pages. */
static const struct sat_stac_request es_prev = {
	.method = "POST",
	.url = ES "/search",
	.body = "{\"collections\":[\"sentinel-2-l2a\"],\"limit\":10}",
};

static const char *band_href(const struct sat_scene *s, const char *band)
{
	const struct sat_asset *a = sat_scene_find_band(s, band);

	return a ? a->href : NULL;
}

static struct json_object *parse_json(const char *s)
{
	struct json_object *o = s ? json_tokener_parse(s) : NULL;

	CHECK(o != NULL);
	return o;
}

static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static struct json_object *jget(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	json_object_object_get_ex(o, key, &v);
	return v;
}

static bool has_header(const struct sat_stac_request *r, const char *h)
{
	size_t i;

	for (i = 0; r->headers && r->headers[i]; i++)
		if (!strcmp(r->headers[i], h))
			return true;
	return false;
}

/* ---- landing pages ---------------------------------------------------- */

SAT_TEST(landing_earthsearch)
{
	struct sat_stac_caps caps;
	size_t len;
	char *body = satest_read_file(
		satest_data("stac/earthsearch_v1_landing.json"), &len);

	CHECK_INT(sat_stac_parse_landing(body, len, ES, &caps), 0);
	CHECK(caps.search_post);
	CHECK(caps.search_get);
	CHECK(!caps.cql2_filter); /* only the query extension is offered */
	CHECK_STR(caps.search_href, ES "/search");
	sat_stac_caps_clear(&caps);
	CHECK(caps.search_href == NULL);
	free(body);
}

SAT_TEST(landing_variants)
{
	struct sat_stac_caps caps;
	const char *cql2 =
		"{\"conformsTo\":[\"https://api.stacspec.org/v1.0.0/core\","
		"\"http://www.opengis.net/spec/cql2/1.0/conf/cql2-json\"],"
		"\"links\":[{\"rel\":\"search\",\"href\":\"search\"}]}";
	const char *filter =
		"{\"conformsTo\":[\"https://api.stacspec.org/v1.0.0-rc.2/"
		"item-search#filter\", 7],\"links\":[{\"rel\":\"search\","
		"\"method\":\"POST\",\"href\":\"/api/stac/v1/search\"}]}";
	const char *none = "{\"conformsTo\":\"cql2\",\"links\":{}}";
	const char *evil =
		"{\"links\":[{\"rel\":\"search\",\"method\":\"POST\","
		"\"href\":\"file:///etc/passwd\"}]}";

	/* A search link without method is GET (STAC API); relative href.
	 * CQL2 JSON without Item Search Filter binds no filter to /search. */
	CHECK_INT(sat_stac_parse_landing(cql2, strlen(cql2),
					 "https://x.org/v1/", &caps),
		  0);
	CHECK(!caps.cql2_filter && !caps.cql2_json);
	CHECK(caps.search_get);
	CHECK(!caps.search_post);
	CHECK_STR(caps.search_href, "https://x.org/v1/search");
	sat_stac_caps_clear(&caps);

	/* Item Search Filter without an encoding class: no filter sent */
	CHECK_INT(sat_stac_parse_landing(filter, strlen(filter),
					 "https://pc.example/api/stac/v1",
					 &caps),
		  0);
	CHECK(!caps.cql2_filter);
	CHECK(caps.search_post && !caps.search_get);
	CHECK_STR(caps.search_href, "https://pc.example/api/stac/v1/search");
	sat_stac_caps_clear(&caps);

	/* Wrong types everywhere: no cql2, base + /search. */
	CHECK_INT(sat_stac_parse_landing(none, strlen(none),
					 "http://h:8080/stac", &caps),
		  0);
	CHECK(!caps.cql2_filter);
	CHECK(caps.search_post);
	CHECK_STR(caps.search_href, "http://h:8080/stac/search");
	sat_stac_caps_clear(&caps);

	/* A search link to a file is never taken. */
	CHECK_INT(sat_stac_parse_landing(evil, strlen(evil), "https://a.b",
					 &caps),
		  0);
	CHECK_STR(caps.search_href, "https://a.b/search");
	sat_stac_caps_clear(&caps);

	CHECK_INT(sat_stac_parse_landing("[1]", 3, "https://a.b", &caps),
		  -EINVAL);
	CHECK_INT(sat_stac_parse_landing("{\"links\":[", 10, "https://a.b",
					 &caps),
		  -EINVAL);
	CHECK_INT(sat_stac_parse_landing("{}", 2, NULL, &caps), -EINVAL);
	CHECK(caps.search_href == NULL);
}

/* ---- recorded search pages -------------------------------------------- */

SAT_TEST(page_earthsearch_s2l2a_landsat)
{
	struct json_object *b;
	const struct sat_asset *a;
	const struct sat_scene *s;
	struct page p;

	page_file(&p, "stac/earthsearch_v1_search_s2l2a_landsat_page1.json",
		  &es_prev);
	CHECK_INT(p.ret, 0);
	CHECK_INT(p.n, 2);
	CHECK_INT(p.skipped, 0);
	s = p.items[0];
	CHECK_STR(s->id, "S2A_13TDE_20231008_0_L2A");
	CHECK_STR(s->file_id, "S2A_13TDE_20231008_0_L2A");
	CHECK_STR(s->collection, "sentinel-2-l2a");
	CHECK_INT(s->datetime, 1696788175); /* 2023-10-08T18:02:55.276Z */
	CHECK_STR(s->date, "2023-10-08");
	CHECK_INT(s->epsg, 32613);
	CHECK(s->has_cloud);
	CHECK_NEAR(s->cloud_cover, 0.000299, 1e-12);
	CHECK_STR(s->processing_baseline, "05.09");
	CHECK_NEAR(s->bbox[0], -106.18316062292897, 1e-12);
	CHECK_NEAR(s->bbox[3], 40.650789813976196, 1e-12);
	CHECK_STR(band_href(s, "B8"),
		  ES_COGS "13/T/DE/2023/10/S2A_13TDE_20231008_0_L2A/B08.tif");
	CHECK_STR(band_href(s, "B4"),
		  ES_COGS "13/T/DE/2023/10/S2A_13TDE_20231008_0_L2A/B04.tif");
	CHECK_STR(band_href(s, "B03"),
		  ES_COGS "13/T/DE/2023/10/S2A_13TDE_20231008_0_L2A/B03.tif");
	CHECK_STR(band_href(s, "nir08"),
		  ES_COGS "13/T/DE/2023/10/S2A_13TDE_20231008_0_L2A/B8A.tif");
	a = sat_scene_find_band(s, "red"); /* the COG, not "red-jp2" */
	CHECK(a != NULL);
	CHECK_STR(a->key, "red");
	CHECK_STR(a->type,
		  "image/tiff; application=geotiff; profile=cloud-optimized");
	CHECK_STR(a->band_name, "red");
	CHECK_STR(a->common_name, "red");
	CHECK(a->has_scale);
	CHECK_NEAR(a->scale, 0.0001, 1e-15);
	CHECK_NEAR(a->offset, -0.1, 1e-15);
	CHECK(a->has_nodata);
	CHECK_NEAR(a->nodata, 0, 0);
	CHECK_NEAR(a->gsd, 10, 0);
	CHECK(a->has_transform);
	CHECK_NEAR(a->transform[2], 399960, 0);
	CHECK_NEAR(a->transform[4], -10, 0);
	CHECK_NEAR(a->transform[5], 4500000, 0);
	CHECK_INT(a->shape[0], 10980);
	a = sat_scene_find_band(s, "SCL");
	CHECK(a != NULL);
	CHECK_STR(a->key, "scl");
	CHECK_NEAR(a->gsd, 20, 0);
	CHECK(!a->has_scale);

	s = p.items[1];
	CHECK_STR(s->id, "LC08_L2SP_033032_20231008_02_T1");
	CHECK_INT(s->datetime, 1696786646);
	CHECK_INT(s->epsg, 32613);
	CHECK_NEAR(s->cloud_cover, 0.06, 1e-12);
	CHECK(s->processing_baseline == NULL);
	a = sat_scene_find_band(s, "B4");
	CHECK(a != NULL);
	CHECK_STR(a->key, "red");
	CHECK_NEAR(a->gsd, 30, 0);
	CHECK_NEAR(a->scale, 2.75e-05, 1e-15);
	CHECK_NEAR(a->offset, -0.2, 1e-15);
	CHECK(a->has_transform); /* the item's, given once for all bands */
	CHECK(strncmp(a->href, "s3://", 5) == 0);

	/* next: POST, the whole body repeated plus a token, merge false:
	 * exactly the link's body, nothing kept from ours. */
	CHECK(p.has_next);
	CHECK_STR(p.next.method, "POST");
	CHECK_STR(p.next.url, ES "/search");
	CHECK(has_header(&p.next, "Content-Type: application/json"));
	b = parse_json(p.next.body);
	CHECK_STR(jstr(b, "datetime"),
		  "2023-10-08T00:00:00Z/2023-10-08T23:59:59Z");
	CHECK_STR(jstr(b, "next"),
		  "2023-10-08T17:37:26.656958Z,"
		  "LC08_L2SP_033032_20231008_02_T1,landsat-c2-l2");
	CHECK_INT(json_object_array_length(jget(b, "collections")), 2);
	CHECK_STR(jstr(jget(b, "intersects"), "type"), "Point");
	CHECK(jget(b, "limit") == NULL);
	CHECK_INT(json_object_object_length(b), 4);
	json_object_put(b);

	/* Following it: the empty last page ends paging. */
	{
		struct sat_stac_request prev = p.next;
		struct page q;

		page_file(&q,
			  "stac/earthsearch_v1_search_s2l2a_landsat_"
			  "page2_empty.json",
			  &prev);
		CHECK_INT(q.ret, 0);
		CHECK_INT(q.n, 0);
		CHECK_INT(q.skipped, 0);
		CHECK(!q.has_next);
		CHECK(q.next.url == NULL);
		page_free(&q);
	}
	page_free(&p);
}

SAT_TEST(page_earthsearch_cql2_two_pages)
{
	struct json_object *b;
	const struct sat_scene *s;
	char *fp1, *fp2;
	struct page p, q;
	size_t i, over40 = 0;

	page_file(&p, "stac/earthsearch_v1_search_cql2_page1.json", &es_prev);
	CHECK_INT(p.ret, 0);
	CHECK_INT(p.n, 10);
	CHECK_INT(p.skipped, 0);
	s = p.items[0];
	CHECK_STR(s->id, "S1A_IW_GRDH_1SSH_20250731T135702_20250731T135722_"
			 "060328_077F7E");
	CHECK_STR(s->collection, "sentinel-1-grd");
	CHECK_INT(s->datetime, 1753970232);
	CHECK_INT(s->epsg, 4326);
	CHECK(!s->has_cloud);
	CHECK(sat_scene_find_band(s, "B4") == NULL);
	CHECK_STR(p.items[3]->id, "S2B_T20EPT_20250731T131905_L2A");
	CHECK_INT(p.items[3]->epsg, 32720);
	/* The server ignored the filter it was sent (lte 40). */
	for (i = 0; i < p.n; i++)
		over40 += p.items[i]->has_cloud && p.items[i]->cloud_cover > 40;
	CHECK_INT(over40, 3);
	CHECK_NEAR(p.items[6]->cloud_cover, 56.813848, 1e-9);

	/* next body is only {"next": token}, merge false. */
	CHECK(p.has_next);
	CHECK_STR(p.next.method, "POST");
	b = parse_json(p.next.body);
	CHECK_INT(json_object_object_length(b), 1);
	CHECK_STR(jstr(b, "next"), "2025-07-31T13:03:25.899000Z,"
				   "S2B_T24MVV_20250731T130245_L2A,"
				   "sentinel-2-c1-l2a");
	json_object_put(b);

	page_file(&q, "stac/earthsearch_v1_search_cql2_page2.json", &p.next);
	CHECK_INT(q.ret, 0);
	CHECK_INT(q.n, 10);
	s = q.items[0];
	CHECK_STR(s->id, "S2B_24MVV_20250731_0_L2A");
	CHECK_INT(s->datetime, 1753967005);
	CHECK_INT(s->epsg, 32724);
	CHECK_NEAR(s->cloud_cover, 34.760532, 1e-9);
	CHECK_STR(band_href(s, "B8"),
		  ES_COGS "24/M/VV/2025/7/"
			  "S2B_24MVV_20250731_0_L2A/B08.tif");
	CHECK_NEAR(sat_scene_find_band(s, "B4")->offset, -0.1, 1e-15);
	/* L1C: JPEG 2000 on s3 only; nothing the COG reader can use. */
	CHECK_STR(q.items[1]->id, "S2B_24MVV_20250731_0_L1C");
	CHECK(sat_scene_find_band(q.items[1], "B4") == NULL);
	CHECK(q.has_next);

	fp1 = sat_stac_request_fingerprint(&p.next);
	fp2 = sat_stac_request_fingerprint(&q.next);
	CHECK(fp1 && fp2 && strcmp(fp1, fp2) != 0);
	CHECK(strstr(fp1, "POST " ES "/search\n") == fp1);
	free(fp1);
	free(fp2);
	page_free(&p);
	page_free(&q);
}

SAT_TEST(page_earthsearch_fields_excluded)
{
	struct json_object *b;
	struct page p;

	page_file(&p, "stac/earthsearch_v1_search_fields_s2c1.json", &es_prev);
	CHECK_INT(p.ret, 0);
	CHECK_INT(p.n, 0);
	CHECK_INT(p.skipped, 10); /* no assets: nothing to render */
	CHECK(p.has_next);
	b = parse_json(p.next.body);
	CHECK(jget(b, "fields") != NULL);
	CHECK_STR(jstr(b, "next"), "2025-07-11T18:03:14.611000Z,"
				   "S2A_T13TDE_20250711T175745_L2A,"
				   "sentinel-2-c1-l2a");
	json_object_put(b);
	page_free(&p);
}

SAT_TEST(page_error_bodies)
{
	static const char *const files[] = {
		"stac/earthsearch_v1_collection_404.json",
		"stac/planetary_v1_item_404.json",
		"stac/earthsearch_v1_landing.json",
	};
	struct page p;
	size_t i;

	for (i = 0; i < 3; i++) {
		page_file(&p, files[i], &es_prev);
		CHECK_INT(p.ret, -EINVAL);
		CHECK_INT(p.n, 0);
		CHECK(!p.has_next);
		CHECK(p.items == NULL);
		page_free(&p);
	}
}

SAT_TEST(page_planetary_33)
{
	const struct sat_asset *a;
	const struct sat_scene *s;
	struct page p;
	size_t i;

	page_file(&p, "stac/planetary_v1_search_s2l2a_33items.json", &es_prev);
	CHECK_INT(p.ret, 0);
	CHECK_INT(p.n, 33);
	CHECK_INT(p.skipped, 0);
	CHECK(!p.has_next);
	s = p.items[0];
	CHECK_STR(s->id,
		  "S2A_MSIL2A_20190101T000001_R116_T60VUK_20201007T214652");
	CHECK_INT(s->datetime, 1546300801);
	CHECK_STR(s->date, "2019-01-01");
	CHECK_INT(s->epsg, 32660);
	CHECK_NEAR(s->cloud_cover, 56.297088, 1e-9);
	CHECK_STR(s->processing_baseline, "02.12");
	a = sat_scene_find_band(s, "B8");
	CHECK(a != NULL);
	CHECK_STR(a->key, "B08");
	CHECK_STR(a->href, "https://sentinel2l2a01.blob.core.windows.net/"
			   "sentinel2-l2/60/V/UK/2019/01/01/S2A_MSIL2A_"
			   "20190101T000001_N0212_R116_T60VUK_20201007T214652."
			   "SAFE/GRANULE/L2A_T60VUK_A018417_20181231T235957/"
			   "IMG_DATA/R10m/T60VUK_20190101T000001_B08_10m.tif");
	CHECK(!a->has_scale); /* no raster:bands: the caller's default */
	CHECK_NEAR(a->gsd, 10, 0);
	CHECK_INT(a->epsg, 0);
	CHECK_STR(sat_scene_find_band(s, "nir")->key, "B08");
	CHECK_STR(sat_scene_find_band(s, "red")->key, "B04");
	CHECK_STR(sat_scene_find_band(s, "green")->key, "B03");
	CHECK_STR(sat_scene_find_band(s, "b8a")->key, "B8A");
	CHECK_NEAR(sat_scene_find_band(s, "nir08")->gsd, 20, 0);
	CHECK_STR(sat_scene_find_band(s, "scl")->key, "SCL");
	CHECK(sat_scene_find_band(s, "B10") == NULL);
	for (i = 0; i < p.n; i++) {
		CHECK(p.items[i]->epsg >= 32658 && p.items[i]->epsg <= 32660);
		CHECK(sat_scene_find_band(p.items[i], "B3") != NULL);
	}
	CHECK_STR(p.items[32]->id,
		  "S2A_MSIL2A_20190101T000001_R116_T58UFE_20201007T214651");
	page_free(&p);
}

SAT_TEST(page_planetary_token_paging)
{
	struct sat_stac_request prev = {
		.method = "POST",
		.url = "https://planetarycomputer.microsoft.com/api/stac/v1/search",
		.body = "{\"collections\":[\"sentinel-2-l2a\"],\"limit\":1}",
	};
	struct json_object *b;
	struct page p, q;

	page_file(&p, "stac/rustac_planetary_s2l2a_search_page1.json", &prev);
	CHECK_INT(p.ret, 0);
	CHECK_INT(p.n, 1);
	CHECK_STR(p.items[0]->id,
		  "S2A_MSIL2A_20230216T150721_R082_T19PHS_20230217T082924");
	CHECK_INT(p.items[0]->datetime, 1676560041);
	CHECK_INT(p.items[0]->epsg, 32619);
	CHECK_NEAR(p.items[0]->cloud_cover, 70.125186, 1e-9);
	CHECK(strstr(band_href(p.items[0], "B08"), "_B08_10m.tif") != NULL);
	CHECK(p.has_next);
	CHECK_STR(p.next.method, "POST");
	CHECK_STR(p.next.url, prev.url);
	b = parse_json(p.next.body);
	CHECK_STR(
		jstr(b, "token"),
		"next:S2A_MSIL2A_20230216T150721_R082_T19PHS_20230217T082924");
	CHECK_INT(json_object_get_int(jget(b, "limit")), 1);
	json_object_put(b);

	/* Page 2 also has a "previous" link: the next one is taken. */
	page_file(&q, "stac/rustac_planetary_s2l2a_search_page2.json", &p.next);
	CHECK_INT(q.ret, 0);
	CHECK_INT(q.n, 1);
	CHECK_STR(q.items[0]->id,
		  "S2A_MSIL2A_20230216T145731_R082_T21UYT_20230217T083102");
	CHECK_INT(q.items[0]->datetime, 1676559451);
	CHECK_INT(q.items[0]->epsg, 32621);
	CHECK(q.has_next);
	b = parse_json(q.next.body);
	CHECK_STR(
		jstr(b, "token"),
		"next:S2A_MSIL2A_20230216T145731_R082_T21UYT_20230217T083102");
	json_object_put(b);
	page_free(&p);
	page_free(&q);
}

SAT_TEST(page_earthsearch_c1_10items)
{
	const struct sat_asset *a;
	struct page p;
	size_t i;

	page_file(&p, "stac/rustac_earthsearch_s2c1l2a_10items.json", NULL);
	CHECK_INT(p.ret, 0);
	CHECK_INT(p.n, 10);
	CHECK_INT(p.skipped, 0);
	CHECK(!p.has_next);
	CHECK_STR(p.items[0]->id, "S2A_T13TDE_20240422T174753_L2A");
	CHECK_INT(p.items[0]->datetime, 1713808382);
	CHECK_NEAR(p.items[0]->cloud_cover, 81.344962, 1e-9);
	CHECK_STR(p.items[0]->processing_baseline, "05.10");
	a = sat_scene_find_band(p.items[0], "B8");
	CHECK_STR(a->href,
		  "https://e84-earth-search-sentinel-data.s3.us-west-2."
		  "amazonaws.com/sentinel-2-c1-l2a/13/T/DE/2024/4/"
		  "S2A_T13TDE_20240422T174753_L2A/B08.tif");
	CHECK_STR(a->band_name, "B08");
	CHECK_NEAR(a->offset, -0.1, 1e-15);
	for (i = 0; i < p.n; i++)
		CHECK_INT(p.items[i]->epsg, 32613);
	CHECK_STR(p.items[9]->id, "S2B_T13TDE_20240331T175111_L2A");
	page_free(&p);
}

SAT_TEST(real_item_29rkh)
{
	const char *head = "{\"type\":\"FeatureCollection\",\"features\":[";
	const struct sat_asset *a;
	const struct sat_scene *s;
	struct json_object *j;
	char *item, *body;
	size_t len;
	struct page p;

	item = satest_read_file(
		satest_data("cog/S2A_29RKH_20200219_0_L2A/"
				"S2A_29RKH_20200219_0_L2A.json"),
		&len);
	body = malloc(strlen(head) + len + 3);
	sprintf(body, "%s%s]}", head, item);
	page_parse_str(&p, body, NULL);
	CHECK_INT(p.ret, 0);
	CHECK_INT(p.n, 1);
	s = p.items[0];
	CHECK_STR(s->id, "S2A_29RKH_20200219_0_L2A");
	CHECK_INT(s->datetime, 1582112065);
	CHECK_STR(s->date, "2020-02-19");
	CHECK_INT(s->epsg, 32629);
	CHECK_NEAR(s->cloud_cover, 4.051854, 1e-9);
	CHECK_STR(s->processing_baseline, "02.14");
	CHECK_NEAR(s->bbox[0], -11.97923472537954, 1e-12);
	CHECK_NEAR(s->bbox[2], -10.8745567866346, 1e-12);
	a = sat_scene_find_band(s, "B4");
	CHECK_STR(a->href, ES_COGS "29/R/KH/2020/2/S2A_29RKH_20200219_0_L2A/"
				   "B04.tif");
	CHECK_NEAR(a->scale, 0.0001, 1e-15);
	CHECK_NEAR(a->offset, 0, 0);
	CHECK_NEAR(a->transform[2], 199980, 0);
	CHECK_NEAR(a->transform[5], 2800020, 0);
	CHECK_INT(a->shape[1], 10980);
	CHECK(strstr(band_href(s, "B8"), "/B08.tif") != NULL);
	CHECK(strstr(band_href(s, "B3"), "/B03.tif") != NULL);
	CHECK(strstr(band_href(s, "B2"), "/B02.tif") != NULL);
	/* "visual" lists red first but is not the file of band red. */
	CHECK_STR(sat_scene_find_band(s, "red")->key, "red");
	/* The item text kept for <id>.json: the same JSON document. */
	CHECK_INT(s->json_len, strlen(s->json));
	j = parse_json(s->json);
	CHECK_STR(jstr(j, "id"), "S2A_29RKH_20200219_0_L2A");
	CHECK_INT(json_object_object_length(jget(j, "assets")), 35);
	CHECK(strstr(s->json, "\"proj:epsg\":32629") != NULL);
	CHECK(strstr(s->json, "https://sentinel-cogs.s3.us-west-2.amazonaws."
			      "com/sentinel-s2-l2a-cogs/29/R/KH/") != NULL);
	json_object_put(j);
	page_free(&p);
	free(body);
	free(item);
}

/* ---- search requests --------------------------------------------------- */

static const double david_bbox[4] = { -82.48, 8.3508, -82.39, 8.4408 };

static void david_query(struct sat_stac_query *q)
{
	memset(q, 0, sizeof(*q));
	q->collection = "sentinel-2-l2a";
	q->is_bbox = true;
	q->bbox = david_bbox;
	q->from = 1704067200; /* 2024-01-01T00:00:00Z */
	q->to = 1722470399;   /* 2024-07-31T23:59:59Z */
	q->max_cloud = 85;
	q->limit = 50;
}

SAT_TEST(build_search_post_bbox)
{
	struct sat_stac_caps caps = { .search_post = true,
				      .search_get = true,
				      .search_href = ES "/search" };
	struct sat_stac_request r;
	struct sat_stac_query q;
	struct json_object *b, *v;
	int i;

	david_query(&q);
	CHECK_INT(sat_stac_build_search(&caps, &q, &r), 0);
	CHECK_STR(r.method, "POST");
	CHECK_STR(r.url, ES "/search");
	CHECK(has_header(&r, "Content-Type: application/json"));
	CHECK(r.headers[1] == NULL);
	b = parse_json(r.body);
	v = jget(b, "collections");
	CHECK_INT(json_object_array_length(v), 1);
	CHECK_STR(json_object_get_string(json_object_array_get_idx(v, 0)),
		  "sentinel-2-l2a");
	v = jget(b, "bbox");
	CHECK_INT(json_object_array_length(v), 4);
	for (i = 0; i < 4; i++)
		CHECK_NEAR(
			json_object_get_double(json_object_array_get_idx(v, i)),
			david_bbox[i], 0);
	CHECK(strstr(r.body, "[-82.48,8.3508,-82.39,8.4408]") != NULL);
	CHECK_STR(jstr(b, "datetime"),
		  "2024-01-01T00:00:00Z/2024-07-31T23:59:59Z");
	CHECK_INT(json_object_get_int(jget(b, "limit")), 50);
	v = jget(jget(jget(b, "query"), "eo:cloud_cover"), "lt");
	CHECK(v != NULL);
	CHECK_NEAR(json_object_get_double(v), 85, 0);
	CHECK(jget(b, "filter") == NULL);
	CHECK(jget(b, "intersects") == NULL);
	json_object_put(b);
	sat_stac_request_clear(&r);
	CHECK(r.body == NULL && r.headers == NULL);
}

/*
 * The filter extension (https://github.com/stac-api-extensions/filter,
 * "Conformance Classes"): an implementation "must support at least one of
 * the CQL2 Text or CQL2 JSON conformance classes"; "If both are
 * advertised as being supported, it is only required that both be
 * supported for GET query parameters, and that only that CQL2 JSON be
 * supported for POST JSON requests. It is recommended that clients use
 * CQL2 Text in GET requests and CQL2 JSON in POST requests." Its Example 3
 * writes the cloud filter in text as "eo:cloud_cover < 10" and in JSON as
 * {"op": "<", "args": [{"property": "eo:cloud_cover"}, 10]}.
 */
SAT_TEST(cql2_encoding_as_offered)
{
	const char *text_only =
		"{\"conformsTo\":[\"https://api.stacspec.org/v1.0.0-rc.3/"
		"item-search#filter\",\"http://www.opengis.net/spec/cql2/1.0/"
		"conf/cql2-text\",\"http://www.opengis.net/spec/cql2/1.0/conf/"
		"basic-cql2\"],\"links\":[{\"rel\":\"search\",\"method\":"
		"\"POST\",\"href\":\"https://t.example/search\"}]}";
	const char *both =
		"{\"conformsTo\":[\"https://api.stacspec.org/v1.0.0/"
		"item-search#filter\",\"http://www.opengis.net/spec/cql2/1.0/"
		"conf/cql2-text\",\"http://www.opengis.net/spec/cql2/1.0/conf/"
		"cql2-json\"],\"links\":[{\"rel\":\"search\",\"href\":"
		"\"https://b.example/search\"}]}";
	struct sat_stac_caps caps;
	struct sat_stac_request r;
	struct sat_stac_query q;
	struct json_object *b;

	david_query(&q);
	q.max_cloud = 85;
	/* only cql2-text: the filter as text, in the POST body too */
	CHECK_INT(sat_stac_parse_landing(text_only, strlen(text_only),
					 "https://t.example", &caps), 0);
	CHECK(caps.cql2_filter && caps.cql2_text && !caps.cql2_json);
	CHECK_INT(sat_stac_build_search(&caps, &q, &r), 0);
	CHECK_STR(r.method, "POST");
	b = parse_json(r.body);
	CHECK_STR(jstr(b, "filter-lang"), "cql2-text");
	CHECK_STR(jstr(b, "filter"), "eo:cloud_cover < 85");
	json_object_put(b);
	sat_stac_request_clear(&r);
	sat_stac_caps_clear(&caps);

	/* both, and only GET offered: text in the query string */
	CHECK_INT(sat_stac_parse_landing(both, strlen(both),
					 "https://b.example", &caps), 0);
	CHECK(caps.cql2_filter && caps.cql2_text && caps.cql2_json);
	CHECK(caps.search_get && !caps.search_post);
	CHECK_INT(sat_stac_build_search(&caps, &q, &r), 0);
	CHECK_STR(r.method, "GET");
	CHECK(strstr(r.url, "&filter-lang=cql2-text"));
	CHECK(strstr(r.url, "&filter=eo%3Acloud_cover%20%3C%2085"));
	sat_stac_request_clear(&r);
	/* both, POST: JSON */
	caps.search_post = true;
	CHECK_INT(sat_stac_build_search(&caps, &q, &r), 0);
	b = parse_json(r.body);
	CHECK_STR(jstr(b, "filter-lang"), "cql2-json");
	CHECK_STR(jstr(jget(b, "filter"), "op"), "<");
	json_object_put(b);
	sat_stac_request_clear(&r);
	sat_stac_caps_clear(&caps);
}

SAT_TEST(error_text_redacted)
{
	char buf[128];
	size_t len;
	char *body = satest_read_file(
		satest_data("stac/earthsearch_v1_collection_404.json"),
		&len);
	const char *t;

	/* a real STAC error body: {code, description} */
	sat_stac_error_text(body, len, buf, sizeof(buf));
	CHECK(strchr(buf, ':') && strlen(buf) > 3);
	CHECK(!strchr(buf, '{'));
	free(body);
	t = "{\"code\":\"BadRequest\",\"description\":\"bad filter\\nat "
	       "1\"}";
	sat_stac_error_text(t, strlen(t), buf, sizeof(buf));
	CHECK_STR(buf, "BadRequest: bad filter?at 1");
	/* not JSON: the first line, secrets blanked */
	t = "denied: https://a.blob.core.windows.net/c/x?se=1&"
	       "sig=SECRETSECRETSECRET&sp=r\nmore";
	sat_stac_error_text(t, strlen(t), buf, sizeof(buf));
	CHECK(!strstr(buf, "SECRET"));
	CHECK(strstr(buf, "sig=REDACTED&sp=r"));
	CHECK(!strstr(buf, "more"));
	sat_stac_error_text(NULL, 0, buf, sizeof(buf));
	CHECK_STR(buf, "");
}

SAT_TEST(build_search_post_cql2_polygon)
{
	static const double ring[] = { -82.48, 8.35, -82.39, 8.35,
				       -82.39, 8.44, -82.48, 8.44 };
	struct sat_stac_caps caps = { .search_post = true,
				      .cql2_filter = true,
				      .cql2_json = true,
				      .search_href = "http://127.0.0.1:1/s" };
	struct sat_stac_request r;
	struct sat_stac_query q;
	struct json_object *b, *v, *lr, *args;

	david_query(&q);
	q.is_bbox = false;
	q.ring = ring;
	q.nring = 4;
	q.max_cloud = 12.5;
	CHECK_INT(sat_stac_build_search(&caps, &q, &r), 0);
	b = parse_json(r.body);
	CHECK(jget(b, "bbox") == NULL);
	v = jget(b, "intersects");
	CHECK_STR(jstr(v, "type"), "Polygon");
	lr = json_object_array_get_idx(jget(v, "coordinates"), 0);
	CHECK_INT(json_object_array_length(lr), 5); /* closed */
	CHECK_NEAR(json_object_get_double(json_object_array_get_idx(
			   json_object_array_get_idx(lr, 4), 0)),
		   -82.48, 0);
	CHECK_NEAR(json_object_get_double(json_object_array_get_idx(
			   json_object_array_get_idx(lr, 2), 1)),
		   8.44, 0);
	CHECK_STR(jstr(b, "filter-lang"), "cql2-json");
	CHECK_STR(jstr(jget(b, "filter"), "op"), "<");
	args = jget(jget(b, "filter"), "args");
	CHECK_INT(json_object_array_length(args), 2);
	CHECK_STR(jstr(json_object_array_get_idx(args, 0), "property"),
		  "eo:cloud_cover");
	CHECK_NEAR(json_object_get_double(json_object_array_get_idx(args, 1)),
		   12.5, 0);
	CHECK_NEAR(json_object_get_double(jget(
			   jget(jget(b, "query"), "eo:cloud_cover"), "lt")),
		   12.5, 0);
	json_object_put(b);
	sat_stac_request_clear(&r);

	/* An already closed ring is not closed twice; no cloud filter. */
	{
		static const double closed[] = { 0, 0, 1, 0, 1, 1, 0, 0 };

		q.ring = closed;
		q.nring = 4;
		q.max_cloud = -1;
		CHECK_INT(sat_stac_build_search(&caps, &q, &r), 0);
		b = parse_json(r.body);
		lr = json_object_array_get_idx(
			jget(jget(b, "intersects"), "coordinates"), 0);
		CHECK_INT(json_object_array_length(lr), 4);
		CHECK(jget(b, "query") == NULL && jget(b, "filter") == NULL);
		json_object_put(b);
		sat_stac_request_clear(&r);
	}
	q.nring = 2;
	CHECK_INT(sat_stac_build_search(&caps, &q, &r), -EINVAL);
}

SAT_TEST(build_search_get)
{
	struct sat_stac_caps caps = { .search_get = true,
				      .search_href = ES "/search" };
	struct sat_stac_request r;
	struct sat_stac_query q;

	david_query(&q);
	CHECK_INT(sat_stac_build_search(&caps, &q, &r), 0);
	CHECK_STR(r.method, "GET");
	CHECK(r.body == NULL);
	CHECK(r.headers == NULL);
	CHECK_STR(r.url, ES "/search?collections=sentinel-2-l2a"
			    "&bbox=-82.48,8.3508,-82.39,8.4408"
			    "&datetime=2024-01-01T00%3A00%3A00Z%2F"
			    "2024-07-31T23%3A59%3A59Z&limit=50"
			    "&query=%7B%22eo%3Acloud_cover%22%3A%7B%22lt%22%3A"
			    "85%7D%7D");
	sat_stac_request_clear(&r);

	caps.search_href = "http://h/search?key=1";
	q.is_bbox = false;
	q.ring = (const double[]){ 0, 0, 1, 0, 1, 1 };
	q.nring = 3;
	q.max_cloud = -1;
	q.collection = "a b&c";
	CHECK_INT(sat_stac_build_search(&caps, &q, &r), 0);
	CHECK_STR(r.url, "http://h/search?key=1&collections=a%20b%26c"
			 "&intersects=%7B%22type%22%3A%22Polygon%22%2C%22"
			 "coordinates%22%3A%5B%5B%5B0%2C0%5D%2C%5B1%2C0%5D%2C"
			 "%5B1%2C1%5D%2C%5B0%2C0%5D%5D%5D%7D"
			 "&datetime=2024-01-01T00%3A00%3A00Z%2F"
			 "2024-07-31T23%3A59%3A59Z&limit=50");
	sat_stac_request_clear(&r);
}
