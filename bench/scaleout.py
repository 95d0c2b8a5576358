"""The scale-out measurements of the satfs benchmark (docs/SCALE-OUT.md):
mounts sharing renders through an S3-compatible store, here a throwaway
Ceph RADOS Gateway on 127.0.0.1 (tests/s3/rgw.sh). Called by bench.py,
whose helpers (Server, Mount, timed, ...) it is handed as `b`.

For the K-scene catalog, in each run, each with a prefix of its own in the
bucket and fresh caches:

  1. no store: a cold `cp` of the falsecolor snippets (the reference time)
  2. first mount with the store: the same cold copy (it renders and
     uploads in the background); then its uploads drain and it unmounts
  3. second mount, fresh cache, same prefix: the cold copy again, its
     time and its requests to the COG server (the claim: zero), bytes
     compared with the first mount's
  4. three mounts, fresh caches, a new prefix: `cp` on all three at once;
     the wall time until all are done, the COG requests of all three
     against those of one mount alone (1), and how many (path, range)
     were requested more than once (the claim: none)
"""
import filecmp
import json
import os
import shutil
import subprocess
import time

RGW_TIMEOUT_S = 120


class Rgw:
    """A RADOS Gateway under work/rgw, its keys exported to this process
    (and so to the mounts it starts)."""

    def __init__(self, src, work):
        self.script = os.path.join(src, "tests", "s3", "rgw.sh")
        self.dir = os.path.join(work, "rgw")
        shutil.rmtree(self.dir, ignore_errors=True)
        env = dict(os.environ, RGW_OWNER_PID=str(os.getpid()))
        subprocess.run(["bash", self.script, "start", self.dir], check=True,
                       env=env, timeout=RGW_TIMEOUT_S,
                       stderr=subprocess.DEVNULL)
        self.env = {}
        with open(os.path.join(self.dir, "env")) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                self.env[k] = v
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            os.environ[k] = self.env[k]

    def opts(self, prefix):
        return ("shared_store=s3://%s/%s,shared_endpoint=%s,"
                "shared_region=%s" % (self.env["RGW_BUCKET"], prefix,
                                      self.env["RGW_ENDPOINT"],
                                      self.env["RGW_REGION"]))

    def stop(self):
        subprocess.run(["bash", self.script, "stop", self.dir],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=60)


def shared_status(mnt):
    with open(os.path.join(mnt, ".satfs", "status.json")) as f:
        return json.load(f)["shared"]


def drain(mnt, limit_s=60):
    """Waits until mnt has no upload queued."""
    t = time.monotonic()
    while time.monotonic() - t < limit_s:
        if shared_status(mnt)["queued"] == 0:
            return
        time.sleep(0.05)
    raise RuntimeError("%s: uploads still queued after %d s" % (mnt, limit_s))


def cog_entries(srv, start):
    return [e for e in srv.entries(start) if e["path"].startswith("/cogs/")]


def copy_cmd(mnt, dst):
    return ["sh", "-c", 'cp "$1"/david/*/*.falsecolor.tif "$2"', "-", mnt, dst]


def fresh(work, name):
    cache = os.path.join(work, "cache-" + name)
    dst = os.path.join(work, "copy-" + name)
    shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(dst, ignore_errors=True)
    os.makedirs(dst)
    return cache, dst


def same_files(a, b):
    names = sorted(os.listdir(a))
    if names != sorted(os.listdir(b)) or not names:
        return False
    _, bad, err = filecmp.cmpfiles(a, b, names, shallow=False)
    return not bad and not err


