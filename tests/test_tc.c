// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Table-driven BPF_PROG_TEST_RUN tests of the TC programs, loaded through the datapath
 * library. Each row is {packet, interface, direction, action before, expected verdict,
 * reason (read back from the metrics), conntrack change (live and parked entries), fragment
 * map change, event}. Rows of a table run in order so replies, fragments and revocations see
 * the state earlier rows left.
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
#include <time.h>
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
#define NODE6 "fd00::1"          /* an address of the node itself */
#define WORLD6_NET "fd00:ffff::/32" /* routed by the node; W6 and R6 are in it */
#define UNROUTED6 "fd00:eeee::1"    /* no route: the node forwards nothing there */
#define A4_2 "198.18.0.11"  /* A's second addresses, after pre_a_second_ip */
#define A6_2 "fd00::11"
#define MC6 "ff02::1"
/* the pods' MACs (set on the veth peers, learned by the library) and link-local addresses */
#define LLA6 "fe80::ff:fe00:a" /* A's: modified EUI-64 of 02:00:00:00:00:0a */
#define LLB6 "fe80::ff:fe00:b"

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

static const uint8_t mac_a[6] = {0x02, 0, 0, 0, 0, 0x0a}, mac_b[6] = {0x02, 0, 0, 0, 0, 0x0b};
static const uint8_t mac_c[6] = {0x02, 0, 0, 0, 0, 0x0c}; /* nobody's */
static const uint8_t mac_bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t mac_mc6[6] = {0x33, 0x33, 0, 0, 0, 0x01};

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
	char ifname[5][IFNAMSIZ]; /* veths, then A's bridge */
	unsigned int bridge;
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
#define POL_A_IN_B_TCP   5
#define POL_A_ICMP       7
#define POL_A_ICMPV6     8
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
	int ct_delta; /* live conntrack entries */
	int parked;   /* parked entries: flows ended in the datapath, awaiting the sweep */
	int ct_lost;  /* PW_METRIC_CT_END_LOST increments: flow ends that found no parking slot */
	int frag_delta;
	int ev;		    /* expected event type, 0: none at all */
	uint32_t cookie;    /* expected in the event when non-zero */
	bool (*post)(void); /* after the packet: inspect maps */
	uint16_t gso_size;  /* > 0: run it as a GSO packet of two segments of this size */
	bool from_pod;	    /* ingress: received on B's veth (another pod), not sent by the node */
};

static int frag_count(struct fx *fx, uint64_t *n)
{
	struct pw_map_usage u;
	int err = pw_dp_map_usage(fx->dp, PW_DPMAP_FRAG, &u);

	*n = u.entries;
	return err;
}

/* Live and parked conntrack entries (struct pw_ct_key: ended != 0 is parked). */
static int ct_census(struct fx *fx, uint64_t *live, uint64_t *parked)
{
	int fd = pw_dp_map_fd(fx->dp, PW_DPMAP_CT);
	struct pw_ct_key k, next;
	void *prev = NULL;

	*live = *parked = 0;
	if (fd < 0)
		return fd;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		if (k.ended)
			(*parked)++;
		else
			(*live)++;
	}
	return 0;
}

