/*
 * Earth Engine source: JWT signing (checked against the openssl command),
 * the token logic (command rerun at expiry and on refusal, file re-read
 * when it changes), the Cloud project required at start, the v1
 * listAssets filter and pages as scenes with their radiometry, getPixels
 * bodies, error bodies (the API's and OAuth's), and getPixels (.npy, each
 * band in its type) split into tiles against the fake server.
 *
 * The request shapes are the reference's:
 * - listAssets: GET https://earthengine.googleapis.com/v1/{parent=
 *   projects/STAR/assets/STARSTAR}:listAssets with pageSize, pageToken,
 *   filter, view (STAR: the reference's wildcards); the
 *   answer is ListAssetsResponse {"assets": [...], "nextPageToken"}
 *   (https://developers.google.com/earth-engine/reference/rest/v1/projects.assets/listAssets).
 *   The filter is written as the official Python client writes it when it
 *   turns listImages parameters into listAssets ones
 *   (_cloud_api_utils._convert_list_images_filter_params_to_list_assets_params
 *   in github.com/google/earthengine-api: 'startTime >= "{}"',
 *   'endTime < "{}"', 'intersects("{}")' with the GeoJSON's double quotes
 *   replaced by single quotes, 'properties.X...', joined by ' AND '), and
 *   as ee.data.listAssets documents it: properties.my_property>=1 AND
 *   startTime >= "2019-01-01T00:00:00.000Z" AND endTime <
 *   "2020-01-01T00:00:00.000Z" AND
 *   intersects("{'type':'Point','coordinates':[0,0]}")
 *   (https://developers.google.com/earth-engine/apidocs/ee-data-listassets).
 * - getPixels: POST .../{name=projects/STAR/assets/STARSTAR}:getPixels with
 *   fileFormat (NPY is one of ImageFileFormat's values:
 *   https://developers.google.com/earth-engine/reference/rest/v1/ImageFileFormat),
 *   bandIds and grid (PixelGrid: crsCode, affineTransform, dimensions).
 * - OAuth errors: {"error": "invalid_grant", "error_description": ...}
 *   (RFC 6749 section 5.2).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "satest.h"
#include "satfs/bufpool.h"
#include "satfs/cogread.h"
#include "satfs/config.h"
#include "satfs/ee.h"
#include "satfs/source.h"
#include "satfs/fetch.h"
#include "satfs/geom.h"
#include "satfs/stac.h"
#include "satfs/stac_ee.h"

static void run(const char *cmd)
{
	if (system(cmd) != 0)
		satest_fail(__FILE__, __LINE__, cmd, "command failed");
}

/* One line of a command's output, without the newline (static). */
static const char *output(const char *cmd)
{
	static char line[8192];
	FILE *p = popen(cmd, "r");

	CHECK(p != NULL);
	line[0] = '\0';
	if (!fgets(line, sizeof(line), p))
		line[0] = '\0';
	CHECK_INT(pclose(p), 0);
	line[strcspn(line, "\n")] = '\0';
	return line;
}

SAT_TEST(jwt_rs256_matches_openssl)
{
	const char *dir = satest_tmpdir();
	const char *claims = "{\"iss\":\"sa@p.iam.gserviceaccount.com\","
			     "\"aud\":\"https://oauth2.googleapis.com/token\"}";
	char cmd[2048], key[512], *jwt = NULL, *pem;
	char *dot1, *dot2;
	size_t len;
	FILE *f;

	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(cmd, sizeof(cmd), "openssl genrsa -out '%s' 2048 2>/dev/null",
		 key);
	run(cmd);
	pem = satest_read_file(key, &len);
	CHECK_INT(sat_ee_jwt_sign(pem, claims, &jwt), 0);
	dot1 = strchr(jwt, '.');
	CHECK(dot1 != NULL);
	dot2 = strchr(dot1 + 1, '.');
	CHECK(dot2 != NULL && !strchr(dot2 + 1, '.'));
	CHECK(!strpbrk(jwt, "=+/ \n"));
	/* header and claims are the base64url of the JSON */
	CHECK(!strncmp(jwt, "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.", 37));
	snprintf(cmd, sizeof(cmd),
		 "printf '%%s' '%s' | basenc --base64url -w0 | tr -d =",
		 claims);
	CHECK(!strncmp(dot1 + 1, output(cmd), (size_t)(dot2 - dot1 - 1)));
	CHECK_INT(strlen(output(cmd)), (size_t)(dot2 - dot1 - 1));
	/* PKCS#1 v1.5 is deterministic: openssl makes the same signature */
	snprintf(cmd, sizeof(cmd), "%s/in", dir);
	f = fopen(cmd, "w");
	CHECK(f != NULL);
	fwrite(jwt, 1, (size_t)(dot2 - jwt), f);
	fclose(f);
	snprintf(cmd, sizeof(cmd),
		 "openssl dgst -sha256 -sign '%s' '%s/in' | basenc --base64url "
		 "-w0 | tr -d =", key, dir);
	CHECK_STR(dot2 + 1, output(cmd));
	free(jwt);

	/* not a key, or not an RSA key */
	CHECK_INT(sat_ee_jwt_sign("-----BEGIN PRIVATE KEY-----\nAAAA\n"
				  "-----END PRIVATE KEY-----\n", claims, &jwt),
		  -EINVAL);
	CHECK(jwt == NULL);
	snprintf(cmd, sizeof(cmd), "openssl genpkey -algorithm ED25519 "
		 "-out '%s/ed.pem' 2>/dev/null", dir);
	run(cmd);
	snprintf(cmd, sizeof(cmd), "%s/ed.pem", dir);
	free(pem);
	pem = satest_read_file(cmd, &len);
	CHECK_INT(sat_ee_jwt_sign(pem, claims, &jwt), -EINVAL);
	free(pem);
}

