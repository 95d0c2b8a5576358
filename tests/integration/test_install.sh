#!/usr/bin/env bash
# cmake --install: the binary, both man pages, the example configuration
# and the systemd unit land where they should; the example configuration
# mounts; and a mount the way /etc/fstab does it (mount(8) -> mount.fuse3
# -> "satfs SOURCE MOUNTPOINT -o OPTIONS", daemonised) works and unmounts
# with umount(8).
. "$(dirname "$0")/lib.sh"
need_fuse
command -v mount.fuse3 >/dev/null || [ -x /sbin/mount.fuse3 ] ||
	fail "no mount.fuse3 (package fuse3, which scripts/deps test installs)"
need_program cmake cmake

# Install into a prefix of our own.
P=$T/prefix
cmake --install "$BUILD" --prefix "$P" >"$T/install.out" 2>&1 ||
	{ cat "$T/install.out" >&2; fail "cmake --install failed"; }
for f in bin/satfs share/man/man1/satfs.1 share/man/man5/satfs.conf.5 \
	share/doc/satfs/examples/satfs.conf \
	share/doc/satfs/examples/satfs@.service; do
	[ -s "$P/$f" ] || fail "not installed: $f"
done
[ -x "$P/bin/satfs" ] || fail "installed satfs is not executable"
"$P/bin/satfs" --version | grep '^satfs ' >/dev/null || fail "installed satfs --version"

# The example configuration is valid: it mounts (catalog pointed at a
# closed port; listing the root needs no network).
"$P/bin/satfs" -f -o config="$P/share/doc/satfs/examples/satfs.conf" \
	-o cache="$CACHE",stac=http://127.0.0.1:9 "$MNT" >>"$LOG" 2>&1 &
SATFS_PID=$!
for _ in $(seq 100); do mountpoint -q "$MNT" && break; sleep 0.1; done
mountpoint -q "$MNT" || { cat "$LOG" >&2; fail "example configuration did not mount"; }
[ "$(ls "$MNT" | tr '\n' ' ')" = "david utrecht " ] ||
	fail "example configuration: root lists '$(ls "$MNT")'"
unmount_satfs

# From /etc/fstab (an alternative fstab file: mount -T), as root. mount(8)
# runs its helpers with a fixed PATH (/usr/local/sbin:/usr/local/bin:...),
# where cmake --install puts satfs by default; so that this test changes
# nothing outside $T, it runs in a private mount namespace where our
# prefix's bin is bound over /usr/local/sbin.
[ "$(id -u)" -eq 0 ] || skip "mounting from fstab needs root"
need_program unshare util-linux
start_server --catalog "$(samples_dir)"
write_config "$T/satfs.conf"
mkdir -p "$T/asan"
echo "satfs $MNT fuse.satfs config=$T/satfs.conf,cache=$CACHE,log=$T/satfs-fstab.log,allow_other 0 0" \
	>"$T/fstab"
expected_dates "$(samples_dir)" -82.48,8.3508,-82.39,8.4408 \
	2024-01-01..2024-07-31 85 >"$T/dates.want"
cat >"$T/inner.sh" <<INNER
set -eu
fail() { echo "FAIL $TEST_NAME (fstab): \$*" >&2; exit 1; }
trap 'mountpoint -q "$MNT" && umount -l "$MNT"' EXIT
mount --bind "$P/bin" /usr/local/sbin
# the daemon's stderr is gone once it daemonises: sanitizer reports to files
export ASAN_OPTIONS=\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}log_path=$T/asan/satfs
mount -T "$T/fstab" "$MNT" 2>"$T/mount.err" ||
	{ cat "$T/mount.err" >&2; fail "mount from fstab failed"; }
mountpoint -q "$MNT" || fail "not mounted after mount(8)"
findmnt -n -o FSTYPE,SOURCE "$MNT" | grep "fuse.satfs *satfs" >/dev/null ||
	fail "findmnt shows '\$(findmnt -n -o FSTYPE,SOURCE "$MNT")'"
findmnt -n -o OPTIONS "$MNT" | grep allow_other >/dev/null ||
	fail "allow_other not applied: \$(findmnt -n -o OPTIONS "$MNT")"
pid=\$(pgrep -f "^satfs satfs $MNT" | head -1)
[ -n "\$pid" ] || fail "no daemon process for $MNT"
ls "$MNT/david" | grep "^[0-9]" | diff - "$T/dates.want" ||
	fail "dates of the fstab mount differ from the catalog's"
grep -q "^satfs .* on $MNT" "$MNT/.satfs/status" ||
	fail "status of the fstab mount"
umount "$MNT" || fail "umount failed"
for _ in \$(seq 100); do kill -0 "\$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "\$pid" 2>/dev/null && fail "daemon still running after umount"
exit 0
INNER
timeout 90 unshare -m --propagation private bash "$T/inner.sh" ||
	fail "the fstab mount (above)"
grep -q "mounted on $MNT" "$T/satfs-fstab.log" ||
	fail "the daemon did not log to its log=FILE"
grep -q "unmounted $MNT" "$T/satfs-fstab.log" || fail "no clean exit logged"
sanitizer_check "$T"/asan/* || fail "sanitizer report from the fstab daemon"
echo "ok $TEST_NAME"
