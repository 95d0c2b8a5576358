/*
 * Unit tests of the stac module, part two: paging links as servers may
 * write them, fingerprints, items with wrong types everywhere, hostile
 * documents, file names from ids and GeoJSON rings. The recorded real
 * responses are in test_stac.c.
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

/* ---- paging ------------------------------------------------------------ */

static const char *page_with_link(const char *link, char *buf, size_t len)
{
	snprintf(buf, len,
		 "{\"type\":\"FeatureCollection\",\"features\":[],"
		 "\"links\":[{\"rel\":\"self\",\"href\":\"x\"},%s]}",
		 link);
	return buf;
}

SAT_TEST(paging_merge_true)
{
	struct sat_stac_request prev = {
		.method = "POST",
		.url = "https://h.example/v1/search",
		.body = "{\"collections\":[\"c\"],\"limit\":10,\"bbox\":[1,2,3,4]}",
	};
	struct json_object *b;
	struct page p;
	char buf[1024];

	page_parse_str(
		&p,
		page_with_link(
			"{\"rel\":\"next\",\"method\":\"POST\",\"href\":\"search\","
			"\"merge\":true,\"body\":{\"token\":\"abc\",\"limit\":5},"
			"\"headers\":{\"Authorization\":\"Bearer t\","
			"\"X-Multi\":[\"a\",\"b\"],\"Bad\\r\\nX\":\"y\","
			"\"X-Evil\":\"v\\r\\nInjected: 1\",\"X-Num\":3}}",
			buf, sizeof(buf)),
		&prev);
	CHECK_INT(p.ret, 0);
	CHECK(p.has_next);
	CHECK_STR(p.next.method, "POST");
	CHECK_STR(p.next.url, "https://h.example/v1/search");
	b = parse_json(p.next.body);
	CHECK_INT(json_object_object_length(b), 4);
	CHECK_STR(jstr(b, "token"), "abc");
	CHECK_INT(json_object_get_int(jget(b, "limit")), 5); /* link wins */
	CHECK_INT(json_object_array_length(jget(b, "collections")), 1);
	CHECK_INT(json_object_array_length(jget(b, "bbox")), 4);
	json_object_put(b);
	CHECK(has_header(&p.next, "Authorization: Bearer t"));
	CHECK(has_header(&p.next, "X-Multi: a, b"));
	CHECK(has_header(&p.next, "Content-Type: application/json"));
	CHECK(p.next.headers[3] == NULL); /* CR/LF and non-strings dropped */
	page_free(&p);

	/* merge false: exactly the link's body. */
	page_parse_str(
		&p,
		page_with_link(
			"{\"rel\":\"next\",\"method\":\"post\",\"href\":\"/v1/search\","
			"\"merge\":false,\"body\":{\"token\":\"abc\"},"
			"\"headers\":{\"content-type\":\"application/geo+json\"}}",
			buf, sizeof(buf)),
		&prev);
	CHECK_INT(p.ret, 0);
	CHECK_STR(p.next.body, "{\"token\":\"abc\"}");
	CHECK(has_header(&p.next, "content-type: application/geo+json"));
	CHECK(p.next.headers[1] == NULL);
	page_free(&p);

	/* no body at all: the previous one again. */
	page_parse_str(
		&p,
		page_with_link("{\"rel\":\"next\",\"method\":\"POST\",\"href\":"
			       "\"https://other.example/search\"}",
			       buf, sizeof(buf)),
		&prev);
	CHECK_INT(p.ret, 0);
	CHECK_STR(p.next.body, prev.body);
	CHECK_STR(p.next.url, "https://other.example/search");
	page_free(&p);
}

/* merge: true merges into the original request, not the previous one:
 * the STAC API spec's item-search examples ("POST search with body and
 * merge fields") answer {"bbox": ...} with a next link {"page": 2,
 * "limit": 10, merge: true}, and "This tells the client to POST to the
 * search endpoint using the original request with the page and limit
 * fields merged in" (radiantearth/stac-api-spec, item-search/examples.md).
 * Headers merge the same way. */
