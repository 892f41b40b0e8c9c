#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The flow-log benchmark: how many flow records per second get from the kernel to podwalld's
# file sink while pods open TCP connections as fast as they can, what is lost at that rate,
# and what the daemon's CPU time per 100k records is, for each event ring size.
#
#   bench/flows/run.sh [--build DIR] [--seconds S] [--max-conn N] [--clients P[,P...]]
#                      [--perf-pages N[,N...]] [--markdown FILE] [--quick] [--no-ends]
#
# Topology (e2e/topology.sh): a node netns running the real podwalld with --flow-log FILE,
# client pods (namespace bench-c, app=client) and one server pod (bench-s, app=server). A
# policy allows the clients' egress to the server on TCP 7000 and another the server's
# ingress from them, so every connection is admitted twice (client egress, server ingress),
# with attribution, and is recorded twice as flow_new. For each ring size (--perf-pages;
# default 64, then 512 pages per CPU) the daemon is restarted with that size (it replays the
# objects applied through the CLI from its --state-dir journal) and every configuration runs
# (P clients; default 1, then 2). Each run of a configuration has pods of its own, each running
# `pwflowgen flood`: connect, reset right after the handshake (no TIME_WAIT), repeat, for S
# seconds or until N connections in all (at most 60,000 per client: each binds its own source
# ports in turn, so no 5-tuple repeats, and conntrack, 262,144 entries, never evicts).
#
# Phase 1 (flow starts): from the flood's start until the file stops growing; the daemon
# reports a loss at its first drain after it, so records + lost must then equal the
# decisions, exactly. Phase 2 (flow ends): the daemon's conntrack sweep writes one flow_end
# per entry once the reset flow's closing timeout has passed. For each phase: records
# written, records/s, perf-buffer samples lost (podwalld status), and the daemon's CPU time
# (utime + stime from /proc/PID/stat) per 100k records. Everything made is named with this
# shell's pid and removed on every path.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=$top/build
secs=10
maxconn=100000
clients=1,2
pages=64,512
markdown=""
ends=1
# bench_flowlog prints the path before the streaming writer beside it (same run)
lib_args=(--old)

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
	--perf-pages) pages=$2; shift 2 ;;
	--markdown) markdown=$2; shift 2 ;;
	--quick) secs=2; maxconn=5000; ends=0; clients=2; pages=64
		lib_args=(--records 5000 --rounds 3 --old); shift ;;
	--no-ends) ends=0; shift ;;
	-h|--help) usage 0 ;;
	*) usage ;;
	esac
