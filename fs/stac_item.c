/*
 * stac_item: one STAC item (a GeoJSON Feature) as a struct sat_scene, the
 * band lookup, file names from item ids, and RFC 3339 times.
 *
 * Items are untrusted: every field is type-checked before it is read, and
 * what a scene cannot do without (an id, a time, one asset with an href)
 * makes the item skipped rather than guessed. What it can do without (a
 * CRS, cloud cover, scale and offset) is left unset for the caller to
 * decide. No shared state: thread-safe.
 */
#include "satfs/sample.h"
#include "satfs/stac.h"
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

void sat_scene_free(struct sat_scene *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->nassets; i++) {
		free(s->assets[i].key);
		free(s->assets[i].href);
		free(s->assets[i].type);
		free(s->assets[i].band_name);
		free(s->assets[i].common_name);
	}
	free(s->assets);
	free(s->id);
	free(s->file_id);
	free(s->collection);
	free(s->processing_baseline);
	free(s->json);
	free(s);
}

/* ---- RFC 3339 ---------------------------------------------------------- */

static int parse_digits(const char **p, int n, int *v)
{
	int i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return -EINVAL;
		*v = *v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return 0;
}

static int expect(const char **p, char c)
{
	if (**p != c)
		return -EINVAL;
	(*p)++;
	return 0;
}

static int days_in_month(int year, int month)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

int sat_stac_parse_datetime(const char *s, time_t *out)
{
	int year, mon, day, hour, min, sec, oh = 0, om = 0, sign = 0;
	const char *p = s;
	struct tm tm;
	time_t t;

	if (!s)
		return -EINVAL;
	if (parse_digits(&p, 4, &year) || expect(&p, '-') ||
	    parse_digits(&p, 2, &mon) || expect(&p, '-') ||
	    parse_digits(&p, 2, &day))
		return -EINVAL;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -EINVAL;
	p++;
	if (parse_digits(&p, 2, &hour) || expect(&p, ':') ||
	    parse_digits(&p, 2, &min) || expect(&p, ':') ||
	    parse_digits(&p, 2, &sec))
		return -EINVAL;
	if (*p == '.') {
		/* Fractions are dropped: file times have whole seconds. */
		p++;
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		p++;
		if (parse_digits(&p, 2, &oh))
			return -EINVAL;
		if (*p == ':')
			p++;
		if (parse_digits(&p, 2, &om))
			return -EINVAL;
	} else {
		return -EINVAL; /* RFC 3339 requires an offset */
	}
	if (*p != '\0')
		return -EINVAL;
	if (mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) ||
	    hour > 23 || min > 59 || sec > 60 || oh > 23 || om > 59)
		return -EINVAL;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec; /* a leap second 60 normalises to the next minute */
	t = timegm(&tm);
	*out = t - (time_t)sign * (oh * 3600 + om * 60);
	return 0;
}

/* ---- file names -------------------------------------------------------- */

static uint64_t fnv1a64(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

char *sat_stac_sanitize_id(const char *id)
{
	size_t len, cut, i, pre;
	char *out;

	if (!id)
		id = "";
	len = strlen(id);
	/* "", "." and ".." get a '_' in front; nothing else can become one of
	 * them, since only '/', '\\' and control characters are replaced. */
	pre = len == 0 || !strcmp(id, ".") || !strcmp(id, "..");
	if (len + pre > SAT_STAC_MAX_ID) {
		/* 17 = "-" + 16 hex digits of a hash of the whole id, so that
		 * ids sharing a long prefix still get distinct names. */
		cut = SAT_STAC_MAX_ID - 17;
		/* Back off to a character boundary: never leave half a
		 * UTF-8 sequence at the end of a name. */
		while (cut > 0 && ((unsigned char)id[cut] & 0xc0) == 0x80)
			cut--;
		out = malloc(cut + 18);
		if (!out)
			return NULL;
		memcpy(out, id, cut);
		snprintf(out + cut, 18, "-%016llx",
			 (unsigned long long)fnv1a64(id));
		len = cut;
	} else {
		out = malloc(len + pre + 1);
		if (!out)
			return NULL;
		if (pre)
			out[0] = '_';
		memcpy(out + pre, id, len + 1);
		len += pre;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)out[i];

		if (c == '/' || c == '\\' || c < 0x20 || c == 0x7f)
			out[i] = '_';
	}
	return out;
}

/* ---- band lookup ------------------------------------------------------- */

/* Sentinel-2 band names, zero-padded names and STAC common names (as Earth
 * Search v1 uses them for asset keys). */
