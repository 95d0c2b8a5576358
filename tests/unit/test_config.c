/* Unit tests for the config module: defaults, satfs.conf, -o options. */
#include "satest.h"

#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "satfs/config.h"
#include "satfs/region.h"

/* 2024-01-01T00:00:00Z and 2024-07-31T23:59:59Z */
#define T_2024_01_01 1704067200
#define T_2024_07_31_END (1722384000 + 86399)

static char conf_path[240];

/* Writes content to <tmpdir>/name; returns the path (static buffer). */
static const char *write_file(const char *name, const char *content)
{
	static char path[240];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", satest_tmpdir(), name);
	f = fopen(path, "w");
	CHECK(f != NULL);
	CHECK(fputs(content, f) >= 0);
	CHECK(fclose(f) == 0);
	return path;
}

static const char *write_conf(const char *content)
{
	snprintf(conf_path, sizeof(conf_path), "%s",
		 write_file("satfs.conf", content));
	return conf_path;
}

/* Keeps the user's own files out of the tests. */
static void isolate_env(void)
{
	CHECK(setenv("HOME", satest_tmpdir(), 1) == 0);
	CHECK(setenv("XDG_CONFIG_HOME", satest_tmpdir(), 1) == 0);
	CHECK(setenv("XDG_CACHE_HOME", "/x/cache", 1) == 0);
}

static struct sat_config *load_ok(const char *content, const char *opts)
{
	struct sat_config *c = NULL;
	char err[1024] = "";
	int ret;

	isolate_env();
	ret = sat_config_load(&c, write_conf(content), opts, err, sizeof(err));
	if (ret != 0)
		satest_fail(__FILE__, __LINE__, "config loads", err);
	CHECK(c != NULL);
	return c;
}

/* The file must be refused with "FILE:LINE: ..." containing want. */
static void expect_bad(int caller_line, const char *content, int line,
		       const char *want)
{
	struct sat_config *c = (struct sat_config *)1;
	char err[1024] = "", prefix[300], detail[2048];
	int ret;

	isolate_env();
	ret = sat_config_load(&c, write_conf(content), NULL, err, sizeof(err));
	if (line < 0) /* FILE: only */
		snprintf(prefix, sizeof(prefix), "%s: ", conf_path);
	else
		snprintf(prefix, sizeof(prefix), "%s:%d: ", conf_path, line);
	snprintf(detail, sizeof(detail), "case at line %d: ret %d, err '%s', "
		 "want '%s' and '%s'", caller_line, ret, err, prefix, want);
	if (ret != -EINVAL || c != NULL || strncmp(err, prefix,
						   strlen(prefix)) != 0 ||
	    !strstr(err, want))
		satest_fail(__FILE__, caller_line, "bad config refused",
			    detail);
}

#define BAD(content, line, want) expect_bad(__LINE__, content, line, want)

static void expect_bad_opts(int caller_line, const char *opts,
			    const char *want)
{
	struct sat_config *c = (struct sat_config *)1;
	char err[1024] = "", detail[2048];
	int ret;

	isolate_env();
	ret = sat_config_load(&c, NULL, opts, err, sizeof(err));
	snprintf(detail, sizeof(detail), "opts '%s': ret %d, err '%s', "
		 "want '%s'", opts, ret, err, want);
	if (ret != -EINVAL || c != NULL || strncmp(err, want, strlen(want)))
		satest_fail(__FILE__, caller_line, "bad -o refused", detail);
}

#define BAD_OPTS(opts, want) expect_bad_opts(__LINE__, opts, want)

SAT_TEST(defaults)
{
	const struct sat_product *p;
	const struct sat_region *r;
	struct sat_config *c = NULL;
	char err[256];
	time_t now = time(NULL);

	isolate_env();
	CHECK_INT(sat_config_load(&c, NULL, NULL, err, sizeof(err)), 0);
	CHECK(c->path == NULL);
	CHECK_STR(c->source_type, "stac");
	CHECK_STR(c->stac_url, "https://earth-search.aws.element84.com/v1");
	CHECK_STR(c->collection, "sentinel-2-l2a");
	CHECK(c->max_cloud == 85);
	/* The last 365 days: today minus 364 .. the end of today. */
	CHECK_INT(c->dates_to - c->dates_from, 365 * 86400 - 1);
	CHECK_INT(c->dates_to % 86400, 86399);
	CHECK(c->dates_to >= now && c->dates_to - now < 86400);
	CHECK_INT(c->offset_mode, SAT_OFFSET_AUTO);
	CHECK_STR(c->cache_dir, "/x/cache/satfs");
	CHECK_INT(c->cache_max_bytes, 0);
	CHECK_INT(c->prefetch, 12);
	CHECK_INT(c->connections, 48);
	CHECK_INT(c->listing_ttl_s, 600);
	CHECK_INT(c->max_items, 2000);
	CHECK(!c->offline);
	CHECK(c->log_path == NULL);
	CHECK_INT(c->log_level, 2);

	CHECK_INT(c->nregions, 1);
	r = sat_config_find_region(c, "david");
	CHECK(r != NULL && r == c->regions[0]);
	CHECK_STR(r->name, "david");
	CHECK_NEAR(r->bbox[0], -82.48, 1e-9);
	CHECK_NEAR(r->bbox[1], 8.3508, 1e-9);
	CHECK_NEAR(r->bbox[2], -82.39, 1e-9);
	CHECK_NEAR(r->bbox[3], 8.4408, 1e-9);
	CHECK_INT(r->nring, 4);
	CHECK(r->has_dates);
	CHECK_INT(r->date_from, T_2024_01_01);
	CHECK_INT(r->date_to, T_2024_07_31_END);
	CHECK(sat_config_find_region(c, "goliath") == NULL);

	CHECK_INT(c->nproducts, 4);
	p = sat_config_find_product(c, "falsecolor");
	CHECK(p != NULL && p == c->products[0]);
	CHECK_INT(p->nbands, 3);
	CHECK_STR(p->bands[0], "B8");
	CHECK_STR(p->bands[1], "B4");
	CHECK_STR(p->bands[2], "B3");
	CHECK(p->min[0] == 0 && p->min[1] == 0 && p->min[2] == 0);
	CHECK(p->max[0] == 5000 && p->max[1] == 5000 && p->max[2] == 5000);
	CHECK(p->gamma == 1.35);
	CHECK(p->scale_m == 0);
	CHECK(p->outline && p->outline_width_px == 2);
	CHECK(p->outline_rgb[0] == 0 && p->outline_rgb[1] == 0 &&
	      p->outline_rgb[2] == 255);
	CHECK(p->clip && p->type == SAT_PRODUCT_VISUAL);
	p = sat_config_find_product(c, "truecolor");
	CHECK(p != NULL && p == c->products[1]);
	CHECK_STR(p->bands[0], "B4");
	CHECK_STR(p->bands[1], "B3");
	CHECK_STR(p->bands[2], "B2");
	CHECK(p->min[2] == 0 && p->max[0] == 3000 && p->max[2] == 3000);
	CHECK(p->gamma == 1.0);
	CHECK(p->outline && p->outline_rgb[2] == 255 && p->clip && p->type == SAT_PRODUCT_VISUAL);
	/* the indices: an expression on reflectance through a palette */
	p = sat_config_find_product(c, "ndvi");
	CHECK(p != NULL && p == c->products[2]);
	CHECK_STR(p->expression, "(B08 - B04) / (B08 + B04)");
	CHECK_STR(p->palette, "rdylgn");
	CHECK(p->min[0] == -0.2 && p->max[0] == 0.8);
	p = sat_config_find_product(c, "ndwi");
	CHECK(p != NULL && p == c->products[3]);
	CHECK_STR(p->expression, "(B03 - B08) / (B03 + B08)");
	CHECK_STR(p->palette, "blues");
	CHECK(sat_config_find_product(c, "json") == NULL);
	CHECK(c->products_shown == NULL);
	CHECK_INT(r->max_region_cloud, -1);
	sat_config_free(c);
	sat_config_free(NULL);
}

