#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Churn soak (issue 10): a simulated node with a server pod and five clients; for SECONDS,
# RATE policy/label changes per second (pwchurn), each followed by a connection whose verdict
# is compared with a reference evaluation, while an allowed connection that no change touches
# is held open and must never break; the daemon's memory is sampled. 0 wrong verdicts, flat
# memory, the held connection intact, or it fails.
#
# usage: soak_churn.sh PODWALLD PODWALL PWPROBE PWCHURN [SECONDS [RATE]]
#   the test suite runs 60 s (e2e_churn); scripts/soak.sh runs 600 s
set -u
PW_CHURN=$(realpath "$4")
SECS=${5:-60}
RATE=${6:-100}
# shellcheck source=testlib.sh
. "$(dirname "$0")/testlib.sh" "$@"
# the journal on tmpfs when there is one: the soak measures the daemon, not the disk's fsync
STATE=
eval "testlib_$(declare -f finish)"
finish() {
	[ -z "$STATE" ] || rm -rf "$STATE"
	testlib_finish
}

S=198.18.3.1
topo_init churn || exit 1
topo_pod s lxc-s ch/s $S fd00::3:1 || exit 1
clients=()
for i in 0 1 2 3 4; do
	topo_pod "c$i" "lxc-c$i" "ch/c$i" "198.18.3.$((10 + i))" "fd00::3:$((10 + i))" || exit 1
	[ "$i" = 0 ] ||
		clients+=("c$i=198.18.3.$((10 + i))=/run/netns/$TOPO_PREFIX-c$i=$TOPO_CGROOT/ch/c$i")
done
topo_serve s 7000 7001 7002 || exit 1

M=$TOPO_WORK/m
mkdir -p "$M"
{
	printf 'apiVersion: v1\nkind: Namespace\nmetadata: {name: ch}\n'
	printf -- '---\napiVersion: v1\nkind: Pod\nmetadata:\n  namespace: ch\n  name: s\n'
	printf '  labels: {app: server}\n  annotations: {podwall.io/interface: lxc-s, '
	printf 'podwall.io/cgroup: ch/s}\nstatus:\n  podIP: %s\n' $S
	for i in 0 1 2 3 4; do
		role=a
		[ "$i" = 0 ] && role=always
		printf -- '---\napiVersion: v1\nkind: Pod\nmetadata:\n  namespace: ch\n  name: c%s\n' "$i"
		printf '  labels: {role: %s}\n  annotations: {podwall.io/interface: lxc-c%s, ' $role "$i"
		printf 'podwall.io/cgroup: ch/c%s}\nstatus:\n  podIP: 198.18.3.%s\n' "$i" $((10 + i))
	done
	# the held connection's rule: no change touches it
	printf -- '---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n'
	printf 'metadata: {namespace: ch, name: fixed}\nspec:\n  podSelector: {matchLabels: {app: server}}\n'
	printf '  ingress:\n  - from: [{podSelector: {matchLabels: {role: always}}}]\n'
	printf '    ports: [{port: 7002}]\n'
} >"$M/cluster.yaml"

if [ -d /dev/shm ]; then
	STATE=$(mktemp -d "/dev/shm/podwall-churn-$$.XXXXXX") || exit 1
	topo_daemon_start --state-dir "$STATE" || exit 1
else
	topo_daemon_start || exit 1
fi
pw apply -f "$M/cluster.yaml" >/dev/null || { bad "apply the cluster"; exit 1; }
dpid=$TOPO_DAEMON

topo_enter c0
"${TOPO_IN[@]}" "$PW_PROBE" hold $S 7002 $((SECS + 5)) >"$TOPO_WORK/hold" 2>&1 &
hold=$!
sleep 0.5
echo "# $SECS s of churn at $RATE changes/s"
if "$PW_CHURN" "$TOPO_SOCK" "$dpid" "$SECS" "$RATE" $S "${clients[@]}" >"$TOPO_WORK/churn" 2>&1; then
	ok "churn: no wrong verdict, no failure, memory flat"
else
	bad "churn"
fi
cat "$TOPO_WORK/churn"
wait $hold
if grep -qE '^held [0-9]+$' "$TOPO_WORK/hold"; then
	ok "the untouched allowed connection held through the churn ($(cat "$TOPO_WORK/hold") echoes)"
else
	bad "the untouched allowed connection: $(cat "$TOPO_WORK/hold")"
fi
if kill -0 "$dpid" 2>/dev/null; then
	ok "the daemon is still up"
else
	bad "the daemon died: $(tail -n 20 "$TOPO_DLOG")"
fi
exit 0
