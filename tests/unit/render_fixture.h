/*
 * render_fixture: what test_render.c and test_cogread.c share: a tiny
 * HTTP/1.1 server thread serving the real scene's COGs with single byte
 * ranges (206, Content-Range, ETag, a request log, a corruption switch),
 * the fixture around it (fetch engine, cogread, the real item with its
 * hrefs pointed at the server), and GDAL command-line helpers, GDAL being
 * the independent judge. Test-only; static inline so each test binary
 * takes what it uses.
 */
#ifndef RENDER_FIXTURE_H
#define RENDER_FIXTURE_H

#include "satest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "satfs/cache.h"
#include "satfs/cog.h"
#include "satfs/cogread.h"
#include "satfs/config.h"
#include "satfs/fetch.h"
#include "satfs/geom.h"
#include "satfs/source.h"
#include "satfs/region.h"
#include "satfs/render.h"
#include "satfs/stac.h"

#define SCENE "cog/S2A_29RKH_20200219_0_L2A"
#define NFILES 10
#define MAXLOG 8192

/* ---- the HTTP server: GET with one Range, 206, a request log ---- */

struct srv_file {
	char path[32];        /* "/B04.tif" */
	char local[512];
	char etag[32];
};

struct srv_hit {
	int file;             /* index into files, -1: not found */
	uint64_t off, len;
};

struct srv {
	int fd, port;
	pthread_t th;
	pthread_mutex_t lock;
	bool stop;                     /* protected by lock */
	bool corrupt;                  /* flip bytes of non-header ranges */
	/* With hold, each connection is answered on a thread of its own,
	 * and the answers to non-header ranges wait (logged) until hold is
	 * cleared; all protected by lock, signalled on cond. */
	bool hold;
	int held, answering;
	pthread_cond_t cond;
	struct srv_file files[NFILES]; /* etag protected by lock */
	int nfiles;
	struct srv_hit log[MAXLOG];    /* protected by lock */
	int nlog;
};

static inline void srv_send(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

/* Logged before the answer goes out, so a client that has its answer
 * always finds its request in the log. */
static inline void srv_log(struct srv *s, int fi, uint64_t off, uint64_t len)
{
	pthread_mutex_lock(&s->lock);
	if (s->nlog < MAXLOG)
		s->log[s->nlog++] = (struct srv_hit){ fi, off, len };
	pthread_mutex_unlock(&s->lock);
}

static inline void srv_answer(struct srv *s, int c)
{
	static const char nf[] = "HTTP/1.1 404 Not Found\r\n"
				 "Content-Length: 0\r\n"
				 "Connection: close\r\n\r\n";
	static const char bad[] = "HTTP/1.1 416 Range Not Satisfiable\r\n"
				  "Content-Length: 0\r\n"
				  "Connection: close\r\n\r\n";
	char req[4096], path[256], hdr[512], etag[32];
	unsigned long long a = 0, b = UINT64_MAX;
	size_t got = 0, size;
	bool corrupt;
	char *data;
	int fi = -1;

	req[0] = 0;
	while (got < sizeof(req) - 1 && !strstr(req, "\r\n\r\n")) {
		ssize_t n = recv(c, req + got, sizeof(req) - 1 - got, 0);

		if (n <= 0)
			return;
		got += (size_t)n;
		req[got] = 0;
	}
	if (sscanf(req, "GET %255s", path) != 1)
		return;
	const char *r = strcasestr(req, "\r\nRange: bytes=");
	if (r)
		sscanf(r + 15, "%llu-%llu", &a, &b);
	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < s->nfiles; i++)
		if (strcmp(s->files[i].path, path) == 0)
			fi = i;
	if (fi >= 0)
		snprintf(etag, sizeof(etag), "%s", s->files[fi].etag);
	corrupt = s->corrupt;
	pthread_mutex_unlock(&s->lock);
	if (fi < 0) {
		srv_log(s, fi, 0, 0);
		srv_send(c, nf, strlen(nf));
		return;
	}
	data = satest_read_file(s->files[fi].local, &size);
	if (b >= size)
		b = size - 1;
	if (a > b) {
		srv_log(s, fi, a, 0);
		srv_send(c, bad, strlen(bad));
		free(data);
		return;
	}
	if (corrupt && a > 0)
		for (uint64_t k = a; k <= b; k += 7)
			data[k] ^= 0x5a;
	snprintf(hdr, sizeof(hdr),
		 "HTTP/1.1 206 Partial Content\r\nContent-Length: %llu\r\n"
		 "Content-Range: bytes %llu-%llu/%zu\r\nETag: %s\r\n"
		 "Connection: close\r\n\r\n",
		 b - a + 1, a, b, size, etag);
	srv_log(s, fi, a, b - a + 1);
	pthread_mutex_lock(&s->lock);
	if (a > 0 && s->hold) {
		s->held++;
		pthread_cond_broadcast(&s->cond);
		while (s->hold)
			pthread_cond_wait(&s->cond, &s->lock);
		s->held--;
	}
	pthread_mutex_unlock(&s->lock);
	srv_send(c, hdr, strlen(hdr));
	srv_send(c, data + a, b - a + 1);
	free(data);
}

