// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The policy compiler, without a datapath: manifests go through the real parser into the
 * store, the compiler produces the desired map contents, and verdicts come from evaluating
 * those contents the way bpf/lib/policy.h evaluates the maps (ipcache longest match, then the
 * policy trie for the exact peer, its CIDR identity and ANY).
 *
 * Every sync compiles twice, incrementally (from the last committed result) and from scratch,
 * and the two must be identical: the incremental work list is tested by every case.
 *
 * The upstream conformance cases T01-T42 (../shared/netpol/upstream-e2e.md) are truth tables
 * over namespaces x, y, z and pods a, b, c: every (from, to) pair is checked.
 */
#define _GNU_SOURCE /* unshare */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <cmocka.h>

#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compile.h"
#include "cp.h"
#include "namedcidr.h"
#include "parse.h"
#include "reconcile.h"
#include "store.h"
#include "views.h"

struct world {
	struct pw_state st;
	struct pw_desired d;
	size_t last_recompiled;
	size_t last_peers; /* of which towards the changed identities only */
	struct pw_named_cidrs named;
};

static void w_apply(struct world *w, const char *yaml)
{
	struct pw_manifest *m = NULL;
	struct pw_diags diags = {0};
	size_t i;
	int err;

	err = pw_parse_buffer("test.yaml", yaml, strlen(yaml), NULL, &m, &diags);
	if (err) {
		for (i = 0; i < diags.n; i++)
			fprintf(stderr, "%s\n", diags.v[i].text);
		fprintf(stderr, "in:\n%s\n", yaml);
	}
	assert_int_equal(err, 0);
	for (i = 0; i < m->n; i++)
		assert_int_equal(pw_state_put(&w->st, &m->objs[i], "test"), 0);
	pw_manifest_free(m);
	pw_diags_clear(&diags);
}

/* "kind/ns/name" */
static void w_delete(struct world *w, const char *what)
{
	char kind[32], ns[64], name[64];
	enum pw_kind k;

	assert_int_equal(sscanf(what, "%31[^/]/%63[^/]/%63s", kind, ns, name), 3);
	k = !strcmp(kind, "pod")  ? PW_KIND_POD
	    : !strcmp(kind, "ns") ? PW_KIND_NAMESPACE
				  : PW_KIND_NETPOL;
	assert_int_equal(pw_state_delete(&w->st, k, ns, name), 0);
}

static void w_sync(struct world *w)
{
	struct pw_desired inc = {0}, full = {0};
	size_t i;

	pw_state_assign_ep_ids(&w->st);
	/* stands in for if_nametoindex: every bound pod's interface exists */
	for (i = 0; i < pw_state_count(&w->st, PW_KIND_POD); i++) {
		struct pw_sobj *o = pw_state_at(&w->st, PW_KIND_POD, i);

		if (o->local && !o->ifindex)
			o->ifindex = 1000 + o->ep_id;
	}
	assert_int_equal(pw_named_cidrs_sync(&w->st, &w->named), 0);
	assert_int_equal(pw_compile(&w->st, &w->d, &inc), 0);
	assert_int_equal(pw_compile(&w->st, NULL, &full), 0);
	assert_true(pw_desired_equal(&inc, &full));
	w->last_recompiled = inc.n_recompiled;
	w->last_peers = inc.n_recompiled_peers;
	pw_state_commit(&w->st);
	pw_desired_clear(&w->d);
	w->d = inc;
	pw_desired_clear(&full);
}

static void w_free(struct world *w)
{
	pw_named_cidrs_clear(NULL, &w->named);
	pw_desired_clear(&w->d);
	pw_state_clear(&w->st);
}

static struct pw_sobj *pod(struct world *w, const char *nsname)
{
	char ns[64], name[64];
	struct pw_sobj *o;

	assert_int_equal(sscanf(nsname, "%63[^/]/%63s", ns, name), 2);
	o = pw_state_find(&w->st, PW_KIND_POD, ns, name);
	assert_non_null(o);
	return o;
}

static uint32_t ep_flags(struct world *w, const struct pw_sobj *o)
{
	const struct pw_endpoint *ep = pw_desired_endpoint(&w->d, o->ep_id);

	assert_non_null(ep);
	assert_int_equal(ep->identity, o->ident->id);
	return ep->flags;
}

/* One side's verdict: the subject pod talking to addr. */
static int side(struct world *w, const struct pw_sobj *subj, uint8_t dir, const struct pw_addr *a,
		uint8_t proto, uint16_t port, uint32_t *cookie)
{
	uint32_t c = 0;
	int r = pw_desired_decide(&w->d, subj->ident->id, ep_flags(w, subj), dir, a, proto, port,
				  &c, NULL);

	if (cookie)
		*cookie = c;
	return r;
}

/* A connection between two pods needs the client's egress and the server's ingress. */
static bool allowed(struct world *w, const char *from, const char *to, uint8_t proto, uint16_t port)
{
	struct pw_sobj *f = pod(w, from), *t = pod(w, to);
	int e, i;

	e = side(w, f, PW_DIR_EGRESS, &t->obj.u.pod.ips[0], proto, port, NULL);
	i = side(w, t, PW_DIR_INGRESS, &f->obj.u.pod.ips[0], proto, port, NULL);
	return !pw_reason_is_drop((unsigned)e) && !pw_reason_is_drop((unsigned)i);
}

static bool addr_egress(struct world *w, const char *from, const char *addr, uint8_t proto,
			uint16_t port)
{
	struct pw_addr a;

	assert_int_equal(pw_addr_parse(addr, &a), 0);
	return !pw_reason_is_drop(
		(unsigned)side(w, pod(w, from), PW_DIR_EGRESS, &a, proto, port, NULL));
}

static bool addr_ingress(struct world *w, const char *to, const char *addr, uint8_t proto,
			 uint16_t port)
{
	struct pw_addr a;

	assert_int_equal(pw_addr_parse(addr, &a), 0);
	return !pw_reason_is_drop(
		(unsigned)side(w, pod(w, to), PW_DIR_INGRESS, &a, proto, port, NULL));
}

/* --- the upstream model ---------------------------------------------------------------------- */

static const char *const NSS[] = {"x", "y", "z"};
static const char *const PODS[] = {"a", "b", "c"};

static void pod_yaml_l(char *buf, size_t len, const char *ns, const char *name, const char *label,
		       int nsi, int pi, const char *extra_labels)
{
	snprintf(buf, len,
		 "apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: %s\n"
		 "  labels: {pod: %s%s}\n"
		 "  annotations: {podwall.io/interface: v%s%s}\n"
		 "spec:\n  containers:\n  - name: c\n    ports:\n"
		 "    - {name: serve-80-tcp, containerPort: 80, protocol: TCP}\n"
		 "    - {name: serve-80-udp, containerPort: 80, protocol: UDP}\n"
		 "    - {name: serve-81-tcp, containerPort: 81, protocol: TCP}\n"
		 "    - {name: serve-81-udp, containerPort: 81, protocol: UDP}\n"
		 "status:\n  podIPs: [{ip: 198.18.%d.%d}, {ip: 'fd00::%d:%d'}]\n---\n",
		 name, ns, label, extra_labels ? extra_labels : "", ns, name, nsi, pi + 1, nsi,
		 pi + 1);
}

static void pod_yaml(char *buf, size_t len, const char *ns, const char *name, int nsi, int pi,
		     const char *extra_labels)
{
	pod_yaml_l(buf, len, ns, name, name, nsi, pi, extra_labels);
}

static void w_model(struct world *w)
{
	char buf[1024];
	int i, j;

	memset(w, 0, sizeof(*w));
	pw_state_init(&w->st);
	for (i = 0; i < 3; i++) {
		snprintf(buf, sizeof(buf),
			 "apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n", NSS[i]);
		w_apply(w, buf);
		for (j = 0; j < 3; j++) {
			pod_yaml(buf, sizeof(buf), NSS[i], PODS[j], i, j, NULL);
			w_apply(w, buf);
		}
	}
	w_sync(w);
}

static bool pat_match(const char *pat, const char *pod)
{
	size_t n;

	if (!strcmp(pat, "*"))
		return true;
	n = strlen(pat);
	if (n >= 2 && !strcmp(pat + n - 2, "/*"))
		return !strncmp(pat, pod, n - 1);
	return !strcmp(pat, pod);
}

/* list: space-separated "from>to" patterns; true when some pattern holds the pair */
static bool pairs_match(const char *list, const char *from, const char *to)
{
	char buf[512], *save = NULL, *tok;

	if (!list)
		return false;
	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *gt = strchr(tok, '>');

		assert_non_null(gt);
		*gt = '\0';
		if (pat_match(tok, from) && pat_match(gt + 1, to))
			return true;
	}
	return false;
}

/* The whole matrix: denied exactly when some deny pattern and no except pattern holds. */
static void check_matrix(struct world *w, const char *casename, uint8_t proto, uint16_t port,
			 const char *deny, const char *except)
{
	char from[8], to[8];
	int fi, ti, bad = 0;

	for (fi = 0; fi < 9; fi++) {
		snprintf(from, sizeof(from), "%s/%s", NSS[fi / 3], PODS[fi % 3]);
		for (ti = 0; ti < 9; ti++) {
			bool want, got;

			if (fi == ti)
				continue;
			snprintf(to, sizeof(to), "%s/%s", NSS[ti / 3], PODS[ti % 3]);
			want = !(pairs_match(deny, from, to) && !pairs_match(except, from, to));
			got = allowed(w, from, to, proto, port);
			if (want != got) {
				fprintf(stderr, "%s: %s -> %s proto %u port %u: want %s, got %s\n",
					casename, from, to, proto, port, want ? "allow" : "deny",
					got ? "allow" : "deny");
				bad++;
			}
		}
	}
	assert_int_equal(bad, 0);
}

#define NP(ns, name, spec)                                                              \
	"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: " name \
	", namespace: " ns "}\nspec: " spec "\n---\n"

#define L    "kubernetes.io/metadata.name"
#define TCP  IPPROTO_TCP
#define UDP  IPPROTO_UDP
#define SCTP IPPROTO_SCTP

struct step {
	const char *apply; /* manifests applied before the checks */
	const char *del;   /* "kind/ns/name ..." deleted before the checks */
	uint8_t proto;
	uint16_t port;
	const char *deny;
	const char *except;
};

struct tcase {
	const char *name;
	struct step steps[6];
};

/* The cases of upstream-e2e.md, in its notation: deny and except are "from>to" patterns. */
#define POL_T02             \
	NP("x", "deny-all", \
	   "{podSelector: {}, policyTypes: [Ingress, Egress], ingress: [], egress: []}")
#define POL_T14                                                                            \
	NP("x", "allow-81",                                                                \
	   "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: " \
	   "{matchLabels: {" L ": y}}}], ports: [{port: 81, protocol: TCP}]}]}")
#define POL_T35                                                                           \
	NP("x", "except",                                                                 \
	   "{podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: [{to: " \
	   "[{ipBlock: {cidr: 192.0.0.0/4, except: [198.18.0.2/32]}}]}]}")
#define NS_SEL_Y "{matchLabels: {" L ": y}}"