static time_t fake_now = 1000000;

static time_t clock_fn(void)
{
	return fake_now;
}

static struct sat_config *ee_config(void)
{
	struct sat_config *c = calloc(1, sizeof(*c));

	CHECK(c != NULL);
	c->source_type = "earthengine";
	c->collection = "COPERNICUS/S2_SR_HARMONIZED";
	c->ee_url = "http://127.0.0.1:9/v1";
	c->ee_project = "my-project";
	return c;
}

static void expect_token(struct sat_ee *ee, const char *refused,
			 const char *want)
{
	char *tok = NULL;

	CHECK_INT(sat_ee_token(ee, refused, &tok), 0);
	CHECK_STR(tok, want);
	free(tok);
}

SAT_TEST(token_command_rerun_on_expiry_and_refusal)
{
	struct sat_config *c = ee_config();
	char cmd[1024], *tok = (char *)1;
	struct sat_ee *ee;

	/* prints tok0, tok1, ... one more each run */
	snprintf(cmd, sizeof(cmd),
		 "n=$(cat '%1$s/n' 2>/dev/null || echo 0); "
		 "echo $((n + 1)) > '%1$s/n'; echo \"  tok$n  \"",
		 satest_tmpdir());
	c->token_command = cmd;
	CHECK_INT(sat_ee_new(&ee, c, NULL), 0);
	sat_ee_set_clock(ee, clock_fn);
	expect_token(ee, NULL, "tok0");
	fake_now += SAT_EE_COMMAND_LIFETIME_S - 1;
	expect_token(ee, NULL, "tok0");   /* not run again */
	expect_token(ee, "old", "tok0");  /* refusing another one: kept */
	fake_now += 1;
	expect_token(ee, NULL, "tok1");   /* 55 min: run again */
	expect_token(ee, "tok1", "tok2"); /* refused (401): run again */
	expect_token(ee, NULL, "tok2");
	sat_ee_free(ee);

	/* a failing command, or one that prints nothing, gives no token */
	c->token_command = "echo secret; exit 3";
	CHECK_INT(sat_ee_new(&ee, c, NULL), 0);
	CHECK_INT(sat_ee_token(ee, NULL, &tok), -EIO);
	CHECK(tok == NULL);
	sat_ee_free(ee);
	c->token_command = "printf '  \\n'";
	CHECK_INT(sat_ee_new(&ee, c, NULL), 0);
	CHECK_INT(sat_ee_token(ee, NULL, &tok), -EIO);
	sat_ee_free(ee);
	free(c);
}

static void write_token(const char *path, const char *tok, time_t mtime)
{
	struct timespec ts[2] = { { mtime, 0 }, { mtime, 0 } };
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	fputs(tok, f);
	fclose(f);
	CHECK_INT(utimensat(AT_FDCWD, path, ts, 0), 0);
}

SAT_TEST(token_file_reread_when_changed)
{
	struct sat_config *c = ee_config();
	char path[512], *tok = NULL;
	struct sat_ee *ee;

	snprintf(path, sizeof(path), "%s/token", satest_tmpdir());
	write_token(path, "ya29.first\n", 1000);
	c->token_file = path;
	c->token_command = NULL;
	CHECK_INT(sat_ee_new(&ee, c, NULL), 0);
	expect_token(ee, NULL, "ya29.first");
	/* same mtime: not read again (the content is not looked at) */
	write_token(path, "ya29.other\n", 1000);
	expect_token(ee, NULL, "ya29.first");
	/* changed: read again */
	write_token(path, "ya29.second\n", 2000);
	expect_token(ee, NULL, "ya29.second");
	/* gone: an error, not a stale token */
	CHECK_INT(unlink(path), 0);
	expect_token(ee, NULL, "ya29.second"); /* stat fails: keep */
	CHECK_INT(sat_ee_token(ee, "ya29.second", &tok), -EIO);
	sat_ee_free(ee);

	/* no credentials at all: refused at start */
	c->token_file = NULL;
	unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
	CHECK_INT(sat_ee_new(&ee, c, NULL), -EINVAL);
	/* a key file that is not one */
	write_token(path, "{\"type\": \"service_account\"}", 1000);
	setenv("GOOGLE_APPLICATION_CREDENTIALS", path, 1);
	CHECK_INT(sat_ee_new(&ee, c, NULL), -EINVAL);
	unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
	free(c);
}

