// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Table-driven BPF_PROG_TEST_RUN tests of the TC programs, loaded through the datapath
 * library. Each row is {packet, interface, direction, action before, expected verdict,
 * reason (read back from the metrics), conntrack and fragment map change, event}. Rows of a
 * table run in order so replies, fragments and revocations see the state earlier rows left.
 *
 * BPF_PROG_TEST_RUN resolves ctx->ifindex in the caller's netns, so the process first moves
 * to a private netns of its own with two veth pairs; it vanishes with the process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/if_ether.h>
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

#include "tc_pkt.h"

#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif

/* clang-format off */
/* --- addresses (RFC 2544 and ULA test ranges only) -------------------------------------- */
#define A4  "198.18.0.10"
#define B4  "198.18.0.20"
#define W4  "198.18.200.1"   /* not in ipcache: world */
#define R4  "198.18.200.254" /* a router in the world */
#define C4  "198.19.0.1"     /* inside the ipBlock 198.19.0.0/16 */
#define A6  "fd00::10"
#define B6  "fd00::20"
#define W6  "fd00:ffff::1"
#define R6  "fd00:ffff::fe"
#define C6  "fd00:c1d::1"    /* inside the ipBlock fd00:c1d::/32 */
#define LL6 "fe80::1"
#define MC6 "ff02::1"

#define ID_A      1001u
#define ID_B      1002u
#define ID_CIDR_C (PW_ID_CIDR_FLAG | 1) /* ipBlock 198.19.0.0/16, fd00:c1d::/32 */
#define ID_CIDR_A (PW_ID_CIDR_FLAG | 3) /* an ipBlock holding A's addresses */
#define EPID_A    11u
#define EPID_B    12u
#define EP_FLAGS_A (PW_EP_F_ISOLATE_INGRESS | PW_EP_F_ISOLATE_EGRESS)
#define EP_FLAGS_B PW_EP_F_ISOLATE_INGRESS /* B's egress is not isolated */
/* clang-format on */

enum { EP_A, EP_B, EP_NONE };

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

/* clang-format off */
/* Packet templates: field lists so a row can add knobs. */
#define TCP(f, s, d, sp, dp, fl) \
	.family = f, .src = s, .dst = d, .proto = IPPROTO_TCP, .sport = sp, .dport = dp, \
	.tcp_flags = fl
#define UDP(f, s, d, sp, dp) \
	.family = f, .src = s, .dst = d, .proto = IPPROTO_UDP, .sport = sp, .dport = dp
#define SCTP(f, s, d, sp, dp) \
	.family = f, .src = s, .dst = d, .proto = IPPROTO_SCTP, .sport = sp, .dport = dp
#define ICMP4(s, d, t, c, i) \
	.family = 4, .src = s, .dst = d, .proto = IPPROTO_ICMP, .icmp_type = t, .icmp_code = c, \
	.icmp_id = i
#define ICMP6(s, d, t, c, i) \
	.family = 6, .src = s, .dst = d, .proto = IPPROTO_ICMPV6, .icmp_type = t, \
	.icmp_code = c, .icmp_id = i

/* clang-format on */

/* --- fixture ---------------------------------------------------------------------------- */

#define MAX_EVENTS 64

struct fx {
	struct pw_dp *dp;
	unsigned int ifindex[3]; /* EP_A, EP_B, EP_NONE host-side ends */
	char ifname[4][IFNAMSIZ];
	struct pw_event ev[MAX_EVENTS];
	int n_ev;
	uint64_t lost;
};

static struct fx *g_fx; /* pre/post hooks of the tables reach the fixture through it */

#define CHECK(cond, ...)                                                                  \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                                     \
			fprintf(stderr, "\n");                                            \
			goto out;                                                         \
		}                                                                         \
	} while (0)

static void on_event(void *ctx, int cpu, const struct pw_event *ev)
{
	struct fx *fx = ctx;

	if (fx->n_ev < MAX_EVENTS)
		fx->ev[fx->n_ev] = *ev;
	fx->n_ev++;
}

static void on_lost(void *ctx, int cpu, uint64_t lost)
{
	struct fx *fx = ctx;

	fx->lost += lost;
}

static void fill_endpoint(struct pw_endpoint *ep, int which, uint32_t flags)
{
	memset(ep, 0, sizeof(*ep));
	ep->ep_id = which == EP_A ? EPID_A : EPID_B;
	ep->identity = which == EP_A ? ID_A : ID_B;
	ep->ifindex = g_fx->ifindex[which];
	ep->flags = flags;
	ep->policy_gen = 1;
	ep->n_v4 = 1;
	ep->n_v6 = 1;
	tp_addr(4, which == EP_A ? A4 : B4, &ep->v4[0]);
	tp_addr(6, which == EP_A ? A6 : B6, ep->v6[0]);
}

static int set_flags(int which, uint32_t flags)
{
	struct pw_endpoint ep;
	int err;

	/* keep the generation the library may have bumped */
	err = pw_dp_endpoint_lookup_ifindex(g_fx->dp, g_fx->ifindex[which], &ep);
	if (err)
		return err;
	ep.flags = flags;
	return pw_dp_endpoint_upsert(g_fx->dp, &ep);
}

static const struct {
	const char *cidr;
	uint32_t id;
	uint32_t cidr_id;
} ipcache_rows[] = {
	{A4 "/32", ID_A, ID_CIDR_A},
	{B4 "/32", ID_B, 0},
	{A6 "/128", ID_A, ID_CIDR_A},
	{B6 "/128", ID_B, 0},
	{"198.19.0.0/16", ID_CIDR_C, ID_CIDR_C},
	{"fd00:c1d::/32", ID_CIDR_C, ID_CIDR_C},
};

/* clang-format off */
#define POL(subj, peer_, dir, proto_, lo, hi, ck) \
	{.subject = subj, .peer = peer_, .direction = dir, .proto = proto_, .port_lo = lo, \
	 .port_hi = hi, .val = {.flags = PW_POL_F_ALLOW, .cookie = ck}}

