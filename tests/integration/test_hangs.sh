#!/usr/bin/env bash
# No request waits for ever, and nothing waits behind a slow one (issue 13,
# item 2), against a catalog that drips one region's search answer at 8
# bytes a second (the fixture server's drip_paths: never silent long
# enough to look stalled):
#   six `ls` of the slow region: another region lists, .satfs/status and
#   `satfs cache --clear` answer, all while the six still wait
#   kill -9 of one such `ls`: gone at once (FUSE INTERRUPT answered EINTR;
#   it would sit in D state until the catalog answered)
#   with min_rate and deadline at their defaults but timeout=2, the slow
#   listing fails (EIO) within the deadline (5 x timeout) instead of
#   waiting on the drip
#   SIGTERM while listings drip and a render waits on a held COG request:
#   the daemon exits within 2 s (the transfers are cancelled)
# Processes that may be stuck on the mount are never waited for without a
# deadline: their state is polled in /proc.
. "$(dirname "$0")/lib.sh"
need_fuse
S=$(samples_dir)
start_server --catalog "$S"
write_config "$T/satfs.conf"
cat >>"$T/satfs.conf" <<EOC

[region slow]
bbox = -82.4375, 8.375, -82.4, 8.4375
EOC
control '{"drip_paths": ["-82.4375"], "drip_rate": 8}'

# gone PID: the process has ended (gone, or a zombie its parent has not
# reaped); never blocks
gone() {
	local st
	st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 0
	[ "$st" = Z ]
}

# wait_gone PID SECONDS: polls; 0 when it ended in time
wait_gone() {
	local i
	for i in $(seq $(($2 * 20))); do
		gone "$1" && return 0
		sleep 0.05
	done
	return 1
}

ms() { date +%s%3N; }

mount_satfs -o config="$T/satfs.conf",cache="$CACHE",prefetch=0,timeout=30
pids=()
for i in 1 2 3 4 5 6; do
	ls "$MNT/slow" >"$T/slow.$i.out" 2>&1 &
	pids+=($!)
done
# the search is in flight and dripping
for _ in $(seq 100); do
	[ "$(count_requests '/search$')" -ge 1 ] && break
	sleep 0.1
done
[ "$(count_requests '/search$')" -ge 1 ] || fail "the slow search never started"

# --- others go on meanwhile ---
timeout 20 ls "$MNT/david" >"$T/david.out" || fail "a healthy region did not list beside a slow one"
[ -s "$T/david.out" ] || fail "david listed empty"
timeout 20 cat "$MNT/.satfs/status" >"$T/status.out" || fail "the status file did not answer"
grep -q "^satfs" "$T/status.out" || fail "status file: $(head -3 "$T/status.out")"
timeout 20 "$SATFS" cache --clear "$MNT" >"$T/clear.out" 2>&1 ||
	fail "satfs cache --clear did not answer: $(cat "$T/clear.out")"
for p in "${pids[@]}"; do
	gone "$p" && fail "a slow listing ended before the others were checked (not slow enough to prove anything)"
done
note "6 listings of the dripping region waiting; david, .satfs/status and cache --clear answered meanwhile"

# --- a killed ls is gone at once ---
t0=$(ms)
kill -9 "${pids[0]}"
wait_gone "${pids[0]}" 5 || fail "a killed ls is still there after 5 s (state $(awk '{print $3}' /proc/${pids[0]}/stat))"
dt=$(($(ms) - t0))
note "killed ls gone in ${dt} ms"
[ "$dt" -lt 1500 ] || fail "a killed ls took ${dt} ms to go"
for p in "${pids[@]:1}"; do
	gone "$p" && fail "killing one ls ended another"
done

# --- SIGTERM: the daemon goes within 2 s though transfers are in flight ---
f=$(timeout 60 find "$MNT/david" -name '*.falsecolor.tif' | head -1)
[ -n "$f" ] || fail "no file to render"
control '{"hold_paths": ["/cogs/"]}'
cat "$f" >/dev/null 2>&1 &
reader=$!
for _ in $(seq 100); do
	[ "$(python3 -c 'import json,sys,urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1]+"/_stats"))["held"])' "$BASE")" -ge 1 ] && break
	sleep 0.1
done
t0=$(ms)
kill -TERM "$SATFS_PID"
wait_gone "$SATFS_PID" 10 || fail "the daemon is still there 10 s after SIGTERM"
dt=$(($(ms) - t0))
note "SIGTERM with a dripping search and a held COG request: exited in ${dt} ms"
[ "$dt" -lt 2000 ] || fail "the daemon took ${dt} ms to exit after SIGTERM"
st=0
wait "$SATFS_PID" || st=$?
SATFS_PID=
[ $st -eq 0 ] || fail "satfs exited with status $st after SIGTERM"
for p in "${pids[@]:1}" "$reader"; do
	wait_gone "$p" 5 || fail "a reader of the mount is left hanging after the daemon exited"
done
control '{"hold_paths": []}'
mountpoint -q "$MNT" && fusermount3 -u "$MNT"

# --- timeout=2: the dripping listing fails within its deadline ---
rm -f "$LOG"
mount_satfs -o config="$T/satfs.conf",cache="$CACHE",prefetch=0,timeout=2
t0=$(ms)
timeout 60 ls "$MNT/slow" >"$T/slow2.out" 2>&1 && fail "the dripping listing succeeded"
dt=$(($(ms) - t0))
grep -q "Input/output error" "$T/slow2.out" || fail "not EIO: $(cat "$T/slow2.out")"
note "the dripping listing failed (EIO) after ${dt} ms with timeout=2 (deadline 10 s)"
[ "$dt" -lt 20000 ] || fail "the dripping listing took ${dt} ms with timeout=2"
grep -q "too slow\|Timeout was reached\|timed out after" "$LOG" ||
	fail "the log does not say the server was too slow"
unmount_satfs
