/*
 * fuse_ll: the FUSE operations. Each one translates, calls the core and
 * translates the error back.
 *
 * Threading: libfuse's multi-threaded loop calls these on its threads.
 * None of them waits on the network: a lookup or opendir that needs the
 * catalog is handed to the core's work queue and answered from there, and
 * an open of a file that is not rendered yet is answered by the render
 * job's completion callback. Replies may come from any thread.
 *
 * MOUNT/.satfs/ holds the status files (fs/status.c makes them, at open:
 * direct_io, size 0, like /proc). Their inodes start at VIRT_INO_DIR, far
 * above any the tree hands out. Extended attributes show a file's state;
 * setting user.satfs.refresh or user.satfs.clear_cache is how `satfs
 * refresh` and `satfs cache --clear` talk to the daemon. That is why the
 * mount is not "ro" (the kernel refuses setxattr there): every operation
 * that would change something answers EROFS here instead.
 */
#define FUSE_USE_VERSION 312

#include "fuse_ll.h"
#include "satfs/cache.h"
#include "satfs/config.h"
#include "satfs/core.h"
#include "satfs/jobs.h"
#include "satfs/log.h"
#include "satfs/render.h"
#include "satfs/source.h"
#include "satfs/status.h"
#include "satfs/tree.h"
#include "satfs/workq.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define ATTR_TIMEOUT_S 60.0
#define NEGATIVE_TIMEOUT_S 60.0

/* The session's userdata: the core only exists once the mount is up and
 * the process has daemonised, after the session was created. */
struct session_data {
	struct sat_core *core;
	/* Open directory handles: the kernel may drop a pending RELEASEDIR
	 * when the mount goes away, so the session frees what is left. */
	pthread_mutex_t dirs_lock;
	struct open_dir *dirs; /* protected by dirs_lock */
};

static struct sat_core *core_of(fuse_req_t req)
{
	return ((struct session_data *)fuse_req_userdata(req))->core;
}

/* An open file: either a rendered GeoTIFF in the cache or an item's JSON */
struct open_file {
	int fd;                    /* -1 for JSON */
	char key[SAT_HASH_HEX];    /* cache key, to unpin */
	const char *json;          /* borrowed from the tree, or owned */
	size_t json_len;
	char *owned;               /* a status file's text (freed) */
};

struct open_dir {
	struct open_dir *prev, *next; /* in session_data.dirs */
	struct sat_dirent *ents;
	size_t n;
	uint64_t parent_ino;
};

static void open_dir_track(fuse_req_t req, struct open_dir *od)
{
	struct session_data *sd = fuse_req_userdata(req);

	pthread_mutex_lock(&sd->dirs_lock);
	od->prev = NULL;
	od->next = sd->dirs;
	if (sd->dirs)
		sd->dirs->prev = od;
	sd->dirs = od;
	pthread_mutex_unlock(&sd->dirs_lock);
}

static void open_dir_free(fuse_req_t req, struct open_dir *od)
{
	struct session_data *sd = req ? fuse_req_userdata(req) : NULL;

	if (sd) {
		pthread_mutex_lock(&sd->dirs_lock);
		if (od->prev)
			od->prev->next = od->next;
		else if (sd->dirs == od)
			sd->dirs = od->next;
		if (od->next)
			od->next->prev = od->prev;
		pthread_mutex_unlock(&sd->dirs_lock);
	}
	sat_tree_dirents_free(od->ents, od->n);
	free(od);
}

/* MOUNT/.satfs and its files */
#define CTL_DIR_NAME ".satfs"
#define VIRT_INO_DIR (1ULL << 48)

static const struct {
	const char *name;
	enum sat_status_kind kind;
} virt_files[] = {
	{ "status", SAT_STATUS_TEXT },
	{ "status.json", SAT_STATUS_JSON },
	{ "cache", SAT_STATUS_CACHE },
};
#define VIRT_NFILES (sizeof(virt_files) / sizeof(virt_files[0]))

static bool is_virt(fuse_ino_t ino)
{
	return ino >= VIRT_INO_DIR && ino <= VIRT_INO_DIR + VIRT_NFILES;
}

