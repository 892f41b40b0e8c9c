// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Kubernetes NetworkPolicy conformance, live: the upstream e2e cases (see
 * /work/shared/netpol/upstream-e2e.md, mirrored in the case table below) driven through the
 * real daemon and CLI, with every verdict observed as real traffic between real pods.
 *
 * One simulated node (the netns harness, 9 pods), namespaces x, y, z with pods a, b, c. Every
 * pod serves TCP and UDP, IPv4 and IPv6, on 80 and 81 (containerPorts serve-80-tcp, ...) and on
 * the endPort test ports. podwalld runs on the node with a private bpffs, socket, state dir and
 * manifests dir; the namespaces and pods are applied with `podwall apply`, then each case
 * applies its policies, probes the full 9x8 matrix (every probe its own process in the source
 * pod's cgroup and netns, all at once), compares with the expected matrix, prints upstream-style
 * truth tables on a mismatch, and deletes its policies with `podwall delete -f`.
 *
 * `apply` returns only once the kernel enforces the change, so nothing here sleeps between a
 * change and the probes that check it. A probe that sees nothing for 1 s counts as dropped;
 * EPERM from connect()/send() (the socket layer) counts as denied.
 *
 * Usage: nt_conformance [v4] [v6] [CASE-ID...]   (no group: both; no id: every case)
 */
#define _GNU_SOURCE
#include "harness.h"
#include "cf_matrix.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif

#define CF_PREFIX	"podwall-cf-"
#define CF_BPFFS_ROOT	"/sys/fs/bpf"
#define CF_TMP_ROOT	"/tmp"
#define CF_TMO_MS	1000  /* a probe that hears nothing for this long was dropped */
#define CF_SLACK_MS	8000  /* beyond the probes' own timeouts: forks under load */
#define CF_CLI_TMO_MS	30000 /* backstop for a hung CLI call, never a wait for enforcement */
#define CF_READY_TMO_MS 20000
#define CF_MAX_SPECS	4
#define CF_MAX_POLS	3
#define CF_MAX_STEPS	8
#define CF_DOC_MAX	(64 * 1024)

/* Every port a pod serves: the upstream pair, then the endPort probes around 8080-8085. */
static const uint16_t cf_ports[] = {80, 81, 8079, 8080, 8081, 8085, 8086};
#define CF_NPORTS (sizeof(cf_ports) / sizeof(cf_ports[0]))

/* --- the case table ------------------------------------------------------------------------ */

struct cf_pol {
	const char *ns;
	const char *name;
	/*
	 * spec as one YAML flow mapping. $cidr(x/b) becomes the pod's address as /32 or /128
	 * (the run's family), $net4(x/b) the /4 holding it.
	 */
	const char *spec;
};

enum cf_op {
	CF_END = 0,
	CF_APPLY,     /* podwall apply -f (one file with the policies) must succeed */
	CF_APPLY_BAD, /* podwall apply -f must exit 1, naming the file, document 2 and endPort */
	CF_DELETE,    /* podwall delete -f */
	CF_LABEL_NS,  /* re-apply the model with extra labels on a namespace ... */
	CF_LABEL_POD, /* ... or on a pod */
	CF_PROBE,     /* probe the full matrix for each spec, all at once */
};

struct cf_spec {
	uint8_t proto;
	uint16_t port;
	const char *deny; /* cf_matrix.h notation */
};

struct cf_step {
	enum cf_op op;
	const struct cf_pol *pol[CF_MAX_POLS];
	const char *target; /* label ops: "y" or "x/b" */
	const char *labels; /* ", key: value" appended to the object's label map */
	struct cf_spec spec[CF_MAX_SPECS];
};

#define CF_V4 (1u << 0)
#define CF_V6 (1u << 1)

struct cf_case {
	const char *id;
	const char *title;
	unsigned int fams;
	struct cf_step steps[CF_MAX_STEPS];
};

/* clang-format off */
#define POL(ns_, name_, spec_) (&(const struct cf_pol){.ns = ns_, .name = name_, .spec = spec_})
#define APPLY(...)     {.op = CF_APPLY, .pol = {__VA_ARGS__}}
#define APPLY_BAD(...) {.op = CF_APPLY_BAD, .pol = {__VA_ARGS__}}
#define DELETE(...)    {.op = CF_DELETE, .pol = {__VA_ARGS__}}
#define LABEL_NS(t, l) {.op = CF_LABEL_NS, .target = t, .labels = l}
#define LABEL_POD(t, l) {.op = CF_LABEL_POD, .target = t, .labels = l}
#define PROBE(...)     {.op = CF_PROBE, .spec = {__VA_ARGS__}}
#define TCP(p, d)      {IPPROTO_TCP, p, d}
#define UDP(p, d)      {IPPROTO_UDP, p, d}

#define PODSEL(v)  "{matchLabels: {pod: " v "}}"
#define NSSEL(v)   "{matchLabels: {kubernetes.io/metadata.name: " v "}}"
#define NSEXPR(op, vals) \
	"{matchExpressions: [{key: kubernetes.io/metadata.name, operator: " op ", " \
	"values: " vals "}]}"
#define PODEXPR(op, vals) "{matchExpressions: [{key: pod, operator: " op ", values: " vals "}]}"

/* Specs several cases share */
#define SPEC_DENY_IN    "{podSelector: {}, policyTypes: [Ingress], ingress: []}"
#define SPEC_DENY_ALL   "{podSelector: {}, policyTypes: [Ingress, Egress], ingress: [], egress: []}"
#define SPEC_ALLOW_IN   "{podSelector: {}, policyTypes: [Ingress], ingress: [{}]}"
#define SPEC_A_FROM(peers) \
	"{podSelector: " PODSEL("a") ", policyTypes: [Ingress], ingress: [{from: [" peers "]}]}"
#define SPEC_A_FROM_Y_PORT(port) \
	"{podSelector: " PODSEL("a") ", policyTypes: [Ingress], " \
	"ingress: [{from: [{namespaceSelector: " \
	NSSEL("y") "}], ports: [{port: " port "}]}]}"
#define SPEC_A_EGRESS_TO(peers) \
	"{podSelector: " PODSEL("a") ", policyTypes: [Egress], egress: [{to: [" peers "]}]}"
#define SPEC_NP_Y_A_TO_X_A \
	SPEC_A_EGRESS_TO("{namespaceSelector: " NSSEL("y") ", podSelector: " PODSEL("a") "}")
#define SPEC_IN_FROM_XA(sub) \
	"{podSelector: " PODSEL(sub) ", policyTypes: [Ingress], " \
	"ingress: [{from: [{namespaceSelector: " \
	NSSEL("x") ", podSelector: " PODSEL("a") "}]}]}"
#define SPEC_EXCEPT \
	SPEC_A_EGRESS_TO("{ipBlock: {cidr: $net4(x/b), except: [$cidr(x/b)]}}")

#define ALL_TO_XA_BUT(srcs) "*->x/a; +" srcs "->x/a"

static const struct cf_case cf_cases[] = {
{"T01", "default-deny-ingress", CF_V4 | CF_V6, {
	APPLY(POL("x", "deny-ingress", SPEC_DENY_IN)),
	PROBE(TCP(80, "*->x/*")),
}},
{"T02", "default-deny-all", CF_V4, {
	APPLY(POL("x", "deny-all", SPEC_DENY_ALL)),
	PROBE(TCP(80, "*->x/*; x/*->*")),
}},
{"T03", "allow from pods in the server's namespace by PodSelector", CF_V4 | CF_V6, {
	APPLY(POL("x", "allow-x-b", SPEC_A_FROM("{podSelector: " PODSEL("b") "}"))),
	PROBE(TCP(80, ALL_TO_XA_BUT("x/b"))),
}},
{"T04", "allow ingress for a target (deny-all + allow-all for x/a)", CF_V4, {
	APPLY(POL("x", "deny-ingress", SPEC_DENY_IN),
	      POL("x", "allow-all-to-a",
		  SPEC_A_FROM("{namespaceSelector: {}, podSelector: {}}"))),
	PROBE(TCP(80, "*->x/b,x/c")),
}},
{"T05", "allow from all namespaces", CF_V4, {
	APPLY(POL("x", "allow-all-ns", SPEC_A_FROM("{namespaceSelector: {}}"))),
	PROBE(TCP(80, "")),
}},
{"T06", "allow only from another namespace by NamespaceSelector", CF_V4 | CF_V6, {
	APPLY(POL("x", "allow-ns-y", SPEC_A_FROM("{namespaceSelector: " NSSEL("y") "}"))),
	PROBE(TCP(80, "x/*,z/*->x/a")),
}},
{"T07", "PodSelector with MatchExpressions", CF_V4, {
	APPLY(POL("x", "allow-pod-in-b", SPEC_A_FROM("{podSelector: " PODEXPR("In", "[b]") "}"))),
	PROBE(TCP(80, ALL_TO_XA_BUT("x/b"))),
}},
{"T08", "NamespaceSelector with MatchExpressions", CF_V4, {
	APPLY(POL("x", "allow-ns-in-y",
		  SPEC_A_FROM("{namespaceSelector: " NSEXPR("In", "[y]") "}"))),
	PROBE(TCP(80, "x/*,z/*->x/a")),
}},
{"T09", "PodSelector OR NamespaceSelector", CF_V4, {
	APPLY(POL("x", "allow-ns-or-pod",
		  SPEC_A_FROM("{namespaceSelector: " NSEXPR("NotIn", "[x]") "}, "
			      "{podSelector: " PODSEL("b") "}"))),
	PROBE(TCP(80, "x/c->x/a")),
}},
{"T10", "PodSelector AND NamespaceSelector", CF_V4 | CF_V6, {
	APPLY(POL("x", "allow-ns-and-pod",
		  SPEC_A_FROM("{namespaceSelector: " NSEXPR("NotIn", "[x]") ", "
			      "podSelector: " PODSEL("b") "}"))),
	PROBE(TCP(80, ALL_TO_XA_BUT("y/b,z/b"))),
}},
{"T11", "multiple pod and namespace selectors", CF_V4, {
	APPLY(POL("x", "allow-multi",
		  SPEC_A_FROM("{namespaceSelector: " NSEXPR("NotIn", "[x]") ", "
			      "podSelector: " PODEXPR("In", "[b, c]") "}"))),
	PROBE(TCP(80, ALL_TO_XA_BUT("y/b,y/c,z/b,z/c"))),
}},
{"T12", "any of several PodSelectors", CF_V4, {
	APPLY(POL("x", "allow-b-or-c",
		  SPEC_A_FROM("{podSelector: " PODSEL("b") "}, {podSelector: " PODSEL("c") "}"))),
	PROBE(TCP(80, ALL_TO_XA_BUT("x/b,x/c"))),
}},
{"T13", "a pod in another namespace by Pod+NamespaceSelector", CF_V4, {
	APPLY(POL("x", "allow-y-a",
		  SPEC_A_FROM("{namespaceSelector: " NSSEL("y") ", "
			      "podSelector: " PODSEL("a") "}"))),
	PROBE(TCP(80, ALL_TO_XA_BUT("y/a"))),
}},
{"T14", "based on ports", CF_V4 | CF_V6, {
	APPLY(POL("x", "allow-81", SPEC_A_FROM_Y_PORT("81, protocol: TCP"))),
	PROBE(TCP(81, "x/*,z/*->x/a"), TCP(80, "*->x/a")),
}},
{"T15", "stacked policies with overlapping podSelectors", CF_V4, {
	APPLY(POL("x", "allow-81", SPEC_A_FROM_Y_PORT("81, protocol: TCP"))),
	PROBE(TCP(81, "x/*,z/*->x/a"), TCP(80, "*->x/a")),
	APPLY(POL("x", "allow-80", SPEC_A_FROM_Y_PORT("80, protocol: TCP"))),
	PROBE(TCP(81, "x/*,z/*->x/a"), TCP(80, "x/*,z/*->x/a")),
}},
{"T16", "allow-all ingress", CF_V4, {
	APPLY(POL("x", "allow-all", SPEC_ALLOW_IN)),
	PROBE(TCP(80, ""), TCP(81, "")),
}},
{"T17", "ingress on one named port", CF_V4, {
	APPLY(POL("x", "allow-serve-81",
		  "{podSelector: {}, policyTypes: [Ingress], "
		  "ingress: [{ports: [{port: serve-81-tcp}]}]}")),
	PROBE(TCP(81, ""), TCP(80, "*->x/*")),
}},
{"T18", "ingress from a namespace on one named port", CF_V4, {
	APPLY(POL("x", "allow-y-serve-80", SPEC_A_FROM_Y_PORT("serve-80-tcp, protocol: TCP"))),
	PROBE(TCP(80, "x/*,z/*->x/a"), TCP(81, "*->x/a")),
}},
{"T19", "egress on one named port", CF_V4, {
	APPLY(POL("x", "egress-serve-80",
		  "{podSelector: {}, policyTypes: [Egress], "
		  "egress: [{ports: [{port: serve-80-tcp}]}]}")),
	PROBE(TCP(80, ""), TCP(81, "x/*->*")),
}},
{"T20", "an updated policy", CF_V4, {
	APPLY(POL("x", "allow-then-deny", SPEC_ALLOW_IN)),
	PROBE(TCP(81, "")),
	APPLY(POL("x", "allow-then-deny", SPEC_DENY_IN)),
	PROBE(TCP(81, "*->x/*")),
}},
{"T21", "ingress from an updated namespace", CF_V4, {
	APPLY(POL("x", "allow-ns2-updated",
		  SPEC_A_FROM("{namespaceSelector: {matchLabels: {ns2: updated}}}"))),
	PROBE(TCP(80, "*->x/a")),
	LABEL_NS("y", ", ns2: updated"),
	PROBE(TCP(80, "*->x/a; +y/*->x/a")),
}},
{"T22", "ingress from an updated pod", CF_V4, {
	APPLY(POL("x", "allow-pod2-updated",
		  SPEC_A_FROM("{podSelector: {matchLabels: {pod: b, pod2: updated}}}"))),
	PROBE(TCP(80, "*->x/a")),
	LABEL_POD("x/b", ", pod2: updated"),
	PROBE(TCP(80, ALL_TO_XA_BUT("x/b"))),
}},
{"T23", "deny ingress from other namespaces", CF_V4, {
	APPLY(POL("x", "allow-same-ns",
		  "{podSelector: {}, policyTypes: [Ingress], "
		  "ingress: [{from: [{podSelector: {}}]}]}")),
	PROBE(TCP(80, "y/*,z/*->x/*")),
}},
{"T24", "deny ingress to an updated pod", CF_V4, {
	APPLY(POL("x", "deny-isolated",
		  "{podSelector: {matchLabels: {target: isolated}}, policyTypes: [Ingress], "
		  "ingress: []}")),
	PROBE(TCP(80, "")),
	LABEL_POD("x/a", ", target: isolated"),
	PROBE(TCP(80, "*->x/a")),
}},
{"T25", "deny egress by PodSelector", CF_V4 | CF_V6, {
	APPLY(POL("x", "deny-egress-a",
		  "{podSelector: " PODSEL("a") ", policyTypes: [Egress], egress: []}")),
	PROBE(TCP(80, "x/a->*")),
}},
{"T26", "deny egress from all pods of a namespace", CF_V4, {
	APPLY(POL("x", "deny-egress", "{podSelector: {}, policyTypes: [Egress], egress: []}")),
	PROBE(TCP(80, "x/*->*")),
}},
{"T27", "Ingress and Egress together", CF_V4, {
	APPLY(POL("x", "in-and-out",
		  "{podSelector: " PODSEL("a") ", policyTypes: [Egress, Ingress], "
		  "ingress: [{from: [{podSelector: " PODSEL("b") "}]}], "
		  "egress: [{ports: [{port: 80}]}]}")),
	PROBE(TCP(80, ALL_TO_XA_BUT("x/b")), TCP(81, ALL_TO_XA_BUT("x/b") "; x/a->*")),
}},
{"T28", "client-side egress deny beats a server's ingress allow", CF_V4, {
	APPLY(POL("x", "egress-to-y-a", SPEC_NP_Y_A_TO_X_A),
	      POL("y", "from-x-a-to-a", SPEC_IN_FROM_XA("a")),
	      POL("y", "from-x-a-to-b", SPEC_IN_FROM_XA("b"))),
	PROBE(TCP(80, "x/a->*; +x/a->y/a; *->y/a; +x/a->y/a; *->y/b")),
}},
{"T29", "egress to a server in another namespace by Pod+NamespaceSelector", CF_V4, {
	APPLY(POL("x", "egress-to-y-a", SPEC_NP_Y_A_TO_X_A)),
	PROBE(TCP(80, "x/a->*; +x/a->y/a")),
}},
{"T30", "any port of one protocol", CF_V4, {
	APPLY(POL("x", "any-tcp",
		  "{podSelector: " PODSEL("a") ", policyTypes: [Ingress], "
		  "ingress: [{ports: [{protocol: TCP}]}]}")),
	PROBE(TCP(80, ""), UDP(80, "*->x/a")),
}},
{"T31", "an ingress allow-all takes precedence", CF_V4, {
	APPLY(POL("x", "in-80-only",
		  "{podSelector: {}, policyTypes: [Ingress], ingress: [{ports: [{port: 80}]}]}")),
	PROBE(TCP(81, "*->x/*")),
	APPLY(POL("x", "in-allow-all", SPEC_ALLOW_IN)),
	PROBE(TCP(81, "")),
}},
{"T32", "an egress allow-all takes precedence", CF_V4, {
	APPLY(POL("x", "out-80-only",
		  "{podSelector: {}, policyTypes: [Egress], egress: [{ports: [{port: 80}]}]}")),
	PROBE(TCP(81, "x/*->*")),
	APPLY(POL("x", "out-allow-all", "{podSelector: {}, policyTypes: [Egress], egress: [{}]}")),
	PROBE(TCP(81, "")),
}},
{"T33", "stop enforcing after the policy is deleted", CF_V4, {
	APPLY(POL("x", "deny-all", SPEC_DENY_ALL)),
	PROBE(TCP(80, "*->x/*; x/*->*")),
	DELETE(POL("x", "deny-all", SPEC_DENY_ALL)),
	PROBE(TCP(80, "")),
}},
{"T34", "egress to a server in a CIDR block", CF_V4 | CF_V6, {
	APPLY(POL("x", "egress-cidr", SPEC_A_EGRESS_TO("{ipBlock: {cidr: $cidr(y/b)}}"))),
	PROBE(TCP(80, "x/a->*; +x/a->y/b")),
}},
{"T35", "except clause in an egress CIDR", CF_V4 | CF_V6, {
	APPLY(POL("x", "egress-except", SPEC_EXCEPT)),
	PROBE(TCP(80, "x/a->x/b")),
}},
{"T36", "an IP in both a CIDR and its except, allowed by an update", CF_V4, {
	APPLY(POL("x", "egress-except", SPEC_EXCEPT)),
	PROBE(TCP(80, "x/a->x/b")),
	APPLY(POL("x", "egress-except", SPEC_A_EGRESS_TO("{ipBlock: {cidr: $cidr(x/b)}}"))),
	PROBE(TCP(80, "x/a->*; +x/a->x/b")),
}},
{"T37", "ingress and egress are controlled independently", CF_V4, {
	APPLY(POL("x", "egress-all-a",
		  "{podSelector: " PODSEL("a") ", policyTypes: [Egress], egress: [{}]}")),
	PROBE(TCP(80, "")),
	APPLY(POL("x", "deny-in-a",
		  "{podSelector: " PODSEL("a") ", policyTypes: [Ingress], ingress: []}")),
	PROBE(TCP(80, "*->x/a")),
}},
{"T38", "SCTP is not TCP (default deny + an SCTP allow)", CF_V4, {
	APPLY(POL("x", "deny-ingress", SPEC_DENY_IN),
	      POL("x", "allow-sctp-81",
		  "{podSelector: " PODSEL("a") ", policyTypes: [Ingress], "
		  "ingress: [{ports: [{port: 81, protocol: SCTP}]}]}")),
	PROBE(TCP(81, "*->x/*")),
}},
{"T39", "a policy allowing SCTP still isolates", CF_V4, {
	APPLY(POL("x", "allow-sctp-80",
		  "{podSelector: " PODSEL("a") ", policyTypes: [Ingress], "
		  "ingress: [{ports: [{port: 80, protocol: SCTP}]}]}")),
	PROBE(TCP(81, "*->x/a")),
}},
{"T40", "a UDP-only policy does not allow TCP", CF_V4, {
	APPLY(POL("x", "allow-udp-81",
		  "{podSelector: " PODSEL("a") ", policyTypes: [Ingress], "
		  "ingress: [{ports: [{port: 81, protocol: UDP}]}]}")),
	PROBE(TCP(81, "*->x/a"), UDP(81, "")),
}},
{"T41", "NamespaceSelector MatchLabels on the default namespace label", CF_V4, {
	APPLY(POL("x", "allow-ns-y", SPEC_A_FROM("{namespaceSelector: " NSSEL("y") "}"))),
	PROBE(TCP(80, "x/*,z/*->x/a")),
}},
{"T42", "NamespaceSelector MatchExpressions on the default namespace label (egress)", CF_V4, {
	APPLY(POL("x", "egress-not-y",
		  SPEC_A_EGRESS_TO("{namespaceSelector: " NSEXPR("NotIn", "[y]") "}"))),
	PROBE(TCP(80, "x/a->y/*")),
}},
{"U1", "default-deny-ingress over UDP", CF_V4, {
	APPLY(POL("x", "deny-ingress", SPEC_DENY_IN)),
	PROBE(UDP(80, "*->x/*")),
}},
{"U2", "based on ports over UDP", CF_V4, {
	APPLY(POL("x", "allow-81-udp", SPEC_A_FROM_Y_PORT("81, protocol: UDP"))),
	PROBE(UDP(81, "x/*,z/*->x/a"), UDP(80, "*->x/a")),
}},
{"U3", "Pod+NamespaceSelector over UDP", CF_V4, {
	APPLY(POL("x", "allow-y-a",
		  SPEC_A_FROM("{namespaceSelector: " NSSEL("y") ", "
			      "podSelector: " PODSEL("a") "}"))),
	PROBE(UDP(80, ALL_TO_XA_BUT("y/a"))),
}},
/* T26 over UDP: the servers in x answer with sendto(), and replies pass however isolated */
{"U4", "deny egress from all pods of a namespace over UDP: replies still pass", CF_V4 | CF_V6, {
	APPLY(POL("x", "deny-egress", "{podSelector: {}, policyTypes: [Egress], egress: []}")),
	PROBE(UDP(80, "x/*->*")),
}},
/* Semantics upstream's list leaves implicit (design.md "the ones peers got wrong") */
{"K1", "policyTypes absent: egress: [] isolates nothing for egress", CF_V4, {
	APPLY(POL("x", "no-types-ingress",
		  "{podSelector: " PODSEL("a") ", ingress: [{from: [{podSelector: " PODSEL("b")
		  "}]}], egress: []}")),
	PROBE(TCP(80, ALL_TO_XA_BUT("x/b"))),
}},
{"K2", "policyTypes absent: non-empty egress isolates both directions", CF_V4, {
	APPLY(POL("x", "no-types-egress",
		  "{podSelector: " PODSEL("a") ", egress: [{ports: [{port: 81}]}]}")),
	PROBE(TCP(80, "*->x/a; x/a->*"), TCP(81, "*->x/a")),
}},
{"K3", "an except carves only its own peer", CF_V4 | CF_V6, {
	APPLY(POL("x", "except-or-pod",
		  SPEC_A_EGRESS_TO("{ipBlock: {cidr: $net4(x/b), except: [$cidr(x/b)]}}, "
				   "{podSelector: " PODSEL("b") "}"))),
	PROBE(TCP(80, "")),
}},
{"K4", "a named port whose protocol differs matches nothing", CF_V4, {
	APPLY(POL("x", "wrong-proto-name",
		  "{podSelector: {}, policyTypes: [Ingress], "
		  "ingress: [{ports: [{port: serve-80-udp, protocol: TCP}]}]}")),
	PROBE(TCP(80, "*->x/*"), UDP(80, "*->x/*")),
}},
/*
 * endPort (upstream has no traffic test): inclusive at both ends, and the ends fall inside
 * power-of-two blocks (8080-8085 is 8080/30 + 8084/31; 8081-8085 is 8081 + 8082/31 + 8084/31
 * ... so 8079 and 8086, neighbours in the same blocks, must stay closed).
 */
{"E1", "endPort: an inclusive TCP ingress range 8080-8085", CF_V4 | CF_V6, {
	APPLY(POL("x", "in-range",
		  "{podSelector: " PODSEL("a") ", policyTypes: [Ingress], "
		  "ingress: [{ports: [{protocol: TCP, port: 8080, endPort: 8085}]}]}")),
	PROBE(TCP(8079, "*->x/a"), TCP(8080, ""), TCP(8085, ""), TCP(8086, "*->x/a")),
}},
{"E2", "endPort: an inclusive UDP egress range 8081-8085", CF_V4, {
	APPLY(POL("x", "out-range",
		  "{podSelector: " PODSEL("a") ", policyTypes: [Egress], "
		  "egress: [{ports: [{protocol: UDP, port: 8081, endPort: 8085}]}]}")),
	PROBE(UDP(8080, "x/a->*"), UDP(8081, ""), UDP(8085, ""), UDP(8086, "x/a->*")),
}},
/* A bad manifest: exit 1, an error naming file, document and field, and nothing changed. */
{"B1", "a bad manifest (endPort < port) changes nothing", CF_V4, {
	APPLY(POL("x", "deny-ingress", SPEC_DENY_IN)),
	PROBE(TCP(80, "*->x/*")),
	APPLY_BAD(POL("x", "deny-ingress", SPEC_ALLOW_IN),
		  POL("x", "bad-range",
		      "{podSelector: {}, policyTypes: [Ingress], "
		      "ingress: [{ports: [{protocol: TCP, port: 8085, endPort: 8080}]}]}")),
	PROBE(TCP(80, "*->x/*")),
}},
};
/* clang-format on */

#define CF_NCASES (sizeof(cf_cases) / sizeof(cf_cases[0]))

/* --- run state ----------------------------------------------------------------------------- */

struct cf_run {
	pid_t owner;
	struct nt_env *env;
	int family; /* AF_INET / AF_INET6 of the group being run */
	char tmp[PATH_MAX];
	char bpffs[PATH_MAX];
	char sock[PATH_MAX];
	char log[PATH_MAX];
	bool made_tmp;
	pid_t daemon;
	struct nt_child servers[CF_NPODS + 1];
	/* label overrides of the model: ", key: value" */
	char ns_labels[3][128];
	char pod_labels[CF_NPODS + 1][128];
	/* policies applied by the running case and not deleted yet: what cleanup deletes */
	const struct cf_pol *live[16];
	int nlive;
	unsigned int seq;
};

static struct cf_run cf;
static struct sigaction cf_old_sa[NSIG];

static void cf_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void cf_log(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* --- cleanup ------------------------------------------------------------------------------- */

static int cf_rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

static void cf_rmtree(const char *dir)
{
	struct stat st;

	if (!*dir || lstat(dir, &st))
		return;
	nftw(dir, cf_rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	if (!lstat(dir, &st)) {
		/* a bpffs the daemon mounted on the directory itself */
		umount2(dir, MNT_DETACH);
		rmdir(dir);
	}
}

/*
 * What the harness does not own: the daemon, its pins (unpinning the links detaches its
 * programs) and the temp dir (socket, manifests, journal, logs). Idempotent; also the signal
 * path, before the harness's own handler removes netns and cgroups.
 */
static void cf_cleanup_own(void)
{
	if (getpid() != cf.owner)
		return;
	if (cf.daemon > 0) {
		kill(cf.daemon, SIGKILL);
		while (waitpid(cf.daemon, NULL, 0) < 0 && errno == EINTR)
			;
		cf.daemon = 0;
	}
	cf_rmtree(cf.bpffs);
	if (cf.made_tmp)
		cf_rmtree(cf.tmp);
	cf.made_tmp = false;
}

static void cf_on_exit(void)
{
	cf_cleanup_own();
}

static void cf_on_signal(int sig)
{
	const struct sigaction *old = &cf_old_sa[sig];

	cf_cleanup_own();
	/* then the harness's handler: kids, servers, netns, cgroups; it re-raises */
	sigaction(sig, old, NULL);
	if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN)
		old->sa_handler(sig);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void cf_install_hooks(void)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT};
	struct sigaction sa = {.sa_handler = cf_on_signal};
	size_t i;

	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, &cf_old_sa[sigs[i]]);
	/* registered after the harness's: runs before its teardown */
	atexit(cf_on_exit);
}

