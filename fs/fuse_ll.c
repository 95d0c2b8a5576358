/*
 * fuse_ll: the FUSE operations. Each one translates the request, calls
 * the core (include/satfs/core.h, where the policy lives) and translates
 * the answer back.
 *
 * Threading: libfuse's multi-threaded loop calls these on its threads.
 * None of them waits on the network: the core answers a lookup, opendir or
 * open through a callback, at once or later from one of its workers, and
 * the reply goes out from there.
 *
 * Interrupts: a request answered later (lookup, opendir, open, getxattr)
 * is a `struct later`, which registers with libfuse for the kernel's
 * INTERRUPT (sent when the caller gets a signal, SIGKILL included). The
 * first of the interrupt and the answer claims the request: an interrupt
 * whose caller is being killed replies EINTR at once, so a killed `ls` is
 * gone without waiting for the catalog (the kernel would hold it in D
 * state until our answer); one from a benign signal (SIGCHLD to a shell)
 * is not answered, but its caller is watched until it is killed or the
 * answer comes (caller_dying(), watch_main()); the
 * answer, coming later, then undoes what it did (a lookup count, an open
 * handle) and replies nothing. The work itself goes on: it is shared
 * (a listing, a render) and what it makes is kept.
 *
 * Lookup counts: every entry the kernel is given (a lookup's answer, each
 * readdirplus entry) counts one lookup of its node in the core, matched by
 * the kernel's forget; an answer that cannot be delivered is forgotten
 * here at once.
 *
 * Extended attributes show a file's state; setting user.satfs.refresh or
 * user.satfs.clear_cache is how `satfs refresh` and `satfs cache --clear`
 * talk to the daemon. That is why the mount is not "ro" (the kernel
 * refuses setxattr there): every operation that would change something
 * answers EROFS here instead (rmdir of an ad-hoc region aside: it forgets
 * the region).
 */
#define FUSE_USE_VERSION 312

#include "fuse_ll.h"
#include "daemon.h"
#include "fuse_later.h"
#include "satfs/config.h"
#include "satfs/core.h"
#include "satfs/fetch.h"
#include "satfs/log.h"
#include "satfs/source.h"
#include "satfs/tree.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ATTR_TIMEOUT_S 60.0
#define NEGATIVE_TIMEOUT_S 60.0

/* The session's userdata: the core only exists once the mount is up and
 * the process has daemonised, after the session was created. */
struct session_data {
	struct sat_core *core;
	struct fuse_session *se;
};

static struct sat_core *core_of(fuse_req_t req)
{
	return ((struct session_data *)fuse_req_userdata(req))->core;
}

static void fill_stat(const struct sat_attr *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = a->ino;
	if (sat_node_is_dir(a->kind)) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
	}
	st->st_size = (off_t)a->size;
	st->st_blocks = (blkcnt_t)((a->size + 511) / 512);
	st->st_blksize = 65536;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_mtime = st->st_ctime = st->st_atime = a->mtime;
}

static void entry_param(const struct sat_attr *a, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = a->ino;
	e->attr_timeout = ATTR_TIMEOUT_S;
	e->entry_timeout = ATTR_TIMEOUT_S;
	fill_stat(a, &e->attr);
}

static void entry_done(int err, const struct sat_attr *a, void *payload)
{
	struct later *l = payload;
	fuse_req_t req = l->req;
	struct sat_core *core = l->core;
	struct fuse_entry_param e;

	if (!sat_later_claim(l)) {
		if (!err)
			sat_core_forget(core, a->ino, 1); /* never delivered */
		sat_later_free(l);
		return;
	}
	sat_later_free(l);
	if (err == -ENOENT) {
		/* ino 0: a negative entry the kernel caches, so probes such
		 * as .Trash are answered without coming back here */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = NEGATIVE_TIMEOUT_S;
		fuse_reply_entry(req, &e);
		return;
	}
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	entry_param(a, &e);
	if (fuse_reply_entry(req, &e) != 0)
		sat_core_forget(core, a->ino, 1); /* never reached the kernel */
}

