#!/usr/bin/env bash
# Prefetch: with the default prefetch (12: more than the region's five
# scenes), reading the first file of a region renders the same product of
# the next scenes without being asked: they show up in the cache
# directory, the server log shows their COG requests (and none for a band
# of another product), and reading the next file then costs no request at
# all. With prefetch=0 nothing else is rendered.
. "$(dirname "$0")/lib.sh"
need_fuse
S=$(samples_dir)
start_server --catalog "$S"
write_region_config "$T/satfs.conf" small "-82.45, 8.37, -82.42, 8.40"

# the falsecolor files of the scenes (not the mosaics), date/name
list_files() {
	(cd "$MNT/small" && printf "%s\n" */S2*.falsecolor.tif)
}
# scene ids in listing order, from the items' datetime (independently)
ordered_ids() {
	python3 - "$S" <<'PY'
import glob, json, sys
items = [json.load(open(f)) for f in glob.glob(sys.argv[1] + "/items/*.json")]
for it in sorted(items, key=lambda i: (i["properties"]["datetime"], i["id"])):
    print(it["id"])
PY
}
n_cached() { find "$CACHE/files" -name '*.tif' ! -name '*.tmp-*' | wc -l; }

# 1. the default prefetch (no option given)
mount_satfs -o config="$T/satfs.conf",cache="$CACHE"
mapfile -t files < <(list_files)
[ ${#files[@]} -ge 5 ] || fail "need 5 scenes, have ${#files[@]}"
mapfile -t listed < <(ordered_ids | while read -r id; do
	printf '%s\n' "${files[@]}" | grep "/$id\.falsecolor" || true; done)
[ ${#listed[@]} -eq ${#files[@]} ] || fail "listed ${#files[@]} files, expected ${#listed[@]}"
first=${listed[0]}
next=("${listed[@]:1:4}")
from=$(log_lines)
cat "$MNT/small/$first" >"$T/first.tif" || fail "cat $first"
# poll (bounded) until the next four are in the cache
for _ in $(seq 300); do
	[ "$(n_cached)" -ge 5 ] && break
	sleep 0.1
done
note "default prefetch: $(n_cached) files in the cache after reading $first"
[ "$(n_cached)" -eq 5 ] || fail "$(n_cached) files in the cache, expected 5 (1 read + 4 prefetched)"
for f in "${next[@]}"; do
	id=$(basename "$f" .falsecolor.tif)
	for b in B08 B04 B03; do
		[ "$(requests_since "$from" "^/cogs/$id/$b\.tif$")" -ge 2 ] ||
			fail "no header and tile requests for $id/$b (prefetch)"
	done
done
[ "$(requests_since "$from" "/B02\.tif$")" -eq 0 ] ||
	fail "prefetch fetched B02: another product was rendered"
# the next file costs nothing now
from=$(log_lines)
cat "$MNT/small/${next[0]}" >"$T/next.tif" || fail "cat ${next[0]}"
[ "$(stat -c %s "$T/next.tif")" = "$(stat -c %s "$MNT/small/${next[0]}")" ] ||
	fail "${next[0]}: size differs from stat"
n=$(requests_since "$from")
note "reading the prefetched ${next[0]}: $n requests"
[ "$n" -eq 0 ] || fail "reading a prefetched file cost $n requests"
unmount_satfs

# 2. prefetch=0: the read renders that one file and nothing else
rm -rf "$CACHE"
mount_satfs -o config="$T/satfs.conf",cache="$CACHE",prefetch=0
ls -lR "$MNT/small" >/dev/null
from=$(log_lines)
cmp -s "$MNT/small/$first" "$T/first.tif" || fail "$first differs with prefetch=0"
sleep 1 # prefetches would have started with the open: give them time to show
for f in "${next[@]}"; do
	id=$(basename "$f" .falsecolor.tif)
	# the bands: SCL is read by the listing (region cloud cover)
	[ "$(requests_since "$from" "^/cogs/$id/B[0-9]+\.tif")" -eq 0 ] ||
		fail "prefetch=0 fetched $id"
done
[ "$(n_cached)" -eq 1 ] || fail "prefetch=0: $(n_cached) files in the cache, expected 1"
unmount_satfs
echo "ok $TEST_NAME"
