#!/usr/bin/env bash
# rgw.sh: a throwaway single-node Ceph cluster with a RADOS Gateway (S3) on
# 127.0.0.1, for the tests and the benchmark. Debian 12's ceph-mon, ceph-osd
# and radosgw (scripts/deps test); nothing is installed or left behind.
#
#   tests/s3/rgw.sh start DIR   start a cluster kept under DIR (created;
#                               must be empty), with a user, its keys and
#                               an empty bucket
#   tests/s3/rgw.sh env DIR     print its coordinates as shell assignments:
#                               RGW_ENDPOINT, RGW_BUCKET, RGW_REGION,
#                               AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
#   tests/s3/rgw.sh stop DIR    kill its daemons (and wait for them), remove
#                               its sockets; DIR keeps the logs. Safe to run
#                               twice, or on a half-started cluster
#   tests/s3/rgw.sh check       exit 0 when the packages are installed,
#                               else 1 with a message naming scripts/deps
#
# Environment:
#   RGW_OWNER_PID    stop the cluster as soon as this process is gone (a
#                    watchdog, so that a killed test leaves no daemons)
#   RGW_START_TIMEOUT  seconds start may take in all (default 60)
#
# The cluster: one monitor (msgr2 only, on a free port), one OSD on the
# in-memory memstore, no manager, cephx off (loopback only), pool size 1
# and one placement group per pool, the single-node health warnings off,
# paxos delays lowered (the default 1 s propose interval costs a second
# for each of the pools the gateway creates), and radosgw with the beast
# frontend on another free port. The OSD map is made up front with
# osdmaptool, so that no `ceph` command (a Python program, half a second
# each) runs at all. Admin sockets live in a short directory under /tmp
# (a socket path must stay under 107 bytes; DIR may be deep).
#
# Every wait has a deadline; stop kills with SIGKILL (memstore would
# otherwise write its whole contents to DIR on the way out).
set -euo pipefail

me=$(basename "$0")
die() { echo "$me: $*" >&2; exit 1; }

bins=(ceph-mon ceph-osd radosgw radosgw-admin monmaptool osdmaptool curl)
check() {
	local b missing=()
	for b in "${bins[@]}"; do
		command -v "$b" >/dev/null 2>&1 || missing+=("$b")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "$me: ${missing[*]} not installed: run scripts/deps test" \
		"(Debian's ceph-mon, ceph-osd, radosgw and curl)" >&2
	return 1
}

now_ms() { date +%s%3N; }

# A TCP port nobody listens on, from /proc (races are caught later: a
# daemon that cannot bind fails its start, and start tries again).
port_free() {
	local hex
	hex=$(printf ':%04X ' "$1")
	! grep -qs "^ *[0-9]*: [0-9A-F]*$hex[0-9A-F]*:[0-9A-F]* 0A" \
		/proc/net/tcp /proc/net/tcp6
}
pick_port() {
	local p i
	for i in $(seq 100); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 30000))
		if port_free "$p"; then
			echo "$p"
			return 0
		fi
	done
	die "no free TCP port found"
}

# Starts "$@" in its own session, logging to $dir/log/$name.out, and
# records its pid (setsid execs: $! is the daemon itself).
spawn() {
	local name=$1
	shift
	setsid "$@" </dev/null >>"$dir/log/$name.out" 2>&1 &
	echo $! >"$dir/pids/$name"
}

