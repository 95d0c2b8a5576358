/*
 * catalog: a region's scenes, from the source or the listing cache.
 *
 * The policy around a listing: our own filtering on top of the source's
 * (servers ignore filters they do not support), a disk cache with a TTL,
 * stale results when the catalog fails, `offline`, and one search at a
 * time per region. How to search is the source's business
 * (include/satfs/source.h).
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
struct sat_region;
struct sat_scene;
struct sat_source;
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

/* src must outlive the catalog. */
int sat_catalog_new(struct sat_catalog **out, const struct sat_config *cfg,
		    struct sat_source *src, struct sat_cache *cache);
void sat_catalog_free(struct sat_catalog *cat);

/* The listing of region r: from memory or disk while younger than
 * listing_ttl, else from the catalog (stale copy served, with a warning,
 * when the catalog fails). *out gets a reference. Returns 0, -EIO, or
 * -ENETDOWN (offline with nothing cached). Blocks. */
int sat_catalog_list(struct sat_catalog *cat, const struct sat_region *r,
		     struct sat_listing **out);

/* Is a fresh listing of r in memory (so sat_catalog_list won't block)? */
bool sat_catalog_is_fresh(struct sat_catalog *cat, const struct sat_region *r);

/* Forgets r's listing in memory and on disk; the next list searches. */
void sat_catalog_refresh(struct sat_catalog *cat, const struct sat_region *r);

/* Forgets r's listing in memory only (r left the tree: the memory of
 * forgotten ad-hoc regions must not grow without bound); the disk copy
 * stays for when r comes back. Never blocks. */
void sat_catalog_forget(struct sat_catalog *cat, const struct sat_region *r);

#endif
