/*
 * config: the embedded defaults, satfs.conf and the -o mount options on
 * top, in that order. This file holds the defaults, the [source] and
 * mount-option keys (shared by the file and -o) and the -o string;
 * config_file.c reads satfs.conf with libinih.
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
#include <sys/stat.h>
#include <unistd.h>

#include "config_priv.h"
#include "satfs/log.h"
#include "satfs/objstore.h"
#include "satfs/region.h"

#define MSG_MAX 512

const char *const sat_config_option_names[] = {
	"config", "cache", "cache_max", "stac", "collection", "max_cloud",
	"prefetch", "connections", "listing_ttl", "max_items", "timeout",
	"offline", "log", "log_level", "sign", "sign_url", "connect_to",
	"shared_store", "shared_endpoint", "shared_region", NULL
};

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

static int parse_int(const char *key, const char *s, long lo, long hi,
		     int *out, char *msg, size_t msglen)
{
	double v;

	if (sat_config_parse_number(s, &v) < 0 || v != floor(v) || v < lo ||
	    v > hi)
		return sat_config_problem(msg, msglen, "%s: '%s' is not a "
					  "whole number in %ld..%ld", key, s,
					  lo, hi);
	*out = (int)v;
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

static const char *const log_levels[] = { "error", "warning", "info",
					   "debug", NULL };

/* Applies one [source], [mount] or -o key to c; see config_priv.h. */
int sat_config_apply_key(struct sat_config *c, const char *key,
			 const char *v, char *msg, size_t msglen)
{
	const char *why = NULL; /* what is wrong with v */
	int ret = 0, level;
	size_t len;

	if (strcmp(key, "type") == 0) {
		if (strcmp(v, "stac") != 0 && strcmp(v, "earthengine") != 0)
			why = "is not a source type (stac or earthengine)";
		else
			ret = set_string(&c->source_type, v);
	} else if (strcmp(key, "stac") == 0) {
		if (strncmp(v, "https://", 8) != 0 &&
		    strncmp(v, "http://", 7) != 0)
			why = "is not an http:// or https:// URL";
		else
			ret = set_string(&c->stac_url, v);
		len = c->stac_url ? strlen(c->stac_url) : 0;
		while (ret == 0 && len > 8 && c->stac_url[len - 1] == '/')
			c->stac_url[--len] = '\0';
	} else if (strcmp(key, "collection") == 0) {
		if (!v[0])
			why = "is empty";
		else
			ret = set_string(&c->collection, v);
		c->collection_set = true;
	} else if (strcmp(key, "project") == 0) {
		if (!v[0] || strpbrk(v, "\r\n"))
			why = "is not a Cloud project id";
		else
			ret = set_string(&c->ee_project, v);
	} else if (strcmp(key, "ee_url") == 0) {
		if (strncmp(v, "https://", 8) != 0 &&
		    strncmp(v, "http://", 7) != 0)
			why = "is not an http:// or https:// URL";
		else
			ret = set_string(&c->ee_url, v);
		len = c->ee_url ? strlen(c->ee_url) : 0;
		while (ret == 0 && len > 8 && c->ee_url[len - 1] == '/')
			c->ee_url[--len] = '\0';
	} else if (strcmp(key, "token_command") == 0) {
		if (!v[0])
			why = "is empty";
		else
			ret = set_string(&c->token_command, v);
	} else if (strcmp(key, "token_file") == 0) {
		if (!v[0])
			why = "is not a path";
		else
			ret = set_path(&c->token_file, v);
	} else if (strcmp(key, "max_cloud") == 0) {
		if (sat_config_parse_number(v, &c->max_cloud) < 0 ||
		    c->max_cloud < 0 || c->max_cloud > 100)
			why = "is not a number in 0..100";
	} else if (strcmp(key, "dates") == 0) {
		return sat_region_parse_dates(v, &c->dates_from, &c->dates_to,
					      msg, msglen);
	} else if (strcmp(key, "offset") == 0) {
		if (strcmp(v, "auto") == 0)
			c->offset_mode = SAT_OFFSET_AUTO;
		else if (strcmp(v, "0") == 0)
			c->offset_mode = SAT_OFFSET_ZERO;
		else if (strcmp(v, "-1000") == 0)
			c->offset_mode = SAT_OFFSET_MINUS1000;
		else
			why = "is not auto, 0 or -1000";
	} else if (strcmp(key, "sign") == 0) {
		if (strcmp(v, "planetary-computer") == 0)
			c->sign = SAT_SIGN_PLANETARY;
		else if (strcmp(v, "none") == 0)
			c->sign = SAT_SIGN_NONE;
		else
			why = "is not planetary-computer or none";
	} else if (strcmp(key, "subscription_key") == 0) {
		/* [source] only (not an -o option: a secret stays out of the
		 * process list and /proc/mounts) */
		if (!v[0] || strpbrk(v, "\r\n"))
			why = "is not a subscription key";
		else
			ret = set_string(&c->sign_subscription_key, v);
	} else if (strcmp(key, "sign_url") == 0) {
		if (strncmp(v, "https://", 8) != 0 &&
		    strncmp(v, "http://", 7) != 0)
			why = "is not an http:// or https:// URL";
		else
			ret = set_string(&c->sign_url, v);
		len = c->sign_url ? strlen(c->sign_url) : 0;
		while (ret == 0 && len > 8 && c->sign_url[len - 1] == '/')
			c->sign_url[--len] = '\0';
	} else if (strcmp(key, "connect_to") == 0) {
		if (!valid_connect_to(v))
			why = "is not HOST:PORT:TO-HOST:TO-PORT[ ...]";
		else
			ret = set_string(&c->connect_to, v);
	} else if (strcmp(key, "shared_store") == 0) {
		char b[SAT_OBJSTORE_BUCKET_MAX], p[SAT_OBJSTORE_PREFIX_MAX];
		char why_buf[256];

		if (sat_objstore_parse_store(v, b, sizeof(b), p, sizeof(p),
					     why_buf, sizeof(why_buf)) < 0)
			return sat_config_problem(msg, msglen, "%s: %s", key,
						  why_buf);
		ret = set_string(&c->shared_store, v);
	} else if (strcmp(key, "shared_endpoint") == 0) {
		if (!sat_objstore_valid_endpoint(v))
			why = "is not an http:// or https:// URL (without "
			      "user name, query or fragment)";
		else
			ret = set_string(&c->shared_endpoint, v);
	} else if (strcmp(key, "shared_region") == 0) {
		if (!sat_objstore_valid_region(v))
			why = "is not a region name such as eu-central-1";
		else
			ret = set_string(&c->shared_region, v);
	} else if (strcmp(key, "cache") == 0 || strcmp(key, "log") == 0) {
		if (!v[0])
			why = "is not a path";
		else
			ret = set_path(key[0] == 'c' ? &c->cache_dir :
						       &c->log_path, v);
	} else if (strcmp(key, "cache_max") == 0) {
		if (sat_config_parse_size(v, &c->cache_max_bytes) < 0)
			why = "is not a size such as 512M or 2G";
	} else if (strcmp(key, "prefetch") == 0) {
		return parse_int(key, v, 0, 64, &c->prefetch, msg, msglen);
	} else if (strcmp(key, "connections") == 0) {
		return parse_int(key, v, 1, 256, &c->connections, msg, msglen);
	} else if (strcmp(key, "listing_ttl") == 0) {
		return parse_int(key, v, 0, INT_MAX, &c->listing_ttl_s, msg,
				 msglen);
	} else if (strcmp(key, "max_items") == 0) {
		return parse_int(key, v, 1, 100000, &c->max_items, msg, msglen);
	} else if (strcmp(key, "timeout") == 0) {
		return parse_int(key, v, 1, 3600, &c->timeout_s, msg, msglen);
	} else if (strcmp(key, "offline") == 0) {
		return sat_config_parse_bool(key, v, &c->offline, msg, msglen);
	} else if (strcmp(key, "log_level") == 0) {
		level = sat_config_key_index(log_levels, v);
		if (level < 0 && strcmp(v, "warn") == 0)
			level = SAT_LOG_WARN;
		if (level < 0 && parse_int(key, v, 0, 3, &level, msg, msglen))
			why = "is not error, warning, info, debug or 0..3";
		else
			c->log_level = level;
	} else {
		return -ENOENT;
	}
	if (why)
		return sat_config_problem(msg, msglen, "%s: '%s' %s", key, v,
					  why);
	if (ret < 0)
		return sat_config_problem(msg, msglen, "%s: %s", key,
					  strerror(-ret));
	return 0;
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
	c->max_cloud = 85;
	c->offset_mode = SAT_OFFSET_AUTO;
	c->prefetch = 4;
	c->connections = 16;
	c->listing_ttl_s = 600;
	c->max_items = 2000;
	c->timeout_s = 30;
	c->log_level = SAT_LOG_INFO;
	c->source_type = strdup("stac");
	c->stac_url = strdup("https://earth-search.aws.element84.com/v1");
	c->collection = strdup("sentinel-2-l2a");
	c->sign = SAT_SIGN_NONE;
	c->sign_url = strdup("https://planetarycomputer.microsoft.com/api/"
			     "sas/v1");
	c->ee_url = strdup("https://earthengine.googleapis.com/v1");
	if (!c->source_type || !c->stac_url || !c->collection ||
	    !c->sign_url || !c->ee_url ||
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
	    builtin_product(c, "truecolor", "B4", "B3", "B2", 3000, 1.0))
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

	if (v)
		*v++ = '\0';
	if (!item[0] && !v)
		return 0; /* ",," */
	if (!sat_config_is_option(item)) {
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
	if (!v && strcmp(item, "offline") == 0) {
		c->offline = true;
		return 0;
	}
	if (!v) {
		snprintf(err, errlen, "-o %s: needs a value", item);
		return -EINVAL;
	}
	if (sat_config_apply_key(c, item, v, msg, sizeof(msg)) < 0) {
		snprintf(err, errlen, "-o %s", msg);
		return -EINVAL;
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
	for (i = 0; i < c->nregions; i++)
		sat_region_free(c->regions[i]);
	free(c->regions);
	for (i = 0; i < c->nproducts; i++)
		sat_config_product_free(c->products[i]);
	free(c->products);
	free(c);
}

bool sat_config_is_option(const char *key)
{
	return sat_config_key_index(sat_config_option_names, key) >= 0;
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
