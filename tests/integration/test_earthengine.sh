#!/usr/bin/env bash
# The Earth Engine source against the fake Earth Engine server
# (tests/server/fake_earthengine.py): the listing is the STAC source's
# (same dates, cloud filter on both sides, paging by nextPageToken), and
# rendered files equal the STAC source's files of the same scenes (±1 per
# sample); a token command is run again after a 401 (once); 429s are
# retried; the API's error message reaches the log; a service-account key
# made here signs a JWT that the fake's token endpoint verifies; no token
# or key ever reaches the log.
. "$(dirname "$0")/lib.sh"
need_fuse
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
rs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
q = lambda r, k: urllib.parse.parse_qs(r["query"]).get(k, [None])[0]
print(sum(1 for r in rs if eval(sys.argv[2])))
PY
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
dates = 2024-01-01 .. 2024-07-31'

# 1. the STAC source's files, for comparison
cat >"$T/stac.conf" <<EOC
[source]
stac = $BASE
max_cloud = 85

$REGION
EOC
mount_satfs -o config="$T/stac.conf",cache="$T/cache-stac",prefetch=0
ls "$MNT/david" >"$T/stac-dates"
[ -s "$T/stac-dates" ] || fail "the STAC mount lists no dates"
mkdir -p "$T/stac"
picked=
for d in $(sed -n '1p;3p' "$T/stac-dates"); do
	for f in "$MNT/david/$d"/*.falsecolor.tif; do
		cp "$f" "$T/stac/$d.falsecolor.tif" || fail "cp $f"
	done
	picked="$picked $d"
done
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
ls "$MNT/david" >"$T/ee-dates"
diff "$T/stac-dates" "$T/ee-dates" || fail "Earth Engine lists other dates"
[ "$(ee_log '":listImages" in r["path"] and q(r, "filter") == "properties.CLOUDY_PIXEL_PERCENTAGE < 85" and q(r, "startTime") == "2024-01-01T00:00:00Z" and q(r, "endTime") == "2024-08-01T00:00:00Z" and json.loads(q(r, "region"))["type"] == "Polygon"')" = 3 ] ||
	fail "listImages pages without the filter, times or region"
# 5 images match, 2 a page: 3 pages, each asked once, by nextPageToken
[ "$(ee_log '":listImages" in r["path"]')" = 3 ] ||
	fail "listImages pages: $(ee_log '":listImages" in r["path"]')"
[ "$(ee_log '":listImages" in r["path"] and q(r, "pageToken")')" = 2 ] ||
	fail "pages not asked by pageToken"
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
ls "$MNT/david" | diff "$T/ee-dates" - || fail "cached listing differs"
[ -s "$MNT/david/$(head -1 "$T/ee-dates")/$id.json" ] ||
	fail "cached listing lost $id"
unmount_satfs

# 3. a service-account key made here
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
grep -v token_command "$T/ee.conf" >"$T/sa.conf"
export GOOGLE_APPLICATION_CREDENTIALS=$T/sa.json
mount_satfs -o config="$T/sa.conf",cache="$T/cache-sa",prefetch=0
unset GOOGLE_APPLICATION_CREDENTIALS
ls "$MNT/david" >"$T/sa-dates"
diff "$T/stac-dates" "$T/sa-dates" || fail "service account: other dates"
d=$(head -1 "$T/ee-dates")
f=$(ls "$MNT/david/$d"/*.falsecolor.tif | head -1)
same_pixels "$f" "$T/stac/$d.falsecolor.tif"
[ "$(ee_log 'r["path"] == "/token" and r["status"] == 200 and r.get("iss") == "satfs@p.iam.gserviceaccount.com"')" = 1 ] ||
	fail "expected one verified JWT exchange"
[ "$(ee_log 'r["path"] != "/token" and (r["token"] or "").startswith("ya29.fake-") and r["status"] == 200')" -ge 2 ] ||
	fail "the exchanged token was not used"
unmount_satfs

# never a secret in the log
tail -c +1 "$T/sa.pem" | sed -n 2p | cut -c1-40 >"$T/keyline"
if grep -qE "good-[12]|ya29|PRIVATE KEY" "$LOG" ||
	grep -qFf "$T/keyline" "$LOG"; then
	fail "a token or key in the log"
fi
echo "ok $TEST_NAME"
