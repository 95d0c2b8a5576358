#!/usr/bin/env python3
"""Self-test of the fixture server: python3 tests/server/test_fixture_server.py

Builds a tiny catalog of its own (items like scripts/make-samples writes,
with fake COG bytes: the server never parses TIFF), starts the server as a
subprocess per configuration, and checks the protocol with http.client and
urllib. Prints "N passed, M failed" and exits 0 only when nothing failed.
The replay tests use the recordings in tests/data/stac.
"""

import calendar
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SERVER = os.path.join(HERE, "fixture_server.py")
REALDATA = os.path.join(ROOT, "tests", "data", "stac")

REGION = [-82.48, 8.3508, -82.39, 8.4408]
DATES = "2024-01-01T00:00:00Z/2024-07-31T23:59:59Z"
DEFAULT_SEARCH = {"collections": ["sentinel-2-l2a"], "bbox": REGION,
                  "datetime": DATES, "limit": 10,
                  "query": {"eo:cloud_cover": {"lt": 85}}}
# id, datetime, cloud cover, bbox (as make-samples lays them out)
DAVID_BB = [-82.508, 8.3239, -82.3623, 8.4691]
NL_BB = [5.14, 52.13, 5.38, 52.28]
SCENES = [
    ("S2B_17PMK_20240103_0_L2A", "2024-01-03T15:52:14.123000Z", 12.47,
     DAVID_BB),
    ("S2A_17PMK_20240128_0_L2A", "2024-01-28T15:52:14.160000Z", 85.0,
     DAVID_BB),
    ("S2B_17PMK_20240222_0_L2A", "2024-02-22T15:52:14.197000Z", 3.21,
     DAVID_BB),
    ("S2B_17PLK_20240222_0_L2A", "2024-02-22T15:52:09.234000Z", 31.9,
     DAVID_BB),
    ("S2A_17PMK_20240318_0_L2A", "2024-03-18T15:52:14.271000Z", 97.3,
     DAVID_BB),
    ("S2B_17PMK_20240412_0_L2A", "2024-04-12T15:52:14.308000Z", 45.61,
     DAVID_BB),
    ("S2A_17PMK_20240507_0_L2A", "2024-05-07T15:52:14.345000Z", 88.02,
     DAVID_BB),
    ("S2B_17PMK_20240601_0_L2A", "2024-06-01T15:52:14.382000Z", 84.99,
     DAVID_BB),
    ("S2A_31UFT_20240415_0_L2A", "2024-04-15T10:56:31.419000Z", 22.4, NL_BB),
    ("S2B_31UFT_20240520_0_L2A", "2024-05-20T10:56:32.456000Z", 5.02, NL_BB),
]
EXPECTED = ["S2B_17PMK_20240601_0_L2A", "S2B_17PMK_20240412_0_L2A",
            "S2B_17PMK_20240222_0_L2A", "S2B_17PLK_20240222_0_L2A",
            "S2B_17PMK_20240103_0_L2A"]
COG_SIZE = 300000


def make_catalog(d):
    os.makedirs(os.path.join(d, "items"))
    rnd = random.Random(1)
    for ident, dt, cc, bb in SCENES:
        w, s, e, n = bb
        item = {
            "type": "Feature", "stac_version": "1.0.0", "id": ident,
            "collection": "sentinel-2-l2a", "bbox": bb,
            "geometry": {"type": "Polygon", "coordinates": [[
                [w, s], [e, s], [e, n], [w, n], [w, s]]]},
            "properties": {"datetime": dt, "eo:cloud_cover": cc},
            "links": [{"rel": "self", "href":
                       "{base}/collections/sentinel-2-l2a/items/" + ident}],
            "assets": {"red": {"href": "{base}/cogs/%s/B04.tif" % ident}},
        }
        with open(os.path.join(d, "items", ident + ".json"), "w") as f:
            json.dump(item, f)
        cdir = os.path.join(d, "cogs", ident)
        os.makedirs(cdir)
        with open(os.path.join(cdir, "B04.tif"), "wb") as f:
            f.write(bytes(rnd.getrandbits(8) for _ in range(COG_SIZE))
                    if ident.endswith("20240103_0_L2A") else
                    b"II*\x00" + b"\x01" * 1000)
    # A broken item must be skipped, not crash the server.
    with open(os.path.join(d, "items", "broken.json"), "w") as f:
        f.write("{not json")


class Fixture:
    count = 0

    def __init__(self, tmp, *args, host="127.0.0.1"):
        Fixture.count += 1
        self.host = host
        self.portfile = os.path.join(tmp, "port.%d" % Fixture.count)
        self.logfile = os.path.join(tmp, "log.%d" % Fixture.count)
        self.errfile = os.path.join(tmp, "err.%d" % Fixture.count)
        with open(self.errfile, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, SERVER, "--host", host, "--port", "0",
                 "--port-file", self.portfile, "--log", self.logfile] +
                list(args),
                stdout=subprocess.PIPE, stderr=err)
        deadline = time.time() + 10
        while not os.path.exists(self.portfile):
            if time.time() > deadline or self.proc.poll() is not None:
                with open(self.errfile) as f:
                    raise RuntimeError("server did not start: " + f.read())
            time.sleep(0.02)
        with open(self.portfile) as f:
            self.port = int(f.read())
        self.base = "http://%s:%d" % (host, self.port)

    def request(self, method, path, body=None, headers=None, timeout=10):
        c = http.client.HTTPConnection(self.host, self.port,
                                       timeout=timeout)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body)
                headers = dict(headers or {})
                headers["Content-Type"] = "application/json"
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, dict(r.getheaders()), data
        finally:
            c.close()

    def json(self, method, path, body=None):
        st, h, data = self.request(method, path, body)
        return st, json.loads(data)

    def control(self, **kw):
        st, d = self.json("POST", "/_control", kw)
        assert st == 200, (st, d)
        return d

    def log(self):
        st, h, data = self.request("GET", "/_log")
        return [json.loads(l) for l in data.decode().splitlines()]

    def clear(self):
        self.request("POST", "/_log/clear")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        # Any internal error the server caught and reported is a failure
        # (the deliberately broken item is the only expected complaint).
        with open(self.errfile) as f:
            errs = [l for l in f if l.strip() and
                    not l.startswith("fixture: skipping broken.json")]
        if errs:
            sys.stdout.write("server stderr:\n" + "".join(errs))
            return "errors"
        return self.proc.returncode


