#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The test command: installs what is missing (Debian 12), builds, and runs every test.
# Needs root: the tests load BPF programs and build network namespaces and cgroups.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${PODWALL_BUILD_DIR:-$top/build}

if [ "$(id -u)" -ne 0 ]; then
	echo "scripts/test.sh: the tests load BPF programs and create netns/cgroups: run as root" >&2
	exit 1
fi

"$top/scripts/deps.sh"

cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)"

cd "$build"
# No test may be skipped: a skipped netns test hides a broken datapath.
ctest --output-on-failure --no-tests=error "$@"

# A second build under AddressSanitizer + UndefinedBehaviorSanitizer (clang, so the libFuzzer
# targets build there too): the unit and e2e tests again, and a short smoke of each fuzz target
# over its seeds and kept crash inputs. Every sanitizer report of any process (daemons and CLIs
# the e2e tests start included) lands in one directory: a report there fails the run. Skipped
# when ctest arguments select tests, or with PODWALL_SANITIZERS=0.
if [ $# -eq 0 ] && [ "${PODWALL_SANITIZERS:-1}" != 0 ]; then
	san=${PODWALL_SAN_BUILD_DIR:-$top/build-san}
	CC=clang cmake -S "$top" -B "$san" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPW_SANITIZE=ON \
		-DPW_FUZZ=ON >/dev/null
	cmake --build "$san" -j "$(nproc)"
	logs="$san/sanitizer-logs"
	rm -rf "$logs"
	mkdir -p "$logs"
	cd "$san"
	rc=0
	ASAN_OPTIONS="log_path=$logs/asan:detect_leaks=1" \
		UBSAN_OPTIONS="log_path=$logs/ubsan:print_stacktrace=1:halt_on_error=1" \
		ctest --output-on-failure --no-tests=error -R '^(test_|e2e_|smoke_)' || rc=$?
	if [ -n "$(ls -A "$logs")" ]; then
		echo "sanitizer reports:" >&2
		for f in "$logs"/*; do
			echo "== $f" >&2
			head -n 60 "$f" >&2
		done
		rc=1
	fi
	exit $rc
fi
