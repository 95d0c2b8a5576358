#!/usr/bin/env python3
"""A fake Earth Engine REST API (v1) over the sample scenes, for tests.

    fake_earthengine.py --catalog SAMPLES [--port 0] [--port-file F]
                        [--log F] [--pubkey PEM] [--max-side N]
                        [--max-bytes N] [--page-size-cap N]

Standard library only (plus the GDAL command-line tools, run once per band
of a getPixels request). It follows the v1 reference
(https://developers.google.com/earth-engine/reference/rest/v1):

- GET /v1/projects/earthengine-public/assets/{collection}:listAssets
  (projects.assets.listAssets) with pageSize (1..1000, 10000 for view
  BASIC), pageToken (an opaque nextPageToken), view (FULL, the default, or
  BASIC: type, name and id only) and filter, in the form the official
  clients write it (google.aip.dev/160): terms joined by AND, each one of
  startTime >= "RFC3339", endTime < "RFC3339" (also >, <=, <, >=),
  intersects("GEOJSON") with the GeoJSON's double quotes as single ones
  (matched against the footprints' bounding boxes), and properties.NAME
  OP NUMBER; anything else is 400. The answer is a ListAssetsResponse:
  {"assets": [EarthEngineAsset...], "nextPageToken": ...}, {} when empty.
  listImages is a v1alpha method: on /v1 it is 404, as any unknown method.
- Three collections over the same sample scenes, each image an
  EarthEngineAsset of type IMAGE with id, name, startTime, endTime,
  geometry, properties (CLOUDY_PIXEL_PERCENTAGE, PROCESSING_BASELINE,
  MGRS_TILE, SPACECRAFT_NAME) and bands with dataType and grid, ids
  YYYYMMDDTHHMMSS_YYYYMMDDTHHMMSS_TxxXXX:
    COPERNICUS/S2_SR_HARMONIZED  uint16, DN - 1000 where the item says
                                 offset -0.1 (baseline 04.00 and later)
    COPERNICUS/S2_SR             uint16, the DNs as they are (+1000 kept)
    SATFS_TEST/S2_SR_FLOAT32     float32 reflectance, (DN - offset) / 1e4
  Masked pixels are 0; a valid pixel is never 0.
- POST .../assets/{collection}/{image}:getPixels with fileFormat NPY (a
  NumPy .npy structured array, one field per band in the band's type) or
  GEO_TIFF (uint16 collections only), bandIds and a grid (crsCode,
  affineTransform without shear, dimensions). Pixel (0, 0) is the top-left
  corner of the affine transform. Pixels are cut from the sample COGs with
  gdalwarp (nearest neighbour). Requests over the limits (--max-side
  pixels a side, --max-bytes uncompressed, counted in the bands' types)
  are 400.
- POST /token: the OAuth 2.0 JWT-bearer grant. The assertion's RS256
  signature is checked with `openssl dgst` against --pubkey; iss, aud
  and exp are checked; the answer is a new access token valid 3600 s; a
  refusal is RFC 6749's {"error": "invalid_grant", "error_description"}.
- Authorization: every API request needs `Authorization: Bearer T` with a
  token that is valid: one the token endpoint issued, or one that starts
  with "good-". Missing, unknown or expired tokens get 401 in the API's
  error shape. satfs ties every call to a Cloud project: a request
  without X-Goog-User-Project gets 403 (PERMISSION_DENIED), so that a test
  notices.
- POST /_control with JSON: {"expire": ["TOKEN", ...]} makes tokens
  expired; {"quota": N} answers 429 (RESOURCE_EXHAUSTED) to the next N API
  requests; {"fail_pixels": N} answers 500 to the next N getPixels;
  {"empty_pages": N} makes the next N listAssets pages that have assets
  left answer none, with a fresh token for the same place (the reference:
  "the server may return fewer assets than requested");
  {"loop_tokens": true} answers every page asked by pageToken with that
  same token again (a server that would page forever);
  {"pixels_answer": "BASE64"} queues a body that the next getPixels
  answers (200) instead of the pixels (hostile-answer tests).
- GET /_log: the request log (also written to --log, one JSON per line:
  method, path, query, status, token, project, body).
"""

