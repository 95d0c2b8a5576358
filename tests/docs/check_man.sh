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

# Extended attributes: every name the FUSE layer answers or acts on.
xattrs=$(grep -o '"user\.satfs\.[a-z_]\+"' "$SRC/fs/fuse_ll.c" | tr -d '"' | sort -u)
[ -n "$xattrs" ] || fail "no user.satfs.* names in fs/fuse_ll.c"
for x in $xattrs; do
	sed -n '/^\.Sh EXTENDED ATTRIBUTES/,/^\.Sh /p' "$MAN" |
		grep "^\.It Li $x$" >/dev/null || fail "attribute $x is missing from man/satfs.1"
done
# the status files
for f in status status.json cache; do
	grep -q "^\.It Pa mountpoint/\.satfs/$f$" "$MAN" ||
		fail ".satfs/$f is missing from man/satfs.1"
done
echo "ok: $(echo "$opts" | wc -l) options, $(echo "$cmds" | wc -l) commands, $(echo "$xattrs" | wc -l) attributes documented"
