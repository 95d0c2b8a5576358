/*
 * cogread: windows of pixels from remote COGs, on an output grid.
 *
 * A window is read in two round trips at most, whatever the number of
 * bands: (1) the headers of every band not yet known, fetched at once
 * (plus one more round when an IFD runs past the first 16 KiB), and (2)
 * every tile byte range of every band not already decoded, adjacent
 * ranges merged, fetched at once. Tiles decode on the decoders' threads;
 * sampling runs on the calling thread.
 *
 * This file: the object, the header caches (memory, then disk: headers/
 * <sha256 of URL> holding "satfs-cog-header-1 <len> <etag|->\n" and the
 * prefix bytes, then the shared store when there is one, which gets every
 * header this mount fetches) and header fetching. fs/cogread_tiles.c: the decoded
 * tiles. fs/cogread_window.c: the window.
 *
 * Threading model: any thread may call sat_cogread_read(); it blocks on
 * the fetch engine's I/O thread and the decoders. The shared state is the
 * header memory cache (cr->hdrs) and the tile cache, protected by
 * cr->lock. Entries are refcounted:
 * a window holds a reference to each header it uses, so an eviction by
 * another thread never frees a header under it. The lock is never held
 * across network or disk I/O. Two threads missing the same header both
 * fetch it; the second insert finds the first and drops its own copy
 * (cheap, rare, and simpler than a fill-once protocol for 16 KiB).
 *
 * Staleness: a header remembers the ETag it was fetched with. When a tile
 * answer carries a different ETag, the object changed under us: the header
 * is dropped from both caches and the window is read once more.
 */
#include "satfs/cogread.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cogread_private.h"
#include "satfs/cache.h"
#include "satfs/cog.h"
#include "satfs/geom.h"
#include "satfs/log.h"
#include "satfs/shared.h"
#include "satfs/sign.h"

#define CR_PREFIX_BYTES 16384
#define CR_MAX_HEADER_BYTES (16u << 20)
#define CR_HEADER_ROUNDS 4
#define CR_DISK_MAGIC "satfs-cog-header-1"
/* A URL for a log line (query strings may carry tokens); needs ubuf. */
#define CR_URL(u) sat_log_url((u), ubuf, sizeof(ubuf))

int sat_cogread_new(struct sat_cogread **out, struct sat_fetch *fetch,
		    struct sat_cache *cache)
{
	struct sat_cogread *cr;
	long ncpu;
	int err;

	*out = NULL;
	if (!fetch)
		return -EINVAL;
	cr = calloc(1, sizeof(*cr));
	if (!cr)
		return -ENOMEM;
	cr->fetch = fetch;
	cr->cache = cache;
	cr->tile_cap_bytes = SAT_COGREAD_TILE_CACHE_BYTES;
	if (pthread_mutex_init(&cr->lock, NULL) != 0) {
		free(cr);
		return -ENOMEM;
	}
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	err = cr_tiles_init(cr, ncpu < 1 ? 1 : ncpu > 16 ? 16 : (int)ncpu);
	if (err) {
		pthread_mutex_destroy(&cr->lock);
		free(cr);
		return err;
	}
	*out = cr;
	return 0;
}

void sat_cogread_set_signer(struct sat_cogread *cr, struct sat_signer *signer)
{
	cr->signer = signer;
}

void sat_cogread_set_shared(struct sat_cogread *cr, struct sat_shared *sh)
{
	cr->shared = cr->cache ? sh : NULL;
}

/* Signs the hrefs of the requests of one round: those in reqs[] (round
 * 0), or those answered 403 in res[] (round 1: the token is rejected,
 * so a new one is fetched, once for all of them). Fills sub[]/idx[] with
 * the requests to send; a request that cannot be signed gets its error
 * in res[] at once. Returns how many go. */
static size_t cr_sign_round(struct sat_cogread *cr, int round,
			    const struct sat_fetch_req *reqs,
			    struct sat_fetch_result *res, char **urls,
			    struct sat_fetch_req *sub, size_t *idx, size_t n)
{
	size_t m = 0;
	int rc;

