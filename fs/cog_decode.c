/*
 * cog_decode: tiles, strips and masks from the bytes the caller fetched,
 * GDAL's masks from decoded samples, and whole small images (see
 * include/satfs/cog.h).
 *
 * For each decode we open a fresh TIFF handle on the stored header
 * (deferred strile loading, so only the IFDs are parsed) instead of
 * pooling handles behind a mutex: a TIFF handle carries codec state and
 * may not be shared, and the fresh open costs about 15 us against the
 * 1.6 ms of a 1024x1024 DEFLATE + predictor tile (measured, -O2), so a
 * pool would buy nothing but locking and bookkeeping of handles left in
 * an error state.
 *
 * libtiff decodes into the caller's buffer with TIFFReadFromUserBuffer(),
 * predictors and byte swapping included (its post-decode step), except
 * the horizontal predictor of one integer sample per pixel, which we undo
 * ourselves (undo_horizontal): libtiff's loop carries each sum through
 * memory, ours in a register; a 1024x1024 DEFLATE + predictor uint16
 * tile of the benchmark decodes in 1.6 ms instead of 3.8 ms
 * (bench/decode_tiles, -O2). YCbCr
 * JPEG through libjpeg's conversion to RGB (JPEGCOLORMODE_RGB, as GDAL
 * sets it). The codecs we allow only read their input, so the caller's
 * const bytes are handed over as they are, except to LERC, which gets a
 * copy.
 *
 * Threading: every function here is reentrant; nothing is shared but the
 * immutable struct sat_cog.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "cog_private.h"
#include "satfs/log.h"

#if defined(__SSE2__)
/* The running sums of 8 (16) lanes at a time: each vector's prefix sums in
 * three (four) shifted adds, plus the last sum of the vector before it,
 * broadcast. Modulo the lane's width as the scalar loop: the same bytes.
 * A sum no longer waits for the one before it, lane by lane: the undo of
 * a 1024x1024 uint16 tile takes about a third of its scalar time here. */
static size_t prefix_sum16(uint16_t *p, size_t n)
{
	__m128i carry = _mm_setzero_si128();
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		__m128i x = _mm_loadu_si128((const __m128i *)(p + i));

		x = _mm_add_epi16(x, _mm_slli_si128(x, 2));
		x = _mm_add_epi16(x, _mm_slli_si128(x, 4));
		x = _mm_add_epi16(x, _mm_slli_si128(x, 8));
		x = _mm_add_epi16(x, carry);
		_mm_storeu_si128((__m128i *)(p + i), x);
		carry = _mm_shufflehi_epi16(x, 0xff);
		carry = _mm_unpackhi_epi64(carry, carry);
	}
	return i;
}

static size_t prefix_sum8(uint8_t *p, size_t n)
{
	__m128i carry = _mm_setzero_si128();
	size_t i = 0;

	for (; i + 16 <= n; i += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(p + i));

		x = _mm_add_epi8(x, _mm_slli_si128(x, 1));
		x = _mm_add_epi8(x, _mm_slli_si128(x, 2));
		x = _mm_add_epi8(x, _mm_slli_si128(x, 4));
		x = _mm_add_epi8(x, _mm_slli_si128(x, 8));
		x = _mm_add_epi8(x, carry);
		_mm_storeu_si128((__m128i *)(p + i), x);
		carry = _mm_set1_epi8((char)p[i + 15]);
	}
	return i;
}
#else
static size_t prefix_sum16(uint16_t *p, size_t n)
{
	(void)p;
	(void)n;
	return 0;
}

static size_t prefix_sum8(uint8_t *p, size_t n)
{
	(void)p;
	(void)n;
	return 0;
}
#endif

/* Undoes TIFF's horizontal differencing (predictor 2) of rows [r0, r1)
 * of rows of `stride` samples of one integer sample per pixel, their
 * first n samples, in place: the running sum, modulo the sample's width,
 * as libtiff's horAcc8/16/32 computes it. Vectors where there are, the
 * rest of a row one sample at a time. */