SAT_TEST(project_required_or_from_key)
{
	struct sat_config *c = ee_config();
	char path[512];
	struct sat_ee *ee = NULL;
	FILE *f;

	/* a token but no project: refused at start */
	c->ee_project = NULL;
	c->token_command = "echo good-1";
	CHECK_INT(sat_ee_new(&ee, c, NULL), -EINVAL);
	CHECK(ee == NULL);
	c->ee_project = "p1";
	CHECK_INT(sat_ee_new(&ee, c, NULL), 0);
	sat_ee_free(ee);

	/* a service-account key: its project_id stands in for project */
	c->token_command = NULL;
	c->ee_project = NULL;
	snprintf(path, sizeof(path), "%s/key.json", satest_tmpdir());
	f = fopen(path, "w");
	CHECK(f != NULL);
	fputs("{\"type\": \"service_account\", \"project_id\": \"kp\", "
	      "\"client_email\": \"a@kp.iam.gserviceaccount.com\", "
	      "\"private_key\": \"K\", "
	      "\"token_uri\": \"http://127.0.0.1:9/token\"}", f);
	fclose(f);
	setenv("GOOGLE_APPLICATION_CREDENTIALS", path, 1);
	CHECK_INT(sat_ee_new(&ee, c, NULL), 0);
	sat_ee_free(ee);
	/* ... and without project_id either: refused */
	f = fopen(path, "w");
	CHECK(f != NULL);
	fputs("{\"type\": \"service_account\", "
	      "\"client_email\": \"a@kp.iam.gserviceaccount.com\", "
	      "\"private_key\": \"K\", "
	      "\"token_uri\": \"http://127.0.0.1:9/token\"}", f);
	fclose(f);
	CHECK_INT(sat_ee_new(&ee, c, NULL), -EINVAL);
	unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
	free(c);
}

/* A listAssets answer as the reference describes ListAssetsResponse and
 * EarthEngineAsset (type, name, id, startTime, properties, geometry, bands
 * with dataType and grid; proto3 leaves zero fields out). */
static const char page[] =
	"{\"assets\": [{\"type\": \"IMAGE\", "
	"\"name\": \"projects/earthengine-public/assets/COPERNICUS/"
	"S2_SR_HARMONIZED/20240103T154639_20240103T155029_T17PMK\", "
	"\"id\": \"COPERNICUS/S2_SR_HARMONIZED/"
	"20240103T154639_20240103T155029_T17PMK\", "
	"\"startTime\": \"2024-01-03T15:52:14.123Z\", "
	"\"endTime\": \"2024-01-03T15:52:14.123Z\", "
	"\"properties\": {\"CLOUDY_PIXEL_PERCENTAGE\": 12.47, "
	"\"PROCESSING_BASELINE\": \"05.10\"}, "
	"\"geometry\": {\"type\": \"Polygon\", \"coordinates\": "
	"[[[-82.5, 8.3], [-82.3, 8.3], [-82.3, 8.5], [-82.5, 8.3]]]}, "
	"\"bands\": [{\"id\": \"B4\", \"dataType\": {\"precision\": \"INT\", "
	"\"range\": {\"max\": 65535}}, \"grid\": {\"crsCode\": \"EPSG:32617\", "
	"\"affineTransform\": {\"scaleX\": 10, \"translateX\": 300000, "
	"\"scaleY\": -10, \"translateY\": 1000020}, \"dimensions\": "
	"{\"width\": 10980, \"height\": 10980}}}, "
	"{\"id\": \"B8\", \"grid\": {\"crsCode\": \"EPSG:32617\", "
	"\"affineTransform\": {\"scaleX\": 10, \"translateX\": 300000, "
	"\"scaleY\": -10, \"translateY\": 1000020}}}, "
	"{\"id\": \"B1\", \"grid\": {\"crsCode\": \"EPSG:32617\", "
	"\"affineTransform\": {\"scaleX\": 60, \"translateX\": 300000, "
	"\"scaleY\": -60, \"translateY\": 1000020}}}, "
	"{\"id\": \"ARR\", \"dataType\": {\"precision\": \"INT\", "
	"\"dimensionsCount\": 1}, \"grid\": {\"crsCode\": \"EPSG:32617\", "
	"\"affineTransform\": {\"scaleX\": 60}}}, "
	"{\"id\": \"nogrid\"}]}, "
	"{\"type\": \"IMAGE\", \"id\": \"COPERNICUS/S2_SR_HARMONIZED/nobands\", "
	"\"startTime\": \"2024-01-04T00:00:00Z\"}, "
	"{\"type\": \"IMAGE_COLLECTION\", \"id\": \"COPERNICUS/x/nested\", "
	"\"startTime\": \"2024-01-04T00:00:00Z\"}, "
	"{\"id\": \"x/bad:id\", \"startTime\": \"2024-01-04T00:00:00Z\", "
	"\"bands\": [{\"id\": \"B4\"}]}], "
	"\"nextPageToken\": \"CAE=xyz\"}";

