/*
 * pngio: the quicklooks' PNG files (libpng): writing one row by row, its
 * exact size before a pixel exists, and reading one back row by row.
 *
 * The PNG is 8-bit RGBA, not interlaced, filter "none" on every row and
 * zlib level 0 (stored deflate blocks): then the bytes libpng writes
 * depend on the width and height alone, never on the pixels, and
 * sat_png_size() gets the size by running the same writer, with rows of
 * zeros, into a sink that only counts (the way tiffout sizes its
 * GeoTIFFs). What it found is remembered per width and height.
 *
 * Threading: any thread; the size memo is under a lock of its own. Calls
 * block on the disk only.
 */
#ifndef SATFS_PNGIO_H
#define SATFS_PNGIO_H

#include <stdint.h>

/* Largest width or height written or read. */
#define SAT_PNG_MAX_SIDE 16384

/* Fills row y (0 first, then 1, ...): width RGBA pixels, 4 bytes each.
 * Returns 0 or -errno (aborts the write). */
typedef int (*sat_png_row_fn)(uint32_t y, uint8_t *rgba, void *payload);

/* Exact size of the file sat_png_write() makes for width x height.
 * 0, -EINVAL (a side 0 or above SAT_PNG_MAX_SIDE), -ENOMEM. */
int sat_png_size(uint32_t width, uint32_t height, uint64_t *size_bytes);

/* Writes the PNG to fd from its current offset, calling fill for every
 * row in order. Does not fsync or close fd. 0, -ENOSPC/-EIO (disk),
 * -EINVAL, -ENOMEM, or fill's error. */
int sat_png_write(int fd, uint32_t width, uint32_t height,
		  sat_png_row_fn fill, void *payload);

/* Reading a PNG of ours (8-bit RGBA, not interlaced; anything else is
 * -EIO) from fd at offset 0, one row at a time. */
struct sat_png_reader;
int sat_png_reader_open(struct sat_png_reader **out, int fd, uint32_t *width,
			uint32_t *height);
/* The next row into rgba (width * 4 bytes). 0, -EIO. */
int sat_png_reader_row(struct sat_png_reader *r, uint8_t *rgba);
void sat_png_reader_free(struct sat_png_reader *r);

#endif
