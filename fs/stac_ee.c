/*
 * stac_ee: Earth Engine's REST JSON, see include/satfs/stac_ee.h. Part of
 * the JSON module: it shares the STAC parser's limits and helpers.
 */
#include "satfs/stac_ee.h"
#include "satfs/geom.h"
#include "satfs/log.h"
#include "satfs/sample.h"
#include "satfs/stac.h"
#include "stac_private.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

/*
 * Radiometry of the collections satfs knows. Earth Engine's REST resources
 * carry no scale or offset (an ImageBand has id, dataType, grid, ...:
 * https://developers.google.com/earth-engine/reference/rest/v1/projects.assets),
 * so they come from the collections' catalog pages:
 * - Sentinel-2 (COPERNICUS/S2_SR, S2, and their _HARMONIZED versions):
 *   "12 UINT16 spectral bands representing SR scaled by 10000"; the
 *   non-harmonised collections keep the +1000 DN offset of processing
 *   baseline 04.00 and later, which the HARMONIZED ones remove
 *   (https://developers.google.com/earth-engine/datasets/catalog/COPERNICUS_S2_SR).
 * - Landsat Collection 2 Level-2 (LANDSAT/L?0?/C02/T?_L2): SR_B* are
 *   DN * 2.75e-05 - 0.2, ST_B* DN * 0.00341802 + 149.0
 *   (https://developers.google.com/earth-engine/landsat_c1_to_c2); the
 *   images' REFLECTANCE_MULT_BAND_n / _ADD_ (TEMPERATURE_ for ST) properties,
 *   copied from the scenes' MTL metadata, win when present.
 * A band of a FLOAT or DOUBLE dataType elsewhere holds its physical value:
 * scale 1, offset 0 (our rule; such collections state no DN scaling).
 */
#define S2_SCALE 0.0001
#define S2_BASELINE_OFFSET (-0.1)   /* -1000 DN at scale 0.0001 */
#define LC2_SR_SCALE 2.75e-05
#define LC2_SR_OFFSET (-0.2)
#define LC2_ST_SCALE 0.00341802
#define LC2_ST_OFFSET 149.0

/* Grows the lon/lat box b with every [x, y] pair found under v. */
static void geometry_bbox(struct json_object *v, double b[4], int depth)
{
	size_t i, n;

	if (depth > SAT_STAC_MAX_DEPTH ||
	    !json_object_is_type(v, json_type_array))
		return;
	n = json_object_array_length(v);
	if (n >= 2) {
		struct json_object *x = json_object_array_get_idx(v, 0);
		struct json_object *y = json_object_array_get_idx(v, 1);

		if ((json_object_is_type(x, json_type_double) ||
		     json_object_is_type(x, json_type_int)) &&
		    (json_object_is_type(y, json_type_double) ||
		     json_object_is_type(y, json_type_int))) {
			double lon = json_object_get_double(x);
			double lat = json_object_get_double(y);

			if (!isfinite(lon) || !isfinite(lat))
				return;
			if (b[0] > b[2]) {
				b[0] = b[2] = lon;
				b[1] = b[3] = lat;
			}
			b[0] = fmin(b[0], lon);
			b[2] = fmax(b[2], lon);
			b[1] = fmin(b[1], lat);
			b[3] = fmax(b[3], lat);
			return;
		}
	}
	for (i = 0; i < n; i++)
		geometry_bbox(json_object_array_get_idx(v, i), b, depth + 1);
}

/* S2's spectral bands: B1..B12 and B8A. */
static bool s2_spectral(const char *band)
{
	char *end;
	long n;

	if (band[0] != 'B' || !band[1])
		return false;
	if (!strcmp(band, "B8A"))
		return true;
	n = strtol(band + 1, &end, 10);
	return *end == '\0' && n >= 1 && n <= 12 && band[1] != '0';
}

/* A number property, also when the catalog wrote it as a string
 * ("04.00"). */
static bool prop_num(struct json_object *props, const char *key, double *v)
{
	const char *s = sat_stac_get_str(props, key);
	char *end;

	if (sat_stac_get_num(props, key, v))
		return true;
	if (!s)
		return false;
	*v = strtod(s, &end);
	return end != s && *end == '\0' && isfinite(*v);
}

