/*
 * Unit tests for fs/cog.c, against the real Sentinel-2 scene in
 * tests/data and against variants of it made with gdal_translate
 * at test time (GDAL is the independent reader the decoded pixels are
 * compared with).
 *
 * Every buffer handed to the module is a malloc'd copy of exactly the
 * length passed, so that AddressSanitizer catches a read past it.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "satest.h"
#include "satfs/cog.h"
#include "satfs/geom.h"

#define SCENE "cog/S2A_29RKH_20200219_0_L2A/"

struct file {
	uint8_t *bytes;
	size_t len;
};

static struct file load(const char *path)
{
	struct file f;

	f.bytes = (uint8_t *)satest_read_file(path, &f.len);
	return f;
}

static uint8_t *copy_of(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);

	CHECK(c != NULL);
	memcpy(c, p, n);
	return c;
}

/* Opens as the fetch module does: the first `first` bytes, then whatever
 * the module asks for. Returns the number of sat_cog_open() calls. */
static int open_err(struct sat_cog **cog, const struct file *f, size_t first,
		    int *calls)
{
	size_t len = first < f->len ? first : f->len;
	uint64_t need = 0;
	uint8_t *buf;
	int err;

	for (*calls = 1;; (*calls)++) {
		buf = copy_of(f->bytes, len);
		err = sat_cog_open(cog, buf, len, &need);
		free(buf);
		if (err != -EAGAIN || *calls == 8 || len == f->len)
			return err;
		CHECK(need > len);
		len = need < f->len ? (size_t)need : f->len;
	}
}

static struct sat_cog *open_file(const struct file *f, size_t first,
				 int max_calls)
{
	struct sat_cog *cog = NULL;
	int calls;

	CHECK_INT(open_err(&cog, f, first, &calls), 0);
	CHECK(calls <= max_calls);
	CHECK(cog != NULL);
	return cog;
}

static size_t tile_bytes(const struct sat_cog_level *l)
{
	return (size_t)l->tile_width * l->tile_height * l->samples *
	       (l->bits / 8);
}

/* Decodes tile (tx, ty) of a level with the bytes sat_cog_tile_range()
 * names in f; returns a malloc'd buffer. */
static void *decode(const struct sat_cog *cog, const struct file *f,
		    size_t level, uint32_t tx, uint32_t ty)
{
	const struct sat_cog_level *l = sat_cog_level(cog, level);
	uint64_t off, n;
	uint8_t *raw;
	void *out;

	CHECK(l != NULL);
	CHECK_INT(sat_cog_tile_range(cog, level, tx, ty, &off, &n), 0);
	CHECK(n > 0 && off + n <= f->len);
	raw = copy_of(f->bytes + off, n);
	out = malloc(tile_bytes(l));
	CHECK_INT(sat_cog_decode_tile(cog, level, tx, ty, raw, n, out,
				      tile_bytes(l)), 0);
	free(raw);
	return out;
}

static double sample_at(const struct sat_cog_level *l, const void *tile,
			uint32_t x, uint32_t y, unsigned band)
{
	size_t i = ((size_t)(y % l->tile_height) * l->tile_width +
		    x % l->tile_width) * l->samples + band;

	if (l->bits == 8)
		return ((const uint8_t *)tile)[i];
	if (l->bits == 16)
		return ((const uint16_t *)tile)[i];
	if (l->sample_format == 3)
		return ((const float *)tile)[i];
	return ((const uint32_t *)tile)[i];
}

static double pixel(const struct sat_cog *cog, const struct file *f,
		    size_t level, uint32_t x, uint32_t y, unsigned band)
{
	const struct sat_cog_level *l = sat_cog_level(cog, level);
	void *tile = decode(cog, f, level, x / l->tile_width,
			    y / l->tile_height);
	double v = sample_at(l, tile, x, y, band);

	free(tile);
	return v;
}

static void run(const char *cmd)
{
	int rc = system(cmd);

	if (rc != 0)
		satest_fail(__FILE__, __LINE__, cmd, "command failed");
}

/* A variant of a scene file, made with gdal_translate into the tmpdir. */
static struct file variant(const char *scene_file, const char *opts,
			   const char *name)
{
	char cmd[2048], out[512];

	snprintf(out, sizeof(out), "%s/%s", satest_tmpdir(), name);
	/* scene_file is relative to the scene folder */
	snprintf(cmd, sizeof(cmd), "cd '%s' && gdal_translate -q %s %s '%s'",
		 satest_data(SCENE), opts, scene_file, out);
	run(cmd);
	return load(out);
}

/* The values GDAL reads at (x, y), one per band; opts may select an
 * overview or georeferenced coordinates. */
static int gdal_values(const char *path, const char *opts, double x,
		       double y, double *v, int max)
{
	char cmd[1024], line[128];
	FILE *p;
	int n = 0;

	snprintf(cmd, sizeof(cmd),
		 "gdallocationinfo -valonly %s '%s' %.10g %.10g", opts, path,
		 x, y);
	p = popen(cmd, "r");
	CHECK(p != NULL);
	while (n < max && fgets(line, sizeof(line), p))
		v[n++] = strtod(line, NULL);
	CHECK_INT(pclose(p), 0);
	return n;
}

/* GDAL's reading of a window, band-interleaved by pixel, host order. */
static uint8_t *gdal_window(const char *path, uint32_t x, uint32_t y,
			    uint32_t w, uint32_t h, size_t *len)
{
	char cmd[2048], out[512];

	snprintf(out, sizeof(out), "%s/win.raw", satest_tmpdir());
	snprintf(cmd, sizeof(cmd),
		 "gdal_translate -q -of ENVI -co INTERLEAVE=BIP -srcwin "
		 "%u %u %u %u '%s' '%s'", x, y, w, h, path, out);
	run(cmd);
	return (uint8_t *)satest_read_file(out, len);
}

/* Compares tile (tx, ty) of level 0 of the file at path with GDAL's
 * reading, over the part of the tile inside the image. */
static void check_tile_vs_gdal(const struct sat_cog *cog,
			       const struct file *f, const char *path,
			       uint32_t tx, uint32_t ty, double tolerance)
{
	const struct sat_cog_level *l = sat_cog_level(cog, 0);
	uint32_t x0 = tx * l->tile_width, y0 = ty * l->tile_height;
	uint32_t w = l->width - x0 < l->tile_width ? l->width - x0
						   : l->tile_width;
	uint32_t h = l->height - y0 < l->tile_height ? l->height - y0
						     : l->tile_height;
	size_t px = (size_t)l->samples * (l->bits / 8), len, row, worst = 0;
	uint8_t *ref = gdal_window(path, x0, y0, w, h, &len);
	uint8_t *tile = decode(cog, f, 0, tx, ty);
	uint32_t x, y, s;
	double a, b;

	CHECK_INT(len, (size_t)w * h * px);
	if (tolerance == 0) {
		for (row = 0; row < h; row++)
			CHECK(memcmp(tile + row * l->tile_width * px,
				     ref + row * w * px, w * px) == 0);
	} else {
		for (y = 0; y < h; y++)
			for (x = 0; x < w; x++)
				for (s = 0; s < l->samples; s++) {
					a = sample_at(l, tile, x, y, s);
					b = ref[((size_t)y * w + x) * l->samples
						+ s];
					if (fabs(a - b) > worst)
						worst = (size_t)fabs(a - b);
				}
		CHECK(worst <= tolerance);
	}
	free(ref);
	free(tile);
}

static const uint32_t probe_xy[5][2] = {
	{ 0, 0 }, { 511, 511 }, { 512, 512 }, { 1097, 1097 }, { 700, 300 }
};

static void check_scene_values(const char *name, const double want[5])
{
	struct file f = load(satest_data(name));
	struct sat_cog *cog = open_file(&f, 16384, 1);
	double nodata = -1;
	int i;

	for (i = 0; i < 5; i++)
		CHECK_INT(pixel(cog, &f, 0, probe_xy[i][0], probe_xy[i][1], 0),
			  want[i]);
	CHECK(sat_cog_nodata(cog, &nodata));
	CHECK_INT(nodata, 0);
	sat_cog_free(cog);
	free(f.bytes);
}

