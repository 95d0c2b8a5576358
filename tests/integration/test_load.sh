#!/usr/bin/env bash
# Load: LOAD_READERS (200) threads read random ranges of 50 files for
# LOAD_SECONDS (CI: 25; docs/RELIABILITY.md: 60), starting on a cold cache
# so that renders run while everyone reads. No read fails, every read
# matches the file read whole afterwards, the daemon's peak memory (VmHWM)
# stays bounded, and the unmount is clean: under ASan/UBSan (the normal
# build) LeakSanitizer reports at exit; scripts/test runs this test again
# with the ThreadSanitizer build, where lib.sh fails on any race report.
. "$(dirname "$0")/lib.sh"
need_fuse
S=$(samples_dir)
READERS=${LOAD_READERS:-200}
SECS=${LOAD_SECONDS:-25}
start_server --catalog "$S" --latency-ms 5
# Five regions of twelve rendered files each (5 scenes x 2 products, and
# the mosaics of the date two scenes share).
cat >"$T/satfs.conf" <<EOC
[source]
stac = $BASE
dates = 2024-01-01 .. 2024-07-31
EOC
for i in 0 1 2 3 4; do
	printf '\n[region r%s]\nbbox = -82.44%s, 8.39, -82.43, 8.402\n' $i $((5 + i)) >>"$T/satfs.conf"
done
mount_satfs -o config="$T/satfs.conf",cache="$CACHE",prefetch=4,products=falsecolor:truecolor
find "$MNT" -name '*.tif' | sort >"$T/files"
nfiles=$(wc -l <"$T/files")
[ "$nfiles" = 60 ] || fail "$nfiles files instead of 60"
hwm0=$(awk '/VmHWM/ { print $2 }' "/proc/$SATFS_PID/status")
mapfile -t files <"$T/files"
python3 "$SRC/tests/integration/load_readers.py" "$READERS" "$SECS" \
	"${files[@]}" >"$T/load.json" || fail "the readers failed"
hwm1=$(awk '/VmHWM/ { print $2 }' "/proc/$SATFS_PID/status")
threads=$(awk '/Threads/ { print $2 }' "/proc/$SATFS_PID/status")
fds=$(ls "/proc/$SATFS_PID/fd" | wc -l)
python3 - "$T/load.json" <<'PY' || fail "load: $(cat "$T/load.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["reads"] > 1000, "only %d reads" % s["reads"]
assert not s["errors"], s["errors"]
assert s["mismatches"] == 0, s["mismatches"]
PY
# Memory is bounded by design (no per-reader buffers; the cache is on
# disk): 200 readers must not cost more than 1 GiB over the idle daemon
# (ASan's shadow and quarantine included).
[ $((hwm1 - hwm0)) -lt $((1024 * 1024)) ] ||
	fail "VmHWM grew from $hwm0 to $hwm1 kB under load"
note "load: $READERS readers x ${SECS}s over $nfiles files: $(cat "$T/load.json"); VmHWM $hwm0 -> $hwm1 kB; $threads threads, $fds fds"
unmount_satfs