static const struct tcase cases[] = {
	{"T01 default-deny-ingress",
	 {{NP("x", "deny", "{podSelector: {}, policyTypes: [Ingress], ingress: []}"), NULL, TCP, 80,
	   "*>x/*"}}},
	{"T02 default-deny-all", {{POL_T02, NULL, TCP, 80, "*>x/* x/*>*"}}},
	{"T03 allow from pods in server ns by PodSelector",
	 {{NP("x", "p",
	      "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{podSelector: "
	      "{matchLabels: {pod: b}}}]}]}"),
	   NULL, TCP, 80, "*>x/a", "x/b>x/a"}}},
	{"T04 allow ingress for a target",
	 {{NP("x", "deny", "{podSelector: {}, ingress: []}")
		   NP("x", "p",
		      "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: "
		      "[{namespaceSelector: {}, podSelector: {}}]}]}"),
	   NULL, TCP, 80, "*>x/b *>x/c"}}},
	{"T05 allow from all namespaces",
	 {{NP("x", "p",
	      "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: "
	      "{}}]}]}"),
	   NULL, TCP, 80, NULL}}},
	{"T06 only from other ns by NamespaceSelector",
	 {{NP("x", "p",
	      "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: "
	      "[{namespaceSelector: " NS_SEL_Y "}]}]}"),
	   NULL, TCP, 80, "x/*>x/a z/*>x/a"}}},
	{"T07 PodSelector MatchExpressions",
	 {{NP("x", "p",
	      "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{podSelector: "
	      "{matchExpressions: [{key: pod, operator: In, values: [b]}]}}]}]}"),
	   NULL, TCP, 80, "*>x/a", "x/b>x/a"}}},
	{"T08 NamespaceSelector MatchExpressions",
	 {{NP("x", "p",
	      "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: "
	      "{matchExpressions: [{key: " L ", operator: In, values: [y]}]}}]}]}"),
	   NULL, TCP, 80, "x/*>x/a z/*>x/a"}}},
	{"T09 PodSelector OR NamespaceSelector",
	 {{NP("x", "p",
	      "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: "
	      "{matchExpressions: [{key: " L
	      ", operator: NotIn, values: [x]}]}}, {podSelector: {matchLabels: {pod: b}}}]}]}"),
	   NULL, TCP, 80, "x/c>x/a"}}},
	{"T10 PodSelector AND NamespaceSelector",
	 {{NP("x", "p",
	      "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: "
	      "{matchExpressions: [{key: " L
	      ", operator: NotIn, values: [x]}]}, podSelector: {matchLabels: {pod: b}}}]}]}"),
	   NULL, TCP, 80, "*>x/a", "y/b>x/a z/b>x/a"}}},
	{"T11 multiple pod and ns selectors",
	 {{NP("x", "p",
	      "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: "
	      "{matchExpressions: [{key: " L
	      ", operator: NotIn, values: [x]}]}, podSelector: {matchExpressions: [{key: pod, "
	      "operator: In, values: [b, c]}]}}]}]}"),
	   NULL, TCP, 80, "*>x/a", "y/b>x/a y/c>x/a z/b>x/a z/c>x/a"}}},
	{"T12 any of several PodSelectors",
	 {{NP("x", "p",
	      "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{podSelector: "
	      "{matchLabels: {pod: b}}}, {podSelector: {matchLabels: {pod: c}}}]}]}"),
	   NULL, TCP, 80, "*>x/a", "x/b>x/a x/c>x/a"}}},
	{"T13 pod in other ns by Pod+NamespaceSelector",
	 {{NP("x", "p",
	      "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: "
	      "[{namespaceSelector: " NS_SEL_Y ", podSelector: {matchLabels: {pod: a}}}]}]}"),
	   NULL, TCP, 80, "*>x/a", "y/a>x/a"}}},
	{"T14 based on Ports",
	 {{POL_T14, NULL, TCP, 81, "x/*>x/a z/*>x/a"}, {NULL, NULL, TCP, 80, "*>x/a"}}},
	{"T15 stacked policies",
	 {{POL_T14, NULL, TCP, 81, "x/*>x/a z/*>x/a"},
	  {NULL, NULL, TCP, 80, "*>x/a"},
	  {NP("x", "allow-80",
	      "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: "
	      "[{namespaceSelector: " NS_SEL_Y "}], ports: [{port: 80, protocol: TCP}]}]}"),
	   NULL, TCP, 80, "x/*>x/a z/*>x/a"},
	  {NULL, NULL, TCP, 81, "x/*>x/a z/*>x/a"}}},
	{"T16 allow-all",
	 {{NP("x", "p", "{podSelector: {}, ingress: [{}]}"), NULL, TCP, 80, NULL},
	  {NULL, NULL, TCP, 81, NULL}}},
	{"T17 ingress on one named port",
	 {{NP("x", "p", "{podSelector: {}, ingress: [{ports: [{port: serve-81-tcp}]}]}"), NULL, TCP,
	   81, NULL},
	  {NULL, NULL, TCP, 80, "*>x/*"}}},
	{"T18 ingress from ns on one named port",
	 {{NP("x", "p",
	      "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: "
	      "[{namespaceSelector: " NS_SEL_Y
	      "}], ports: [{port: serve-80-tcp, protocol: TCP}]}]}"),
	   NULL, TCP, 80, "x/*>x/a z/*>x/a"},
	  {NULL, NULL, TCP, 81, "*>x/a"}}},
	{"T19 egress on one named port",
	 {{NP("x", "p",
	      "{podSelector: {}, policyTypes: [Egress], egress: [{ports: [{port: "
	      "serve-80-tcp}]}]}"),
	   NULL, TCP, 80, NULL},
	  {NULL, NULL, TCP, 81, "x/*>*"}}},
	{"T20 updated policy",
	 {{NP("x", "p", "{podSelector: {}, ingress: [{}]}"), NULL, TCP, 81, NULL},
	  {NP("x", "p", "{podSelector: {}, ingress: []}"), NULL, TCP, 81, "*>x/*"}}},
	{"T21 ingress from updated namespace",
	 {{NP("x", "p",
	      "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: "
	      "{matchLabels: {ns2: updated}}}]}]}"),
	   NULL, TCP, 80, "*>x/a"},
	  {"apiVersion: v1\nkind: Namespace\nmetadata: {name: y, labels: {ns2: updated}}\n", NULL,
	   TCP, 80, "*>x/a", "y/*>x/a"}}},
	{"T22 ingress from updated pod",
	 {{NP("x", "p",
	      "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{podSelector: "
	      "{matchLabels: {pod: b, pod2: updated}}}]}]}"),
	   NULL, TCP, 80, "*>x/a"},
	  {"@x/b:, pod2: updated", NULL, TCP, 80, "*>x/a", "x/b>x/a"}}},
	{"T23 deny ingress from other namespaces",
	 {{NP("x", "p", "{podSelector: {}, ingress: [{from: [{podSelector: {}}]}]}"), NULL, TCP, 80,
	   "y/*>x/* z/*>x/*"}}},
	{"T24 deny ingress to updated pod",
	 {{NP("x", "p", "{podSelector: {matchLabels: {target: isolated}}, ingress: []}"), NULL, TCP,
	   80, NULL},
	  {"@x/a:, target: isolated", NULL, TCP, 80, "*>x/a"}}},
	{"T25 deny egress by PodSelector",
	 {{NP("x", "p",
	      "{podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: []}"),
	   NULL, TCP, 80, "x/a>*"}}},
	{"T26 deny egress from all pods in ns",
	 {{NP("x", "p", "{podSelector: {}, policyTypes: [Egress], egress: []}"), NULL, TCP, 80,
	   "x/*>*"}}},
	{"T27 Ingress and Egress together",
	 {{NP("x", "p",
	      "{podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress, Ingress], ingress: "
	      "[{from: [{podSelector: {matchLabels: {pod: b}}}]}], egress: [{ports: [{port: "
	      "80}]}]}"),
	   NULL, TCP, 80, "*>x/a", "x/b>x/a"},
	  {NULL, NULL, TCP, 81, "*>x/a x/a>*", "x/b>x/a"}}},
	{"T28 client-side egress deny beats server allow",
	 {{NP("x", "e",
	      "{podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: [{to: "
	      "[{namespaceSelector: " NS_SEL_Y ", podSelector: {matchLabels: {pod: a}}}]}]}")
		   NP("y", "ia",
		      "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: "
		      "[{namespaceSelector: {matchLabels: {" L
		      ": x}}, podSelector: {matchLabels: {pod: a}}}]}]}")
			   NP("y", "ib",
			      "{podSelector: {matchLabels: {pod: b}}, ingress: [{from: "
			      "[{namespaceSelector: {matchLabels: {" L
			      ": x}}, podSelector: {matchLabels: {pod: a}}}]}]}"),
	   NULL, TCP, 80, "x/a>* *>y/a *>y/b", "x/a>y/a"}}},
	{"T29 egress to other ns by Pod+NamespaceSelector",
	 {{NP("x", "e",
	      "{podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: [{to: "
	      "[{namespaceSelector: " NS_SEL_Y ", podSelector: {matchLabels: {pod: a}}}]}]}"),
	   NULL, TCP, 80, "x/a>*", "x/a>y/a"}}},
	{"T30 any port on a specific protocol",
	 {{NP("x", "p",
	      "{podSelector: {matchLabels: {pod: a}}, ingress: [{ports: [{protocol: TCP}]}]}"),
	   NULL, TCP, 80, NULL},
	  {NULL, NULL, UDP, 80, "*>x/a"},
	  {NULL, NULL, TCP, 4321, NULL}}},
	{"T31 ingress allow-all takes precedence",
	 {{NP("x", "p80", "{podSelector: {}, ingress: [{ports: [{port: 80}]}]}"), NULL, TCP, 81,
	   "*>x/*"},
	  {NP("x", "all", "{podSelector: {}, ingress: [{}]}"), NULL, TCP, 81, NULL}}},
	{"T32 egress allow-all takes precedence",
	 {{NP("x", "p80",
	      "{podSelector: {}, policyTypes: [Egress], egress: [{ports: [{port: 80}]}]}"),
	   NULL, TCP, 81, "x/*>*"},
	  {NP("x", "all", "{podSelector: {}, policyTypes: [Egress], egress: [{}]}"), NULL, TCP, 81,
	   NULL}}},
	{"T33 stop enforcing after delete",
	 {{POL_T02, NULL, TCP, 80, "x/*>* *>x/*"}, {NULL, "np/x/deny-all", TCP, 80, NULL}}},
	{"T34 egress to server in CIDR block",
	 {{NP("x", "e",
	      "{podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: [{to: "
	      "[{ipBlock: {cidr: 198.18.1.2/32}}]}]}"),
	   NULL, TCP, 80, "x/a>*", "x/a>y/b"}}},
	{"T35 except clause in egress CIDR", {{POL_T35, NULL, TCP, 80, "x/a>x/b"}}},
	{"T36 IP in CIDR and except allowed via another rule",
	 {{POL_T35, NULL, TCP, 80, "x/a>x/b"},
	  {NP("x", "except",
	      "{podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: [{to: "
	      "[{ipBlock: {cidr: 198.18.0.2/32}}]}]}"),
	   NULL, TCP, 80, "x/a>*", "x/a>x/b"}}},
	{"T37 ingress and egress controlled independently",
	 {{NP("x", "e",
	      "{podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: [{}]}"),
	   NULL, TCP, 80, NULL},
	  {NP("x", "i",
	      "{podSelector: {matchLabels: {pod: a}}, policyTypes: [Ingress], ingress: []}"),
	   NULL, TCP, 80, "*>x/a"}}},
	{"T38 SCTP is not TCP",
	 {{NP("x", "deny", "{podSelector: {}, ingress: []}")
		   NP("x", "sctp",
		      "{podSelector: {matchLabels: {pod: a}}, ingress: [{ports: [{port: 81, "
		      "protocol: SCTP}]}]}"),
	   NULL, TCP, 81, "*>x/*"},
	  {NULL, NULL, SCTP, 81, "*>x/b *>x/c"}}},
	{"T39 policy allowing SCTP still isolates",
	 {{NP("x", "p",
	      "{podSelector: {matchLabels: {pod: a}}, ingress: [{ports: [{port: 80, protocol: "
	      "SCTP}]}]}"),
	   NULL, TCP, 81, "*>x/a"},
	  {NULL, NULL, SCTP, 80, NULL},
	  {NULL, NULL, SCTP, 81, "*>x/a"}}},
	{"T40 UDP-only policy does not allow TCP",
	 {{NP("x", "p",
	      "{podSelector: {matchLabels: {pod: a}}, ingress: [{ports: [{port: 81, protocol: "
	      "UDP}]}]}"),
	   NULL, TCP, 81, "*>x/a"},
	  {NULL, NULL, UDP, 81, NULL}}},
	{"T41 NamespaceSelector on the default ns label",
	 {{NP("x", "p",
	      "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: "
	      "[{namespaceSelector: " NS_SEL_Y "}]}]}"),
	   NULL, TCP, 80, "x/*>x/a z/*>x/a"}}},
	{"T42 NamespaceSelector MatchExpressions egress",
	 {{NP("x", "p",
	      "{podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: [{to: "
	      "[{namespaceSelector: {matchExpressions: [{key: " L
	      ", operator: NotIn, values: [y]}]}}]}]}"),
	   NULL, TCP, 80, "x/a>y/*"}}},
	{"U1 default-deny-ingress over UDP",
	 {{NP("x", "deny", "{podSelector: {}, policyTypes: [Ingress], ingress: []}"), NULL, UDP, 80,
	   "*>x/*"}}},
	{"U2 based on Ports over UDP",
	 {{NP("x", "p",
	      "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: "
	      "[{namespaceSelector: " NS_SEL_Y "}], ports: [{port: 81, protocol: UDP}]}]}"),
	   NULL, UDP, 81, "x/*>x/a z/*>x/a"},
	  {NULL, NULL, TCP, 81, "*>x/a"}}},
	{"U3 Pod+NamespaceSelector over UDP",
	 {{NP("x", "p",
	      "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: "
	      "[{namespaceSelector: " NS_SEL_Y ", podSelector: {matchLabels: {pod: a}}}]}]}"),
	   NULL, UDP, 80, "*>x/a", "y/a>x/a"}}},
	{"S2 based on Ports over SCTP",
	 {{NP("x", "p",
	      "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: "
	      "[{namespaceSelector: " NS_SEL_Y "}], ports: [{port: 81, protocol: SCTP}]}]}"),
	   NULL, SCTP, 81, "x/*>x/a z/*>x/a"},
	  {NULL, NULL, TCP, 81, "*>x/a"}}},
};