static void undo_horizontal(void *buf, size_t r0, size_t r1, size_t stride,
			    size_t n, uint16_t bps)
{
	for (size_t r = r0; r < r1 && n > 1; r++) {
		if (bps == 8) {
			uint8_t *p = (uint8_t *)buf + r * stride;
			size_t i = prefix_sum8(p, n);
			uint8_t acc = i ? p[i - 1] : 0;

			for (; i < n; i++)
				p[i] = acc = (uint8_t)(acc + p[i]);
		} else if (bps == 16) {
			uint16_t *p = (uint16_t *)buf + r * stride;
			size_t i = prefix_sum16(p, n);
			uint16_t acc = i ? p[i - 1] : 0;

			for (; i < n; i++)
				p[i] = acc = (uint16_t)(acc + p[i]);
		} else {
			uint32_t *p = (uint32_t *)buf + r * stride,
				 acc = p[0];

			for (size_t i = 1; i < n; i++)
				p[i] = acc = acc + p[i];
		}
	}
}

int cog_decode_chunk(const struct sat_cog *cog, const struct cog_ifd *d,
		     uint32_t strile, const uint8_t *raw, size_t raw_len,
		     void *out, const char *what,
		     const struct cog_part *part)
{
	struct mem_src src = { 0 };
	uint32_t per_plane = d->across * d->down, row0, rows = d->tile_h;
	uint64_t libtiff_size;
	size_t out_size = d->chunk_bytes;
	uint8_t *copy = NULL;
	uint16_t predictor = 0;
	bool own_predictor = false;
	TIFF *tif;
	int err = 0;

	if (raw_len > COG_MAX_ALLOC)
		return cog_fail(-EINVAL, "%s: %zu compressed bytes", what,
				raw_len);
	/* The last strip of a plane holds only the rows left. */
	if (d->striped) {
		row0 = (strile % per_plane) * d->tile_h;
		if (d->height - row0 < rows)
			rows = d->height - row0;
		out_size = (size_t)rows * d->row_bytes;
	}
	src.buf = cog->header;
	src.len = cog->header_len;
	tif = cog_tiff_open(&src);
	if (!tif)
		return cog_fail(-ENOMEM, "%s: libtiff cannot reopen the header",
				what); /* these bytes opened before */
	if (d->dir && !TIFFSetDirectory(tif, d->dir)) {
		err = cog_fail(-EINVAL, "%s: IFD %u does not parse", what,
			       d->dir);
		goto out;
	}
	if (d->compression == COMPRESSION_JPEG &&
	    d->photometric == PHOTOMETRIC_YCBCR &&
	    !TIFFSetField(tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB)) {
		err = cog_fail(-EINVAL, "%s: no YCbCr to RGB conversion", what);
		goto out;
	}
	/* our own undo of the predictor: integers, one sample a pixel (or a
	 * plane of one), and rows of whole samples */
	if (TIFFGetField(tif, TIFFTAG_PREDICTOR, &predictor) &&
	    predictor == PREDICTOR_HORIZONTAL &&
	    (d->bps == 8 || d->bps == 16 || d->bps == 32) &&
	    d->format != SAMPLEFORMAT_IEEEFP && (d->spp == 1 || d->separate) &&
	    d->row_bytes % (d->bps / 8) == 0) {
		if (!TIFFSetField(tif, TIFFTAG_PREDICTOR, PREDICTOR_NONE)) {
			err = cog_fail(-EINVAL, "%s: the predictor cannot be "
				       "undone", what);
			goto out;
		}
		own_predictor = true;
	}
	libtiff_size = d->striped ? TIFFStripSize64(tif) : TIFFTileSize64(tif);
	if (libtiff_size != d->chunk_bytes) {
		err = cog_fail(-EINVAL, "%s: libtiff decodes %llu bytes, not "
			       "%zu", what, (unsigned long long)libtiff_size,
			       d->chunk_bytes);
		goto out;
	}
	if (d->compression == COMPRESSION_LERC) {
		copy = malloc(raw_len ? raw_len : 1);
		if (!copy) {
			err = cog_fail(-ENOMEM, "%s: no memory", what);
			goto out;
		}
		memcpy(copy, raw, raw_len);
	}
	src.errors = src.warnings = 0;
	src.first[0] = '\0';
	/* A warning fails the tile too: libjpeg only warns about a truncated
	 * stream, and fills the rest with grey. */
	if (!TIFFReadFromUserBuffer(tif, strile, copy ? copy : (void *)raw,
				    (tmsize_t)raw_len, out,
				    (tmsize_t)out_size) ||
	    src.errors || src.warnings) {
		err = cog_fail(-EINVAL, "%s: %s", what,
			       src.first[0] ? src.first : "does not decode");
		goto out;
	}
	if (own_predictor) {
		size_t rows_out = out_size / d->row_bytes;
		size_t n = d->row_bytes / (d->bps / 8);
		size_t r0 = part ? part->row0 : 0, r1 = rows_out, n1 = n;

		if (part) {
			r1 = part->row1 < rows_out ? part->row1 : rows_out;
			n1 = part->col1 < n ? part->col1 : n;
		}
		undo_horizontal(out, r0, r1, n, n1, d->bps);
	}
	if (out_size < d->chunk_bytes)
		memset((uint8_t *)out + out_size, 0,
		       d->chunk_bytes - out_size);
out:
	free(copy);
	TIFFClose(tif);
	return err;
}

