#!/usr/bin/env bash
# Real-world inputs through the mount:
#  - an item without proj:epsg / proj:code is georeferenced from its COGs'
#    headers at listing: it is listed with its exact size, and its files
#    are byte for byte those of the same item with the code;
#  - max_cloud = 100 lists every scene, one whose cloud cover is 100 and
#    one without the property included;
#  - a COG the reader refuses fails its file with the reason in
#    user.satfs.error and a log line at error level.
. "$(dirname "$0")/lib.sh"
need_fuse
CAT=$T/catalog
private_catalog "$CAT"
S=$(samples_dir)
A=S2B_17PMK_20240103_0_L2A   # keeps its code
B=S2B_17PMK_20240222_0_L2A   # loses it: the copy of A's data
C=S2B_17PMK_20240412_0_L2A   # cloud cover 100
D=S2B_17PMK_20240601_0_L2A   # no cloud cover at all
python3 - "$CAT/items" "$A" "$B" "$C" "$D" <<'PY'
import json, sys
d, a, b, c, e = sys.argv[1:]
def edit(name, fn):
    p = "%s/%s.json" % (d, name)
    it = json.load(open(p))
    fn(it)
    json.dump(it, open(p, "w"), indent=1)
def no_crs(it):
    for k in ("proj:epsg", "proj:code"):
        it["properties"].pop(k, None)
        for asset in it["assets"].values():
            asset.pop(k, None)
edit(b, no_crs)
edit(c, lambda it: it["properties"].__setitem__("eo:cloud_cover", 100))
edit(e, lambda it: it["properties"].pop("eo:cloud_cover"))
PY
# B's pixels are A's: its COGs are A's (hard links)
rm -rf "$CAT/cogs/$B"
cp -al "$S/cogs/$A" "$CAT/cogs/$B"
start_server --catalog "$CAT"
write_config "$T/satfs.conf"
sed -i 's/^max_cloud = .*/max_cloud = 100/' "$T/satfs.conf"
mount_satfs -o config="$T/satfs.conf",cache="$CACHE",prefetch=0

ls "$MNT/david" >/dev/null || fail "ls david"
for id in "$A" "$B" "$C" "$D"; do
	ls "$MNT"/david/*/"$id.falsecolor.tif" >/dev/null 2>&1 ||
		fail "$id is not listed (max_cloud = 100, a CRS from headers)"
done
grep -q "skipped: unknown CRS" "$LOG" && fail "an item was skipped for its CRS"
fa=$(ls "$MNT"/david/*/"$A.falsecolor.tif")
fb=$(ls "$MNT"/david/*/"$B.falsecolor.tif")
# the headers of B's assets were read at listing, and so were not A's
[ "$(count_requests "^/cogs/$B/")" -ge 4 ] || fail "B's headers not read at listing"
[ "$(count_requests "^/cogs/$A/")" -eq 0 ] || fail "A's files read at listing"
sb=$(stat -c %s "$fb")
cp "$fa" "$T/a.tif" && cp "$fb" "$T/b.tif" || fail "cp"
[ "$(stat -c %s "$T/b.tif")" = "$sb" ] || fail "B: stat said $sb, read $(stat -c %s "$T/b.tif")"
# the same grid and pixels, as GDAL reads them (the tags differ: dates)
for x in a b; do
	gdalinfo "$T/$x.tif" | grep -E "^(Size is|Origin|Pixel Size)|EPSG\",326" >"$T/$x.grid"
	gdal_translate -q -of ENVI "$T/$x.tif" "$T/$x.raw" || fail "GDAL reads $x"
done
cmp -s "$T/a.grid" "$T/b.grid" || fail "grids differ: $(cat "$T/a.grid" "$T/b.grid")"
cmp -s "$T/a.raw" "$T/b.raw" || fail "B's pixels differ from A's"
note "an item without a CRS code: listed from its headers, its file identical"

# A refused COG: the file fails, with the reader's reason where users look
rm -f "$CAT/cogs/$C/B04.tif"
cp "$SRC/tests/data/cog-variants/refuse-rotated.tif" "$CAT/cogs/$C/B04.tif"
fc=$(ls "$MNT"/david/*/"$C.falsecolor.tif")
cat "$fc" >/dev/null 2>&1 && fail "a rotated COG was rendered"
why=$(getfattr --absolute-names --only-values -n user.satfs.error "$fc" 2>/dev/null)
echo "$why" | grep "rotated geotransform" >/dev/null ||
	fail "user.satfs.error: '$why'"
grep -q "error: render of $C.falsecolor failed: .*rotated geotransform" "$LOG" ||
	fail "no error line naming the cause"
note "a refused COG: '$why'"
unmount_satfs
