#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# podwall-cni through the CNI protocol, with Debian's reference plugins (bridge + host-local)
# run by pwcnirun exactly as a runtime runs a conflist, on a simulated node:
#   - pods bound by CNI need no podwall.io annotations and no status.podIPs; policies apply
#     to them over IPv4 and IPv6; the three cgroupPath forms (systemd slice as runc passes it,
#     cgroupfs path, none: found from K8S_POD_UID); processes run in a child cgroup
#   - ADD before the Pod object: fail-closed both ways, shown in `podwall get pods`; ADD after
#   - bindings survive a daemon restart (fail-closed ones too); CHECK; DEL idempotent, also
#     with the netns gone and with no prevResult
#   - bad input: a clear CNI error, nothing bound, nothing else changed
#   - 100 delete/re-create cycles leave no interface, map entry, conntrack entry, TC link or
#     IPAM lease behind
#
# usage: test_cni.sh PODWALLD PODWALL PWPROBE PODWALL-CNI PWCNIRUN [CYCLES]
set -u

PW_CNI=$(realpath "$4")
PW_CNIRUN=$(realpath "$5")
CYCLES=${6:-100}
here=$(cd "$(dirname "$0")" && pwd)
# the programs, the simulated node, counting, cleanup on every path, the root check
# shellcheck source=../../e2e/testlib.sh
. "$here/../../e2e/testlib.sh" "$@"
# shellcheck source=cni_lib.sh
. "$here/cni_lib.sh"

check() { # DESCRIPTION EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: expected '$2', got '$3'"; fi
}
probe() { # KEY tcp|udp ADDR PORT [TIMEOUT_MS] -> ok|denied|timeout|...
	topo_probe "$1" "$2" "$3" "$4" "${5:-400}"
}
pod_field() { # NS NAME FIELD
	pw get pods -n "$1" -o json | jq -r --arg n "$2" --arg f "$3" \
		'[.items[] | select(.name == $n)][0][$f] // "none"'
}
map_pin() { # NAME: the pinned map of that name, whatever its layout version (pw_ep_if_v2...)
	find "$TOPO_BPFFS/maps" -maxdepth 1 -name "${1}_v*" | sort -V | tail -n 1
}
map_count() { # NAME: entries of a pinned map
	bpftool map dump pinned "$(map_pin "$1")" -j 2>/dev/null | jq length
}
snapshot() { # everything bad input must leave as it was
	{
		pw get pods -A -o json | jq -S '.items | map(del(.ifindex))'
		map_count pw_ep_if
		map_count pw_ep_cg
		map_count pw_ipcache
		cat "$TOPO_WORK/state/cni-bindings.json" 2>/dev/null
	} | md5sum
}
ct_of() { # EP_ID: conntrack entries of an endpoint
	bpftool map dump pinned "$(map_pin pw_ct)" -j |
		jq --argjson e "$1" '[.[] | select(.formatted.key.ep_id == $e)] | length'
}
manifest() { # FILE: apply it
	pw apply -f "$1" >/dev/null
}

topo_init cni || exit 1
cni_init || exit 1
topo_daemon_start || exit 1

cat >"$TOPO_WORK/policy.yaml" <<'EOF2'
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: server-ingress, namespace: shop}
spec:
  podSelector: {matchLabels: {app: server}}
  policyTypes: [Ingress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: 8080}]
EOF2
podyaml() { # NAME APP: a Pod object with labels only: no annotations, no status
	printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: shop, labels: {app: %s}}\nspec: {containers: [{name: c, image: x}]}\n' "$1" "$2" >"$TOPO_WORK/pod-$1.yaml"
	echo "$TOPO_WORK/pod-$1.yaml"
}
manifest "$TOPO_WORK/policy.yaml" && ok "policy applied" || bad "policy apply"
manifest "$(podyaml client client)" || bad "client Pod object"

# --- ADD before the Pod object: fail-closed -----------------------------------------------
if cni_pod server shop server slice; then ok "ADD server (systemd slice cgroupPath)"; else bad "ADD server: $CNI_OUT"; fi
check "ADD returns prevResult with the pod's addresses" "yes" \
	"$([ -n "$CNI_IP4_server" ] && [ -n "$CNI_IP6_server" ] && echo yes)"
