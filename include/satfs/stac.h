/*
 * stac: the STAC API's JSON (json-c, and only here): the landing page, the
 * search request body, result pages with their `next` links, and items as
 * scenes. No I/O; the catalog module drives the requests.
 *
 * Everything parsed is untrusted: bodies over SAT_STAC_MAX_BODY or nested
 * deeper than json-c's default depth are refused, every field is
 * type-checked, and a bad item is skipped with one warning, never a crash.
 * Thread-safe: no shared state.
 */
#ifndef SATFS_STAC_H
#define SATFS_STAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct sat_source;

#define SAT_STAC_MAX_BODY (64u << 20)
#define SAT_STAC_MAX_ID 200 /* longer ids are cut and suffixed with a hash */

/* One asset (a band file) of an item. */
struct sat_asset {
	char *key;          /* asset key: "red", "B04", "visual" */
	char *href;         /* http(s) URL; assets with other schemes are
			       kept but never fetched */
	char *type;         /* media type ("image/tiff; ..."), or NULL */
	char *band_name;    /* eo:bands[0].name or bands[0].name ("B04"), or NULL */
	char *common_name;  /* eo:bands[0].common_name ("red"), or NULL */
	bool has_scale;     /* raster:bands[0] scale/offset present */
	double scale, offset;
	bool has_nodata;
	double nodata;
	int data_type;      /* raster:bands data_type as enum sat_sample_type,
			       or -1 when not given */
	double gsd;         /* metres, from asset gsd / raster:bands
			       spatial_resolution / proj:transform; 0 unknown */
	int epsg;           /* asset-level proj:epsg/proj:code, 0 if none */
	bool has_transform; /* asset-level proj:transform */
	double transform[6];/* a, b, c, d, e, f as in STAC (GDAL order differs) */
	int shape[2];       /* proj:shape rows, cols; 0 if none */
};

/* One STAC item. */
struct sat_scene {
	char *id;           /* exactly as the catalog gave it */
	char *file_id;      /* sanitised: safe as a file name component */
	char *collection;
	time_t datetime;    /* acquisition time (UTC) */
	char date[11];      /* YYYY-MM-DD of datetime */
	bool has_cloud;
	double cloud_cover; /* eo:cloud_cover percent */
	int epsg;           /* item proj:epsg or proj:code; 0 unknown */
	double bbox[4];     /* item bbox, lon/lat */
	char *processing_baseline; /* s2:processing_baseline or NULL */
	struct sat_asset *assets;
	size_t nassets;
	char *json;         /* the item object as returned (serialised) */
	size_t json_len;
	struct sat_source *source; /* the source that listed it (borrowed;
				      set by the source, NULL until then) */
};

void sat_scene_free(struct sat_scene *s);

/* The asset for a band named as a user writes it: "B8", "B08", "nir",
 * "B8A", "nir08", "red" ... Matches asset keys, eo:bands names and common
 * names through the Sentinel-2 alias table (B1 coastal, B2 blue, B3 green,
 * B4 red, B5 rededge1, B6 rededge2, B7 rededge3, B8 nir, B8A nir08,
 * B9 nir09, B10 cirrus, B11 swir16, B12 swir22). Borrowed, or NULL. */
const struct sat_asset *sat_scene_find_band(const struct sat_scene *s,
					    const char *band);

/* Is name (as a product writes it: "B8", "B08", "nir", "scl", "visual:1")
 * a band or asset of Sentinel-2 L2A? */
bool sat_band_is_sentinel2(const char *name);

/* The keys of the scene's assets a product can name (GeoTIFFs, or of
 * unknown type), comma-separated into buf ("no raster asset" when none,
 * cut with "..." when it does not fit). Returns buf. */
const char *sat_scene_band_list(const struct sat_scene *s, char *buf,
				size_t len);

/* How readable an asset is for the COG reader: 3 a cloud-optimized
 * GeoTIFF, 2 a GeoTIFF, 1 unknown (no type, no telling extension), 0
 * something else (JPEG 2000, XML, ...). */
int sat_asset_cog_score(const struct sat_asset *a);

/* What the landing page offers. */
struct sat_stac_caps {
	bool search_post;   /* a "search" link with method POST (or none said) */
	bool search_get;
	bool cql2_filter;   /* conformsTo has Item Search Filter and one of: */
	bool cql2_json;     /*   CQL2 JSON (.../cql2/1.0/conf/cql2-json) */
	bool cql2_text;     /*   CQL2 Text (.../cql2/1.0/conf/cql2-text) */
	char *search_href;  /* absolute URL of /search, malloc'd */
};
/* Parses the landing page. base_url is the API root, used when the page
 * has no search link. Returns 0 or -EINVAL. */
