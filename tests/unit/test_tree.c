/*
 * Unit tests for the tree (fs/tree*.c) over a real catalog and a fake
 * source (fake_source.h): what a listing makes, lookup counts and forget,
 * stable inode numbers across relistings, memory that stays flat over
 * many of them, .satfs, ad-hoc regions (the cap, rmdir, CACHE/regions),
 * prefetch order and a failing catalog.
 */
#include "fake_source.h"

#include <sys/stat.h>

#include "satfs/album.h"
#include "satfs/catalog.h"
#include "satfs/control.h"
#include "satfs/render.h"
#include "satfs/tree.h"

struct fixture {
	struct sat_config *cfg;
	struct fake_source fs;
	struct sat_cache *cache;
	struct sat_catalog *cat;
	struct sat_tree *t;
	uint64_t region; /* ino of the configured region "small" */
};

static void fixture_init(struct fixture *fx, const char *opts)
{
	struct sat_attr a;

	fx->cfg = fake_config(NULL, opts);
	fake_init(&fx->fs, fx->cfg);
	CHECK_INT(sat_cache_new(&fx->cache, fx->cfg->cache_dir, 0), 0);
	CHECK_INT(sat_catalog_new(&fx->cat, fx->cfg, &fx->fs.base, fx->cache),
		  0);
	CHECK_INT(sat_tree_new(&fx->t, fx->cfg, fx->cat, fx->cache), 0);
	fake_add_scene(&fx->fs, "S2A_1", "2024-01-03", 10);
	fake_add_scene(&fx->fs, "S2B_2", "2024-01-03", 10);
	fake_add_scene(&fx->fs, "S2A_3", "2024-02-12", 10);
	CHECK_INT(sat_tree_lookup(fx->t, SAT_TREE_ROOT_INO, "small", &a), 0);
	fx->region = a.ino;
}

static void fixture_done(struct fixture *fx)
{
	sat_tree_free(fx->t);
	sat_catalog_free(fx->cat);
	sat_cache_free(fx->cache);
	fake_destroy(&fx->fs);
	sat_config_free(fx->cfg);
}

/* The names in directory ino, blank-separated. */
static const char *names(struct fixture *fx, uint64_t ino, char *buf,
			 size_t len)
{
	struct sat_dirent *d;
	size_t n, off = 0;

	buf[0] = '\0';
	CHECK_INT(sat_tree_list(fx->t, ino, &d, &n), 0);
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
					i ? " " : "", d[i].name);
	sat_tree_dirents_free(d, n);
	return buf;
}

/* Looks a path up from the root, counting one lookup per component. */
static int walk(struct fixture *fx, const char *path, struct sat_attr *a)
{
	char buf[512], *part, *save = NULL;
	uint64_t ino = SAT_TREE_ROOT_INO;
	int err = 0;

	snprintf(buf, sizeof(buf), "%s", path);
	for (part = strtok_r(buf, "/", &save); part && !err;
	     part = strtok_r(NULL, "/", &save)) {
		err = sat_tree_lookup(fx->t, ino, part, a);
		ino = a->ino;
	}
	return err;
}

static void refresh_and_list(struct fixture *fx)
{
	struct sat_dirent *d;
	size_t n;

	CHECK_INT(sat_tree_refresh(fx->t, fx->region), 0);
	CHECK(!sat_tree_ready(fx->t, fx->region));
	CHECK_INT(sat_tree_list(fx->t, fx->region, &d, &n), 0);
	sat_tree_dirents_free(d, n);
}

/* The region's own files, after its dates: the page and a time-lapse per
 * picture product. */
#define REGION_FILES                                                           \
	" index.html timelapse.falsecolor.gif timelapse.ndvi.gif"              \
	" timelapse.ndwi.gif timelapse.truecolor.gif"

/* A listing: the root (.satfs and the region), one directory per date and
 * the region's page and time-lapses; per scene the products' .tif (sized
 * as planned), their quicklooks (.png) and the .json. */
