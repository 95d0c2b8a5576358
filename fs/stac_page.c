/*
 * stac_page: one page of search results (see include/satfs/stac.h): its
 * items, handed to stac_item.c, and its `next` link, followed exactly as
 * given (method, href, body, headers; with merge: true, body and headers
 * merged into the search's original request, as the STAC API spec says);
 * and request fingerprints for
 * the caller's repeated-token check. No shared state: thread-safe.
 */
#include "satfs/stac.h"
#include "satfs/log.h"
#include "stac_private.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

/* ---- pages and next links ---------------------------------------------- */

static bool header_token_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || *s == ':' || *s == 0x7f)
			return false;
	return true;
}

static bool header_value_ok(const char *s)
{
	return !strpbrk(s, "\r\n");
}

/* A header value: a string, or an array of strings joined with ", " as
 * HTTP does for repeated headers. *out is NULL for other types. */
static int header_value(struct json_object *val, char **out)
{
	struct json_object *e;
	size_t i, n;
	char *t;

	*out = NULL;
	if (json_object_is_type(val, json_type_string)) {
		*out = strdup(json_object_get_string(val));
		return *out ? 0 : -ENOMEM;
	}
	if (!json_object_is_type(val, json_type_array))
		return 0;
	n = json_object_array_length(val);
	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(val, i);
		if (!json_object_is_type(e, json_type_string))
			continue;
		if (asprintf(&t, "%s%s%s", *out ? *out : "", *out ? ", " : "",
			     json_object_get_string(e)) < 0) {
			free(*out);
			*out = NULL;
			return -ENOMEM;
		}
		free(*out);
		*out = t;
	}
	return 0;
}

/* Appends h's entries to list as "Name: value" lines. Names or values
 * that could split a header line are dropped. 0 or -ENOMEM. */
static int add_headers(struct json_object *h, char **list, size_t *n,
		       bool *has_ctype)
{
	char *v;

	json_object_object_foreach(h, name, val) {
		if (header_value(val, &v))
			return -ENOMEM;
		if (!v || !header_token_ok(name) || !header_value_ok(v)) {
			sat_warn("stac: ignoring next link header \"%.64s\"",
				 header_token_ok(name) ? name : "?");
			free(v);
			continue;
		}
		if (asprintf(&list[*n], "%s: %s", name, v) < 0) {
			list[*n] = NULL;
			free(v);
			return -ENOMEM;
		}
		free(v);
		*has_ctype |= !strcasecmp(name, "Content-Type");
		(*n)++;
	}
	return 0;
}

/* Is header line "Name: value" named in h (case-insensitively)? */
static bool header_in(struct json_object *h, const char *line)
{
	size_t len = strcspn(line, ":");

	if (!h)
		return false;
	json_object_object_foreach(h, name, val) {
		(void)val;
		if (strlen(name) == len && !strncasecmp(name, line, len))
			return true;
	}
	return false;
}

/* The link's "headers" (name to string or array of strings) as a
 * NULL-terminated list, after orig's headers that the link does not name
 * when it merges (orig may be NULL), plus Content-Type for a POST when
 * neither gives one; *out stays NULL when there are none. */
static int link_headers(struct json_object *link, bool post, bool merge,
			const struct sat_stac_request *orig, char ***out)
{
	struct json_object *h = sat_stac_get(link, "headers", json_type_object);
	size_t n = 0, norig = 0, i;
	size_t cap;
	bool has_ctype = false;
	char **list;

	*out = NULL;
	for (i = 0; merge && orig && orig->headers && orig->headers[i]; i++)
		norig++;
	cap = (h ? (size_t)json_object_object_length(h) : 0) + norig + 2;
	list = calloc(cap, sizeof(*list));
	if (!list)
		return -ENOMEM;
	for (i = 0; i < norig; i++) {
		if (header_in(h, orig->headers[i]))
			continue;
		list[n] = strdup(orig->headers[i]);
		if (!list[n])
			goto err;
		has_ctype |= !strncasecmp(orig->headers[i], "Content-Type:",
					  13);
		n++;
	}
	if (h && add_headers(h, list, &n, &has_ctype))
		goto err;
	if (post && !has_ctype) {
		list[n] = strdup("Content-Type: application/json");
		if (!list[n])
			goto err;
		n++;
	}
	if (n == 0) {
		free(list);
		return 0;
	}
	*out = list;
	return 0;
err:
	for (n = 0; n < cap; n++)
		free(list[n]);
	free(list);
	return -ENOMEM;
}

