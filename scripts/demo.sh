#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The podwall demo, on a simulated node made of network namespaces (run as root):
#   - builds podwall if needed,
#   - creates a node netns, starts podwalld inside it with a bpffs dir and cgroup root of its
#     own, and creates four pods (kube-system/coredns, shop/frontend, shop/backend,
#     payments/api) the way a container runtime does: a netns and a cgroup, then CNI ADD of a
#     conflist of the reference plugins (bridge + host-local, /usr/lib/cni) with podwall-cni
#     chained; plus a "partner API" host outside the cluster (198.18.100.1), a plain veth;
#     all named after this run's pid,
#   - applies examples/ with the CLI, then opens connections between the pods and shows
#     which are allowed and which are denied, and the flow records of those decisions,
#   - removes everything it made, on every path (Ctrl-C included).
#
# Nothing touches the root network namespace, eth0, lo, the machine's routes or sysctls, or
# the root cgroup. Addresses come from 198.18.0.0/15 and fd00::/8 only.
#
# Environment: PODWALL_BUILD_DIR (default ./build), DEMO_KEEP=1 keeps the work directory.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${PODWALL_BUILD_DIR:-$top/build}

if [ "$(id -u)" -ne 0 ]; then
	echo "demo.sh: needs root (network namespaces, cgroups, BPF)" >&2
	exit 1
fi

if [ -t 1 ]; then
	B=$'\e[1m' G=$'\e[32m' R=$'\e[31m' Y=$'\e[33m' D=$'\e[2m' N=$'\e[0m'
else
	B='' G='' R='' Y='' D='' N=''
fi
step() { printf '\n%s== %s%s\n' "$B" "$*" "$N"; }
show() { printf '%s$ %s%s\n' "$D" "$*" "$N"; }

step "building (cmake -B $build)"
if [ ! -x "$build/ctl/podwalld" ] || [ ! -x "$build/ctl/podwall" ] ||
	[ ! -x "$build/e2e/pwprobe" ] || [ ! -x "$build/ctl/podwall-cni" ] ||
	[ ! -x "$build/netns-tests/cni/pwcnirun" ] || [ ! -x /usr/lib/cni/bridge ]; then
	"$top/scripts/deps.sh" >/dev/null
	cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
buildlog=$(mktemp /tmp/podwall-demo-build.XXXXXX)
if ! cmake --build "$build" -j "$(nproc)" --target podwalld podwall pwprobe podwall-cni pwcnirun \
	>"$buildlog" 2>&1; then
	cat "$buildlog" >&2
	rm -f "$buildlog"
	echo "demo.sh: the build failed" >&2
	exit 1
fi
rm -f "$buildlog"
PW_DAEMON=$build/ctl/podwalld
PW_CLI=$build/ctl/podwall
PW_PROBE=$build/e2e/pwprobe
PW_CNI=$build/ctl/podwall-cni
PW_CNIRUN=$build/netns-tests/cni/pwcnirun
# shellcheck source=../e2e/topology.sh
. "$top/e2e/topology.sh"
# shellcheck source=../netns-tests/cni/cni_lib.sh
. "$top/netns-tests/cni/cni_lib.sh"

unexpected=0
cleanup() {
	local rc=$?

	set +eu
	# a closed terminal or pipe must not stop the cleanup halfway
	trap '' PIPE HUP INT TERM
	trap - EXIT
	step "cleaning up"
	[ -n "${DEMO_KEEP:-}" ] && TOPO_KEEP_WORK=1
	[ -n "${TOPO_TAG:-}" ] || exit "$rc"
	topo_cleanup
	if [ "$(topo_leftovers)" = 0 ]; then
		echo "removed every netns, cgroup and bpffs pin of this run"
	else
		echo "${R}some objects of this run are left: $(topo_leftovers)${N}"
	fi
	exit "$rc"
}
trap cleanup EXIT
# bash runs no EXIT trap when a signal kills it: turn each into an exit
trap 'exit 130' INT TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE

