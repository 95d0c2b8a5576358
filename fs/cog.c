/*
 * cog: see include/satfs/cog.h.
 *
 * Opening is two passes over the caller's bytes. First ifd_walk() follows
 * the IFD chain itself (classic and BigTIFF, both byte orders) to learn how
 * far every IFD and out-of-line tag value reaches; past len, we answer
 * -EAGAIN with that exact prefix, or with a generous guess when an IFD is
 * out of reach, so that a normal COG needs at most one retry (libtiff alone
 * drops a short tag or fails, but never says how many bytes it lacked).
 * Then libtiff parses the bytes, now complete, from memory, and we copy out
 * each level's layout and whole tile offset/length arrays: nothing is read
 * from the header after sat_cog_open().
 *
 * Threading: a struct sat_cog is immutable after sat_cog_open(). For each
 * sat_cog_decode_tile() we open a fresh TIFF handle on the stored header
 * (deferred strile loading, so only the IFDs are parsed) instead of pooling
 * handles behind a mutex: a TIFF handle carries codec state and may not be
 * shared, and the fresh open costs about 15 us against 1.8 ms to inflate a
 * 512x512 tile of the test scene and 2.9 ms for a 1024x1024 DEFLATE +
 * predictor tile (measured, -O2), so a pool would buy nothing but locking
 * and bookkeeping of handles left in an error state.
 *
 * Every libtiff message goes through per-handle handlers to the log at
 * debug level (the caller reports the failed operation once, with the
 * URL); an error or warning during a decode fails it even if libtiff then
 * claims success.
 */
#include "satfs/cog.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>

#include "geotiff_tags.h"
#include "satfs/log.h"

#define COG_MAX_HEADER (16u << 20)   /* IFDs and their arrays */
#define COG_MAX_ALLOC (256u << 20)   /* libtiff single allocation */
#define COG_FIRST_GUESS (16u << 10)  /* when an IFD's size is unknown */
#define COG_MAX_IFDS 64
#define COG_MAX_LEVELS 32
#define COG_MAX_SIDE (1u << 20)
#define COG_MAX_TILE_SIDE 4096
#define COG_MAX_SAMPLES 16
#define COG_MAX_TILE_BYTES (256u << 20)

struct cog_level {
	struct sat_cog_level pub;
	uint16_t dir;         /* index of its IFD in the chain */
	uint16_t compression;
	uint16_t photometric;
	size_t tile_bytes;    /* decoded size of one tile */
	uint64_t *offsets;    /* tiles_across * tiles_down, row-major */
	uint64_t *lengths;
};

struct sat_cog {
	uint8_t *header;
	size_t header_len;
	size_t nlevels;
	struct cog_level levels[COG_MAX_LEVELS];
	int epsg;
	bool has_nodata;
	double nodata;
};

/* ---- pass 1: the IFD chain, by hand ---------------------------------- */

struct ifd_walk {
	const uint8_t *buf;
	uint64_t len;
	bool big_endian, bigtiff;
	size_t nifds;
	struct ifd_info { /* counts of tags 324/325 */
		uint64_t tile_offsets, tile_bytecounts;
	} ifds[COG_MAX_IFDS];
	uint64_t extent;   /* end of everything known to be needed */
	uint64_t guess;    /* when an IFD was out of reach: its end, guessed */
};

static uint64_t rd(const struct ifd_walk *w, uint64_t off, unsigned n)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < n; i++) {
		unsigned b = w->big_endian ? i : n - 1 - i;

		v = (v << 8) | w->buf[off + b];
	}
	return v;
}

static unsigned tiff_type_size(uint16_t type)
{
	switch (type) {
	case TIFF_BYTE: case TIFF_ASCII: case TIFF_SBYTE: case TIFF_UNDEFINED:
		return 1;
	case TIFF_SHORT: case TIFF_SSHORT:
		return 2;
	case TIFF_LONG: case TIFF_SLONG: case TIFF_FLOAT: case TIFF_IFD:
		return 4;
	case TIFF_RATIONAL: case TIFF_SRATIONAL: case TIFF_DOUBLE:
	case TIFF_LONG8: case TIFF_SLONG8: case TIFF_IFD8:
		return 8;
	default:
		return 0; /* libtiff skips entries of unknown type */
	}
}