def follow(fx, first_body, merge_honour=True):
    """Page through a search the way a client must; return ids, requests."""
    ids = []
    st, d = fx.json("POST", "/search", first_body)
    assert st == 200, d
    body = first_body
    n = 1
    while True:
        ids += [f["id"] for f in d["features"]]
        nxt = [l for l in d["links"] if l["rel"] == "next"]
        if not nxt:
            return ids, n
        link = nxt[0]
        assert link["href"].startswith(fx.base), link
        path = urllib.parse.urlsplit(link["href"])
        target = path.path + ("?" + path.query if path.query else "")
        if link.get("method", "GET") == "GET":
            st, d = fx.json("GET", target)
        else:
            if link.get("merge") and merge_honour:
                body = dict(body)
                body.update(link["body"])
            else:
                body = link["body"]
            st, d = fx.json("POST", target, body)
        assert st == 200, d
        n += 1
        assert n < 50


# ---------------------------------------------------------------------------

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


@test
def t_port_file_and_banner(ctx):
    fx = ctx["fx"]
    assert fx.port > 0
    line = fx.proc.stdout.readline().decode().strip()
    assert line == "listening on 127.0.0.1:%d" % fx.port, line


@test
def t_landing(ctx):
    fx = ctx["fx"]
    st, d = fx.json("GET", "/")
    assert st == 200 and d["type"] == "Catalog"
    c = d["conformsTo"]
    assert "https://api.stacspec.org/v1.0.0/core" in c
    assert "https://api.stacspec.org/v1.0.0/item-search" in c
    assert "https://api.stacspec.org/v1.0.0/item-search#query" in c
    assert not any("cql2" in u or "#filter" in u for u in c), c
    methods = sorted(l["method"] for l in d["links"] if l["rel"] == "search")
    assert methods == ["GET", "POST"], methods
    assert all(l["href"].startswith(fx.base) for l in d["links"])


@test
def t_collections(ctx):
    fx = ctx["fx"]
    st, d = fx.json("GET", "/collections")
    assert st == 200
    assert [c["id"] for c in d["collections"]] == ["sentinel-2-l2a"]
    st, d = fx.json("GET", "/collections/sentinel-2-l2a")
    assert st == 200 and d["type"] == "Collection"
    st, d = fx.json("GET", "/collections/nope")
    assert st == 404 and d["code"] == "NotFound" and d["description"]
    st, d = fx.json("GET", "/collections/sentinel-2-l2a/items/" +
                    EXPECTED[0])
    assert st == 200 and d["id"] == EXPECTED[0]
    assert d["assets"]["red"]["href"] == \
        fx.base + "/cogs/%s/B04.tif" % EXPECTED[0]
    assert "_t" not in d


@test
def t_search_filters(ctx):
    fx = ctx["fx"]
    st, d = fx.json("POST", "/search", DEFAULT_SEARCH)
    assert st == 200 and d["type"] == "FeatureCollection"
    ids = [f["id"] for f in d["features"]]
    # 85.0 is excluded (lt), 84.99 included, NL outside the bbox, sorted
    # by datetime descending then id descending.
    assert ids == EXPECTED, ids
    assert d["numberMatched"] == 5 and d["numberReturned"] == 5
    rels = [l["rel"] for l in d["links"]]
    assert "self" in rels and "root" in rels and "next" not in rels
    assert all(f["assets"]["red"]["href"].startswith(fx.base)
               for f in d["features"])


@test
def t_search_datetime_forms(ctx):
    fx = ctx["fx"]

    def ids(dt):
        b = {"collections": ["sentinel-2-l2a"], "datetime": dt}
        st, d = fx.json("POST", "/search", b)
        assert st == 200, d
        return sorted(f["id"] for f in d["features"])
    assert ids("2024-01-03T15:52:14.123Z") == ["S2B_17PMK_20240103_0_L2A"]
    assert len(ids("../2024-01-31T00:00:00Z")) == 2
    assert len(ids("2024-06-01T15:52:14.382Z/..")) == 1     # inclusive
    assert len(ids("2024-04-01T00:00:00Z/2024-04-30T23:59:59Z")) == 2
    assert len(ids("2024-02-22")) == 2                     # whole day
    st, d = fx.json("POST", "/search", {"datetime": "yesterday"})
    assert st == 400 and d["code"] == "BadRequest"


@test
def t_search_intersects_and_bbox(ctx):
    fx = ctx["fx"]
    poly = {"type": "Polygon", "coordinates": [[[5.1, 52.1], [5.3, 52.1],
                                                [5.3, 52.3], [5.1, 52.1]]]}
    st, d = fx.json("POST", "/search", {"intersects": poly})
    assert st == 200 and len(d["features"]) == 2
    assert all("31UFT" in f["id"] for f in d["features"])
    pt = {"type": "Point", "coordinates": [-82.435, 8.3958]}
    st, d = fx.json("POST", "/search", {"intersects": pt, "limit": 100})
    assert st == 200 and d["numberMatched"] == 8
    st, d = fx.json("POST", "/search", {"bbox": [0, 0, 1, 1]})
    assert st == 200 and d["features"] == [] and d["numberMatched"] == 0
    st, d = fx.json("POST", "/search", {"bbox": [1, 2, 3]})
    assert st == 400 and d["code"] == "BadRequest"