static const struct pw_policy_entry policies[] = {
	POL(ID_A, ID_B, PW_DIR_EGRESS, IPPROTO_TCP, 80, 80, 101),
	POL(ID_A, ID_B, PW_DIR_EGRESS, IPPROTO_TCP, 8000, 8100, 102),
	POL(ID_A, ID_B, PW_DIR_EGRESS, IPPROTO_SCTP, 9000, 9000, 103),
	POL(ID_A, PW_ID_ANY, PW_DIR_EGRESS, IPPROTO_UDP, 53, 53, 104),
	POL(ID_A, ID_CIDR_C, PW_DIR_EGRESS, IPPROTO_TCP, 443, 443, 105),
	POL(ID_A, ID_B, PW_DIR_INGRESS, IPPROTO_TCP, 0, 0xffff, 106),
	POL(ID_B, ID_A, PW_DIR_INGRESS, IPPROTO_TCP, 80, 80, 107),
	POL(ID_A, PW_ID_ANY, PW_DIR_EGRESS, IPPROTO_ICMP, 0, 0xffff, 108),
	POL(ID_A, PW_ID_ANY, PW_DIR_EGRESS, IPPROTO_ICMPV6, 0, 0xffff, 109),
	POL(ID_A, PW_ID_WORLD, PW_DIR_EGRESS, IPPROTO_UDP, 5000, 5000, 110),
	POL(ID_B, ID_CIDR_A, PW_DIR_INGRESS, IPPROTO_UDP, 7000, 7000, 111),
	POL(ID_A, ID_B, PW_DIR_EGRESS, IPPROTO_UDP, 0, 0xffff, 112),
};
#define POL_A_B_TCP80    0
#define POL_A_B_TCP_8000 1
/* clang-format on */

static int clear_frags(struct fx *fx)
{
	int fd = pw_dp_map_fd(fx->dp, PW_DPMAP_FRAG);
	struct pw_frag_key k;

	if (fd < 0)
		return fd;
	while (!bpf_map_get_next_key(fd, NULL, &k))
		if (bpf_map_delete_elem(fd, &k))
			return -errno;
	return 0;
}

/* Every table starts from the same state: the default maps, no flows, no fragments. */
static int reset_state(struct fx *fx)
{
	struct pw_ipcache_entry ic;
	struct pw_endpoint ep;
	size_t i;
	int err;

	for (i = 0; i < sizeof(ipcache_rows) / sizeof(ipcache_rows[0]); i++) {
		memset(&ic, 0, sizeof(ic));
		err = pw_cidr_parse(ipcache_rows[i].cidr, &ic.cidr);
		if (err)
			return err;
		ic.val.identity = ipcache_rows[i].id;
		ic.val.cidr_identity = ipcache_rows[i].cidr_id;
		err = pw_dp_ipcache_update(fx->dp, &ic, 1);
		if (err)
			return err;
	}
	err = pw_dp_policy_update(fx->dp, policies, sizeof(policies) / sizeof(policies[0]));
	if (err < 0)
		return err;
	fill_endpoint(&ep, EP_A, EP_FLAGS_A);
	err = pw_dp_endpoint_upsert(fx->dp, &ep);
	if (err)
		return err;
	fill_endpoint(&ep, EP_B, EP_FLAGS_B);
	err = pw_dp_endpoint_upsert(fx->dp, &ep);
	if (err)
		return err;
	err = pw_dp_ct_flush(fx->dp, 0, NULL, NULL);
	if (err < 0)
		return err;
	return clear_frags(fx);
}

/* --- running one row -------------------------------------------------------------------- */

struct step {
	const char *name;
	int ep;	 /* EP_A, EP_B, EP_NONE: which host-side veth */
	int dir; /* pod-relative; PW_DIR_EGRESS runs pw_tc_ingress */
	struct tp pkt;
	bool (*pre)(void); /* before the packet: change maps */
	int verdict;	   /* TC_ACT_OK / TC_ACT_SHOT */
	int reason;
	int ct_delta;
	int frag_delta;
	int ev;		    /* expected event type, 0: none at all */
	uint32_t cookie;    /* expected in the event when non-zero */
	bool (*post)(void); /* after the packet: inspect maps */
};

static int frag_count(struct fx *fx, uint64_t *n)
{
	struct pw_map_usage u;
	int err = pw_dp_map_usage(fx->dp, PW_DPMAP_FRAG, &u);

	*n = u.entries;
	return err;
}

static bool run_step(struct fx *fx, const struct step *s)
{
	static struct pw_metric before[PW_METRICS_SLOTS], after[PW_METRICS_SLOTS];
	uint8_t buf[TP_MAX];
	struct __sk_buff skb = {};
	uint64_t ct0, ct1, fr0, fr1, total = 0;
	int fd, err, i, got_reason = -1;
	bool ok = false;
	size_t len;

	LIBBPF_OPTS(bpf_test_run_opts, opts);

	len = tp_build(&s->pkt, buf);
	skb.ifindex = fx->ifindex[s->ep];
	opts.data_in = buf;
	opts.data_size_in = len;
	opts.ctx_in = &skb;
	opts.ctx_size_in = sizeof(skb);
	opts.repeat = 1;
	fd = pw_dp_prog_fd(fx->dp,
			   s->dir == PW_DIR_EGRESS ? PW_PROG_TC_INGRESS : PW_PROG_TC_EGRESS);
	CHECK(fd >= 0, "prog fd: %d", fd);

	if (s->pre)
		CHECK(s->pre(), "pre action failed");
	CHECK(pw_dp_events_consume(fx->dp) >= 0, "drain events");
	fx->n_ev = 0;
	CHECK(!pw_dp_metrics_read(fx->dp, before), "metrics");
	CHECK(!pw_dp_ct_count(fx->dp, &ct0), "ct count");
	CHECK(!frag_count(fx, &fr0), "frag count");

	err = bpf_prog_test_run_opts(fd, &opts);
	CHECK(!err, "test run: %s", strerror(errno));

	CHECK(pw_dp_events_consume(fx->dp) >= 0, "events");
	CHECK(!pw_dp_metrics_read(fx->dp, after), "metrics");
	CHECK(!pw_dp_ct_count(fx->dp, &ct1), "ct count");
	CHECK(!frag_count(fx, &fr1), "frag count");

	for (i = 0; i < PW_METRICS_SLOTS; i++) {
		uint64_t d = after[i].packets - before[i].packets;

		total += d;
		if (d)
			got_reason = i;
	}
	CHECK(total == 1, "%llu metric increments", (unsigned long long)total);
	CHECK(got_reason % PW_DIR_MAX == s->dir, "counted in direction %d",
	      got_reason % PW_DIR_MAX);
	CHECK(got_reason / PW_DIR_MAX == s->reason, "reason %s, expected %s",
	      pw_reason_str(got_reason / PW_DIR_MAX), pw_reason_str(s->reason));
	CHECK(after[got_reason].bytes - before[got_reason].bytes == len, "bytes counted");
	CHECK((int)opts.retval == s->verdict, "verdict %u, expected %d", opts.retval, s->verdict);
	CHECK((int64_t)(ct1 - ct0) == s->ct_delta, "conntrack changed by %lld, expected %d",
	      (long long)(ct1 - ct0), s->ct_delta);
	CHECK((int64_t)(fr1 - fr0) == s->frag_delta, "fragments changed by %lld, expected %d",
	      (long long)(fr1 - fr0), s->frag_delta);
	CHECK(fx->lost == 0, "events lost");
	if (!s->ev) {
		CHECK(fx->n_ev == 0, "%d unexpected events (first type %u)", fx->n_ev,
		      fx->ev[0].type);
	} else {
		const struct pw_event *ev = &fx->ev[0];

		CHECK(fx->n_ev == 1, "%d events, expected one", fx->n_ev);
		CHECK(ev->type == s->ev, "event type %u, expected %d", ev->type, s->ev);
		CHECK(ev->reason == s->reason, "event reason %s", pw_reason_str(ev->reason));
		CHECK(ev->direction == s->dir, "event direction");
		CHECK(ev->ifindex == skb.ifindex, "event ifindex");
		CHECK(ev->pkt_len == len, "event length");
		if (s->ev != PW_EV_DROP)
			CHECK(ev->proto == s->pkt.proto && ev->family == s->pkt.family &&
				      ev->dport ==
					      htons(s->pkt.proto == IPPROTO_TCP ||
								    s->pkt.proto == IPPROTO_UDP ||
								    s->pkt.proto == IPPROTO_SCTP
							    ? s->pkt.dport
							    : s->pkt.icmp_id),
			      "event tuple");
		CHECK(!s->cookie || ev->cookie == s->cookie, "cookie %u, expected %u", ev->cookie,
		      s->cookie);
		if (s->ep != EP_NONE)
			CHECK(ev->ep_id == (s->ep == EP_A ? EPID_A : EPID_B), "event ep_id");
	}
	if (s->post)
		CHECK(s->post(), "post check failed");
	ok = true;
out:
	if (!ok)
		fprintf(stderr, "  in row \"%s\"\n", s->name);
	return ok;
}

