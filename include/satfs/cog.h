/*
 * cog: reads (Cloud-Optimized) GeoTIFFs from bytes it is handed (libtiff
 * over memory; no I/O here). The caller fetches the first bytes of the
 * file, asks for more when the IFDs run past them, then fetches the tiles
 * and mask tiles this module locates and hands them back for decoding.
 *
 * What is read, as GDAL reads it (GDAL is the judge in the tests):
 *   - tiled and striped layouts; a strip is presented as a tile as wide as
 *     the image and RowsPerStrip high, so that a caller treats both alike;
 *   - chunky (PlanarConfiguration 1: one tile holds every band,
 *     interleaved) and separate (2: one tile per band) layouts;
 *   - samples of every enum sat_sample_type (GDAL's Byte with
 *     SampleFormat INT is int8), in the file's byte order or not,
 *     decoded to native types in host byte order; NONE, LZW, DEFLATE,
 *     PACKBITS, ZSTD, LZMA, WEBP, LERC (when libtiff has them) with
 *     predictors 2 and 3, and JPEG (YCbCr JPEG decoded to RGB, as GDAL
 *     does);
 *   - internal masks (mask IFDs: NewSubfileType FILETYPE_MASK for the full
 *     resolution, FILETYPE_REDUCEDIMAGE | FILETYPE_MASK for overviews,
 *     matched to their level by size; 1-bit or 8-bit), alpha bands
 *     (ExtraSamples) and GDAL_NODATA, combined into GDAL's mask band rules
 *     (enum sat_cog_mask);
 *   - the geotransform (ModelPixelScale + ModelTiepoint, or a
 *     ModelTransformation without rotation; south-up allowed) and the CRS
 *     from the GeoKeys (an EPSG code, or a definition built through the
 *     geom module from user-defined keys).
 *
 * Every refusal says why: a failing function leaves a reason in
 * sat_cog_last_error() ("rotated geotransform", "unsupported compression
 * 34712 (JPEG 2000)", "12-bit samples"...), for the caller's one log line
 * and for user.satfs.error.
 *
 * A struct sat_cog is immutable after sat_cog_open(); every function here
 * may be called from any thread, concurrently. Nothing blocks except
 * sat_cog_open() on PROJ's database, for user-defined CRSs only.
 */
#ifndef SATFS_COG_H
#define SATFS_COG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "satfs/sample.h" /* enum sat_sample_type, a field of a level */

struct sat_cog;

/*
 * Where a level's pixels are invalid (transparent), by GDAL's rules for
 * the mask band of a data band (GDALRasterBand::GetMaskBand(), GTiff
 * driver), in GDAL's order of precedence:
 *   SAT_COG_MASK_IFD       the level has an internal mask (a mask IFD):
 *                          sat_cog_decode_mask(); 0 = invalid. GDAL's
 *                          flags: GMF_PER_DATASET (one mask sample), or
 *                          per band (as many samples as the image).
 *   SAT_COG_MASK_NODATA    GDAL_NODATA is set (GMF_NODATA): a sample of a
 *                          band is invalid where it equals the nodata
 *                          value compared in the band's own type (float32
 *                          against (float)nodata; NaN nodata: where the
 *                          sample is NaN); sat_cog_mask_from_tile().
 *   SAT_COG_MASK_ALPHA     an alpha band (GMF_ALPHA | GMF_PER_DATASET):
 *                          only for 2-band (gray + alpha) and 4-band
 *                          (RGB + alpha) files of uint8 or uint16, alpha
 *                          last; a pixel is invalid where alpha is 0
 *                          (GDAL's mask is the alpha value, uint16 alpha
 *                          rescaled to 1..255 for non-zero values);
 *                          sat_cog_mask_from_tile().
 *   SAT_COG_MASK_ALL_VALID everything is valid (GMF_ALL_VALID).
 * An overview without its own mask IFD falls back to NODATA, ALPHA or
 * ALL_VALID even when level 0 has one, as GDAL does. The alpha band
 * itself is always valid.
 */
enum sat_cog_mask {
	SAT_COG_MASK_ALL_VALID = 0,
	SAT_COG_MASK_NODATA,
	SAT_COG_MASK_ALPHA,
	SAT_COG_MASK_IFD,
};

/*
 * One resolution level: 0 is full resolution, then overviews from finer
 * to coarser. Geotransform: x = origin_x + col * pixel_x,
 * y = origin_y - row * pixel_y, of the top-left corner of pixel (col,
 * row). pixel_x > 0 always; pixel_y > 0 is north-up, pixel_y < 0
 * south-up (row 0 is the southern edge; origin_y its y). Overviews derive
 * theirs from level 0 scaled by the size ratio (as GDAL does).
 *
 * Tiles: tile_width x tile_height pixels, tiles_across x tiles_down of
 * them, row-major; edge tiles are whole tiles whose pixels beyond the
 * image are padding. A striped level has tile_width = width, tile_height
 * = RowsPerStrip (at most height), tiles_across = 1.
 */
