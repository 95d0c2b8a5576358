#!/usr/bin/env bash
# The command line and the mount itself: --help, --version, bad
# configurations refused with status 2 naming file and line, mounting,
# the root listing the regions, writes refused with EROFS, a clean exit on
# unmount, and daemonising.
. "$(dirname "$0")/lib.sh"
need_fuse

# --help and --version
out=$("$SATFS" --help) || fail "--help exit status"
echo "$out" | grep "usage: .*MOUNTPOINT" >/dev/null || fail "--help has no usage line"
for opt in config cache cache_max stac collection max_cloud prefetch timeout \
	connections listing_ttl max_items offline log log_level; do
	echo "$out" | grep "^    $opt[= ]" >/dev/null || fail "--help does not list $opt"
done
"$SATFS" --version | grep -E '^satfs [0-9]+\.[0-9]+\.[0-9]+' >/dev/null ||
	fail "--version"
st=0; "$SATFS" 2>/dev/null || st=$?
[ $st -eq 2 ] || fail "no mount point: status $st, want 2"

# Each kind of bad configuration: status 2, file and line named, nothing
# mounted.
bad() { # bad LINE 'content'
	local want_line=$1 conf=$T/bad.conf st=0
	printf '%b' "$2" >"$conf"
	"$SATFS" -f -o config="$conf",cache="$CACHE" "$MNT" 2>"$T/err" || st=$?
	[ $st -eq 2 ] || fail "bad config ($2): status $st, want 2"
	grep -q "$conf:$want_line:" "$T/err" ||
		fail "bad config ($2): message '$(cat "$T/err")' does not name $conf:$want_line"
	mountpoint -q "$MNT" && fail "mounted despite a bad configuration"
	return 0
}
bad 2 '[source]\ncolour = blue\n'
bad 1 '[sources]\n'
bad 2 '[region x]\nbbox = 10, 5, 1, 6\n'
bad 3 '[region x]\nbbox = 1, 5, 10, 6\ndates = 2024-02-30 .. 2024-03-01\n'
bad 2 '[source]\ndates = 2024-05-01 .. 2024-01-01\n'
bad 2 '[product p]\nbands = B4, B3\n'
bad 3 '[product falsecolor]\nmin = 0\nmax = abc\n'
bad 2 '[source]\nmax_cloud = 150\n'
st=0
"$SATFS" -f -o config=$T/does-not-exist.conf "$MNT" 2>"$T/err" || st=$?
[ $st -eq 2 ] || fail "unreadable config: status $st"
grep -q "does-not-exist.conf" "$T/err" || fail "unreadable config not named"
st=0
"$SATFS" -f -o prefetch=lots,cache="$CACHE" "$MNT" 2>"$T/err" || st=$?
[ $st -eq 2 ] || fail "bad -o prefetch: status $st"
grep -q "prefetch" "$T/err" || fail "bad -o prefetch not named"

# A mount with two regions (no network needed to list the root).
cat >"$T/ok.conf" <<EOC
[source]
stac = http://127.0.0.1:9/
[region david]
center = 8.3958, -82.4350
size = 0.09
[region holland]
bbox = 4.9, 52.0, 5.4, 52.4
EOC
mount_satfs -o config="$T/ok.conf",cache="$CACHE"
[ "$(ls "$MNT" | tr '\n' ' ')" = "david holland " ] ||
	fail "root lists '$(ls "$MNT")'"
[ -d "$MNT/david" ] || fail "david is not a directory"
stat -c %A "$MNT/david" | grep '^dr-xr-xr-x' >/dev/null || fail "region mode"

# Writes: EROFS everywhere.
for op in "touch $MNT/new" "mkdir $MNT/newdir" "rmdir $MNT/david" \
	"mv $MNT/david $MNT/x" "ln -s a $MNT/link"; do
	if errmsg=$($op 2>&1); then
		fail "'$op' succeeded on a read-only mount"
	fi
	echo "$errmsg" | grep -i "read-only file system" >/dev/null ||
		fail "'$op': '$errmsg', want EROFS"
done
python3 - "$MNT" <<'PY' || fail "open for writing did not give EROFS"
import errno, os, sys
try:
    os.open(os.path.join(sys.argv[1], "x"), os.O_WRONLY | os.O_CREAT)
except OSError as e:
    sys.exit(0 if e.errno == errno.EROFS else 1)
sys.exit(1)
PY

# Probes and bad names: ENOENT, no crash.
for name in .Trash .hidden autorun.inf .git '@91,0,0.1' 'bbox=1,2,3'; do
	[ -e "$MNT/$name" ] && fail "$name exists"
done
# The cache directory is private.
[ "$(stat -c %a "$CACHE")" = 700 ] || fail "cache mode $(stat -c %a "$CACHE")"

unmount_satfs

# Without -f satfs daemonises; fusermount3 -u ends it.
"$SATFS" -o config="$T/ok.conf",cache="$CACHE",log="$T/satfs-daemon.log" "$MNT" ||
	fail "daemon mount failed"
mountpoint -q "$MNT" || fail "daemon mount not up"
pid=$(pgrep -f "satfs -o config=$T/ok.conf" | head -1)
[ -n "$pid" ] || fail "no daemon process"
ls "$MNT" | grep holland >/dev/null || fail "daemon mount lists '$(ls "$MNT")'"
fusermount3 -u "$MNT"
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "daemon still running after unmount"
echo "ok $TEST_NAME"
