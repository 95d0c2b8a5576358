#!/usr/bin/env bash
# Planetary Computer: `sign = planetary-computer` against the fixture
# server's fake SAS token endpoint and Azure-like blob host, which answers
# 403 without a valid, unexpired, unrevoked token (as Azure does). The
# sample catalog is rewritten into Planetary Computer's shape: hrefs on
# satfsfixture.blob.core.windows.net (pointed at the server with
# connect_to) and no raster:bands, so that `offset = auto` must take the
# -1000 from the processing baseline (05.10).
#  1. Files render, and their pixels equal those rendered from the plain
#     catalog; one token serves every request of the container; the
#     server saw a token on every blob request; no token reaches the log
#     at log_level=debug, nor the files (their recorded hrefs are the
#     unsigned ones).
#  2. Tokens revoked in the middle of a cp -r: the refused requests renew
#     the token once and go again; every file is right.
#  3. Short-lived tokens (sas_ttl_s): a render after the first token has
#     expired fetches a new one, and no request ever carries an expired
#     token.
#  4. The token endpoint refusing fails that file only, with a warning;
#     a later read, once it answers, succeeds.
# Token requests carry the subscription key, from [source]
# subscription_key or PC_SDK_SUBSCRIPTION_KEY, as the Planetary Computer
# SDK sends it (Ocp-Apim-Subscription-Key); it never reaches the log.
. "$(dirname "$0")/lib.sh"
need_fuse
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
S=$(samples_dir)
command -v gdalinfo >/dev/null || fail "gdalinfo is needed"
ACCT=satfsfixture
CONT=sentinel2-l2
TOKENS="^/api/sas/v1/token/$ACCT/$CONT\$"

# The reference: the plain catalog, served by a server of its own.
start_server --catalog "$S"
REF_BASE=$BASE
# The Planetary Computer one: the items rewritten, the COGs hard-linked.
mkdir -p "$T/pc/items"
cp -al "$S/cogs" "$T/pc/cogs" 2>/dev/null || cp -r "$S/cogs" "$T/pc/cogs"
python3 - "$S/items" "$T/pc/items" "http://$ACCT.blob.core.windows.net/$CONT" <<'PY'
import json, os, sys
src, dst, blob = sys.argv[1:]
for n in os.listdir(src):
    it = json.load(open(os.path.join(src, n)))
    for a in it["assets"].values():
        a["href"] = a["href"].replace("{base}/cogs/", blob + "/cogs/")
        a.pop("raster:bands", None)
    json.dump(it, open(os.path.join(dst, n), "w"))