/* Landsat Collection 2 Level-2: "LANDSAT/LC08/C02/T1_L2" and the like. */
static bool landsat_c2_l2(const char *c)
{
	size_t n = strlen(c);

	return !strncmp(c, "LANDSAT/L", 9) && strstr(c, "/C02/") && n > 3 &&
	       !strcmp(c + n - 3, "_L2");
}

bool sat_stac_ee_radiometry(const char *collection, const char *band,
			    struct json_object *props, bool is_float,
			    double *scale, double *offset)
{
	char key[64];
	double pb;

	if (!strcmp(collection, "COPERNICUS/S2_SR_HARMONIZED") ||
	    !strcmp(collection, "COPERNICUS/S2_HARMONIZED") ||
	    !strcmp(collection, "COPERNICUS/S2_SR") ||
	    !strcmp(collection, "COPERNICUS/S2")) {
		bool harmonised = strstr(collection, "_HARMONIZED") != NULL;

		*scale = S2_SCALE;
		*offset = 0;
		if (!strcmp(band, "AOT") || !strcmp(band, "WVP"))
			*scale = 0.001; /* the catalog's band table */
		else if (s2_spectral(band) && !harmonised &&
			 prop_num(props, "PROCESSING_BASELINE", &pb) &&
			 pb >= 4.0)
			*offset = S2_BASELINE_OFFSET;
		/* QA and class bands: value = DN (scale 1e-4 gives v = DN) */
		return true;
	}
	if (landsat_c2_l2(collection) &&
	    (!strncmp(band, "SR_B", 4) || !strncmp(band, "ST_B", 4))) {
		bool sr = band[0] == 'S' && band[1] == 'R';
		const char *what = sr ? "REFLECTANCE" : "TEMPERATURE";

		*scale = sr ? LC2_SR_SCALE : LC2_ST_SCALE;
		*offset = sr ? LC2_SR_OFFSET : LC2_ST_OFFSET;
		/* SR_B4 -> REFLECTANCE_MULT_BAND_4; ST_B10 ->
		 * TEMPERATURE_MULT_BAND_ST_B10 */
		snprintf(key, sizeof(key), "%s_MULT_BAND_%s", what,
			 sr ? band + 4 : band);
		prop_num(props, key, scale);
		snprintf(key, sizeof(key), "%s_ADD_BAND_%s", what,
			 sr ? band + 4 : band);
		prop_num(props, key, offset);
		if (!isfinite(*scale) || *scale == 0)
			*scale = sr ? LC2_SR_SCALE : LC2_ST_SCALE;
		return true;
	}
	if (is_float) {
		*scale = 1;
		*offset = 0;
		return true;
	}
	return false;
}

/* A band's dataType (PixelDataType: precision INT, FLOAT or DOUBLE, and
 * dimensionsCount for array bands): 0 an integer band, 1 a floating-point
 * one, -1 one we cannot render (array-valued, or an unknown precision).
 * A band without dataType is taken for an integer one. */
static int band_precision(struct json_object *band)
{
	struct json_object *dt = sat_stac_get(band, "dataType",
					      json_type_object);
	const char *p = sat_stac_get_str(dt, "precision");
	double dims = 0;

	if (sat_stac_get_num(dt, "dimensionsCount", &dims) && dims != 0)
		return -1;
	if (!p || !strcmp(p, "INT"))
		return 0;
	if (!strcmp(p, "FLOAT") || !strcmp(p, "DOUBLE"))
		return 1;
	return -1;
}

/* The sample type of a band's dataType, as getPixels answers it: FLOAT
 * float32, DOUBLE float64, INT the smallest type that holds its range
 * (min and max, left out when 0: proto3); -1 when it cannot be told (no
 * range, or one past 32 bits). */
static int band_sample_type(struct json_object *band)
{
	struct json_object *dt = sat_stac_get(band, "dataType",
					      json_type_object);
	struct json_object *range = sat_stac_get(dt, "range",
						 json_type_object);
	const char *p = sat_stac_get_str(dt, "precision");
	double lo = 0, hi = 0;

	if (p && !strcmp(p, "FLOAT"))
		return SAT_SAMPLE_F32;
	if (p && !strcmp(p, "DOUBLE"))
		return SAT_SAMPLE_F64;
	if (!p || strcmp(p, "INT") != 0 || !range)
		return -1;
	sat_stac_get_num(range, "min", &lo);
	sat_stac_get_num(range, "max", &hi);
	if (lo >= 0)
		return hi <= 255 ? SAT_SAMPLE_U8
		       : hi <= 65535 ? SAT_SAMPLE_U16
		       : hi <= 4294967295.0 ? SAT_SAMPLE_U32 : -1;
	return lo >= -128 && hi <= 127 ? SAT_SAMPLE_I8
	       : lo >= -32768 && hi <= 32767 ? SAT_SAMPLE_I16
	       : lo >= -2147483648.0 && hi <= 2147483647.0 ? SAT_SAMPLE_I32
							     : -1;
}