	for (size_t i = 0; i < n; i++) {
		if (round > 0) {
			if (!urls[i] || res[i].err != -EACCES ||
			    res[i].status != 403)
				continue;
			sat_signer_reject(cr->signer, reqs[i].url, urls[i]);
			free(urls[i]);
			urls[i] = NULL;
		}
		rc = sat_signer_sign(cr->signer, reqs[i].url, &urls[i]);
		if (rc) {
			sat_fetch_result_clear(&res[i]);
			memset(&res[i], 0, sizeof(res[i]));
			res[i].err = rc;
			snprintf(res[i].why, sizeof(res[i].why),
				 "no SAS token (%s)", strerror(-rc));
			continue;
		}
		if (round > 0)
			sat_fetch_result_clear(&res[i]);
		sub[m] = reqs[i];
		if (urls[i])
			sub[m].url = urls[i];
		idx[m++] = i;
	}
	return m;
}

int sat_cogread_fetch_all(struct sat_cogread *cr,
			  const struct sat_fetch_req *reqs,
			  struct sat_fetch_result *res, size_t n)
{
	struct sat_fetch_req *sub;
	struct sat_fetch_result *sres;
	size_t *idx, m;
	char **urls;
	int ret = 0;

	if (!cr->signer)
		return sat_fetch_all(cr->fetch, reqs, res, n);
	memset(res, 0, n * sizeof(*res));
	sub = calloc(n, sizeof(*sub));
	sres = calloc(n, sizeof(*sres));
	idx = calloc(n, sizeof(*idx));
	urls = calloc(n, sizeof(*urls));
	if (!sub || !sres || !idx || !urls) {
		for (size_t i = 0; i < n; i++)
			res[i].err = -ENOMEM;
		ret = -ENOMEM;
		goto out;
	}
	for (int round = 0; round < 2; round++) {
		m = cr_sign_round(cr, round, reqs, res, urls, sub, idx, n);
		if (m == 0)
			break;
		sat_fetch_all(cr->fetch, sub, sres, m);
		for (size_t k = 0; k < m; k++)
			res[idx[k]] = sres[k]; /* the buffers move */
	}
	for (size_t i = 0; i < n && !ret; i++)
		ret = res[i].err;
out:
	for (size_t i = 0; urls && i < n; i++)
		free(urls[i]);
	free(sub);
	free(sres);
	free(idx);
	free(urls);
	return ret;
}

static void cr_header_destroy(struct sat_cogread_header *h)
{
	if (!h)
		return;
	sat_cog_free(h->cog);
	free(h->url);
	free(h->etag);
	free(h);
}

void sat_cogread_header_unref(struct sat_cogread *cr,
			      struct sat_cogread_header *h)
{
	bool last;

	if (!h)
		return;
	pthread_mutex_lock(&cr->lock);
	last = --h->refs == 0;
	pthread_mutex_unlock(&cr->lock);
	if (last)
		cr_header_destroy(h);
}

void sat_cogread_free(struct sat_cogread *cr)
{
	if (!cr)
		return;
	cr_tiles_fini(cr);
	for (size_t i = 0; i < cr->nhdrs; i++)
		sat_cogread_header_unref(cr, cr->hdrs[i]);
	pthread_mutex_destroy(&cr->lock);
	free(cr);
}

void sat_cogread_set_tile_cap(struct sat_cogread *cr, size_t cap_bytes)
{
	pthread_mutex_lock(&cr->lock);
	cr->tile_cap_bytes = cap_bytes;
	pthread_mutex_unlock(&cr->lock);
}

void sat_cogread_drop_caches(struct sat_cogread *cr)
{
	struct sat_cogread_header *drop[CR_MAX_HEADERS];
	size_t n;

	cr_tiles_drop(cr);
	pthread_mutex_lock(&cr->lock);
	n = cr->nhdrs;
	memcpy(drop, cr->hdrs, n * sizeof(*drop));
	cr->nhdrs = 0;
	pthread_mutex_unlock(&cr->lock);
	for (size_t i = 0; i < n; i++)
		sat_cogread_header_unref(cr, drop[i]); /* the cache's */
}

