/*
 * config_keys: the one table of configuration keys (sat_config_keys[]):
 * each key's name, where it is valid ([source], [mount], -o, [region],
 * [product]), its type and range, its default and its line of help. The
 * file parser (config_file.c), the -o parser (config.c), the defaults,
 * `satfs --help` and the documentation check (tests/docs/check_man.sh,
 * which reads --help) all go by it: a key of a plain type (text, URL,
 * path, whole number, number, on/off, size) is one entry and one field of
 * struct sat_config; others name their own setter.
 *
 * Read-only data and pure functions: any thread.
 */
#include "satfs/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_private.h"
#include "satfs/log.h"
#include "satfs/objstore.h"
#include "satfs/region.h"

#define CFG(field) offsetof(struct sat_config, field)

static int set_string(char **dst, const char *s)
{
	char *copy = strdup(s);

	if (!copy)
		return -ENOMEM;
	free(*dst);
	*dst = copy;
	return 0;
}

/* A path as given if absolute, else below the current directory: the
 * daemon changes to / when it detaches. */
static int set_path(char **dst, const char *s)
{
	char cwd[PATH_MAX], *copy;

	if (s[0] == '/')
		return set_string(dst, s);
	if (!getcwd(cwd, sizeof(cwd)))
		return -errno;
	if (asprintf(&copy, "%s/%s", cwd, s) < 0)
		return -ENOMEM;
	free(*dst);
	*dst = copy;
	return 0;
}

/* A setter's problem as "KEY: 'VALUE' WHY", or an errno's. */
static int bad(const struct sat_config_key *k, const char *v, const char *why,
	       char *msg, size_t msglen)
{
	return sat_config_problem(msg, msglen, "%s: '%s' %s", k->name, v, why);
}

static int failed(const struct sat_config_key *k, int err, char *msg,
		  size_t msglen)
{
	sat_config_problem(msg, msglen, "%s: %s", k->name, strerror(-err));
	return err;
}

/* The setter of the plain types, into the field at k->offset. */
static int set_plain(void *target, const struct sat_config_key *k,
		     const char *v, char *msg, size_t msglen)
{
	char *field = (char *)target + k->offset;
	size_t len;
	double d;
	int err;

	switch (k->type) {
	case SAT_KEY_TEXT:
		if (!v[0])
			return bad(k, v, "is empty", msg, msglen);
		err = set_string((char **)field, v);
		break;
	case SAT_KEY_URL:
		if (strncmp(v, "https://", 8) != 0 &&
		    strncmp(v, "http://", 7) != 0)
			return bad(k, v, "is not an http:// or https:// URL",
				   msg, msglen);
		err = set_string((char **)field, v);
		len = err ? 0 : strlen(*(char **)field);
		while (len > 8 && (*(char **)field)[len - 1] == '/')
			(*(char **)field)[--len] = '\0';
		break;
	case SAT_KEY_PATH:
		if (!v[0])
			return bad(k, v, "is not a path", msg, msglen);
		err = set_path((char **)field, v);
		break;
	case SAT_KEY_INT:
		if (sat_config_parse_number(v, &d) < 0 || d != floor(d) ||
		    d < k->min || d > k->max)
			return sat_config_problem(msg, msglen, "%s: '%s' is not "
						  "a whole number in %.0f..%.0f",
						  k->name, v, k->min, k->max);
		*(int *)field = (int)d;
		return 0;
	case SAT_KEY_NUMBER:
		if (sat_config_parse_number(v, &d) < 0 || d < k->min ||
		    d > k->max)
			return sat_config_problem(msg, msglen, "%s: '%s' is not "
						  "a number in %g..%g", k->name,
						  v, k->min, k->max);
		*(double *)field = d;
		return 0;
	case SAT_KEY_BOOL:
		return sat_config_parse_bool(k->name, v, (bool *)field, msg,
					     msglen);
	case SAT_KEY_SIZE:
		if (sat_config_parse_size(v, (uint64_t *)field) < 0)
			return bad(k, v, "is not a size such as 512M or 2G",
				   msg, msglen);
		return 0;
	default:
		return -EINVAL;
	}
	return err ? failed(k, err, msg, msglen) : 0;
}

