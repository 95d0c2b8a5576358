#!/usr/bin/env bash
# Directories far larger than one kernel readdir call list completely and
# identically, whichever way they are read.
#
# A generated catalog: 150 more scenes on one date (450 files in that date
# directory) and a region with one scene a day over a year (365 date
# directories). Each directory is listed with `ls -f`, `find`, and a
# Python program calling getdents64 with a 256-byte buffer (a few entries
# per system call, so the kernel comes back for every part of the
# listing); the three give the same names in the same order, without
# duplicates, equal to the set computed here from the catalog's items.
# Resuming a listing at an entry's d_off (lseek) gives exactly the
# entries after it.
. "$(dirname "$0")/lib.sh"
# (pictures=off: a region lists only its dates, a date its .tif and
# .json here; the pictures are test_pictures.sh's subject)
need_fuse
private_catalog "$T/cat"
N_DAY=150
python3 - "$T/cat/items" "$N_DAY" <<'PY'
import copy, json, os, sys
d, n = sys.argv[1], int(sys.argv[2])
src = json.load(open(os.path.join(d, "S2B_17PMK_20240222_0_L2A.json")))

def item(ident, when):
    it = copy.deepcopy(src)       # hrefs still name the source's COGs
    it["id"] = ident
    it["properties"]["datetime"] = when
    for link in it["links"]:
        link["href"] = link["href"].replace(src["id"], ident)
    with open(os.path.join(d, ident + ".json"), "w") as f:
        json.dump(it, f)

for i in range(n):                # many scenes on one date
    item("S2B_17PMK_20240305_%d_L2A" % i,
         "2024-03-05T15:%02d:%02d.%03dZ" % (i // 60, i % 60, i))
for day in range(365):            # one scene a day over 2023
    import datetime
    t = datetime.date(2023, 1, 1) + datetime.timedelta(days=day)
    item("S2A_17PMK_%s_0_L2A" % t.strftime("%Y%m%d"),
         "%sT15:52:14.000Z" % t.isoformat())
PY
start_server --catalog "$T/cat"
write_config "$T/satfs.conf"
cat >>"$T/satfs.conf" <<EOC

[region year]
bbox = -82.48, 8.3508, -82.39, 8.4408
dates = 2023-01-01 .. 2023-12-31
EOC
# the two built-in pictures, not the indices: 150 x 3 names and 2 mosaics
mount_satfs -o pictures=off,config="$T/satfs.conf",cache="$CACHE",prefetch=0,products=falsecolor:truecolor

# the names a directory must hold, from the items: expected DIR KIND ARG
expected() {
	python3 - "$T/cat/items" "$@" <<'PY'
import glob, json, sys
items, kind, arg = sys.argv[1:4]
out = set()
n_on_day = 0
for f in glob.glob(items + "/*.json"):
    it = json.load(open(f))
    p = it["properties"]
    day = p["datetime"][:10]
    b = it["bbox"]
    if p.get("eo:cloud_cover", 0) >= 85 or b[2] < -82.48 or \
            b[0] > -82.39 or b[3] < 8.3508 or b[1] > 8.4408:
        continue
    if kind == "date" and day == arg:
        out |= {it["id"] + s for s in (".json", ".falsecolor.tif",
                                       ".truecolor.tif")}
        n_on_day += 1
    elif kind == "dates" and day.startswith(arg):
        out.add(day)
if kind == "date" and n_on_day >= 2:  # a mosaic of the date's scenes
    out |= {"mosaic.falsecolor.tif", "mosaic.truecolor.tif"}
print("\n".join(sorted(out)))
PY
}

# getdents64 with a small buffer; prints one name per line, in order;
# then resumes at a few entries' d_off and checks what follows.
GETDENTS=$T/getdents.py
cat >"$GETDENTS" <<'PY'
import ctypes, os, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
SYS_getdents64 = {"x86_64": 217, "aarch64": 61}[os.uname().machine]
BUF = 256

def entries(fd):
    buf = ctypes.create_string_buffer(BUF)
    out = []
    while True:
        n = libc.syscall(SYS_getdents64, fd, buf, BUF)
        if n < 0:
            sys.exit("getdents64: %s" % os.strerror(ctypes.get_errno()))
        if n == 0:
            return out
        pos = 0
        while pos < n:
            ino, off, reclen, typ = struct.unpack_from("QqHB", buf.raw, pos)
            name = buf.raw[pos + 19:pos + reclen].split(b"\0", 1)[0]
            out.append((off, name.decode()))
            pos += reclen

fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
ents = entries(fd)
names = [n for _, n in ents if n not in (".", "..")]
print("\n".join(names))
for k in (0, 1, len(ents) // 3, len(ents) // 2, len(ents) - 2):
    os.lseek(fd, ents[k][0], os.SEEK_SET)
    rest = [n for _, n in entries(fd)]
    want = [n for _, n in ents[k + 1:]]
    if rest != want:
        sys.exit("resumed after entry %d (%s): %d entries, want %d" %
                 (k, ents[k][1], len(rest), len(want)))
os.close(fd)
PY

check_dir() { # DIR WANT_FILE
	local dir=$1 want=$2 n
	n=$(wc -l <"$want")
	for how in ls find getdents; do
		case $how in
		ls) ls -f -1 "$dir" | grep -vxE '\.|\.\.' >"$T/ls" ;;
		find) find "$dir" -mindepth 1 -maxdepth 1 -printf '%f\n' >"$T/find" ;;
		getdents) python3 "$GETDENTS" "$dir" >"$T/getdents" ;;
		esac || fail "$how $dir failed"
		[ "$(sort "$T/$how" | uniq -d | wc -l)" -eq 0 ] ||
			fail "$how $dir: duplicates: $(sort "$T/$how" | uniq -d | head -3)"
		sort "$T/$how" | cmp -s - "$want" ||
			fail "$how $dir: $(wc -l <"$T/$how") names, want $n; missing: $(sort "$T/$how" | comm -13 - "$want" | head -3 | tr '\n' ' ')"
	done
	cmp -s "$T/ls" "$T/find" || fail "ls and find list $dir in different orders"
	cmp -s "$T/ls" "$T/getdents" ||
		fail "ls and getdents64 list $dir in different orders"
	note "$dir: $n entries, the same through ls, find and getdents64"
}

expected date 2024-03-05 x >"$T/want.day"
[ "$(wc -l <"$T/want.day")" -eq $((3 * N_DAY + 2)) ] || fail "expected set of the date"
check_dir "$MNT/david/2024-03-05" "$T/want.day"
expected dates 2023 >"$T/want.year"
[ "$(wc -l <"$T/want.year")" -eq 365 ] || fail "expected set of the year"
check_dir "$MNT/year" "$T/want.year"
# a second reading of the same directory (the kernel may cache it now)
check_dir "$MNT/david/2024-03-05" "$T/want.day"
unmount_satfs
echo "ok $TEST_NAME"
