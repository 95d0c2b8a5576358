/*
 * core: the daemon's parts, wired together once the mount is up (after
 * daemonising, since threads do not survive fork()), and the file
 * system's operations as the FUSE layer (fs/fuse_ll.c) asks for them, in
 * FUSE's terms but without FUSE: the policy lives here, the FUSE layer
 * only translates.
 *
 * No operation waits on the network. Those that may need it (lookup,
 * opendir, open) take a done callback, called exactly once: before the
 * call returns when the answer is at hand, else later from a worker thread
 * (the work queue for the catalog, a render worker for opens). Errors are
 * -errno, for the FUSE layer to negate.
 *
 * Files (core.c: lifecycle, names, directories; core_open.c: opening and
 * reading files; core_xattr.c: extended attributes, control commands).
 * Thread-safe.
 */
#ifndef SATFS_CORE_H
#define SATFS_CORE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct sat_attr;
struct sat_config;
struct sat_dirent;
struct sat_listing;
struct sat_render_plan;

/* Tells the kernel to drop name in directory parent (an ad-hoc region
 * pushed out by the cap). Called from a worker thread, never while the
 * kernel waits on a request in parent. */
typedef void (*sat_core_inval_fn)(uint64_t parent, const char *name,
				  void *payload);

struct sat_core {
	const struct sat_config *cfg;
	struct sat_fetch *fetch;
	struct sat_cache *cache;
	struct sat_source *source; /* scenes and pixels: STAC or Earth Engine */
	struct sat_catalog *catalog;
	struct sat_regioncloud *clouds; /* region cloud covers */
	struct sat_jobs *jobs;
	struct sat_tree *tree;
	struct sat_workq *workq;  /* blocking work submitted by FUSE threads */
	struct sat_shared *shared; /* the shared store, or NULL */
	char shared_why[320];     /* configured but not used: why */
	time_t started;           /* for the status file */
	const char *mountpoint;   /* set by the FUSE layer; may be NULL */
	sat_core_inval_fn inval;  /* set by the FUSE layer; may be NULL */
	void *inval_payload;
	/* Open files and directories, freed by sat_core_free() when the
	 * kernel left them open (a lazy unmount sends no release). */
	pthread_mutex_t open_lock;
	struct sat_handle *handles; /* protected by open_lock */
};

/* Opens the cache and starts the fetch engine, the render workers and the
 * work queue. Returns 0 or -errno (logged). */
int sat_core_new(struct sat_core **out, const struct sat_config *cfg);
/* Stops every thread and frees everything, open handles included.
 * Accepts NULL. */
void sat_core_free(struct sat_core *core);

/* satfs cache --clear: removes the rendered files nobody has open and the
 * cached headers (sat_cache_clear_files), and drops what the source keeps
 * in memory, so that what comes next is read from the network again.
 * Disk I/O: not on a FUSE thread. 0 or -errno. */
int sat_core_clear_cache(struct sat_core *core, uint64_t *files,
			 uint64_t *bytes);

/* ---- names (core.c) ---- */

int sat_core_getattr(struct sat_core *core, uint64_t ino,
		     struct sat_attr *out);

/* a is NULL on error. On success the kernel's lookup count of a->ino went
 * up by one: when the answer cannot be delivered, sat_core_forget(a->ino,
 * 1). */
typedef void (*sat_core_entry_fn)(int err, const struct sat_attr *a,
				  void *payload);
void sat_core_lookup(struct sat_core *core, uint64_t parent, const char *name,
		     sat_core_entry_fn done, void *payload);
/* One more kernel lookup of ino (a readdirplus entry); -ENOENT if gone. */
int sat_core_count_lookup(struct sat_core *core, uint64_t ino);
/* The kernel forgot nlookup lookups of ino. */
void sat_core_forget(struct sat_core *core, uint64_t ino, uint64_t nlookup);

/* rmdir in the root forgets an ad-hoc region; uid is the caller's (only
 * the mount's owner or root may). 0, -EROFS (anything else: the mount is
 * read-only), -EPERM, -ENOENT. */
int sat_core_rmdir(struct sat_core *core, uint64_t parent, const char *name,
		   uid_t uid);

/* An open directory: a snapshot of its entries. */
struct sat_dir {
	struct sat_dirent *ents;
	size_t n;
	uint64_t ino;
};
typedef void (*sat_core_dir_fn)(int err, struct sat_dir *d, void *payload);
void sat_core_opendir(struct sat_core *core, uint64_t ino,
		      sat_core_dir_fn done, void *payload);
void sat_core_releasedir(struct sat_core *core, struct sat_dir *d);

/* ---- files (core_open.c) ---- */

/* An open file: read `fd` (a cached rendered file, shared by every open of
 * it: pread at explicit offsets, never close it) or, when fd < 0, the
 * `len` bytes at `data`. */
struct sat_file {
	int fd;
	const char *data;
	size_t len;
	bool keep_cache;  /* the bytes never change while the file lives */
	bool direct_io;   /* the size was not known at stat (status files) */
};
/* f is NULL on error: -EROFS (not read-only), -EISDIR, -ENOENT, -EIO (the
 * render failed; its cause is in user.satfs.error and the log), -ENOSPC,
 * -ENOMEM. */
typedef void (*sat_core_open_fn)(int err, struct sat_file *f, void *payload);
/* Opens ino: a status file is made now, an item's JSON is at hand, a
 * .tif is rendered unless cached (joining a render in flight), and the
 * next scenes' renders are queued as prefetch. */
void sat_core_open(struct sat_core *core, uint64_t ino, int flags,
		   sat_core_open_fn done, void *payload);
void sat_core_release(struct sat_core *core, struct sat_file *f);

/* ---- extended attributes and control (core_xattr.c) ---- */

/* The value of attribute name of ino into buf (NUL-terminated); returns
 * its length, or -ENODATA. Never blocks on the network. */
int sat_core_getxattr(struct sat_core *core, uint64_t ino, const char *name,
		      char *buf, size_t len);
/* As sat_core_getxattr(), answering through done (at once, or from the
 * work queue when a value needs counting first: user.satfs.cloud reads
 * SCL). done gets the value's length and the value, or -errno and NULL. */
typedef void (*sat_core_xattr_fn)(int len, const char *value, void *payload);
void sat_core_getxattr_async(struct sat_core *core, uint64_t ino,
			     const char *name, sat_core_xattr_fn done,
			     void *payload);
/* The names of ino's attributes, each NUL-terminated, into buf; returns
 * the length used (an attribute not counted yet is listed). */
size_t sat_core_listxattr(struct sat_core *core, uint64_t ino, char *buf,
			  size_t len);
/* Setting user.satfs.refresh (any node in a region, or the root: every
 * region) or user.satfs.clear_cache (the root) runs that command; done
 * gets 0 or -ENOTSUP (another name: nothing else can be set), -EPERM (not
 * the mount's owner or root), -EINVAL. */
typedef void (*sat_core_done_fn)(int err, void *payload);
void sat_core_setxattr(struct sat_core *core, uint64_t ino, const char *name,
		       uid_t uid, sat_core_done_fn done, void *payload);

/* May uid drive the mount (its owner, or root)? */
bool sat_core_may_control(uid_t uid);

#endif
