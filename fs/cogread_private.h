/*
 * cogread_private: what fs/cogread.c (the header caches and header
 * fetching), fs/cogread_tiles.c (the decoded-tile cache, tile fetching and
 * the decoders) and fs/cogread_window.c (windows: which tiles, sampling)
 * share. Not a module boundary: nothing else includes it.
 */
#ifndef SATFS_COGREAD_PRIVATE_H
#define SATFS_COGREAD_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "satfs/cogread.h"
#include "satfs/fetch.h"

struct sat_cache;
struct sat_cog;
struct sat_progress;
struct sat_workq;
struct sat_signer;

#define CR_MAX_HEADERS 256

struct sat_cogread_header {
	char *url;
	char *etag;            /* ETag the header was read with, or NULL */
	struct sat_cog *cog;
	unsigned int refs;     /* protected by cr->lock */
	unsigned long used;    /* protected by cr->lock: LRU tick */
};

enum cr_tile_state {
	CR_TILE_FETCHING,  /* its bytes are on their way, then decoded */
	CR_TILE_READY,     /* blk holds it (NULL: a sparse tile) */
	CR_TILE_FAILED,    /* err and why say why; out of the table */
};

/* Which tile of a position: the image's (band 0 for a chunky level, the
 * band for a separate one), or the mask IFD's. */
#define CR_PLANE_MASK 0x8000u /* | band, for a per-band mask */

/* A rectangle of a tile's pixels: columns [x0, x1), rows [y0, y1). */
struct cr_rect {
	uint32_t x0, y0, x1, y1;
};

/* Decoded tiles are kept in blocks of CR_BLOCK x CR_BLOCK pixels, or of
 * the tile's width (height) where it is smaller: then its crop spans the
 * tile that way. */
#define CR_BLOCK_SHIFT 7
#define CR_BLOCK (1u << CR_BLOCK_SHIFT)

/* One decoded tile, shared by every window that needs it. Its key is the
 * header (URL and ETag), the level, the plane and the tile's position.
 *
 * It keeps only the blocks that the renders which asked for it cover
 * (crop, on block boundaries; the whole tile for a sparse one): a small
 * region's window takes a quarter of its 2x2 source tiles on average,
 * and every byte kept is memory touched for the first time. Blocks of one
 * size come and go through the buffer pool's slabs, which keeps them in
 * huge pages (include/satfs/bufpool.h). blk[j * nbx + i] is the block i
 * across, j down from the crop's corner: block_w x block_h pixels of
 * px bytes, row after row. */
struct cr_tile {
	struct cr_tile *hnext;          /* hash chain; cr->lock */
	struct cr_tile *lru_prev, *lru_next; /* idle READY tiles; cr->lock */
	struct sat_cogread_header *hdr; /* a reference */
	uint32_t level, tx, ty;
	uint16_t plane;
	uint64_t offset, length;        /* its bytes; length 0: sparse */
	struct cr_rect crop;            /* what blk holds; set at creation */
	uint32_t block_w, block_h, nbx, nblk;
	uint32_t px;                    /* bytes per pixel */
	size_t block_bytes;
	size_t bytes;                   /* what the nblk blocks take */
	size_t coming;                  /* decoded size while FETCHING */
	bool wanted_now;                /* fetch_new's (the tile is new and
					   only its caller has it): asked
					   by a window, not a look-ahead */
	/* protected by cr->lock: */
	enum cr_tile_state state;
	unsigned pins;                  /* windows using or awaiting it */
	bool in_table;
	void **blk;
	int err;
	char why[400];
};

#define CR_TILE_BUCKETS 4096
#define CR_TILE_CONDS 32 /* stripes of the windows waiting for tiles */

struct sat_cogread {
	struct sat_fetch *fetch;
	struct sat_cache *cache;  /* may be NULL: no disk cache */
	struct sat_signer *signer; /* may be NULL: hrefs go as they are */
	struct sat_shared *shared; /* may be NULL: no shared store */
	struct sat_workq *decoders; /* tile decoding, one thread per core */
	size_t tile_cap_bytes;    /* decoded tiles kept, at most */
	pthread_mutex_t lock;
	/* a tile became READY or FAILED: the one of the tile's stripe
	 * (cr_tile_cond), so that a finished tile wakes the windows waiting
	 * for tiles of its stripe, not every window */
	pthread_cond_t tile_cond[CR_TILE_CONDS];
	/* protected by lock: */
	struct sat_cogread_header *hdrs[CR_MAX_HEADERS];
	size_t nhdrs;
	unsigned long tick;         /* LRU clock */
	struct cr_tile *tiles[CR_TILE_BUCKETS];
	struct cr_tile *lru_head, *lru_tail; /* most recently idle first */
	size_t tile_bytes;          /* decoded bytes held by tiles */
	size_t coming_bytes;        /* decoded bytes of tiles on their way */
	struct sat_cogread_stats stats;
};

