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

#include <time.h>

#include "satfs/cache.h"
#include "satfs/config.h"
#include "satfs/expr.h"
#include "satfs/fetch.h"
#include "satfs/geom.h"
#include "satfs/sample.h"
#include "satfs/tiffout.h"

struct sat_progress;
struct sat_regioncloud;
struct sat_scene;
struct sat_region;
struct sat_source;

/* What a plan's file is (docs/ARCHITECTURE.md "Rendering rules", rule
 * 9 for the pictures). */
enum sat_render_format {
	SAT_RENDER_TIFF = 0, /* the GeoTIFF of rules 1-8 */
	SAT_RENDER_PNG,      /* a quicklook: the picture at a coarser scale */
	SAT_RENDER_GIF,      /* a region's time-lapse of quicklooks */
	SAT_RENDER_HTML,     /* a region's page */
};

struct sat_album;

/* Bumped whenever the output of the renderer changes for the same inputs:
 * part of every cache key. */
#define SAT_RENDER_VERSION 2

/* Bands read from each scene: an expression's and SCL for a mask. */
#define SAT_RENDER_MAX_BANDS (SAT_EXPR_MAX_BANDS + 1)

/* One scene a file is drawn from. */
struct sat_render_input {
	struct sat_source *source;   /* borrowed: it listed the scene */
	char *item_id;
	time_t datetime;             /* acquisition time */
	bool has_cloud;              /* the catalog's cloud cover */
	double cloud_cover;
	char *hrefs[SAT_RENDER_MAX_BANDS];
	uint16_t samples[SAT_RENDER_MAX_BANDS];  /* band within the asset */
	double dn_scale[SAT_RENDER_MAX_BANDS];   /* v = DN * 10000 * scale */
	double dn_offset[SAT_RENDER_MAX_BANDS];  /*     + 10000 * offset */
	bool has_nodata[SAT_RENDER_MAX_BANDS];
	double nodata[SAT_RENDER_MAX_BANDS];
	/* What its region cloud cover is computed from (include/satfs/
	 * regioncloud.h): its SCL band (NULL: none, no cover), its CRS and
	 * its finest band's resolution; the key of the result. */
	char *scl_href;
	uint16_t scl_sample;
	int epsg;
	double default_scale;
	char cloud_key[SAT_HASH_HEX];
};

struct sat_render_plan {
	char key[SAT_HASH_HEX];  /* cache key of the rendered file */
	enum sat_render_format format;
	/* GIF and HTML: what the file is made of (include/satfs/album.h);
	 * such a plan has no inputs, bands or grid. */
	struct sat_album *album;
	char *item_id;               /* what the file is named after */
	struct sat_product product;  /* deep copy */
	struct sat_grid grid;
	const double *ring_xy;       /* region outline in grid CRS, */
	size_t nring;                /* shared: ring's */
	struct sat_geom_ring *ring;
	double *ring_lonlat;         /* the region, lon/lat (not closed) */
	size_t nring_lonlat;
	/* The bands read from every input, as the product names them (an
	 * expression's in order of first use), SCL last when masking. */
	int nbands;
	char *band_names[SAT_RENDER_MAX_BANDS];
	int scl;                     /* index of SCL in them, or -1 */
	int nout;                    /* data bands a raw or reflectance
					file holds */
	struct sat_expr *expr;       /* product.expression, parsed */
	uint8_t (*palette)[3];       /* 256 colours of an expression's
					picture */
	enum sat_sample_type out_type; /* of raw and reflectance files */
	/* The scenes a pixel may come from: the first that has it valid.
	 * With several (a mosaic), they are put in order of increasing
	 * region cloud cover, then id, when the file is rendered. */
	struct sat_render_input *inputs;
	size_t ninputs;
	char *metadata;              /* GDAL_METADATA XML */
	/* Where the region cloud cover goes in metadata: the value, then
	 * spaces after its </Item> up to cloud_width bytes, so that the
	 * size never depends on it. */
	size_t cloud_at, cloud_width;
	struct sat_tiffout_spec spec;
	uint64_t size_bytes;         /* exact size of the output file */
	/* a GeoTIFF's header as it ends up (sat_tiffout_layout), for the
	 * digest taken while it is written */
	uint8_t tiff_header[SAT_TIFFOUT_HEADER_MAX];
	size_t ntiff_header;
	/* References beyond the creator's (sat_render_plan_ref/unref);
	 * atomic, no lock. */
	unsigned extra_refs;
};