/* GDAL's conversion of a double to a sample (GDALCopyWord): NaN is 0 for
 * integers, others are rounded half away from zero and clamped. */
static void put_sample(enum sat_sample_type type, double v, void *p)
{
	double lo = 0, hi = 0;

	switch (type) {
	case SAT_SAMPLE_U8: hi = 255; break;
	case SAT_SAMPLE_I8: lo = -128; hi = 127; break;
	case SAT_SAMPLE_U16: hi = 65535; break;
	case SAT_SAMPLE_I16: lo = -32768; hi = 32767; break;
	case SAT_SAMPLE_U32: hi = 4294967295.0; break;
	case SAT_SAMPLE_I32: lo = -2147483648.0; hi = 2147483647.0; break;
	default: break; /* floats: as they are */
	}
	if (!sat_sample_is_float(type)) {
		v = isnan(v) ? 0 : round(v);
		v = v < lo ? lo : v > hi ? hi : v;
	}
	sat_sample_put(p, type, 0, v);
}

/* A sparse tile, as GDAL's NullBlock() fills it. */
static void fill_sparse(const struct sat_cog *cog,
			const struct sat_cog_level *l, void *out, size_t bytes)
{
	size_t size = sat_sample_size(l->type);
	uint8_t one[8];

	if (!cog->has_nodata) {
		memset(out, 0, bytes);
		return;
	}
	put_sample(l->type, cog->nodata, one);
	for (size_t i = 0; i + size <= bytes; i += size)
		memcpy((uint8_t *)out + i, one, size);
}

int sat_cog_decode_band(const struct sat_cog *cog, size_t level,
			uint16_t band, uint32_t tx, uint32_t ty,
			const uint8_t *raw, size_t raw_len, void *out,
			size_t out_len)
{
	return sat_cog_decode_band_part(cog, level, band, tx, ty, raw, raw_len,
					out, out_len, 0, UINT32_MAX,
					UINT32_MAX);
}

