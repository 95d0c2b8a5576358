/*
 * tiff_walk: a TIFF structure reader for tests, written from the TIFF 6.0
 * and BigTIFF specifications and independent of libtiff (which the code
 * under test uses), so that a test can look at what a file really holds:
 * find a tag of an IFD and read or overwrite its values in place, and
 * compute the extent of a file: the end of the furthest byte its header,
 * IFDs, out-of-line tag values and tiles or strips occupy.
 *
 * Both byte orders, classic and BigTIFF. Bounds-checked: a malformed file
 * gives -1, never a read out of buf. Test-only; static inline so each
 * test binary takes what it uses.
 */
#ifndef TIFF_WALK_H
#define TIFF_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TW_TAG_STRIP_OFFSETS 273
#define TW_TAG_STRIP_BYTE_COUNTS 279
#define TW_TAG_TILE_OFFSETS 324
#define TW_TAG_TILE_BYTE_COUNTS 325

struct tw_file {
	uint8_t *buf;
	size_t len;
	bool be, big; /* big-endian; BigTIFF */
};

struct tw_entry {
	uint16_t tag, type;
	uint64_t count;
	uint64_t at; /* file offset of the first value (inline or not) */
};

static inline uint64_t tw_rd(const struct tw_file *f, uint64_t off,
			     unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++) {
		unsigned k = f->be ? i : n - 1 - i;

		v = v << 8 | f->buf[off + k];
	}
	return v;
}

static inline void tw_wr(struct tw_file *f, uint64_t off, unsigned n,
			 uint64_t v)
{
	for (unsigned i = 0; i < n; i++) {
		unsigned k = f->be ? n - 1 - i : i;

		f->buf[off + k] = (uint8_t)(v >> (8 * i));
	}
}

static inline bool tw_in(const struct tw_file *f, uint64_t off, uint64_t n)
{
	return off <= f->len && n <= f->len - off;
}

/* Size in bytes of one value of a TIFF field type; 0 if unknown. */
static inline unsigned tw_type_size(uint16_t type)
{
	switch (type) {
	case 1: case 2: case 6: case 7: return 1;  /* BYTE ASCII SBYTE UNDEF */
	case 3: case 8: return 2;                  /* SHORT SSHORT */
	case 4: case 9: case 11: case 13: return 4; /* LONG SLONG FLOAT IFD */
	case 5: case 10: case 12: case 16: case 17: case 18:
		return 8; /* RATIONAL SRATIONAL DOUBLE LONG8 SLONG8 IFD8 */
	default: return 0;
	}
}

/* Reads the header; 0, or -1 when buf is not a TIFF. */
static inline int tw_open(struct tw_file *f, uint8_t *buf, size_t len)
{
	f->buf = buf;
	f->len = len;
	if (len < 8 || !((buf[0] == 'I' && buf[1] == 'I') ||
			 (buf[0] == 'M' && buf[1] == 'M')))
		return -1;
	f->be = buf[0] == 'M';
	switch (tw_rd(f, 2, 2)) {
	case 42:
		f->big = false;
		return 0;
	case 43:
		f->big = true;
		return len >= 16 && tw_rd(f, 4, 2) == 8 ? 0 : -1;
	default:
		return -1;
	}
}

static inline uint64_t tw_first_ifd(const struct tw_file *f)
{
	return f->big ? tw_rd(f, 8, 8) : tw_rd(f, 4, 4);
}

/* Entry i of the IFD at ifd; the number of entries in *n. 0 or -1. */
static inline int tw_entry(const struct tw_file *f, uint64_t ifd, uint64_t i,
			   struct tw_entry *e, uint64_t *n)
{
	unsigned cw = f->big ? 8 : 2, esz = f->big ? 20 : 12;
	unsigned ow = f->big ? 8 : 4, vsz;
	uint64_t at;