write_conf() {
	cat >"$dir/ceph.conf" <<EOF
[global]
fsid = $fsid
mon_host = [v2:127.0.0.1:$monport]
public_addr = 127.0.0.1
run_dir = $run
admin_socket = $run/\$name.asok
log_file = $dir/log/\$name.log
log_to_stderr = false
err_to_stderr = false
; loopback only: no cephx, and connection modes that need no keys
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_bind_msgr1 = false
ms_mon_client_mode = crc
ms_mon_service_mode = crc
ms_mon_cluster_mode = crc
ms_client_mode = crc
ms_service_mode = crc
ms_cluster_mode = crc
; one OSD: size 1, no PG autoscaler (no manager), small pools
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 1
osd_pool_default_pgp_num = 1
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
; the single-node health warnings
mon_warn_on_pool_no_redundancy = false
mon_warn_on_insecure_global_id_reclaim = false
mon_warn_on_insecure_global_id_reclaim_allowed = false
mon_warn_on_pool_no_app = false
mon_warn_on_too_few_osds = false
mon_data_avail_warn = 1
mon_data_avail_crit = 0
; commit at once instead of batching for a second
paxos_propose_interval = 0.01
paxos_min_wait = 0.001
mon_osd_full_ratio = 0.99
mon_osd_nearfull_ratio = 0.99
mon_osd_backfillfull_ratio = 0.99
; look for the monitor again soon when it is not up yet (default 3 s)
mon_client_hunt_interval = 0.2
; an operation that waits for a new OSD map asks again this soon
; (default 5 s: the gateway starts before the OSD is up)
objecter_tick_interval = 0.2
; bounded waits for every client (radosgw, radosgw-admin)
client_mount_timeout = 20
rados_mon_op_timeout = 20
rados_osd_op_timeout = 20

[mon]
mon_data = $dir/mon

[osd]
osd_data = $dir/osd
osd_objectstore = memstore
memstore_device_bytes = $((4 << 30))
osd_op_num_shards = 2

[client.rgw]
rgw_frontends = beast endpoint=127.0.0.1:$rgwport
rgw_data = $dir/rgw
rgw_init_timeout = 30
rgw_thread_pool_size = 64
rgw_enable_usage_log = false
; deleted data goes within seconds, not after two hours
rgw_gc_obj_min_wait = 5
rgw_gc_processor_period = 5
rgw_gc_processor_max_time = 5
EOF
	# RGW_DEBUG=1: verbose daemon logs, to find out why a start is slow
	[ -z "${RGW_DEBUG:-}" ] || cat >>"$dir/ceph.conf" <<EOF
[global]
debug_ms = 1
debug_monc = 10
debug_objecter = 10
debug_rgw = 20
debug_osd = 10
debug_mon = 10
EOF
}

# Waits until the gateway answers HTTP, the daemons are alive and the
# deadline has not passed. Returns 1 when a daemon died or time ran out.
wait_http() {
	local deadline=$1 p
	while [ "$(now_ms)" -lt "$deadline" ]; do
		for p in mon osd rgw; do
			kill -0 "$(cat "$dir/pids/$p")" 2>/dev/null || {
				echo "$me: $p exited; see $dir/log" >&2
				return 1
			}
		done
		curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$rgwport/" &&
			return 0
		sleep 0.05
	done
	echo "$me: radosgw did not answer in time; see $dir/log" >&2
	return 1
}

# A signed S3 request with the user's keys, which go to curl on stdin
# (never on a command line).
s3() {
	printf 'user = "%s:%s"\n' "$key" "$secret" |
		curl -sS -K - --max-time 10 -o /dev/null -w '%{http_code}' \
			--aws-sigv4 "aws:amz:$region:s3" \
			-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@"
}

