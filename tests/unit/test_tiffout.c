/* Unit tests for fs/tiffout.c: exact sizes, and GDAL (the independent
 * reader) reading back tags, georeferencing and every pixel. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "satest.h"
#include "satfs/cache.h"
#include "satfs/geom.h"
#include "satfs/tiffout.h"
#include "tiff_walk.h"

#include <signal.h>
#include <sys/resource.h>

#define T SAT_TIFFOUT_TILE

/* The value of a sample at image pixel (x, y), band b: every pixel of
 * every band differs from its neighbours. */
static unsigned pattern(uint32_t x, uint32_t y, unsigned b, unsigned bits)
{
	unsigned v = x * 7 + y * 13 + b * 61 + (x * y) % 11;

	return bits == 8 ? v & 0xff : (x * 131 + y * 257 + b * 4099) & 0xffff;
}

struct fill_ctx {
	const struct sat_tiffout_spec *spec;
	int calls;
	int fail_at;    /* return fail_err on that call (1-based), 0: never */
	int fail_err;
	uint8_t junk;   /* what to put past the image edge */
	uint32_t last_tx, last_ty;
	int order_ok;
	const char *late;   /* what late_metadata gives */
	int late_calls;     /* how often it was called */
	int calls_at_late;  /* tiles filled when it was */
};

static int fill_pattern(uint32_t tx, uint32_t ty, uint8_t *buf, void *p)
{
	struct fill_ctx *c = p;
	const struct sat_tiffout_spec *s = c->spec;
	unsigned bytes = s->bits / 8;

	c->calls++;
	/* row-major order, each tile once */
	if (c->calls > 1 && !(ty > c->last_ty ||
			      (ty == c->last_ty && tx == c->last_tx + 1)))
		c->order_ok = 0;
	c->last_tx = tx;
	c->last_ty = ty;
	if (c->fail_at && c->calls == c->fail_at)
		return c->fail_err;
	for (uint32_t j = 0; j < T; j++) {
		for (uint32_t i = 0; i < T; i++) {
			uint32_t x = tx * T + i, y = ty * T + j;
			uint8_t *px = buf + ((size_t)j * T + i) * s->samples *
						    bytes;

			for (unsigned b = 0; b < s->samples; b++) {
				unsigned v = pattern(x, y, b, s->bits);

				if (x >= s->grid->width || y >= s->grid->height)
					v = c->junk | c->junk << 8;
				if (bytes == 1)
					px[b] = (uint8_t)v;
				else
					memcpy(px + 2 * b, &(uint16_t){ v }, 2);
			}
		}
	}
	return 0;
}