@test
def t_search_query_ops(ctx):
    fx = ctx["fx"]
    for q, n in (({"gte": 85}, 3), ({"gt": 85}, 2), ({"eq": 85.0}, 1),
                 ({"lte": 85}, 8), ({"lt": 5, "gt": 3}, 1)):
        st, d = fx.json("POST", "/search", {"query": {"eo:cloud_cover": q},
                                            "limit": 50})
        assert st == 200 and d["numberMatched"] == n, (q, d.get(
            "numberMatched"), d)
    # CQL2 filter is silently ignored without --cql2.
    st, d = fx.json("POST", "/search", {
        "filter": {"op": "<", "args": [{"property": "eo:cloud_cover"}, 1]},
        "filter-lang": "cql2-json", "limit": 50})
    assert st == 200 and d["numberMatched"] == 10


@test
def t_search_get(ctx):
    fx = ctx["fx"]
    q = urllib.parse.urlencode({
        "collections": "sentinel-2-l2a",
        "bbox": ",".join(str(v) for v in REGION), "datetime": DATES,
        "query": json.dumps({"eo:cloud_cover": {"lt": 85}})})
    st, d = fx.json("GET", "/search?" + q)
    assert st == 200 and [f["id"] for f in d["features"]] == EXPECTED


@test
def t_bad_bodies(ctx):
    fx = ctx["fx"]
    st, h, data = fx.request("POST", "/search", "{not json",
                             {"Content-Type": "application/json"})
    d = json.loads(data)
    assert st == 400 and d["code"] == "BadRequest" and "description" in d
    st, d = fx.json("POST", "/search", [1, 2])
    assert st == 400
    st, d = fx.json("POST", "/search", {"limit": "x"})
    assert st == 400
    st, d = fx.json("POST", "/search", {"next": "garbage!!"})
    assert st == 400 and d["code"] == "BadRequest"
    st, h, data = fx.request("PUT", "/search", "{}")
    assert st == 405
    st, d = fx.json("GET", "/nothing/here")
    assert st == 404 and d["code"] == "NotFound"
    # The server is still fine afterwards.
    st, d = fx.json("GET", "/")
    assert st == 200


@test
def t_chunked_and_garbage(ctx):
    fx = ctx["fx"]
    c = http.client.HTTPConnection("127.0.0.1", fx.port, timeout=5)
    body = json.dumps(DEFAULT_SEARCH).encode()
    c.request("POST", "/search", body=iter([body[:20], body[20:]]),
              headers={"Content-Type": "application/json",
                       "Transfer-Encoding": "chunked"}, encode_chunked=True)
    r = c.getresponse()
    d = json.loads(r.read())
    assert r.status == 200 and [f["id"] for f in d["features"]] == EXPECTED
    c.close()
    junks = (b"GARBAGE / HTTP/1.1\r\n\r\n",
             b"POST /search HTTP/1.1\r\nContent-Length: x\r\n\r\n",
             b"POST /search HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",
             b"\x00\xff" * 100 + b" / HTTP/1.1\r\n\r\n")
    for junk in junks:
        s = socket.create_connection(("127.0.0.1", fx.port), timeout=5)
        s.sendall(junk)
        reply = s.recv(100)
        s.close()
        assert reply.startswith(b"HTTP/1."), (junk, reply)
        assert int(reply.split()[1]) >= 400, reply
    st, d = fx.json("GET", "/")
    assert st == 200


@test
def t_paging_post_merge(ctx):
    fx = ctx["fx"]
    body = dict(DEFAULT_SEARCH, limit=2)
    st, d = fx.json("POST", "/search", body)
    nxt = [l for l in d["links"] if l["rel"] == "next"][0]
    assert nxt["method"] == "POST" and nxt["merge"] is False
    b = dict(nxt["body"])
    tok = b.pop("next")
    assert b == body and isinstance(tok, str) and tok
    ids, n = follow(fx, body)
    assert ids == EXPECTED and n == 3, (ids, n)


@test
def t_keepalive(ctx):
    fx = ctx["fx"]
    c = http.client.HTTPConnection("127.0.0.1", fx.port, timeout=5)
    peers = set()
    for path in ("/", "/cogs/%s/B04.tif" % EXPECTED[-1], "/collections"):
        c.request("HEAD" if "cogs" in path else "GET", path)
        r = c.getresponse()
        r.read()
        assert r.status == 200 and r.getheader("Content-Length")
        peers.add(c.sock.getsockname())
    c.request("POST", "/search", body=json.dumps({"limit": 1}))
    r = c.getresponse()
    assert r.status == 200 and len(json.loads(r.read())["features"]) == 1
    peers.add(c.sock.getsockname())
    c.close()
    assert len(peers) == 1, peers           # one connection for all four