SAT_TEST(paging_merge_into_original)
{
	char *orig_hdrs[] = { "Content-Type: application/json",
			      "X-Orig: 1", NULL };
	struct sat_stac_request orig = {
		.method = "POST",
		.url = "http://api.cool-sat.com/search",
		.body = "{\"bbox\":[-110,39.5,-105,40.5]}",
		.headers = orig_hdrs,
	};
	struct sat_stac_request prev = {
		.method = "POST",
		.url = "http://api.cool-sat.com/search",
		.body = "{\"bbox\":[-110,39.5,-105,40.5],\"page\":2,"
			"\"limit\":10,\"extra\":\"from page 2\"}",
	};
	struct sat_stac_request next;
	struct sat_scene **items = NULL;
	size_t n = 0, skipped = 0;
	struct json_object *b;
	bool has_next;
	char buf[1024];
	const char *pg = page_with_link(
		"{\"rel\":\"next\",\"href\":\"http://api.cool-sat.com/"
		"search\",\"method\":\"POST\",\"body\":{\"page\":3,"
		"\"limit\":10},\"headers\":{\"X-Orig\":\"2\"},"
		"\"merge\":true}", buf, sizeof(buf));

	CHECK_INT(sat_stac_parse_page(pg, strlen(pg), &prev, &orig, &items,
				      &n, &skipped, &next, &has_next), 0);
	CHECK(has_next);
	b = parse_json(next.body);
	CHECK_INT(json_object_object_length(b), 3); /* bbox, page, limit */
	CHECK_INT(json_object_get_int(jget(b, "page")), 3);
	CHECK(jget(b, "extra") == NULL); /* prev's own field is not kept */
	CHECK_INT(json_object_array_length(jget(b, "bbox")), 4);
	json_object_put(b);
	CHECK(has_header(&next, "Content-Type: application/json"));
	CHECK(has_header(&next, "X-Orig: 2")); /* the link's wins */
	CHECK(!has_header(&next, "X-Orig: 1"));
	CHECK(next.headers[2] == NULL);
	sat_stac_request_clear(&next);
	free(items);
}

SAT_TEST(paging_get_links)
{
	struct sat_stac_request prev = {
		.method = "GET",
		.url = "https://h.example/api/v1/search?limit=10&bbox=1,2,3,4",
	};
	struct page p;
	char buf[1024];

	/* No method: GET; relative href against the previous URL. */
	page_parse_str(
		&p,
		page_with_link(
			"{\"rel\":\"next\",\"href\":\"search?page=2&token=x%2Fy\"}",
			buf, sizeof(buf)),
		&prev);
	CHECK_INT(p.ret, 0);
	CHECK(p.has_next);
	CHECK_STR(p.next.method, "GET");
	CHECK_STR(p.next.url,
		  "https://h.example/api/v1/search?page=2&token=x%2Fy");
	CHECK(p.next.body == NULL);
	CHECK(p.next.headers == NULL);
	page_free(&p);

	page_parse_str(
		&p,
		page_with_link(
			"{\"rel\":\"next\",\"href\":\"/other?p=3&u=http://x\"}",
			buf, sizeof(buf)),
		&prev);
	CHECK_STR(p.next.url, "https://h.example/other?p=3&u=http://x");
	page_free(&p);

	page_parse_str(
		&p,
		page_with_link(
			"{\"rel\":\"next\",\"href\":\"items?u=https://evil/x\"}",
			buf, sizeof(buf)),
		&prev);
	CHECK_STR(p.next.url,
		  "https://h.example/api/v1/items?u=https://evil/x");
	page_free(&p);

	page_parse_str(
		&p,
		page_with_link(
			"{\"rel\":\"next\",\"href\":\"//cdn.example/s?p=4\"}",
			buf, sizeof(buf)),
		&prev);
	CHECK_STR(p.next.url, "https://cdn.example/s?p=4");
	page_free(&p);

	/* Links that must not be followed: the page still parses. */
	static const char *const bad[] = {
		"{\"rel\":\"next\",\"href\":\"file:///etc/passwd\"}",
		"{\"rel\":\"next\",\"href\":\"ftp://h/x\"}",
		"{\"rel\":\"next\",\"href\":\"FILE:/etc/passwd\"}",
		"{\"rel\":\"next\",\"href\":\"javascript:alert(1)\"}",
		"{\"rel\":\"next\",\"method\":\"DELETE\",\"href\":\"/x\"}",
		"{\"rel\":\"next\",\"href\":42}",
		("{\"rel\":\"next\",\"method\":\"POST\",\"href\":\"/x\","
		 "\"body\":[1,2]}"),
		"{\"rel\":\"next\",\"method\":7,\"href\":\"/x\"}",
		"{\"rel\":[\"next\"],\"href\":\"/x\"}",
		"\"next\"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		page_parse_str(&p, page_with_link(bad[i], buf, sizeof(buf)),
			       &prev);
		CHECK_INT(p.ret, 0);
		CHECK(!p.has_next);
		CHECK(p.next.url == NULL && p.next.method == NULL);
		page_free(&p);
	}
	/* A relative next link with nothing to resolve it against. */
	page_parse_str(&p,
		       page_with_link("{\"rel\":\"next\",\"href\":\"/x\"}", buf,
				      sizeof(buf)),
		       NULL);
	CHECK_INT(p.ret, 0);
	CHECK(!p.has_next);
	page_free(&p);
}

