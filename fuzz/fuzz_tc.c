// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer target: the TC programs' packet parser, through BPF_PROG_TEST_RUN (needs root).
 * Input: one byte choosing the program (bit 0: pod egress = pw_tc_ingress on the host-side
 * veth, else pod ingress = pw_tc_egress), then an Ethernet frame.
 *
 * The fixture: a private netns with one veth pair, an unpinned datapath, one endpoint isolated
 * in both directions with its addresses in the ipcache, and NO policy entry at all. So no
 * packet may pass but what podwall passes without policy by design: ARP (claims checked) and
 * link-scoped IPv6 neighbour discovery and MLD (ICMPv6 types 130-137 and 143, bare or behind
 * hop-by-hop options only; MLD from a link-local or unspecified source). Which of those is
 * link-scoped is the datapath's finer rule (tests/test_tc.c); this harness checks nothing else
 * passes. Verdict invariant, checked on every run: anything else the program lets
 * through is an allow for an isolated endpoint without a matching entry, and aborts.
 * Conntrack could only hold entries for allowed flows: it is checked to stay empty.
 *
 * libFuzzer sees only userspace coverage, not the BPF program's branches. So each run's
 * decision, as the datapath reports it in its event (type, reason, direction), is fed back as
 * an extra coverage counter: an input reaching a new reason is kept and mutated further.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <bpf/bpf.h>
#include <podwall/datapath.h>

#define A4 "198.18.0.10"
#define A6 "fd00::10"
#define ID_A 1001u

/* libFuzzer reads this section as extra coverage (Linux) */
#define N_FEEDBACK (2 * 8 * PW_REASON_MAX * 4)
__attribute__((used, section("__libfuzzer_extra_counters"))) static uint8_t g_feedback[N_FEEDBACK];
static int g_run_prog;

static struct pw_dp *g_dp;
static unsigned int g_ifindex;
static int g_prog[2];

static int sh(const char *cmd)
{
	int rc = system(cmd);

	if (rc)
		fprintf(stderr, "fuzz_tc: `%s` failed (%d)\n", cmd, rc);
	return rc;
}

static void on_event(void *ctx, int cpu, const struct pw_event *ev)
{
	size_t i = ((size_t)g_run_prog * 8 + (ev->type & 7)) * PW_REASON_MAX * 4 +
		   (size_t)(ev->reason % PW_REASON_MAX) * 4 + (ev->direction & 3);

	if (g_feedback[i] < 255)
		g_feedback[i]++;
}

static void on_lost(void *ctx, int cpu, uint64_t lost)
{
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct pw_dp_opts o = {.sz = sizeof(o)};
	struct pw_ipcache_entry ic;
	struct pw_endpoint ep = {0};
	char cmd[128], a[IFNAMSIZ], b[IFNAMSIZ];

	/* everything here goes away with the process: its own netns, unpinned maps */
	if (unshare(CLONE_NEWNET)) {
		fprintf(stderr, "fuzz_tc: unshare(CLONE_NEWNET): %s (needs root)\n",
			strerror(errno));
		exit(1);
	}
	snprintf(a, sizeof(a), "pwfa%d", (int)getpid() % 100000);
	snprintf(b, sizeof(b), "pwfb%d", (int)getpid() % 100000);
	snprintf(cmd, sizeof(cmd), "ip link add %s type veth peer name %s", a, b);
	if (sh(cmd))
		exit(1);
	snprintf(cmd, sizeof(cmd), "ip link set %s up && ip link set %s up", a, b);
	if (sh(cmd))
		exit(1);
	g_ifindex = if_nametoindex(a);
	if (pw_dp_open(&o, &g_dp)) {
		fprintf(stderr, "fuzz_tc: cannot open the datapath\n");
		exit(1);
	}
	if (pw_dp_events_open(g_dp, 8, on_event, on_lost, NULL)) {
		fprintf(stderr, "fuzz_tc: cannot open the event rings\n");
		exit(1);
	}
	ep.ep_id = 11;
	ep.identity = ID_A;
	ep.ifindex = g_ifindex;
	ep.flags = PW_EP_F_ISOLATE_INGRESS | PW_EP_F_ISOLATE_EGRESS;
	ep.policy_gen = 1;
	ep.n_v4 = 1;
	ep.n_v6 = 1;
	inet_pton(AF_INET, A4, &ep.v4[0]);
	inet_pton(AF_INET6, A6, ep.v6[0]);
	if (pw_dp_endpoint_upsert(g_dp, &ep))
		exit(1);
	for (int i = 0; i < 2; i++) {
		memset(&ic, 0, sizeof(ic));
		if (pw_cidr_parse(i ? A6 "/128" : A4 "/32", &ic.cidr))
			exit(1);
		ic.val.identity = ID_A;
		if (pw_dp_ipcache_update(g_dp, &ic, 1))
			exit(1);
	}
	g_prog[0] = pw_dp_prog_fd(g_dp, PW_PROG_TC_EGRESS);
	g_prog[1] = pw_dp_prog_fd(g_dp, PW_PROG_TC_INGRESS);
	if (g_prog[0] < 0 || g_prog[1] < 0)
		exit(1);
	return 0;
}

