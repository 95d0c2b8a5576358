/*
 * tree: the namespace the user sees, without FUSE (docs/ARCHITECTURE.md,
 * "The listing path").
 *
 *   /                         regions: configured, and ad-hoc ones looked up
 *   /.satfs/                  the status files (include/satfs/control.h)
 *   /<region>/                one directory per UTC acquisition date
 *   /<region>/<date>/         <item>.<product>.tif and <item>.json, and
 *                             mosaic.<product>.tif when the date has
 *                             several scenes
 *
 * Inode numbers: a node gets one when first made and keeps it for as long
 * as it lives; a relisting reuses the node (so the number) of every name
 * it still shows. A number is never given twice in the life of the tree.
 *
 * Lifetime: the kernel's lookup counts decide. sat_tree_lookup() and
 * sat_tree_count_lookup() add one; sat_tree_forget() takes them back. A
 * node that no listing shows any more (a relisting dropped its name, an
 * ad-hoc region was forgotten) is freed, with its plan and its share of
 * the listing, once the kernel has forgotten it. The root, .satfs and the
 * configured regions stay.
 *
 * Ad-hoc regions (@LAT,LON,SIZE and bbox= names) are made by a lookup in
 * the root and remembered in the cache (CACHE/regions); at most
 * SAT_TREE_ADHOC_MAX of them: the least recently used goes first.
 *
 * Listing a region needs the catalog (network): sat_tree_ready() says
 * whether an operation can be answered at once; the others block when it
 * cannot, so call them from a worker thread then.
 *
 * Thread-safe.
 */
#ifndef SATFS_TREE_H
#define SATFS_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct sat_cache;
struct sat_catalog;
struct sat_config;
struct sat_listing;
struct sat_render_plan;
struct sat_tree;

#define SAT_TREE_ROOT_INO 1
/* Ad-hoc regions remembered at most. */
#define SAT_TREE_ADHOC_MAX 100

enum sat_node_kind {
	SAT_NODE_ROOT,
	SAT_NODE_REGION,
	SAT_NODE_DATE,
	SAT_NODE_TIF,
	SAT_NODE_JSON,
	SAT_NODE_CTL_DIR,  /* MOUNT/.satfs */
	SAT_NODE_CTL_FILE, /* a status file: made when opened, size 0 */
};

/* Is a node of kind k a directory? */
bool sat_node_is_dir(enum sat_node_kind k);

struct sat_attr {
	uint64_t ino;
	enum sat_node_kind kind;
	uint64_t size;
	time_t mtime;
};

struct sat_dirent {
	char *name;
	struct sat_attr attr;
};

int sat_tree_new(struct sat_tree **out, const struct sat_config *cfg,
		 struct sat_catalog *cat, struct sat_cache *cache);
/* The region cloud covers (borrowed; must outlive t): with them, a
 * listing hides the dates a region's max_region_cloud rules out (counting
 * its scenes' covers then). Call before listing. */
struct sat_regioncloud;
void sat_tree_set_regioncloud(struct sat_tree *t, struct sat_regioncloud *rc);
void sat_tree_free(struct sat_tree *t);

/* Attributes of a live inode; -ENOENT for an unknown one. Never blocks. */
int sat_tree_getattr(struct sat_tree *t, uint64_t ino, struct sat_attr *out);

/* Can a lookup in (or a listing of) directory ino be answered without the
 * network? */
bool sat_tree_ready(struct sat_tree *t, uint64_t ino);

/* Looks name up in directory parent. On success the node's lookup count
 * goes up by one: the kernel's, to be matched by sat_tree_forget() (also
 * when the answer never reaches the kernel). -ENOENT (also for probes such
 * as .Trash and invalid ad-hoc region names: never any network for
 * those, and for directories no listing shows any more), -ENOTDIR, -EIO
 * (catalog failure). Blocks when !sat_tree_ready(). */
int sat_tree_lookup(struct sat_tree *t, uint64_t parent, const char *name,
		    struct sat_attr *out);

/* One more lookup of a live ino (an entry of a readdirplus answer).
 * 0, or -ENOENT when ino is gone. Never blocks. */
int sat_tree_count_lookup(struct sat_tree *t, uint64_t ino);

/* The kernel forgot n lookups of ino: the node may go. Unknown inodes
 * are ignored. Never blocks. */
void sat_tree_forget(struct sat_tree *t, uint64_t ino, uint64_t n);

/* A snapshot of directory ino's entries (without . and ..), for readdir.
 * Re-runs the region's search when its listing has expired; starts the
 * counting of the region cloud cover of a date's scenes in the background
 * (sat_regioncloud_ahead). Blocks when !sat_tree_ready(). Free with
 * sat_tree_dirents_free(). */
int sat_tree_list(struct sat_tree *t, uint64_t ino, struct sat_dirent **out,
		  size_t *n);
void sat_tree_dirents_free(struct sat_dirent *d, size_t n);

/* What a file node is. Holds references: release with
 * sat_tree_file_release(). */
struct sat_tree_file {
	enum sat_node_kind kind;      /* TIF, JSON or CTL_FILE */
	struct sat_render_plan *plan; /* TIF: a reference */
	struct sat_listing *listing;  /* JSON: a reference that keeps json */
	const char *json;             /* JSON: the item as the catalog gave it */
	size_t json_len;
	int ctl;                      /* CTL_FILE: an enum sat_ctl_file */
};
/* 0, -EISDIR, -ENOENT. */
int sat_tree_file(struct sat_tree *t, uint64_t ino, struct sat_tree_file *out);
void sat_tree_file_release(struct sat_tree_file *f);

/* Up to max plans of the same product for the scenes after file ino's
 * scene in its region's listing order, for prefetch; each a reference
 * (sat_render_plan_unref). Returns the count. */
size_t sat_tree_next_plans(struct sat_tree *t, uint64_t ino, size_t max,
			   struct sat_render_plan **out);

/* The path of ino below the mount, for log lines ("david/2024-01-03/x.tif"),
 * into buf. */
void sat_tree_path(struct sat_tree *t, uint64_t ino, char *buf, size_t len);

/* Drops the listing of the region that ino lies in (satfs refresh).
 * -EINVAL outside a region, -ENOENT for an unknown ino. */
int sat_tree_refresh(struct sat_tree *t, uint64_t ino);

/* Forgets ad-hoc region `name` (rmdir in the root): it leaves the root and
 * CACHE/regions. 0, -ENOENT, -EPERM (a configured region or .satfs). */
int sat_tree_remove_region(struct sat_tree *t, const char *name);

/* Called with the name of each ad-hoc region the cap pushed out, after the
 * tree's lock is released, so that the kernel can be told to forget it.
 * Must not call into the tree. */
typedef void (*sat_tree_evict_fn)(const char *name, void *payload);
void sat_tree_set_evict_fn(struct sat_tree *t, sat_tree_evict_fn fn,
			   void *payload);

/* Calls fn(cache key, path below the mount, payload) for every .tif node
 * alive (also those a relisting dropped that the kernel still holds). For
 * the status files: runs under the tree's lock, so fn must not call into
 * the tree. */
typedef void (*sat_tree_file_fn)(const char *key, const char *path,
				 void *payload);
void sat_tree_for_each_file(struct sat_tree *t, sat_tree_file_fn fn,
			    void *payload);

/* For tests and the status files: nodes alive, and ad-hoc regions. */
struct sat_tree_stats {
	size_t nodes;
	size_t adhoc_regions;
};
void sat_tree_get_stats(struct sat_tree *t, struct sat_tree_stats *st);

#endif
