/*
 * geom: coordinate transformations (PROJ), the output grid (rules 1-2 of
 * docs/ARCHITECTURE.md "Rendering rules") and the polygon masks (6-7).
 *
 * Threading model: a PJ_CONTEXT and the PJ objects made from it must only
 * be used by one thread at a time, so every thread that calls in gets its
 * own context, created on first use and destroyed by the thread-specific
 * data destructor when the thread exits. Each thread also keeps its last
 * few (src, dst) transformations, keyed by the CRS definitions as given
 * ("EPSG:32617" for an integer code), because creating one queries PROJ's
 * SQLite database and costs about a millisecond, while a render projects
 * a handful of points. CRSs built from parts and identified by EPSG code
 * are in geom_crs.c. Process-wide state: the pthread key, created once,
 * which holds nothing but per-thread pointers, and the memo of projected
 * rings (results only, no PROJ object), under its own lock.
 */
#include "satfs/geom.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <proj.h>

#include "geom_private.h"
#include "satfs/log.h"

#define GEOM_TF_CACHE 8

/*
 * Densification of lon/lat edges (rule 1). An edge of the region is a
 * straight line in longitude/latitude; in a projected CRS it is a curve.
 * Edges are cut into steps of at most 0.001 degree (about 111 m): the
 * sagitta of a projected parallel over a chord c is c^2 / (8 R) with R the
 * radius of curvature of its image, which in UTM is at least
 * earth_radius / tan(lat), i.e. > 3,700 km up to 60 degrees; for c = 111 m
 * that is under 0.5 mm, far below any output pixel. Short edges are not
 * cut further (a fixed minimum count per edge only multiplies the points of
 * detailed polygons without changing their outline). The ring is capped at
 * GEOM_MAX_POINTS points: beyond that the step grows uniformly, which
 * happens only for regions of hundreds of degrees of perimeter.
 */
#define GEOM_STEP_DEG 0.001
#define GEOM_MAX_POINTS 100000
#define GEOM_MAX_SIDE 65536

struct geom_tf {
	char *src, *dst; /* definitions, as the caller gave them */
	PJ *pj;
};

/* Owned by one thread, reached through geom_key. */
struct geom_tls {
	PJ_CONTEXT *ctx;
	struct geom_tf tf[GEOM_TF_CACHE];
	unsigned int next; /* slot replaced when the cache is full */
};

/*
 * Projected rings, shared and memoized for the whole process. A listing
 * plans every product and picture of every scene over one region, nearly
 * always in one CRS; projecting the densified ring through PROJ (a few
 * hundred points) for each plan was a third of a cold `ls -R`'s CPU, and
 * each plan's own copy of it most of a listing's new pages. A projection
 * depends on nothing but the CRS definition and the ring, so an entry
 * never goes stale; the least recently used makes way. The memo holds a
 * reference to each of its rings, plans hold their own. Rings of more
 * than GEOM_RING_MEMO_MAX_POINTS are not kept: the memo holds at most
 * 8 x 512 KiB (a ring's points and its key, the lon/lat ring, which has
 * no more points) that nobody else does.
 */
#define GEOM_RING_MEMO 8
#define GEOM_RING_MEMO_MAX_POINTS 16384

struct ring_memo_entry {
	char *crs; /* NULL: empty */
	double *in;
	size_t nin;
	struct sat_geom_ring *ring;
	uint64_t used; /* ring_memo.clock when last used */
};

static struct {
	pthread_mutex_t lock;
	struct ring_memo_entry e[GEOM_RING_MEMO]; /* protected by lock */
	uint64_t clock, projected, hits;          /* protected by lock */
} ring_memo = { .lock = PTHREAD_MUTEX_INITIALIZER };

static pthread_key_t geom_key;
static pthread_once_t geom_once = PTHREAD_ONCE_INIT;
static int geom_key_err;

static void geom_tls_free(void *p)
{
	struct geom_tls *t = p;

	if (!t)
		return;
	for (int i = 0; i < GEOM_TF_CACHE; i++) {
		proj_destroy(t->tf[i].pj);
		free(t->tf[i].src);
		free(t->tf[i].dst);
	}
	proj_context_destroy(t->ctx);
	free(t);
}

