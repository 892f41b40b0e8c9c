#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Flow-log live test: the real podwalld on a simulated node (e2e/topology.sh), one decision at
# a time, and the records it writes to its --flow-log file, its ring (`podwall flows`) and its
# status. Pods:
#   fl-a/a1 (app=client, tier=front)  egress-isolated by fl-a/client-egress:
#                                       rule 0: to fl-b app=server TCP 7000
#                                       rule 1: to ipBlock 198.19.0.0/24 TCP 7000
#   fl-a/a2 (app=other)                not isolated
#   fl-b/b1 (app=server)               ingress-isolated by fl-b/allow-client:
#                                       rule 0: from fl-a app=client TCP 7000
#   w1                                 a host outside the cluster (no manifest), 198.19.0.10
#
# Each check triggers exactly one decision and asserts exactly one record of its kind for it
# (matched by the probe's source port or pid), with the fields the schema (docs/flowlog.md)
# promises. Every check must pass.
#
# usage: test_flows.sh PODWALLD PODWALL PWPROBE PWFLOWGEN     (root; needs jq)
set -u

PW_DAEMON=$(realpath "$1")
PW_CLI=$(realpath "$2")
PW_PROBE=$(realpath "$3")
PW_GEN=$(realpath "$4")
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../e2e/topology.sh
. "$here/../../e2e/topology.sh"

pass=0
fail=0
ok() {
	pass=$((pass + 1))
	echo "ok   - $*"
}
bad() {
	fail=$((fail + 1))
	echo "FAIL - $*"
}
finish() {
	local left

	# a daemon stopped for the overflow check would sit on its SIGTERM forever
	[ -n "${TOPO_DAEMON:-}" ] && kill -CONT "$TOPO_DAEMON" 2>/dev/null
	topo_cleanup
	left=$(topo_leftovers)
	if [ "$left" != 0 ]; then
		bad "cleanup left $left objects behind"
	else
		ok "cleanup left nothing behind"
	fi
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}
# an early exit (setup failed, a signal) fails the run whatever finish counted
trap 'rc=$?; trap "" PIPE HUP INT TERM; finish; f=$?; [ $rc -ne 0 ] && exit $rc; exit $f' EXIT
trap 'exit 130' INT TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE

if [ "$(id -u)" -ne 0 ]; then
	echo "test_flows.sh: needs root (netns, cgroups, BPF)" >&2
	exit 1
fi
if ! command -v jq >/dev/null; then
	echo "test_flows.sh: needs jq (Debian package jq)" >&2
	exit 1
fi

A1=198.18.7.1
A2=198.18.7.2
B1=198.18.7.3
W1=198.19.0.10

# check WHAT JQ-EXPR [ARGS...]: JQ-EXPR, given the flow log file slurped into one array (and
# the probe predicates f1, fw, f3, fh, f6 once they are defined), must print true
check() {
	local what=$1 expr=$2 out

	shift 2
	if out=$(jq -e -s "$@" "${JQ_DEFS:-} $expr" "$TOPO_FLOWS" 2>&1); then
		ok "$what"
	else
		bad "$what: $out"
		return 1
	fi
}
# records JQ-FILTER [ARGS...]: the matching records, one per line
records() {
	local f=$1

	shift
	jq -c "$@" "${JQ_DEFS:-} select($f)" "$TOPO_FLOWS"
}
# count JQ-FILTER [ARGS...]
count() {
	records "$@" | wc -l
}
# wait_count N JQ-FILTER [ARGS...]: poll (bounded, 20 s) until at least N records match;
# records are written by the daemon as the perf buffer is read, so this ends at once
# unless a timer (sweep, deny window) is involved
wait_count() {
	local n=$1 i

	shift
	for i in $(seq 400); do
		[ "$(count "$@")" -ge "$n" ] && return 0
		sleep 0.05
	done
	return 1
}
# gen KEY ARGS...: pwflowgen inside pod KEY; prints its output
gen() {
	local key=$1

	shift
	topo_in "$key" "$PW_GEN" "$@" 2>/dev/null
}
# gen_on CPU KEY ARGS...: the same, pinned to one CPU (its packets meet TC on that CPU, so
# their events go to that CPU's perf ring)
gen_on() {
	local cpu=$1

	topo_enter "$2"
	shift 2
	taskset -c "$cpu" "${TOPO_IN[@]}" "$PW_GEN" "$@" 2>/dev/null
}
# metric REASON DIRECTION: the datapath's packet counter (podwall status)
metric() {
	pw status -o json | jq --arg r "$1" --arg d "$2" \
		'[.. | objects | select(.reason? == $r and .direction? == $d) | .packets] | add // 0'
}

topo_init flows || exit 1
topo_pod a1 lxc-a1 fl-a/a1 $A1 fd00::7:1 &&
	topo_pod a2 lxc-a2 fl-a/a2 $A2 fd00::7:2 &&
	topo_pod b1 lxc-b1 fl-b/b1 $B1 fd00::7:3 &&
	topo_pod w1 lxc-w1 - $W1 fd00::7:10 || exit 1
for p in a1 a2 b1 w1; do
	topo_serve $p 7000 7001 7003 || exit 1
done
A1_CGID=$(stat -c %i "$TOPO_CGROOT/fl-a/a1")

