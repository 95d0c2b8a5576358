/*
 * gifout: see include/satfs/gifout.h.
 *
 * The code stream of a frame, for a minimum code size of 8 (256 colours:
 * clear is code 256, end of information 257, both 9 bits wide like every
 * code): a clear code, then each pixel's index as a code, with a clear
 * code again before the pixel that would be the 255th since the last one,
 * then end of information. Codes are packed least significant bit first
 * into sub-blocks of at most 255 bytes, as GIF wants; the last byte is
 * padded with zero bits.
 */
#include "satfs/gifout.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gif_lib.h>

#include "satfs/fdsink.h"
#include "satfs/log.h"

#define GIF_CLEAR 256
#define GIF_EOI 257
#define GIF_BITS 9

static int gif_sink_write(GifFileType *gif, const GifByteType *data, int len)
{
	struct sat_fdsink *s = gif->UserData;

	if (len < 0 || sat_fdsink_put(s, data, (size_t)len))
		return 0;
	return len;
}

/* The codes of one frame, packed into sub-blocks handed to giflib. */
struct gif_codes {
	GifFileType *gif;
	bool first;          /* no block written yet (EGifPutCode) */
	uint32_t acc;        /* bits not yet in a byte */
	unsigned nacc;
	unsigned run;        /* literals since the last clear code */
	uint8_t block[256];  /* [0]: length */
};

static int codes_block(struct gif_codes *c)
{
	int ret;

	if (c->block[0] == 0)
		return 0;
	ret = c->first ? EGifPutCode(c->gif, 8, c->block)
		       : EGifPutCodeNext(c->gif, c->block);
	c->first = false;
	c->block[0] = 0;
	return ret == GIF_OK ? 0 : -EIO;
}

static int codes_put(struct gif_codes *c, unsigned code)
{
	c->acc |= (uint32_t)code << c->nacc;
	c->nacc += GIF_BITS;
	while (c->nacc >= 8) {
		c->block[1 + c->block[0]++] = (uint8_t)c->acc;
		c->acc >>= 8;
		c->nacc -= 8;
		if (c->block[0] == 255 && codes_block(c))
			return -EIO;
	}
	return 0;
}

static int codes_pixels(struct gif_codes *c, const uint8_t *px, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (c->run == SAT_GIF_CLEAR_EVERY) {
			if (codes_put(c, GIF_CLEAR))
				return -EIO;
			c->run = 0;
		}
		if (codes_put(c, px[i]))
			return -EIO;
		c->run++;
	}
	return 0;
}

/* End of information, the last bits, the last block, the terminator. */
static int codes_end(struct gif_codes *c)
{
	if (codes_put(c, GIF_EOI))
		return -EIO;
	if (c->nacc > 0) {
		c->block[1 + c->block[0]++] = (uint8_t)c->acc;
		c->nacc = 0;
		if (c->block[0] == 255 && codes_block(c))
			return -EIO;
	}
	if (codes_block(c))
		return -EIO;
	return EGifPutCodeNext(c->gif, NULL) == GIF_OK ? 0 : -EIO;
}

static uint64_t codes_stream_bytes(uint64_t npix)
{
	uint64_t clears = npix ? 1 + (npix - 1) / SAT_GIF_CLEAR_EVERY : 1;

	return ((clears + npix + 1) * GIF_BITS + 7) / 8;
}

uint64_t sat_gif_frame_bytes(uint64_t npix)
{
	uint64_t data = codes_stream_bytes(npix);

	/* the code size byte, a length byte per sub-block, the terminator */
	return 1 + data + (data + 254) / 255 + 1;
}

/* For sizing: the blocks of a frame's code stream, contents aside. */
static int codes_count_only(GifFileType *gif, uint64_t npix)
{
	uint64_t data = codes_stream_bytes(npix);
	uint8_t block[256] = { 0 };
	bool first = true;

	while (data > 0) {
		block[0] = (uint8_t)(data < 255 ? data : 255);
		data -= block[0];
		if ((first ? EGifPutCode(gif, 8, block)
			   : EGifPutCodeNext(gif, block)) != GIF_OK)
			return -EIO;
		first = false;
	}
	return EGifPutCodeNext(gif, NULL) == GIF_OK ? 0 : -EIO;
}

static int gif_check(const struct sat_gif_spec *spec)
{
	if (!spec || !spec->palette || spec->width == 0 ||
	    spec->height == 0 || spec->width > SAT_GIF_MAX_SIDE ||
	    spec->height > SAT_GIF_MAX_SIDE || spec->nframes == 0 ||
	    spec->nframes > SAT_GIF_MAX_FRAMES || spec->transparent > 255)
		return -EINVAL;
	return 0;
}