SAT_TEST(open_b04_prefix_16k)
{
	struct file f = load(satest_data(SCENE "B04.tif"));
	struct sat_cog *cog = open_file(&f, 16384, 1);
	const struct sat_cog_level *l;
	static const uint32_t sizes[3] = { 1098, 549, 275 };
	size_t i, hlen;

	CHECK_INT(sat_cog_level_count(cog), 3);
	for (i = 0; i < 3; i++) {
		l = sat_cog_level(cog, i);
		CHECK_INT(l->width, sizes[i]);
		CHECK_INT(l->height, sizes[i]);
		CHECK_INT(l->samples, 1);
		CHECK_INT(l->bits, 16);
		CHECK_INT(l->sample_format, 1);
		CHECK_NEAR(l->origin_x, 199980, 1e-9);
		CHECK_NEAR(l->origin_y, 2800020, 1e-9);
		CHECK_NEAR(l->pixel_x, 100.0 * 1098 / sizes[i], 1e-9);
		CHECK_NEAR(l->pixel_y, 100.0 * 1098 / sizes[i], 1e-9);
	}
	l = sat_cog_level(cog, 0);
	CHECK_INT(l->tile_width, 512);
	CHECK_INT(l->tile_height, 512);
	CHECK_INT(l->tiles_across, 3);
	CHECK_INT(l->tiles_down, 3);
	CHECK_INT(sat_cog_level(cog, 1)->tile_width, 128);
	CHECK_INT(sat_cog_level(cog, 1)->tiles_across, 5);
	CHECK_INT(sat_cog_level(cog, 2)->tiles_across, 3);
	CHECK(sat_cog_level(cog, 3) == NULL);
	CHECK_INT(sat_cog_epsg(cog), 32629);
	/* Only the bytes the parse used are kept (IFDs end near 1.2 KB). */
	CHECK(sat_cog_header(cog, &hlen) != NULL);
	CHECK(hlen > 1000 && hlen < 2048);
	sat_cog_free(cog);
	free(f.bytes);
}

SAT_TEST(open_whole_file_and_reopen_header)
{
	struct file f = load(satest_data(SCENE "B04.tif"));
	struct sat_cog *cog = open_file(&f, f.len, 1), *again = NULL;
	const uint8_t *h;
	uint64_t need = 0, off, n, off2, n2;
	uint8_t *copy;
	size_t hlen, lv;
	uint32_t t;

	h = sat_cog_header(cog, &hlen);
	copy = copy_of(h, hlen);
	CHECK_INT(sat_cog_open(&again, copy, hlen, &need), 0);
	free(copy);
	CHECK_INT(sat_cog_level_count(again), 3);
	for (lv = 0; lv < 3; lv++) {
		const struct sat_cog_level *l = sat_cog_level(again, lv);

		for (t = 0; t < l->tiles_across * l->tiles_down; t++) {
			uint32_t tx = t % l->tiles_across;
			uint32_t ty = t / l->tiles_across;

			CHECK_INT(sat_cog_tile_range(cog, lv, tx, ty, &off, &n),
				  0);
			CHECK_INT(sat_cog_tile_range(again, lv, tx, ty, &off2,
						     &n2), 0);
			CHECK_INT(off, off2);
			CHECK_INT(n, n2);
			CHECK(n > 0 && off + n <= f.len);
		}
	}
	CHECK_INT(pixel(again, &f, 0, 700, 300, 0), 3053);
	/* An overview pixel agrees with GDAL's overview reading. */
	CHECK_INT(pixel(again, &f, 1, 350, 150, 0),
		  pixel(cog, &f, 1, 350, 150, 0));
	sat_cog_free(again);
	sat_cog_free(cog);
	free(f.bytes);
}

SAT_TEST(values_b04)
{
	static const double want[5] = { 3248, 3679, 3763, 3664, 3053 };

	check_scene_values(SCENE "B04.tif", want);
}

SAT_TEST(values_b08)
{
	static const double want[5] = { 3786, 4202, 4283, 4143, 3548 };

	check_scene_values(SCENE "B08.tif", want);
}

/* A part of a tile decodes to what the whole tile has there, rows and
 * columns short of the tile's ends included (DEFLATE with the horizontal
 * predictor, which the part undoes only where it is kept; B04 has none:
 * a copy that has). */
SAT_TEST(decode_band_part)
{
	struct file f = variant("B04.tif", "-co TILED=YES -co BLOCKXSIZE=512 "
				"-co BLOCKYSIZE=512 -co COMPRESS=DEFLATE "
				"-co PREDICTOR=2", "predictor.tif");
	struct sat_cog *cog = open_file(&f, f.len, 1);
	const struct sat_cog_level *l = sat_cog_level(cog, 0);
	size_t bytes = tile_bytes(l);
	uint16_t *whole = decode(cog, &f, 0, 0, 0), *part = malloc(bytes);
	const uint32_t rows[][3] = { { 0, l->tile_height, l->tile_width },
				     { 130, 390, 257 }, { 0, 1, 1 },
				     { 500, l->tile_height, 128 } };
	uint64_t off, n;

	CHECK_INT(sat_cog_tile_range(cog, 0, 0, 0, &off, &n), 0);
	for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++) {
		memset(part, 0xee, bytes);
		CHECK_INT(sat_cog_decode_band_part(cog, 0, 0, 0, 0,
						   f.bytes + off, n, part,
						   bytes, rows[k][0],
						   rows[k][1], rows[k][2]),
			  0);
		for (uint32_t y = rows[k][0]; y < rows[k][1]; y++)
			CHECK(memcmp(part + (size_t)y * l->tile_width,
				     whole + (size_t)y * l->tile_width,
				     (size_t)rows[k][2] * 2) == 0);
	}
	free(part);
	free(whole);
	sat_cog_free(cog);
	free(f.bytes);
}

SAT_TEST(short_prefix_needs_one_retry)
{
	static const char *const names[] = { "B04.tif", "B08.tif", "TCI.tif",
					     "SCL.tif" };
	static const size_t firsts[] = { 0, 8, 20, 200, 242, 600, 1000 };
	struct sat_cog *cog = NULL;
	char path[256];
	uint64_t need = 0;
	uint8_t *buf;
	size_t i, j;
	int calls;

	for (i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), SCENE "%s", names[i]);
		struct file f = load(satest_data(path));

		buf = copy_of(f.bytes, 200);
		CHECK_INT(sat_cog_open(&cog, buf, 200, &need), -EAGAIN);
		CHECK(cog == NULL);
		CHECK(need > 200 && need <= 1u << 20);
		free(buf);
		for (j = 0; j < sizeof(firsts) / sizeof(firsts[0]); j++) {
			CHECK_INT(open_err(&cog, &f, firsts[j], &calls), 0);
			CHECK(calls <= 2);
			sat_cog_free(cog);
		}
		free(f.bytes);
	}
}

SAT_TEST(truncated_and_corrupt_tiles)
{
	struct file f = load(satest_data(SCENE "B04.tif"));
	struct sat_cog *cog = open_file(&f, 16384, 1);
	size_t size = tile_bytes(sat_cog_level(cog, 0));
	uint8_t *out = malloc(size), *raw;
	uint64_t off, n, i;

	CHECK_INT(sat_cog_tile_range(cog, 0, 1, 1, &off, &n), 0);
	raw = copy_of(f.bytes + off, n / 2);
	CHECK_INT(sat_cog_decode_tile(cog, 0, 1, 1, raw, n / 2, out, size),
		  -EINVAL);
	free(raw);
	raw = copy_of(f.bytes + off, 10);
	CHECK_INT(sat_cog_decode_tile(cog, 0, 1, 1, raw, 10, out, size),
		  -EINVAL);
	free(raw);
	raw = copy_of(f.bytes + off, n);
	for (i = 0; i < n; i++)
		raw[i] = (uint8_t)(i * 2654435761u >> 13);
	CHECK_INT(sat_cog_decode_tile(cog, 0, 1, 1, raw, n, out, size),
		  -EINVAL);
	/* Wrong indices and a short output buffer are refused. */
	CHECK_INT(sat_cog_decode_tile(cog, 0, 3, 0, raw, n, out, size),
		  -EINVAL);
	CHECK_INT(sat_cog_decode_tile(cog, 3, 0, 0, raw, n, out, size),
		  -EINVAL);
	CHECK_INT(sat_cog_decode_tile(cog, 0, 1, 1, raw, n, out, size - 1),
		  -EINVAL);
	CHECK_INT(sat_cog_tile_range(cog, 0, 0, 3, &off, &n), -EINVAL);
	CHECK_INT(sat_cog_tile_range(cog, 2, 3, 0, &off, &n), -EINVAL);
	CHECK(strstr(sat_cog_last_error(), "no such tile") != NULL);
	/* Zero bytes (a sparse tile) are filled as GDAL reads one: with the
	 * nodata value, 0 here. */
	memset(out, 0xab, size);
	CHECK_INT(sat_cog_decode_tile(cog, 0, 1, 1, raw, 0, out, size), 0);
	for (i = 0; i < size; i++)
		CHECK_INT(out[i], 0);
	free(raw);
	free(out);
	sat_cog_free(cog);
	free(f.bytes);
}

