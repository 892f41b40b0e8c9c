// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bench_audit: what per-policy audit costs a new flow, from BPF_PROG_TEST_RUN of the real TC
 * program (the pod's egress), with and without audit policies on the subject, beside the
 * enforced cases and an empty TC program measured in the same rounds.
 *
 * Every call is a new flow (a fresh source port, one run each: repeat = 1), so each measures
 * the policy decision and the conntrack insert. The kernel's own run time (test_run
 * "duration") is used, not the syscall's. Cases are interleaved within each round (each round
 * starting with the next case), so a load change hits them alike; figures are medians over rounds
 * of each round's mean, and ratios are taken within the same run. The conntrack table is flushed
 * after each case of a round (not timed). Event records go to an open perf reader, drained between
 * cases, as in the daemon.
 *
 * Each case's verdict is checked on every call (return code) and its reason counter must rise
 * by exactly the calls made: a smoke run fails when a case does not take its labelled path.
 *
 * A second table measures the decision alone: an ICMP echo reply from the pod is judged by
 * policy on every packet and never tracked, so BPF_PROG_TEST_RUN can repeat it; the event
 * reader is closed for it, so its record is one failed perf write.
 *
 * usage: bench_audit [--rounds N] [--calls N] [--repeat N] [--markdown]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/pkt_cls.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <podwall/datapath.h>
#include "empty.skel.h"
#include "tc_pkt.h"

#define SUBJ	1001u
#define PEER	1002u
#define SUBJ4	"198.18.0.10"
#define PEER4	"198.18.0.20"
#define ALLOW	8080
#define DENY	9999
#define MAX_RND 101

enum { C_EMPTY, C_NONE, C_AUDIT_ALLOW, C_AUDIT_DENY, C_ENF_ALLOW, C_ENF_AUDIT, C_ENF_DENY, C_N };

static const struct {
	const char *name;
	uint32_t flags;	    /* endpoint flags */
	bool audit_entries; /* the subject's audit policies' entries are in the map */
	bool enf_entries;   /* its enforced entries are */
	uint16_t dport;
	int reason;
} cases[C_N] = {
	[C_EMPTY] = {"empty TC program (floor)", 0, false, false, ALLOW, -1},
	[C_NONE] = {"no policy selects the pod", 0, false, false, ALLOW, PW_OK_NOT_ISOLATED},
	[C_AUDIT_ALLOW] = {"audit policies only, flow allowed by an audit rule",
			   PW_EP_F_AUDIT_ISOLATE_EGRESS, true, false, ALLOW, PW_OK_NOT_ISOLATED},
	[C_AUDIT_DENY] = {"audit policies only, would-be deny (AUDIT record)",
			  PW_EP_F_AUDIT_ISOLATE_EGRESS, true, false, DENY, PW_OK_AUDIT},
	[C_ENF_ALLOW] = {"enforced policies, allowed", PW_EP_F_ISOLATE_EGRESS, false, true, ALLOW,
			 PW_OK_POLICY},
	[C_ENF_AUDIT] = {"enforced and audit policies, allowed", PW_EP_F_ISOLATE_EGRESS, true, true,
			 ALLOW, PW_OK_POLICY},
	[C_ENF_DENY] = {"enforced policies, denied (DROP record)", PW_EP_F_ISOLATE_EGRESS, false,
			true, DENY, PW_DROP_POLICY},
};

struct bench {
	struct pw_dp *dp;
	struct empty *empty;
	unsigned int ifindex;
	int rounds, calls;
	int repeat;
	bool markdown;
	double mean[C_N][MAX_RND];
	double dmean[C_N][MAX_RND]; /* decision only */
	uint64_t events;
};

static void log_cb(void *ctx, enum pw_log_level level, const char *msg)
{
	fprintf(stderr, "datapath: %s\n", msg);
}

static void on_event(void *ctx, int cpu, const struct pw_event *ev)
{
	((struct bench *)ctx)->events++;
}

static void on_lost(void *ctx, int cpu, uint64_t lost)
{
}

/* TCP to ALLOW, and ICMP (all of it), from the subject to the peer */
static struct pw_policy_entry entry(bool audit, bool icmp)
{
	struct pw_policy_entry e = {
		.subject = SUBJ,
		.peer = PEER,
		.direction = PW_DIR_EGRESS | (audit ? PW_POL_DIR_AUDIT : 0),
		.proto = icmp ? IPPROTO_ICMP : IPPROTO_TCP,
		.port_lo = icmp ? 0 : ALLOW,
		.port_hi = icmp ? 0xffff : ALLOW,
		.val = {.flags = PW_POL_F_ALLOW, .cookie = audit ? 2 : 1},
	};

	return e;
}

static int set_entries(struct bench *b, bool audit, bool tcp, bool icmp)
{
	struct pw_policy_entry t = entry(audit, false), i = entry(audit, true);
	int err;

	err = tcp ? pw_dp_policy_update(b->dp, &t, 1) : pw_dp_policy_delete(b->dp, &t, 1);
	if (err >= 0)
		err = icmp ? pw_dp_policy_update(b->dp, &i, 1) : pw_dp_policy_delete(b->dp, &i, 1);
	return err < 0 ? err : 0;
}