SAT_TEST(list_page_as_scenes)
{
	struct sat_scene **items = NULL, *s;
	const struct sat_asset *a;
	size_t n = 0, skipped = 0;
	char *next = NULL;
	const char *assets_url = "http://h/v1/projects/earthengine-public/"
				 "assets/COPERNICUS/S2_SR_HARMONIZED";

	CHECK_INT(sat_stac_ee_parse_list(page, strlen(page), assets_url,
					 &items, &n, &skipped, &next),
		  0);
	CHECK_INT(n, 1);
	CHECK_INT(skipped, 3);
	CHECK_STR(next, "CAE=xyz");
	s = items[0];
	CHECK_STR(s->id, "20240103T154639_20240103T155029_T17PMK");
	CHECK_STR(s->file_id, s->id);
	CHECK_STR(s->date, "2024-01-03");
	CHECK_INT(s->datetime, 1704297134);
	CHECK(s->has_cloud && s->cloud_cover == 12.47);
	CHECK_INT(s->epsg, 32617);
	CHECK_STR(s->processing_baseline, "05.10");
	CHECK(s->bbox[0] == -82.5 && s->bbox[1] == 8.3 && s->bbox[2] == -82.3 &&
	      s->bbox[3] == 8.5);
	CHECK(s->collection == NULL);
	/* the band without a grid and the array band are left out */
	CHECK_INT(s->nassets, 3);
	a = sat_scene_find_band(s, "nir");
	CHECK(a != NULL);
	CHECK_STR(a->key, "B8");
	CHECK_STR(a->href, "http://h/v1/projects/earthengine-public/assets/"
			   "COPERNICUS/S2_SR_HARMONIZED/"
			   "20240103T154639_20240103T155029_T17PMK"
			   ":getPixels#B8");
	a = sat_scene_find_band(s, "B04");
	CHECK(a != NULL && a->gsd == 10 && a->epsg == 32617);
	CHECK(a->has_transform && a->transform[2] == 300000 &&
	      a->transform[4] == -10 && a->transform[5] == 1000020);
	CHECK(a->shape[0] == 10980 && a->shape[1] == 10980);
	/* harmonised: the +1000 of baseline 05.10 is already removed */
	CHECK(a->has_scale && a->scale == 0.0001 && a->offset == 0);
	/* INT with range 0..65535: uint16; no dataType: not told */
	CHECK_INT(a->data_type, SAT_SAMPLE_U16);
	CHECK_INT(sat_scene_find_band(s, "B8")->data_type, -1);
	CHECK(a->has_nodata && a->nodata == 0);
	CHECK(sat_scene_find_band(s, "B01")->gsd == 60);
	CHECK(strstr(s->json, "\"startTime\":\"2024-01-03T15:52:14.123Z\""));
	sat_scene_free(s);
	free(items);
	free(next);

	/* the same page of the non-harmonised collection keeps the +1000:
	 * offset -0.1 for baseline 05.10 */
	items = NULL;
	n = 0;
	CHECK_INT(sat_stac_ee_parse_list(page, strlen(page),
					 "http://h/v1/projects/"
					 "earthengine-public/assets/"
					 "COPERNICUS/S2_SR",
					 &items, &n, &skipped, &next),
		  0);
	CHECK_INT(n, 1);
	a = sat_scene_find_band(items[0], "B4");
	CHECK(a->has_scale && a->scale == 0.0001 && a->offset == -0.1);
	sat_scene_free(items[0]);
	free(items);
	free(next);

	/* not a page */
	items = NULL;
	n = 0;
	CHECK_INT(sat_stac_ee_parse_list("[1]", 3, "u", &items, &n, &skipped,
					 &next), -EINVAL);
	CHECK_INT(sat_stac_ee_parse_list("{\"assets\": 3}", 13, "u", &items,
					 &n, &skipped, &next), -EINVAL);
	/* listImages' answer is not read as "no scenes" */
	CHECK_INT(sat_stac_ee_parse_list("{\"images\": []}", 14, "u", &items,
					 &n, &skipped, &next), -EINVAL);
	/* an empty collection answers {} */
	CHECK_INT(sat_stac_ee_parse_list("{}", 2, "u", &items, &n, &skipped,
					 &next), 0);
	CHECK_INT(n, 0);
	CHECK(next == NULL);
}

SAT_TEST(radiometry_by_collection)
{
	double sc, off;
	struct sat_scene **items = NULL;
	size_t n = 0, skipped = 0;
	char *next = NULL;
	/* Landsat C2 L2 with its MTL factors as image properties, and a
	 * float band of a collection satfs knows nothing of */
	const char *ls =
		"{\"assets\": [{\"type\": \"IMAGE\", \"id\": \"LANDSAT/LC08/"
		"C02/T1_L2/LC08_015053_20240105\", \"startTime\": "
		"\"2024-01-05T15:41:00Z\", \"properties\": "
		"{\"REFLECTANCE_MULT_BAND_4\": 2.75e-05, "
		"\"REFLECTANCE_ADD_BAND_4\": -0.2}, \"bands\": [{\"id\": "
		"\"SR_B4\", \"dataType\": {\"precision\": \"INT\", \"range\": "
		"{\"max\": 65535}}, \"grid\": {\"crsCode\": \"EPSG:32617\", "
		"\"affineTransform\": {\"scaleX\": 30, \"scaleY\": -30}}}, "
		"{\"id\": \"ST_B10\", \"grid\": {\"crsCode\": \"EPSG:32617\", "
		"\"affineTransform\": {\"scaleX\": 30, \"scaleY\": -30}}}, "
		"{\"id\": \"QA_PIXEL\", \"grid\": {\"crsCode\": \"EPSG:32617\", "
		"\"affineTransform\": {\"scaleX\": 30, \"scaleY\": -30}}}]}]}";
	const struct sat_asset *a;

	/* Sentinel-2: harmonised 0; not harmonised -0.1 from 04.00 on */
	CHECK(sat_stac_ee_radiometry("COPERNICUS/S2_SR_HARMONIZED", "B8", NULL,
				     false, &sc, &off));
	CHECK(sc == 0.0001 && off == 0);
	CHECK(sat_stac_ee_radiometry("COPERNICUS/S2_SR", "B8", NULL, false,
				     &sc, &off));
	CHECK(sc == 0.0001 && off == 0); /* no baseline said: none */
	CHECK(sat_stac_ee_radiometry("COPERNICUS/S2_SR", "SCL", NULL, false,
				     &sc, &off));
	CHECK(sc == 0.0001 && off == 0); /* a class band: v = DN */
	/* not ours: the renderer's default, or 1 for a float band */
	CHECK(!sat_stac_ee_radiometry("MODIS/061/MOD09GA", "sur_refl_b01",
				      NULL, false, &sc, &off));
	CHECK(sat_stac_ee_radiometry("MODIS/061/MOD09GA", "x", NULL, true,
				     &sc, &off));
	CHECK(sc == 1 && off == 0);

	CHECK_INT(sat_stac_ee_parse_list(ls, strlen(ls),
					 "http://h/v1/projects/"
					 "earthengine-public/assets/"
					 "LANDSAT/LC08/C02/T1_L2",
					 &items, &n, &skipped, &next), 0);
	CHECK_INT(n, 1);
	a = sat_scene_find_band(items[0], "SR_B4");
	CHECK(a && a->has_scale && a->scale == 2.75e-05 && a->offset == -0.2);
	a = sat_scene_find_band(items[0], "ST_B10");
	CHECK(a && a->has_scale && a->scale == 0.00341802 &&
	      a->offset == 149.0);
	a = sat_scene_find_band(items[0], "QA_PIXEL");
	CHECK(a && !a->has_scale);
	CHECK_INT(sat_scene_find_band(items[0], "SR_B4")->data_type,
		  SAT_SAMPLE_U16);
	sat_scene_free(items[0]);
	free(items);
}

