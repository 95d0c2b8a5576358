/*
 * libFuzzer harness for the COG reader: the bytes are a whole TIFF file.
 * sat_cog_open() parses the header; then, within a budget, every tile of
 * every band of every level whose byte range lies inside the input is
 * decoded (strips, planar-separate bands, every sample type), with its
 * mask: the mask IFD's tile when the level has one, else the mask made
 * from the decoded samples (nodata, alpha). What a render does with
 * network bytes, without the network. The same bytes also go through
 * sat_cog_decode_image(), as an Earth Engine answer would.
 *
 * Built only with -DSATFS_FUZZ=ON (clang). The same binary replays files
 * given on its command line (libFuzzer's non-fuzzing mode): that is how
 * tests/fuzz/regressions/ runs as a ctest case.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "satfs/cog.h"
#include "satfs/log.h"

/* The harness's own bounds, to keep executions fast: tiles the reader
 * accepts but are larger than this are located, not decoded, and no more
 * than FUZZ_MAX_TILES tiles or FUZZ_MAX_BYTES decoded bytes (sparse tiles
 * are filled: a 16 MiB fill of each of 64 tiles would take most of a
 * second) per input. */
#define FUZZ_MAX_TILE_BYTES (16u << 20)
#define FUZZ_MAX_TILES 64
#define FUZZ_MAX_BYTES (32u << 20)

struct budget {
	unsigned tiles;
	size_t bytes;
};

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* libtiff's complaints go to the log at debug level: keep it quiet. */
	sat_log_set_level(SAT_LOG_ERROR);
	return 0;
}

/* A failure must say why. */
static void check_reason(int err)
{
	if (err && !sat_cog_last_error()[0])
		abort();
}

static void decode_mask(const struct sat_cog *cog, size_t lvl,
			const struct sat_cog_level *l, uint16_t band,
			uint32_t tx, uint32_t ty, const uint8_t *data,
			size_t size, const void *tile, size_t tile_len,
			uint8_t *mask, size_t mask_len)
{
	uint64_t off, len;
	int err;

	if (l->mask != SAT_COG_MASK_IFD) {
		err = sat_cog_mask_from_tile(cog, lvl, band, tile, tile_len,
					     mask, mask_len);
		check_reason(err);
		if (err)
			abort(); /* a tile of the right size always works */
		return;
	}
	err = sat_cog_mask_range(cog, lvl, band, tx, ty, &off, &len);
	check_reason(err);
	if (err || off > size || len > size - off)
		return;
	check_reason(sat_cog_decode_mask(cog, lvl, band, tx, ty, data + off,
					 (size_t)len, mask, mask_len));
}

static void decode_level(const struct sat_cog *cog, size_t lvl,
			 const uint8_t *data, size_t size,
			 struct budget *budget)
{
	const struct sat_cog_level *l = sat_cog_level(cog, lvl);
	size_t out_len = sat_cog_tile_bytes(cog, lvl), mask_len;
	uint16_t nbands;
	uint64_t off, len;
	uint8_t *out, *mask;
	int err;

	if (!l || l->tiles_across == 0 || l->tiles_down == 0)
		abort(); /* level_count said it exists */
	mask_len = (size_t)l->tile_width * l->tile_height;
	if (out_len == 0 || out_len > FUZZ_MAX_TILE_BYTES ||
	    mask_len > FUZZ_MAX_TILE_BYTES)
		return;
	out = malloc(out_len);
	mask = malloc(mask_len);
	if (!out || !mask)
		goto out;
	nbands = l->separate ? l->samples : 1;
	for (uint32_t ty = 0; ty < l->tiles_down; ty++) {
		for (uint32_t tx = 0; tx < l->tiles_across; tx++) {
			for (uint16_t b = 0; b < nbands; b++) {
				if (budget->tiles == 0 ||
				    budget->bytes < out_len + mask_len)
					goto out;
				/* -EINVAL here is a length the reader finds
				 * implausible for the tile: refused, not
				 * read. */
				err = sat_cog_band_range(cog, lvl, b, tx, ty,
							 &off, &len);
				check_reason(err);
				if (err || off > size || len > size - off)
					continue;
				budget->tiles--;
				budget->bytes -= out_len + mask_len;
				/* len 0: a sparse tile, filled */
				err = sat_cog_decode_band(cog, lvl, b, tx, ty,
							  data + off,
							  (size_t)len, out,
							  out_len);
				check_reason(err);
				if (err)
					continue;
				decode_mask(cog, lvl, l, b, tx, ty, data, size,
					    out, out_len, mask, mask_len);
			}
		}
	}
	/* Out-of-range indices must be refused, not read. */
	if (sat_cog_tile_range(cog, lvl, l->tiles_across, 0, &off, &len) !=
		    -EINVAL ||
	    sat_cog_band_range(cog, lvl, l->samples, 0, 0, &off, &len) !=
		    -EINVAL)
		abort();
out:
	free(out);
	free(mask);
}

static void decode_image(const uint8_t *data, size_t size)
{
	enum sat_sample_type type;
	uint32_t w, h;
	uint16_t spp;
	void *img = NULL;
	int err;

	/* Not more than a megapixel-band: the harness must stay fast. */
	if (size > 65536)
		return;
	err = sat_cog_decode_image(data, size, &w, &h, &spp, &type, &img);
	check_reason(err);
	if (!err && (!img || !sat_sample_size(type) || !w || !h || !spp))
		abort();
	free(img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sat_cog *cog = NULL, *again = NULL;
	const char *crs, *why = NULL;
	const uint8_t *hdr;
	uint64_t need = 0;
	struct budget budget = { FUZZ_MAX_TILES, FUZZ_MAX_BYTES };
	double nodata;
	size_t i, n, hlen;
	int ret, alpha;

	ret = sat_cog_open(&cog, data, size, &need);
	check_reason(ret);
	if (ret == -EAGAIN && need <= size)
		abort(); /* asked for bytes it already had */
	if (ret) {
		decode_image(data, size);
		return 0;
	}
	/* The cache stores the header prefix and opens it again later: that
	 * must always work. */
	hdr = sat_cog_header(cog, &hlen);
	if (!hdr || hlen > size || sat_cog_open(&again, hdr, hlen, &need))
		abort();
	if (sat_cog_level_count(again) != sat_cog_level_count(cog))
		abort();
	sat_cog_free(again);
	sat_cog_epsg(cog);
	sat_cog_nodata(cog, &nodata);
	crs = sat_cog_crs(cog, &why);
	if (!crs && !why[0])
		abort(); /* no CRS says why */
	alpha = sat_cog_alpha(cog);
	n = sat_cog_level_count(cog);
	if (alpha >= (int)sat_cog_level(cog, 0)->samples)
		abort();
	check_reason(sat_cog_check_size(cog, size));
	for (i = 0; i < n; i++)
		decode_level(cog, i, data, size, &budget);
	sat_cog_free(cog);
	decode_image(data, size);
	return 0;
}