static void ifd_need(struct ifd_walk *w, uint64_t end)
{
	if (end > w->extent)
		w->extent = end;
}

/* Reads the entries of the IFD at off (known to be within len). Returns
 * the offset of the next IFD, or sets *err. */
static uint64_t ifd_entries(struct ifd_walk *w, uint64_t off, uint64_t n,
			    struct ifd_info *info, int *err)
{
	unsigned esize = w->bigtiff ? 20 : 12, word = w->bigtiff ? 8 : 4;
	uint64_t i, e, count, size, data;
	unsigned tsize;
	uint16_t tag;

	for (i = 0; i < n; i++) {
		e = off + (w->bigtiff ? 8 : 2) + i * esize;
		tag = (uint16_t)rd(w, e, 2);
		tsize = tiff_type_size((uint16_t)rd(w, e + 2, 2));
		count = rd(w, e + 4, word);
		if (tag == TIFFTAG_TILEOFFSETS)
			info->tile_offsets = count;
		else if (tag == TIFFTAG_TILEBYTECOUNTS)
			info->tile_bytecounts = count;
		if (tsize == 0)
			continue;
		if (count > COG_MAX_HEADER / tsize) {
			*err = -EINVAL;
			return 0;
		}
		size = count * tsize;
		if (size <= word)
			continue; /* value inline */
		data = rd(w, e + 4 + word, word);
		if (data > COG_MAX_HEADER || size > COG_MAX_HEADER - data) {
			*err = -EINVAL;
			return 0;
		}
		ifd_need(w, data + size);
	}
	return rd(w, off + (w->bigtiff ? 8 : 2) + n * esize, word);
}

static int ifd_walk(struct ifd_walk *w)
{
	unsigned csize, esize, word;
	uint64_t off, n, end;
	int err = 0;

	if (w->len < 16) {
		w->guess = COG_FIRST_GUESS;
		return 0;
	}
	if (w->buf[0] == 'I' && w->buf[1] == 'I')
		w->big_endian = false;
	else if (w->buf[0] == 'M' && w->buf[1] == 'M')
		w->big_endian = true;
	else
		return -EINVAL;
	switch (rd(w, 2, 2)) {
	case 42:
		off = rd(w, 4, 4);
		ifd_need(w, 8);
		break;
	case 43:
		if (rd(w, 4, 2) != 8 || rd(w, 6, 2) != 0)
			return -EINVAL;
		w->bigtiff = true;
		off = rd(w, 8, 8);
		ifd_need(w, 16);
		break;
	default:
		return -EINVAL;
	}
	csize = w->bigtiff ? 8 : 2;
	esize = w->bigtiff ? 20 : 12;
	word = w->bigtiff ? 8 : 4;
	while (off != 0) {
		/* A loop in the chain ends here too, after COG_MAX_IFDS. */
		if (w->nifds == COG_MAX_IFDS || off > COG_MAX_HEADER ||
		    off < 8)
			return -EINVAL;
		if (off + csize > w->len) {
			w->guess = off + COG_FIRST_GUESS;
			return 0;
		}
		n = rd(w, off, csize);
		if (n == 0 || n > 4096)
			return -EINVAL; /* libtiff's own sanity limit */
		end = off + csize + n * esize + word;
		if (end > COG_MAX_HEADER)
			return -EINVAL;
		if (end > w->len) {
			/* Its values and the IFDs after it are unknown. */
			w->guess = end + COG_FIRST_GUESS;
			return 0;
		}
		ifd_need(w, end);
		off = ifd_entries(w, off, n, &w->ifds[w->nifds], &err);
		if (err)
			return err;
		w->nifds++;
	}
	return 0;
}

/* ---- pass 2: libtiff over memory ------------------------------------- */

struct mem_src {
	const uint8_t *buf;
	uint64_t len;
	uint64_t pos;
	uint64_t wanted; /* highest end offset libtiff tried to read */
	int errors;      /* error messages libtiff reported */
	int warnings;    /* warnings, e.g. libjpeg's "Premature end" */
};