M=$TOPO_WORK/m
mkdir -p "$M"
pod() { # NS NAME IFNAME IP4 IP6 LABELS...
	local ns=$1 name=$2 ifn=$3 ip4=$4 ip6=$5 l

	shift 5
	printf -- '---\napiVersion: v1\nkind: Pod\nmetadata:\n  namespace: %s\n  name: %s\n' \
		"$ns" "$name"
	printf '  labels:\n'
	for l in "$@"; do
		printf '    %s: %s\n' "${l%%=*}" "${l#*=}"
	done
	printf '  annotations:\n    podwall.io/interface: %s\n    podwall.io/cgroup: %s/%s\n' \
		"$ifn" "$ns" "$name"
	printf 'status:\n  podIPs:\n  - ip: %s\n  - ip: %s\n' "$ip4" "$ip6"
}
{
	printf -- '---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: fl-a\n'
	printf -- '---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: fl-b\n'
	pod fl-a a1 lxc-a1 $A1 fd00::7:1 app=client tier=front
	pod fl-a a2 lxc-a2 $A2 fd00::7:2 app=other
	pod fl-b b1 lxc-b1 $B1 fd00::7:3 app=server
} >"$M/objects.yaml"

allow_client() { # PORT
	cat <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  namespace: fl-b
  name: allow-client
spec:
  podSelector:
    matchLabels:
      app: server
  ingress:
  - from:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: fl-a
      podSelector:
        matchLabels:
          app: client
    ports:
    - protocol: TCP
      port: $1
EOF
}
allow_client 7000 >"$M/allow-client.yaml"
allow_client 7001 >"$M/allow-client-7001.yaml"
cat >"$M/client-egress.yaml" <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  namespace: fl-a
  name: client-egress
spec:
  podSelector:
    matchLabels:
      app: client
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: fl-b
      podSelector:
        matchLabels:
          app: server
    ports:
    - protocol: TCP
      port: 7000
  - to:
    - ipBlock:
        cidr: 198.19.0.0/24
    ports:
    - protocol: TCP
      port: 7000
EOF

echo "# daemon up, objects applied"
# a closed flow ends within 3 s instead of 15: sweep every second, 2 s closing timeout
topo_daemon_start --ct-sweep-interval 1s --ct-timeout tcp-closing=2s --node-name fl-node ||
	exit 1
if pw status -o json | jq -e '.daemon.settings | .ct_sweep_interval_s==1 and
	.ct_timeouts_s["tcp-closing"]==2 and .ct_timeouts_s.udp==60 and .node_name=="fl-node" and
	.deny_window_ms==5000 and .perf_pages_per_cpu==64' >/dev/null; then
	ok "podwall status shows the daemon's settings"
else
	bad "settings in podwall status: $(pw status -o json | jq -c .daemon.settings)"
fi
if pw apply -f "$M/objects.yaml" -f "$M/allow-client.yaml" -f "$M/client-egress.yaml" \
	>/dev/null 2>&1; then
	ok "objects and policies applied"
else
	bad "apply: $(pw apply -f "$M/objects.yaml" 2>&1)"
	exit 1
fi
IF_A2=$(ip -n "$TOPO_NODE" -o link show lxc-a2 | awk -F': ' '{ print $1 }')

# The live stream: every flow_new record of fl-b, from now on. Compared at the end with the
# file: the stream must carry exactly the records the filter selects, each once.
FOLLOW=$TOPO_WORK/follow.jsonl
pw flows --follow -o json --namespace fl-b --kind flow_new >"$FOLLOW" 2>&1 &
TOPO_PIDS+=($!)
FOLLOW_PID=$!

# --- one decision each -----------------------------------------------------------------------

echo "# decisions"
# 1. an allowed TCP flow, closed with FIN both ways: a1's egress and b1's ingress admit it
read -r w LP1 _ <<<"$(gen a1 tcp $B1 7000 1000)"
[ "$w" = ok ] && ok "a1 -> b1:7000 allowed (port $LP1)" || bad "a1 -> b1:7000: $w"
# 2. to a host outside the cluster, allowed by the ipBlock rule
read -r w LPW _ <<<"$(gen a1 tcp $W1 7000 1000)"
[ "$w" = ok ] && ok "a1 -> w1:7000 allowed (port $LPW)" || bad "a1 -> w1:7000: $w"
# 3. denied at TC by b1's ingress isolation (a2 is not a client); 500 ms: no SYN retransmit
read -r w LP3 _ <<<"$(gen a2 tcp $B1 7000 500)"
[ "$w" = timeout ] && ok "a2 -> b1:7000 dropped (port $LP3)" || bad "a2 -> b1:7000: $w"
# 4. denied at a1's socket (no egress rule for 7001): EPERM, nothing sent
read -r w _ PID4 <<<"$(gen a1 tcp $B1 7001 500)"
[ "$w" = denied ] && ok "a1 -> b1:7001 EPERM (pid $PID4)" || bad "a1 -> b1:7001: $w"
# 5. one SYN from a2 with a foreign source address
w=$(gen a2 spoof 198.18.99.99 $B1 7000 1)
[ "$w" = "sent 1" ] && ok "a2 sent a spoofed SYN" || bad "spoof: $w"
# 5b. one malformed SYN from a2's own address (TCP data offset past the segment's end)
w=$(gen a2 malformed $A2 $B1 7000)
[ "$w" = "sent 1" ] && ok "a2 sent a malformed SYN" || bad "malformed: $w"
# 5c. an allowed flow over IPv6: the same rules, the same records
read -r w LP6 _ <<<"$(gen a1 tcp fd00::7:3 7000 1000)"
[ "$w" = ok ] && ok "a1 -> b1:7000 over IPv6 allowed (port $LP6)" || bad "a1 -> b1 IPv6: $w"
# 6. five identical socket denies (the rate limit's key has no source port and no pid)
RL_PIDS=()
for i in 1 2 3 4 5; do
	read -r w _ pid <<<"$(gen a1 tcp $B1 7003 500)"
	[ "$w" = denied ] && RL_PIDS+=("$pid")
