/*
 * tree_regions: the root's children. Configured regions and .satfs stay
 * for the life of the tree; ad-hoc regions are made by a lookup of their
 * name, remembered in the cache (CACHE/regions, through the cache module)
 * and capped: past SAT_TREE_ADHOC_MAX, the least recently used one is
 * forgotten, and the kernel told (sat_tree_set_evict_fn). See
 * fs/tree_private.h for the locking; CACHE/regions is written under
 * t->save_lock only, from a snapshot taken under t->lock.
 */
#include "tree_private.h"
#include "satfs/cache.h"
#include "satfs/catalog.h"
#include "satfs/config.h"
#include "satfs/control.h"
#include "satfs/log.h"
#include "satfs/region.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int add_region_locked(struct sat_tree *t, struct sat_region *r,
			     bool adhoc, struct node **out)
{
	struct node *n;

	n = sat_tree_new_node_locked(t, SAT_NODE_REGION, t->root, r->name);
	if (!n) {
		sat_region_free(r);
		return -ENOMEM;
	}
	n->region = r;
	n->adhoc = adhoc;
	n->permanent = !adhoc;
	if (sat_tree_attach_locked(t->root, n)) {
		struct node_trash trash = { 0 };

		/* not attached: goes at once (no other holder yet) */
		sat_tree_release_locked(t, n, &trash);
		sat_tree_trash_empty(&trash);
		return -ENOMEM;
	}
	if (adhoc) {
		t->nadhoc++;
		n->used = ++t->clock;
	}
	if (out)
		*out = n;
	return 0;
}

static struct sat_region *copy_region(const struct sat_region *src)
{
	struct sat_region *r;
	char msg[128];

	if (sat_region_new_polygon(&r, src->name, src->ring, src->nring, msg,
				   sizeof(msg)) != 0)
		return NULL;
	r->has_dates = src->has_dates;
	r->max_region_cloud = src->max_region_cloud;
	r->date_from = src->date_from;
	r->date_to = src->date_to;
	return r;
}

static int add_ctl_locked(struct sat_tree *t)
{
	struct node *dir, *f;
	int i;

	dir = sat_tree_new_node_locked(t, SAT_NODE_CTL_DIR, t->root,
				       SAT_CTL_DIR);
	if (!dir)
		return -ENOMEM;
	dir->permanent = true;
	if (sat_tree_attach_locked(t->root, dir))
		return -ENOMEM;
	for (i = 0; i < SAT_CTL_NFILES; i++) {
		f = sat_tree_new_node_locked(t, SAT_NODE_CTL_FILE, dir,
					     sat_ctl_file_name(i));
		if (!f)
			return -ENOMEM;
		f->permanent = true;
		f->ctl = i;
		if (sat_tree_attach_locked(dir, f))
			return -ENOMEM;
	}
	return 0;
}

/* The ad-hoc regions, least recently used first, as malloc'd copies of
 * their names. NULL on ENOMEM. */
static char **adhoc_names_locked(struct sat_tree *t, size_t *n)
{
	struct node **v = calloc(t->nadhoc + 1, sizeof(*v));
	char **names = calloc(t->nadhoc + 1, sizeof(*names));
	size_t i, k = 0;

	*n = 0;
	if (!v || !names)
		goto fail;
	for (i = 0; i < t->root->nkids && k < t->nadhoc; i++)
		if (t->root->kids[i]->adhoc)
			v[k++] = t->root->kids[i];
	/* insertion sort by the LRU clock: at most SAT_TREE_ADHOC_MAX + 1 */
	for (i = 1; i < k; i++) {
		struct node *x = v[i];
		size_t j = i;

		for (; j > 0 && v[j - 1]->used > x->used; j--)
			v[j] = v[j - 1];
		v[j] = x;
	}
	for (i = 0; i < k; i++)
		if (!(names[i] = strdup(v[i]->name)))
			goto fail;
	free(v);
	*n = k;
	return names;
fail:
	for (i = 0; names && i < k; i++)
		free(names[i]);
	free(names);
	free(v);
	return NULL;
}

