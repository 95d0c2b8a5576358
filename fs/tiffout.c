/*
 * tiffout: the GeoTIFF writer (libtiff), and the exact size of its output.
 *
 * One function, tiffout_run(), drives libtiff through TIFFClientOpenExt()
 * over a sink of our own. To write, the sink is the caller's fd (pwrite at
 * our own offset); to size, it is a sink that stores nothing and only keeps
 * the high-water mark. libtiff cannot tell the two apart, so the layout,
 * and with it the size, is the same byte for byte: that is what lets the
 * listing show exact sizes without rendering. Nothing is compressed, and
 * tiles go in with TIFFWriteRawTile() (raw bytes are the pixels), so the
 * layout depends on the spec alone.
 *
 * Writing a new single-directory file, libtiff never reads back what it
 * wrote; should it ever read back the header, the counting sink keeps its
 * first TIFFOUT_HEAD bytes and answers zeros beyond (and the size tests,
 * which compare the two modes, would notice any difference).
 *
 * Threading: no shared state apart from libtiff's tag registration, which
 * geotiff_tags.c does once for the process. Any thread may call; calls
 * block on the disk only.
 */
#include "satfs/tiffout.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tiffio.h>

#include "geotiff_tags.h"
#include "satfs/bufpool.h"
#include "satfs/cache.h"
#include "satfs/geom.h"
#include "satfs/log.h"

#define TIFFOUT_HEAD 4096
#define TIFFOUT_MAX_SIDE 65536

struct tiffout_sink {
	int fd;        /* -1: count only */
	struct sat_filehash *hash; /* fed what is written; may be NULL */
	uint64_t pos;  /* where the next write goes */
	uint64_t end;  /* high-water mark: the file size */
	int err;       /* first I/O error, as -errno */
	char msg[256]; /* first libtiff error message */
	uint8_t head[TIFFOUT_HEAD]; /* counting sink: the first bytes */
};

