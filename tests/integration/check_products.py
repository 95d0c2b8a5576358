#!/usr/bin/python3
"""References for the analysis products of a mount (test_products.sh),
computed with GDAL's tools from the source COGs, and compared with what
satfs served. Debian's interpreter: numpy and rasterio.

usage:
  check_products.py cloud FILE SCL_COG W,S,E,N
      print the region cloud cover of a scene's file: the share of the
      region's pixels (centres inside the region, on FILE's grid) whose SCL,
      warped onto that grid by nearest neighbour, is 3, 8, 9 or 10, among
      those whose SCL is not 0; one decimal
  check_products.py mask FILE SCL_COG W,S,E,N
      FILE (a product with mask = cloud, shadow, cirrus and no outline) is
      transparent exactly where the region's SCL is cloudy or no data
  check_products.py reflectance FILE W,S,E,N COG...
      FILE's float32 bands equal DN x 0.0001 - 0.1 of each COG (nearest
      neighbour onto FILE's grid), NaN outside the region and where DN is 0
  check_products.py mosaic MOSAIC SCENE...
      MOSAIC takes each pixel from the first SCENE (same grid) that has it
      opaque; transparent where none has
Exit 1 with the reason on a mismatch.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import rasterio

CLOUDY = (3, 8, 9, 10)


def run(*cmd):
    subprocess.run(cmd, check=True)


def grid_args(path):
    with rasterio.open(path) as f:
        b = f.bounds
        return (["-te", repr(b.left), repr(b.bottom), repr(b.right),
                 repr(b.top), "-ts", str(f.width), str(f.height)],
                f.crs.to_string())


def warp(src, like, tmp, name, ot):
    """src warped onto like's grid by nearest neighbour, as an array."""
    args, crs = grid_args(like)
    out = os.path.join(tmp, name)
    run("gdalwarp", "-q", "-overwrite", "-r", "near", "-ovr", "NONE",
        "-ot", ot, "-t_srs", crs, *args, src, out)
    with rasterio.open(out) as f:
        return f.read(1)


def inside(like, bbox, tmp):
    """1 where a pixel's centre is inside the lon/lat box, projected to
    like's CRS with its edges cut every 0.001 degree, as satfs projects a
    region's outline so that it follows the curvature."""
    w, s, e, n = (float(v) for v in bbox.split(","))
    ring = [[w, s], [e, s], [e, n], [w, n], [w, s]]
    geo = os.path.join(tmp, "region.geojson")
    with open(geo, "w") as f:
        json.dump({"type": "FeatureCollection", "features": [{
            "type": "Feature", "properties": {},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}]}, f)
    args, crs = grid_args(like)
    proj = os.path.join(tmp, "region_proj.geojson")
    run("ogr2ogr", "-q", "-f", "GeoJSON", "-s_srs", "EPSG:4326",
        "-t_srs", crs, "-segmentize", "0.001", proj, geo)
    out = os.path.join(tmp, "inside.tif")
    run("gdal_rasterize", "-q", "-burn", "1", "-ot", "Byte", "-a_srs", crs,
        *args, proj, out)
    with rasterio.open(out) as f:
        return f.read(1) == 1


def cloud(path, scl_cog, bbox, tmp):
    scl = warp(scl_cog, path, tmp, "scl.tif", "Byte")
    ins = inside(path, bbox, tmp)
    valid = ins & (scl != 0)
    cloudy = valid & np.isin(scl, CLOUDY)
    if not valid.any():
        return "n/a"
    return "%.1f" % (round(1000.0 * cloudy.sum() / valid.sum()) / 10)


def check_mask(path, scl_cog, bbox, tmp):
    scl = warp(scl_cog, path, tmp, "scl.tif", "Byte")
    ins = inside(path, bbox, tmp)
    with rasterio.open(path) as f:
        alpha = f.read(f.count)
    hidden = ins & np.isin(scl, CLOUDY)
    if (alpha[hidden] != 0).any():
        sys.exit("mask: %d cloudy pixels are not transparent"
                 % int((alpha[hidden] != 0).sum()))
    shown = ins & (scl != 0) & ~np.isin(scl, CLOUDY)
    if (alpha[shown] == 0).sum() > 0.001 * shown.sum():
        sys.exit("mask: %d of %d clear pixels are transparent"
                 % (int((alpha[shown] == 0).sum()), int(shown.sum())))
    print("mask: %d cloudy pixels transparent, %d clear shown"
          % (int(hidden.sum()), int(shown.sum())))


def check_reflectance(path, bbox, cogs, tmp):
    ins = inside(path, bbox, tmp)
    with rasterio.open(path) as f:
        if f.count != len(cogs) or any(d != "float32" for d in f.dtypes):
            sys.exit("reflectance: %d bands of %s" % (f.count, f.dtypes))
        got = f.read()
    for k, cog in enumerate(cogs):
        dn = warp(cog, path, tmp, "dn%d.tif" % k, "UInt16").astype(float)
        want = np.where(ins & (dn != 0), dn * 0.0001 - 0.1, np.nan)
        g = got[k].astype(float)
        if not np.array_equal(np.isnan(g), np.isnan(want)):
            sys.exit("reflectance band %d: NaN at %d pixels, want %d"
                     % (k + 1, int(np.isnan(g).sum()),
                        int(np.isnan(want).sum())))
        err = np.nanmax(np.abs(g - want)) if (~np.isnan(g)).any() else 0
        if err > 1e-6:
            sys.exit("reflectance band %d: off by up to %g" % (k + 1, err))
    print("reflectance: %d bands, %d values each" %
          (len(cogs), int((~np.isnan(got[0])).sum())))


def check_mosaic(mosaic, scenes):
    with rasterio.open(mosaic) as f:
        m = f.read()
        tr, crs = f.transform, f.crs
    want = np.zeros_like(m)
    taken = np.zeros(m.shape[1:], bool)
    for s in scenes:
        with rasterio.open(s) as f:
            if f.transform != tr or f.crs != crs or f.shape != m.shape[1:]:
                sys.exit("mosaic: %s is on another grid" % s)
            a = f.read()
        use = ~taken & (a[-1] != 0)
        want[:, use] = a[:, use]
        taken |= use
    if not np.array_equal(m, want):
        bad = (m != want).any(axis=0)
        y, x = np.argwhere(bad)[0]
        sys.exit("mosaic: %d pixels differ, first at row %d col %d: %s, "
                 "want %s" % (int(bad.sum()), y, x, m[:, y, x],
                              want[:, y, x]))
    print("mosaic: %d pixels, the same" % int(taken.sum()))


def main():
    what, args = sys.argv[1], sys.argv[2:]
    with tempfile.TemporaryDirectory() as tmp:
        if what == "cloud":
            print(cloud(args[0], args[1], args[2], tmp))
        elif what == "mask":
            check_mask(args[0], args[1], args[2], tmp)
        elif what == "reflectance":
            check_reflectance(args[0], args[1], args[2:], tmp)
        elif what == "mosaic":
            check_mosaic(args[0], args[1:])
        else:
            sys.exit(__doc__)


if __name__ == "__main__":
    main()
