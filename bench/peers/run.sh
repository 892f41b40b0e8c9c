#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The peer comparison: podwall beside no enforcement and beside iptables+ipset, on one simulated
# node, interleaved in the same run. Usually started by scripts/bench.sh; by hand:
#
#   bench/peers/run.sh --build BUILD_DIR --out docs/perf [--quick] [--rounds N] [--seconds S]
#                      [--scales 10,1000,10000,100000] [--wide w1:250,w64:250,...] [--cpu N]
#                      [--ipset-limit]   (also count the ipsets a netns takes: minutes)
#                      [--only REGEX]    (only the configurations whose "kind scale" matches,
#                                         e.g. '^(empty|podwall 10000)': to profile one)
#                      [--tests rr,crr,stream,udp_rr]  (a subset of the tests)
#
# Topology (design.md's test topology): a node netns and two pod netns, client and server, each
# joined to the node by a veth; the node routes between them. Every name carries this shell's
# pid; everything is removed on every path (trap), and the iptables rules and ipsets exist only
# inside the node netns. Configurations, each measured with the same load in every round:
#   baseline       nothing attached, no rules;
#   empty          bench/empty.bpf.c's programs, which only return "allow", on the hooks podwall
#                  uses (TC ingress and egress of both host-side veths; connect, sendmsg, recvmsg
#                  and getpeername, v4 and v6, on the pods' cgroup root): the hooks' own cost;
#   podwall N      podwall's TC programs on both host-side veths and its socket programs on the
#                  pods' cgroup root, with scale N's policy set written through the datapath
#                  library (bench/peers/pwpeers.c defines the set);
#   iptables N     the same policies as iptables-restore + ipset restore files, in the per-pod
#                  chain -> per-policy chain -> ipset layout, conntrack accepting established;
#   podwalld 1|0   podwall as deployed: the daemon itself (podwalld, its own pins and cgroup
#                  root) enforcing the measured policy (client egress, server ingress, TCP and
#                  UDP 8080) with --flow-log to a file (1) or without a flow log (0), started
#                  for the configuration and uninstalled after it: the cost of auditing;
#   nopolicy       the daemon (no flow log) with both pods known and no NetworkPolicy at all:
#                  podwall's logic on flows no policy isolates;
#   pwwide/iptwide wP:M  the wide set (pwpeers.c): P policies all selecting the server and M pods
#                  on the node, by podwall and by iptables+ipset in kube-router's layout (every
#                  policy chain of the pod walked, one dispatch rule per pod).
# Each round visits every configuration in a rotated order and runs TCP_RR, TCP_CRR, TCP_STREAM
# and UDP_RR (bench/peers/pwload.c) for each; round 0 is a warm-up and is discarded.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=$top/build
out=$top/docs/perf
quick=0
rounds=""
secs=""
scales=""
wide=""
cpu=""
ipset_limit="not counted (--ipset-limit)"
only=""
test_list=rr,crr,stream,udp_rr

usage() {
	sed -n '3,11p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-2}"
}

while [ $# -gt 0 ]; do
	case "$1" in
	--build) build=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--quick) quick=1; shift ;;
	--rounds) rounds=$2; shift 2 ;;
	--seconds) secs=$2; shift 2 ;;
	--scales) scales=$2; shift 2 ;;
	--wide) wide=$2; shift 2 ;;
	--ipset-limit) ipset_limit=probe; shift ;;
	--cpu) cpu=$2; shift 2 ;;
	--only) only=$2; shift 2 ;;
	--tests) test_list=$2; shift 2 ;;
	-h|--help) usage 0 ;;
	*) usage ;;
	esac
done

# The wide sets: from one policy on the server to thousands (the kernel allows 65,472 ipsets
# per netns here: its own limit is no bound at these sizes, see peers.md), on a node of 250 pods.
if [ "$quick" = 1 ]; then
	: "${rounds:=2}" "${secs:=0.5}" "${scales:=10,10000}" "${wide:=w1:250,w1024:250}"
else
	: "${rounds:=7}" "${secs:=1.0}" "${scales:=10,1000,10000,100000}"
	: "${wide:=w1:250,w16:250,w64:250,w256:250,w1024:250,w4096:250,w1:4000}"
