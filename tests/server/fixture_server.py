#!/usr/bin/env python3
"""Fixture STAC API + COG server for satfs tests (Python stdlib only).

    python3 tests/server/fixture_server.py --catalog DIR [--host ADDR]
        [--port 0] [--port-file FILE] [--log FILE] [--latency-ms N]
        [--bandwidth B]
        [--rate-429 R] [--retry-after S] [--rate-503 R] [--rate-truncate R]
        [--rate-stall R] [--rate-reset R] [--seed N]
        [--paging post-merge|post-token|get] [--cql2 | --cql2-text]
        [--get-only]
        [--ignore-query] [--page-limit N] [--replay DIR]
        [--exit-with-parent]

See tests/server/README.md for the protocol, the control API and how --replay
matches recorded requests.

Threading model: ThreadingHTTPServer, one daemon thread per connection,
HTTP/1.1 keep-alive. Shared mutable state lives in one State object and is
only touched under State.lock: fault settings, the seeded random generator
(one draw per faultable request, so a given request order always gets the
same faults), the request log, the ETag cache and the counts of requests in
progress and held. Nothing sleeps or does I/O while holding the lock, except
appending one line to the --log file; held requests wait on State.cond
(which releases the lock), woken when /_control changes hold_paths.
"""

import argparse
import base64
import email.utils
import hashlib
import json
import os
import random
import re
import select
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 4 << 20
STALL_MAX_S = 600
STAC_VERSION = "1.0.0"
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
BLOB_SUFFIX = ".blob.core.windows.net"
SAS_PREFIX = "/api/sas/v1/token/"

CONFORMS = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/ogcapi-features#query",
    "https://api.stacspec.org/v1.0.0/item-search#query",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]
CONFORMS_CQL2 = [
    "https://api.stacspec.org/v1.0.0-rc.2/item-search#filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
]

# A server that offers the filter extension in CQL2 Text only: a JSON
# filter is answered 400, as the filter extension lets such a server do.
CONFORMS_CQL2_TEXT = [
    "https://api.stacspec.org/v1.0.0/item-search#filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
]
CQL2_TEXT_CMP = re.compile(r"^\s*([A-Za-z_:][A-Za-z0-9_:.]*)\s*(<=|>=|<>|<|>|=)"
                           r"\s*(-?[0-9]+(?:\.[0-9]+)?)\s*$")

RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d)(\.\d+)?"
                     r"([Zz]|[+-]\d\d:\d\d)?$")

# Order in which the single uniform draw of a request is partitioned.
FAULT_ORDER = ("reset", "stall", "429", "503", "truncate")
# satfs tries a request 5 times: one random fault fewer than that in a row
MAX_FAULTS_IN_A_ROW = 3


class BadRequest(Exception):
    pass


class TooLarge(BadRequest):
    pass


# ---------------------------------------------------------------------------
# Shared state

class State:
    def __init__(self, opts):
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.rng = random.Random(opts.seed)          # protected by lock
        self.in_a_row = {}                           # protected by lock
        self.faults = {                              # protected by lock
            "latency_ms": opts.latency_ms,
            "bandwidth": opts.bandwidth,
            "rate_429": opts.rate_429,
            "retry_after": opts.retry_after,
            "rate_503": opts.rate_503,
            "rate_truncate": opts.rate_truncate,
            "rate_stall": opts.rate_stall,
            "rate_reset": opts.rate_reset,
            "down": False,
            "fail_paths": [],
            "fail_status": 500,
            "range_ignore": False,
            "range_shift": 0,
            "fail_next": 0,
            "empty_pages": 0,
            "sas_ttl_s": 3600,
            "sas_revoke_after": 0,
            "sas_revoke": False,
            "hold_paths": [],
            "drip_paths": [],
            "drip_rate": 8,
        }
        self.sas = {}            # protected by lock: sig -> token facts
        self.sas_seq = 0         # protected by lock: tokens issued
        self.sas_min_seq = 0     # protected by lock: older ones revoked
        self.empty_seq = 0       # protected by lock: empty pages answered
        self.log = []                                # protected by lock
        self.cond = threading.Condition(self.lock)
        self.active = 0          # protected by lock: requests in progress
        self.max_active = 0      # protected by lock: most at once
        self.held = 0            # protected by lock: waiting on hold_paths
        self.logfile = open(opts.log, "a") if opts.log else None
        self.etags = {}                              # protected by lock

    def snapshot(self):
        with self.lock:
            return json.loads(json.dumps(self.faults))

    def control(self, upd):
        if not isinstance(upd, dict):
            raise BadRequest("control body must be a JSON object")
        new = {}
        for k, v in upd.items():
            if k not in self.faults:
                raise BadRequest("unknown control key %r" % k)
            if k in ("down", "range_ignore", "sas_revoke"):
                v = bool(v)
            elif k in ("fail_paths", "hold_paths", "drip_paths"):
                if not isinstance(v, list) or \
                        not all(isinstance(s, str) for s in v):
                    raise BadRequest("%s must be a list of strings" % k)
            elif k in ("fail_next", "empty_pages"):
                if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                    raise BadRequest("%s must be an integer >= 0" % k)
            elif k == "fail_status":
                v = int(v)
                if v < 100 or v > 599:
                    raise BadRequest("fail_status out of range")
            else:
                if not isinstance(v, (int, float)) or isinstance(v, bool) \
                        or v < 0:
                    raise BadRequest("%s must be a number >= 0" % k)
            new[k] = v
        with self.lock:
            self.faults.update(new)
            if self.faults["sas_revoke"]:       # an action, not a setting
                self.sas_min_seq = self.sas_seq
                self.faults["sas_revoke"] = False
            self.cond.notify_all()              # hold_paths may have gone
            return json.loads(json.dumps(self.faults))

    def sas_issue(self, account, container):
        """A Planetary Computer style SAS token answer for a container."""
        with self.lock:
            ttl = self.faults["sas_ttl_s"]
            self.sas_seq += 1
            seq = self.sas_seq
        exp = time.time() + ttl
        sig = base64.b64encode(os.urandom(32)).decode()
        stamp = datetime.fromtimestamp(exp, timezone.utc) \
            .strftime("%Y-%m-%dT%H:%M:%SZ")
        with self.lock:
            self.sas[sig] = (account, container, exp, seq)
        token = urllib.parse.urlencode([
            ("st", stamp), ("se", stamp), ("sp", "rl"),
            ("sv", "2024-05-04"), ("sr", "c"), ("skoid", "satfs-fixture"),
            ("sig", sig)])
        return {"msft:expiry": stamp, "token": token}

    def sas_check(self, account, container, query):
        """None when query carries a valid token for the container, else
        why not ("missing", "bad", "expired", "revoked")."""
        sig = urllib.parse.parse_qs(query or "").get("sig")
        if not sig:
            return "missing"
        with self.lock:
            t = self.sas.get(sig[0])
            if t is None or t[:2] != (account, container):
                return "bad"
            if time.time() >= t[2]:
                return "expired"
            if t[3] <= self.sas_min_seq:
                return "revoked"
            n = self.faults["sas_revoke_after"]
            if n > 0:
                # This request is served; the tokens it revokes are the
                # ones issued so far.
                self.faults["sas_revoke_after"] = n - 1
                if n - 1 <= 0:
                    self.faults["sas_revoke_after"] = 0
                    self.sas_min_seq = self.sas_seq
        return None

    def begin(self, entry):
        """A non-control request starts: count it (entry["active"] is how
        many were in progress then, itself included)."""
        with self.lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            entry["active"] = self.active

    def end(self):
        with self.lock:
            self.active -= 1

    def stats(self):
        with self.lock:
            return {"active": self.active, "max_active": self.max_active,
                    "held": self.held}

    def hold(self, target):
        """Waits while target (path and query) contains one of hold_paths,
        or until shutdown. True when it waited."""
        def held():
            return any(s in target for s in self.faults["hold_paths"])
        with self.cond:
            if not held():
                return False
            self.held += 1
            while held() and not self.stop.is_set():
                self.cond.wait(0.25)
            self.held -= 1
        return True

    def take_fail_next(self):
        """True (and one fewer left) while fail_next counts down."""
        with self.lock:
            if self.faults["fail_next"] > 0:
                self.faults["fail_next"] -= 1
                return True
        return False

    def draw(self, key):
        """One seeded draw per faultable request: which fault, if any.
        The same request (key: path and range) is answered with a random
        fault at most MAX_FAULTS_IN_A_ROW times in a row, so that a client
        retrying it as often as satfs does always gets through: the rates
        say how often faults come, not that one request may fail forever
        (which a test would meet by the luck of the draw). Rates adding
        up to 1 fail every request, as asked."""
        with self.lock:
            u = self.rng.random()
            f = self.faults
            acc = 0.0
            fault = None
            for name in FAULT_ORDER:
                acc += f["rate_" + name]
                if u < acc:
                    fault = name
                    break
            n = self.in_a_row.get(key, 0)
            total = sum(f["rate_" + name] for name in FAULT_ORDER)
            if fault and n >= MAX_FAULTS_IN_A_ROW and total < 1.0:
                fault = None  # a rate of 1 means every time
            self.in_a_row[key] = n + 1 if fault else 0
        return fault

    def record(self, entry):
        line = json.dumps(entry)
        with self.lock:
            self.log.append(line)
            if self.logfile:
                self.logfile.write(line + "\n")
                self.logfile.flush()

    def etag(self, path, st):
        # Keyed by the file's identity, so hard links (benchmark catalogs
        # link many scenes to a few COGs) share one md5 of the content.
        key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
        with self.lock:
            tag = self.etags.get(key)
        if tag:
            return tag
        h = hashlib.md5()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        tag = '"%s"' % h.hexdigest()
        with self.lock:
            self.etags[key] = tag
        return tag


