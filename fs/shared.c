/*
 * shared: the shared cache tier in the daemon; see include/satfs/shared.h
 * for the protocol and docs/SCALE-OUT.md for what it promises.
 *
 * Threading model: the callers' threads (render workers, work-queue
 * threads doing listings) look objects up, take leases and wait, each
 * within the store's deadlines and the wait's. Two upload threads take
 * uploads from a bounded FIFO (sh->head, at most UPLOAD_QUEUE_MAX) and
 * send them one at a time with sat_objstore_put_if_absent(), then release
 * the render's lease. sh->lock protects the FIFO, the counters and
 * `stopping`; sh->queue_cond wakes the upload threads, sh->wake_cond
 * (CLOCK_MONOTONIC) the renders that wait for another mount, on unmount.
 * No lock is held across a request, the disk or a log line.
 *
 * An upload of a rendered file pins its key in the local cache from the
 * moment it is queued until it is sent (sat_cache_pin), so the size cap
 * cannot remove it in between; the queue's bound bounds those pins.
 */
#include "satfs/shared.h"

#include "satfs/cache.h"
#include "satfs/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define UPLOAD_THREADS 2
#define UPLOAD_QUEUE_MAX 256
#define DRAIN_MS 10000          /* uploads still sent after unmount */
#define TRANSFER_TIMEOUT_MS 300000 /* one object's GET or PUT */
#define POLL_FIRST_MS 100
#define POLL_MAX_MS 1000
#define LEASE_CHECK_MS 1000     /* is the holder still there? */
#define TAKE_ROUNDS 3           /* lease gone, taken by another: again */

struct upload {
	struct upload *next;
	enum sat_shared_kind kind;
	char key[SAT_HASH_HEX];
	struct sat_shared_claim claim;
};