done
case "$build" in /*) ;; *) build=$PWD/$build ;; esac
case "$markdown" in ""|/*) ;; *) markdown=$PWD/$markdown ;; esac
IFS=, read -r -a configs <<<"$clients"
IFS=, read -r -a rings <<<"$pages"
for n in "${configs[@]}"; do
	case "$n" in
	[1-9] | [1-9][0-9]) ;;
	*) echo "bench/flows/run.sh: --clients $clients: each a number of clients, 1 to 99" >&2
		exit 2 ;;
	esac
done
for n in "${rings[@]}"; do
	# the daemon takes 1 to 4096 pages, a power of two; say so before building anything
	if ! [[ "$n" =~ ^[0-9]{1,4}$ ]] || [ "$n" -lt 1 ] || [ "$n" -gt 4096 ] ||
		[ $((n & (n - 1))) -ne 0 ]; then
		echo "bench/flows/run.sh: --perf-pages $pages: each a power of two, 1 to 4096" >&2
		exit 2
	fi
done
if [ ${#configs[@]} -eq 0 ] || [ ${#rings[@]} -eq 0 ]; then
	usage
fi

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
# The file grows by hundreds of MB per ring size: counts read only what was written since a
# byte offset taken when the file was still, so polling them does not take the CPU the
# daemon is being measured on.
fsize() { stat -c %s "$TOPO_FLOWS"; }
since() { tail -c +$(($1 + 1)) "$TOPO_FLOWS"; }
kind_since() { since "$1" | grep -c "\"kind\":\"$2\""; }
# flow_end records of the flood's flows: the probe's (source port PROBE_PORT) end during the
# measurement of a ring's first configuration and are not its records
ends_since() {
	since "$1" | grep '"kind":"flow_end"' | grep -vc "\"source_port\":${PROBE_PORT}[,}]"
}
lost() { pw status -o json | jq '.daemon.flow_stats.lost'; }
setting() { pw status -o json | jq -r ".daemon.settings.$1"; }
# calc EXPR [DECIMALS]: awk arithmetic (parenthesised: a bare ">" would be a redirection)
calc() { awk "BEGIN { printf \"%.${2:-0}f\", ($1) }"; }

S_IP=198.18.8.100
# below the floods' first source port (1024)
PROBE_PORT=800
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
# Run m = r * (configurations) + j is configuration j at ring size r; its clients are c<m>x<k>
# with addresses of their own (198.18.9.1 on, in turn), so no run meets the conntrack entries
# of another: the floods' source ports repeat from run to run, their addresses never do.
nruns=$((${#rings[@]} * ${#configs[@]}))
a=0
for ((m = 0; m < nruns; m++)); do
	for ((k = 1; k <= configs[m % ${#configs[@]}]; k++)); do
		a=$((a + 1))
		ip4=198.18.$((9 + (a - 1) / 250)).$((1 + (a - 1) % 250))
		topo_pod c${m}x$k lxc-c${m}x$k bench-c/c${m}x$k $ip4 fd00::9:$a || exit 1
		pod_yaml bench-c c${m}x$k client lxc-c${m}x$k $ip4 fd00::9:$a \
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

# drained: the file stops growing (0.2 s without a new byte)
drain() {
	local prev=-1 cur

	while :; do
		cur=$(fsize)
		[ "$cur" = "$prev" ] && break
		prev=$cur
		sleep 0.2
	done
}

# daemon_up PAGES M: (re)start podwalld with a ring of PAGES pages per CPU, each ring size with
# a flow-log file of its own; check that the setting took and that one connection from run M's
# first client is admitted and attributed by both policies, which after a restart the daemon
# has only from its journal
daemon_up() {
	local p=$1 m=$2 o w i got

	if [ -n "$TOPO_DAEMON" ]; then
		if ! topo_daemon_stop TERM; then
			log "podwalld exited with an error; see $TOPO_DLOG"
			return 1
		fi
		# what the stopped daemon wrote counts for bytes/record; its file is not needed
		bytes_all=$((bytes_all + $(stat -c %s "$TOPO_FLOWS")))
		lines_all=$((lines_all + $(wc -l <"$TOPO_FLOWS")))
		rm -f "$TOPO_FLOWS"
	fi
	TOPO_FLOWS=$TOPO_WORK/flows-$p.jsonl
	topo_daemon_start --perf-pages "$p" || return 1
	if [ "$applied" = 0 ]; then
		pw apply -f "$TOPO_WORK/m/objects.yaml" -f "$TOPO_WORK/m/policies.yaml" \
			>/dev/null || return 1
		applied=1
	fi
	got=$(setting perf_pages_per_cpu)
	if [ "$got" != "$p" ]; then
		log "podwalld --perf-pages $p: podwall status says $got pages per CPU"
		return 1
	fi
	sweep_s=$(setting ct_sweep_interval_s)
	closing_s=$(setting 'ct_timeouts_s["tcp-closing"]')
	# one connection end to end: the path is what the figures say it is
	o=$(fsize)
	w=$(topo_in c${m}x1 "$PW_GEN" flood $S_IP 7000 1 1 $PROBE_PORT 2>/dev/null)
	if [ "${w#flood 1 0 }" = "$w" ]; then
		log "ring $p: the probe connection failed: $w"
		return 1
	fi
	for i in $(seq 100); do
		[ "$(kind_since "$o" flow_new)" -ge 2 ] && break
		sleep 0.05
	done
	if [ "$(kind_since "$o" flow_new)" -ne 2 ] ||
		[ "$(since "$o" | grep -c '"kind":"flow_new".*"reason":"allowed-by-policy"')" -ne 2 ] ||
		! since "$o" | grep -q '"egress_allowed_by":\[{"name":"client-egress"' ||
		! since "$o" | grep -q '"ingress_allowed_by":\[{"name":"allow-clients"'; then
		log "ring $p: the probe connection did not leave two flow_new records admitted by" \
			"client-egress and allow-clients; what it left:"
		since "$o" >&2
		return 1
	fi
}

rows=()
mdrows=()
notes=()
bad_acc=0
bad_ends=0
bytes_all=0
lines_all=0
applied=0
# per run m: ring, configuration index, flow-start loss %, lost, decisions, connections/s
r_ring=()
r_conf=()
r_loss=()
r_lost=()
r_dec=()
r_rate=()
# measure M P PAGES: run M (clients c<M>x<k>), P clients, ring of PAGES; appends to rows,
# mdrows, notes
measure() {
	local m=$1 n=$2 p=$3 per i k conns=0 failed=0 ok bad
	local o0 o1 e1 lost0 c0 t0 t1 t2 c1 n1 lost1 c2 c3 lost2 p2_first p2_last
	local flood_s p1_s p1_dec p1_new p1_rec p1_lost p1_cpu p1_acc p2_rec p2_lost p2_cpu p2_end
	local p2_span conn_rate p1_rate p1_loss p1_cpu100k p2_rate p2_loss p2_cpu100k pids=()

	per=$((maxconn / n))
	[ "$per" -gt 60000 ] && per=60000
	log "ring $p pages/CPU, flood: $n client(s), ${secs} s or $((per * n)) connections"
	o0=$(fsize)
	lost0=$(lost)
	c0=$(cpu_s)
	t0=$(now)
	for ((k = 1; k <= n; k++)); do
		# client k on CPU (k-1) mod ncpu: the load spreads like pods on a node
		topo_enter c${m}x$k
		taskset -c $(((k - 1) % $(nproc))) "${TOPO_IN[@]}" "$PW_GEN" flood $S_IP 7000 \
			"$secs" $per 1024 >"$TOPO_WORK/flood-$m-$k.out" 2>&1 &
		TOPO_PIDS+=($!)
		pids+=($!)
	done
	wait "${pids[@]}"
	t1=$(now)
	drain
	t2=$(calc "$(now) - 0.2" 3)
	c1=$(cpu_s)
	for ((k = 1; k <= n; k++)); do
		read -r _ ok bad _ <"$TOPO_WORK/flood-$m-$k.out"
		conns=$((conns + ok))
		failed=$((failed + bad))
	done
	# each connection is a new 5-tuple: two new-flow decisions (client egress, server ingress)
	p1_dec=$((2 * conns))
	# The daemon reports a loss at its first drain after it (every 100 ms), with no later
	# sample needed: the sum is complete within a few drains. Then a last look, 0.3 s on,
	# so a loss reported twice or a record written late is seen.
	for i in $(seq 20); do
		lost1=$(lost)
		n1=$(kind_since "$o0" flow_new)
		[ $((n1 + lost1 - lost0)) -ge "$p1_dec" ] && break
		sleep 0.1
	done
	sleep 0.3
	lost1=$(lost)
	n1=$(kind_since "$o0" flow_new)
	o1=$(fsize)
	flood_s=$(calc "$t1 - $t0" 3)
	p1_s=$(calc "$t2 - $t0" 3)
	p1_new=$n1
	p1_rec=$(since "$o0" | head -c $((o1 - o0)) | wc -l)
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
	p1_loss=$(calc "$p1_dec ? 100 * $p1_lost / $p1_dec : 0" 2)
	p1_cpu100k=$(calc "$p1_rec ? 100000 * $p1_cpu / $p1_rec : 0" 2)
	r_ring+=("$p")
	r_conf+=("$((m % ${#configs[@]}))")
	r_loss+=("$p1_loss")
	r_lost+=("$p1_lost")
	r_dec+=("$p1_dec")
	r_rate+=("$(calc "$p1_dec / $flood_s")")
	rows+=("$(printf '%-15s %-8s %-12s %10s %10s %10s %8s %8s %14s' "$p" "$n" "flow starts" \
		"$p1_rec" "$p1_s" "$p1_rate" "$p1_lost" "$p1_loss" "$p1_cpu100k")")
	mdrows+=("| $p | $n | flow starts | $p1_rec | $p1_s | $p1_rate | $p1_lost | $p1_loss % | $p1_cpu100k s |")
	notes+=("ring $p, $n client(s): $conns connections in $flood_s s ($conn_rate/s), $failed failed; $p1_acc.")

	[ "$ends" = 1 ] || return 0
	# the last flow ends once its closing timeout has passed, at the sweep after that
	p2_end=$((closing_s + 2 * sweep_s + 30))
	log "waiting for the sweep to end $p1_dec flows (up to $p2_end s)"
	c2=$(cpu_s)
	# ends already written in phase 1 (a flood longer than the closing timeout); then only
	# what follows is read, twice a second
	e1=$(since "$o0" | head -c $((o1 - o0)) | grep '"kind":"flow_end"' |
		grep -vc "\"source_port\":${PROBE_PORT}[,}]")
	for i in $(seq $((p2_end * 2))); do
		[ $((e1 + $(ends_since "$o1"))) -ge "$p1_dec" ] && break
		sleep 0.5
	done
	drain
	c3=$(cpu_s)
	lost2=$(lost)
	p2_rec=$((e1 + $(ends_since "$o1")))
	p2_lost=$((lost2 - lost1))
	p2_cpu=$(calc "$c3 - $c2" 2)
	[ "$p2_rec" = "$p1_dec" ] || bad_ends=1
	# the sweep writes its records in bursts: their own timestamps give the rate
	read -r p2_first p2_last < <(since "$o0" | grep '"kind":"flow_end"' |
		grep -v "\"source_port\":${PROBE_PORT}[,}]" | sed -n '1p;$p' |
		sed 's/.*"time":"\([^"]*\)".*/\1/' | while read -r t; do date -d "$t" +%s.%N; done |
		paste -sd' ')
	p2_span=$(calc "${p2_last:-0} - ${p2_first:-0}" 3)
	p2_rate=$(calc "$p2_span > 0 ? $p2_rec / $p2_span : 0")
	p2_loss=$(calc "$p1_dec ? 100 * $p2_lost / $p1_dec : 0" 2)
	p2_cpu100k=$(calc "$p2_rec ? 100000 * $p2_cpu / $p2_rec : 0" 2)
	rows+=("$(printf '%-15s %-8s %-12s %10s %10s %10s %8s %8s %14s' "$p" "$n" "flow ends" \
		"$p2_rec" "$p2_span" "$p2_rate" "$p2_lost" "$p2_loss" "$p2_cpu100k")")
	mdrows+=("| $p | $n | flow ends | $p2_rec | $p2_span | $p2_rate | $p2_lost | $p2_loss % | $p2_cpu100k s |")
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 0; r < ${#rings[@]}; r++)); do
	m0=$((r * ${#configs[@]}))
	log "podwalld --perf-pages ${rings[r]}"
	daemon_up "${rings[r]}" "$m0" || exit 1
	for ((j = 0; j < ${#configs[@]}; j++)); do
		measure $((m0 + j)) "${configs[j]}" "${rings[r]}"
	done
done
bytes_all=$((bytes_all + $(stat -c %s "$TOPO_FLOWS")))
lines_all=$((lines_all + $(wc -l <"$TOPO_FLOWS")))
bpr=$(calc "$lines_all ? $bytes_all / $lines_all : 0")
# the daemon and its file (about a GB of page cache) go first: reclaiming that cache would be
# charged to whichever bench_flowlog variant happens to allocate when it is reclaimed
topo_daemon_stop TERM || log "podwalld exited with an error; see $TOPO_DLOG"
rm -f "$TOPO_FLOWS"

# the library's own cost per record, without the kernel or the perf buffer (bench_flowlog)
lib_md=$TOPO_WORK/bench_flowlog.md
lib_out=""
if [ -x "$build/bench/flows/bench_flowlog" ]; then
	lib_out=$("$build/bench/flows/bench_flowlog" "${lib_args[@]}" --dir "$TOPO_WORK" \
		--markdown "$lib_md") || lib_out=""
fi

# --- what the rows say about the ring size ------------------------------------------------
# A perf sample is the event behind an 8-byte header and a 4-byte size, 8-byte aligned.
ev_size=$(sed -n 's/.*sizeof(struct pw_event) == \([0-9]*\).*/\1/p' \
	"$top/include/podwall/shared.h")
sample=$((((${ev_size:-104} + 12 + 7) / 8) * 8))
# join A B C: "A, B and C"
join() {
	printf '%s\n' "$@" |
		awk '{ a[NR] = $0 } END { for (i = 1; i <= NR; i++)
			printf "%s%s", a[i], i == NR ? "" : i == NR - 1 ? " and " : ", " }'
}
ring_text=()
for p in "${rings[@]}"; do
	ring_text+=("$p pages ($((p * 4)) KiB, about $((p * 4096 / sample)) samples)")
done
# per configuration: flow-start loss at the smallest ring size against the largest
min_p=$(printf '%s\n' "${rings[@]}" | sort -n | head -n1)
max_p=$(printf '%s\n' "${rings[@]}" | sort -n | tail -n1)
max_rate=$(printf '%s\n' "${r_rate[@]}" | sort -n | tail -n1)
cmp=()
fewer=0
more=0
for ((j = 0; j < ${#configs[@]} && min_p != max_p; j++)); do
	lo=""
	hi=""
	for ((i = 0; i < ${#r_ring[@]}; i++)); do
		[ "${r_conf[i]}" = "$j" ] || continue
		[ "${r_ring[i]}" = "$min_p" ] && [ -z "$lo" ] && lo=$i
		[ "${r_ring[i]}" = "$max_p" ] && hi=$i
	done
	[ -n "$lo" ] && [ -n "$hi" ] || continue
	cmp+=("${configs[j]} client(s): ${r_lost[lo]} of ${r_dec[lo]} (${r_loss[lo]} %) at $min_p pages,\
 ${r_lost[hi]} of ${r_dec[hi]} (${r_loss[hi]} %) at $max_p")
	if [ "$(calc "${r_loss[hi]} < ${r_loss[lo]}")" = 1 ]; then
		fewer=$((fewer + 1))
	elif [ "$(calc "${r_loss[hi]} > ${r_loss[lo]}")" = 1 ]; then
		more=$((more + 1))
	fi
done
same=$((${#cmp[@]} - fewer - more))
if [ "$min_p" = "$max_p" ]; then
	ring_verdict="One ring size only ($min_p pages per CPU): --perf-pages 64,512 compares two."
else
	parts=()
	for v in "a smaller share:$fewer" "the same share:$same" "a larger share:$more"; do
		[ "${v##*:}" = 0 ] && continue
		if [ "${v##*:}" = "${#cmp[@]}" ]; then
			parts+=("${v%:*} in every configuration")
		else
			parts+=("${v%:*} in ${v##*:} of ${#cmp[@]} configurations")
		fi
	done
	ring_verdict="Against the $min_p-page ring, the $max_p-page ring lost $(join "${parts[@]}")"
	ring_verdict+=" (flow starts):"
fi

# --- report --------------------------------------------------------------------------------
printf '\n%-15s %-8s %-12s %10s %10s %10s %8s %8s %14s\n' "ring (pages/CPU)" clients phase \
	records seconds "records/s" lost "loss %" "CPU s/100k rec"
printf '%s\n' "${rows[@]}"
echo
printf '%s\n' "${notes[@]}"
# the fastest flood that lost nothing, and the slowest that lost something
best_ok=0
best_ok_run=""
worst_loss=""
worst_loss_run=""
for ((i = 0; i < ${#r_rate[@]}; i++)); do
	rr=${r_rate[i]%.*}
	what="${configs[${r_conf[i]}]} client(s), ring ${r_ring[i]}"
	if [ "${r_lost[i]}" = 0 ]; then
		if [ "$rr" -gt "$best_ok" ]; then best_ok=$rr; best_ok_run=$what; fi
	elif [ -z "$worst_loss" ] || [ "$rr" -lt "$worst_loss" ]; then
		worst_loss=$rr
		worst_loss_run=$what
	fi
done
if [ "$best_ok" -gt 0 ]; then
	lossfree="The fastest flood with nothing lost: $best_ok decisions/s ($best_ok_run)"
else
	lossfree="No flood here was free of loss"
fi
[ -n "$worst_loss" ] && lossfree="$lossfree; the slowest that lost samples: $worst_loss decisions/s ($worst_loss_run)"
lossfree="$lossfree."
printf 'file: %s bytes, %s bytes/record\n' "$bytes_all" "$bpr"
echo "$lossfree"
printf '%s\n' "$ring_verdict" "${cmp[@]}"
[ "$bad_ends" = 1 ] && echo "some flows got no flow_end (the flow ends rows say how many did)"
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
		echo "\`flow_end\` records. Every configuration runs once per event ring size"
		echo "(\`podwalld --perf-pages\`: $(join "${rings[@]}") pages per CPU), with pods of its"
		echo "own; the daemon is restarted for each ring size."
		echo
		echo "- *ring*: the perf buffer of each CPU: $(join "${ring_text[@]}")"
		echo "  (a sample is a $ev_size-byte event behind its perf header, $sample bytes)."
		if [ "$ends" = 1 ]; then
			echo "- *flow starts*: from the flood's start until the file stops growing; *flow ends*:"
			echo "  the conntrack sweeps (every $sweep_s s; a reset flow ends $closing_s s after its"
			echo "  RST), from the first to the last record's timestamp."
		else
			echo "- *flow starts*: from the flood's start until the file stops growing (flow ends"
			echo "  not measured: \`--no-ends\`)."
		fi
		echo "- *lost*: perf-buffer samples the kernel could not write, as reported to the"
		echo "  daemon (at its first drain after the loss); loss = lost / new-flow decisions."
		echo "  Every run checks records + lost = decisions, exactly (lines below the table)."
		echo "- *CPU*: the daemon's utime + stime over the phase (flow starts: the flood and the"
		echo "  drain after it; flow ends: the sweeps that wrote them), per 100k records written."
		echo
		echo "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) CPUs"
		echo "shared by the clients, the server, the softirqs and the daemon; Linux $(uname -r);"
		echo "measured $(date -u '+%Y-%m-%d %H:%M UTC') (load average before: $load0)."
		echo
		echo "| ring (pages/CPU) | clients | phase | records | seconds | records/s | lost samples | loss | daemon CPU per 100k records |"
		echo "|-----------------:|--------:|-------|--------:|--------:|----------:|-------------:|-----:|----------------------------:|"
		printf '%s\n' "${mdrows[@]}"
		echo
		printf '%s\n' "${notes[@]}" | sed 's/^/- /'
		echo
		echo "Records average $bpr bytes (JSON lines)."
		echo
		echo "$lossfree"
		echo
		echo "$ring_verdict"
		if [ ${#cmp[@]} -gt 0 ]; then
			printf '%s.\n' "${cmp[@]}" | sed 's/^/- /'
			echo
			echo "Loss also moves with how much of the CPUs the floods and the daemon get from"
			echo "one run to the next (each flood's rate is in the notes above)."
		fi
		echo
		echo "Reading the figures: a thread of the daemon (\`pw_dp_events_thread\`) copies the"
		echo "samples out of the rings into a queue at each wakeup; the main thread formats,"
		echo "enriches and writes them in batches (1 s of CPU per 100k records would be 10 µs a"
		echo "record; the CPU column includes the kernel's work on the daemon's behalf: the"
		echo "reads, the file writes). It shares the machine's CPUs with the pods that make the"
		echo "load: records/s and loss depend on how much CPU the load leaves it, and on this"
		echo "shared machine on the other work running (the load average above). The queue and"
		echo "the perf buffer absorb what the daemon has not written yet; the perf buffer alone"
		fill=()
		for p in "${rings[@]}"; do
			ms=$(calc "$max_rate ? 1000 * $(nproc) * $p * 4096 / $sample / $max_rate : 0")
			fill+=("$ms ms at $p pages")
		done
		echo "(if the reader thread got no CPU) would fill, at the fastest flood here ($max_rate"
		echo "decisions/s), in $(join "${fill[@]}") for the rings of all $(nproc) CPUs"
		echo "together; past that, samples are lost, and every loss is counted and reported (a"
		echo "\`lost\` record, and \`podwall status\`)."
		if [ "$ends" = 1 ]; then
			if [ "$bad_ends" = 0 ]; then
				echo "Flow ends come from the conntrack sweep, which is not bounded by the perf"
				echo "buffer: every flow got its \`flow_end\` here. That holds while conntrack does not"
			else
				echo "Flow ends come from the conntrack sweep, which is not bounded by the perf"
				echo "buffer, yet some flows got no \`flow_end\` here (rows above). Every flow gets one"
				echo "while conntrack does not"
			fi
			echo "evict (an entry evicted from the full LRU map ends with no record), which the"
			echo "run's bounds guarantee."
		fi
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