static bool run_step(struct fx *fx, const struct step *s)
{
	static struct pw_metric before[PW_METRICS_SLOTS], after[PW_METRICS_SLOTS];
	uint8_t buf[TP_MAX];
	struct __sk_buff skb = {};
	struct tp pkt;
	uint64_t ct0, ct1, pk0, pk1, fr0, fr1, total = 0;
	int fd, err, i, got_reason = -1;
	bool ok = false;
	size_t len;

	LIBBPF_OPTS(bpf_test_run_opts, opts);

	pkt = s->pkt;
	/* a pod sends with its own MAC and receives frames for it, unless the row says else */
	if (s->dir == PW_DIR_EGRESS && !pkt.smac)
		pkt.smac = s->ep == EP_B ? mac_b : mac_a;
	if (s->dir == PW_DIR_INGRESS && !pkt.dmac)
		pkt.dmac = s->ep == EP_B ? mac_b : mac_a;
	len = tp_build(&pkt, buf);
	skb.ifindex = fx->ifindex[s->ep];
	if (s->from_pod)
		skb.ingress_ifindex = fx->ifindex[EP_B];
	if (s->gso_size) {
		skb.gso_size = s->gso_size;
		skb.gso_segs = 2;
	}
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
	CHECK(!ct_census(fx, &ct0, &pk0), "ct count");
	CHECK(!frag_count(fx, &fr0), "frag count");

	err = bpf_prog_test_run_opts(fd, &opts);
	CHECK(!err, "test run: %s", strerror(errno));

	CHECK(pw_dp_events_consume(fx->dp) >= 0, "events");
	CHECK(!pw_dp_metrics_read(fx->dp, after), "metrics");
	CHECK(!ct_census(fx, &ct1, &pk1), "ct count");
	CHECK(!frag_count(fx, &fr1), "frag count");

	for (i = 0; i < PW_METRICS_GRID; i++) {
		uint64_t d = after[i].packets - before[i].packets;

		total += d;
		if (d)
			got_reason = i;
	}
	/* the datapath's own counters past the grid: only the expected lost flow ends move */
	for (i = PW_METRICS_GRID; i < PW_METRICS_SLOTS; i++) {
		uint64_t d = after[i].packets - before[i].packets;

		CHECK(d == (uint64_t)(i == PW_METRIC_CT_END_LOST ? s->ct_lost : 0),
		      "counter slot %d moved by %llu", i, (unsigned long long)d);
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
	CHECK((int64_t)(pk1 - pk0) == s->parked, "parked entries changed by %lld, expected %d",
	      (long long)(pk1 - pk0), s->parked);
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

/* The entry of flow t, live (ended 0) or parked in slot ended. */
static bool ct_get_at(uint32_t ep_id, int scope, const struct tp *t, uint8_t ended,
		      struct pw_ct_entry *out)
{
	struct pw_ct_key k = {};
	int fd = pw_dp_map_fd(g_fx->dp, PW_DPMAP_CT), rev;

	k.ep_id = ep_id;
	k.ended = ended;
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
	/* stored as the datapath stores it; the entry is the flow's when it says so (pw_ct_key) */
	rev = pw_ct_key_is_rev(&k);
	if (rev)
		pw_ct_key_flip(&k);
	if (fd < 0 || bpf_map_lookup_elem(fd, &k, out) || !(out->flags & PW_CT_F_SWAPPED) != !rev)
		return false;
	out->flags &= ~PW_CT_F_SWAPPED;
	return true;
}

static bool ct_get(uint32_t ep_id, int scope, const struct tp *t, struct pw_ct_entry *out)
{
	return ct_get_at(ep_id, scope, t, 0, out);
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

/* the old connection parked whole (closed, not revoked); the new one lives from its own SYN */
static bool post_reopened(void)
{
	struct pw_ct_entry old, e;

	return ct_get_at(EPID_A, PW_DIR_EGRESS, &flow_a_b_80, 1, &old) &&
	       old.state == PW_CT_CLOSING && !(old.flags & PW_CT_F_REVOKED) &&
	       old.packets[0] == 3 && old.packets[1] == 2 && old.cookie == 101 &&
	       old.tcp_flags[0] == (TCP_SYN | TCP_ACK) &&
	       old.tcp_flags[1] == (TCP_SYN | TCP_ACK | TCP_FIN) &&
	       ct_get(EPID_A, PW_DIR_EGRESS, &flow_a_b_80, &e) && e.state == PW_CT_NEW &&
	       e.tcp_flags[0] == TCP_SYN && e.tcp_flags[1] == 0 && e.packets[0] == 1 &&
	       e.packets[1] == 0 && e.cookie == 101 && e.created_ns > old.created_ns;
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

/* A's ingress opened (no policy isolates it), A's egress still isolated */
static bool pre_open_ingress_a(void)
{
	return !set_flags(EP_A, PW_EP_F_ISOLATE_EGRESS);
}

static bool post_isolate_a(void)
{
	return !set_flags(EP_A, EP_FLAGS_A);
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

static bool pre_revoke_in_b(void)
{
	return pw_dp_policy_delete(g_fx->dp, &policies[POL_A_IN_B_TCP], 1) >= 0 && pre_bump_a();
}

/* A may no longer send ICMP of its own: what still passes passes for another reason. */
static bool pre_no_icmp_a(void)
{
	return pw_dp_policy_delete(g_fx->dp, &policies[POL_A_ICMP], 2) >= 0;
}

static bool pre_b_not_isolated(void)
{
	return !set_flags(EP_B, 0);
}

/* A gets a second address of each family (198.18.0.11, fd00::11) */
static bool pre_a_second_ip(void)
{
	struct pw_endpoint ep;
	uint32_t a[4];

	if (pw_dp_endpoint_lookup_ifindex(g_fx->dp, g_fx->ifindex[EP_A], &ep))
		return false;
	ep.n_v4 = 2;
	ep.n_v6 = 2;
	tp_addr(4, A4_2, a);
	ep.v4[1] = a[0];
	tp_addr(6, A6_2, ep.v6[1]);
	return !pw_dp_endpoint_upsert(g_fx->dp, &ep);
}

static const struct tp q4_b80 = {TCP(4, A4, B4, 40000, 80, TCP_SYN)};

/* the related re-check brought the entry to the endpoint's generation, cookie kept */
static bool post_related_gen(void)
{
	struct pw_endpoint ep;
	struct pw_ct_entry e;

	return !pw_dp_endpoint_lookup_ifindex(g_fx->dp, g_fx->ifindex[EP_A], &ep) &&
	       ep.policy_gen != 1 && ct_get(EPID_A, PW_DIR_EGRESS, &q4_b80, &e) &&
	       e.policy_gen == ep.policy_gen && e.cookie == 101 && e.packets[0] == 1;
}

/* --- flows ended in the datapath: parked, then recorded by the sweep -------------------- */

struct swept {
	int n;
	struct pw_ct_key key[8];
	struct pw_ct_entry val[8];
	int why[8];
};

static void on_swept(void *ctx, const struct pw_ct_key *k, const struct pw_ct_entry *v,
		     enum pw_flow_end_reason why)
{
	struct swept *sw = ctx;

	if (sw->n < 8) {
		sw->key[sw->n] = *k;
		sw->val[sw->n] = *v;
		sw->why[sw->n] = why;
	}
	sw->n++;
}

/* A sweep at the current time: live flows of a table are seconds old and stay. */
static bool sweep_now(struct swept *sw)
{
	struct timespec ts;

	memset(sw, 0, sizeof(*sw));
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return !pw_dp_ct_sweep(g_fx->dp, (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec, NULL,
			       on_swept, sw, NULL);
}

/* The swept record of flow t from A's egress, named by its live key (ended 0), or NULL. */
static const struct pw_ct_entry *swept_find(const struct swept *sw, const struct tp *t, int *why)
{
	uint32_t saddr[4] = {0}, daddr[4] = {0};
	int i;

	tp_addr(t->family, t->src, saddr);
	tp_addr(t->family, t->dst, daddr);
	for (i = 0; i < sw->n && i < 8; i++) {
		const struct pw_ct_key *k = &sw->key[i];

		if (k->ep_id == EPID_A && k->scope == PW_DIR_EGRESS && !k->ended &&
		    k->proto == t->proto && k->sport == htons(t->sport) &&
		    k->dport == htons(t->dport) && !memcmp(k->saddr, saddr, sizeof(saddr)) &&
		    !memcmp(k->daddr, daddr, sizeof(daddr))) {
			*why = sw->why[i];
			return &sw->val[i];
		}
	}
	return NULL;
}

static const struct tp flow_a_b_8000 = {TCP(4, A4, B4, 40001, 8000, TCP_SYN)};

/* the revoked flow left its live key, whole, for a parking slot */
static bool post_revoked_80(void)
{
	struct pw_ct_entry e;

	return !ct_get(EPID_A, PW_DIR_EGRESS, &flow_a_b_80, &e) &&
	       ct_get_at(EPID_A, PW_DIR_EGRESS, &flow_a_b_80, 1, &e) &&
	       (e.flags & PW_CT_F_REVOKED) && e.state == PW_CT_ESTABLISHED && e.packets[0] == 2 &&
	       e.packets[1] == 1 && e.bytes[0] && e.bytes[1] && e.cookie == 101 &&
	       e.src_identity == ID_A && e.dst_identity == ID_B &&
	       !ct_get_at(EPID_A, PW_DIR_EGRESS, &flow_a_b_80, 2, &e);
}

/* the sweep records both revoked flows at once, with their counters, and frees their slots */
static bool post_sweep_revoked(void)
{
	const struct pw_ct_entry *v80, *v8000;
	struct pw_ct_entry e;
	struct swept sw;
	uint64_t live, parked;
	int why80 = 0, why8000 = 0;

	if (!sweep_now(&sw) || sw.n != 2)
		return false;
	v80 = swept_find(&sw, &flow_a_b_80, &why80);
	v8000 = swept_find(&sw, &flow_a_b_8000, &why8000);
	return v80 && v8000 && why80 == PW_END_REVOKED && why8000 == PW_END_REVOKED &&
	       v80->packets[0] == 2 && v80->packets[1] == 1 && v8000->packets[0] == 2 &&
	       v8000->packets[1] == 0 && (v8000->flags & PW_CT_F_REVOKED) &&
	       !ct_get_at(EPID_A, PW_DIR_EGRESS, &flow_a_b_8000, 1, &e) &&
	       !ct_census(g_fx, &live, &parked) && parked == 0 && live == 1;
}

/* clang-format off */
/* fragmented datagrams whose flows must count every fragment */
#define F4_FIRST {UDP(4, A4, W4, 40000, 53), .frag = TP_FRAG_FIRST, .frag_id = 0x1234}
#define F4_LATER {UDP(4, A4, W4, 40000, 53), .frag = TP_FRAG_LATER, .frag_id = 0x1234}
#define F4_REPLY_FIRST {UDP(4, W4, A4, 53, 40000), .frag = TP_FRAG_FIRST, .frag_id = 0x2222}
#define F4_REPLY_LATER {UDP(4, W4, A4, 53, 40000), .frag = TP_FRAG_LATER, .frag_id = 0x2222}
#define F6_FIRST {UDP(6, A6, W6, 40000, 53), .frag = TP_FRAG_FIRST, .frag_id = 0xabcd, .ext = 1}
#define F6_LATER {UDP(6, A6, W6, 40000, 53), .frag = TP_FRAG_LATER, .frag_id = 0xabcd, .ext = 1}
#define FE_FIRST {ICMP4(A4, W4, 8, 0, 42), .frag = TP_FRAG_FIRST, .frag_id = 0x3333}
#define FE_LATER {ICMP4(A4, W4, 8, 0, 42), .frag = TP_FRAG_LATER, .frag_id = 0x3333}
#define FE_REPLY_FIRST {ICMP4(W4, A4, 0, 0, 42), .frag = TP_FRAG_FIRST, .frag_id = 0x3334}
#define FE_REPLY_LATER {ICMP4(W4, A4, 0, 0, 42), .frag = TP_FRAG_LATER, .frag_id = 0x3334}
/* clang-format on */

static size_t frame_len(const struct tp *t)
{
	uint8_t buf[TP_MAX];

	return tp_build(t, buf);
}

/* The flow of template first holds n[idx] packets, and exactly the bytes of those frames. */
static bool ct_counts(const struct tp *first, int scope, int idx, const struct tp *frames, int n)
{
	struct pw_ct_entry e;
	uint64_t bytes = 0;
	int i;

	for (i = 0; i < n; i++)
		bytes += frame_len(&frames[i]);
	if (!ct_get(EPID_A, scope, first, &e))
		return false;
	if (e.packets[idx] != (uint64_t)n || e.bytes[idx] != bytes) {
		fprintf(stderr, "  flow: %llu packets, %llu bytes; expected %d, %llu\n",
			(unsigned long long)e.packets[idx], (unsigned long long)e.bytes[idx], n,
			(unsigned long long)bytes);
		return false;
	}
	return true;
}

static bool post_f4_counted(void)
{
	static const struct tp f[] = {F4_FIRST, F4_LATER};

	return ct_counts(&f[0], PW_DIR_EGRESS, 0, f, 2);
}

static bool post_f4_reply_counted(void)
{
	static const struct tp flow = F4_FIRST;
	static const struct tp f[] = {F4_REPLY_FIRST, F4_REPLY_LATER};

	return ct_counts(&flow, PW_DIR_EGRESS, 1, f, 2);
}

static bool post_f6_counted(void)
{
	static const struct tp f[] = {F6_FIRST, F6_LATER};

	return ct_counts(&f[0], PW_DIR_EGRESS, 0, f, 2);
}

/* a GSO packet of two segments counts two packets in its flow, once per segment */
static bool post_gso_counted(void)
{
	static const struct tp first = {TCP(4, A4, B4, 1004, 80, TCP_ACK)};
	struct pw_ct_entry e;

	return ct_get(EPID_A, PW_DIR_EGRESS, &first, &e) && e.packets[0] == 2 &&
	       e.bytes[0] == frame_len(&first);
}

static bool post_gso_more(void)
{
	static const struct tp first = {TCP(4, A4, B4, 1004, 80, TCP_ACK)};
	struct pw_ct_entry e;

	return ct_get(EPID_A, PW_DIR_EGRESS, &first, &e) && e.packets[0] == 3 &&
	       e.bytes[0] == 2 * frame_len(&first);
}

static bool post_fe_counted(void)
{
	static const struct tp f[] = {FE_FIRST, FE_LATER, FE_LATER};

	return ct_counts(&f[0], PW_DIR_EGRESS, 0, f, 3);
}

/* a later fragment says neither request nor reply: found as the reply it is all the same */
static bool post_fe_reply_counted(void)
{
	static const struct tp flow = FE_FIRST;
	static const struct tp f[] = {FE_REPLY_FIRST, FE_REPLY_LATER};

	return ct_counts(&flow, PW_DIR_EGRESS, 1, f, 2);
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
	 {ICMP6(LLA6, "ff02::1:ff00:10", 135, 0, 0)},
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
	 {ICMP6(LLA6, "ff02::16", 143, 0, 0)},
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
	{"port pair reused: the old flow parked, the new syn decided and recorded",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 40000, 80, TCP_SYN)},
	 .reason = PW_OK_POLICY,
	 .parked = 1,
	 .ev = PW_EV_FLOW_NEW,
	 .cookie = 101,
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
	{"same tuple seen at a's own ingress: not addressed to a",
	 EP_A,
	 IN,
	 {TCP(4, A4, B4, 40001, 8000, TCP_ACK)},
	 DROPPED(PW_DROP_FOREIGN_DST)},
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

/*
 * A port pair reused again and again within one sweep interval: each closed connection is
 * parked for its record, until the parking slots run out and the loss is counted; a SYN that
 * is no fresh one, or comes from the peer, continues the closing flow.
 */
static const struct tp flow_reuse = {TCP(4, A4, B4, 41000, 80, TCP_SYN)};

static bool parked_in(uint8_t slot, uint64_t pkts0, uint64_t pkts1)
{
	struct pw_ct_entry e;

	if (!ct_get_at(EPID_A, PW_DIR_EGRESS, &flow_reuse, slot, &e))
		return false;
	return e.state == PW_CT_CLOSING && !(e.flags & PW_CT_F_REVOKED) &&
	       (e.tcp_flags[0] & TCP_FIN) && e.packets[0] == pkts0 && e.packets[1] == pkts1;
}

static bool live_fresh(void)
{
	struct pw_ct_entry e;

	return ct_get(EPID_A, PW_DIR_EGRESS, &flow_reuse, &e) && e.state == PW_CT_NEW &&
	       e.packets[0] == 1 && e.packets[1] == 0 && e.tcp_flags[0] == TCP_SYN;
}

static bool post_reuse1(void)
{
	return parked_in(1, 3, 2) && live_fresh();
}

static bool post_reuse2(void)
{
	return parked_in(1, 3, 2) && parked_in(2, 2, 0) && live_fresh();
}

static bool post_reuse3(void)
{
	return post_reuse2() && parked_in(3, 2, 0);
}

/* the slots still hold the first three; the fourth connection's predecessor is gone */
static bool post_reuse4(void)
{
	return post_reuse3();
}

/* the sweep ends the three parked connections as closed, whatever their age */
static bool pre_sweep_then_revoke_80(void)
{
	const struct pw_ct_entry *v;
	struct swept sw;
	int i, why = 0;

	if (!sweep_now(&sw) || sw.n != 3)
		return false;
	for (i = 0; i < 3; i++)
		if (sw.why[i] != PW_END_CLOSED || sw.key[i].ended)
			return false;
	v = swept_find(&sw, &flow_reuse, &why);
	return v && why == PW_END_CLOSED && pre_revoke_80();
}

/* the old connection parked; the new one denied, so nothing live */
static bool post_reuse_denied(void)
{
	struct pw_ct_entry e;

	return parked_in(1, 2, 0) && !ct_get(EPID_A, PW_DIR_EGRESS, &flow_reuse, &e) &&
	       !ct_get_at(EPID_A, PW_DIR_EGRESS, &flow_reuse, 2, &e);
}

/* clang-format off */
#define REUSE(name, post_) \
	{name, EP_A, EG, {TCP(4, A4, B4, 41000, 80, TCP_SYN)}, .reason = PW_OK_POLICY, \
	 .parked = 1, .ev = PW_EV_FLOW_NEW, .cookie = 101, .post = post_}
#define FIN_A {TCP(4, A4, B4, 41000, 80, TCP_FIN | TCP_ACK)}
/* clang-format on */

static const struct step reuse_rows[] = {
	{"syn", EP_A, EG, {TCP(4, A4, B4, 41000, 80, TCP_SYN)}, NEWFLOW(101)},
	{"syn-ack",
	 EP_A,
	 IN,
	 {TCP(4, B4, A4, 80, 41000, TCP_SYN | TCP_ACK)},
	 .reason = PW_OK_REPLY},
	{"fin from the pod", EP_A, EG, FIN_A, .reason = PW_OK_ESTABLISHED},
	{"a syn from the peer on the closing flow: a reply, nothing parked",
	 EP_A,
	 IN,
	 {TCP(4, B4, A4, 80, 41000, TCP_SYN)},
	 .reason = PW_OK_REPLY},
	{"a syn-ack in the original direction is no fresh syn: nothing parked",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 41000, 80, TCP_SYN | TCP_ACK)},
	 .reason = PW_OK_ESTABLISHED},
	REUSE("reuse 1: the old connection in slot 1, the new one live", post_reuse1),
	{"fin 2", EP_A, EG, FIN_A, .reason = PW_OK_ESTABLISHED},
	REUSE("reuse 2: slot 2", post_reuse2),
	{"fin 3", EP_A, EG, FIN_A, .reason = PW_OK_ESTABLISHED},
	REUSE("reuse 3: slot 3", post_reuse3),
	{"fin 4", EP_A, EG, FIN_A, .reason = PW_OK_ESTABLISHED},
	{"reuse 4: no slot left, the lost flow end is counted",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 41000, 80, TCP_SYN)},
	 .reason = PW_OK_POLICY,
	 .ct_lost = 1,
	 .ev = PW_EV_FLOW_NEW,
	 .cookie = 101,
	 .post = post_reuse4},
	{"fin 5", EP_A, EG, FIN_A, .reason = PW_OK_ESTABLISHED},
	{"after a sweep, policy denies the reuse: old one parked, syn dropped",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 41000, 80, TCP_SYN)},
	 .pre = pre_sweep_then_revoke_80,
	 DROPPED(PW_DROP_POLICY),
	 .ct_delta = -1,
	 .parked = 1,
	 .post = post_reuse_denied},
};

