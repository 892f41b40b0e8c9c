#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Turn a peer-comparison run (bench/peers/run.sh's work directory) into docs/perf/peers.md, its
# raw data (peers-raw.txt) and plots (peers-*.png). Separate from run.sh so the report can be
# regenerated from a run's raw data:
#
#   bench/peers/report.sh --work DIR --out docs/perf
#
# Statistics: for every configuration, test and metric, the median and min..max over the
# measured rounds (round 0, the warm-up, is dropped). A ratio is the configuration's median over
# the reference's median; the range beside it is the min..max of the per-round ratios (each
# round measures both sides back to back, so a ratio within one round cancels slow drift). A
# ratio whose per-round range reaches both sides of 1.00 is marked "~": that difference is
# smaller than the run's own spread and should not be read as one.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
work=""
out=""
while [ $# -gt 0 ]; do
	case "$1" in
	--work) work=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	*) echo "usage: report.sh --work DIR --out DIR" >&2; exit 2 ;;
	esac
done
[ -n "$work" ] && [ -n "$out" ] || { echo "usage: report.sh --work DIR --out DIR" >&2; exit 2; }
mkdir -p "$out"

meta() { awk -F= -v k="$1" '$1 == k { sub(/^[^=]*=/, ""); print; exit }' "$work/meta"; }

# Raw data beside the report: what the tables were computed from.
{
	echo "# bench/peers/run.sh raw results ($(meta date)); round 0 is the warm-up"
	cat "$work/results.raw"
	echo "# policy sets"
	cat "$work/shapes"
	echo "# podwall map writes per scale switch"
	cat "$work/pw_scale.log" 2>/dev/null || true
	echo "# podwall verdict counters per measurement: round scale allowed-by-policy drops"
	cat "$work/pw_verdicts" 2>/dev/null || true
	echo "# iptables: round scale packets-accepted-by-the-measured-policy-rule"
	cat "$work/ipt_verdicts" 2>/dev/null || true
	echo "# podwalld without policy: round packets-counted-not-isolated"
	cat "$work/nopolicy_verdicts" 2>/dev/null || true
	echo "# podwalld with its flow log: round records-in-the-file {records, lost} (podwall status)"
	cat "$work/pwd_records" 2>/dev/null || true
} >"$out/peers-raw.txt"

