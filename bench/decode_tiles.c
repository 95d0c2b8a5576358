/*
 * decode_tiles: CPU cost of decoding COG tiles with satfs' own decoder
 * (sat_cog_decode_tile), one input of the physical limit in scripts/bench.
 *
 *   decode_tiles FILE X0 Y0 X1 Y1 [REPEAT]
 *
 * Decodes every level-0 tile of the local COG FILE that holds a pixel
 * centre of the map rectangle [X0,X1] x [Y0,Y1] (in the file's CRS),
 * REPEAT times (default 3), and prints "tiles N ms_per_tile T raw_bytes B"
 * with the fastest of the per-pass averages: on a shared machine other
 * work only ever adds time, and a limit is the best case. Single thread.
 */
#include "satfs/cog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	const struct sat_cog_level *lv;
	struct sat_cog *cog = NULL;
	double x0, y0, x1, y1, times[64];
	uint32_t c0, c1, r0, r1, tx, ty;
	uint64_t need = 0, off, len, raw_bytes = 0;
	int repeat = argc > 6 ? atoi(argv[6]) : 3, pass, ntiles = 0;
	uint8_t *buf, *out;
	size_t size;
	FILE *f;

	if (argc < 6 || repeat < 1 || repeat > 64) {
		fprintf(stderr, "usage: %s FILE X0 Y0 X1 Y1 [REPEAT]\n",
			argv[0]);
		return 2;
	}
	x0 = atof(argv[2]);
	y0 = atof(argv[3]);
	x1 = atof(argv[4]);
	y1 = atof(argv[5]);
	f = fopen(argv[1], "rb");
	if (!f || fseek(f, 0, SEEK_END) != 0)
		return perror(argv[1]), 1;
	size = (size_t)ftell(f);
	rewind(f);
	buf = malloc(size);
	if (!buf || fread(buf, 1, size, f) != size)
		return perror(argv[1]), 1;
	fclose(f);
	if (sat_cog_open(&cog, buf, size < (16u << 20) ? size : 16u << 20,
			 &need) != 0) {
		fprintf(stderr, "%s: not a COG satfs reads\n", argv[1]);
		return 1;
	}
	lv = sat_cog_level(cog, 0);
	c0 = (uint32_t)((x0 - lv->origin_x) / lv->pixel_x) / lv->tile_width;
	c1 = (uint32_t)((x1 - lv->origin_x) / lv->pixel_x) / lv->tile_width;
	r0 = (uint32_t)((lv->origin_y - y1) / lv->pixel_y) / lv->tile_height;
	r1 = (uint32_t)((lv->origin_y - y0) / lv->pixel_y) / lv->tile_height;
	if (c1 >= lv->tiles_across)
		c1 = lv->tiles_across - 1;
	if (r1 >= lv->tiles_down)
		r1 = lv->tiles_down - 1;
	out = malloc((size_t)lv->tile_width * lv->tile_height * lv->samples *
		     (lv->bits / 8));
	if (!out)
		return 1;
	for (pass = 0; pass < repeat; pass++) {
		double t = now_ms();

		ntiles = 0;
		raw_bytes = 0;
		for (ty = r0; ty <= r1; ty++)
			for (tx = c0; tx <= c1; tx++) {
				if (sat_cog_tile_range(cog, 0, tx, ty, &off,
						       &len) || !len)
					continue;
				if (sat_cog_decode_tile(
					    cog, 0, tx, ty, buf + off, len,
					    out, (size_t)lv->tile_width *
							 lv->tile_height *
							 lv->samples *
							 (lv->bits / 8))) {
					fprintf(stderr, "decode failed\n");
					return 1;
				}
				ntiles++;
				raw_bytes += len;
			}
		times[pass] = ntiles ? (now_ms() - t) / ntiles : 0;
	}
	qsort(times, (size_t)repeat, sizeof(times[0]), cmp_double);
	printf("tiles %d ms_per_tile %.3f raw_bytes %llu\n", ntiles,
	       times[0], (unsigned long long)raw_bytes);
	sat_cog_free(cog);
	free(out);
	free(buf);
	return 0;
}
