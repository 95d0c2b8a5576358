/*
 * source_stac: a STAC API for the listing, COGs over HTTP for the pixels
 * (include/satfs/source.h).
 *
 * The listing: the landing page (once: what the API offers), then POST or
 * GET /search with the region, dates and cloud filter, following each
 * `next` link exactly as given, whatever a page holds (fs/stac*.c builds
 * and parses the JSON).
 * The pixels: fs/cogread*.c, which fetches COG headers and tiles through
 * the fetch engine, with hrefs signed first when `sign` says so.
 *
 * Threading: the landing page's capabilities are fetched by the first
 * search and kept under src->lock; everything else is per call.
 */
#include "satfs/source.h"
#include "satfs/cache.h"
#include "satfs/cogread.h"
#include "satfs/config.h"
#include "satfs/log.h"
#include "satfs/region.h"
#include "satfs/sign.h"
#include "satfs/stac.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_LIMIT 100   /* items per page asked of the server */
#define MAX_PAGES 1000   /* a server that pages forever is cut off here */

struct stac_source {
	struct sat_source base;  /* first: the interface */
	struct sat_fetch *fetch;
	struct sat_cogread *cogread;
	struct sat_signer *signer; /* sign = planetary-computer, else NULL */
	pthread_mutex_t lock;
	bool have_caps;            /* protected by lock */
	struct sat_stac_caps caps; /* protected by lock */
};

static struct stac_source *stac_of(struct sat_source *src)
{
	return (struct stac_source *)src;
}

static void stac_identity(const struct sat_source *src, struct sat_hash *h)
{
	sat_hash_add_str(h, "stac");
	sat_hash_add_str(h, src->cfg->stac_url);
	sat_hash_add_str(h, src->cfg->collection);
}

/* Fetches the landing page (a try of at most deadline_ms when > 0, and
 * max_tries; 0: the engine's) and keeps its capabilities. 0, or -EIO /
 * -ENOMEM with what went wrong in why (URL redacted). */
static int fetch_caps(struct stac_source *s, int deadline_ms, int max_tries,
		      char *why, size_t whylen)
{
	const struct sat_config *cfg = s->base.cfg;
	const char *hdrs[] = { "Accept: application/json", NULL };
	struct sat_fetch_req req = { .url = cfg->stac_url,
				     .headers = hdrs,
				     .max_body_bytes = SAT_STAC_MAX_BODY,
				     .deadline_ms = deadline_ms,
				     .max_tries = max_tries };
	struct sat_stac_caps caps;
	struct sat_fetch_result res;
	char ubuf[512];
	int err;

	memset(&caps, 0, sizeof(caps));
	sat_log_url(cfg->stac_url, ubuf, sizeof(ubuf));
	err = sat_fetch_sync(s->fetch, &req, &res);
	if (!err) {
		err = sat_stac_parse_landing(res.data, res.len, cfg->stac_url,
					     &caps);
		if (err)
			snprintf(why, whylen, "%s: not a STAC API landing page",
				 ubuf);
	} else {
		char ebuf[320] = "";

		if (res.status >= 400 && res.status < 500)
			sat_stac_error_text(res.data, res.len, ebuf,
					    sizeof(ebuf));
		snprintf(why, whylen, "%s: landing page: %s (HTTP %ld)%s%s",
			 ubuf,
			 res.status < 300 && res.why[0] ? res.why
						       : strerror(-err),
			 res.status, ebuf[0] ? ": " : "", ebuf);
	}
	sat_fetch_result_clear(&res);
	if (err) {
		free(caps.search_href);
		return err == -ENOMEM ? err : -EIO;
	}
	pthread_mutex_lock(&s->lock);
	if (!s->have_caps) {
		s->caps = caps;
		s->have_caps = true;
		caps.search_href = NULL; /* kept */
	}
	pthread_mutex_unlock(&s->lock);
	free(caps.search_href);
	return 0;
}