static void test_reuse(void **state)
{
	RUN(reuse_rows);
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
	{"v6 link-local nd", EP_A, EG, {ICMP6(LLA6, MC6, 135, 0, 0)}, .reason = PW_OK_PASSTHROUGH},
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
	{"entry parked: reply revoked",
	 EP_A,
	 IN,
	 {TCP(4, B4, A4, 80, 40000, TCP_ACK)},
	 .pre = pre_revoke_80,
	 .verdict = SHOT,
	 .reason = PW_DROP_REVOKED,
	 .ct_delta = -1,
	 .parked = 1,
	 .ev = PW_EV_REVOKED,
	 .post = post_revoked_80},
	{"and the next packet is a denied new flow",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 40000, 80, TCP_ACK)},
	 DROPPED(PW_DROP_POLICY)},
	/*
	 * The revoked flow's peer retransmits into A's open ingress: a new flow there, picked up
	 * mid-stream. It must not carry A's revoked egress back as its "reply".
	 */
	{"revoked peer's retransmission, A's ingress open: mid-stream pickup",
	 EP_A,
	 IN,
	 {TCP(4, B4, A4, 80, 40000, TCP_ACK)},
	 .pre = pre_open_ingress_a,
	 .reason = PW_OK_NOT_ISOLATED,
	 .ct_delta = 1,
	 .ev = PW_EV_FLOW_NEW},
	{"A's revoked egress does not ride it as a reply",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 40000, 80, TCP_ACK)},
	 DROPPED(PW_DROP_POLICY)},
	{"the mid-stream flow itself goes on",
	 EP_A,
	 IN,
	 {TCP(4, B4, A4, 80, 40000, TCP_ACK)},
	 .reason = PW_OK_ESTABLISHED,
	 .post = post_isolate_a},
	{"B:8000 still allowed after the same bump",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 40001, 8000, TCP_ACK)},
	 .reason = PW_OK_ESTABLISHED},
	{"B:8000 revoked in its original direction; the sweep records both",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 40001, 8000, TCP_ACK)},
	 .pre = pre_revoke_8000,
	 .verdict = SHOT,
	 .reason = PW_DROP_REVOKED,
	 .ct_delta = -1,
	 .parked = 1,
	 .ev = PW_EV_REVOKED,
	 .post = post_sweep_revoked},
};

static void test_revocation(void **state)
{
	RUN(revoke_rows);
}

/*
 * A flow whose key holds its tuple reversed (B's address sorts after A's, struct pw_ct_key):
 * its re-check decides its own direction (peer B, port 22), not the key's, and the sweep names
 * it as it went.
 */
static const struct tp flow_b_a_22 = {TCP(4, B4, A4, 40300, 22, TCP_SYN)};

static bool post_stored_reversed(void)
{
	struct pw_ct_key k = {.ep_id = EPID_A, .scope = PW_DIR_EGRESS, .family = PW_FAMILY_V4,
			      .proto = IPPROTO_TCP};
	struct pw_ct_entry e;

	tp_addr(4, A4, k.saddr);
	tp_addr(4, B4, k.daddr);
	k.sport = htons(22);
	k.dport = htons(40300);
	return !bpf_map_lookup_elem(pw_dp_map_fd(g_fx->dp, PW_DPMAP_CT), &k, &e) &&
	       (e.flags & PW_CT_F_SWAPPED) && ct_get(EPID_A, PW_DIR_INGRESS, &flow_b_a_22, &e) &&
	       e.packets[0] == 1 && e.packets[1] == 0;
}

static bool post_rechecked_22(void)
{
	struct pw_endpoint ep;
	struct pw_ct_entry e;

	return !pw_dp_endpoint_lookup_ifindex(g_fx->dp, g_fx->ifindex[EP_A], &ep) &&
	       ct_get(EPID_A, PW_DIR_INGRESS, &flow_b_a_22, &e) && e.policy_gen == ep.policy_gen &&
	       e.cookie == 106 && e.packets[0] == 2 && e.packets[1] == 1;
}

static bool post_sweep_reversed(void)
{
	uint32_t a[4] = {0}, b[4] = {0};
	struct swept sw;

	tp_addr(4, A4, a);
	tp_addr(4, B4, b);
	return sweep_now(&sw) && sw.n == 1 && sw.why[0] == PW_END_REVOKED &&
	       sw.key[0].ep_id == EPID_A && sw.key[0].scope == PW_DIR_INGRESS &&
	       !memcmp(sw.key[0].saddr, b, sizeof(b)) && !memcmp(sw.key[0].daddr, a, sizeof(a)) &&
	       sw.key[0].sport == htons(40300) && sw.key[0].dport == htons(22) &&
	       !(sw.val[0].flags & PW_CT_F_SWAPPED) && (sw.val[0].flags & PW_CT_F_REVOKED) &&
	       sw.val[0].packets[0] == 2 && sw.val[0].packets[1] == 2;
}

static const struct step revoke_rev_rows[] = {
	{"flow admitted at a's ingress, its key reversed",
	 EP_A,
	 IN,
	 {TCP(4, B4, A4, 40300, 22, TCP_SYN)},
	 NEWFLOW(106),
	 .post = post_stored_reversed},
	{"a's answer: a reply", EP_A, EG, {TCP(4, A4, B4, 22, 40300, TCP_SYN | TCP_ACK)},
	 .reason = PW_OK_REPLY},
	{"re-checked as b -> a:22 under a new generation: still allowed",
	 EP_A,
	 IN,
	 {TCP(4, B4, A4, 40300, 22, TCP_ACK)},
	 .pre = pre_bump_a,
	 .reason = PW_OK_ESTABLISHED,
	 .post = post_rechecked_22},
	{"a reply re-checks it too: still allowed",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 22, 40300, TCP_ACK)},
	 .pre = pre_bump_a,
	 .reason = PW_OK_REPLY},
	{"ingress from b revoked: the reply is dropped; the sweep names the flow as it went",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 22, 40300, TCP_ACK)},
	 .pre = pre_revoke_in_b,
	 .verdict = SHOT,
	 .reason = PW_DROP_REVOKED,
	 .ct_delta = -1,
	 .parked = 1,
	 .ev = PW_EV_REVOKED,
	 .cookie = 106,
	 .post = post_sweep_reversed},
};

static void test_revocation_reversed(void **state)
{
	RUN(revoke_rev_rows);
}

/* A may send UDP 7000 to itself: a hairpin through the node */
static const struct pw_policy_entry pol_a_self = POL(ID_A, ID_A, PW_DIR_EGRESS, IPPROTO_UDP,
						     7000, 7000, 113);

static bool pre_a_to_self(void)
{
	return pw_dp_policy_update(g_fx->dp, &pol_a_self, 1) >= 0;
}

/* the tables after this one never had it */
static bool post_a_not_to_self(void)
{
	return pw_dp_policy_delete(g_fx->dp, &pol_a_self, 1) >= 0;
}

/*
 * A tuple equal to its reverse (same address and port at both ends) has one orientation: its
 * two directions differ only by the scope, and the way back is still the flow's reply.
 */
static const struct step symmetric_rows[] = {
	{"a to itself, port 7000 to 7000",
	 EP_A,
	 EG,
	 {UDP(4, A4, A4, 7000, 7000)},
	 .pre = pre_a_to_self,
	 NEWFLOW(113)},
	{"back in through a's ingress: the reply", EP_A, IN, {UDP(4, A4, A4, 7000, 7000)},
	 .reason = PW_OK_REPLY},
	{"and out again: the flow", EP_A, EG, {UDP(4, A4, A4, 7000, 7000)},
	 .reason = PW_OK_ESTABLISHED, .post = post_a_not_to_self},
};

