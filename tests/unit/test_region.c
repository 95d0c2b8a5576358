/* Unit tests for fs/region.c: constructors, parsers and ad-hoc names. */
#include "satest.h"

#include <errno.h>
#include <math.h>
#include <time.h>

#include "satfs/region.h"

/* 2024-01-01T00:00:00Z and 2024-07-31T23:59:59Z */
#define T_2024_01_01 1704067200
#define T_2024_07_31_END (1722384000 + 86399)

SAT_TEST(bbox_ring)
{
	const double b[4] = { -82.48, 8.3508, -82.39, 8.4408 };
	struct sat_region *r = NULL;
	char msg[256];

	CHECK_INT(sat_region_new_bbox(&r, "x", b, msg, sizeof(msg)), 0);
	CHECK_STR(r->name, "x");
	CHECK_INT(r->nring, 4);
	CHECK(r->ring[0] == -82.48 && r->ring[1] == 8.3508);
	CHECK(r->ring[2] == -82.39 && r->ring[3] == 8.3508);
	CHECK(r->ring[4] == -82.39 && r->ring[5] == 8.4408);
	CHECK(r->ring[6] == -82.48 && r->ring[7] == 8.4408);
	CHECK(memcmp(r->bbox, b, sizeof(b)) == 0);
	CHECK(!r->has_dates);
	sat_region_free(r);
	sat_region_free(NULL);
}

SAT_TEST(bbox_invalid)
{
	static const double bad[][4] = {
		{ 1, 2, 1, 4 },      /* W == E */
		{ 3, 2, 1, 4 },      /* W > E */
		{ 1, 4, 3, 2 },      /* S > N */
		{ -181, 0, 1, 1 },   /* lon range */
		{ 0, 0, 181, 1 },
		{ 0, -91, 1, 1 },    /* lat range */
		{ 0, 0, 1, 90.5 },
		{ NAN, 0, 1, 1 },
		{ 0, 0, INFINITY, 1 },
	};
	struct sat_region *r = (struct sat_region *)1;
	char msg[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msg[0] = '\0';
		CHECK_INT(sat_region_new_bbox(&r, "x", bad[i], msg,
					      sizeof(msg)), -EINVAL);
		CHECK(r == NULL);
		CHECK(strstr(msg, "bbox") != NULL);
	}
}

SAT_TEST(center_degrees_tutorial)
{
	struct sat_region *r;
	char msg[256];

	CHECK_INT(sat_region_new_center(&r, "t", 8.3958, -82.4350, 0.09, 0,
					msg, sizeof(msg)), 0);
	CHECK_NEAR(r->bbox[0], -82.48, 1e-9);
	CHECK_NEAR(r->bbox[1], 8.3508, 1e-9);
	CHECK_NEAR(r->bbox[2], -82.39, 1e-9);
	CHECK_NEAR(r->bbox[3], 8.4408, 1e-9);
	CHECK_INT(r->nring, 4);
	sat_region_free(r);
}

SAT_TEST(center_metres)
{
	struct sat_region *r;
	double dlat = 5000 / 111320.0;
	double dlon = 5000 / (111320.0 * cos(60 * M_PI / 180));

	/* 10 km at 60 degrees north: twice as many degrees of longitude. */
	CHECK_INT(sat_region_new_center(&r, "m", 60, 10, 0, 10000, NULL, 0),
		  0);
	CHECK_NEAR(r->bbox[0], 10 - dlon, 1e-12);
	CHECK_NEAR(r->bbox[2], 10 + dlon, 1e-12);
	CHECK_NEAR(r->bbox[1], 60 - dlat, 1e-12);
	CHECK_NEAR(r->bbox[3], 60 + dlat, 1e-12);
	CHECK_NEAR(dlon / dlat, 2.0, 1e-9);
	sat_region_free(r);
}

