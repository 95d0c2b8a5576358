/*
 * Unit tests for the catalog (fs/catalog.c) against a fake source
 * (fake_source.h): caching in memory and on disk, sharing one search,
 * refresh and TTL, stale listings when the source fails, offline, our own
 * filters, and forgetting a region.
 */
#include "fake_source.h"

#include <pthread.h>

#include "satfs/catalog.h"

struct fixture {
	struct sat_config *cfg;
	struct fake_source fs;
	struct sat_cache *cache;
	struct sat_catalog *cat;
	const struct sat_region *r;
};

static void fixture_init(struct fixture *fx, const char *opts)
{
	fx->cfg = fake_config(NULL, opts);
	fake_init(&fx->fs, fx->cfg);
	CHECK_INT(sat_cache_new(&fx->cache, fx->cfg->cache_dir, 0), 0);
	CHECK_INT(sat_catalog_new(&fx->cat, fx->cfg, &fx->fs.base, fx->cache),
		  0);
	fx->r = fx->cfg->regions[0];
	fake_add_scene(&fx->fs, "S2B_B", "2024-03-02", 10);
	fake_add_scene(&fx->fs, "S2A_A", "2024-01-03", 20);
}

static void fixture_done(struct fixture *fx)
{
	sat_catalog_free(fx->cat);
	sat_cache_free(fx->cache);
	fake_destroy(&fx->fs);
	sat_config_free(fx->cfg);
}

/* One search; the second list is the same listing, from memory. Scenes
 * come sorted by time. */
SAT_TEST(list_once_then_from_memory)
{
	struct sat_listing *a, *b;
	struct fixture fx;

	fixture_init(&fx, NULL);
	CHECK(!sat_catalog_is_fresh(fx.cat, fx.r));
	CHECK_INT(sat_catalog_list(fx.cat, fx.r, &a), 0);
	CHECK(sat_catalog_is_fresh(fx.cat, fx.r));
	CHECK_INT(a->n, 2);
	CHECK_STR(a->scenes[0]->id, "S2A_A");
	CHECK_STR(a->scenes[1]->id, "S2B_B");
	CHECK_INT(sat_catalog_list(fx.cat, fx.r, &b), 0);
	CHECK(a == b);
	CHECK_INT(fx.fs.searches, 1);
	sat_listing_unref(a);
	sat_listing_unref(b);
	fixture_done(&fx);
}

struct lister {
	struct fixture *fx;
	struct sat_listing *l;
	int err;
};

static void *list_thread(void *arg)
{
	struct lister *ls = arg;

	ls->err = sat_catalog_list(ls->fx->cat, ls->fx->r, &ls->l);
	return NULL;
}

/* Four lists at once while the search runs: one search, one listing. */
SAT_TEST(concurrent_lists_share_one_search)
{
	struct lister ls[4];
	pthread_t th[4];
	struct fixture fx;
	int i;

	fixture_init(&fx, NULL);
	fake_gate(&fx.fs, &fx.fs.search_gate, true);
	for (i = 0; i < 4; i++) {
		ls[i] = (struct lister){ &fx, NULL, -1 };
		CHECK_INT(pthread_create(&th[i], NULL, list_thread, &ls[i]), 0);
	}
	fake_wait_for(&fx.fs, &fx.fs.searching, 1);
	fake_gate(&fx.fs, &fx.fs.search_gate, false);
	for (i = 0; i < 4; i++) {
		CHECK_INT(pthread_join(th[i], NULL), 0);
		CHECK_INT(ls[i].err, 0);
		CHECK(ls[i].l == ls[0].l);
	}
	CHECK_INT(fake_get(&fx.fs, &fx.fs.searches), 1);
	for (i = 0; i < 4; i++)
		sat_listing_unref(ls[i].l);
	fixture_done(&fx);
}

/* refresh forgets memory and disk: the next list searches, and sees
 * what changed. */
SAT_TEST(refresh_searches_again)
{
	struct sat_listing *a, *b;
	struct fixture fx;

	fixture_init(&fx, NULL);
	CHECK_INT(sat_catalog_list(fx.cat, fx.r, &a), 0);
	fake_add_scene(&fx.fs, "S2A_C", "2024-05-01", 5);
	sat_catalog_refresh(fx.cat, fx.r);
	CHECK(!sat_catalog_is_fresh(fx.cat, fx.r));
	CHECK_INT(sat_catalog_list(fx.cat, fx.r, &b), 0);
	CHECK_INT(fx.fs.searches, 2);
	CHECK(a != b);
	CHECK_INT(a->n, 2); /* the old listing is whole for its holders */
	CHECK_INT(b->n, 3);
	sat_listing_unref(a);
	sat_listing_unref(b);
	fixture_done(&fx);
}

/* A new catalog over the same cache (a remount) lists from the disk copy:
 * no search, the same scenes, parsed again by the source. */
