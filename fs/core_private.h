/*
 * core_private: what core.c, core_open.c and core_xattr.c share. Not a
 * module boundary.
 *
 * Every open file and directory is a handle in core->handles (under
 * core->open_lock), so that sat_core_free() frees those the kernel never
 * released.
 */
#ifndef SATFS_CORE_PRIVATE_H
#define SATFS_CORE_PRIVATE_H

#include <stddef.h>

#include "satfs/cache.h"
#include "satfs/core.h"
#include "satfs/tree.h"

struct sat_handle {
	struct sat_handle *prev, *next; /* protected by core->open_lock */
	bool is_dir;
};

struct open_file {
	struct sat_handle h;
	struct sat_file pub;
	struct sat_tree_file tf;  /* references: plan, or the JSON's listing */
	char key[SAT_HASH_HEX];   /* the cache key while fd is open, or "" */
	char *owned;              /* a status file's text */
};

struct open_dir {
	struct sat_handle h;
	struct sat_dir pub;
};

#define container_of(p, type, member) \
	((type *)((char *)(p) - offsetof(type, member)))

void sat_core_track(struct sat_core *core, struct sat_handle *h);
void sat_core_untrack(struct sat_core *core, struct sat_handle *h);
/* Is plan's file larger than max_file_size? Then why, into buf. */
bool sat_core_too_large(struct sat_core *core,
			const struct sat_render_plan *plan, char *buf,
			size_t len);
/* Frees an open file's references (the caller untracked it). */
void sat_core_file_free(struct sat_core *core, struct open_file *of);

#endif