static int write_file(const char *path, const struct sat_tiffout_spec *s,
		      struct fill_ctx *c)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	int ret;

	CHECK(fd >= 0);
	c->spec = s;
	c->order_ok = 1;
	ret = sat_tiffout_write(fd, s, fill_pattern, c);
	close(fd);
	return ret;
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	CHECK_INT(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

/* Runs cmd with stderr joined to stdout; returns its output (malloc'd)
 * and, in *status, its exit status. */
static char *run(const char *cmd, int *status)
{
	char full[4096];
	size_t len = 0, cap = 65536;
	char *out = malloc(cap);
	FILE *p;
	size_t n;

	snprintf(full, sizeof(full), "%s 2>&1", cmd);
	p = popen(full, "r");
	CHECK(p != NULL);
	while ((n = fread(out + len, 1, cap - len - 1, p)) > 0) {
		len += n;
		if (cap - len < 4096)
			out = realloc(out, cap *= 2);
	}
	out[len] = 0;
	*status = pclose(p);
	return out;
}

static void need_gdal(void)
{
	satest_need_program("gdalinfo");
	satest_need_program("gdalsrsinfo");
}

/* gdalinfo -json, with the whitespace outside strings removed so that
 * the checks below can look for exact fragments. */
static char *gdalinfo(const char *path)
{
	char cmd[1024];
	char *out, *w;
	int st, in_str = 0;

	snprintf(cmd, sizeof(cmd), "gdalinfo -json '%s'", path);
	out = run(cmd, &st);
	if (st != 0 || strstr(out, "Warning") || strstr(out, "ERROR")) {
		fprintf(stderr, "%s\n", out);
		satest_fail(__FILE__, __LINE__, "gdalinfo clean", cmd);
	}
	w = out;
	for (char *r = out; *r; r++) {
		if (*r == '"' && (r == out || r[-1] != '\\'))
			in_str = !in_str;
		if (!in_str && (*r == ' ' || *r == '\n' || *r == '\r'))
			continue;
		*w++ = *r;
	}
	*w = 0;
	return out;
}

static void check_has(const char *json, const char *frag)
{
	if (!strstr(json, frag)) {
		fprintf(stderr, "%s\n", json);
		satest_fail(__FILE__, __LINE__, "gdalinfo has", frag);
	}
}

static size_t count_of(const char *s, const char *frag)
{
	size_t n = 0;

	for (const char *p = s; (p = strstr(p, frag)); p += strlen(frag))
		n++;
	return n;
}

static void check_geotransform(const char *json, const struct sat_grid *g)
{
	const char *p = strstr(json, "\"geoTransform\":[");
	double gt[6];

	CHECK(p != NULL);
	p += strlen("\"geoTransform\":[");
	for (int i = 0; i < 6; i++) {
		char *end;

		gt[i] = strtod(p, &end);
		CHECK(end != p);
		p = end + 1;
	}
	CHECK_NEAR(gt[0], g->origin_x, 1e-9);
	CHECK_NEAR(gt[1], g->pixel_size, 1e-12);
	CHECK_NEAR(gt[2], 0, 0);
	CHECK_NEAR(gt[3], g->origin_y, 1e-9);
	CHECK_NEAR(gt[4], 0, 0);
	CHECK_NEAR(gt[5], -g->pixel_size, 1e-12);
}

static void check_epsg(const char *path, int epsg)
{
	char cmd[1024], want[32];
	char *out;
	int st;

	snprintf(cmd, sizeof(cmd), "gdalsrsinfo -o epsg '%s'", path);
	out = run(cmd, &st);
	CHECK_INT(st, 0);
	snprintf(want, sizeof(want), "EPSG:%d\n", epsg);
	if (!strstr(out, want))
		satest_fail(__FILE__, __LINE__, want, out);
	free(out);
}

/* Converts to raw ENVI (band sequential) with GDAL and compares every
 * sample with the pattern. */
static void check_pixels(const char *path, const struct sat_tiffout_spec *s)
{
	const struct sat_grid *g = s->grid;
	unsigned bytes = s->bits / 8;
	char cmd[2048], raw[1024];
	size_t len;
	uint8_t *data;
	char *out;
	int st;

	snprintf(raw, sizeof(raw), "%s.raw", path);
	snprintf(cmd, sizeof(cmd),
		 "gdal_translate -q -of ENVI -co INTERLEAVE=BSQ '%s' '%s'",
		 path, raw);
	out = run(cmd, &st);
	if (st != 0 || out[0])
		satest_fail(__FILE__, __LINE__, "gdal_translate clean", out);
	free(out);
	data = (uint8_t *)satest_read_file(raw, &len);
	CHECK_INT(len, (size_t)g->width * g->height * s->samples * bytes);
	for (unsigned b = 0; b < s->samples; b++) {
		for (uint32_t y = 0; y < g->height; y++) {
			for (uint32_t x = 0; x < g->width; x++) {
				size_t i = ((size_t)b * g->height + y) *
						   g->width + x;
				unsigned got = data[i];

				if (bytes == 2) {
					uint16_t v;

					memcpy(&v, data + 2 * i, 2);
					got = v;
				}
				if (got != pattern(x, y, b, s->bits)) {
					char d[96];

					snprintf(d, sizeof(d),
						 "band %u x %u y %u: %u", b, x,
						 y, got);
					satest_fail(__FILE__, __LINE__,
						    "pixel", d);
				}
			}
		}
	}
	free(data);
}

static const char *md_xml =
	"<GDALMetadata>\n"
	"  <Item name=\"SATFS_ITEM\">S2B_17PMK_20240103_0_L2A</Item>\n"
	"  <Item name=\"SATFS_OFFSET\">-1000</Item>\n"
	"  <Item name=\"SATFS_PRODUCT\">falsecolor</Item>\n"
	"</GDALMetadata>";

SAT_TEST(gdal_reads_rgba)
{
	struct sat_grid g = { 32617, 337030, 933340, 10, 1000, 333 };
	struct sat_tiffout_spec s = { &g, 4, 8, true, md_xml, NULL,
				      0, NULL, NULL };
	struct fill_ctx c = { .junk = 0xab };
	char path[512];
	uint64_t size;
	char *j;

	need_gdal();
	snprintf(path, sizeof(path), "%s/rgba.tif", satest_tmpdir());
	CHECK_INT(write_file(path, &s, &c), 0);
	CHECK_INT(c.calls, 4 * 2);
	CHECK(c.order_ok);
	CHECK_INT(sat_tiffout_size(&s, &size), 0);
	CHECK_INT(file_size(path), size);

	j = gdalinfo(path);
	check_has(j, "\"driverShortName\":\"GTiff\"");
	check_has(j, "\"size\":[1000,333]");
	check_geotransform(j, &g);
	check_has(j, "32617");
	CHECK_INT(count_of(j, "\"band\":"), 4);
	check_has(j, "\"colorInterpretation\":\"Red\"");
	check_has(j, "\"colorInterpretation\":\"Green\"");
	check_has(j, "\"colorInterpretation\":\"Blue\"");
	check_has(j, "\"colorInterpretation\":\"Alpha\"");
	CHECK_INT(count_of(j, "\"block\":[256,256]"), 4);
	CHECK_INT(count_of(j, "\"type\":\"Byte\""), 4);
	check_has(j, "\"SATFS_ITEM\":\"S2B_17PMK_20240103_0_L2A\"");
	check_has(j, "\"SATFS_OFFSET\":\"-1000\"");
	check_has(j, "\"SATFS_PRODUCT\":\"falsecolor\"");
	check_has(j, "\"INTERLEAVE\":\"PIXEL\"");
	check_has(j, "\"AREA_OR_POINT\":\"Area\"");
	CHECK(strstr(j, "COMPRESSION") == NULL);
	CHECK(strstr(j, "noDataValue") == NULL);
	free(j);
	check_epsg(path, 32617);
	check_pixels(path, &s);
}

SAT_TEST(gdal_reads_raw16)
{
	struct sat_grid g = { 32633, 499980, 5300040, 20, 300, 257 };
	struct sat_tiffout_spec s = { &g, 3, 16, false, md_xml, "0",
				      0, NULL, NULL };
	struct sat_tiffout_spec s1 = { &g, 1, 16, false, NULL, "0",
				       0, NULL, NULL };
	struct fill_ctx c = { .junk = 0x5a };
	char path[512];
	uint64_t size;
	char *j;

	need_gdal();
	snprintf(path, sizeof(path), "%s/raw3.tif", satest_tmpdir());
	CHECK_INT(write_file(path, &s, &c), 0);
	CHECK_INT(sat_tiffout_size(&s, &size), 0);
	CHECK_INT(file_size(path), size);
	j = gdalinfo(path);
	check_has(j, "\"size\":[300,257]");
	check_geotransform(j, &g);
	CHECK_INT(count_of(j, "\"band\":"), 3);
	CHECK_INT(count_of(j, "\"type\":\"UInt16\""), 3);
	CHECK_INT(count_of(j, "\"noDataValue\":0"), 3);
	CHECK_INT(count_of(j, "\"block\":[256,256]"), 3);
	CHECK(strstr(j, "COMPRESSION") == NULL);
	CHECK(strstr(j, "Alpha") == NULL);
	free(j);
	check_epsg(path, 32633);
	check_pixels(path, &s);

	snprintf(path, sizeof(path), "%s/raw1.tif", satest_tmpdir());
	CHECK_INT(write_file(path, &s1, &c), 0);
	CHECK_INT(sat_tiffout_size(&s1, &size), 0);
	CHECK_INT(file_size(path), size);
	j = gdalinfo(path);
	CHECK_INT(count_of(j, "\"band\":"), 1);
	check_has(j, "\"colorInterpretation\":\"Gray\"");
	check_has(j, "\"noDataValue\":0");
	free(j);
	check_pixels(path, &s1);
}

/* Two samples with alpha: grey and alpha; GeoKeys for a geographic CRS. */
SAT_TEST(gdal_reads_geographic)
{
	struct sat_grid g = { 4326, -82.48, 8.4408, 0.0001, 900, 900 };
	struct sat_tiffout_spec s = { &g, 2, 8, true, NULL, NULL,
				      0, NULL, NULL };
	struct fill_ctx c = { 0 };
	char path[512];
	char *j;

	need_gdal();
	snprintf(path, sizeof(path), "%s/geo.tif", satest_tmpdir());
	CHECK_INT(write_file(path, &s, &c), 0);
	CHECK_INT(c.calls, 16);
	j = gdalinfo(path);
	check_geotransform(j, &g);
	check_has(j, "\"colorInterpretation\":\"Gray\"");
	check_has(j, "\"colorInterpretation\":\"Alpha\"");
	free(j);
	check_epsg(path, 4326);
	check_pixels(path, &s);

	/* a projected CRS among the 4000s: World Equidistant Cylindrical */
	struct sat_grid g2 = { 4087, -9181000, 934000, 30, 40, 30 };
	struct sat_tiffout_spec s2 = { &g2, 4, 8, true, NULL, NULL,
				       0, NULL, NULL };

	snprintf(path, sizeof(path), "%s/eqc.tif", satest_tmpdir());
	CHECK_INT(write_file(path, &s2, &c), 0);
	j = gdalinfo(path);
	check_geotransform(j, &g2);
	free(j);
	check_epsg(path, 4087);
}

/* The size of every kind of file, against what write makes. */
SAT_TEST(size_is_exact)
{
	static const uint32_t dims[][2] = {
		{ 1, 1 },     { 255, 255 }, { 256, 256 }, { 257, 257 },
		{ 1000, 333 }, { 333, 1000 }, { 513, 1 }, { 1, 600 },
	};
	static const struct {
		uint16_t samples, bits;
		bool alpha;
	} kinds[] = {
		{ 4, 8, true }, { 1, 16, false }, { 2, 16, false },
		{ 3, 16, false }, { 2, 8, true },
	};
	static const char *mds[] = {
		NULL, "", "x", "<GDALMetadata></GDALMetadata>",
		"<GDALMetadata><Item name=\"A\">odd</Item></GDALMetadata>",
	};
	static const char *nds[] = { NULL, "0", "65535" };
	char path[512];
	char big[1001];
	int n = 0;

	memset(big, 'm', 1000);
	big[1000] = 0;
	snprintf(path, sizeof(path), "%s/s.tif", satest_tmpdir());
	for (size_t d = 0; d < sizeof(dims) / sizeof(dims[0]); d++) {
		for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			struct sat_grid g = { 32617, 300000, 9000000, 10,
					      dims[d][0], dims[d][1] };
			size_t v = d * 5 + k;
			struct sat_tiffout_spec s = {
				&g, kinds[k].samples, kinds[k].bits,
				kinds[k].alpha,
				v % 6 == 5 ? big : mds[v % 5], nds[v % 3], 0,
				NULL, NULL,
			};
			struct fill_ctx c = { .junk = (uint8_t)v };
			uint64_t size, size2;

			CHECK_INT(sat_tiffout_size(&s, &size), 0);
			CHECK_INT(sat_tiffout_size(&s, &size2), 0);
			CHECK_INT(size, size2);
			CHECK_INT(write_file(path, &s, &c), 0);
			if (file_size(path) != size) {
				char msg[128];

				snprintf(msg, sizeof(msg),
					 "%ux%u spp %u bits %u: %llu != %llu",
					 g.width, g.height, s.samples, s.bits,
					 (unsigned long long)file_size(path),
					 (unsigned long long)size);
				satest_fail(__FILE__, __LINE__, "size", msg);
			}
			/* the tiles are all there, uncompressed */
			uint64_t tiles = ((g.width + T - 1) / T) *
					 ((g.height + T - 1) / T);
			CHECK(size > tiles * T * T * s.samples * s.bits / 8);
			CHECK(size < tiles * T * T * s.samples * s.bits / 8 +
					     2048);
			n++;
		}
	}
	CHECK_INT(n, 40);
}