/* A new reference to the cached header of url, or NULL. */
static struct sat_cogread_header *cr_mem_get(struct sat_cogread *cr,
					     const char *url)
{
	struct sat_cogread_header *h = NULL;

	pthread_mutex_lock(&cr->lock);
	for (size_t i = 0; i < cr->nhdrs; i++) {
		if (strcmp(cr->hdrs[i]->url, url) == 0) {
			h = cr->hdrs[i];
			h->refs++;
			h->used = ++cr->tick;
			break;
		}
	}
	pthread_mutex_unlock(&cr->lock);
	return h;
}

/* Caches h (which holds the caller's reference) and returns the entry the
 * caller should use, with a reference: h itself, or the one another
 * thread put there first (then h is released). */
static struct sat_cogread_header *cr_mem_put(struct sat_cogread *cr,
				    struct sat_cogread_header *h)
{
	struct sat_cogread_header *victim = NULL, *found = NULL;
	size_t lru = 0;

	pthread_mutex_lock(&cr->lock);
	for (size_t i = 0; i < cr->nhdrs; i++) {
		if (strcmp(cr->hdrs[i]->url, h->url) == 0) {
			found = cr->hdrs[i];
			found->refs++;
			found->used = ++cr->tick;
			break;
		}
		if (cr->hdrs[i]->used < cr->hdrs[lru]->used)
			lru = i;
	}
	if (!found) {
		if (cr->nhdrs == CR_MAX_HEADERS) {
			victim = cr->hdrs[lru];
			cr->hdrs[lru] = cr->hdrs[--cr->nhdrs];
			if (--victim->refs != 0)
				victim = NULL; /* its last user frees it */
		}
		h->refs++; /* the cache's reference */
		h->used = ++cr->tick;
		cr->hdrs[cr->nhdrs++] = h;
	}
	pthread_mutex_unlock(&cr->lock);
	cr_header_destroy(victim);
	if (found) {
		sat_cogread_header_unref(cr, h);
		return found;
	}
	return h;
}

static void cr_disk_key(const char *url, char key[SAT_HASH_HEX])
{
	struct sat_hash hs;

	sat_hash_init(&hs);
	sat_hash_add_str(&hs, url);
	sat_hash_final(&hs, key);
}

/* Drops h from the memory cache (if still there) and the disk cache. */
void sat_cogread_forget(struct sat_cogread *cr, struct sat_cogread_header *h)
{
	struct sat_cogread_header *drop = NULL;
	char key[SAT_HASH_HEX];

	cr_disk_key(h->url, key); /* before h may go away */
	pthread_mutex_lock(&cr->lock);
	for (size_t i = 0; i < cr->nhdrs; i++) {
		if (cr->hdrs[i] == h) {
			cr->hdrs[i] = cr->hdrs[--cr->nhdrs];
			if (--h->refs == 0)
				drop = h;
			break;
		}
	}
	pthread_mutex_unlock(&cr->lock);
	cr_header_destroy(drop);
	if (cr->cache)
		sat_cache_remove(cr->cache, SAT_CACHE_HEADER, key);
}

/* A header from the disk cache: "<magic> <len> <etag|->\n" then the
 * prefix bytes. NULL when absent or unusable (an unusable entry is
 * removed, so it is refetched). */
