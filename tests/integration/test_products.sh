#!/usr/bin/env bash
# The analysis products on a mount, checked against references computed
# with GDAL's tools from the sample COGs (check_products.py):
# - the built-in indices ndvi and ndwi are RGBA pictures;
# - user.satfs.cloud of each scene (known once its date is listed) is the
#   region cloud cover GDAL counts from the scene's SCL, and the file's
#   satfs_region_cloud tag says the same;
# - 2024-02-22, where tiles 17PLK and 17PMK meet, has a mosaic of each
#   product, taking each pixel from the less cloudy scene first;
# - mask = cloud, shadow, cirrus makes exactly the cloudy pixels
#   transparent; type = reflectance writes DN x scale + offset as float32;
# - max_region_cloud, in the file and in an ad-hoc name, hides the dates
#   whose scenes are all cloudier; -o products shows only those named.
. "$(dirname "$0")/lib.sh"
# (pictures=off: a region lists only its dates, a date its .tif and
# .json here; the pictures are test_pictures.sh's subject)
need_fuse
need_program getfattr attr
need_program gdalwarp gdal-bin
need_program ogr2ogr gdal-bin
need_program gdal_rasterize gdal-bin
S=$(samples_dir)
PY=/usr/bin/python3 # Debian's, with numpy and rasterio
$PY -c 'import numpy, rasterio' 2>/dev/null ||
	fail "no numpy or rasterio for $PY (python3-numpy, python3-rasterio, which scripts/deps test installs)"