def one_run(a, b, rgw, srv, work, run, res):
    opts = ",".join(o for o in (a.satfs_opts, rgw.opts("run%d" % run)) if o)
    # 1. no store
    t, _, start, _, _ = b.cold_copy(a, srv, work, "so-none", a.satfs_opts)
    res["t_none"].append(t)
    res["cog_none"].append(len(cog_entries(srv, start)))
    # 2. the first mount with the store
    cache, dst1 = fresh(work, "so-first")
    m = b.Mount(a.satfs, work, "so-first", srv, cache, opts)
    start = srv.lines()
    res["t_first"].append(b.timed(copy_cmd(m.mnt, dst1)))
    res["cog_first"].append(len(cog_entries(srv, start)))
    t = time.monotonic()
    drain(m.mnt)
    res["t_drain"].append(time.monotonic() - t)
    res["uploads"].append(shared_status(m.mnt)["uploads"])
    m.unmount()
    # 3. the second mount
    cache, dst2 = fresh(work, "so-second")
    m = b.Mount(a.satfs, work, "so-second", srv, cache, opts)
    start = srv.lines()
    res["t_second"].append(b.timed(copy_cmd(m.mnt, dst2)))
    res["cog_second"].append(len(cog_entries(srv, start)))
    res["from_store"].append(shared_status(m.mnt)["files_from_store"])
    m.unmount()
    if not same_files(dst1, dst2):
        raise RuntimeError("the second mount's files differ from the first's")
    # 4. three mounts at once
    opts3 = ",".join(o for o in (a.satfs_opts, rgw.opts("run%d-3" % run))
                     if o)
    mounts, dsts = [], []
    for i in range(3):
        cache, dst = fresh(work, "so-three-%d" % i)
        mounts.append(b.Mount(a.satfs, work, "so-three-%d" % i, srv, cache,
                              opts3))
        dsts.append(dst)
    start = srv.lines()
    t = time.monotonic()
    procs = [subprocess.Popen(copy_cmd(m.mnt, d))
             for m, d in zip(mounts, dsts)]
    for p in procs:
        if p.wait(600) != 0:
            raise RuntimeError("a copy of the three failed")
    res["t_three"].append(time.monotonic() - t)
    cogs = cog_entries(srv, start)
    seen = {}
    for e in cogs:
        k = (e["path"], e.get("range"))
        seen[k] = seen.get(k, 0) + 1
    res["cog_three"].append(len(cogs))
    res["dups_three"].append(sum(1 for v in seen.values() if v > 1))
    res["waits_three"].append(sum(shared_status(m.mnt)["waits"]
                                  for m in mounts))
    for m in mounts:
        drain(m.mnt)
        m.unmount()
    for d in dsts:
        if not same_files(dst1, d):
            raise RuntimeError("a file of the three mounts differs")


def measure(a, R, catalog, work, b):
    """Fills R["scale_out"] (lists of one value per run)."""
    keys = ("t_none", "cog_none", "t_first", "cog_first", "t_drain",
            "uploads", "t_second", "cog_second", "from_store", "t_three",
            "cog_three", "dups_three", "waits_three")
    res = {k: [] for k in keys}
    items = os.listdir(os.path.join(catalog, "items"))
    rgw = Rgw(b.SRC, work)
    srv = b.Server(work, catalog, a.latency_ms, a.bandwidth)
    try:
        for run in range(a.runs):
            one_run(a, b, rgw, srv, work, run, res)
            b.log("scale-out, run %d: no store %.2f s, first %.2f s, "
                  "second %.2f s (%d COG requests), three at once %.2f s "
                  "(%d COG requests, %d twice)"
                  % (run + 1, res["t_none"][-1], res["t_first"][-1],
                     res["t_second"][-1], res["cog_second"][-1],
                     res["t_three"][-1], res["cog_three"][-1],
                     res["dups_three"][-1]))
    finally:
        srv.stop()
        rgw.stop()
    res["scenes"] = len(items)
    R["scale_out"] = res


def report(R, median):
    s = R.get("scale_out")
    if not s:
        return
    print("scale-out, %d scenes (falsecolor), shared store on a local "
          "RADOS Gateway, medians of %d:" % (s["scenes"], len(s["t_none"])))
    print("| measure | time | COG requests |")
    print("|---|---|---|")
    print("| cold copy, no store | %.2f s | %d |"
          % (median(s["t_none"]), median(s["cog_none"])))
    print("| first mount, store empty (uploads in the background; "
          "drained %.2f s later, %d objects) | %.2f s | %d |"
          % (median(s["t_drain"]), median(s["uploads"]),
             median(s["t_first"]), median(s["cog_first"])))
    print("| second mount, fresh cache (%d files from the store) | %.2f s "
          "(%.2f x the no-store copy) | %d |"
          % (median(s["from_store"]), median(s["t_second"]),
             median(s["t_second"]) / median(s["t_none"]),
             median(s["cog_second"])))
    print("| three mounts at once, fresh caches (all done; %d waits) | "
          "%.2f s (%.2f x one mount) | %d in all, %d requested twice |"
          % (median(s["waits_three"]), median(s["t_three"]),
             median(s["t_three"]) / median(s["t_none"]),
             median(s["cog_three"]), max(s["dups_three"])))


def check(R, median):
    """The claims, as targets: zero COG requests for the second mount;
    three mounts at once fetch no more than one mount and nothing twice."""
    s = R.get("scale_out")
    if not s:
        return []
    return [("second mount: no COG request", max(s["cog_second"]) == 0,
             "%d" % max(s["cog_second"])),
            ("three mounts: each COG request once in all",
             max(s["dups_three"]) == 0 and
             max(c - n for c, n in zip(s["cog_three"], s["cog_none"])) <= 0,
             "%d requests vs %d, %d twice"
             % (median(s["cog_three"]), median(s["cog_none"]),
                max(s["dups_three"])))]
