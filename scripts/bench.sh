#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The benchmark command: installs what is missing (Debian 12), builds, runs every benchmark and
# regenerates docs/performance.md from its parts. Not part of the test command.
#
#   sudo scripts/bench.sh            # full run, about 30 minutes (bench/peers 20 of them);
#                                    # rewrites docs/performance.md
#   sudo scripts/bench.sh --quick    # smoke run of every part, about 2 minutes, written to
#                                    # $build/perf-quick/ (docs/ is left alone)
#   options: --out DIR (where performance.md and perf/ go), --skip-pertc, --skip-peers
#   sudo scripts/bench.sh --assemble-only   # no benchmark: the page again from docs/perf/,
#                                    # after running some benchmarks one by one with --markdown
#   environment: PODWALL_BUILD_DIR (default: build)
#
# docs/performance.md is assembled, never edited by hand. Every figure of its tables that
# changed is shown beside the value the previous page had, "new (was old)" (perf-was.awk).
#
#   docs/perf/intro.md          hand-written: the page's introduction and the per-packet method,
#                               with <!-- BEGIN name --> ... <!-- END name --> blocks; a block
#                               is filled from perf/<name, spaces as dashes>.md when that part
#                               exists, and keeps its text otherwise
#   perf/machine.md             this machine (generated)
#   perf/bench_tc-events.md     bench/bench_tc --markdown (event reader open)
#   perf/bench_tc-noevents.md   bench/bench_tc --no-events --markdown
#   perf/bench_events.md        bench/bench_events --markdown
#   perf/audit.md               bench/bench_audit --markdown (per-policy audit, new-flow cost)
#   perf/quarantine.md          bench/quarantine/run.sh --markdown (command -> last byte)
#   perf/bench_mapwrite.md      bench/bench_mapwrite --markdown (map writes, batched or not)
#   perf/flows.md               bench/flows/run.sh --markdown (flow logs), when it is built
#   perf/cni.md                 bench/cni/run.sh --markdown (pods through CNI), when built
#   perf/cpscale.md             control-plane scale: its owner's hand-written head, then
#                               bench/bench_ctl --markdown (regenerated when bench_ctl builds)
#   perf/cluster.md             bench/cluster/run.sh --markdown (cluster mode, three nodes, etcd)
#   perf/peers.md, perf/*.png   bench/peers/run.sh: against no enforcement and iptables+ipset
#   perf/services.md            bench/services/run.sh: TCP_CRR through a ClusterIP, against
#                               direct connections and kube-proxy-style iptables DNAT
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${PODWALL_BUILD_DIR:-$top/build}
quick=0
out=""
do_pertc=1
do_peers=1
assemble_only=0

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) quick=1; shift ;;
	--out) out=$2; shift 2 ;;
	--skip-pertc) do_pertc=0; shift ;;
	--skip-peers) do_peers=0; shift ;;
	--assemble-only) assemble_only=1; shift ;;
	-h|--help) sed -n '3,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "scripts/bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done