struct sat_cog_level {
	uint32_t width, height;
	uint32_t tile_width, tile_height;
	uint32_t tiles_across, tiles_down;
	uint16_t samples;          /* bands (samples per pixel) */
	uint16_t bits;             /* per sample: 8, 16, 32 or 64 */
	uint16_t sample_format;    /* SAMPLEFORMAT_UINT (also for VOID),
				      _INT, _IEEEFP */
	enum sat_sample_type type;
	bool separate;             /* planar configuration 2: a tile per band */
	bool striped;              /* strips presented as tiles (above) */
	enum sat_cog_mask mask;
	double origin_x, origin_y;
	double pixel_x, pixel_y;
};

/* Parses the header in buf[0..len). Returns 0; or -EAGAIN with *need_bytes
 * set to the prefix length required when the IFDs or their arrays run past
 * len (fetch that much and call again); -EINVAL for bytes that are not a
 * valid GeoTIFF (bad magic, corrupt IFD, no geotransform, counts that do
 * not match); -ENOTSUP for what we do not read (rotated geotransform,
 * compression, sample type); -ENOMEM. On every failure
 * sat_cog_last_error() says why. Copies what it keeps; buf may be freed
 * after. May block briefly on PROJ's database (user-defined CRS). */
int sat_cog_open(struct sat_cog **out, const uint8_t *buf, size_t len,
		 uint64_t *need_bytes);
void sat_cog_free(struct sat_cog *cog);

/* Why the calling thread's latest failed sat_cog_*() call failed: a short
 * phrase without the file's name ("rotated geotransform", "tile 2,1 of
 * level 0: LZWDecode: Corrupted LZW table at scanline 0"). Valid until the
 * next sat_cog_*() call on this thread; "" when none failed yet. */
const char *sat_cog_last_error(void);

/* Checks that every tile and mask tile range lies within an object of
 * object_size bytes (the size the server gave with the header). 0, or
 * -EINVAL naming the first that does not ("tile 3,0 of level 0 ends at
 * 5368709120, past the object's end (10485760 bytes)"). */
int sat_cog_check_size(const struct sat_cog *cog, uint64_t object_size);

/* The header prefix the cog was parsed from (borrowed), so that callers
 * can store it on disk and sat_cog_open() it again later. */
const uint8_t *sat_cog_header(const struct sat_cog *cog, size_t *len);

size_t sat_cog_level_count(const struct sat_cog *cog);
const struct sat_cog_level *sat_cog_level(const struct sat_cog *cog,
					  size_t level);

/* EPSG code from the GeoKeys (ProjectedCSTypeGeoKey, or GeographicType for
 * a geographic model), or 0 when absent or user-defined. */
int sat_cog_epsg(const struct sat_cog *cog);
/* The CRS of the GeoKeys (borrowed, lives as long as cog): "EPSG:32629"
 * when a code gives it; else, for user-defined keys (ProjCoordTransGeoKey
 * and its parameters, or ProjectionGeoKey; datum, ellipsoid, prime
 * meridian, TOWGS84, linear units), a WKT2:2019 definition made by PROJ
 * (sat_geom_crs_build()), which every sat_geom_*_crs() function accepts.
 * NULL when there is none we can build, with *why (when why is not NULL)
 * saying why ("no GeoKeys", "ProjCoordTransGeoKey 27 is not supported"). */
const char *sat_cog_crs(const struct sat_cog *cog, const char **why);
/* GDAL_NODATA, when the file has one. */
bool sat_cog_nodata(const struct sat_cog *cog, double *nodata);
/* The band (0-based sample index) GDAL reads as alpha (ExtraSamples
 * associated or unassociated alpha, after the bands the photometric
 * interpretation names; the last one if several), or -1. Whether it masks
 * the other bands is the level's mask (SAT_COG_MASK_ALPHA). */
int sat_cog_alpha(const struct sat_cog *cog);

/* Bytes of one decoded tile of a level: tile_width * tile_height *
 * (separate ? 1 : samples) * sat_sample_size(type). 0 for a bad level. */
size_t sat_cog_tile_bytes(const struct sat_cog *cog, size_t level);

/* Byte range of the tile (tx, ty) holding band `band` of a level: for a
 * chunky level, the same range for every band; for a separate one, that
 * band's own. *length 0: a sparse tile (not stored); decode it with
 * raw_len 0. Returns 0, or -EINVAL for out-of-range indices or a length
 * no tile of this size can have (reason in sat_cog_last_error()). */