static uint32_t xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Flips bytes of the header region; whatever sat_cog_open() makes of it,
 * it must return an error code or a cog whose tiles decode or fail
 * cleanly. */
static void fuzz_file(const struct file *orig, uint32_t seed, int rounds,
		      size_t span)
{
	struct file f = { malloc(orig->len), orig->len };
	struct sat_cog *cog;
	int r, k, calls, err, opened = 0;
	uint32_t s = seed, tx, ty;
	uint64_t off, n;
	uint8_t *raw, *out;

	for (r = 0; r < rounds; r++) {
		memcpy(f.bytes, orig->bytes, f.len);
		for (k = 1 + xorshift(&s) % 6; k > 0; k--) {
			size_t at = xorshift(&s) % span;
			uint32_t v = xorshift(&s);

			if (v % 3 == 0) /* one bit flipped, or a random byte */
				f.bytes[at] ^= (uint8_t)(1u << (v >> 8) % 8);
			else
				f.bytes[at] = (uint8_t)(v >> 8);
		}
		cog = NULL;
		err = open_err(&cog, &f, 1 + xorshift(&s) % 16384, &calls);
		if (err != 0) {
			CHECK(err == -EINVAL || err == -ENOTSUP ||
			      err == -EAGAIN);
			CHECK(cog == NULL);
			continue;
		}
		opened++;
		const struct sat_cog_level *l = sat_cog_level(cog, 0);

		CHECK(l != NULL && sat_cog_level_count(cog) >= 1);
		tx = xorshift(&s) % l->tiles_across;
		ty = xorshift(&s) % l->tiles_down;
		if (sat_cog_tile_range(cog, 0, tx, ty, &off, &n) == 0 &&
		    n > 0 && off < f.len && n <= f.len - off) {
			raw = copy_of(f.bytes + off, n);
			out = malloc(tile_bytes(l));
			sat_cog_decode_tile(cog, 0, tx, ty, raw, n, out,
					    tile_bytes(l));
			free(out);
			free(raw);
		}
		sat_cog_free(cog);
	}
	CHECK(opened > 0); /* some mutations hit bytes that do not matter */
	free(f.bytes);
}

SAT_TEST(fuzz_header_classic)
{
	struct file f = load(satest_data(SCENE "B04.tif"));

	fuzz_file(&f, 0x5eed1234u, 500, 1300);
	free(f.bytes);
}

SAT_TEST(fuzz_header_bigtiff_big_endian)
{
	struct file f = variant("B04.tif", "-co TILED=YES -co BIGTIFF=YES "
				"-co ENDIANNESS=BIG -co COMPRESS=DEFLATE",
				"bbe.tif");

	fuzz_file(&f, 0xc0ffee11u, 300, 1024);
	free(f.bytes);
}

/* The first half of a tile's bytes fails to decode, whatever the codec. */
static void check_truncated_tile(const struct sat_cog *cog,
				 const struct file *f, uint32_t tx, uint32_t ty)
{
	const struct sat_cog_level *l = sat_cog_level(cog, 0);
	uint64_t off, n;
	uint8_t *raw;
	void *out = malloc(tile_bytes(l));

	CHECK_INT(sat_cog_tile_range(cog, 0, tx, ty, &off, &n), 0);
	raw = copy_of(f->bytes + off, n / 2);
	CHECK_INT(sat_cog_decode_tile(cog, 0, tx, ty, raw, n / 2, out,
				      tile_bytes(l)), -EINVAL);
	free(raw);
	free(out);
}

/* Opens a variant, checks its layout, and compares some tiles with GDAL's
 * reading of the same file. */
static void check_variant(const char *scene_file, const char *opts,
			  const char *name, uint32_t tile, double tolerance)
{
	struct file f = variant(scene_file, opts, name);
	struct sat_cog *cog = open_file(&f, 16384, 2);
	const struct sat_cog_level *l = sat_cog_level(cog, 0);
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", satest_tmpdir(), name);
	CHECK_INT(l->width, 1098);
	CHECK_INT(l->tile_width, tile);
	CHECK_INT(sat_cog_epsg(cog), 32629);
	CHECK_NEAR(l->origin_x, 199980, 1e-9);
	CHECK_NEAR(l->pixel_y, 100, 1e-9);
	check_tile_vs_gdal(cog, &f, path, 0, 0, tolerance);
	check_tile_vs_gdal(cog, &f, path, 1, 2, tolerance);
	check_tile_vs_gdal(cog, &f, path, l->tiles_across - 1,
			   l->tiles_down - 1, tolerance);
	check_truncated_tile(cog, &f, 1, 1);
	sat_cog_free(cog);
	free(f.bytes);
}

#define TILED256 "-co TILED=YES -co BLOCKXSIZE=256 -co BLOCKYSIZE=256 "

SAT_TEST(variant_bigtiff)
{
	check_variant("B04.tif",
		      TILED256 "-co BIGTIFF=YES -co COMPRESS=DEFLATE",
		      "big.tif", 256, 0);
}

SAT_TEST(variant_big_endian_predictor)
{
	check_variant("B04.tif", TILED256 "-co ENDIANNESS=BIG "
		      "-co COMPRESS=DEFLATE -co PREDICTOR=2", "be.tif", 256, 0);
}

/* Every band of every tile (strip) of the variant, decoded, against GDAL's
 * reading of that band: for the horizontal predictor, undone in vectors
 * and then sample by sample to each row's end. */
static void check_bands_vs_gdal(const char *scene_file, const char *opts,
				const char *name)
{
	struct file f = variant(scene_file, opts, name);
	struct sat_cog *cog = open_file(&f, f.len, 1);
	const struct sat_cog_level *l = sat_cog_level(cog, 0);
	size_t sz = l->bits / 8, bytes = sat_cog_tile_bytes(cog, 0);
	uint8_t *tile = malloc(bytes);
	char path[512], cmd[2048], out[512];

	snprintf(path, sizeof(path), "%s/%s", satest_tmpdir(), name);
	snprintf(out, sizeof(out), "%s/band.raw", satest_tmpdir());
	CHECK(l->separate || l->samples == 1);
	for (uint16_t b = 0; b < l->samples; b++) {
		size_t len;
		uint8_t *ref;

		snprintf(cmd, sizeof(cmd), "gdal_translate -q -of ENVI -b %u "
			 "'%s' '%s'", b + 1, path, out);
		run(cmd);
		ref = (uint8_t *)satest_read_file(out, &len);
		CHECK_INT(len, (size_t)l->width * l->height * sz);
		for (uint32_t ty = 0; ty < l->tiles_down; ty++)
			for (uint32_t tx = 0; tx < l->tiles_across; tx++) {
				uint32_t x0 = tx * l->tile_width,
					 y0 = ty * l->tile_height;
				uint32_t w = l->width - x0 < l->tile_width
						     ? l->width - x0
						     : l->tile_width;
				uint32_t h = l->height - y0 < l->tile_height
						     ? l->height - y0
						     : l->tile_height;
				uint64_t off, n;

				CHECK_INT(sat_cog_band_range(cog, 0, b, tx, ty,
							     &off, &n), 0);
				CHECK_INT(sat_cog_decode_band(
						  cog, 0, b, tx, ty, f.bytes + off,
						  n, tile, bytes), 0);
				for (uint32_t y = 0; y < h; y++)
					CHECK(memcmp(tile + (size_t)y *
								    l->tile_width * sz,
						     ref + ((size_t)(y0 + y) *
								    l->width + x0) * sz,
						     (size_t)w * sz) == 0);
			}
		free(ref);
	}
	free(tile);
	sat_cog_free(cog);
	free(f.bytes);
}

/* Strips 1098 samples wide (no multiple of 8 or 16); uint16, and uint8 as
 * separate planes, tiled and striped. */
SAT_TEST(variant_predictor_strips_and_planes)
{
	check_bands_vs_gdal("B04.tif", "-co COMPRESS=DEFLATE -co PREDICTOR=2",
			    "strips16.tif");
	check_bands_vs_gdal("TCI.tif", "-co COMPRESS=DEFLATE -co PREDICTOR=2 "
			    "-co INTERLEAVE=BAND", "strips8.tif");
	check_bands_vs_gdal("TCI.tif", TILED256 "-co COMPRESS=DEFLATE "
			    "-co PREDICTOR=2 -co INTERLEAVE=BAND",
			    "planes8.tif");
}