SAT_TEST(default_cache_dir)
{
	struct sat_config *c = NULL;
	char err[256];

	CHECK(unsetenv("XDG_CACHE_HOME") == 0);
	CHECK(setenv("XDG_CONFIG_HOME", satest_tmpdir(), 1) == 0);
	CHECK(setenv("HOME", "/home/u", 1) == 0);
	CHECK_INT(sat_config_load(&c, NULL, NULL, err, sizeof(err)), 0);
	CHECK_STR(c->cache_dir, "/home/u/.cache/satfs");
	sat_config_free(c);
	/* A relative XDG_CACHE_HOME is ignored, as the XDG spec says. */
	CHECK(setenv("XDG_CACHE_HOME", "rel", 1) == 0);
	CHECK_INT(sat_config_load(&c, NULL, NULL, err, sizeof(err)), 0);
	CHECK_STR(c->cache_dir, "/home/u/.cache/satfs");
	sat_config_free(c);
	CHECK(unsetenv("XDG_CACHE_HOME") == 0);
	CHECK(unsetenv("XDG_CONFIG_HOME") == 0);
	CHECK(unsetenv("HOME") == 0);
	CHECK_INT(sat_config_load(&c, NULL, NULL, err, sizeof(err)), 0);
	CHECK_STR(c->cache_dir, "/var/cache/satfs");
	CHECK(c->path == NULL);
	sat_config_free(c);
}

SAT_TEST(default_file_location)
{
	struct sat_config *c = NULL;
	char err[512], dir[200], path[240];

	/* $XDG_CONFIG_HOME/satfs/satfs.conf */
	snprintf(dir, sizeof(dir), "%s/xdg", satest_tmpdir());
	CHECK(mkdir(dir, 0700) == 0);
	snprintf(path, sizeof(path), "%s/satfs", dir);
	CHECK(mkdir(path, 0700) == 0);
	strcat(path, "/satfs.conf");
	CHECK(rename(write_conf("[source]\nmax_cloud = 12\n"), path) == 0);
	CHECK(setenv("XDG_CONFIG_HOME", dir, 1) == 0);
	CHECK(setenv("HOME", "/nonexistent", 1) == 0);
	CHECK_INT(sat_config_load(&c, NULL, NULL, err, sizeof(err)), 0);
	CHECK_STR(c->path, path);
	CHECK(c->max_cloud == 12);
	sat_config_free(c);

	/* $HOME/.config/satfs/satfs.conf when XDG_CONFIG_HOME is unset */
	CHECK(unsetenv("XDG_CONFIG_HOME") == 0);
	CHECK(setenv("HOME", satest_tmpdir(), 1) == 0);
	snprintf(dir, sizeof(dir), "%s/.config", satest_tmpdir());
	CHECK(mkdir(dir, 0700) == 0);
	snprintf(path, sizeof(path), "%s/satfs", dir);
	CHECK(mkdir(path, 0700) == 0);
	strcat(path, "/satfs.conf");
	CHECK(rename(write_conf("[source]\nmax_cloud = 13\n"), path) == 0);
	CHECK_INT(sat_config_load(&c, NULL, NULL, err, sizeof(err)), 0);
	CHECK_STR(c->path, path);
	CHECK(c->max_cloud == 13);
	sat_config_free(c);

	/* A default file that exists but cannot be read is an error. */
	CHECK(unlink(path) == 0);
	CHECK(mkdir(path, 0700) == 0);
	c = (struct sat_config *)1;
	CHECK_INT(sat_config_load(&c, NULL, NULL, err, sizeof(err)), -EISDIR);
	CHECK(c == NULL);
	CHECK(strstr(err, "cannot read") != NULL);
}

static const char full_conf[] =
	"; satfs test configuration\n"
	"# a hash comment\n"
	"[source]\n"
	"type = stac\n"
	"stac = http://127.0.0.1:9/stac/   ; trailing slash is dropped\n"
	"collection = my-coll\n"
	"max_cloud = 20.5\n"
	"dates = 2023-01-01 .. 2023-12-31\n"
	"offset = -1000\n"
	"\n"
	"[mount]\n"
	"cache = /tmp/satfs-cache\n"
	"cache_max = 2G\n"
	"prefetch = 0\n"
	"connections = 8\n"
	"listing_ttl = 0\n"
	"max_items = 50\n"
	"offline = yes\n"
	"log = /tmp/satfs.log\n"
	"log_level = debug\n"
	"\n"
	"[region home]\n"
	"center = 60, 13.4\n"
	"size = 10km\n"
	"dates = 2024-02-01..2024-02-29\n"
	"[region box]\n"
	"bbox = -82.48, 8.3508, -82.39, 8.4408 ; west, south, east, north\n"
	"[region deg]\n"
	"center = 8.3958, -82.4350\n"
	"size = 0.09\n"
	"\n"
	"[product falsecolor]\n"
	"gamma = 2\n"
	"outline = none\n"
	"[product ndvi-like]\n"
	"bands = nir\n"
	"min = -1000\n"
	"max = 8000\n"
	"scale = 10m\n"
	"outline = #ff8000, 3px\n"
	"clip = off\n"
	"type = raw\n"
	"[product rgb]\n"
	"bands = red, green, blue\n"
	"min = 0, 10, 20\n"
	"max = 3000, 3100, 3200\n"
	"scale = 2\n"
	"outline = yellow\n"
	"type = visual\n";