SAT_TEST(listing_makes_dates_and_files)
{
	struct sat_tree_file tf;
	struct fixture fx;
	struct sat_attr a;
	char buf[1024];

	fixture_init(&fx, NULL);
	CHECK_STR(names(&fx, SAT_TREE_ROOT_INO, buf, sizeof(buf)),
		  ".satfs small");
	CHECK(!sat_tree_ready(fx.t, fx.region));
	CHECK_STR(names(&fx, fx.region, buf, sizeof(buf)),
		  "2024-01-03 2024-02-12" REGION_FILES);
	CHECK(sat_tree_ready(fx.t, fx.region));
	CHECK_INT(walk(&fx, "small/2024-01-03", &a), 0);
	CHECK_INT(a.kind, SAT_NODE_DATE);
	/* two scenes on one date: a mosaic of each product too */
	CHECK_STR(names(&fx, a.ino, buf, sizeof(buf)),
		  "S2A_1.falsecolor.png S2A_1.falsecolor.tif S2A_1.json "
		  "S2A_1.ndvi.png S2A_1.ndvi.tif S2A_1.ndwi.png S2A_1.ndwi.tif "
		  "S2A_1.truecolor.png S2A_1.truecolor.tif "
		  "S2B_2.falsecolor.png S2B_2.falsecolor.tif S2B_2.json "
		  "S2B_2.ndvi.png S2B_2.ndvi.tif S2B_2.ndwi.png S2B_2.ndwi.tif "
		  "S2B_2.truecolor.png S2B_2.truecolor.tif "
		  "mosaic.falsecolor.png mosaic.falsecolor.tif mosaic.ndvi.png "
		  "mosaic.ndvi.tif mosaic.ndwi.png mosaic.ndwi.tif "
		  "mosaic.truecolor.png mosaic.truecolor.tif");
	/* a quicklook: a PNG plan of the same scene, sized as planned */
	CHECK_INT(walk(&fx, "small/2024-01-03/S2A_1.ndvi.png", &a), 0);
	CHECK_INT(sat_tree_file(fx.t, a.ino, &tf), 0);
	CHECK_INT(tf.plan->format, SAT_RENDER_PNG);
	CHECK_INT(a.size, tf.plan->size_bytes);
	CHECK_STR(tf.plan->item_id, "S2A_1");
	CHECK(tf.plan->grid.width <= 1024 && tf.plan->grid.height <= 1024);
	sat_tree_file_release(&tf);
	/* a time-lapse: a frame per date, the mosaic's where there is one */
	CHECK_INT(walk(&fx, "small/timelapse.ndvi.gif", &a), 0);
	CHECK_INT(sat_tree_file(fx.t, a.ino, &tf), 0);
	CHECK_INT(tf.plan->format, SAT_RENDER_GIF);
	CHECK_INT(a.size, tf.plan->size_bytes);
	CHECK_INT(tf.plan->album->nframes, 2);
	CHECK_STR(tf.plan->album->frames[0].date, "2024-01-03");
	CHECK_INT(tf.plan->album->frames[0].quicklook->ninputs, 2);
	CHECK_STR(tf.plan->album->frames[1].date, "2024-02-12");
	sat_tree_file_release(&tf);
	CHECK_INT(walk(&fx, "small/index.html", &a), 0);
	CHECK_INT(sat_tree_file(fx.t, a.ino, &tf), 0);
	CHECK_INT(tf.plan->format, SAT_RENDER_HTML);
	CHECK_INT(tf.plan->album->ndates, 2);
	CHECK_INT(tf.plan->album->nscenes, 3);
	CHECK(a.size > 0 && a.size == tf.plan->size_bytes);
	sat_tree_file_release(&tf);
	CHECK_INT(walk(&fx, "small/2024-01-03/S2B_2.truecolor.tif", &a), 0);
	CHECK_INT(a.kind, SAT_NODE_TIF);
	CHECK_INT(sat_tree_file(fx.t, a.ino, &tf), 0);
	CHECK(tf.plan != NULL);
	CHECK_INT(a.size, tf.plan->size_bytes);
	CHECK_STR(tf.plan->item_id, "S2B_2");
	CHECK_STR(tf.plan->product.name, "truecolor");
	sat_tree_file_release(&tf);
	CHECK_INT(walk(&fx, "small/2024-01-03/S2B_2.json", &a), 0);
	CHECK_INT(sat_tree_file(fx.t, a.ino, &tf), 0);
	CHECK_INT(a.size, tf.json_len);
	CHECK(strstr(tf.json, "\"S2B_2\"") != NULL);
	sat_tree_file_release(&tf);
	CHECK_INT(walk(&fx, "small/2024-01-03/nothing", &a), -ENOENT);
	CHECK_INT(walk(&fx, "small/2024-01-03/S2B_2.json/x", &a), -ENOTDIR);
	CHECK_INT(fx.fs.searches, 1);
	fixture_done(&fx);
}