@test
def t_cog_ranges(ctx):
    fx = ctx["fx"]
    path = "/cogs/S2B_17PMK_20240103_0_L2A/B04.tif"
    with open(os.path.join(ctx["cat"], path.lstrip("/")), "rb") as f:
        whole = f.read()
    etag = '"%s"' % hashlib.md5(whole).hexdigest()
    st, h, data = fx.request("GET", path)
    assert st == 200 and data == whole and h["ETag"] == etag
    assert h["Accept-Ranges"] == "bytes" and "Last-Modified" in h
    assert h["Content-Type"].startswith("image/tiff")
    st, h, data = fx.request("GET", path, headers={"Range": "bytes=10-19"})
    assert st == 206 and data == whole[10:20]
    assert h["Content-Range"] == "bytes 10-19/%d" % COG_SIZE
    assert h["Content-Length"] == "10"
    st, h, data = fx.request("GET", path,
                             headers={"Range": "bytes=%d-" % (COG_SIZE - 5)})
    assert st == 206 and data == whole[-5:]
    st, h, data = fx.request("GET", path, headers={"Range": "bytes=-7"})
    assert st == 206 and data == whole[-7:]
    assert h["Content-Range"] == "bytes %d-%d/%d" % (
        COG_SIZE - 7, COG_SIZE - 1, COG_SIZE)
    st, h, data = fx.request("GET", path,
                             headers={"Range": "bytes=0-%d" % (COG_SIZE * 2)})
    assert st == 206 and data == whole
    st, h, data = fx.request("GET", path, headers={"Range":
                                                   "bytes=0-9,20-29"})
    assert st == 200 and data == whole            # S3: multi-range = 200
    st, h, data = fx.request("GET", path,
                             headers={"Range": "bytes=%d-" % COG_SIZE})
    assert st == 416 and h["Content-Range"] == "bytes */%d" % COG_SIZE
    st, h, data = fx.request("HEAD", path)
    assert st == 200 and data == b"" and \
        h["Content-Length"] == str(COG_SIZE) and h["ETag"] == etag
    st, h, data = fx.request("GET", path, headers={"If-None-Match": etag})
    assert st == 304 and data == b""
    st, h, data = fx.request("GET", "/items/%s.json" % EXPECTED[0])
    assert st == 200 and b"{base}" not in data
    assert json.loads(data)["assets"]["red"]["href"].startswith(fx.base)
    st, h, data = fx.request("GET", "/items/%s.json" % EXPECTED[0],
                             headers={"Range": "bytes=0-0"})
    assert st == 206 and data == b"{"
    st, h, data = fx.request("GET", path, headers={"If-Match": '"x"'})
    assert st == 412
    st, h, data = fx.request("GET", "/cogs/nope/B04.tif")
    assert st == 404 and b"NoSuchKey" in data
    st, h, data = fx.request("GET", "/cogs/../../../../etc/passwd")
    assert st == 404
    st, h, data = fx.request("GET", "/cogs/%2e%2e/%2e%2e/etc/passwd")
    assert st == 404


@test
def t_log(ctx):
    fx = ctx["fx"]
    fx.clear()
    path = "/cogs/%s/B04.tif" % EXPECTED[-1]
    fx.request("GET", path, headers={"Range": "bytes=0-99"})
    fx.request("POST", "/search", {"limit": 1})
    fx.control()                               # control is not logged
    log = fx.log()
    assert len(log) == 2, log
    e = log[0]
    assert e["method"] == "GET" and e["path"] == path
    assert e["range"] == "bytes=0-99" and e["status"] == 206
    assert e["bytes"] == 100 and e["fault"] is None and e["query"] is None
    assert isinstance(e["t"], float)
    assert log[1]["path"] == "/search" and log[1]["status"] == 200
    fx.clear()
    assert fx.log() == []
    with open(fx.logfile) as f:
        lines = [json.loads(l) for l in f]
    assert any(l["range"] == "bytes=0-99" for l in lines)


@test
def t_fault_429_503_fail(ctx):
    fx = ctx["fx"]
    try:
        fx.control(rate_429=1, retry_after=3)
        st, h, data = fx.request("POST", "/search", {})
        assert st == 429 and h["Retry-After"] == "3", (st, h)
        st, h, data = fx.request("GET", "/")     # not faultable
        assert st == 200
        st, h, data = fx.request("GET", "/_control")
        assert st == 200
        fx.control(rate_429=0, rate_503=1)
        st, h, data = fx.request("GET", "/cogs/%s/B04.tif" % EXPECTED[-1])
        assert st == 503 and b"<Code>SlowDown</Code>" in data
        fx.control(rate_503=0, fail_paths=["B04"], fail_status=502)
        st, h, data = fx.request("GET", "/cogs/%s/B04.tif" % EXPECTED[-1])
        assert st == 502
        st, h, data = fx.request("POST", "/search", {})
        assert st == 200
        faults = [e["fault"] for e in fx.log()[-5:]]
        assert faults == ["429", None, "503", "fail", None], faults
    finally:
        fx.control(rate_429=0, rate_503=0, fail_paths=[], fail_status=500)


@test
def t_fault_fail_next(ctx):
    fx = ctx["fx"]
    try:
        d = fx.control(fail_next=2, fail_status=429, retry_after=2)
        assert d["fail_next"] == 2, d
        st, h, data = fx.request("GET", "/")            # not faultable
        assert st == 200
        st, h, data = fx.request("POST", "/search", {})
        assert st == 429 and h["Retry-After"] == "2", (st, h)
        assert json.loads(data)["code"] == "InjectedFailure"
        st, h, data = fx.request("GET", "/cogs/%s/B04.tif" % EXPECTED[-1])
        assert st == 429, st
        assert fx.control()["fail_next"] == 0
        st, h, data = fx.request("POST", "/search", {})
        assert st == 200 and "Retry-After" not in h, (st, h)
        faults = [e["fault"] for e in fx.log()[-4:]]
        assert faults == [None, "fail", "fail", None], faults
        fx.control(fail_next=1, fail_status=500)
        st, h, data = fx.request("POST", "/search", {})
        assert st == 500 and "Retry-After" not in h, (st, h)
        st, d = fx.json("POST", "/_control", {"fail_next": -1})
        assert st == 400
        st, d = fx.json("POST", "/_control", {"fail_next": 1.5})
        assert st == 400
    finally:
        fx.control(fail_next=0, fail_status=500, retry_after=1)


