/*
 * album_gif: the time-lapses (include/satfs/album.h), through gifout.
 *
 * Every frame is the logical screen's size: the date's quicklook at the
 * top left, transparent where the quicklook is (alpha below 128) or where
 * it does not reach, and the date written in its top left corner, white
 * on black, in a bitmap font of our own. Colours go through one fixed
 * palette, 6 levels of red x 7 of green x 6 of blue with a 4 x 4 ordered
 * dither: nothing needs more than one row of a quicklook at a time, so a
 * time-lapse of any length is written in bounded memory, a quicklook read
 * (libpng, pngio) row by row as its frame is written.
 *
 * Threading: no shared state; the quicklooks come through the render
 * context (include/satfs/render.h), which renders missing ones.
 */
#include "satfs/album.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "satfs/gifout.h"
#include "satfs/log.h"
#include "satfs/pngio.h"
#include "satfs/render.h"

#define NR 6
#define NG 7
#define NB 6
#define IDX_BLACK 253
#define IDX_WHITE 254

/* the cube, then transparent (shown black), black, white, grey */
static void palette_init(uint8_t pal[256][3])
{
	for (int r = 0; r < NR; r++)
		for (int g = 0; g < NG; g++)
			for (int b = 0; b < NB; b++) {
				uint8_t *c = pal[(r * NG + g) * NB + b];

				c[0] = (uint8_t)(r * 255 / (NR - 1));
				c[1] = (uint8_t)(g * 255 / (NG - 1));
				c[2] = (uint8_t)(b * 255 / (NB - 1));
			}
	memset(pal[SAT_ALBUM_TRANSPARENT], 0, 3);
	memset(pal[IDX_BLACK], 0, 3);
	memset(pal[IDX_WHITE], 255, 3);
	memset(pal[255], 128, 3);
}

static uint8_t palette[256][3];
static pthread_once_t palette_once = PTHREAD_ONCE_INIT;

static void palette_make(void)
{
	palette_init(palette);
}

static const uint8_t (*palette_get(void))[3]
{
	pthread_once(&palette_once, palette_make);
	return (const uint8_t(*)[3])palette;
}

/* 4 x 4 Bayer thresholds, 0..15 */
static const uint8_t bayer[4][4] = {
	{ 0, 8, 2, 10 }, { 12, 4, 14, 6 }, { 3, 11, 1, 9 }, { 15, 7, 13, 5 },
};

/* One channel of v to `levels` levels, dithered at (x, y). */
static int dither(uint8_t v, int levels, uint32_t x, uint32_t y)
{
	/* v * (levels - 1) / 255, in 16ths, against the threshold */
	int scaled = v * (levels - 1) * 16 / 255;
	int level = scaled / 16, frac = scaled % 16;

	if (frac > bayer[y & 3][x & 3] && level < levels - 1)
		level++;
	return level;
}

static uint8_t to_index(const uint8_t *rgba, uint32_t x, uint32_t y)
{
	if (rgba[3] < 128)
		return SAT_ALBUM_TRANSPARENT;
	return (uint8_t)((dither(rgba[0], NR, x, y) * NG +
			  dither(rgba[1], NG, x, y)) * NB +
			 dither(rgba[2], NB, x, y));
}

/* ---- the date, in a 5 x 7 font of digits and '-' ---- */

#define GLYPH_W 5
#define GLYPH_H 7

/* rows top to bottom, bit 4 the leftmost column */
static const uint8_t glyphs[11][GLYPH_H] = {
	{ 0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e }, /* 0 */
	{ 0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e }, /* 1 */
	{ 0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f }, /* 2 */
	{ 0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e }, /* 3 */
	{ 0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02 }, /* 4 */
	{ 0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e }, /* 5 */
	{ 0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e }, /* 6 */
	{ 0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08 }, /* 7 */
	{ 0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e }, /* 8 */
	{ 0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c }, /* 9 */
	{ 0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00 }, /* - */
};

/* Where the label goes, and how large. */
struct label {
	const char *text;
	uint32_t scale;          /* font pixels per glyph pixel */
	uint32_t pad;            /* black margin around the text */
	uint32_t x0, y0, w, h;   /* the black box */
};

static void label_layout(struct label *l, const char *text, uint32_t width)
{
	size_t n = strlen(text);

	l->text = text;
	l->scale = width / 320 ? width / 320 : 1;
	l->pad = 2 * l->scale;
	l->x0 = l->scale * 4;
	l->y0 = l->scale * 4;
	l->w = (uint32_t)n * (GLYPH_W + 1) * l->scale - l->scale + 2 * l->pad;
	l->h = GLYPH_H * l->scale + 2 * l->pad;
}

