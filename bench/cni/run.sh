#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Pods through CNI: ADD latency and pod churn with 1,000 NetworkPolicies applied, on a
# simulated node (e2e/topology.sh), with Debian's bridge + host-local and podwall-cni chained,
# run by pwcnirun exactly as a runtime runs a conflist (netns-tests/cni/cni_lib.sh).
#
#   1. 1,000 policies and the Pod objects of every pod are applied (a kubelet runs only pods
#      whose objects exist, so the daemon normally has the labels before ADD);
#   2. PODS pods are created one after the other: netns + cgroup, then CNI ADD. Per ADD:
#      the whole chain (bridge with host-local, then podwall-cni: each exec to exit), the
#      podwall-cni exec to exit (podwall's part as the runtime sees it), and podwalld's own
#      time for the bind (request decoded to reply, the datapath written);
#   3. churn: CHURN times, delete a pod (CNI DEL, netns and cgroup removed) and create a new
#      one (netns, cgroup, CNI ADD) while the others stay: cycles per second.
# bridge's own ADD time is the floor: what any pod costs without podwall.
#
# usage: run.sh [--build DIR] [--pods N] [--churn N] [--policies N] [--quick] [--markdown FILE]
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
build=$top/build
pods=500
churn=200
policies=1000
md=
while [ $# -gt 0 ]; do
	case "$1" in
	--build) build=$2; shift 2 ;;
	--pods) pods=$2; shift 2 ;;
	--churn) churn=$2; shift 2 ;;
	--policies) policies=$2; shift 2 ;;
	--quick) pods=50; churn=20; shift ;;
	--markdown) md=$2; shift 2 ;;
	*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "bench/cni/run.sh: needs root" >&2; exit 1; }

PW_DAEMON=$build/ctl/podwalld
PW_CLI=$build/ctl/podwall
PW_PROBE=$build/e2e/pwprobe
PW_CNI=$build/ctl/podwall-cni
PW_CNIRUN=$build/netns-tests/cni/pwcnirun
for f in "$PW_DAEMON" "$PW_CLI" "$PW_PROBE" "$PW_CNI" "$PW_CNIRUN"; do
	[ -x "$f" ] || { echo "run.sh: $f is not built" >&2; exit 1; }
done
# shellcheck source=../../e2e/topology.sh
. "$top/e2e/topology.sh"
# shellcheck source=../../netns-tests/cni/cni_lib.sh
. "$top/netns-tests/cni/cni_lib.sh"
# topology.sh's cleanup runs its commands unchecked (set -e would stop it halfway)
trap 'set +eu; topo_cleanup' EXIT
trap 'exit 130' INT TERM

log() { printf '[cni %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
topo_init cnibench
CNI_NET4=198.18.128.0/18 CNI_NET6=fd00:128::/64 cni_init
topo_daemon_start

# --- policies and Pod objects ------------------------------------------------------------
gen=$TOPO_WORK/objects.yaml
{
	printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: bench}\n'
	for ((i = 0; i < policies; i++)); do
		printf -- '---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n'
		printf 'metadata: {name: np%d, namespace: bench}\n' "$i"
		printf 'spec:\n  podSelector: {matchLabels: {app: a%d}}\n' $((i % 100))
		printf '  ingress:\n  - from: [{podSelector: {matchLabels: {app: a%d}}}]\n' $(((i + 1) % 100))
		printf '    ports: [{port: %d}]\n' $((1000 + i))
	done
	for ((i = 0; i < pods + churn; i++)); do
		printf -- '---\napiVersion: v1\nkind: Pod\n'
		printf 'metadata: {name: p%d, namespace: bench, labels: {app: a%d}}\n' "$i" $((i % 100))
	done
} >"$gen"
pw apply -f "$gen" >/dev/null
n_np=$(pw get networkpolicies -A -o json | jq '.items | length')
log "$n_np policies and $((pods + churn)) Pod objects applied"

tlog=$TOPO_WORK/timing.log
CNI_TIMING=1
us_now() { echo $(($(date +%s%N) / 1000)); }
add_pod() { # I
	: >"$tlog.one"
	if ! cni_pod "p$1" bench "p$1" cgroupfs "c$1-$TOPO_RUN" 2>"$tlog.one" >/dev/null; then
		cat "$tlog.one" >&2
		echo "ADD p$1 failed: $CNI_OUT" >&2
		exit 1
	fi
	awk '/^timing bridge / { b = $3 } /^timing podwall-cni / { p = $3 }
	     /^podwall-cni: .* podwalld [0-9]+ us/ { for (i = 1; i < NF; i++) if ($i == "podwalld") d = $(i + 1) }
	     END { print b, p, d, b + p }' "$tlog.one" >>"$tlog"
}

