#!/usr/bin/env bash
# The Earth Engine source against the fake Earth Engine server
# (tests/server/fake_earthengine.py, which follows the v1 reference): the
# listing is v1 projects.assets.listAssets with the whole query in
# `filter`, exactly as the official clients write it (the Python client's
# _cloud_api_utils turns listImages parameters into 'startTime >= "…"',
# 'endTime < "…"', 'intersects("…")' with single-quoted GeoJSON and
# 'properties.…', joined by ' AND ';
# https://developers.google.com/earth-engine/apidocs/ee-data-listassets
# shows the same form), never v1alpha's listImages; pages are followed by
# nextPageToken whatever they hold (the reference: "The server may return
# fewer assets than requested"), and a token seen before stops paging; the
# dates are the STAC source's; rendered files equal the STAC source's
# files of the same scenes (±1 per sample) for the harmonised collection,
# the non-harmonised COPERNICUS/S2_SR (offset -0.1 from baseline 04.00) and
# a float32 collection; the scene classification SCL is a band like any
# other (cloud masks and user.satfs.cloud as through STAC); a mount without a Cloud project is refused at
# start, saying so; a token command is run again after a 401 (once); 429s
# are retried; the API's error message reaches the log; a service-account
# key made here signs a JWT that the fake's token endpoint verifies, and a
# refused one logs the OAuth error code; no token or key ever reaches the
# log.
TEST_TIMEOUT=${TEST_TIMEOUT:-840} # seven mounts, renders by gdalwarp
. "$(dirname "$0")/lib.sh"
need_fuse
need_program getfattr attr
S=$(samples_dir)
command -v openssl >/dev/null || fail "no openssl command"

# start_fake_ee [args...]: the fake Earth Engine on EE=http://127.0.0.1:PORT
start_fake_ee() {
	local portfile=$T/ee-port.$RANDOM
	EE_LOG=$T/ee-requests.log
	python3 "$SRC/tests/server/fake_earthengine.py" --catalog "$S" \
		--port-file "$portfile" --log "$EE_LOG" "$@" \
		>"$T/ee-server.out" 2>&1 &
	SERVER_PID="$SERVER_PID $!"
	for _ in $(seq 100); do
		[ -s "$portfile" ] && break
		sleep 0.1
	done
	[ -s "$portfile" ] || { cat "$T/ee-server.out" >&2; fail "fake Earth Engine did not start"; }
	EE=http://127.0.0.1:$(cat "$portfile")
}

# ee_log PYTHON-EXPR: how many logged requests r satisfy the expression
ee_log() {
	python3 - "$EE_LOG" "$1" <<'PY'
import json, sys, urllib.parse
import os
rs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
q = lambda r, k: urllib.parse.parse_qs(r["query"]).get(k, [None])[0]
print(sum(1 for r in rs if eval(sys.argv[2])))
PY
}

# control_ee JSON: changes the fake's faults
control_ee() {
	python3 - "$EE/_control" "$1" <<'PY'
import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1],
    data=sys.argv[2].encode()), timeout=10).read()
PY
}

# expect_refused CONF WHAT: satfs refuses to mount with CONF, its log
# saying WHAT, within 20 s
expect_refused() {
	local log=$T/refused.log st=0
	timeout 20 "$SATFS" -f -o config="$1",cache="$T/cache-refused" \
		"$MNT" >"$log" 2>&1 || st=$?
	if mountpoint -q "$MNT"; then
		fusermount3 -u "$MNT"
		fail "mounted without a Cloud project"
	fi
	[ $st -ne 0 ] && [ $st -ne 124 ] || fail "satfs exit status $st"
	grep -q "$2" "$log" || { cat "$log" >&2; fail "no \"$2\" in the log"; }
	sanitizer_check "$log" || fail "sanitizer report"
}

# same_pixels A B: every sample of A within 1 of B's (raw, via GDAL), and
# at most 0.1 % of them not equal
same_pixels() {
	python3 - "$1" "$2" "$T" <<'PY' || fail "$1 differs from $2"
import os, subprocess, sys
a, b, t = sys.argv[1:4]
raw = []
for i, f in enumerate((a, b)):
    out = os.path.join(t, "cmp%d.raw" % i)
    subprocess.run(["gdal_translate", "-q", "-of", "ENVI", f, out],
                   check=True)
    raw.append(open(out, "rb").read())
assert len(raw[0]) == len(raw[1]) and raw[0], (len(raw[0]), len(raw[1]))
bad = sum(1 for x, y in zip(raw[0], raw[1]) if abs(x - y) > 1)
ne = sum(1 for x, y in zip(raw[0], raw[1]) if x != y)
nz = sum(1 for x in raw[0][::97] if x)
print("compared %d samples: %d differ, %d by more than 1" %
      (len(raw[0]), ne, bad))
# ±1 for rounding, and rarely: a shifted DN moves many samples by one
assert bad == 0 and ne <= len(raw[0]) // 1000 and nz > 0
PY
}