SAT_TEST(full_file)
{
	struct sat_config *c = load_ok(full_conf, NULL);
	const struct sat_region *r;
	const struct sat_product *p;
	time_t from, to;

	CHECK_STR(c->path, conf_path);
	CHECK_STR(c->source_type, "stac");
	CHECK_STR(c->stac_url, "http://127.0.0.1:9/stac");
	CHECK_STR(c->collection, "my-coll");
	CHECK(c->max_cloud == 20.5);
	CHECK_INT(sat_region_parse_dates("2023-01-01..2023-12-31", &from, &to,
					 NULL, 0), 0);
	CHECK_INT(c->dates_from, from);
	CHECK_INT(c->dates_to, to);
	CHECK_INT(c->offset_mode, SAT_OFFSET_MINUS1000);
	CHECK_STR(c->cache_dir, "/tmp/satfs-cache");
	CHECK_INT(c->cache_max_bytes, 2ULL << 30);
	CHECK_INT(c->prefetch, 0);
	CHECK_INT(c->connections, 8);
	CHECK_INT(c->listing_ttl_s, 0);
	CHECK_INT(c->max_items, 50);
	CHECK(c->offline);
	CHECK_STR(c->log_path, "/tmp/satfs.log");
	CHECK_INT(c->log_level, 3);

	/* The file lists regions: exactly those, david is gone. */
	CHECK_INT(c->nregions, 3);
	CHECK(sat_config_find_region(c, "david") == NULL);
	r = sat_config_find_region(c, "home");
	CHECK(r == c->regions[0]);
	CHECK_NEAR(r->bbox[3] - r->bbox[1], 10000 / 111320.0, 1e-12);
	CHECK_NEAR((r->bbox[2] - r->bbox[0]) / (r->bbox[3] - r->bbox[1]), 2,
		   1e-9);
	CHECK(r->has_dates);
	CHECK_INT(r->date_to - r->date_from, 29 * 86400 - 1);
	r = sat_config_find_region(c, "box");
	CHECK(r->bbox[0] == -82.48 && r->bbox[1] == 8.3508 &&
	      r->bbox[2] == -82.39 && r->bbox[3] == 8.4408);
	CHECK(!r->has_dates);
	r = sat_config_find_region(c, "deg");
	CHECK_NEAR(r->bbox[0], -82.48, 1e-9);
	CHECK_NEAR(r->bbox[3], 8.4408, 1e-9);

	CHECK_INT(c->nproducts, 6);
	p = sat_config_find_product(c, "falsecolor");
	CHECK(p == c->products[0]); /* modified in place */
	CHECK(p->gamma == 2 && !p->outline);
	CHECK_STR(p->bands[0], "B8"); /* the rest as built in */
	CHECK(p->max[1] == 5000 && p->clip);
	p = sat_config_find_product(c, "truecolor");
	CHECK(p == c->products[1] && p->gamma == 1.0);
	p = sat_config_find_product(c, "ndvi-like");
	CHECK(p == c->products[4]); /* after the four built-ins */
	CHECK_INT(p->nbands, 1);
	CHECK_STR(p->bands[0], "nir");
	CHECK(p->bands[1] == NULL && p->bands[2] == NULL);
	CHECK(p->min[0] == -1000 && p->max[0] == 8000);
	CHECK(p->gamma == 1.35); /* falsecolor-like */
	CHECK(p->scale_m == 10);
	CHECK(p->outline && p->outline_width_px == 3);
	CHECK(p->outline_rgb[0] == 0xff && p->outline_rgb[1] == 0x80 &&
	      p->outline_rgb[2] == 0);
	CHECK(!p->clip && p->type == SAT_PRODUCT_RAW);
	p = sat_config_find_product(c, "rgb");
	CHECK_INT(p->nbands, 3);
	CHECK_STR(p->bands[2], "blue");
	CHECK(p->min[0] == 0 && p->min[1] == 10 && p->min[2] == 20);
	CHECK(p->max[0] == 3000 && p->max[1] == 3100 && p->max[2] == 3200);
	CHECK(p->scale_m == 2 && p->type == SAT_PRODUCT_VISUAL);
	CHECK(p->outline && p->outline_width_px == 2);
	CHECK(p->outline_rgb[0] == 255 && p->outline_rgb[1] == 255 &&
	      p->outline_rgb[2] == 0);
	sat_config_free(c);
}

SAT_TEST(comments_and_layout)
{
	/* Inline ';' comments (also right after a value, also inside a
	 * section header line), '#' lines, indentation, CRLF, a BOM, blank
	 * lines, "key: value" and spaces in a section header. */
	struct sat_config *c = load_ok(
		"\xef\xbb\xbf; top\r\n"
		"[ source ]   ; the source\r\n"
		"  max_cloud = 30 ; percent\r\n"
		"\tcollection=abc;def\r\n"
		"# max_cloud = 99\r\n"
		"\n"
		"[product   falsecolor]\n"
		"    outline = #0000ff ; hash in a value is not a comment\n"
		"gamma: 1.5\n",
		NULL);

	CHECK(c->max_cloud == 30);
	CHECK_STR(c->collection, "abc;def"); /* no blank before ';' */
	CHECK(c->products[0]->gamma == 1.5);
	CHECK(c->products[0]->outline_rgb[2] == 255);
	/* No region in the file: the built-in one stays. */
	CHECK_INT(c->nregions, 1);
	CHECK_STR(c->regions[0]->name, "david");
	sat_config_free(c);
}

SAT_TEST(region_replaced)
{
	struct sat_config *c = load_ok("[region david]\n"
				       "bbox = 1, 2, 3, 4\n", NULL);

	CHECK_INT(c->nregions, 1);
	CHECK_STR(c->regions[0]->name, "david");
	CHECK(c->regions[0]->bbox[0] == 1 && !c->regions[0]->has_dates);
	sat_config_free(c);
}

SAT_TEST(geojson_region)
{
	struct sat_config *c;
	const struct sat_region *r;

	write_file("roi.geojson",
		   "{\"type\": \"Feature\", \"properties\": {}, \"geometry\": "
		   "{\"type\": \"Polygon\", \"coordinates\": [[[10, 50], "
		   "[11, 50], [11.5, 51], [10, 51], [10, 50]]]}}");
	c = load_ok("[region shape]\n"
		    "geojson = roi.geojson ; relative to this file\n"
		    "dates = 2024-01-01..2024-01-31\n", NULL);
	r = sat_config_find_region(c, "shape");
	CHECK(r != NULL);
	CHECK_INT(r->nring, 4);
	CHECK(r->bbox[0] == 10 && r->bbox[1] == 50 && r->bbox[2] == 11.5 &&
	      r->bbox[3] == 51);
	CHECK(r->has_dates);
	sat_config_free(c);
	write_file("bad.geojson", "{\"type\": \"Point\", "
				  "\"coordinates\": [1, 2]}");
	BAD("[region shape]\ngeojson = bad.geojson\n", 2, "geojson");
	BAD("[region shape]\ngeojson = missing.geojson\n", 2,
	    "cannot read");
}