static const char *const band_aliases[][3] = {
	{ "B1", "B01", "coastal" },  { "B2", "B02", "blue" },
	{ "B3", "B03", "green" },    { "B4", "B04", "red" },
	{ "B5", "B05", "rededge1" }, { "B6", "B06", "rededge2" },
	{ "B7", "B07", "rededge3" }, { "B8", "B08", "nir" },
	{ "B8A", "B08A", "nir08" },  { "B9", "B09", "nir09" },
	{ "B10", "B10", "cirrus" },  { "B11", "B11", "swir16" },
	{ "B12", "B12", "swir22" },  { "SCL", "SCL", "scl" },
};
#define NALIAS (sizeof(band_aliases) / sizeof(band_aliases[0]))

bool sat_band_is_sentinel2(const char *name)
{
	/* asset keys of Sentinel-2 L2A catalogs beyond the bands */
	static const char *const other[] = { "AOT", "WVP", "TCI", "visual",
					     NULL };
	size_t len = strcspn(name, ":"); /* ASSET:N names band N of ASSET */

	for (size_t i = 0; i < NALIAS; i++)
		for (int k = 0; k < 3; k++)
			if (strlen(band_aliases[i][k]) == len &&
			    !strncasecmp(name, band_aliases[i][k], len))
				return true;
	for (size_t i = 0; other[i]; i++)
		if (strlen(other[i]) == len && !strncasecmp(name, other[i], len))
			return true;
	return false;
}

static bool name_matches(const char *name, const char *band,
			 const char *const *aliases)
{
	int i;

	if (!name)
		return false;
	if (!aliases)
		return !strcasecmp(name, band);
	for (i = 0; i < 3; i++)
		if (!strcasecmp(name, aliases[i]))
			return true;
	return false;
}

static bool ends_with_ci(const char *s, size_t n, const char *suffix)
{
	size_t m = strlen(suffix);

	return n >= m && !strncasecmp(s + n - m, suffix, m);
}

const char *sat_scene_band_list(const struct sat_scene *s, char *buf,
				size_t len)
{
	size_t used = 0;

	if (!len)
		return buf;
	buf[0] = '\0';
	for (size_t i = 0; i < s->nassets; i++) {
		const struct sat_asset *a = &s->assets[i];
		int n;

		if (!a->key || !a->href || sat_asset_cog_score(a) < 1)
			continue;
		n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
			     a->key);
		if (n < 0 || (size_t)n >= len - used) {
			if (len > 4)
				strcpy(buf + (used < len - 4 ? used : len - 4),
				       "...");
			return buf;
		}
		used += (size_t)n;
	}
	if (!used)
		snprintf(buf, len, "no raster asset");
	return buf;
}

/* How readable an asset is for the COG reader: 3 a cloud-optimized GeoTIFF,
 * 2 a GeoTIFF, 1 unknown (no type, no telling extension), 0 something
 * else (JPEG 2000 twins such as Earth Search's "red-jp2", XML, ...). */
int sat_asset_cog_score(const struct sat_asset *a)
{
	size_t n = strcspn(a->href, "?#"); /* signed URLs carry queries */
	bool tif = ends_with_ci(a->href, n, ".tif") ||
		   ends_with_ci(a->href, n, ".tiff");

	if (a->type) {
		if (strcasestr(a->type, "cloud-optimized"))
			return 3;
		if (strcasestr(a->type, "tiff"))
			return 2;
		return tif ? 2 : 0;
	}
	if (tif)
		return 2;
	if (ends_with_ci(a->href, n, ".jp2") ||
	    ends_with_ci(a->href, n, ".xml") ||
	    ends_with_ci(a->href, n, ".json") ||
	    ends_with_ci(a->href, n, ".jpg") ||
	    ends_with_ci(a->href, n, ".png"))
		return 0;
	return 1;
}

const struct sat_asset *sat_scene_find_band(const struct sat_scene *s,
					    const char *band)
{
	const char *const *aliases = NULL;
	const struct sat_asset *best;
	int pass, score, best_score;
	size_t i;

	if (!s || !band)
		return NULL;
	for (i = 0; i < NALIAS; i++)
		if (name_matches(band, NULL, band_aliases[i]))
			aliases = band_aliases[i];
	/* Asset keys first, then band names, then common names: a key is
	 * what the catalog calls the file, a common name may be shared
	 * (Earth Search's "visual" also says "red"). */
	for (pass = 0; pass < 3; pass++) {
		best = NULL;
		best_score = 0;
		for (i = 0; i < s->nassets; i++) {
			const struct sat_asset *a = &s->assets[i];
			const char *name = pass == 0   ? a->key
					   : pass == 1 ? a->band_name
						       : a->common_name;

			if (!name_matches(name, band, aliases))
				continue;
			score = sat_asset_cog_score(a);
			if (score > best_score) {
				best = a;
				best_score = score;
			}
		}
		if (best)
			return best;
	}
	return NULL;
}