# Everything numeric, in one awk pass (portable awk: mawk has no asort).
awk -v plotdir="$work" -f - "$work/results.raw" "$work/shapes" >"$work/tables.md" <<'AWK'
function isort(a, n,    i, j, t) {
	for (i = 2; i <= n; i++) {
		t = a[i]
		for (j = i - 1; j >= 1 && a[j] > t; j--)
			a[j + 1] = a[j]
		a[j + 1] = t
	}
}
# median/min/max of vals[k, 1..cnt[k]] into gmed, gmin, gmax
function stat(k,    n, i, a) {
	n = cnt[k]
	if (!n) { gmed = gmin = gmax = ""; return 0 }
	for (i = 1; i <= n; i++) a[i] = vals[k, i]
	isort(a, n)
	gmin = a[1]; gmax = a[n]
	gmed = n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	return n
}
# per-round ratios of (kind a, scale sa) over (kind b, scale sb) for test t, metric m
function ratio(a, sa, b, sb, t, m,    r, n, x, y, arr, ka, kb) {
	n = 0
	for (r = 1; r <= maxround; r++) {
		ka = a SUBSEP sa SUBSEP t SUBSEP m SUBSEP r
		kb = b SUBSEP sb SUBSEP t SUBSEP m SUBSEP r
		if ((ka in byround) && (kb in byround) && byround[kb] > 0)
			arr[++n] = byround[ka] / byround[kb]
	}
	if (!n) { rmed = rmin = rmax = ""; return 0 }
	isort(arr, n)
	rmin = arr[1]; rmax = arr[n]
	stat(a SUBSEP sa SUBSEP t SUBSEP m); x = gmed
	stat(b SUBSEP sb SUBSEP t SUBSEP m); y = gmed
	rmed = y > 0 ? x / y : 0
	return n
}
function fmt(v, m) {
	if (v == "") return "n/a"
	if (m == "gbps") return sprintf("%.2f", v)
	if (m == "p50_us" || m == "p99_us") return sprintf("%.1f", v)
	return sprintf("%.0f", v)
}
function cell(k, m) {
	if (!stat(k)) return "n/a"
	return fmt(gmed, m) " (" fmt(gmin, m) "–" fmt(gmax, m) ")"
}
function rcell(a, sa, b, sb, t, m,    flag) {
	if (!ratio(a, sa, b, sb, t, m)) return "n/a"
	flag = (rmin <= 1 && rmax >= 1) ? " ~" : ""
	return sprintf("%.2f [%.2f–%.2f]%s", rmed, rmin, rmax, flag)
}
# "-12% (0.88)" from the ratio of medians, or a note that the spread is larger than the change
function pct(r,    p) {
	p = (r - 1) * 100
	return (p > -0.5 && p < 0.5) ? "±0%" : sprintf("%+.0f%%", p)
}
function delta(a, sa, b, sb, t, m) {
	if (!ratio(a, sa, b, sb, t, m)) return "n/a"
	if (rmin <= 1 && rmax >= 1)
		return sprintf("%s (within the run's spread, %.2f–%.2f)", pct(rmed), rmin, rmax)
	return sprintf("%s (%.2f–%.2f)", pct(rmed), rmin, rmax)
}
# a target against a median ratio and its per-round range
function tgt(m, lo, hi, t) {
	return (m >= t ? "met" : "not met") (lo < t && hi >= t ? " by the median, but the rounds fall on both sides of it" : "")
}
# wP:M -> a sort key and a name
function wkey(s,    a) { split(substr(s, 2), a, ":"); return a[1] * 100000 + a[2] }
function wname(s,    a) {
	split(substr(s, 2), a, ":")
	return a[1] " polic" (a[1] == 1 ? "y" : "ies") ", " a[2] " pods"
}
function rowname(k, s) {
	if (k == "baseline") return "baseline (nothing attached)"
	if (k == "empty") return "empty programs on podwall's hooks"
	if (k == "nopolicy") return "podwalld, pods known, no policy"
	if (k == "podwall") return "podwall, " scalename(s)
	return "iptables+ipset, " scalename(s)
}
function scalename(s) {
	if (s >= 1000 && s % 1000 == 0) return (s / 1000) "k"
	return s
}
FNR == NR {
	delete f
	for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
	r = f["round"] + 0
	if (r > maxround) maxround = r
	if (r == 0) next
	for (m in metric_list) {
		if (!(m in f)) continue
		k = f["kind"] SUBSEP f["scale"] SUBSEP f["test"] SUBSEP m
		vals[k, ++cnt[k]] = f[m] + 0
		byround[k SUBSEP r] = f[m] + 0
	}
	if (f["errors"] + 0 > 0)
		errs[f["kind"] " " scalename(f["scale"]) " " f["test"]] += f["errors"]
	if (f["kind"] != "baseline" && !((f["kind"], f["scale"]) in seen)) {
		seen[f["kind"], f["scale"]] = 1
		if (f["kind"] == "podwall") { pwscales[++npw] = f["scale"] + 0; pwset[f["scale"] + 0] = 1 }
		if (f["kind"] == "pwwide") wscales[++nw] = f["scale"]
	}
	next
}
/wide=/ { # shapes of the wide sets
	delete f
	for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
	wshape[f["wide"]] = sprintf("| %s | %s | %s | **%s** | %s | %s | %s | %s | **%s** |",
		f["policies"], f["pods"], f["measured_policy_peers"], f["pw_policy_entries"],
		f["pw_ipcache_entries"], f["ipt_rules"], f["ipt_sets"], f["ipt_members"],
		f["ipt_total"])
	next
}
{ # shapes
	delete f
	for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
	shape[++nshape] = sprintf("| %s | %s | %s | %s | **%s** | %s | %s | %s | %s | **%s** |",
		scalename(f["scale"]), f["policies"], f["subjects"], f["measured_policy_peers"],
		f["pw_policy_entries"], f["pw_ipcache_entries"], f["ipt_rules"], f["ipt_sets"],
		f["ipt_members"], f["ipt_total"])
}
BEGIN {
	metric_list["rate"]; metric_list["gbps"]; metric_list["p50_us"]; metric_list["p99_us"]
	tname["rr"] = "TCP_RR (trans/s)"; tname["crr"] = "TCP_CRR (conn/s)"
	tname["stream"] = "TCP_STREAM (Gbit/s)"; tname["udp_rr"] = "UDP_RR (trans/s)"
	tm["rr"] = "rate"; tm["crr"] = "rate"; tm["stream"] = "gbps"; tm["udp_rr"] = "rate"
	ntests = split("rr crr stream udp_rr", tests, " ")
}
END {
	isort(pwscales, npw)
	for (i = 2; i <= nw; i++) { # by policies, then pods
		t = wscales[i]
		for (j = i - 1; j >= 1 && wkey(wscales[j]) > wkey(t); j--) wscales[j + 1] = wscales[j]
		wscales[j + 1] = t
	}
	print "<!-- BEGIN shapes -->"
	print "| scale | policies | subject pods | peers of the measured policy | podwall policy entries | podwall ipcache entries | iptables rules | ipsets | set members | iptables rules + members |"
	print "|---|---|---|---|---|---|---|---|---|---|"
	for (i = 1; i <= nshape; i++) print shape[i]
	print "<!-- END shapes -->"

	print "<!-- BEGIN absolute -->"
	printf "| configuration |"
	for (j = 1; j <= ntests; j++) printf " %s |", tname[tests[j]]
	print ""
	printf "|---|"
	for (j = 1; j <= ntests; j++) printf "---|"
	print ""
	nrow = 0
	row[++nrow] = "baseline" SUBSEP 0
	row[++nrow] = "empty" SUBSEP 0
	row[++nrow] = "nopolicy" SUBSEP 0
	for (i = 1; i <= npw; i++) {
		row[++nrow] = "podwall" SUBSEP pwscales[i]
		row[++nrow] = "iptables" SUBSEP pwscales[i]
	}
	for (i = 1; i <= nrow; i++) {
		split(row[i], rk, SUBSEP)
		printf "| %s |", rowname(rk[1], rk[2])
		for (j = 1; j <= ntests; j++)
			printf " %s |", cell(rk[1] SUBSEP rk[2] SUBSEP tests[j] SUBSEP tm[tests[j]], tm[tests[j]])
		print ""
	}
	print "<!-- END absolute -->"

	print "<!-- BEGIN latency -->"
	print "| configuration | TCP_RR p50 | TCP_RR p99 | TCP_CRR p50 | TCP_CRR p99 | UDP_RR p50 | UDP_RR p99 |"
	print "|---|---|---|---|---|---|---|"
	for (i = 1; i <= nrow; i++) {
		split(row[i], rk, SUBSEP)
		printf "| %s |", rowname(rk[1], rk[2])
		n = split("rr crr udp_rr", lt, " ")
		for (j = 1; j <= n; j++) {
			printf " %s |", cell(rk[1] SUBSEP rk[2] SUBSEP lt[j] SUBSEP "p50_us", "p50_us")
			printf " %s |", cell(rk[1] SUBSEP rk[2] SUBSEP lt[j] SUBSEP "p99_us", "p99_us")
		}
		print ""
	}
	print "<!-- END latency -->"

	print "<!-- BEGIN vsbaseline -->"
	printf "| configuration |"
	for (j = 1; j <= ntests; j++) printf " %s |", tname[tests[j]]
	printf " TCP_RR p50 latency | TCP_CRR p50 latency |"
	print ""
	printf "|---|"
	for (j = 1; j <= ntests + 2; j++) printf "---|"
	print ""
	for (i = 2; i <= nrow; i++) {
		split(row[i], rk, SUBSEP)
		printf "| %s |", rowname(rk[1], rk[2])
		for (j = 1; j <= ntests; j++)
			printf " %s |", rcell(rk[1], rk[2], "baseline", 0, tests[j], tm[tests[j]])
		printf " %s |", rcell(rk[1], rk[2], "baseline", 0, "rr", "p50_us")
		printf " %s |", rcell(rk[1], rk[2], "baseline", 0, "crr", "p50_us")
		print ""
	}
	print "<!-- END vsbaseline -->"

	print "<!-- BEGIN vsipt -->"
	printf "| policy entries |"
	for (j = 1; j <= ntests; j++) printf " %s |", tname[tests[j]]
	printf " TCP_RR p50 latency | TCP_CRR p50 latency |"
	print ""
	printf "|---|"
	for (j = 1; j <= ntests + 2; j++) printf "---|"
	print ""
	for (i = 1; i <= npw; i++) {
		printf "| %s |", scalename(pwscales[i])
		for (j = 1; j <= ntests; j++)
			printf " %s |", rcell("podwall", pwscales[i], "iptables", pwscales[i], tests[j], tm[tests[j]])
		printf " %s |", rcell("podwall", pwscales[i], "iptables", pwscales[i], "rr", "p50_us")
		printf " %s |", rcell("podwall", pwscales[i], "iptables", pwscales[i], "crr", "p50_us")
		print ""
	}
	print "<!-- END vsipt -->"

	# one sentence per test: how each enforcer moves the figure, smallest and largest scale
	print "<!-- BEGIN summary -->"
	lo = pwscales[1]; hi = pwscales[npw]
	for (j = 1; j <= ntests; j++) {
		t = tests[j]; m = tm[t]
		printf "- %s: podwall %s at %s entries and %s at %s; iptables+ipset %s and %s.\n", \
			tname[t], delta("podwall", lo, "baseline", 0, t, m), scalename(lo), \
			delta("podwall", hi, "baseline", 0, t, m), scalename(hi), \
			delta("iptables", lo, "baseline", 0, t, m), \
			delta("iptables", hi, "baseline", 0, t, m)
	}
	n = split("rr crr", lt, " ")
	for (j = 1; j <= n; j++) {
		t = lt[j]
		printf "- %s median latency: podwall %s at %s entries and %s at %s; iptables+ipset %s and %s.\n", \
			t == "rr" ? "TCP_RR" : "TCP_CRR", \
			delta("podwall", lo, "baseline", 0, t, "p50_us"), scalename(lo), \
			delta("podwall", hi, "baseline", 0, t, "p50_us"), scalename(hi), \
			delta("iptables", lo, "baseline", 0, t, "p50_us"), \
			delta("iptables", hi, "baseline", 0, t, "p50_us")
	}
	printf "- podwall against iptables+ipset at %s entries: TCP_CRR rate %s, TCP_RR rate %s; TCP_CRR median latency %s.\n", \
		scalename(hi), delta("podwall", hi, "iptables", hi, "crr", "rate"), \
		delta("podwall", hi, "iptables", hi, "rr", "rate"), \
		delta("podwall", hi, "iptables", hi, "crr", "p50_us")
	print "<!-- END summary -->"

	# podwall as deployed (the daemon), flow log on and off: the cost of auditing
	print "<!-- BEGIN daemon -->"
	printf "| configuration |"
	for (j = 1; j <= ntests; j++) printf " %s |", tname[tests[j]]
	printf " TCP_RR p50 latency | TCP_CRR p50 latency |"
	print ""
	printf "|---|"
	for (j = 1; j <= ntests + 2; j++) printf "---|"
	print ""
	n = split("0 1", dl, " ")
	for (i = 1; i <= n; i++) {
		printf "| podwalld, flow log %s |", dl[i] == 1 ? "on (--flow-log FILE)" : "off"
		for (j = 1; j <= ntests; j++)
			printf " %s |", cell("podwalld" SUBSEP dl[i] SUBSEP tests[j] SUBSEP tm[tests[j]], tm[tests[j]])
		printf " %s |", cell("podwalld" SUBSEP dl[i] SUBSEP "rr" SUBSEP "p50_us", "p50_us")
		printf " %s |", cell("podwalld" SUBSEP dl[i] SUBSEP "crr" SUBSEP "p50_us", "p50_us")
		print ""
	}
	printf "| **on / off** |"
	for (j = 1; j <= ntests; j++)
		printf " **%s** |", rcell("podwalld", 1, "podwalld", 0, tests[j], tm[tests[j]])
	printf " %s |", rcell("podwalld", 1, "podwalld", 0, "rr", "p50_us")
	printf " %s |", rcell("podwalld", 1, "podwalld", 0, "crr", "p50_us")
	print ""
	printf "| on / baseline |"
	for (j = 1; j <= ntests; j++)
		printf " %s |", rcell("podwalld", 1, "baseline", 0, tests[j], tm[tests[j]])
	printf " %s |", rcell("podwalld", 1, "baseline", 0, "rr", "p50_us")
	printf " %s |", rcell("podwalld", 1, "baseline", 0, "crr", "p50_us")
	print ""
	print "<!-- END daemon -->"

	# the hooks' own cost against podwall's logic: each step over the one before it
	print "<!-- BEGIN hooks -->"
	printf "| step | TCP_CRR (conn/s) | TCP_RR (trans/s) | TCP_CRR p50 latency | TCP_RR p50 latency |\n"
	print "|---|---|---|---|---|"
	nst = 0
	stp[++nst] = "empty" SUBSEP 0 SUBSEP "baseline" SUBSEP 0 SUBSEP "the hooks: empty programs / baseline"
	stp[++nst] = "nopolicy" SUBSEP 0 SUBSEP "empty" SUBSEP 0 SUBSEP "podwall's logic, no policy: podwalld without policy / empty programs"
	stp[++nst] = "podwalld" SUBSEP 0 SUBSEP "nopolicy" SUBSEP 0 SUBSEP "enforcing the measured policy: podwalld with it / podwalld without policy"
	if (10000 in pwset)
		stp[++nst] = "podwall" SUBSEP 10000 SUBSEP "empty" SUBSEP 0 SUBSEP "podwall at 10k entries (library) / empty programs"
	stp[++nst] = "nopolicy" SUBSEP 0 SUBSEP "baseline" SUBSEP 0 SUBSEP "all of it, no policy: podwalld without policy / baseline"
	for (i = 1; i <= nst; i++) {
		split(stp[i], qq, SUBSEP)
		printf "| %s | %s | %s | %s | %s |\n", qq[5], rcell(qq[1], qq[2], qq[3], qq[4], "crr", "rate"), \
			rcell(qq[1], qq[2], qq[3], qq[4], "rr", "rate"), rcell(qq[1], qq[2], qq[3], qq[4], "crr", "p50_us"), \
			rcell(qq[1], qq[2], qq[3], qq[4], "rr", "p50_us")
	}
	print "<!-- END hooks -->"

	# issue 17's target at 10k entries
	print "<!-- BEGIN target10k -->"
	if (10000 in pwset) {
		ratio("podwall", 10000, "baseline", 0, "crr", "rate"); c = rmed; cl = rmin; ch = rmax
		ratio("podwall", 10000, "baseline", 0, "rr", "rate"); r = rmed; rl = rmin; rh = rmax
		ratio("podwall", 10000, "baseline", 0, "crr", "p50_us"); lc = rmed
		ratio("podwall", 10000, "baseline", 0, "rr", "p50_us"); lr = rmed
		printf "At 10k policy entries podwall's TCP_CRR rate is **%.2f** of the baseline's (per-round %.2f–%.2f; target >= 0.95: %s) and its TCP_RR rate **%.2f** (per-round %.2f–%.2f; target >= 0.97: %s). Median latency: TCP_CRR x%.2f, TCP_RR x%.2f of the baseline's.\n", \
			c, cl, ch, tgt(c, cl, ch, 0.95), r, rl, rh, tgt(r, rl, rh, 0.97), lc, lr
	} else
		print "No 10k-entry scale in this run."
	print "<!-- END target10k -->"

	# the wide sets
	print "<!-- BEGIN wshapes -->"
	print "| policies selecting the server | pods on the node | peers per policy | podwall policy entries | podwall ipcache entries | iptables rules | ipsets | set members | iptables rules + members |"
	print "|---|---|---|---|---|---|---|---|---|"
	for (i = 1; i <= nw; i++) print wshape[wscales[i]]
	print "<!-- END wshapes -->"
	print "<!-- BEGIN wide -->"
	print "| wide set | podwall TCP_CRR (conn/s) | iptables+ipset TCP_CRR (conn/s) | **podwall / iptables, TCP_CRR** | podwall / baseline, TCP_CRR | iptables / baseline, TCP_CRR | TCP_CRR p50 µs, podwall | TCP_CRR p50 µs, iptables | podwall / iptables, TCP_RR |"
	print "|---|---|---|---|---|---|---|---|---|"
	first = ""
	for (i = 1; i <= nw; i++) {
		w = wscales[i]
		printf "| %s | %s | %s | **%s** | %s | %s | %s | %s | %s |\n", wname(w), \
			cell("pwwide" SUBSEP w SUBSEP "crr" SUBSEP "rate", "rate"), \
			cell("iptwide" SUBSEP w SUBSEP "crr" SUBSEP "rate", "rate"), \
			rcell("pwwide", w, "iptwide", w, "crr", "rate"), \
			rcell("pwwide", w, "baseline", 0, "crr", "rate"), \
			rcell("iptwide", w, "baseline", 0, "crr", "rate"), \
			cell("pwwide" SUBSEP w SUBSEP "crr" SUBSEP "p50_us", "p50_us"), \
			cell("iptwide" SUBSEP w SUBSEP "crr" SUBSEP "p50_us", "p50_us"), \
			rcell("pwwide", w, "iptwide", w, "rr", "rate")
		if (ratio("pwwide", w, "iptwide", w, "crr", "rate") && rmed >= 1.5 && first == "") {
			first = w; fmed = rmed; fmin = rmin; fmax = rmax
		} else if (first == "" && rmed != "") {
			below = w; bmed = rmed; bmin = rmin; bmax = rmax
		}
	}
	print "<!-- END wide -->"
	print "<!-- BEGIN widesummary -->"
	if (first != "")
		printf "The first wide set where podwall's TCP_CRR is at least 1.5x iptables+ipset's: **%s**, %.2fx (per-round %.2f–%.2f%s).\n", \
			wname(first), fmed, fmin, fmax, (fmin >= 1.5 ? ", every round at least 1.5x" : "; not every round reaches 1.5x")
	if (first != "" && below != "")
		printf "The last one below it: %s, %.2fx (per-round %.2f–%.2f).\n", wname(below), bmed, bmin, bmax
	else if (nw)
		print "No wide set in this run gives podwall a TCP_CRR of 1.5x iptables+ipset's."
	print "<!-- END widesummary -->"

	print "<!-- BEGIN errors -->"
	ne = 0
	for (e in errs) { printf "%s%s: %d", ne ? "; " : "", e, errs[e]; ne++ }
	if (!ne) printf "none"
	print ""
	print "<!-- END errors -->"

	# plot data: scale, then median min max for crr rate, crr p50, rr p50, udp p50
	stat("baseline" SUBSEP 0 SUBSEP "crr" SUBSEP "rate"); print gmed, gmin, gmax > (plotdir "/plot.baseline")
	stat("baseline" SUBSEP 0 SUBSEP "crr" SUBSEP "p50_us"); print gmed, gmin, gmax > (plotdir "/plot.baseline")
	stat("baseline" SUBSEP 0 SUBSEP "rr" SUBSEP "p50_us"); print gmed, gmin, gmax > (plotdir "/plot.baseline")
	# the wide plot: TCP_CRR against policies, for the pod count of the largest set
	if (nw) split(substr(wscales[nw], 2), wl, ":")
	for (i = 1; i <= nw; i++) {
		w = wscales[i]; split(substr(w, 2), wp, ":")
		if (wp[2] != wl[2]) continue
		n = split("pwwide iptwide", kinds, " ")
		for (j = 1; j <= n; j++) {
			stat(kinds[j] SUBSEP w SUBSEP "crr" SUBSEP "rate")
			print wp[1], gmed, gmin, gmax > (plotdir "/plot." kinds[j])
		}
	}
	n = split("podwall iptables", kinds, " ")
	for (j = 1; j <= n; j++) {
		file = plotdir "/plot." kinds[j]
		for (i = 1; i <= npw; i++) {
			line = pwscales[i]
			nm = split("crr:rate crr:p50_us rr:p50_us", ms, " ")
			for (q = 1; q <= nm; q++) {
				split(ms[q], tmq, ":")
				stat(kinds[j] SUBSEP pwscales[i] SUBSEP tmq[1] SUBSEP tmq[2])
				line = line " " gmed " " gmin " " gmax
			}
			print line > file
		}
	}
}
AWK

