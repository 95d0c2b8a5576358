/*
 * cache_later: entries nobody waits for, written by a thread of the
 * cache's own at the lowest priority (see include/satfs/cache.h,
 * sat_cache_write_later, and cache_private.h).
 *
 * Why: a cold copy of 50 snippets writes some 250 such entries (the
 * headers of 200 COGs, 50 cloud covers), each a new file. Where files
 * were deleted in the last half minute (a cache that evicts as it fills,
 * or one just cleared) ext4 searches past their inodes for every new one:
 * 0.1 to 0.7 ms of CPU a file here, 0.2 s of the daemon's 2.3 in that
 * copy. At nice 19 the writes take what the renders leave of the cores.
 *
 * Threading: l->lock protects the queue; the writer takes the oldest
 * entry, marks it `writing` and writes it without the lock. An entry
 * being written is not dropped or replaced: cache_later_drop() waits for
 * that entry (a nice-19 thread: rare, for a key rewritten or removed
 * meanwhile). While it creates a file the writer holds the directory's
 * lock in the kernel, and a preempted nice-19 thread may wait a few
 * scheduler periods to run again: a listing written at once into
 * listings/ (where the cloud covers go) can wait that long, never more.
 *
 * Bounds: at most LATER_MAX entries and LATER_MAX_BYTES queued; past
 * that, the caller writes its own (sat_cache_write_later).
 */
#include "cache_private.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "satfs/log.h"

#define LATER_MAX 4096
#define LATER_MAX_BYTES (32u << 20)

struct later_entry {
	struct later_entry *next;
	uint64_t seq; /* told apart from a later entry of its key */
	enum sat_cache_kind kind;
	char key[SAT_HASH_HEX];
	bool writing;
	size_t len;
	char data[]; /* len bytes */
};

struct cache_later {
	struct sat_cache *cache;
	pthread_mutex_t lock;
	pthread_cond_t work; /* an entry queued, or stopping */
	pthread_cond_t done; /* an entry written */
	struct later_entry *head, **tail; /* protected by lock */
	size_t n, bytes;                   /* protected by lock */
	bool started, stopping, held;      /* protected by lock */
	uint64_t next_seq, writing_seq;    /* protected by lock; 0: none */
	pthread_t thread;
};

struct cache_later *cache_later_new(struct sat_cache *c)
{
	struct cache_later *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->cache = c;
	l->tail = &l->head;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->work, NULL);
	pthread_cond_init(&l->done, NULL);
	return l;
}

static bool same(const struct later_entry *e, enum sat_cache_kind kind,
		 const char *key)
{
	return e->kind == kind && (!key || strcmp(e->key, key) == 0);
}

static void unlink_locked(struct cache_later *l, struct later_entry **at)
{
	struct later_entry *e = *at;

	*at = e->next;
	if (l->tail == &e->next)
		l->tail = at;
	l->n--;
	l->bytes -= e->len;
}

