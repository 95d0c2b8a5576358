#!/usr/bin/env bash
# Listing a region through every way a STAC API pages and filters: the
# three paging styles (each page after the first keeps the original
# filters; one request per page), a server that ignores the cloud filter
# (ours still applies it), CQL2 only when the landing page offers it, and
# the real Earth Search and Planetary Computer responses recorded in
# tests/data/stac replayed through the mount.
. "$(dirname "$0")/lib.sh"
# (pictures=off: a region lists only its dates here; the quicklooks,
# time-lapses and pages are test_pictures.sh's subject)
need_fuse
S=$(samples_dir)
DAVID=-82.48,8.3508,-82.39,8.4408
WANT=$(expected_dates "$S" "$DAVID" 2024-01-01..2024-07-31 85)
[ "$(echo "$WANT" | wc -l)" -ge 3 ] || fail "too few sample dates"

# check_pages LOG BASE PAGE_LIMIT: the /search requests of LOG are one
# search pass: every request after the first carries the first one's
# filters and a paging token, none was unmerged, all answered 200, and
# there were exactly as many as the server has pages for the first one.
# Prints the number of pages.
check_pages() {
	python3 - "$@" <<'PY'
import json, math, sys, urllib.parse, urllib.request
log, base, plimit = sys.argv[1], sys.argv[2], int(sys.argv[3])
FILTERS = ("collections", "bbox", "intersects", "datetime", "query",
           "filter", "filter-lang")
JSONP = ("intersects", "query", "filter")

def params(e):
    if e["method"] == "POST":
        return json.loads(e["body"])
    p = {k: v[0] for k, v in
         urllib.parse.parse_qs(e["query"] or "").items()}
    for k in JSONP:
        if k in p:
            p[k] = json.loads(p[k])
    return p

es = [json.loads(l) for l in open(log)]
es = [e for e in es if e["path"].endswith("/search")]
assert es, "no search requests"
first = params(es[0])
want = {k: v for k, v in first.items() if k in FILTERS}
assert "collections" in want and "datetime" in want, want
for i, e in enumerate(es):
    assert e["status"] == 200, ("status", i, e)
    assert e.get("note") is None, ("server note", i, e)
    if i == 0:
        continue
    p = params(e)
    got = {k: v for k, v in p.items() if k in FILTERS}
    assert got == want, ("page %d lost its filters" % (i + 1), got, want)
    assert any(k in p for k in ("next", "token")), ("no token", i, p)
# How many pages the server has for this search: ask it once more.
if es[0]["method"] == "POST":
    req = urllib.request.Request(base + es[0]["path"],
                                 data=es[0]["body"].encode(),
                                 headers={"Content-Type":
                                          "application/json"})
else:
    req = urllib.request.Request(base + es[0]["path"] + "?" +
                                 es[0]["query"])
d = json.load(urllib.request.urlopen(req, timeout=10))
pages = max(1, math.ceil(d["numberMatched"] / plimit))
assert len(es) == pages, ("%d search requests for %d pages" %
                          (len(es), pages))
print(pages)
PY
}

# One mount per paging style, each with its own cache.
trees=()
for mode in post-merge post-token get; do
	extra=()
	[ "$mode" = get ] && extra=(--get-only)
	start_server --catalog "$S" --page-limit 2 --paging "$mode" "${extra[@]}"
	write_config "$T/satfs.conf"
	mount_satfs -o pictures=off,config="$T/satfs.conf",cache="$T/cache.$mode"
	got=$(ls "$MNT/david")
	[ "$got" = "$WANT" ] || fail "$mode: dates '$got', want '$WANT'"
	(cd "$MNT/david" && ls -lR) >"$T/tree.$mode"
	unmount_satfs
	pages=$(check_pages "$SERVER_LOG" "$BASE" 2) ||
		fail "$mode: paging requests are wrong"
	[ "$pages" -ge 3 ] || fail "$mode: only $pages pages"
	# SCL only: the region cloud cover, counted ahead
	[ "$(count_requests '^/cogs/.*/B[0-9]+\.tif')" -eq 0 ] || fail "$mode: listing fetched pixels"
	if [ "$mode" = get ]; then
		[ "$(grep -c '"method": "POST"' "$SERVER_LOG")" -eq 0 ] ||
			fail "get-only: satfs sent a POST"
	fi
	if [ "$mode" = post-merge ]; then
		# no CQL2 class in conformsTo: the query extension, no filter
		python3 - "$SERVER_LOG" <<'PY' || fail "post-merge: search body"
import json, sys
b = [json.loads(json.loads(l)["body"]) for l in open(sys.argv[1])
     if json.loads(l)["path"] == "/search"][0]
