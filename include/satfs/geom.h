/*
 * geom: coordinate transformations (PROJ, and only here), the output grid
 * of DESIGN.md rendering rules 1-2, and the polygon masks of rules 6-7.
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

#endif