# ---------------------------------------------------------------------------
# Time, geometry and filter helpers

def parse_time(s, end=False):
    """RFC 3339 text to an aware datetime; a bare date is a whole day."""
    if not isinstance(s, str) or not s:
        raise BadRequest("bad datetime %r" % (s,))
    try:
        if len(s) == 10:
            d = datetime.fromisoformat(s).replace(tzinfo=timezone.utc)
            return d + timedelta(days=1, microseconds=-1) if end else d
        # fromisoformat before Python 3.11 wants +00:00 and 3 or 6
        # fractional digits: normalise RFC 3339 text to that.
        m = RFC3339.match(s)
        if not m:
            raise ValueError(s)
        date, hms, frac, tz = m.groups()
        frac = ((frac or ".")[1:] + "000000")[:6]
        tz = "+00:00" if tz in (None, "Z", "z") else tz
        d = datetime.fromisoformat("%sT%s.%s%s" % (date, hms, frac, tz))
    except ValueError:
        raise BadRequest("bad datetime %r" % s)
    if d.tzinfo is None:
        d = d.replace(tzinfo=timezone.utc)
    return d


def parse_interval(s):
    if not isinstance(s, str):
        raise BadRequest("datetime must be a string")
    if "/" in s:
        a, b = s.split("/", 1)
        lo = None if a in ("", "..") else parse_time(a)
        hi = None if b in ("", "..") else parse_time(b, end=True)
        if lo is None and hi is None:
            raise BadRequest("datetime interval open at both ends")
        if lo and hi and lo > hi:
            raise BadRequest("datetime interval start after end")
        return lo, hi
    t = parse_time(s)
    return t, (parse_time(s, end=True) if len(s) == 10 else t)


def geom_bbox(g):
    """Bounding box of any GeoJSON geometry (intersects is matched by it)."""
    pts = []

    def walk(c):
        if isinstance(c, (list, tuple)) and c and \
                isinstance(c[0], (int, float)):
            if len(c) < 2:
                raise BadRequest("bad coordinate")
            pts.append((float(c[0]), float(c[1])))
        elif isinstance(c, (list, tuple)):
            for x in c:
                walk(x)
        else:
            raise BadRequest("bad coordinates")
    if not isinstance(g, dict):
        raise BadRequest("intersects must be a GeoJSON geometry")
    if g.get("type") == "GeometryCollection":
        for sub in g.get("geometries") or []:
            walk(sub.get("coordinates") if isinstance(sub, dict) else None)
    else:
        walk(g.get("coordinates"))
    if not pts:
        raise BadRequest("empty geometry")
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    return [min(xs), min(ys), max(xs), max(ys)]


def norm_bbox(b):
    if isinstance(b, str):
        b = b.split(",")
    try:
        b = [float(v) for v in b]
    except (TypeError, ValueError):
        raise BadRequest("bad bbox")
    if len(b) == 6:
        b = [b[0], b[1], b[3], b[4]]
    if len(b) != 4 or b[1] > b[3]:
        raise BadRequest("bbox must be west,south,east,north")
    return b


def bbox_hit(q, b):
    if not b or len(b) < 4:
        return False
    if len(b) == 6:
        b = [b[0], b[1], b[3], b[4]]
    if q[1] > b[3] or q[3] < b[1]:
        return False

    def spans(w, e):
        # A box with west > east crosses the antimeridian.
        return [(w, e)] if w <= e else [(w, 180.0), (-180.0, e)]
    return any(a0 <= b1 and b0 <= a1
               for a0, a1 in spans(q[0], q[2]) for b0, b1 in spans(b[0], b[2]))


