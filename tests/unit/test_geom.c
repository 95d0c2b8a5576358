/* Unit tests for fs/geom.c: projections against PROJ's own command line
 * tools, the rule-2 grid, and the masks against brute force. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "satest.h"
#include "satfs/geom.h"

/* The tutorial's region, as examples/satfs.conf gives it. */
static const double david[] = {
	-82.48, 8.3508, -82.39, 8.3508, -82.39, 8.4408, -82.48, 8.4408,
};

/*
 * Its corners in EPSG:32617, computed with
 *   printf '8.3508 -82.48\n...' | cs2cs -f %.6f EPSG:4326 EPSG:32617
 * and confirmed with gdaltransform -s_srs EPSG:4326 -t_srs EPSG:32617
 * (PROJ 9.1.1, GDAL 3.6.2). The last pair is the middle of the southern
 * edge (-82.435, 8.3508), which lies 0.28 m south of the chord between
 * its corners: the curvature that densification must follow.
 */
static const double david_utm[] = {
	337030.181315, 923385.409642, 346942.443964, 923349.346663,
	346977.705575, 933302.003482, 337067.728480, 933338.443921,
	341986.359652, 923367.095137,
};

SAT_TEST(parse_epsg)
{
	CHECK_INT(sat_geom_parse_epsg("EPSG:32617"), 32617);
	CHECK_INT(sat_geom_parse_epsg("epsg:4326"), 4326);
	CHECK_INT(sat_geom_parse_epsg("32617"), 32617);
	CHECK_INT(sat_geom_parse_epsg(" 3857 "), 3857);
	CHECK_INT(sat_geom_parse_epsg("urn:ogc:def:crs:EPSG::32633"), 32633);
	CHECK_INT(sat_geom_parse_epsg(""), 0);
	CHECK_INT(sat_geom_parse_epsg(NULL), 0);
	CHECK_INT(sat_geom_parse_epsg("EPSG:"), 0);
	CHECK_INT(sat_geom_parse_epsg("EPSG:abc"), 0);
	CHECK_INT(sat_geom_parse_epsg("EPSG:326x7"), 0);
	CHECK_INT(sat_geom_parse_epsg("ESRI:102100"), 0);
	CHECK_INT(sat_geom_parse_epsg("-4326"), 0);
	CHECK_INT(sat_geom_parse_epsg("0"), 0);
	CHECK_INT(sat_geom_parse_epsg("99999999999999999999"), 0);
	CHECK_INT(sat_geom_parse_epsg("EPSG:4326;rm"), 0);
}

SAT_TEST(invalid_epsg)
{
	double pt[2] = { -82.4, 8.4 };
	double *xy = (double *)1;
	size_t n = 99;

	CHECK_INT(sat_geom_transform(4326, 999999, pt, 1), -EINVAL);
	CHECK_INT(sat_geom_transform(0, 32617, pt, 1), -EINVAL);
	CHECK_INT(sat_geom_transform(4326, -1, pt, 1), -EINVAL);
	/* 9001 is the metre, not a CRS */
	CHECK_INT(sat_geom_transform(4326, 9001, pt, 1), -EINVAL);
	/* geocentric and vertical CRSs hold no north-up grid */
	CHECK_INT(sat_geom_transform(4326, 4978, pt, 1), -EINVAL);
	CHECK_INT(sat_geom_transform(5703, 4326, pt, 1), -EINVAL);
	CHECK_INT(sat_geom_project_ring(999999, david, 4, &xy, &n), -EINVAL);
	CHECK(xy == NULL);
	CHECK_INT(n, 0);
	/* bad input */
	CHECK_INT(sat_geom_project_ring(32617, david, 2, &xy, &n), -EINVAL);
	double bad[] = { 0, 0, 1, 95, 1, 0 };
	CHECK_INT(sat_geom_project_ring(32617, bad, 3, &xy, &n), -EINVAL);
	bad[3] = NAN;
	CHECK_INT(sat_geom_project_ring(32617, bad, 3, &xy, &n), -EINVAL);
	/* and a valid call afterwards still works in this thread */
	CHECK_INT(sat_geom_transform(4326, 32617, pt, 1), 0);
	CHECK(pt[0] > 300000 && pt[0] < 400000);
}

SAT_TEST(transform_corners)
{
	double pts[10];

	memcpy(pts, david, sizeof(david));
	pts[8] = -82.435;
	pts[9] = 8.3508;
	CHECK_INT(sat_geom_transform(4326, 32617, pts, 5), 0);
	for (int i = 0; i < 10; i++)
		CHECK_NEAR(pts[i], david_utm[i], 0.001);
	/* and back */
	CHECK_INT(sat_geom_transform(32617, 4326, pts, 5), 0);
	for (int i = 0; i < 8; i++)
		CHECK_NEAR(pts[i], david[i], 1e-9);
	/* geographic to geographic is the identity, lon/lat order kept */
	pts[0] = -82.48;
	pts[1] = 8.3508;
	CHECK_INT(sat_geom_transform(4326, 4326, pts, 1), 0);
	CHECK_NEAR(pts[0], -82.48, 1e-12);
	CHECK_NEAR(pts[1], 8.3508, 1e-12);
	CHECK_INT(sat_geom_transform(4326, 32617, pts, 0), 0);
}

/* Every projected point, taken back to lon/lat, lies on the bbox
 * boundary; consecutive points are at most 0.001 degree apart. */
