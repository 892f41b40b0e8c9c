#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# podwalld --metrics-addr: the exposition passes the real `promtool check metrics`, and a real
# Prometheus server, started in the node's netns with a scrape config pointing at the daemon,
# sees the drop counter rise after a denied probe (queried through its HTTP API).
#   met-a/a (app=client) -> met-b/b (app=server), b isolated for ingress
#
# usage: test_metrics.sh PODWALLD PODWALL PWPROBE       (root; ends with "N passed, N failed")
set -u

. "$(dirname "$0")/testlib.sh" "$@"

for tool in promtool prometheus curl jq; do
	if ! command -v $tool >/dev/null; then
		echo "test_metrics.sh: $tool is missing (scripts/deps.sh installs it)" >&2
		exit 1
	fi
done

# the daemon's bad option: refused before anything is loaded
out=$(timeout 10 "$PW_DAEMON" --bpffs /nonexistent/podwall-opt-test --metrics-addr 9464 2>&1)
if [ $? = 2 ] && grep -q -- '--metrics-addr "9464": expected HOST:PORT' <<<"$out"; then
	ok "--metrics-addr without a host is refused (exit 2)"
else
	bad "--metrics-addr 9464: $out"
fi

A=198.18.4.1
B=198.18.4.2
MADDR=127.0.0.1:9464 # the node netns's own loopback: nothing outside the run sees it
PADDR=127.0.0.1:9090

topo_init met || exit 1
topo_pod a met-a met-a/a $A fd00::4:1 && topo_pod b met-b met-b/b $B fd00::4:2 || exit 1
topo_serve b 7000 || exit 1
innode() { nsenter --net="/run/netns/$TOPO_NODE" "$@"; }

M=$TOPO_WORK/m
mkdir -p "$M"
cat >"$M/objects.yaml" <<EOF
apiVersion: v1
kind: Namespace
metadata: {name: met-a}
---
apiVersion: v1
kind: Namespace
metadata: {name: met-b}
---
apiVersion: v1
kind: Pod
metadata:
  namespace: met-a
  name: a
  labels: {app: client}
  annotations: {podwall.io/interface: met-a, podwall.io/cgroup: met-a/a}
status: {podIPs: [{ip: $A}, {ip: fd00::4:1}]}
---
apiVersion: v1
kind: Pod
metadata:
  namespace: met-b
  name: b
  labels: {app: server}
  annotations: {podwall.io/interface: met-b, podwall.io/cgroup: met-b/b}
status: {podIPs: [{ip: $B}, {ip: fd00::4:2}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {namespace: met-b, name: deny-all}
spec:
  podSelector: {}
  policyTypes: [Ingress]
EOF

topo_daemon_start --metrics-addr "$MADDR" || exit 1
if pw apply -f "$M/objects.yaml" >/dev/null; then
	ok "objects applied"
else
	bad "apply"
	exit 1
fi

innode curl -s -D "$M/headers" "http://$MADDR/metrics" >"$M/metrics.txt"
if grep -qi '^content-type: text/plain; version=0.0.4' "$M/headers"; then
	ok "Content-Type text/plain; version=0.0.4"
else
	bad "headers: $(cat "$M/headers")"
fi
if lint=$(promtool check metrics <"$M/metrics.txt" 2>&1); then
	ok "promtool check metrics: clean"
else
	bad "promtool check metrics: $lint"
fi
for fam in podwall_denied_total podwall_packets_total podwall_map_entries \
	podwall_map_capacity_entries podwall_identities podwall_endpoints \
	podwall_policy_apply_duration_seconds_bucket podwall_flow_records_written_total \
	podwall_flow_records_lost_total podwall_build_info; do
	if grep -q "^$fam" "$M/metrics.txt"; then
		ok "family $fam"
	else
		bad "no $fam in the exposition"
	fi
done
if grep -q '^podwall_policy_apply_duration_seconds_count 1$' "$M/metrics.txt" &&
	grep -q '^podwall_endpoints{state="enforced"} 2$' "$M/metrics.txt"; then
	ok "one apply observed, two endpoints enforced"
else
	bad "apply count / endpoints: $(grep -E 'apply_duration_seconds_count|podwall_endpoints' "$M/metrics.txt")"
fi
if pw quarantine met-a/a --reason metrics-test >/dev/null &&
	innode curl -s "http://$MADDR/metrics" | grep -q '^podwall_quarantined_pods 1$' &&
	pw quarantine --lift met-a/a >/dev/null &&
	innode curl -s "http://$MADDR/metrics" | grep -q '^podwall_quarantined_pods 0$'; then
	ok "podwall_quarantined_pods follows quarantine and lift"
else
	bad "podwall_quarantined_pods: $(innode curl -s "http://$MADDR/metrics" | grep quarantined)"
fi
code=$(innode curl -s -o /dev/null -w '%{http_code}' "http://$MADDR/other")
[ "$code" = 404 ] && ok "/other: 404" || bad "/other: $code"

echo "# a real Prometheus scrapes the daemon"
cat >"$M/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
- job_name: podwalld
  static_configs:
  - targets: ['$MADDR']
EOF
innode prometheus --config.file="$M/prometheus.yml" --storage.tsdb.path="$M/tsdb" \
	--web.listen-address="$PADDR" --log.level=warn >"$M/prometheus.log" 2>&1 &
TOPO_PIDS+=($!)

Q='podwall_denied_total{reason="policy-denied",direction="ingress"}'
# query PROMQL: the value of the first series, empty while there is none
query() {
	innode curl -s --get "http://$PADDR/api/v1/query" --data-urlencode "query=$1" 2>/dev/null |
		jq -r '.data.result[0].value[1] // empty' 2>/dev/null
}
before=
for i in $(seq 300); do # up to 30 s for the server to start and scrape once
	before=$(query "$Q")
	[ -n "$before" ] && break
	sleep 0.1
done
if [ -n "$before" ]; then
	ok "Prometheus scraped podwalld (drop counter at $before)"
else
	bad "Prometheus never returned $Q; its log: $(tail -5 "$M/prometheus.log")"
	exit 1
fi
got=$(topo_probe a tcp $B 7000 500)
[ "$got" = timeout ] && ok "a -> b denied at b's ingress" || bad "a -> b: $got"
after=$before
for i in $(seq 100); do # a scrape a second: up to 10 s
	after=$(query "$Q")
	[ -n "$after" ] && [ "$after" -gt "$before" ] && break
	sleep 0.1
done
if [ -n "$after" ] && [ "$after" -gt "$before" ]; then
	ok "Prometheus sees the drop counter rise: $before -> $after"
else
	bad "drop counter did not rise in Prometheus: $before -> $after"
fi
rate=$(query "increase(${Q}[1m])")
[ -n "$rate" ] && ok "increase() over it answers ($rate)" || bad "increase() gave nothing"