done
[ ${#RL_PIDS[@]} = 5 ] && ok "5 denied connects to b1:7003" ||
	bad "rate-limit denies: ${#RL_PIDS[@]}/5"
# 7. an established flow, then a tightened policy: its next packet is re-checked and dropped
HOLD_IN=$TOPO_WORK/hold.in
HOLD_OUT=$TOPO_WORK/hold.out
mkfifo "$HOLD_IN"
topo_enter a1
"${TOPO_IN[@]}" "$PW_GEN" hold $B1 7000 1000 <"$HOLD_IN" >"$HOLD_OUT" 2>&1 &
TOPO_PIDS+=($!)
HOLD_PID=$!
exec 7>"$HOLD_IN"
for i in $(seq 250); do
	[ -s "$HOLD_OUT" ] && break
	sleep 0.02
done
read -r w LPH _ <"$HOLD_OUT"
[ "$w" = ok ] && ok "a1 -> b1:7000 held open (port $LPH)" || bad "hold: $(cat "$HOLD_OUT")"
if pw apply -f "$M/allow-client-7001.yaml" | grep -q configured; then
	ok "allow-client tightened to 7001"
else
	bad "apply allow-client-7001"
fi
echo go >&7
exec 7>&-
wait "$HOLD_PID"
w=$(sed -n 2p "$HOLD_OUT")
[ "$w" = timeout ] && ok "the held flow is cut after the change" || bad "held flow after change: $w"
pw apply -f "$M/allow-client.yaml" >/dev/null || bad "apply allow-client back"
T_AFTER=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)

# --- records ---------------------------------------------------------------------------------

echo "# records of single decisions"
A1_ID=$(pw get pods -n fl-a a1 -o json | jq '.status.podwall.identity')
B1_ID=$(pw get pods -n fl-b b1 -o json | jq '.status.podwall.identity')
A1_EP=$(pw get pods -n fl-a a1 -o json | jq '.status.podwall.endpoint')
B1_EP=$(pw get pods -n fl-b b1 -o json | jq '.status.podwall.endpoint')
J=(--argjson lp1 "$LP1" --argjson lpw "$LPW" --argjson lp3 "$LP3" --argjson lph "$LPH"
	--argjson pid4 "$PID4" --argjson cg "$A1_CGID" --argjson a1id "$A1_ID"
	--argjson b1id "$B1_ID" --argjson a1ep "$A1_EP" --argjson b1ep "$B1_EP"
	--argjson ifa2 "$IF_A2")
# the records of one probe: its source address and port
JQ_DEFS="def f1: .l4.TCP.source_port==$LP1 and .IP.source==\"$A1\";
	def fw: .l4.TCP.source_port==$LPW and .IP.source==\"$A1\";
	def f3: .l4.TCP.source_port==$LP3 and .IP.source==\"$A2\";
	def fh: .l4.TCP.source_port==$LPH and .IP.source==\"$A1\";
	def f6: .l4.TCP.source_port==$LP6 and .IP.source==\"fd00::7:1\";"

# the events are read as they come, but a duplicate could trail: wait for the slowest
# record (the revocation), then give any straggler the daemon's read loop a moment
wait_count 1 '.kind=="revoked"' || bad "no revoked record within 20 s"
sleep 0.3

check "allowed flow: one flow_new per admitting check (a1 egress, b1 ingress), no more" \
	'[.[] | select(.kind=="flow_new" and f1)] |
	 length==2 and (map(.traffic_direction) | sort)==["EGRESS","INGRESS"]' "${J[@]}"
check "allowed flow: no other record kind for it before its end" \
	'[.[] | select(f1 and .kind!="flow_new" and .kind!="flow_end")] |
	 length==0' "${J[@]}"
check "allowed flow, egress: attributed to fl-a/client-egress rule 0" \
	'.[] | select(.kind=="flow_new" and f1 and
	 .traffic_direction=="EGRESS") | .egress_allowed_by==[{"name":"client-egress",
	 "namespace":"fl-a","kind":"NetworkPolicy","rule":0,"direction":"egress"}] and
	 .verdict=="FORWARDED" and .reason=="allowed-by-policy" and .ingress_allowed_by==null' \
	"${J[@]}"
check "allowed flow, ingress: attributed to fl-b/allow-client rule 0" \
	'.[] | select(.kind=="flow_new" and f1 and
	 .traffic_direction=="INGRESS") | .ingress_allowed_by==[{"name":"allow-client",
	 "namespace":"fl-b","kind":"NetworkPolicy","rule":0,"direction":"ingress"}] and
	 .egress_allowed_by==null' "${J[@]}"