static void sat_ll_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct later *l = sat_later_new(req, NULL, core_of(req));

	if (l)
		sat_core_lookup(l->core, parent, name, entry_done, l);
}

static void sat_ll_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	sat_core_forget(core_of(req), ino, nlookup);
	fuse_reply_none(req);
}

static void sat_ll_forget_multi(fuse_req_t req, size_t count,
				struct fuse_forget_data *forgets)
{
	struct sat_core *core = core_of(req);

	for (size_t i = 0; i < count; i++)
		sat_core_forget(core, forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void sat_ll_getattr(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	struct sat_attr a;
	struct stat st;
	int err;

	err = sat_core_getattr(core_of(req), ino, &a);
	if (err) {
		fuse_reply_err(req, -err);
		return;
	}
	fill_stat(&a, &st);
	fuse_reply_attr(req, &st, ATTR_TIMEOUT_S);
}

static void opendir_done(int err, struct sat_dir *d, void *payload)
{
	struct later *l = payload;
	struct sat_core *core = l->core;

	if (!sat_later_claim(l)) {
		if (!err)
			sat_core_releasedir(core, d);
	} else if (err) {
		fuse_reply_err(l->req, -err);
	} else {
		l->fi.fh = (uint64_t)(uintptr_t)d;
		l->fi.cache_readdir = 1;
		if (fuse_reply_open(l->req, &l->fi) != 0)
			sat_core_releasedir(core, d); /* no release will come */
	}
	sat_later_free(l);
}

static void sat_ll_opendir(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	struct later *l = sat_later_new(req, fi, core_of(req));

	if (l)
		sat_core_opendir(l->core, ino, opendir_done, l);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi, bool plus)
{
	struct sat_dir *d = (struct sat_dir *)(uintptr_t)fi->fh;
	struct sat_core *core = core_of(req);
	char *buf = malloc(size), *p;
	size_t left = size, used, counted = 0;
	uint64_t *inos = plus ? calloc(d->n + 1, sizeof(*inos)) : NULL;
	off_t i;

	if (!buf || (plus && !inos)) {
		free(buf);
		free(inos);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	p = buf;
	/* offsets: 0 '.', 1 '..', 2.. the entries */
	for (i = off; i < (off_t)d->n + 2; i++) {
		struct sat_attr self = { .ino = ino, .kind = SAT_NODE_ROOT };
		const struct sat_attr *a = i < 2 ? &self : &d->ents[i - 2].attr;
		const char *name = i == 0 ? "." : i == 1 ? ".." :
				   d->ents[i - 2].name;
		struct fuse_entry_param e;

		if (!plus) {
			fill_stat(a, &e.attr);
			used = fuse_add_direntry(req, p, left, name, &e.attr,
						 i + 1);
		} else {
			entry_param(a, &e);
			/* the kernel counts a lookup for the entries, not for
			 * . and ..; an entry gone meanwhile goes without
			 * attributes (ino 0), which it does not count */
			if (i < 2 || sat_core_count_lookup(core, a->ino) != 0)
				e.ino = 0;
			e.attr.st_ino = a->ino;
			used = fuse_add_direntry_plus(req, p, left, name, &e,
						      i + 1);
			if (used > left && e.ino)
				sat_core_forget(core, e.ino, 1);
			else if (e.ino)
				inos[counted++] = e.ino;
		}
		if (used > left)
			break;
		p += used;
		left -= used;
	}
	if (fuse_reply_buf(req, buf, size - left) != 0)
		for (size_t k = 0; k < counted; k++)
			sat_core_forget(core, inos[k], 1);
	free(inos);
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
	sat_core_releasedir(core_of(req), (struct sat_dir *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void open_done(int err, struct sat_file *f, void *payload)
{
	struct later *l = payload;
	struct sat_core *core = l->core;

	if (!sat_later_claim(l)) {
		if (!err)
			sat_core_release(core, f);
	} else if (err) {
		fuse_reply_err(l->req, -err);
	} else {
		l->fi.fh = (uint64_t)(uintptr_t)f;
		l->fi.keep_cache = f->keep_cache;
		l->fi.direct_io = f->direct_io;
		if (fuse_reply_open(l->req, &l->fi) != 0)
			sat_core_release(core, f); /* interrupted */
	}
	sat_later_free(l);
}

static void sat_ll_open(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct later *l = sat_later_new(req, fi, core_of(req));

	if (l)
		sat_core_open(l->core, ino, fi->flags, open_done, l);
}

static void sat_ll_read(fuse_req_t req, fuse_ino_t ino, size_t size,
			off_t off, struct fuse_file_info *fi)
{
	struct sat_file *f = (struct sat_file *)(uintptr_t)fi->fh;
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
	size_t n;
	char *copy;

	if (f->fd >= 0) {
		/* from the cached file without copying it through us */
		buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		buf.buf[0].fd = f->fd;
		buf.buf[0].pos = off;
		fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
		return;
	}
	/* Bytes in memory go out from a copy: the reader may close the
	 * file, and our release free them, before fuse_reply_buf() has
	 * returned (the kernel completes the read inside its writev). */
	n = (size_t)off < f->len ? f->len - (size_t)off : 0;
	if (n > size)
		n = size;
	copy = malloc(n + 1);
	if (!copy) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	memcpy(copy, f->data + (n ? off : 0), n);
	fuse_reply_buf(req, copy, n);
	free(copy);
}

static void sat_ll_release(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	sat_core_release(core_of(req), (struct sat_file *)(uintptr_t)fi->fh);
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

/* ---- Extended attributes ---- */

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

static void getxattr_done(int n, const char *value, void *payload)
{
	struct later *l = payload;

	if (sat_later_claim(l)) {
		if (n < 0)
			fuse_reply_err(l->req, -n);
		else
			reply_xattr_value(l->req, value, (size_t)n, l->size);
	}
	sat_later_free(l);
}

static void sat_ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			    size_t size)
{
	struct later *l = sat_later_new(req, NULL, core_of(req));

	if (!l)
		return;
	l->size = size;
	sat_core_getxattr_async(l->core, ino, name, getxattr_done, l);
}

static void sat_ll_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	char list[256];
	size_t n = sat_core_listxattr(core_of(req), ino, list, sizeof(list));

	reply_xattr_value(req, list, n, size);
}

static void setxattr_done(int err, void *payload)
{
	fuse_reply_err(payload, -err);
}

static void sat_ll_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			    const char *value, size_t size, int flags)
{
	sat_core_setxattr(core_of(req), ino, name, fuse_req_ctx(req)->uid,
			  setxattr_done, req);
}

static void sat_ll_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, -sat_core_rmdir(core_of(req), parent, name,
					    fuse_req_ctx(req)->uid));
}

/* access(2): nothing here is writable (the mount is not "ro", see the top
 * of the file), and no file executable (its mode says 0444: a test -x
 * must say no too); directories are searchable. */
static void sat_ll_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct sat_attr a;

	if (mask & W_OK) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if ((mask & X_OK) && (sat_core_getattr(core_of(req), ino, &a) != 0 ||
			      !sat_node_is_dir(a.kind))) {
		fuse_reply_err(req, EACCES);
		return;
	}
	fuse_reply_err(req, 0);
}

/* ---- Everything else that would change the tree: EROFS ---- */

static void sat_ll_removexattr(fuse_req_t req, fuse_ino_t ino,
			       const char *name)
{
	fuse_reply_err(req, EROFS);
}

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
	.forget = sat_ll_forget,
	.forget_multi = sat_ll_forget_multi,
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
	.rmdir = sat_ll_rmdir,
	.symlink = sat_ll_symlink,
	.rename = sat_ll_rename,
	.link = sat_ll_link,
	.setattr = sat_ll_setattr,
};