import argparse
import array
import base64
import datetime
import glob
import hashlib
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/v1/projects/earthengine-public/assets/"
BANDS = {"B2": "blue", "B3": "green", "B4": "red", "B8": "nir"}
# Class bands: served as they are (no offset, no scaling), as Earth
# Engine's S2_SR collections serve their scene classification SCL; the
# float collection has none.
CLASS_BANDS = {"SCL": "scl"}
# collection: (band dataType, NumPy typestr, array typecode, how DNs are
# turned into the collection's values)
COLLECTIONS = {
    "COPERNICUS/S2_SR_HARMONIZED": (
        {"precision": "INT", "range": {"max": 65535}}, "<u2", "H",
        "harmonised"),
    "COPERNICUS/S2_SR": (
        {"precision": "INT", "range": {"max": 65535}}, "<u2", "H", "raw"),
    "SATFS_TEST/S2_SR_FLOAT32": (
        {"precision": "FLOAT"}, "<f4", "f", "reflectance"),
}


def ee_id(item):
    t = item["properties"]["datetime"]
    d = datetime.datetime.strptime(t[:19], "%Y-%m-%dT%H:%M:%S")
    p = item["properties"]
    tile = "%02d%s%s" % (p["mgrs:utm_zone"], p["mgrs:latitude_band"],
                         p["mgrs:grid_square"])
    s = d.strftime("%Y%m%dT%H%M%S")
    return "%s_%s_T%s" % (s, s, tile)


def load_images(catalog):
    images = {}
    for path in sorted(glob.glob(os.path.join(catalog, "items", "*.json"))):
        item = json.load(open(path))
        props = item["properties"]
        iid = ee_id(item)
        epsg = props.get("proj:epsg") or int(
            str(props.get("proj:code")).split(":")[1])
        grids = {}
        offset = 0
        for bid, key in list(BANDS.items()) + list(CLASS_BANDS.items()):
            if key not in item["assets"]:
                continue
            a = item["assets"][key]
            t = a["proj:transform"]
            grids[bid] = {
                "crsCode": "EPSG:%d" % epsg,
                "affineTransform": {
                    "scaleX": t[0], "translateX": t[2],
                    "scaleY": t[4], "translateY": t[5]},
                "dimensions": {"width": a["proj:shape"][1],
                               "height": a["proj:shape"][0]},
            }
            rb = a.get("raster:bands", [{}])[0]
            if rb.get("offset"):
                offset = int(round(-rb["offset"] / rb.get("scale", 1e-4)))
        t = props["datetime"]
        images[iid] = {
            "grids": grids,
            "props": {
                "CLOUDY_PIXEL_PERCENTAGE": props["eo:cloud_cover"],
                "PROCESSING_BASELINE": props.get("s2:processing_baseline"),
                "MGRS_TILE": iid.split("_T")[-1],
                "SPACECRAFT_NAME": props.get("platform", "").replace(
                    "sentinel", "Sentinel"),
                "system:index": iid,
            },
            "t": t,
            "updated": props.get("updated", t),
            "footprint": item["geometry"],
            "time": parse_time(t),
            "bbox": item["bbox"],
            "cogs": {bid: os.path.join(catalog, "cogs", item["id"],
                                       "%s.tif" % bid if bid in CLASS_BANDS
                                       else "B%02d.tif" % int(bid[1:]))
                     for bid in grids},
            "offset": offset,
            "epsg": epsg,
        }
    return images


def resource(im, iid, coll, view="FULL"):
    """The EarthEngineAsset of image iid in collection coll."""
    res = {"type": "IMAGE",
           "name": "projects/earthengine-public/assets/%s/%s" % (coll, iid),
           "id": "%s/%s" % (coll, iid)}
    if view == "BASIC":
        return res
    dtype = COLLECTIONS[coll][0]
    res.update({
        "updateTime": im["updated"],
        "properties": im["props"],
        "startTime": im["t"],
        "endTime": im["t"],
        "geometry": im["footprint"],
        "bands": [{"id": bid, "dataType": dtype, "grid": g,
                   "pyramidingPolicy": "MEAN"}
                  for bid, g in im["grids"].items()
                  if has_band(coll, bid)],
        "sizeBytes": "1000000",
    })
    return res


