#!/usr/bin/env bash
# The daemon's memory stays bounded over relistings (issue 12): 300 rounds
# of `satfs refresh` + `ls -lR` of a 5-scene region, each a new search and
# a new listing, leave its resident size (VmRSS, measured after eleven
# warm-up rounds) within 8 MB. Each relisting used to keep the old
# listing and its plans until unmount, about 108 KB a round (32 MB over
# 300).
#
# AddressSanitizer keeps freed memory in a quarantine (256 MB by default)
# before reusing it, which would count here as growth; the daemon of this
# test gets a small one, so that what is measured is satfs's own.
TEST_TIMEOUT=${TEST_TIMEOUT:-560}
. "$(dirname "$0")/lib.sh"
need_fuse
ROUNDS=${ROUNDS:-300}
BOUND_KB=8192
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0:allocator_release_to_os_interval_ms=200"
start_server --catalog "$(samples_dir)"
write_config "$T/satfs.conf"
mount_satfs -o config="$T/satfs.conf",cache="$CACHE",prefetch=0

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$SATFS_PID/status"; }
round() {
	"$SATFS" refresh "$MNT/david" || fail "satfs refresh"
	ls -lR "$MNT" >"$T/ls.out" || fail "ls -lR"
}
round # warm-up: the first listing, the caches, the threads
# The listing counts each scene's region cloud cover in the background
# (its SCL tiles join the bounded tile cache): that one-time growth ends
# before the measure starts. Asking for the cover waits for its count.
for f in "$MNT"/david/*/S2*.falsecolor.tif; do
	getfattr --absolute-names -n user.satfs.cloud "$f" >/dev/null ||
		fail "user.satfs.cloud of $f"
done
# The allocator's arenas of the listing threads settle over the first
# rounds (about 3 MB in ten, then 0.5 MB in the next 250): measured after.
for i in $(seq 10); do round; done
nfiles=$(grep -c '\.tif$' "$T/ls.out")
# 5 scenes x 4 products, and the 4 mosaics of the date two scenes share
[ "$nfiles" -eq 24 ] || fail "ls -lR shows $nfiles .tif files, want 24"
s0=$(count_requests '/search$')
rss0=$(rss_kb)
peak=$rss0
for i in $(seq "$ROUNDS"); do
	round
	if [ $((i % 50)) -eq 0 ]; then
		r=$(rss_kb)
		[ "$r" -gt "$peak" ] && peak=$r
		note "round $i: VmRSS $r kB (start $rss0 kB)"
	fi
done
rss1=$(rss_kb)
searches=$(( $(count_requests '/search$') - s0 ))
[ "$searches" -ge "$ROUNDS" ] || fail "$searches searches in $ROUNDS rounds: the refreshes did not relist"
cmp -s <(sed 1d "$T/ls.out") <(ls -lR "$MNT" | sed 1d) || fail "the tree changed"
note "VmRSS: $rss0 kB after the warm-up, $rss1 kB after $ROUNDS rounds (peak $peak kB), $searches searches"
[ $((rss1 - rss0)) -le $BOUND_KB ] ||
	fail "VmRSS grew by $((rss1 - rss0)) kB over $ROUNDS relistings (bound $BOUND_KB kB)"
[ $((peak - rss0)) -le $BOUND_KB ] ||
	fail "VmRSS peaked $((peak - rss0)) kB above the start (bound $BOUND_KB kB)"
unmount_satfs
echo "ok $TEST_NAME"