static void geom_key_init(void)
{
	geom_key_err = pthread_key_create(&geom_key, geom_tls_free);
}

static struct geom_tls *geom_tls_get(void);

PJ_CONTEXT *geom_ctx(void)
{
	struct geom_tls *t = geom_tls_get();

	return t ? t->ctx : NULL;
}

static struct geom_tls *geom_tls_get(void)
{
	struct geom_tls *t;

	pthread_once(&geom_once, geom_key_init);
	if (geom_key_err)
		return NULL;
	t = pthread_getspecific(geom_key);
	if (t)
		return t;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->ctx = proj_context_create();
	if (!t->ctx) {
		free(t);
		return NULL;
	}
	/* Unknown codes are reported to our caller as -EINVAL; PROJ's own
	 * messages on stderr would only duplicate that. */
	proj_log_level(t->ctx, PJ_LOG_NONE);
	if (pthread_setspecific(geom_key, t) != 0) {
		geom_tls_free(t);
		return NULL;
	}
	return t;
}

/* Only these can hold a north-up grid (no vertical or geocentric CRSs);
 * a CRS bound to WGS 84 (TOWGS84) qualifies by its source CRS. */
bool geom_is_2d_crs(PJ_CONTEXT *ctx, const PJ *crs)
{
	PJ_TYPE type;
	PJ *src;
	bool ok;

	if (!crs)
		return false;
	type = proj_get_type(crs);
	if (type == PJ_TYPE_BOUND_CRS) {
		src = proj_get_source_crs(ctx, crs);
		ok = src && (proj_get_type(src) == PJ_TYPE_GEOGRAPHIC_2D_CRS ||
			     proj_get_type(src) == PJ_TYPE_PROJECTED_CRS);
		proj_destroy(src);
		return ok;
	}
	return type == PJ_TYPE_GEOGRAPHIC_2D_CRS ||
	       type == PJ_TYPE_PROJECTED_CRS;
}

/* The 2D CRS a definition names, or NULL. Definitions are bounded: no
 * CRS needs 64 KiB of WKT. */
PJ *geom_crs(PJ_CONTEXT *ctx, const char *def)
{
	PJ *crs;

	if (!def || !*def || strnlen(def, 65536) == 65536)
		return NULL;
	crs = proj_create(ctx, def);
	if (!geom_is_2d_crs(ctx, crs)) {
		proj_destroy(crs);
		return NULL;
	}
	return crs;
}

static void geom_epsg_name(char *buf, size_t len, int code)
{
	snprintf(buf, len, "EPSG:%d", code);
}

/* Returns the cached transformation src -> dst of this thread, with the
 * axis order x = easting/longitude, y = northing/latitude. */
static int geom_tf_get(const char *src, const char *dst, PJ **out)
{
	struct geom_tls *t = geom_tls_get();
	PJ *a = NULL, *b = NULL, *raw, *pj;
	struct geom_tf *slot;
	char *s = NULL, *d = NULL;
	int ret = -EINVAL;

	*out = NULL;
	if (!t)
		return -ENOMEM;
	if (!src || !dst)
		return -EINVAL;
	for (int i = 0; i < GEOM_TF_CACHE; i++) {
		if (t->tf[i].pj && strcmp(t->tf[i].src, src) == 0 &&
		    strcmp(t->tf[i].dst, dst) == 0) {
			*out = t->tf[i].pj;
			return 0;
		}
	}
	/* proj_create_crs_to_crs() accepts codes that are not 2D CRSs
	 * (EPSG:9001, the metre, gives some operation); check first. */
	a = geom_crs(t->ctx, src);
	b = geom_crs(t->ctx, dst);
	if (!a || !b) {
		sat_debug("geom: %s or %s is not a known 2D CRS", src, dst);
		goto out;
	}
	raw = proj_create_crs_to_crs_from_pj(t->ctx, a, b, NULL, NULL);
	if (!raw) {
		sat_debug("geom: no transformation %s -> %s", src, dst);
		goto out;
	}
	pj = proj_normalize_for_visualization(t->ctx, raw);
	proj_destroy(raw);
	if (!pj)
		goto out;
	s = strdup(src);
	d = strdup(dst);
	if (!s || !d) {
		free(s);
		free(d);
		proj_destroy(pj);
		ret = -ENOMEM;
		goto out;
	}
	slot = &t->tf[t->next];
	t->next = (t->next + 1) % GEOM_TF_CACHE;
	proj_destroy(slot->pj);
	free(slot->src);
	free(slot->dst);
	slot->src = s;
	slot->dst = d;
	slot->pj = pj;
	*out = pj;
	ret = 0;
out:
	proj_destroy(a);
	proj_destroy(b);
	return ret;
}