static bool cf_pid_dead(long pid)
{
	return pid > 0 && pid != getpid() && kill((pid_t)pid, 0) && errno == ESRCH;
}

/* A crashed run's pins and temp dir (its netns and cgroups are the harness's business). */
static void cf_cleanup_stale(void)
{
	static const char *const roots[] = {CF_BPFFS_ROOT, CF_TMP_ROOT};
	char path[PATH_MAX];
	struct dirent *de;
	size_t r;

	for (r = 0; r < 2; r++) {
		DIR *d = opendir(roots[r]);

		while (d && (de = readdir(d))) {
			size_t l = strlen(CF_PREFIX);
			char *end;
			long pid;

			if (strncmp(de->d_name, CF_PREFIX, l) || de->d_name[l] < '0' ||
			    de->d_name[l] > '9')
				continue;
			pid = strtol(de->d_name + l, &end, 10);
			if (*end || !cf_pid_dead(pid))
				continue;
			if (nt_pathf(path, sizeof(path), "%s/%s", roots[r], de->d_name))
				continue;
			cf_log("removing stale %s", path);
			cf_rmtree(path);
		}
		if (d)
			closedir(d);
	}
}

/* --- files ------------------------------------------------------------------------------- */

static int cf_write(const char *path, const char *text)
{
	size_t len = strlen(text);
	int fd, err = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len)
		err = errno ? -errno : -EIO;
	if (close(fd) && !err)
		err = -errno;
	return err;
}

