#!/usr/bin/env bash
# The man pages lint clean, and every mount option that satfs --help lists
# is documented in satfs(1) (as curl checks its options against its docs).
set -euo pipefail
SRC=${SATFS_SOURCE_DIR:?}
SATFS=${SATFS_BIN:?}

for page in "$SRC"/man/*.[15]; do
	out=$(groff -mandoc -ww -z "$page" 2>&1)
	[ -z "$out" ] || { echo "FAIL: $page: $out" >&2; exit 1; }
done
opts=$("$SATFS" --help | sed -n '/^satfs options/,/^$/p' |
	sed -n 's/^    \([a-z_]*\).*/\1/p')
[ -n "$opts" ] || { echo "FAIL: no options found in --help" >&2; exit 1; }
for o in $opts; do
	grep -q "^\.It Cm $o\( \|$\)" "$SRC/man/satfs.1" ||
		{ echo "FAIL: option $o is missing from man/satfs.1" >&2; exit 1; }
done
# and the other way round: what the man page documents, --help lists
for o in $(sed -n 's/^\.It Cm \([a-z_]*\).*/\1/p' "$SRC/man/satfs.1"); do
	echo "$opts" | grep -qx "$o" ||
		{ echo "FAIL: satfs(1) documents $o but --help does not list it" >&2; exit 1; }
done
echo "ok: $(echo "$opts" | wc -l) options documented"
