#!/usr/bin/env bash
# satfs prefetch | refresh | cache, and the attributes behind them
# (user.satfs.refresh, user.satfs.clear_cache): what each command did is
# checked on the fixture server's request log and on the cache directory;
# a clear never breaks a file someone has open; failures give a non-zero
# exit status.
. "$(dirname "$0")/lib.sh"
# (pictures=off: the counts below are of GeoTIFFs; test_pictures.sh
# prefetches the quicklooks, time-lapses and pages)
need_fuse
need_program setfattr attr
start_server --catalog "$(samples_dir)"
write_config "$T/satfs.conf"
mount_satfs -o pictures=off,config="$T/satfs.conf",cache="$CACHE",prefetch=0,products=falsecolor:truecolor
cached_files() { find "$CACHE/files" -name '*.tif' | wc -l; }

# prefetch: every .tif of the region (5 items x 2 products, and the
# mosaics of 2024-02-22, where two scenes meet), a summary,
# exit 0, and everything cached afterwards.
n_tif=$(find "$MNT/david" -name '*.tif' | wc -l)
[ "$n_tif" -eq 12 ] || fail "david has $n_tif .tif files, want 12"
bytes=$(find "$MNT/david" -name '*.tif' -printf '%s\n' | awk '{s+=$1} END {print s}')
"$SATFS" prefetch "$MNT/david" >"$T/pf.out" 2>"$T/pf.err" ||
	{ cat "$T/pf.out" "$T/pf.err" >&2; fail "prefetch exit status"; }
grep -qE "^prefetched 12 files, [0-9.]+ MiB in [0-9.]+ s; 0 failed$" "$T/pf.out" ||
	fail "prefetch summary: $(cat "$T/pf.out")"
[ "$(cached_files)" -eq 12 ] || fail "$(cached_files) files cached after prefetch"
got=$(find "$CACHE/files" -name '*.tif' -printf '%s\n' | awk '{s+=$1} END {print s}')
[ "$got" -eq "$bytes" ] || fail "cached $got bytes, the tree says $bytes"
for f in $(find "$MNT/david" -name '*.tif'); do
	[ "$(getfattr --absolute-names --only-values -n user.satfs.state "$f")" = cached ] ||
		fail "$f not cached after prefetch"
done
# again: nothing to fetch
n0=$(log_lines)
"$SATFS" prefetch -q -j 2 "$MNT/david/2024-01-03" "$MNT/david/2024-06-01" >"$T/pf2.out" ||
	fail "second prefetch"
grep -q "^prefetched 4 files" "$T/pf2.out" || fail "second prefetch: $(cat "$T/pf2.out")"
[ "$(requests_since "$n0")" -eq 0 ] || fail "a prefetch of cached files used the network"

# cache: the listing shows every file, by path.
"$SATFS" cache "$MNT" >"$T/cache.out" || fail "satfs cache"
head -1 "$T/cache.out" | grep "^cache $CACHE: 12 files, " >/dev/null || fail "cache header: $(head -1 "$T/cache.out")"
[ "$(grep -c ' david/.*\.tif$' "$T/cache.out")" -eq 12 ] || fail "cache listing: $(cat "$T/cache.out")"

# cache --clear, with one file held open: it stays, and stays readable.
KEEP=$MNT/david/2024-04-12/S2B_17PMK_20240412_0_L2A.falsecolor.tif
cp "$KEEP" "$T/keep.before"
exec 3<"$KEEP"
"$SATFS" cache --clear "$MNT" >"$T/clear.out" || fail "satfs cache --clear"
grep -q "^removed 11 files; 1 was open and stayed" "$T/clear.out" ||
	fail "clear summary: $(head -1 "$T/clear.out")"
[ "$(cached_files)" -eq 1 ] || fail "$(cached_files) files left after clear"
grep -qE "  open  david/2024-04-12/S2B_17PMK_20240412_0_L2A.falsecolor.tif$" "$T/clear.out" ||
	fail "the open file is not listed as open: $(cat "$T/clear.out")"