SAT_TEST(list_filter_as_the_clients_write_it)
{
	const double ring[] = { -82.48, 8.35, -82.39, 8.35, -82.39, 8.44,
				-82.48, 8.44 };
	char *f;

	/* 2024-01-01T00:00:00Z .. 2024-08-01T00:00:00Z (exclusive) */
	f = sat_stac_ee_list_filter(1704067200, 1722470400, ring, 4, 85);
	CHECK_STR(f, "startTime >= \"2024-01-01T00:00:00Z\" AND "
		     "endTime < \"2024-08-01T00:00:00Z\" AND "
		     "intersects(\"{'type':'Polygon','coordinates':"
		     "[[[-82.48,8.35],[-82.39,8.35],[-82.39,8.44],"
		     "[-82.48,8.44],[-82.48,8.35]]]}\") AND "
		     "properties.CLOUDY_PIXEL_PERCENTAGE < 85");
	free(f);
	/* no cloud limit (negative): no properties term; fractions kept */
	f = sat_stac_ee_list_filter(0, 1, ring, 3, -1);
	CHECK(f && !strstr(f, "CLOUDY"));
	CHECK(!strchr(strstr(f, "intersects(\"") + 12, '"') ||
	      strchr(strstr(f, "intersects(\"") + 12, '"')[1] == ')');
	free(f);
	f = sat_stac_ee_list_filter(0, 1, ring, 3, 12.5);
	CHECK(strstr(f, "properties.CLOUDY_PIXEL_PERCENTAGE < 12.5"));
	free(f);
}

SAT_TEST(pixels_body_region_errors_tokens)
{
	const char *bands[] = { "B8", "B4", "B3" };
	const double ring[] = { -82.48, 8.35, -82.39, 8.35, -82.39, 8.44 };
	char *b, msg[128], *tok = NULL, *e = NULL, *k = NULL, *u = NULL;
	long life;

	b = sat_stac_ee_pixels_body(bands, 3, 32617, 337030, 933310, 10, 995,
				    993);
	CHECK_STR(b, "{\"fileFormat\":\"NPY\",\"bandIds\":[\"B8\",\"B4\","
		     "\"B3\"],\"grid\":{\"crsCode\":\"EPSG:32617\","
		     "\"affineTransform\":{\"scaleX\":10,\"shearX\":0,"
		     "\"translateX\":337030,\"shearY\":0,\"scaleY\":-10,"
		     "\"translateY\":933310},\"dimensions\":{\"width\":995,"
		     "\"height\":993}}}");
	free(b);
	b = sat_stac_ee_region(ring, 3);
	CHECK_STR(b, "{\"type\":\"Polygon\",\"coordinates\":[[[-82.48,8.35],"
		     "[-82.39,8.35],[-82.39,8.44],[-82.48,8.35]]]}");
	free(b);

	CHECK_INT(sat_stac_ee_parse_error(
			  "{\"error\": {\"code\": 429, \"message\": \"Too many "
			  "concurrent\\nrequests.\", \"status\": "
			  "\"RESOURCE_EXHAUSTED\"}}", 101, msg, sizeof(msg)),
		  0);
	CHECK_STR(msg, "RESOURCE_EXHAUSTED: Too many concurrent?requests.");
	CHECK_INT(sat_stac_ee_parse_error("<html>", 6, msg, sizeof(msg)),
		  -EINVAL);
	CHECK_INT(sat_stac_ee_parse_error(NULL, 0, msg, sizeof(msg)), -EINVAL);

	CHECK_INT(sat_stac_ee_parse_token("{\"access_token\": \"ya29.a\", "
					  "\"expires_in\": 3599}", 46, &tok,
					  &life), 0);
	CHECK_STR(tok, "ya29.a");
	CHECK_INT(life, 3599);
	free(tok);
	CHECK_INT(sat_stac_ee_parse_token("{\"error\": \"invalid_grant\"}", 26,
					  &tok, &life), -EINVAL);
	/* an OAuth error (RFC 6749 5.2) names its code */
	b = "{\"error\": \"invalid_grant\", \"error_description\": "
	    "\"Invalid JWT Signature.\"}";
	CHECK_INT(sat_stac_ee_parse_error(b, strlen(b), msg, sizeof(msg)), 0);
	CHECK_STR(msg, "invalid_grant: Invalid JWT Signature.");
	CHECK_INT(sat_stac_ee_parse_key("{\"client_email\": \"a@b\", "
					"\"private_key\": \"K\", "
					"\"token_uri\": \"http://t/token\"}",
					74, &e, &k, &u, NULL), 0);
	CHECK_STR(e, "a@b");
	CHECK_STR(k, "K");
	CHECK_STR(u, "http://t/token");
	free(e);
	free(k);
	free(u);
	b = sat_stac_ee_jwt_claims("a@b", "s", "http://t/token", 1000);
	CHECK_STR(b, "{\"iss\":\"a@b\",\"scope\":\"s\",\"aud\":"
		     "\"http://t/token\",\"iat\":1000,\"exp\":4600}");
	free(b);
}

