/*
 * stac_ee: Earth Engine's REST JSON, see include/satfs/stac_ee.h. Part of
 * the JSON module: it shares the STAC parser's limits and helpers.
 */
#include "satfs/stac_ee.h"
#include "satfs/geom.h"
#include "satfs/log.h"
#include "satfs/stac.h"
#include "stac_private.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

/* Earth Engine's Sentinel-2 SR collections hold reflectance * 10000; the
 * HARMONIZED one has the +1000 of processing baseline 04.00 removed. */
#define EE_S2_SCALE 0.0001

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

/* One band of an image: its id and grid. */
static int band_parse(struct json_object *band, const char *image_url,
		      struct sat_asset *a, const char **why)
{
	struct json_object *grid, *at, *dim;
	const char *id = sat_stac_get_str(band, "id");
	const char *crs;
	double sx = 0, sy = 0, tx = 0, ty = 0, hx = 0, hy = 0, w = 0, h = 0;

	grid = sat_stac_get(band, "grid", json_type_object);
	crs = sat_stac_get_str(grid, "crsCode");
	at = sat_stac_get(grid, "affineTransform", json_type_object);
	dim = sat_stac_get(grid, "dimensions", json_type_object);
	if (!id || !id[0] || strchr(id, '#') || !crs || !at) {
		*why = "a band without id or grid";
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
	a->type = strdup("image/tiff; application=geotiff");
	if (asprintf(&a->href, "%s:getPixels#%s", image_url, id) < 0)
		a->href = NULL;
	if (!a->key || !a->band_name || !a->type || !a->href)
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
	a->has_scale = true;
	a->scale = EE_S2_SCALE;
	a->offset = 0;
	/* getPixels writes masked pixels as 0 */
	a->has_nodata = true;
	a->nodata = 0;
	return 0;
}

/* An Image resource as a scene. */
static int image_parse(struct json_object *img, const char *assets_url,
		       struct sat_scene **out, const char **why)
{
	struct json_object *props, *bands;
	struct sat_scene *s;
	const char *id, *slash, *t, *pb;
	char *image_url = NULL;
	struct tm tm;
	size_t i, n;
	int ret = -ENOMEM;

	*out = NULL;
	*why = NULL;
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
				 image_url, a, why);
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
	struct json_object *root, *imgs;
	const char *tok;
	char pbuf[128];
	size_t i, n;
	int ret = 0;

	*next_token = NULL;
	if (sat_stac_json_parse(body, len, &root))
		return -EINVAL;
	imgs = sat_stac_get(root, "images", json_type_array);
	if (!json_object_is_type(root, json_type_object) ||
	    (!imgs && json_object_object_get_ex(root, "images", NULL))) {
		sat_warn("earthengine: a listImages answer that is not one");
		json_object_put(root);
		return -EINVAL;
	}
	n = imgs ? json_object_array_length(imgs) : 0;
	for (i = 0; i < n; i++) {
		struct json_object *img = json_object_array_get_idx(imgs, i);
		struct sat_scene *s = NULL, **grown;
		const char *why = NULL;

		ret = image_parse(img, assets_url, &s, &why);
		if (ret == -ENOMEM)
			break;
		if (ret) {
			sat_warn("earthengine: image %s skipped: %s",
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
				json_object_new_string("GEO_TIFF"));
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
			  char **pem, char **token_uri)
{
	struct json_object *root;
	const char *e, *k, *u;

	*email = *pem = *token_uri = NULL;
	if (sat_stac_json_parse(body, len, &root))
		return -EINVAL;
	e = sat_stac_get_str(root, "client_email");
	k = sat_stac_get_str(root, "private_key");
	u = sat_stac_get_str(root, "token_uri");
	if (!e || !k || !u) {
		json_object_put(root);
		return -EINVAL;
	}
	*email = strdup(e);
	*pem = strdup(k);
	*token_uri = strdup(u);
	json_object_put(root);
	if (!*email || !*pem || !*token_uri) {
		free(*email);
		free(*pem);
		free(*token_uri);
		*email = *pem = *token_uri = NULL;
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