/* Each metadata length once, odd and even, for the same image. */
SAT_TEST(size_metadata_lengths)
{
	struct sat_grid g = { 32617, 300000, 9000000, 10, 300, 200 };
	char md[64], path[512];
	uint64_t prev[2] = { 0, 0 };

	snprintf(path, sizeof(path), "%s/m.tif", satest_tmpdir());
	for (int len = 0; len < 40; len++) {
		struct sat_tiffout_spec s = { &g, 4, 8, true, md,
					      len % 2 ? "255" : NULL,
					      0, NULL, NULL };
		struct fill_ctx c = { 0 };
		uint64_t size;

		memset(md, 'a' + len % 26, (size_t)len);
		md[len] = 0;
		CHECK_INT(sat_tiffout_size(&s, &size), 0);
		CHECK_INT(write_file(path, &s, &c), 0);
		CHECK_INT(file_size(path), size);
		/* no shorter for a longer string, nodata alike */
		if (len >= 2)
			CHECK(size >= prev[len % 2]);
		prev[len % 2] = size;
	}
}

static int late_md(const char **metadata, void *payload)
{
	struct fill_ctx *c = payload;

	c->late_calls++;
	c->calls_at_late = c->calls;
	*metadata = c->late;
	return 0;
}

/* The metadata given after the last tile replaces the placeholder, which
 * laid the file out: the size stays the one announced, GDAL reads the
 * new value, and sizing never asks for it. One of another length would
 * move the layout: refused. */
