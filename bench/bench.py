#!/usr/bin/env python3
"""The satfs benchmark; run through scripts/bench, which builds satfs
(release), makes the catalogs and passes their paths.

The job is the tutorial's: region david, K dates, the falsecolor snippet of
each scene, from a catalog and COG server with --latency-ms to first byte.
For each K (--scenes, default 5 and 50), in the same run:

  1. satfs: cold `cp MNT/david/*/*.falsecolor.tif DST` on a fresh mount and
     cache (listing included), default options
  2. satfs sequential: the same with connections=1,prefetch=0
  3. the peer: bench/peer.py, the script a competent user writes today
     (STAC search, then rasterio reads of the windows in 8 threads)
  4. GDAL: gdalbuildvrt + gdalwarp over /vsicurl/ + gdal_translate, one
     process per scene, 4 at a time
  5. the limit: round trips x latency + the COG bytes of satfs' run moved
     through this server at its full speed while each needed tile is
     decoded once on every core, the two at the same time (the server
     shares this machine's cores); not the daemon's own CPU time. Also
     reported: the limit with those two terms measured apart, each with
     the machine to itself, as if they overlapped for free
and, once (K = the first): one cold file (catalog listed, prefetch off)
against its own limit, warm reads, listing times, requests and bytes per
snippet, and peak RSS over a cold copy of a 100-date region; and the
scale-out measurements of bench/scaleout.py (mounts sharing renders
through an S3 store: a second mount's cold copy, three mounts at once).

Every number is a median over --runs runs made in this one invocation; the
targets (satfs at least 3x faster than the peer, within 1.5x of the limit)
are checked on those ratios, and the exit status says whether they hold.
"""
import argparse
import json
import os
import select
import shlex
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

import scaleout

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(HERE)
SERVER = os.path.join(SRC, "tests", "server", "fixture_server.py")
BBOX = (-82.48, 8.3508, -82.39, 8.4408)
CLK = os.sysconf("SC_CLK_TCK")
GDAL_ENV = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_HTTP_MULTIPLEX": "YES",
    "GDAL_HTTP_MERGE_CONSECUTIVE_RANGES": "YES",
}
# Product stretch as satfs renders it: v = DN - 1000 (scale 1e-4, offset
# -0.1 in the items), then min..max and gamma; GDAL works on the DNs.
PRODUCTS = {
    "falsecolor": (("B08", "B04", "B03"), 0, 5000, 1.35),
}
PEER = os.path.join(HERE, "peer.py")
# Debian's interpreter, whose python3-rasterio the peer uses (a python3
# earlier on PATH may not have it).
DEBIAN_PYTHON = "/usr/bin/python3"
BAND_INDEX = {"B02": 1, "B03": 2, "B04": 3, "B08": 4}


def log(msg):
    sys.stderr.write("bench: %s\n" % msg)
    sys.stderr.flush()


