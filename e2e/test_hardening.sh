#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Hardening end-to-end tests (issue 10) on a simulated node with three pods:
#   hd-a/a1 (app=client), hd-a/a2 (app=other), hd-b/b1 (app=server)
# - state is the instance's own: a daemon with another --bpffs refuses a state directory
#   (and so its CLI journal) that another instance wrote, before it loads anything;
# - `podwall get -o json|yaml` prints Kubernetes objects, as kubectl does;
# - least privilege: the running daemon's capabilities, no_new_privs and seccomp filter, and
#   a user of the --socket-group (not root) can use the CLI;
# - kill -9 of the daemon under traffic breaks no allowed connection and lets no denied one
#   through, and a restarted daemon takes over.
# None of it may create the machine-wide default /var/lib/podwall.
#
# usage: test_hardening.sh PODWALLD PODWALL PWPROBE    (root; ends with "N passed, N failed")
set -u
# shellcheck source=testlib.sh
. "$(dirname "$0")/testlib.sh" "$@"

VARLIB_BEFORE=$([ -e /var/lib/podwall ] && echo present || echo absent)
EXTRA_BPFFS=()
EXTRA_PIDS=()
# testlib's finish, after what this test made besides the node: a second daemon's pins
eval "testlib_$(declare -f finish)"
finish() {
	local p

	for p in "${EXTRA_PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	for p in "${EXTRA_BPFFS[@]}"; do
		if [ -e "$p" ]; then
			"$PW_DAEMON" --uninstall --bpffs "$p" >/dev/null 2>&1
			mountpoint -q "$p" && umount -l "$p"
			rm -rf "$p"
		fi
	done
	if [ "$VARLIB_BEFORE" = absent ] && [ -e /var/lib/podwall ]; then
		bad "the run created the machine-wide /var/lib/podwall"
	else
		ok "/var/lib/podwall untouched ($VARLIB_BEFORE before the run)"
	fi
	testlib_finish
}

expect_out() {
	local what=$1 pat=$2 out

	shift 2
	if out=$("$@" 2>&1) && grep -qE -- "$pat" <<<"$out"; then
		ok "$what"
	else
		bad "$what: /$pat/ not in: $out"
	fi
}

A1=198.18.2.1
A2=198.18.2.2
B1=198.18.2.3

topo_init hard || exit 1
topo_pod a1 lxc-a1 hd-a/a1 $A1 fd00::2:1 &&
	topo_pod a2 lxc-a2 hd-a/a2 $A2 fd00::2:2 &&
	topo_pod b1 lxc-b1 hd-b/b1 $B1 fd00::2:3 || exit 1
for p in a1 a2 b1; do
	topo_serve $p 7000 7001 || exit 1
done

M=$TOPO_WORK/m
mkdir -p "$M"
cat >"$M/cluster.yaml" <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: hd-a
  labels:
    team: alpha
---
apiVersion: v1
kind: Namespace
metadata:
  name: hd-b