SAT_TEST(late_metadata)
{
	struct sat_grid g = { 32617, 300000, 9000000, 10, 600, 300 };
	struct sat_tiffout_spec s = { &g, 4, 8, true, md_xml, NULL,
				      0, NULL, NULL };
	char path[512], *late = strdup(md_xml), *j;
	struct fill_ctx c = { .late = late };
	uint64_t size;

	need_gdal();
	memcpy(strstr(late, "-1000"), "-2500", 5);
	s.late_metadata = late_md;
	CHECK_INT(sat_tiffout_size(&s, &size), 0);
	CHECK_INT(c.late_calls, 0);
	snprintf(path, sizeof(path), "%s/late.tif", satest_tmpdir());
	CHECK_INT(write_file(path, &s, &c), 0);
	CHECK_INT(c.late_calls, 1);
	CHECK_INT(c.calls_at_late, 3 * 2); /* after every tile */
	CHECK_INT(file_size(path), size);
	j = gdalinfo(path);
	check_has(j, "\"SATFS_OFFSET\":\"-2500\"");
	CHECK(strstr(j, "-1000") == NULL);
	free(j);
	check_pixels(path, &s);
	/* one byte longer: the write fails */
	free(late);
	late = malloc(strlen(md_xml) + 2);
	sprintf(late, "%s ", md_xml);
	c = (struct fill_ctx){ .late = late };
	CHECK_INT(write_file(path, &s, &c), -EINVAL);
	CHECK_INT(c.late_calls, 1);
	free(late);
}