static void virt_attr(fuse_ino_t ino, struct sat_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = ino;
	/* SAT_NODE_ROOT: fill_stat makes it a directory */
	a->kind = ino == VIRT_INO_DIR ? SAT_NODE_ROOT : SAT_NODE_JSON;
	a->size = 0; /* made at open: unknown before */
	a->mtime = time(NULL);
}

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

static void virt_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct sat_attr a;
	size_t i;

	if (parent == SAT_TREE_ROOT_INO) {
		virt_attr(VIRT_INO_DIR, &a);
		reply_entry(req, 0, &a);
		return;
	}
	for (i = 0; i < VIRT_NFILES; i++)
		if (parent == VIRT_INO_DIR &&
		    strcmp(name, virt_files[i].name) == 0)
			break;
	if (i == VIRT_NFILES) {
		reply_entry(req, parent == VIRT_INO_DIR ? -ENOENT : -ENOTDIR,
			    NULL);
		return;
	}
	virt_attr(VIRT_INO_DIR + 1 + i, &a);
	reply_entry(req, 0, &a);
}

static void sat_ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct sat_core *core = core_of(req);
	struct sat_attr a;

	/* reserved: never a region, never the network */
	if (is_virt(parent) || (parent == SAT_TREE_ROOT_INO &&
				strcmp(name, CTL_DIR_NAME) == 0)) {
		virt_lookup(req, parent, name);
		return;
	}
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

	if (is_virt(ino)) {
		virt_attr(ino, &a);
		fill_stat(&a, &st);
		fuse_reply_attr(req, &st, ATTR_TIMEOUT_S);
		return;
	}
	err = sat_tree_getattr(core_of(req)->tree, ino, &a);
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	fill_stat(&a, &st);
	fuse_reply_attr(req, &st, ATTR_TIMEOUT_S);
}

/* Adds .satfs to the root's entries (ls -a shows it); without memory,
 * the listing goes without it. */
static void add_ctl_dirent(struct open_dir *od)
{
	struct sat_dirent *v = realloc(od->ents, (od->n + 1) * sizeof(*v));

	if (!v)
		return;
	od->ents = v;
	v[od->n].name = strdup(CTL_DIR_NAME);
	if (!v[od->n].name)
		return;
	virt_attr(VIRT_INO_DIR, &v[od->n].attr);
	od->n++;
}

static int virt_list(fuse_ino_t ino, struct sat_dirent **out, size_t *n)
{
	struct sat_dirent *d;
	size_t i;

	*out = NULL;
	*n = 0;
	if (ino != VIRT_INO_DIR)
		return -ENOTDIR;
	d = calloc(VIRT_NFILES, sizeof(*d));
	if (!d)
		return -ENOMEM;
	for (i = 0; i < VIRT_NFILES; i++) {
		d[i].name = strdup(virt_files[i].name);
		if (!d[i].name) {
			sat_tree_dirents_free(d, i);
			return -ENOMEM;
		}
		virt_attr(VIRT_INO_DIR + 1 + i, &d[i].attr);
	}
	*out = d;
	*n = VIRT_NFILES;
	return 0;
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
	if (is_virt(ino))
		err = virt_list(ino, &od->ents, &od->n);
	else
		err = sat_tree_list(core->tree, ino, &od->ents, &od->n);
	if (err) {
		sat_tree_path(core->tree, ino, path, sizeof(path));
		sat_debug("opendir %s: %s", path, strerror(-err));
		free(od);
		fuse_reply_err(req, -err);
		return;
	}
	if (ino == SAT_TREE_ROOT_INO)
		add_ctl_dirent(od);
	od->parent_ino = ino; /* '..' is resolved by the kernel anyway */
	fi->fh = (uint64_t)(uintptr_t)od;
	fi->cache_readdir = 1;
	open_dir_track(req, od);
	if (fuse_reply_open(req, fi) == -ENOENT)
		open_dir_free(req, od); /* interrupted: no release will come */
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
	if (!is_virt(ino) && !sat_tree_ready(core_of(req)->tree, ino)) {
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

	open_dir_free(req, od);
	fuse_reply_err(req, 0);
}

/* Waits for nothing: called when the render job is done (or at once). */
struct pending_open {
	fuse_req_t req;
	fuse_ino_t ino;
	struct fuse_file_info fi;
	struct sat_core *core;
	char key[SAT_HASH_HEX];
	bool retried;
};

static void render_done(int err, void *payload);

/* The file went between its render and our open (the size cap or satfs
 * cache --clear removed it): render it again, once. True when the open
 * will be answered by that render. */
static bool open_again(struct sat_core *core, fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct sat_render_plan *plan;
	struct pending_open *po;

	if (sat_tree_file(core->tree, ino, &plan, NULL, NULL) || !plan)
		return false;
	po = calloc(1, sizeof(*po));
	if (!po)
		return false;
	po->req = req;
	po->ino = ino;
	po->fi = *fi;
	po->core = core;
	po->retried = true;
	snprintf(po->key, sizeof(po->key), "%s", plan->key);
	if (sat_jobs_request(core->jobs, plan, render_done, po)) {
		free(po);
		return false;
	}
	return true;
}

static void finish_open(struct sat_core *core, fuse_req_t req,
			fuse_ino_t ino, struct fuse_file_info *fi,
			const char *key, int err, bool retried)
{
	bool rendered_err = err != 0; /* the render logged it */
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
		if (err == -ENOENT && !retried && !core->cfg->offline &&
		    open_again(core, req, ino, fi)) {
			free(of);
			return;
		}
		if (err) {
			free(of);
		} else {
			snprintf(of->key, sizeof(of->key), "%s", key);
			fi->fh = (uint64_t)(uintptr_t)of;
			fi->keep_cache = 1;
			if (fuse_reply_open(req, fi) == -ENOENT) {
				sat_cache_close_file(core->cache, of->key);
				free(of);
			}
			return;
		}
	}
	sat_tree_path(core->tree, ino, path, sizeof(path));
	if (rendered_err) /* logged once, with its cause, by the render */
		sat_debug("open %s: %s", path, strerror(-err));
	else
		sat_error("open %s: %s", path, strerror(-err));
	fuse_reply_err(req, err == -ENOSPC ? ENOSPC : EIO);
}