/* CRS definition -> geographic or not, shared by every thread: the answer
 * never changes, the writer asks for every file it sizes, and a thread's
 * first PROJ query opens its own connection to proj.db (sqlite: 2 to 3 ms
 * and 1 MB of fresh pages here), which render and decoder threads paid
 * for this question alone when the memo was per thread: 50 ms of a cold
 * 50-snippet copy. */
#define GEOM_KIND_MEMO 16
static pthread_mutex_t kind_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char *crs; /* NULL: free */
	int geographic;
} kind_memo[GEOM_KIND_MEMO]; /* protected by kind_lock */
static unsigned kind_next;   /* protected by kind_lock */

int sat_geom_crs_is_geographic(const char *def)
{
	struct geom_tls *t;
	PJ *crs, *src;
	int ret = -1;
	char *copy;

	if (!def)
		return -EINVAL;
	pthread_mutex_lock(&kind_lock);
	for (int i = 0; i < GEOM_KIND_MEMO && ret < 0; i++)
		if (kind_memo[i].crs && strcmp(kind_memo[i].crs, def) == 0)
			ret = kind_memo[i].geographic;
	pthread_mutex_unlock(&kind_lock);
	if (ret >= 0)
		return ret;
	t = geom_tls_get();
	if (!t)
		return -ENOMEM;
	ret = -EINVAL;
	crs = geom_crs(t->ctx, def);
	if (crs) {
		src = proj_get_type(crs) == PJ_TYPE_BOUND_CRS
			      ? proj_get_source_crs(t->ctx, crs)
			      : NULL;
		ret = proj_get_type(src ? src : crs) ==
		      PJ_TYPE_GEOGRAPHIC_2D_CRS;
		proj_destroy(src);
		copy = strdup(def);
		if (copy) {
			pthread_mutex_lock(&kind_lock);
			free(kind_memo[kind_next].crs);
			kind_memo[kind_next].crs = copy;
			kind_memo[kind_next].geographic = ret;
			kind_next = (kind_next + 1) % GEOM_KIND_MEMO;
			pthread_mutex_unlock(&kind_lock);
		}
	}
	proj_destroy(crs);
	return ret;
}

int sat_geom_is_geographic(int epsg)
{
	char name[32];

	if (epsg <= 0)
		return -EINVAL;
	geom_epsg_name(name, sizeof(name), epsg);
	return sat_geom_crs_is_geographic(name);
}

int sat_geom_transform_crs(const char *src, const char *dst, double *xy,
			   size_t n)
{
	PJ *pj;
	size_t done;
	int ret;

	if (n == 0)
		return 0;
	if (!xy)
		return -EINVAL;
	ret = geom_tf_get(src, dst, &pj);
	if (ret)
		return ret;
	proj_errno_reset(pj);
	done = proj_trans_generic(pj, PJ_FWD, xy, 2 * sizeof(double), n,
				  xy + 1, 2 * sizeof(double), n, NULL, 0, 0,
				  NULL, 0, 0);
	if (done != n)
		return -EINVAL;
	/* Points outside the domain of the projection come back as
	 * HUGE_VAL; a ring with such a point has no meaning here. */
	for (size_t i = 0; i < 2 * n; i++) {
		if (!isfinite(xy[i]))
			return -EINVAL;
	}
	return 0;
}

int sat_geom_transform(int src_epsg, int dst_epsg, double *xy, size_t n)
{
	char s[32], d[32];

	if (src_epsg <= 0 || dst_epsg <= 0)
		return -EINVAL;
	geom_epsg_name(s, sizeof(s), src_epsg);
	geom_epsg_name(d, sizeof(d), dst_epsg);
	return sat_geom_transform_crs(s, d, xy, n);
}

static struct sat_geom_ring *ring_ref(struct sat_geom_ring *r)
{
	__atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
	return r;
}