static tmsize_t sink_read(thandle_t h, void *buf, tmsize_t size)
{
	struct tiffout_sink *s = h;
	uint8_t *p = buf;
	tmsize_t done = 0;

	if (size <= 0)
		return 0;
	if (s->fd < 0) {
		if (s->pos >= s->end)
			return 0;
		if ((uint64_t)size > s->end - s->pos)
			size = (tmsize_t)(s->end - s->pos);
		memset(buf, 0, (size_t)size);
		if (s->pos < TIFFOUT_HEAD)
			memcpy(buf, s->head + s->pos,
			       TIFFOUT_HEAD - s->pos < (uint64_t)size
				       ? TIFFOUT_HEAD - s->pos
				       : (uint64_t)size);
		s->pos += (uint64_t)size;
		return size;
	}
	while (done < size) {
		ssize_t n = pread(s->fd, p + done, (size_t)(size - done),
				  (off_t)(s->pos + (uint64_t)done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (!s->err)
				s->err = errno == ENOSPC ? -ENOSPC : -EIO;
			return -1;
		}
		if (n == 0)
			break;
		done += n;
	}
	s->pos += (uint64_t)done;
	return done;
}

static tmsize_t sink_write(thandle_t h, void *buf, tmsize_t size)
{
	struct tiffout_sink *s = h;
	const uint8_t *p = buf;
	tmsize_t done = 0;

	if (size <= 0)
		return 0;
	if (s->fd < 0) {
		if (s->pos < TIFFOUT_HEAD) {
			uint64_t n = TIFFOUT_HEAD - s->pos;

			if (n > (uint64_t)size)
				n = (uint64_t)size;
			memcpy(s->head + s->pos, buf, n);
		}
		done = size;
	}
	while (done < size) {
		ssize_t n = pwrite(s->fd, p + done, (size_t)(size - done),
				   (off_t)(s->pos + (uint64_t)done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* The disk's errno goes up unchanged when it is one
			 * a caller can act on; anything else is -EIO. */
			if (!s->err)
				s->err = n < 0 && (errno == ENOSPC ||
						   errno == EDQUOT)
						 ? -errno
						 : -EIO;
			return -1;
		}
		done += n;
	}
	if (s->hash)
		sat_filehash_wrote(s->hash, s->pos, buf, (size_t)size);
	s->pos += (uint64_t)size;
	if (s->pos > s->end)
		s->end = s->pos;
	return size;
}

static toff_t sink_seek(thandle_t h, toff_t off, int whence)
{
	struct tiffout_sink *s = h;
	uint64_t base;

	switch (whence) {
	case SEEK_SET:
		base = 0;
		break;
	case SEEK_CUR:
		base = s->pos;
		break;
	case SEEK_END:
		base = s->end;
		break;
	default:
		return (toff_t)-1;
	}
	s->pos = base + off;
	return s->pos;
}

static int sink_close(thandle_t h)
{
	return 0;
}

static toff_t sink_size(thandle_t h)
{
	return ((struct tiffout_sink *)h)->end;
}

static int sink_map(thandle_t h, void **base, toff_t *size)
{
	return 0;
}

static void sink_unmap(thandle_t h, void *base, toff_t size)
{
}

/* libtiff's messages: keep the first error to log with our own failure,
 * and keep them all off stderr. */
__attribute__((format(printf, 4, 0)))
static int tiffout_on_error(TIFF *tif, void *payload, const char *module,
			    const char *fmt, va_list ap)
{
	struct tiffout_sink *s = payload;

	if (!s->msg[0])
		vsnprintf(s->msg, sizeof(s->msg), fmt, ap);
	return 1;
}

__attribute__((format(printf, 4, 0)))
static int tiffout_on_warning(TIFF *tif, void *payload, const char *module,
			      const char *fmt, va_list ap)
{
	char buf[256];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	sat_debug("tiffout: libtiff: %s: %s", module ? module : "", buf);
	return 1;
}

/* The error for a failed libtiff call: the disk's, when our sink saw one
 * (the caller logs it with the file name), else libtiff's own complaint,
 * which means a bug here and is logged. */
static int tiffout_failed(struct tiffout_sink *s)
{
	if (s->err)
		return s->err;
	sat_error("tiffout: libtiff: %s", s->msg[0] ? s->msg : "failed");
	return -EIO;
}

/* Checks the spec; *geographic says which GeoKeys the CRS takes. */
static int tiffout_check(const struct sat_tiffout_spec *spec,
			 bool *geographic)
{
	const struct sat_grid *g = spec ? spec->grid : NULL;
	int kind;

	if (!g || g->width == 0 || g->height == 0 ||
	    g->width > TIFFOUT_MAX_SIDE || g->height > TIFFOUT_MAX_SIDE)
		return -EINVAL;
	if (g->epsg <= 0 || g->epsg > 65535 || !(g->pixel_size > 0))
		return -EINVAL;
	switch (spec->sample_format) {
	case 0:
	case SAT_TIFFOUT_UINT:
	case SAT_TIFFOUT_INT:
		if (spec->bits != 8 && spec->bits != 16 && spec->bits != 32)
			return -EINVAL;
		break;
	case SAT_TIFFOUT_FLOAT:
		if (spec->bits != 32 && spec->bits != 64)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	if (spec->samples < 1 || spec->samples > SAT_TIFFOUT_MAX_SAMPLES)
		return -EINVAL;
	if (spec->alpha && spec->samples < 2)
		return -EINVAL;
	/* GeoKeys hold the code in 16 bits; PROJ says which kind it is. */
	kind = sat_geom_is_geographic(g->epsg);
	if (kind < 0)
		return kind;
	*geographic = kind;
	return 0;
}

/* Sets a registered GeoTIFF/GDAL tag whichever way it was registered. */
static int set_array(TIFF *tif, uint32_t tag, int count, const void *v)
{
	const TIFFField *f = TIFFFieldWithTag(tif, tag);

	if (!f)
		return 0;
	if (TIFFFieldPassCount(f))
		return TIFFSetField(tif, tag, count, v);
	return TIFFSetField(tif, tag, v);
}

static int set_ascii(TIFF *tif, uint32_t tag, const char *text)
{
	const TIFFField *f = TIFFFieldWithTag(tif, tag);

	if (!f)
		return 0;
	if (TIFFFieldPassCount(f))
		return TIFFSetField(tif, tag, (int)strlen(text) + 1, text);
	return TIFFSetField(tif, tag, text);
}

static int tiffout_set_tags(TIFF *tif, const struct sat_tiffout_spec *spec,
			    bool geo)
{
	const struct sat_grid *g = spec->grid;
	/* RGB(A) only for 8-bit colour; data bands are plain samples */
	bool rgb = spec->samples >= 3 && spec->bits == 8 &&
		   spec->sample_format <= SAT_TIFFOUT_UINT &&
		   (spec->alpha ? spec->samples == 4 : spec->samples == 3);
	uint16_t extra = spec->samples - (rgb ? 3 : 1);
	uint16_t extras[SAT_TIFFOUT_MAX_SAMPLES];
	double scale[3] = { g->pixel_size, g->pixel_size, 0 };
	double tie[6] = { 0, 0, 0, g->origin_x, g->origin_y, 0 };
	uint16_t keys[16] = {
		1, 1, 0, 3, /* version 1.1.0, three keys, sorted by id */
		SAT_GEOKEY_MODELTYPE, 0, 1,
		geo ? SAT_MODELTYPE_GEOGRAPHIC : SAT_MODELTYPE_PROJECTED,
		SAT_GEOKEY_RASTERTYPE, 0, 1, SAT_RASTER_PIXELISAREA,
		geo ? SAT_GEOKEY_GEOGRAPHICTYPE : SAT_GEOKEY_PROJECTEDCSTYPE,
		0, 1, (uint16_t)g->epsg,
	};
	int ok = 1;

	for (uint16_t i = 0; i < extra; i++)
		extras[i] = EXTRASAMPLE_UNSPECIFIED;
	if (extra && spec->alpha)
		extras[extra - 1] = EXTRASAMPLE_UNASSALPHA;

	ok &= TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, g->width);
	ok &= TIFFSetField(tif, TIFFTAG_IMAGELENGTH, g->height);
	ok &= TIFFSetField(tif, TIFFTAG_TILEWIDTH, SAT_TIFFOUT_TILE);
	ok &= TIFFSetField(tif, TIFFTAG_TILELENGTH, SAT_TIFFOUT_TILE);
	ok &= TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, spec->bits);
	ok &= TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, spec->samples);
	ok &= TIFFSetField(tif, TIFFTAG_SAMPLEFORMAT,
			   spec->sample_format ? spec->sample_format
					       : SAMPLEFORMAT_UINT);
	ok &= TIFFSetField(tif, TIFFTAG_PHOTOMETRIC,
			   rgb ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK);
	if (extra)
		ok &= TIFFSetField(tif, TIFFTAG_EXTRASAMPLES, extra, extras);
	ok &= TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
	ok &= TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
	ok &= set_array(tif, SAT_TIFFTAG_MODELPIXELSCALE, 3, scale);
	ok &= set_array(tif, SAT_TIFFTAG_MODELTIEPOINT, 6, tie);
	ok &= set_array(tif, SAT_TIFFTAG_GEOKEYDIRECTORY, 16, keys);
	if (spec->gdal_metadata)
		ok &= set_ascii(tif, SAT_TIFFTAG_GDAL_METADATA,
				spec->gdal_metadata);
	if (spec->nodata)
		ok &= set_ascii(tif, SAT_TIFFTAG_GDAL_NODATA, spec->nodata);
	return ok ? 0 : -EINVAL;
}

