/*
 * core_xattr: a node's state as extended attributes, and the control
 * commands that setting one runs (names in include/satfs/control.h).
 * Reading never blocks on the network; clearing the cache (many unlinks)
 * runs on the work queue.
 */
#include "core_private.h"
#include "satfs/cache.h"
#include "satfs/control.h"
#include "satfs/jobs.h"
#include "satfs/log.h"
#include "satfs/regioncloud.h"
#include "satfs/render.h"
#include "satfs/status.h"
#include "satfs/workq.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int state_value(struct sat_core *core, uint64_t ino,
		       const struct sat_attr *a,
		       const struct sat_render_plan *plan, char *buf,
		       size_t len)
{
	const char *st = "listed";

	if (plan)
		st = sat_status_file_state(core, plan);
	else if (a->kind == SAT_NODE_JSON)
		st = "cached"; /* it came with the listing */
	else if (a->kind == SAT_NODE_REGION &&
		 !sat_tree_ready(core->tree, ino))
		st = "remote";
	return snprintf(buf, len, "%s", st);
}

static int source_value(const struct sat_render_plan *plan, char *buf,
			size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < plan->nbands && off < len; i++) {
		char u[1024];

		/* redacted as in the log: signed URLs carry tokens in the
		 * query string, and a URL may carry a password */
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
					i ? " " : "",
					sat_log_url(plan->inputs[0].hrefs[i],
						    u, sizeof(u)));
	}
	/* a time-lapse or page reads no band of its own */
	return buf[0] ? (int)strlen(buf) : -ENODATA;
}

/* The region cloud cover of a file's scenes ("12.3"; a mosaic's, one per
 * scene); -ENODATA without SCL; -EINPROGRESS when it is not counted yet
 * (sat_core_getxattr_async counts it). */
static int cloud_value(struct sat_core *core, struct sat_render_plan *plan,
		       char *buf, size_t len)
{
	size_t off = 0, known = 0;

	buf[0] = '\0';
	for (size_t k = 0; k < plan->ninputs && off < len; k++) {
		double pct;

		if (sat_regioncloud_peek(core->clouds, &plan->inputs[k],
					 &pct) != 0)
			return -EINPROGRESS;
		known += !isnan(pct);
		off += (size_t)snprintf(buf + off, len - off,
					isnan(pct) ? "%sn/a" : "%s%.1f",
					k ? "," : "", pct);
	}
	return known ? (int)strlen(buf) : -ENODATA;
}

int sat_core_getxattr(struct sat_core *core, uint64_t ino, const char *name,
		      char *buf, size_t len)
{
	struct sat_tree_file tf = { 0 };
	struct sat_attr a;
	int ret = -ENODATA;

	/* ls -l asks for security.* and system.posix_acl_*: answer at once */
	if (strncmp(name, SAT_XATTR_PREFIX, strlen(SAT_XATTR_PREFIX)) != 0 ||
	    sat_tree_getattr(core->tree, ino, &a) != 0 ||
	    a.kind == SAT_NODE_CTL_DIR || a.kind == SAT_NODE_CTL_FILE)
		return -ENODATA;
	if (a.kind == SAT_NODE_TIF && sat_tree_file(core->tree, ino, &tf) != 0)
		return -ENODATA;
	if (strcmp(name, SAT_XATTR_STATE) == 0)
		ret = state_value(core, ino, &a, tf.plan, buf, len);
	else if ((a.kind == SAT_NODE_REGION || a.kind == SAT_NODE_DATE) &&
		 strcmp(name, SAT_XATTR_ERROR) == 0)
		ret = sat_tree_region_error(core->tree, ino, buf, len);
	else if (tf.plan && strcmp(name, SAT_XATTR_ERROR) == 0)
		ret = sat_core_too_large(core, tf.plan, buf, len) ||
			      sat_jobs_last_error(core->jobs, tf.plan->key,
						  buf, len, NULL) == 0
			      ? (int)strlen(buf)
			      : -ENODATA;
	else if (tf.plan && strcmp(name, SAT_XATTR_SOURCE) == 0)
		ret = source_value(tf.plan, buf, len);
	else if (tf.plan && strcmp(name, SAT_XATTR_CLOUD) == 0)
		ret = cloud_value(core, tf.plan, buf, len);
	sat_tree_file_release(&tf);
	return ret;
}

size_t sat_core_listxattr(struct sat_core *core, uint64_t ino, char *buf,
			  size_t len)
{
	static const char *const names[] = { SAT_XATTR_STATE, SAT_XATTR_ERROR,
					      SAT_XATTR_SOURCE, SAT_XATTR_CLOUD };
	char val[4096];
	size_t off = 0, i, n;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int v;

		n = strlen(names[i]) + 1;
		v = sat_core_getxattr(core, ino, names[i], val, sizeof(val));
		if (off + n > len || (v < 0 && v != -EINPROGRESS))
			continue;
		memcpy(buf + off, names[i], n);
		off += n;
	}
	return off;
}

