# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# Three simulated nodes and a real etcd, for the cluster-mode tests and benchmark.
#
#   underlay netns U: bridge br0 198.18.0.1/24 + fd00:ff::1/64; etcd listens there (and on
#                     U's loopback for etcdctl), on a port checked free in U
#   node netns N1..N3: ul0 198.18.0.1I/24 + fd00:ff::1I/64 on br0; routes to the other
#                     nodes' pod prefixes 198.19.J.0/24 via 198.18.0.1J
#   pods: netns + veth into their node; pod K of node I is 198.19.I.K
#
# Every name carries the run's pid; cl_cleanup removes netns, cgroups, bpffs pins, the
# etcd data dir and kills etcd and the daemons on every path. Nothing touches the root
# netns, its routes or sysctls, or the machine's root cgroup.
#
# Needs: PW_PROBE, PW_DAEMON, PW_CLI.

CL_GW4=198.19.255.254

cl_log() { printf '%s\n' "$*" >&2; }

cl_init() {
	CL_TAG=$1
	CL_RUN=$$
	CL_PREFIX="pw-$CL_TAG-$CL_RUN"
	CL_UL="$CL_PREFIX-ul"
	CL_NETNS=()
	CL_NODES=()
	CL_PIDS=()
	CL_ETCD_PID=
	declare -gA CL_DAEMON=()
	CL_CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	[ -n "$CL_CG2" ] || { cl_log "no cgroup2 mount"; return 1; }
	CL_CGROOT="$CL_CG2/podwall-$CL_TAG-$CL_RUN"
	CL_WORK=$(mktemp -d "/tmp/podwall-$CL_TAG-$CL_RUN.XXXXXX") || return 1
	CL_ETCD_DATA="$CL_WORK/etcd.data"
	CL_ETCD_PREFIX="/podwall-$CL_RUN"
	mkdir "$CL_CGROOT" || return 1
	ip netns add "$CL_UL" || return 1
	CL_NETNS+=("$CL_UL")
	ip -n "$CL_UL" link set lo up
	ip -n "$CL_UL" link add br0 type bridge || return 1
	ip -n "$CL_UL" addr add 198.18.0.1/24 dev br0
	nsenter --net="/run/netns/$CL_UL" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
		net.ipv6.conf.default.accept_dad=0
	ip -n "$CL_UL" addr add fd00:ff::1/64 dev br0 nodad
	ip -n "$CL_UL" link set br0 up
}

# cl_node I: node netns N_I on the underlay
cl_node() {
	local i=$1 ns="$CL_PREFIX-n$1" j

	ip netns add "$ns" || return 1
	CL_NETNS+=("$ns")
	CL_NODES+=("$i")
	ip -n "$ns" link set lo up
	nsenter --net="/run/netns/$ns" sysctl -qw net.ipv4.ip_forward=1 \
		net.ipv6.conf.all.forwarding=1 net.ipv6.conf.default.accept_dad=0 \
		net.ipv6.conf.all.accept_dad=0 || return 1
	ip -n "$CL_UL" link add "ul$i" type veth peer name ul0 netns "$ns" || return 1
	ip -n "$CL_UL" link set "ul$i" master br0 up
	ip -n "$ns" addr add "198.18.0.1$i/24" dev ul0
	ip -n "$ns" addr add "fd00:ff::1$i/64" dev ul0 nodad
	ip -n "$ns" link set ul0 up
	for j in 1 2 3; do
		[ "$j" = "$i" ] && continue
		ip -n "$ns" route add "198.19.$j.0/24" via "198.18.0.1$j" dev ul0 || return 1
	done
	mkdir -p "$CL_CGROOT/n$i" || return 1
}