fi
# Client and server share one CPU (default: the last): a transaction then never waits for a
# cross-CPU wakeup out of an idle state, which otherwise makes latency bimodal and swamps the
# enforcement cost being measured.
: "${cpu:=$(($(nproc) - 1))}"
# ... and run at a higher CFS weight than the machine's other work (nice -10: about 9 to 1
# against one competing task on that CPU, which the load balancer then moves to another), so
# other jobs' bursts show up less as preemption stalls in the figures. Never real-time: a
# saturating real-time loop would starve the rest of the machine.
prio=-10
warm_ms=200          # each test's own warm-up, not recorded
port=8080            # what the measured policy allows (TCP and UDP)
deny_port=8081       # a second server nobody allows: the enforcement check
client_ip=198.18.0.1
server_ip=198.18.0.2
gw=198.19.255.254

pwload=$build/bench/pwload
pwpeers=$build/bench/pwpeers
pwdaemon=$build/ctl/podwalld
pwcli=$build/ctl/podwall
for b in "$pwload" "$pwpeers" "$pwdaemon" "$pwcli"; do
	[ -x "$b" ] || { echo "run.sh: $b missing: build first" >&2; exit 1; }
done
for t in ip iptables-restore ipset nft nsenter taskset; do
	command -v "$t" >/dev/null || { echo "run.sh: $t missing" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "run.sh: needs root (netns, BPF, iptables in a netns)" >&2; exit 1; }

id=$$
node=pwb${id}n
cns=pwb${id}c
sns=pwb${id}s
tns=pwb${id}t            # throwaway netns for the ipset-per-netns check
hc=pwb${id}hc            # host-side veths, in the node netns
hs=pwb${id}hs
cg2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$cg2" ] || { echo "run.sh: no cgroup2 mount" >&2; exit 1; }
cgtop=$cg2/pwbench-$id
work=$(mktemp -d "/tmp/pwbench-$id.XXXXXX")
srv_pids=()
pwc_pid=""
pwd_pid=""
pwd_bpffs=/sys/fs/bpf/pwbench-$id

