# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Plots of the peer comparison (bench/peers/report.sh sets the variables with -e):
#   pw, ipt   data files: scale, then (median, min, max) of TCP_CRR rate, TCP_CRR p50, TCP_RR p50
#   out       PNG to write;  ttl, ylab  title and y label
#   col       first column to plot (2: CRR rate, 5: CRR latency); base  the baseline's median
#   col2, base2, ttl2  optional second panel (8: RR latency), its baseline and title
set terminal pngcairo size 900,(exists("col2") ? 860 : 540) font "DejaVu Sans,10"
set output out
#   xlab, xmin, xmax, xbase  optional: another x axis (label, range, log base)
if (exists("xlab")) {
	set xlabel xlab
	set logscale x xbase
	set xrange [xmin:xmax]
} else {
	set xlabel "policy entries (podwall policy-map entries; iptables: rules + set members, see the table)"
	set logscale x 10
	set xrange [5:200000]
	set format x "10^{%L}"
}
set grid
set key outside bottom center horizontal
pwc = "#6a3d9a"
iptc = "#d95f02"

if (!exists("col2")) {
	set title ttl
	set ylabel ylab
	set yrange [0:*]
	plot pw  using 1:col:(column(col+1)):(column(col+2)) with yerrorlines lw 2 pt 7 lc rgb pwc \
		title "podwall", \
	     ipt using 1:col:(column(col+1)):(column(col+2)) with yerrorlines lw 2 pt 5 lc rgb iptc \
		title "iptables+ipset", \
	     base with lines dt 2 lw 2 lc rgb "gray40" title "baseline (nothing attached)"
} else {
	# two panels, each scaled to its own figures (the y axes do not start at 0): a 1 us
	# difference on a 20 us transaction would vanish on a shared axis
	set multiplot layout 2,1
	set title ttl
	set ylabel ylab
	plot pw  using 1:col:(column(col+1)):(column(col+2)) with yerrorlines lw 2 pt 7 lc rgb pwc \
		title "podwall", \
	     ipt using 1:col:(column(col+1)):(column(col+2)) with yerrorlines lw 2 pt 5 lc rgb iptc \
		title "iptables+ipset", \
	     base with lines dt 2 lw 2 lc rgb "gray40" title "baseline (nothing attached)"
	set title ttl2
	plot pw  using 1:col2:(column(col2+1)):(column(col2+2)) with yerrorlines lw 2 pt 7 \
		lc rgb pwc title "podwall", \
	     ipt using 1:col2:(column(col2+1)):(column(col2+2)) with yerrorlines lw 2 pt 5 \
		lc rgb iptc title "iptables+ipset", \
	     base2 with lines dt 2 lw 2 lc rgb "gray40" title "baseline (nothing attached)"
	unset multiplot
}
