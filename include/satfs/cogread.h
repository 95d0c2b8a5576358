/*
 * cogread: windows of pixels from remote COGs, on an output grid.
 *
 * Glue between fetch (bytes), cog (headers, tiles) and the caches. For a
 * set of bands it fetches all COG headers at once (memory cache, then the
 * disk cache keyed by URL, then one range GET of the first 16 KiB and a
 * second only if the IFDs run past it), picks for each band the coarsest
 * overview still at least as fine as the grid (DESIGN.md rule 3), finds
 * every tile the grid samples, requests all of them at once with adjacent
 * ranges merged, decodes them and samples nearest-neighbour at pixel
 * centres.
 *
 * Thread-safe; sat_cogread_window() blocks on the network.
 */
#ifndef SATFS_COGREAD_H
#define SATFS_COGREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "satfs/fetch.h"

struct sat_cache;
struct sat_grid;
struct sat_cogread;
struct sat_signer;

int sat_cogread_new(struct sat_cogread **out, struct sat_fetch *fetch,
		    struct sat_cache *cache);
void sat_cogread_free(struct sat_cogread *cr);
/* Requests then go out with their hrefs signed by signer (borrowed; it
 * must outlive cr), and one refused with 403 goes once more with a renewed
 * token. The unsigned href stays the key of every cache. Call before the
 * first window. */
void sat_cogread_set_signer(struct sat_cogread *cr, struct sat_signer *signer);

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

/* The STAC source's read (include/satfs/source.h): a window through
 * sat_cogread_window(), counted into rd->progress. */
struct sat_read;
int sat_cogread_read(struct sat_cogread *cr, const struct sat_read *rd);

#endif
