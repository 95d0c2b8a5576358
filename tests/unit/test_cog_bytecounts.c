/*
 * A COG whose TileByteCounts lie. The file is made here: a valid tiled
 * GeoTIFF written by the tiffout module (uncompressed, so a tile's true
 * size is known), whose TileByteCounts entry is then overwritten in place
 * by tiff_walk.h, a TIFF reader independent of libtiff. Whatever length a
 * hostile file claims for a tile, far beyond what any tile of that size
 * could take, the reader refuses that tile with -EINVAL (or the whole
 * file at open) instead of naming a byte range the caller would download
 * (up to the fetch body cap: 64 MiB per tile). The other tiles of the
 * same file are unaffected. No network, no GDAL, no recorded data.
 */
#include "satest.h"
#include "tiff_walk.h"

#include "satfs/cog.h"
#include "satfs/geom.h"
#include "satfs/tiffout.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#define T SAT_TIFFOUT_TILE

static int fill(uint32_t tx, uint32_t ty, uint8_t *buf, void *payload)
{
	const struct sat_tiffout_spec *s = payload;
	size_t n = (size_t)T * T * s->samples * (s->bits / 8);

	for (size_t i = 0; i < n; i++)
		buf[i] = (uint8_t)(i * 31 + tx * 7 + ty * 131);
	return 0;
}

/* The bytes of a GeoTIFF made by the tiffout module for spec. */
static uint8_t *make_tiff(const struct sat_tiffout_spec *s, size_t *len)
{
	char path[512];
	uint64_t size;
	int fd;

	snprintf(path, sizeof(path), "%s/src.tif", satest_tmpdir());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK_INT(sat_tiffout_write(fd, s, fill, (void *)s), 0);
	CHECK(close(fd) == 0);
	CHECK_INT(sat_tiffout_size(s, &size), 0);
	uint8_t *buf = (uint8_t *)satest_read_file(path, len);
	CHECK_INT(*len, size);
	return buf;
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n);

	CHECK(c != NULL);
	memcpy(c, p, n);
	return c;
}

/* Opens exactly buf[0..len) (a copy of that length, so that ASan sees a
 * read past it). */
static int open_bytes(struct sat_cog **cog, const uint8_t *buf, size_t len)
{
	uint8_t *c = dup_bytes(buf, len);
	uint64_t need = 0;
	int rc = sat_cog_open(cog, c, len, &need);

	free(c);
	return rc;
}

/* One spec: the true ranges first, then each absurd count on one tile. */
static void check_spec(const struct sat_tiffout_spec *s)
{
	/* Claims no tile of at most 256 x 256 x 4 x 16 bits (512 KiB raw)
	 * can make: from 32 MiB to the largest a classic TIFF holds. */
	static const uint64_t absurd[] = { 32ull << 20, (64ull << 20) - 1,
					   (64ull << 20) + 1, 1ull << 31,
					   0xffffffffull };
	const struct sat_grid *g = s->grid;
	uint32_t across = (g->width + T - 1) / T, down = (g->height + T - 1) / T;
	size_t len, raw = (size_t)T * T * s->samples * (s->bits / 8);
	uint8_t *orig = make_tiff(s, &len), *bad, *out = malloc(raw);
	struct tw_entry offs, cnts, e;
	struct tw_file tf;
	struct sat_cog *cog = NULL;
	uint64_t off, n;
	uint32_t victim = across > 1 ? 1 : 0; /* tile (victim, 0) lies */

	CHECK(out != NULL);
	CHECK_INT(tw_open(&tf, orig, len), 0);
	CHECK_INT(tw_find(&tf, tw_first_ifd(&tf), TW_TAG_TILE_OFFSETS, &offs),
		  0);
	CHECK_INT(tw_find(&tf, tw_first_ifd(&tf), TW_TAG_TILE_BYTE_COUNTS,
			  &cnts), 0);
	CHECK_INT(cnts.count, (uint64_t)across * down);
	CHECK(cnts.type == 4 || cnts.type == 16); /* LONG, LONG8 */
	CHECK_INT(tw_extent(&tf), len);

	/* The honest file: every tile where the file says, and it decodes
	 * to what was written. */
	CHECK_INT(open_bytes(&cog, orig, len), 0);
	for (uint32_t ty = 0; ty < down; ty++) {
		for (uint32_t tx = 0; tx < across; tx++) {
			uint64_t i = (uint64_t)ty * across + tx;

			CHECK_INT(sat_cog_tile_range(cog, 0, tx, ty, &off, &n),
				  0);
			CHECK_INT(off, tw_value(&tf, &offs, i));
			CHECK_INT(n, tw_value(&tf, &cnts, i));
			CHECK_INT(n, raw);
		}
	}
	CHECK_INT(sat_cog_tile_range(cog, 0, 0, 0, &off, &n), 0);
	CHECK_INT(sat_cog_decode_tile(cog, 0, 0, 0, orig + off, n, out, raw),
		  0);
	/* uncompressed: the file's bytes are the pixels, and the first row
	 * starts with what fill() wrote */
	CHECK(memcmp(out, orig + off, raw) == 0);
	for (size_t i = 0; i < 16; i++)
		CHECK_INT(out[i], (uint8_t)(i * 31));
	sat_cog_free(cog);

	for (size_t k = 0; k < sizeof(absurd) / sizeof(absurd[0]); k++) {
		bad = dup_bytes(orig, len);
		CHECK_INT(tw_open(&tf, bad, len), 0);
		CHECK_INT(tw_find(&tf, tw_first_ifd(&tf),
				  TW_TAG_TILE_BYTE_COUNTS, &e), 0);
		tw_set_value(&tf, &e, victim, absurd[k]);
		CHECK_INT(tw_value(&tf, &e, victim), absurd[k]);
		cog = NULL;
		int rc = open_bytes(&cog, bad, len);

		if (rc != 0) {
			/* refusing the whole file is refusing the tile */
			CHECK_INT(rc, -EINVAL);
			CHECK(cog == NULL);
			free(bad);
			continue;
		}
		off = n = 12345;
		CHECK_INT(sat_cog_tile_range(cog, 0, victim, 0, &off, &n),
			  -EINVAL);
		CHECK(n != absurd[k]);
		/* the neighbours still read */
		for (uint32_t ty = 0; ty < down; ty++) {
			for (uint32_t tx = 0; tx < across; tx++) {
				if (tx == victim && ty == 0)
					continue;
				CHECK_INT(sat_cog_tile_range(cog, 0, tx, ty,
							     &off, &n),
					  0);
				CHECK_INT(n, raw);
			}
		}
		sat_cog_free(cog);
		free(bad);
	}
	free(out);
	free(orig);
}

SAT_TEST(absurd_tile_byte_count_rgba8)
{
	struct sat_grid g = { 32617, 337030, 933300, 10, 600, 300 };
	struct sat_tiffout_spec s = { &g, 4, 8, true, NULL, NULL,
				      0, NULL, NULL };

	check_spec(&s);
}

SAT_TEST(absurd_tile_byte_count_raw16)
{
	struct sat_grid g = { 32631, 642780, 5793460, 10, 300, 520 };
	struct sat_tiffout_spec s = { &g, 3, 16, false, NULL, "0",
				      0, NULL, NULL };

	check_spec(&s);
}

SAT_TEST(absurd_tile_byte_count_single_tile)
{
	struct sat_grid g = { 4326, -82.48, 8.4408, 0.0001, 200, 100 };
	struct sat_tiffout_spec s = { &g, 1, 16, false, NULL, "0",
				      0, NULL, NULL };

	check_spec(&s);
}