/* Corrupts (or not) every answer that does not start at byte 0. */
static inline void srv_set_corrupt(struct srv *s, bool on)
{
	pthread_mutex_lock(&s->lock);
	s->corrupt = on;
	pthread_mutex_unlock(&s->lock);
}

/* Holds (or lets go) the answers to non-header ranges. */
static inline void srv_set_hold(struct srv *s, bool on)
{
	pthread_mutex_lock(&s->lock);
	s->hold = on;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

struct srv_conn {
	struct srv *s;
	int c;
};

static inline void *srv_conn_main(void *arg)
{
	struct srv_conn *k = arg;
	struct srv *s = k->s;

	srv_answer(s, k->c);
	shutdown(k->c, SHUT_WR);
	close(k->c);
	free(k);
	pthread_mutex_lock(&s->lock);
	s->answering--;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

static inline void *srv_main(void *arg)
{
	struct srv *s = arg;

	for (;;) {
		struct pollfd p = { .fd = s->fd, .events = POLLIN };
		bool stop;

		pthread_mutex_lock(&s->lock);
		stop = s->stop;
		pthread_mutex_unlock(&s->lock);
		if (stop)
			return NULL;
		if (poll(&p, 1, 50) <= 0)
			continue;
		int c = accept(s->fd, NULL, NULL);
		if (c < 0)
			continue;
		/* counted in the same breath as hold is read: srv_stop,
		 * which clears hold, then waits for the count */
		pthread_mutex_lock(&s->lock);
		bool threaded = s->hold;
		if (threaded)
			s->answering++;
		pthread_mutex_unlock(&s->lock);
		if (threaded) {
			struct srv_conn *k = malloc(sizeof(*k));
			pthread_t th;

			CHECK(k != NULL);
			k->s = s;
			k->c = c;
			CHECK(pthread_create(&th, NULL, srv_conn_main, k) == 0);
			pthread_detach(th);
			continue;
		}
		srv_answer(s, c);
		shutdown(c, SHUT_WR);
		close(c);
	}
}

static inline void srv_start(struct srv *s)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	const char *names[NFILES] = { "B02", "B03", "B04", "B08", "TCI" };

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	for (int i = 0; i < 5; i++) {
		snprintf(s->files[i].path, sizeof(s->files[i].path), "/%s.tif",
			 names[i]);
		snprintf(s->files[i].local, sizeof(s->files[i].local), "%s",
			 satest_data(SCENE));
		strcat(s->files[i].local, s->files[i].path);
		strcpy(s->files[i].etag, "\"v1\"");
	}
	s->nfiles = 5;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(s->fd >= 0);
	CHECK(bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(listen(s->fd, 128) == 0);
	CHECK(getsockname(s->fd, (struct sockaddr *)&sa, &sl) == 0);
	s->port = ntohs(sa.sin_port);
	CHECK(pthread_create(&s->th, NULL, srv_main, s) == 0);
}

static inline void srv_stop(struct srv *s)
{
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	s->hold = false;
	pthread_cond_broadcast(&s->cond);
	while (s->answering > 0)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->th, NULL);
	close(s->fd);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
}

static inline int srv_count(struct srv *s, int from, bool headers)
{
	int n = 0;

	pthread_mutex_lock(&s->lock);
	for (int i = from; i < s->nlog; i++)
		n += (s->log[i].off == 0) == headers;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* ---- fixture: server, fetch engine, cogread, the real item ---- */

/* A source that reads through the fixture's cogread (which a test may
 * replace) and lists nothing. */
struct fx_source {
	struct sat_source base;
	struct sat_cogread **cr;
};

static inline int fx_source_read(struct sat_source *src,
				 const struct sat_read *rd)
{
	return sat_cogread_read(*((struct fx_source *)src)->cr, rd);
}

static const struct sat_source_ops fx_source_ops = {
	.type = "test",
	.read = fx_source_read,
};

struct fx {
	struct srv srv;
	struct sat_fetch *fetch;
	struct sat_cogread *cr;
	struct fx_source source;
	struct sat_scene *scene;
	struct sat_region *region;
	struct sat_product prod;
	char *bands[SAT_PRODUCT_MAX_BANDS];
};

static inline void fx_set_href(struct fx *f, const char *key,
			       const char *file)
{
	char url[256];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/%s", f->srv.port, file);
	for (size_t i = 0; i < f->scene->nassets; i++) {
		if (strcmp(f->scene->assets[i].key, key) == 0) {
			free(f->scene->assets[i].href);
			f->scene->assets[i].href = strdup(url);
			return;
		}
	}
	CHECK(!"asset key present");
}

static inline void fx_region(struct fx *f, double w, double s, double e,
			     double n)
{
	double bbox[4] = { w, s, e, n };
	char msg[128];

	sat_region_free(f->region);
	CHECK_INT(sat_region_new_bbox(&f->region, "test", bbox, msg,
				      sizeof(msg)), 0);
}

static inline void fx_product(struct fx *f, const char *name,
			      const char *b0, const char *b1, const char *b2,
			      double max, double gamma, double scale_m)
{
	struct sat_product *p = &f->prod;

	memset(p, 0, sizeof(*p));
	p->name = (char *)name;
	p->nbands = b1 ? 3 : 1;
	p->bands[0] = (char *)b0;
	p->bands[1] = (char *)b1;
	p->bands[2] = (char *)b2;
	for (int i = 0; i < 3; i++)
		p->max[i] = max;
	p->gamma = gamma;
	p->scale_m = scale_m;
	p->outline = true;
	p->outline_rgb[2] = 255; /* blue, as in the tutorial */
	p->outline_width_px = 2;
	p->clip = true;
}

static inline void fx_start(struct fx *f, struct sat_cache *cache)
{
	size_t len, nitems = 0, skipped = 0;
	struct sat_scene **items = NULL;
	struct sat_stac_request next;
	char *item, *page;
	bool has_next;

	memset(f, 0, sizeof(*f));
	srv_start(&f->srv);
	CHECK_INT(sat_fetch_new(&f->fetch, NULL), 0);
	CHECK_INT(sat_cogread_new(&f->cr, f->fetch, cache), 0);
	item = satest_read_file(satest_data(SCENE "/S2A_29RKH_20200219_"
						"0_L2A.json"), &len);
	page = malloc(len + 64);
	len = (size_t)sprintf(page, "{\"type\":\"FeatureCollection\","
			      "\"features\":[%s]}", item);
	CHECK_INT(sat_stac_parse_page(page, len, NULL, NULL, &items, &nitems,
				      &skipped, &next, &has_next), 0);
	CHECK_INT(nitems, 1);
	f->scene = items[0];
	f->source.base.ops = &fx_source_ops;
	f->source.cr = &f->cr;
	f->scene->source = &f->source.base;
	free(items);
	free(item);
	free(page);
	sat_stac_request_clear(&next);
	fx_set_href(f, "blue", "B02.tif");
	fx_set_href(f, "green", "B03.tif");
	fx_set_href(f, "red", "B04.tif");
	fx_set_href(f, "nir", "B08.tif");
	/* Inside the scene, across the tile boundary at column and row 512
	 * of the full-resolution level. */
	fx_region(f, -11.50, 24.80, -11.40, 24.88);
	fx_product(f, "falsecolor", "B8", "B4", "B3", 5000, 1.35, 100);
}

static inline void fx_stop(struct fx *f)
{
	sat_cogread_free(f->cr);
	sat_fetch_free(f->fetch);
	srv_stop(&f->srv);
	sat_scene_free(f->scene);
	sat_region_free(f->region);
}

/* Renders p into the file path with ctx: sat_render_run's answer. */
static inline int fx_render_ctx(const struct sat_render_plan *p,
				const struct sat_render_ctx *ctx,
				const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	int rc;

	CHECK(fd >= 0);
	rc = sat_render_run(p, ctx, fd);
	close(fd);
	return rc;
}

static inline int fx_render(struct fx *f, const struct sat_render_plan *p,
			    const char *path)
{
	return fx_render_ctx(p, &(struct sat_render_ctx){
				     .prio = SAT_FETCH_FOREGROUND }, path);
}

static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the judge: GDAL ---- */

static inline void run(const char *cmd)
{
	int rc = system(cmd);

	if (rc != 0)
		fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
	CHECK_INT(rc, 0);
}

/* gdalwarp of a source band onto grid g, nearest neighbour, as uint16. */
static inline uint16_t *gdal_warp(const char *band,
				  const struct sat_grid *g, const char *ovr)
{
	char cmd[2048], out[512];
	size_t len;
	uint16_t *v;

	snprintf(out, sizeof(out), "%s/warp_%s.raw", satest_tmpdir(), band);
	snprintf(cmd, sizeof(cmd),
		 "gdalwarp -q -overwrite -ovr %s -r near -t_srs EPSG:%d "
		 "-te %.17g %.17g %.17g %.17g -tr %.17g %.17g -of ENVI "
		 "'%s/%s.tif' '%s'", ovr, g->epsg, g->origin_x,
		 g->origin_y - g->height * g->pixel_size,
		 g->origin_x + g->width * g->pixel_size, g->origin_y,
		 g->pixel_size, g->pixel_size, satest_data(SCENE), band,
		 out);
	run(cmd);
	v = (uint16_t *)satest_read_file(out, &len);
	CHECK_INT(len, (size_t)g->width * g->height * 2);
	return v;
}

/* Our output as raw band-sequential samples (gdal_translate to ENVI). */
static inline uint8_t *gdal_read(const char *tif, size_t expect_len)
{
	char cmd[2048], out[600];
	size_t len;
	uint8_t *v;

	snprintf(out, sizeof(out), "%s.raw", tif);
	snprintf(cmd, sizeof(cmd),
		 "gdal_translate -q -of ENVI -co INTERLEAVE=BSQ '%s' '%s'",
		 tif, out);
	run(cmd);
	v = (uint8_t *)satest_read_file(out, &len);
	CHECK_INT(len, expect_len);
	return v;
}

/* gdalinfo: no warning at all, and the CRS, geotransform and size. */
static inline char *gdal_info(const char *tif, const struct sat_grid *g)
{
	char cmd[2048], out[600], err[600], want[128];
	double ox, oy, px, py;
	size_t len;
	char *info, *e, *o;

	snprintf(out, sizeof(out), "%s.info", tif);
	snprintf(err, sizeof(err), "%s.err", tif);
	snprintf(cmd, sizeof(cmd), "gdalinfo '%s' > '%s' 2> '%s'", tif, out,
		 err);
	run(cmd);
	e = satest_read_file(err, &len);
	CHECK_STR(e, "");
	free(e);
	info = satest_read_file(out, &len);
	snprintf(want, sizeof(want), "Size is %u, %u", g->width, g->height);
	CHECK(strstr(info, want));
	snprintf(want, sizeof(want), "ID[\"EPSG\",%d]]", g->epsg);
	CHECK(strstr(info, want));
	o = strstr(info, "Origin = (");
	CHECK(o && sscanf(o, "Origin = (%lf,%lf)", &ox, &oy) == 2);
	CHECK_NEAR(ox, g->origin_x, 1e-6);
	CHECK_NEAR(oy, g->origin_y, 1e-6);
	o = strstr(info, "Pixel Size = (");
	CHECK(o && sscanf(o, "Pixel Size = (%lf,%lf)", &px, &py) == 2);
	CHECK_NEAR(px, g->pixel_size, 1e-9);
	CHECK_NEAR(py, -g->pixel_size, 1e-9);
	CHECK(strstr(info, "satfs_item=S2A_29RKH_20200219_0_L2A"));
	CHECK(strstr(info, "satfs_version=" SATFS_VERSION));
	return info;
}

static inline const char *tmpfile_in(const char *name)
{
	static char buf[4][512];
	static int k;

	k = (k + 1) % 4;
	snprintf(buf[k], sizeof(buf[k]), "%s/%s", satest_tmpdir(), name);
	return buf[k];
}

static inline off_t file_size(const char *path)
{
	struct stat st;

	CHECK(stat(path, &st) == 0);
	return st.st_size;
}

#endif
