#!/usr/bin/env bash
# What reading a file costs, counted in the fixture server's request log:
# a cold 3-band render makes one header read per band (from byte 0; one
# more only where a header is longer than 16 KiB) and then one request per
# run of tiles, the expected numbers computed here independently from the
# sample COGs and the output grid (expected_requests.py); two readers of
# the same uncached file at once cost one render and get the same bytes; a
# warm read costs nothing; a remount of the same cache costs nothing for
# the listing and the rendered files; -o offline serves them with the
# server stopped.
. "$(dirname "$0")/lib.sh"
need_fuse
S=$(samples_dir)
# A catalog of our own (items copied, COGs hard-linked), so that one COG
# can be replaced by one with a header longer than the first read.
private_catalog "$T/cat"
start_server --catalog "$T/cat"
write_config "$T/satfs.conf"
cat >>"$T/satfs.conf" <<EOC

[region small]
bbox = -82.45, 8.37, -82.42, 8.40
dates = 2024-01-01 .. 2024-07-31
EOC
mount_satfs -o config="$T/satfs.conf",cache="$CACHE",prefetch=0

# cog_requests FROM EXPECTED_JSON: checks the /cogs/ requests logged after
# line FROM against what expected_requests.py computed; prints
# "headers tiles".
cog_requests() {
	tail -n +"$(($1 + 1))" "$SERVER_LOG" | python3 -c '
import json, re, sys
exp = json.loads(sys.argv[1])
want = {k: v for k, v in exp["tile_ranges"].items()}
hdr = {p["band"]: p["header_bytes"] for p in exp["per_band"]}
heads = tiles = zero = 0
got = {}
for line in sys.stdin:
    r = json.loads(line)
    if not r["path"].startswith("/cogs/"):
        sys.exit("unexpected request %s %s" % (r["method"], r["path"]))
    band = r["path"][len("/cogs/"):]
    if band.endswith("/SCL.tif"):
        continue  # the region cloud cover: counted ahead, or for the tags
    if band not in want:
        sys.exit("request for a band the render does not use: " + band)
    if r["status"] != 206 or r["fault"]:
        sys.exit("not a clean range answer: %r" % r)
    m = re.fullmatch(r"bytes=(\d+)-(\d+)", r["range"] or "")
    if not m:
        sys.exit("not a single range: %r" % r["range"])
    a, b = int(m.group(1)), int(m.group(2))
    zero += a == 0
    if a < hdr[band]:
        heads += 1 # the first read, or the rest of a long header
    else:
        tiles += 1
        got.setdefault(band, []).append((a, b + 1))
for band, rs in want.items():
    for o, n in rs:
        if not any(a <= o and o + n <= b for a, b in got.get(band, [])):
            sys.exit("tile bytes %d+%d of %s never fetched" % (o, n, band))
if zero != len(want):
    sys.exit("%d reads from byte 0 for %d bands" % (zero, len(want)))
print(heads, tiles)' "$2"
}

# expect_cold FROM FILE COPY BANDS...: FILE (already copied to COPY) cost
# exactly the header reads and tile runs computed for its bands.
expect_cold() {
	local from=$1 f=$2 copy=$3 exp got
	shift 3
	exp=$(python3 "$SRC/tests/integration/expected_requests.py" "$copy" "$@")
	got=$(cog_requests "$from" "$exp") || fail "$f: $got"
	want=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["headers"], d["tiles"])' "$exp")
	note "$(basename "$f"): headers+tile runs: got $got, expected $want"
	[ "$got" = "$want" ] || fail "$f: requests (headers, tile runs) $got, expected $want"
	[ "$(stat -c %s "$copy")" = "$(stat -c %s "$f")" ] ||
		fail "$f: size differs from stat"
}