check "get pods: server fail-closed before its Pod object" "fail-closed" "$(pod_field shop server state)"
topo_serve server 8080 8081 || bad "server echo"
if cni_pod client shop client cgroupfs; then ok "ADD client after its Pod object (cgroupfs cgroupPath)"; else bad "ADD client: $CNI_OUT"; fi
check "get pods: client enforced" "enforced" "$(pod_field shop client state)"
check "client has the interface from prevResult" "$(jq -r '[.interfaces[] | select(.sandbox == null and (.name | startswith("veth")))][0].name' <<<"$CNI_OUT")" \
	"$(pod_field shop client interface)"
topo_serve client 8080 || bad "client echo"
check "fail-closed ingress: client -> server:8080 dropped" "timeout" "$(probe client tcp "$CNI_IP4_server" 8080)"
check "fail-closed egress: server -> client:8080 refused at the socket" "denied" "$(probe server tcp "$CNI_IP4_client" 8080)"
check "fail-closed egress, UDP v6" "denied" "$(probe server udp "$CNI_IP6_client" 8080)"

# --- the Pod object arrives: its policies apply ---------------------------------------------
manifest "$(podyaml server server)" || bad "server Pod object"
check "get pods: server enforced once its Pod object arrived" "enforced" "$(pod_field shop server state)"
check "server keeps the CNI addresses (no status.podIPs)" "$CNI_IP4_server" \
	"$(pw get pods -n shop -o json | jq -r '.items[] | select(.name=="server") | .ips[0]')"
check "client -> server:8080 v4 allowed" "ok" "$(probe client tcp "$CNI_IP4_server" 8080)"
check "client -> server:8080 v6 allowed" "ok" "$(probe client tcp "$CNI_IP6_server" 8080)"
check "client -> server:8081 denied by the policy" "timeout" "$(probe client tcp "$CNI_IP4_server" 8081)"
check "server -> client allowed (server not isolated for egress)" "ok" "$(probe server tcp "$CNI_IP4_client" 8080)"
manifest "$(podyaml other other)" || bad "other Pod object"
if cni_pod other shop other uid; then ok "ADD other, no cgroupPath (cgroup found from K8S_POD_UID)"; else bad "ADD other: $CNI_OUT"; fi
check "other -> server:8080 v4 denied (not a client)" "timeout" "$(probe other tcp "$CNI_IP4_server" 8080)"
check "other -> server:8080 v6 denied" "timeout" "$(probe other tcp "$CNI_IP6_server" 8080)"
check "other's processes (child cgroup) are judged at the socket: allowed egress" "ok" \
	"$(probe other tcp "$CNI_IP4_client" 8080)"
# relabel: the CNI-bound pod follows its Pod object
manifest "$(podyaml other client)" || bad "relabel other"
check "relabelled other -> server:8080 allowed" "ok" "$(probe other tcp "$CNI_IP4_server" 8080)"
manifest "$(podyaml other other)" || bad "relabel other back"

# --- CHECK ----------------------------------------------------------------------------------
if cni_run CHECK server >/dev/null; then ok "CHECK server"; else bad "CHECK server"; fi
out=$(CNI_COMMAND=CHECK CNI_CONTAINERID=nosuch CNI_NETNS=/run/netns/x CNI_IFNAME=eth0 \
	nsenter --net="/run/netns/$TOPO_NODE" "$PW_CNI" <<<"$(jq -c --arg s "$TOPO_SOCK" \
	'{cniVersion:"1.0.0",name:"n",type:"podwall-cni",socket:$s,prevResult:.}' \
	"$TOPO_WORK/cni/cache/podwall-net-$TOPO_RUN-$CNI_CID_server.result")")
check "CHECK of an unbound container fails with a CNI error" "7" "$(jq -r .code <<<"$out")"

# --- restart: bindings survive (fail-closed too) --------------------------------------------
if cni_pod late shop late cgroupfs; then ok "ADD late (no Pod object)"; else bad "ADD late: $CNI_OUT"; fi
topo_daemon_stop || bad "daemon stop"
topo_daemon_start || exit 1
check "after restart: server still bound and enforced" "enforced" "$(pod_field shop server state)"
check "after restart: late still fail-closed" "fail-closed" "$(pod_field shop late state)"
check "after restart: client -> server:8080 allowed" "ok" "$(probe client tcp "$CNI_IP4_server" 8080)"
check "after restart: other -> server:8080 denied" "timeout" "$(probe other tcp "$CNI_IP4_server" 8080)"
check "after restart: late egress refused" "denied" "$(probe late tcp "$CNI_IP4_client" 8080)"

