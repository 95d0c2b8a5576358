/* core: see include/satfs/core.h. */
#include "satfs/core.h"
#include "satfs/cache.h"
#include "satfs/catalog.h"
#include "satfs/config.h"
#include "satfs/fetch.h"
#include "satfs/jobs.h"
#include "satfs/log.h"
#include "satfs/source.h"
#include "satfs/tree.h"
#include "satfs/workq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Renders run on this many threads; each keeps all of its band and tile
 * requests in flight at once, so a few threads saturate the connections
 * while bounding memory (a render holds its bands decoded). */
#define RENDER_WORKERS 8
#define PREFETCH_WORKERS 4
#define WORKQ_THREADS 4

int sat_core_new(struct sat_core **out, const struct sat_config *cfg)
{
	struct sat_fetch_opts fo = { 0 };
	struct sat_core *core;
	int err;

	*out = NULL;
	core = calloc(1, sizeof(*core));
	if (!core)
		return -ENOMEM;
	core->cfg = cfg;
	core->started = time(NULL);
	fo.connections_per_host = cfg->connections;
	fo.max_tries = 5;
	fo.connect_timeout_ms = cfg->timeout_s < 10 ? cfg->timeout_s * 1000
						     : 10000;
	fo.stall_timeout_ms = cfg->timeout_s * 1000;
	fo.backoff_base_ms = 200;
	fo.backoff_max_ms = 20000;
	fo.max_body_bytes = 64u << 20;
	fo.verify_tls = true;
	fo.connect_to = cfg->connect_to;

	err = sat_cache_new(&core->cache, cfg->cache_dir, cfg->cache_max_bytes);
	if (err)
		goto fail;
	err = sat_fetch_new(&core->fetch, &fo);
	if (err) {
		sat_error("cannot start the HTTP engine: %s", strerror(-err));
		goto fail;
	}
	err = sat_source_new(&core->source, cfg, core->fetch, core->cache);
	if (err)
		goto fail;
	err = sat_catalog_new(&core->catalog, cfg, core->source, core->cache);
	if (err)
		goto fail;
	err = sat_jobs_new(&core->jobs, core->cache, RENDER_WORKERS,
			   cfg->prefetch > 0 ? PREFETCH_WORKERS : 0);
	if (err)
		goto fail;
	err = sat_tree_new(&core->tree, cfg, core->catalog, core->cache);
	if (err)
		goto fail;
	err = sat_workq_new(&core->workq, WORKQ_THREADS);
	if (err)
		goto fail;
	*out = core;
	return 0;
fail:
	sat_core_free(core);
	return err;
}

void sat_core_free(struct sat_core *core)
{
	if (!core)
		return;
	/* stop what calls into the others first */
	sat_workq_free(core->workq);
	sat_jobs_free(core->jobs);
	sat_fetch_free(core->fetch);
	sat_tree_free(core->tree);
	sat_catalog_free(core->catalog);
	sat_source_free(core->source);
	sat_cache_free(core->cache);
	free(core);
}

int sat_core_clear_cache(struct sat_core *core, uint64_t *files,
			 uint64_t *bytes)
{
	int err = sat_cache_clear_files(core->cache, files, bytes);

	if (core->source->ops->drop_caches)
		core->source->ops->drop_caches(core->source);
	return err;
}