def prop(item, name):
    if name.startswith("properties."):
        name = name[len("properties."):]
    if name in ("id", "collection"):
        return item.get(name)
    return (item.get("properties") or {}).get(name)


def compare(op, a, b):
    if a is None:
        return False
    num = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        ok = op in ("eq", "neq")
    elif isinstance(a, num) and isinstance(b, num):
        ok = True
    else:
        ok = isinstance(a, str) and isinstance(b, str)
    if not ok:
        return op == "neq"
    return {"eq": a == b, "neq": a != b, "lt": a < b, "lte": a <= b,
            "gt": a > b, "gte": a >= b}[op]


def query_match(item, query):
    for name, ops in query.items():
        if not isinstance(ops, dict):
            raise BadRequest("query: %s must map operators to values" % name)
        v = prop(item, name)
        for op, arg in ops.items():
            if op in ("eq", "neq", "lt", "lte", "gt", "gte"):
                if not compare(op, v, arg):
                    return False
            elif op == "in":
                if not isinstance(arg, list) or v not in arg:
                    return False
            else:
                raise BadRequest("query: unsupported operator %r" % op)
    return True


CQL_OPS = {"=": "eq", "<>": "neq", "<": "lt", "<=": "lte", ">": "gt",
           ">=": "gte", "eq": "eq", "neq": "neq", "lt": "lt", "lte": "lte",
           "gt": "gt", "gte": "gte"}


def cql2_eval(item, node):
    if not isinstance(node, dict) or "op" not in node:
        raise BadRequest("filter: expected {op, args}")
    op = node["op"]
    args = node.get("args")
    if not isinstance(args, list):
        raise BadRequest("filter: args must be a list")
    if op in ("and", "or"):
        res = [cql2_eval(item, a) for a in args]
        return all(res) if op == "and" else any(res)
    if op == "not":
        if len(args) != 1:
            raise BadRequest("filter: not takes one argument")
        return not cql2_eval(item, args[0])

    def val(a):
        if isinstance(a, dict) and "property" in a:
            return prop(item, a["property"])
        if isinstance(a, dict) and "timestamp" in a:
            return a["timestamp"]
        return a
    if op == "isNull":
        return val(args[0]) is None if args else False
    if op in CQL_OPS:
        if len(args) != 2:
            raise BadRequest("filter: %s takes two arguments" % op)
        a, b = args
        if not (isinstance(a, dict) and "property" in a) and \
                isinstance(b, dict) and "property" in b:
            flip = {"lt": "gt", "gt": "lt", "lte": "gte", "gte": "lte"}
            return compare(flip.get(CQL_OPS[op], CQL_OPS[op]), val(b), a)
        return compare(CQL_OPS[op], val(a), val(b))
    if op == "in":
        return len(args) == 2 and isinstance(args[1], list) and \
            val(args[0]) in args[1]
    if op == "s_intersects":
        geom = args[1] if len(args) == 2 else None
        return bbox_hit(geom_bbox(geom), item.get("bbox"))
    raise BadRequest("filter: unsupported operator %r" % op)


# ---------------------------------------------------------------------------
# Catalog (items served from --catalog DIR)

class Catalog:
    def __init__(self, root, base):
        self.root = os.path.realpath(root)
        self.items = []
        idir = os.path.join(self.root, "items")
        names = sorted(os.listdir(idir)) if os.path.isdir(idir) else []
        for n in names:
            if not n.endswith(".json"):
                continue
            try:
                with open(os.path.join(idir, n)) as f:
                    it = json.loads(f.read().replace("{base}", base))
                if not isinstance(it, dict) or "id" not in it:
                    raise ValueError("not an item")
                it["_t"] = parse_time(it["properties"]["datetime"])
            except (OSError, ValueError, KeyError, BadRequest) as e:
                sys.stderr.write("fixture: skipping %s: %s\n" % (n, e))
                continue
            self.items.append(it)
        # Earth Search (stac-server) order: datetime desc, id desc.
        self.items.sort(key=lambda i: (i["_t"], i["id"]), reverse=True)
        self.collections = sorted({i.get("collection") for i in self.items
                                   if i.get("collection")})

    def collection(self, cid, base):
        its = [i for i in self.items if i.get("collection") == cid]
        if not its:
            return None
        bbs = [i["bbox"] for i in its if len(i.get("bbox") or []) >= 4]
        ext = [min(b[0] for b in bbs), min(b[1] for b in bbs),
               max(b[2] for b in bbs), max(b[3] for b in bbs)] if bbs \
            else [-180, -90, 180, 90]
        times = sorted(i["properties"]["datetime"] for i in its)
        url = "%s/collections/%s" % (base, cid)
        return {
            "type": "Collection", "stac_version": STAC_VERSION, "id": cid,
            "title": cid, "description": "satfs fixture collection " + cid,
            "license": "proprietary",
            "extent": {"spatial": {"bbox": [ext]},
                       "temporal": {"interval": [[times[0], times[-1]]]}},
            "links": [
                {"rel": "self", "type": "application/json", "href": url},
                {"rel": "root", "type": "application/json", "href": base},
                {"rel": "parent", "type": "application/json", "href": base},
                {"rel": "items", "type": "application/geo+json",
                 "href": url + "/items"},
            ],
        }

    def item(self, cid, iid):
        for i in self.items:
            if i["id"] == iid and i.get("collection") == cid:
                return i
        return None


def clean_item(i):
    return {k: v for k, v in i.items() if k != "_t"}


# ---------------------------------------------------------------------------
# Replay of recorded responses (--replay DIR)

def api_root(path):
    for mark in ("/search", "/collections"):
        k = path.find(mark)
        if k >= 0:
            return path[:k]
    return path.rstrip("/")