SAT_TEST(project_ring_densified)
{
	double *xy, *ll;
	size_t n;
	int found_mid = 0;

	CHECK_INT(sat_geom_project_ring(32617, david, 4, &xy, &n), 0);
	CHECK_INT(n, 4 * 90);
	/* the first point of each edge is the corner itself */
	for (int c = 0; c < 4; c++) {
		CHECK_NEAR(xy[2 * (c * 90)], david_utm[2 * c], 0.001);
		CHECK_NEAR(xy[2 * (c * 90) + 1], david_utm[2 * c + 1], 0.001);
	}
	for (size_t i = 0; i < n; i++) {
		if (fabs(xy[2 * i] - david_utm[8]) < 0.001 &&
		    fabs(xy[2 * i + 1] - david_utm[9]) < 0.001)
			found_mid++;
		/* within the corners' extent */
		CHECK(xy[2 * i] >= 337030.18 && xy[2 * i] <= 346977.71);
		CHECK(xy[2 * i + 1] >= 923349.34 && xy[2 * i + 1] <= 933338.45);
	}
	CHECK_INT(found_mid, 1);

	ll = malloc(n * 2 * sizeof(double));
	memcpy(ll, xy, n * 2 * sizeof(double));
	CHECK_INT(sat_geom_transform(32617, 4326, ll, n), 0);
	for (size_t i = 0; i < n; i++) {
		double lon = ll[2 * i], lat = ll[2 * i + 1];
		size_t j = (i + 1) % n;
		int on_ew = fabs(lon + 82.48) < 1e-9 ||
			    fabs(lon + 82.39) < 1e-9;
		int on_ns = fabs(lat - 8.3508) < 1e-9 ||
			    fabs(lat - 8.4408) < 1e-9;

		CHECK(on_ew || on_ns);
		CHECK(lon >= -82.48 - 1e-9 && lon <= -82.39 + 1e-9);
		CHECK(lat >= 8.3508 - 1e-9 && lat <= 8.4408 + 1e-9);
		CHECK(hypot(ll[2 * j] - lon, ll[2 * j + 1] - lat) <=
		      0.001 + 1e-9);
	}
	free(ll);
	free(xy);
}

/* Checks every densified point with cs2cs run now, to 1 mm. */
SAT_TEST(project_ring_vs_cs2cs)
{
	char path[512], cmd[1200], line[256];
	double *xy, *ll;
	size_t n, k = 0;
	FILE *f, *p;

	satest_need_program("cs2cs");
	CHECK_INT(sat_geom_project_ring(32617, david, 4, &xy, &n), 0);
	ll = malloc(n * 2 * sizeof(double));
	memcpy(ll, xy, n * 2 * sizeof(double));
	CHECK_INT(sat_geom_transform(32617, 4326, ll, n), 0);
	snprintf(path, sizeof(path), "%s/latlon.txt", satest_tmpdir());
	f = fopen(path, "w");
	CHECK(f != NULL);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%.12f %.12f\n", ll[2 * i + 1], ll[2 * i]);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "cs2cs -f %%.6f EPSG:4326 EPSG:32617 < '%s'", path);
	p = popen(cmd, "r");
	CHECK(p != NULL);
	while (fgets(line, sizeof(line), p)) {
		double x, y;

		CHECK(sscanf(line, "%lf %lf", &x, &y) == 2);
		CHECK(k < n);
		CHECK_NEAR(xy[2 * k], x, 0.001);
		CHECK_NEAR(xy[2 * k + 1], y, 0.001);
		k++;
	}
	CHECK_INT(pclose(p), 0);
	CHECK_INT(k, n);
	free(ll);
	free(xy);
}

/* A ring projected again into the same CRS is answered from the memo,
 * bit for bit the same; another CRS or another ring is projected; the
 * least recently used of eight rings makes way for a ninth; the shared
 * form hands out one object. */
SAT_TEST(project_ring_memo)
{
	uint64_t proj0, memo0, proj, memo;
	double ring[8], *a, *b, *c;
	size_t na, nb, nc;

	/* rings no other test projects: david moved by k degrees */
#define MOVED(k) do { for (int i_ = 0; i_ < 8; i_++) \
		ring[i_] = david[i_] + (i_ % 2 ? 0 : 0.5 * (k)); } while (0)
	MOVED(1);
	sat_geom_ring_memo_stats(&proj0, &memo0);
	CHECK_INT(sat_geom_project_ring(32617, ring, 4, &a, &na), 0);
	CHECK_INT(sat_geom_project_ring(32617, ring, 4, &b, &nb), 0);
	sat_geom_ring_memo_stats(&proj, &memo);
	CHECK_INT(proj - proj0, 1);
	CHECK_INT(memo - memo0, 1);
	CHECK_INT(na, nb);
	CHECK(a != b); /* each caller owns its copy */
	CHECK(memcmp(a, b, 2 * na * sizeof(double)) == 0);
	/* another CRS, then the ring moved by a millionth of a degree */
	CHECK_INT(sat_geom_project_ring(32618, ring, 4, &c, &nc), 0);
	CHECK(c[0] != a[0]);
	free(c);
	ring[0] += 1e-6;
	CHECK_INT(sat_geom_project_ring(32617, ring, 4, &c, &nc), 0);
	CHECK(c[0] != a[0]);
	free(c);
	sat_geom_ring_memo_stats(&proj, &memo);
	CHECK_INT(proj - proj0, 3);
	CHECK_INT(memo - memo0, 1);

	/* eight rings fill the memo; the first of them, used again, stays
	 * when a ninth comes, and the second goes */
	for (int k = 2; k <= 10; k++) {
		MOVED(k);
		CHECK_INT(sat_geom_project_ring(32617, ring, 4, &c, &nc), 0);
		free(c);
		if (k == 9) {
			MOVED(2);
			CHECK_INT(sat_geom_project_ring(32617, ring, 4, &c,
							&nc), 0);
			free(c);
		}
	}
	sat_geom_ring_memo_stats(&proj0, &memo0);
	MOVED(2);
	CHECK_INT(sat_geom_project_ring(32617, ring, 4, &c, &nc), 0);
	free(c);
	MOVED(3);
	CHECK_INT(sat_geom_project_ring(32617, ring, 4, &c, &nc), 0);
	free(c);
	sat_geom_ring_memo_stats(&proj, &memo);
	CHECK_INT(memo - memo0, 1);
	CHECK_INT(proj - proj0, 1);

	/* the shared form: one object for both, the same points */
	struct sat_geom_ring *r1, *r2;

	CHECK_INT(sat_geom_ring_get(32617, ring, 4, &r1), 0);
	CHECK_INT(sat_geom_ring_get(32617, ring, 4, &r2), 0);
	CHECK(r1 == r2);
	sat_geom_ring_put(r2);
	MOVED(1);
	CHECK_INT(sat_geom_ring_get(32617, ring, 4, &r2), 0);
	CHECK(r2 != r1);
	CHECK_INT(r2->n, na);
	CHECK(memcmp(r2->xy, a, 2 * na * sizeof(double)) == 0);
	sat_geom_ring_put(r2);
	sat_geom_ring_put(r1);