@test
def t_range_faults_and_redirect(ctx):
    fx = ctx["fx"]
    path = "/cogs/S2B_17PMK_20240103_0_L2A/B04.tif"
    with open(os.path.join(ctx["cat"], path.lstrip("/")), "rb") as f:
        whole = f.read()
    try:
        d = fx.control(range_ignore=True)
        assert d["range_ignore"] is True, d
        st, h, data = fx.request("GET", path, headers={"Range": "bytes=0-9"})
        assert st == 200 and data == whole and "Content-Range" not in h
        assert fx.log()[-1]["fault"] == "range_ignore"
        fx.control(range_ignore=False, range_shift=5)
        st, h, data = fx.request("GET", path,
                                 headers={"Range": "bytes=10-19"})
        assert st == 206 and data == whole[15:25], (st, data)
        assert h["Content-Range"] == "bytes 15-24/%d" % COG_SIZE, h
        assert fx.log()[-1]["fault"] == "range_shift"
        st, h, data = fx.request("GET", path)          # no Range: untouched
        assert st == 200 and data == whole
        assert fx.log()[-1]["fault"] is None
        st, d = fx.json("POST", "/_control", {"range_shift": -1})
        assert st == 400
    finally:
        fx.control(range_ignore=False, range_shift=0)
    for to in ("file:///etc/passwd", "gopher://127.0.0.1/x",
               fx.base + "/cogs/x"):
        st, h, data = fx.request("GET", "/redirect?to=" +
                                 urllib.parse.quote(to, safe=""))
        assert st == 302 and h["Location"] == to, (st, h)
    st, h, data = fx.request("GET", "/redirect")
    assert st == 400


@test
def t_hold_and_concurrency(ctx):
    """hold_paths keeps matching requests (path and query) waiting until
    it changes; /_stats and each log entry's "active" count the requests
    in progress; a second server binds another loopback address."""
    import threading
    fx = ctx["fx"]
    path = "/cogs/S2B_17PMK_20240103_0_L2A/B04.tif"
    with open(os.path.join(ctx["cat"], path.lstrip("/")), "rb") as f:
        whole = f.read()
    fx.clear()
    got = {}

    def fetch(i):
        st, h, data = fx.request("GET", "%s?held=%d" % (path, i),
                                 headers={"Range": "bytes=%d-%d" %
                                          (i, i + 9)})
        got[i] = (st, data)
    threads = [threading.Thread(target=fetch, args=(i,)) for i in range(3)]
    try:
        d = fx.control(hold_paths=["held="])
        assert d["hold_paths"] == ["held="], d
        for t in threads:
            t.start()
        deadline = time.time() + 10
        while fx.json("GET", "/_stats")[1]["held"] < 3:
            assert time.time() < deadline, "requests never held"
            time.sleep(0.02)
        st, s = fx.json("GET", "/_stats")
        assert st == 200 and s == {"active": 3, "max_active": 3,
                                   "held": 3}, s
        assert got == {} and fx.log() == []      # nothing answered yet
        # others pass, and see the held ones in progress
        st, h, data = fx.request("GET", path, headers={"Range":
                                                       "bytes=0-0"})
        assert st == 206 and data == whole[:1]
        assert fx.log()[-1]["active"] == 4 and "held" not in fx.log()[-1]
        st, d = fx.json("POST", "/_control", {"hold_paths": "held="})
        assert st == 400
    finally:
        fx.control(hold_paths=[])
        for t in threads:
            t.join(10)
    assert all(got[i] == (206, whole[i:i + 10]) for i in range(3)), got
    held = [e for e in fx.log() if e.get("held")]
    assert len(held) == 3 and all(e["active"] <= 4 for e in held), held
    st, s = fx.json("GET", "/_stats")
    assert s == {"active": 0, "max_active": 4, "held": 0}, s
    fx.clear()
    assert fx.json("GET", "/_stats")[1]["max_active"] == 0
    # 127.0.0.2 is loopback too, and another host to a client
    fx2 = Fixture(ctx["tmp"], "--catalog", ctx["cat"], host="127.0.0.2")
    try:
        line = fx2.proc.stdout.readline().decode().strip()
        assert line == "listening on 127.0.0.2:%d" % fx2.port, line
        st, d = fx2.json("GET", "/")
        assert st == 200 and all(l["href"].startswith("http://127.0.0.2:")
                                 for l in d["links"]), d["links"]
        st, h, data = fx2.request("GET", path, headers={"Range":
                                                        "bytes=5-9"})
        assert st == 206 and data == whole[5:10]
    finally:
        assert fx2.stop() == 0


@test
def t_fault_truncate(ctx):
    fx = ctx["fx"]
    path = "/cogs/S2B_17PMK_20240103_0_L2A/B04.tif"
    try:
        fx.control(rate_truncate=1)
        c = http.client.HTTPConnection("127.0.0.1", fx.port, timeout=5)
        c.request("GET", path)
        r = c.getresponse()
        assert r.status == 200 and r.getheader("Content-Length") == \
            str(COG_SIZE)
        try:
            r.read()
            raise AssertionError("truncated body read completely")
        except http.client.IncompleteRead as e:
            assert len(e.partial) == COG_SIZE // 2
        c.close()
        assert fx.log()[-1]["fault"] == "truncate"
    finally:
        fx.control(rate_truncate=0)


