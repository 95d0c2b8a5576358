#!/usr/bin/env bash
# The shared cache tier (docs/SCALE-OUT.md) against a real S3 server: one
# throwaway Ceph RADOS Gateway on 127.0.0.1 (tests/s3/rgw.sh) for the
# whole script, each case under its own prefix of its bucket, each mount
# with its own cache directory.
#
# 1. Mount A renders the falsecolor files of a region (the references)
#    and uploads them, their COG headers and region cloud covers.
# 2. Mount B, a fresh cache on the same store: its cold copy makes no
#    request to the COG server at all and gives the same bytes; truecolor
#    of one scene then reads the headers of B04 and B03 (which A read)
#    from the store and only B02's from the COG server.
# 3. Three fresh mounts copy the region at once (prefetch on): each file
#    is rendered by one of them and downloaded by the two others (leases),
#    and the COG server sees each request of A's cold copy once in all:
#    no (path, range) twice.
# 4. The store returns objects whose digests do not match: none is
#    served, the files are rendered locally and correct, the status says
#    so, and the mount's renders replace the bad objects.
# 5. The store is unreachable (a closed port): files correct, one warning,
#    the status shows the store failing.
# 6. The store is frozen (SIGSTOP: connections accepted, nothing
#    answered): files correct, no hang (shared_timeout=1), the status
#    shows it; thawed, the mount uses the store again after its backoff.
# The keys never reach a log line or the status file.
. "$(dirname "$0")/lib.sh"
need_fuse
need_program curl curl
need_program sha256sum coreutils
S=$(samples_dir)
start_rgw
start_server --catalog "$S"
write_region_config "$T/satfs.conf" tiny "-82.445, 8.39, -82.43, 8.402"
# the store's coordinates in the file, the store itself as an option
cat >>"$T/satfs.conf" <<EOC

[shared]
endpoint = $RGW_ENDPOINT
region = $RGW_REGION
lease = 60
wait = 90
EOC

# Debian's interpreter: starts in a tenth of the time of a pyenv shim,
# which counts here (status files are read often)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
opts() { # CACHE-NAME PREFIX [more options]: -o for one mount
	echo "config=$T/satfs.conf,cache=$T/cache-$1,shared_store=s3://$RGW_BUCKET/$2${3:+,$3}"
}
shared() { # MNT FIELD: a field of "shared" in MNT's status.json
	"$PY" -c 'import json, sys
print(json.load(open(sys.argv[1] + "/.satfs/status.json"))["shared"][sys.argv[2]])' "$1" "$2"
}
wait_uploads() { # MNT: until no upload is queued (30 s at most)
	for _ in $(seq 300); do
		[ "$(shared "$1" queued)" = 0 ] && return 0
		sleep 0.1
	done
	fail "$1: uploads still queued after 30 s"
}
# The scenes' falsecolor files. Not the mosaics: a mosaic is another file
# made of the same tiles, and the store shares files, not tiles, so a
# mosaic rendered on another mount than its scenes reads their tiles again.
copy() { # MNT DST: the region's falsecolor files, bounded in time
	mkdir -p "$2"
	(cd "$1/tiny" && timeout 120 cp --parents -- */S2*.falsecolor.tif "$2/")
}
same_as_ref() { # DIR: every reference file, byte for byte
	local f
	for f in "${files[@]}"; do
		cmp -s "$T/ref/$f" "$1/$f" || fail "$1/$f differs from the reference"
	done
}
cog_requests() { # FROM: requests to the COG server since log line FROM
	tail -n +"$(($1 + 1))" "$SERVER_LOG" | grep -c '"path": "/cogs/' || true
}

