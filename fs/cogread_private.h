/*
 * cogread_private: what fs/cogread.c (the header caches and header
 * fetching) and fs/cogread_window.c (tiles, decoding, sampling) share. Not
 * a module boundary: nothing else includes it.
 */
#ifndef SATFS_COGREAD_PRIVATE_H
#define SATFS_COGREAD_PRIVATE_H

#include <pthread.h>
#include <stddef.h>

#include "satfs/fetch.h"

struct sat_cache;
struct sat_cog;
struct sat_progress;
struct sat_signer;

#define CR_MAX_HEADERS 256

struct sat_cogread_header {
	char *url;
	char *etag;            /* ETag the header was read with, or NULL */
	struct sat_cog *cog;
	unsigned int refs;     /* protected by cr->lock */
	unsigned long used;    /* protected by cr->lock: LRU tick */
};

struct sat_cogread {
	struct sat_fetch *fetch;
	struct sat_cache *cache;  /* may be NULL: no disk cache */
	struct sat_signer *signer; /* may be NULL: hrefs go as they are */
	pthread_mutex_t lock;
	/* protected by lock: */
	struct sat_cogread_header *hdrs[CR_MAX_HEADERS];
	size_t nhdrs;
	unsigned long tick;         /* LRU clock */
};

/* References to the parsed headers of urls[0..n) into hdrs[0..n): from
 * memory, from disk, else fetched all at once. 0 or -errno (hdrs all NULL
 * on error). Blocks. */
int sat_cogread_get_headers(struct sat_cogread *cr, const char *const *urls,
			    size_t n, struct sat_cogread_header **hdrs,
			    enum sat_fetch_priority prio,
			    struct sat_progress *progress);
void sat_cogread_header_unref(struct sat_cogread *cr,
			      struct sat_cogread_header *h);
/* Drops h from both caches (the object changed); the caller's reference
 * stays valid. */
void sat_cogread_forget(struct sat_cogread *cr, struct sat_cogread_header *h);
/* sat_fetch_all() with the URLs signed when cr has a signer (reqs keep
 * the unsigned hrefs). Blocks. */
int sat_cogread_fetch_all(struct sat_cogread *cr,
			  const struct sat_fetch_req *reqs,
			  struct sat_fetch_result *res, size_t n);

#endif