SAT_TEST(variant_lzw)
{
	check_variant("B08.tif", TILED256 "-co COMPRESS=LZW -co PREDICTOR=2",
		      "lzw.tif", 256, 0);
}

SAT_TEST(variant_zstd)
{
	check_variant("B04.tif", TILED256 "-co COMPRESS=ZSTD", "zstd.tif", 256,
		      0);
}

SAT_TEST(variant_uncompressed)
{
	check_variant("B04.tif", TILED256 "-co COMPRESS=NONE", "none.tif", 256,
		      0);
}

SAT_TEST(variant_rgb_deflate)
{
	check_variant("TCI.tif", TILED256 "-co COMPRESS=DEFLATE", "rgb.tif",
		      256, 0);
}

SAT_TEST(variant_jpeg_ycbcr)
{
	check_variant("TCI.tif", TILED256 "-co COMPRESS=JPEG "
		      "-co PHOTOMETRIC=YCBCR -co JPEG_QUALITY=90", "jpeg.tif",
		      256, 2);
}

/* Production layout: 10980 px at 10 m, 1024 tiles, DEFLATE + predictor,
 * COG driver (ghost header, overviews), from a 10x nearest upsampling so
 * that the README's values still hold at 10x the coordinates. */
SAT_TEST(production_cog_layout)
{
	struct file f = variant("B04.tif", "-of COG -outsize 10980 10980 "
				"-r nearest -co COMPRESS=DEFLATE "
				"-co PREDICTOR=2 -co BLOCKSIZE=1024",
				"prod.tif");
	static const double want[5] = { 3248, 3679, 3763, 3664, 3053 };
	struct sat_cog *cog = open_file(&f, 16384, 2);
	const struct sat_cog_level *l = sat_cog_level(cog, 0), *o;
	char path[512], opts[64];
	double g[1] = { 0 };
	size_t lv;
	int i;

	CHECK_INT(l->width, 10980);
	CHECK_INT(l->tile_width, 1024);
	CHECK_INT(l->tiles_across, 11);
	CHECK_NEAR(l->pixel_x, 10, 1e-9);
	CHECK_NEAR(l->origin_y, 2800020, 1e-9);
	CHECK(sat_cog_level_count(cog) >= 2);
	for (i = 0; i < 5; i++)
		CHECK_INT(pixel(cog, &f, 0, probe_xy[i][0] * 10 + 5,
				probe_xy[i][1] * 10 + 5, 0), want[i]);
	/* Each overview agrees with GDAL's reading of it, at the centre of
	 * an overview pixel given in georeferenced coordinates. */
	snprintf(path, sizeof(path), "%s/prod.tif", satest_tmpdir());
	for (lv = 1; lv < sat_cog_level_count(cog); lv++) {
		o = sat_cog_level(cog, lv);
		CHECK_NEAR(o->pixel_x, 10.0 * 10980 / o->width, 1e-9);
		snprintf(opts, sizeof(opts), "-geoloc -overview %zu", lv);
		CHECK_INT(gdal_values(path, opts,
				      o->origin_x + 1000.5 * o->pixel_x,
				      o->origin_y - 700.5 * o->pixel_y, g, 1),
			  1);
		CHECK_INT(pixel(cog, &f, lv, 1000, 700, 0), g[0]);
	}
	sat_cog_free(cog);
	free(f.bytes);
}

/* A header bigger than the first read (16x16 tiles: the tile arrays alone
 * take 38 KB) is complete after exactly one more read. */
SAT_TEST(large_header_one_retry)
{
	struct file f = variant("B04.tif", "-of COG -co COMPRESS=NONE "
				"-co BLOCKSIZE=16", "small.tif");
	struct sat_cog *cog = NULL;
	const struct sat_cog_level *l;
	int calls;

	CHECK_INT(open_err(&cog, &f, 16384, &calls), 0);
	CHECK_INT(calls, 2);
	l = sat_cog_level(cog, 0);
	CHECK_INT(l->tiles_across, 69);
	CHECK_INT(sat_cog_level_count(cog), 3);
	CHECK_INT(pixel(cog, &f, 0, 1097, 1097, 0), 3664);
	CHECK_INT(pixel(cog, &f, 0, 700, 300, 0), 3053);
	sat_cog_free(cog);
	free(f.bytes);
}

/* A striped scene: strips are tiles as wide as the image. */
SAT_TEST(stripped_scene)
{
	struct file f = variant("B04.tif", "-co TILED=NO -co COMPRESS=DEFLATE "
				"-co PREDICTOR=2", "strip.tif");
	struct sat_cog *cog = open_file(&f, 16384, 2);
	const struct sat_cog_level *l = sat_cog_level(cog, 0);
	static const double want[5] = { 3248, 3679, 3763, 3664, 3053 };

	CHECK(l->striped);
	CHECK_INT(l->tile_width, 1098);
	CHECK_INT(l->tiles_across, 1);
	CHECK_INT(l->tiles_down, (1098 + l->tile_height - 1) / l->tile_height);
	for (int i = 0; i < 5; i++)
		CHECK_INT(pixel(cog, &f, 0, probe_xy[i][0], probe_xy[i][1], 0),
			  want[i]);
	sat_cog_free(cog);
	free(f.bytes);
}

/* The true-colour scene with one tile per band: band 2 of a tile equals
 * sample 2 of the same tile of a chunky copy. */
SAT_TEST(planar_separate_scene)
{
	struct file f = variant("TCI.tif", "-co TILED=YES -co INTERLEAVE=BAND",
				"planar.tif");
	struct file c = variant("TCI.tif", "-co TILED=YES", "chunky.tif");
	struct sat_cog *cog = open_file(&f, 16384, 2);
	struct sat_cog *chunky = open_file(&c, 16384, 2);
	const struct sat_cog_level *l = sat_cog_level(cog, 0);
	uint64_t off, n, off2, n2;
	uint8_t *raw, *plane, *all;

	CHECK(l->separate);
	CHECK_INT(l->samples, 3);
	CHECK_INT(sat_cog_tile_bytes(cog, 0),
		  (size_t)l->tile_width * l->tile_height);
	CHECK_INT(sat_cog_band_range(cog, 0, 2, 0, 0, &off, &n), 0);
	CHECK_INT(sat_cog_band_range(cog, 0, 0, 0, 0, &off2, &n2), 0);
	CHECK(off != off2);
	CHECK_INT(sat_cog_band_range(cog, 0, 3, 0, 0, &off, &n), -EINVAL);
	CHECK_INT(sat_cog_band_range(cog, 0, 2, 0, 0, &off, &n), 0);
	raw = copy_of(f.bytes + off, n);
	plane = malloc(sat_cog_tile_bytes(cog, 0));
	CHECK_INT(sat_cog_decode_band(cog, 0, 2, 0, 0, raw, n, plane,
				      sat_cog_tile_bytes(cog, 0)), 0);
	free(raw);
	CHECK_INT(sat_cog_level(chunky, 0)->tile_width, l->tile_width);
	all = decode(chunky, &c, 0, 0, 0);
	for (size_t i = 0; i < (size_t)l->tile_width * l->tile_height; i++)
		CHECK_INT(plane[i], all[3 * i + 2]);
	free(all);
	free(plane);
	sat_cog_free(chunky);
	sat_cog_free(cog);
	free(c.bytes);
	free(f.bytes);
}

SAT_TEST(not_a_tiff_is_einval)
{
	static const uint8_t junk[64] = "<html><body>Not found</body></html>";
	struct sat_cog *cog = NULL;
	uint64_t need = 0;
	uint8_t *buf = copy_of(junk, sizeof(junk));

	CHECK_INT(sat_cog_open(&cog, buf, sizeof(junk), &need), -EINVAL);
	CHECK(cog == NULL);
	CHECK_STR(sat_cog_last_error(), "not a TIFF (no II or MM)");
	free(buf);
}

/* A TIFF whose first IFD lies behind 32 MiB of image data (GTiff's
 * layout for a big file) is no COG: a prefix cannot hold its header. */
