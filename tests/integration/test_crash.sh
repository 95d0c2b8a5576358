#!/usr/bin/env bash
# Crash safety.
# 1. kill -9 of the daemon at a random moment (within the time a clean
#    cp -r takes, at least 0-300 ms; latency 20 ms) into a cp -r of a
#    region, CRASH_ROUNDS times (default 20), each on a fresh cache. After
#    each kill the cache is remounted offline: every file it serves is
#    byte-identical to a clean render made once at the start (so a partial
#    file can never be served), the rest fail cleanly, and no *.tmp-*
#    leftover survives the remount.
# 2. A full disk during a render (the cache on a 6 MiB tmpfs, mostly
#    filled): that file fails with ENOSPC or EIO, one clear log line,
#    nothing partial left; once space is freed the same file renders.
. "$(dirname "$0")/lib.sh"
# (pictures=off: a region lists only its dates, a date its .tif and
# .json here; the pictures are test_pictures.sh's subject)
need_fuse
S=$(samples_dir)
ROUNDS=${CRASH_ROUNDS:-20}
start_server --catalog "$S" --latency-ms 20
write_region_config "$T/satfs.conf" tiny "-82.445, 8.39, -82.43, 8.402"
opts=pictures=off,config="$T/satfs.conf",prefetch=2

# The reference: a clean render of everything.
mount_satfs -o "$opts",cache="$T/cache.ref"
t0=$(date +%s%N)
cp -r "$MNT/tiny" "$T/ref" || fail "clean cp -r"
# Kills land at random within the time a clean cp -r takes (at least
# 300 ms), so that some rounds die early and some late.
window_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$window_ms" -ge 300 ] || window_ms=300
unmount_satfs
(cd "$T/ref" && find . -type f -name '*.tif' | sed 's|^\./||' | sort) >"$T/files"
nfiles=$(wc -l <"$T/files")
[ "$nfiles" -ge 8 ] || fail "only $nfiles files in the reference"

served=0 refused=0 leftovers=0
for i in $(seq "$ROUNDS"); do
	c=$T/cache.$i
	mount_satfs -o "$opts",cache="$c"
	( cp -r "$MNT/tiny" "$T/copy.$i" 2>/dev/null || true ) &
	cppid=$!
	sleep "$(awk -v s="$RANDOM" -v w="$window_ms" 'BEGIN { printf "%.3f", (s % (w + 1)) / 1000 }')"
	kill -KILL "$SATFS_PID"
	wait "$SATFS_PID" 2>/dev/null || true
	SATFS_PID=
	fusermount3 -uz "$MNT" 2>/dev/null || true
	wait $cppid || true
	rm -rf "$T/copy.$i"
	leftovers=$((leftovers + $(find "$c" -name '*.tmp-*' | wc -l)))

	# Remount the same cache offline: only what was published is served.
	mount_satfs -o "$opts",cache="$c",offline
	[ -z "$(find "$c" -name '*.tmp-*')" ] ||
		fail "round $i: leftovers after remount: $(find "$c" -name '*.tmp-*')"
	while read -r rel; do
		if cp "$MNT/tiny/$rel" "$T/got" 2>/dev/null; then
			cmp -s "$T/got" "$T/ref/$rel" ||
				fail "round $i: $rel served, but differs from the clean render"
			served=$((served + 1))
		else
			refused=$((refused + 1))
		fi
	done <"$T/files"
	unmount_satfs
	rm -rf "$c"
done
[ "$served" -gt 0 ] || fail "no file was ever complete before a kill"
[ "$refused" -gt 0 ] || fail "every kill came too late to matter"
note "kill -9: $ROUNDS rounds at 0-${window_ms} ms; $served files served after remount, all identical; $refused not rendered; $leftovers temporary files left by kills, all removed at remount"

# --- a full disk ---
if ! mount -t tmpfs -o size=6M satfs-test "$T/small" 2>/dev/null; then
	mkdir -p "$T/small"
	mount -t tmpfs -o size=6M satfs-test "$T/small" ||
		skip "cannot mount a tmpfs (not root?)"
fi
# _cleanup takes the test's status from $?: keep it across the umount.
_crash_cleanup() {
	local st=$?
	set +e
	umount -l "$T/small" 2>/dev/null
	(exit $st)
	_cleanup
}
trap _crash_cleanup EXIT
c=$T/small/cache
mount_satfs -o "$opts",prefetch=0,cache="$c"
ls -R "$MNT/tiny" >/dev/null
f1=$(head -1 "$T/files")
size=$(stat -c %s "$MNT/tiny/$f1")
# Leave less room than the file needs.
avail=$(df -B1 --output=avail "$T/small" | tail -1)
fill=$((avail - size / 2))
[ "$fill" -gt 0 ] || fail "the tmpfs is too small for the test"
head -c "$fill" /dev/zero >"$T/small/filler" 2>/dev/null || true
from=$(wc -l <"$LOG")
if cp "$MNT/tiny/$f1" "$T/full.tif" 2>"$T/full.err"; then
	fail "$f1 rendered on a full disk"
fi
grep -qE "No space left on device|Input/output error" "$T/full.err" ||
	fail "full disk: $(cat "$T/full.err")"
tail -n +"$((from + 1))" "$LOG" | grep -iE "no space|ENOSPC" >"$T/full.log" || true
lines=$(wc -l <"$T/full.log")
[ "$lines" -ge 1 ] || fail "no log line says the disk is full: $(tail -n +"$((from + 1))" "$LOG")"
[ "$lines" -le 2 ] || fail "$lines log lines for one full disk"
[ -z "$(find "$c" -name '*.tmp-*')" ] || fail "a partial file stayed on the full disk"
rm -f "$T/small/filler"
cp "$MNT/tiny/$f1" "$T/full.tif" || fail "$f1 after space was freed"
cmp -s "$T/full.tif" "$T/ref/$f1" || fail "$f1 differs after the full disk"
note "full disk log: $(cat "$T/full.log")"
note "full disk: cp says '$(sed 's/.*: //' "$T/full.err")'; $lines log line(s); renders once freed"
unmount_satfs
umount "$T/small" 2>/dev/null || umount -l "$T/small"