@test
def t_fault_reset_and_down(ctx):
    fx = ctx["fx"]
    try:
        fx.control(rate_reset=1)
        try:
            fx.request("POST", "/search", {})
            raise AssertionError("no reset")
        except ConnectionResetError:
            pass
        fx.control(rate_reset=0, down=True)
        for p in ("/", "/cogs/x"):
            try:
                fx.request("GET", p)
                raise AssertionError("not down")
            except (ConnectionResetError, http.client.RemoteDisconnected):
                pass
        faults = [e["fault"] for e in fx.log()[-3:]]
        assert faults == ["reset", "down", "down"], faults
    finally:
        fx.control(rate_reset=0, down=False)
    st, h, data = fx.request("GET", "/")
    assert st == 200


@test
def t_fault_stall(ctx):
    fx = ctx["fx"]
    try:
        fx.control(rate_stall=1)
        t0 = time.time()
        try:
            fx.request("POST", "/search", {}, timeout=0.6)
            raise AssertionError("stall answered")
        except socket.timeout:
            pass
        # The stall does not block others (control and non-faultable).
        fx.control(rate_stall=0)
        st, h, data = fx.request("GET", "/")
        assert st == 200 and time.time() - t0 < 3
        assert fx.log()[-2]["fault"] == "stall"
    finally:
        fx.control(rate_stall=0)


@test
def t_latency_bandwidth(ctx):
    fx = ctx["fx"]
    path = "/cogs/S2B_17PMK_20240103_0_L2A/B04.tif"
    try:
        fx.control(latency_ms=300)
        t0 = time.time()
        st, h, data = fx.request("GET", path, headers={"Range":
                                                       "bytes=0-9"})
        assert st == 206 and time.time() - t0 >= 0.29
        t0 = time.time()
        fx.request("GET", "/_log")
        assert time.time() - t0 < 0.25          # control: no latency
        fx.control(latency_ms=0, bandwidth=200000)
        t0 = time.time()
        st, h, data = fx.request("GET", path, headers={"Range":
                                                       "bytes=0-99999"})
        dt = time.time() - t0
        assert st == 206 and len(data) == 100000 and 0.45 <= dt < 3, dt
    finally:
        fx.control(latency_ms=0, bandwidth=0)


@test
def t_drip(ctx):
    """drip_paths: headers at once, the body at drip_rate bytes/s, only
    for requests whose path, query or body matches."""
    fx = ctx["fx"]
    path = "/cogs/S2B_17PMK_20240103_0_L2A/B04.tif"
    try:
        fx.control(drip_paths=["bytes-wanted", "-82.48"], drip_rate=40)
        t0 = time.time()
        st, h, data = fx.request("GET", path, headers={"Range":
                                                       "bytes=0-19"})
        assert st == 206 and len(data) == 20 and time.time() - t0 < 0.4
        t0 = time.time()
        st, h, data = fx.request("GET", path + "?bytes-wanted",
                                 headers={"Range": "bytes=0-19"})
        dt = time.time() - t0
        assert st == 206 and len(data) == 20 and 0.4 <= dt < 3, dt
        assert fx.log()[-1]["fault"] == "drip"
        # matched in a POST body: the search of one bbox
        fx.control(drip_rate=4000)
        t0 = time.time()
        st, d = fx.json("POST", "/search", {"bbox": [-82.48, 8.35, -82.39,
                                                     8.44], "limit": 1})
        assert st == 200 and fx.log()[-1]["fault"] == "drip"
        st, d = fx.json("POST", "/search", {"bbox": [-82.5, 8.35, -82.39,
                                                     8.44], "limit": 1})
        assert st == 200 and fx.log()[-1]["fault"] is None
    finally:
        fx.control(drip_paths=[], drip_rate=8)


@test
def t_control_validation(ctx):
    fx = ctx["fx"]
    st, d = fx.json("POST", "/_control", {"rate_503": -1})
    assert st == 400
    st, d = fx.json("POST", "/_control", {"bogus": 1})
    assert st == 400
    st, h, data = fx.request("POST", "/_control", "{{",
                             {"Content-Type": "application/json"})
    assert st == 400
    d = fx.control()
    assert d["rate_503"] == 0 and d["down"] is False


@test
def t_seeded_determinism(ctx):
    seqs = []
    for _ in range(2):
        fx = Fixture(ctx["tmp"], "--catalog", ctx["cat"], "--seed", "7",
                     "--rate-503", "0.3", "--rate-429", "0.2")
        try:
            seq = []
            for _ in range(30):
                st, h, data = fx.request("GET", "/cogs/%s/B04.tif"
                                         % EXPECTED[-1])
                seq.append(st)
            seqs.append(seq)
        finally:
            assert fx.stop() == 0, "server exit status or stderr errors"
    assert seqs[0] == seqs[1], seqs
    assert 429 in seqs[0] and 503 in seqs[0] and 200 in seqs[0], seqs[0]


@test
def t_paging_post_token(ctx):
    fx = Fixture(ctx["tmp"], "--catalog", ctx["cat"], "--paging",
                 "post-token")
    try:
        body = dict(DEFAULT_SEARCH, limit=2)
        st, d = fx.json("POST", "/search", body)
        nxt = [l for l in d["links"] if l["rel"] == "next"][0]
        assert nxt["merge"] is True and list(nxt["body"]) == ["token"]
        assert nxt["body"]["token"].startswith("next:")
        ids, n = follow(fx, body)
        assert ids == EXPECTED and n == 3, ids
        # A client that does not merge loses the filters: it gets other
        # items, and the log says so.
        fx.clear()
        ids, n = follow(fx, body, merge_honour=False)
        assert ids != EXPECTED and len(ids) > 5, ids
        assert any(e.get("note") == "token-filter-mismatch"
                   for e in fx.log())
    finally:
        assert fx.stop() == 0, "server exit status or stderr errors"