#undef MOVED
	free(a);
	free(b);
}

SAT_TEST(grid_tutorial_10m)
{
	struct sat_grid g;
	double *xy;
	size_t n;
	int left = 0, right = 0, top = 0, bottom = 0;

	CHECK_INT(sat_geom_project_ring(32617, david, 4, &xy, &n), 0);
	CHECK_INT(sat_geom_grid_for_ring(xy, n, 32617, 10, &g), 0);
	CHECK_INT(g.epsg, 32617);
	CHECK_NEAR(g.pixel_size, 10, 0);
	/* minx 337030.18 -> 337030, maxx 346977.71 -> 346980,
	 * miny 923349.35 -> 923340, maxy 933338.44 -> 933340 */
	CHECK_NEAR(g.origin_x, 337030, 0);
	CHECK_NEAR(g.origin_y, 933340, 0);
	CHECK_INT(g.width, 995);
	CHECK_INT(g.height, 1000);
	CHECK_NEAR(fmod(g.origin_x, 10), 0, 0);
	CHECK_NEAR(fmod(g.origin_y, 10), 0, 0);
	for (size_t i = 0; i < n; i++) {
		double x = xy[2 * i], y = xy[2 * i + 1];

		CHECK(x >= g.origin_x && x <= g.origin_x + 10 * g.width);
		CHECK(y <= g.origin_y && y >= g.origin_y - 10 * g.height);
		/* minimality: some point needs each outer row/column */
		left += x < g.origin_x + 10;
		right += x > g.origin_x + 10 * (g.width - 1.0);
		top += y > g.origin_y - 10;
		bottom += y < g.origin_y - 10 * (g.height - 1.0);
	}
	CHECK(left && right && top && bottom);
	free(xy);
}

SAT_TEST(grid_exact_multiples)
{
	/* 0.3 / 0.1 is 2.9999999999999996 in doubles: without the
	 * epsilon the grid would grow by one pixel on each side. */
	double sq[] = { 0.3, 0.3, 0.7, 0.3, 0.7, 0.7, 0.3, 0.7 };
	double m[] = { 337030, 923340, 337100, 923340, 337100, 923400 };
	double pt[] = { 5, 5 };
	double wide[] = { 0, 0, 655370, 0, 655370, 10 };
	struct sat_grid g;

	CHECK_INT(sat_geom_grid_for_ring(sq, 4, 4326, 0.1, &g), 0);
	CHECK_INT(g.width, 4);
	CHECK_INT(g.height, 4);
	CHECK_NEAR(g.origin_x, 0.3, 1e-12);
	CHECK_NEAR(g.origin_y, 0.7, 1e-12);

	CHECK_INT(sat_geom_grid_for_ring(m, 3, 32617, 10, &g), 0);
	CHECK_NEAR(g.origin_x, 337030, 0);
	CHECK_NEAR(g.origin_y, 923400, 0);
	CHECK_INT(g.width, 7);
	CHECK_INT(g.height, 6);

	/* a point on a grid corner still gets one pixel */
	CHECK_INT(sat_geom_grid_for_ring(pt, 1, 32617, 5, &g), 0);
	CHECK_INT(g.width, 1);
	CHECK_INT(g.height, 1);

	/* 65537 pixels wide is refused, 65536 accepted */
	CHECK_INT(sat_geom_grid_for_ring(wide, 3, 32617, 10, &g), -EINVAL);
	wide[2] = wide[4] = 655360;
	CHECK_INT(sat_geom_grid_for_ring(wide, 3, 32617, 10, &g), 0);
	CHECK_INT(g.width, 65536);
	CHECK_INT(sat_geom_grid_for_ring(wide, 0, 32617, 10, &g), -EINVAL);
	CHECK_INT(sat_geom_grid_for_ring(wide, 3, 32617, 0, &g), -EINVAL);
	CHECK_INT(sat_geom_grid_for_ring(wide, 3, 32617, NAN, &g), -EINVAL);
}