EOF
# every pod names its ports (http 7000/TCP, alt 7001/UDP)
pod() { pod_manifest "$@" "spec:
  containers:
  - name: main
    ports:
    - name: http
      containerPort: 7000
    - name: alt
      containerPort: 7001
      protocol: UDP"; }
{
	pod hd-a a1 client lxc-a1 $A1 fd00::2:1
	pod hd-a a2 other lxc-a2 $A2 fd00::2:2
	pod hd-b b1 server lxc-b1 $B1 fd00::2:3
} >>"$M/cluster.yaml"
cat >"$M/policy.yaml" <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  namespace: hd-b
  name: allow-client
  labels:
    owner: hardening
spec:
  podSelector:
    matchLabels:
      app: server
  policyTypes: [Ingress]
  ingress:
  - from:
    - namespaceSelector:
        matchLabels:
          team: alpha
      podSelector:
        matchExpressions:
        - key: app
          operator: In
          values: [client]
    - ipBlock:
        cidr: 198.18.0.0/15
        except: [198.18.2.2/32]
    ports:
    - protocol: TCP
      port: 7000
      endPort: 7000
EOF

echo "# the daemon's state belongs to its instance (--bpffs)"
topo_daemon_start || exit 1
expect_out "apply the cluster" 'networkpolicy.networking.k8s.io/allow-client created' \
	pw apply -f "$M/cluster.yaml" -f "$M/policy.yaml"
expect_probe ok a1 tcp $B1 7000
expect_probe timeout a2 tcp $B1 7000
expect_out "the state directory names its instance" "\"bpffs\":\"$TOPO_BPFFS\"" \
	cat "$TOPO_WORK/state/instance"
topo_daemon_stop TERM

# another instance (its own bpffs, socket and node) pointed at the first one's state
NODEB="$TOPO_PREFIX-nodeb"
ip netns add "$NODEB" && TOPO_NETNS+=("$NODEB")
B_BPFFS="/sys/fs/bpf/podwall-hard-$$-b"
EXTRA_BPFFS+=("$B_BPFFS")
nsenter --net="/run/netns/$NODEB" "$PW_DAEMON" --socket "$TOPO_WORK/b.sock" \
	--bpffs "$B_BPFFS" --state-dir "$TOPO_WORK/state" >"$TOPO_WORK/b.log" 2>&1 &
bpid=$!
EXTRA_PIDS+=("$bpid")
for i in $(seq 500); do
	kill -0 "$bpid" 2>/dev/null || break
	"$PW_CLI" --socket "$TOPO_WORK/b.sock" status >/dev/null 2>&1 && break
	sleep 0.02
done
if kill -0 "$bpid" 2>/dev/null; then
	bad "a daemon of another instance started on the first one's state directory: it lists" \
		"$("$PW_CLI" --socket "$TOPO_WORK/b.sock" get networkpolicies -A 2>&1 | tr '\n' ' ')"
	kill -TERM "$bpid"
	wait "$bpid"
else
	wait "$bpid"
	rc=$?
	if [ "$rc" = 1 ] && grep -q "belongs to the daemon with --bpffs $TOPO_BPFFS" "$TOPO_WORK/b.log"
	then
		ok "another instance refuses the state directory, naming its owner (exit 1)"
	else
		bad "another instance on the state directory: rc=$rc: $(cat "$TOPO_WORK/b.log")"
	fi
	if [ -e "$B_BPFFS" ]; then
		bad "the refused daemon loaded a datapath under $B_BPFFS"
	else
		ok "the refused daemon loaded nothing"
	fi
fi

# the owner still replays its own journal
topo_daemon_start || exit 1
expect_out "the owner replays its journal" 'allow-client' pw get networkpolicies -n hd-b
expect_probe ok a1 tcp $B1 7000
expect_probe timeout a2 tcp $B1 7000
# and a second live daemon of the same instance is refused too
out=$(timeout 20 nsenter --net="/run/netns/$NODEB" "$PW_DAEMON" --socket "$TOPO_WORK/c.sock" \
	--bpffs "$TOPO_BPFFS" --state-dir "$TOPO_WORK/state" 2>&1)
rc=$?
if [ "$rc" = 1 ] && grep -q "in use by another running podwalld" <<<"$out"; then
	ok "a second live daemon on one state directory is refused"
else
	bad "a second live daemon on one state directory: rc=$rc: $out"
fi

echo "# get -o json|yaml prints Kubernetes objects, as kubectl does"
# jq_is WHAT EXPECTED FILTER CMD...: CMD's JSON output through jq FILTER (compact) is EXPECTED
jq_is() {
	local what=$1 want=$2 filter=$3 got

	shift 3
	got=$("$@" 2>&1 | jq -c "$filter" 2>&1)
	if [ "$got" = "$want" ]; then
		ok "$what"
	else
		bad "$what: expected $want, got $got"
	fi
}
jq_is "pods: a v1 List of v1 Pods" '["v1","List","","v1","Pod","a1","hd-a"]' \
	'[.apiVersion, .kind, .metadata.resourceVersion, .items[0].apiVersion, .items[0].kind,
	  .items[0].metadata.name, .items[0].metadata.namespace]' pw get pods -n hd-a -o json
