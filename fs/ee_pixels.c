/*
 * ee_pixels: Earth Engine's getPixels on our output grid, see
 * include/satfs/ee.h. The grid we ask for is the render's own, so the
 * answer needs no resampling: it is decoded (cog module) and copied.
 * Tiles of a large grid are asked one after another: a render already
 * runs beside others, and the in-flight cap is ee_auth's.
 */
#include "satfs/ee.h"
#include "satfs/cog.h"
#include "satfs/geom.h"
#include "satfs/log.h"
#include "satfs/source.h"
#include "satfs/stac_ee.h"
#include "ee_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EE_MAX_PIXELS_BODY (64u << 20)

/* Splits "{url}:getPixels#{band}" into a malloc'd url and a pointer to
 * the band id inside href. */
static int split_href(const char *href, char **url, const char **band)
{
	const char *hash = href ? strrchr(href, '#') : NULL;

	if (!hash || !hash[1] || hash - href < 11 ||
	    strncmp(hash - 10, ":getPixels", 10) != 0)
		return -EINVAL;
	*url = strndup(href, (size_t)(hash - href));
	*band = hash + 1;
	return *url ? 0 : -ENOMEM;
}

/* One request: the tile (tx0, ty0, tw, th) of grid g into the bands. */
static int get_tile(struct sat_ee *ee, const char *url,
		    const char *const *ids, const struct sat_grid *g,
		    uint32_t tx0, uint32_t ty0, uint32_t tw, uint32_t th,
		    const struct sat_read *rd)
{
	struct sat_read_band *bands = rd->bands;
	size_t n = rd->nbands;
	const char *hdrs[] = { "Content-Type: application/json",
			       "Accept: image/tiff", NULL };
	struct sat_fetch_req req = { .url = url, .method = "POST",
				     .headers = hdrs,
				     .max_body_bytes = EE_MAX_PIXELS_BODY,
				     .priority = rd->prio,
				     .progress = rd->progress };
	struct sat_fetch_result res;
	uint32_t w = 0, h = 0, y;
	uint16_t spp = 0, *img = NULL;
	enum sat_sample_type type = SAT_SAMPLE_U8;
	void *raw = NULL;
	char *body;
	int err;

	body = sat_stac_ee_pixels_body(ids, n, g->epsg,
				       g->origin_x + tx0 * g->pixel_size,
				       g->origin_y - ty0 * g->pixel_size,
				       g->pixel_size, tw, th);
	if (!body)
		return -ENOMEM;
	req.body = body;
	req.body_len = strlen(body);
	err = sat_ee_fetch(ee, &req, &res, "getPixels");
	free(body);
	if (err) {
		sat_fetch_result_clear(&res);
		return err;
	}
	err = sat_cog_decode_image((const uint8_t *)res.data, res.len, &w, &h,
				   &spp, &type, &raw);
	sat_fetch_result_clear(&res);
	if (!err && type != SAT_SAMPLE_U16 && type != SAT_SAMPLE_U8) {
		sat_error("earthengine: getPixels answered %s samples, not "
			  "uint16", sat_sample_name(type));
		free(raw);
		return -EIO;
	}
	if (err) {
		sat_error("earthengine: getPixels answered a GeoTIFF we cannot "
			  "decode (%s)", sat_cog_last_error());
		return err == -ENOMEM ? err : -EIO;
	}
	img = raw;
	if (type == SAT_SAMPLE_U8) { /* widened in place, from the end */
		size_t k = (size_t)w * h * spp;

		img = realloc(raw, k * sizeof(*img));
		if (!img) {
			free(raw);
			return -ENOMEM;
		}
		while (k--)
			img[k] = ((const uint8_t *)img)[k];
	}
	if (w != tw || h != th || spp != n) {
		sat_error("earthengine: getPixels answered %ux%u x %u bands "
			  "for %ux%u x %zu", w, h, spp, tw, th, n);
		free(img);
		return -EIO;
	}
	for (size_t b = 0; b < n; b++)
		for (y = 0; y < th; y++)
			memcpy((uint16_t *)bands[b].values +
				       (size_t)(ty0 + y) * g->width + tx0,
			       img + (size_t)b * tw * th + (size_t)y * tw,
			       tw * sizeof(uint16_t));
	free(img);
	return 0;
}

int sat_ee_window(struct sat_ee *ee, const struct sat_read *rd)
{
	const struct sat_grid *g = rd->grid;
	struct sat_read_band *bands = rd->bands;
	size_t n = rd->nbands;
	uint8_t *valid = rd->valid;
	const char *ids[SAT_EE_MAX_BANDS];
	char *url = NULL, *other = NULL;
	size_t npix = (size_t)g->width * g->height, b, i;
	uint64_t max_bytes = sat_ee_max_bytes_(ee), bpp = 2 * (uint64_t)n;
	uint32_t side = sat_ee_max_side_(ee), tw, th, x, y;
	int err = 0;

	if (!n || n > SAT_EE_MAX_BANDS || !npix)
		return -EINVAL;
	for (b = 0; b < n && !err; b++) {
		err = split_href(bands[b].href, b ? &other : &url, &ids[b]);
		if (!err && b) {
			if (strcmp(other, url) != 0)
				err = -EINVAL; /* bands of one image only */
			free(other);
		}
	}
	if (err) {
		free(url);
		return err;
	}
	/* Whole rows of the widest allowed tile, as many as fit. */
	tw = g->width < side ? g->width : side;
	if (tw * bpp > max_bytes)
		tw = (uint32_t)(max_bytes / bpp) ? (uint32_t)(max_bytes / bpp)
						 : 1;
	th = (uint32_t)(max_bytes / (tw * bpp));
	th = th < 1 ? 1 : th > side ? side : th;
	if (th > g->height)
		th = g->height;

	for (b = 0; b < n && !err; b++)
		err = sat_read_band_reserve(&bands[b], SAT_SAMPLE_U16, npix);
	if (err)
		goto out;
	for (y = 0; y < g->height && !err; y += th)
		for (x = 0; x < g->width && !err; x += tw)
			err = get_tile(ee, url, ids, g, x, y,
				       g->width - x < tw ? g->width - x : tw,
				       g->height - y < th ? g->height - y : th,
				       rd);
	if (err)
		goto out;
	for (i = 0; i < npix; i++) {
		uint8_t ok = 1;

		for (b = 0; b < n; b++) {
			uint16_t v = ((const uint16_t *)bands[b].values)[i];

			if (v == 0 ||
			    (bands[b].has_nodata && v == bands[b].nodata))
				ok = 0;
		}
		valid[i] = ok;
	}
out:
	free(url);
	return err;
}
