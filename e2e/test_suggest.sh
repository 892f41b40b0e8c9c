#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# podwall suggest, live: pods talk with no policy in force, the daemon's flow log records it,
# `podwall suggest` turns the log into NetworkPolicies, `podwall apply -f -` takes them
# unchanged, and then every observed flow still passes while a table of unobserved ones is
# denied.
#   shop/web-1, shop/web-2 (app=web, two replicas: different pod-template-hash)
#   shop/admin (app=admin), db/pg (app=pg, names port 7000 "pgsql"), an outside host
#
# usage: test_suggest.sh PODWALLD PODWALL PWPROBE       (root; ends with "N passed, N failed")
set -u

. "$(dirname "$0")/testlib.sh" "$@"

W1=198.18.3.1
W2=198.18.3.2
AD=198.18.3.3
PG=198.18.3.4
OUT=198.18.3.200 # no Pod has it: outside the cluster

topo_init sg || exit 1
topo_pod w1 sg-w1 shop/w1 $W1 fd00::3:1 &&
	topo_pod w2 sg-w2 shop/w2 $W2 fd00::3:2 &&
	topo_pod ad sg-ad shop/ad $AD fd00::3:3 &&
	topo_pod pg sg-pg db/pg $PG fd00::3:4 &&
	topo_pod out sg-out - $OUT fd00::3:200 || exit 1
for p in w1 w2 ad pg out; do
	topo_serve $p 7000 7001 || exit 1
done

M=$TOPO_WORK/m
mkdir -p "$M"
pod() { # NS NAME LABELS IFNAME CGROUP IP4 IP6 [PORTS-YAML]
	cat <<EOF
---
apiVersion: v1
kind: Pod
metadata:
  namespace: $1
  name: $2
  labels: {$3}
  annotations:
    podwall.io/interface: $4
    podwall.io/cgroup: $5
spec:
  containers:
  - name: main
    image: x
${8:-}
status:
  podIPs:
  - ip: $6
  - ip: $7
EOF
}
{
	printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n'
	printf -- '---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: db\n'
	pod shop web-5d8f7c9b4-abcde "app: web, pod-template-hash: 5d8f7c9b4" sg-w1 shop/w1 $W1 fd00::3:1
	pod shop web-77aa8d9f1-xyzab "app: web, pod-template-hash: 77aa8d9f1" sg-w2 shop/w2 $W2 fd00::3:2
	pod shop admin-0 "app: admin" sg-ad shop/ad $AD fd00::3:3
	pod db pg-0 "app: pg" sg-pg db/pg $PG fd00::3:4 "    ports:
    - name: pgsql
      containerPort: 7000"
} >"$M/objects.yaml"

topo_daemon_start || exit 1
if pw apply -f "$M/objects.yaml" >/dev/null; then
	ok "objects applied, no policy"
else
	bad "objects applied"
	exit 1
fi

echo "# observed traffic (no policy: everything passes)"
expect_probe ok w1 tcp $PG 7000
expect_probe ok w2 tcp $PG 7000
expect_probe ok w1 udp $PG 7001
expect_probe ok w1 tcp $OUT 7000
expect_probe ok ad tcp $W1 7001
expect_probe ok ad tcp fd00::3:2 7001

# the records reach the file asynchronously: wait for the last one (admin -> web-2, IPv6)
for i in $(seq 250); do
	grep -q '"destination":"fd00::3:2"' "$TOPO_FLOWS" 2>/dev/null && break
	sleep 0.02
done
sleep 0.2 # its ingress twin is read in the same drain; the margin covers a second drain

# bad lines are reported with file and line, never fatal
cp "$TOPO_FLOWS" "$M/flows.jsonl"
printf '{"kind":"no-such-kind"}\n[1,2,3]\n{"kind":"flow_new","verdict":"FORW' >>"$M/flows.jsonl"
if pw suggest --flows "$M/flows.jsonl" --objects "$M/objects.yaml" >"$M/suggested.yaml" \
	2>"$M/suggest.err"; then
	ok "suggest ran"