class Replay:
    def __init__(self, root):
        self.root = root
        self.recs = []
        self.bodies = {}
        for n in sorted(os.listdir(root)):
            if not n.endswith(".json") or n.endswith(".request.json") or \
                    n == "PROVENANCE.json":
                continue
            with open(os.path.join(root, n), "rb") as f:
                self.bodies[n[:-5]] = f.read()
        for n in sorted(os.listdir(root)):
            if not n.endswith(".request.json"):
                continue
            name = n[:-len(".request.json")]
            if name not in self.bodies:
                continue
            with open(os.path.join(root, n)) as f:
                req = json.load(f)
            ctype = (req.get("content_type") or ["application/json"])[0]
            body = req.get("request_body")
            self.add(name, req["method"], req["uri"],
                     json.loads(body) if body else None,
                     (req.get("status") or {}).get("code", 200), ctype)
        self.synthesize()

    def add(self, name, method, uri, body, status, ctype):
        u = urllib.parse.urlsplit(uri)
        path = u.path or "/"
        root = api_root(path)
        stripped = path[len(root):] or "/"
        tok = None
        if isinstance(body, dict):
            tok = body.get("next") or body.get("token")
        self.recs.append({
            "name": name, "method": method.upper(),
            "origin": "%s://%s" % (u.scheme, u.netloc),
            "path": path.rstrip("/") or "/", "root": root,
            "stripped": stripped.rstrip("/") or "/", "body": body,
            "token": tok, "status": status, "ctype": ctype,
        })

    def synthesize(self):
        # The rustac mocks come without a request recording. Page 1 is the
        # answer to {"collections":["sentinel-2-l2a"],"limit":1} (that is
        # what its own next link repeats); page 2 answers page 1's next body.
        p1 = "rustac_planetary_s2l2a_search_page1"
        p2 = "rustac_planetary_s2l2a_search_page2"
        if p1 not in self.bodies:
            return
        doc = json.loads(self.bodies[p1])
        nxt = [l for l in doc.get("links", []) if l.get("rel") == "next"]
        if not nxt:
            return
        href = nxt[0]["href"]
        body1 = {k: v for k, v in nxt[0]["body"].items() if k != "token"}
        self.add(p1, "POST", href, body1, 200, "application/geo+json")
        if p2 in self.bodies:
            self.add(p2, "POST", href, nxt[0]["body"], 200,
                     "application/geo+json")

    def match(self, method, path, body):
        """(record, prefixed) for a request, or (None, False)."""
        method = "GET" if method == "HEAD" else method
        path = path.rstrip("/") or "/"
        cands = [(r, path == r["path"]) for r in self.recs
                 if r["method"] == method and path in (r["path"],
                                                       r["stripped"])]
        if method != "POST":
            return cands[0] if cands else (None, False)
        for r, pre in cands:
            if r["body"] == body:
                return r, pre
        tok = body.get("next") or body.get("token") \
            if isinstance(body, dict) else None
        if tok:
            for r, pre in cands:
                if r["token"] == tok:
                    return r, pre
        return None, False

    def render(self, rec_or_name, base, prefixed):
        if isinstance(rec_or_name, str):
            data = self.bodies[rec_or_name]
            origins = {r["origin"] + r["root"] for r in self.recs}
            for o in sorted(origins, key=len, reverse=True):
                data = data.replace(o.encode(), base.encode())
            return data
        r = rec_or_name
        old = r["origin"] if prefixed else r["origin"] + r["root"]
        return self.bodies[r["name"]].replace(old.encode(), base.encode())


# ---------------------------------------------------------------------------
# HTTP handler

class Response:
    def __init__(self, status, ctype, body=b"", headers=None, fpath=None,
                 offset=0, length=None):
        self.status = status
        self.ctype = ctype
        self.body = body
        self.headers = headers or []
        self.fpath = fpath              # body streamed from this file
        self.offset = offset
        self.length = len(body) if length is None else length


def jresp(status, obj, ctype="application/json", headers=None):
    return Response(status, ctype, json.dumps(obj).encode(), headers)


def stac_error(status, code, desc):
    return jresp(status, {"code": code, "description": desc})