log() { printf '[peers %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# --- cleanup -------------------------------------------------------------------------------

cg_remove() { # remove a cgroup tree, killing what still runs in it
	local cg=$1 d
	[ -d "$cg" ] || return 0
	[ -e "$cg/cgroup.kill" ] && echo 1 >"$cg/cgroup.kill" 2>/dev/null || true
	for _ in $(seq 50); do
		grep -q 'populated 0' "$cg/cgroup.events" 2>/dev/null && break
		sleep 0.1
	done
	# deepest first
	find "$cg" -mindepth 1 -depth -type d 2>/dev/null | while read -r d; do rmdir "$d" 2>/dev/null || true; done
	rmdir "$cg" 2>/dev/null || true
}

cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	for p in "${srv_pids[@]}"; do kill "$p" 2>/dev/null || true; done
	daemon_stop 2>/dev/null || true
	if [ -n "$pwc_pid" ]; then
		# closing its stdin makes it detach and exit; the kill is the fallback
		[ -z "${pwc_in:-}" ] || exec {pwc_in}>&-
		for _ in $(seq 30); do kill -0 "$pwc_pid" 2>/dev/null || break; sleep 0.1; done
		kill "$pwc_pid" 2>/dev/null || true
	fi
	wait 2>/dev/null || true
	for ns in "$cns" "$sns" "$tns" "$node"; do
		ip netns del "$ns" 2>/dev/null || true
	done
	cg_remove "$cgtop"
	rm -rf "$work"
	local left=""
	for ns in "$cns" "$sns" "$tns" "$node"; do
		[ -e "/run/netns/$ns" ] && left="$left netns:$ns"
	done
	[ -d "$cgtop" ] && left="$left cgroup:$cgtop"
	[ -e "$pwd_bpffs" ] && left="$left bpffs:$pwd_bpffs"
	if [ -n "$left" ]; then
		echo "run.sh: left behind:$left" >&2
		[ $rc -eq 0 ] && rc=1
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Leftovers of runs whose shell is gone (a SIGKILL skips the trap).
cleanup_stale() {
	local ns pid cg d
	for ns in $(ip netns list | awk '{ print $1 }' | grep -E '^pwb[0-9]+[ncst]$' || true); do
		pid=${ns#pwb}; pid=${pid%?}
		if ! kill -0 "$pid" 2>/dev/null; then
			log "removing stale netns $ns"
			ip netns del "$ns" 2>/dev/null || true
		fi
	done
	for d in /tmp/pwbench-*.*; do
		[ -d "$d" ] || continue
		pid=${d#/tmp/pwbench-}; pid=${pid%%.*}
		kill -0 "$pid" 2>/dev/null || rm -rf "$d"
	done
	for cg in "$cg2"/pwbench-*; do
		[ -d "$cg" ] || continue
		pid=${cg##*/pwbench-}
		if ! kill -0 "$pid" 2>/dev/null; then
			log "removing stale cgroup $cg"
			cg_remove "$cg"
		fi
	done
}

# --- topology ------------------------------------------------------------------------------

nsctl() { # write a sysctl inside one of our netns only
	ip netns exec "$1" sysctl -qw "$2=$3"
}

setup_pod() { # netns host_if addr
	local ns=$1 hif=$2 addr=$3
	ip netns add "$ns"
	ip -n "$node" link add "$hif" type veth peer name eth0 netns "$ns"
	ip -n "$node" addr add "$gw/32" dev "$hif"
	ip -n "$node" link set "$hif" up
	ip -n "$node" route add "$addr/32" dev "$hif"
	ip -n "$ns" link set lo up
	ip -n "$ns" addr add "$addr/32" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add "$gw/32" dev eth0 scope link
	ip -n "$ns" route add default via "$gw" dev eth0
}

setup_topology() {
	ip netns add "$node"
	ip -n "$node" link set lo up
	nsctl "$node" net.ipv4.ip_forward 1
	setup_pod "$cns" "$hc" "$client_ip"
	setup_pod "$sns" "$hs" "$server_ip"
	# TCP_CRR: let the client reuse its TIME_WAIT ports after 1 s instead of running out
	nsctl "$cns" net.ipv4.tcp_tw_reuse 1
	nsctl "$cns" net.ipv4.ip_local_port_range "1024 65535"
	# the node's conntrack (iptables only) keeps TIME_WAIT entries 120 s by default; at
	# thousands of connections a second that fills its table and drops packets
	if ! nsctl "$node" net.netfilter.nf_conntrack_tcp_timeout_time_wait 2; then
		log "warning: could not shorten the node netns' conntrack TIME_WAIT timeout"
	fi
	mkdir -p "$cgtop/pw/client" "$cgtop/pw/server" "$cgtop/plain/client" "$cgtop/plain/server" \
		"$cgtop/pwd/client" "$cgtop/pwd/server" "$cgtop/emp/client" "$cgtop/emp/server"
}

# ipsets live in the network namespace that created them: prove it before relying on it.
check_ipset_netns() {
	ip netns add "$tns"
	ip netns exec "$node" ipset create pwcheck hash:ip
	if ! ip netns exec "$node" ipset list -n | grep -qx pwcheck ||
	   ip netns exec "$tns" ipset list -n 2>/dev/null | grep -qx pwcheck; then
		echo "run.sh: ipsets are not per network namespace on this kernel: refusing" >&2
		exit 1
	fi
	ip netns exec "$node" ipset destroy pwcheck
	ip netns del "$tns"
}

# How many ipsets the kernel lets one netns hold: create empty ones until it refuses (in the
# node netns, destroyed right after). The kernel grows its table in steps, so it is counted.
count_ipset_limit() {
	local n
	log "counting the ipsets one netns takes (a few minutes)"
	for ((n = 0; n < 70000; n++)); do echo "create pwlim$n hash:ip hashsize 64 maxelem 64"; done |
		ip netns exec "$node" ipset restore 2>/dev/null || true
	n=$(ip netns exec "$node" ipset list -n | grep -c '^pwlim' || true)
	ip netns exec "$node" ipset destroy
	if [ "$n" -ge 70000 ]; then ipset_limit="more than 70000"; else ipset_limit=$n; fi
	log "ipset limit: $ipset_limit sets per netns"
}

# --- processes in pods ---------------------------------------------------------------------

# Run a command in a pod: join the cgroup first (ip netns exec hides the cgroup2 mount), then
# the netns.
in_pod() { # cgroup netns cmd...
	( in_pod_exec "$@" )
}

# The same, replacing the calling (sub)shell: for `in_pod_exec ... &`, so $! is the command's
# own pid and killing it stops the command.
in_pod_exec() { # cgroup netns cmd...
	local cg=$1 ns=$2
	shift 2
	# the controller's pipe must not outlive this shell in a child: its EOF is what stops
	# the controller if this shell is killed
	[ -z "${pwc_in:-}" ] || exec {pwc_in}>&-
	[ -z "${pwc_out:-}" ] || exec {pwc_out}<&-
	echo "$BASHPID" >"$cg/cgroup.procs"
	exec nice -n "$prio" taskset -c "$cpu" ip netns exec "$ns" "$@"
}

servers_start() { # cgroup set: pw|plain
	local set=$1 p f
	srv_pids=()
	for p in $port $deny_port; do
		f=$work/srv.$p
		: >"$f"
		in_pod_exec "$cgtop/$set/server" "$sns" "$pwload" server --port "$p" --max-seconds 1800 \
			>"$f" 2>&1 &
		srv_pids+=($!)
	done
	for p in $port $deny_port; do
		for _ in $(seq 100); do
			grep -q '^ready' "$work/srv.$p" && continue 2
			sleep 0.02
		done
		echo "run.sh: server on $p did not start: $(cat "$work/srv.$p")" >&2
		exit 1
	done
}

servers_stop() {
	local p
	for p in "${srv_pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${srv_pids[@]}"; do wait "$p" 2>/dev/null || true; done
	srv_pids=()
}

probe() { # cgroup set, port -> 0 when a TCP echo works
	in_pod "$cgtop/$1/client" "$cns" "$pwload" probe --addr "$server_ip" --port "$2" \
		--timeout-ms 150 >/dev/null 2>&1
}

# --- podwall controller ----------------------------------------------------------------------

pwc() { # send one command, read its answer into $pwc_reply
	echo "$1" >&"$pwc_in"
	if ! read -r -t 120 pwc_reply <&"$pwc_out"; then
		echo "run.sh: podwall controller did not answer '$1'" >&2
		exit 1
	fi
	case "$pwc_reply" in
	ok*) pwc_reply=${pwc_reply#ok }; pwc_reply=${pwc_reply#ok} ;;
	*) echo "run.sh: podwall controller: $pwc_reply" >&2; exit 1 ;;
	esac
}

pwc_start() {
	mkfifo "$work/pwc.in" "$work/pwc.out"
	# nsenter switches only the netns, so the cgroup2 mount stays visible
	nsenter --net="/run/netns/$node" "$pwpeers" podwall --cgroup-root "$cgtop/pw" \
		--client-if "$hc" --server-if "$hs" --client-cg "$cgtop/pw/client" \
		--server-cg "$cgtop/pw/server" --empty-cgroup-root "$cgtop/emp" \
		<"$work/pwc.in" >"$work/pwc.out" \
		2>>"$work/pwpeers.err" &
	pwc_pid=$!
	exec {pwc_in}>"$work/pwc.in"
	exec {pwc_out}<"$work/pwc.out"
	if ! read -r -t 60 pwc_reply <&"$pwc_out"; then
		echo "run.sh: podwall controller did not start: $(cat "$work/pwpeers.err")" >&2
		exit 1
	fi
	case "$pwc_reply" in
	ready*) tc_mode=${pwc_reply#ready tc_mode=} ;;
	*) echo "run.sh: podwall controller: $pwc_reply" >&2; exit 1 ;;
	esac
}

pw_counter() { # $pwc_reply key -> value
	echo "$pwc_reply" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'
}

# --- podwall as deployed: the daemon ---------------------------------------------------------

# The objects the daemon enforces: the two pods on the node's veths and the measured policy
# (the allowed port, TCP and UDP, client egress and server ingress; the other port stays denied).
pwd_pod() { # NS NAME IFNAME IP: its interface and cgroup (relative to the daemon's root)
	printf -- '---\napiVersion: v1\nkind: Pod\nmetadata:\n  namespace: %s\n  name: %s\n' "$1" "$2"
	printf '  labels:\n    app: %s\n' "$2"
	printf '  annotations:\n    podwall.io/interface: %s\n    podwall.io/cgroup: %s\n' "$3" "$2"
	printf 'status:\n  podIPs:\n  - ip: %s\n' "$4"
}

daemon_manifests() {
	local f=$work/pwd-objects.yaml ns
	: >"$f"
	for ns in pwb-c pwb-s; do
		printf -- '---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' $ns >>"$f"
	done
	pwd_pod pwb-c client "$hc" "$client_ip" >>"$f"
	pwd_pod pwb-s server "$hs" "$server_ip" >>"$f"
	# the "no policy" configuration: the same pods and namespaces, nothing else
	cp "$f" "$work/pwd-nopolicy.yaml"
	cat >>"$f" <<EOF
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  namespace: pwb-s
  name: allow-client
spec:
  podSelector:
    matchLabels:
      app: server
  ingress:
  - from:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: pwb-c
    ports:
    - {protocol: TCP, port: $port}
    - {protocol: UDP, port: $port}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  namespace: pwb-c
  name: client-egress
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: pwb-s
    ports:
    - {protocol: TCP, port: $port}
    - {protocol: UDP, port: $port}
EOF
}

daemon_start() { # 1: with --flow-log, 0: without; [objects file]
	local objs=${2:-$work/pwd-objects.yaml}
	local args=(--socket "$work/pwd.sock" --bpffs "$pwd_bpffs" --cgroup-root "$cgtop/pwd"
		--state-dir "$work/pwd-state")
	[ "$1" = 1 ] && args+=(--flow-log "$work/pwd-flows.jsonl")
	rm -rf "$work/pwd-state" "$work/pwd-flows.jsonl"
	nsenter --net="/run/netns/$node" "$pwdaemon" "${args[@]}" 2>>"$work/pwd.log" &
	pwd_pid=$!
	for _ in $(seq 500); do
		"$pwcli" --socket "$work/pwd.sock" status >/dev/null 2>&1 && break
		kill -0 "$pwd_pid" 2>/dev/null || break
		sleep 0.02
	done
	if ! "$pwcli" --socket "$work/pwd.sock" apply -f "$objs" >/dev/null; then
		echo "run.sh: podwalld did not take the benchmark's objects: $(tail -5 "$work/pwd.log")" >&2
		exit 1
	fi
}

# Stop it and take its programs off the veths and the cgroup root (a stopped daemon keeps
# enforcing by design), so the next configuration starts from nothing attached.
daemon_stop() {
	[ -n "$pwd_pid" ] || return 0
	kill -TERM "$pwd_pid" 2>/dev/null || true
	wait "$pwd_pid" 2>/dev/null || true
	pwd_pid=""
	nsenter --net="/run/netns/$node" "$pwdaemon" --bpffs "$pwd_bpffs" \
		--cgroup-root "$cgtop/pwd" --uninstall >>"$work/pwd.log" 2>&1 || true
	rm -rf "$pwd_bpffs" 2>/dev/null || true
}

daemon_records() { # flow records the daemon wrote (flow log on)
	if [ -f "$work/pwd-flows.jsonl" ]; then wc -l <"$work/pwd-flows.jsonl"; else echo 0; fi
}

daemon_packets() { # REASON -> packets the daemon's datapath counted with that reason
	"$pwcli" --socket "$work/pwd.sock" status -o json |
		jq --arg r "$1" '[.. | objects | select(.reason? == $r) | .packets] | add // 0'
}

# --- configurations ------------------------------------------------------------------------

cur_pw_scale=""

ipt_measured_pkts() { # packets the measured policy's TCP rule accepted (or marked)
	local n=$1 meas
	meas=$(awk -v n="$n" '$1 == n { print $2 }' "$work/meas_policy")
	ip netns exec "$node" iptables -w -L "PW-POL-$meas" -n -v -x | awk 'NR == 3 { print $1 }'
}

config_apply() { # kind scale
	case "$1" in
	baseline) ;;
	empty)
		pwc "empty on"
		if [ "$(pw_counter tc_progs)" != 4 ] || [ "$(pw_counter sock_progs)" != 8 ]; then
			echo "run.sh: empty programs not all attached: $pwc_reply" >&2
			exit 1
		fi ;;
	nopolicy) daemon_start 0 "$work/pwd-nopolicy.yaml" ;;
	podwall|pwwide)
		if [ "$cur_pw_scale" != "$2" ]; then
			pwc "scale $2"
			echo "$2 $pwc_reply" >>"$work/pw_scale.log"
			cur_pw_scale=$2
		fi
		pwc on ;;
	iptables|iptwide)
		ip netns exec "$node" ipset restore <"$work/ipset.$2"
		ip netns exec "$node" iptables-restore -w <"$work/iptables.$2" ;;
	podwalld) daemon_start "$2" ;;
	esac
}