else
	bad "suggest failed: $(cat "$M/suggest.err")"
fi
n=$(grep -c ':[0-9]*: ' "$M/suggest.err")
if [ "$n" = 3 ] && grep -q 'flows.jsonl:[0-9]*: unknown record kind' "$M/suggest.err" &&
	grep -q 'truncated' "$M/suggest.err"; then
	ok "three bad lines reported with file and line"
else
	bad "bad lines: $(cat "$M/suggest.err")"
fi
if [ "$(grep -c '^kind: NetworkPolicy' "$M/suggested.yaml")" = 3 ] &&
	! grep -q pod-template-hash "$M/suggested.yaml" && grep -q 'port: pgsql' "$M/suggested.yaml" &&
	grep -q "cidr: $OUT/32" "$M/suggested.yaml"; then
	ok "one policy per workload (web, admin, pg), replicas merged, named port, ipBlock"
else
	bad "suggested: $(cat "$M/suggested.yaml")"
fi
# deterministic: the same input gives the same text
if pw suggest --flows "$M/flows.jsonl" --objects "$M/objects.yaml" 2>/dev/null |
	cmp -s - "$M/suggested.yaml"; then
	ok "the output is deterministic"
else
	bad "two runs differ"
fi
if pw suggest --flows "$M/flows.jsonl" -n db 2>/dev/null | grep -q 'namespace: shop$'; then
	bad "-n db printed a policy of shop"
else
	ok "-n db: policies of db only"
fi

out=$(pw suggest --flows "$M/flows.jsonl" --objects "$M/objects.yaml" --diff 2>/dev/null)
rc=$?
if [ $rc = 1 ] && [ "$(grep -c '^+ networkpolicy .*: new$' <<<"$out")" = 3 ]; then
	ok "--diff before apply: three new policies, exit 1"
else
	bad "--diff before apply (rc $rc): $out"
fi

if out=$(pw apply -f - <"$M/suggested.yaml" 2>&1) && grep -q 'suggested-web created' <<<"$out"; then
	ok "podwall apply -f - takes the suggestion unchanged"
else
	bad "apply of the suggestion: $out"
fi

out=$(pw suggest --flows "$M/flows.jsonl" --objects "$M/objects.yaml" --diff 2>/dev/null)
rc=$?
if [ $rc = 0 ] && [ "$(grep -c '^= networkpolicy .*: unchanged$' <<<"$out")" = 3 ]; then
	ok "--diff after apply: three unchanged, exit 0"
else
	bad "--diff after apply (rc $rc): $out"
fi
out=$(pw suggest --flows "$M/flows.jsonl" --objects "$M/objects.yaml" --ipblock-prefix 24 \
	--diff 2>/dev/null)
rc=$?
if [ $rc = 1 ] && grep -q "^-.*cidr: $OUT/32" <<<"$out" && grep -q '^+.*cidr: 198.18.3.0/24' <<<"$out"; then
	ok "--diff of a wider ipBlock shows the spec lines that change"
else
	bad "--diff --ipblock-prefix 24 (rc $rc): $out"
fi

echo "# every observed flow still passes"
expect_probe ok w1 tcp $PG 7000
expect_probe ok w2 tcp $PG 7000
expect_probe ok w1 udp $PG 7001
expect_probe ok w1 tcp $OUT 7000
expect_probe ok ad tcp $W1 7001
expect_probe ok ad tcp fd00::3:2 7001
expect_probe ok w2 tcp $OUT 7000 # web-2 is the same workload as web-1

echo "# unobserved flows are denied"
expect_probe denied w1 tcp $PG 7001   # port seen over UDP only
expect_probe denied w1 tcp $AD 7000   # web never called admin
expect_probe denied pg tcp $W1 7001   # the reverse of an observed flow
expect_probe denied ad tcp $PG 7000   # admin never called pg
expect_probe timeout out tcp $W1 7001 # from outside: web's ingress is admin's only
expect_probe denied w1 tcp $OUT 7001  # another port of the outside host