PY
start_server --catalog "$T/pc"
PORT=${BASE##*:}

conf() { # FILE STAC-URL [extra lines...]
	local f=$1 url=$2
	shift 2
	{
		printf '[source]\nstac = %s\nmax_cloud = 85\n' "$url"
		printf '%s\n' "$@"
		printf '\n[region small]\nbbox = -82.45, 8.37, -82.42, 8.40\n'
		printf 'dates = 2024-01-01 .. 2024-07-31\n'
	} >"$f"
}
conf "$T/ref.conf" "$REF_BASE"
conf "$T/pc.conf" "$BASE" "sign = planetary-computer" \
	"sign_url = $BASE/api/sas/v1" "subscription_key = pc-key-from-conf" \
	"" "[mount]" \
	"connect_to = $ACCT.blob.core.windows.net:80:127.0.0.1:$PORT"

# token requests after line $1 whose Ocp-Apim-Subscription-Key is $2
# ("" for none); the Planetary Computer SDK sends its subscription key so
# with every token request (planetary_computer/sas.py, sign_url:
# headers = {"Ocp-Apim-Subscription-Key": settings.subscription_key}),
# the key from `planetarycomputer configure` or PC_SDK_SUBSCRIPTION_KEY
keyed_since() { # FROM KEY
	tail -n +"$(($1 + 1))" "$SERVER_LOG" | python3 -c '
import json, re, sys
n = 0
for l in sys.stdin:
    r = json.loads(l)
    if re.search(sys.argv[2], r.get("path", "")) and \
            (r.get("subscription_key") or "") == sys.argv[1]:
        n += 1
print(n)' "$2" "$TOKENS"
}

# checksums FILE: the pixel checksums of every band, as GDAL computes them
checksums() { gdalinfo -checksum "$1" | grep -o 'Checksum=[0-9]*' | tr '\n' ' '; }
same_pixels() { # FILE REF
	local a b
	a=$(checksums "$1") b=$(checksums "$2")
	[ -n "$a" ] && [ "$a" = "$b" ] || fail "$1: pixels differ from $2 ($a vs $b)"
}
# blob requests of the server log after line $1, by what auth said
auth_since() { # FROM WHAT
	tail -n +"$(($1 + 1))" "$SERVER_LOG" | python3 -c '
import json, sys
print(sum(1 for l in sys.stdin if json.loads(l).get("auth") == sys.argv[1]))' "$2"
}

# 0. the reference files
mount_satfs -o config="$T/ref.conf",cache="$T/cache-ref",prefetch=0
cp -r "$MNT/small" "$T/ref" || fail "reference cp -r"
unmount_satfs
mapfile -t tifs < <(cd "$T/ref" && find . -name '*.tif' | sort)
[ "${#tifs[@]}" -ge 8 ] || fail "reference has only ${#tifs[@]} files"
fc=() # falsecolor files
for f in "${tifs[@]}"; do
	case $f in *.falsecolor.tif) fc+=("${f#./}") ;; esac
done

# 1. signed reads
mount_satfs -o config="$T/pc.conf",cache="$T/cache-pc",prefetch=0,log_level=debug
first=${fc[0]} second=${fc[0]%.falsecolor.tif}.truecolor.tif
cp "$MNT/small/$first" "$T/a.tif" || fail "read of $first"
same_pixels "$T/a.tif" "$T/ref/$first"
cp "$MNT/small/$second" "$T/b.tif" || fail "read of $second"
same_pixels "$T/b.tif" "$T/ref/$second"
n=$(count_requests "$TOKENS")
ok=$(auth_since 0 ok)
bad=$(($(count_requests "^/$CONT/") - ok))
note "two files: $ok signed blob requests, $n token(s), $bad refused"
[ "$n" -eq 1 ] || fail "$n token requests for one container, expected 1"
[ "$(keyed_since 0 pc-key-from-conf)" -eq "$n" ] ||
	fail "token requests without the configured subscription key"
[ "$ok" -ge 4 ] || fail "only $ok signed blob requests"
[ "$bad" -eq 0 ] || fail "$bad blob requests refused"
[ "$(count_requests "^/cogs/")" -eq 0 ] || fail "COGs read outside the blob host"
grep -q "offset_applied\">-1000,-1000,-1000<" "$T/a.tif" ||
	fail "offset -1000 not applied from the processing baseline"
grep -q "blob.core.windows.net/$CONT/cogs/" "$T/a.tif" || fail "no blob href in the file"
! grep -q "sig=" "$T/a.tif" || fail "a token was written into the file"

# 2. tokens revoked after 3 more blob requests, in the middle of a cp -r
from=$(log_lines)
control '{"sas_revoke_after": 3}'
cp -r "$MNT/small" "$T/got" || fail "cp -r with tokens revoked midway"
for f in "${tifs[@]}"; do
	same_pixels "$T/got/$f" "$T/ref/$f"
done
revoked=$(auth_since "$from" revoked)
n2=$(requests_since "$from" "$TOKENS")
note "cp -r of ${#tifs[@]} files, tokens revoked midway: $revoked requests refused, $n2 new token(s)"
[ "$revoked" -ge 1 ] || fail "no request was refused: revocation not exercised"
[ "$n2" -eq 1 ] || fail "$n2 token requests after the revocation, expected 1"
[ "$(auth_since "$from" expired)" -eq 0 ] || fail "expired tokens sent"

