/*
 * cog: see include/satfs/cog.h. This file opens a header and lays out its
 * levels and masks; cog_geo.c reads the georeferencing, cog_decode.c
 * decodes, cog_tiff.c holds libtiff over memory.
 *
 * Opening is two passes over the caller's bytes. First ifd_walk() follows
 * the IFD chain itself (classic and BigTIFF, both byte orders) to learn how
 * far every IFD and out-of-line tag value reaches; past len, we answer
 * -EAGAIN with that exact prefix, or with a generous guess when an IFD is
 * out of reach, so that a normal COG needs at most one retry (libtiff alone
 * drops a short tag or fails, but never says how many bytes it lacked).
 * Then libtiff parses the bytes, now complete, from memory, and we sort
 * the IFDs as GDAL's GTiff driver does (GTiffDataset::ScanDirectories()):
 * the first is the image; FILETYPE_REDUCEDIMAGE ones are overviews;
 * FILETYPE_MASK ones are the image's mask, FILETYPE_REDUCEDIMAGE |
 * FILETYPE_MASK ones the mask of the first overview of the same size that
 * has none yet; anything else (pages) is skipped. Each IFD's layout and
 * whole strile offset/length arrays are copied out: nothing is read from
 * the header after sat_cog_open().
 *
 * Threading: a struct sat_cog is immutable after sat_cog_open().
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cog_private.h"
#include "satfs/log.h"

#define COG_FIRST_GUESS (16u << 10)  /* when an IFD's size is unknown */

/* ---- pass 1: the IFD chain, by hand ---------------------------------- */