static void run_table(void **state, const struct step *rows, size_t n)
{
	struct fx *fx = *state;
	size_t i, failed = 0;

	assert_int_equal(reset_state(fx), 0);
	for (i = 0; i < n; i++)
		if (!run_step(fx, &rows[i]))
			failed++;
	assert_int_equal(failed, 0);
}

#define RUN(rows) run_table(state, rows, sizeof(rows) / sizeof(rows[0]))

/* --- map inspection for post hooks ------------------------------------------------------ */

static bool ct_get(uint32_t ep_id, int scope, const struct tp *t, struct pw_ct_entry *out)
{
	struct pw_ct_key k = {};
	int fd = pw_dp_map_fd(g_fx->dp, PW_DPMAP_CT);

	k.ep_id = ep_id;
	k.scope = scope;
	k.family = t->family;
	k.proto = t->proto;
	tp_addr(t->family, t->src, k.saddr);
	tp_addr(t->family, t->dst, k.daddr);
	if (t->proto == IPPROTO_ICMP || t->proto == IPPROTO_ICMPV6) {
		k.sport = htons(t->icmp_id);
		k.dport = htons(t->icmp_id);
	} else {
		k.sport = htons(t->sport);
		k.dport = htons(t->dport);
	}
	return fd >= 0 && !bpf_map_lookup_elem(fd, &k, out);
}

static const struct tp flow_a_b_80 = {TCP(4, A4, B4, 40000, 80, TCP_SYN)};

static bool post_established(void)
{
	struct pw_ct_entry e;

	return ct_get(EPID_A, PW_DIR_EGRESS, &flow_a_b_80, &e) && e.state == PW_CT_ESTABLISHED &&
	       e.packets[0] == 2 && e.packets[1] == 1 && e.tcp_flags[1] == (TCP_SYN | TCP_ACK) &&
	       e.cookie == 101 && e.src_identity == ID_A && e.dst_identity == ID_B;
}

static bool post_closing(void)
{
	struct pw_ct_entry e;

	return ct_get(EPID_A, PW_DIR_EGRESS, &flow_a_b_80, &e) && e.state == PW_CT_CLOSING &&
	       e.packets[1] == 2 && (e.tcp_flags[1] & TCP_FIN);
}

static bool post_reopened(void)
{
	struct pw_ct_entry e;

	return ct_get(EPID_A, PW_DIR_EGRESS, &flow_a_b_80, &e) && e.state == PW_CT_NEW &&
	       e.tcp_flags[0] == TCP_SYN && e.tcp_flags[1] == 0 && e.packets[0] == 4;
}

static bool post_new(void)
{
	struct pw_ct_entry e;

	return ct_get(EPID_A, PW_DIR_EGRESS, &flow_a_b_80, &e) && e.state == PW_CT_NEW &&
	       e.packets[0] == 1 && e.bytes[0] > 0 && !(e.flags & PW_CT_F_MIDSTREAM) &&
	       e.policy_gen == 1 && e.created_ns && e.created_ns == e.last_seen_ns;
}

static const struct tp flow_midstream = {TCP(4, A4, B4, 40002, 80, TCP_ACK)};

static bool post_midstream(void)
{
	struct pw_ct_entry e;

	return ct_get(EPID_A, PW_DIR_EGRESS, &flow_midstream, &e) &&
	       (e.flags & PW_CT_F_MIDSTREAM) && e.state == PW_CT_ESTABLISHED;
}

static const struct tp flow_audit = {TCP(4, A4, B4, 40003, 81, TCP_SYN)};

static bool post_audit(void)
{
	struct pw_ct_entry e;

	return ct_get(EPID_A, PW_DIR_EGRESS, &flow_audit, &e) && (e.flags & PW_CT_F_AUDIT) &&
	       e.cookie == 0;
}

static bool post_gen_updated(void)
{
	struct pw_endpoint ep;
	struct pw_ct_entry e;

	return !pw_dp_endpoint_lookup_ifindex(g_fx->dp, g_fx->ifindex[EP_A], &ep) &&
	       ep.policy_gen != 1 && ct_get(EPID_A, PW_DIR_EGRESS, &flow_a_b_80, &e) &&
	       e.policy_gen == ep.policy_gen && e.cookie == 101;
}

static bool pre_bump_a(void)
{
	return pw_dp_bump_generation(g_fx->dp, EPID_A) == 0;
}

static bool pre_revoke_80(void)
{
	return pw_dp_policy_delete(g_fx->dp, &policies[POL_A_B_TCP80], 1) >= 0 && pre_bump_a();
}

static bool pre_revoke_8000(void)
{
	return pw_dp_policy_delete(g_fx->dp, &policies[POL_A_B_TCP_8000], 1) >= 0 && pre_bump_a();
}

static bool pre_audit_a(void)
{
	return !set_flags(EP_A, EP_FLAGS_A | PW_EP_F_AUDIT);
}

static bool pre_quarantine_a(void)
{
	return !set_flags(EP_A, EP_FLAGS_A | PW_EP_F_QUARANTINE);
}

static bool pre_unquarantine_a(void)
{
	return !set_flags(EP_A, EP_FLAGS_A);
}

/* clang-format off: one row per packet reads better than what the formatter makes */
/* --- tables ----------------------------------------------------------------------------- */

