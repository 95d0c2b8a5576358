/*
 * fake_source: a struct sat_source whose operations are the test's own,
 * for the tree, jobs and catalog tests: the scenes a search returns, how
 * many searches ran, a search or a read that fails, and reads that wait
 * at a gate the test opens, recording the order in which items are read.
 * Pixels are one value everywhere, valid everywhere.
 *
 * The pages handed to the catalog's disk cache are lines "ID DATE CLOUD",
 * which parse_page reads back, so that a listing survives a new catalog.
 *
 * Test-only; static inline so each test binary takes what it uses.
 */
#ifndef FAKE_SOURCE_H
#define FAKE_SOURCE_H

#include "satest.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "satfs/cache.h"
#include "satfs/config.h"
#include "satfs/geom.h"
#include "satfs/log.h"
#include "satfs/region.h"
#include "satfs/source.h"
#include "satfs/stac.h"

#define FAKE_MAX 64

struct fake_scene_spec {
	char id[64];
	char date[11];   /* YYYY-MM-DD */
	double cloud;
};

struct fake_source {
	struct sat_source base; /* first */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* all below protected by lock */
	struct fake_scene_spec scenes[FAKE_MAX]; /* what a search returns */
	int nscenes;
	int searches;            /* search() calls */
	int search_err;          /* search() returns it when != 0 */
	bool search_gate;        /* searches wait while true */
	int searching;           /* searches waiting at the gate */
	int reads;               /* read() calls */
	int read_err;            /* read() returns it when != 0 */
	bool gate;               /* reads wait while true, */
	char pass[FAKE_MAX][64]; /* but for the items let pass */
	int npass;
	int waiting;             /* reads waiting at the gate */
	char order[FAKE_MAX][64]; /* items, in the order first read */
	int norder;
	uint16_t value;
};

static inline void fake_add_scene(struct fake_source *fs, const char *id,
				  const char *date, double cloud)
{
	pthread_mutex_lock(&fs->lock);
	CHECK(fs->nscenes < FAKE_MAX);
	snprintf(fs->scenes[fs->nscenes].id, 64, "%s", id);
	snprintf(fs->scenes[fs->nscenes].date, 11, "%s", date);
	fs->scenes[fs->nscenes].cloud = cloud;
	fs->nscenes++;
	pthread_mutex_unlock(&fs->lock);
}

static inline void fake_set(struct fake_source *fs, int *field, int v)
{
	pthread_mutex_lock(&fs->lock);
	*field = v;
	pthread_mutex_unlock(&fs->lock);
}

static inline int fake_get(struct fake_source *fs, const int *field)
{
	int v;

	pthread_mutex_lock(&fs->lock);
	v = *field;
	pthread_mutex_unlock(&fs->lock);
	return v;
}

static inline void fake_gate(struct fake_source *fs, bool *gate, bool closed)
{
	pthread_mutex_lock(&fs->lock);
	*gate = closed;
	pthread_cond_broadcast(&fs->cond);
	pthread_mutex_unlock(&fs->lock);
}

/* Waits until *count reaches n (threads parked at a gate). */
static inline void fake_wait_for(struct fake_source *fs, const int *count,
				 int n)
{
	pthread_mutex_lock(&fs->lock);
	while (*count < n)
		pthread_cond_wait(&fs->cond, &fs->lock);
	pthread_mutex_unlock(&fs->lock);
}

static inline char *fake_strdup(const char *s)
{
	char *d = strdup(s);

	CHECK(d != NULL);
	return d;
}

