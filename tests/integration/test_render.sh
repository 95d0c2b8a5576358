#!/usr/bin/env bash
# Reading a file renders it: pixels checked against GDAL (gdalwarp on the
# same grid, the stretch applied independently) for falsecolor, truecolor,
# a raw product, an upsampling scale (2 m, the tutorial's) and one that
# reads an overview (60 m); gdalinfo reads every file without a warning;
# the size stat reported before the render is the number of bytes read.
. "$(dirname "$0")/lib.sh"
need_fuse
S=$(samples_dir)
start_server --catalog "$S"
TINY=-82.445,8.39,-82.43,8.402   # about 1.6 x 1.3 km
cat >"$T/satfs.conf" <<EOC
[source]
stac = $BASE
dates = 2024-01-01 .. 2024-07-31

[region david]
bbox = -82.48, 8.3508, -82.39, 8.4408

[region tiny]
bbox = ${TINY//,/, }

[product raw]
bands = B4, B3, B2
type = raw

[product fine]
bands = B8, B4, B3
min = 0
max = 5000
gamma = 1.35
scale = 2

[product coarse]
bands = nir, red, green
min = 0
max = 5000
gamma = 1.35
scale = 60
EOC
mount_satfs -o config="$T/satfs.conf",cache="$CACHE",prefetch=0

region_ring() { # W,S,E,N -> lon,lat ring
	IFS=, read -r w s e n <<<"$1"
	echo "$w,$s,$e,$s,$e,$n,$w,$n"
}
DAVID_RING=$(region_ring -82.48,8.3508,-82.39,8.4408)
TINY_RING=$(region_ring "$TINY")

date=$(ls "$MNT/david" | head -1)
id=$(basename "$(ls "$MNT/david/$date"/*.json | head -1)" .json)
cog=$S/cogs/$id
check() { # region-ring file product-args...
	local ring=$1 f=$2; shift 2
	local size
	size=$(stat -c %s "$f")
	cp "$f" "$T/out.tif" || fail "cp $f"
	[ "$(stat -c %s "$T/out.tif")" = "$size" ] ||
		fail "$f: stat said $size bytes, read $(stat -c %s "$T/out.tif")"
	python3 "$SRC/tests/integration/check_render.py" "$T/out.tif" \
		--region="$ring" "$@" || fail "$f differs from GDAL's rendering"
}
check "$DAVID_RING" "$MNT/david/$date/$id.falsecolor.tif" \
	--bands "$cog/B08.tif,$cog/B04.tif,$cog/B03.tif" \
	--min 0 --max 5000 --gamma 1.35 --offset=-1000
check "$DAVID_RING" "$MNT/david/$date/$id.truecolor.tif" \
	--bands "$cog/B04.tif,$cog/B03.tif,$cog/B02.tif" \
	--min 0 --max 3000 --gamma 1 --offset=-1000
tdate=$(ls "$MNT/tiny" | head -1)
tid=$(basename "$(ls "$MNT/tiny/$tdate"/*.json | head -1)" .json)
tcog=$S/cogs/$tid
check "$TINY_RING" "$MNT/tiny/$tdate/$tid.raw.tif" \
	--bands "$tcog/B04.tif,$tcog/B03.tif,$tcog/B02.tif" --raw
check "$TINY_RING" "$MNT/tiny/$tdate/$tid.fine.tif" \
	--bands "$tcog/B08.tif,$tcog/B04.tif,$tcog/B03.tif" \
	--min 0 --max 5000 --gamma 1.35 --offset=-1000
check "$DAVID_RING" "$MNT/david/$date/$id.coarse.tif" \
	--bands "$cog/B08.tif,$cog/B04.tif,$cog/B03.tif" \
	--min 0 --max 5000 --gamma 1.35 --offset=-1000

# The 60 m product read an overview: no full-resolution tile was fetched
# for it (its requests come after the others in the log).
gdalinfo "$MNT/david/$date/$id.coarse.tif" | grep "Pixel Size = (60.0" >/dev/null ||
	fail "coarse product is not at 60 m"
gdalinfo "$MNT/tiny/$tdate/$tid.fine.tif" | grep "Pixel Size = (2.0" >/dev/null ||
	fail "fine product is not at 2 m"
# provenance in GDAL_METADATA
gdalinfo "$MNT/david/$date/$id.falsecolor.tif" >"$T/info"
grep -q "satfs_item=$id" "$T/info" || fail "no item id in the metadata"
grep -qi "satfs_offset" "$T/info" || fail "no offset in the metadata"
grep -q "/cogs/$id/B08.tif" "$T/info" || fail "no source href in the metadata"
# mmap works (GDAL and rasterio may map files)
python3 - "$MNT/david/$date/$id.falsecolor.tif" <<'PY' || fail "mmap"
import mmap, sys
with open(sys.argv[1], "rb") as f:
    m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    assert m[:4] in (b"II*\x00", b"II+\x00"), m[:4]
    f.seek(0)
    assert m[:] == f.read()
PY
unmount_satfs
echo "ok $TEST_NAME"
