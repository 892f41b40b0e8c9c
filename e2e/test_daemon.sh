#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# End-to-end test of podwalld and the podwall CLI on a simulated node with three pods:
#   e2e-a/a1 (app=client), e2e-a/a2 (app=other), e2e-b/b1 (app=server)
# It checks that `podwall apply` returns only once the kernel enforces the change (probes
# run right after it, never after a sleep), that a bad manifest is refused by name and
# changes nothing, that the manifests directory is watched, that SIGTERM leaves enforcement
# in place and that a restarted daemon adopts it and its CLI-applied objects.
#
# usage: test_daemon.sh PODWALLD PODWALL PWPROBE       (root; ends with "N passed, N failed")
set -u

# shellcheck source=testlib.sh
. "$(dirname "$0")/testlib.sh" "$@"

expect_opt_error "perf pages not a power of two" '--perf-pages 3: must be a power of two' \
	--perf-pages 3
expect_opt_error "unknown conntrack timeout kind" '--ct-timeout "tcp-fin=5s".*tcp-closing' \
	--ct-timeout udp=5s,tcp-fin=5s
expect_opt_error "malformed duration" '--ct-sweep-interval "5 s": expected a duration' \
	--ct-sweep-interval "5 s"
expect_opt_error "sub-second sweep" '--ct-sweep-interval 1500ms: whole seconds' \
	--ct-sweep-interval 1500ms
expect_opt_error "bad size suffix" '--flow-log-max-size "10Q"' --flow-log /dev/null \
	--flow-log-max-size 10Q
expect_opt_error "rotation without a file" 'need --flow-log with a file path' \
	--flow-log - --flow-log-max-size 1M
expect_opt_error "retention without rotation" '--flow-log-keep needs --flow-log-max-size' \
	--flow-log /dev/null --flow-log-keep 3
expect_opt_error "sampling of zero" '--flow-sample "0": expected a number from 1' \
	--flow-sample 0
expect_opt_error "bad fsync policy" 'expected rotate, none or always' --flow-log-fsync sometimes

A1=198.18.1.1
A2=198.18.1.2
B1=198.18.1.3

topo_init e2e || exit 1
topo_pod a1 lxc-a1 e2e-a/a1 $A1 fd00::1:1 &&
	topo_pod a2 lxc-a2 e2e-a/a2 $A2 fd00::1:2 &&
	topo_pod b1 lxc-b1 e2e-b/b1 $B1 fd00::1:3 || exit 1
for p in a1 a2 b1; do
	topo_serve $p 7000 7001 || exit 1
done

M=$TOPO_WORK/m
MDIR=$TOPO_WORK/manifests.d
mkdir -p "$M" "$MDIR"

cat >"$M/namespaces.yaml" <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: e2e-a
---
apiVersion: v1
kind: Namespace
metadata:
  name: e2e-b
EOF

pod() { pod_manifest "$@"; } # testlib.sh
{
	pod e2e-a a1 client lxc-a1 $A1 fd00::1:1
	pod e2e-a a2 other lxc-a2 $A2 fd00::1:2
	pod e2e-b b1 server lxc-b1 $B1 fd00::1:3
} >"$M/pods.yaml"

cat >"$M/deny.yaml" <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  namespace: e2e-b
  name: default-deny
spec:
  podSelector: {}
  policyTypes: [Ingress]
EOF

cat >"$M/allow.yaml" <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  namespace: e2e-b
  name: allow-client
spec:
  podSelector:
    matchLabels:
      app: server
  ingress:
  - from:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: e2e-a
      podSelector:
        matchLabels:
          app: client
    ports:
    - protocol: TCP
      port: 7000
EOF

# the same policy made invalid in its second document: endPort below port
cat >"$M/bad.yaml" <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: e2e-c
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  namespace: e2e-b
  name: allow-client
spec:
  podSelector: {}
  ingress:
  - ports:
    - protocol: TCP
      port: 7000
      endPort: 6000
EOF

echo "# daemon up, objects applied"
topo_daemon_start --manifests "$MDIR" || exit 1
expect_out "apply namespaces and pods" 'namespace/e2e-a created' \
	pw apply -f "$M/namespaces.yaml" -f "$M/pods.yaml"
expect_out "pods are listed" 'b1' pw get pods -A
expect_probe ok a1 tcp $B1 7000
expect_probe ok a2 tcp $B1 7000

