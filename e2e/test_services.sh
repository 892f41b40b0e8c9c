#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# End-to-end test of Services through podwalld and the podwall CLI on a simulated node:
#   svc/c1 (app=client), svc/s1 and svc/s2 (app=web, backends), svc/s3 (app=web, not ready)
# A Service and its EndpointSlices applied with the CLI translate the ClusterIP at once; the
# CLI lists and describes them and explains a connection to the ClusterIP per backend; bad
# input is refused by name and changes nothing; a socket deny to a Service is recorded with
# the Service's name; a restarted daemon keeps translating.
#
# usage: test_services.sh PODWALLD PODWALL PWPROBE       (root; ends with "N passed, N failed")
set -u

# shellcheck source=testlib.sh
. "$(dirname "$0")/testlib.sh" "$@"

expect_opt_error "service CIDR with host bits" '--service-cidr "198.19.200.1/24": host bits' \
	--service-cidr 198.19.200.1/24

C1=198.18.2.1
S1=198.18.2.2
S2=198.18.2.3
S3=198.18.2.4
CIP=198.19.200.10
CIP6=fd00:200::10

topo_init svc || exit 1
topo_pod c1 lxc-c1 svc/c1 $C1 fd00::2:1 &&
	topo_pod s1 lxc-s1 svc/s1 $S1 fd00::2:2 &&
	topo_pod s2 lxc-s2 svc/s2 $S2 fd00::2:3 &&
	topo_pod s3 lxc-s3 svc/s3 $S3 fd00::2:4 || exit 1
for p in s1 s2 s3; do
	topo_serve $p 7000 || exit 1
done

M=$TOPO_WORK/m
mkdir -p "$M"

pod() { # NAME APP IP4 IP6
	cat <<EOF
---
apiVersion: v1
kind: Pod
metadata:
  namespace: svc
  name: $1
  labels:
    app: $2
  annotations:
    podwall.io/interface: lxc-$1
    podwall.io/cgroup: svc/$1
status:
  podIPs:
  - ip: $3
  - ip: $4
EOF
}
{
	pod c1 client $C1 fd00::2:1
	pod s1 web $S1 fd00::2:2
	pod s2 web $S2 fd00::2:3
	pod s3 web $S3 fd00::2:4
} >"$M/pods.yaml"

cat >"$M/web.yaml" <<EOF
apiVersion: v1
kind: Service
metadata:
  namespace: svc
  name: web
spec:
  selector:
    app: web
  clusterIP: $CIP
  clusterIPs: [$CIP, "$CIP6"]
  ports:
  - name: http
    port: 80
    targetPort: 7000
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  namespace: svc
  name: web-v4
  labels:
    kubernetes.io/service-name: web
addressType: IPv4
ports:
- name: http
  port: 7000
endpoints:
- addresses: [$S1]
  conditions: {ready: true}
- addresses: [$S2]
- addresses: [$S3]
  conditions: {ready: false}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  namespace: svc
  name: web-v6
  labels:
    kubernetes.io/service-name: web
addressType: IPv6
ports:
- name: http
  port: 7000
endpoints:
- addresses: ["fd00::2:2"]
- addresses: ["fd00::2:3"]
EOF

cat >"$M/far.yaml" <<EOF
apiVersion: v1
kind: Service
metadata:
  namespace: svc
  name: far
spec:
  clusterIP: 10.96.0.10
  ports:
  - port: 80
EOF

cat >"$M/ghost.yaml" <<EOF
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  namespace: svc
  name: ghost-1
  labels:
    kubernetes.io/service-name: ghost
addressType: IPv4
endpoints:
- addresses: [$S1]
EOF

cat >"$M/only-s1.yaml" <<EOF
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  namespace: svc
  name: client-to-s1
spec:
  podSelector:
    matchLabels:
      app: client
  policyTypes: [Egress]
  egress:
  - to:
    - ipBlock:
        cidr: $S1/32
EOF