/* One band of an image: its id, grid, data type and radiometry. */
static int band_parse(struct json_object *band, const char *image_url,
		      const char *collection, struct json_object *props,
		      struct sat_asset *a, const char **why)
{
	struct json_object *grid, *at, *dim;
	const char *id = sat_stac_get_str(band, "id");
	const char *crs;
	double sx = 0, sy = 0, tx = 0, ty = 0, hx = 0, hy = 0, w = 0, h = 0;
	int precision = band_precision(band);

	grid = sat_stac_get(band, "grid", json_type_object);
	crs = sat_stac_get_str(grid, "crsCode");
	at = sat_stac_get(grid, "affineTransform", json_type_object);
	dim = sat_stac_get(grid, "dimensions", json_type_object);
	if (!id || !id[0] || strchr(id, '#') || !crs || !at) {
		*why = "a band without id or grid";
		return -EINVAL;
	}
	if (precision < 0) {
		*why = "a band of an array or unknown data type";
		return -EINVAL;
	}
	/* Zero fields are left out of the JSON (proto3): absent means 0. */
	sat_stac_get_num(at, "scaleX", &sx);
	sat_stac_get_num(at, "shearX", &hx);
	sat_stac_get_num(at, "translateX", &tx);
	sat_stac_get_num(at, "shearY", &hy);
	sat_stac_get_num(at, "scaleY", &sy);
	sat_stac_get_num(at, "translateY", &ty);
	sat_stac_get_num(dim, "width", &w);
	sat_stac_get_num(dim, "height", &h);
	a->key = strdup(id);
	a->band_name = strdup(id);
	a->type = NULL; /* not a file: pixels come from getPixels */
	if (asprintf(&a->href, "%s:getPixels#%s", image_url, id) < 0)
		a->href = NULL;
	if (!a->key || !a->band_name || !a->href)
		return -ENOMEM;
	a->epsg = sat_geom_parse_epsg(crs);
	a->gsd = fabs(sx);
	a->has_transform = true;
	a->transform[0] = sx;
	a->transform[1] = hx;
	a->transform[2] = tx;
	a->transform[3] = hy;
	a->transform[4] = sy;
	a->transform[5] = ty;
	a->shape[0] = h > 0 && h < 1e9 ? (int)h : 0;
	a->shape[1] = w > 0 && w < 1e9 ? (int)w : 0;
	a->data_type = band_sample_type(band);
	a->has_scale = sat_stac_ee_radiometry(collection, id, props,
					      precision == 1, &a->scale,
					      &a->offset);
	/* getPixels writes masked pixels as 0 */
	a->has_nodata = true;
	a->nodata = 0;
	return 0;
}

