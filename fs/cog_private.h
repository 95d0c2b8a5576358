/*
 * cog_private: what the files of the cog module share (cog.c: opening and
 * layout; cog_geo.c: geotransform, GeoKeys, CRS; cog_decode.c: tiles,
 * masks, whole images; cog_tiff.c: libtiff over memory, reasons). Not a
 * module boundary: nothing outside fs/cog*.c includes it.
 */
#ifndef SATFS_COG_PRIVATE_H
#define SATFS_COG_PRIVATE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <tiffio.h>

#include "satfs/cog.h"

#define COG_MAX_HEADER (16u << 20)   /* IFDs and their arrays */
#define COG_MAX_ALLOC (256u << 20)   /* libtiff single allocation */
#define COG_MAX_IFDS 64
#define COG_MAX_LEVELS 32
#define COG_MAX_SIDE (1u << 20)
#define COG_MAX_TILE_SIDE 4096
#define COG_MAX_SAMPLES 16
#define COG_MAX_TILE_BYTES (256u << 20) /* one decoded tile or strip */
#define COG_WHY_SIZE 256

/* One IFD we read: an image level or a mask. A strip is a tile of
 * tile_w = width by tile_h = RowsPerStrip. */
struct cog_ifd {
	uint16_t dir;          /* index of the IFD in the chain */
	uint32_t width, height;
	uint32_t tile_w, tile_h;
	uint32_t across, down;
	uint16_t spp, bps, format;
	uint16_t compression, photometric;
	bool separate, striped;
	size_t row_bytes;      /* decoded bytes of one row of a tile/plane */
	size_t chunk_bytes;    /* decoded bytes of one tile (one plane) */
	uint32_t nchunks;      /* across * down * (separate ? spp : 1) */
	uint64_t *offsets;     /* nchunks, libtiff's strile order */
	uint64_t *lengths;
};

struct cog_level {
	struct sat_cog_level pub;
	struct cog_ifd img;
	struct cog_ifd mask;   /* valid when pub.mask == SAT_COG_MASK_IFD */
};

struct sat_cog {
	uint8_t *header;
	size_t header_len;
	size_t nlevels;
	struct cog_level levels[COG_MAX_LEVELS];
	int epsg;
	char *crs;             /* "EPSG:n" or a WKT2 definition, or NULL */
	char crs_why[COG_WHY_SIZE]; /* why crs is NULL */
	bool has_nodata;
	double nodata;
	int alpha;             /* sample index of GDAL's alpha band, or -1 */
	bool palette;          /* a color map: band 1 is palette indices */
};

/* The bytes libtiff reads from: the header, or a whole small image. */
struct mem_src {
	const uint8_t *buf;
	uint64_t len;
	uint64_t pos;
	uint64_t wanted; /* highest end offset libtiff tried to read */
	int errors;      /* error messages libtiff reported */
	int warnings;    /* warnings, e.g. libjpeg's "Premature end" */
	char first[160]; /* libtiff's first error or warning */
};

/* cog_tiff.c */
/* Opens libtiff on src ("rmD": read-only, no mapping, strile arrays loaded
 * on demand); its messages go to src's counters and the debug log. */
TIFF *cog_tiff_open(struct mem_src *src);
/* True for the codecs we hand libtiff (configured in this libtiff). */
bool cog_codec_supported(uint16_t compression);
const char *cog_codec_name(uint16_t compression);
/* Sets the calling thread's reason and returns err (negative errno). */
int cog_fail(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void cog_clear_error(void);
/* The sample type of (bits, SampleFormat) into *type; false with a reason
 * written to why (e.g. "12-bit samples") for one we do not read. */
bool cog_type_of(uint16_t bits, uint16_t format, enum sat_sample_type *type,
		 char *why, size_t why_len);

/* cog_geo.c */
/* Level 0's geotransform, the GeoKeys (EPSG code, CRS), GDAL_NODATA, and
 * the alpha band, from the current directory (the first IFD). */
int cog_read_geo(struct sat_cog *cog, TIFF *tif);

/* cog_decode.c */
/* Decodes chunk `strile` of ifd d from raw into out (d->chunk_bytes),
 * through a fresh libtiff handle on the cog's header; only the rows
 * [row0, row1) up to column col1 need be right (part, or NULL: all;
 * sat_cog_decode_band_part()). */
struct cog_part {
	uint32_t row0, row1, col1;
};
int cog_decode_chunk(const struct sat_cog *cog, const struct cog_ifd *d,
		     uint32_t strile, const uint8_t *raw, size_t raw_len,
		     void *out, const char *what,
		     const struct cog_part *part);

#endif
