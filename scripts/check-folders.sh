#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Which folder includes which: an edge A -> B for every #include of a file of folder A that
# names a header of folder B (ctl/*, datapath, include/podwall; podwall/datapath.h counts as
# datapath's). Prints the edges and fails when they contain a cycle (an import circle), as
# tsort finds it. Header names are unique across these folders (checked), so a name is a place.
# Usage: scripts/check-folders.sh [--quiet]. Beside it, check-layers.sh checks the files of
# the libraries (their call graph, from the objects); this one the folders, programs included.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

declare -A home # header name -> folder
for d in ctl/*/ datapath/ include/podwall/; do
	d=${d%/}
	for h in "$d"/*.h; do
		[ -e "$h" ] || continue
		name=${h##*/}
		[ "$d" = include/podwall ] && name=podwall/$name
		if [ -n "${home[$name]:-}" ] && [ "${home[$name]}" != "$d" ]; then
			echo "check-folders: $name is in both ${home[$name]} and $d" >&2
			exit 1
		fi
		home[$name]=$d
	done
done
# the datapath library's API lives beside the shared structures, but it is the datapath's
home[podwall/datapath.h]=datapath

edges=$(for d in ctl/*/ datapath/; do
	d=${d%/}
	for f in "$d"/*.[ch]; do
		[ -e "$f" ] || continue
		sed -n 's/^#[[:space:]]*include[[:space:]]*[<"]\([^">]*\)[">].*/\1/p' "$f" |
			while read -r inc; do
				to=${home[$inc]:-}
				if [ -n "$to" ] && [ "$to" != "$d" ]; then
					echo "$d $to"
				fi
			done
	done
done | sort -u)

[ "${1:-}" = --quiet ] || printf '%s\n' "$edges" | sed 's/ / -> /'
errs=$(mktemp)
trap 'rm -f "$errs"' EXIT
if ! printf '%s\n' "$edges" | tsort >/dev/null 2>"$errs"; then
	echo "check-folders: an import circle:" >&2
	cat "$errs" >&2
	exit 1
fi
echo "check-folders: no import circle"
