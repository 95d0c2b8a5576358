/*
 * libFuzzer harness for the STAC parser: the bytes are one response body,
 * parsed as everything the catalog module may take it for — a page of
 * search results (after a POST whose body a `merge` link extends), a
 * landing page and a GeoJSON region. Checks what the rest of satfs relies
 * on: file ids are safe file names, hrefs are strings, dates are dates.
 *
 * Built only with -DSATFS_FUZZ=ON (clang); replays files given on its
 * command line, which is how tests/fuzz/regressions/ runs under ctest.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "satfs/log.h"
#include "satfs/stac.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* A bad item is skipped with a warning: keep the output readable. */
	sat_log_set_level(SAT_LOG_ERROR);
	return 0;
}

static void check_file_id(const char *f)
{
	size_t i, n;

	if (!f)
		abort();
	n = strlen(f);
	if (n == 0 || n > SAT_STAC_MAX_ID || !strcmp(f, ".") ||
	    !strcmp(f, ".."))
		abort();
	for (i = 0; i < n; i++)
		if (f[i] == '/' || (unsigned char)f[i] < 0x20 || f[i] == 0x7f)
			abort();
}

static void check_scene(const struct sat_scene *s)
{
	size_t i;

	if (!s->id || !s->json || strlen(s->json) != s->json_len)
		abort();
	check_file_id(s->file_id);
	if (strlen(s->date) != 10)
		abort();
	for (i = 0; i < s->nassets; i++)
		if (!s->assets[i].key || !s->assets[i].href)
			abort();
	sat_scene_find_band(s, "B04");
	sat_scene_find_band(s, "nir");
}

static void parse_page(const char *body, size_t len)
{
	static const char *hdrs[] = { "X-Test: 1", NULL };
	const struct sat_stac_request prev = {
		.method = "POST",
		.url = "http://127.0.0.1:1/search",
		.body = "{\"collections\":[\"sentinel-2-l2a\"],\"limit\":10}",
		.headers = (char **)hdrs,
	};
	struct sat_stac_request next = { 0 };
	struct sat_scene **items = NULL;
	size_t n = 0, skipped = 0, i;
	bool has_next = false;
	char *fp;

	if (sat_stac_parse_page(body, len, &prev, NULL, &items, &n, &skipped, &next,
				&has_next) == 0) {
		for (i = 0; i < n; i++)
			check_scene(items[i]);
		if (has_next) {
			if (!next.method || !next.url)
				abort();
			fp = sat_stac_request_fingerprint(&next);
			free(fp);
		}
	}
	for (i = 0; i < n; i++)
		sat_scene_free(items[i]);
	free(items);
	sat_stac_request_clear(&next);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sat_stac_caps caps = { 0 };
	double *ring = NULL;
	size_t n = 0;
	char *id;

	/* Bodies come from curl as bytes plus a length, not NUL-terminated:
	 * pass them the same way, so that ASan sees any read past the end. */
	parse_page((const char *)data, size);
	if (sat_stac_parse_landing((const char *)data, size,
				   "http://127.0.0.1:1/v1", &caps) == 0 &&
	    !caps.search_href)
		abort();
	sat_stac_caps_clear(&caps);
	if (sat_stac_parse_geojson_ring((const char *)data, size, &ring,
					&n) == 0 && (n == 0 || !ring))
		abort();
	free(ring);

	/* The whole input as an id. */
	id = malloc(size + 1);
	if (!id)
		return 0;
	memcpy(id, data, size);
	id[size] = '\0';
	{
		char *f = sat_stac_sanitize_id(id);

		if (f)
			check_file_id(f);
		free(f);
	}
	free(id);
	return 0;
}