jq_is "pod: labels, annotations, containers, ports, podIPs" \
	"[\"client\",\"lxc-a1\",\"main\",{\"name\":\"http\",\"containerPort\":7000,\"protocol\":\"TCP\"},{\"name\":\"alt\",\"containerPort\":7001,\"protocol\":\"UDP\"},\"$A1\",[\"$A1\",\"fd00::2:1\"]]" \
	'[.metadata.labels.app, .metadata.annotations["podwall.io/interface"],
	  .spec.containers[0].name, .spec.containers[0].ports[0], .spec.containers[0].ports[1],
	  .status.podIP, [.status.podIPs[].ip]]' pw get pod a1 -n hd-a -o json
jq_is "pod: podwall's own state under status.podwall" '["enforced",true]' \
	'[.status.podwall.state, (.status.podwall.identity > 0)]' pw get pod a1 -n hd-a -o json
jq_is "networkpolicy: the spec as written, defaults filled in" \
	'["networking.k8s.io/v1","NetworkPolicy",{"owner":"hardening"},{"matchLabels":{"app":"server"}},["Ingress"],{"matchLabels":{"team":"alpha"}},[{"key":"app","operator":"In","values":["client"]}],{"cidr":"198.18.0.0/15","except":["198.18.2.2/32"]},[{"protocol":"TCP","port":7000,"endPort":7000}]]' \
	'[.apiVersion, .kind, .metadata.labels, .spec.podSelector, .spec.policyTypes,
	  .spec.ingress[0].from[0].namespaceSelector, .spec.ingress[0].from[0].podSelector.matchExpressions,
	  .spec.ingress[0].from[1].ipBlock, .spec.ingress[0].ports]' \
	pw get networkpolicy allow-client -n hd-b -o json
jq_is "namespaces: labels (with the API server's own), phase" '[["hd-a","hd-b"],{"kubernetes.io/metadata.name":"hd-a","team":"alpha"},"Active"]' \
	'[[.items[].metadata.name], .items[0].metadata.labels, .items[0].status.phase]' \
	pw get namespaces -o json
out=$(pw get namespaces -o yaml 2>&1)
if grep -q '^apiVersion: v1$' <<<"$out" && grep -q '^kind: List$' <<<"$out" &&
	grep -q '^- apiVersion: v1$' <<<"$out" && grep -q '^  kind: Namespace$' <<<"$out"; then
	ok "-o yaml: the same List in YAML"
else
	bad "-o yaml: $out"
fi
# what get prints, apply takes back: the round trip kubectl users rely on
pw get networkpolicy allow-client -n hd-b -o yaml >"$M/roundtrip.yaml"
expect_out "delete the policy" 'allow-client deleted' pw delete -f "$M/policy.yaml"
expect_probe ok a2 tcp $B1 7000
expect_out "apply what get -o yaml printed" 'allow-client created' pw apply -f "$M/roundtrip.yaml"
expect_probe ok a1 tcp $B1 7000
expect_probe timeout a2 tcp $B1 7000

echo "# least privilege: what the running daemon keeps"
topo_daemon_stop TERM
GID=$((61000 + $$ % 4000)) # a group number only this run uses; no account needed
topo_daemon_start --socket-group "$GID" || exit 1
st=/proc/$TOPO_DAEMON/status
# CAP_NET_ADMIN is capability 12: 0x1000, and nothing else anywhere
for f in CapEff CapPrm CapBnd; do
	expect_out "$f is CAP_NET_ADMIN alone" "^$f:[[:space:]]+0000000000001000\$" grep "^$f:" "$st"
