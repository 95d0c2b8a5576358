#!/usr/bin/env bash
# When the catalog misbehaves: a 429 with Retry-After is waited out; 500s
# and stalls make that one readdir fail with EIO, logged once, and the
# mount keeps working; broken items are skipped with a warning each and
# odd ids become safe names; a page that is not JSON is EIO; a stale
# listing is served when the catalog is down; `offline` serves the cache.
. "$(dirname "$0")/lib.sh"
# (pictures=off: a region lists only its dates here; the quicklooks,
# time-lapses and pages are test_pictures.sh's subject)
need_fuse
S=$(samples_dir)
DAVID=-82.48,8.3508,-82.39,8.4408
WANT=$(expected_dates "$S" "$DAVID" 2024-01-01..2024-07-31 85)

# ctl JSON: lib.sh's control without a python start per call (bash's
# /dev/tcp; the answer must be 200)
ctl() {
	local body=$1 resp
	exec 3<>"/dev/tcp/127.0.0.1/${BASE##*:}"
	printf '%s\r\n' "POST /_control HTTP/1.1" "Host: 127.0.0.1" \
		"Content-Type: application/json" "Content-Length: ${#body}" \
		"Connection: close" "" >&3
	printf '%s' "$body" >&3
	resp=$(cat <&3)
	exec 3<&-
	[[ $resp == "HTTP/1.1 200"* ]] || fail "control $body: ${resp%%$'\r'*}"
}
# /search requests logged after line $1 (no python: polled)
nsearch_since() {
	tail -n +"$(($1 + 1))" "$SERVER_LOG" | grep -c '"path": "/search"' || true
}

# ad-hoc regions over david, each with its own dates (so its own search)
adhoc() { echo "bbox=$DAVID,$1"; }
want_for() { expected_dates "$S" "$DAVID" "$1" 85; }
# the request log entries after line $1 whose path ends in /search, as
# "status fault t" lines
searches_since() {
	tail -n +"$(($1 + 1))" "$SERVER_LOG" | python3 -c '
import json, sys
for l in sys.stdin:
    e = json.loads(l)
    if e["path"].endswith("/search"):
        print(e["status"], e["fault"], e["t"])'
}

