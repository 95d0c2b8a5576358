#!/usr/bin/env bash
# The pictures (docs/ARCHITECTURE.md "Rendering rules", rules 9-10):
# - every .tif of a visual product has its ITEM.PRODUCT.png (mosaics too),
#   the region its timelapse.PRODUCT.gif and index.html; stat gives their
#   exact sizes before any band is read, and cat gets that many bytes;
# - a quicklook is the product at its scale times f (quicklook_size=256:
#   f = 4 here): byte for byte the pixels of a product whose scale is
#   that (tc40), and close to the full-resolution GeoTIFF downsampled by
#   GDAL (gdal_translate -r average, within a tolerance: the quicklook
#   reads the COGs' averaged overviews, then stretches);
# - GDAL and ImageMagick read the PNGs and GIFs without a warning;
# - the time-lapse has one frame per date, the date written on it (read
#   back), the delay timelapse_delay says, each frame its quicklook;
# - the page shows each scene's region cloud cover as user.satfs.cloud
#   says it, and headless Chromium loads it from file://, every image
#   decoding (screenshot kept in $BUILD/test-artifacts/pictures/);
# - satfs prefetch renders the quicklooks too, and user.satfs.state
#   follows them.
. "$(dirname "$0")/lib.sh"
need_fuse
need_program getfattr attr
need_program gdal_translate gdal-bin
need_program gdalinfo gdal-bin
need_program identify imagemagick
need_program chromium chromium
need_program chromedriver chromium-driver
S=$(samples_dir)
PY=/usr/bin/python3 # Debian's, with numpy, rasterio and Pillow
$PY -c 'import numpy, rasterio, PIL' 2>/dev/null ||
	fail "no numpy, rasterio or PIL for $PY (python3-numpy, python3-rasterio, python3-pil: scripts/deps test)"
CHECK=$SRC/tests/integration/check_pictures.py
start_server --catalog "$S"
cat >"$T/satfs.conf" <<EOC
[source]
stac = $BASE
dates = 2024-01-01 .. 2024-07-31

[region david]
bbox = -82.48, 8.3508, -82.39, 8.4408

; truecolor at the scale of its quicklooks (10 m x 4)
[product tc40]
bands = B4, B3, B2
max = 3000
gamma = 1
scale = 40

[product raw]
bands = B04
type = raw
EOC
mount_satfs -o config="$T/satfs.conf",cache="$CACHE",prefetch=0,quicklook_size=256,timelapse_delay=700
D=$MNT/david
VISUAL="falsecolor truecolor ndvi ndwi tc40"

