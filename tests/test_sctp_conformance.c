// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Upstream NetworkPolicy conformance over SCTP (S1-S3: the U1-U3 cases with SCTP), checked on
 * the datapath's verdicts: these kernels have no SCTP sockets, so instead of live probes the
 * packets go through BPF_PROG_TEST_RUN.
 *
 * The control-plane core runs in-process on a datapath with nothing pinned: the manifests
 * (the same x, y, z / a, b, c model as the live suite) are parsed with pw_parse_buffer and
 * applied with pw_cp_apply, which compiles them and writes the maps. Then, for every source
 * pod and every destination pod, an SCTP packet from the source's address runs through
 * the destination's pod-ingress program (PW_PROG_TC_EGRESS, ctx->ifindex = the destination's
 * host-side veth), and the verdict matrix is compared with the case's, over IPv4 and IPv6.
 *
 * BPF_PROG_TEST_RUN resolves ctx->ifindex in the caller's netns, and the core resolves the
 * pods' podwall.io/interface names there too: the process moves to a private netns of its
 * own with one veth pair per pod; everything vanishes with the process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <bpf/bpf.h>
#include <podwall/datapath.h>

#include "cp.h"
#include "parse.h"
#include "cf_matrix.h"
#include "tc_pkt.h"

#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif

struct fx {
	struct pw_dp *dp;
	struct pw_cp *cp;
	char host_if[CF_NPODS + 1][IFNAMSIZ];
	char pod_if[CF_NPODS + 1][IFNAMSIZ];
	unsigned int ifindex[CF_NPODS + 1];
	uint16_t sport; /* a fresh source port per packet: no conntrack entry answers for it */
};

static struct fx fx_storage;

/* --- manifests ------------------------------------------------------------------------------ */

static const char *pod_v4(int i, char *buf, size_t len)
{
	snprintf(buf, len, "198.18.0.%d", i);
	return buf;
}

static const char *pod_v6(int i, char *buf, size_t len)
{
	snprintf(buf, len, "fd00::%x", i);
	return buf;
}

/* Namespaces x, y, z and pods a, b, c in each, bound to this process's veths. */
static char *model_yaml(const struct fx *fx)
{
	static const char *const ports[] = {"80-tcp", "80-udp", "80-sctp",
					    "81-tcp", "81-udp", "81-sctp"};
	size_t cap = 64 * 1024, len = 0;
	char *buf = malloc(cap);
	int i, k;

	if (!buf)
		return NULL;
#define PUT(...) (len += (size_t)snprintf(buf + len, cap - len, __VA_ARGS__))
	for (i = 0; i < 3; i++)
		PUT("---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: %c\n", "xyz"[i]);
	for (i = 1; i <= CF_NPODS; i++) {
		char a4[32], a6[48];

		PUT("---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: %c\n  namespace: %c\n"
		    "  labels: {pod: %c}\n  annotations: {podwall.io/interface: %s}\n"
		    "spec:\n  containers:\n",
		    cf_pod_short(i), cf_pod_ns(i), cf_pod_short(i), fx->host_if[i]);
		for (k = 0; k < 6; k++) {
			char proto[5] = {0};
			size_t c;

			for (c = 0; ports[k][3 + c]; c++)
				proto[c] = (char)(ports[k][3 + c] - 'a' + 'A');
			PUT("  - name: cont-%s\n    ports:\n    - {name: serve-%s, containerPort: "
			    "%.2s, protocol: %s}\n",
			    ports[k], ports[k], ports[k], proto);
		}
		PUT("status:\n  podIPs:\n  - ip: %s\n  - ip: \"%s\"\n", pod_v4(i, a4, sizeof(a4)),
		    pod_v6(i, a6, sizeof(a6)));
	}
#undef PUT
	if (len >= cap) {
		free(buf);
		return NULL;
	}
	return buf;
}

static void print_diags(const struct pw_diags *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		fprintf(stderr, "  %s\n", d->v[i].text);
}