/* -o products: only those, in that order of planning; a mosaic of each on
 * a date of two scenes, none on a date of one. A mosaic's plan names the
 * date's scenes as its inputs. */
SAT_TEST(products_shown_and_mosaics)
{
	struct sat_tree_file tf;
	struct fixture fx;
	struct sat_attr a;
	char buf[1024];

	fixture_init(&fx, "products=ndvi:truecolor,pictures=off");
	CHECK_INT(walk(&fx, "small/2024-01-03", &a), 0);
	CHECK_STR(names(&fx, a.ino, buf, sizeof(buf)),
		  "S2A_1.json S2A_1.ndvi.tif S2A_1.truecolor.tif "
		  "S2B_2.json S2B_2.ndvi.tif S2B_2.truecolor.tif "
		  "mosaic.ndvi.tif mosaic.truecolor.tif");
	CHECK_INT(walk(&fx, "small/2024-01-03/mosaic.ndvi.tif", &a), 0);
	CHECK_INT(sat_tree_file(fx.t, a.ino, &tf), 0);
	CHECK(tf.plan != NULL);
	CHECK_INT(a.size, tf.plan->size_bytes);
	CHECK_INT(tf.plan->ninputs, 2);
	CHECK_STR(tf.plan->product.name, "ndvi");
	sat_tree_file_release(&tf);
	CHECK_INT(walk(&fx, "small/2024-02-12", &a), 0);
	CHECK_STR(names(&fx, a.ino, buf, sizeof(buf)),
		  "S2A_3.json S2A_3.ndvi.tif S2A_3.truecolor.tif");
	CHECK_INT(walk(&fx, "small/2024-02-12/mosaic.ndvi.tif", &a), -ENOENT);
	CHECK_INT(walk(&fx, "small/2024-01-03/S2A_1.falsecolor.tif", &a),
		  -ENOENT);
	fixture_done(&fx);
}

/* Names that stay keep their inode numbers across relistings; a new name
 * gets a number never given before. */
SAT_TEST(relisting_keeps_inode_numbers)
{
	struct sat_attr a1, a2, b;
	struct fixture fx;
	uint64_t date;

	fixture_init(&fx, NULL);
	CHECK_INT(walk(&fx, "small/2024-02-12", &a1), 0);
	date = a1.ino;
	CHECK_INT(walk(&fx, "small/2024-02-12/S2A_3.falsecolor.tif", &a1), 0);
	fake_add_scene(&fx.fs, "S2A_4", "2024-02-12", 10);
	refresh_and_list(&fx);
	CHECK_INT(walk(&fx, "small/2024-02-12", &a2), 0);
	CHECK_INT(a2.ino, date);
	CHECK_INT(walk(&fx, "small/2024-02-12/S2A_3.falsecolor.tif", &a2), 0);
	CHECK_INT(a2.ino, a1.ino);
	CHECK_INT(walk(&fx, "small/2024-02-12/S2A_4.falsecolor.tif", &b), 0);
	CHECK(b.ino > a1.ino && b.ino > date);
	CHECK_INT(fx.fs.searches, 2);
	fixture_done(&fx);
}

