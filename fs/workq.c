/*
 * workq: see include/satfs/workq.h. q->lock protects both item lists and
 * the stopping flag; items run without it. Urgent items go before the
 * others, each list in submission order.
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
};

struct sat_workq {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct item *head, *tail; /* protected by lock */
	struct item *uhead, *utail; /* urgent items; protected by lock */
	bool stopping;            /* protected by lock */
	pthread_t *threads;
	int nthreads;
};

static void *workq_main(void *arg)
{
	struct sat_workq *q = arg;
	struct item *it;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		struct item **head = q->uhead ? &q->uhead : &q->head;
		struct item **tail = q->uhead ? &q->utail : &q->tail;

		it = *head;
		if (!it) {
			if (q->stopping)
				break;
			pthread_cond_wait(&q->cond, &q->lock);
			continue;
		}
		*head = it->next;
		if (!*head)
			*tail = NULL;
		pthread_mutex_unlock(&q->lock);
		it->fn(it->payload);
		free(it);
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

int sat_workq_new(struct sat_workq **out, int threads)
{
	struct sat_workq *q = calloc(1, sizeof(*q));
	int i, err;

	*out = NULL;
	if (!q)
		return -ENOMEM;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	q->threads = calloc((size_t)threads, sizeof(*q->threads));
	if (!q->threads) {
		free(q);
		return -ENOMEM;
	}
	for (i = 0; i < threads; i++) {
		err = pthread_create(&q->threads[i], NULL, workq_main, q);
		if (err) {
			q->nthreads = i;
			sat_workq_free(q);
			return -err;
		}
	}
	q->nthreads = threads;
	*out = q;
	return 0;
}

void sat_workq_free(struct sat_workq *q)
{
	int i;

	if (!q)
		return;
	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	for (i = 0; i < q->nthreads; i++)
		pthread_join(q->threads[i], NULL);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
	free(q->threads);
	free(q);
}

static int workq_push(struct sat_workq *q, sat_work_fn fn, void *payload,
		      bool urgent)
{
	struct item *it = calloc(1, sizeof(*it));
	struct item **head, **tail;

	if (!it)
		return -ENOMEM;
	it->fn = fn;
	it->payload = payload;
	pthread_mutex_lock(&q->lock);
	head = urgent ? &q->uhead : &q->head;
	tail = urgent ? &q->utail : &q->tail;
	if (*tail)
		(*tail)->next = it;
	else
		*head = it;
	*tail = it;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

int sat_workq_submit(struct sat_workq *q, sat_work_fn fn, void *payload)
{
	return workq_push(q, fn, payload, false);
}

int sat_workq_submit_urgent(struct sat_workq *q, sat_work_fn fn,
			    void *payload)
{
	return workq_push(q, fn, payload, true);
}
