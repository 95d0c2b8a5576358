#!/usr/bin/env bash
# The DN offset, in pixels, and the exact size of rendered files.
#
# Four copies of one scene, identical but for what says the DN offset
# (docs/ARCHITECTURE.md "Rendering rules", rule 4, offset = auto):
# raster:bands offset -0.1 and 0; no raster:bands, processing baseline 05.10
# (L2A DNs carry +1000) and 02.12 (they do not). Each falsecolor file is
# checked pixel by pixel against GDAL reading the source COGs with the
# documented formula (check_render.py) and the offset that item implies:
# -1000, 0, -1000, 0; its GDAL metadata records that offset. The check is
# not blind to the offset: the -0.1 file fails it with offset 0, and the 0
# file with -1000.
#
# Every file read: the size stat gave before the render equals the bytes
# read, and both equal the TIFF's extent (tiff_extent.py, no GDAL), so a
# size one byte short (a file cut) is caught without gdalinfo's help.
. "$(dirname "$0")/lib.sh"
need_fuse
S=$(samples_dir)
mkdir -p "$T/cat/items"
cp -al "$S/cogs" "$T/cat/cogs" 2>/dev/null || cp -r "$S/cogs" "$T/cat/cogs"
SRC_ID=S2B_17PMK_20240222_0_L2A
python3 - "$S/items/$SRC_ID.json" "$T/cat/items" <<'PY'
import copy, json, os, sys
src = json.load(open(sys.argv[1]))
# day: raster:bands offset (None: no raster:bands), processing baseline
for day, off, baseline in ((1, -0.1, "05.10"), (2, 0.0, "05.10"),
                           (3, None, "05.10"), (4, None, "02.12")):
    it = copy.deepcopy(src)       # hrefs still name the source's COGs
    it["id"] = "S2B_17PMK_202403%02d_0_L2A" % day
    it["properties"]["datetime"] = "2024-03-%02dT15:52:14.197Z" % day
    it["properties"]["s2:processing_baseline"] = baseline
    for a in it["assets"].values():
        if off is None:
            a.pop("raster:bands", None)
        else:
            for b in a.get("raster:bands", []):
                b["offset"] = off
    with open(os.path.join(sys.argv[2], it["id"] + ".json"), "w") as f:
        json.dump(it, f)
PY
start_server --catalog "$T/cat"
TINY=-82.445,8.39,-82.43,8.402
write_region_config "$T/satfs.conf" tiny "${TINY//,/, }"
mount_satfs -o config="$T/satfs.conf",cache="$CACHE",prefetch=0
IFS=, read -r w s e n <<<"$TINY"
RING=$w,$s,$e,$s,$e,$n,$w,$n
C=$S/cogs/$SRC_ID
BANDS=$C/B08.tif,$C/B04.tif,$C/B03.tif

# read FILE COPY: the size stat gives, the bytes read and the extent agree
read_exact() {
	local f=$1 copy=$2 size got ext
	size=$(stat -c %s "$f")
	cp "$f" "$copy" || fail "cp $f"
	got=$(stat -c %s "$copy")
	ext=$(python3 "$SRC/tests/integration/tiff_extent.py" "$copy") ||
		fail "$f: not a whole TIFF: $ext"
	if [ "$size" != "$got" ] || [ "$got" != "$ext" ]; then
		fail "$f: stat $size, read $got, TIFF extent $ext"
	fi
}

check() { # DAY OFFSET
	local f=$MNT/tiny/2024-03-$1/S2B_17PMK_202403$1_0_L2A.falsecolor.tif
	read_exact "$f" "$T/f$1.tif"
	python3 "$SRC/tests/integration/check_render.py" "$T/f$1.tif" \
		--region="$RING" --bands "$BANDS" --min 0 --max 5000 \
		--gamma 1.35 --offset="$2" >"$T/check$1" 2>&1 ||
		fail "2024-03-$1 with offset $2: $(cat "$T/check$1")"
	gdalinfo "$T/f$1.tif" | grep "satfs_offset_applied=$2,$2,$2" >/dev/null ||
		fail "2024-03-$1: metadata does not record offset $2"
}
check 01 -1000
check 02 0
check 03 -1000
check 04 0
# the pixel check sees the offset: each file fails it with the other one
for x in 01:0 02:-1000; do
	day=${x%%:*} off=${x#*:}
	if python3 "$SRC/tests/integration/check_render.py" "$T/f$day.tif" \
		--region="$RING" --bands "$BANDS" --min 0 --max 5000 \
		--gamma 1.35 --offset="$off" >/dev/null 2>&1; then
		fail "2024-03-$day passes the pixel check with offset $off too"
	fi
done
# truecolor and the .json: exact sizes too
read_exact "$MNT/tiny/2024-03-01/S2B_17PMK_20240301_0_L2A.truecolor.tif" "$T/t.tif"
j=$MNT/tiny/2024-03-01/S2B_17PMK_20240301_0_L2A.json
# (through cat: wc -c alone would take the size from stat)
# shellcheck disable=SC2002
[ "$(stat -c %s "$j")" = "$(cat "$j" | wc -c)" ] || fail "json: stat size is not the bytes read"
unmount_satfs
note "offsets -1000, 0, -1000, 0 in pixels; stat = read = extent"
echo "ok $TEST_NAME"