check "enrichment: both ends' namespace, pod, labels, identity and endpoint" \
	'[.[] | select(.kind=="flow_new" and f1)] | all(
	 .source.namespace=="fl-a" and .source.pod_name=="a1" and
	 .source.labels==["app=client","tier=front"] and .source.identity==$a1id and
	 .source.ID==$a1ep and .destination.namespace=="fl-b" and .destination.pod_name=="b1" and
	 .destination.labels==["app=server"] and .destination.identity==$b1id and
	 .destination.ID==$b1ep and .IP.source=="198.18.7.1" and .IP.destination=="198.18.7.3" and
	 .l4.TCP.destination_port==7000 and .l4.TCP.flags=={"SYN":true} and .is_reply==false)' \
	"${J[@]}"

check "outside host: one flow_new, world identity, attributed to the ipBlock rule 1" \
	'[.[] | select(fw and .kind!="flow_end")] | length==1 and
	 (.[0] | .kind=="flow_new" and .traffic_direction=="EGRESS" and
	  .destination.identity >= 16777216 and (.destination.labels | index("reserved:world")) and
	  .destination.pod_name==null and .source.pod_name=="a1" and
	  .egress_allowed_by[0].rule==1 and .egress_allowed_by[0].name=="client-egress")' \
	"${J[@]}"
check "outside host: the record names the policy CIDR (destination.cidr 198.19.0.0/24)" \
	'[.[] | select(.kind=="flow_new" and fw)][0] |
	 .destination.cidr=="198.19.0.0/24" and
	 (.destination.labels | index("cidr:198.19.0.0/24"))' "${J[@]}"

check "TC deny: one flow_denied at b1's ingress, and a2's own egress admitted it once" \
	'[.[] | select(f3 and .kind!="flow_end")] | length==2 and
	 (map(select(.kind=="flow_denied")) | length==1 and (.[0] |
	  .traffic_direction=="INGRESS" and .verdict=="DROPPED" and .reason=="policy-denied" and
	  .drop_reason_desc=="POLICY_DENIED" and .source.pod_name=="a2" and
	  .destination.pod_name=="b1" and .destination.ID==$b1ep)) and
	 (map(select(.kind=="flow_new")) | length==1 and .[0].traffic_direction=="EGRESS" and
	  .[0].reason=="not-isolated")' "${J[@]}"
check "TC deny: isolated_by names fl-b/allow-client (the policy isolating b1's ingress)" \
	'[.[] | select(.kind=="flow_denied" and f3)][0] |
	 (.isolated_by | length==1) and .isolated_by[0].name=="allow-client" and
	 .isolated_by[0].namespace=="fl-b"' "${J[@]}"

check "socket deny: one sock_deny with pid, comm and cgroup of the caller" \
	'[.[] | select(.process.pid==$pid4)] | length==1 and (.[0] |
	 .kind=="sock_deny" and .process.comm=="pwflowgen" and .cgroup_id==$cg and
	 .Type=="SOCK" and .verdict=="DROPPED" and .traffic_direction=="EGRESS" and
	 .source.pod_name=="a1" and .source.namespace=="fl-a" and
	 .destination.pod_name=="b1" and .IP.destination=="198.18.7.3" and
	 .l4.TCP.destination_port==7001)' "${J[@]}"
check "socket deny: nothing reached TC for it" \
	'[.[] | select(.kind!="sock_deny" and .l4.TCP.destination_port==7001)] | length==0' \
	"${J[@]}"
check "socket deny: isolated_by names fl-a/client-egress" \
	'[.[] | select(.process.pid==$pid4)][0] | .isolated_by[0].name=="client-egress" and
	 .isolated_by[0].namespace=="fl-a"' "${J[@]}"

check "spoofed source: one flow_denied, attributed to the sending pod's endpoint" \
	'[.[] | select(.IP.source=="198.18.99.99")] | length==1 and (.[0] |
	 .kind=="flow_denied" and .reason=="spoofed-source" and
	 .drop_reason_desc=="INVALID_SOURCE_IP" and .traffic_direction=="EGRESS" and
	 .source.pod_name=="a2" and .interface.index==$ifa2 and .l4.TCP.flags.SYN==true)' \
	"${J[@]}"

check "malformed: one flow_denied naming the reason, from a2's own address" \
	'[.[] | select(.reason=="malformed")] | length==1 and (.[0] |
	 .kind=="flow_denied" and .verdict=="DROPPED" and
	 .drop_reason_desc=="CT_TRUNCATED_OR_INVALID_HEADER" and .IP.source=="198.18.7.2" and
	 .traffic_direction=="EGRESS" and .source.pod_name=="a2")' "${J[@]}"

