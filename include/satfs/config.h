/*
 * config: the mount's configuration: the embedded defaults, satfs.conf
 * (INI, parsed with libinih) and -o mount options on top.
 *
 * Built once at start-up, read-only afterwards (any thread may read).
 */
#ifndef SATFS_CONFIG_H
#define SATFS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

struct sat_region;

#define SAT_PRODUCT_MAX_BANDS 3
#define SAT_EE_DEFAULT_COLLECTION "COPERNICUS/S2_SR_HARMONIZED"

enum sat_offset_mode {
	SAT_OFFSET_AUTO = 0, /* raster:bands, else by processing baseline */
	SAT_OFFSET_ZERO,     /* offset 0 */
	SAT_OFFSET_MINUS1000 /* DN offset -1000 (baseline >= 04.00) */
};

/* How asset hrefs are signed before they are fetched. */
enum sat_sign_mode {
	SAT_SIGN_NONE = 0,
	SAT_SIGN_PLANETARY,  /* SAS tokens for *.blob.core.windows.net */
};

enum sat_product_type {
	SAT_PRODUCT_VISUAL = 0,  /* an 8-bit RGBA picture */
	SAT_PRODUCT_RAW,         /* the data values, in their own type */
	SAT_PRODUCT_REFLECTANCE, /* float32 reflectance: scale, offset applied */
};

/* SCL classes (Sentinel-2 scene classification) a product's `mask`
 * names: bit n is class n. */
#define SAT_SCL_SHADOW (1u << 3)
#define SAT_SCL_CLOUD ((1u << 8) | (1u << 9))
#define SAT_SCL_CIRRUS (1u << 10)
#define SAT_SCL_SNOW (1u << 11)
#define SAT_SCL_WATER (1u << 6)
/* what the region cloud cover counts as cloud: 3, 8, 9 and 10 */
#define SAT_SCL_CLOUDY (SAT_SCL_SHADOW | SAT_SCL_CLOUD | SAT_SCL_CIRRUS)

struct sat_product {
	char *name;
	int nbands;                             /* 1 or 3 (an expression: 0) */
	char *bands[SAT_PRODUCT_MAX_BANDS];     /* as written: B8, nir,
						   visual:1 (band 1 of a
						   multi-band asset) ... */
	double min[SAT_PRODUCT_MAX_BANDS];
	double max[SAT_PRODUCT_MAX_BANDS];
	double gamma;
	double scale_m;        /* metres per pixel; 0 = bands' resolution */
	bool outline;          /* paint the region outline */
	uint8_t outline_rgb[3];
	double outline_width_px;
	bool clip;             /* alpha 0 outside the region */
	enum sat_product_type type;
	char *expression;      /* band math on reflectance (include/satfs/
				  expr.h), or NULL */
	char *palette;         /* colours for an expression's value
				  (include/satfs/palette.h), or NULL: greys */
	uint32_t mask;         /* SCL classes made transparent (bit n:
				  class n); 0: none */
};

struct sat_config {
	char *path;            /* the file read, or NULL for the defaults */
	/* [source] */
	char *source_type;     /* "stac" or "earthengine" */
	char *stac_url;        /* without trailing slash */
	char *collection;
	char *products_shown;  /* [source] products: "a, b", or NULL: all */
	double max_cloud;      /* percent; items at or above are dropped */
	time_t dates_from, dates_to; /* default range for regions */
	enum sat_offset_mode offset_mode;
	enum sat_sign_mode sign;
	char *sign_url;        /* SAS token API root, without trailing slash */
	char *sign_subscription_key; /* Planetary Computer API subscription
				      key ([source] subscription_key), or
				      NULL: $PC_SDK_SUBSCRIPTION_KEY */
	/* [source] type = earthengine */
	char *ee_project;      /* sent as X-Goog-User-Project, or NULL */
	char *ee_url;          /* REST root, without trailing slash */
	char *token_command;   /* run by /bin/sh; stdout is a token */
	char *token_file;      /* absolute path of a file holding a token */
	bool collection_set;   /* `collection` was given */
	/* mount options */
	char *cache_dir;
	uint64_t cache_max_bytes; /* 0 = unlimited */
	uint64_t max_file_size_bytes; /* larger files are not opened; 0: any */
	int prefetch;
	int connections;       /* per host */
	int listing_ttl_s;
	int max_items;         /* per region listing */
	int timeout_s;         /* a request with no progress this long fails */
	int min_rate_bytes;    /* ... or moving fewer bytes a second */
	int deadline_s;        /* a request with its retries; 0: 5 x timeout */
	bool offline;
	char *log_path;        /* NULL: stderr / syslog */
	char *connect_to;      /* "HOST:PORT:TO-HOST:TO-PORT ..." or NULL */
	int log_level;         /* enum sat_log_level */
	/* the pictures (docs/ARCHITECTURE.md "Rendering rules", 9-10) */
	bool pictures;         /* quicklooks, time-lapses, index.html */
	int quicklook_size;    /* a quicklook's long side at most, px */
	int timelapse_delay_ms; /* per frame */
	/* [shared]: the shared cache tier (fs/objstore.c); credentials are
	 * not configuration (AWS_* variables or ~/.aws/credentials) */
	char *shared_store;    /* "s3://BUCKET[/PREFIX]", or NULL: none */
	char *shared_endpoint; /* "http(s)://HOST[:PORT]", or NULL: AWS */
	char *shared_region;   /* or NULL: $AWS_REGION, else us-east-1 */
	int shared_timeout_s;  /* a store request with no progress fails */
	int shared_lease_s;    /* a render's lease on the store */
	int shared_wait_s;     /* longest wait for another mount's render */

