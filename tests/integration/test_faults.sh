#!/usr/bin/env bash
# Read-path faults that tests/integration/test_read_faults.sh does not
# cover, each against a reference copy made once, cleanly, at the start:
#   latency spikes          every file byte-identical to the reference
#   stalls (timeout=2)      the open fails with EIO within a bound, ls stays
#                           instant meanwhile, the same file works afterwards
#   connection resets       every file correct or EIO, never wrong bytes
#   wrong Content-Range     EIO (never the shifted bytes), then correct
#   200 to a range request  the answer is cut to the range: all correct
#   server down mid cp -r   every copied file correct, every other one
#                           failed with EIO; a second cp -r is complete
# Each phase uses a fresh cache, so every file is rendered under the fault.
. "$(dirname "$0")/lib.sh"
need_fuse
S=$(samples_dir)
start_server --catalog "$S" --seed 6
write_region_config "$T/satfs.conf" tiny "-82.445, 8.39, -82.43, 8.402"
TIMEOUT_S=2
since() { awk -v a="$(date +%s.%N)" -v b="$1" 'BEGIN { printf "%.2f", a - b }'; }
n_mount=0

# remount: a fresh mount on a fresh cache, with the listing done while the
# server behaves (the faults below are about pixels, not listings).
remount() {
	if [ -n "$SATFS_PID" ]; then
		unmount_satfs
	fi
	n_mount=$((n_mount + 1))
	mount_satfs -o config="$T/satfs.conf",cache="$T/cache.$n_mount",prefetch=0,timeout=$TIMEOUT_S
	ls -R "$MNT/tiny" >/dev/null
}

# copy_each DEST [N]: copies the reference files (the first N) one by one;
# a failure must be EIO, a success must be byte-identical. Prints the
# failed paths.
copy_each() {
	local dest=$1 max=${2:-1000} rel
	mkdir -p "$dest"
	while read -r rel; do
		mkdir -p "$dest/$(dirname "$rel")"
		if cp "$MNT/tiny/$rel" "$dest/$rel" 2>"$T/cp.err"; then
			cmp -s "$REF/$rel" "$dest/$rel" ||
				fail "$rel: wrong bytes under a fault"
		else
			grep -q "Input/output error" "$T/cp.err" ||
				fail "$rel: failed, but not with EIO: $(cat "$T/cp.err")"
			rm -f "$dest/$rel"
			echo "$rel"
		fi
	done < <(head -n "$max" "$T/files")
}

# The reference: a clean copy.
remount
REF=$T/ref
cp -r "$MNT/tiny" "$REF" || fail "clean cp -r"
(cd "$REF" && find . -type f -name '*.tif' | sed 's|^\./||' | sort) >"$T/files"
nfiles=$(wc -l <"$T/files")
[ "$nfiles" -ge 8 ] || fail "only $nfiles rendered files in the reference"
note "reference: $nfiles files (${SECONDS}s)"

# --- latency spikes: 0 and 1500 ms (under the 2 s stall bound) in turns ---
remount
( while :; do control '{"latency_ms": 1500}'; sleep 0.4
	      control '{"latency_ms": 0}'; sleep 0.3; done ) &
spiker=$!
failed=$(copy_each "$T/latency" 4)
kill $spiker; wait $spiker 2>/dev/null || true
control '{"latency_ms": 0}'
[ -z "$failed" ] || fail "latency spikes failed files: $failed"
note "latency spikes: 4/4 files correct (${SECONDS}s)"

# --- stalls: the server accepts and never answers ---
remount
f1=$(head -1 "$T/files")
control '{"rate_stall": 1.0}'
t0=$(date +%s.%N)
( st=0; cat "$MNT/tiny/$f1" >/dev/null 2>"$T/stall.err" || st=$?
  echo $st >"$T/stall.rc" ) &
