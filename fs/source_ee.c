/*
 * source_ee: Earth Engine as a source (include/satfs/source.h): the
 * listing and the pixels through its REST API, fs/ee_*.c.
 */
#include "satfs/source.h"
#include "satfs/cache.h"
#include "satfs/config.h"
#include "satfs/ee.h"
#include "satfs/stac.h"

#include <errno.h>
#include <stdlib.h>

struct ee_source {
	struct sat_source base;  /* first: the interface */
	struct sat_ee *ee;
};

static struct ee_source *ee_of(struct sat_source *src)
{
	return (struct ee_source *)src;
}

static void ee_identity(const struct sat_source *src, struct sat_hash *h)
{
	sat_hash_add_str(h, "earthengine");
	sat_hash_add_str(h, src->cfg->ee_url);
	sat_hash_add_str(h, src->cfg->collection);
}

static int ee_search(struct sat_source *src, const struct sat_search *q,
		     sat_source_page_fn page, void *payload,
		     struct sat_scene ***items, size_t *n)
{
	size_t before = *n;
	int err;

	err = sat_ee_list(ee_of(src)->ee, q, page, payload, items, n);
	for (size_t i = before; i < *n; i++)
		(*items)[i]->source = src;
	return err;
}

static int ee_parse_page(struct sat_source *src, const char *body,
			 size_t len, struct sat_scene ***items, size_t *n,
			 size_t *skipped)
{
	size_t before = *n;
	int err;

	err = sat_ee_parse_page(src->cfg, body, len, items, n, skipped);
	for (size_t i = before; i < *n; i++)
		(*items)[i]->source = src;
	return err;
}

static int ee_read(struct sat_source *src, const struct sat_read *rd)
{
	return sat_ee_window(ee_of(src)->ee, rd);
}

static void ee_free(struct sat_source *src)
{
	sat_ee_free(ee_of(src)->ee);
	free(src);
}

static const struct sat_source_ops ee_ops = {
	.type = "earthengine",
	.identity = ee_identity,
	.search = ee_search,
	.parse_page = ee_parse_page,
	.read = ee_read,
	.free = ee_free,
};

int sat_source_ee_new(struct sat_source **out, const struct sat_config *cfg,
		      struct sat_fetch *fetch)
{
	struct ee_source *s = calloc(1, sizeof(*s));
	int err;

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->base.ops = &ee_ops;
	s->base.cfg = cfg;
	err = sat_ee_new(&s->ee, cfg, fetch);
	if (err) {
		free(s);
		return err;
	}
	*out = &s->base;
	return 0;
}
