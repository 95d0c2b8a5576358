#!/usr/bin/env python3
"""Checks a GeoTIFF that satfs rendered against GDAL doing the same job.

GDAL is the independent judge: gdalinfo must read the file without a
warning, and gdalwarp resamples each source band onto the file's own grid
(nearest neighbour); the rules of docs/ARCHITECTURE.md "Rendering rules"
are then applied here and compared pixel by pixel:
  - well inside the region (3 px from its boundary): alpha is 255 where
    every band has data and 0 where one is nodata; RGB within +-1;
  - well outside it: alpha 0 (when clip is on);
  - on the boundary: the outline colour, for most pixels.

usage: check_render.py FILE.tif --bands B08.tif,B04.tif,B03.tif
         --min 0 --max 5000 --gamma 1.35 --offset -1000
         --region lon,lat,lon,lat,... [--raw] [--no-outline]
Prints one summary line; exit 0 when every check holds.
"""
import argparse
import array
import json
import math
import os
import subprocess
import sys
import tempfile


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("FAIL: %s: %s" % (" ".join(cmd), p.stderr.strip()))
    return p.stdout + p.stderr


def gdalinfo(path):
    p = subprocess.run(["gdalinfo", "-json", path], capture_output=True,
                       text=True)
    if p.returncode != 0 or "Warning" in p.stderr or "ERROR" in p.stderr:
        sys.exit("FAIL: gdalinfo %s: %s" % (path, p.stderr.strip()))
    return json.loads(p.stdout)


def read_raw(path, tmp, bands=None):
    """All bands of path as pixel-interleaved values, via GDAL."""
    out = os.path.join(tmp, "raw%d" % len(os.listdir(tmp)))
    cmd = ["gdal_translate", "-q", "-of", "ENVI", "-co", "INTERLEAVE=BIP"]
    for b in bands or []:
        cmd += ["-b", str(b)]
    run(cmd + [path, out])
    info = gdalinfo(out)
    kind = info["bands"][0]["type"]
    a = array.array({"Byte": "B", "UInt16": "H"}[kind])
    with open(out, "rb") as f:
        a.frombytes(f.read())
    return a, len(info["bands"])


def overview_for(src, px):
    """Rendering rule 3 in gdalwarp's terms: the coarsest overview whose
    resolution is still at least as fine as px ("NONE": full resolution)."""
    info = gdalinfo(src)
    w = info["size"][0]
    res0 = info["geoTransform"][1]
    best = "NONE"
    for i, ov in enumerate(info["bands"][0].get("overviews", [])):
        if res0 * w / ov["size"][0] <= px * (1 + 1e-9):
            best = str(i)
    return best


def project(lonlat, epsg):
    pts = "\n".join("%r %r" % (lonlat[i], lonlat[i + 1])
                    for i in range(0, len(lonlat), 2))
    p = subprocess.run(["gdaltransform", "-s_srs", "EPSG:4326", "-t_srs",
                        "EPSG:%d" % epsg, "-output_xy"], input=pts,
                       capture_output=True, text=True, check=True)
    return [tuple(map(float, l.split()[:2])) for l in p.stdout.splitlines()]


def seg_dist(px, py, a, b):
    ax, ay = a
    bx, by = b
    dx, dy = bx - ax, by - ay
    t = 0.0
    if dx or dy:
        t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) /
                         (dx * dx + dy * dy)))
    return math.hypot(px - ax - t * dx, py - ay - t * dy)