void sat_geom_ring_put(struct sat_geom_ring *r)
{
	if (r && __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(r);
}

/* The memo's projection of (crs, lonlat), a new reference, or NULL. */
static struct sat_geom_ring *ring_memo_get(const char *crs,
					   const double *lonlat, size_t n)
{
	struct sat_geom_ring *r = NULL;

	pthread_mutex_lock(&ring_memo.lock);
	for (int i = 0; i < GEOM_RING_MEMO; i++) {
		struct ring_memo_entry *e = &ring_memo.e[i];

		if (!e->crs || e->nin != n || strcmp(e->crs, crs) != 0 ||
		    memcmp(e->in, lonlat, 2 * n * sizeof(double)) != 0)
			continue;
		r = ring_ref(e->ring);
		e->used = ++ring_memo.clock;
		ring_memo.hits++;
		break;
	}
	pthread_mutex_unlock(&ring_memo.lock);
	return r;
}

/* Keeps a reference to a new projection, in place of the least recently
 * used. Without memory it keeps nothing: projecting again is the answer. */
static void ring_memo_put(const char *crs, const double *lonlat, size_t n,
			  struct sat_geom_ring *r)
{
	struct ring_memo_entry fresh = { 0 }, old, *e;

	pthread_mutex_lock(&ring_memo.lock);
	ring_memo.projected++;
	pthread_mutex_unlock(&ring_memo.lock);
	if (r->n > GEOM_RING_MEMO_MAX_POINTS)
		return;
	fresh.crs = strdup(crs);
	fresh.in = malloc(2 * n * sizeof(double));
	if (!fresh.crs || !fresh.in) {
		free(fresh.crs);
		free(fresh.in);
		return;
	}
	memcpy(fresh.in, lonlat, 2 * n * sizeof(double));
	fresh.nin = n;
	fresh.ring = ring_ref(r);
	pthread_mutex_lock(&ring_memo.lock);
	e = &ring_memo.e[0];
	for (int i = 1; i < GEOM_RING_MEMO; i++)
		if (ring_memo.e[i].used < e->used)
			e = &ring_memo.e[i];
	fresh.used = ++ring_memo.clock;
	old = *e; /* let go of outside the lock */
	*e = fresh;
	pthread_mutex_unlock(&ring_memo.lock);
	free(old.crs);
	free(old.in);
	sat_geom_ring_put(old.ring);
}

void sat_geom_ring_memo_stats(uint64_t *projected, uint64_t *memoized)
{
	pthread_mutex_lock(&ring_memo.lock);
	*projected = ring_memo.projected;
	*memoized = ring_memo.hits;
	pthread_mutex_unlock(&ring_memo.lock);
}

/* sat_geom_ring_get() into the CRS crs. */
static int ring_get(const char *crs, const double *lonlat, size_t n,
		    struct sat_geom_ring **out)
{
	double step = GEOM_STEP_DEG, total = 0;
	struct sat_geom_ring *r = NULL;
	size_t count = 0, k = 0;
	double *pts = NULL;
	int ret;

	*out = NULL;
	if (!crs || !lonlat || n < 3 || n > GEOM_MAX_POINTS)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		double lon = lonlat[2 * i], lat = lonlat[2 * i + 1];

		if (!isfinite(lon) || !isfinite(lat) || fabs(lat) > 90 ||
		    fabs(lon) > 360)
			return -EINVAL;
	}
	*out = ring_memo_get(crs, lonlat, n);
	if (*out)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const double *a = lonlat + 2 * i;
		const double *b = lonlat + 2 * ((i + 1) % n);

		total += ceil(hypot(b[0] - a[0], b[1] - a[1]) / step) + 1;
	}
	if (total > GEOM_MAX_POINTS)
		step *= total / (GEOM_MAX_POINTS - n);

	/* First pass counts, second fills: both use the same formula. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < n; i++) {
			const double *a = lonlat + 2 * i;
			const double *b = lonlat + 2 * ((i + 1) % n);
			double len = hypot(b[0] - a[0], b[1] - a[1]);
			/* The epsilon keeps 0.09 / 0.001 at 90 steps. */
			size_t segs = (size_t)ceil(len / step - 1e-9);

			if (segs < 1)
				segs = 1;
			if (pass == 0) {
				count += segs;
				continue;
			}
			for (size_t s = 0; s < segs; s++) {
				double f = (double)s / (double)segs;

				pts[2 * k] = a[0] + (b[0] - a[0]) * f;
				pts[2 * k + 1] = a[1] + (b[1] - a[1]) * f;
				k++;
			}
		}
		if (pass == 0) {
			/* the points follow the header, in one block */
			r = malloc(sizeof(*r) + count * 2 * sizeof(double));
			if (!r)
				return -ENOMEM;
			pts = (double *)(r + 1);
		}
	}
	ret = sat_geom_transform_crs("EPSG:4326", crs, pts, count);
	if (ret) {
		free(r);
		return ret;
	}
	r->xy = pts;
	r->n = count;
	r->refs = 1;
	ring_memo_put(crs, lonlat, n, r);
	*out = r;
	return 0;
}