#define OK   TC_ACT_OK
#define SHOT TC_ACT_SHOT
#define EG   PW_DIR_EGRESS
#define IN   PW_DIR_INGRESS

#define DROPPED(why) .verdict = SHOT, .reason = why, .ev = PW_EV_DROP
#define NEWFLOW(ck) \
	.verdict = OK, .reason = PW_OK_POLICY, .ct_delta = 1, .ev = PW_EV_FLOW_NEW, .cookie = ck

static const struct step parse_rows[] = {
	{"arp from the pod", EP_A, EG, {.ethertype = ETH_P_ARP}, .reason = PW_OK_PASSTHROUGH},
	{"arp to the pod", EP_A, IN, {.ethertype = ETH_P_ARP}, .reason = PW_OK_PASSTHROUGH},
	{"802.1Q tagged",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 1000, 80, TCP_SYN), .mangle = TP_M_VLAN},
	 DROPPED(PW_DROP_UNSUPPORTED_L3)},
	{"LLDP ethertype", EP_A, EG, {.ethertype = 0x88cc}, DROPPED(PW_DROP_UNSUPPORTED_L3)},
	{"nd neighbour solicitation from link-local",
	 EP_A,
	 EG,
	 {ICMP6(LL6, "ff02::1:ff00:10", 135, 0, 0)},
	 .reason = PW_OK_PASSTHROUGH},
	{"nd neighbour advertisement to the pod",
	 EP_A,
	 IN,
	 {ICMP6(LL6, A6, 136, 0, 0)},
	 .reason = PW_OK_PASSTHROUGH},
	{"nd router solicitation from unspecified",
	 EP_A,
	 EG,
	 {ICMP6("::", MC6, 133, 0, 0)},
	 .reason = PW_OK_PASSTHROUGH},
	{"mldv2 report",
	 EP_A,
	 EG,
	 {ICMP6(LL6, "ff02::16", 143, 0, 0)},
	 .reason = PW_OK_PASSTHROUGH},
	{"ipv4 with options",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 1000, 80, TCP_SYN), .ip_opts = 1},
	 NEWFLOW(101)},
	/*
	 * A frame shorter than its base IP header cannot be test-run: the kernel refuses it
	 * (EINVAL) before the program runs. The frame ending inside options is the next best.
	 */
	{"ipv4 frame ends inside the options",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 1000, 80, TCP_SYN), .ip_opts = 1, .frame_max = ETH_HLEN + 22},
	 DROPPED(PW_DROP_MALFORMED)},
	{"ipv4 ihl 4",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 1001, 80, TCP_SYN), .mangle = TP_M_IHL4},
	 DROPPED(PW_DROP_MALFORMED)},
	{"ipv4 total length past the frame",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 1002, 80, TCP_SYN), .mangle = TP_M_LEN_LONG},
	 DROPPED(PW_DROP_MALFORMED)},
	{"ipv4 total length inside its header",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 1003, 80, TCP_SYN), .mangle = TP_M_LEN_SHORT},
	 DROPPED(PW_DROP_MALFORMED)},
	{"ipv4 version 5",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 1004, 80, TCP_SYN), .mangle = TP_M_BADVER},
	 DROPPED(PW_DROP_MALFORMED)},
	{"ipv6 frame ends inside an extension header",
	 EP_A,
	 EG,
	 {TCP(6, A6, B6, 1000, 80, TCP_SYN), .ext = 1, .frame_max = ETH_HLEN + 41},
	 DROPPED(PW_DROP_MALFORMED)},
	{"ipv6 payload length past the frame",
	 EP_A,
	 EG,
	 {TCP(6, A6, B6, 1001, 80, TCP_SYN), .mangle = TP_M_LEN_LONG},
	 DROPPED(PW_DROP_MALFORMED)},
	{"ipv6 version 4",
	 EP_A,
	 EG,
	 {TCP(6, A6, B6, 1002, 80, TCP_SYN), .mangle = TP_M_BADVER},
	 DROPPED(PW_DROP_MALFORMED)},
	{"ipv6 extension header truncated",
	 EP_A,
	 EG,
	 {TCP(6, A6, B6, 1003, 80, TCP_SYN), .ext = 1, .keep = 1},
	 DROPPED(PW_DROP_MALFORMED)},
	{"tcp truncated",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 1005, 80, TCP_SYN), .keep = 10},
	 DROPPED(PW_DROP_MALFORMED)},
	{"tcp data offset 4",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 1006, 80, TCP_SYN), .mangle = TP_M_DOFF4},
	 DROPPED(PW_DROP_MALFORMED)},
	{"udp truncated",
	 EP_A,
	 EG,
	 {UDP(4, A4, B4, 1000, 53), .keep = 4},
	 DROPPED(PW_DROP_MALFORMED)},
	{"sctp truncated",
	 EP_A,
	 EG,
	 {SCTP(4, A4, B4, 1000, 9000), .keep = 8},
	 DROPPED(PW_DROP_MALFORMED)},
	{"icmp truncated",
	 EP_A,
	 EG,
	 {ICMP4(A4, W4, 8, 0, 1), .keep = 4},
	 DROPPED(PW_DROP_MALFORMED)},
	{"tcp over ipv6 truncated",
	 EP_A,
	 EG,
	 {TCP(6, A6, B6, 1004, 80, TCP_SYN), .keep = 12},
	 DROPPED(PW_DROP_MALFORMED)},
	{"udp over ipv6 truncated",
	 EP_A,
	 EG,
	 {UDP(6, A6, B6, 1000, 53), .keep = 6},
	 DROPPED(PW_DROP_MALFORMED)},
	{"sctp over ipv6 truncated",
	 EP_A,
	 EG,
	 {SCTP(6, A6, B6, 1000, 9000), .keep = 11},
	 DROPPED(PW_DROP_MALFORMED)},
	{"icmpv6 truncated",
	 EP_A,
	 EG,
	 {ICMP6(A6, W6, 128, 0, 1), .keep = 3},
	 DROPPED(PW_DROP_MALFORMED)},
	{"unmanaged interface, out",
	 EP_NONE,
	 EG,
	 {TCP(4, W4, B4, 1, 2, TCP_SYN)},
	 .reason = PW_OK_NO_ENDPOINT},
	{"unmanaged interface, in",
	 EP_NONE,
	 IN,
	 {TCP(4, W4, B4, 1, 2, TCP_SYN)},
	 .reason = PW_OK_NO_ENDPOINT},
};

static void test_parse(void **state)
{
	RUN(parse_rows);
}

