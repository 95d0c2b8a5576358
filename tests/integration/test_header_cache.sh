#!/usr/bin/env bash
# A damaged COG header cache (a crash, a full disk, a stray write) is
# dropped and fetched again, never read past its end or trusted.
#
# One mount renders single-band products to learn which file under
# CACHE/headers holds which band's header, and falsecolor and truecolor
# of the same scene as references (cold renders). Rendered files are then
# removed and three header files damaged: B08's overwritten with garbage,
# B04's cut short by 100 bytes, B03's first line (the one with the
# length) cut off; B02's is left alone. A second mount on the same cache
# renders falsecolor (B08, B04, B03) again: each damaged header is
# fetched again from byte 0 (the fixture server's log), once; the file is
# byte-identical to the reference; one warning per damaged entry names
# it. truecolor (B04, B03, B02) then costs no header read at all: the
# repaired ones are known and B02's came from the disk. The daemon exits
# cleanly, without a sanitizer report, and the entries on disk are again
# what they were before the damage.
. "$(dirname "$0")/lib.sh"
need_fuse
need_program getfattr attr
S=$(samples_dir)
start_server --catalog "$S"
write_region_config "$T/satfs.conf" tiny "-82.445, 8.39, -82.43, 8.402"
for p in nir:B8 red:B4 green:B3 blue:B2; do
	cat >>"$T/satfs.conf" <<EOC

[product ${p%%:*}]
bands = ${p#*:}
min = 0
max = 4000
EOC
done
OPTS=config="$T/satfs.conf",cache="$CACHE",prefetch=0
H=$CACHE/headers

headers() { find "$H" -type f -printf '%f\n' 2>/dev/null | sort; }

# 1. a clean cache: which header file is whose, and the references
mount_satfs -o "$OPTS"
date=$(ls "$MNT/tiny" | head -1)
[ -n "$date" ] || fail "no date in region tiny"
id=$(basename "$(ls "$MNT/tiny/$date"/*.json | head -1)" .json)
D=$MNT/tiny/$date
# the listing counts the region cloud cover of the date's scenes in the
# background, reading their SCL headers: wait for those first
for f in "$D"/*.nir.tif; do
	getfattr --absolute-names -n user.satfs.cloud "$f" >/dev/null ||
		fail "user.satfs.cloud of $f"
done
declare -A key
for p in nir:B08 red:B04 green:B03 blue:B02; do
	before=$(headers)
	cat "$D/$id.${p%%:*}.tif" >/dev/null || fail "render $id.${p%%:*}.tif"
	new=$(comm -13 <(echo "$before") <(headers))
	[ "$(echo "$new" | grep -c .)" -eq 1 ] ||
		fail "${p%%:*}: expected one new header file, got '$new'"
	key[${p#*:}]=$new
done
for p in falsecolor truecolor; do
	cp "$D/$id.$p.tif" "$T/ref.$p.tif" || fail "render $id.$p.tif"
done
unmount_satfs

# 2. damage
rm -rf "$CACHE/files"
mkdir "$T/orig"
cp "$H"/* "$T/orig/"
python3 - "$H/${key[B08]}" "$H/${key[B04]}" "$H/${key[B03]}" <<'PY'
import os, random, sys
garbage, short, noline = sys.argv[1:4]
n = os.path.getsize(garbage)
with open(garbage, "wb") as f:            # garbage, same length
    f.write(bytes(random.Random(7).getrandbits(8) for _ in range(n)))
with open(short, "r+b") as f:             # cut short
    f.truncate(os.path.getsize(short) - 100)
data = open(noline, "rb").read()          # the length line cut off
with open(noline, "wb") as f:
    f.write(data[data.index(b"\n") + 1:])
PY

# 3. the same cache again
header_reads() { # FROM BAND: requests for the scene's BAND from byte 0
	tail -n +"$(($1 + 1))" "$SERVER_LOG" | python3 -c '
import json, sys
path = "/cogs/%s/%s.tif" % (sys.argv[1], sys.argv[2])
print(sum(1 for l in sys.stdin if l.strip() and json.loads(l)["path"] == path
          and (json.loads(l)["range"] or "bytes=0-").startswith("bytes=0-")))' "$id" "$2"
}
log0=$(wc -l <"$LOG")
mount_satfs -o "$OPTS"
from=$(log_lines)
cp "$D/$id.falsecolor.tif" "$T/falsecolor.tif" ||
	fail "falsecolor with damaged headers: $(tail -3 "$LOG")"
cmp -s "$T/falsecolor.tif" "$T/ref.falsecolor.tif" ||
	fail "falsecolor differs from the clean render"
for b in B08 B04 B03; do
	n=$(header_reads "$from" "$b")
	[ "$n" -eq 1 ] || fail "$b: damaged header read $n times, want 1"
done
[ "$(header_reads "$from" B02)" -eq 0 ] || fail "B02 read by falsecolor"
for b in B08 B04 B03; do
	n=$(tail -n +"$((log0 + 1))" "$LOG" | grep -c "warning: .*${key[$b]%.*}" || true)
	[ "$n" -eq 1 ] || fail "$b: $n warnings naming ${key[$b]%.*}, want 1"
done
[ "$(tail -n +"$((log0 + 1))" "$LOG" | grep -c 'warning: ')" -eq 3 ] ||
	fail "other warnings: $(tail -n +"$((log0 + 1))" "$LOG" | grep 'warning: ')"
from=$(log_lines)
cp "$D/$id.truecolor.tif" "$T/truecolor.tif" || fail "truecolor"
cmp -s "$T/truecolor.tif" "$T/ref.truecolor.tif" ||
	fail "truecolor differs from the clean render"
for b in B04 B03 B02; do
	n=$(header_reads "$from" "$b")
	[ "$n" -eq 0 ] || fail "$b: header read $n times for truecolor, want 0"
done
[ "$(requests_since "$from" "^/cogs/$id/")" -gt 0 ] ||
	fail "truecolor was not rendered again (no tile read)"
unmount_satfs
# the entries fetched again replaced the damaged ones, as they were
for b in B08 B04 B03 B02; do
	cmp -s "$H/${key[$b]}" "$T/orig/${key[$b]}" ||
		fail "$b: header entry not as it was before the damage"
done
note "3 damaged header entries dropped and fetched again, 1 kept"
echo "ok $TEST_NAME"
