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

/* A request answered later, with its file info when it has one. */
struct later {
	fuse_req_t req;       /* gone once an interrupt answered it */
	struct sat_core *core;
	struct fuse_file_info fi;
	size_t size;          /* getxattr: the caller's buffer */
	pid_t pid;            /* the caller (a thread id) */
	pthread_mutex_t lock;
	bool claimed;         /* protected by lock: answered, or interrupted */
	struct later *wnext;  /* protected by watch.lock */
	bool watched;         /* protected by watch.lock */
};

/* Is the caller being killed: a signal pending that it neither catches
 * nor ignores and whose default action ends it (SIGKILL always), or gone
 * already? From /proc/PID/status. A benign signal (SIGCHLD to a shell, a
 * SIGINT a program handles) is not: answering EINTR then would fail its
 * opendir or open, which programs do not retry. */
static bool caller_dying(pid_t pid)
{
	/* signals whose default action is not to end the process */
	const uint64_t benign = (1ull << (SIGCHLD - 1)) |
				(1ull << (SIGCONT - 1)) |
				(1ull << (SIGSTOP - 1)) |
				(1ull << (SIGTSTP - 1)) |
				(1ull << (SIGTTIN - 1)) |
				(1ull << (SIGTTOU - 1)) |
				(1ull << (SIGURG - 1)) |
				(1ull << (SIGWINCH - 1));
	uint64_t pnd = 0, shd = 0, ign = 0, cgt = 0, v;
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	f = fopen(path, "re");
	if (!f)
		return true;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "SigPnd: %" SCNx64, &v) == 1)
			pnd = v;
		else if (sscanf(line, "ShdPnd: %" SCNx64, &v) == 1)
			shd = v;
		else if (sscanf(line, "SigIgn: %" SCNx64, &v) == 1)
			ign = v;
		else if (sscanf(line, "SigCgt: %" SCNx64, &v) == 1)
			cgt = v;
	}
	fclose(f);
	pnd |= shd;
	if (pnd & (1ull << (SIGKILL - 1)))
		return true;
	return (pnd & ~ign & ~cgt & ~benign) != 0;
}

/* Requests interrupted by a signal that did not kill their caller (yet):
 * the kernel sends one INTERRUPT per request, so a kill -9 that comes
 * later would find nobody listening. A thread looks at their callers a
 * few times a second while there are any. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct later *head; /* protected by lock */
	bool started;       /* protected by lock */
} watch = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL,
	    false };

#define WATCH_PERIOD_MS 100

/* Claims l (for an answer, or an EINTR); true when it was not claimed
 * yet. */
static bool later_take(struct later *l)
{
	bool mine;

	pthread_mutex_lock(&l->lock);
	mine = !l->claimed;
	l->claimed = true;
	pthread_mutex_unlock(&l->lock);
	return mine;
}

static void *watch_main(void *arg)
{
	struct timespec ts;
	struct later **pp, *l;

	(void)arg;
	pthread_mutex_lock(&watch.lock);
	for (;;) {
		while (!watch.head)
			pthread_cond_wait(&watch.cond, &watch.lock);
		for (pp = &watch.head; (l = *pp);) {
			if (!caller_dying(l->pid)) {
				pp = &l->wnext;
				continue;
			}
			*pp = l->wnext;
			l->watched = false;
			/* the answer may not have come: then it is ours (the
			 * answer's later_free waits for watch.lock) */
			if (later_take(l))
				fuse_reply_err(l->req, EINTR);
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += WATCH_PERIOD_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&watch.cond, &watch.lock, &ts);
	}
	return NULL;
}

/* The kernel's INTERRUPT, on a libfuse thread holding the request's lock:
 * EINTR now if the caller is being killed (and the answer did not go
 * first), else watched until it is, or until the answer goes. */