@test
def t_paging_get_and_page_limit(ctx):
    fx = Fixture(ctx["tmp"], "--catalog", ctx["cat"], "--paging", "get",
                 "--page-limit", "2")
    try:
        st, d = fx.json("POST", "/search", DEFAULT_SEARCH)   # limit 10
        assert len(d["features"]) == 2 and d["numberMatched"] == 5
        nxt = [l for l in d["links"] if l["rel"] == "next"][0]
        assert nxt["method"] == "GET" and "token=" in nxt["href"]
        ids, n = follow(fx, DEFAULT_SEARCH)
        assert ids == EXPECTED and n == 3, ids
        assert [e["method"] for e in fx.log()] == ["POST", "POST", "GET",
                                                   "GET"], fx.log()
    finally:
        assert fx.stop() == 0, "server exit status or stderr errors"


@test
def t_get_only(ctx):
    fx = Fixture(ctx["tmp"], "--catalog", ctx["cat"], "--get-only",
                 "--page-limit", "3")
    try:
        st, d = fx.json("GET", "/")
        assert [l["method"] for l in d["links"] if l["rel"] == "search"] == \
            ["GET"]
        st, h, data = fx.request("POST", "/search", DEFAULT_SEARCH)
        assert st == 405
        q = urllib.parse.urlencode({"collections": "sentinel-2-l2a",
                                    "limit": 10})
        st, d = fx.json("GET", "/search?" + q)
        nxt = [l for l in d["links"] if l["rel"] == "next"][0]
        assert nxt["method"] == "GET"
    finally:
        assert fx.stop() == 0, "server exit status or stderr errors"


@test
def t_ignore_query(ctx):
    fx = Fixture(ctx["tmp"], "--catalog", ctx["cat"], "--ignore-query")
    try:
        st, d = fx.json("POST", "/search", DEFAULT_SEARCH)
        assert st == 200 and d["numberMatched"] == 8     # cloudy ones too
    finally:
        assert fx.stop() == 0, "server exit status or stderr errors"


@test
def t_cql2(ctx):
    fx = Fixture(ctx["tmp"], "--catalog", ctx["cat"], "--cql2")
    try:
        st, d = fx.json("GET", "/")
        c = d["conformsTo"]
        assert "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json" in c
        assert "https://api.stacspec.org/v1.0.0-rc.2/item-search#filter" in c
        assert "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2" in c
        body = {k: v for k, v in DEFAULT_SEARCH.items() if k != "query"}
        body["filter-lang"] = "cql2-json"
        body["filter"] = {"op": "<", "args": [{"property": "eo:cloud_cover"},
                                              85]}
        st, d = fx.json("POST", "/search", body)
        assert [f["id"] for f in d["features"]] == EXPECTED, d
        body["filter"] = {"op": "and", "args": [
            {"op": "<", "args": [{"property": "eo:cloud_cover"}, 85]},
            {"op": ">=", "args": [{"property": "eo:cloud_cover"}, 30]}]}
        st, d = fx.json("POST", "/search", body)
        assert sorted(f["id"] for f in d["features"]) == sorted(
            [EXPECTED[0], EXPECTED[1], EXPECTED[3]]), d
        body["filter"] = {"op": "frobnicate", "args": []}
        st, d = fx.json("POST", "/search", body)
        assert st == 400 and d["code"] == "BadRequest"
        q = urllib.parse.urlencode({"filter-lang": "cql2-json",
                                    "filter": json.dumps({"op": "<", "args": [
                                        {"property": "eo:cloud_cover"}, 5]})})
        st, d = fx.json("GET", "/search?" + q)
        assert st == 200 and d["numberMatched"] == 1, d
    finally:
        assert fx.stop() == 0, "server exit status or stderr errors"


@test
def t_sigterm(ctx):
    fx = Fixture(ctx["tmp"], "--catalog", ctx["cat"])
    st, h, data = fx.request("GET", "/")
    assert st == 200
    assert fx.stop() == 0


def _recorded(name):
    with open(os.path.join(REALDATA, name + ".request.json")) as f:
        return json.load(f)