/* The landing page's capabilities, fetched once. */
static int get_caps(struct stac_source *s, struct sat_stac_caps *caps)
{
	char why[1024];
	int err;

	pthread_mutex_lock(&s->lock);
	if (!s->have_caps) {
		pthread_mutex_unlock(&s->lock);
		err = fetch_caps(s, 0, 0, why, sizeof(why));
		if (err) {
			sat_error("catalog: %s", why);
			sat_log_cause("catalog %s", why);
			return err;
		}
		pthread_mutex_lock(&s->lock);
	}
	*caps = s->caps;
	caps->search_href = strdup(s->caps.search_href);
	pthread_mutex_unlock(&s->lock);
	return caps->search_href ? 0 : -ENOMEM;
}

/* At mount: one try at the landing page, kept when it answers. */
static int stac_probe(struct sat_source *src, int deadline_ms, char *why,
		      size_t len)
{
	return fetch_caps(stac_of(src), deadline_ms, 1, why, len);
}

static bool region_is_rectangle(const struct sat_region *r)
{
	const double *p = r->ring, *b = r->bbox;

	return r->nring == 4 && p[0] == b[0] && p[1] == b[1] &&
	       p[2] == b[2] && p[3] == b[1] && p[4] == b[2] &&
	       p[5] == b[3] && p[6] == b[0] && p[7] == b[3];
}

/* Marks the scenes items[from..n) as this source's. */
static void own_scenes(struct sat_source *src, struct sat_scene **items,
		       size_t from, size_t n)
{
	for (size_t i = from; i < n; i++)
		items[i]->source = src;
}

/* Runs the search, following `next` links; each raw page goes to page(),
 * the items parsed from it to *out (parsed once, so that a broken item
 * gets one warning). */
/* Remembers r's fingerprint in *seen; false (and a warning) when it was
 * there already: a server that would page forever. -ENOMEM as false. */
static bool first_visit(const struct sat_stac_request *r, char ***seen,
			size_t *nseen, const char *region)
{
	char *fp = sat_stac_request_fingerprint(r), **ns;

	for (size_t k = 0; fp && k < *nseen; k++)
		if (strcmp((*seen)[k], fp) == 0) {
			sat_warn("catalog: %s: the server repeated a page "
				 "link; paging stopped", region);
			free(fp);
			return false;
		}
	if (!fp || !(ns = realloc(*seen, (*nseen + 1) * sizeof(**seen)))) {
		free(fp);
		return false;
	}
	*seen = ns;
	(*seen)[(*nseen)++] = fp;
	return true;
}

/* Runs the search, following `next` links; each raw page goes to page(),
 * the items parsed from it to *out (parsed once, so that a broken item
 * gets one warning). Paging follows next links whatever a page holds (a
 * page may be empty or all skipped and still have a next one), within
 * MAX_PAGES, the item cap, and a link seen before. */
static int stac_search(struct sat_source *src, const struct sat_search *sq,
		       sat_source_page_fn page, void *payload,
		       struct sat_scene ***out, size_t *nout)
{
	struct stac_source *s = stac_of(src);
	const struct sat_region *r = sq->region;
	struct sat_stac_request orig = { 0 }, req = { 0 }, next = { 0 };
	const struct sat_stac_request *cur = &orig;
	struct sat_stac_query q = { 0 };
	struct sat_stac_caps caps = { 0 };
	size_t before, skipped = 0, i;
	char **seen = NULL;
	size_t nseen = 0;
	char ubuf[512], ebuf[320];
	bool has_next;
	int err;

	err = get_caps(s, &caps);
	if (err)
		return err;
	q.collection = src->cfg->collection;
	q.ring = r->ring;
	q.nring = r->nring;
	q.is_bbox = region_is_rectangle(r);
	q.bbox = r->bbox;
	q.from = sq->from;
	q.to = sq->to;
	q.max_cloud = sq->max_cloud;
	q.limit = PAGE_LIMIT;
	err = sat_stac_build_search(&caps, &q, &orig);
	sat_stac_caps_clear(&caps);
	if (err)
		return err;
	first_visit(&orig, &seen, &nseen, r->name);

