/*
 * core: see include/satfs/core.h. This file: the parts' lifecycle, names
 * (lookup, forget, getattr, rmdir) and directories.
 *
 * Threading: the catalog may block, so a lookup or opendir in a region
 * whose listing is not fresh goes to the work queue and is answered from
 * there; everything else is answered on the caller's thread.
 */
#include "core_private.h"
#include "satfs/cache.h"
#include "satfs/catalog.h"
#include "satfs/config.h"
#include "satfs/fetch.h"
#include "satfs/geom.h"
#include "satfs/jobs.h"
#include "satfs/log.h"
#include "satfs/regioncloud.h"
#include "satfs/shared.h"
#include "satfs/source.h"
#include "satfs/tree.h"
#include "satfs/workq.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Renders run on this many threads; each keeps all of its band and tile
 * requests in flight at once, so a few threads saturate the connections
 * while bounding memory (a render holds one chunk of its bands decoded).
 * A render spends most of its time waiting (a header's round trip, then
 * its tiles'), so a cold copy goes as fast as the renders under way allow:
 * twelve prefetches at once (and `prefetch` 12) copied 50 snippets in
 * 2.0 s where six took 2.4 s. The two workers more than that are the
 * files someone waits for, which never queue behind prefetches. */
#define RENDER_WORKERS 14
#define PREFETCH_WORKERS 12
#define WORKQ_THREADS 4
/* ... growing up to this many when they all wait (on a slow catalog, say),
 * so that one slow region never holds up another region's listing or a
 * cache command; the listings of one region take one thread between them
 * (keyed by the region) */
#define WORKQ_MAX_THREADS 64

/* ---- ad-hoc regions pushed out: tell the kernel, from a worker ---- */

struct inval {
	struct sat_core *core;
	char name[];
};

static void inval_work(void *payload)
{
	struct inval *iv = payload;

	if (iv->core->inval)
		iv->core->inval(SAT_TREE_ROOT_INO, iv->name,
				iv->core->inval_payload);
	free(iv);
}

/* PROJ's first use in a process opens and reads its database: 16 ms,
 * which the first listing (mapping the region into each scene's CRS)
 * would wait for (each thread's own context costs 1 ms after that). Done
 * on a listing thread while the mount starts. */
static void warm_proj(void *payload)
{
	(void)payload;
	(void)sat_geom_crs_is_geographic("EPSG:4326");
}

/* From the tree, on the thread of the lookup that pushed name out: the
 * kernel waits on that lookup in the root, so it is told later. */
static void on_evict(const char *name, void *payload)
{
	struct sat_core *core = payload;
	struct inval *iv = malloc(sizeof(*iv) + strlen(name) + 1);

	if (!iv)
		return; /* the kernel forgets it when its cache does */
	iv->core = core;
	strcpy(iv->name, name);
	if (sat_workq_submit(core->workq, inval_work, iv) != 0)
		free(iv);
}

/* The shared store, when configured: an accelerator, so a mount without
 * it still works (main() checked the options and keys before mounting;
 * what fails here is logged and shown in the status file). */
static void start_shared(struct sat_core *core)
{
	const struct sat_config *cfg = core->cfg;
	struct sat_shared_opts so = {
		.store = cfg->shared_store,
		.endpoint = cfg->shared_endpoint,
		.region = cfg->shared_region,
		.timeout_ms = cfg->shared_timeout_s * 1000,
		.lease_s = cfg->shared_lease_s,
		.wait_s = cfg->shared_wait_s,
	};
	int err;

	if (!cfg->shared_store)
		return;
	if (cfg->offline) {
		snprintf(core->shared_why, sizeof(core->shared_why),
			 "offline");
		sat_info("shared store %s: not used (offline)",
			 cfg->shared_store);
		return;
	}
	err = sat_shared_new(&core->shared, core->fetch, core->cache, &so,
			     core->shared_why, sizeof(core->shared_why));
	if (err) {
		if (!core->shared_why[0])
			snprintf(core->shared_why, sizeof(core->shared_why),
				 "%s", strerror(-err));
		sat_error("shared store %s: not used: %s", cfg->shared_store,
			  core->shared_why);
	}
}

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
	pthread_mutex_init(&core->open_lock, NULL);
	fo.connections_per_host = cfg->connections;
	fo.max_tries = 5;
	fo.connect_timeout_ms = cfg->timeout_s < 10 ? cfg->timeout_s * 1000
						     : 10000;
	fo.stall_timeout_ms = cfg->timeout_s * 1000;
	fo.min_rate_bytes = cfg->min_rate_bytes;
	fo.deadline_ms = (cfg->deadline_s ? cfg->deadline_s
					  : 5 * cfg->timeout_s) * 1000;
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
	start_shared(core);
	err = sat_source_new(&core->source, cfg, core->fetch, core->cache,
			     core->shared);
	if (err)
		goto fail;
	err = sat_catalog_new(&core->catalog, cfg, core->source, core->cache);
	if (err)
		goto fail;
	err = sat_regioncloud_new(&core->clouds, core->cache);
	if (err)
		goto fail;
	sat_regioncloud_set_shared(core->clouds, core->shared);
	err = sat_jobs_new(&core->jobs, core->cache, RENDER_WORKERS,
			   cfg->prefetch > 0 ? PREFETCH_WORKERS : 0);
	if (err)
		goto fail;
	sat_jobs_set_regioncloud(core->jobs, core->clouds);
	sat_jobs_set_shared(core->jobs, core->shared);
	err = sat_tree_new(&core->tree, cfg, core->catalog, core->cache);
	if (err)
		goto fail;
	sat_tree_set_regioncloud(core->tree, core->clouds);
	err = sat_workq_new_elastic(&core->workq, WORKQ_THREADS,
				    WORKQ_MAX_THREADS);
	if (err)
		goto fail;
	sat_tree_set_evict_fn(core->tree, on_evict, core);
	/* Best effort: a failure only leaves the cost to the first listing. */
	(void)sat_workq_submit(core->workq, warm_proj, NULL);
	*out = core;
	return 0;
fail:
	sat_core_free(core);
	return err;
}