/* A name a relisting drops: gone from the listing at once; its node lives
 * while the kernel holds it (getattr works), and goes with the forget. A
 * dropped node the kernel never saw goes at once. */
SAT_TEST(forget_frees_dropped_nodes)
{
	struct sat_tree_stats st0, st1;
	struct sat_tree_file tf;
	struct fixture fx;
	struct sat_attr a, j, x;
	char buf[1024];

	fixture_init(&fx, NULL);
	CHECK_INT(walk(&fx, "small/2024-02-12/S2A_3.truecolor.tif", &a), 0);
	CHECK_INT(walk(&fx, "small/2024-02-12/S2A_3.json", &j), 0);
	CHECK_INT(sat_tree_file(fx.t, j.ino, &tf), 0); /* an open .json */
	sat_tree_get_stats(fx.t, &st0);
	/* the catalog no longer has S2A_3 (nor so its date) */
	pthread_mutex_lock(&fx.fs.lock);
	fx.fs.nscenes = 2;
	pthread_mutex_unlock(&fx.fs.lock);
	refresh_and_list(&fx);
	CHECK_STR(names(&fx, fx.region, buf, sizeof(buf)),
		  "2024-01-03" REGION_FILES);
	CHECK_INT(walk(&fx, "small/2024-02-12", &x), -ENOENT);
	CHECK_INT(sat_tree_getattr(fx.t, a.ino, &a), 0); /* still held */
	CHECK_INT(a.kind, SAT_NODE_TIF);
	/* falsecolor's node, never looked up, went at once; the date and
	 * the two files the kernel holds stay until it forgets them */
	sat_tree_get_stats(fx.t, &st1);
	CHECK(st1.nodes < st0.nodes);
	sat_tree_forget(fx.t, a.ino, 1);
	CHECK_INT(sat_tree_getattr(fx.t, a.ino, &a), -ENOENT);
	/* the open .json's text outlives its node and its listing */
	sat_tree_forget(fx.t, j.ino, 1);
	CHECK_INT(sat_tree_getattr(fx.t, j.ino, &j), -ENOENT);
	CHECK(strstr(tf.json, "\"S2A_3\"") != NULL);
	sat_tree_file_release(&tf);
	/* forgetting more than was counted, or an unknown inode, is no harm */
	sat_tree_forget(fx.t, a.ino, 5);
	sat_tree_forget(fx.t, 999999, 1);
	fixture_done(&fx);
}

/* 200 relistings of the same scenes, each looked through: the nodes
 * alive stay as they were (memory does not grow with relistings). */
SAT_TEST(relistings_do_not_grow)
{
	struct sat_tree_stats st0, st;
	struct fixture fx;
	struct sat_attr a;

	fixture_init(&fx, NULL);
	refresh_and_list(&fx);
	CHECK_INT(walk(&fx, "small/2024-01-03/S2A_1.falsecolor.tif", &a), 0);
	sat_tree_get_stats(fx.t, &st0);
	for (int i = 0; i < 200; i++) {
		refresh_and_list(&fx);
		CHECK_INT(walk(&fx, "small/2024-01-03/S2A_1.falsecolor.tif",
			       &a), 0);
		sat_tree_get_stats(fx.t, &st);
		CHECK_INT(st.nodes, st0.nodes);
	}
	CHECK_INT(fx.fs.searches, 201);
	fixture_done(&fx);
}

/* .satfs and its files are ordinary nodes: looked up, listed, opened as
 * a status file; never a region, never a search. */
