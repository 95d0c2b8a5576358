/*
 * tree: see include/satfs/tree.h.
 *
 * Threading: t->lock protects the inode table and every node's children
 * array; it is never held across the catalog, the renderer's planning or
 * the disk. Each region has load_lock, held while its listing is fetched
 * and turned into nodes, so that one region is searched once at a time
 * while other regions load in parallel.
 *
 * Nodes, plans and listings are only added, never freed, until
 * sat_tree_free(): a relisting builds new children next to the old ones
 * (reusing a node, and so its inode, where the name and content are
 * unchanged), and the kernel or a render in flight may still hold an old
 * one.
 */
#include "satfs/tree.h"
#include "satfs/cache.h"
#include "satfs/catalog.h"
#include "satfs/config.h"
#include "satfs/log.h"
#include "satfs/region.h"
#include "satfs/render.h"
#include "satfs/stac.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node {
	uint64_t ino;
	enum sat_node_kind kind;
	struct node *parent;
	char *name;
	time_t mtime;
	uint64_t size;
	struct node **kids; /* sorted by name; protected by t->lock */
	size_t nkids;
	/* regions */
	struct sat_region *region;
	pthread_mutex_t load_lock;
	struct sat_listing *listing; /* protected by t->lock */
	struct node **tifs;   /* [scene * nproducts + product]; t->lock */
	size_t ntifs;
	/* files */
	struct sat_render_plan *plan;
	const struct sat_scene *scene;
	size_t order;   /* scene index in the region's listing */
	unsigned gen;   /* listing generation that last showed it */
	size_t product; /* index in cfg->products */
};

struct sat_tree {
	const struct sat_config *cfg;
	struct sat_catalog *cat;
	struct sat_cache *cache;
	time_t mount_time;
	pthread_mutex_t lock;
	struct node **nodes; /* by ino - 1; protected by lock */
	size_t nnodes, cap;
	struct sat_listing **listings; /* every listing ever used; lock */
	size_t nlistings;
	struct sat_render_plan **plans; /* plans replaced on a node; lock */
	size_t nplans;
	unsigned generation; /* protected by lock */
};

static int kid_cmp(const void *a, const void *b)
{
	const struct node *x = *(struct node *const *)a;
	const struct node *y = *(struct node *const *)b;

	return strcmp(x->name, y->name);
}

static struct node *find_kid_locked(const struct node *dir, const char *name)
{
	size_t lo = 0, hi = dir->nkids;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(name, dir->kids[mid]->name);

		if (c == 0)
			return dir->kids[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* Creates a node and gives it an inode number; not yet anyone's child. */
static struct node *new_node_locked(struct sat_tree *t, enum sat_node_kind k,
				    struct node *parent, const char *name)
{
	struct node *n, **nv;

	if (t->nnodes == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;

		nv = realloc(t->nodes, cap * sizeof(*nv));
		if (!nv)
			return NULL;
		t->nodes = nv;
		t->cap = cap;
	}
	n = calloc(1, sizeof(*n));
	if (!n || !(n->name = strdup(name))) {
		free(n);
		return NULL;
	}
	n->kind = k;
	n->parent = parent;
	n->mtime = t->mount_time;
	if (k == SAT_NODE_REGION)
		pthread_mutex_init(&n->load_lock, NULL);
	t->nodes[t->nnodes++] = n;
	n->ino = t->nnodes;
	return n;
}

static int add_kid_locked(struct node *dir, struct node *kid)
{
	struct node **kv = realloc(dir->kids, (dir->nkids + 1) * sizeof(*kv));

	if (!kv)
		return -ENOMEM;
	dir->kids = kv;
	dir->kids[dir->nkids++] = kid;
	qsort(dir->kids, dir->nkids, sizeof(*dir->kids), kid_cmp);
	return 0;
}

static struct node *node_locked(struct sat_tree *t, uint64_t ino)
{
	if (ino == 0 || ino > t->nnodes)
		return NULL;
	return t->nodes[ino - 1];
}

static struct node *region_of(struct node *n)
{
	while (n && n->kind != SAT_NODE_REGION)
		n = n->parent;
	return n;
}

static void fill_attr(const struct node *n, struct sat_attr *a)
{
	a->ino = n->ino;
	a->kind = n->kind;
	a->size = n->size;
	a->mtime = n->mtime;
}

/* Ad-hoc regions are remembered for the life of the cache. */
static void remember_region(struct sat_tree *t, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/regions", sat_cache_dir(t->cache));
	f = fopen(path, "a");
	if (!f) {
		sat_warn("tree: cannot remember region %s in %s", name, path);
		return;
	}
	fprintf(f, "%s\n", name);
	fclose(f);
}

static int add_region_locked(struct sat_tree *t, struct sat_region *r,
			     struct node **out)
{
	struct node *root = t->nodes[0], *n;

	n = new_node_locked(t, SAT_NODE_REGION, root, r->name);
	if (!n || add_kid_locked(root, n)) {
		sat_region_free(r);
		return -ENOMEM;
	}
	n->region = r;
	if (out)
		*out = n;
	return 0;
}

static void load_remembered_regions(struct sat_tree *t)
{
	char path[4096], line[512];
	struct sat_region *r;
	FILE *f;

	snprintf(path, sizeof(path), "%s/regions", sat_cache_dir(t->cache));
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (find_kid_locked(t->nodes[0], line) ||
		    sat_region_parse_name(&r, line) != 0)
			continue;
		add_region_locked(t, r, NULL);
	}
	fclose(f);
}

static struct sat_region *copy_region(const struct sat_region *src)
{
	struct sat_region *r;
	char msg[128];