struct ifd_walk {
	const uint8_t *buf;
	uint64_t len;
	bool big_endian, bigtiff;
	size_t nifds;
	struct ifd_info { /* counts of the strile arrays */
		uint64_t tile_offsets, tile_bytecounts;
		uint64_t strip_offsets, strip_bytecounts;
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
		else if (tag == TIFFTAG_STRIPOFFSETS)
			info->strip_offsets = count;
		else if (tag == TIFFTAG_STRIPBYTECOUNTS)
			info->strip_bytecounts = count;
		if (tsize == 0)
			continue;
		if (count > COG_MAX_HEADER / tsize) {
			*err = cog_fail(-EINVAL, "tag %u has %llu values", tag,
					(unsigned long long)count);
			return 0;
		}
		size = count * tsize;
		if (size <= word)
			continue; /* value inline */
		data = rd(w, e + 4 + word, word);
		if (data > COG_MAX_HEADER || size > COG_MAX_HEADER - data) {
			*err = cog_fail(-EINVAL, "tag %u ends past the %u MiB "
					"a header may take", tag,
					COG_MAX_HEADER >> 20);
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
		return cog_fail(-EINVAL, "not a TIFF (no II or MM)");
	switch (rd(w, 2, 2)) {
	case 42:
		off = rd(w, 4, 4);
		ifd_need(w, 8);
		break;
	case 43:
		if (rd(w, 4, 2) != 8 || rd(w, 6, 2) != 0)
			return cog_fail(-EINVAL, "a BigTIFF with offsets of "
					"%u bytes", (unsigned)rd(w, 4, 2));
		w->bigtiff = true;
		off = rd(w, 8, 8);
		ifd_need(w, 16);
		break;
	default:
		return cog_fail(-EINVAL, "not a TIFF (version %u)",
				(unsigned)rd(w, 2, 2));
	}
	csize = w->bigtiff ? 8 : 2;
	esize = w->bigtiff ? 20 : 12;
	word = w->bigtiff ? 8 : 4;
	while (off != 0) {
		/* A loop in the chain ends here too, after COG_MAX_IFDS. */
		if (w->nifds == COG_MAX_IFDS)
			return cog_fail(-EINVAL, "more than %d IFDs (or a "
					"loop in their chain)", COG_MAX_IFDS);
		if (off < 8)
			return cog_fail(-EINVAL, "IFD %zu at offset %llu",
					w->nifds, (unsigned long long)off);
		/* A header is a prefix of the file: an IFD far behind the
		 * image data is a layout that is not cloud-optimized. */
		if (off > COG_MAX_HEADER)
			return cog_fail(-EINVAL, "IFD %zu at offset %llu, past "
					"the first %u MiB a header may take "
					"(not cloud-optimized)", w->nifds,
					(unsigned long long)off,
					COG_MAX_HEADER >> 20);
		if (off + csize > w->len) {
			w->guess = off + COG_FIRST_GUESS;
			return 0;
		}
		n = rd(w, off, csize);
		if (n == 0 || n > 4096) /* libtiff's own sanity limit */
			return cog_fail(-EINVAL, "IFD %zu has %llu entries",
					w->nifds, (unsigned long long)n);
		end = off + csize + n * esize + word;
		if (end > COG_MAX_HEADER)
			return cog_fail(-EINVAL, "IFD %zu ends past the %u MiB "
					"a header may take", w->nifds,
					COG_MAX_HEADER >> 20);
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

/* The layout of the current directory into d, for an image (mask false)
 * or a mask IFD. what names it in reasons ("level 1", "mask of level 0").
 * 0 or -errno with the reason set. */
static int ifd_layout(TIFF *tif, const struct ifd_info *info, bool mask,
		      const char *what, struct cog_ifd *d)
{
	uint32_t w = 0, h = 0, tw = 0, th = 0;
	uint16_t spp = 1, bps = 1, fmt = SAMPLEFORMAT_UINT, comp = 1;
	uint16_t planar = PLANARCONFIG_CONTIG, photo = PHOTOMETRIC_MINISBLACK;
	uint16_t fill = FILLORDER_MSB2LSB;
	uint64_t n, planes, have_off, have_len, row_bits;

	if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w) ||
	    !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h))
		return cog_fail(-EINVAL, "%s: no image size", what);
	d->striped = !TIFFIsTiled(tif);
	if (!d->striped) {
		if (!TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw) ||
		    !TIFFGetField(tif, TIFFTAG_TILELENGTH, &th))
			return cog_fail(-EINVAL, "%s: no tile size", what);
	} else {
		tw = w;
		th = UINT32_MAX;
		TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &th);
		if (th > h)
			th = h;
	}
	TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
	TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
	TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &fmt);
	TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &comp);
	TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
	TIFFGetFieldDefaulted(tif, TIFFTAG_FILLORDER, &fill);
	TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photo);
	if (w == 0 || h == 0 || w > COG_MAX_SIDE || h > COG_MAX_SIDE)
		return cog_fail(-EINVAL, "%s: size %ux%u", what, w, h);
	if (tw == 0 || th == 0 ||
	    (!d->striped && (tw > COG_MAX_TILE_SIDE || th > COG_MAX_TILE_SIDE)))
		return cog_fail(-EINVAL, "%s: %s of %ux%u", what,
				d->striped ? "strips" : "tiles", tw, th);
	if (spp == 0 || spp > COG_MAX_SAMPLES)
		return cog_fail(-EINVAL, "%s: %u samples per pixel", what, spp);
	if (!cog_codec_supported(comp))
		return cog_fail(-ENOTSUP, "%s: unsupported compression %u (%s)",
				what, comp, cog_codec_name(comp));
	if (fill != FILLORDER_MSB2LSB)
		return cog_fail(-ENOTSUP, "%s: FillOrder %u", what, fill);
	if (planar != PLANARCONFIG_CONTIG && planar != PLANARCONFIG_SEPARATE)
		return cog_fail(-EINVAL, "%s: PlanarConfiguration %u", what,
				planar);
	if (mask && (bps != 1 && bps != 8))
		return cog_fail(-ENOTSUP, "%s: %u-bit mask", what, bps);
	if (comp == COMPRESSION_JPEG && bps != 8)
		return cog_fail(-ENOTSUP, "%s: %u-bit JPEG", what, bps);
	/* Subsampled YCbCr is read only through JPEG, which converts it to
	 * RGB for us (GDAL would use TIFFReadRGBA*()). */
	if (photo == PHOTOMETRIC_YCBCR &&
	    (comp != COMPRESSION_JPEG || planar != PLANARCONFIG_CONTIG ||
	     spp < 3))
		return cog_fail(-ENOTSUP, "%s: YCbCr without chunky JPEG", what);
	d->width = w;
	d->height = h;
	d->tile_w = tw;
	d->tile_h = th;
	d->across = (w + tw - 1) / tw;
	d->down = (h + th - 1) / th;
	d->spp = spp;
	d->bps = bps;
	d->format = fmt;
	d->compression = comp;
	d->photometric = photo;
	d->separate = planar == PLANARCONFIG_SEPARATE && spp > 1;
	planes = d->separate ? spp : 1;
	row_bits = (uint64_t)tw * (d->separate ? 1 : spp) * bps;
	d->row_bytes = (size_t)((row_bits + 7) / 8);
	if ((uint64_t)d->row_bytes * th > COG_MAX_TILE_BYTES)
		return cog_fail(-EINVAL, "%s: a %s of %ux%u x %u samples of "
				"%u bits is more than %u MiB", what,
				d->striped ? "strip" : "tile", tw, th,
				d->separate ? 1 : spp, bps,
				COG_MAX_TILE_BYTES >> 20);
	d->chunk_bytes = d->row_bytes * th;
	n = (uint64_t)d->across * d->down * planes;
	have_off = d->striped ? info->strip_offsets : info->tile_offsets;
	have_len = d->striped ? info->strip_bytecounts : info->tile_bytecounts;
	if (have_off != n || have_len != n ||
	    (d->striped ? TIFFNumberOfStrips(tif) : TIFFNumberOfTiles(tif)) !=
		    n)
		return cog_fail(-EINVAL, "%s: %llu %s offsets and %llu byte "
				"counts for %llu %s", what,
				(unsigned long long)have_off,
				d->striped ? "strip" : "tile",
				(unsigned long long)have_len,
				(unsigned long long)n,
				d->striped ? "strips" : "tiles");
	d->nchunks = (uint32_t)n;
	return 0;
}

