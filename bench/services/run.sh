#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Services: TCP_CRR through a ClusterIP that podwall translates at the socket (1, 10 and 1,000
# backends) against direct connections to the server's address, and against kube-proxy-style
# iptables DNAT rules in the node netns (10 and 10,000 Services), interleaved in one run.
# Usually started by scripts/bench.sh; by hand:
#
#   bench/services/run.sh --build BUILD_DIR [--markdown FILE] [--quick] [--rounds N]
#                         [--seconds S] [--scales 10,10000]
#
# Topology (design.md's test topology): a node netns, a client pod and a server pod joined to
# it by veths. podwalld runs in the node netns with the client bound (its cgroup and veth) and
# no NetworkPolicy, so its per-connection socket and TC work is the same in every
# configuration and the figures isolate the Service translation. The server holds 1,024
# addresses (198.18.16.0/22): the backends. One pwload server answers on all of them.
#   direct         the client connects to a backend address (no translation at all);
#   clusterip N    to the ClusterIP of a Service with N ready backends (podwall);
#   iptables N     to the ClusterIP of the last of N Services in kube-proxy's layout:
#                  nat PREROUTING -> KUBE-SERVICES (one rule per Service, matched in order)
#                  -> KUBE-SVC-* (statistic random over its endpoints) -> KUBE-SEP-* (DNAT).
#                  The measured Service has 10 endpoints, the others one each. Only the
#                  first packet of a connection walks the nat table; conntrack does the rest.
# Each round visits every configuration in a rotated order; round 0 is a warm-up, discarded.
# Everything is named with this shell's pid and removed on every path (trap); iptables rules
# exist only inside the node netns.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=$top/build
md=""
quick=0
rounds=""
secs=""
scales=""

while [ $# -gt 0 ]; do
	case "$1" in
	--build) build=$2; shift 2 ;;
	--markdown) md=$2; shift 2 ;;
	--quick) quick=1; shift ;;
	--rounds) rounds=$2; shift 2 ;;
	--seconds) secs=$2; shift 2 ;;
	--scales) scales=$2; shift 2 ;;
	-h|--help) sed -n '3,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done
if [ "$quick" = 1 ]; then
	: "${rounds:=2}" "${secs:=0.4}" "${scales:=10,10000}"
else
	: "${rounds:=6}" "${secs:=1.0}" "${scales:=10,10000}"
fi

pwload=$build/bench/pwload
daemon=$(find "$build/ctl" -maxdepth 2 -name podwalld -type f -executable | head -1)
cli=$(find "$build/ctl" -maxdepth 2 -name podwall -type f -executable | head -1)
for b in "$pwload" "$daemon" "$cli"; do
	[ -n "$b" ] && [ -x "$b" ] || { echo "run.sh: pwload, podwalld or podwall missing in $build: build first" >&2; exit 1; }
done
for t in ip iptables-restore nsenter taskset; do
	command -v "$t" >/dev/null || { echo "run.sh: $t missing" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "run.sh: needs root (netns, BPF, iptables in a netns)" >&2; exit 1; }

id=$$
node=pwv${id}n
cns=pwv${id}c
sns=pwv${id}s
hc=pwv${id}hc
hs=pwv${id}hs
cg2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$cg2" ] || { echo "run.sh: no cgroup2 mount" >&2; exit 1; }
cgtop=$cg2/pwsvcbench-$id
bpffs=/sys/fs/bpf/pwsvcbench-$id
work=$(mktemp -d "/tmp/pwsvcbench-$id.XXXXXX")
client_ip=198.18.0.1
server_ip=198.18.0.2
gw=198.19.255.254
port=8080
cpu=$(($(nproc) - 1))
pids=()
dpid=""

