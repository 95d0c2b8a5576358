#!/usr/bin/env bash
# No FUSE thread waits on the network: 64 cats of different uncached files
# at once (4 regions x 5 scenes x 4 products over the sample scenes, every
# answer of the server 50 ms late) all complete with the sizes stat gave,
# while a loop keeps running ls (opendir + readdir) and stat (lookups of
# names the kernel has not cached, and of listed files) on other paths and
# times each call. The slowest of those calls must be small next to the
# storm itself (under a fifth of it), and under 2 s (a hang guard only).
. "$(dirname "$0")/lib.sh"
need_fuse
S=$(samples_dir)
start_server --catalog "$S" --latency-ms 50
{
	cat <<EOC
[source]
stac = $BASE
collection = sentinel-2-l2a
max_cloud = 85
dates = 2024-01-01 .. 2024-07-31

[region r1]
bbox = -82.46, 8.36, -82.45, 8.37
[region r2]
bbox = -82.44, 8.38, -82.43, 8.39
[region r3]
bbox = -82.42, 8.40, -82.41, 8.41
[region r4]
bbox = -82.47, 8.42, -82.46, 8.43
[region other]
bbox = -82.48, 8.3508, -82.39, 8.4408

[product red]
bands = B4
min = 0
max = 3000

[product coarse]
bands = B8, B4, B3
min = 0
max = 5000
scale = 20
EOC
} >"$T/satfs.conf"
mount_satfs -o config="$T/satfs.conf",cache="$CACHE",prefetch=0

# the listings first (they are not what this test is about), and the sizes
files=()
for r in r1 r2 r3 r4; do
	while read -r size path; do
		files+=("$path")
		echo "$size" >"$T/size.$(echo "$path" | tr / _)"
	done < <(find "$MNT/$r" -name '*.tif' -printf '%s %p\n' | sort -k2)
done
note "${#files[@]} files listed"
[ ${#files[@]} -ge 64 ] || fail "need 64 files, have ${#files[@]}"
files=("${files[@]:0:64}")
# the paths the probe loop visits: another region, listed, never read
ls -l "$MNT/other" >/dev/null
mapfile -t odates < <(ls "$MNT/other" | grep "^[0-9]") # its dates
ojson=("$MNT/other/${odates[0]}"/*.json)
[ -f "${ojson[0]}" ] || fail "no json in the other region"
[ "$(ls "$CACHE/files" | wc -l)" -eq 0 ] || fail "files rendered before the storm"

# the probe loop: one latency (ms) per call, until the storm is over
probe() {
	local i=0 t0 t1 d
	while [ ! -e "$T/storm.done" ]; do
		for d in "${odates[@]}"; do
			t0=$EPOCHREALTIME
			ls "$MNT/other/$d" >/dev/null || echo "ls $d failed" >>"$T/probe.err"
			t1=$EPOCHREALTIME
			echo "ls $(( (${t1/./} - ${t0/./}) / 1000 )) $i $d" >>"$T/lat"
			i=$((i + 1))
			t0=$EPOCHREALTIME
			# a name never seen: the lookup always reaches satfs
			stat "$MNT/other/$d/nosuch-$i.tif" >/dev/null 2>&1 &&
				echo "nosuch-$i exists" >>"$T/probe.err"
			t1=$EPOCHREALTIME
			echo "stat-miss $(( (${t1/./} - ${t0/./}) / 1000 )) $i" >>"$T/lat"
			t0=$EPOCHREALTIME
			stat -c %s "${ojson[0]}" >/dev/null || echo "stat json failed" >>"$T/probe.err"
			t1=$EPOCHREALTIME
			echo "stat $(( (${t1/./} - ${t0/./}) / 1000 )) $i" >>"$T/lat"
		done
	done
}

t0=$EPOCHREALTIME
probe &
probe_pid=$!
pids=()
for i in "${!files[@]}"; do
	cat "${files[$i]}" >"$T/out.$i" &
	pids+=($!)
done
failed=0
for p in "${pids[@]}"; do
	wait "$p" || failed=$((failed + 1))
done
t1=$EPOCHREALTIME
touch "$T/storm.done"
wait $probe_pid
storm_ms=$(( (${t1/./} - ${t0/./}) / 1000 ))
[ $failed -eq 0 ] || fail "$failed of the 64 cats failed"
[ ! -s "$T/probe.err" ] || fail "probe: $(head -3 "$T/probe.err")"
for i in "${!files[@]}"; do
	want=$(cat "$T/size.$(echo "${files[$i]}" | tr / _)")
	got=$(stat -c %s "$T/out.$i")
	[ "$got" = "$want" ] || fail "${files[$i]}: read $got bytes, stat said $want"
done
[ "$(ls "$CACHE/files" | wc -l)" -eq 64 ] || fail "$(ls "$CACHE/files" | wc -l) files rendered, expected 64"

read -r calls max_ms max_kind p50 < <(sort -k2 -n "$T/lat" | awk '
	{ k[NR] = $1; v[NR] = $2 }
	END { print NR, v[NR], k[NR], v[int((NR + 1) / 2)] }')
note "storm: 64 cats in $storm_ms ms; $calls ls/stat calls meanwhile," \
	"median $p50 ms, slowest $max_ms ms ($max_kind)"
slowest() { sort -k2 -n -r "$T/lat" | head -5 >&2; } # kind ms probe [dir]
[ "$calls" -ge 6 ] || fail "only $calls ls/stat calls during the storm"
[ $((max_ms * 5)) -lt "$storm_ms" ] || { slowest;
	fail "slowest ls/stat took $max_ms ms, more than a fifth of the storm ($storm_ms ms)"; }
[ "$max_ms" -lt 2000 ] || { slowest; fail "slowest ls/stat took $max_ms ms"; }
unmount_satfs
echo "ok $TEST_NAME"