	struct sat_region **regions;
	size_t nregions;
	struct sat_product **products;
	size_t nproducts;
};

/* Loads the configuration: the embedded defaults, then the file at path
 * (NULL: $XDG_CONFIG_HOME/satfs/satfs.conf if it exists, else defaults
 * only), then the mount options in `opts` (a comma-separated -o string of
 * satfs's own keys, or NULL; a backslash escapes a comma in a value, as
 * "\," in libfuse). On error returns -EINVAL (bad content) or -errno
 * (unreadable file) and writes "FILE:LINE: problem" (or "-o KEY: problem")
 * into err. */
int sat_config_load(struct sat_config **out, const char *path,
		    const char *opts, char *err, size_t errlen);
void sat_config_free(struct sat_config *c);

/* Where a configuration key is valid (struct sat_config_key.where). */
#define SAT_KEY_SOURCE 0x01u  /* [source] */
#define SAT_KEY_MOUNT 0x02u   /* [mount] */
#define SAT_KEY_OPTION 0x04u  /* -o KEY=VALUE */
#define SAT_KEY_REGION 0x08u  /* [region NAME] */
#define SAT_KEY_PRODUCT 0x10u /* [product NAME] */
#define SAT_KEY_SHARED 0x20u  /* [shared], named without "shared_" */

/* The types a key may have; the plain ones need no code of their own. */
enum sat_key_type {
	SAT_KEY_OTHER = 0, /* its own setter */
	SAT_KEY_TEXT,      /* a non-empty string (char *) */
	SAT_KEY_URL,       /* http:// or https://, trailing '/' dropped */
	SAT_KEY_PATH,      /* made absolute (char *) */
	SAT_KEY_INT,       /* a whole number in min..max (int) */
	SAT_KEY_NUMBER,    /* a number in min..max (double) */
	SAT_KEY_BOOL,      /* on/off, yes/no, true/false, 1/0 (bool) */
	SAT_KEY_SIZE,      /* 512M, 2G (uint64_t bytes) */
};

struct sat_config_key;
/* Sets key k from text v into target (the configuration, or the section
 * being read). 0, or -EINVAL with "KEY: problem" in msg, or -ENOMEM. */
typedef int (*sat_config_set_fn)(void *target,
				 const struct sat_config_key *k,
				 const char *v, char *msg, size_t msglen);

/* One configuration key. The table, sat_config_keys[] (fs/config_keys.c),
 * is the one list of keys: the parsers, the defaults, --help and the
 * documentation check go by it. */
struct sat_config_key {
	const char *name;
	unsigned where;         /* SAT_KEY_* */
	enum sat_key_type type;
	double min, max;        /* SAT_KEY_INT, SAT_KEY_NUMBER: inclusive */
	size_t offset;          /* plain types: the field in sat_config */
	sat_config_set_fn set;  /* NULL: the plain type's */
	const char *arg;        /* what the value is, for --help: "SECONDS" */
	const char *def;        /* the default, set at start; NULL: none */
	const char *def_doc;    /* the default in words, when not def */
	const char *help;       /* one line */
};
/* Terminated by an entry whose name is NULL. */
extern const struct sat_config_key sat_config_keys[];
size_t sat_config_nkeys(void);
/* The key called name valid in one of `where`, or NULL. */
const struct sat_config_key *sat_config_find_key(const char *name,
						 unsigned where);
/* Is key one of satfs's own mount options (config, cache, ...)? */
bool sat_config_is_option(const char *key);
/* How many edits (insertions, deletions, substitutions, swaps of two
 * neighbours) make a into b: for "did you mean" suggestions. */
int sat_config_distance(const char *a, const char *b);
/* The -o option, or else the name of extra[] (NULL-terminated; may be
 * NULL), nearest to name, when it is near enough to be a typo of it;
 * else NULL. */
const char *sat_config_suggest(const char *name, const char *const *extra);
/* The same among list[] alone. */
const char *sat_config_nearest(const char *name, const char *const *list);
/* Prints the mount options and the satfs.conf keys by section, for
 * --help. */
void sat_config_usage(FILE *f);

const struct sat_region *sat_config_find_region(const struct sat_config *c,
						const char *name);
const struct sat_product *sat_config_find_product(const struct sat_config *c,
						  const char *name);

/* Parses "123", "10K", "512M", "2G", "1T" (binary units). 0 or -EINVAL. */
int sat_config_parse_size(const char *s, uint64_t *bytes);

#endif
