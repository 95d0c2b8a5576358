/*
 * config_file: satfs.conf, read with libinih (and libinih only here).
 *
 * libinih is driven through ini_parse_stream() with our own line reader.
 * The reader counts lines (Debian builds inih without INI_HANDLER_LINENO),
 * sees section headers (inih does not report a section without keys, and
 * we must check e.g. that a region has a geometry), strips comments itself
 * (so that ';' comments behave the same whatever INI_ALLOW_INLINE_COMMENTS
 * the library was built with) and removes leading blanks (an indented line
 * would otherwise become an inih "multi-line" continuation of the previous
 * value). inih then splits KEY = VALUE. The whole file is read on the
 * thread that calls sat_config_load(); nothing here is shared.
 *
 * Regions: the built-in `david` exists only while the file names no region
 * of its own. Once the file has a [region ...] section, exactly the
 * regions it lists exist: a user pointing satfs at their own areas does
 * not want the tutorial's next to them. Products are different: a section
 * named like a built-in product modifies it, starting from its values; a
 * new one starts from falsecolor's rendering but must name its bands.
 */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config_priv.h"
#include "satfs/config.h"
#include "satfs/region.h"
#include "satfs/stac.h"

#define MSG_MAX 512
#define NAME_MAX_LEN 255
#define PRODUCT_NAME_MAX 64
#define NAME_CHARS \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"

enum section { SEC_NONE, SEC_SOURCE, SEC_MOUNT, SEC_SHARED, SEC_REGION,
	       SEC_PRODUCT };

static const char *const source_keys[] = { "type", "stac", "collection",
	"max_cloud", "dates", "offset", "sign", "sign_url", "subscription_key",
	"project", "ee_url",
	"token_command", "token_file", NULL };
static const char *const mount_keys[] = { "cache", "cache_max", "prefetch",
	"connections", "listing_ttl", "max_items", "timeout", "offline", "log",
	"log_level", "connect_to", NULL };
/* [shared]: the -o options shared_store, shared_endpoint, shared_region */
static const char *const shared_keys[] = { "store", "endpoint", "region",
	NULL };
static const char *const region_keys[] = { "bbox", "center", "size",
	"geojson", "dates", NULL };
static const char *const product_keys[] = { "bands", "min", "max", "gamma",
	"scale", "outline", "clip", "type", NULL };

/* A [region NAME] being read: the keys are combined at its end. */
struct region_draft {
	int bbox_line, center_line, size_line, geojson_line;
	double bbox[4], lat, lon, side_deg, side_m;
	double *lonlat; /* geojson ring */
	size_t n;
	bool has_dates;
	time_t from, to;
};

/* A [product NAME] being read, starting from the product it modifies. */
struct product_draft {
	struct sat_product *p;
	int min_line, max_line, nmin, nmax;
	double min[SAT_PRODUCT_MAX_BANDS], max[SAT_PRODUCT_MAX_BANDS];
};

struct parse {
	struct sat_config *c;
	const char *file;
	FILE *fp;
	char *line;        /* getline buffer */
	size_t cap;
	int lineno;
	int err;           /* the first error, which ends the parse */
	char *msg;
	size_t msglen;
	bool file_regions; /* the file has named a region */
	char **seen;       /* labels of the sections read so far */
	size_t nseen;
	enum section kind; /* the current section */
	const char *label; /* "product falsecolor", borrowed from seen[] */
	const char *name;  /* NAME of [region NAME], inside label */
	int sec_line;
	unsigned keys_seen;
	struct region_draft rd;
	struct product_draft pd;
};

static int fail(struct parse *ps, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct parse *ps, int line, const char *fmt, ...)
{
	char text[MSG_MAX];
	va_list ap;

	if (ps->err)
		return ps->err;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	snprintf(ps->msg, ps->msglen, "%s:%d: %s", ps->file, line, text);
	ps->err = -EINVAL;
	return ps->err;
}