static void render_done(int err, void *payload)
{
	struct pending_open *po = payload;

	finish_open(po->core, po->req, po->ino, &po->fi, po->key, err,
		    po->retried);
	free(po);
}

/* A status file: made now, whole, and read like an item's JSON. */
static void virt_open(fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi)
{
	struct open_file *of;
	size_t len;
	int err;

	if (ino == VIRT_INO_DIR) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	of = calloc(1, sizeof(*of));
	if (!of) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	err = sat_status_render(core_of(req),
				virt_files[ino - VIRT_INO_DIR - 1].kind,
				&of->owned, &len);
	if (err) {
		free(of);
		fuse_reply_err(req, -err);
		return;
	}
	of->fd = -1;
	of->json = of->owned;
	of->json_len = len;
	fi->fh = (uint64_t)(uintptr_t)of;
	fi->direct_io = 1; /* the size was not known at stat */
	if (fuse_reply_open(req, fi) == -ENOENT) {
		free(of->owned);
		free(of);
	}
}

static void sat_ll_open(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct sat_core *core = core_of(req);
	struct sat_render_plan *plan, *next[64];
	struct pending_open *po;
	struct open_file *of;
	const char *json;
	size_t json_len = 0, n, i;
	int err;

	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (is_virt(ino)) {
		virt_open(req, ino, fi);
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
		char path[1024];

		sat_tree_path(core->tree, ino, path, sizeof(path));
		sat_warn("open %s: offline, and not in the cache", path);
		finish_open(core, req, ino, fi, plan->key, -ENETDOWN, true);
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

/* A status file's bytes go out from a copy: the reader may close the file,
 * and our release free the text, before fuse_reply_buf() has returned
 * (the kernel completes the read inside its writev). */
static void virt_read(fuse_req_t req, const struct open_file *of, size_t size,
		      off_t off)
{
	size_t n = (size_t)off < of->json_len ? of->json_len - (size_t)off : 0;
	char *copy;

	if (n > size)
		n = size;
	copy = malloc(n + 1);
	if (!copy) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memcpy(copy, of->json + (n ? off : 0), n);
	fuse_reply_buf(req, copy, n);
	free(copy);
}

static void sat_ll_read(fuse_req_t req, fuse_ino_t ino, size_t size,
			off_t off, struct fuse_file_info *fi)
{
	struct open_file *of = (struct open_file *)(uintptr_t)fi->fh;
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	if (of->owned) {
		virt_read(req, of, size, off);
		return;
	}
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

	if (of->fd >= 0)
		sat_cache_close_file(core_of(req)->cache, of->key);
	free(of->owned);
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

/* ---- Extended attributes: a file's state, and the control commands ---- */

#define XATTR_STATE "user.satfs.state"
#define XATTR_ERROR "user.satfs.error"
#define XATTR_SOURCE "user.satfs.source"
#define XATTR_REFRESH "user.satfs.refresh"
#define XATTR_CLEAR "user.satfs.clear_cache"

/* The value of attribute name of ino into buf (NUL-terminated, length
 * returned), or -ENODATA. Never blocks on the network. */
static int xattr_value(struct sat_core *core, fuse_ino_t ino,
		       const char *name, char *buf, size_t len)
{
	struct sat_render_plan *plan = NULL;
	struct sat_attr a;
	size_t off = 0;
	const char *json;
	size_t json_len;
	int i;

	/* ls -l asks for security.* and system.posix_acl_*: answer at once */
	if (strncmp(name, "user.satfs.", 11) != 0 || is_virt(ino) ||
	    sat_tree_getattr(core->tree, ino, &a) != 0)
		return -ENODATA;
	if (a.kind == SAT_NODE_TIF &&
	    sat_tree_file(core->tree, ino, &plan, &json, &json_len) != 0)
		return -ENODATA;
	if (strcmp(name, XATTR_STATE) == 0) {
		const char *st = "listed";

		if (plan)
			st = sat_status_file_state(core, plan);
		else if (a.kind == SAT_NODE_JSON)
			st = "cached"; /* it came with the listing */
		else if (a.kind == SAT_NODE_REGION &&
			 !sat_tree_ready(core->tree, ino))
			st = "remote";
		return snprintf(buf, len, "%s", st);
	}
	if (!plan)
		return -ENODATA;
	if (strcmp(name, XATTR_ERROR) == 0) {
		if (sat_jobs_last_error(core->jobs, plan->key, buf, len,
					NULL) != 0)
			return -ENODATA;
		return (int)strlen(buf);
	}
	if (strcmp(name, XATTR_SOURCE) == 0) {
		buf[0] = '\0';
		for (i = 0; i < plan->nbands && off < len; i++) {
			const char *h = plan->inputs[0].hrefs[i];

			/* no query string: signed URLs carry tokens there */
			off += (size_t)snprintf(buf + off, len - off, "%s%.*s",
						i ? " " : "",
						(int)strcspn(h, "?#"), h);
		}
		return (int)strlen(buf);
	}
	return -ENODATA;
}

static void reply_xattr_value(fuse_req_t req, const char *v, size_t len,
			      size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, v, len);
}

static void sat_ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			    size_t size)
{
	char buf[4096];
	int n;

	n = xattr_value(core_of(req), ino, name, buf, sizeof(buf));
	if (n < 0) {
		fuse_reply_err(req, -n);
		return;
	}
	if ((size_t)n >= sizeof(buf))
		n = (int)sizeof(buf) - 1;
	reply_xattr_value(req, buf, (size_t)n, size);
}

static void sat_ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	static const char *const names[] = { XATTR_STATE, XATTR_ERROR,
					     XATTR_SOURCE };
	struct sat_core *core = core_of(req);
	char list[256], val[4096];
	size_t off = 0, i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (xattr_value(core, ino, names[i], val, sizeof(val)) < 0)
			continue;
		memcpy(list + off, names[i], strlen(names[i]) + 1);
		off += strlen(names[i]) + 1;
	}
	reply_xattr_value(req, list, off, size);
}

