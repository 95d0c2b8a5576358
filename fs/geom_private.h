/*
 * geom_private: what fs/geom.c (transformations, grids, masks) and
 * fs/geom_crs.c (CRSs from definitions and from GeoTIFF parts) share. Not
 * a module boundary: nothing else includes it.
 */
#ifndef SATFS_GEOM_PRIVATE_H
#define SATFS_GEOM_PRIVATE_H

#include <stdbool.h>

#include <proj.h>

/* The calling thread's PROJ context (see geom.c), or NULL (no memory). */
PJ_CONTEXT *geom_ctx(void);
/* True for a geographic 2D or projected CRS, bound to WGS 84 or not. */
bool geom_is_2d_crs(PJ_CONTEXT *ctx, const PJ *crs);
/* The 2D CRS a definition names (a new object), or NULL. */
PJ *geom_crs(PJ_CONTEXT *ctx, const char *def);

#endif
