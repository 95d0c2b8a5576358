/*
 * catalog: see include/satfs/catalog.h.
 *
 * The catalog keeps listings; the source (include/satfs/source.h) makes
 * them, page by page.
 *
 * Threading: cat->lock protects the entry list. A search runs without the
 * lock; an entry marked `filling`
 * makes later callers for the same key wait on cat->cond instead of
 * searching again, and they survive the filler failing (they get its
 * error, or the stale listing).
 *
 * The disk copy of a listing is the raw result pages, re-parsed on load,
 * so that a remount filters them with the same code as a live search.
 */
#include "satfs/catalog.h"
#include "satfs/cache.h"
#include "satfs/config.h"
#include "satfs/log.h"
#include "satfs/region.h"
#include "satfs/source.h"
#include "satfs/stac.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LISTING_MAGIC "satfs-listing 1"

struct entry {
	struct entry *next;
	char key[SAT_HASH_HEX];
	struct sat_listing *listing; /* NULL until first filled */
	bool filling;
};

struct sat_catalog {
	const struct sat_config *cfg;
	struct sat_cache *cache;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct entry *entries;     /* protected by lock */
	struct sat_source *src;    /* borrowed: outlives the catalog */
};

/* Raw pages of one search, kept for the disk cache. */
struct pages {
	char **body;
	size_t *len;
	size_t n;
};

static void pages_clear(struct pages *p)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		free(p->body[i]);
	free(p->body);
	free(p->len);
	memset(p, 0, sizeof(*p));
}

static int pages_add(struct pages *p, char *body, size_t len)
{
	char **b = realloc(p->body, (p->n + 1) * sizeof(*b));
	size_t *l;

	if (!b)
		return -ENOMEM;
	p->body = b;
	l = realloc(p->len, (p->n + 1) * sizeof(*l));
	if (!l)
		return -ENOMEM;
	p->len = l;
	p->body[p->n] = body;
	p->len[p->n] = len;
	p->n++;
	return 0;
}

void sat_listing_ref(struct sat_listing *l)
{
	__atomic_add_fetch(&l->refs, 1, __ATOMIC_RELAXED);
}