static tmsize_t mem_read(thandle_t h, void *dst, tmsize_t n)
{
	struct mem_src *s = h;
	uint64_t avail;

	if (n <= 0)
		return 0;
	if (s->pos + (uint64_t)n > s->wanted)
		s->wanted = s->pos + (uint64_t)n;
	if (s->pos >= s->len)
		return 0;
	avail = s->len - s->pos;
	if ((uint64_t)n > avail)
		n = (tmsize_t)avail;
	memcpy(dst, s->buf + s->pos, (size_t)n);
	s->pos += (uint64_t)n;
	return n;
}

static tmsize_t mem_write(thandle_t h, void *src, tmsize_t n)
{
	return -1;
}

static toff_t mem_seek(thandle_t h, toff_t off, int whence)
{
	struct mem_src *s = h;

	if (whence == SEEK_SET)
		s->pos = off;
	else if (whence == SEEK_CUR)
		s->pos += off;
	else if (whence == SEEK_END)
		s->pos = s->len + off;
	else
		return (toff_t)-1;
	return s->pos;
}

static int mem_close(thandle_t h)
{
	return 0;
}

static toff_t mem_size(thandle_t h)
{
	return ((struct mem_src *)h)->len;
}

__attribute__((format(printf, 4, 0)))
static int tiff_error(TIFF *tif, void *payload, const char *module,
		      const char *fmt, va_list ap)
{
	struct mem_src *s = payload;
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	sat_debug("cog: libtiff: %s: %s", module ? module : "-", msg);
	if (s)
		s->errors++;
	return 1; /* handled: the global handler is not called */
}

__attribute__((format(printf, 4, 0)))
static int tiff_warning(TIFF *tif, void *payload, const char *module,
			const char *fmt, va_list ap)
{
	struct mem_src *s = payload;
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	sat_debug("cog: libtiff warning: %s: %s", module ? module : "-", msg);
	if (s)
		s->warnings++;
	return 1;
}

/* Mode "rmD": read-only, not mapped (no map procs: libtiff reads through
 * mem_read), strile arrays loaded only when asked for (the decoder never
 * asks). */
static TIFF *tiff_open(struct mem_src *src)
{
	TIFFOpenOptions *opts;
	TIFF *tif;

	sat_geotiff_tags_register();
	opts = TIFFOpenOptionsAlloc();
	if (!opts)
		return NULL;
	TIFFOpenOptionsSetMaxSingleMemAlloc(opts, COG_MAX_ALLOC);
	TIFFOpenOptionsSetErrorHandlerExtR(opts, tiff_error, src);
	TIFFOpenOptionsSetWarningHandlerExtR(opts, tiff_warning, src);
	tif = TIFFClientOpenExt("cog", "rmD", src, mem_read, mem_write,
				mem_seek, mem_close, mem_size, NULL, NULL,
				opts);
	TIFFOpenOptionsFree(opts);
	return tif;
}

static bool codec_supported(uint16_t c)
{
	switch (c) {
	case COMPRESSION_NONE: case COMPRESSION_LZW: case COMPRESSION_JPEG:
	case COMPRESSION_ADOBE_DEFLATE: case COMPRESSION_DEFLATE:
	case COMPRESSION_PACKBITS: case COMPRESSION_ZSTD:
	case COMPRESSION_LZMA: case COMPRESSION_WEBP:
		/* These only read their input: TIFFReadFromUserBuffer()
		 * may be handed the caller's const bytes. */
		return TIFFIsCODECConfigured(c);
	default:
		return false;
	}
}

/* Fills the layout of the current directory into l. Returns 0, 1 to skip
 * this IFD, or -errno. */
static int level_layout(TIFF *tif, const struct ifd_info *info, bool first,
			struct cog_level *l)
{
	uint32_t subfile = 0, w = 0, h = 0, tw = 0, th = 0;
	uint16_t spp = 1, bps = 1, fmt = 1, comp = 1, planar = 1, photo = 0;
	uint16_t fill = FILLORDER_MSB2LSB;
	uint64_t ntiles;