/* A Sentinel-2-like scene over the tutorial's region (UTM 17N, 10 m). */
static inline struct sat_scene *fake_scene(struct fake_source *fs,
					   const struct fake_scene_spec *sp)
{
	static const char *const keys[] = { "blue", "green", "red", "nir" };
	static const char *const names[] = { "B02", "B03", "B04", "B08" };
	struct sat_scene *s = calloc(1, sizeof(*s));
	char buf[256];
	struct tm tm = { 0 };

	CHECK(s != NULL);
	s->id = fake_strdup(sp->id);
	s->file_id = fake_strdup(sp->id);
	s->collection = fake_strdup("sentinel-2-l2a");
	CHECK(sscanf(sp->date, "%d-%d-%d", &tm.tm_year, &tm.tm_mon,
		     &tm.tm_mday) == 3);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	tm.tm_hour = 15;
	tm.tm_min = 52;
	s->datetime = timegm(&tm);
	snprintf(s->date, sizeof(s->date), "%s", sp->date);
	s->has_cloud = true;
	s->cloud_cover = sp->cloud;
	s->epsg = 32617;
	s->bbox[0] = -83.0;
	s->bbox[1] = 8.0;
	s->bbox[2] = -82.0;
	s->bbox[3] = 9.0;
	s->assets = calloc(4, sizeof(*s->assets));
	CHECK(s->assets != NULL);
	s->nassets = 4;
	for (int i = 0; i < 4; i++) {
		struct sat_asset *a = &s->assets[i];

		snprintf(buf, sizeof(buf), "fake://%s/%s.tif", sp->id,
			 names[i]);
		a->key = fake_strdup(keys[i]);
		a->href = fake_strdup(buf);
		a->band_name = fake_strdup(names[i]);
		a->common_name = fake_strdup(keys[i]);
		a->has_scale = true;
		a->scale = 0.0001;
		a->gsd = 10;
		a->epsg = 32617;
	}
	snprintf(buf, sizeof(buf), "{\"id\": \"%s\", \"cloud\": %g}", sp->id,
		 sp->cloud);
	s->json = fake_strdup(buf);
	s->json_len = strlen(buf);
	s->source = &fs->base;
	return s;
}

static inline void fake_append(struct sat_scene ***items, size_t *n,
			       struct sat_scene *s)
{
	struct sat_scene **v = realloc(*items, (*n + 1) * sizeof(*v));

	CHECK(v != NULL);
	v[(*n)++] = s;
	*items = v;
}

static inline void fake_identity(const struct sat_source *src,
				 struct sat_hash *h)
{
	sat_hash_add_str(h, "fake");
}

static inline int fake_parse_page(struct sat_source *src, const char *body,
				  size_t len, struct sat_scene ***items,
				  size_t *n, size_t *skipped)
{
	struct fake_source *fs = (struct fake_source *)src;
	struct fake_scene_spec sp;
	const char *p = body;
	int used;

	while (p < body + len &&
	       sscanf(p, "%63s %10s %lf\n%n", sp.id, sp.date, &sp.cloud,
		      &used) == 3) {
		fake_append(items, n, fake_scene(fs, &sp));
		p += used;
	}
	return 0;
}

static inline int fake_search(struct sat_source *src,
			      const struct sat_search *q,
			      sat_source_page_fn page, void *payload,
			      struct sat_scene ***items, size_t *n)
{
	struct fake_source *fs = (struct fake_source *)src;
	char *body = malloc(FAKE_MAX * 96 + 1);
	size_t off = 0;
	int err, ret;

	CHECK(body != NULL);
	pthread_mutex_lock(&fs->lock);
	fs->searches++;
	fs->searching++;
	pthread_cond_broadcast(&fs->cond);
	while (fs->search_gate)
		pthread_cond_wait(&fs->cond, &fs->lock);
	fs->searching--;
	err = fs->search_err;
	body[0] = '\0';
	for (int i = 0; i < fs->nscenes && !err; i++)
		off += (size_t)snprintf(body + off, FAKE_MAX * 96 + 1 - off,
					"%s %s %g\n", fs->scenes[i].id,
					fs->scenes[i].date,
					fs->scenes[i].cloud);
	pthread_mutex_unlock(&fs->lock);
	if (err) {
		free(body);
		sat_log_cause("fake: the catalog failed");
		return err;
	}
	ret = fake_parse_page(src, body, off, items, n, NULL);
	if (page(payload, body, off) != 0)
		return -ENOMEM;
	return ret;
}

static inline bool fake_passes_locked(struct fake_source *fs, const char *id)
{
	for (int i = 0; i < fs->npass; i++)
		if (strcmp(fs->pass[i], id) == 0)
			return true;
	return false;
}