static void test_symmetric(void **state)
{
	RUN(symmetric_rows);
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
	{"quarantine: nd", EP_A, EG, {ICMP6(LLA6, MC6, 135, 0, 0)}, DROPPED(PW_DROP_QUARANTINE)},
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

/* --- per-policy audit and quarantine with DNS ---------------------------------------------- */

/* B's egress: only an audit policy selects it, allowing A on TCP 80 */
static const struct pw_policy_entry audit_pols[] = {
	POL(ID_B, ID_A, PW_DIR_EGRESS | PW_POL_DIR_AUDIT, IPPROTO_TCP, 80, 80, 201),
	/* on B's enforced ingress an audit entry must open nothing */
	POL(ID_B, ID_A, PW_DIR_INGRESS | PW_POL_DIR_AUDIT, IPPROTO_TCP, 81, 81, 202),
};

static bool pre_audit_policies_b(void)
{
	return pw_dp_policy_update(g_fx->dp, audit_pols, 2) >= 0 &&
	       !set_flags(EP_B, EP_FLAGS_B | PW_EP_F_AUDIT_ISOLATE_EGRESS);
}

static bool pre_quarantine_dns_a(void)
{
	return !set_flags(EP_A, EP_FLAGS_A | PW_EP_F_QUARANTINE | PW_EP_F_QUARANTINE_DNS);
}

static bool post_audit_entries_gone(void)
{
	return pw_dp_policy_delete(g_fx->dp, audit_pols, 2) >= 0 && !set_flags(EP_B, EP_FLAGS_B);
}

static const struct step audit_rows[] = {
	{"audit policy: its allow is no record, the flow is not isolated",
	 EP_B,
	 EG,
	 {TCP(4, B4, A4, 40010, 80, TCP_SYN)},
	 .pre = pre_audit_policies_b,
	 .reason = PW_OK_NOT_ISOLATED,
	 .ct_delta = 1,
	 .ev = PW_EV_FLOW_NEW},
	{"audit policy: a would-be deny passes, recorded AUDIT",
	 EP_B,
	 EG,
	 {TCP(4, B4, A4, 40011, 81, TCP_SYN)},
	 .reason = PW_OK_AUDIT,
	 .ct_delta = 1,
	 .ev = PW_EV_AUDIT},
	{"audit policy: then established, silently",
	 EP_B,
	 EG,
	 {TCP(4, B4, A4, 40011, 81, TCP_ACK)},
	 .reason = PW_OK_ESTABLISHED},
	{"audit policy: the same over UDP to the world",
	 EP_B,
	 EG,
	 {UDP(4, B4, W4, 40012, 53)},
	 .reason = PW_OK_AUDIT,
	 .ct_delta = 1,
	 .ev = PW_EV_AUDIT},
	{"audit entry on an enforced direction opens nothing",
	 EP_B,
	 IN,
	 {TCP(4, A4, B4, 40013, 81, TCP_SYN)},
	 DROPPED(PW_DROP_POLICY)},
	{"enforced allow beside it still allows",
	 EP_B,
	 IN,
	 {TCP(4, A4, B4, 40014, 80, TCP_SYN)},
	 NEWFLOW(107),
	 .post = post_audit_entries_gone},
	{"quarantine with DNS: a query goes, as policy allows",
	 EP_A,
	 EG,
	 {UDP(4, A4, W4, 40020, 53)},
	 .pre = pre_quarantine_dns_a,
	 .reason = PW_OK_POLICY,
	 .ct_delta = 1,
	 .ev = PW_EV_FLOW_NEW,
	 .cookie = 104},
	{"quarantine with DNS: its reply comes back",
	 EP_A,
	 IN,
	 {UDP(4, W4, A4, 53, 40020)},
	 .reason = PW_OK_REPLY},
	{"quarantine with DNS: anything else is cut",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 40021, 80, TCP_SYN)},
	 DROPPED(PW_DROP_QUARANTINE)},
	{"quarantine with DNS: no new flow in, even from port 53",
	 EP_A,
	 IN,
	 {UDP(4, W4, A4, 53, 40999)},
	 DROPPED(PW_DROP_QUARANTINE)},
	{"quarantine with DNS: ARP still resolves the gateway",
	 EP_A,
	 EG,
	 {.ethertype = ETH_P_ARP, .src = A4, .dst = B4},
	 .reason = PW_OK_PASSTHROUGH,
	 .post = pre_unquarantine_a},
};

static void test_audit_policies(void **state)
{
	RUN(audit_rows);
}

#define PASS(why) .verdict = OK, .reason = why
/* judged by policy each time, never tracked: a record, no conntrack entry */
#define JUDGED(ck) .verdict = OK, .reason = PW_OK_POLICY, .ev = PW_EV_FLOW_NEW, .cookie = ck
#define ARP(...)   .ethertype = ETH_P_ARP, __VA_ARGS__
#define GW4	   "198.18.0.1"
#define SNM6	   "ff02::1:ff00:20" /* solicited-node multicast of B6 */

static const struct step arp_rows[] = {
	{"request for the gateway",
	 EP_A,
	 EG,
	 {ARP(.src = A4, .dst = GW4)},
	 PASS(PW_OK_PASSTHROUGH)},
	{"reply from its own address",
	 EP_A,
	 EG,
	 {ARP(.src = A4, .dst = GW4, .arp_op = 2)},
	 PASS(PW_OK_PASSTHROUGH)},
	{"reply claiming another pod's address",
	 EP_A,
	 EG,
	 {ARP(.src = B4, .dst = GW4, .arp_op = 2)},
	 DROPPED(PW_DROP_SPOOFED)},
	{"request from another pod's address",
	 EP_A,
	 EG,
	 {ARP(.src = B4, .dst = GW4)},
	 DROPPED(PW_DROP_SPOOFED)},
	{"gratuitous arp for another pod's address",
	 EP_A,
	 EG,
	 {ARP(.src = B4, .dst = B4)},
	 DROPPED(PW_DROP_SPOOFED)},
	{"gratuitous arp for a world address",
	 EP_A,
	 EG,
	 {ARP(.src = W4, .dst = W4, .arp_op = 2)},
	 DROPPED(PW_DROP_SPOOFED)},
	{"probe (sender 0.0.0.0) for another pod's address",
	 EP_A,
	 EG,
	 {ARP(.dst = B4)},
	 PASS(PW_OK_PASSTHROUGH)},
	{"reply from 0.0.0.0", EP_A, EG, {ARP(.dst = B4, .arp_op = 2)}, DROPPED(PW_DROP_SPOOFED)},
	{"second address before the pod has it",
	 EP_A,
	 EG,
	 {ARP(.src = A4_2, .dst = GW4)},
	 DROPPED(PW_DROP_SPOOFED)},
	{"second address",
	 EP_A,
	 EG,
	 {ARP(.src = A4_2, .dst = GW4)},
	 .pre = pre_a_second_ip,
	 PASS(PW_OK_PASSTHROUGH)},
	{"truncated",
	 EP_A,
	 EG,
	 {ARP(.src = A4, .dst = GW4), .frame_max = ETH_HLEN + 20},
	 DROPPED(PW_DROP_MALFORMED)},
	{"ipv6-sized protocol addresses",
	 EP_A,
	 EG,
	 {ARP(.src = A4, .dst = GW4), .mangle = TP_M_ARP_V6},
	 DROPPED(PW_DROP_MALFORMED)},
	{"operation 3 (rarp request)",
	 EP_A,
	 EG,
	 {ARP(.src = A4, .dst = GW4, .arp_op = 3)},
	 DROPPED(PW_DROP_MALFORMED)},
	{"spoofed even when egress is not isolated",
	 EP_B,
	 EG,
	 {ARP(.src = A4, .dst = GW4, .arp_op = 2)},
	 DROPPED(PW_DROP_SPOOFED)},
	{"to the pod, any sender",
	 EP_A,
	 IN,
	 {ARP(.src = B4, .dst = A4, .arp_op = 2)},
	 PASS(PW_OK_PASSTHROUGH)},
};

static void test_arp(void **state)
{
	RUN(arp_rows);
}

static const struct step nd_rows[] = {
	{"na for its own address",
	 EP_A,
	 EG,
	 {ICMP6(LLA6, MC6, 136, 0, 0), .nd_target = A6},
	 PASS(PW_OK_PASSTHROUGH)},
	{"na for a link-local address",
	 EP_A,
	 EG,
	 {ICMP6(LLA6, MC6, 136, 0, 0), .nd_target = LLA6},
	 PASS(PW_OK_PASSTHROUGH)},
	{"na claiming another pod's address",
	 EP_A,
	 EG,
	 {ICMP6(LLA6, MC6, 136, 0, 0), .nd_target = B6},
	 DROPPED(PW_DROP_SPOOFED)},
	{"na from its global address claiming another's",
	 EP_A,
	 EG,
	 {ICMP6(A6, MC6, 136, 0, 0), .nd_target = B6},
	 DROPPED(PW_DROP_SPOOFED)},
	{"na claiming a world address",
	 EP_A,
	 EG,
	 {ICMP6(LLA6, MC6, 136, 0, 0), .nd_target = W6},
	 DROPPED(PW_DROP_SPOOFED)},
	{"na for its second address",
	 EP_A,
	 EG,
	 {ICMP6(LLA6, MC6, 136, 0, 0), .nd_target = A6_2},
	 .pre = pre_a_second_ip,
	 PASS(PW_OK_PASSTHROUGH)},
	{"na ending before its target",
	 EP_A,
	 EG,
	 {ICMP6(LLA6, MC6, 136, 0, 0), .nd_target = A6, .keep = 20},
	 DROPPED(PW_DROP_MALFORMED)},
	{"ns for another pod's address (resolution)",
	 EP_A,
	 EG,
	 {ICMP6(LLA6, SNM6, 135, 0, 0), .nd_target = B6},
	 PASS(PW_OK_PASSTHROUGH)},
	{"dad ns from ::",
	 EP_A,
	 EG,
	 {ICMP6("::", SNM6, 135, 0, 0), .nd_target = A6},
	 PASS(PW_OK_PASSTHROUGH)},
	{"ns from another pod's address",
	 EP_A,
	 EG,
	 {ICMP6(B6, SNM6, 135, 0, 0), .nd_target = B6},
	 DROPPED(PW_DROP_SPOOFED)},
	{"router solicitation from a world address",
	 EP_A,
	 EG,
	 {ICMP6(W6, MC6, 133, 0, 0)},
	 DROPPED(PW_DROP_SPOOFED)},
	{"mld report from another pod's address",
	 EP_A,
	 EG,
	 {ICMP6(B6, "ff02::16", 143, 0, 0)},
	 DROPPED(PW_DROP_SPOOFED)},
	/* nd-typed but not link-scoped: an ordinary ICMPv6 packet, under policy */
	{"ns from the world, forwarded (hop limit 63)",
	 EP_A,
	 IN,
	 {ICMP6(W6, A6, 135, 0, 0), .nd_target = A6, .hop_limit = 63},
	 DROPPED(PW_DROP_POLICY)},
	{"router advertisement from the world, hop limit 254",
	 EP_A,
	 IN,
	 {ICMP6(W6, A6, 134, 0, 0), .hop_limit = 254},
	 DROPPED(PW_DROP_POLICY)},
	{"mld report, hop limit 64",
	 EP_A,
	 IN,
	 {ICMP6(W6, A6, 143, 0, 0), .hop_limit = 64},
	 DROPPED(PW_DROP_POLICY)},
	{"ns to a world address, hop limit 64",
	 EP_A,
	 EG,
	 {ICMP6(A6, W6, 135, 0, 0), .hop_limit = 64},
	 .pre = pre_no_icmp_a,
	 DROPPED(PW_DROP_POLICY)},
	{"ns with hop limit 255 to a routed world address",
	 EP_A,
	 EG,
	 {ICMP6(A6, W6, 135, 0, 0), .nd_target = W6},
	 DROPPED(PW_DROP_POLICY)},
	{"na to a routed address leaves the node: own source only",
	 EP_A,
	 EG,
	 {ICMP6(A6, W6, 136, 0, 0), .nd_target = LL6},
	 DROPPED(PW_DROP_POLICY)},
	{"dad ns from :: to a routed address",
	 EP_A,
	 EG,
	 {ICMP6("::", W6, 135, 0, 0), .nd_target = A6},
	 DROPPED(PW_DROP_SPOOFED)},
	{"ns to the node's own address",
	 EP_A,
	 EG,
	 {ICMP6(A6, NODE6, 135, 0, 0), .nd_target = NODE6},
	 PASS(PW_OK_PASSTHROUGH)},
	{"na to an unrouted address",
	 EP_A,
	 EG,
	 {ICMP6(A6, UNROUTED6, 136, 0, 0), .nd_target = A6},
	 PASS(PW_OK_PASSTHROUGH)},
	{"link-local ns passes without that policy",
	 EP_A,
	 EG,
	 {ICMP6(LLA6, SNM6, 135, 0, 0), .nd_target = B6},
	 PASS(PW_OK_PASSTHROUGH)},
	{"na with hop limit 64 is not link-scoped: own source only",
	 EP_A,
	 EG,
	 {ICMP6(LLA6, MC6, 136, 0, 0), .nd_target = A6, .hop_limit = 64},
	 DROPPED(PW_DROP_SPOOFED)},
	{"fragmented ns from link-local",
	 EP_A,
	 EG,
	 {ICMP6(LLA6, SNM6, 135, 0, 0), .frag = TP_FRAG_FIRST, .frag_id = 3},
	 DROPPED(PW_DROP_SPOOFED)},
	{"fragmented nd to the pod",
	 EP_A,
	 IN,
	 {ICMP6(R6, A6, 135, 0, 0), .nd_target = A6, .frag = TP_FRAG_FIRST, .frag_id = 4},
	 DROPPED(PW_DROP_POLICY),
	 .frag_delta = 1},
	{"na to the pod from the node",
	 EP_A,
	 IN,
	 {ICMP6(LL6, A6, 136, 0, 0), .nd_target = LL6},
	 PASS(PW_OK_PASSTHROUGH)},
	{"mld query to the pod", EP_A, IN, {ICMP6(LL6, MC6, 130, 0, 0)}, PASS(PW_OK_PASSTHROUGH)},
};

