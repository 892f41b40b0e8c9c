# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# The checks of the end-to-end scripts, sourced after topology.sh: counters, ok/bad, the exit
# path that cleans up and fails an interrupted run, and the common expectations.
#
#   checks_init NAME     root check, traps; at exit: cleanup, leftovers, "N passed, N failed"
#   expect_probe WANT FROM tcp|udp ADDR PORT   one live connection attempt (CHECK_PROBE_MS)
#   expect_out WHAT PATTERN CMD...             CMD succeeds and its output matches PATTERN

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
# an interrupted or aborted run fails whatever its counts say
on_exit() {
	local rc=$1

	trap '' PIPE HUP INT TERM
	finish || rc=${rc/#0/1}
	exit "$rc"
}
checks_init() {
	trap 'on_exit $?' EXIT
	# bash runs no EXIT trap when a signal kills it: turn each into an exit
	trap 'exit 130' INT TERM
	trap 'exit 129' HUP
	trap 'exit 141' PIPE
	if [ "$(id -u)" -ne 0 ]; then
		echo "$1: needs root (netns, cgroups, BPF)" >&2
		exit 1
	fi
}

expect_probe() {
	local want=$1 from=$2 got

	shift 2
	got=$(topo_probe "$from" "$@" "${CHECK_PROBE_MS:-500}")
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