static int set_type(void *target, const struct sat_config_key *k,
		    const char *v, char *msg, size_t msglen)
{
	struct sat_config *c = target;
	int err;

	if (strcmp(v, "stac") != 0 && strcmp(v, "earthengine") != 0)
		return bad(k, v, "is not a source type (stac or earthengine)",
			   msg, msglen);
	err = set_string(&c->source_type, v);
	return err ? failed(k, err, msg, msglen) : 0;
}

static int set_collection(void *target, const struct sat_config_key *k,
			  const char *v, char *msg, size_t msglen)
{
	struct sat_config *c = target;

	c->collection_set = true;
	return set_plain(target, k, v, msg, msglen);
}

static int set_project(void *target, const struct sat_config_key *k,
		       const char *v, char *msg, size_t msglen)
{
	if (!v[0] || strpbrk(v, "\r\n"))
		return bad(k, v, "is not a Cloud project id", msg, msglen);
	return set_plain(target, k, v, msg, msglen);
}

/* A secret: never repeated in a message (they reach logs and stderr). */
static int set_subscription_key(void *target, const struct sat_config_key *k,
				const char *v, char *msg, size_t msglen)
{
	if (!v[0] || strpbrk(v, "\r\n"))
		return sat_config_problem(msg, msglen,
					  "%s: is not a subscription key",
					  k->name);
	return set_plain(target, k, v, msg, msglen);
}

static int set_dates(void *target, const struct sat_config_key *k,
		     const char *v, char *msg, size_t msglen)
{
	struct sat_config *c = target;

	return sat_region_parse_dates(v, &c->dates_from, &c->dates_to, msg,
				      msglen);
}

static int set_offset(void *target, const struct sat_config_key *k,
		      const char *v, char *msg, size_t msglen)
{
	struct sat_config *c = target;

	if (strcmp(v, "auto") == 0)
		c->offset_mode = SAT_OFFSET_AUTO;
	else if (strcmp(v, "0") == 0)
		c->offset_mode = SAT_OFFSET_ZERO;
	else if (strcmp(v, "-1000") == 0)
		c->offset_mode = SAT_OFFSET_MINUS1000;
	else
		return bad(k, v, "is not auto, 0 or -1000", msg, msglen);
	return 0;
}

static int set_sign(void *target, const struct sat_config_key *k,
		    const char *v, char *msg, size_t msglen)
{
	struct sat_config *c = target;

	if (strcmp(v, "planetary-computer") == 0)
		c->sign = SAT_SIGN_PLANETARY;
	else if (strcmp(v, "none") == 0)
		c->sign = SAT_SIGN_NONE;
	else
		return bad(k, v, "is not planetary-computer or none", msg,
			   msglen);
	return 0;
}

/* curl's CONNECT_TO entries, blank-separated: HOST:PORT:TO-HOST:TO-PORT
 * (IPv6 addresses in brackets; HOST and PORT may be empty, as in curl). */
static bool valid_connect_to(const char *v)
{
	int colons = 0, entries = 0;
	bool in_brackets = false;
	const char *p;

	for (p = v;; p++) {
		if (*p == '\0' || *p == ' ' || *p == '\t') {
			if (p > v && !isspace((unsigned char)p[-1])) {
				if (colons != 3)
					return false;
				entries++;
			}
			colons = 0;
			if (!*p)
				break;
			continue;
		}
		if (iscntrl((unsigned char)*p) || *p == ',' || *p == '/')
			return false;
		if (*p == '[')
			in_brackets = true;
		else if (*p == ']')
			in_brackets = false;
		else if (*p == ':' && !in_brackets)
			colons++;
	}
	return entries > 0 && !in_brackets;
}

