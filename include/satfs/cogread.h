/*
 * cogread: windows of pixels from remote COGs, on an output grid (the STAC
 * source's reads, include/satfs/source.h).
 *
 * Glue between fetch (bytes), cog (headers, tiles) and the caches. For a
 * set of bands it fetches all COG headers at once (memory cache, then the
 * disk cache keyed by URL, then one range GET of the first 16 KiB and a
 * second only if the IFDs run past it), picks for each band the coarsest
 * overview still at least as fine as the grid (docs/ARCHITECTURE.md
 * "Rendering rules", rule 3), finds every tile the grid samples and takes
 * them from a cache of decoded tiles shared by the whole mount: the tiles
 * missing are requested all at once with adjacent ranges merged and
 * decoded on a pool of one thread per core, each tile once, whichever
 * window (product, render, or look-ahead) asked first. A decoded tile
 * keeps the part of it its render covers (sat_read.extent): a window of
 * another render needing more of it has it fetched and decoded again,
 * keeping both. Values are sampled nearest-neighbour at pixel centres.
 *
 * Thread-safe; the reads block on the network.
 */
#ifndef SATFS_COGREAD_H
#define SATFS_COGREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "satfs/fetch.h"
#include "satfs/sample.h"

struct sat_cache;
struct sat_grid;
struct sat_cogread;
struct sat_shared;
struct sat_signer;

/* Decoded tiles kept, at most (beyond those windows in progress use). */
#define SAT_COGREAD_TILE_CACHE_BYTES (112u << 20)

/* Starts the decoders (one per core). cache may be NULL (no disk cache of
 * headers). */
int sat_cogread_new(struct sat_cogread **out, struct sat_fetch *fetch,
		    struct sat_cache *cache);
void sat_cogread_free(struct sat_cogread *cr);
/* Requests then go out with their hrefs signed by signer (borrowed; it
 * must outlive cr), and one refused with 403 goes once more with a renewed
 * token. The unsigned href stays the key of every cache. Call before the
 * first window. */
void sat_cogread_set_signer(struct sat_cogread *cr, struct sat_signer *signer);
/* Headers missing from the disk cache are then looked up in the shared
 * store before the COG server, and those fetched from the server are
 * offered to it (include/satfs/shared.h; borrowed, must outlive cr; needs
 * a cache). Call before the first window. */
void sat_cogread_set_shared(struct sat_cogread *cr, struct sat_shared *sh);

struct sat_band_window {
	const char *href;   /* in: COG URL */
	bool has_nodata;    /* in: nodata from the catalog; else the file's */
	double nodata;
	uint16_t *dn;       /* out: width*height DNs (malloc'd; caller frees) */
};

/* Reads n bands on grid g. valid (width*height bytes, caller-allocated)
 * is set to 1 where every band has data (inside the source raster and not
 * nodata), 0 elsewhere. Returns 0 or -errno (the fetch error, e.g.
 * -ENOENT, -ETIMEDOUT; -EIO for bytes that do not parse or decode;
 * -ENOTSUP for samples other than uint8/uint16); on error no dn is
 * allocated. */
int sat_cogread_window(struct sat_cogread *cr, const struct sat_grid *g,
		       struct sat_band_window *bands, size_t n,
		       uint8_t *valid, enum sat_fetch_priority prio);

/* The STAC source's read (include/satfs/source.h): rd->bands[i].href are
 * COG URLs; values come back in the file's sample type; the tiles of
 * rd->next are asked for before the wait for rd's own (so that they
 * arrive while the caller works on rd). sat_cogread_window() is the
 * same for uint16 values in arrays of its own (tests). */
struct sat_read;
int sat_cogread_read(struct sat_cogread *cr, const struct sat_read *rd);

/* What a COG's header says of its georeferencing, for listings whose
 * items do not (include/satfs/source.h, prepare). */
struct sat_cogread_info {
	int err;            /* 0, or why the header could not be had */
	int epsg;           /* the GeoKeys' code, or the one PROJ finds
			       equal to their definition; 0: none */
	bool projected;     /* epsg is a projected CRS (metres) */
	double pixel_size;  /* of level 0, in the CRS's units */
	enum sat_sample_type type;
	uint16_t samples;
};
/* Gets the headers of urls[0..n) (memory, disk, else all at once from the
 * network) and describes each into info[i]. Returns 0 (each info says
 * whether its header was had) or -ENOMEM. Blocks. */
int sat_cogread_describe(struct sat_cogread *cr, const char *const *urls,
			 size_t n, struct sat_cogread_info *info);

/* Tests: caps the decoded tiles kept at cap_bytes. */
void sat_cogread_set_tile_cap(struct sat_cogread *cr, size_t cap_bytes);
/* Drops the headers and decoded tiles kept in memory (those in use stay
 * until their windows are done). */
void sat_cogread_drop_caches(struct sat_cogread *cr);

struct sat_cogread_stats {
	uint64_t tiles_fetched;  /* tiles whose bytes were requested */
	uint64_t tiles_decoded;
	uint64_t tile_hits;      /* wanted and found, ready or on its way */
	uint64_t tiles_evicted;
	uint64_t tiles_recropped; /* fetched again: a window needed more of
				     them than their first render kept */
	uint64_t tile_bytes;     /* decoded bytes held now */
};
void sat_cogread_get_stats(struct sat_cogread *cr,
			   struct sat_cogread_stats *st);

#endif
