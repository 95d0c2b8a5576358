#!/usr/bin/python3
"""The script satfs replaces, written the way a competent user writes it
today: search a STAC API for Sentinel-2 scenes over a region and a date
range, then, in a pool of 8 threads, read each scene's window of three
bands with rasterio (GDAL's /vsicurl/ under it: range requests, merged
ranges, HTTP/2 where offered), stretch them into a picture and save it as a
GeoTIFF.

    peer.py API_ROOT OUTDIR [--product falsecolor|truecolor] [--threads 8]

The picture is satfs' falsecolor (or truecolor) product without the clip
mask and outline: v = DN * 10000 * scale + 10000 * offset from the asset's
raster:bands, out = 255 * clamp((v - min) / (max - min)) ^ (1 / gamma),
alpha 0 where a band is nodata. It runs on Debian's python3-rasterio.
"""

import argparse
import concurrent.futures
import json
import os
import sys
import urllib.request

import numpy as np
import rasterio
from rasterio.warp import transform_bounds
from rasterio.windows import from_bounds

REGION = (-82.48, 8.3508, -82.39, 8.4408)  # the tutorial's, W S E N
DATES = "2024-01-01T00:00:00Z/2025-12-31T23:59:59Z"
PRODUCTS = {
    "falsecolor": (("nir", "red", "green"), 0, 5000, 1.35),
    "truecolor": (("red", "green", "blue"), 0, 3000, 1.0),
}
GDAL_ENV = dict(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR",
                GDAL_HTTP_MULTIPLEX="YES",
                GDAL_HTTP_MERGE_CONSECUTIVE_RANGES="YES",
                CPL_VSIL_CURL_ALLOWED_EXTENSIONS=".tif")


def search(api):
    """Every item of the region and dates, following `next` links."""
    body = {"collections": ["sentinel-2-l2a"], "bbox": list(REGION),
            "datetime": DATES, "limit": 100,
            "query": {"eo:cloud_cover": {"lt": 85}}}
    url, method, items = api + "/search", "POST", []
    while url:
        data = json.dumps(body).encode() if method == "POST" else None
        req = urllib.request.Request(
            url, data, {"Content-Type": "application/json"}, method=method)
        with urllib.request.urlopen(req) as r:
            page = json.load(r)
        items += page["features"]
        nxt = [l for l in page.get("links", []) if l.get("rel") == "next"]
        if not nxt or not page["features"]:
            break
        url, method = nxt[0]["href"], nxt[0].get("method", "GET")
        body = dict(body, **nxt[0].get("body", {})) if nxt[0].get(
            "merge") else nxt[0].get("body", body)
    return items


def render(item, product, outdir):
    keys, lo, hi, gamma = PRODUCTS[product]
    rgb, alpha, profile = [], None, None
    with rasterio.Env(**GDAL_ENV):
        for key in keys:
            asset = item["assets"][key]
            rb = (asset.get("raster:bands") or [{}])[0]
            with rasterio.open(asset["href"]) as src:
                left, bottom, right, top = transform_bounds(
                    "EPSG:4326", src.crs, *REGION)
                win = from_bounds(left, bottom, right, top, src.transform)
                win = win.round_offsets().round_lengths()
                dn = src.read(1, window=win, boundless=True, fill_value=0)
                if profile is None:
                    profile = dict(driver="GTiff", width=dn.shape[1],
                                   height=dn.shape[0], count=4,
                                   dtype="uint8", crs=src.crs,
                                   transform=src.window_transform(win),
                                   tiled=True, blockxsize=256,
                                   blockysize=256)
            nodata = rb.get("nodata", 0)
            valid = dn != nodata
            alpha = valid if alpha is None else alpha & valid
            v = dn * (10000.0 * rb.get("scale", 1e-4)) + \
                10000.0 * rb.get("offset", 0.0)
            t = np.clip((v - lo) / (hi - lo), 0, 1) ** (1.0 / gamma)
            rgb.append(np.round(255 * t).astype(np.uint8))
    path = os.path.join(outdir, "%s.%s.tif" % (item["id"], product))
    with rasterio.open(path, "w", **profile) as dst:
        for i, band in enumerate(rgb):
            dst.write(np.where(alpha, band, 0), i + 1)
        dst.write(alpha.astype(np.uint8) * 255, 4)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("api")
    ap.add_argument("outdir")
    ap.add_argument("--product", default="falsecolor",
                    choices=sorted(PRODUCTS))
    ap.add_argument("--threads", type=int, default=8)
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    items = search(a.api)
    with concurrent.futures.ThreadPoolExecutor(a.threads) as pool:
        done = list(pool.map(lambda it: render(it, a.product, a.outdir),
                             items))
    print(len(done))
    return 0


if __name__ == "__main__":
    sys.exit(main())
