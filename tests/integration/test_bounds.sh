#!/usr/bin/env bash
# Bounds on what grows, and sizes nobody means (issue 12):
#  - a file larger than max_file_size cannot be opened: EFBIG, nothing
#    downloaded, the reason in user.satfs.error and the log;
#  - a bare size over 1 degree in an ad-hoc name is refused, with a log
#    line suggesting the unit;
#  - ad-hoc regions are capped (the least recently used go), remembered in
#    CACHE/regions (0600) across a remount, and rmdir forgets one;
#  - the daemon raises its soft descriptor limit to the hard one, and 2,000
#    opens of one file cost it one descriptor (started under a soft limit
#    of 1024: other files still read meanwhile).
. "$(dirname "$0")/lib.sh"
need_fuse
command -v getfattr >/dev/null || skip "no getfattr (package attr)"
start_server --catalog "$(samples_dir)"
write_config "$T/satfs.conf"
D=$MNT/david/2024-01-03
F=$D/S2B_17PMK_20240103_0_L2A.falsecolor.tif
G=$D/S2B_17PMK_20240103_0_L2A.truecolor.tif

# ---- max_file_size ----
mount_satfs -o config="$T/satfs.conf",cache="$CACHE",prefetch=0,max_file_size=1M
size=$(stat -c %s "$F")
[ "$size" -gt 1048576 ] || fail "sample file of $size bytes is not over 1M"
n0=$(log_lines)
err=$(cat "$F" 2>&1 >/dev/null) && fail "a $size-byte file opened under max_file_size=1M"
echo "$err" | grep -q "File too large" || fail "open: '$err', want EFBIG"
[ "$(requests_since "$n0" /cogs/)" -eq 0 ] || fail "an oversize file fetched pixels"
why=$(getfattr --only-values -n user.satfs.error "$F" 2>/dev/null) ||
	fail "no user.satfs.error on an oversize file"
echo "$why" | grep -q "larger than max_file_size (1.0 MiB)" || fail "user.satfs.error: '$why'"
grep -q "error: open david/2024-01-03/S2B_17PMK_20240103_0_L2A.falsecolor.tif: the file (.*) is larger than max_file_size" "$LOG" ||
	fail "EFBIG not logged with its reason"
unmount_satfs
# under the default (1G) the same file opens
mount_satfs -o config="$T/satfs.conf",cache="$CACHE",prefetch=0
cat "$F" >/dev/null || fail "the file does not open under the default max_file_size"
getfattr --only-values -n user.satfs.error "$F" >/dev/null 2>&1 &&
	fail "user.satfs.error on a file within max_file_size"

# ---- a bare size over 1 degree ----
[ -e "$MNT/@8.39,-82.43,5,2024-01-01..2024-07-31" ] && fail "a 5-degree region exists"
grep -q "warning: tree: no region @8.39,-82.43,5,2024-01-01..2024-07-31: .*5km" "$LOG" ||
	fail "the bare 5 was not logged with a suggestion of 5km"
[ -d "$MNT/@8.39,-82.43,5km,2024-01-01..2024-07-31" ] || fail "5km is no region"

# ---- the ad-hoc cap, CACHE/regions, rmdir ----
python3 - "$MNT" <<'PY' || fail "stat of 300 ad-hoc names"
import os, sys
for i in range(300):
    os.stat(os.path.join(sys.argv[1], "@8.39,-82.%03d,0.01" % i))
PY
nadhoc=$(ls "$MNT" | grep -c '^@' || true)
[ "$nadhoc" -eq 100 ] || fail "$nadhoc ad-hoc regions listed, want the cap of 100"
ls "$MNT" | grep -qxF "@8.39,-82.299,0.01" || fail "the last region used is not listed"
ls "$MNT" | grep -qxF "@8.39,-82.000,0.01" && fail "the least recently used region stayed"
[ "$(wc -l <"$CACHE/regions")" -eq 100 ] || fail "CACHE/regions has $(wc -l <"$CACHE/regions") lines"
[ "$(stat -c %a "$CACHE/regions")" = 600 ] || fail "CACHE/regions mode $(stat -c %a "$CACHE/regions")"
rmdir "$MNT/@8.39,-82.299,0.01" || fail "rmdir of an ad-hoc region"
ls "$MNT" | grep -qxF "@8.39,-82.299,0.01" && fail "rmdir'd region still listed"
grep -qxF "@8.39,-82.299,0.01" "$CACHE/regions" && fail "rmdir'd region still in CACHE/regions"
err=$(rmdir "$MNT/david" 2>&1) && fail "rmdir of a configured region"
echo "$err" | grep -qi "read-only" || fail "rmdir david: '$err', want EROFS"
unmount_satfs
mount_satfs -o config="$T/satfs.conf",cache="$CACHE",prefetch=0
nadhoc=$(ls "$MNT" | grep -c '^@' || true)
[ "$nadhoc" -eq 99 ] || fail "$nadhoc ad-hoc regions after a remount, want 99"
unmount_satfs

# ---- descriptors: the limit raised, one per open file ----
need_fuse
( ulimit -Sn 1024 && exec "$SATFS" -f -o config="$T/satfs.conf",cache="$CACHE",prefetch=0 "$MNT" ) >>"$LOG" 2>&1 &
SATFS_PID=$!
for _ in $(seq 100); do
	mountpoint -q "$MNT" && break
	sleep 0.1
done
mountpoint -q "$MNT" || fail "satfs did not mount under ulimit -Sn 1024"
read -r soft hard < <(awk '/^Max open files/ { print $4, $5 }' "/proc/$SATFS_PID/limits")
note "daemon's descriptor limits: soft $soft, hard $hard"
[ "$soft" = "$hard" ] || fail "soft limit $soft not raised to the hard $hard"
python3 - "$F" "$G" "$SATFS_PID" <<'PY' || fail "2000 opens of one file"
import os, resource, sys
f, g, pid = sys.argv[1], sys.argv[2], sys.argv[3]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
want = open(f, "rb").read()
before = len(os.listdir("/proc/%s/fd" % pid))
fds = [os.open(f, os.O_RDONLY) for _ in range(2000)]
for i in (0, 999, 1999):
    assert os.pread(fds[i], len(want) + 1, 0) == want, "content of open %d" % i
during = len(os.listdir("/proc/%s/fd" % pid))
# another file, while the 2000 are open
assert len(open(g, "rb").read()) == os.stat(g).st_size, "another file"
for fd in fds:
    os.close(fd)
print("# daemon descriptors: %d before, %d with 2000 opens of one file" % (before, during), file=sys.stderr)
assert during <= before + 4, "the daemon holds %d descriptors for 2000 opens" % (during - before)
PY
unmount_satfs
echo "ok $TEST_NAME"
