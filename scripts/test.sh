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