static void later_interrupted(fuse_req_t req, void *data)
{
	struct later *l = data;
	pthread_t t;

	if (caller_dying(l->pid)) {
		if (later_take(l))
			fuse_reply_err(req, EINTR);
		return;
	}
	pthread_mutex_lock(&watch.lock);
	if (!watch.started &&
	    pthread_create(&t, NULL, watch_main, NULL) == 0) {
		pthread_detach(t);
		watch.started = true;
	}
	if (!l->watched) {
		l->watched = true;
		l->wnext = watch.head;
		watch.head = l;
		pthread_cond_signal(&watch.cond);
	}
	pthread_mutex_unlock(&watch.lock);
}

static struct later *later_new(fuse_req_t req, struct fuse_file_info *fi)
{
	struct later *l = calloc(1, sizeof(*l));

	if (!l) {
		fuse_reply_err(req, ENOMEM);
		return NULL;
	}
	l->req = req;
	l->core = core_of(req);
	l->pid = fuse_req_ctx(req)->pid;
	if (fi)
		l->fi = *fi;
	pthread_mutex_init(&l->lock, NULL);
	/* may call later_interrupted() at once, when the caller was
	 * signalled already */
	fuse_req_interrupt_func(req, later_interrupted, l);
	return l;
}

/* The answer is ready: may it be given? Then the request is the caller's
 * to reply to; else an interrupt answered it, and the caller undoes its
 * work and replies nothing. Either way l is the caller's to free. */
static bool later_claim(struct later *l)
{
	bool mine = later_take(l);

	/* unregistering takes the request's lock, which an interrupt
	 * callback in progress holds: none runs after this, and none will
	 * use l again */
	if (mine)
		fuse_req_interrupt_func(l->req, NULL, NULL);
	return mine;
}

