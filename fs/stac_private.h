/*
 * stac_private: what fs/stac.c (requests, pages, links) and fs/stac_item.c
 * (items as scenes) share. Not a module boundary: nothing outside these
 * two files includes it.
 */
#ifndef SATFS_STAC_PRIVATE_H
#define SATFS_STAC_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct json_object;
struct sat_scene;

/* Nesting deeper than this is refused: no real STAC document comes close
 * (an item with a MultiPolygon is about 8 levels deep). */
#define SAT_STAC_MAX_DEPTH 64

/* Parses a whole untrusted body: at most SAT_STAC_MAX_BODY bytes, at most
 * SAT_STAC_MAX_DEPTH levels, valid UTF-8, nothing but whitespace after the
 * value. *out is a new reference. 0 or -EINVAL (logged at debug level:
 * the caller knows what the body was and says so). */
int sat_stac_json_parse(const char *body, size_t len, struct json_object **out);

/* Typed getters on an object: NULL / false when obj is not an object, the
 * key is missing, or the value has another type. Borrowed pointers. */
struct json_object *sat_stac_get(struct json_object *obj, const char *key,
				 int json_type);
const char *sat_stac_get_str(struct json_object *obj, const char *key);
/* A number with the shortest text that reads back the same, so that grids
 * and regions go out exactly. New reference, or NULL. */
struct json_object *sat_stac_json_num(double v);
bool sat_stac_get_num(struct json_object *obj, const char *key, double *v);

/* Serialises obj (plain, no escaped slashes) into a malloc'd string. */
char *sat_stac_json_dup(struct json_object *obj);
/* Add v to an object / array, putting v when that fails: callers build
 * trees by attaching each new value at once and free only the root. A NULL
 * v (a failed allocation) is -ENOMEM too. */
int sat_stac_obj_add(struct json_object *o, const char *key,
		     struct json_object *v);
int sat_stac_arr_add(struct json_object *a, struct json_object *v);

/* href resolved against base (absolute, "//host/..", "/path", "path"):
 * malloc'd, or NULL when the result would not be an http(s) URL (only
 * those are ever followed) or on ENOMEM. */
char *sat_stac_resolve_href(const char *base, const char *href);

/* Builds a scene from one element of a page's "features". Returns 0,
 * -EINVAL with *why set to a static reason (the item is skipped), or
 * -ENOMEM. */
int sat_stac_item_parse(struct json_object *item, struct sat_scene **out,
			const char **why);

/* Parses an RFC 3339 date-time ("2024-01-03T15:52:11.024Z",
 * "...+02:00"). 0 or -EINVAL. */
int sat_stac_parse_datetime(const char *s, time_t *out);

/* Copies s into buf for a log line: control characters become '?', long
 * strings are cut. Returns buf. */
const char *sat_stac_printable(const char *s, char *buf, size_t len);

#endif
