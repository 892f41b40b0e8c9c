# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# Pods made through CNI on a simulated node (e2e/topology.sh), as a container runtime makes
# them: a pod netns, the pod cgroup (created before ADD, as runtimes do) with the container's
# child cgroup, then the conflist bridge + host-local (Debian's containernetworking-plugins,
# /usr/lib/cni) with podwall-cni chained, run by pwcnirun through the CNI protocol.
# Sourced by test_cni.sh, scripts/demo.sh and bench/cni. Everything lives under the run's
# names: the bridge pwcbr<pid>, host-local's dataDir and the result cache in $TOPO_WORK.
#
# Needs: topology.sh sourced and topo_init done, PW_CNI (podwall-cni), PW_CNIRUN (pwcnirun).

# the pods' networks (a caller may set others before cni_init)
CNI_NET4=${CNI_NET4:-198.18.64.0/20}
CNI_NET6=${CNI_NET6:-fd00:64::/64}
CNI_PLUGINS=/usr/lib/cni

# cni_init: the node's cgroup root becomes a systemd-style slice (so both cgroupPath notations
# can be exercised below it) and the conflist is written; call before topo_daemon_start.
cni_init() {
	local dir="$TOPO_WORK/cni"

	if [ ! -x "$CNI_PLUGINS/bridge" ] || [ ! -x "$CNI_PLUGINS/host-local" ]; then
		topo_log "no reference CNI plugins in $CNI_PLUGINS (apt-get install containernetworking-plugins)"
		return 1
	fi
	rmdir "$TOPO_CGROOT" 2>/dev/null
	CNI_SLICE="pwcni$TOPO_RUN"
	TOPO_CGROOT="$TOPO_CG2/$CNI_SLICE.slice"
	mkdir "$TOPO_CGROOT" || return 1
	mkdir -p "$dir/bin" "$dir/ipam" "$dir/cache" || return 1
	ln -sf "$PW_CNI" "$dir/bin/podwall-cni"
	CNI_PATH_DIRS="$CNI_PLUGINS:$dir/bin"
	CNI_CONF="$dir/podwall-net.conflist"
	CNI_BRIDGE="pwcbr$TOPO_RUN"
	cat >"$CNI_CONF" <<EOC
{
  "cniVersion": "1.0.0",
  "name": "podwall-net-$TOPO_RUN",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$CNI_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "capabilities": {"ips": true},
      "ipam": {
        "type": "host-local",
        "dataDir": "$dir/ipam",
        "ranges": [[{"subnet": "$CNI_NET4"}], [{"subnet": "$CNI_NET6"}]],
        "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]
      }
    },
    {
      "type": "podwall-cni",
      "socket": "$TOPO_SOCK",
      "capabilities": {"cgroupPath": true}
    }
  ]
}
EOC
}

# cni_run CMD KEY [pwcnirun options...]: run the conflist for pod KEY in the node netns
cni_run() {
	local cmd=$1 key=$2 cid_var="CNI_CID_$2" ns_var="TOPO_NS_$2"

	shift 2
	nsenter --net="/run/netns/$TOPO_NODE" "$PW_CNIRUN" "$cmd" "$CNI_CONF" "${!cid_var}" \
		"/run/netns/${!ns_var}" eth0 --cni-path "$CNI_PATH_DIRS" \
		--cache "$TOPO_WORK/cni/cache" "$@"
}

# cni_pod KEY NAMESPACE NAME NOTATION [CID]: a pod through CNI ADD (CNI_IPS=A,B: the addresses
# host-local must hand out, through runtimeConfig.ips). NOTATION: slice (systemd,
# runc's slice:prefix:name), cgroupfs (/path), uid (no cgroupPath: found from K8S_POD_UID).
# Sets TOPO_NS_KEY, TOPO_CG_KEY (the container's cgroup), CNI_CID_KEY, CNI_IP4_KEY,
# CNI_IP6_KEY; the ADD result (or error) is in $CNI_OUT. Returns pwcnirun's status.
cni_pod() {
	local key=$1 ns=$2 name=$3 how=$4 cid=${5:-$1-$TOPO_RUN-$RANDOM}
	local netns="$TOPO_PREFIX-$key" uid podcg cgpath rc
	local args

	uid=$(printf '%08x-0000-4000-8000-%012x' "$TOPO_RUN" "$RANDOM$RANDOM")
	case $how in
	slice)
		podcg="$CNI_SLICE-pod${uid//-/_}.slice"
		cgpath="$podcg:cri-containerd:$cid"
		;;
	cgroupfs)
		podcg="pod$uid"
		cgpath="/$CNI_SLICE.slice/$podcg"
		;;
	uid)
		podcg="pod$uid"
		cgpath=
		;;
	*)
		topo_log "cni_pod: unknown notation $how"
		return 2
		;;
	esac
	if ! ip netns list | grep -qx "$netns\( .*\)\?"; then
		ip netns add "$netns" || return 1
		TOPO_NETNS+=("$netns")
	fi
	nsenter --net="/run/netns/$netns" sysctl -qw net.ipv6.conf.default.accept_dad=0 \
		net.ipv6.conf.all.accept_dad=0 || return 1
	mkdir -p "$TOPO_CGROOT/$podcg/cri-containerd-$cid.scope" || return 1
	printf -v "TOPO_NS_$key" '%s' "$netns"
	printf -v "TOPO_CG_$key" '%s' "$podcg/cri-containerd-$cid.scope"
	printf -v "CNI_PODCG_$key" '%s' "$podcg"
	printf -v "CNI_CID_$key" '%s' "$cid"
	args="IgnoreUnknown=1;K8S_POD_NAMESPACE=$ns;K8S_POD_NAME=$name;K8S_POD_INFRA_CONTAINER_ID=$cid;K8S_POD_UID=$uid"
	CNI_OUT=$(cni_run ADD "$key" --args "$args" ${cgpath:+--cgroup "$cgpath"} ${CNI_IPS:+--ips "$CNI_IPS"} ${CNI_TIMING:+--timing})
	rc=$?
	printf -v "CNI_IP4_$key" '%s' "$(jq -r '[.ips[]?.address | select(contains(":") | not)][0] // empty | split("/")[0]' <<<"$CNI_OUT" 2>/dev/null)"
	printf -v "CNI_IP6_$key" '%s' "$(jq -r '[.ips[]?.address | select(contains(":"))][0] // empty | split("/")[0]' <<<"$CNI_OUT" 2>/dev/null)"
	return $rc
}

# cni_del KEY: CNI DEL (with the cached result, as runtimes do), then the netns and cgroups
cni_del() {
	local key=$1 ns_var="TOPO_NS_$1" cg_var="CNI_PODCG_$1" rc

	CNI_OUT=$(cni_run DEL "$key")
	rc=$?
	ip netns del "${!ns_var}" 2>/dev/null
	find "$TOPO_CGROOT/${!cg_var}" -depth -type d -exec rmdir {} + 2>/dev/null
	return $rc
}
