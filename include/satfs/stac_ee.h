/*
 * stac_ee: Earth Engine's REST JSON, part of the JSON module (json-c lives
 * in fs/stac*.c only). listImages pages and Image resources as scenes,
 * getPixels request bodies, OAuth token answers, service-account keys,
 * JWT claim sets and the API's error bodies. No I/O.
 *
 * Everything parsed is untrusted (same limits as the STAC parser). Token
 * and key material is returned to the caller and never logged here.
 * Thread-safe: no shared state.
 */
#ifndef SATFS_STAC_EE_H
#define SATFS_STAC_EE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct sat_scene;

/* Parses one listImages answer ({"images": [...], "nextPageToken": ..}).
 * Every valid image becomes a scene appended to *items / *nitems (grown
 * with realloc, owned by the caller); a bad image is skipped with one
 * warning and counted in *skipped. assets_url is
 * "{ee_url}/projects/earthengine-public/assets/{collection}": each band's
 * href is "{assets_url}/{image}:getPixels#{band id}". *next_token gets
 * the nextPageToken (malloc'd) or NULL. 0 or -EINVAL (not such a page). */
int sat_stac_ee_parse_list(const char *body, size_t len,
			   const char *assets_url, struct sat_scene ***items,
			   size_t *nitems, size_t *skipped, char **next_token);

/* The getPixels body: GEO_TIFF, bandIds, and a grid of w x h pixels of
 * px metres, top-left corner (x0, y0), in EPSG:epsg. malloc'd or NULL. */
char *sat_stac_ee_pixels_body(const char *const *bands, size_t n, int epsg,
			      double x0, double y0, double px, uint32_t w,
			      uint32_t h);

/* A lon/lat ring (not closed) as a GeoJSON Polygon string. malloc'd. */
char *sat_stac_ee_region(const double *lonlat, size_t n);

/* {"access_token": .., "expires_in": ..}: 0 or -EINVAL. *token malloc'd;
 * *expires_in is 0 when the answer does not say. */
int sat_stac_ee_parse_token(const char *body, size_t len, char **token,
			    long *expires_in);

/* A service-account key file: 0 or -EINVAL. All three malloc'd. */
int sat_stac_ee_parse_key(const char *body, size_t len, char **email,
			  char **pem, char **token_uri);

/* The JWT claim set for a service-account token request (iss, scope, aud,
 * iat, exp = iat + 3600). malloc'd or NULL. */
char *sat_stac_ee_jwt_claims(const char *email, const char *scope,
			     const char *aud, time_t now);

/* {"error": {"code": .., "message": .., "status": ..}} into msg as
 * "STATUS: message" (printable). 0, or -EINVAL when body is not one. */
int sat_stac_ee_parse_error(const char *body, size_t len, char *msg,
			    size_t msglen);

#endif