/* The header, the logical screen with the palette, and the loop. */
static int gif_head(GifFileType *gif, const struct sat_gif_spec *spec)
{
	static const uint8_t loop[3] = { 1, 0, 0 }; /* forever */
	GifColorType colours[256];
	ColorMapObject *map;
	int ret;

	for (int i = 0; i < 256; i++) {
		colours[i].Red = spec->palette[i][0];
		colours[i].Green = spec->palette[i][1];
		colours[i].Blue = spec->palette[i][2];
	}
	map = GifMakeMapObject(256, colours);
	if (!map)
		return -ENOMEM;
	EGifSetGifVersion(gif, true);
	ret = EGifPutScreenDesc(gif, (int)spec->width, (int)spec->height, 8,
				spec->transparent >= 0 ? spec->transparent : 0,
				map);
	GifFreeMapObject(map);
	if (ret != GIF_OK ||
	    EGifPutExtensionLeader(gif, APPLICATION_EXT_FUNC_CODE) != GIF_OK ||
	    EGifPutExtensionBlock(gif, 11, "NETSCAPE2.0") != GIF_OK ||
	    EGifPutExtensionBlock(gif, 3, loop) != GIF_OK ||
	    EGifPutExtensionTrailer(gif) != GIF_OK)
		return -EIO;
	return 0;
}

/* A frame's graphic control extension and image descriptor. */
static int gif_frame_head(GifFileType *gif, const struct sat_gif_spec *spec)
{
	GraphicsControlBlock gcb = {
		/* each frame replaces the last, transparent parts too */
		.DisposalMode = DISPOSE_BACKGROUND,
		.UserInputFlag = false,
		.DelayTime = spec->delay_cs,
		.TransparentColor = spec->transparent >= 0
					    ? spec->transparent
					    : NO_TRANSPARENT_COLOR,
	};
	GifByteType ext[4];

	EGifGCBToExtension(&gcb, ext);
	if (EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, 4, ext) != GIF_OK ||
	    EGifPutImageDesc(gif, 0, 0, (int)spec->width, (int)spec->height,
			     false, NULL) != GIF_OK)
		return -EIO;
	return 0;
}

/* The one writer: to fd, or (fill NULL) to a sink that counts. */
static int gif_run(int fd, const struct sat_gif_spec *spec,
		   sat_gif_row_fn fill, void *payload, uint64_t *size_bytes)
{
	struct sat_fdsink *sink = calloc(1, sizeof(*sink));
	uint8_t *row = calloc(spec->width, 1);
	GifFileType *gif = NULL;
	int ret = 0, gerr = 0;

	if (!sink || !row) {
		ret = -ENOMEM;
		goto out;
	}
	sink->fd = fd;
	gif = EGifOpen(sink, gif_sink_write, &gerr);
	if (!gif) {
		ret = -ENOMEM;
		goto out;
	}
	ret = gif_head(gif, spec);
	for (uint32_t f = 0; !ret && f < spec->nframes; f++) {
		struct gif_codes c = { .gif = gif, .first = true };

		ret = gif_frame_head(gif, spec);
		if (!ret && !fill) {
			ret = codes_count_only(gif, (uint64_t)spec->width *
						     spec->height);
			continue;
		}
		if (!ret)
			ret = codes_put(&c, GIF_CLEAR);
		for (uint32_t y = 0; !ret && y < spec->height; y++) {
			ret = fill(f, y, row, payload);
			if (!ret)
				ret = codes_pixels(&c, row, spec->width);
		}
		if (!ret)
			ret = codes_end(&c);
	}
	if (EGifCloseFile(gif, &gerr) != GIF_OK && !ret)
		ret = -EIO;
	if (!ret && sat_fdsink_flush(sink))
		ret = sink->err;
	if (ret == -EIO && sink->err)
		ret = sink->err; /* the disk's error, not giflib's */
	if (!ret && size_bytes)
		*size_bytes = sink->written;
out:
	free(row);
	free(sink);
	return ret;
}

int sat_gif_size(const struct sat_gif_spec *spec, uint64_t *size_bytes)
{
	int ret = gif_check(spec);

	return ret ? ret : gif_run(-1, spec, NULL, NULL, size_bytes);
}

int sat_gif_write(int fd, const struct sat_gif_spec *spec,
		  sat_gif_row_fn fill, void *payload)
{
	int ret = gif_check(spec);

	if (ret)
		return ret;
	if (fd < 0 || !fill)
		return -EINVAL;
	return gif_run(fd, spec, fill, payload, NULL);
}