static struct sat_cogread_header *cr_disk_get(struct sat_cogread *cr,
					      const char *url)
{
	char key[SAT_HASH_HEX], etag[512];
	struct sat_cogread_header *h = NULL;
	struct sat_cog *cog = NULL;
	unsigned long long plen;
	uint64_t need;
	char *data, *nl;
	size_t len;
	int n = 0;

	if (!cr->cache)
		return NULL;
	cr_disk_key(url, key);
	if (sat_cache_read(cr->cache, SAT_CACHE_HEADER, key, &data, &len,
			   NULL) != 0 &&
	    /* another mount's, through the shared store */
	    (!cr->shared || sat_shared_fetch(cr->shared, SAT_SHARED_HEADER, key) != 0 ||
	     sat_cache_read(cr->cache, SAT_CACHE_HEADER, key, &data, &len,
			    NULL) != 0))
		return NULL;
	nl = memchr(data, '\n', len < 700 ? len : 700);
	if (!nl || sscanf(data, CR_DISK_MAGIC " %llu %511s%n", &plen, etag,
			  &n) != 2 || data + n != nl ||
	    plen != len - (size_t)(nl + 1 - data))
		goto bad;
	if (sat_cog_open(&cog, (const uint8_t *)nl + 1, plen, &need) != 0)
		goto bad;
	h = calloc(1, sizeof(*h));
	if (!h)
		goto out;
	h->url = strdup(url);
	h->etag = strcmp(etag, "-") == 0 ? NULL : strdup(etag);
	h->cog = cog;
	h->refs = 1;
	cog = NULL;
	if (!h->url || (strcmp(etag, "-") != 0 && !h->etag)) {
		cr_header_destroy(h);
		h = NULL;
	}
	goto out;
bad:
	sat_warn("cogread: dropping unusable cached header %s", key);
	sat_cache_remove(cr->cache, SAT_CACHE_HEADER, key);
out:
	sat_cog_free(cog);
	free(data);
	return h;
}

/* ETags go on one line of the disk entry: refuse anything odd. */
static bool cr_etag_ok(const char *e)
{
	size_t n = e ? strlen(e) : 0;

	if (n == 0 || n > 500 || strcmp(e, "-") == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)e[i] <= ' ' || e[i] == 0x7f)
			return false;
	return true;
}

static void cr_disk_put(struct sat_cogread *cr,
			const struct sat_cogread_header *h)
{
	char key[SAT_HASH_HEX], line[600];
	const uint8_t *prefix;
	size_t plen, llen;
	char *buf;

	if (!cr->cache)
		return;
	prefix = sat_cog_header(h->cog, &plen);
	llen = (size_t)snprintf(line, sizeof(line), CR_DISK_MAGIC " %zu %s\n",
				plen, h->etag ? h->etag : "-");
	buf = malloc(llen + plen);
	if (!buf)
		return;
	memcpy(buf, line, llen);
	memcpy(buf + llen, prefix, plen);
	cr_disk_key(h->url, key);
	/* nobody waits for it: in the background, unless the shared store
	 * is to get it (from the file) */
	if ((cr->shared ? sat_cache_write : sat_cache_write_later)(
		    cr->cache, SAT_CACHE_HEADER, key, buf, llen + plen) != 0)
		sat_warn("cogread: could not cache header %s", key);
	else if (cr->shared)
		sat_shared_offer(cr->shared, SAT_SHARED_HEADER, key);
	free(buf);
}

/* One header being fetched from the network. */
struct cr_pending {
	const char *url;
	size_t slot;      /* index into the caller's hdrs[] */
	uint8_t *buf;
	size_t len;
	uint64_t need;
	char *etag;
	bool eof;         /* the object ends at len */
	uint64_t object_size; /* the server's word, or 0 */
	struct sat_cog *cog; /* parsed, once complete */
	int err;
};

static int cr_append(struct cr_pending *p, struct sat_fetch_result *res)
{
	uint8_t *nb = realloc(p->buf, p->len + res->len + 1);

	if (!nb)
		return -ENOMEM;
	memcpy(nb + p->len, res->data, res->len);
	p->buf = nb;
	p->len += res->len;
	return 0;
}

/* Fetches and parses the headers of the urls in p[0..n): all at once,
 * then one more round for those whose IFDs run past what we have.
 * Always at foreground priority, whatever the read they serve: a header
 * is 16 KiB and every tile of its render waits for it. Queued behind the
 * tile bodies of other prefetches, the headers of a prefetched render
 * took 0.1 to 0.2 s instead of a round trip (docs/BENCHMARKS.md). */
