#!/usr/bin/env bash
# The cause reaches the user where they look (issue 13, item 3):
#   a region whose search fails: EIO, and user.satfs.error on the region
#   names the HTTP status; once the catalog answers, the error is gone
#   a malformed ad-hoc name: ENOENT and one log line naming the problem
#   a region with no scene: the "0 scenes" line gives the dates, bbox and
#   cloud limit searched
#   satfs prefetch prints each failed file's cause (its user.satfs.error)
#   access(X_OK) is refused on files, granted on directories
. "$(dirname "$0")/lib.sh"
need_fuse
need_program getfattr attr
S=$(samples_dir)
start_server --catalog "$S"
write_config "$T/satfs.conf"
cat >>"$T/satfs.conf" <<EOC

[region empty]
bbox = 10.0, 10.0, 10.01, 10.01
EOC
mount_satfs -o config="$T/satfs.conf",cache="$CACHE",prefetch=0,timeout=2

# --- a failing search: EIO, and the cause on the region ---
control '{"fail_paths": ["/search"], "fail_status": 500}'
ls "$MNT/david" >"$T/ls.out" 2>&1 && fail "a failing search listed"
grep -q "Input/output error" "$T/ls.out" || fail "not EIO: $(cat "$T/ls.out")"
err=$(getfattr -n user.satfs.error --only-values "$MNT/david" 2>&1) ||
	fail "no user.satfs.error on the region: $err"
echo "$err" | grep -q "HTTP 500" || fail "user.satfs.error does not name the status: $err"
echo "$err" | grep -q "http://127.0.0.1" || fail "user.satfs.error does not name the URL: $err"
control '{"fail_paths": []}'
ls "$MNT/david" >/dev/null || fail "the region does not list once the catalog answers"
d=$(ls "$MNT/david" | head -1)
getfattr -n user.satfs.error --only-values "$MNT/david/$d" >/dev/null 2>&1 &&
	fail "a date keeps an error after a listing that worked"

# --- a malformed ad-hoc name: one log line with the problem ---
ls "$MNT/@8.39,abc,5km" >/dev/null 2>&1 && fail "a malformed name listed"
ls "$MNT/@8.39,abc,5km" >/dev/null 2>&1 || true
[ "$(grep -c "no region @8.39,abc,5km: 'abc' is not a number" "$LOG")" -eq 1 ] ||
	fail "want one log line for the malformed name: $(grep 'no region' "$LOG")"

# --- 0 scenes: what was searched ---
ls "$MNT/empty" >/dev/null || fail "the empty region did not list"
grep -q "empty: 0 scenes from 2024-01-01 to 2024-07-31 in bbox 10,10,10.01,10.01 with cloud cover below 85 %" "$LOG" ||
	fail "the 0-scenes line: $(grep '0 scenes' "$LOG")"

# --- access(X_OK) ---
f=$(find "$MNT/david" -name '*.json' | head -1)
python3 - "$f" "$MNT/david/$d" <<'PY' || fail "access(X_OK)"
import os, sys
f, d = sys.argv[1], sys.argv[2]
assert os.access(f, os.R_OK), "file not readable"
assert not os.access(f, os.X_OK), "file executable"
assert os.access(d, os.X_OK), "directory not searchable"
PY

# --- satfs prefetch prints each failure's cause ---
control '{"fail_paths": ["/cogs/"], "fail_status": 404}'
"$SATFS" prefetch -q "$MNT/david/$d" >"$T/pf.out" 2>"$T/pf.err" && fail "prefetch succeeded"
nf=$(grep -Ec "satfs prefetch: .*\.(tif|png|gif|html): Input/output error: .*404" "$T/pf.err" || true)
[ "$nf" -ge 1 ] || fail "prefetch failures without their cause: $(head -3 "$T/pf.err")"
[ "$nf" -eq "$(grep -c 'satfs prefetch:' "$T/pf.err")" ] || fail "some failures lack a cause: $(cat "$T/pf.err")"
control '{"fail_paths": []}'
unmount_satfs
note "region error, malformed name, 0 scenes, access, prefetch causes: $nf failures with their cause"