int sat_geom_ring_get(int epsg, const double *lonlat, size_t n,
		      struct sat_geom_ring **out)
{
	char name[32];

	*out = NULL;
	if (epsg <= 0)
		return -EINVAL;
	geom_epsg_name(name, sizeof(name), epsg);
	return ring_get(name, lonlat, n, out);
}

int sat_geom_project_ring_crs(const char *crs, const double *lonlat, size_t n,
			      double **xy, size_t *nxy)
{
	struct sat_geom_ring *r;
	int ret;

	*xy = NULL;
	*nxy = 0;
	ret = ring_get(crs, lonlat, n, &r);
	if (ret)
		return ret;
	*xy = malloc(2 * r->n * sizeof(double));
	if (*xy) {
		memcpy(*xy, r->xy, 2 * r->n * sizeof(double));
		*nxy = r->n;
	}
	sat_geom_ring_put(r);
	return *xy ? 0 : -ENOMEM;
}

int sat_geom_project_ring(int epsg, const double *lonlat, size_t n,
			  double **xy, size_t *nxy)
{
	char name[32];

	*xy = NULL;
	*nxy = 0;
	if (epsg <= 0)
		return -EINVAL;
	geom_epsg_name(name, sizeof(name), epsg);
	return sat_geom_project_ring_crs(name, lonlat, n, xy, nxy);
}

int sat_geom_grid_for_ring(const double *xy, size_t n, int epsg,
			   double pixel_size, struct sat_grid *out)
{
	double minx = INFINITY, maxx = -INFINITY;
	double miny = INFINITY, maxy = -INFINITY;
	double ix0, ix1, iy0, iy1;
	/* In pixel units: a coordinate within 1e-9 pixel of a multiple of
	 * the pixel size counts as that multiple, so that a ring whose edges
	 * lie exactly on pixel boundaries does not grow by a pixel because
	 * x / px came out as 12.000000000001. */
	const double eps = 1e-9;

	memset(out, 0, sizeof(*out));
	if (!xy || n == 0 || !isfinite(pixel_size) || pixel_size <= 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		double x = xy[2 * i], y = xy[2 * i + 1];

		if (!isfinite(x) || !isfinite(y))
			return -EINVAL;
		minx = fmin(minx, x);
		maxx = fmax(maxx, x);
		miny = fmin(miny, y);
		maxy = fmax(maxy, y);
	}
	ix0 = floor(minx / pixel_size + eps);
	ix1 = ceil(maxx / pixel_size - eps);
	iy0 = floor(miny / pixel_size + eps);
	iy1 = ceil(maxy / pixel_size - eps);
	/* A ring without width (all on one grid line) still gets one
	 * pixel, so that the grid is never empty. */
	if (ix1 <= ix0)
		ix1 = ix0 + 1;
	if (iy1 <= iy0)
		iy1 = iy0 + 1;
	if (!(ix1 - ix0 <= GEOM_MAX_SIDE) || !(iy1 - iy0 <= GEOM_MAX_SIDE) ||
	    fabs(ix0) > 1e15 || fabs(iy1) > 1e15)
		return -EINVAL;
	out->epsg = epsg;
	out->pixel_size = pixel_size;
	out->origin_x = ix0 * pixel_size;
	out->origin_y = iy1 * pixel_size;
	out->width = (uint32_t)(ix1 - ix0);
	out->height = (uint32_t)(iy1 - iy0);
	return 0;
}

