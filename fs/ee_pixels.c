/*
 * ee_pixels: Earth Engine's getPixels on our output grid, see
 * include/satfs/ee.h. The grid we ask for is the render's own, so the
 * answer needs no resampling: it is decoded and copied. Tiles of a large
 * grid are asked one after another: a render already runs beside others,
 * and the in-flight cap is ee_auth's.
 *
 * The answer is asked as NumPy .npy (fileFormat NPY, one of the reference's
 * ImageFileFormat values: https://developers.google.com/earth-engine/reference/rest/v1/ImageFileFormat),
 * which Earth Engine writes as a structured array, one field per band, each
 * in the band's own data type (the official Python client reads it with
 * numpy.load: ee.data.getPixels, fileFormat NUMPY_NDARRAY). So every band
 * keeps its type (uint16 for Sentinel-2, float32 for a float collection)
 * without a TIFF decoder; the format is NumPy's NEP 1
 * (https://numpy.org/devdocs/reference/generated/numpy.lib.format.html):
 * "\x93NUMPY", version, header length, a Python dict literal with descr,
 * fortran_order and shape, then the raw records. The parser below reads
 * exactly that, bounded, and refuses anything else.
 */
#include "satfs/ee.h"
#include "satfs/geom.h"
#include "satfs/log.h"
#include "satfs/source.h"
#include "satfs/stac_ee.h"
#include "ee_private.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EE_MAX_PIXELS_BODY (64u << 20)
#define EE_BYTES_PER_SAMPLE 8   /* the largest type a band can have */
#define NPY_MAX_HEADER 65536    /* larger: not an answer of ours */
#define NPY_NAME_MAX 64

struct npy_field {
	char name[NPY_NAME_MAX];
	enum sat_sample_type type;
	bool swap;          /* stored in the other byte order */
	size_t offset;      /* within a record */
};

struct npy {
	struct npy_field fields[SAT_EE_MAX_BANDS];
	size_t nfields;
	bool structured;    /* descr is a list of (name, type) */
	size_t itemsize;    /* bytes per record */
	uint32_t rows, cols;
	const uint8_t *data;
};

/* Splits "{url}:getPixels#{band}" into a malloc'd url and a pointer to
 * the band id inside href. */
static int split_href(const char *href, char **url, const char **band)
{
	const char *hash = href ? strrchr(href, '#') : NULL;

	if (!hash || !hash[1] || hash - href < 11 ||
	    strncmp(hash - 10, ":getPixels", 10) != 0)
		return -EINVAL;
	*url = strndup(href, (size_t)(hash - href));
	*band = hash + 1;
	return *url ? 0 : -ENOMEM;
}

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\n' || *p == '\t'))
		p++;
	return p;
}

/* A quoted Python string literal at p ('...' or "..."), without escapes,
 * into buf. The position after it, or NULL. */
static const char *py_str(const char *p, const char *end, char *buf,
			  size_t len)
{
	char q;
	size_t n = 0;

	p = skip_ws(p, end);
	if (p >= end || (*p != '\'' && *p != '"'))
		return NULL;
	q = *p++;
	while (p < end && *p != q) {
		if (*p == '\\' || n + 1 >= len)
			return NULL;
		buf[n++] = *p++;
	}
	if (p >= end)
		return NULL;
	buf[n] = '\0';
	return p + 1;
}

/* A typestr such as "<u2", "|u1", ">f4" (the array interface's). */
static int npy_type(const char *t, struct npy_field *f)
{
	static const struct {
		const char *code;
		enum sat_sample_type type;
	} map[] = {
		{ "u1", SAT_SAMPLE_U8 },  { "i1", SAT_SAMPLE_I8 },
		{ "u2", SAT_SAMPLE_U16 }, { "i2", SAT_SAMPLE_I16 },
		{ "u4", SAT_SAMPLE_U32 }, { "i4", SAT_SAMPLE_I32 },
		{ "f4", SAT_SAMPLE_F32 }, { "f8", SAT_SAMPLE_F64 },
	};
	const uint16_t one = 1;
	bool little_host = *(const uint8_t *)&one == 1;

	if (strlen(t) != 3 || !strchr("<>|=", t[0]))
		return -ENOTSUP;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(t + 1, map[i].code) != 0)
			continue;
		f->type = map[i].type;
		f->swap = sat_sample_size(f->type) > 1 &&
			  ((t[0] == '<' && !little_host) ||
			   (t[0] == '>' && little_host));
		return 0;
	}
	return -ENOTSUP;
}