rand_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# One attempt with fresh ports. Returns 1 when it failed (after stop).
start_once() {
	local deadline=$1 t0 code
	t0=$(now_ms)
	rm -rf "${dir:?}"/{mon,osd,rgw,pids,log} "$dir"/*.map "$dir/env"
	mkdir -p "$dir/mon" "$dir/osd" "$dir/rgw" "$dir/pids" "$dir/log"
	run=$(mktemp -d /tmp/rgw.XXXXXX)
	echo "$run" >"$dir/run_dir"
	fsid=$(cat /proc/sys/kernel/random/uuid)
	monport=$(pick_port)
	rgwport=$(pick_port)
	[ "$monport" != "$rgwport" ] || rgwport=$(pick_port)
	region=us-east-1
	bucket=satfs-test
	key=$(rand_hex 10 | tr a-f A-F)
	secret=$(rand_hex 20)
	write_conf
	local c=(-c "$dir/ceph.conf")

	# The monitor's store and the OSD's at once.
	(monmaptool --create --fsid "$fsid" --addv a \
		"[v2:127.0.0.1:$monport]" "$dir/mon.map" &&
		osdmaptool --createsimple 1 --clobber "$dir/osd.map" &&
		timeout 20 ceph-mon "${c[@]}" --no-mon-config -i a --mkfs \
			--monmap "$dir/mon.map" --osdmap "$dir/osd.map") \
		>>"$dir/log/mkfs-mon.out" 2>&1 &
	local mkfs_mon=$!
	timeout 20 ceph-osd "${c[@]}" --no-mon-config -i 0 --mkfs \
		--osd-uuid "$(cat /proc/sys/kernel/random/uuid)" \
		>>"$dir/log/mkfs-osd.out" 2>&1 || {
		wait "$mkfs_mon" || true
		echo "$me: ceph-osd --mkfs failed; see $dir/log/mkfs-osd.out" >&2
		return 1
	}
	wait "$mkfs_mon" || {
		echo "$me: ceph-mon --mkfs failed; see $dir/log/mkfs-mon.out" >&2
		return 1
	}
	# All three at once: the OSD and the gateway look for the monitor
	# every 0.2 s until it is up, and the gateway creates its pools as
	# soon as the OSD is in.
	spawn mon ceph-mon "${c[@]}" -f -i a
	spawn osd ceph-osd "${c[@]}" -f -i 0
	spawn rgw radosgw "${c[@]}" -f -n client.rgw
	wait_http "$deadline" || return 1

	timeout 20 radosgw-admin "${c[@]}" user create --uid=satfs \
		--display-name=satfs --access-key="$key" \
		--secret-key="$secret" >/dev/null 2>>"$dir/log/admin.out" || {
		echo "$me: radosgw-admin user create failed;" \
			"see $dir/log/admin.out" >&2
		return 1
	}
	code=$(s3 -X PUT "http://127.0.0.1:$rgwport/$bucket") || true
	[ "$code" = 200 ] || {
		echo "$me: creating bucket $bucket: HTTP $code" >&2
		return 1
	}
	umask 077
	cat >"$dir/env" <<EOF
RGW_ENDPOINT=http://127.0.0.1:$rgwport
RGW_BUCKET=$bucket
RGW_REGION=$region
AWS_ACCESS_KEY_ID=$key
AWS_SECRET_ACCESS_KEY=$secret
EOF
	echo "$me: started in $(( $(now_ms) - t0 )) ms on 127.0.0.1:$rgwport" \
		"(DIR $dir)" >&2
	return 0
}

# The watchdog (its own session, so that a signal to the test's process
# group does not take it down first): stops the cluster when the owner
# process is gone; ends when stop ran (the pids directory vanishes).
watch() {
	local owner=$1
	while kill -0 "$owner" 2>/dev/null && [ -d "$dir/pids" ]; do
		sleep 0.5
	done
	[ ! -d "$dir/pids" ] || stop
}

stop() {
	local f pid deadline pids=()
	for f in "$dir"/pids/*; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		# only our own daemon: its command line names our ceph.conf
		if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null |
			grep -qF -- "$dir/ceph.conf"; then
			kill -KILL "$pid" 2>/dev/null || true
			pids+=("$pid")
		fi
	done
	deadline=$(( $(now_ms) + 10000 ))
	for pid in "${pids[@]}"; do
		while [ -e "/proc/$pid" ] &&
			! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; do
			[ "$(now_ms)" -lt "$deadline" ] || {
				echo "$me: pid $pid did not exit" >&2
				return 1
			}
			sleep 0.02
		done
	done
	if [ -f "$dir/run_dir" ]; then
		f=$(cat "$dir/run_dir")
		case $f in /tmp/rgw.*) rm -rf "$f" ;; esac
		rm -f "$dir/run_dir"
	fi
	rm -rf "$dir/pids" "$dir/osd" "$dir/mon"
}

cmd=${1:-}
case $cmd in
check)
	check
	exit $?
	;;
_watch)
	[ $# -eq 3 ] || die "usage: $me _watch DIR PID"
	;;
start | stop | env)
	[ $# -eq 2 ] || die "usage: $me start|stop|env DIR"
	;;
*)
	echo "usage: $me start|stop|env DIR, or $me check" >&2
	exit 2
	;;
esac
mkdir -p "$2"
dir=$(cd "$2" && pwd)

case $cmd in
start)
	check
	[ ! -e "$dir/pids" ] || die "$dir holds a running cluster"
	deadline=$(( $(now_ms) + ${RGW_START_TIMEOUT:-60} * 1000 ))
	tries=0
	until start_once "$deadline"; do
		stop
		tries=$((tries + 1))
		# a port taken between our look and the bind: try again
		[ $tries -lt 3 ] && [ "$(now_ms)" -lt "$deadline" ] ||
			die "could not start a cluster (see $dir/log)"
		echo "$me: starting again" >&2
	done
	if [ -n "${RGW_OWNER_PID:-}" ]; then
		setsid "$0" _watch "$dir" "$RGW_OWNER_PID" </dev/null \
			>/dev/null 2>>"$dir/log/watch.out" &
	fi
	;;
stop)
	stop
	;;
env)
	[ -f "$dir/env" ] || die "no cluster started in $dir"
	cat "$dir/env"
	;;
_watch)
	watch "$3"
	;;
esac