SAT_TEST(satfs_dir_is_in_the_tree)
{
	struct sat_tree_file tf;
	struct fixture fx;
	struct sat_attr a;
	char buf[256];

	fixture_init(&fx, NULL);
	CHECK_INT(walk(&fx, SAT_CTL_DIR, &a), 0);
	CHECK_INT(a.kind, SAT_NODE_CTL_DIR);
	CHECK(sat_node_is_dir(a.kind));
	CHECK_STR(names(&fx, a.ino, buf, sizeof(buf)),
		  "cache status status.json");
	CHECK_INT(walk(&fx, SAT_CTL_DIR "/status.json", &a), 0);
	CHECK_INT(a.kind, SAT_NODE_CTL_FILE);
	CHECK_INT(a.size, 0);
	CHECK_INT(sat_tree_file(fx.t, a.ino, &tf), 0);
	CHECK_INT(tf.ctl, SAT_CTL_STATUS_JSON);
	sat_tree_file_release(&tf);
	CHECK_INT(walk(&fx, SAT_CTL_DIR "/nothing", &a), -ENOENT);
	CHECK_INT(sat_tree_refresh(fx.t, 999999), -ENOENT);
	CHECK_INT(walk(&fx, SAT_CTL_DIR, &a), 0);
	CHECK_INT(sat_tree_refresh(fx.t, a.ino), -EINVAL);
	CHECK_INT(sat_tree_remove_region(fx.t, SAT_CTL_DIR), -EPERM);
	CHECK_INT(fx.fs.searches, 0);
	fixture_done(&fx);
}

struct evicted {
	int n;
	char last[128];
};

static void on_evict(const char *name, void *payload)
{
	struct evicted *e = payload;

	e->n++;
	snprintf(e->last, sizeof(e->last), "%s", name);
}

static int count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	int n = 0, c;

	if (!f)
		return -1;
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* Ad-hoc regions: made by a lookup (probes and typos make none, and a
 * bare size over 1 degree is refused), remembered in CACHE/regions
 * (0600), at most SAT_TREE_ADHOC_MAX: the least recently used goes, and
 * the evict callback says which; a new tree over the cache has them. */
SAT_TEST(adhoc_regions_capped_least_recently_used)
{
	struct sat_tree_stats st;
	struct evicted ev = { 0 };
	struct sat_tree *again;
	struct fixture fx;
	struct sat_attr a;
	char name[64], path[4200], first[64];
	struct stat sb;
	int i;

	fixture_init(&fx, NULL);
	sat_tree_set_evict_fn(fx.t, on_evict, &ev);
	CHECK_INT(walk(&fx, ".Trash", &a), -ENOENT);
	CHECK_INT(walk(&fx, "@8.39,-82.43,5", &a), -ENOENT);
	for (i = 0; i < SAT_TREE_ADHOC_MAX + 5; i++) {
		snprintf(name, sizeof(name), "@8.39,-82.%03d,0.01", i);
		if (i == 0)
			snprintf(first, sizeof(first), "%s", name);
		CHECK_INT(walk(&fx, name, &a), 0);
		CHECK_INT(a.kind, SAT_NODE_REGION);
		CHECK_INT(walk(&fx, first, &a), 0); /* stays in use */
	}
	CHECK_INT(walk(&fx, first, &a), 0);
	sat_tree_get_stats(fx.t, &st);
	CHECK_INT(st.adhoc_regions, SAT_TREE_ADHOC_MAX);
	CHECK_INT(ev.n, 5);
	CHECK_STR(ev.last, "@8.39,-82.005,0.01");
	snprintf(path, sizeof(path), "%s/regions", fx.cfg->cache_dir);
	CHECK_INT(count_lines(path), SAT_TREE_ADHOC_MAX);
	CHECK_INT(stat(path, &sb), 0);
	CHECK_INT(sb.st_mode & 0777, 0600);
	CHECK_INT(fx.fs.searches, 0); /* no region was listed */

	CHECK_INT(sat_tree_new(&again, fx.cfg, fx.cat, fx.cache), 0);
	sat_tree_get_stats(again, &st);
	CHECK_INT(st.adhoc_regions, SAT_TREE_ADHOC_MAX);
	CHECK_INT(sat_tree_lookup(again, SAT_TREE_ROOT_INO, first, &a), 0);
	sat_tree_free(again);
	fixture_done(&fx);
}

/* rmdir of an ad-hoc region forgets it (root and CACHE/regions); a
 * configured one stays. */
