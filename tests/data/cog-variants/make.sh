#!/usr/bin/env bash
# Makes the small GeoTIFFs of tests/data/cog-variants with GDAL's own
# drivers (COG, GTiff), and GDAL's reading of each, so that the C unit
# tests (tests/unit/test_cog.c) compare our decoding with GDAL's without
# GDAL at test time:
#   NAME.tif              the file
#   gdal/NAME.txt         what gdalinfo says: size, bands, type, levels and
#                         their geotransforms, nodata, mask flags, alpha,
#                         CRS (EPSG code and WKT2)
#   gdal/NAME.L.raw       level L (0 full resolution, then the overviews)
#                         as gdal_translate -of ENVI writes it: every band,
#                         band after band, GDAL's data type, little-endian
#   gdal/NAME.L.mask      the mask band of band 1 of level L (-b mask), one
#                         byte per pixel
#   gdal/index.txt        the names, one a line
# and README.md's table of the commands. Run it again after changing it:
#   tests/data/cog-variants/make.sh [OUTDIR]
# Needs gdal-bin and python3 (standard library only); deterministic for a
# given GDAL (the version is recorded in every gdal/NAME.txt).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out/gdal"
rm -f "$out"/*.tif "$out"/gdal/*
gdalver=$(gdalinfo --version)
export GDAL_PAM_ENABLED=NO   # no .aux.xml beside the files

# ---- sources: 40x30 pixels, raw band-sequential with an ENVI header ------
python3 - "$tmp" <<'PY'
import math, struct, sys
d = sys.argv[1]
W, H = 40, 30

def envi(name, bands, dtype, fmt, fn):
    with open("%s/%s.raw" % (d, name), "wb") as f:
        for b in range(bands):
            for y in range(H):
                f.write(struct.pack("<%d%s" % (W, fmt),
                                    *[fn(b, x, y) for x in range(W)]))
    open("%s/%s.hdr" % (d, name), "w").write(
        "ENVI\nsamples = %d\nlines = %d\nbands = %d\nheader offset = 0\n"
        "file type = ENVI Standard\ndata type = %d\ninterleave = bsq\n"
        "byte order = 0\n" % (W, H, bands, dtype))

def inside(x, y):
    return ((x - 19.5) / 17.0) ** 2 + ((y - 14.5) / 12.0) ** 2 <= 1

def rgb(b, x, y):
    if b == 0:
        return (x * 6 + y * 2) % 256
    if b == 1:
        return (y * 8 + (x * x) % 37) % 256
    return int(127 + 120 * math.sin(x / 5.0) * math.cos(y / 4.0))

# RGB + alpha: 0 outside an ellipse, 255 inside; graded; all 0
envi("rgba", 4, 1, "B", lambda b, x, y:
     rgb(b, x, y) if b < 3 else (255 if inside(x, y) else 0))
envi("rgba-graded", 4, 1, "B", lambda b, x, y:
     rgb(b, x, y) if b < 3 else
     (1 + (x * 7 + y * 5) % 255 if inside(x, y) else 0))
envi("rgba-zero", 4, 1, "B", lambda b, x, y: rgb(b, x, y) if b < 3 else 0)
# uint16 data and a validity band; the top-left 16x16 block is all 0 in
# both (a sparse tile)
def u16m(b, x, y):
    if x < 16 and y < 16:
        return 0
    if b == 0:
        return (x * 1500 + y * 37 + 1) % 65536
    return 255 if inside(x, y) or x > 30 else 0
envi("u16m", 2, 12, "H", u16m)
# three uint16 bands
envi("u16x3", 3, 12, "H", lambda b, x, y: (x * 1500 + y * 37 + b * 9000) % 65536)
# gray + uint16 alpha: 0, small (1..256) and large values
envi("gray-alpha16", 2, 12, "H", lambda b, x, y:
     (x * 1000 + y) if b == 0 else
     (0 if x < 10 else (x * 13 + y) % 257 if x < 25 else 60000 + x + y))
# one band per sample type
envi("i8", 1, 1, "B", lambda b, x, y: (x * 7 + y * 13) % 256)
envi("u16", 1, 12, "H", lambda b, x, y: (x * 1500 + y * 37) % 65536)
envi("i16", 2, 2, "h", lambda b, x, y:
     -9999 if 5 <= x < 9 and 3 <= y < 20 else
     (x - 20) * 1000 + y * 17 - 3000 * b)
envi("u32", 1, 13, "I", lambda b, x, y: (x * 100000000 + y * 12345) % 2**32)
envi("i32", 1, 3, "i", lambda b, x, y: (x - 20) * 100000000 + y * 777)
envi("f32", 1, 4, "f", lambda b, x, y:
     float("nan") if 30 <= x < 36 and 10 <= y < 14 else
     1000 * math.sin(x / 3.0) * math.cos(y / 7.0) + 0.125)
envi("f64", 1, 5, "d", lambda b, x, y: x * 1e-3 + y * 1e10 + 1 / 3.0)
PY

# Georeferenced copies of the sources: EPSG:32633, 10 m pixels.
geo="-a_srs EPSG:32633 -a_ullr 500000 4000300 500400 4000000"
for s in rgba rgba-graded rgba-zero; do
	gdal_translate -q $geo -colorinterp red,green,blue,alpha \
		"$tmp/$s.raw" "$tmp/$s.tif"
done
gdal_translate -q $geo "$tmp/u16m.raw" "$tmp/u16m.tif"
gdal_translate -q $geo "$tmp/u16x3.raw" "$tmp/u16x3.tif"
gdal_translate -q $geo -colorinterp gray,alpha "$tmp/gray-alpha16.raw" \
	"$tmp/gray-alpha16.tif"
for s in i8 u16 i16 u32 i32 f32 f64; do
	gdal_translate -q $geo "$tmp/$s.raw" "$tmp/$s.tif"
done

names=()
declare -A cmd
# make NAME COMMAND...: runs the command and records it for the README
make() {
	local name=$1
	shift
	"$@"
	names+=("$name")
	cmd[$name]="$*"
}
ovr() { # ovr NAME: internal overviews 2 and 4, nearest
	local args=(-q --config GDAL_TIFF_OVR_BLOCKSIZE 64 -r nearest
		"$out/$1.tif" 2 4)
	gdaladdo "${args[@]}"
	cmd[$1]+=" && gdaladdo ${args[*]}"
}
T16="-co TILED=YES -co BLOCKXSIZE=16 -co BLOCKYSIZE=16"

# ---- masks and alpha ------------------------------------------------------
# The COG driver turns the alpha band of an RGBA source into an internal
# mask for JPEG (YCbCr), with a mask for every overview.
make jpeg-mask gdal_translate -q -of COG -co COMPRESS=JPEG -co BLOCKSIZE=16 \
	"$tmp/rgba.tif" "$out/jpeg-mask.tif"
# uint16 + a mask from a validity band (-mask), DEFLATE + predictor, a
# sparse tile (all zero, not written) in both the image and the mask.
make deflate-mask-sparse gdal_translate -q -of GTiff $T16 -co COMPRESS=DEFLATE \
	-co PREDICTOR=2 -co SPARSE_OK=TRUE --config GDAL_TIFF_INTERNAL_MASK YES \
	-b 1 -mask 2 "$tmp/u16m.tif" "$out/deflate-mask-sparse.tif"
# WEBP keeps the alpha band (lossless here).
make webp-alpha gdal_translate -q -of COG -co COMPRESS=WEBP -co QUALITY=100 \
	-co BLOCKSIZE=16 "$tmp/rgba-graded.tif" "$out/webp-alpha.tif"
make alpha-zero gdal_translate -q -of COG -co COMPRESS=DEFLATE -co BLOCKSIZE=16 \
	"$tmp/rgba-zero.tif" "$out/alpha-zero.tif"
make alpha-graded gdal_translate -q -of GTiff $T16 -co COMPRESS=LZW \
	"$tmp/rgba-graded.tif" "$out/alpha-graded.tif"
ovr alpha-graded
make gray-alpha-u16 gdal_translate -q -of GTiff $T16 -co COMPRESS=ZSTD \
	-co PREDICTOR=2 "$tmp/gray-alpha16.tif" "$out/gray-alpha-u16.tif"
ovr gray-alpha-u16

# ---- layouts --------------------------------------------------------------
make striped-u16 gdal_translate -q -of GTiff -co TILED=NO -co BLOCKYSIZE=7 \
	-co COMPRESS=DEFLATE -co PREDICTOR=2 "$tmp/u16.tif" "$out/striped-u16.tif"
ovr striped-u16
make striped-mask gdal_translate -q -of GTiff -co TILED=NO -co BLOCKYSIZE=8 \
	-co COMPRESS=LZW --config GDAL_TIFF_INTERNAL_MASK YES \
	-b 1 -b 2 -b 3 -mask 4 "$tmp/rgba.tif" "$out/striped-mask.tif"
make striped-jpeg gdal_translate -q -of GTiff -co TILED=NO -co BLOCKYSIZE=16 \
	-co COMPRESS=JPEG -co PHOTOMETRIC=YCBCR -b 1 -b 2 -b 3 \
	"$tmp/rgba.tif" "$out/striped-jpeg.tif"
make planar-mask gdal_translate -q -of GTiff $T16 -co INTERLEAVE=BAND \
	-co COMPRESS=LZW -co PREDICTOR=2 --config GDAL_TIFF_INTERNAL_MASK YES \
	-mask 1 "$tmp/u16x3.tif" "$out/planar-mask.tif"
ovr planar-mask
make planar-striped gdal_translate -q -of GTiff -co TILED=NO -co BLOCKYSIZE=11 \
	-co INTERLEAVE=BAND -co COMPRESS=PACKBITS -b 1 -b 2 -b 3 \
	"$tmp/rgba.tif" "$out/planar-striped.tif"
# y growing downward: GDAL writes a ModelTransformation
make south-up gdal_translate -q -of GTiff $T16 -co COMPRESS=DEFLATE \
	-a_ullr 500000 3999700 500400 4000000 "$tmp/u16.tif" "$out/south-up.tif"
ovr south-up

# ---- sample types -----------------------------------------------------------
make i8 gdal_translate -q -of GTiff $T16 -co PIXELTYPE=SIGNEDBYTE \
	-co COMPRESS=DEFLATE -co PREDICTOR=2 "$tmp/i8.tif" "$out/i8.tif"
ovr i8
make u16-cog gdal_translate -q -of COG -co COMPRESS=DEFLATE -co PREDICTOR=2 \
	-co BLOCKSIZE=16 "$tmp/u16.tif" "$out/u16-cog.tif"
make i16-nodata gdal_translate -q -of COG -co COMPRESS=ZSTD -co PREDICTOR=2 \
	-co BLOCKSIZE=16 -a_nodata -9999 "$tmp/i16.tif" "$out/i16-nodata.tif"
make i16-be gdal_translate -q -of GTiff $T16 -co ENDIANNESS=BIG \
	-co COMPRESS=DEFLATE -co PREDICTOR=2 "$tmp/i16.tif" "$out/i16-be.tif"
ovr i16-be
make u32 gdal_translate -q -of GTiff $T16 -co COMPRESS=LZMA \
	"$tmp/u32.tif" "$out/u32.tif"
ovr u32
make i32-be-striped gdal_translate -q -of GTiff -co TILED=NO -co BLOCKYSIZE=9 \
	-co ENDIANNESS=BIG -co COMPRESS=LZW -co PREDICTOR=2 \
	"$tmp/i32.tif" "$out/i32-be-striped.tif"
make f32-nan gdal_translate -q -of COG -co COMPRESS=DEFLATE -co PREDICTOR=3 \
	-co BLOCKSIZE=16 -a_nodata nan "$tmp/f32.tif" "$out/f32-nan.tif"
make f32-lerc gdal_translate -q -of GTiff $T16 -co COMPRESS=LERC_ZSTD \
	-co MAX_Z_ERROR=0 "$tmp/f32.tif" "$out/f32-lerc.tif"
make f64-be gdal_translate -q -of GTiff $T16 -co ENDIANNESS=BIG \
	-co COMPRESS=ZSTD -co PREDICTOR=3 "$tmp/f64.tif" "$out/f64-be.tif"
ovr f64-be

# ---- CRSs without an EPSG code (user-defined GeoKeys) ---------------------
crs() { # crs NAME SRS: a small uint16 file in that CRS
	make "$1" gdal_translate -q -of GTiff $T16 -a_srs "$2" \
		-a_ullr 100000 200300 100400 200000 "$tmp/u16.tif" "$out/$1.tif"
}
crs crs-tmerc-grs80 "+proj=tmerc +lat_0=0 +lon_0=10 +k=0.9996 +x_0=500000 +y_0=0 +ellps=GRS80 +units=m"
crs crs-tmerc-wgs84 "+proj=tmerc +lat_0=0 +lon_0=15 +k=0.9996 +x_0=500000 +y_0=0 +datum=WGS84 +units=m"
crs crs-utm-towgs84 "+proj=utm +zone=33 +ellps=intl +towgs84=-87,-98,-121,0,0,0,0 +units=m"
crs crs-sinu-sphere "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m"
crs crs-laea-usft "+proj=laea +lat_0=52 +lon_0=10 +x_0=4321000 +y_0=3210000 +ellps=GRS80 +units=us-ft"
crs crs-lcc-2sp "+proj=lcc +lat_1=49 +lat_2=44 +lat_0=46.5 +lon_0=3 +x_0=700000 +y_0=6600000 +ellps=GRS80 +units=m"
crs crs-aea "+proj=aea +lat_1=29.5 +lat_2=45.5 +lat_0=23 +lon_0=-96 +x_0=0 +y_0=0 +datum=NAD83 +units=m"
crs crs-polar-stere "+proj=stere +lat_0=-90 +lat_ts=-70 +lon_0=0 +x_0=0 +y_0=0 +datum=WGS84 +units=m"
make crs-longlat-intl gdal_translate -q -of GTiff $T16 \
	-a_srs "+proj=longlat +ellps=intl +towgs84=-87,-98,-121" \
	-a_ullr 10 50.3 10.4 50 "$tmp/u16.tif" "$out/crs-longlat-intl.tif"
make crs-epsg4326-point gdal_translate -q -of GTiff $T16 -a_srs EPSG:4326 \
	-mo AREA_OR_POINT=Point -a_ullr 10 50.3 10.4 50 "$tmp/u16.tif" \
	"$out/crs-epsg4326-point.tif"

# ---- what we refuse, each for its own reason --------------------------------
cat >"$tmp/rotated.vrt" <<EOF
<VRTDataset rasterXSize="40" rasterYSize="30">
  <SRS>EPSG:32633</SRS>
  <GeoTransform>500000, 10, 1, 4000300, 1, -10</GeoTransform>
  <VRTRasterBand dataType="UInt16" band="1">
    <SimpleSource><SourceFilename>$tmp/u16.tif</SourceFilename>
      <SourceBand>1</SourceBand></SimpleSource>
  </VRTRasterBand>
</VRTDataset>
EOF
refuse=()
bad() { # bad NAME COMMAND...: files we refuse; only the file is kept
	local name=$1
	shift
	"$@"
	refuse+=("$name")
	cmd[$name]="$*"
}
bad refuse-rotated gdal_translate -q -of GTiff "$tmp/rotated.vrt" "$out/refuse-rotated.tif"
bad refuse-12bit gdal_translate -q -of GTiff $T16 -co NBITS=12 -scale 0 65535 0 4095 \
	"$tmp/u16.tif" "$out/refuse-12bit.tif"
bad refuse-cint16 gdal_translate -q -of GTiff $T16 -ot CInt16 \
	"$tmp/u16.tif" "$out/refuse-cint16.tif"
bad refuse-int64 gdal_translate -q -of GTiff $T16 -ot Int64 \
	"$tmp/u16.tif" "$out/refuse-int64.tif"
bad refuse-float16 gdal_translate -q -of GTiff $T16 -ot Float32 -co NBITS=16 \
	"$tmp/u16.tif" "$out/refuse-float16.tif"

# ---- GDAL's answers ---------------------------------------------------------
python3 - "$out" "$gdalver" "${names[@]}" <<'PY'
import json, os, subprocess, sys
out, ver, names = sys.argv[1], sys.argv[2], sys.argv[3:]

def run(*args):
    return subprocess.run(args, check=True, capture_output=True,
                          text=True).stdout

def info(path, level=None):
    args = ["gdalinfo", "-json"]
    if level is not None:
        args += ["-oo", "OVERVIEW_LEVEL=%d" % level]
    return json.loads(run(*args, path))

for name in names:
    tif = "%s/%s.tif" % (out, name)
    j = info(tif)
    b1 = j["bands"][0]
    lines = ["file %s.tif" % name, "gdal %s" % ver,
             "size %d %d" % tuple(j["size"]), "bands %d" % len(j["bands"]),
             "type %s" % b1["type"]]
    md = b1.get("metadata", {}).get("IMAGE_STRUCTURE", {})
    if md.get("PIXELTYPE") == "SIGNEDBYTE":
        lines.append("signedbyte 1")
    levels = [None] + list(range(len(b1.get("overviews", []))))
    lines.append("levels %d" % len(levels))
    for k, lv in enumerate(levels):
        jl = j if lv is None else info(tif, lv)
        lines.append("level %d %d %d %s" % (k, jl["size"][0], jl["size"][1],
                     " ".join(repr(v) for v in jl["geoTransform"])))
        base = "%s/gdal/%s.%d" % (out, name, k)
        oo = [] if lv is None else ["-oo", "OVERVIEW_LEVEL=%d" % lv]
        run("gdal_translate", "-q", "-of", "ENVI", "-co", "INTERLEAVE=BSQ",
            *oo, tif, base + ".raw")
        run("gdal_translate", "-q", "-of", "ENVI", *oo, "-b", "mask", tif,
            base + ".mask.raw")
        for ext in (".raw", ".mask.raw"):
            hdr = open(base + ext[:-4] + ".hdr").read()
            assert "byte order = 0" in hdr, hdr
            os.remove(base + ext[:-4] + ".hdr")
            if os.path.exists(base + ext + ".msk"):  # GDAL's mask sidecar
                os.remove(base + ext + ".msk")
        os.rename(base + ".mask.raw", base + ".mask")
    if "noDataValue" in b1:
        lines.append("nodata %r" % b1["noDataValue"])
    # gdalinfo leaves NODATA and ALL_VALID out
    flags = b1.get("mask", {"flags": ["NODATA" if "noDataValue" in b1
                                      else "ALL_VALID"]})["flags"]
    lines.append("mask %s" % " ".join(flags))
    for i, b in enumerate(j["bands"]):
        if b.get("colorInterpretation") == "Alpha":
            lines.append("alpha %d" % i)
    # GDAL's best match (OGRSpatialReference::FindMatches()), which may
    # guess a datum from an ellipsoid
    found = [l for l in run("gdalsrsinfo", "-e", tif).split("\n")
             if l.startswith("EPSG:")]
    code = int(found[0][5:]) if found else 0
    lines.append("epsg %d" % max(code, 0))
    wkt = run("gdalsrsinfo", "--single-line", "-o", "wkt2_2019", tif).strip()
    lines.append("wkt %s" % wkt)
    open("%s/gdal/%s.txt" % (out, name), "w").write("\n".join(lines) + "\n")
open("%s/gdal/index.txt" % out, "w").write("\n".join(names) + "\n")
PY
printf '%s\n' "${refuse[@]}" >"$out/gdal/refused.txt"

# ---- README ---------------------------------------------------------------
{
	sed -n '/^<!-- generated below -->/q;p' "$here/README.md"
	echo '<!-- generated below -->'
	echo
	echo "Made with $gdalver by \`make.sh\`; \`gdal/\` holds GDAL's answers."
	echo
	echo '| file | command (SRC.tif: the source, made in make.sh) |'
	echo '|---|---|'
	for n in "${names[@]}" "${refuse[@]}"; do
		printf '| `%s.tif` | `%s` |\n' "$n" "$(echo "${cmd[$n]}" |
			sed -e "s#$tmp/##g" -e "s#$out/##g" -e 's/|/\\|/g')"
	done
} >"$tmp/README.md"
cp "$tmp/README.md" "$out/README.md"
du -sh "$out"
