/*
 * libFuzzer harness for the COG reader: the bytes are a whole TIFF file.
 * sat_cog_open() parses the header; then every tile of every level whose
 * byte range lies inside the input is decoded. What a render does with
 * network bytes, without the network.
 *
 * Built only with -DSATFS_FUZZ=ON (clang). The same binary replays files
 * given on its command line (libFuzzer's non-fuzzing mode): that is how
 * tests/fuzz/regressions/ runs as a ctest case.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "satfs/cog.h"
#include "satfs/log.h"

/* The harness's own bounds, to keep executions fast: tiles the reader
 * accepts but are larger than this are located, not decoded. */
#define FUZZ_MAX_TILE_BYTES (16u << 20)
#define FUZZ_MAX_TILES 64

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* libtiff's complaints go to the log at debug level: keep it quiet. */
	sat_log_set_level(SAT_LOG_ERROR);
	return 0;
}

static void decode_level(const struct sat_cog *cog, size_t lvl,
			 const uint8_t *data, size_t size, unsigned *budget)
{
	const struct sat_cog_level *l = sat_cog_level(cog, lvl);
	uint64_t off, len;
	size_t out_len;
	uint32_t tx, ty;
	void *out;

	if (!l)
		abort(); /* level_count said it exists */
	out_len = (size_t)l->tile_width * l->tile_height * l->samples *
		  (l->bits / 8);
	if (out_len == 0 || out_len > FUZZ_MAX_TILE_BYTES)
		return;
	out = malloc(out_len);
	if (!out)
		return;
	for (ty = 0; ty < l->tiles_down; ty++) {
		for (tx = 0; tx < l->tiles_across; tx++) {
			if (*budget == 0)
				goto out;
			/* -EINVAL here is a length the reader finds
			 * implausible for the tile: refused, not read. */
			if (sat_cog_tile_range(cog, lvl, tx, ty, &off, &len) ||
			    len == 0 || off > size || len > size - off)
				continue;
			(*budget)--;
			sat_cog_decode_tile(cog, lvl, tx, ty, data + off,
					    (size_t)len, out, out_len);
		}
	}
	/* Out-of-range indices must be refused, not read. */
	if (sat_cog_tile_range(cog, lvl, l->tiles_across, 0, &off, &len) !=
	    -EINVAL)
		abort();
out:
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sat_cog *cog = NULL, *again = NULL;
	const uint8_t *hdr;
	uint64_t need = 0;
	unsigned budget = FUZZ_MAX_TILES;
	double nodata;
	size_t i, n, hlen;
	int ret;

	ret = sat_cog_open(&cog, data, size, &need);
	if (ret == -EAGAIN && need <= size)
		abort(); /* asked for bytes it already had */
	if (ret)
		return 0;
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
	n = sat_cog_level_count(cog);
	for (i = 0; i < n; i++)
		decode_level(cog, i, data, size, &budget);
	sat_cog_free(cog);
	return 0;
}