static void test_nd(void **state)
{
	RUN(nd_rows);
}

/* --- link layer ------------------------------------------------------------------------- */

#define SNMA6   "ff02::1:ff00:10" /* solicited-node multicast of A6 */
#define BR6_NET "fd00:b::/64"     /* the subnet of A's bridge (the gateway holds fd00:b::1) */
#define BRN6    "fd00:b::20"      /* a neighbour on A's bridge */

/* the library learned A's MAC from its veth peer, and A's bridge from the veth's master */
static bool post_learned(void)
{
	struct pw_endpoint ep;

	return !pw_dp_endpoint_lookup_ifindex(g_fx->dp, g_fx->ifindex[EP_A], &ep) &&
	       !memcmp(ep.mac, mac_a, 6) && ep.link_ifindex == g_fx->bridge && g_fx->bridge;
}

/* an endpoint whose MAC nobody could learn (written past the library, which would learn it) */
static bool pre_a_no_mac(void)
{
	int fd = pw_dp_map_fd(g_fx->dp, PW_DPMAP_EP_IF);
	struct pw_endpoint ep;

	if (fd < 0 || pw_dp_endpoint_lookup_ifindex(g_fx->dp, g_fx->ifindex[EP_A], &ep))
		return false;
	memset(ep.mac, 0, sizeof(ep.mac));
	return !bpf_map_update_elem(fd, &ep.ifindex, &ep, BPF_EXIST);
}

/* written again through the library: learned again */
static bool pre_a_relearn(void)
{
	struct pw_endpoint ep;

	if (pw_dp_endpoint_lookup_ifindex(g_fx->dp, g_fx->ifindex[EP_A], &ep))
		return false;
	memset(ep.mac, 0, sizeof(ep.mac));
	return !pw_dp_endpoint_upsert(g_fx->dp, &ep) && post_learned();
}

