#!/usr/bin/env bash
# The cache checks what it serves (issue 13, item 4):
#   a cached file cut short (100000 bytes) is rendered again, never served
#   short: the copy read equals a clean render, and one log line names it
#   a cached file with one byte changed (same size) is caught by the digest
#   (XXH3-128, xxhsum's) recorded at publication, on its first open after a
#   mount: rendered again, byte-identical, one log line
#   a file of an older satfs, with only a SHA-256 recorded, is checked
#   against that: sound, served with no request (and given its XXH3-128);
#   changed, rendered again
#   offline, a damaged file is not served either (EIO)
#   a sound cached file is served with no request at all (the check costs
#   no network)
. "$(dirname "$0")/lib.sh"
need_fuse
need_program getfattr attr
need_program xxhsum xxhash
S=$(samples_dir)

# flip_byte FILE OFFSET|half: inverts one byte in place, the size kept.
flip_byte() {
	python3 - "$1" "$2" <<'PY'
import os, sys
path, at = sys.argv[1], sys.argv[2]
at = os.path.getsize(path) // 2 if at == "half" else int(at)
with open(path, "r+b") as f:
    f.seek(at)
    b = f.read(1)
    f.seek(at)
    f.write(bytes([b[0] ^ 0xff]))
PY
}

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
getfattr -n user.satfs.xxh128 --only-values "$c" >"$T/digest" 2>/dev/null ||
	fail "no digest recorded on the cached file"
[ "$(cat "$T/digest")" = "$(xxhsum -H2 "$c" | cut -d' ' -f1)" ] ||
	fail "the recorded digest is not the file's XXH3-128"

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
flip_byte "$c" 200000
mount_satfs -o "$OPTS"
n0=$(log_lines)
cmp "$MNT/$rel" "$T/clean.tif" || fail "a corrupted cached file was served"
[ "$(requests_since "$n0" '^/cogs/')" -gt 0 ] || fail "not rendered again"
[ "$(grep -c "does not match the digest" "$LOG")" -eq 1 ] ||
	fail "want one log line naming the digest mismatch"
unmount_satfs

# --- a file an older satfs wrote: its SHA-256 is what is checked ---
setfattr -x user.satfs.xxh128 "$c"
setfattr -n user.satfs.sha256 -v "$(sha256sum "$c" | cut -d' ' -f1)" "$c"
mount_satfs -o "$OPTS"
n0=$(log_lines)
cmp "$MNT/$rel" "$T/clean.tif" || fail "an older sound cached file differs"
[ "$(requests_since "$n0" '^/cogs/')" -eq 0 ] ||
	fail "an older sound cached file was fetched again"
unmount_satfs
[ "$(getfattr -n user.satfs.xxh128 --only-values "$c" 2>/dev/null)" = \
	"$(xxhsum -H2 "$c" | cut -d' ' -f1)" ] ||
	fail "an older sound file was not given its XXH3-128"
setfattr -x user.satfs.xxh128 "$c" # its SHA-256 alone again
flip_byte "$c" 300000
mount_satfs -o "$OPTS"
n0=$(log_lines)
m0=$(grep -c "does not match the digest" "$LOG")
cmp "$MNT/$rel" "$T/clean.tif" || fail "an older corrupted cached file was served"
[ "$(requests_since "$n0" '^/cogs/')" -gt 0 ] || fail "older file: not rendered again"
[ "$(grep -c "does not match the digest" "$LOG")" -eq $((m0 + 1)) ] ||
	fail "older file: want one log line naming the digest mismatch"
unmount_satfs
getfattr -n user.satfs.xxh128 --only-values "$c" >/dev/null 2>&1 ||
	fail "the new render has no XXH3-128 digest"

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
flip_byte "$png" half
mount_satfs -o "$OPTS"
n0=$(grep -c "does not match the digest" "$LOG")
cmp "$gif" "$T/clean.gif" || fail "a time-lapse made of a damaged frame"
[ "$(grep -c "does not match the digest" "$LOG")" -eq $((n0 + 1)) ] ||
	fail "want one log line naming the damaged frame"
unmount_satfs
note "short and corrupted cached files rendered again, byte-identical; offline refused; a damaged frame rendered again for its time-lapse"