/* The digest fed while writing is the file's XXH3-128 (xxhsum's), and
 * only the directory, written out of order at the end, is read back: the
 * header libtiff rewrites last was announced, as the layout gave it. */
SAT_TEST(digest_taken_while_writing)
{
	struct sat_grid g = { 32617, 300000, 9000000, 10, 600, 300 };
	struct sat_tiffout_spec s = { &g, 4, 8, true, md_xml, NULL, 0, NULL,
				      NULL };
	char path[512], *late = strdup(md_xml);
	struct fill_ctx c = { .late = late, .spec = &s };
	char hex[SAT_FILEHASH_HEX], want[SAT_FILEHASH_HEX];
	uint8_t header[SAT_TIFFOUT_HEADER_MAX];
	struct sat_filehash fh;
	size_t nheader;
	uint64_t size;
	int fd;

	memcpy(strstr(late, "-1000"), "-2500", 5);
	s.late_metadata = late_md;
	s.hash = &fh;
	CHECK_INT(sat_tiffout_layout(&s, &size, header, &nheader), 0);
	CHECK_INT(nheader, 8); /* classic TIFF */
	snprintf(path, sizeof(path), "%s/digest.tif", satest_tmpdir());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	sat_filehash_init(&fh);
	sat_filehash_expect(&fh, header, nheader);
	CHECK_INT(sat_tiffout_write(fd, &s, fill_pattern, &c), 0);
	CHECK_INT(sat_filehash_final(&fh, fd, hex), 0);
	close(fd);
	CHECK_INT(file_size(path), size);
	CHECK(fh.read_back > 0 && fh.read_back < 4096);
	satest_xxh128sum(path, want);
	CHECK_STR(hex, want);
	free(late);
}

/* Whatever the callback leaves past the image edge, the bytes are the
 * same; and an old longer file is cut to size. */
