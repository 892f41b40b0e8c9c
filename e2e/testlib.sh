# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# What every end-to-end test script shares: its three programs from the command line, the
# simulated node (topology.sh), ok/bad counting, a closing "N passed, N failed" line, cleanup
# on every path (an interrupted or aborted run fails whatever its counts say), and the probe
# check. Sourced first thing:  . "$(dirname "$0")/testlib.sh" "$@"
#
# usage of a test: test_X.sh PODWALLD PODWALL PWPROBE   (root)

PW_DAEMON=$(realpath "$1")
PW_CLI=$(realpath "$2")
PW_PROBE=$(realpath "$3")
E2E_NAME=$(basename "$0")
# shellcheck source=topology.sh
. "$(dirname "${BASH_SOURCE[0]}")/topology.sh"

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

	topo_cleanup
	left=$(topo_leftovers)
	if [ "$left" != 0 ]; then
		bad "cleanup left $left objects behind"
	else
		ok "cleanup left nothing behind"
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
# bash runs no EXIT trap when a signal kills it: turn each into an exit
trap 'exit 130' INT TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE

if [ "$(id -u)" -ne 0 ]; then
	echo "$E2E_NAME: needs root (netns, cgroups, BPF)" >&2
	exit 1
fi

# expect_probe WANT FROM tcp|udp ADDR PORT: one live connection attempt
expect_probe() {
	local want=$1 from=$2 got

	shift 2
	got=$(topo_probe "$from" "$@" 500)
	if [ "$got" = "$want" ]; then
		ok "$from -> $2:$3/$1 $want"
	else
		bad "$from -> $2:$3/$1: expected $want, got '$got'"
	fi
}

# expect_out WHAT PATTERN CMD...: CMD succeeds and its output matches PATTERN
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

# expect_opt_error WHAT PATTERN ARGS...: refused before anything is touched (exit 2)
expect_opt_error() {
	local what=$1 pat=$2 out rc

	shift 2
	out=$(timeout 10 "$PW_DAEMON" --bpffs /nonexistent/podwall-opt-test "$@" 2>&1)
	rc=$?
	if [ "$rc" = 2 ] && grep -qE -- "$pat" <<<"$out"; then
		ok "option error: $what"
	else
		bad "option error: $what: rc=$rc, /$pat/ not in: $out"
	fi
}

# pod_manifest NS NAME APP IFNAME IP4 IP6 [SPEC]: a Pod document bound by annotations (app=APP,
# host interface IFNAME, cgroup NS/NAME), with SPEC (YAML lines such as "spec:" and its
# containers) before its status
pod_manifest() {
	cat <<EOF
---
apiVersion: v1
kind: Pod
metadata:
  namespace: $1
  name: $2
  labels:
    app: $3
  annotations:
    podwall.io/interface: $4
    podwall.io/cgroup: $1/$2
EOF
	[ -n "${7:-}" ] && printf '%s\n' "$7"
	cat <<EOF
status:
  podIPs:
  - ip: $5
  - ip: $6
EOF
}