static int set_connect_to(void *target, const struct sat_config_key *k,
			  const char *v, char *msg, size_t msglen)
{
	if (!valid_connect_to(v))
		return bad(k, v, "is not HOST:PORT:TO-HOST:TO-PORT[ ...]", msg,
			   msglen);
	return set_plain(target, k, v, msg, msglen);
}

static int set_log_level(void *target, const struct sat_config_key *k,
			 const char *v, char *msg, size_t msglen)
{
	static const char *const levels[] = { "error", "warning", "info",
					      "debug", NULL };
	struct sat_config *c = target;
	int level = sat_config_key_index(levels, v);
	double d;

	if (level < 0 && strcmp(v, "warn") == 0)
		level = SAT_LOG_WARN;
	if (level < 0 && sat_config_parse_number(v, &d) == 0 &&
	    d == floor(d) && d >= 0 && d <= 3)
		level = (int)d;
	if (level < 0)
		return bad(k, v, "is not error, warning, info, debug or 0..3",
			   msg, msglen);
	c->log_level = level;
	return 0;
}

static int set_shared_store(void *target, const struct sat_config_key *k,
			    const char *v, char *msg, size_t msglen)
{
	char b[SAT_OBJSTORE_BUCKET_MAX], p[SAT_OBJSTORE_PREFIX_MAX];
	char why[256];

	if (sat_objstore_parse_store(v, b, sizeof(b), p, sizeof(p), why,
				     sizeof(why)) < 0)
		return sat_config_problem(msg, msglen, "%s: %s", k->name, why);
	return set_plain(target, k, v, msg, msglen);
}

static int set_shared_endpoint(void *target, const struct sat_config_key *k,
			       const char *v, char *msg, size_t msglen)
{
	if (!sat_objstore_valid_endpoint(v))
		return bad(k, v, "is not an http:// or https:// URL (without "
			   "user name, query or fragment)", msg, msglen);
	return set_plain(target, k, v, msg, msglen);
}

static int set_shared_region(void *target, const struct sat_config_key *k,
			     const char *v, char *msg, size_t msglen)
{
	if (!sat_objstore_valid_region(v))
		return bad(k, v, "is not a region name such as eu-central-1",
			   msg, msglen);
	return set_plain(target, k, v, msg, msglen);
}

#define SRC SAT_KEY_SOURCE
#define MNT (SAT_KEY_MOUNT | SAT_KEY_OPTION)
#define REG SAT_KEY_REGION
#define PRD SAT_KEY_PRODUCT
#define SHR (SAT_KEY_SHARED | SAT_KEY_OPTION)