static int setup_case(struct bench *b, int c)
{
	struct pw_endpoint ep = {
		.ep_id = 1, .identity = SUBJ, .ifindex = b->ifindex, .policy_gen = 1, .n_v4 = 1};
	/* a denied case allows no ICMP either */
	bool icmp = cases[c].dport == ALLOW;
	int err;

	tp_addr(4, SUBJ4, &ep.v4[0]);
	/* the source MAC of tc_pkt's frames: the link-layer check wants the pod's own */
	memcpy(ep.mac, "\x02\x00\x00\x00\x00\x01", sizeof(ep.mac));
	ep.flags = cases[c].flags;
	err = pw_dp_endpoint_upsert(b->dp, &ep);
	if (!err)
		err = set_entries(b, true, cases[c].audit_entries, cases[c].audit_entries && icmp);
	if (!err)
		err = set_entries(b, false, cases[c].enf_entries, cases[c].enf_entries && icmp);
	return err;
}

/*
 * One case, one round: calls new flows, their mean run time in ns. Decision mode (icmp): one
 * call of an ICMP echo reply from the pod run `repeat` times: judged by policy every time and
 * never tracked, it measures the decision without the conntrack insert.
 */
static int run_case(struct bench *b, int c, bool icmp, double *mean)
{
	int fd = c == C_EMPTY ? bpf_program__fd(b->empty->progs.pw_bench_empty)
			      : pw_dp_prog_fd(b->dp, PW_PROG_TC_INGRESS);
	struct pw_metric m0 = {0}, m1 = {0};
	uint32_t slot = cases[c].reason >= 0 ? PW_METRIC_IDX(cases[c].reason, PW_DIR_EGRESS) : 0;
	bool drop = cases[c].reason >= 0 && pw_reason_is_drop((unsigned)cases[c].reason);
	uint64_t total = 0;
	uint8_t buf[TP_MAX];
	int i, err;

	if (c != C_EMPTY) {
		err = setup_case(b, c);
		if (!err)
			err = pw_dp_metric_read(b->dp, slot, &m0);
		if (err)
			return err;
	}
	for (i = 0; i < (icmp ? 1 : b->calls); i++) {
		struct tp t = {.family = 4,
			       .src = SUBJ4,
			       .dst = PEER4,
			       .proto = IPPROTO_TCP,
			       .sport = (uint16_t)(10000 + i),
			       .dport = cases[c].dport,
			       .tcp_flags = 0x02};
		struct tp e = {.family = 4,
			       .src = SUBJ4,
			       .dst = PEER4,
			       .proto = IPPROTO_ICMP,
			       .icmp_type = 0 /* echo reply */,
			       .icmp_id = 7};
		struct __sk_buff skb = {.ifindex = b->ifindex};
		size_t len = tp_build(icmp ? &e : &t, buf);

		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = buf, .data_size_in = len,
			    .ctx_in = &skb, .ctx_size_in = sizeof(skb),
			    .repeat = icmp ? b->repeat : 1);
		err = bpf_prog_test_run_opts(fd, &o);
		if (err)
			return -errno;
		if (o.retval != (drop ? TC_ACT_SHOT : TC_ACT_OK)) {
			fprintf(stderr, "%s: call %d returned %u\n", cases[c].name, i, o.retval);
			return -EPROTO;
		}
		total += o.duration;
	}
	*mean = icmp ? (double)total : (double)total / b->calls;
	if (c == C_EMPTY)
		return 0;
	err = pw_dp_metric_read(b->dp, slot, &m1);
	if (err)
		return err;
	if (m1.packets - m0.packets != (uint64_t)(icmp ? b->repeat : b->calls)) {
		fprintf(stderr, "%s%s: reason %s counted %llu times for %d runs\n", cases[c].name,
			icmp ? " (ICMP)" : "", pw_reason_str((unsigned)cases[c].reason),
			(unsigned long long)(m1.packets - m0.packets), icmp ? b->repeat : b->calls);
		return -EPROTO;
	}
	pw_dp_events_consume(b->dp);
	err = pw_dp_ct_flush(b->dp, 0, NULL, NULL);
	return err < 0 ? err : 0;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double s[MAX_RND];

	memcpy(s, v, (size_t)n * sizeof(*v));
	qsort(s, (size_t)n, sizeof(*s), cmp_d);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void report_one(struct bench *b, double (*mean)[MAX_RND], const char *what)
{
	double med[C_N], floor_ns, base;
	int c;

	for (c = 0; c < C_N; c++)
		med[c] = median(mean[c], b->rounds);
	floor_ns = med[C_EMPTY];
	base = med[C_NONE];
	if (b->markdown)
		printf("%s\n\n| case | ns per packet | vs no policy | above the floor, vs no "
		       "policy |\n|---|---:|---:|---:|\n",
		       what);
	else
		printf("%s\n%-55s %8s %8s %12s\n", what, "case", "ns/pkt", "vs none",
		       "net vs none");
	for (c = 0; c < C_N; c++) {
		char net[16] = "-";

		if (c != C_EMPTY)
			snprintf(net, sizeof(net), "%.2f", (med[c] - floor_ns) / (base - floor_ns));
		if (b->markdown)
			printf("| %s | %.0f | %.2f | %s |\n", cases[c].name, med[c], med[c] / base,
			       net);
		else
			printf("%-55s %8.0f %8.2f %12s\n", cases[c].name, med[c], med[c] / base,
			       net);
	}
	printf("\n");
}