# a Pod object deleted while its sandbox is bound: the pod is fail-closed again
pw delete -f "$TOPO_WORK/pod-other.yaml" >/dev/null || bad "delete other's Pod object"
check "Pod object deleted: other fail-closed" "fail-closed" "$(pod_field shop other state)"
check "  ... its egress refused" "denied" "$(probe other tcp "$CNI_IP4_client" 8080)"
manifest "$TOPO_WORK/pod-other.yaml" || bad "other Pod object again"
check "Pod object back: other enforced" "enforced" "$(pod_field shop other state)"
check "  ... its egress allowed again" "ok" "$(probe other tcp "$CNI_IP4_client" 8080)"

# --- bad input: a CNI error, nothing bound, nothing changed ---------------------------------
before=$(snapshot)
cni_plugin() { # CMD STDIN [ENV...]: podwall-cni exec'ed directly with these env vars
	local cmd=$1 in=$2

	shift 2
	env -i CNI_COMMAND="$cmd" CNI_CONTAINERID=bad-$$ CNI_NETNS=/run/netns/none CNI_IFNAME=eth0 \
		CNI_PATH=/usr/lib/cni "$@" nsenter --net="/run/netns/$TOPO_NODE" "$PW_CNI" <<<"$in"
}
out=$(cni_plugin ADD '{"cniVersion": "1.0.0", "name": ' CNI_ARGS="K8S_POD_NAMESPACE=shop;K8S_POD_NAME=x")
check "malformed config: CNI error 6 (decoding)" "6" "$(jq -r .code <<<"$out")"
prev=$(cat "$TOPO_WORK/cni/cache/podwall-net-$TOPO_RUN-$CNI_CID_server.result")
out=$(cni_plugin ADD "$(jq -c --arg s "$TOPO_SOCK" '{cniVersion:"1.0.0",name:"n",type:"podwall-cni",socket:$s,prevResult:.}' <<<"$prev")")
check "missing CNI_ARGS: CNI error 4 (environment)" "4" "$(jq -r .code <<<"$out")"
grep -q K8S_POD_NAMESPACE <<<"$out" && ok "  ... naming K8S_POD_NAMESPACE" || bad "  ... message: $out"
out=$(cni_plugin ADD "$(jq -c --arg s "$TOPO_SOCK" '{cniVersion:"1.0.0",name:"n",type:"podwall-cni",socket:$s,prevResult:(.interfaces |= map(select(.sandbox != null)))}' <<<"$prev")" \
	CNI_ARGS="K8S_POD_NAMESPACE=shop;K8S_POD_NAME=x")
check "prevResult without a host-side interface: CNI error 7" "7" "$(jq -r .code <<<"$out")"
grep -q "host-side interface" <<<"$out" && ok "  ... saying so" || bad "  ... message: $out"
out=$(cni_plugin ADD "$(jq -c --arg s "$TOPO_SOCK" '{cniVersion:"1.0.0",name:"n",type:"podwall-cni",socket:$s}' <<<"$prev")" \
	CNI_ARGS="K8S_POD_NAMESPACE=shop;K8S_POD_NAME=x")
check "no prevResult (not chained): CNI error 7" "7" "$(jq -r .code <<<"$out")"
out=$(cni_plugin ADD "$(jq -c --arg s "$TOPO_SOCK" '{cniVersion:"0.1.0",name:"n",type:"podwall-cni",socket:$s,prevResult:.}' <<<"$prev")" \
	CNI_ARGS="K8S_POD_NAMESPACE=shop;K8S_POD_NAME=x")
