#!/usr/bin/env python3
"""Mutation testing: how strong is the suite? Puts small bugs into fs/,
one at a time, in a scratch copy of the tree, runs the tests that ought
to catch each, and reports which were caught, by which tests, and which
were missed. Not part of the default run (it builds once per mutation);
see docs/RELIABILITY.md, "Mutation testing".

usage: tests/mutation/mutate.py [options] [ID...]
  ID...             only these mutations (default: all of mutations.py)
  --list            print the mutations and exit
  --check           only check that each mutation's text occurs exactly
                    once in fs/ (ctest: mutation.fresh): exit 1 if stale
  --all-tests       run the whole suite for each mutation, not its regex
  --scratch DIR     the scratch copy (kept; reused for incremental builds)
  --samples DIR     the sample catalog (default: build-test/samples of the
                    tree, else made in the scratch build by the fixture)
  --jobs N          build and ctest parallelism (default 2)
  --timeout S       per-test timeout (default 300)

The scratch copy holds the tree's tracked and untracked (not ignored)
files as they are on disk, so uncommitted work is measured too. Nothing
in the tree itself is ever modified. First the selected tests run on the
unmutated copy: they must all pass, or nothing is measured. Then, for
each mutation: apply (the text must occur exactly once, else "stale"),
build (a mutation that does not compile is "no build"), run its tests,
restore. Exit status: 0 when every applied mutation was caught, 1 when
one was missed (or was stale, did not build, or matched no test: the
list needs care), 2 when the baseline or the setup failed.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True         # no __pycache__ in the tree
from mutations import MUTATIONS  # noqa: E402


def sh(cmd, **kw):
    return subprocess.run(cmd, **kw)


def copy_tree(dst):
    """The tree's files (tracked and untracked, not ignored) into dst,
    modification times kept (the samples stamp depends on them)."""
    files = sh(["git", "-C", TOP, "ls-files", "-z", "-c", "-o",
                "--exclude-standard"], capture_output=True,
               check=True).stdout.split(b"\0")
    for rel in files:
        if not rel:
            continue
        rel = rel.decode()
        src = os.path.join(TOP, rel)
        if not os.path.isfile(src) and not os.path.islink(src):
            continue                    # deleted but still tracked
        out = os.path.join(dst, rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        if os.path.exists(out):
            with open(src, "rb") as a, open(out, "rb") as b:
                if a.read() == b.read():
                    continue            # unchanged: keep its build
        shutil.copy2(src, out)


def build(tree, bdir, jobs, log):
    if not os.path.exists(os.path.join(bdir, "CMakeCache.txt")):
        r = sh(["cmake", "-S", tree, "-B", bdir, "-DCMAKE_BUILD_TYPE=Debug",
                "-DSATFS_SANITIZE=ON", "-DSATFS_WERROR=ON"],
               stdout=log, stderr=subprocess.STDOUT)
        if r.returncode:
            return False
    r = sh(["nice", "cmake", "--build", bdir, "-j", str(jobs)],
           stdout=log, stderr=subprocess.STDOUT)
    return r.returncode == 0


def test_numbers(bdir, regexes):
    """ctest's numbers of the tests whose names match one of regexes
    (Python regular expressions, searched): a union CMake's own regular
    expressions cannot express (they allow few groups)."""
    out = sh(["ctest", "--test-dir", bdir, "-N"], capture_output=True,
             check=True).stdout.decode()
    nums = []
    for num, name in re.findall(r"Test +#(\d+): (\S+)", out):
        if any(re.search(r, name) for r in regexes):
            nums.append(num)
    return nums


def ctest(bdir, regexes, jobs, timeout, log):
    """Runs the tests matching any of regexes, or the whole suite but the
    benchmark for None (the samples fixture comes with the mount tests);
    returns (ran, failed names)."""
    failed_log = os.path.join(bdir, "Testing", "Temporary",
                              "LastTestsFailed.log")
    if os.path.exists(failed_log):
        os.unlink(failed_log)
    args = ["nice", "ctest", "--test-dir", bdir, "-j", str(jobs),
            "--timeout", str(timeout), "--output-on-failure"]
    if regexes is None:
        args += ["-LE", "bench"]
    else:
        nums = test_numbers(bdir, regexes)
        if not nums:
            return 0, []
        args += ["-I", "0,0,0," + ",".join(nums)]
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:halt_on_error=1",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    r = sh(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    out = r.stdout.decode(errors="replace")
    log.write(r.stdout)
    log.flush()
    m = re.search(r"tests passed, (\d+) tests failed out of (\d+)", out)
    ran = int(m.group(2)) if m else 0
    failed = []
    if os.path.exists(failed_log):
        for line in open(failed_log):
            name = line.strip().split(":", 1)[-1]
            if name and name != "samples":
                failed.append(name)
    return ran, failed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("ids", nargs="*")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--all-tests", action="store_true")
    ap.add_argument("--scratch")
    ap.add_argument("--samples")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=300)
    a = ap.parse_args()

    muts = [m for m in MUTATIONS if not a.ids or m["id"] in a.ids]
    unknown = set(a.ids) - {m["id"] for m in MUTATIONS}
    if unknown:
        sys.exit("unknown mutation(s): %s" % ", ".join(sorted(unknown)))
    if a.list:
        for m in MUTATIONS:
            print("%-40s %-18s %s" % (m["id"], m["file"], m["why"]))
        return 0
    if a.check:
        stale = 0
        for m in muts:
            n = open(os.path.join(TOP, m["file"])).read().count(m["find"])
            if n != 1:
                stale += 1
                print("stale: %s: its text occurs %d times in %s"
                      % (m["id"], n, m["file"]))
        print("%d mutations, %d stale" % (len(muts), stale))
        return 1 if stale else 0

    scratch = a.scratch or tempfile.mkdtemp(prefix="satfs-mutate-")
    tree = os.path.join(scratch, "src")
    bdir = os.path.join(scratch, "build")
    os.makedirs(tree, exist_ok=True)
    logpath = os.path.join(scratch, "mutate.log")
    log = open(logpath, "ab")
    print("scratch %s (log: %s)" % (scratch, logpath), flush=True)
    copy_tree(tree)
    samples = a.samples or os.path.join(TOP, "build-test", "samples")
    os.makedirs(bdir, exist_ok=True)
    link = os.path.join(bdir, "samples")
    if os.path.isdir(os.path.join(samples, "items")) and \
            not os.path.exists(link):
        os.symlink(os.path.abspath(samples), link)

    regex_of = {m["id"]: (None if a.all_tests else [m["tests"]])
                for m in muts}
    t0 = time.time()
    if not build(tree, bdir, a.jobs, log):
        print("the unmutated tree does not build; see %s" % logpath)
        return 2
    baseline = None if a.all_tests else [m["tests"] for m in muts]
    ran, failed = ctest(bdir, baseline, a.jobs, a.timeout, log)
    print("baseline: %d tests, %d failed (%.0f s)" %
          (ran, len(failed), time.time() - t0), flush=True)
    if failed or ran == 0:
        print("  failing without a mutation: %s" % " ".join(failed))
        return 2

    results = []
    for m in muts:
        path = os.path.join(tree, m["file"])
        text = open(path).read()
        t1 = time.time()
        n = text.count(m["find"])
        if n != 1:
            res = ("stale", "text found %d times in %s" % (n, m["file"]))
        else:
            log.write(("\n=== %s\n" % m["id"]).encode())
            with open(path, "w") as f:
                f.write(text.replace(m["find"], m["replace"]))
            try:
                if not build(tree, bdir, a.jobs, log):
                    res = ("no build", "")
                else:
                    ran, failed = ctest(bdir, regex_of[m["id"]], a.jobs,
                                        a.timeout, log)
                    if ran == 0:
                        res = ("no tests", "nothing matches %s" %
                               m["tests"])
                    else:
                        res = ("caught" if failed else "MISSED",
                               "%d of %d tests failed: %s" %
                               (len(failed), ran, " ".join(failed)))
            finally:
                with open(path, "w") as f:
                    f.write(text)
        results.append((m, res, time.time() - t1))
        print("%-8s %-40s %4.0f s  %s" % (res[0], m["id"], time.time() - t1,
                                         res[1]), flush=True)
    build(tree, bdir, a.jobs, log)     # leave the scratch build unmutated

    applied = [r for r in results if r[1][0] in ("caught", "MISSED")]
    caught = [r for r in applied if r[1][0] == "caught"]
    print("\ncaught %d of %d mutations (%s); %d stale, %d did not build, "
          "%d matched no test; %.0f s" % (
              len(caught), len(applied),
              "%.0f %%" % (100.0 * len(caught) / len(applied))
              if applied else "-",
              sum(r[1][0] == "stale" for r in results),
              sum(r[1][0] == "no build" for r in results),
              sum(r[1][0] == "no tests" for r in results),
              time.time() - t0))
    for m, res, _ in results:
        if res[0] == "MISSED":
            print("missed: %s (%s): %s" % (m["id"], m["file"], m["why"]))
    return 0 if len(caught) == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
