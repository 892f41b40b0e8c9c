#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Cluster mode's benchmark: apply -> enforced on every node, with three nodes and a real etcd.
#
#   bench/cluster/run.sh [--build DIR] [--pods N] [--policies N] [--changes N]
#                        [--markdown FILE] [--quick]
#
# Topology: e2e/cluster_topology.sh (an underlay netns running etcd, three node netns running
# podwalld --etcd). The generated cluster of bench/cpscale (default 10,000 pods in 50
# namespaces, 1,000 policies; pwgen writes it as manifests) is applied through n1; every pod is
# a peer on every node, the worst case for a node's maps. Then two series of --changes each,
# applied in turn through n1, n2 and n3: a policy change (the toggled policy's port flips) and a
# pod label change (one pod gains or loses the label a policy selects on). `podwall apply`
# returns once all three nodes report that they enforce the change, so its wall time (CLI
# start included) is the apply -> enforced everywhere latency. Per change, from etcd's own
# /metrics and the daemons' status: etcd revisions, puts, bytes received and sent on etcd's
# client API, watch events delivered. Everything is named with this shell's pid and removed on
# every path.
set -u

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=$top/build
pods=10000
policies=1000
namespaces=50
changes=100
markdown=""
while [ $# -gt 0 ]; do
	case "$1" in
	--build) build=$2; shift 2 ;;
	--pods) pods=$2; shift 2 ;;
	--policies) policies=$2; shift 2 ;;
	--changes) changes=$2; shift 2 ;;
	--markdown) markdown=$2; shift 2 ;;
	--quick) pods=1000; policies=100; namespaces=10; changes=10; shift ;;
	-h|--help) sed -n '3,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench/cluster/run.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
PW_DAEMON=$build/ctl/podwalld
PW_CLI=$build/ctl/podwall
PW_PROBE=$build/e2e/pwprobe
PWGEN=$build/bench/pwgen
for f in "$PW_DAEMON" "$PW_CLI" "$PW_PROBE" "$PWGEN"; do
	[ -x "$f" ] || { echo "bench/cluster/run.sh: $f is not built" >&2; exit 1; }
done
# shellcheck source=../../e2e/cluster_topology.sh
. "$top/e2e/cluster_topology.sh"
trap 'cl_cleanup' EXIT
trap 'exit 130' INT TERM
say() { printf '[cluster bench] %s\n' "$*" >&2; }

cl_init clb || exit 1
cl_node 1 && cl_node 2 && cl_node 3 || exit 1
cl_etcd_start || exit 1
for i in 1 2 3; do
	cl_daemon_start "$i" "http://198.18.0.1:$CL_ETCD_PORT" || exit 1
done
M=$CL_WORK/m
"$PWGEN" --out "$M" --pods "$pods" --policies "$policies" --namespaces "$namespaces" >&2 || exit 1

metric() { # NAME: etcd's value
	nsenter --net="/run/netns/$CL_UL" curl -s "http://127.0.0.1:$CL_ETCD_PORT/metrics" |
		awk -v m="$1" '$1 == m { printf "%d\n", $2 }'
}
snap() { # the counters a series reads, one line
	local ev=0 i
	for i in 1 2 3; do
		ev=$((ev + $(pwn "$i" status -o json | jq '.cluster.watch_events')))
	done
	echo "$(cl_etcdctl endpoint status -w json | jq '.[0].Status.header.revision')" \
		"$(metric etcd_mvcc_put_total)" "$(metric etcd_network_client_grpc_received_bytes_total)" \
		"$(metric etcd_network_client_grpc_sent_bytes_total)" "$ev"
}

loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
say "loading $pods pods and $policies policies through n1"
t0=$(date +%s%N)
pwn 1 apply --timeout 600s -f "$M/load" >/dev/null || { say "the load failed"; exit 1; }
load_ms=$((($(date +%s%N) - t0) / 1000000))
keys=$(cl_etcdctl get --prefix "$CL_ETCD_PREFIX/" --keys-only | grep -c .)
vbytes=$(cl_etcdctl get --prefix "$CL_ETCD_PREFIX/" --print-value-only | wc -c)
dbsize=$(metric etcd_mvcc_db_total_size_in_bytes)
say "loaded in $load_ms ms: $keys keys, $vbytes value bytes"