SAT_TEST(center_invalid)
{
	struct sat_region *r;
	char msg[256];

	CHECK_INT(sat_region_new_center(&r, "x", 91, 0, 0.1, 0, msg,
					sizeof(msg)), -EINVAL);
	CHECK(r == NULL);
	CHECK_INT(sat_region_new_center(&r, "x", 0, 181, 0.1, 0, msg,
					sizeof(msg)), -EINVAL);
	CHECK_INT(sat_region_new_center(&r, "x", 0, 0, 0, 0, msg,
					sizeof(msg)), -EINVAL);
	CHECK_INT(sat_region_new_center(&r, "x", 0, 0, 11, 0, msg,
					sizeof(msg)), -EINVAL);
	CHECK_INT(sat_region_new_center(&r, "x", 0, 0, 0, 2e6, msg,
					sizeof(msg)), -EINVAL);
	/* Crosses the antimeridian / a pole. */
	CHECK_INT(sat_region_new_center(&r, "x", 0, 179.99, 0.09, 0, msg,
					sizeof(msg)), -EINVAL);
	CHECK(strstr(msg, "antimeridian") != NULL);
	CHECK_INT(sat_region_new_center(&r, "x", 89.99, 0, 0.09, 0, msg,
					sizeof(msg)), -EINVAL);
	CHECK_INT(sat_region_new_center(&r, "x", 90, 0, 0, 1000, msg,
					sizeof(msg)), -EINVAL);
	CHECK(r == NULL);
}

SAT_TEST(polygon)
{
	/* Closed ring: the closing vertex is dropped. */
	const double ring[] = { 1, 1, 3, 1, 4, 5, 0, 2, 1, 1 };
	struct sat_region *r;
	char msg[256];

	CHECK_INT(sat_region_new_polygon(&r, "p", ring, 5, msg, sizeof(msg)),
		  0);
	CHECK_INT(r->nring, 4);
	CHECK(r->ring[6] == 0 && r->ring[7] == 2);
	CHECK(r->bbox[0] == 0 && r->bbox[1] == 1 && r->bbox[2] == 4 &&
	      r->bbox[3] == 5);
	sat_region_free(r);
	/* Not closed: kept as is. */
	CHECK_INT(sat_region_new_polygon(&r, NULL, ring, 3, msg, sizeof(msg)),
		  0);
	CHECK_INT(r->nring, 3);
	CHECK(r->name == NULL);
	sat_region_free(r);
}

SAT_TEST(polygon_invalid)
{
	const double two[] = { 1, 1, 2, 2, 1, 1 };
	const double dup[] = { 1, 1, 2, 2, 2, 2, 1, 1 };
	const double line[] = { 0, 0, 1, 1, 2, 2 };
	const double far[] = { 0, 0, 200, 0, 0, 1 };
	const double nan[] = { 0, 0, NAN, 0, 0, 1 };
	struct sat_region *r;
	char msg[256];

	CHECK_INT(sat_region_new_polygon(&r, "p", two, 3, msg, sizeof(msg)),
		  -EINVAL);
	CHECK(r == NULL);
	CHECK(strstr(msg, "distinct") != NULL);
	CHECK_INT(sat_region_new_polygon(&r, "p", dup, 4, msg, sizeof(msg)),
		  -EINVAL);
	CHECK_INT(sat_region_new_polygon(&r, "p", line, 3, msg, sizeof(msg)),
		  -EINVAL);
	CHECK(strstr(msg, "area") != NULL);
	CHECK_INT(sat_region_new_polygon(&r, "p", far, 3, msg, sizeof(msg)),
		  -EINVAL);
	CHECK_INT(sat_region_new_polygon(&r, "p", nan, 3, msg, sizeof(msg)),
		  -EINVAL);
	CHECK_INT(sat_region_new_polygon(&r, "p", two, 0, msg, sizeof(msg)),
		  -EINVAL);
}

SAT_TEST(dates)
{
	time_t a = 0, b = 0;
	char msg[256];

	CHECK_INT(sat_region_parse_dates("2024-01-01 .. 2024-07-31", &a, &b,
					 msg, sizeof(msg)), 0);
	CHECK_INT(a, T_2024_01_01);
	CHECK_INT(b, T_2024_07_31_END);
	a = b = 0;
	CHECK_INT(sat_region_parse_dates("2024-01-01..2024-07-31", &a, &b,
					 msg, sizeof(msg)), 0);
	CHECK_INT(a, T_2024_01_01);
	CHECK_INT(b, T_2024_07_31_END);
	CHECK_INT(sat_region_parse_dates("  2024-03-05  ..2024-03-05 ", &a,
					 &b, msg, sizeof(msg)), 0);
	CHECK_INT(b - a, 86399);
	/* Leap years: 2024 and 2000 are, 2023 and 1900 are not. */
	CHECK_INT(sat_region_parse_dates("2024-02-29..2024-02-29", &a, &b,
					 NULL, 0), 0);
	CHECK_INT(sat_region_parse_dates("2000-02-29..2000-02-29", &a, &b,
					 NULL, 0), 0);
	CHECK_INT(sat_region_parse_dates("2023-02-29..2023-03-01", &a, &b,
					 msg, sizeof(msg)), -EINVAL);
	CHECK(strstr(msg, "2023-02-29") != NULL);
	CHECK_INT(sat_region_parse_dates("1900-02-29..1900-03-01", &a, &b,
					 NULL, 0), -EINVAL);
}