echo "# a Service translates once apply returns"
topo_daemon_start --service-cidr 198.19.200.0/24,fd00:200::/112 || exit 1
expect_out "apply pods" 'pod/c1 created' pw apply -f "$M/pods.yaml"
expect_out "apply the Service and its slices" 'service/web created' pw apply -f "$M/web.yaml"
expect_probe ok c1 tcp $CIP 80
expect_probe ok c1 tcp $CIP6 80
# the flow record of an allowed connection names the Service and the backend
for i in $(seq 100); do
	grep -q '"destination_service":{"frontend":"198.19.200.10:80","name":"web"' "$TOPO_FLOWS" &&
		break
	sleep 0.02
done
expect_out "an allowed flow's record names the Service and its backend" \
	'"IP":\{"source":"198.18.2.1","destination":"198.18.2.[23]".*"destination_service":\{"frontend":"198.19.200.10:80","name":"web","namespace":"svc"\}' \
	grep flow_new "$TOPO_FLOWS"
expect_out "get services" "web +$CIP,$CIP6 +80->7000/TCP +4" pw get services -n svc
expect_out "get endpointslices" 'web-v4 +web +IPv4 +3 +2' pw get endpointslices -n svc
expect_out "apply again: unchanged" 'endpointslice.discovery.k8s.io/web-v4 unchanged' \
	pw apply -f "$M/web.yaml"
expect_out "describe service lists the ready backends" "$S1:7000" \
	pw describe service svc/web
if pw describe service svc/web | grep -q "$S3"; then
	bad "describe service: the unready backend $S3 is listed"
else
	ok "describe service: the unready backend is not a backend"
fi

echo "# bad input: refused by name, nothing changes"
expect_out "clusterIP outside the service CIDRs" \
	'far.yaml: document 1 \(Service svc/far\).*spec.clusterIPs\[0\].*not within the service CIDRs 198.19.200.0/24,fd00:200::/112' \
	bash -c "! \"$PW_CLI\" --socket \"$TOPO_SOCK\" apply -f \"$M/far.yaml\""
expect_out "a slice for an unknown Service" 'ghost.yaml.*names no Service in namespace svc' \
	bash -c "! \"$PW_CLI\" --socket \"$TOPO_SOCK\" apply -f \"$M/ghost.yaml\""
if pw get services -n svc | grep -q far; then
	bad "the refused Service was stored"
else
	ok "the refused Service was not stored"
fi
expect_probe ok c1 tcp $CIP 80

echo "# egress policy is judged on the backend"
expect_out "apply client-to-s1" 'client-to-s1 created' pw apply -f "$M/only-s1.yaml"
expect_out "explain names the Service and the allowed backend" \
	'allowedBackends: 1' pw explain --from svc/c1 --to $CIP --port 80
expect_out "explain gives each backend's verdict" "backend: $S2" \
	pw explain --from svc/c1 --to $CIP --port 80
got=
for i in $(seq 12); do
	got="$got $(topo_probe c1 tcp $CIP 80 500)"
done
if grep -qE 'timeout|error|refused' <<<"$got" || ! grep -q ok <<<"$got" ||
	! grep -q denied <<<"$got"; then
	bad "connections through the ClusterIP reach s1 or are denied at once: got$got"
else
	ok "connections through the ClusterIP reach s1 or are denied at once"
fi
expect_out "the socket deny record names the Service" \
	'"destination_service":\{"frontend":"198.19.200.10:80","name":"web","namespace":"svc"\}' \
	cat "$TOPO_FLOWS"

echo "# a restarted daemon keeps the Service"
expect_out "delete client-to-s1" 'client-to-s1 deleted' pw delete -f "$M/only-s1.yaml"
topo_daemon_stop TERM
expect_probe ok c1 tcp $CIP6 80 # the pinned maps translate while no daemon runs
topo_daemon_start --service-cidr 198.19.200.0/24,fd00:200::/112 || exit 1
expect_out "the Service is back" "web +$CIP" pw get services -n svc
expect_out "status counts the frontends and backends" 'frontends: 2' pw status
