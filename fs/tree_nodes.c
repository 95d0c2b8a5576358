/*
 * tree_nodes: the inode table and the lives of the tree's nodes; see
 * fs/tree_private.h for who holds a node and the locking.
 *
 * The table is chained hashing on the inode number, grown at a load of
 * one; numbers come from a counter and are never reused, so the kernel
 * can never mistake a new node for one it still remembers.
 */
#include "tree_private.h"
#include "satfs/catalog.h"
#include "satfs/log.h"
#include "satfs/region.h"
#include "satfs/render.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_MIN 256

static size_t bucket(const struct sat_tree *t, uint64_t ino)
{
	/* a Fibonacci hash: consecutive numbers spread over the buckets */
	return (size_t)((ino * 11400714819323198485ull) >> 20) &
	       (t->nbuckets - 1);
}

int sat_tree_table_init(struct sat_tree *t)
{
	t->table = calloc(TABLE_MIN, sizeof(*t->table));
	if (!t->table)
		return -ENOMEM;
	t->nbuckets = TABLE_MIN;
	t->next_ino = SAT_TREE_ROOT_INO;
	return 0;
}

static void table_grow_locked(struct sat_tree *t)
{
	size_t old = t->nbuckets, i;
	struct node **ov = t->table, **nv, *n, *next;

	nv = calloc(old * 2, sizeof(*nv));
	if (!nv)
		return; /* longer chains, still correct */
	t->table = nv;
	t->nbuckets = old * 2;
	for (i = 0; i < old; i++) {
		for (n = ov[i]; n; n = next) {
			size_t b = bucket(t, n->ino);

			next = n->hnext;
			n->hnext = nv[b];
			nv[b] = n;
		}
	}
	free(ov);
}

struct node *sat_tree_node_locked(struct sat_tree *t, uint64_t ino)
{
	struct node *n;

	if (ino == 0)
		return NULL;
	for (n = t->table[bucket(t, ino)]; n; n = n->hnext)
		if (n->ino == ino)
			return n;
	return NULL;
}

static void table_remove_locked(struct sat_tree *t, struct node *n)
{
	struct node **pp;

	for (pp = &t->table[bucket(t, n->ino)]; *pp; pp = &(*pp)->hnext) {
		if (*pp == n) {
			*pp = n->hnext;
			t->nnodes--;
			return;
		}
	}
}

struct node *sat_tree_new_node_locked(struct sat_tree *t,
				      enum sat_node_kind kind,
				      struct node *parent, const char *name)
{
	struct node *n = calloc(1, sizeof(*n));
	size_t b;

	if (!n || !(n->name = strdup(name))) {
		free(n);
		return NULL;
	}
	if (t->nnodes >= t->nbuckets)
		table_grow_locked(t);
	n->kind = kind;
	n->parent = parent;
	if (parent)
		parent->nchildren++;
	n->mtime = t->mount_time;
	n->ino = t->next_ino++;
	if (kind == SAT_NODE_REGION)
		pthread_mutex_init(&n->load_lock, NULL);
	b = bucket(t, n->ino);
	n->hnext = t->table[b];
	t->table[b] = n;
	t->nnodes++;
	return n;
}

static int kid_cmp(const void *a, const void *b)
{
	const struct node *x = *(struct node *const *)a;
	const struct node *y = *(struct node *const *)b;

	return strcmp(x->name, y->name);
}

struct node *sat_tree_find_kid_locked(const struct node *dir,
				      const char *name)
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

int sat_tree_attach_locked(struct node *dir, struct node *kid)
{
	struct node **kv = realloc(dir->kids, (dir->nkids + 1) * sizeof(*kv));

	if (!kv)
		return -ENOMEM;
	dir->kids = kv;
	dir->kids[dir->nkids++] = kid;
	kid->attached = true;
	if (dir->nkids > 1 &&
	    strcmp(dir->kids[dir->nkids - 2]->name, kid->name) > 0)
		qsort(dir->kids, dir->nkids, sizeof(*dir->kids), kid_cmp);
	return 0;
}

/* Takes n out of the table, tells its parent, and queues it for freeing. */
static void node_gone_locked(struct sat_tree *t, struct node *n,
			     struct node_trash *trash)
{
	table_remove_locked(t, n);
	n->hnext = trash->head;
	trash->head = n;
}

void sat_tree_release_locked(struct sat_tree *t, struct node *n,
			     struct node_trash *trash)
{
	while (n && !n->gone && !n->permanent && !n->attached &&
	       n->nlookup == 0 && n->nchildren == 0 && n->pins == 0) {
		struct node *parent = n->parent;

		n->gone = true;
		node_gone_locked(t, n, trash);
		n->parent = NULL;
		if (!parent)
			break;
		parent->nchildren--;
		n = parent;
	}
}

/* Detaches every child of dir (and theirs: a tree three levels deep at
 * most), freeing those nothing else holds. dir is pinned meanwhile, so
 * that its children going cannot take it along while it is being walked;
 * the caller releases it. */
static void detach_kids_locked(struct sat_tree *t, struct node *dir,
			       struct node_trash *trash)
{
	size_t i;

	dir->pins++;
	for (i = 0; i < dir->nkids; i++) {
		struct node *k = dir->kids[i];

		k->attached = false;
		if (k->nkids)
			detach_kids_locked(t, k, trash);
		sat_tree_release_locked(t, k, trash);
	}
	free(dir->kids);
	dir->kids = NULL;
	dir->nkids = 0;
	dir->pins--;
	if (dir->kind == SAT_NODE_REGION) {
		free(dir->tifs);
		free(dir->pngs);
		dir->tifs = dir->pngs = NULL;
		dir->ntifs = 0;
	}
}

