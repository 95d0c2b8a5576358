/*
 * ee: the Earth Engine source (docs/ARCHITECTURE.md "Sources"): REST API.
 *
 * Three parts, one header:
 * - ee_auth.c: credentials and authorised requests. An access token comes
 *   from, in this order, `token_command` (run by /bin/sh, its stdout is
 *   the token, run again after SAT_EE_COMMAND_LIFETIME_S), `token_file`
 *   (read again when its mtime changes) or the service-account key named
 *   by GOOGLE_APPLICATION_CREDENTIALS (a JWT signed RS256 with OpenSSL,
 *   exchanged at the key's token_uri, renewed before it expires). Every
 *   request carries the token and `X-Goog-User-Project` ([source] project,
 *   else the key's project_id; a source without one is refused at start:
 *   the API ties every call to a Cloud project); a 401 renews the
 *   token once and retries; at most SAT_EE_MAX_IN_FLIGHT requests run at
 *   once; errors in the API's JSON shape are logged with their message.
 *   Tokens and keys never reach a log. OpenSSL is used here (and by the
 *   cache's hashing) only.
 * - ee_catalog.c: the v1 projects.assets.listAssets of the collection,
 *   everything in its `filter`, page by page into scenes, following
 *   nextPageToken until it is absent (the catalog module calls it when
 *   [source] type = earthengine).
 * - ee_pixels.c: getPixels on our output grid as NumPy .npy, each band in
 *   its own data type: the same contract as sat_cogread_window().
 *
 * Thread-safe; the fetching functions block on the network.
 */
#ifndef SATFS_EE_H
#define SATFS_EE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "satfs/fetch.h"

struct sat_config;
struct sat_read;
struct sat_scene;
struct sat_search;
struct sat_ee;

#define SAT_EE_MAX_IN_FLIGHT 40         /* the API's concurrency quota */
#define SAT_EE_COMMAND_LIFETIME_S 3300  /* a command's token: 55 min */
#define SAT_EE_RENEW_MARGIN_S 300       /* renew this long before expiry */
#define SAT_EE_SCOPE "https://www.googleapis.com/auth/earthengine.readonly"

/* ---- ee_auth.c ---- */

/* Reads the credentials named by cfg (and the environment). Returns 0, or
 * -EINVAL (logged, saying what is missing) when there are none, the key
 * file is unusable, or no Cloud project is known. */
int sat_ee_new(struct sat_ee **out, const struct sat_config *cfg,
	       struct sat_fetch *fetch);
void sat_ee_free(struct sat_ee *ee);

/* Tests only: the clock the token logic reads (NULL: time()). */
void sat_ee_set_clock(struct sat_ee *ee, time_t (*now)(void));

/* The current access token (malloc'd), renewed when expired or when
 * `refused` equals it (the API answered 401 to it). 0 or -errno. */
int sat_ee_token(struct sat_ee *ee, const char *refused, char **token);

/* Does req with the token and project headers added (req->headers kept),
 * renewing the token once on a 401. On failure the API's error message is
 * logged with `what`. Returns res->err. */
int sat_ee_fetch(struct sat_ee *ee, const struct sat_fetch_req *req,
		 struct sat_fetch_result *res, const char *what);

/* A compact JWT (header.claims.signature, base64url) of claims signed
 * RS256 with the PEM private key. 0, -EINVAL (not a usable RSA key) or
 * -ENOMEM. */
int sat_ee_jwt_sign(const char *pem, const char *claims, char **jwt);

/* "{ee_url}/projects/earthengine-public/assets/{collection}", malloc'd. */
char *sat_ee_assets_url(const struct sat_config *cfg);

/* ---- ee_catalog.c ---- */

/* Lists the images of q's region between q->from (inclusive) and q->to
 * (inclusive, sent as an exclusive endTime one second later), cloud
 * cover below q->max_cloud: listAssets with all of it in `filter`,
 * following nextPageToken until a page has none, whatever the pages hold,
 * within a page cap, the item cap q->max_items, and stopping on a token
 * seen before. Each raw page is handed to page_cb (which takes ownership
 * of body) for the disk cache; the scenes are appended to *items /
 * *nitems. 0 or -errno (logged). */
int sat_ee_list(struct sat_ee *ee, const struct sat_search *q,
		int (*page_cb)(void *arg, char *body, size_t len), void *arg,
		struct sat_scene ***items, size_t *nitems);

/* Re-parses a page saved by page_cb; as sat_stac_ee_parse_list. */
int sat_ee_parse_page(const struct sat_config *cfg, const char *body,
		      size_t len, struct sat_scene ***items, size_t *nitems,
		      size_t *skipped);

/* ---- ee_pixels.c ---- */

/* The largest request the API answers: 48 MB uncompressed, 32768 pixels
 * a side. */
#define SAT_EE_MAX_REQUEST_BYTES (48u * 1000 * 1000)
#define SAT_EE_MAX_SIDE 32768u
#define SAT_EE_MAX_BANDS 16

/* Reads a window of bands of one image (include/satfs/source.h):
 * rd->bands[i].href is an Earth Engine band href
 * ("{assets}/{image}:getPixels#{band}"); values come back in each band's
 * own data type (uint8 ... float64, as the .npy answer states it), valid
 * is set where every band has data (not 0, not NaN, not nodata). Grids
 * over the API's limits are split into tiles (max_side pixels a side,
 * max_bytes a request, counted at 8 bytes a sample since the band types
 * are known only from the answer) and reassembled. 0 or -errno: -EIO
 * (the answer is not the .npy asked for), -ENOTSUP (a sample type we do
 * not read). */
int sat_ee_window(struct sat_ee *ee, const struct sat_read *rd);

/* Tests only: lower the tile limits (0 keeps the API's). */
void sat_ee_set_tile_limits(struct sat_ee *ee, uint32_t max_side,
			    uint64_t max_bytes);

#endif
