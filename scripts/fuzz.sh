#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Fuzzing with libFuzzer (issue 10).
#
#   scripts/fuzz.sh [--runs N] [--jobs N] [TARGET...]
#       a campaign: builds the fuzz targets (clang, ASan + UBSan, build-fuzz/ or
#       $PODWALL_FUZZ_BUILD), then runs each TARGET (default: all) for N executions (default
#       10^7) at the lowest priority (nice -n 19), from a working corpus seeded with
#       fuzz/corpus/TARGET and fuzz/regress/TARGET; prints executions, coverage, corpus size
#       and crashes per target. A crash input is saved under the build directory; once fixed,
#       keep it in fuzz/regress/TARGET so every smoke replays it.
#   scripts/fuzz.sh --smoke BINARY TARGET
#       the test command's smoke (ctest smoke_TARGET): every seed and regression input, then
#       PODWALL_FUZZ_SMOKE_S seconds (default 20) of new inputs; nothing written to the repo.
# fuzz_tc needs root (a private netns and BPF test runs).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)

run_target() { # BINARY TARGET WORKDIR ARGS...: libFuzzer over the seeds; its log in WORKDIR
	local bin=$1 name=$2 work=$3 seeds=() d

	shift 3
	mkdir -p "$work/corpus" "$work/crashes"
	for d in "$top/fuzz/corpus/$name" "$top/fuzz/regress/$name"; do
		[ -d "$d" ] && seeds+=("$d")
	done
	# new inputs go to the first directory (the work corpus), never into the repo
	"$bin" "$work/corpus" "${seeds[@]}" -artifact_prefix="$work/crashes/" -max_len=4096 \
		-print_final_stats=1 -detect_leaks=1 "$@" >"$work/log" 2>&1
}

summary() { # TARGET WORKDIR RC
	local name=$1 work=$2 rc=$3 execs cov ft corp crashes

	execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$work/log" | grep -oE '[0-9]+$' |
		tail -n1)
	cov=$(grep -oE 'cov: [0-9]+' "$work/log" | tail -n1 | grep -oE '[0-9]+')
	ft=$(grep -oE 'ft: [0-9]+' "$work/log" | tail -n1 | grep -oE '[0-9]+')
	corp=$(find "$work/corpus" -type f | wc -l)
	crashes=$(find "$work/crashes" -type f | wc -l)
	printf '%-14s executions %-10s coverage %-6s features %-6s corpus %-6s crashes %s%s\n' \
		"$name" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$corp" "$crashes" \
		"$([ "$rc" = 0 ] || echo " (exit $rc: see $work/log)")"
}

if [ "${1:-}" = --smoke ]; then
	bin=$2 name=$3
	work=$(mktemp -d "/tmp/podwall-fuzz-$name-$$.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	rc=0
	run_target "$bin" "$name" "$work" -max_total_time="${PODWALL_FUZZ_SMOKE_S:-20}" \
		-timeout=10 -rss_limit_mb=2048 || rc=$?
	summary "$name" "$work" "$rc"
	if [ "$rc" != 0 ]; then
		tail -n 60 "$work/log"
		for f in "$work"/crashes/*; do
			[ -e "$f" ] && { echo "crash input ($f), base64:"; base64 -w0 "$f"; echo; }
		done
	fi
	exit "$rc"
fi

runs=10000000
jobs=1
targets=()
while [ $# -gt 0 ]; do
	case $1 in
	--runs) runs=$2; shift 2 ;;
	--jobs) jobs=$2; shift 2 ;;
	-h | --help) sed -n '3,18p' "$0"; exit 0 ;;
	*) targets+=("$1"); shift ;;
	esac
done
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_manifest fuzz_proto fuzz_flows fuzz_tc)

build=${PODWALL_FUZZ_BUILD:-$top/build-fuzz}
CC=clang cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPW_SANITIZE=ON \
	-DPW_FUZZ=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target "${targets[@]}" >/dev/null

echo "campaign: $runs executions per target, $(date -u +%FT%TZ), $(uname -r), $(clang --version | head -n1)"
status=0
for t in "${targets[@]}"; do
	work="$build/fuzz-campaign/$t"
	rm -rf "$work/crashes"
	start=$(date +%s)
	rc=0
	par=""
	# -jobs writes fuzz-N.log into the working directory: run from the target's own
	[ "$jobs" -gt 1 ] && par="-jobs=$jobs -workers=$jobs"
	mkdir -p "$work"
	(cd "$work" && nice -n 19 bash -c "$(declare -f run_target); top='$top'; \
		run_target '$build/fuzz/$t' '$t' '$work' -runs=$runs -timeout=10 \
		-rss_limit_mb=2048 $par") || rc=$?
	summary "$t" "$work" "$rc"
	echo "               $(( $(date +%s) - start )) s"
	[ "$rc" = 0 ] || status=1
done
exit $status
