/*
 * tree: see include/satfs/tree.h; the locking and the nodes' lives are in
 * fs/tree_private.h, the inode table in tree_nodes.c, the root's regions
 * in tree_regions.c. This file turns listings into nodes and answers
 * lookups, listings and opens.
 *
 * A relisting builds the region's children anew, reusing the node (and so
 * the inode) of every name still there; nodes it no longer shows are
 * detached, and freed once the kernel has forgotten them. A .tif node
 * holds its plan, a .json node the listing its item text lives in; the
 * region holds its current listing.
 */
#include "tree_private.h"
#include "satfs/cache.h"
#include "satfs/catalog.h"
#include "satfs/config.h"
#include "satfs/log.h"
#include "satfs/region.h"
#include "satfs/regioncloud.h"
#include "satfs/render.h"
#include "satfs/stac.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sat_tree_new(struct sat_tree **out, const struct sat_config *cfg,
		 struct sat_catalog *cat, struct sat_cache *cache)
{
	struct sat_tree *t = calloc(1, sizeof(*t));
	int err;

	*out = NULL;
	if (!t)
		return -ENOMEM;
	t->cfg = cfg;
	t->cat = cat;
	t->cache = cache;
	t->mount_time = time(NULL);
	pthread_mutex_init(&t->lock, NULL);
	pthread_mutex_init(&t->save_lock, NULL);
	err = sat_tree_table_init(t);
	if (!err) {
		pthread_mutex_lock(&t->lock);
		t->root = sat_tree_new_node_locked(t, SAT_NODE_ROOT, NULL, "");
		pthread_mutex_unlock(&t->lock);
		if (!t->root)
			err = -ENOMEM;
	}
	if (!err) {
		t->root->permanent = true;
		t->root->attached = true;
		err = sat_tree_regions_init(t);
	}
	if (err) {
		sat_tree_free(t);
		return err;
	}
	*out = t;
	return 0;
}