step "a simulated node: a node netns, podwalld, and a partner host outside the cluster"
topo_init demo
# the pods' bridge network holds the examples' addresses; the partner host stays outside it
CNI_NET4=198.18.0.0/24 CNI_NET6=fd00::/120 cni_init
topo_pod partner ext-partner - 198.18.100.1 fd00::100:1
show "nsenter --net=/run/netns/$TOPO_NODE podwalld --socket $TOPO_SOCK --bpffs $TOPO_BPFFS \\
	--cgroup-root $TOPO_CGROOT --state-dir $TOPO_WORK/state --flow-log $TOPO_FLOWS"
topo_daemon_start
echo "its log (stderr):"
sed 's/^/  /' "$TOPO_DLOG"

step "pods through CNI: bridge + host-local, podwall-cni chained"
show "cat $CNI_CONF"
sed 's/^/  /' "$CNI_CONF"
# pod KEY NS NAME IP4 IP6 NOTATION: netns + cgroup, then CNI ADD as a runtime runs it
pod() {
	show "CNI_COMMAND=ADD CNI_ARGS='K8S_POD_NAMESPACE=$2;K8S_POD_NAME=$3;...' (bridge -> podwall-cni)"
	if ! CNI_IPS="$4,$5" cni_pod "$1" "$2" "$3" "$6"; then
		echo "${R}CNI ADD of $2/$3 failed:${N} $CNI_OUT"
		exit 1
	fi
	echo "  $2/$3: $(jq -r '[.ips[].address] | join(", ")' <<<"$CNI_OUT") on $(jq -r \
		'[.interfaces[] | select(.sandbox == null and (.name | startswith("veth")))][0].name' \
		<<<"$CNI_OUT"), cgroup $(pw get pods -n "$2" -o json | jq -r --arg n "$3" \
		'.items[] | select(.name == $n) | .cgroup')"
}
pod coredns kube-system coredns 198.18.0.10 fd00::10 slice
step "a pod whose Pod object podwalld has not seen yet is enforced fail-closed"
show "podwall get pods -A"
pw get pods -A
show "podwall apply -f examples/00-namespaces.yaml; podwall apply -f examples/10-pods.yaml"
pw apply -f "$top/examples/00-namespaces.yaml"
pw apply -f "$top/examples/10-pods.yaml"
pod frontend shop frontend 198.18.0.11 fd00::11 cgroupfs
pod backend shop backend 198.18.0.12 fd00::12 uid
pod payments payments api 198.18.0.20 fd00::20 slice
show "podwall get pods -A   (no podwall.io annotations, no status.podIPs: CNI told podwalld)"
pw get pods -A
for p in coredns frontend backend payments partner; do
	topo_serve "$p" 7000 7001 53
done
echo "pods are netns $TOPO_PREFIX-<pod> with cgroups under $TOPO_CGROOT"
echo "every pod serves TCP/UDP echo on 7000 and 7001 (coredns: also 53)"

# probe FROM PROTO ADDR PORT WANT WHY: one live connection attempt from a pod
declare -A NAMES=([198.18.0.10]=kube-system/coredns [198.18.0.11]=shop/frontend
	[198.18.0.12]=shop/backend [198.18.0.20]=payments/api [198.18.100.1]=partner-api
	[169.254.169.254]=cloud-metadata [fd00::12]=shop/backend@fd00::12 [fd00::11]=shop/frontend@fd00::11)
declare -A FROMS=([coredns]=kube-system/coredns [frontend]=shop/frontend
	[backend]=shop/backend [payments]=payments/api)