int sat_cog_decode_band_part(const struct sat_cog *cog, size_t level,
			     uint16_t band, uint32_t tx, uint32_t ty,
			     const uint8_t *raw, size_t raw_len, void *out,
			     size_t out_len, uint32_t row0, uint32_t row1,
			     uint32_t col1)
{
	const struct cog_part part = { row0, row1, col1 };
	const struct cog_level *l;
	int64_t strile;
	char what[64];

	cog_clear_error();
	if (!cog || level >= cog->nlevels || !out)
		return cog_fail(-EINVAL, "no level %zu", level);
	l = &cog->levels[level];
	if (tx >= l->img.across || ty >= l->img.down || band >= l->img.spp)
		return cog_fail(-EINVAL, "no tile %u,%u of band %u of level "
				"%zu", tx, ty, band, level);
	if (out_len < l->img.chunk_bytes)
		return cog_fail(-EINVAL, "a buffer of %zu bytes for a tile of "
				"%zu", out_len, l->img.chunk_bytes);
	if (raw_len == 0) {
		fill_sparse(cog, &l->pub, out, l->img.chunk_bytes);
		return 0;
	}
	if (!raw)
		return cog_fail(-EINVAL, "no bytes");
	snprintf(what, sizeof(what), "%s %u,%u of level %zu",
		 l->img.striped ? "strip" : "tile", tx, ty, level);
	if (l->img.separate)
		snprintf(what + strlen(what), sizeof(what) - strlen(what),
			 " band %u", band);
	strile = ((int64_t)(l->img.separate ? band : 0) * l->img.down + ty) *
			 l->img.across + tx;
	return cog_decode_chunk(cog, &l->img, (uint32_t)strile, raw, raw_len,
				out, what, &part);
}

int sat_cog_decode_tile(const struct sat_cog *cog, size_t level,
			uint32_t tx, uint32_t ty, const uint8_t *raw,
			size_t raw_len, void *out, size_t out_len)
{
	return sat_cog_decode_band(cog, level, 0, tx, ty, raw, raw_len, out,
				   out_len);
}

int sat_cog_decode_mask(const struct sat_cog *cog, size_t level,
			uint16_t band, uint32_t tx, uint32_t ty,
			const uint8_t *raw, size_t raw_len, uint8_t *out,
			size_t out_len)
{
	const struct cog_level *l;
	const struct cog_ifd *m;
	uint32_t x, y, plane, sample, nsamp;
	size_t npix;
	uint8_t *buf;
	char what[64];
	int err;

	cog_clear_error();
	if (!cog || level >= cog->nlevels || !out)
		return cog_fail(-EINVAL, "no level %zu", level);
	l = &cog->levels[level];
	m = &l->mask;
	if (l->pub.mask != SAT_COG_MASK_IFD)
		return cog_fail(-EINVAL, "level %zu has no mask IFD", level);
	npix = (size_t)m->tile_w * m->tile_h;
	if (tx >= m->across || ty >= m->down || band >= l->pub.samples ||
	    out_len < npix)
		return cog_fail(-EINVAL, "no mask tile %u,%u of band %u of "
				"level %zu in %zu bytes", tx, ty, band, level,
				out_len);
	if (raw_len == 0) {
		memset(out, 0, npix); /* GDAL: an absent mask block is 0 */
		return 0;
	}
	if (!raw)
		return cog_fail(-EINVAL, "no bytes");
	/* Per band masks have a sample, or a plane, per band. */
	plane = m->separate ? band : 0;
	sample = m->spp > 1 && !m->separate ? band : 0;
	nsamp = m->separate ? 1 : m->spp;
	buf = malloc(m->chunk_bytes);
	if (!buf)
		return cog_fail(-ENOMEM, "no memory");
	snprintf(what, sizeof(what), "mask tile %u,%u of level %zu", tx, ty,
		 level);
	err = cog_decode_chunk(cog, m, (plane * m->down + ty) * m->across + tx,
			       raw, raw_len, buf, what, NULL);
	if (!err) {
		for (y = 0; y < m->tile_h; y++) {
			const uint8_t *row = buf + (size_t)y * m->row_bytes;
			uint8_t *o = out + (size_t)y * m->tile_w;

			for (x = 0; x < m->tile_w; x++) {
				size_t bit = (size_t)x * nsamp + sample;

				if (m->bps == 1)
					o[x] = row[bit / 8] &
						       (0x80 >> (bit % 8))
						       ? 255
						       : 0;
				else
					o[x] = row[bit];
			}
		}
	}
	free(buf);
	return err;
}

