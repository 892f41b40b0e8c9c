/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Connection tracking scoped by (endpoint, direction of the admitting check): pod A's egress
 * entry never satisfies pod B's ingress check for the same 5-tuple on the same node.
 */
#ifndef PW_BPF_CONNTRACK_H
#define PW_BPF_CONNTRACK_H

#include "lib/common.h"
#include "lib/maps.h"
#include "lib/metrics.h"
#include "lib/parse.h"
#include "lib/ctkey.h"

/* Wire packets in an skb: a GSO packet is segmented after TC, its headers are every segment's. */
static __always_inline __u32 pw_skb_segs(const struct __sk_buff *skb)
{
	return skb->gso_segs ? skb->gso_segs : 1;
}

/*
 * This CPU's clock of the current tick: the precise time of the first packet it accounted
 * since jiffies last moved. Private to the TC object (never pinned).
 */
struct pw_ct_clock {
	__u64 jiffies;
	__u64 ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pw_ct_clock);
} pw_ct_clock_v1 SEC(".maps");

/*
 * A time for last_seen_ns: the precise clock (bpf_ktime_get_ns) costs about as much as the
 * conntrack lookup on this kind of machine (a KVM guest: ~35 ns, docs/performance.md), and a
 * coarse one could say a time before the flow's start. So the precise clock is read once per
 * tick per CPU, when jiffies moved (the verifier inlines bpf_jiffies64 into one load), and
 * every packet of that tick on that CPU gets that time: at most one tick (4 ms at HZ=250)
 * before its own, never after it. Flow records count in milliseconds, idle timeouts in
 * seconds.
 */
static __always_inline __u64 pw_ct_tick_ns(void)
{
	__u64 j = bpf_jiffies64();
	struct pw_ct_clock *c;
	__u32 zero = 0;

	c = bpf_map_lookup_elem(&pw_ct_clock_v1, &zero);
	if (!c)
		return bpf_ktime_get_ns();
	if (c->jiffies != j) {
		c->jiffies = j;
		c->ns = bpf_ktime_get_ns();
	}
	return c->ns;
}

/* Account one skb; idx 0 is the flow's original direction, 1 its reply. */
static __always_inline void pw_ct_account(struct pw_ct_entry *e, int idx,
					  const struct __sk_buff *skb, __u8 proto, __u8 tcp_flags)
{
	__u32 segs = pw_skb_segs(skb), len = skb->len;
	__u64 now = pw_ct_tick_ns();

	/* another CPU's tick may have begun earlier: last_seen never goes back, nor before start */
	if (now > e->last_seen_ns)
		e->last_seen_ns = now;
	if (idx) {
		__sync_fetch_and_add(&e->packets[1], segs);
		__sync_fetch_and_add(&e->bytes[1], len);
		if (e->state == PW_CT_NEW)
			e->state = PW_CT_ESTABLISHED;
	} else {
		__sync_fetch_and_add(&e->packets[0], segs);
		__sync_fetch_and_add(&e->bytes[0], len);
	}
	if (proto == IPPROTO_TCP) {
		/* racy OR between CPUs loses at worst a flag bit of a log record */
		e->tcp_flags[idx & 1] |= tcp_flags;
		if (tcp_flags & (PW_TCP_FIN | PW_TCP_RST))
			e->state = PW_CT_CLOSING;
	}
}

/*
 * A fresh SYN (no ACK) in a closing flow's original direction: its port pair is reused by a
 * new connection, which the caller ends the old flow for and decides as a new one.
 */
static __always_inline int pw_ct_reused(const struct pw_ct_entry *e, int idx, __u8 proto,
					__u8 tcp_flags)
{
	return !idx && proto == IPPROTO_TCP && e->state == PW_CT_CLOSING &&
	       (tcp_flags & (PW_TCP_SYN | PW_TCP_ACK)) == PW_TCP_SYN;
}

/*
 * End a flow in the datapath, keeping its record: the entry is copied from its live key k to
 * the same key with ended = 1..PW_CT_PARK_SLOTS (the first free), where no packet finds it and
 * the sweep reports and deletes it; then the live key is deleted. why: PW_CT_F_REVOKED for a
 * flow that failed its re-check, 0 for a closed flow whose port pair is reused (its state
 * says CLOSING).
 *
 * Exactly one record even when two CPUs end the flow at once: both may park a copy, but only
 * one deletes the live key, and the other takes its copy back. Parking before deleting keeps
 * the entry valid while it is copied (a deleted element may be reused at once). A port pair
 * that ended PW_CT_PARK_SLOTS times since the last sweep has no slot left: that record is
 * lost, and counted (PW_METRIC_CT_END_LOST).
 *
 * Not inlined, and it copies nothing to its own stack: k is the caller's key, its `ended`
 * moved and put back to 0 (the deepest call chain must fit the 512-byte BPF stack).
 */
static __noinline void pw_ct_park(struct pw_ct_key *k, struct pw_ct_entry *e, __u8 why)
{
	__u8 slot = 0, i;

	/* the live entry goes in a moment: marking it marks the copy */
	e->flags |= why;
	if (!(why & PW_CT_F_REVOKED))
		e->state = PW_CT_CLOSING;
	/*
	 * A lookup first: an insert into a taken slot still takes an element off the LRU free
	 * list and puts it back, several times a lookup's cost (with a port pair reused faster
	 * than the sweep clears its slots, TCP_CRR spent 4 % of its CPU in those failures).
	 */
	for (i = 1; i <= PW_CT_PARK_SLOTS; i++) {
		k->ended = i;
		if (!bpf_map_lookup_elem(&PW_MAP_CT, k) &&
		    !bpf_map_update_elem(&PW_MAP_CT, k, e, BPF_NOEXIST)) {
			slot = i;
			break;
		}
	}
	k->ended = 0;
	if (bpf_map_delete_elem(&PW_MAP_CT, k)) {
		/* another CPU ended it first, and parked it */
		if (slot) {
			k->ended = slot;
			bpf_map_delete_elem(&PW_MAP_CT, k);
			k->ended = 0;
		}
		return;
	}
	if (!slot)
		pw_metrics_inc(PW_METRIC_CT_END_LOST);
}

static __always_inline int pw_ct_create(const struct pw_ct_key *k, const struct pw_endpoint *ep,
					const struct __sk_buff *skb, __u8 tcp_flags, __u32 cookie,
					__u32 src_id, __u32 dst_id, __u8 flags)
{
	struct pw_ct_entry e = {};
	__u64 now = bpf_ktime_get_ns();

	e.created_ns = now;
	e.last_seen_ns = now;
	e.packets[0] = pw_skb_segs(skb);
	e.bytes[0] = skb->len;
	e.policy_gen = ep->policy_gen;
	e.cookie = cookie;
	e.src_identity = src_id;
	e.dst_identity = dst_id;
	e.state = PW_CT_NEW;
	e.flags = flags;
	if (k->proto == IPPROTO_TCP) {
		e.tcp_flags[0] = tcp_flags;
		if (!(tcp_flags & PW_TCP_SYN) || (tcp_flags & PW_TCP_ACK)) {
			/* picked up mid-flow: both directions exist already */
			e.flags |= PW_CT_F_MIDSTREAM;
			e.state = PW_CT_ESTABLISHED;
		}
		if (tcp_flags & (PW_TCP_FIN | PW_TCP_RST))
			e.state = PW_CT_CLOSING;
	}
	return bpf_map_update_elem(&PW_MAP_CT, k, &e, BPF_NOEXIST);
}

#endif /* PW_BPF_CONNTRACK_H */