assert "filter" not in b and "filter-lang" not in b, b
assert b["query"] == {"eo:cloud_cover": {"lt": 85}}, b
assert b["bbox"] == [-82.48, 8.3508, -82.39, 8.4408], b
assert b["collections"] == ["sentinel-2-l2a"], b
assert b["datetime"].startswith("2024-01-01T00:00:00"), b
PY
	fi
	note "$mode: $pages pages, $pages search requests"
	trees+=("$T/tree.$mode")
	kill "${SERVER_PID##* }"
done
cmp -s "${trees[0]}" "${trees[1]}" || fail "post-token tree differs from post-merge"
cmp -s "${trees[0]}" "${trees[2]}" || fail "get tree differs from post-merge"

# A server that ignores the cloud filter sends the cloudy scenes; we drop
# them anyway (and say so in the debug log).
start_server --catalog "$S" --ignore-query
write_config "$T/satfs.conf"
mount_satfs -o pictures=off,config="$T/satfs.conf",cache="$T/cache.iq",log_level=debug
got=$(ls "$MNT/david")
[ "$got" = "$WANT" ] || fail "ignore-query: dates '$got', want '$WANT'"
cloudy=$(python3 - "$SERVER_LOG" "$BASE" <<'PY'
import json, sys, urllib.request
e = [json.loads(l) for l in open(sys.argv[1])
     if json.loads(l)["path"] == "/search"][0]
req = urllib.request.Request(sys.argv[2] + "/search", data=e["body"].encode(),
                             headers={"Content-Type": "application/json"})
d = json.load(urllib.request.urlopen(req, timeout=10))
assert "next" not in [l["rel"] for l in d["links"]], "paged"
for f in d["features"]:
    if f["properties"]["eo:cloud_cover"] >= 85:
        print(f["id"], f["properties"]["datetime"][:10])
PY
)
[ -n "$cloudy" ] || fail "ignore-query: the server sent no cloudy item"
while read -r id day; do
	grep -q "item $id dropped: too cloudy" "$LOG" ||
		fail "ignore-query: $id not dropped as too cloudy"
	# a date with only cloudy scenes is not listed
	if ! echo "$WANT" | grep -x "$day" >/dev/null; then
		[ ! -e "$MNT/david/$day" ] || fail "cloudy date $day listed"
	fi
done <<<"$cloudy"
ncloudy=$(echo "$cloudy" | wc -l)
unmount_satfs
kill "${SERVER_PID##* }"

# CQL2 offered: the body has a filter too, and the server applies it.
start_server --catalog "$S" --cql2
write_config "$T/satfs.conf"
mount_satfs -o pictures=off,config="$T/satfs.conf",cache="$T/cache.cql2"
got=$(ls "$MNT/david")
[ "$got" = "$WANT" ] || fail "cql2: dates '$got', want '$WANT'"
unmount_satfs
python3 - "$SERVER_LOG" <<'PY' || fail "cql2: search body"
import json, sys
b = [json.loads(json.loads(l)["body"]) for l in open(sys.argv[1])
     if json.loads(l)["path"] == "/search"][0]
assert b.get("filter-lang") == "cql2-json", b
f = b["filter"]
assert f["args"][0] == {"property": "eo:cloud_cover"} and f["args"][1] == 85, f
assert f["op"] in ("<", "lt"), f
assert b["query"] == {"eo:cloud_cover": {"lt": 85}}, b
PY
# The listing cache is keyed by the query: another max_cloud searches
# again (and lists fewer dates); the first one is still cached.
n0=$(log_lines)
mount_satfs -o pictures=off,config="$T/satfs.conf",cache="$T/cache.cql2",max_cloud=40
want40=$(expected_dates "$S" "$DAVID" 2024-01-01..2024-07-31 40)
got=$(ls "$MNT/david")
[ "$got" = "$want40" ] || fail "max_cloud=40: dates '$got', want '$want40'"
[ "$got" != "$WANT" ] || fail "max_cloud=40 lists the same dates as 85"
[ "$(requests_since "$n0" '/search$')" -ge 1 ] || fail "max_cloud=40 answered from the cache"
unmount_satfs
n0=$(log_lines)
mount_satfs -o pictures=off,config="$T/satfs.conf",cache="$T/cache.cql2"
[ "$(ls "$MNT/david")" = "$WANT" ] || fail "max_cloud=85 again: dates"
# (the mount's one probe of the landing page aside)
[ "$(requests_since "$n0" '/search$')" -eq 0 ] || fail "max_cloud=85 again: not from the cache"
unmount_satfs
kill "${SERVER_PID##* }"