void sat_tree_free(struct sat_tree *t)
{
	if (!t)
		return;
	sat_tree_free_nodes(t);
	pthread_mutex_destroy(&t->save_lock);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

void sat_tree_set_regioncloud(struct sat_tree *t, struct sat_regioncloud *rc)
{
	t->clouds = rc;
}

int sat_tree_getattr(struct sat_tree *t, uint64_t ino, struct sat_attr *out)
{
	struct node *n;

	pthread_mutex_lock(&t->lock);
	n = sat_tree_node_locked(t, ino);
	if (n)
		sat_tree_fill_attr(n, out);
	pthread_mutex_unlock(&t->lock);
	return n ? 0 : -ENOENT;
}

static struct node *region_of(struct node *n)
{
	while (n && n->kind != SAT_NODE_REGION)
		n = n->parent;
	return n;
}

/* A directory that no listing shows any more: lookups and listings in it
 * answer ENOENT (the kernel may still hold it, e.g. as someone's cwd). */
static bool is_stale(const struct node *n)
{
	return !n->attached && !n->permanent;
}

static bool listing_fresh(const struct sat_tree *t, const struct node *reg)
{
	return reg->listing &&
	       (t->cfg->offline ||
		time(NULL) - reg->listing->fetched_at < t->cfg->listing_ttl_s);
}

bool sat_tree_ready(struct sat_tree *t, uint64_t ino)
{
	struct node *n;
	bool ready;

	pthread_mutex_lock(&t->lock);
	n = sat_tree_node_locked(t, ino);
	ready = !n || n->kind != SAT_NODE_REGION || is_stale(n) ||
		listing_fresh(t, n);
	pthread_mutex_unlock(&t->lock);
	return ready;
}

uint64_t sat_tree_region_of(struct sat_tree *t, uint64_t ino)
{
	struct node *n;
	uint64_t r = 0;

	pthread_mutex_lock(&t->lock);
	for (n = sat_tree_node_locked(t, ino); n; n = n->parent)
		if (n->kind == SAT_NODE_REGION) {
			r = n->ino;
			break;
		}
	pthread_mutex_unlock(&t->lock);
	return r;
}

/* The scenes of date (pinned) get their region cloud cover counted in the
 * background, once per listing generation: one plan per scene (mosaics
 * and other products are the same scenes). Never blocks on the network. */
static void count_date_clouds(struct sat_tree *t, struct node *date)
{
	struct sat_render_plan **plans = NULL;
	size_t n = 0, i, k;

	pthread_mutex_lock(&t->lock);
	if (date->clouds_gen != date->gen &&
	    (plans = calloc(date->nkids + 1, sizeof(*plans))) != NULL) {
		for (i = 0; i < date->nkids; i++) {
			struct sat_render_plan *p = date->kids[i]->plan;

			if (!p || p->ninputs != 1 || !p->inputs[0].scl_href)
				continue;
			for (k = 0; k < n; k++)
				if (!strcmp(plans[k]->inputs[0].cloud_key,
					    p->inputs[0].cloud_key))
					break;
			if (k == n)
				plans[n++] = sat_render_plan_ref(p);
		}
		date->clouds_gen = date->gen;
	}
	pthread_mutex_unlock(&t->lock);
	if (!plans)
		return;
	sat_regioncloud_ahead(t->clouds, plans, n);
	for (k = 0; k < n; k++)
		sat_render_plan_unref(plans[k]);
	free(plans);
}

/* Plans for every scene x product of a listing, [scene * np + product],
 * and into mosaic[] at the same place, for the first scene of each date
 * that has several, the plan of the date's mosaic: CPU only, no lock. */
static struct sat_render_plan **make_plans(struct sat_tree *t,
					   const struct sat_region *r,
					   const struct sat_listing *l,
					   struct sat_render_plan ***mosaic)
{
	size_t np = t->cfg->nproducts, i, j, k;
	struct sat_render_plan **plans = calloc(l->n * np + 1, sizeof(*plans));

	*mosaic = calloc(l->n * np + 1, sizeof(**mosaic));
	if (!plans || !*mosaic) {
		free(plans);
		free(*mosaic);
		return NULL;
	}
	for (j = 0; j < np; j++) {
		char why[512] = "";
		size_t made = 0;

		for (i = 0; i < l->n; i++) {
			if (sat_render_plan_new(&plans[i * np + j],
						l->scenes[i],
						t->cfg->products[j], r,
						t->cfg->offset_mode) == 0)
				made++;
			else if (!why[0])
				sat_log_take_cause(why, sizeof(why));
		}
		/* a product that loses all its files says so, once a listing */
		if (l->n && !made)
			sat_warn("region %s: product %s makes no file: %s",
				 r->name, t->cfg->products[j]->name,
				 why[0] ? why : "its plans failed");
		else if (made < l->n)
			sat_info("region %s: product %s: %zu of %zu scenes "
				 "cannot make it: %s", r->name,
				 t->cfg->products[j]->name, l->n - made, l->n,
				 why[0] ? why : "their plans failed");
		sat_log_take_cause(why, sizeof(why)); /* none left over */
	}
	for (i = 0; i < l->n; i += k) {
		k = sat_tree_same_date(l, i);
		for (j = 0; k > 1 && j < np; j++)
			sat_render_plan_new_mosaic(
				&(*mosaic)[i * np + j], "mosaic",
				(const struct sat_scene *const *)&l->scenes[i],
				k, t->cfg->products[j], r,
				t->cfg->offset_mode);
	}
	return plans;
}

/* The dates to hide: those whose scenes are all cloudier over the region
 * than its max_region_cloud (a scene of unknown cover is not). hide[i]
 * for scene i; NULL when nothing is hidden. Reads SCL (blocks). */
static bool *hidden_scenes(struct sat_tree *t, const struct sat_region *r,
			   const struct sat_listing *l,
			   struct sat_render_plan **plans)
{
	size_t np = t->cfg->nproducts, i, k, m;
	struct sat_render_plan **first;
	double *pct;
	bool *hide;

	if (r->max_region_cloud < 0 || !t->clouds || !l->n || !np)
		return NULL;
	first = calloc(l->n, sizeof(*first));
	pct = calloc(l->n, sizeof(*pct));
	hide = calloc(l->n, sizeof(*hide));
	if (!first || !pct || !hide) {
		free(first);
		free(pct);
		free(hide);
		return NULL;
	}
	for (i = 0; i < l->n; i++) /* any product's plan: the same scene */
		for (k = 0; k < np && !first[i]; k++)
			first[i] = plans[i * np + k];
	sat_regioncloud_get_all(t->clouds, first, l->n, 8, pct);
	for (i = 0; i < l->n; i += k) {
		bool all = true;

		k = sat_tree_same_date(l, i);
		for (m = i; m < i + k; m++)
			all = all && !isnan(pct[m]) &&
			      pct[m] > r->max_region_cloud;
		for (m = i; all && m < i + k; m++)
			hide[m] = true;
		if (all)
			sat_info("tree: %s: %s hidden: its scenes are all "
				 "cloudier than %g %% over the region", r->name,
				 l->scenes[i]->date, r->max_region_cloud);
	}
	free(first);
	free(pct);
	return hide;
}

static struct node *get_or_add_kid_locked(struct sat_tree *t, struct node *dir,
					  enum sat_node_kind kind,
					  const char *name)
{
	struct node *n = sat_tree_find_kid_locked(dir, name);

	if (n)
		return n;
	n = sat_tree_new_node_locked(t, kind, dir, name);
	if (n && sat_tree_attach_locked(dir, n)) {
		struct node_trash trash = { 0 };

		sat_tree_release_locked(t, n, &trash); /* nothing holds it */
		sat_tree_trash_empty(&trash);
		return NULL;
	}
	return n;
}

/* Gives file node f the plan p (a reference, taken over). A plan with the
 * same key is the same file: the node keeps the one it has. */
static void set_plan_locked(struct node *f, struct sat_render_plan *p,
			    struct node_trash *trash)
{
	if (f->plan && strcmp(f->plan->key, p->key) == 0) {
		sat_tree_trash_plan(trash, p);
		return;
	}
	sat_tree_trash_plan(trash, f->plan);
	f->plan = p;
}

/* The file node `name` in dir showing plan p (a reference, taken over:
 * also on failure), of listing generation gen; NULL when out of memory. */
static struct node *attach_file_locked(struct sat_tree *t, struct node *dir,
				       const char *name,
				       struct sat_render_plan *p, unsigned gen,
				       time_t mtime, size_t order,
				       size_t product, struct node_trash *trash)
{
	struct node *f = get_or_add_kid_locked(t, dir, SAT_NODE_TIF, name);

	if (!f) {
		sat_tree_trash_plan(trash, p);
		return NULL;
	}
	set_plan_locked(f, p, trash);
	f->gen = gen;
	f->size = f->plan->size_bytes;
	f->mtime = mtime;
	f->order = order;
	f->product = product;
	return f;
}

/* Replaces a region's children with those of listing l, reusing the nodes
 * (and so the inodes) of names still present; takes over l's reference
 * and the plans'. */
static int attach_listing_locked(struct sat_tree *t, struct node *reg,
				 struct sat_listing *l,
				 struct sat_render_plan **plans,
				 struct sat_render_plan **mosaic,
				 struct tree_pics *pics, const bool *hide,
				 struct node_trash *trash)
{
	size_t np = t->cfg->nproducts, i, j;
	unsigned gen = ++t->generation;
	struct node **tifs, **pngs;
	time_t newest = 0;
	char name[512];

	tifs = calloc(l->n * np + 1, sizeof(*tifs));
	pngs = calloc(l->n * np + 1, sizeof(*pngs));
	if (!tifs || !pngs)
		goto nomem;
	for (i = 0; i < l->n; i++) {
		const struct sat_scene *s = l->scenes[i];
		struct node *date, *f;

		if (hide && hide[i]) {
			for (j = 0; j < np; j++) {
				sat_tree_trash_plan(trash, plans[i * np + j]);
				sat_tree_trash_plan(trash, mosaic[i * np + j]);
				plans[i * np + j] = mosaic[i * np + j] = NULL;
			}
			continue;
		}
		date = get_or_add_kid_locked(t, reg, SAT_NODE_DATE, s->date);
		if (!date)
			goto nomem;
		if (date->gen != gen)
			date->mtime = 0;
		date->gen = gen;
		if (s->datetime > date->mtime)
			date->mtime = s->datetime;

		snprintf(name, sizeof(name), "%s.json", s->file_id);
		f = get_or_add_kid_locked(t, date, SAT_NODE_JSON, name);
		if (!f)
			goto nomem;
		f->gen = gen;
		sat_tree_trash_listing(trash, f->scene_of);
		sat_listing_ref(l);
		f->scene_of = l;
		f->scene = s;
		f->size = s->json_len;
		f->mtime = s->datetime;
		f->order = i;

		for (j = 0; j < np; j++) {
			struct sat_render_plan *p = plans[i * np + j];
			struct sat_render_plan *q =
				pics->ql ? pics->ql[i * np + j] : NULL;

			plans[i * np + j] = NULL;
			if (pics->ql)
				pics->ql[i * np + j] = NULL;
			if (p) {
				snprintf(name, sizeof(name), "%s.%s.tif",
					 s->file_id, t->cfg->products[j]->name);
				f = attach_file_locked(t, date, name, p, gen,
						       s->datetime, i, j, trash);
				if (!f) {
					sat_tree_trash_plan(trash, q);
					goto nomem;
				}
				tifs[i * np + j] = f;
			}
			if (q) {
				snprintf(name, sizeof(name), "%s.%s.png",
					 s->file_id, t->cfg->products[j]->name);
				f = attach_file_locked(t, date, name, q, gen,
						       s->datetime, i, j, trash);
				if (!f)
					goto nomem;
				pngs[i * np + j] = f;
			}
		}
		/* the date's mosaic, made of this scene and the next ones */
		for (j = 0; j < np; j++) {
			struct sat_render_plan *p = mosaic[i * np + j];
			struct sat_render_plan *q =
				pics->mosaic_ql ? pics->mosaic_ql[i * np + j]
						: NULL;

			mosaic[i * np + j] = NULL;
			if (pics->mosaic_ql)
				pics->mosaic_ql[i * np + j] = NULL;
			snprintf(name, sizeof(name), "mosaic.%s.tif",
				 t->cfg->products[j]->name);
			if (p && !attach_file_locked(t, date, name, p, gen,
						     s->datetime, i, j,
						     trash)) {
				sat_tree_trash_plan(trash, q);
				goto nomem;
			}
			snprintf(name, sizeof(name), "mosaic.%s.png",
				 t->cfg->products[j]->name);
			if (q && !attach_file_locked(t, date, name, q, gen,
						     s->datetime, i, j, trash))
				goto nomem;
		}
		if (s->datetime > newest)
			newest = s->datetime;
	}
	/* the region's own files: no place in the listing's order */
	for (j = 0; pics->gif && j < np; j++) {
		struct sat_render_plan *p = pics->gif[j];

		pics->gif[j] = NULL;
		snprintf(name, sizeof(name), "timelapse.%s.gif",
			 t->cfg->products[j]->name);
		if (p && !attach_file_locked(t, reg, name, p, gen, newest,
					     SIZE_MAX, j, trash))
			goto nomem;
	}
	if (pics->index) {
		struct sat_render_plan *p = pics->index;

		pics->index = NULL;
		if (!attach_file_locked(t, reg, "index.html", p, gen, newest,
					SIZE_MAX, 0, trash))
			goto nomem;
	}
	sat_tree_prune_locked(t, reg, gen, trash);
	for (i = 0; i < reg->nkids; i++)
		sat_tree_prune_locked(t, reg->kids[i], gen, trash);
	free(reg->tifs);
	free(reg->pngs);
	reg->tifs = tifs;
	reg->pngs = pngs;
	reg->ntifs = l->n * np;
	sat_tree_trash_listing(trash, reg->listing);
	reg->listing = l;
	reg->listing_gen = gen;
	return 0;
nomem:
	free(tifs);
	free(pngs);
	for (i = 0; i < l->n * np; i++) {
		sat_tree_trash_plan(trash, plans[i]);
		sat_tree_trash_plan(trash, mosaic[i]);
	}
	sat_tree_trash_listing(trash, l);
	return -ENOMEM;
}

/* Sets (why) or clears (NULL) the failure a region's listing keeps. */
static void set_error(struct sat_tree *t, struct node *reg, const char *why)
{
	char *copy = why ? strdup(why) : NULL, *old;

	pthread_mutex_lock(&t->lock);
	old = reg->error;
	reg->error = copy;
	pthread_mutex_unlock(&t->lock);
	free(old);
}

int sat_tree_region_error(struct sat_tree *t, uint64_t ino, char *buf,
			  size_t len)
{
	struct node *n;
	int ret = -ENODATA;

	pthread_mutex_lock(&t->lock);
	for (n = sat_tree_node_locked(t, ino); n; n = n->parent)
		if (n->kind == SAT_NODE_REGION) {
			if (n->error)
				ret = snprintf(buf, len, "%s", n->error);
			break;
		}
	pthread_mutex_unlock(&t->lock);
	return ret < 0 || (size_t)ret < len ? ret : (int)len - 1;
}

/* Makes sure region reg (pinned by the caller) has a listing; searches
 * when it has none or (when want_fresh) an expired one. Blocks. */
static int load_region(struct sat_tree *t, struct node *reg, bool want_fresh)
{
	struct node_trash trash = { 0 };
	struct sat_listing *l = NULL;
	struct sat_render_plan **plans, **mosaic = NULL;
	struct tree_pics pics = { 0 };
	bool ok, *hide;
	char why[512];
	int err = 0;

	pthread_mutex_lock(&reg->load_lock);
	pthread_mutex_lock(&t->lock);
	ok = reg->listing && (!want_fresh || listing_fresh(t, reg));
	if (is_stale(reg))
		err = -ENOENT;
	pthread_mutex_unlock(&t->lock);
	if (ok || err)
		goto out;
	sat_log_take_cause(why, sizeof(why)); /* a stale one is not ours */
	err = sat_catalog_list(t->cat, reg->region, &l);
	if (err == -ENETDOWN)
		err = -EIO; /* offline, not cached: as any catalog failure */
	sat_log_take_cause(why, sizeof(why));
	if (err && !why[0])
		snprintf(why, sizeof(why), "the catalog search failed: %s",
			 strerror(-err));
	/* what user.satfs.error says on the region and its dates */
	set_error(t, reg, err ? why : NULL);
	if (err) {
		/* keep showing what we had; a later access retries */
		pthread_mutex_lock(&t->lock);
		if (reg->listing)
			err = 0;
		pthread_mutex_unlock(&t->lock);
		goto out;
	}
	pthread_mutex_lock(&t->lock);
	ok = reg->listing == l; /* the same listing object: nothing new */
	pthread_mutex_unlock(&t->lock);
	if (ok) {
		sat_listing_unref(l);
		goto out;
	}
	plans = make_plans(t, reg->region, l, &mosaic);
	if (!plans) {
		sat_listing_unref(l);
		err = -ENOMEM;
		goto out;
	}
	hide = hidden_scenes(t, reg->region, l, plans);
	if (sat_tree_picture_plans(t, reg->region, l, plans, mosaic, hide,
				   &pics))
		sat_warn("tree: %s: no pictures: out of memory",
			 reg->region->name);
	pthread_mutex_lock(&t->lock);
	if (is_stale(reg)) { /* forgotten meanwhile */
		for (size_t i = 0; i < l->n * t->cfg->nproducts; i++) {
			sat_tree_trash_plan(&trash, plans[i]);
			sat_tree_trash_plan(&trash, mosaic[i]);
		}
		sat_tree_trash_listing(&trash, l);
		err = -ENOENT;
	} else {
		err = attach_listing_locked(t, reg, l, plans, mosaic, &pics,
					    hide, &trash);
	}
	pthread_mutex_unlock(&t->lock);
	sat_tree_pics_free(&pics, t->cfg->nproducts);
	free(plans);
	free(mosaic);
	free(hide);
	sat_tree_trash_empty(&trash);
out:
	pthread_mutex_unlock(&reg->load_lock);
	return err;
}

/* Counts the kernel's lookup of n and answers with it. */
static int found_locked(struct sat_tree *t, struct node *n,
			struct sat_attr *out)
{
	n->nlookup++;
	if (n->kind == SAT_NODE_REGION)
		sat_tree_touch_locked(t, n);
	sat_tree_fill_attr(n, out);
	return 0;
}

int sat_tree_lookup(struct sat_tree *t, uint64_t parent, const char *name,
		    struct sat_attr *out)
{
	struct node_trash trash = { 0 };
	struct node *dir, *n;
	int err;

	pthread_mutex_lock(&t->lock);
	dir = sat_tree_node_locked(t, parent);
	if (!dir || is_stale(dir)) {
		pthread_mutex_unlock(&t->lock);
		return -ENOENT;
	}
	if (!sat_node_is_dir(dir->kind)) {
		pthread_mutex_unlock(&t->lock);
		return -ENOTDIR;
	}
	n = sat_tree_find_kid_locked(dir, name);
	if (n || dir->kind == SAT_NODE_DATE || dir->kind == SAT_NODE_CTL_DIR ||
	    (dir->kind == SAT_NODE_REGION && dir->listing)) {
		err = n ? found_locked(t, n, out) : -ENOENT;
		pthread_mutex_unlock(&t->lock);
		return err;
	}
	if (dir->kind == SAT_NODE_REGION) {
		/* not listed yet: list it (blocks), then look again */
		dir->pins++;
		pthread_mutex_unlock(&t->lock);
		err = load_region(t, dir, false);
		pthread_mutex_lock(&t->lock);
		n = err ? NULL : sat_tree_find_kid_locked(dir, name);
		if (!err)
			err = n ? found_locked(t, n, out) : -ENOENT;
		dir->pins--;
		sat_tree_release_locked(t, dir, &trash);
		pthread_mutex_unlock(&t->lock);
		sat_tree_trash_empty(&trash);
		return err;
	}
	pthread_mutex_unlock(&t->lock);

	/* the root: an ad-hoc region, or nothing */
	err = sat_tree_adhoc_lookup(t, name, &n);
	if (err)
		return err;
	pthread_mutex_lock(&t->lock);
	found_locked(t, n, out);
	n->pins--;
	sat_tree_release_locked(t, n, &trash);
	pthread_mutex_unlock(&t->lock);
	sat_tree_trash_empty(&trash);
	return 0;
}

int sat_tree_list(struct sat_tree *t, uint64_t ino, struct sat_dirent **out,
		  size_t *n)
{
	struct node_trash trash = { 0 };
	struct sat_dirent *d = NULL;
	struct node *dir;
	size_t i;
	int err = 0;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&t->lock);
	dir = sat_tree_node_locked(t, ino);
	if (!dir || is_stale(dir))
		err = -ENOENT;
	else if (!sat_node_is_dir(dir->kind))
		err = -ENOTDIR;
	else
		dir->pins++;
	pthread_mutex_unlock(&t->lock);
	if (err)
		return err;
	if (dir->kind == SAT_NODE_REGION)
		err = load_region(t, dir, true);
	else if (dir->kind == SAT_NODE_DATE && t->clouds)
		count_date_clouds(t, dir);
	pthread_mutex_lock(&t->lock);
	if (!err && !(d = calloc(dir->nkids + 1, sizeof(*d))))
		err = -ENOMEM;
	for (i = 0; !err && i < dir->nkids; i++) {
		d[i].name = strdup(dir->kids[i]->name);
		sat_tree_fill_attr(dir->kids[i], &d[i].attr);
		if (!d[i].name) {
			sat_tree_dirents_free(d, i);
			d = NULL;
			err = -ENOMEM;
		}
	}
	if (!err) {
		*n = dir->nkids;
		if (dir->kind == SAT_NODE_REGION)
			sat_tree_touch_locked(t, dir);
	}
	dir->pins--;
	sat_tree_release_locked(t, dir, &trash);
	pthread_mutex_unlock(&t->lock);
	sat_tree_trash_empty(&trash);
	*out = d;
	return err;
}

