/*
 * ee_catalog: Earth Engine's listImages, see include/satfs/ee.h. The
 * catalog module owns caching, filtering and sharing; this file only asks
 * the API, page after page.
 */
#include "satfs/ee.h"
#include "satfs/config.h"
#include "satfs/log.h"
#include "satfs/region.h"
#include "satfs/source.h"
#include "satfs/stac.h"
#include "satfs/stac_ee.h"
#include "ee_private.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EE_PAGE_SIZE 100
#define EE_MAX_PAGES 1000      /* a server that pages forever stops here */
#define EE_MAX_LIST_BODY (64u << 20)

/* Percent-encodes s for a query string (RFC 3986 unreserved kept). */
static char *query_escape(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = malloc(3 * strlen(s) + 1), *o = out;

	if (!out)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~') {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}

static void rfc3339(time_t t, char buf[32])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int sat_ee_parse_page(const struct sat_config *cfg, const char *body,
		      size_t len, struct sat_scene ***items, size_t *nitems,
		      size_t *skipped)
{
	char *assets = sat_ee_assets_url(cfg), *next = NULL;
	int err;

	if (!assets)
		return -ENOMEM;
	err = sat_stac_ee_parse_list(body, len, assets, items, nitems,
				     skipped, &next);
	free(next);
	free(assets);
	return err;
}

/* The first page's URL, without pageToken. */
static char *list_url(const struct sat_config *cfg,
		      const struct sat_region *r, time_t from, time_t to,
		      double max_cloud)
{
	char t0[32], t1[32], filter[96];
	char *assets = sat_ee_assets_url(cfg), *region = NULL, *eregion = NULL,
	     *efilter = NULL, *url = NULL;

	rfc3339(from, t0);
	rfc3339(to + 1, t1); /* our `to` is inclusive, endTime is not */
	/* max_cloud < 0: every image, those without the property too */
	if (max_cloud >= 0)
		snprintf(filter, sizeof(filter),
			 "properties.CLOUDY_PIXEL_PERCENTAGE < %g", max_cloud);
	else
		filter[0] = '\0';
	region = sat_stac_ee_region(r->ring, r->nring);
	if (assets && region && (eregion = query_escape(region)) &&
	    (efilter = query_escape(filter)) &&
	    asprintf(&url, "%s:listImages?startTime=%s&endTime=%s&region=%s"
		     "%s%s&pageSize=%d", assets, t0, t1, eregion,
		     filter[0] ? "&filter=" : "",
		     filter[0] ? efilter : "",
		     EE_PAGE_SIZE) < 0)
		url = NULL;
	free(assets);
	free(region);
	free(eregion);
	free(efilter);
	return url;
}

int sat_ee_list(struct sat_ee *ee, const struct sat_search *q,
		int (*page_cb)(void *arg, char *body, size_t len), void *arg,
		struct sat_scene ***items, size_t *nitems)
{
	const struct sat_config *cfg = sat_ee_config_(ee);
	const struct sat_region *r = q->region;
	const char *hdrs[] = { "Accept: application/json", NULL };
	char *base = list_url(cfg, r, q->from, q->to, q->max_cloud), *assets;
	char *token = NULL, *url = NULL, *etok, what[128];
	struct sat_scene **got = *items;
	size_t ngot = *nitems, first = *nitems, skipped = 0, i;
	int max_items = q->max_items, err = -ENOMEM, page;

	assets = sat_ee_assets_url(cfg);
	if (!base || !assets)
		goto out;
	snprintf(what, sizeof(what), "%s: listImages", r->name);
	for (page = 0; page < EE_MAX_PAGES; page++) {
		struct sat_fetch_req req = { .headers = hdrs,
					     .max_body_bytes =
						     EE_MAX_LIST_BODY };
		struct sat_fetch_result res;
		char *next = NULL;
		size_t before = ngot;

		free(url);
		url = NULL;
		if (!token) {
			url = strdup(base);
		} else if ((etok = query_escape(token))) {
			if (asprintf(&url, "%s&pageToken=%s", base, etok) < 0)
				url = NULL;
			free(etok);
		}
		if (!url) {
			err = -ENOMEM;
			break;
		}
		req.url = url;
		err = sat_ee_fetch(ee, &req, &res, what);
		if (err) {
			sat_fetch_result_clear(&res);
			err = err == -ENOMEM ? err : -EIO;
			break;
		}
		err = sat_stac_ee_parse_list(res.data, res.len, assets, &got,
					     &ngot, &skipped, &next);
		if (err) {
			sat_fetch_result_clear(&res);
			sat_error("catalog: %s: listImages answered something "
				  "that is not a page of images", r->name);
			err = err == -ENOMEM ? err : -EIO;
			break;
		}
		err = page_cb(arg, res.data, res.len);
		res.data = NULL;
		sat_fetch_result_clear(&res);
		if (err) {
			free(next);
			break;
		}
		/* the same token again would page forever */
		if (!next || (token && strcmp(next, token) == 0) ||
		    ngot == before || ngot >= (size_t)max_items) {
			free(next);
			break;
		}
		free(token);
		token = next;
	}
	if (page == EE_MAX_PAGES)
		sat_warn("catalog: %s: paging stopped after %d pages", r->name,
			 EE_MAX_PAGES);
	if (skipped)
		sat_warn("catalog: %s: %zu malformed images skipped", r->name,
			 skipped);
out:
	/* the array may have moved; on failure, only what came is dropped */
	if (err) {
		for (i = first; i < ngot; i++)
			sat_scene_free(got[i]);
		ngot = first;
	}
	*items = got;
	*nitems = ngot;
	free(base);
	free(assets);
	free(token);
	free(url);
	return err;
}