static void cf_tail(const char *path, int lines)
{
	char *buf = NULL;
	size_t cap = 0, len = 0;
	const char *p;
	FILE *f;
	int n = 0;

	f = fopen(path, "re");
	if (!f)
		return;
	for (;;) {
		size_t r;

		if (len + 4096 + 1 > cap) {
			char *nb = realloc(buf, cap = cap ? cap * 2 : 65536);

			if (!nb)
				break;
			buf = nb;
		}
		r = fread(buf + len, 1, cap - len - 1, f);
		if (!r)
			break;
		len += r;
	}
	fclose(f);
	if (!buf)
		return;
	buf[len] = 0;
	for (p = buf + len; p > buf; p--) {
		if (p[-1] == '\n' && ++n > lines)
			break;
	}
	fprintf(stderr, "    --- last lines of %s ---\n%s", path, p);
	free(buf);
}

/* --- manifests ----------------------------------------------------------------------------- */

struct cf_buf {
	char *p;
	size_t len, cap;
	bool overflow;
};

static void cf_puts(struct cf_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void cf_puts(struct cf_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->cap - b->len) {
		b->overflow = true;
		return;
	}
	b->len += (size_t)n;
}

static void cf_addr(int pod, int family, char *buf, size_t len)
{
	const struct nt_pod *p = &cf.env->pods[pod];

	if (family == AF_INET)
		inet_ntop(AF_INET, &p->v4, buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, &p->v6, buf, (socklen_t)len);
}