/* The POST body of a next link: the link's body, merged over the
 * original request's body when "merge" is true (the STAC API spec's
 * item-search examples: "POST to the search endpoint using the original
 * request with the page and limit fields merged in"); prev's body when
 * the link has none. */
static int link_body(struct json_object *link, bool merge,
		     const struct sat_stac_request *prev,
		     const struct sat_stac_request *orig, char **out)
{
	struct json_object *lb, *merged = NULL;
	int ret;

	*out = NULL;
	if (!json_object_object_get_ex(link, "body", &lb) || !lb) {
		*out = strdup(prev && prev->body ? prev->body : "{}");
		return *out ? 0 : -ENOMEM;
	}
	if (!json_object_is_type(lb, json_type_object))
		return -EINVAL;
	if (!merge || !orig || !orig->body) {
		*out = sat_stac_json_dup(lb);
		return *out ? 0 : -ENOMEM;
	}
	ret = sat_stac_json_parse(orig->body, strlen(orig->body), &merged);
	if (ret == -ENOMEM)
		return ret;
	if (ret || !json_object_is_type(merged, json_type_object)) {
		/* Nothing to merge into: the link's body is all there is. */
		json_object_put(merged);
		*out = sat_stac_json_dup(lb);
		return *out ? 0 : -ENOMEM;
	}
	json_object_object_foreach(lb, key, val) {
		if (sat_stac_obj_add(merged, key, json_object_get(val))) {
			json_object_put(merged);
			return -ENOMEM;
		}
	}
	*out = sat_stac_json_dup(merged);
	json_object_put(merged);
	return *out ? 0 : -ENOMEM;
}

/* Fills next from a rel=next link. -EINVAL: the link cannot be followed
 * (unknown method, no href, not http(s), body not an object). */
static int next_from_link(struct json_object *link,
			  const struct sat_stac_request *prev,
			  const struct sat_stac_request *orig,
			  struct sat_stac_request *next, const char **why)
{
	const char *method = sat_stac_get_str(link, "method");
	const char *href = sat_stac_get_str(link, "href");
	struct json_object *m, *mg = sat_stac_get(link, "merge",
						   json_type_boolean);
	bool post, merge = mg && json_object_get_boolean(mg);
	int ret;

	if (!orig)
		orig = prev;

	if (!method && json_object_object_get_ex(link, "method", &m) && m) {
		*why = "method is not a string";
		return -EINVAL;
	}
	if (!method)
		method = "GET"; /* the STAC API default */
	if (strcasecmp(method, "GET") && strcasecmp(method, "POST")) {
		*why = "method is neither GET nor POST";
		return -EINVAL;
	}
	if (!href) {
		*why = "no href";
		return -EINVAL;
	}
	post = !strcasecmp(method, "POST");
	next->method = strdup(post ? "POST" : "GET");
	if (!next->method)
		return -ENOMEM;
	next->url = sat_stac_resolve_href(prev ? prev->url : NULL, href);
	if (!next->url) {
		*why = "href is not an http(s) URL";
		return -EINVAL;
	}
	if (post) {
		ret = link_body(link, merge, prev, orig, &next->body);
		if (ret == -EINVAL)
			*why = "body is not an object";
		if (ret)
			return ret;
	}
	return link_headers(link, post, merge, orig, &next->headers);
}

static void log_not_a_page(struct json_object *root,
			   const struct sat_stac_request *prev)
{
	const char *code = sat_stac_get_str(root, "code");
	const char *desc = sat_stac_get_str(root, "description");
	char url[256], c[64], d[256];

	sat_log_url(prev ? prev->url : NULL, url, sizeof(url));
	if (code || desc)
		sat_warn("stac: %s answered an error: %s: %s", url,
			 sat_stac_printable(code, c, sizeof(c)),
			 sat_stac_printable(desc, d, sizeof(d)));
	else
		sat_warn("stac: %s: %s", url,
			 root ? "the answer is not a FeatureCollection"
			      : "the answer is not valid JSON");
}