void sat_tree_dirents_free(struct sat_dirent *d, size_t n)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < n; i++)
		free(d[i].name);
	free(d);
}

int sat_tree_file(struct sat_tree *t, uint64_t ino, struct sat_tree_file *out)
{
	struct node *n;
	int err = 0;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&t->lock);
	n = sat_tree_node_locked(t, ino);
	if (!n) {
		err = -ENOENT;
	} else if (sat_node_is_dir(n->kind)) {
		err = -EISDIR;
	} else {
		out->kind = n->kind;
		if (n->kind == SAT_NODE_TIF && n->plan) {
			out->plan = sat_render_plan_ref(n->plan);
		} else if (n->kind == SAT_NODE_JSON && n->scene_of) {
			sat_listing_ref(n->scene_of);
			out->listing = n->scene_of;
			out->json = n->scene->json;
			out->json_len = n->scene->json_len;
		} else if (n->kind == SAT_NODE_CTL_FILE) {
			out->ctl = n->ctl;
		} else {
			err = -ENOENT;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return err;
}

void sat_tree_file_release(struct sat_tree_file *f)
{
	sat_render_plan_unref(f->plan);
	sat_listing_unref(f->listing);
	memset(f, 0, sizeof(*f));
}

size_t sat_tree_next_plans(struct sat_tree *t, uint64_t ino, size_t max,
			   struct sat_render_plan **out)
{
	size_t np = t->cfg->nproducts, got = 0, i;
	struct node *n, *reg;

	pthread_mutex_lock(&t->lock);
	n = sat_tree_node_locked(t, ino);
	reg = n && n->kind == SAT_NODE_TIF ? region_of(n) : NULL;
	/* only from a node of the region's current listing */
	if (reg && reg->listing && n->gen == reg->listing_gen &&
	    n->order < reg->listing->n && n->plan &&
	    (n->plan->format == SAT_RENDER_TIFF ||
	     (n->plan->format == SAT_RENDER_PNG && reg->pngs))) {
		struct node **files = n->plan->format == SAT_RENDER_PNG
					      ? reg->pngs
					      : reg->tifs;

		for (i = n->order + 1; i < reg->listing->n && got < max; i++) {
			struct node *f = files[i * np + n->product];

			if (f && f->plan)
				out[got++] = sat_render_plan_ref(f->plan);
		}
	}
	pthread_mutex_unlock(&t->lock);
	return got;
}

void sat_tree_path(struct sat_tree *t, uint64_t ino, char *buf, size_t len)
{
	const char *parts[4];
	struct node *n;
	int depth = 0;
	size_t off = 0;

	buf[0] = '\0';
	pthread_mutex_lock(&t->lock);
	for (n = sat_tree_node_locked(t, ino); n && n->parent && depth < 4;
	     n = n->parent)
		parts[depth++] = n->name;
	while (depth-- > 0 && off < len)
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
					parts[depth], depth ? "/" : "");
	pthread_mutex_unlock(&t->lock);
}