SAT_TEST(fingerprint)
{
	struct sat_stac_request a = {
		.method = "POST",
		.url = "https://h/s",
		.body = "{\"b\":[1,{\"y\":2,\"x\":1}],\"a\":\"t1\"}"
	};
	struct sat_stac_request b = {
		.method = "POST",
		.url = "https://h/s",
		.body = " { \"a\" : \"t1\", \"b\":[1, {\"x\":1,\"y\":2}] }\n"
	};
	struct sat_stac_request c = {
		.method = "POST",
		.url = "https://h/s",
		.body = "{\"a\":\"t2\",\"b\":[1,{\"x\":1,\"y\":2}]}"
	};
	struct sat_stac_request d = { .method = "GET",
				      .url = "https://h/s?token=1" };
	struct sat_stac_request e = { .method = "GET",
				      .url = "https://h/s?token=2" };
	char *fa = sat_stac_request_fingerprint(&a);
	char *fb = sat_stac_request_fingerprint(&b);
	char *fc = sat_stac_request_fingerprint(&c);
	char *fd = sat_stac_request_fingerprint(&d);
	char *fe = sat_stac_request_fingerprint(&e);

	CHECK_STR(
		fa,
		"POST https://h/s\n{\"a\":\"t1\",\"b\":[1,{\"x\":1,\"y\":2}]}");
	CHECK_STR(fa, fb);
	CHECK(strcmp(fa, fc) != 0);
	CHECK_STR(fd, "GET https://h/s?token=1\n");
	CHECK(strcmp(fd, fe) != 0);
	CHECK(sat_stac_request_fingerprint(NULL) == NULL);
	free(fa);
	free(fb);
	free(fc);
	free(fd);
	free(fe);
}

/* ---- items: what is kept, what is skipped ------------------------------ */

#define ASSETS	  "\"assets\":{\"B04\":{\"href\":\"https://h/B04.tif\"}}"
#define PROPS(dt) "\"properties\":{\"datetime\":" dt "}"

/* Parses a page holding exactly one feature. */
static void one_item(struct page *p, const char *item)
{
	char *body;

	if (asprintf(&body,
		     "{\"type\":\"FeatureCollection\",\"features\":[%s]}",
		     item) < 0)
		abort();
	page_parse_str(p, body, NULL);
	free(body);
}

SAT_TEST(hostile_items_skipped)
{
	static const char *const bad[] = {
		"{\"id\":5," PROPS("\"2024-01-03T15:52:11Z\"") "," ASSETS "}",
		"{\"id\":\"\"," PROPS("\"2024-01-03T15:52:11Z\"") "," ASSETS
								  "}",
		"{\"id\":null," PROPS("\"2024-01-03T15:52:11Z\"") "," ASSETS
								  "}",
		"{" PROPS("\"2024-01-03T15:52:11Z\"") "," ASSETS "}",
		"{\"id\":\"a\"," PROPS("\"yesterday\"") "," ASSETS "}",
		"{\"id\":\"a\"," PROPS("5") "," ASSETS "}",
		"{\"id\":\"a\"," PROPS("null") "," ASSETS "}",
		"{\"id\":\"a\"," PROPS("[\"2024-01-03T15:52:11Z\"]") "," ASSETS
								     "}",
		"{\"id\":\"a\"," PROPS("\"2024-02-30T00:00:00Z\"") "," ASSETS
								   "}",
		"{\"id\":\"a\"," PROPS("\"2023-02-29T00:00:00Z\"") "," ASSETS
								   "}",
		"{\"id\":\"a\"," PROPS("\"2024-01-01\"") "," ASSETS "}",
		"{\"id\":\"a\"," PROPS("\"2024-01-01T00:00:00\"") "," ASSETS
								  "}",
		"{\"id\":\"a\"," PROPS("\"2024-01-01T24:00:00Z\"") "," ASSETS
								   "}",
		"{\"id\":\"a\"," PROPS("\"2024-13-01T00:00:00Z\"") "," ASSETS
								   "}",
		"{\"id\":\"a\"," PROPS("\"2024-01-01T00:00:00.Z\"") "," ASSETS
								    "}",
		"{\"id\":\"a\"," PROPS(
			"\"2024-01-01T00:00:00Zjunk\"") "," ASSETS "}",
		"{\"id\":\"a\"," PROPS(
			"\"2024-01-01T00:00:00+5:00\"") "," ASSETS "}",
		"{\"id\":\"a\"," PROPS("\"\"") "," ASSETS "}",
		"{\"id\":\"a\",\"properties\":[1]," ASSETS "}",
		"{\"id\":\"a\",\"properties\":null," ASSETS "}",
		"{\"id\":\"a\"," ASSETS "}",
		"{\"id\":\"a\"," PROPS("\"2024-01-03T15:52:11Z\"") "}",
		"{\"id\":\"a\"," PROPS(
			"\"2024-01-03T15:52:11Z\"") ",\"assets\":[{\"href\":\"https://h/B04.tif\"}]}",
		"{\"id\":\"a\"," PROPS(
			"\"2024-01-03T15:52:11Z\"") ",\"assets\":{}}",
		"{\"id\":\"a\"," PROPS(
			"\"2024-01-03T15:52:11Z\"") ",\"assets\":{\"a\":\"https://h/B04.tif\"}}",
		"{\"id\":\"a\"," PROPS(
			"\"2024-01-03T15:52:11Z\"") ",\"assets\":{\"a\":{\"href\":{\"u\":\"https://h\"}}}}",
		"{\"id\":\"a\"," PROPS(
			"\"2024-01-03T15:52:11Z\"") ",\"assets\":{\"a\":{\"href\":null},\"b\":{\"href\":[\"x\"]},"
						    "\"c\":{\"type\":\"image/tiff\"}}}",
		"[1,2]",
		"\"an item\"",
		"null",
		"42",
	};
	struct page p;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		one_item(&p, bad[i]);
		if (p.ret != 0 || p.n != 0 || p.skipped != 1)
			fprintf(stderr, "case %zu: %s\n", i, bad[i]);
		CHECK_INT(p.ret, 0);
		CHECK_INT(p.n, 0);
		CHECK_INT(p.skipped, 1);
		page_free(&p);
	}
}

