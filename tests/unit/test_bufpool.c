/*
 * Unit tests for the buffer pool: freed large buffers come back to the
 * next request they fit, the pool holds no more than its cap, small or
 * oversized matches are not made, huge buffers are aligned and kept up to
 * their own cap, blocks come from slabs and go back to them, and threads
 * share it safely. Under AddressSanitizer the pool keeps no buffer (so
 * that a use after free is still caught): the cases check that instead of
 * the reuse; blocks stay in slabs, poisoned while free.
 */
#include "satest.h"
#include "satfs/bufpool.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Under AddressSanitizer: is byte p poisoned (as want)? */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define CHECK_POISONED(p, want) \
	CHECK_INT(__asan_address_is_poisoned(p) != 0, (want))
#else
#define CHECK_POISONED(p, want) ((void)(p), (void)(want))
#endif

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

/* The 2 MiB slab p lies in. */
static uintptr_t slab_of(const void *p)
{
	return (uintptr_t)p & ~(uintptr_t)(SAT_BUFPOOL_HUGE - 1);
}

/* A reserved buffer is kept while big enough; from 128 KiB up to 2 MiB
 * it is packed (a render's arrays, in huge pages), known as such by the
 * next reserve (its granules, not malloc's idea of it), with the bytes
 * past its size poisoned under AddressSanitizer even when it fills its
 * granules; smaller and larger ones are plain. */
SAT_TEST(reserve_keeps_a_large_enough_buffer)
{
	const size_t g = SAT_BUFPOOL_PACKED_GRANULE;
	void *p = NULL, *q, *small = NULL;

	sat_buf_trim();
	CHECK_INT(sat_buf_reserve(&p, 300000), 0);
	CHECK(p != NULL);
	CHECK_INT(((uintptr_t)p - slab_of(p)) % g, 0); /* packed */
	memset(p, 1, 300000);
	CHECK_POISONED((uint8_t *)p + 300000, 1);
	q = p;
	CHECK_INT(sat_buf_reserve(&p, 200000), 0);
	CHECK(p == q); /* big enough: kept */
	CHECK_POISONED((uint8_t *)p + 200000, 1);
	CHECK_INT(sat_buf_reserve(&p, 2 * g - 8), 0);
	CHECK(p == q); /* its run of two granules holds it too */
	memset(p, 2, 2 * g - 8);
	CHECK_INT(sat_buf_reserve(&p, 2 * g), 0);
	memset(p, 3, 2 * g);
	CHECK_POISONED((uint8_t *)p + 2 * g, 1); /* a whole run: redzone */
	q = p;
	CHECK_INT(sat_buf_reserve(&p, 3u << 20), 0);
	CHECK(p != q);
	CHECK(malloc_usable_size(p) >= (3u << 20)); /* plain */
	memset(p, 4, 3u << 20);
	sat_buf_free(p);
	CHECK_INT(sat_buf_reserve(&small, 10000), 0);
	CHECK(((uintptr_t)small - slab_of(small)) % g != 0); /* plain */
	CHECK(malloc_usable_size(small) >= 10000);
	memset(small, 5, 10000);
	sat_buf_free(small);
	small = NULL;
	CHECK_INT(sat_buf_reserve(&small, g / 2 - 1), 0); /* just under half */
	CHECK(((uintptr_t)small - slab_of(small)) % g != 0); /* plain */
	sat_buf_free(small);
	small = NULL;
	CHECK_INT(sat_buf_reserve(&small, 254720), 0); /* a 995-px chunk */
	CHECK_INT(((uintptr_t)small - slab_of(small)) % g, 0); /* packed */
	memset(small, 6, 254720);
	CHECK_POISONED((uint8_t *)small + 254720, 1);
	sat_buf_free(small);
	sat_buf_trim();
	CHECK_INT(sat_buf_pooled_bytes(), 0);
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

/* Runs fn on four threads at once, thread i given args[i]; each must
 * return NULL. */
static void run_four(void *(*fn)(void *), const uintptr_t args[4])
{
	pthread_t t[4];
	void *ret;

	for (int i = 0; i < 4; i++)
		CHECK_INT(pthread_create(&t[i], NULL, fn, (void *)args[i]), 0);
	for (int i = 0; i < 4; i++) {
		CHECK_INT(pthread_join(t[i], &ret), 0);
		CHECK(ret == NULL);
	}
}

SAT_TEST(threads_share_the_pool)
{
	const uintptr_t sizes[4] = { SAT_BUFPOOL_MIN, SAT_BUFPOOL_MIN + 4096,
				     SAT_BUFPOOL_MIN + 8192,
				     SAT_BUFPOOL_MIN + 12288 };

	sat_buf_trim();
	run_four(churn, sizes);
	CHECK(sat_buf_pooled_bytes() <= SAT_BUFPOOL_KEEP);
	sat_buf_trim();
}

/* The slab a block is in: its address rounded down to the slab size. */
SAT_TEST(blocks_come_from_slabs_and_go_back)
{
	enum { N = 100 }; /* 32 KiB blocks: more than one slab's 63 */
	const size_t n = 20u << 10;     /* in the 32 KiB class */
	uint8_t *b[N], *again;
	uintptr_t first;

	sat_buf_trim();
	for (int i = 0; i < N; i++) {
		b[i] = sat_buf_block_alloc(n);
		CHECK(b[i] != NULL);
		/* never a slab's first block (its header), whole blocks */
		CHECK(slab_of(b[i]) != (uintptr_t)b[i]);
		CHECK_INT(((uintptr_t)b[i] - slab_of(b[i])) % (32u << 10), 0);
		memset(b[i], i, 32u << 10); /* all of the class is ours */
	}
	for (int i = 0; i < N; i++) /* nothing overwrote another's */
		CHECK(b[i][0] == (uint8_t)i && b[i][(32u << 10) - 1] ==
						   (uint8_t)i);
	first = slab_of(b[0]);
	CHECK(slab_of(b[N - 1]) != first);
	sat_buf_block_free(b[0], n);
	CHECK_POISONED(b[0] + 64, 1); /* freed: a use after it is caught */
	again = sat_buf_block_alloc(n);
	CHECK(again == b[0]); /* the slab's free block, first */
	CHECK_POISONED(again + 64, 0);
	b[0] = again;
	for (int i = 0; i < N; i++)
		sat_buf_block_free(b[i], n);
	/* the first slab all free is kept; the second went back to the
	 * huge buffers (which keep it but under AddressSanitizer) */
	CHECK_INT(sat_buf_pooled_bytes(),
		  (sat_buf_pooling() ? 2 : 1) * (size_t)SAT_BUFPOOL_HUGE);
	again = sat_buf_block_alloc(n);
	CHECK(slab_of(again) == first);
	sat_buf_block_free(again, n);
	sat_buf_trim();
	CHECK_INT(sat_buf_pooled_bytes(), 0);
}

SAT_TEST(blocks_outside_the_classes_are_malloc)
{
	/* too small (a 4 KiB block would waste more than half) or too
	 * large: plain malloc, usable and freed the same way */
	size_t sizes[] = { 1, SAT_BUFPOOL_BLOCK_MIN / 2,
			   SAT_BUFPOOL_BLOCK_MAX + 1, 1u << 20 };

	sat_buf_trim();
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *p = sat_buf_block_alloc(sizes[i]);

		CHECK(p != NULL);
		CHECK(malloc_usable_size(p) >= sizes[i]);
		memset(p, 3, sizes[i]);
		sat_buf_block_free(p, sizes[i]);
	}
	CHECK_INT(sat_buf_pooled_bytes(), 0);
	sat_buf_block_free(NULL, 32u << 10);
}

