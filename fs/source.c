/* source: see include/satfs/source.h. Which source a mount uses, and the
 * parts every source shares. */
#include "satfs/source.h"
#include "satfs/bufpool.h"
#include "satfs/config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int sat_source_new(struct sat_source **out, const struct sat_config *cfg,
		   struct sat_fetch *fetch, struct sat_cache *cache,
		   struct sat_shared *shared)
{
	if (strcmp(cfg->source_type, "earthengine") == 0)
		return sat_source_ee_new(out, cfg, fetch);
	return sat_source_stac_new(out, cfg, fetch, cache, shared);
}

void sat_source_free(struct sat_source *src)
{
	if (src)
		src->ops->free(src);
}

int sat_read_band_reserve(struct sat_read_band *b, enum sat_sample_type t,
			  size_t n)
{
	size_t bytes = n * sat_sample_size(t);
	void *v;

	b->type = t;
	if (bytes <= b->values_cap && b->values)
		return 0;
	v = b->values;
	if (sat_buf_reserve(&v, bytes ? bytes : 1))
		return -ENOMEM;
	b->values = v;
	b->values_cap = bytes;
	return 0;
}
