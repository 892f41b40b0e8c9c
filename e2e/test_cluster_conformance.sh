#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Upstream NetworkPolicy conformance cases (../shared/netpol/upstream-e2e.md) in cluster mode:
# the model's nine pods (namespaces x, y, z; pods a, b, c) spread over three nodes so that
# every namespace has a pod on every node, a real etcd, each case's policy applied through
# one node's CLI and deleted through another's. Right after `apply` returns, the whole 9x8
# matrix is probed (each cell a real connection between pods, most of them across nodes); a
# cell is denied when the socket layer refuses it (EPERM) or nothing answers in 500 ms.
#
#   n1: x/a y/c z/b     n2: x/b y/a z/c     n3: x/c y/b z/a
#
# usage: test_cluster_conformance.sh PODWALLD PODWALL PWPROBE   (root; "N passed, N failed")
set -u

# shellcheck source=cluster_tests.sh
. "$(dirname "$0")/cluster_tests.sh" "$@"

PODS=(xa xb xc ya yb yc za zb zc)
declare -A HOME=([xa]=1 [yc]=1 [zb]=1 [xb]=2 [ya]=2 [zc]=2 [xc]=3 [yb]=3 [za]=3)

cl_init clc || exit 1
cl_node 1 && cl_node 2 && cl_node 3 || exit 1
k=0
for p in "${PODS[@]}"; do
	k=$((k + 1))
	cl_pod "$p" "${HOME[$p]}" "$k" || exit 1
done
for p in "${PODS[@]}"; do
	cl_serve "$p" 80 81 || exit 1
done
cl_etcd_start || exit 1
for i in 1 2 3; do
	cl_daemon_start "$i" "http://198.18.0.1:$CL_ETCD_PORT" || exit 1
done
wait_for 5 nodes_ready 1 3 || bad "n1 does not see three nodes"

M=$CL_WORK/m
mkdir -p "$M"
{
	for ns in x y z; do
		printf -- '---\napiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n' "$ns"
	done
	for p in "${PODS[@]}"; do
		ip_var="CL_IP_$p"
		cat <<EOY
---
apiVersion: v1
kind: Pod
metadata:
  name: ${p:1:1}
  namespace: ${p:0:1}
  labels: {pod: ${p:1:1}}
  annotations: {podwall.io/interface: lxc-$p, podwall.io/cgroup: $p}
spec:
  nodeName: n${HOME[$p]}
  containers:
  - name: c
    ports:
    - {containerPort: 80, name: serve-80-tcp}
    - {containerPort: 81, name: serve-81-tcp}
    - {containerPort: 80, name: serve-80-udp, protocol: UDP}
    - {containerPort: 81, name: serve-81-udp, protocol: UDP}
status:
  podIPs: [{ip: ${!ip_var}}]
EOY
	done
} >"$M/model.yaml"
expect_out "the model through n1" 'pod/c created' pwn 1 apply -f "$M/model.yaml"

# matrix PROTO PORT: "SRC DST ok|deny|<error>" for every ordered pair, sources in parallel
matrix() {
	local proto=$1 port=$2 src dst ip_var r

	for src in "${PODS[@]}"; do
		(
			for dst in "${PODS[@]}"; do
				[ "$src" = "$dst" ] && continue
				ip_var="CL_IP_$dst"
				r=$(cl_probe "$src" "$proto" "${!ip_var}" "$port" 500)
				case "$r" in
				ok) echo "$src $dst ok" ;;
				denied | timeout) echo "$src $dst deny" ;;
				*) echo "$src $dst $r" ;;
				esac
			done
		) &
	done
	wait
}

