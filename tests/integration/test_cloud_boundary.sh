#!/usr/bin/env bash
# The cloud filter at its boundary: max_cloud keeps scenes whose
# eo:cloud_cover is strictly below it. Five scenes, one date each, around
# max_cloud = 37.5 (a value no sample has): 0, 37.499, 37.5, 37.501, 99.
# The same two dates (0 and 37.499) are listed, and nothing of the three
# others appears, whether the server filters with the query extension,
# with CQL2, or ignores filters altogether (then our own check is all
# there is); the search sent says "lt" 37.5 each time.
. "$(dirname "$0")/lib.sh"
# (pictures=off: a region lists only its dates here; the quicklooks,
# time-lapses and pages are test_pictures.sh's subject)
need_fuse
S=$(samples_dir)
mkdir -p "$T/cat/items"
cp -al "$S/cogs" "$T/cat/cogs" 2>/dev/null || cp -r "$S/cogs" "$T/cat/cogs"
MAXC=37.5
python3 - "$S/items/S2B_17PMK_20240222_0_L2A.json" "$T/cat/items" <<'PY'
import copy, json, os, sys
src = json.load(open(sys.argv[1]))
for day, cc in ((1, 0), (2, 37.499), (3, 37.5), (4, 37.501), (5, 99)):
    it = copy.deepcopy(src)       # hrefs still name the source's COGs
    it["id"] = "S2B_17PMK_202403%02d_0_L2A" % day
    it["properties"]["datetime"] = "2024-03-%02dT15:52:14.197Z" % day
    it["properties"]["eo:cloud_cover"] = cc
    with open(os.path.join(sys.argv[2], it["id"] + ".json"), "w") as f:
        json.dump(it, f)
PY
WANT=$(printf '2024-03-01\n2024-03-02')

n=0
for mode in query cql2 ignore-query; do
	n=$((n + 1))
	case $mode in
	query) start_server --catalog "$T/cat" ;;
	cql2) start_server --catalog "$T/cat" --cql2 ;;
	ignore-query) start_server --catalog "$T/cat" --ignore-query ;;
	esac
	write_config "$T/satfs.conf"
	sed -i "s/^max_cloud = .*/max_cloud = $MAXC/" "$T/satfs.conf"
	mount_satfs -o pictures=off,config="$T/satfs.conf",cache="$T/cache.$n"
	got=$(ls "$MNT/david")
	[ "$got" = "$WANT" ] ||
		fail "$mode: dates '$(echo "$got" | tr '\n' ' ')', want '$(echo "$WANT" | tr '\n' ' ')'"
	ls "$MNT/david"/* >"$T/files" || fail "$mode: ls of the dates"
	for d in 03 04 05; do
		! grep -q "202403${d}_0_L2A" "$T/files" ||
			fail "$mode: the scene of 2024-03-$d is listed"
		[ ! -e "$MNT/david/2024-03-$d" ] || fail "$mode: 2024-03-$d exists"
	done
	[ "$(grep -c '\.json$' "$T/files")" -eq 2 ] || fail "$mode: $(cat "$T/files")"
	# what the search asked for: below 37.5, in the form the server offers
	python3 - "$SERVER_LOG" "$mode" "$MAXC" <<'PY' || fail "$mode: search body"
import json, sys
log, mode, maxc = sys.argv[1], sys.argv[2], float(sys.argv[3])
b = [json.loads(json.loads(l)["body"]) for l in open(log)
     if json.loads(l)["path"] == "/search"][0]
assert b["query"]["eo:cloud_cover"] == {"lt": maxc}, b
if mode == "cql2":
    args = b["filter"]["args"]
    assert {"op": "<", "args": [{"property": "eo:cloud_cover"}, maxc]} in \
        args or b["filter"] == {"op": "<", "args": [
            {"property": "eo:cloud_cover"}, maxc]}, b["filter"]
PY
	unmount_satfs
	kill "${SERVER_PID##* }"
	note "$mode: kept 0 and 37.499, dropped 37.5, 37.501 and 99 (max_cloud $MAXC)"
done
echo "ok $TEST_NAME"