static const struct step l2_rows[] = {
	/* pod egress: the Ethernet source, the ARP sender */
	{"tcp from its own mac",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 41000, 80, TCP_SYN)},
	 NEWFLOW(101),
	 .post = post_learned},
	{"tcp from another pod's mac",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 41001, 80, TCP_SYN), .smac = mac_b},
	 DROPPED(PW_DROP_SPOOFED_MAC)},
	{"arp for its own address from another pod's mac (bridge poisoning)",
	 EP_A,
	 EG,
	 {ARP(.src = A4, .dst = A4), .smac = mac_b},
	 DROPPED(PW_DROP_SPOOFED_MAC)},
	{"arp probe from a mac of nobody's",
	 EP_A,
	 EG,
	 {ARP(.dst = B4), .smac = mac_c},
	 DROPPED(PW_DROP_SPOOFED_MAC)},
	{"spoofed mac even when egress is not isolated",
	 EP_B,
	 EG,
	 {UDP(4, B4, A4, 41002, 53), .smac = mac_a},
	 DROPPED(PW_DROP_SPOOFED_MAC)},
	{"na for its own address from another pod's mac",
	 EP_A,
	 EG,
	 {ICMP6(LLA6, MC6, 136, 0, 0), .nd_target = A6, .smac = mac_b},
	 DROPPED(PW_DROP_SPOOFED_MAC)},
	{"mac never learned: nothing leaves",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 41003, 80, TCP_SYN)},
	 .pre = pre_a_no_mac,
	 DROPPED(PW_DROP_MAC_UNKNOWN)},
	{"mac never learned: not even arp",
	 EP_A,
	 EG,
	 {ARP(.src = A4, .dst = GW4)},
	 DROPPED(PW_DROP_MAC_UNKNOWN)},
	{"learned again once written through the library",
	 EP_A,
	 EG,
	 {ARP(.src = A4, .dst = GW4)},
	 .pre = pre_a_relearn,
	 PASS(PW_OK_PASSTHROUGH)},
	/* pod egress: router messages */
	{"router advertisement from a pod",
	 EP_A,
	 EG,
	 {ICMP6(LLA6, MC6, 134, 0, 0)},
	 DROPPED(PW_DROP_ROUTER_MSG)},
	{"router advertisement from a pod's global address, hop limit 64",
	 EP_A,
	 EG,
	 {ICMP6(A6, B6, 134, 0, 0), .hop_limit = 64},
	 DROPPED(PW_DROP_ROUTER_MSG)},
	{"redirect from a pod",
	 EP_A,
	 EG,
	 {ICMP6(LLA6, LLB6, 137, 0, 0)},
	 DROPPED(PW_DROP_ROUTER_MSG)},
	{"mld query from a pod",
	 EP_A,
	 EG,
	 {ICMP6(LLA6, MC6, 130, 0, 0)},
	 DROPPED(PW_DROP_ROUTER_MSG)},
	{"router advertisement from a pod whose egress is not isolated",
	 EP_B,
	 EG,
	 {ICMP6(LLB6, MC6, 134, 0, 0)},
	 DROPPED(PW_DROP_ROUTER_MSG)},
	/* pod egress: nd and mld exactly as the rfcs make them, from the pod's own addresses */
	{"ns with its own source link-layer address",
	 EP_A,
	 EG,
	 {ICMP6(LLA6, SNM6, 135, 0, 0), .nd_target = B6, .nd_lla = mac_a},
	 PASS(PW_OK_PASSTHROUGH)},
	{"ns with another pod's link-layer address: not link-scoped",
	 EP_A,
	 EG,
	 {ICMP6(LLA6, SNM6, 135, 0, 0), .nd_target = B6, .nd_lla = mac_b},
	 DROPPED(PW_DROP_SPOOFED)},
	{"ns from a link-local address that is not the pod's",
	 EP_A,
	 EG,
	 {ICMP6(LL6, SNM6, 135, 0, 0), .nd_target = B6},
	 DROPPED(PW_DROP_SPOOFED)},
	{"ns carrying a payload (covert channel): not link-scoped",
	 EP_A,
	 EG,
	 {ICMP6(LLA6, SNM6, 135, 0, 0), .nd_target = B6, .nd_lla = mac_a, .nd_extra = 64},
	 DROPPED(PW_DROP_SPOOFED)},
	{"ns with a nonce not from ::",
	 EP_A,
	 EG,
	 {ICMP6(LLA6, SNM6, 135, 0, 0), .nd_target = B6, .nd_nonce = 1},
	 DROPPED(PW_DROP_SPOOFED)},
	{"dad ns with a nonce",
	 EP_A,
	 EG,
	 {ICMP6("::", SNMA6, 135, 0, 0), .nd_target = A6, .nd_nonce = 1},
	 PASS(PW_OK_PASSTHROUGH)},
	{"dad ns for its link-local address",
	 EP_A,
	 EG,
	 {ICMP6("::", "ff02::1:ff00:a", 135, 0, 0), .nd_target = LLA6, .nd_nonce = 1},
	 PASS(PW_OK_PASSTHROUGH)},
	{"dad ns for another pod's address (128 free bits)",
	 EP_A,
	 EG,
	 {ICMP6("::", SNM6, 135, 0, 0), .nd_target = B6},
	 DROPPED(PW_DROP_SPOOFED)},
	{"na for a link-local address that is not the pod's",
	 EP_A,
	 EG,
	 {ICMP6(LLA6, MC6, 136, 0, 0), .nd_target = "fe80::a"},
	 DROPPED(PW_DROP_SPOOFED)},
	{"na with its target link-layer address",
	 EP_A,
	 EG,
	 {ICMP6(LLA6, MC6, 136, 0, 0), .nd_target = A6, .nd_lla = mac_a},
	 PASS(PW_OK_PASSTHROUGH)},
	{"mldv1 report to its group",
	 EP_A,
	 EG,
	 {ICMP6(LLA6, "ff02::fb", 131, 0, 0)},
	 PASS(PW_OK_PASSTHROUGH)},
	{"mldv2 report of three records",
	 EP_A,
	 EG,
	 {ICMP6(LLA6, "ff02::16", 143, 0, 0), .mld_recs = 3},
	 PASS(PW_OK_PASSTHROUGH)},
	{"mldv2 report carrying a payload (covert channel): not link-scoped",
	 EP_A,
	 EG,
	 {ICMP6(LLA6, "ff02::16", 143, 0, 0), .nd_extra = 16},
	 DROPPED(PW_DROP_SPOOFED)},
	{"mldv1 report carrying a payload",
	 EP_A,
	 EG,
	 {ICMP6(LLA6, "ff02::fb", 131, 0, 0), .nd_extra = 8},
	 DROPPED(PW_DROP_SPOOFED)},
	{"mldv2 report of more records than walked",
	 EP_A,
	 EG,
	 {ICMP6(LLA6, "ff02::16", 143, 0, 0), .mld_recs = 33},
	 DROPPED(PW_DROP_SPOOFED)},
	{"mld report to a pod's unicast address (hop limit 1)",
	 EP_A,
	 EG,
	 {ICMP6(LLA6, B6, 143, 0, 0)},
	 DROPPED(PW_DROP_SPOOFED)},
	/* from its own global address it is ordinary icmpv6: the egress-locked pod's policy says no */
	{"ns from its global address carrying a payload, egress locked",
	 EP_A,
	 EG,
	 {ICMP6(A6, B6, 135, 0, 0), .nd_target = B6, .nd_extra = 64},
	 .pre = pre_no_icmp_a,
	 DROPPED(PW_DROP_POLICY)},
	{"mldv2 report from its global address carrying a payload, egress locked",
	 EP_A,
	 EG,
	 {ICMP6(A6, "ff02::16", 143, 0, 0), .nd_extra = 16},
	 DROPPED(PW_DROP_POLICY)},
	{"exact ns from its global address passes without that policy",
	 EP_A,
	 EG,
	 {ICMP6(A6, SNM6, 135, 0, 0), .nd_target = B6, .nd_lla = mac_a},
	 PASS(PW_OK_PASSTHROUGH)},
	/* gateway node: the bridge holds the subnet and the node forwards */
	{"na to a neighbour on its bridge (gateway node, forwarding on)",
	 EP_A,
	 EG,
	 {ICMP6(A6, BRN6, 136, 0, 0), .nd_target = A6, .nd_lla = mac_a},
	 PASS(PW_OK_PASSTHROUGH)},
	{"ns to a neighbour on its bridge",
	 EP_A,
	 EG,
	 {ICMP6(A6, BRN6, 135, 0, 0), .nd_target = BRN6},
	 PASS(PW_OK_PASSTHROUGH)},
	{"ns to the gateway's address on its bridge",
	 EP_A,
	 EG,
	 {ICMP6(A6, "fd00:b::1", 135, 0, 0), .nd_target = "fd00:b::1"},
	 PASS(PW_OK_PASSTHROUGH)},
	{"na to a routed address off its bridge is still a hop",
	 EP_A,
	 EG,
	 {ICMP6(A6, W6, 136, 0, 0), .nd_target = A6},
	 DROPPED(PW_DROP_POLICY)},
	{"na from b (no bridge) to the same subnet is routed",
	 EP_B,
	 EG,
	 {ICMP6(B6, BRN6, 136, 0, 0), .nd_target = B6},
	 PASS(PW_OK_NOT_ISOLATED),
	 .ev = PW_EV_FLOW_NEW},
	/* pod ingress: for this pod, or not at all */
	{"unicast frame for another pod's mac",
	 EP_A,
	 IN,
	 {TCP(4, B4, A4, 41100, 22, TCP_SYN), .dmac = mac_b},
	 DROPPED(PW_DROP_FOREIGN_DST)},
	{"another pod's datagram in a frame for a (poisoned bridge)",
	 EP_A,
	 IN,
	 {UDP(4, W4, B4, 41101, 53)},
	 DROPPED(PW_DROP_FOREIGN_DST)},
	{"another pod's datagram flooded (unknown unicast mac)",
	 EP_A,
	 IN,
	 {UDP(4, W4, B4, 41102, 53), .dmac = mac_c},
	 DROPPED(PW_DROP_FOREIGN_DST)},
	{"another pod's v6 packet in a frame for a",
	 EP_A,
	 IN,
	 {TCP(6, B6, W6, 41103, 22, TCP_SYN)},
	 DROPPED(PW_DROP_FOREIGN_DST)},
	{"even when a's ingress is not isolated",
	 EP_B,
	 IN,
	 {UDP(4, W4, A4, 41104, 53)},
	 DROPPED(PW_DROP_FOREIGN_DST)},
	{"limited broadcast goes on to policy",
	 EP_A,
	 IN,
	 {UDP(4, B4, "255.255.255.255", 41105, 67), .dmac = mac_bcast},
	 DROPPED(PW_DROP_POLICY)},
	{"subnet broadcast in a broadcast frame goes on to policy",
	 EP_A,
	 IN,
	 {UDP(4, B4, "198.18.0.255", 41106, 137), .dmac = mac_bcast},
	 DROPPED(PW_DROP_POLICY)},
	{"subnet broadcast in a unicast frame",
	 EP_A,
	 IN,
	 {UDP(4, B4, "198.18.0.255", 41107, 137)},
	 DROPPED(PW_DROP_FOREIGN_DST)},
	{"ipv4 multicast goes on to policy",
	 EP_A,
	 IN,
	 {UDP(4, B4, "224.0.0.251", 5353, 5353), .dmac = mac_mc6},
	 DROPPED(PW_DROP_POLICY)},
	{"allowed tcp to a's own address",
	 EP_A,
	 IN,
	 {TCP(4, B4, A4, 41108, 22, TCP_SYN)},
	 NEWFLOW(106)},
	{"v6 to a's link-local address goes on to policy",
	 EP_A,
	 IN,
	 {UDP(6, LLB6, LLA6, 41109, 53)},
	 DROPPED(PW_DROP_POLICY)},
	{"v6 to another link-local address",
	 EP_A,
	 IN,
	 {UDP(6, LLB6, "fe80::a", 41110, 53)},
	 DROPPED(PW_DROP_FOREIGN_DST)},
	{"arp reply for another pod's mac",
	 EP_A,
	 IN,
	 {ARP(.src = B4, .dst = B4, .arp_op = 2), .dmac = mac_b},
	 DROPPED(PW_DROP_FOREIGN_DST)},
	{"broadcast arp announcement",
	 EP_A,
	 IN,
	 {ARP(.src = B4, .dst = B4), .dmac = mac_bcast},
	 PASS(PW_OK_PASSTHROUGH)},
	{"broadcast arp request for a's address",
	 EP_A,
	 IN,
	 {ARP(.src = B4, .dst = A4), .dmac = mac_bcast},
	 PASS(PW_OK_PASSTHROUGH)},
	{"broadcast arp request for another address (32 free bits)",
	 EP_A,
	 IN,
	 {ARP(.src = B4, .dst = "198.18.0.99"), .dmac = mac_bcast},
	 DROPPED(PW_DROP_FOREIGN_DST),
	 .from_pod = true},
	{"arp probe for another pod's address",
	 EP_A,
	 IN,
	 {ARP(.dst = B4), .dmac = mac_bcast},
	 DROPPED(PW_DROP_FOREIGN_DST),
	 .from_pod = true},
	{"arp probe for a's address",
	 EP_A,
	 IN,
	 {ARP(.dst = A4), .dmac = mac_bcast},
	 PASS(PW_OK_PASSTHROUGH)},
	/* pod ingress: nd and mld a host has a use for */
	{"ns for a's address",
	 EP_A,
	 IN,
	 {ICMP6(LLB6, SNMA6, 135, 0, 0), .nd_target = A6, .dmac = mac_mc6},
	 PASS(PW_OK_PASSTHROUGH)},
	{"ns for a's link-local address",
	 EP_A,
	 IN,
	 {ICMP6(LLB6, LLA6, 135, 0, 0), .nd_target = LLA6},
	 PASS(PW_OK_PASSTHROUGH)},
	{"ns for another address flooded to a: not link-scoped",
	 EP_A,
	 IN,
	 {ICMP6(LLB6, SNM6, 135, 0, 0), .nd_target = B6, .dmac = mac_mc6},
	 DROPPED(PW_DROP_POLICY),
	 .from_pod = true},
	{"mld report from another pod: for routers only",
	 EP_A,
	 IN,
	 {ICMP6(LLB6, "ff02::16", 143, 0, 0), .dmac = mac_mc6},
	 DROPPED(PW_DROP_POLICY),
	 .from_pod = true},
	{"router solicitation from another pod: for routers only",
	 EP_A,
	 IN,
	 {ICMP6(LLB6, "ff02::2", 133, 0, 0), .dmac = mac_mc6},
	 DROPPED(PW_DROP_POLICY),
	 .from_pod = true},
	{"mld report from the node",
	 EP_A,
	 IN,
	 {ICMP6(LL6, "ff02::16", 143, 0, 0), .dmac = mac_mc6},
	 PASS(PW_OK_PASSTHROUGH)},
	/* MLD the node side sends is link-scoped only as hosts send it (fuzz_tc found this one) */
	{"mld report behind a destination-options header: not link-scoped",
	 EP_A,
	 IN,
	 {ICMP6(LL6, "ff02::16", 143, 0, 0), .dmac = mac_mc6, .ext = 1},
	 DROPPED(PW_DROP_POLICY)},
	{"mld report from a global address: not link-scoped (receivers ignore it)",
	 EP_A,
	 IN,
	 {ICMP6(W6, "ff02::16", 143, 0, 0), .dmac = mac_mc6},
	 DROPPED(PW_DROP_POLICY)},
	{"mld report from the unspecified address",
	 EP_A,
	 IN,
	 {ICMP6("::", "ff02::16", 143, 0, 0), .dmac = mac_mc6},
	 PASS(PW_OK_PASSTHROUGH)},
	{"ns from the node for another pod's address",
	 EP_A,
	 IN,
	 {ICMP6(LL6, SNM6, 135, 0, 0), .nd_target = B6, .dmac = mac_mc6},
	 PASS(PW_OK_PASSTHROUGH)},
	{"arp request from the node for another pod's address",
	 EP_A,
	 IN,
	 {ARP(.src = GW4, .dst = B4), .dmac = mac_bcast},
	 PASS(PW_OK_PASSTHROUGH)},
	{"router advertisement from the node",
	 EP_A,
	 IN,
	 {ICMP6(LL6, MC6, 134, 0, 0), .dmac = mac_mc6},
	 PASS(PW_OK_PASSTHROUGH)},
};

static void test_l2(void **state)
{
	RUN(l2_rows);
}

static const struct tp q4_from_b = {TCP(4, B4, A4, 40100, 22, TCP_SYN)};
static const struct tp q6_from_b = {TCP(6, B6, A6, 40100, 22, TCP_SYN)};
static const struct tp q4_b_to_c = {TCP(4, B4, C4, 40100, 443, TCP_SYN)};