/* ---- items ------------------------------------------------------------- */

static int dup_str(char **dst, const char *src)
{
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

/* Integer EPSG code from proj:epsg (a number) or proj:code ("EPSG:32617").
 * 0 when neither says one. */
static int get_epsg(struct json_object *obj)
{
	const char *code = sat_stac_get_str(obj, "proj:code");
	double v;
	char *end;
	long l;

	if (sat_stac_get_num(obj, "proj:epsg", &v) && v == floor(v) && v > 0 &&
	    v < 1e6)
		return (int)v;
	if (code && !strncasecmp(code, "EPSG:", 5) &&
	    isdigit((unsigned char)code[5])) {
		errno = 0;
		l = strtol(code + 5, &end, 10);
		if (!errno && *end == '\0' && l > 0 && l < 1000000)
			return (int)l;
	}
	return 0;
}

/* Reads n numbers from a JSON array of at least n numbers. */
static bool get_numbers(struct json_object *obj, const char *key, double *v,
			size_t n)
{
	struct json_object *arr = sat_stac_get(obj, key, json_type_array);
	size_t i;

	if (!arr || json_object_array_length(arr) < n)
		return false;
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);

		if (!json_object_is_type(e, json_type_double) &&
		    !json_object_is_type(e, json_type_int))
			return false;
		v[i] = json_object_get_double(e);
		if (!isfinite(v[i]))
			return false;
	}
	return true;
}

static bool get_shape(struct json_object *obj, int shape[2])
{
	double v[2];

	if (!get_numbers(obj, "proj:shape", v, 2) || v[0] < 1 || v[1] < 1 ||
	    v[0] > 1e7 || v[1] > 1e7 || v[0] != floor(v[0]) ||
	    v[1] != floor(v[1]))
		return false;
	shape[0] = (int)v[0];
	shape[1] = (int)v[1];
	return true;
}

/* First element of an array member, if it is an object. */
static struct json_object *first_obj(struct json_object *obj, const char *key)
{
	struct json_object *arr = sat_stac_get(obj, key, json_type_array);
	struct json_object *e;

	if (!arr || json_object_array_length(arr) < 1)
		return NULL;
	e = json_object_array_get_idx(arr, 0);
	return json_object_is_type(e, json_type_object) ? e : NULL;
}

/* A nodata value: a number, or "nan" / "inf" / "-inf" as strings. */
static bool get_nodata(struct json_object *obj, double *v)
{
	const char *s = sat_stac_get_str(obj, "nodata");

	if (sat_stac_get_num(obj, "nodata", v))
		return true;
	if (!s)
		return false;
	if (!strcasecmp(s, "nan"))
		*v = NAN;
	else if (!strcasecmp(s, "inf"))
		*v = INFINITY;
	else if (!strcasecmp(s, "-inf"))
		*v = -INFINITY;
	else
		return false;
	return true;
}

/* Band metadata. STAC 1.0 puts it in eo:bands[0] and raster:bands[0]; STAC
 * 1.1 in bands[0] with prefixed names, or in the asset itself when it has
 * one band. The first place that has a field wins. */
static int asset_bands(struct sat_asset *a, struct json_object *ja)
{
	struct json_object *eo = first_obj(ja, "eo:bands");
	struct json_object *rb = first_obj(ja, "raster:bands");
	struct json_object *b = first_obj(ja, "bands");
	struct json_object *where[3] = { rb, b, ja };
	struct json_object *multi;
	const char *name, *common;
	bool has_off = false;
	double res = 0;
	int i;

	/* A multi-band asset ("visual") is not the file of any one band. */
	multi = sat_stac_get(ja, eo ? "eo:bands" : "bands", json_type_array);
	if (!multi || json_object_array_length(multi) == 1) {
		name = sat_stac_get_str(eo ? eo : b, "name");
		common = eo ? sat_stac_get_str(eo, "common_name") : NULL;
		if (!common)
			common = sat_stac_get_str(b, "eo:common_name");
		if (!common)
			common = sat_stac_get_str(ja, "eo:common_name");
		if (dup_str(&a->band_name, name) ||
		    dup_str(&a->common_name, common))
			return -ENOMEM;
	}
	a->scale = 1.0;
	a->data_type = -1;
	for (i = 0; i < 3; i++) {
		const char *ks = i == 0 ? "scale" : "raster:scale";
		const char *ko = i == 0 ? "offset" : "raster:offset";
		const char *kr = i == 0 ? "spatial_resolution"
					: "raster:spatial_resolution";

		if (!where[i])
			continue;
		if (!a->has_scale && sat_stac_get_num(where[i], ks, &a->scale))
			a->has_scale = true;
		if (!has_off && sat_stac_get_num(where[i], ko, &a->offset))
			has_off = true;
		if (!a->has_nodata && get_nodata(where[i], &a->nodata))
			a->has_nodata = true;
		if (res <= 0)
			sat_stac_get_num(where[i], kr, &res);
		if (a->data_type < 0)
			a->data_type = sat_sample_parse(
				sat_stac_get_str(where[i], "data_type"));
	}
	/* The raster extension defaults a missing scale to 1 and a missing
	 * offset to 0, but only when the other one is given. */
	a->has_scale = a->has_scale || has_off;
	if (!a->has_scale)
		a->scale = 0;
	if (res > 0)
		a->gsd = res;
	return 0;
}