done
expect_out "CapInh and CapAmb are empty" '^CapAmb:[[:space:]]+0000000000000000$' grep '^CapAmb:' "$st"
expect_out "CapInh is empty" '^CapInh:[[:space:]]+0000000000000000$' grep '^CapInh:' "$st"
expect_out "no_new_privs" '^NoNewPrivs:[[:space:]]+1$' grep '^NoNewPrivs:' "$st"
expect_out "a seccomp filter" '^Seccomp:[[:space:]]+2$' grep '^Seccomp:' "$st"
expect_out "the log says what was kept" 'least privilege: only cap_net_admin kept' cat "$TOPO_DLOG"
# and still does its job: a pod that appears later gets its programs (CAP_NET_ADMIN)
pod hd-b b2 server lxc-b2 198.18.2.4 fd00::2:4 >"$M/late.yaml"
expect_out "apply a pod before its interface" 'pod/b2 created' pw apply -f "$M/late.yaml"
mkdir -p "$TOPO_CGROOT/hd-b/b2"
topo_pod b2 lxc-b2 hd-b/b2 198.18.2.4 fd00::2:4 && topo_serve b2 7000 || exit 1
for i in $(seq 250); do
	pw get pods -n hd-b 2>/dev/null | grep -q 'b2 .*enforced' && break
	sleep 0.02
done
expect_out "the late pod is enforced by the unprivileged daemon" 'b2 .*enforced' pw get pods -n hd-b
expect_probe ok a1 tcp 198.18.2.4 7000
expect_probe timeout a2 tcp 198.18.2.4 7000

echo "# the CLI needs no privilege beyond the socket: --socket-group"
# a copy the unprivileged user can run wherever the build tree is; the work dir traversable
install -m 0755 "$PW_CLI" "$TOPO_WORK/podwall"
chmod 0711 "$TOPO_WORK"
expect_out "the socket is group $GID's, mode 0660" "^660 0 $GID\$" stat -c '%a %u %g' "$TOPO_SOCK"
nobody_in() { # GROUPS-OPTION CMD...: as uid 64123 (no account), no capabilities
	local g=$1

	shift
	setpriv --reuid 64123 --regid 64123 "$g" --inh-caps=-all --bounding-set=-all \
		"$TOPO_WORK/podwall" --socket "$TOPO_SOCK" "$@"
}
expect_out "a member of the group (supplementary) lists pods" 'a1' \
	nobody_in --groups="$GID" get pods -A
expect_out "a member of the group (supplementary) applies" 'allow-client unchanged' \
	nobody_in --groups="$GID" apply -f "$M/roundtrip.yaml"
out=$(setpriv --reuid 64123 --regid "$GID" --clear-groups --inh-caps=-all \
	"$TOPO_WORK/podwall" --socket "$TOPO_SOCK" get pods -A 2>&1)
if grep -q a1 <<<"$out"; then
	ok "a user whose primary group is the group lists pods"
else
	bad "primary group: $out"
fi
out=$(nobody_in --clear-groups get pods -A 2>&1)
rc=$?
if [ $rc -ne 0 ] && grep -qi 'permission denied' <<<"$out"; then
	ok "a user outside the group is refused: $out"
else
	bad "a user outside the group: rc=$rc: $out"
fi
# the daemon refuses a peer outside the group even if the file's mode lets it in
chmod 0666 "$TOPO_SOCK"
out=$(nobody_in --clear-groups get pods -A 2>&1)
rc=$?
chmod 0660 "$TOPO_SOCK"
if [ $rc -ne 0 ] && ! grep -q a1 <<<"$out" &&
	grep -q 'refused uid 64123 .*not root nor in --socket-group' "$TOPO_DLOG"; then
	ok "the daemon checks the peer's groups itself"
else
	bad "peer check with a chmod'ed socket: rc=$rc: $out"
fi

