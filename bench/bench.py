#!/usr/bin/env python3
"""The satfs benchmark; run through scripts/bench, which builds satfs
(release), makes the catalogs and passes their paths.

Every number is a median over --runs runs made in this one invocation, and
every ratio is taken between runs of this invocation. Measures (see
docs/BENCHMARKS.md for what each one means and why):

  1. cold `cp -r` of region david (K scenes) through satfs, default options
  2. the same with connections=1,prefetch=0 (one request at a time)
  3. GDAL (gdalbuildvrt + gdalwarp over /vsicurl/ + gdal_translate), one
     process per scene, sequentially and 4 at a time
  4. the physical limit: max(critical round trips x latency, the bytes
     moved through this server at its full speed, CPU / cores)
  5. warm reads: cat through the mount vs cat of the cache files
  6. listing: cold `ls -R` of a region with D dates vs pages x latency;
     warm `ls -R`
  7. requests and bytes per snippet vs the minimum (tiles needed)
  8. peak RSS (VmHWM) of the daemon over a cold copy of 2*D files
"""

import argparse
import json
import os
import shlex
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

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
    "truecolor": (("B04", "B03", "B02"), 0, 3000, 1.0),
}
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
    def __init__(self, work, catalog, latency_ms, bandwidth, extra=()):
        self.log = os.path.join(work, "requests.%d.log" % id(self))
        portfile = os.path.join(work, "port.%d" % id(self))
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
        "# gdal-scene.sh BASE ITEM OUTDIR: both products of one scene",
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--satfs", required=True)
    ap.add_argument("--decode", help="decode_tiles binary")
    ap.add_argument("--catalog", required=True, help="K-scene catalog")
    ap.add_argument("--dates-catalog", required=True, help="D-date catalog")
    ap.add_argument("--base", required=True, help="base scenes (COGs)")
    ap.add_argument("--work", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--latency-ms", type=float, default=50)
    ap.add_argument("--bandwidth", type=float, default=0)
    ap.add_argument("--page-limit", type=int, default=25)
    ap.add_argument("--satfs-opts", default="",
                    help="extra -o options for the default runs")
    ap.add_argument("--json", help="write the raw results here")
    ap.add_argument("--skip-gdal", action="store_true",
                    help="no GDAL runs (quicker, while tuning)")
    a = ap.parse_args()

    work = a.work
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    items = sorted(f[:-5] for f in os.listdir(os.path.join(a.catalog,
                                                             "items")))
    ncpu = os.cpu_count()
    R = {"runs": a.runs, "scenes": len(items), "latency_ms": a.latency_ms,
         "bandwidth": a.bandwidth, "nproc": ncpu,
         "load_before": open("/proc/loadavg").read().split()[:3]}
    srv = Server(work, a.catalog, a.latency_ms, a.bandwidth)
    try:
        # Warm the server's ETag cache (an md5 of every COG) so that no
        # run pays for it.
        subprocess.run(["curl", "-s", "-I"] +
                       ["%s/cogs/%s/%s.tif" % (srv.base, it, b)
                        for it in items[:1] for b in BAND_INDEX],
                       check=True, stdout=subprocess.DEVNULL)
        bench_copy(a, R, srv, items, work)
    finally:
        srv.stop()
    srv2 = Server(work, a.dates_catalog, a.latency_ms, a.bandwidth,
                  ["--page-limit", str(a.page_limit)] if a.page_limit
                  else [])
    try:
        bench_listing(a, R, srv2, work)
    finally:
        srv2.stop()
    R["load_after"] = open("/proc/loadavg").read().split()[:3]
    report(R)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(R, f, indent=1)
    return 0


def bench_copy(a, R, srv, items, work):
    t_def, t_seq, t_g1, t_g4, cpu_def, srv_cpu = [], [], [], [], [], []
    traffic_def = None
    cache_last = None
    for run in range(a.runs):
        # satfs, default options
        cache = os.path.join(work, "cache-def-%d" % run)
        dst = os.path.join(work, "copy-def")
        shutil.rmtree(dst, ignore_errors=True)
        m = Mount(a.satfs, work, "def", srv, cache, a.satfs_opts)
        start = srv.lines()
        c0, s0 = cpu_s(m.proc.pid), cpu_s(srv.proc.pid)
        t = timed(["cp", "-r", os.path.join(m.mnt, "david"), dst])
        cpu_def.append(cpu_s(m.proc.pid) - c0)
        srv_cpu.append((cpu_s(srv.proc.pid) - s0) / t)
        m.unmount()
        t_def.append(t)
        ent = srv.entries(start)
        traffic_def = ent
        if cache_last:
            shutil.rmtree(cache_last, ignore_errors=True)
        cache_last = cache
        log("run %d: satfs default %.2f s" % (run + 1, t))
        # satfs, one request at a time
        cache = os.path.join(work, "cache-seq")
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(dst + "-seq", ignore_errors=True)
        m = Mount(a.satfs, work, "seq", srv, cache,
                  "connections=1,prefetch=0")
        t = timed(["cp", "-r", os.path.join(m.mnt, "david"), dst + "-seq"])
        m.unmount()
        t_seq.append(t)
        log("run %d: satfs sequential %.2f s" % (run + 1, t))
        if run == 0:
            files = tif_files(dst)
            R["files"] = len(files)
            if len(files) != 2 * len(items):
                raise RuntimeError("cp -r copied %d GeoTIFFs, not %d"
                                   % (len(files), 2 * len(items)))
            R["bytes_out"] = sum(os.path.getsize(f) for f in files)
            grid, epsg = output_grid(files[0])
            script = gdal_script(work, grid, epsg)
            R["gdal_script"] = open(script).read()
            R["grid"] = grid
        # GDAL, sequential and 4 at a time
        if a.skip_gdal:
            t_g1.append(float("nan"))
            t_g4.append(float("nan"))
            continue
        t_g1.append(run_gdal(script, srv.base, items,
                             os.path.join(work, "gdal1"), 1))
        log("run %d: GDAL sequential %.2f s" % (run + 1, t_g1[-1]))
        t_g4.append(run_gdal(script, srv.base, items,
                             os.path.join(work, "gdal4"), 4))
        log("run %d: GDAL 4-wide %.2f s" % (run + 1, t_g4[-1]))
    R.update(t_default=t_def, t_seq=t_seq, t_gdal1=t_g1, t_gdal4=t_g4,
             cpu_default=cpu_def, server_cpu_share=srv_cpu)

    # 7. requests and bytes per snippet vs the minimum
    nreq, nbytes = traffic(traffic_def)
    ntif = R["files"]
    grid = R["grid"]
    # The minimum: for every snippet, the level-0 tiles of its 3 bands
    # that hold an output pixel centre, and each band's header (IFDs).
    min_tiles = min_bytes = min_hdr = 0
    for it in items:
        lay = {b: cog_layout(os.path.join(a.catalog, "cogs", it,
                                          b + ".tif")) for b in BAND_INDEX}
        for name, (bands, _, _, _) in PRODUCTS.items():
            for b in bands:
                t = tiles_needed(lay[b], grid)
                min_tiles += len(t)
                min_bytes += sum(lay[b]["counts"][i] for i in t)
                min_hdr += lay[b]["header"]
    R.update(req_per_snippet=nreq / ntif, bytes_per_snippet=nbytes / ntif,
             min_tiles_per_snippet=min_tiles / ntif,
             min_bytes_per_snippet=min_bytes / ntif,
             min_header_bytes_per_snippet=min_hdr / ntif,
             cog_bytes_total=nbytes, cog_requests_total=nreq)

    # 4. the physical limit: its inputs
    cog_ent = [e for e in traffic_def if e["path"].startswith("/cogs/")]
    first_cog = next(i for i, e in enumerate(traffic_def)
                     if e["path"].startswith("/cogs/"))
    R["listing_round_trips"] = first_cog
    # bytes: replay exactly the COG requests of a default run, all at once
    # (curl, 32 in parallel), with the server's latency off: the time this
    # server needs to move those bytes.
    cfg = os.path.join(work, "replay.curl")
    with open(cfg, "w") as f:
        for e in cog_ent:
            f.write('url = "%s%s"\noutput = "/dev/null"\n'
                    % (srv.base, e["path"]))
            if e.get("range"):
                f.write('header = "Range: %s"\n' % e["range"])
    srv.control({"latency_ms": 0})
    reps = []
    for _ in range(max(1, a.runs)):
        reps.append(timed(["curl", "-s", "--parallel", "--parallel-max",
                           "32", "-K", cfg], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL))
    srv.control({"latency_ms": a.latency_ms})
    R["t_bytes"] = median(reps)
    # CPU: decode per tile with satfs' decoder (single thread), tiles
    # decoded, and the daemon's whole CPU time in the default run.
    if a.decode:
        x0, y0, res, w, h = grid
        out = subprocess.run(
            [a.decode, os.path.join(a.catalog, "cogs", items[0], "B04.tif"),
             str(x0), str(y0 - h * res), str(x0 + w * res), str(y0), "5"],
            check=True, capture_output=True, text=True).stdout.split()
        R["decode_ms_per_tile"] = float(out[3])
    R["tiles_decoded"] = min_tiles

    # 5. warm reads: through a fresh mount of the last cache vs direct
    cache = cache_last
    direct = tif_files(os.path.join(cache, "files"))
    if len(direct) != R["files"]:
        raise RuntimeError("cache holds %d rendered files, not %d"
                           % (len(direct), R["files"]))
    through, straight = [], []
    for _ in range(max(1, a.runs)):
        m = Mount(a.satfs, work, "warm", srv, cache, a.satfs_opts)
        subprocess.run(["ls", "-lR", m.mnt + "/david"],
                       stdout=subprocess.DEVNULL, check=True)
        files = tif_files(os.path.join(m.mnt, "david"))
        start = srv.lines()
        through.append(timed(["cat"] + files, stdout=subprocess.DEVNULL))
        warm_cog = traffic(srv.entries(start))[0]
        m.unmount()
        straight.append(timed(["cat"] + direct, stdout=subprocess.DEVNULL))
    R.update(warm_bytes=sum(os.path.getsize(f) for f in direct),
             t_warm_mount=through, t_warm_direct=straight,
             warm_cog_requests=warm_cog)


def walk_files(d):
    out = []
    for root, _, files in os.walk(d):
        out += [os.path.join(root, f) for f in files]
    return out


def bench_listing(a, R, srv, work):
    cold, warm, pages = [], [], []
    for run in range(a.runs):
        cache = os.path.join(work, "cache-ls-%d" % run)
        m = Mount(a.satfs, work, "ls", srv, cache)
        start = srv.lines()
        cold.append(timed(["ls", "-R", m.mnt + "/david"],
                          stdout=subprocess.DEVNULL))
        ent = srv.entries(start)
        pages.append(sum(1 for e in ent if e["path"].endswith("/search")))
        R["listing_requests"] = len(ent)
        warm.append(timed(["ls", "-R", m.mnt + "/david"],
                          stdout=subprocess.DEVNULL))
        if run == a.runs - 1:
            # 8. peak RSS over a cold copy of every file of the region
            dst = os.path.join(work, "copy-all")
            t = timed(["cp", "-r", m.mnt + "/david", dst])
            R["rss_files"] = len(tif_files(dst))
            want = 2 * len(os.listdir(os.path.join(a.dates_catalog,
                                                   "items")))
            if R["rss_files"] != want:
                raise RuntimeError("cp -r copied %d GeoTIFFs, not %d"
                                   % (R["rss_files"], want))
            R["rss_copy_s"] = t
            R["vm_hwm_kb"] = vm_hwm_kb(m.proc.pid)
            shutil.rmtree(dst, ignore_errors=True)
        m.unmount()
        shutil.rmtree(cache, ignore_errors=True)
    dates = len(os.listdir(os.path.join(a.dates_catalog, "items")))
    R.update(t_ls_cold=cold, t_ls_warm=warm, search_pages=pages[-1],
             listing_items=dates)


def report(R):
    L = R["latency_ms"] / 1000.0
    d, s = median(R["t_default"]), median(R["t_seq"])
    g1, g4 = median(R["t_gdal1"]), median(R["t_gdal4"])
    cpu = median(R["cpu_default"])
    rt = (R["listing_round_trips"] + 2) * L
    lim_cpu = cpu / R["nproc"]
    dec_cpu = R.get("decode_ms_per_tile", 0) * R["tiles_decoded"] / 1000
    limit = max(rt, R["t_bytes"], lim_cpu)
    R["limit"] = limit
    wm, wd = median(R["t_warm_mount"]), median(R["t_warm_direct"])
    mb = R["warm_bytes"] / 1e6
    lc, lw = median(R["t_ls_cold"]), median(R["t_ls_warm"])
    floor_ls = R["search_pages"] * L
    rows = [
        ("1", "satfs cold `cp -r` (%d scenes, %d files, default)"
         % (R["scenes"], R["files"]), "%.2f s" % d, "1.00"),
        ("2", "satfs, `connections=1,prefetch=0` (sequential)",
         "%.2f s" % s, "%.2f x slower (target >= 8)" % (s / d)),
        ("3a", "GDAL, one scene at a time", "%.2f s" % g1,
         "%.2f x slower" % (g1 / d)),
        ("3b", "GDAL, 4 scenes at a time", "%.2f s" % g4,
         "%.2f x slower (target >= 2)" % (g4 / d)),
        ("4", "physical limit = max(RT, bytes, CPU)", "%.2f s" % limit,
         "satfs at %.2f x the limit (target <= 1.5)" % (d / limit)),
        ("4a", "  RT: (%d listing + 2 render) round trips x %.0f ms"
         % (R["listing_round_trips"], R["latency_ms"]), "%.2f s" % rt, ""),
        ("4b", "  bytes: %.1f MB in %d requests, replayed at latency 0"
         % (R["cog_bytes_total"] / 1e6, R["cog_requests_total"]),
         "%.2f s" % R["t_bytes"],
         "%.0f MB/s" % (R["cog_bytes_total"] / 1e6 / R["t_bytes"])),
        ("4c", "  CPU: daemon %.2f s CPU / %d cores" % (cpu, R["nproc"]),
         "%.2f s" % lim_cpu,
         "decode alone: %.0f tiles x %.2f ms = %.2f s CPU"
         % (R["tiles_decoded"], R.get("decode_ms_per_tile", 0), dec_cpu)),
        ("", "  fixture server CPU during (1), share of one core",
         "%.0f %%" % (100 * median(R["server_cpu_share"])), ""),
        ("5", "warm `cat` through the mount (%.0f MB)" % mb,
         "%.0f MB/s" % (mb / wm),
         "%.0f %% of direct (target >= 80 %%)" % (100 * wd / wm)),
        ("5b", "`cat` of the same files in the cache directory",
         "%.0f MB/s" % (mb / wd), ""),
        ("6", "cold `ls -R` (%d items, %d search pages)"
         % (R["listing_items"], R["search_pages"]), "%.2f s" % lc,
         "pages x latency = %.2f s (%.2f x)" % (floor_ls, lc / floor_ls
                                              if floor_ls else 0)),
        ("6b", "warm `ls -R`", "%.3f s" % lw, ""),
        ("7", "requests per snippet", "%.1f" % R["req_per_snippet"],
         "%.1f tiles needed; minimum 4 (a scene's 2 snippets: 4 "
         "headers + 4 merged ranges)" % R["min_tiles_per_snippet"]),
        ("7b", "bytes per snippet", "%.2f MB"
         % (R["bytes_per_snippet"] / 1e6),
         "minimum %.2f MB tiles + %.3f MB headers (%.2f x)"
         % (R["min_bytes_per_snippet"] / 1e6,
            R["min_header_bytes_per_snippet"] / 1e6,
            R["bytes_per_snippet"] / (R["min_bytes_per_snippet"] +
                                      R["min_header_bytes_per_snippet"]))),
        ("8", "daemon peak RSS (VmHWM), cold copy of %d files"
         % R["rss_files"], "%.0f MB" % (R["vm_hwm_kb"] / 1024),
         "target < 150 MB; copy took %.1f s" % R["rss_copy_s"]),
    ]
    print("| # | measure | median of %d | compared |" % R["runs"])
    print("|---|---|---|---|")
    for r in rows:
        print("| %s | %s | %s | %s |" % r)
    print()
    print("runs (s): default %s; sequential %s; GDAL %s; GDAL 4-wide %s"
          % tuple(" ".join("%.2f" % x for x in R[k])
                  for k in ("t_default", "t_seq", "t_gdal1", "t_gdal4")))
    print("warm reads through the mount %d COG requests" %
          R["warm_cog_requests"])
    print("load average (1, 5, 15 min) before %s, after %s (other work on "
          "this machine competes for the %d cores)"
          % (" ".join(R["load_before"]), " ".join(R["load_after"]),
             R["nproc"]))


if __name__ == "__main__":
    sys.exit(main())
