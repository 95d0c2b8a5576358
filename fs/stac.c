/*
 * stac: the STAC API's JSON, see include/satfs/stac.h. This file has the
 * requests (landing page, search body, `next` links, fingerprints) and the
 * GeoJSON ring reader; items are in stac_item.c.
 *
 * json-c is used here and in stac_item.c only. Bodies are parsed with a
 * tokener of bounded depth, strict and UTF-8 validating, and refused when
 * anything but whitespace follows the value. No shared state: thread-safe.
 */
#include "satfs/stac.h"
#include "satfs/log.h"
#include "stac_private.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

/* ---- JSON helpers ------------------------------------------------------ */

int sat_stac_json_parse(const char *body, size_t len, struct json_object **out)
{
	enum json_tokener_error err;
	struct json_tokener *tok;
	struct json_object *obj;
	size_t end;

	*out = NULL;
	if (!body || len == 0 || len > SAT_STAC_MAX_BODY)
		return -EINVAL;
	tok = json_tokener_new_ex(SAT_STAC_MAX_DEPTH);
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
					    JSON_TOKENER_ALLOW_TRAILING_CHARS |
					    JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, body, (int)len);
	err = json_tokener_get_error(tok);
	if (err == json_tokener_continue && !obj) {
		/* A bare number has no end of its own: say where input ends. */
		obj = json_tokener_parse_ex(tok, "", 1);
		err = json_tokener_get_error(tok);
		end = len;
	} else {
		end = json_tokener_get_parse_end(tok);
	}
	json_tokener_free(tok);
	if (err != json_tokener_success || !obj) {
		sat_debug("stac: JSON refused: %s",
			  json_tokener_error_desc(err));
		json_object_put(obj);
		return -EINVAL;
	}
	for (; end < len; end++) {
		if (!strchr(" \t\r\n", body[end]) || body[end] == '\0') {
			sat_debug("stac: JSON refused: data after the value");
			json_object_put(obj);
			return -EINVAL;
		}
	}
	*out = obj;
	return 0;
}

struct json_object *sat_stac_get(struct json_object *obj, const char *key,
				 int json_type)
{
	struct json_object *v;

	if (!json_object_is_type(obj, json_type_object) ||
	    !json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, (enum json_type)json_type))
		return NULL;
	return v;
}

const char *sat_stac_get_str(struct json_object *obj, const char *key)
{
	return json_object_get_string(sat_stac_get(obj, key, json_type_string));
}

bool sat_stac_get_num(struct json_object *obj, const char *key, double *v)
{
	struct json_object *n;
	double d;

	n = sat_stac_get(obj, key, json_type_double);
	if (!n)
		n = sat_stac_get(obj, key, json_type_int);
	if (!n)
		return false;
	d = json_object_get_double(n);
	if (!isfinite(d))
		return false;
	*v = d;
	return true;
}