void sat_core_free(struct sat_core *core)
{
	struct sat_handle *h, *next;

	if (!core)
		return;
	/* stop what calls into the others first; renders waiting for
	 * another mount's stop waiting */
	sat_shared_stop(core->shared);
	sat_workq_free(core->workq);
	sat_jobs_free(core->jobs);
	/* the uploads still queued, while the fetch engine runs */
	sat_shared_free(core->shared);
	sat_regioncloud_free(core->clouds);
	/* what the kernel left open */
	for (h = core->handles; h; h = next) {
		next = h->next;
		if (h->is_dir) {
			struct open_dir *od = container_of(h, struct open_dir,
							   h);

			sat_tree_dirents_free(od->pub.ents, od->pub.n);
			free(od);
		} else {
			sat_core_file_free(core,
					   container_of(h, struct open_file, h));
		}
	}
	sat_fetch_free(core->fetch);
	sat_tree_free(core->tree);
	sat_catalog_free(core->catalog);
	sat_source_free(core->source);
	sat_cache_free(core->cache);
	pthread_mutex_destroy(&core->open_lock);
	free(core);
}

void sat_core_track(struct sat_core *core, struct sat_handle *h)
{
	pthread_mutex_lock(&core->open_lock);
	h->prev = NULL;
	h->next = core->handles;
	if (core->handles)
		core->handles->prev = h;
	core->handles = h;
	pthread_mutex_unlock(&core->open_lock);
}

void sat_core_untrack(struct sat_core *core, struct sat_handle *h)
{
	pthread_mutex_lock(&core->open_lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		core->handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&core->open_lock);
}

int sat_core_clear_cache(struct sat_core *core, uint64_t *files,
			 uint64_t *bytes)
{
	int err = sat_cache_clear_files(core->cache, files, bytes);

	if (core->source->ops->drop_caches)
		core->source->ops->drop_caches(core->source);
	return err;
}

bool sat_core_may_control(uid_t uid)
{
	return uid == 0 || uid == getuid();
}

int sat_core_getattr(struct sat_core *core, uint64_t ino,
		     struct sat_attr *out)
{
	return sat_tree_getattr(core->tree, ino, out);
}

/* The work queue's key for work under ino: its region when that region
 * must be listed first (one search per region at a time: the others
 * would wait for it holding a thread each), else none (a date's cloud
 * covers are counted in parallel). */