static const struct step policy_rows[] = {
	{"tcp allowed", EP_A, EG, {TCP(4, A4, B4, 41000, 80, TCP_SYN)}, NEWFLOW(101)},
	{"tcp other port denied",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 41000, 81, TCP_SYN)},
	 DROPPED(PW_DROP_POLICY)},
	{"range: one below",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 41000, 7999, TCP_SYN)},
	 DROPPED(PW_DROP_POLICY)},
	{"range: low end", EP_A, EG, {TCP(4, A4, B4, 41000, 8000, TCP_SYN)}, NEWFLOW(102)},
	{"range: high end", EP_A, EG, {TCP(4, A4, B4, 41000, 8100, TCP_SYN)}, NEWFLOW(102)},
	{"range: one above",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 41000, 8101, TCP_SYN)},
	 DROPPED(PW_DROP_POLICY)},
	{"sctp allowed", EP_A, EG, {SCTP(4, A4, B4, 41000, 9000)}, NEWFLOW(103)},
	{"sctp's port over tcp denied",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 41000, 9000, TCP_SYN)},
	 DROPPED(PW_DROP_POLICY)},
	{"sctp other port denied",
	 EP_A,
	 EG,
	 {SCTP(4, A4, B4, 41000, 9001)},
	 DROPPED(PW_DROP_POLICY)},
	{"udp to any peer", EP_A, EG, {UDP(4, A4, W4, 41000, 53)}, NEWFLOW(104)},
	{"udp to any peer, other port",
	 EP_A,
	 EG,
	 {UDP(4, A4, W4, 41000, 54)},
	 DROPPED(PW_DROP_POLICY)},
	{"tcp to ipBlock", EP_A, EG, {TCP(4, A4, C4, 41000, 443, TCP_SYN)}, NEWFLOW(105)},
	{"tcp to world outside the ipBlock",
	 EP_A,
	 EG,
	 {TCP(4, A4, W4, 41000, 443, TCP_SYN)},
	 DROPPED(PW_DROP_POLICY)},
	{"udp to world identity", EP_A, EG, {UDP(4, A4, W4, 41000, 5000)}, NEWFLOW(110)},
	{"pod peer matched by its ipBlock", EP_B, IN, {UDP(4, A4, B4, 41000, 7000)}, NEWFLOW(111)},
	{"pod peer's ipBlock, other port",
	 EP_B,
	 IN,
	 {UDP(4, A4, B4, 41000, 7001)},
	 DROPPED(PW_DROP_POLICY)},
	{"ingress allowed", EP_B, IN, {TCP(4, A4, B4, 41000, 80, TCP_SYN)}, NEWFLOW(107)},
	{"ingress from world denied",
	 EP_A,
	 IN,
	 {TCP(4, W4, A4, 41000, 22, TCP_SYN)},
	 DROPPED(PW_DROP_POLICY)},
	{"ingress any port from B", EP_A, IN, {TCP(4, B4, A4, 41000, 22, TCP_SYN)}, NEWFLOW(106)},
	{"icmp echo to any", EP_A, EG, {ICMP4(A4, W4, 8, 0, 7)}, NEWFLOW(108)},
	{"v6 tcp allowed", EP_A, EG, {TCP(6, A6, B6, 41000, 80, TCP_SYN)}, NEWFLOW(101)},
	{"v6 tcp denied", EP_A, EG, {TCP(6, A6, B6, 41000, 81, TCP_SYN)}, DROPPED(PW_DROP_POLICY)},
	{"v6 range: one below",
	 EP_A,
	 EG,
	 {TCP(6, A6, B6, 41000, 7999, TCP_SYN)},
	 DROPPED(PW_DROP_POLICY)},
	{"v6 range: low end", EP_A, EG, {TCP(6, A6, B6, 41000, 8000, TCP_SYN)}, NEWFLOW(102)},
	{"v6 range: high end", EP_A, EG, {TCP(6, A6, B6, 41000, 8100, TCP_SYN)}, NEWFLOW(102)},
	{"v6 range: one above",
	 EP_A,
	 EG,
	 {TCP(6, A6, B6, 41000, 8101, TCP_SYN)},
	 DROPPED(PW_DROP_POLICY)},
	{"v6 sctp allowed", EP_A, EG, {SCTP(6, A6, B6, 41000, 9000)}, NEWFLOW(103)},
	{"v6 sctp other port denied",
	 EP_A,
	 EG,
	 {SCTP(6, A6, B6, 41000, 9001)},
	 DROPPED(PW_DROP_POLICY)},
	{"v6 sctp's port over udp denied",
	 EP_A,
	 EG,
	 {UDP(6, A6, W6, 41000, 9000)},
	 DROPPED(PW_DROP_POLICY)},
	{"v6 udp any port to B", EP_A, EG, {UDP(6, A6, B6, 41000, 1234)}, NEWFLOW(112)},
	{"v6 udp to any peer", EP_A, EG, {UDP(6, A6, W6, 41000, 53)}, NEWFLOW(104)},
	{"v6 tcp to ipBlock", EP_A, EG, {TCP(6, A6, C6, 41000, 443, TCP_SYN)}, NEWFLOW(105)},
	{"v6 tcp to world denied",
	 EP_A,
	 EG,
	 {TCP(6, A6, W6, 41000, 443, TCP_SYN)},
	 DROPPED(PW_DROP_POLICY)},
	{"v6 icmp echo to any", EP_A, EG, {ICMP6(A6, W6, 128, 0, 7)}, NEWFLOW(109)},
	{"v6 ingress allowed", EP_B, IN, {TCP(6, A6, B6, 41000, 80, TCP_SYN)}, NEWFLOW(107)},
	{"v6 ingress denied",
	 EP_B,
	 IN,
	 {TCP(6, A6, B6, 41000, 81, TCP_SYN)},
	 DROPPED(PW_DROP_POLICY)},
};

static void test_policy(void **state)
{
	RUN(policy_rows);
}

