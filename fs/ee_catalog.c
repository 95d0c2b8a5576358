/*
 * ee_catalog: the listing of an Earth Engine image collection, see
 * include/satfs/ee.h. The catalog module owns caching, filtering and
 * sharing; this file only asks the API, page after page.
 *
 * The v1 API lists a collection with projects.assets.listAssets
 * (GET {ee_url}/projects/earthengine-public/assets/{collection}:listAssets,
 * https://developers.google.com/earth-engine/reference/rest/v1/projects.assets/listAssets);
 * its `filter` carries dates, region and properties, and the answer's
 * list is `assets`. listImages exists only in v1alpha.
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
#include <stdbool.h>
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
	char *assets = sat_ee_assets_url(cfg), *filter, *efilter = NULL;
	char *url = NULL;

	/* our `to` is inclusive, endTime < is not */
	filter = sat_stac_ee_list_filter(from, to + 1, r->ring, r->nring,
					 max_cloud);
	if (assets && filter && (efilter = query_escape(filter)) &&
	    asprintf(&url, "%s:listAssets?filter=%s&pageSize=%d", assets,
		     efilter, EE_PAGE_SIZE) < 0)
		url = NULL;
	free(assets);
	free(filter);
	free(efilter);
	return url;
}

/* Has the token been seen before? seen is bounded by EE_MAX_PAGES. */
static bool token_seen(char *const *seen, size_t n, const char *tok)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(seen[i], tok) == 0)
			return true;
	return false;
}

int sat_ee_list(struct sat_ee *ee, const struct sat_search *q,
		int (*page_cb)(void *arg, char *body, size_t len), void *arg,
		struct sat_scene ***items, size_t *nitems)
{
	const struct sat_config *cfg = sat_ee_config_(ee);
	const struct sat_region *r = q->region;
	const char *hdrs[] = { "Accept: application/json", NULL };
	char *base = list_url(cfg, r, q->from, q->to, q->max_cloud), *assets;
	char *url = NULL, *etok, what[128], **seen = NULL;
	struct sat_scene **got = *items;
	size_t ngot = *nitems, first = *nitems, skipped = 0, nseen = 0, i;
	int max_items = q->max_items, err = -ENOMEM, page;

	assets = sat_ee_assets_url(cfg);
	seen = calloc(EE_MAX_PAGES, sizeof(*seen));
	if (!base || !assets || !seen)
		goto out;
	snprintf(what, sizeof(what), "%s: listAssets", r->name);
	for (page = 0; page < EE_MAX_PAGES; page++) {
		struct sat_fetch_req req = { .headers = hdrs,
					     .max_body_bytes =
						     EE_MAX_LIST_BODY };
		struct sat_fetch_result res;
		char *next = NULL;

		free(url);
		url = NULL;
		if (!nseen) {
			url = strdup(base);
		} else if ((etok = query_escape(seen[nseen - 1]))) {
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
			sat_error("catalog: %s: listAssets answered something "
				  "that is not a page of assets", r->name);
			sat_log_cause("Earth Engine: listAssets answered "
				      "something that is not a page of "
				      "assets");
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
		/* The token, not what a page holds, says whether more come:
		 * the server may answer fewer assets than asked, even none
		 * (the reference's pageSize). Stop on no token, on the item
		 * cap, and on a token seen before (a server that would page
		 * forever). */
		if (!next || ngot >= (size_t)max_items) {
			free(next);
			break;
		}
		if (token_seen(seen, nseen, next)) {
			sat_warn("catalog: %s: listAssets repeated a page "
				 "token; paging stopped", r->name);
			free(next);
			break;
		}
		seen[nseen++] = next;
	}
	if (page == EE_MAX_PAGES)
		sat_warn("catalog: %s: paging stopped after %d pages", r->name,
			 EE_MAX_PAGES);
	if (skipped)
		sat_warn("catalog: %s: %zu assets skipped", r->name, skipped);
out:
	/* the array may have moved; on failure, only what came is dropped */
	if (err) {
		for (i = first; i < ngot; i++)
			sat_scene_free(got[i]);
		ngot = first;
	}
	*items = got;
	*nitems = ngot;
	for (i = 0; i < nseen; i++)
		free(seen[i]);
	free(seen);
	free(base);
	free(assets);
	free(url);
	return err;
}
