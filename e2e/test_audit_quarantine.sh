#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# End-to-end test of audit mode (per NetworkPolicy and per Namespace) and of quarantine, on a
# simulated node (topology.sh) with the real daemon, CLI and datapath:
#   aq-a/a1 (app=client), aq-a/a2 (app=other), aq-b/b1 (app=server), aq-c/c1 (app=web)
# Audit: AUDIT records asserted by count, policy names and no duplicates; enforced verdicts
# unchanged by audit policies; explain gives both verdicts; the namespace default follows its
# annotation. Quarantine: a connection exchanging data every 2 ms carries no byte after the
# command returns (kernel receive times), new flows fail both ways, other pods are unaffected,
# an unrelated apply and a daemon restart (and its absence) keep it, --lift restores it.
#
# usage: test_audit_quarantine.sh PODWALLD PODWALL PWPROBE PWSTREAM   (root)
set -u

# shellcheck source=testlib.sh
. "$(dirname "$0")/testlib.sh" "$@"
PW_STREAM=$(realpath "$4")

# expect_out WHAT PATTERN CMD...: CMD succeeds and its output matches PATTERN
expect_out() {
	local what=$1 pat=$2 out

	shift 2
	if out=$("$@" 2>&1) && grep -qE -- "$pat" <<<"$out"; then
		ok "$what"
	else
		bad "$what: /$pat/ not in: $out"
	fi
}
# expect_fail WHAT PATTERN CMD...: CMD fails and its output matches PATTERN
expect_fail() {
	local what=$1 pat=$2 out

	shift 2
	if ! out=$("$@" 2>&1) && grep -qE -- "$pat" <<<"$out"; then
		ok "$what"
	else
		bad "$what: expected a failure matching /$pat/, got: $out"
	fi
}
# a JSON answer on one line
pwc() {
	pw "$@" | jq -c .
}
# the AUDIT records (kind audit) as "source dport isolated_by" lines
audit_records() {
	pw flows --kind audit -o json --limit 0 2>/dev/null |
		jq -r 'select(.verdict == "AUDIT") |
			"\(.source.pod_name // .IP.source) \(.l4.TCP.destination_port // .l4.UDP.destination_port) \([.isolated_by[]? | "\(.namespace)/\(.name)"] | join(","))"'
}

A1=198.18.2.1
A2=198.18.2.2
B1=198.18.2.3
C1=198.18.2.4

topo_init aq || exit 1
topo_pod a1 lxc-a1 aq-a/a1 $A1 fd00::2:1 &&
	topo_pod a2 lxc-a2 aq-a/a2 $A2 fd00::2:2 &&
	topo_pod b1 lxc-b1 aq-b/b1 $B1 fd00::2:3 &&
	topo_pod c1 lxc-c1 aq-c/c1 $C1 fd00::2:4 || exit 1
topo_serve a1 7000 7001 53 && topo_serve a2 7000 7001 && topo_serve b1 7000 7001 &&
	topo_serve c1 7000 7001 || exit 1

M=$TOPO_WORK/m
mkdir -p "$M"
ns() { # NAME [MODE]
	printf -- '---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$1"
	[ -n "${2:-}" ] && printf '  annotations:\n    podwall.io/enforcement: %s\n' "$2"
	return 0
}
pod() { pod_manifest "$@"; } # testlib.sh
{
	ns aq-a
	ns aq-b
	ns aq-c audit
	pod aq-a a1 client lxc-a1 $A1 fd00::2:1
	pod aq-a a2 other lxc-a2 $A2 fd00::2:2
	pod aq-b b1 server lxc-b1 $B1 fd00::2:3
	pod aq-c c1 web lxc-c1 $C1 fd00::2:4
} >"$M/base.yaml"
# an audit policy: would let only app=client in, on 7000
cat >"$M/audit-server.yaml" <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  namespace: aq-b
  name: audit-server
  annotations:
    podwall.io/enforcement: audit
spec:
  podSelector:
    matchLabels:
      app: server
  ingress:
  - from:
    - namespaceSelector: {}
      podSelector:
        matchLabels:
          app: client
    ports:
    - port: 7000