struct sat_shared {
	struct sat_objstore *store;
	struct sat_cache *cache;
	int lease_s, wait_s;
	pthread_mutex_t lock;
	pthread_cond_t queue_cond;
	pthread_cond_t wake_cond;         /* CLOCK_MONOTONIC */
	struct upload *head, *tail;       /* protected by lock */
	unsigned nqueued, running;        /* protected by lock */
	bool stopping;                    /* protected by lock */
	uint64_t drain_until_ms;          /* protected by lock */
	uint64_t bad_sizes;               /* protected by lock */
	struct sat_shared_stats st;       /* protected by lock; not .store */
	pthread_t threads[UPLOAD_THREADS];
	int nthreads;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The local cache's kind of each entry, and its object's name. */
static enum sat_cache_kind cache_kind(enum sat_shared_kind kind)
{
	switch (kind) {
	case SAT_SHARED_FILE:
		return SAT_CACHE_FILE;
	case SAT_SHARED_HEADER:
		return SAT_CACHE_HEADER;
	default:
		return SAT_CACHE_LISTING;
	}
}

static void object_name(char *buf, size_t len, enum sat_shared_kind kind,
			const char *key)
{
	static const char *const dir[] = { [SAT_SHARED_FILE] = "files",
					   [SAT_SHARED_HEADER] = "headers",
					   [SAT_SHARED_CLOUD] = "clouds" };
	static const char *const ext[] = { [SAT_SHARED_FILE] = ".tif",
					   [SAT_SHARED_HEADER] = ".hdr",
					   [SAT_SHARED_CLOUD] = ".cloud" };

	snprintf(buf, len, "%s/%s%s", dir[kind], key, ext[kind]);
}

/* Adds one to a counter under the lock. */
static void count(struct sat_shared *sh, uint64_t *field)
{
	pthread_mutex_lock(&sh->lock);
	(*field)++;
	pthread_mutex_unlock(&sh->lock);
}

/* ---- Objects into the local cache ---- */

/* GETs the object of (kind, key) into a cache temporary, checks it (the
 * store checks the digest; want, when not 0, is the exact size) and
 * publishes it. 0, -ENOENT, -EBADMSG (refused), or a failure. */
static int get_entry(struct sat_shared *sh, enum sat_shared_kind kind,
		     const char *key, uint64_t want)
{
	enum sat_cache_kind ck = cache_kind(kind);
	char name[SAT_OBJSTORE_NAME_MAX], tmp[4096];
	uint64_t got = 0;
	int fd, rc;

	object_name(name, sizeof(name), kind, key);
	rc = sat_cache_create_tmp(sh->cache, ck, key, tmp, sizeof(tmp), &fd);
	if (rc)
		return rc;
	rc = sat_objstore_get(sh->store, name, fd, &got);
	if (rc == 0 && want && got != want) {
		sat_warn("shared store %s: object %s refused: %llu bytes, the "
			 "render has %llu", sat_objstore_describe(sh->store),
			 name, (unsigned long long)got,
			 (unsigned long long)want);
		count(sh, &sh->bad_sizes);
		rc = -EBADMSG;
	}
	if (rc) {
		sat_cache_discard(tmp, fd);
		return rc;
	}
	return sat_cache_publish(sh->cache, ck, key, tmp, fd);
}

/* A refused object goes, so that this mount's render replaces it (its
 * name is its content's key: whatever is there is wrong). */
static void drop_bad(struct sat_shared *sh, const char *name)
{
	if (sat_objstore_delete(sh->store, name) == 0)
		sat_info("shared store %s: deleted the bad object %s; this "
			 "mount's render replaces it",
			 sat_objstore_describe(sh->store), name);
}

/* ---- Waiting for another mount's render ---- */

/* Sleeps ms (cut to the deadline). -ECANCELED when unmounting. */
static int nap(struct sat_shared *sh, int ms, uint64_t deadline_ms)
{
	uint64_t until = now_ms() + (uint64_t)ms;
	struct timespec ts;
	int rc = 0;

	if (until > deadline_ms)
		until = deadline_ms;
	ts.tv_sec = (time_t)(until / 1000);
	ts.tv_nsec = (long)(until % 1000) * 1000000;
	pthread_mutex_lock(&sh->lock);
	while (!sh->stopping && now_ms() < until)
		if (pthread_cond_timedwait(&sh->wake_cond, &sh->lock, &ts) ==
		    ETIMEDOUT)
			break;
	if (sh->stopping)
		rc = -ECANCELED;
	pthread_mutex_unlock(&sh->lock);
	return rc;
}

/* Waits for the object name, which busy's holder is rendering: 0 once it
 * is in the local cache; -EAGAIN when the lease went without it (take it
 * and render); -ETIMEDOUT at the deadline; -ECANCELED; -EBADMSG; or a
 * failure of the store. */
static int wait_for(struct sat_shared *sh, enum sat_shared_kind kind,
		    const char *name, const char *key, uint64_t size,
		    const struct sat_objstore_lease *busy)
{
	uint64_t start = now_ms(), deadline = start + (uint64_t)sh->wait_s *
							      1000;
	uint64_t lease_check = start + LEASE_CHECK_MS;
	struct sat_objstore_lease cur;
	int poll_ms = POLL_FIRST_MS, rc;

	pthread_mutex_lock(&sh->lock);
	sh->st.waits++;
	sh->st.waiting++;
	pthread_mutex_unlock(&sh->lock);
	sat_debug("shared store: %s is being rendered by %s; waiting", name,
		  busy->holder);
	for (;;) {
		rc = nap(sh, poll_ms, deadline);
		if (rc)
			break;
		poll_ms = poll_ms * 2 > POLL_MAX_MS ? POLL_MAX_MS : poll_ms * 2;
		rc = sat_objstore_head(sh->store, name, NULL);
		if (rc == 0) {
			rc = get_entry(sh, kind, key, size);
			if (rc == -EBADMSG)
				drop_bad(sh, name);
			break;
		}
		if (rc != -ENOENT)
			break; /* the store fails: render locally */
		if (now_ms() >= deadline) {
			rc = -ETIMEDOUT;
			sat_info("shared store: %s not there after %d s (held "
				 "by %s); rendering it here", name, sh->wait_s,
				 busy->holder);
			break;
		}
		/* a holder whose render failed released its lease; one
		 * that died lets it expire */
		if (now_ms() >= lease_check) {
			lease_check = now_ms() + LEASE_CHECK_MS;
			rc = sat_objstore_lease_read(sh->store, name, &cur);
			if (rc == -ENOENT) {
				rc = -EAGAIN;
				break;
			}
			if (rc)
				break;
		}
	}
	pthread_mutex_lock(&sh->lock);
	sh->st.waiting--;
	if (rc == -ETIMEDOUT)
		sh->st.waits_timed_out++;
	pthread_mutex_unlock(&sh->lock);
	return rc;
}

static void release(struct sat_shared *sh, struct sat_shared_claim *claim)
{
	if (!claim->leased)
		return;
	sat_objstore_lease_release(sh->store, &claim->lease);
	claim->leased = false;
}

int sat_shared_obtain(struct sat_shared *sh, enum sat_shared_kind kind,
		      const char *key, uint64_t size,
		      struct sat_shared_claim *claim)
{
	char name[SAT_OBJSTORE_NAME_MAX];
	struct sat_objstore_lease busy;
	int rc, round;