SAT_TEST(bad_sections)
{
	BAD("[colour]\n", 1, "unknown section [colour]");
	BAD("[source]\nmax_cloud = 5\n\n[sources]\n", 4, "unknown section");
	BAD("[region]\nbbox = 1,2,3,4\n", 1, "unknown section [region]");
	BAD("[region a]\nbbox = 1,2,3,4\n[region a]\nbbox = 1,2,3,4\n", 3,
	    "duplicate section [region a]");
	BAD("[product p]\nbands = B8\n\n[product p]\n", 4,
	    "duplicate section [product p]");
	BAD("[source]\n[mount]\n[source]\n", 3, "duplicate section [source]");
	BAD("[region .hidden]\nbbox = 1,2,3,4\n", 1, "invalid region name");
	BAD("[region @1,2,3]\nbbox = 1,2,3,4\n", 1, "invalid region name");
	BAD("[region bbox=1]\nbbox = 1,2,3,4\n", 1, "invalid region name");
	BAD("[region a/b]\nbbox = 1,2,3,4\n", 1, "invalid region name");
	BAD("[product a.b]\nbands = B8\n", 1, "invalid product name");
	BAD("[source\nmax_cloud = 5\n", 1, "expected '[section]'");
	BAD("max_cloud = 5\n", 1, "outside of any [section]");
	BAD("[source]\n\nmax_cloud\n", 3, "expected 'key = value'");
}

SAT_TEST(bad_keys)
{
	BAD("[source]\ncolour = red\n", 2, "unknown key 'colour' in [source]");
	BAD("[mount]\n\n\ncolour = red\n", 4,
	    "unknown key 'colour' in [mount]");
	BAD("[product falsecolor]\nmin = 0\ncolour = red\n", 3,
	    "unknown key 'colour' in [product falsecolor]");
	BAD("[region a]\nbbox = 1,2,3,4\nwest = 1\n", 3,
	    "unknown key 'west' in [region a]");
	BAD("[source]\nprefetch = 1\n", 2, "unknown key 'prefetch'");
	BAD("[source]\nmax_cloud = 5\nmax_cloud = 6\n", 3,
	    "duplicate key 'max_cloud' in [source]");
	/* An indented line is a key of its own, not a continuation. */
	BAD("[source]\nmax_cloud = 5\n   max_cloud = 6\n", 3,
	    "duplicate key");
}

SAT_TEST(bad_source_and_mount_values)
{
	BAD("[source]\nmax_cloud = 120\n", 2, "max_cloud: '120'");
	BAD("[source]\nmax_cloud = -1\n", 2, "max_cloud");
	BAD("[source]\nmax_cloud = lots\n", 2, "max_cloud");
	BAD("[source]\nmax_cloud = nan\n", 2, "max_cloud");
	BAD("[source]\ntype = earthengine\nee_url = ftp://x/\n", 3,
	    "ee_url: ");
	BAD("[source]\ntoken_command =\n", 2, "token_command");
	BAD("[source]\ntype = wms\n", 2, "type: 'wms'");
	BAD("[source]\nstac = ftp://example.org/\n", 2, "stac: ");
	BAD("[source]\ncollection =\n", 2, "collection");
	BAD("[source]\ndates = 2024-02-30 .. 2024-03-01\n", 2, "dates");
	BAD("[source]\ndates = 2024-03-01 .. 2024-02-01\n", 2, "dates");
	BAD("[source]\noffset = 5\n", 2, "offset");
	BAD("[mount]\nprefetch = lots\n", 2, "prefetch");
	BAD("[mount]\nprefetch = 65\n", 2, "prefetch: '65'");
	BAD("[mount]\nprefetch = 1.5\n", 2, "prefetch");
	BAD("[mount]\nconnections = 0\n", 2, "connections");
	BAD("[mount]\nconnections = 257\n", 2, "connections");
	BAD("[mount]\nlisting_ttl = -1\n", 2, "listing_ttl");
	BAD("[mount]\nmax_items = 0\n", 2, "max_items");
	BAD("[mount]\nmax_items = 100001\n", 2, "max_items");
	BAD("[mount]\ncache_max = 10X\n", 2, "cache_max");
	BAD("[mount]\noffline = maybe\n", 2, "offline");
	BAD("[mount]\nlog_level = loud\n", 2, "log_level");
	BAD("[mount]\nlog_level = 4\n", 2, "log_level");
	BAD("[mount]\ncache =\n", 2, "cache");
}

SAT_TEST(bad_regions)
{
	BAD("[region a]\nbbox = 3, 2, 1, 4\n", 2, "west");
	BAD("[region a]\nbbox = 1, 4, 3, 2\n", 2, "south");
	BAD("[region a]\nbbox = 1, 2, 3\n", 2, "bbox");
	BAD("[region a]\nbbox = 1, 2, 3, 4, 5\n", 2, "bbox");
	BAD("[region a]\nbbox = 1, 2, 3, 95\n", 2, "bbox");
	BAD("[region a]\nbbox = 1,2,3,4\ndates = 2023-02-29..2023-03-01\n",
	    3, "dates");
	BAD("[region a]\ncenter = 1, 2\nsize = 0\n", 3, "size");
	BAD("[region a]\ncenter = 1, 2\nsize = 20\n", 3, "size");
	BAD("[region a]\ncenter = 1, 2\nsize = 5mi\n", 3, "size");
	BAD("[region a]\ncenter = 91, 2\nsize = 1km\n", 2, "center");
	BAD("[region a]\ncenter = 1\nsize = 1km\n", 2, "center");
	BAD("[region a]\ncenter = 0, 179.99\nsize = 0.09\n", 2,
	    "antimeridian");
	/* Geometry: none or two (reported at the header), halves. */
	BAD("[source]\nmax_cloud = 5\n[region a]\n"
	    "dates = 2024-01-01..2024-01-02\n", 3, "needs one of");
	BAD("[region a]\n[product falsecolor]\ngamma = 1\n", 1,
	    "region 'a' needs one of");
	BAD("\n\n[region a]\n", 3, "needs one of");
	BAD("[region a]\nbbox = 1,2,3,4\ncenter = 1, 2\nsize = 1km\n", 1,
	    "only one of");
	BAD("[region a]\nbbox = 1,2,3,4\ngeojson = x.json\n", 3,
	    "cannot read");
	BAD("[region a]\ncenter = 1, 2\n", 2, "center: needs size");
	BAD("[region a]\nbbox = 1,2,3,4\nsize = 1km\n", 3,
	    "size: needs center");
}