struct item_proj {
	bool has_transform;
	double transform[6];
	int shape[2];
	double gsd;
};

static int asset_parse(struct sat_asset *a, const char *key,
		       struct json_object *ja, const struct item_proj *ip)
{
	double gsd = 0;
	int ret;

	if (dup_str(&a->key, key) ||
	    dup_str(&a->href, sat_stac_get_str(ja, "href")) ||
	    dup_str(&a->type, sat_stac_get_str(ja, "type")))
		return -ENOMEM;
	ret = asset_bands(a, ja);
	if (ret)
		return ret;
	a->epsg = get_epsg(ja);
	/* Resolution: what the asset says (spatial_resolution, then its own
	 * pixel size, then its gsd) before what the item says for all. */
	a->has_transform = get_numbers(ja, "proj:transform", a->transform, 6);
	if (a->gsd <= 0 && a->has_transform && a->transform[0] != 0)
		a->gsd = fabs(a->transform[0]);
	if (a->gsd <= 0 && sat_stac_get_num(ja, "gsd", &gsd) && gsd > 0)
		a->gsd = gsd;
	if (!a->has_transform && ip->has_transform) {
		a->has_transform = true;
		memcpy(a->transform, ip->transform, sizeof(a->transform));
	}
	if (!get_shape(ja, a->shape)) {
		a->shape[0] = ip->shape[0];
		a->shape[1] = ip->shape[1];
	}
	if (a->gsd <= 0 && a->has_transform && a->transform[0] != 0)
		a->gsd = fabs(a->transform[0]);
	if (a->gsd <= 0 && ip->gsd > 0)
		a->gsd = ip->gsd;
	return 0;
}

static int assets_parse(struct sat_scene *s, struct json_object *assets,
			const struct item_proj *ip)
{
	size_t n = (size_t)json_object_object_length(assets);
	int ret;

	if (n == 0)
		return -EINVAL;
	s->assets = calloc(n, sizeof(*s->assets));
	if (!s->assets)
		return -ENOMEM;
	json_object_object_foreach(assets, key, val) {
		/* An asset without a usable href is dropped, not the item. */
		if (!json_object_is_type(val, json_type_object) ||
		    !sat_stac_get_str(val, "href") || s->nassets >= n)
			continue;
		ret = asset_parse(&s->assets[s->nassets++], key, val, ip);
		if (ret)
			return ret;
	}
	return s->nassets ? 0 : -EINVAL;
}

/* Grows bbox over every position below a GeoJSON "coordinates" value. */
static void bbox_walk(struct json_object *c, double bb[4], bool *any)
{
	size_t i, n;
	double x, y;

	if (!json_object_is_type(c, json_type_array))
		return;
	n = json_object_array_length(c);
	if (n >= 2 && (json_object_is_type(json_object_array_get_idx(c, 0),
					   json_type_double) ||
		       json_object_is_type(json_object_array_get_idx(c, 0),
					   json_type_int))) {
		struct json_object *jy = json_object_array_get_idx(c, 1);

		if (!json_object_is_type(jy, json_type_double) &&
		    !json_object_is_type(jy, json_type_int))
			return;
		x = json_object_get_double(json_object_array_get_idx(c, 0));
		y = json_object_get_double(jy);
		if (!isfinite(x) || !isfinite(y))
			return;
		if (!*any) {
			bb[0] = bb[2] = x;
			bb[1] = bb[3] = y;
			*any = true;
		}
		bb[0] = fmin(bb[0], x);
		bb[1] = fmin(bb[1], y);
		bb[2] = fmax(bb[2], x);
		bb[3] = fmax(bb[3], y);
		return;
	}
	for (i = 0; i < n; i++)
		bbox_walk(json_object_array_get_idx(c, i), bb, any);
}