/* Pixel centres, computed the one way every mask function uses. */
static double centre_x(const struct sat_grid *g, long col)
{
	return g->origin_x + ((double)col + 0.5) * g->pixel_size;
}

static double centre_y(const struct sat_grid *g, long row)
{
	return g->origin_y - ((double)row + 0.5) * g->pixel_size;
}

/* The first column whose centre x is >= x, in [0, width]. */
static long first_col_at_or_after(const struct sat_grid *g, double x)
{
	double c = (x - g->origin_x) / g->pixel_size - 0.5;
	long j;

	if (!(c > -1))
		return 0;
	if (c > (double)g->width + 1)
		return g->width;
	j = (long)ceil(c);
	/* The estimate may be one off where x is a centre; settle it with
	 * the exact comparison a point-in-polygon test would make. */
	while (j > 0 && centre_x(g, j - 1) >= x)
		j--;
	while (j < (long)g->width && centre_x(g, j) < x)
		j++;
	if (j < 0)
		j = 0;
	if (j > (long)g->width)
		j = g->width;
	return j;
}

struct geom_edge {
	double xa, ya, xb, yb; /* in ring order */
	double ylo, yhi;
};

static int edge_by_top(const void *a, const void *b)
{
	const struct geom_edge *ea = a, *eb = b;

	return (ea->yhi < eb->yhi) - (ea->yhi > eb->yhi);
}

static int cmp_double(const void *a, const void *b)
{
	double da = *(const double *)a, db = *(const double *)b;

	return (da > db) - (da < db);
}

/*
 * Scanline even-odd fill. A pixel is inside when a ray from its centre
 * towards +x crosses the ring an odd number of times, an edge counting
 * when ylo <= y < yhi (so a vertex on the scanline counts once, horizontal
 * edges never). Edges are sorted by their top and kept in an active list,
 * so the cost is O(edges log edges + rows * active edges + pixels).
 */
void sat_geom_mask_inside(const double *xy, size_t n,
			  const struct sat_grid *g, uint8_t *mask)
{
	struct geom_edge *edges = NULL;
	size_t *active = NULL;
	double *cross = NULL;
	size_t ne = 0, nact = 0, next = 0;

	memset(mask, 0, (size_t)g->width * g->height);
	if (!xy || n < 3)
		return;
	edges = malloc(n * sizeof(*edges));
	active = malloc(n * sizeof(*active));
	cross = malloc(n * sizeof(*cross));
	if (!edges || !active || !cross) {
		/* Nothing inside is the safe answer: the pixels become
		 * transparent instead of showing unclipped data. */
		sat_error("geom: out of memory for a %zu-point mask", n);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		size_t j = (i + n - 1) % n;
		struct geom_edge *e = &edges[ne];

		/* Same orientation as the classic test: from i to i-1. */
		e->xa = xy[2 * i];
		e->ya = xy[2 * i + 1];
		e->xb = xy[2 * j];
		e->yb = xy[2 * j + 1];
		if (e->ya == e->yb)
			continue;
		e->ylo = fmin(e->ya, e->yb);
		e->yhi = fmax(e->ya, e->yb);
		ne++;
	}
	qsort(edges, ne, sizeof(*edges), edge_by_top);

	for (uint32_t row = 0; row < g->height; row++) {
		double y = centre_y(g, row);
		uint8_t *m = mask + (size_t)row * g->width;
		size_t nc = 0, keep = 0;

		while (next < ne && edges[next].yhi > y)
			active[nact++] = next++;
		for (size_t a = 0; a < nact; a++) {
			const struct geom_edge *e = &edges[active[a]];

			if (e->ylo > y) /* below: never again */
				continue;
			active[keep++] = active[a];
			if ((e->ya > y) != (e->yb > y))
				cross[nc++] = (e->xb - e->xa) * (y - e->ya) /
						      (e->yb - e->ya) +
					      e->xa;
		}
		nact = keep;
		if (nc < 2)
			continue;
		qsort(cross, nc, sizeof(*cross), cmp_double);
		for (size_t c = 0; c + 1 < nc; c += 2) {
			long j0 = first_col_at_or_after(g, cross[c]);
			long j1 = first_col_at_or_after(g, cross[c + 1]);

			if (j1 > j0)
				memset(m + j0, 1, (size_t)(j1 - j0));
		}
	}
out:
	free(edges);
	free(active);
	free(cross);
}

