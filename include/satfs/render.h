/*
 * render: DESIGN.md "Rendering, exactly" — from a scene, a product and a
 * region to a GeoTIFF.
 *
 * A plan is everything known without the network: the output grid, the
 * bands, scale/offset, the output layout and so the exact file size, and
 * the cache key. Plans are made at listing time (for sizes) and run when a
 * file is opened. Planning is pure CPU; running blocks on the network (call
 * it from a worker thread, never from a FUSE thread).
 *
 * A plan copies what it needs from the scene, product and region; they
 * may be freed after sat_render_plan_new().
 */
#ifndef SATFS_RENDER_H
#define SATFS_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "satfs/cache.h"
#include "satfs/config.h"
#include "satfs/fetch.h"
#include "satfs/geom.h"
#include "satfs/tiffout.h"

struct sat_scene;
struct sat_region;
struct sat_cogread;

/* Bumped whenever the output of the renderer changes for the same inputs:
 * part of every cache key. */
#define SAT_RENDER_VERSION 1

struct sat_render_plan {
	char key[SAT_HASH_HEX];  /* cache key of the rendered file */
	char *item_id;
	struct sat_product product;  /* deep copy */
	struct sat_grid grid;
	double *ring_xy;             /* region outline in grid CRS */
	size_t nring;
	int nbands;
	char *hrefs[SAT_PRODUCT_MAX_BANDS];
	bool ee;                     /* an Earth Engine scene: getPixels */
	double dn_scale[SAT_PRODUCT_MAX_BANDS];  /* v = DN * 10000 * scale */
	double dn_offset[SAT_PRODUCT_MAX_BANDS]; /*     + 10000 * offset */
	bool has_nodata[SAT_PRODUCT_MAX_BANDS];
	double nodata[SAT_PRODUCT_MAX_BANDS];
	char *metadata;              /* GDAL_METADATA XML */
	struct sat_tiffout_spec spec;
	uint64_t size_bytes;         /* exact size of the output file */
};

/* Plans a render. Returns 0; -EINVAL when the scene cannot be rendered
 * for this product (a band missing, unknown CRS or resolution, region
 * outside the valid range), with one warning logged; -ENOMEM. */
int sat_render_plan_new(struct sat_render_plan **out,
			const struct sat_scene *scene,
			const struct sat_product *product,
			const struct sat_region *region,
			enum sat_offset_mode offset_mode);
void sat_render_plan_free(struct sat_render_plan *plan);

/* Renders into fd (a fresh temporary file), reading pixels through cr
 * (Earth Engine scenes through sat_cogread_ee(cr)).
 * Returns 0 or -errno (-EIO for a network or decoding failure, -ENOSPC).
 * Blocks. Any thread but the fetch I/O thread and FUSE threads. */
int sat_render_run(const struct sat_render_plan *plan,
		   struct sat_cogread *cr, enum sat_fetch_priority prio,
		   int fd);

#endif
