/*
 * Unit tests for the buffer pool: freed large buffers come back to the
 * next request they fit, the pool holds no more than its cap, small or
 * oversized matches are not made, huge buffers are aligned and kept up to
 * their own cap, and threads share it safely. Under
 * AddressSanitizer the pool keeps nothing (so that a use after free is
 * still caught): the cases check that instead of the reuse.
 */
#include "satest.h"
#include "satfs/bufpool.h"

#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

SAT_TEST(reuses_a_freed_buffer)
{
	size_t n = 1u << 20;
	uint8_t *a, *b;

	sat_buf_trim();
	a = sat_buf_alloc(n);
	CHECK(a != NULL);
	CHECK(malloc_usable_size(a) >= n);
	memset(a, 7, n);
	sat_buf_free(a);
	if (!sat_buf_pooling()) {
		CHECK_INT(sat_buf_pooled_bytes(), 0);
		return;
	}
	CHECK(sat_buf_pooled_bytes() >= n);
	b = sat_buf_alloc(n - 1000); /* a little smaller fits too */
	CHECK(b == a);
	CHECK_INT(sat_buf_pooled_bytes(), 0);
	sat_buf_free(b);
	sat_buf_trim();
	CHECK_INT(sat_buf_pooled_bytes(), 0);
}

SAT_TEST(huge_buffers_are_aligned_and_kept_up_to_their_cap)
{
	const size_t n = 2 * SAT_BUFPOOL_HUGE; /* rounded to itself */
	void *p[SAT_BUFPOOL_HUGE_KEEP + 2], *q;

	sat_buf_trim();
	for (size_t i = 0; i < SAT_BUFPOOL_HUGE_KEEP + 2; i++) {
		p[i] = sat_buf_alloc_huge(n - 100);
		CHECK(p[i] != NULL);
		CHECK((uintptr_t)p[i] % SAT_BUFPOOL_HUGE == 0);
		memset(p[i], 1, n); /* all of the rounded size is ours */
	}
	for (size_t i = 0; i < SAT_BUFPOOL_HUGE_KEEP + 2; i++)
		sat_buf_free_huge(p[i], n - 100);
	if (!sat_buf_pooling()) {
		CHECK_INT(sat_buf_pooled_bytes(), 0);
		return;
	}
	CHECK_INT(sat_buf_pooled_bytes(), SAT_BUFPOOL_HUGE_KEEP * n);
	/* another length is not handed out; the same one is */
	q = sat_buf_alloc_huge(SAT_BUFPOOL_HUGE);
	CHECK_INT(sat_buf_pooled_bytes(), SAT_BUFPOOL_HUGE_KEEP * n);
	sat_buf_free_huge(q, SAT_BUFPOOL_HUGE); /* no room: unmapped */
	q = sat_buf_alloc_huge(n);
	CHECK_INT(sat_buf_pooled_bytes(), (SAT_BUFPOOL_HUGE_KEEP - 1) * n);
	sat_buf_free_huge(q, n);
	sat_buf_trim();
	CHECK_INT(sat_buf_pooled_bytes(), 0);
}

SAT_TEST(small_buffers_are_not_pooled)
{
	void *p;

	sat_buf_trim();
	p = sat_buf_alloc(SAT_BUFPOOL_MIN / 4);
	CHECK(p != NULL);
	sat_buf_free(p);
	CHECK_INT(sat_buf_pooled_bytes(), 0);
	sat_buf_free(NULL);
}

SAT_TEST(a_much_larger_buffer_is_not_handed_out)
{
	uint8_t *big, *small;

	sat_buf_trim();
	big = sat_buf_alloc(8u << 20);
	CHECK(big != NULL);
	sat_buf_free(big);
	small = sat_buf_alloc(1u << 20);
	CHECK(small != NULL);
	if (sat_buf_pooling()) {
		CHECK(small != big); /* 8 MiB for 1 MiB: no */
		CHECK(sat_buf_pooled_bytes() >= (8u << 20));
	}
	sat_buf_free(small);
	sat_buf_trim();
}

SAT_TEST(keeps_at_most_its_cap)
{
	enum { N = 40 };
	void *p[N];
	size_t n = 4u << 20; /* 40 x 4 MiB: more than the cap */

	sat_buf_trim();
	for (int i = 0; i < N; i++) {
		p[i] = sat_buf_alloc(n);
		CHECK(p[i] != NULL);
	}
	for (int i = 0; i < N; i++)
		sat_buf_free(p[i]);
	CHECK(sat_buf_pooled_bytes() <= SAT_BUFPOOL_KEEP);
	if (sat_buf_pooling())
		CHECK(sat_buf_pooled_bytes() > SAT_BUFPOOL_KEEP / 2);
	sat_buf_trim();
	CHECK_INT(sat_buf_pooled_bytes(), 0);
}

SAT_TEST(reserve_keeps_a_large_enough_buffer)
{
	void *p = NULL, *q;

	sat_buf_trim();
	CHECK_INT(sat_buf_reserve(&p, 300000), 0);
	CHECK(p != NULL && malloc_usable_size(p) >= 300000);
	q = p;
	CHECK_INT(sat_buf_reserve(&p, 200000), 0);
	CHECK(p == q); /* big enough: kept */
	CHECK_INT(sat_buf_reserve(&p, 3u << 20), 0);
	CHECK(malloc_usable_size(p) >= (3u << 20));
	memset(p, 1, 3u << 20);
	sat_buf_free(p);
	sat_buf_trim();
}

static void *churn(void *arg)
{
	size_t base = (size_t)(uintptr_t)arg;

	for (int i = 0; i < 500; i++) {
		size_t n = base + (size_t)(i % 7) * (100u << 10);
		uint8_t *b = sat_buf_alloc(n);

		if (!b)
			return (void *)1;
		b[0] = b[n - 1] = (uint8_t)i; /* ours alone while held */
		if (b[0] != (uint8_t)i || b[n - 1] != (uint8_t)i)
			return (void *)1;
		sat_buf_free(b);
	}
	return NULL;
}

SAT_TEST(threads_share_the_pool)
{
	pthread_t t[4];
	void *ret;

	sat_buf_trim();
	for (int i = 0; i < 4; i++)
		CHECK_INT(pthread_create(&t[i], NULL, churn,
					 (void *)(uintptr_t)(SAT_BUFPOOL_MIN +
							     i * 4096)),
			  0);
	for (int i = 0; i < 4; i++) {
		CHECK_INT(pthread_join(t[i], &ret), 0);
		CHECK(ret == NULL);
	}
	CHECK(sat_buf_pooled_bytes() <= SAT_BUFPOOL_KEEP);
	sat_buf_trim();
}