check "IPv6: one flow_new per admitting check, attributed and enriched as IPv4" \
	'[.[] | select(.kind=="flow_new" and f6)] | length==2 and
	 (map(.traffic_direction) | sort)==["EGRESS","INGRESS"] and
	 all(.IP.ipVersion=="IPv6" and .IP.destination=="fd00::7:3" and
	     .source.pod_name=="a1" and .destination.pod_name=="b1" and
	     .source.identity==$a1id and .destination.identity==$b1id) and
	 (map(.egress_allowed_by[0].name // .ingress_allowed_by[0].name) | sort)==
	 ["allow-client","client-egress"]' "${J[@]}"

check "revoked: one revoked record, at b1's ingress, naming what had allowed it" \
	'[.[] | select(.kind=="revoked")] | length==1 and (.[0] |
	 fh and .traffic_direction=="INGRESS" and .verdict=="DROPPED" and
	 .reason=="revoked" and .destination.pod_name=="b1" and .source.pod_name=="a1" and
	 .previously_allowed_by[0].name=="allow-client" and
	 .previously_allowed_by[0].rule==0 and
	 .isolated_by==[{"name":"allow-client","namespace":"fl-b","kind":"NetworkPolicy",
			 "direction":"ingress"}])' "${J[@]}"

# --- timers: deny windows and the conntrack sweep --------------------------------------------

echo "# rate limit and flow ends (the daemon's timers: up to 6 s)"
# The first deny is recorded at once; the other four are counted and carried by the record
# the flush timer writes when the key's 5 s window ends.
wait_count 2 '.kind=="sock_deny" and .l4.TCP.destination_port==7003' ||
	bad "no second record for the rate-limited denies within 20 s"
check "rate limit: 5 denies = 2 records + 3 suppressed, the first recorded at once" \
	'[.[] | select(.kind=="sock_deny" and .l4.TCP.destination_port==7003)] | length==2 and
	 .[0].suppressed==null and .[1].suppressed==3 and
	 (map(1 + (.suppressed // 0)) | add)==5 and (.[1].Summary | test("\\+3 similar"))' \
	"${J[@]}"
check "rate limit: the two records name two different callers of the five" \
	'[.[] | select(.kind=="sock_deny" and .l4.TCP.destination_port==7003) | .process.pid] |
	 length==2 and .[0]!=.[1] and all(. as $p | $pids | any(.[]; . == $p))' \
	--argjson pids "[$(IFS=,; echo "${RL_PIDS[*]}")]"
# The perf rings of the CPUs are read in turns, so denies reach the library out of time order
# when they ran on different CPUs; the flow log must keep the newest by the kernel's clock.
check "rate limit: the flushed record is the newest suppressed deny (by time)" \
	'[.[] | select(.kind=="sock_deny" and .l4.TCP.destination_port==7003) | .process.pid] |
	 .[0] as $first | .[1]==([$pids[] | select(. != $first)] | last)' \
	--argjson pids "[$(IFS=,; echo "${RL_PIDS[*]}")]"
# other keys may still be in their window (the revoked flow's retransmits): poll, bounded
for i in $(seq 100); do
	pw status -o json | jq -e '.daemon.flow_stats.suppressed_pending==0' >/dev/null && break
	sleep 0.1
done
if pw status -o json | jq -e '.daemon.flow_stats.suppressed_pending==0 and
	.daemon.flow_stats.suppressed>=3' >/dev/null; then
	ok "status: the suppressed counts are reported, none left pending"
else
	bad "status suppressed counters: $(pw status -o json | jq -c .daemon.flow_stats)"
fi

# A FIN-closed flow ends once the closing timeout (2 s here) passes, at the next sweep (1 s).
wait_count 2 '.kind=="flow_end" and f1' "${J[@]}" ||
	wait_count 2 '.kind=="flow_end" and f1' "${J[@]}" ||
	bad "no flow_end for the closed flow within 40 s"
wait_count 1 '.kind=="flow_end" and fw' "${J[@]}" ||
	bad "no flow_end for the outside flow"
sleep 0.3
check "flow end: one record per conntrack entry (a1 egress, b1 ingress)" \
	'[.[] | select(.kind=="flow_end" and f1)] | length==2 and
	 (map(.traffic_direction) | sort)==["EGRESS","INGRESS"]' "${J[@]}"
check "flow end: FIN seen, counters both ways, flags both ways, start <= end" \
	'[.[] | select(.kind=="flow_end" and f1)] | all(.flow_end |
	 .flowEndReason==3 and .flowEndReasonName=="endOfFlowDetected" and .state=="closing" and
	 .initiatorPackets>=4 and .responderPackets>=3 and .initiatorOctets>=.initiatorPackets*52 and
	 .responderOctets>=.responderPackets*52 and
	 (.tcpControlBits % 32 >= 16) and (.tcpControlBits % 4 >= 2) and (.tcpControlBits % 2==1) and
	 (.reverseTcpControlBits % 32 >= 16) and (.reverseTcpControlBits % 4 >= 2) and
	 (.reverseTcpControlBits % 2==1) and
	 .flowStartMilliseconds<=.flowEndMilliseconds and
	 .flowEndMilliseconds-.flowStartMilliseconds < 2000 and (.midstream // false)==false)' \
	"${J[@]}"
check "flow end: both checks counted the same packets and bytes" \
	'[.[] | select(.kind=="flow_end" and f1) | .flow_end |
	 [.initiatorPackets, .responderPackets, .initiatorOctets, .responderOctets,
	  .tcpControlBits, .reverseTcpControlBits]] | .[0]==.[1]' "${J[@]}"
check "flow end: the flow started when its flow_new was recorded" \
	'([.[] | select(.kind=="flow_new" and f1 and
	   .traffic_direction=="EGRESS")][0].time | sub("\\.[0-9]+Z$"; "Z") | fromdate) as $t |
	 [.[] | select(.kind=="flow_end" and f1)] |
	 all((.flow_end.flowStartMilliseconds / 1000 | floor) - $t | fabs <= 1)' "${J[@]}"
check "flow end: attributed and enriched like the flow's start" \
	'[.[] | select(.kind=="flow_end" and f1)] | all(
	 .source.pod_name=="a1" and .destination.pod_name=="b1" and .verdict=="FORWARDED" and
	 (if .traffic_direction=="EGRESS" then .egress_allowed_by[0].name=="client-egress"
	  else .ingress_allowed_by[0].name=="allow-client" end))' "${J[@]}"