/* Only the mount's owner (or root) may drive it, even with allow_other. */
static bool may_control(fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	return ctx->uid == 0 || ctx->uid == getuid();
}

static void clear_cache_work(void *payload)
{
	struct deferred *d = payload;
	uint64_t files, bytes;
	int err;

	err = sat_core_clear_cache(core_of(d->req), &files, &bytes);
	fuse_reply_err(d->req, -err);
	free(d);
}

/* Drops the listings of ino's region, or of every region for the root. */
static int refresh(struct sat_core *core, fuse_ino_t ino)
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
		sat_tree_refresh(core->tree, ents[i].attr.ino);
	sat_tree_dirents_free(ents, n);
	sat_info("refresh: every region");
	return 0;
}

static void sat_ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			    const char *value, size_t size, int flags)
{
	struct sat_core *core = core_of(req);

	if (strcmp(name, XATTR_REFRESH) != 0 &&
	    strcmp(name, XATTR_CLEAR) != 0) {
		fuse_reply_err(req, ENOTSUP);
		return;
	}
	if (!may_control(req)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (is_virt(ino)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (strcmp(name, XATTR_REFRESH) == 0) {
		fuse_reply_err(req, -refresh(core, ino));
		return;
	}
	if (ino != SAT_TREE_ROOT_INO) {
		fuse_reply_err(req, EINVAL); /* the cache is the mount's */
		return;
	}
	/* many unlinks: not on a FUSE thread */
	defer(req, clear_cache_work, deferred_new(req, ino, NULL, NULL));
}

static void sat_ll_removexattr(fuse_req_t req, fuse_ino_t ino,
			       const char *name)
{
	fuse_reply_err(req, EROFS);
}

/* access(2): nothing here is writable (the mount is not "ro", see the top
 * of the file). */
static void sat_ll_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	fuse_reply_err(req, (mask & W_OK) ? EROFS : 0);
}

/* ---- Everything that would change the tree: EROFS ---- */

static void sat_ll_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
			 mode_t mode)
{
	fuse_reply_err(req, EROFS);
}