/* ---- getPixels against the fake server ---- */

static pid_t server_pid;

static void stop_server(void)
{
	if (server_pid > 0) {
		kill(server_pid, SIGTERM);
		waitpid(server_pid, NULL, 0);
		server_pid = 0;
	}
}

static char *start_fake(const char *samples, const char *extra)
{
	char cmd[2048], port_file[512], *base;
	const char *dir = satest_tmpdir();
	size_t len;
	int i;

	snprintf(port_file, sizeof(port_file), "%s/port", dir);
	unlink(port_file); /* the last server's */
	/* exec: the pid is python's own, so that SIGTERM reaches it */
	snprintf(cmd, sizeof(cmd),
		 "exec python3 '%s' --catalog '%s' --port-file '%s' "
		 "--log '%s/log' %s", satest_src("tests/server/fake_earthengine.py"), samples,
		 port_file, dir, extra);
	server_pid = fork();
	CHECK(server_pid >= 0);
	if (server_pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 100 && access(port_file, F_OK) != 0; i++)
		usleep(100000);
	CHECK(access(port_file, F_OK) == 0);
	base = satest_read_file(port_file, &len);
	CHECK(len > 0);
	return base;
}

SAT_TEST(pixels_split_into_tiles)
{
	const char *build = getenv("SATFS_BUILD_DIR");
	char samples[512], url[256], href[3][512], *port;
	struct sat_fetch *fetch;
	struct sat_config *c = ee_config();
	struct sat_read_band one[3], tiled[3];
	struct sat_read rd1 = { .grid = NULL, .bands = one, .nbands = 3 };
	struct sat_read rd2 = { .grid = NULL, .bands = tiled, .nbands = 3 };
	struct sat_grid g = { .epsg = 32617, .origin_x = 337030,
			      .origin_y = 933300, .pixel_size = 10,
			      .width = 301, .height = 203 };
	uint8_t *v1 = malloc(301 * 203), *v2 = malloc(301 * 203);
	const uint16_t *d1, *d2;
	const char *ids[3] = { "B8", "B4", "B3" };
	struct sat_ee *ee;
	size_t i, nvalid = 0, lines;
	char *log;

	snprintf(samples, sizeof(samples), "%s/samples/items",
		 build ? build : "build");
	if (access(samples, F_OK) != 0)
		CHECK(!"a sample catalog in the build (the samples fixture)");
	samples[strlen(samples) - 6] = '\0';
	/* the fake refuses over 128 px a side or 100 kB, as the API does
	 * over its own limits */
	port = start_fake(samples, "--max-side 128 --max-bytes 100000");
	atexit(stop_server);
	snprintf(url, sizeof(url), "http://127.0.0.1:%s/v1", port);
	c->ee_url = url;
	c->token_command = "echo good-1";
	c->ee_project = "my-project";
	CHECK_INT(sat_fetch_new(&fetch, NULL), 0);
	CHECK_INT(sat_ee_new(&ee, c, fetch), 0);
	for (i = 0; i < 3; i++) {
		snprintf(href[i], sizeof(href[i]),
			 "%s/projects/earthengine-public/assets/COPERNICUS/"
			 "S2_SR_HARMONIZED/20240103T155214_20240103T155214_"
			 "T17PMK:getPixels#%s", url, ids[i]);
		memset(&one[i], 0, sizeof(one[i]));
		one[i].href = href[i];
		tiled[i] = one[i];
	}
	rd1.grid = rd2.grid = &g;
	rd1.valid = v1;
	rd2.valid = v2;
	/* over the limits in one piece: the API's 400, logged */
	CHECK(sat_ee_window(ee, &rd1) != 0);
	/* in tiles of at most 128 px a side and 100 kB */
	sat_ee_set_tile_limits(ee, 128, 100000);
	CHECK_INT(sat_ee_window(ee, &rd2), 0);
	log = satest_read_file(
		strcat(strcpy(url, satest_tmpdir()), "/log"), &lines);
	CHECK(strstr(log, "\"project\": \"my-project\""));
	CHECK(strstr(log, "\"token\": \"good-1\""));
	free(log);
	/* the same grid in one piece from a fake without limits */
	stop_server();
	free(port);
	sat_ee_free(ee);
	port = start_fake(samples, "");
	snprintf(url, sizeof(url), "http://127.0.0.1:%s/v1", port);
	for (i = 0; i < 3; i++)
		snprintf(href[i], sizeof(href[i]),
			 "%s/projects/earthengine-public/assets/COPERNICUS/"
			 "S2_SR_HARMONIZED/20240103T155214_20240103T155214_"
			 "T17PMK:getPixels#%s", url, ids[i]);
	CHECK_INT(sat_ee_new(&ee, c, fetch), 0);
	CHECK_INT(sat_ee_window(ee, &rd1), 0);
	for (i = 0; i < 301 * 203; i++) {
		CHECK_INT(v1[i], v2[i]);
		nvalid += v1[i];
		for (size_t b = 0; b < 3; b++) {
			CHECK_INT(one[b].type, SAT_SAMPLE_U16);
			d1 = one[b].values;
			d2 = tiled[b].values;
			if (d1[i] != d2[i])
				CHECK_INT(d1[i], d2[i]);
		}
	}
	/* the window crosses the scene's nodata corner: some of each */
	CHECK(nvalid > 1000 && nvalid < 301 * 203);
	/* a float32 collection: the same pixels as reflectance, read as
	 * float32 (the band's own type, from the .npy answer) */
	for (i = 0; i < 3; i++)
		snprintf(href[i], sizeof(href[i]),
			 "%s/projects/earthengine-public/assets/SATFS_TEST/"
			 "S2_SR_FLOAT32/20240103T155214_20240103T155214_"
			 "T17PMK:getPixels#%s", url, ids[i]);
	CHECK_INT(sat_ee_window(ee, &rd2), 0);
	for (size_t b = 0; b < 3; b++) {
		const float *f = tiled[b].values;

		CHECK_INT(tiled[b].type, SAT_SAMPLE_F32);
		d1 = one[b].values;
		for (i = 0; i < 301 * 203; i++)
			if (fabs(f[i] * 10000.0 - d1[i]) > 0.01)
				CHECK(fabs(f[i] * 10000.0 - d1[i]) <= 0.01);
	}
	for (i = 0; i < 301 * 203; i++)
		CHECK_INT(v2[i], v1[i]);
	for (i = 0; i < 3; i++) {
		sat_buf_free(one[i].values);
		sat_buf_free(tiled[i].values);
	}
	sat_ee_free(ee);
	sat_fetch_free(fetch);
	stop_server();
	free(port);
	free(v1);
	free(v2);
	free(c);
}

