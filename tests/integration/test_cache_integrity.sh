#!/usr/bin/env bash
# The cache checks what it serves (issue 13, item 4):
#   a cached file cut short (100000 bytes) is rendered again, never served
#   short: the copy read equals a clean render, and one log line names it
#   a cached file with one byte changed (same size) is caught by the SHA-256
#   recorded at publication, on its first open after a mount: rendered
#   again, byte-identical, one log line
#   offline, a damaged file is not served either (EIO)
#   a sound cached file is served with no request at all (the check costs
#   no network)
. "$(dirname "$0")/lib.sh"
need_fuse
need_program getfattr attr
S=$(samples_dir)
start_server --catalog "$S"
write_config "$T/satfs.conf"
OPTS=config="$T/satfs.conf",cache="$CACHE",prefetch=0

mount_satfs -o "$OPTS"
f=$(find "$MNT/david" -name '*.falsecolor.tif' | sort | head -1)
[ -n "$f" ] || fail "nothing listed"
rel=${f#$MNT/}
cp "$f" "$T/clean.tif" || fail "first render"
size=$(stat -c %s "$T/clean.tif")
unmount_satfs
c=$(ls "$CACHE"/files/*.tif)
[ "$(echo "$c" | wc -l)" -eq 1 ] || fail "want one cached file, have: $c"
getfattr -n user.satfs.sha256 --only-values "$c" >"$T/digest" 2>/dev/null ||
	fail "no digest recorded on the cached file"
[ "$(cat "$T/digest")" = "$(sha256sum "$c" | cut -d' ' -f1)" ] ||
	fail "the recorded digest is not the file's SHA-256"

# --- sound: served from the cache, no request ---
mount_satfs -o "$OPTS"
n0=$(log_lines)
cmp "$MNT/$rel" "$T/clean.tif" || fail "the cached file differs"
[ "$(requests_since "$n0" '^/cogs/')" -eq 0 ] || fail "a sound cached file was fetched again"
unmount_satfs

# --- cut short: rendered again, never served short ---
truncate -s 100000 "$c"
mount_satfs -o "$OPTS"
n0=$(log_lines)
[ "$(stat -c %s "$MNT/$rel")" -eq "$size" ] || fail "the listed size changed"
cmp "$MNT/$rel" "$T/clean.tif" || fail "a truncated cached file was served"
[ "$(requests_since "$n0" '^/cogs/')" -gt 0 ] || fail "not rendered again"
[ "$(grep -c "the cached file is damaged (100000 bytes, not the $size" "$LOG")" -eq 1 ] ||
	fail "want one log line naming the short file"
unmount_satfs
cmp "$c" "$T/clean.tif" || fail "the cache does not hold the new render"

# --- one byte changed, same size: the digest catches it ---
python3 - "$c" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(200000)
    b = f.read(1)
    f.seek(200000)
    f.write(bytes([b[0] ^ 0xff]))
PY
mount_satfs -o "$OPTS"
n0=$(log_lines)
cmp "$MNT/$rel" "$T/clean.tif" || fail "a corrupted cached file was served"
[ "$(requests_since "$n0" '^/cogs/')" -gt 0 ] || fail "not rendered again"
[ "$(grep -c "does not match the digest" "$LOG")" -eq 1 ] ||
	fail "want one log line naming the digest mismatch"
unmount_satfs

# --- offline: a damaged file is refused, not served ---
truncate -s 100000 "$c"
mount_satfs -o "$OPTS",offline
cat "$MNT/$rel" >"$T/off.tif" 2>"$T/off.err" && fail "offline, a damaged file was served"
grep -q "Input/output error" "$T/off.err" || fail "offline: $(cat "$T/off.err")"
grep -q "offline: not served" "$LOG" || fail "offline: no log line"
unmount_satfs
# --- a time-lapse's frame damaged: checked when the time-lapse reads it ---
# (a cached quicklook is not fsync'd: its digest is what catches a power
# loss, so every reader of it checks, not only the daemon's opens)
mount_satfs -o "$OPTS"
gif="$MNT/david/timelapse.falsecolor.gif"
cp "$gif" "$T/clean.gif" || fail "first time-lapse"
unmount_satfs
png=""
for e in "$CACHE"/files/*.tif; do
	case "$(head -c 4 "$e" | od -An -c | tr -d ' ')" in
	GIF8) rm -f "$e" ;; # rendered again from its frames
	*PNG) [ -n "$png" ] || png=$e ;;
	esac
done
[ -n "$png" ] || fail "no cached quicklook"
python3 - "$png" <<'PY'
import os, sys
with open(sys.argv[1], "r+b") as f:
    at = os.path.getsize(sys.argv[1]) // 2
    f.seek(at)
    b = f.read(1)
    f.seek(at)
    f.write(bytes([b[0] ^ 0xff]))
PY
mount_satfs -o "$OPTS"
n0=$(grep -c "does not match the digest" "$LOG")
cmp "$gif" "$T/clean.gif" || fail "a time-lapse made of a damaged frame"
[ "$(grep -c "does not match the digest" "$LOG")" -eq $((n0 + 1)) ] ||
	fail "want one log line naming the damaged frame"
unmount_satfs
note "short and corrupted cached files rendered again, byte-identical; offline refused; a damaged frame rendered again for its time-lapse"