	TIFFGetFieldDefaulted(tif, TIFFTAG_SUBFILETYPE, &subfile);
	if (subfile & FILETYPE_MASK)
		return 1;
	if (!first && !(subfile & FILETYPE_REDUCEDIMAGE))
		return 1; /* another page, not an overview */
	if (!TIFFIsTiled(tif)) {
		sat_debug("cog: stripped TIFF, not a COG");
		return first ? -EINVAL : 1;
	}
	if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w) ||
	    !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h) ||
	    !TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw) ||
	    !TIFFGetField(tif, TIFFTAG_TILELENGTH, &th))
		return -EINVAL;
	TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
	TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
	TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &fmt);
	TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &comp);
	TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
	TIFFGetFieldDefaulted(tif, TIFFTAG_FILLORDER, &fill);
	TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photo);
	if (w == 0 || h == 0 || w > COG_MAX_SIDE || h > COG_MAX_SIDE ||
	    tw == 0 || th == 0 || tw > COG_MAX_TILE_SIDE ||
	    th > COG_MAX_TILE_SIDE || spp == 0 || spp > COG_MAX_SAMPLES ||
	    (bps != 8 && bps != 16 && bps != 32) ||
	    (fmt != SAMPLEFORMAT_UINT && fmt != SAMPLEFORMAT_INT &&
	     fmt != SAMPLEFORMAT_IEEEFP) ||
	    (fmt == SAMPLEFORMAT_IEEEFP && bps != 32))
		return -EINVAL;
	/* Subsampled YCbCr is read only through JPEG, which converts it to
	 * RGB for us. */
	if ((planar == PLANARCONFIG_SEPARATE && spp > 1) ||
	    (photo == PHOTOMETRIC_YCBCR && comp != COMPRESSION_JPEG) ||
	    fill != FILLORDER_MSB2LSB || !codec_supported(comp)) {
		sat_debug("cog: unsupported layout (planar %u, compression %u)",
			  planar, comp);
		return -ENOTSUP;
	}
	l->pub.width = w;
	l->pub.height = h;
	l->pub.tile_width = tw;
	l->pub.tile_height = th;
	l->pub.tiles_across = (w + tw - 1) / tw;
	l->pub.tiles_down = (h + th - 1) / th;
	l->pub.samples = spp;
	l->pub.bits = bps;
	l->pub.sample_format = fmt;
	l->compression = comp;
	l->photometric = photo;
	l->tile_bytes = (size_t)tw * th * spp * (bps / 8);
	if (l->tile_bytes > COG_MAX_TILE_BYTES)
		return -EINVAL;
	ntiles = (uint64_t)l->pub.tiles_across * l->pub.tiles_down;
	if (info->tile_offsets != ntiles || info->tile_bytecounts != ntiles ||
	    TIFFNumberOfTiles(tif) != ntiles)
		return -EINVAL;
	return 0;
}

static int level_arrays(TIFF *tif, struct cog_level *l)
{
	uint32_t i, n = l->pub.tiles_across * l->pub.tiles_down;
	int err = 0;

	l->offsets = calloc(n, sizeof(*l->offsets));
	l->lengths = calloc(n, sizeof(*l->lengths));
	if (!l->offsets || !l->lengths)
		return -ENOMEM;
	for (i = 0; i < n && !err; i++) {
		l->offsets[i] = TIFFGetStrileOffsetWithErr(tif, i, &err);
		if (!err)
			l->lengths[i] = TIFFGetStrileByteCountWithErr(tif, i,
								      &err);
	}
	return err ? -EINVAL : 0;
}

/* Looks a short-valued GeoKey up in the key directory. */
static bool geokey(const uint16_t *k, uint16_t n, uint16_t id, uint16_t *val)
{
	uint32_t i, nkeys;
	const uint16_t *e;

	if (n < 4)
		return false;
	nkeys = k[3];
	if (nkeys > (uint32_t)(n - 4) / 4)
		nkeys = (uint32_t)(n - 4) / 4;
	for (i = 0; i < nkeys; i++) {
		e = k + 4 + 4 * i;
		if (e[0] != id || e[2] < 1)
			continue;
		if (e[1] == 0) {
			*val = e[3];
			return true;
		}
		if (e[1] == SAT_TIFFTAG_GEOKEYDIRECTORY && e[3] < n) {
			*val = k[e[3]];
			return true;
		}
		return false;
	}
	return false;
}

