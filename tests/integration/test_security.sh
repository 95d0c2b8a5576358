#!/usr/bin/env bash
# Security, end to end:
#   the cache directory and its subdirectories are 0700, every file 0600
#   no secret in the log at log_level=debug: not the STAC URL's userinfo
#   or ?token=, not the asset hrefs' signatures, not an Authorization
#   header a `next` link asks for
#   TLS is verified by default: a self-signed https catalog is refused
#   (the engine-level proof is tests/unit/test_fetch_tls.c)
#   read-only everywhere, on rendered files too (test_basics covers the
#   tree): open for writing, truncate, chmod, setxattr, utime: EROFS
. "$(dirname "$0")/lib.sh"
need_fuse
need_program getfattr attr
S=$(samples_dir)

# A catalog whose hrefs are signed, as Planetary Computer's are.
mkdir -p "$T/cat/items" "$T/cat/cogs"
id=S2B_17PMK_20240103_0_L2A
cp -al "$S/cogs/$id" "$T/cat/cogs/" 2>/dev/null || cp -r "$S/cogs/$id" "$T/cat/cogs/"
sed 's|\(/cogs/[^"]*\.tif\)"|\1?X-Amz-Signature=SECRETSIG\&sv=SECRETSV"|g' \
	"$S/items/$id.json" >"$T/cat/items/$id.json"
