#!/usr/bin/env bash
# Reading files while the source misbehaves. The reference is the same
# region rendered first through a clean server (same server, so the hrefs
# recorded in the files are the same): with 20 % of the requests answered
# 503, a cp -r gives byte-identical files; truncated bodies are retried and
# the files are right; a corrupt COG (garbage, or cut to half its size)
# fails that file only, with EIO and one log line naming the file and the
# cause, while the rest of the mount reads fine; a later open tries again,
# and succeeds once the COG is repaired.
. "$(dirname "$0")/lib.sh"
need_fuse
S=$(samples_dir)
# A catalog of our own, so that COGs can be broken: the items copied, the
# COGs hard-linked (a broken one is replaced, never written through).
private_catalog "$T/cat"
start_server --catalog "$T/cat" --seed 4
write_region_config "$T/satfs.conf" small "-82.45, 8.37, -82.42, 8.40"
mnt() { mount_satfs -o config="$T/satfs.conf",cache="$T/cache-$1",prefetch="$2"; }

# faults_since FROM KIND [RANGE]: /cogs/ requests after line FROM that got
# fault KIND (RANGE "tile": only those not starting at byte 0)
faults_since() {
	tail -n +"$(($1 + 1))" "$SERVER_LOG" | python3 -c '
import json, sys
n = 0
for l in sys.stdin:
    r = json.loads(l)
    if r["fault"] != sys.argv[1] or not r["path"].startswith("/cogs/"):
        continue
    if sys.argv[2] == "tile" and (r["range"] or "").startswith("bytes=0-"):
        continue
    n += 1
print(n)' "$2" "${3:-any}"
}

# 1. the reference, fault-free
mnt ref 0
cp -r "$MNT/small" "$T/ref" || fail "reference cp -r"
unmount_satfs
nref=$(find "$T/ref" -name '*.tif' | wc -l)
[ "$nref" -ge 6 ] || fail "reference has only $nref files"

# 2. 20 % of the requests (catalog and COGs) answered 503
control '{"rate_503": 0.2}'
from=$(log_lines)
mnt 503 4
cp -r "$MNT/small" "$T/got503" || fail "cp -r with 503s"
unmount_satfs
diff -r "$T/ref" "$T/got503" >/dev/null || fail "files differ with 503s"
n=$(faults_since "$from" 503)
note "cp -r of $nref files with 20 % 503: $n COG requests answered 503, files identical"
[ "$n" -gt 0 ] || fail "no 503 was injected"

# 3. truncated bodies (tile answers cut in half) are retried
control '{"rate_503": 0, "rate_truncate": 0.25}'
from=$(log_lines)
mnt trunc 0
for f in $(cd "$T/ref" && find . -name '*.falsecolor.tif' | sort); do
	cmp -s "$MNT/small/$f" "$T/ref/$f" || fail "$f differs with truncated bodies"
done
unmount_satfs
n=$(faults_since "$from" truncate tile)
note "falsecolor files with 25 % truncated bodies: $n tile answers truncated, files identical"
[ "$n" -gt 0 ] || fail "no tile answer was truncated"
control '{"rate_truncate": 0}'

# 4. corrupt COGs: one scene's B04 is garbage, another's is cut to half
mapfile -t files < <(cd "$T/ref" && find . -name '*.falsecolor.tif' | sort)
bad1=${files[0]#./} bad2=${files[1]#./} good=${files[2]#./}
id1=$(basename "$bad1" .falsecolor.tif) id2=$(basename "$bad2" .falsecolor.tif)
b1=$T/cat/cogs/$id1/B04.tif b2=$T/cat/cogs/$id2/B04.tif
rm "$b1" "$b2"
python3 -c 'import random, sys
r = random.Random(1)
open(sys.argv[1], "wb").write(bytes(r.getrandbits(8) for _ in range(200000)))' "$b1"
head -c $(($(stat -c %s "$S/cogs/$id2/B04.tif") / 2)) "$S/cogs/$id2/B04.tif" >"$b2"
mnt bad 0
ls -lR "$MNT/small" >/dev/null
for f in "$bad1" "$bad2"; do
	if err=$(cat "$MNT/small/$f" 2>&1 >/dev/null); then
		fail "$f: read of a corrupt COG succeeded"
	fi
	case $err in
	*"Input/output error"*) ;;
	*) fail "$f: '$err', expected EIO" ;;
	esac
	name=$(basename "$f")
	lines=$(grep -ci "error.*${name%.tif}.*B04.tif" "$LOG" || true)
	note "$name: EIO; error lines naming it and B04.tif: $lines"
	[ "$lines" -eq 1 ] || { grep "${name%.tif}\|B04" "$LOG" >&2; fail "$f: $lines error lines name the file and its cause, expected 1"; }
done
# the rest of the mount carries on
cmp -s "$MNT/small/$good" "$T/ref/$good" || fail "$good differs next to a corrupt file"
cat "$MNT/small/${bad1%.falsecolor.tif}.json" >/dev/null || fail "json of the corrupt scene"
# a later open tries again (and fails again: the COGs are still broken)
from=$(log_lines)
cat "$MNT/small/$bad2" >/dev/null 2>&1 && fail "$bad2: second read succeeded"
[ "$(requests_since "$from" "/$id2/B04")" -gt 0 ] || fail "$bad2: second open did not try again"
# repaired (new bytes, new ETag): the next open renders the right file
rm "$b1" "$b2"
cp "$S/cogs/$id1/B04.tif" "$b1"
cp "$S/cogs/$id2/B04.tif" "$b2"
for f in "$bad1" "$bad2"; do
	cmp -s "$MNT/small/$f" "$T/ref/$f" || fail "$f differs after the COG was repaired"
done
unmount_satfs

# 5. a COG replaced by another, smaller one while its header sits in the
# cache (read above, with its ETag): the old tile offsets now lie past the
# end of the object. The next mount must not stick to the stale header:
# the first open may fail, a later one must render from the new COG.
id3=$(basename "$good" .falsecolor.tif)
b3=$T/cat/cogs/$id3/B04.tif
rm "$b3"
gdal_translate -q -of COG -co COMPRESS=DEFLATE -scale 0 65535 1500 1500 \
	"$S/cogs/$id3/B04.tif" "$b3" 2>/dev/null || fail "gdal_translate"
mnt bad 0
tc=${good%.falsecolor.tif}.truecolor.tif
ok=0
for try in 1 2; do
	if cp "$MNT/small/$tc" "$T/new.tif" 2>/dev/null; then
		ok=1
		break
	fi
done
note "COG replaced under its cached header: read ok on try $try ($ok)"
[ $ok -eq 1 ] || fail "$tc: still failing after the COG was replaced (stale header kept)"
python3 "$SRC/tests/integration/check_render.py" "$T/new.tif" \
	--region=-82.45,8.37,-82.42,8.37,-82.42,8.40,-82.45,8.40 \
	--bands "$b3,$S/cogs/$id3/B03.tif,$S/cogs/$id3/B02.tif" \
	--min 0 --max 3000 --gamma 1 --offset=-1000 ||
	fail "$tc differs from GDAL's rendering of the new COG"
unmount_satfs
echo "ok $TEST_NAME"