static void log_evicted(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sat_info("tree: region %s forgotten (more than %d ad-hoc "
			 "regions: the least recently used goes)", names[i],
			 SAT_TREE_ADHOC_MAX);
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

/* Writes CACHE/regions from the tree as it is now. */
static void save_regions(struct sat_tree *t)
{
	char **names;
	size_t n = 0;

	pthread_mutex_lock(&t->save_lock);
	pthread_mutex_lock(&t->lock);
	names = adhoc_names_locked(t, &n);
	pthread_mutex_unlock(&t->lock);
	if (names)
		sat_cache_save_regions(t->cache, (const char *const *)names,
				       n);
	else
		sat_warn("tree: out of memory: %s/regions not updated",
			 sat_cache_dir(t->cache));
	pthread_mutex_unlock(&t->save_lock);
	free_names(names, n);
}

/* Forgets the least recently used ad-hoc regions beyond the cap; their
 * names go to *evicted (malloc'd, for the evict callback). */
static void enforce_cap_locked(struct sat_tree *t, struct node *keep,
			       char ***evicted, size_t *nevicted,
			       struct node_trash *trash)
{
	while (t->nadhoc > SAT_TREE_ADHOC_MAX) {
		struct node *lru = NULL, *k;
		char **v;
		size_t i;

		for (i = 0; i < t->root->nkids; i++) {
			k = t->root->kids[i];
			if (k->adhoc && k != keep && (!lru || k->used < lru->used))
				lru = k;
		}
		if (!lru)
			return;
		v = realloc(*evicted, (*nevicted + 1) * sizeof(*v));
		if (v) {
			*evicted = v;
			v[*nevicted] = strdup(lru->name);
			if (v[*nevicted])
				(*nevicted)++;
		}
		/* the one call out under t->lock: the catalog takes only its
		 * own lock and never calls the tree */
		sat_catalog_forget(t->cat, lru->region);
		t->nadhoc--;
		lru->adhoc = false; /* counted out: no longer in the root */
		sat_tree_detach_locked(t, lru, trash);
	}
}

int sat_tree_regions_init(struct sat_tree *t)
{
	const struct sat_config *cfg = t->cfg;
	struct node_trash trash = { 0 };
	char **names = NULL, **evicted = NULL;
	size_t n = 0, nevicted = 0, i;
	struct sat_region *r;
	int err = 0;

	pthread_mutex_lock(&t->lock);
	err = add_ctl_locked(t);
	for (i = 0; !err && i < cfg->nregions; i++) {
		r = copy_region(cfg->regions[i]);
		err = r ? add_region_locked(t, r, false, NULL) : -ENOMEM;
	}
	pthread_mutex_unlock(&t->lock);
	if (err)
		return err;
	if (sat_cache_load_regions(t->cache, &names, &n) != 0)
		return 0; /* logged; the regions are looked up again */
	pthread_mutex_lock(&t->lock);
	for (i = 0; i < n; i++) {
		if (sat_tree_find_kid_locked(t->root, names[i]) ||
		    sat_region_parse_name(&r, names[i], NULL, 0) != 0)
			continue;
		add_region_locked(t, r, true, NULL);
	}
	enforce_cap_locked(t, NULL, &evicted, &nevicted, &trash);
	pthread_mutex_unlock(&t->lock);
	sat_tree_trash_empty(&trash);
	log_evicted(evicted, nevicted);
	if (nevicted)
		save_regions(t); /* an older version's longer list */
	free_names(evicted, nevicted);
	free_names(names, n);
	return 0;
}

void sat_tree_touch_locked(struct sat_tree *t, struct node *reg)
{
	if (reg->adhoc)
		reg->used = ++t->clock;
}

int sat_tree_adhoc_lookup(struct sat_tree *t, const char *name,
			  struct node **out_pinned)
{
	struct node_trash trash = { 0 };
	char msg[256] = "", **evicted = NULL;
	size_t nevicted = 0, i;
	sat_tree_evict_fn evict_fn;
	void *evict_payload;
	struct sat_region *r;
	struct node *n;
	int err;

	*out_pinned = NULL;
	/* Parsing needs no network, so probes like .Trash end here. */
	err = sat_region_parse_name(&r, name, msg, sizeof(msg));
	if (err) {
		if (msg[0])
			sat_warn("tree: no region %s: %s", name, msg);
		return err == -ENOMEM ? err : -ENOENT;
	}
	pthread_mutex_lock(&t->lock);
	n = sat_tree_find_kid_locked(t->root, name);
	if (n) {
		/* made meanwhile by another lookup */
		sat_region_free(r);
		sat_tree_touch_locked(t, n);
		n->pins++;
		pthread_mutex_unlock(&t->lock);
		*out_pinned = n;
		return 0;
	}
	err = add_region_locked(t, r, true, &n);
	if (!err) {
		n->pins++;
		enforce_cap_locked(t, n, &evicted, &nevicted, &trash);
	}
	evict_fn = t->evict_fn;
	evict_payload = t->evict_payload;
	pthread_mutex_unlock(&t->lock);
	sat_tree_trash_empty(&trash);
	if (err)
		return err;
	sat_info("tree: new region %s", name);
	log_evicted(evicted, nevicted);
	save_regions(t);
	for (i = 0; i < nevicted && evict_fn; i++)
		evict_fn(evicted[i], evict_payload);
	free_names(evicted, nevicted);
	*out_pinned = n;
	return 0;
}

int sat_tree_remove_region(struct sat_tree *t, const char *name)
{
	struct node_trash trash = { 0 };
	struct node *n;
	int err = 0;

	pthread_mutex_lock(&t->lock);
	n = sat_tree_find_kid_locked(t->root, name);
	if (!n)
		err = -ENOENT;
	else if (!n->adhoc)
		err = -EPERM;
	if (!err) {
		sat_catalog_forget(t->cat, n->region);
		t->nadhoc--;
		n->adhoc = false;
		sat_tree_detach_locked(t, n, &trash);
	}
	pthread_mutex_unlock(&t->lock);
	sat_tree_trash_empty(&trash);
	if (err)
		return err;
	sat_info("tree: region %s forgotten (rmdir)", name);
	save_regions(t);
	return 0;
}

void sat_tree_set_evict_fn(struct sat_tree *t, sat_tree_evict_fn fn,
			   void *payload)
{
	pthread_mutex_lock(&t->lock);
	t->evict_fn = fn;
	t->evict_payload = payload;
	pthread_mutex_unlock(&t->lock);
}