def inside(px, py, poly):
    c = False
    j = len(poly) - 1
    for i in range(len(poly)):
        xi, yi = poly[i]
        xj, yj = poly[j]
        if (yi > py) != (yj > py) and \
                px < (xj - xi) * (py - yi) / (yj - yi) + xi:
            c = not c
        j = i
    return c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--bands", required=True)
    ap.add_argument("--min", type=float, default=0)
    ap.add_argument("--max", type=float, default=5000)
    ap.add_argument("--gamma", type=float, default=1.0)
    ap.add_argument("--offset", type=float, default=0,
                    help="added to DN before the stretch (v = DN + offset)")
    ap.add_argument("--region", required=True)
    ap.add_argument("--raw", action="store_true")
    ap.add_argument("--no-outline", action="store_true")
    ap.add_argument("--outline-rgb", default="0,0,255")
    a = ap.parse_args()

    info = gdalinfo(a.file)
    w, h = info["size"]
    gt = info["geoTransform"]
    px = gt[1]
    assert gt[2] == 0 and gt[4] == 0 and abs(gt[5] + px) < 1e-9, gt
    wkt = info["coordinateSystem"]["wkt"]
    epsg = int(wkt.rsplit('ID["EPSG",', 1)[1].split("]")[0])
    if os.path.getsize(a.file) != os.stat(a.file).st_size:
        sys.exit("FAIL: size")
    srcs = a.bands.split(",")
    nb = len(srcs)

    with tempfile.TemporaryDirectory() as tmp:
        got, nout = read_raw(a.file, tmp)
        want = []
        for s in srcs:
            out = os.path.join(tmp, "warp%d" % len(want))
            run(["gdalwarp", "-q", "-of", "ENVI", "-r", "near", "-t_srs",
                 "EPSG:%d" % epsg, "-te", repr(gt[0]), repr(gt[3] - h * px),
                 repr(gt[0] + w * px), repr(gt[3]), "-ts", str(w), str(h),
                 "-ovr", overview_for(s, px),
                 "-srcnodata", "None", "-dstnodata", "None", s, out])
            band, _ = read_raw(out, tmp)
            want.append(band)

    ll = list(map(float, a.region.split(",")))
    poly = project(ll, epsg)
    # pixel-space polygon: column/row of each vertex
    ppoly = [((x - gt[0]) / px, (gt[3] - y) / px) for x, y in poly]
    edges = [(ppoly[i], ppoly[(i + 1) % len(ppoly)])
             for i in range(len(ppoly))]
    orgb = tuple(map(int, a.outline_rgb.split(",")))
    lut = [0] * 65536
    if not a.raw:
        for dn in range(65536):
            v = dn + a.offset
            t = min(1.0, max(0.0, (v - a.min) / (a.max - a.min)))
            lut[dn] = int(math.floor(255 * t ** (1.0 / a.gamma) + 0.5))

    inner = outer = edge = edge_ok = bad = nodata = 0
    first_bad = None
    for row in range(h):
        cy = row + 0.5
        for col in range(w):
            cx = col + 0.5
            d = min(seg_dist(cx, cy, e0, e1) for e0, e1 in edges) \
                if (col < 6 or row < 6 or col >= w - 6 or row >= h - 6 or
                    len(ppoly) != 4) else 99.0
            i = row * w + col
            g = got[i * nout:(i + 1) * nout]
            if d < 0.5 and not a.no_outline and not a.raw:
                edge += 1
                edge_ok += tuple(g[:3]) == orgb and g[3] == 255
                continue
            if d < 3.0:
                continue
            if not inside(cx, cy, ppoly):
                outer += 1
                if (a.raw and any(g)) or (not a.raw and g[3] != 0):
                    bad += 1
                    first_bad = first_bad or (col, row, "outside", list(g))
                continue
            inner += 1
            dns = [want[b][i] for b in range(nb)]
            valid = all(dns)
            if not valid:
                nodata += 1
            if a.raw:
                exp = dns if valid else [0] * nb
                ok = list(g) == exp
            elif not valid:
                ok = g[3] == 0
            else:
                exp = [lut[v] for v in dns]
                if nb == 1:
                    exp = exp * 3
                ok = g[3] == 255 and all(abs(g[k] - exp[k]) <= 1
                                         for k in range(3))
            if not ok:
                bad += 1
                first_bad = first_bad or (col, row, "inside", list(g), dns)
    if inner == 0:
        sys.exit("FAIL: no pixel inside the region")
    if bad:
        sys.exit("FAIL: %d of %d pixels differ; first %r" %
                 (bad, inner + outer, first_bad))
    if edge and edge_ok < 0.9 * edge:
        sys.exit("FAIL: outline: %d of %d boundary pixels" % (edge_ok, edge))
    print("ok %s: %dx%d EPSG:%d, %d inside (%d nodata), %d outside, "
          "outline %d/%d" % (os.path.basename(a.file), w, h, epsg, inner,
                              nodata, outer, edge_ok, edge))


if __name__ == "__main__":
    main()
