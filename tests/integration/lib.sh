# Shared by the mount tests (tests/integration/test_*.sh); source it first.
#
# Each test gets its own directory ($T) with a mount point, a cache and a
# log; a watchdog ends the test if it hangs; the EXIT trap always unmounts,
# stops the servers and fails the test on any sanitizer report in the
# daemon's stderr. Exit 77 means skip, through skip() with the reason: only
# for a feature the machine lacks (no /dev/fuse, not root), and never under
# CI=true. What the suite provides (the programs scripts/deps installs,
# tests/data, the sample catalog) is required: its absence fails the test.

set -euo pipefail

SRC=${SATFS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${SATFS_BUILD_DIR:-$SRC/build}
SATFS=${SATFS_BIN:-$BUILD/satfs}
TEST_NAME=$(basename "$0" .sh)
T=$(mktemp -d "/tmp/satfs-$TEST_NAME.XXXXXX")
MNT=$T/mnt
CACHE=$T/cache
LOG=$T/satfs.log
SERVER_PID=
SATFS_PID=
RGW_DIR=
_more_mnts=()
_more_pids=()
_server_n=0
mkdir -p "$MNT"

fail() {
	echo "FAIL $TEST_NAME: $*" >&2
	exit 1
}

skip() {
	if [ "${CI:-}" = true ]; then
		fail "would skip under CI: $*"
	fi
	echo "SKIP $TEST_NAME: $*" >&2
	exit 77
}

note() {
	echo "# $*" >&2
}

sanitizer_check() {
	local f
	for f in "$@"; do
		[ -f "$f" ] || continue
		if grep -qE 'ERROR: (Address|Leak|Thread)Sanitizer|runtime error:|WARNING: ThreadSanitizer' "$f"; then
			echo "--- sanitizer report in $f:" >&2
			grep -A30 -E 'Sanitizer|runtime error:' "$f" | head -80 >&2
			return 1
		fi
	done
	return 0
}

_cleanup() {
	local status=$?
	set +e
	if mountpoint -q "$MNT" 2>/dev/null; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT"
	fi
	if [ -n "$SATFS_PID" ] && kill -0 "$SATFS_PID" 2>/dev/null; then
		# give the daemon its clean exit (and LeakSanitizer its report)
		for _ in $(seq 50); do
			kill -0 "$SATFS_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$SATFS_PID" 2>/dev/null
	fi
	_unmount_more
	[ -n "$SERVER_PID" ] && kill $SERVER_PID 2>/dev/null
	# after the mounts: their last uploads went to it
	[ -n "$RGW_DIR" ] && bash "$SRC/tests/s3/rgw.sh" stop "$RGW_DIR" \
		>/dev/null 2>&1
	if [ -n "${WATCHDOG_PID:-}" ]; then
		# the watchdog first, so that it cannot go on to fire when its
		# sleep dies; then the orphaned sleep
		_sleep_pid=$(pgrep -P "$WATCHDOG_PID" sleep)
		kill "$WATCHDOG_PID" 2>/dev/null
		wait "$WATCHDOG_PID" 2>/dev/null
		[ -n "$_sleep_pid" ] && kill $_sleep_pid 2>/dev/null
	fi
	if ! sanitizer_check "$LOG" "$T"/satfs*.log; then
		status=1
	fi
	if [ $status -ne 0 ] && [ $status -ne 77 ]; then
		echo "--- last lines of $LOG:" >&2
		tail -n 40 "$LOG" >&2 2>/dev/null
		echo "(kept $T)" >&2
	else
		rm -rf "$T"
	fi
	exit $status
}
trap _cleanup EXIT
trap 'exit 1' INT TERM

# A hung mount must never hang CI: the watchdog ends the test first.
watchdog() {
	local limit=$1 self=$$
	# the sleep must not hold ctest's output pipe open after the test
	( sleep "$limit" </dev/null >/dev/null 2>&1
	  echo "FAIL $TEST_NAME: timed out after ${limit}s" >&2
	  fusermount3 -uz "$MNT" 2>/dev/null; kill -TERM $self ) &
	WATCHDOG_PID=$!
}
watchdog "${TEST_TIMEOUT:-240}"

# need_program NAME PACKAGE: fails unless NAME is on PATH.
need_program() {
	command -v "$1" >/dev/null ||
		fail "no $1 (package $2, which scripts/deps test installs)"
}

need_fuse() {
	[ -e /dev/fuse ] || skip "no /dev/fuse"
	need_program fusermount3 fuse3
	[ -x "$SATFS" ] || fail "no satfs binary at $SATFS"
}

# start_server [fixture_server options...]: serves a catalog on 127.0.0.1,
# sets BASE (http://127.0.0.1:PORT) and SERVER_LOG.
start_server() {
	_server_n=$((_server_n + 1))
	local portfile=$T/port.$_server_n
	SERVER_LOG=$T/requests.$_server_n.log
	python3 "$SRC/tests/server/fixture_server.py" --port 0 \
		--port-file "$portfile" --log "$SERVER_LOG" "$@" \
		>"$T/server.$_server_n.out" 2>&1 &
	SERVER_PID="$SERVER_PID $!"
	for _ in $(seq 100); do
		[ -s "$portfile" ] && break
		sleep 0.1
	done
	[ -s "$portfile" ] || { cat "$T/server.$_server_n.out" >&2; fail "fixture server did not start"; }
	BASE=http://127.0.0.1:$(cat "$portfile")
}

# The sample catalog, made once per build by the ctest fixture.
samples_dir() {
	local d=$BUILD/samples
	[ -d "$d/items" ] || fail "no sample catalog in $d (run the samples fixture)"
	echo "$d"
}

# Number of requests in the server log whose path matches a regex.
count_requests() {
	local re=${1:-.}
	[ -f "$SERVER_LOG" ] || { echo 0; return; }
	python3 - "$SERVER_LOG" "$re" <<'PY'
import json, re, sys
n = 0
for line in open(sys.argv[1]):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if re.search(sys.argv[2], r.get("path", "")):
        n += 1
print(n)
PY
}

# mount_satfs [satfs options...]: mounts on $MNT in the foreground (in the
# background of this shell), logging to $LOG, and waits until it is up.
mount_satfs() {
	need_fuse
	"$SATFS" -f "$@" "$MNT" >>"$LOG" 2>&1 &
	SATFS_PID=$!
	for _ in $(seq 100); do
		mountpoint -q "$MNT" && return 0
		kill -0 "$SATFS_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$LOG" >&2
	fail "satfs did not mount"
}

# unmount_satfs: unmounts and checks that the daemon exits with status 0.
unmount_satfs() {
	local st=0
	fusermount3 -u "$MNT" || fail "fusermount3 -u failed"
	wait "$SATFS_PID" || st=$?
	SATFS_PID=
	[ $st -eq 0 ] || fail "satfs exited with status $st after unmount"
	sanitizer_check "$LOG" || fail "sanitizer report"
}

# mount_at DIR NAME [satfs options...]: one more mount (tests of several
# mounts at once) on DIR, logging to $T/satfs-NAME.log (checked for
# sanitizer reports like $LOG), unmounted by the EXIT trap whatever
# happens. Waits until it is up.
mount_at() {
	local dir=$1 name=$2 pid
	shift 2
	need_fuse
	mkdir -p "$dir"
	"$SATFS" -f "$@" "$dir" >>"$T/satfs-$name.log" 2>&1 &
	pid=$!
	_more_mnts+=("$dir")
	_more_pids+=("$pid")
	for _ in $(seq 100); do
		mountpoint -q "$dir" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$T/satfs-$name.log" >&2
	fail "satfs did not mount on $dir"
}

# unmount_at DIR: unmounts a mount_at mount; its daemon must exit 0
# (within 60 s) without a sanitizer report.
unmount_at() {
	local i st=0
	for i in "${!_more_mnts[@]}"; do
		[ "${_more_mnts[$i]}" = "$1" ] || continue
		fusermount3 -u "$1" || fail "fusermount3 -u $1 failed"
		for _ in $(seq 1200); do
			kill -0 "${_more_pids[$i]}" 2>/dev/null || break
			sleep 0.05
		done
		kill -0 "${_more_pids[$i]}" 2>/dev/null &&
			fail "satfs on $1 did not exit after unmount"
		wait "${_more_pids[$i]}" || st=$?
		_more_mnts[$i]=
		[ $st -eq 0 ] || fail "satfs on $1 exited with status $st"
		sanitizer_check "$T"/satfs*.log || fail "sanitizer report"
		return 0
	done
	fail "unmount_at $1: not mounted by mount_at"
}

_unmount_more() {
	local i
	for i in "${!_more_mnts[@]}"; do
		[ -n "${_more_mnts[$i]}" ] || continue
		mountpoint -q "${_more_mnts[$i]}" 2>/dev/null &&
			{ fusermount3 -u "${_more_mnts[$i]}" 2>/dev/null ||
				fusermount3 -uz "${_more_mnts[$i]}"; }
		for _ in $(seq 50); do
			kill -0 "${_more_pids[$i]}" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "${_more_pids[$i]}" 2>/dev/null
	done
	return 0
}

# start_rgw: a throwaway S3 server for this test (Ceph's RADOS Gateway on
# 127.0.0.1, tests/s3/rgw.sh), stopped by the EXIT trap; one per test
# script, each case under its own prefix. Sets RGW_ENDPOINT, RGW_BUCKET,
# RGW_REGION and RGW_PID, and exports AWS_ACCESS_KEY_ID and
# AWS_SECRET_ACCESS_KEY for the mounts.
start_rgw() {
	need_program ceph-mon ceph-mon
	need_program ceph-osd ceph-osd
	need_program radosgw radosgw
	need_program radosgw-admin radosgw
	RGW_DIR=$T/rgw
	RGW_OWNER_PID=$$ bash "$SRC/tests/s3/rgw.sh" start "$RGW_DIR" \
		>"$T/rgw.out" 2>&1 || { cat "$T/rgw.out" >&2;
		fail "the RADOS Gateway did not start"; }
	set -a
	. "$RGW_DIR/env"
	set +a
	RGW_PID=$(cat "$RGW_DIR/pids/rgw")
}

# s3_put NAME FILE [HEADER...]: stores FILE as object NAME of the bucket
# (signed with the test's keys, which go to curl on stdin); prints the
# HTTP status.
s3_put() {
	local name=$1 file=$2 h=() x
	shift 2
	for x in "$@"; do h+=(-H "$x"); done
	printf 'user = "%s:%s"\n' "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" |
		curl -sS -K - --max-time 20 -o /dev/null -w '%{http_code}' \
			--aws-sigv4 "aws:amz:$RGW_REGION:s3" \
			-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "${h[@]}" \
			-X PUT --data-binary @"$file" \
			"$RGW_ENDPOINT/$RGW_BUCKET/$name"
}

# write_region_config FILE NAME "W, S, E, N": a configuration pointing at
# $BASE's catalog with one region over the sample scenes' dates.
write_region_config() {
	cat >"$1" <<EOC
[source]
stac = $BASE
collection = sentinel-2-l2a
max_cloud = 85
dates = 2024-01-01 .. 2024-07-31

[region $2]
bbox = $3
EOC
}

# write_config FILE: the same, with the tutorial's region david.
write_config() {
	write_region_config "$1" david "-82.48, 8.3508, -82.39, 8.4408"
}

# private_catalog DIR: a copy of the sample catalog whose COGs a test may
# replace (items copied, COGs hard-linked: replace a file, never write
# through it).
private_catalog() {
	local s
	s=$(samples_dir)
	mkdir -p "$1"
	cp -r "$s/items" "$1/items"
	cp -al "$s/cogs" "$1/cogs" 2>/dev/null || cp -r "$s/cogs" "$1/cogs"
}

# Lines in the server's request log so far (count before, compare after).
log_lines() {
	[ -f "$SERVER_LOG" ] && wc -l <"$SERVER_LOG" || echo 0
}

# Requests logged after line $1 whose path matches regex $2 (default any).
requests_since() {
	local from=$1 re=${2:-.}
	tail -n +"$((from + 1))" "$SERVER_LOG" | python3 -c '
import json, re, sys
print(sum(1 for l in sys.stdin if l.strip() and re.search(sys.argv[1], json.loads(l).get("path", ""))))' "$re"
}

# control '{"key": value}': changes the fixture server's faults.
control() {
	python3 - "$BASE/_control" "$1" <<'PY'
import sys, urllib.request
req = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(),
                             headers={"Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=10).read()
PY
}

# The dates (one per line) a region should show: items of the catalog dir $1
# within the bbox W,S,E,N ($2) and dates FROM..TO ($3), cloud cover below $4.
expected_dates() {
	python3 - "$@" <<'PY'
import datetime, glob, json, sys
cat, bbox, dates, maxc = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
w, s, e, n = map(float, bbox.split(","))
d0, d1 = dates.split("..")
out = set()
for f in glob.glob(cat + "/items/*.json"):
    it = json.load(open(f))
    p = it["properties"]
    dt = datetime.datetime.fromisoformat(p["datetime"].replace("Z", "+00:00"))
    day = dt.date().isoformat()
    b = it["bbox"]
    if not (d0 <= day <= d1) or p.get("eo:cloud_cover", 0) >= maxc:
        continue
    if b[2] < w or b[0] > e or b[3] < s or b[1] > n:
        continue
    out.add(day)
print("\n".join(sorted(out)))
PY
}
