/*
 * Tests of cogread: request counts (headers once, tiles in runs), the
 * header caches, a header longer than the first read, changed objects,
 * corrupt and missing data, reprojection and the sample types, against
 * the real scene served by render_fixture.h's server.
 */
#include "render_fixture.h"

#include "satfs/bufpool.h"
#include "satfs/log.h"
#include "satfs/source.h"

/* Adds a local file to the server as /name; returns its index. */
static int srv_add(struct srv *s, const char *name, const char *local)
{
	int i;

	pthread_mutex_lock(&s->lock);
	i = s->nfiles++;
	CHECK(i < NFILES);
	snprintf(s->files[i].path, sizeof(s->files[i].path), "/%s", name);
	snprintf(s->files[i].local, sizeof(s->files[i].local), "%.*s",
		 (int)sizeof(s->files[i].local) - 1, local);
	strcpy(s->files[i].etag, "\"v1\"");
	pthread_mutex_unlock(&s->lock);
	return i;
}

static int count_file(struct srv *s, int from, int file, bool headers)
{
	int n = 0;

	pthread_mutex_lock(&s->lock);
	for (int i = from; i < s->nlog; i++)
		n += s->log[i].file == file && (s->log[i].off == 0) == headers;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Requests a window of grid g over the level-0 tiles of a local COG
 * should cost: runs of tile byte ranges with gaps of at most 16 KiB. */
static int expected_runs(const char *local, const struct sat_grid *g)
{
	struct sat_cog *cog;
	const struct sat_cog_level *lv;
	uint64_t need, r[2 * 64];
	size_t len, n = 0;
	char *d = satest_read_file(local, &len);
	int runs = 0;

	CHECK_INT(sat_cog_open(&cog, (uint8_t *)d, len, &need), 0);
	free(d);
	lv = sat_cog_level(cog, 0);
	long c0 = (long)floor((g->origin_x + 0.5 * g->pixel_size -
			       lv->origin_x) / lv->pixel_x);
	long c1 = (long)floor((g->origin_x + (g->width - 0.5) *
			       g->pixel_size - lv->origin_x) / lv->pixel_x);
	long r0 = (long)floor((lv->origin_y - g->origin_y +
			       0.5 * g->pixel_size) / lv->pixel_y);
	long r1 = (long)floor((lv->origin_y - g->origin_y +
			       (g->height - 0.5) * g->pixel_size) /
			      lv->pixel_y);
	for (long ty = r0 / lv->tile_height; ty <= r1 / lv->tile_height; ty++)
		for (long tx = c0 / lv->tile_width;
		     tx <= c1 / lv->tile_width; tx++) {
			CHECK(n < 64);
			CHECK_INT(sat_cog_tile_range(cog, 0, (uint32_t)tx,
						     (uint32_t)ty, &r[2 * n],
						     &r[2 * n + 1]), 0);
			n++;
		}
	qsort(r, n, 2 * sizeof(uint64_t), cmp_u64);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || r[2 * i] > r[2 * i - 2] + r[2 * i - 1] + 16384)
			runs++;
	sat_cog_free(cog);
	return runs;
}

static void check_same_file(const char *a, const char *b);

