#!/usr/bin/env python3
"""Checks that tests/data holds the recorded files unchanged.

    python3 tests/data/verify.py [DIR]        (default: this file's directory)
    python3 tests/data/verify.py --self-test  damages copies; each must fail

The recorded data is cog/ and stac/; every file there must be accounted
for, and match what its source recorded:
  cog/<scene>/   each file listed in the scene's SHA256SUMS, with that hash;
                 no file there that the list does not name
  stac/          each body listed in PROVENANCE.json with its recorded size
                 and sha256; each X.request.json equal (as JSON) to the
                 "request" PROVENANCE.json records for X.json
  DIR itself     no file but README.md and this script
Other directories (cog-variants/, which the project makes itself with its
make.sh) are not recorded data and are not checked here.
Prints one line per problem ("FAIL data: PATH: what") and exits 1, or
"ok: N files verified" and exits 0.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
OWN_FILES = {"README.md", "verify.py"}
RECORDED = ("cog", "stac")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_scene(root, scene, problems, seen):
    rel = os.path.join("cog", scene)
    sums = os.path.join(root, rel, "SHA256SUMS")
    if not os.path.isfile(sums):
        problems.append("%s: no SHA256SUMS" % rel)
        return
    seen.add(os.path.join(rel, "SHA256SUMS"))
    listed = set()
    with open(sums) as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if len(parts) != 2 or len(parts[0]) != 64:
                problems.append("%s/SHA256SUMS:%d: not 'HASH  NAME'" %
                                (rel, n))
                continue
            want, name = parts[0], parts[1].lstrip("*")
            path = os.path.join(rel, name)
            listed.add(name)
            if not os.path.isfile(os.path.join(root, path)):
                problems.append("%s: missing" % path)
                continue
            seen.add(path)
            if sha256(os.path.join(root, path)) != want:
                problems.append("%s: sha256 differs from SHA256SUMS" % path)
    if not listed:
        problems.append("%s/SHA256SUMS: lists nothing" % rel)


def check_stac(root, problems, seen):
    prov_path = os.path.join(root, "stac", "PROVENANCE.json")
    try:
        with open(prov_path) as f:
            prov = json.load(f)
    except (OSError, ValueError) as e:
        problems.append("stac/PROVENANCE.json: %s" % e)
        return
    seen.add(os.path.join("stac", "PROVENANCE.json"))
    if not prov:
        problems.append("stac/PROVENANCE.json: lists nothing")
    for rel, rec in sorted(prov.items()):
        path = os.path.join(root, rel)
        if not os.path.isfile(path):
            problems.append("%s: missing" % rel)
            continue
        seen.add(rel)
        size = os.path.getsize(path)
        if size != rec.get("bytes"):
            problems.append("%s: %d bytes, PROVENANCE.json says %s" %
                            (rel, size, rec.get("bytes")))
        if sha256(path) != rec.get("sha256"):
            problems.append("%s: sha256 differs from PROVENANCE.json" % rel)
        if "request" not in rec:
            continue
        req_rel = rel[:-len(".json")] + ".request.json"
        try:
            with open(os.path.join(root, req_rel)) as f:
                req = json.load(f)
        except (OSError, ValueError) as e:
            problems.append("%s: %s" % (req_rel, e))
            continue
        seen.add(req_rel)
        if req != rec["request"]:
            problems.append("%s: differs from the request PROVENANCE.json "
                            "records" % req_rel)


def verify(root):
    problems, seen = [], set()
    cog = os.path.join(root, "cog")
    scenes = sorted(os.listdir(cog)) if os.path.isdir(cog) else []
    if not scenes:
        problems.append("cog: no scene")
    for scene in scenes:
        check_scene(root, scene, problems, seen)
    check_stac(root, problems, seen)
    every = {n for n in os.listdir(root)
             if os.path.isfile(os.path.join(root, n))}
    for top in RECORDED:
        for d, dirs, files in os.walk(os.path.join(root, top)):
            for name in files:
                every.add(os.path.relpath(os.path.join(d, name), root))
    for rel in sorted(every - seen - OWN_FILES):
        problems.append("%s: not accounted for (no checksum or "
                        "provenance lists it)" % rel)
    return problems, len(seen)


def self_test():
    """Each kind of damage to a copy of the data must be reported."""
    damages = {
        "one byte of a COG changed": lambda d: flip(
            os.path.join(d, "cog", first_scene(d), "B04.tif"), 70000),
        "a recorded body changed": lambda d: flip(
            os.path.join(d, "stac", "earthsearch_v1_landing.json"), 10),
        "a request recording changed": lambda d: rewrite_json(
            os.path.join(d, "stac", "earthsearch_v1_landing.request.json")),
        "a COG removed": lambda d: os.unlink(
            os.path.join(d, "cog", first_scene(d), "SCL.tif")),
        "an unlisted file added": lambda d: open(
            os.path.join(d, "stac", "extra.json"), "w").write("{}"),
        "an unlisted file beside the data": lambda d: open(
            os.path.join(d, "extra.json"), "w").write("{}"),
    }
    failed = 0
    for what, damage in damages.items():
        tmp = tempfile.mkdtemp(prefix="satfs-data-")
        try:
            copy = os.path.join(tmp, "data")
            os.mkdir(copy)
            for n in OWN_FILES:
                shutil.copy(os.path.join(HERE, n), copy)
            for top in RECORDED:
                shutil.copytree(os.path.join(HERE, top),
                                os.path.join(copy, top))
            damage(copy)
            r = subprocess.run([sys.executable, __file__, copy],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
            if r.returncode == 0:
                print("FAIL self-test: not caught: %s" % what)
                failed += 1
            else:
                print("ok: caught: %s (%s)" % (
                    what, r.stdout.decode().splitlines()[0]))
        finally:
            shutil.rmtree(tmp)
    return 1 if failed else 0


def first_scene(d):
    return sorted(os.listdir(os.path.join(d, "cog")))[0]


def flip(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x01]))


def rewrite_json(path):
    with open(path) as f:
        d = json.load(f)
    d["method"] = "PUT"
    with open(path, "w") as f:
        json.dump(d, f)


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = sys.argv[1] if len(sys.argv) > 1 else HERE
    problems, n = verify(root)
    for p in problems:
        print("FAIL data: %s" % p)
    if problems:
        return 1
    print("ok: %d files verified" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