EOF
# an enforced policy on the same pod: only 7001, from anywhere
cat >"$M/enforce-7001.yaml" <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  namespace: aq-b
  name: allow-7001
spec:
  podSelector: {}
  ingress:
  - ports:
    - port: 7001
EOF
# no annotation of its own: the namespace's (audit) applies
cat >"$M/c-deny.yaml" <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  namespace: aq-c
  name: deny-all
spec:
  podSelector: {}
  policyTypes: [Ingress]
EOF
# its own annotation wins over the namespace's
cat >"$M/c-lock.yaml" <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  namespace: aq-c
  name: lock-egress
  annotations:
    podwall.io/enforcement: enforce
spec:
  podSelector: {}
  policyTypes: [Egress]
EOF
sed 's/enforcement: audit/enforcement: sometimes/' "$M/audit-server.yaml" >"$M/bad-mode.yaml"

echo "# daemon up"
# ended flows reach the flow log within about two seconds, for the recorded-once check
topo_daemon_start --ct-sweep-interval 1s --ct-timeout tcp-closing=1s,udp=2s || exit 1
expect_out "apply namespaces and pods" 'pod/c1 created' pw apply -f "$M/base.yaml"
expect_fail "a bad enforcement value is refused by name" \
	'podwall.io/enforcement.*Unsupported value: "sometimes"' pw apply -f "$M/bad-mode.yaml"

echo "# audit per policy: nothing is enforced, would-be denies are recorded once each"
expect_out "apply the audit policy" 'audit-server created' pw apply -f "$M/audit-server.yaml"
expect_out "get networkpolicies shows the mode" 'audit-server .*audit' \
	pw get networkpolicies -n aq-b
expect_probe ok a1 tcp $B1 7000 # the audit policy allows it: no record
expect_probe ok a2 tcp $B1 7000 # would be denied: passes, AUDIT
expect_probe ok a1 tcp $B1 7001 # would be denied: passes, AUDIT
expect_probe ok a1 udp $B1 7001 # UDP too
recs=$(audit_records)
want=$(printf '%s\n' "a2 7000 aq-b/audit-server" "a1 7001 aq-b/audit-server" \
	"a1 7001 aq-b/audit-server" | sort)
if [ "$(sort <<<"$recs")" = "$want" ]; then
	ok "AUDIT records: exactly the three would-be denies, each naming aq-b/audit-server"
else
	bad "AUDIT records: expected [$want], got [$recs]"
fi
n_tcp=$(pw flows --verdict AUDIT --kind audit --port 7001 -o json --limit 0 | jq -s 'length')
[ "$n_tcp" = 2 ] && ok "flows --verdict AUDIT filters them (2 on port 7001)" ||
	bad "flows --verdict AUDIT --port 7001: $n_tcp records, expected 2"
# recorded once: the three flows' ends are FORWARDED records marked "audit", so the AUDIT
# verdict still lists each audited flow once
audited_ends() {
	[ "$(pw flows --kind flow_end -o json --limit 0 |
		jq -s '[.[] | select(.audit == true and .verdict == "FORWARDED")] | length')" -ge 3 ]
}
if wait_for 20 audited_ends; then
	ok "the audited flows ended: flow_end FORWARDED with \"audit\": true"
else
	bad "no flow_end marked audit for the three audited flows: $(pw flows --kind flow_end -o json --limit 0 | jq -c '[.verdict, .audit]' | tr '\n' ' ')"
fi
n_all=$(pw flows --verdict AUDIT -o json --limit 0 | jq -s 'length')
[ "$n_all" = 3 ] && ok "each audited flow has exactly one AUDIT record (all kinds)" ||
	bad "flows --verdict AUDIT: $n_all records of any kind, expected 3"
expect_out "explain: enforced allowed, audit denied" \
	'"verdict":"allowed".*"auditVerdict":"denied"|"auditVerdict":"denied".*"verdict":"allowed"' \
	pwc explain --from aq-a/a2 --to aq-b/b1 --port 7000 -o json