static const struct step ct_rows[] = {
	{"syn: one entry, one event",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 40000, 80, TCP_SYN)},
	 NEWFLOW(101),
	 .post = post_new},
	{"syn retransmitted",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 40000, 80, TCP_SYN)},
	 .reason = PW_OK_ESTABLISHED},
	{"syn-ack reply",
	 EP_A,
	 IN,
	 {TCP(4, B4, A4, 80, 40000, TCP_SYN | TCP_ACK)},
	 .reason = PW_OK_REPLY,
	 .post = post_established},
	{"ack", EP_A, EG, {TCP(4, A4, B4, 40000, 80, TCP_ACK)}, .reason = PW_OK_ESTABLISHED},
	{"fin from the peer",
	 EP_A,
	 IN,
	 {TCP(4, B4, A4, 80, 40000, TCP_FIN | TCP_ACK)},
	 .reason = PW_OK_REPLY,
	 .post = post_closing},
	{"port pair reused: a new syn reopens the entry",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 40000, 80, TCP_SYN)},
	 .reason = PW_OK_ESTABLISHED,
	 .post = post_reopened},
	{"a's egress flow to B:8000",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 40001, 8000, TCP_SYN)},
	 NEWFLOW(102)},
	{"does not satisfy b's ingress",
	 EP_B,
	 IN,
	 {TCP(4, A4, B4, 40001, 8000, TCP_SYN)},
	 DROPPED(PW_DROP_POLICY)},
	{"b's answer is b's own new flow",
	 EP_B,
	 EG,
	 {TCP(4, B4, A4, 8000, 40001, TCP_SYN | TCP_ACK)},
	 .reason = PW_OK_NOT_ISOLATED,
	 .ct_delta = 1,
	 .ev = PW_EV_FLOW_NEW},
	{"and a reply at a",
	 EP_A,
	 IN,
	 {TCP(4, B4, A4, 8000, 40001, TCP_SYN | TCP_ACK)},
	 .reason = PW_OK_REPLY},
	{"same tuple seen at a's own ingress is not a's egress flow",
	 EP_A,
	 IN,
	 {TCP(4, A4, B4, 40001, 8000, TCP_ACK)},
	 DROPPED(PW_DROP_POLICY)},
	{"flow admitted at a's ingress",
	 EP_A,
	 IN,
	 {TCP(4, B4, A4, 40200, 22, TCP_SYN)},
	 NEWFLOW(106)},
	{"continues as established",
	 EP_A,
	 IN,
	 {TCP(4, B4, A4, 40200, 22, TCP_ACK)},
	 .reason = PW_OK_ESTABLISHED},
	{"a's answer is a reply, not an egress decision",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 22, 40200, TCP_SYN | TCP_ACK)},
	 .reason = PW_OK_REPLY},
	{"picked up mid-stream",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 40002, 80, TCP_ACK)},
	 NEWFLOW(101),
	 .post = post_midstream},
	{"udp query", EP_A, EG, {UDP(4, A4, W4, 40000, 53)}, NEWFLOW(104)},
	{"udp answer", EP_A, IN, {UDP(4, W4, A4, 53, 40000)}, .reason = PW_OK_REPLY},
	{"udp unsolicited", EP_A, IN, {UDP(4, W4, A4, 53, 40001)}, DROPPED(PW_DROP_POLICY)},
	{"icmp echo", EP_A, EG, {ICMP4(A4, W4, 8, 0, 77)}, NEWFLOW(108)},
	{"icmp echo reply", EP_A, IN, {ICMP4(W4, A4, 0, 0, 77)}, .reason = PW_OK_REPLY},
	{"icmp echo reply, other id", EP_A, IN, {ICMP4(W4, A4, 0, 0, 78)}, DROPPED(PW_DROP_POLICY)},
	{"icmpv6 echo", EP_A, EG, {ICMP6(A6, W6, 128, 0, 5)}, NEWFLOW(109)},
	{"icmpv6 echo reply", EP_A, IN, {ICMP6(W6, A6, 129, 0, 5)}, .reason = PW_OK_REPLY},
	{"icmpv6 echo reply, other id",
	 EP_A,
	 IN,
	 {ICMP6(W6, A6, 129, 0, 6)},
	 DROPPED(PW_DROP_POLICY)},
	{"v6 tcp reply", EP_A, EG, {TCP(6, A6, B6, 40000, 80, TCP_SYN)}, NEWFLOW(101)},
	{"v6 tcp reply arrives",
	 EP_A,
	 IN,
	 {TCP(6, B6, A6, 80, 40000, TCP_SYN | TCP_ACK)},
	 .reason = PW_OK_REPLY},
};

static void test_conntrack(void **state)
{
	RUN(ct_rows);
}

static const struct tp q4_tracked = {TCP(4, A4, C4, 40000, 443, TCP_SYN)};
static const struct tp q4_unknown = {TCP(4, A4, C4, 40009, 443, TCP_SYN)};
static const struct tp q4_reply = {TCP(4, C4, A4, 443, 40000, TCP_SYN | TCP_ACK)};
static const struct tp q4_admitted_in = {TCP(4, B4, A4, 40100, 22, TCP_SYN)};
static const struct tp q6_tracked = {TCP(6, A6, B6, 40000, 80, TCP_SYN)};
static const struct tp q6_unknown = {UDP(6, A6, W6, 40000, 9)};
static const struct tp q4_echo = {ICMP4(A4, W4, 8, 0, 99)};

static const struct step related_rows[] = {
	{"tcp to ipBlock", EP_A, EG, {TCP(4, A4, C4, 40000, 443, TCP_SYN)}, NEWFLOW(105)},
	{"icmp unreachable about it",
	 EP_A,
	 IN,
	 {ICMP4(R4, A4, 3, 1, 0), .inner = &q4_tracked},
	 .reason = PW_OK_RELATED},
	{"icmp time exceeded about another flow",
	 EP_A,
	 IN,
	 {ICMP4(R4, A4, 11, 0, 0), .inner = &q4_unknown},
	 DROPPED(PW_DROP_POLICY)},
	{"icmp error quoting a reply, sent by the pod",
	 EP_A,
	 EG,
	 {ICMP4(A4, C4, 3, 3, 0), .inner = &q4_reply},
	 .reason = PW_OK_RELATED},
	{"flow admitted at ingress", EP_A, IN, {TCP(4, B4, A4, 40100, 22, TCP_SYN)}, NEWFLOW(106)},
	{"pod's port unreachable about it",
	 EP_A,
	 EG,
	 {ICMP4(A4, B4, 3, 3, 0), .inner = &q4_admitted_in},
	 .reason = PW_OK_RELATED},
	{"ping out", EP_A, EG, {ICMP4(A4, W4, 8, 0, 99)}, NEWFLOW(108)},
	{"icmp error quoting the echo",
	 EP_A,
	 IN,
	 {ICMP4(R4, A4, 11, 0, 0), .inner = &q4_echo},
	 .reason = PW_OK_RELATED},
	{"icmp error quoting nothing readable, allowed out",
	 EP_A,
	 EG,
	 {ICMP4(A4, W4, 3, 3, 0), .inner = &q4_unknown, .keep = 12},
	 .reason = PW_OK_POLICY,
	 .ev = PW_EV_FLOW_NEW,
	 .cookie = 108},
	{"errors are judged each time, never tracked",
	 EP_A,
	 EG,
	 {ICMP4(A4, W4, 3, 3, 0), .inner = &q4_unknown, .keep = 12},
	 .reason = PW_OK_POLICY,
	 .ev = PW_EV_FLOW_NEW,
	 .cookie = 108},
	{"v6 tcp", EP_A, EG, {TCP(6, A6, B6, 40000, 80, TCP_SYN)}, NEWFLOW(101)},
	{"icmpv6 packet too big about it",
	 EP_A,
	 IN,
	 {ICMP6(R6, A6, 2, 0, 0), .inner = &q6_tracked},
	 .reason = PW_OK_RELATED},
	{"icmpv6 unreachable about another flow",
	 EP_A,
	 IN,
	 {ICMP6(R6, A6, 1, 4, 0), .inner = &q6_unknown},
	 DROPPED(PW_DROP_POLICY)},
};