echo "# default deny: enforced when apply returns"
expect_out "apply default-deny" 'networkpolicy.networking.k8s.io/default-deny created' \
	pw apply -f "$M/deny.yaml"
expect_probe timeout a1 tcp $B1 7000
expect_probe timeout a2 tcp $B1 7000
expect_probe ok b1 tcp $A1 7000 # egress of e2e-b and ingress of e2e-a stay open

echo "# allow by labels across namespaces"
expect_out "apply allow-client" 'networkpolicy.networking.k8s.io/allow-client created' \
	pw apply -f "$M/allow.yaml"
expect_probe ok a1 tcp $B1 7000
expect_probe timeout a1 tcp $B1 7001
expect_probe timeout a2 tcp $B1 7000
expect_probe ok a1 tcp fd00::1:3 7000 # the same rules hold for IPv6
expect_probe timeout a2 tcp fd00::1:3 7000
expect_out "apply again is unchanged" 'allow-client unchanged' pw apply -f "$M/allow.yaml"
sed 's/port: 7000/port: 7001/' "$M/allow.yaml" >"$M/allow-7001.yaml"
expect_out "a changed rule is configured" 'allow-client configured' pw apply -f "$M/allow-7001.yaml"
expect_probe ok a1 tcp $B1 7001
expect_probe timeout a1 tcp $B1 7000
expect_out "and back" 'allow-client configured' pw apply -f "$M/allow.yaml"
expect_probe ok a1 tcp $B1 7000
expect_out "explain names the policy" 'allow-client' \
	pw explain --from e2e-a/a1 --to e2e-b/b1 --port 7000

echo "# a bad manifest is refused by name and changes nothing"
out=$(pw apply -f "$M/bad.yaml" 2>&1)
rc=$?
if [ $rc -eq 1 ] && grep -q 'bad.yaml' <<<"$out" && grep -qi 'document 2' <<<"$out" &&
	grep -q 'endPort' <<<"$out"; then
	ok "bad manifest: exit 1, names file, document and field"
else
	bad "bad manifest: rc=$rc, output: $out"
fi
if pw get namespaces 2>&1 | grep -q e2e-c; then
	bad "the bad file's valid first document was applied"
else
	ok "nothing of the bad file was created"
fi
expect_probe ok a1 tcp $B1 7000
expect_probe timeout a2 tcp $B1 7000

echo "# the manifests directory is watched"
cat >"$MDIR/.egress.yaml.tmp" <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  namespace: e2e-a
  name: lock-other
spec:
  podSelector:
    matchLabels:
      app: other
  policyTypes: [Egress]
EOF
mv "$MDIR/.egress.yaml.tmp" "$MDIR/egress.yaml"
# inotify is asynchronous: wait (bounded) until the daemon holds the policy
for i in $(seq 250); do
	pw get networkpolicies -n e2e-a 2>/dev/null | grep -q lock-other && break
	sleep 0.02
done
expect_out "policy from the manifests directory" 'lock-other' pw get networkpolicies -n e2e-a
expect_probe denied a2 tcp $A1 7000 # egress denied at the socket: EPERM, nothing sent
expect_probe ok a1 tcp $A2 7000
cp "$M/bad.yaml" "$MDIR/zz-bad.yaml"
for i in $(seq 250); do
	pw status -o json 2>/dev/null | grep -q 'zz-bad.yaml' && break
	sleep 0.02
done
expect_out "a bad file in the directory is reported" 'zz-bad.yaml' pw status -o json
expect_probe denied a2 tcp $A1 7000
rm -f "$MDIR/zz-bad.yaml" "$MDIR/egress.yaml"
for i in $(seq 250); do
	pw get networkpolicies -n e2e-a 2>/dev/null | grep -q lock-other || break
	sleep 0.02
done
expect_probe ok a2 tcp $A1 7000

echo "# a pod applied before its interface exists is enforced once the link appears"
pod e2e-b c1 server lxc-c1 198.18.1.4 fd00::1:4 >"$M/late.yaml"
expect_out "apply a pod without its interface" 'pod/c1 created' pw apply -f "$M/late.yaml"
expect_out "the pod is pending" 'c1 .*pending' pw get pods -n e2e-b
mkdir -p "$TOPO_CGROOT/e2e-b/c1" # before the link: its notification resolves both
topo_pod c1 lxc-c1 e2e-b/c1 198.18.1.4 fd00::1:4 && topo_serve c1 7000 7001 || exit 1
for i in $(seq 250); do
	pw get pods -n e2e-b 2>/dev/null | grep -q 'c1 .*enforced' && break
	sleep 0.02
