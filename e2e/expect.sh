# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# Checks shared by the end-to-end scripts, sourced after topology.sh: ok/bad counters, the
# exit trap that cleans up and prints "N passed, N failed", and expectations on probes, CLI
# output and daemon option errors. Needs PW_DAEMON, PW_CLI, PW_PROBE.

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
	[ -n "${PW_E2E_KEEP_LOG:-}" ] && cat "$TOPO_DLOG" >&2
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
trap 'on_exit $?' EXIT
# bash runs no EXIT trap when a signal kills it: turn each into an exit
trap 'exit 130' INT TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE


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

# expect_opt_error WHAT PATTERN ARGS...: podwalld refuses ARGS before touching anything (exit 2)
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