cmp <(cat <&3) "$T/keep.before" || fail "the open file changed under its reader"
exec 3<&-
[ -z "$(ls "$CACHE/headers")" ] || fail "COG headers left after clear"
# cleared files render again on the next open
F=$MNT/david/2024-01-03/S2B_17PMK_20240103_0_L2A.truecolor.tif
[ "$(getfattr --absolute-names --only-values -n user.satfs.state "$F")" = remote ] || fail "state after clear"
n0=$(log_lines)
cat "$F" >/dev/null || fail "open after clear"
# rendered again from the network (the clear dropped the decoded tiles
# and headers in memory too), so back in the cache directory
[ "$(requests_since "$n0" /cogs/)" -gt 0 ] || fail "no render after clear"
[ "$(cached_files)" -ge 2 ] || fail "the render after clear is not cached"
# the same through the attribute, only at the root
setfattr -n user.satfs.clear_cache -v 1 "$MNT/david" 2>/dev/null &&
	fail "clear_cache below the root was accepted"
setfattr -n user.satfs.clear_cache -v 1 "$MNT" || fail "setfattr clear_cache"
[ "$(cached_files)" -eq 0 ] || fail "$(cached_files) files left after setfattr clear"

# prefetch with failures: non-zero exit, the failures counted and named.
control '{"fail_paths": ["S2B_17PMK_20240412_0_L2A/"], "fail_status": 404}'
st=0
"$SATFS" prefetch "$MNT/david" >"$T/pf3.out" 2>"$T/pf3.err" || st=$?
control '{"fail_paths": []}'
[ $st -eq 1 ] || fail "prefetch with failures: exit $st"
grep -qE "^prefetched 10 files, .*; 2 failed$" "$T/pf3.out" || fail "summary: $(cat "$T/pf3.out")"
[ "$(grep -c "S2B_17PMK_20240412_0_L2A.*Input/output error" "$T/pf3.err")" -eq 2 ] ||
	fail "failures not named: $(cat "$T/pf3.err")"
st=0; "$SATFS" prefetch "$T/no-such-dir" >/dev/null 2>&1 || st=$?
[ $st -eq 1 ] || fail "prefetch of a missing path: exit $st"
st=0; "$SATFS" prefetch 2>/dev/null || st=$?
[ $st -eq 2 ] || fail "prefetch without paths: exit $st"

# refresh: the listing is searched again after it (and not before).
searches() { count_requests '/search$'; }
s0=$(searches)
ls "$MNT/david" >/dev/null
[ "$(searches)" -eq "$s0" ] || fail "a listing within its TTL searched again"
"$SATFS" refresh "$MNT/david" || fail "satfs refresh"
ls "$MNT/david" >/dev/null
[ "$(searches)" -eq $((s0 + 1)) ] || fail "refresh: $(( $(searches) - s0 )) searches, want 1"
setfattr -n user.satfs.refresh -v 1 "$MNT/david/2024-01-03" || fail "setfattr refresh"
ls "$MNT/david" >/dev/null
[ "$(searches)" -eq $((s0 + 2)) ] || fail "setfattr refresh did not search again"
"$SATFS" refresh "$MNT" || fail "refresh of the root"
ls "$MNT/david" >/dev/null
[ "$(searches)" -eq $((s0 + 3)) ] || fail "refresh of the root did not reach david"
grep -q "info: refresh: david" "$LOG" || fail "refresh not logged"
st=0; "$SATFS" refresh "$T" 2>"$T/err" || st=$?
[ $st -eq 1 ] || fail "refresh of a non-satfs path: exit $st"
grep -q "not in a satfs mount" "$T/err" || fail "refresh error: $(cat "$T/err")"
getfattr --absolute-names -n user.satfs.refresh "$T" 2>/dev/null &&
	fail "satfs refresh set an attribute on a file outside the mount"
setfattr -n user.satfs.refresh -v 1 "$MNT/.satfs/status" 2>/dev/null &&
	fail "refresh of a status file accepted"
# other attributes cannot be set: the file system is read-only
setfattr -n user.mine -v 1 "$MNT/david" 2>/dev/null && fail "user.mine was set"
{ touch "$F" 2>&1 || true; } | grep -i "read-only" >/dev/null || fail "touch of an existing file: not EROFS"
test -w "$F" && fail "test -w says writable"

unmount_satfs
echo "ok $TEST_NAME"