SAT_TEST(bad_products)
{
	BAD("[product x]\nbands = B8, B4\n", 2,
	    "a picture has 1 or 3 bands, not 2");
	BAD("[product x]\nbands = B8, B4, B3, B2\n", 2, "got 4");
	BAD("[product x]\nbands = B8, , B3\n", 2, "bands");
	BAD("[product x]\nbands = B/8\n", 2, "bands");
	BAD("[product x]\ngamma = 2\n", 1, "product 'x' needs bands");
	BAD("[product x]\nbands = B8\nmin = 10\nmax = 5\n", 4,
	    "min 10 is not less than max 5");
	BAD("[product x]\nbands = B8\nmax = 5\n\nmin = 5\n", 5,
	    "not less than max");
	BAD("[product falsecolor]\nmax = 3000, 4000, 0\n", 2,
	    "min 0 is not less than max 0");
	BAD("[product x]\nmin = 1, 2, 3\nbands = B8\n", 2,
	    "min: 3 values for 1 bands");
	BAD("[product falsecolor]\nmax = 1, 2\n", 2, "max: 2 values for 3");
	BAD("[product x]\nbands = B8\nmin = 1, 2, 3, 4\n", 3, "min");
	BAD("[product x]\nbands = B8\nmin = low\n", 3, "min");
	BAD("[product falsecolor]\ngamma = 0\n", 2, "gamma");
	BAD("[product falsecolor]\ngamma = -1\n", 2, "gamma");
	BAD("[product falsecolor]\nscale = -2m\n", 2, "scale");
	BAD("[product falsecolor]\nscale = 2km\n", 2, "scale");
	BAD("[product falsecolor]\noutline = pink\n", 2, "outline");
	BAD("[product falsecolor]\noutline = red, 0\n", 2, "outline");
	BAD("[product falsecolor]\noutline = #12345\n", 2, "outline");
	BAD("[product falsecolor]\noutline = red, 2pt\n", 2, "outline");
	BAD("[product falsecolor]\nclip = maybe\n", 2, "clip");
	BAD("[product falsecolor]\ntype = fancy\n", 2, "type");
}

/* The analysis keys: an index by expression and palette, a cloud mask by
 * SCL class names or numbers, reflectance, the products shown and their
 * order, a region's own cloud limit. */
SAT_TEST(analysis_products)
{
	struct sat_config *c = load_ok(
		"[source]\nproducts = evi, truecolor:ndvi\n"
		"[region r]\nbbox = 1, 2, 3, 4\nmax_region_cloud = 20\n"
		"[product evi]\n"
		"expression = 2.5 * (B08 - B04) / (B08 + 6*B04 - 7.5*B02 + 1)\n"
		"palette = viridis\nmask = cloud, shadow, 10\n"
		"[product refl]\nbands = B04, B08\ntype = reflectance\n",
		NULL);
	const struct sat_product *p;

	CHECK_INT(c->nproducts, 3); /* only those shown, in that order */
	CHECK_STR(c->products[0]->name, "evi");
	CHECK_STR(c->products[1]->name, "truecolor");
	CHECK_STR(c->products[2]->name, "ndvi");
	p = c->products[0];
	CHECK_INT(p->nbands, 0); /* an expression, not falsecolor's bands */
	CHECK_STR(p->palette, "viridis");
	CHECK(p->min[0] == -1 && p->max[0] == 1); /* an index's range */
	CHECK_INT(p->mask, SAT_SCL_CLOUD | SAT_SCL_SHADOW | (1u << 10));
	CHECK(sat_config_find_product(c, "refl") == NULL);
	CHECK(sat_config_find_region(c, "r")->max_region_cloud == 20);
	sat_config_free(c);

	/* a band Sentinel-2 does not have: a typo, refused with its name;
	 * other collections name their bands as they like */
	BAD("[product x]\nbands = B08, B4, B99\n", -1,
	    "product x: 'B99' is not a band of Sentinel-2");
	BAD("[product x]\nexpression = (B08 - rde) / 2\n", -1,
	    "product x: 'rde' is not a band of Sentinel-2");
	BAD("[source]\ntype = earthengine\n[product x]\nbands = SR_B4\n", -1,
	    "'SR_B4' is not a band of Sentinel-2 (B01..B12, B8A, SCL, or a "
	    "common name such as red or nir; collection "
	    "COPERNICUS/S2_SR_HARMONIZED)");
	c = load_ok("[source]\ncollection = landsat-c2-l2\n"
		    "[product x]\nbands = SR_B4\n"
		    "[product y]\nbands = visual:1, B8A, nir08\n",
		    NULL);
	CHECK(sat_config_find_product(c, "x") != NULL);
	sat_config_free(c);
	c = load_ok("[product y]\nbands = visual:1, b8a, nir08\n"
		    "[product z]\nexpression = (swir16 - SCL) / TCI\n", NULL);
	sat_config_free(c);

	c = load_ok("[product refl]\nbands = B04, B08\ntype = reflectance\n"
		    "mask =\n", "products=refl");
	CHECK_INT(c->nproducts, 1);
	CHECK(c->products[0]->type == SAT_PRODUCT_REFLECTANCE);
	CHECK_INT(c->products[0]->nbands, 2);
	CHECK_INT(c->products[0]->mask, 0);
	sat_config_free(c);

	BAD("[product x]\nexpression = B08 +\n", 2, "expression:");
	BAD("[product x]\nexpression = (B08\n", 2, "expression:");
	BAD("[product x]\nexpression = B08\npalette = plaid\n", 3,
	    "palette:");
	BAD("[product x]\nbands = B08\nmask = clouds\n", 3,
	    "'clouds' is not an SCL class");
	BAD("[product x]\nbands = B08\nmask = 12\n", 3, "not an SCL");
	BAD("[product x]\nbands = B08\nexpression = B04\n", 2,
	    "bands or an expression, not both");
	BAD("[product x]\nexpression = B04\ntype = raw\n", 1,
	    "type visual or reflectance");
	BAD("[product x]\nexpression = B04\nmin = 1\nmax = 1\n", 4,
	    "min 1 is not less than max 1");
	BAD("[region r]\nbbox = 1,2,3,4\nmax_region_cloud = 101\n", 3,
	    "max_region_cloud: '101'");
	/* names are checked once all sections are read: no line */
	BAD("[source]\nproducts = truecolor, nope\n", -1, "'nope' is no "
	    "product");
	BAD("[source]\nproducts = ndvi, ndvi\n", -1, "named twice");
	BAD_OPTS("products=:", "-o products: none named");
	BAD_OPTS("products=truecolor:falsecolour", "-o products: "
		 "'falsecolour' is no product");
}

