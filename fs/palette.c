/*
 * palette: see include/satfs/palette.h. The named maps are given by their
 * published anchor colours (matplotlib's viridis at ten even steps,
 * ColorBrewer's RdYlGn and Blues), interpolated linearly in RGB.
 */
#include "satfs/palette.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *name;
	const char *colours;
} named[] = {
	{ "viridis", "440154,482878,3e4a89,31688e,26828e,1f9e89,35b779,"
		     "6dcd59,b4de2c,fde725" },
	{ "greys", "000000,ffffff" },
	{ "grays", "000000,ffffff" },
	{ "rdylgn", "a50026,d73027,f46d43,fdae61,fee08b,ffffbf,d9ef8b,"
		    "a6d96a,66bd63,1a9850,006837" },
	{ "blues", "f7fbff,deebf7,c6dbef,9ecae1,6baed6,4292c6,2171b5,"
		   "08519c,08306b" },
};

/* CSS colour names people put in Earth Engine palettes. */
static const struct {
	const char *name;
	uint32_t rgb;
} css[] = {
	{ "black", 0x000000 }, { "white", 0xffffff }, { "red", 0xff0000 },
	{ "green", 0x008000 }, { "blue", 0x0000ff }, { "yellow", 0xffff00 },
	{ "cyan", 0x00ffff }, { "magenta", 0xff00ff }, { "orange", 0xffa500 },
	{ "purple", 0x800080 }, { "brown", 0xa52a2a }, { "gray", 0x808080 },
	{ "grey", 0x808080 }, { "darkgreen", 0x006400 },
	{ "lightgreen", 0x90ee90 }, { "darkblue", 0x00008b },
	{ "lightblue", 0xadd8e6 }, { "navy", 0x000080 }, { "lime", 0x00ff00 },
	{ "olive", 0x808000 }, { "teal", 0x008080 }, { "maroon", 0x800000 },
	{ "beige", 0xf5f5dc }, { "tan", 0xd2b48c }, { "pink", 0xffc0cb },
};

static int parse_colour(const char *s, size_t n, uint8_t rgb[3])
{
	char buf[32];
	char *end;
	unsigned long v;

	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	for (size_t i = 0; i < sizeof(css) / sizeof(css[0]); i++)
		if (strcasecmp(buf, css[i].name) == 0) {
			v = css[i].rgb;
			goto out;
		}
	s = buf[0] == '#' ? buf + 1 : buf;
	n = strlen(s);
	if (n != 3 && n != 6)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return -EINVAL;
	v = strtoul(s, &end, 16);
	if (n == 3) /* #rgb: each digit twice */
		v = ((v >> 8 & 15) * 0x110000) | ((v >> 4 & 15) * 0x1100) |
		    ((v & 15) * 0x11);
out:
	rgb[0] = (uint8_t)(v >> 16);
	rgb[1] = (uint8_t)(v >> 8);
	rgb[2] = (uint8_t)v;
	return 0;
}

int sat_palette_parse(const char *text, uint8_t table[256][3], char *err,
		      size_t errlen)
{
	uint8_t anchors[SAT_PALETTE_MAX_COLOURS][3];
	size_t n = 0;
	const char *p;

	for (size_t i = 0; text && i < sizeof(named) / sizeof(named[0]); i++)
		if (strcasecmp(text, named[i].name) == 0) {
			text = named[i].colours;
			break;
		}
	for (p = text; p && *p;) {
		size_t len;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			break;
		len = strcspn(p, ", \t");
		if (n == SAT_PALETTE_MAX_COLOURS) {
			snprintf(err, errlen, "more than %d colours",
				 SAT_PALETTE_MAX_COLOURS);
			return -EINVAL;
		}
		if (parse_colour(p, len, anchors[n]) != 0) {
			snprintf(err, errlen, "'%.*s' is not a colour (#rrggbb, "
				 "rrggbb, #rgb or a name) nor a palette "
				 "(viridis, greys, rdylgn, blues)",
				 (int)(len > 40 ? 40 : len), p);
			return -EINVAL;
		}
		n++;
		p += len;
	}
	if (n == 0) {
		snprintf(err, errlen, "an empty palette");
		return -EINVAL;
	}
	for (int i = 0; i < 256; i++) {
		double t = n == 1 ? 0 : i / 255.0 * (double)(n - 1);
		size_t k = (size_t)t < n - 1 ? (size_t)t : n - 1;
		double f = n == 1 ? 0 : t - (double)k;
		size_t k2 = k + 1 < n ? k + 1 : k;

		for (int c = 0; c < 3; c++)
			table[i][c] = (uint8_t)lround(
				anchors[k][c] * (1 - f) + anchors[k2][c] * f);
	}
	return 0;
}