static int ifd_arrays(TIFF *tif, struct cog_ifd *d, const char *what)
{
	int err = 0;

	d->offsets = calloc(d->nchunks, sizeof(*d->offsets));
	d->lengths = calloc(d->nchunks, sizeof(*d->lengths));
	if (!d->offsets || !d->lengths)
		return cog_fail(-ENOMEM, "%s: no memory for %u offsets", what,
				d->nchunks);
	for (uint32_t i = 0; i < d->nchunks && !err; i++) {
		d->offsets[i] = TIFFGetStrileOffsetWithErr(tif, i, &err);
		if (!err)
			d->lengths[i] = TIFFGetStrileByteCountWithErr(tif, i,
								      &err);
	}
	return err ? cog_fail(-EINVAL, "%s: unreadable strile arrays", what)
		   : 0;
}

static void ifd_clear(struct cog_ifd *d)
{
	free(d->offsets);
	free(d->lengths);
	memset(d, 0, sizeof(*d));
}

/* An image IFD (level 0 or an overview) into level l. */
static int level_parse(TIFF *tif, const struct ifd_info *info, size_t dir,
		       const char *what, struct cog_level *l)
{
	struct sat_cog_level *p = &l->pub;
	char why[96];
	int err;

	err = ifd_layout(tif, info, false, what, &l->img);
	if (err)
		return err;
	l->img.dir = (uint16_t)dir;
	if (!cog_type_of(l->img.bps, l->img.format, &p->type, why,
			 sizeof(why)))
		return cog_fail(-ENOTSUP, "%s: %s", what, why);
	p->width = l->img.width;
	p->height = l->img.height;
	p->tile_width = l->img.tile_w;
	p->tile_height = l->img.tile_h;
	p->tiles_across = l->img.across;
	p->tiles_down = l->img.down;
	p->samples = l->img.spp;
	p->bits = l->img.bps;
	p->sample_format = l->img.format == SAMPLEFORMAT_VOID
				   ? SAMPLEFORMAT_UINT
				   : l->img.format;
	p->separate = l->img.separate;
	p->striped = l->img.striped;
	return ifd_arrays(tif, &l->img, what);
}

/* A mask IFD for level l, with GDAL's conditions for using it: the
 * level's size, one sample or one per band, 1 or 8 bits. Returns 0 (l has
 * it), 1 when GDAL would ignore it, -errno when GDAL would use it but we
 * cannot. */
static int mask_parse(TIFF *tif, const struct ifd_info *info, size_t dir,
		      size_t level, struct cog_level *l)
{
	struct cog_ifd m = { 0 };
	uint32_t w = 0, h = 0;
	uint16_t spp = 1, bps = 1, fmt = SAMPLEFORMAT_UINT;
	char what[40];
	int err;

	TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w);
	TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h);
	TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
	TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
	TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &fmt);
	if (w != l->pub.width || h != l->pub.height ||
	    (spp != 1 && spp != l->pub.samples) || bps > 8 ||
	    (fmt != SAMPLEFORMAT_UINT && fmt != SAMPLEFORMAT_VOID)) {
		sat_debug("cog: IFD %zu, a %ux%u mask of %u x %u bits, is not "
			  "one for level %zu", dir, w, h, spp, bps, level);
		return 1;
	}
	snprintf(what, sizeof(what), "mask of level %zu", level);
	err = ifd_layout(tif, info, true, what, &m);
	if (!err && (m.tile_w != l->img.tile_w || m.tile_h != l->img.tile_h ||
		     m.striped != l->img.striped))
		err = cog_fail(-ENOTSUP, "%s: %s of %ux%u, the image's of "
			       "%ux%u", what, m.striped ? "strips" : "tiles",
			       m.tile_w, m.tile_h, l->img.tile_w,
			       l->img.tile_h);
	if (!err)
		err = ifd_arrays(tif, &m, what);
	if (err) {
		ifd_clear(&m);
		return err;
	}
	m.dir = (uint16_t)dir;
	l->mask = m;
	l->pub.mask = SAT_COG_MASK_IFD;
	return 0;
}

