#!/usr/bin/env bash
# The disk cache: leftover temporaries (from a crash) are removed at start;
# the cache directory is 0700 and its files 0600 (even when the directory
# existed with looser modes); cache_max is enforced by evicting the least
# recently used rendered file that nobody has open: with a cap of 3.5
# files, one file held open (exec 3<) and four others read (one of them
# twice), the cache stays under the cap, the open file stays (and reads
# correctly through the open descriptor), and the file evicted is the
# least recently used one, not the oldest.
. "$(dirname "$0")/lib.sh"
need_fuse
S=$(samples_dir)
start_server --catalog "$S"
write_region_config "$T/satfs.conf" small "-82.45, 8.37, -82.42, 8.40"
hex=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef

# 1. leftovers and modes
mkdir -p "$CACHE/files" "$CACHE/listings"
chmod 0755 "$CACHE" "$CACHE/files"
echo partial >"$CACHE/files/$hex.tif.tmp-4242-0"
echo partial >"$CACHE/listings/$hex.listing.tmp-4242-7"
mount_satfs -o config="$T/satfs.conf",cache="$CACHE",prefetch=0
left=$(find "$CACHE" -name '*.tmp-*' | wc -l)
[ "$left" -eq 0 ] || fail "$left leftover temporaries not removed at start"
mapfile -t files < <(cd "$MNT/small" && find . -name 'S2*.falsecolor.tif' | sort)
[ ${#files[@]} -ge 5 ] || fail "need 5 files, have ${#files[@]}"
# The files' sizes differ by the length of what their metadata says of
# each scene (its cloud cover, ...): a few bytes. The cap arithmetic below
# needs them within an eighth of each other.
sizes=$(cd "$MNT/small" && stat -c %s "${files[@]}" | sort -n)
min=$(echo "$sizes" | head -n 1)
max=$(echo "$sizes" | tail -n 1)
[ $((min * 8)) -gt $((max * 7)) ] ||
	fail "file sizes $min..$max differ too much"
cat "$MNT/small/${files[4]}" >/dev/null || fail "cat ${files[4]}"
unmount_satfs
bad=$(find "$CACHE" -type d ! -perm 0700 | head -3)
[ -z "$bad" ] || fail "cache directories not 0700: $bad"
bad=$(find "$CACHE" -type f ! -perm 0600 | head -3)
[ -z "$bad" ] || fail "cache files not 0600: $bad"
[ "$(find "$CACHE/files" -type f | wc -l)" -eq 1 ] || fail "expected 1 rendered file"
[ "$(find "$CACHE/listings" "$CACHE/headers" -type f | wc -l)" -ge 4 ] ||
	fail "expected a listing and 3 headers in the cache"

# 2. LRU eviction under cache_max, sparing the open file
rm -rf "$CACHE/files"
# three files fit (3 * max), four do not (4 * min > 3.5 * max)
cap=$((max * 7 / 2))
mount_satfs -o config="$T/satfs.conf",cache="$CACHE",prefetch=0,cache_max=$cap
A=$MNT/small/${files[0]} B=$MNT/small/${files[1]}
C=$MNT/small/${files[2]} D=$MNT/small/${files[3]}
exec 3<"$A"
cat <&3 >"$T/A" || fail "read A through the open fd"
cat "$B" >"$T/B" || fail "cat B"
sleep 0.1 # the LRU clock is the files' mtime: keep the steps apart
cat "$C" >"$T/C" || fail "cat C"
sleep 0.1
cat "$B" >/dev/null || fail "cat B again" # B is now more recent than C
sleep 0.1
cat "$D" >"$T/D" || fail "cat D"
for x in A B C D; do
	[ "$(stat -c %s "$T/$x")" = "$(stat -c %s "${!x}")" ] ||
		fail "$x: wrong size"
done
# which rendered files are left, by content
inside() {
	local g
	for g in "$CACHE"/files/*.tif; do
		cmp -s "$g" "$1" && return 0
	done
	return 1
}
total=$(find "$CACHE/files" -name '*.tif' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
left=""
for x in A B C D; do inside "$T/$x" && left="$left$x"; done
note "cache_max=$cap ($min..$max-byte files): $total bytes left, files $left"
[ "$total" -le "$cap" ] || fail "cache holds $total bytes, over the cap of $cap"
[ "$left" = ABD ] || fail "cache holds $left, expected ABD (C least recently used, A open)"
# the open file still reads right through its descriptor, and by name
python3 - "$T/A" <<'PY' || fail "A through fd 3 after the evictions"
import os, sys
want = open(sys.argv[1], "rb").read()
got = os.pread(3, len(want) + 1, 0)
sys.exit(0 if got == want else 1)
PY
cmp -s "$A" "$T/A" || fail "A by name after the evictions"
exec 3<&-
# the evicted file renders again, correctly
cmp -s "$C" "$T/C" || fail "C differs when rendered again"
inside "$T/C" || fail "C was not rendered again (not in the cache)"
total=$(find "$CACHE/files" -name '*.tif' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
[ "$total" -le "$cap" ] || fail "cache holds $total bytes after C, over $cap"
unmount_satfs

# 3. a cap smaller than one file: reads still work (the file is not
# evicted between its publication and the open waiting for it), and once
# closed it goes
cap=$((min / 2))
rm -rf "$CACHE/files"
mount_satfs -o config="$T/satfs.conf",cache="$CACHE",prefetch=0,cache_max=$cap
cmp -s "$C" "$T/C" || fail "C under a cap smaller than a file"
cmp -s "$B" "$T/B" || fail "B under a cap smaller than a file"
for _ in $(seq 50); do # the kernel sends the release after close returns
	total=$(find "$CACHE/files" -name '*.tif' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
	[ "$total" -le "$cap" ] && break
	sleep 0.1
done
[ "$total" -le "$cap" ] || fail "cache holds $total bytes with nothing open, over $cap"
unmount_satfs
echo "ok $TEST_NAME"