log() { printf '[services %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

cleanup() {
	local rc=$? p left=""
	trap - EXIT INT TERM
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	if [ -n "$dpid" ]; then
		kill "$dpid" 2>/dev/null || true
	fi
	wait 2>/dev/null || true
	# the daemon leaves its pins (enforcement outlives it): remove them with --uninstall
	[ -d "$bpffs" ] && nsenter --net="/run/netns/$node" "$daemon" --bpffs "$bpffs" \
		--uninstall >/dev/null 2>&1 || true
	for ns in "$cns" "$sns" "$node"; do ip netns del "$ns" 2>/dev/null || true; done
	for d in "$cgtop/pods/client" "$cgtop/pods/server" "$cgtop/pods" "$cgtop"; do
		[ -e "$d/cgroup.kill" ] && echo 1 >"$d/cgroup.kill" 2>/dev/null || true
	done
	sleep 0.2
	for d in "$cgtop/pods/client" "$cgtop/pods/server" "$cgtop/pods" "$cgtop"; do
		rmdir "$d" 2>/dev/null || true
	done
	umount "$bpffs" 2>/dev/null || true
	rmdir "$bpffs" 2>/dev/null || true
	rm -rf "$work"
	for ns in "$cns" "$sns" "$node"; do [ -e "/run/netns/$ns" ] && left="$left netns:$ns"; done
	[ -d "$cgtop" ] && left="$left cgroup:$cgtop"
	[ -d "$bpffs" ] && left="$left bpffs:$bpffs"
	if [ -n "$left" ]; then
		echo "run.sh: left behind:$left" >&2
		[ $rc -eq 0 ] && rc=1
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- topology ------------------------------------------------------------------------------

setup_pod() { # netns host_if addr
	ip netns add "$1"
	ip -n "$node" link add "$2" type veth peer name eth0 netns "$1"
	ip -n "$node" addr add "$gw/32" dev "$2"
	ip -n "$node" link set "$2" up
	ip -n "$node" route add "$3/32" dev "$2"
	ip -n "$1" link set lo up
	ip -n "$1" addr add "$3/32" dev eth0
	ip -n "$1" link set eth0 up
	ip -n "$1" route add "$gw/32" dev eth0 scope link
	ip -n "$1" route add default via "$gw" dev eth0
}

ip netns add "$node"
ip -n "$node" link set lo up
ip netns exec "$node" sysctl -qw net.ipv4.ip_forward=1
setup_pod "$cns" "$hc" "$client_ip"
setup_pod "$sns" "$hs" "$server_ip"
ip netns exec "$cns" sysctl -qw net.ipv4.tcp_tw_reuse=1
ip netns exec "$cns" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
# the backends: 1,024 addresses on the server, routed to it by the node
backend() { echo "198.18.$((16 + $1 / 256)).$(($1 % 256))"; }
for i in $(seq 0 1023); do echo "addr add $(backend "$i")/32 dev eth0"; done >"$work/addrs"
ip -n "$sns" -b "$work/addrs"
# through the server's own address: one neighbour entry, whatever the number of backends
ip -n "$node" route add 198.18.16.0/22 via "$server_ip" dev "$hs"
mkdir -p "$cgtop/pods/client" "$cgtop/pods/server"

in_pod() { # cgroup netns command...: join the cgroup first, then the netns (design.md)
	local cg=$1 ns=$2
	shift 2
	(
		echo "$BASHPID" >"$cg/cgroup.procs"
		exec nice -n -10 taskset -c "$cpu" ip netns exec "$ns" "$@"
	)
}

in_pod "$cgtop/pods/server" "$sns" "$pwload" server --port "$port" --max-seconds 1800 \
	>"$work/server.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q ready "$work/server.out" 2>/dev/null && break; sleep 0.02; done
grep -q ready "$work/server.out" || { log "server did not start"; exit 1; }

# the kube-proxy-style rulesets, one file per scale; and an empty nat table
nat_rules() { # N: N Services, the last one measured (10 endpoints)
	local n=$1 i k last=$(($1 - 1))
	echo "*nat"
	echo ":KUBE-SERVICES - [0:0]"
	for i in $(seq 0 "$last"); do echo ":KUBE-SVC-$i - [0:0]"; done
	for i in $(seq 0 $((last - 1))); do echo ":KUBE-SEP-$i-0 - [0:0]"; done
	for k in $(seq 0 9); do echo ":KUBE-SEP-$last-$k - [0:0]"; done
	echo "-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"
	for i in $(seq 0 "$last"); do
		echo "-A KUBE-SERVICES -d 198.19.$((64 + i / 256)).$((i % 256))/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-$i"
	done
	for i in $(seq 0 $((last - 1))); do
		echo "-A KUBE-SVC-$i -j KUBE-SEP-$i-0"
		echo "-A KUBE-SEP-$i-0 -p tcp -m tcp -j DNAT --to-destination $(backend $((i % 1024))):$port"
	done
	# kube-proxy's spread: endpoint k of n taken with probability 1/(n-k)
	for k in $(seq 0 9); do
		if [ "$k" -lt 9 ]; then
			printf -- "-A KUBE-SVC-%s -m statistic --mode random --probability %.11f -j KUBE-SEP-%s-%s\n" \
				"$last" "$(awk -v k="$k" 'BEGIN { print 1 / (10 - k) }')" "$last" "$k"
		else
			echo "-A KUBE-SVC-$last -j KUBE-SEP-$last-$k"
		fi
		echo "-A KUBE-SEP-$last-$k -p tcp -m tcp -j DNAT --to-destination $(backend "$k"):$port"
	done
	echo "COMMIT"
}
printf '*nat\nCOMMIT\n' >"$work/nat-none"
IFS=, read -r -a scale_list <<<"$scales"
for n in "${scale_list[@]}"; do nat_rules "$n" >"$work/nat-$n"; done
ipt_cip() { local i=$(($1 - 1)); echo "198.19.$((64 + i / 256)).$((i % 256))"; }
# TIME_WAIT entries of the node's conntrack would fill its table at thousands of connections
# a second
ip netns exec "$node" iptables-restore <"$work/nat-none"
ip netns exec "$node" sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=2 2>/dev/null || true

# --- podwall -------------------------------------------------------------------------------

nsenter --net="/run/netns/$node" "$daemon" --socket "$work/sock" --bpffs "$bpffs" \
	--cgroup-root "$cgtop/pods" --state-dir "$work/state" --service-cidr 198.19.0.0/18 \
	2>"$work/podwalld.log" &
dpid=$!
for _ in $(seq 300); do "$cli" --socket "$work/sock" status >/dev/null 2>&1 && break; sleep 0.02; done
"$cli" --socket "$work/sock" status >/dev/null || { log "podwalld did not start"; cat "$work/podwalld.log" >&2; exit 1; }

svc() { # NAME CLUSTERIP N: a Service and one slice of N ready backends
	printf -- '---\napiVersion: v1\nkind: Service\nmetadata: {name: %s}\nspec:\n' "$1"
	printf '  clusterIP: %s\n  ports: [{port: 80, targetPort: %s}]\n' "$2" "$port"
	printf -- '---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n'
	printf '  name: %s-1\n  labels: {kubernetes.io/service-name: %s}\n' "$1" "$1"
	printf 'addressType: IPv4\nports: [{port: %s}]\nendpoints:\n' "$port"
	for i in $(seq 0 $(($3 - 1))); do printf -- '- addresses: ["%s"]\n' "$(backend "$i")"; done
}
{
	printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: client\n  annotations:\n'
	printf '    podwall.io/interface: %s\n    podwall.io/cgroup: client\n' "$hc"
	printf 'status:\n  podIPs: [{ip: %s}]\n' "$client_ip"
	svc b1 198.19.1.1 1
	svc b10 198.19.1.10 10
	svc b1000 198.19.1.100 1000
} >"$work/objects.yaml"
"$cli" --socket "$work/sock" apply -f "$work/objects.yaml" >/dev/null

# --- measure -------------------------------------------------------------------------------

configs=(direct clusterip-1 clusterip-10 clusterip-1000)
for n in "${scale_list[@]}"; do configs+=("iptables-$n"); done
target() { # config -> address
	case "$1" in
	direct) backend 0 ;;
	clusterip-1) echo 198.19.1.1 ;;
	clusterip-10) echo 198.19.1.10 ;;
	clusterip-1000) echo 198.19.1.100 ;;
	iptables-*) ipt_cip "${1#iptables-}" ;;
	esac
}
tport() { case "$1" in direct) echo "$port" ;; *) echo 80 ;; esac; }
nat_of() { case "$1" in iptables-*) echo "$work/nat-${1#iptables-}" ;; *) echo "$work/nat-none" ;; esac; }

