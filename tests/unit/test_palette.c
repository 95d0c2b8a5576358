/* Unit tests: fs/palette.c. */
#include "satest.h"

#include <errno.h>
#include <string.h>

#include "satfs/palette.h"

static void check_rgb(const uint8_t c[3], int r, int g, int b)
{
	CHECK_INT(c[0], r);
	CHECK_INT(c[1], g);
	CHECK_INT(c[2], b);
}

/* Named maps: their ends are their published first and last colours. */
SAT_TEST(named)
{
	uint8_t t[256][3];
	char err[200];

	CHECK_INT(sat_palette_parse("viridis", t, err, sizeof(err)), 0);
	check_rgb(t[0], 0x44, 0x01, 0x54);
	check_rgb(t[255], 0xfd, 0xe7, 0x25);
	CHECK_INT(sat_palette_parse("GREYS", t, err, sizeof(err)), 0);
	check_rgb(t[0], 0, 0, 0);
	check_rgb(t[128], 128, 128, 128);
	check_rgb(t[255], 255, 255, 255);
	CHECK_INT(sat_palette_parse("rdylgn", t, err, sizeof(err)), 0);
	check_rgb(t[0], 0xa5, 0x00, 0x26);
	check_rgb(t[255], 0x00, 0x68, 0x37);
	/* the middle anchor of 11 sits at 127.5: between two entries */
	CHECK(t[127][0] > 0xf0 && t[128][2] > 0xb0);
}

/* A list of colours in Earth Engine's spellings, spread evenly. */
SAT_TEST(list)
{
	uint8_t t[256][3];
	char err[200];

	CHECK_INT(sat_palette_parse("#0000ff, white, 008000", t, err,
				    sizeof(err)), 0);
	check_rgb(t[0], 0, 0, 255);
	check_rgb(t[255], 0, 0x80, 0);
	CHECK(t[127][0] > 250 && t[127][2] > 250); /* near white */
	CHECK_INT(sat_palette_parse("#f00", t, err, sizeof(err)), 0);
	check_rgb(t[0], 255, 0, 0);
	check_rgb(t[255], 255, 0, 0);
}

SAT_TEST(errors)
{
	uint8_t t[256][3];
	char err[200];

	CHECK_INT(sat_palette_parse("blue, bleu", t, err, sizeof(err)),
		  -EINVAL);
	CHECK(strstr(err, "'bleu' is not a colour"));
	CHECK_INT(sat_palette_parse("#12345", t, err, sizeof(err)), -EINVAL);
	CHECK_INT(sat_palette_parse("", t, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "empty"));
}