SAT_TEST(ifd_past_header_is_einval)
{
	static const uint8_t head[64] = { 'I', 'I', 42, 0, 0, 0, 0, 2 };
	struct sat_cog *cog = NULL;
	uint64_t need = 0;
	uint8_t *buf = copy_of(head, sizeof(head));

	CHECK_INT(sat_cog_open(&cog, buf, sizeof(head), &need), -EINVAL);
	CHECK(cog == NULL);
	CHECK_STR(sat_cog_last_error(), "IFD 0 at offset 33554432, past the "
		  "first 16 MiB a header may take (not cloud-optimized)");
	free(buf);
}

SAT_TEST(mask_ifds_are_masks)
{
	struct file f = variant("B04.tif", "-of COG -co COMPRESS=DEFLATE "
				"-co BLOCKSIZE=256 -mask 1 "
				"--config GDAL_TIFF_INTERNAL_MASK YES",
				"mask.tif");
	struct sat_cog *cog = open_file(&f, 16384, 2);
	static const uint32_t widths[4] = { 1098, 549, 274, 137 };
	const struct sat_cog_level *l;
	char path[512];
	double g[1] = { 0 };
	size_t i;

	/* IFDs: image, mask, 3 overviews, 3 overview masks; each level has
	 * its mask. */
	CHECK_INT(sat_cog_level_count(cog), 4);
	for (i = 0; i < 4; i++) {
		CHECK_INT(sat_cog_level(cog, i)->width, widths[i]);
		CHECK_INT(sat_cog_level(cog, i)->bits, 16);
		CHECK_INT(sat_cog_level(cog, i)->mask, SAT_COG_MASK_IFD);
	}
	CHECK_INT(pixel(cog, &f, 0, 700, 300, 0), 3053);
	/* The last overview is the 5th IFD: decoding must select it. */
	snprintf(path, sizeof(path), "%s/mask.tif", satest_tmpdir());
	l = sat_cog_level(cog, 3);
	CHECK_INT(gdal_values(path, "-geoloc -overview 3",
			      l->origin_x + 100.5 * l->pixel_x,
			      l->origin_y - 30.5 * l->pixel_y, g, 1), 1);
	CHECK_INT(pixel(cog, &f, 3, 100, 30, 0), g[0]);
	sat_cog_free(cog);
	free(f.bytes);
}

SAT_TEST(geographic_pixel_is_point)
{
	struct file f = variant("B04.tif", "-co TILED=YES -a_srs EPSG:4326 "
				"-a_ullr -12 25.5 -10.902 24.402 "
				"-mo AREA_OR_POINT=Point", "geo.tif");
	struct sat_cog *cog = open_file(&f, 16384, 2);
	const struct sat_cog_level *l = sat_cog_level(cog, 0);

	/* GDAL writes the tie point at the pixel centre; reading shifts
	 * it back, so the corner is where -a_ullr put it. */
	CHECK_INT(sat_cog_epsg(cog), 4326);
	CHECK_NEAR(l->origin_x, -12, 1e-9);
	CHECK_NEAR(l->origin_y, 25.5, 1e-9);
	CHECK_NEAR(l->pixel_x, 0.001, 1e-12);
	CHECK_NEAR(l->pixel_y, 0.001, 1e-12);
	sat_cog_free(cog);
	free(f.bytes);
}

struct thread_arg {
	const struct sat_cog *cog;
	const struct file *f;
	uint64_t sum;
};

static void *decode_all(void *p)
{
	struct thread_arg *a = p;
	const struct sat_cog_level *l = sat_cog_level(a->cog, 0);
	uint32_t t, round, i;
	uint16_t *tile;

	for (round = 0; round < 3; round++)
		for (t = 0; t < l->tiles_across * l->tiles_down; t++) {
			tile = decode(a->cog, a->f, 0, t % l->tiles_across,
				      t / l->tiles_across);
			for (i = 0; i < l->tile_width * l->tile_height; i++)
				a->sum += tile[i] * (uint64_t)(i % 7 + 1);
			free(tile);
		}
	return NULL;
}

