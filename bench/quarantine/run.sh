#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Quarantine benchmark: `podwall quarantine` -> last byte through an established connection.
#
# On a simulated node (e2e/topology.sh: netns, veths, cgroups made and removed by this run)
# with the real podwalld, each run starts a TCP connection between two pods exchanging a
# stamped 16-byte message every 2 ms both ways (pwstream), waits for traffic, then runs
# `podwall quarantine` on one of them. Per run it records, in CLOCK_REALTIME nanoseconds:
#   command  the CLI's wall time, fork to exit (connect, request, enforcement, reply)
#   last     the kernel receive time (SO_TIMESTAMPNS) of the last message that got through,
#            either way, minus the command's start: "command -> last byte through"
#   late     messages received after the command returned (must be 0)
# then lifts the quarantine. Prints p50/p90/p99/max over the runs (default 100).
#
# usage: run.sh [--runs N] [--markdown]   (root; BUILD=build dir, default ./build)
set -u

runs=100
md=0
while [ $# -gt 0 ]; do
	case "$1" in
	--runs) runs=$2; shift 2 ;;
	--markdown) md=1; shift ;;
	*) echo "usage: $0 [--runs N] [--markdown]" >&2; exit 2 ;;
	esac
done
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD:-$top/build}
PW_DAEMON=$build/ctl/podwalld
PW_CLI=$build/ctl/podwall
PW_PROBE=$build/e2e/pwprobe
PW_STREAM=$build/e2e/pwstream
for f in "$PW_DAEMON" "$PW_CLI" "$PW_PROBE" "$PW_STREAM"; do
	[ -x "$f" ] || { echo "$0: $f is not built" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "$0: needs root (netns, cgroups, BPF)" >&2; exit 1; }
# shellcheck source=../../e2e/topology.sh
. "$top/e2e/topology.sh"
trap 'topo_cleanup' EXIT
trap 'exit 130' INT TERM

A1=198.18.3.1
A2=198.18.3.2
topo_init qb || exit 1
topo_pod a1 lxc-a1 qb/a1 $A1 fd00::3:1 && topo_pod a2 lxc-a2 qb/a2 $A2 fd00::3:2 || exit 1
topo_daemon_start || exit 1
pw apply -f - >/dev/null <<EOF || exit 1
apiVersion: v1
kind: Namespace
metadata: {name: qb}
---
apiVersion: v1
kind: Pod
metadata:
  {namespace: qb, name: a1, annotations: {podwall.io/interface: lxc-a1, podwall.io/cgroup: qb/a1}}
status: {podIPs: [{ip: $A1}]}
---
apiVersion: v1
kind: Pod
metadata:
  {namespace: qb, name: a2, annotations: {podwall.io/interface: lxc-a2, podwall.io/cgroup: qb/a2}}
status: {podIPs: [{ip: $A2}]}
EOF

res=$TOPO_WORK/results
: >"$res"
done_runs=0
skipped=0
for i in $(seq $((runs * 2))); do
	[ $done_runs -ge "$runs" ] && break
	sa=$TOPO_WORK/sa.$i
	sb=$TOPO_WORK/sb.$i
	: >"$sa"
	: >"$sb"
	port=$((20000 + i))
	topo_enter a1
	"${TOPO_IN[@]}" "$PW_STREAM" listen $port "$sa" >"$TOPO_WORK/out.a" 2>&1 &
	pa=$!
	for _ in $(seq 400); do grep -q listening "$TOPO_WORK/out.a" 2>/dev/null && break; sleep 0.005; done
	topo_enter a2
	"${TOPO_IN[@]}" "$PW_STREAM" connect $A1 $port "$sb" >/dev/null 2>&1 &
	pb=$!
	for _ in $(seq 400); do
		[ "$(cat "$sa" "$sb" | wc -l)" -ge 20 ] && break
		sleep 0.005
	done
	if [ "$(cat "$sa" "$sb" | wc -l)" -lt 20 ]; then
		# the connection never got going (a loaded machine): not a measurement
		kill -KILL $pa $pb 2>/dev/null
		wait $pa $pb 2>/dev/null
		skipped=$((skipped + 1))
		continue
	fi
	read -r t0 t1 rc < <("$PW_STREAM" timecmd -- "$PW_CLI" --socket "$TOPO_SOCK" quarantine qb/a2)
	sleep 0.05
	[ "$rc" = 0 ] || { echo "run $i: quarantine failed" >&2; exit 1; }
	kill -KILL $pa $pb 2>/dev/null
	wait $pa $pb 2>/dev/null
	cat "$sa" "$sb" | awk -v t0="$t0" -v t1="$t1" '
		BEGIN { last = 0; late = 0; n = 0 }
		{ n++; if ($3 > last) last = $3; if ($3 > t1) late++ }
		END { printf "%.0f %.0f %d %d\n", t1 - t0, (last > t0 ? last - t0 : 0), late, n }' >>"$res"
	done_runs=$((done_runs + 1))
	pw quarantine --lift qb/a2 >/dev/null || exit 1
done
[ $done_runs -ge "$runs" ] || { echo "$0: only $done_runs of $runs runs got going" >&2; exit 1; }

# percentiles (nearest rank) of a column, in microseconds
pct() { # COLUMN P
	awk -v c="$1" '{ print $c }' "$res" | sort -n |
		awk -v p="$2" '{ v[NR] = $1 } END { k = int((p * NR + 99) / 100); if (k < 1) k = 1;
			printf "%.0f", v[k] / 1000 }'
}
late=$(awk '{ s += $3 } END { print s + 0 }' "$res")
if [ $md = 1 ]; then
	echo "Quarantine: \`podwall quarantine\` on a pod with an established TCP connection exchanging"
	echo "16 bytes every 2 ms each way; $runs runs on one simulated node (e2e/topology.sh)."
	echo
	echo "| measure | p50 | p90 | p99 | max |"
	echo "|---|---:|---:|---:|---:|"
	echo "| command, fork to exit (us) | $(pct 1 50) | $(pct 1 90) | $(pct 1 99) | $(pct 1 100) |"
	echo "| command start -> last byte through (us) | $(pct 2 50) | $(pct 2 90) | $(pct 2 99) | $(pct 2 100) |"
	echo
	echo "Messages received after the command returned: $late. Runs whose connection did not"
	echo "get going first (not measured, retried): $skipped."
else
	printf '%-42s %8s %8s %8s %8s\n' "runs: $runs" p50 p90 p99 max
	printf '%-42s %8s %8s %8s %8s\n' "command, fork to exit (us)" "$(pct 1 50)" "$(pct 1 90)" "$(pct 1 99)" "$(pct 1 100)"
	printf '%-42s %8s %8s %8s %8s\n' "command start -> last byte through (us)" "$(pct 2 50)" "$(pct 2 90)" "$(pct 2 99)" "$(pct 2 100)"
	echo "messages received after the command returned: $late; runs retried: $skipped"
fi
[ "$late" = 0 ]
