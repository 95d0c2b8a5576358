/*
 * stac_ee: Earth Engine's REST JSON, part of the JSON module (json-c lives
 * in fs/stac*.c only). The listAssets filter, listAssets pages and their
 * Image assets as scenes (with each band's radiometry), getPixels request
 * bodies, OAuth token answers (and OAuth errors), service-account keys,
 * JWT claim sets and the API's error bodies. No I/O.
 *
 * Everything parsed is untrusted (same limits as the STAC parser). Token
 * and key material is returned to the caller and never logged here.
 * Thread-safe: no shared state.
 */
#ifndef SATFS_STAC_EE_H
#define SATFS_STAC_EE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct sat_scene;

/* Parses one projects.assets.listAssets answer (ListAssetsResponse:
 * {"assets": [EarthEngineAsset...], "nextPageToken": ..}; an empty
 * collection answers {}). Every valid IMAGE asset becomes a scene
 * appended to *items / *nitems (grown with realloc, owned by the caller);
 * a bad or non-image asset is skipped with one warning and counted in
 * *skipped. assets_url is
 * "{ee_url}/projects/earthengine-public/assets/{collection}": each band's
 * href is "{assets_url}/{image}:getPixels#{band id}", and its scale and
 * offset come from the collection and the image (sat_stac_ee_radiometry).
 * *next_token gets the nextPageToken (malloc'd) or NULL. 0, or -EINVAL
 * (not such an answer: logged, also when it is listImages' {"images"}). */
int sat_stac_ee_parse_list(const char *body, size_t len,
			   const char *assets_url, struct sat_scene ***items,
			   size_t *nitems, size_t *skipped, char **next_token);

/* The listAssets filter (https://google.aip.dev/160, as the official
 * clients write it): startTime >= "FROM" AND endTime < "TO" AND
 * intersects("GEOJSON") AND properties.CLOUDY_PIXEL_PERCENTAGE < N, the
 * times RFC 3339 UTC, the polygon ring (lon/lat pairs, not closed) as
 * GeoJSON with its double quotes turned into single ones; the cloud term
 * only when max_cloud >= 0 (negative: every image, those without the
 * property too). malloc'd or NULL. */
char *sat_stac_ee_list_filter(time_t from, time_t to_excl,
			      const double *lonlat, size_t n,
			      double max_cloud);

/* The radiometry of band `band` of an image of `collection` (rule 4's
 * scale and offset: value = DN * scale + offset), from what satfs knows of
 * the collection and the image's properties (props: a json-c object, or
 * NULL): Sentinel-2 (harmonised or not, by PROCESSING_BASELINE), Landsat
 * Collection 2 Level-2 (REFLECTANCE_/TEMPERATURE_MULT/ADD properties, else
 * the documented factors). float: the band's dataType is FLOAT or DOUBLE.
 * Returns true and sets *scale, *offset when known; false when satfs
 * knows nothing of that band (the renderer's default applies). */
struct json_object;
bool sat_stac_ee_radiometry(const char *collection, const char *band,
			    struct json_object *props, bool is_float,
			    double *scale, double *offset);

/* The getPixels body: fileFormat NPY, bandIds, and a grid of w x h pixels
 * of px metres, top-left corner (x0, y0), in EPSG:epsg. malloc'd or
 * NULL. */
char *sat_stac_ee_pixels_body(const char *const *bands, size_t n, int epsg,
			      double x0, double y0, double px, uint32_t w,
			      uint32_t h);

/* A lon/lat ring (not closed) as a GeoJSON Polygon string. malloc'd. */
char *sat_stac_ee_region(const double *lonlat, size_t n);

/* {"access_token": .., "expires_in": ..}: 0 or -EINVAL. *token malloc'd;
 * *expires_in is 0 when the answer does not say. */
int sat_stac_ee_parse_token(const char *body, size_t len, char **token,
			    long *expires_in);

/* A service-account key file: 0 or -EINVAL. All three malloc'd;
 * *project gets its project_id (malloc'd) or NULL when it has none (pass
 * NULL when not wanted). */
int sat_stac_ee_parse_key(const char *body, size_t len, char **email,
			  char **pem, char **token_uri, char **project);

/* The JWT claim set for a service-account token request (iss, scope, aud,
 * iat, exp = iat + 3600). malloc'd or NULL. */
char *sat_stac_ee_jwt_claims(const char *email, const char *scope,
			     const char *aud, time_t now);

/* An error body into msg (printable, bounded): the API's
 * {"error": {"code": .., "message": .., "status": ..}} as
 * "STATUS: message", or an OAuth 2.0 token endpoint's {"error": "code",
 * "error_description": ".."} (RFC 6749 section 5.2) as
 * "code: description". 0, or -EINVAL when body is neither. */
int sat_stac_ee_parse_error(const char *body, size_t len, char *msg,
			    size_t msglen);

#endif