# ---- Real responses replayed (tests/data/stac) ----
REAL=$SRC/tests/data/stac
[ -f "$REAL/PROVENANCE.json" ] || fail "no recorded responses in $REAL"
# Earth Search sent 2 items (an S2 one and a Landsat one) for a point near
# Boulder on 2023-10-08, then an empty page; Planetary Computer 33 items
# over Kamchatka on 2019-01-01, four of which touch our box there.
cat >"$T/real.conf" <<'EOC'
[source]
collection = sentinel-2-l2a
max_cloud = 85

[region boulder]
bbox = -105.11, 40.16, -105.09, 40.17
dates = 2023-10-08 .. 2023-10-08

[region kamchatka]
bbox = 173.68, 57.60, 173.72, 57.64
dates = 2019-01-01 .. 2019-01-01
EOC

# 1. Against the recordings as they are. Our first request cannot equal a
# recorded one (those have two collections, a Point, no limit, no query:
# satfs always sends one collection, a box, a limit and the cloud query),
# so the search is a 404: EIO, one log line, and the body we send.
start_server --replay "$REAL"
mount_satfs -o pictures=off,config="$T/real.conf",stac="$BASE",cache="$T/cache.real"
for r in boulder kamchatka; do
	ls "$MNT/$r" >/dev/null 2>"$T/ls.err" && fail "$r listed without a recording"
	grep -q "Input/output error" "$T/ls.err" || fail "$r: $(cat "$T/ls.err")"
done
unmount_satfs
[ "$(grep -c "search failed: POST $BASE/search: .*(HTTP 404)" "$LOG")" -eq 2 ] ||
	fail "no 'search failed ... 404' line per region"
# Earth Search's landing page offers no CQL2: the cloud filter goes in
# `query`, and there is no `filter`.
python3 - "$SERVER_LOG" "$REAL" "$T/replay" <<'PY' || fail "replay: our search bodies"
import json, os, shutil, sys
log, real, out = sys.argv[1:]
bodies = [json.loads(json.loads(l)["body"]) for l in open(log)
          if json.loads(l)["path"] == "/search"]
assert len(bodies) == 2, bodies
for b in bodies:
    assert "filter" not in b and b["query"] == {"eo:cloud_cover": {"lt": 85}}, b
boulder = [b for b in bodies if b["datetime"].startswith("2023-10-08")][0]
kam = [b for b in bodies if b["datetime"].startswith("2019-01-01")][0]
# 2. A copy of the recordings in which the two first pages answer our
# bodies. The responses stay as recorded; Earth Search's page 2 still
# answers the `next` link of page 1 as the real server sent it.
os.makedirs(out)
for n in ("earthsearch_v1_landing", "earthsearch_v1_search_s2l2a_landsat_page2_empty"):
    for ext in (".json", ".request.json"):
        shutil.copy(os.path.join(real, n + ext), out)
for n, body in (("earthsearch_v1_search_s2l2a_landsat_page1", boulder),
                ("planetary_v1_search_s2l2a_33items", kam)):
    shutil.copy(os.path.join(real, n + ".json"), out)
    req = json.load(open(os.path.join(real, n + ".request.json")))
    req["request_body"] = json.dumps(body)
    json.dump(req, open(os.path.join(out, n + ".request.json"), "w"))
PY
kill "${SERVER_PID##* }"

start_server --replay "$T/replay"
mount_satfs -o pictures=off,config="$T/real.conf",stac="$BASE",cache="$T/cache.real"
[ "$(ls "$MNT/boulder")" = 2023-10-08 ] || fail "boulder lists '$(ls "$MNT/boulder")'"
[ "$(ls "$MNT/kamchatka")" = 2019-01-01 ] || fail "kamchatka lists '$(ls "$MNT/kamchatka")'"
ls -lR "$MNT/boulder" "$MNT/kamchatka" >"$T/real.lsR"
python3 - "$MNT" "$REAL" "$BASE" <<'PY' || fail "replayed tree"
import datetime, json, os, sys
mnt, real, base = sys.argv[1:]

def items(name, origin):
    text = open(os.path.join(real, name + ".json")).read()
    return json.loads(text.replace(origin, base))["features"]

def box_hit(b, w, s, e, n):
    return not (b[2] < w or b[0] > e or b[3] < s or b[1] > n)

es = items("earthsearch_v1_search_s2l2a_landsat_page1",
           "https://earth-search.aws.element84.com/v1")
pc = items("planetary_v1_search_s2l2a_33items",
           "https://planetarycomputer.microsoft.com/api/stac/v1")