/* Geotransform of level 0, EPSG code and nodata, from the first IFD. */
static int read_geo(struct sat_cog *cog, TIFF *tif)
{
	struct sat_cog_level *l0 = &cog->levels[0].pub;
	uint16_t n = 0, n2 = 0, nkeys = 0, model = 0, raster = 0, code = 0;
	double *m = NULL, *scale = NULL, *tie = NULL;
	uint16_t *keys = NULL;
	char *text = NULL, *end;

	if (TIFFGetField(tif, SAT_TIFFTAG_MODELTRANSFORMATION, &n, &m) &&
	    n >= 16 && m) {
		if (m[1] != 0.0 || m[4] != 0.0) {
			sat_debug("cog: rotated geotransform");
			return -ENOTSUP;
		}
		l0->origin_x = m[3];
		l0->origin_y = m[7];
		l0->pixel_x = m[0];
		l0->pixel_y = -m[5];
	} else if (TIFFGetField(tif, SAT_TIFFTAG_MODELPIXELSCALE, &n, &scale) &&
		   n >= 2 && scale &&
		   TIFFGetField(tif, SAT_TIFFTAG_MODELTIEPOINT, &n2, &tie) &&
		   n2 >= 6 && tie) {
		l0->pixel_x = scale[0];
		l0->pixel_y = scale[1];
		l0->origin_x = tie[3] - tie[0] * scale[0];
		l0->origin_y = tie[4] + tie[1] * scale[1];
	} else {
		sat_debug("cog: no geotransform");
		return -EINVAL;
	}
	if (!isfinite(l0->origin_x) || !isfinite(l0->origin_y) ||
	    !isfinite(l0->pixel_x) || !isfinite(l0->pixel_y))
		return -EINVAL;
	if (!(l0->pixel_x > 0) || !(l0->pixel_y > 0)) {
		sat_debug("cog: not north-up");
		return -ENOTSUP;
	}
	if (TIFFGetField(tif, SAT_TIFFTAG_GEOKEYDIRECTORY, &nkeys, &keys) &&
	    keys) {
		geokey(keys, nkeys, SAT_GEOKEY_MODELTYPE, &model);
		geokey(keys, nkeys, SAT_GEOKEY_RASTERTYPE, &raster);
		/* Without ModelType, whichever code is there. */
		if (model != SAT_MODELTYPE_GEOGRAPHIC)
			geokey(keys, nkeys, SAT_GEOKEY_PROJECTEDCSTYPE, &code);
		if (model != SAT_MODELTYPE_PROJECTED && code == 0)
			geokey(keys, nkeys, SAT_GEOKEY_GEOGRAPHICTYPE, &code);
		cog->epsg = code == SAT_GEOKEY_USERDEFINED ? 0 : code;
	}
	/* The tie point names a pixel's centre: the corner is half a pixel
	 * up and left, as GDAL reads it. */
	if (raster == SAT_RASTER_PIXELISPOINT) {
		l0->origin_x -= 0.5 * l0->pixel_x;
		l0->origin_y += 0.5 * l0->pixel_y;
	}
	if (TIFFGetField(tif, SAT_TIFFTAG_GDAL_NODATA, &text) && text) {
		cog->nodata = strtod(text, &end);
		cog->has_nodata = end != text;
	}
	return 0;
}

static int read_levels(struct sat_cog *cog, TIFF *tif,
		       const struct ifd_walk *w)
{
	struct cog_level *l, *l0 = &cog->levels[0];
	size_t dir;
	int err;

	for (dir = 0;; dir++) {
		if (dir >= w->nifds)
			return -EINVAL; /* libtiff saw an IFD we did not */
		l = &cog->levels[cog->nlevels];
		err = level_layout(tif, &w->ifds[dir], cog->nlevels == 0, l);
		if (err < 0)
			return err;
		if (err == 0 && cog->nlevels > 0 &&
		    (l->pub.samples != l0->pub.samples ||
		     l->pub.bits != l0->pub.bits ||
		     l->pub.sample_format != l0->pub.sample_format ||
		     l->pub.width >= cog->levels[cog->nlevels - 1].pub.width))
			err = 1; /* not an overview we can use in its place */
		if (err == 0) {
			l->dir = (uint16_t)dir;
			err = level_arrays(tif, l);
			cog->nlevels++;
			if (err)
				return err;
			if (cog->nlevels == 1 && (err = read_geo(cog, tif)))
				return err;
		}
		if (TIFFLastDirectory(tif) || cog->nlevels == COG_MAX_LEVELS)
			break;
		if (!TIFFReadDirectory(tif))
			return -EINVAL;
	}
	return cog->nlevels ? 0 : -EINVAL;
}