start_server --catalog "$S"
start_fake_ee --pubkey "$T/sa-pub.pem" --page-size-cap 2
REGION='[region david]
bbox = -82.48, 8.3508, -82.39, 8.4408
dates = 2024-01-01 .. 2024-07-31

[product clear]
bands = B8, B4, B3
mask = cloud, shadow, cirrus'

# dates_of: the dates of region david (not its index.html and
# timelapse.*.gif)
dates_of() { ls "$MNT/david" | grep '^[0-9]'; }

# clouds_of: "DATE TILE COVER" for each scene file of a mount, in order;
# the cover is user.satfs.cloud (SCL counted in the region), the tile the
# MGRS tile of the scene's name (STAC and Earth Engine name scenes apart)
clouds_of() {
	local d f
	for d in $(dates_of); do
		for f in "$MNT/david/$d"/*.falsecolor.tif; do
			case $f in */mosaic.*) continue ;; esac
			echo "$d $(basename "$f" | grep -o '1[0-9]P[LM]K')" \
				"$(getfattr --absolute-names --only-values -n user.satfs.cloud "$f")"
		done
	done
}

# 1. the STAC source's files, for comparison
cat >"$T/stac.conf" <<EOC
[source]
stac = $BASE
max_cloud = 85

$REGION
EOC
mount_satfs -o config="$T/stac.conf",cache="$T/cache-stac",prefetch=0
dates_of >"$T/stac-dates"
[ -s "$T/stac-dates" ] || fail "the STAC mount lists no dates"
mkdir -p "$T/stac"
picked=
for d in $(sed -n '1p;3p' "$T/stac-dates"); do
	for f in "$MNT/david/$d"/*.falsecolor.tif; do
		cp "$f" "$T/stac/$d.falsecolor.tif" || fail "cp $f"
	done
	cp "$MNT/david/$d"/*.clear.tif "$T/stac/$d.clear.tif" || fail "cp clear"
	picked="$picked $d"
done
clouds_of >"$T/stac-clouds"
unmount_satfs

# 2. the same through Earth Engine, with a token command
echo good-1 >"$T/tok"
cat >"$T/ee.conf" <<EOC
[source]
type = earthengine
project = my-cloud-project
ee_url = $EE/v1
token_command = echo run >>'$T/runs'; cat '$T/tok'
max_cloud = 85

$REGION
EOC
mount_satfs -o config="$T/ee.conf",cache="$T/cache-ee",prefetch=0
dates_of >"$T/ee-dates"
diff "$T/stac-dates" "$T/ee-dates" || fail "Earth Engine lists other dates"
FILTER='startTime >= "2024-01-01T00:00:00Z" AND endTime < "2024-08-01T00:00:00Z" AND intersects("{'"'type':'Polygon','coordinates':[[[-82.48,8.3508],[-82.39,8.3508],[-82.39,8.4408],[-82.48,8.4408],[-82.48,8.3508]]]}"'") AND properties.CLOUDY_PIXEL_PERCENTAGE < 85'
export FILTER
[ "$(ee_log 'r["path"] == "/v1/projects/earthengine-public/assets/COPERNICUS/S2_SR_HARMONIZED:listAssets" and r["method"] == "GET" and q(r, "filter") == os.environ["FILTER"] and set(urllib.parse.parse_qs(r["query"])) <= {"filter", "pageSize", "pageToken"}')" = 3 ] ||
	fail "listAssets pages without the filter: $(grep -m1 listAssets "$EE_LOG")"
[ "$(ee_log '"listImages" in r["path"]')" = 0 ] || fail "listImages asked"
# 5 images match, 2 a page: 3 pages, each asked once, by nextPageToken
[ "$(ee_log '":listAssets" in r["path"]')" = 3 ] ||
	fail "listAssets pages: $(ee_log '":listAssets" in r["path"]')"
[ "$(ee_log '":listAssets" in r["path"] and q(r, "pageToken")')" = 2 ] ||
	fail "pages not asked by pageToken"
[ "$(ee_log '":getPixels" in r["path"] and json.loads(r["body"])["fileFormat"] != "NPY"')" = 0 ] ||
	fail "getPixels not asked as NPY"
[ "$(ee_log 'r["project"] != "my-cloud-project"')" = 0 ] ||
	fail "a request without X-Goog-User-Project"
id=$(basename "$(ls "$MNT/david/$(head -1 "$T/ee-dates")"/*.json | head -1)" .json)
[[ $id =~ ^2024[0-9]{4}T[0-9]{6}_2024[0-9]{4}T[0-9]{6}_T17P[LM]K$ ]] ||
	fail "Earth Engine scene id $id"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["type"] == "IMAGE" and d["bands"], d' \
	"$MNT/david/$(head -1 "$T/ee-dates")/$id.json" || fail "$id.json is not the image resource"
for d in $picked; do
	f=$(ls "$MNT/david/$d"/*.falsecolor.tif | head -1)
	same_pixels "$f" "$T/stac/$d.falsecolor.tif"
done
# SCL is a band like any other: the same cloud masks and the same region
# cloud cover as through STAC
for d in $picked; do
	same_pixels "$(ls "$MNT/david/$d"/*.clear.tif | head -1)" "$T/stac/$d.clear.tif"
done
clouds_of >"$T/ee-clouds"
diff "$T/stac-clouds" "$T/ee-clouds" || fail "region cloud cover differs"
grep '[0-9]\.[0-9]$' "$T/ee-clouds" >/dev/null || fail "no cloud cover: $(cat "$T/ee-clouds")"
note "region cloud cover, the same through STAC and Earth Engine: $(tr '\n' ';' <"$T/ee-clouds")"
[ "$(ee_log '":getPixels" in r["path"] and r["status"] == 200')" -ge 2 ] ||
	fail "no getPixels"
[ "$(wc -l <"$T/runs")" = 1 ] || fail "token command run $(wc -l <"$T/runs") times"

# an expired token: one 401, the command runs again, the read succeeds
echo good-2 >"$T/tok"
python3 - "$EE/_control" <<'PY'
import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1],
    data=b'{"expire": ["good-1"], "quota": 2}'), timeout=10).read()
PY
d=$(sed -n 2p "$T/ee-dates")
cat "$MNT/david/$d"/*.truecolor.tif >/dev/null || fail "read after expiry"
[ "$(ee_log 'r["status"] == 401 and r["token"] == "good-1"')" = 1 ] ||
	fail "expected exactly one 401"
[ "$(ee_log 'r["status"] == 429')" = 2 ] || fail "the quota answers"
[ "$(ee_log 'r["token"] == "good-2" and r["status"] == 200')" -ge 1 ] ||
	fail "no request with the new token"
[ "$(wc -l <"$T/runs")" = 2 ] || fail "token command not run again once"

# a server error: retried, then the API's message in the log
python3 - "$EE/_control" <<'PY'
import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1],
    data=b'{"fail_pixels": 5}'), timeout=10).read()
PY
d=$(sed -n 3p "$T/ee-dates")
if cat "$MNT/david/$d"/*.truecolor.tif >/dev/null 2>&1; then
	fail "a read succeeded through five 500s"
fi
grep -q "INTERNAL: An internal error occurred" "$LOG" ||
	fail "the API's error message is not in the log"
unmount_satfs

# the listing's pages were cached: offline, the same scenes
mount_satfs -o config="$T/ee.conf",cache="$T/cache-ee",prefetch=0,offline
dates_of | diff "$T/ee-dates" - || fail "cached listing differs"
[ -s "$MNT/david/$(head -1 "$T/ee-dates")/$id.json" ] ||
	fail "cached listing lost $id"
unmount_satfs

# 3. no Cloud project: refused at start, saying so
grep -v '^project' "$T/ee.conf" >"$T/noproject.conf"
expect_refused "$T/noproject.conf" "no Cloud project: set project"

# 4. the non-harmonised COPERNICUS/S2_SR: raw DNs, offset -0.1 from
# baseline 04.00 (the sample scenes are 05.x), the same pixels as STAC;
# with pages that hold nothing but a token, followed all the same
sed 's|^max_cloud|collection = COPERNICUS/S2_SR\nmax_cloud|' "$T/ee.conf" >"$T/s2sr.conf"
before=$(ee_log '":listAssets" in r["path"]')
control_ee '{"empty_pages": 2}'
mount_satfs -o config="$T/s2sr.conf",cache="$T/cache-s2sr",prefetch=0
dates_of | diff "$T/stac-dates" - || fail "S2_SR: other dates"
[ $(($(ee_log '":listAssets" in r["path"]') - before)) = 5 ] ||
	fail "S2_SR: expected 3 pages and 2 empty ones"
d=$(echo $picked | cut -d' ' -f1)
same_pixels "$(ls "$MNT/david/$d"/*.falsecolor.tif | head -1)" "$T/stac/$d.falsecolor.tif"
unmount_satfs

# 5. a float32 collection: each band read as float32, scale 1
sed 's|^max_cloud|collection = SATFS_TEST/S2_SR_FLOAT32\nmax_cloud|' "$T/ee.conf" >"$T/float.conf"
mount_satfs -o config="$T/float.conf",cache="$T/cache-float",prefetch=0
dates_of | diff "$T/stac-dates" - || fail "float32: other dates"
same_pixels "$(ls "$MNT/david/$d"/*.falsecolor.tif | head -1)" "$T/stac/$d.falsecolor.tif"
unmount_satfs

# 6. a server that would page forever: stopped at the repeated token
control_ee '{"loop_tokens": true}'
before=$(ee_log '":listAssets" in r["path"]')
mount_satfs -o config="$T/float.conf",cache="$T/cache-loop",prefetch=0
ls "$MNT/david" >/dev/null
[ $(($(ee_log '":listAssets" in r["path"]') - before)) = 2 ] ||
	fail "a repeated page token was followed"
grep -q "repeated a page token" "$LOG" || fail "no warning for the loop"
unmount_satfs
control_ee '{"loop_tokens": false}'

# 7. a service-account key made here
openssl genrsa -out "$T/sa.pem" 2048 2>/dev/null
openssl rsa -in "$T/sa.pem" -pubout -out "$T/sa-pub.pem" 2>/dev/null
python3 - "$T/sa.pem" "$EE/token" >"$T/sa.json" <<'PY'
import json, sys
print(json.dumps({"type": "service_account", "project_id": "p",
                  "private_key_id": "k1",
                  "private_key": open(sys.argv[1]).read(),
                  "client_email": "satfs@p.iam.gserviceaccount.com",
                  "token_uri": sys.argv[2]}))
PY
grep -v -e token_command -e '^project' "$T/ee.conf" >"$T/sa.conf"
export GOOGLE_APPLICATION_CREDENTIALS=$T/sa.json
mount_satfs -o config="$T/sa.conf",cache="$T/cache-sa",prefetch=0
unset GOOGLE_APPLICATION_CREDENTIALS
dates_of >"$T/sa-dates"
diff "$T/stac-dates" "$T/sa-dates" || fail "service account: other dates"
d=$(head -1 "$T/ee-dates")
f=$(ls "$MNT/david/$d"/*.falsecolor.tif | head -1)
same_pixels "$f" "$T/stac/$d.falsecolor.tif"
[ "$(ee_log 'r["path"] == "/token" and r["status"] == 200 and r.get("iss") == "satfs@p.iam.gserviceaccount.com"')" = 1 ] ||
	fail "expected one verified JWT exchange"
[ "$(ee_log 'r["path"] != "/token" and (r["token"] or "").startswith("ya29.fake-") and r["status"] == 200')" -ge 2 ] ||
	fail "the exchanged token was not used"
# the key's project_id stood in for project
[ "$(ee_log '(r["token"] or "").startswith("ya29.fake-") and r["project"] != "p"')" = 0 ] ||
	fail "the key's project_id was not sent"
unmount_satfs

# a key the token endpoint refuses (no issuer in the JWT): the OAuth
# error code in the log
python3 - "$T/sa.json" >"$T/bad.json" <<'PY'
import json, sys
k = json.load(open(sys.argv[1]))
k["client_email"] = ""
print(json.dumps(k))
PY
export GOOGLE_APPLICATION_CREDENTIALS=$T/bad.json
mount_satfs -o config="$T/sa.conf",cache="$T/cache-bad",prefetch=0
unset GOOGLE_APPLICATION_CREDENTIALS
ls "$MNT/david" >/dev/null 2>&1 && fail "a refused key listed scenes"
grep -q "invalid_grant: Invalid JWT Signature" "$LOG" ||
	fail "the OAuth error code is not in the log"
unmount_satfs

# never a secret in the log
tail -c +1 "$T/sa.pem" | sed -n 2p | cut -c1-40 >"$T/keyline"
if grep -qE "good-[12]|ya29|PRIVATE KEY" "$LOG" ||
	grep -qFf "$T/keyline" "$LOG"; then
	fail "a token or key in the log"
fi
echo "ok $TEST_NAME"