SAT_TEST(concurrent_decode)
{
	struct file f = load(satest_data(SCENE "B08.tif"));
	struct sat_cog *cog = open_file(&f, 16384, 1);
	struct thread_arg ref = { cog, &f, 0 }, args[4];
	pthread_t th[4];
	int i;

	decode_all(&ref);
	CHECK(ref.sum > 0);
	for (i = 0; i < 4; i++) {
		args[i] = ref;
		args[i].sum = 0;
		CHECK_INT(pthread_create(&th[i], NULL, decode_all, &args[i]),
			  0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK(args[i].sum == ref.sum);
	}
	sat_cog_free(cog);
	free(f.bytes);
}

/* sat_cog_decode_image() on one layout: every sample equals GDAL's. */
static void check_decode_image(const char *opts, const char *name,
			       uint32_t want_w, uint32_t want_h,
			       uint16_t want_s)
{
	struct file f = variant("B04.tif", opts, name);
	char path[512];
	uint32_t w = 0, h = 0;
	uint16_t s = 0, *img = NULL;
	enum sat_sample_type type = SAT_SAMPLE_U8;
	uint16_t *ref;
	size_t len, i, bad = 0;

	CHECK_INT(sat_cog_decode_image(f.bytes, f.len, &w, &h, &s, &type,
				       (void **)&img), 0);
	CHECK_INT(type, SAT_SAMPLE_U16);
	CHECK_INT(w, want_w);
	CHECK_INT(h, want_h);
	CHECK_INT(s, want_s);
	snprintf(path, sizeof(path), "%s/%s", satest_tmpdir(), name);
	ref = (uint16_t *)gdal_window(path, 0, 0, w, h, &len);
	CHECK_INT(len, (size_t)w * h * s * 2);
	for (i = 0; i < (size_t)w * h * s; i++)
		bad += img[(i % s) * w * h + i / s] != ref[i];
	CHECK_INT(bad, 0);
	free(ref);
	free(img);
	free(f.bytes);
}

SAT_TEST(decode_image_layouts)
{
	void *img = (void *)1;
	enum sat_sample_type type;
	uint32_t w, h;
	uint16_t s;
	uint8_t junk[64] = "II*\0garbage";

	/* stripped with a short last strip, as getPixels may answer */
	check_decode_image("-srcwin 100 50 301 203 -co TILED=NO "
			   "-co BLOCKYSIZE=16 -co COMPRESS=DEFLATE",
			   "strip.tif", 301, 203, 1);
	/* three bands, pixel-interleaved, uncompressed, one strip */
	check_decode_image("-srcwin 0 0 97 61 -b 1 -b 1 -b 1 -co TILED=NO "
			   "-co INTERLEAVE=PIXEL", "strip3.tif", 97, 61, 3);
	/* band-interleaved (planar) and tiled, partial edge tiles */
	check_decode_image("-srcwin 7 9 300 200 -b 1 -b 1 -co TILED=YES "
			   "-co BLOCKXSIZE=128 -co BLOCKYSIZE=128 "
			   "-co INTERLEAVE=BAND -co COMPRESS=LZW",
			   "tiled2.tif", 300, 200, 2);
	CHECK_INT(sat_cog_decode_image(junk, sizeof(junk), &w, &h, &s, &type,
				       &img), -EINVAL);
	CHECK(img == NULL);
}

/* ---- whole levels against GDAL ----------------------------------------- */

/*
 * A level read whole as a render would read it: every tile of every band
 * decoded, and its mask made by the rule the level's mask kind names,
 * both laid out as gdal_translate -of ENVI -co INTERLEAVE=BSQ (and -b
 * mask) writes them, for a byte-for-byte comparison.
 */

/* Decodes the tile of level lv holding band b (a malloc'd buffer); sparse
 * tiles are decoded from zero bytes, as the API says. */
static uint8_t *decode_band_tile(const struct sat_cog *cog,
				 const struct file *f, size_t lv, uint16_t b,
				 uint32_t tx, uint32_t ty)
{
	size_t size = sat_cog_tile_bytes(cog, lv);
	uint8_t *out = malloc(size), *raw = NULL;
	uint64_t off, n;

	CHECK(size > 0 && out);
	CHECK_INT(sat_cog_band_range(cog, lv, b, tx, ty, &off, &n), 0);
	CHECK(off + n <= f->len);
	if (n)
		raw = copy_of(f->bytes + off, n);
	if (sat_cog_decode_band(cog, lv, b, tx, ty, raw, n, out, size) != 0)
		satest_fail(__FILE__, __LINE__, "tile decodes",
			    sat_cog_last_error());
	free(raw);
	return out;
}

/* Level lv as GDAL's ENVI dump holds it: bands one after another. */
static uint8_t *decode_level(const struct sat_cog *cog, const struct file *f,
			     size_t lv)
{
	const struct sat_cog_level *l = sat_cog_level(cog, lv);
	size_t ts = sat_sample_size(l->type);
	size_t plane = (size_t)l->width * l->height * ts;
	uint8_t *img = calloc(l->samples, plane);
	uint16_t nb = l->separate ? l->samples : 1;

	for (uint32_t ty = 0; ty < l->tiles_down; ty++)
		for (uint32_t tx = 0; tx < l->tiles_across; tx++)
			for (uint16_t b = 0; b < nb; b++) {
				uint8_t *t = decode_band_tile(cog, f, lv, b, tx,
							      ty);
				uint16_t ns = l->separate ? 1 : l->samples;

				for (uint32_t y = 0; y < l->tile_height; y++)
					for (uint32_t x = 0; x < l->tile_width;
					     x++) {
						uint32_t ix = tx * l->tile_width + x;
						uint32_t iy = ty * l->tile_height + y;

						if (ix >= l->width || iy >= l->height)
							continue;
						for (uint16_t s = 0; s < ns; s++)
							memcpy(img + (size_t)(b + s) * plane +
								       ((size_t)iy * l->width + ix) * ts,
							       t + (((size_t)y * l->tile_width + x) *
								    ns + s) * ts,
							       ts);
					}
				free(t);
			}
	return img;
}

/* GDAL's mask band of band 0 of level lv, one byte per pixel. */
static uint8_t *mask_level(const struct sat_cog *cog, const struct file *f,
			   size_t lv)
{
	const struct sat_cog_level *l = sat_cog_level(cog, lv);
	size_t npix = (size_t)l->tile_width * l->tile_height;
	uint8_t *img = malloc((size_t)l->width * l->height), *m = malloc(npix);
	uint64_t off, n;

	for (uint32_t ty = 0; ty < l->tiles_down; ty++) {
		for (uint32_t tx = 0; tx < l->tiles_across; tx++) {
			if (l->mask == SAT_COG_MASK_IFD) {
				uint8_t *raw = NULL;

				CHECK_INT(sat_cog_mask_range(cog, lv, 0, tx, ty,
							     &off, &n), 0);
				CHECK(off + n <= f->len);
				if (n)
					raw = copy_of(f->bytes + off, n);
				if (sat_cog_decode_mask(cog, lv, 0, tx, ty, raw,
							n, m, npix))
					satest_fail(__FILE__, __LINE__,
						    "mask decodes",
						    sat_cog_last_error());
				free(raw);
			} else {
				/* the tile holding the band the rule reads */
				uint16_t b = l->mask == SAT_COG_MASK_ALPHA &&
							     l->separate
						     ? (uint16_t)sat_cog_alpha(cog)
						     : 0;
				uint8_t *t = decode_band_tile(cog, f, lv, b, tx,
							      ty);

				CHECK_INT(sat_cog_mask_from_tile(
						  cog, lv, 0, t,
						  sat_cog_tile_bytes(cog, lv), m,
						  npix), 0);
				free(t);
			}
			for (uint32_t y = 0; y < l->tile_height; y++)
				for (uint32_t x = 0; x < l->tile_width; x++) {
					uint32_t ix = tx * l->tile_width + x;
					uint32_t iy = ty * l->tile_height + y;

					if (ix < l->width && iy < l->height)
						img[(size_t)iy * l->width + ix] =
							m[(size_t)y * l->tile_width + x];
				}
		}
	}
	free(m);
	return img;
}

/* Compares n bytes, naming the first difference by band, x and y. */
static void check_same(const char *what, const uint8_t *ours,
		       const uint8_t *gdal, size_t n, size_t ts, uint32_t w,
		       uint32_t h)
{
	size_t bad = 0, first = 0;
	char d[200];

	for (size_t i = 0; i < n; i++)
		if (ours[i] != gdal[i] && bad++ == 0)
			first = i;
	if (!bad)
		return;
	first /= ts;
	snprintf(d, sizeof(d), "%zu bytes differ, first at band %zu x %zu "
		 "y %zu", bad, first / ((size_t)w * h), first % w,
		 first / w % h);
	satest_fail(__FILE__, __LINE__, what, d);
}

/* The real Sentinel-2 scene (tests/data), every file, every
 * level, every band and the mask, against GDAL's reading made now. */
static void check_real_vs_gdal(const char *file)
{
	struct file f = load(satest_data(file));
	struct sat_cog *cog = open_file(&f, 16384, 1);
	char cmd[2048], out[512], what[160];
	const char *path = satest_data(file);
	char src[512];

	snprintf(src, sizeof(src), "%s", path);
	for (size_t lv = 0; lv < sat_cog_level_count(cog); lv++) {
		const struct sat_cog_level *l = sat_cog_level(cog, lv);
		size_t ts = sat_sample_size(l->type), len;
		char oo[64] = "";
		uint8_t *ours, *gdal;

		if (lv)
			snprintf(oo, sizeof(oo), "-oo OVERVIEW_LEVEL=%zu",
				 lv - 1);
		snprintf(out, sizeof(out), "%s/real.raw", satest_tmpdir());
		snprintf(cmd, sizeof(cmd), "gdal_translate -q -of ENVI -co "
			 "INTERLEAVE=BSQ %s '%s' '%s'", oo, src, out);
		run(cmd);
		gdal = (uint8_t *)satest_read_file(out, &len);
		CHECK_INT(len, (size_t)l->width * l->height * l->samples * ts);
		ours = decode_level(cog, &f, lv);
		snprintf(what, sizeof(what), "%s level %zu pixels", file, lv);
		check_same(what, ours, gdal, len, ts, l->width, l->height);
		free(ours);
		free(gdal);
		snprintf(cmd, sizeof(cmd), "gdal_translate -q -of ENVI -b mask "
			 "%s '%s' '%s'", oo, src, out);
		run(cmd);
		gdal = (uint8_t *)satest_read_file(out, &len);
		CHECK_INT(len, (size_t)l->width * l->height);
		ours = mask_level(cog, &f, lv);
		snprintf(what, sizeof(what), "%s level %zu mask", file, lv);
		check_same(what, ours, gdal, len, 1, l->width, l->height);
		free(ours);
		free(gdal);
	}
	sat_cog_free(cog);
	free(f.bytes);
}

SAT_TEST(real_scene_vs_gdal)
{
	static const char *const files[] = { "B02.tif", "B03.tif", "B04.tif",
					     "B08.tif", "SCL.tif", "TCI.tif" };
	char name[128];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(name, sizeof(name), SCENE "%s", files[i]);
		check_real_vs_gdal(name);
	}
}

/* ---- against GDAL: tests/data/cog-variants ---------------------------- */

/*
 * Each file of tests/data/cog-variants is read whole, every level, and
 * compared byte for byte with GDAL's reading of the same level
 * (gdal/NAME.L.raw, .mask, written by make.sh with gdal_translate); the
 * layout, georeferencing, nodata, alpha and CRS with what gdalinfo said
 * (gdal/NAME.txt).
 */

#define VARIANTS "tests/data/cog-variants/"
#define MAX_LEVELS 8

struct expect {
	uint32_t width, height;
	unsigned bands;
	char type[16];
	bool signedbyte;
	unsigned nlevels;
	struct {
		uint32_t width, height;
		double gt[6];
	} level[MAX_LEVELS];
	bool has_nodata;
	double nodata;
	char mask[64];
	int alpha;
	int epsg;
	char *wkt;
};

static const char *variant_path(const char *name, const char *suffix)
{
	static char rel[256];

	snprintf(rel, sizeof(rel), VARIANTS "%s%s", name, suffix);
	return satest_src(rel);
}

