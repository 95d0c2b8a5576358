/*
 * fuse_ll: the FUSE operations. Each one translates, calls the core and
 * translates the error back.
 *
 * Threading: libfuse's multi-threaded loop calls these on its threads.
 * None of them waits on the network: a lookup or opendir that needs the
 * catalog is handed to the core's work queue and answered from there, and
 * an open of a file that is not rendered yet is answered by the render
 * job's completion callback. Replies may come from any thread.
 */
#define FUSE_USE_VERSION 312

#include "fuse_ll.h"
#include "satfs/cache.h"
#include "satfs/config.h"
#include "satfs/core.h"
#include "satfs/jobs.h"
#include "satfs/log.h"
#include "satfs/render.h"
#include "satfs/tree.h"
#include "satfs/workq.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define ATTR_TIMEOUT_S 60.0
#define NEGATIVE_TIMEOUT_S 60.0

/* The session's userdata: the core only exists once the mount is up and
 * the process has daemonised, after the session was created. */
struct session_data {
	struct sat_core *core;
};

static struct sat_core *core_of(fuse_req_t req)
{
	return ((struct session_data *)fuse_req_userdata(req))->core;
}

/* An open file: either a rendered GeoTIFF in the cache or an item's JSON */
struct open_file {
	int fd;                    /* -1 for JSON */
	char key[SAT_HASH_HEX];    /* cache key, to unpin */
	const char *json;          /* borrowed from the tree */
	size_t json_len;
};

struct open_dir {
	struct sat_dirent *ents;
	size_t n;
	uint64_t parent_ino;
};

static void fill_stat(const struct sat_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = a->ino;
	if (a->kind == SAT_NODE_TIF || a->kind == SAT_NODE_JSON) {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
	} else {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
	}
	st->st_size = (off_t)a->size;
	st->st_blocks = (blkcnt_t)((a->size + 511) / 512);
	st->st_blksize = 65536;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_mtime = st->st_ctime = st->st_atime = a->mtime;
}

static void reply_entry(fuse_req_t req, int err, const struct sat_attr *a)
{
	struct fuse_entry_param e;

	memset(&e, 0, sizeof(e));
	if (err == -ENOENT) {
		/* ino 0: a negative entry the kernel caches, so probes such
		 * as .Trash are answered without coming back here */
		e.entry_timeout = NEGATIVE_TIMEOUT_S;
		fuse_reply_entry(req, &e);
		return;
	}
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	e.ino = a->ino;
	e.attr_timeout = ATTR_TIMEOUT_S;
	e.entry_timeout = ATTR_TIMEOUT_S;
	fill_stat(a, &e.attr);
	fuse_reply_entry(req, &e);
}

struct deferred {
	fuse_req_t req;
	fuse_ino_t ino;
	struct fuse_file_info fi;
	char name[];
};

static struct deferred *deferred_new(fuse_req_t req, fuse_ino_t ino,
				     const struct fuse_file_info *fi,
				     const char *name)
{
	size_t len = name ? strlen(name) + 1 : 1;
	struct deferred *d = calloc(1, sizeof(*d) + len);

	if (!d)
		return NULL;
	d->req = req;
	d->ino = ino;
	if (fi)
		d->fi = *fi;
	memcpy(d->name, name ? name : "", len);
	return d;
}

static void defer(fuse_req_t req, sat_work_fn fn, struct deferred *d)
{
	if (!d || sat_workq_submit(core_of(req)->workq, fn, d) != 0) {
		free(d);
		fuse_reply_err(req, ENOMEM);
	}
}

static void lookup_work(void *payload)
{
	struct deferred *d = payload;
	struct sat_attr a;
	int err;

	err = sat_tree_lookup(core_of(d->req)->tree, d->ino, d->name, &a);
	reply_entry(d->req, err, &a);
	free(d);
}

static void sat_ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct sat_core *core = core_of(req);
	struct sat_attr a;

	if (!sat_tree_ready(core->tree, parent)) {
		defer(req, lookup_work, deferred_new(req, parent, NULL, name));
		return;
	}
	reply_entry(req, sat_tree_lookup(core->tree, parent, name, &a), &a);
}

static void sat_ll_getattr(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	struct sat_attr a;
	struct stat st;
	int err;

	err = sat_tree_getattr(core_of(req)->tree, ino, &a);
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	fill_stat(&a, &st);
	fuse_reply_attr(req, &st, ATTR_TIMEOUT_S);
}

