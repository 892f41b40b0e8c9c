# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# What the cluster-mode tests share: their arguments (PODWALLD PODWALL PWPROBE), the topology
# (cluster_topology.sh), counting and reporting, cleanup on every path (sets the EXIT trap),
# and the checks they make. Sourced with the test's arguments.

PW_DAEMON=$(realpath "$1")
PW_CLI=$(realpath "$2")
PW_PROBE=$(realpath "$3")
# shellcheck source=cluster_topology.sh
. "$(dirname "${BASH_SOURCE[0]}")/cluster_topology.sh"

pass=0
fail=0
ok() {
	pass=$((pass + 1))
	echo "ok   - $*"
}
bad() {
	fail=$((fail + 1))
	echo "FAIL - $*"
}
finish() {
	local left

	if [ "$fail" -gt 0 ] && [ -n "${CL_WORK:-}" ]; then
		for i in 1 2 3; do
			echo "--- n$i log (tail)"
			tail -n 15 "$CL_WORK/n$i.log" 2>/dev/null
		done
	fi
	cl_cleanup
	left=$(cl_leftovers)
	if [ "$left" != 0 ]; then
		bad "cleanup left $left objects behind"
	else
		ok "cleanup left nothing behind (netns, cgroups, pins, etcd data dir and process)"
	fi
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}
on_exit() {
	local rc=$1

	trap '' PIPE HUP INT TERM
	finish || rc=${rc/#0/1}
	exit "$rc"
}
trap 'on_exit $?' EXIT
trap 'exit 130' INT TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE

if [ "$(id -u)" -ne 0 ]; then
	echo "$(basename "$0"): needs root (netns, cgroups, BPF)" >&2
	exit 1
fi
for t in etcd etcdctl jq; do
	command -v "$t" >/dev/null || { echo "$(basename "$0"): $t is missing (scripts/deps.sh)" >&2; exit 1; }
done

expect_probe() {
	local want=$1 from=$2 got

	shift 2
	got=$(cl_probe "$from" "$@" 500)
	if [ "$got" = "$want" ]; then
		ok "$from -> $2:$3/$1 $want"
	else
		bad "$from -> $2:$3/$1: expected $want, got '$got'"
	fi
}

expect_out() {
	local what=$1 pat=$2 out

	shift 2
	if out=$("$@" 2>&1) && grep -qE -- "$pat" <<<"$out"; then
		ok "$what"
	else
		bad "$what: /$pat/ not in: $out"
	fi
}

# expect_fail WHAT PATTERN CMD...: CMD fails and says PATTERN
expect_fail() {
	local what=$1 pat=$2 out

	shift 2
	if ! out=$("$@" 2>&1) && grep -qE -- "$pat" <<<"$out"; then
		ok "$what"
	else
		bad "$what: expected a failure saying /$pat/, got: $out"
	fi
}

# wait_for SECONDS CMD...: until CMD succeeds
wait_for() {
	local s=$1 i

	shift
	for i in $(seq $((s * 20))); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}

nodes_ready() { # NODE COUNT: NODE's daemon sees COUNT live nodes
	[ "$(pwn "$1" get nodes -o json | jq '[.items[] | select(.status == "Ready")] | length')" = "$2" ]
}
pods_seen() { # NODE: names of the pods NODE's core holds
	pwn "$1" get pods -A -o json | jq -r '[.items[].name] | sort | join(",")'
}