static void expect_load(const char *name, struct expect *e)
{
	char rel[128], *text, *line, *save = NULL;
	size_t len;

	memset(e, 0, sizeof(*e));
	e->alpha = -1;
	snprintf(rel, sizeof(rel), "gdal/%s.txt", name);
	text = satest_read_file(variant_path(rel, ""), &len);
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		unsigned k;
		double *gt;

		if (sscanf(line, "size %u %u", &e->width, &e->height) == 2 ||
		    sscanf(line, "bands %u", &e->bands) == 1 ||
		    sscanf(line, "type %15s", e->type) == 1 ||
		    sscanf(line, "levels %u", &e->nlevels) == 1 ||
		    sscanf(line, "alpha %d", &e->alpha) == 1 ||
		    sscanf(line, "epsg %d", &e->epsg) == 1)
			continue;
		if (strcmp(line, "signedbyte 1") == 0) {
			e->signedbyte = true;
		} else if (strncmp(line, "nodata ", 7) == 0) {
			e->has_nodata = true;
			e->nodata = strstr(line, "NaN") ? NAN
							: strtod(line + 7, NULL);
		} else if (strncmp(line, "mask ", 5) == 0) {
			snprintf(e->mask, sizeof(e->mask), "%s", line + 5);
		} else if (strncmp(line, "wkt ", 4) == 0) {
			e->wkt = strdup(line + 4);
		} else if (sscanf(line, "level %u", &k) == 1) {
			CHECK(k < MAX_LEVELS);
			gt = e->level[k].gt;
			CHECK_INT(sscanf(line, "level %*u %u %u %lf %lf %lf %lf "
					 "%lf %lf", &e->level[k].width,
					 &e->level[k].height, &gt[0], &gt[1],
					 &gt[2], &gt[3], &gt[4], &gt[5]), 8);
		}
	}
	free(text);
	CHECK(e->nlevels >= 1 && e->nlevels <= MAX_LEVELS && e->bands >= 1);
}

static enum sat_sample_type gdal_type(const struct expect *e)
{
	static const struct {
		const char *name;
		enum sat_sample_type type;
	} map[] = {
		{ "Byte", SAT_SAMPLE_U8 },     { "UInt16", SAT_SAMPLE_U16 },
		{ "Int16", SAT_SAMPLE_I16 },   { "UInt32", SAT_SAMPLE_U32 },
		{ "Int32", SAT_SAMPLE_I32 },   { "Float32", SAT_SAMPLE_F32 },
		{ "Float64", SAT_SAMPLE_F64 },
	};

	if (e->signedbyte)
		return SAT_SAMPLE_I8;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].name, e->type) == 0)
			return map[i].type;
	satest_fail(__FILE__, __LINE__, "known GDAL type", e->type);
	return 0;
}

static enum sat_cog_mask gdal_mask_kind(const struct expect *e)
{
	if (strcmp(e->mask, "PER_DATASET ALPHA") == 0)
		return SAT_COG_MASK_ALPHA;
	if (strcmp(e->mask, "PER_DATASET") == 0)
		return SAT_COG_MASK_IFD;
	if (strcmp(e->mask, "NODATA") == 0)
		return SAT_COG_MASK_NODATA;
	CHECK_STR(e->mask, "ALL_VALID");
	return SAT_COG_MASK_ALL_VALID;
}

/* Our CRS and GDAL's take the corners and the centre of the image to
 * the same longitudes and latitudes; we identify it as EPSG:epsg (0:
 * none), which must then be GDAL's best match too and take the points to
 * the same places. GDAL's match may go further: it guesses a datum from
 * an ellipsoid (GRS80 as ETRS89, International 1924 with ED50's TOWGS84
 * as ED50) where PROJ finds the datums different, and so do we. */
static void check_crs(const struct sat_cog *cog, const struct expect *e,
		      int epsg)
{
	const struct sat_cog_level *l = sat_cog_level(cog, 0);
	const char *why = NULL, *crs = sat_cog_crs(cog, &why);
	double a[10], b[10];

	if (!crs)
		satest_fail(__FILE__, __LINE__, "a CRS", why);
	CHECK(e->wkt != NULL);
	for (int i = 0; i < 5; i++) {
		double fx = i == 4 ? 0.5 : i % 2, fy = i == 4 ? 0.5 : i / 2;

		a[2 * i] = b[2 * i] = l->origin_x + fx * l->width * l->pixel_x;
		a[2 * i + 1] = b[2 * i + 1] =
			l->origin_y - fy * l->height * l->pixel_y;
	}
	CHECK_INT(sat_geom_transform_crs(crs, "EPSG:4326", a, 5), 0);
	CHECK_INT(sat_geom_transform_crs(e->wkt, "EPSG:4326", b, 5), 0);
	for (int i = 0; i < 10; i++)
		CHECK_NEAR(a[i], b[i], 1e-9);
	CHECK_INT(sat_geom_crs_epsg(crs), epsg);
	if (epsg) {
		char code[32];

		CHECK_INT(epsg, e->epsg);
		snprintf(code, sizeof(code), "EPSG:%d", epsg);
		for (int i = 0; i < 10; i += 2) {
			a[i] = i == 8 ? 0.5 : i / 2 % 2;
			a[i + 1] = i == 8 ? 0.5 : i / 4;
			a[i] = l->origin_x + a[i] * l->width * l->pixel_x;
			a[i + 1] = l->origin_y - a[i + 1] * l->height *
							l->pixel_y;
		}
		CHECK_INT(sat_geom_transform_crs(code, "EPSG:4326", a, 5), 0);
		for (int i = 0; i < 10; i++)
			CHECK_NEAR(a[i], b[i], 1e-9);
	}
	/* A code in the GeoKeys is the CRS itself. */
	CHECK_INT(sat_cog_epsg(cog), strncmp(crs, "EPSG:", 5) == 0
					     ? atoi(crs + 5)
					     : 0);
}

static void check_vs_gdal_crs(const char *name, int epsg)
{
	struct expect e;
	struct file f = load(variant_path(name, ".tif"));
	struct sat_cog *cog = open_file(&f, 16384, 1), *again = NULL;
	double nodata = 0;
	char rel[128], what[160];
	int calls;

	expect_load(name, &e);
	/* From a 100-byte first read too, in at most three reads. */
	CHECK_INT(open_err(&again, &f, 100, &calls), 0);
	CHECK(calls <= 3);
	CHECK_INT(sat_cog_level_count(again), sat_cog_level_count(cog));
	sat_cog_free(again);
	CHECK_INT(sat_cog_check_size(cog, f.len), 0);
	CHECK_INT(sat_cog_level_count(cog), e.nlevels);
	CHECK_INT(sat_cog_nodata(cog, &nodata), e.has_nodata);
	if (e.has_nodata)
		CHECK(isnan(e.nodata) ? isnan(nodata) : nodata == e.nodata);
	CHECK_INT(sat_cog_alpha(cog), e.alpha);
	CHECK_INT(sat_cog_level(cog, 0)->mask, gdal_mask_kind(&e));
	for (size_t lv = 0; lv < e.nlevels; lv++) {
		const struct sat_cog_level *l = sat_cog_level(cog, lv);
		const double *gt = e.level[lv].gt;
		size_t ts, len;
		uint8_t *ours, *gdal;

		CHECK_INT(l->width, e.level[lv].width);
		CHECK_INT(l->height, e.level[lv].height);
		CHECK_INT(l->samples, e.bands);
		CHECK_INT(l->type, gdal_type(&e));
		CHECK_NEAR(l->origin_x, gt[0], 1e-9 * fabs(gt[0]) + 1e-12);
		CHECK_NEAR(l->pixel_x, gt[1], 1e-9 * fabs(gt[1]));
		CHECK_NEAR(l->origin_y, gt[3], 1e-9 * fabs(gt[3]) + 1e-12);
		CHECK_NEAR(l->pixel_y, -gt[5], 1e-9 * fabs(gt[5]));
		ts = sat_sample_size(l->type);

		snprintf(rel, sizeof(rel), "gdal/%s.%zu.raw", name, lv);
		gdal = (uint8_t *)satest_read_file(variant_path(rel, ""), &len);
		CHECK_INT(len, (size_t)l->width * l->height * l->samples * ts);
		ours = decode_level(cog, &f, lv);
		snprintf(what, sizeof(what), "%s level %zu pixels", name, lv);
		check_same(what, ours, gdal, len, ts, l->width, l->height);
		free(ours);
		free(gdal);

		snprintf(rel, sizeof(rel), "gdal/%s.%zu.mask", name, lv);
		gdal = (uint8_t *)satest_read_file(variant_path(rel, ""), &len);
		CHECK_INT(len, (size_t)l->width * l->height);
		ours = mask_level(cog, &f, lv);
		snprintf(what, sizeof(what), "%s level %zu mask (%d)", name,
			 lv, l->mask);
		check_same(what, ours, gdal, len, 1, l->width, l->height);
		free(ours);
		free(gdal);
	}
	check_crs(cog, &e, epsg);
	free(e.wkt);
	sat_cog_free(cog);
	free(f.bytes);
}

/* Files in EPSG:32633, given by its code. */
static void check_vs_gdal(const char *name)
{
	check_vs_gdal_crs(name, 32633);
}

