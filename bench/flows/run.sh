#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The flow-log benchmark: how many flow records per second get from the kernel to podwalld's
# file sink while pods open TCP connections as fast as they can, what is lost at that rate,
# and what the daemon's CPU time per 100k records is.
#
#   bench/flows/run.sh [--build DIR] [--seconds S] [--max-conn N] [--clients P[,P...]]
#                      [--markdown FILE] [--quick] [--no-ends]
#
# Topology (e2e/topology.sh): a node netns running the real podwalld with --flow-log FILE,
# client pods (namespace bench-c, app=client) and one server pod (bench-s, app=server). A
# policy allows the clients' egress to the server on TCP 7000 and another the server's
# ingress from them, so every connection is admitted twice (client egress, server ingress),
# with attribution, and is recorded twice as flow_new. Each configuration (P clients; default
# 1, then 2) has pods of its own, each running `pwflowgen flood`: connect, reset right after
# the handshake (no TIME_WAIT), repeat, for S seconds or until N connections in all (at most
# 60,000 per client: each binds its own source ports in turn, so no 5-tuple repeats, and
# conntrack, 262,144 entries, never evicts).
#
# Phase 1 (flow starts): from the flood's start until the file stops growing. Phase 2 (flow
# ends): the daemon's conntrack sweep (every 5 s; a reset flow ends 10 s after its RST) writes
# one flow_end per entry. For each phase: records written, records/s, perf-buffer samples lost
# (podwalld status), and the daemon's CPU time (utime + stime from /proc/PID/stat) per 100k
# records. Everything made is named with this shell's pid and removed on every path.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=$top/build
secs=10
maxconn=100000
clients=1,2
markdown=""
ends=1
lib_args=()

usage() {
	sed -n '7,8p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-2}"
}
while [ $# -gt 0 ]; do
	case "$1" in
	--build) build=$2; shift 2 ;;
	--seconds) secs=$2; shift 2 ;;
	--max-conn) maxconn=$2; shift 2 ;;
	--clients) clients=$2; shift 2 ;;
	--markdown) markdown=$2; shift 2 ;;
	--quick) secs=2; maxconn=5000; ends=0; clients=2; lib_args=(--records 5000 --rounds 3)
		shift ;;
	--no-ends) ends=0; shift ;;
	-h|--help) usage 0 ;;
	*) usage ;;
	esac