expect_out "explain names the isolating audit policy" 'audit-server' \
	pw explain --from aq-a/a2 --to aq-b/b1 --port 7000 -o json

echo "# an enforced policy on the same pod decides alone: the audit rule opens nothing"
expect_out "apply allow-7001" 'allow-7001 created' pw apply -f "$M/enforce-7001.yaml"
expect_probe timeout a1 tcp $B1 7000 # allowed only by the audit policy: denied
expect_probe ok a1 tcp $B1 7001
expect_probe ok a2 tcp $B1 7001
expect_probe timeout a2 tcp $B1 7000
n=$(audit_records | wc -l)
[ "$n" = 3 ] && ok "no new AUDIT record once enforced policies isolate the pod" ||
	bad "AUDIT records after allow-7001: $n, expected still 3"
expect_out "describe pod lists enforced and audit policies apart" \
	'"ingressPolicies":\["aq-b/allow-7001"\],.*"ingressAuditPolicies":\["aq-b/audit-server"\]' \
	pwc describe pod aq-b/b1 -o json

echo "# audit per namespace, and a policy's own annotation wins"
expect_out "apply deny-all (namespace default: audit)" 'deny-all created' \
	pw apply -f "$M/c-deny.yaml" -f "$M/c-lock.yaml"
expect_out "deny-all is audit, lock-egress enforce" 'deny-all .*audit' pw get netpol -n aq-c
expect_out "lock-egress is enforce" 'lock-egress .*enforce' pw get netpol -n aq-c
expect_probe ok a1 tcp $C1 7000
expect_probe denied c1 tcp $A1 7000 # the enforced egress lock holds
if audit_records | grep -qx "a1 7000 aq-c/deny-all"; then
	ok "AUDIT record names aq-c/deny-all"
else
	bad "no AUDIT record naming aq-c/deny-all: $(audit_records)"
fi
{
	ns aq-c enforce
} >"$M/c-enforce.yaml"
expect_out "namespace switched to enforce" 'aq-c configured' pw apply -f "$M/c-enforce.yaml"
expect_probe timeout a1 tcp $C1 7000
expect_out "deny-all follows its namespace" 'deny-all .*enforce' pw get netpol -n aq-c
expect_out "back to audit" 'aq-c configured' pw apply -f <(ns aq-c audit)
expect_probe ok a1 tcp $C1 7001

echo "# quarantine of a pod with a live connection"
expect_fail "quarantine of an unknown pod is refused" 'not found' pw quarantine aq-a/nope
expect_fail "lift of a pod not quarantined is refused" 'not quarantined' \
	pw quarantine --lift aq-a/a2
SA=$TOPO_WORK/stream-a1.log
SB=$TOPO_WORK/stream-a2.log
topo_enter a1
"${TOPO_IN[@]}" "$PW_STREAM" listen 9000 "$SA" >"$TOPO_WORK/sa.out" 2>&1 &
TOPO_PIDS+=($!)
for i in $(seq 100); do grep -q listening "$TOPO_WORK/sa.out" 2>/dev/null && break; sleep 0.02; done
topo_enter a2
"${TOPO_IN[@]}" "$PW_STREAM" connect $A1 9000 "$SB" >"$TOPO_WORK/sb.out" 2>&1 &
TOPO_PIDS+=($!)
for i in $(seq 250); do
	[ "$(cat "$SA" "$SB" 2>/dev/null | wc -l)" -gt 100 ] && break
	sleep 0.02
done
before_a=$(wc -l <"$SA")
before_b=$(wc -l <"$SB")
read -r t0 t1 rc < <("$PW_STREAM" timecmd -- "$PW_CLI" --socket "$TOPO_SOCK" quarantine \
	aq-a/a2 --reason "compromised: test")
[ "$rc" = 0 ] && ok "quarantine aq-a/a2 returned 0" || bad "quarantine exit status $rc"
sleep 0.5
late=$(cat "$SA" "$SB" | awk -v t="$t1" '$3 > t || $2 > t' | wc -l)
if [ "$before_a" -gt 20 ] && [ "$before_b" -gt 20 ] && [ "$late" = 0 ]; then
	ok "no byte after the command returned ($before_a/$before_b messages before)"