cases = (("boulder/2023-10-08", es, (-105.11, 40.16, -105.09, 40.17)),
         ("kamchatka/2019-01-01", pc, (173.68, 57.60, 173.72, 57.64)))
for d, feats, box in cases:
    want = sorted(f["id"] for f in feats
                  if f["collection"] == "sentinel-2-l2a"
                  and f["properties"]["eo:cloud_cover"] < 85
                  and box_hit(f["bbox"], *box))
    names = sorted(os.listdir(os.path.join(mnt, d)))
    got = sorted(n[:-5] for n in names if n.endswith(".json"))
    assert got == want, (d, got, want)
    assert want, d
    for f in feats:
        if f["id"] not in want:
            continue
        p = os.path.join(mnt, d, f["id"])
        assert json.load(open(p + ".json")) == f, ("json differs", p)
        dt = datetime.datetime.fromisoformat(
            f["properties"]["datetime"].replace("Z", "+00:00"))
        for prod in ("falsecolor", "truecolor"):
            st = os.stat(p + "." + prod + ".tif")
            assert st.st_size > 1000, (p, prod, st.st_size)
            assert int(st.st_mtime) == int(dt.timestamp()), (p, "mtime")
    print(d, len(want), "scenes", file=sys.stderr)
PY
unmount_satfs
# Earth Search paged: the link out of page 1 followed exactly as given
# (POST, the whole body again plus `next`, merge false), then the empty
# page 2 ended the search. Planetary Computer: one page.
python3 - "$SERVER_LOG" "$REAL" <<'PY' || fail "replayed paging"
import json, sys
es = [json.loads(l) for l in open(sys.argv[1])]
s = [e for e in es if e["path"] == "/search"]
assert all(e["status"] == 200 for e in s), s
assert len(s) == 3, ["%s %s" % (e["method"], e["body"][:80]) for e in s]
page1 = json.load(open(sys.argv[2] +
                       "/earthsearch_v1_search_s2l2a_landsat_page1.json"))
link = [l for l in page1["links"] if l["rel"] == "next"][0]
assert [json.loads(e["body"]) for e in s].count(link["body"]) == 1, \
    "page 1's next body not sent exactly once"
assert not [e for e in es if e["path"].startswith("/cogs")]
PY
# A server that offers CQL2 Text only (the filter extension: "must support
# at least one of" CQL2 Text and CQL2 JSON) answers a JSON filter 400: the
# filter goes as text, "eo:cloud_cover < 85" (its Example 3's form).
start_server --catalog "$S" --cql2-text
write_config "$T/satfs.conf"
mount_satfs -o pictures=off,config="$T/satfs.conf",cache="$T/cache.cql2text"
got=$(ls "$MNT/david")
[ "$got" = "$WANT" ] || fail "cql2-text: dates '$got', want '$WANT'"
unmount_satfs
python3 - "$SERVER_LOG" <<'PY' || fail "cql2-text: search body"
import json, sys
s = [json.loads(l) for l in open(sys.argv[1])
     if json.loads(l)["path"] == "/search"]
assert s and all(e["status"] == 200 for e in s), s
b = json.loads(s[0]["body"])
assert b.get("filter-lang") == "cql2-text", b
assert b.get("filter") == "eo:cloud_cover < 85", b
PY
kill "${SERVER_PID##* }"

# Pages that hold nothing but a next link are followed all the same (a
# server's pages may run short, so the link, not the page, says whether
# more come): two such pages cost two requests more, and lose nothing.
start_server --catalog "$S" --page-limit 2 --paging post-token
write_config "$T/satfs.conf"
control '{"empty_pages": 2}'
mount_satfs -o pictures=off,config="$T/satfs.conf",cache="$T/cache.empty"
got=$(ls "$MNT/david")
[ "$got" = "$WANT" ] || fail "empty pages: dates '$got', want '$WANT'"
unmount_satfs
nempty=$(count_requests '^/search$')
[ "$nempty" -eq $((pages + 2)) ] ||
	fail "empty pages: $nempty search requests, want $((pages + 2))"
# A 4xx answer says why: its STAC error body reaches the log.
control '{"fail_next": 1, "fail_status": 400}'
mount_satfs -o pictures=off,config="$T/satfs.conf",cache="$T/cache.400"
ls "$MNT/david" >/dev/null 2>&1 && fail "a listing succeeded through a 400"
grep -q "search failed: POST $BASE/search: .*(HTTP 400): InjectedFailure: " "$LOG" ||
	fail "the 400's body is not in the log"
unmount_satfs
kill "${SERVER_PID##* }"

echo "ok $TEST_NAME (3 paging styles, $ncloudy cloudy items dropped, cql2, cql2-text, empty pages, replay)"