done
case "$build" in /*) ;; *) build=$PWD/$build ;; esac
case "$markdown" in ""|/*) ;; *) markdown=$PWD/$markdown ;; esac

if [ "$(id -u)" -ne 0 ]; then
	echo "bench/flows/run.sh: needs root (netns, cgroups, BPF)" >&2
	exit 1
fi
for t in jq taskset; do
	command -v $t >/dev/null || { echo "bench/flows/run.sh: needs $t" >&2; exit 1; }
done
PW_DAEMON=$build/ctl/podwalld
PW_CLI=$build/ctl/podwall
PW_PROBE=$build/e2e/pwprobe
PW_GEN=$build/netns-tests/flows/pwflowgen
for b in "$PW_DAEMON" "$PW_CLI" "$PW_PROBE" "$PW_GEN"; do
	[ -x "$b" ] || { echo "bench/flows/run.sh: $b is not built" >&2; exit 1; }
done

# shellcheck source=../../e2e/topology.sh
. "$top/e2e/topology.sh"
trap 'trap "" PIPE HUP INT TERM; topo_cleanup; exit $rc' EXIT
trap 'rc=130; exit 130' INT TERM
rc=1

log() { printf '[flows %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
now() { date +%s.%N; }
# daemon CPU seconds (utime + stime)
cpu_s() {
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' \
		"/proc/$TOPO_DAEMON/stat"
}
lines() { wc -l <"$TOPO_FLOWS"; }
kind_count() { grep -c "\"kind\":\"$1\"" "$TOPO_FLOWS"; }
lost() { pw status -o json | jq '.daemon.flow_stats.lost'; }
# calc EXPR [DECIMALS]: awk arithmetic (parenthesised: a bare ">" would be a redirection)
calc() { awk "BEGIN { printf \"%.${2:-0}f\", ($1) }"; }

S_IP=198.18.8.100
IFS=, read -r -a configs <<<"$clients"
topo_init flowbench || exit 1
mkdir -p "$TOPO_WORK/m"
{
	for ns in bench-c bench-s; do
		printf -- '---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' $ns
	done
} >"$TOPO_WORK/m/objects.yaml"
pod_yaml() { # NS NAME APP IFNAME IP4 IP6
	printf -- '---\napiVersion: v1\nkind: Pod\nmetadata:\n  namespace: %s\n  name: %s\n' "$1" "$2"
	printf '  labels:\n    app: %s\n' "$3"
	printf '  annotations:\n    podwall.io/interface: %s\n    podwall.io/cgroup: %s/%s\n' \
		"$4" "$1" "$2"
	printf 'status:\n  podIPs:\n  - ip: %s\n  - ip: %s\n' "$5" "$6"
}
topo_pod s1 lxc-s1 bench-s/s1 $S_IP fd00::8:100 || exit 1
pod_yaml bench-s s1 server lxc-s1 $S_IP fd00::8:100 >>"$TOPO_WORK/m/objects.yaml"
# configuration j's clients are c<j>x<k>, 198.18.8.<10 (j + 1) + k>: addresses of their own,
# so no configuration meets another's conntrack entries
for ((j = 0; j < ${#configs[@]}; j++)); do
	for ((k = 1; k <= configs[j]; k++)); do
		a=$((10 * (j + 1) + k))
		topo_pod c${j}x$k lxc-c${j}x$k bench-c/c${j}x$k 198.18.8.$a fd00::8:$a || exit 1
		pod_yaml bench-c c${j}x$k client lxc-c${j}x$k 198.18.8.$a fd00::8:$a \
			>>"$TOPO_WORK/m/objects.yaml"
	done
done
cat >"$TOPO_WORK/m/policies.yaml" <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  namespace: bench-s
  name: allow-clients
spec:
  podSelector:
    matchLabels:
      app: server
  ingress:
  - from:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: bench-c
    ports:
    - protocol: TCP
      port: 7000
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  namespace: bench-c
  name: client-egress
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: bench-s
    ports:
    - protocol: TCP
      port: 7000
EOF

topo_enter s1
"${TOPO_IN[@]}" "$PW_GEN" sink 7000 >"$TOPO_WORK/sink.out" 2>&1 &
TOPO_PIDS+=($!)
for i in $(seq 200); do
	grep -q serving "$TOPO_WORK/sink.out" 2>/dev/null && break
	sleep 0.02
done
topo_daemon_start || exit 1
pw apply -f "$TOPO_WORK/m/objects.yaml" -f "$TOPO_WORK/m/policies.yaml" >/dev/null || exit 1
# one connection end to end: the path is what the figures say it is (from a source port
# below the floods': a tuple conntrack still holds is not a new flow)
w=$(topo_in c0x1 "$PW_GEN" flood $S_IP 7000 1 1 800 2>/dev/null)
if [ "${w#flood 1 0 }" = "$w" ]; then
	log "probe connection failed: $w"
	exit 1
fi
for i in $(seq 100); do
	[ "$(kind_count flow_new)" -ge 2 ] && break
	sleep 0.05
done
if [ "$(kind_count flow_new)" -lt 2 ]; then
	log "the probe connection left no flow_new records"
	exit 1
fi
load0=$(cut -d' ' -f1-3 /proc/loadavg)

# drained: the file stops growing (0.2 s without a new line)
drain() {
	local prev=-1 cur

	while :; do
		cur=$(lines)
		[ "$cur" = "$prev" ] && break
		prev=$cur
		sleep 0.2
	done
}

rows=()
mdrows=()
notes=()
bad_acc=0
# measure J P: configuration J with P clients; appends to rows, mdrows, notes
measure() {
	local j=$1 n=$2 per i k c round extra=0 conns=0 failed=0 ok bad
	local l0 n0 e0 lost0 c0 t0 t1 t2 c1 n1 l1 lost1 c2 c3 lost2 e_want
	local flood_s p1_s p1_dec p1_new p1_rec p1_lost p1_cpu p1_acc p2_rec p2_lost p2_cpu
	local p2_span conn_rate p1_rate p1_loss p1_cpu100k p2_rate p2_loss p2_cpu100k pids=()

	per=$((maxconn / n))
	[ "$per" -gt 60000 ] && per=60000
	log "flood: $n client(s), ${secs} s or $((per * n)) connections"
	l0=$(lines)
	n0=$(kind_count flow_new)
	e0=$(kind_count flow_end)
	lost0=$(lost)
	c0=$(cpu_s)
	t0=$(now)
	for ((k = 1; k <= n; k++)); do
		# client k on CPU (k-1) mod ncpu: the load spreads like pods on a node
		topo_enter c${j}x$k
		taskset -c $(((k - 1) % $(nproc))) "${TOPO_IN[@]}" "$PW_GEN" flood $S_IP 7000 \
			"$secs" $per 1024 >"$TOPO_WORK/flood-$j-$k.out" 2>&1 &
		TOPO_PIDS+=($!)
		pids+=($!)
	done
	wait "${pids[@]}"
	t1=$(now)
	drain
	t2=$(calc "$(now) - 0.2" 3)
	c1=$(cpu_s)
	for ((k = 1; k <= n; k++)); do
		read -r _ ok bad _ <"$TOPO_WORK/flood-$j-$k.out"
		conns=$((conns + ok))
		failed=$((failed + bad))
	done
	# The kernel reports a perf-buffer loss with the next sample that fits in that CPU's
	# ring: one more connection from each CPU (source ports below the flood's) makes every
	# loss known. Should such a sample find its ring still full, another round follows.
	for round in 0 1 2 3 4; do
		for ((c = 0; c < $(nproc); c++)); do
			topo_enter c${j}x1
			taskset -c $c "${TOPO_IN[@]}" "$PW_GEN" flood $S_IP 7000 1 1 \
				$((900 + round * 16 + c)) >/dev/null 2>&1 && extra=$((extra + 1))
		done
		drain
		lost1=$(lost)
		n1=$(kind_count flow_new)
		[ $((n1 - n0 + lost1 - lost0)) -ge $((2 * (conns + extra))) ] && break
	done
	l1=$(lines)
	flood_s=$(calc "$t1 - $t0" 3)
	p1_s=$(calc "$t2 - $t0" 3)
	# each connection is a new 5-tuple: two new-flow decisions (client egress, server ingress)
	p1_dec=$((2 * (conns + extra)))
	p1_new=$((n1 - n0))
	p1_rec=$((l1 - l0))
	p1_lost=$((lost1 - lost0))
	p1_cpu=$(calc "$c1 - $c0" 2)
	if [ $((p1_new + p1_lost)) = "$p1_dec" ]; then
		p1_acc="all $p1_dec decisions accounted for ($p1_new flow_new records + $p1_lost lost)"
	else
		p1_acc="NOT ACCOUNTED: $p1_new flow_new records + $p1_lost lost != $p1_dec decisions"
		bad_acc=1
	fi
	conn_rate=$(calc "$conns / $flood_s")
	p1_rate=$(calc "$p1_rec / $p1_s")
	p1_loss=$(calc "100 * $p1_lost / $p1_dec" 2)
	p1_cpu100k=$(calc "$p1_rec ? 100000 * $p1_cpu / $p1_rec : 0" 2)
	rows+=("$(printf '%-8s %-12s %10s %10s %10s %8s %8s %14s' "$n" "flow starts" "$p1_rec" \
		"$p1_s" "$p1_rate" "$p1_lost" "$p1_loss" "$p1_cpu100k")")
	mdrows+=("| $n | flow starts | $p1_rec | $p1_s | $p1_rate | $p1_lost | $p1_loss % | $p1_cpu100k s |")
	notes+=("$n client(s): $conns connections in $flood_s s ($conn_rate/s), $failed failed; $p1_acc.")

	[ "$ends" = 1 ] || return 0
	log "waiting for the sweep to end $p1_dec flows (up to 45 s)"
	e_want=$((e0 + p1_dec))
	c2=$(cpu_s)
	for i in $(seq 450); do
		[ "$(kind_count flow_end)" -ge "$e_want" ] && break
		sleep 0.1
	done
	drain
	c3=$(cpu_s)
	lost2=$(lost)
	p2_rec=$(($(kind_count flow_end) - e0))
	p2_lost=$((lost2 - lost1))
	p2_cpu=$(calc "$c3 - $c2" 2)
	# the sweep writes its records in bursts: their own timestamps give the rate
	p2_span=$(jq -r 'select(.kind=="flow_end") | .time' "$TOPO_FLOWS" | tail -n "$p2_rec" |
		sed -n '1p;$p' | while read -r t; do date -d "$t" +%s.%N; done | paste -sd' ' |
		awk '{ printf "%.3f", $2 - $1 }')
	p2_rate=$(calc "$p2_span > 0 ? $p2_rec / $p2_span : 0")
	p2_loss=$(calc "100 * $p2_lost / $p1_dec" 2)
	p2_cpu100k=$(calc "$p2_rec ? 100000 * $p2_cpu / $p2_rec : 0" 2)
	rows+=("$(printf '%-8s %-12s %10s %10s %10s %8s %8s %14s' "$n" "flow ends" "$p2_rec" \
		"$p2_span" "$p2_rate" "$p2_lost" "$p2_loss" "$p2_cpu100k")")
	mdrows+=("| $n | flow ends | $p2_rec | $p2_span | $p2_rate | $p2_lost | $p2_loss % | $p2_cpu100k s |")
}

for ((j = 0; j < ${#configs[@]}; j++)); do
	measure "$j" "${configs[j]}"
done
bytes=$(stat -c %s "$TOPO_FLOWS")
bpr=$(calc "$bytes / $(lines)")

# the library's own cost per record, without the kernel or the perf buffer (bench_flowlog)
lib_md=$TOPO_WORK/bench_flowlog.md
lib_out=""
if [ -x "$build/bench/flows/bench_flowlog" ]; then
	lib_out=$("$build/bench/flows/bench_flowlog" "${lib_args[@]}" --dir "$TOPO_WORK" \
		--markdown "$lib_md") || lib_out=""
fi

# --- report --------------------------------------------------------------------------------
printf '\n%-8s %-12s %10s %10s %10s %8s %8s %14s\n' clients phase records seconds \
	"records/s" lost "loss %" "CPU s/100k rec"
printf '%s\n' "${rows[@]}"
echo
printf '%s\n' "${notes[@]}"
printf 'file: %s bytes, %s bytes/record\n' "$bytes" "$bpr"
[ -n "$lib_out" ] && printf '\nbench_flowlog (the library alone):\n%s\n' "$lib_out"

if [ -n "$markdown" ]; then
	{
		echo "## Flow logs: kernel to file"
		echo
		echo "\`bench/flows/run.sh\`: the real podwalld writing its \`--flow-log\` file on a"
		echo "simulated node while client pods open TCP connections to one server pod as fast"
		echo "as they can (connect, reset after the handshake, repeat; ${secs} s or $maxconn"
		echo "connections, at most 60,000 per client). Each connection is admitted by the"
		echo "client's egress policy and by the server's ingress policy, so it makes two"
		echo "\`flow_new\` records (attributed and enriched) and, after the conntrack sweep, two"
		echo "\`flow_end\` records."
		echo
		echo "- *flow starts*: from the flood's start until the file stops growing; *flow ends*:"
		echo "  the conntrack sweeps (every 5 s; a reset flow ends 10 s after its RST), from the"
		echo "  first to the last record's timestamp."
		echo "- *lost*: perf-buffer samples the kernel could not write (64 pages per CPU, the"
		echo "  daemon's fixed size), as reported to the daemon; loss = lost / new-flow decisions."
		echo "  Every run checks records + lost = decisions, exactly (line below the table)."
		echo "- *CPU*: the daemon's utime + stime over the phase (flow starts: the flood and the"
		echo "  drain after it; flow ends: the sweeps that wrote them), per 100k records written."
		echo
		echo "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) CPUs"
		echo "shared by the clients, the server, the softirqs and the daemon; Linux $(uname -r);"
		echo "measured $(date -u '+%Y-%m-%d %H:%M UTC') (load average before: $load0)."
		echo
		echo "| clients | phase | records | seconds | records/s | lost samples | loss | daemon CPU per 100k records |"
		echo "|--------:|-------|--------:|--------:|----------:|-------------:|-----:|----------------------------:|"
		printf '%s\n' "${mdrows[@]}"
		echo
		printf '%s\n' "${notes[@]}" | sed 's/^/- /'
		echo
		echo "Records average $bpr bytes (JSON lines)."
		echo
		echo "Reading the figures: the daemon is the limit, not the kernel. It formats, enriches"
		echo "and writes each record on one thread (1 s of CPU per 100k records is 10 µs a"
		echo "record), sharing the machine's CPUs with the pods that make the load, so its CPU"
		echo "time per record is the figure that carries over to other machines; records/s and"
		echo "loss depend on how much CPU the load leaves it. Its perf buffer (64 pages per CPU,"
		echo "about 2,180 records) absorbs a burst of roughly a tenth of a second at these rates;"
		echo "past that, samples are lost, and every loss is counted and reported (a \`lost\`"
		echo "record, and \`podwall status\`). Flow ends come from the conntrack sweep, which is not"
		echo "bounded by the perf buffer and lost nothing here; that holds while conntrack does"
		echo "not evict (an entry evicted from the full LRU map ends with no record), which the"
		echo "run's bounds guarantee."
		if [ -n "$lib_out" ]; then
			echo
			echo "Where the daemon's time goes: \`bench/flows/bench_flowlog\` feeds synthetic"
			echo "\`flow_new\` events to the flow-log library in one process, as the daemon's reader"
			echo "does, with an enricher that answers like the daemon's, on the same machine right"
			echo "after the run above. The difference from the daemon's figure is the perf-buffer"
			echo "reading, the wake-ups and the CPUs it shares with the load."
			echo
			cat "$lib_md"
		fi
	} >"$markdown"
	log "wrote $markdown"
fi
if [ "$bad_acc" = 1 ]; then
	log "some decisions are neither a record nor a reported loss"
	exit 1
fi
rc=0
exit 0