/* Squared distance from (px, py) to the segment a-b. */
static double seg_dist2(double px, double py, double ax, double ay,
			double bx, double by)
{
	double dx = bx - ax, dy = by - ay;
	double len2 = dx * dx + dy * dy;
	double t = 0;

	if (len2 > 0) {
		t = ((px - ax) * dx + (py - ay) * dy) / len2;
		t = t < 0 ? 0 : t > 1 ? 1 : t;
	}
	dx = ax + t * dx - px;
	dy = ay + t * dy - py;
	return dx * dx + dy * dy;
}

/* The rows whose centre y lies in [lo, hi], as [*r0, *r1). */
static void rows_between(const struct sat_grid *g, double lo, double hi,
			 long *r0, long *r1)
{
	double a = (g->origin_y - hi) / g->pixel_size - 0.5;
	double b = (g->origin_y - lo) / g->pixel_size - 0.5;

	/* One row of slack on each side; the distance test decides. */
	a = floor(a) - 1;
	b = floor(b) + 2;
	*r0 = a < 0 ? 0 : a > g->height ? (long)g->height : (long)a;
	*r1 = b < 0 ? 0 : b > g->height ? (long)g->height : (long)b;
}

/*
 * For each edge, visits the rows within reach of it and, in each row, only
 * the columns near the part of the edge within reach of that row, so that
 * a long diagonal edge costs its length times the width, not its bounding
 * box.
 */
void sat_geom_mask_outline(const double *xy, size_t n,
			   const struct sat_grid *g, double width_px,
			   uint8_t *mask)
{
	double r, r2;

	if (!xy || n == 0 || !isfinite(width_px) || width_px <= 0)
		return;
	r = width_px / 2 * g->pixel_size;
	r2 = r * r;
	for (size_t i = 0; i < n; i++) {
		const double *a = xy + 2 * i;
		const double *b = xy + 2 * ((i + 1) % n);
		long r0, r1;

		rows_between(g, fmin(a[1], b[1]) - r, fmax(a[1], b[1]) + r,
			     &r0, &r1);
		for (long row = r0; row < r1; row++) {
			double y = centre_y(g, row);
			double xlo = fmin(a[0], b[0]), xhi = fmax(a[0], b[0]);
			long j0, j1;

			if (a[1] != b[1]) {
				/* x of the edge where it is within r of y */
				double t0 = (y - r - a[1]) / (b[1] - a[1]);
				double t1 = (y + r - a[1]) / (b[1] - a[1]);
				double tl = fmax(0, fmin(t0, t1));
				double th = fmin(1, fmax(t0, t1));

				if (tl > th)
					continue;
				xlo = fmin(a[0] + tl * (b[0] - a[0]),
					   a[0] + th * (b[0] - a[0]));
				xhi = fmax(a[0] + tl * (b[0] - a[0]),
					   a[0] + th * (b[0] - a[0]));
			}
			j0 = first_col_at_or_after(g, xlo - r) - 1;
			j1 = first_col_at_or_after(g, xhi + r) + 1;
			if (j0 < 0)
				j0 = 0;
			if (j1 > (long)g->width)
				j1 = g->width;
			for (long col = j0; col < j1; col++) {
				if (seg_dist2(centre_x(g, col), y, a[0], a[1],
					      b[0], b[1]) <= r2)
					mask[(size_t)row * g->width + col] = 1;
			}
		}
	}
}

int sat_geom_parse_epsg(const char *s)
{
	static const char *const prefixes[] = {
		"EPSG:",
		"urn:ogc:def:crs:EPSG::",
		"http://www.opengis.net/def/crs/EPSG/0/",
	};
	unsigned long v = 0;

	if (!s)
		return 0;
	while (*s == ' ' || *s == '\t')
		s++;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t len = strlen(prefixes[i]);

		if (strncasecmp(s, prefixes[i], len) == 0) {
			s += len;
			break;
		}
	}
	if (*s < '0' || *s > '9')
		return 0;
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > INT_MAX)
			return 0;
	}
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s || v == 0)
		return 0;
	return (int)v;
}