static int read_ifds(struct sat_cog *cog, TIFF *tif,
		     const struct ifd_walk *w)
{
	struct cog_level *l, *l0 = &cog->levels[0];
	uint32_t subfile;
	char what[32];
	size_t dir, i;
	int err;

	for (dir = 0;; dir++) {
		if (dir >= w->nifds)
			return cog_fail(-EINVAL, "libtiff read an IFD the walk "
					"did not");
		subfile = 0;
		TIFFGetFieldDefaulted(tif, TIFFTAG_SUBFILETYPE, &subfile);
		if (dir == 0) {
			if (subfile & FILETYPE_MASK)
				return cog_fail(-EINVAL, "the first IFD is a "
						"mask");
			err = level_parse(tif, &w->ifds[0], 0, "level 0", l0);
			if (err)
				return err;
			cog->nlevels = 1;
			err = cog_read_geo(cog, tif);
			if (err)
				return err;
		} else if ((subfile & FILETYPE_REDUCEDIMAGE) &&
			   !(subfile & FILETYPE_MASK)) {
			/* An overview we cannot use in level 0's place
			 * (another band count or type, not smaller, a layout
			 * we do not read) is skipped: the finer levels serve
			 * instead. */
			if (cog->nlevels == COG_MAX_LEVELS)
				goto next;
			l = &cog->levels[cog->nlevels];
			snprintf(what, sizeof(what), "level %zu",
				 cog->nlevels);
			err = level_parse(tif, &w->ifds[dir], dir, what, l);
			if (!err && (l->pub.samples != l0->pub.samples ||
				     l->pub.type != l0->pub.type ||
				     l->pub.width >= cog->levels[cog->nlevels -
								  1].pub.width ||
				     l->pub.height > cog->levels[cog->nlevels -
								  1].pub.height))
				err = 1;
			if (err) {
				sat_debug("cog: IFD %zu, a %ux%u overview, "
					  "skipped (%s)", dir, l->pub.width,
					  l->pub.height,
					  err < 0 ? sat_cog_last_error()
						  : "does not match");
				ifd_clear(&l->img);
				memset(l, 0, sizeof(*l));
				cog_clear_error();
				goto next;
			}
			cog->nlevels++;
		} else if ((subfile & FILETYPE_MASK) &&
			   !(subfile & FILETYPE_REDUCEDIMAGE)) {
			if (l0->pub.mask == SAT_COG_MASK_IFD)
				goto next; /* GDAL takes the first */
			err = mask_parse(tif, &w->ifds[dir], dir, 0, l0);
			if (err < 0)
				return err;
		} else if (subfile & FILETYPE_MASK) {
			/* The first overview of its size without a mask. */
			for (i = 1; i < cog->nlevels; i++) {
				l = &cog->levels[i];
				if (l->pub.mask == SAT_COG_MASK_IFD)
					continue;
				err = mask_parse(tif, &w->ifds[dir], dir, i, l);
				if (err < 0)
					return err;
				if (err == 0)
					break;
			}
		}
next:
		if (TIFFLastDirectory(tif))
			break;
		if (!TIFFReadDirectory(tif))
			return cog_fail(-EINVAL, "IFD %zu does not parse",
					dir + 1);
	}
	return 0;
}

/* Overviews share level 0's origin; their pixel size is level 0's scaled
 * by the size ratio (GDAL's rule). Then each level's mask kind. */