SAT_TEST(remove_forgets_an_adhoc_region)
{
	struct fixture fx;
	struct sat_attr a;
	char buf[1024], path[4200];

	fixture_init(&fx, NULL);
	CHECK_INT(walk(&fx, "bbox=-82.44,8.38,-82.43,8.39", &a), 0);
	CHECK_INT(walk(&fx, "@8.385,-82.435,1km", &a), 0);
	CHECK_STR(names(&fx, SAT_TREE_ROOT_INO, buf, sizeof(buf)),
		  ".satfs @8.385,-82.435,1km bbox=-82.44,8.38,-82.43,8.39 "
		  "small");
	CHECK_INT(sat_tree_remove_region(fx.t, "@8.385,-82.435,1km"), 0);
	CHECK_STR(names(&fx, SAT_TREE_ROOT_INO, buf, sizeof(buf)),
		  ".satfs bbox=-82.44,8.38,-82.43,8.39 small");
	CHECK_INT(sat_tree_remove_region(fx.t, "@8.385,-82.435,1km"), -ENOENT);
	CHECK_INT(sat_tree_remove_region(fx.t, "small"), -EPERM);
	snprintf(path, sizeof(path), "%s/regions", fx.cfg->cache_dir);
	CHECK_INT(count_lines(path), 1);
	/* the kernel still holds the forgotten one: it answers, empty */
	CHECK_INT(sat_tree_getattr(fx.t, a.ino, &a), 0);
	CHECK(sat_tree_ready(fx.t, a.ino));
	CHECK_INT(sat_tree_lookup(fx.t, a.ino, "2024-01-03", &a), -ENOENT);
	fixture_done(&fx);
}

/* Prefetch: the plans of the same product for the next scenes in listing
 * order, as references that outlive a relisting. */
SAT_TEST(next_plans_follow_the_listing)
{
	struct sat_render_plan *next[8];
	struct fixture fx;
	struct sat_attr a;
	size_t n;

	fixture_init(&fx, NULL);
	CHECK_INT(walk(&fx, "small/2024-01-03/S2A_1.truecolor.tif", &a), 0);
	n = sat_tree_next_plans(fx.t, a.ino, 8, next);
	CHECK_INT(n, 2);
	CHECK_STR(next[0]->item_id, "S2B_2");
	CHECK_STR(next[1]->item_id, "S2A_3");
	CHECK_STR(next[1]->product.name, "truecolor");
	CHECK_INT(sat_tree_next_plans(fx.t, a.ino, 1, next + 2), 1);
	sat_render_plan_unref(next[2]);
	refresh_and_list(&fx); /* new plans in the nodes; ours stay whole */
	CHECK_STR(next[1]->item_id, "S2A_3");
	for (size_t i = 0; i < n; i++)
		sat_render_plan_unref(next[i]);
	CHECK_INT(walk(&fx, "small/2024-02-12/S2A_3.truecolor.tif", &a), 0);
	CHECK_INT(sat_tree_next_plans(fx.t, a.ino, 8, next), 0);
	fixture_done(&fx);
}

/* A failing catalog: EIO before any listing; after one, the region keeps
 * showing it (the catalog serves it stale, logged). */
SAT_TEST(failing_catalog)
{
	struct fixture fx;
	struct sat_attr a;
	char buf[1024];

	fixture_init(&fx, "listing_ttl=0");
	fake_set(&fx.fs, &fx.fs.search_err, -EIO);
	CHECK_INT(walk(&fx, "small/2024-01-03", &a), -EIO);
	fake_set(&fx.fs, &fx.fs.search_err, 0);
	CHECK_STR(names(&fx, fx.region, buf, sizeof(buf)),
		  "2024-01-03 2024-02-12" REGION_FILES);
	fake_set(&fx.fs, &fx.fs.search_err, -EIO);
	CHECK_STR(names(&fx, fx.region, buf, sizeof(buf)),
		  "2024-01-03 2024-02-12" REGION_FILES);
	CHECK_INT(walk(&fx, "small/2024-02-12/S2A_3.json", &a), 0);
	CHECK(fake_get(&fx.fs, &fx.fs.searches) >= 3);
	fixture_done(&fx);
}