/* Zeroes what lies past the image edge in an edge tile, so that the same
 * render always gives the same bytes whatever the callback left there. */
static void tiffout_clear_edge(uint8_t *buf, uint32_t valid_w,
			       uint32_t valid_h, size_t pixel_bytes)
{
	size_t row = SAT_TIFFOUT_TILE * pixel_bytes;
	size_t used = valid_w * pixel_bytes;

	if (valid_w < SAT_TIFFOUT_TILE) {
		for (uint32_t y = 0; y < valid_h; y++)
			memset(buf + y * row + used, 0, row - used);
	}
	if (valid_h < SAT_TIFFOUT_TILE)
		memset(buf + valid_h * row, 0,
		       (SAT_TIFFOUT_TILE - valid_h) * row);
}

/* Writes tile (tx, ty): filled by the callback, or zeros when sizing. */
static int tiffout_tile(TIFF *tif, const struct sat_tiffout_spec *spec,
			uint32_t tx, uint32_t ty, uint8_t *buf,
			sat_tiffout_tile_fn fill, void *payload)
{
	const struct sat_grid *g = spec->grid;
	size_t pixel_bytes = (size_t)spec->samples * (spec->bits / 8);
	size_t tile_bytes = (size_t)SAT_TIFFOUT_TILE * SAT_TIFFOUT_TILE *
			    pixel_bytes;
	uint32_t x = tx * SAT_TIFFOUT_TILE, y = ty * SAT_TIFFOUT_TILE;
	uint32_t vw = g->width - x, vh = g->height - y;
	int ret;

	if (fill) {
		ret = fill(tx, ty, buf, payload);
		if (ret)
			return ret;
		if (vw > SAT_TIFFOUT_TILE)
			vw = SAT_TIFFOUT_TILE;
		if (vh > SAT_TIFFOUT_TILE)
			vh = SAT_TIFFOUT_TILE;
		tiffout_clear_edge(buf, vw, vh, pixel_bytes);
	}
	if (TIFFWriteRawTile(tif, TIFFComputeTile(tif, x, y, 0, 0), buf,
			     (tmsize_t)tile_bytes) < 0)
		return tiffout_failed(TIFFClientdata(tif));
	return 0;
}