config_remove() { # kind
	case "$1" in
	empty)
		pwc "empty off"
		if [ "$(pw_counter tc_progs)" != 0 ]; then
			echo "run.sh: empty TC programs still attached: $pwc_reply" >&2
			exit 1
		fi ;;
	podwall|pwwide) pwc off ;;
	podwalld|nopolicy) daemon_stop ;;
	iptables|iptwide)
		# remove the table itself, not just its rules: an empty iptables-nft table would
		# still hook every packet and keep conntrack on for the next configuration
		ip netns exec "$node" nft flush ruleset
		ip netns exec "$node" ipset destroy ;;
	esac
	# what the next configuration starts from: no nft/iptables table, no set
	if [ -n "$(ip netns exec "$node" nft list tables)" ] ||
	   [ -n "$(ip netns exec "$node" ipset list -n)" ]; then
		echo "run.sh: node netns still holds rules or sets after $1" >&2
		exit 1
	fi
}

# --- measurement ---------------------------------------------------------------------------

IFS=, read -r -a tests <<<"$test_list"
for t in "${tests[@]}"; do
	case "$t" in rr|crr|stream|udp_rr) ;; *) echo "run.sh: unknown test $t" >&2; usage ;; esac
done

# One configuration in one round: apply, check it enforces what it claims, run the four tests.
run_config() { # round kind scale
	local r=$1 kind=$2 scale=$3 set=plain t line before after
	case "$kind" in
	podwall|pwwide) set=pw ;;
	podwalld|nopolicy) set=pwd ;;
	empty) set=emp ;;
	esac
	config_apply "$kind" "$scale"
	servers_start "$set"
	# the allowed port must answer; the other port only without enforcement
	if ! probe "$set" "$port"; then
		echo "run.sh: $kind $scale: the allowed flow does not pass" >&2
		exit 1
	fi
	if [ "$kind" = baseline ] || [ "$kind" = empty ] || [ "$kind" = nopolicy ]; then
		probe "$set" "$deny_port" || { echo "run.sh: $kind blocks $deny_port" >&2; exit 1; }
	elif probe "$set" "$deny_port"; then
		echo "run.sh: $kind $scale does not enforce: port $deny_port answered" >&2
		exit 1
	fi
	if [ "$kind" = podwall ] || [ "$kind" = pwwide ]; then
		pwc stats
		before=$pwc_reply
	elif [ "$kind" = nopolicy ]; then
		before=$(daemon_packets not-isolated)
	fi
	local s=$secs
	[ "$r" = 0 ] && s=0.3
	# the test order rotates with the round too
	local i n=${#tests[@]}
	for ((i = 0; i < n; i++)); do
		t=${tests[$(((i + r) % n))]}
		if ! line=$(in_pod "$cgtop/$set/client" "$cns" timeout 60 "$pwload" client \
			--mode "$t" --addr "$server_ip" --port "$port" --seconds "$s" \
			--warmup-ms "$warm_ms" 2>&1); then
			echo "run.sh: $kind $scale $t failed: $line" >&2
			exit 1
		fi
		echo "round=$r kind=$kind scale=$scale test=$t $line" >>"$work/results.raw"
	done
	if [ "$kind" = podwall ] || [ "$kind" = pwwide ]; then
		pwc stats
		after=$pwc_reply
		echo "round=$r scale=$scale before: $before after: $after" >>"$work/pw_stats.log"
		pwc_reply=$before; local a0 d0; a0=$(pw_counter allowed_by_policy); d0=$(pw_counter drops)
		pwc_reply=$after; local a1 d1; a1=$(pw_counter allowed_by_policy); d1=$(pw_counter drops)
		if [ "$a1" -le "$a0" ]; then
			echo "run.sh: podwall $scale: no flow was admitted by a policy entry" >&2
			exit 1
		fi
		echo "$r $scale $((a1 - a0)) $((d1 - d0))" >>"$work/pw_verdicts"
	elif [ "$kind" = nopolicy ]; then
		# podwall saw the flows and let them through as not isolated
		after=$(daemon_packets not-isolated)
		if [ "$after" -le "$before" ]; then
			echo "run.sh: podwalld without policy counted no not-isolated packet" >&2
			exit 1
		fi
		echo "$r $((after - before))" >>"$work/nopolicy_verdicts"
	elif [ "$kind" = iptables ] || [ "$kind" = iptwide ]; then
		local pk; pk=$(ipt_measured_pkts "$scale")
		if [ -z "$pk" ] || [ "$pk" -le 0 ]; then
			echo "run.sh: iptables $scale: the measured policy's rule matched nothing" >&2
			exit 1
		fi
		echo "$r $scale $pk" >>"$work/ipt_verdicts"
	elif [ "$kind" = podwalld ] && [ "$scale" = 1 ]; then
		# every connection is admitted twice (client egress, server ingress), so recorded twice
		local nrec; nrec=$(daemon_records)
		if [ "$nrec" -le 0 ]; then
			echo "run.sh: podwalld with its flow log wrote no record" >&2
			exit 1
		fi
		echo "$r $nrec $("$pwcli" --socket "$work/pwd.sock" status -o json |
			jq -c '.daemon.flow_stats | {records, lost}' 2>/dev/null)" >>"$work/pwd_records"
	fi
	servers_stop
	config_remove "$kind"
}