SAT_TEST(hostile_fields_tolerated)
{
	const struct sat_asset *a;
	const struct sat_scene *s;
	struct page p;

	/* Wrong types in optional fields: the item stays, the field is
	 * unset. */
	one_item(&p, "{\"id\":\"a\",\"collection\":7,\"bbox\":[\"a\",\"b\","
		     "\"c\",\"d\"],\"geometry\":{\"type\":\"Polygon\","
		     "\"coordinates\":[[[1,2],[3,2],[3,5],[1,5],[1,2]]]},"
		     "\"properties\":{\"datetime\":\"2024-01-03T15:52:11Z\","
		     "\"eo:cloud_cover\":\"10\",\"proj:epsg\":\"32633\","
		     "\"s2:processing_baseline\":5,\"gsd\":\"x\"},"
		     "\"assets\":{\"B04\":{\"href\":\"https://h/B04.tif\","
		     "\"type\":9,\"eo:bands\":{\"name\":\"B04\"},"
		     "\"raster:bands\":{\"scale\":2},\"proj:transform\":"
		     "[\"10\",0,0,0,-10,0],\"proj:shape\":[-1,5],\"gsd\":[10],"
		     "\"proj:code\":\"EPSG:abc\"},\"bad\":[1],\"worse\":{}}}");
	CHECK_INT(p.ret, 0);
	CHECK_INT(p.n, 1);
	s = p.items[0];
	CHECK(s->collection == NULL);
	CHECK(!s->has_cloud);
	CHECK_INT(s->epsg, 0); /* unknown CRS: the caller decides */
	CHECK(s->processing_baseline == NULL);
	CHECK_NEAR(s->bbox[0], 1, 0); /* from the geometry */
	CHECK_NEAR(s->bbox[1], 2, 0);
	CHECK_NEAR(s->bbox[2], 3, 0);
	CHECK_NEAR(s->bbox[3], 5, 0);
	CHECK_INT(s->nassets, 1);
	a = &s->assets[0];
	CHECK(a->type == NULL && a->band_name == NULL);
	CHECK(!a->has_scale && !a->has_transform && !a->has_nodata);
	CHECK_INT(a->shape[0], 0);
	CHECK_NEAR(a->gsd, 0, 0);
	CHECK_INT(a->epsg, 0);
	page_free(&p);

	/* No bbox, no geometry: zeros. A 3D bbox: its 2D part. */
	one_item(&p, "{\"id\":\"a\",\"bbox\":[1,2],\"geometry\":null," PROPS(
			     "\"2024-01-03T15:52:11Z\"") "," ASSETS "}");
	CHECK_INT(p.n, 1);
	CHECK_NEAR(p.items[0]->bbox[2], 0, 0);
	page_free(&p);
	one_item(&p, "{\"id\":\"a\",\"bbox\":[1,2,-5,3,4,9]," PROPS(
			     "\"2024-01-03T15:52:11Z\"") "," ASSETS "}");
	CHECK_NEAR(p.items[0]->bbox[2], 3, 0);
	CHECK_NEAR(p.items[0]->bbox[3], 4, 0);
	page_free(&p);
}

