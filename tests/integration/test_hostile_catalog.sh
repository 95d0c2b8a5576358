#!/usr/bin/env bash
# A hostile catalog, end to end (the parser's own cases are unit tests:
# tests/unit/test_stac_input.c; the fuzzer is tests/fuzz/fuzz_stac.c).
# hostile_stac.py answers every search with a page we write byte by byte;
# the COGs come from the fixture server. Checked:
#   item ids with '/', '..', control characters, 5000 characters, the same
#   id twice, two ids that sanitise alike: safe, distinct names, one each
#   asset hrefs file://, ftp://, gopher://, and http redirects to file://
#   and gopher://: the open fails with EIO, the log says why, and nothing
#   is read: the file:// target is a valid COG (had it been read, the
#   render would have worked), the ftp/gopher targets see no request
#   wrong types in every field we read, garbage bbox and datetime values
#   (NaN, Infinity, 1e400, strings, 25:61:61): skipped or tolerated
#   a page nested 100000 deep and one of 80 MiB: that listing fails with
#   EIO, memory stays bounded, and the mount goes on working.
. "$(dirname "$0")/lib.sh"
# (pictures=off: a region lists only its dates, a date its .tif and
# .json here; the pictures are test_pictures.sh's subject)
need_fuse
S=$(samples_dir)
start_server --catalog "$S"
H=$T/hostile
mkdir -p "$H" "$T/canary"
cp "$S"/cogs/S2B_17PMK_20240103_0_L2A/*.tif "$T/canary/"
python3 "$SRC/tests/integration/hostile_stac.py" "$H" "$T/hport" \
	>"$T/hostile.out" 2>&1 &
SERVER_PID="$SERVER_PID $!"
for _ in $(seq 100); do [ -s "$T/hport" ] && break; sleep 0.1; done
[ -s "$T/hport" ] || fail "hostile_stac.py did not start"
HBASE=http://127.0.0.1:$(cat "$T/hport")
PORT=${BASE##*:}

# The pages. Every item is the sample scene of 2024-01-03 (its COGs are on
# the fixture server) with one thing changed.
python3 - "$S" "$H" "$BASE" "$T/canary" "$PORT" <<'PY'
import copy, json, sys
S, H, BASE, CANARY, PORT = sys.argv[1:]
base = json.load(open(S + "/items/S2B_17PMK_20240103_0_L2A.json"))
base = json.loads(json.dumps(base).replace("{base}", BASE))
feats = []

def item(iid, hrefs=None, **props):
    it = copy.deepcopy(base)
    it["id"] = iid
    for k, a in it["assets"].items():
        if hrefs and "href" in a:
            band = a["href"].rsplit("/", 1)[1]
            a["href"] = hrefs(band)
    it["properties"].update(props)
    feats.append(it)
    return it

item("S2B_17PMK_20240103_0_L2A")                    # the control
item("a/b/../../etc/passwd")
item("..")
item("ctl\x01\n\x7fid")
item("ctl\x01\n\x7fid")                               # logged as a duplicate
item("L" * 5000)
item("L" * 4999 + "M")
item("dup-id")
item("dup-id", **{"eo:cloud_cover": 1.0})
item("x/y")
item("x_y")
item("evil-file", lambda b: "file://%s/%s" % (CANARY, b))
item("evil-ftp", lambda b: "ftp://127.0.0.1:%s/ftp-canary/%s" % (PORT, b))
item("evil-gopher",
     lambda b: "gopher://127.0.0.1:%s/gopher-canary/%s" % (PORT, b))
item("evil-redir-file",
     lambda b: "%s/redirect?to=file://%s/%s" % (BASE, CANARY, b))
item("evil-redir-gopher",
     lambda b: "%s/redirect?to=gopher://127.0.0.1:%s/redir-canary/%s"
     % (BASE, PORT, b))
item("redir-ok", lambda b: "%s/redirect?to=%s/cogs/S2B_17PMK_20240103_0_L2A/%s"
     % (BASE, BASE, b))
# Wrong types and garbage values, field by field.
bad = {
    "bad-id-number": lambda it: it.update(id=12345),
    "bad-props-list": lambda it: it.update(properties=[1, 2]),
    "bad-datetime-number": lambda it: it["properties"].update(datetime=5),
    "bad-datetime-garbage": lambda it: it["properties"].update(
        datetime="2024-01-03T25:61:61Z"),
    "bad-datetime-year": lambda it: it["properties"].update(
        datetime="99999-01-03T00:00:00Z"),
    "bad-datetime-zero": lambda it: it["properties"].update(
        datetime="0000-00-00T00:00:00Z"),
    "bad-assets-list": lambda it: it.update(assets=[1]),
    "bad-href-number": lambda it: [a.update(href=7)
                                   for a in it["assets"].values()],
    "bad-cloud-string": lambda it: it["properties"].update(
        **{"eo:cloud_cover": "lots"}),
    "bad-epsg-string": lambda it: it["properties"].update(
        **{"proj:epsg": "EPSG:none"}),
    "bad-bbox-strings": lambda it: it.update(bbox=["a", "b", "c", "d"]),
    "bad-bbox-nan": lambda it: it.update(
        bbox=[float("nan"), float("-inf"), float("inf"), 1e308]),
    "bad-bbox-short": lambda it: it.update(bbox=[1]),
    "bad-bbox-inverted": lambda it: it.update(bbox=[10, 80, -10, -80]),
    "bad-geometry": lambda it: it.update(geometry={"type": "Polygon",
                                                   "coordinates": "x"}),
    "bad-raster-bands": lambda it: [a.update(**{"raster:bands": {"x": 1}})
                                    for a in it["assets"].values()],
    "bad-transform": lambda it: [a.update(**{"proj:transform": [0, 0]})
                                 for a in it["assets"].values()],
    "bad-shape": lambda it: [a.update(**{"proj:shape": [-5, 1e300]})
                             for a in it["assets"].values()],
    "bad-eo-bands": lambda it: [a.update(**{"eo:bands": "B04"})
                                for a in it["assets"].values()],
}
for name, f in bad.items():
    f(item(name))
feats.append("not an item")
feats.append(None)
page = {"type": "FeatureCollection", "features": feats, "links": []}
# json.dumps writes NaN/Infinity as such: json-c reads them, so must we.
text = json.dumps(page).replace("1e+308", "1e400")
open(H + "/page-hostile.json", "w").write(text)
deep = '{"type":"FeatureCollection","features":[],"x":' + "[" * 100000 + \
    "]" * 100000 + "}"
open(H + "/page-deep.json", "w").write(deep)
with open(H + "/page-huge.json", "w") as f:
    f.write('{"type":"FeatureCollection","features":[],"pad":"')
    chunk = "x" * (1 << 20)
    for _ in range(80):
        f.write(chunk)
    f.write('"}')
json.dump({"type": "Catalog", "id": "hostile", "conformsTo": [],
           "links": [{"rel": "search", "method": "POST",
                      "href": "/search"}]},
          open(H + "/landing.json", "w"))
PY
cp "$H/page-hostile.json" "$H/search.json"

cat >"$T/satfs.conf" <<EOC
[source]
stac = $HBASE
dates = 2024-01-01 .. 2024-07-31
EOC
# Distinct boxes: listings are cached by query, not by region name.
w=445
for r in hostile deep huge after; do
	printf '\n[region %s]\nbbox = -82.%s, 8.39, -82.43, 8.402\n' $r $w >>"$T/satfs.conf"
	w=$((w + 1))
done
mount_satfs -o pictures=off,config="$T/satfs.conf",cache="$CACHE",prefetch=0,log_level=debug

# --- ids ---
ls "$MNT/hostile" >"$T/dates" || fail "ls of the hostile listing"
[ "$(cat "$T/dates")" = 2024-01-03 ] || fail "dates: $(cat "$T/dates")"
D=$MNT/hostile/2024-01-03
ls -1 "$D" | sed -n 's/\.json$//p' | sort >"$T/ids"
python3 - "$T/ids" <<'PY' || fail "listed ids: $(cat -A "$T/ids" | head -40)"
import sys
ids = [l.rstrip("\n") for l in open(sys.argv[1])]
for i in ids:
    assert "/" not in i and i not in (".", "..") and \
        not any(ord(c) < 32 or ord(c) == 127 for c in i), repr(i)
    assert len(i.encode()) <= 200, len(i)
s = set(ids)
assert len(s) == len(ids), "duplicate names"
for want in ("S2B_17PMK_20240103_0_L2A", "a_b_.._.._etc_passwd", "_..",
             "ctl___id", "dup-id", "x_y", "evil-file", "evil-ftp",
             "evil-gopher", "evil-redir-file", "evil-redir-gopher",
             "redir-ok"):
    assert want in s, "missing " + want
longs = [i for i in ids if i.startswith("LLLL")]
assert len(longs) == 2 and longs[0] != longs[1], longs
# Skipped for certain: no id, no datetime, no assets.
for gone in ("bad-props-list", "bad-datetime-number", "bad-datetime-garbage",
             "bad-datetime-zero", "bad-assets-list", "bad-href-number",
             "12345"):
    assert gone not in s, gone + " listed"
print("%d items listed" % len(ids), file=sys.stderr)
PY
grep -q "duplicate item id dup-id" "$LOG" || fail "no warning for the duplicate id"
# One line per event: an id's control characters never split a log line.
bad=$(grep -cvE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' "$LOG" || true)
[ "$bad" = 0 ] || fail "$bad log lines do not start with a time stamp (log injection)"
nlisted=$(wc -l <"$T/ids")

# The control and the odd names render.
for id in S2B_17PMK_20240103_0_L2A a_b_.._.._etc_passwd _.. ctl___id \
	  "$(grep '^LLLL' "$T/ids" | head -1)" redir-ok; do
	f="$D/$id.falsecolor.tif"
	size=$(stat -c %s "$f") || fail "stat $id"
	cp "$f" "$T/out.tif" || fail "render of $id"
	[ "$(stat -c %s "$T/out.tif")" = "$size" ] || fail "$id: short read"
done

# --- hrefs that must never be followed ---
from=$(log_lines)
for id in evil-file evil-ftp evil-gopher evil-redir-file evil-redir-gopher; do
	if cat "$D/$id.falsecolor.tif" >"$T/evil.out" 2>"$T/evil.err"; then
		fail "$id: rendered from a refused href"
	fi
	grep -q "Input/output error" "$T/evil.err" ||
		fail "$id: not EIO: $(cat "$T/evil.err")"
	[ ! -s "$T/evil.out" ] || fail "$id: bytes served"
done
n=$(grep -c "scheme not allowed" "$LOG" || true)
[ "$n" -ge 3 ] || fail "no 'scheme not allowed' log line for the direct hrefs"
redirs=$(requests_since "$from" '^/redirect$')
[ "$redirs" -ge 2 ] || fail "the redirects were not even asked ($redirs)"
[ "$(count_requests 'canary')" = 0 ] ||
	fail "a refused href reached the server: $(grep canary "$SERVER_LOG")"
! grep -q "root:" "$LOG" || fail "the log holds /etc/passwd content"
grep -rl "root:x:0" "$CACHE" && fail "the cache holds /etc/passwd content"
note "ids: $nlisted listed safely; 5 refused hrefs, $redirs redirects refused, $n log lines"

# Garbage that is tolerated still renders or fails cleanly, never crashes.
for f in "$D"/bad-*.falsecolor.tif; do
	[ -e "$f" ] || continue
	cat "$f" >/dev/null 2>&1 || true
done
kill -0 "$SATFS_PID" || fail "the daemon died"

# --- deep nesting and a huge page: that listing fails, nothing else ---
hwm() { awk '/VmHWM/ { print $2 }' "/proc/$SATFS_PID/status"; }
hwm0=$(hwm)
cp "$H/page-deep.json" "$H/search.json"
if ls "$MNT/deep" 2>"$T/deep.err"; then fail "a page nested 100000 deep was listed"; fi
grep -qE "Input/output error|No such file" "$T/deep.err" || fail "deep: $(cat "$T/deep.err")"
cp "$H/page-huge.json" "$H/search.json"
if ls "$MNT/huge" 2>"$T/huge.err"; then fail "an 80 MiB page was listed"; fi
grep -qE "Input/output error|No such file" "$T/huge.err" || fail "huge: $(cat "$T/huge.err")"
hwm1=$(hwm)
# The body is refused past 64 MiB: the daemon never holds much more than
# that, whatever the page's size (ASan's shadow included).
[ $((hwm1 - hwm0)) -lt $((200 * 1024)) ] ||
	fail "VmHWM grew by $((hwm1 - hwm0)) kB on an 80 MiB page"
cp "$H/page-hostile.json" "$H/search.json"
ls "$MNT/after" >/dev/null || fail "the mount does not work after the hostile pages"
ls "$D" >/dev/null || fail "the old listing is gone"
note "deep nesting and 80 MiB page refused; VmHWM $hwm0 -> $hwm1 kB"
unmount_satfs