SAT_TEST(dates_invalid)
{
	static const char *const bad[] = {
		"2024-02-30..2024-03-01", "2024-04-31..2024-05-01",
		"2024-13-01..2024-12-01", "2024-00-10..2024-01-01",
		"2024-01-00..2024-01-02", "2024-1-01..2024-02-01",
		"2024-01-01", "2024-01-01..", "..2024-01-01",
		"2024-01-01 - 2024-02-01", "2024-01-01...2024-02-01",
		"2024-01-01..2024-02-01x", "x2024-01-01..2024-02-01",
		"2024/01/01..2024/02/01", "", "2024-01-01..2024-02-01,",
		"+024-01-01..2024-02-01", "2024-07-31..2024-01-01",
	};
	time_t a = 7, b = 7;
	char msg[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (sat_region_parse_dates(bad[i], &a, &b, msg, sizeof(msg)) !=
		    -EINVAL)
			satest_fail(__FILE__, __LINE__, "dates invalid",
				    bad[i]);
	}
	CHECK(a == 7 && b == 7);
	CHECK(strstr(msg, "ends before") != NULL); /* the last one */
}

SAT_TEST(bbox_parse)
{
	double b[4];
	char msg[256];

	CHECK_INT(sat_region_parse_bbox("-82.48, 8.3508, -82.39, 8.4408", b,
					msg, sizeof(msg)), 0);
	CHECK(b[0] == -82.48 && b[1] == 8.3508 && b[2] == -82.39 &&
	      b[3] == 8.4408);
	CHECK_INT(sat_region_parse_bbox("1,2,3,4", b, msg, sizeof(msg)), 0);
	CHECK(b[0] == 1 && b[3] == 4);
	CHECK_INT(sat_region_parse_bbox(" 1e0 , 2 ,3, 4 ", b, msg,
					sizeof(msg)), 0);
	CHECK(b[0] == 1);
}

SAT_TEST(bbox_parse_invalid)
{
	static const char *const bad[] = {
		"1,2,3", "1,2,3,4,5", "1,2,3,", ",1,2,3", "1,,2,3",
		"a,2,3,4", "1,2,3,4x", "nan,2,3,4", "inf,2,3,4",
		"0x1,2,3,4", "3,2,1,4", "1,4,3,2", "1,2,1,4", "-190,2,3,4",
		"1,2,3,95", "1 2 3 4", "", "1;2;3;4", "1e999,2,3,4",
	};
	double b[4] = { 9, 9, 9, 9 };
	char msg[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (sat_region_parse_bbox(bad[i], b, msg, sizeof(msg)) !=
		    -EINVAL)
			satest_fail(__FILE__, __LINE__, "bbox invalid",
				    bad[i]);
	}
	CHECK(b[0] == 9 && b[3] == 9);
}

SAT_TEST(size_parse)
{
	double deg = -1, m = -1;
	char msg[256];

	CHECK_INT(sat_region_parse_size("0.09", &deg, &m, msg, sizeof(msg)),
		  0);
	CHECK(deg == 0.09 && m == 0);
	CHECK_INT(sat_region_parse_size("10km", &deg, &m, msg, sizeof(msg)),
		  0);
	CHECK(deg == 0 && m == 10000);
	CHECK_INT(sat_region_parse_size("500m", &deg, &m, msg, sizeof(msg)),
		  0);
	CHECK(m == 500);
	CHECK_INT(sat_region_parse_size("2.5km", &deg, &m, msg, sizeof(msg)),
		  0);
	CHECK(m == 2500);
	CHECK_INT(sat_region_parse_size("10 km", &deg, &m, msg, sizeof(msg)),
		  0);
	CHECK(m == 10000);
	CHECK_INT(sat_region_parse_size("1000km", &deg, &m, msg, sizeof(msg)),
		  0);
	CHECK_INT(sat_region_parse_size("10", &deg, &m, msg, sizeof(msg)), 0);
	CHECK(deg == 10);
}