/* Overviews share level 0's origin; their pixel size is level 0's scaled
 * by the size ratio (GDAL's rule). */
static void overview_geo(struct sat_cog *cog)
{
	const struct sat_cog_level *l0 = &cog->levels[0].pub;
	struct sat_cog_level *l;
	size_t i;

	for (i = 1; i < cog->nlevels; i++) {
		l = &cog->levels[i].pub;
		l->origin_x = l0->origin_x;
		l->origin_y = l0->origin_y;
		l->pixel_x = l0->pixel_x * l0->width / l->width;
		l->pixel_y = l0->pixel_y * l0->height / l->height;
	}
}

int sat_cog_open(struct sat_cog **out, const uint8_t *buf, size_t len,
		 uint64_t *need_bytes)
{
	struct ifd_walk *w;
	struct mem_src src = { 0 };
	struct sat_cog *cog = NULL;
	TIFF *tif = NULL;
	uint64_t need;
	int err;

	*out = NULL;
	if (need_bytes)
		*need_bytes = 0;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->buf = buf;
	w->len = len;
	err = ifd_walk(w);
	if (err)
		goto out;
	/* The walk checked that everything it found ends below
	 * COG_MAX_HEADER; what it could not see is guessed, and at worst
	 * the prefix doubles. */
	need = w->extent;
	if (w->guess) {
		need = need > w->guess ? need : w->guess;
		need = need > 2 * (uint64_t)len ? need : 2 * (uint64_t)len;
		need = need < COG_MAX_HEADER ? need : COG_MAX_HEADER;
	}
	if (need > len) {
		if (need_bytes)
			*need_bytes = need;
		err = -EAGAIN;
		goto out;
	}

	cog = calloc(1, sizeof(*cog));
	if (!cog) {
		err = -ENOMEM;
		goto out;
	}
	src.buf = buf;
	src.len = len;
	tif = tiff_open(&src);
	if (!tif) {
		err = src.wanted > len ? -EAGAIN : -EINVAL;
		goto out_need;
	}
	err = read_levels(cog, tif, w);
	if (err == -EINVAL && src.wanted > len)
		err = -EAGAIN; /* libtiff wanted bytes our walk missed */
	if (err)
		goto out_need;
	overview_geo(cog);

	/* Keep only the prefix the parse used: enough to open it again. */
	cog->header_len = w->extent > src.wanted ? w->extent : src.wanted;
	if (cog->header_len > len)
		cog->header_len = len;
	cog->header = malloc(cog->header_len);
	if (!cog->header) {
		err = -ENOMEM;
		goto out;
	}
	memcpy(cog->header, buf, cog->header_len);
	*out = cog;
	cog = NULL;
	goto out;

out_need:
	/* libtiff wanted bytes the walk did not foresee (a corrupt file, most
	 * likely): ask for them, at least doubling, within the cap. */
	if (err == -EAGAIN) {
		need = src.wanted > 2 * (uint64_t)len ? src.wanted : 2 * len;
		if (src.wanted > COG_MAX_HEADER || len >= COG_MAX_HEADER)
			err = -EINVAL;
		else if (need_bytes)
			*need_bytes = need < COG_MAX_HEADER ? need
							    : COG_MAX_HEADER;
	}
out:
	if (tif)
		TIFFClose(tif);
	sat_cog_free(cog);
	free(w);
	return err;
}

void sat_cog_free(struct sat_cog *cog)
{
	size_t i;

	if (!cog)
		return;
	for (i = 0; i < COG_MAX_LEVELS; i++) {
		free(cog->levels[i].offsets);
		free(cog->levels[i].lengths);
	}
	free(cog->header);
	free(cog);
}

const uint8_t *sat_cog_header(const struct sat_cog *cog, size_t *len)
{
	*len = cog->header_len;
	return cog->header;
}

size_t sat_cog_level_count(const struct sat_cog *cog)
{
	return cog->nlevels;
}