# Plots: connection rate and latency against the number of policy entries.
plots=""
wideplot=""
wide_pods() { # the pod count of the wide set with the most policies (what the plot shows)
	awk '/wide=/ {
		for (i = 1; i <= NF; i++) {
			if ($i ~ /^policies=/) q = substr($i, 10) + 0
			if ($i ~ /^pods=/) m = substr($i, 6)
		}
		if (q > best) { best = q; p = m }
	} END { print p }' "$work/shapes"
}
if command -v gnuplot >/dev/null; then
	b=$work/plot.baseline
	crr_b=$(sed -n 1p "$b" | cut -d' ' -f1)
	crrlat_b=$(sed -n 2p "$b" | cut -d' ' -f1)
	rrlat_b=$(sed -n 3p "$b" | cut -d' ' -f1)
	gnuplot -e "pw='$work/plot.podwall'; ipt='$work/plot.iptables'; out='$out/peers-crr.png'; \
		base=$crr_b; col=2; ylab='TCP\\_CRR connections/s (median, min–max)'; \
		ttl='Connection rate against policy entries'" "$here/plot.gp"
	gnuplot -e "pw='$work/plot.podwall'; ipt='$work/plot.iptables'; out='$out/peers-latency.png'; \
		base=$crrlat_b; base2=$rrlat_b; col=5; col2=8; \
		ylab='median latency, µs (min–max over rounds)'; \
		ttl='TCP\\_CRR latency (connect, 1-byte exchange, close) against policy entries'; \
		ttl2='TCP\\_RR latency (1-byte request and response) against policy entries'" \
		"$here/plot.gp"
	plots=yes
	if [ -s "$work/plot.pwwide" ]; then
		gnuplot -e "pw='$work/plot.pwwide'; ipt='$work/plot.iptwide'; out='$out/peers-wide.png'; \
			base=$crr_b; col=2; ylab='TCP\\_CRR connections/s (median, min–max)'; \
			xlab='NetworkPolicies selecting the server pod'; xmin=0.7; xmax=8000; xbase=4; \
			ttl='Connection rate against policies selecting one pod ($(wide_pods) pods on the node)'" \
			"$here/plot.gp"
		wideplot=yes
	fi
