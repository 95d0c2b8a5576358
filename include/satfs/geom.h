/*
 * geom: coordinate transformations (PROJ, and only here), the output grid
 * of rules 1-2 (docs/ARCHITECTURE.md "Rendering rules"), and the polygon
 * masks of rules 6-7.
 *
 * Thread-safe (each thread gets its own PROJ context); blocking only on
 * PROJ's local database.
 */
#ifndef SATFS_GEOM_H
#define SATFS_GEOM_H

#include <stddef.h>
#include <stdint.h>

/* A north-up raster grid in a projected CRS. */
struct sat_grid {
	int epsg;
	double origin_x;   /* x of the left edge of column 0 */
	double origin_y;   /* y of the top edge of row 0 */
	double pixel_size; /* CRS units per pixel, both axes */
	uint32_t width, height;
};

/* Projects a lon/lat ring (n vertices, not closed) into EPSG:epsg, adding
 * points along every edge so that the projected outline follows the
 * curvature. *xy (malloc'd, x,y pairs, not closed) and *nxy are set on
 * success. Returns 0, -EINVAL (unknown CRS, bad input) or -ENOMEM. */
int sat_geom_project_ring(int epsg, const double *lonlat, size_t n,
			  double **xy, size_t *nxy);

/* The same projection as a reference to an immutable ring, given back
 * with sat_geom_ring_put(). The last few projections (of up to 16384
 * points) are memoized, so that callers asking for a recent ring in the
 * same CRS share one object. Returns 0, -EINVAL or -ENOMEM. */
struct sat_geom_ring {
	const double *xy; /* x,y pairs, not closed */
	size_t n;
	unsigned refs;    /* geom.c's own */
};
int sat_geom_ring_get(int epsg, const double *lonlat, size_t n,
		      struct sat_geom_ring **out);
void sat_geom_ring_put(struct sat_geom_ring *ring);

/* Transforms n points in place from EPSG:src to EPSG:dst (x,y pairs in
 * the CRS's x/east, y/north order; lon,lat for geographic CRSs). */
int sat_geom_transform(int src_epsg, int dst_epsg, double *xy, size_t n);

/* Rule 2: the smallest grid of pixel_size, aligned to multiples of
 * pixel_size, containing the ring. -EINVAL for an empty ring or a grid
 * that would exceed 65536 pixels a side. */
int sat_geom_grid_for_ring(const double *xy, size_t n, int epsg,
			   double pixel_size, struct sat_grid *out);

/* Rule 6: mask[row * width + col] = 1 where the pixel centre lies inside
 * the ring (even-odd), else 0. mask holds width*height bytes. */
void sat_geom_mask_inside(const double *xy, size_t n,
			  const struct sat_grid *g, uint8_t *mask);

/* Rule 7: mask = 1 where the pixel centre lies within width_px/2 pixels
 * of the ring's boundary (left untouched elsewhere). */
void sat_geom_mask_outline(const double *xy, size_t n,
			   const struct sat_grid *g, double width_px,
			   uint8_t *mask);

/* 1 when EPSG:epsg is a geographic 2D CRS (x = longitude, y = latitude,
 * degrees), 0 when it is a projected CRS, -EINVAL for any other code. */
int sat_geom_is_geographic(int epsg);

/* Parses "EPSG:32629" or a bare number; returns the code or 0. */
int sat_geom_parse_epsg(const char *s);

/*
 * CRSs given by a definition string: "EPSG:32629" (any authority:code
 * PROJ's database knows), or anything proj_create() accepts: a PROJ
 * string with +type=crs, WKT 1 or 2, PROJJSON, an OGC URN such as
 * "urn:ogc:def:crs,crs:EPSG::4267,cs:EPSG::4400,coordinateOperation:EPSG::16017".
 * Only 2D geographic and projected CRSs are accepted, also when bound to
 * WGS 84 by a TOWGS84 clause. Axis order is always x = easting/longitude,
 * y = northing/latitude, whatever the definition says.
 */

/* Transforms n points in place from CRS src to CRS dst. Returns 0,
 * -EINVAL (a definition PROJ does not accept or that is not a 2D CRS, no
 * transformation, a point outside the domain) or -ENOMEM. */
int sat_geom_transform_crs(const char *src, const char *dst, double *xy,
			   size_t n);

/* sat_geom_project_ring() into the CRS crs. */
int sat_geom_project_ring_crs(const char *crs, const double *lonlat, size_t n,
			      double **xy, size_t *nxy);
/* How many rings sat_geom_project_ring*() and sat_geom_ring_get() have
 * projected through PROJ and how many they answered from their memo of
 * recent projections (the same CRS and ring), since the process started. */
void sat_geom_ring_memo_stats(uint64_t *projected, uint64_t *memoized);

/* 1 when crs is a geographic 2D CRS, 0 when projected, -EINVAL else.
 * Answers are remembered for every thread (the last 16 CRSs). */
int sat_geom_crs_is_geographic(const char *crs);

/* The EPSG code of the CRS crs names or is equivalent to, for choosing an
 * output CRS: the code itself for "EPSG:n"; else the one candidate PROJ's
 * proj_identify() finds equivalent (confidence >= 70: same datum,
 * projection, parameters and units, whatever the names), and that
 * proj_is_equivalent_to() confirms. 0 when there is none (or more than
 * one), -EINVAL for a definition that is not a 2D CRS. */
int sat_geom_crs_epsg(const char *crs);

/*
 * A CRS from GeoTIFF-style parts, as the COG reader finds them in
 * user-defined GeoKeys. The geodetic part is the first given of:
 * geographic_epsg (a geographic 2D CRS), datum_epsg (a geodetic datum,
 * with its ellipsoid and prime meridian, in longitude/latitude degrees),
 * ellipsoid_epsg (an ellipsoid, unknown datum, Greenwich), geodetic (a
 * PROJ string of a geographic CRS, "+proj=longlat +a=... +rf=...
 * [+pm=...] [+towgs84=...] +type=crs"). The projection, absent for a
 * geographic CRS, is conversion_epsg (an EPSG conversion such as 16017,
 * UTM zone 17N) or conversion (a PROJ string of one projection step
 * without ellipsoid, units nor false easting and northing, angles in
 * degrees: "+proj=tmerc +lat_0=0 +lon_0=9 +k=0.9996") with false_easting
 * and false_northing in the linear unit; the axes are in the linear unit
 * unit_epsg (an EPSG unit code such as 9001 metre or 9003 US survey foot)
 * or, when it is 0, unit_to_metre metres (1 when 0 too).
 */
struct sat_geom_crs_parts {
	int geographic_epsg;
	int datum_epsg;
	int ellipsoid_epsg;
	const char *geodetic;
	int conversion_epsg;
	const char *conversion;
	double false_easting, false_northing;
	int unit_epsg;
	double unit_to_metre;
};

/* Builds the CRS; on success *def is its WKT2:2019 definition on one line
 * (malloc'd), which the functions above accept. Returns 0, -EINVAL with
 * *why (a static phrase) saying what PROJ refused, or -ENOMEM. */
int sat_geom_crs_build(const struct sat_geom_crs_parts *parts, char **def,
		       const char **why);

#endif