static void *writer_main(void *arg)
{
	struct cache_later *l = arg;

	/* this thread only: Linux keeps a nice value per thread */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19) != 0)
		sat_debug("cache: the background writer keeps its priority");
	pthread_mutex_lock(&l->lock);
	while (!l->stopping) {
		struct later_entry *e = l->head;
		int err;

		if (!e || l->held) {
			pthread_cond_wait(&l->work, &l->lock);
			continue;
		}
		e->writing = true;
		l->writing_seq = e->seq;
		pthread_mutex_unlock(&l->lock);
		err = cache_write_now(l->cache, e->kind, e->key, e->data,
				      e->len);
		if (err)
			sat_warn("cache: could not write %s: %s", e->key,
				 strerror(-err));
		pthread_mutex_lock(&l->lock);
		unlink_locked(l, &l->head); /* still first: nothing passes it */
		free(e);
		l->writing_seq = 0;
		pthread_cond_broadcast(&l->done);
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

void cache_later_free(struct cache_later *l)
{
	struct later_entry *e, *next;
	bool started;

	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	l->stopping = true;
	started = l->started;
	pthread_cond_broadcast(&l->work);
	pthread_mutex_unlock(&l->lock);
	if (started)
		pthread_join(l->thread, NULL);
	for (e = l->head; e; e = next) { /* at full priority now */
		next = e->next;
		if (cache_write_now(l->cache, e->kind, e->key, e->data,
				    e->len) != 0)
			sat_warn("cache: could not write %s", e->key);
		free(e);
	}
	pthread_cond_destroy(&l->work);
	pthread_cond_destroy(&l->done);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

int cache_later_put(struct cache_later *l, enum sat_cache_kind kind,
		    const char *key, const void *data, size_t len)
{
	struct later_entry *e, **at;
	int ret = 0;

	if (strlen(key) >= sizeof(e->key))
		return -EAGAIN;
	e = malloc(sizeof(*e) + len);
	if (!e)
		return -ENOMEM;
	e->next = NULL;
	e->kind = kind;
	strcpy(e->key, key);
	e->writing = false;
	e->len = len;
	memcpy(e->data, data, len);
	pthread_mutex_lock(&l->lock);
	e->seq = ++l->next_seq;
	for (at = &l->head; *at; at = &(*at)->next)
		if (same(*at, kind, key) && !(*at)->writing) {
			struct later_entry *old = *at;

			unlink_locked(l, at);
			free(old);
			break;
		}
	if (l->stopping || l->n >= LATER_MAX ||
	    l->bytes + len > LATER_MAX_BYTES) {
		ret = -EAGAIN;
	} else if (!l->started &&
		   pthread_create(&l->thread, NULL, writer_main, l) != 0) {
		ret = -EAGAIN; /* no thread: written by the caller */
	} else {
		l->started = true;
		*l->tail = e;
		l->tail = &e->next;
		l->n++;
		l->bytes += len;
		pthread_cond_signal(&l->work);
		e = NULL;
	}
	pthread_mutex_unlock(&l->lock);
	free(e);
	return ret;
}

void cache_later_hold(struct cache_later *l, bool hold)
{
	pthread_mutex_lock(&l->lock);
	l->held = hold;
	pthread_cond_broadcast(&l->work);
	pthread_mutex_unlock(&l->lock);
}

int cache_later_get(struct cache_later *l, enum sat_cache_kind kind,
		    const char *key, char **data, size_t *len)
{
	const struct later_entry *e, *found = NULL;
	int ret = -ENOENT;

	pthread_mutex_lock(&l->lock);
	for (e = l->head; e; e = e->next)
		if (same(e, kind, key))
			found = e; /* the last queued is the newest */
	if (found) {
		*data = malloc(found->len + 1);
		ret = *data ? 0 : -ENOMEM;
		if (*data) {
			memcpy(*data, found->data, found->len);
			(*data)[found->len] = '\0';
			if (len)
				*len = found->len;
		}
	}
	pthread_mutex_unlock(&l->lock);
	return ret;
}

bool cache_later_drop(struct cache_later *l, enum sat_cache_kind kind,
		      const char *key)
{
	struct later_entry **at = &l->head;
	uint64_t wait_for = 0;
	bool dropped = false;

	pthread_mutex_lock(&l->lock);
	while (*at) {
		struct later_entry *e = *at;

		if (!same(e, kind, key)) {
			at = &e->next;
		} else if (e->writing) { /* the head; waited for below */
			wait_for = e->seq;
			at = &e->next;
		} else {
			unlink_locked(l, at);
			free(e);
			dropped = true;
		}
	}
	/* that one entry only: the writer goes on to the next without
	 * letting go of the lock, and those are not ours to wait for */
	while (wait_for && l->writing_seq == wait_for)
		pthread_cond_wait(&l->done, &l->lock);
	pthread_mutex_unlock(&l->lock);
	return dropped;
}
