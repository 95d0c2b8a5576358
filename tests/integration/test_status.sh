#!/usr/bin/env bash
# MOUNT/.satfs/ (status, status.json, cache), satfs status, and the
# user.satfs.* extended attributes: every field against what really
# happened (the fixture server's request log, the files read), a render
# in flight seen while it runs, a failure seen with its cause, and one log
# line per failure.
. "$(dirname "$0")/lib.sh"
need_fuse
need_program getfattr attr
start_server --catalog "$(samples_dir)"
write_config "$T/satfs.conf"
mount_satfs -o config="$T/satfs.conf",cache="$CACHE",prefetch=0

D=2024-01-03
ID=S2B_17PMK_20240103_0_L2A
REL=david/$D/$ID.falsecolor.tif
F=$MNT/$REL
json() { # json FILE PYTHON-EXPRESSION-ON-d
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
xattr() { getfattr --only-values -n "$2" "$1" 2>/dev/null; }

# .satfs: shown by ls -a only, never a region, no network.
ls "$MNT" | grep satfs >/dev/null && fail "ls shows .satfs"
ls -a "$MNT" | grep -x .satfs >/dev/null || fail "ls -a does not show .satfs"
[ "$(ls "$MNT/.satfs" | tr '\n' ' ')" = "cache status status.json " ] ||
	fail ".satfs lists '$(ls "$MNT/.satfs")'"
n0=$(log_lines)
cat "$MNT/.satfs/status" "$MNT/.satfs/cache" >/dev/null
[ -e "$MNT/.satfs/nothing" ] && fail ".satfs/nothing exists"
[ "$(requests_since "$n0")" -eq 0 ] || fail ".satfs cost network requests"
grep -q "^satfs [0-9.]* on $MNT, up .*catalog $BASE" "$MNT/.satfs/status" ||
	fail "status header: $(head -1 "$MNT/.satfs/status")"
cp "$MNT/.satfs/status" "$T/status.copy"
[ -s "$T/status.copy" ] || fail "cp of .satfs/status is empty"

# Attributes before anything is rendered.
ls "$MNT/david/$D" >/dev/null
[ "$(xattr "$F" user.satfs.state)" = remote ] || fail "state before: $(xattr "$F" user.satfs.state)"
[ "$(xattr "$MNT/david" user.satfs.state)" = listed ] || fail "region state"
[ "$(xattr "$MNT/david/$D/$ID.json" user.satfs.state)" = cached ] || fail "json state"
want_src="$BASE/cogs/$ID/B08.tif $BASE/cogs/$ID/B04.tif $BASE/cogs/$ID/B03.tif"
[ "$(xattr "$F" user.satfs.source)" = "$want_src" ] ||
	fail "source: '$(xattr "$F" user.satfs.source)', want '$want_src'"
xattr "$F" user.satfs.error && fail "an error before any render"
for a in user.other security.selinux system.posix_acl_access; do
	{ getfattr -n $a "$F" 2>&1 || true; } | grep "No such attribute" >/dev/null ||
		fail "$a: not ENODATA"
done
# state, source and cloud (the scene has an SCL asset; reading it counts)
[ "$(getfattr --absolute-names -d -m - "$F" | grep -c '^user\.satfs\.')" -eq 3 ] ||
	fail "listxattr: $(getfattr --absolute-names -d -m - "$F")"
xattr "$F" user.satfs.cloud | grep -qE '^[0-9]+\.[0-9]$' ||
	fail "user.satfs.cloud: '$(xattr "$F" user.satfs.cloud)'"

# A render in flight: slow COGs, then status while it runs.
control '{"bandwidth": 800000}'
n0=$(log_lines)
cat "$F" >"$T/out.tif" &
catpid=$!
for _ in $(seq 100); do
	# a job with requests under way (it shows as rendering before its
	# first request goes out)
	grep -qE "^  rendering .*% .* of .*, [1-9][0-9]* requests.*: $REL\$" \
		"$MNT/.satfs/status" && break
	sleep 0.1
done
cp "$MNT/.satfs/status" "$T/st.txt"
cp "$MNT/.satfs/status.json" "$T/st.json"
state=$(xattr "$F" user.satfs.state)
"$SATFS" status --once "$MNT" >"$T/st.once"
wait $catpid || fail "cat of $REL failed"
line=$(grep "^  rendering" "$T/st.txt") || { cat "$T/st.txt" >&2; fail "no job line"; }
echo "$line" | grep -E "^  rendering +[0-9]+% [0-9.]+ [KM]?i?B of [0-9.]+ [KM]?i?B, [1-9][0-9]* requests, 0 retries, [0-9]+\.[0-9] s: $REL\$" >/dev/null ||
	fail "job line: '$line'"
grep -q "^jobs: 1 running, 0 queued; 0 rendered, 0 failed" "$T/st.txt" ||
	fail "jobs line: $(grep ^jobs "$T/st.txt")"
[ "$state" = rendering ] || fail "state while rendering: $state"
[ "$(json "$T/st.json" 'd["jobs"][0]["path"]')" = "$REL" ] || fail "json job path"
[ "$(json "$T/st.json" 'd["jobs"][0]["state"]')" = rendering ] || fail "json job state"
[ "$(json "$T/st.json" 'd["jobs"][0]["requests"] > 0 and d["jobs"][0]["bytes_total"] > 0 and 0 <= d["jobs"][0]["bytes_done"] <= d["jobs"][0]["bytes_total"]')" = True ] ||
	fail "json job counters: $(json "$T/st.json" 'd["jobs"]')"
[ "$(json "$T/st.json" 'd["jobs"][0]["file_bytes"]')" = "$(stat -c %s "$F")" ] ||
	fail "json job file_bytes"
grep -qE "^  rendering \[[#-]+\] +[0-9]+% .*$REL\$" "$T/st.once" ||
	{ cat "$T/st.once" >&2; fail "satfs status --once has no progress bar"; }
# the requests the job counted are those the server saw (for this file)
sent=$(requests_since "$n0" "/cogs/$ID/")
control '{"bandwidth": 0}'

# After: cached; cache, hits and misses, network numbers.
[ "$(xattr "$F" user.satfs.state)" = cached ] || fail "state after: $(xattr "$F" user.satfs.state)"
cat "$F" >/dev/null  # a hit
"$SATFS" status --json "$MNT" >"$T/after.json" || fail "satfs status --json"
[ "$(json "$T/after.json" 'len(d["jobs"])')" = 0 ] || fail "jobs left"
[ "$(json "$T/after.json" 'd["renders"]["rendered"]')" = 1 ] || fail "rendered count"
[ "$(json "$T/after.json" 'd["cache"]["files"]')" = 1 ] || fail "cache files"
[ "$(json "$T/after.json" 'd["cache"]["bytes"]')" = "$(stat -c %s "$F")" ] ||
	fail "cache bytes $(json "$T/after.json" 'd["cache"]["bytes"]')"
# the second cat may be served by the kernel's page cache (keep_cache):
# one miss, and hits only from opens that reached us
[ "$(json "$T/after.json" 'd["cache"]["misses"]')" = 1 ] || fail "misses"
[ "$(json "$T/after.json" 'd["network"]["requests"]')" -eq "$(count_requests '/(cogs/|search|$)')" ] ||
	fail "network requests $(json "$T/after.json" 'd["network"]["requests"]') vs server $(count_requests '/(cogs/|search|$)')"
[ "$sent" -ge 1 ] || fail "no COG requests logged"
grep -q "^cache: 1 files, 4.0 MiB, 0 evicted; [0-9]* hits, 1 misses; $CACHE" "$MNT/.satfs/status" ||
	fail "cache line: $(grep ^cache "$MNT/.satfs/status")"
grep -A1 "^errors" "$MNT/.satfs/status" | grep "^  none" >/dev/null || fail "errors before any"
# .satfs/cache: one file, by path, not open
grep -qE "^ +4\.0 MiB  [0-9T:-]+Z  -     $REL\$" "$MNT/.satfs/cache" ||
	{ cat "$MNT/.satfs/cache" >&2; fail ".satfs/cache line"; }

# A failure: state, error with its cause, status's errors, one log line.
ID2=S2B_17PMK_20240222_0_L2A
F2=$MNT/david/2024-02-22/$ID2.falsecolor.tif
control '{"fail_paths": ["'$ID2'/B04.tif"], "fail_status": 404}'
ls "$MNT/david/2024-02-22" >/dev/null
cat "$F2" >/dev/null 2>&1 && fail "cat of a file whose COG is missing worked"
control '{"fail_paths": []}'
[ "$(xattr "$F2" user.satfs.state)" = failed ] || fail "state after failure: $(xattr "$F2" user.satfs.state)"
err=$(xattr "$F2" user.satfs.error) || fail "no user.satfs.error"
echo "$err" | grep "$ID2/B04.tif.*HTTP 404" >/dev/null || fail "error: '$err'"
getfattr --absolute-names -d "$F2" | grep '^user.satfs.error=' >/dev/null ||
	fail "listxattr does not list user.satfs.error"
grep -A3 "^errors (last 10 minutes):" "$MNT/.satfs/status" |
	grep "error: render of $ID2.falsecolor failed: .*B04.tif.*HTTP 404" >/dev/null ||
	{ cat "$MNT/.satfs/status" >&2; fail "status errors"; }
[ "$(json <("$SATFS" status --json "$MNT"; echo) 'd["errors"][-1]["level"]')" = error ] ||
	fail "json errors"
# one line for one failure, naming the file and the cause
n=$(grep -cE "satfs (error|warning): .*$ID2" "$LOG" || true)
[ "$n" -eq 1 ] || { grep "$ID2" "$LOG" >&2; fail "$n log lines for one failure"; }
# a later success forgets the failure
cat "$F2" >/dev/null || fail "cat after the fault was lifted"
[ "$(xattr "$F2" user.satfs.state)" = cached ] || fail "state after success"
xattr "$F2" user.satfs.error && fail "error kept after a success"

# satfs status on something that is not a mount
st=0; "$SATFS" status --once "$T" >/dev/null 2>"$T/err" || st=$?
[ $st -eq 1 ] || fail "status of a non-mount: exit $st"
st=0; "$SATFS" status 2>/dev/null || st=$?
[ $st -eq 2 ] || fail "status without a mount point: exit $st"
unmount_satfs
echo "ok $TEST_NAME"
