#!/usr/bin/env bash
# The systemd unit (scripts/satfs@.service; issue 13, item 2):
#   systemd-analyze verify finds nothing wrong with it (an unknown key, a
#   bad value or a missing program would be reported), with ExecStart
#   pointed at this build's satfs
#   it stops in bounded time (TimeoutStopSec at most 30 s, well under
#   systemd's 90 s default: satfs exits within 2 s of SIGTERM, see
#   test_hangs.sh), runs as its own user, not root, with NoNewPrivileges
#   and the sandboxing that needs no mount namespace
#   and it holds none of the options that would give the service a private
#   mount namespace (ProtectSystem, ProtectHome, PrivateTmp, ...): the FUSE
#   mount made there would not reach the host (why: the unit's comment)
. "$(dirname "$0")/lib.sh"
need_program systemd-analyze systemd
U=$SRC/scripts/satfs@.service
[ -x "$SATFS" ] || fail "no satfs binary at $SATFS"

sed "s|/usr/local/bin/satfs|$SATFS|" "$U" >"$T/satfs@mnt-sat.service"
out=$(cd "$T" && systemd-analyze verify --man=no "./satfs@mnt-sat.service" 2>&1) ||
	fail "systemd-analyze verify failed: $out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"
# the check can fail: a misspelt key is reported
sed 's/^NoNewPrivileges=/NoNewPrivilege=/' "$T/satfs@mnt-sat.service" >"$T/bad@mnt-sat.service"
bad=$(cd "$T" && systemd-analyze verify --man=no "./bad@mnt-sat.service" 2>&1 || true)
echo "$bad" | grep -q "Unknown key" || fail "systemd-analyze missed a misspelt key: $bad"

key() { sed -n "s/^$1=//p" "$U" | tail -1; }
stop=$(key TimeoutStopSec)
[ -n "$stop" ] && [ "$stop" -le 30 ] || fail "TimeoutStopSec '$stop' (want at most 30)"
user=$(key User)
[ -n "$user" ] && [ "$user" != root ] || fail "User '$user' (want a dedicated user)"
for k in NoNewPrivileges RestrictSUIDSGID RestrictNamespaces LockPersonality; do
	[ "$(key $k)" = yes ] || fail "$k is not yes"
done
[ "$(key CapabilityBoundingSet)" = CAP_SYS_ADMIN ] ||
	fail "CapabilityBoundingSet '$(key CapabilityBoundingSet)' (want CAP_SYS_ADMIN alone)"
for k in ProtectSystem ProtectHome PrivateTmp PrivateMounts ReadOnlyPaths \
	ReadWritePaths ProtectKernelTunables PrivateDevices; do
	grep -q "^$k=" "$U" && fail "$k would put the mount in a private namespace"
done
note "unit verified; stop timeout ${stop}s, user $user"