def cpu_s(pid):
    """user + system CPU seconds of a process (and its reaped children)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / CLK


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class Server:
    started = 0  # servers made by this process: each its own files

    def __init__(self, work, catalog, latency_ms, bandwidth, extra=()):
        # not id(self): a stopped server's id comes back, and with it its
        # port file, which the new one would read before writing its own
        Server.started += 1
        self.log = os.path.join(work, "requests.%d.log" % Server.started)
        portfile = os.path.join(work, "port.%d" % Server.started)
        cmd = [sys.executable, SERVER, "--catalog", catalog, "--port", "0",
               "--port-file", portfile, "--log", self.log,
               "--latency-ms", str(latency_ms)]
        if bandwidth:
            cmd += ["--bandwidth", str(bandwidth)]
        cmd += list(extra)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(portfile):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("fixture server did not start")
        self.base = "http://127.0.0.1:%s" % open(portfile).read().strip()
        self.latency_ms = latency_ms

    def lines(self):
        try:
            with open(self.log) as f:
                return sum(1 for _ in f)
        except OSError:
            return 0

    def entries(self, start, end=None):
        with open(self.log) as f:
            out = [json.loads(l) for l in f if l.strip()]
        return out[start:end]

    def control(self, obj):
        subprocess.run(["curl", "-s", "-o", "/dev/null", "-XPOST",
                        self.base + "/_control", "-d", json.dumps(obj)],
                       check=True)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Mount:
    def __init__(self, satfs, work, name, server, cache, opts=""):
        self.mnt = os.path.join(work, "mnt-" + name)
        os.makedirs(self.mnt, exist_ok=True)
        conf = os.path.join(work, "satfs.conf")
        with open(conf, "w") as f:
            f.write("[source]\nstac = %s\ncollection = sentinel-2-l2a\n"
                    "max_cloud = 85\n\n[region david]\n"
                    "bbox = %s\ndates = 2024-01-01 .. 2025-12-31\n"
                    % (server.base, ", ".join(str(v) for v in BBOX)))
        o = "config=%s,cache=%s" % (conf, cache)
        if opts:
            o += "," + opts
        self.logf = open(os.path.join(work, "satfs-%s.log" % name), "a")
        self.proc = subprocess.Popen([satfs, "-f", "-o", o, self.mnt],
                                     stdout=self.logf, stderr=self.logf)
        for _ in range(200):
            if os.path.ismount(self.mnt):
                # ready: the daemon answers once its start-up (the
                # catalog's landing page, fetched as a check) is done,
                # which a user's later cp does not wait for either
                os.listdir(self.mnt)
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("satfs did not mount (see %s)" % self.logf.name)

    def unmount(self):
        subprocess.run(["fusermount3", "-u", self.mnt])
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            subprocess.run(["fusermount3", "-uz", self.mnt])
        self.logf.close()


def timed(cmd, **kw):
    t = time.monotonic()
    subprocess.run(cmd, check=True, **kw)
    return time.monotonic() - t


def tif_files(d):
    out = []
    for root, _, files in os.walk(d):
        out += [os.path.join(root, f) for f in files if f.endswith(".tif")]
    return sorted(out)


def traffic(entries):
    cogs = [e for e in entries if e["path"].startswith("/cogs/")]
    return len(cogs), sum(e.get("bytes", 0) for e in cogs)


# ---------------------------------------------------------------------------
# COG layout, for the minimum bytes and tiles (classic TIFF or BigTIFF).

def cog_layout(path):
    with open(path, "rb") as f:
        head = f.read(1 << 20)
    bo = "<" if head[:2] == b"II" else ">"
    big = struct.unpack(bo + "H", head[2:4])[0] == 43
    if big:
        off = struct.unpack(bo + "Q", head[8:16])[0]
        n = struct.unpack(bo + "Q", head[off:off + 8])[0]
        esz, p = 20, off + 8
    else:
        off = struct.unpack(bo + "I", head[4:8])[0]
        n = struct.unpack(bo + "H", head[off:off + 2])[0]
        esz, p = 12, off + 2
    sizes = {3: 2, 4: 4, 12: 8, 16: 8}
    tags = {}
    for i in range(n):
        e = head[p + i * esz:p + (i + 1) * esz]
        if big:
            tag, typ, cnt = struct.unpack(bo + "HHQ", e[:12])
            raw = e[12:20]
        else:
            tag, typ, cnt = struct.unpack(bo + "HHI", e[:8])
            raw = e[8:12]
        sz = sizes.get(typ, 1) * cnt
        if sz > len(raw):
            o = struct.unpack(bo + ("Q" if big else "I"), raw)[0]
            raw = head[o:o + sz]
        fmt = {3: "H", 4: "I", 12: "d", 16: "Q"}.get(typ, "B")
        tags[tag] = struct.unpack(bo + fmt * cnt, raw[:sz])
    return {
        "width": tags[256][0], "height": tags[257][0],
        "tw": tags[322][0], "th": tags[323][0],
        "offsets": tags[324], "counts": tags[325],
        "px": tags[33550][0], "py": tags[33550][1],
        "ox": tags[33922][3], "oy": tags[33922][4],
        "header": first_tile_offset(head, bo, big),
    }


def first_tile_offset(head, bo, big):
    """Where the first tile of any level starts: the header (IFDs and
    their arrays) a reader must have before it can ask for tiles."""
    lo = len(head)
    off = struct.unpack(bo + ("Q" if big else "I"),
                        head[8:16] if big else head[4:8])[0]
    while off and off < len(head):
        if big:
            n = struct.unpack(bo + "Q", head[off:off + 8])[0]
            p, esz = off + 8, 20
        else:
            n = struct.unpack(bo + "H", head[off:off + 2])[0]
            p, esz = off + 2, 12
        for i in range(n):
            e = head[p + i * esz:p + (i + 1) * esz]
            tag, typ = struct.unpack(bo + "HH", e[:4])
            if tag != 324:
                continue
            cnt = struct.unpack(bo + ("Q" if big else "I"),
                                e[4:12] if big else e[4:8])[0]
            isz = 8 if typ == 16 else 4
            raw = e[12:20] if big else e[8:12]
            if cnt * isz > len(raw):
                o = struct.unpack(bo + ("Q" if big else "I"), raw)[0]
                raw = head[o:o + cnt * isz]
            vals = struct.unpack(bo + ("Q" if isz == 8 else "I") * cnt,
                                 raw[:cnt * isz])
            lo = min([lo] + [v for v in vals if v])
        q = p + n * esz
        off = struct.unpack(bo + ("Q" if big else "I"),
                            head[q:q + (8 if big else 4)])[0]
    return lo


def tiles_needed(lay, grid):
    """Level-0 tiles holding a pixel centre of the output grid."""
    x0, y0, res, w, h = grid
    c0 = int((x0 + res / 2 - lay["ox"]) // lay["px"])
    c1 = int((x0 + (w - 0.5) * res - lay["ox"]) // lay["px"])
    r0 = int((lay["oy"] - (y0 - res / 2)) // lay["py"])
    r1 = int((lay["oy"] - (y0 - (h - 0.5) * res)) // lay["py"])
    c0, r0 = max(c0, 0), max(r0, 0)
    c1, r1 = min(c1, lay["width"] - 1), min(r1, lay["height"] - 1)
    across = (lay["width"] + lay["tw"] - 1) // lay["tw"]
    out = []
    for ty in range(r0 // lay["th"], r1 // lay["th"] + 1):
        for tx in range(c0 // lay["tw"], c1 // lay["tw"] + 1):
            out.append(ty * across + tx)
    return out


def output_grid(tif):
    info = json.loads(subprocess.run(["gdalinfo", "-json", tif],
                                     check=True, capture_output=True,
                                     text=True).stdout)
    gt = info["geoTransform"]
    w, h = info["size"]
    epsg = 32617
    try:
        epsg = int(info["stac"]["proj:epsg"])
    except (KeyError, TypeError, ValueError):
        pass
    return (gt[0], gt[3], gt[1], w, h), epsg


# ---------------------------------------------------------------------------
# GDAL: the script a GIS user writes, one process per scene.

def gdal_script(work, grid, epsg):
    x0, y0, res, w, h = grid
    te = "%r %r %r %r" % (x0, y0 - h * res, x0 + w * res, y0)
    lines = [
        "#!/bin/sh",
        "# gdal-scene.sh BASE ITEM OUTDIR: the falsecolor snippet of a scene",
        "set -e",
        'V="/vsicurl/$1/cogs/$2"; O="$3/$2"',
        "gdalbuildvrt -q -overwrite -separate \"$O.vrt\" "
        "\"$V/B02.tif\" \"$V/B03.tif\" \"$V/B04.tif\" \"$V/B08.tif\"",
        "gdalwarp -q -overwrite -t_srs EPSG:%d -te %s -tr %r %r -r near "
        "-co TILED=YES \"$O.vrt\" \"$O.tif\"" % (epsg, te, res, res),
    ]
    for name, (bands, lo, hi, gamma) in PRODUCTS.items():
        b = " ".join("-b %d" % BAND_INDEX[x] for x in bands)
        # satfs: v = DN - 1000; out = 255 * ((v - min) / (max - min)) ^ (1/gamma)
        lines.append(
            "gdal_translate -q %s -ot Byte -scale %d %d 0 255 -exponent "
            "%.6f -co TILED=YES \"$O.tif\" \"$O.%s.tif\""
            % (b, lo + 1000, hi + 1000, 1.0 / gamma, name))
    path = os.path.join(work, "gdal-scene.sh")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o755)
    return path


def run_gdal(script, base, items, out, width):
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    env = dict(os.environ, **GDAL_ENV)
    cmd = ("printf '%%s\\n' %s | xargs -P %d -I{} %s %s {} %s"
           % (" ".join(items), width, script, base, out))
    return timed(["sh", "-c", cmd], env=env)


# ---------------------------------------------------------------------------

def median(xs):
    return statistics.median(xs) if xs else float("nan")


def falsecolor_files(d):
    return sorted(f for f in tif_files(d) if f.endswith(".falsecolor.tif"))


def cold_copy(a, srv, work, name, opts):
    """A fresh mount and cache, then cp of every falsecolor snippet
    (the shell's glob lists the region and each date: listing included).
    Returns (seconds, daemon CPU seconds, log start, destination)."""
    cache = os.path.join(work, "cache-" + name)
    dst = os.path.join(work, "copy-" + name)
    shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(dst, ignore_errors=True)
    os.makedirs(dst)
    m = Mount(a.satfs, work, name, srv, cache, opts)
    start = srv.lines()
    c0 = cpu_s(m.proc.pid)
    t = timed(["sh", "-c", 'cp "$1"/david/*/*.falsecolor.tif "$2"', "-",
               m.mnt, dst])
    cpu = cpu_s(m.proc.pid) - c0
    m.unmount()
    return t, cpu, start, dst, cache


def run_peer(srv, work):
    out = os.path.join(work, "peer-out")
    shutil.rmtree(out, ignore_errors=True)
    return timed([DEBIAN_PYTHON, PEER, srv.base, out],
                 stdout=subprocess.DEVNULL)


def replay_config(srv, work, entries):
    """A curl config that makes exactly these requests again."""
    cfg = os.path.join(work, "replay.curl")
    with open(cfg, "w") as f:
        for e in entries:
            f.write('url = "%s%s"\noutput = "/dev/null"\n'
                    % (srv.base, e["path"]))
            if e.get("range"):
                f.write('header = "Range: %s"\n' % e["range"])
    return cfg


REPLAY = ["curl", "-s", "--parallel", "--parallel-max", "32", "-K"]


def replay_seconds(a, srv, work, entries):
    """The time this server needs to move exactly these COG requests, all
    at once (curl, 32 in parallel), with its latency off: the fastest of
    the replays, as other work on the machine only ever adds time."""
    cfg = replay_config(srv, work, entries)
    srv.control({"latency_ms": 0})
    reps = []
    for _ in range(max(1, a.runs)):
        reps.append(timed(REPLAY + [cfg], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL))
    srv.control({"latency_ms": a.latency_ms})
    return min(reps)


def decode_args(catalog, item, grid):
    """decode_tiles' FILE X0 Y0 X1 Y1: B04 of the item, the snippet's
    rectangle (the decoding of every band is timed as B04's)."""
    x0, y0, res, w, h = grid
    return [os.path.join(catalog, "cogs", item, "B04.tif"),
            str(x0), str(y0 - h * res), str(x0 + w * res), str(y0)]


def decode_ms(a, catalog, item, grid):
    """satfs' own decoder, one thread: ms per level-0 tile of B04 that the
    snippet's grid needs (the fastest of 15 passes)."""
    out = subprocess.run(
        [a.decode] + decode_args(catalog, item, grid) + ["15"],
        check=True, capture_output=True, text=True).stdout.split()
    return float(out[3])


def together_seconds(a, srv, work, entries, catalog, item, grid, tiles):
    """The bytes and the decoding at the same time, as a cold copy must
    do them, on this machine: the replay of these requests (latency off)
    while satfs' decoder decodes `tiles` tiles on every core, from one
    start to the end of the later. The server runs on the same cores (it
    is on loopback), so the two terms, each measured with the machine to
    itself, do not simply overlap: moving the bytes costs the server CPU
    the decoding then lacks. The fastest of the runs."""
    cfg = replay_config(srv, work, entries)
    cmd = [a.decode, "--at-once", str(min(64, os.cpu_count() or 1)),
           str(tiles)] + decode_args(catalog, item, grid)
    reps = []
    for _ in range(max(1, a.runs)):
        dec = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
        try:
            ready, _, _ = select.select([dec.stdout], [], [], 300)
            if not ready or dec.stdout.readline().strip() != "ready":
                raise RuntimeError("decode_tiles did not start")
            srv.control({"latency_ms": 0})
            t = time.monotonic()
            dec.stdin.write("go\n")
            dec.stdin.flush()
            subprocess.run(REPLAY + [cfg], check=True,
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            ready, _, _ = select.select([dec.stdout], [], [], 300)
            out = dec.stdout.readline().split() if ready else []
            if dec.wait(timeout=300) != 0 or out[:1] != ["seconds"]:
                raise RuntimeError("decode_tiles --at-once failed")
            reps.append(time.monotonic() - t)
        finally:
            if dec.poll() is None:
                dec.kill()
                dec.wait()
            srv.control({"latency_ms": a.latency_ms})
    return min(reps)


def needed(catalog, items, grid):
    """Level-0 tiles holding an output pixel centre, of every band of every
    snippet, and their bytes and the headers' (the minimum to move)."""
    tiles = nbytes = hdr = 0
    for it in items:
        for b in PRODUCTS["falsecolor"][0]:
            lay = cog_layout(os.path.join(catalog, "cogs", it, b + ".tif"))
            t = tiles_needed(lay, grid)
            tiles += len(t)
            nbytes += sum(lay["counts"][i] for i in t)
            hdr += lay["header"]
    return tiles, nbytes, hdr


def bench_scenes(a, R, K, catalog, work):
    """Measures 1-5 for the K-scene catalog; returns the row."""
    items = sorted(f[:-5] for f in os.listdir(os.path.join(catalog,
                                                             "items")))
    row = {"scenes": len(items)}
    srv = Server(work, catalog, a.latency_ms, a.bandwidth)
    try:
        # Warm the server's ETag cache (an md5 of every COG, shared by
        # the hard links) so that no run pays for it: one item of each
        # base scene (satfs' first run paid 0.6 s for the second one).
        bases = {}
        for it in items:
            st = os.stat(os.path.join(catalog, "cogs", it, "B04.tif"))
            bases.setdefault((st.st_dev, st.st_ino), it)
        subprocess.run(["curl", "-s", "-I"] +
                       ["%s/cogs/%s/%s" % (srv.base, it, f)
                        for it in sorted(bases.values())
                        for f in sorted(os.listdir(os.path.join(
                            catalog, "cogs", it)))],
                       check=True, stdout=subprocess.DEVNULL)
        t_def, t_seq, t_peer, t_gdal, cpu_def = [], [], [], [], []
        traffic_def = None
        for run in range(a.runs):
            t, cpu, start, dst, cache = cold_copy(a, srv, work, "def",
                                                  a.satfs_opts)
            files = falsecolor_files(dst)
            if len(files) != len(items):
                raise RuntimeError("cp copied %d snippets, not %d"
                                   % (len(files), len(items)))
            t_def.append(t)
            cpu_def.append(cpu)
            traffic_def = srv.entries(start)
            if run == 0:
                grid, epsg = output_grid(files[0])
                script = gdal_script(work, grid, epsg)
                row["bytes_out"] = sum(os.path.getsize(f) for f in files)
                row["cache"] = cache
            log("%d scenes, run %d: satfs %.2f s" % (K, run + 1, t))
            t, _, _, _, _ = cold_copy(a, srv, work, "seq",
                                      "connections=1,prefetch=0")
            t_seq.append(t)
            log("%d scenes, run %d: satfs sequential %.2f s"
                % (K, run + 1, t))
            t_peer.append(run_peer(srv, work))
            log("%d scenes, run %d: peer %.2f s" % (K, run + 1, t_peer[-1]))
            if a.skip_gdal:
                t_gdal.append(float("nan"))
                continue
            t_gdal.append(run_gdal(script, srv.base, items,
                                   os.path.join(work, "gdal4"), 4))
            log("%d scenes, run %d: GDAL 4-wide %.2f s"
                % (K, run + 1, t_gdal[-1]))
        row.update(t_satfs=t_def, t_seq=t_seq, t_peer=t_peer, t_gdal=t_gdal,
                   cpu_satfs=cpu_def, grid=grid)
        cogs = [e for e in traffic_def if e["path"].startswith("/cogs/")]
        first_cog = next(i for i, e in enumerate(traffic_def)
                         if e["path"].startswith("/cogs/"))
        row["listing_round_trips"] = first_cog
        row["cog_requests"], row["cog_bytes"] = traffic(traffic_def)
        row["t_bytes"] = replay_seconds(a, srv, work, cogs)
        tiles, nbytes, hdr = needed(catalog, items, grid)
        row.update(tiles_needed=tiles, min_tile_bytes=nbytes,
                   min_header_bytes=hdr)
        row["decode_ms_per_tile"] = decode_ms(a, catalog, items[0], grid)
        row["t_together"] = together_seconds(a, srv, work, cogs, catalog,
                                             items[0], grid, tiles)
        if K == a.scenes[0]:
            one_file(a, R, srv, work, items, grid)
    finally:
        srv.stop()
    L = a.latency_ms / 1000.0
    row["t_rt"] = (row["listing_round_trips"] + 2) * L
    row["t_decode"] = (row["decode_ms_per_tile"] * row["tiles_needed"] /
                       1000.0 / R["nproc"])
    row["limit_apart"] = row["t_rt"] + max(row["t_bytes"], row["t_decode"])
    row["limit"] = row["t_rt"] + max(row["t_bytes"], row["t_decode"],
                                     row["t_together"])
    return row


def one_file(a, R, srv, work, items, grid):
    """One cold file, catalog already listed, prefetch off: the time of
    `cat` alone, against its own limit (a header and a tile round trip,
    its bytes, its tiles decoded on every core)."""
    times, cogs = [], None
    for run in range(a.runs):
        cache = os.path.join(work, "cache-one")
        shutil.rmtree(cache, ignore_errors=True)
        m = Mount(a.satfs, work, "one", srv, cache, "prefetch=0")
        subprocess.run(["ls", "-R", m.mnt + "/david"],
                       stdout=subprocess.DEVNULL, check=True)
        f = falsecolor_files(m.mnt + "/david")[0]
        start = srv.lines()
        times.append(timed(["cat", f], stdout=subprocess.DEVNULL))
        cogs = [e for e in srv.entries(start)
                if e["path"].startswith("/cogs/")]
        m.unmount()
    L = a.latency_ms / 1000.0
    tiles, _, _ = needed(a.catalogs[0], items[:1], grid)
    ms = decode_ms(a, a.catalogs[0], items[0], grid)
    t_bytes = replay_seconds(a, srv, work, cogs)
    t_dec = ms * tiles / 1000.0 / R["nproc"]
    t_tog = together_seconds(a, srv, work, cogs, a.catalogs[0], items[0],
                             grid, tiles)
    R["one_file"] = {"t": times, "requests": len(cogs), "tiles": tiles,
                     "t_bytes": t_bytes, "t_decode": t_dec,
                     "t_together": t_tog,
                     "limit_apart": 2 * L + max(t_bytes, t_dec),
                     "limit": 2 * L + max(t_bytes, t_dec, t_tog)}


def bench_warm(a, R, srv, cache, work):
    """Warm reads: through a fresh mount of a filled cache vs cat of the
    same files in the cache directory."""
    direct = tif_files(os.path.join(cache, "files"))
    through, straight = [], []
    for _ in range(max(1, a.runs)):
        m = Mount(a.satfs, work, "warm", srv, cache, a.satfs_opts)
        subprocess.run(["ls", "-lR", m.mnt + "/david"],
                       stdout=subprocess.DEVNULL, check=True)
        files = falsecolor_files(os.path.join(m.mnt, "david"))
        start = srv.lines()
        through.append(timed(["cat"] + files, stdout=subprocess.DEVNULL))
        R["warm_cog_requests"] = traffic(srv.entries(start))[0]
        m.unmount()
        straight.append(timed(["cat"] + direct, stdout=subprocess.DEVNULL))
    R.update(warm_bytes=sum(os.path.getsize(f) for f in direct),
             t_warm_mount=through, t_warm_direct=straight)


def bench_listing(a, R, srv, work):
    """Listing: cold and warm `ls -R` of a region with D dates; peak RSS
    over a cold copy of its files."""
    cold, warm, pages = [], [], []
    for run in range(a.runs):
        cache = os.path.join(work, "cache-ls-%d" % run)
        m = Mount(a.satfs, work, "ls", srv, cache)
        start = srv.lines()
        cold.append(timed(["ls", "-R", m.mnt + "/david"],
                          stdout=subprocess.DEVNULL))
        ent = srv.entries(start)
        pages.append(sum(1 for e in ent if e["path"].endswith("/search")))
        warm.append(timed(["ls", "-R", m.mnt + "/david"],
                          stdout=subprocess.DEVNULL))
        if run == a.runs - 1:
            dst = os.path.join(work, "copy-all")
            t = timed(["cp", "-r", m.mnt + "/david", dst])
            R["rss_files"] = len(tif_files(dst))
            R["rss_copy_s"] = t
            R["vm_hwm_kb"] = vm_hwm_kb(m.proc.pid)
            shutil.rmtree(dst, ignore_errors=True)
        m.unmount()
        shutil.rmtree(cache, ignore_errors=True)
    dates = len(os.listdir(os.path.join(a.dates_catalog, "items")))
    R.update(t_ls_cold=cold, t_ls_warm=warm, search_pages=pages[-1],
             listing_items=dates)


def check_targets(R):
    """The targets, on ratios between runs of this invocation."""
    out = []
    for row in R["rows"]:
        s, p = median(row["t_satfs"]), median(row["t_peer"])
        out.append(("%d scenes: satfs at least 3x faster than the peer"
                    % row["scenes"], p / s >= 3, "%.2fx" % (p / s)))
        out.append(("%d scenes: satfs within 1.5x of the limit"
                    % row["scenes"], s / row["limit"] <= 1.5,
                    "%.2fx" % (s / row["limit"])))
    one = R.get("one_file")
    if one:
        t = median(one["t"])
        out.append(("one cold file within 1.5x of its limit",
                    t / one["limit"] <= 1.5, "%.2fx" % (t / one["limit"])))
    return out


def report(R):
    if R["rows"]:
        report_single(R)
    scaleout.report(R, median)
    print()
    for what, ok, ratio in R["targets"]:
        print("%s %s: %s" % ("PASS" if ok else "MISS", what, ratio))
    print("load average (1, 5, 15 min) before %s, after %s (other work on "
          "this machine competes for the %d cores)"
          % (" ".join(R["load_before"]), " ".join(R["load_after"]),
             R["nproc"]))


def report_single(R):
    L = R["latency_ms"] / 1000.0
    print("| scenes | satfs | satfs sequential | peer (rasterio, 8 threads)"
          " | GDAL, 4 at a time | limit | peer / satfs | satfs / limit |"
          " limit, terms apart | satfs / that |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in R["rows"]:
        s = median(row["t_satfs"])
        print("| %d | %.2f s | %.2f s | %.2f s | %.2f s | %.2f s | %.2f x |"
              " %.2f x | %.2f s | %.2f x |"
              % (row["scenes"], s, median(row["t_seq"]),
                 median(row["t_peer"]), median(row["t_gdal"]), row["limit"],
                 median(row["t_peer"]) / s, s / row["limit"],
                 row["limit_apart"], s / row["limit_apart"]))
    print()
    for row in R["rows"]:
        print("%d scenes: limit %.2f s = %d round trips x %.0f ms (%.2f s) "
              "+ the bytes and the decoding at once: %.2f s (apart: bytes "
              "%.1f MB in %d requests replayed at latency 0: %.2f s, "
              "decode %d tiles x %.2f ms / %d cores: %.2f s; limit with "
              "the terms apart %.2f s); daemon CPU %.2f s; minimum %.1f MB "
              "of tiles + %.2f MB of headers" % (
                  row["scenes"], row["limit"], row["listing_round_trips"] + 2,
                  R["latency_ms"], row["t_rt"], row["t_together"],
                  row["cog_bytes"] / 1e6, row["cog_requests"],
                  row["t_bytes"], row["tiles_needed"],
                  row["decode_ms_per_tile"], R["nproc"], row["t_decode"],
                  row["limit_apart"], median(row["cpu_satfs"]),
                  row["min_tile_bytes"] / 1e6,
                  row["min_header_bytes"] / 1e6))
    one = R.get("one_file")
    if one:
        print("one cold file (listed, prefetch off): %.3f s; limit %.3f s "
              "= 2 x %.0f ms + %.3f s (bytes and decoding at once; apart: "
              "%.3f s bytes, %d tiles decoded: %.3f s; limit %.3f s); "
              "%d COG requests"
              % (median(one["t"]), one["limit"], R["latency_ms"],
                 one["t_together"], one["t_bytes"], one["tiles"],
                 one["t_decode"], one["limit_apart"], one["requests"]))
    if "t_warm_mount" in R:
        wm, wd = median(R["t_warm_mount"]), median(R["t_warm_direct"])
        mb = R["warm_bytes"] / 1e6
        print("warm cat through the mount: %.0f MB/s (%.0f %% of cat in "
              "the cache directory, %.0f MB/s); %d COG requests"
              % (mb / wm, 100 * wd / wm, mb / wd, R["warm_cog_requests"]))
    if "t_ls_cold" in R:
        lc, lw = median(R["t_ls_cold"]), median(R["t_ls_warm"])
        print("ls -R of %d dates (%d search pages): cold %.2f s (pages x "
              "latency %.2f s), warm %.3f s; peak RSS %.0f MB over a cold "
              "copy of %d files (%.1f s)"
              % (R["listing_items"], R["search_pages"], lc,
                 R["search_pages"] * L, lw, R["vm_hwm_kb"] / 1024,
                 R["rss_files"], R["rss_copy_s"]))
    print()


def plot(R, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    xs = [row["scenes"] for row in R["rows"]]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    for key, label, style in (("t_peer", "peer: rasterio, 8 threads", "s-"),
                              ("t_gdal", "GDAL, 4 at a time", "^-"),
                              ("t_seq", "satfs sequential", "v-"),
                              ("t_satfs", "satfs", "o-")):
        ax.plot(xs, [median(r[key]) for r in R["rows"]], style, label=label)
    ax.plot(xs, [r["limit"] for r in R["rows"]], "k--", label="limit")
    ax.plot(xs, [r["limit_apart"] for r in R["rows"]], "k:",
            label="limit, its terms apart")
    ax.set_xlabel("scenes (falsecolor snippets, listing included)")
    ax.set_ylabel("wall time, s (median of %d)" % R["runs"])
    ax.set_title("Cold copy, %d ms to first byte, %d cores"
                 % (R["latency_ms"], R["nproc"]))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(xs)
    ax.set_xticklabels([str(x) for x in xs])
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def single(a, R, work):
    """Everything but the scale-out: one mount at a time."""
    for K, catalog in zip(a.scenes, a.catalogs):
        R["rows"].append(bench_scenes(a, R, K, catalog, work))
    srv = Server(work, a.catalogs[0], a.latency_ms, a.bandwidth)
    try:
        bench_warm(a, R, srv, R["rows"][0]["cache"], work)
    finally:
        srv.stop()
    srv2 = Server(work, a.dates_catalog, a.latency_ms, a.bandwidth,
                  ["--page-limit", str(a.page_limit)] if a.page_limit
                  else [])
    try:
        bench_listing(a, R, srv2, work)
    finally:
        srv2.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--satfs", required=True)
    ap.add_argument("--decode", required=True, help="decode_tiles binary")
    ap.add_argument("--catalogs", required=True,
                    help="comma-separated K-scene catalogs")
    ap.add_argument("--dates-catalog", required=True, help="D-date catalog")
    ap.add_argument("--work", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--latency-ms", type=float, default=50)
    ap.add_argument("--bandwidth", type=float, default=0)
    ap.add_argument("--page-limit", type=int, default=25)
    ap.add_argument("--satfs-opts", default="",
                    help="extra -o options for the default runs")
    ap.add_argument("--json", help="write the raw results here")
    ap.add_argument("--plot", help="write the plot (PNG) here")
    ap.add_argument("--skip-gdal", action="store_true",
                    help="no GDAL runs (quicker, while tuning)")
    ap.add_argument("--no-check", action="store_true",
                    help="report the targets, exit 0 whatever they say")
    ap.add_argument("--scale-out-only", action="store_true",
                    help="only the scale-out measurements (first catalog)")
    a = ap.parse_args()
    a.catalogs = a.catalogs.split(",")
    a.scenes = [len(os.listdir(os.path.join(c, "items")))
                for c in a.catalogs]

    work = a.work
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    R = {"runs": a.runs, "latency_ms": a.latency_ms,
         "bandwidth": a.bandwidth, "nproc": os.cpu_count(),
         "load_before": open("/proc/loadavg").read().split()[:3],
         "rows": []}
    if not a.scale_out_only:
        single(a, R, work)
    scaleout.measure(a, R, a.catalogs[0], work, sys.modules[__name__])
    R["load_after"] = open("/proc/loadavg").read().split()[:3]
    R["targets"] = (check_targets(R) if R["rows"] else []) + \
        scaleout.check(R, median)
    report(R)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(R, f, indent=1)
    if a.plot and R["rows"]:
        plot(R, a.plot)
    missed = [t for t in R["targets"] if not t[1]]
    return 1 if missed and not a.no_check else 0


if __name__ == "__main__":
    sys.exit(main())