check "unsupported cniVersion: CNI error 1" "1" "$(jq -r .code <<<"$out")"
check "refused plugin input changed nothing" "$before" "$(snapshot)"
# the whole chain, as a runtime runs it: bridge succeeds, podwall-cni refuses, the runtime
# then DELs; the pod's netns and cgroup exist (the runtime made them), the cgroupPath not
if cni_pod badcg shop badcg cgroupfs >/dev/null; then ok "ADD badcg"; else bad "ADD badcg: $CNI_OUT"; fi
cni_run DEL badcg >/dev/null || bad "DEL badcg"
before=$(snapshot)
bad_add() { # DESCRIPTION EXPECTED-CODE PATTERN PWCNIRUN-ARGS...
	local what=$1 code=$2 pat=$3 out

	shift 3
	out=$(cni_run ADD badcg "$@")
	if [ "$(jq -r .code <<<"$out" 2>/dev/null)" = "$code" ] && grep -q -- "$pat" <<<"$out"; then
		ok "$what: CNI error $code naming $pat"
	else
		bad "$what: $out"
	fi
	cni_run DEL badcg >/dev/null || bad "$what: the runtime's DEL after it failed"
}
a="IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=badcg"
bad_add "unknown cgroup path" 7 "no-such-pod" --args "$a" --cgroup "/$CNI_SLICE.slice/no-such-pod"
bad_add "cgroup outside --cgroup-root" 7 "not below" --args "$a" --cgroup "/"
bad_add "malformed slice name" 7 "kube--bad.slice" --args "$a" --cgroup "kube--bad.slice"
bad_add "CNI_ARGS without K8S_POD_NAME" 4 "K8S_POD_NAME" --args "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop" \
	--cgroup "/$CNI_SLICE.slice/$CNI_PODCG_badcg"
bad_add "invalid namespace name" 7 "K8S_POD_NAMESPACE" \
	--args "IgnoreUnknown=1;K8S_POD_NAMESPACE=Not_A_Namespace;K8S_POD_NAME=x" \
	--cgroup "/$CNI_SLICE.slice/$CNI_PODCG_badcg"
ip netns del "$TOPO_NS_badcg"
check "bad input changed nothing (pods, endpoint maps, ipcache, bindings)" "$before" "$(snapshot)"

# --- daemon down: ADD fails (code 11), DEL succeeds -----------------------------------------
if cni_pod gone shop gone cgroupfs >/dev/null; then ok "ADD gone"; else bad "ADD gone: $CNI_OUT"; fi
topo_daemon_stop || bad "daemon stop"
if cni_pod down shop down cgroupfs >/dev/null; then bad "ADD with the daemon down succeeded"; fi
check "ADD with podwalld down: CNI error 11 (try again later)" "11" "$(jq -r .code <<<"$CNI_OUT" 2>/dev/null)"
if cni_del down; then ok "DEL with podwalld down succeeds"; else bad "DEL with the daemon down: $CNI_OUT"; fi
out=$(cni_plugin STATUS "$(jq -nc --arg s "$TOPO_SOCK" '{cniVersion:"1.1.0",name:"n",type:"podwall-cni",socket:$s}')")
check "STATUS with podwalld down: CNI error 50 (not available)" "50" "$(jq -r .code <<<"$out")"
check "daemon down: enforcement stays (other -> server denied)" "timeout" "$(probe other tcp "$CNI_IP4_server" 8080)"
if cni_del gone; then ok "DEL gone with podwalld down"; else bad "DEL gone: $CNI_OUT"; fi
topo_daemon_start || exit 1
check "restart: the binding whose sandbox went while podwalld was down is dropped" "none" \
	"$(pod_field shop gone state)"
grep -q "container .* (pod shop/gone) is gone" "$TOPO_DLOG" && ok "  ... and logged" || bad "  ... not logged"

# --- DEL -------------------------------------------------------------------------------------
eps_before=$(map_count pw_ep_if)
if cni_del late; then ok "DEL late (fail-closed)"; else bad "DEL late: $CNI_OUT"; fi
check "late gone from get pods" "none" "$(pod_field shop late state)"
check "DEL removed one endpoint" "$((eps_before - 1))" "$(map_count pw_ep_if)"
if cni_run DEL late >/dev/null; then ok "second DEL succeeds (netns gone, nothing cached)"; else bad "second DEL"; fi
CNI_CID_ghost=never-added-$$ TOPO_NS_ghost=none
if cni_run DEL ghost >/dev/null; then ok "DEL of an unknown container, no prevResult, no netns"; else bad "DEL unknown"; fi
ip netns del "$TOPO_NS_other"
if cni_run DEL other >/dev/null; then ok "DEL other after its netns is gone"; else bad "DEL other with netns gone"; fi
check "other: the Pod object stays as a policy peer, unbound" "remote" "$(pod_field shop other state)"