/* The pod's address as /32 or /128, or the /4 holding it, quoted for YAML. */
static int cf_placeholder(const char *fn, int pod, char *out, size_t len)
{
	const struct nt_pod *p = &cf.env->pods[pod];
	char a[INET6_ADDRSTRLEN];

	if (!strcmp(fn, "cidr")) {
		cf_addr(pod, cf.family, a, sizeof(a));
		snprintf(out, len, "\"%s/%d\"", a, cf.family == AF_INET ? 32 : 128);
		return 0;
	}
	if (!strcmp(fn, "net4")) {
		if (cf.family == AF_INET) {
			struct in_addr n = {.s_addr = p->v4.s_addr & htonl(0xf0000000u)};

			inet_ntop(AF_INET, &n, a, sizeof(a));
		} else {
			struct in6_addr n = {0};

			n.s6_addr[0] = p->v6.s6_addr[0] & 0xf0;
			inet_ntop(AF_INET6, &n, a, sizeof(a));
		}
		snprintf(out, len, "\"%s/4\"", a);
		return 0;
	}
	return -EINVAL;
}

/* spec with $fn(ns/pod) placeholders expanded */
static int cf_expand(const char *spec, struct cf_buf *b)
{
	const char *p = spec;

	while (*p) {
		const char *d = strchr(p, '$');
		char fn[16], pod[8], val[96];
		const char *open, *close;
		int idx;

		if (!d) {
			cf_puts(b, "%s", p);
			break;
		}
		cf_puts(b, "%.*s", (int)(d - p), p);
		open = strchr(d, '(');
		close = open ? strchr(open, ')') : NULL;
		if (!close || open - d - 1 >= (long)sizeof(fn) ||
		    close - open - 1 >= (long)sizeof(pod))
			return -EINVAL;
		snprintf(fn, sizeof(fn), "%.*s", (int)(open - d - 1), d + 1);
		snprintf(pod, sizeof(pod), "%.*s", (int)(close - open - 1), open + 1);
		idx = cf_pod_index(pod);
		if (idx < 0 || cf_placeholder(fn, idx, val, sizeof(val)))
			return -EINVAL;
		cf_puts(b, "%s", val);
		p = close + 1;
	}
	return b->overflow ? -ENOSPC : 0;
}