	if (sat_region_new_polygon(&r, src->name, src->ring, src->nring, msg,
				   sizeof(msg)) != 0)
		return NULL;
	r->has_dates = src->has_dates;
	r->date_from = src->date_from;
	r->date_to = src->date_to;
	return r;
}

int sat_tree_new(struct sat_tree **out, const struct sat_config *cfg,
		 struct sat_catalog *cat, struct sat_cache *cache)
{
	struct sat_tree *t = calloc(1, sizeof(*t));
	size_t i;

	*out = NULL;
	if (!t)
		return -ENOMEM;
	t->cfg = cfg;
	t->cat = cat;
	t->cache = cache;
	t->mount_time = time(NULL);
	pthread_mutex_init(&t->lock, NULL);
	if (!new_node_locked(t, SAT_NODE_ROOT, NULL, "")) {
		sat_tree_free(t);
		return -ENOMEM;
	}
	for (i = 0; i < cfg->nregions; i++) {
		struct sat_region *r = copy_region(cfg->regions[i]);

		if (!r || add_region_locked(t, r, NULL)) {
			sat_tree_free(t);
			return -ENOMEM;
		}
	}
	load_remembered_regions(t);
	*out = t;
	return 0;
}

void sat_tree_free(struct sat_tree *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->nnodes; i++) {
		struct node *n = t->nodes[i];

		if (n->kind == SAT_NODE_REGION) {
			sat_region_free(n->region);
			pthread_mutex_destroy(&n->load_lock);
			free(n->tifs);
		}
		sat_render_plan_free(n->plan);
		free(n->kids);
		free(n->name);
		free(n);
	}
	for (i = 0; i < t->nlistings; i++)
		sat_listing_unref(t->listings[i]);
	for (i = 0; i < t->nplans; i++)
		sat_render_plan_free(t->plans[i]);
	free(t->plans);
	free(t->listings);
	free(t->nodes);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

int sat_tree_getattr(struct sat_tree *t, uint64_t ino, struct sat_attr *out)
{
	struct node *n;

	pthread_mutex_lock(&t->lock);
	n = node_locked(t, ino);
	if (n)
		fill_attr(n, out);
	pthread_mutex_unlock(&t->lock);
	return n ? 0 : -ENOENT;
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
	n = node_locked(t, ino);
	ready = !n || n->kind != SAT_NODE_REGION || listing_fresh(t, n);
	pthread_mutex_unlock(&t->lock);
	return ready;
}

/* Plans for every scene x product of a listing: CPU only, no lock. */
static struct sat_render_plan **make_plans(struct sat_tree *t,
					   const struct sat_region *r,
					   const struct sat_listing *l)
{
	size_t np = t->cfg->nproducts, i, j;
	struct sat_render_plan **plans = calloc(l->n * np + 1, sizeof(*plans));

	if (!plans)
		return NULL;
	for (i = 0; i < l->n; i++)
		for (j = 0; j < np; j++)
			sat_render_plan_new(&plans[i * np + j], l->scenes[i],
					    t->cfg->products[j], r,
					    t->cfg->offset_mode);
	return plans;
}

static struct node *get_or_add_kid_locked(struct sat_tree *t, struct node *dir,
					  enum sat_node_kind kind,
					  const char *name, bool *fresh)
{
	struct node *n = find_kid_locked(dir, name);

	*fresh = false;
	if (n)
		return n;
	n = new_node_locked(t, kind, dir, name);
	if (!n || add_kid_locked(dir, n))
		return NULL;
	*fresh = true;
	return n;
}

/* Drops from dir's view the children not seen in generation gen. */
static void prune_kids_locked(struct node *dir, unsigned gen)
{
	size_t i, k = 0;

	for (i = 0; i < dir->nkids; i++)
		if (dir->kids[i]->gen == gen)
			dir->kids[k++] = dir->kids[i];
	dir->nkids = k;
}

/* Gives file node f the plan p, keeping any plan it had alive (a render
 * may be using it) in t->plans. */
static int set_plan_locked(struct sat_tree *t, struct node *f,
			   struct sat_render_plan *p)
{
	struct sat_render_plan **pv;