# the enforcement check: each configuration reaches the server before it is measured
cur_nat=""
set_nat() {
	if [ "$cur_nat" != "$1" ]; then
		ip netns exec "$node" iptables-restore <"$1"
		cur_nat=$1
	fi
}
for c in "${configs[@]}"; do
	set_nat "$(nat_of "$c")"
	in_pod "$cgtop/pods/client" "$cns" "$pwload" probe --addr "$(target "$c")" \
		--port "$(tport "$c")" --timeout-ms 1000 >/dev/null ||
		{ log "$c: $(target "$c"):$(tport "$c") does not answer"; exit 1; }
done

results=$work/results
: >"$results"
log "${#configs[@]} configurations, $rounds rounds of ${secs}s TCP_CRR each (round 0 discarded)"
for r in $(seq 0 "$rounds"); do
	for j in $(seq 0 $((${#configs[@]} - 1))); do
		c=${configs[$(((j + r) % ${#configs[@]}))]}
		set_nat "$(nat_of "$c")"
		line=$(in_pod "$cgtop/pods/client" "$cns" "$pwload" client --mode crr \
			--addr "$(target "$c")" --port "$(tport "$c")" --seconds "$secs" --warmup-ms 100)
		[ "$r" = 0 ] || echo "$c $line" >>"$results"
	done
done
set_nat "$work/nat-none"
ended=$("$cli" --socket "$work/sock" status -o json | grep -o '"frontends": *[0-9]*' || true)

# --- report --------------------------------------------------------------------------------

field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
direct_rate=$(grep '^direct ' "$results" | field rate | median)
table=$work/table
{
	echo "| configuration | connections/s (median of $rounds) | vs direct | p50 µs | p99 µs | errors |"
	echo "|---|---:|---:|---:|---:|---:|"
	for c in "${configs[@]}"; do
		rate=$(grep "^$c " "$results" | field rate | median)
		p50=$(grep "^$c " "$results" | field p50_us | median)
		p99=$(grep "^$c " "$results" | field p99_us | median)
		errs=$(grep "^$c " "$results" | field errors | awk '{ s += $1 } END { print s + 0 }')
		printf '| %s | %.0f | %.3f | %.1f | %.1f | %s |\n' "$c" "$rate" \
			"$(awk -v a="$rate" -v b="$direct_rate" 'BEGIN { print a / b }')" "$p50" "$p99" \
			"$errs"
	done
} >"$table"
cat "$table"
if [ -n "$md" ]; then
	{
		echo "## Services: ClusterIP translation"
		echo
		echo "\`bench/services/run.sh\`: TCP_CRR (connect, one 1-byte request and reply, close; one"
		echo "connection at a time) from a client pod, $rounds rounds of ${secs} s per configuration,"
		echo "configurations interleaved in rotated order, medians over rounds. *direct* connects to"
		echo "a backend address; *clusterip N* to a ClusterIP podwall translates in the client's"
		echo "connect() (a Service with N ready backends); *iptables N* to the last of N"
		echo "Services written as kube-proxy writes them (nat PREROUTING → KUBE-SERVICES, one rule"
		echo "per Service → KUBE-SVC statistic → KUBE-SEP DNAT) in the node netns. podwall is"
		echo "attached in every configuration, with no NetworkPolicy, so the ratios isolate the"
		echo "Service translation. Same machine, same run:"
		echo
		cat "$table"
		echo
		echo "The socket-level choice is two hash lookups and a random number at connect(), then"
		echo "nothing per packet, whatever the number of backends or Services (what differs with"
		echo "1,000 backends is the spread over 1,000 destination addresses, which this run does"
		echo "not separate from the choice)."
		echo "kube-proxy's iptables walks KUBE-SERVICES rule by rule for the first packet of"
		echo "every connection, so its cost grows with the number of Services; conntrack NATs"
		echo "the rest of each connection. The translation's own cost cannot be isolated with"
		echo "BPF_PROG_TEST_RUN (cgroup sock_addr programs cannot be test-run), so the live ratio"
		echo "is the figure. On a busy machine the rates swing with preemption stalls (the p99"
		echo "column): ratios within about 15% of 1 are noise, and the median latency is the"
		echo "steadier comparison. Measured $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc)"
		echo "CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end."
	} >"$md"
fi
log "done${ended:+ ($ended)}"