const char *sat_stac_printable(const char *s, char *buf, size_t len)
{
	size_t i;

	if (!s)
		s = "(none)";
	for (i = 0; s[i] && i + 1 < len; i++)
		buf[i] =
			(unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	if (len)
		buf[i < len ? i : len - 1] = '\0';
	return buf;
}

char *sat_stac_json_dup(struct json_object *obj)
{
	const char *s = json_object_to_json_string_ext(
		obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

	return s ? strdup(s) : NULL;
}

/* Only http and https are ever followed, whatever a catalog says. */
static bool is_http_url(const char *url)
{
	return !strncasecmp(url, "http://", 7) ||
	       !strncasecmp(url, "https://", 8);
}

/* RFC 3986: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
static bool has_scheme(const char *s)
{
	if (!isalpha((unsigned char)*s))
		return false;
	while (isalnum((unsigned char)*s) || *s == '+' || *s == '-' ||
	       *s == '.')
		s++;
	return *s == ':';
}

/* href resolved against base (RFC 3986, the cases catalogs use: absolute,
 * scheme-relative, host-relative, path-relative). NULL when it cannot be
 * (no http(s) result) or on ENOMEM. */
char *sat_stac_resolve_href(const char *base, const char *href)
{
	const char *host, *path, *slash;
	char *out;

	if (has_scheme(href)) /* absolute: "file:", "s3:", "javascript:" no */
		return is_http_url(href) ? strdup(href) : NULL;
	if (!base || !is_http_url(base))
		return NULL;
	host = strstr(base, "://") + 3;
	path = host + strcspn(host, "/?#");
	if (!strncmp(href, "//", 2)) {
		if (asprintf(&out, "%.*s%s", (int)(host - base - 2), base,
			     href) < 0)
			return NULL;
	} else if (href[0] == '/') {
		if (asprintf(&out, "%.*s%s", (int)(path - base), base, href) <
		    0)
			return NULL;
	} else {
		/* Relative to the directory of base's path. */
		const char *q = path + strcspn(path, "?#");

		slash = NULL;
		for (const char *p = path; p < q; p++)
			if (*p == '/')
				slash = p;
		if (!slash) {
			if (asprintf(&out, "%.*s/%s", (int)(path - base), base,
				     href) < 0)
				return NULL;
		} else if (asprintf(&out, "%.*s%s", (int)(slash + 1 - base),
				    base, href) < 0) {
			return NULL;
		}
	}
	return out;
}

/* ---- landing page ------------------------------------------------------ */

/* The filter extension's conformance classes
 * (https://github.com/stac-api-extensions/filter, "Conformance Classes"):
 * Item Search Filter binds `filter` to /search; CQL2 JSON and CQL2 Text
 * say which encodings it takes. A substring such as "cql2" is not enough:
 * a server offering only cql2-text answers a JSON filter with 400. */
#define CQL2_JSON_CLASS "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json"
#define CQL2_TEXT_CLASS "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text"

static bool is_item_search_filter(const char *uri)
{
	const char *f = strstr(uri, "/item-search#filter");

	return (!strncmp(uri, "https://api.stacspec.org/", 25) ||
		!strncmp(uri, "http://api.stacspec.org/", 24)) &&
	       f && !strcmp(f, "/item-search#filter");
}

static void offers_cql2(struct json_object *root, struct sat_stac_caps *caps)
{
	struct json_object *arr =
		sat_stac_get(root, "conformsTo", json_type_array);
	size_t i, n = arr ? json_object_array_length(arr) : 0;
	bool binding = false;
	const char *c;

	for (i = 0; i < n; i++) {
		c = json_object_get_string(json_object_array_get_idx(arr, i));
		if (!json_object_is_type(json_object_array_get_idx(arr, i),
					 json_type_string))
			continue;
		binding |= is_item_search_filter(c);
		caps->cql2_json |= !strcmp(c, CQL2_JSON_CLASS);
		caps->cql2_text |= !strcmp(c, CQL2_TEXT_CLASS);
	}
	if (!binding)
		caps->cql2_json = caps->cql2_text = false;
	caps->cql2_filter = caps->cql2_json || caps->cql2_text;
}

/* Reads the rel=search links: which methods, and the first href of each.
 * Borrowed strings. */
static void search_links(struct json_object *root, struct sat_stac_caps *caps,
			 const char **post_href, const char **get_href)
{
	struct json_object *arr = sat_stac_get(root, "links", json_type_array);
	size_t i, n = arr ? json_object_array_length(arr) : 0;
	const char *rel, *method, *href;
	struct json_object *l, *m;
	bool any = false;

	for (i = 0; i < n; i++) {
		l = json_object_array_get_idx(arr, i);
		rel = sat_stac_get_str(l, "rel");
		method = sat_stac_get_str(l, "method");
		href = sat_stac_get_str(l, "href");
		if (!rel || strcmp(rel, "search") || !href)
			continue;
		if (!method && json_object_object_get_ex(l, "method", &m) && m)
			continue; /* a method, but not a string */
		any = true;
		/* The STAC API spec makes GET the default method. */
		if (method && !strcasecmp(method, "POST")) {
			caps->search_post = true;
			*post_href = *post_href ? *post_href : href;
		} else if (!method || !strcasecmp(method, "GET")) {
			caps->search_get = true;
			*get_href = *get_href ? *get_href : href;
		}
	}
	if (!any) {
		/* Nothing said: try what the API spec's /search offers. */
		caps->search_post = caps->search_get = true;
	}
}

/* The search URL: href resolved against the API root (a landing page is
 * the root, so relative links resolve against base + "/"), else base +
 * "/search". NULL when neither gives an http(s) URL, or on ENOMEM. */
static char *search_url(const char *base_url, const char *href)
{
	char *base = NULL, *url = NULL;
	size_t n;

	if (base_url) {
		base = strdup(base_url);
		if (!base)
			return NULL;
		for (n = strlen(base); n > 0 && base[n - 1] == '/'; n--)
			base[n - 1] = '\0';
	}
	if (href) {
		char *dir = NULL;

		if (!base || asprintf(&dir, "%s/", base) >= 0)
			url = sat_stac_resolve_href(dir, href);
		free(dir);
	}
	if (!url && base && is_http_url(base) &&
	    asprintf(&url, "%s/search", base) < 0)
		url = NULL;
	free(base);
	return url;
}

int sat_stac_parse_landing(const char *body, size_t len, const char *base_url,
			   struct sat_stac_caps *caps)
{
	const char *post_href = NULL, *get_href = NULL;
	struct json_object *root;
	int ret;

	memset(caps, 0, sizeof(*caps));
	ret = sat_stac_json_parse(body, len, &root);
	if (ret)
		return ret;
	ret = -EINVAL;
	if (!json_object_is_type(root, json_type_object))
		goto out;
	offers_cql2(root, caps);
	search_links(root, caps, &post_href, &get_href);
	caps->search_href =
		search_url(base_url, post_href ? post_href : get_href);
	if (caps->search_href)
		ret = 0;
out:
	json_object_put(root);
	if (ret)
		sat_stac_caps_clear(caps);
	return ret;
}

void sat_stac_caps_clear(struct sat_stac_caps *caps)
{
	if (!caps)
		return;
	free(caps->search_href);
	memset(caps, 0, sizeof(*caps));
}

/* ---- requests ---------------------------------------------------------- */

void sat_stac_request_clear(struct sat_stac_request *r)
{
	size_t i;

	if (!r)
		return;
	free(r->method);
	free(r->url);
	free(r->body);
	for (i = 0; r->headers && r->headers[i]; i++)
		free(r->headers[i]);
	free(r->headers);
	memset(r, 0, sizeof(*r));
}

/* A number as JSON with the shortest text that reads back the same. */
struct json_object *sat_stac_json_num(double v)
{
	char buf[32];

	if (v == floor(v) && fabs(v) < 1e15)
		return json_object_new_int64((int64_t)v);
	snprintf(buf, sizeof(buf), "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, sizeof(buf), "%.17g", v);
	return json_object_new_double_s(v, buf);
}

/* json-c's *_add leave v to the caller when they fail: put it here, so
 * that callers only ever free the root. */
int sat_stac_obj_add(struct json_object *o, const char *key,
		     struct json_object *v)
{
	if (!v)
		return -ENOMEM;
	if (json_object_object_add(o, key, v)) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

int sat_stac_arr_add(struct json_object *a, struct json_object *v)
{
	if (!v)
		return -ENOMEM;
	if (json_object_array_add(a, v)) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

static struct json_object *new_bbox(const double *bb)
{
	struct json_object *a = json_object_new_array();
	int i;

	for (i = 0; a && i < 4; i++) {
		if (sat_stac_arr_add(a, sat_stac_json_num(bb[i]))) {
			json_object_put(a);
			return NULL;
		}
	}
	return a;
}

/* {"type":"Polygon","coordinates":[[ring..., ring[0]]]}. Every new value
 * is attached to poly at once, so that one put frees all on failure. */
static struct json_object *new_polygon(const double *ring, size_t n)
{
	struct json_object *poly, *coords, *lr, *pt;
	bool closed = ring[0] == ring[2 * (n - 1)] &&
		      ring[1] == ring[2 * (n - 1) + 1];
	size_t i, k;

	poly = json_object_new_object();
	if (!poly)
		return NULL;
	coords = json_object_new_array();
	if (sat_stac_obj_add(poly, "type", json_object_new_string("Polygon")) ||
	    sat_stac_obj_add(poly, "coordinates", coords))
		goto err;
	lr = json_object_new_array();
	if (sat_stac_arr_add(coords, lr))
		goto err;
	for (i = 0; i < n + !closed; i++) {
		k = i == n ? 0 : i;
		pt = json_object_new_array();
		if (sat_stac_arr_add(lr, pt) ||
		    sat_stac_arr_add(pt, sat_stac_json_num(ring[2 * k])) ||
		    sat_stac_arr_add(pt, sat_stac_json_num(ring[2 * k + 1])))
			goto err;
	}
	return poly;
err:
	json_object_put(poly);
	return NULL;
}

static void format_time(time_t t, char buf[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* "query": {"eo:cloud_cover": {"lt": N}} (the query extension), and when
 * the server offers the filter extension, "filter" in the encoding it
 * takes: CQL2 JSON {"op": "<", "args": [{"property": "eo:cloud_cover"},
 * N]} for a POST when offered, else CQL2 Text "eo:cloud_cover < N"
 * (preferred for GET), each with its "filter-lang". Both query and filter
 * are sent: servers ignore what they do not support, and Earth Search
 * supports only the first. The filter extension's README: "It is
 * recommended that clients use CQL2 Text in GET requests and CQL2 JSON in
 * POST requests", and a server advertising both may take only cql2-json
 * in a POST. */
static int add_cloud_filter(struct json_object *o, double max_cloud,
			    const struct sat_stac_caps *caps, bool post)
{
	struct json_object *a, *cc, *f, *args, *prop;
	bool json = post ? caps->cql2_json : !caps->cql2_text;
	char text[64];

	a = json_object_new_object();
	if (sat_stac_obj_add(o, "query", a))
		return -ENOMEM;
	cc = json_object_new_object();
	if (sat_stac_obj_add(a, "eo:cloud_cover", cc) ||
	    sat_stac_obj_add(cc, "lt", sat_stac_json_num(max_cloud)))
		return -ENOMEM;
	if (!caps->cql2_filter)
		return 0;
	if (!json) {
		struct json_object *num = sat_stac_json_num(max_cloud);

		if (!num)
			return -ENOMEM;
		snprintf(text, sizeof(text), "eo:cloud_cover < %s",
			 json_object_to_json_string(num));
		json_object_put(num);
		if (sat_stac_obj_add(o, "filter-lang",
				     json_object_new_string("cql2-text")) ||
		    sat_stac_obj_add(o, "filter",
				     json_object_new_string(text)))
			return -ENOMEM;
		return 0;
	}
	if (sat_stac_obj_add(o, "filter-lang",
			     json_object_new_string("cql2-json")))
		return -ENOMEM;
	f = json_object_new_object();
	if (sat_stac_obj_add(o, "filter", f) ||
	    sat_stac_obj_add(f, "op", json_object_new_string("<")))
		return -ENOMEM;
	args = json_object_new_array();
	if (sat_stac_obj_add(f, "args", args))
		return -ENOMEM;
	prop = json_object_new_object();
	if (sat_stac_arr_add(args, prop) ||
	    sat_stac_obj_add(prop, "property",
			     json_object_new_string("eo:cloud_cover")) ||
	    sat_stac_arr_add(args, sat_stac_json_num(max_cloud)))
		return -ENOMEM;
	return 0;
}

/* The filter parts of a search, each as a JSON value: collections, bbox or
 * intersects, datetime, limit, query, filter-lang and filter. */
static int search_object(const struct sat_stac_caps *caps,
			 const struct sat_stac_query *q, bool post,
			 struct json_object **out)
{
	struct json_object *o = json_object_new_object();
	char from[32], to[32], dt[72];
	struct json_object *a;

	*out = NULL;
	if (!o)
		return -ENOMEM;
	if (q->collection) {
		a = json_object_new_array();
		if (sat_stac_obj_add(o, "collections", a) ||
		    sat_stac_arr_add(a, json_object_new_string(q->collection)))
			goto err;
	}
	if (q->is_bbox) {
		if (sat_stac_obj_add(o, "bbox", new_bbox(q->bbox)))
			goto err;
	} else if (sat_stac_obj_add(o, "intersects",
				    new_polygon(q->ring, q->nring))) {
		goto err;
	}
	format_time(q->from, from);
	format_time(q->to, to);
	snprintf(dt, sizeof(dt), "%s/%s", from, to);
	if (sat_stac_obj_add(o, "datetime", json_object_new_string(dt)))
		goto err;
	if (q->limit > 0 &&
	    sat_stac_obj_add(o, "limit", json_object_new_int(q->limit)))
		goto err;
	if (q->max_cloud >= 0 &&
	    add_cloud_filter(o, q->max_cloud, caps, post))
		goto err;
	*out = o;
	return 0;
err:
	json_object_put(o);
	return -ENOMEM;
}

/* Percent-encodes everything but RFC 3986's unreserved characters. */
static int url_append(char **buf, size_t *len, const char *s, bool encode)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s), need = *len + (encode ? 3 * n : n) + 1;
	char *p = realloc(*buf, need);

	if (!p)
		return -ENOMEM;
	*buf = p;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (!encode || (c >= 'A' && c <= 'Z') ||
		    (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			p[(*len)++] = (char)c;
		} else {
			p[(*len)++] = '%';
			p[(*len)++] = hex[c >> 4];
			p[(*len)++] = hex[c & 15];
		}
	}
	p[*len] = '\0';
	return 0;
}

/* ?collections=c&bbox=w,s,e,n&datetime=...&limit=N&query=<json>... with
 * JSON-valued parameters (intersects, query, filter) URL-encoded. */
static int build_get_url(const char *href, struct json_object *o, char **out)
{
	char *url = NULL;
	size_t len = 0;
	bool first = !strchr(href, '?');
	int ret = url_append(&url, &len, href, false);

	json_object_object_foreach(o, key, val) {
		const char *v;
		size_t i, n;

		if (ret)
			break;
		ret = url_append(&url, &len, first ? "?" : "&", false);
		first = false;
		if (!ret)
			ret = url_append(&url, &len, key, true);
		if (!ret)
			ret = url_append(&url, &len, "=", false);
		if (ret)
			break;
		if (json_object_is_type(val, json_type_array)) {
			/* collections and bbox: comma-separated */
			n = json_object_array_length(val);
			for (i = 0; !ret && i < n; i++) {
				struct json_object *e =
					json_object_array_get_idx(val, i);

				v = json_object_get_string(e);
				if (i)
					ret = url_append(&url, &len, ",",
							 false);
				if (!ret)
					ret = url_append(&url, &len, v, true);
			}
		} else if (json_object_is_type(val, json_type_object)) {
			v = json_object_to_json_string_ext(
				val, JSON_C_TO_STRING_PLAIN |
					     JSON_C_TO_STRING_NOSLASHESCAPE);
			ret = v ? url_append(&url, &len, v, true) : -ENOMEM;
		} else {
			ret = url_append(&url, &len,
					 json_object_get_string(val), true);
		}
	}
	if (ret) {
		free(url);
		return ret;
	}
	*out = url;
	return 0;
}

static char **content_type_headers(void)
{
	char **h = calloc(2, sizeof(*h));

	if (h && !(h[0] = strdup("Content-Type: application/json"))) {
		free(h);
		h = NULL;
	}
	return h;
}

int sat_stac_build_search(const struct sat_stac_caps *caps,
			  const struct sat_stac_query *q,
			  struct sat_stac_request *out)
{
	struct json_object *o = NULL;
	bool post = caps->search_post || !caps->search_get;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!caps->search_href || (q->is_bbox && !q->bbox) ||
	    (!q->is_bbox && (!q->ring || q->nring < 3)))
		return -EINVAL;
	ret = search_object(caps, q, post, &o);
	if (ret)
		return ret;
	ret = -ENOMEM;
	out->method = strdup(post ? "POST" : "GET");
	if (!out->method)
		goto out;
	if (post) {
		out->url = strdup(caps->search_href);
		out->body = sat_stac_json_dup(o);
		out->headers = content_type_headers();
		if (!out->url || !out->body || !out->headers)
			goto out;
	} else if (build_get_url(caps->search_href, o, &out->url)) {
		goto out;
	}
	ret = 0;
out:
	json_object_put(o);
	if (ret)
		sat_stac_request_clear(out);
	return ret;
}

/* ---- GeoJSON ----------------------------------------------------------- */

static struct json_object *array_first(struct json_object *arr)
{
	if (!json_object_is_type(arr, json_type_array) ||
	    json_object_array_length(arr) < 1)
		return NULL;
	return json_object_array_get_idx(arr, 0);
}

/* The outer ring of the first polygon below a GeoJSON object. */
static struct json_object *first_ring(struct json_object *g)
{
	const char *type;
	int hops;

	for (hops = 0; hops < 3; hops++) {
		type = sat_stac_get_str(g, "type");
		if (!type)
			return NULL;
		if (!strcmp(type, "FeatureCollection"))
			g = array_first(
				sat_stac_get(g, "features", json_type_array));
		else if (!strcmp(type, "Feature"))
			g = sat_stac_get(g, "geometry", json_type_object);
		else
			break;
	}
	type = sat_stac_get_str(g, "type");
	if (!type)
		return NULL;
	if (!strcmp(type, "Polygon"))
		return array_first(
			sat_stac_get(g, "coordinates", json_type_array));
	if (!strcmp(type, "MultiPolygon"))
		return array_first(array_first(
			sat_stac_get(g, "coordinates", json_type_array)));
	return NULL;
}

int sat_stac_parse_geojson_ring(const char *body, size_t len, double **lonlat,
				size_t *n)
{
	struct json_object *root, *ring;
	double *pts = NULL;
	size_t i, m, k = 0;
	int ret;

	*lonlat = NULL;
	*n = 0;
	ret = sat_stac_json_parse(body, len, &root);
	if (ret)
		return ret == -ENOMEM ? ret : -EINVAL;
	ring = first_ring(root);
	m = ring && json_object_is_type(ring, json_type_array)
		    ? json_object_array_length(ring)
		    : 0;
	ret = -EINVAL;
	if (m < 3)
		goto out;
	pts = malloc(2 * m * sizeof(*pts));
	if (!pts) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < m; i++) {
		struct json_object *p = json_object_array_get_idx(ring, i);
		struct json_object *jx = NULL, *jy = NULL;
		double x, y;

		if (json_object_is_type(p, json_type_array) &&
		    json_object_array_length(p) >= 2) {
			jx = json_object_array_get_idx(p, 0);
			jy = json_object_array_get_idx(p, 1);
		}
		if ((!json_object_is_type(jx, json_type_double) &&
		     !json_object_is_type(jx, json_type_int)) ||
		    (!json_object_is_type(jy, json_type_double) &&
		     !json_object_is_type(jy, json_type_int)))
			goto out;
		x = json_object_get_double(jx);
		y = json_object_get_double(jy);
		if (!(x >= -180 && x <= 180 && y >= -90 && y <= 90))
			goto out; /* also NaN: not lon/lat degrees */
		pts[2 * k] = x;
		pts[2 * k + 1] = y;
		k++;
	}
	if (pts[0] == pts[2 * (k - 1)] && pts[1] == pts[2 * (k - 1) + 1])
		k--; /* closed, as GeoJSON requires: we keep it open */
	if (k < 3)
		goto out;
	*lonlat = pts;
	*n = k;
	pts = NULL;
	ret = 0;
out:
	free(pts);
	json_object_put(root);
	return ret;
}

/* ---- SAS tokens (Planetary Computer) ----------------------------------- */

int sat_stac_parse_sas_token(const char *body, size_t len, char **token,
			     time_t *expiry)
{
	static const char safe[] = "abcdefghijklmnopqrstuvwxyz"
				   "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				   "0123456789-._~%&=+/:";
	struct json_object *root;
	const char *tok, *exp;
	size_t n;
	int ret = -EINVAL;

	*token = NULL;
	if (sat_stac_json_parse(body, len, &root) < 0)
		return -EINVAL;
	tok = sat_stac_get_str(root, "token");
	exp = sat_stac_get_str(root, "msft:expiry");
	n = tok ? strlen(tok) : 0;
	/* The token becomes a query string: nothing that could end it
	 * ('#', blanks) or start another URL part. */
	if (n == 0 || n > SAT_STAC_MAX_TOKEN || strspn(tok, safe) != n ||
	    !exp || sat_stac_parse_datetime(exp, expiry) < 0)
		goto out;
	*token = strdup(tok);
	ret = *token ? 0 : -ENOMEM;
out:
	json_object_put(root);
	return ret;
}