# ---- A private catalog: the samples plus broken and odd items ----
CAT=$T/cat
mkdir -p "$CAT/items"
cp "$S"/items/*.json "$CAT/items/"
EVIL=$(printf 'S2X/../evil\007id_20240720')
python3 - "$CAT/items" "$EVIL" <<'PY'
import copy, json, os, sys
d, evil = sys.argv[1:]
base = json.load(open(os.path.join(d, "S2B_17PMK_20240103_0_L2A.json")))

def make(fname, iid, day, fix):
    it = copy.deepcopy(base)
    it["id"] = iid
    it["properties"]["datetime"] = day + "T15:52:14.123Z"
    fix(it)
    json.dump(it, open(os.path.join(d, fname), "w"))

def no_crs(it):
    for o in [it["properties"]] + list(it["assets"].values()):
        o.pop("proj:epsg", None)
        o.pop("proj:code", None)

make("bad1.json", "BAD_NOASSETS_20240705", "2024-07-05",
     lambda it: it.pop("assets"))
make("bad2.json", "BAD_NOCRS_20240710", "2024-07-10", no_crs)
make("bad3.json", "BAD_TYPES_20240715", "2024-07-15",
     lambda it: it.update(assets=list(it["assets"].values())))
make("evil.json", evil, "2024-07-20", lambda it: None)
# the same id again, same time, other content
dup = json.load(open(os.path.join(d, "S2B_17PMK_20240412_0_L2A.json")))
dup["properties"]["eo:cloud_cover"] = 40.0
json.dump(dup, open(os.path.join(d, "zz_dup.json"), "w"))
PY
EVIL_FILE=S2X_.._evil_id_20240720

start_server --catalog "$CAT"
SERVER_A=${SERVER_PID##* }
write_config "$T/satfs.conf"
mount_satfs -o pictures=off,config="$T/satfs.conf",cache="$CACHE",timeout=2

# Broken items skipped, one warning each; the odd id is a safe name.
got=$(ls "$MNT/david")
want=$(printf '%s\n2024-07-20' "$WANT")
[ "$got" = "$want" ] || fail "broken items: dates '$got', want '$want'"
for w in "skipping item BAD_NOASSETS_20240705: no assets" \
	"item BAD_NOCRS_20240710 skipped: unknown CRS" \
	"skipping item BAD_TYPES_20240715: no assets" \
	"duplicate item id S2B_17PMK_20240412_0_L2A skipped"; do
	n=$(grep -c "warning: .*$w" "$LOG" || true)
	[ "$n" -eq 1 ] || fail "$n warning lines '$w', want 1"
done
ls "$MNT/david/2024-07-20" >"$T/evil.ls"
printf '%s\n' "$EVIL_FILE.falsecolor.tif" "$EVIL_FILE.json" \
	"$EVIL_FILE.ndvi.tif" "$EVIL_FILE.ndwi.tif" \
	"$EVIL_FILE.truecolor.tif" | diff - "$T/evil.ls" >/dev/null ||
	fail "odd id: names $(cat -A "$T/evil.ls")"
python3 - "$MNT/david/2024-07-20/$EVIL_FILE.json" "$EVIL" <<'PY' ||
import json, sys
assert json.load(open(sys.argv[1]))["id"] == sys.argv[2]
PY
	fail "the odd item's JSON does not keep its id"
[ "$(ls "$MNT/david/2024-04-12" | sort | uniq -d)" = "" ] || fail "duplicate names"
[ "$(ls "$MNT/david/2024-04-12" | grep -c '^S2B_17PMK_20240412_0_L2A\.json$')" -eq 1 ] ||
	fail "the duplicated item is not listed once"

# 429 with Retry-After: waited out, then the listing succeeds.
R=$(adhoc 2024-01-01..2024-06-30)
n0=$(log_lines)
ctl '{"fail_next": 1, "fail_status": 429, "retry_after": 1}'
got=$(ls "$MNT/$R") || fail "429: ls failed"
[ "$got" = "$(want_for 2024-01-01..2024-06-30)" ] || fail "429: dates '$got'"
searches_since "$n0" >"$T/429"
python3 - "$T/429" <<'PY' || fail "429: searches $(cat "$T/429")"
rows = [l.split() for l in open(__import__("sys").argv[1])]
assert [(r[0], r[1]) for r in rows] == [("429", "fail"), ("200", "None")], rows
# Retry-After: 1 was honoured (a protocol value, not a speed)
assert float(rows[1][2]) - float(rows[0][2]) >= 0.9, rows
PY
ctl '{"fail_status": 500}'

# 500s: EIO for that readdir, one log line with URL and status; the mount
# keeps working, and once the fault is gone the same ls works.
R=$(adhoc 2024-01-01..2024-05-31)
ctl '{"fail_paths": ["/search"]}'
l0=$(wc -l <"$LOG")
ls "$MNT/$R" >/dev/null 2>"$T/ls.err" && fail "500: ls succeeded"
grep -q "Input/output error" "$T/ls.err" || fail "500: $(cat "$T/ls.err")"
tail -n +"$((l0 + 1))" "$LOG" | grep -E 'warning|error' >"$T/500.log" || true
[ "$(wc -l <"$T/500.log")" -eq 1 ] || fail "500: log lines: $(cat "$T/500.log")"
grep -q "search failed: POST $BASE/search: .*(HTTP 500)" "$T/500.log" || fail "500: log line $(cat "$T/500.log")"
[ "$(ls "$MNT/david")" = "$want" ] || fail "500: the mount stopped working"
ctl '{"fail_paths": []}'
got=$(ls "$MNT/$R") || fail "500: ls after the fault failed"
[ "$got" = "$(want_for 2024-01-01..2024-05-31)" ] || fail "500: dates '$got' after the fault"
unmount_satfs

# ---- Stale: the catalog goes down after the TTL; the old listing stays ----
mount_satfs -o pictures=off,config="$T/satfs.conf",cache="$CACHE",listing_ttl=1
[ "$(ls "$MNT/david")" = "$want" ] || fail "stale: first listing"
sleep 2
ctl '{"down": true}'
n0=$(log_lines)
got=$(ls "$MNT/david") || fail "stale: ls failed with the catalog down"
[ "$got" = "$want" ] || fail "stale: dates '$got'"
[ "$(nsearch_since "$n0")" -ge 1 ] || fail "stale: no search tried"
grep -q "warning: catalog: david: .*serving the listing from [0-9]* s ago" "$LOG" ||
	fail "stale: no 'serving the listing from ... ago' warning"
unmount_satfs

# ---- Offline, server gone: the cache only, no hang ----
kill "$SERVER_A"
mount_satfs -o pictures=off,config="$T/satfs.conf",cache="$CACHE",offline
[ "$(ls "$MNT/david")" = "$want" ] || fail "offline: cached listing"
[ -s "$MNT/david/2024-07-20/$EVIL_FILE.json" ] || fail "offline: cached item JSON"
R=$(adhoc 2024-02-01..2024-02-29)
ls "$MNT/$R" >/dev/null 2>"$T/ls.err" && fail "offline: uncached region listed"
grep -qE "Input/output error|No such file" "$T/ls.err" || fail "offline: $(cat "$T/ls.err")"
unmount_satfs

# ---- Recorded pages of our own: wrong types, not JSON, a stall ----
# A GET-only API (so any GET /search gets the page) with one good item,
# one whose datetime is a number, one whose properties are a string and
# one that is not an object; under /bad an API whose page is HTML.
RP=$T/replay
mkdir -p "$RP"
python3 - "$RP" "$S/items/S2B_17PMK_20240222_0_L2A.json" <<'PY'
import copy, json, os, sys
d, good = sys.argv[1:]
H = "http://crafted.test"

def rec(name, uri, body, ctype="application/json"):
    open(os.path.join(d, name + ".json"), "w").write(body)
    json.dump({"method": "GET", "uri": uri, "request_body": None,
               "status": {"code": 200, "message": "OK"},
               "content_type": [ctype]},
              open(os.path.join(d, name + ".request.json"), "w"))

def landing(root):
    return json.dumps({
        "type": "Catalog", "id": "crafted", "stac_version": "1.0.0",
        "description": "crafted", "conformsTo": [
            "https://api.stacspec.org/v1.0.0/core",
            "https://api.stacspec.org/v1.0.0/item-search"],
        "links": [{"rel": "search", "type": "application/geo+json",
                   "method": "GET", "href": root + "/search"}]})

it = json.loads(open(good).read().replace("{base}", H))
bad_dt = copy.deepcopy(it)
bad_dt["id"] = "BAD_DATETIME_NUMBER"
bad_dt["properties"]["datetime"] = 1708617134
bad_props = copy.deepcopy(it)
bad_props["id"] = "BAD_PROPERTIES_STRING"
bad_props["properties"] = "cloudy"
# page 2 is empty but links on: the link, not the page, says whether more
# come (issue #18: follow next links whatever a page holds), so page 3, the
# last (no next link), is asked for too
page = {"type": "FeatureCollection", "features": [bad_dt, it, bad_props, 42],
        "links": [{"rel": "next", "method": "GET",
                   "href": H + "/p2/search?token=2"}]}
page2 = {"type": "FeatureCollection", "features": [],
         "links": [{"rel": "next", "method": "GET",
                    "href": H + "/p3/search?token=3"}]}
# names sort so that "/" and "/search" find these first (see README)
rec("a_landing", H + "/", landing(H))
rec("b_page", H + "/search", json.dumps(page), "application/geo+json")
rec("c_bad_landing", H + "/bad", landing(H + "/bad"))
rec("d_bad_page", H + "/bad/search", "<html><body>502 Bad Gateway</body></html>",
    "text/html")
rec("e_page2", H + "/p2/search", json.dumps(page2), "application/geo+json")
page3 = {"type": "FeatureCollection", "features": [], "links": []}
rec("f_page3", H + "/p3/search", json.dumps(page3), "application/geo+json")
PY
start_server --replay "$RP"
mount_satfs -o pictures=off,config="$T/satfs.conf",stac="$BASE",cache="$T/cache.replay",timeout=2
[ "$(ls "$MNT/david")" = 2024-02-22 ] || fail "wrong types: dates '$(ls "$MNT/david")'"
[ -f "$MNT/david/2024-02-22/S2B_17PMK_20240222_0_L2A.json" ] || fail "good item missing"
for w in "skipping item BAD_DATETIME_NUMBER: no datetime" \
	"skipping item BAD_PROPERTIES_STRING: no properties" \
	"skipping item (none): not an object"; do
	n=$(grep -c "warning: .*$w" "$LOG" || true)
	[ "$n" -eq 1 ] || fail "$n warning lines '$w', want 1"
done
[ "$(grep -c '"path": "/p2/search"' "$SERVER_LOG")" -eq 1 ] || fail "page 2 not fetched once"
[ "$(grep -c '"path": "/p3/search"' "$SERVER_LOG")" -eq 1 ] ||
	fail "paging stopped at an empty page that had a next link"

# A stalled search: EIO in bounded time (the watchdog bounds it), and the
# mount answers meanwhile and afterwards.
R=$(adhoc 2024-02-01..2024-02-29)
ctl '{"rate_stall": 1}'
n0=$(log_lines)
( rc=0; ls "$MNT/$R" >/dev/null 2>"$T/stall.err" || rc=$?
  echo $rc >"$T/stall.rc" ) &
stall_pid=$!
for _ in $(seq 50); do
	[ "$(nsearch_since "$n0")" -ge 1 ] && break
	sleep 0.1
done
[ "$(nsearch_since "$n0")" -ge 1 ] || fail "stall: no search sent"
[ -f "$T/stall.rc" ] && fail "stall: ls returned before the timeout"
ls "$MNT" >/dev/null || fail "stall: root not answered during the stall"
[ "$(ls "$MNT/david")" = 2024-02-22 ] || fail "stall: david not answered during the stall"
wait "$stall_pid" || true
[ "$(cat "$T/stall.rc")" -ne 0 ] || fail "stall: ls succeeded"
grep -q "Input/output error" "$T/stall.err" || fail "stall: $(cat "$T/stall.err")"
nstall=$(nsearch_since "$n0")
ctl '{"rate_stall": 0}'
ls "$MNT" >/dev/null || fail "stall: root not answered afterwards"
[ "$(ls "$MNT/$R")" = 2024-02-22 ] || fail "stall: no retry after the stall"
unmount_satfs

# A page that is not JSON: EIO, and a log line that says so.
mount_satfs -o pictures=off,config="$T/satfs.conf",stac="$BASE/bad",cache="$T/cache.replay"
l0=$(wc -l <"$LOG")
ls "$MNT/david" >/dev/null 2>"$T/ls.err" && fail "not JSON: ls succeeded"
grep -q "Input/output error" "$T/ls.err" || fail "not JSON: $(cat "$T/ls.err")"
tail -n +"$((l0 + 1))" "$LOG" | grep -E 'warning|error' >"$T/nj.log" || true
[ "$(wc -l <"$T/nj.log")" -eq 1 ] && grep -q "$BASE/bad/search.*not valid JSON" "$T/nj.log" ||
	fail "not JSON: log lines: $(cat "$T/nj.log")"
ls "$MNT" >/dev/null || fail "not JSON: root not answered"
unmount_satfs
echo "ok $TEST_NAME (4+3 broken items, 429, 500, stall after $nstall tries, stale, offline, not JSON)"
