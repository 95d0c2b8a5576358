/*
 * source: where scenes and their pixels come from (docs/ARCHITECTURE.md,
 * "Sources"). One interface, two implementations:
 *   fs/source_stac.c  a STAC API for the listing, COGs over HTTP for the
 *                     pixels (fs/cogread*.c), hrefs signed when asked
 *   fs/source_ee.c    Earth Engine's REST API: listAssets and getPixels
 *
 * The catalog module keeps listings (caching, sharing, staleness) and asks
 * a source only for pages of scenes; the renderer asks the source of each
 * scene it draws from for windows of pixels. Nothing else knows which
 * source is behind a scene: every scene points at the source that listed
 * it (struct sat_scene.source).
 *
 * A source lives as long as the core; its operations are thread-safe and
 * block on the network (never call them from a FUSE thread or from the
 * fetch engine's I/O thread).
 */
#ifndef SATFS_SOURCE_H
#define SATFS_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "satfs/fetch.h"
#include "satfs/sample.h"

struct sat_cache;
struct sat_config;
struct sat_grid;
struct sat_hash;
struct sat_progress;
struct sat_region;
struct sat_scene;
struct sat_shared;
struct sat_source;

/* What a listing asks for. */
struct sat_search {
	const struct sat_region *region;
	time_t from, to;    /* acquisition times, inclusive */
	double max_cloud;   /* keep scenes below this; < 0: no filter */
	int max_items;      /* stop paging once this many scenes came */
};

/* Hands a raw page of a listing to the catalog's disk cache; takes
 * ownership of body. 0 or -errno (the listing stops with that error). */
typedef int (*sat_source_page_fn)(void *payload, char *body, size_t len);

/* One band of a window. */
struct sat_read_band {
	/* in */
	const char *href;     /* the band's locator, as the scene gave it */
	uint16_t sample;      /* band within a multi-band asset, 0-based */
	bool has_nodata;      /* nodata from the catalog; else the file's */
	double nodata;
	/* out: width * height values of `type`, row-major. The buffer is the
	 * caller's and is reused across windows: the source replaces it
	 * with a larger one when values_cap is short (sat_read_band_reserve,
	 * contents not kept); the caller frees it with sat_buf_free() only
	 * (it may be a packed buffer: include/satfs/bufpool.h). */
	enum sat_sample_type type;
	void *values;
	size_t values_cap;    /* bytes */
};

/* A window: bands sampled nearest-neighbour at the pixel centres of grid
 * (docs/ARCHITECTURE.md "Rendering rules", rule 3). */
struct sat_read {
	const struct sat_grid *grid;
	struct sat_read_band *bands;
	size_t nbands;
	/* out, width * height bytes, the caller's: 1 where every band has
	 * valid data (inside the source raster, not nodata, not masked by the
	 * file), else 0 */
	uint8_t *valid;
	enum sat_fetch_priority prio;
	struct sat_progress *progress; /* counted into; may be NULL */
	/* A hint: what will be read next (the renderer's next chunk, or the
	 * whole of a small render), which the source may start fetching
	 * now; may be NULL. */
	const struct sat_grid *next;
	/* A hint: the whole output this window is part of (the render's
	 * grid), of which a source caching what it decodes may keep what
	 * later windows will read, and no more; NULL: keep whole tiles. */
	const struct sat_grid *extent;
};

struct sat_source_ops {
	const char *type;     /* "stac", "earthengine" */
	/* Adds to h everything that names this catalog (root URL, collection,
	 * the source type), for the keys of cached listings. */
	void (*identity)(const struct sat_source *src, struct sat_hash *h);
	/* Runs the search, page by page: each raw page goes to page() (for
	 * the listing cache), the scenes parsed from it are appended to
	 * *items / *n (grown with realloc, owned by the caller). Scenes that
	 * fail validation are skipped with a warning. Blocks. 0, -EIO (the
	 * catalog failed; logged with its cause), -ENOMEM, -ECANCELED. */
	int (*search)(struct sat_source *src, const struct sat_search *q,
		      sat_source_page_fn page, void *payload,
		      struct sat_scene ***items, size_t *n);
	/* Completes what the catalog did not say of scenes[0..n) and the
	 * renderer needs at listing time (a scene without a CRS code gets
	 * its CRS, resolution and sample type from its files' headers).
	 * Scenes it cannot complete stay as they are (the catalog then
	 * drops them, saying why). Blocks. May be NULL. */
	void (*prepare)(struct sat_source *src, struct sat_scene **scenes,
			size_t n);
	/* Parses a page that search() handed out, as search() did. */
	int (*parse_page)(struct sat_source *src, const char *body,
			  size_t len, struct sat_scene ***items, size_t *n,
			  size_t *skipped);
	/* Reads a window. 0 or -errno: -EIO (network or data; the cause is
	 * left with sat_log_cause), -ENOMEM, -ECANCELED, -ENOTSUP (a sample
	 * type or layout the source cannot read). Blocks. */
	int (*read)(struct sat_source *src, const struct sat_read *rd);
	/* Forgets what it keeps in memory (headers, decoded tiles) so that
	 * the next reads ask the network again (satfs cache --clear). May be
	 * NULL. */
	void (*drop_caches)(struct sat_source *src);
	/* Can the catalog be reached? One try of at most deadline_ms, at
	 * mount time, so that a user hears of it before listing anything.
	 * 0, or -errno and what went wrong in why (no secret in it). Blocks.
	 * May be NULL. */
	int (*probe)(struct sat_source *src, int deadline_ms, char *why,
		     size_t len);
	void (*free)(struct sat_source *src);
};

/* The common part of every source; implementations embed it first. */
struct sat_source {
	const struct sat_source_ops *ops;
	const struct sat_config *cfg;
};

/* Makes the source cfg names ([source] type: stac or earthengine). Logs
 * and returns -EINVAL when it cannot (no credentials, ...). shared (may
 * be NULL; borrowed) is the shared store, where the STAC source looks for
 * COG headers. */
int sat_source_new(struct sat_source **out, const struct sat_config *cfg,
		   struct sat_fetch *fetch, struct sat_cache *cache,
		   struct sat_shared *shared);
void sat_source_free(struct sat_source *src);

int sat_source_stac_new(struct sat_source **out,
			const struct sat_config *cfg,
			struct sat_fetch *fetch, struct sat_cache *cache,
			struct sat_shared *shared);
int sat_source_ee_new(struct sat_source **out, const struct sat_config *cfg,
		      struct sat_fetch *fetch);

/* Makes a band's value buffer hold n values of type t (from the buffer
 * pool; what it held is not kept). 0 or -ENOMEM. */
int sat_read_band_reserve(struct sat_read_band *b, enum sat_sample_type t,
			  size_t n);

#endif
