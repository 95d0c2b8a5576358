/*
 * region: areas of interest and the parsers for the ways users name them.
 *
 * Everything here is pure (no I/O, no shared state) and thread-safe. The
 * parsers are strict on purpose: an ad-hoc name such as "@8.3958,-82.4350,
 * 0.09" becomes a directory, and a lenient parser would let two spellings
 * of one region, or a typo, silently become regions of their own.
 */
#include "satfs/region.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest ad-hoc name (and region name) we accept: NAME_MAX. */
#define REGION_NAME_MAX 255
/* Spherical metres per degree of latitude. Used only to turn a side in
 * metres into a lon/lat box for the region's polygon; every projection
 * into a scene's CRS is PROJ's job (geom module). */
#define METRES_PER_DEG 111320.0
#define MAX_SIDE_DEG 10.0
#define MAX_SIDE_M 1000000.0
/* A bare number in an ad-hoc name is degrees, and meant as the tutorial's
 * 0.09: a larger one is most likely kilometres without the unit. */
#define MAX_ADHOC_SIDE_DEG 1.0
/* A bound on polygon vertices, so that size arithmetic cannot overflow. */
#define MAX_VERTICES (1u << 24)

static void set_msg(char *msg, size_t msglen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_msg(char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	if (!msg || msglen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
}

/*
 * Parses one decimal number filling the whole of [s, s + len): optional
 * sign, digits, optional fraction and exponent. strtod alone would also
 * take "nan", "inf" and hex floats, which have no place in coordinates.
 */
static int parse_number(const char *s, size_t len, double *v)
{
	char buf[64];
	char *end;
	size_t i;

	while (len > 0 && isspace((unsigned char)*s)) {
		s++;
		len--;
	}
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		len--;
	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	for (i = 0; i < len; i++)
		if (!strchr("0123456789+-.eE", s[i]))
			return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	errno = 0;
	*v = strtod(buf, &end);
	if (end != buf + len || errno == ERANGE || !isfinite(*v))
		return -EINVAL;
	return 0;
}

static int check_bbox(const double b[4], char *msg, size_t msglen)
{
	int i;

	for (i = 0; i < 4; i++) {
		if (!isfinite(b[i])) {
			set_msg(msg, msglen, "bbox: not a finite number");
			return -EINVAL;
		}
	}
	if (b[0] < -180 || b[0] > 180 || b[2] < -180 || b[2] > 180) {
		set_msg(msg, msglen,
			"bbox: longitude outside -180..180 (order is west, "
			"south, east, north)");
		return -EINVAL;
	}
	if (b[1] < -90 || b[1] > 90 || b[3] < -90 || b[3] > 90) {
		set_msg(msg, msglen,
			"bbox: latitude outside -90..90 (order is west, "
			"south, east, north)");
		return -EINVAL;
	}
	if (!(b[0] < b[2])) {
		set_msg(msg, msglen, "bbox: west %g is not less than east %g",
			b[0], b[2]);
		return -EINVAL;
	}
	if (!(b[1] < b[3])) {
		set_msg(msg, msglen,
			"bbox: south %g is not less than north %g", b[1], b[3]);
		return -EINVAL;
	}
	return 0;
}

/* Allocates a region with name and room for n vertices. */
static int region_alloc(struct sat_region **out, const char *name, size_t n)
{
	struct sat_region *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->ring = calloc(n, 2 * sizeof(double));
	if (!r->ring)
		goto err;
	r->nring = n;
	r->max_region_cloud = -1;
	if (name) {
		r->name = strdup(name);
		if (!r->name)
			goto err;
	}
	*out = r;
	return 0;
err:
	sat_region_free(r);
	return -ENOMEM;
}

int sat_region_new_bbox(struct sat_region **out, const char *name,
			const double bbox[4], char *msg, size_t msglen)
{
	struct sat_region *r;
	int ret;

	*out = NULL;
	ret = check_bbox(bbox, msg, msglen);
	if (ret < 0)
		return ret;
	ret = region_alloc(&r, name, 4);
	if (ret < 0) {
		set_msg(msg, msglen, "out of memory");
		return ret;
	}
	/* Counter-clockwise from the south-west corner. */
	r->ring[0] = bbox[0], r->ring[1] = bbox[1];
	r->ring[2] = bbox[2], r->ring[3] = bbox[1];
	r->ring[4] = bbox[2], r->ring[5] = bbox[3];
	r->ring[6] = bbox[0], r->ring[7] = bbox[3];
	memcpy(r->bbox, bbox, sizeof(r->bbox));
	*out = r;
	return 0;
}

int sat_region_new_center(struct sat_region **out, const char *name,
			  double lat, double lon, double side_deg,
			  double side_m, char *msg, size_t msglen)
{
	double half_lat, half_lon, b[4];

	*out = NULL;
	if (!isfinite(lat) || lat < -90 || lat > 90) {
		set_msg(msg, msglen, "center: latitude outside -90..90");
		return -EINVAL;
	}
	if (!isfinite(lon) || lon < -180 || lon > 180) {
		set_msg(msg, msglen, "center: longitude outside -180..180");
		return -EINVAL;
	}
	if (isfinite(side_deg) && side_deg > 0) {
		if (side_deg > MAX_SIDE_DEG) {
			set_msg(msg, msglen, "size: more than %g degrees",
				MAX_SIDE_DEG);
			return -EINVAL;
		}
		half_lat = half_lon = side_deg / 2;
	} else if (isfinite(side_m) && side_m > 0) {
		double coslat = cos(lat * M_PI / 180);

		if (side_m > MAX_SIDE_M) {
			set_msg(msg, msglen, "size: more than %g m",
				MAX_SIDE_M);
			return -EINVAL;
		}
		/* Spherical approximation, good enough to draw a square
		 * of about that size; near the poles it breaks down and
		 * the range checks below refuse the result. */
		half_lat = side_m / 2 / METRES_PER_DEG;
		if (coslat < 1e-6) {
			set_msg(msg, msglen, "center: too close to a pole");
			return -EINVAL;
		}
		half_lon = side_m / 2 / (METRES_PER_DEG * coslat);
	} else {
		set_msg(msg, msglen, "size: must be greater than 0");
		return -EINVAL;
	}
	b[0] = lon - half_lon;
	b[1] = lat - half_lat;
	b[2] = lon + half_lon;
	b[3] = lat + half_lat;
	if (b[0] < -180 || b[2] > 180 || b[1] < -90 || b[3] > 90) {
		set_msg(msg, msglen,
			"region crosses the antimeridian or a pole");
		return -EINVAL;
	}
	return sat_region_new_bbox(out, name, b, msg, msglen);
}

static bool same_point(const double *a, const double *b)
{
	return a[0] == b[0] && a[1] == b[1];
}

int sat_region_new_polygon(struct sat_region **out, const char *name,
			   const double *lonlat, size_t n, char *msg,
			   size_t msglen)
{
	struct sat_region *r;
	size_t i, j, ndistinct = 0;
	double area2 = 0;
	int ret;

	*out = NULL;
	if (n >= 2 && same_point(lonlat, lonlat + 2 * (n - 1)))
		n--; /* a closed ring, as GeoJSON writes it */
	if (n > MAX_VERTICES) {
		set_msg(msg, msglen, "polygon: more than %u vertices",
			MAX_VERTICES);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		double lon = lonlat[2 * i], lat = lonlat[2 * i + 1];

		if (!isfinite(lon) || !isfinite(lat) || lon < -180 ||
		    lon > 180 || lat < -90 || lat > 90) {
			set_msg(msg, msglen,
				"polygon: vertex %zu (%g, %g) is outside "
				"-180..180, -90..90",
				i + 1, lon, lat);
			return -EINVAL;
		}
		/* Three distinct vertices are all we need to know of. */
		for (j = 0; j < i && ndistinct < 3; j++)
			if (same_point(lonlat + 2 * i, lonlat + 2 * j))
				break;
		if (ndistinct < 3 && j == i)
			ndistinct++;
		area2 += lonlat[2 * i] * lonlat[2 * ((i + 1) % n) + 1] -
			 lonlat[2 * ((i + 1) % n)] * lonlat[2 * i + 1];
	}
	if (ndistinct < 3) {
		set_msg(msg, msglen, "polygon: fewer than 3 distinct vertices");
		return -EINVAL;
	}
	if (area2 == 0) {
		set_msg(msg, msglen, "polygon: has no area");
		return -EINVAL;
	}
	ret = region_alloc(&r, name, n);
	if (ret < 0) {
		set_msg(msg, msglen, "out of memory");
		return ret;
	}
	memcpy(r->ring, lonlat, n * 2 * sizeof(double));
	r->bbox[0] = r->bbox[2] = lonlat[0];
	r->bbox[1] = r->bbox[3] = lonlat[1];
	for (i = 1; i < n; i++) {
		r->bbox[0] = fmin(r->bbox[0], lonlat[2 * i]);
		r->bbox[2] = fmax(r->bbox[2], lonlat[2 * i]);
		r->bbox[1] = fmin(r->bbox[1], lonlat[2 * i + 1]);
		r->bbox[3] = fmax(r->bbox[3], lonlat[2 * i + 1]);
	}
	*out = r;
	return 0;
}

void sat_region_free(struct sat_region *r)
{
	if (!r)
		return;
	free(r->name);
	free(r->ring);
	free(r);
}

static int days_in_month(int y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30,
				      31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* Parses exactly "YYYY-MM-DD" at s[0..10) into midnight UTC. */
static int parse_day(const char *s, time_t *t)
{
	struct tm tm = { 0 };
	int y, m, d, i;

	for (i = 0; i < 10; i++) {
		if (i == 4 || i == 7 ? s[i] != '-' :
				       !isdigit((unsigned char)s[i]))
			return -EINVAL;
	}
	y = atoi(s);
	m = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	if (y < 1900 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = d;
	*t = timegm(&tm);
	return 0;
}

int sat_region_parse_dates(const char *s, time_t *from, time_t *to,
			   char *msg, size_t msglen)
{
	const char *p = s;
	time_t a, b;

	while (isspace((unsigned char)*p))
		p++;
	if (strnlen(p, 10) < 10 || parse_day(p, &a) < 0)
		goto bad;
	p += 10;
	while (isspace((unsigned char)*p))
		p++;
	if (strncmp(p, "..", 2) != 0)
		goto bad;
	p += 2;
	while (isspace((unsigned char)*p))
		p++;
	if (strnlen(p, 10) < 10 || parse_day(p, &b) < 0)
		goto bad;
	p += 10;
	while (isspace((unsigned char)*p))
		p++;
	if (*p)
		goto bad;
	if (a > b) {
		set_msg(msg, msglen, "dates: '%s' ends before it starts", s);
		return -EINVAL;
	}
	*from = a;
	*to = b + 86399;
	return 0;
bad:
	set_msg(msg, msglen,
		"dates: '%s' is not 'YYYY-MM-DD .. YYYY-MM-DD' with real "
		"calendar dates", s);
	return -EINVAL;
}

/* Splits s at commas into exactly n numbers. */
static int parse_numbers(const char *s, double *v, size_t n)
{
	const char *p = s;
	size_t i;

	for (i = 0; i < n; i++) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		if ((i + 1 < n) != (comma != NULL))
			return -EINVAL;
		if (parse_number(p, len, &v[i]) < 0)
			return -EINVAL;
		p += len + (comma ? 1 : 0);
	}
	return 0;
}

int sat_region_parse_bbox(const char *s, double bbox[4], char *msg,
			  size_t msglen)
{
	double b[4];
	int ret;

	if (parse_numbers(s, b, 4) < 0) {
		set_msg(msg, msglen,
			"bbox: '%s' is not four numbers 'west, south, east, "
			"north'", s);
		return -EINVAL;
	}
	ret = check_bbox(b, msg, msglen);
	if (ret < 0)
		return ret;
	memcpy(bbox, b, sizeof(b));
	return 0;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

int sat_region_parse_size(const char *s, double *deg, double *metres,
			  char *msg, size_t msglen)
{
	size_t len = strlen(s);
	double v, scale = -1; /* < 0: degrees */

	while (len > 0 && isspace((unsigned char)s[len - 1]))
		len--;
	if (ends_with(s, len, "km"))
		scale = 1000, len -= 2;
	else if (ends_with(s, len, "m"))
		scale = 1, len -= 1;
	else if (ends_with(s, len, "deg"))
		len -= 3;
	if (parse_number(s, len, &v) < 0 || v <= 0)
		goto bad;
	if (scale < 0) {
		if (v > MAX_SIDE_DEG) {
			set_msg(msg, msglen, "size: '%s' is more than %g "
				"degrees", s, MAX_SIDE_DEG);
			return -EINVAL;
		}
		*deg = v;
		*metres = 0;
		return 0;
	}
	v *= scale;
	if (v > MAX_SIDE_M) {
		set_msg(msg, msglen, "size: '%s' is more than %g km", s,
			MAX_SIDE_M / 1000);
		return -EINVAL;
	}
	*deg = 0;
	*metres = v;
	return 0;
bad:
	set_msg(msg, msglen,
		"size: '%s' is not a positive size such as 0.09 (degrees), "
		"500m or 10km", s);
	return -EINVAL;
}

/* Splits "a,b,c[,FROM..TO]" into at most 5 fields; returns their number
 * or -EINVAL. Fields point into buf. */
static int split_fields(char *buf, char **f, int max)
{
	int n = 0;
	char *p = buf;

	for (;;) {
		char *comma = strchr(p, ',');

		if (n == max)
			return -EINVAL;
		f[n++] = p;
		if (!comma)
			break;
		*comma = '\0';
		p = comma + 1;
	}
	return n;
}

static int parse_name_fields(struct sat_region **out, const char *name,
			     char *buf, char *msg, size_t msglen)
{
	char *f[6], *end;
	double v[4], deg, m, max_cloud = -1;
	time_t from, to;
	struct sat_region *r = NULL;
	bool is_bbox = buf[0] == 'b';
	int n, i, nnum = is_bbox ? 4 : 3;
	const char *kc = "max_region_cloud=";

	n = split_fields(buf + (is_bbox ? 5 : 1), f, 6);
	/* the last field may be max_region_cloud=PERCENT */
	if (n > nnum && strncmp(f[n - 1], kc, strlen(kc)) == 0) {
		max_cloud = strtod(f[n - 1] + strlen(kc), &end);
		if (end == f[n - 1] + strlen(kc) || *end || !(max_cloud >= 0) ||
		    max_cloud > 100) {
			set_msg(msg, msglen, "max_region_cloud: '%s' is not a "
				"percentage from 0 to 100",
				f[n - 1] + strlen(kc));
			return -ENOENT;
		}
		n--;
	}
	if (n != nnum && n != nnum + 1) {
		set_msg(msg, msglen, "%s: %d fields, not %d or %d (%s)",
			is_bbox ? "bbox=" : "@", n, nnum, nnum + 1,
			is_bbox ? "bbox=W,S,E,N[,FROM..TO]"
				: "@LAT,LON,SIZE[,FROM..TO]");
		return -ENOENT;
	}
	for (i = 0; i < (is_bbox ? 4 : 2); i++)
		if (parse_number(f[i], strlen(f[i]), &v[i]) < 0) {
			set_msg(msg, msglen, "'%s' is not a number", f[i]);
			return -ENOENT;
		}
	if (n == nnum + 1 &&
	    sat_region_parse_dates(f[nnum], &from, &to, msg, msglen) < 0) {
		if (msg && msglen && !msg[0])
			set_msg(msg, msglen, "'%s' is not a date range "
				"FROM..TO (YYYY-MM-DD..YYYY-MM-DD)", f[nnum]);
		return -ENOENT;
	}
	if (is_bbox) {
		if (sat_region_new_bbox(&r, name, v, msg, msglen) < 0)
			return -ENOENT;
	} else {
		if (sat_region_parse_size(f[2], &deg, &m, msg, msglen) < 0)
			return -ENOENT;
		if (deg > MAX_ADHOC_SIDE_DEG) {
			set_msg(msg, msglen, "a bare size is degrees, at most "
				"%g; for %g km write %gkm", MAX_ADHOC_SIDE_DEG,
				deg, deg);
			return -ENOENT;
		}
		if (sat_region_new_center(&r, name, v[0], v[1], deg, m, msg,
					  msglen) < 0)
			return -ENOENT;
	}
	if (n == nnum + 1) {
		r->has_dates = true;
		r->date_from = from;
		r->date_to = to;
	}
	r->max_region_cloud = max_cloud;
	*out = r;
	return 0;
}

int sat_region_parse_name(struct sat_region **out, const char *name,
			  char *msg, size_t msglen)
{
	size_t len = strnlen(name, REGION_NAME_MAX + 1), i;
	char *buf;
	int ret;

	*out = NULL;
	if (msg && msglen)
		msg[0] = '\0';
	if (len > REGION_NAME_MAX)
		return -ENOENT;
	if (name[0] != '@' && strncmp(name, "bbox=", 5) != 0)
		return -ENOENT;
	/* No spaces or control characters: one spelling per region. */
	for (i = 0; i < len; i++)
		if (!isgraph((unsigned char)name[i])) {
			set_msg(msg, msglen, "a space or a control character "
				"in the name");
			return -ENOENT;
		}
	buf = strdup(name);
	if (!buf)
		return -ENOMEM;
	ret = parse_name_fields(out, name, buf, msg, msglen);
	free(buf);
	return ret;
}

void sat_region_format_date(time_t t, char buf[11])
{
	struct tm tm;

	/* Years beyond 9999 do not fit; no real acquisition has one. */
	if (!gmtime_r(&t, &tm) || strftime(buf, 11, "%Y-%m-%d", &tm) != 10)
		memcpy(buf, "0000-00-00", 11);
}
