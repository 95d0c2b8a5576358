#!/usr/bin/env bash
# Start-up fails loudly, before the daemon detaches (issue 13, item 1):
#   the default (daemon) mode exits 0 only once the mount is up
#   an uncreatable cache directory, a mount point that is a file, a mount
#   point that is a satfs mount already: non-zero, the cause on stderr,
#   nothing (more) mounted
#   a second mount on a cache directory in use: refused, naming the pid
#   of the process that holds it
#   a mistyped command ("stats") and an unknown -o option: exit 2 with a
#   "did you mean"
#   a catalog that cannot be reached: a warning on stderr, the mount
#   comes up all the same (offline use is valid)
#   credentials in the arguments (stac=URL with a password and a token)
#   are not in the daemon's /proc/PID/cmdline
. "$(dirname "$0")/lib.sh"
need_fuse
S=$(samples_dir)
start_server --catalog "$S"
write_config "$T/satfs.conf"

# run_satfs OUT ARGS...: the daemon mode, as a user runs it; sets RC.
run_satfs() {
	local out=$1
	shift
	RC=0
	timeout 30 "$SATFS" "$@" >"$out" 2>&1 || RC=$?
}

daemon_pid() { # the pid in the cache's lock file
	tr -d '\n' <"$1/lock"
}

# --- the daemon mode: exit 0 means mounted ---
run_satfs "$T/ok.out" -o config="$T/satfs.conf",cache="$CACHE",log="$LOG" "$MNT"
[ "$RC" -eq 0 ] || { cat "$T/ok.out" >&2; fail "daemon mode exited $RC"; }
mountpoint -q "$MNT" || fail "exit 0 but nothing mounted"
SATFS_PID=$(daemon_pid "$CACHE")
kill -0 "$SATFS_PID" || fail "no daemon with the lock file's pid $SATFS_PID"
ls "$MNT/david" >/dev/null || fail "the daemon does not serve"

# --- mounting again on the same directory: refused, nothing stacked ---
n0=$(grep -c " $MNT fuse.satfs " /proc/self/mounts || true)
run_satfs "$T/twice.out" -o config="$T/satfs.conf",cache="$T/cache2" "$MNT"
[ "$RC" -ne 0 ] || fail "a second mount on $MNT exited 0"
grep -q "is a satfs mount already" "$T/twice.out" ||
	fail "no cause for the refused second mount: $(cat "$T/twice.out")"
n1=$(grep -c " $MNT fuse.satfs " /proc/self/mounts || true)
[ "$n1" -eq "$n0" ] || fail "a second satfs was stacked on $MNT ($n0 -> $n1)"

# --- a second mount on the cache directory in use: refused, naming the pid ---
mkdir -p "$T/mnt2"
run_satfs "$T/cache.out" -o config="$T/satfs.conf",cache="$CACHE" "$T/mnt2"
[ "$RC" -ne 0 ] || fail "a second mount on a cache in use exited 0"
grep -q "in use by process $SATFS_PID" "$T/cache.out" ||
	fail "the refusal does not name process $SATFS_PID: $(cat "$T/cache.out")"
mountpoint -q "$T/mnt2" && fail "mounted on $T/mnt2 all the same"
# the first mount is unharmed
ls "$MNT/david" >/dev/null || fail "the first mount was harmed"

# --- a mount point that is a regular file ---
touch "$T/afile"
run_satfs "$T/file.out" -o config="$T/satfs.conf",cache="$T/cache3" "$T/afile"
[ "$RC" -ne 0 ] || fail "mounting on a regular file exited 0"
grep -q "not a directory" "$T/file.out" || fail "no cause: $(cat "$T/file.out")"

# --- an uncreatable cache directory ---
run_satfs "$T/nocache.out" -o config="$T/satfs.conf",cache=/proc/satfs-cache "$T/mnt2"
[ "$RC" -ne 0 ] || fail "an uncreatable cache directory exited 0"
grep -q "cannot create /proc/satfs-cache" "$T/nocache.out" ||
	fail "no cause: $(cat "$T/nocache.out")"
mountpoint -q "$T/mnt2" && fail "mounted without a cache"

# --- a mistyped command, an unknown option: 2, with a suggestion ---
run_satfs "$T/typo.out" stats "$MNT"
[ "$RC" -eq 2 ] || fail "'satfs stats MNT' exited $RC, not 2"
grep -q "did you mean 'status'" "$T/typo.out" || fail "no suggestion: $(cat "$T/typo.out")"
run_satfs "$T/opt.out" -o config="$T/satfs.conf",cach="$T/c4" "$T/mnt2"
[ "$RC" -eq 2 ] || fail "an unknown -o option exited $RC, not 2"
grep -q "did you mean 'cache'" "$T/opt.out" || fail "no suggestion: $(cat "$T/opt.out")"
run_satfs "$T/opt2.out" -o allow_otter "$T/mnt2"
[ "$RC" -eq 2 ] || fail "-o allow_otter exited $RC, not 2"
grep -q "did you mean 'allow_other'" "$T/opt2.out" || fail "no suggestion: $(cat "$T/opt2.out")"
mountpoint -q "$T/mnt2" && fail "mounted after a bad command line"

fusermount3 -u "$MNT"
for _ in $(seq 100); do kill -0 "$SATFS_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SATFS_PID" 2>/dev/null && fail "the daemon did not exit after the unmount"
SATFS_PID=

# --- an unreachable catalog: a warning, and the mount comes up ---
# (a port nobody listens on: the fixture server's, once stopped)
python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' >"$T/deadport"
DEAD=$(cat "$T/deadport")
run_satfs "$T/down.out" -o "stac=http://alice:SECRETPW@127.0.0.1:$DEAD/?token=SECRETQ,cache=$CACHE,log=$LOG,timeout=2" "$MNT"
[ "$RC" -eq 0 ] || { cat "$T/down.out" >&2; fail "an unreachable catalog failed the mount ($RC)"; }
mountpoint -q "$MNT" || fail "not mounted with the catalog down"
grep -q "warning: the catalog cannot be reached" "$T/down.out" ||
	fail "no warning on stderr: $(cat "$T/down.out")"
grep -q SECRET "$T/down.out" && fail "a secret in the warning: $(cat "$T/down.out")"
SATFS_PID=$(daemon_pid "$CACHE")
tr '\0' ' ' <"/proc/$SATFS_PID/cmdline" >"$T/cmdline"
grep -q SECRET "$T/cmdline" && fail "credentials in the process's command line: $(cat "$T/cmdline")"
grep -q "127.0.0.1:$DEAD" "$T/cmdline" || fail "the command line lost more than its secrets: $(cat "$T/cmdline")"
ls "$MNT" >/dev/null || fail "the root does not list offline"
fusermount3 -u "$MNT"
for _ in $(seq 100); do kill -0 "$SATFS_PID" 2>/dev/null || break; sleep 0.1; done
SATFS_PID=
note "daemon mode: exit 0 when up; 6 refusals before detaching, each with its cause"