int sat_cog_mask_from_tile(const struct sat_cog *cog, size_t level,
			   uint16_t band, const void *tile, size_t tile_len,
			   uint8_t *out, size_t out_len)
{
	const struct sat_cog_level *l;
	size_t npix, stride, pick, i;
	double nd, v;
	float ndf;

	cog_clear_error();
	if (!cog || level >= cog->nlevels || !out)
		return cog_fail(-EINVAL, "no level %zu", level);
	l = &cog->levels[level].pub;
	npix = (size_t)l->tile_width * l->tile_height;
	if (band >= l->samples || out_len < npix)
		return cog_fail(-EINVAL, "no band %u, or a short buffer", band);
	if (l->mask == SAT_COG_MASK_ALL_VALID ||
	    (l->mask == SAT_COG_MASK_ALPHA && band == cog->alpha)) {
		memset(out, 255, npix);
		return 0;
	}
	if (l->mask == SAT_COG_MASK_IFD)
		return cog_fail(-EINVAL, "level %zu has a mask IFD", level);
	if (!tile || tile_len < sat_cog_tile_bytes(cog, level))
		return cog_fail(-EINVAL, "a tile of %zu bytes, not %zu",
				tile_len, sat_cog_tile_bytes(cog, level));
	stride = l->separate ? 1 : l->samples;
	if (l->mask == SAT_COG_MASK_ALPHA) {
		pick = l->separate ? 0 : (size_t)cog->alpha;
		for (i = 0; i < npix; i++) {
			v = sat_sample_get(tile, l->type, i * stride + pick);
			/* GDALRescaledAlphaBand for uint16 alpha */
			if (l->type == SAT_SAMPLE_U16)
				v = v == 0 ? 0 : v < 257 ? 1 : v * 255 / 65535;
			out[i] = (uint8_t)v;
		}
		return 0;
	}
	/* SAT_COG_MASK_NODATA, compared in the band's type as GDAL's
	 * GDALNoDataMaskBand does. */
	pick = l->separate ? 0 : band;
	nd = cog->nodata;
	ndf = (float)nd;
	for (i = 0; i < npix; i++) {
		bool invalid;

		v = sat_sample_get(tile, l->type, i * stride + pick);
		if (isnan(nd))
			invalid = isnan(v);
		else if (l->type == SAT_SAMPLE_F32)
			invalid = (float)v == ndf;
		else
			invalid = v == nd;
		out[i] = invalid ? 0 : 255;
	}
	return 0;
}

/* ---- whole small images (Earth Engine's getPixels answers) ------------ */

/* Copies a decoded chunk (tile or strip: cw x ch pixels of spp samples,
 * or one plane of it when planar) at (x0, y0) into the band-sequential
 * image of w x h pixels. */
static void chunk_copy(const uint8_t *chunk, size_t size, uint32_t cw,
		       uint32_t ch, uint32_t x0, uint32_t y0, uint16_t spp,
		       int plane, uint32_t w, uint32_t h, uint8_t *out)
{
	uint16_t nsamp = plane < 0 ? spp : 1;

	for (uint32_t y = 0; y < ch && y0 + y < h; y++) {
		for (uint32_t x = 0; x < cw && x0 + x < w; x++) {
			for (uint16_t s = 0; s < nsamp; s++) {
				size_t i = ((size_t)y * cw + x) * nsamp + s;
				uint16_t band = plane < 0 ? s : (uint16_t)plane;
				size_t o = (size_t)band * w * h +
					   (size_t)(y0 + y) * w + x0 + x;

				memcpy(out + o * size, chunk + i * size, size);
			}
		}
	}
}