	if (!f->plan) {
		f->plan = p;
		return 0;
	}
	pv = realloc(t->plans, (t->nplans + 1) * sizeof(*pv));
	if (!pv) {
		sat_render_plan_free(p);
		return -ENOMEM;
	}
	t->plans = pv;
	if (strcmp(f->plan->key, p->key) == 0) {
		t->plans[t->nplans++] = p;
	} else {
		t->plans[t->nplans++] = f->plan;
		f->plan = p;
	}
	return 0;
}

/* Replaces a region's children with those of listing l, reusing the nodes
 * (and so the inodes) of names still present; takes ownership of l's
 * reference and of plans. */
static int attach_listing_locked(struct sat_tree *t, struct node *reg,
				 struct sat_listing *l,
				 struct sat_render_plan **plans)
{
	size_t np = t->cfg->nproducts, i, j;
	unsigned gen = ++t->generation;
	struct sat_listing **lv;
	struct node **tifs;
	char name[512];
	bool fresh;

	lv = realloc(t->listings, (t->nlistings + 1) * sizeof(*lv));
	if (lv)
		t->listings = lv;
	tifs = calloc(l->n * np + 1, sizeof(*tifs));
	if (!lv || !tifs) {
		free(tifs);
		sat_listing_unref(l);
		for (i = 0; i < l->n * np; i++)
			sat_render_plan_free(plans[i]);
		return -ENOMEM;
	}
	t->listings[t->nlistings++] = l;