	if (!tw_in(f, ifd, cw))
		return -1;
	*n = tw_rd(f, ifd, cw);
	if (i >= *n || *n > 100000 || !tw_in(f, ifd + cw, *n * esz + ow))
		return -1;
	at = ifd + cw + i * esz;
	e->tag = (uint16_t)tw_rd(f, at, 2);
	e->type = (uint16_t)tw_rd(f, at + 2, 2);
	e->count = tw_rd(f, at + 4, ow);
	vsz = tw_type_size(e->type);
	if (!vsz || e->count > (UINT64_MAX >> 4))
		return -1;
	if (e->count * vsz <= ow)
		e->at = at + 4 + ow; /* inline */
	else
		e->at = tw_rd(f, at + 4 + ow, ow);
	return tw_in(f, e->at, e->count * vsz) ? 0 : -1;
}

/* The IFD after the one at ifd (0: none), or -1 on a malformed IFD. */
static inline int64_t tw_next_ifd(const struct tw_file *f, uint64_t ifd)
{
	unsigned cw = f->big ? 8 : 2, esz = f->big ? 20 : 12;
	unsigned ow = f->big ? 8 : 4;
	uint64_t n;

	if (!tw_in(f, ifd, cw))
		return -1;
	n = tw_rd(f, ifd, cw);
	if (!tw_in(f, ifd + cw, n * esz + ow))
		return -1;
	return (int64_t)tw_rd(f, ifd + cw + n * esz, ow);
}

/* Finds tag in the IFD at ifd. 0, or -1 when absent or malformed. */
static inline int tw_find(const struct tw_file *f, uint64_t ifd, uint16_t tag,
			  struct tw_entry *e)
{
	uint64_t n = 1;

	for (uint64_t i = 0; i < n; i++) {
		if (tw_entry(f, ifd, i, e, &n))
			return -1;
		if (e->tag == tag)
			return 0;
	}
	return -1;
}

/* Value i of an integer entry (BYTE, SHORT, LONG, LONG8). */
static inline uint64_t tw_value(const struct tw_file *f,
				const struct tw_entry *e, uint64_t i)
{
	unsigned sz = tw_type_size(e->type);

	return tw_rd(f, e->at + i * sz, sz);
}

static inline void tw_set_value(struct tw_file *f, const struct tw_entry *e,
				uint64_t i, uint64_t v)
{
	unsigned sz = tw_type_size(e->type);

	tw_wr(f, e->at + i * sz, sz, v);
}

static inline void tw_grow(uint64_t *end, uint64_t off, uint64_t n)
{
	if (off + n > *end)
		*end = off + n;
}

/* The extent of the file: how many bytes its structure occupies (header,
 * every IFD, out-of-line values, every tile or strip). -1 if malformed
 * or when a referenced byte lies past len. */
static inline int64_t tw_extent(const struct tw_file *f)
{
	unsigned cw = f->big ? 8 : 2, esz = f->big ? 20 : 12;
	unsigned ow = f->big ? 8 : 4;
	uint64_t end = f->big ? 16 : 8, n, ifd = tw_first_ifd(f);
	int64_t next;
	int guard = 0;

	while (ifd) {
		struct tw_entry e, offs, cnts;
		bool tiled;

		if (++guard > 1000 || !tw_in(f, ifd, cw))
			return -1;
		n = tw_rd(f, ifd, cw);
		tw_grow(&end, ifd, cw + n * esz + ow);
		for (uint64_t i = 0; i < n; i++) {
			if (tw_entry(f, ifd, i, &e, &n))
				return -1;
			tw_grow(&end, e.at, e.count * tw_type_size(e.type));
		}
		tiled = tw_find(f, ifd, TW_TAG_TILE_OFFSETS, &offs) == 0;
		if (!tiled && tw_find(f, ifd, TW_TAG_STRIP_OFFSETS, &offs))
			return -1;
		if (tw_find(f, ifd, tiled ? TW_TAG_TILE_BYTE_COUNTS
					  : TW_TAG_STRIP_BYTE_COUNTS,
			    &cnts) ||
		    cnts.count != offs.count)
			return -1;
		for (uint64_t i = 0; i < offs.count; i++) {
			uint64_t o = tw_value(f, &offs, i);
			uint64_t c = tw_value(f, &cnts, i);

			if (!tw_in(f, o, c))
				return -1;
			tw_grow(&end, o, c);
		}
		next = tw_next_ifd(f, ifd);
		if (next < 0)
			return -1;
		ifd = (uint64_t)next;
	}
	return end > f->len ? -1 : (int64_t)end;
}

#endif
