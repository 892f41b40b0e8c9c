# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# A simulated node for the end-to-end tests and the demo, sourced by both.
#
# The node is a network namespace; each pod is a netns whose eth0 is one end of a veth, the
# other end (the pod's "host-side interface") inside the node netns, plus a cgroup under a
# cgroup root private to the run. podwalld runs inside the node netns (nsenter --net, which
# switches only the netns, so the cgroup2 mount stays visible).
#
# Every name carries the tag and the pid of the run ($$), everything created is recorded
# and topo_cleanup removes it on every path. Addresses come only from 198.18.0.0/15 and
# fd00::/8; nothing here touches the root netns, its routes or sysctls, or the machine's
# root cgroup.
#
# Needs: PW_PROBE (pwprobe), PW_DAEMON (podwalld), PW_CLI (podwall).

TOPO_GW4=198.19.255.254
TOPO_GW6=fe80::1

topo_log() { printf '%s\n' "$*" >&2; }

# topo_init TAG: the node netns, the cgroup root, the work directory
topo_init() {
	TOPO_TAG=$1
	TOPO_RUN=$$
	TOPO_PREFIX="pw-$TOPO_TAG-$TOPO_RUN"
	TOPO_NODE="$TOPO_PREFIX-node"
	TOPO_NETNS=()
	TOPO_PIDS=()
	TOPO_DAEMON=
	TOPO_CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	if [ -z "$TOPO_CG2" ]; then
		topo_log "no cgroup2 mount in /proc/mounts"
		return 1
	fi
	TOPO_CGROOT="$TOPO_CG2/podwall-$TOPO_TAG-$TOPO_RUN"
	TOPO_BPFFS="/sys/fs/bpf/podwall-$TOPO_TAG-$TOPO_RUN"
	TOPO_WORK=$(mktemp -d "/tmp/podwall-$TOPO_TAG-$TOPO_RUN.XXXXXX") || return 1
	TOPO_SOCK="$TOPO_WORK/podwall.sock"
	TOPO_FLOWS="$TOPO_WORK/flows.jsonl"
	TOPO_DLOG="$TOPO_WORK/podwalld.log"
	mkdir "$TOPO_CGROOT" || return 1
	ip netns add "$TOPO_NODE" || return 1
	TOPO_NETNS+=("$TOPO_NODE")
	ip -n "$TOPO_NODE" link set lo up
	# the node routes between pods; interfaces made later skip IPv6 DAD (no waiting)
	nsenter --net="/run/netns/$TOPO_NODE" sysctl -qw net.ipv4.ip_forward=1 \
		net.ipv6.conf.all.forwarding=1 net.ipv6.conf.default.accept_dad=0 || return 1
}

# topo_pod KEY IFNAME CGROUP IP4 IP6: a pod (CGROUP relative to the cgroup root, or - for a
# host outside the cluster, which gets no cgroup)
topo_pod() {
	local key=$1 ifn=$2 cg=$3 ip4=$4 ip6=$5
	local ns="$TOPO_PREFIX-$key"

	ip netns add "$ns" || return 1
	TOPO_NETNS+=("$ns")
	nsenter --net="/run/netns/$ns" sysctl -qw net.ipv6.conf.default.accept_dad=0 \
		net.ipv6.conf.all.accept_dad=0 || return 1
	ip -n "$TOPO_NODE" link add "$ifn" type veth peer name eth0 netns "$ns" || return 1
	ip -n "$ns" link set lo up
	ip -n "$ns" addr add "$ip4/32" dev eth0
	ip -n "$ns" addr add "$ip6/128" dev eth0 nodad
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add "$TOPO_GW4/32" dev eth0
	ip -n "$ns" route add default via "$TOPO_GW4" dev eth0
	ip -n "$ns" -6 route add default via "$TOPO_GW6" dev eth0
	ip -n "$TOPO_NODE" addr add "$TOPO_GW4/32" dev "$ifn"
	ip -n "$TOPO_NODE" addr add "$TOPO_GW6/64" dev "$ifn" nodad
	ip -n "$TOPO_NODE" link set "$ifn" up
	ip -n "$TOPO_NODE" route add "$ip4/32" dev "$ifn"
	ip -n "$TOPO_NODE" -6 route add "$ip6/128" dev "$ifn" || return 1
	if [ "$cg" != - ]; then
		mkdir -p "$TOPO_CGROOT/$cg" || return 1
	fi
	printf -v "TOPO_NS_$key" '%s' "$ns"
	printf -v "TOPO_CG_$key" '%s' "$cg"
}

# topo_enter KEY: TOPO_IN becomes the command prefix that runs a command inside pod KEY (its
# cgroup first, then its netns)
topo_enter() {
	local ns_var="TOPO_NS_$1" cg_var="TOPO_CG_$1"

	TOPO_IN=("$PW_PROBE" exec)
	if [ "${!cg_var}" != - ]; then
		TOPO_IN+=(--cgroup "$TOPO_CGROOT/${!cg_var}")
	fi
	TOPO_IN+=(--netns "${!ns_var}" --)
}

# topo_in KEY CMD...: run CMD inside pod KEY
topo_in() {
	topo_enter "$1"
	shift
	"${TOPO_IN[@]}" "$@"
}

