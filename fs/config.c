/*
 * config: the embedded defaults, satfs.conf and the -o mount options on
 * top, in that order. This file holds the defaults (most of them in the
 * table of keys, config_keys.c, with every key's setter) and the -o
 * string; config_file.c reads satfs.conf with libinih.
 *
 * Built once by sat_config_load() on the main thread before anything else
 * starts; read-only afterwards, so any thread may read it without a lock.
 */
#include "satfs/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_private.h"
#include "satfs/expr.h"
#include "satfs/log.h"
#include "satfs/region.h"
#include "satfs/stac.h"

#define MSG_MAX 512

/* Writes "KEY: what is wrong" for the value setters; returns -EINVAL. */
int sat_config_problem(char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

bool sat_config_credential_key(const char *key)
{
	static const char *const words[] = { "secret", "access_key",
					     "session_token", "password",
					     "credential", NULL };
	int i;

	for (i = 0; words[i]; i++)
		if (strstr(key, words[i]))
			return true;
	return false;
}

int sat_config_key_index(const char *const *keys, const char *key)
{
	int i;

	for (i = 0; keys[i]; i++)
		if (strcmp(keys[i], key) == 0)
			return i;
	return -1;
}

/* Strict number: the whole of s but surrounding blanks; no nan, inf, hex. */
int sat_config_parse_number(const char *s, double *v)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	if (!*s || s[strspn(s, "0123456789+-.eE \t")] != '\0')
		return -EINVAL;
	errno = 0;
	*v = strtod(s, &end);
	while (isspace((unsigned char)*end))
		end++;
	if (end == s || *end || errno == ERANGE || !isfinite(*v))
		return -EINVAL;
	return 0;
}

int sat_config_parse_bool(const char *key, const char *s, bool *out,
			  char *msg, size_t msglen)
{
	static const char *const yes[] = { "on", "true", "yes", "1", NULL };
	static const char *const no[] = { "off", "false", "no", "0", NULL };

	if (sat_config_key_index(yes, s) >= 0)
		*out = true;
	else if (sat_config_key_index(no, s) >= 0)
		*out = false;
	else
		return sat_config_problem(msg, msglen, "%s: '%s' is not on or "
					  "off", key, s);
	return 0;
}

/* Splits "a, b, c" into at most max numbers; returns how many or -EINVAL. */
int sat_config_parse_list(const char *s, double *v, int max)
{
	char buf[256], *p, *comma;
	int n = 0;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	for (p = buf; n < max; p = comma + 1) {
		comma = strchr(p, ',');
		if (comma)
			*comma = '\0';
		if (sat_config_parse_number(p, &v[n++]) < 0)
			return -EINVAL;
		if (!comma)
			return n;
	}
	return -EINVAL;
}

void sat_config_product_free(struct sat_product *p)
{
	int i;

	if (!p)
		return;
	free(p->name);
	for (i = 0; i < SAT_PRODUCT_MAX_BANDS; i++)
		free(p->bands[i]);
	free(p->expression);
	free(p->palette);
	free(p);
}

struct sat_product *sat_config_product_dup(const struct sat_product *src,
					   const char *name)
{
	struct sat_product *p = malloc(sizeof(*p));
	int i;

	if (!p)
		return NULL;
	*p = *src;
	p->name = strdup(name);
	for (i = 0; i < SAT_PRODUCT_MAX_BANDS; i++)
		p->bands[i] = src->bands[i] ? strdup(src->bands[i]) : NULL;
	p->expression = src->expression ? strdup(src->expression) : NULL;
	p->palette = src->palette ? strdup(src->palette) : NULL;
	if (!p->name || (src->expression && !p->expression) ||
	    (src->palette && !p->palette)) {
		sat_config_product_free(p);
		return NULL;
	}
	for (i = 0; i < SAT_PRODUCT_MAX_BANDS; i++) {
		if (src->bands[i] && !p->bands[i]) {
			sat_config_product_free(p);
			return NULL;
		}
	}
	return p;
}