def has_band(coll, bid):
    return bid not in CLASS_BANDS or COLLECTIONS[coll][3] != "reflectance"


def parse_time(s):
    s = s.replace("Z", "+00:00")
    if "." in s:
        head, rest = s.split(".", 1)
        m = re.match(r"(\d+)(.*)", rest)
        s = head + "." + (m.group(1) + "000000")[:6] + m.group(2)
    return datetime.datetime.fromisoformat(s).timestamp()


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class State:
    def __init__(self, args):
        self.args = args
        self.images = load_images(args.catalog)
        self.lock = threading.Lock()
        self.issued = {}       # token -> expiry (epoch)
        self.expired = set()
        self.quota = 0
        self.fail_pixels = 0
        self.empty_pages = 0
        self.loop_tokens = False
        self.pixels_answers = []
        self.log = []
        self.logf = open(args.log, "a") if args.log else None
        self.n = 0

    def record(self, entry):
        with self.lock:
            self.log.append(entry)
            if self.logf:
                self.logf.write(json.dumps(entry) + "\n")
                self.logf.flush()


def error_body(code, status, message):
    return json.dumps({"error": {"code": code, "message": message,
                                 "status": status}}).encode()


def tiff_bytes(planes, w, h, epsg, x0, y0, sx, sy):
    """A stripped, uncompressed, chunky uint16 GeoTIFF (little-endian)."""
    n = len(planes)
    rows_per_strip = 16
    inter = array.array("H", bytes(2 * w * h * n))
    for i, p in enumerate(planes):
        inter[i::n] = array.array("H", p)
    if sys.byteorder == "big":
        inter.byteswap()
    data = inter.tobytes()
    row_bytes = w * n * 2
    nstrips = (h + rows_per_strip - 1) // rows_per_strip
    geokeys = [1, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, epsg]
    entries = []  # (tag, type, values)
    entries.append((256, 4, [w]))
    entries.append((257, 4, [h]))
    entries.append((258, 3, [16] * n))
    entries.append((259, 3, [1]))
    entries.append((262, 3, [1]))
    entries.append((273, 4, [0] * nstrips))   # filled below
    entries.append((277, 3, [n]))
    entries.append((278, 4, [rows_per_strip]))
    entries.append((279, 4, [min(rows_per_strip, h - i * rows_per_strip)
                             * row_bytes for i in range(nstrips)]))
    entries.append((284, 3, [1]))
    if n > 1:
        entries.append((338, 3, [0] * (n - 1)))
    entries.append((339, 3, [1] * n))
    entries.append((33550, 12, [sx, -sy, 0.0]))
    entries.append((33922, 12, [0.0, 0.0, 0.0, x0, y0, 0.0]))
    entries.append((34735, 3, geokeys))
    sizes = {3: 2, 4: 4, 12: 8}
    fmt = {3: "H", 4: "I", 12: "d"}
    ifd_off = 8
    ifd_len = 2 + 12 * len(entries) + 4
    extra_off = ifd_off + ifd_len
    # lay out the out-of-line values, then the pixels
    extra = bytearray()
    placed = []
    for tag, typ, vals in entries:
        nbytes = sizes[typ] * len(vals)
        if nbytes > 4:
            placed.append(extra_off + len(extra))
            extra += b"\0" * nbytes
            if len(extra) % 2:
                extra += b"\0"
        else:
            placed.append(None)
    data_off = extra_off + len(extra)
    for i, (tag, typ, vals) in enumerate(entries):
        if tag == 273:
            entries[i] = (tag, typ, [data_off + k * rows_per_strip * row_bytes
                                     for k in range(nstrips)])
    out = bytearray(b"II*\0" + struct.pack("<I", ifd_off))
    out += struct.pack("<H", len(entries))
    for (tag, typ, vals), off in zip(entries, placed):
        packed = struct.pack("<%d%s" % (len(vals), fmt[typ]), *vals)
        if off is None:
            out += struct.pack("<HHI", tag, typ, len(vals))
            out += packed.ljust(4, b"\0")
        else:
            out += struct.pack("<HHII", tag, typ, len(vals), off)
    out += struct.pack("<I", 0)
    for (tag, typ, vals), off in zip(entries, placed):
        if off is not None:
            packed = struct.pack("<%d%s" % (len(vals), fmt[typ]), *vals)
            rel = off - extra_off
            extra[rel:rel + len(packed)] = packed
    out += extra
    assert len(out) == data_off
    out += data
    return bytes(out)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send(self, code, body, ctype="application/json", headers=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return code

    def do_GET(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    def handle_any(self):
        st = self.server.state
        url = urllib.parse.urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        entry = {"method": self.command, "path": url.path,
                 "query": url.query, "token": token,
                 "project": self.headers.get("X-Goog-User-Project")}
        try:
            status = self.route(st, url, body, token, entry)
        except Exception as e:  # a bug here is a 500, logged
            status = self.send(500, error_body(500, "INTERNAL", repr(e)))
        entry["status"] = status
        if url.path != "/_log":
            st.record(entry)

    def route(self, st, url, body, token, entry):
        path = url.path
        if path == "/_control" and self.command == "POST":
            c = json.loads(body or b"{}")
            with st.lock:
                st.expired.update(c.get("expire", []))
                st.quota = c.get("quota", st.quota)
                st.fail_pixels = c.get("fail_pixels", st.fail_pixels)
                st.empty_pages = c.get("empty_pages", st.empty_pages)
                st.loop_tokens = c.get("loop_tokens", st.loop_tokens)
                if "pixels_answer" in c:
                    st.pixels_answers.append(
                        base64.b64decode(c["pixels_answer"]))
            return self.send(200, b"{}")
        if path == "/_log":
            return self.send(200, json.dumps(st.log).encode())
        if path == "/token" and self.command == "POST":
            return self.token(st, body, entry)
        if not path.startswith(PREFIX):
            return self.send(404, error_body(404, "NOT_FOUND",
                                             "Unknown path."))
        with st.lock:
            valid = token is not None and token not in st.expired and (
                token.startswith("good-") or
                st.issued.get(token, 0) > datetime.datetime.now().timestamp())
            quota = valid and st.quota > 0
            if quota:
                st.quota -= 1
        if not valid:
            return self.send(401, error_body(
                401, "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected "
                "OAuth 2 access token, login cookie or other valid "
                "authentication credential."),
                headers={"WWW-Authenticate": "Bearer"})
        if quota:
            return self.send(429, error_body(
                429, "RESOURCE_EXHAUSTED",
                "Too many concurrent requests."))
        if not entry["project"]:
            return self.send(403, error_body(
                403, "PERMISSION_DENIED",
                "Earth Engine requests need a Cloud project: set "
                "X-Goog-User-Project."))
        rest = urllib.parse.unquote(path[len(PREFIX):])
        if rest.endswith(":listAssets") and self.command == "GET":
            return self.list_assets(st, rest[:-len(":listAssets")],
                                    url.query)
        if rest.endswith(":getPixels") and self.command == "POST":
            entry["body"] = body.decode("utf-8", "replace")
            return self.get_pixels(st, rest[:-len(":getPixels")], body)
        if ":" in rest.rsplit("/", 1)[-1]:
            # v1 has no such method (listImages is v1alpha's)
            return self.send(404, error_body(
                404, "NOT_FOUND", "Method not found: %s." %
                rest.rsplit(":", 1)[-1]))
        return self.send(404, error_body(404, "NOT_FOUND",
                                         "Asset not found."))

    def bad(self, msg):
        return self.send(400, error_body(400, "INVALID_ARGUMENT", msg))

    def token(self, st, body, entry):
        form = urllib.parse.parse_qs(body.decode())
        if form.get("grant_type") != [
                "urn:ietf:params:oauth:grant-type:jwt-bearer"]:
            return self.send(400, json.dumps(
                {"error": "unsupported_grant_type"}).encode())
        jwt = form.get("assertion", [""])[0]
        parts = jwt.split(".")
        ok = len(parts) == 3
        if ok:
            try:
                header = json.loads(b64url_decode(parts[0]))
                claims = json.loads(b64url_decode(parts[1]))
                sig = b64url_decode(parts[2])
            except ValueError:
                ok = False
        if ok:
            now = datetime.datetime.now().timestamp()
            ok = (header.get("alg") == "RS256" and
                  claims.get("aud", "").endswith("/token") and
                  claims.get("iss") and
                  claims.get("iat", 0) <= now + 60 and
                  claims.get("exp", 0) > now)
            entry["iss"] = claims.get("iss") if ok else None
        if ok and st.args.pubkey:
            with tempfile.TemporaryDirectory() as d:
                open(os.path.join(d, "in"), "w").write(
                    parts[0] + "." + parts[1])
                open(os.path.join(d, "sig"), "wb").write(sig)
                r = subprocess.run(
                    ["openssl", "dgst", "-sha256", "-verify",
                     st.args.pubkey, "-signature",
                     os.path.join(d, "sig"), os.path.join(d, "in")],
                    capture_output=True)
                ok = r.returncode == 0
        if not ok:
            return self.send(400, json.dumps(
                {"error": "invalid_grant",
                 "error_description": "Invalid JWT Signature."}).encode())
        with st.lock:
            st.n += 1
            tok = "ya29.fake-%d-%s" % (st.n, hashlib.sha1(
                jwt.encode()).hexdigest()[:8])
            st.issued[tok] = datetime.datetime.now().timestamp() + 3600
        return self.send(200, json.dumps(
            {"access_token": tok, "expires_in": 3599,
             "token_type": "Bearer"}).encode())

    def list_assets(self, st, collection, query):
        if collection not in COLLECTIONS:
            return self.send(404, error_body(
                404, "NOT_FOUND", "ImageCollection '%s' not found." %
                collection))
        q = urllib.parse.parse_qs(query)
        one = lambda k: q.get(k, [None])[0]
        for k in q:
            if k not in ("filter", "pageSize", "pageToken", "view"):
                return self.bad("Invalid JSON payload received. Unknown "
                                "name \"%s\": Cannot bind query parameter."
                                % k)
        view = one("view") or "FULL"
        if view not in ("FULL", "BASIC", "EARTH_ENGINE_ASSET_VIEW_UNSPECIFIED"):
            return self.bad("Invalid value at 'view'.")
        try:
            terms = parse_filter(one("filter") or "")
        except (ValueError, KeyError, IndexError, TypeError) as e:
            return self.bad("Unable to parse filter: %s" % e)
        size = int(one("pageSize") or 1000)
        cap = 10000 if view == "BASIC" else 1000
        if size < 1 or size > cap:
            return self.bad("pageSize must be in 1..%d." % cap)
        # the API may answer fewer than asked for: --page-size-cap
        size = min(size, st.args.page_size_cap)
        start = 0
        tok = one("pageToken")
        if tok:
            try:
                start = int(b64url_decode(tok).decode().split(":")[1])
            except (ValueError, IndexError):
                return self.bad("Invalid page token.")
        hits = []
        for iid, im in sorted(st.images.items(),
                              key=lambda kv: (kv[1]["time"], kv[0])):
            if all(t(im) for t in terms):
                hits.append(resource(im, iid, collection, view))
        with st.lock:
            empty = st.empty_pages > 0 and start < len(hits)
            if empty:
                st.empty_pages -= 1
            st.n += 1
            nonce = st.n
            loop = st.loop_tokens and tok
        out = {}
        if empty:
            # nothing this time, a new token for the same place
            out["nextPageToken"] = page_token(start, nonce)
        else:
            page = hits[start:start + size]
            if page:
                out["assets"] = page
            if start + size < len(hits):
                out["nextPageToken"] = page_token(start + size, nonce)
        if loop:
            out["nextPageToken"] = tok
        return self.send(200, json.dumps(out).encode())

    def get_pixels(self, st, name, body):
        coll, _, iid = name.rpartition("/")
        if coll not in COLLECTIONS or iid not in st.images:
            return self.send(404, error_body(404, "NOT_FOUND",
                                             "Image not found."))
        im = st.images[iid]
        _, typestr, code, kind = COLLECTIONS[coll]
        try:
            req = json.loads(body)
            bands = req["bandIds"]
            grid = req["grid"]
            at = grid["affineTransform"]
            w = int(grid["dimensions"]["width"])
            h = int(grid["dimensions"]["height"])
            epsg = int(grid["crsCode"].split(":")[1])
            sx, sy = float(at["scaleX"]), float(at["scaleY"])
            x0, y0 = float(at["translateX"]), float(at["translateY"])
            shear = float(at.get("shearX", 0)) or float(at.get("shearY", 0))
        except (ValueError, KeyError, TypeError, IndexError):
            return self.bad("Invalid request.")
        fmt = req.get("fileFormat")
        if fmt not in ("NPY", "GEO_TIFF") or (fmt == "GEO_TIFF" and
                                               code != "H"):
            return self.bad("fileFormat %s is not served by this fake."
                            % fmt)
        if shear or sx <= 0 or sy >= 0 or w < 1 or h < 1:
            return self.bad("Invalid grid.")
        for b in bands:
            if b not in im["cogs"] or not has_band(coll, b):
                return self.bad("Band '%s' not found." % b)
        if w > st.args.max_side or h > st.args.max_side:
            return self.bad("Grid dimensions must not exceed %d." %
                            st.args.max_side)
        total = w * h * len(bands) * array.array(code).itemsize
        if total > st.args.max_bytes:
            return self.bad("Total request size (%d bytes) must be less "
                            "than or equal to %d bytes." %
                            (total, st.args.max_bytes))
        with st.lock:
            fail = st.fail_pixels > 0
            if fail:
                st.fail_pixels -= 1
            canned = st.pixels_answers.pop(0) if st.pixels_answers else None
        if canned is not None:
            return self.send(200, canned, ctype="application/octet-stream")
        if fail:
            return self.send(500, error_body(500, "INTERNAL",
                                             "An internal error occurred."))
        planes = []
        with tempfile.TemporaryDirectory() as d:
            for b in bands:
                out = os.path.join(d, b + ".bin")
                r = subprocess.run(
                    ["gdalwarp", "-q", "-overwrite", "-of", "ENVI",
                     "-ot", "UInt16", "-r", "near",
                     "-t_srs", "EPSG:%d" % epsg,
                     "-te", repr(x0), repr(y0 + h * sy), repr(x0 + w * sx),
                     repr(y0), "-ts", str(w), str(h),
                     "-dstnodata", "0", im["cogs"][b], out],
                    capture_output=True)
                if r.returncode != 0:
                    return self.send(500, error_body(
                        500, "INTERNAL", r.stderr.decode()[-300:]))
                raw = open(out, "rb").read()
                vals = list(struct.unpack("<%dH" % (w * h), raw))
                off = im["offset"]
                # a valid pixel never becomes 0 (masked)
                if b in CLASS_BANDS:
                    pass
                elif kind == "harmonised" and off:
                    vals = [0 if v == 0 else max(v - off, 1) for v in vals]
                elif kind == "reflectance":
                    vals = [0.0 if v == 0 else max(v - off, 1) / 10000.0
                            for v in vals]
                planes.append(vals)
        if fmt == "GEO_TIFF":
            return self.send(200, tiff_bytes(planes, w, h, epsg, x0, y0,
                                             sx, sy), ctype="image/tiff")
        return self.send(200, npy_bytes(planes, bands, typestr, code, w, h),
                         ctype="application/octet-stream")


def page_token(start, nonce):
    return base64.urlsafe_b64encode(
        ("page:%d:%d" % (start, nonce)).encode()).decode().rstrip("=")


def npy_bytes(planes, names, typestr, code, w, h):
    """A NumPy .npy file (format 1.0, NEP 1): a structured array of shape
    (h, w), one field per band, all of one type here."""
    descr = "[%s]" % ", ".join("('%s', '%s')" % (n, typestr) for n in names)
    header = "{'descr': %s, 'fortran_order': False, 'shape': (%d, %d), }" % (
        descr, h, w)
    # padded with spaces and a newline so that the data start on 64 bytes
    pad = -(10 + len(header) + 1) % 64
    header = (header + " " * pad + "\n").encode("latin1")
    n = len(planes)
    inter = array.array(code, bytes(array.array(code).itemsize * w * h * n))
    for i, p in enumerate(planes):
        inter[i::n] = array.array(code, p)
    if sys.byteorder == "big":
        inter.byteswap()
    return (b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header +
            inter.tobytes())


TIME_TERM = re.compile(r'(startTime|endTime)\s*(<=|>=|<|>)\s*"([^"]+)"$')
PROP_TERM = re.compile(r"properties\.([A-Za-z_:0-9]+)\s*(<=|>=|<|>|=)\s*"
                       r"(-?[0-9.]+(?:[eE][-+]?\d+)?)$")
OPS = {"<": lambda a, b: a < b, ">": lambda a, b: a > b,
       "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b,
       "=": lambda a, b: a == b}


def split_and(f):
    """Splits a filter at its AND operators outside double quotes."""
    terms, cur, quoted, i = [], "", False, 0
    while i < len(f):
        if f[i] == '"':
            quoted = not quoted
        if not quoted and f.startswith(" AND ", i):
            terms.append(cur.strip())
            cur, i = "", i + 5
            continue
        cur += f[i]
        i += 1
    if quoted:
        raise ValueError("unterminated string")
    if cur.strip():
        terms.append(cur.strip())
    return terms


def parse_filter(f):
    """The filter's terms as predicates on an image; ValueError if a term
    is not one the listAssets reference documents."""
    preds = []
    for term in split_and(f) if f.strip() else []:
        m = TIME_TERM.match(term)
        if m:
            field = m.group(1)
            op = OPS[m.group(2)]
            t = parse_time(m.group(3))
            preds.append(lambda im, op=op, t=t: op(im["time"], t))
            continue
        m = PROP_TERM.match(term)
        if m:
            name, op, v = m.group(1), OPS[m.group(2)], float(m.group(3))

            def prop(im, name=name, op=op, v=v):
                x = im["props"].get(name)
                return isinstance(x, (int, float)) and op(x, v)
            preds.append(prop)
            continue
        m = re.match(r'intersects\("(.*)"\)$', term)
        if m:
            if '"' in m.group(1):
                raise ValueError("a double quote inside intersects()")
            g = json.loads(m.group(1).replace("'", '"'))
            pts = g["coordinates"][0]
            xs = [p[0] for p in pts]
            ys = [p[1] for p in pts]
            r = (min(xs), min(ys), max(xs), max(ys))

            def inside(im, r=r):
                b = im["bbox"]
                return not (b[2] < r[0] or b[0] > r[2] or b[3] < r[1] or
                            b[1] > r[3])
            preds.append(inside)
            continue
        raise ValueError("unknown term %r" % term)
    return preds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--catalog", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--pubkey")
    ap.add_argument("--max-side", type=int, default=32768)
    ap.add_argument("--page-size-cap", type=int, default=1000)
    ap.add_argument("--max-bytes", type=int, default=48 * 1024 * 1024)
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    srv.daemon_threads = True
    srv.state = State(args)
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(srv.server_address[1]))
        os.rename(tmp, args.port_file)
    import signal
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    try:
        srv.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass


if __name__ == "__main__":
    main()