# cl_pod KEY NODE K: pod KEY on node NODE with address 198.19.NODE.K
cl_pod() {
	local key=$1 i=$2 k=$3 ns="$CL_PREFIX-$1" node="$CL_PREFIX-n$2" ip4="198.19.$2.$3"

	ip netns add "$ns" || return 1
	CL_NETNS+=("$ns")
	ip -n "$node" link add "lxc-$key" type veth peer name eth0 netns "$ns" || return 1
	ip -n "$ns" link set lo up
	ip -n "$ns" addr add "$ip4/32" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add "$CL_GW4/32" dev eth0
	ip -n "$ns" route add default via "$CL_GW4" dev eth0
	ip -n "$node" addr add "$CL_GW4/32" dev "lxc-$key"
	ip -n "$node" link set "lxc-$key" up
	ip -n "$node" route add "$ip4/32" dev "lxc-$key" || return 1
	mkdir -p "$CL_CGROOT/n$i/$key" || return 1
	printf -v "CL_IP_$key" '%s' "$ip4"
	printf -v "CL_NODE_$key" '%s' "$i"
}

# cl_pod_yaml KEY NS LABEL: the Pod object, bound on its node by annotations
cl_pod_yaml() {
	local key=$1 ns=$2 label=$3 ip_var="CL_IP_$1" node_var="CL_NODE_$1"

	cat <<EOY
---
apiVersion: v1
kind: Pod
metadata:
  name: $key
  namespace: $ns
  labels: {app: $label}
  annotations:
    podwall.io/interface: lxc-$key
    podwall.io/cgroup: $key
spec:
  nodeName: n${!node_var}
  containers: [{name: c, image: none, ports: [{containerPort: 8080, name: web}]}]
status:
  podIPs: [{ip: ${!ip_var}}]
EOY
}

cl_in() {
	local key=$1 node_var="CL_NODE_$1"

	shift
	"$PW_PROBE" exec --cgroup "$CL_CGROOT/n${!node_var}/$key" --netns "$CL_PREFIX-$key" -- "$@"
}

# cl_serve KEY PORT...: echo servers in the pod; returns once they listen
cl_serve() {
	local key=$1 out="$CL_WORK/serve-$1.out" i

	shift
	cl_in "$key" "$PW_PROBE" serve "$@" >"$out" 2>&1 &
	CL_PIDS+=($!)
	for i in $(seq 200); do
		grep -q serving "$out" 2>/dev/null && return 0
		kill -0 "${CL_PIDS[-1]}" 2>/dev/null || break
		sleep 0.02
	done
	cl_log "echo server in $key did not start: $(cat "$out")"
	return 1
}

# cl_probe KEY tcp|udp ADDR PORT [TIMEOUT_MS]: ok|denied|timeout|refused|error
cl_probe() {
	local key=$1

	shift
	cl_in "$key" "$PW_PROBE" "$@" 2>/dev/null | head -n1
}

# a TCP port nobody listens on in netns $1
cl_free_port() {
	local p

	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 20000))
		if ! nsenter --net="/run/netns/$1" ss -Htln "sport = :$p" | grep -q .; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# cl_tls: a CA, a server certificate for etcd's addresses (clientAuth too: etcd's JSON gateway
# calls its own gRPC server with it when client certificates are required) and a client
# certificate, under
# $CL_WORK/tls (ca.crt, server.*, client.*); etcd then also serves TLS with client
# certificates on https://[fd00:ff::1]:$CL_ETCD_TLS_PORT
cl_tls() {
	local t=$CL_WORK/tls ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)

	mkdir -p "$t" || return 1
	openssl req -x509 "${ec[@]}" -keyout "$t/ca.key" -out "$t/ca.crt" -days 1 \
		-subj "/CN=podwall-test-ca-$CL_RUN" 2>/dev/null || return 1
	openssl req "${ec[@]}" -keyout "$t/server.key" -out "$t/server.csr" -subj /CN=etcd \
		2>/dev/null || return 1
	openssl x509 -req -in "$t/server.csr" -CA "$t/ca.crt" -CAkey "$t/ca.key" -CAcreateserial \
		-out "$t/server.crt" -days 1 -extfile <(printf '%s\n' \
		"subjectAltName=IP:fd00:ff::1,IP:198.18.0.1,IP:127.0.0.1" \
		"extendedKeyUsage=serverAuth,clientAuth") 2>/dev/null || return 1
	openssl req "${ec[@]}" -keyout "$t/client.key" -out "$t/client.csr" -subj /CN=podwalld \
		2>/dev/null || return 1
	openssl x509 -req -in "$t/client.csr" -CA "$t/ca.crt" -CAkey "$t/ca.key" -CAcreateserial \
		-out "$t/client.crt" -days 1 -extfile <(echo "extendedKeyUsage=clientAuth") \
		2>/dev/null || return 1
	CL_TLS=$t
}