check "flow end: the outside flow ends once" \
	'[.[] | select(.kind=="flow_end" and fw)] | length==1 and
	 .[0].flow_end.flowEndReason==3 and .[0].destination.identity >= 16777216' "${J[@]}"

wait_count 1 '.kind=="flow_end" and fh and .flow_end.end=="revoked"' "${J[@]}" ||
	bad "no flow_end for the revoked flow within 20 s"
check "revoked: its counters end in one flow_end at b1's ingress (end revoked, forcedEnd)" \
	'[.[] | select(.kind=="flow_end" and fh and .traffic_direction=="INGRESS")] | length==1 and
	 (.[0] | .flow_end.end=="revoked" and .flow_end.flowEndReason==4 and
	  .flow_end.initiatorPackets >= 3 and .flow_end.responderPackets >= 2 and
	  .destination.pod_name=="b1" and .ingress_allowed_by[0].name=="allow-client")' "${J[@]}"

# --- podwall flows ---------------------------------------------------------------------------

echo "# podwall flows: filters, -o json, table, --follow"
# flows_match WHAT JQ-FILTER FLOWS-ARGS...: `podwall flows -o json --limit 0 ARGS` returns
# exactly the file's records that JQ-FILTER selects (by seq, in order)
flows_match() {
	local what=$1 f=$2 want got

	shift 2
	want=$(jq -s -c "[.[] | select($f) | .seq]" "$TOPO_FLOWS")
	got=$(pw flows -o json --limit 0 "$@" 2>/dev/null | jq -s -c '[.[].seq]')
	if [ "$want" = "$got" ] && [ "$want" != "[]" ]; then
		ok "flows $*: $(jq length <<<"$want") records"
	else
		bad "$what: flows $*: want $want, got $got"
	fi
}
flows_match "namespace" '.source.namespace=="fl-b" or .destination.namespace=="fl-b"' \
	--namespace fl-b
flows_match "pod" '(.source.namespace=="fl-a" and (.source.pod_name // "" | startswith("a2"))) or
	(.destination.namespace=="fl-a" and (.destination.pod_name // "" | startswith("a2")))' \
	--pod fl-a/a2
flows_match "verdict" '.verdict=="DROPPED"' --verdict DROPPED
flows_match "direction" '.traffic_direction=="INGRESS"' --direction ingress
flows_match "port" '.l4.TCP.source_port==7001 or .l4.TCP.destination_port==7001' --port 7001
flows_match "kind" '.kind=="revoked"' --kind revoked
flows_match "since" ".time >= \"$T_AFTER\"" --since "$T_AFTER"
flows_match "AND of options, OR of values" \
	'(.kind=="sock_deny" or .kind=="flow_denied") and .destination.namespace=="fl-b" and
	 (.l4.TCP.destination_port==7001 or .l4.TCP.destination_port==7003)' \
	--kind sock_deny --kind flow_denied --namespace fl-b --port 7001 --port 7003
out=$(pw flows --kind sock_deny --port 7001 2>&1)
if head -1 <<<"$out" | grep -q 'SOURCE.*DESTINATION' && [ "$(wc -l <<<"$out")" = 2 ] &&
	grep -q "pid $PID4" <<<"$out" && grep -q 'fl-a/a1' <<<"$out"; then
	ok "flows table: header and one row naming the pod and the pid"
else
	bad "flows table: $out"
fi
if pw flows --verdict maybe >/dev/null 2>&1; then
	bad "flows --verdict maybe was accepted"
else
	ok "flows rejects a bad filter value"
fi
want=$(jq -s -c '[.[] | select(.kind=="flow_new" and (.source.namespace=="fl-b" or
	.destination.namespace=="fl-b")) | .seq]' "$TOPO_FLOWS")
got=$(jq -s -c '[.[].seq]' "$FOLLOW" 2>/dev/null)
if kill -0 "$FOLLOW_PID" 2>/dev/null && [ "$want" = "$got" ] && [ "$want" != "[]" ]; then
	ok "flows --follow streamed exactly the matching records ($(jq length <<<"$want"))"
else
	bad "flows --follow: want $want, got $got ($(head -c 300 "$FOLLOW"))"
fi
kill "$FOLLOW_PID" 2>/dev/null

check "every record names the node (--node-name)" \
	'length > 0 and all(.node_name=="fl-node")'

# --- one deny repeated ---------------------------------------------------------------------------

echo "# a flood of one denied packet: folded in the kernel, every drop accounted for"
# N copies of one spoofed SYN on CPU 0: the TC program writes the first as a record and counts
# the others into its fold window; the daemon gets them as a count, which the rate limit turns
# into suppressed counts when the key's 5 s window ends (the flush runs every second).
N=3000
FLOOD_F='.IP.source=="198.18.97.97"'
m0=$(metric spoofed-source egress)
folded0=$(pw status -o json | jq '.daemon.flow_stats.folded')
w=$(gen_on 0 a2 repeat 198.18.97.97 $B1 12000 $N)
[ "$w" = "sent $N" ] && ok "$N copies of one spoofed SYN sent" || bad "repeat: $w"
m1=$(metric spoofed-source egress)
[ $((m1 - m0)) = "$N" ] && ok "the datapath decided $N times" ||
	bad "the datapath counted $((m1 - m0)) spoofed drops for $N packets"