/* The core forgot an ad-hoc region: the kernel drops its entry too. */
static void inval_entry(uint64_t parent, const char *name, void *payload)
{
	struct session_data *sd = payload;
	int err = fuse_lowlevel_notify_inval_entry(sd->se, parent, name,
						   strlen(name));

	if (err && err != -ENOENT)
		sat_debug("cannot invalidate %s: %s", name, strerror(-err));
}

int sat_fuse_run(struct fuse_args *args, const struct sat_config *cfg,
		 const struct sat_fuse_opts *o)
{
	struct session_data sd = { NULL, NULL };
	struct fuse_loop_config *lc = NULL;
	struct sat_core *core = NULL;
	struct fuse_session *se = NULL;
	int ret = 1, err, parent = -1;

	if (!o->foreground) {
		parent = sat_daemon_detach();
		if (parent < 0)
			return 1;
		/* until the mount is up, the user watches stderr */
		sat_log_echo_stderr(true);
	}
	/* everything that can be checked, before the mount: the cache (made
	 * and locked), the source and its credentials, the mount point */
	err = sat_core_new(&core, cfg);
	if (err)
		goto out_report;
	if (sat_daemon_check_mountpoint(o->mountpoint))
		goto out_core;
	se = fuse_session_new(args, &sat_ll_ops, sizeof(sat_ll_ops), &sd);
	if (!se)
		goto out_core;
	sd.se = se;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_destroy;
	if (fuse_session_mount(se, o->mountpoint) != 0)
		goto out_signals;
	core->mountpoint = o->mountpoint;
	core->inval = inval_entry;
	core->inval_payload = &sd;
	sd.core = core; /* before the loop: no request was read yet */
	sat_daemon_probe_catalog(core, cfg);
	{
		char ubuf[512]; /* the URL may carry a token or userinfo */

		sat_info("mounted on %s (catalog %s, cache %s)", o->mountpoint,
			 sat_log_url(strcmp(core->source->ops->type, "stac")
					     ? cfg->ee_url : cfg->stac_url,
				     ubuf, sizeof(ubuf)),
			 cfg->cache_dir);
	}
	if (parent >= 0) {
		sat_log_echo_stderr(false);
		if (!cfg->log_path)
			sat_log_setup((enum sat_log_level)cfg->log_level, NULL,
				      1);
		sat_daemon_report(&parent, 0);
	}

	if (o->singlethread) {
		ret = fuse_session_loop(se);
	} else {
		lc = fuse_loop_cfg_create();
		if (!lc)
			goto out_unmount;
		/* enough threads that a burst of opens (each answered later
		 * by its render) never starves ls and stat */
		fuse_loop_cfg_set_max_threads(lc, 64);
		if (o->max_idle_threads > 0)
			fuse_loop_cfg_set_idle_threads(
				lc, (unsigned)o->max_idle_threads);
		ret = fuse_session_loop_mt(se, lc);
		fuse_loop_cfg_destroy(lc);
	}
	/* libfuse returns the signal that ended the loop: SIGTERM (systemd
	 * stopping us), SIGINT or SIGHUP is a clean end, as an unmount is */
	ret = ret == 0 || ret == SIGTERM || ret == SIGINT || ret == SIGHUP
		      ? 0 : 1;
	/* SIGTERM or an unmount: what is in flight is cancelled rather
	 * than waited for (a stalled server would hold the exit for
	 * minutes), and the requests still waiting get their error from the
	 * workers as they finish, while the session can still take it */
	sat_fetch_cancel(core->fetch);
	sat_core_free(core);
	core = NULL;
	sat_info("unmounted %s", o->mountpoint);
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_destroy:
	fuse_session_destroy(se);
out_core:
	sat_core_free(core);
out_report:
	sat_daemon_report(&parent, ret);
	return ret;
}
