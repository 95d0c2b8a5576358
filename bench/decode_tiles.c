/*
 * decode_tiles: CPU cost of decoding COG tiles with satfs' own decoder
 * (sat_cog_decode_tile), inputs of the physical limit in scripts/bench.
 *
 *   decode_tiles FILE X0 Y0 X1 Y1 [REPEAT]
 *   decode_tiles --at-once THREADS TOTAL FILE X0 Y0 X1 Y1
 *
 * Both decode every level-0 tile of the local COG FILE that holds a pixel
 * centre of the map rectangle [X0,X1] x [Y0,Y1] (in the file's CRS).
 *
 * The first, REPEAT times (default 3) on one thread, prints "tiles N
 * ms_per_tile T raw_bytes B" with the fastest of the per-pass averages: on
 * a shared machine other work only ever adds time, and a limit is the best
 * case.
 *
 * The second decodes TOTAL tiles (the rectangle's, round and round) on
 * THREADS threads at a signal, so that the decoding can be timed while
 * something else runs: with the file loaded it prints "ready", waits for a
 * line on standard input, decodes and prints "seconds S", the wall time
 * from the signal to the last tile.
 */
#include "satfs/cog.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_THREADS 64

struct rect {
	const struct sat_cog *cog;
	const uint8_t *buf;
	uint32_t c0, c1, r0, r1;
	size_t tile_size; /* bytes of one decoded tile */
};

struct worker {
	const struct rect *rect;
	long tiles; /* to decode */
	int failed;
	pthread_t thread;
};

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

/* Decodes the rectangle's tiles in order until `limit` are done (at most
 * one pass when limit < 0); the count, or -1 when one fails. */
static long decode_pass(const struct rect *r, uint8_t *out, long limit,
			uint64_t *raw_bytes)
{
	long n = 0;

	for (uint32_t ty = r->r0; ty <= r->r1; ty++)
		for (uint32_t tx = r->c0; tx <= r->c1; tx++) {
			uint64_t off, len;

			if (limit >= 0 && n >= limit)
				return n;
			if (sat_cog_tile_range(r->cog, 0, tx, ty, &off,
					       &len) || !len)
				continue;
			if (sat_cog_decode_tile(r->cog, 0, tx, ty,
						r->buf + off, len, out,
						r->tile_size))
				return -1;
			n++;
			if (raw_bytes)
				*raw_bytes += len;
		}
	return n;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint8_t *out = malloc(w->rect->tile_size);
	long done = 0;

	if (!out) {
		w->failed = 1;
		return NULL;
	}
	while (done < w->tiles) {
		long n = decode_pass(w->rect, out, w->tiles - done, NULL);

		if (n <= 0) {
			w->failed = 1;
			break;
		}
		done += n;
	}
	free(out);
	return NULL;
}

static int at_once(const struct rect *r, int threads, long total)
{
	struct worker w[MAX_THREADS];
	char line[16];
	double t0;
	int failed = 0;

	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	t0 = now_ms();
	for (int i = 0; i < threads; i++) {
		w[i] = (struct worker){ .rect = r,
					.tiles = total / threads +
						 (i < total % threads) };
		if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]))
			return perror("pthread_create"), 1;
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(w[i].thread, NULL);
		failed |= w[i].failed;
	}
	if (failed) {
		fprintf(stderr, "decode failed\n");
		return 1;
	}
	printf("seconds %.4f\n", (now_ms() - t0) / 1e3);
	return 0;
}

static int timed_passes(const struct rect *r, int repeat)
{
	double times[64];
	uint64_t raw_bytes = 0;
	uint8_t *out = malloc(r->tile_size);
	long n = 0;

	if (!out)
		return 1;
	for (int pass = 0; pass < repeat; pass++) {
		double t = now_ms();

		raw_bytes = 0;
		n = decode_pass(r, out, -1, &raw_bytes);
		if (n < 0) {
			fprintf(stderr, "decode failed\n");
			free(out);
			return 1;
		}
		times[pass] = n ? (now_ms() - t) / n : 0;
	}
	qsort(times, (size_t)repeat, sizeof(times[0]), cmp_double);
	printf("tiles %ld ms_per_tile %.3f raw_bytes %llu\n", n, times[0],
	       (unsigned long long)raw_bytes);
	free(out);
	return 0;
}

static int usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s FILE X0 Y0 X1 Y1 [REPEAT]\n"
		"       %s --at-once THREADS TOTAL FILE X0 Y0 X1 Y1\n",
		argv0, argv0);
	return 2;
}

int main(int argc, char **argv)
{
	const struct sat_cog_level *lv;
	struct sat_cog *cog = NULL;
	struct rect r;
	double x0, y0, x1, y1;
	uint64_t need = 0;
	int repeat = 3, threads = 0, ret;
	long total = 0;
	char **arg = argv + 1;
	uint8_t *buf;
	size_t size;
	FILE *f;

	if (argc > 1 && !strcmp(argv[1], "--at-once")) {
		if (argc != 9)
			return usage(argv[0]);
		threads = atoi(argv[2]);
		total = atol(argv[3]);
		if (threads < 1 || threads > MAX_THREADS || total < 1)
			return usage(argv[0]);
		arg = argv + 4;
	} else {
		if (argc < 6 || argc > 7)
			return usage(argv[0]);
		if (argc == 7)
			repeat = atoi(argv[6]);
		if (repeat < 1 || repeat > 64)
			return usage(argv[0]);
	}
	x0 = atof(arg[1]);
	y0 = atof(arg[2]);
	x1 = atof(arg[3]);
	y1 = atof(arg[4]);
	f = fopen(arg[0], "rb");
	if (!f || fseek(f, 0, SEEK_END) != 0)
		return perror(arg[0]), 1;
	size = (size_t)ftell(f);
	rewind(f);
	buf = malloc(size);
	if (!buf || fread(buf, 1, size, f) != size)
		return perror(arg[0]), 1;
	fclose(f);
	if (sat_cog_open(&cog, buf, size < (16u << 20) ? size : 16u << 20,
			 &need) != 0) {
		fprintf(stderr, "%s: not a COG satfs reads\n", arg[0]);
		return 1;
	}
	lv = sat_cog_level(cog, 0);
	r = (struct rect){
		.cog = cog,
		.buf = buf,
		.c0 = (uint32_t)((x0 - lv->origin_x) / lv->pixel_x) /
		      lv->tile_width,
		.c1 = (uint32_t)((x1 - lv->origin_x) / lv->pixel_x) /
		      lv->tile_width,
		.r0 = (uint32_t)((lv->origin_y - y1) / lv->pixel_y) /
		      lv->tile_height,
		.r1 = (uint32_t)((lv->origin_y - y0) / lv->pixel_y) /
		      lv->tile_height,
		.tile_size = (size_t)lv->tile_width * lv->tile_height *
			     lv->samples * (lv->bits / 8),
	};
	if (r.c1 >= lv->tiles_across)
		r.c1 = lv->tiles_across - 1;
	if (r.r1 >= lv->tiles_down)
		r.r1 = lv->tiles_down - 1;
	ret = threads ? at_once(&r, threads, total) : timed_passes(&r, repeat);
	sat_cog_free(cog);
	free(buf);
	return ret;
}