const struct sat_cog_level *sat_cog_level(const struct sat_cog *cog,
					  size_t level)
{
	return level < cog->nlevels ? &cog->levels[level].pub : NULL;
}

int sat_cog_epsg(const struct sat_cog *cog)
{
	return cog->epsg;
}

bool sat_cog_nodata(const struct sat_cog *cog, double *nodata)
{
	if (cog->has_nodata && nodata)
		*nodata = cog->nodata;
	return cog->has_nodata;
}

static const struct cog_level *tile_level(const struct sat_cog *cog,
					  size_t level, uint32_t tx,
					  uint32_t ty)
{
	const struct cog_level *l;

	if (!cog || level >= cog->nlevels)
		return NULL;
	l = &cog->levels[level];
	if (tx >= l->pub.tiles_across || ty >= l->pub.tiles_down)
		return NULL;
	return l;
}

int sat_cog_tile_range(const struct sat_cog *cog, size_t level, uint32_t tx,
		       uint32_t ty, uint64_t *offset, uint64_t *length)
{
	const struct cog_level *l = tile_level(cog, level, tx, ty);
	size_t i;

	if (!l)
		return -EINVAL;
	i = (size_t)ty * l->pub.tiles_across + tx;
	*offset = l->offsets[i];
	*length = l->lengths[i];
	if (*length == 0)
		return 0; /* sparse */
	/* A compressed tile is never much larger than the raw one; a length
	 * far beyond it would only make the caller fetch garbage. */
	if (*length > 2 * (uint64_t)l->tile_bytes + (1u << 20) ||
	    *offset > UINT64_MAX - *length) {
		*offset = *length = 0;
		return -EINVAL;
	}
	return 0;
}

int sat_cog_decode_tile(const struct sat_cog *cog, size_t level,
			uint32_t tx, uint32_t ty, const uint8_t *raw,
			size_t raw_len, void *out, size_t out_len)
{
	const struct cog_level *l = tile_level(cog, level, tx, ty);
	struct mem_src src = { 0 };
	uint32_t strile;
	TIFF *tif;
	int err = 0;

	/* raw_len 0 is a sparse tile: nothing to decode, the caller fills
	 * it (cog.h). */
	if (!l || !out || out_len < l->tile_bytes || !raw || raw_len == 0 ||
	    raw_len > COG_MAX_ALLOC)
		return -EINVAL;
	src.buf = cog->header;
	src.len = cog->header_len;
	tif = tiff_open(&src);
	if (!tif)
		return -ENOMEM; /* these bytes opened before */
	if (l->dir && !TIFFSetDirectory(tif, l->dir)) {
		err = -EINVAL;
		goto out;
	}
	if (l->compression == COMPRESSION_JPEG &&
	    l->photometric == PHOTOMETRIC_YCBCR &&
	    !TIFFSetField(tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB)) {
		err = -EINVAL;
		goto out;
	}
	if (TIFFTileSize64(tif) != l->tile_bytes) {
		err = -EINVAL;
		goto out;
	}
	strile = ty * l->pub.tiles_across + tx;
	src.errors = src.warnings = 0;
	/* The codecs allowed by codec_supported() never write to their
	 * input, so handing libtiff the caller's const bytes is safe. A
	 * warning fails the tile too: libjpeg only warns about a truncated
	 * stream, and fills the rest with grey. */
	if (!TIFFReadFromUserBuffer(tif, strile, (void *)raw,
				    (tmsize_t)raw_len, out,
				    (tmsize_t)l->tile_bytes) ||
	    src.errors || src.warnings)
		err = -EINVAL;
out:
	TIFFClose(tif);
	return err;
}

/* ---- whole small images (Earth Engine's getPixels answers) ------------ */

/* Copies a decoded chunk (tile or strip: cw x ch pixels of spp samples,
 * or one plane of it when planar) at (x0, y0) into the band-sequential
 * image. */
