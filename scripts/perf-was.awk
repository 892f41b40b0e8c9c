# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# perf-was.awk OLD NEW: NEW (a regenerated docs/performance.md) with every figure of its tables
# that changed shown beside the value OLD had: "new (was old)". Used by scripts/bench.sh.
#
# A table is known by its header row; its rows by their position under it (the benchmarks print
# their rows in a fixed order). Cells without a digit (labels, blanks) are never annotated, nor
# are cells equal to the old ones. Annotations already in OLD are dropped first, so each run
# shows the run before it, not a chain.
function strip(s) {
	gsub(/ \(was [^()]*(\([^()]*\)[^()]*)*\)/, "", s)
	return s
}
function ncells(line, arr,    n, i) {
	n = split(line, arr, "|")
	for (i = 1; i <= n; i++) {
		sub(/^ +/, "", arr[i])
		sub(/ +$/, "", arr[i])
	}
	return n
}
FNR == 1 { file++ }
{
	line = $0
	if (line !~ /^\|/) {
		header = ""
		row = 0
		if (file == 2)
			print line
		next
	}
	if (header == "") {
		header = strip(line)
		row = 0
		if (file == 2)
			print line
		next
	}
	if (line ~ /^\|[-:| ]+\|$/) { # the alignment row
		if (file == 2)
			print line
		next
	}
	row++
	key = header SUBSEP row
	if (file == 1) {
		old[key] = strip(line)
		next
	}
	if (!(key in old)) {
		print line
		next
	}
	n = ncells(line, nc)
	m = ncells(old[key], oc)
	out = "|"
	for (i = 2; i < n; i++) {
		c = nc[i]
		if (i < m && c ~ /[0-9]/ && oc[i] != c && oc[i] ~ /[0-9]/)
			c = c " (was " oc[i] ")"
		out = out " " c " |"
	}
	print out
}