static int parse(const char *name, const char *text, struct pw_manifest **m)
{
	struct pw_diags d = {0};
	int err;

	err = pw_parse_buffer(name, text, strlen(text), NULL, m, &d);
	if (err)
		print_diags(&d);
	pw_diags_clear(&d);
	return err;
}

static int cp_apply(struct fx *fx, const char *name, const char *text)
{
	struct pw_manifest *m = NULL;
	struct pw_diags d = {0};
	int err;

	err = parse(name, text, &m);
	if (err)
		return err;
	err = pw_cp_apply(fx->cp, "cli", m, &d);
	if (err)
		print_diags(&d);
	pw_diags_clear(&d);
	pw_manifest_free(m);
	return err;
}

static int cp_delete(struct fx *fx, const char *name, const char *text)
{
	struct pw_manifest *m = NULL;
	struct pw_diags d = {0};
	int err;

	err = parse(name, text, &m);
	if (err)
		return err;
	err = pw_cp_delete(fx->cp, m, &d);
	if (err)
		print_diags(&d);
	pw_diags_clear(&d);
	pw_manifest_free(m);
	return err;
}

/* --- verdicts --------------------------------------------------------------------------------- */

/* TC verdict of the destination's ingress for one packet from `from`; -errno on failure. */
static int verdict(struct fx *fx, int family, uint8_t proto, int from, int to, uint16_t dport)
{
	char src[48], dst[48];
	struct tp t = {
		.family = family == AF_INET ? 4 : 6,
		.proto = proto,
		.dport = dport,
		.tcp_flags = 0x02, /* SYN, for the TCP control rows */
	};
	struct __sk_buff skb = {.ifindex = fx->ifindex[to]};
	uint8_t buf[TP_MAX], dmac[6] = {0x02, 0, 0, 0, 0x01, (uint8_t)to};
	int fd, err;

	LIBBPF_OPTS(bpf_test_run_opts, opts);

	if (fx->sport < 20000)
		fx->sport = 20000;
	t.sport = ++fx->sport;
	t.src = family == AF_INET ? pod_v4(from, src, sizeof(src)) : pod_v6(from, src, sizeof(src));
	t.dst = family == AF_INET ? pod_v4(to, dst, sizeof(dst)) : pod_v6(to, dst, sizeof(dst));
	t.dmac = dmac;
	opts.data_in = buf;
	opts.data_size_in = tp_build(&t, buf);
	opts.ctx_in = &skb;
	opts.ctx_size_in = sizeof(skb);
	opts.repeat = 1;
	fd = pw_dp_prog_fd(fx->dp, PW_PROG_TC_EGRESS);
	if (fd < 0)
		return fd;
	err = bpf_prog_test_run_opts(fd, &opts);
	if (err)
		return -errno;
	return (int)opts.retval;
}

struct probe {
	uint8_t proto;
	uint16_t port;
	const char *deny; /* cf_matrix.h notation */
};

static const char *proto_name(uint8_t p)
{
	return p == IPPROTO_SCTP ? "SCTP" : p == IPPROTO_TCP ? "TCP" : "UDP";
}

