#!/usr/bin/python3
"""Checks satfs's pictures with readers of their own (GDAL through rasterio
for PNG and GeoTIFF, Pillow for GIF), for tests/integration/test_pictures.sh.

    check_pictures.py same PNG TIF
        the quicklook's pixels are exactly the GeoTIFF's (a product at the
        quicklook's scale: the same rules, so the same bytes)
    check_pictures.py near PNG REF MAXMEAN MAXP99
        against the full-resolution GeoTIFF downsampled by GDAL (REF,
        gdal_translate -r average onto the quicklook's grid): where both
        are opaque and away from the region's outline, the mean absolute
        difference per channel is at most MAXMEAN and its 99th percentile
        at most MAXP99. (The quicklook reads the COGs' overviews, averaged
        DNs stretched; the reference averages stretched pixels.)
    check_pictures.py gif GIF DELAY_CS DATE:PNG...
        one frame per date, in order, each the screen's size, DELAY_CS
        hundredths of a second; the date written on each frame reads back
        as DATE; the rest of the frame is the quicklook PNG through the
        palette: transparent exactly where it is, colours close on average.
"""

import sys

import warnings

import numpy as np
import rasterio
from PIL import Image

# PNG and GIF have no georeferencing: that is not news
warnings.filterwarnings("ignore", category=rasterio.errors.NotGeoreferencedWarning)


def fail(msg):
    print("FAIL check_pictures: " + msg, file=sys.stderr)
    sys.exit(1)


def rgba(path):
    with rasterio.open(path) as d:
        a = d.read()
    if a.shape[0] != 4:
        fail("%s: %d bands, not RGBA" % (path, a.shape[0]))
    return a.astype(np.int32)


def same(png, tif):
    p, t = rgba(png), rgba(tif)
    if p.shape != t.shape:
        fail("%s is %s, %s is %s" % (png, p.shape, tif, t.shape))
    diff = np.argwhere(p != t)
    if len(diff):
        b, y, x = diff[0]
        fail("%d samples differ, first band %d at (%d, %d): %d != %d" %
             (len(diff), b, x, y, p[b, y, x], t[b, y, x]))
    print("same: %s == %s (%dx%d)" % (png, tif, p.shape[2], p.shape[1]))


def near(png, ref, maxmean, maxp99):
    p, r = rgba(png), rgba(ref)
    if p.shape != r.shape:
        fail("%s is %s, %s is %s" % (png, p.shape, ref, r.shape))
    outline = (p[0] == 0) & (p[1] == 0) & (p[2] == 255) & (p[3] == 255)
    near_outline = outline.copy()
    for dy in (-2, -1, 0, 1, 2):
        for dx in (-2, -1, 0, 1, 2):
            near_outline |= np.roll(np.roll(outline, dy, 0), dx, 1)
    use = (p[3] == 255) & (r[3] == 255) & ~near_outline
    if use.sum() < 0.5 * use.size:
        fail("only %d of %d pixels to compare" % (use.sum(), use.size))
    d = np.abs(p[:3] - r[:3])[:, use]
    mean, p99 = d.mean(), np.percentile(d, 99)
    print("near: %d pixels, mean |diff| %.2f, 99th percentile %.0f" %
          (use.sum(), mean, p99))
    if mean > maxmean or p99 > maxp99:
        fail("beyond the tolerance (mean %s, p99 %s)" % (maxmean, maxp99))


# The 5 x 7 digits and '-' the time-lapse writes its dates in, as this
# test reads them back (rows top down, bit 4 the leftmost column).
FONT = {
    "0": (0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e),
    "1": (0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e),
    "2": (0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f),
    "3": (0x1f, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0e),
    "4": (0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02),
    "5": (0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e),
    "6": (0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e),
    "7": (0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08),
    "8": (0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e),
    "9": (0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c),
    "-": (0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00),
}
GLYPHS = {v: k for k, v in FONT.items()}


