/*
 * workq: see include/satfs/workq.h. q->lock protects both item lists, the
 * keys running, the thread array and the counts; items run without it.
 * Urgent items go before the others, each list in submission order, but
 * for an item whose key is running already: it waits, without a thread,
 * and the first item of the list that can run goes instead.
 *
 * The pool starts with `threads` threads and grows, one thread per item
 * that finds none idle, up to max_threads; threads never end before
 * sat_workq_free() (the pool is bounded, and a burst comes back). An idle
 * thread woken for one item may be counted idle by the next push too, so
 * a thread that takes an item and leaves another runnable one with nobody
 * idle (or starting) starts the thread for it.
 */
#include "satfs/workq.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct item {
	struct item *next;
	sat_work_fn fn;
	void *payload;
	uint64_t key; /* 0: none */
};

struct sat_workq {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct item *head, *tail; /* protected by lock */
	struct item *uhead, *utail; /* urgent items; protected by lock */
	bool stopping;            /* protected by lock */
	pthread_t *threads;       /* protected by lock */
	uint64_t *running;        /* protected by lock: each thread's key */
	int nthreads;             /* protected by lock */
	int max_threads;          /* protected by lock */
	int idle;                 /* protected by lock: threads waiting */
	int starting;             /* protected by lock: spawned, not yet
				     in their loop */
};

struct worker {
	struct sat_workq *q;
	int slot;
};

static int spawn_locked(struct sat_workq *q);

static bool key_running(const struct sat_workq *q, uint64_t key)
{
	for (int i = 0; key && i < q->nthreads; i++)
		if (q->running[i] == key)
			return true;
	return false;
}

/* Unlinks and returns the first item of the list at *head that may run
 * now, or NULL. */
static struct item *take(struct sat_workq *q, struct item **head,
			 struct item **tail)
{
	struct item *prev = NULL, *it;

	for (it = *head; it; prev = it, it = it->next) {
		if (key_running(q, it->key))
			continue;
		if (prev)
			prev->next = it->next;
		else
			*head = it->next;
		if (*tail == it)
			*tail = prev;
		return it;
	}
	return NULL;
}

static bool runnable_in(const struct sat_workq *q, const struct item *it)
{
	for (; it; it = it->next)
		if (!key_running(q, it->key))
			return true;
	return false;
}

/* One more thread when an item could run now but no thread is idle to
 * take it, nor about to start; if starting one fails, the item waits for
 * a busy one. A thread starting counts as one for the whole burst: the
 * one that takes an item looks again, so threads come one at a time, as
 * many as the items need. Under q->lock. */
static void grow_if_needed(struct sat_workq *q)
{
	if (q->idle > 0 || q->starting > 0 || q->nthreads >= q->max_threads ||
	    q->stopping)
		return;
	if (runnable_in(q, q->uhead) || runnable_in(q, q->head))
		(void)spawn_locked(q);
}

static void *workq_main(void *arg)
{
	struct worker *w = arg;
	struct sat_workq *q = w->q;
	int slot = w->slot;
	struct item *it;

	free(w);
	pthread_mutex_lock(&q->lock);
	q->starting--;
	for (;;) {
		it = take(q, &q->uhead, &q->utail);
		if (!it)
			it = take(q, &q->head, &q->tail);
		if (!it) {
			/* stop once nothing is queued; a keyed item left
			 * waits for its key's thread, which is not idle */
			if (q->stopping && !q->head && !q->uhead)
				break;
			q->idle++;
			pthread_cond_wait(&q->cond, &q->lock);
			q->idle--;
			continue;
		}
		q->running[slot] = it->key;
		grow_if_needed(q);
		pthread_mutex_unlock(&q->lock);
		it->fn(it->payload);
		pthread_mutex_lock(&q->lock);
		q->running[slot] = 0;
		if (it->key) /* items of that key may run now */
			pthread_cond_broadcast(&q->cond);
		free(it);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

/* Starts one more thread. Under q->lock. 0 or -errno. */
static int spawn_locked(struct sat_workq *q)
{
	struct worker *w = malloc(sizeof(*w));
	int err;

	if (!w)
		return -ENOMEM;
	w->q = q;
	w->slot = q->nthreads;
	q->running[w->slot] = 0;
	err = pthread_create(&q->threads[w->slot], NULL, workq_main, w);
	if (err) {
		free(w);
		return -err;
	}
	q->nthreads++;
	q->starting++;
	return 0;
}

int sat_workq_new(struct sat_workq **out, int threads)
{
	return sat_workq_new_elastic(out, threads, threads);
}

int sat_workq_new_elastic(struct sat_workq **out, int threads,
			  int max_threads)
{
	struct sat_workq *q = calloc(1, sizeof(*q));
	int i, err = 0;

	*out = NULL;
	if (!q)
		return -ENOMEM;
	if (max_threads < threads)
		max_threads = threads;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	q->max_threads = max_threads;
	q->threads = calloc((size_t)max_threads, sizeof(*q->threads));
	q->running = calloc((size_t)max_threads, sizeof(*q->running));
	if (!q->threads || !q->running) {
		sat_workq_free(q);
		return -ENOMEM;
	}
	pthread_mutex_lock(&q->lock);
	for (i = 0; i < threads && !err; i++)
		err = spawn_locked(q);
	pthread_mutex_unlock(&q->lock);
	if (err) {
		sat_workq_free(q);
		return err;
	}
	*out = q;
	return 0;
}

void sat_workq_free(struct sat_workq *q)
{
	int i, n;

	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	pthread_cond_broadcast(&q->cond);
	n = q->nthreads; /* no thread is started once stopping */
	pthread_mutex_unlock(&q->lock);
	for (i = 0; i < n; i++)
		pthread_join(q->threads[i], NULL);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
	free(q->threads);
	free(q->running);
	free(q);
}

static int workq_push(struct sat_workq *q, sat_work_fn fn, void *payload,
		      bool urgent, uint64_t key)
{
	struct item *it = calloc(1, sizeof(*it));
	struct item **head, **tail;

	if (!it)
		return -ENOMEM;
	it->fn = fn;
	it->payload = payload;
	it->key = key;
	pthread_mutex_lock(&q->lock);
	head = urgent ? &q->uhead : &q->head;
	tail = urgent ? &q->utail : &q->tail;
	if (*tail)
		(*tail)->next = it;
	else
		*head = it;
	*tail = it;
	grow_if_needed(q);
	/* a broadcast: the idle thread woken must be one that can take it,
	 * and any can, but a signal may wake one whose scan finds a keyed
	 * item blocked first and sleeps again */
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

int sat_workq_submit(struct sat_workq *q, sat_work_fn fn, void *payload)
{
	return workq_push(q, fn, payload, false, 0);
}

int sat_workq_submit_urgent(struct sat_workq *q, sat_work_fn fn,
			    void *payload)
{
	return workq_push(q, fn, payload, true, 0);
}

int sat_workq_submit_keyed(struct sat_workq *q, uint64_t key, sat_work_fn fn,
			   void *payload)
{
	return workq_push(q, fn, payload, false, key);
}