else
	bad "bytes after the command returned: $late late messages (before: $before_a/$before_b)"
fi
last=$(cat "$SA" "$SB" | awk 'BEGIN { m = 0 } $3 > m { m = $3 } END { printf "%.0f", m }')
echo "#   command took $(((t1 - t0) / 1000)) us; last byte through $(((last - t0) / 1000)) us after it began"
expect_probe denied a2 tcp $A1 7000 # new flows out: EPERM at the socket
expect_probe denied a2 udp $A1 7000
expect_probe timeout a1 tcp $A2 7000 # new flows in: dropped at TC
expect_probe timeout b1 tcp $A2 7001
expect_probe ok a2 tcp 127.0.0.1 7000 # inside the pod: never on the network
expect_probe ok b1 tcp $A1 7000 # other pods unaffected
expect_probe ok a1 tcp $B1 7001
expect_out "get quarantines" 'aq-a +a2 +[0-9TZ:-]+ +compromised: test' pw get quarantines
expect_out "get quarantines -o json" '"reason": *"compromised: test"' pw get quarantines -o json
expect_out "get quarantines -o yaml" 'reason: "?compromised: test' pw get quarantines -o yaml
expect_out "describe pod shows it" '"reason": *"compromised: test"' pw describe pod aq-a/a2 -o json
expect_out "explain says so" '"quarantined": *true' \
	pw explain --from aq-a/a1 --to aq-a/a2 --port 7000 -o json
expect_out "drop records carry the reason" '"quarantine_reason":"compromised: test"' \
	pw flows --verdict DROPPED -o json --limit 0
expect_out "an unrelated apply" 'allow-7001 deleted' pw delete -f "$M/enforce-7001.yaml"
expect_probe timeout a1 tcp $A2 7000

echo "# the quarantine survives the daemon's absence and restart"
topo_daemon_stop TERM
expect_probe timeout a1 tcp $A2 7000
expect_probe denied a2 tcp $A1 7000
topo_daemon_start || exit 1
expect_out "restored from the state dir" 'quarantined pod\(s\) restored' cat "$TOPO_DLOG"
expect_out "still listed" 'aq-a +a2' pw get quarantines
expect_probe timeout a1 tcp $A2 7000
expect_probe denied a2 tcp $A1 7000
late=$(cat "$SA" "$SB" | awk -v t="$t1" '$3 > t || $2 > t' | wc -l)
[ "$late" = 0 ] && ok "still no byte through the live connection" ||
	bad "$late messages went through the quarantined connection"

echo "# lift restores it, the live connection included"
expect_out "lift" 'pod/a2 lifted' pw quarantine --lift aq-a/a2
expect_probe ok a1 tcp $A2 7000
expect_probe ok a2 tcp $A1 7000
resumed=0
for i in $(seq 400); do
	if [ "$(cat "$SA" "$SB" | awk -v t="$t1" '$3 > t' | wc -l)" -gt 10 ]; then
		resumed=1
		break
	fi
	sleep 0.025
done
[ $resumed = 1 ] && ok "the live connection carries data again" ||
	bad "the live connection did not resume within 10 s"
if pw get quarantines 2>&1 | grep -q a2; then
	bad "a lifted quarantine is still listed"
else
	ok "nothing listed after the lift"
fi

echo "# by selector, with DNS still allowed"
expect_out "quarantine -l" 'pod/a2 quarantined' pw quarantine -l app=other -n aq-a --allow-dns
expect_probe ok a2 udp $A1 53
expect_probe ok a2 tcp $A1 53
expect_probe denied a2 tcp $A1 7000
expect_probe timeout a1 tcp $A2 7000
expect_fail "a selector matching nothing changes nothing" 'no pod' \
	pw quarantine -l app=nobody -n aq-a
expect_out "lift by selector" 'pod/a2 lifted' pw quarantine --lift -l app=other -n aq-a
expect_probe ok a1 tcp $A2 7000

exit 0