def read_label(frame, width, nchars):
    """The text in the black box at the top left (layout as album_gif.c
    documents it: scale max(1, width / 320), box at 4 * scale, margin 2 *
    scale, glyph cells 6 * scale wide)."""
    s = max(1, width // 320)
    x0 = y0 = 4 * s + 2 * s
    text = ""
    for i in range(nchars):
        rows = []
        for gy in range(7):
            bits = 0
            for gx in range(5):
                px = frame[y0 + gy * s, x0 + i * 6 * s + gx * s]
                white = px[3] == 255 and px[:3].min() == 255
                black = px[3] == 255 and px[:3].max() == 0
                if not (white or black):
                    fail("label pixel neither black nor white: %s" % px)
                bits = bits << 1 | int(white)
            rows.append(bits)
        text += GLYPHS.get(tuple(rows), "?")
    box = (y0 - 2 * s, y0 + 9 * s, x0 - 2 * s, x0 + (6 * nchars + 1) * s)
    return text, box


def gif(path, delay_cs, frames):
    im = Image.open(path)
    n = getattr(im, "n_frames", 1)
    if n != len(frames):
        fail("%s has %d frames, %d dates" % (path, n, len(frames)))
    W, H = im.size
    for f, (date, png) in enumerate(frames):
        im.seek(f)
        if im.info.get("duration") != delay_cs * 10:
            fail("frame %d: duration %s ms, not %d" %
                 (f, im.info.get("duration"), delay_cs * 10))
        if im.disposal_method != 2:
            fail("frame %d: disposal %s" % (f, im.disposal_method))
        fr = np.asarray(im.convert("RGBA")).astype(np.int32)
        if fr.shape[:2] != (H, W):
            fail("frame %d is %s, the screen %dx%d" % (f, fr.shape, W, H))
        text, (by0, by1, bx0, bx1) = read_label(fr, W, len(date))
        if text != date:
            fail("frame %d reads %r, its date is %s" % (f, text, date))
        q = np.transpose(rgba(png), (1, 2, 0))
        h, w = q.shape[:2]
        part = fr[:h, :w].copy()
        mask = np.ones((h, w), bool)
        mask[by0:by1, bx0:bx1] = False
        opaque = q[:, :, 3] >= 128
        if not np.array_equal((part[:, :, 3] == 255) & mask, opaque & mask):
            fail("frame %d: transparency differs from %s" % (f, png))
        if (fr[h:, :, 3] != 0).any() or (fr[:, w:, 3] != 0).any():
            fail("frame %d: opaque beyond its quicklook" % f)
        # the dither keeps 4 x 4 averages close to the picture
        use = opaque & mask
        hh, ww = h // 4 * 4, w // 4 * 4
        a = part[:hh, :ww, :3].reshape(hh // 4, 4, ww // 4, 4, 3).mean((1, 3))
        b = q[:hh, :ww, :3].reshape(hh // 4, 4, ww // 4, 4, 3).mean((1, 3))
        u = use[:hh, :ww].reshape(hh // 4, 4, ww // 4, 4).all((1, 3))
        err = np.abs(a - b)[u].mean()
        print("frame %d: %s, %dx%d, mean |4x4 error| %.2f" %
              (f, text, W, H, err))
        if err > 12:
            fail("frame %d: colours too far from %s" % (f, png))


def main(argv):
    if len(argv) >= 3 and argv[0] == "same":
        same(argv[1], argv[2])
    elif len(argv) == 5 and argv[0] == "near":
        near(argv[1], argv[2], float(argv[3]), float(argv[4]))
    elif len(argv) >= 4 and argv[0] == "gif":
        gif(argv[1], int(argv[2]),
            [tuple(a.split(":", 1)) for a in argv[3:]])
    else:
        fail("usage: see the docstring")


if __name__ == "__main__":
    main(sys.argv[1:])
