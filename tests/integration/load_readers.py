#!/usr/bin/env python3
"""N threads reading random ranges of random files for S seconds.

    load_readers.py THREADS SECONDS FILE...

Every read is remembered as (file, offset, sha1 of the bytes); at the end
each file is read whole once more and every remembered read must match
it (the files are immutable: a read during a render, by one of many
joiners, must give what a read afterwards gives). Prints one JSON line:
reads, bytes, errors by errno, mismatches, files.
"""
import errno
import hashlib
import json
import os
import random
import sys
import threading
import time

nthreads, secs = int(sys.argv[1]), float(sys.argv[2])
files = sys.argv[3:]
lock = threading.Lock()
seen = {}           # (file, off, len) -> sha1; protected by lock
stats = {"reads": 0, "bytes": 0, "opens": 0, "errors": {}}
stop = time.time() + secs


def reader(seed):
    rng = random.Random(seed)
    while time.time() < stop:
        f = rng.choice(files)
        try:
            fd = os.open(f, os.O_RDONLY)
        except OSError as e:
            with lock:
                n = errno.errorcode.get(e.errno, str(e.errno))
                stats["errors"][n] = stats["errors"].get(n, 0) + 1
            continue
        try:
            size = os.fstat(fd).st_size
            for _ in range(rng.randint(1, 4)):
                off = rng.randrange(0, max(1, size))
                n = rng.choice((1, 512, 4096, 65536, 300000))
                data = os.pread(fd, n, off)
                h = hashlib.sha1(data).hexdigest()
                with lock:
                    stats["reads"] += 1
                    stats["bytes"] += len(data)
                    if len(seen) < 200000:
                        seen[(f, off, n)] = h
        except OSError as e:
            with lock:
                n = errno.errorcode.get(e.errno, str(e.errno))
                stats["errors"][n] = stats["errors"].get(n, 0) + 1
        finally:
            os.close(fd)
        with lock:
            stats["opens"] += 1


threads = [threading.Thread(target=reader, args=(i,)) for i in range(nthreads)]
for t in threads:
    t.start()
for t in threads:
    t.join()
whole = {}
for f in files:
    with open(f, "rb") as fh:
        whole[f] = fh.read()
bad = 0
for (f, off, n), h in seen.items():
    if hashlib.sha1(whole[f][off:off + n]).hexdigest() != h:
        bad += 1
stats.update(mismatches=bad, checked=len(seen), files=len(files))
print(json.dumps(stats))