/* descr: '<u2' or [('B4', '<u2'), ('B8', '<u2')]. */
static const char *npy_descr(const char *p, const char *end, struct npy *n,
			     int *err)
{
	char name[NPY_NAME_MAX], type[16];
	struct npy_field *f;

	p = skip_ws(p, end);
	if (p < end && *p != '[') {
		f = &n->fields[0];
		p = py_str(p, end, type, sizeof(type));
		if (!p || (*err = npy_type(type, f)) != 0)
			return NULL;
		n->nfields = 1;
		n->itemsize = sat_sample_size(f->type);
		return p;
	}
	n->structured = true;
	for (p++;;) {
		p = skip_ws(p, end);
		if (p < end && *p == ']')
			return p + 1;
		if (p >= end || *p != '(' || n->nfields == SAT_EE_MAX_BANDS)
			return NULL;
		p = py_str(p + 1, end, name, sizeof(name));
		p = p ? skip_ws(p, end) : NULL;
		if (!p || p >= end || *p != ',')
			return NULL;
		p = py_str(p + 1, end, type, sizeof(type));
		p = p ? skip_ws(p, end) : NULL;
		if (!p || p >= end || *p != ')') /* no sub-array shapes */
			return NULL;
		f = &n->fields[n->nfields];
		if ((*err = npy_type(type, f)) != 0)
			return NULL;
		snprintf(f->name, sizeof(f->name), "%s", name);
		f->offset = n->itemsize;
		n->itemsize += sat_sample_size(f->type);
		n->nfields++;
		p = skip_ws(p + 1, end);
		if (p < end && *p == ',')
			p++;
	}
}

/* shape: (rows, cols) */
static const char *npy_shape(const char *p, const char *end, struct npy *n)
{
	unsigned long v[2];
	char *e;

	p = skip_ws(p, end);
	if (p >= end || *p != '(')
		return NULL;
	for (int i = 0; i < 2; i++) {
		p = skip_ws(p + 1, end);
		if (p >= end || *p < '0' || *p > '9')
			return NULL;
		v[i] = strtoul(p, &e, 10);
		if (e >= end || v[i] > SAT_EE_MAX_SIDE)
			return NULL;
		p = skip_ws(e, end);
		if (p >= end || (*p != ',' && *p != ')'))
			return NULL;
		if (i == 0 && *p != ',')
			return NULL;
	}
	if (*p == ',')
		p = skip_ws(p + 1, end);
	if (p >= end || *p != ')')
		return NULL;
	n->rows = (uint32_t)v[0];
	n->cols = (uint32_t)v[1];
	return p + 1;
}

/* Parses an .npy answer. 0, -EIO (not one; *why says what), -ENOTSUP (a
 * type we do not read). */
