/*
 * Unit tests: the analysis products (fs/render*.c, fs/regioncloud.c) on
 * the real 29RKH scene, against references computed from GDAL's reading
 * of the source files: cloud masks from SCL, band math on reflectance
 * (float32 files and pictures through a palette), bands of a multi-band
 * asset, the region cloud cover, the acquisition and cloud tags, and a
 * mosaic of two scenes taking each pixel from the less cloudy one first.
 */
#include "render_fixture.h"

#include "satfs/palette.h"
#include "satfs/regioncloud.h"
#include "satfs/stac.h"

/* A region over the scene's north-east, where SCL has cloud (8, 9) and
 * cirrus (10) beside bare soil: about a third of it cloudy. */
#define CW -11.22
#define CS 25.16
#define CE -11.11
#define CN 25.26

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

/* The fixture over the cloudy region, with SCL served and a plain
 * product (no clip, no outline: alpha is the data's validity alone). */
static void start(struct fx *f)
{
	char scl[600];

	fx_start(f, NULL);
	snprintf(scl, sizeof(scl), "%s/SCL.tif", satest_data(SCENE));
	srv_add(&f->srv, "SCL.tif", scl);
	fx_set_href(f, "scl", "SCL.tif");
	fx_set_href(f, "visual", "TCI.tif");
	sat_region_free(f->region);
	f->region = NULL;
	fx_region(f, CW, CS, CE, CN);
	f->prod.clip = false;
	f->prod.outline = false;
}

/* gdalwarp of any local file onto g, nearest neighbour, as raw samples of
 * `type` (GDAL's -ot), band-sequential. */
static void *warp_file(const char *path, const struct sat_grid *g,
		       const char *type, size_t bytes_per_px)
{
	char cmd[2048], out[512];
	static int n;
	size_t len;
	void *v;

	snprintf(out, sizeof(out), "%s/w%d.raw", satest_tmpdir(), n++);
	snprintf(cmd, sizeof(cmd),
		 "gdalwarp -q -overwrite -ovr NONE -r near -ot %s "
		 "-t_srs EPSG:%d -te %.17g %.17g %.17g %.17g -tr %.17g %.17g "
		 "-of ENVI '%s' '%s'", type, g->epsg, g->origin_x,
		 g->origin_y - g->height * g->pixel_size,
		 g->origin_x + g->width * g->pixel_size, g->origin_y,
		 g->pixel_size, g->pixel_size, path, out);
	run(cmd);
	v = satest_read_file(out, &len);
	CHECK_INT(len, (size_t)g->width * g->height * bytes_per_px);
	return v;
}

static void *warp_band(const char *file, const struct sat_grid *g,
		       const char *type, size_t bpp)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/%s", satest_data(SCENE), file);
	return warp_file(path, g, type, bpp);
}

static bool cloudy(uint8_t c)
{
	return c == 3 || c == 8 || c == 9 || c == 10;
}

/* mask: the pixels whose SCL is cloud, shadow or cirrus are transparent,
 * the others are the picture without a mask, byte for byte. */