SAT_TEST(output_is_deterministic)
{
	struct sat_grid g = { 32617, 300000, 9000000, 10, 300, 270 };
	struct sat_tiffout_spec s = { &g, 4, 8, true, md_xml, NULL,
				      0, NULL, NULL };
	struct fill_ctx c1 = { .junk = 0x11 }, c2 = { .junk = 0xee };
	char p1[512], p2[512];
	size_t l1, l2;
	char *d1, *d2;
	uint64_t size;
	int fd;

	snprintf(p1, sizeof(p1), "%s/a.tif", satest_tmpdir());
	snprintf(p2, sizeof(p2), "%s/b.tif", satest_tmpdir());
	CHECK_INT(write_file(p1, &s, &c1), 0);
	/* b.tif starts as a longer file */
	fd = open(p2, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK_INT(ftruncate(fd, 10 << 20), 0);
	c2.spec = &s;
	CHECK_INT(sat_tiffout_write(fd, &s, fill_pattern, &c2), 0);
	close(fd);
	d1 = satest_read_file(p1, &l1);
	d2 = satest_read_file(p2, &l2);
	CHECK_INT(sat_tiffout_size(&s, &size), 0);
	CHECK_INT(l1, size);
	CHECK_INT(l2, size);
	CHECK(memcmp(d1, d2, l1) == 0);
	free(d1);
	free(d2);
}

SAT_TEST(enospc)
{
	struct sat_grid g = { 32617, 300000, 9000000, 10, 600, 600 };
	struct sat_tiffout_spec s = { &g, 4, 8, true, md_xml, NULL,
				      0, NULL, NULL };
	struct fill_ctx c = { .spec = &s };
	int fd = open("/dev/full", O_RDWR);

	if (fd < 0)
		satest_skip("/dev/full not available");
	CHECK_INT(sat_tiffout_write(fd, &s, fill_pattern, &c), -ENOSPC);
	close(fd);
}

SAT_TEST(fill_error_aborts)
{
	struct sat_grid g = { 32617, 300000, 9000000, 10, 600, 600 };
	struct sat_tiffout_spec s = { &g, 4, 8, true, NULL, NULL,
				      0, NULL, NULL };
	struct fill_ctx c = { .fail_at = 5, .fail_err = -EBADMSG };
	char path[512];

	snprintf(path, sizeof(path), "%s/f.tif", satest_tmpdir());
	CHECK_INT(write_file(path, &s, &c), -EBADMSG);
	CHECK_INT(c.calls, 5);
	CHECK(c.order_ok);
}

SAT_TEST(invalid_spec)
{
	struct sat_grid g = { 32617, 300000, 9000000, 10, 100, 100 };
	struct sat_tiffout_spec ok = { &g, 4, 8, true, NULL, NULL,
				       0, NULL, NULL };
	struct sat_tiffout_spec s;
	struct fill_ctx c = { 0 };
	char path[512];
	uint64_t size = 1;

	snprintf(path, sizeof(path), "%s/i.tif", satest_tmpdir());
	CHECK_INT(sat_tiffout_size(&ok, &size), 0);
	CHECK(size > 0);

	s = ok, s.bits = 12;
	CHECK_INT(sat_tiffout_size(&s, &size), -EINVAL);
	CHECK_INT(size, 0);
	CHECK_INT(write_file(path, &s, &c), -EINVAL);
	CHECK_INT(c.calls, 0);
	s = ok, s.samples = 0;
	CHECK_INT(sat_tiffout_size(&s, &size), -EINVAL);
	s = ok, s.samples = SAT_TIFFOUT_MAX_SAMPLES + 1;
	CHECK_INT(sat_tiffout_size(&s, &size), -EINVAL);
	s = ok, s.bits = 64; /* integers of 64 bits: no */
	CHECK_INT(sat_tiffout_size(&s, &size), -EINVAL);
	s = ok, s.sample_format = SAT_TIFFOUT_FLOAT, s.bits = 16;
	CHECK_INT(sat_tiffout_size(&s, &size), -EINVAL);
	s = ok, s.sample_format = 4;
	CHECK_INT(sat_tiffout_size(&s, &size), -EINVAL);
	s = ok, s.samples = 1;
	CHECK_INT(sat_tiffout_size(&s, &size), -EINVAL); /* alpha alone */
	s = ok, s.grid = NULL;
	CHECK_INT(sat_tiffout_size(&s, &size), -EINVAL);
	CHECK_INT(sat_tiffout_size(NULL, &size), -EINVAL);
	g.width = 0;
	CHECK_INT(sat_tiffout_size(&ok, &size), -EINVAL);
	g.width = 65537;
	CHECK_INT(sat_tiffout_size(&ok, &size), -EINVAL);
	g.width = 100, g.epsg = 0;
	CHECK_INT(sat_tiffout_size(&ok, &size), -EINVAL);
	g.epsg = 70000;
	CHECK_INT(sat_tiffout_size(&ok, &size), -EINVAL);
	g.epsg = 9001; /* the metre: no CRS */
	CHECK_INT(sat_tiffout_size(&ok, &size), -EINVAL);
	g.epsg = 32617, g.pixel_size = 0;
	CHECK_INT(sat_tiffout_size(&ok, &size), -EINVAL);
	g.pixel_size = 10;
	CHECK_INT(sat_tiffout_write(-1, &ok, fill_pattern, &c), -EINVAL);
	CHECK_INT(c.calls, 0);
}

/* Past 4 GiB the file is a BigTIFF; the size is still the counting
 * sink's, computed without writing anything. */
SAT_TEST(size_large)
{
	struct sat_grid g = { 32617, 300000, 9000000, 10, 40000, 40000 };
	struct sat_tiffout_spec s = { &g, 4, 8, true, md_xml, NULL,
				      0, NULL, NULL };
	uint64_t tiles = 157 * 157, size;

	CHECK_INT(sat_tiffout_size(&s, &size), 0);
	CHECK(size > tiles * T * T * 4);
	CHECK(size < tiles * T * T * 4 + tiles * 16 + 4096);
	g.width = g.height = 30000; /* 3.6 GB: still classic TIFF */
	tiles = 118 * 118;
	CHECK_INT(sat_tiffout_size(&s, &size), 0);
	CHECK(size > tiles * T * T * 4);
	CHECK(size < 0xffffffffull);
}

/* The size announced is the number of bytes written, and both are the
 * extent of the file as an independent reader (tiff_walk.h) sees it: the
 * end of its furthest header, IFD, tag value or tile. So a file is never
 * cut short (its last tile or tag would be missing) nor padded. Over a
 * spread of specs: sides around the tile size, every sample count and bit
 * depth, alpha or not, metadata and nodata absent, inline (up to 4
 * bytes with the NUL) or out of line, of odd and even lengths. */
SAT_TEST(size_is_bytes_written_and_extent)
{
	static const uint32_t sides[] = { 1,   2,   3,   255, 256, 257,
					  511, 512, 513, 700, 769, 1031 };
	static const struct {
		uint16_t samples, bits;
		bool alpha;
		uint16_t format;
	} kinds[] = {
		{ 1, 8, false, 0 }, { 1, 16, false, 0 }, { 2, 8, true, 0 },
		{ 2, 16, false, 0 }, { 3, 8, false, 0 }, { 3, 16, false, 0 },
		{ 4, 8, true, 0 }, { 4, 16, true, 0 }, { 4, 8, false, 0 },
		/* data files: signed, 32-bit, floating point, many bands */
		{ 1, 16, false, SAT_TIFFOUT_INT },
		{ 1, 32, false, SAT_TIFFOUT_FLOAT },
		{ 3, 32, false, SAT_TIFFOUT_FLOAT },
		{ 2, 64, false, SAT_TIFFOUT_FLOAT },
		{ 5, 32, false, SAT_TIFFOUT_UINT },
		{ 8, 8, false, SAT_TIFFOUT_INT },
	};
	static const char *mds[] = {
		NULL, "", "ab", "abc", "abcd",
		"<GDALMetadata><Item name=\"satfs_item\">S2B</Item>"
		"</GDALMetadata>",
	};
	static const char *nds[] = { NULL, "0", "-9999", "65535.5" };
	const size_t nsides = sizeof(sides) / sizeof(sides[0]);
	const size_t nkinds = sizeof(kinds) / sizeof(kinds[0]);
	char path[512];
	int n = 0;

	snprintf(path, sizeof(path), "%s/e.tif", satest_tmpdir());
	for (size_t v = 0; v < 96; v++) {
		/* a spread, not the full product: every side, kind,
		 * metadata and nodata many times, in varied company */
		struct sat_grid g = { 32617, 300000, 9000000, 10,
				      sides[v % nsides],
				      sides[(v * 5 + 3) % nsides] };
		size_t k = (v / 2 + v * 7) % nkinds;
		struct sat_tiffout_spec s = {
			&g, kinds[k].samples, kinds[k].bits, kinds[k].alpha,
			mds[(v / 3) % 6], nds[(v * 3 + 1) % 4],
			kinds[k].format, NULL, NULL,
		};
		struct fill_ctx c = { .junk = (uint8_t)(v * 37) };
		struct tw_file tf;
		uint64_t size;
		size_t len;
		uint8_t *bytes;

		CHECK_INT(sat_tiffout_size(&s, &size), 0);
		CHECK_INT(write_file(path, &s, &c), 0);
		bytes = (uint8_t *)satest_read_file(path, &len);
		CHECK_INT(tw_open(&tf, bytes, len), 0);
		if (len != size || tw_extent(&tf) != (int64_t)len) {
			char msg[160];

			snprintf(msg, sizeof(msg),
				 "%ux%u spp %u bits %u md %d nodata %d: "
				 "announced %llu, written %zu, extent %lld",
				 g.width, g.height, s.samples, s.bits,
				 s.gdal_metadata != NULL, s.nodata != NULL,
				 (unsigned long long)size, len,
				 (long long)tw_extent(&tf));
			satest_fail(__FILE__, __LINE__, "size", msg);
		}
		CHECK(!tf.big);
		free(bytes);
		n++;
	}
	CHECK_INT(n, 96);
}

/* The first bytes sat_tiffout_write() writes for spec: a child writes
 * under a file size limit of 4 KiB (the header goes first, then the first
 * tile fails), so that a multi-GiB file is never made. */
static void header_of(const struct sat_tiffout_spec *s, uint8_t head[4])
{
	char path[512];
	pid_t pid;
	int st, fd;

	snprintf(path, sizeof(path), "%s/head.tif", satest_tmpdir());
	unlink(path);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = { 4096, 4096 };
		struct fill_ctx c = { .spec = s };

		signal(SIGXFSZ, SIG_IGN);
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || setrlimit(RLIMIT_FSIZE, &rl) != 0)
			_exit(2);
		/* the write must fail: the limit is far below the size */
		_exit(sat_tiffout_write(fd, s, fill_pattern, &c) == 0);
	}
	CHECK_INT(waitpid(pid, &st, 0), pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	CHECK_INT(read(fd, head, 4), 4);
	close(fd);
}

