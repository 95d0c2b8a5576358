#!/usr/bin/env bash
# The man pages lint clean; every mount option that satfs --help lists is
# documented in satfs(1) (as curl checks its options against its docs) and
# the other way round; so are the commands and their options, and every
# user.satfs.* extended attribute the FUSE layer knows.
set -euo pipefail
SRC=${SATFS_SOURCE_DIR:?}
SATFS=${SATFS_BIN:?}
MAN=$SRC/man/satfs.1
fail() { echo "FAIL: $*" >&2; exit 1; }

for page in "$SRC"/man/*.[15]; do
	out=$(groff -mandoc -ww -z "$page" 2>&1)
	[ -z "$out" ] || fail "$page: $out"
done
help=$("$SATFS" --help)

# Mount options: "satfs options" in --help, ".Ss Mount options" in the page.
opts=$(echo "$help" | sed -n '/^satfs options/,/^$/p' |
	sed -n 's/^    \([a-z_]*\).*/\1/p')
[ -n "$opts" ] || fail "no options found in --help"
documented=$(sed -n '/^\.Ss Mount options/,/^\.El/p' "$MAN" |
	sed -n 's/^\.It Cm \([a-z_]*\).*/\1/p')
for o in $opts; do
	echo "$documented" | grep -x "$o" >/dev/null || fail "option $o is missing from man/satfs.1"
done
for o in $documented; do
	echo "$opts" | grep -x "$o" >/dev/null ||
		fail "satfs(1) documents $o but --help does not list it"
done

# satfs.conf: every key of every section, as --help lists them (from the
# table of keys, fs/config_keys.c), is documented in its section of
# satfs.conf(5), and every key that page has an item for is in the table.
CONF=$SRC/man/satfs.conf.5
keys_of() { # keys_of SECTION: the key names --help lists for [SECTION]
	echo "$help" | sed -n '/^satfs.conf sections/,/^$/p' |
		awk -v s="[$1" 'index($1, s) == 1 { on = 1; sub(/^ *\[[^]]*\] */, ""); print; next }
			/^    \[/ { on = 0 } on { print }' | tr -s ' ' '\n' | sed '/^$/d'
}
section_of() { # section_of SECTION: that .Ss of satfs.conf(5)
	sed -n "/^\.Ss \[$1/,/^\.S[sh] /p" "$CONF"
}
nkeys=0
for sec in source mount shared region product; do
	keys=$(keys_of "$sec")
	[ -n "$keys" ] || fail "--help lists no keys for [$sec]"
	text=$(section_of "$sec")
	for k in $keys; do
		echo "$text" | grep -qE "(Cm|,) $k( |,|\.|$)" ||
			fail "satfs.conf(5) does not document $k in [$sec]"
		nkeys=$((nkeys + 1))
	done
	for k in $(echo "$text" | sed -n 's/^\.It Cm \([a-z_]*\).*/\1/p'); do
		echo "$keys" | grep -qx "$k" ||
			fail "satfs.conf(5) documents $k in [$sec], which --help does not list"
	done
done

# Commands: "Commands" in --help, ".Sh COMMANDS" in the page, with the
# same options.
cmds=$(echo "$help" | sed -n '/^Commands/,/^$/p' |
	sed -n 's/^    \([a-z]\+\) .*/\1/p')
[ -n "$cmds" ] || fail "no commands found in --help"
section=$(sed -n '/^\.Sh COMMANDS/,/^\.Sh /p' "$MAN")
for c in $cmds; do
	line=$(echo "$section" | grep "^\.It Cm $c\( \|$\)") ||
		fail "command $c is missing from COMMANDS in man/satfs.1"
	for f in $(echo "$help" | grep "^    $c " | grep -o -- '-[-a-z]*[a-z]'); do
		flag=${f#-}
		echo "$line" | grep "Fl $flag\b" >/dev/null ||
			fail "satfs(1): $c does not document $f"
	done
	echo "$section" | grep "^\.It Cm $c" >/dev/null || fail "$c"
	grep -q "^\.Cm $c$" "$MAN" || fail "command $c is missing from SYNOPSIS"
done
for c in $(echo "$section" | sed -n 's/^\.It Cm \([a-z]*\).*/\1/p'); do
	echo "$cmds" | grep -x "$c" >/dev/null ||
		fail "satfs(1) documents command $c but --help does not list it"
done

# The control protocol (include/satfs/control.h, where its names are
# defined once): every extended attribute and every status file.
PROTO=$SRC/include/satfs/control.h
xattrs=$(grep -o '"user\.satfs\.[a-z_]\+"' "$PROTO" | tr -d '"' | sort -u)
[ -n "$xattrs" ] || fail "no user.satfs.* names in $PROTO"
for x in $xattrs; do
	sed -n '/^\.Sh EXTENDED ATTRIBUTES/,/^\.Sh /p' "$MAN" |
		grep "^\.It Li $x$" >/dev/null || fail "attribute $x is missing from man/satfs.1"
done
dir=$(sed -n 's/^#define SAT_CTL_DIR "\(.*\)"$/\1/p' "$PROTO")
files=$(sed -n 's/^#define SAT_CTL_FILE_NAMES { \(.*\) }$/\1/p' "$PROTO" | tr -d '",')
[ -n "$dir" ] && [ -n "$files" ] || fail "no status files in $PROTO"
for f in $files; do
	grep -q "^\.It Pa mountpoint/$dir/$f$" "$MAN" ||
		fail "$dir/$f is missing from man/satfs.1"
done
echo "ok: $(echo "$opts" | wc -l) options, $nkeys satfs.conf keys, $(echo "$cmds" | wc -l) commands, $(echo "$xattrs" | wc -l) attributes documented"