# cl_etcd_start: etcd in the underlay netns (same data dir across restarts of one run)
cl_etcd_start() {
	local i tls_url="" tls=()

	if [ -z "${CL_ETCD_PORT:-}" ]; then
		CL_ETCD_PORT=$(cl_free_port "$CL_UL") || return 1
		CL_ETCD_PEER=$(cl_free_port "$CL_UL") || return 1
		CL_ETCD_TLS_PORT=$(cl_free_port "$CL_UL") || return 1
	fi
	if [ -n "${CL_TLS:-}" ]; then
		tls_url=",https://[fd00:ff::1]:$CL_ETCD_TLS_PORT"
		tls=(--cert-file "$CL_TLS/server.crt" --key-file "$CL_TLS/server.key"
			--trusted-ca-file "$CL_TLS/ca.crt" --client-cert-auth)
	fi
	nsenter --net="/run/netns/$CL_UL" etcd --name "pw-$CL_RUN" --data-dir "$CL_ETCD_DATA" \
		"${tls[@]}" \
		--listen-client-urls "http://198.18.0.1:$CL_ETCD_PORT,http://[fd00:ff::1]:$CL_ETCD_PORT,http://127.0.0.1:$CL_ETCD_PORT$tls_url" \
		--advertise-client-urls "http://198.18.0.1:$CL_ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$CL_ETCD_PEER" \
		--initial-advertise-peer-urls "http://127.0.0.1:$CL_ETCD_PEER" \
		--initial-cluster "pw-$CL_RUN=http://127.0.0.1:$CL_ETCD_PEER" \
		--log-level error >>"$CL_WORK/etcd.log" 2>&1 &
	CL_ETCD_PID=$!
	for i in $(seq 300); do
		cl_etcdctl endpoint health >/dev/null 2>&1 && return 0
		kill -0 "$CL_ETCD_PID" 2>/dev/null || break
		sleep 0.05
	done
	cl_log "etcd did not start: $(tail -n 20 "$CL_WORK/etcd.log")"
	return 1
}

cl_etcd_kill() {
	[ -n "$CL_ETCD_PID" ] || return 0
	kill -KILL "$CL_ETCD_PID" 2>/dev/null
	wait "$CL_ETCD_PID" 2>/dev/null
	CL_ETCD_PID=
}

cl_etcdctl() {
	ETCDCTL_API=3 nsenter --net="/run/netns/$CL_UL" etcdctl \
		--endpoints "http://127.0.0.1:$CL_ETCD_PORT" "$@"
}

# cl_connected I: node I's daemon answers and is connected to etcd (jq -e passes on no input)
cl_connected() {
	[ "$("$PW_CLI" --socket "$CL_WORK/n$1.sock" status -o json 2>/dev/null |
		jq -r .cluster.connected 2>/dev/null)" = true ]
}