/* The classic even-odd test (W. R. Franklin's pnpoly). */
static int pnpoly(const double *xy, size_t n, double x, double y)
{
	int c = 0;

	for (size_t i = 0, j = n - 1; i < n; j = i++) {
		double xi = xy[2 * i], yi = xy[2 * i + 1];
		double xj = xy[2 * j], yj = xy[2 * j + 1];

		if (((yi > y) != (yj > y)) &&
		    (x < (xj - xi) * (y - yi) / (yj - yi) + xi))
			c = !c;
	}
	return c;
}

static double cx(const struct sat_grid *g, uint32_t col)
{
	return g->origin_x + (col + 0.5) * g->pixel_size;
}

static double cy(const struct sat_grid *g, uint32_t row)
{
	return g->origin_y - (row + 0.5) * g->pixel_size;
}

/* Returns the number of pixels inside, after comparing with pnpoly. */
static size_t check_inside(const double *xy, size_t n,
			   const struct sat_grid *g)
{
	uint8_t *m = malloc((size_t)g->width * g->height);
	size_t inside = 0;

	memset(m, 0x55, (size_t)g->width * g->height);
	sat_geom_mask_inside(xy, n, g, m);
	for (uint32_t r = 0; r < g->height; r++) {
		for (uint32_t c = 0; c < g->width; c++) {
			int want = pnpoly(xy, n, cx(g, c), cy(g, r));
			uint8_t got = m[(size_t)r * g->width + c];

			if (got != want) {
				char d[128];

				snprintf(d, sizeof(d), "pixel %u,%u: %d != %d",
					 c, r, got, want);
				satest_fail(__FILE__, __LINE__, "mask", d);
			}
			inside += got;
		}
	}
	free(m);
	return inside;
}

SAT_TEST(mask_inside_brute_force)
{
	/* a square on pixel boundaries: exactly 4x4 pixels inside */
	double sq[] = { 10, 10, 50, 10, 50, 50, 10, 50 };
	/* vertices on pixel centres, and a horizontal edge on a row of
	 * centres: the ties pnpoly settles one way, the fill the same way */
	double tri[] = { 5, 5, 75, 15, 35, 65 };
	double tri2[] = { 5, 5, 75, 5, 35, 65 };
	/* concave, self-touching spikes, partly outside the grid */
	double star[40];
	struct sat_grid g = { 32617, 0, 80, 10, 8, 8 };

	for (int i = 0; i < 20; i++) {
		double a = i * M_PI / 10, r = i % 2 ? 18 : 55;

		star[2 * i] = 40 + r * cos(a);
		star[2 * i + 1] = 40 + r * sin(a);
	}
	CHECK_INT(check_inside(sq, 4, &g), 16);
	check_inside(tri, 3, &g);
	check_inside(tri2, 3, &g);
	check_inside(star, 20, &g);

	/* finer grids, offset origins, non-integer sizes */
	struct sat_grid grids[] = {
		{ 32617, -3, 83, 1, 90, 90 },
		{ 32617, 0.25, 77.5, 0.7, 101, 97 },
		{ 32617, 20, 60, 2.5, 7, 13 },
		{ 32617, -100, 200, 3, 100, 100 },
	};
	for (size_t k = 0; k < sizeof(grids) / sizeof(grids[0]); k++) {
		CHECK(check_inside(sq, 4, &grids[k]) > 0);
		CHECK(check_inside(tri, 3, &grids[k]) > 0);
		CHECK(check_inside(tri2, 3, &grids[k]) > 0);
		CHECK(check_inside(star, 20, &grids[k]) > 0);
	}
	/* the 1 px grid holds exactly the 40x40 square */
	CHECK_INT(check_inside(sq, 4, &grids[0]), 1600);
}

SAT_TEST(mask_inside_projected_ring)
{
	struct sat_grid g;
	double *xy;
	size_t n, inside;

	CHECK_INT(sat_geom_project_ring(32617, david, 4, &xy, &n), 0);
	CHECK_INT(sat_geom_grid_for_ring(xy, n, 32617, 40, &g), 0);
	inside = check_inside(xy, n, &g);
	/* about 9913 m x 9953 m of 40 m pixels */
	CHECK(inside > 60500 && inside < 62000);
	free(xy);
}

/* Brute force for rule 7: the distance to the nearest edge. */
static double dist_to_ring(const double *xy, size_t n, double x, double y)
{
	double best = INFINITY;

	for (size_t i = 0; i < n; i++) {
		const double *a = xy + 2 * i, *b = xy + 2 * ((i + 1) % n);
		double dx = b[0] - a[0], dy = b[1] - a[1];
		double t = ((x - a[0]) * dx + (y - a[1]) * dy) /
			   (dx * dx + dy * dy);

		t = t < 0 ? 0 : t > 1 ? 1 : t;
		best = fmin(best, hypot(a[0] + t * dx - x, a[1] + t * dy - y));
	}
	return best;
}

static size_t check_outline(const double *xy, size_t n,
			    const struct sat_grid *g, double width_px)
{
	size_t sz = (size_t)g->width * g->height, set = 0;
	uint8_t *m = malloc(sz);
	double lim = width_px / 2 * g->pixel_size;

	memset(m, 7, sz); /* untouched pixels keep their value */
	sat_geom_mask_outline(xy, n, g, width_px, m);
	for (uint32_t r = 0; r < g->height; r++) {
		for (uint32_t c = 0; c < g->width; c++) {
			double d = dist_to_ring(xy, n, cx(g, c), cy(g, r));
			uint8_t got = m[(size_t)r * g->width + c];

			/* 1e-9 m: the two computations may round apart
			 * exactly at the limit */
			if (fabs(d - lim) < 1e-9)
				continue;
			if (got != (d <= lim ? 1 : 7)) {
				char msg[128];

				snprintf(msg, sizeof(msg),
					 "pixel %u,%u: %u, distance %g", c, r,
					 got, d);
				satest_fail(__FILE__, __LINE__, "outline", msg);
			}
			set += got == 1;
		}
	}
	free(m);
	return set;
}

