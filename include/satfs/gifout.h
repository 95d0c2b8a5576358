/*
 * gifout: the time-lapses' animated GIF files (giflib), and their exact
 * size before a pixel exists.
 *
 * GIF compresses with LZW, whose output length depends on the pixels. So
 * the image data is not giflib's compression but a code stream of our own
 * that GIF decoders read as any other: 9-bit codes, every pixel its own
 * literal code, and a clear code before every SAT_GIF_CLEAR_EVERY pixels,
 * so that the decoders' code table never grows to 512 entries and the code
 * width never changes. Its length is a function of the pixel count alone
 * (about 9/8 of a byte per pixel). giflib writes everything else (header,
 * logical screen, the global colour table, the loop and graphic control
 * extensions, image descriptors, the code stream's sub-blocks through
 * EGifPutCode/EGifPutCodeNext, the trailer), and sat_gif_size() runs that
 * same writer into a sink that only counts, handing it the code stream's
 * blocks without packing pixels.
 *
 * Threading: no shared state; any thread. Calls block on the disk only.
 */
#ifndef SATFS_GIFOUT_H
#define SATFS_GIFOUT_H

#include <stdint.h>

/* Literal codes between two clear codes at most: after 254 literals a
 * decoder's table holds 511 codes, one short of needing 10 bits. */
#define SAT_GIF_CLEAR_EVERY 254
#define SAT_GIF_MAX_SIDE 65535
#define SAT_GIF_MAX_FRAMES 100000

struct sat_gif_spec {
	uint32_t width, height;      /* every frame's, and the screen's */
	uint32_t nframes;            /* at least 1 */
	uint16_t delay_cs;           /* per frame, hundredths of a second */
	int transparent;             /* palette index, or -1: none */
	const uint8_t (*palette)[3]; /* 256 colours */
};

/* Fills row y of frame f (frames in order, rows in order): width palette
 * indices. 0 or -errno (aborts the write). */
typedef int (*sat_gif_row_fn)(uint32_t frame, uint32_t y, uint8_t *row,
			      void *payload);

/* Bytes of one frame's code stream (the LZW minimum code size byte, the
 * sub-blocks and their terminator) for npix pixels. */
uint64_t sat_gif_frame_bytes(uint64_t npix);

/* Exact size of the file sat_gif_write() makes. 0, -EINVAL, -ENOMEM. */
int sat_gif_size(const struct sat_gif_spec *spec, uint64_t *size_bytes);

/* Writes the GIF (looping forever) to fd from its current offset. Does
 * not fsync or close fd. 0, -ENOSPC/-EIO (disk), -EINVAL, -ENOMEM, or
 * fill's error. */
int sat_gif_write(int fd, const struct sat_gif_spec *spec,
		  sat_gif_row_fn fill, void *payload);

#endif
