#!/usr/bin/env python3
"""The last line of scripts/test: every test that did not run, and why.

    python3 tests/skip_report.py [--skipped NAME=REASON]... [LABEL=]JUNIT...

Reads the JUnit files that `ctest --output-junit` wrote. A test that did
not run (skipped with exit status 77, disabled, or left out because a
fixture it needs failed) is listed with its reason: the last line its output
printed as "SKIP <name>: <reason>" (what lib.sh's skip(), satest_skip() and
scripts/bench --smoke print), else what ctest says. A LABEL prefixes the
names of its file's tests ("tsan:unit.fetch.retries"). --skipped adds a test
that ran outside ctest.

Prints one line, "satfs: skipped N of M tests: NAME (REASON), ..." or
"satfs: skipped 0 of M tests". Exits 1 when a file cannot be read, and
when anything was skipped under CI=true (where nothing may be); else 0.
"""

import os
import re
import sys
import xml.etree.ElementTree as ET

SKIP_LINE = re.compile(r"^SKIP [^:\s]+: (.+)$", re.M)


def reason_of(case):
    out = case.findtext("system-out") or ""
    said = SKIP_LINE.findall(out)
    if said:
        return said[-1].strip()
    el = case.find("skipped")
    msg = el.get("message") if el is not None else None
    if case.get("status") == "disabled":
        return "disabled"
    return msg or "did not run (no reason given)"


def main(argv):
    skipped, total, bad = [], 0, False
    args = argv[1:]
    while args and args[0] == "--skipped":
        name, _, why = args[1].partition("=")
        skipped.append((name, why or "no reason given"))
        total += 1
        args = args[2:]
    for arg in args:
        label, sep, path = arg.partition("=")
        if not sep:
            label, path = "", arg
        try:
            root = ET.parse(path).getroot()
        except (OSError, ET.ParseError) as e:
            print("satfs: cannot read the test report %s: %s" % (path, e))
            bad = True
            continue
        for case in root.iter("testcase"):
            total += 1
            if case.get("status") in ("notrun", "disabled"):
                name = case.get("name")
                skipped.append((label + ":" + name if label else name,
                                reason_of(case)))
    line = "satfs: skipped %d of %d tests" % (len(skipped), total)
    if skipped:
        line += ": " + ", ".join("%s (%s)" % s for s in skipped)
    print(line)
    if skipped and os.environ.get("CI") == "true":
        print("satfs: nothing may be skipped under CI=true")
        return 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