	for (i = 0; i < MAX_PAGES; i++) {
		struct sat_fetch_req freq = {
			.url = cur->url,
			.method = cur->method,
			.body = cur->body,
			.body_len = cur->body ? strlen(cur->body) : 0,
			.headers = (const char *const *)cur->headers,
			.max_body_bytes = SAT_STAC_MAX_BODY,
		};
		struct sat_fetch_result res;

		err = sat_fetch_sync(s->fetch, &freq, &res);
		if (err) {
			/* a 4xx says why in its body: the request's fault */
			ebuf[0] = '\0';
			if (res.status >= 400 && res.status < 500)
				sat_stac_error_text(res.data, res.len, ebuf,
						    sizeof(ebuf));
			/* cancelled: the mount is going away, and says so */
			sat_log(err == -ECANCELED ? SAT_LOG_DEBUG
						  : SAT_LOG_ERROR,
				"catalog: %s: search failed: %s %s: %s "
				  "(HTTP %ld)%s%s", r->name, cur->method,
				  sat_log_url(cur->url, ubuf, sizeof(ubuf)),
				  res.status < 300 && res.why[0] ? res.why
							    : strerror(-err),
				  res.status, ebuf[0] ? ": " : "", ebuf);
			sat_log_cause("catalog search %s: %s (HTTP %ld)%s%s",
				      sat_log_url(cur->url, ubuf,
						  sizeof(ubuf)),
				      res.status < 300 && res.why[0]
					      ? res.why : strerror(-err),
				      res.status, ebuf[0] ? ": " : "", ebuf);
			sat_fetch_result_clear(&res);
			break;
		}
		before = *nout;
		memset(&next, 0, sizeof(next));
		err = sat_stac_parse_page(res.data, res.len, cur, &orig, out,
					  nout, &skipped, &next, &has_next);
		if (err) {
			/* stac logged why, with the URL */
			sat_debug("catalog: %s: search answer from %s is not "
				  "an ItemCollection", r->name,
				  sat_log_url(cur->url, ubuf, sizeof(ubuf)));
			sat_fetch_result_clear(&res);
			sat_stac_request_clear(&next);
			err = -EIO;
			break;
		}
		own_scenes(src, *out, before, *nout);
		err = page(payload, res.data, res.len);
		res.data = NULL;
		sat_fetch_result_clear(&res);
		if (err) {
			sat_stac_request_clear(&next);
			break;
		}
		if (!has_next || *nout >= (size_t)sq->max_items ||
		    !first_visit(&next, &seen, &nseen, r->name)) {
			sat_stac_request_clear(&next);
			break;
		}
		sat_stac_request_clear(&req);
		req = next;
		cur = &req;
	}
	if (i == MAX_PAGES)
		sat_warn("catalog: %s: paging stopped after %d pages", r->name,
			 MAX_PAGES);
	for (i = 0; i < nseen; i++)
		free(seen[i]);
	free(seen);
	sat_stac_request_clear(&req);
	sat_stac_request_clear(&orig);
	if (skipped)
		sat_warn("catalog: %s: %zu malformed items skipped", r->name,
			 skipped);
	return err;
}

static int stac_parse_page(struct sat_source *src, const char *body,
			   size_t len, struct sat_scene ***items, size_t *n,
			   size_t *skipped)
{
	struct sat_stac_request next;
	size_t before = *n;
	bool has_next;
	int err;

	memset(&next, 0, sizeof(next));
	err = sat_stac_parse_page(body, len, NULL, NULL, items, n, skipped, &next,
				  &has_next);
	sat_stac_request_clear(&next);
	own_scenes(src, *items, before, *n);
	return err;
}

static bool scene_has_crs(const struct sat_scene *s)
{
	if (s->epsg)
		return true;
	for (size_t i = 0; i < s->nassets; i++)
		if (s->assets[i].epsg)
			return true;
	return false;
}

static bool fetchable(const struct sat_asset *a)
{
	return a->href && sat_asset_cog_score(a) >= 2 &&
	       (!strncmp(a->href, "http://", 7) ||
		!strncmp(a->href, "https://", 8));
}

