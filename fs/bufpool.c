/* bufpool: see include/satfs/bufpool.h. */
#include "satfs/bufpool.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
#if BUFPOOL_OFF
#include <sanitizer/asan_interface.h>
#endif

/* Sizes are rounded up to this, so that buffers of one use (the bodies
 * of ranges of similar length) fit each other's requests. */
#define BUFPOOL_ROUND (64u << 10)

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static bool packed_free(void *p);
static size_t packed_fit(void *p, size_t n);
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

	if (!p || packed_free(p))
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

/* Under AddressSanitizer a reserved packed buffer keeps this many
 * poisoned bytes past its size, as malloc's redzone would: a render's
 * arrays are often a whole number of granules, and the next granule may
 * be another buffer's. */
#define RESERVE_REDZONE (BUFPOOL_OFF ? 8u : 0u)

int sat_buf_reserve(void **p, size_t n)
{
	size_t packed_bytes;
	void *nb;

	if (*p) {
		packed_bytes = packed_fit(*p, n);
		if (packed_bytes ? packed_bytes >= n + RESERVE_REDZONE
				 : malloc_usable_size(*p) >= n)
			return 0;
	}
	/* A render's arrays, written as soon as reserved: in huge pages
	 * where they fit a slab, a fault per 2 MiB of them, not per 4 KiB.
	 * Below half a granule, a granule would be mostly waste. */
	nb = n >= SAT_BUFPOOL_RESERVE_PACKED
		     ? sat_buf_alloc_packed(n + RESERVE_REDZONE)
		     : sat_buf_alloc(n);
	if (!nb)
		return -ENOMEM;
	if (RESERVE_REDZONE)
		packed_fit(nb, n); /* its redzone poisoned, when packed */
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

/* ---- blocks ----------------------------------------------------------
 *
 * Slabs of SAT_BUFPOOL_HUGE bytes (huge buffers, so aligned on their
 * size: a block's slab is its address rounded down), one size class
 * each. A slab's first block holds its header; the others are handed
 * out, free ones linked through their first word, those never used
 * taken in order after them (so that a fresh slab is not touched ahead
 * of need). Slabs with a free block are on their class's list; a slab
 * all free goes back to the huge buffers, but for one kept per class. */

#define BLOCK_CLASSES 5 /* 4 KiB << 0 .. 4 */

/* Under AddressSanitizer blocks stay in slabs (so that a test's RSS is
 * what it would be), poisoned while free: a use after free is caught
 * all the same, an overflow only into a free block. The first word of a
 * free block is the free list's. */
#if BUFPOOL_OFF
#define BLOCK_POISON(p, n) \
	ASAN_POISON_MEMORY_REGION((uint8_t *)(p) + sizeof(void *), \
				  (n) - sizeof(void *))
#define BLOCK_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
/* a free block's is poisoned: freeing it again is a bug to stop at */
#define BLOCK_IS_FREE(p) \
	__asan_address_is_poisoned((uint8_t *)(p) + sizeof(void *))
#else
#define BLOCK_POISON(p, n) ((void)(p), (void)(n))
#define BLOCK_UNPOISON(p, n) ((void)(p), (void)(n))
#define BLOCK_IS_FREE(p) ((void)(p), 0)
#endif

struct slab {
	struct slab *prev, *next; /* on block_partial[cls] */
	void *free;               /* free blocks, each holding the next */
	unsigned nfree, used_end; /* blocks [1, used_end) were handed out */
	unsigned nblocks, cls;
};

static struct slab *block_partial[BLOCK_CLASSES]; /* protected by pool_lock */
static unsigned block_empty[BLOCK_CLASSES]; /* all-free slabs kept */

/* The class of n bytes; -1 for malloc: too large, or so small that a
 * block would waste more than half. */
static int block_class(size_t n)
{
	if (n <= SAT_BUFPOOL_BLOCK_MIN / 2)
		return -1;
	for (int c = 0; c < BLOCK_CLASSES; c++)
		if (n <= ((size_t)SAT_BUFPOOL_BLOCK_MIN << c))
			return c;
	return -1;
}

static size_t class_bytes(int c)
{
	return (size_t)SAT_BUFPOOL_BLOCK_MIN << c;
}

static void slab_unlink(struct slab *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		block_partial[s->cls] = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
}

static void slab_link(struct slab *s)
{
	s->prev = NULL;
	s->next = block_partial[s->cls];
	if (s->next)
		s->next->prev = s;
	block_partial[s->cls] = s;
}

size_t sat_buf_block_size(size_t n)
{
	int c = block_class(n);

	return c < 0 ? n : class_bytes(c);
}

/* A slab of class c, none of its blocks handed out, or NULL. */
static struct slab *slab_new(int c)
{
	struct slab *s = sat_buf_alloc_huge(SAT_BUFPOOL_HUGE);

	if (!s)
		return NULL;
	memset(s, 0, sizeof(*s));
	s->cls = (unsigned)c;
	s->nblocks = (unsigned)(SAT_BUFPOOL_HUGE / class_bytes(c));
	s->nfree = s->nblocks - 1;
	s->used_end = 1;
	return s;
}

/* Gives slab s (off every list) back to the huge buffers. */
static void slab_release(struct slab *s)
{
	BLOCK_UNPOISON(s, SAT_BUFPOOL_HUGE); /* whoever maps it next */
	sat_buf_free_huge(s, SAT_BUFPOOL_HUGE);
}

void *sat_buf_block_alloc(size_t n)
{
	int c = block_class(n);
	struct slab *s, *fresh = NULL;
	void *p;

	if (c < 0)
		return malloc(n ? n : 1);
	for (;;) {
		pthread_mutex_lock(&pool_lock);
		s = block_partial[c];
		if (s || fresh)
			break;
		pthread_mutex_unlock(&pool_lock);
		/* outside the lock: the huge buffers take it too */
		fresh = slab_new(c);
		if (!fresh)
			return NULL;
	}
	if (!s) {
		s = fresh;
		fresh = NULL;
		slab_link(s);
	} else if (s->nfree == s->nblocks - 1) {
		/* an all-free slab on the list is one kept: in use again */
		block_empty[c]--;
	}
	if (s->free) {
		p = s->free;
		s->free = *(void **)p;
	} else {
		p = (uint8_t *)s + (size_t)s->used_end++ * class_bytes(c);
	}
	if (--s->nfree == 0)
		slab_unlink(s);
	pthread_mutex_unlock(&pool_lock);
	if (fresh) /* another thread's slab came first */
		slab_release(fresh);
	BLOCK_UNPOISON(p, class_bytes(c));
	return p;
}

void sat_buf_block_free(void *p, size_t n)
{
	int c = block_class(n);
	struct slab *s;

	if (!p)
		return;
	if (c < 0) {
		free(p);
		return;
	}
	if (BLOCK_IS_FREE(p)) {
		fprintf(stderr, "satfs: bufpool: block %p freed twice\n", p);
		abort();
	}
	s = (struct slab *)((uintptr_t)p & ~(uintptr_t)(SAT_BUFPOOL_HUGE - 1));
	pthread_mutex_lock(&pool_lock);
	*(void **)p = s->free;
	s->free = p;
	BLOCK_POISON(p, class_bytes(c));
	if (s->nfree++ == 0)
		slab_link(s);
	if (s->nfree == s->nblocks - 1) {
		if (block_empty[c] == 0) {
			block_empty[c]++; /* kept for the next */
			s = NULL;
		} else {
			slab_unlink(s);
		}
	} else {
		s = NULL;
	}
	pthread_mutex_unlock(&pool_lock);
	if (s)
		slab_release(s);
}

/* ---- packed buffers ---------------------------------------------------
 *
 * Slabs of SAT_BUFPOOL_HUGE bytes (huge buffers) cut into granules of
 * SAT_BUFPOOL_PACKED_GRANULE; a buffer is a run of free granules, first
 * fit. The slabs are listed here (their headers cannot be in them: a
 * 2 MiB buffer takes a whole slab), so that sat_buf_free() tells a packed
 * buffer by its slab, and knows its length from the run recorded at its
 * first granule. All-free slabs beyond PACKED_EMPTY_KEEP go back to the
 * huge buffers. Under AddressSanitizer a buffer is unpoisoned for its n
 * bytes only, the rest of its run and every free granule poisoned. */

#define PACKED_GRANULES (SAT_BUFPOOL_HUGE / SAT_BUFPOOL_PACKED_GRANULE)
#define PACKED_EMPTY_KEEP 4

#if BUFPOOL_OFF
#define PACKED_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define PACKED_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define PACKED_POISON(p, n) ((void)(p), (void)(n))
#define PACKED_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

struct packed_slab {
	uint8_t *base;
	uint8_t run[PACKED_GRANULES]; /* granules of the buffer starting
					 here; 0: none starts here */
	unsigned used;                /* granules in use */
};

/* protected by pool_lock */
static struct packed_slab packed[SAT_BUFPOOL_PACKED_SLABS];
static unsigned packed_n;

static bool granule_free(const struct packed_slab *s, unsigned g)
{
	/* taken when a run starting at or before g covers it */
	for (unsigned i = 0; i <= g; i++)
		if (s->run[i] && i + s->run[i] > g)
			return false;
	return true;
}

/* k granules in slab s: the first granule's address, or NULL. */
static void *packed_take_locked(struct packed_slab *s, unsigned k)
{
	for (unsigned g = 0; g + k <= PACKED_GRANULES; g++) {
		unsigned len = 0;

		while (len < k && granule_free(s, g + len))
			len++;
		if (len < k)
			continue;
		s->run[g] = (uint8_t)k;
		s->used += k;
		return s->base + (size_t)g * SAT_BUFPOOL_PACKED_GRANULE;
	}
	return NULL;
}

void *sat_buf_alloc_packed(size_t n)
{
	unsigned k = (unsigned)((n + SAT_BUFPOOL_PACKED_GRANULE - 1) /
				SAT_BUFPOOL_PACKED_GRANULE);
	uint8_t *fresh = NULL;
	void *p = NULL;
	bool full;

	if (n == 0 || n > SAT_BUFPOOL_HUGE)
		return sat_buf_alloc(n);
	for (;;) {
		pthread_mutex_lock(&pool_lock);
		for (unsigned i = 0; i < packed_n && !p; i++)
			p = packed_take_locked(&packed[i], k);
		if (!p && fresh && packed_n < SAT_BUFPOOL_PACKED_SLABS) {
			struct packed_slab *s = &packed[packed_n++];

			memset(s, 0, sizeof(*s));
			s->base = fresh;
			fresh = NULL;
			p = packed_take_locked(s, k);
		}
		full = packed_n >= SAT_BUFPOOL_PACKED_SLABS;
		pthread_mutex_unlock(&pool_lock);
		if (p || fresh || full)
			break;
		/* outside the lock: the huge buffers take it too */
		fresh = sat_buf_alloc_huge(SAT_BUFPOOL_HUGE);
		if (!fresh)
			break;
		PACKED_POISON(fresh, SAT_BUFPOOL_HUGE);
	}
	if (fresh) { /* the slabs filled up meanwhile, or another's fit */
		PACKED_UNPOISON(fresh, SAT_BUFPOOL_HUGE);
		sat_buf_free_huge(fresh, SAT_BUFPOOL_HUGE);
	}
	if (!p) /* every slab in use: a plain buffer */
		return sat_buf_alloc(n);
	PACKED_UNPOISON(p, n);
	return p;
}

/* Slab *slab of p and p's first granule *g in it: false when p lies in no
 * slab. A p inside a slab that starts no run is a bug of the caller's
 * (what it is, in the message): the process stops. */
static bool packed_find_locked(const void *p, unsigned *slab, unsigned *g,
			       const char *what)
{
	const uint8_t *base = (const uint8_t *)((uintptr_t)p &
					~(uintptr_t)(SAT_BUFPOOL_HUGE - 1));
	unsigned i;

	for (i = 0; i < packed_n && packed[i].base != base; i++)
		;
	if (i == packed_n)
		return false;
	*slab = i;
	*g = (unsigned)(((const uint8_t *)p - base) /
			SAT_BUFPOOL_PACKED_GRANULE);
	if ((const uint8_t *)p != base + (size_t)*g *
						 SAT_BUFPOOL_PACKED_GRANULE ||
	    !packed[i].run[*g]) {
		fprintf(stderr, "satfs: bufpool: %p is %s\n", p, what);
		abort();
	}
	return true;
}

/* The bytes of packed buffer p (its run of granules), or 0 when p is
 * none. When they hold n and the redzone, p is poisoned as if asked for
 * n: its first n bytes addressable, the rest of its run not. */
static size_t packed_fit(void *p, size_t n)
{
	size_t size = 0;
	unsigned i, g;

	pthread_mutex_lock(&pool_lock);
	if (packed_find_locked(p, &i, &g, "inside a packed buffer, not one"))
		size = (size_t)packed[i].run[g] * SAT_BUFPOOL_PACKED_GRANULE;
	pthread_mutex_unlock(&pool_lock);
	if (size && size >= n + RESERVE_REDZONE) {
		PACKED_UNPOISON(p, n);
		PACKED_POISON((uint8_t *)p + n, size - n);
	}
	return size;
}

/* Gives p back when it is a packed buffer; false when it is not one. */
static bool packed_free(void *p)
{
	uint8_t *release = NULL;
	unsigned i, g, empty = 0;

	pthread_mutex_lock(&pool_lock);
	if (!packed_find_locked(p, &i, &g,
				"no packed buffer (freed twice?)")) {
		pthread_mutex_unlock(&pool_lock);
		return false;
	}
	PACKED_POISON(p, (size_t)packed[i].run[g] * SAT_BUFPOOL_PACKED_GRANULE);
	packed[i].used -= packed[i].run[g];
	packed[i].run[g] = 0;
	if (packed[i].used == 0) {
		for (unsigned j = 0; j < packed_n; j++)
			empty += packed[j].used == 0;
		if (empty > PACKED_EMPTY_KEEP) {
			release = packed[i].base;
			packed[i] = packed[--packed_n];
		}
	}
	pthread_mutex_unlock(&pool_lock);
	if (release) {
		PACKED_UNPOISON(release, SAT_BUFPOOL_HUGE);
		sat_buf_free_huge(release, SAT_BUFPOOL_HUGE);
	}
	return true;
}

/* Takes the empty slabs kept off their lists; the caller frees them. */
static struct slab *blocks_take_empty_locked(void)
{
	struct slab *out = NULL;

	for (int c = 0; c < BLOCK_CLASSES; c++) {
		struct slab *s = block_partial[c], *next;

		for (; s; s = next) {
			next = s->next;
			if (s->nfree != s->nblocks - 1)
				continue;
			slab_unlink(s);
			s->next = out;
			out = s;
		}
		block_empty[c] = 0;
	}
	return out;
}

void sat_buf_trim(void)
{
	struct slab *empty;

	pthread_mutex_lock(&pool_lock);
	empty = blocks_take_empty_locked();
	pthread_mutex_unlock(&pool_lock);
	while (empty) {
		struct slab *next = empty->next;

		BLOCK_UNPOISON(empty, SAT_BUFPOOL_HUGE);
		munmap(empty, SAT_BUFPOOL_HUGE);
		empty = next;
	}

	pthread_mutex_lock(&pool_lock);
	for (unsigned i = 0; i < packed_n;) {
		if (packed[i].used) {
			i++;
			continue;
		}
		PACKED_UNPOISON(packed[i].base, SAT_BUFPOOL_HUGE);
		munmap(packed[i].base, SAT_BUFPOOL_HUGE);
		packed[i] = packed[--packed_n];
	}
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
	for (int c = 0; c < BLOCK_CLASSES; c++)
		n += block_empty[c] * (size_t)SAT_BUFPOOL_HUGE;
	for (size_t i = 0; i < huge_n; i++)
		n += huge_len[i];
	for (unsigned i = 0; i < packed_n; i++)
		n += packed[i].used ? 0 : SAT_BUFPOOL_HUGE;
	pthread_mutex_unlock(&pool_lock);
	return n;
}

int sat_buf_pooling(void)
{
	return !BUFPOOL_OFF;
}