static void reply_opendir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct sat_core *core = core_of(req);
	struct open_dir *od = calloc(1, sizeof(*od));
	char path[1024];
	int err;

	if (!od) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	err = sat_tree_list(core->tree, ino, &od->ents, &od->n);
	if (err) {
		sat_tree_path(core->tree, ino, path, sizeof(path));
		sat_debug("opendir %s: %s", path, strerror(-err));
		free(od);
		fuse_reply_err(req, -err);
		return;
	}
	od->parent_ino = ino; /* '..' is resolved by the kernel anyway */
	fi->fh = (uint64_t)(uintptr_t)od;
	fi->cache_readdir = 1;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		/* interrupted: the kernel will not release it */
		sat_tree_dirents_free(od->ents, od->n);
		free(od);
	}
}

static void opendir_work(void *payload)
{
	struct deferred *d = payload;

	reply_opendir(d->req, d->ino, &d->fi);
	free(d);
}

static void sat_ll_opendir(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	if (!sat_tree_ready(core_of(req)->tree, ino)) {
		defer(req, opendir_work, deferred_new(req, ino, fi, NULL));
		return;
	}
	reply_opendir(req, ino, fi);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi, bool plus)
{
	struct open_dir *od = (struct open_dir *)(uintptr_t)fi->fh;
	char *buf = malloc(size), *p;
	size_t left = size, used;
	off_t i;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	p = buf;
	/* offsets: 0 '.', 1 '..', 2.. the entries */
	for (i = off; i < (off_t)od->n + 2; i++) {
		struct sat_attr self = { .ino = ino, .kind = SAT_NODE_ROOT };
		const struct sat_attr *a;
		const char *name;
		struct stat st;

		if (i == 0) {
			name = ".";
			a = &self;
		} else if (i == 1) {
			name = "..";
			a = &self;
		} else {
			name = od->ents[i - 2].name;
			a = &od->ents[i - 2].attr;
		}
		fill_stat(a, &st);
		if (plus) {
			struct fuse_entry_param e;

			memset(&e, 0, sizeof(e));
			e.attr = st;
			if (i >= 2) {
				/* the kernel counts a lookup for these */
				e.ino = a->ino;
				e.attr_timeout = ATTR_TIMEOUT_S;
				e.entry_timeout = ATTR_TIMEOUT_S;
			}
			used = fuse_add_direntry_plus(req, p, left, name, &e,
						      i + 1);
		} else {
			used = fuse_add_direntry(req, p, left, name, &st,
						 i + 1);
		}
		if (used > left)
			break;
		p += used;
		left -= used;
	}
	fuse_reply_buf(req, buf, size - left);
	free(buf);
}

static void sat_ll_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

static void sat_ll_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			       off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

static void sat_ll_releasedir(fuse_req_t req, fuse_ino_t ino,
			      struct fuse_file_info *fi)
{
	struct open_dir *od = (struct open_dir *)(uintptr_t)fi->fh;

	sat_tree_dirents_free(od->ents, od->n);
	free(od);
	fuse_reply_err(req, 0);
}

/* Waits for nothing: called when the render job is done (or at once). */
struct pending_open {
	fuse_req_t req;
	fuse_ino_t ino;
	struct fuse_file_info fi;
	struct sat_core *core;
	char key[SAT_HASH_HEX];
};

static void finish_open(struct sat_core *core, fuse_req_t req,
			fuse_ino_t ino, struct fuse_file_info *fi,
			const char *key, int err)
{
	struct open_file *of;
	char path[1024];
	uint64_t size;

	if (!err) {
		of = calloc(1, sizeof(*of));
		if (!of) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		err = sat_cache_open_file(core->cache, key, &of->fd, &size);
		if (err) {
			free(of);
		} else {
			snprintf(of->key, sizeof(of->key), "%s", key);
			fi->fh = (uint64_t)(uintptr_t)of;
			fi->keep_cache = 1;
			if (fuse_reply_open(req, fi) == -ENOENT) {
				close(of->fd);
				sat_cache_unpin(core->cache, of->key);
				free(of);
			}
			return;
		}
	}
	sat_tree_path(core->tree, ino, path, sizeof(path));
	sat_error("open %s: %s", path, strerror(-err));
	fuse_reply_err(req, err == -ENOSPC ? ENOSPC : EIO);
}

static void render_done(int err, void *payload)
{
	struct pending_open *po = payload;

	finish_open(po->core, po->req, po->ino, &po->fi, po->key, err);
	free(po);
}