done
expect_out "the link notification made it enforced" 'c1 .*enforced' pw get pods -n e2e-b
expect_probe ok a1 tcp 198.18.1.4 7000
expect_probe timeout a2 tcp 198.18.1.4 7000

echo "# flow records"
expect_out "flows include a denied connection" '"verdict"' pw flows -o json --limit 0
if [ -s "$TOPO_FLOWS" ]; then
	ok "flow log file has $(wc -l <"$TOPO_FLOWS") records"
else
	bad "flow log file $TOPO_FLOWS is empty"
fi

echo "# SIGTERM leaves enforcement in place"
if topo_daemon_stop TERM; then
	ok "podwalld exited 0 on SIGTERM"
else
	bad "podwalld exit status on SIGTERM"
fi
if [ -e "$TOPO_SOCK" ]; then
	bad "socket left behind"
else
	ok "socket removed"
fi
expect_probe ok a1 tcp $B1 7000
expect_probe timeout a2 tcp $B1 7000

echo "# a restarted daemon adopts the datapath and its CLI objects"
topo_daemon_start --manifests "$MDIR" || exit 1
expect_out "daemon adopted the pinned datapath" 'adopted' grep adopted "$TOPO_DLOG"
expect_out "CLI-applied policies are back" 'allow-client' pw get networkpolicies -n e2e-b
expect_probe ok a1 tcp $B1 7000
expect_probe timeout a2 tcp $B1 7000
expect_out "delete by the manifest that created it" 'allow-client deleted' \
	pw delete -f "$M/allow.yaml"
expect_probe timeout a1 tcp $B1 7000
expect_out "delete default-deny" 'default-deny deleted' pw delete -f "$M/deny.yaml"
expect_probe ok a2 tcp $B1 7000
out=$(pw delete -f "$M/deny.yaml" 2>&1)
rc=$?
if [ $rc -eq 1 ] && grep -q '^error: ' <<<"$out"; then
	ok "deleting a missing object: error, exit 1"
else
	bad "deleting a missing object: rc=$rc: $out"
fi

echo "# the journal of CLI changes is compacted at start, and replays to the same state"
topo_daemon_stop TERM
topo_daemon_start --manifests "$MDIR" || exit 1
expect_out "journal compacted" 'journal compacted from 6 to 2 records' cat "$TOPO_DLOG"
expect_out "pods are back" 'a2' pw get pods -n e2e-a
if pw get networkpolicies -A 2>&1 | grep -q allow-client; then
	bad "a deleted policy came back after the restart"
else
	ok "deleted policies stay deleted"
fi
expect_probe ok a1 tcp $B1 7000
expect_probe ok a2 tcp $B1 7000

echo "# compacted at run time too (from the keys it keeps of each record), and replays the same"
n0=$(grep -c 'journal compacted' "$TOPO_DLOG")
for i in $(seq 90); do
	if ! { pw apply -f "$M/allow-7001.yaml" && pw apply -f "$M/allow.yaml" &&
		pw delete -f "$M/allow.yaml"; } >/dev/null 2>&1; then
		bad "journal change $i refused"
		break
	fi
done
expect_out "last of 271 changes" 'allow-client created' pw apply -f "$M/allow-7001.yaml"
if [ "$(grep -c 'journal compacted' "$TOPO_DLOG")" -gt "$n0" ] &&
	grep -q 'from the object keys kept of its' "$TOPO_DLOG"; then
	ok "the journal was compacted at run time, from the keys kept in memory"
else
	bad "no run-time compaction after 271 records"
fi
expect_probe ok a1 tcp $B1 7001
expect_probe timeout a1 tcp $B1 7000
topo_daemon_stop TERM
topo_daemon_start --manifests "$MDIR" || exit 1
expect_out "the compacted journal replays" 'allow-client' pw get networkpolicies -n e2e-b
expect_probe ok a1 tcp $B1 7001
expect_probe timeout a1 tcp $B1 7000

exit 0
