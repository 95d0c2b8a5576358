#!/usr/bin/env bash
# Builds the fuzzers' seed corpora in OUTDIR/{cog,stac} (in the build
# directory: these files are large, so they are not committed; small
# hand-made seeds live in tests/fuzz/seeds/).
#   make_seeds.sh OUTDIR [SAMPLES_DIR]
# cog:  tests/data's SCL.tif whole and the first 64 KiB (the
#       header and first tiles) of its other COGs; tiny COGs made with
#       GDAL in every layout we read (DEFLATE/LZW/none, predictor 2, 8/16
#       bits, 1 and 3 bands, overviews, BigTIFF); the first 64 KiB of a
#       sample catalog's COGs when SAMPLES_DIR is given.
# stac: tests/data's recorded responses; the sample items, as a
#       page each.
set -euo pipefail
out=$1
samples=${2:-}
src=${SATFS_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
real=$src/tests/data
stamp=$out/.stamp
[ -f "$stamp" ] && [ "$stamp" -nt "$0" ] && exit 0
rm -rf "$out"
mkdir -p "$out/cog" "$out/stac"

fail() { echo "make_seeds: $*" >&2; exit 1; }
[ -f "$real/stac/PROVENANCE.json" ] || fail "no recorded data in $real"
for f in "$real"/cog/*/*.tif; do
	b=$(basename "$f" .tif)
	if [ "$(stat -c %s "$f")" -le 65536 ]; then
		cp "$f" "$out/cog/real-$b.tif"
	else
		head -c 65536 "$f" >"$out/cog/real-$b-head.tif"
	fi
done
for f in "$real"/stac/*.json "$real"/cog/*/*.json; do
	cp "$f" "$out/stac/real-$(basename "$f")"
done

command -v gdal_translate >/dev/null ||
	fail "no gdal_translate (scripts/deps test installs gdal-bin)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A small gradient raster in UTM 17N, nodata 0 in one corner.
python3 - "$tmp" <<'PY'
import struct, sys
d = sys.argv[1]
w = h = 96
with open(d + "/r.raw", "wb") as f:
    for y in range(h):
        f.write(struct.pack("<%dH" % w, *[0 if x + y < 20 else
                                          1000 + 37 * x + 11 * y
                                          for x in range(w)]))
open(d + "/r.hdr", "w").write(
    "ENVI\nsamples = %d\nlines = %d\nbands = 1\nheader offset = 0\n"
    "file type = ENVI Standard\ndata type = 12\ninterleave = bsq\n"
    "byte order = 0\nmap info = {UTM, 1, 1, 333980, 936420, 10, 10, 17,"
    " North, WGS-84}\n" % (w, h))
PY
# GDAL warns about tiles under 128 pixels; its messages are shown only
# when it fails.
gdal() {
	gdal_translate -q "$@" 2>"$tmp/gdal.err" ||
		{ cat "$tmp/gdal.err" >&2; fail "gdal_translate $* failed"; }
}
n=0
cog() {
	n=$((n + 1))
	gdal -of COG -a_nodata 0 "$@" "$tmp/r.raw" "$out/cog/gdal-$n.tif"
}
cog -co BLOCKSIZE=32 -co COMPRESS=DEFLATE -co PREDICTOR=2
cog -co BLOCKSIZE=64 -co COMPRESS=DEFLATE
cog -co BLOCKSIZE=32 -co COMPRESS=LZW -co PREDICTOR=2
cog -co BLOCKSIZE=48 -co COMPRESS=NONE
cog -co BLOCKSIZE=32 -co COMPRESS=DEFLATE -co BIGTIFF=YES
cog -co BLOCKSIZE=32 -co COMPRESS=DEFLATE -co OVERVIEWS=NONE
cog -co BLOCKSIZE=16 -co COMPRESS=DEFLATE -ot Byte -scale
cog -co BLOCKSIZE=32 -co COMPRESS=ZSTD -co PREDICTOR=2
cog -co BLOCKSIZE=32 -co COMPRESS=DEFLATE -ot Float32 -co PREDICTOR=3
gdal -of COG -co BLOCKSIZE=32 -co COMPRESS=DEFLATE -b 1 -b 1 -b 1 -ot Byte \
	-scale "$tmp/r.raw" "$out/cog/gdal-rgb.tif"
gdal -of GTiff -co TILED=NO "$tmp/r.raw" "$out/cog/gdal-stripped.tif"

if [ -n "$samples" ]; then
	[ -d "$samples/cogs" ] || fail "no sample catalog in $samples"
	for f in "$samples"/cogs/S2B_17PMK_20240103_0_L2A/*.tif \
		 "$samples"/cogs/S2A_31UFT_*/B02.tif; do
		[ -f "$f" ] || continue
		head -c 65536 "$f" >"$out/cog/sample-$(basename "$(dirname "$f")")-$(basename "$f")"
	done
	for f in "$samples"/items/*.json; do
		python3 - "$f" >"$out/stac/sample-page-$(basename "$f")" <<'PY'
import json, sys
it = json.load(open(sys.argv[1]))
print(json.dumps({"type": "FeatureCollection", "features": [it],
                  "links": [{"rel": "next", "method": "POST",
                             "href": "{base}/search", "merge": True,
                             "body": {"next": "abc"}}]}))
PY
	done
fi
touch "$stamp"
ls "$out/cog" "$out/stac" | wc -l