CHECK=$SRC/tests/integration/check_products.py
BBOX="-82.48, 8.3508, -82.39, 8.4408"
BBOX_ARG=${BBOX// /}
start_server --catalog "$S"
cat >"$T/satfs.conf" <<EOC
[source]
stac = $BASE
dates = 2024-01-01 .. 2024-07-31

[region david]
bbox = $BBOX

[product refl]
bands = B04, B08
type = reflectance

[product clear]
bands = B8, B4, B3
mask = cloud, shadow, cirrus
outline = none

[product edge]
bands = B05, B04, B03
EOC
mount_satfs -o pictures=off,config="$T/satfs.conf",cache="$CACHE",prefetch=0
D=$MNT/david
DAY=$D/2024-02-22
PLK=S2B_17PLK_20240222_0_L2A
PMK=S2B_17PMK_20240222_0_L2A

# The date two tiles share: both scenes, and one mosaic per product.
ls "$DAY" >"$T/day.ls" || fail "ls $DAY"
for p in falsecolor truecolor ndvi ndwi refl clear; do
	for f in $PLK.$p.tif $PMK.$p.tif mosaic.$p.tif; do
		grep -qx "$f" "$T/day.ls" || fail "no $f in $(tr '\n' ' ' <"$T/day.ls")"
	done
done
# A product whose band no scene has: no files, and one warning that
# says which band and what the scenes have.
ls "$D"/*/*.edge.tif >/dev/null 2>&1 && fail "files of a product without its band"
grep "warning: region david: product edge makes no file: .* has no band B05; it has .*red" "$LOG" >/dev/null ||
	fail "no warning naming the band product edge lacks: $(grep edge "$LOG")"
[ "$(grep -c "product edge makes no file" "$LOG")" -eq 1 ] ||
	fail "the missing band said more than once"
for d in "$D"/*/; do
	[ "$d" = "$DAY/" ] && continue
	ls "$d" | grep -q '^mosaic\.' && fail "a mosaic in $d, a date of one scene"
done

# Region cloud cover: counted in the background when the dates were
# listed (each scene's SCL read with nobody asking), equal to GDAL's count
# from SCL, and in the file's tags; asked again, from memory.
ids=$(cd "$D" && ls */S2*.falsecolor.tif | sed 's|.*/||; s|\.falsecolor\.tif$||' | sort -u)
for _ in $(seq 300); do
	missing=0
	for id in $ids; do
		[ "$(count_requests "^/cogs/$id/SCL\.tif")" -ge 1 ] || missing=$((missing + 1))
	done
	[ $missing -eq 0 ] && break
	sleep 0.1
done
[ $missing -eq 0 ] || fail "$missing scenes' SCL not read after listing"
declare -A COVER
for f in "$D"/*/S2*.falsecolor.tif; do
	id=$(basename "$f" .falsecolor.tif)
	COVER[$id]=$(getfattr --absolute-names --only-values -n user.satfs.cloud "$f") ||
		fail "no user.satfs.cloud on $f"
done
n0=$(log_lines)
for f in "$D"/*/S2*.falsecolor.tif; do
	id=$(basename "$f" .falsecolor.tif)
	[ "$(getfattr --absolute-names --only-values -n user.satfs.cloud "$f")" = "${COVER[$id]}" ] ||
		fail "user.satfs.cloud of $id changed"
done
[ "$(requests_since "$n0")" -eq 0 ] ||
	fail "user.satfs.cloud asked again made $(requests_since "$n0") requests"
for id in $PLK $PMK; do
	cp "$DAY/$id.falsecolor.tif" "$T/$id.tif" || fail "read $id"
	want=$($PY "$CHECK" cloud "$T/$id.tif" "$S/cogs/$id/SCL.tif" "$BBOX_ARG") ||
		fail "reference cloud cover of $id"
	[ "${COVER[$id]}" = "$want" ] ||
		fail "$id: user.satfs.cloud ${COVER[$id]}, GDAL counts $want"
	tag=$(gdalinfo "$T/$id.tif" | sed -n 's/^ *satfs_region_cloud=//p')
	[ "$tag" = "$want" ] || fail "$id: satfs_region_cloud tag '$tag', want $want"
	note "$id: region cloud cover $want % (GDAL agrees)"
done
getfattr --absolute-names --only-values -n user.satfs.cloud "$DAY/mosaic.ndvi.tif" |
	grep -qx "${COVER[$PLK]},${COVER[$PMK]}" || fail "mosaic's user.satfs.cloud"

# The mosaic: each pixel from the less cloudy scene over the region first.
first=$PLK second=$PMK
awk -v a="${COVER[$PLK]}" -v b="${COVER[$PMK]}" 'BEGIN { exit !(a > b) }' &&
	first=$PMK second=$PLK
for p in falsecolor ndvi; do
	cp "$DAY/mosaic.$p.tif" "$T/mosaic.$p.tif" || fail "read mosaic.$p.tif"
	[ "$(stat -c %s "$T/mosaic.$p.tif")" = "$(stat -c %s "$DAY/mosaic.$p.tif")" ] ||
		fail "mosaic.$p.tif: size changed by the render"
	cp "$DAY/$first.$p.tif" "$T/a.tif" && cp "$DAY/$second.$p.tif" "$T/b.tif" ||
		fail "read the scenes of mosaic.$p.tif"
	$PY "$CHECK" mosaic "$T/mosaic.$p.tif" "$T/a.tif" "$T/b.tif" >&2 ||
		fail "mosaic.$p.tif"
done
gdalinfo "$T/mosaic.ndvi.tif" | grep -q "satfs_scenes=$first,$second" ||
	fail "mosaic tags: $(gdalinfo "$T/mosaic.ndvi.tif" | grep satfs_)"

# The indices: RGBA through their palettes.
for p in ndvi ndwi; do
	gdalinfo "$DAY/$PMK.$p.tif" >"$T/$p.info" || fail "gdalinfo $p"
	[ "$(grep -c '^Band [0-9].*Type=Byte' "$T/$p.info")" -eq 4 ] &&
		grep -q 'ColorInterp=Alpha' "$T/$p.info" || fail "$p is not RGBA"
done

# Cloud mask and reflectance, against GDAL's reading of the COGs.
cp "$DAY/$PMK.clear.tif" "$T/clear.tif" || fail "read clear"
$PY "$CHECK" mask "$T/clear.tif" "$S/cogs/$PMK/SCL.tif" "$BBOX_ARG" >&2 ||
	fail "mask"
cp "$DAY/$PMK.refl.tif" "$T/refl.tif" || fail "read refl"
$PY "$CHECK" reflectance "$T/refl.tif" "$BBOX_ARG" "$S/cogs/$PMK/B04.tif" \
	"$S/cogs/$PMK/B08.tif" >&2 || fail "reflectance"

# max_region_cloud in an ad-hoc name: a threshold between the covers
# hides exactly the dates whose scenes are all above it.
limit=$(printf '%s\n' "${COVER[@]}" | sort -n | sed -n 3p)
want=$(for id in "${!COVER[@]}"; do
	d=${id#*_*_}; d=${d%%_*}
	echo "${d:0:4}-${d:4:2}-${d:6:2} ${COVER[$id]}"
done | awk -v l="$limit" '{ if ($2 <= l) keep[$1] = 1; seen[$1] = 1 }
	END { for (d in seen) if (d in keep) print d }' | sort)
name="bbox=$BBOX_ARG,2024-01-01..2024-07-31,max_region_cloud=$limit"
got=$(ls "$MNT/$name") || fail "ls $name"
[ "$got" = "$want" ] || fail "max_region_cloud=$limit: dates '$got', want '$want'"
[ "$(echo "$want" | wc -l)" -lt "${#COVER[@]}" ] || fail "nothing hidden at $limit"
n=$(grep -c "max_region_cloud=$limit: .* hidden: its scenes are all cloudier than" "$LOG")
[ "$n" -eq $(($(ls "$D" | wc -l) - $(echo "$want" | wc -l))) ] ||
	fail "$n log lines for the hidden dates"
ls "$MNT/bbox=$BBOX_ARG,max_region_cloud=101" 2>/dev/null &&
	fail "max_region_cloud=101 accepted"
unmount_satfs

# The same in the configuration file; -o products shows only those named.
cat >>"$T/satfs.conf" <<EOC

[region clearish]
bbox = $BBOX
max_region_cloud = $limit
EOC
mount_satfs -o pictures=off,config="$T/satfs.conf",cache="$CACHE",prefetch=0,products=ndvi:clear
got=$(ls "$MNT/clearish") || fail "ls clearish"
[ "$got" = "$want" ] || fail "clearish: dates '$got', want '$want'"
ls "$MNT/david/2024-02-22" >"$T/day2.ls"
printf '%s\n' $PLK.clear.tif $PLK.json $PLK.ndvi.tif $PMK.clear.tif \
	$PMK.json $PMK.ndvi.tif mosaic.clear.tif mosaic.ndvi.tif |
	diff - "$T/day2.ls" >&2 || fail "-o products=ndvi:clear"
mkdir -p "$T/mnt2"
st=0
timeout 20 "$SATFS" -o config="$T/satfs.conf",products=ndvi:nope "$T/mnt2" \
	2>"$T/bad.err" || st=$?
if [ $st -eq 0 ]; then
	fusermount3 -u "$T/mnt2"
	fail "an unknown product was accepted"
fi
[ $st -eq 2 ] && grep -q "'nope' is no product" "$T/bad.err" ||
	fail "unknown product: exit $st, $(cat "$T/bad.err")"
note "covers ${COVER[*]}; at $limit % $(echo "$want" | wc -l) dates stay"
