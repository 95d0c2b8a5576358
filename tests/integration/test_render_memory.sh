#!/usr/bin/env bash
# A render's memory does not grow with its output (docs/ARCHITECTURE.md,
# "The read path"): the daemon's peak RSS stays under 200 MB
#  1. rendering a 100 km x 100 km region at 10 m (a 400 MB GeoTIFF) from
#     full-size 10980 x 10980 scenes, prefetch on, with four more such
#     files after it (too large to prefetch: they are not rendered), and
#  2. rendering the tutorial's region at its scale = 2 (a 100 MB file).
# The daemon runs under AddressSanitizer here: its quarantine of freed
# memory is turned off for these mounts, and so is the buffer pool's
# poisoning of free tile blocks (which writes the shadow of every block:
# 14 MB more here), so that RSS is the daemon's own (the shadow of the
# heap still adds about an eighth).
# (before lib.sh, whose watchdog reads it; full-size scenes, ASan)
TEST_TIMEOUT=${TEST_TIMEOUT:-420}
. "$(dirname "$0")/lib.sh"
need_fuse
LIMIT_KB=$((200 * 1024))
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:malloc_context_size=5:allow_user_poisoning=0"

# Five full-size scenes over one 110 km tile: one constant COG, hard
# linked (the values do not matter here, only the sizes).
CAT=$T/catalog
mkdir -p "$CAT/items" "$CAT/cogs/base"
gdal_create -q -of GTiff -outsize 10980 10980 -bands 1 -ot UInt16 \
	-burn 1234 -a_srs EPSG:32617 -a_ullr 300000 1000020 409800 890220 \
	-co TILED=YES "$T/src.tif" || fail "gdal_create"
gdal_translate -q -of COG -co COMPRESS=DEFLATE -co PREDICTOR=2 \
	-co BLOCKSIZE=1024 -co NUM_THREADS=1 -a_nodata 0 "$T/src.tif" \
	"$CAT/cogs/base/B04.tif" || fail "the COG"
rm -f "$T/src.tif"
python3 - "$CAT" "$(samples_dir)/items/S2B_17PMK_20240103_0_L2A.json" <<'PY'
import copy, json, os, sys
cat, tmpl = sys.argv[1], json.load(open(sys.argv[2]))
for d in range(5):
    ident = "S2B_17PMK_202403%02d_0_L2A" % (d + 1)
    it = copy.deepcopy(tmpl)
    it["id"] = ident
    it["properties"]["datetime"] = "2024-03-%02dT15:52:14Z" % (d + 1)
    it["properties"]["eo:cloud_cover"] = 1.0
    it["bbox"] = [-82.85, 8.05, -81.84, 9.05]
    it["geometry"] = {"type": "Polygon", "coordinates": [[
        [-82.85, 8.05], [-81.84, 8.05], [-81.84, 9.05], [-82.85, 9.05],
        [-82.85, 8.05]]]}
    os.makedirs("%s/cogs/%s" % (cat, ident))
    # no SCL: the region cloud cover counted ahead at listing is not this
    # test's subject (a constant 10 m band standing in for it would cost
    # five full-size reads beside the render)
    it["assets"].pop("scl", None)
    for key, a in it["assets"].items():
        name = os.path.basename(a["href"])
        os.link("%s/cogs/base/B04.tif" % cat,
                "%s/cogs/%s/%s" % (cat, ident, name))
        a["href"] = "{base}/cogs/%s/%s" % (ident, name)
        a["proj:shape"] = [10980, 10980]
        a["proj:transform"] = [10, 0, 300000, 0, -10, 1000020]
    json.dump(it, open("%s/items/%s.json" % (cat, ident), "w"))
PY
start_server --catalog "$CAT"
cat >"$T/satfs.conf" <<EOC
[source]
stac = $BASE
dates = 2024-01-01 .. 2024-07-31

[region hundred]
bbox = -82.805, 8.095, -81.895, 8.995
EOC
mount_satfs -o config="$T/satfs.conf",cache="$CACHE" # the default prefetch

hwm() { awk '/VmHWM/ {print $2}' "/proc/$SATFS_PID/status"; }
f=$(ls "$MNT"/hundred/*/*.falsecolor.tif | head -1)
size=$(stat -c %s "$f")
[ "$size" -gt $((350 << 20)) ] || fail "not a 100 km file: $size bytes"
note "100 km at 10 m: $size bytes; RSS before $(hwm) kB"
cat "$f" | wc -c >"$T/n" || fail "reading the 100 km file"
[ "$(cat "$T/n")" = "$size" ] || fail "read $(cat "$T/n") of $size bytes"
peak=$(hwm)
note "100 km at 10 m: peak RSS $peak kB (limit $LIMIT_KB)"
[ "$peak" -lt "$LIMIT_KB" ] || fail "peak RSS $peak kB over $LIMIT_KB"
n=$(find "$CACHE/files" -name '*.tif' | wc -l)
[ "$n" -eq 1 ] || fail "$n files rendered: the large ones were prefetched"
# streaming, and the decoded tiles kept (a bounded cache) serve the
# 256-row chunks: a tile is fetched again only where a chunk needs two
# rows of source tiles at once and the cache holds fewer (a few, never a
# whole row's worth)
python3 - "$SERVER_LOG" <<'PY' || fail "tile ranges fetched again: the cache thrashes"
import json, sys
seen, dup = set(), 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["path"].startswith("/cogs/") and r.get("range") and \
            not r["range"].startswith("bytes=0-"):
        key = (r["path"], r["range"])
        dup += key in seen
        seen.add(key)
print("# %d tile ranges, %d fetched again" % (len(seen), dup), file=sys.stderr)
sys.exit(dup * 5 > len(seen))
PY
unmount_satfs

# 2. the tutorial's region at scale = 2, from the sample scenes
kill $SERVER_PID 2>/dev/null
SERVER_PID=
start_server --catalog "$(samples_dir)"
cat >"$T/satfs2.conf" <<EOC
[source]
stac = $BASE
dates = 2024-01-01 .. 2024-07-31

[region david]
bbox = -82.48, 8.3508, -82.39, 8.4408

[product tutorial]
bands = B8, B4, B3
min = 0
max = 5000
gamma = 1.35
scale = 2
EOC
rm -rf "$CACHE"
mount_satfs -o config="$T/satfs2.conf",cache="$CACHE"
f=$(ls "$MNT"/david/*/*.tutorial.tif | head -1)
size=$(stat -c %s "$f")
cat "$f" | wc -c >"$T/n" || fail "reading the scale = 2 file"
[ "$(cat "$T/n")" = "$size" ] || fail "read $(cat "$T/n") of $size bytes"
peak=$(hwm)
note "the tutorial at scale = 2: $size bytes, peak RSS $peak kB"
[ "$peak" -lt "$LIMIT_KB" ] || fail "peak RSS $peak kB over $LIMIT_KB"
unmount_satfs