/* "@ns/pod:, extra: labels" relabels a model pod (keeps its addresses and ports) */
static void apply_step(struct world *w, const struct step *s)
{
	char buf[1024], ns[16], name[16];
	const char *colon;
	int i, j;

	if (s->apply && s->apply[0] == '@') {
		colon = strchr(s->apply, ':');
		assert_int_equal(sscanf(s->apply + 1, "%15[^/]/%15[^:]", ns, name), 2);
		for (i = 0; i < 3 && strcmp(NSS[i], ns); i++)
			;
		for (j = 0; j < 3 && strcmp(PODS[j], name); j++)
			;
		pod_yaml(buf, sizeof(buf), ns, name, i, j, colon + 1);
		w_apply(w, buf);
	} else if (s->apply) {
		w_apply(w, s->apply);
	}
	if (s->del) {
		char dbuf[256], *save = NULL, *tok;

		snprintf(dbuf, sizeof(dbuf), "%s", s->del);
		for (tok = strtok_r(dbuf, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
			w_delete(w, tok);
	}
}

static void test_upstream(void **state)
{
	size_t c, s;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct world w;

		w_model(&w);
		for (s = 0; s < 6 && cases[c].steps[s].proto; s++) {
			const struct step *st = &cases[c].steps[s];

			apply_step(&w, st);
			if (st->apply || st->del)
				w_sync(&w);
			check_matrix(&w, cases[c].name, st->proto, st->port, st->deny, st->except);
		}
		w_free(&w);
	}
}

/* --- audit mode: mixes of enforced and audit policies against a reference ------------------- */

/*
 * The policies of the mixes, in namespace x: ingress deny-all, an allow for a from y on 80,
 * an egress lock on b that lets it reach c on 80, and an allow-all for c.
 */
static const char *const AUDIT_POLS[][2] = {
	{"deny-in", "{podSelector: {}, policyTypes: [Ingress], ingress: []}"},
	{"allow-a-80",
	 "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: "
	 "{matchLabels: {" L ": y}}}], ports: [{port: 80}]}]}"},
	{"b-egress",
	 "{podSelector: {matchLabels: {pod: b}}, policyTypes: [Egress], egress: [{to: "
	 "[{podSelector: {matchLabels: {pod: c}}}], ports: [{port: 80}]}]}"},
	{"allow-c", "{podSelector: {matchLabels: {pod: c}}, ingress: [{}]}"},
};
#define N_AUDIT_POLS 4

enum amode { A_ABSENT, A_ENFORCE, A_AUDIT, A_DEFAULT /* no annotation: the namespace's */ };

static void audit_pol_yaml(char *buf, size_t len, int i, const char *annot)
{
	snprintf(buf, len,
		 "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: %s, "
		 "namespace: x%s%s%s}\nspec: %s\n",
		 AUDIT_POLS[i][0], annot ? ", annotations: {podwall.io/enforcement: " : "",
		 annot ? annot : "", annot ? "}" : "", AUDIT_POLS[i][1]);
}

static void audit_ns_x(struct world *w, bool audit)
{
	w_apply(w, audit ? "apiVersion: v1\nkind: Namespace\nmetadata: {name: x, annotations: "
			   "{podwall.io/enforcement: audit}}\n"
			 : "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n");
}

/* Reference world: the policies with the given modes, none annotated (all enforced). */
static void audit_ref(struct world *w, const enum amode *m, bool ns_audit, bool with_audit)
{
	char buf[1024];
	int i;

	w_model(w);
	for (i = 0; i < N_AUDIT_POLS; i++) {
		bool audit = m[i] == A_AUDIT || (m[i] == A_DEFAULT && ns_audit);

		if (m[i] == A_ABSENT || (audit && !with_audit))
			continue;
		audit_pol_yaml(buf, sizeof(buf), i, NULL);
		w_apply(w, buf);
	}
	w_sync(w);
}

/*
 * One pair, one port, both sides, in the kernel world ws[0] and the references ws[1]
 * (enforced policies alone) and ws[2] (all enforced). Returns the mismatches, printed.
 */
static int audit_check_pair(struct world *const ws[3], const char *from, const char *to,
			    uint8_t proto, uint16_t port, const char *mixname, int *audits)
{
	int r[3][2], j, bad = 0;
	uint32_t cookie;

	for (j = 0; j < 3; j++) {
		struct pw_sobj *f = pod(ws[j], from), *t = pod(ws[j], to);

		r[j][0] = side(ws[j], f, PW_DIR_EGRESS, &t->obj.u.pod.ips[0], proto, port, NULL);
		r[j][1] = side(ws[j], t, PW_DIR_INGRESS, &f->obj.u.pod.ips[0], proto, port, NULL);
	}
	for (j = 0; j < 2; j++) {
		bool pass = !pw_reason_is_drop((unsigned)r[0][j]);
		bool want_pass = !pw_reason_is_drop((unsigned)r[1][j]);
		bool all_pass = !pw_reason_is_drop((unsigned)r[2][j]);
		bool audit = r[0][j] == PW_OK_AUDIT;
		struct pw_sobj *subj = pod(ws[0], j ? to : from), *peer = pod(ws[0], j ? from : to);
		int ra = pw_desired_decide_audit(&ws[0]->d, subj->ident->id, ep_flags(ws[0], subj),
						 j ? PW_DIR_INGRESS : PW_DIR_EGRESS,
						 &peer->obj.u.pod.ips[0], proto, port, &cookie);

		*audits += audit;
		/*
		 * The enforced verdict is that of the enforced policies alone; AUDIT is recorded
		 * exactly where enforcing the audit ones too denies what passes; explain's second
		 * verdict is the all-enforced one.
		 */
		if (pass == want_pass && audit == (want_pass && !all_pass) &&
		    pw_reason_is_drop((unsigned)ra) != all_pass)
			continue;
		fprintf(stderr,
			"%s: %s -> %s %u/%u %s: got %s, enforced-only %s, all %s, audit verdict "
			"%s\n",
			mixname, from, to, proto, port, j ? "ingress" : "egress",
			pw_reason_str((unsigned)r[0][j]), pw_reason_str((unsigned)r[1][j]),
			pw_reason_str((unsigned)r[2][j]), pw_reason_str((unsigned)ra));
		bad++;
	}
	return bad;
}

static void test_audit_mixes(void **state)
{
	static const uint8_t protos[] = {TCP, TCP, UDP};
	static const uint16_t ports[] = {80, 81, 80};
	static const char *const annots[] = {NULL, "enforce", "audit", NULL};
	struct world w;
	enum amode m[N_AUDIT_POLS];
	char buf[1024], from[8], to[8], mixname[64];
	int mix, i, fi, ti, k, bad = 0, audits = 0, checks = 0;

	w_model(&w);
	/* every mix of the four modes over the four policies, the namespace default alternating */
	for (mix = 0; mix < 4 * 4 * 4 * 4 * 2; mix++) {
		bool ns_audit = mix & 1;
		struct world enf, all;
		struct world *const ws[3] = {&w, &enf, &all};

		for (i = 0; i < N_AUDIT_POLS; i++)
			m[i] = (enum amode)((mix >> (1 + 2 * i)) & 3);
		snprintf(mixname, sizeof(mixname), "mix %d (modes %d%d%d%d, namespace %s)", mix,
			 m[0], m[1], m[2], m[3], ns_audit ? "audit" : "enforce");
		/* the kernel world changes incrementally; w_sync compares it with a full compile */
		audit_ns_x(&w, ns_audit);
		for (i = 0; i < N_AUDIT_POLS; i++) {
			if (m[i] != A_ABSENT) {
				audit_pol_yaml(buf, sizeof(buf), i, annots[m[i]]);
				w_apply(&w, buf);
			} else if (pw_state_find(&w.st, PW_KIND_NETPOL, "x", AUDIT_POLS[i][0])) {
				snprintf(buf, sizeof(buf), "np/x/%s", AUDIT_POLS[i][0]);
				w_delete(&w, buf);
			}
		}
		w_sync(&w);
		audit_ref(&enf, m, ns_audit, false);
		audit_ref(&all, m, ns_audit, true);
		for (fi = 0; fi < 9; fi++) {
			snprintf(from, sizeof(from), "%s/%s", NSS[fi / 3], PODS[fi % 3]);
			for (ti = 0; ti < 9; ti++) {
				snprintf(to, sizeof(to), "%s/%s", NSS[ti / 3], PODS[ti % 3]);
				for (k = 0; k < 3 && fi != ti; k++, checks += 2)
					bad += audit_check_pair(ws, from, to, protos[k], ports[k],
								mixname, &audits);
			}
		}
		w_free(&enf);
		w_free(&all);
	}
	w_free(&w);
	assert_int_equal(bad, 0);
	/* the table exercised both outcomes */
	assert_true(audits > 1000);
	assert_true(checks > audits * 4);
}

/* audit entries are flagged apart; the datapath looks only where nothing enforced isolates */
static void test_audit_entries(void **state)
{
	struct world w;
	const struct pw_dsubject *s;
	const uint32_t in_flags = PW_EP_F_ISOLATE_INGRESS | PW_EP_F_AUDIT_ISOLATE_INGRESS;
	struct pw_sobj *a;
	char buf[1024];
	size_t i, n_audit = 0;

	w_model(&w);
	audit_pol_yaml(buf, sizeof(buf), 1, "audit"); /* allow-a-80, audit */
	w_apply(&w, buf);
	w_sync(&w);
	a = pod(&w, "x/a");
	assert_int_equal(ep_flags(&w, a) & in_flags, PW_EP_F_AUDIT_ISOLATE_INGRESS);
	s = pw_desired_subject(&w.d, a->ident->id);
	assert_non_null(s);
	for (i = 0; i < s->n; i++) {
		assert_int_equal(s->keys[i].dir, PW_DIR_INGRESS | PW_POL_DIR_AUDIT);
		n_audit++;
	}
	assert_true(n_audit > 0);
	/* an enforced deny-all on the same pods: the flag goes, the entries stay (explain) */
	audit_pol_yaml(buf, sizeof(buf), 0, NULL);
	w_apply(&w, buf);
	w_sync(&w);
	assert_int_equal(ep_flags(&w, a) & in_flags, PW_EP_F_ISOLATE_INGRESS);
	s = pw_desired_subject(&w.d, a->ident->id);
	assert_non_null(s);
	for (i = 0; i < s->n; i++)
		assert_int_equal(s->keys[i].dir, PW_DIR_INGRESS | PW_POL_DIR_AUDIT);
	w_free(&w);
}

/* --- semantics points beyond the upstream cases --------------------------------------------- */

static void test_endport_inclusive(void **state)
{
	struct world w;
	const struct pw_dsubject *s;
	size_t i, n = 0;

	w_model(&w);
	w_apply(&w, NP("x", "range",
		       "{podSelector: {matchLabels: {pod: a}}, ingress: [{ports: [{port: 1000, "
		       "endPort: 1030}]}]}"));
	w_sync(&w);
	assert_false(allowed(&w, "y/a", "x/a", TCP, 999));
	assert_true(allowed(&w, "y/a", "x/a", TCP, 1000));
	assert_true(allowed(&w, "y/a", "x/a", TCP, 1023));
	assert_true(allowed(&w, "y/a", "x/a", TCP, 1024));
	assert_true(allowed(&w, "y/a", "x/a", TCP, 1030));
	assert_false(allowed(&w, "y/a", "x/a", TCP, 1031));
	assert_false(allowed(&w, "y/a", "x/a", UDP, 1000));
	/* 1000-1030 is 1000/13 1008/12 1024/14 1028/15 1030/16: five blocks, not 31 ports */
	s = pw_desired_subject(&w.d, pod(&w, "x/a")->ident->id);
	assert_non_null(s);
	for (i = 0; i < s->n; i++)
		n += s->keys[i].dir == PW_DIR_INGRESS;
	assert_int_equal(n, 5);
	w_free(&w);
}

static void test_ports_defaults(void **state)
{
	struct world w;

	w_model(&w);
	/* ports: [{}]: every TCP port, nothing else */
	w_apply(&w,
		NP("x", "p", "{podSelector: {matchLabels: {pod: a}}, ingress: [{ports: [{}]}]}"));
	/* ports: []: every port of every protocol */
	w_apply(&w, NP("x", "q", "{podSelector: {matchLabels: {pod: b}}, ingress: [{ports: []}]}"));
	w_sync(&w);
	assert_true(allowed(&w, "y/a", "x/a", TCP, 9));
	assert_false(allowed(&w, "y/a", "x/a", UDP, 9));
	assert_true(allowed(&w, "y/a", "x/b", UDP, 9));
	assert_true(allowed(&w, "y/a", "x/b", SCTP, 5));
	assert_true(addr_ingress(&w, "x/b", "203.0.113.9", IPPROTO_ICMP, 0));
	assert_false(addr_ingress(&w, "x/a", "203.0.113.9", IPPROTO_ICMP, 0));
	w_free(&w);
}

static void test_policy_types_default(void **state)
{
	struct world w;

	w_model(&w);
	/* no policyTypes and egress: []: Ingress only, egress stays open */
	w_apply(&w,
		NP("x", "p", "{podSelector: {matchLabels: {pod: a}}, ingress: [{}], egress: []}"));
	w_sync(&w);
	assert_int_equal(ep_flags(&w, pod(&w, "x/a")), PW_EP_F_ISOLATE_INGRESS);
	assert_true(allowed(&w, "x/a", "y/a", TCP, 80));
	/* no policyTypes, egress non-empty: both */
	w_apply(&w, NP("x", "p",
		       "{podSelector: {matchLabels: {pod: a}}, egress: [{ports: [{port: 53, "
		       "protocol: UDP}]}]}"));
	w_sync(&w);
	/* ingress isolated with no rule: no entry names any peer, the datapath skips that lookup */
	assert_int_equal(ep_flags(&w, pod(&w, "x/a")), PW_EP_F_ISOLATE_INGRESS |
							       PW_EP_F_ISOLATE_EGRESS |
							       PW_EP_F_NO_ANY_PEER_INGRESS);
	assert_false(allowed(&w, "x/a", "y/a", TCP, 80));
	assert_false(allowed(&w, "y/a", "x/a", TCP, 80));
	assert_true(addr_egress(&w, "x/a", "203.0.113.53", UDP, 53));
	/* unselected pods carry no isolation */
	assert_int_equal(ep_flags(&w, pod(&w, "x/b")), 0);
	/* a second policy allowing any peer on one port: the lookup is back, and it passes */
	w_apply(&w, NP("x", "q",
		       "{podSelector: {matchLabels: {pod: a}}, policyTypes: [Ingress], ingress: "
		       "[{ports: [{port: 80}]}]}"));
	w_sync(&w);
	assert_int_equal(ep_flags(&w, pod(&w, "x/a")),
			 PW_EP_F_ISOLATE_INGRESS | PW_EP_F_ISOLATE_EGRESS);
	assert_true(allowed(&w, "y/a", "x/a", TCP, 80));
	assert_false(allowed(&w, "y/a", "x/a", TCP, 81));
	w_free(&w);
}

static void test_ipblock_except_own_peer(void **state)
{
	struct world w;

	w_model(&w);
	w_apply(&w, NP("x", "p",
		       "{podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: "
		       "[{to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}, {ipBlock: "
		       "{cidr: 10.1.2.0/24}}]}]}"));
	w_sync(&w);
	assert_true(addr_egress(&w, "x/a", "10.9.9.9", TCP, 1));
	assert_false(addr_egress(&w, "x/a", "10.1.3.4", TCP, 1));
	/* the except carves only its own peer: the second peer still allows 10.1.2.0/24 */
	assert_true(addr_egress(&w, "x/a", "10.1.2.4", TCP, 1));
	assert_false(addr_egress(&w, "x/a", "11.0.0.1", TCP, 1));
	assert_false(allowed(&w, "x/a", "y/a", TCP, 80));
	w_free(&w);
}

static void test_ipblock_nested_across_policies(void **state)
{
	struct world w;

	w_model(&w);
	/* x/a: 10/8 except 10.1/16; x/b: 10.1.2.0/24 and 10.5/16; x/c: 10/8 */
	w_apply(&w,
		NP("x", "pa",
		   "{podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: [{to: "
		   "[{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]}]}")
			NP("x", "pb",
			   "{podSelector: {matchLabels: {pod: b}}, policyTypes: [Egress], egress: "
			   "[{to: [{ipBlock: {cidr: 10.1.2.0/24}}, {ipBlock: {cidr: "
			   "10.5.0.0/16}}]}]}")
				NP("x", "pc",
				   "{podSelector: {matchLabels: {pod: c}}, policyTypes: [Egress], "
				   "egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}}]}]}"));
	w_sync(&w);
	/* 10.1.2.5 resolves to x/b's /24, which lies inside x/a's except */
	assert_false(addr_egress(&w, "x/a", "10.1.2.5", TCP, 1));
	assert_true(addr_egress(&w, "x/a", "10.5.1.1", TCP, 1));
	assert_true(addr_egress(&w, "x/b", "10.1.2.5", TCP, 1));
	assert_false(addr_egress(&w, "x/b", "10.1.3.5", TCP, 1));
	assert_true(addr_egress(&w, "x/c", "10.1.2.5", TCP, 1));
	assert_true(addr_egress(&w, "x/c", "10.1.3.5", TCP, 1));
	assert_true(addr_egress(&w, "x/c", "10.5.1.1", TCP, 1));
	/* dropping the /24 policy keeps the verdicts of the others */
	w_delete(&w, "np/x/pb");
	w_sync(&w);
	assert_false(addr_egress(&w, "x/a", "10.1.2.5", TCP, 1));
	assert_true(addr_egress(&w, "x/c", "10.1.2.5", TCP, 1));
	assert_int_equal(ep_flags(&w, pod(&w, "x/b")), 0);
	assert_true(addr_egress(&w, "x/b", "10.1.2.5", TCP, 1));
	w_free(&w);
}

static void test_ipblock_ipv6_and_pods(void **state)
{
	struct world w;

	w_model(&w);
	w_apply(&w, NP("x", "p",
		       "{podSelector: {matchLabels: {pod: a}}, policyTypes: [Ingress], ingress: "
		       "[{from: [{ipBlock: {cidr: 'fd00::1:0/112'}}, {ipBlock: {cidr: "
		       "198.18.2.0/24, except: [198.18.2.3/32]}}]}]}"));
	w_sync(&w);
	/* pod addresses match ipBlocks through their CIDR identity */
	assert_true(addr_ingress(&w, "x/a", "fd00::1:2", TCP, 80));
	assert_false(addr_ingress(&w, "x/a", "fd00::2:2", TCP, 80));
	assert_true(allowed(&w, "z/a", "x/a", TCP, 80));
	assert_true(allowed(&w, "z/b", "x/a", TCP, 80));
	assert_false(allowed(&w, "z/c", "x/a", TCP, 80));
	assert_false(allowed(&w, "y/a", "x/a", TCP, 80));
	w_free(&w);
}

/* The reference the binary-search lookup must agree with: the longest holding prefix. */
static const struct pw_dipc *ipc_linear(const struct pw_desired *d, const struct pw_addr *a)
{
	const struct pw_dipc *best = NULL;

	for (size_t i = 0; i < d->n_ipc; i++) {
		if (pw_prefix_contains_addr(&d->ipc[i].prefix, a) &&
		    (!best || d->ipc[i].prefix.prefixlen > best->prefix.prefixlen))
			best = &d->ipc[i];
	}
	return best;
}

/*
 * pw_desired_ipcache_lookup searches per prefix length; random prefixes of both families,
 * nested and overlapping, and addresses drawn near them must give the linear scan's answer.
 */
static void test_ipcache_lookup_random(void **state)
{
	struct pw_desired d = {0};
	unsigned int seed = 20261122;
	size_t i, n = 0, cap = 600;

	(void)state;
	d.ipc = calloc(cap, sizeof(*d.ipc));
	assert_non_null(d.ipc);
	for (i = 0; i < cap; i++) {
		struct pw_dipc *e = &d.ipc[n];
		struct pw_addr a = {.family = rand_r(&seed) % 3 ? PW_FAMILY_V4 : PW_FAMILY_V6};
		unsigned int max = a.family == PW_FAMILY_V4 ? 32 : 128, len, b;

		/* a small address space, so prefixes nest and collide */
		a.a[0] = a.family == PW_FAMILY_V4 ? 198 : 0xfd;
		a.a[1] = (uint8_t)(rand_r(&seed) % 4);
		for (b = 2; b < max / 8; b++)
			a.a[b] = (uint8_t)(rand_r(&seed) % 3);
		len = rand_r(&seed) % 4 ? max - rand_r(&seed) % (max / 2)
					: rand_r(&seed) % (max + 1);
		pw_prefix_of_addr(&a, len, &e->prefix);
		e->identity = (uint32_t)i + 1000;
		e->cidr_identity = (uint32_t)i + 5000;
		n++;
	}
	qsort(d.ipc, n, sizeof(*d.ipc), pw_dipc_cmp);
	/* the compiler keeps one entry per prefix */
	for (i = 1, d.n_ipc = n ? 1 : 0; i < n; i++) {
		if (pw_dipc_cmp(&d.ipc[d.n_ipc - 1], &d.ipc[i]))
			d.ipc[d.n_ipc++] = d.ipc[i];
	}
	for (i = 0; i < 20000; i++) {
		struct pw_addr a = {.family = rand_r(&seed) % 3 ? PW_FAMILY_V4 : PW_FAMILY_V6};
		unsigned int max = a.family == PW_FAMILY_V4 ? 32 : 128;
		const struct pw_dipc *ref;
		uint32_t id, cid;

		a.a[0] = a.family == PW_FAMILY_V4 ? 198 : 0xfd;
		if (!(rand_r(&seed) % 10))
			a.a[0] ^= 1; /* outside every prefix but /0 */
		a.a[1] = (uint8_t)(rand_r(&seed) % 4);
		for (unsigned int b = 2; b < max / 8; b++)
			a.a[b] = (uint8_t)(rand_r(&seed) % 3);
		ref = ipc_linear(&d, &a);
		pw_desired_ipcache_lookup(&d, &a, &id, &cid);
		assert_int_equal(id, ref ? ref->identity : PW_ID_WORLD);
		assert_int_equal(cid, ref ? ref->cidr_identity : 0);
	}
	pw_desired_clear(&d);
}

static void test_named_ports_per_destination(void **state)
{
	struct world w;

	w_model(&w);
	/* two servers name their port "http" with different numbers; one has no such name */
	w_apply(&w,
		"apiVersion: v1\nkind: Pod\nmetadata: {name: s1, namespace: y, labels: {app: web}, "
		"annotations: {podwall.io/interface: vs1}}\n"
		"spec: {containers: [{name: c, ports: [{name: http, containerPort: "
		"8080}]}]}\nstatus: {podIP: 198.18.1.10}\n---\n"
		"apiVersion: v1\nkind: Pod\nmetadata: {name: s2, namespace: y, labels: {app: web, "
		"v: '2'}, annotations: {podwall.io/interface: vs2}}\n"
		"spec: {containers: [{name: c, ports: [{name: http, containerPort: 9090}, {name: "
		"dns, containerPort: 53, protocol: UDP}]}]}\nstatus: {podIP: 198.18.1.11}\n---\n"
		"apiVersion: v1\nkind: Pod\nmetadata: {name: s3, namespace: y, labels: {app: web, "
		"v: '3'}, annotations: {podwall.io/interface: vs3}}\n"
		"spec: {containers: [{name: c, ports: [{containerPort: 8080}]}]}\nstatus: {podIP: "
		"198.18.1.12}\n");
	w_apply(&w,
		NP("x", "e",
		   "{podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: [{to: "
		   "[{namespaceSelector: {}, podSelector: {matchLabels: {app: web}}}], ports: "
		   "[{port: http}]}]}") NP("x", "f",
					   "{podSelector: {matchLabels: {pod: b}}, policyTypes: "
					   "[Egress], egress: [{ports: [{port: http}]}]}")
			NP("y", "i",
			   "{podSelector: {matchLabels: {app: web}}, ingress: [{ports: [{port: "
			   "http}, {port: dns, protocol: TCP}]}]}"));
	w_sync(&w);
	assert_true(allowed(&w, "x/a", "y/s1", TCP, 8080));
	assert_false(allowed(&w, "x/a", "y/s1", TCP, 9090));
	assert_true(allowed(&w, "x/a", "y/s2", TCP, 9090));
	assert_false(allowed(&w, "x/a", "y/s2", TCP, 8080));
	assert_false(allowed(&w, "x/a", "y/s2", UDP, 9090)); /* protocol must match */
	assert_false(addr_egress(&w, "x/a", "198.18.5.10", TCP, 8080)); /* unnamed: nothing */
	/* no `to`: every pod identity having the name, and nothing else */
	assert_true(allowed(&w, "x/b", "y/s1", TCP, 8080));
	assert_true(allowed(&w, "x/b", "y/s2", TCP, 9090));
	assert_false(allowed(&w, "x/b", "y/s3", TCP, 8080));
	assert_false(addr_egress(&w, "x/b", "203.0.113.1", TCP, 8080));
	/* ingress: the subject's own ports; "dns" is UDP there, so TCP resolves nothing */
	assert_true(allowed(&w, "z/c", "y/s2", TCP, 9090));
	assert_false(allowed(&w, "z/c", "y/s2", TCP, 53));
	assert_false(allowed(&w, "z/c", "y/s2", UDP, 53));
	assert_false(allowed(&w, "z/c", "y/s3", TCP, 8080));
	w_free(&w);
}

/*
 * Named ports on ipBlock peers (issue 10, defect 6): the destination pod whose address is in the
 * block resolves the name, as for selector peers; a pod with the same labels outside the block,
 * or an address in the block that is no pod, gets nothing.
 */
static void test_named_ports_ipblock(void **state)
{
	struct world w;

	w_model(&w);
	w_apply(&w,
		"apiVersion: v1\nkind: Pod\nmetadata: {name: s1, namespace: y, labels: {app: web}, "
		"annotations: {podwall.io/interface: vs1}}\n"
		"spec: {containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}\n"
		"status: {podIPs: [{ip: 198.18.1.10}, {ip: 'fd00::1:10'}]}\n---\n"
		"apiVersion: v1\nkind: Pod\nmetadata: {name: s2, namespace: y, labels: {app: web, "
		"v: '2'}, annotations: {podwall.io/interface: vs2}}\n"
		"spec: {containers: [{name: c, ports: [{name: http, containerPort: 9090}]}]}\n"
		"status: {podIP: 198.18.1.11}\n---\n"
		/* s1's twin (one identity) outside every block below but the /15 */
		"apiVersion: v1\nkind: Pod\nmetadata: {name: s3, namespace: y, labels: {app: web}}\n"
		"spec: {containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}\n"
		"status: {podIP: 198.18.5.10}\n");
	w_apply(&w,
		NP("x", "e",
		   "{podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: [{to: "
		   "[{ipBlock: {cidr: 198.18.1.0/24}}, {ipBlock: {cidr: 'fd00::1:0/112'}}], ports: "
		   "[{port: http}]}]}")
		NP("x", "f",
		   "{podSelector: {matchLabels: {pod: b}}, policyTypes: [Egress], egress: [{to: "
		   "[{ipBlock: {cidr: 198.18.1.0/24, except: [198.18.1.11/32]}}], ports: [{port: "
		   "http}]}]}")
		NP("x", "g",
		   "{podSelector: {matchLabels: {pod: c}}, policyTypes: [Egress], egress: [{to: "
		   "[{ipBlock: {cidr: 198.18.0.0/15}}], ports: [{port: 8080}]}]}"));
	w_sync(&w);
	assert_true(allowed(&w, "x/a", "y/s1", TCP, 8080));
	assert_false(allowed(&w, "x/a", "y/s1", TCP, 9090));
	assert_false(allowed(&w, "x/a", "y/s1", UDP, 8080)); /* protocol must match */
	assert_true(allowed(&w, "x/a", "y/s2", TCP, 9090));
	assert_false(allowed(&w, "x/a", "y/s2", TCP, 8080));
	assert_true(addr_egress(&w, "x/a", "fd00::1:10", TCP, 8080)); /* s1 over IPv6 */
	assert_false(addr_egress(&w, "x/a", "fd00::1:10", TCP, 9090));
	/* the same identity outside the block, and an address in it that is no pod */
	assert_false(addr_egress(&w, "x/a", "198.18.5.10", TCP, 8080));
	assert_false(addr_egress(&w, "x/a", "198.18.1.99", TCP, 8080));
	/* a pod of the model in the block has no "http": nothing */
	assert_false(allowed(&w, "x/a", "y/a", TCP, 80));
	/* except carves its own peer */
	assert_true(allowed(&w, "x/b", "y/s1", TCP, 8080));
	assert_false(allowed(&w, "x/b", "y/s2", TCP, 9090));
	/* a host prefix of a pod is inside every block holding the pod: other rules still match */
	assert_true(allowed(&w, "x/c", "y/s1", TCP, 8080));
	assert_true(addr_egress(&w, "x/c", "198.18.5.10", TCP, 8080));
	assert_true(addr_egress(&w, "x/c", "198.18.1.99", TCP, 8080));
	/* the name follows the pod: s2 renumbers "http", s1 leaves the block */
	w_apply(&w,
		"apiVersion: v1\nkind: Pod\nmetadata: {name: s2, namespace: y, labels: {app: web, "
		"v: '2'}, annotations: {podwall.io/interface: vs2}}\n"
		"spec: {containers: [{name: c, ports: [{name: http, containerPort: 9091}]}]}\n"
		"status: {podIP: 198.18.1.11}\n---\n"
		"apiVersion: v1\nkind: Pod\nmetadata: {name: s1, namespace: y, labels: {app: web}, "
		"annotations: {podwall.io/interface: vs1}}\n"
		"spec: {containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}\n"
		"status: {podIP: 198.18.6.10}\n");
	w_sync(&w);
	assert_true(allowed(&w, "x/a", "y/s2", TCP, 9091));
	assert_false(allowed(&w, "x/a", "y/s2", TCP, 9090));
	assert_false(allowed(&w, "x/a", "y/s1", TCP, 8080));
	/* no policy needs them: the host prefixes go */
	w_delete(&w, "np/x/e");
	w_delete(&w, "np/x/f");
	w_sync(&w);
	assert_int_equal(w.named.n, 0);
	assert_true(allowed(&w, "x/c", "y/s2", TCP, 8080));
	w_free(&w);
}

/* --- a reference evaluation of NetworkPolicy, straight from the objects ----------------------- */

static bool ref_sel(const struct pw_selector *s, const struct pw_labels *l)
{
	return !s || pw_selector_matches(s, l);
}

static bool ref_peer(const struct pw_state *st, const struct pw_netpol *np,
		     const struct pw_np_peer *p, const struct pw_pod *q, const struct pw_addr *qa)
{
	struct pw_ns_scratch scr;

	if (p->ipblock) {
		size_t e;

		if (!pw_prefix_contains_addr(&p->ipblock->cidr, qa))
			return false;
		for (e = 0; e < p->ipblock->n_except; e++) {
			if (pw_prefix_contains_addr(&p->ipblock->except[e], qa))
				return false;
		}
		return true;
	}
	if (!p->ns_sel && strcmp(q->namespace, np->namespace))
		return false;
	return ref_sel(p->ns_sel, pw_state_ns_labels(st, q->namespace, &scr)) &&
	       ref_sel(p->pod_sel, &q->labels);
}

static bool ref_port(const struct pw_np_port *p, const struct pw_pod *dst, uint8_t proto,
		     uint16_t port)
{
	if (p->proto != proto)
		return false;
	if (!p->port_set)
		return true;
	if (p->port_name)
		return pw_pod_named_port(dst, p->port_name, proto) == port;
	return port >= p->port && port <= (p->end_port ? p->end_port : p->port);
}

/* One direction: subject's policies of that direction allow the peer q (at address qa)? */
static bool ref_side(const struct pw_state *st, const struct pw_pod *subj, uint8_t dir,
		     const struct pw_pod *q, const struct pw_addr *qa, const struct pw_pod *dst,
		     uint8_t proto, uint16_t port)
{
	bool isolated = false;
	size_t i, r, j;

	for (i = 0; i < pw_state_count(st, PW_KIND_NETPOL); i++) {
		const struct pw_netpol *np = &pw_state_at(st, PW_KIND_NETPOL, i)->obj.u.np;
		const struct pw_np_rule *rules = dir ? np->egress : np->ingress;
		size_t n = dir ? np->n_egress : np->n_ingress;

		if (strcmp(np->namespace, subj->namespace) ||
		    !pw_selector_matches(&np->pod_sel, &subj->labels) ||
		    !(np->types & (dir ? PW_NP_EGRESS : PW_NP_INGRESS)))
			continue;
		isolated = true;
		for (r = 0; r < n; r++) {
			bool peer = !rules[r].n_peers, ports = !rules[r].n_ports;

			for (j = 0; j < rules[r].n_peers && !peer; j++)
				peer = ref_peer(st, np, &rules[r].peers[j], q, qa);
			for (j = 0; j < rules[r].n_ports && !ports; j++)
				ports = ref_port(&rules[r].ports[j], dst, proto, port);
			if (peer && ports)
				return true;
		}
	}
	return !isolated;
}

/*
 * Random policy sets mixing selector and ipBlock peers with numeric and named ports (a name
 * numbered differently per pod), compiled and compared pair by pair with the reference.
 */
static void test_reference_random(void **state)
{
	static const char *const peers[] = {
		"{ipBlock: {cidr: 198.18.0.0/15}}",
		"{ipBlock: {cidr: 198.18.1.0/24}}",
		"{ipBlock: {cidr: 198.18.0.0/16, except: [198.18.0.2/32, 198.18.2.0/24]}}",
		"{ipBlock: {cidr: 198.18.1.2/32}}",
		"{podSelector: {matchLabels: {pod: b}}}",
		"{namespaceSelector: {}, podSelector: {matchLabels: {pod: a}}}",
		"{namespaceSelector: {matchLabels: {" L ": y}}}",
	};
	static const char *const ports[] = {
		"{port: web}", "{port: serve-80-tcp}", "{port: serve-81-udp, protocol: UDP}",
		"{port: 8001}", "{port: 80, endPort: 81}", "{protocol: UDP}",
	};
	static const uint16_t probe_ports[] = {80, 81, 8000, 8001, 8002};
	uint32_t seed = 20261203;
	size_t compared = 0, allowed_n = 0;
	struct world w;
	char buf[4096];

	w_model(&w);
	/* "web" differs per pod (8000 + index % 3); some pods have none */
	for (int n = 0; n < 9; n++) {
		pod_yaml(buf, sizeof(buf), NSS[n / 3], PODS[n % 3], n / 3, n % 3, NULL);
		if (n % 4 != 3)
			snprintf(strstr(buf, "status:"), 200,
				 "  - {name: web, containerPort: %d}\nstatus:\n  podIPs: "
				 "[{ip: 198.18.%d.%d}]\n",
				 8000 + n % 3, n / 3, n % 3 + 1);
		w_apply(&w, buf);
	}
	for (int round = 0; round < 60; round++) {
		/* replace the policy set: 1-3 policies per round, in random namespaces */
		for (int i = 0; i < 3; i++) {
			char what[32];

			snprintf(what, sizeof(what), "np/%s/p%d", NSS[i], i);
			if (pw_state_find(&w.st, PW_KIND_NETPOL, NSS[i], what + 5))
				w_delete(&w, what);
		}
		for (int i = 0; i < 3; i++) {
			char rules[1024] = "";
			size_t len = 0;
			int nr, eg;

			seed = seed * 1103515245u + 12345u;
			if ((seed >> 16) % 3 == 0)
				continue;
			nr = 1 + (int)((seed >> 8) % 2);
			eg = (seed >> 22) % 2;
			for (int k = 0; k < nr; k++) {
				seed = seed * 1103515245u + 12345u;
				len += (size_t)snprintf(rules + len, sizeof(rules) - len,
							"%s{%s: [%s], ports: [%s]}", k ? ", " : "",
							eg ? "to" : "from", peers[(seed >> 4) % 7],
							ports[(seed >> 12) % 6]);
			}
			snprintf(buf, sizeof(buf),
				 "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: "
				 "{name: p%d, namespace: %s}\nspec: {podSelector: {matchLabels: {pod: "
				 "%s}}, policyTypes: [%s], %s: [%s]}\n",
				 i, NSS[i], PODS[(seed >> 20) % 3], eg ? "Egress" : "Ingress",
				 eg ? "egress" : "ingress", rules);
			w_apply(&w, buf);
		}
		w_sync(&w);
		for (int f = 0; f < 9; f++) {
			for (int t = 0; t < 9; t++) {
				const struct pw_pod *fp;
				char fn[16], tn[16];

				snprintf(fn, sizeof(fn), "%s/%s", NSS[f / 3], PODS[f % 3]);
				snprintf(tn, sizeof(tn), "%s/%s", NSS[t / 3], PODS[t % 3]);
				fp = &pod(&w, fn)->obj.u.pod;
				for (int pr = 0; pr < 2; pr++) {
					uint8_t proto = pr ? UDP : TCP;

					for (size_t pi = 0; pi < 5; pi++) {
						const struct pw_pod *tp = &pod(&w, tn)->obj.u.pod;
						uint16_t port = probe_ports[pi];
						bool want = ref_side(&w.st, fp, PW_DIR_EGRESS, tp,
								     &tp->ips[0], tp, proto, port) &&
							    ref_side(&w.st, tp, PW_DIR_INGRESS, fp,
								     &fp->ips[0], tp, proto, port);
						bool got = allowed(&w, fn, tn, proto, port);

						if (want != got)
							fprintf(stderr,
								"round %d: %s -> %s %s/%u: compiled %d, "
								"reference %d\n",
								round, fn, tn, pr ? "UDP" : "TCP", port,
								got, want);
						assert_int_equal(want, got);
						compared++;
						allowed_n += got;
					}
				}
			}
		}
	}
	/* both verdicts were exercised */
	assert_true(allowed_n > compared / 10 && allowed_n < compared - compared / 10);
	w_free(&w);
}

static void test_subjects_shared(void **state)
{
	struct world w;
	size_t keys1, keys2;
	char buf[1024], name[16];
	int i;

	w_model(&w);
	w_apply(&w, NP("x", "p",
		       "{podSelector: {}, ingress: [{from: [{podSelector: {}}], ports: [{port: "
		       "80}, {port: 1000, endPort: 2000}]}]}"));
	w_sync(&w);
	keys1 = pw_desired_policy_keys(&w.d);
	/* ten more pods with a's labels share a's identity and its entries */
	for (i = 0; i < 10; i++) {
		snprintf(name, sizeof(name), "a%d", i);
		pod_yaml_l(buf, sizeof(buf), "x", name, "a", 0, 10 + i, NULL);
		w_apply(&w, buf);
	}
	w_sync(&w);
	assert_int_equal(pod(&w, "x/a3")->ident->id, pod(&w, "x/a")->ident->id);
	keys2 = pw_desired_policy_keys(&w.d);
	/* no new identity: no new entries */
	assert_int_equal(keys1, keys2);
	assert_true(allowed(&w, "x/a3", "x/b", TCP, 80));
	assert_false(allowed(&w, "y/a", "x/a3", TCP, 80));
	w_free(&w);
}

static void test_cookies(void **state)
{
	struct world w;
	uint32_t cookie;
	const struct pw_cookie *c;
	struct pw_sobj *xa;

	w_model(&w);
	w_apply(&w, NP("x", "p",
		       "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{podSelector: "
		       "{matchLabels: {pod: b}}}]}, {ports: [{port: 81}]}]}"));
	w_sync(&w);
	xa = pod(&w, "x/a");
	assert_int_equal(
		side(&w, xa, PW_DIR_INGRESS, &pod(&w, "y/c")->obj.u.pod.ips[0], TCP, 81, &cookie),
		PW_OK_POLICY);
	c = pw_cookie_get(&w.st.ids, cookie);
	assert_non_null(c);
	assert_string_equal(c->name, "p");
	assert_int_equal(c->rule, 1);
	assert_int_equal(c->dir, PW_DIR_INGRESS);
	assert_int_equal(
		side(&w, xa, PW_DIR_INGRESS, &pod(&w, "x/b")->obj.u.pod.ips[0], TCP, 80, &cookie),
		PW_OK_POLICY);
	assert_int_equal(pw_cookie_get(&w.st.ids, cookie)->rule, 0);
	/* deleting the policy frees its cookies */
	w_delete(&w, "np/x/p");
	w_sync(&w);
	assert_null(pw_cookie_get(&w.st.ids, cookie));
	w_free(&w);
}

static void test_incremental_touches_few(void **state)
{
	struct world w;

	w_model(&w);
	w_apply(&w, NP("x", "p",
		       "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{podSelector: "
		       "{matchLabels: {pod: b}}}]}]}")
			    NP("y", "q",
			       "{podSelector: {}, ingress: [{from: [{namespaceSelector: "
			       "{matchLabels: {team: t}}}]}]}"));
	w_sync(&w);
	/* a policy change in z recompiles only z's selected identities */
	w_apply(&w, NP("z", "r", "{podSelector: {matchLabels: {pod: c}}, ingress: []}"));
	w_sync(&w);
	assert_int_equal(w.last_recompiled, 1);
	/* relabelling x/c: its old and new identities; nothing selects pod=c peers in x */
	w_apply(&w, "apiVersion: v1\nkind: Pod\nmetadata: {name: c, namespace: x, labels: {pod: c, "
		    "new: l}, annotations: {podwall.io/interface: vxc}}\nstatus: {podIP: "
		    "198.18.0.3}\n");
	w_sync(&w);
	assert_int_equal(w.last_recompiled, 1);
	/* labelling namespace z team=t: y's three subjects and z's new identities */
	w_apply(&w, "apiVersion: v1\nkind: Namespace\nmetadata: {name: z, labels: {team: t}}\n");
	w_sync(&w);
	assert_int_equal(w.last_recompiled, 6);
	assert_true(allowed(&w, "z/a", "y/b", TCP, 80));
	assert_false(allowed(&w, "x/a", "y/b", TCP, 80));
	assert_false(allowed(&w, "z/a", "z/c", TCP, 80));
	w_free(&w);
}

static void test_rollback_restores(void **state)
{
	struct world w;
	struct pw_desired again = {0};
	uint32_t ida, idb;

	w_model(&w);
	w_apply(&w, NP("x", "p",
		       "{podSelector: {matchLabels: {pod: a}}, policyTypes: [Egress], egress: "
		       "[{to: [{ipBlock: {cidr: 10.0.0.0/8}}]}]}"));
	w_sync(&w);
	ida = pod(&w, "x/a")->ident->id;
	idb = pod(&w, "x/b")->ident->id;
	/* a staged change: relabel x/a, drop x/b, replace the policy, add a namespace */
	w_apply(&w, "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x, labels: {pod: "
		    "zz}, annotations: {podwall.io/interface: vxa}}\nstatus: {podIP: 198.18.0.1}\n"
		    "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: x, labels: {k: v}}\n");
	w_delete(&w, "pod/x/b");
	w_apply(&w, NP("x", "p", "{podSelector: {}, ingress: [{}]}"));
	pw_state_rollback(&w.st);
	/* same store, same numbers, same compiled result */
	assert_int_equal(pod(&w, "x/a")->ident->id, ida);
	assert_int_equal(pod(&w, "x/b")->ident->id, idb);
	assert_int_equal(pw_compile(&w.st, NULL, &again), 0);
	assert_true(pw_desired_equal(&again, &w.d));
	pw_desired_clear(&again);
	assert_int_equal(w.st.ids.n_ids, 9);
	w_free(&w);
}

/* Random changes: after each, the incremental compile must equal a full one (w_sync checks). */
static struct world w_rand;

static int rand_teardown(void **state)
{
	w_free(&w_rand);
	return 0;
}

static void test_incremental_random(void **state)
{
	static const char *const pols[] = {
		NP("x", "r0",
		   "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{podSelector: "
		   "{matchLabels: {pod: b}}}]}]}"),
		NP("x", "r1",
		   "{podSelector: {}, policyTypes: [Egress], egress: [{ports: [{port: "
		   "serve-80-tcp}, {port: web}]}]}"),
		NP("y", "r2",
		   "{podSelector: {matchExpressions: [{key: role, operator: Exists}]}, ingress: "
		   "[{from: [{namespaceSelector: {matchLabels: {team: t}}}]}]}"),
		NP("y", "r3",
		   "{podSelector: {}, policyTypes: [Egress], egress: [{to: [{ipBlock: {cidr: "
		   "198.18.0.0/16, except: [198.18.1.0/24]}}]}]}"),
		NP("z", "r4",
		   "{podSelector: {matchLabels: {pod: c}}, ingress: [{from: [{ipBlock: {cidr: "
		   "198.18.1.0/24}}, {namespaceSelector: {}, podSelector: {matchLabels: {role: "
		   "db}}}], ports: [{port: web}, {port: 5000, endPort: 5010}]}]}"),
		NP("z", "r5",
		   "{podSelector: {}, ingress: [{from: [{podSelector: {matchLabels: {role: "
		   "db}}}]}], egress: [{to: [{namespaceSelector: {matchExpressions: [{key: team, "
		   "operator: NotIn, values: [t]}]}}], ports: [{port: web, protocol: UDP}]}]}"),
		/* the same keys as r0 towards x/b (the first policy's cookie wins), and more */
		NP("x", "r6",
		   "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{namespaceSelector: "
		   "{}}]}, {from: [{podSelector: {matchLabels: {pod: b}}}], ports: [{port: 80}]}]}"),
		/* audit: the as-if-enforced entries are compiled towards changed peers too */
		"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: r7, "
		"namespace: y, annotations: {podwall.io/enforcement: audit}}\nspec: {podSelector: "
		"{}, policyTypes: [Ingress, Egress], ingress: [{from: [{namespaceSelector: {}, "
		"podSelector: {matchLabels: {role: db}}}]}], egress: [{to: [{namespaceSelector: {}, "
		"podSelector: "
		"{matchExpressions: [{key: role, operator: In, values: [web, db]}]}}]}]}\n",
		/* a prefix that is also a pod's address: the pod's entry wins while it is there */
		NP("z", "r8",
		   "{podSelector: {}, policyTypes: [Egress], egress: [{to: [{ipBlock: {cidr: "
		   "198.18.0.2/32}}]}]}"),
		/* any peer on 443: y's subjects keep ANY keys (NO_ANY_PEER) while their peers move */
		NP("y", "r9", "{podSelector: {}, ingress: [{ports: [{port: 443}]}]}"),
	};
	static const char *const extras[] = {NULL, ", role: db", ", role: web", ", team: t"};
	uint32_t seed = 12345;
	char buf[1024];
	int step, partial = 0, recompiled = 0, peers = 0;

	w_model(&w_rand);
	for (step = 0; step < 150; step++) {
		uint32_t r;
		int k;

		seed = seed * 1103515245u + 12345u;
		r = seed >> 8;
		k = (int)(r % 5);
		if (k == 0) {
			w_apply(&w_rand, pols[(r >> 4) % 10]);
		} else if (k == 1) {
			char what[32];
			int i = (int)((r >> 4) % 10);

			snprintf(what, sizeof(what), "np/%c/r%d", "xxyyzzxyzy"[i], i);
			if (pw_state_find(&w_rand.st, PW_KIND_NETPOL, (char[]){"xxyyzzxyzy"[i], 0},
					  what + 5))
				w_delete(&w_rand, what);
		} else if (k == 2) {
			int n = (int)((r >> 4) % 9);
			/* sometimes the next pod's addresses: two owners, the first by name wins */
			int m = (r >> 14) % 4 == 0 ? (n + 1) % 9 : n;

			pod_yaml(buf, sizeof(buf), NSS[n / 3], PODS[n % 3], m / 3, m % 3,
				 extras[(r >> 8) % 4]);
			if ((r >> 10) % 3 == 0) /* a named port "web" that differs per pod */
				snprintf(strstr(buf, "status:"), 200,
					 "  - {name: web, containerPort: %u}\nstatus:\n  podIPs: "
					 "[{ip: 198.18.%d.%d}]\n",
					 8000 + (r >> 12) % 3, m / 3, m % 3 + 1);
			w_apply(&w_rand, buf);
		} else if (k == 3) {
			snprintf(buf, sizeof(buf),
				 "apiVersion: v1\nkind: Namespace\nmetadata: {name: %s, labels: "
				 "{team: %s}}\n",
				 NSS[(r >> 4) % 3], (r >> 6) % 2 ? "t" : "u");
			w_apply(&w_rand, buf);
		} else {
			int n = (int)((r >> 4) % 9);
			char what[32];

			snprintf(what, sizeof(what), "pod/%s/%s", NSS[n / 3], PODS[n % 3]);
			w_delete(&w_rand, what);
			pod_yaml(buf, sizeof(buf), NSS[n / 3], PODS[n % 3], n / 3, n % 3, NULL);
			w_sync(&w_rand);
			w_apply(&w_rand, buf);
		}
		w_sync(&w_rand);
		partial += w_rand.last_recompiled < w_rand.d.n_subjects;
		recompiled += w_rand.last_recompiled > 0;
		peers += w_rand.last_peers > 0;
	}
	fprintf(stderr, "incremental_random: %d partial, %d recompiled, %d towards peers only\n",
		partial, recompiled, peers);
	/* and subjects were compiled towards the changed identities only (exactly, as above) */
	assert_true(peers > 20);
	/* the work list was both used and non-trivial */
	assert_true(partial > 50);
	assert_true(recompiled > 50);
}

/* --- the reconciler against a real datapath (unpinned: gone with the process) ----------------- */

struct rb_world {
	char root[64]; /* stands in for --cgroup-root: the core only stat()s pod cgroup dirs */
	struct pw_addr addr[9];
	uint64_t cgroup[9];
	struct pw_dp *dp;
	struct pw_cp *cp;
	struct pw_current rb; /* the maps, read back */
};

static void rb_apply(struct rb_world *r, const char *yaml, int want)
{
	struct pw_manifest *m = NULL;
	struct pw_diags diags = {0};
	int err;

	assert_int_equal(pw_parse_buffer("rb.yaml", yaml, strlen(yaml), NULL, &m, &diags), 0);
	err = pw_cp_apply(r->cp, "cli", m, &diags);
	if (err != want && diags.n)
		fprintf(stderr, "%s\n", diags.v[0].text);
	assert_int_equal(err, want);
	pw_manifest_free(m);
	pw_diags_clear(&diags);
}

static void rb_read(struct rb_world *r)
{
	pw_current_clear(&r->rb);
	assert_int_equal(pw_reconcile_read(r->dp, &r->rb), 0);
	assert_int_equal(r->rb.n_strays, 0);
}

static const struct pw_endpoint *rb_ep(struct rb_world *r, int i)
{
	size_t k;

	for (k = 0; k < r->rb.d.n_eps; k++) {
		if (r->rb.d.eps[k].cgroup_id == r->cgroup[i])
			return &r->rb.d.eps[k];
	}
	fail_msg("no endpoint for cgroup %llu", (unsigned long long)r->cgroup[i]);
	return NULL;
}

/* The verdict the kernel's maps give (both sides), for every pair of the model. */
static void rb_matrix(struct rb_world *r, const char *name, uint8_t proto, uint16_t port,
		      const char *deny, const char *except)
{
	char from[8], to[8];
	int f, t, bad = 0;
	uint32_t c;

	rb_read(r);
	for (f = 0; f < 9; f++) {
		const struct pw_endpoint *fe = rb_ep(r, f);

		snprintf(from, sizeof(from), "%s/%s", NSS[f / 3], PODS[f % 3]);
		for (t = 0; t < 9; t++) {
			const struct pw_endpoint *te = rb_ep(r, t);
			bool want, got;
			int e, i;

			if (f == t)
				continue;
			snprintf(to, sizeof(to), "%s/%s", NSS[t / 3], PODS[t % 3]);
			e = pw_desired_decide(&r->rb.d, fe->identity, fe->flags, PW_DIR_EGRESS,
					      &r->addr[t], proto, port, &c, NULL);
			i = pw_desired_decide(&r->rb.d, te->identity, te->flags, PW_DIR_INGRESS,
					      &r->addr[f], proto, port, &c, NULL);
			want = !(pairs_match(deny, from, to) && !pairs_match(except, from, to));
			got = !pw_reason_is_drop((unsigned)e) && !pw_reason_is_drop((unsigned)i);
			if (want != got) {
				fprintf(stderr, "%s (maps): %s -> %s: want %s\n", name, from, to,
					want ? "allow" : "deny");
				bad++;
			}
		}
	}
	assert_int_equal(bad, 0);
}

static void rb_model_yaml(struct rb_world *r, char *buf, size_t len, bool reverse)
{
	size_t n = 0;
	int i, j, k;

	for (k = 0; k < 3; k++) {
		i = reverse ? 2 - k : k;
		n += (size_t)snprintf(
			buf + n, len - n,
			"apiVersion: v1\nkind: Namespace\nmetadata: {name: %s}\n---\n", NSS[i]);
		for (j = reverse ? 2 : 0; j >= 0 && j < 3; j += reverse ? -1 : 1)
			n += (size_t)snprintf(
				buf + n, len - n,
				"apiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: %s, "
				"labels: {pod: %s}, annotations: {podwall.io/cgroup: cg-%s-%s}}\n"
				"spec: {containers: [{name: c, ports: [{name: serve-80-tcp, "
				"containerPort: 80}]}]}\n"
				"status: {podIPs: [{ip: 198.18.%d.%d}]}\n---\n",
				PODS[j], NSS[i], PODS[j], NSS[i], PODS[j], i, j + 1);
	}
}

static void rb_pod_identities(struct rb_world *r, uint32_t *ids, uint32_t *eps)
{
	json_object *list = NULL;
	size_t i;

	assert_int_equal(pw_cp_get(r->cp, PW_CP_PODS, NULL, &list), 0);
	assert_int_equal(json_object_array_length(list), 9);
	for (i = 0; i < 9; i++) {
		json_object *o = json_object_array_get_idx(list, i), *v;

		/* sorted by namespace, then name: the model's order */
		assert_true(json_object_object_get_ex(o, "identity", &v));
		ids[i] = (uint32_t)json_object_get_int64(v);
		assert_true(json_object_object_get_ex(o, "endpoint", &v));
		eps[i] = (uint32_t)json_object_get_int64(v);
	}
	json_object_put(list);
}

static struct rb_world r;
static struct pw_current before;
static char *buf;

/* Runs whether the test passed or failed: nothing stays behind. */
static int rb_teardown(void **state)
{
	char path[128];
	size_t i;

	pw_cp_free(r.cp);
	pw_current_clear(&r.rb);
	pw_current_clear(&before);
	pw_dp_close(r.dp); /* unpinned: the maps go with the last fd */
	for (i = 0; r.root[0] && i < 9; i++) {
		snprintf(path, sizeof(path), "%s/cg-%s-%s", r.root, NSS[i / 3], PODS[i % 3]);
		rmdir(path);
	}
	if (r.root[0])
		rmdir(r.root);
	free(buf);
	memset(&r, 0, sizeof(r));
	buf = NULL;
	return 0;
}

static void test_reconcile_datapath(void **state)
{
	struct pw_dp_opts o = {.sz = sizeof(o), .policy_max = 512};
	struct pw_cp_opts co = {.sz = sizeof(co)};
	uint32_t ids1[9], eps1[9], ids2[9], eps2[9];
	json_object *ex = NULL, *v, *side;
	char path[128];
	size_t n, i;
	int err;

	if (geteuid() != 0)
		skip();
	buf = malloc(1 << 16);
	assert_non_null(buf);
	snprintf(r.root, sizeof(r.root), "/tmp/pw-test-compile-%d", (int)getpid());
	assert_int_equal(mkdir(r.root, 0700), 0);
	for (i = 0; i < 9; i++) {
		struct stat sb;

		snprintf(path, sizeof(path), "%s/cg-%s-%s", r.root, NSS[i / 3], PODS[i % 3]);
		assert_int_equal(mkdir(path, 0700), 0);
		assert_int_equal(stat(path, &sb), 0);
		r.cgroup[i] = sb.st_ino;
		snprintf(path, sizeof(path), "198.18.%zu.%zu", i / 3, i % 3 + 1);
		assert_int_equal(pw_addr_parse(path, &r.addr[i]), 0);
	}
	err = pw_dp_open(&o, &r.dp);
	assert_int_equal(err, 0);
	co.dp = r.dp;
	co.cgroup_root = r.root;
	assert_int_equal(pw_cp_new(&co, &r.cp), 0);

	/* apply: the model and T03 */
	rb_model_yaml(&r, buf, 1 << 16, false);
	rb_apply(&r, buf, 0);
	rb_matrix(&r, "no policy", TCP, 80, NULL, NULL);
	assert_int_equal(r.rb.d.n_ipc, 9);
	assert_int_equal(pw_desired_policy_keys(&r.rb.d), 0);
	rb_apply(&r,
		 NP("x", "p",
		    "{podSelector: {matchLabels: {pod: a}}, ingress: [{from: [{podSelector: "
		    "{matchLabels: {pod: b}}}], ports: [{port: serve-80-tcp}, {port: 8000, "
		    "endPort: 8003}]}]}"),
		 0);
	rb_matrix(&r, "T03", TCP, 80, "*>x/a", "x/b>x/a");
	rb_matrix(&r, "T03 8003", TCP, 8003, "*>x/a", "x/b>x/a");
	rb_matrix(&r, "T03 8004", TCP, 8004, "*>x/a", NULL);
	/* one identity allowed, TCP 80 and the block 8000/14: exactly two trie keys */
	assert_int_equal(pw_desired_policy_keys(&r.rb.d), 2);
	/* its only peer is an identity: the any-peer lookup is skipped */
	assert_int_equal(rb_ep(&r, 0)->flags,
			 PW_EP_F_ISOLATE_INGRESS | PW_EP_F_NO_ANY_PEER_INGRESS);

	/* explain reads the same entries */
	{
		struct pw_cp_endpoint_ref f = {.ns = "x", .name = "b"},
					  t = {.ns = "x", .name = "a"};
		char rule[32];
		const char *pol;

		assert_int_equal(pw_cp_explain(r.cp, &f, &t, TCP, 80, &ex), 0);
		assert_true(json_object_object_get_ex(ex, "verdict", &v));
		assert_string_equal(json_object_get_string(v), "allowed");
		assert_true(json_object_object_get_ex(ex, "ingress", &side));
		assert_true(json_object_object_get_ex(side, "policy", &v));
		assert_string_equal(json_object_get_string(v), "x/p");
		json_object_put(ex);
		f.name = "c";
		assert_int_equal(pw_cp_explain(r.cp, &f, &t, TCP, 80, &ex), 0);
		assert_true(json_object_object_get_ex(ex, "verdict", &v));
		assert_string_equal(json_object_get_string(v), "denied");
		json_object_put(ex);
		/* a cookie read from the policy map names its policy and rule */
		pol = pw_cp_cookie_policy(r.cp, r.rb.d.subjects[0].keys[0].cookie, rule,
					  sizeof(rule));
		assert_non_null(pol);
		assert_string_equal(pol, "x/p");
		assert_string_equal(rule, "ingress[0]");
	}

	/* update: T03 -> T02; x's endpoints gain isolation and x/a loses entries: re-checked */
	rb_apply(&r,
		 NP("x", "p",
		    "{podSelector: {}, policyTypes: [Ingress, Egress], ingress: [], egress: []}"),
		 0);
	rb_matrix(&r, "T02", TCP, 80, "*>x/* x/*>*", NULL);
	assert_int_equal(pw_desired_policy_keys(&r.rb.d), 0);
	for (i = 0; i < 3; i++)
		assert_true(rb_ep(&r, (int)i)->policy_gen > 0);
	assert_int_equal(rb_ep(&r, 4)->policy_gen, 0); /* y/b: nothing changed for it */

	/* a write that fails midway (the policy map holds 512 keys) leaves the last good state */
	rb_read(&r);
	before = r.rb;
	memset(&r.rb, 0, sizeof(r.rb));
	n = (size_t)snprintf(buf, 1 << 16,
			     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
			     "metadata: {name: big, namespace: y}\n"
			     "spec: {podSelector: {}, ingress: [{ports: [");
	for (i = 0; i < 400; i++)
		n += (size_t)snprintf(buf + n, (1 << 16) - n, "%s{port: %zu}", i ? ", " : "",
				      1000 + 2 * i);
	snprintf(buf + n, (1 << 16) - n, "]}]}\n");
	{
		struct pw_manifest *m = NULL;
		struct pw_diags diags = {0};

		assert_int_equal(pw_parse_buffer("big.yaml", buf, strlen(buf), NULL, &m, &diags),
				 0);
		err = pw_cp_apply(r.cp, "cli", m, &diags);
		assert_true(err == -ENOSPC || err == -E2BIG);
		assert_true(diags.n_errors > 0);
		pw_manifest_free(m);
		pw_diags_clear(&diags);
	}
	rb_read(&r);
	assert_true(pw_desired_equal(&before.d, &r.rb.d));
	pw_current_clear(&before);
	rb_matrix(&r, "T02 after failed write", TCP, 80, "*>x/* x/*>*", NULL);

	/* a restarted core adopts the maps: pods coming back keep identities and endpoint ids */
	rb_pod_identities(&r, ids1, eps1);
	pw_cp_free(r.cp);
	r.cp = NULL;
	assert_int_equal(pw_cp_new(&co, &r.cp), 0);
	pw_cp_hold(r.cp);
	/* manifests in another order than the first time: numbers come from the maps */
	rb_model_yaml(&r, buf, 1 << 16, true);
	rb_apply(&r,
		 NP("x", "p",
		    "{podSelector: {}, policyTypes: [Ingress, Egress], ingress: [], egress: []}"),
		 0);
	rb_apply(&r, buf, 0);
	assert_int_equal(pw_cp_flush(r.cp, NULL), 0);
	rb_pod_identities(&r, ids2, eps2);
	for (i = 0; i < 9; i++) {
		assert_int_equal(ids1[i], ids2[i]);
		assert_int_equal(eps1[i], eps2[i]);
	}
	rb_matrix(&r, "T02 after restart", TCP, 80, "*>x/* x/*>*", NULL);

	/* delete: nothing of the policy stays */
	{
		struct pw_manifest *m = NULL;
		const char *y = NP("x", "p", "{podSelector: {}}");

		assert_int_equal(pw_parse_buffer("d.yaml", y, strlen(y), NULL, &m, NULL), 0);
		assert_int_equal(pw_cp_delete(r.cp, m, NULL), 0);
		assert_int_equal(pw_cp_delete(r.cp, m, NULL), -ENOENT);
		pw_manifest_free(m);
	}
	rb_matrix(&r, "deleted", TCP, 80, NULL, NULL);
	assert_int_equal(pw_desired_policy_keys(&r.rb.d), 0);
	for (i = 0; i < 9; i++)
		assert_int_equal(rb_ep(&r, (int)i)->flags, 0);
}

/*
 * A pod whose interface does not exist yet is pending: its policy is compiled, its endpoint
 * waits. The link appearing writes the ifindex endpoint and attaches TC. The test moves itself
 * into a private network namespace first (unshare): the veth lives and dies there.
 */
static struct pw_dp *ldp;
static struct pw_cp *lcp;

static int link_teardown(void **state)
{
	pw_cp_free(lcp);
	pw_dp_close(ldp); /* unpinned: links and maps go with this process's fds */
	lcp = NULL;
	ldp = NULL;
	return 0;
}

static bool json_has_str(json_object *arr, const char *s)
{
	size_t i;

	for (i = 0; arr && i < json_object_array_length(arr); i++) {
		if (!strcmp(json_object_get_string(json_object_array_get_idx(arr, i)), s))
			return true;
	}
	return false;
}

static void test_pending_link_event(void **state)
{
	struct pw_dp_opts o = {.sz = sizeof(o)};
	struct pw_cp_opts co = {.sz = sizeof(co)};
	char yaml[1024], ifname[IFNAMSIZ], peer[IFNAMSIZ], cmd[256];
	struct pw_manifest *m = NULL;
	json_object *st = NULL, *d = NULL, *v;
	struct pw_endpoint ep;
	uint32_t ifindex, id;

	if (geteuid() != 0)
		skip();
	assert_int_equal(unshare(CLONE_NEWNET), 0);
	snprintf(ifname, sizeof(ifname), "pwv%d", (int)getpid() % 100000);
	snprintf(peer, sizeof(peer), "pwp%d", (int)getpid() % 100000);
	assert_int_equal(pw_dp_open(&o, &ldp), 0);
	co.dp = ldp;
	assert_int_equal(pw_cp_new(&co, &lcp), 0);
	snprintf(yaml, sizeof(yaml),
		 "apiVersion: v1\nkind: Pod\nmetadata: {name: w, namespace: x, labels: {app: w}, "
		 "annotations: {podwall.io/interface: %s}}\nstatus: {podIP: 198.18.0.9}\n---\n%s",
		 ifname,
		 NP("x", "p",
		    "{podSelector: {matchLabels: {app: w}}, ingress: [{ports: [{port: 80}]}]}"));
	assert_int_equal(pw_parse_buffer("l.yaml", yaml, strlen(yaml), NULL, &m, NULL), 0);
	assert_int_equal(pw_cp_apply(lcp, "cli", m, NULL), 0);
	pw_manifest_free(m);

	/* pending: listed by status; its entries are in the map already */
	assert_int_equal(pw_cp_status(lcp, &st), 0);
	assert_true(json_object_object_get_ex(st, "pendingPods", &v));
	assert_true(json_has_str(v, "x/w"));
	assert_true(json_object_object_get_ex(st, "policyKeys", &v));
	assert_int_equal(json_object_get_int64(v), 1);
	json_object_put(st);
	assert_int_equal(pw_cp_describe_pod(lcp, "x", "w", &d), 0);
	assert_true(json_object_object_get_ex(d, "state", &v));
	assert_string_equal(json_object_get_string(v), "pending");
	assert_true(json_object_object_get_ex(d, "identity", &v));
	id = (uint32_t)json_object_get_int64(v);
	assert_true(json_object_object_get_ex(d, "ingress", &v));
	assert_int_equal(json_object_array_length(v), 1);
	json_object_put(d);

	/* the link appears */
	snprintf(cmd, sizeof(cmd), "ip link add %s type veth peer name %s", ifname, peer);
	assert_int_equal(system(cmd), 0);
	ifindex = if_nametoindex(ifname);
	assert_true(ifindex > 0);
	assert_int_equal(pw_dp_endpoint_lookup_ifindex(ldp, ifindex, &ep), -ENOENT);
	assert_int_equal(pw_cp_link_event(lcp, ifname, ifindex), 0);
	assert_int_equal(pw_dp_endpoint_lookup_ifindex(ldp, ifindex, &ep), 0);
	assert_int_equal(ep.identity, id);
	assert_int_equal(ep.flags, PW_EP_F_ISOLATE_INGRESS);
	assert_int_equal(ep.n_v4, 1);
	assert_int_equal(pw_cp_describe_pod(lcp, "x", "w", &d), 0);
	assert_true(json_object_object_get_ex(d, "state", &v));
	assert_string_equal(json_object_get_string(v), "enforced");
	json_object_put(d);

	/* and goes away */
	snprintf(cmd, sizeof(cmd), "ip link del %s", ifname);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(pw_cp_link_event(lcp, ifname, 0), 0);
	assert_int_equal(pw_dp_endpoint_lookup_ifindex(ldp, ifindex, &ep), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_upstream),
		cmocka_unit_test(test_audit_mixes),
		cmocka_unit_test(test_audit_entries),
		cmocka_unit_test(test_endport_inclusive),
		cmocka_unit_test(test_ports_defaults),
		cmocka_unit_test(test_policy_types_default),
		cmocka_unit_test(test_ipblock_except_own_peer),
		cmocka_unit_test(test_ipblock_nested_across_policies),
		cmocka_unit_test(test_ipblock_ipv6_and_pods),
		cmocka_unit_test(test_named_ports_per_destination),
		cmocka_unit_test(test_named_ports_ipblock),
		cmocka_unit_test(test_reference_random),
		cmocka_unit_test(test_subjects_shared),
		cmocka_unit_test(test_cookies),
		cmocka_unit_test(test_incremental_touches_few),
		cmocka_unit_test(test_rollback_restores),
		cmocka_unit_test(test_ipcache_lookup_random),
		cmocka_unit_test_teardown(test_incremental_random, rand_teardown),
		cmocka_unit_test_teardown(test_reconcile_datapath, rb_teardown),
		/* last: it moves the process into its own network namespace */
		cmocka_unit_test_teardown(test_pending_link_event, link_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
