/*
 * catalog: a region's scenes, from the STAC API or the listing cache.
 *
 * DESIGN.md "Listing runs the query": landing page, POST (or GET) /search,
 * paging by `next` links, our own filtering on top of the server's, a disk
 * cache with a TTL, stale results when the catalog fails, and `offline`.
 * The JSON itself is the stac module's business.
 *
 * Thread-safe. sat_catalog_list() blocks on the network (never call it
 * from a FUSE thread); concurrent calls for the same region share one
 * search.
 */
#ifndef SATFS_CATALOG_H
#define SATFS_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct sat_cache;
struct sat_config;
struct sat_fetch;
struct sat_region;
struct sat_scene;
struct sat_catalog;

/* The scenes of one region, sorted by acquisition time then id. Shared,
 * immutable, reference-counted. */
struct sat_listing {
	struct sat_scene **scenes;
	size_t n;
	time_t fetched_at; /* when the catalog answered */
	unsigned refs;     /* use sat_listing_ref/unref */
};

void sat_listing_ref(struct sat_listing *l);
void sat_listing_unref(struct sat_listing *l);

int sat_catalog_new(struct sat_catalog **out, const struct sat_config *cfg,
		    struct sat_fetch *fetch, struct sat_cache *cache);
void sat_catalog_free(struct sat_catalog *cat);

/* The listing of region r: from memory or disk while younger than
 * listing_ttl, else from the catalog (stale copy served, with a warning,
 * when the catalog fails). *out gets a reference. Returns 0, -EIO, or
 * -ENETDOWN (offline with nothing cached). Blocks. */
int sat_catalog_list(struct sat_catalog *cat, const struct sat_region *r,
		     struct sat_listing **out);

/* Is a fresh listing of r in memory (so sat_catalog_list won't block)? */
bool sat_catalog_is_fresh(struct sat_catalog *cat, const struct sat_region *r);

/* Lists through Earth Engine's listImages instead of the STAC API (ee
 * borrowed; it must outlive cat). Call before the first listing. */
struct sat_ee;
void sat_catalog_set_ee(struct sat_catalog *cat, struct sat_ee *ee);

/* Forgets r's listing in memory and on disk; the next list searches. */
void sat_catalog_refresh(struct sat_catalog *cat, const struct sat_region *r);

#endif