SAT_TEST(item_datetimes)
{
	static const struct {
		const char *props;
		time_t t;
		const char *date;
	} ok[] = {
		{ "\"datetime\":\"2024-01-03T15:52:11Z\"", 1704297131,
		  "2024-01-03" },
		{ "\"datetime\":\"2024-01-03t15:52:11.999999z\"", 1704297131,
		  "2024-01-03" },
		{ "\"datetime\":\"2024-01-03T16:52:11.5+01:00\"", 1704297131,
		  "2024-01-03" },
		{ "\"datetime\":\"2024-01-03T10:22:11-05:30\"", 1704297131,
		  "2024-01-03" },
		{ "\"datetime\":\"2024-01-03T23:30:00-02:00\"", 1704331800,
		  "2024-01-04" },
		{ "\"datetime\":null,\"start_datetime\":\"2024-01-03T15:52:11Z\","
		  "\"end_datetime\":\"2024-01-04T00:00:00Z\"",
		  1704297131, "2024-01-03" },
		{ "\"datetime\":\"2016-12-31T23:59:60Z\"", 1483228800,
		  "2017-01-01" },
		{ "\"datetime\":\"2024-02-29T00:00:00Z\"", 1709164800,
		  "2024-02-29" },
	};
	struct page p;
	char item[512];
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(item, sizeof(item),
			 "{\"id\":\"a\",\"properties\":{%s}," ASSETS "}",
			 ok[i].props);
		one_item(&p, item);
		CHECK_INT(p.n, 1);
		if (p.n == 1) {
			CHECK_INT(p.items[0]->datetime, ok[i].t);
			CHECK_STR(p.items[0]->date, ok[i].date);
		}
		page_free(&p);
	}
}

SAT_TEST(item_band_lookup)
{
	const struct sat_asset *a;
	const struct sat_scene *s;
	struct page p;

	one_item(
		&p,
		"{\"id\":\"x\",\"geometry\":{\"type\":\"MultiPolygon\","
		"\"coordinates\":[[[[10,20],[11,20],[11,21],[10,20]]],"
		"[[[-5,30],[-4,30],[-4,31],[-5,30]]]]},"
		"\"properties\":{\"datetime\":\"2024-01-03T15:52:11Z\","
		"\"proj:code\":\"EPSG:32617\",\"gsd\":60,"
		"\"proj:transform\":[10,0,5,0,-10,6],\"proj:shape\":[100,200]},"
		"\"assets\":{"
		"\"B04\":{\"href\":\"https://h/B04.jp2\",\"type\":\"image/jp2\"},"
		"\"red-jp2\":{\"href\":\"s3://x/B04.jp2\",\"type\":\"image/jp2\","
		"\"eo:bands\":[{\"name\":\"B04\",\"common_name\":\"red\"}]},"
		"\"band4\":{\"href\":\"https://h/b4.TIF?sig=1\",\"eo:bands\":"
		"[{\"name\":\"B04\",\"common_name\":\"red\"}]},"
		"\"visual\":{\"href\":\"https://h/TCI.tif\",\"type\":"
		"\"image/tiff; profile=cloud-optimized\",\"eo:bands\":"
		"[{\"name\":\"red\"},{\"name\":\"green\"},{\"name\":\"blue\"}]},"
		"\"x1\":{\"href\":\"https://h/x1\",\"eo:bands\":"
		"[{\"common_name\":\"nir\"}]},"
		"\"x1cog\":{\"href\":\"https://h/x1.tif\",\"type\":\"image/tiff; "
		"application=geotiff; profile=cloud-optimized\",\"bands\":"
		"[{\"name\":\"nirband\",\"eo:common_name\":\"nir\"}]},"
		"\"sw\":{\"href\":\"https://h/sw.tif\",\"bands\":[{\"name\":"
		"\"B11\",\"raster:scale\":0.0002,\"raster:offset\":-0.1,"
		"\"nodata\":0,\"raster:spatial_resolution\":20}]},"
		"\"sw22\":{\"href\":\"https://h/sw22.tif\",\"raster:scale\":0.5,"
		"\"nodata\":\"nan\",\"eo:common_name\":\"swir22\",\"gsd\":25},"
		"\"scl\":{\"href\":\"https://h/SCL.tif\",\"raster:bands\":"
		"[{\"offset\":-1}],\"proj:transform\":[20,0,100,0,-20,200],"
		"\"proj:code\":\"EPSG:32633\"}}}");
	CHECK_INT(p.ret, 0);
	CHECK_INT(p.n, 1);
	s = p.items[0];
	CHECK_INT(s->nassets, 9);
	CHECK_INT(s->epsg, 32617);
	CHECK_NEAR(s->bbox[0], -5, 0); /* over both polygons */
	CHECK_NEAR(s->bbox[1], 20, 0);
	CHECK_NEAR(s->bbox[2], 11, 0);
	CHECK_NEAR(s->bbox[3], 31, 0);

	a = sat_scene_find_band(s, "B4"); /* not the jp2s, not visual */
	CHECK(a != NULL);
	CHECK_STR(a->key, "band4");
	CHECK(a == sat_scene_find_band(s, "RED"));
	CHECK(a == sat_scene_find_band(s, "b04"));
	CHECK(a->has_transform); /* the item's */
	CHECK_NEAR(a->transform[2], 5, 0);
	CHECK_NEAR(a->gsd, 10, 0);
	CHECK_INT(a->shape[0], 100);
	CHECK_INT(a->shape[1], 200);
	CHECK_STR(sat_scene_find_band(s, "B8")->key, "x1cog"); /* COG first */
	CHECK_STR(sat_scene_find_band(s, "nir")->key, "x1cog");
	a = sat_scene_find_band(s, "swir16");
	CHECK(a && !strcmp(a->key, "sw"));
	CHECK(a == sat_scene_find_band(s, "B11"));
	CHECK(a->has_scale);
	CHECK_NEAR(a->scale, 0.0002, 1e-15);
	CHECK_NEAR(a->offset, -0.1, 1e-15);
	CHECK(a->has_nodata);
	CHECK_NEAR(a->gsd, 20, 0);
	a = sat_scene_find_band(s, "B12");
	CHECK(a && !strcmp(a->key, "sw22"));
	CHECK(a->has_scale && a->scale == 0.5 && a->offset == 0);
	CHECK(a->has_nodata && a->nodata != a->nodata); /* NaN */
	CHECK_NEAR(a->gsd, 25, 0); /* its gsd beats the item's transform */
	a = sat_scene_find_band(s, "scl");
	CHECK(a && !strcmp(a->key, "scl"));
	CHECK(a->has_scale && a->scale == 1 && a->offset == -1);
	CHECK_NEAR(a->gsd, 20, 0);
	CHECK_INT(a->epsg, 32633);
	CHECK_STR(sat_scene_find_band(s, "visual")->key, "visual");
	CHECK(sat_scene_find_band(s, "B2") == NULL);
	CHECK(sat_scene_find_band(s, "nothing") == NULL);
	CHECK(sat_scene_find_band(NULL, "B4") == NULL);
	CHECK(sat_scene_find_band(s, NULL) == NULL);
	page_free(&p);

	/* The scene CRS from the first asset that has one; item gsd last. */
	one_item(
		&p,
		"{\"id\":\"y\"," PROPS(
			"\"2024-01-03T15:52:11Z\"") ",\"assets\":{\"a\":{\"href\":\"https://h/a.tif\"},"
						    "\"b\":{\"href\":\"https://h/b.tif\",\"proj:epsg\":32735},"
						    "\"c\":{\"href\":\"https://h/c.tif\",\"proj:epsg\":4326}}}");
	CHECK_INT(p.n, 1);
	CHECK_INT(p.items[0]->epsg, 32735);
	page_free(&p);
}