SAT_TEST(long_line)
{
	char conf[512];

	snprintf(conf, sizeof(conf), "[source]\ncollection = %0250d\n", 7);
	BAD(conf, 2, "longer than");
	/* A long comment does not count. */
	snprintf(conf, sizeof(conf), "[source]\ncollection = a ; %0250d\n", 7);
	sat_config_free(load_ok(conf, NULL));
}

SAT_TEST(unreadable_file)
{
	struct sat_config *c = (struct sat_config *)1;
	char err[1024], path[240];

	isolate_env();
	snprintf(path, sizeof(path), "%s/nope.conf", satest_tmpdir());
	CHECK_INT(sat_config_load(&c, path, NULL, err, sizeof(err)), -ENOENT);
	CHECK(c == NULL);
	CHECK(strncmp(err, path, strlen(path)) == 0);
	CHECK(strstr(err, ": cannot read: No such file") != NULL);
	CHECK_INT(sat_config_load(&c, satest_tmpdir(), NULL, err, sizeof(err)),
		  -EISDIR);
	CHECK(strstr(err, "cannot read") != NULL);
	if (geteuid() != 0) {
		CHECK(chmod(write_conf("[source]\n"), 0) == 0);
		CHECK_INT(sat_config_load(&c, conf_path, NULL, err,
					  sizeof(err)), -EACCES);
		CHECK(strstr(err, "Permission denied") != NULL);
	}
}

SAT_TEST(opts)
{
	struct sat_config *c = NULL;
	char err[512], cwd[4096];

	isolate_env();
	CHECK_INT(sat_config_load(&c, NULL,
				  "config=/ignored,cache=/c,cache_max=512M,"
				  "stac=https://a.example/stac//,"
				  "collection=col,"
				  "max_cloud=10,prefetch=0,connections=1,"
				  "listing_ttl=5,max_items=7,offline,log=/l,"
				  "log_level=warning",
				  err, sizeof(err)), 0);
	CHECK(c->path == NULL);
	CHECK_STR(c->cache_dir, "/c");
	CHECK_INT(c->cache_max_bytes, 512ULL << 20);
	CHECK_STR(c->stac_url, "https://a.example/stac");
	CHECK_STR(c->collection, "col");
	CHECK(c->max_cloud == 10);
	CHECK_INT(c->prefetch, 0);
	CHECK_INT(c->connections, 1);
	CHECK_INT(c->listing_ttl_s, 5);
	CHECK_INT(c->max_items, 7);
	CHECK(c->offline);
	CHECK_STR(c->log_path, "/l");
	CHECK_INT(c->log_level, 1);
	sat_config_free(c);

	/* offline=0/1, numeric log levels, "\," escapes, relative paths,
	 * empty items. */
	CHECK_INT(sat_config_load(&c, NULL, "offline=1,offline=0,log_level=3,"
				  "cache=/a\\,b,,log=rel.log",
				  err, sizeof(err)), 0);
	CHECK(!c->offline);
	CHECK_INT(c->log_level, 3);
	CHECK_STR(c->cache_dir, "/a,b");
	CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
	strcat(cwd, "/rel.log");
	CHECK(strcmp(c->log_path, cwd) == 0);
	sat_config_free(c);
}

SAT_TEST(opts_override_file)
{
	struct sat_config *c = load_ok("[source]\nmax_cloud = 20\n"
				       "[mount]\nprefetch = 2\n",
				       "max_cloud=30");

	CHECK(c->max_cloud == 30);
	CHECK_INT(c->prefetch, 2);
	sat_config_free(c);
}

SAT_TEST(opts_errors)
{
	BAD_OPTS("foo=1", "-o foo: unknown option");
	BAD_OPTS("dates=2024-01-01..2024-01-02", "-o dates: unknown option");
	BAD_OPTS("prefetch=65", "-o prefetch: '65'");
	BAD_OPTS("prefetch=-1", "-o prefetch:");
	BAD_OPTS("connections=0", "-o connections:");
	BAD_OPTS("connections=257", "-o connections:");
	BAD_OPTS("listing_ttl=-1", "-o listing_ttl:");
	BAD_OPTS("max_items=100001", "-o max_items:");
	BAD_OPTS("max_cloud=x", "-o max_cloud:");
	BAD_OPTS("stac=ftp://x", "-o stac:");
	BAD_OPTS("cache_max=10X", "-o cache_max:");
	BAD_OPTS("offline=maybe", "-o offline:");
	BAD_OPTS("log_level=loud", "-o log_level:");
	BAD_OPTS("cache", "-o cache: needs a value");
	BAD_OPTS("prefetch=1,cache=", "-o cache:");
	BAD_OPTS("collection=", "-o collection:");
}

SAT_TEST(opts_error_after_file)
{
	struct sat_config *c = (struct sat_config *)1;
	char err[512];

	isolate_env();
	CHECK_INT(sat_config_load(&c, write_conf("[source]\nmax_cloud = 5\n"),
				  "prefetch=100", err, sizeof(err)), -EINVAL);
	CHECK(c == NULL);
	CHECK(strncmp(err, "-o prefetch: ", 13) == 0);
}

SAT_TEST(parse_size)
{
	static const char *const bad[] = {
		"", "-1", "10X", "K", "1.5", "G", "1 G", " 1G", "1G ",
		"99999999999T", "18446744073709551616", "1..5G", "1.G", "0x10",
	};
	uint64_t b = 7;
	size_t i;

	CHECK_INT(sat_config_parse_size("123", &b), 0);
	CHECK_INT(b, 123);
	CHECK_INT(sat_config_parse_size("0", &b), 0);
	CHECK_INT(b, 0);
	CHECK_INT(sat_config_parse_size("10K", &b), 0);
	CHECK_INT(b, 10240);
	CHECK_INT(sat_config_parse_size("10k", &b), 0);
	CHECK_INT(b, 10240);
	CHECK_INT(sat_config_parse_size("512M", &b), 0);
	CHECK_INT(b, 512ULL << 20);
	CHECK_INT(sat_config_parse_size("2G", &b), 0);
	CHECK_INT(b, 2ULL << 30);
	CHECK_INT(sat_config_parse_size("2GB", &b), 0);
	CHECK_INT(b, 2ULL << 30);
	CHECK_INT(sat_config_parse_size("2GiB", &b), 0);
	CHECK_INT(b, 2ULL << 30);
	CHECK_INT(sat_config_parse_size("1T", &b), 0);
	CHECK_INT(b, 1ULL << 40);
	CHECK_INT(sat_config_parse_size("1.5G", &b), 0);
	CHECK_INT(b, 3ULL << 29);
	CHECK_INT(sat_config_parse_size("100B", &b), 0);
	CHECK_INT(b, 100);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b = 7;
		if (sat_config_parse_size(bad[i], &b) != -EINVAL || b != 7)
			satest_fail(__FILE__, __LINE__, "size refused", bad[i]);
	}
}