def s3_error(status, code, msg, key=""):
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code>'
            "<Message>%s</Message><Key>%s</Key><RequestId>fixture"
            "</RequestId></Error>\n" % (code, msg, key)).encode()
    return Response(status, "application/xml", body)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "satfs-fixture/1.0"
    timeout = 300                       # idle keep-alive connections
    # TCP_NODELAY, as most HTTP servers set it (nginx's tcp_nodelay, Go's
    # net/http): with Nagle's algorithm a body under one segment, written
    # after its headers, waited for the client's delayed ACK of them,
    # 40 ms on a connection used before (a search, a COG header read),
    # which no server this one stands in for adds.
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self.dispatch("GET")

    def do_HEAD(self):
        self.dispatch("HEAD")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_OPTIONS(self):
        self.dispatch("OPTIONS")

    # -- plumbing -----------------------------------------------------------

    def read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            out = b""
            while True:
                line = self.rfile.readline(1024)
                try:
                    n = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise BadRequest("bad chunked body")
                if n == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n",
                                                            b""):
                        pass
                    return out
                if len(out) + n > MAX_BODY:
                    raise TooLarge("body too large")
                out += self.rfile.read(n)
                self.rfile.readline(8)
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise BadRequest("bad Content-Length")
        if n < 0:
            raise BadRequest("bad Content-Length")
        if n > MAX_BODY:
            raise TooLarge("body too large")
        return self.rfile.read(n) if n else b""

    def reset(self):
        """Close the connection with RST (SO_LINGER 0), sending nothing."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.rfile.close()
            self.connection.close()
        except OSError:
            pass

    def stall(self):
        """Never answer; return when the client goes away (or at most
        STALL_MAX_S, or at shutdown). Other connections are unaffected."""
        st = self.server.state
        deadline = time.time() + STALL_MAX_S
        conn = self.connection
        while time.time() < deadline and not st.stop.is_set():
            try:
                r, _, _ = select.select([conn], [], [], 0.25)
                if r and not conn.recv(1, socket.MSG_PEEK):
                    break
                if r:
                    time.sleep(0.25)     # pipelined bytes: keep stalling
            except (OSError, ValueError):
                break
        self.close_connection = True

    def send(self, resp, method, entry, fault=None, log=True):
        """Write a response; log it before the body goes out, so that a
        client that has read the body always finds its request logged."""
        st = self.server.state
        head = method == "HEAD"
        total = resp.length
        self.started = True
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.ctype)
        self.send_header("Content-Length", str(total))
        for k, v in resp.headers:
            self.send_header(k, v)
        if fault == "truncate" or self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        n = 0 if head else (total // 2 if fault == "truncate" else total)
        if n and log and getattr(self, "drip", False):
            fault = fault or "drip"
        entry.update(status=resp.status, bytes=n,
                     fault=fault or entry.get("fault"))
        if log:
            st.record(entry)
        if n:
            with st.lock:
                # Control answers are never throttled.
                bw = st.faults["bandwidth"] if log else 0
                if log and getattr(self, "drip", False):
                    bw = st.faults["drip_rate"]
            self.write_body(resp, n, bw)
        if fault == "truncate":
            self.wfile.flush()
            self.close_connection = True

    def write_body(self, resp, n, bw):
        chunk = 1 << 16
        if bw > 0:
            chunk = max(1, min(chunk, int(bw // 20) or 1))
        f = open(resp.fpath, "rb") if resp.fpath else None
        try:
            if f and bw <= 0:
                # Unthrottled file bytes go by sendfile(2): copied through
                # Python in 64 KiB chunks, they cost this server a core's
                # worth of CPU next to the client it serves (the
                # benchmark's 50-scene copy), which a remote server's
                # would not.
                self.wfile.flush()
                self.connection.sendfile(f, resp.offset, n)
                return
            if f:
                f.seek(resp.offset)
            sent = 0
            while sent < n:
                k = min(chunk, n - sent)
                data = f.read(k) if f else resp.body[sent:sent + k]
                if not data:
                    break
                self.wfile.write(data)
                sent += len(data)
                if bw > 0:
                    self.wfile.flush()
                    time.sleep(len(data) / float(bw))
        finally:
            if f:
                f.close()

    # -- request flow -------------------------------------------------------

    def dispatch(self, method):
        st = self.server.state
        url = urllib.parse.urlsplit(self.path)
        path = "/" + "/".join(p for p in url.path.split("/") if p)
        if url.path.endswith("/") and path != "/":
            path += "/"
        entry = {"t": time.time(), "method": method, "path": path,
                 "query": url.query or None,
                 "range": self.headers.get("Range"),
                 "status": 0, "bytes": 0, "fault": None}
        self.started = False
        self.drip = False
        self.entry = entry
        try:
            try:
                body = self.read_body() if method in ("POST", "PUT") else b""
            except BadRequest as e:
                # The rest of the request cannot be found: drop the link.
                self.close_connection = True
                big = isinstance(e, TooLarge)
                self.send(stac_error(413 if big else 400, "PayloadTooLarge"
                                     if big else "BadRequest", str(e)),
                          method, entry)
                return
            if path in ("/_control", "/_stats") or \
                    path.startswith("/_log"):
                self.send_control(method, path, body)
                return
            if method == "POST" and path.rstrip("/").endswith("/search"):
                entry["body"] = body[:4096].decode("utf-8", "replace")
            st.begin(entry)
            try:
                self.serve(method, path, url, body, entry)
            finally:
                st.end()
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True
        except Exception as e:          # never let a request kill the thread
            sys.stderr.write("fixture: %s %s: %r\n" % (method, path, e))
            self.close_connection = True
            if not self.started:
                try:
                    self.send(stac_error(500, "InternalServerError",
                                         repr(e)), method, entry)
                except OSError:
                    pass

    def serve(self, method, path, url, body, entry):
        """Everything but control: down, hold, faults, then the answer."""
        st = self.server.state
        f = st.snapshot()
        if f["down"]:
            entry["fault"] = "down"
            st.record(entry)
            self.reset()
            return
        target = path + ("?" + url.query if url.query else "")
        if st.hold(target):
            entry["held"] = True
            f = st.snapshot()
        # drip_paths: the answer as usual, its body at drip_rate bytes/s
        text = target + "\n" + body.decode("utf-8", "replace")
        self.drip = any(s in text for s in f["drip_paths"])
        faultable = path.rstrip("/").endswith("/search") or \
            path.startswith("/cogs/")
        # fail_next: a counted fault, before (and instead of) a draw
        failing = faultable and st.take_fail_next()
        fault = st.draw((path, self.headers.get("Range"))) \
            if faultable and not failing else None
        if fault in ("reset", "stall"):
            entry["fault"] = fault
            st.record(entry)
            if fault == "reset":
                self.reset()
            else:
                self.stall()
            return
        if f["latency_ms"] > 0:
            time.sleep(f["latency_ms"] / 1000.0)
        if failing or any(s in path for s in f["fail_paths"]):
            resp = stac_error(f["fail_status"], "InjectedFailure",
                              ("fail_next" if failing else
                               "fail_paths matched") + " " + path)
            if failing and f["fail_status"] in (429, 503):
                resp.headers.append(("Retry-After",
                                     "%g" % f["retry_after"]))
            self.send(resp, method, entry, "fail")
            return
        if fault == "429":
            resp = stac_error(429, "TooManyRequests", "slow down")
            resp.headers.append(("Retry-After",
                                 "%g" % f["retry_after"]))
            self.send(resp, method, entry, "429")
            return
        if fault == "503":
            resp = s3_error(503, "SlowDown",
                            "Please reduce your request rate.")
            self.send(resp, method, entry, "503")
            return
        resp = self.route(method, path, url.query, body)
        self.send(resp, method, entry,
                  "truncate" if fault == "truncate" else None)

    def send_control(self, method, path, body):
        st = self.server.state
        dummy = {}
        if path == "/_control" and method == "POST":
            try:
                upd = json.loads(body or b"{}")
                resp = jresp(200, st.control(upd))
            except (ValueError, BadRequest) as e:
                resp = stac_error(400, "BadRequest", str(e))
        elif path == "/_control" and method in ("GET", "HEAD"):
            resp = jresp(200, st.snapshot())
        elif path == "/_log" and method in ("GET", "HEAD"):
            with st.lock:
                text = "".join(l + "\n" for l in st.log)
            resp = Response(200, "application/x-ndjson", text.encode())
        elif path == "/_log/clear" and method == "POST":
            with st.lock:
                st.log.clear()
                st.max_active = st.active
            resp = jresp(200, {"cleared": True})
        elif path == "/_stats" and method in ("GET", "HEAD"):
            resp = jresp(200, st.stats())
        else:
            resp = stac_error(404, "NotFound", "no control endpoint " + path)
        self.send(resp, method, dummy, log=False)   # control: not logged

    def route(self, method, path, query, body):
        srv = self.server
        base = srv.base
        host = (self.headers.get("Host") or "").lower().rsplit(":", 1)[0]
        if host.endswith(BLOB_SUFFIX):
            return self.serve_blob(method, host[:-len(BLOB_SUFFIX)], path,
                                   query)
        if path.startswith(SAS_PREFIX) and method in ("GET", "HEAD"):
            parts = path[len(SAS_PREFIX):].strip("/").split("/")
            if len(parts) != 2 or not all(parts):
                return stac_error(404, "NotFound", "no token endpoint "
                                  + path)
            # the Planetary Computer SDK's header, when it has a key
            self.entry["subscription_key"] = self.headers.get(
                "Ocp-Apim-Subscription-Key")
            return jresp(200, srv.state.sas_issue(*parts))
        if path.startswith("/cogs/") or (srv.catalog and
                                          path.startswith("/items/")):
            if method not in ("GET", "HEAD"):
                return s3_error(405, "MethodNotAllowed",
                                "The specified method is not allowed.")
            return self.serve_file(path)
        if path == "/redirect":
            # An open redirect, to test that clients refuse where it goes.
            to = urllib.parse.parse_qs(query or "").get("to")
            if not to:
                return stac_error(400, "BadRequest", "redirect needs ?to=")
            return Response(302, "text/plain", b"", [("Location", to[0])])
        if path.startswith("/_replay/") and srv.replay:
            name = path[len("/_replay/"):].rstrip("/")
            name = name[:-5] if name.endswith(".json") else name
            if name in srv.replay.bodies:
                return Response(200, "application/json",
                                srv.replay.render(name, base, False))
            return stac_error(404, "NotFound", "no recording " + name)
        if srv.replay:
            return self.route_replay(method, path, body)
        if srv.catalog is None:
            return stac_error(404, "NotFound", "no catalog")
        p = path.rstrip("/") or "/"
        if p == "/search":
            if method == "POST":
                if srv.opts.get_only:
                    r = stac_error(405, "MethodNotAllowed",
                                   "POST /search is not supported")
                    r.headers.append(("Allow", "GET, HEAD"))
                    return r
                try:
                    params = json.loads(body or b"{}")
                except ValueError as e:
                    return stac_error(400, "BadRequest",
                                      "malformed JSON body: %s" % e)
                if not isinstance(params, dict):
                    return stac_error(400, "BadRequest",
                                      "body must be a JSON object")
                return self.search(params, "POST")
            if method in ("GET", "HEAD"):
                return self.search(get_params(query), "GET")
            return stac_error(405, "MethodNotAllowed", method)
        if method not in ("GET", "HEAD"):
            return stac_error(405, "MethodNotAllowed", method)
        if p == "/":
            return jresp(200, self.landing())
        if p == "/conformance":
            return jresp(200, {"conformsTo": self.conforms()})
        parts = p.strip("/").split("/")
        if parts[0] == "collections":
            cat = srv.catalog
            if len(parts) == 1:
                cols = [cat.collection(c, base) for c in cat.collections]
                return jresp(200, {"collections": cols, "links": [
                    {"rel": "self", "type": "application/json",
                     "href": base + "/collections"},
                    {"rel": "root", "type": "application/json",
                     "href": base}]})
            col = cat.collection(parts[1], base)
            if col is None:
                return stac_error(404, "NotFound",
                                  "Collection %s not found" % parts[1])
            if len(parts) == 2:
                return jresp(200, col)
            if len(parts) == 3 and parts[2] == "items":
                params = get_params(query)
                params["collections"] = [parts[1]]
                return self.search(params, "GET", items_of=parts[1])
            if len(parts) == 4 and parts[2] == "items":
                it = cat.item(parts[1], parts[3])
                if it is None:
                    return stac_error(404, "NotFound",
                                      "Item %s not found" % parts[3])
                return jresp(200, clean_item(it), "application/geo+json")
        return stac_error(404, "NotFound", "%s not found" % path)

    def route_replay(self, method, path, body):
        rp = self.server.replay
        parsed = None
        if method == "POST":
            try:
                parsed = json.loads(body or b"{}")
            except ValueError as e:
                return stac_error(400, "BadRequest",
                                  "malformed JSON body: %s" % e)
        rec, prefixed = rp.match(method, path, parsed)
        if rec is None:
            return stac_error(404, "NotFound",
                              "no recorded response for %s %s"
                              % (method, path))
        return Response(rec["status"], rec["ctype"],
                        rp.render(rec, self.server.base, prefixed))

    # -- STAC ---------------------------------------------------------------

    def conforms(self):
        if self.server.opts.cql2_text:
            return CONFORMS + CONFORMS_CQL2_TEXT
        return CONFORMS + (CONFORMS_CQL2 if self.server.opts.cql2 else [])

    def landing(self):
        base = self.server.base
        links = [
            {"rel": "self", "type": "application/json", "href": base},
            {"rel": "root", "type": "application/json", "href": base},
            {"rel": "conformance", "type": "application/json",
             "href": base + "/conformance"},
            {"rel": "data", "type": "application/json",
             "href": base + "/collections"},
            {"rel": "search", "type": "application/geo+json",
             "href": base + "/search", "method": "GET"},
        ]
        if not self.server.opts.get_only:
            links.append({"rel": "search", "type": "application/geo+json",
                          "href": base + "/search", "method": "POST"})
        for c in self.server.catalog.collections:
            links.append({"rel": "child", "type": "application/json",
                          "href": "%s/collections/%s" % (base, c)})
        return {"type": "Catalog", "stac_version": STAC_VERSION,
                "id": "satfs-fixture", "title": "satfs fixture STAC API",
                "description": "Test server for satfs",
                "conformsTo": self.conforms(), "links": links}

    def search(self, params, how, items_of=None):
        srv = self.server
        opts = srv.opts
        try:
            norm = normalize_search(params, opts)
            limit = params.get("limit", 10)
            try:
                limit = int(limit)
            except (TypeError, ValueError):
                raise BadRequest("limit must be an integer")
            if limit < 1 or limit > 10000:
                raise BadRequest("limit must be 1..10000")
            if opts.page_limit:
                limit = min(limit, opts.page_limit)
            fp = hashlib.sha1(json.dumps(norm, sort_keys=True).encode()) \
                .hexdigest()[:12]
            tok = params.get("next") or params.get("token")
            offset = 0
            if tok:
                offset, tfp = decode_token(tok)
                if tfp != fp:
                    # Real servers apply whatever filters this request has:
                    # a client that did not merge a next body has lost them.
                    # Tests see it in the results and in this log note.
                    self.entry["note"] = "token-filter-mismatch"
            hits = [i for i in srv.catalog.items if item_match(i, norm, opts)]
        except BadRequest as e:
            return stac_error(400, "BadRequest", str(e))
        with srv.state.lock:
            empty = srv.state.faults["empty_pages"] > 0 and offset < len(hits)
            if empty:
                # a page that holds nothing but a link to the same place
                # (with a token of its own), as a server whose pages may
                # run short can answer
                srv.state.faults["empty_pages"] -= 1
                srv.state.empty_seq += 1
                nonce = srv.state.empty_seq
        page = [] if empty else hits[offset:offset + limit]
        feats = [clean_item(i) for i in page]
        base = srv.base
        href = base + ("/collections/%s/items" % items_of if items_of
                       else "/search")
        links = [{"rel": "self", "type": "application/geo+json",
                  "href": href},
                 {"rel": "root", "type": "application/json", "href": base}]
        if offset + len(page) < len(hits):
            links.append(self.next_link(
                params, how, href,
                encode_token(offset + len(page), fp,
                             nonce if empty else None),
                bool(items_of)))
        doc = {"type": "FeatureCollection", "stac_version": STAC_VERSION,
               "context": {"limit": limit, "matched": len(hits),
                           "returned": len(feats)},
               "numberMatched": len(hits), "numberReturned": len(feats),
               "features": feats, "links": links}
        return jresp(200, doc, "application/geo+json")

    def next_link(self, params, how, href, token, items_of):
        style = self.server.paging
        link = {"rel": "next", "type": "application/geo+json",
                "title": "Next page of Items"}
        if style == "get" or items_of:
            q = get_query(params)
            q.append(("token", token))
            link.update(method="GET",
                        href=href + "?" + urllib.parse.urlencode(q))
            return link
        if style == "post-token":
            link.update(method="POST", href=href,
                        body={"token": "next:" + token}, merge=True)
            return link
        body = dict(params) if how == "POST" else post_body(params)
        body.pop("token", None)
        body["next"] = token
        link.update(method="POST", href=href, body=body, merge=False)
        return link

    # -- files --------------------------------------------------------------

    def serve_blob(self, method, account, path, query):
        """Azure Blob Storage: /CONTAINER/KEY, KEY a file of the catalog,
        only with a valid SAS token of that account and container."""
        if method not in ("GET", "HEAD"):
            return s3_error(405, "MethodNotAllowed",
                            "The specified method is not allowed.")
        container, _, key = path.lstrip("/").partition("/")
        why = self.server.state.sas_check(account, container, query)
        self.entry["auth"] = why or "ok"
        if why:
            body = ("<?xml version=\"1.0\" encoding=\"utf-8\"?><Error>"
                    "<Code>AuthenticationFailed</Code><Message>Server "
                    "failed to authenticate the request (%s token)."
                    "</Message></Error>" % why).encode()
            return Response(403, "application/xml", body)
        return self.serve_file("/" + key)

    def serve_file(self, path):
        srv = self.server
        key = urllib.parse.unquote(path).lstrip("/")
        if srv.catalog is None:
            return s3_error(404, "NoSuchKey",
                            "The specified key does not exist.", key)
        root = srv.catalog.root
        full = os.path.realpath(os.path.join(root, key))
        if not full.startswith(root + os.sep) or not os.path.isfile(full):
            return s3_error(404, "NoSuchKey",
                            "The specified key does not exist.", key)
        st = os.stat(full)
        size = st.st_size
        etag = srv.state.etag(full, st)
        data = None
        if full.endswith(".json") and size <= MAX_BODY:
            # JSON files get {base} replaced, as items in searches do.
            with open(full, "rb") as f:
                data = f.read().replace(b"{base}", srv.base.encode())
            size = len(data)
            etag = '"%s"' % hashlib.md5(data).hexdigest()
        ctype = COG_TYPE if full.endswith((".tif", ".tiff")) else (
            "application/json" if full.endswith(".json")
            else "application/octet-stream")
        hdrs = [("Accept-Ranges", "bytes"), ("ETag", etag),
                ("Last-Modified", email.utils.formatdate(st.st_mtime,
                                                         usegmt=True))]
        inm = self.headers.get("If-None-Match")
        if inm and (inm.strip() == "*" or etag in
                    [t.strip() for t in inm.split(",")]):
            return Response(304, ctype, b"", hdrs)
        im = self.headers.get("If-Match")
        if im and im.strip() != "*" and etag not in \
                [t.strip() for t in im.split(",")]:
            return s3_error(412, "PreconditionFailed",
                            "At least one of the pre-conditions you "
                            "specified did not hold", key)
        rng = parse_range(self.headers.get("Range"), size)
        if rng == "unsatisfiable":
            r = s3_error(416, "InvalidRange",
                         "The requested range is not satisfiable", key)
            r.headers = hdrs + [("Content-Range", "bytes */%d" % size)]
            return r
        f = srv.state.snapshot()
        if rng is not None and f["range_ignore"]:
            rng = None                  # a server that ignores Range
            self.entry["fault"] = "range_ignore"
        elif rng is not None and f["range_shift"] and \
                rng[0] + f["range_shift"] < size:
            # Another range than the one asked for, honestly labelled.
            n = int(f["range_shift"])
            rng = (rng[0] + n, min(rng[1] + n, size - 1))
            self.entry["fault"] = "range_shift"
        a, b = (0, size - 1) if rng is None else rng
        status = 200 if rng is None else 206
        if rng is not None:
            hdrs.append(("Content-Range", "bytes %d-%d/%d" % (a, b, size)))
        if data is not None:
            return Response(status, ctype, data[a:b + 1], hdrs)
        return Response(status, ctype, headers=hdrs, fpath=full, offset=a,
                        length=max(0, b - a + 1))


def parse_range(h, size):
    """(first, last) of a single byte range, None for 'whole object' (no,
    malformed or multiple ranges: S3 answers those with 200), or the string
    'unsatisfiable'."""
    if not h:
        return None
    h = h.strip()
    if not h.lower().startswith("bytes=") or "," in h:
        return None
    spec = h[6:].strip()
    if "-" not in spec:
        return None
    a, b = spec.split("-", 1)
    a, b = a.strip(), b.strip()
    try:
        if a == "":
            n = int(b)
            if n < 0:
                return None
            if n == 0 or size == 0:
                return "unsatisfiable"
            return max(0, size - n), size - 1
        first = int(a)
        last = int(b) if b else size - 1
    except ValueError:
        return None
    if first < 0 or (b and int(b) < first):
        return None
    if first >= size:
        return "unsatisfiable"
    return first, min(last, size - 1)


def get_params(query):
    """GET /search parameters into the shape of a POST body."""
    out = {}
    for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if k in ("collections", "ids"):
            out[k] = [s for s in v.split(",") if s]
        elif k == "bbox":
            out[k] = v
        elif k in ("query", "intersects") or (k == "filter" and
                                              v.lstrip().startswith("{")):
            try:
                out[k] = json.loads(v)
            except ValueError:
                out[k] = {"__bad__": v}     # reported by normalize
        else:
            out[k] = v
    return out


def get_query(params):
    """The inverse of get_params, for GET next links."""
    q = []
    for k, v in params.items():
        if k in ("token", "next"):
            continue
        if isinstance(v, list) and k in ("collections", "ids", "bbox"):
            q.append((k, ",".join("%s" % x for x in v)))
        elif isinstance(v, (dict, list)):
            q.append((k, json.dumps(v, separators=(",", ":"))))
        else:
            q.append((k, "%s" % v))
    return q


def post_body(params):
    body = {}
    for k, v in params.items():
        if k == "bbox" and isinstance(v, str):
            v = [float(x) for x in v.split(",")]
        elif k == "limit":
            try:
                v = int(v)
            except ValueError:
                pass
        body[k] = v
    return body


def encode_token(offset, fp, nonce=None):
    d = {"o": offset, "f": fp}
    if nonce is not None:
        d["n"] = nonce
    raw = json.dumps(d, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(tok):
    if not isinstance(tok, str):
        raise BadRequest("bad paging token")
    if tok.startswith("next:"):
        tok = tok[5:]
    try:
        raw = base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4))
        d = json.loads(raw)
        off = int(d["o"])
        if off < 0:
            raise ValueError
        return off, d.get("f")
    except (ValueError, KeyError, TypeError):
        raise BadRequest("bad paging token %r" % tok)


def normalize_search(params, opts):
    for k in ("query", "intersects", "filter"):
        v = params.get(k)
        if isinstance(v, dict) and "__bad__" in v:
            raise BadRequest("%s is not valid JSON" % k)
    norm = {}
    cols = params.get("collections")
    if cols is not None:
        if isinstance(cols, str):
            cols = [c for c in cols.split(",") if c]
        if not isinstance(cols, list) or \
                not all(isinstance(c, str) for c in cols):
            raise BadRequest("collections must be a list of strings")
        norm["collections"] = sorted(cols)
    ids = params.get("ids")
    if ids is not None:
        if isinstance(ids, str):
            ids = [c for c in ids.split(",") if c]
        if not isinstance(ids, list):
            raise BadRequest("ids must be a list")
        norm["ids"] = sorted(ids)
    if params.get("bbox") is not None and params.get("intersects"):
        raise BadRequest("bbox and intersects are mutually exclusive")
    if params.get("bbox") is not None:
        norm["bbox"] = norm_bbox(params["bbox"])
    if params.get("intersects"):
        norm["bbox"] = geom_bbox(params["intersects"])
    if params.get("datetime"):
        lo, hi = parse_interval(params["datetime"])
        norm["datetime"] = [lo.isoformat() if lo else None,
                            hi.isoformat() if hi else None]
    if params.get("query") is not None:
        if not isinstance(params["query"], dict):
            raise BadRequest("query must be an object")
        norm["query"] = params["query"]
    if params.get("filter") is not None:
        f = params["filter"]
        lang = params.get("filter-lang", "cql2-json")
        if opts.cql2:
            if lang != "cql2-json" or not isinstance(f, dict):
                raise BadRequest("only filter-lang cql2-json is supported")
        if opts.cql2_text:
            m = CQL2_TEXT_CMP.match(f) if isinstance(f, str) else None
            if params.get("filter-lang") != "cql2-text" or not m:
                raise BadRequest("only filter-lang cql2-text (a comparison"
                                 " of a property with a number) is "
                                 "supported")
            f = {"op": m.group(2), "args": [{"property": m.group(1)},
                                            float(m.group(3))]}
        norm["filter"] = f
    return norm


def item_match(item, norm, opts):
    if "collections" in norm and item.get("collection") not in \
            norm["collections"]:
        return False
    if "ids" in norm and item["id"] not in norm["ids"]:
        return False
    if "bbox" in norm and not bbox_hit(norm["bbox"], item.get("bbox")):
        return False
    if "datetime" in norm:
        lo, hi = norm["datetime"]
        t = item["_t"]
        if lo and t < datetime.fromisoformat(lo):
            return False
        if hi and t > datetime.fromisoformat(hi):
            return False
    if "query" in norm and not opts.ignore_query and \
            not query_match(item, norm["query"]):
        return False
    if "filter" in norm and (opts.cql2 or opts.cql2_text) and \
            not cql2_eval(item, norm["filter"]):
        return False
    return True


# ---------------------------------------------------------------------------
# main

class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        # A client that went away is normal here (faults provoke it);
        # anything else is a server bug, reported in one line.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, socket.timeout)):
            return
        sys.stderr.write("fixture: unhandled %r from %s\n"
                         % (exc, client_address))


def main(argv=None):
    ap = argparse.ArgumentParser(description="satfs fixture STAC/COG server")
    ap.add_argument("--catalog")
    ap.add_argument("--host", default="127.0.0.1",
                    help="address to bind (any 127.x.y.z is loopback)")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    ap.add_argument("--latency-ms", type=float, default=0)
    ap.add_argument("--bandwidth", type=float, default=0)
    ap.add_argument("--rate-429", type=float, default=0)
    ap.add_argument("--retry-after", type=float, default=1)
    ap.add_argument("--rate-503", type=float, default=0)
    ap.add_argument("--rate-truncate", type=float, default=0)
    ap.add_argument("--rate-stall", type=float, default=0)
    ap.add_argument("--rate-reset", type=float, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--paging", choices=("post-merge", "post-token", "get"))
    ap.add_argument("--cql2", action="store_true")
    ap.add_argument("--cql2-text", action="store_true")
    ap.add_argument("--get-only", action="store_true")
    ap.add_argument("--ignore-query", action="store_true")
    ap.add_argument("--page-limit", type=int, default=0)
    ap.add_argument("--replay")
    ap.add_argument("--exit-with-parent", action="store_true",
                    help="exit when the process that started us ends")
    opts = ap.parse_args(argv)
    if not opts.catalog and not opts.replay:
        ap.error("--catalog DIR (or --replay DIR) is required")

    srv = Server((opts.host, opts.port), Handler)
    port = srv.server_address[1]
    srv.opts = opts
    srv.base = "http://%s:%d" % (opts.host, port)
    # GET-only servers cannot follow POST next links.
    srv.paging = opts.paging or ("get" if opts.get_only else "post-merge")
    srv.state = State(opts)
    srv.catalog = Catalog(opts.catalog, srv.base) if opts.catalog else None
    srv.replay = Replay(opts.replay) if opts.replay else None

    done = threading.Event()

    def on_signal(signum, frame):
        done.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if opts.exit_with_parent:
        # A test program killed by its timeout cannot stop us: go with it.
        parent = os.getppid()

        def orphan():
            while os.getppid() == parent and not done.is_set():
                time.sleep(0.2)
            done.set()
        threading.Thread(target=orphan, daemon=True).start()
    th = threading.Thread(target=srv.serve_forever, kwargs={
        "poll_interval": 0.2}, daemon=True)
    th.start()
    if opts.port_file:
        tmp = "%s.tmp.%d" % (opts.port_file, os.getpid())
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, opts.port_file)
    print("listening on %s:%d" % (opts.host, port), flush=True)
    while not done.wait(0.5):
        pass
    srv.state.stop.set()
    srv.shutdown()
    srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