# 1. the first mount renders, and shares
from=$(log_lines)
mount_at "$T/mA" A -o "$(opts A p1)"
mapfile -t files < <(cd "$T/mA/tiny" && ls -d */S2*.falsecolor.tif)
n=${#files[@]}
[ "$n" -ge 3 ] || fail "need 3 files in region tiny, have $n"
copy "$T/mA" "$T/ref" || fail "mount A: copy failed"
wait_uploads "$T/mA"
[ "$(shared "$T/mA" state)" = working ] || fail "mount A: store not working"
up=$(shared "$T/mA" uploads)
[ "$up" -ge "$n" ] || fail "mount A uploaded $up objects, fewer than $n files"
cogA=$(cog_requests "$from")
note "mount A: $n files, $cogA COG requests, $up objects uploaded"
cat "$T/mA/.satfs/status" >"$T/status.A"
unmount_at "$T/mA"

# 2. a second mount: no COG request, the same bytes
from=$(log_lines)
mount_at "$T/mB" B -o "$(opts B p1)"
copy "$T/mB" "$T/outB" || fail "mount B: copy failed"
same_as_ref "$T/outB"
got=$(cog_requests "$from")
[ "$got" -eq 0 ] || fail "mount B's cold copy made $got COG requests (want 0)"
[ "$(shared "$T/mB" files_from_store)" -eq "$n" ] ||
	fail "mount B: $(shared "$T/mB" files_from_store) files from the store, not $n"
[ "$(ls "$T/cache-B/files" | wc -l)" -eq "$n" ] ||
	fail "mount B: the downloads are not all in its cache"
# headers: truecolor (B04, B03, B02) of the first scene
id=$(basename "${files[0]}" .falsecolor.tif)
from=$(log_lines)
cat "$T/mB/tiny/${files[0]%%/*}/$id.truecolor.tif" >/dev/null ||
	fail "mount B: truecolor failed"
header_reads() { # BAND: requests for the scene's BAND from byte 0
	tail -n +"$((from + 1))" "$SERVER_LOG" | "$PY" -c '
import json, sys
path = "/cogs/%s/%s.tif" % (sys.argv[1], sys.argv[2])
print(sum(1 for l in sys.stdin if l.strip() and json.loads(l)["path"] == path
          and (json.loads(l)["range"] or "bytes=0-").startswith("bytes=0-")))' "$id" "$1"
}
[ "$(header_reads B04)" -eq 0 ] && [ "$(header_reads B03)" -eq 0 ] ||
	fail "mount B read headers of B04/B03 from the COG server, not the store"
[ "$(header_reads B02)" -eq 1 ] ||
	fail "mount B read B02's header $(header_reads B02) times (want 1)"
note "mount B: $n files and the B04, B03 headers from the store, 0 COG requests"
unmount_at "$T/mB"

# 3. three mounts at once
from=$(log_lines)
for m in C D E; do
	mount_at "$T/m$m" "$m" -o "$(opts "$m" p2)"
done
pids=()
for m in C D E; do
	copy "$T/m$m" "$T/out$m" &
	pids+=($!)
done
for i in 0 1 2; do
	wait "${pids[$i]}" || fail "copy $i of three failed"
done
for m in C D E; do
	same_as_ref "$T/out$m"
done
"$PY" - "$SERVER_LOG" "$from" "$cogA" <<'PY' || fail "three mounts: a COG request made twice"
import collections, json, sys
log, start, want = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seen = collections.Counter()
for i, line in enumerate(open(log)):
    if i >= start and line.strip():
        r = json.loads(line)
        if r["path"].startswith("/cogs/"):
            seen[(r["path"], r["range"])] += 1
twice = {k: v for k, v in seen.items() if v > 1}
total = sum(seen.values())
print("# three mounts: %d COG requests (mount A alone: %d), %d made more "
      "than once" % (total, want, len(twice)), file=sys.stderr)
for k, v in sorted(twice.items())[:10]:
    print("#   %s %s: %d times" % (k[0], k[1], v), file=sys.stderr)
sys.exit(1 if twice or total != want else 0)
PY
got=0 waits=0
for m in C D E; do
	got=$((got + $(shared "$T/m$m" files_from_store)))
	waits=$((waits + $(shared "$T/m$m" waits)))
done
[ "$got" -eq $((2 * n)) ] ||
	fail "three mounts: $got files from the store, want $((2 * n)) (each rendered once)"
note "three mounts: each file rendered once, $got downloads, $waits waits"
for m in C D E; do
	wait_uploads "$T/m$m"
	unmount_at "$T/m$m"
done

# 4. objects whose digests do not match
mapfile -t keys < <(cd "$T/cache-A/files" && ls | sed 's/\.tif$//')
for k in "${keys[@]}"; do
	sum=$(sha256sum "$T/cache-A/files/$k.tif" | cut -d' ' -f1)
	"$PY" - "$T/cache-A/files/$k.tif" "$T/bad.tif" <<'PY'
import sys
data = bytearray(open(sys.argv[1], "rb").read())
data[len(data) // 2] ^= 0xFF # one byte flipped: the digest is the original's
open(sys.argv[2], "wb").write(data)
PY
	code=$(s3_put "p3/files/$k.tif" "$T/bad.tif" \
		"x-amz-meta-satfs-sha256: $sum")
	[ "$code" = 200 ] || fail "storing a bad object: HTTP $code"
done
from=$(log_lines)
mount_at "$T/mF" F -o "$(opts F p3)"
copy "$T/mF" "$T/outF" || fail "mount F: copy failed"
same_as_ref "$T/outF"
[ "$(shared "$T/mF" bad_objects)" -eq "$n" ] ||
	fail "mount F refused $(shared "$T/mF" bad_objects) objects, not $n"
[ "$(shared "$T/mF" files_from_store)" -eq 0 ] || fail "mount F served a bad object"
[ "$(grep -c 'refused: SHA-256 does not match' "$T/satfs-F.log")" -eq "$n" ] ||
	fail "mount F: not one log line per bad object"
wait_uploads "$T/mF"
[ "$(shared "$T/mF" uploads)" -ge "$n" ] || fail "mount F did not replace the bad objects"
unmount_at "$T/mF"
# the store now has good objects: a fresh mount gets them
from=$(log_lines)
mount_at "$T/mF2" F2 -o "$(opts F2 p3)"
copy "$T/mF2" "$T/outF2" || fail "mount F2: copy failed"
same_as_ref "$T/outF2"
[ "$(shared "$T/mF2" files_from_store)" -eq "$n" ] ||
	fail "mount F2: the bad objects were not replaced"
unmount_at "$T/mF2"
note "bad digests: refused, rendered locally, replaced"

# 5. the store unreachable
mount_at "$T/mG" G -o "$(opts G p5 shared_endpoint=http://127.0.0.1:1)"
copy "$T/mG" "$T/outG" || fail "mount G: copy failed"
same_as_ref "$T/outG"
[ "$(shared "$T/mG" state)" = failing ] || fail "mount G: status does not show the store failing"
grep -F '127.0.0.1:1' "$T/mG/.satfs/status" >/dev/null ||
	fail "mount G: status does not say what failed"
[ "$(grep -c 'rendering locally, trying the store again' "$T/satfs-G.log")" -eq 1 ] ||
	fail "mount G: not exactly one warning about the store"
unmount_at "$T/mG"
note "store unreachable: files rendered locally, one warning"

# 6. the store frozen, then thawed
kill -STOP "$RGW_PID"
mount_at "$T/mH" H -o "$(opts H p6 shared_timeout=1)"
copy "$T/mH" "$T/outH" || { kill -CONT "$RGW_PID"; fail "mount H: copy failed"; }
kill -CONT "$RGW_PID"
same_as_ref "$T/outH"
[ "$(shared "$T/mH" state)" = failing ] || fail "mount H: status does not show the frozen store"
grep -A1 '^shared:' "$T/mH/.satfs/status" >&2
# after its backoff the mount tries the store again: a new render goes
# through it (its objects uploaded) and the store is working once more
retry=$(shared "$T/mH" retry_at)
"$PY" -c 'import datetime, sys, time
t = datetime.datetime.strptime(sys.argv[1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
time.sleep(max(0, min(30, t.timestamp() - time.time() + 1)))' "$retry"
cat "$T/mH/tiny/${files[0]%%/*}/$id.truecolor.tif" >/dev/null ||
	fail "mount H: truecolor failed"
wait_uploads "$T/mH"
[ "$(shared "$T/mH" state)" = working ] || fail "mount H: the store was not used again"
grep 'working again' "$T/satfs-H.log" >/dev/null || fail "mount H: no log line on recovery"
[ "$(shared "$T/mH" uploads)" -ge 1 ] || fail "mount H: nothing uploaded after the thaw"
unmount_at "$T/mH"
note "store frozen: files rendered locally, then the store used again"

# the keys are nowhere
for f in "$T"/satfs*.log "$T"/status.A; do
	if grep -F -e "$AWS_SECRET_ACCESS_KEY" -e "$AWS_ACCESS_KEY_ID" "$f" >/dev/null; then
		fail "a key in $f"
	fi
done
echo "ok $TEST_NAME"