	for (i = 0; i < l->n; i++) {
		const struct sat_scene *s = l->scenes[i];
		struct node *date, *f;

		date = get_or_add_kid_locked(t, reg, SAT_NODE_DATE, s->date,
					     &fresh);
		if (!date)
			goto nomem;
		if (date->gen != gen)
			date->mtime = 0;
		date->gen = gen;
		if (s->datetime > date->mtime)
			date->mtime = s->datetime;

		snprintf(name, sizeof(name), "%s.json", s->file_id);
		f = get_or_add_kid_locked(t, date, SAT_NODE_JSON, name, &fresh);
		if (!f)
			goto nomem;
		f->gen = gen;
		f->scene = s;
		f->size = s->json_len;
		f->mtime = s->datetime;
		f->order = i;

		for (j = 0; j < np; j++) {
			struct sat_render_plan *p = plans[i * np + j];

			plans[i * np + j] = NULL;
			if (!p)
				continue;
			snprintf(name, sizeof(name), "%s.%s.tif", s->file_id,
				 t->cfg->products[j]->name);
			f = get_or_add_kid_locked(t, date, SAT_NODE_TIF, name,
						  &fresh);
			if (!f) {
				sat_render_plan_free(p);
				goto nomem;
			}
			if (set_plan_locked(t, f, p))
				goto nomem;
			f->gen = gen;
			f->size = f->plan->size_bytes;
			f->mtime = s->datetime;
			f->scene = s;
			f->order = i;
			f->product = j;
			tifs[i * np + j] = f;
		}
	}
	prune_kids_locked(reg, gen);
	for (i = 0; i < reg->nkids; i++)
		prune_kids_locked(reg->kids[i], gen);
	free(reg->tifs);
	reg->tifs = tifs;
	reg->ntifs = l->n * np;
	reg->listing = l;
	return 0;
nomem:
	free(tifs);
	for (i = 0; i < l->n * np; i++)
		sat_render_plan_free(plans[i]);
	return -ENOMEM;
}

/* Makes sure region reg has a listing; searches when it has none or
 * (when want_fresh) an expired one. Blocks. */
static int load_region(struct sat_tree *t, struct node *reg, bool want_fresh)
{
	struct sat_listing *l = NULL;
	struct sat_render_plan **plans;
	bool ok;
	int err = 0;

	pthread_mutex_lock(&reg->load_lock);
	pthread_mutex_lock(&t->lock);
	ok = reg->listing && (!want_fresh || listing_fresh(t, reg));
	pthread_mutex_unlock(&t->lock);
	if (ok)
		goto out;
	err = sat_catalog_list(t->cat, reg->region, &l);
	if (err == -ENETDOWN)
		err = -EIO; /* offline, not cached: as any catalog failure */
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
	plans = make_plans(t, reg->region, l);
	if (!plans) {
		sat_listing_unref(l);
		err = -ENOMEM;
		goto out;
	}
	pthread_mutex_lock(&t->lock);
	err = attach_listing_locked(t, reg, l, plans);
	pthread_mutex_unlock(&t->lock);
	free(plans);
out:
	pthread_mutex_unlock(&reg->load_lock);
	return err;
}

int sat_tree_lookup(struct sat_tree *t, uint64_t parent, const char *name,
		    struct sat_attr *out)
{
	struct sat_region *r;
	struct node *dir, *n;
	int err;

	pthread_mutex_lock(&t->lock);
	dir = node_locked(t, parent);
	if (!dir) {
		pthread_mutex_unlock(&t->lock);
		return -ENOENT;
	}
	if (dir->kind == SAT_NODE_TIF || dir->kind == SAT_NODE_JSON) {
		pthread_mutex_unlock(&t->lock);
		return -ENOTDIR;
	}
	n = find_kid_locked(dir, name);
	if (n || dir->kind == SAT_NODE_DATE ||
	    (dir->kind == SAT_NODE_REGION && dir->listing)) {
		if (n)
			fill_attr(n, out);
		pthread_mutex_unlock(&t->lock);
		return n ? 0 : -ENOENT;
	}
	pthread_mutex_unlock(&t->lock);

	if (dir->kind == SAT_NODE_REGION) {
		/* not listed yet: list it (blocks), then look again */
		err = load_region(t, dir, false);
		if (err)
			return err;
		pthread_mutex_lock(&t->lock);
		n = find_kid_locked(dir, name);
		if (n)
			fill_attr(n, out);
		pthread_mutex_unlock(&t->lock);
		return n ? 0 : -ENOENT;
	}