SAT_TEST(service_account_renewed_before_expiry)
{
	const char *build = getenv("SATFS_BUILD_DIR");
	const char *dir = satest_tmpdir();
	char samples[512], cmd[2048], keyf[512], url[256], *port, *a, *b;
	char *log;
	struct sat_config *c = ee_config();
	struct sat_fetch *fetch;
	struct sat_ee *ee;
	size_t len;
	FILE *f;

	snprintf(samples, sizeof(samples), "%s/samples",
		 build ? build : "build");
	if (access(samples, F_OK) != 0)
		CHECK(!"a sample catalog in the build (the samples fixture)");
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && openssl genrsa -out sa.pem 2048 2>/dev/null && "
		 "openssl rsa -in sa.pem -pubout -out pub.pem 2>/dev/null",
		 dir);
	run(cmd);
	snprintf(cmd, sizeof(cmd), "--pubkey '%s/pub.pem'", dir);
	port = start_fake(samples, cmd);
	atexit(stop_server);
	snprintf(keyf, sizeof(keyf), "%s/sa.pem", dir);
	a = satest_read_file(keyf, &len);
	snprintf(keyf, sizeof(keyf), "%s/sa.json", dir);
	f = fopen(keyf, "w");
	CHECK(f != NULL);
	fprintf(f, "{\"client_email\": \"t@p.iam.gserviceaccount.com\", "
		"\"token_uri\": \"http://127.0.0.1:%s/token\", "
		"\"private_key\": \"", port);
	for (b = a; *b; b++)
		fputs(*b == '\n' ? "\\n" : (char[]){ *b, 0 }, f);
	fputs("\"}", f);
	fclose(f);
	free(a);
	setenv("GOOGLE_APPLICATION_CREDENTIALS", keyf, 1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%s/v1", port);
	c->ee_url = url;
	CHECK_INT(sat_fetch_new(&fetch, NULL), 0);
	CHECK_INT(sat_ee_new(&ee, c, fetch), 0);
	unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
	sat_ee_set_clock(ee, clock_fn);
	/* The fake checks iat and exp against its own clock: start an hour
	 * back, so that the renewal lands on the real time. */
	fake_now = time(NULL) - 3500;
	CHECK_INT(sat_ee_token(ee, NULL, &a), 0);
	CHECK(!strncmp(a, "ya29.fake-1-", 12));
	/* the answer said 3599 s: renewed 300 s before, not earlier */
	fake_now += 3599 - SAT_EE_RENEW_MARGIN_S - 1;
	CHECK_INT(sat_ee_token(ee, NULL, &b), 0);
	CHECK_STR(b, a);
	free(b);
	fake_now += 1;
	CHECK_INT(sat_ee_token(ee, NULL, &b), 0);
	CHECK(!strncmp(b, "ya29.fake-2-", 12));
	free(b);
	/* refused: exchanged again at once */
	free(a);
	CHECK_INT(sat_ee_token(ee, NULL, &a), 0);
	CHECK_INT(sat_ee_token(ee, a, &b), 0);
	CHECK(!strncmp(b, "ya29.fake-3-", 12));
	free(a);
	free(b);
	snprintf(cmd, sizeof(cmd), "%s/log", dir);
	log = satest_read_file(cmd, &len);
	CHECK(strstr(log, "\"iss\": \"t@p.iam.gserviceaccount.com\""));
	free(log);
	sat_ee_free(ee);
	sat_fetch_free(fetch);
	stop_server();
	free(port);
	free(c);
}