SAT_TEST(mask_outline_brute_force)
{
	double sq[] = { 10, 10, 50, 10, 50, 50, 10, 50 };
	double tri[] = { 3.3, 4.1, 75.2, 15.7, 35.5, 69.9 };
	struct sat_grid g = { 32617, 0, 80, 1, 80, 80 };
	struct sat_grid g2 = { 32617, 12.3, 61.1, 0.9, 40, 70 };
	double *xy;
	size_t n;

	/* width 2 px on a 1 m grid along a square on pixel edges: each
	 * side covers the centres 0.5 m either side: 2 pixels wide */
	CHECK_INT(check_outline(sq, 4, &g, 2), 42 * 42 - 38 * 38);
	CHECK(check_outline(tri, 3, &g, 2) > 0);
	CHECK(check_outline(tri, 3, &g, 3.5) > 0);
	CHECK(check_outline(tri, 3, &g2, 2) > 0);
	CHECK(check_outline(sq, 4, &g2, 1) > 0);
	CHECK_INT(check_outline(sq, 4, &g, 0), 0);

	CHECK_INT(sat_geom_project_ring(32617, david, 4, &xy, &n), 0);
	struct sat_grid gp;
	CHECK_INT(sat_geom_grid_for_ring(xy, n, 32617, 50, &gp), 0);
	/* 2 px around a ~39.7 km perimeter of 50 m pixels */
	size_t set = check_outline(xy, n, &gp, 2);
	CHECK(set > 1500 && set < 1700);
	free(xy);
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* A scanline fill costs about the same for 500 vertices as for 4 on a
 * 4000 x 4000 grid; a point-in-polygon test per pixel would cost over 100
 * times more. Timed as a ratio of the best of three, so that a slow or
 * busy machine does not matter. */
SAT_TEST(mask_inside_is_scanline)
{
	struct sat_grid g = { 32617, 0, 4000, 1, 4000, 4000 };
	double sq[] = { 1, 1, 3999, 1, 3999, 3999, 1, 3999 };
	double ring[1000];
	uint8_t *m = malloc(4000 * 4000);
	double t_sq = INFINITY, t_ring = INFINITY;
	size_t inside = 0;

	for (int i = 0; i < 500; i++) {
		double a = i * 2 * M_PI / 500, r = i % 2 ? 1500 : 1990;

		ring[2 * i] = 2000 + r * cos(a);
		ring[2 * i + 1] = 2000 + r * sin(a);
	}
	for (int k = 0; k < 3; k++) {
		double t0 = cpu_s();

		sat_geom_mask_inside(sq, 4, &g, m);
		double t1 = cpu_s();
		sat_geom_mask_inside(ring, 500, &g, m);
		double t2 = cpu_s();
		t_sq = fmin(t_sq, t1 - t0);
		t_ring = fmin(t_ring, t2 - t1);
	}
	for (size_t i = 0; i < 4000 * 4000; i++)
		inside += m[i];
	/* area between the circles of radius 1500 and 1990 */
	CHECK(inside > 3.14 * 1500 * 1500 && inside < 3.15 * 1990 * 1990);
	fprintf(stderr, "square %.4f s, 500-gon %.4f s\n", t_sq, t_ring);
	CHECK(t_ring < 20 * t_sq + 0.1);
	free(m);
}

struct thread_job {
	int epsg;
	double *xy;
	size_t n;
	int ret;
};

static void *project_thread(void *p)
{
	struct thread_job *j = p;
	static const int codes[] = { 32617, 3857, 32618, 4326 };

	/* exercise the per-thread cache with several pairs first */
	for (int r = 0; r < 3; r++) {
		for (int c = 0; c < 4; c++) {
			double *xy;
			size_t n;

			j->ret = sat_geom_project_ring(codes[c], david, 4, &xy,
						       &n);
			if (j->ret)
				return NULL;
			free(xy);
		}
	}
	j->ret = sat_geom_project_ring(j->epsg, david, 4, &j->xy, &j->n);
	return NULL;
}

SAT_TEST(threads_identical)
{
	static const int codes[] = { 32617, 3857, 32618, 4326 };
	struct thread_job jobs[8];
	pthread_t th[8];

	for (int i = 0; i < 8; i++) {
		memset(&jobs[i], 0, sizeof(jobs[i]));
		jobs[i].epsg = codes[i % 4];
		CHECK_INT(pthread_create(&th[i], NULL, project_thread,
					 &jobs[i]),
			  0);
	}
	for (int i = 0; i < 8; i++)
		CHECK_INT(pthread_join(th[i], NULL), 0);
	for (int i = 0; i < 8; i++) {
		double *xy;
		size_t n;

		CHECK_INT(jobs[i].ret, 0);
		CHECK_INT(sat_geom_project_ring(jobs[i].epsg, david, 4, &xy,
						&n),
			  0);
		CHECK_INT(jobs[i].n, n);
		CHECK(memcmp(jobs[i].xy, xy, n * 2 * sizeof(double)) == 0);
		free(xy);
		free(jobs[i].xy);
	}
}

/* Many vertices: the point cap holds and the outline still closes. */
SAT_TEST(project_ring_cap)
{
	double big[] = { -170, -60, 170, -60, 170, 60, -170, 60 };
	double *xy;
	size_t n;

	CHECK_INT(sat_geom_project_ring(3857, big, 4, &xy, &n), 0);
	CHECK(n <= 100000);
	CHECK(n > 90000);
	CHECK_NEAR(xy[0], -170 * 20037508.342789244 / 180, 0.01);
	free(xy);
}

/* More CRS pairs than one thread caches: evicted transformations are
 * rebuilt and give the same answers. */
SAT_TEST(cache_eviction)
{
	double first[20][2];

	for (int round = 0; round < 2; round++) {
		for (int z = 0; z < 20; z++) {
			double pt[2] = { -177 + 6 * z, 45 };

			CHECK_INT(sat_geom_transform(4326, 32601 + z, pt, 1),
				  0);
			/* on each zone's central meridian */
			CHECK_NEAR(pt[0], 500000, 1e-6);
			if (round == 0) {
				first[z][0] = pt[0];
				first[z][1] = pt[1];
			}
			CHECK(pt[0] == first[z][0] && pt[1] == first[z][1]);
		}
	}
}

static void *check_kinds(void *arg)
{
	(void)arg;
	CHECK_INT(sat_geom_is_geographic(4326), 1);
	CHECK_INT(sat_geom_is_geographic(4258), 1);
	CHECK_INT(sat_geom_is_geographic(32617), 0);
	CHECK_INT(sat_geom_is_geographic(3857), 0);
	/* projected, though in the 4000s */
	CHECK_INT(sat_geom_is_geographic(4087), 0);
	CHECK_INT(sat_geom_is_geographic(4978), -EINVAL);
	CHECK_INT(sat_geom_is_geographic(9001), -EINVAL);
	CHECK_INT(sat_geom_is_geographic(999999), -EINVAL);
	CHECK_INT(sat_geom_is_geographic(0), -EINVAL);
	return NULL;
}

/* Uncached, then remembered (the answers are shared by every thread: a
 * thread of its own asks too), then after more codes than are kept. */
SAT_TEST(is_geographic)
{
	pthread_t t;

	check_kinds(NULL);
	check_kinds(NULL);
	CHECK_INT(pthread_create(&t, NULL, check_kinds, NULL), 0);
	pthread_join(t, NULL);
	for (int zone = 1; zone <= 40; zone++)
		CHECK_INT(sat_geom_is_geographic(32600 + zone), 0);
	check_kinds(NULL);
}

/* ---- CRSs given by definition ------------------------------------------ */

/* Reference values from PROJ's own command line (PROJ 9.1.1), lat/lon in:
 *   echo "48.25 12.5" | cs2cs -f %.6f EPSG:4326 +to +proj=laea +lat_0=52
 *     +lon_0=10 +x_0=4321000 +y_0=3210000 +ellps=GRS80 +units=us-ft
 *   echo "-70.5 15.3" | cs2cs -f %.6f EPSG:4326 +to +proj=stere +lat_0=-90
 *     +lat_ts=-70 +lon_0=0 +datum=WGS84
 *   echo "50.1 10.2" | cs2cs -f %.6f EPSG:4326 +to +proj=tmerc +lat_0=0
 *     +lon_0=9 +k=0.9996 +x_0=500000 +y_0=0 +ellps=intl
 *     +towgs84=-87,-98,-121
 * (the last is 0.45 m from EPSG:23032, ED50 / UTM 32N, whose transformation
 * to WGS 84 PROJ takes from the EPSG database instead). */
#define LAEA_USFT "+proj=laea +lat_0=52 +lon_0=10 +x_0=4321000 " \
	"+y_0=3210000 +ellps=GRS80 +units=us-ft +type=crs"
#define STERE_S "+proj=stere +lat_0=-90 +lat_ts=-70 +lon_0=0 +datum=WGS84 " \
	"+type=crs"
#define TM_INTL "+proj=tmerc +lat_0=0 +lon_0=9 +k=0.9996 +x_0=500000 " \
	"+y_0=0 +ellps=intl +towgs84=-87,-98,-121 +type=crs"

static void check_point(const char *src, const char *dst, double x, double y,
			double want_x, double want_y, double eps)
{
	double pt[2] = { x, y };

	CHECK_INT(sat_geom_transform_crs(src, dst, pt, 1), 0);
	CHECK_NEAR(pt[0], want_x, eps);
	CHECK_NEAR(pt[1], want_y, eps);
}

SAT_TEST(transform_crs_definitions)
{
	double ring[8], *xy = NULL;
	size_t n = 0;

	check_point("EPSG:4326", LAEA_USFT, 12.5, 48.25, 14785750.501972,
		    9173491.671575, 0.001);
	check_point(LAEA_USFT, "EPSG:4326", 14785750.501972, 9173491.671575,
		    12.5, 48.25, 1e-8);
	check_point("EPSG:4326", STERE_S, 15.3, -70.5, 562626.836101,
		    2056617.334192, 0.001);
	/* bound to WGS 84 by TOWGS84 */
	check_point("EPSG:4326", TM_INTL, 10.2, 50.1, 585904.550830,
		    5550640.677607, 0.001);
	check_point("EPSG:4326", "EPSG:23032", 10.2, 50.1, 585904.100795,
		    5550640.505651, 0.001);
	/* the integer API is the same thing */
	double a[2] = { -82.48, 8.3508 }, b[2] = { -82.48, 8.3508 };

	CHECK_INT(sat_geom_transform(4326, 32617, a, 1), 0);
	CHECK_INT(sat_geom_transform_crs("EPSG:4326", "EPSG:32617", b, 1), 0);
	CHECK(a[0] == b[0] && a[1] == b[1]);
	/* a ring into a definition */
	memcpy(ring, david, sizeof(ring));
	CHECK_INT(sat_geom_project_ring_crs("+proj=utm +zone=17 +datum=WGS84 "
					    "+type=crs", ring, 4, &xy, &n), 0);
	CHECK(n >= 360);
	CHECK_NEAR(xy[0], david_utm[0], 0.001);
	CHECK_NEAR(xy[1], david_utm[1], 0.001);
	free(xy);
	/* what is not a 2D CRS */
	CHECK_INT(sat_geom_transform_crs("EPSG:4326", "", a, 1), -EINVAL);
	CHECK_INT(sat_geom_transform_crs(NULL, "EPSG:4326", a, 1), -EINVAL);
	CHECK_INT(sat_geom_transform_crs("EPSG:4326", "EPSG:9001", a, 1),
		  -EINVAL);
	CHECK_INT(sat_geom_transform_crs("EPSG:4326", "+proj=utm +zone=33",
					 a, 1), -EINVAL); /* an operation */
	CHECK_INT(sat_geom_transform_crs("EPSG:4326", "+proj=geocent "
					 "+type=crs", a, 1), -EINVAL);
	CHECK_INT(sat_geom_transform_crs("EPSG:4326", "PROJCRS[garbage", a, 1),
		  -EINVAL);
	CHECK_INT(sat_geom_crs_is_geographic("+proj=longlat +ellps=intl "
					     "+towgs84=1,2,3 +type=crs"), 1);
	CHECK_INT(sat_geom_crs_is_geographic(TM_INTL), 0);
	CHECK_INT(sat_geom_crs_is_geographic("EPSG:4978"), -EINVAL);
	CHECK_INT(sat_geom_crs_is_geographic(NULL), -EINVAL);
}

/* More definitions than the per-thread cache holds, twice: every answer
 * stays right while slots are replaced. */
SAT_TEST(transform_crs_cache)
{
	char def[128];

	for (int round = 0; round < 2; round++)
		for (int zone = 1; zone <= 20; zone++) {
			double pt[2] = { -183 + 6 * zone, 10 };

			snprintf(def, sizeof(def), "+proj=utm +zone=%d "
				 "+datum=WGS84 +type=crs", zone);
			CHECK_INT(sat_geom_transform_crs("EPSG:4326", def, pt,
							 1), 0);
			CHECK_NEAR(pt[0], 500000, 0.001);
		}
}

SAT_TEST(crs_epsg_identify)
{
	char *wkt = NULL;
	const char *why;

	CHECK_INT(sat_geom_crs_epsg("EPSG:32633"), 32633);
	CHECK_INT(sat_geom_crs_epsg("epsg:4326"), 4326);
	CHECK_INT(sat_geom_crs_epsg("+proj=utm +zone=33 +datum=WGS84 "
				    "+type=crs"), 32633);
	CHECK_INT(sat_geom_crs_epsg("+proj=tmerc +lat_0=0 +lon_0=15 "
				    "+k=0.9996 +x_0=500000 +y_0=0 +datum=WGS84 "
				    "+units=m +type=crs"), 32633);
	CHECK_INT(sat_geom_crs_epsg("+proj=longlat +datum=WGS84 +type=crs"),
		  4326);
	CHECK_INT(sat_geom_crs_epsg("+proj=aea +lat_1=29.5 +lat_2=45.5 "
				    "+lat_0=23 +lon_0=-96 +x_0=0 +y_0=0 "
				    "+datum=NAD83 +units=m +type=crs"), 5070);
	/* equivalent but in feet: no */
	CHECK_INT(sat_geom_crs_epsg("+proj=utm +zone=33 +datum=WGS84 "
				    "+units=us-ft +type=crs"), 0);
	/* an unknown datum on GRS80 is not RGF93 (PROJ offers three) */
	CHECK_INT(sat_geom_crs_epsg("+proj=lcc +lat_1=49 +lat_2=44 "
				    "+lat_0=46.5 +lon_0=3 +x_0=700000 "
				    "+y_0=6600000 +ellps=GRS80 +type=crs"), 0);
	CHECK_INT(sat_geom_crs_epsg(TM_INTL), 0);
	CHECK_INT(sat_geom_crs_epsg(LAEA_USFT), 0);
	CHECK_INT(sat_geom_crs_epsg("EPSG:9001"), -EINVAL);
	CHECK_INT(sat_geom_crs_epsg("no such thing"), -EINVAL);
	/* A definition of our own making, the same as EPSG:2154. */
	struct sat_geom_crs_parts p = {
		.geographic_epsg = 4171,
		.conversion = "+proj=lcc +lat_1=49 +lat_2=44 +lat_0=46.5 "
			      "+lon_0=3",
		.false_easting = 700000,
		.false_northing = 6600000,
	};

	CHECK_INT(sat_geom_crs_build(&p, &wkt, &why), 0);
	CHECK(strncmp(wkt, "PROJCRS[", 8) == 0 && !strchr(wkt, '\n'));
	CHECK_INT(sat_geom_crs_epsg(wkt), 2154);
	free(wkt);
}

static char *build_ok(const struct sat_geom_crs_parts *p)
{
	const char *why = NULL;
	char *def = NULL;

	if (sat_geom_crs_build(p, &def, &why) != 0)
		satest_fail(__FILE__, __LINE__, "CRS built", why);
	CHECK(def != NULL);
	return def;
}

static void build_fails(const struct sat_geom_crs_parts *p, const char *why)
{
	const char *got = NULL;
	char *def = (char *)1;

	CHECK_INT(sat_geom_crs_build(p, &def, &got), -EINVAL);
	CHECK(def == NULL);
	if (!got || !strstr(got, why))
		satest_fail(__FILE__, __LINE__, why, got);
}

SAT_TEST(crs_build_parts)
{
	struct sat_geom_crs_parts p;
	char *def;

	/* EPSG conversion on an EPSG base, axes in US survey feet:
	 *   echo "33.1 -81.2" | cs2cs -f %.6f EPSG:4267 "urn:ogc:def:crs,
	 *   crs:EPSG::4267,cs:EPSG::4497,coordinateOperation:EPSG::16017" */
	p = (struct sat_geom_crs_parts){ .geographic_epsg = 4267,
					 .conversion_epsg = 16017,
					 .unit_epsg = 9003 };
	def = build_ok(&p);
	check_point("EPSG:4267", def, -81.2, 33.1, 1579188.155081,
		    12015065.709746, 0.001);
	CHECK_INT(sat_geom_crs_epsg(def), 0);
	free(def);
	/* a TOWGS84 base stays bound to WGS 84 */
	p = (struct sat_geom_crs_parts){
		.geodetic = "+proj=longlat +ellps=intl +towgs84=-87,-98,-121 "
			    "+type=crs",
		.conversion = "+proj=tmerc +lat_0=0 +lon_0=9 +k_0=0.9996",
		.false_easting = 500000 };
	def = build_ok(&p);
	CHECK(strncmp(def, "BOUNDCRS[", 9) == 0);
	check_point("EPSG:4326", def, 10.2, 50.1, 585904.550830,
		    5550640.677607, 0.001);
	free(def);
	/* a sphere, a user-defined unit with false easting and northing in
	 * it: echo "45.5 -100.25" | cs2cs -f %.6f EPSG:4326 +to +proj=sinu
	 * +lon_0=0 +R=6371007.181; echo "52.5 5.5" | cs2cs -f %.6f EPSG:4326
	 * +to +proj=tmerc +lat_0=52 +lon_0=5 +k=1 +x_0=1000 +y_0=2000
	 * +ellps=GRS80 +units=ft */
	p = (struct sat_geom_crs_parts){
		.geodetic = "+proj=longlat +a=6371007.181 +b=6371007.181 "
			    "+type=crs",
		.conversion = "+proj=sinu +lon_0=0" };
	def = build_ok(&p);
	check_point("EPSG:4326", def, -100.25, 45.5, -7813248.617993,
		    5059374.864938, 0.001);
	free(def);
	p = (struct sat_geom_crs_parts){
		.ellipsoid_epsg = 7019,
		.conversion = "+proj=tmerc +lat_0=52 +lon_0=5 +k_0=1",
		.false_easting = 1000 / 0.3048, .false_northing = 2000 / 0.3048,
		.unit_to_metre = 0.3048 };
	def = build_ok(&p);
	check_point("EPSG:4326", def, 5.5, 52.5, 114681.776777, 189480.282722,
		    0.001);
	free(def);
	/* geographic CRSs: from a datum (WGS 84's: the same longitudes and
	 * latitudes as EPSG:4326), from an ellipsoid (an unknown datum) */
	p = (struct sat_geom_crs_parts){ .datum_epsg = 6326 };
	def = build_ok(&p);
	CHECK_INT(sat_geom_crs_is_geographic(def), 1);
	check_point(def, "EPSG:4326", 10.2, 50.1, 10.2, 50.1, 1e-12);
	free(def);
	p = (struct sat_geom_crs_parts){ .ellipsoid_epsg = 7022 };
	def = build_ok(&p);
	CHECK_INT(sat_geom_crs_is_geographic(def), 1);
	CHECK_INT(sat_geom_crs_epsg(def), 0);
	free(def);
	/* and what does not make a CRS */
	build_fails(&(struct sat_geom_crs_parts){ 0 }, "no datum");
	build_fails(&(struct sat_geom_crs_parts){ .geographic_epsg = 99999 },
		    "geographic CRS code");
	build_fails(&(struct sat_geom_crs_parts){ .geographic_epsg = 32633 },
		    "geographic CRS code");
	build_fails(&(struct sat_geom_crs_parts){ .datum_epsg = 4326 },
		    "datum code");
	build_fails(&(struct sat_geom_crs_parts){ .ellipsoid_epsg = 1 },
		    "ellipsoid code");
	build_fails(&(struct sat_geom_crs_parts){ .geodetic = "+proj=utm "
						   "+zone=3 +type=crs" },
		    "geographic 2D");
	build_fails(&(struct sat_geom_crs_parts){ .geographic_epsg = 4326,
						   .conversion_epsg = 4326 },
		    "projection code");
	build_fails(&(struct sat_geom_crs_parts){ .geographic_epsg = 4326,
						   .conversion = "+proj=nosuch" },
		    "projection parameters");
	build_fails(&(struct sat_geom_crs_parts){
			    .geographic_epsg = 4326,
			    .conversion = "+proj=utm +zone=3 +type=crs" },
		    "one-step");
	build_fails(&(struct sat_geom_crs_parts){ .geographic_epsg = 4326,
						   .conversion = "+proj=sinu",
						   .unit_epsg = 9102 },
		    "linear unit");
	build_fails(&(struct sat_geom_crs_parts){ .geographic_epsg = 4326,
						   .conversion = "+proj=sinu",
						   .unit_to_metre = -1 },
		    "linear unit");
}