/* The metadata the caller knows only now, in place of the placeholder
 * that laid the file out (so of its length). */
static int tiffout_late_metadata(TIFF *tif,
				 const struct sat_tiffout_spec *spec,
				 sat_tiffout_tile_fn fill, void *payload)
{
	const char *m = NULL;
	int ret;

	if (!fill || !spec->late_metadata)
		return 0; /* sizing, or nothing to change */
	ret = spec->late_metadata(&m, payload);
	if (ret || !m)
		return ret;
	if (!spec->gdal_metadata ||
	    strlen(m) != strlen(spec->gdal_metadata)) {
		sat_error("tiffout: late metadata of %zu bytes, laid out for "
			  "%zu", strlen(m),
			  spec->gdal_metadata ? strlen(spec->gdal_metadata)
					      : 0);
		return -EINVAL;
	}
	return set_ascii(tif, SAT_TIFFTAG_GDAL_METADATA, m) ? 0 : -EINVAL;
}

/* Classic TIFF offsets are 32 bits: bigger files become BigTIFF. Decided
 * from the spec alone (with room for the directory), like everything else
 * in the layout. */
static const char *tiffout_mode(const struct sat_tiffout_spec *spec,
				size_t tile_bytes)
{
	const struct sat_grid *g = spec->grid;
	uint64_t tx = (g->width + SAT_TIFFOUT_TILE - 1) / SAT_TIFFOUT_TILE;
	uint64_t ty = (g->height + SAT_TIFFOUT_TILE - 1) / SAT_TIFFOUT_TILE;
	uint64_t est = tx * ty * (tile_bytes + 16) + 65536;

	if (spec->gdal_metadata)
		est += strlen(spec->gdal_metadata);
	if (spec->nodata)
		est += strlen(spec->nodata);
	return est > UINT32_MAX ? "w8m" : "wm";
}