# topo_serve KEY PORT...: TCP+UDP echo servers in the pod, returns once they listen
topo_serve() {
	local key=$1 out="$TOPO_WORK/serve-$1.out" i

	shift
	topo_enter "$key"
	# a plain command in the background: $! is the server itself, not a subshell
	"${TOPO_IN[@]}" "$PW_PROBE" serve "$@" >"$out" 2>&1 &
	TOPO_PIDS+=($!)
	for i in $(seq 200); do
		grep -q serving "$out" 2>/dev/null && return 0
		kill -0 "${TOPO_PIDS[-1]}" 2>/dev/null || break
		sleep 0.02
	done
	topo_log "echo server in $key did not start: $(cat "$out")"
	return 1
}

# topo_probe KEY tcp|udp ADDR PORT [TIMEOUT_MS]: prints ok|denied|timeout|refused|error
topo_probe() {
	local key=$1

	shift
	topo_in "$key" "$PW_PROBE" "$@" 2>/dev/null | head -n1
}

# topo_daemon_start [ARGS...]: podwalld in the node netns; returns once it answers
topo_daemon_start() {
	local i

	nsenter --net="/run/netns/$TOPO_NODE" "$PW_DAEMON" --socket "$TOPO_SOCK" \
		--bpffs "$TOPO_BPFFS" --cgroup-root "$TOPO_CGROOT" \
		--state-dir "$TOPO_WORK/state" --flow-log "$TOPO_FLOWS" "$@" \
		2>>"$TOPO_DLOG" &
	TOPO_DAEMON=$!
	# readiness: the socket answers (the daemon binds it after loading everything)
	for i in $(seq 500); do
		"$PW_CLI" --socket "$TOPO_SOCK" status >/dev/null 2>&1 && return 0
		kill -0 "$TOPO_DAEMON" 2>/dev/null || break
		sleep 0.02
	done
	topo_log "podwalld did not come up; its log:"
	tail -n 30 "$TOPO_DLOG" >&2
	return 1
}

# topo_daemon_stop [SIGNAL]: returns the daemon's exit status
topo_daemon_stop() {
	local sig=${1:-TERM} rc=0

	[ -n "$TOPO_DAEMON" ] || return 0
	kill "-$sig" "$TOPO_DAEMON" 2>/dev/null
	wait "$TOPO_DAEMON" || rc=$?
	TOPO_DAEMON=
	return $rc
}

pw() {
	"$PW_CLI" --socket "$TOPO_SOCK" "$@"
}

# Remove everything the run made; safe to call at any point, and twice.
topo_cleanup() {
	local pid ns cg i

	[ -n "${TOPO_PREFIX:-}" ] || return 0
	if [ -n "$TOPO_DAEMON" ]; then
		kill -TERM "$TOPO_DAEMON" 2>/dev/null
		wait "$TOPO_DAEMON" 2>/dev/null
		TOPO_DAEMON=
	fi
	for pid in "${TOPO_PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	TOPO_PIDS=()
	# detach and unpin while the node netns (and so the pods' interfaces) still exists
	if [ -e "$TOPO_BPFFS" ] && [ -x "$PW_DAEMON" ]; then
		nsenter --net="/run/netns/$TOPO_NODE" "$PW_DAEMON" --uninstall \
			--bpffs "$TOPO_BPFFS" --cgroup-root "$TOPO_CGROOT" 2>>"$TOPO_DLOG" ||
			topo_log "podwalld --uninstall failed; removing pins by hand"
	fi
	if [ -e "$TOPO_BPFFS" ]; then
		mountpoint -q "$TOPO_BPFFS" && umount -l "$TOPO_BPFFS"
		rm -rf "$TOPO_BPFFS"
	fi
	# the node last: deleting a pod netns takes its veth pair with it
	for ((i = ${#TOPO_NETNS[@]} - 1; i >= 0; i--)); do
		ns=${TOPO_NETNS[$i]}
		# processes still inside (a probe killed mid-way) go first
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
	done
	TOPO_NETNS=()
	if [ -d "$TOPO_CGROOT" ]; then
		while read -r cg; do
			while read -r pid; do
				kill -KILL "$pid" 2>/dev/null
			done <"$cg/cgroup.procs"
		done < <(find "$TOPO_CGROOT" -depth -type d)
		for i in $(seq 50); do
			find "$TOPO_CGROOT" -depth -type d -exec rmdir {} + 2>/dev/null
			[ -d "$TOPO_CGROOT" ] || break
			sleep 0.02 # killed processes leave their cgroup asynchronously
		done
	fi
	if [ -n "${TOPO_KEEP_WORK:-}" ]; then
		topo_log "work directory kept: $TOPO_WORK"
	else
		rm -rf "$TOPO_WORK"
	fi
	TOPO_PREFIX=
}

# Count what is left of the run (0 when everything is gone).
topo_leftovers() {
	local n=0

	n=$((n + $(ip netns list | grep -c "pw-$TOPO_TAG-$TOPO_RUN-")))
	[ -e "$TOPO_CGROOT" ] && n=$((n + 1))
	[ -e "$TOPO_BPFFS" ] && n=$((n + 1))
	echo "$n"
}
