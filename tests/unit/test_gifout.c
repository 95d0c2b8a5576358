/* Unit tests for fs/gifout.c: the size promised is the size written, for
 * any pixels; giflib's decoder reads back every frame, pixel, delay and
 * the transparent colour. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gif_lib.h>

#include "satest.h"
#include "satfs/gifout.h"

static uint8_t palette[256][3];

struct pat {
	uint32_t width;
	unsigned seed;
	uint32_t calls;
	uint32_t next_frame, next_y; /* the order rows are asked in */
	int order_ok;
	uint32_t fail_at;
};

static uint8_t value(unsigned seed, uint32_t f, uint32_t x, uint32_t y)
{
	uint32_t v = x * 2654435761u ^ y * 40503u ^ f * 977u ^ seed * 31u;

	if (!seed)
		return (uint8_t)(x + y + f);
	v ^= v >> 15;
	v *= 0x2c1b3c6du;
	return (uint8_t)(v >> 12);
}

static int fill(uint32_t f, uint32_t y, uint8_t *row, void *payload)
{
	struct pat *p = payload;

	if (f != p->next_frame || y != p->next_y)
		p->order_ok = 0;
	p->next_y = y + 1;
	p->calls++;
	if (p->fail_at && p->calls == p->fail_at)
		return -EPIPE;
	for (uint32_t x = 0; x < p->width; x++)
		row[x] = value(p->seed, f, x, y);
	return 0;
}

static int fill_counting_frames(uint32_t f, uint32_t y, uint8_t *row,
				void *payload)
{
	struct pat *p = payload;

	if (y == 0) {
		p->next_frame = f;
		p->next_y = 0;
	}
	return fill(f, y, row, payload);
}

static void make_palette(void)
{
	for (int i = 0; i < 256; i++) {
		palette[i][0] = (uint8_t)i;
		palette[i][1] = (uint8_t)(255 - i);
		palette[i][2] = (uint8_t)(i * 7);
	}
}

static const char *write_checked(struct sat_gif_spec *spec, unsigned seed)
{
	static char path[4096];
	struct pat p = { .width = spec->width, .seed = seed, .order_ok = 1 };
	uint64_t size = 0;
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/out.gif", satest_tmpdir());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK_INT(sat_gif_size(spec, &size), 0);
	CHECK_INT(sat_gif_write(fd, spec, fill_counting_frames, &p), 0);
	CHECK(p.order_ok);
	CHECK_INT(p.calls, spec->nframes * spec->height);
	CHECK_INT(fstat(fd, &st), 0);
	CHECK_INT(st.st_size, size);
	close(fd);
	return path;
}

SAT_TEST(size_is_exact)
{
	static const uint32_t dims[][3] = {
		{ 1, 1, 1 },    { 2, 3, 2 },     { 254, 1, 1 }, { 255, 1, 3 },
		{ 127, 2, 2 },  { 509, 3, 1 },   { 300, 200, 4 },
		{ 1024, 33, 2 }, { 7, 1000, 3 },
	};

	make_palette();
	for (size_t i = 0; i < sizeof(dims) / sizeof(dims[0]); i++)
		for (unsigned seed = 0; seed < 2; seed++) {
			struct sat_gif_spec spec = {
				.width = dims[i][0], .height = dims[i][1],
				.nframes = dims[i][2], .delay_cs = 50,
				.transparent = seed ? 3 : -1,
				.palette = (const uint8_t(*)[3])palette,
			};

			write_checked(&spec, seed);
		}
}

SAT_TEST(frame_bytes_formula)
{
	/* code size byte, 9-bit codes (clear + pixels + a clear per 254
	 * + end), sub-block lengths, terminator */
	CHECK_INT(sat_gif_frame_bytes(1), 1 + 4 + 1 + 1);      /* 27 bits */
	CHECK_INT(sat_gif_frame_bytes(254), 1 + 288 + 2 + 1);  /* 256 codes */
	CHECK_INT(sat_gif_frame_bytes(255), 1 + 291 + 2 + 1);  /* 258 codes */
}

SAT_TEST(giflib_reads_every_pixel)
{
	struct sat_gif_spec spec = {
		.width = 301, .height = 77, .nframes = 3, .delay_cs = 37,
		.transparent = 200,
	};
	const char *path;
	GifFileType *gif;
	int err = 0;

	make_palette();
	spec.palette = (const uint8_t(*)[3])palette;
	path = write_checked(&spec, 9);
	gif = DGifOpenFileName(path, &err);
	CHECK(gif != NULL);
	CHECK_INT(DGifSlurp(gif), GIF_OK);
	CHECK_INT(gif->SWidth, 301);
	CHECK_INT(gif->SHeight, 77);
	CHECK_INT(gif->ImageCount, 3);
	CHECK(gif->SColorMap && gif->SColorMap->ColorCount == 256);
	CHECK_INT(gif->SColorMap->Colors[17].Blue, 17 * 7);
	for (int f = 0; f < gif->ImageCount; f++) {
		SavedImage *im = &gif->SavedImages[f];
		GraphicsControlBlock gcb;

		CHECK_INT(im->ImageDesc.Width, 301);
		CHECK_INT(im->ImageDesc.Height, 77);
		CHECK_INT(DGifSavedExtensionToGCB(gif, f, &gcb), GIF_OK);
		CHECK_INT(gcb.DelayTime, 37);
		CHECK_INT(gcb.TransparentColor, 200);
		CHECK_INT(gcb.DisposalMode, DISPOSE_BACKGROUND);
		for (uint32_t y = 0; y < 77; y++)
			for (uint32_t x = 0; x < 301; x++) {
				uint8_t got = im->RasterBits[y * 301 + x];

				if (got != value(9, (uint32_t)f, x, y))
					CHECK_INT(got, value(9, (uint32_t)f, x,
							     y));
			}
	}
	/* the loop: NETSCAPE2.0, forever */
	{
		int found = 0;

		for (int i = 0; i < gif->SavedImages[0].ExtensionBlockCount;
		     i++) {
			ExtensionBlock *e =
				&gif->SavedImages[0].ExtensionBlocks[i];

			if (e->Function == APPLICATION_EXT_FUNC_CODE &&
			    e->ByteCount == 11 &&
			    memcmp(e->Bytes, "NETSCAPE2.0", 11) == 0)
				found = 1;
		}
		CHECK(found);
	}
	DGifCloseFile(gif, &err);
}

SAT_TEST(errors_reach_the_caller)
{
	struct sat_gif_spec spec = {
		.width = 64, .height = 64, .nframes = 2, .transparent = -1,
	};
	struct pat p = { .width = 64, .fail_at = 70 };
	uint64_t size;
	char path[4096];
	int fd, full;

	make_palette();
	spec.palette = (const uint8_t(*)[3])palette;
	snprintf(path, sizeof(path), "%s/fail.gif", satest_tmpdir());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK_INT(sat_gif_write(fd, &spec, fill_counting_frames, &p), -EPIPE);
	close(fd);
	full = open("/dev/full", O_WRONLY);
	CHECK(full >= 0);
	p = (struct pat){ .width = 64 };
	CHECK_INT(sat_gif_write(full, &spec, fill_counting_frames, &p),
		  -ENOSPC);
	close(full);
	spec.nframes = 0;
	CHECK_INT(sat_gif_size(&spec, &size), -EINVAL);
	spec.nframes = 1;
	spec.width = 0;
	CHECK_INT(sat_gif_size(&spec, &size), -EINVAL);
}
