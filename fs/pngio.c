/*
 * pngio: see include/satfs/pngio.h.
 *
 * libpng reports errors by longjmp() to the setjmp() of the function that
 * called it: every function here that calls libpng sets its own, keeps
 * what it must free in a struct that outlives the jump, and turns the jump
 * into -EIO (or the errno our sink saved). Writes go through an fdsink
 * (include/satfs/fdsink.h) to the descriptor (or, to size, to nowhere).
 */
#include "satfs/pngio.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <png.h>

#include "satfs/fdsink.h"
#include "satfs/log.h"

#define PNG_MEMO 64

/* The sink, and the row callback's error, kept across libpng's longjmp. */
struct png_sink {
	struct sat_fdsink out;
	int fill_err;     /* the row callback's error */
};

static void png_sink_write(png_structp png, png_bytep data, size_t len)
{
	struct png_sink *s = png_get_io_ptr(png);

	if (sat_fdsink_put(&s->out, data, len))
		png_error(png, "write failed");
}

static void png_sink_flush(png_structp png)
{
	(void)png;
}

static void png_on_error(png_structp png, png_const_charp msg)
{
	sat_log_cause("libpng: %s", msg);
	png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
	(void)png;
	sat_debug("libpng: %s", msg);
}

/* What a write keeps across libpng's longjmp. */
struct png_wjob {
	png_structp png;
	png_infop info;
	uint8_t *row;
	struct png_sink *sink; /* on the heap: changes survive a longjmp */
};

/* The one writer: to fd, or (fd < 0, fill NULL) rows of zeros to a sink
 * that counts. */
static int png_run(int fd, uint32_t width, uint32_t height,
		   sat_png_row_fn fill, void *payload, uint64_t *size_bytes)
{
	struct png_wjob j = { 0 };
	volatile int ret = 0;

	if (width == 0 || height == 0 || width > SAT_PNG_MAX_SIDE ||
	    height > SAT_PNG_MAX_SIDE)
		return -EINVAL;
	j.sink = calloc(1, sizeof(*j.sink));
	j.row = calloc(width, 4);
	if (!j.sink || !j.row) {
		ret = -ENOMEM;
		goto out;
	}
	j.sink->out.fd = fd;
	j.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL,
					png_on_error, png_on_warning);
	if (j.png)
		j.info = png_create_info_struct(j.png);
	if (!j.png || !j.info) {
		ret = -ENOMEM;
		goto out;
	}
	if (setjmp(png_jmpbuf(j.png))) {
		ret = j.sink->fill_err ? j.sink->fill_err
		      : j.sink->out.err ? j.sink->out.err : -EIO;
		goto out;
	}
	png_set_write_fn(j.png, j.sink, png_sink_write, png_sink_flush);
	/* what makes the size independent of the pixels */
	png_set_compression_level(j.png, 0);
	png_set_filter(j.png, PNG_FILTER_TYPE_BASE, PNG_FILTER_NONE);
	png_set_IHDR(j.png, j.info, width, height, 8, PNG_COLOR_TYPE_RGBA,
		     PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_BASE,
		     PNG_FILTER_TYPE_BASE);
	png_write_info(j.png, j.info);
	for (uint32_t y = 0; y < height; y++) {
		if (fill) {
			j.sink->fill_err = fill(y, j.row, payload);
			/* out, keeping the fill's own cause (png_error
			 * would put libpng's in its place) */
			if (j.sink->fill_err)
				png_longjmp(j.png, 1);
		}
		png_write_row(j.png, j.row);
	}
	png_write_end(j.png, j.info);
	if (sat_fdsink_flush(&j.sink->out))
		ret = j.sink->out.err;
	else if (size_bytes)
		*size_bytes = j.sink->out.written;
out:
	if (j.png)
		png_destroy_write_struct(&j.png, j.info ? &j.info : NULL);
	free(j.row);
	free(j.sink);
	return ret;
}

