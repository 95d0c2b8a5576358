/*
 * Unit tests for the work queue: an elastic pool grows when its threads
 * all wait (a slow region must not hold up another's listing), and items
 * of one key run one at a time without holding a thread each.
 *
 * The items wait on gates the test opens: nothing here waits for time to
 * pass, only for a state to be reached, with a deadline.
 */
#include "satest.h"
#include "satfs/workq.h"

#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

struct gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool open;
	int started;  /* items that began */
	int running;  /* items in fn now */
	int most;     /* most running at once */
	int done;
};

struct gate_item {
	struct gate *g;
	bool wait;    /* wait for the gate, else return at once */
};

static void gate_init(struct gate *g)
{
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
	g->open = false;
	g->started = g->running = g->most = g->done = 0;
}

static void item_fn(void *payload)
{
	struct gate_item *it = payload;
	struct gate *g = it->g;

	pthread_mutex_lock(&g->lock);
	g->started++;
	g->running++;
	if (g->running > g->most)
		g->most = g->running;
	pthread_cond_broadcast(&g->cond);
	while (it->wait && !g->open)
		pthread_cond_wait(&g->cond, &g->lock);
	g->running--;
	g->done++;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits up to 10 s for *counter >= n; returns its value. */
static int wait_for(struct gate *g, int *counter, int n)
{
	uint64_t until = ms_now() + 10000;
	int v;

	pthread_mutex_lock(&g->lock);
	while (*counter < n && ms_now() < until) {
		pthread_mutex_unlock(&g->lock);
		usleep(1000);
		pthread_mutex_lock(&g->lock);
	}
	v = *counter;
	pthread_mutex_unlock(&g->lock);
	return v;
}

static void gate_open(struct gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->open = true;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

/* 4 threads, all waiting on a slow server: a fifth item (another
 * region's listing) still starts at once, on a thread of its own. */
SAT_TEST(elastic_pool_grows_past_waiting_threads)
{
	struct gate slow, fast;
	struct gate_item s = { &slow, true }, f = { &fast, false };
	struct sat_workq *q;
	int i;

	gate_init(&slow);
	gate_init(&fast);
	CHECK_INT(sat_workq_new_elastic(&q, 4, 16), 0);
	for (i = 0; i < 6; i++)
		CHECK_INT(sat_workq_submit_keyed(q, (uint64_t)(100 + i),
						 item_fn, &s), 0);
	CHECK_INT(wait_for(&slow, &slow.started, 6), 6);
	CHECK_INT(sat_workq_submit_keyed(q, 7, item_fn, &f), 0);
	CHECK_INT(wait_for(&fast, &fast.done, 1), 1);
	CHECK_INT(slow.done, 0);
	gate_open(&slow);
	sat_workq_free(q);
	CHECK_INT(slow.done, 6);
}

/* Two idle threads, four items pushed back to back: a later push still
 * counts the threads woken for the earlier ones as idle, so a thread that
 * takes an item must start one for what is left. The short sleep lets the
 * pool go idle first, which is when the race can happen at all; the test
 * holds whatever the timing. */
SAT_TEST(burst_onto_idle_pool_runs_every_item)
{
	for (int round = 0; round < 20; round++) {
		struct gate warm, slow;
		struct gate_item w = { &warm, false }, s = { &slow, true };
		struct sat_workq *q;

		gate_init(&warm);
		gate_init(&slow);
		CHECK_INT(sat_workq_new_elastic(&q, 2, 4), 0);
		CHECK_INT(sat_workq_submit(q, item_fn, &w), 0);
		CHECK_INT(sat_workq_submit(q, item_fn, &w), 0);
		CHECK_INT(wait_for(&warm, &warm.done, 2), 2);
		usleep(20000);
		for (int i = 0; i < 4; i++)
			CHECK_INT(sat_workq_submit(q, item_fn, &s), 0);
		CHECK_INT(wait_for(&slow, &slow.started, 4), 4);
		gate_open(&slow);
		sat_workq_free(q);
		CHECK_INT(slow.done, 4);
	}
}

static int threads_now(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* A burst of items that all wait, onto a pool of one: one thread for
 * each, none more (threads never end before the pool does). */
SAT_TEST(burst_starts_one_thread_per_item)
{
	struct gate slow;
	struct gate_item s = { &slow, true };
	struct sat_workq *q;
	int before = threads_now();

	gate_init(&slow);
	CHECK(before > 0);
	CHECK_INT(sat_workq_new_elastic(&q, 1, 64), 0);
	for (int i = 0; i < 11; i++)
		CHECK_INT(sat_workq_submit(q, item_fn, &s), 0);
	CHECK_INT(wait_for(&slow, &slow.started, 11), 11);
	CHECK_INT(threads_now() - before, 11);
	gate_open(&slow);
	sat_workq_free(q);
	CHECK_INT(slow.done, 11);
}

/* 20 items of one key: one at a time, and they hold no thread while they
 * wait, so an item of another key runs meanwhile on a pool of 2 that
 * cannot grow. */
SAT_TEST(keyed_items_run_one_at_a_time)
{
	struct gate slow, fast;
	struct gate_item s = { &slow, true }, f = { &fast, false };
	struct sat_workq *q;
	int i;

	gate_init(&slow);
	gate_init(&fast);
	CHECK_INT(sat_workq_new_elastic(&q, 2, 2), 0);
	for (i = 0; i < 20; i++)
		CHECK_INT(sat_workq_submit_keyed(q, 42, item_fn, &s), 0);
	CHECK_INT(wait_for(&slow, &slow.started, 1), 1);
	CHECK_INT(sat_workq_submit_keyed(q, 43, item_fn, &f), 0);
	CHECK_INT(wait_for(&fast, &fast.done, 1), 1);
	pthread_mutex_lock(&slow.lock);
	CHECK_INT(slow.started, 1);
	pthread_mutex_unlock(&slow.lock);
	gate_open(&slow);
	CHECK_INT(wait_for(&slow, &slow.done, 20), 20);
	CHECK_INT(slow.most, 1);
	sat_workq_free(q);
}

/* A pool that may not grow stays at its size: the fifth item waits. */
SAT_TEST(fixed_pool_does_not_grow)
{
	struct gate slow, fast;
	struct gate_item s = { &slow, true }, f = { &fast, false };
	struct sat_workq *q;
	int i;

	gate_init(&slow);
	gate_init(&fast);
	CHECK_INT(sat_workq_new(&q, 2), 0);
	for (i = 0; i < 2; i++)
		CHECK_INT(sat_workq_submit(q, item_fn, &s), 0);
	CHECK_INT(wait_for(&slow, &slow.started, 2), 2);
	CHECK_INT(sat_workq_submit(q, item_fn, &f), 0);
	usleep(100000); /* a chance to run, which it must not have */
	pthread_mutex_lock(&fast.lock);
	CHECK_INT(fast.started, 0);
	pthread_mutex_unlock(&fast.lock);
	gate_open(&slow);
	sat_workq_free(q);
	CHECK_INT(fast.done, 1);
}