grep -q SECRETSIG "$T/cat/items/$id.json" || fail "could not sign the hrefs"
start_server --catalog "$T/cat"
PORT=${BASE##*:}
cat >"$T/satfs.conf" <<EOC
[source]
stac = http://alice:SECRETPW@127.0.0.1:$PORT/?token=SECRETQ
dates = 2024-01-01 .. 2024-07-31

[region tiny]
bbox = -82.445, 8.39, -82.43, 8.402
EOC
mount_satfs -o config="$T/satfs.conf",cache="$CACHE",prefetch=0,log_level=debug
f=$(find "$MNT/tiny" -name '*.falsecolor.tif' | head -1)
[ -n "$f" ] || fail "nothing listed"
cp "$f" "$T/out.tif" || fail "render with signed hrefs"
[ "$(count_requests '^/cogs/')" -gt 0 ] || fail "no COG request"
grep -q "X-Amz-Signature=SECRETSIG" "$SERVER_LOG" ||
	fail "the signed hrefs were not used as given"

# --- URLs redacted the same way in the status files, xattrs and the log ---
red="http://127.0.0.1:$PORT/?..."
for sf in status status.json; do
	cat "$MNT/.satfs/$sf" >"$T/$sf" || fail "cannot read .satfs/$sf"
	grep -q SECRET "$T/$sf" && fail ".satfs/$sf shows a secret: $(grep SECRET "$T/$sf")"
	grep -qF "$red" "$T/$sf" || fail ".satfs/$sf does not show the catalog as $red"
done
getfattr -d -m 'user\.satfs\.' "$f" >"$T/xattrs" 2>&1 || fail "getfattr: $(cat "$T/xattrs")"
grep -q SECRET "$T/xattrs" && fail "an xattr shows a secret: $(grep SECRET "$T/xattrs")"
grep -q 'user.satfs.source=.*/cogs/.*?\.\.\.' "$T/xattrs" ||
	fail "user.satfs.source not redacted as the log does: $(grep source "$T/xattrs")"
grep -qF "(catalog $red," "$LOG" || fail "the log does not show the catalog as $red"

# --- the cache is private ---
[ "$(stat -c %a "$CACHE")" = 700 ] || fail "cache dir mode $(stat -c %a "$CACHE")"
bad=$(find "$CACHE" -mindepth 1 \( -type d ! -perm 700 \) -o \( -type f ! -perm 600 \))
[ -z "$bad" ] || fail "not private: $(ls -ld $bad)"
nfiles=$(find "$CACHE" -type f | wc -l)
[ "$nfiles" -ge 3 ] || fail "only $nfiles files in the cache"

# --- read-only, on a rendered file ---
python3 - "$f" <<'PY' || fail "a write to a rendered file was not refused with EROFS"
import errno, os, sys
f = sys.argv[1]
ops = [lambda: os.open(f, os.O_RDWR), lambda: os.open(f, os.O_WRONLY),
       lambda: os.truncate(f, 0), lambda: os.chmod(f, 0o666),
       lambda: os.setxattr(f, "user.x", b"1"), lambda: os.utime(f, (1, 1)),
       lambda: os.unlink(f), lambda: os.rename(f, f + ".x")]
for i, op in enumerate(ops):
    try:
        op()
    except OSError as e:
        # xattrs are not supported at all: ENOTSUP refuses as well
        if e.errno != errno.EROFS and not (i == 4 and
                                           e.errno == errno.ENOTSUP):
            sys.exit("op %d: %s" % (i, e))
    else:
        sys.exit("op %d succeeded" % i)
PY
unmount_satfs

# --- an Authorization header asked for by a `next` link ---
H=$T/hostile
mkdir -p "$H"
python3 - "$T/cat/items/$id.json" "$BASE" "$H" <<'PY'
import json, sys
it = json.loads(open(sys.argv[1]).read().replace("{base}", sys.argv[2]))
page = {"type": "FeatureCollection", "features": [it],
        "links": [{"rel": "next", "method": "POST", "href": "/search",
                   "body": {"token": "SECRETTOKEN"}, "merge": True,
                   "headers": {"Authorization": "Bearer SECRETHDR"}}]}
json.dump(page, open(sys.argv[3] + "/search.json", "w"))
json.dump({"type": "Catalog", "conformsTo": [], "links": [
    {"rel": "search", "method": "POST", "href": "/search"}]},
    open(sys.argv[3] + "/landing.json", "w"))
PY
python3 "$SRC/tests/integration/hostile_stac.py" "$H" "$T/hport" \
	>"$T/hostile.out" 2>&1 &
SERVER_PID="$SERVER_PID $!"
for _ in $(seq 100); do [ -s "$T/hport" ] && break; sleep 0.1; done
[ -s "$T/hport" ] || fail "hostile_stac.py did not start"
mount_satfs -o config="$T/satfs.conf",stac=http://127.0.0.1:$(cat "$T/hport"),cache="$T/cache2",prefetch=0,log_level=debug
ls -R "$MNT/tiny" >/dev/null || fail "listing through a next link with headers"
[ "$(grep -c 'POST /search' "$H/requests.log")" -ge 2 ] ||
	fail "the next link was not followed"
unmount_satfs

# --- TLS: a self-signed catalog is refused ---
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 \
	-keyout "$T/key.pem" -out "$T/cert.pem" >/dev/null 2>&1 ||
	fail "openssl could not make a certificate"
python3 - "$T" <<'PY' >"$T/tls.out" 2>&1 &
import http.server, os, ssl, sys
d = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        open(d + "/tls-served", "a").write(self.path + "\n")
        b = b'{"type":"Catalog","conformsTo":[],"links":[]}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    do_POST = do_GET
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(d + "/cert.pem", d + "/key.pem")
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
open(d + "/tport.tmp", "w").write(str(srv.server_address[1]))
os.rename(d + "/tport.tmp", d + "/tport")
srv.serve_forever()
PY
SERVER_PID="$SERVER_PID $!"
for _ in $(seq 100); do [ -s "$T/tport" ] && break; sleep 0.1; done
[ -s "$T/tport" ] || fail "the https server did not start"
mount_satfs -o config="$T/satfs.conf",stac=https://127.0.0.1:$(cat "$T/tport"),cache="$T/cache3",prefetch=0,log_level=debug
if ls "$MNT/tiny" 2>"$T/tls.err"; then
	fail "a catalog with a self-signed certificate was listed"
fi
grep -q "Input/output error" "$T/tls.err" || fail "tls: $(cat "$T/tls.err")"
[ ! -e "$T/tls-served" ] || fail "a request went through: $(cat "$T/tls-served")"
grep -qiE "certificate|SSL" "$LOG" || fail "no log line names the certificate"
unmount_satfs

# --- no secret in any log line, at debug level ---
n=$(grep -c . "$LOG")
if grep -n "SECRET\|hunter\|Bearer\|alice:" "$LOG" >&2; then
	fail "a secret reached the log (above)"
fi
note "security: cache 0700/0600 ($nfiles files); 8 write ops EROFS; $n debug log lines, no secret; self-signed TLS refused"
