/*
 * tree_private: what the tree's files share (tree.c: listings, lookups;
 * tree_nodes.c: the inode table and the nodes' lives; tree_regions.c: the
 * regions, ad-hoc ones, CACHE/regions). Not a module boundary.
 *
 * Threading: t->lock protects the inode table, every node's fields but
 * load_lock, and the counters. It is never held across the catalog, the
 * renderer's planning or the disk; plans and listings of nodes that go are
 * released after it is dropped (struct node_trash). Each region has
 * load_lock, held while its listing is fetched and turned into nodes, so
 * that one region is searched once at a time while other regions load in
 * parallel. t->save_lock orders the writes of CACHE/regions.
 *
 * A node lives while any of these holds it: the kernel (nlookup), its
 * parent's list of children (attached), a child node (nchildren: every
 * child points at its parent), or a thread working on it (pins). When the
 * last goes it leaves the inode table at once and its memory is freed
 * after the lock is dropped; a child's going may take its parent along.
 */
#ifndef SATFS_TREE_PRIVATE_H
#define SATFS_TREE_PRIVATE_H

#include "satfs/tree.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sat_region;
struct sat_scene;

struct node {
	uint64_t ino;
	struct node *hnext;   /* in t->table; in a node_trash once gone */
	enum sat_node_kind kind;
	struct node *parent;  /* holds it (nchildren); NULL for the root */
	char *name;
	time_t mtime;
	uint64_t size;
	uint64_t nlookup;     /* the kernel's lookup count */
	unsigned nchildren;   /* child nodes alive */
	unsigned pins;        /* threads working on it */
	bool attached;        /* in parent->kids (the root: always) */
	bool permanent;       /* root, .satfs and configured regions */
	bool gone;            /* out of the table, in a node_trash */
	struct node **kids;   /* sorted by name */
	size_t nkids;
	/* regions */
	struct sat_region *region;
	bool adhoc;
	uint64_t used;        /* LRU clock of ad-hoc regions */
	pthread_mutex_t load_lock;
	struct sat_listing *listing; /* a reference, or NULL */
	char *error;          /* why the last listing failed, or NULL */
	unsigned listing_gen; /* generation that attached it */
	struct node **tifs;   /* [scene * nproducts + product], not held */
	struct node **pngs;   /* their quicklooks, the same way */
	size_t ntifs;
	/* files */
	struct sat_render_plan *plan;    /* TIF: a reference */
	struct sat_listing *scene_of;    /* JSON: a reference holding scene */
	const struct sat_scene *scene;   /* JSON */
	size_t order;   /* scene index in the region's listing */
	unsigned gen;   /* listing generation that last showed it */
	unsigned clouds_gen; /* DATE: generation whose scenes' region cloud
			      * cover was queued for counting (sat_tree_list) */
	size_t product; /* index in cfg->products */
	int ctl;        /* CTL_FILE: enum sat_ctl_file */
};

struct sat_tree {
	const struct sat_config *cfg;
	struct sat_catalog *cat;
	struct sat_cache *cache;
	time_t mount_time;
	pthread_mutex_t lock;
	struct node **table;  /* by ino, chained; protected by lock */
	size_t nbuckets, nnodes;
	uint64_t next_ino;    /* protected by lock */
	struct node *root;
	unsigned generation;  /* protected by lock */
	uint64_t clock;       /* LRU clock; protected by lock */
	size_t nadhoc;        /* attached ad-hoc regions; protected by lock */
	pthread_mutex_t save_lock;
	sat_tree_evict_fn evict_fn;
	void *evict_payload;
	struct sat_regioncloud *clouds; /* may be NULL */
};

/* Nodes gone from the table, and references to drop, for once t->lock is
 * dropped. */
struct node_trash {
	struct node *head;
	struct sat_render_plan **plans;
	size_t nplans, plans_cap;
	struct sat_listing **listings;
	size_t nlistings, listings_cap;
};

/* tree_nodes.c */
int sat_tree_table_init(struct sat_tree *t);
struct node *sat_tree_node_locked(struct sat_tree *t, uint64_t ino);
struct node *sat_tree_new_node_locked(struct sat_tree *t,
				      enum sat_node_kind kind,
				      struct node *parent, const char *name);
int sat_tree_attach_locked(struct node *dir, struct node *kid);
struct node *sat_tree_find_kid_locked(const struct node *dir,
				      const char *name);
/* Takes dir's child out of its list (and its whole subtree with it). */
void sat_tree_detach_locked(struct sat_tree *t, struct node *n,
			    struct node_trash *trash);
/* Keeps only dir's children of generation gen; the others are detached. */
void sat_tree_prune_locked(struct sat_tree *t, struct node *dir, unsigned gen,
			   struct node_trash *trash);
/* Frees n if nothing holds it any more, and then its parent, ... */
void sat_tree_release_locked(struct sat_tree *t, struct node *n,
			     struct node_trash *trash);
/* Queues one reference to drop later (at once when out of memory). */
void sat_tree_trash_plan(struct node_trash *trash, struct sat_render_plan *p);
void sat_tree_trash_listing(struct node_trash *trash, struct sat_listing *l);
void sat_tree_trash_empty(struct node_trash *trash);
void sat_tree_fill_attr(const struct node *n, struct sat_attr *a);
void sat_tree_free_nodes(struct sat_tree *t);

/* tree_pictures.c: the plans of a listing's pictures, each a reference
 * (NULL where there is none); arrays as make_plans' in tree.c. */
struct tree_pics {
	size_t n;                          /* scenes */
	struct sat_render_plan **ql;       /* [scene * np + product] */
	struct sat_render_plan **mosaic_ql; /* as tree.c's mosaic[] */
	struct sat_render_plan **gif;      /* [product] */
	struct sat_render_plan *index;
};
struct sat_listing;
/* The scenes of l from i on that share scene i's date. */
size_t sat_tree_same_date(const struct sat_listing *l, size_t i);
/* Nothing when the configuration's pictures are off. 0 or -ENOMEM. */
int sat_tree_picture_plans(struct sat_tree *t, const struct sat_region *r,
			   const struct sat_listing *l,
			   struct sat_render_plan **plans,
			   struct sat_render_plan **mosaic, const bool *hide,
			   struct tree_pics *pics);
/* Drops the references left (np: the configuration's products). */
void sat_tree_pics_free(struct tree_pics *pics, size_t np);

/* tree_regions.c */
int sat_tree_regions_init(struct sat_tree *t);
/* A root lookup of name: an ad-hoc region, made (and remembered) on the
 * spot when name parses as one. 0 with *out, or -ENOENT. Takes and drops
 * t->lock itself. */
int sat_tree_adhoc_lookup(struct sat_tree *t, const char *name,
			  struct node **out_pinned);
/* Marks an ad-hoc region as just used. */
void sat_tree_touch_locked(struct sat_tree *t, struct node *reg);

#endif