int sat_config_add_region(struct sat_config *c, struct sat_region *r)
{
	struct sat_region **grown;

	grown = realloc(c->regions, (c->nregions + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	grown[c->nregions++] = r;
	c->regions = grown;
	return 0;
}

int sat_config_add_product(struct sat_config *c, struct sat_product *p)
{
	struct sat_product **grown;

	grown = realloc(c->products, (c->nproducts + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	grown[c->nproducts++] = p;
	c->products = grown;
	return 0;
}

static int builtin_product(struct sat_config *c, const char *name,
			   const char *b0, const char *b1, const char *b2,
			   double max, double gamma)
{
	struct sat_product tmpl = {
		.name = (char *)name, .nbands = 3,
		.bands = { (char *)b0, (char *)b1, (char *)b2 },
		.min = { 0, 0, 0 }, .max = { max, max, max }, .gamma = gamma,
		.scale_m = 0, .outline = true, .outline_rgb = { 0, 0, 255 },
		.outline_width_px = 2, .clip = true,
		.type = SAT_PRODUCT_VISUAL,
	};
	struct sat_product *p = sat_config_product_dup(&tmpl, name);

	if (!p || sat_config_add_product(c, p) < 0) {
		sat_config_product_free(p);
		return -ENOMEM;
	}
	return 0;
}

/* A built-in index: an expression on reflectance through a palette. */
static int builtin_index(struct sat_config *c, const char *name,
			 const char *expression, double min, double max,
			 const char *palette)
{
	struct sat_product tmpl = {
		.name = (char *)name, .nbands = 0,
		.min = { min }, .max = { max }, .gamma = 1,
		.scale_m = 0, .outline = true, .outline_rgb = { 0, 0, 255 },
		.outline_width_px = 2, .clip = true,
		.type = SAT_PRODUCT_VISUAL,
		.expression = (char *)expression, .palette = (char *)palette,
	};
	struct sat_product *p = sat_config_product_dup(&tmpl, name);

	if (!p || sat_config_add_product(c, p) < 0) {
		sat_config_product_free(p);
		return -ENOMEM;
	}
	return 0;
}

/* $XDG/rel, else $HOME/home_rel/rel, else fallback (a system service). */
static int env_path(char **out, const char *xdg, const char *home_rel,
		    const char *rel, const char *fallback)
{
	const char *x = getenv(xdg), *home = getenv("HOME");
	int n = 0;

	*out = NULL;
	if (x && x[0] == '/')
		n = asprintf(out, "%s/%s", x, rel);
	else if (home && home[0])
		n = asprintf(out, "%s/%s/%s", home, home_rel, rel);
	else if (fallback)
		n = asprintf(out, "%s", fallback);
	if (n < 0) {
		*out = NULL;
		return -ENOMEM;
	}
	return 0;
}

static int config_defaults(struct sat_config **out)
{
	struct sat_config *c = calloc(1, sizeof(*c));
	struct sat_region *r = NULL;
	time_t today = time(NULL);

	*out = NULL;
	if (!c)
		return -ENOMEM;
	today -= today % 86400;
	c->dates_from = today - 364 * 86400;
	c->dates_to = today + 86399;
	/* the rest from the table of keys (fs/config_keys.c) */
	if (sat_config_apply_defaults(c) < 0 ||
	    env_path(&c->cache_dir, "XDG_CACHE_HOME", ".cache", "satfs",
		     "/var/cache/satfs") < 0)
		goto nomem;
	/* The tutorial's region and products. */
	if (sat_region_new_center(&r, "david", 8.3958, -82.4350, 0.09, 0,
				  NULL, 0) < 0 ||
	    sat_region_parse_dates("2024-01-01 .. 2024-07-31", &r->date_from,
				   &r->date_to, NULL, 0) < 0)
		goto nomem;
	r->has_dates = true;
	if (sat_config_add_region(c, r) < 0)
		goto nomem;
	r = NULL;
	if (builtin_product(c, "falsecolor", "B8", "B4", "B3", 5000, 1.35) ||
	    builtin_product(c, "truecolor", "B4", "B3", "B2", 3000, 1.0) ||
	    /* vegetation (NDVI) and water (McFeeters' NDWI) on reflectance */
	    builtin_index(c, "ndvi", "(B08 - B04) / (B08 + B04)", -0.2, 0.8,
			  "rdylgn") ||
	    builtin_index(c, "ndwi", "(B03 - B08) / (B03 + B08)", -0.5, 0.5,
			  "blues"))
		goto nomem;
	*out = c;
	return 0;
nomem:
	sat_region_free(r);
	sat_config_free(c);
	return -ENOMEM;
}

/* One -o item, "key=value" or "key". */
static int apply_opt(struct sat_config *c, char *item, char *err,
		     size_t errlen)
{
	char msg[MSG_MAX], *v = strchr(item, '=');
	const struct sat_config_key *k;
	int ret;

	if (v)
		*v++ = '\0';
	if (!item[0] && !v)
		return 0; /* ",," */
	k = sat_config_find_key(item, SAT_KEY_OPTION);
	if (!k) {
		snprintf(err, errlen, "-o %s: unknown option%s", item,
			 sat_config_credential_key(item)
				 ? " (credentials are never options: set "
				   "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,"
				   " or use ~/.aws/credentials)"
				 : "");
		return -EINVAL;
	}
	if (strcmp(item, "config") == 0)
		return 0; /* the caller read it and passed it as path */
	if (!v && k->type == SAT_KEY_BOOL)
		v = "on"; /* -o offline */
	if (!v) {
		snprintf(err, errlen, "-o %s: needs a value", item);
		return -EINVAL;
	}
	ret = sat_config_set(c, k, v, msg, sizeof(msg));
	if (ret < 0) {
		snprintf(err, errlen, "-o %s", msg);
		return ret;
	}
	return 0;
}

/* Splits opts at commas; "\," is a comma inside a value, as in libfuse. */
static int apply_opts(struct sat_config *c, const char *opts, char *err,
		      size_t errlen)
{
	char *buf = malloc(strlen(opts) + 1), *q;
	const char *p = opts;
	int ret = 0;

	if (!buf) {
		snprintf(err, errlen, "-o: out of memory");
		return -ENOMEM;
	}
	while (*p && ret == 0) {
		for (q = buf; *p && *p != ','; *q++ = *p++)
			if (*p == '\\' && p[1])
				p++;
		*q = '\0';
		if (*p)
			p++;
		ret = apply_opt(c, buf, err, errlen);
	}
	free(buf);
	return ret;
}

/* Does the collection hold Sentinel-2 L2A (STAC's sentinel-2-l2a and its
 * kin, Earth Engine's COPERNICUS/S2_SR...)? */
static bool sentinel2_collection(const char *coll)
{
	return coll && (strncasecmp(coll, "sentinel-2", 10) == 0 ||
			strncasecmp(coll, "COPERNICUS/S2", 13) == 0);
}

/* With a Sentinel-2 collection, a product naming a band Sentinel-2 does
 * not have is a typo: an error now, rather than a product whose files
 * never appear. Other collections name their bands as they like. */
static int check_band_names(const struct sat_config *c, const char *path,
			    char *err, size_t errlen)
{
	if (!sentinel2_collection(c->collection))
		return 0;
	for (size_t i = 0; i < c->nproducts; i++) {
		const struct sat_product *p = c->products[i];
		struct sat_expr *e = NULL;
		const char *bad = NULL;
		char why[256];

		for (int b = 0; b < p->nbands && !bad; b++)
			if (!sat_band_is_sentinel2(p->bands[b]))
				bad = p->bands[b];
		if (p->expression &&
		    sat_expr_parse(&e, p->expression, why, sizeof(why)) == 0)
			for (size_t b = 0; b < sat_expr_nbands(e) && !bad; b++)
				if (!sat_band_is_sentinel2(sat_expr_band(e, b)))
					bad = sat_expr_band(e, b);
		if (bad) {
			snprintf(err, errlen,
				 "%s%sproduct %s: '%s' is not a band of "
				 "Sentinel-2 (B01..B12, B8A, SCL, or a common "
				 "name such as red or nir; collection %s)",
				 path ? path : "", path ? ": " : "", p->name, bad,
				 c->collection);
			sat_expr_free(e);
			return -EINVAL;
		}
		sat_expr_free(e);
	}
	return 0;
}

/* [source] products: only those, in that order. */
static int keep_products(struct sat_config *c, const char *where, char *err,
			 size_t errlen)
{
	struct sat_product **kept = calloc(c->nproducts + 1, sizeof(*kept));
	char *list = strdup(c->products_shown), *name, *save = NULL;
	size_t n = 0, i;
	int ret = 0;

	if (!kept || !list) {
		snprintf(err, errlen, "out of memory");
		ret = -ENOMEM;
		goto out;
	}
	for (name = strtok_r(list, ", \t:", &save); name && !ret;
	     name = strtok_r(NULL, ", \t:", &save)) {
		for (i = 0; i < n; i++)
			if (!strcmp(kept[i]->name, name))
				break;
		if (i < n) {
			snprintf(err, errlen, "%s%sproducts: '%s' named twice",
				 where, *where == '-' ? "" : ": ", name);
			ret = -EINVAL;
			break;
		}
		for (i = 0; i < c->nproducts; i++)
			if (c->products[i] && !strcmp(c->products[i]->name, name))
				break;
		if (i == c->nproducts) {
			snprintf(err, errlen, "%s%sproducts: '%s' is no "
				 "product (built in: falsecolor, truecolor, "
				 "ndvi, ndwi; or a [product] section)", where,
				 *where == '-' ? "" : ": ", name);
			ret = -EINVAL;
			break;
		}
		kept[n++] = c->products[i];
		c->products[i] = NULL; /* taken; a name twice is refused */
	}
	if (!ret && n == 0) {
		snprintf(err, errlen, "%s%sproducts: none named", where,
			 *where == '-' ? "" : ": ");
		ret = -EINVAL;
	}
	for (i = 0; i < c->nproducts; i++)
		sat_config_product_free(c->products[i]);
	if (ret) {
		for (i = 0; i < n; i++) /* back, for sat_config_free */
			c->products[i] = kept[i];
		c->nproducts = n;
		goto out;
	}
	free(c->products);
	c->products = kept;
	c->nproducts = n;
	kept = NULL;
out:
	free(kept);
	free(list);
	return ret;
}

int sat_config_load(struct sat_config **out, const char *path,
		    const char *opts, char *err, size_t errlen)
{
	struct sat_config *c;
	char *found = NULL;
	struct stat st;
	int ret;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	ret = config_defaults(&c);
	if (ret == 0 && !path)
		ret = env_path(&found, "XDG_CONFIG_HOME", ".config",
			       "satfs/satfs.conf", NULL);
	if (ret < 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	/* A default file that is missing is fine; one we cannot read not. */
	if (found && (stat(found, &st) == 0 ||
		      (errno != ENOENT && errno != ENOTDIR)))
		path = found;
	if (path)
		ret = sat_config_load_file(c, path, err, errlen);
	if (ret == 0 && opts)
		ret = apply_opts(c, opts, err, errlen);
	/* Earth Engine names its collections otherwise */
	if (ret == 0 && strcmp(c->source_type, "earthengine") == 0 &&
	    !c->collection_set) {
		free(c->collection);
		c->collection = strdup(SAT_EE_DEFAULT_COLLECTION);
		if (!c->collection) {
			snprintf(err, errlen, "out of memory");
			ret = -ENOMEM;
		}
	}
	if (ret == 0 && c->products_shown) {
		/* named by -o or by the file: say which */
		const char *o = opts ? strstr(opts, "products=") : NULL;
		bool by_opt = o && (o == opts || o[-1] == ',');

		ret = keep_products(c, by_opt || !path ? "-o " : path, err,
				    errlen);
	}
	if (ret == 0)
		ret = check_band_names(c, path, err, errlen);
out:
	free(found);
	if (ret < 0) {
		sat_config_free(c);
		return ret;
	}
	*out = c;
	return 0;
}

void sat_config_free(struct sat_config *c)
{
	size_t i;

	if (!c)
		return;
	free(c->path);
	free(c->source_type);
	free(c->stac_url);
	free(c->collection);
	free(c->cache_dir);
	free(c->log_path);
	free(c->sign_url);
	if (c->sign_subscription_key)
		explicit_bzero(c->sign_subscription_key,
			       strlen(c->sign_subscription_key));
	free(c->sign_subscription_key);
	free(c->connect_to);
	free(c->ee_project);
	free(c->ee_url);
	free(c->token_command);
	free(c->token_file);
	free(c->shared_store);
	free(c->shared_endpoint);
	free(c->shared_region);
	free(c->products_shown);
	for (i = 0; i < c->nregions; i++)
		sat_region_free(c->regions[i]);
	free(c->regions);
	for (i = 0; i < c->nproducts; i++)
		sat_config_product_free(c->products[i]);
	free(c->products);
	free(c);
}

const struct sat_region *sat_config_find_region(const struct sat_config *c,
						const char *name)
{
	size_t i;

	for (i = 0; i < c->nregions; i++)
		if (c->regions[i]->name &&
		    strcmp(c->regions[i]->name, name) == 0)
			return c->regions[i];
	return NULL;
}

const struct sat_product *sat_config_find_product(const struct sat_config *c,
						  const char *name)
{
	size_t i;

	for (i = 0; i < c->nproducts; i++)
		if (strcmp(c->products[i]->name, name) == 0)
			return c->products[i];
	return NULL;
}

int sat_config_parse_size(const char *s, uint64_t *bytes)
{
	static const char units[] = "KMGT";
	const char *p = s, *u;
	uint64_t ip = 0;
	double frac = 0, f = 0.1;
	int shift = 0;
	bool has_frac = false;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		if (ip > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		ip = ip * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		has_frac = true;
		if (!isdigit((unsigned char)*++p))
			return -EINVAL;
		for (; isdigit((unsigned char)*p); p++, f /= 10)
			frac += (*p - '0') * f;
	}
	if (*p && (u = strchr(units, toupper((unsigned char)*p)))) {
		shift = 10 * (int)(u - units + 1);
		p++;
		if (p[0] == 'i' && p[1] == 'B')
			p++;
	}
	if (*p == 'B')
		p++;
	if (*p || (has_frac && !shift) || ip > (UINT64_MAX >> shift))
		return -EINVAL;
	*bytes = (ip << shift) + (uint64_t)(frac * (double)(1ULL << shift));
	return 0;
}