/* Where classic TIFF ends: the largest image written as classic TIFF is
 * announced under 4 GiB, one tile row more is a BigTIFF, and sizes grow
 * with the image across the switch. (The files themselves are not
 * written: only their headers.) */
SAT_TEST(size_bigtiff_threshold)
{
	struct sat_grid g = { 32617, 300000, 9000000, 10, 65536, 0 };
	struct sat_tiffout_spec s = { &g, 4, 8, true, "<GDALMetadata/>",
				      NULL, 0, NULL, NULL };
	uint32_t lo = 1, hi = 65536 / T, mid; /* heights in tile rows */
	uint64_t size, prev = 0;
	uint8_t head[4];

	/* classic at lo tile rows, BigTIFF at hi: find where it switches,
	 * each probe by its header */
	g.height = lo * T;
	header_of(&s, head);
	CHECK(head[2] == 42 && head[3] == 0);
	g.height = hi * T;
	header_of(&s, head);
	CHECK(head[2] == 43 && head[3] == 0);
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		g.height = mid * T;
		header_of(&s, head);
		CHECK(head[2] == 42 || head[2] == 43);
		if (head[2] == 42)
			lo = mid;
		else
			hi = mid;
	}
	g.height = lo * T;
	CHECK_INT(sat_tiffout_size(&s, &size), 0);
	CHECK(size <= 0xffffffffull);
	/* within a few tile rows of the 4 GiB offsets can reach */
	CHECK(size > 0xffffffffull - 4ull * g.width * T * 4);
	for (uint32_t rows = lo - 1; rows <= lo + 2; rows++) {
		g.height = rows * T;
		CHECK_INT(sat_tiffout_size(&s, &size), 0);
		CHECK(size > prev);
		prev = size;
	}
}