static int cr_fetch_headers(struct sat_cogread *cr, struct cr_pending *p,
			    size_t n, struct sat_progress *progress)
{
	struct sat_fetch_req *reqs = calloc(n, sizeof(*reqs));
	struct sat_fetch_result *res = calloc(n, sizeof(*res));
	size_t *idx = calloc(n, sizeof(*idx));
	char ubuf[512];
	int ret = 0;

	if (!reqs || !res || !idx) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		p[i].need = CR_PREFIX_BYTES;
	for (int round = 0; round < CR_HEADER_ROUNDS; round++) {
		size_t m = 0;

		for (size_t i = 0; i < n; i++) {
			if (p[i].err || p[i].need <= p[i].len)
				continue;
			memset(&reqs[m], 0, sizeof(reqs[m]));
			reqs[m].url = p[i].url;
			reqs[m].range_offset = p[i].len;
			reqs[m].range_length = p[i].need - p[i].len;
			reqs[m].priority = SAT_FETCH_FOREGROUND;
			reqs[m].progress = progress;
			idx[m++] = i;
		}
		if (m == 0)
			break;
		sat_cogread_fetch_all(cr, reqs, res, m);
		for (size_t k = 0; k < m; k++) {
			struct cr_pending *q = &p[idx[k]];
			struct sat_cog *cog = NULL;
			uint64_t need = 0;
			int rc = res[k].err;

			if (rc) {
				sat_log_cause("header of %s: %s (HTTP %ld, "
					      "%d tries)",
					      CR_URL(q->url),
					      res[k].status < 300 &&
							      res[k].why[0]
						      ? res[k].why
						      : strerror(-rc),
					      res[k].status, res[k].tries);
			} else if (round > 0 && q->etag && res[k].etag &&
				   strcmp(q->etag, res[k].etag) != 0) {
				sat_log_cause("%s changed while its header "
					      "was read",
					      CR_URL(q->url));
				rc = -EIO;
			} else {
				rc = cr_append(q, &res[k]);
			}
			if (!rc && round == 0)
				q->object_size = res[k].object_size;
			if (!rc && round == 0 && res[k].etag &&
			    cr_etag_ok(res[k].etag)) {
				q->etag = res[k].etag;
				res[k].etag = NULL;
			}
			/* A short answer is the end of the object. */
			if (!rc && res[k].len < reqs[k].range_length)
				q->eof = true;
			sat_fetch_result_clear(&res[k]);
			if (rc) {
				q->err = rc;
				continue;
			}
			rc = sat_cog_open(&cog, q->buf, q->len, &need);
			if (rc == -EAGAIN && need > q->len &&
			    need <= CR_MAX_HEADER_BYTES && !q->eof) {
				q->need = need;
				continue;
			}
			if (rc == -EAGAIN)
				rc = -EINVAL;
			/* tiles the server's object cannot hold: refused
			 * before anything asks for them */
			if (!rc && q->object_size &&
			    (rc = sat_cog_check_size(cog, q->object_size))) {
				sat_cog_free(cog);
				cog = NULL;
			}
			if (rc)
				sat_log_cause("%s: a GeoTIFF we cannot read "
					      "(%s)",
					      CR_URL(q->url),
					      sat_cog_last_error());
			q->err = rc;
			q->cog = cog;
			q->need = 0; /* done */
		}
	}
	for (size_t i = 0; i < n; i++)
		if (!p[i].err && p[i].need > p[i].len)
			p[i].err = -EINVAL; /* ran out of rounds */
out:
	free(reqs);
	free(res);
	free(idx);
	return ret;
}

/* References to the headers of urls[0..n) into hdrs[0..n). */
/* Headers of urls[0..n) into hdrs[]: with errs, each its own error (0
 * where hdrs[i] is set); without, all or nothing. */