SAT_TEST(disk_copy_survives_a_new_catalog)
{
	struct sat_listing *a, *b;
	struct sat_catalog *again;
	struct fixture fx;

	fixture_init(&fx, NULL);
	CHECK_INT(sat_catalog_list(fx.cat, fx.r, &a), 0);
	CHECK_INT(sat_catalog_new(&again, fx.cfg, &fx.fs.base, fx.cache), 0);
	CHECK_INT(sat_catalog_list(again, fx.r, &b), 0);
	CHECK_INT(fx.fs.searches, 1);
	CHECK_INT(b->n, a->n);
	for (size_t i = 0; i < a->n; i++) {
		CHECK_STR(b->scenes[i]->id, a->scenes[i]->id);
		CHECK(b->scenes[i]->source == &fx.fs.base);
	}
	CHECK_INT(b->fetched_at, a->fetched_at);
	sat_listing_unref(a);
	sat_listing_unref(b);
	sat_catalog_free(again);
	fixture_done(&fx);
}

/* listing_ttl = 0: every list searches; when the source fails, the last
 * listing is served (stale), and without one the list fails with EIO. */
SAT_TEST(stale_listing_when_the_source_fails)
{
	struct sat_listing *a, *b = NULL;
	struct fixture fx;

	fixture_init(&fx, "listing_ttl=0");
	fake_set(&fx.fs, &fx.fs.search_err, -EIO);
	CHECK_INT(sat_catalog_list(fx.cat, fx.r, &a), -EIO);
	CHECK(a == NULL);
	fake_set(&fx.fs, &fx.fs.search_err, 0);
	CHECK_INT(sat_catalog_list(fx.cat, fx.r, &a), 0);
	CHECK_INT(fx.fs.searches, 2);
	fake_set(&fx.fs, &fx.fs.search_err, -EIO);
	CHECK_INT(sat_catalog_list(fx.cat, fx.r, &b), 0);
	CHECK_INT(fx.fs.searches, 3);
	CHECK_INT(b->n, a->n);
	CHECK_INT(b->fetched_at, a->fetched_at);
	sat_listing_unref(a);
	sat_listing_unref(b);
	fixture_done(&fx);
}

/* offline: the disk copy is served however old; without one, ENETDOWN;
 * the source is never asked. */
SAT_TEST(offline_serves_the_cache_only)
{
	struct sat_listing *a, *b = NULL;
	struct sat_catalog *off;
	struct sat_config *ocfg;
	struct fixture fx;

	fixture_init(&fx, "listing_ttl=0");
	/* a second catalog, offline, over the same (empty) cache */
	ocfg = fake_config(NULL, "offline");
	CHECK_INT(sat_catalog_new(&off, ocfg, &fx.fs.base, fx.cache), 0);
	CHECK_INT(sat_catalog_list(off, fx.r, &b), -ENETDOWN);
	CHECK_INT(fx.fs.searches, 0);
	CHECK_INT(sat_catalog_list(fx.cat, fx.r, &a), 0); /* to disk */
	CHECK_INT(sat_catalog_list(off, fx.r, &b), 0);
	CHECK_INT(fx.fs.searches, 1);
	CHECK_INT(b->n, 2);
	sat_listing_unref(a);
	sat_listing_unref(b);
	sat_catalog_free(off);
	sat_config_free(ocfg);
	fixture_done(&fx);
}

/* Our own filter on top of the server's: outside the dates, too cloudy
 * (max_cloud is "below"), and a second item with the same id go. */
SAT_TEST(own_filter_on_top_of_the_source)
{
	struct sat_listing *l;
	struct fixture fx;

	fixture_init(&fx, "max_cloud=50");
	fake_add_scene(&fx.fs, "S2A_OLD", "2023-12-31", 1);
	fake_add_scene(&fx.fs, "S2A_CLOUDY", "2024-04-01", 50);
	fake_add_scene(&fx.fs, "S2A_A", "2024-06-01", 1);
	fake_add_scene(&fx.fs, "S2A_CLEAR", "2024-04-02", 49.9);
	CHECK_INT(sat_catalog_list(fx.cat, fx.r, &l), 0);
	CHECK_INT(l->n, 3);
	CHECK_STR(l->scenes[0]->id, "S2A_A");
	CHECK_STR(l->scenes[1]->id, "S2B_B");
	CHECK_STR(l->scenes[2]->id, "S2A_CLEAR");
	sat_listing_unref(l);
	fixture_done(&fx);
}

/* forget drops the memory, not the disk: the next list reads the disk
 * copy (a new listing object, no search). */
SAT_TEST(forget_keeps_the_disk_copy)
{
	struct sat_listing *a, *b;
	struct fixture fx;

	fixture_init(&fx, NULL);
	CHECK_INT(sat_catalog_list(fx.cat, fx.r, &a), 0);
	sat_catalog_forget(fx.cat, fx.r);
	CHECK(!sat_catalog_is_fresh(fx.cat, fx.r));
	CHECK_INT(sat_catalog_list(fx.cat, fx.r, &b), 0);
	CHECK(a != b);
	CHECK_INT(b->n, 2);
	CHECK_INT(fx.fs.searches, 1);
	sat_listing_unref(a);
	sat_listing_unref(b);
	fixture_done(&fx);
}