int sat_cog_band_range(const struct sat_cog *cog, size_t level,
		       uint16_t band, uint32_t tx, uint32_t ty,
		       uint64_t *offset, uint64_t *length);
/* sat_cog_band_range() of band 0. */
int sat_cog_tile_range(const struct sat_cog *cog, size_t level, uint32_t tx,
		       uint32_t ty, uint64_t *offset, uint64_t *length);

/* Decodes the tile (tx, ty) holding band `band` from its compressed bytes
 * raw[0..raw_len) into out (out_len >= sat_cog_tile_bytes()): samples of
 * the level's type, host byte order, row-major with tile_width pixels a
 * row; chunky: all bands interleaved per pixel; separate: that band only.
 * raw_len 0 is a sparse tile: out is filled as GDAL reads one, with the
 * nodata value (converted to the type as GDAL does) or 0. The last strip
 * of a striped level decodes its rows and zero-fills the rest. Returns 0,
 * -EINVAL when the bytes do not decode (corrupt, truncated; libtiff's
 * message in sat_cog_last_error()), -ENOMEM. */
int sat_cog_decode_band(const struct sat_cog *cog, size_t level,
			uint16_t band, uint32_t tx, uint32_t ty,
			const uint8_t *raw, size_t raw_len, void *out,
			size_t out_len);
/* sat_cog_decode_band() for a caller that keeps only the tile's rows
 * [row0, row1) up to column col1 (exclusive): those are right, the rest
 * of out may hold samples left half decoded (the running sums of a
 * horizontal predictor are taken where they are kept, and no further). */
int sat_cog_decode_band_part(const struct sat_cog *cog, size_t level,
			     uint16_t band, uint32_t tx, uint32_t ty,
			     const uint8_t *raw, size_t raw_len, void *out,
			     size_t out_len, uint32_t row0, uint32_t row1,
			     uint32_t col1);
/* sat_cog_decode_band() of band 0 (for a chunky level: every band). */
int sat_cog_decode_tile(const struct sat_cog *cog, size_t level,
			uint32_t tx, uint32_t ty, const uint8_t *raw,
			size_t raw_len, void *out, size_t out_len);

/* Byte range of the mask tile matching image tile (tx, ty) of a level
 * whose mask is SAT_COG_MASK_IFD (for a per-band mask, of band `band`;
 * ignored for a per-dataset mask). *length 0: a sparse mask tile. 0, or
 * -EINVAL (no mask IFD, out-of-range indices, implausible length). */
int sat_cog_mask_range(const struct sat_cog *cog, size_t level,
		       uint16_t band, uint32_t tx, uint32_t ty,
		       uint64_t *offset, uint64_t *length);
/* Decodes that mask tile into out, tile_width * tile_height bytes, one
 * per pixel as GDAL's mask band reads it: 0 = invalid, non-zero = valid
 * (1-bit masks give 0 and 255; 8-bit masks their stored values). raw_len
 * 0 (a sparse mask tile) gives all 0: invalid, as GDAL reads it. Returns
 * 0, -EINVAL, -ENOMEM. */
int sat_cog_decode_mask(const struct sat_cog *cog, size_t level,
			uint16_t band, uint32_t tx, uint32_t ty,
			const uint8_t *raw, size_t raw_len, uint8_t *out,
			size_t out_len);
/* For a level whose mask is SAT_COG_MASK_NODATA or SAT_COG_MASK_ALPHA:
 * GDAL's mask of band `band` for one decoded tile, one byte per pixel
 * (tile_width * tile_height) as sat_cog_decode_mask() gives it. tile is
 * the decoded tile (sat_cog_decode_band()) holding, for NODATA, the band
 * itself, for ALPHA, the alpha band (chunky: the same tile). For
 * ALL_VALID, all 255. 0, or -EINVAL (IFD level, short buffers). */
int sat_cog_mask_from_tile(const struct sat_cog *cog, size_t level,
			   uint16_t band, const void *tile, size_t tile_len,
			   uint8_t *out, size_t out_len);

/* Decodes a whole small TIFF held in buf (tiled or striped, chunky or
 * planar, any codec and sample type sat_cog_open() reads) into *out:
 * samples planes of width*height values of *type, band after band, host
 * byte order (malloc'd). For answers such as Earth Engine's getPixels,
 * which need not be cloud-optimized nor georeferenced. 0, -EINVAL (not a
 * TIFF we can decode, corrupt, too large) or -ENOTSUP (sample type or
 * codec), with the reason in sat_cog_last_error(); -ENOMEM. */
int sat_cog_decode_image(const uint8_t *buf, size_t len, uint32_t *width,
			 uint32_t *height, uint16_t *samples,
			 enum sat_sample_type *type, void **out);

#endif