static int npy_parse(const uint8_t *buf, size_t len, struct npy *n,
		     const char **why)
{
	const char *h, *end, *p;
	size_t hlen, off;
	char key[32];
	bool got_descr = false, got_order = false, got_shape = false;

	memset(n, 0, sizeof(*n));
	*why = "not a NumPy .npy file";
	if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0)
		return -EIO;
	if (buf[6] == 1) {
		hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
		off = 10;
	} else if ((buf[6] == 2 || buf[6] == 3) && len >= 12) {
		hlen = (size_t)buf[8] | (size_t)buf[9] << 8 |
		       (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
		off = 12;
	} else {
		*why = "an .npy version we do not know";
		return -EIO;
	}
	if (hlen > NPY_MAX_HEADER || hlen > len - off) {
		*why = "a truncated .npy header";
		return -EIO;
	}
	h = (const char *)buf + off;
	end = h + hlen;
	p = skip_ws(h, end);
	if (p >= end || *p != '{')
		return -EIO;
	for (p++;;) {
		p = skip_ws(p, end);
		if (p < end && *p == '}')
			break;
		p = py_str(p, end, key, sizeof(key));
		p = p ? skip_ws(p, end) : NULL;
		if (!p || p >= end || *p != ':')
			return -EIO;
		p++;
		if (!strcmp(key, "descr")) {
			int terr = 0;

			p = npy_descr(p, end, n, &terr);
			if (!p) {
				*why = terr ? "a sample type we do not read"
					    : "an .npy descr we cannot read";
				return terr ? terr : -EIO;
			}
			got_descr = true;
		} else if (!strcmp(key, "fortran_order")) {
			p = skip_ws(p, end);
			if (end - p >= 5 && !memcmp(p, "False", 5)) {
				p += 5;
			} else {
				*why = "a Fortran-ordered .npy array";
				return -EIO;
			}
			got_order = true;
		} else if (!strcmp(key, "shape")) {
			p = npy_shape(p, end, n);
			if (!p) {
				*why = "an .npy shape that is not (rows, "
				       "columns)";
				return -EIO;
			}
			got_shape = true;
		} else {
			return -EIO;
		}
		p = skip_ws(p, end);
		if (p < end && *p == ',')
			p++;
	}
	if (!got_descr || !got_order || !got_shape || !n->itemsize)
		return -EIO;
	off += hlen;
	if ((uint64_t)n->rows * n->cols * n->itemsize > len - off) {
		*why = "an .npy file shorter than its shape says";
		return -EIO;
	}
	n->data = buf + off;
	return 0;
}

/* Copies field f of the records into band b's values at the tile's place
 * (ty0, tx0) of a grid width px wide. */
static void npy_copy(const struct npy *n, const struct npy_field *f,
		     struct sat_read_band *b, uint32_t width, uint32_t tx0,
		     uint32_t ty0)
{
	size_t sz = sat_sample_size(f->type);
	uint8_t *dst = b->values;

	for (uint32_t y = 0; y < n->rows; y++) {
		const uint8_t *rec = n->data + ((size_t)y * n->cols) *
						       n->itemsize;
		uint8_t *d = dst + (((size_t)(ty0 + y)) * width + tx0) * sz;

		for (uint32_t x = 0; x < n->cols; x++, d += sz,
			      rec += n->itemsize) {
			const uint8_t *s = rec + f->offset;

			if (!f->swap) {
				memcpy(d, s, sz);
				continue;
			}
			for (size_t k = 0; k < sz; k++)
				d[k] = s[sz - 1 - k];
		}
	}
}

/* One request: the tile (tx0, ty0, tw, th) of grid g into the bands.
 * typed[b] says whether band b's buffer already has its type. */
