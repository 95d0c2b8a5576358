/*
 * cog: reads Cloud-Optimized GeoTIFFs from bytes it is handed (libtiff over
 * memory; no I/O here). The caller fetches the first bytes of the file,
 * asks for more when the IFDs run past them, then fetches the tiles this
 * module locates and hands them back for decoding.
 *
 * A struct sat_cog is immutable after sat_cog_open(); every function here
 * may be called from any thread, concurrently.
 */
#ifndef SATFS_COG_H
#define SATFS_COG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sat_cog;

/* One resolution level: 0 is full resolution, then overviews from finer
 * to coarser. Geotransform: x = origin_x + col * pixel_x,
 * y = origin_y - row * pixel_y (north-up; pixel_y > 0). Overviews derive
 * theirs from level 0 scaled by the size ratio (as GDAL does). */
struct sat_cog_level {
	uint32_t width, height;
	uint32_t tile_width, tile_height;
	uint32_t tiles_across, tiles_down;
	uint16_t samples;       /* per pixel */
	uint16_t bits;          /* per sample: 8, 16, 32 */
	uint16_t sample_format; /* SAMPLEFORMAT_UINT/INT/IEEEFP */
	double origin_x, origin_y;
	double pixel_x, pixel_y;
};

/* Parses the header in buf[0..len). Returns 0; or -EAGAIN with *need_bytes
 * set to the prefix length required when the IFDs or their arrays run past
 * len (fetch that much and call again); -EINVAL for bytes that are not a
 * valid tiled GeoTIFF (bad magic, corrupt IFD, stripped layout, no
 * geotransform); -ENOTSUP for a layout we do not read (planar separate,
 * unsupported compression). Copies what it keeps; buf may be freed after. */
int sat_cog_open(struct sat_cog **out, const uint8_t *buf, size_t len,
		 uint64_t *need_bytes);
void sat_cog_free(struct sat_cog *cog);

/* The header prefix the cog was parsed from (borrowed), so that callers
 * can store it on disk and sat_cog_open() it again later. */
const uint8_t *sat_cog_header(const struct sat_cog *cog, size_t *len);

size_t sat_cog_level_count(const struct sat_cog *cog);
const struct sat_cog_level *sat_cog_level(const struct sat_cog *cog,
					  size_t level);
/* EPSG code from the GeoKeys (ProjectedCSTypeGeoKey or GeographicType),
 * or 0 when absent or user-defined. */
int sat_cog_epsg(const struct sat_cog *cog);
/* GDAL_NODATA, when the file has one. */
bool sat_cog_nodata(const struct sat_cog *cog, double *nodata);

/* Byte range of tile (tx, ty) of a level. *length 0 means a sparse tile
 * (all nodata / zeros). Returns 0 or -EINVAL for out-of-range indices. */
int sat_cog_tile_range(const struct sat_cog *cog, size_t level, uint32_t tx,
		       uint32_t ty, uint64_t *offset, uint64_t *length);

/* Decodes one tile's compressed bytes into out, which holds
 * tile_width * tile_height * samples * bits/8 bytes, host byte order.
 * Returns 0, or -EINVAL when the bytes do not decode (corrupt, truncated).
 * Thread-safe. */
int sat_cog_decode_tile(const struct sat_cog *cog, size_t level,
			uint32_t tx, uint32_t ty, const uint8_t *raw,
			size_t raw_len, void *out, size_t out_len);

/* Decodes a whole small TIFF held in buf (tiled or stripped, chunky or
 * planar, any codec sat_cog_open() reads; uint8 or uint16 samples) into
 * *out: samples planes of width*height values, band after band (malloc'd;
 * uint8 widened). For answers such as Earth Engine's getPixels, which
 * need not be cloud-optimized. 0, -EINVAL (not a TIFF we can decode,
 * corrupt, too large) or -ENOTSUP (sample type or codec); -ENOMEM. */
int sat_cog_decode_image(const uint8_t *buf, size_t len, uint32_t *width,
			 uint32_t *height, uint16_t *samples, uint16_t **out);

#endif