static void sat_ll_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
			 mode_t mode, dev_t rdev)
{
	fuse_reply_err(req, EROFS);
}

static void sat_ll_create(fuse_req_t req, fuse_ino_t parent, const char *name,
			  mode_t mode, struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}

static void sat_ll_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, EROFS);
}

static void sat_ll_symlink(fuse_req_t req, const char *link,
			   fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, EROFS);
}

static void sat_ll_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
			  fuse_ino_t newparent, const char *newname,
			  unsigned int flags)
{
	fuse_reply_err(req, EROFS);
}

static void sat_ll_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
			const char *newname)
{
	fuse_reply_err(req, EROFS);
}

static void sat_ll_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			   int to_set, struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}

/* Reads are served from cached files (sat_ll_read): let libfuse splice
 * them from the cache fd into /dev/fuse instead of copying each request
 * through a buffer (docs/BENCHMARKS.md, warm reads). */
static void sat_ll_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	if (conn->capable & FUSE_CAP_SPLICE_MOVE)
		conn->want |= FUSE_CAP_SPLICE_MOVE;
}

static const struct fuse_lowlevel_ops sat_ll_ops = {
	.init = sat_ll_init,
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
	.getxattr = sat_ll_getxattr,
	.listxattr = sat_ll_listxattr,
	.setxattr = sat_ll_setxattr,
	.removexattr = sat_ll_removexattr,
	.access = sat_ll_access,
	.mkdir = sat_ll_mkdir,
	.mknod = sat_ll_mknod,
	.create = sat_ll_create,
	.unlink = sat_ll_unlink,
	.rmdir = sat_ll_unlink,
	.symlink = sat_ll_symlink,
	.rename = sat_ll_rename,
	.link = sat_ll_link,
	.setattr = sat_ll_setattr,
};

int sat_fuse_run(struct fuse_args *args, const struct sat_config *cfg,
		 const struct sat_fuse_opts *o)
{
	struct session_data sd = { .dirs_lock = PTHREAD_MUTEX_INITIALIZER };
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
	core->mountpoint = o->mountpoint;
	sd.core = core; /* before the loop: no request was read yet */
	{
		char ubuf[512]; /* the URL may carry a token or userinfo */

		sat_info("mounted on %s (catalog %s, cache %s)", o->mountpoint,
			 sat_log_url(strcmp(core->source->ops->type, "stac")
					     ? cfg->ee_url : cfg->stac_url,
				     ubuf, sizeof(ubuf)),
			 cfg->cache_dir);
	}

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
	while (sd.dirs) {
		struct open_dir *od = sd.dirs;

		sd.dirs = od->next;
		open_dir_free(NULL, od);
	}
	return ret;
}