/* What podwall lets through without policy: ARP, and ND/MLD (ICMPv6 130-137, 143). */
static bool exempt(const uint8_t *p, size_t n)
{
	size_t off = ETH_HLEN;
	const uint8_t *src;
	uint8_t nh;

	if (n < ETH_HLEN)
		return false;
	if (p[12] == 0x08 && p[13] == 0x06)
		return true;
	if (!(p[12] == 0x86 && p[13] == 0xdd) || n < off + 40)
		return false;
	nh = p[off + 6];
	src = p + off + 8;
	off += 40;
	for (int i = 0; i < 8; i++) {
		if (nh == 43 || nh == 60 || nh == 51)
			return false; /* hosts send ND bare, MLD behind hop-by-hop only */
		if (nh == 0) {
			if (n < off + 8)
				return false;
			nh = p[off];
			off += ((size_t)p[off + 1] + 1) * 8;
		} else if (nh == 44) {
			if (n < off + 8 || ((p[off + 2] << 8 | p[off + 3]) & 0xfff8))
				return false;
			nh = p[off];
			off += 8;
		} else {
			break;
		}
	}
	if (nh != IPPROTO_ICMPV6 || n < off + 1)
		return false;
	if (p[off] >= 133 && p[off] <= 137)
		return true;
	if ((p[off] >= 130 && p[off] <= 132) || p[off] == 143) {
		static const uint8_t zero[16];

		/* MLD: from fe80::/10 or :: only (RFC 2710, 3810) */
		return (src[0] == 0xfe && (src[1] & 0xc0) == 0x80) || !memcmp(src, zero, 16);
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct __sk_buff skb = {.ifindex = g_ifindex};
	static unsigned long runs;
	struct pw_map_usage u;
	int egress;

	LIBBPF_OPTS(bpf_test_run_opts, opts);

	if (size < 1 + ETH_HLEN || size > 1 + 4096)
		return -1; /* not a frame: keep it out of the corpus */
	egress = data[0] & 1;
	opts.data_in = data + 1;
	opts.data_size_in = (uint32_t)(size - 1);
	opts.ctx_in = &skb;
	opts.ctx_size_in = sizeof(skb);
	opts.repeat = 1;
	g_run_prog = egress;
	if (bpf_prog_test_run_opts(g_prog[egress], &opts))
		return 0; /* the kernel refused the run (a frame it cannot build) */
	pw_dp_events_consume(g_dp);
	if (opts.retval != TC_ACT_SHOT && !exempt(data + 1, size - 1)) {
		fprintf(stderr, "fuzz_tc: %s of an isolated endpoint with no policy passed (%d)\n",
			egress ? "egress" : "ingress", opts.retval);
		abort();
	}
	/* a census walks the map: now and then, and always on the first runs (the seeds) */
	if ((runs++ < 4096 || !(runs & 0xfff)) && !pw_dp_map_usage(g_dp, PW_DPMAP_CT, &u) &&
	    u.entries) {
		fprintf(stderr, "fuzz_tc: a conntrack entry without any allowed flow\n");
		abort();
	}
	return 0;
}