fi

section() { sed -n "/<!-- BEGIN $1 -->/,/<!-- END $1 -->/p" "$work/tables.md" | sed '1d;$d'; }

quick=$(meta quick)
{
cat <<EOF
## Against iptables+ipset

<!-- generated by bench/peers/run.sh (scripts/bench.sh); edit bench/peers/report.sh, not this -->

One simulated node, one client pod and one server pod, and the same load measured with nothing
attached, with programs that do nothing on podwall's hooks, with podwall knowing the pods but no
policy, with podwall enforcing policy sets of growing size, and with the same policies as
iptables rules and ipsets, in the layouts kube-router and Calico's iptables mode use. All
configurations run interleaved in the same run.

$(section target10k)

$(section widesummary)
EOF
if [ "$quick" = 1 ]; then
	echo
	echo "**This is a \`--quick\` run** (fewer scales, rounds and seconds): a smoke run, not"
	echo "figures to quote."
fi
cat <<EOF

### Running it

\`\`\`sh
sudo scripts/bench.sh            # every part; rewrites docs/performance.md
sudo scripts/bench.sh --quick    # a smoke run of every part, into build/perf-quick/
# only this section (about 20 minutes; --quick about 3), into another directory:
sudo bench/peers/run.sh --build build --out /tmp/perf [--quick] [--rounds N] [--seconds S] \\
	[--scales 10,1000,10000,100000] [--wide w1:250,w64:250,w4096:250] [--ipset-limit]
# one configuration and test, to profile it (perf record -C <the pinned CPU> meanwhile):
sudo bench/peers/run.sh --build build --out /tmp/perf --rounds 1 --seconds 20 \\
	--only '^podwall 10000' --tests crr
\`\`\`

It needs root and leaves nothing behind: a node netns and two pod netns named after the
script's pid, veths between them, cgroups \`pwbench-<pid>\` under the cgroup2 mount, no bpffs
pins (podwall's programs and maps belong to the benchmark's process), and iptables rules and
ipsets only inside the node netns (the script first proves that an ipset made in one netns is
invisible from another). A trap removes everything on every exit path, and a later run removes
what a killed one left. Addresses are 198.18.0.0/15 only; traffic never leaves these netns.

### Method

**Topology.** As in the project's netns tests: the node is a netns that routes between the
pods; each pod is a netns whose \`eth0\` is a veth to the node. The client pod is 198.18.0.1,
the server pod 198.18.0.2. The load generator, \`bench/peers/pwload.c\`, runs in the pods' netns
and cgroups: one server process answering TCP and UDP on port 8080, one client process per
test.

**Configurations.**

- *baseline*: nothing attached, no iptables table in the node netns (not even an empty one:
  iptables-nft's empty base chains would still hook every packet and turn conntrack on).
- *empty programs on podwall's hooks*: \`bench/empty.bpf.c\`, whose programs only return
  "allow", attached where podwall attaches its own: a TC program on ingress and egress of both
  host-side veths (\`$(meta tc_mode)\`), and connect, sendmsg, recvmsg and getpeername programs,
  v4 and v6, on the cgroup root holding the pods. The run checks, through the kernel's
  attachment query, that 4 TC and 8 socket programs are attached while it measures and no TC
  one after. What the hooks cost by themselves.
- *podwalld, pods known, no policy*: the daemon (\`podwalld\`, no flow log, its own pins and
  cgroup root) with both pods and their namespaces applied and no NetworkPolicy: its programs
  run on every packet and socket call and find the pods not isolated. The run checks that its
  \`not-isolated\` counter grew during every measurement.
- *podwall N*: the datapath library (\`pw_dp_open\` with no pins) loaded once in the node netns
  by \`bench/peers/pwpeers.c\`: TC programs on both host-side veths (\`$(meta tc_mode)\`), socket
  programs on the cgroup root that holds the pods, both pods as endpoints (the server isolated
  for ingress), and scale N's policy set written through the library's batched writers
  (\`pw_dp_policy_update\`, \`pw_dp_ipcache_update\`). Switching scale deletes the previous set,
  writes the new one and flushes conntrack; between commands conntrack is swept every 5 s
  with the default timeouts (\`pw_dp_ct_sweep\`, as podwalld's \`--ct-sweep-interval\`), so
  closed flows and parked flow ends leave the map as on a node. These are the library calls
  the daemon makes; the control plane itself is not in the loop.
- *iptables+ipset N*: the same policy set rendered by the same program as \`ipset restore\` and
  \`iptables-restore\` input (\`$(meta iptables)\`, the Debian 12 default backend; $(meta ipset)), in the
  layout of kube-router and Calico's iptables mode: \`FORWARD\` accepts
  \`--ctstate ESTABLISHED,RELATED\` first, then jumps to a dispatch chain with one rule per
  isolated pod (\`-d <pod IP> -j PW-POD-<pod>\`); a pod chain jumps to each policy that selects
  the pod, in order, and ends in \`DROP\`; a policy chain is \`-p tcp --dport <port> -m set
  --match-set <policy's peers> src -j ACCEPT\` (plus a UDP rule for the measured policy), so
  traversal stops at the first policy that accepts, as Calico's does (kube-router evaluates every
  policy chain of the pod, which costs more). The node netns' conntrack TIME_WAIT timeout is set
  to 2 s (default 120 s), or TCP_CRR would fill its table; that only helps iptables.
- *wide sets*: many policies selecting the one server pod and many pods on the node, by
  podwall and by iptables+ipset in kube-router's layout (see
  [below](#where-constant-time-lookup-shows-many-policies-on-one-pod)).

**The policy set at scale N** (\`pwpeers shape N\` prints it). Ingress policies, each selecting
one subject pod and allowing a set of peer pods on one TCP port. P = round(sqrt(N/10)) policies
(at most 100), spread 10 per subject pod; the server is the
middle subject. The *measured policy* is the middle one of the server's policies; it allows its
peers on TCP and UDP port 8080, and the client is its middle peer. Every peer is a distinct pod
with a label identity of its own: the worst case for podwall, whose policy entries are per peer
identity, and the natural case for ipsets, whose members are per pod address. Peers are shared
out so that podwall's policy entries come to exactly N.

**How the entries are counted.** podwall: policy-map entries, one per (subject identity, peer
identity, protocol, port) as written by \`pw_dp_policy_update\` (single ports, so one LPM-trie
entry each); the ipcache entries (one /32 per pod address) are listed beside them, not counted
in N. iptables+ipset: every rule in the filter table (including the two FORWARD rules, the
dispatch rules, the pod chains' jumps and DROPs) plus every ipset member. The two counts
differ because a policy allowing K peers on 2 ports costs podwall 2K entries and iptables 2
rules + K members; the table shows both.

$(section shapes)

**Tests**, one transaction in flight at a time, like netperf's:

- *TCP_RR*: one connection, a 1-byte request and a 1-byte response, repeated; transactions/s.
- *TCP_CRR*: connect, 1-byte request and response, close (the client closes first), repeated:
  connections/s. Every connection is a new flow: conntrack, the policy lookup (podwall) and the
  chain traversal (iptables) run for each. The client's netns reuses TIME_WAIT ports after 1 s.
- *TCP_STREAM*: one connection sending 64 KiB writes for the duration; Gbit/s counted by the
  receiver (the server reports the bytes it got when the sender shuts down).
- *UDP_RR*: connected UDP socket, 1-byte request and response; transactions/s.

Latency is the time of each transaction (connect included for TCP_CRR), median and 99th
percentile over all of a test's transactions. A rate is the inverse of the *mean* transaction
time, so the rare slow transaction (a preempted process on a shared machine) moves it; the
median latency does not move with those and is the steadier figure of the two.

**One CPU.** Client and server processes are pinned to the same CPU (CPU $(meta pin_cpu)), so
a transaction never waits for a cross-CPU wakeup out of an idle state: unpinned, latency on this
machine is bimodal (about 18 µs or 60 µs for the same TCP_RR transaction, depending on where
the scheduler put the two processes) and that swamps the enforcement cost being measured. The
packet processing (veth, TC, netfilter) runs in the sending process's context on that CPU too,
so TCP_STREAM is what one CPU can push through sender, enforcement and receiver together.
They run at nice $(meta prio) (never real-time), so the machine's other work preempts them less.

**Rounds.** $(meta rounds) measured rounds, after a warm-up round (shorter tests) that is
discarded. In every round each configuration runs once, in an order rotated by one every round
and reversed every other round (podwall N and iptables N are neighbours in the list, so they run
A/B in one round and B/A in the next), and within a configuration the four tests run in an order
also rotated every round. Each test
runs $(meta secs) s after $(meta warm_ms) ms of unrecorded warm-up. The tables give the median
over rounds and the min–max range. Ratios are medians over medians, with the range of the
per-round ratios (both sides measured minutes apart at most, in the same round) in brackets.
**A ratio marked ~ has a per-round range that reaches both sides of 1.00: the difference is
smaller than the run's own spread, and is not a measured difference.**

**Verification.** Before every measurement the client must reach the allowed port, and must
NOT reach a second server on port 8081 that no policy allows, except in the baseline where it
must reach both: each configuration is shown to enforce before it is timed. After every podwall
measurement its per-reason counters must show flows admitted by a policy entry; after every
iptables measurement the measured policy's rule counter must have grown. podwall drops during
measurements: $(awk '{ d += $4 } END { print d + 0 }' "$work/pw_verdicts" 2>/dev/null). Failed
transactions (timeouts, refused connections, lost datagrams): $(section errors).

**What this does not measure.** One flow at a time on a 2-CPU machine shared with other work:
figures are latency-bound and the load average below says how busy the machine was. veth pairs
in netns are not a NIC: there is no driver, no GRO from hardware, no interrupt cost, so podwall's
and iptables' costs are a larger share of the total than on a real node. The policy set is
synthetic (see above); a real cluster's peers often share identities, which shrinks podwall's
entry count but not the ipsets'.

### Machine

$(meta cpu), $(meta ncpu) CPUs, $(meta mem); $(meta os), Linux $(meta kernel). Run
$(meta date), $(meta elapsed) s; load average $(meta load) (1 min, start -> end).

### Results

Medians over the rounds, min–max in parentheses.

$(section absolute)

Latency, µs: median over rounds of each test's transaction median (p50) and 99th percentile
(p99), min–max in parentheses.

$(section latency)

### Relative to the baseline

Each figure over the baseline's: above 1.00 is faster for rates, slower for latency.

$(section vsbaseline)

In short (change of the median against the reference, per-round range of the ratio):

$(section summary)

### podwall against iptables+ipset

podwall's figure over iptables+ipset's at the same scale: above 1.00 means podwall is faster
for rates (and slower for latency).

$(section vsipt)

### The hooks against podwall's logic

Each step over the one before it, per round (same rounds, interleaved): medians over medians,
the per-round range in brackets. The empty programs run for pods in a cgroup of their own, the
daemon's for pods in another, on the same two veths.

$(section hooks)

### Where constant-time lookup shows: many policies on one pod

The policy sets above spread their policies over several pods (10 per pod), and the measured
flow's pod chain stops at the first policy that accepts it. A pod selected by many policies
costs iptables more: kube-router's pod chain jumps to *every* policy chain that selects the pod
(a match only marks the packet) and decides on the mark after the last, so each new flow to
that pod pays one ipset lookup per policy; and its dispatch chain has one rule per pod on the
node, walked in order. podwall's decision is a hash lookup of the pod and trie lookups keyed by
identity, whatever the number of policies or pods.

**The wide set wP:M** (\`pwpeers shape wP:M\`): P ingress policies, all selecting the server
pod, each allowing 10 peer pods (distinct identities and addresses) on a TCP port of its own;
the measured one, in the middle, allows its peers on TCP and UDP 8080, the client among them.
M pods on the node: the client, the server and M - 2 others, each with a dispatch rule
(\`-d <pod IP>\`, the server's in the middle) and, for podwall, an endpoint and an ipcache
entry. iptables: \`FORWARD\` accepts established flows, then jumps to the dispatch chain; the
server's chain jumps to the P policy chains in order, each being \`-p tcp -m set --match-set
<policy's peers> src -m tcp --dport <port> -j MARK --set-xmark 0x10000/0x10000\` and a
\`RETURN\` on the mark, and ends with a \`DROP\` of what is unmarked and an \`ACCEPT\`.
kube-router also matches a set of the selected pods (\`dst\`) in every policy rule; that second
lookup is left out here, which favours iptables.

**The ipset limit.** Sets per netns on this kernel: $(meta ipset_limit)
(\`run.sh --ipset-limit\` counts them by creating empty sets in the node netns until the kernel
refuses). The kernel grows its table of sets on demand, so the 256 sets of older ipset
documentation are not the limit, and no wide set measured here comes near it: the chain
lengths bound iptables long before the set count does.

$(section wshapes)

TCP_CRR (conn/s, medians over the rounds, min–max) and per-round ratios (median [range]);
every configuration is checked to enforce, as above.

$(section wide)

$(section widesummary)
EOF
if [ -n "$wideplot" ]; then
cat <<EOF

![Connection rate against policies selecting one pod](perf/peers-wide.png)
EOF
fi
cat <<EOF

### podwall as deployed: the cost of the flow log

The daemon itself (\`podwalld\`, started for the configuration with pins and a cgroup root of
its own, and uninstalled after it) enforcing the measured policy on the same two pods (client
egress and server ingress allow TCP and UDP 8080; the other port stays denied),
once with \`--flow-log FILE\` and once without. Its event reader runs in both (the records of
\`podwall flows\` are kept in memory either way): the difference is the file. Every TCP_CRR
connection is two \`flow_new\` records (client egress, server ingress) and, at the next
conntrack sweep, two \`flow_end\`. The ratio is the flow log's cost: TCP_CRR with it on over
TCP_CRR with it off, per round, median and range.

$(section daemon)
EOF
if [ -n "$plots" ]; then
cat <<EOF

![Connection rate against policy entries](perf/peers-crr.png)

![Latency against policy entries](perf/peers-latency.png)

The latency panels are scaled to their own figures: their y axes do not start at 0.
EOF
fi
cat <<EOF

The raw figures of this run, per round, are in [perf/peers-raw.txt](perf/peers-raw.txt).
EOF
} >"$out/peers.md"