/* ---- hostile documents -------------------------------------------------- */

SAT_TEST(hostile_documents_refused)
{
	static const char *const bad[] = {
		"",
		"{\"type\":\"FeatureCollection\",\"features\":[]} x",
		"{\"type\":\"FeatureCollection\",\"features\":[]}{}",
		"{\"type\":\"FeatureCollection\",\"features\":[",
		"{\"type\":\"FeatureCollection\",\"features\":[],}",
		"{'type':'FeatureCollection','features':[]}",
		"{\"type\":\"FeatureCollection\",\"features\":[tru]}",
		"{\"type\":\"FeatureCollection\",\"features\":{}}",
		"{\"type\":\"Feature\",\"features\":[]}",
		"{\"type\":7,\"features\":[]}",
		"{\"features\":\"none\"}",
		"[]",
		"5",
		"\"FeatureCollection\"",
		"null",
		"{\"type\":\"FeatureCollection\",\"features\":[\"\xff\xfe\"]}",
	};
	struct page p;
	char *deep, *big;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		page_parse_str(&p, bad[i], &es_prev);
		if (p.ret != -EINVAL)
			fprintf(stderr, "case %zu: %s\n", i, bad[i]);
		CHECK_INT(p.ret, -EINVAL);
		CHECK(!p.has_next && p.n == 0);
		page_free(&p);
	}
	/* A NUL inside the body, after the value. */
	page_parse(&p, "{\"features\":[]}\0{}", 18, NULL);
	CHECK_INT(p.ret, -EINVAL);
	page_free(&p);
	/* json-c reads NaN even when strict: not an item, skipped. */
	page_parse_str(&p, "{\"features\":[NaN,-Infinity]}", NULL);
	CHECK_INT(p.ret, 0);
	CHECK_INT(p.skipped, 2);
	page_free(&p);
	/* Whitespace after the value is fine. */
	page_parse_str(&p, "{\"features\":[]}\r\n\t ", NULL);
	CHECK_INT(p.ret, 0);
	page_free(&p);

	/* 10000 nested arrays: refused by depth, not by the stack. */
	deep = malloc(20002);
	memset(deep, '[', 10000);
	memset(deep + 10000, ']', 10000);
	deep[20000] = '\0';
	page_parse_str(&p, deep, NULL);
	CHECK_INT(p.ret, -EINVAL);
	page_free(&p);
	{
		struct sat_stac_caps caps;
		double *ll;
		size_t n;

		CHECK_INT(
			sat_stac_parse_landing(deep, 20000, "https://a", &caps),
			-EINVAL);
		CHECK_INT(sat_stac_parse_geojson_ring(deep, 20000, &ll, &n),
			  -EINVAL);
	}
	free(deep);

	/* Over the size cap: refused whatever it holds. */
	big = malloc((size_t)SAT_STAC_MAX_BODY + 1);
	memset(big, ' ', (size_t)SAT_STAC_MAX_BODY + 1);
	memcpy(big, "{\"features\":[]}", 15);
	page_parse(&p, big, (size_t)SAT_STAC_MAX_BODY + 1, NULL);
	CHECK_INT(p.ret, -EINVAL);
	page_free(&p);
	free(big);

	/* Failures leave the caller's earlier items alone. */
	{
		struct sat_scene **items = NULL;
		struct sat_stac_request next;
		size_t n = 0, skipped = 0;
		bool has_next;
		const char *ok = "{\"features\":[{\"id\":\"k\"," PROPS(
			"\"2024-01-03T15:52:11Z\"") "," ASSETS "}]}";

		CHECK_INT(sat_stac_parse_page(ok, strlen(ok), NULL, NULL, &items, &n,
					      &skipped, &next, &has_next),
			  0);
		CHECK_INT(sat_stac_parse_page(ok, strlen(ok), NULL, NULL, &items, &n,
					      &skipped, &next, &has_next),
			  0);
		CHECK_INT(sat_stac_parse_page("{", 1, NULL, NULL, &items, &n,
					      &skipped, &next, &has_next),
			  -EINVAL);
		CHECK_INT(n, 2);
		CHECK_STR(items[1]->id, "k");
		sat_scene_free(items[0]);
		sat_scene_free(items[1]);
		free(items);
	}
}