# the floor: one node without etcd (n4), same objects, same changes, same CLI
say "the floor: a single node without etcd"
cl_node 4 || exit 1
nsenter --net="/run/netns/$CL_PREFIX-n4" "$PW_DAEMON" --socket "$CL_WORK/n4.sock" \
	--bpffs "/sys/fs/bpf/podwall-$CL_TAG-$CL_RUN-n4" --cgroup-root "$CL_CGROOT/n4" \
	--state-dir "$CL_WORK/n4.state" --node-name n4 2>>"$CL_WORK/n4.log" &
CL_DAEMON[4]=$!
for _ in $(seq 500); do
	pwn 4 status >/dev/null 2>&1 && break
	sleep 0.02
done
t0=$(date +%s%N)
pwn 4 apply -f "$M/load" >/dev/null || { say "the floor's load failed"; exit 1; }
floor_load_ms=$((($(date +%s%N) - t0) / 1000000))

# series NAME FILE-A FILE-B [NODE]: CHANGES applies alternating A and B through n1, n2, n3 in
# turn (or all through NODE)
declare -A RES
series() {
	local name=$1 a=$2 b=$3 only=${4:-} k f t lat=() before after node
	# the first application of A is not a change when A is already there: start from B
	pwn "${only:-1}" apply -f "$b" >/dev/null || return 1
	before=$(snap)
	for k in $(seq "$changes"); do
		f=$a
		[ $((k % 2)) = 0 ] && f=$b
		node=${only:-$(((k - 1) % 3 + 1))}
		t=$(date +%s%N)
		pwn "$node" apply -f "$f" >/dev/null || { say "$name: apply failed"; return 1; }
		lat+=($((($(date +%s%N) - t) / 1000)))
	done
	after=$(snap)
	RES[$name]=$(printf '%s\n' "${lat[@]}" | sort -n | awk -v n="$changes" -v b="$before" -v a="$after" '
		{ v[NR] = $1 }
		END {
			split(b, x, " "); split(a, y, " ")
			p50 = v[int((n - 1) * 0.50) + 1]; p99 = v[int((n - 1) * 0.99) + 1]
			printf "%.1f %.1f %.1f %.2f %.2f %.0f %.0f %.2f\n", p50 / 1000, p99 / 1000,
				v[n] / 1000, (y[1] - x[1]) / n, (y[2] - x[2]) / n, (y[3] - x[3]) / n,
				(y[4] - x[4]) / n, (y[5] - x[5]) / n
		}')
	say "$name: ${RES[$name]}"
}
series policy "$M/toggle-a.yaml" "$M/toggle-b.yaml" || exit 1
series label "$M/pod-canary.yaml" "$M/pod-plain.yaml" || exit 1
series policy1 "$M/toggle-a.yaml" "$M/toggle-b.yaml" 4 || exit 1
series label1 "$M/pod-canary.yaml" "$M/pod-plain.yaml" 4 || exit 1

export FL=$floor_load_ms CLL=$load_ms
row() { # name label
	local r
	read -r -a r <<<"${RES[$1]}"
	printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$2" "${r[0]}" "${r[1]}" "${r[2]}" \
		"${r[3]}" "${r[4]}" "${r[5]}" "${r[6]}" "${r[7]}"
}
out=$(mktemp)
{
	echo "## Cluster mode: apply to enforced on every node"
	echo
	echo "Measured by \`bench/cluster/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'): three nodes (network"
	echo "namespaces on this machine) and etcd $(etcd --version | awk 'NR == 1 { print $3 }') in a fourth, $pods pods and $policies policies"
	echo "(\`bench/cpscale\`'s generator, every pod a peer on every node), $changes changes per series"
	echo "applied in turn through n1, n2 and n3. Latency is \`podwall apply\`'s wall time, CLI start"
	echo "included: it returns once all three nodes' keys report the change's revision. Load average"
	echo "(1, 5, 15 min) at the start: $loadavg, on $(nproc) CPUs shared with the run's four processes."
	echo
	echo "Initial load through n1 (one request, etcd transactions of 128 objects, all three nodes"
	echo "enforcing): $load_ms ms; etcd then holds $keys keys under the prefix, $vbytes bytes of values"
	echo "(database $((dbsize / 1024)) KiB)."
	echo
	echo "| change | p50 ms | p99 ms | max ms | etcd revisions | etcd puts | bytes into etcd | bytes out of etcd | watch events delivered |"
	echo "|---|---|---|---|---|---|---|---|---|"
	row policy "policy (toggled port)"
	row label "pod label (canary on/off)"
	echo
	read -r -a p1 <<<"${RES[policy1]}"
	read -r -a l1 <<<"${RES[label1]}"
	read -r -a pc <<<"${RES[policy]}"
	read -r -a lc <<<"${RES[label]}"
	echo "The floor, measured in the same run: one daemon without etcd (n4, same objects, same"
	echo "changes, same CLI) applies a policy change in ${p1[0]} ms at p50 (${p1[1]} ms p99) and a label change"
	echo "in ${l1[0]} ms (${l1[1]} ms p99), so the cluster's round-trip through etcd and three nodes costs"
	awk -v a="${pc[0]}" -v b="${p1[0]}" -v c="${lc[0]}" -v d="${l1[0]}" \
		'BEGIN { printf "%.1fx and %.1fx that at p50. Its initial load took %s ms (the cluster'"'"'s: %s ms).\n", a / b, c / d, ENVIRON["FL"], ENVIRON["CLL"] }'
	echo "Here the three daemons share $(nproc) CPUs, so each change's work on three nodes is partly"
	echo "serialised: on separate machines they work in parallel, and the ratio is an upper bound."
	echo
	echo "Per change: one object write, then each node rewrites its key with the revision it"
	echo "enforces (1 + 3 puts, 4 revisions); every node watches the whole prefix, so each of the 4"
	echo "writes reaches 3 watchers (12 events). Bytes out include those watch messages and the"
	echo "API answers."
	echo
	# on paper: N nodes, P pods, from this run's per-change figures
	read -r -a pr <<<"${RES[policy]}"
	read -r -a lr <<<"${RES[label]}"
	awk -v n=1000 -v pods=100000 -v mpods="$pods" -v vbytes="$vbytes" -v keys="$keys" \
		-v pout="${pr[6]}" -v pev="${pr[7]}" -v lout="${lr[6]}" -v lev="${lr[7]}" '
	function mb(x) { return sprintf("%.0f MB", x / 1e6) }
	BEGIN {
		per_ev = (pout / pev + lout / lev) / 2	# bytes etcd sends per watch event, measured
		w = 1 + n; ev = w * n
		per_pod = vbytes / keys
		printf "**On paper: %d nodes, %d pods**, from the figures above (%.0f bytes out of etcd per\n", n, pods, per_ev
		printf "watch event, %.0f bytes of value per key). One change makes %d writes (the object and\n", per_pod, w
		printf "%d node keys) and, since every node watches every key, %d watch events, about %s out of\n", n, ev, mb(ev * per_ev)
		printf "etcd: at 10 changes/s (a rollout of 100,000 pods is far more), %d writes/s and %s/s of\n", 10 * w, mb(10 * ev * per_ev)
		printf "watch traffic: the writes alone are the order of a whole etcd cluster'"'"'s capacity (its\n"
		printf "published benchmarks: thousands to tens of thousands of writes/s, by clients and batching),\n"
		printf "and the watch fan-out is one stream per watcher. A node joining lists about %s (%d pods at %.0f bytes); all\n", mb(pods * per_pod), pods, per_pod
		printf "nodes at once, %s. The design needs two changes at that scale: node keys out of the\n", mb(n * pods * per_pod)
		printf "shared watch (nodes watch the objects only; the daemon that waits for an apply reads the\n"
		printf "node keys of that apply, or nodes report to an aggregator), which takes the writes per\n"
		printf "change from %d watched to 1 watched, and a watch fan-out layer between etcd and the\n", w
		printf "nodes (etcd'"'"'s gRPC proxy coalesces identical watchers into one upstream watch; one proxy\n"
		printf "per rack turns %d watchers into a few dozen), as kube-apiserver'"'"'s watch cache does for\n", n
		printf "Kubernetes.\n"
	}'
} >"$out"
if [ -n "$markdown" ]; then
	mv "$out" "$markdown"
else
	cat "$out"
	rm -f "$out"
fi