/* Queues body (Python bytes expression) as the fake's next getPixels
 * answer. */
static void queue_answer(const char *port, const char *pyexpr)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd),
		 "python3 - <<'PY'\n"
		 "import base64, json, struct, urllib.request\n"
		 "def npy(h, data=b''):\n"
		 "    h = h.encode()\n"
		 "    return b'\\x93NUMPY\\x01\\x00' + struct.pack('<H', "
		 "len(h)) + h + data\n"
		 "b = %s\n"
		 "urllib.request.urlopen(urllib.request.Request("
		 "'http://127.0.0.1:%s/_control', data=json.dumps("
		 "{'pixels_answer': base64.b64encode(b).decode()}).encode()), "
		 "timeout=10).read()\n"
		 "PY", pyexpr, port);
	run(cmd);
}

/* getPixels answers that are not the .npy asked for fail the read (EIO,
 * or ENOTSUP for a type we do not read), never crash or overrun; a
 * big-endian field is read in the right byte order. The format is NEP 1
 * (https://numpy.org/devdocs/reference/generated/numpy.lib.format.html). */
SAT_TEST(pixels_hostile_npy)
{
	const char *build = getenv("SATFS_BUILD_DIR");
	static const struct {
		const char *body;
		int err;
	} cases[] = {
		{ "b'GIF89a' + bytes(100)", -EIO },
		{ "b'\\x93NUMPY\\x01\\x00\\xff\\xff{'", -EIO },
		{ "npy(\"{'descr': '<u2', 'fortran_order': True, "
		  "'shape': (3, 4), }\", bytes(24))", -EIO },
		{ "npy(\"{'descr': '<u2', 'fortran_order': False, "
		  "'shape': (2, 2), }\", bytes(8))", -EIO },
		{ "npy(\"{'descr': '<c8', 'fortran_order': False, "
		  "'shape': (3, 4), }\", bytes(96))", -ENOTSUP },
		{ "npy(\"{'descr': '<u2', 'fortran_order': False, "
		  "'shape': (3, 4), }\", bytes(23))", -EIO },
		{ "npy(\"{'descr': [('B8', '<u2')], 'fortran_order': False, "
		  "'shape': (3, 4), }\", bytes(24))", -EIO },
		{ "npy(\"{'descr': [('B4', '<u2', (2,))], 'fortran_order': "
		  "False, 'shape': (3, 4), }\", bytes(48))", -EIO },
		{ "npy(\"{'descr': '<u2', 'fortran_order': False, "
		  "'shape': (99999999999, 4), }\", bytes(24))", -EIO },
		{ "npy(\"{'descr': [('B4', '>u2')], 'fortran_order': False, "
		  "'shape': (3, 4), }\", bytes(range(24)))", 0 },
	};
	char samples[512], url[256], href[512], *port;
	struct sat_config *c = ee_config();
	struct sat_read_band band;
	struct sat_read rd = { .bands = &band, .nbands = 1 };
	struct sat_grid g = { .epsg = 32617, .origin_x = 337030,
			      .origin_y = 933300, .pixel_size = 10,
			      .width = 4, .height = 3 };
	uint8_t valid[12];
	struct sat_fetch *fetch;
	struct sat_ee *ee;
	size_t i;

	snprintf(samples, sizeof(samples), "%s/samples",
		 build ? build : "build");
	if (access(samples, F_OK) != 0)
		satest_skip("no sample catalog (run the samples fixture)");
	port = start_fake(samples, "");
	atexit(stop_server);
	snprintf(url, sizeof(url), "http://127.0.0.1:%s/v1", port);
	snprintf(href, sizeof(href),
		 "%s/projects/earthengine-public/assets/COPERNICUS/"
		 "S2_SR_HARMONIZED/20240103T155214_20240103T155214_T17PMK"
		 ":getPixels#B4", url);
	c->ee_url = url;
	c->token_command = "echo good-1";
	CHECK_INT(sat_fetch_new(&fetch, NULL), 0);
	CHECK_INT(sat_ee_new(&ee, c, fetch), 0);
	memset(&band, 0, sizeof(band));
	band.href = href;
	rd.grid = &g;
	rd.valid = valid;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		queue_answer(port, cases[i].body);
		if (sat_ee_window(ee, &rd) != cases[i].err)
			CHECK_INT(sat_ee_window(ee, &rd), cases[i].err);
	}
	/* the big-endian one: bytes 0,1 -> 0x0001, 2,3 -> 0x0203 ... */
	CHECK_INT(band.type, SAT_SAMPLE_U16);
	CHECK_INT(((const uint16_t *)band.values)[0], 0x0001);
	CHECK_INT(((const uint16_t *)band.values)[11], 0x1617);
	CHECK_INT(valid[0], 1);
	sat_buf_free(band.values);
	sat_ee_free(ee);
	sat_fetch_free(fetch);
	stop_server();
	free(port);
	free(c);
}