static void item_bbox(struct sat_scene *s, struct json_object *item)
{
	struct json_object *jb = sat_stac_get(item, "bbox", json_type_array);
	struct json_object *geom;
	double v[6];
	bool any = false;

	if (jb && json_object_array_length(jb) == 6 &&
	    get_numbers(item, "bbox", v, 6)) { /* 3D: w,s,zmin,e,n,zmax */
		s->bbox[0] = v[0];
		s->bbox[1] = v[1];
		s->bbox[2] = v[3];
		s->bbox[3] = v[4];
		return;
	}
	if (jb && json_object_array_length(jb) == 4 &&
	    get_numbers(item, "bbox", s->bbox, 4))
		return;
	geom = sat_stac_get(item, "geometry", json_type_object);
	bbox_walk(sat_stac_get(geom, "coordinates", json_type_array), s->bbox,
		  &any);
	if (!any)
		memset(s->bbox, 0, sizeof(s->bbox));
}

static int item_fill(struct sat_scene *s, struct json_object *item,
		     const char **why)
{
	struct json_object *props, *assets, *dt;
	struct item_proj ip = { 0 };
	const char *str;
	struct tm tm;
	size_t i;
	int ret;

	props = sat_stac_get(item, "properties", json_type_object);
	if (!props) {
		*why = "no properties object";
		return -EINVAL;
	}
	/* datetime may be null when start_datetime/end_datetime are given. */
	dt = sat_stac_get(props, "datetime", json_type_string);
	str = dt ? json_object_get_string(dt)
		 : sat_stac_get_str(props, "start_datetime");
	if (!str) {
		*why = "no datetime";
		return -EINVAL;
	}
	if (sat_stac_parse_datetime(str, &s->datetime) ||
	    !gmtime_r(&s->datetime, &tm) || tm.tm_year + 1900 > 9999 ||
	    tm.tm_year + 1900 < 1) {
		*why = "datetime is not RFC 3339";
		return -EINVAL;
	}
	/* not strftime's %Y: year 113 must still be a 10-character name */
	snprintf(s->date, sizeof(s->date), "%04u-%02u-%02u",
		 (unsigned)(tm.tm_year + 1900) % 10000u,
		 (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u);

	assets = sat_stac_get(item, "assets", json_type_object);
	if (!assets) {
		*why = "no assets object";
		return -EINVAL;
	}
	ip.has_transform =
		get_numbers(props, "proj:transform", ip.transform, 6);
	get_shape(props, ip.shape);
	if (!sat_stac_get_num(props, "gsd", &ip.gsd) || ip.gsd < 0)
		ip.gsd = 0;
	ret = assets_parse(s, assets, &ip);
	if (ret == -EINVAL)
		*why = "no asset with an href";
	if (ret)
		return ret;

	if (dup_str(&s->collection, sat_stac_get_str(item, "collection")) ||
	    dup_str(&s->processing_baseline,
		    sat_stac_get_str(props, "s2:processing_baseline")))
		return -ENOMEM;
	s->has_cloud =
		sat_stac_get_num(props, "eo:cloud_cover", &s->cloud_cover);
	s->epsg = get_epsg(props);
	for (i = 0; !s->epsg && i < s->nassets; i++)
		s->epsg = s->assets[i].epsg;
	item_bbox(s, item);

	/* Re-serialised, not the original bytes: json-c keeps key order and
	 * the text of numbers, so only whitespace and escapes may differ. */
	str = json_object_to_json_string_ext(
		item, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!str || dup_str(&s->json, str))
		return -ENOMEM;
	s->json_len = strlen(s->json);
	return 0;
}

int sat_stac_item_parse(struct json_object *item, struct sat_scene **out,
			const char **why)
{
	struct sat_scene *s;
	const char *id;
	int ret;

	*out = NULL;
	*why = NULL;
	if (!json_object_is_type(item, json_type_object)) {
		*why = "not an object";
		return -EINVAL;
	}
	id = sat_stac_get_str(item, "id");
	if (!id || !*id) {
		*why = "no id";
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->id = strdup(id);
	s->file_id = sat_stac_sanitize_id(id);
	ret = s->id && s->file_id ? item_fill(s, item, why) : -ENOMEM;
	if (ret) {
		sat_scene_free(s);
		return ret;
	}
	*out = s;
	return 0;
}