/* References to the parsed headers of urls[0..n) into hdrs[0..n): from
 * memory, from disk, else fetched all at once (at foreground priority,
 * whatever the read's). 0 or -errno (hdrs all NULL on error). Blocks. */
int sat_cogread_get_headers(struct sat_cogread *cr, const char *const *urls,
			    size_t n, struct sat_cogread_header **hdrs,
			    struct sat_progress *progress);
void sat_cogread_header_unref(struct sat_cogread *cr,
			      struct sat_cogread_header *h);
/* Drops h from both caches (the object changed); the caller's reference
 * stays valid. */
void sat_cogread_forget(struct sat_cogread *cr, struct sat_cogread_header *h);
/* sat_fetch_all() with the URLs signed when cr has a signer (reqs keep
 * the unsigned hrefs). Blocks. */
int sat_cogread_fetch_all(struct sat_cogread *cr,
			  const struct sat_fetch_req *reqs,
			  struct sat_fetch_result *res, size_t n);

/* ---- the tile cache (fs/cogread_tiles.c) ---- */

/* A tile wanted by a window: in, its key and range, the pixels the
 * window reads (need) and those worth keeping for the rest of its render
 * (keep, which contains need); out, the entry, whose crop contains need. */
struct cr_want {
	struct sat_cogread_header *hdr; /* borrowed */
	uint32_t level, tx, ty;
	uint16_t plane;                 /* band, or CR_PLANE_MASK | band */
	uint64_t offset, length;
	struct cr_rect need, keep;
	struct cr_tile *tile;           /* pinned when the call pins */
	bool joined;                    /* the tile was there already */
};

/* The pixel at column x, row y of t's tile (its crop contains it; t is
 * READY and not sparse). The pixels after it in its block's row, up to
 * the crop's edge, follow it. */
static inline const uint8_t *cr_tile_at(const struct cr_tile *t, uint32_t x,
					uint32_t y)
{
	/* a dimension of whole-tile blocks has one block, from 0 */
	bool fx = t->block_w == CR_BLOCK, fy = t->block_h == CR_BLOCK;
	uint32_t bx = fx ? (x - t->crop.x0) >> CR_BLOCK_SHIFT : 0;
	uint32_t by = fy ? (y - t->crop.y0) >> CR_BLOCK_SHIFT : 0;
	uint32_t ix = fx ? x & (CR_BLOCK - 1) : x;
	uint32_t iy = fy ? y & (CR_BLOCK - 1) : y;
	const uint8_t *b = t->blk[(size_t)by * t->nbx + bx];

	return b + ((size_t)iy * t->block_w + ix) * t->px;
}

/* Finds or starts want[0..n): those missing are fetched (adjacent ranges
 * in one request) and decoded in the background. The first npin are the
 * asking window's: each want[i].tile is pinned (cr_tiles_unpin releases
 * it) and their requests go out first; the rest are the next window's,
 * asked ahead in the same go (so that adjacent ranges of both make one
 * request), best effort, not pinned. Returns at once; on an error, the
 * pins taken are released. Then cr_tiles_wait waits for want[0..n)
 * (pinned) to be READY, or one FAILED: its error and, through
 * sat_log_cause, its cause, all of them unpinned. */
int cr_tiles_ask(struct sat_cogread *cr, struct cr_want *want, size_t n,
		 size_t npin, enum sat_fetch_priority prio,
		 struct sat_progress *progress);
int cr_tiles_wait(struct sat_cogread *cr, struct cr_want *want, size_t n,
		  enum sat_fetch_priority prio, struct sat_progress *progress);
void cr_tiles_unpin(struct sat_cogread *cr, struct cr_want *want, size_t n);
/* Drops every idle tile (those pinned or on their way leave the table
 * and go when they are done). */
void cr_tiles_drop(struct sat_cogread *cr);
/* Starts and stops the decoders; drops every tile. */
int cr_tiles_init(struct sat_cogread *cr, int threads);
void cr_tiles_fini(struct sat_cogread *cr);

#endif
