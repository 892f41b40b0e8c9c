# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# What the cluster-mode tests share: testlib.sh (arguments, counting, cleanup on every path,
# probes) over the three-node topology (cluster_topology.sh) instead of the single node, and
# the checks they make. Sourced with the test's arguments.

# shellcheck source=testlib.sh
. "$(dirname "${BASH_SOURCE[0]}")/testlib.sh" "$@"
# shellcheck source=cluster_topology.sh
. "$(dirname "${BASH_SOURCE[0]}")/cluster_topology.sh"

# testlib.sh's, for three nodes and an etcd instead of one node
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
topo_probe() { cl_probe "$@"; }

for t in etcd etcdctl jq openssl; do
	command -v "$t" >/dev/null || { echo "$E2E_NAME: $t is missing (scripts/deps.sh)" >&2; exit 1; }
done

nodes_ready() { # NODE COUNT: NODE's daemon sees COUNT live nodes
	[ "$(pwn "$1" get nodes -o json | jq '[.items[] | select(.status == "Ready")] | length')" = "$2" ]
}
pods_seen() { # NODE: names of the pods NODE's core holds
	pwn "$1" get pods -A -o json | jq -r '[.items[].name] | sort | join(",")'
}