/* ---- file names ---------------------------------------------------------- */

static bool valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	int i, n;

	while (*p) {
		n = *p < 0x80		  ? 0
		    : (*p & 0xe0) == 0xc0 ? 1
		    : (*p & 0xf0) == 0xe0 ? 2
		    : (*p & 0xf8) == 0xf0 ? 3
					  : -1;
		if (n < 0)
			return false;
		for (i = 1; i <= n; i++)
			if ((p[i] & 0xc0) != 0x80)
				return false;
		p += n + 1;
	}
	return true;
}

SAT_TEST(sanitize_ids)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "S2B_17PMK_20240103_0_L2A", "S2B_17PMK_20240103_0_L2A" },
		{ "a/b", "a_b" },
		{ "../../etc/passwd", ".._.._etc_passwd" },
		{ "..", "_.." },
		{ ".", "_." },
		{ "", "_" },
		{ "...", "..." },
		{ "a\\b", "a_b" },
		{ "a\nb\rc\td\x1b"
		  "e\x7f",
		  "a_b_c_d_e_" },
		{ "caf\xc3\xa9 \xe6\x97\xa5", "caf\xc3\xa9 \xe6\x97\xa5" },
	};
	char *long_id, *s, *t;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = sat_stac_sanitize_id(cases[i].in);
		CHECK_STR(s, cases[i].out);
		free(s);
	}

	long_id = malloc(5001);
	memset(long_id, 'x', 5000);
	long_id[5000] = '\0';
	long_id[10] = '/';
	s = sat_stac_sanitize_id(long_id);
	CHECK_INT(strlen(s), SAT_STAC_MAX_ID);
	CHECK(strchr(s, '/') == NULL);
	CHECK(s[10] == '_');
	CHECK(s[SAT_STAC_MAX_ID - 17] == '-');
	CHECK_INT(strspn(s + SAT_STAC_MAX_ID - 16, "0123456789abcdef"), 16);
	long_id[4999] = 'y'; /* a different tail: a different name */
	t = sat_stac_sanitize_id(long_id);
	CHECK(strcmp(s, t) != 0);
	CHECK_INT(strncmp(s, t, SAT_STAC_MAX_ID - 17), 0);
	free(t);
	free(s);

	/* 2-byte characters: the cut may not split one. */
	for (i = 0; i < 300; i += 2) {
		long_id[i] = (char)0xc3;
		long_id[i + 1] = (char)0xa9;
	}
	long_id[300] = '\0';
	s = sat_stac_sanitize_id(long_id);
	CHECK(strlen(s) <= SAT_STAC_MAX_ID);
	CHECK(valid_utf8(s));
	CHECK_INT(strlen(s), SAT_STAC_MAX_ID - 1);
	free(s);
	/* 4-byte characters likewise. */
	for (i = 0; i < 400; i += 4)
		memcpy(long_id + i, "\xf0\x9f\x9b\xb0", 4);
	long_id[400] = '\0';
	s = sat_stac_sanitize_id(long_id);
	CHECK(valid_utf8(s));
	CHECK(strlen(s) <= SAT_STAC_MAX_ID);
	free(s);
	/* Exactly at the cap: kept as it is. */
	memset(long_id, 'z', SAT_STAC_MAX_ID);
	long_id[SAT_STAC_MAX_ID] = '\0';
	s = sat_stac_sanitize_id(long_id);
	CHECK_STR(s, long_id);
	free(s);
	free(long_id);

	/* Through a page: file_id set, id unchanged. */
	{
		struct page p;

		one_item(&p,
			 "{\"id\":\"../a/b\\u0001c\"," PROPS(
				 "\"2024-01-03T15:52:11Z\"") "," ASSETS "}");
		CHECK_INT(p.n, 1);
		CHECK_STR(p.items[0]->id, "../a/b\x01"
					  "c");
		CHECK_STR(p.items[0]->file_id, ".._a_b_c");
		page_free(&p);
	}
}