/* Masks and alpha: the collars. */
SAT_TEST(gdal_jpeg_mask) { check_vs_gdal("jpeg-mask"); }
SAT_TEST(gdal_deflate_mask_sparse) { check_vs_gdal("deflate-mask-sparse"); }
SAT_TEST(gdal_webp_alpha) { check_vs_gdal("webp-alpha"); }
SAT_TEST(gdal_alpha_zero) { check_vs_gdal("alpha-zero"); }
SAT_TEST(gdal_alpha_graded) { check_vs_gdal("alpha-graded"); }
SAT_TEST(gdal_gray_alpha_u16) { check_vs_gdal("gray-alpha-u16"); }
/* Layouts. */
SAT_TEST(gdal_striped_u16) { check_vs_gdal("striped-u16"); }
SAT_TEST(gdal_striped_mask) { check_vs_gdal("striped-mask"); }
SAT_TEST(gdal_striped_jpeg) { check_vs_gdal("striped-jpeg"); }
SAT_TEST(gdal_planar_mask) { check_vs_gdal("planar-mask"); }
SAT_TEST(gdal_planar_striped) { check_vs_gdal("planar-striped"); }
SAT_TEST(gdal_south_up) { check_vs_gdal("south-up"); }
/* Sample types, byte orders, codecs. */
SAT_TEST(gdal_i8) { check_vs_gdal("i8"); }
SAT_TEST(gdal_u16_cog) { check_vs_gdal("u16-cog"); }
SAT_TEST(gdal_i16_nodata) { check_vs_gdal("i16-nodata"); }
SAT_TEST(gdal_i16_be) { check_vs_gdal("i16-be"); }
SAT_TEST(gdal_u32) { check_vs_gdal("u32"); }
SAT_TEST(gdal_i32_be_striped) { check_vs_gdal("i32-be-striped"); }
SAT_TEST(gdal_f32_nan) { check_vs_gdal("f32-nan"); }
SAT_TEST(gdal_f32_lerc) { check_vs_gdal("f32-lerc"); }
SAT_TEST(gdal_f64_be) { check_vs_gdal("f64-be"); }
/* CRSs from user-defined GeoKeys. */
SAT_TEST(gdal_crs_tmerc_grs80) { check_vs_gdal_crs("crs-tmerc-grs80", 0); }
SAT_TEST(gdal_crs_tmerc_wgs84) { check_vs_gdal_crs("crs-tmerc-wgs84", 32633); }
SAT_TEST(gdal_crs_utm_towgs84) { check_vs_gdal_crs("crs-utm-towgs84", 0); }
SAT_TEST(gdal_crs_sinu_sphere) { check_vs_gdal_crs("crs-sinu-sphere", 0); }
SAT_TEST(gdal_crs_laea_usft) { check_vs_gdal_crs("crs-laea-usft", 0); }
SAT_TEST(gdal_crs_lcc_2sp) { check_vs_gdal_crs("crs-lcc-2sp", 0); }
SAT_TEST(gdal_crs_aea) { check_vs_gdal_crs("crs-aea", 5070); }
SAT_TEST(gdal_crs_polar_stere) { check_vs_gdal_crs("crs-polar-stere", 0); }
SAT_TEST(gdal_crs_longlat_intl) { check_vs_gdal_crs("crs-longlat-intl", 0); }
SAT_TEST(gdal_crs_epsg4326_point) { check_vs_gdal_crs("crs-epsg4326-point", 4326); }

/* Every file make.sh made has its case above (a new one without a case
 * would go untested), and no case reads a file that is gone. */
SAT_TEST(gdal_index_covered)
{
	static const char *const known[] = {
		"jpeg-mask", "deflate-mask-sparse", "webp-alpha", "alpha-zero",
		"alpha-graded", "gray-alpha-u16", "striped-u16", "striped-mask",
		"striped-jpeg", "planar-mask", "planar-striped", "south-up",
		"i8", "u16-cog", "i16-nodata", "i16-be", "u32",
		"i32-be-striped", "f32-nan", "f32-lerc", "f64-be",
		"crs-tmerc-grs80", "crs-tmerc-wgs84", "crs-utm-towgs84",
		"crs-sinu-sphere", "crs-laea-usft", "crs-lcc-2sp", "crs-aea",
		"crs-polar-stere", "crs-longlat-intl", "crs-epsg4326-point",
	};
	size_t len, n = 0, nknown = sizeof(known) / sizeof(known[0]);
	char *text = satest_read_file(variant_path("gdal/index.txt", ""), &len);
	char *line, *save = NULL;

	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save), n++) {
		size_t i = 0;

		while (i < nknown && strcmp(known[i], line) != 0)
			i++;
		if (i == nknown)
			satest_fail(__FILE__, __LINE__, "a case for", line);
	}
	CHECK_INT(n, nknown);
	free(text);
}

/* What we refuse, we refuse for its own reason. */
static void check_refused(const char *name, int err, const char *why)
{
	struct file f = load(variant_path(name, ".tif"));
	struct sat_cog *cog = NULL;
	int calls;

	CHECK_INT(open_err(&cog, &f, 16384, &calls), err);
	CHECK(cog == NULL);
	if (!strstr(sat_cog_last_error(), why))
		satest_fail(__FILE__, __LINE__, why, sat_cog_last_error());
	free(f.bytes);
}

SAT_TEST(refuse_reasons)
{
	size_t len, n = 0;
	char *list = satest_read_file(variant_path("gdal/refused.txt", ""),
				      &len);

	for (char *p = list; (p = strchr(p, '\n')); p++)
		n++;
	free(list);
	CHECK_INT(n, 5);
	check_refused("refuse-rotated", -ENOTSUP, "rotated geotransform");
	check_refused("refuse-12bit", -ENOTSUP, "level 0: 12-bit samples");
	check_refused("refuse-cint16", -ENOTSUP, "complex samples");
	check_refused("refuse-int64", -ENOTSUP, "64-bit signed samples");
	check_refused("refuse-float16", -ENOTSUP,
		      "16-bit floating-point samples");
}

/* The value of the first entry of tag in IFD 0 of a classic little-endian
 * TIFF, rewritten in place. */
static void patch_tag(struct file *f, uint16_t tag, uint16_t value)
{
	uint32_t ifd = f->bytes[4] | f->bytes[5] << 8 | f->bytes[6] << 16 |
		       (uint32_t)f->bytes[7] << 24;
	uint16_t n = f->bytes[ifd] | f->bytes[ifd + 1] << 8;

	CHECK(f->bytes[0] == 'I' && ifd + 2 + 12u * n <= f->len);
	for (uint16_t i = 0; i < n; i++) {
		uint8_t *e = f->bytes + ifd + 2 + 12 * i;

		if ((e[0] | e[1] << 8) == tag) {
			e[8] = value & 0xff;
			e[9] = value >> 8;
			return;
		}
	}
	satest_fail(__FILE__, __LINE__, "tag found", NULL);
}

SAT_TEST(refuse_compression_and_past_end)
{
	struct file f = load(variant_path("u16-cog", ".tif"));
	struct sat_cog *cog = open_file(&f, 16384, 1);
	uint64_t off, n, end = 0;
	int calls;

	for (size_t lv = 0; lv < sat_cog_level_count(cog); lv++) {
		const struct sat_cog_level *l = sat_cog_level(cog, lv);

		for (uint32_t t = 0; t < l->tiles_across * l->tiles_down; t++) {
			CHECK_INT(sat_cog_tile_range(cog, lv, t % l->tiles_across,
						     t / l->tiles_across, &off,
						     &n), 0);
			end = off + n > end ? off + n : end;
		}
	}
	/* Every tile ends within the object, and not within one byte less. */
	CHECK(end > 0 && end <= f.len);
	CHECK_INT(sat_cog_check_size(cog, end), 0);
	CHECK_INT(sat_cog_check_size(cog, end - 1), -EINVAL);
	CHECK(strstr(sat_cog_last_error(), "past the object's end (") != NULL);
	sat_cog_free(cog);
	cog = NULL;
	patch_tag(&f, 259, 34712);
	CHECK_INT(open_err(&cog, &f, 16384, &calls), -ENOTSUP);
	CHECK_STR(sat_cog_last_error(),
		  "level 0: unsupported compression 34712 (JPEG 2000)");
	patch_tag(&f, 259, 8);
	patch_tag(&f, 284, 3);
	CHECK_INT(open_err(&cog, &f, 16384, &calls), -EINVAL);
	/* libtiff refuses this one itself, and we quote it. */
	CHECK(strstr(sat_cog_last_error(), "Bad value 3 for "
		     "\"PlanarConfiguration\"") != NULL);
	free(f.bytes);
}

