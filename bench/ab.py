#!/usr/bin/env python3
"""Two satfs binaries, or two sets of options, compared on the benchmark's
cold copy (bench.py's cold_copy: a fresh mount and cache, then
`cp MNT/david/*/*.falsecolor.tif`), in alternating runs through one
fixture server, so that a change shows through the noise of a shared
machine. Prints the median wall time, daemon CPU and idle CPU (of the
whole machine, over the copy) of each side.

  bench/ab.py --catalog build-bench/bench-run/cat-50 --pairs 4 \\
      OLD/satfs NEW/satfs
  bench/ab.py --catalog ... --pairs 4 build-bench/satfs:prefetch=6 \\
      build-bench/satfs:prefetch=12

A side is BINARY[:OPTIONS]. The first copy through a new server is slower
(its caches are cold) for either side: one is made first and not counted.
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile

import bench


def idle_ticks():
    with open("/proc/stat") as f:
        fields = f.readline().split()
    return int(fields[4]) + int(fields[5])  # idle + iowait


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--catalog", required=True)
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--latency-ms", type=int, default=50)
    ap.add_argument("sides", nargs=2, metavar="BINARY[:OPTIONS]")
    a = ap.parse_args()
    sides = [s.partition(":")[::2] for s in a.sides]
    work = tempfile.mkdtemp(prefix="satfs-ab.")
    srv = bench.Server(work, a.catalog, a.latency_ms, 0)
    res = {i: ([], [], []) for i in range(2)}
    try:
        for n in range(a.pairs + 1):
            for i, (binary, opts) in enumerate(sides):
                a.satfs = os.path.abspath(binary)
                i0 = idle_ticks()
                t, cpu, _, _, _ = bench.cold_copy(a, srv, work,
                                                  "ab%d" % i, opts)
                idle = (idle_ticks() - i0) / bench.CLK
                if n == 0:
                    continue  # warming the server
                res[i][0].append(t)
                res[i][1].append(cpu)
                res[i][2].append(idle)
                bench.log("pair %d, %s: %.3f s, daemon CPU %.2f s, idle "
                          "%.2f s" % (n, a.sides[i], t, cpu, idle))
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)
    for i in range(2):
        wall, cpu, idle = res[i]
        print("%-50s wall %.3f s (min %.3f), daemon CPU %.2f s, idle %.2f s"
              % (a.sides[i], statistics.median(wall), min(wall),
                 statistics.median(cpu), statistics.median(idle)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