static int cf_policy_doc(const struct cf_pol *pol, struct cf_buf *b)
{
	cf_puts(b,
		"---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		"metadata:\n  name: %s\n  namespace: %s\nspec: ",
		pol->name, pol->ns);
	if (cf_expand(pol->spec, b))
		return -EINVAL;
	cf_puts(b, "\n");
	return b->overflow ? -ENOSPC : 0;
}

/* Write the policies into a fresh file under tmp; path out. */
static int cf_policy_file(const struct cf_pol *const *pols, int n, const char *tag, char *path,
			  size_t plen)
{
	char text[CF_DOC_MAX];
	struct cf_buf b = {.p = text, .cap = sizeof(text)};
	int i, err;

	text[0] = 0;
	for (i = 0; i < n; i++) {
		err = cf_policy_doc(pols[i], &b);
		if (err)
			return err;
	}
	err = nt_pathf(path, plen, "%s/%s-%u.yaml", cf.tmp, tag, ++cf.seq);
	return err ?: cf_write(path, text);
}

/* Namespaces x, y, z and the nine pods, with the current label overrides. */
static int cf_model_file(char *path, size_t plen)
{
	static const char *const cports[] = {"80-tcp", "80-udp", "81-tcp", "81-udp"};
	static char text[CF_DOC_MAX];
	struct cf_buf b = {.p = text, .cap = sizeof(text)};
	int i, k, err;

	for (i = 0; i < 3; i++)
		cf_puts(&b,
			"---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: %c\n"
			"  labels: {kubernetes.io/metadata.name: %c%s}\n",
			"xyz"[i], "xyz"[i], cf.ns_labels[i]);
	for (i = 1; i <= CF_NPODS; i++) {
		char v4[INET6_ADDRSTRLEN], v6[INET6_ADDRSTRLEN];

		cf_addr(i, AF_INET, v4, sizeof(v4));
		cf_addr(i, AF_INET6, v6, sizeof(v6));
		cf_puts(&b,
			"---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: %c\n  namespace: %c\n"
			"  labels: {pod: %c%s}\n  annotations:\n"
			"    podwall.io/interface: %s\n    podwall.io/cgroup: p%d\n"
			"spec:\n  containers:\n",
			cf_pod_short(i), cf_pod_ns(i), cf_pod_short(i), cf.pod_labels[i],
			cf.env->pods[i].host_if, i);
		/* one container per served port, named as upstream's model names them */
		for (k = 0; k < 4; k++) {
			char proto[4] = {0};
			int c;

			for (c = 0; c < 3; c++)
				proto[c] = (char)(cports[k][3 + c] - 'a' + 'A');
			cf_puts(&b,
				"  - name: cont-%s\n    image: registry.k8s.io/e2e-test-images/"
				"agnhost:2.47\n    ports:\n    - name: serve-%s\n"
				"      containerPort: %.2s\n      protocol: %s\n",
				cports[k], cports[k], cports[k], proto);
		}
		cf_puts(&b, "status:\n  podIPs:\n  - ip: %s\n  - ip: \"%s\"\n", v4, v6);
	}
	if (b.overflow)
		return -ENOSPC;
	err = nt_pathf(path, plen, "%s/model-%u.yaml", cf.tmp, ++cf.seq);
	return err ?: cf_write(path, text);
}

/* --- the CLI and the daemon ---------------------------------------------------------------- */

/*
 * Run `podwall --socket S VERB -f FILE`; *status is its exit code (-1: killed), out gets its
 * stdout and stderr. Returns 0 when it ran.
 */