catpid=$!
sleep 1
# While the open waits on the network, the tree answers at once.
t1=$(date +%s.%N)
ls -l "$MNT/tiny"/*/ >/dev/null || fail "ls during a stall"
stat "$MNT/tiny/$f1" >/dev/null || fail "stat during a stall"
ls_s=$(since "$t1")
wait $catpid
stall_s=$(since "$t0")
[ "$(cat "$T/stall.rc")" != 0 ] || fail "read succeeded from a stalled server"
grep -q "Input/output error" "$T/stall.err" ||
	fail "stalled open: $(cat "$T/stall.err")"
# Bound: every try gives up after timeout s without a byte (5 tries), plus
# the backoff between them (at most 20 s in all): well under a minute.
awk -v s="$stall_s" -v t=$TIMEOUT_S 'BEGIN { exit !(s >= t && s < 5 * (t + 1) + 20) }' ||
	fail "stalled open took ${stall_s}s (timeout=$TIMEOUT_S)"
awk -v l="$ls_s" -v s="$stall_s" 'BEGIN { exit !(l * 10 < s) }' ||
	fail "ls took ${ls_s}s during a ${stall_s}s stall"
stalls=$(count_requests '^/cogs/')
control '{"rate_stall": 0}'
cp "$MNT/tiny/$f1" "$T/after-stall.tif" || fail "read after the stall ended"
cmp -s "$REF/$f1" "$T/after-stall.tif" || fail "wrong bytes after a stall"
note "stall: EIO after ${stall_s}s ($stalls stalled COG requests), ls ${ls_s}s meanwhile; then correct (${SECONDS}s)"

# --- connection resets: 25 % of COG and search requests ---
remount
control '{"rate_reset": 0.25}'
failed=$(copy_each "$T/reset")
control '{"rate_reset": 0}'
resets=$(python3 -c 'import json,sys; print(sum(1 for l in open(sys.argv[1]) if json.loads(l)["fault"] == "reset"))' "$SERVER_LOG")
[ "$resets" -gt 0 ] || fail "no reset was injected"
for rel in $failed; do
	cp "$MNT/tiny/$rel" "$T/reset/$rel" || fail "$rel: retry after resets"
done
while read -r rel; do
	cmp -s "$REF/$rel" "$T/reset/$rel" || fail "$rel: differs after resets"
done <"$T/files"
note "resets: $resets injected, $(echo $failed | wc -w) files EIO then correct (${SECONDS}s)"

# --- a wrong Content-Range: another range than the one asked for ---
remount
control '{"range_shift": 7}'
failed=$(copy_each "$T/shift" 3)
control '{"range_shift": 0}'
[ "$(echo $failed | wc -w)" = 3 ] ||
	fail "with every range shifted, only $(echo $failed | wc -w)/3 failed"
grep -q "Content-Range" "$LOG" || fail "no log line names the Content-Range"
failed=$(copy_each "$T/shift")
[ -z "$failed" ] || fail "after the shift ended: $failed"
note "wrong Content-Range: 3/3 EIO, then all correct (${SECONDS}s)"

# --- 200 with the whole object to a range request ---
remount
control '{"range_ignore": true}'
from=$(log_lines)
failed=$(copy_each "$T/r200")
control '{"range_ignore": false}'
[ -z "$failed" ] || fail "200 to a range request failed: $failed"
n200=$(tail -n +"$((from + 1))" "$SERVER_LOG" | grep -c '"range_ignore"' || true)
[ "$n200" -gt 0 ] || fail "no 200 answer to a range was sent"
note "200 to a range: $n200 such answers, $nfiles/$nfiles files correct (${SECONDS}s)"

# --- the server gone in the middle of a cp -r, then back ---
remount
control '{"latency_ms": 60}'
( cp -r "$MNT/tiny" "$T/down" 2>"$T/down.err" || true ) &
cppid=$!
# Down once the first files are done: wait for one, then cut.
for _ in $(seq 100); do
	[ -n "$(find "$T/down" -name '*.tif' -size +0 2>/dev/null | head -1)" ] && break
	sleep 0.1
done
# Longer than the retries of one file (0.2 + 0.4 + 0.8 + 1.6 s of backoff),
# so that the file being rendered fails; then back, as cp -r goes on.
control '{"down": true}'
sleep 4
control '{"down": false, "latency_ms": 0}'
wait $cppid || true
ok=0 eio=0
while read -r rel; do
	if [ -f "$T/down/$rel" ] && ! grep -qF "$rel" "$T/down.err"; then
		cmp -s "$REF/$rel" "$T/down/$rel" ||
			fail "$rel: wrong bytes copied while the server went down"
		ok=$((ok + 1))
	else
		grep -F "$rel" "$T/down.err" | grep "Input/output error" >/dev/null ||
			fail "$rel: not copied, and no EIO for it: $(cat "$T/down.err")"
		eio=$((eio + 1))
	fi
done <"$T/files"
[ "$eio" -gt 0 ] || fail "the server went down too late: nothing failed"
[ "$ok" -gt 0 ] || fail "nothing was copied around the outage"
rm -rf "$T/down2"
cp -r "$MNT/tiny" "$T/down2" || fail "cp -r after the server came back"
while read -r rel; do
	cmp -s "$REF/$rel" "$T/down2/$rel" || fail "$rel: differs after recovery"
done <"$T/files"
note "server down 4 s mid cp -r: $ok correct, $eio EIO, none wrong; retry: $nfiles/$nfiles correct (${SECONDS}s)"
unmount_satfs