static int get_tile(struct sat_ee *ee, const char *url,
		    const char *const *ids, const struct sat_grid *g,
		    uint32_t tx0, uint32_t ty0, uint32_t tw, uint32_t th,
		    const struct sat_read *rd, bool *typed)
{
	struct sat_read_band *bands = rd->bands;
	size_t n = rd->nbands, npix = (size_t)g->width * g->height;
	const char *hdrs[] = { "Content-Type: application/json", NULL };
	struct sat_fetch_req req = { .url = url, .method = "POST",
				     .headers = hdrs,
				     .max_body_bytes = EE_MAX_PIXELS_BODY,
				     .priority = rd->prio,
				     .progress = rd->progress };
	struct sat_fetch_result res;
	const struct npy_field *f;
	const char *why;
	struct npy npy;
	char *body;
	int err;

	body = sat_stac_ee_pixels_body(ids, n, g->epsg,
				       g->origin_x + tx0 * g->pixel_size,
				       g->origin_y - ty0 * g->pixel_size,
				       g->pixel_size, tw, th);
	if (!body)
		return -ENOMEM;
	req.body = body;
	req.body_len = strlen(body);
	err = sat_ee_fetch(ee, &req, &res, "getPixels");
	free(body);
	if (err) {
		sat_fetch_result_clear(&res);
		return err;
	}
	err = npy_parse((const uint8_t *)res.data, res.len, &npy, &why);
	if (!err && (npy.rows != th || npy.cols != tw)) {
		sat_error("earthengine: getPixels answered %ux%u pixels for "
			  "%ux%u", npy.cols, npy.rows, tw, th);
		err = -EIO;
		why = NULL;
	}
	for (size_t b = 0; !err && b < n; b++) {
		f = NULL;
		for (size_t k = 0; k < npy.nfields; k++)
			if (npy.structured ? !strcmp(npy.fields[k].name, ids[b])
					   : n == 1)
				f = &npy.fields[k];
		if (!f) {
			sat_error("earthengine: getPixels answered no band %s",
				  ids[b]);
			err = -EIO;
			why = NULL;
			break;
		}
		if (!typed[b]) {
			err = sat_read_band_reserve(&bands[b], f->type, npix);
			typed[b] = !err;
		} else if (bands[b].type != f->type) {
			sat_error("earthengine: getPixels answered band %s as "
				  "%s, then as %s", ids[b],
				  sat_sample_name(bands[b].type),
				  sat_sample_name(f->type));
			err = -EIO;
			why = NULL;
		}
		if (!err)
			npy_copy(&npy, f, &bands[b], g->width, tx0, ty0);
	}
	sat_fetch_result_clear(&res);
	if (err && why) {
		sat_error("earthengine: getPixels answered %s", why);
		sat_log_cause("Earth Engine: getPixels answered %s", why);
	}
	return err == -ENOMEM || err == -ENOTSUP ? err : err ? -EIO : 0;
}

/* Is sample i of band b data (getPixels writes masked pixels as 0)? */
static bool sample_valid(const struct sat_read_band *b, size_t i)
{
	double v = sat_sample_get(b->values, b->type, i);

	return v != 0 && !isnan(v) && !(b->has_nodata && v == b->nodata);
}

int sat_ee_window(struct sat_ee *ee, const struct sat_read *rd)
{
	const struct sat_grid *g = rd->grid;
	struct sat_read_band *bands = rd->bands;
	size_t n = rd->nbands;
	uint8_t *valid = rd->valid;
	const char *ids[SAT_EE_MAX_BANDS];
	bool typed[SAT_EE_MAX_BANDS] = { false };
	char *url = NULL, *other = NULL;
	size_t npix = (size_t)g->width * g->height, b, i;
	uint64_t max_bytes = sat_ee_max_bytes_(ee);
	uint64_t bpp = EE_BYTES_PER_SAMPLE * (uint64_t)n;
	uint32_t side = sat_ee_max_side_(ee), tw, th, x, y;
	int err = 0;

	if (!n || n > SAT_EE_MAX_BANDS || !npix)
		return -EINVAL;
	for (b = 0; b < n && !err; b++) {
		err = split_href(bands[b].href, b ? &other : &url, &ids[b]);
		if (!err && b) {
			if (strcmp(other, url) != 0)
				err = -EINVAL; /* bands of one image only */
			free(other);
		}
	}
	if (err) {
		free(url);
		return err;
	}
	/* Whole rows of the widest allowed tile, as many as fit. */
	tw = g->width < side ? g->width : side;
	if (tw * bpp > max_bytes)
		tw = (uint32_t)(max_bytes / bpp) ? (uint32_t)(max_bytes / bpp)
						 : 1;
	th = (uint32_t)(max_bytes / (tw * bpp));
	th = th < 1 ? 1 : th > side ? side : th;
	if (th > g->height)
		th = g->height;

	for (y = 0; y < g->height && !err; y += th)
		for (x = 0; x < g->width && !err; x += tw)
			err = get_tile(ee, url, ids, g, x, y,
				       g->width - x < tw ? g->width - x : tw,
				       g->height - y < th ? g->height - y : th,
				       rd, typed);
	if (err)
		goto out;
	for (i = 0; i < npix; i++) {
		uint8_t ok = 1;

		for (b = 0; b < n && ok; b++)
			ok = sample_valid(&bands[b], i);
		valid[i] = ok;
	}
out:
	free(url);
	return err;
}