static void report(struct bench *b)
{
	char what[256];

	snprintf(what, sizeof(what),
		 "New flows (TCP SYN, each a new flow: decision, conntrack insert, record): %d "
		 "rounds x %d calls per case, median of the round means.",
		 b->rounds, b->calls);
	report_one(b, b->mean, what);
	snprintf(what, sizeof(what),
		 "The decision alone (ICMP echo reply from the pod: judged every time, never "
		 "tracked; no event reader, so its record costs only the failed write): %d rounds "
		 "x repeat %d per case, median.",
		 b->rounds, b->repeat);
	report_one(b, b->dmean, what);
}

static int parse_args(struct bench *b, int argc, char **argv)
{
	static const struct option opts[] = {
		{"rounds", required_argument, NULL, 'r'},
		{"calls", required_argument, NULL, 'c'},
		{"repeat", required_argument, NULL, 'R'},
		{"markdown", no_argument, NULL, 'm'},
		{NULL, 0, NULL, 0},
	};
	int o;

	b->rounds = 21;
	b->calls = 2000;
	b->repeat = 5000;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'r':
			b->rounds = atoi(optarg);
			break;
		case 'c':
			b->calls = atoi(optarg);
			break;
		case 'R':
			b->repeat = atoi(optarg);
			break;
		case 'm':
			b->markdown = true;
			break;
		default:
			return -EINVAL;
		}
	}
	if (b->rounds < 1 || b->rounds > MAX_RND || b->calls < 1 || b->calls > 50000 ||
	    b->repeat < 1) {
		fprintf(stderr, "bench_audit: --rounds 1..%d, --calls 1..50000, --repeat 1..\n",
			MAX_RND);
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct bench bench;
	struct bench *b = &bench;
	struct pw_dp_opts dopts = {.sz = sizeof(dopts), .log = log_cb, .log_level = PW_LOG_WARN};
	struct pw_ipcache_entry ic[2] = {0};
	int err, r, c;

	if (parse_args(b, argc, argv))
		return 2;
	/* a private netns: the veth the endpoint is bound to goes away with the process */
	if (unshare(CLONE_NEWNET)) {
		perror("bench_audit: unshare(CLONE_NEWNET) (needs root)");
		return 1;
	}
	if (system("ip link add pwba0 type veth peer name pwba1 && ip link set pwba0 up && "
		   "ip link set pwba1 up")) {
		fprintf(stderr, "bench_audit: cannot create the veth pair\n");
		return 1;
	}
	b->ifindex = if_nametoindex("pwba0");
	err = pw_dp_open(&dopts, &b->dp);
	if (err) {
		fprintf(stderr, "bench_audit: pw_dp_open: %s\n", strerror(-err));
		return 1;
	}
	b->empty = empty__open_and_load();
	if (!b->empty) {
		fprintf(stderr, "bench_audit: cannot load the empty program\n");
		err = -EIO;
		goto out;
	}
	err = pw_dp_events_open(b->dp, 64, on_event, on_lost, b);
	if (!err)
		err = pw_cidr_parse(SUBJ4 "/32", &ic[0].cidr);
	if (!err)
		err = pw_cidr_parse(PEER4 "/32", &ic[1].cidr);
	ic[0].val.identity = SUBJ;
	ic[1].val.identity = PEER;
	if (!err)
		err = pw_dp_ipcache_update(b->dp, ic, 2);
	/* each round starts with another case: no case always runs right after a flush */
	for (r = 0; r < b->rounds && !err; r++) {
		for (c = 0; c < C_N && !err; c++) {
			int k = (c + r) % C_N;

			err = run_case(b, k, false, &b->mean[k][r]);
		}
	}
	/* the decision alone: without a reader, a record is a failed write (counted) */
	if (!err)
		err = pw_dp_events_close(b->dp);
	for (r = 0; r < b->rounds && !err; r++) {
		for (c = 0; c < C_N && !err; c++) {
			int k = (c + r) % C_N;

			err = run_case(b, k, true, &b->dmean[k][r]);
		}
	}
	if (err) {
		fprintf(stderr, "bench_audit: %s\n", strerror(-err));
		goto out;
	}
	report(b);
	if (b->events < (uint64_t)b->rounds * b->calls) {
		fprintf(stderr, "bench_audit: %llu event records, expected at least %llu\n",
			(unsigned long long)b->events, (unsigned long long)b->rounds * b->calls);
		err = -EPROTO;
	}
out:
	empty__destroy(b->empty);
	pw_dp_close(b->dp);
	return err ? 1 : 0;
}