# --- creation ------------------------------------------------------------------------------
log "creating $pods pods through CNI"
: >"$tlog"
t0=$(us_now)
for ((i = 0; i < pods; i++)); do
	add_pod "$i"
done
t_create=$(($(us_now) - t0))
ep_map=$(find "$TOPO_BPFFS/maps" -maxdepth 1 -name 'pw_ep_if_v*' | sort -V | tail -n 1)
n_eps=$(bpftool map dump pinned "$ep_map" -j | jq length)
fc=$(pw get pods -n bench -o json | jq '[.items[] | select(.state == "fail-closed" or .state == "pending")] | length')
log "$n_eps endpoints in the datapath, $fc pods not enforced"

# --- churn -----------------------------------------------------------------------------------
log "churn: $churn delete + create cycles with $pods pods present"
cp "$tlog" "$tlog.create"
: >"$tlog"
t0=$(us_now)
for ((k = 0; k < churn; k++)); do
	cni_del "p$k" || { echo "DEL p$k failed: $CNI_OUT" >&2; exit 1; }
	add_pod $((pods + k))
done
t_churn=$(($(us_now) - t0))

# --- figures ---------------------------------------------------------------------------------
pct() { # COLUMN P FILE: the P-th percentile (nearest rank) of a column, in ms
	sort -n -k"$1","$1" "$3" | awk -v c="$1" -v p="$2" '{ v[NR] = $c }
		END { r = int((p / 100) * NR + 0.999); if (r < 1) r = 1; printf "%.1f", v[r] / 1000 }'
}
row() { # LABEL COLUMN FILE
	printf '| %s | %s | %s | %s |\n' "$1" "$(pct "$2" 50 "$3")" "$(pct "$2" 99 "$3")" \
		"$(pct "$2" 100 "$3")"
}
create_rate=$(awk -v n="$pods" -v t="$t_create" 'BEGIN { printf "%.1f", n / (t / 1e6) }')
churn_rate=$(awk -v n="$churn" -v t="$t_churn" 'BEGIN { printf "%.1f", n / (t / 1e6) }')
out=$(
	echo "<!-- generated by bench/cni/run.sh -->"
	echo "$pods pods created one after the other through CNI on one simulated node, with"
	echo "$n_np NetworkPolicies applied and every Pod object known before its ADD; then $churn churn"
	echo "cycles (one pod deleted, one created, $pods present). Run of $(date -u '+%Y-%m-%d %H:%M UTC')."
	echo
	echo "| ADD of $pods pods, ms | p50 | p99 | max |"
	echo "|:---|---:|---:|---:|"
	row "whole chain: bridge + host-local, then podwall-cni (each exec to exit)" 4 "$tlog.create"
	row "bridge + host-local alone (the floor: any pod pays it)" 1 "$tlog.create"
	row "podwall-cni, exec to exit (podwall's part)" 2 "$tlog.create"
	row "of which podwalld: request to reply, datapath written" 3 "$tlog.create"
	echo
	echo "| during churn ($churn ADDs), ms | p50 | p99 | max |"
	echo "|:---|---:|---:|---:|"
	row "podwall-cni, exec to exit" 2 "$tlog"
	row "of which podwalld" 3 "$tlog"
	echo
	echo "| rate | per second |"
	echo "|:---|---:|"
	echo "| pod creations (netns + cgroup + CNI ADD, sequential) | $create_rate |"
	echo "| churn cycles (CNI DEL + netns removed, then a creation) | $churn_rate |"
	echo
	echo "After creation: $n_eps endpoints in \`$(basename "$ep_map")\`, $fc pods not enforced."
	echo
	echo "Reading: podwalld's part of an ADD is mostly the kernel's tcx attach of the pod's two"
	echo "TC programs (two \`BPF_LINK_CREATE\`s, each waiting for an RCU grace period: 8 to 15 ms"
	echo "apiece under \`strace -T\` on the machine of 2026-12-03); the compile and map writes for"
	echo "one pod are a few milliseconds at most. The rates include what the harness does around"
	echo "each ADD (netns, sysctls, cgroup, nsenter); a churn cycle also deletes a network"
	echo "namespace, which the kernel tears down slowly. Two shared cores: tails are load."
)
echo "$out"
if [ -n "$md" ]; then
	{
		echo "## Pods through CNI"
		echo
		echo "Measured by \`bench/cni/run.sh\` (\`scripts/bench.sh\` runs it)."
		echo
		echo "$out"
	} >"$md"
fi
