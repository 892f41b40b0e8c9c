#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Cluster mode end to end: a real etcd and three nodes (e2e/cluster_topology.sh), pods spread
# over them, policies applied through different nodes' CLIs. Probes run right after `apply`
# returns, never after a sleep: apply must wait until every live node enforces the change.
#
#   cl/a1 on n1 (app=client)   cl/b2 on n2 (app=server)   cl/c3 on n3 (app=other)
#   cl/a4 on n1 (app=client), added later
#
# usage: test_cluster.sh PODWALLD PODWALL PWPROBE       (root; ends with "N passed, N failed")
set -u

# shellcheck source=cluster_tests.sh
. "$(dirname "$0")/cluster_tests.sh" "$@"

# leases: short, so a dead node is forgotten quickly; long enough that a 1 s freeze (the
# --timeout case) never expires one, even on a loaded machine
TTL=4
cl_init cl || exit 1
cl_node 1 && cl_node 2 && cl_node 3 || exit 1
cl_pod a1 1 1 && cl_pod b2 2 1 && cl_pod c3 3 1 && cl_pod a4 1 2 || exit 1
for p in a1 b2 c3 a4; do
	cl_serve $p 8080 || exit 1
done
expect_opt_error "etcd URL scheme" 'ftp://198.18.0.1:1": the scheme must be http or https' \
	--etcd http://198.18.0.1:2379,ftp://198.18.0.1:1
expect_opt_error "etcd URL path" 'an endpoint has no path' --etcd http://198.18.0.1:2379/v3
expect_opt_error "etcd prefix" "must start with '/'" --etcd http://198.18.0.1:2379 --etcd-prefix p
expect_opt_error "etcd options without --etcd" 'need --etcd' --etcd-prefix /p

cl_tls || exit 1
cl_etcd_start || exit 1
ok "etcd $(etcd --version | head -n1 | awk '{print $3}') listens in netns $CL_UL, port $CL_ETCD_PORT"

dead=$(cl_free_port "$CL_UL")
# n2 lists an endpoint nobody listens on first (failover), n3 reaches etcd over IPv6 with TLS
# and a client certificate
N3_TLS=(--etcd-cacert "$CL_TLS/ca.crt" --etcd-cert "$CL_TLS/client.crt" --etcd-key "$CL_TLS/client.key")
cl_daemon_start 1 "http://198.18.0.1:$CL_ETCD_PORT" --etcd-lease-ttl ${TTL}s &&
	cl_daemon_start 2 "http://198.18.0.1:$dead,http://198.18.0.1:$CL_ETCD_PORT" \
		--metrics-addr 127.0.0.1:9464 \
		--etcd-lease-ttl ${TTL}s &&
	cl_daemon_start 3 "https://[fd00:ff::1]:$CL_ETCD_TLS_PORT" "${N3_TLS[@]}" \
		--etcd-lease-ttl ${TTL}s || exit 1
if wait_for 5 nodes_ready 1 3; then
	ok "n1 sees three live nodes (n2 through its second endpoint, n3 over IPv6 and TLS)"
else
	bad "n1 does not see three nodes: $(pwn 1 get nodes 2>&1)"
fi

M=$CL_WORK/m
mkdir -p "$M"
{
	cat <<EOY
apiVersion: v1
kind: Namespace
metadata:
  name: cl
EOY
	cl_pod_yaml a1 cl client
	cl_pod_yaml b2 cl server
	cl_pod_yaml c3 cl other
} >"$M/base.yaml"
cl_pod_yaml a4 cl client >"$M/a4.yaml"
cat >"$M/allow-client.yaml" <<EOY
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-client, namespace: cl}
spec:
  podSelector: {matchLabels: {app: server}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: web}]
EOY
cat >"$M/allow-other.yaml" <<EOY
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-other, namespace: cl}
spec:
  podSelector: {matchLabels: {app: server}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: other}}}]
EOY
cat >"$M/client-egress.yaml" <<EOY
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: client-egress, namespace: cl}
spec:
  podSelector: {matchLabels: {app: client}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: server}}}]
EOY

