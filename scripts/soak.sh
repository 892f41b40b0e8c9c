#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The churn soak (issue 10), not part of the test command: e2e/soak_churn.sh for SECONDS
# (default 600: 10 minutes) at RATE policy/label changes per second (default 100), with
# traffic, every checked verdict compared with a reference evaluation, the daemon's memory
# sampled. Needs root. The test command runs the same for 60 s (ctest e2e_churn).
#   scripts/soak.sh [SECONDS [RATE]]
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${PODWALL_BUILD_DIR:-$top/build}
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" --target podwalld podwall pwprobe pwchurn >/dev/null
exec bash "$top/e2e/soak_churn.sh" "$build/ctl/podwalld" "$build/ctl/podwall" \
	"$build/e2e/pwprobe" "$build/e2e/pwchurn" "${1:-600}" "${2:-100}"
