/* bufpool: see include/satfs/bufpool.h. */
#include "satfs/bufpool.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#if defined(__SANITIZE_ADDRESS__)
#define BUFPOOL_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BUFPOOL_OFF 1
#endif
#endif
#ifndef BUFPOOL_OFF
#define BUFPOOL_OFF 0
#endif

/* Sizes are rounded up to this, so that buffers of one use (the bodies
 * of ranges of similar length) fit each other's requests. */
#define BUFPOOL_ROUND (64u << 10)

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static void *pool_buf[SAT_BUFPOOL_SLOTS]; /* protected by pool_lock */
static size_t pool_size[SAT_BUFPOOL_SLOTS];
static size_t pool_n, pool_bytes;

void *sat_buf_alloc(size_t n)
{
	size_t best = SIZE_MAX;
	void *p = NULL;

	if (BUFPOOL_OFF || n < SAT_BUFPOOL_MIN)
		return malloc(n ? n : 1);
	pthread_mutex_lock(&pool_lock);
	/* the smallest that fits, and not more than twice what is asked */
	for (size_t i = 0; i < pool_n; i++)
		if (pool_size[i] >= n && pool_size[i] <= 2 * n &&
		    (best == SIZE_MAX || pool_size[i] < pool_size[best]))
			best = i;
	if (best != SIZE_MAX) {
		p = pool_buf[best];
		pool_bytes -= pool_size[best];
		pool_n--;
		pool_buf[best] = pool_buf[pool_n];
		pool_size[best] = pool_size[pool_n];
	}
	pthread_mutex_unlock(&pool_lock);
	if (p)
		return p;
	if (n > SIZE_MAX - BUFPOOL_ROUND)
		return NULL;
	return malloc((n + BUFPOOL_ROUND - 1) / BUFPOOL_ROUND * BUFPOOL_ROUND);
}

void sat_buf_free(void *p)
{
	size_t size;

	if (!p)
		return;
	size = BUFPOOL_OFF ? 0 : malloc_usable_size(p);
	if (size < SAT_BUFPOOL_MIN) {
		free(p);
		return;
	}
	pthread_mutex_lock(&pool_lock);
	if (pool_n < SAT_BUFPOOL_SLOTS &&
	    pool_bytes + size <= SAT_BUFPOOL_KEEP) {
		pool_buf[pool_n] = p;
		pool_size[pool_n++] = size;
		pool_bytes += size;
		p = NULL;
	}
	pthread_mutex_unlock(&pool_lock);
	free(p);
}

int sat_buf_reserve(void **p, size_t n)
{
	void *nb;

	if (*p && malloc_usable_size(*p) >= n)
		return 0;
	nb = sat_buf_alloc(n);
	if (!nb)
		return -ENOMEM;
	sat_buf_free(*p);
	*p = nb;
	return 0;
}

/* Kept huge buffers, all of one length per slot. */
static void *huge_buf[SAT_BUFPOOL_HUGE_KEEP]; /* protected by pool_lock */
static size_t huge_len[SAT_BUFPOOL_HUGE_KEEP], huge_n;

static size_t huge_round(size_t n)
{
	return (n + SAT_BUFPOOL_HUGE - 1) & ~(size_t)(SAT_BUFPOOL_HUGE - 1);
}

void *sat_buf_alloc_huge(size_t n)
{
	size_t len = huge_round(n);
	uint8_t *p, *a = NULL;

	if (n == 0 || len < n)
		return NULL;
	pthread_mutex_lock(&pool_lock);
	for (size_t i = 0; i < huge_n && !a; i++) {
		if (huge_len[i] != len)
			continue;
		a = huge_buf[i];
		huge_n--;
		huge_buf[i] = huge_buf[huge_n];
		huge_len[i] = huge_len[huge_n];
	}
	pthread_mutex_unlock(&pool_lock);
	if (a)
		return a;
	p = mmap(NULL, len + SAT_BUFPOOL_HUGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	/* keep the aligned part only */
	a = (uint8_t *)(((uintptr_t)p + SAT_BUFPOOL_HUGE - 1) &
			~(uintptr_t)(SAT_BUFPOOL_HUGE - 1));
	if (a > p)
		munmap(p, (size_t)(a - p));
	if (a + len < p + len + SAT_BUFPOOL_HUGE)
		munmap(a + len, (size_t)(p + len + SAT_BUFPOOL_HUGE - (a + len)));
	madvise(a, len, MADV_HUGEPAGE); /* a hint: fine if refused */
	return a;
}

void sat_buf_free_huge(void *p, size_t n)
{
	size_t len = huge_round(n);

	if (!p)
		return;
	pthread_mutex_lock(&pool_lock);
	if (!BUFPOOL_OFF && huge_n < SAT_BUFPOOL_HUGE_KEEP) {
		huge_buf[huge_n] = p;
		huge_len[huge_n++] = len;
		p = NULL;
	}
	pthread_mutex_unlock(&pool_lock);
	if (p)
		munmap(p, len);
}

void sat_buf_trim(void)
{
	pthread_mutex_lock(&pool_lock);
	while (pool_n > 0)
		free(pool_buf[--pool_n]);
	pool_bytes = 0;
	while (huge_n > 0) {
		huge_n--;
		munmap(huge_buf[huge_n], huge_len[huge_n]);
	}
	pthread_mutex_unlock(&pool_lock);
}

size_t sat_buf_pooled_bytes(void)
{
	size_t n;

	pthread_mutex_lock(&pool_lock);
	n = pool_bytes;
	for (size_t i = 0; i < huge_n; i++)
		n += huge_len[i];
	pthread_mutex_unlock(&pool_lock);
	return n;
}

int sat_buf_pooling(void)
{
	return !BUFPOOL_OFF;
}