# The names, and exact sizes before any band is read (listing the dates
# reads SCL, for the region cloud cover; nothing else).
n0=$(log_lines)
ls -lR "$D" >"$T/lsR" || fail "ls -lR"
mapfile -t DATES < <(cd "$D" && ls -d 20*)
[ ${#DATES[@]} -ge 3 ] || fail "dates: ${DATES[*]}"
for p in $VISUAL; do
	[ -f "$D/timelapse.$p.gif" ] || fail "no timelapse.$p.gif"
done
[ -f "$D/index.html" ] || fail "no index.html"
[ -e "$D/timelapse.raw.gif" ] && fail "a time-lapse of a raw product"
for day in "${DATES[@]}"; do
	for tif in "$D/$day"/*.tif; do
		stem=${tif%.tif}
		case $stem in
		*.raw) [ -e "$stem.png" ] && fail "a quicklook of a raw product: $stem.png" ;;
		*) [ -f "$stem.png" ] || fail "no $(basename "$stem").png" ;;
		esac
	done
done
find "$D" -name '*.png' -o -name '*.gif' -o -name '*.html' |
	sort >"$T/pictures"
while read -r f; do
	stat -c '%s %n' "$f"
done <"$T/pictures" >"$T/sizes"
[ "$(requests_since "$n0" '/B0[2348]')" -eq 0 ] ||
	fail "listing read bands: $(requests_since "$n0" '/B0[2348]') requests"
note "$(wc -l <"$T/pictures") pictures listed"

# satfs prefetch of one date renders its quicklooks with its GeoTIFFs.
DAY=${DATES[-1]}
want=$(find "$D/$DAY" -name '*.tif' -o -name '*.png' | wc -l)
"$SATFS" prefetch -q "$D/$DAY" >"$T/pf.out" 2>"$T/pf.err" ||
	{ cat "$T/pf.out" "$T/pf.err" >&2; fail "prefetch exit status"; }
grep -q "^prefetched $want files" "$T/pf.out" ||
	fail "prefetch of $want files: $(cat "$T/pf.out")"
for f in "$D/$DAY"/*.png; do
	st=$(getfattr --only-values -n user.satfs.state "$f" 2>/dev/null)
	[ "$st" = cached ] || fail "$f: state $st after prefetch"
done

# ... and the region's own files.
"$SATFS" prefetch -q "$D/index.html" "$D/timelapse.falsecolor.gif" >"$T/pf2.out" ||
	fail "prefetch of the region's files: $(cat "$T/pf2.out")"
grep -q "^prefetched 2 files" "$T/pf2.out" || fail "prefetch: $(cat "$T/pf2.out")"

# Every picture whole: as many bytes as stat promised.
while read -r size path; do
	got=$(cat "$path" | wc -c)
	[ "$got" -eq "$size" ] || fail "$path: stat said $size, read $got"
done <"$T/sizes"
for f in "$D/index.html" "$D/timelapse.ndvi.gif"; do
	st=$(getfattr --only-values -n user.satfs.state "$f" 2>/dev/null)
	[ "$st" = cached ] || fail "$f: state $st after a read"
	getfattr -n user.satfs.source "$f" >/dev/null 2>&1 &&
		fail "$f: a user.satfs.source"
done

# GDAL and ImageMagick read them without a word of complaint.
first=${DATES[0]}
ONE=$(cd "$D/$first" && ls S2*.truecolor.png | head -1)
ITEM=${ONE%.truecolor.png}
for f in "$D/$first/$ONE" "$D/timelapse.ndvi.gif" "$D/$first/$ITEM.ndvi.png"; do
	gdalinfo "$f" >"$T/gi.out" 2>"$T/gi.err" || fail "gdalinfo $f"
	grep -qiE 'warning|error' "$T/gi.out" "$T/gi.err" &&
		fail "gdalinfo $f: $(cat "$T/gi.err")"
	identify "$f" >"$T/id.out" 2>"$T/id.err" || fail "identify $f"
	[ -s "$T/id.err" ] && fail "identify $f: $(cat "$T/id.err")"
done
identify -format '%m %w %h %[channels]\n' "$D/$first/$ONE" >"$T/id.png"
grep -qE '^PNG [0-9]+ [0-9]+ srgba' "$T/id.png" || fail "not RGBA: $(cat "$T/id.png")"

# The quicklook is the product at 4 x its scale: tc40's pixels exactly.
$PY "$CHECK" same "$D/$first/$ONE" "$D/$first/$ITEM.tc40.tif" ||
	fail "quicklook != tc40"
$PY "$CHECK" same "$D/$first/$ITEM.tc40.png" "$D/$first/$ITEM.tc40.tif" ||
	fail "tc40's own quicklook (f = 1) != tc40"
# ... and close to the full-resolution GeoTIFF downsampled by GDAL onto
# the quicklook's grid (averaging, as the overviews did).
read -r ulx uly lrx lry w h < <($PY - "$D/$first/$ITEM.tc40.tif" <<'PY'
import sys, rasterio
d = rasterio.open(sys.argv[1]); b = d.bounds
print(b.left, b.top, b.right, b.bottom, d.width, d.height)
PY
)
gdal_translate -q -projwin "$ulx" "$uly" "$lrx" "$lry" -outsize "$w" "$h" \
	-r average "$D/$first/$ITEM.truecolor.tif" "$T/ref.tif" 2>"$T/gt.err" ||
	fail "gdal_translate: $(cat "$T/gt.err")"
$PY "$CHECK" near "$D/$first/$ONE" "$T/ref.tif" 4 24 ||
	fail "quicklook far from the GeoTIFF downsampled"

# The time-lapse: a frame per date, its date on it, 0.7 s each, its
# pixels the date's quicklook (the mosaic's where there is one).
args=()
for day in "${DATES[@]}"; do
	if [ -f "$D/$day/mosaic.truecolor.png" ]; then
		q=$D/$day/mosaic.truecolor.png
	else
		q=$(ls "$D/$day"/S2*.truecolor.png | head -1)
	fi
	cp "$q" "$T/q.$day.png"
	args+=("$day:$T/q.$day.png")
done
cp "$D/timelapse.truecolor.gif" "$T/tl.gif"
$PY "$CHECK" gif "$T/tl.gif" 70 "${args[@]}" || fail "time-lapse"

# The page: each scene's region cloud cover as user.satfs.cloud says.
cp "$D/index.html" "$T/index.html"
for day in "${DATES[@]}"; do
	for j in "$D/$day"/*.json; do
		id=$(basename "$j" .json)
		c=$(getfattr --only-values -n user.satfs.cloud "$D/$day/$id.truecolor.tif" 2>/dev/null) ||
			fail "no user.satfs.cloud for $id"
		grep -q "<tr><td>$id</td><td>[^<]*</td><td> *$c %</td>" "$T/index.html" ||
			fail "the page's region cloud of $id is not $c %"
		grep -q "href=\"$day/$id.json\"" "$T/index.html" || fail "no link to $id.json"
		grep -q "src=\"$day/$id.ndvi.png\"" "$T/index.html" || fail "no quicklook of $id"
	done
done
grep -qi '<script' "$T/index.html" && fail "the page has a script"

# In a browser, from file://: the page loads, every image decodes; and the
# time-lapse and a quicklook opened on their own.
ART=$BUILD/test-artifacts/pictures
mkdir -p "$ART"
python3 "$SRC/tests/integration/check_browser.py" --timeout 90 \
	--screenshot "$ART/index.png" "file://$D/index.html" \
	"file://$D/timelapse.truecolor.gif" "file://$D/$first/$ONE" ||
	fail "Chromium"
note "screenshot kept: $ART/index.png"

unmount_satfs
echo "ok $TEST_NAME"