static uint64_t listing_key(struct sat_core *core, uint64_t ino)
{
	uint64_t r = sat_tree_region_of(core->tree, ino);

	return r && !sat_tree_ready(core->tree, r) ? r : 0;
}

/* ---- lookup ---- */

struct deferred_lookup {
	struct sat_core *core;
	uint64_t parent;
	sat_core_entry_fn done;
	void *payload;
	char name[];
};

static void lookup_now(struct sat_core *core, uint64_t parent,
		       const char *name, sat_core_entry_fn done, void *payload)
{
	struct sat_attr a;
	int err = sat_tree_lookup(core->tree, parent, name, &a);

	done(err, err ? NULL : &a, payload);
}

static void lookup_work(void *arg)
{
	struct deferred_lookup *d = arg;

	lookup_now(d->core, d->parent, d->name, d->done, d->payload);
	free(d);
}

void sat_core_lookup(struct sat_core *core, uint64_t parent, const char *name,
		     sat_core_entry_fn done, void *payload)
{
	struct deferred_lookup *d;

	if (sat_tree_ready(core->tree, parent)) {
		lookup_now(core, parent, name, done, payload);
		return;
	}
	d = malloc(sizeof(*d) + strlen(name) + 1);
	if (!d) {
		done(-ENOMEM, NULL, payload);
		return;
	}
	d->core = core;
	d->parent = parent;
	d->done = done;
	d->payload = payload;
	strcpy(d->name, name);
	if (sat_workq_submit_keyed(core->workq, listing_key(core, parent),
				   lookup_work, d) != 0) {
		free(d);
		done(-ENOMEM, NULL, payload);
	}
}

int sat_core_count_lookup(struct sat_core *core, uint64_t ino)
{
	return sat_tree_count_lookup(core->tree, ino);
}

void sat_core_forget(struct sat_core *core, uint64_t ino, uint64_t nlookup)
{
	sat_tree_forget(core->tree, ino, nlookup);
}

int sat_core_rmdir(struct sat_core *core, uint64_t parent, const char *name,
		   uid_t uid)
{
	int err;

	if (parent != SAT_TREE_ROOT_INO)
		return -EROFS;
	if (!sat_core_may_control(uid))
		return -EPERM;
	err = sat_tree_remove_region(core->tree, name);
	return err == -EPERM ? -EROFS : err; /* configured ones stay */
}

/* ---- directories ---- */

struct deferred_dir {
	struct sat_core *core;
	uint64_t ino;
	sat_core_dir_fn done;
	void *payload;
};

static void opendir_now(struct sat_core *core, uint64_t ino,
			sat_core_dir_fn done, void *payload)
{
	struct open_dir *od = calloc(1, sizeof(*od));
	char path[1024];
	int err;

	if (!od) {
		done(-ENOMEM, NULL, payload);
		return;
	}
	err = sat_tree_list(core->tree, ino, &od->pub.ents, &od->pub.n);
	if (err) {
		sat_tree_path(core->tree, ino, path, sizeof(path));
		sat_debug("opendir %s: %s", path, strerror(-err));
		free(od);
		done(err, NULL, payload);
		return;
	}
	od->pub.ino = ino;
	od->h.is_dir = true;
	sat_core_track(core, &od->h);
	done(0, &od->pub, payload);
}

static void opendir_work(void *arg)
{
	struct deferred_dir *d = arg;

	opendir_now(d->core, d->ino, d->done, d->payload);
	free(d);
}

void sat_core_opendir(struct sat_core *core, uint64_t ino,
		      sat_core_dir_fn done, void *payload)
{
	struct deferred_dir *d;

	if (sat_tree_ready(core->tree, ino)) {
		opendir_now(core, ino, done, payload);
		return;
	}
	d = malloc(sizeof(*d));
	if (!d) {
		done(-ENOMEM, NULL, payload);
		return;
	}
	*d = (struct deferred_dir){ core, ino, done, payload };
	if (sat_workq_submit_keyed(core->workq, listing_key(core, ino),
				   opendir_work, d) != 0) {
		free(d);
		done(-ENOMEM, NULL, payload);
	}
}

void sat_core_releasedir(struct sat_core *core, struct sat_dir *d)
{
	struct open_dir *od = container_of(d, struct open_dir, pub);

	sat_core_untrack(core, &od->h);
	sat_tree_dirents_free(od->pub.ents, od->pub.n);
	free(od);
}