/* ---- GeoJSON rings -------------------------------------------------------- */

static int ring_of(const char *doc, double **ll, size_t *n)
{
	return sat_stac_parse_geojson_ring(doc, strlen(doc), ll, n);
}

SAT_TEST(geojson_rings)
{
	static const char *const good[] = {
		"{\"type\":\"Polygon\",\"coordinates\":[[[-82.48,8.35],"
		"[-82.39,8.35],[-82.39,8.44],[-82.48,8.44],[-82.48,8.35]],"
		"[[-82.45,8.4],[-82.44,8.4],[-82.44,8.41]]]}",
		"{\"type\":\"MultiPolygon\",\"coordinates\":[[[[-82.48,8.35],"
		"[-82.39,8.35],[-82.39,8.44],[-82.48,8.44]]],[[[0,0],[1,0],"
		"[1,1],[0,0]]]]}",
		"{\"type\":\"Feature\",\"properties\":{},\"geometry\":"
		"{\"type\":\"Polygon\",\"coordinates\":[[[-82.48,8.35,0],"
		"[-82.39,8.35,0],[-82.39,8.44,0],[-82.48,8.44,0],"
		"[-82.48,8.35,0]]]}}",
		"{\"type\":\"FeatureCollection\",\"features\":[{\"type\":"
		"\"Feature\",\"geometry\":{\"type\":\"MultiPolygon\","
		"\"coordinates\":[[[[-82.48,8.35],[-82.39,8.35],[-82.39,8.44],"
		"[-82.48,8.44],[-82.48,8.35]]]]}},{\"type\":\"Feature\"}]}",
	};
	static const char *const bad[] = {
		"{\"type\":\"Point\",\"coordinates\":[1,2]}",
		"{\"type\":\"Polygon\",\"coordinates\":[]}",
		"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,1],[0,0]]]}",
		"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1,\"1\"],[2,0],"
		"[0,0]]]}",
		"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[1],[2,0],[0,0]]]}",
		"{\"type\":\"Polygon\",\"coordinates\":[[[0,0],[500000,0],"
		"[2,4000000],[0,0]]]}",
		"{\"type\":\"Polygon\",\"coordinates\":\"[[[0,0]]]\"}",
		"{\"type\":\"Feature\",\"geometry\":null}",
		"{\"type\":\"FeatureCollection\",\"features\":[]}",
		"{\"type\":\"FeatureCollection\",\"features\":[{\"type\":"
		"\"FeatureCollection\",\"features\":[{\"type\":\"Feature\","
		"\"geometry\":{\"type\":\"FeatureCollection\"}}]}]}",
		"[[0,0],[1,0],[1,1]]",
		"{\"type\":\"Polygon\"",
	};
	double *ll;
	size_t i, n;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK_INT(ring_of(good[i], &ll, &n), 0);
		CHECK_INT(n, 4); /* open: the closing point dropped */
		if (n == 4) {
			CHECK_NEAR(ll[0], -82.48, 0);
			CHECK_NEAR(ll[1], 8.35, 0);
			CHECK_NEAR(ll[4], -82.39, 0);
			CHECK_NEAR(ll[7], 8.44, 0);
		}
		free(ll);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(ring_of(bad[i], &ll, &n), -EINVAL);
		CHECK(ll == NULL && n == 0);
	}
}