static int cf_cli(const char *verb, const char *file, int *status, char *out, size_t outlen)
{
	uint64_t deadline = nt_now_us() + (uint64_t)CF_CLI_TMO_MS * 1000;
	size_t got = 0;
	int p[2], st = 0, err = 0;
	pid_t pid, parent = getpid();

	*status = -1;
	out[0] = 0;
	if (pipe2(p, O_CLOEXEC))
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		err = -errno;
		close(p[0]);
		close(p[1]);
		return err;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(126);
		dup2(p[1], 1);
		dup2(p[1], 2);
		execl(PW_CF_PODWALL, "podwall", "--socket", cf.sock, verb, "-f", file,
		      (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	for (;;) {
		struct pollfd pfd = {.fd = p[0], .events = POLLIN};
		uint64_t now = nt_now_us();
		char sink[512];
		ssize_t r;
		int n;

		if (now >= deadline) {
			err = -ETIMEDOUT;
			kill(pid, SIGKILL);
			break;
		}
		n = poll(&pfd, 1, (int)((deadline - now) / 1000) + 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			continue;
		if (got + 1 < outlen)
			r = read(p[0], out + got, outlen - got - 1);
		else
			r = read(p[0], sink, sizeof(sink));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (got + 1 < outlen)
			got += (size_t)r;
	}
	out[got] = 0;
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return err ?: -errno;
	}
	if (WIFEXITED(st))
		*status = WEXITSTATUS(st);
	return err;
}

/* podwall apply/delete that must succeed */
static int cf_cli_ok(const char *verb, const char *file)
{
	char out[8192];
	int st, err;

	err = cf_cli(verb, file, &st, out, sizeof(out));
	if (err || st != 0) {
		cf_log("    podwall %s -f %s: exit %d (%s)\n%s", verb, file, st,
		       err ? strerror(-err) : "ran", out);
		return err ?: -EIO;
	}
	return 0;
}

static bool cf_socket_ready(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	bool ok;
	int fd;

	if (strlen(cf.sock) >= sizeof(sa.sun_path))
		return false;
	memcpy(sa.sun_path, cf.sock, strlen(cf.sock));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	ok = !connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	return ok;
}

/*
 * podwalld in the node netns (this process lives there after nt_env_setup, so a plain fork
 * inherits it), with everything it owns private to this run. Returns once its control socket
 * accepts connections: it opens the socket last, after the datapath is up.
 */
static int cf_daemon_start(void)
{
	char manifests[PATH_MAX], state[PATH_MAX];
	uint64_t deadline;
	pid_t parent = getpid();
	int err;

	if ((err = nt_pathf(manifests, sizeof(manifests), "%s/manifests", cf.tmp)) ||
	    (err = nt_pathf(state, sizeof(state), "%s/state", cf.tmp)))
		return err;
	if (mkdir(manifests, 0700) || mkdir(state, 0700))
		return -errno;
	fflush(NULL);
	cf.daemon = fork();
	if (cf.daemon < 0) {
		err = -errno;
		cf.daemon = 0;
		return err;
	}
	if (cf.daemon == 0) {
		int fd;

		/* never outlive the test, even a SIGKILLed one */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(126);
		fd = open(cf.log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			_exit(125);
		dup2(fd, 1);
		dup2(fd, 2);
		execl(PW_CF_PODWALLD, "podwalld", "--manifests", manifests, "--socket", cf.sock,
		      "--bpffs", cf.bpffs, "--cgroup-root", cf.env->cgroot, "--state-dir", state,
		      (char *)NULL);
		_exit(127);
	}
	deadline = nt_now_us() + (uint64_t)CF_READY_TMO_MS * 1000;
	while (!cf_socket_ready()) {
		struct timespec ts = {0, 5 * 1000 * 1000};
		int st;

		if (waitpid(cf.daemon, &st, WNOHANG) == cf.daemon) {
			cf.daemon = 0;
			cf_log("podwalld exited during start-up (status 0x%x)", st);
			cf_tail(cf.log, 40);
			return -ECHILD;
		}
		if (nt_now_us() > deadline) {
			cf_log("podwalld did not open %s within %d ms", cf.sock, CF_READY_TMO_MS);
			cf_tail(cf.log, 40);
			return -ETIMEDOUT;
		}
		/* start-up only: polling for the socket, never a wait for enforcement */
		nanosleep(&ts, NULL);
	}
	return 0;
}

static int cf_apply_model(void)
{
	char path[PATH_MAX];
	int err = cf_model_file(path, sizeof(path));

	return err ?: cf_cli_ok("apply", path);
}

/* --- servers ------------------------------------------------------------------------------- */

/* TCP and UDP echo on every port of cf_ports, IPv4 and IPv6: the pod's "agnhost". */
static void cf_server(struct nt_env *env, struct nt_pod *pod, void *arg, int res_fd, int cmd_fd)
{
	nt_echo_serve(res_fd, cf_ports, CF_NPORTS);
}

static int cf_servers_start(void)
{
	int i, err;

	for (i = 1; i <= CF_NPODS; i++) {
		struct pollfd pfd;
		char ready = 0;

		err = nt_child_start(cf.env, i, "cfserver", cf_server, NULL, &cf.servers[i]);
		if (err)
			return err;
		pfd = (struct pollfd){.fd = cf.servers[i].res_fd, .events = POLLIN};
		if (poll(&pfd, 1, CF_SLACK_MS) != 1 || read(pfd.fd, &ready, 1) != 1 ||
		    ready != 'R') {
			cf_log("server in pod %s did not start", cf_pod_name[i]);
			return -EIO;
		}
	}
	return 0;
}

static void cf_servers_stop(void)
{
	int i;

	for (i = 1; i <= CF_NPODS; i++) {
		if (cf.servers[i].pid > 0)
			nt_child_stop(cf.env, &cf.servers[i]);
	}
}

/* --- probes -------------------------------------------------------------------------------- */

enum cf_outcome {
	CF_NONE = 0,	/* no report */
	CF_ALLOWED = 1, /* connected and echoed (TCP), or the reply came back (UDP) */
	CF_DENIED = 2,	/* EPERM at the socket layer, or nothing within CF_TMO_MS */
	CF_ERROR = 3,	/* anything else (refused: nothing listening, a harness bug) */
};

struct cf_rec {
	uint8_t spec;
	uint8_t dst;
	int8_t outcome;
	uint8_t pad;
	int32_t err;
};

struct cf_preq {
	int family;
	int nspec;
	struct cf_spec spec[CF_MAX_SPECS];
};

static int cf_remaining_ms(uint64_t deadline)
{
	uint64_t now = nt_now_us();

	return now >= deadline ? 0 : (int)((deadline - now + 999) / 1000);
}

static int cf_wait_fd(int fd, short ev, uint64_t deadline)
{
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = ev};
		int n = poll(&pfd, 1, cf_remaining_ms(deadline));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		return n == 0 ? -ETIMEDOUT : 0;
	}
}

/* Send msg and wait for exactly its echo. */
static int cf_echo(int fd, bool stream)
{
	uint64_t deadline = nt_now_us() + (uint64_t)CF_TMO_MS * 1000;
	char msg[64], buf[128];
	size_t len, got = 0;
	int err;

	len = (size_t)snprintf(msg, sizeof(msg), "podwall-conformance %d", (int)getpid());
	if (send(fd, msg, len, MSG_NOSIGNAL) != (ssize_t)len)
		return -errno;
	while (got < len) {
		ssize_t r;

		err = cf_wait_fd(fd, POLLIN, deadline);
		if (err)
			return err;
		r = recv(fd, buf + got, sizeof(buf) - got, MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ECONNRESET;
		got += (size_t)r;
		if (!stream && got != len)
			return -EBADMSG;
	}
	return got == len && !memcmp(buf, msg, len) ? 0 : -EBADMSG;
}

/* One probe: 0 allowed, or -errno (-EPERM, -ETIMEDOUT: denied). */
static int cf_probe_one(int family, uint8_t proto, const struct sockaddr_storage *ss, socklen_t sl)
{
	int type = proto == IPPROTO_TCP ? SOCK_STREAM : SOCK_DGRAM;
	int fd, err;

	fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)ss, sl)) {
		int soerr = 0;
		socklen_t len = sizeof(soerr);

		err = -errno;
		if (err != -EINPROGRESS)
			goto out;
		err = cf_wait_fd(fd, POLLOUT, nt_now_us() + (uint64_t)CF_TMO_MS * 1000);
		if (err)
			goto out;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len)) {
			err = -errno;
			goto out;
		}
		err = -soerr;
		if (err)
			goto out;
	}
	err = cf_echo(fd, type == SOCK_STREAM);
out:
	close(fd);
	return err;
}

static int8_t cf_outcome(int err)
{
	if (!err)
		return CF_ALLOWED;
	/* EPERM: the socket layer refused; silence: a drop on the way (TC) */
	if (err == -EPERM || err == -ETIMEDOUT)
		return CF_DENIED;
	return CF_ERROR;
}

/*
 * Runs in the source pod (its container cgroup, then its netns): one process per probe, all
 * at once; each writes its record (atomic: smaller than PIPE_BUF) into the shared pipe.
 */
static void cf_launcher(struct nt_env *env, struct nt_pod *pod, void *arg, int res_fd, int cmd_fd)
{
	const struct cf_preq *rq = arg;
	pid_t me = getpid();
	int s, dst, kids = 0;

	for (s = 0; s < rq->nspec; s++) {
		for (dst = 1; dst <= CF_NPODS; dst++) {
			struct cf_rec rec = {.spec = (uint8_t)s, .dst = (uint8_t)dst};
			struct sockaddr_storage ss;
			socklen_t sl;
			pid_t pid;

			if (dst == pod->idx)
				continue;
			pid = fork();
			if (pid > 0) {
				kids++;
				continue;
			}
			if (pid == 0) {
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				if (getppid() != me)
					_exit(1);
				sl = nt_pod_sockaddr(env, dst, rq->family, rq->spec[s].port, &ss);
				rec.err = cf_probe_one(rq->family, rq->spec[s].proto, &ss, sl);
			} else {
				rec.err = -errno;
			}
			rec.outcome = pid < 0 ? CF_ERROR : cf_outcome(rec.err);
			if (write(res_fd, &rec, sizeof(rec)) != (ssize_t)sizeof(rec) && pid == 0)
				_exit(2);
			if (pid == 0)
				_exit(0);
		}
	}
	while (kids > 0) {
		if (wait(NULL) > 0)
			kids--;
		else if (errno != EINTR)
			break;
	}
}