int sat_tree_refresh(struct sat_tree *t, uint64_t ino)
{
	struct node_trash trash = { 0 };
	struct node *n, *reg;

	pthread_mutex_lock(&t->lock);
	n = sat_tree_node_locked(t, ino);
	reg = region_of(n);
	if (reg) {
		sat_tree_trash_listing(&trash, reg->listing);
		reg->listing = NULL;
		reg->pins++;
	}
	pthread_mutex_unlock(&t->lock);
	sat_tree_trash_empty(&trash);
	if (!reg)
		return n ? -EINVAL : -ENOENT;
	sat_catalog_refresh(t->cat, reg->region);
	pthread_mutex_lock(&t->lock);
	reg->pins--;
	sat_tree_release_locked(t, reg, &trash);
	pthread_mutex_unlock(&t->lock);
	sat_tree_trash_empty(&trash);
	return 0;
}

void sat_tree_for_each_file(struct sat_tree *t, sat_tree_file_fn fn,
			    void *payload)
{
	char path[1024];
	size_t b;

	pthread_mutex_lock(&t->lock);
	for (b = 0; b < t->nbuckets; b++) {
		for (struct node *n = t->table[b]; n; n = n->hnext) {
			struct node *dir = n->parent;

			if (n->kind != SAT_NODE_TIF || !n->plan || !dir ||
			    !dir->parent)
				continue;
			if (dir->kind == SAT_NODE_REGION) /* its own files */
				snprintf(path, sizeof(path), "%s/%s",
					 dir->name, n->name);
			else
				snprintf(path, sizeof(path), "%s/%s/%s",
					 dir->parent->name, dir->name, n->name);
			fn(n->plan->key, path, payload);
		}
	}
	pthread_mutex_unlock(&t->lock);
}