void sat_listing_unref(struct sat_listing *l)
{
	size_t i;

	if (!l || __atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (i = 0; i < l->n; i++)
		sat_scene_free(l->scenes[i]);
	free(l->scenes);
	free(l);
}

int sat_catalog_new(struct sat_catalog **out, const struct sat_config *cfg,
		    struct sat_source *src, struct sat_cache *cache)
{
	struct sat_catalog *cat = calloc(1, sizeof(*cat));

	*out = NULL;
	if (!cat)
		return -ENOMEM;
	cat->cfg = cfg;
	cat->src = src;
	cat->cache = cache;
	pthread_mutex_init(&cat->lock, NULL);
	pthread_cond_init(&cat->cond, NULL);
	*out = cat;
	return 0;
}

void sat_catalog_free(struct sat_catalog *cat)
{
	struct entry *e, *next;

	if (!cat)
		return;
	for (e = cat->entries; e; e = next) {
		next = e->next;
		sat_listing_unref(e->listing);
		free(e);
	}
	pthread_cond_destroy(&cat->cond);
	pthread_mutex_destroy(&cat->lock);
	free(cat);
}

static void region_dates(const struct sat_catalog *cat,
			 const struct sat_region *r, time_t *from, time_t *to)
{
	*from = r->has_dates ? r->date_from : cat->cfg->dates_from;
	*to = r->has_dates ? r->date_to : cat->cfg->dates_to;
}

/* Everything that decides a search's answer, and nothing else. */
static void listing_key(const struct sat_catalog *cat,
			const struct sat_region *r, char key[SAT_HASH_HEX])
{
	struct sat_hash h;
	time_t from, to;
	size_t i;

	region_dates(cat, r, &from, &to);
	sat_hash_init(&h);
	sat_hash_add_str(&h, LISTING_MAGIC);
	cat->src->ops->identity(cat->src, &h);
	for (i = 0; i < 2 * r->nring; i++)
		sat_hash_add_double(&h, r->ring[i]);
	sat_hash_add_double(&h, (double)from);
	sat_hash_add_double(&h, (double)to);
	sat_hash_add_double(&h, cat->cfg->max_cloud);
	sat_hash_add_double(&h, cat->cfg->max_items);
	sat_hash_final(&h, key);
}

static int scene_cmp(const void *a, const void *b)
{
	const struct sat_scene *x = *(struct sat_scene *const *)a;
	const struct sat_scene *y = *(struct sat_scene *const *)b;

	if (x->datetime != y->datetime)
		return x->datetime < y->datetime ? -1 : 1;
	return strcmp(x->file_id, y->file_id);
}

static bool scene_has_crs(const struct sat_scene *s)
{
	size_t i;

	if (s->epsg)
		return true;
	for (i = 0; i < s->nassets; i++)
		if (s->assets[i].epsg)
			return true;
	return false;
}

/* Our own filter on top of the server's: real servers ignore what they
 * do not support (see the Earth Search pages in tests/data/stac). Takes
 * ownership of items; keeps the valid ones in the listing. */
static struct sat_listing *filter_items(struct sat_catalog *cat,
					const struct sat_region *r,
					struct sat_scene **items, size_t n)
{
	const struct sat_config *cfg = cat->cfg;
	struct sat_listing *l = calloc(1, sizeof(*l));
	time_t from, to;
	size_t i, j, kept = 0;


	if (!l || !(l->scenes = calloc(n ? n : 1, sizeof(*l->scenes)))) {
		for (i = 0; i < n; i++)
			sat_scene_free(items[i]);
		free(l);
		return NULL;
	}
	region_dates(cat, r, &from, &to);
	for (i = 0; i < n; i++) {
		struct sat_scene *s = items[i];
		const char *why = NULL;

		if (s->datetime < from || s->datetime > to)
			why = "outside the date range";
		else if (cfg->max_cloud < 100 && s->has_cloud &&
			 s->cloud_cover >= cfg->max_cloud)
			why = "too cloudy"; /* 100 keeps every scene */
		else if (s->collection &&
			 strcmp(s->collection, cfg->collection) != 0)
			why = "of another collection";
		else if ((s->bbox[0] || s->bbox[2]) &&
			 (s->bbox[2] < r->bbox[0] || s->bbox[0] > r->bbox[2] ||
			  s->bbox[3] < r->bbox[1] || s->bbox[1] > r->bbox[3]))
			why = "outside the region";
		if (why) {
			sat_debug("catalog: %s: item %s dropped: %s", r->name,
				  s->id, why);
			sat_scene_free(s);
			items[i] = NULL;
		}
	}
	/* what the catalog did not say, for the items kept (the source may
	 * read their files' headers) */
	for (i = j = 0; i < n; i++)
		if (items[i])
			items[j++] = items[i];
	n = j;
	if (cat->src->ops->prepare && n)
		cat->src->ops->prepare(cat->src, items, n);
	for (i = 0; i < n; i++) {
		struct sat_scene *s = items[i];

		if (!scene_has_crs(s)) {
			sat_warn("catalog: %s: item %s skipped: unknown CRS "
				 "(no proj:epsg or proj:code, and no GeoTIFF "
				 "asset whose header gives one)", r->name,
				 s->id);
			sat_scene_free(s);
			continue;
		}
		for (j = 0; j < kept; j++)
			if (strcmp(l->scenes[j]->file_id, s->file_id) == 0)
				break;
		if (j < kept) {
			sat_warn("catalog: %s: duplicate item id %s skipped",
				 r->name, s->id);
			sat_scene_free(s);
			continue;
		}
		if (kept == (size_t)cfg->max_items) {
			sat_warn("catalog: %s: more than %d items; listing "
				 "cut (max_items)", r->name, cfg->max_items);
			for (j = i; j < n; j++)
				sat_scene_free(items[j]);
			break;
		}
		l->scenes[kept++] = s;
	}
	free(items);
	l->n = kept;
	qsort(l->scenes, l->n, sizeof(*l->scenes), scene_cmp);
	l->refs = 1;
	return l;
}

static struct sat_listing *parse_pages(struct sat_catalog *cat,
				       const struct sat_region *r,
				       const struct pages *p)
{
	struct sat_scene **items = NULL;
	size_t nitems = 0, skipped = 0, i;

	for (i = 0; i < p->n; i++)
		cat->src->ops->parse_page(cat->src, p->body[i], p->len[i],
					  &items, &nitems, &skipped);
	return filter_items(cat, r, items, nitems);
}

static int save_pages(struct sat_catalog *cat, const char *key,
		      const struct pages *p, time_t fetched_at)
{
	size_t total = 64, i, off;
	char *buf;
	int err;

	for (i = 0; i < p->n; i++)
		total += p->len[i] + 24;
	buf = malloc(total);
	if (!buf)
		return -ENOMEM;
	off = (size_t)snprintf(buf, total, "%s %" PRId64 " %zu\n",
			       LISTING_MAGIC, (int64_t)fetched_at, p->n);
	for (i = 0; i < p->n; i++) {
		off += (size_t)snprintf(buf + off, total - off, "%zu\n",
					p->len[i]);
		memcpy(buf + off, p->body[i], p->len[i]);
		off += p->len[i];
		buf[off++] = '\n';
	}
	err = sat_cache_write(cat->cache, SAT_CACHE_LISTING, key, buf, off);
	free(buf);
	return err;
}

/* Loads a listing saved by save_pages. -ENOENT when absent, -EINVAL when
 * damaged (then it is removed). */
static int load_pages(struct sat_catalog *cat, const char *key,
		      struct pages *p, time_t *fetched_at)
{
	char *data, *cur, *end, magic[32];
	size_t len, npages, i, plen;
	int64_t at;
	int err, used = 0;

	memset(p, 0, sizeof(*p));
	err = sat_cache_read(cat->cache, SAT_CACHE_LISTING, key, &data, &len,
			     NULL);
	if (err)
		return err;
	end = data + len;
	if (sscanf(data, "%31[a-z-] 1 %" SCNd64 " %zu\n%n", magic, &at,
		   &npages, &used) != 3 || used == 0 ||
	    strcmp(magic, "satfs-listing") != 0)
		goto bad;
	cur = data + used;
	for (i = 0; i < npages; i++) {
		char *nl = memchr(cur, '\n', (size_t)(end - cur)), *body;

		if (!nl || sscanf(cur, "%zu", &plen) != 1 ||
		    plen > (size_t)(end - nl - 1))
			goto bad;
		body = malloc(plen + 1);
		if (!body) {
			pages_clear(p);
			free(data);
			return -ENOMEM;
		}
		memcpy(body, nl + 1, plen);
		body[plen] = '\0';
		if (pages_add(p, body, plen)) {
			free(body);
			pages_clear(p);
			free(data);
			return -ENOMEM;
		}
		cur = nl + 1 + plen + 1;
		if (cur > end)
			goto bad;
	}
	*fetched_at = (time_t)at;
	free(data);
	return 0;
bad:
	sat_warn("catalog: damaged listing cache entry %s removed", key);
	sat_cache_remove(cat->cache, SAT_CACHE_LISTING, key);
	pages_clear(p);
	free(data);
	return -EINVAL;
}

/* Keeps a raw page for the disk cache; owns body from here on. */
static int page_add(void *arg, char *body, size_t len)
{
	int err = pages_add(arg, body, len);

	if (err)
		free(body);
	return err;
}

/* Asks the source; raw pages into p, scenes into *out / *nout. */
static int search(struct sat_catalog *cat, const struct sat_region *r,
		  struct pages *p, struct sat_scene ***out, size_t *nout)
{
	/* 100 % keeps every scene, those without a cloud cover too: no
	 * filter for the server at all */
	struct sat_search q = { .region = r,
				.max_cloud = cat->cfg->max_cloud < 100
						     ? cat->cfg->max_cloud
						     : -1,
				.max_items = cat->cfg->max_items };
	size_t i;
	int err;

	memset(p, 0, sizeof(*p));
	*out = NULL;
	*nout = 0;
	region_dates(cat, r, &q.from, &q.to);
	err = cat->src->ops->search(cat->src, &q, page_add, p, out, nout);
	if (err) {
		for (i = 0; i < *nout; i++)
			sat_scene_free((*out)[i]);
		free(*out);
		*out = NULL;
		*nout = 0;
		pages_clear(p);
	}
	return err;
}

static struct entry *find_entry_locked(struct sat_catalog *cat,
				       const char *key)
{
	struct entry *e;

	for (e = cat->entries; e; e = e->next)
		if (strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

static bool is_fresh(const struct sat_catalog *cat,
		     const struct sat_listing *l)
{
	return l && (cat->cfg->offline ||
		     time(NULL) - l->fetched_at < cat->cfg->listing_ttl_s);
}

bool sat_catalog_is_fresh(struct sat_catalog *cat, const struct sat_region *r)
{
	char key[SAT_HASH_HEX];
	struct entry *e;
	bool fresh;

	listing_key(cat, r, key);
	pthread_mutex_lock(&cat->lock);
	e = find_entry_locked(cat, key);
	fresh = e && !e->filling && is_fresh(cat, e->listing);
	pthread_mutex_unlock(&cat->lock);
	return fresh;
}

/* Produces a listing from disk or network; called by the filler only. */
static int fill(struct sat_catalog *cat, const struct sat_region *r,
		const char *key, struct sat_listing *old,
		struct sat_listing **out)
{
	struct sat_listing *l = NULL, *stale = NULL;
	struct sat_scene **items = NULL;
	size_t nitems = 0;
	struct pages p;
	time_t at = 0;
	int err;

	*out = NULL;
	if (load_pages(cat, key, &p, &at) == 0) {
		l = parse_pages(cat, r, &p);
		pages_clear(&p);
		if (!l)
			return -ENOMEM;
		l->fetched_at = at;
		if (is_fresh(cat, l)) {
			*out = l;
			return 0;
		}
		stale = l;
	}
	if (!stale && old) {
		sat_listing_ref(old);
		stale = old;
	}
	if (cat->cfg->offline) {
		if (stale) {
			*out = stale;
			return 0;
		}
		sat_warn("catalog: %s: offline and not in the cache", r->name);
		return -ENETDOWN;
	}
	err = search(cat, r, &p, &items, &nitems);
	if (err) {
		if (stale) {
			sat_warn("catalog: %s: catalog unreachable; serving the "
				 "listing from %ld s ago", r->name,
				 (long)(time(NULL) - stale->fetched_at));
			*out = stale;
			return 0;
		}
		return err == -ENOMEM ? err : -EIO;
	}
	at = time(NULL);
	l = filter_items(cat, r, items, nitems);
	if (l && save_pages(cat, key, &p, at) != 0)
		sat_warn("catalog: %s: listing not saved to the cache",
			 r->name);
	pages_clear(&p);
	sat_listing_unref(stale);
	if (!l)
		return -ENOMEM;
	l->fetched_at = at;
	if (l->n) {
		sat_info("catalog: %s: %zu scenes", r->name, l->n);
	} else {
		/* what was searched, so that an empty region can be told
		 * from a mistaken one */
		time_t from, to;
		char d0[11], d1[11];

		region_dates(cat, r, &from, &to);
		sat_region_format_date(from, d0);
		sat_region_format_date(to, d1);
		sat_info("catalog: %s: 0 scenes from %s to %s in bbox %g,%g,"
			 "%g,%g with cloud cover below %g %%", r->name, d0,
			 d1, r->bbox[0], r->bbox[1], r->bbox[2], r->bbox[3],
			 cat->cfg->max_cloud);
	}
	*out = l;
	return 0;
}

int sat_catalog_list(struct sat_catalog *cat, const struct sat_region *r,
		     struct sat_listing **out)
{
	struct sat_listing *l = NULL, *old;
	char key[SAT_HASH_HEX];
	struct entry *e;
	int err;

	*out = NULL;
	listing_key(cat, r, key);
	pthread_mutex_lock(&cat->lock);
	e = find_entry_locked(cat, key);
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e) {
			pthread_mutex_unlock(&cat->lock);
			return -ENOMEM;
		}
		memcpy(e->key, key, sizeof(e->key));
		e->next = cat->entries;
		cat->entries = e;
	}
	while (e->filling)
		pthread_cond_wait(&cat->cond, &cat->lock);
	if (is_fresh(cat, e->listing)) {
		sat_listing_ref(e->listing);
		*out = e->listing;
		pthread_mutex_unlock(&cat->lock);
		return 0;
	}
	e->filling = true;
	old = e->listing;
	if (old)
		sat_listing_ref(old);
	pthread_mutex_unlock(&cat->lock);

	err = fill(cat, r, key, old, &l);

	pthread_mutex_lock(&cat->lock);
	if (!err) {
		sat_listing_unref(e->listing);
		e->listing = l;
		sat_listing_ref(l);
		*out = l;
	}
	e->filling = false;
	pthread_cond_broadcast(&cat->cond);
	pthread_mutex_unlock(&cat->lock);
	sat_listing_unref(old);
	return err;
}

void sat_catalog_refresh(struct sat_catalog *cat, const struct sat_region *r)
{
	char key[SAT_HASH_HEX];
	struct sat_listing *l = NULL;
	struct entry *e;

	listing_key(cat, r, key);
	pthread_mutex_lock(&cat->lock);
	e = find_entry_locked(cat, key);
	if (e && !e->filling) {
		l = e->listing;
		e->listing = NULL;
	}
	pthread_mutex_unlock(&cat->lock);
	sat_listing_unref(l);
	sat_cache_remove(cat->cache, SAT_CACHE_LISTING, key);
}

void sat_catalog_forget(struct sat_catalog *cat, const struct sat_region *r)
{
	char key[SAT_HASH_HEX];
	struct entry **pp, *e = NULL;

	listing_key(cat, r, key);
	pthread_mutex_lock(&cat->lock);
	for (pp = &cat->entries; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->key, key) != 0)
			continue;
		if (!(*pp)->filling) { /* a search in flight keeps its entry */
			e = *pp;
			*pp = e->next;
		}
		break;
	}
	pthread_mutex_unlock(&cat->lock);
	if (e) {
		sat_listing_unref(e->listing);
		free(e);
	}
}