# --- objects from any node reach every node
expect_out "apply through n1" 'pod/c3 created' pwn 1 apply -f "$M/base.yaml"
got=$(pods_seen 3)
[ "$got" = "a1,b2,c3" ] && ok "n3 lists the whole cluster's pods right after apply" ||
	bad "n3 lists pods '$got', expected a1,b2,c3"
expect_out "get pods -A on n2 lists n1's pod a1" \
	'"name": *"a1"' pwn 2 get pods -A -o json
expect_probe ok a1 tcp "$CL_IP_b2" 8080
expect_probe ok c3 tcp "$CL_IP_b2" 8080

# --- ingress policy through n3, enforced on n2 by the peers' identities
expect_out "apply allow-client through n3" 'allow-client created' pwn 3 apply -f "$M/allow-client.yaml"
expect_probe ok a1 tcp "$CL_IP_b2" 8080
expect_probe timeout c3 tcp "$CL_IP_b2" 8080

# --- a pod added on n1 is a peer on n2 before apply returns
expect_out "apply pod a4 through n1" 'pod/a4 created' pwn 1 apply -f "$M/a4.yaml"
expect_probe ok a4 tcp "$CL_IP_b2" 8080

# --- egress policy through n2, enforced on n1 at the socket against peers on n2 and n3
expect_out "apply client-egress through n2" 'client-egress created' pwn 2 apply -f "$M/client-egress.yaml"
expect_probe ok a1 tcp "$CL_IP_b2" 8080
expect_probe denied a1 tcp "$CL_IP_c3" 8080
expect_probe denied a4 tcp "$CL_IP_c3" 8080
expect_out "apply again: unchanged, nothing written" 'client-egress unchanged' \
	pwn 1 apply -f "$M/client-egress.yaml"

# --- a Service applied through n3 reaches every node; n1 translates a1's connection to the
# backend b2 on n2, which a1's egress policy allows
cat >"$M/svc.yaml" <<EOY
apiVersion: v1
kind: Service
metadata: {name: web, namespace: cl}
spec:
  clusterIP: 198.19.128.10
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: cl, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints: [{addresses: ["$CL_IP_b2"]}]
EOY
expect_out "apply a Service through n3" 'service/web created' pwn 3 apply -f "$M/svc.yaml"
expect_probe ok a1 tcp 198.19.128.10 80
expect_out "n2 lists the Service with its backend" 'web +198.19.128.10 +80->8080/TCP +1' \
	pwn 2 get services -n cl

# --- status and nodes
expect_out "get nodes lists n1 n2 n3" 'n1 .*Ready' pwn 2 get nodes
st=$(pwn 1 status -o json)
if jq -e '.cluster.connected and (.cluster.nodes | length == 3) and
	all(.cluster.nodes[]; .lag == 0)' <<<"$st" >/dev/null; then
	ok "status: connected, three nodes, no lag"
else
	bad "status: $(jq -c .cluster <<<"$st")"