# --- main ----------------------------------------------------------------------------------

cleanup_stale
IFS=, read -r -a scale_list <<<"$scales"
IFS=, read -r -a wide_list <<<"$wide"
log "scales ${scale_list[*]}, wide ${wide_list[*]}, $rounds rounds of ${secs}s per test (+ a warm-up round)"
setup_topology
check_ipset_netns
[ "$ipset_limit" = probe ] && count_ipset_limit

: >"$work/meas_policy"
: >"$work/shapes"
for n in "${scale_list[@]}" "${wide_list[@]}"; do
	"$pwpeers" iptables "$n" "$work"
	"$pwpeers" shape "$n" >>"$work/shapes"
	"$pwpeers" shape "$n" | tr ' ' '\n' | awk -F= -v n="$n" \
		'$1 == "measured_policy" { print n, $2 }' >>"$work/meas_policy"
done
pwc_start
log "podwall datapath open in the node netns (TC: $tc_mode)"

daemon_manifests
configs=("baseline 0" "empty 0" "nopolicy 0" "podwalld 1" "podwalld 0")
for n in "${scale_list[@]}"; do configs+=("podwall $n" "iptables $n"); done
for n in "${wide_list[@]}"; do configs+=("pwwide $n" "iptwide $n"); done
if [ -n "$only" ]; then
	kept=()
	for c in "${configs[@]}"; do [[ $c =~ $only ]] && kept+=("$c"); done
	[ ${#kept[@]} -gt 0 ] || { echo "run.sh: --only $only matches no configuration" >&2; exit 2; }
	configs=("${kept[@]}")
fi
nc=${#configs[@]}
load_start=$(cut -d' ' -f1 /proc/loadavg)
t_start=$(date +%s)
for ((r = 0; r <= rounds; r++)); do
	for ((k = 0; k < nc; k++)); do
		# rotate the order every round and reverse it every other round: no configuration
		# always follows the same one, and podwall N runs as often just before iptables N
		# as just after it (A/B, B/A)
		if ((r % 2)); then
			c=${configs[$(((nc - 1 - k + r) % nc))]}
		else
			c=${configs[$(((k + r) % nc))]}
		fi
		run_config "$r" $c
	done
	log "round $r of $rounds done ($(( $(date +%s) - t_start )) s)"
done
load_end=$(cut -d' ' -f1 /proc/loadavg)

{
	echo "date=$(date -u +%Y-%m-%dT%H:%MZ)"
	echo "kernel=$(uname -r)"
	echo "cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "ncpu=$(nproc)"
	echo "mem=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "os=$(. /etc/os-release && echo "$PRETTY_NAME")"
	echo "iptables=$(iptables --version)"
	echo "ipset=$(ipset version | head -1)"
	echo "ipset_limit=$ipset_limit"
	echo "tc_mode=$tc_mode"
	echo "rounds=$rounds"
	echo "secs=$secs"
	echo "warm_ms=$warm_ms"
	echo "pin_cpu=$cpu"
	echo "prio=$prio"
	echo "quick=$quick"
	echo "load=$load_start -> $load_end"
	echo "elapsed=$(( $(date +%s) - t_start ))"
} >"$work/meta"

mkdir -p "$out"
# PWBENCH_KEEP=DIR keeps a copy of the run's work files, to rework the report (report.sh --work)
[ -n "${PWBENCH_KEEP:-}" ] && cp -r "$work/." "$PWBENCH_KEEP/"
"$here/report.sh" --work "$work" --out "$out"
log "wrote $out/peers.md"
