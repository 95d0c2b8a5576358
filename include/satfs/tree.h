/*
 * tree: the namespace the user sees, without FUSE (docs/ARCHITECTURE.md,
 * "The listing path").
 *
 *   /                         regions: configured, and ad-hoc ones looked up
 *   /<region>/                one directory per UTC acquisition date
 *   /<region>/<date>/         <item>.<product>.tif and <item>.json
 *
 * Nodes get an inode number when first seen and keep it, and are never
 * freed before sat_tree_free(): the kernel may hold on to any of them.
 * Listing a region's children needs the catalog (network): the *_ready()
 * functions say whether an operation can be answered at once; the others
 * block when it cannot, so call them from a worker thread then.
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
struct sat_render_plan;
struct sat_tree;

#define SAT_TREE_ROOT_INO 1

enum sat_node_kind {
	SAT_NODE_ROOT,
	SAT_NODE_REGION,
	SAT_NODE_DATE,
	SAT_NODE_TIF,
	SAT_NODE_JSON,
};

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
void sat_tree_free(struct sat_tree *t);

/* Attributes of a known inode; -ENOENT for an unknown one. Never blocks. */
int sat_tree_getattr(struct sat_tree *t, uint64_t ino, struct sat_attr *out);

/* Can a lookup in (or a listing of) directory ino be answered without the
 * network? */
bool sat_tree_ready(struct sat_tree *t, uint64_t ino);

/* Looks name up in directory parent. -ENOENT (also for probes such as
 * .Trash and invalid ad-hoc region names: never any network for those),
 * -ENOTDIR, -EIO (catalog failure). Blocks when !sat_tree_ready(). */
int sat_tree_lookup(struct sat_tree *t, uint64_t parent, const char *name,
		    struct sat_attr *out);

/* A snapshot of directory ino's entries (without . and ..), for readdir.
 * Re-runs the region's search when its listing has expired. Blocks when
 * !sat_tree_ready(). Free with sat_tree_dirents_free(). */
int sat_tree_list(struct sat_tree *t, uint64_t ino, struct sat_dirent **out,
		  size_t *n);
void sat_tree_dirents_free(struct sat_dirent *d, size_t n);

/* What a file node is: for .tif the render plan, for .json the item text
 * (both borrowed, valid until sat_tree_free()). -EISDIR, -ENOENT. */
int sat_tree_file(struct sat_tree *t, uint64_t ino,
		  const struct sat_render_plan **plan, const char **json,
		  size_t *json_len);

/* Up to max plans of the same product for the scenes after file ino's
 * scene in its region's listing order, for prefetch. Returns the count. */
size_t sat_tree_next_plans(struct sat_tree *t, uint64_t ino, size_t max,
			   const struct sat_render_plan **out);

/* The path of ino below the mount, for log lines ("david/2024-01-03/x.tif"),
 * into buf. */
void sat_tree_path(struct sat_tree *t, uint64_t ino, char *buf, size_t len);

/* Drops the listing of the region that ino lies in (satfs refresh). */
int sat_tree_refresh(struct sat_tree *t, uint64_t ino);

/* Calls fn(cache key, path below the mount, payload) for every .tif the
 * tree has made (also those a relisting dropped). For the status files:
 * runs under the tree's lock, so fn must not call into the tree. */
typedef void (*sat_tree_file_fn)(const char *key, const char *path,
				 void *payload);
void sat_tree_for_each_file(struct sat_tree *t, sat_tree_file_fn fn,
			    void *payload);

#endif