/* Blanks out what follows a secret-looking key in s ("sig=...",
 * "token=...", "key=...", "password=..."): an error body may echo the
 * request it refuses, signed URL included. */
static void redact(char *s)
{
	static const char *const keys[] = { "sig=", "token=", "key=",
					    "password=", "secret=", NULL };
	static const char mark[] = "REDACTED";

	for (int k = 0; keys[k]; k++) {
		char *p = s;

		while ((p = strcasestr(p, keys[k]))) {
			char *v = p + strlen(keys[k]);
			size_t n = strcspn(v, "&\"' \t,;)}]<");

			if (n >= sizeof(mark) - 1) {
				memcpy(v, mark, sizeof(mark) - 1);
				memmove(v + sizeof(mark) - 1, v + n,
					strlen(v + n) + 1);
				n = sizeof(mark) - 1;
			} else {
				memset(v, '*', n);
			}
			p = v + n;
		}
	}
}

const char *sat_stac_error_text(const char *body, size_t len, char *buf,
				size_t buflen)
{
	struct json_object *root = NULL;
	const char *code, *desc;
	char c[64], d[256], raw[257];
	size_t n;

	if (!buflen)
		return buf;
	buf[0] = '\0';
	if (!body || !len)
		return buf;
	if (sat_stac_json_parse(body, len, &root) == 0) {
		code = sat_stac_get_str(root, "code");
		desc = sat_stac_get_str(root, "description");
	} else {
		code = desc = NULL;
	}
	if (code || desc) {
		snprintf(buf, buflen, "%s: %s",
			 sat_stac_printable(code ? code : "error", c,
					    sizeof(c)),
			 sat_stac_printable(desc ? desc : "(no description)",
					    d, sizeof(d)));
	} else {
		/* not the STAC shape: the first line of what came, bounded */
		n = len < sizeof(raw) - 1 ? len : sizeof(raw) - 1;
		memcpy(raw, body, n);
		raw[n] = '\0';
		raw[strcspn(raw, "\r\n")] = '\0';
		sat_stac_printable(raw, buf, buflen);
	}
	json_object_put(root);
	redact(buf);
	return buf;
}

/* True when root is a FeatureCollection: "features" an array, and "type",
 * when given, the string "FeatureCollection". */
static bool is_page(struct json_object *root)
{
	struct json_object *type;

	if (!sat_stac_get(root, "features", json_type_array))
		return false;
	if (!json_object_object_get_ex(root, "type", &type))
		return true;
	return json_object_is_type(type, json_type_string) &&
	       !strcmp(json_object_get_string(type), "FeatureCollection");
}

/* Appends the valid items of features to *items, skipping the others
 * with a warning each. 0 or -ENOMEM. */
static int page_items(struct json_object *features, struct sat_scene ***items,
		      size_t *nitems, size_t *skipped)
{
	size_t n = json_object_array_length(features);
	size_t n0 = *nitems, cap = n0, i;
	struct json_object *item;
	struct sat_scene **grown, *s;
	const char *why, *id;
	char idbuf[128];
	int ret;

	for (i = 0; i < n; i++) {
		if (*nitems == cap) {
			/* Grown as items pass, not by the count a page claims:
			 * a page of junk costs no array. */
			cap = cap - n0 < 16 ? n0 + 16 : n0 + 2 * (cap - n0);
			cap = cap > n0 + n ? n0 + n : cap;
			if (cap > SIZE_MAX / sizeof(**items))
				return -ENOMEM;
			grown = realloc(*items, cap * sizeof(**items));
			if (!grown)
				return -ENOMEM;
			*items = grown;
		}
		item = json_object_array_get_idx(features, i);
		ret = sat_stac_item_parse(item, &s, &why);
		if (ret == -EINVAL) {
			id = sat_stac_get_str(item, "id");
			sat_warn("stac: skipping item %s: %s",
				 sat_stac_printable(id, idbuf, sizeof(idbuf)),
				 why);
			(*skipped)++;
			continue;
		}
		if (ret)
			return ret;
		(*items)[(*nitems)++] = s;
	}
	return 0;
}

/* Fills next from the first rel=next link, if any can be followed. 0 or
 * -ENOMEM. */
