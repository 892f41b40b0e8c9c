# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# Counting and ending a shell test on a simulated node (sourced after topology.sh): ok / bad /
# check count results; testlib_traps makes every exit (a failed setup, a signal) clean up the
# run, check that nothing is left, print "N passed, N failed" and fail unless all passed.

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
# check DESCRIPTION EXPECTED ACTUAL
check() {
	if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: expected '$2', got '$3'"; fi
}
testlib_finish() {
	local left

	topo_cleanup
	left=$(topo_leftovers)
	if [ "$left" != 0 ]; then bad "cleanup left $left objects behind"; else ok "cleanup left nothing behind"; fi
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}
testlib_on_exit() {
	local rc=$1

	trap '' PIPE HUP INT TERM
	testlib_finish || rc=${rc/#0/1}
	exit "$rc"
}
testlib_traps() {
	trap 'testlib_on_exit $?' EXIT
	# bash runs no EXIT trap when a signal kills it: turn each into an exit
	trap 'exit 130' INT TERM
	trap 'exit 129' HUP
	trap 'exit 141' PIPE
}