/* Drops the listings of ino's region, or of every region for the root. */
static int refresh(struct sat_core *core, uint64_t ino)
{
	struct sat_dirent *ents;
	char path[1024];
	size_t n, i;
	int err;

	if (ino != SAT_TREE_ROOT_INO) {
		err = sat_tree_refresh(core->tree, ino);
		sat_tree_path(core->tree, ino, path, sizeof(path));
		if (!err)
			sat_info("refresh: %s", path);
		return err;
	}
	/* the root's entries are in memory: no network */
	err = sat_tree_list(core->tree, ino, &ents, &n);
	if (err)
		return err;
	for (i = 0; i < n; i++)
		if (ents[i].attr.kind == SAT_NODE_REGION)
			sat_tree_refresh(core->tree, ents[i].attr.ino);
	sat_tree_dirents_free(ents, n);
	sat_info("refresh: every region");
	return 0;
}

struct clear_req {
	struct sat_core *core;
	sat_core_done_fn done;
	void *payload;
};

static void clear_cache_work(void *arg)
{
	struct clear_req *c = arg;
	uint64_t files, bytes;

	c->done(sat_core_clear_cache(c->core, &files, &bytes), c->payload);
	free(c);
}

void sat_core_setxattr(struct sat_core *core, uint64_t ino, const char *name,
		       uid_t uid, sat_core_done_fn done, void *payload)
{
	struct clear_req *c;
	struct sat_attr a;

	if (strcmp(name, SAT_XATTR_REFRESH) != 0 &&
	    strcmp(name, SAT_XATTR_CLEAR) != 0) {
		done(-ENOTSUP, payload);
		return;
	}
	if (!sat_core_may_control(uid)) {
		done(-EPERM, payload);
		return;
	}
	if (sat_tree_getattr(core->tree, ino, &a) != 0) {
		done(-ENOENT, payload);
		return;
	}
	if (a.kind == SAT_NODE_CTL_DIR || a.kind == SAT_NODE_CTL_FILE) {
		done(-EINVAL, payload);
		return;
	}
	if (strcmp(name, SAT_XATTR_REFRESH) == 0) {
		done(refresh(core, ino), payload);
		return;
	}
	if (ino != SAT_TREE_ROOT_INO) {
		done(-EINVAL, payload); /* the cache is the mount's */
		return;
	}
	/* many unlinks: not on a FUSE thread */
	c = malloc(sizeof(*c));
	if (!c) {
		done(-ENOMEM, payload);
		return;
	}
	*c = (struct clear_req){ core, done, payload };
	if (sat_workq_submit(core->workq, clear_cache_work, c) != 0) {
		free(c);
		done(-ENOMEM, payload);
	}
}

struct deferred_xattr {
	struct sat_core *core;
	uint64_t ino;
	sat_core_xattr_fn done;
	void *payload;
	char name[];
};

/* On the work queue: counts what the attribute needs (the region cloud
 * cover of a file's scenes: reads SCL), then answers. */
static void xattr_work(void *arg)
{
	struct deferred_xattr *d = arg;
	struct sat_tree_file tf = { 0 };
	char buf[4096];
	int n;

	if (sat_tree_file(d->core->tree, d->ino, &tf) == 0 && tf.plan) {
		for (size_t k = 0; k < tf.plan->ninputs; k++) {
			double pct;
			char cause[400];

			if (sat_regioncloud_get(d->core->clouds,
						&tf.plan->inputs[k],
						tf.plan->ring_lonlat,
						tf.plan->nring_lonlat,
						SAT_FETCH_FOREGROUND, NULL,
						&pct) != 0) {
				sat_log_take_cause(cause, sizeof(cause));
				sat_warn("%s: region cloud cover unknown: %s",
					 tf.plan->inputs[k].item_id, cause);
			}
		}
	}
	sat_tree_file_release(&tf);
	n = sat_core_getxattr(d->core, d->ino, d->name, buf, sizeof(buf));
	if (n == -EINPROGRESS) /* it could not be counted */
		n = -EIO;
	d->done(n, n < 0 ? NULL : buf, d->payload);
	free(d);
}

void sat_core_getxattr_async(struct sat_core *core, uint64_t ino,
			     const char *name, sat_core_xattr_fn done,
			     void *payload)
{
	struct deferred_xattr *d;
	char buf[4096];
	int n = sat_core_getxattr(core, ino, name, buf, sizeof(buf));

	if (n != -EINPROGRESS) {
		done(n, n < 0 ? NULL : buf, payload);
		return;
	}
	d = calloc(1, sizeof(*d) + strlen(name) + 1);
	if (!d) {
		done(-ENOMEM, NULL, payload);
		return;
	}
	d->core = core;
	d->ino = ino;
	d->done = done;
	d->payload = payload;
	strcpy(d->name, name);
	if (sat_workq_submit(core->workq, xattr_work, d) != 0) {
		free(d);
		done(-ENOMEM, NULL, payload);
	}
}