static void sat_ll_open(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct sat_core *core = core_of(req);
	const struct sat_render_plan *plan, *next[64];
	struct pending_open *po;
	struct open_file *of;
	const char *json;
	size_t json_len = 0, n, i;
	int err;

	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	err = sat_tree_file(core->tree, ino, &plan, &json, &json_len);
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	if (json) {
		of = calloc(1, sizeof(*of));
		if (!of) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		of->fd = -1;
		of->json = json;
		of->json_len = json_len;
		fi->fh = (uint64_t)(uintptr_t)of;
		fi->keep_cache = 1;
		if (fuse_reply_open(req, fi) == -ENOENT)
			free(of);
		return;
	}
	if (core->cfg->offline && !sat_cache_has_file(core->cache, plan->key)) {
		finish_open(core, req, ino, fi, plan->key, -ENETDOWN);
		return;
	}
	po = calloc(1, sizeof(*po));
	if (!po) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	po->req = req;
	po->ino = ino;
	po->fi = *fi;
	po->core = core;
	snprintf(po->key, sizeof(po->key), "%s", plan->key);
	/* prefetch first, so those jobs queue behind this one */
	err = sat_jobs_request(core->jobs, plan, render_done, po);
	if (err) {
		free(po);
		fuse_reply_err(req, -err);
		return;
	}
	if (core->cfg->prefetch > 0 && !core->cfg->offline) {
		n = sat_tree_next_plans(core->tree, ino,
					(size_t)core->cfg->prefetch < 64
						? (size_t)core->cfg->prefetch
						: 64,
					next);
		for (i = 0; i < n; i++)
			sat_jobs_prefetch(core->jobs, next[i]);
	}
}

static void sat_ll_read(fuse_req_t req, fuse_ino_t ino, size_t size,
			off_t off, struct fuse_file_info *fi)
{
	struct open_file *of = (struct open_file *)(uintptr_t)fi->fh;
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	if (of->fd < 0) {
		if ((size_t)off >= of->json_len)
			fuse_reply_buf(req, NULL, 0);
		else
			fuse_reply_buf(req, of->json + off,
				       of->json_len - (size_t)off < size
					       ? of->json_len - (size_t)off
					       : size);
		return;
	}
	/* served from the cached file without copying it through us */
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = of->fd;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static void sat_ll_release(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	struct open_file *of = (struct open_file *)(uintptr_t)fi->fh;

	if (of->fd >= 0) {
		close(of->fd);
		sat_cache_unpin(core_of(req)->cache, of->key);
	}
	free(of);
	fuse_reply_err(req, 0);
}

static void sat_ll_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs st;

	memset(&st, 0, sizeof(st));
	st.f_bsize = 65536;
	st.f_frsize = 65536;
	st.f_namemax = 255;
	fuse_reply_statfs(req, &st);
}

static const struct fuse_lowlevel_ops sat_ll_ops = {
	.lookup = sat_ll_lookup,
	.getattr = sat_ll_getattr,
	.opendir = sat_ll_opendir,
	.readdir = sat_ll_readdir,
	.readdirplus = sat_ll_readdirplus,
	.releasedir = sat_ll_releasedir,
	.open = sat_ll_open,
	.read = sat_ll_read,
	.release = sat_ll_release,
	.statfs = sat_ll_statfs,
};

int sat_fuse_run(struct fuse_args *args, const struct sat_config *cfg,
		 const struct sat_fuse_opts *o)
{
	struct session_data sd = { NULL };
	struct fuse_loop_config *lc = NULL;
	struct sat_core *core = NULL;
	struct fuse_session *se;
	int ret = 1, err;

	se = fuse_session_new(args, &sat_ll_ops, sizeof(sat_ll_ops), &sd);
	if (!se)
		return 1;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_destroy;
	if (fuse_session_mount(se, o->mountpoint) != 0)
		goto out_signals;
	if (fuse_daemonize(o->foreground) != 0)
		goto out_unmount;
	if (!o->foreground && !cfg->log_path)
		sat_log_setup((enum sat_log_level)cfg->log_level, NULL, 1);

	err = sat_core_new(&core, cfg);
	if (err)
		goto out_unmount;
	sd.core = core; /* before the loop: no request was read yet */
	sat_info("mounted on %s (catalog %s, cache %s)", o->mountpoint,
		 cfg->stac_url, cfg->cache_dir);

	if (o->singlethread) {
		ret = fuse_session_loop(se) != 0;
	} else {
		lc = fuse_loop_cfg_create();
		if (!lc)
			goto out_core;
		/* enough threads that a burst of opens (each answered later
		 * by its render) never starves ls and stat */
		fuse_loop_cfg_set_max_threads(lc, 64);
		if (o->max_idle_threads > 0)
			fuse_loop_cfg_set_idle_threads(
				lc, (unsigned)o->max_idle_threads);
		ret = fuse_session_loop_mt(se, lc) != 0;
		fuse_loop_cfg_destroy(lc);
	}
	sat_info("unmounted %s", o->mountpoint);
out_core:
	sat_core_free(core);
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_destroy:
	fuse_session_destroy(se);
	return ret;
}