static void test_related(void **state)
{
	RUN(related_rows);
}

static const struct step spoof_rows[] = {
	{"v4 source of another pod",
	 EP_A,
	 EG,
	 {TCP(4, B4, W4, 1, 80, TCP_SYN)},
	 DROPPED(PW_DROP_SPOOFED)},
	{"v6 source of another pod",
	 EP_A,
	 EG,
	 {TCP(6, B6, W6, 1, 80, TCP_SYN)},
	 DROPPED(PW_DROP_SPOOFED)},
	{"v6 link-local source, not nd",
	 EP_A,
	 EG,
	 {TCP(6, LL6, B6, 1, 80, TCP_SYN)},
	 DROPPED(PW_DROP_SPOOFED)},
	{"v6 link-local nd", EP_A, EG, {ICMP6(LL6, MC6, 135, 0, 0)}, .reason = PW_OK_PASSTHROUGH},
	{"spoofed even when egress is not isolated",
	 EP_B,
	 EG,
	 {UDP(4, A4, W4, 1, 9)},
	 DROPPED(PW_DROP_SPOOFED)},
	{"spoofed icmp echo", EP_A, EG, {ICMP4(W4, B4, 8, 0, 1)}, DROPPED(PW_DROP_SPOOFED)},
	{"spoofed first fragment",
	 EP_A,
	 EG,
	 {UDP(4, B4, W4, 1, 53), .frag = TP_FRAG_FIRST, .frag_id = 5},
	 DROPPED(PW_DROP_SPOOFED)},
	{"records nothing for the real owner's fragments",
	 EP_B,
	 EG,
	 {UDP(4, B4, W4, 1, 53), .frag = TP_FRAG_LATER, .frag_id = 5},
	 DROPPED(PW_DROP_FRAG_NO_FIRST)},
	{"ingress source is not checked", EP_A, IN, {TCP(4, B4, A4, 1, 22, TCP_SYN)}, NEWFLOW(106)},
	{"own address passes", EP_A, EG, {TCP(4, A4, B4, 1, 80, TCP_SYN)}, NEWFLOW(101)},
};

static void test_spoof(void **state)
{
	RUN(spoof_rows);
}

static const struct step exthdr_rows[] = {
	{"3 extension headers", EP_A, EG, {TCP(6, A6, B6, 1, 80, TCP_SYN), .ext = 3}, NEWFLOW(101)},
	{"8 extension headers", EP_A, EG, {TCP(6, A6, B6, 2, 80, TCP_SYN), .ext = 8}, NEWFLOW(101)},
	{"9 extension headers",
	 EP_A,
	 EG,
	 {TCP(6, A6, B6, 3, 80, TCP_SYN), .ext = 9},
	 DROPPED(PW_DROP_EXTHDR_LIMIT)},
	{"8 + fragment header",
	 EP_A,
	 EG,
	 {TCP(6, A6, B6, 4, 80, TCP_SYN), .ext = 8, .frag = TP_FRAG_FIRST, .frag_id = 1},
	 DROPPED(PW_DROP_EXTHDR_LIMIT)},
	{"policy still applies behind them",
	 EP_A,
	 EG,
	 {TCP(6, A6, B6, 5, 81, TCP_SYN), .ext = 2},
	 DROPPED(PW_DROP_POLICY)},
	{"ingress through 2 headers",
	 EP_A,
	 IN,
	 {TCP(6, B6, A6, 6, 22, TCP_SYN), .ext = 2},
	 NEWFLOW(106)},
};

static void test_exthdr(void **state)
{
	RUN(exthdr_rows);
}

static const struct step frag_rows[] = {
	{"v4 first fragment allowed",
	 EP_A,
	 EG,
	 {UDP(4, A4, W4, 40000, 53), .frag = TP_FRAG_FIRST, .frag_id = 0x1234},
	 NEWFLOW(104),
	 .frag_delta = 1},
	{"v4 later fragment",
	 EP_A,
	 EG,
	 {UDP(4, A4, W4, 40000, 53), .frag = TP_FRAG_LATER, .frag_id = 0x1234},
	 .reason = PW_OK_FRAG},
	{"v4 later fragment, no first",
	 EP_A,
	 EG,
	 {UDP(4, A4, W4, 40000, 53), .frag = TP_FRAG_LATER, .frag_id = 0x9999},
	 DROPPED(PW_DROP_FRAG_NO_FIRST)},
	{"v4 first fragment denied",
	 EP_A,
	 EG,
	 {UDP(4, A4, W4, 40000, 54), .frag = TP_FRAG_FIRST, .frag_id = 0x4321},
	 DROPPED(PW_DROP_POLICY),
	 .frag_delta = 1},
	{"v4 later fragment of the denied",
	 EP_A,
	 EG,
	 {UDP(4, A4, W4, 40000, 54), .frag = TP_FRAG_LATER, .frag_id = 0x4321},
	 DROPPED(PW_DROP_FRAG_DENIED)},
	{"v4 tiny first fragment hiding the tcp header",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 40000, 80, TCP_SYN), .frag = TP_FRAG_FIRST, .frag_id = 0x55, .keep = 8},
	 DROPPED(PW_DROP_MALFORMED),
	 .frag_delta = 1},
	{"its later fragment",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 40000, 80, TCP_SYN), .frag = TP_FRAG_LATER, .frag_id = 0x55},
	 DROPPED(PW_DROP_FRAG_DENIED)},
	{"v4 ingress later fragment, no first",
	 EP_A,
	 IN,
	 {UDP(4, W4, A4, 53, 40000), .frag = TP_FRAG_LATER, .frag_id = 0x77},
	 DROPPED(PW_DROP_FRAG_NO_FIRST)},
	{"v6 first fragment allowed",
	 EP_A,
	 EG,
	 {UDP(6, A6, W6, 40000, 53), .frag = TP_FRAG_FIRST, .frag_id = 0xabcdef},
	 NEWFLOW(104),
	 .frag_delta = 1},
	{"v6 later fragment",
	 EP_A,
	 EG,
	 {UDP(6, A6, W6, 40000, 53), .frag = TP_FRAG_LATER, .frag_id = 0xabcdef},
	 .reason = PW_OK_FRAG},
	{"v6 later fragment behind extension headers",
	 EP_A,
	 EG,
	 {UDP(6, A6, W6, 40000, 53), .frag = TP_FRAG_LATER, .frag_id = 0xabcdef, .ext = 2},
	 .reason = PW_OK_FRAG},
	{"v6 later fragment, no first",
	 EP_A,
	 EG,
	 {UDP(6, A6, W6, 40000, 53), .frag = TP_FRAG_LATER, .frag_id = 7},
	 DROPPED(PW_DROP_FRAG_NO_FIRST)},
	{"v6 first fragment denied",
	 EP_A,
	 EG,
	 {UDP(6, A6, W6, 40000, 54), .frag = TP_FRAG_FIRST, .frag_id = 8},
	 DROPPED(PW_DROP_POLICY),
	 .frag_delta = 1},
	{"v6 later fragment of the denied",
	 EP_A,
	 EG,
	 {UDP(6, A6, W6, 40000, 54), .frag = TP_FRAG_LATER, .frag_id = 8},
	 DROPPED(PW_DROP_FRAG_DENIED)},
	{"v4 fragment of an established flow",
	 EP_A,
	 EG,
	 {UDP(4, A4, W4, 40000, 53), .frag = TP_FRAG_FIRST, .frag_id = 0x1235},
	 .reason = PW_OK_ESTABLISHED,
	 .frag_delta = 1},
};