const struct sat_config_key sat_config_keys[] = {
	/* -o only: read by main() before anything else */
	{ "config", SAT_KEY_OPTION, SAT_KEY_OTHER, 0, 0, 0, NULL, "FILE", NULL,
	  "$XDG_CONFIG_HOME/satfs/satfs.conf", "configuration file" },
	/* [source] */
	{ "type", SRC, SAT_KEY_OTHER, 0, 0, 0, set_type, "TYPE", "stac", NULL,
	  "stac, or earthengine (Earth Engine's REST API)" },
	{ "stac", SRC | SAT_KEY_OPTION, SAT_KEY_URL, 0, 0, CFG(stac_url), NULL,
	  "URL", "https://earth-search.aws.element84.com/v1", "Earth Search",
	  "STAC API root" },
	{ "collection", SRC | SAT_KEY_OPTION, SAT_KEY_TEXT, 0, 0,
	  CFG(collection), set_collection, "NAME", "sentinel-2-l2a", NULL,
	  "collection" },
	{ "products", SRC | SAT_KEY_OPTION, SAT_KEY_TEXT, 0, 0,
	  CFG(products_shown), NULL, "NAME, ...", NULL, "all",
	  "the products a date directory shows, in this order" },
	{ "max_cloud", SRC | SAT_KEY_OPTION, SAT_KEY_NUMBER, 0, 100,
	  CFG(max_cloud), NULL, "PERCENT", "85", NULL,
	  "keep scenes below this cloud cover" },
	{ "dates", SRC, SAT_KEY_OTHER, 0, 0, 0, set_dates, "FROM .. TO", NULL,
	  "the last 365 days", "date range of regions without their own" },
	{ "offset", SRC, SAT_KEY_OTHER, 0, 0, 0, set_offset, "auto|0|-1000",
	  "auto", NULL, "DN offset applied before stretching" },
	{ "sign", SRC | SAT_KEY_OPTION, SAT_KEY_OTHER, 0, 0, 0, set_sign, "HOW",
	  "none", NULL,
	  "planetary-computer: SAS tokens for Azure blob hrefs" },
	{ "sign_url", SRC | SAT_KEY_OPTION, SAT_KEY_URL, 0, 0, CFG(sign_url),
	  NULL, "URL", "https://planetarycomputer.microsoft.com/api/sas/v1",
	  "Planetary Computer's", "SAS token API" },
	/* [source] only: a secret stays out of the process list and
	 * /proc/mounts */
	{ "subscription_key", SRC, SAT_KEY_TEXT, 0, 0,
	  CFG(sign_subscription_key), set_subscription_key, "KEY", NULL,
	  "$PC_SDK_SUBSCRIPTION_KEY",
	  "Planetary Computer: the API subscription key" },
	{ "project", SRC, SAT_KEY_TEXT, 0, 0, CFG(ee_project), set_project,
	  "ID", NULL, "none", "Earth Engine: the Cloud project billed" },
	{ "ee_url", SRC, SAT_KEY_URL, 0, 0, CFG(ee_url), NULL, "URL",
	  "https://earthengine.googleapis.com/v1", NULL,
	  "Earth Engine: the REST API's root" },
	{ "token_command", SRC, SAT_KEY_TEXT, 0, 0, CFG(token_command), NULL,
	  "COMMAND", NULL, "none",
	  "Earth Engine: a command printing an access token" },
	{ "token_file", SRC, SAT_KEY_PATH, 0, 0, CFG(token_file), NULL, "FILE",
	  NULL, "none", "Earth Engine: a file holding an access token" },
	/* [mount] and -o */
	{ "cache", MNT, SAT_KEY_PATH, 0, 0, CFG(cache_dir), NULL, "DIR", NULL,
	  "$XDG_CACHE_HOME/satfs", "cache directory" },
	{ "cache_max", MNT, SAT_KEY_SIZE, 0, 0, CFG(cache_max_bytes), NULL,
	  "SIZE", "0", "no cap", "cap on rendered files, e.g. 10G" },
	{ "max_file_size", MNT, SAT_KEY_SIZE, 0, 0, CFG(max_file_size_bytes),
	  NULL, "SIZE", "1G", NULL,
	  "larger files cannot be opened (EFBIG); 0: no limit" },
	{ "prefetch", MNT, SAT_KEY_INT, 0, 64, CFG(prefetch), NULL, "N", "12",
	  NULL, "scenes rendered ahead" },
	{ "connections", MNT, SAT_KEY_INT, 1, 256, CFG(connections), NULL, "N",
	  "48", NULL, "connections per host" },
	{ "listing_ttl", MNT, SAT_KEY_INT, 0, INT_MAX, CFG(listing_ttl_s), NULL,
	  "SECONDS", "600", NULL, "keep listings this long" },
	{ "max_items", MNT, SAT_KEY_INT, 1, 100000, CFG(max_items), NULL, "N",
	  "2000", NULL, "items per region at most" },
	{ "timeout", MNT, SAT_KEY_INT, 1, 3600, CFG(timeout_s), NULL,
	  "SECONDS", "30", NULL,
	  "a request that makes no progress this long is retried, then fails" },
	{ "min_rate", MNT, SAT_KEY_INT, 1, INT_MAX, CFG(min_rate_bytes), NULL,
	  "BYTES", "1024", NULL,
	  "a request slower than this a second, over timeout, is too" },
	{ "deadline", MNT, SAT_KEY_INT, 0, 86400, CFG(deadline_s), NULL,
	  "SECONDS", "0", "5 x timeout",
	  "no request, its retries included, lasts longer" },
	{ "offline", MNT, SAT_KEY_BOOL, 0, 0, CFG(offline), NULL, NULL, "off",
	  NULL, "never use the network: cache only" },
	{ "connect_to", MNT, SAT_KEY_TEXT, 0, 0, CFG(connect_to),
	  set_connect_to, "H:P:TO:TOP", NULL, "none",
	  "connect to TO:TOP for URLs on H:P (as curl --connect-to)" },
	{ "log", MNT, SAT_KEY_PATH, 0, 0, CFG(log_path), NULL, "FILE", NULL,
	  "stderr, or syslog", "log to FILE" },
	{ "log_level", MNT, SAT_KEY_OTHER, 0, 0, 0, set_log_level, "LEVEL",
	  "info", NULL, "error, warning, info or debug" },
	{ "pictures", MNT, SAT_KEY_BOOL, 0, 0, CFG(pictures), NULL, NULL, "on",
	  NULL, "quicklooks (.png beside each picture .tif), "
	  "REGION/timelapse.PRODUCT.gif and REGION/index.html" },
	{ "quicklook_size", MNT, SAT_KEY_INT, 16, 4096, CFG(quicklook_size),
	  NULL, "PIXELS", "1024", NULL,
	  "a quicklook's longer side at most" },
	{ "timelapse_delay", MNT, SAT_KEY_INT, 20, 60000,
	  CFG(timelapse_delay_ms), NULL, "MS", "500", NULL,
	  "how long a time-lapse shows each date (milliseconds)" },
	/* [shared] (named there without "shared_") and -o */
	{ "shared_store", SHR, SAT_KEY_TEXT, 0, 0, CFG(shared_store),
	  set_shared_store, "s3://BUCKET[/PREFIX]", NULL, "none",
	  "a cache tier shared with other mounts, on S3 or an S3-compatible "
	  "store (keys: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or "
	  "~/.aws/credentials)" },
	{ "shared_endpoint", SHR, SAT_KEY_TEXT, 0, 0, CFG(shared_endpoint),
	  set_shared_endpoint, "URL", NULL, "AWS",
	  "the store, when not AWS (path-style)" },
	{ "shared_region", SHR, SAT_KEY_TEXT, 0, 0, CFG(shared_region),
	  set_shared_region, "REGION", NULL, "$AWS_REGION, else us-east-1",
	  "signing region" },
	{ "shared_timeout", SHR, SAT_KEY_INT, 1, 600, CFG(shared_timeout_s),
	  NULL, "SECONDS", "5", NULL,
	  "a store request with no progress this long fails: render locally" },
	{ "shared_lease", SHR, SAT_KEY_INT, 1, 86400, CFG(shared_lease_s),
	  NULL, "SECONDS", "120", NULL,
	  "a render's lease, after which other mounts take over" },
	{ "shared_wait", SHR, SAT_KEY_INT, 0, 86400, CFG(shared_wait_s), NULL,
	  "SECONDS", "120", NULL,
	  "wait this long for another mount's render, then render here" },
	/* [region NAME] */
	{ "bbox", REG, SAT_KEY_OTHER, 0, 0, 0, sat_config_region_key,
	  "W, S, E, N", NULL, NULL, "a rectangle, in degrees" },
	{ "center", REG, SAT_KEY_OTHER, 0, 0, 0, sat_config_region_key,
	  "LAT, LON", NULL, NULL, "the centre of a square (with size)" },
	{ "size", REG, SAT_KEY_OTHER, 0, 0, 0, sat_config_region_key, "SIZE",
	  NULL, NULL, "its side: 0.09 (degrees), 500m or 10km" },
	{ "geojson", REG, SAT_KEY_OTHER, 0, 0, 0, sat_config_region_key, "FILE",
	  NULL, NULL, "a GeoJSON file whose first polygon is the region" },
	{ "dates", REG, SAT_KEY_OTHER, 0, 0, 0, sat_config_region_key,
	  "FROM .. TO", NULL, "[source] dates", "the region's own dates" },
	{ "max_region_cloud", REG, SAT_KEY_OTHER, 0, 0, 0,
	  sat_config_region_key, "PERCENT", NULL, "none",
	  "hide the dates whose scenes are all cloudier over the region" },
	/* [product NAME] */
	{ "bands", PRD, SAT_KEY_OTHER, 0, 0, 0, sat_config_product_key,
	  "B, B, B", NULL, NULL, "one or three bands: B8, B08, nir, ..." },
	{ "min", PRD, SAT_KEY_OTHER, 0, 0, 0, sat_config_product_key, "V[, ...]",
	  "0", NULL, "stretch: one value, or one per band" },
	{ "max", PRD, SAT_KEY_OTHER, 0, 0, 0, sat_config_product_key, "V[, ...]",
	  "5000", NULL, "stretch: one value, or one per band" },
	{ "gamma", PRD, SAT_KEY_OTHER, 0, 0, 0, sat_config_product_key, "G",
	  "1.35", NULL, "greater than 0" },
	{ "scale", PRD, SAT_KEY_OTHER, 0, 0, 0, sat_config_product_key,
	  "METRES", NULL, "the bands' resolution", "metres per pixel" },
	{ "outline", PRD, SAT_KEY_OTHER, 0, 0, 0, sat_config_product_key,
	  "COLOUR, WIDTH", "blue, 2", NULL, "the region's outline, or none" },
	{ "clip", PRD, SAT_KEY_OTHER, 0, 0, 0, sat_config_product_key, "on|off",
	  "on", NULL, "pixels outside the region are transparent" },
	{ "type", PRD, SAT_KEY_OTHER, 0, 0, 0, sat_config_product_key,
	  "visual|raw|reflectance", "visual", NULL,
	  "8-bit RGBA; the data values; or float32 reflectance" },
	{ "expression", PRD, SAT_KEY_OTHER, 0, 0, 0, sat_config_product_key,
	  "MATH", NULL, "none",
	  "band math on reflectance, e.g. (B08 - B04) / (B08 + B04)" },
	{ "palette", PRD, SAT_KEY_OTHER, 0, 0, 0, sat_config_product_key,
	  "NAME|COLOURS", "greys", NULL,
	  "an expression's colours: viridis, greys, rdylgn, blues, or a list" },
	{ "mask", PRD, SAT_KEY_OTHER, 0, 0, 0, sat_config_product_key,
	  "CLASSES", NULL, "none",
	  "SCL classes made transparent: shadow, cloud, cirrus, snow, water, "
	  "0..11" },
	{ NULL, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL, NULL },
};