/* The full 9x8 matrix through the destinations' ingress programs; true when it matches. */
static bool check_matrix(struct fx *fx, int family, const struct probe *p)
{
	bool deny[CF_NPODS + 1][CF_NPODS + 1];
	char exp[CF_NPODS + 1][CF_NPODS + 1], got[CF_NPODS + 1][CF_NPODS + 1];
	char cmp[CF_NPODS + 1][CF_NPODS + 1];
	int f, t, bad = 0;

	if (cf_expect(p->deny, deny))
		return false;
	for (f = 1; f <= CF_NPODS; f++) {
		for (t = 1; t <= CF_NPODS; t++) {
			int v;

			if (f == t)
				continue;
			v = verdict(fx, family, p->proto, f, t, p->port);
			exp[f][t] = deny[f][t] ? 'X' : '.';
			got[f][t] = v == TC_ACT_SHOT ? 'X' : v == TC_ACT_OK ? '.' : '!';
			cmp[f][t] = exp[f][t] == got[f][t] ? '.' : 'X';
			bad += cmp[f][t] != '.';
			if (v != TC_ACT_SHOT && v != TC_ACT_OK)
				fprintf(stderr, "  %s -> %s: test run gave %d\n", cf_pod_name[f],
					cf_pod_name[t], v);
		}
	}
	if (!bad)
		return true;
	fprintf(stderr, "  %s/%u %s: %d of 72 verdicts differ (deny spec \"%s\")\n",
		proto_name(p->proto), p->port, family == AF_INET ? "IPv4" : "IPv6", bad, p->deny);
	cf_print_table(stderr, "expected (X = dropped; rows: from, columns: to)", exp);
	cf_print_table(stderr, "observed (! = the test run failed)", got);
	cf_print_table(stderr, "comparison (X = differs)", cmp);
	return false;
}

/* Apply the policies, check every probe over both families, delete them again. */
static void run_case(struct fx *fx, const char *id, const char *policies,
		     const struct probe *probes, size_t n)
{
	static const int fams[] = {AF_INET, AF_INET6};
	bool ok = true;
	size_t i, f;

	assert_int_equal(cp_apply(fx, id, policies), 0);
	for (f = 0; f < 2; f++) {
		for (i = 0; i < n; i++) {
			if (!check_matrix(fx, fams[f], &probes[i]))
				ok = false;
		}
	}
	/* delete even after a mismatch: the next case starts from the bare model */
	assert_int_equal(cp_delete(fx, id, policies), 0);
	assert_true(ok);
}

/* clang-format off */
#define POLICY(ns, name, spec) \
	"---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n" \
	"metadata: {name: " name ", namespace: " ns "}\nspec: " spec "\n"
/* clang-format on */

/* S1 = U1 = T01 over SCTP: default-deny ingress in x */
static void test_s1_default_deny_ingress(void **state)
{
	static const struct probe probes[] = {
		{IPPROTO_SCTP, 80, "*->x/*"},
		{IPPROTO_SCTP, 81, "*->x/*"},
	};

	run_case(*state, "S1",
		 POLICY("x", "deny-ingress",
			"{podSelector: {}, policyTypes: [Ingress], ingress: []}"),
		 probes, 2);
}

/* S2 = U2 = T14 over SCTP: 81/SCTP from namespace y; nothing else, and SCTP is not TCP */
static void test_s2_ports_from_namespace(void **state)
{
	static const struct probe probes[] = {
		{IPPROTO_SCTP, 81, "x/*,z/*->x/a"},
		{IPPROTO_SCTP, 80, "*->x/a"},
		{IPPROTO_TCP, 81, "*->x/a"},
		{IPPROTO_UDP, 81, "*->x/a"},
	};

	run_case(*state, "S2",
		 POLICY("x", "allow-81-sctp",
			"{podSelector: {matchLabels: {pod: a}}, policyTypes: [Ingress], ingress: "
			"[{from: [{namespaceSelector: {matchLabels: "
			"{kubernetes.io/metadata.name: y}}}], "
			"ports: [{port: 81, protocol: SCTP}]}]}"),
		 probes, 4);
}

/* S3 = U3 = T13 over SCTP: pod a of namespace y only (both selectors in one peer) */
static void test_s3_pod_and_namespace(void **state)
{
	static const struct probe probes[] = {
		{IPPROTO_SCTP, 80, "*->x/a; +y/a->x/a"},
	};

	run_case(*state, "S3",
		 POLICY("x", "allow-y-a",
			"{podSelector: {matchLabels: {pod: a}}, policyTypes: [Ingress], ingress: "
			"[{from: [{namespaceSelector: {matchLabels: "
			"{kubernetes.io/metadata.name: y}}, podSelector: {matchLabels: {pod: "
			"a}}}]}]}"),
		 probes, 1);
}

