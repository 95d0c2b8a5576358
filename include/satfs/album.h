/*
 * album: the files made of other files (docs/ARCHITECTURE.md "Rendering
 * rules", rule 10): a region's time-lapse (timelapse.PRODUCT.gif, one
 * frame per date from the date's quicklook, the date written on it) and
 * its page (index.html: every date, its scenes with their cloud covers,
 * quicklooks and links to every file).
 *
 * Such a file has a render plan like any other (format SAT_RENDER_GIF or
 * SAT_RENDER_HTML, with its struct sat_album), made at listing time with
 * its exact size and cache key, rendered by a render job, cached, served.
 * A time-lapse reads the quicklooks through the render context's
 * want/get/put (the jobs render the missing ones); a page asks the region
 * cloud covers, which it shows in fields of fixed width so that its size
 * never depends on them.
 *
 * Threading: an album is immutable once its plan is made; running one
 * blocks (any thread but the fetch I/O thread and FUSE threads).
 */
#ifndef SATFS_ALBUM_H
#define SATFS_ALBUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sat_render_ctx;
struct sat_render_plan;

/* Which files a scene or a date's mosaic has, per product. */
#define SAT_ALBUM_TIF 1u
#define SAT_ALBUM_PNG 2u

struct sat_album_scene {
	char *file_id;            /* as in its file names */
	bool has_cloud;           /* the catalog's cloud cover */
	double cloud_cover;
	struct sat_render_plan *cloud_plan; /* a reference to a plan of it,
					       for its region cloud cover;
					       NULL: none */
	uint8_t *files;           /* per product: SAT_ALBUM_TIF | _PNG */
};

struct sat_album_date {
	char date[16];            /* YYYY-MM-DD, its directory */
	size_t first, n;          /* its scenes, in scenes[] */
	uint8_t *mosaic;          /* per product: SAT_ALBUM_TIF | _PNG */
};

struct sat_album_frame {
	char date[16];
	struct sat_render_plan *quicklook; /* a reference */
};

struct sat_album {
	char *region;
	/* a time-lapse: its frames, in date order */
	struct sat_album_frame *frames;
	size_t nframes;
	unsigned delay_cs;        /* per frame, hundredths of a second */
	/* a page */
	char **products;          /* every product's name, nproducts */
	size_t nproducts;
	bool *timelapse;          /* per product: timelapse.PRODUCT.gif */
	struct sat_album_scene *scenes;
	size_t nscenes;
	struct sat_album_date *dates;
	size_t ndates;
};

/* An empty album for region (copied); NULL when out of memory. Fill its
 * arrays (malloc'd; the album frees them and drops the references). */
struct sat_album *sat_album_new(const char *region);
void sat_album_free(struct sat_album *a);

/* The plan of timelapse.PRODUCT.gif from album's frames (at least one);
 * takes album over, also on failure. The screen is the largest quicklook,
 * the frames at its top left. 0, -EINVAL, -ENOMEM. */
int sat_album_plan_timelapse(struct sat_render_plan **out,
			     struct sat_album *album, const char *product);
/* The plan of index.html from album's page; takes album over. */
int sat_album_plan_index(struct sat_render_plan **out,
			 struct sat_album *album);

/* Renders plan (GIF or HTML) into fd. 0 or -errno, with the cause left by
 * sat_log_cause. Blocks. */
int sat_album_run(const struct sat_render_plan *plan,
		  const struct sat_render_ctx *ctx, int fd);

/* album_gif.c, for album.c: the time-lapse's size and writer. Palette
 * index SAT_ALBUM_TRANSPARENT is the transparent colour. */
#define SAT_ALBUM_TRANSPARENT 252
int sat_album_gif_size(const struct sat_album *a, uint32_t *width,
		       uint32_t *height, uint64_t *size_bytes);
int sat_album_gif_run(const struct sat_render_plan *plan,
		      const struct sat_render_ctx *ctx, int fd);

#endif