size_t sat_config_nkeys(void)
{
	return sizeof(sat_config_keys) / sizeof(sat_config_keys[0]) - 1;
}

const struct sat_config_key *sat_config_find_key(const char *name,
						 unsigned where)
{
	const struct sat_config_key *k;

	for (k = sat_config_keys; k->name; k++)
		if ((k->where & where) && strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

bool sat_config_is_option(const char *key)
{
	return sat_config_find_key(key, SAT_KEY_OPTION) != NULL;
}

int sat_config_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	int d[64][64], best;

	if (la > 63 || lb > 63)
		return INT_MAX;
	for (i = 0; i <= la; i++)
		d[i][0] = (int)i;
	for (j = 0; j <= lb; j++)
		d[0][j] = (int)j;
	for (i = 1; i <= la; i++)
		for (j = 1; j <= lb; j++) {
			best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
			    a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	return d[la][lb];
}

/* Near enough to be a typo: one edit in a short name, two in a longer
 * one, never more than a third of it. */
static bool near(const char *name, const char *cand, int *best)
{
	int d = sat_config_distance(name, cand);
	int limit = strlen(cand) <= 6 ? 1 : 2;

	if (d > limit || 3 * d > (int)strlen(cand) || d >= *best)
		return false;
	*best = d;
	return true;
}

static const char *nearest(const char *name, const char *const *list,
			   bool options)
{
	const struct sat_config_key *k;
	const char *found = NULL;
	int best = INT_MAX;

	for (k = sat_config_keys; options && k->name; k++)
		if ((k->where & SAT_KEY_OPTION) && near(name, k->name, &best))
			found = k->name;
	for (; list && *list; list++)
		if (near(name, *list, &best))
			found = *list;
	return found;
}

const char *sat_config_suggest(const char *name, const char *const *extra)
{
	return nearest(name, extra, true);
}

const char *sat_config_nearest(const char *name, const char *const *list)
{
	return nearest(name, list, false);
}

int sat_config_set(void *target, const struct sat_config_key *k,
		   const char *v, char *msg, size_t msglen)
{
	return k->set ? k->set(target, k, v, msg, msglen)
		      : set_plain(target, k, v, msg, msglen);
}

int sat_config_apply_defaults(struct sat_config *c)
{
	const struct sat_config_key *k;
	char msg[256];

	for (k = sat_config_keys; k->name; k++) {
		if (!k->def || !(k->where & (SAT_KEY_SOURCE | SAT_KEY_MOUNT |
					     SAT_KEY_SHARED)))
			continue;
		if (sat_config_set(c, k, k->def, msg, sizeof(msg)) != 0)
			return -ENOMEM; /* the table's defaults are valid */
	}
	c->collection_set = false; /* the default is not the user's */
	return 0;
}

/* "text" at column `col`, wrapped at 79 columns. */
static void put_wrapped(FILE *f, const char *text, int col, int at)
{
	const char *w = text;

	while (*w) {
		int len = (int)strcspn(w, " ");

		if (at > col && at + 1 + len > 79) {
			fprintf(f, "\n%*s", col, "");
			at = col;
		} else if (at > col) {
			fputc(' ', f);
			at++;
		}
		fprintf(f, "%.*s", len, w);
		at += len;
		w += len;
		while (*w == ' ')
			w++;
	}
	fputc('\n', f);
}

void sat_config_usage(FILE *f)
{
	static const struct {
		unsigned where;
		const char *label;
	} sections[] = {
		{ SAT_KEY_SOURCE, "[source]" },
		{ SAT_KEY_MOUNT, "[mount]" },
		{ SAT_KEY_SHARED, "[shared]" },
		{ SAT_KEY_REGION, "[region NAME]" },
		{ SAT_KEY_PRODUCT, "[product NAME]" },
	};
	const struct sat_config_key *k;
	char head[64], text[512];
	size_t i;
	int n;

	fprintf(f, "satfs options (-o; they override the configuration "
		   "file):\n");
	for (k = sat_config_keys; k->name; k++) {
		const char *def = k->def_doc ? k->def_doc : k->def;

		if (!(k->where & SAT_KEY_OPTION))
			continue;
		if (k->arg)
			snprintf(head, sizeof(head), "%s=%s", k->name, k->arg);
		else
			snprintf(head, sizeof(head), "%s", k->name);
		snprintf(text, sizeof(text), "%s%s%s%s", k->help,
			 def ? " (default " : "", def ? def : "",
			 def ? ")" : "");
		n = fprintf(f, "    %-22s", head);
		if (n > 27) {
			fprintf(f, "\n%27s", "");
			n = 27;
		} else {
			fputc(' ', f);
			n++;
		}
		put_wrapped(f, text, 27, n);
	}
	fprintf(f, "\nsatfs.conf sections and their keys (satfs.conf(5)):\n");
	for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		size_t off = 0;

		text[0] = '\0';
		for (k = sat_config_keys; k->name; k++)
			if (k->where & sections[i].where)
				off += (size_t)snprintf(
					text + off, sizeof(text) - off, "%s%s",
					off ? " " : "",
					k->name + (sections[i].where ==
							   SAT_KEY_SHARED
						   ? strlen("shared_")
						   : 0));
		n = fprintf(f, "    %-15s ", sections[i].label);
		put_wrapped(f, text, 20, n);
	}
}