SAT_TEST(request_counts)
{
	struct sat_cogread_stats st;
	struct sat_render_plan *p;
	struct fx f;
	int runs = 0, n1;
	double t0;

	fx_start(&f, NULL);
	CHECK_INT(sat_render_plan_new(&p, f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	for (int i = 1; i <= 3; i++) /* B03, B04, B08 */
		runs += expected_runs(f.srv.files[i].local, &p->grid);
	CHECK_INT(fx_render(&f, p, tmpfile_in("a.tif")), 0);
	/* Exactly three header reads of 16 KiB, one per band... */
	CHECK_INT(srv_count(&f.srv, 0, true), 3);
	for (int i = 0; i < f.srv.nlog; i++)
		if (f.srv.log[i].off == 0)
			CHECK_INT(f.srv.log[i].len, 16384);
	/* ...and one request per run of adjacent tiles. */
	CHECK_INT(srv_count(&f.srv, 0, false), runs);
	fprintf(stderr, "cold: 3 header + %d tile requests (4 tiles a band)\n",
		runs);
	CHECK(runs >= 3 && runs < 12);
	/* Again with the same cogread: no request at all, the tiles are
	 * decoded already (the tile cache), and each was decoded once. */
	n1 = f.srv.nlog;
	t0 = now_s();
	CHECK_INT(fx_render(&f, p, tmpfile_in("b.tif")), 0);
	fprintf(stderr, "warm render: %.3f s\n", now_s() - t0);
	CHECK_INT(srv_count(&f.srv, n1, true), 0);
	CHECK_INT(srv_count(&f.srv, n1, false), 0);
	sat_cogread_get_stats(f.cr, &st);
	CHECK_INT(st.tiles_decoded, 12);
	CHECK_INT(st.tiles_fetched, 12);
	/* With a new cogread (no tile cache), the tiles again, the headers
	 * from memory no more: from the network, as there is no disk cache. */
	sat_cogread_free(f.cr);
	CHECK_INT(sat_cogread_new(&f.cr, f.fetch, NULL), 0);
	n1 = f.srv.nlog;
	CHECK_INT(fx_render(&f, p, tmpfile_in("c.tif")), 0);
	CHECK_INT(srv_count(&f.srv, n1, true), 3);
	CHECK_INT(srv_count(&f.srv, n1, false), runs);
	check_same_file(tmpfile_in("a.tif"), tmpfile_in("c.tif"));
	sat_render_plan_free(p);
	fx_stop(&f);
}

struct read_arg {
	struct sat_cogread *cr;
	const struct sat_read *rd;
	int ret;
};

static void *read_main(void *arg)
{
	struct read_arg *a = arg;

	a->ret = sat_cogread_read(a->cr, a->rd);
	return NULL;
}

/* Are the tile bytes of log[ref0..ref1) all within requests logged from
 * line from on? */
static bool ranges_covered(struct srv *s, int ref0, int ref1, int from)
{
	bool all = true;

	pthread_mutex_lock(&s->lock);
	for (int i = ref0; i < ref1 && all; i++) {
		const struct srv_hit *r = &s->log[i];
		bool in = r->off == 0; /* headers: not what is looked at */

		for (int j = from; j < s->nlog && !in; j++)
			in = s->log[j].file == r->file && s->log[j].off > 0 &&
			     s->log[j].off <= r->off &&
			     r->off + r->len <= s->log[j].off + s->log[j].len;
		all = in;
	}
	pthread_mutex_unlock(&s->lock);
	return all;
}

/* The next window's tiles are asked for before the wait for the current
 * window's own: with the server holding every tile answer, a read of the
 * grid's top-left corner, its bottom-right corner named as next, has
 * every tile byte of the second corner asked for (a read asking for the
 * next window only once its own tiles were in would wait, the second
 * corner's never asked). Then the next window reads without a request,
 * and its pixels are those of a cold read. */
SAT_TEST(next_asked_before_waiting)
{
	struct sat_render_plan *p;
	struct sat_read_band rb[3] = { 0 }, rb2[3] = { 0 };
	struct sat_cogread *cold;
	struct sat_grid ga, gb;
	struct read_arg arg;
	struct fx f;
	uint8_t valid[64], valid2[64];
	pthread_t th;
	int ref0, ref1, n1, held;
	double end;

	fx_start(&f, NULL);
	CHECK_INT(sat_render_plan_new(&p, f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	ga = gb = p->grid;
	ga.width = ga.height = gb.width = gb.height = 8;
	gb.origin_x += (p->grid.width - 8) * p->grid.pixel_size;
	gb.origin_y -= (p->grid.height - 8) * p->grid.pixel_size;
	for (int b = 0; b < 3; b++) {
		rb[b].href = rb2[b].href = p->inputs[0].hrefs[b];
		rb[b].has_nodata = rb2[b].has_nodata = p->inputs[0].has_nodata[b];
		rb[b].nodata = rb2[b].nodata = p->inputs[0].nodata[b];
	}
	/* the second corner, cold, on a cogread of its own: its requests
	 * are the reference, its pixels too */
	struct sat_read rd = { .grid = &gb, .bands = rb2, .nbands = 3,
			       .valid = valid2 };
	CHECK_INT(sat_cogread_new(&cold, f.fetch, NULL), 0);
	ref0 = f.srv.nlog;
	CHECK_INT(sat_cogread_read(cold, &rd), 0);
	ref1 = f.srv.nlog;
	sat_cogread_free(cold);
	CHECK(srv_count(&f.srv, ref0, false) > 0);

	rd = (struct sat_read){ .grid = &ga, .bands = rb, .nbands = 3,
				.valid = valid, .next = &gb };
	srv_set_hold(&f.srv, true);
	n1 = f.srv.nlog;
	arg = (struct read_arg){ .cr = f.cr, .rd = &rd, .ret = 1 };
	CHECK(pthread_create(&th, NULL, read_main, &arg) == 0);
	end = now_s() + 10;
	while (!ranges_covered(&f.srv, ref0, ref1, n1) && now_s() < end)
		usleep(10000);
	CHECK(ranges_covered(&f.srv, ref0, ref1, n1));
	pthread_mutex_lock(&f.srv.lock);
	held = f.srv.held;
	pthread_mutex_unlock(&f.srv.lock);
	CHECK(held > 0); /* the first corner's tiles are not in yet */
	srv_set_hold(&f.srv, false);
	CHECK(pthread_join(th, NULL) == 0);
	CHECK_INT(arg.ret, 0);
	n1 = f.srv.nlog;
	rd.grid = &gb;
	rd.next = NULL;
	CHECK_INT(sat_cogread_read(f.cr, &rd), 0);
	CHECK_INT(f.srv.nlog, n1);
	CHECK(memcmp(valid, valid2, sizeof(valid)) == 0);
	for (int b = 0; b < 3; b++) {
		CHECK_INT(rb[b].type, rb2[b].type);
		CHECK(memcmp(rb[b].values, rb2[b].values,
			     sizeof(valid) * sat_sample_size(rb[b].type)) == 0);
		sat_buf_free(rb[b].values);
		sat_buf_free(rb2[b].values);
	}
	sat_render_plan_free(p);
	fx_stop(&f);
}

static void check_same_file(const char *a, const char *b)
{
	size_t la, lb;
	char *da = satest_read_file(a, &la), *db = satest_read_file(b, &lb);

	CHECK_INT(la, lb);
	CHECK(memcmp(da, db, la) == 0);
	free(da);
	free(db);
}

SAT_TEST(disk_cache)
{
	struct sat_render_plan *p;
	struct sat_cache *cache;
	char dir[600];
	struct fx f;
	int n1;

	snprintf(dir, sizeof(dir), "%s/cache", satest_tmpdir());
	CHECK_INT(sat_cache_new(&cache, dir, 0), 0);
	fx_start(&f, cache);
	CHECK_INT(sat_render_plan_new(&p, f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	CHECK_INT(fx_render(&f, p, tmpfile_in("a.tif")), 0);
	CHECK_INT(srv_count(&f.srv, 0, true), 3);
	/* A new cogread (an empty memory cache) on the same disk cache. */
	sat_cogread_free(f.cr);
	CHECK_INT(sat_cogread_new(&f.cr, f.fetch, cache), 0);
	n1 = f.srv.nlog;
	CHECK_INT(fx_render(&f, p, tmpfile_in("b.tif")), 0);
	CHECK_INT(srv_count(&f.srv, n1, true), 0);
	check_same_file(tmpfile_in("a.tif"), tmpfile_in("b.tif"));

	/* The object changes (new ETag): with its tiles no longer decoded
	 * in memory (a new cogread), the tile answers say so, the header is
	 * read once more, the render is still right. */
	pthread_mutex_lock(&f.srv.lock);
	strcpy(f.srv.files[2].etag, "\"v2\"");
	pthread_mutex_unlock(&f.srv.lock);
	sat_cogread_free(f.cr);
	CHECK_INT(sat_cogread_new(&f.cr, f.fetch, cache), 0);
	n1 = f.srv.nlog;
	CHECK_INT(fx_render(&f, p, tmpfile_in("c.tif")), 0);
	CHECK_INT(srv_count(&f.srv, n1, true), 1);
	CHECK_INT(count_file(&f.srv, n1, 2, true), 1);
	check_same_file(tmpfile_in("a.tif"), tmpfile_in("c.tif"));
	/* And the disk cache now holds the new header: a fresh cogread
	 * needs no header request and sees no change. */
	sat_cogread_free(f.cr);
	CHECK_INT(sat_cogread_new(&f.cr, f.fetch, cache), 0);
	n1 = f.srv.nlog;
	CHECK_INT(fx_render(&f, p, tmpfile_in("d.tif")), 0);
	CHECK_INT(srv_count(&f.srv, n1, true), 0);
	sat_render_plan_free(p);
	fx_stop(&f);
	sat_cache_free(cache);
}

/* Reads one band on grid g from href into a malloc'd array. */
static int window1(struct fx *f, const char *file, const struct sat_grid *g,
		   uint16_t **dn, uint8_t **valid)
{
	struct sat_band_window bw = { 0 };
	char url[256];
	int rc;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/%s", f->srv.port,
		 file);
	bw.href = url;
	*valid = malloc((size_t)g->width * g->height);
	rc = sat_cogread_window(f->cr, g, &bw, 1, *valid,
				SAT_FETCH_FOREGROUND);
	*dn = bw.dn;
	return rc;
}

/* A COG of 16x16 tiles: its tile arrays end past 16 KiB, so its header
 * takes a second read; the pixels are those of B04. */
SAT_TEST(header_past_16k)
{
	struct sat_grid g = { 32629, 247200, 2754000, 100, 104, 91 };
	char cmd[2048], local[600];
	uint16_t *a, *b;
	uint8_t *va, *vb;
	struct fx f;
	int fi;

	fx_start(&f, NULL);
	snprintf(local, sizeof(local), "%s/b04_16.tif", satest_tmpdir());
	snprintf(cmd, sizeof(cmd), "gdal_translate -q -of COG -co "
		 "BLOCKSIZE=16 -co COMPRESS=DEFLATE -co OVERVIEWS=NONE "
		 "'%s/B04.tif' '%s' 2>/dev/null", satest_data(SCENE),
		 local);
	run(cmd);
	fi = srv_add(&f.srv, "B04_16.tif", local);
	CHECK_INT(window1(&f, "B04_16.tif", &g, &a, &va), 0);
	CHECK_INT(count_file(&f.srv, 0, fi, true), 1);
	CHECK_INT(f.srv.log[0].len, 16384);
	CHECK_INT(f.srv.log[1].file, fi);
	CHECK_INT(f.srv.log[1].off, 16384); /* the rest of the header */
	CHECK_INT(f.srv.log[1].off + f.srv.log[1].len, 29240);
	/* 7x7 tiles of 16 px, separated by GDAL's 4-byte tile leaders and
	 * trailers: merged across those gaps into as few requests as the
	 * layout allows, not one per tile. */
	CHECK_INT(count_file(&f.srv, 0, fi, false), 1 + expected_runs(local, &g));
	CHECK(expected_runs(local, &g) <= 7); /* one per row of tiles */
	CHECK_INT(window1(&f, "B04.tif", &g, &b, &vb), 0);
	CHECK(memcmp(a, b, (size_t)g.width * g.height * 2) == 0);
	CHECK(memcmp(va, vb, (size_t)g.width * g.height) == 0);
	CHECK_INT(a[0], 3466); /* gdallocationinfo B04.tif 472 460 */
	free(a);
	free(b);
	free(va);
	free(vb);
	fx_stop(&f);
}

SAT_TEST(corrupt_tiles)
{
	struct sat_render_plan *p;
	struct fx f;

	fx_start(&f, NULL);
	CHECK_INT(sat_render_plan_new(&p, f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	srv_set_corrupt(&f.srv, true);
	CHECK_INT(fx_render(&f, p, tmpfile_in("bad.tif")), -EIO);
	srv_set_corrupt(&f.srv, false);
	/* The failure is not remembered: the next access works. */
	CHECK_INT(fx_render(&f, p, tmpfile_in("good.tif")), 0);
	CHECK_INT(file_size(tmpfile_in("good.tif")), p->size_bytes);
	sat_render_plan_free(p);
	fx_stop(&f);
}

SAT_TEST(missing_and_outside)
{
	struct sat_grid far = { 32629, 100000, 2000000, 100, 50, 40 };
	struct sat_render_plan *p;
	uint16_t *dn;
	uint8_t *valid;
	struct fx f;

	fx_start(&f, NULL);
	fx_set_href(&f, "nir", "nothere.tif");
	CHECK_INT(sat_render_plan_new(&p, f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	CHECK_INT(fx_render(&f, p, tmpfile_in("x.tif")), -EIO);
	CHECK_INT(window1(&f, "nothere.tif", &p->grid, &dn, &valid),
		  -ENOENT);
	CHECK(dn == NULL);
	free(valid);
	sat_render_plan_free(p);

	/* A grid beside the raster: nothing valid, no tile fetched. */
	int n1 = f.srv.nlog;
	CHECK_INT(window1(&f, "B04.tif", &far, &dn, &valid), 0);
	for (size_t i = 0; i < 50 * 40; i++)
		CHECK(valid[i] == 0 && dn[i] == 0);
	CHECK_INT(srv_count(&f.srv, n1, false), 0);
	free(dn);
	free(valid);
	fx_stop(&f);
}

/* A grid in the neighbouring UTM zone: centres are transformed with
 * PROJ; GDAL with an exact transformer (-et 0) must agree. */
SAT_TEST(reproject)
{
	struct sat_grid g = { 32628, 850000, 2755000, 100, 80, 70 };
	char cmd[2048], out[600];
	uint16_t *dn, *ref;
	uint8_t *valid;
	size_t len, same = 0, npix = 80 * 70;
	struct fx f;

	fx_start(&f, NULL);
	CHECK_INT(window1(&f, "B04.tif", &g, &dn, &valid), 0);
	snprintf(out, sizeof(out), "%s/ref.raw", satest_tmpdir());
	snprintf(cmd, sizeof(cmd),
		 "gdalwarp -q -et 0 -ovr NONE -r near -t_srs EPSG:32628 "
		 "-te %.17g %.17g %.17g %.17g -tr 100 100 -of ENVI "
		 "'%s/B04.tif' '%s'", g.origin_x, g.origin_y - 7000,
		 g.origin_x + 8000, g.origin_y, satest_data(SCENE), out);
	run(cmd);
	ref = (uint16_t *)satest_read_file(out, &len);
	CHECK_INT(len, npix * 2);
	for (size_t i = 0; i < npix; i++) {
		CHECK(valid[i]);
		same += dn[i] == ref[i];
	}
	fprintf(stderr, "reprojected: %zu of %zu equal to GDAL\n", same, npix);
	CHECK(same >= npix * 995 / 1000);
	free(dn);
	free(valid);
	free(ref);
	fx_stop(&f);
}

/* TCI: 8-bit, three samples per pixel: sample 0 (red) is read. Float
 * sources are refused. */
SAT_TEST(sample_types)
{
	struct sat_grid g = { 32629, 247200, 2754000, 100, 104, 91 };
	char cmd[2048], local[600];
	uint16_t *dn, *ref;
	uint8_t *valid, *ref8;
	size_t len;
	struct fx f;

	fx_start(&f, NULL);
	CHECK_INT(window1(&f, "TCI.tif", &g, &dn, &valid), 0);
	snprintf(local, sizeof(local), "%s/tci.raw", satest_tmpdir());
	snprintf(cmd, sizeof(cmd),
		 "gdal_translate -q -b 1 -srcwin 472 460 104 91 -of ENVI "
		 "'%s/TCI.tif' '%s'", satest_data(SCENE), local);
	run(cmd);
	ref8 = (uint8_t *)satest_read_file(local, &len);
	CHECK_INT(len, 104 * 91);
	for (size_t i = 0; i < len; i++)
		CHECK_INT(dn[i], ref8[i]);
	free(dn);
	free(valid);
	free(ref8);

	snprintf(local, sizeof(local), "%s/f32.tif", satest_tmpdir());
	snprintf(cmd, sizeof(cmd), "gdal_translate -q -ot Float32 -of COG "
		 "'%s/B04.tif' '%s'", satest_data(SCENE), local);
	run(cmd);
	srv_add(&f.srv, "f32.tif", local);
	/* float32 samples are read (and the same values as uint16 B04's) */
	CHECK_INT(window1(&f, "f32.tif", &g, &ref, &valid), 0);
	CHECK_INT(window1(&f, "B04.tif", &g, &dn, &ref8), 0);
	CHECK(memcmp(ref, dn, 104 * 91 * 2) == 0);
	CHECK(memcmp(valid, ref8, 104 * 91) == 0);
	free(ref);
	free(dn);
	free(ref8);
	free(valid);
	fx_stop(&f);
}

struct thr {
	struct fx *f;
	const struct sat_render_plan *p;
	const char *path;
	int rc;
};

static void *thr_render(void *arg)
{
	struct thr *t = arg;
	int fd = open(t->path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	t->rc = fd < 0 ? -errno
		       : sat_render_run(t->p, &(struct sat_render_ctx){
					.prio = SAT_FETCH_FOREGROUND }, fd);
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* Two renders at once through one cogread: both right, headers shared
 * (each fetched at most once per thread that missed it). */
SAT_TEST(two_threads)
{
	struct sat_render_plan *p;
	struct thr t[2];
	pthread_t th[2];
	struct fx f;

	fx_start(&f, NULL);
	CHECK_INT(sat_render_plan_new(&p, f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	for (int i = 0; i < 2; i++) {
		t[i] = (struct thr){ &f, p, tmpfile_in(i ? "t1.tif" : "t0.tif"),
				     -1 };
		CHECK(pthread_create(&th[i], NULL, thr_render, &t[i]) == 0);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(t[i].rc, 0);
	}
	check_same_file(tmpfile_in("t0.tif"), tmpfile_in("t1.tif"));
	CHECK(srv_count(&f.srv, 0, true) <= 6);
	int n1 = f.srv.nlog;
	CHECK_INT(fx_render(&f, p, tmpfile_in("t2.tif")), 0);
	CHECK_INT(srv_count(&f.srv, n1, true), 0);
	check_same_file(tmpfile_in("t0.tif"), tmpfile_in("t2.tif"));
	sat_render_plan_free(p);
	fx_stop(&f);
}

/* Products of one scene share their bands' tiles: falsecolor (B8, B4,
 * B3) then truecolor (B4, B3, B2) fetch and decode B04's and B03's tiles
 * once, and only B02's are new. */
SAT_TEST(products_share_tiles)
{
	struct sat_render_plan *fc, *tc;
	struct sat_cogread_stats st;
	struct fx f;
	int n1, runs_b02;

	fx_start(&f, NULL);
	CHECK_INT(sat_render_plan_new(&fc, f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	fx_product(&f, "truecolor", "B4", "B3", "B2", 3000, 1.0, 100);
	CHECK_INT(sat_render_plan_new(&tc, f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	CHECK_INT(fx_render(&f, fc, tmpfile_in("fc.tif")), 0);
	n1 = f.srv.nlog;
	CHECK_INT(fx_render(&f, tc, tmpfile_in("tc.tif")), 0);
	/* B02: one header and its runs of tiles; nothing else */
	runs_b02 = expected_runs(f.srv.files[0].local, &tc->grid);
	CHECK_INT(f.srv.nlog - n1, 1 + runs_b02);
	for (int i = n1; i < f.srv.nlog; i++)
		CHECK_INT(f.srv.log[i].file, 0);
	sat_cogread_get_stats(f.cr, &st);
	CHECK_INT(st.tiles_fetched, 16); /* 4 tiles x 4 distinct bands */
	CHECK_INT(st.tiles_decoded, 16);
	sat_render_plan_free(fc);
	sat_render_plan_free(tc);
	fx_stop(&f);
}

struct thr2 {
	struct fx *f;
	const struct sat_render_plan *p;
	const char *path;
	int rc;
};

static void *thr2_render(void *arg)
{
	struct thr2 *t = arg;

	t->rc = fx_render(t->f, t->p, t->path);
	return NULL;
}

/* Both products at once: a tile on its way for one is waited for by the
 * other, never fetched twice; the files are those made one at a time. */
SAT_TEST(concurrent_products_share_tiles)
{
	struct sat_render_plan *p[2];
	struct sat_cogread_stats st;
	struct thr2 t[2];
	pthread_t th[2];
	struct fx f;

	fx_start(&f, NULL);
	CHECK_INT(sat_render_plan_new(&p[0], f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	fx_product(&f, "truecolor", "B4", "B3", "B2", 3000, 1.0, 100);
	CHECK_INT(sat_render_plan_new(&p[1], f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	for (int i = 0; i < 2; i++) {
		t[i] = (struct thr2){ &f, p[i],
				      tmpfile_in(i ? "ct.tif" : "cf.tif"), -1 };
		CHECK(pthread_create(&th[i], NULL, thr2_render, &t[i]) == 0);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(t[i].rc, 0);
	}
	sat_cogread_get_stats(f.cr, &st);
	CHECK_INT(st.tiles_fetched, 16);
	CHECK_INT(st.tiles_decoded, 16);
	/* each tile range asked for once (headers, at offset 0, may be
	 * fetched by both when both miss them at once) */
	for (int a = 0; a < f.srv.nlog; a++)
		for (int b = a + 1; b < f.srv.nlog; b++)
			CHECK(f.srv.log[a].off == 0 ||
			      f.srv.log[a].file != f.srv.log[b].file ||
			      f.srv.log[a].off != f.srv.log[b].off ||
			      f.srv.log[a].len != f.srv.log[b].len);
	/* the same bytes as one after the other */
	sat_cogread_drop_caches(f.cr);
	CHECK_INT(fx_render(&f, p[1], tmpfile_in("ct2.tif")), 0);
	check_same_file(tmpfile_in("ct.tif"), tmpfile_in("ct2.tif"));
	sat_render_plan_free(p[0]);
	sat_render_plan_free(p[1]);
	fx_stop(&f);
}

/* Under a cap smaller than one render's tiles, idle tiles go least
 * recently used first: the renders stay right, memory stays near the
 * cap, and a tile evicted is fetched again when needed again. */
SAT_TEST(tile_cache_cap)
{
	struct sat_render_plan *p;
	struct sat_cogread_stats st;
	struct fx f;
	size_t cap;

	fx_start(&f, NULL);
	CHECK_INT(sat_render_plan_new(&p, f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	CHECK_INT(fx_render(&f, p, tmpfile_in("big.tif")), 0);
	sat_cogread_get_stats(f.cr, &st);
	CHECK(st.tile_bytes > 0);
	CHECK_INT(st.tiles_evicted, 0);
	/* a cap of about two of its tiles (which keep what the region
	 * covers of them): the next render evicts as it goes */
	cap = 2 * st.tile_bytes / st.tiles_fetched;
	sat_cogread_set_tile_cap(f.cr, cap);
	sat_cogread_drop_caches(f.cr);
	CHECK_INT(fx_render(&f, p, tmpfile_in("small.tif")), 0);
	check_same_file(tmpfile_in("big.tif"), tmpfile_in("small.tif"));
	sat_cogread_get_stats(f.cr, &st);
	CHECK(st.tiles_evicted >= 10);
	CHECK(st.tile_bytes <= cap);
	sat_render_plan_free(p);
	fx_stop(&f);
}

/* ---- crops: tiles keep what their render covers ---- */

/* Reads sample `sample` of href on window w (extent e, may be NULL) and
 * checks it against truth (GDAL's values on grid g, of which w is the
 * part starting at column x0, row y0): every pixel equal and valid. */
static void check_window(struct fx *f, const char *href, uint16_t sample,
			 const struct sat_grid *w, const struct sat_grid *e,
			 const uint16_t *truth, const struct sat_grid *g,
			 uint32_t x0, uint32_t y0)
{
	struct sat_read_band rb = { .href = href, .sample = sample };
	uint8_t *valid = malloc((size_t)w->width * w->height);
	struct sat_read rd = { .grid = w, .bands = &rb, .nbands = 1,
			       .valid = valid, .prio = SAT_FETCH_FOREGROUND,
			       .extent = e };
	size_t bad = 0;

	CHECK_INT(sat_cogread_read(f->cr, &rd), 0);
	CHECK_INT(rb.type, SAT_SAMPLE_U16);
	for (uint32_t y = 0; y < w->height; y++)
		for (uint32_t x = 0; x < w->width; x++) {
			size_t i = (size_t)y * w->width + x;
			uint16_t want = truth[(size_t)(y0 + y) * g->width +
					      x0 + x];

			bad += ((const uint16_t *)rb.values)[i] != want ||
			       !valid[i];
		}
	if (bad)
		fprintf(stderr, "window %ux%u at %u,%u: %zu pixels differ\n",
			w->width, w->height, x0, y0, bad);
	CHECK_INT(bad, 0);
	sat_buf_free(rb.values);
	free(valid);
}

/* Part of grid g: columns [x0, x0 + w), rows [y0, y0 + h). */
static struct sat_grid sub_grid(const struct sat_grid *g, uint32_t x0,
				uint32_t y0, uint32_t w, uint32_t h)
{
	struct sat_grid s = *g;

	s.origin_x = g->origin_x + x0 * g->pixel_size;
	s.origin_y = g->origin_y - y0 * g->pixel_size;
	s.width = w;
	s.height = h;
	return s;
}

/* The 3 x 3 pieces of g cut at columns cut_x[] and rows cut_y[], each
 * read with itself for extent, checked against truth. */
static void check_pieces(struct fx *f, const char *href,
			 const uint16_t *truth, const struct sat_grid *g,
			 const uint32_t cut_x[4], const uint32_t cut_y[4])
{
	for (int j = 0; j < 3; j++)
		for (int i = 0; i < 3; i++) {
			struct sat_grid s = sub_grid(
				g, cut_x[i], cut_y[j], cut_x[i + 1] - cut_x[i],
				cut_y[j + 1] - cut_y[j]);

			check_window(f, href, 0, &s, &s, truth, g, cut_x[i],
				     cut_y[j]);
		}
}

/* A read with its render's extent keeps only the blocks of its tiles
 * that the extent covers, and gives GDAL's values all the same: read
 * whole; in strips of one extent (each tile fetched once); in pieces each
 * its own extent, whose neighbours need more of the same tiles (fetched
 * again, keeping both); from a copy with the horizontal predictor (undone
 * only where kept); on a grid twice as fine as the band (each source
 * pixel gathered twice); and from a pixel-interleaved copy of the bands
 * (three samples a pixel, read one by one). */
SAT_TEST(crops_match_gdal)
{
	struct sat_cogread_stats st, st0;
	struct sat_render_plan *p;
	struct sat_grid full, *g = &full;
	char href[256], local[600], cmd[2048];
	uint16_t *truth;
	uint32_t cut_x[4], cut_y[4];
	uint64_t fetched;
	struct fx f;

	fx_start(&f, NULL);
	CHECK_INT(sat_render_plan_new(&p, f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	/* 700 x 700 of the scene's 1098 x 1098 pixels of 100 m, from 150,
	 * 150: across its tiles' boundary at 512, many blocks of each */
	full = p->grid;
	full.pixel_size = 100;
	full.origin_x = 199980 + 150 * 100;
	full.origin_y = 2800020 - 150 * 100;
	full.width = full.height = 700;
	truth = gdal_warp("B04", g, "NONE");
	snprintf(href, sizeof(href), "http://127.0.0.1:%d/B04.tif",
		 f.srv.port);

	/* whole: crops smaller than the tiles they come from */
	check_window(&f, href, 0, g, g, truth, g, 0, 0);
	sat_cogread_get_stats(f.cr, &st);
	fetched = st.tiles_fetched;
	CHECK_INT(fetched, 4);
	CHECK(st.tile_bytes < fetched * 512 * 512 * 2);
	CHECK_INT(st.tiles_recropped, 0);

	/* strips of one extent: each tile once */
	sat_cogread_drop_caches(f.cr);
	sat_cogread_get_stats(f.cr, &st0);
	for (uint32_t y = 0, h = g->height / 4 + 1; y < g->height; y += h) {
		struct sat_grid s = sub_grid(g, 0, y, g->width,
					     g->height - y < h ? g->height - y
							       : h);

		check_window(&f, href, 0, &s, g, truth, g, 0, y);
	}
	sat_cogread_get_stats(f.cr, &st);
	CHECK_INT(st.tiles_fetched - st0.tiles_fetched, fetched);
	CHECK_INT(st.tiles_recropped, st0.tiles_recropped);

	/* pieces of their own extents, cut off the block boundaries */
	sat_cogread_drop_caches(f.cr);
	cut_x[0] = cut_y[0] = 0;
	/* source columns 300 and 611, rows 303 and 602: a piece's crop of
	 * tile 0,0 (the blocks from 256 on) lacks its neighbour's */
	cut_x[1] = 150;
	cut_x[2] = 461;
	cut_y[1] = 153;
	cut_y[2] = 452;
	cut_x[3] = g->width;
	cut_y[3] = g->height;
	check_pieces(&f, href, truth, g, cut_x, cut_y);
	sat_cogread_get_stats(f.cr, &st);
	CHECK(st.tiles_recropped > 0);
	/* the union was kept: the whole window needs nothing more */
	st0 = st;
	check_window(&f, href, 0, g, g, truth, g, 0, 0);
	sat_cogread_get_stats(f.cr, &st);
	CHECK_INT(st.tiles_fetched, st0.tiles_fetched);

	/* the horizontal predictor, undone only on the rows and up to the
	 * column a crop keeps */
	snprintf(local, sizeof(local), "%s/predictor.tif", satest_tmpdir());
	snprintf(cmd, sizeof(cmd),
		 "gdal_translate -q -of COG -co BLOCKSIZE=512 -co COMPRESS="
		 "DEFLATE -co PREDICTOR=2 '%s/B04.tif' '%s'",
		 satest_data(SCENE), local);
	run(cmd);
	srv_add(&f.srv, "predictor.tif", local);
	snprintf(href, sizeof(href), "http://127.0.0.1:%d/predictor.tif",
		 f.srv.port);
	check_pieces(&f, href, truth, g, cut_x, cut_y);

	/* a grid of 50 m: runs of source pixels each taken twice */
	{
		struct sat_grid fine = *g;
		uint16_t *truth50;

		fine.pixel_size = 50;
		fine.width = fine.height = 2 * 700;
		truth50 = gdal_warp("B04", &fine, "NONE");
		snprintf(href, sizeof(href), "http://127.0.0.1:%d/B04.tif",
			 f.srv.port);
		check_window(&f, href, 0, &fine, &fine, truth50, &fine, 0, 0);
		free(truth50);
	}

	/* three samples a pixel (B08, B04, B03), in tiles of 256 */
	snprintf(local, sizeof(local), "%s/chunky.tif", satest_tmpdir());
	snprintf(cmd, sizeof(cmd),
		 "gdalbuildvrt -q -separate '%s/chunky.vrt' '%s/B08.tif' "
		 "'%s/B04.tif' '%s/B03.tif' && gdal_translate -q -of COG "
		 "-co BLOCKSIZE=256 -co COMPRESS=DEFLATE '%s/chunky.vrt' '%s'",
		 satest_tmpdir(), satest_data(SCENE), satest_data(SCENE),
		 satest_data(SCENE), satest_tmpdir(), local);
	run(cmd);
	srv_add(&f.srv, "chunky.tif", local);
	snprintf(href, sizeof(href), "http://127.0.0.1:%d/chunky.tif",
		 f.srv.port);
	sat_cogread_drop_caches(f.cr);
	for (int j = 0; j < 3; j++) {
		struct sat_grid s = sub_grid(g, cut_x[j], cut_y[j],
					     cut_x[j + 1] - cut_x[j],
					     cut_y[j + 1] - cut_y[j]);

		check_window(&f, href, 1, &s, &s, truth, g, cut_x[j],
			     cut_y[j]);
	}
	check_window(&f, href, 1, g, g, truth, g, 0, 0);
	free(truth);
	sat_render_plan_free(p);
	fx_stop(&f);
}

/* ---- GeoTIFFs of every layout, read through windows, against GDAL ---- */

struct variant {
	char name[64];
	int epsg, bands;
	uint32_t w, h;
	double gt[6];
	char type[16];
	char mask[32];
	int alpha;
};

static bool variant_load(const char *name, struct variant *v)
{
	char path[600], *txt, *line;
	size_t len;

	memset(v, 0, sizeof(*v));
	v->alpha = -1;
	snprintf(v->name, sizeof(v->name), "%s", name);
	snprintf(path, sizeof(path), "%s",
		 satest_src("tests/data/cog-variants/gdal/"));
	strncat(path, name, sizeof(path) - strlen(path) - 5);
	strcat(path, ".txt");
	txt = satest_read_file(path, &len);
	for (line = strtok(txt, "\n"); line; line = strtok(NULL, "\n")) {
		sscanf(line, "size %u %u", &v->w, &v->h);
		sscanf(line, "bands %d", &v->bands);
		sscanf(line, "type %15s", v->type);
		sscanf(line, "epsg %d", &v->epsg);
		sscanf(line, "mask %31s", v->mask);
		sscanf(line, "alpha %d", &v->alpha);
		sscanf(line, "level 0 %*u %*u %lf %lf %lf %lf %lf %lf",
		       &v->gt[0], &v->gt[1], &v->gt[2], &v->gt[3], &v->gt[4],
		       &v->gt[5]);
	}
	free(txt);
	return v->w && v->h && v->bands;
}

static size_t gdal_type_size(const char *t)
{
	return !strcmp(t, "Byte") ? 1
	       : !strcmp(t, "UInt16") || !strcmp(t, "Int16") ? 2
	       : !strcmp(t, "Float64") ? 8
				       : 4;
}

/* Every band of every variant GDAL reads north- or south-up in an EPSG
 * CRS, read on its own full-resolution grid (north-up: a south-up file's
 * rows come out reversed), equals GDAL's values, and is valid exactly
 * where GDAL's mask band of band 1 says (the alpha band itself always). */
SAT_TEST(variants_match_gdal)
{
	char list[600], *names, *name, *save = NULL;
	size_t len, checked = 0;
	struct fx f;

	fx_start(&f, NULL);
	snprintf(list, sizeof(list), "%s",
		 satest_src("tests/data/cog-variants/gdal/index.txt"));
	names = satest_read_file(list, &len);
	for (name = strtok_r(names, "\n", &save); name;
	     name = strtok_r(NULL, "\n", &save)) {
		struct sat_cogread_stats st;
		struct variant v;
		char local[600], url[256], file[80], rawp[600], mp[600];
		uint8_t *raw, *mask;
		size_t rlen, mlen, npix, sz;
		bool south;

		if (!strncmp(name, "crs-", 4) || !variant_load(name, &v) ||
		    v.epsg <= 0 || v.gt[1] != fabs(v.gt[5]))
			continue;
		south = v.gt[5] > 0;
		snprintf(local, sizeof(local), "%s%s.tif",
			 satest_src("tests/data/cog-variants/"), name);
		snprintf(file, sizeof(file), "%s.tif", name);
		if (f.srv.nfiles == NFILES) { /* a new server for the rest */
			fx_stop(&f);
			fx_start(&f, NULL);
		}
		srv_add(&f.srv, file, local);
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/%s", f.srv.port,
			 file);
		snprintf(rawp, sizeof(rawp), "%s%s.0.raw",
			 satest_src("tests/data/cog-variants/gdal/"), name);
		snprintf(mp, sizeof(mp), "%s%s.0.mask",
			 satest_src("tests/data/cog-variants/gdal/"), name);
		raw = (uint8_t *)satest_read_file(rawp, &rlen);
		mask = (uint8_t *)satest_read_file(mp, &mlen);
		npix = (size_t)v.w * v.h;
		sz = gdal_type_size(v.type);
		CHECK_INT(rlen, npix * sz * (size_t)v.bands);
		CHECK_INT(mlen, npix);
		struct sat_grid g = { v.epsg, v.gt[0],
				      south ? v.gt[3] + v.h * v.gt[5] : v.gt[3],
				      v.gt[1], v.w, v.h };
		for (int b = 0; b < v.bands; b++) {
			struct sat_read_band rb = { .href = url,
						    .sample = (uint16_t)b };
			uint8_t *valid = malloc(npix);
			struct sat_read rd = { .grid = &g, .bands = &rb,
					       .nbands = 1, .valid = valid,
					       .prio = SAT_FETCH_FOREGROUND };

			if (sat_cogread_read(f.cr, &rd) != 0) {
				fprintf(stderr, "%s band %d: %s\n", name, b,
					sat_cog_last_error());
				CHECK(!"variant read");
			}
			CHECK_INT(sat_sample_size(rb.type), sz);
			for (size_t i = 0; i < npix; i++) {
				size_t row = i / v.w, col = i % v.w;
				size_t gi = (south ? v.h - 1 - row : row) *
						    v.w + col;
				const uint8_t *want = raw +
						      ((size_t)b * npix + gi) *
							      sz;
				const uint8_t *got = (uint8_t *)rb.values +
						     i * sz;
				bool ok = !memcmp(want, got, sz) ||
					  (rb.type == SAT_SAMPLE_F32 &&
					   isnan(*(const float *)want) &&
					   isnan(*(const float *)got));

				if (!ok || (b != v.alpha &&
					    valid[i] != (mask[gi] != 0)))
					fprintf(stderr, "%s band %d pixel %zu,"
						"%zu: value ok %d, valid %d, "
						"GDAL mask %d\n", name, b, col,
						row, ok, valid[i], mask[gi]);
				CHECK(ok);
				if (b == v.alpha)
					CHECK_INT(valid[i], 1);
				else
					CHECK_INT(valid[i], mask[gi] != 0);
			}
			sat_buf_free(rb.values);
			free(valid);
		}
		sat_cogread_get_stats(f.cr, &st);
		free(raw);
		free(mask);
		checked++;
	}
	fprintf(stderr, "%zu variants match GDAL\n", checked);
	CHECK(checked >= 18);
	free(names);
	fx_stop(&f);
}

/* The files the reader refuses fail the window with the reader's reason
 * for a cause, not a bare errno. */
SAT_TEST(variants_refused_with_reason)
{
	static const struct {
		const char *name, *why;
	} refused[] = {
		{ "refuse-rotated", "rotated" },
		{ "refuse-12bit", "12-bit" },
		{ "refuse-int64", "64" },
		{ "refuse-float16", "16" },
	};
	struct sat_grid g = { 32633, 500000, 4000300, 10, 40, 30 };
	struct fx f;

	fx_start(&f, NULL);
	for (size_t k = 0; k < sizeof(refused) / sizeof(refused[0]); k++) {
		char local[600], file[80], url[256], cause[400];
		uint8_t valid[40 * 30];
		struct sat_read_band rb = { 0 };
		struct sat_read rd = { .grid = &g, .bands = &rb, .nbands = 1,
				       .valid = valid,
				       .prio = SAT_FETCH_FOREGROUND };

		snprintf(local, sizeof(local), "%s%s.tif",
			 satest_src("tests/data/cog-variants/"),
			 refused[k].name);
		snprintf(file, sizeof(file), "%s.tif", refused[k].name);
		srv_add(&f.srv, file, local);
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/%s", f.srv.port,
			 file);
		rb.href = url;
		sat_log_take_cause(cause, sizeof(cause));
		CHECK(sat_cogread_read(f.cr, &rd) != 0);
		sat_log_take_cause(cause, sizeof(cause));
		fprintf(stderr, "%s: %s\n", refused[k].name, cause);
		CHECK(strstr(cause, refused[k].why));
		sat_buf_free(rb.values);
	}
	fx_stop(&f);
}