/* Draws the label's part of row y into row (width pixels). */
static void label_row(const struct label *l, uint32_t y, uint8_t *row,
		      uint32_t width)
{
	uint32_t gy;

	if (y < l->y0 || y >= l->y0 + l->h)
		return;
	for (uint32_t x = l->x0; x < l->x0 + l->w && x < width; x++)
		row[x] = IDX_BLACK;
	if (y < l->y0 + l->pad || y >= l->y0 + l->pad + GLYPH_H * l->scale)
		return;
	gy = (y - l->y0 - l->pad) / l->scale;
	for (size_t i = 0; l->text[i]; i++) {
		char c = l->text[i];
		int g = c >= '0' && c <= '9' ? c - '0' : c == '-' ? 10 : -1;
		uint32_t cx = l->x0 + l->pad +
			      (uint32_t)i * (GLYPH_W + 1) * l->scale;

		if (g < 0)
			continue;
		for (uint32_t gx = 0; gx < GLYPH_W; gx++) {
			if (!(glyphs[g][gy] & (0x10 >> gx)))
				continue;
			for (uint32_t k = 0; k < l->scale; k++)
				if (cx + gx * l->scale + k < width)
					row[cx + gx * l->scale + k] = IDX_WHITE;
		}
	}
}

/* ---- frames ---- */

int sat_album_gif_size(const struct sat_album *a, uint32_t *width,
		       uint32_t *height, uint64_t *size_bytes)
{
	struct sat_gif_spec spec = {
		.nframes = (uint32_t)a->nframes,
		.delay_cs = (uint16_t)a->delay_cs,
		.transparent = SAT_ALBUM_TRANSPARENT,
		.palette = palette_get(),
	};

	if (a->nframes > SAT_GIF_MAX_FRAMES)
		return -EFBIG;
	for (size_t i = 0; i < a->nframes; i++) {
		const struct sat_grid *g = &a->frames[i].quicklook->grid;

		if (g->width > spec.width)
			spec.width = g->width;
		if (g->height > spec.height)
			spec.height = g->height;
	}
	*width = spec.width;
	*height = spec.height;
	return sat_gif_size(&spec, size_bytes);
}

struct gif_run {
	const struct sat_album *album;
	const struct sat_render_ctx *ctx;
	uint32_t width;
	size_t frame;          /* the frame open, or SIZE_MAX */
	int fd;                /* its quicklook's, while open */
	struct sat_png_reader *png;
	uint32_t qw, qh;       /* its quicklook's size */
	uint8_t *rgba;         /* one row of it */
	struct label label;
};

static void frame_close(struct gif_run *g)
{
	sat_png_reader_free(g->png);
	g->png = NULL;
	if (g->frame != SIZE_MAX)
		g->ctx->put(g->album->frames[g->frame].quicklook,
			    g->ctx->files_payload);
	g->frame = SIZE_MAX;
}

static int frame_open(struct gif_run *g, size_t f)
{
	const struct sat_album_frame *fr = &g->album->frames[f];
	int ret;

	frame_close(g);
	ret = g->ctx->get(fr->quicklook, &g->fd, g->ctx->files_payload);
	if (ret) {
		sat_log_cause("timelapse: the quicklook of %s: %s", fr->date,
			      strerror(-ret));
		return ret;
	}
	g->frame = f;
	ret = sat_png_reader_open(&g->png, g->fd, &g->qw, &g->qh);
	if (!ret && (g->qw > g->width || g->qw != fr->quicklook->grid.width ||
		     g->qh != fr->quicklook->grid.height))
		ret = -EIO;
	if (ret) {
		sat_log_cause("timelapse: the quicklook of %s cannot be read",
			      fr->date);
		return -EIO;
	}
	label_layout(&g->label, fr->date, g->width);
	return 0;
}

static int gif_row(uint32_t frame, uint32_t y, uint8_t *row, void *payload)
{
	struct gif_run *g = payload;
	int ret;

	if (y == 0) {
		ret = frame_open(g, frame);
		if (ret)
			return ret;
	}
	memset(row, SAT_ALBUM_TRANSPARENT, g->width);
	if (y < g->qh) {
		ret = sat_png_reader_row(g->png, g->rgba);
		if (ret)
			return ret;
		for (uint32_t x = 0; x < g->qw; x++)
			row[x] = to_index(g->rgba + 4 * (size_t)x, x, y);
	}
	label_row(&g->label, y, row, g->width);
	return 0;
}

int sat_album_gif_run(const struct sat_render_plan *plan,
		      const struct sat_render_ctx *ctx, int fd)
{
	const struct sat_album *a = plan->album;
	struct sat_render_plan **want;
	struct gif_run g = { .album = a, .ctx = ctx, .frame = SIZE_MAX };
	struct sat_gif_spec spec = {
		.nframes = (uint32_t)a->nframes,
		.delay_cs = (uint16_t)a->delay_cs,
		.transparent = SAT_ALBUM_TRANSPARENT,
		.palette = palette_get(),
	};
	uint64_t size;
	int ret;

	if (!ctx->get || !ctx->put)
		return -EINVAL;
	ret = sat_album_gif_size(a, &spec.width, &spec.height, &size);
	if (ret)
		return ret;
	/* every quicklook at once: the jobs render them in parallel while
	 * the frames are written in order */
	want = calloc(a->nframes, sizeof(*want));
	if (want && ctx->want) {
		for (size_t i = 0; i < a->nframes; i++)
			want[i] = a->frames[i].quicklook;
		ctx->want(want, a->nframes, ctx->files_payload);
	}
	free(want);
	g.width = spec.width;
	g.rgba = malloc((size_t)spec.width * 4);
	if (!g.rgba)
		return -ENOMEM;
	ret = sat_gif_write(fd, &spec, gif_row, &g);
	frame_close(&g);
	free(g.rgba);
	return ret;
}