static const struct step related_gen_rows[] = {
	{"flow to B:80", EP_A, EG, {TCP(4, A4, B4, 40000, 80, TCP_SYN)}, NEWFLOW(101)},
	{"an error about it",
	 EP_A,
	 IN,
	 {ICMP4(R4, A4, 3, 4, 0), .inner = &q4_b80},
	 PASS(PW_OK_RELATED)},
	{"generation moved, flow still allowed: related, re-checked",
	 EP_A,
	 IN,
	 {ICMP4(R4, A4, 3, 4, 0), .inner = &q4_b80},
	 .pre = pre_bump_a,
	 PASS(PW_OK_RELATED),
	 .post = post_related_gen},
	{"policy revoked: its error is not related",
	 EP_A,
	 IN,
	 {ICMP4(R4, A4, 3, 4, 0), .inner = &q4_b80},
	 .pre = pre_revoke_80,
	 .verdict = SHOT,
	 .reason = PW_DROP_REVOKED,
	 .ct_delta = -1,
	 .parked = 1,
	 .ev = PW_EV_REVOKED,
	 .cookie = 101},
	{"the next one is judged on its own",
	 EP_A,
	 IN,
	 {ICMP4(R4, A4, 3, 4, 0), .inner = &q4_b80},
	 DROPPED(PW_DROP_POLICY)},
	{"flow admitted at ingress", EP_A, IN, {TCP(4, B4, A4, 40100, 22, TCP_SYN)}, NEWFLOW(106)},
	{"the pod's error about it",
	 EP_A,
	 EG,
	 {ICMP4(A4, B4, 3, 3, 0), .inner = &q4_from_b},
	 PASS(PW_OK_RELATED)},
	{"ingress policy revoked: the pod's error is not related",
	 EP_A,
	 EG,
	 {ICMP4(A4, B4, 3, 3, 0), .inner = &q4_from_b},
	 .pre = pre_revoke_in_b,
	 .verdict = SHOT,
	 .reason = PW_DROP_REVOKED,
	 .ct_delta = -1,
	 .parked = 1,
	 .ev = PW_EV_REVOKED},
};

static void test_related_gen(void **state)
{
	RUN(related_gen_rows);
}

/* an ICMP error passes as related only on its way to the source of the packet it quotes */
static const struct step related_dst_rows[] = {
	{"flow admitted at ingress", EP_A, IN, {TCP(4, B4, A4, 40100, 22, TCP_SYN)}, NEWFLOW(106)},
	{"the pod's error, to the flow's source",
	 EP_A,
	 EG,
	 {ICMP4(A4, B4, 3, 3, 0), .inner = &q4_from_b},
	 .pre = pre_no_icmp_a,
	 PASS(PW_OK_RELATED)},
	{"the same error sent to the world",
	 EP_A,
	 EG,
	 {ICMP4(A4, W4, 3, 3, 0), .inner = &q4_from_b},
	 DROPPED(PW_DROP_POLICY)},
	{"v6 flow admitted at ingress",
	 EP_A,
	 IN,
	 {TCP(6, B6, A6, 40100, 22, TCP_SYN)},
	 NEWFLOW(106)},
	{"v6 error, to the flow's source",
	 EP_A,
	 EG,
	 {ICMP6(A6, B6, 1, 4, 0), .inner = &q6_from_b},
	 PASS(PW_OK_RELATED)},
	{"v6 error sent to the world",
	 EP_A,
	 EG,
	 {ICMP6(A6, W6, 1, 4, 0), .inner = &q6_from_b},
	 DROPPED(PW_DROP_POLICY)},
	{"error to the pod quoting what another pod sent",
	 EP_A,
	 IN,
	 {ICMP4(R4, A4, 3, 1, 0), .inner = &q4_b_to_c},
	 DROPPED(PW_DROP_POLICY)},
};

static void test_related_dst(void **state)
{
	RUN(related_dst_rows);
}

static const struct tp q6_frag_first = {UDP(6, A6, W6, 40000, 53), .frag = TP_FRAG_FIRST,
					.frag_id = 0x77};
static const struct tp q6_frag_later = {UDP(6, A6, W6, 40000, 53), .frag = TP_FRAG_LATER,
					.frag_id = 0x77};
static const struct tp q4_frag_first = {UDP(4, A4, W4, 40000, 53), .frag = TP_FRAG_FIRST,
					.frag_id = 0x78};
static const struct tp q4_frag_later = {UDP(4, A4, W4, 40000, 53), .frag = TP_FRAG_LATER,
					.frag_id = 0x78};

/* errors about fragments: a first fragment names its flow, a later one cannot */
static const struct step related_frag_rows[] = {
	{"v6 udp first fragment out",
	 EP_A,
	 EG,
	 {UDP(6, A6, W6, 40000, 53), .frag = TP_FRAG_FIRST, .frag_id = 0x77},
	 NEWFLOW(104),
	 .frag_delta = 1},
	{"packet too big quoting it, fragment header and all",
	 EP_A,
	 IN,
	 {ICMP6(R6, A6, 2, 0, 0), .inner = &q6_frag_first},
	 PASS(PW_OK_RELATED)},
	{"one quoting a later fragment is judged on its own",
	 EP_A,
	 IN,
	 {ICMP6(R6, A6, 2, 0, 0), .inner = &q6_frag_later},
	 DROPPED(PW_DROP_POLICY)},
	{"v4 udp first fragment out",
	 EP_A,
	 EG,
	 {UDP(4, A4, W4, 40000, 53), .frag = TP_FRAG_FIRST, .frag_id = 0x78},
	 NEWFLOW(104),
	 .frag_delta = 1},
	{"fragmentation needed quoting it",
	 EP_A,
	 IN,
	 {ICMP4(R4, A4, 3, 4, 0), .inner = &q4_frag_first},
	 PASS(PW_OK_RELATED)},
	{"one quoting a later fragment is judged on its own",
	 EP_A,
	 IN,
	 {ICMP4(R4, A4, 3, 4, 0), .inner = &q4_frag_later},
	 DROPPED(PW_DROP_POLICY)},
};

static void test_related_frag(void **state)
{
	RUN(related_frag_rows);
}

static const struct step echo_rows[] = {
	{"ping out, id 77", EP_A, EG, {ICMP4(A4, W4, 8, 0, 77)}, NEWFLOW(108)},
	{"the peer's echo request with that id is no reply",
	 EP_A,
	 IN,
	 {ICMP4(W4, A4, 8, 0, 77)},
	 DROPPED(PW_DROP_POLICY)},
	{"the echo reply is", EP_A, IN, {ICMP4(W4, A4, 0, 0, 77)}, PASS(PW_OK_REPLY)},
	{"the next request continues the flow",
	 EP_A,
	 EG,
	 {ICMP4(A4, W4, 8, 0, 77)},
	 PASS(PW_OK_ESTABLISHED)},
	{"an echo reply from the pod does not continue its own request",
	 EP_A,
	 EG,
	 {ICMP4(A4, W4, 0, 0, 77)},
	 JUDGED(108)},
	{"an unsolicited echo reply opens nothing",
	 EP_A,
	 EG,
	 {ICMP4(A4, W4, 0, 0, 55)},
	 JUDGED(108)},
	{"so a request with its id is denied",
	 EP_A,
	 IN,
	 {ICMP4(W4, A4, 8, 0, 55)},
	 DROPPED(PW_DROP_POLICY)},
	{"timestamp request: judged, not tracked",
	 EP_A,
	 EG,
	 {ICMP4(A4, W4, 13, 0, 0)},
	 JUDGED(108)},
	{"a redirect from that peer is no reply to it",
	 EP_A,
	 IN,
	 {ICMP4(W4, A4, 5, 0, 0)},
	 DROPPED(PW_DROP_POLICY)},
	{"echo id 0 out", EP_A, EG, {ICMP4(A4, W4, 8, 0, 0)}, NEWFLOW(108)},
	{"timestamp reply does not ride on echo id 0",
	 EP_A,
	 IN,
	 {ICMP4(W4, A4, 14, 0, 0)},
	 DROPPED(PW_DROP_POLICY)},
	{"v6 ping out, id 9", EP_A, EG, {ICMP6(A6, W6, 128, 0, 9)}, NEWFLOW(109)},
	{"v6 peer's request with that id",
	 EP_A,
	 IN,
	 {ICMP6(W6, A6, 128, 0, 9)},
	 DROPPED(PW_DROP_POLICY)},
	{"v6 echo reply", EP_A, IN, {ICMP6(W6, A6, 129, 0, 9)}, PASS(PW_OK_REPLY)},
	{"v6 unsolicited echo reply opens nothing",
	 EP_A,
	 EG,
	 {ICMP6(A6, W6, 129, 0, 10)},
	 JUDGED(109)},
	{"v6 request with its id denied",
	 EP_A,
	 IN,
	 {ICMP6(W6, A6, 128, 0, 10)},
	 DROPPED(PW_DROP_POLICY)},
	{"ping into a pod whose ingress is open",
	 EP_B,
	 IN,
	 {ICMP4(W4, B4, 8, 0, 5)},
	 .pre = pre_b_not_isolated,
	 PASS(PW_OK_NOT_ISOLATED),
	 .ct_delta = 1,
	 .ev = PW_EV_FLOW_NEW},
	{"its answer is a reply", EP_B, EG, {ICMP4(B4, W4, 0, 0, 5)}, PASS(PW_OK_REPLY)},
	{"its own request with that id is a new flow",
	 EP_B,
	 EG,
	 {ICMP4(B4, W4, 8, 0, 5)},
	 PASS(PW_OK_NOT_ISOLATED),
	 .ct_delta = 1,
	 .ev = PW_EV_FLOW_NEW},
};

static void test_echo(void **state)
{
	RUN(echo_rows);
}

