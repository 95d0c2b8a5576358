/*
 * core_open: the open policy (include/satfs/core.h). A status file is made
 * when opened; an item's JSON is at hand; a .tif is served from the
 * cache, rendering it first when it is not there:
 *   - a file larger than max_file_size fails at once (EFBIG; logged, and
 *     said by user.satfs.error): nobody means a 12 GB snippet;
 *   - offline, a file not in the cache fails at once (EIO, logged);
 *   - otherwise the open joins the file's render job (one per file, shared
 *     by every reader) and is answered by the job's callback, on a render
 *     worker; the renders of the next scenes of the region are queued
 *     behind it as prefetch;
 *   - a file that went between its render and the open (the size cap, or
 *     satfs cache --clear) is rendered once more.
 * The open file holds what it reads: the plan (a .tif) or the listing the
 * item text lives in (a .json), and the cache's shared descriptor.
 */
#include "core_private.h"
#include "satfs/cache.h"
#include "satfs/config.h"
#include "satfs/jobs.h"
#include "satfs/log.h"
#include "satfs/render.h"
#include "satfs/status.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Scenes whose renders an open queues ahead at most. */
#define PREFETCH_MAX 64

void sat_core_file_free(struct sat_core *core, struct open_file *of)
{
	if (of->key[0])
		sat_cache_close_file(core->cache, of->key);
	free(of->owned);
	sat_tree_file_release(&of->tf);
	free(of);
}

bool sat_core_too_large(struct sat_core *core,
			const struct sat_render_plan *plan, char *buf,
			size_t len)
{
	uint64_t max = core->cfg->max_file_size_bytes;
	char b1[32], b2[32];

	if (!max || plan->size_bytes <= max)
		return false;
	snprintf(buf, len, "the file (%s) is larger than max_file_size (%s)",
		 sat_status_bytes(plan->size_bytes, b1, sizeof(b1)),
		 sat_status_bytes(max, b2, sizeof(b2)));
	return true;
}

static void opened(struct sat_core *core, struct open_file *of,
		   sat_core_open_fn done, void *payload)
{
	of->h.is_dir = false;
	sat_core_track(core, &of->h);
	done(0, &of->pub, payload);
}

/* An open waiting for its render. */
struct pending_open {
	struct sat_core *core;
	uint64_t ino;
	struct open_file *of;
	sat_core_open_fn done;
	void *payload;
	bool retried;
};

static void render_done(int err, void *arg)
{
	struct pending_open *po = arg;
	struct sat_core *core = po->core;
	struct open_file *of = po->of;
	const char *key = of->tf.plan->key;
	bool rendered_err = err != 0; /* the render logged it */
	char path[1024], why[256];
	int fd;

	if (!err) {
		/* the file published: its size the plan's, its digest (first
		 * open in this mount) the one recorded (docs/ARCHITECTURE.md
		 * "The cache", invariant 3); a damaged one is rendered again,
		 * once */
		err = sat_cache_open_checked(core->cache, key,
					     of->tf.plan->size_bytes, &fd, why,
					     sizeof(why));
		if (err == -EBADMSG) {
			sat_tree_path(core->tree, po->ino, path, sizeof(path));
			sat_warn("cache: %s: the cached file is damaged (%s); "
				 "%s", path, why,
				 core->cfg->offline ? "offline: not served"
						    : "rendered again");
			err = -ENOENT;
		}
		if (err == -ENOENT && !po->retried && !core->cfg->offline) {
			po->retried = true;
			if (sat_jobs_request(core->jobs, of->tf.plan,
					     render_done, po) == 0)
				return;
		}
		if (!err) {
			snprintf(of->key, sizeof(of->key), "%s", key);
			of->pub.fd = fd;
			of->pub.keep_cache = true;
			opened(core, of, po->done, po->payload);
			free(po);
			return;
		}
	}
	sat_tree_path(core->tree, po->ino, path, sizeof(path));
	if (rendered_err) /* logged once, with its cause, by the render */
		sat_debug("open %s: %s", path, strerror(-err));
	else
		sat_error("open %s: %s", path, strerror(-err));
	sat_core_file_free(core, of);
	po->done(err == -ENOSPC || err == -ENOMEM ? err : -EIO, NULL,
		 po->payload);
	free(po);
}