/* How one run goes. */
struct sat_render_ctx {
	enum sat_fetch_priority prio;
	struct sat_progress *progress; /* counted into; may be NULL */
	/* Region cloud covers, for the metadata and the order of a mosaic's
	 * scenes; NULL: not computed ("n/a"). */
	struct sat_regioncloud *clouds;
	/* Files made of other files (a time-lapse of quicklooks) get them
	 * through these; NULL for the others. want: the files will be
	 * needed (start rendering them). get: the file in the cache, opened
	 * (rendered on this thread if nobody is rendering it, else waited
	 * for), 0 with *fd, or -errno; put: done with it. Blocking. */
	void (*want)(struct sat_render_plan *const *plans, size_t n,
		     void *payload);
	int (*get)(struct sat_render_plan *plan, int *fd, void *payload);
	void (*put)(struct sat_render_plan *plan, void *payload);
	void *files_payload;
	/* Fed the bytes of a GeoTIFF as they are written (tiffout's spec);
	 * may be NULL. */
	struct sat_filehash *hash;
};

/* Plans a render of one scene. Returns 0; -EINVAL when the scene cannot
 * be rendered for this product (a band missing, unknown CRS or
 * resolution, region outside the valid range), with one warning logged;
 * -ENOMEM. */
int sat_render_plan_new(struct sat_render_plan **out,
			const struct sat_scene *scene,
			const struct sat_product *product,
			const struct sat_region *region,
			enum sat_offset_mode offset_mode);
/* Plans a mosaic of n scenes (of one date) named name ("mosaic"): the
 * grid is in the CRS most of them share (the smaller EPSG code on a tie);
 * a scene without the product's bands is left out, with a warning; fewer
 * than two left is -EINVAL. */
int sat_render_plan_new_mosaic(struct sat_render_plan **out,
			       const char *name,
			       const struct sat_scene *const *scenes, size_t n,
			       const struct sat_product *product,
			       const struct sat_region *region,
			       enum sat_offset_mode offset_mode);
/* The quicklook of a visual plan `full` made from the same scenes,
 * product, region and offset mode (rule 9): the same rules at the scale
 * full's pixel size times f, the smallest whole f for which the picture's
 * long side is at most max_px; a PNG. -EINVAL for a product that is not
 * visual, or when no such f gives a grid. */
int sat_render_plan_new_quicklook(struct sat_render_plan **out,
				  const struct sat_render_plan *full,
				  const struct sat_scene *const *scenes,
				  size_t n, const struct sat_product *product,
				  const struct sat_region *region,
				  enum sat_offset_mode offset_mode,
				  uint32_t max_px);
void sat_render_plan_free(struct sat_render_plan *plan);

/* plan's metadata with the region cloud covers of its inputs (pct[k],
 * percent; NaN: unknown) in their fixed place: malloc'd, the same length,
 * or NULL. */
char *sat_render_metadata_with_clouds(const struct sat_render_plan *plan,
				      const double *pct);

/* Plans are shared by the tree, render jobs, open files and the status
 * files: each holder takes a reference and drops it when done; the last
 * unref frees the plan (sat_render_plan_new's reference is the first).
 * Any thread; never blocks. unref accepts NULL. ref returns plan. */
struct sat_render_plan *sat_render_plan_ref(struct sat_render_plan *plan);
void sat_render_plan_unref(struct sat_render_plan *plan);

/* Renders into fd (a fresh temporary file), reading pixels through each
 * input's source (GIF and HTML: through include/satfs/album.h). Returns 0 or -errno (-EIO for a network or decoding
 * failure, with the cause left by sat_log_cause; -ENOSPC; -ENOMEM).
 * Blocks. Any thread but the fetch I/O thread and FUSE threads. */
int sat_render_run(const struct sat_render_plan *plan,
		   const struct sat_render_ctx *ctx, int fd);

#endif