# cl_daemon_start I ETCD-URLS [ARGS...]: podwalld of node I; returns once it is synced
cl_daemon_start() {
	local i=$1 urls=$2 n

	shift 2
	nsenter --net="/run/netns/$CL_PREFIX-n$i" "$PW_DAEMON" --socket "$CL_WORK/n$i.sock" \
		--bpffs "/sys/fs/bpf/podwall-$CL_TAG-$CL_RUN-n$i" --cgroup-root "$CL_CGROOT/n$i" \
		--state-dir "$CL_WORK/n$i.state" --flow-log "$CL_WORK/n$i.flows" \
		--node-name "n$i" --etcd "$urls" --etcd-prefix "$CL_ETCD_PREFIX" \
		--service-cidr 198.19.128.0/24 "$@" \
		2>>"$CL_WORK/n$i.log" &
	CL_DAEMON[$i]=$!
	for n in $(seq 500); do
		if cl_connected "$i"; then
			return 0
		fi
		kill -0 "${CL_DAEMON[$i]}" 2>/dev/null || break
		sleep 0.02
	done
	cl_log "podwalld n$i did not connect; its log:"
	tail -n 30 "$CL_WORK/n$i.log" >&2
	return 1
}

cl_daemon_kill() {
	local i=$1 sig=${2:-KILL}

	[ -n "${CL_DAEMON[$i]:-}" ] || return 0
	kill "-$sig" "${CL_DAEMON[$i]}" 2>/dev/null
	wait "${CL_DAEMON[$i]}" 2>/dev/null
	CL_DAEMON[$i]=
}

pwn() {
	local i=$1

	shift
	"$PW_CLI" --socket "$CL_WORK/n$i.sock" "$@"
}

cl_cleanup() {
	local pid ns i

	[ -n "${CL_PREFIX:-}" ] || return 0
	for i in "${!CL_DAEMON[@]}"; do
		[ -n "${CL_DAEMON[$i]}" ] || continue
		kill -CONT "${CL_DAEMON[$i]}" 2>/dev/null
		cl_daemon_kill "$i" TERM
	done
	for pid in "${CL_PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	CL_PIDS=()
	cl_etcd_kill
	for i in "${CL_NODES[@]}"; do
		local pin="/sys/fs/bpf/podwall-$CL_TAG-$CL_RUN-n$i"

		if [ -e "$pin" ] && [ -x "$PW_DAEMON" ]; then
			nsenter --net="/run/netns/$CL_PREFIX-n$i" "$PW_DAEMON" --uninstall \
				--bpffs "$pin" --cgroup-root "$CL_CGROOT/n$i" \
				2>>"$CL_WORK/n$i.log" || cl_log "n$i: --uninstall failed"
		fi
		if [ -e "$pin" ]; then
			mountpoint -q "$pin" && umount -l "$pin"
			rm -rf "$pin"
		fi
	done
	for ((i = ${#CL_NETNS[@]} - 1; i >= 0; i--)); do
		ns=${CL_NETNS[$i]}
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
	done
	CL_NETNS=()
	if [ -d "$CL_CGROOT" ]; then
		while read -r cg; do
			while read -r pid; do
				kill -KILL "$pid" 2>/dev/null
			done <"$cg/cgroup.procs"
		done < <(find "$CL_CGROOT" -depth -type d)
		for i in $(seq 50); do
			find "$CL_CGROOT" -depth -type d -exec rmdir {} + 2>/dev/null
			[ -d "$CL_CGROOT" ] || break
			sleep 0.02
		done
	fi
	if [ -n "${CL_KEEP_WORK:-}" ]; then
		cl_log "work directory kept: $CL_WORK"
	else
		rm -rf "$CL_WORK"
	fi
	CL_PREFIX=
}

cl_leftovers() {
	local n=0

	n=$((n + $(ip netns list | grep -c "pw-$CL_TAG-$CL_RUN-")))
	[ -e "$CL_CGROOT" ] && n=$((n + 1))
	[ -e "$CL_WORK" ] && n=$((n + 1))
	n=$((n + $(find /sys/fs/bpf -maxdepth 1 -name "podwall-$CL_TAG-$CL_RUN-*" | wc -l)))
	n=$((n + $(pgrep -f "etcd --name pw-$CL_RUN " | wc -l)))
	echo "$n"
}