int sat_png_write(int fd, uint32_t width, uint32_t height,
		  sat_png_row_fn fill, void *payload)
{
	if (fd < 0 || !fill)
		return -EINVAL;
	return png_run(fd, width, height, fill, payload, NULL);
}

static struct {
	pthread_mutex_t lock;
	struct {
		uint32_t w, h;
		uint64_t size;
	} e[PNG_MEMO];
	unsigned n, next; /* protected by lock */
} memo = { .lock = PTHREAD_MUTEX_INITIALIZER };

int sat_png_size(uint32_t width, uint32_t height, uint64_t *size_bytes)
{
	uint64_t size = 0;
	int ret;

	pthread_mutex_lock(&memo.lock);
	for (unsigned i = 0; i < memo.n; i++)
		if (memo.e[i].w == width && memo.e[i].h == height) {
			*size_bytes = memo.e[i].size;
			pthread_mutex_unlock(&memo.lock);
			return 0;
		}
	pthread_mutex_unlock(&memo.lock);
	ret = png_run(-1, width, height, NULL, NULL, &size);
	if (ret)
		return ret;
	pthread_mutex_lock(&memo.lock);
	memo.e[memo.next].w = width;
	memo.e[memo.next].h = height;
	memo.e[memo.next].size = size;
	memo.next = (memo.next + 1) % PNG_MEMO;
	if (memo.n < PNG_MEMO)
		memo.n++;
	pthread_mutex_unlock(&memo.lock);
	*size_bytes = size;
	return 0;
}

/* ---- reading ---- */

struct sat_png_reader {
	png_structp png;
	png_infop info;
	int fd;
	uint64_t pos;
	int err;
};

static void png_source_read(png_structp png, png_bytep data, size_t len)
{
	struct sat_png_reader *r = png_get_io_ptr(png);

	while (len > 0) {
		ssize_t n = pread(r->fd, data, len, (off_t)r->pos);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r->err = n < 0 ? -errno : -EIO;
			png_error(png, n < 0 ? "read failed" : "file too short");
		}
		r->pos += (uint64_t)n;
		data += n;
		len -= (size_t)n;
	}
}

void sat_png_reader_free(struct sat_png_reader *r)
{
	if (!r)
		return;
	if (r->png)
		png_destroy_read_struct(&r->png, r->info ? &r->info : NULL,
					NULL);
	free(r);
}

int sat_png_reader_open(struct sat_png_reader **out, int fd, uint32_t *width,
			uint32_t *height)
{
	struct sat_png_reader *r = calloc(1, sizeof(*r));
	png_uint_32 w, h;
	int depth, colour, interlace;

	*out = NULL;
	if (!r)
		return -ENOMEM;
	r->fd = fd;
	r->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL,
					png_on_error, png_on_warning);
	if (r->png)
		r->info = png_create_info_struct(r->png);
	if (!r->png || !r->info) {
		sat_png_reader_free(r);
		return -ENOMEM;
	}
	if (setjmp(png_jmpbuf(r->png))) {
		int err = r->err ? r->err : -EIO;

		sat_png_reader_free(r);
		return err;
	}
	png_set_read_fn(r->png, r, png_source_read);
	png_set_user_limits(r->png, SAT_PNG_MAX_SIDE, SAT_PNG_MAX_SIDE);
	png_read_info(r->png, r->info);
	png_get_IHDR(r->png, r->info, &w, &h, &depth, &colour, &interlace,
		     NULL, NULL);
	if (depth != 8 || colour != PNG_COLOR_TYPE_RGBA ||
	    interlace != PNG_INTERLACE_NONE) {
		sat_log_cause("PNG: not 8-bit RGBA without interlacing");
		sat_png_reader_free(r);
		return -EIO;
	}
	*width = w;
	*height = h;
	*out = r;
	return 0;
}

int sat_png_reader_row(struct sat_png_reader *r, uint8_t *rgba)
{
	if (setjmp(png_jmpbuf(r->png)))
		return r->err ? r->err : -EIO;
	png_read_row(r->png, rgba, NULL);
	return 0;
}