SAT_TEST(mask_scl)
{
	struct sat_render_plan *pm, *p0;
	size_t npix, masked = 0, shown = 0;
	uint8_t *scl, *a, *b;
	struct fx f;

	start(&f);
	CHECK_INT(sat_render_plan_new(&p0, f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	f.prod.mask = SAT_SCL_CLOUDY;
	CHECK_INT(sat_render_plan_new(&pm, f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	CHECK_INT(pm->nbands, 4);
	CHECK_INT(pm->scl, 3);
	CHECK(strcmp(pm->key, p0->key) != 0);
	CHECK_INT(fx_render(&f, p0, tmpfile_in("nomask.tif")), 0);
	CHECK_INT(fx_render(&f, pm, tmpfile_in("mask.tif")), 0);
	npix = (size_t)pm->grid.width * pm->grid.height;
	a = gdal_read(tmpfile_in("nomask.tif"), npix * 4);
	b = gdal_read(tmpfile_in("mask.tif"), npix * 4);
	scl = warp_band("SCL.tif", &pm->grid, "Byte", 1);
	for (size_t i = 0; i < npix; i++) {
		bool gone = cloudy(scl[i]);

		if (gone) {
			CHECK_INT(b[3 * npix + i], 0);
			masked += a[3 * npix + i] == 255;
		} else {
			for (int c = 0; c < 4; c++)
				if (a[c * npix + i] != b[c * npix + i])
					CHECK_INT(b[c * npix + i],
						  a[c * npix + i]);
			shown += b[3 * npix + i] == 255;
		}
	}
	fprintf(stderr, "%zu pixels masked, %zu shown\n", masked, shown);
	CHECK(masked > npix / 10 && shown > npix / 10);
	free(a);
	free(b);
	free(scl);
	sat_render_plan_free(p0);
	sat_render_plan_free(pm);
	fx_stop(&f);
}

/* NDVI by band math on reflectance, as float32: exactly what the
 * formula gives on GDAL's DNs, NaN where a band has no data. */
SAT_TEST(ndvi_reflectance)
{
	struct sat_render_plan *p;
	uint16_t *b8, *b4;
	float *got;
	size_t npix, nvalid = 0;
	struct fx f;

	start(&f);
	f.prod.type = SAT_PRODUCT_REFLECTANCE;
	f.prod.nbands = 0;
	f.prod.expression = (char *)"(B08 - B04) / (nir + red)";
	CHECK_INT(sat_render_plan_new(&p, f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	/* nir is B08 and red B04: four names, two bands read */
	CHECK_INT(p->nbands, 4);
	CHECK_INT(p->nout, 1);
	CHECK_INT(p->spec.bits, 32);
	CHECK_INT(p->spec.sample_format, SAT_TIFFOUT_FLOAT);
	CHECK_INT(fx_render(&f, p, tmpfile_in("ndvi.tif")), 0);
	CHECK_INT(file_size(tmpfile_in("ndvi.tif")), p->size_bytes);
	npix = (size_t)p->grid.width * p->grid.height;
	got = (float *)gdal_read(tmpfile_in("ndvi.tif"), npix * 4);
	b8 = warp_band("B08.tif", &p->grid, "UInt16", 2);
	b4 = warp_band("B04.tif", &p->grid, "UInt16", 2);
	for (size_t i = 0; i < npix; i++) {
		double s = p->inputs[0].dn_scale[0], o = p->inputs[0].dn_offset[0];
		double n = b8[i] * s + o, r = b4[i] * s + o;
		float want = b8[i] && b4[i] && n + r != 0
				     ? (float)((n - r) / (n + r))
				     : NAN;

		if (isnan(want)) {
			CHECK(isnan(got[i]));
			continue;
		}
		nvalid++;
		if (got[i] != want)
			CHECK_NEAR(got[i], want, 0);
	}
	CHECK(nvalid > npix / 2);
	free(got);
	free(b8);
	free(b4);
	sat_render_plan_free(p);
	fx_stop(&f);
}

/* The same value as a picture: min..max onto a palette's 256 colours. */
SAT_TEST(ndvi_palette)
{
	struct sat_render_plan *p;
	uint8_t table[256][3], *got;
	uint16_t *b8, *b4;
	char err[200];
	size_t npix;
	struct fx f;

	start(&f);
	f.prod.nbands = 0;
	f.prod.expression = (char *)"(B08 - B04) / (B08 + B04)";
	f.prod.palette = (char *)"rdylgn";
	f.prod.min[0] = -0.1;
	f.prod.max[0] = 0.3;
	CHECK_INT(sat_render_plan_new(&p, f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	CHECK_INT(fx_render(&f, p, tmpfile_in("ndvi_p.tif")), 0);
	free(gdal_info(tmpfile_in("ndvi_p.tif"), &p->grid));
	CHECK_INT(sat_palette_parse("rdylgn", table, err, sizeof(err)), 0);
	npix = (size_t)p->grid.width * p->grid.height;
	got = gdal_read(tmpfile_in("ndvi_p.tif"), npix * 4);
	b8 = warp_band("B08.tif", &p->grid, "UInt16", 2);
	b4 = warp_band("B04.tif", &p->grid, "UInt16", 2);
	for (size_t i = 0; i < npix; i++) {
		double s = p->inputs[0].dn_scale[0], o = p->inputs[0].dn_offset[0];
		double n = b8[i] * s + o, r = b4[i] * s + o, v, t;
		long k;

		if (!b8[i] || !b4[i] || n + r == 0) {
			CHECK_INT(got[3 * npix + i], 0);
			continue;
		}
		v = (n - r) / (n + r);
		t = (v + 0.1) / 0.4;
		k = lround(255 * (t < 0 ? 0 : t > 1 ? 1 : t));
		CHECK_INT(got[3 * npix + i], 255);
		for (int c = 0; c < 3; c++)
			if (got[c * npix + i] != table[k][c])
				CHECK_INT(got[c * npix + i], table[k][c]);
	}
	free(got);
	free(b8);
	free(b4);
	sat_render_plan_free(p);
	fx_stop(&f);
}

/* A band of a multi-band asset: visual:1 and visual:3 are TCI's red and
 * blue, as GDAL reads them. */
SAT_TEST(multiband_asset)
{
	struct sat_render_plan *p;
	uint16_t *got;
	uint8_t *tci;
	size_t npix;
	struct fx f;

	start(&f);
	f.prod.type = SAT_PRODUCT_RAW;
	f.prod.nbands = 2;
	f.prod.bands[0] = (char *)"visual:1";
	f.prod.bands[1] = (char *)"visual:3";
	CHECK_INT(sat_render_plan_new(&p, f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	CHECK_INT(p->inputs[0].samples[0], 0);
	CHECK_INT(p->inputs[0].samples[1], 2);
	CHECK_INT(fx_render(&f, p, tmpfile_in("tci.tif")), 0);
	npix = (size_t)p->grid.width * p->grid.height;
	CHECK_INT(p->spec.bits, 16); /* the catalog does not say: uint16 */
	got = (uint16_t *)gdal_read(tmpfile_in("tci.tif"), npix * 2 * 2);
	tci = warp_band("TCI.tif", &p->grid, "Byte", 3);
	for (size_t i = 0; i < npix; i++) {
		/* TCI has no nodata: every pixel of the scene is valid */
		if (got[i] != tci[i])
			CHECK_INT(got[i], tci[i]);
		if (got[npix + i] != tci[2 * npix + i])
			CHECK_INT(got[npix + i], tci[2 * npix + i]);
	}
	/* a band the asset lacks fails the render with a cause */
	f.prod.bands[1] = (char *)"visual:4";
	sat_render_plan_free(p);
	CHECK_INT(sat_render_plan_new(&p, f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	CHECK_INT(fx_render(&f, p, tmpfile_in("tci4.tif")), -EIO);
	free(got);
	free(tci);
	sat_render_plan_free(p);
	fx_stop(&f);
}

/* Renders p into the temporary file name, of the size its plan said:
 * gdalinfo's report of it. */
static char *render_info(const struct sat_render_plan *p,
			 const struct sat_render_ctx *ctx, const char *name)
{
	CHECK_INT(fx_render_ctx(p, ctx, tmpfile_in(name)), 0);
	CHECK_INT(file_size(tmpfile_in(name)), p->size_bytes);
	return gdal_info(tmpfile_in(name), &p->grid);
}

/* The percentage of cloudy SCL among the region's pixels with data, on
 * the scene's grid at its finest resolution, against GDAL's SCL; the
 * same value in the file's tags. */
SAT_TEST(region_cloud)
{
	struct sat_regioncloud *rc;
	struct sat_render_plan *p;
	struct sat_render_ctx ctx = { .prio = SAT_FETCH_FOREGROUND };
	char hex[SAT_FILEHASH_HEX], want_hex[SAT_FILEHASH_HEX];
	struct sat_filehash fh;
	struct sat_grid g;
	double *xy, pct, want;
	int fd;
	size_t nxy, npix, total = 0, cl = 0;
	uint8_t *scl, *inside;
	char *info, line[64];
	struct fx f;

	start(&f);
	CHECK_INT(sat_render_plan_new(&p, f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	CHECK_INT(sat_regioncloud_new(&rc, NULL), 0);
	CHECK_INT(sat_regioncloud_get(rc, &p->inputs[0], p->ring_lonlat,
				      p->nring_lonlat, SAT_FETCH_FOREGROUND,
				      NULL, &pct), 0);
	/* the reference: SCL on the same grid, by GDAL */
	CHECK_INT(sat_geom_project_ring(p->inputs[0].epsg, p->ring_lonlat,
					p->nring_lonlat, &xy, &nxy), 0);
	CHECK_INT(sat_geom_grid_for_ring(xy, nxy, p->inputs[0].epsg,
					 p->inputs[0].default_scale, &g), 0);
	npix = (size_t)g.width * g.height;
	inside = malloc(npix);
	sat_geom_mask_inside(xy, nxy, &g, inside);
	scl = warp_band("SCL.tif", &g, "Byte", 1);
	for (size_t i = 0; i < npix; i++) {
		if (!inside[i] || !scl[i])
			continue;
		total++;
		cl += cloudy(scl[i]);
	}
	want = round(1000.0 * cl / total) / 10;
	fprintf(stderr, "region cloud %.1f %% (%zu of %zu)\n", pct, cl, total);
	CHECK_NEAR(pct, want, 0);
	CHECK(pct > 5 && pct < 95);
	/* known now, without reading */
	CHECK_INT(sat_regioncloud_peek(rc, &p->inputs[0], &want), 0);
	CHECK_NEAR(want, pct, 0);

	/* in the tags, with the acquisition time and the catalog's cover */
	ctx.clouds = rc;
	info = render_info(p, &ctx, "tags.tif");
	snprintf(line, sizeof(line), "satfs_region_cloud=%.1f\n", pct);
	CHECK(strstr(info, line));
	CHECK(strstr(info, "satfs_datetime=2020-02-19T11:"));
	CHECK(strstr(info, "satfs_cloud_cover="));
	free(info);
	/* and in GDAL's IMAGERY domain */
	{
		char cmd[1200], *out;
		size_t len;

		snprintf(cmd, sizeof(cmd), "gdalinfo -mdd IMAGERY '%s' > '%s'",
			 tmpfile_in("tags.tif"), tmpfile_in("imagery.txt"));
		run(cmd);
		out = satest_read_file(tmpfile_in("imagery.txt"), &len);
		CHECK(strstr(out, "ACQUISITIONDATETIME=2020-02-19T11:"));
		CHECK(strstr(out, "CLOUDCOVER="));
		free(out);
	}
	/* Not known when the render starts: counted while it draws (the
	 * metadata goes in after the tiles), the same value in the tags. */
	sat_regioncloud_free(rc);
	CHECK_INT(sat_regioncloud_new(&rc, NULL), 0);
	ctx.clouds = rc;
	/* the digest taken as it was written is the file's, late metadata
	 * and all, with only the directory read back */
	sat_filehash_init(&fh);
	ctx.hash = &fh;
	info = render_info(p, &ctx, "tags2.tif");
	CHECK(strstr(info, line));
	free(info);
	fd = open(tmpfile_in("tags2.tif"), O_RDONLY);
	CHECK(fd >= 0);
	CHECK_INT(sat_filehash_final(&fh, fd, hex), 0);
	close(fd);
	CHECK(fh.read_back > 0 && fh.read_back < 4096);
	satest_xxh128sum(tmpfile_in("tags2.tif"), want_hex);
	CHECK_STR(hex, want_hex);
	free(scl);
	free(inside);
	free(xy);
	sat_regioncloud_free(rc);
	sat_render_plan_free(p);
	fx_stop(&f);
}

/* A scene made from the fixture's item with another id (and so other
 * cache keys), its hrefs on the fixture server. */
static struct sat_scene *scene_copy(struct fx *f, const char *id)
{
	size_t len, nitems = 0, skipped = 0;
	struct sat_scene **items = NULL, *s;
	struct sat_stac_request next;
	char *item, *page, *at;
	bool has_next;

	item = satest_read_file(satest_data(SCENE "/S2A_29RKH_20200219_"
						"0_L2A.json"), &len);
	at = strstr(item, "\"id\": \"S2A_29RKH_20200219_0_L2A\"");
	if (!at)
		at = strstr(item, "\"id\":\"S2A_29RKH_20200219_0_L2A\"");
	CHECK(at);
	at = strstr(at, "S2A_29RKH");
	CHECK(strlen(id) == strlen("S2A_29RKH_20200219_0_L2A"));
	memcpy(at, id, strlen(id));
	page = malloc(len + 64);
	len = (size_t)sprintf(page, "{\"type\":\"FeatureCollection\","
			      "\"features\":[%s]}", item);
	memset(&next, 0, sizeof(next));
	CHECK_INT(sat_stac_parse_page(page, len, NULL, NULL, &items, &nitems,
				      &skipped, &next, &has_next), 0);
	CHECK_INT(nitems, 1);
	s = items[0];
	s->source = &f->source.base;
	free(items);
	free(item);
	free(page);
	sat_stac_request_clear(&next);
	return s;
}

static void set_href(struct fx *f, struct sat_scene *s, const char *key,
		     const char *file)
{
	char url[256];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/%s", f->srv.port,
		 file);
	for (size_t i = 0; i < s->nassets; i++)
		if (strcmp(s->assets[i].key, key) == 0) {
			free(s->assets[i].href);
			s->assets[i].href = strdup(url);
			return;
		}
	CHECK(!"asset key present");
}

/* A mosaic of two scenes: B, all clear (its SCL says vegetation, 4) but
 * with a hole in its red band, goes first; A, a third cloudy, fills B's
 * hole. Every pixel is B's where B has it, else A's, as each renders
 * alone; the tags list both scenes' cloud covers in the plan's order. */
SAT_TEST(mosaic)
{
	struct sat_render_plan *pa, *pb, *pm;
	const struct sat_scene *two[2];
	struct sat_regioncloud *rc;
	struct sat_render_ctx ctx = { .prio = SAT_FETCH_FOREGROUND };
	struct sat_scene *b;
	char cmd[4096], clear[512], holed[512], *info;
	uint8_t *ma, *mb, *mm;
	size_t npix, from_a = 0, from_b = 0;
	struct fx f;

	start(&f);
	snprintf(clear, sizeof(clear), "%s/scl_clear.tif", satest_tmpdir());
	snprintf(holed, sizeof(holed), "%s/b04_holed.tif", satest_tmpdir());
	/* SCL all 4; B04 with a block of nodata (0) */
	snprintf(cmd, sizeof(cmd), "gdal_translate -q -scale 0 255 4 4 "
		 "-a_nodata 0 -of COG '%s/SCL.tif' '%s'",
		 satest_data(SCENE), clear);
	run(cmd);
	snprintf(cmd, sizeof(cmd), "gdal_translate -q -of GTiff '%s/B04.tif' "
		 "'%s.tmp.tif'", satest_data(SCENE), holed);
	run(cmd);
	/* the hole: the region's east half (lon/lat; GDAL reprojects it),
	 * burnt to 0 by GDAL */
	snprintf(cmd, sizeof(cmd),
		 "echo '{\"type\":\"Polygon\",\"coordinates\":[[[-11.16,"
		 "25.27],[-11.05,25.27],[-11.05,25.17],[-11.16,25.17],"
		 "[-11.16,25.27]]]}' > '%s.json' && gdal_rasterize -q -b 1 "
		 "-burn 0 '%s.json' '%s.tmp.tif' && gdal_translate -q -of COG "
		 "-a_nodata 0 '%s.tmp.tif' '%s'", holed, holed, holed, holed,
		 holed);
	run(cmd);
	srv_add(&f.srv, "scl_clear.tif", clear);
	srv_add(&f.srv, "b04_holed.tif", holed);
	b = scene_copy(&f, "S2A_29RKH_20200219_9_L2A");
	set_href(&f, b, "blue", "B02.tif");
	set_href(&f, b, "green", "B03.tif");
	set_href(&f, b, "red", "b04_holed.tif");
	set_href(&f, b, "nir", "B08.tif");
	set_href(&f, b, "scl", "scl_clear.tif");

	CHECK_INT(sat_regioncloud_new(&rc, NULL), 0);
	ctx.clouds = rc;
	CHECK_INT(sat_render_plan_new(&pa, f.scene, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	CHECK_INT(sat_render_plan_new(&pb, b, &f.prod, f.region,
				      SAT_OFFSET_AUTO), 0);
	two[0] = f.scene; /* A first in the plan: the run puts B first */
	two[1] = b;
	CHECK_INT(sat_render_plan_new_mosaic(&pm, "mosaic", two, 2, &f.prod,
					     f.region, SAT_OFFSET_AUTO), 0);
	CHECK_INT(pm->ninputs, 2);
	CHECK(memcmp(&pm->grid, &pa->grid, sizeof(pa->grid)) == 0);
	CHECK(strcmp(pm->key, pa->key) != 0);
	CHECK_INT(fx_render_ctx(pa, &ctx, tmpfile_in("ma.tif")), 0);
	CHECK_INT(fx_render_ctx(pb, &ctx, tmpfile_in("mb.tif")), 0);
	CHECK_INT(fx_render_ctx(pm, &ctx, tmpfile_in("mm.tif")), 0);
	CHECK_INT(file_size(tmpfile_in("mm.tif")), pm->size_bytes);
	npix = (size_t)pm->grid.width * pm->grid.height;
	ma = gdal_read(tmpfile_in("ma.tif"), npix * 4);
	mb = gdal_read(tmpfile_in("mb.tif"), npix * 4);
	mm = gdal_read(tmpfile_in("mm.tif"), npix * 4);
	for (size_t i = 0; i < npix; i++) {
		const uint8_t *want = mb[3 * npix + i] ? mb : ma;

		from_b += mb[3 * npix + i] != 0;
		from_a += !mb[3 * npix + i] && ma[3 * npix + i];
		for (int c = 0; c < 4; c++)
			if (mm[c * npix + i] != want[c * npix + i])
				CHECK_INT(mm[c * npix + i], want[c * npix + i]);
	}
	fprintf(stderr, "mosaic: %zu pixels from B, %zu from A\n", from_b,
		from_a);
	CHECK(from_a > 100 && from_b > npix / 2);
	snprintf(cmd, sizeof(cmd), "gdalinfo '%s' > '%s'",
		 tmpfile_in("mm.tif"), tmpfile_in("mm.txt"));
	run(cmd);
	info = satest_read_file(tmpfile_in("mm.txt"), &npix);
	CHECK(strstr(info, "satfs_item=mosaic"));
	CHECK(strstr(info, "satfs_scenes=S2A_29RKH_20200219_0_L2A,"
			   "S2A_29RKH_20200219_9_L2A"));
	CHECK(strstr(info, ",0.0\n")); /* B: clear */
	free(info);
	free(ma);
	free(mb);
	free(mm);
	sat_render_plan_free(pa);
	sat_render_plan_free(pb);
	sat_render_plan_free(pm);
	sat_regioncloud_free(rc);
	sat_scene_free(b);
	fx_stop(&f);
}
