/*
 * render: docs/ARCHITECTURE.md "Rendering rules" — from scenes, a product
 * and a region to a GeoTIFF.
 *
 * A plan is everything known without the network: the output grid, the
 * inputs (the scenes drawn from, each with its source, band hrefs and
 * scale/offset), the output layout and so the exact file size, and the
 * cache key. Plans are made at listing time (for sizes) and run when a
 * file is opened. Planning is pure CPU; running blocks on the network (call
 * it from a worker thread, never from a FUSE thread).
 *
 * A plan copies what it needs from the scene, product and region; they
 * may be freed after sat_render_plan_new(). It borrows the sources, which
 * live as long as the core.
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

struct sat_progress;
struct sat_scene;
struct sat_region;
struct sat_source;

/* Bumped whenever the output of the renderer changes for the same inputs:
 * part of every cache key. */
#define SAT_RENDER_VERSION 1

/* One scene a file is drawn from. */
struct sat_render_input {
	struct sat_source *source;   /* borrowed: it listed the scene */
	char *item_id;
	char *hrefs[SAT_PRODUCT_MAX_BANDS];
	double dn_scale[SAT_PRODUCT_MAX_BANDS];  /* v = DN * 10000 * scale */
	double dn_offset[SAT_PRODUCT_MAX_BANDS]; /*     + 10000 * offset */
	bool has_nodata[SAT_PRODUCT_MAX_BANDS];
	double nodata[SAT_PRODUCT_MAX_BANDS];
};

struct sat_render_plan {
	char key[SAT_HASH_HEX];  /* cache key of the rendered file */
	char *item_id;               /* what the file is named after */
	struct sat_product product;  /* deep copy */
	struct sat_grid grid;
	double *ring_xy;             /* region outline in grid CRS */
	size_t nring;
	int nbands;
	/* The scenes, in the order their pixels are taken: a pixel comes
	 * from the first input that has it valid. */
	struct sat_render_input *inputs;
	size_t ninputs;
	char *metadata;              /* GDAL_METADATA XML */
	struct sat_tiffout_spec spec;
	uint64_t size_bytes;         /* exact size of the output file */
};

/* How one run goes. */
struct sat_render_ctx {
	enum sat_fetch_priority prio;
	struct sat_progress *progress; /* counted into; may be NULL */
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

/* Renders into fd (a fresh temporary file), reading pixels through each
 * input's source. Returns 0 or -errno (-EIO for a network or decoding
 * failure, with the cause left by sat_log_cause; -ENOSPC; -ENOMEM).
 * Blocks. Any thread but the fetch I/O thread and FUSE threads. */
int sat_render_run(const struct sat_render_plan *plan,
		   const struct sat_render_ctx *ctx, int fd);

#endif
