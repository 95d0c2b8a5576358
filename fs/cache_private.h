/*
 * cache_private.h: between cache.c and cache_later.c, the queue of
 * entries written later (include/satfs/cache.h, sat_cache_write_later).
 */
#ifndef SATFS_CACHE_PRIVATE_H
#define SATFS_CACHE_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>

#include "satfs/cache.h"

struct cache_later;

/* cache.c: writes an entry now (create, write, rename), on any thread. */
int cache_write_now(struct sat_cache *c, enum sat_cache_kind kind,
		    const char *key, const void *data, size_t len);

/* The queue of cache c (its writer thread starts with the first entry).
 * NULL when out of memory. */
struct cache_later *cache_later_new(struct sat_cache *c);
/* Stops the writer and writes what is left, on the calling thread. */
void cache_later_free(struct cache_later *l);
/* Queues a copy of the entry, replacing one of the same key still waiting:
 * 0; -EAGAIN when it is not queued (full, stopping, a key too long, no
 * thread): the caller writes it itself; -ENOMEM. */
int cache_later_put(struct cache_later *l, enum sat_cache_kind kind,
		    const char *key, const void *data, size_t len);
/* A malloc'd, NUL-terminated copy of the entry if it is waiting (or being
 * written): 0, else -ENOENT (or -ENOMEM). */
int cache_later_get(struct cache_later *l, enum sat_cache_kind kind,
		    const char *key, char **data, size_t *len);
/* Tests: while held, the writer leaves the queue alone. */
void cache_later_hold(struct cache_later *l, bool hold);
/* Drops the waiting entries of key (NULL: every entry of kind); one being
 * written is waited for, so that what the caller does next comes after.
 * True when it dropped one. */
bool cache_later_drop(struct cache_later *l, enum sat_cache_kind kind,
		      const char *key);

#endif