static void later_free(struct later *l)
{
	struct later **pp;

	pthread_mutex_lock(&watch.lock);
	if (l->watched)
		for (pp = &watch.head; *pp; pp = &(*pp)->wnext)
			if (*pp == l) {
				*pp = l->wnext;
				break;
			}
	pthread_mutex_unlock(&watch.lock);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

static void entry_done(int err, const struct sat_attr *a, void *payload)
{
	struct later *l = payload;
	fuse_req_t req = l->req;
	struct sat_core *core = l->core;
	struct fuse_entry_param e;

	if (!later_claim(l)) {
		if (!err)
			sat_core_forget(core, a->ino, 1); /* never delivered */
		later_free(l);
		return;
	}
	later_free(l);
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
	struct later *l = later_new(req, NULL);

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

	if (!later_claim(l)) {
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
	later_free(l);
}

static void sat_ll_opendir(fuse_req_t req, fuse_ino_t ino,
			   struct fuse_file_info *fi)
{
	struct later *l = later_new(req, fi);

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

	if (!later_claim(l)) {
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
	later_free(l);
}

static void sat_ll_open(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct later *l = later_new(req, fi);

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

	if (later_claim(l)) {
		if (n < 0)
			fuse_reply_err(l->req, -n);
		else
			reply_xattr_value(l->req, value, (size_t)n, l->size);
	}
	later_free(l);
}

static void sat_ll_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			    size_t size)
{
	struct later *l = later_new(req, NULL);

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

/* ---- Start-up: everything checked before the parent goes ---- */

/* The daemon's parent waits, holding the user's terminal, until the child
 * says the mount is up (a 0 byte on the pipe) or failed (its exit status
 * as a byte, after the message on stderr); a child that dies without a
 * word is waited for. So `satfs DIR` exits 0 only when DIR is mounted,
 * and otherwise with the child's status and its message on stderr.
 * Returns, in the child, the pipe's write end; never returns in the
 * parent; -1 (the message printed) when it cannot fork. */
static int detach(void)
{
	unsigned char b;
	int p[2], st;
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) != 0) {
		fprintf(stderr, "satfs: pipe: %s\n", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "satfs: fork: %s\n", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		if (setsid() < 0)
			sat_debug("setsid: %s", strerror(errno));
		return p[1];
	}
	close(p[1]);
	do
		n = read(p[0], &b, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1)
		_exit(b);
	/* it died before saying anything */
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
		_exit(WEXITSTATUS(st));
	fprintf(stderr, "satfs: the daemon ended before the mount was up%s\n",
		WIFSIGNALED(st) ? " (killed by a signal)" : "");
	_exit(1);
}

/* The child tells its parent (status 0: mounted) and lets go of the
 * terminal. */
static void report(int *fd, int status)
{
	unsigned char b = (unsigned char)status;
	int null;

	if (*fd < 0)
		return;
	if (status == 0) {
		/* as fuse_daemonize(): the daemon keeps no terminal */
		if (chdir("/") != 0)
			sat_debug("chdir /: %s", strerror(errno));
		null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			if (null > 2)
				close(null);
		}
	}
	if (write(*fd, &b, 1) != 1)
		sat_debug("cannot report to the parent: %s", strerror(errno));
	close(*fd);
	*fd = -1;
}

/* "\040" and friends in /proc/self/mountinfo, in place. */
static void unescape_octal(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
				      (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

/* Is the absolute path dir the mount point of a satfs mount? From
 * /proc/self/mountinfo, without touching dir (a satfs that hangs would
 * hang a stat). */
static bool is_satfs_mount(const char *dir)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[8192], *mp, *sep, *type;
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT ... - TYPE SOURCE ... */
		char *save = NULL, *tok = strtok_r(line, " ", &save);

		for (int i = 0; tok && i < 4; i++)
			tok = strtok_r(NULL, " ", &save);
		if (!tok)
			continue;
		mp = tok;
		sep = strstr(save ? save : "", " - ");
		if (!sep)
			continue;
		type = strtok_r(sep + 3, " ", &save);
		unescape_octal(mp);
		found = type && strcmp(type, "fuse.satfs") == 0 &&
			strcmp(mp, dir) == 0;
	}
	fclose(f);
	return found;
}

/* The mount point must be a directory, and not a satfs mount already
 * (mounting again would stack a second satfs over the first). 0, or 1
 * with the message logged. */
static int check_mountpoint(const char *mnt)
{
	char parent[PATH_MAX], abs[PATH_MAX], *slash, *copy;
	const char *base;
	struct stat st;

	copy = strdup(mnt);
	if (!copy)
		return 1;
	/* the parent resolved, the last name as given: realpath() of the
	 * mount point itself would stat it */
	slash = strrchr(copy, '/');
	while (slash && slash > copy && slash[1] == '\0') {
		*slash = '\0';
		slash = strrchr(copy, '/');
	}
	base = slash ? slash + 1 : copy;
	if (slash)
		*slash = '\0';
	if (!realpath(slash ? (copy[0] ? copy : "/") : ".", parent)) {
		sat_error("mount point %s: %s", mnt, strerror(errno));
		free(copy);
		return 1;
	}
	snprintf(abs, sizeof(abs), "%s%s%s", parent,
		 strcmp(parent, "/") ? "/" : "", base);
	free(copy);
	if (is_satfs_mount(abs)) {
		sat_error("mount point %s is a satfs mount already (unmount it "
			  "first: fusermount3 -u %s)", mnt, mnt);
		return 1;
	}
	if (stat(mnt, &st) != 0) {
		sat_error("mount point %s: %s", mnt, strerror(errno));
		return 1;
	}
	if (!S_ISDIR(st.st_mode)) {
		sat_error("mount point %s is not a directory", mnt);
		return 1;
	}
	return 0;
}

/* A catalog that cannot be reached at mount time is worth a warning, not
 * a refusal: the cache serves what it has (offline use is valid). */
static void probe_catalog(struct sat_core *core, const struct sat_config *cfg)
{
	const struct sat_source_ops *ops = core->source->ops;
	char why[1024];
	int ms = cfg->timeout_s < 5 ? cfg->timeout_s * 1000 : 5000;

	if (cfg->offline || !ops->probe)
		return;
	if (ops->probe(core->source, ms, why, sizeof(why)) != 0)
		sat_warn("the catalog cannot be reached now (%s); listings "
			 "fail until it can, and what the cache holds is "
			 "served", why);
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
		parent = detach();
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
	if (check_mountpoint(o->mountpoint))
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
	probe_catalog(core, cfg);
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
		report(&parent, 0);
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
	report(&parent, ret);
	return ret;
}