# the systemd unit matches: it parses, and bounds what the daemon may ever hold
unit="$(cd "$(dirname "$0")/.." && pwd)/ctl/daemon/podwalld.service"
if command -v systemd-analyze >/dev/null; then
	sed "s|/usr/local/sbin/podwalld|$PW_DAEMON|" "$unit" >"$TOPO_WORK/podwalld.service"
	out=$(systemd-analyze verify "$TOPO_WORK/podwalld.service" 2>&1)
	if [ -z "$out" ]; then
		ok "systemd-analyze verify accepts ctl/daemon/podwalld.service"
	else
		bad "systemd-analyze verify: $out"
	fi
fi
for line in 'CapabilityBoundingSet=CAP_BPF CAP_NET_ADMIN CAP_SYS_ADMIN CAP_PERFMON CAP_SETPCAP' \
	'NoNewPrivileges=yes' 'ProtectSystem=strict' 'ReadWritePaths=/sys/fs/bpf'; do
	expect_out "unit: $line" "^$line\$" grep -x -- "$line" "$unit"
done

echo "# kill -9 of the daemon under traffic"
# an established allowed connection, new allowed connections, new denied ones, all for 8 s;
# the daemon is killed (no cleanup at all), stays dead a while, then a new one takes over
topo_enter a1
"${TOPO_IN[@]}" "$PW_PROBE" hold $B1 7000 8 >"$TOPO_WORK/k-hold" 2>&1 &
k_hold=$!
"${TOPO_IN[@]}" "$PW_PROBE" loop tcp $B1 7000 8 1000 >"$TOPO_WORK/k-allow" 2>&1 &
k_allow=$!
topo_enter a2
"${TOPO_IN[@]}" "$PW_PROBE" loop tcp $B1 7000 8 300 >"$TOPO_WORK/k-deny" 2>&1 &
k_deny=$!
sleep 1.5
kill -KILL "$TOPO_DAEMON"
wait "$TOPO_DAEMON" 2>/dev/null
TOPO_DAEMON=
sleep 1.5
topo_daemon_start --socket-group "$GID" || exit 1
expect_out "the new daemon adopted the datapath" 'adopted' tail -n 20 "$TOPO_DLOG"
wait $k_hold $k_allow $k_deny
echo "   hold: $(cat "$TOPO_WORK/k-hold"); allowed: $(cat "$TOPO_WORK/k-allow"); denied: $(cat "$TOPO_WORK/k-deny")"
expect_out "the established allowed connection survived (no break)" '^held [0-9]+$' \
	cat "$TOPO_WORK/k-hold"
expect_out "every new allowed connection passed" '^ok=[1-9][0-9]* denied=0 timeout=0 refused=0 error=0$' \
	cat "$TOPO_WORK/k-allow"
expect_out "no denied connection got through" '^ok=0 denied=0 timeout=[1-9][0-9]* refused=0 error=0$' \
	cat "$TOPO_WORK/k-deny"
# a kill -9 in the middle of an apply: afterwards the change is either whole or absent
sed 's/port: 7000/port: 7001/' "$M/policy.yaml" >"$M/policy-7001.yaml"
pw apply -f "$M/policy-7001.yaml" >/dev/null 2>&1 &
apid=$!
kill -KILL "$TOPO_DAEMON"
wait "$TOPO_DAEMON" 2>/dev/null
TOPO_DAEMON=
wait $apid
topo_daemon_start --socket-group "$GID" || exit 1
p7000=$(topo_probe a1 tcp $B1 7000 500)
p7001=$(topo_probe a1 tcp $B1 7001 500)
if [ "$p7000/$p7001" = "ok/timeout" ] || [ "$p7000/$p7001" = "timeout/ok" ]; then
	ok "killed mid-apply: the rule is on one port, whole ($p7000/$p7001 on 7000/7001)"
else
	bad "killed mid-apply: 7000 $p7000, 7001 $p7001"
fi
expect_probe timeout a2 tcp $B1 7000
expect_probe timeout a2 tcp $B1 7001

##HARDENING-NEXT##

exit 0
