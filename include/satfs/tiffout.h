/*
 * tiffout: the GeoTIFF writer (libtiff), and the size of what it writes.
 *
 * Output is tiled (SAT_TIFFOUT_TILE square), uncompressed, chunky, with
 * GeoKeys for the EPSG code, a pixel-is-area geotransform, GDAL_METADATA and
 * optional GDAL_NODATA. Because nothing is compressed, the layout depends
 * only on the spec, and sat_tiffout_size() returns exactly the number of
 * bytes sat_tiffout_write() writes: it runs the same writer into a sink that
 * only counts. That is how sizes are exact at listing time.
 *
 * Thread-safe: no shared state.
 */
#ifndef SATFS_TIFFOUT_H
#define SATFS_TIFFOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sat_grid;

#define SAT_TIFFOUT_TILE 256
#define SAT_TIFFOUT_MAX_SAMPLES 8

/* sample_format values, as TIFF's SampleFormat */
#define SAT_TIFFOUT_UINT 1 /* (0 means the same) */
#define SAT_TIFFOUT_INT 2
#define SAT_TIFFOUT_FLOAT 3

/* Called with fill's payload after the last tile, before the directory,
 * to give the GDAL_METADATA to store instead of the spec's gdal_metadata
 * (what only the end of a render knows). It must be as long as that one,
 * which laid the file out, or the write fails with -EINVAL. *metadata
 * stays the callee's; NULL keeps gdal_metadata. 0 or -errno (aborts). */
typedef int (*sat_tiffout_metadata_fn)(const char **metadata,
				       void *payload);

struct sat_filehash;

struct sat_tiffout_spec {
	const struct sat_grid *grid; /* size, CRS and geotransform */
	uint16_t samples;            /* 4 (RGBA) or 1..SAT_TIFFOUT_MAX_SAMPLES */
	uint16_t bits;               /* 8, 16, 32, or 64 (floats only) */
	bool alpha;                  /* last sample is unassociated alpha */
	const char *gdal_metadata;   /* GDAL_METADATA XML, or NULL */
	const char *nodata;          /* GDAL_NODATA text, or NULL */
	uint16_t sample_format;      /* SAT_TIFFOUT_UINT, _INT, _FLOAT */
	/* Writing only, may be NULL (sat_tiffout_metadata_fn). */
	sat_tiffout_metadata_fn late_metadata;
	/* Writing only, may be NULL: fed every byte written, so that the
	 * file's digest needs little reading back (include/satfs/cache.h;
	 * the header it needs first: sat_tiffout_layout). */
	struct sat_filehash *hash;
};

/* Fills one tile: SAT_TIFFOUT_TILE^2 pixels, chunky, samples * bits/8
 * bytes each, rows of the tile past the image edge may hold anything.
 * Returns 0 or -errno (aborts the write). */
typedef int (*sat_tiffout_tile_fn)(uint32_t tile_x, uint32_t tile_y,
				   uint8_t *buf, void *payload);

/* Exact size in bytes of the file sat_tiffout_write() makes for spec. */
int sat_tiffout_size(const struct sat_tiffout_spec *spec,
		     uint64_t *size_bytes);
/* The same, and the file's header as it ends up (8 bytes, 16 for
 * BigTIFF): libtiff writes it first and the offset of the directory into
 * it last, when a digest taken while writing needs it first
 * (sat_filehash_expect). *nheader is 0 when it cannot be told. */
#define SAT_TIFFOUT_HEADER_MAX 16
int sat_tiffout_layout(const struct sat_tiffout_spec *spec,
		       uint64_t *size_bytes,
		       uint8_t header[SAT_TIFFOUT_HEADER_MAX],
		       size_t *nheader);

/* Writes the GeoTIFF to fd (at offset 0; fd must be readable, writable and
 * seekable), calling fill for every tile. Does not fsync or close fd.
 * Returns 0, -ENOSPC/-EIO (disk), -EINVAL (spec) or fill's error. */
int sat_tiffout_write(int fd, const struct sat_tiffout_spec *spec,
		      sat_tiffout_tile_fn fill, void *payload);

#endif