static int cr_get_headers(struct sat_cogread *cr, const char *const *urls,
			  size_t n, struct sat_cogread_header **hdrs, int *errs,
			  struct sat_progress *progress)
{
	struct cr_pending *p = calloc(n + 1, sizeof(*p));
	size_t np = 0;
	int ret = 0;

	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (errs)
			errs[i] = 0;
		hdrs[i] = cr_mem_get(cr, urls[i]);
		if (!hdrs[i]) {
			hdrs[i] = cr_disk_get(cr, urls[i]);
			if (hdrs[i])
				hdrs[i] = cr_mem_put(cr, hdrs[i]);
		}
		if (hdrs[i])
			continue;
		/* The same URL twice in one window is fetched once. */
		bool dup = false;
		for (size_t k = 0; k < np; k++)
			dup = dup || strcmp(p[k].url, urls[i]) == 0;
		if (!dup) {
			p[np].url = urls[i];
			p[np++].slot = i;
		}
	}
	if (np)
		ret = cr_fetch_headers(cr, p, np, progress);
	for (size_t k = 0; k < np && !ret; k++) {
		struct sat_cogread_header *h;

		if (p[k].err || !p[k].cog) {
			int e = p[k].err && p[k].err != -EINVAL ? p[k].err
								: -EIO;

			if (!errs) {
				ret = e;
				break;
			}
			errs[p[k].slot] = e;
			continue;
		}
		h = calloc(1, sizeof(*h));
		if (!h || !(h->url = strdup(p[k].url))) {
			free(h);
			ret = -ENOMEM;
			break;
		}
		h->etag = p[k].etag;
		p[k].etag = NULL;
		h->refs = 1;
		h->cog = p[k].cog;
		p[k].cog = NULL;
		cr_disk_put(cr, h);
		hdrs[p[k].slot] = cr_mem_put(cr, h);
	}
	/* Fill in the duplicates. */
	for (size_t i = 0; i < n && !ret; i++) {
		if (hdrs[i] || (errs && errs[i]))
			continue;
		hdrs[i] = cr_mem_get(cr, urls[i]);
		if (hdrs[i])
			continue;
		for (size_t k = 0; errs && k < np; k++)
			if (strcmp(p[k].url, urls[i]) == 0)
				errs[i] = errs[p[k].slot];
		if (!errs || !errs[i]) {
			if (!errs)
				ret = -EIO; /* evicted in between: rare */
			else
				errs[i] = -EIO;
		}
	}
	for (size_t k = 0; k < np; k++) {
		free(p[k].buf);
		free(p[k].etag);
		sat_cog_free(p[k].cog);
	}
	free(p);
	if (ret) {
		for (size_t i = 0; i < n; i++) {
			sat_cogread_header_unref(cr, hdrs[i]);
			hdrs[i] = NULL;
		}
	}
	return ret;
}

/* References to the headers of urls[0..n) into hdrs[0..n). */
int sat_cogread_get_headers(struct sat_cogread *cr, const char *const *urls,
			    size_t n, struct sat_cogread_header **hdrs,
			    struct sat_progress *progress)
{
	return cr_get_headers(cr, urls, n, hdrs, NULL, progress);
}

int sat_cogread_describe(struct sat_cogread *cr, const char *const *urls,
			 size_t n, struct sat_cogread_info *info)
{
	struct sat_cogread_header **hdrs = calloc(n + 1, sizeof(*hdrs));
	int *errs = calloc(n + 1, sizeof(*errs));
	int err;

	if (!hdrs || !errs) {
		free(hdrs);
		free(errs);
		return -ENOMEM;
	}
	memset(info, 0, n * sizeof(*info));
	/* all at once, each with its own answer */
	err = cr_get_headers(cr, urls, n, hdrs, errs, NULL);
	for (size_t i = 0; i < n && !err; i++) {
		const struct sat_cog_level *lv;
		const char *crs;
		int geo;

		info[i].err = errs[i];
		if (!hdrs[i])
			continue;
		lv = sat_cog_level(hdrs[i]->cog, 0);
		info[i].epsg = sat_cog_epsg(hdrs[i]->cog);
		crs = sat_cog_crs(hdrs[i]->cog, NULL);
		if (!info[i].epsg && crs)
			info[i].epsg = sat_geom_crs_epsg(crs);
		geo = info[i].epsg ? sat_geom_is_geographic(info[i].epsg) : -1;
		info[i].projected = geo == 0;
		info[i].pixel_size = lv->pixel_x;
		info[i].type = lv->type;
		info[i].samples = lv->samples;
		sat_cogread_header_unref(cr, hdrs[i]);
	}
	free(hdrs);
	free(errs);
	return err;
}