# check CASE PROTO PORT EXPECT: EXPECT SRC DST succeeds when the cell must be denied
check() {
	local name=$1 proto=$2 port=$3 want=$4 src dst got exp wrong=()

	while read -r src dst got; do
		exp=ok
		"$want" "$src" "$dst" && exp=deny
		[ "$got" = "$exp" ] || wrong+=("$src->$dst: want $exp, got $got")
	done < <(matrix "$proto" "$port")
	if [ ${#wrong[@]} = 0 ]; then
		ok "$name ($proto/$port): 72 cells as upstream says"
	else
		bad "$name ($proto/$port): ${#wrong[@]} cells differ: ${wrong[*]:0:6}"
	fi
}

# case NAME PROTO PORT EXPECT-FUNCTION: apply through one node, probe, delete through another
n=0
run_case() {
	local name=$1 proto=$2 port=$3 want=$4 on=$((n % 3 + 1)) off=$(((n + 1) % 3 + 1))

	n=$((n + 1))
	if ! out=$(pwn "$on" apply -f "$M/$name.yaml" 2>&1); then
		bad "$name: apply through n$on failed: $out"
		return
	fi
	check "$name via n$on" "$proto" "$port" "$want"
	out=$(pwn "$off" delete -f "$M/$name.yaml" 2>&1) || bad "$name: delete through n$off: $out"
}

np() { # NAME BODY: a NetworkPolicy in x
	printf 'apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: %s, namespace: x}\nspec:\n%s\n' \
		"$(tr 'A-Z' 'a-z' <<<"$1")" "$2" >"$M/$1.yaml"
}
np T01 '  podSelector: {}
  policyTypes: [Ingress]'
np T02 '  podSelector: {}
  policyTypes: [Ingress, Egress]'
np T03 '  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]'
np T06 '  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}}]}]'
np T10 '  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [x]}]}
      podSelector: {matchLabels: {pod: b}}'
np T13 '  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}
      podSelector: {matchLabels: {pod: a}}'
np T14 '  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}}]
    ports: [{port: 81, protocol: TCP}]'
np T17 '  podSelector: {}
  ingress: [{ports: [{port: serve-81-tcp}]}]'
np T25 '  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]'
np T29 '  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}
      podSelector: {matchLabels: {pod: a}}'
np T34 "  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: $CL_IP_yb/32}}]}]"
np T35 "  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{to: [{ipBlock: {cidr: 192.0.0.0/4, except: [$CL_IP_xb/32]}}]}]"
np T42 '  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{to: [{namespaceSelector: {matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [y]}]}}]}]'
cp "$M/T01.yaml" "$M/U1.yaml"
cp "$M/T14.yaml" "$M/U2.yaml"
sed -i 's/protocol: TCP/protocol: UDP/' "$M/U2.yaml"

# the DENY column of each case: SRC DST -> 0 when denied
e_T01() { [ "${2:0:1}" = x ]; }
e_T02() { [ "${2:0:1}" = x ] || [ "${1:0:1}" = x ]; }
e_T03() { [ "$2" = xa ] && [ "$1" != xb ]; }
e_T06() { [ "$2" = xa ] && [ "${1:0:1}" != y ]; }
e_T10() { [ "$2" = xa ] && ! { [ "${1:0:1}" != x ] && [ "${1:1:1}" = b ]; }; }
e_T13() { [ "$2" = xa ] && [ "$1" != ya ]; }
e_T14() { [ "$2" = xa ] && [ "${1:0:1}" != y ]; }
e_all_x() { [ "${2:0:1}" = x ]; } # T14 on port 80, T17 on port 80
e_none() { false; }
e_T25() { [ "$1" = xa ]; }
e_T29() { [ "$1" = xa ] && [ "$2" != ya ]; }
e_T34() { [ "$1" = xa ] && [ "$2" != yb ]; }
e_T35() { [ "$1" = xa ] && [ "$2" = xb ]; }
e_T42() { [ "$1" = xa ] && [ "${2:0:1}" = y ]; }

check "no policy" tcp 80 e_none
run_case T01 tcp 80 e_T01
run_case T02 tcp 80 e_T02
run_case T03 tcp 80 e_T03
run_case T06 tcp 80 e_T06
run_case T10 tcp 80 e_T10
run_case T13 tcp 80 e_T13
run_case T14 tcp 81 e_T14
run_case T17 tcp 80 e_all_x
run_case T25 tcp 80 e_T25
run_case T29 tcp 80 e_T29
run_case T34 tcp 80 e_T34
run_case T35 tcp 80 e_T35
run_case T42 tcp 80 e_T42
run_case U1 udp 80 e_T01
run_case U2 udp 81 e_T14
check "after every delete" tcp 80 e_none
