/*
 * region: an area of interest (a lon/lat polygon) with an optional date
 * range, and the parsers for the ways a user names one.
 *
 * Pure functions, no I/O, thread-safe.
 */
#ifndef SATFS_REGION_H
#define SATFS_REGION_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct sat_region {
	char *name;     /* directory name */
	double *ring;   /* lon,lat pairs of the outer ring, not closed */
	size_t nring;   /* number of vertices (>= 3) */
	double bbox[4]; /* west, south, east, north of the ring */
	bool has_dates; /* false: the mount's default range applies */
	time_t date_from; /* first second of the first day, UTC */
	time_t date_to;   /* last second of the last day, UTC */
	/* Dates whose scenes are all cloudier than this over the region
	 * (percent, include/satfs/regioncloud.h) are hidden; < 0: none. */
	double max_region_cloud;
};

/* A rectangle west,south,east,north. Returns 0 or -EINVAL (msg says why). */
int sat_region_new_bbox(struct sat_region **out, const char *name,
			const double bbox[4], char *msg, size_t msglen);
/* A square of side `side_m` metres (or, if side_deg > 0, degrees) centred
 * on lat/lon, as the original tutorial's ee.Geometry.Point(..).buffer(..)
 * bounds: side in degrees applies to both axes. */
int sat_region_new_center(struct sat_region **out, const char *name,
			  double lat, double lon, double side_deg,
			  double side_m, char *msg, size_t msglen);
/* A polygon from lon,lat pairs (ring need not be closed). */
int sat_region_new_polygon(struct sat_region **out, const char *name,
			   const double *lonlat, size_t n, char *msg,
			   size_t msglen);
void sat_region_free(struct sat_region *r);

/* Parses "YYYY-MM-DD .. YYYY-MM-DD" (spaces optional, ".." separator) into
 * the first second of the first day and the last second of the last day.
 * Returns 0 or -EINVAL with msg. */
int sat_region_parse_dates(const char *s, time_t *from, time_t *to,
			   char *msg, size_t msglen);
/* Parses a bbox "W, S, E, N" (degrees). 0 or -EINVAL with msg. */
int sat_region_parse_bbox(const char *s, double bbox[4], char *msg,
			  size_t msglen);
/* Parses a size "0.09" (degrees), "10km" or "500m". Exactly one of
 * *deg / *metres is set > 0. 0 or -EINVAL. */
int sat_region_parse_size(const char *s, double *deg, double *metres,
			  char *msg, size_t msglen);

/* Parses an ad-hoc directory name:
 *   @LAT,LON,SIZE[,FROM..TO]        e.g. @8.3958,-82.4350,0.09
 *   bbox=W,S,E,N[,FROM..TO]         e.g. bbox=-82.48,8.35,-82.39,8.44
 * SIZE is 500m, 10km, or a bare number of degrees of at most 1 (the
 * tutorial's 0.09). The region's name is the directory name as given.
 * Returns 0, -ENOMEM, or -ENOENT when the name is not of either form or is
 * invalid. msg (may be NULL) is left empty for names that are simply not
 * regions (probes such as .Trash, which begin with neither '@' nor
 * "bbox="), and says what is wrong with every other (a field that is not
 * a number, a bad date range, a bare SIZE over 1: "5" for 5km), for the
 * caller's log. */
int sat_region_parse_name(struct sat_region **out, const char *name,
			  char *msg, size_t msglen);

/* Formats t as YYYY-MM-DD (UTC) into buf (>= 11 bytes). */
void sat_region_format_date(time_t t, char buf[11]);

#endif