static void chunk_copy(const uint8_t *chunk, uint16_t bits, uint32_t cw,
		       uint32_t ch, uint32_t x0, uint32_t y0, uint16_t spp,
		       int plane, uint32_t w, uint32_t h, uint16_t *out)
{
	uint32_t x, y;
	uint16_t s;
	uint16_t nsamp = plane < 0 ? spp : 1;

	for (y = 0; y < ch && y0 + y < h; y++) {
		for (x = 0; x < cw && x0 + x < w; x++) {
			for (s = 0; s < nsamp; s++) {
				size_t i = ((size_t)y * cw + x) * nsamp + s;
				uint16_t band = plane < 0 ? s : (uint16_t)plane;
				uint16_t v = bits == 8
					? chunk[i]
					: ((const uint16_t *)chunk)[i];

				out[(size_t)band * w * h +
				    (size_t)(y0 + y) * w + x0 + x] = v;
			}
		}
	}
}

int sat_cog_decode_image(const uint8_t *buf, size_t len, uint32_t *width,
			 uint32_t *height, uint16_t *samples, uint16_t **out)
{
	struct mem_src src = { .buf = buf, .len = len };
	uint32_t w = 0, h = 0, cw = 0, ch = 0, x, y, rows;
	size_t row_bytes;
	uint16_t spp = 1, bits = 0, fmt = SAMPLEFORMAT_UINT, planar = 1;
	uint16_t comp = COMPRESSION_NONE;
	uint16_t *img = NULL;
	uint8_t *chunk = NULL;
	tmsize_t csize;
	bool tiled;
	TIFF *tif;
	int ret = -EINVAL, p, nplanes;

	*out = NULL;
	tif = tiff_open(&src);
	if (!tif)
		return -EINVAL;
	TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w);
	TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h);
	TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
	TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bits);
	TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &fmt);
	TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
	TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &comp);
	if (!w || !h || w > COG_MAX_SIDE || h > COG_MAX_SIDE || !spp ||
	    spp > COG_MAX_SAMPLES ||
	    (uint64_t)w * h * spp * 2 > COG_MAX_ALLOC)
		goto out;
	ret = -ENOTSUP;
	if ((bits != 8 && bits != 16) || fmt != SAMPLEFORMAT_UINT ||
	    !codec_supported(comp))
		goto out;
	tiled = TIFFIsTiled(tif);
	if (tiled) {
		TIFFGetField(tif, TIFFTAG_TILEWIDTH, &cw);
		TIFFGetField(tif, TIFFTAG_TILELENGTH, &ch);
		csize = TIFFTileSize(tif);
	} else {
		cw = w;
		ch = 0;
		TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &ch);
		if (ch > h || ch == 0)
			ch = h;
		csize = TIFFStripSize(tif);
	}
	ret = -EINVAL;
	if (!cw || !ch || csize <= 0 || (uint64_t)csize > COG_MAX_TILE_BYTES ||
	    (uint64_t)cw * ch * (planar == PLANARCONFIG_CONTIG ? spp : 1) *
			    (bits / 8) > (uint64_t)csize)
		goto out;
	ret = -ENOMEM;
	img = calloc((size_t)w * h * spp, sizeof(*img));
	chunk = malloc((size_t)csize);
	if (!img || !chunk)
		goto out;
	ret = -EINVAL;
	nplanes = planar == PLANARCONFIG_SEPARATE ? spp : 1;
	row_bytes = (size_t)cw * (nplanes > 1 ? 1 : spp) * (bits / 8);
	for (p = 0; p < nplanes; p++) {
		for (y = 0; y < h; y += ch) {
			for (x = 0; x < w; x += cw) {
				tmsize_t got = tiled
					? TIFFReadEncodedTile(tif,
						TIFFComputeTile(tif, x, y, 0,
								(uint16_t)p),
						chunk, csize)
					: TIFFReadEncodedStrip(tif,
						TIFFComputeStrip(tif, y,
								 (uint16_t)p),
						chunk, csize);

				if (got < 0 || src.errors)
					goto out;
				/* a short last strip decodes fewer rows */
				rows = tiled ? ch
					     : (uint32_t)(got / (tmsize_t)
							  row_bytes);
				chunk_copy(chunk, bits, cw, rows, x, y, spp,
					   nplanes > 1 ? p : -1, w, h, img);
			}
		}
	}
	*width = w;
	*height = h;
	*samples = spp;
	*out = img;
	img = NULL;
	ret = 0;
out:
	free(img);
	free(chunk);
	TIFFClose(tif);
	return ret;
}