SAT_TEST(size_parse_invalid)
{
	static const char *const bad[] = {
		"0", "-1", "0km", "-5m", "10.5", "1001km", "1000001m", "abc",
		"10mi", "10 k m", "km", "m", "", "nan", "inf", "10kmx",
		"1e400",
	};
	double deg = 7, m = 7;
	char msg[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (sat_region_parse_size(bad[i], &deg, &m, msg, sizeof(msg)) !=
		    -EINVAL)
			satest_fail(__FILE__, __LINE__, "size invalid", bad[i]);
	}
	CHECK(deg == 7 && m == 7);
}

SAT_TEST(name_tutorial)
{
	struct sat_region *r = NULL;

	CHECK_INT(sat_region_parse_name(&r, "@8.3958,-82.4350,0.09", NULL, 0),
		  0);
	CHECK_STR(r->name, "@8.3958,-82.4350,0.09");
	CHECK_NEAR(r->bbox[0], -82.48, 1e-9);
	CHECK_NEAR(r->bbox[1], 8.3508, 1e-9);
	CHECK_NEAR(r->bbox[2], -82.39, 1e-9);
	CHECK_NEAR(r->bbox[3], 8.4408, 1e-9);
	CHECK(!r->has_dates);
	sat_region_free(r);
}

SAT_TEST(name_metres_and_dates)
{
	struct sat_region *r = NULL;

	CHECK_INT(sat_region_parse_name(
			  &r, "@0,10,10km,2024-01-01..2024-07-31", NULL, 0), 0);
	CHECK_NEAR(r->bbox[3] - r->bbox[1], 10000 / 111320.0, 1e-12);
	CHECK_NEAR(r->bbox[2] - r->bbox[0], 10000 / 111320.0, 1e-12);
	CHECK(r->has_dates);
	CHECK_INT(r->date_from, T_2024_01_01);
	CHECK_INT(r->date_to, T_2024_07_31_END);
	sat_region_free(r);
	CHECK_INT(sat_region_parse_name(&r, "@-33.9,18.4,500m", NULL, 0), 0);
	CHECK_NEAR(r->bbox[3] - r->bbox[1], 500 / 111320.0, 1e-12);
	sat_region_free(r);
}

SAT_TEST(name_bbox)
{
	struct sat_region *r = NULL;

	CHECK_INT(sat_region_parse_name(&r, "bbox=-82.48,8.35,-82.39,8.44",
					NULL, 0), 0);
	CHECK_STR(r->name, "bbox=-82.48,8.35,-82.39,8.44");
	CHECK(r->bbox[0] == -82.48 && r->bbox[1] == 8.35 &&
	      r->bbox[2] == -82.39 && r->bbox[3] == 8.44);
	CHECK_INT(r->nring, 4);
	CHECK(!r->has_dates);
	sat_region_free(r);
	CHECK_INT(sat_region_parse_name(
			  &r, "bbox=1,2,3,4,2024-02-29..2024-03-01", NULL, 0), 0);
	CHECK(r->has_dates);
	CHECK_INT(r->date_to - r->date_from, 2 * 86400 - 1);
	sat_region_free(r);
}

SAT_TEST(name_invalid)
{
	static const char *const bad[] = {
		"david", "", "@", "@1,2", "@a,b,c", "@1,2,3,4,5",
		"@1,2,0.09x", "@1,2,0", "@1,2,-1", "@1,,0.09", "@91,2,0.09",
		"@1,181,0.09", "@ 1,2,0.09", "@1,2,0.09,", "@1,2,0.09,x",
		"@1,2,0.09,2024-02-30..2024-03-01",
		"@1,2,0.09,2024-03-01..2024-02-01",
		"@1,2,0.09,2024-01-01 .. 2024-02-01", "@nan,2,0.09",
		"@1,inf,0.09", "@1,2,11", "@1,2,2000km", "bbox=1,2,3",
		"bbox=3,2,1,4", "bbox=1,4,3,2", "bbox=1,2,3,4,5",
		"bbox=1,2,3,4,2024-01-01", "bbox=1,2,3,4x", "bbox=",
		"bbox1,2,3,4", "BBOX=1,2,3,4", "bbox=1,2,3,4,", "@1,2,0.09\n",
		"x@1,2,0.09", "bbox=0x1,2,3,4",
	};
	struct sat_region *r = (struct sat_region *)1;
	char longname[400];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (sat_region_parse_name(&r, bad[i], NULL, 0) != -ENOENT)
			satest_fail(__FILE__, __LINE__, "name invalid", bad[i]);
		CHECK(r == NULL);
	}
	/* 248 bytes parse; with a dates suffix, 269 bytes are refused. */
	memset(longname, '0', sizeof(longname));
	memcpy(longname, "bbox=", 5);
	for (i = 0; i < 4; i++) {
		memcpy(longname + 5 + 61 * i, i < 2 ? "1." : "2.", 2);
		longname[5 + 61 * i + 60] = ',';
	}
	longname[5 + 61 * 3 + 60] = '\0';
	CHECK_INT(strlen(longname), 248);
	CHECK_INT(sat_region_parse_name(&r, longname, NULL, 0), 0);
	CHECK(r->bbox[0] == 1 && r->bbox[3] == 2);
	sat_region_free(r);
	strcat(longname, ",2024-01-01..2024-01-02");
	CHECK_INT(sat_region_parse_name(&r, longname, NULL, 0), -ENOENT);
	CHECK(r == NULL);
}