fi
# n2's metrics (its own netns's loopback) say the same, and promtool takes them
metrics2() { nsenter --net="/run/netns/$CL_PREFIX-n2" curl -s http://127.0.0.1:9464/metrics; }
m=$(metrics2)
rev2=$(pwn 2 status -o json | jq -r .cluster.enforced_revision)
if grep -q '^podwall_cluster_connected 1$' <<<"$m" && grep -q '^podwall_cluster_live_nodes 3$' <<<"$m" &&
	grep -q "^podwall_cluster_enforced_revision $rev2\$" <<<"$m" &&
	promtool check metrics <<<"$m" >/dev/null 2>&1; then
	ok "n2 metrics: connected, 3 live nodes, enforced revision $rev2, promtool clean"
else
	bad "n2 metrics: $(grep podwall_cluster <<<"$m")"
fi

# --- a node that does not follow: apply names it after --timeout
cl_stop=${CL_DAEMON[3]}
kill -STOP "$cl_stop"
sed 's/app: other/app: other2/' <<<"$(cl_pod_yaml c3 cl other)" >"$M/c3-relabel.yaml"
t0=$(date +%s%N)
expect_fail "apply with n3 frozen fails after --timeout naming n3" 'not yet enforced by: n3' \
	pwn 1 apply --timeout 1s -f "$M/c3-relabel.yaml"
t1=$(date +%s%N)
kill -CONT "$cl_stop"
ms=$(((t1 - t0) / 1000000))
# not before the timeout; the upper bound only catches a hang (a loaded machine is slow)
[ "$ms" -ge 900 ] && [ "$ms" -lt 10000 ] && ok "the apply waited ${ms} ms (--timeout 1s)" ||
	bad "the apply waited ${ms} ms (--timeout 1s)"
expect_out "n3 catches up: the next apply waits for it and succeeds" 'configured' \
	pwn 2 apply -f <(cl_pod_yaml c3 cl other)


# --- a policy that names n3's pod as a peer on n2
expect_out "apply allow-other through n1" 'allow-other created' pwn 1 apply -f "$M/allow-other.yaml"
expect_probe ok c3 tcp "$CL_IP_b2" 8080

# --- quarantine through n1 of n2's pod: written to etcd, held on every node, and cut on n2
# before the command returns (the answer waits for every live node)
expect_out "quarantine cl/b2 (on n2) through n1" 'pod/b2 quarantined' \
	pwn 1 quarantine cl/b2 --reason "cluster test"
expect_probe timeout a1 tcp "$CL_IP_b2" 8080
expect_probe timeout c3 tcp "$CL_IP_b2" 8080
for i in 1 2 3; do
	expect_out "n$i lists the quarantine with its reason" 'cl +b2 .*cluster test' \
		pwn $i get quarantines
done
expect_out "etcd holds it under the prefix" "$CL_ETCD_PREFIX/v1/quarantines/cl/b2" \
	cl_etcdctl get --prefix --keys-only "$CL_ETCD_PREFIX/v1/quarantines/"
expect_fail "a pod etcd does not hold is refused by name" 'pods "nope" not found.*nothing changed' \
	pwn 2 quarantine cl/nope
expect_fail "lifting what is not quarantined is refused" 'not quarantined.*nothing changed' \
	pwn 2 quarantine --lift cl/c3
# lifted while b2's node is away: its pinned quarantine holds meanwhile, and the restarted
# daemon, which restores it from its own state file, lifts it once etcd's listing lacks it
cl_daemon_kill 2 TERM
if wait_for $((TTL + 5)) nodes_ready 1 2; then
	ok "n2's daemon stopped: n1 sees two live nodes"
else
	bad "n2 stopped: $(pwn 1 get nodes 2>&1)"
fi
expect_probe timeout c3 tcp "$CL_IP_b2" 8080
expect_out "lift through n3 while n2 is away" 'pod/b2 lifted' pwn 3 quarantine --lift cl/b2
cl_daemon_start 2 "http://198.18.0.1:$dead,http://198.18.0.1:$CL_ETCD_PORT" \
	--metrics-addr 127.0.0.1:9464 --etcd-lease-ttl ${TTL}s || exit 1
c3_reaches_b2() { [ "$(cl_probe c3 tcp "$CL_IP_b2" 8080 300)" = ok ]; }
if wait_for 10 nodes_ready 1 3 && wait_for 10 c3_reaches_b2; then
	ok "n2 back: the quarantine lifted in its absence is lifted on n2 too"
else
	bad "n2 back, c3 -> b2: $(cl_probe c3 tcp "$CL_IP_b2" 8080 300)"
fi
expect_out "n2 says why it lifted it" 'cl/b2: its quarantine is not in etcd any more' \
	cat "$CL_WORK/n2.log"
expect_probe ok a1 tcp "$CL_IP_b2" 8080
for i in 1 2 3; do
	if out=$(pwn $i get quarantines) && ! grep -q b2 <<<"$out"; then
		ok "n$i lists no quarantine after the lift"
	else
		bad "n$i still lists: $(pwn $i get quarantines)"
	fi
done

# --- a daemon restart in cluster mode: enforcement holds while it is away, then it adopts
cl_daemon_kill 1 TERM
expect_probe ok a1 tcp "$CL_IP_b2" 8080
expect_probe denied a1 tcp "$CL_IP_c3" 8080
cl_daemon_start 1 "http://198.18.0.1:$CL_ETCD_PORT" --etcd-lease-ttl ${TTL}s || exit 1
expect_probe ok a1 tcp "$CL_IP_b2" 8080
expect_probe denied a1 tcp "$CL_IP_c3" 8080
expect_out "restarted n1 adopted its datapath" '"adopted": *true' pwn 1 status -o json

# --- etcd killed and restarted under traffic: no wrong verdict, apply fails clearly, then works
traffic() {
	local from to want got

	while :; do
		for spec in "a1 $CL_IP_b2 ok" "a1 $CL_IP_c3 denied" "c3 $CL_IP_b2 ok"; do
			read -r from to want <<<"$spec"
			got=$(cl_probe "$from" tcp "$to" 8080 300)
			echo "$from->$to want $want got $got"
		done
	done
}
traffic >"$CL_WORK/traffic" 2>/dev/null &
tpid=$!
CL_PIDS+=("$tpid")
sleep 0.5
cl_etcd_kill
down() { [ "$(pwn "$1" status -o json | jq -r .cluster.connected)" = false ]; }
if wait_for 10 down 1 && wait_for 10 down 2; then
	ok "etcd killed: the daemons stay up and say they are disconnected"
else
	bad "etcd killed: status still connected: $(pwn 1 status -o json | jq -c .cluster)"
fi
expect_fail "apply while etcd is down fails with a clear error" 'etcd is unreachable.*nothing changed' \
	pwn 2 apply -f "$M/a4.yaml"
expect_out "status says since when" '"down_since"' pwn 1 status -o json
if metrics2 | grep -q '^podwall_cluster_connected 0$'; then
	ok "n2 metrics: podwall_cluster_connected 0 while etcd is down"
else
	bad "n2 metrics while etcd is down: $(metrics2 | grep podwall_cluster_connected)"
fi
sleep $((TTL + 1)) # longer than the leases: nobody may forget anybody meanwhile
cl_etcd_start || exit 1
t0=$(date +%s%N)
relabel() { cl_pod_yaml a4 cl client | sed 's/app: client}/app: client, round: "2"}/' | pwn 3 apply -f -; }
if wait_for 15 relabel; then
	ok "etcd is back: apply works again after $((($(date +%s%N) - t0) / 1000000)) ms"
else
	bad "etcd is back, but apply still fails: $(relabel 2>&1)"
fi
sleep 0.5
kill "$tpid" 2>/dev/null
wait "$tpid" 2>/dev/null
n=$(wc -l <"$CL_WORK/traffic")
wrong=$(awk '$3 != $5' "$CL_WORK/traffic" | grep -c . || true)
if [ "$n" -ge 10 ] && [ "$wrong" = 0 ]; then
	ok "$n probes across the etcd outage, none with a wrong verdict"
else
	bad "$n probes, $wrong wrong: $(awk '$3 != $5' "$CL_WORK/traffic" | sort | uniq -c | head)"
fi
expect_probe ok a4 tcp "$CL_IP_b2" 8080

# --- a node killed: its lease expires and its pods leave the others' maps
cl_daemon_kill 3 KILL
if wait_for $((TTL + 5)) nodes_ready 1 2 && wait_for 3 nodes_ready 2 2; then
	ok "n3 killed: its lease expired, n1 and n2 see two live nodes"
else
	bad "n3 killed: $(pwn 1 get nodes 2>&1)"
fi
got=$(pods_seen 2)
[ "$got" = "a1,a4,b2" ] && ok "n2 dropped n3's pod c3" || bad "n2 holds pods '$got'"
expect_probe timeout c3 tcp "$CL_IP_b2" 8080
# waiting for the dead node would fail it after the 5 s timeout
expect_out "apply returns without the dead node" 'configured' \
	pwn 1 apply --timeout 5s -f "$M/a4.yaml"
# n3 comes back as a fresh node: no pins, so nothing to recover its numbers from
nsenter --net="/run/netns/$CL_PREFIX-n3" "$PW_DAEMON" --uninstall \
	--bpffs "/sys/fs/bpf/podwall-$CL_TAG-$CL_RUN-n3" --cgroup-root "$CL_CGROOT/n3" \
	2>>"$CL_WORK/n3.log"
cl_daemon_start 3 "https://[fd00:ff::1]:$CL_ETCD_TLS_PORT" "${N3_TLS[@]}" \
	--etcd-lease-ttl ${TTL}s || exit 1
if wait_for 5 nodes_ready 2 3; then ok "n3 is back"; else bad "n3 is not back: $(pwn 2 get nodes)"; fi
expect_probe ok c3 tcp "$CL_IP_b2" 8080
# --- identities agree, also on a node that joined afresh after all that history: flow
# records of every node name a label set by the same number
ids() { pwn "$1" get identities -o json | jq -c '[.items[] | select(.namespace == "cl") | [.identity // .id, (.labels | tostring)]] | sort'; }
i1=$(ids 1) i2=$(ids 2) i3=$(ids 3)
if [ "$i1" = "$i2" ] && [ "$i2" = "$i3" ] && [ "$(jq length <<<"$i1")" -ge 3 ]; then
	ok "the three nodes number the $(jq length <<<"$i1") label identities alike"
else
	bad "identities differ: n1 $i1 n2 $i2 n3 $i3"
fi
flow_id() { # NODE POD: the identity NODE's flow records give POD
	jq -r --arg p "$2" 'select(.source.pod_name == $p) | .source.identity' "$CL_WORK/n$1.flows" | head -n1
}
both_flows() { [ -n "$(flow_id 3 c3)" ] && [ -n "$(flow_id 2 c3)" ]; }
wait_for 3 both_flows
f3=$(flow_id 3 c3) f2=$(flow_id 2 c3)
if [ -n "$f3" ] && [ "$f3" = "$f2" ]; then
	ok "c3's flow records on n3 (egress) and n2 (ingress) both say identity $f3"
else
	bad "c3's identity in flow records: n3 '$f3', n2 '$f2'"
fi


# --- a compaction while n2 is cut off from etcd forces a re-list that changes only what changed
ipt() { nsenter --net="/run/netns/$CL_PREFIX-n2" iptables "$@"; }
ipt -I OUTPUT -p tcp -d 198.18.0.1 --dport "$CL_ETCD_PORT" -j REJECT --reject-with tcp-reset
if wait_for 10 down 2 && wait_for $((TTL + 5)) nodes_ready 1 2; then
	ok "n2 cut off from etcd: its lease expired"
else
	bad "n2 cut off: $(pwn 1 get nodes 2>&1)"
fi
# b2 left n1's maps: client-egress (to app=server only) no longer reaches its address
expect_probe denied a1 tcp "$CL_IP_b2" 8080
expect_out "delete allow-client through n1 while n2 is away" 'deleted' pwn 1 delete -f "$M/allow-client.yaml"
rev=$(cl_etcdctl endpoint status -w json | jq '.[0].Status.header.revision')
expect_out "etcd compacted at revision $rev" 'compacted revision' cl_etcdctl compact "$rev"
ipt -D OUTPUT -p tcp -d 198.18.0.1 --dport "$CL_ETCD_PORT" -j REJECT --reject-with tcp-reset
if wait_for 10 nodes_ready 1 3; then ok "n2 rejoined"; else bad "n2 did not rejoin"; fi
relisted() { [ "$(pwn 2 status -o json | jq -r '.cluster.relists')" -ge 1 ]; }
wait_for 5 relisted
st=$(pwn 2 status -o json)
if jq -e '.cluster.compactions >= 1 and .cluster.relists >= 1 and .cluster.relist_changes == 1' \
	<<<"$st" >/dev/null; then
	ok "n2 re-listed after the compaction and passed exactly the one changed object"
else
	bad "n2 after the compaction: $(jq -c '.cluster | del(.nodes)' <<<"$st")"
fi
expect_probe timeout a1 tcp "$CL_IP_b2" 8080
expect_probe ok c3 tcp "$CL_IP_b2" 8080