/* Items without a CRS code (NASA's HLS, Planet, older Landsat and
 * Sentinel-2 items) are georeferenced by their COGs: every GeoTIFF asset
 * of them has its header read, all at once (and cached with the others),
 * for its CRS, resolution and sample type. */
static void stac_prepare(struct sat_source *src, struct sat_scene **scenes,
			 size_t n)
{
	struct stac_source *s = stac_of(src);
	struct sat_cogread_info *info = NULL;
	struct sat_asset **assets = NULL;
	const char **urls = NULL;
	size_t m = 0, k = 0;

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; !scene_has_crs(scenes[i]) &&
				   j < scenes[i]->nassets; j++)
			m += fetchable(&scenes[i]->assets[j]);
	if (m == 0)
		return;
	assets = calloc(m, sizeof(*assets));
	urls = calloc(m, sizeof(*urls));
	info = calloc(m, sizeof(*info));
	if (!assets || !urls || !info)
		goto out;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; !scene_has_crs(scenes[i]) &&
				   j < scenes[i]->nassets; j++)
			if (fetchable(&scenes[i]->assets[j])) {
				assets[k] = &scenes[i]->assets[j];
				urls[k] = assets[k]->href;
				k++;
			}
	sat_debug("catalog: reading %zu headers for items without a CRS "
		  "code", m);
	if (sat_cogread_describe(s->cogread, urls, m, info) != 0)
		goto out;
	for (k = 0; k < m; k++) {
		struct sat_asset *a = assets[k];

		if (info[k].err || !info[k].epsg)
			continue;
		a->epsg = info[k].epsg;
		if (!(a->gsd > 0) && info[k].projected)
			a->gsd = info[k].pixel_size;
		if (a->data_type < 0 && info[k].samples == 1)
			a->data_type = (int)info[k].type;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; !scenes[i]->epsg && j < scenes[i]->nassets;
		     j++)
			scenes[i]->epsg = scenes[i]->assets[j].epsg;
out:
	free(assets);
	free(urls);
	free(info);
}

static int stac_read(struct sat_source *src, const struct sat_read *rd)
{
	return sat_cogread_read(stac_of(src)->cogread, rd);
}

static void stac_drop_caches(struct sat_source *src)
{
	sat_cogread_drop_caches(stac_of(src)->cogread);
}

static void stac_free(struct sat_source *src)
{
	struct stac_source *s = stac_of(src);

	sat_cogread_free(s->cogread);
	sat_signer_free(s->signer);
	sat_stac_caps_clear(&s->caps);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static const struct sat_source_ops stac_ops = {
	.type = "stac",
	.identity = stac_identity,
	.search = stac_search,
	.prepare = stac_prepare,
	.parse_page = stac_parse_page,
	.read = stac_read,
	.drop_caches = stac_drop_caches,
	.probe = stac_probe,
	.free = stac_free,
};

int sat_source_stac_new(struct sat_source **out,
			const struct sat_config *cfg,
			struct sat_fetch *fetch, struct sat_cache *cache,
			struct sat_shared *shared)
{
	struct stac_source *s = calloc(1, sizeof(*s));
	int err;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->base.ops = &stac_ops;
	s->base.cfg = cfg;
	s->fetch = fetch;
	pthread_mutex_init(&s->lock, NULL);
	err = sat_cogread_new(&s->cogread, fetch, cache);
	if (!err)
		sat_cogread_set_shared(s->cogread, shared);
	if (!err && cfg->sign == SAT_SIGN_PLANETARY) {
		err = sat_signer_new(&s->signer, fetch, cfg->sign_url);
		if (!err)
			err = sat_signer_set_subscription_key(
				s->signer, cfg->sign_subscription_key);
		if (!err)
			sat_cogread_set_signer(s->cogread, s->signer);
	}
	if (err) {
		stac_free(&s->base);
		return err;
	}
	*out = &s->base;
	return 0;
}