/* A bare size is degrees and at most 1: a larger one, most likely meant
 * as kilometres, is refused with a message that names the unit; other
 * bad names say nothing (they are probes and typos). */
SAT_TEST(name_bare_size_at_most_one_degree)
{
	struct sat_region *r = NULL;
	char msg[256];

	CHECK_INT(sat_region_parse_name(&r, "@8.39,-82.43,1", msg,
					sizeof(msg)), 0);
	CHECK_STR(msg, "");
	sat_region_free(r);
	CHECK_INT(sat_region_parse_name(&r,
					"@8.39,-82.43,5,2024-01-01..2024-07-31",
					msg, sizeof(msg)), -ENOENT);
	CHECK(r == NULL);
	CHECK(strstr(msg, "5km") != NULL);
	CHECK(strstr(msg, "degrees, at most 1") != NULL);
	CHECK_INT(sat_region_parse_name(&r, "@8.39,-82.43,1.5", msg,
					sizeof(msg)), -ENOENT);
	CHECK(strstr(msg, "1.5km") != NULL);
	CHECK_INT(sat_region_parse_name(&r, "@8.39,-82.43,5km", msg,
					sizeof(msg)), 0);
	CHECK_STR(msg, "");
	sat_region_free(r);
	CHECK_INT(sat_region_parse_name(&r, ".Trash", msg, sizeof(msg)),
		  -ENOENT);
	CHECK_STR(msg, "");
	/* a name meant as a region says why it is not one (issue 13) */
	CHECK_INT(sat_region_parse_name(&r, "@abc", msg, sizeof(msg)),
		  -ENOENT);
	CHECK(strstr(msg, "fields") != NULL);
}

SAT_TEST(format_date)
{
	char buf[11];

	sat_region_format_date(T_2024_01_01, buf);
	CHECK_STR(buf, "2024-01-01");
	sat_region_format_date(T_2024_07_31_END, buf);
	CHECK_STR(buf, "2024-07-31");
	sat_region_format_date(0, buf);
	CHECK_STR(buf, "1970-01-01");
	sat_region_format_date(951782400, buf); /* 2000-02-29 */
	CHECK_STR(buf, "2000-02-29");
}

/* A name meant as an ad-hoc region (it begins with '@' or "bbox=") that
 * is malformed says what is wrong, for the one log line; a probe such as
 * .Trash says nothing. */
SAT_TEST(malformed_adhoc_names_say_why)
{
	static const char *const bad[][2] = {
		{ "@8.39,-82.43", "fields" },
		{ "@8.39,-82.43,5km,2024-01-01..2024-07-31,x", "fields" },
		{ "@8.39,abc,5km", "not a number" },
		{ "@8.39,-82.43,5kmm", "size" },
		{ "@8.39,-82.43,5km,2024-13-01..2024-07-31", "date" },
		{ "bbox=-82.48,8.35,-82.39", "fields" },
		{ "bbox=-82.48,8.35,-82.39,x", "not a number" },
		{ "@8.39,-82.43,5", "5km" },
		{ "@8.39,-82.43,5km,max_region_cloud=200", "percentage" },
	};
	struct sat_region *r;
	char msg[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT(sat_region_parse_name(&r, bad[i][0], msg,
						sizeof(msg)), -ENOENT);
		CHECK(r == NULL);
		if (!strstr(msg, bad[i][1]))
			satest_fail(__FILE__, __LINE__, bad[i][0], msg);
	}
	CHECK_INT(sat_region_parse_name(&r, ".Trash", msg, sizeof(msg)),
		  -ENOENT);
	CHECK_STR(msg, "");
}