void sat_tree_detach_locked(struct sat_tree *t, struct node *n,
			    struct node_trash *trash)
{
	struct node *dir = n->parent;
	size_t i, k = 0;

	if (dir && n->attached) {
		for (i = 0; i < dir->nkids; i++)
			if (dir->kids[i] != n)
				dir->kids[k++] = dir->kids[i];
		dir->nkids = k;
	}
	n->attached = false;
	detach_kids_locked(t, n, trash);
	sat_tree_release_locked(t, n, trash);
}

void sat_tree_prune_locked(struct sat_tree *t, struct node *dir, unsigned gen,
			   struct node_trash *trash)
{
	size_t i, k = 0, n = dir->nkids;
	struct node **gone = NULL;
	size_t ngone = 0;

	for (i = 0; i < n; i++)
		if (dir->kids[i]->gen != gen)
			ngone++;
	if (!ngone)
		return;
	gone = malloc(ngone * sizeof(*gone));
	ngone = 0;
	dir->pins++;
	for (i = 0; i < n; i++) {
		struct node *c = dir->kids[i];

		if (c->gen == gen)
			dir->kids[k++] = c;
		else if (gone)
			gone[ngone++] = c;
		else
			c->attached = false; /* no memory: at least unlist */
	}
	dir->nkids = k;
	for (i = 0; i < ngone; i++) {
		gone[i]->attached = false;
		detach_kids_locked(t, gone[i], trash);
		sat_tree_release_locked(t, gone[i], trash);
	}
	free(gone);
	dir->pins--;
}

static void node_free(struct node *n)
{
	if (n->kind == SAT_NODE_REGION) {
		sat_region_free(n->region);
		pthread_mutex_destroy(&n->load_lock);
		free(n->tifs);
		free(n->pngs);
		sat_listing_unref(n->listing);
		free(n->error);
	}
	sat_render_plan_unref(n->plan);
	sat_listing_unref(n->scene_of);
	free(n->kids);
	free(n->name);
	free(n);
}

void sat_tree_trash_plan(struct node_trash *trash, struct sat_render_plan *p)
{
	struct sat_render_plan **v;

	if (!p)
		return;
	if (trash->nplans == trash->plans_cap) {
		size_t cap = trash->plans_cap ? 2 * trash->plans_cap : 16;

		v = realloc(trash->plans, cap * sizeof(*v));
		if (!v) {
			sat_render_plan_unref(p);
			return;
		}
		trash->plans = v;
		trash->plans_cap = cap;
	}
	trash->plans[trash->nplans++] = p;
}

void sat_tree_trash_listing(struct node_trash *trash, struct sat_listing *l)
{
	struct sat_listing **v;

	if (!l)
		return;
	if (trash->nlistings == trash->listings_cap) {
		size_t cap = trash->listings_cap ? 2 * trash->listings_cap : 16;

		v = realloc(trash->listings, cap * sizeof(*v));
		if (!v) {
			sat_listing_unref(l);
			return;
		}
		trash->listings = v;
		trash->listings_cap = cap;
	}
	trash->listings[trash->nlistings++] = l;
}

void sat_tree_trash_empty(struct node_trash *trash)
{
	struct node *n, *next;
	size_t i;

	for (n = trash->head; n; n = next) {
		next = n->hnext;
		node_free(n);
	}
	trash->head = NULL;
	for (i = 0; i < trash->nplans; i++)
		sat_render_plan_unref(trash->plans[i]);
	for (i = 0; i < trash->nlistings; i++)
		sat_listing_unref(trash->listings[i]);
	free(trash->plans);
	free(trash->listings);
	memset(trash, 0, sizeof(*trash));
}

void sat_tree_fill_attr(const struct node *n, struct sat_attr *a)
{
	a->ino = n->ino;
	a->kind = n->kind;
	a->size = n->size;
	/* status files are made when opened: their time is now */
	a->mtime = n->kind == SAT_NODE_CTL_DIR || n->kind == SAT_NODE_CTL_FILE
			   ? time(NULL)
			   : n->mtime;
}

int sat_tree_count_lookup(struct sat_tree *t, uint64_t ino)
{
	struct node *n;

	pthread_mutex_lock(&t->lock);
	n = sat_tree_node_locked(t, ino);
	if (n)
		n->nlookup++;
	pthread_mutex_unlock(&t->lock);
	return n ? 0 : -ENOENT;
}

void sat_tree_forget(struct sat_tree *t, uint64_t ino, uint64_t nlookup)
{
	struct node_trash trash = { 0 };
	struct node *n;

	pthread_mutex_lock(&t->lock);
	n = sat_tree_node_locked(t, ino);
	if (n) {
		n->nlookup = nlookup < n->nlookup ? n->nlookup - nlookup : 0;
		sat_tree_release_locked(t, n, &trash);
	}
	pthread_mutex_unlock(&t->lock);
	sat_tree_trash_empty(&trash);
}

void sat_tree_free_nodes(struct sat_tree *t)
{
	size_t i;

	for (i = 0; t->table && i < t->nbuckets; i++) {
		struct node *n, *next;

		for (n = t->table[i]; n; n = next) {
			next = n->hnext;
			node_free(n);
		}
	}
	free(t->table);
	t->table = NULL;
}

void sat_tree_get_stats(struct sat_tree *t, struct sat_tree_stats *st)
{
	pthread_mutex_lock(&t->lock);
	st->nodes = t->nnodes;
	st->adhoc_regions = t->nadhoc;
	pthread_mutex_unlock(&t->lock);
}

bool sat_node_is_dir(enum sat_node_kind k)
{
	return k == SAT_NODE_ROOT || k == SAT_NODE_REGION ||
	       k == SAT_NODE_DATE || k == SAT_NODE_CTL_DIR;
}