SAT_TEST(option_names)
{
	static const char *const want[] = {
		"config", "stac", "collection", "products", "max_cloud", "sign",
		"sign_url", "cache", "cache_max", "max_file_size", "prefetch",
		"connections", "listing_ttl", "max_items", "timeout",
		"min_rate", "deadline", "offline", "connect_to", "log",
		"log_level", "pictures", "quicklook_size", "timelapse_delay",
		"shared_store", "shared_endpoint", "shared_region",
		"shared_timeout", "shared_lease", "shared_wait", NULL,
	};
	const struct sat_config_key *k;
	size_t i = 0;

	for (k = sat_config_keys; k->name; k++) {
		if (!(k->where & SAT_KEY_OPTION))
			continue;
		CHECK(want[i] != NULL);
		CHECK_STR(k->name, want[i]);
		CHECK(sat_config_is_option(want[i]));
		i++;
	}
	CHECK(want[i] == NULL);
	CHECK(!sat_config_is_option("allow_other"));
	CHECK(!sat_config_is_option("dates"));
	CHECK(!sat_config_is_option(""));
}

/* "did you mean": a near -o option, or a near name of the list; nothing
 * for a name far from all of them (issue 13). */
SAT_TEST(suggestions)
{
	static const char *const fuse[] = { "allow_other", "auto_unmount",
					     NULL };
	static const char *const cmds[] = { "status", "prefetch", "refresh",
					     "cache", NULL };

	CHECK_STR(sat_config_suggest("cach", fuse), "cache");
	CHECK_STR(sat_config_suggest("timeuot", fuse), "timeout");
	CHECK_STR(sat_config_suggest("allow_otter", fuse), "allow_other");
	CHECK(sat_config_suggest("foo", fuse) == NULL);
	CHECK_STR(sat_config_nearest("stats", cmds), "status");
	CHECK_STR(sat_config_nearest("prefecth", cmds), "prefetch");
	/* mount(8)'s usual SOURCE is no command */
	CHECK(sat_config_nearest("satfs", cmds) == NULL);
	CHECK_INT(sat_config_distance("ab", "ba"), 1);
	CHECK_INT(sat_config_distance("", "abc"), 3);
}

/* The table of keys: every key has its line of help; a key of a plain
 * type is set by the generic setter with its range; the defaults in the
 * table are the configuration's; [mount] keys are -o options. */
SAT_TEST(key_table)
{
	const struct sat_config_key *k;
	struct sat_config *c;
	char err[512];

	for (k = sat_config_keys; k->name; k++) {
		CHECK(k->help && k->help[0]);
		CHECK(k->where != 0);
		CHECK(k->type != SAT_KEY_OTHER || k->set ||
		      strcmp(k->name, "config") == 0);
		if (k->where & SAT_KEY_MOUNT)
			CHECK(k->where & SAT_KEY_OPTION);
		CHECK(sat_config_find_key(k->name, k->where) != NULL);
	}
	CHECK(sat_config_find_key("dates", SAT_KEY_REGION)->set != NULL);
	CHECK(sat_config_find_key("type", SAT_KEY_PRODUCT) !=
	      sat_config_find_key("type", SAT_KEY_SOURCE));
	CHECK(sat_config_find_key("bbox", SAT_KEY_SOURCE) == NULL);
	CHECK_INT(sat_config_load(&c, "/dev/null", NULL, err, sizeof(err)), 0);
	CHECK_INT(c->prefetch, 12);
	CHECK_INT(c->max_file_size_bytes, 1ull << 30);
	CHECK_INT(c->cache_max_bytes, 0);
	CHECK(!c->offline);
	CHECK(!c->collection_set);
	CHECK_STR(c->stac_url, "https://earth-search.aws.element84.com/v1");
	sat_config_free(c);
	CHECK_INT(sat_config_load(&c, "/dev/null",
				  "max_file_size=2G,offline,timeout=5", err,
				  sizeof(err)), 0);
	CHECK_INT(c->max_file_size_bytes, 2ull << 30);
	CHECK(c->offline);
	CHECK_INT(c->timeout_s, 5);
	sat_config_free(c);
	CHECK_INT(sat_config_load(&c, "/dev/null", "timeout=0", err,
				  sizeof(err)), -EINVAL);
	CHECK(strcmp(err, "-o timeout: '0' is not a whole number in "
		      "1..3600") == 0);
	CHECK_INT(sat_config_load(&c, "/dev/null", "max_file_size=big", err,
				  sizeof(err)), -EINVAL);
	CHECK(strstr(err, "max_file_size") != NULL);
}

SAT_TEST(earthengine_source)
{
	struct sat_config *c;

	c = load_ok("[source]\ntype = earthengine\nproject = my-proj\n"
		    "token_command = echo tok\ntoken_file = tok.txt\n"
		    "ee_url = http://127.0.0.1:9/v1/\n", NULL);
	CHECK_STR(c->source_type, "earthengine");
	CHECK_STR(c->collection, "COPERNICUS/S2_SR_HARMONIZED");
	CHECK_STR(c->ee_project, "my-proj");
	CHECK_STR(c->ee_url, "http://127.0.0.1:9/v1");
	CHECK_STR(c->token_command, "echo tok");
	CHECK(c->token_file && c->token_file[0] == '/');
	sat_config_free(c);

	/* an explicit collection wins, before or after type */
	c = load_ok("[source]\ncollection = COPERNICUS/S2_SR\n"
		    "type = earthengine\n", NULL);
	CHECK_STR(c->collection, "COPERNICUS/S2_SR");
	sat_config_free(c);

	/* the STAC defaults are untouched */
	c = load_ok("[source]\ntype = stac\n", NULL);
	CHECK_STR(c->collection, "sentinel-2-l2a");
	CHECK_STR(c->ee_url, "https://earthengine.googleapis.com/v1");
	CHECK(c->ee_project == NULL && c->token_command == NULL);
	sat_config_free(c);
}