static int page_next(struct json_object *links,
		     const struct sat_stac_request *prev,
		     const struct sat_stac_request *orig,
		     struct sat_stac_request *next, bool *has_next)
{
	size_t i, n = links ? json_object_array_length(links) : 0;
	struct json_object *l;
	const char *rel, *why;
	char url[256];
	int ret;

	for (i = 0; i < n; i++) {
		l = json_object_array_get_idx(links, i);
		rel = sat_stac_get_str(l, "rel");
		if (!rel || strcmp(rel, "next"))
			continue;
		ret = next_from_link(l, prev, orig, next, &why);
		if (ret == -EINVAL) {
			sat_warn("stac: %s: not following the next link: %s",
				 sat_log_url(prev ? prev->url : NULL, url,
					     sizeof(url)),
				 why);
			sat_stac_request_clear(next);
			return 0;
		}
		*has_next = ret == 0;
		return ret;
	}
	return 0;
}

int sat_stac_parse_page(const char *body, size_t len,
			const struct sat_stac_request *prev,
			const struct sat_stac_request *orig,
			struct sat_scene ***items, size_t *nitems,
			size_t *skipped, struct sat_stac_request *next,
			bool *has_next)
{
	struct json_object *root;
	size_t n0 = *nitems;
	int ret;

	*has_next = false;
	memset(next, 0, sizeof(*next));
	ret = sat_stac_json_parse(body, len, &root);
	if (ret == -ENOMEM)
		return ret;
	if (!is_page(root)) {
		log_not_a_page(root, prev);
		json_object_put(root);
		return -EINVAL;
	}
	ret = page_items(sat_stac_get(root, "features", json_type_array), items,
			 nitems, skipped);
	if (!ret)
		ret = page_next(sat_stac_get(root, "links", json_type_array),
				prev, orig, next, has_next);
	json_object_put(root);
	if (ret) {
		/* This page adds nothing; the caller's earlier items stay. */
		sat_stac_request_clear(next);
		*has_next = false;
		while (*nitems > n0)
			sat_scene_free((*items)[--(*nitems)]);
	}
	return ret;
}

/* A copy of v with object keys sorted, so that two bodies that differ only
 * in key order or spacing give one fingerprint. */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static struct json_object *canonical(struct json_object *v)
{
	struct json_object *c = NULL, *e;
	const char **keys;
	size_t i, n;

	if (json_object_is_type(v, json_type_array)) {
		c = json_object_new_array();
		n = json_object_array_length(v);
		for (i = 0; c && i < n; i++) {
			e = canonical(json_object_array_get_idx(v, i));
			if (sat_stac_arr_add(c, e)) {
				json_object_put(c);
				return NULL;
			}
		}
		return c;
	}
	if (!json_object_is_type(v, json_type_object))
		return v ? json_object_get(v) : json_object_new_null();
	n = (size_t)json_object_object_length(v);
	keys = calloc(n + 1, sizeof(*keys));
	c = json_object_new_object();
	if (!keys || !c)
		goto err;
	i = 0;
	json_object_object_foreach(v, key, val) {
		(void)val;
		keys[i++] = key;
	}
	qsort(keys, n, sizeof(*keys), cmp_str);
	for (i = 0; i < n; i++) {
		e = canonical(json_object_object_get(v, keys[i]));
		if (sat_stac_obj_add(c, keys[i], e))
			goto err;
	}
	free(keys);
	return c;
err:
	free(keys);
	json_object_put(c);
	return NULL;
}

char *sat_stac_request_fingerprint(const struct sat_stac_request *r)
{
	struct json_object *o = NULL, *c = NULL;
	const char *body = NULL;
	char *out = NULL;

	if (!r)
		return NULL;
	if (r->body && !sat_stac_json_parse(r->body, strlen(r->body), &o)) {
		c = canonical(o);
		if (!c)
			goto out;
		body = json_object_to_json_string_ext(
			c, JSON_C_TO_STRING_PLAIN |
				   JSON_C_TO_STRING_NOSLASHESCAPE);
		if (!body)
			goto out;
	} else {
		body = r->body; /* not JSON: compare the bytes */
	}
	if (asprintf(&out, "%s %s\n%s", r->method ? r->method : "GET",
		     r->url ? r->url : "", body ? body : "") < 0)
		out = NULL;
out:
	json_object_put(c);
	json_object_put(o);
	return out;
}