# No token in the log: no query string at all, nor any token's signature.
grep -q "satfs debug: " "$LOG" || fail "no debug lines in the log"
! grep -q "sig=" "$LOG" || fail "a token reached the log"
python3 - "$SERVER_LOG" "$LOG" <<'PY' || fail "a token signature reached the log"
import json, sys, urllib.parse
log = open(sys.argv[2], errors="replace").read()
sigs = set()
for l in open(sys.argv[1]):
    q = json.loads(l).get("query") or ""
    for s in urllib.parse.parse_qs(q).get("sig", []):
        sigs.add(s)
        sigs.add(urllib.parse.quote(s, safe=""))
assert sigs, "no signature in the server log"
hits = [s for s in sigs if s in log]
sys.exit("%d signatures in the log" % len(hits) if hits else 0)
PY
grep -q "SAS token for $ACCT/$CONT was refused" "$LOG" ||
	fail "the refused token is not in the log"
unmount_satfs

# 3. short-lived tokens, with the options given on the command line
# (and the subscription key from the SDK's environment variable)
conf "$T/pc2.conf" "$BASE"
control '{"sas_ttl_s": 8}'
from=$(log_lines)
export PC_SDK_SUBSCRIPTION_KEY=pc-key-from-env
mount_satfs -o config="$T/pc2.conf",cache="$T/cache-pc2",prefetch=0 \
	-o sign=planetary-computer,sign_url="$BASE/api/sas/v1" \
	-o connect_to="$ACCT.blob.core.windows.net:80:127.0.0.1:$PORT"
unset PC_SDK_SUBSCRIPTION_KEY
cp "$MNT/small/${fc[0]}" "$T/c.tif" || fail "read with a short-lived token"
t1=$(date +%s)
n1=$(requests_since "$from" "$TOKENS")
sleep 9 # past the first token's expiry
cp "$MNT/small/${fc[1]}" "$T/d.tif" || fail "read after the token expired"
n2=$(requests_since "$from" "$TOKENS")
note "8 s tokens: $n1 token(s) for the first file, $n2 after $(($(date +%s) - t1)) s more"
[ "$n1" -ge 1 ] && [ "$n2" -gt "$n1" ] || fail "no new token after expiry ($n1, then $n2)"
[ "$(keyed_since "$from" pc-key-from-env)" -eq "$n2" ] ||
	fail "token requests without PC_SDK_SUBSCRIPTION_KEY's key"
[ "$(auth_since "$from" expired)" -eq 0 ] || fail "an expired token was sent"
[ "$(auth_since "$from" ok)" -ge 4 ] || fail "too few signed requests"
same_pixels "$T/c.tif" "$T/ref/${fc[0]}"
same_pixels "$T/d.tif" "$T/ref/${fc[1]}"

# 4. the token endpoint refuses (tokens revoked, no new one): that file
# fails, with one warning naming the endpoint; once it answers again, a
# later read succeeds
control '{"sas_revoke": true, "fail_paths": ["/api/sas/"], "fail_status": 403}'
if cat "$MNT/small/${fc[2]}" >/dev/null 2>&1; then
	fail "read succeeded without a token"
fi
grep -q "warning: sign: no SAS token for $ACCT/$CONT from $BASE/api/sas/v1/token/$ACCT/$CONT: .*(HTTP 403)" "$LOG" ||
	fail "no warning about the token endpoint"
control '{"fail_paths": []}'
cp "$MNT/small/${fc[2]}" "$T/e.tif" || fail "read once the token endpoint is back"
same_pixels "$T/e.tif" "$T/ref/${fc[2]}"
! grep -q "sig=" "$LOG" || fail "a token reached the log"
! grep -q "pc-key-from" "$LOG" || fail "a subscription key reached the log"
unmount_satfs
echo "ok $TEST_NAME (signed reads, revoked mid-copy, expiry, token endpoint down)"
