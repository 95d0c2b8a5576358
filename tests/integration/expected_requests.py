#!/usr/bin/env python3
"""The HTTP requests a cold render of one file should cost, computed
independently of satfs: from the sample COGs on disk and the output grid.

usage: expected_requests.py OUT.tif BAND.tif [BAND.tif...]
Prints one JSON object: {"headers": H, "tiles": N, "per_band": [...],
"tile_ranges": {"<band basename>": [[offset, length], ...]}}.

- headers: one range read from byte 0 per band, plus one more where the
  band's header (IFDs and their out-of-line tag data) is longer than the
  first read (16 KiB);
- tiles: one request per run of tiles of one band that lie one after
  another in the file, gaps of up to 16 KiB included (GDAL's COG writer
  puts a small leader and trailer around every tile).

The grid (origin, pixel size, size) is taken from OUT.tif with gdalinfo;
the level read is the coarsest whose pixel is at least as fine as the
grid's (docs/ARCHITECTURE.md "Rendering rules", rule 3); a source pixel is
the one containing the output pixel's centre. The TIFF tags are parsed
here, with the struct module.
"""
import json
import math
import os
import struct
import subprocess
import sys

PREFIX = 16384
MERGE_GAP = 16384

TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8,
             11: 4, 12: 8, 16: 8, 17: 8, 18: 8}
TYPE_FMT = {1: "B", 3: "H", 4: "I", 16: "Q", 6: "b", 8: "h", 9: "i", 17: "q",
            18: "Q"}


def parse_tiff(path):
    """The IFDs of path: a list of dicts tag -> values, and where the
    header structures end (the largest byte they reach)."""
    data = open(path, "rb").read()
    bo = {b"II": "<", b"MM": ">"}[data[:2]]
    magic = struct.unpack(bo + "H", data[2:4])[0]
    big = magic == 43
    if big:
        off = struct.unpack(bo + "Q", data[8:16])[0]
    else:
        off = struct.unpack(bo + "I", data[4:8])[0]
    ifds, end = [], 16 if big else 8
    while off:
        if big:
            n = struct.unpack(bo + "Q", data[off:off + 8])[0]
            esz, p = 20, off + 8
        else:
            n = struct.unpack(bo + "H", data[off:off + 2])[0]
            esz, p = 12, off + 2
        tags = {}
        for i in range(n):
            e = data[p + i * esz:p + (i + 1) * esz]
            if big:
                tag, typ, cnt = struct.unpack(bo + "HHQ", e[:12])
                inline, voff = 8, 12
            else:
                tag, typ, cnt = struct.unpack(bo + "HHI", e[:8])
                inline, voff = 4, 8
            size = TYPE_SIZE.get(typ, 1) * cnt
            if size <= inline:
                raw = e[voff:voff + size]
            else:
                vo = struct.unpack(bo + ("Q" if big else "I"),
                                   e[voff:voff + inline])[0]
                raw = data[vo:vo + size]
                end = max(end, vo + size)
            if typ in TYPE_FMT:
                tags[tag] = list(struct.unpack(bo + TYPE_FMT[typ] * cnt,
                                               raw))
        p += n * esz
        nxt = struct.unpack(bo + ("Q" if big else "I"),
                            data[p:p + (8 if big else 4)])[0]
        end = max(end, p + (8 if big else 4))
        ifds.append(tags)
        off = nxt
    return ifds, end


def gdal_info(path):
    return json.loads(subprocess.check_output(["gdalinfo", "-json", path]))


def axis_tiles(o_out, px_out, n_out, o_src, px_src, n_src, tile, sign):
    """Distinct tile indices hit along one axis."""
    hit = set()
    for c in range(n_out):
        v = o_out + sign * (c + 0.5) * px_out
        f = math.floor(sign * (v - o_src) / px_src)
        if 0 <= f < n_src:
            hit.add(f // tile)
    return hit


def band_requests(out, band):
    ifds, hdr_end = parse_tiff(band)
    info = gdal_info(band)
    gt = info["geoTransform"]
    w0 = ifds[0][256][0]
    # full resolution and its overviews; masks (bit 2 of
    # NewSubfileType) are not pixel levels
    levels = [d for d in ifds if not (d.get(254, [0])[0] & 4)]
    best, bestpx = 0, -1.0
    for i, d in enumerate(levels):
        px = gt[1] * w0 / d[256][0]
        if px <= out["px"] * (1 + 1e-9) and px > bestpx:
            best, bestpx = i, px
    d = levels[best]
    lw, lh = d[256][0], d[257][0]
    tw, th = d[322][0], d[323][0]
    pxx = gt[1] * w0 / lw
    pxy = -gt[5] * ifds[0][257][0] / lh
    across = (lw + tw - 1) // tw
    cols = axis_tiles(out["ox"], out["px"], out["w"], gt[0], pxx, lw, tw, 1)
    rows = axis_tiles(out["oy"], out["px"], out["h"], gt[3], pxy, lh, th,
                      -1)
    ranges = []
    for ty in rows:
        for tx in cols:
            k = ty * across + tx
            if d[325][k]:
                ranges.append((d[324][k], d[325][k]))
    ranges.sort()
    runs = []
    for o, n in ranges:
        if runs and o >= runs[-1][0] and o + n <= runs[-1][0] + runs[-1][1]:
            continue
        if runs and o >= runs[-1][0] + runs[-1][1] and \
                o - (runs[-1][0] + runs[-1][1]) <= MERGE_GAP:
            runs[-1][1] = o + n - runs[-1][0]
            continue
        runs.append([o, n])
    return {"band": os.path.basename(os.path.dirname(band)) + "/" +
            os.path.basename(band), "level": best, "tiles": len(ranges),
            "runs": len(runs), "header_bytes": hdr_end,
            "header_reads": 1 + (hdr_end > PREFIX), "tile_ranges": ranges}


def main():
    info = gdal_info(sys.argv[1])
    gt = info["geoTransform"]
    assert abs(gt[1] + gt[5]) < 1e-9 and gt[2] == 0 and gt[4] == 0, gt
    out = {"ox": gt[0], "oy": gt[3], "px": gt[1], "w": info["size"][0],
           "h": info["size"][1]}
    per = [band_requests(out, b) for b in sys.argv[2:]]
    print(json.dumps({
        "headers": sum(p["header_reads"] for p in per),
        "tiles": sum(p["runs"] for p in per),
        "per_band": [{k: v for k, v in p.items() if k != "tile_ranges"}
                     for p in per],
        "tile_ranges": {p["band"]: p["tile_ranges"] for p in per},
    }))


if __name__ == "__main__":
    main()