struct cf_obs {
	int8_t outcome[CF_MAX_SPECS][CF_NPODS + 1][CF_NPODS + 1];
	int32_t err[CF_MAX_SPECS][CF_NPODS + 1][CF_NPODS + 1];
};

/* Probe every (source, destination) pair for every spec at once. */
static int cf_probe_all(const struct cf_spec *specs, int nspec, struct cf_obs *obs)
{
	struct nt_child kids[CF_NPODS + 1] = {0};
	struct cf_preq rq = {.family = cf.family, .nspec = nspec};
	uint64_t deadline;
	int src, open = 0, err = 0;
	struct {
		char buf[sizeof(struct cf_rec)];
		size_t have;
	} acc[CF_NPODS + 1] = {0};

	memset(obs, 0, sizeof(*obs));
	memcpy(rq.spec, specs, sizeof(*specs) * (size_t)nspec);
	for (src = 1; src <= CF_NPODS; src++) {
		kids[src].res_fd = kids[src].cmd_fd = -1;
		err = nt_child_start(cf.env, src, "cfprobe", cf_launcher, &rq, &kids[src]);
		if (err)
			goto out;
		open++;
	}
	/* connect and echo each have CF_TMO_MS */
	deadline = nt_now_us() + (uint64_t)(2 * CF_TMO_MS + CF_SLACK_MS) * 1000;
	while (open) {
		struct pollfd pfd[CF_NPODS];
		int map[CF_NPODS], n = 0, i, r;

		for (src = 1; src <= CF_NPODS; src++) {
			if (kids[src].res_fd < 0)
				continue;
			pfd[n] = (struct pollfd){.fd = kids[src].res_fd, .events = POLLIN};
			map[n++] = src;
		}
		r = poll(pfd, (nfds_t)n, cf_remaining_ms(deadline));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			cf_log("    probes did not all report within %d ms",
			       2 * CF_TMO_MS + CF_SLACK_MS);
			break;
		}
		for (i = 0; i < n; i++) {
			char buf[64 * sizeof(struct cf_rec)];
			ssize_t got;
			size_t k;

			if (!pfd[i].revents)
				continue;
			src = map[i];
			got = read(pfd[i].fd, buf, sizeof(buf));
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				close(kids[src].res_fd);
				kids[src].res_fd = -1;
				open--;
				continue;
			}
			for (k = 0; k < (size_t)got; k++) {
				struct cf_rec rec;

				acc[src].buf[acc[src].have++] = buf[k];
				if (acc[src].have < sizeof(rec))
					continue;
				acc[src].have = 0;
				memcpy(&rec, acc[src].buf, sizeof(rec));
				if (rec.spec < nspec && rec.dst >= 1 && rec.dst <= CF_NPODS) {
					obs->outcome[rec.spec][src][rec.dst] = rec.outcome;
					obs->err[rec.spec][src][rec.dst] = rec.err;
				}
			}
		}
	}
out:
	for (src = 1; src <= CF_NPODS; src++) {
		if (kids[src].pid > 0)
			nt_child_stop(cf.env, &kids[src]);
	}
	return err;
}

static const char *cf_family_name(void)
{
	return cf.family == AF_INET ? "IPv4" : "IPv6";
}

static const char *cf_proto_name(uint8_t proto)
{
	return proto == IPPROTO_TCP ? "TCP" : proto == IPPROTO_UDP ? "UDP" : "SCTP";
}

/* Compare with the expected matrices; on a mismatch print upstream-style truth tables. */
static int cf_check(const struct cf_spec *specs, int nspec, const struct cf_obs *obs)
{
	bool deny[CF_NPODS + 1][CF_NPODS + 1];
	int s, f, t, bad_total = 0;

	for (s = 0; s < nspec; s++) {
		char exp[CF_NPODS + 1][CF_NPODS + 1], got[CF_NPODS + 1][CF_NPODS + 1];
		char cmp[CF_NPODS + 1][CF_NPODS + 1];
		int bad = 0;

		if (cf_expect(specs[s].deny, deny))
			return -EINVAL;
		for (f = 1; f <= CF_NPODS; f++) {
			for (t = 1; t <= CF_NPODS; t++) {
				int o = obs->outcome[s][f][t];
				bool ok;

				if (f == t)
					continue;
				exp[f][t] = deny[f][t] ? 'X' : '.';
				got[f][t] = o == CF_ALLOWED ? '.' : o == CF_DENIED ? 'X' : '!';
				ok = (deny[f][t] && o == CF_DENIED) ||
				     (!deny[f][t] && o == CF_ALLOWED);
				cmp[f][t] = ok ? '.' : 'X';
				bad += !ok;
			}
		}
		if (!bad)
			continue;
		bad_total += bad;
		cf_log("    %s/%u %s: %d of 72 cells differ (deny spec \"%s\")",
		       cf_proto_name(specs[s].proto), specs[s].port, cf_family_name(), bad,
		       specs[s].deny);
		cf_print_table(stderr, "expected (X = denied; rows: from, columns: to)", exp);
		cf_print_table(stderr, "observed (! = error, see below)", got);
		cf_print_table(stderr, "comparison (X = differs)", cmp);
		for (f = 1; f <= CF_NPODS; f++) {
			for (t = 1; t <= CF_NPODS; t++) {
				int o = obs->outcome[s][f][t];

				if (f == t || cmp[f][t] == '.')
					continue;
				cf_log("      %s -> %s: expected %s, got %s (%s)", cf_pod_name[f],
				       cf_pod_name[t], deny[f][t] ? "denied" : "allowed",
				       o == CF_ALLOWED	? "allowed"
				       : o == CF_DENIED ? "denied"
				       : o == CF_NONE	? "no report"
							: "error",
				       obs->err[s][f][t] ? strerror(-obs->err[s][f][t]) : "ok");
			}
		}
	}
	return bad_total ? -EIO : 0;
}

/* --- running cases --------------------------------------------------------------------------- */

static void cf_live_set(const struct cf_pol *pol)
{
	int i;

	for (i = 0; i < cf.nlive; i++) {
		if (!strcmp(cf.live[i]->ns, pol->ns) && !strcmp(cf.live[i]->name, pol->name)) {
			cf.live[i] = pol; /* an update: the newest text */
			return;
		}
	}
	if (cf.nlive < (int)(sizeof(cf.live) / sizeof(cf.live[0])))
		cf.live[cf.nlive++] = pol;
}

static void cf_live_del(const struct cf_pol *pol)
{
	int i;

	for (i = 0; i < cf.nlive; i++) {
		if (!strcmp(cf.live[i]->ns, pol->ns) && !strcmp(cf.live[i]->name, pol->name)) {
			cf.live[i] = cf.live[--cf.nlive];
			return;
		}
	}
}

static int cf_npols(const struct cf_step *st)
{
	int n = 0;

	while (n < CF_MAX_POLS && st->pol[n])
		n++;
	return n;
}

/* A bad manifest: exit code 1, and a message naming the file, the document and the field. */
static int cf_apply_bad(const struct cf_step *st)
{
	char path[PATH_MAX], out[8192];
	const char *base;
	int stat, err;

	err = cf_policy_file(st->pol, cf_npols(st), "bad", path, sizeof(path));
	if (err)
		return err;
	err = cf_cli("apply", path, &stat, out, sizeof(out));
	if (err)
		return err;
	base = strrchr(path, '/') + 1;
	if (stat != 1 || !strstr(out, base) || !strstr(out, "document 2") ||
	    !strstr(out, "endPort")) {
		cf_log("    podwall apply -f %s: exit %d, expected 1 and an error naming the file, "
		       "\"document 2\" and \"endPort\":\n%s",
		       path, stat, out);
		return -EIO;
	}
	cf_log("    bad manifest refused as expected: %.*s", (int)strcspn(out, "\n"), out);
	return 0;
}