dates=$(ls "$MNT/david" | grep "^[0-9]") # (not index.html, timelapse.*.gif)
ids=()
for d in $dates; do
	for j in "$MNT/david/$d"/*.json; do
		ids+=("$d/$(basename "$j" .json)")
	done
done
[ ${#ids[@]} -ge 4 ] || fail "need 4 scenes, have ${#ids[@]}"
fc() { echo "$S/cogs/$(basename "$1")/B08.tif $S/cogs/$(basename "$1")/B04.tif $S/cogs/$(basename "$1")/B03.tif"; }
tc() { echo "$S/cogs/$(basename "$1")/B04.tif $S/cogs/$(basename "$1")/B03.tif $S/cogs/$(basename "$1")/B02.tif"; }

# 1. cold renders: falsecolor (1024-px tiles: one run per band) and
# truecolor of another scene (B02 has 512-px tiles: several runs)
F1=$MNT/david/${ids[0]}.falsecolor.tif
from=$(log_lines)
cp "$F1" "$T/f1.tif" || fail "cp $F1"
# shellcheck disable=SC2046
expect_cold "$from" "$F1" "$T/f1.tif" $(fc "${ids[0]}")
# (a scene where B02's tiles are not all in one run, if there is one:
# every scene of the region has the same output grid as F1)
i2=1
for i in $(seq 1 $((${#ids[@]} - 2))); do # the last one is for 1b
	# shellcheck disable=SC2046
	runs=$(python3 "$SRC/tests/integration/expected_requests.py" \
		"$T/f1.tif" $(tc "${ids[$i]}") |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["tiles"])')
	if [ "$runs" -gt 3 ]; then
		i2=$i
		break
	fi
done
F2=$MNT/david/${ids[$i2]}.truecolor.tif
from=$(log_lines)
cp "$F2" "$T/f2.tif" || fail "cp $F2"
# shellcheck disable=SC2046
expect_cold "$from" "$F2" "$T/f2.tif" $(tc "${ids[$i2]}")

# 1b. a header longer than 16 KiB costs one more read: the last scene's
# B08 rewritten as a BigTIFF COG with 32-px tiles (a 26 KB header, and
# many small tiles in runs); the pixels are the same, checked with GDAL
L=${ids[${#ids[@]} - 1]}
lid=$(basename "$L")
big=$T/cat/cogs/$lid/B08.tif
rm "$big"
gdal_translate -q -of COG -co BLOCKSIZE=32 -co BIGTIFF=YES \
	-co COMPRESS=DEFLATE -co PREDICTOR=2 "$S/cogs/$lid/B08.tif" "$big" 2>/dev/null ||
	fail "gdal_translate"
F5=$MNT/small/$L.falsecolor.tif # (a small region: GDAL's check is quicker)
ls -l "$MNT/small/$(dirname "$L")" >/dev/null # (its listing is not counted)
from=$(log_lines)
cp "$F5" "$T/f5.tif" || fail "cp $F5"
expect_cold "$from" "$F5" "$T/f5.tif" "$big" "$S/cogs/$lid/B04.tif" "$S/cogs/$lid/B03.tif"
hb=$(python3 "$SRC/tests/integration/expected_requests.py" "$T/f5.tif" "$big" |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["headers"])')
[ "$hb" -eq 2 ] || fail "the rewritten B08's header fits in the first read"
python3 "$SRC/tests/integration/check_render.py" "$T/f5.tif" \
	--region=-82.45,8.37,-82.42,8.37,-82.42,8.40,-82.45,8.40 \
	--bands "$big,$S/cogs/$lid/B04.tif,$S/cogs/$lid/B03.tif" \
	--min 0 --max 5000 --gamma 1.35 --offset=-1000 ||
	fail "$F5 (32-px BigTIFF B08) differs from GDAL's rendering"

# 2. two readers of one uncached file at once: one render, same bytes
i3=$(( i2 == 1 ? 2 : 1 ))
F3=$MNT/david/${ids[$i3]}.falsecolor.tif
from=$(log_lines)
cat "$F3" >"$T/r1.tif" & p1=$!
cat "$F3" >"$T/r2.tif" & p2=$!
wait $p1 || fail "reader 1 of $F3"
wait $p2 || fail "reader 2 of $F3"
cmp -s "$T/r1.tif" "$T/r2.tif" || fail "two readers got different bytes"
# shellcheck disable=SC2046
expect_cold "$from" "$F3" "$T/r1.tif" $(fc "${ids[$i3]}")

# 3. a warm read costs nothing
from=$(log_lines)
cmp -s "$F1" "$T/f1.tif" || fail "warm read of $F1 differs"
cmp -s "$F2" "$T/f2.tif" || fail "warm read of $F2 differs"
n=$(requests_since "$from")
note "warm reads: $n requests"
[ "$n" -eq 0 ] || fail "warm reads cost $n requests"
unmount_satfs

# 4. a remount of the same cache: the listing and the rendered files
# come from the disk
from=$(log_lines)
mount_satfs -o config="$T/satfs.conf",cache="$CACHE",prefetch=0
[ "$(ls "$MNT/david" | grep "^[0-9]")" = "$dates" ] || fail "remount lists other dates"
ls -lR "$MNT/david" >/dev/null || fail "ls -lR after remount"
cmp -s "$F1" "$T/f1.tif" || fail "$F1 differs after remount"
cmp -s "$F2" "$T/f2.tif" || fail "$F2 differs after remount"
cmp -s "$F3" "$T/r1.tif" || fail "$F3 differs after remount"
n=$(requests_since "$from")
note "remount, listing and 3 rendered files: $n requests"
# one: the landing page, tried at mount so that an unreachable catalog
# is said at once (issue 13); nothing else
[ "$n" -eq 1 ] || fail "remount cost $n requests, want 1"
[ "$(requests_since "$from" '^/$')" -eq 1 ] || fail "the remount's request was not the landing page"
unmount_satfs

# 5. offline, server stopped: the cache alone serves the rendered files;
# one that was never rendered fails with EIO (and fast: no network)
kill $SERVER_PID
wait $SERVER_PID 2>/dev/null || true
SERVER_PID=
mount_satfs -o config="$T/satfs.conf",cache="$CACHE",offline
[ "$(ls "$MNT/david" | grep "^[0-9]")" = "$dates" ] || fail "offline mount lists other dates"
cmp -s "$F1" "$T/f1.tif" || fail "$F1 differs offline"
cmp -s "$F3" "$T/r1.tif" || fail "$F3 differs offline"
F4=$MNT/david/${ids[0]}.truecolor.tif
[ -e "$F4" ] || fail "$F4 not listed offline"
if err=$(cat "$F4" 2>&1 >/dev/null); then
	fail "offline read of an unrendered file succeeded"
fi
case $err in
*"Input/output error"*) ;;
*) fail "offline read of an unrendered file: '$err', expected EIO" ;;
esac
unmount_satfs
echo "ok $TEST_NAME"