/* A named SCTP port resolves per destination pod, with the protocol matching. */
static void test_s4_named_sctp_port(void **state)
{
	static const struct probe probes[] = {
		{IPPROTO_SCTP, 81, ""},
		{IPPROTO_SCTP, 80, "*->x/*"},
		{IPPROTO_TCP, 81, "*->x/*"},
	};

	run_case(*state, "S4",
		 POLICY("x", "allow-serve-81-sctp",
			"{podSelector: {}, policyTypes: [Ingress], "
			"ingress: [{ports: [{port: serve-81-sctp, protocol: SCTP}]}]}"),
		 probes, 3);
}

/* --- setup --------------------------------------------------------------------------------- */

static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd) == 0 ? 0 : -1;
}

static void log_cb(void *ctx, enum pw_log_level level, const char *msg)
{
	if (level <= PW_LOG_WARN)
		fprintf(stderr, "  [%s] %s\n", (const char *)ctx, msg);
}

static int group_setup(void **state)
{
	struct fx *fx = &fx_storage;
	struct pw_dp_opts dopts = {.sz = sizeof(dopts),
				   .log = log_cb,
				   .log_ctx = "datapath",
				   .log_level = PW_LOG_WARN};
	struct pw_cp_opts copts = {.sz = sizeof(copts), .log = log_cb, .log_ctx = "core"};
	char *model;
	int i, err;

	/* a private netns: the veths and everything attached to them go away with us */
	if (unshare(CLONE_NEWNET)) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return -1;
	}
	for (i = 1; i <= CF_NPODS; i++) {
		snprintf(fx->host_if[i], IFNAMSIZ, "pws%dh%d", (int)getpid() % 1000000, i);
		snprintf(fx->pod_if[i], IFNAMSIZ, "pws%dp%d", (int)getpid() % 1000000, i);
		/* a known MAC on the pod's side: the library learns it, frames for the pod use it */
		if (sh("ip link add %s type veth peer name %s", fx->host_if[i], fx->pod_if[i]) ||
		    sh("ip link set %s address 02:00:00:00:01:%02x", fx->pod_if[i], i) ||
		    sh("ip link set %s up", fx->host_if[i]))
			return -1;
		fx->ifindex[i] = if_nametoindex(fx->host_if[i]);
		if (!fx->ifindex[i])
			return -1;
	}
	err = pw_dp_open(&dopts, &fx->dp);
	if (err) {
		fprintf(stderr, "pw_dp_open: %s\n", strerror(-err));
		return -1;
	}
	copts.dp = fx->dp;
	err = pw_cp_new(&copts, &fx->cp);
	if (err) {
		fprintf(stderr, "pw_cp_new: %s\n", strerror(-err));
		return -1;
	}
	model = model_yaml(fx);
	if (!model)
		return -1;
	err = cp_apply(fx, "model.yaml", model);
	free(model);
	if (err) {
		fprintf(stderr, "applying the model: %s\n", strerror(-err));
		return -1;
	}
	*state = fx;
	return 0;
}

static int group_teardown(void **state)
{
	struct fx *fx = &fx_storage;

	pw_cp_free(fx->cp);
	fx->cp = NULL;
	pw_dp_close(fx->dp);
	fx->dp = NULL;
	return 0;
}

/* Before the cases: with no policy every SCTP packet passes, so the drops above are theirs. */
static void test_s0_baseline(void **state)
{
	static const struct probe p = {IPPROTO_SCTP, 80, ""};
	struct fx *fx = *state;

	assert_true(check_matrix(fx, AF_INET, &p));
	assert_true(check_matrix(fx, AF_INET6, &p));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_s0_baseline),
		cmocka_unit_test(test_s1_default_deny_ingress),
		cmocka_unit_test(test_s2_ports_from_namespace),
		cmocka_unit_test(test_s3_pod_and_namespace),
		cmocka_unit_test(test_s4_named_sctp_port),
	};

	return cmocka_run_group_tests_name("conformance over SCTP", tests, group_setup,
					   group_teardown);
}
