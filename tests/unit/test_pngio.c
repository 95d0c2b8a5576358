/* Unit tests for fs/pngio.c: the size promised is the size written, for
 * any pixels; what libpng reads back is what was written. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "satest.h"
#include "satfs/pngio.h"

struct pat {
	uint32_t width;
	unsigned seed;  /* 0: a smooth pattern; else pseudo-random bytes */
	uint32_t rows;  /* rows asked for */
	int fail_at;    /* row that fails (1-based), 0: none */
};

static uint8_t value(const struct pat *p, uint32_t x, uint32_t y, int c)
{
	if (!p->seed)
		return (uint8_t)(x * 3 + y * 7 + c * 50);
	uint32_t v = (x * 2654435761u) ^ (y * 40503u) ^ (p->seed * 97u) ^
		     (uint32_t)c * 0x9e3779b9u;
	v ^= v >> 13;
	v *= 0x5bd1e995u;
	return (uint8_t)(v >> 16);
}

static int fill(uint32_t y, uint8_t *rgba, void *payload)
{
	struct pat *p = payload;

	p->rows++;
	if (p->fail_at && p->rows == (uint32_t)p->fail_at)
		return -EPIPE;
	for (uint32_t x = 0; x < p->width; x++)
		for (int c = 0; c < 4; c++)
			rgba[4 * x + c] = value(p, x, y, c);
	return 0;
}

static int tmpfile_fd(const char *name)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", satest_tmpdir(), name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	return fd;
}

/* Writes w x h with the pattern of seed; checks the size and returns the
 * descriptor. */
static int write_checked(uint32_t w, uint32_t h, unsigned seed)
{
	struct pat p = { .width = w, .seed = seed };
	uint64_t size = 0;
	struct stat st;
	int fd = tmpfile_fd("out.png");

	CHECK_INT(sat_png_size(w, h, &size), 0);
	CHECK_INT(sat_png_write(fd, w, h, fill, &p), 0);
	CHECK_INT(p.rows, h);
	CHECK_INT(fstat(fd, &st), 0);
	CHECK_INT(st.st_size, size);
	return fd;
}

SAT_TEST(size_is_exact)
{
	static const uint32_t dims[][2] = {
		{ 1, 1 },     { 2, 3 },      { 255, 3 },   { 256, 256 },
		{ 1000, 7 },  { 3, 5000 },   { 1024, 1024 }, { 997, 991 },
		{ 4096, 17 }, { 16384, 1 },
	};

	for (size_t i = 0; i < sizeof(dims) / sizeof(dims[0]); i++)
		for (unsigned seed = 0; seed < 3; seed++)
			close(write_checked(dims[i][0], dims[i][1], seed));
}

SAT_TEST(size_remembered_is_the_same)
{
	uint64_t a = 0, b = 0;

	/* the second answer comes from the memo */
	CHECK_INT(sat_png_size(321, 123, &a), 0);
	CHECK_INT(sat_png_size(321, 123, &b), 0);
	CHECK_INT(a, b);
	/* stored deflate: at least the raw bytes, and not much more */
	CHECK(a > 123u * (1 + 4 * 321));
	CHECK(a < 123u * (1 + 4 * 321) + 1000);
}

SAT_TEST(read_back_with_libpng)
{
	const uint32_t w = 300, h = 270;
	struct pat p = { .width = w, .seed = 5 };
	struct sat_png_reader *r;
	uint32_t rw = 0, rh = 0;
	uint8_t *row = malloc(w * 4);
	int fd = write_checked(w, h, 5);

	CHECK(row);
	CHECK_INT(sat_png_reader_open(&r, fd, &rw, &rh), 0);
	CHECK_INT(rw, w);
	CHECK_INT(rh, h);
	for (uint32_t y = 0; y < h; y++) {
		CHECK_INT(sat_png_reader_row(r, row), 0);
		for (uint32_t x = 0; x < w; x++)
			for (int c = 0; c < 4; c++)
				if (row[4 * x + c] != value(&p, x, y, c))
					CHECK_INT(row[4 * x + c],
						  value(&p, x, y, c));
	}
	sat_png_reader_free(r);
	close(fd);
	free(row);
}

SAT_TEST(read_rejects_truncated_file)
{
	struct sat_png_reader *r = NULL;
	uint32_t w, h;
	uint8_t *row = malloc(64 * 4);
	int fd = write_checked(64, 64, 1), err = 0;
	struct stat st;

	CHECK_INT(fstat(fd, &st), 0);
	CHECK_INT(ftruncate(fd, st.st_size / 2), 0);
	CHECK_INT(sat_png_reader_open(&r, fd, &w, &h), 0);
	for (uint32_t y = 0; y < h && !err; y++)
		err = sat_png_reader_row(r, row);
	CHECK_INT(err, -EIO);
	sat_png_reader_free(r);
	/* not a PNG at all */
	CHECK_INT(ftruncate(fd, 0), 0);
	CHECK_INT(pwrite(fd, "GIF89a....", 10, 0), 10);
	CHECK(sat_png_reader_open(&r, fd, &w, &h) < 0);
	CHECK(r == NULL);
	close(fd);
	free(row);
}

SAT_TEST(errors_reach_the_caller)
{
	struct pat p = { .width = 40, .fail_at = 7 };
	uint64_t size;
	int fd = tmpfile_fd("fail.png"), full;

	CHECK_INT(sat_png_write(fd, 40, 30, fill, &p), -EPIPE);
	close(fd);
	CHECK_INT(sat_png_size(0, 5, &size), -EINVAL);
	CHECK_INT(sat_png_size(5, SAT_PNG_MAX_SIDE + 1, &size), -EINVAL);
	full = open("/dev/full", O_WRONLY);
	CHECK(full >= 0);
	p = (struct pat){ .width = 512 };
	CHECK_INT(sat_png_write(full, 512, 512, fill, &p), -ENOSPC);
	close(full);
}