/* An IMAGE asset (EarthEngineAsset, view FULL) as a scene. */
static int image_parse(struct json_object *img, const char *assets_url,
		       const char *collection, struct sat_scene **out,
		       const char **why)
{
	struct json_object *props, *bands;
	struct sat_scene *s;
	const char *id, *slash, *t, *pb, *type;
	char *image_url = NULL;
	struct tm tm;
	size_t i, n;
	int ret = -ENOMEM;

	*out = NULL;
	*why = NULL;
	type = sat_stac_get_str(img, "type");
	if (type && strcmp(type, "IMAGE") != 0) {
		*why = "not an IMAGE asset";
		return -EINVAL;
	}
	id = sat_stac_get_str(img, "id");
	if (!id)
		id = sat_stac_get_str(img, "name");
	t = sat_stac_get_str(img, "startTime");
	bands = sat_stac_get(img, "bands", json_type_array);
	if (!id || !t || !bands || !json_object_array_length(bands)) {
		*why = "no id, startTime or bands";
		return -EINVAL;
	}
	slash = strrchr(id, '/');
	id = slash ? slash + 1 : id;
	if (!id[0] || !strcmp(id, ".") || !strcmp(id, "..") ||
	    strcspn(id, "?#%:") != strlen(id)) {
		*why = "an id that cannot name an asset";
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->id = strdup(id);
	s->file_id = sat_stac_sanitize_id(id);
	if (!s->id || !s->file_id ||
	    asprintf(&image_url, "%s/%s", assets_url, id) < 0) {
		image_url = NULL;
		goto fail;
	}
	if (sat_stac_parse_datetime(t, &s->datetime)) {
		*why = "a startTime that is not RFC 3339";
		ret = -EINVAL;
		goto fail;
	}
	gmtime_r(&s->datetime, &tm);
	strftime(s->date, sizeof(s->date), "%Y-%m-%d", &tm);
	props = sat_stac_get(img, "properties", json_type_object);
	s->has_cloud = sat_stac_get_num(props, "CLOUDY_PIXEL_PERCENTAGE",
					&s->cloud_cover);
	pb = sat_stac_get_str(props, "PROCESSING_BASELINE");
	if (pb && !(s->processing_baseline = strdup(pb)))
		goto fail;
	s->bbox[0] = 1;
	s->bbox[2] = 0; /* empty until a point is seen */
	geometry_bbox(sat_stac_get(sat_stac_get(img, "geometry",
						json_type_object),
				   "coordinates", json_type_array),
		      s->bbox, 0);
	if (s->bbox[0] > s->bbox[2])
		memset(s->bbox, 0, sizeof(s->bbox));

	n = json_object_array_length(bands);
	s->assets = calloc(n, sizeof(*s->assets));
	if (!s->assets)
		goto fail;
	for (i = 0; i < n; i++) {
		struct sat_asset *a = &s->assets[s->nassets];

		a->data_type = -1; /* the image's bands say it (dataType) */
		ret = band_parse(json_object_array_get_idx(bands, i),
				 image_url, collection, props, a, why);
		if (ret == 0) {
			s->nassets++;
			continue;
		}
		free(a->key);
		free(a->band_name);
		free(a->type);
		free(a->href);
		memset(a, 0, sizeof(*a));
		a->data_type = -1;
		if (ret == -ENOMEM)
			goto fail;
		ret = -ENOMEM; /* a band we cannot use: skip it */
	}
	if (!s->nassets) {
		*why = "no band with a grid";
		ret = -EINVAL;
		goto fail;
	}
	*why = NULL;
	s->epsg = s->assets[0].epsg;
	s->json = sat_stac_json_dup(img);
	if (!s->json)
		goto fail;
	s->json_len = strlen(s->json);
	free(image_url);
	*out = s;
	return 0;
fail:
	free(image_url);
	sat_scene_free(s);
	return ret;
}

int sat_stac_ee_parse_list(const char *body, size_t len,
			   const char *assets_url, struct sat_scene ***items,
			   size_t *nitems, size_t *skipped, char **next_token)
{
	struct json_object *root, *list;
	const char *tok, *collection;
	char pbuf[128];
	size_t i, n;
	int ret = 0;

	*next_token = NULL;
	collection = strstr(assets_url, "/assets/");
	collection = collection ? collection + 8 : assets_url;
	if (sat_stac_json_parse(body, len, &root))
		return -EINVAL;
	list = sat_stac_get(root, "assets", json_type_array);
	if (!json_object_is_type(root, json_type_object) ||
	    (!list && json_object_object_get_ex(root, "assets", NULL))) {
		sat_warn("earthengine: a listAssets answer that is not one");
		json_object_put(root);
		return -EINVAL;
	}
	if (!list && json_object_object_get_ex(root, "images", NULL)) {
		/* v1alpha's listImages shape: never read as "no scenes" */
		sat_warn("earthengine: the answer lists \"images\", not "
			 "\"assets\": not a v1 listAssets answer");
		json_object_put(root);
		return -EINVAL;
	}
	n = list ? json_object_array_length(list) : 0;
	for (i = 0; i < n; i++) {
		struct json_object *img = json_object_array_get_idx(list, i);
		struct sat_scene *s = NULL, **grown;
		const char *why = NULL;

		ret = image_parse(img, assets_url, collection, &s, &why);
		if (ret == -ENOMEM)
			break;
		if (ret) {
			sat_warn("earthengine: asset %s skipped: %s",
				 sat_stac_printable(sat_stac_get_str(img, "id"),
						    pbuf, sizeof(pbuf)),
				 why ? why : "invalid");
			(*skipped)++;
			ret = 0;
			continue;
		}
		grown = realloc(*items, (*nitems + 1) * sizeof(**items));
		if (!grown) {
			sat_scene_free(s);
			ret = -ENOMEM;
			break;
		}
		*items = grown;
		(*items)[(*nitems)++] = s;
	}
	tok = sat_stac_get_str(root, "nextPageToken");
	if (!ret && tok && tok[0] && !(*next_token = strdup(tok)))
		ret = -ENOMEM;
	json_object_put(root);
	return ret;
}

static void rfc3339(time_t t, char buf[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

char *sat_stac_ee_list_filter(time_t from, time_t to_excl,
			      const double *lonlat, size_t n,
			      double max_cloud)
{
	char t0[32], t1[32], cloud[80] = "";
	char *region = sat_stac_ee_region(lonlat, n), *out = NULL, *p;

	if (!region)
		return NULL;
	/* the GeoJSON goes inside the filter's double quotes: its own
	 * double quotes become single ones, as the official clients do */
	for (p = region; *p; p++)
		if (*p == '"')
			*p = '\'';
	rfc3339(from, t0);
	rfc3339(to_excl, t1);
	/* max_cloud < 0: every image, those without the property too */
	if (max_cloud >= 0)
		snprintf(cloud, sizeof(cloud),
			 " AND properties.CLOUDY_PIXEL_PERCENTAGE < %.15g",
			 max_cloud);
	if (asprintf(&out, "startTime >= \"%s\" AND endTime < \"%s\" AND "
		     "intersects(\"%s\")%s", t0, t1, region, cloud) < 0)
		out = NULL;
	free(region);
	return out;
}

char *sat_stac_ee_pixels_body(const char *const *bands, size_t n, int epsg,
			      double x0, double y0, double px, uint32_t w,
			      uint32_t h)
{
	struct json_object *root = json_object_new_object(), *ids = NULL,
			   *grid = NULL, *at = NULL, *dim = NULL;
	char crs[32];
	char *out = NULL;
	size_t i;
	int err = 0;

	if (!root)
		return NULL;
	snprintf(crs, sizeof(crs), "EPSG:%d", epsg);
	err |= sat_stac_obj_add(root, "fileFormat",
				json_object_new_string("NPY"));
	err |= sat_stac_obj_add(root, "bandIds", ids = json_object_new_array());
	for (i = 0; !err && i < n; i++)
		err |= sat_stac_arr_add(ids, json_object_new_string(bands[i]));
	err |= sat_stac_obj_add(root, "grid", grid = json_object_new_object());
	if (!err) {
		err |= sat_stac_obj_add(grid, "crsCode",
					json_object_new_string(crs));
		err |= sat_stac_obj_add(grid, "affineTransform",
					at = json_object_new_object());
	}
	if (!err) {
		err |= sat_stac_obj_add(at, "scaleX",
					sat_stac_json_num(px));
		err |= sat_stac_obj_add(at, "shearX", json_object_new_int(0));
		err |= sat_stac_obj_add(at, "translateX",
					sat_stac_json_num(x0));
		err |= sat_stac_obj_add(at, "shearY", json_object_new_int(0));
		err |= sat_stac_obj_add(at, "scaleY",
					sat_stac_json_num(-px));
		err |= sat_stac_obj_add(at, "translateY",
					sat_stac_json_num(y0));
		err |= sat_stac_obj_add(grid, "dimensions",
					dim = json_object_new_object());
	}
	if (!err) {
		err |= sat_stac_obj_add(dim, "width",
					json_object_new_int64(w));
		err |= sat_stac_obj_add(dim, "height",
					json_object_new_int64(h));
	}
	if (!err)
		out = sat_stac_json_dup(root);
	json_object_put(root);
	return out;
}

char *sat_stac_ee_region(const double *lonlat, size_t n)
{
	struct json_object *root = json_object_new_object(), *rings = NULL,
			   *ring = NULL;
	char *out = NULL;
	size_t i;
	int err = 0;

	if (!root)
		return NULL;
	err |= sat_stac_obj_add(root, "type",
				json_object_new_string("Polygon"));
	err |= sat_stac_obj_add(root, "coordinates",
				rings = json_object_new_array());
	if (!err)
		err |= sat_stac_arr_add(rings, ring = json_object_new_array());
	for (i = 0; !err && i <= n; i++) {
		struct json_object *pt = json_object_new_array();
		size_t k = i % n; /* closed: the first point again */

		err |= sat_stac_arr_add(ring, pt);
		if (!err) {
			err |= sat_stac_arr_add(pt, sat_stac_json_num(
							    lonlat[2 * k]));
			err |= sat_stac_arr_add(pt, sat_stac_json_num(
							    lonlat[2 * k + 1]));
		}
	}
	if (!err)
		out = sat_stac_json_dup(root);
	json_object_put(root);
	return out;
}

int sat_stac_ee_parse_token(const char *body, size_t len, char **token,
			    long *expires_in)
{
	struct json_object *root;
	const char *t;
	double e = 0;

	*token = NULL;
	*expires_in = 0;
	if (sat_stac_json_parse(body, len, &root))
		return -EINVAL;
	t = sat_stac_get_str(root, "access_token");
	if (!t || !t[0]) {
		json_object_put(root);
		return -EINVAL;
	}
	if (sat_stac_get_num(root, "expires_in", &e) && e > 0 && e < 1e7)
		*expires_in = (long)e;
	*token = strdup(t);
	json_object_put(root);
	return *token ? 0 : -ENOMEM;
}

int sat_stac_ee_parse_key(const char *body, size_t len, char **email,
			  char **pem, char **token_uri, char **project)
{
	struct json_object *root;
	const char *e, *k, *u, *p;
	bool want;

	*email = *pem = *token_uri = NULL;
	if (project)
		*project = NULL;
	if (sat_stac_json_parse(body, len, &root))
		return -EINVAL;
	e = sat_stac_get_str(root, "client_email");
	k = sat_stac_get_str(root, "private_key");
	u = sat_stac_get_str(root, "token_uri");
	p = sat_stac_get_str(root, "project_id");
	if (!e || !k || !u) {
		json_object_put(root);
		return -EINVAL;
	}
	*email = strdup(e);
	*pem = strdup(k);
	*token_uri = strdup(u);
	want = project && p && p[0] && !strpbrk(p, "\r\n");
	if (want)
		*project = strdup(p);
	json_object_put(root);
	if (!*email || !*pem || !*token_uri || (want && !*project)) {
		free(*email);
		free(*pem);
		free(*token_uri);
		*email = *pem = *token_uri = NULL;
		if (project) {
			free(*project);
			*project = NULL;
		}
		return -ENOMEM;
	}
	return 0;
}

char *sat_stac_ee_jwt_claims(const char *email, const char *scope,
			     const char *aud, time_t now)
{
	struct json_object *root = json_object_new_object();
	char *out = NULL;
	int err = 0;

	if (!root)
		return NULL;
	err |= sat_stac_obj_add(root, "iss", json_object_new_string(email));
	err |= sat_stac_obj_add(root, "scope", json_object_new_string(scope));
	err |= sat_stac_obj_add(root, "aud", json_object_new_string(aud));
	err |= sat_stac_obj_add(root, "iat", json_object_new_int64(now));
	err |= sat_stac_obj_add(root, "exp", json_object_new_int64(now + 3600));
	if (!err)
		out = sat_stac_json_dup(root);
	json_object_put(root);
	return out;
}

int sat_stac_ee_parse_error(const char *body, size_t len, char *msg,
			    size_t msglen)
{
	struct json_object *root, *e;
	const char *m, *st;
	char mb[256], sb[64];

	if (!body || sat_stac_json_parse(body, len, &root))
		return -EINVAL;
	e = sat_stac_get(root, "error", json_type_object);
	m = sat_stac_get_str(e, "message");
	st = sat_stac_get_str(e, "status");
	if (!e && sat_stac_get_str(root, "error")) {
		/* OAuth 2.0 (RFC 6749 section 5.2): an error code such as
		 * invalid_grant, and a description meant for developers */
		st = sat_stac_get_str(root, "error");
		m = sat_stac_get_str(root, "error_description");
		snprintf(msg, msglen, "%s: %s",
			 sat_stac_printable(st, sb, sizeof(sb)),
			 m ? sat_stac_printable(m, mb, sizeof(mb))
			   : "(no description)");
		json_object_put(root);
		return 0;
	}
	if (!m) {
		json_object_put(root);
		return -EINVAL;
	}
	snprintf(msg, msglen, "%s: %s",
		 sat_stac_printable(st ? st : "ERROR", sb, sizeof(sb)),
		 sat_stac_printable(m, mb, sizeof(mb)));
	json_object_put(root);
	return 0;
}