for i in $(seq 150); do
	got=$(records "$FLOOD_F" | jq -s 'map(1 + (.suppressed // 0)) | add // 0')
	[ "$got" -ge "$N" ] && break
	sleep 0.1
done
check "the flood's records and their suppressed counts add up to its $N drops" \
	"[.[] | select($FLOOD_F)] | (map(1 + (.suppressed // 0)) | add)==\$n and length<=4 and
	 all(.kind==\"flow_denied\" and .l4.TCP.destination_port==12000)" --argjson n $N
folded1=$(pw status -o json | jq '.daemon.flow_stats.folded')
if [ $((folded1 - folded0)) -gt 0 ] && [ $((folded1 - folded0)) -lt "$N" ]; then
	ok "the kernel folded $((folded1 - folded0)) of the $N drops into counts"
else
	bad "folded drops: $folded0 -> $folded1 for a flood of $N"
fi

# --- forced overflow ---------------------------------------------------------------------------

echo "# perf buffer overflow: every decision is a record or a counted loss"
# The buffer is made to overflow by stopping the reader: SIGSTOP, a burst of N spoofed SYNs
# on CPU 0 (each a distinct deny: the destination port varies), SIGCONT. Decisions are counted
# by the datapath's own counter (podwall status), not assumed from what was sent. Nothing is
# sent after the burst: the kernel's own loss notice would wait for a later sample that fits,
# so the loss must come from the programs' failed-output counters, at the next drain.
N=8000
BURST_F='.IP.source=="198.18.98.98"'
m0=$(metric spoofed-source egress)
lost0=$(pw status -o json | jq '.daemon.flow_stats.lost')
kill -STOP "$TOPO_DAEMON"
w=$(gen_on 0 a2 spoof 198.18.98.98 $B1 10000 $N)
kill -CONT "$TOPO_DAEMON"
[ "$w" = "sent $N" ] && ok "burst of $N spoofed SYNs sent while the reader was stopped" ||
	bad "burst: $w"
m1=$(metric spoofed-source egress)
decisions=$((m1 - m0))
[ "$decisions" = "$N" ] && ok "the datapath decided $N times" ||
	bad "the datapath counted $decisions spoofed drops for $N packets"
for i in $(seq 200); do
	lost1=$(pw status -o json | jq '.daemon.flow_stats.lost')
	got=$(count "$BURST_F")
	[ $((got + lost1 - lost0)) -ge "$decisions" ] && break
	sleep 0.05
done
sleep 0.2
lost1=$(pw status -o json | jq '.daemon.flow_stats.lost')
got=$(count "$BURST_F")
echo "# burst: $got records, $((lost1 - lost0)) lost, $decisions decisions"
if [ $((lost1 - lost0)) -gt 0 ]; then
	ok "the burst overflowed the buffer ($((lost1 - lost0)) samples lost)"
else
	bad "no loss: the burst did not overflow the buffer, the test proves nothing"
fi
if [ $((got + lost1 - lost0)) = "$decisions" ]; then
	ok "records + lost == decisions exactly ($got + $((lost1 - lost0)) == $decisions)"
else
	bad "records $got + lost $((lost1 - lost0)) != decisions $decisions"
fi
check "lost records: their counts add up to the total, which the last one carries" \
	'[.[] | select(.kind=="lost")] | length>0 and (map(.lost) | add)==$lost and
	 .[-1].lost_total==$lost' --argjson lost "$lost1"
if pw status | grep -Eq "^ *lost: $lost1\$"; then
	ok "podwall status shows the loss ($lost1)"
else
	bad "podwall status does not show lost: $lost1"
fi
if pw flows --limit 1 2>&1 >/dev/null | grep -q "lost $lost1 records"; then
	ok "podwall flows warns about the loss"
else
	bad "podwall flows does not warn: $(pw flows --limit 1 2>&1 >/dev/null)"
fi
flows_match "lost records pass filters" '.kind=="lost" or .destination.namespace=="nope"' \
	--namespace nope

echo "# file sink: an external rotation, then SIGHUP"
mv "$TOPO_FLOWS" "$TOPO_FLOWS.1"
kill -HUP "$TOPO_DAEMON"
for i in $(seq 100); do
	[ -e "$TOPO_FLOWS" ] && break
	sleep 0.02
done
read -r w LPR _ <<<"$(gen a2 tcp $B1 7000 500)"
FR=".kind==\"flow_denied\" and .IP.source==\"$A2\" and .l4.TCP.source_port==$LPR"
if wait_count 1 "$FR" && [ "$(jq -c "select($FR)" "$TOPO_FLOWS.1" | wc -l)" = 0 ]; then
	ok "after SIGHUP the records go to the new file, none to the rotated one"
else
	bad "reopen on SIGHUP: $(ls -l "$TOPO_WORK")"
fi

echo "# restart: the last records are drained, what nobody read is counted"
# Denies made right before the stop sit in the rings below the wakeup watermark: the stopping
# daemon detaches the rings, then drains them. Denies made while no daemon runs are counted by
# the programs and reported by the next start as one lost record (lost_reason no-reader).
BEFORE=200
DOWN=300
m0=$(metric spoofed-source egress)
w=$(gen_on 0 a2 spoof 198.18.96.96 $B1 30000 $BEFORE)
[ "$w" = "sent $BEFORE" ] || bad "burst before the stop: $w"
if topo_daemon_stop TERM; then
	ok "podwalld exited 0"
else
	bad "podwalld exit status"
fi
w=$(gen_on 0 a2 spoof 198.18.95.95 $B1 31000 $DOWN)
[ "$w" = "sent $DOWN" ] || bad "burst while no daemon ran: $w"
# the packets are sent; their drops are counted in softirq, which a loaded machine may run
# late: counted after the next reader opens, they would be its losses, not the start's report
sleep 0.5
topo_daemon_start --ct-sweep-interval 1s --ct-timeout tcp-closing=2s --node-name fl-node ||
	exit 1
m1=$(metric spoofed-source egress)
[ $((m1 - m0)) = $((BEFORE + DOWN)) ] && ok "the datapath decided $BEFORE + $DOWN times" ||
	bad "the datapath counted $((m1 - m0)) spoofed drops for $BEFORE + $DOWN packets"
check "the stopping daemon recorded each of the $BEFORE denies made just before it stopped" \
	'[.[] | select(.IP.source=="198.18.96.96")] | length==$n' --argjson n $BEFORE
check "the next start reported exactly the $DOWN denies made while no daemon ran" \
	'[.[] | select(.kind=="lost" and .lost_reason=="no-reader")] | length==1 and
	 .[0].lost==$n and .[0].cpu==null and .[0].node_name=="fl-node"' --argjson n $DOWN ||
	records '.kind=="lost"' >&2
check "nobody recorded them otherwise" '[.[] | select(.IP.source=="198.18.95.95")] | length==0'
if pw status -o json | jq -e --argjson n $DOWN '.daemon.flow_stats.lost==$n' >/dev/null; then
	ok "podwall status counts them as lost"
else
	bad "podwall status: $(pw status -o json | jq -c .daemon.flow_stats)"
fi

echo "# --flow-aggregate: allowed flows counted per key and interval, denies still recorded"
if topo_daemon_stop TERM; then
	ok "podwalld exited 0"
else
	bad "podwalld exit status"
fi
# a file of its own: the checks below read only what the aggregating daemon wrote
mv "$TOPO_FLOWS" "$TOPO_WORK/flows-before-aggregate.jsonl"
topo_daemon_start --flow-aggregate 1s --ct-sweep-interval 1s --ct-timeout tcp-closing=2s \
	--node-name fl-node || exit 1
if pw status -o json | jq -e '.daemon.settings.flow_aggregate_s==1' >/dev/null; then
	ok "podwall status shows the aggregation interval"
else
	bad "settings: $(pw status -o json | jq -c .daemon.settings)"
fi
NAGG=20
read -r _ okc badc _ <<<"$(gen a1 flood $B1 7000 5 $NAGG 41000)"
[ "$okc" = $NAGG ] && ok "a1 -> b1:7000: $NAGG connections" || bad "flood: $okc ok, $badc failed"
read -r w LPD _ <<<"$(gen a2 tcp $B1 7000 300)"
[ "$w" = timeout ] && ok "a2 -> b1:7000 dropped (port $LPD)" || bad "a2 -> b1:7000: $w"
# every flow has ended (closing timeout 2 s, sweeps every second) and its interval was written
AGG_E='.kind=="flow_aggregate" and .verdict=="FORWARDED" and .traffic_direction=="EGRESS" and
	.l4.TCP.destination_port==7000 and .source.labels==["app=client","tier=front"]'
for i in $(seq 100); do
	[ "$(records "$AGG_E" | jq -s 'map(.aggregate.flows_ended) | add // 0')" -ge $NAGG ] && break
	sleep 0.1
done
check "aggregate: no flow_new or flow_end of their own for allowed flows" \
	'[.[] | select(.kind=="flow_new" or .kind=="flow_end")] | length==0'
check "aggregate: a1's egress to b1:7000, $NAGG flows started and ended, enriched, attributed" \
	"[.[] | select($AGG_E)] | (map(.aggregate.flows) | add)==\$n and
	 (map(.aggregate.flows_ended) | add)==\$n and (map(.aggregate.packets) | add)>=\$n and
	 all(.[]; .source.namespace==\"fl-a\" and .destination.namespace==\"fl-b\" and
	 .egress_allowed_by[0].name==\"client-egress\" and .node_name==\"fl-node\")" \
	--argjson n $NAGG || records "$AGG_E" >&2
check "aggregate: b1's ingress counted the same flows" \
	'[.[] | select(.kind=="flow_aggregate" and .verdict=="FORWARDED" and
	 .traffic_direction=="INGRESS" and .l4.TCP.destination_port==7000)] |
	 (map(.aggregate.flows) | add)==$n and .[0].ingress_allowed_by[0].name=="allow-client"' \
	--argjson n $NAGG
check "aggregate: the deny keeps its own record" \
	'[.[] | select(.kind=="flow_denied" and .l4.TCP.source_port==$p)] | length>=1' \
	--argjson p "$LPD"
check "aggregate: and is counted in a DROPPED aggregate" \
	'[.[] | select(.kind=="flow_aggregate" and .verdict=="DROPPED")] |
	 (map(.aggregate.denied) | add)>=1'

echo "# daemon stops cleanly"
if topo_daemon_stop TERM; then
	ok "podwalld exited 0"
else
	bad "podwalld exit status"
fi
exit 0