	/* The root: an ad-hoc region, or nothing. Parsing needs no network,
	 * so probes like .Trash or autorun.inf end here. */
	if (sat_region_parse_name(&r, name) != 0)
		return -ENOENT;
	pthread_mutex_lock(&t->lock);
	n = find_kid_locked(dir, name);
	if (n) {
		sat_region_free(r);
		fill_attr(n, out);
		pthread_mutex_unlock(&t->lock);
		return 0;
	}
	err = add_region_locked(t, r, &n);
	if (!err)
		fill_attr(n, out);
	pthread_mutex_unlock(&t->lock);
	if (!err) {
		sat_info("tree: new region %s", name);
		remember_region(t, name);
	}
	return err;
}

int sat_tree_list(struct sat_tree *t, uint64_t ino, struct sat_dirent **out,
		  size_t *n)
{
	struct sat_dirent *d = NULL;
	struct node *dir;
	size_t i;
	int err;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&t->lock);
	dir = node_locked(t, ino);
	pthread_mutex_unlock(&t->lock);
	if (!dir)
		return -ENOENT;
	if (dir->kind == SAT_NODE_TIF || dir->kind == SAT_NODE_JSON)
		return -ENOTDIR;
	if (dir->kind == SAT_NODE_REGION) {
		err = load_region(t, dir, true);
		if (err)
			return err;
	}
	pthread_mutex_lock(&t->lock);
	d = calloc(dir->nkids + 1, sizeof(*d));
	if (!d) {
		pthread_mutex_unlock(&t->lock);
		return -ENOMEM;
	}
	for (i = 0; i < dir->nkids; i++) {
		d[i].name = strdup(dir->kids[i]->name);
		fill_attr(dir->kids[i], &d[i].attr);
		if (!d[i].name) {
			pthread_mutex_unlock(&t->lock);
			sat_tree_dirents_free(d, i);
			return -ENOMEM;
		}
	}
	*n = dir->nkids;
	pthread_mutex_unlock(&t->lock);
	*out = d;
	return 0;
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

int sat_tree_file(struct sat_tree *t, uint64_t ino,
		  struct sat_render_plan **plan, const char **json,
		  size_t *json_len)
{
	struct node *n;
	int err = 0;

	if (plan)
		*plan = NULL;
	if (json)
		*json = NULL;
	pthread_mutex_lock(&t->lock);
	n = node_locked(t, ino);
	if (!n)
		err = -ENOENT;
	else if (n->kind == SAT_NODE_TIF && plan)
		*plan = n->plan;
	else if (n->kind == SAT_NODE_JSON && json) {
		*json = n->scene->json;
		*json_len = n->scene->json_len;
	} else if (n->kind != SAT_NODE_TIF && n->kind != SAT_NODE_JSON)
		err = -EISDIR;
	pthread_mutex_unlock(&t->lock);
	return err;
}

size_t sat_tree_next_plans(struct sat_tree *t, uint64_t ino, size_t max,
			   struct sat_render_plan **out)
{
	size_t np = t->cfg->nproducts, got = 0, i;
	struct node *n, *reg;

	pthread_mutex_lock(&t->lock);
	n = node_locked(t, ino);
	reg = n && n->kind == SAT_NODE_TIF ? region_of(n) : NULL;
	if (reg && reg->listing && n->scene &&
	    n->order < reg->listing->n && reg->listing->scenes[n->order] ==
						  n->scene) {
		for (i = n->order + 1; i < reg->listing->n && got < max; i++) {
			struct node *f = reg->tifs[i * np + n->product];

			if (f && f->plan)
				out[got++] = f->plan;
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
	for (n = node_locked(t, ino); n && n->parent && depth < 4;
	     n = n->parent)
		parts[depth++] = n->name;
	while (depth-- > 0 && off < len)
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
					parts[depth], depth ? "/" : "");
	pthread_mutex_unlock(&t->lock);
}

int sat_tree_refresh(struct sat_tree *t, uint64_t ino)
{
	struct node *n, *reg;

	pthread_mutex_lock(&t->lock);
	n = node_locked(t, ino);
	reg = region_of(n);
	if (reg)
		reg->listing = NULL; /* stays alive in t->listings */
	pthread_mutex_unlock(&t->lock);
	if (!reg)
		return n ? -EINVAL : -ENOENT;
	sat_catalog_refresh(t->cat, reg->region);
	return 0;
}

void sat_tree_for_each_file(struct sat_tree *t, sat_tree_file_fn fn,
			    void *payload)
{
	char path[1024];
	size_t i;

	pthread_mutex_lock(&t->lock);
	for (i = 0; i < t->nnodes; i++) {
		struct node *n = t->nodes[i], *date, *reg;

		if (n->kind != SAT_NODE_TIF || !n->plan)
			continue;
		date = n->parent;
		reg = date ? date->parent : NULL;
		if (!reg)
			continue;
		snprintf(path, sizeof(path), "%s/%s/%s", reg->name, date->name,
			 n->name);
		fn(n->plan->key, path, payload);
	}
	pthread_mutex_unlock(&t->lock);
}