static void levels_finish(struct sat_cog *cog)
{
	const struct sat_cog_level *l0 = &cog->levels[0].pub;
	struct sat_cog_level *l;
	bool alpha_masks;

	/* GDALRasterBand::GetMaskBand(): an alpha band masks the others of a
	 * 2-band or 4-band dataset, alpha last, of Byte or UInt16. */
	alpha_masks = cog->alpha >= 0 && cog->alpha == l0->samples - 1 &&
		      (l0->samples == 2 || l0->samples == 4) &&
		      (l0->type == SAT_SAMPLE_U8 || l0->type == SAT_SAMPLE_U16);
	for (size_t i = 0; i < cog->nlevels; i++) {
		l = &cog->levels[i].pub;
		if (i > 0) {
			l->origin_x = l0->origin_x;
			l->origin_y = l0->origin_y;
			l->pixel_x = l0->pixel_x * l0->width / l->width;
			l->pixel_y = l0->pixel_y * l0->height / l->height;
		}
		if (l->mask == SAT_COG_MASK_IFD)
			continue;
		if (cog->has_nodata)
			l->mask = SAT_COG_MASK_NODATA;
		else if (alpha_masks)
			l->mask = SAT_COG_MASK_ALPHA;
		else
			l->mask = SAT_COG_MASK_ALL_VALID;
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
	cog_clear_error();
	if (need_bytes)
		*need_bytes = 0;
	w = calloc(1, sizeof(*w));
	if (!w)
		return cog_fail(-ENOMEM, "no memory");
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
		err = cog_fail(-EAGAIN, "the header needs %llu bytes, not %zu",
			       (unsigned long long)need, len);
		goto out;
	}

	cog = calloc(1, sizeof(*cog));
	if (!cog) {
		err = cog_fail(-ENOMEM, "no memory");
		goto out;
	}
	cog->alpha = -1;
	src.buf = buf;
	src.len = len;
	tif = cog_tiff_open(&src);
	if (!tif) {
		err = src.wanted > len
			      ? -EAGAIN
			      : cog_fail(-EINVAL, "libtiff cannot open it (%s)",
					 src.first[0] ? src.first : "?");
		goto out_need;
	}
	err = read_ifds(cog, tif, w);
	if (err == -EINVAL && src.wanted > len)
		err = -EAGAIN; /* libtiff wanted bytes our walk missed */
	if (err)
		goto out_need;
	levels_finish(cog);

	/* Keep only the prefix the parse used: enough to open it again. */
	cog->header_len = w->extent > src.wanted ? w->extent : src.wanted;
	if (cog->header_len > len)
		cog->header_len = len;
	cog->header = malloc(cog->header_len);
	if (!cog->header) {
		err = cog_fail(-ENOMEM, "no memory");
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
		if (src.wanted > COG_MAX_HEADER || len >= COG_MAX_HEADER) {
			err = cog_fail(-EINVAL, "the header reaches past the "
				       "%u MiB it may take",
				       COG_MAX_HEADER >> 20);
		} else {
			need = need < COG_MAX_HEADER ? need : COG_MAX_HEADER;
			if (need_bytes)
				*need_bytes = need;
			cog_fail(-EAGAIN, "the header needs %llu bytes, not "
				 "%zu", (unsigned long long)need, len);
		}
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
	if (!cog)
		return;
	for (size_t i = 0; i < COG_MAX_LEVELS; i++) {
		ifd_clear(&cog->levels[i].img);
		ifd_clear(&cog->levels[i].mask);
	}
	free(cog->crs);
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

const char *sat_cog_crs(const struct sat_cog *cog, const char **why)
{
	if (why)
		*why = cog->crs ? "" : cog->crs_why;
	return cog->crs;
}

bool sat_cog_nodata(const struct sat_cog *cog, double *nodata)
{
	if (cog->has_nodata && nodata)
		*nodata = cog->nodata;
	return cog->has_nodata;
}

int sat_cog_alpha(const struct sat_cog *cog)
{
	return cog->alpha;
}

size_t sat_cog_tile_bytes(const struct sat_cog *cog, size_t level)
{
	const struct sat_cog_level *l;

	if (!cog || level >= cog->nlevels)
		return 0;
	l = &cog->levels[level].pub;
	return (size_t)l->tile_width * l->tile_height *
	       (l->separate ? 1 : l->samples) * sat_sample_size(l->type);
}

/* ---- byte ranges ------------------------------------------------------ */

/* The strile index of (band, tx, ty) in ifd d, or -1. */
static int64_t strile_of(const struct cog_ifd *d, uint16_t band, uint32_t tx,
			 uint32_t ty)
{
	uint64_t plane;

	if (tx >= d->across || ty >= d->down || band >= d->spp)
		return -1;
	plane = d->separate ? band : 0;
	return (int64_t)((plane * d->down + ty) * d->across + tx);
}

static int chunk_range(const struct cog_ifd *d, uint16_t band, uint32_t tx,
		       uint32_t ty, uint64_t *offset, uint64_t *length,
		       const char *what, size_t level)
{
	int64_t i = strile_of(d, band, tx, ty);

	*offset = *length = 0;
	if (i < 0)
		return cog_fail(-EINVAL, "%s %u,%u of band %u of level %zu: "
				"no such %s", what, tx, ty, band, level, what);
	/* GDAL reads a tile of zero bytes as absent; an offset of zero
	 * would be the TIFF header, never a tile. */
	if (d->lengths[i] == 0 || d->offsets[i] == 0)
		return 0;
	/* A compressed tile is never much larger than the raw one; a length
	 * far beyond it would only make the caller fetch garbage. */
	if (d->lengths[i] > 2 * (uint64_t)d->chunk_bytes + (1u << 20) ||
	    d->offsets[i] > UINT64_MAX - d->lengths[i])
		return cog_fail(-EINVAL, "%s %u,%u of level %zu: %llu bytes "
				"for %zu decoded", what, tx, ty, level,
				(unsigned long long)d->lengths[i],
				d->chunk_bytes);
	*offset = d->offsets[i];
	*length = d->lengths[i];
	return 0;
}

int sat_cog_band_range(const struct sat_cog *cog, size_t level,
		       uint16_t band, uint32_t tx, uint32_t ty,
		       uint64_t *offset, uint64_t *length)
{
	cog_clear_error();
	if (!cog || level >= cog->nlevels) {
		*offset = *length = 0;
		return cog_fail(-EINVAL, "no level %zu", level);
	}
	return chunk_range(&cog->levels[level].img, band, tx, ty, offset,
			   length, cog->levels[level].img.striped ? "strip"
								  : "tile",
			   level);
}

int sat_cog_tile_range(const struct sat_cog *cog, size_t level, uint32_t tx,
		       uint32_t ty, uint64_t *offset, uint64_t *length)
{
	return sat_cog_band_range(cog, level, 0, tx, ty, offset, length);
}

int sat_cog_mask_range(const struct sat_cog *cog, size_t level,
		       uint16_t band, uint32_t tx, uint32_t ty,
		       uint64_t *offset, uint64_t *length)
{
	const struct cog_level *l;

	cog_clear_error();
	*offset = *length = 0;
	if (!cog || level >= cog->nlevels)
		return cog_fail(-EINVAL, "no level %zu", level);
	l = &cog->levels[level];
	if (l->pub.mask != SAT_COG_MASK_IFD)
		return cog_fail(-EINVAL, "level %zu has no mask IFD", level);
	if (band >= l->pub.samples)
		return cog_fail(-EINVAL, "no band %u", band);
	return chunk_range(&l->mask, l->mask.spp == 1 ? 0 : band, tx, ty,
			   offset, length, "mask tile", level);
}

static int check_ifd_size(const struct cog_ifd *d, size_t level,
			  const char *what, uint64_t size)
{
	for (uint32_t i = 0; i < d->nchunks; i++) {
		uint32_t per_plane = d->across * d->down;
		uint32_t k = i % per_plane;
		uint64_t end = d->offsets[i] + d->lengths[i];

		if (d->lengths[i] == 0 || d->offsets[i] == 0)
			continue;
		if (d->offsets[i] > size || d->lengths[i] > size ||
		    end > size)
			return cog_fail(-EINVAL, "%s %u,%u of level %zu ends at "
					"%llu, past the object's end (%llu "
					"bytes)", what, k % d->across,
					k / d->across, level,
					(unsigned long long)(d->offsets[i] >
							     UINT64_MAX -
								     d->lengths[i]
								     ? UINT64_MAX
								     : end),
					(unsigned long long)size);
	}
	return 0;
}

int sat_cog_check_size(const struct sat_cog *cog, uint64_t object_size)
{
	int err = 0;

	cog_clear_error();
	for (size_t i = 0; i < cog->nlevels && !err; i++) {
		const struct cog_level *l = &cog->levels[i];

		err = check_ifd_size(&l->img, i, l->img.striped ? "strip"
								: "tile",
				     object_size);
		if (!err && l->pub.mask == SAT_COG_MASK_IFD)
			err = check_ifd_size(&l->mask, i, "mask tile",
					     object_size);
	}
	return err;
}