int sat_stac_parse_landing(const char *body, size_t len, const char *base_url,
			   struct sat_stac_caps *caps);
void sat_stac_caps_clear(struct sat_stac_caps *caps);

/* A search request, as it goes on the wire. */
struct sat_stac_request {
	char *method;       /* "POST" or "GET" */
	char *url;          /* for GET, with the query string */
	char *body;         /* JSON for POST, or NULL */
	char **headers;     /* "Name: value", NULL-terminated, or NULL */
};
void sat_stac_request_clear(struct sat_stac_request *r);

struct sat_stac_query {
	const char *collection;
	const double *ring;  /* lon,lat pairs; bbox used if is_bbox */
	size_t nring;
	bool is_bbox;
	const double *bbox;  /* W,S,E,N */
	time_t from, to;     /* inclusive */
	double max_cloud;    /* < 0: no cloud filter */
	int limit;           /* page size */
};
/* Builds the first search request for caps (POST with collections, bbox
 * or intersects, datetime, limit, query eo:cloud_cover lt; plus a CQL2
 * filter when caps->cql2_filter, in CQL2 JSON for a POST when offered,
 * else in CQL2 Text, with its filter-lang; GET with the same as query
 * parameters when only GET is offered, the filter then in CQL2 Text when
 * offered). 0 or -ENOMEM. */
int sat_stac_build_search(const struct sat_stac_caps *caps,
			  const struct sat_stac_query *q,
			  struct sat_stac_request *out);

/* Parses one page of results. Every valid item is appended to
 * *items and *nitems (the array is grown with realloc; items are owned by the
 * caller). Items that fail validation (no id, no datetime, no assets,
 * wrong types) are skipped with a warning and counted in *skipped.
 * When the page has a `next` link, *next is filled from it exactly as
 * given (method, href, body, headers; when `merge` is true, its body and
 * headers merged into orig's, the search's original request, as the STAC
 * API spec says) and *has_next set; prev is the request that produced
 * this page (hrefs resolve against it), orig the first request of the
 * search (NULL: prev). Returns 0 or -EINVAL (the page itself is not a
 * FeatureCollection). */
int sat_stac_parse_page(const char *body, size_t len,
			const struct sat_stac_request *prev,
			const struct sat_stac_request *orig,
			struct sat_scene ***items, size_t *nitems,
			size_t *skipped, struct sat_stac_request *next,
			bool *has_next);

/* What an error answer (a 4xx body) says, for a log line: the STAC API's
 * {"code": .., "description": ..} as "code: description", else the first
 * line of the body, printable, at most buflen - 1 bytes (and 256 of the
 * body); values of secret-looking keys (sig=, token=, key=, ...) are
 * blanked. Returns buf ("" for no body). */
const char *sat_stac_error_text(const char *body, size_t len, char *buf,
				size_t buflen);

/* A token identifying a `next` request (its href and body), so a caller
 * can stop on one seen before. malloc'd string. */
char *sat_stac_request_fingerprint(const struct sat_stac_request *r);

/* Reads a GeoJSON Polygon (or Feature / FeatureCollection whose first
 * geometry is a Polygon or MultiPolygon: its first outer ring) into lon,lat
 * pairs (malloc'd, not closed). 0 or -EINVAL. */
int sat_stac_parse_geojson_ring(const char *body, size_t len,
				double **lonlat, size_t *n);

/* Turns an item id into a safe file name component: no '/', no NUL or
 * control characters, not "." or "..", at most SAT_STAC_MAX_ID bytes (a
 * longer one is cut and suffixed with a hash of the whole). malloc'd. */
char *sat_stac_sanitize_id(const char *id);

/* Planetary Computer's SAS token answer, {"msft:expiry": "2026-...Z",
 * "token": "se=...&sig=..."}: the token (malloc'd; refused unless it is
 * at most SAT_STAC_MAX_TOKEN bytes of characters safe in a query string)
 * and its expiry. 0, -EINVAL or -ENOMEM (*token NULL on error). */
#define SAT_STAC_MAX_TOKEN 4096
int sat_stac_parse_sas_token(const char *body, size_t len, char **token,
			     time_t *expiry);

#endif