static int cf_step(const struct cf_case *c, const struct cf_step *st, bool *model_dirty)
{
	char path[PATH_MAX];
	struct cf_obs obs;
	uint64_t t0 = nt_now_us();
	int n, i, err;

	switch (st->op) {
	case CF_APPLY:
	case CF_DELETE:
		n = cf_npols(st);
		err = cf_policy_file(st->pol, n, c->id, path, sizeof(path));
		if (err)
			return err;
		err = cf_cli_ok(st->op == CF_APPLY ? "apply" : "delete", path);
		if (err)
			return err;
		for (i = 0; i < n; i++) {
			if (st->op == CF_APPLY)
				cf_live_set(st->pol[i]);
			else
				cf_live_del(st->pol[i]);
		}
		return 0;
	case CF_APPLY_BAD:
		return cf_apply_bad(st);
	case CF_LABEL_NS:
		i = st->target[0] - 'x';
		snprintf(cf.ns_labels[i], sizeof(cf.ns_labels[i]), "%s", st->labels);
		*model_dirty = true;
		return cf_apply_model();
	case CF_LABEL_POD:
		i = cf_pod_index(st->target);
		if (i < 0)
			return -EINVAL;
		snprintf(cf.pod_labels[i], sizeof(cf.pod_labels[i]), "%s", st->labels);
		*model_dirty = true;
		return cf_apply_model();
	case CF_PROBE:
		for (n = 0; n < CF_MAX_SPECS && st->spec[n].proto; n++)
			;
		err = cf_probe_all(st->spec, n, &obs);
		if (err)
			return err;
		err = cf_check(st->spec, n, &obs);
		for (i = 0; i < n; i++)
			cf_log("    %s %s/%u: %s", err ? "probed" : "ok",
			       cf_proto_name(st->spec[i].proto), st->spec[i].port,
			       *st->spec[i].deny ? st->spec[i].deny : "all allowed");
		cf_log("    (%d x 72 probes in %llu ms)", n,
		       (unsigned long long)((nt_now_us() - t0) / 1000));
		return err;
	case CF_END:
		break;
	}
	return 0;
}

/*
 * Put the shared state back: delete what the case applied, restore the model's labels. A
 * failure here leaves the next cases on unknown ground: fatal.
 */
static int cf_restore(const char *id, bool model_dirty)
{
	char path[PATH_MAX];
	int err = 0;

	if (cf.nlive) {
		err = cf_policy_file(cf.live, cf.nlive, "cleanup", path, sizeof(path));
		if (!err)
			err = cf_cli_ok("delete", path);
		if (err) {
			cf_log("%s: cannot delete its policies: %s", id, strerror(-err));
			return err;
		}
		cf.nlive = 0;
	}
	if (model_dirty) {
		memset(cf.ns_labels, 0, sizeof(cf.ns_labels));
		memset(cf.pod_labels, 0, sizeof(cf.pod_labels));
		err = cf_apply_model();
		if (err)
			cf_log("%s: cannot restore the model's labels: %s", id, strerror(-err));
	}
	return err;
}

static int cf_run_case(const struct cf_case *c, bool *fatal)
{
	uint64_t t0 = nt_now_us();
	bool dirty = false;
	int err = 0, i;

	cf_log("--- %s [%s] %s", c->id, cf_family_name(), c->title);
	for (i = 0; i < CF_MAX_STEPS && c->steps[i].op != CF_END; i++) {
		err = cf_step(c, &c->steps[i], &dirty);
		if (err)
			break;
	}
	if (cf_restore(c->id, dirty))
		*fatal = true;
	cf_log("%s %s [%s] (%llu ms)", err ? "FAIL" : "PASS", c->id, cf_family_name(),
	       (unsigned long long)((nt_now_us() - t0) / 1000));
	return err;
}

/* --- setup and main ----------------------------------------------------------------------------
 */

static int cf_setup(void)
{
	int err;

	cf.owner = getpid();
	cf_cleanup_stale();
	err = nt_env_setup(CF_NPODS, &cf.env);
	if (err) {
		cf_log("netns environment (9 pods): %s", strerror(-err));
		return err;
	}
	cf_install_hooks();
	if ((err = nt_pathf(cf.tmp, sizeof(cf.tmp), CF_TMP_ROOT "/" CF_PREFIX "%d", cf.owner)) ||
	    (err = nt_pathf(cf.bpffs, sizeof(cf.bpffs), CF_BPFFS_ROOT "/" CF_PREFIX "%d",
			    cf.owner)) ||
	    (err = nt_pathf(cf.sock, sizeof(cf.sock), "%s/podwall.sock", cf.tmp)) ||
	    (err = nt_pathf(cf.log, sizeof(cf.log), "%s/podwalld.log", cf.tmp)))
		return err;
	if (mkdir(cf.tmp, 0700))
		return -errno;
	cf.made_tmp = true;
	err = cf_servers_start();
	if (err)
		return err;
	err = cf_daemon_start();
	if (err)
		return err;
	return cf_apply_model();
}

static int cf_teardown(void)
{
	struct stat st;
	int err = 0;

	if (!cf.env)
		return 0;
	cf_servers_stop();
	cf_cleanup_own();
	if (!lstat(cf.bpffs, &st) || !lstat(cf.tmp, &st)) {
		cf_log("left behind: %s or %s", cf.bpffs, cf.tmp);
		err = -EBUSY;
	}
	if (nt_env_teardown(cf.env))
		err = -EBUSY;
	cf.env = NULL;
	return err;
}

static bool cf_selected(const struct cf_case *c, int argc, char **argv)
{
	bool any_id = false;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "v4") || !strcmp(argv[i], "v6"))
			continue;
		any_id = true;
		if (!strcmp(argv[i], c->id))
			return true;
	}
	return !any_id;
}

int main(int argc, char **argv)
{
	static const struct cf_spec baseline[] = {TCP(80, ""), UDP(81, "")};
	unsigned int fams = 0;
	int ran = 0, failed = 0, g, i, err;
	bool fatal = false;
	char failures[1024] = "";
	struct cf_obs obs;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "v4"))
			fams |= CF_V4;
		else if (!strcmp(argv[i], "v6"))
			fams |= CF_V6;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("usage: %s [v4] [v6] [CASE-ID...]\n", argv[0]);
			return 0;
		}
	}
	if (!fams)
		fams = CF_V4 | CF_V6;

	err = cf_setup();
	if (err) {
		cf_log("setup failed: %s", strerror(-err));
		cf_teardown();
		return 1;
	}
	for (g = 0; g < 2 && !fatal; g++) {
		unsigned int fam = g ? CF_V6 : CF_V4;

		if (!(fams & fam))
			continue;
		cf.family = g ? AF_INET6 : AF_INET;
		/* before any policy: everything reaches everything, both protocols */
		cf_log("--- baseline [%s]: no policies, every pair allowed", cf_family_name());
		err = cf_probe_all(baseline, 2, &obs);
		if (err || cf_check(baseline, 2, &obs)) {
			cf_log("FAIL baseline [%s]: the model does not reach itself without "
			       "policies",
			       cf_family_name());
			failed++;
			break;
		}
		for (i = 0; i < (int)CF_NCASES && !fatal; i++) {
			const struct cf_case *c = &cf_cases[i];

			if (!(c->fams & fam) || !cf_selected(c, argc, argv))
				continue;
			ran++;
			if (cf_run_case(c, &fatal)) {
				failed++;
				snprintf(failures + strlen(failures),
					 sizeof(failures) - strlen(failures), " %s[%s]", c->id,
					 cf_family_name());
			}
		}
	}
	if (failed || fatal)
		cf_tail(cf.log, 30);
	if (cf_teardown()) {
		cf_log("teardown left things behind");
		failed++;
	}
	cf_log("%d cases run, %d failed%s%s", ran, failed, failed ? ":" : "", failures);
	if (!ran && !failed) {
		cf_log("no case selected");
		return 1;
	}
	return failed || fatal ? 1 : 0;
}