# --- CNI 1.1: STATUS and GC -------------------------------------------------------------------
conf=$(jq -c --arg s "$TOPO_SOCK" '{cniVersion:"1.1.0",name:"n",type:"podwall-cni",socket:$s}' <<<'{}')
out=$(cni_plugin STATUS "$conf"); rc=$?
check "STATUS with podwalld up: success, no output" "0:" "$rc:$out"
check "VERSION lists 1.1.0" "yes" "$(cni_plugin VERSION '' | jq -r 'if (.supportedVersions | index("1.1.0")) then "yes" else "no" end')"
if cni_pod stale shop stale cgroupfs >/dev/null; then ok "ADD stale"; else bad "ADD stale: $CNI_OUT"; fi
valid=$(jq -nc --arg a "$CNI_CID_server" --arg b "$CNI_CID_client" \
	'[{containerID:$a, ifname:"eth0"}, {containerID:$b, ifname:"eth0"}]')
out=$(cni_plugin GC "$(jq -c --argjson v "$valid" '. + {"cni.dev/valid-attachments": $v}' <<<"$conf")"); rc=$?
check "GC with server and client valid: success" "0:" "$rc:$out"
check "GC unbound the stale container" "none" "$(pod_field shop stale state)"
check "GC kept the valid ones" "enforced enforced" "$(pod_field shop server state) $(pod_field shop client state)"
cni_del stale || bad "DEL stale after GC"

# --- 100 delete/re-create cycles -----------------------------------------------------------
manifest "$(podyaml cyc client)" || bad "cyc Pod object"
veths0=$(ip -n "$TOPO_NODE" -o link show type veth | wc -l)
eps0=$(map_count pw_ep_if)
cgs0=$(map_count pw_ep_cg)
ipc0=$(map_count pw_ipcache)
links0=$(find "$TOPO_BPFFS/links" -name 'tc_*' | wc -l)
leases0=$(find "$TOPO_WORK/cni/ipam" -type f | wc -l)
okc=0
for i in $(seq "$CYCLES"); do
	if ! cni_pod cyc shop cyc cgroupfs "cyc-$i-$$" >/dev/null; then
		bad "cycle $i: ADD: $CNI_OUT"
		break
	fi
	# an allowed probe returns at once; the long timeout only absorbs a loaded machine
	r=$(probe cyc tcp "$CNI_IP4_server" 8080 2000)
	if [ "$r" = ok ]; then okc=$((okc + 1)); else echo "cycle $i: cyc ($CNI_IP4_cyc) -> server: $r"; fi
	if [ "$i" = "$CYCLES" ]; then
		# the last pod's own flows are in conntrack now, so the check below can fail
		ep=$(pod_field shop cyc endpoint)
		last_ct=$(ct_of "$ep")
	fi
	if ! cni_del cyc; then
		bad "cycle $i: DEL: $CNI_OUT"
		break
	fi
done
check "$CYCLES cycles: the re-created pod reached the server every time" "$CYCLES" "$okc"
check "cycles: no veth left" "$veths0" "$(ip -n "$TOPO_NODE" -o link show type veth | wc -l)"
check "cycles: no endpoint (ifindex) entry left" "$eps0" "$(map_count pw_ep_if)"
check "cycles: no endpoint (cgroup) entry left" "$cgs0" "$(map_count pw_ep_cg)"
check "cycles: no ipcache entry left" "$ipc0" "$(map_count pw_ipcache)"
check "cycles: no TC link left" "$links0" "$(find "$TOPO_BPFFS/links" -name 'tc_*' | wc -l)"
check "cycles: no IPAM lease left" "$leases0" "$(find "$TOPO_WORK/cni/ipam" -type f | wc -l)"
live=$(bpftool map dump pinned "$(map_pin pw_ep_if)" -j | jq '[.[].formatted.value.ep_id]')
stale=$(bpftool map dump pinned "$(map_pin pw_ct)" -j |
	jq --argjson live "$live" '[.[].formatted.key.ep_id | select(. as $e | $live | index($e) | not)] | length')
check "cycles: the last pod had conntrack entries before its DEL" "yes" \
	"$([ "${last_ct:-0}" -gt 0 ] && echo yes)"
check "cycles: its entries went with the DEL" "0" "$(ct_of "$ep")"
check "cycles: no conntrack entry of a deleted pod left" "0" "$stale"
check "cycles: bindings file holds only live containers" "2" \
	"$(jq '.bindings | length' "$TOPO_WORK/state/cni-bindings.json")"