probe() {
	local from=$1 proto=$2 addr=$3 port=$4 want=$5 why=$6 got verdict color mark

	got=$(topo_probe "$from" "$proto" "$addr" "$port" 500) || true
	case $got in
	ok) verdict=allowed color=$G ;;
	denied) verdict="denied (EPERM at connect, nothing sent)" color=$R ;;
	timeout) verdict="denied (dropped on the wire)" color=$R ;;
	*) verdict=$got color=$Y ;;
	esac
	mark=
	if { [ "$want" = allow ] && [ "$got" != ok ]; } ||
		{ [ "$want" = deny ] && [ "$got" = ok ]; }; then
		mark=" ${Y}<- UNEXPECTED (wanted $want)${N}"
		unexpected=$((unexpected + 1))
	fi
	printf '  %-20s -> %-32s %s%-42s%s %s%s%s\n' "${FROMS[$from]}" \
		"${NAMES[$addr]:-$addr}:$port/$proto" "$color" "$verdict" "$N" "$D" "$why" "$N$mark"
}

step "before any policy: everything is open"
probe frontend tcp 198.18.0.20 7000 allow "no policy yet"
probe payments tcp 198.18.0.11 7000 allow "no policy yet"

step "applying examples/ (apply returns once the kernel enforces it)"
show "podwall apply -f examples/"
pw apply -f "$top/examples/"
show "podwall get pods -A"
pw get pods -A
show "podwall get networkpolicies -A"
pw get networkpolicies -A

step "shop: default deny for ingress, frontend -> backend on its named port http"
probe frontend tcp 198.18.0.12 7000 allow "allow-frontend-to-backend (port http = 7000)"
probe frontend tcp fd00::12 7000 allow "the same over IPv6"
probe frontend tcp 198.18.0.12 7001 deny "default-deny: 7001 is not allowed"
probe coredns tcp 198.18.0.12 7000 deny "default-deny: only app=frontend may connect"
probe frontend tcp 198.18.100.1 7000 allow "shop's egress is not isolated"

step "payments: ingress only from shop's backend (namespace AND pod labels)"
probe backend tcp 198.18.0.20 7000 allow "allow-from-shop-backend"
probe frontend tcp 198.18.0.20 7000 deny "frontend is not app=backend"
probe coredns tcp 198.18.0.20 7000 deny "kube-system is not team=storefront"

step "payments: egress lockdown (DNS, the partner CIDR, no cloud metadata)"
probe payments udp 198.18.0.10 53 allow "egress-lockdown: DNS over UDP to kube-dns"
probe payments tcp 198.18.0.10 53 allow "egress-lockdown: DNS over TCP to kube-dns"
probe payments tcp 198.18.0.10 7000 deny "kube-dns pods only on port 53"
probe payments tcp 198.18.100.1 7000 allow "ipBlock 198.18.100.0/24, TCP 7000"
probe payments tcp 198.18.100.1 7001 deny "the CIDR is allowed on 7000 only"
probe payments tcp 198.18.0.11 7000 deny "no rule allows shop/frontend"
probe payments tcp fd00::11 7000 deny "no rule allows shop/frontend (IPv6)"
probe payments tcp 169.254.169.254 80 deny "ipBlock 169.254.0.0/16 except 169.254.169.254/32"

step "why? podwall explain"
show "podwall explain --from payments/api --to 169.254.169.254 --port 80"
pw explain --from payments/api --to 169.254.169.254 --port 80 || true
show "podwall explain --from shop/backend --to payments/api --port 7000"
pw explain --from shop/backend --to payments/api --port 7000 || true

step "flow records of these decisions"
show "podwall flows --namespace payments --limit 20"
pw flows --namespace payments --limit 20
echo
echo "the same records as JSON lines in the --flow-log file ($(wc -l <"$TOPO_FLOWS") so far), e.g.:"
grep -m 2 '"DROPPED"' "$TOPO_FLOWS" || true

if [ "$unexpected" -ne 0 ]; then
	step "${Y}$unexpected connection(s) did not get the expected verdict${N}"
	exit 1
fi
step "done: every connection got the verdict its policy says"
