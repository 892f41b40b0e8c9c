#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# check-layers.sh LIB.a...: no import circle between the files of these static libraries,
# inside one library or across them.
#
# Reads the call graph from the objects themselves (nm): file A depends on file B when A uses
# a symbol B defines. Every call the compiler resolved is there, whatever the headers say;
# calls through function pointers are not (a library's callbacks point up by design).
# Prints the files, callees first; fails, naming the circle, when there is one.
set -euo pipefail

[ $# -gt 0 ] || { echo "usage: $0 LIB.a..." >&2; exit 2; }
for lib in "$@"; do
	[ -r "$lib" ] || { echo "check-layers: cannot read $lib" >&2; exit 2; }
done
errs=$(mktemp)
trap 'rm -f "$errs"' EXIT

# "user definer" for each symbol a file uses and another file defines; "f f" for every file
edges=$(nm -A -g "$@" | awk '
	NF >= 2 {	# skips the blank and "LIB.a:" lines nm puts between libraries
		n = split($0, f, ":")
		lib = f[n - 2]; sub(/.*\//, "", lib); sub(/^lib/, "", lib); sub(/\.a$/, "", lib)
		file = f[n - 1]; sub(/\.o$/, "", file); file = lib "/" file
		k = split(f[n], w, " "); sym = w[k]; type = w[k - 1]
		if (type == "U") used[file, sym] = 1
		else if (type ~ /^[A-TV-Z]$/) def[sym] = file
		files[file] = 1
	}
	END {
		for (x in files) print x, x
		for (us in used) {
			split(us, p, SUBSEP)
			if ((p[2] in def) && def[p[2]] != p[1]) print p[1], def[p[2]]
		}
	}' | sort -u)

# tsort lists users before what they use: reversed, callees come first
if order=$(printf '%s\n' "$edges" | tsort 2>"$errs"); then
	echo "check-layers: no import circle; files, callees first:"
	echo "$order" | tac | awk '{ printf "  %s", $0 } END { print "" }'
	exit 0
fi
echo "check-layers: IMPORT CIRCLE through these files:" >&2
grep -v 'input contains a loop' "$errs" | sed 's/^tsort: -: /  /; s/^tsort: /  /' >&2
echo "calls between files (user -> definer):" >&2
printf '%s\n' "$edges" | awk '$1 != $2 { print "  " $1 " -> " $2 }' >&2
exit 1