static void test_frag(void **state)
{
	RUN(frag_rows);
}

static const struct step revoke_rows[] = {
	{"flow to B:80", EP_A, EG, {TCP(4, A4, B4, 40000, 80, TCP_SYN)}, NEWFLOW(101)},
	{"reply", EP_A, IN, {TCP(4, B4, A4, 80, 40000, TCP_SYN | TCP_ACK)}, .reason = PW_OK_REPLY},
	{"generation bumped, entry still there",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 40000, 80, TCP_ACK)},
	 .pre = pre_bump_a,
	 .reason = PW_OK_ESTABLISHED,
	 .post = post_gen_updated},
	{"flow to B:8000", EP_A, EG, {TCP(4, A4, B4, 40001, 8000, TCP_SYN)}, NEWFLOW(102)},
	{"entry deleted: reply revoked",
	 EP_A,
	 IN,
	 {TCP(4, B4, A4, 80, 40000, TCP_ACK)},
	 .pre = pre_revoke_80,
	 .verdict = SHOT,
	 .reason = PW_DROP_REVOKED,
	 .ct_delta = -1,
	 .ev = PW_EV_REVOKED},
	{"and the next packet is a denied new flow",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 40000, 80, TCP_ACK)},
	 DROPPED(PW_DROP_POLICY)},
	{"B:8000 still allowed after the same bump",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 40001, 8000, TCP_ACK)},
	 .reason = PW_OK_ESTABLISHED},
	{"B:8000 revoked in its original direction",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 40001, 8000, TCP_ACK)},
	 .pre = pre_revoke_8000,
	 .verdict = SHOT,
	 .reason = PW_DROP_REVOKED,
	 .ct_delta = -1,
	 .ev = PW_EV_REVOKED},
};

static void test_revocation(void **state)
{
	RUN(revoke_rows);
}

static const struct step mode_rows[] = {
	{"egress not isolated",
	 EP_B,
	 EG,
	 {UDP(4, B4, W4, 40000, 9999)},
	 .reason = PW_OK_NOT_ISOLATED,
	 .ct_delta = 1,
	 .ev = PW_EV_FLOW_NEW},
	{"established before quarantine",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 40000, 80, TCP_SYN)},
	 NEWFLOW(101)},
	{"audit: would-be deny passes",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 40003, 81, TCP_SYN)},
	 .pre = pre_audit_a,
	 .reason = PW_OK_AUDIT,
	 .ct_delta = 1,
	 .ev = PW_EV_AUDIT,
	 .post = post_audit},
	{"audit: then established, silently",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 40003, 81, TCP_ACK)},
	 .reason = PW_OK_ESTABLISHED},
	{"audit: allowed flows stay allowed",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 40004, 80, TCP_SYN)},
	 NEWFLOW(101)},
	{"quarantine: established flow",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 40000, 80, TCP_ACK)},
	 .pre = pre_quarantine_a,
	 DROPPED(PW_DROP_QUARANTINE)},
	{"quarantine: reply",
	 EP_A,
	 IN,
	 {TCP(4, B4, A4, 80, 40000, TCP_ACK)},
	 DROPPED(PW_DROP_QUARANTINE)},
	{"quarantine: arp", EP_A, EG, {.ethertype = ETH_P_ARP}, DROPPED(PW_DROP_QUARANTINE)},
	{"quarantine: nd", EP_A, EG, {ICMP6(LL6, MC6, 135, 0, 0)}, DROPPED(PW_DROP_QUARANTINE)},
	{"quarantine lifted",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 40000, 80, TCP_ACK)},
	 .pre = pre_unquarantine_a,
	 .reason = PW_OK_ESTABLISHED},
};

static void test_modes(void **state)
{
	RUN(mode_rows);
}

/* clang-format on */

/* --- setup ------------------------------------------------------------------------------ */

static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd) == 0 ? 0 : -1;
}

static struct fx fx_storage;

static int group_setup(void **state)
{
	struct fx *fx = &fx_storage;
	struct pw_dp_opts opts = {.sz = sizeof(opts)};
	int i, err;

	g_fx = fx;
	/* a private netns: the veths and everything in it go away with this process */
	if (unshare(CLONE_NEWNET)) {
		fprintf(stderr, "unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return -1;
	}
	for (i = 0; i < 4; i++)
		snprintf(fx->ifname[i], IFNAMSIZ, "pwt%c%d", 'a' + i, (int)getpid());
	if (sh("ip link add %s type veth peer name %s", fx->ifname[0], fx->ifname[2]) ||
	    sh("ip link add %s type veth peer name %s", fx->ifname[1], fx->ifname[3]))
		return -1;
	fx->ifindex[EP_A] = if_nametoindex(fx->ifname[0]);
	fx->ifindex[EP_B] = if_nametoindex(fx->ifname[1]);
	fx->ifindex[EP_NONE] = if_nametoindex(fx->ifname[2]);
	if (!fx->ifindex[EP_A] || !fx->ifindex[EP_B] || !fx->ifindex[EP_NONE])
		return -1;

	err = pw_dp_open(&opts, &fx->dp);
	if (err) {
		fprintf(stderr, "pw_dp_open: %s\n", strerror(-err));
		return -1;
	}
	err = pw_dp_events_open(fx->dp, 8, on_event, on_lost, fx);
	if (err) {
		fprintf(stderr, "pw_dp_events_open: %s\n", strerror(-err));
		return -1;
	}
	*state = fx;
	return 0;
}

static int group_teardown(void **state)
{
	struct fx *fx = &fx_storage;

	pw_dp_close(fx->dp);
	fx->dp = NULL;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),	  cmocka_unit_test(test_policy),
		cmocka_unit_test(test_conntrack), cmocka_unit_test(test_related),
		cmocka_unit_test(test_spoof),	  cmocka_unit_test(test_exthdr),
		cmocka_unit_test(test_frag),	  cmocka_unit_test(test_revocation),
		cmocka_unit_test(test_modes),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