/* Lets the reads of item id through the closed gate. */
static inline void fake_let_pass(struct fake_source *fs, const char *id)
{
	pthread_mutex_lock(&fs->lock);
	CHECK(fs->npass < FAKE_MAX);
	snprintf(fs->pass[fs->npass++], 64, "%s", id);
	pthread_cond_broadcast(&fs->cond);
	pthread_mutex_unlock(&fs->lock);
}

/* The item read in position i, or "" (a copy, for CHECK_STR). */
static inline const char *fake_order(struct fake_source *fs, int i,
				     char buf[64])
{
	pthread_mutex_lock(&fs->lock);
	snprintf(buf, 64, "%s", i < fs->norder ? fs->order[i] : "");
	pthread_mutex_unlock(&fs->lock);
	return buf;
}

static inline int fake_read(struct sat_source *src, const struct sat_read *rd)
{
	struct fake_source *fs = (struct fake_source *)src;
	size_t npix = (size_t)rd->grid->width * rd->grid->height;
	const char *h = rd->bands[0].href + strlen("fake://");
	char id[64];
	int i, err;

	snprintf(id, sizeof(id), "%.*s", (int)strcspn(h, "/"), h);
	pthread_mutex_lock(&fs->lock);
	fs->reads++;
	for (i = 0; i < fs->norder; i++)
		if (strcmp(fs->order[i], id) == 0)
			break;
	if (i == fs->norder && fs->norder < FAKE_MAX)
		snprintf(fs->order[fs->norder++], 64, "%s", id);
	fs->waiting++;
	pthread_cond_broadcast(&fs->cond);
	while (fs->gate && !fake_passes_locked(fs, id))
		pthread_cond_wait(&fs->cond, &fs->lock);
	fs->waiting--;
	err = fs->read_err;
	pthread_mutex_unlock(&fs->lock);
	if (err) {
		sat_log_cause("fake: %s: the pixels failed", id);
		return err;
	}
	for (size_t b = 0; b < rd->nbands; b++) {
		struct sat_read_band *rb = &rd->bands[b];

		if (sat_read_band_reserve(rb, SAT_SAMPLE_U16, npix))
			return -ENOMEM;
		for (size_t k = 0; k < npix; k++)
			((uint16_t *)rb->values)[k] = fs->value;
	}
	memset(rd->valid, 1, npix);
	return 0;
}

static inline void fake_free(struct sat_source *src)
{
}

static const struct sat_source_ops fake_ops = {
	.type = "fake",
	.identity = fake_identity,
	.search = fake_search,
	.parse_page = fake_parse_page,
	.read = fake_read,
	.free = fake_free,
};

static inline void fake_init(struct fake_source *fs,
			     const struct sat_config *cfg)
{
	memset(fs, 0, sizeof(*fs));
	fs->base.ops = &fake_ops;
	fs->base.cfg = cfg;
	fs->value = 1500;
	pthread_mutex_init(&fs->lock, NULL);
	pthread_cond_init(&fs->cond, NULL);
}

static inline void fake_destroy(struct fake_source *fs)
{
	pthread_cond_destroy(&fs->cond);
	pthread_mutex_destroy(&fs->lock);
}

/* A configuration for the tests: the file text given (NULL: a region
 * `small` of about 1 km, so that rendered files are small) and the -o
 * options, with the cache in a fresh directory. */
static inline struct sat_config *fake_config(const char *text,
					     const char *opts)
{
	static const char small[] =
		"[source]\n"
		"stac = http://127.0.0.1:9\n"
		"dates = 2024-01-01 .. 2024-12-31\n"
		"[region small]\n"
		"bbox = -82.44, 8.38, -82.43, 8.39\n";
	const char *dir = satest_tmpdir();
	char path[4096], all[1024], err[1024];
	struct sat_config *cfg = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/satfs.conf", dir);
	f = fopen(path, "w");
	CHECK(f != NULL);
	fputs(text ? text : small, f);
	fclose(f);
	snprintf(all, sizeof(all), "cache=%s/cache%s%s", dir, opts ? "," : "",
		 opts ? opts : "");
	if (sat_config_load(&cfg, path, all, err, sizeof(err)) != 0) {
		fprintf(stderr, "config: %s\n", err);
		CHECK(!"configuration");
	}
	return cfg;
}

#endif