SAT_TEST(sign_and_connect_to)
{
	struct sat_config *c;

	c = load_ok("[source]\n", NULL);
	CHECK_INT(c->sign, SAT_SIGN_NONE);
	CHECK_STR(c->sign_url,
		  "https://planetarycomputer.microsoft.com/api/sas/v1");
	CHECK(c->connect_to == NULL);
	sat_config_free(c);

	c = load_ok("[source]\nsign = planetary-computer\n"
		    "sign_url = http://127.0.0.1:9/api/sas/v1/\n"
		    "[mount]\nconnect_to = a.blob.core.windows.net:80:"
		    "127.0.0.1:9  b::[::1]:443\n", NULL);
	CHECK_INT(c->sign, SAT_SIGN_PLANETARY);
	CHECK_STR(c->sign_url, "http://127.0.0.1:9/api/sas/v1");
	CHECK_STR(c->connect_to, "a.blob.core.windows.net:80:127.0.0.1:9  "
				 "b::[::1]:443");
	sat_config_free(c);

	/* -o over the file */
	c = load_ok("[source]\nsign = planetary-computer\n",
		    "sign=none,connect_to=h:80:127.0.0.1:1");
	CHECK_INT(c->sign, SAT_SIGN_NONE);
	CHECK_STR(c->connect_to, "h:80:127.0.0.1:1");
	sat_config_free(c);
	c = load_ok("", "sign=planetary-computer,sign_url=https://x/sas");
	CHECK_INT(c->sign, SAT_SIGN_PLANETARY);
	CHECK_STR(c->sign_url, "https://x/sas");
	sat_config_free(c);

	BAD("[source]\nsign = azure\n", 2,
	    "sign: 'azure' is not planetary-computer or none");
	BAD("[source]\nsign_url = ftp://x/\n", 2,
	    "sign_url: 'ftp://x/' is not an http:// or https:// URL");
	BAD("[mount]\nconnect_to = h:80:127.0.0.1\n", 2, "connect_to: ");
	BAD("[source]\nconnect_to = h:80:a:1\n", 2,
	    "unknown key 'connect_to' in [source]");
	BAD("[mount]\nsign = none\n", 2, "unknown key 'sign' in [mount]");
	BAD_OPTS("connect_to=h:80:a:1:2", "-o connect_to: ");
	BAD_OPTS("connect_to=h/x:80:a:1", "-o connect_to: ");
	BAD_OPTS("connect_to=", "-o connect_to: ");
	BAD_OPTS("sign=", "-o sign: '' is not");

	/* the Planetary Computer subscription key: [source] only */
	c = load_ok("[source]\nsign = planetary-computer\n"
		    "subscription_key = abc123\n", NULL);
	CHECK_STR(c->sign_subscription_key, "abc123");
	sat_config_free(c);
	c = load_ok("[source]\n", NULL);
	CHECK(c->sign_subscription_key == NULL);
	sat_config_free(c);
	BAD_OPTS("subscription_key=abc", "-o subscription_key: unknown option");
	BAD("[mount]\nsubscription_key = abc\n", 2,
	    "unknown key 'subscription_key' in [mount]");
}

SAT_TEST(shared_store)
{
	struct sat_config *c;

	/* none by default */
	c = load_ok("[source]\nmax_cloud = 5\n", NULL);
	CHECK(c->shared_store == NULL);
	CHECK(c->shared_endpoint == NULL);
	CHECK(c->shared_region == NULL);
	CHECK_INT(c->shared_timeout_s, 5);
	CHECK_INT(c->shared_lease_s, 120);
	CHECK_INT(c->shared_wait_s, 120);
	sat_config_free(c);
	c = load_ok("[shared]\nstore = s3://team-renders/satfs\n"
		    "endpoint = http://rgw.lan:7480\nregion = eu-west-3\n"
		    "timeout = 2\nlease = 600\nwait = 0\n",
		    NULL);
	CHECK_STR(c->shared_store, "s3://team-renders/satfs");
	CHECK_STR(c->shared_endpoint, "http://rgw.lan:7480");
	CHECK_STR(c->shared_region, "eu-west-3");
	CHECK_INT(c->shared_timeout_s, 2);
	CHECK_INT(c->shared_lease_s, 600);
	CHECK_INT(c->shared_wait_s, 0);
	sat_config_free(c);
	c = load_ok("[shared]\nwait = 30\n", "shared_wait=7");
	CHECK_INT(c->shared_wait_s, 7);
	sat_config_free(c);
	BAD("[shared]\ntimeout = 0\n", 2, "timeout");
	BAD("[shared]\nlease = 100000\n", 2, "lease");
	/* -o overrides the file */
	c = load_ok("[shared]\nstore = s3://team-renders/satfs\n",
		    "shared_store=s3://other/x,shared_region=us-west-2,"
		    "shared_endpoint=https://s3.example.org");
	CHECK_STR(c->shared_store, "s3://other/x");
	CHECK_STR(c->shared_region, "us-west-2");
	CHECK_STR(c->shared_endpoint, "https://s3.example.org");
	sat_config_free(c);
	BAD("[shared]\nstore = https://bucket/x\n", 2,
	    "store: 'https://bucket/x' is not s3://BUCKET[/PREFIX]");
	BAD("[shared]\nstore = s3://Bucket\n", 2, "store: bucket 'Bucket'");
	BAD("[shared]\nendpoint = ftp://x\n", 2, "endpoint: 'ftp://x'");
	BAD("[shared]\nregion = Europe\n", 2, "region: 'Europe'");
	BAD("[shared]\nbucket = x\n", 2, "unknown key 'bucket' in [shared]");
	/* credentials are refused, and their values never echoed */
	BAD("[shared]\naws_secret_access_key = hunter2\n", 2,
	    "'aws_secret_access_key': credentials are never configuration");
	BAD("[mount]\naccess_key = AKIA123\n", 2, "AWS_ACCESS_KEY_ID");
	BAD_OPTS("shared_secret_key=hunter2",
		 "-o shared_secret_key: unknown option (credentials are never");
	{
		struct sat_config *bad = NULL;
		char err[1024];

		isolate_env();
		CHECK_INT(sat_config_load(&bad, write_conf("[shared]\n"
			  "secret_key = hunter2\n"), "aws_session_token=tok99",
			  err, sizeof(err)), -EINVAL);
		CHECK(strstr(err, "hunter2") == NULL);
		CHECK_INT(sat_config_load(&bad, NULL, "aws_session_token=tok99",
					  err, sizeof(err)), -EINVAL);
		CHECK(strstr(err, "tok99") == NULL);
		CHECK(strstr(err, "credentials") != NULL);
	}
	BAD_OPTS("shared_store=s3://x", "-o shared_store: bucket 'x'");
	BAD_OPTS("shared_region=", "-o shared_region:");
}
