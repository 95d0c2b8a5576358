/*
 * palette: colour maps for single-value products (an expression such as
 * NDVI): a value between a product's min and max becomes one of 256
 * colours.
 *
 * A palette is named (viridis, greys, rdylgn, blues) or a comma-separated
 * list of colours, spread evenly from min to max and interpolated between
 * (as Earth Engine's `palette` visualisation parameter): `#rrggbb`,
 * `rrggbb` (Earth Engine's spelling), `#rgb` or a colour name such as
 * `white`, `darkgreen`.
 *
 * Pure functions, thread-safe.
 */
#ifndef SATFS_PALETTE_H
#define SATFS_PALETTE_H

#include <stddef.h>
#include <stdint.h>

#define SAT_PALETTE_MAX_COLOURS 64

/* Fills table[0..255] from text. 0, or -EINVAL with the problem in err. */
int sat_palette_parse(const char *text, uint8_t table[256][3], char *err,
		      size_t errlen);

#endif