static int tiffout_run(struct tiffout_sink *s,
		       const struct sat_tiffout_spec *spec,
		       sat_tiffout_tile_fn fill, void *payload)
{
	const struct sat_grid *g;
	size_t pixel_bytes, tile_bytes;
	uint32_t tiles_x, tiles_y;
	TIFFOpenOptions *opts = NULL;
	TIFF *tif = NULL;
	uint8_t *buf = NULL;
	bool geographic = false;
	int ret = tiffout_check(spec, &geographic);

	if (ret)
		return ret;
	g = spec->grid;
	pixel_bytes = (size_t)spec->samples * (spec->bits / 8);
	tile_bytes = (size_t)SAT_TIFFOUT_TILE * SAT_TIFFOUT_TILE * pixel_bytes;
	tiles_x = (g->width + SAT_TIFFOUT_TILE - 1) / SAT_TIFFOUT_TILE;
	tiles_y = (g->height + SAT_TIFFOUT_TILE - 1) / SAT_TIFFOUT_TILE;

	sat_geotiff_tags_register();
	/* Zeroed: the counting sink writes it as it is. A render's is
	 * written for every tile: in huge pages, a fault per 2 MiB rather
	 * than per 4 KiB, where sizing takes calloc's untouched pages. */
	if (fill) {
		buf = sat_buf_alloc_packed(tile_bytes);
		if (buf)
			memset(buf, 0, tile_bytes);
	} else {
		buf = calloc(1, tile_bytes);
	}
	opts = TIFFOpenOptionsAlloc();
	if (!buf || !opts) {
		ret = -ENOMEM;
		goto out;
	}
	TIFFOpenOptionsSetErrorHandlerExtR(opts, tiffout_on_error, s);
	TIFFOpenOptionsSetWarningHandlerExtR(opts, tiffout_on_warning, s);
	tif = TIFFClientOpenExt("satfs-output", tiffout_mode(spec, tile_bytes),
				s, sink_read, sink_write, sink_seek,
				sink_close, sink_size, sink_map, sink_unmap,
				opts);
	if (!tif) {
		ret = tiffout_failed(s);
		goto out;
	}
	ret = tiffout_set_tags(tif, spec, geographic);
	if (ret)
		goto out;
	for (uint32_t ty = 0; ty < tiles_y; ty++) {
		for (uint32_t tx = 0; tx < tiles_x; tx++) {
			ret = tiffout_tile(tif, spec, tx, ty, buf, fill,
					   payload);
			if (ret)
				goto out;
		}
	}
	ret = tiffout_late_metadata(tif, spec, fill, payload);
	if (ret)
		goto out;
	if (!TIFFWriteDirectory(tif))
		ret = tiffout_failed(s);
out:
	/* TIFFCleanup, not TIFFClose: after a failure, nothing more may be
	 * written (TIFFClose would try to write the directory). */
	if (tif)
		TIFFCleanup(tif);
	TIFFOpenOptionsFree(opts);
	if (fill)
		sat_buf_free(buf);
	else
		free(buf);
	return ret;
}

int sat_tiffout_layout(const struct sat_tiffout_spec *spec,
		       uint64_t *size_bytes,
		       uint8_t header[SAT_TIFFOUT_HEADER_MAX],
		       size_t *nheader)
{
	struct tiffout_sink *s = calloc(1, sizeof(*s));
	int ret;

	*size_bytes = 0;
	if (nheader)
		*nheader = 0;
	if (!s)
		return -ENOMEM;
	s->fd = -1;
	ret = tiffout_run(s, spec, NULL, NULL);
	if (!ret)
		*size_bytes = s->end;
	if (!ret && nheader && s->end >= SAT_TIFFOUT_HEADER_MAX) {
		/* the counting sink kept the head as written, header
		 * rewritten: classic TIFF (42) 8 bytes, BigTIFF (43) 16 */
		*nheader = s->head[2] == 43 || s->head[3] == 43 ? 16 : 8;
		memcpy(header, s->head, *nheader);
	}
	free(s);
	return ret;
}

int sat_tiffout_size(const struct sat_tiffout_spec *spec,
		     uint64_t *size_bytes)
{
	return sat_tiffout_layout(spec, size_bytes, NULL, NULL);
}

int sat_tiffout_write(int fd, const struct sat_tiffout_spec *spec,
		      sat_tiffout_tile_fn fill, void *payload)
{
	struct tiffout_sink *s;
	struct stat st;
	int ret;

	if (fd < 0 || !fill)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fd = fd;
	s->hash = spec->hash;
	ret = tiffout_run(s, spec, fill, payload);
	/* A reused file may have been longer: cut it to what we wrote, so
	 * that its size is the one sat_tiffout_size() announced. */
	if (!ret && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size > s->end && ftruncate(fd, (off_t)s->end))
		ret = -EIO;
	free(s);
	return ret;
}