static void *block_churn(void *arg)
{
	size_t n = (size_t)(uintptr_t)arg;
	uint8_t *held[70];

	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 70; i++) {
			held[i] = sat_buf_block_alloc(n);
			if (!held[i])
				return (void *)1;
			memset(held[i], round * 70 + i, n);
		}
		for (int i = 0; i < 70; i++) { /* ours alone while held */
			uint8_t v = (uint8_t)(round * 70 + i);

			if (held[i][0] != v || held[i][n - 1] != v)
				return (void *)1;
			sat_buf_block_free(held[i], n);
		}
	}
	return NULL;
}

SAT_TEST(threads_share_the_blocks)
{
	/* two classes, two threads each */
	const uintptr_t sizes[4] = { 32u << 10, 16u << 10, 32u << 10,
				     16u << 10 };

	sat_buf_trim();
	run_four(block_churn, sizes);
	sat_buf_trim();
	CHECK_INT(sat_buf_pooled_bytes(), 0);
}

#if defined(__SANITIZE_ADDRESS__)
/* Under AddressSanitizer a block freed twice stops the process (its
 * slab's count would go wrong, and the block be handed out twice). */
SAT_TEST(a_block_freed_twice_aborts)
{
	pid_t pid = fork();
	int status;

	CHECK(pid >= 0);
	if (pid == 0) {
		void *p = sat_buf_block_alloc(32u << 10);

		sat_buf_block_free(p, 32u << 10);
		sat_buf_block_free(p, 32u << 10);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}
#endif

/* Packed buffers: runs of 256 KiB granules, first fit, several to a
 * slab; a 2 MiB one takes a slab of its own; all-free slabs are kept (up
 * to four) and given back by a trim. Past n the bytes are poisoned under
 * AddressSanitizer, and the whole run once freed. */
SAT_TEST(packed_buffers_share_slabs_and_go_back)
{
	const size_t g = SAT_BUFPOOL_PACKED_GRANULE;
	const size_t sizes[] = { 300000, g, 3 * g - 8, SAT_BUFPOOL_HUGE,
				 100000 };
	const size_t at[] = { 0, 2 * g, 3 * g, 0, 6 * g }; /* in its slab */
	uint8_t *p[5], *again;

	sat_buf_trim();
	for (int i = 0; i < 5; i++) {
		p[i] = sat_buf_alloc_packed(sizes[i]);
		CHECK(p[i] != NULL);
		CHECK_INT((uintptr_t)p[i] - slab_of(p[i]), at[i]);
		memset(p[i], i + 1, sizes[i]);
		if (sizes[i] % g) /* the rest of its run */
			CHECK_POISONED(p[i] + sizes[i], 1);
	}
	CHECK(slab_of(p[1]) == slab_of(p[0]) && slab_of(p[2]) ==
						     slab_of(p[0]));
	CHECK(slab_of(p[3]) != slab_of(p[0]));
	CHECK(slab_of(p[4]) == slab_of(p[0]));
	for (int i = 0; i < 5; i++) /* nothing overwrote another's */
		CHECK(p[i][0] == i + 1 && p[i][sizes[i] - 1] == i + 1);
	sat_buf_free(p[0]);
	CHECK_POISONED(p[0], 1);
	again = sat_buf_alloc_packed(2 * g); /* the first fit: p[0]'s */
	CHECK(again == p[0]);
	CHECK_POISONED(again, 0);
	p[0] = again;
	for (int i = 0; i < 5; i++)
		sat_buf_free(p[i]);
	CHECK_INT(sat_buf_pooled_bytes(), 2 * (size_t)SAT_BUFPOOL_HUGE);
	sat_buf_trim();
	CHECK_INT(sat_buf_pooled_bytes(), 0);
}

/* Over 2 MiB, or every slab in use: a plain buffer, freed the same way. */
SAT_TEST(packed_past_the_slabs_is_plain)
{
	uint8_t *full[SAT_BUFPOOL_PACKED_SLABS], *p, *big;

	sat_buf_trim();
	for (int i = 0; i < SAT_BUFPOOL_PACKED_SLABS; i++) {
		full[i] = sat_buf_alloc_packed(SAT_BUFPOOL_HUGE);
		CHECK(full[i] != NULL);
		CHECK((uintptr_t)full[i] == slab_of(full[i]));
	}
	p = sat_buf_alloc_packed(1000);
	big = sat_buf_alloc_packed(SAT_BUFPOOL_HUGE + 1);
	CHECK(p != NULL && big != NULL);
	CHECK(malloc_usable_size(p) >= 1000);
	CHECK(malloc_usable_size(big) >= SAT_BUFPOOL_HUGE + 1);
	memset(big, 1, SAT_BUFPOOL_HUGE + 1);
	sat_buf_free(p);
	sat_buf_free(big);
	for (int i = 0; i < SAT_BUFPOOL_PACKED_SLABS; i++)
		sat_buf_free(full[i]);
	sat_buf_trim();
	CHECK_INT(sat_buf_pooled_bytes(), 0);
}

static void *packed_churn(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	uint8_t *held[6];
	size_t n[6];

	for (int round = 0; round < 200; round++) {
		for (int i = 0; i < 6; i++) {
			seed = seed * 1103515245u + 12345u;
			n[i] = 1 + (seed >> 8) % (3u << 19); /* to 1.5 MiB */
			held[i] = sat_buf_alloc_packed(n[i]);
			if (!held[i])
				return (void *)1;
			held[i][0] = held[i][n[i] - 1] = (uint8_t)(round + i);
		}
		for (int i = 0; i < 6; i++) { /* ours alone while held */
			uint8_t v = (uint8_t)(round + i);

			if (held[i][0] != v || held[i][n[i] - 1] != v)
				return (void *)1;
			sat_buf_free(held[i]);
		}
	}
	return NULL;
}

SAT_TEST(threads_share_the_packed_slabs)
{
	const uintptr_t seeds[4] = { 1, 2, 3, 4 };

	sat_buf_trim();
	run_four(packed_churn, seeds);
	sat_buf_trim();
	CHECK_INT(sat_buf_pooled_bytes(), 0);
}

/* A packed buffer freed twice stops the process, in every build: the
 * granules would be handed out twice. */
SAT_TEST(a_packed_buffer_freed_twice_aborts)
{
	pid_t pid = fork();
	int status;

	CHECK(pid >= 0);
	if (pid == 0) {
		void *p = sat_buf_alloc_packed(300000);

		sat_buf_free(p);
		sat_buf_free(p);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}