@test
def t_replay(ctx):
    fx = Fixture(ctx["tmp"], "--replay", REALDATA)
    try:
        names = sorted(n[:-len(".request.json")] for n in os.listdir(REALDATA)
                       if n.endswith(".request.json"))
        assert len(names) >= 9, names
        for name in names:
            req = _recorded(name)
            u = urllib.parse.urlsplit(req["uri"])
            body = json.loads(req["request_body"]) \
                if req["request_body"] else None
            for path in (u.path or "/",):
                st, h, data = fx.request(req["method"], path, body)
                assert st == req["status"]["code"], (name, st, data[:200])
                assert "Content-Encoding" not in h
                assert h["Content-Type"] == req["content_type"][0]
                with open(os.path.join(REALDATA, name + ".json"), "rb") as f:
                    orig = f.read()
                host = "%s://%s" % (u.scheme, u.netloc)
                assert data == orig.replace(host.encode(),
                                            fx.base.encode()), name
        # Stripped form: the API root is this server's root.
        st, d = fx.json("GET", "/")
        assert st == 200 and d["type"] == "Catalog"
        assert not any("earth-search" in l["href"] for l in d["links"])
        assert [l["href"] for l in d["links"] if l["rel"] == "search"] == \
            [fx.base + "/search"] * 2
        assert not any("cql2" in c for c in d["conformsTo"])
        st, d = fx.json("GET", "/collections/foo")
        assert st == 404 and d["code"] == "NotFound"
        # Earth Search paging, following the next link as given.
        first = json.loads(_recorded(
            "earthsearch_v1_search_s2l2a_landsat_page1")["request_body"])
        ids, n = follow(fx, first)
        assert n == 2 and len(ids) == 2, (ids, n)
        first = json.loads(_recorded(
            "earthsearch_v1_search_cql2_page1")["request_body"])
        st, d = fx.json("POST", "/search", first)
        nxt = [l for l in d["links"] if l["rel"] == "next"][0]
        assert nxt["href"] == fx.base + "/search"
        st, d2 = fx.json("POST", "/search", nxt["body"])
        assert st == 200 and len(d2["features"]) == 10
        # ... and the link out of the last recorded page has nothing.
        nxt = [l for l in d2["links"] if l["rel"] == "next"][0]
        st, d3 = fx.json("POST", "/search", nxt["body"])
        assert st == 404 and d3["code"] == "NotFound"
        # Planetary Computer token paging (rustac mocks), merge semantics.
        st, d = fx.json("POST", "/search", {"collections": ["sentinel-2-l2a"],
                                            "limit": 1})
        assert st == 200 and len(d["features"]) == 1
        nxt = [l for l in d["links"] if l["rel"] == "next"][0]
        assert nxt["href"] == fx.base + "/search"
        st, d2 = fx.json("POST", "/search", nxt["body"])
        assert st == 200 and d2["features"][0]["id"] != \
            d["features"][0]["id"]
        # Unmatched body and unknown path.
        st, d = fx.json("POST", "/search", {"collections": ["x"]})
        assert st == 404 and d["code"] == "NotFound"
        st, h, data = fx.request("POST", "/search", "{bad")
        assert st == 400
        st, h, data = fx.request(
            "GET", "/_replay/rustac_earthsearch_s2c1l2a_10items.json")
        assert st == 200 and len(json.loads(data)["features"]) == 10
    finally:
        assert fx.stop() == 0, "server exit status or stderr errors"


@test
def t_sas_tokens(ctx):
    fx = ctx["fx"]
    blob = {"Host": "acct.blob.core.windows.net"}
    path = "/cont/cogs/S2B_17PMK_20240103_0_L2A/B04.tif"
    with open(os.path.join(ctx["cat"], path[len("/cont/"):]), "rb") as f:
        whole = f.read()
    fx.clear()

    def get(query, rng=None):
        h = dict(blob)
        if rng:
            h["Range"] = rng
        return fx.request("GET", path + (("?" + query) if query else ""),
                          headers=h)

    st, d = fx.json("GET", "/api/sas/v1/token/acct/cont")
    assert st == 200 and set(d) == {"msft:expiry", "token"}, d
    exp = calendar.timegm(time.strptime(d["msft:expiry"],
                                        "%Y-%m-%dT%H:%M:%SZ"))
    assert 3500 < exp - time.time() <= 3600, d
    tok = d["token"]
    assert "sig=" in tok and "se=" in tok and "#" not in tok
    st, h, data = get(tok, "bytes=0-9")
    assert st == 206 and data == whole[:10]
    assert get(None)[0] == 403                     # no token
    assert get(tok.replace("sig=", "sig=x"))[0] == 403
    st, d2 = fx.json("GET", "/api/sas/v1/token/acct/other")
    assert get(d2["token"])[0] == 403              # another container's
    st, h, data = fx.request("GET", path, headers={"Host": "other.blob."
                                                   "core.windows.net"})
    assert st == 403
    assert fx.json("GET", "/api/sas/v1/token/acct")[0] == 404
    # revoked: now, or after N more accepted requests
    fx.control(sas_revoke=True)
    assert get(tok)[0] == 403
    st, d = fx.json("GET", "/api/sas/v1/token/acct/cont")
    tok = d["token"]
    fx.control(sas_revoke_after=2)
    assert get(tok)[0] == 200 and get(tok)[0] == 200
    assert get(tok)[0] == 403
    assert fx.control()["sas_revoke_after"] == 0
    # expired
    fx.control(sas_ttl_s=0.3)
    st, d = fx.json("GET", "/api/sas/v1/token/acct/cont")
    assert get(d["token"])[0] == 200
    time.sleep(0.4)
    assert get(d["token"])[0] == 403
    fx.control(sas_ttl_s=3600)
    auth = [r.get("auth") for r in fx.log() if r["path"] == path]
    assert auth == ["ok", "missing", "bad", "bad", "missing", "revoked",
                    "ok", "ok", "revoked", "ok", "expired"], auth
    tokens = [r for r in fx.log() if r["path"].startswith("/api/sas/")]
    assert len(tokens) == 5 and all(r["status"] == 200 for r in tokens[:2])


def main():
    tmp = tempfile.mkdtemp(prefix="satfs-fixture-test-")
    passed = failed = 0
    ctx = {"tmp": tmp, "cat": os.path.join(tmp, "catalog")}
    try:
        make_catalog(ctx["cat"])
        ctx["fx"] = Fixture(tmp, "--catalog", ctx["cat"])
        for fn in TESTS:
            t0 = time.time()
            try:
                fn(ctx)
            except Exception:
                failed += 1
                print("FAIL %s" % fn.__name__)
                traceback.print_exc()
                continue
            passed += 1
            print("ok   %s (%.2f s)" % (fn.__name__, time.time() - t0))
        rc = ctx["fx"].stop()
        if rc != 0:
            failed += 1
            print("FAIL server exit status %s" % rc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
