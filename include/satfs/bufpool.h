/*
 * bufpool: large buffers kept for reuse rather than handed back to the
 * kernel.
 *
 * A page the process has never touched costs a fault when first written;
 * under the virtualisation satfs is measured on, 25 us each, 13 ms for
 * 2 MiB, against 0.1 ms to write the same 2 MiB again. A render's band
 * values, its per-pixel arrays and the bodies of its tile downloads are
 * megabytes each, freed at its end: a cold copy of 50 snippets faulted
 * 220 000 times, about 40 % of the daemon's CPU time. Buffers of
 * SAT_BUFPOOL_MIN bytes and more that go through here come back from a
 * pool of freed ones when one fits.
 *
 * Buffers from sat_buf_alloc() are plain malloc() memory: realloc() and
 * free() on them are valid (free() only forgoes the reuse); not so those
 * of sat_buf_reserve() and packed buffers (below), which only
 * sat_buf_free() gives back.
 * The pool keeps at most SAT_BUFPOOL_KEEP bytes; beyond that,
 * sat_buf_free() frees. Built with AddressSanitizer, it keeps no buffer,
 * so that a use after free is still caught (blocks and packed buffers,
 * below, stay in their slabs, poisoned while free).
 *
 * Thread-safe (one mutex, held for a scan of at most SAT_BUFPOOL_SLOTS,
 * or SAT_BUFPOOL_PACKED_SLABS, or of the slabs by sat_buf_trim()).
 */
#ifndef SATFS_BUFPOOL_H
#define SATFS_BUFPOOL_H

#include <stddef.h>

#define SAT_BUFPOOL_MIN (256u << 10)
#define SAT_BUFPOOL_KEEP (64u << 20)
#define SAT_BUFPOOL_SLOTS 128

/* At least n bytes (contents undefined), or NULL. */
void *sat_buf_alloc(size_t n);
/* Gives p (from malloc or sat_buf_alloc; NULL is fine) back. */
void sat_buf_free(void *p);
/* *p holding at least n bytes, contents not kept: the old buffer goes
 * back when too small. A new one of SAT_BUFPOOL_RESERVE_PACKED bytes and
 * more is packed (below) where it fits a slab, with a poisoned redzone
 * past n under AddressSanitizer: give it back with sat_buf_free() only.
 * 0, or -ENOMEM (*p unchanged). */
int sat_buf_reserve(void **p, size_t n);
/* Half a granule: a packed reserve wastes at most as much as it holds
 * (a smaller one, a region's dozen 10 KB arrays, would each pin a slab's
 * granule); a render's arrays for a snippet 995 pixels wide, 250 KB,
 * were plain before and cost 2300 page faults in a 50-snippet copy. */
#define SAT_BUFPOOL_RESERVE_PACKED (SAT_BUFPOOL_PACKED_GRANULE / 2)
/* Buffers for big decoded tiles: at least n bytes on 2 MiB boundaries,
 * in huge pages where the kernel offers them (one fault and one page to
 * clear instead of 512 each), or NULL. Given back with sat_buf_free_huge
 * and the same n, up to SAT_BUFPOOL_HUGE_KEEP of them are kept whole (they
 * are not malloc memory). */
#define SAT_BUFPOOL_HUGE (2u << 20)
#define SAT_BUFPOOL_HUGE_KEEP 16
void *sat_buf_alloc_huge(size_t n);
void sat_buf_free_huge(void *p, size_t n);
/* Blocks: many small buffers that come and go (the crops of decoded
 * tiles, in blocks of 128x128 pixels), carved from slabs of
 * SAT_BUFPOOL_HUGE bytes in huge buffers (where the kernel gives huge
 * pages, one fault for a slab, not one per page) in classes of
 * SAT_BUFPOOL_BLOCK_MIN to SAT_BUFPOOL_BLOCK_MAX bytes (powers of two).
 * A new slab is made only when every slab of the class is full, so the
 * slabs hold at most the most blocks ever in use at once, and one more
 * of each class; a slab whose blocks are all free goes back to the huge
 * buffers, but for one of each class. Sizes outside the classes (or of
 * half the smallest or less) are plain malloc(). Under AddressSanitizer,
 * free blocks are poisoned and a block freed twice aborts. Given back
 * with sat_buf_block_free and the same n. */
#define SAT_BUFPOOL_BLOCK_MIN (4u << 10)
#define SAT_BUFPOOL_BLOCK_MAX (64u << 10)
void *sat_buf_block_alloc(size_t n);
void sat_buf_block_free(void *p, size_t n);
/* The memory a block of n bytes takes: its class's size (or n). */
size_t sat_buf_block_size(size_t n);
/* Packed buffers: up to SAT_BUFPOOL_HUGE bytes, several to a slab of
 * huge pages (runs of SAT_BUFPOOL_PACKED_GRANULE), so that memory
 * written once and soon let go (the bodies of tile downloads) costs a
 * fault per 2 MiB, not per 4 KiB. At most SAT_BUFPOOL_PACKED_SLABS slabs;
 * past that, and for bigger sizes, a plain sat_buf_alloc(). Given back
 * with sat_buf_free() only: never free() or realloc(); sat_buf_reserve()
 * knows them. Under AddressSanitizer the bytes past n and free
 * granules are poisoned. Freeing one twice aborts, unless its granules
 * were handed out again in between (then the second free releases the
 * new owner's: a bug AddressSanitizer reports at its next use). */
#define SAT_BUFPOOL_PACKED_GRANULE (256u << 10)
#define SAT_BUFPOOL_PACKED_SLABS 64
void *sat_buf_alloc_packed(size_t n);
/* Frees every pooled buffer (at exit, and for tests). */
void sat_buf_trim(void);
/* What the pool holds now, huge buffers included. */
size_t sat_buf_pooled_bytes(void);
/* Does this build pool at all (not under AddressSanitizer)? */
int sat_buf_pooling(void);

#endif