case "$build" in /*) ;; *) build=$top/$build ;; esac

if [ "$(id -u)" -ne 0 ] && [ "$assemble_only" = 0 ]; then
	echo "scripts/bench.sh: the benchmarks load BPF programs and build network namespaces: run as root" >&2
	exit 1
fi

# --- dependencies --------------------------------------------------------------------------
if [ "$assemble_only" = 0 ]; then
"$top/scripts/deps.sh"
# the peer comparison's own: the peer it measures, nft to remove the peer's table between
# configurations, gnuplot for the plots; jq for the flow-log benchmark
missing=()
for p in iptables ipset nftables gnuplot-nox jq; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		# any gnuplot flavour will do
		if [ "$p" = gnuplot-nox ] && command -v gnuplot >/dev/null; then
			continue
		fi
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "bench: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- build ---------------------------------------------------------------------------------
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" --target bench_tc bench_events bench_mapwrite pwload pwpeers
# The benchmarks that need the daemon are built when the tree configures them; one that does
# not build is reported in its section and does not stop the others.
targets=$(cmake --build "$build" --target help | awk '{ print $2 }')
has_target() { grep -qx "$1" <<<"$targets"; }
opt_build() { cmake --build "$build" -j "$(nproc)" --target "$@" >/dev/null 2>&1; }
ctl_state=absent
if has_target bench_ctl; then
	if opt_build bench_ctl; then ctl_state=built; else ctl_state=broken; fi
fi
flows_state=absent
if [ -f "$top/bench/flows/run.sh" ] && has_target podwalld && has_target pwflowgen &&
   has_target pwprobe; then
	if opt_build podwalld podwall pwprobe pwflowgen; then flows_state=built; else flows_state=broken; fi
fi

fi # assemble_only

if [ -z "$out" ]; then
	if [ "$quick" = 1 ]; then out=$build/perf-quick; else out=$top/docs; fi
fi
parts=$out/perf
mkdir -p "$parts"
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
t0=$(date +%s)

# The hand-written part. The first run takes it from the current page: everything before the
# sections this command generates.
# A --quick run takes it without saving it.
intro=$top/docs/perf/intro.md
if [ ! -f "$intro" ]; then
	[ "$quick" = 1 ] && intro=$parts/intro.md
	mkdir -p "$(dirname "$intro")"
	awk '/^## (Control-plane scale|Against |Flow logs)/ { exit } { print }' \
		"$top/docs/performance.md" >"$intro"
	log "created $intro from docs/performance.md; edit it, not performance.md"
fi

# --- parts ---------------------------------------------------------------------------------

# A benchmark that fails does not stop the others: the page is still assembled, its section
# keeps the figures of the last run that worked under a note saying this run failed (with the
# end of its output), and this command exits non-zero at the end.
failed=()
if [ "$assemble_only" = 0 ]; then
part_failed() { # part-name tool exit-status log-file
	local f=$parts/$1.md old
	failed+=("$1")
	old=$(mktemp)
	# a previous run's failure note is replaced, not stacked
	[ -f "$f" ] && grep -v '^<!-- failed -->' "$f" >"$old" || true
	{
		printf '<!-- failed -->**`%s` failed in the run of %s (exit status %s)**' "$2" \
			"$(date -u '+%Y-%m-%d %H:%M UTC')" "$3"
		if [ -s "$old" ]; then
			printf '; the figures below are from an earlier run. '
		else
			printf '. '
		fi
		printf 'The end of its output:\n'
		echo '<!-- failed -->'
		echo '<!-- failed -->```'
		tail -n 12 "$4" | sed 's/^/<!-- failed -->/'
		echo '<!-- failed -->```'
		echo '<!-- failed -->'
		cat "$old"
	} >"$f"
	rm -f "$old"
}

# run_part NAME TIMEOUT COMMAND... : COMMAND writes its Markdown to $parts/NAME.md.new
run_part() {
	local name=$1 limit=$2 rc=0
	shift 2
	timeout --kill-after=10 "$limit" "$@" >"$parts/$name.log" 2>&1 || rc=$?
	if [ $rc -eq 0 ] && [ -s "$parts/$name.md.new" ]; then
		mv "$parts/$name.md.new" "$parts/$name.md"
	else
		[ $rc -eq 0 ] && rc="0, but no Markdown"
		[ "$rc" = 124 ] && rc="124: killed after $limit s"
		part_failed "$name" "$(basename "$1")" "$rc" "$parts/$name.log"
	fi
	rm -f "$parts/$name.md.new" "$parts/$name.log"
	return 0
}
cat >"$parts/machine.md" <<EOF
$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) CPUs, $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) of memory;
$(. /etc/os-release && echo "$PRETTY_NAME"), Linux $(uname -r); $(clang --version | head -1), libbpf
$(pkg-config --modversion libbpf). Measured $(date -u '+%Y-%m-%d %H:%M UTC') by \`scripts/bench.sh\`; load average
(1, 5, 15 min) at the start: $(cut -d' ' -f1-3 /proc/loadavg).
EOF

if [ "$do_pertc" = 1 ]; then
	if [ "$quick" = 1 ]; then
		tc_args=(--quick)
		ev_args=(--rounds 3 --repeat 500)
	else
		tc_args=()
		ev_args=()
	fi
	log "per-packet cost (bench_tc), event reader open"
	run_part bench_tc-events 400 "$build/bench/bench_tc" "${tc_args[@]}" \
		--markdown "$parts/bench_tc-events.md.new"
	log "per-packet cost (bench_tc), no event reader"
	run_part bench_tc-noevents 400 "$build/bench/bench_tc" "${tc_args[@]}" --no-events \
		--markdown "$parts/bench_tc-noevents.md.new"
	log "event record cost (bench_events)"
	run_part bench_events 120 "$build/bench/bench_events" "${ev_args[@]}" \
		--markdown "$parts/bench_events.md.new"
	log "per-policy audit, new-flow cost (bench_audit)"
	au_args=()
	[ "$quick" = 1 ] && au_args=(--rounds 3 --calls 300 --repeat 500)
	run_part audit 180 bash -c '{ echo "<!-- generated by bench_audit --markdown -->";
		"$0" "${@:2}" --markdown; } >"$1"' "$build/bench/bench_audit" \
		"$parts/audit.md.new" "${au_args[@]}"
	log "quarantine, command -> last byte (bench/quarantine/run.sh)"
	q_runs=100
	[ "$quick" = 1 ] && q_runs=10
	run_part quarantine 300 bash -c '{ echo "<!-- generated by bench/quarantine/run.sh --markdown -->";
		BUILD=$2 "$0" --runs "$3" --markdown; } >"$1"' "$top/bench/quarantine/run.sh" \
		"$parts/quarantine.md.new" "$build" "$q_runs"
fi

log "map writes, batched and one key per syscall (bench_mapwrite)"
mw_args=()
[ "$quick" = 1 ] && mw_args=(--quick)
run_part bench_mapwrite 300 "$build/bench/bench_mapwrite" "${mw_args[@]}" \
	--markdown "$parts/bench_mapwrite.md.new"

if [ "$flows_state" = built ]; then
	log "flow logs, kernel to file (bench/flows/run.sh)"
	fl_args=()
	[ "$quick" = 1 ] && fl_args=(--quick)
	run_part flows 300 bash "$top/bench/flows/run.sh" --build "$build" "${fl_args[@]}" \
		--markdown "$parts/flows.md.new"
elif [ "$flows_state" = broken ]; then
	echo "its programs (podwalld, podwall, pwprobe, pwflowgen) did not build" >"$parts/flows.log"
	part_failed flows bench/flows/run.sh "not built" "$parts/flows.log"
	rm -f "$parts/flows.log"
fi

# Pods through CNI (bench/cni/run.sh): ADD latency and churn with 1,000 policies
if has_target podwall-cni && has_target pwcnirun &&
	opt_build podwalld podwall pwprobe podwall-cni pwcnirun; then
	log "pods through CNI (bench/cni/run.sh)"
	cni_args=()
	[ "$quick" = 1 ] && cni_args=(--quick)
	if bash "$top/bench/cni/run.sh" --build "$build" "${cni_args[@]}" \
		--markdown "$parts/cni.md.new" >"$parts/cni.log" 2>&1; then
		mv "$parts/cni.md.new" "$parts/cni.md"
	else
		part_failed cni bench/cni/run.sh $? "$parts/cni.log"
	fi
	rm -f "$parts/cni.log" "$parts/cni.md.new"
fi

# Control-plane scale (bench/cpscale): perf/cpscale.md is its owner's page, a hand-written head
# (what the run shows) followed by bench_ctl's --markdown output, which starts with "Measured
# by": a run replaces that tail and keeps the head.
cp_part=$parts/cpscale.md
# a --quick run starts from the page in docs/
[ -f "$cp_part" ] || [ ! -f "$top/docs/perf/cpscale.md" ] || cp "$top/docs/perf/cpscale.md" "$cp_part"
if [ "$ctl_state" = built ]; then
	log "control-plane scale (bench_ctl)"
	# bounded: a daemon that stops answering must not stall the whole command (a full run
	# takes about 2 minutes, a quick one seconds)
	cp_args=()
	cp_limit=300
	[ "$quick" = 1 ] && cp_args=(--quick) && cp_limit=90
	rc=0
	timeout --kill-after=10 "$cp_limit" "$build/bench/bench_ctl" "${cp_args[@]}" \
		--markdown "$parts/cpscale.run" >"$parts/cpscale.log" 2>&1 || rc=$?
	if [ $rc -eq 0 ] && [ -s "$parts/cpscale.run" ]; then
		{
			if [ -f "$cp_part" ]; then
				awk '/^<!-- failed -->/ { next } /^Measured by `bench\/cpscale`/ { exit }
				     { print }' "$cp_part"
			else
				printf '## Control-plane scale\n\n'
			fi
			cat "$parts/cpscale.run"
		} >"$cp_part.tmp"
		mv "$cp_part.tmp" "$cp_part"
	else
		[ "$rc" = 0 ] && rc="0, but no Markdown"
		[ "$rc" = 124 ] && rc="124: killed after $cp_limit s"
		part_failed cpscale bench_ctl "$rc" "$parts/cpscale.log"
	fi
	rm -f "$parts/cpscale.run" "$parts/cpscale.log"
elif [ "$ctl_state" = broken ]; then
	echo "bench_ctl did not build" >"$parts/cpscale.log"
	part_failed cpscale bench_ctl "not built" "$parts/cpscale.log"
	rm -f "$parts/cpscale.log"
fi

if [ -f "$top/bench/cluster/run.sh" ] && has_target pwgen && has_target podwalld; then
	if opt_build podwalld podwall pwprobe pwgen; then
		log "cluster mode: apply to enforced on three nodes with etcd (bench/cluster/run.sh)"
		cl_args=()
		[ "$quick" = 1 ] && cl_args=(--quick)
		run_part cluster 900 bash "$top/bench/cluster/run.sh" --build "$build" "${cl_args[@]}" \
			--markdown "$parts/cluster.md.new"
	else
		echo "its programs (podwalld, podwall, pwprobe, pwgen) did not build" >"$parts/cluster.log"
		part_failed cluster bench/cluster/run.sh "not built" "$parts/cluster.log"
		rm -f "$parts/cluster.log"
	fi
fi

if [ "$do_peers" = 1 ]; then
	log "against no enforcement and iptables+ipset (bench/peers/run.sh)"
	peer_args=()
	[ "$quick" = 1 ] && peer_args=(--quick)
	# its progress goes to the terminal (it is the long part); it writes peers.md only at the
	# end of a run that worked
	set +e
	"$top/bench/peers/run.sh" --build "$build" --out "$parts" "${peer_args[@]}" 2>&1 |
		tee "$parts/peers.log" >&2
	rc=${PIPESTATUS[0]}
	set -e
	if [ "$rc" -ne 0 ]; then
		part_failed peers bench/peers/run.sh "$rc" "$parts/peers.log"
	fi
	rm -f "$parts/peers.log"
fi

if has_target podwalld && has_target podwall; then
	log "Services: ClusterIP translation (bench/services/run.sh)"
	sv_args=()
	[ "$quick" = 1 ] && sv_args=(--quick)
	if opt_build podwalld podwall pwload; then
		run_part services 300 bash "$top/bench/services/run.sh" --build "$build" \
			"${sv_args[@]}" --markdown "$parts/services.md.new"
	else
		echo "podwalld, podwall or pwload did not build" >"$parts/services.log"
		part_failed services bench/services/run.sh "not built" "$parts/services.log"
		rm -f "$parts/services.log"
	fi
fi

fi # assemble_only

# --- assemble ------------------------------------------------------------------------------
page=$out/performance.md
tmp=$page.tmp.$$
awk -v parts="$parts" '
/<!-- BEGIN .* -->/ {
	print
	name = $0
	sub(/.*<!-- BEGIN /, "", name)
	sub(/ -->.*/, "", name)
	gsub(/ /, "-", name)
	f = parts "/" name ".md"
	if ((getline line < f) >= 0) {
		# a failure note (bench.sh part_failed) is shown, its marks are not
		sub(/^<!-- failed -->/, "", line)
		print line
		while ((getline line < f) > 0) {
			sub(/^<!-- failed -->/, "", line)
			print line
		}
		close(f)
		skip = 1
	}
	next
}
/<!-- END .* -->/ { skip = 0 }
!skip { print }
' "$intro" >"$tmp"
section() { # part-file fallback-heading fallback-text
	local heading
	echo
	if [ ! -f "$1" ]; then
		printf '%s\n\n%s\n' "$2" "$3"
	elif head -1 "$1" | grep -q '^<!-- failed -->'; then
		# the failure note goes right under the section's heading
		heading=$(grep -m1 '^## ' "$1" || true)
		printf '%s\n\n' "${heading:-$2}"
		sed -n 's/^<!-- failed -->//p' "$1"
		grep -v '^<!-- failed -->' "$1" |
			awk -v h="$heading" '!seen && $0 == h { seen = 1; next } { print }'
	else
		cat "$1"
	fi
}
{
	[ -f "$parts/flows.md" ] && section "$parts/flows.md" "## Flow logs: kernel to file" ""
	[ -f "$parts/cni.md" ] && section "$parts/cni.md" "## Pods through CNI" ""
	section "$parts/cpscale.md" "## Control-plane scale" \
		"Not measured yet: the control-plane scale benchmark (\`bench/cpscale\`, \`build/bench/bench_ctl\`) is not built in this tree."
	section "$parts/cluster.md" "## Cluster mode: apply to enforced on every node" \
		"Not measured yet (\`bench/cluster/run.sh\`)."
	section "$parts/peers.md" "## Against iptables+ipset" "Not measured yet (\`bench/peers/run.sh\`)."
	section "$parts/services.md" "## Services: ClusterIP translation" \
		"Not measured yet (\`bench/services/run.sh\`)."
} >>"$tmp"
# each changed figure beside the one it replaces
if [ -f "$page" ]; then
	awk -f "$top/scripts/perf-was.awk" "$page" "$tmp" >"$tmp.was"
	mv "$tmp.was" "$tmp"
fi
mv "$tmp" "$page"
log "wrote $page in $(( $(date +%s) - t0 )) s"
if [ ${#failed[@]} -gt 0 ]; then
	log "FAILED: ${failed[*]} (their sections say so)"
	exit 1
fi