static int oom(struct parse *ps)
{
	if (!ps->err) {
		snprintf(ps->msg, ps->msglen, "%s: out of memory", ps->file);
		ps->err = -ENOMEM;
	}
	return ps->err;
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* A region's name becomes a top-level directory, next to ad-hoc names. */
static bool valid_region_name(const char *s)
{
	size_t i, len = strlen(s);

	if (len == 0 || len > NAME_MAX_LEN || s[0] == '.' || s[0] == '@' ||
	    strncmp(s, "bbox=", 5) == 0)
		return false;
	for (i = 0; i < len; i++)
		if (s[i] == '/' || iscntrl((unsigned char)s[i]))
			return false;
	return true;
}

/* A product's name becomes part of file names: "<item>.<product>.tif". */
static bool valid_product_name(const char *s)
{
	size_t len = strlen(s);

	return len > 0 && len <= PRODUCT_NAME_MAX &&
	       strspn(s, NAME_CHARS) == len;
}

static int read_geojson(struct parse *ps, const char *v, char *msg,
			size_t msglen)
{
	const char *slash = strrchr(ps->file, '/');
	char *path = NULL, *body = NULL;
	struct stat st;
	FILE *fp = NULL;
	int ret;

	/* A relative path is relative to the configuration file. */
	if (v[0] != '/' && slash)
		ret = asprintf(&path, "%.*s/%s", (int)(slash - ps->file),
			       ps->file, v);
	else
		ret = asprintf(&path, "%s", v);
	if (ret < 0)
		return -ENOMEM;
	fp = fopen(path, "r");
	if (!fp || fstat(fileno(fp), &st) < 0) {
		ret = sat_config_problem(msg, msglen, "geojson: cannot read '%s': %s",
			      path, strerror(errno));
		goto out;
	}
	if (st.st_size > SAT_STAC_MAX_BODY) {
		ret = sat_config_problem(msg, msglen, "geojson: '%s' is too large", path);
		goto out;
	}
	body = malloc((size_t)st.st_size + 1);
	if (!body) {
		ret = -ENOMEM;
		goto out;
	}
	if (fread(body, 1, (size_t)st.st_size, fp) != (size_t)st.st_size) {
		ret = sat_config_problem(msg, msglen, "geojson: cannot read '%s': %s",
			      path, ferror(fp) ? strerror(errno) : "short");
		goto out;
	}
	body[st.st_size] = '\0';
	free(ps->rd.lonlat);
	ps->rd.lonlat = NULL;
	ret = sat_stac_parse_geojson_ring(body, (size_t)st.st_size,
					  &ps->rd.lonlat, &ps->rd.n);
	if (ret < 0)
		ret = sat_config_problem(msg, msglen, "geojson: '%s' holds no Polygon "
			      "or MultiPolygon", path);
out:
	if (fp)
		fclose(fp);
	free(body);
	free(path);
	return ret;
}

static int region_key(struct parse *ps, const char *key, const char *v)
{
	struct region_draft *d = &ps->rd;
	char msg[MSG_MAX];
	double ll[2];
	int ret = 0;

	if (strcmp(key, "bbox") == 0) {
		ret = sat_region_parse_bbox(v, d->bbox, msg, sizeof(msg));
		d->bbox_line = ps->lineno;
	} else if (strcmp(key, "center") == 0) {
		if (sat_config_parse_list(v, ll, 2) != 2 || ll[0] < -90 ||
		    ll[0] > 90 || ll[1] < -180 || ll[1] > 180)
			ret = sat_config_problem(msg, sizeof(msg), "center: '%s' is not "
				      "'LAT, LON' in degrees", v);
		d->lat = ll[0];
		d->lon = ll[1];
		d->center_line = ps->lineno;
	} else if (strcmp(key, "size") == 0) {
		ret = sat_region_parse_size(v, &d->side_deg, &d->side_m, msg,
					    sizeof(msg));
		d->size_line = ps->lineno;
	} else if (strcmp(key, "geojson") == 0) {
		ret = read_geojson(ps, v, msg, sizeof(msg));
		d->geojson_line = ps->lineno;
	} else {
		ret = sat_region_parse_dates(v, &d->from, &d->to, msg,
					     sizeof(msg));
		d->has_dates = true;
	}
	if (ret == -ENOMEM)
		return oom(ps);
	return ret < 0 ? fail(ps, ps->lineno, "%s", msg) : 0;
}

static int end_region(struct parse *ps)
{
	struct region_draft *d = &ps->rd;
	struct sat_region *r = NULL;
	char msg[MSG_MAX];
	int ret, line;

	if (d->size_line && !d->center_line)
		return fail(ps, d->size_line, "size: needs center");
	switch (!!d->bbox_line + !!d->center_line + !!d->geojson_line) {
	case 0:
		return fail(ps, ps->sec_line, "region '%s' needs one of bbox, "
			    "center + size or geojson", ps->name);
	case 1:
		break;
	default:
		return fail(ps, ps->sec_line, "region '%s': give only one of "
			    "bbox, center + size or geojson", ps->name);
	}
	if (d->center_line && !d->size_line)
		return fail(ps, d->center_line, "center: needs size");
	if (d->bbox_line) {
		line = d->bbox_line;
		ret = sat_region_new_bbox(&r, ps->name, d->bbox, msg,
					  sizeof(msg));
	} else if (d->center_line) {
		line = d->center_line;
		ret = sat_region_new_center(&r, ps->name, d->lat, d->lon,
					    d->side_deg, d->side_m, msg,
					    sizeof(msg));
	} else {
		line = d->geojson_line;
		ret = sat_region_new_polygon(&r, ps->name, d->lonlat, d->n,
					     msg, sizeof(msg));
	}
	if (ret == -ENOMEM)
		return oom(ps);
	if (ret < 0)
		return fail(ps, line, "region '%s': %s", ps->name, msg);
	r->has_dates = d->has_dates;
	r->date_from = d->from;
	r->date_to = d->to;
	if (sat_config_add_region(ps->c, r) < 0) {
		sat_region_free(r);
		return oom(ps);
	}
	return 0;
}

static int set_bands(struct sat_product *p, const char *v, char *msg,
		     size_t msglen)
{
	char *buf = strdup(v), *f[SAT_PRODUCT_MAX_BANDS + 1], *s, *comma;
	int n = 0, i, ret = 0;

	if (!buf)
		return -ENOMEM;
	for (s = buf; s; s = comma) {
		comma = strchr(s, ',');
		if (comma)
			*comma++ = '\0';
		if (n <= SAT_PRODUCT_MAX_BANDS)
			f[n] = trim(s);
		n++;
	}
	if (n != 1 && n != SAT_PRODUCT_MAX_BANDS) {
		ret = sat_config_problem(msg, msglen, "bands: expected 1 or 3 bands, "
			      "got %d", n);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (!f[i][0] || strlen(f[i]) > 32 ||
		    strspn(f[i], NAME_CHARS ".:") != strlen(f[i])) {
			ret = sat_config_problem(msg, msglen, "bands: '%s' is not a band "
				      "name such as B8 or nir", f[i]);
			goto out;
		}
	}
	for (i = 0; i < SAT_PRODUCT_MAX_BANDS; i++) {
		char *name = i < n ? strdup(f[i]) : NULL;

		if (i < n && !name) {
			ret = -ENOMEM;
			goto out;
		}
		free(p->bands[i]);
		p->bands[i] = name;
	}
	p->nbands = n;
out:
	free(buf);
	return ret;
}

static int set_outline(struct sat_product *p, const char *v, char *msg,
		       size_t msglen)
{
	static const struct {
		const char *name;
		uint8_t rgb[3];
	} colours[] = {
		{ "blue", { 0, 0, 255 } },     { "red", { 255, 0, 0 } },
		{ "yellow", { 255, 255, 0 } }, { "white", { 255, 255, 255 } },
		{ "black", { 0, 0, 0 } },      { "green", { 0, 255, 0 } },
		{ "cyan", { 0, 255, 255 } },   { "magenta", { 255, 0, 255 } },
	};
	char buf[128], *colour, *width, *end;
	unsigned long hex;
	double w = 2;
	size_t i, n = sizeof(colours) / sizeof(colours[0]);

	if (strcmp(v, "none") == 0) {
		p->outline = false;
		return 0;
	}
	snprintf(buf, sizeof(buf), "%s", v);
	width = strchr(buf, ',');
	if (width) {
		*width++ = '\0';
		width = trim(width);
		end = width + strlen(width);
		if (end - width > 2 && strcmp(end - 2, "px") == 0)
			end[-2] = '\0';
		if (sat_config_parse_number(width, &w) < 0 || w <= 0 || w > 100)
			goto bad;
	}
	colour = trim(buf);
	for (i = 0; i < n && strcmp(colour, colours[i].name) != 0; i++)
		;
	if (i < n) {
		memcpy(p->outline_rgb, colours[i].rgb, 3);
	} else if (colour[0] == '#' && strlen(colour) == 7 &&
		   strspn(colour + 1, "0123456789abcdefABCDEF") == 6) {
		hex = strtoul(colour + 1, &end, 16);
		p->outline_rgb[0] = (uint8_t)(hex >> 16);
		p->outline_rgb[1] = (uint8_t)(hex >> 8);
		p->outline_rgb[2] = (uint8_t)hex;
	} else {
		goto bad;
	}
	p->outline = true;
	p->outline_width_px = w;
	return 0;
bad:
	return sat_config_problem(msg, msglen, "outline: '%s' is not none or COLOUR[, "
		       "WIDTH] (blue, red, ..., #rrggbb; width 2 or 2px)", v);
}

/* "10", "2m" (metres per pixel) or "native" (the bands' resolution). */
static int set_scale(struct sat_product *p, const char *v, char *msg,
		     size_t msglen)
{
	char num[64];
	size_t len = strlen(v);
	double m;

	if (strcmp(v, "native") == 0) {
		p->scale_m = 0;
		return 0;
	}
	if (len && v[len - 1] == 'm')
		len--;
	if (len < sizeof(num)) {
		memcpy(num, v, len);
		num[len] = '\0';
		if (sat_config_parse_number(num, &m) == 0 && m > 0 &&
		    m <= 100000) {
			p->scale_m = m;
			return 0;
		}
	}
	return sat_config_problem(msg, msglen, "scale: '%s' is not metres per pixel "
		       "such as 10 or 2m", v);
}

static int product_key(struct parse *ps, const char *key, const char *v)
{
	struct product_draft *d = &ps->pd;
	struct sat_product *p = d->p;
	char msg[MSG_MAX];
	int ret = 0, n;

	if (strcmp(key, "bands") == 0) {
		ret = set_bands(p, v, msg, sizeof(msg));
	} else if (strcmp(key, "min") == 0 || strcmp(key, "max") == 0) {
		bool is_min = key[1] == 'i';

		n = sat_config_parse_list(v, is_min ? d->min : d->max,
					  SAT_PRODUCT_MAX_BANDS);
		if (n < 0)
			ret = sat_config_problem(msg, sizeof(msg), "%s: '%s' is not one "
				      "number or one per band", key, v);
		*(is_min ? &d->nmin : &d->nmax) = n;
		*(is_min ? &d->min_line : &d->max_line) = ps->lineno;
	} else if (strcmp(key, "gamma") == 0) {
		if (sat_config_parse_number(v, &p->gamma) < 0 || p->gamma <= 0)
			ret = sat_config_problem(msg, sizeof(msg), "gamma: '%s' is not a "
				      "number greater than 0", v);
	} else if (strcmp(key, "scale") == 0) {
		ret = set_scale(p, v, msg, sizeof(msg));
	} else if (strcmp(key, "outline") == 0) {
		ret = set_outline(p, v, msg, sizeof(msg));
	} else if (strcmp(key, "clip") == 0) {
		ret = sat_config_parse_bool(key, v, &p->clip, msg, sizeof(msg));
	} else if (strcmp(v, "visual") == 0 || strcmp(v, "raw") == 0) {
		/* key "type", the last of them */
		p->type = v[0] == 'r' ? SAT_PRODUCT_RAW : SAT_PRODUCT_VISUAL;
	} else {
		ret = sat_config_problem(msg, sizeof(msg), "type: '%s' is not visual or "
			      "raw", v);
	}
	if (ret == -ENOMEM)
		return oom(ps);
	return ret < 0 ? fail(ps, ps->lineno, "%s", msg) : 0;
}

/* One value for all bands, or one per band. */
static int spread(double *dst, const double *v, int n, int nbands)
{
	int i;

	if (n != 1 && n != nbands)
		return -EINVAL;
	for (i = 0; i < SAT_PRODUCT_MAX_BANDS; i++)
		dst[i] = v[n == 1 ? 0 : i < n ? i : n - 1];
	return 0;
}

static int end_product(struct parse *ps)
{
	struct product_draft *d = &ps->pd;
	struct sat_product *p = d->p;
	struct sat_config *c = ps->c;
	int i, line = d->max_line > d->min_line ? d->max_line : d->min_line;
	size_t j;

	if (p->nbands == 0)
		return fail(ps, ps->sec_line, "product '%s' needs bands",
			    p->name);
	if (d->nmin && spread(p->min, d->min, d->nmin, p->nbands) < 0)
		return fail(ps, d->min_line, "min: %d values for %d bands",
			    d->nmin, p->nbands);
	if (d->nmax && spread(p->max, d->max, d->nmax, p->nbands) < 0)
		return fail(ps, d->max_line, "max: %d values for %d bands",
			    d->nmax, p->nbands);
	for (i = 0; i < p->nbands; i++)
		if (!(p->min[i] < p->max[i]))
			return fail(ps, line ? line : ps->sec_line,
				    "product '%s': min %g is not less than "
				    "max %g", p->name, p->min[i], p->max[i]);
	for (j = 0; j < c->nproducts; j++) {
		if (strcmp(c->products[j]->name, p->name) == 0) {
			sat_config_product_free(c->products[j]);
			c->products[j] = p;
			d->p = NULL;
			return 0;
		}
	}
	if (sat_config_add_product(c, p) < 0)
		return oom(ps);
	d->p = NULL;
	return 0;
}

static int end_section(struct parse *ps)
{
	int ret = 0;

	if (!ps->err && ps->kind == SEC_REGION)
		ret = end_region(ps);
	else if (!ps->err && ps->kind == SEC_PRODUCT)
		ret = end_product(ps);
	free(ps->rd.lonlat);
	sat_config_product_free(ps->pd.p);
	memset(&ps->rd, 0, sizeof(ps->rd));
	memset(&ps->pd, 0, sizeof(ps->pd));
	ps->kind = SEC_NONE;
	return ret;
}

/* Starts the section of header line s ("[...]"). */
static int begin_section(struct parse *ps, char *s)
{
	static const char *const kinds[] = { "", "source", "mount", "shared",
					     "region", "product" };
	/* What a new product starts from: falsecolor's rendering. */
	static const struct sat_product tmpl = {
		.min = { 0, 0, 0 }, .max = { 5000, 5000, 5000 }, .gamma = 1.35,
		.outline = true, .outline_rgb = { 0, 0, 255 },
		.outline_width_px = 2, .clip = true,
	};
	const struct sat_product *from = &tmpl;
	char *label, *name = NULL, **seen;
	size_t len = strlen(s), i;
	enum section kind;

	if (end_section(ps) < 0)
		return ps->err;
	if (s[len - 1] != ']')
		return fail(ps, ps->lineno, "expected '[section]'");
	s[len - 1] = '\0';
	label = trim(s + 1);
	for (kind = SEC_SOURCE; kind <= SEC_PRODUCT; kind++) {
		len = strlen(kinds[kind]);
		if (strncmp(label, kinds[kind], len) != 0)
			continue;
		if (kind >= SEC_REGION && isspace((unsigned char)label[len]))
			name = trim(label + len);
		if (kind >= SEC_REGION ? name != NULL : !label[len])
			break;
	}
	if (kind > SEC_PRODUCT)
		return fail(ps, ps->lineno, "unknown section [%s]", label);
	if ((kind == SEC_REGION && !valid_region_name(name)) ||
	    (kind == SEC_PRODUCT && !valid_product_name(name)))
		return fail(ps, ps->lineno, "invalid %s name '%s'",
			    kinds[kind], name);
	if (asprintf(&label, "%s%s%s", kinds[kind], name ? " " : "",
		     name ? name : "") < 0)
		return oom(ps);
	for (i = 0; i < ps->nseen; i++) {
		if (strcmp(ps->seen[i], label) == 0) {
			fail(ps, ps->lineno, "duplicate section [%s]", label);
			free(label);
			return ps->err;
		}
	}
	seen = realloc(ps->seen, (ps->nseen + 1) * sizeof(*seen));
	if (!seen) {
		free(label);
		return oom(ps);
	}
	seen[ps->nseen++] = label;
	ps->seen = seen;
	ps->kind = kind;
	ps->label = label;
	ps->name = name ? label + strlen(kinds[kind]) + 1 : NULL;
	ps->sec_line = ps->lineno;
	ps->keys_seen = 0;
	if (kind == SEC_REGION && !ps->file_regions) {
		/* The file lists its regions: drop the built-in one. */
		for (i = 0; i < ps->c->nregions; i++)
			sat_region_free(ps->c->regions[i]);
		ps->c->nregions = 0;
		ps->file_regions = true;
	}
	if (kind == SEC_PRODUCT) {
		for (i = 0; i < ps->c->nproducts; i++)
			if (strcmp(ps->c->products[i]->name, ps->name) == 0)
				from = ps->c->products[i];
		ps->pd.p = sat_config_product_dup(from, ps->name);
		if (!ps->pd.p)
			return oom(ps);
	}
	return 0;
}

/* Drops comments and surrounding blanks; see the top of the file. */
static char *clean_line(struct parse *ps, char *s)
{
	char *p;

	if (ps->lineno == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;
	s = trim(s);
	if (*s == '#')
		*s = '\0';
	for (p = s; *p; p++) {
		if (*p == ';' && (p == s || isspace((unsigned char)p[-1]))) {
			*p = '\0';
			break;
		}
	}
	return trim(s);
}

/* inih's fgets-like reader: one physical line per call, cleaned. */
static char *read_line(char *str, int num, void *stream)
{
	struct parse *ps = stream;
	ssize_t n;
	char *s, *copy;
	int ret;

	if (ps->err)
		return NULL;
	errno = 0;
	n = getline(&ps->line, &ps->cap, ps->fp);
	if (n < 0) {
		if (ferror(ps->fp)) {
			ps->err = errno ? -errno : -EIO;
			snprintf(ps->msg, ps->msglen, "%s: cannot read: %s",
				 ps->file, strerror(-ps->err));
		} else {
			end_section(ps);
		}
		return NULL;
	}
	ps->lineno++;
	if (strlen(ps->line) != (size_t)n) {
		fail(ps, ps->lineno, "NUL byte in line");
		return NULL;
	}
	s = clean_line(ps, ps->line);
	if (*s == '[') {
		copy = strdup(s);
		ret = copy ? begin_section(ps, copy) : oom(ps);
		free(copy);
		if (ret < 0)
			return NULL;
	} else if (*s && !strpbrk(s, "=:")) {
		fail(ps, ps->lineno, "expected 'key = value' or '[section]'");
		return NULL;
	}
	if (strlen(s) + 3 > (size_t)num) {
		fail(ps, ps->lineno, "line longer than %d characters", num - 3);
		return NULL;
	}
	snprintf(str, (size_t)num, "%s\n", s);
	return str;
}

/* A [source], [mount] or [shared] key: the -o option of that name, or
 * for [shared] "shared_" and its name. */
static void apply_key(struct parse *ps, const char *key, const char *v)
{
	bool shared = ps->kind == SEC_SHARED;
	char msg[MSG_MAX], opt[64];

	snprintf(opt, sizeof(opt), "%s%s", shared ? "shared_" : "", key);
	if (sat_config_apply_key(ps->c, opt, v, msg, sizeof(msg)) < 0)
		fail(ps, ps->lineno, "%s", shared ? msg + 7 : msg);
}

static int on_key(void *user, const char *section, const char *key,
		  const char *v)
{
	static const char *const *const keys[] = { NULL, source_keys,
		mount_keys, shared_keys, region_keys, product_keys };
	struct parse *ps = user;
	int i;

	(void)section; /* ours, from read_line, is already checked */
	if (ps->err)
		return 0;
	if (ps->kind == SEC_NONE) {
		fail(ps, ps->lineno, "'%s' outside of any [section]", key);
		return 0;
	}
	i = sat_config_key_index(keys[ps->kind], key);
	if (i < 0 && sat_config_credential_key(key)) {
		/* never echo what follows the key */
		fail(ps, ps->lineno, "'%s': credentials are never "
		     "configuration: set AWS_ACCESS_KEY_ID and "
		     "AWS_SECRET_ACCESS_KEY, or use ~/.aws/credentials", key);
	} else if (i < 0) {
		fail(ps, ps->lineno, "unknown key '%s' in [%s]", key,
		     ps->label);
	} else if (ps->keys_seen & (1u << i)) {
		fail(ps, ps->lineno, "duplicate key '%s' in [%s]", key,
		     ps->label);
	} else {
		ps->keys_seen |= 1u << i;
		if (ps->kind == SEC_REGION)
			region_key(ps, key, v);
		else if (ps->kind == SEC_PRODUCT)
			product_key(ps, key, v);
		else
			apply_key(ps, key, v);
	}
	return ps->err == 0;
}

int sat_config_load_file(struct sat_config *c, const char *path, char *err,
		     size_t errlen)
{
	struct parse ps = { .c = c, .file = path, .msg = err,
			    .msglen = errlen };
	size_t i;
	int ret;

	ps.fp = fopen(path, "r");
	if (!ps.fp) {
		ret = -errno;
		snprintf(err, errlen, "%s: cannot read: %s", path,
			 strerror(errno));
		return ret;
	}
	ret = ini_parse_stream(read_line, &ps, on_key, &ps);
	if (!ps.err && ret == -2)
		oom(&ps);
	else if (!ps.err && ret != 0)
		fail(&ps, ret, "syntax error");
	end_section(&ps); /* frees a draft left by an error */
	for (i = 0; i < ps.nseen; i++)
		free(ps.seen[i]);
	free(ps.seen);
	free(ps.line);
	fclose(ps.fp);
	if (!ps.err && !(c->path = strdup(path)))
		oom(&ps);
	return ps.err;
}