	memset(claim, 0, sizeof(*claim));
	object_name(name, sizeof(name), kind, key);
	rc = get_entry(sh, kind, key, size);
	if (rc == -EBADMSG)
		drop_bad(sh, name);
	else if (rc != -ENOENT)
		goto out; /* got it, or the store fails */
	for (round = 0; round < TAKE_ROUNDS; round++) {
		rc = sat_objstore_lease_take(sh->store, name, sh->lease_s,
					     &claim->lease, &busy);
		if (rc == 0) {
			claim->leased = true;
			count(sh, &sh->st.leases);
			/* stored between our GET and our lease? */
			if (sat_objstore_head(sh->store, name, NULL) != 0)
				return -ENOENT;
			rc = get_entry(sh, kind, key, size);
			if (rc == 0)
				release(sh, claim);
			else if (rc == -EBADMSG)
				drop_bad(sh, name);
			goto out;
		}
		if (rc != -EEXIST || sh->wait_s <= 0)
			return rc;
		rc = wait_for(sh, kind, name, key, size, &busy);
		if (rc != -EAGAIN)
			goto out;
	}
	return -ENOENT;
out:
	if (rc == 0)
		count(sh, kind == SAT_SHARED_FILE ? &sh->st.files_got
						  : &sh->st.entries_got);
	return rc;
}

int sat_shared_fetch(struct sat_shared *sh, enum sat_shared_kind kind,
		     const char *key)
{
	int rc = get_entry(sh, kind, key, 0);

	if (rc == 0)
		count(sh, &sh->st.entries_got);
	else if (rc == -EBADMSG) {
		char name[SAT_OBJSTORE_NAME_MAX];

		object_name(name, sizeof(name), kind, key);
		drop_bad(sh, name);
	}
	return rc;
}

/* ---- Uploads ---- */

/* Opens the local entry to upload: a rendered file through the cache
 * (shared descriptor, pinned while open), a header by its path. */
static int open_entry(struct sat_shared *sh, const struct upload *u, int *fd,
		      uint64_t *size)
{
	char path[4096];
	struct stat st;

	if (u->kind == SAT_SHARED_FILE)
		return sat_cache_open_file(sh->cache, u->key, fd, size);
	sat_cache_path(sh->cache, cache_kind(u->kind), u->key, path,
		       sizeof(path));
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return -errno;
	if (fstat(*fd, &st) != 0) {
		close(*fd);
		return -EIO;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

static void close_entry(struct sat_shared *sh, const struct upload *u, int fd)
{
	if (u->kind == SAT_SHARED_FILE)
		sat_cache_close_file(sh->cache, u->key);
	else
		close(fd);
}

static void upload_one(struct sat_shared *sh, struct upload *u)
{
	char name[SAT_OBJSTORE_NAME_MAX];
	uint64_t size = 0;
	int fd = -1, rc;

	object_name(name, sizeof(name), u->kind, u->key);
	rc = open_entry(sh, u, &fd, &size);
	if (rc == 0) {
		rc = sat_objstore_put_if_absent(sh->store, name, fd, size,
						NULL);
		close_entry(sh, u, fd);
	} else {
		sat_debug("shared store: %s not uploaded: the local entry is "
			  "gone (%s)", name, strerror(-rc));
	}
	if (u->kind == SAT_SHARED_FILE)
		sat_cache_unpin(sh->cache, u->key); /* the queue's pin */
	release(sh, &u->claim);
	pthread_mutex_lock(&sh->lock);
	if (rc == 0)
		sh->st.uploads++;
	else if (rc == -EEXIST)
		sh->st.uploads_present++;
	else
		sh->st.uploads_failed++;
	pthread_mutex_unlock(&sh->lock);
	if (rc && rc != -EEXIST && rc != -EHOSTDOWN)
		sat_debug("shared store: upload of %s: %s", name,
			  strerror(-rc));
	free(u);
}

static void *upload_main(void *arg)
{
	struct sat_shared *sh = arg;
	struct upload *u;

	pthread_mutex_lock(&sh->lock);
	for (;;) {
		while (!sh->head && !sh->stopping)
			pthread_cond_wait(&sh->queue_cond, &sh->lock);
		if (!sh->head ||
		    (sh->stopping && now_ms() >= sh->drain_until_ms))
			break;
		u = sh->head;
		sh->head = u->next;
		if (!sh->head)
			sh->tail = NULL;
		sh->nqueued--;
		sh->running++;
		pthread_mutex_unlock(&sh->lock);
		upload_one(sh, u);
		pthread_mutex_lock(&sh->lock);
		sh->running--;
	}
	pthread_mutex_unlock(&sh->lock);
	return NULL;
}

/* Queues (kind, key) with claim's lease (moved into the queue). */
static void enqueue(struct sat_shared *sh, enum sat_shared_kind kind,
		    const char *key, struct sat_shared_claim *claim)
{
	struct upload *u = calloc(1, sizeof(*u));
	bool pinned = false, queued = false;

	if (u && kind == SAT_SHARED_FILE)
		pinned = sat_cache_pin(sh->cache, key) == 0;
	pthread_mutex_lock(&sh->lock);
	if (u && (kind != SAT_SHARED_FILE || pinned) &&
	    sh->nqueued < UPLOAD_QUEUE_MAX) {
		u->kind = kind;
		snprintf(u->key, sizeof(u->key), "%s", key);
		if (claim) {
			u->claim = *claim;
			claim->leased = false;
		}
		if (sh->tail)
			sh->tail->next = u;
		else
			sh->head = u;
		sh->tail = u;
		sh->nqueued++;
		queued = true;
		pthread_cond_signal(&sh->queue_cond);
	} else {
		sh->st.uploads_dropped++;
	}
	pthread_mutex_unlock(&sh->lock);
	if (queued)
		return;
	if (pinned)
		sat_cache_unpin(sh->cache, key);
	if (claim)
		release(sh, claim);
	free(u);
}

void sat_shared_rendered(struct sat_shared *sh, enum sat_shared_kind kind,
			 const char *key, struct sat_shared_claim *claim,
			 int err)
{
	if (err == 0)
		enqueue(sh, kind, key, claim);
	else
		release(sh, claim);
}

void sat_shared_offer(struct sat_shared *sh, enum sat_shared_kind kind,
		      const char *key)
{
	enqueue(sh, kind, key, NULL);
}

/* ---- Life cycle ---- */

int sat_shared_new(struct sat_shared **out, struct sat_fetch *fetch,
		   struct sat_cache *cache, const struct sat_shared_opts *o,
		   char *err, size_t errlen)
{
	struct sat_objstore_opts so = {
		.store = o->store,
		.endpoint = o->endpoint,
		.region = o->region,
		.timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 5000,
		.transfer_timeout_ms = TRANSFER_TIMEOUT_MS,
		.max_tries = 2,
		.backoff_min_ms = o->backoff_min_ms,
	};
	struct sat_shared *sh;
	pthread_condattr_t ca;
	int rc, i;

	*out = NULL;
	so.stall_timeout_ms = so.timeout_ms;
	sh = calloc(1, sizeof(*sh));
	if (!sh)
		return -ENOMEM;
	rc = sat_objstore_new(&sh->store, fetch, &so, err, errlen);
	if (rc) {
		free(sh);
		return rc;
	}
	sh->cache = cache;
	sh->lease_s = o->lease_s > 0 ? o->lease_s : 120;
	sh->wait_s = o->wait_s >= 0 ? o->wait_s : 120;
	pthread_mutex_init(&sh->lock, NULL);
	pthread_cond_init(&sh->queue_cond, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sh->wake_cond, &ca);
	pthread_condattr_destroy(&ca);
	for (i = 0; i < UPLOAD_THREADS; i++) {
		rc = -pthread_create(&sh->threads[i], NULL, upload_main, sh);
		if (rc) {
			snprintf(err, errlen, "cannot start upload threads: %s",
				 strerror(-rc));
			sat_shared_stop(sh);
			sat_shared_free(sh);
			return rc;
		}
		sh->nthreads++;
	}
	sat_info("shared store %s: renders and COG headers are shared "
		 "(lease %d s, wait %d s)", sat_objstore_describe(sh->store),
		 sh->lease_s, sh->wait_s);
	*out = sh;
	return 0;
}

void sat_shared_stop(struct sat_shared *sh)
{
	if (!sh)
		return;
	pthread_mutex_lock(&sh->lock);
	if (!sh->stopping) {
		sh->stopping = true;
		sh->drain_until_ms = now_ms() + DRAIN_MS;
	}
	pthread_cond_broadcast(&sh->queue_cond);
	pthread_cond_broadcast(&sh->wake_cond);
	pthread_mutex_unlock(&sh->lock);
}

void sat_shared_free(struct sat_shared *sh)
{
	struct upload *u;
	unsigned dropped = 0;
	int i;

	if (!sh)
		return;
	sat_shared_stop(sh);
	for (i = 0; i < sh->nthreads; i++)
		pthread_join(sh->threads[i], NULL);
	/* past the drain: what is left is not uploaded; its leases go now
	 * (refused at once while the store fails), or expire */
	while ((u = sh->head)) {
		sh->head = u->next;
		if (u->kind == SAT_SHARED_FILE)
			sat_cache_unpin(sh->cache, u->key);
		release(sh, &u->claim);
		free(u);
		dropped++;
	}
	if (dropped)
		sat_warn("shared store %s: %u uploads not done at unmount",
			 sat_objstore_describe(sh->store), dropped);
	pthread_cond_destroy(&sh->queue_cond);
	pthread_cond_destroy(&sh->wake_cond);
	pthread_mutex_destroy(&sh->lock);
	sat_objstore_free(sh->store);
	free(sh);
}

const char *sat_shared_describe(const struct sat_shared *sh)
{
	return sat_objstore_describe(sh->store);
}

void sat_shared_get_stats(struct sat_shared *sh, struct sat_shared_stats *st)
{
	uint64_t bad;

	pthread_mutex_lock(&sh->lock);
	*st = sh->st;
	st->queued = sh->nqueued + sh->running;
	bad = sh->bad_sizes;
	pthread_mutex_unlock(&sh->lock);
	sat_objstore_get_health(sh->store, &st->store);
	st->store.bad_objects += bad;
}