static const struct step frag_ct_rows[] = {
	{"first fragment opens the flow", EP_A, EG, F4_FIRST, NEWFLOW(104), .frag_delta = 1},
	{"later fragment counted with it", EP_A, EG, F4_LATER, PASS(PW_OK_FRAG),
	 .post = post_f4_counted},
	{"reply's first fragment", EP_A, IN, F4_REPLY_FIRST, PASS(PW_OK_REPLY), .frag_delta = 1},
	{"reply's later fragment counted as reply", EP_A, IN, F4_REPLY_LATER, PASS(PW_OK_FRAG),
	 .post = post_f4_reply_counted},
	{"v6 first fragment", EP_A, EG, F6_FIRST, NEWFLOW(104), .frag_delta = 1},
	{"v6 later fragment counted", EP_A, EG, F6_LATER, PASS(PW_OK_FRAG),
	 .post = post_f6_counted},
	{"big ping, first fragment", EP_A, EG, FE_FIRST, NEWFLOW(108), .frag_delta = 1},
	{"its later fragments", EP_A, EG, FE_LATER, PASS(PW_OK_FRAG)},
	{"all counted", EP_A, EG, FE_LATER, PASS(PW_OK_FRAG), .post = post_fe_counted},
	{"big ping's reply, first fragment", EP_A, IN, FE_REPLY_FIRST, PASS(PW_OK_REPLY),
	 .frag_delta = 1},
	{"its later fragment counted as reply", EP_A, IN, FE_REPLY_LATER, PASS(PW_OK_FRAG),
	 .post = post_fe_reply_counted},
	{"later fragment of an untracked error",
	 EP_A,
	 EG,
	 {ICMP4(A4, W4, 3, 3, 0), .frag = TP_FRAG_FIRST, .frag_id = 0x4444},
	 JUDGED(108),
	 .frag_delta = 1},
	{"passes, counted nowhere",
	 EP_A,
	 EG,
	 {ICMP4(A4, W4, 3, 3, 0), .frag = TP_FRAG_LATER, .frag_id = 0x4444},
	 PASS(PW_OK_FRAG)},
};

static void test_frag_ct(void **state)
{
	RUN(frag_ct_rows);
}

/* malformed headers and unusual lengths that must neither bypass policy nor break traffic */
static const struct step len_rows[] = {
	{"ipv4 ihl 15 in a 40-byte datagram",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 1000, 80, TCP_SYN), .mangle = TP_M_IHL15},
	 DROPPED(PW_DROP_MALFORMED)},
	{"ipv4 total length 0, not gso",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 1001, 80, TCP_SYN), .mangle = TP_M_LEN_ZERO},
	 DROPPED(PW_DROP_MALFORMED)},
	{"ipv4 total length 0 in a gso packet (big tcp)",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 1002, 80, TCP_SYN), .mangle = TP_M_LEN_ZERO},
	 NEWFLOW(101),
	 .gso_size = 1448},
	{"big tcp still under policy",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 1003, 81, TCP_SYN), .mangle = TP_M_LEN_ZERO},
	 DROPPED(PW_DROP_POLICY),
	 .gso_size = 1448},
	{"gso packet: a flow of two packets",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 1004, 80, TCP_ACK)},
	 NEWFLOW(101),
	 .post = post_gso_counted,
	 .gso_size = 1448},
	{"the next one, not gso, counts one",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 1004, 80, TCP_ACK)},
	 .reason = PW_OK_ESTABLISHED,
	 .post = post_gso_more},
	{"ipv6 payload length 0, not gso",
	 EP_A,
	 EG,
	 {TCP(6, A6, B6, 1000, 80, TCP_SYN), .mangle = TP_M_LEN_ZERO},
	 DROPPED(PW_DROP_MALFORMED)},
	{"ipv6 payload length 0 in a gso packet (big tcp)",
	 EP_A,
	 EG,
	 {TCP(6, A6, B6, 1001, 80, TCP_SYN), .mangle = TP_M_LEN_ZERO},
	 NEWFLOW(101),
	 .gso_size = 1428},
	{"ipv6 big tcp still under policy",
	 EP_A,
	 EG,
	 {TCP(6, A6, B6, 1002, 81, TCP_SYN), .mangle = TP_M_LEN_ZERO},
	 DROPPED(PW_DROP_POLICY),
	 .gso_size = 1428},
	{"ipv6 jumbogram",
	 EP_A,
	 EG,
	 {TCP(6, A6, B6, 1003, 80, TCP_SYN), .mangle = TP_M_HBH_JUMBO},
	 DROPPED(PW_DROP_MALFORMED)},
	{"tcp data offset 15 in a 20-byte segment",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 1005, 80, TCP_SYN), .mangle = TP_M_DOFF15},
	 DROPPED(PW_DROP_MALFORMED)},
	{"v6 tcp data offset 15 in a 20-byte segment",
	 EP_A,
	 EG,
	 {TCP(6, A6, B6, 1005, 80, TCP_SYN), .mangle = TP_M_DOFF15},
	 DROPPED(PW_DROP_MALFORMED)},
	{"tcp data offset 15 in a first fragment: options continue",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 1006, 80, TCP_SYN), .mangle = TP_M_DOFF15, .frag = TP_FRAG_FIRST,
	  .frag_id = 9},
	 NEWFLOW(101),
	 .frag_delta = 1},
	{"tcp with options",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 1007, 80, TCP_SYN), .ip_opts = 1},
	 NEWFLOW(101)},
};

/*
 * last_seen_ns comes from a per-CPU clock of the tick (bpf/lib/conntrack.h): never before the
 * flow's start, never ahead of now, and it moves once a tick has passed (30 ms here: more than
 * a tick at any HZ).
 */
static const struct tp flow_clock = {TCP(4, A4, B4, 41500, 80, TCP_SYN)};
static uint64_t clock_t0;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool pre_tick_later(void)
{
	usleep(30000);
	clock_t0 = mono_ns();
	return true;
}

static bool post_clock_moved(void)
{
	uint64_t now = mono_ns();
	struct pw_ct_entry e;

	return ct_get(EPID_A, PW_DIR_EGRESS, &flow_clock, &e) && e.packets[0] == 3 &&
	       e.last_seen_ns > e.created_ns + 20000000ull && e.last_seen_ns <= now &&
	       e.last_seen_ns + 1000000000ull > clock_t0;
}

static bool post_clock_kept(void)
{
	struct pw_ct_entry e;

	return ct_get(EPID_A, PW_DIR_EGRESS, &flow_clock, &e) && e.packets[0] == 2 &&
	       e.last_seen_ns >= e.created_ns && e.last_seen_ns <= mono_ns();
}

static const struct step clock_rows[] = {
	{"syn", EP_A, EG, {TCP(4, A4, B4, 41500, 80, TCP_SYN)}, NEWFLOW(101)},
	{"ack at once: last seen not before the start",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 41500, 80, TCP_ACK)},
	 .reason = PW_OK_ESTABLISHED,
	 .post = post_clock_kept},
	{"ack 30 ms later: last seen moved",
	 EP_A,
	 EG,
	 {TCP(4, A4, B4, 41500, 80, TCP_ACK)},
	 .pre = pre_tick_later,
	 .reason = PW_OK_ESTABLISHED,
	 .post = post_clock_moved},
};

static void test_ct_clock(void **state)
{
	RUN(clock_rows);
}

/*
 * PW_EP_F_NO_ANY_PEER_*: the compiler sets it where the subject's entry set names no "any
 * peer" (test_compile); the datapath then skips that lookup and decides the same. Set where
 * such an entry exists (never by the compiler), it shows the lookup is really skipped.
 */
static bool pre_no_any_a(void)
{
	return !set_flags(EP_A, EP_FLAGS_A | PW_EP_F_NO_ANY_PEER_INGRESS);
}

static bool pre_no_any_a_both(void)
{
	return !set_flags(EP_A,
			  EP_FLAGS_A | PW_EP_F_NO_ANY_PEER_INGRESS | PW_EP_F_NO_ANY_PEER_EGRESS);
}

static const struct step no_any_rows[] = {
	{"ingress, exact peer, any-peer lookup skipped: allowed",
	 EP_A,
	 IN,
	 {TCP(4, B4, A4, 42000, 22, TCP_SYN)},
	 .pre = pre_no_any_a,
	 NEWFLOW(106)},
	{"ingress, peer without entry, any-peer lookup skipped: denied",
	 EP_A,
	 IN,
	 {TCP(4, W4, A4, 42001, 22, TCP_SYN)},
	 DROPPED(PW_DROP_POLICY)},
	{"egress, any-peer entry, flag kept off by the compiler: allowed",
	 EP_A,
	 EG,
	 {UDP(4, A4, W4, 42002, 53)},
	 NEWFLOW(104)},
	{"egress, the flag set anyway: the any-peer entry is not consulted",
	 EP_A,
	 EG,
	 {UDP(4, A4, W4, 42003, 53)},
	 .pre = pre_no_any_a_both,
	 DROPPED(PW_DROP_POLICY),
	 .post = post_isolate_a},
};

static void test_no_any_peer(void **state)
{
	RUN(no_any_rows);
}

static void test_lengths(void **state)
{
	RUN(len_rows);
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
	/*
	 * A node that routes: the world prefix behind B's veth, and an address of the node's
	 * own, so the FIB tells forwarded ND from link-scoped ND. All in the private netns.
	 */
	if (sh("ip link set %s address 02:00:00:00:00:0a", fx->ifname[2]) ||
	    sh("ip link set %s address 02:00:00:00:00:0b", fx->ifname[3]))
		return -1;
	for (i = 0; i < 4; i++)
		if (sh("ip link set %s up", fx->ifname[i]))
			return -1;
	/*
	 * A's veth hangs on a bridge holding a subnet of its own, as the CNI bridge plugin
	 * builds it with isGateway: neighbours on it are on A's link though the node routes.
	 */
	snprintf(fx->ifname[4], IFNAMSIZ, "pwtr%d", (int)getpid());
	if (sh("ip link add %s type bridge", fx->ifname[4]) ||
	    sh("ip link set %s master %s", fx->ifname[0], fx->ifname[4]) ||
	    sh("ip link set %s up", fx->ifname[4]) ||
	    sh("ip -6 addr add fd00:b::1/64 dev %s nodad", fx->ifname[4]))
		return -1;
	fx->bridge = if_nametoindex(fx->ifname[4]);
	if (sh("sysctl -qw net.ipv6.conf.all.forwarding=1") ||
	    sh("ip -6 addr add " NODE6 "/128 dev %s nodad", fx->ifname[1]) ||
	    sh("ip -6 route add " WORLD6_NET " dev %s", fx->ifname[1]))
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
		cmocka_unit_test(test_parse),	     cmocka_unit_test(test_policy),
		cmocka_unit_test(test_conntrack),    cmocka_unit_test(test_reuse),
		cmocka_unit_test(test_related),	     cmocka_unit_test(test_spoof),
		cmocka_unit_test(test_exthdr),	     cmocka_unit_test(test_frag),
		cmocka_unit_test(test_revocation),
		cmocka_unit_test(test_revocation_reversed), cmocka_unit_test(test_symmetric),   cmocka_unit_test(test_modes),
		cmocka_unit_test(test_arp),	     cmocka_unit_test(test_nd),
		cmocka_unit_test(test_related_gen),  cmocka_unit_test(test_related_dst),
		cmocka_unit_test(test_related_frag), cmocka_unit_test(test_echo),
		cmocka_unit_test(test_frag_ct),	     cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_l2),	     cmocka_unit_test(test_audit_policies),
		cmocka_unit_test(test_ct_clock),
		cmocka_unit_test(test_no_any_peer),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