static void prefetch_after(struct sat_core *core, uint64_t ino)
{
	struct sat_render_plan *next[PREFETCH_MAX];
	size_t n, i, max = (size_t)core->cfg->prefetch;

	if (max == 0 || core->cfg->offline)
		return;
	n = sat_tree_next_plans(core->tree, ino,
				max < PREFETCH_MAX ? max : PREFETCH_MAX, next);
	for (i = 0; i < n; i++) {
		char why[128];

		if (!sat_core_too_large(core, next[i], why, sizeof(why)))
			sat_jobs_prefetch(core->jobs, next[i]);
		sat_render_plan_unref(next[i]);
	}
}

static void open_tif(struct sat_core *core, uint64_t ino,
		     struct open_file *of, sat_core_open_fn done,
		     void *payload)
{
	const struct sat_render_plan *plan = of->tf.plan;
	struct pending_open *po;
	char path[1024], why[128];
	int err;

	if (sat_core_too_large(core, plan, why, sizeof(why))) {
		sat_tree_path(core->tree, ino, path, sizeof(path));
		sat_error("open %s: %s", path, why);
		sat_core_file_free(core, of);
		done(-EFBIG, NULL, payload);
		return;
	}
	if (core->cfg->offline && !sat_cache_has_file(core->cache, plan->key)) {
		sat_tree_path(core->tree, ino, path, sizeof(path));
		sat_warn("open %s: offline, and not in the cache", path);
		sat_core_file_free(core, of);
		done(-EIO, NULL, payload);
		return;
	}
	po = calloc(1, sizeof(*po));
	if (!po) {
		sat_core_file_free(core, of);
		done(-ENOMEM, NULL, payload);
		return;
	}
	*po = (struct pending_open){ core, ino, of, done, payload, false };
	/* the job first, so that the prefetch jobs queue behind it; the
	 * answer may come before this returns, and `of` is not ours then */
	err = sat_jobs_request(core->jobs, of->tf.plan, render_done, po);
	if (err) {
		free(po);
		sat_core_file_free(core, of);
		done(err, NULL, payload);
		return;
	}
	prefetch_after(core, ino);
}

void sat_core_open(struct sat_core *core, uint64_t ino, int flags,
		   sat_core_open_fn done, void *payload)
{
	struct open_file *of;
	int err;

	if ((flags & O_ACCMODE) != O_RDONLY) {
		done(-EROFS, NULL, payload);
		return;
	}
	of = calloc(1, sizeof(*of));
	if (!of) {
		done(-ENOMEM, NULL, payload);
		return;
	}
	of->pub.fd = -1;
	err = sat_tree_file(core->tree, ino, &of->tf);
	if (err) {
		free(of);
		done(err, NULL, payload);
		return;
	}
	switch (of->tf.kind) {
	case SAT_NODE_TIF:
		open_tif(core, ino, of, done, payload);
		return;
	case SAT_NODE_JSON:
		of->pub.data = of->tf.json;
		of->pub.len = of->tf.json_len;
		of->pub.keep_cache = true;
		break;
	default: /* a status file: made now, whole */
		err = sat_status_render(core, (enum sat_ctl_file)of->tf.ctl,
					&of->owned, &of->pub.len);
		of->pub.data = of->owned;
		of->pub.direct_io = true;
		break;
	}
	if (err) {
		sat_core_file_free(core, of);
		done(err, NULL, payload);
		return;
	}
	opened(core, of, done, payload);
}

void sat_core_release(struct sat_core *core, struct sat_file *f)
{
	struct open_file *of = container_of(f, struct open_file, pub);

	sat_core_untrack(core, &of->h);
	sat_core_file_free(core, of);
}