int sat_cog_decode_image(const uint8_t *buf, size_t len, uint32_t *width,
			 uint32_t *height, uint16_t *samples,
			 enum sat_sample_type *type, void **out)
{
	struct mem_src src = { .buf = buf, .len = len };
	uint32_t w = 0, h = 0, cw = 0, ch = 0, x, y, rows;
	size_t row_bytes, size;
	uint16_t spp = 1, bits = 1, fmt = SAMPLEFORMAT_UINT, planar = 1;
	uint16_t comp = COMPRESSION_NONE, photo = 0;
	enum sat_sample_type t = SAT_SAMPLE_U8;
	uint8_t *img = NULL, *chunk = NULL;
	tmsize_t csize;
	char why[96];
	bool tiled, known;
	TIFF *tif;
	int ret, p, nplanes;

	*out = NULL;
	cog_clear_error();
	tif = cog_tiff_open(&src);
	if (!tif)
		return cog_fail(-EINVAL, "not a TIFF libtiff opens (%s)",
				src.first[0] ? src.first : "?");
	TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w);
	TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h);
	TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
	TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bits);
	TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &fmt);
	TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
	TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &comp);
	TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photo);
	known = cog_type_of(bits, fmt, &t, why, sizeof(why));
	size = known ? sat_sample_size(t) : 1;
	if (!w || !h || w > COG_MAX_SIDE || h > COG_MAX_SIDE || !spp ||
	    spp > COG_MAX_SAMPLES ||
	    (uint64_t)w * h * spp * size > COG_MAX_ALLOC) {
		ret = cog_fail(-EINVAL, "an image of %ux%u x %u samples", w, h,
			       spp);
		goto out;
	}
	if (!known) {
		ret = cog_fail(-ENOTSUP, "%s", why);
		goto out;
	}
	if (!cog_codec_supported(comp)) {
		ret = cog_fail(-ENOTSUP, "unsupported compression %u (%s)",
			       comp, cog_codec_name(comp));
		goto out;
	}
	if (photo == PHOTOMETRIC_YCBCR &&
	    (comp != COMPRESSION_JPEG || planar != PLANARCONFIG_CONTIG ||
	     !TIFFSetField(tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB))) {
		ret = cog_fail(-ENOTSUP, "YCbCr without chunky JPEG");
		goto out;
	}
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
	nplanes = planar == PLANARCONFIG_SEPARATE ? spp : 1;
	row_bytes = (size_t)cw * (nplanes > 1 ? 1 : spp) * size;
	if (!cw || !ch || csize <= 0 || (uint64_t)csize > COG_MAX_TILE_BYTES ||
	    (uint64_t)row_bytes * ch != (uint64_t)csize) {
		ret = cog_fail(-EINVAL, "blocks of %ux%u (%lld bytes)", cw, ch,
			       (long long)csize);
		goto out;
	}
	img = calloc((size_t)w * h * spp, size);
	chunk = malloc((size_t)csize);
	if (!img || !chunk) {
		ret = cog_fail(-ENOMEM, "no memory");
		goto out;
	}
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

				if (got < 0 || src.errors) {
					ret = cog_fail(-EINVAL, "block at %u,%u: "
						       "%s", x, y,
						       src.first[0] ? src.first
								    : "does "
								      "not "
								      "decode");
					goto out;
				}
				/* a short last strip decodes fewer rows */
				rows = tiled ? ch
					     : (uint32_t)((size_t)got /
							  row_bytes);
				chunk_copy(chunk, size, cw, rows, x, y, spp,
					   nplanes > 1 ? p : -1, w, h, img);
			}
		}
	}
	*width = w;
	*height = h;
	*samples = spp;
	*type = t;
	*out = img;
	img = NULL;
	ret = 0;
out:
	free(img);
	free(chunk);
	TIFFClose(tif);
	return ret;
}
