/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * TC enforcement on a pod's host-side veth. The veth's ingress sees what the pod sends (its
 * egress), the veth's egress what the pod receives (its ingress). Stages: endpoint,
 * quarantine, parse, anti-spoofing (IP, ARP, ND), link-scoped passthrough, fragments,
 * conntrack or, for an ICMP error, the flow it quotes (both re-checked when the policy
 * generation moved), policy for a new flow. Every stage returns a pw_reason; one exit turns it
 * into a verdict, a counter and, for drops, new flows, revocations and audits, one event.
 */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/endpoint.h"
#include "lib/l2.h"
#include "lib/policy.h"
#include "lib/conntrack.h"
#include "lib/frag.h"
#include "lib/events.h"
#include "lib/fold.h"
#include "lib/metrics.h"
#include "lib/quarantine.h"
#include <linux/pkt_cls.h>

/* What the exit needs besides the reason. */
struct pw_tc_state {
	struct pw_pkt pkt;
	const struct pw_endpoint *ep;
	__u32 ep_id;
	__u32 cookie;
	__u32 src_id;
	__u32 dst_id;
	__u8 dir;
	__u8 ev_type; /* an event a stage asked for; drops get PW_EV_DROP by default */
};

static __always_inline void pw_tc_identities(struct pw_tc_state *s, __u32 peer_id)
{
	if (s->dir == PW_DIR_EGRESS) {
		s->src_id = s->ep->identity;
		s->dst_id = peer_id;
	} else {
		s->src_id = peer_id;
		s->dst_id = s->ep->identity;
	}
}

/*
 * Would the node forward this packet? ND keeps hop limit 255 only on its own link, but a
 * packet from the pod to a routed address still leaves the node (with 254) and whatever it
 * carries can be read on the far side: ND is link-scoped only towards link-local or
 * link-local multicast destinations, ones the node does not forward (its own addresses,
 * unroutable ones), and ones on the pod's own segment: a gateway node (a bridge holding the
 * pod subnet, forwarding on) routes a neighbour's address out of the very bridge the pod
 * hangs on, directly (no gateway), and that is the link, not a hop. MLD needs no lookup:
 * hop limit 1 never crosses a router.
 */
static __always_inline int pw_tc_nd_forwarded(struct __sk_buff *skb, const struct pw_endpoint *ep,
					      const struct pw_pkt *p)
{
	struct bpf_fib_lookup f;
	__u32 link = ep->link_ifindex ? ep->link_ifindex : ep->ifindex;
	long rc;

	if (p->nd_type < 133 || p->nd_type > 137 || pw_addr_is_v6_ll(p->t.daddr) ||
	    (bpf_ntohl(p->t.daddr[0]) & 0xffff0000) == 0xff020000)
		return 0;
	__builtin_memset(&f, 0, sizeof(f));
	f.family = 10; /* AF_INET6 */
	f.l4_protocol = IPPROTO_ICMPV6;
	f.ifindex = skb->ifindex;
	__builtin_memcpy(f.ipv6_src, p->t.saddr, 16);
	__builtin_memcpy(f.ipv6_dst, p->t.daddr, 16);
	/* the neighbour table is not the question: the route is */
	rc = bpf_fib_lookup(skb, &f, sizeof(f), BPF_FIB_LOOKUP_SKIP_NEIGH);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH &&
	    rc != BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return 0;
	/* a gateway route rewrites the destination to the gateway: that is a hop */
	return f.ifindex != link || !pw_addr_eq(f.ipv6_dst, p->t.daddr);
}

/*
 * Anti-spoofing of what the pod sends. IP: the source is one of the pod's addresses. ARP: so
 * is the sender address, except in an RFC 5227 probe (sender 0.0.0.0 claims nothing).
 * Link-scoped ND and MLD: the source may also be the pod's link-local address or unspecified
 * (DAD, MLD before an address exists); a neighbour advertisement, and a DAD solicitation,
 * may name only the pod's own addresses, its link-local one included.
 */
static __always_inline int pw_tc_spoof(const struct pw_tc_state *s)
{
	const struct pw_endpoint *ep = s->ep;
	const struct pw_pkt *p = &s->pkt;
	const __u32 *src = p->t.saddr;
	int own = pw_ep_owns(ep, p->t.family, src);

	if (p->arp_op)
		return own || (p->arp_op == PW_ARPOP_REQUEST && !src[0]) ? PW_CONTINUE
									 : PW_DROP_SPOOFED;
	if (!p->nd_type)
		return own ? PW_CONTINUE : PW_DROP_SPOOFED;
	if (!own && !pw_ep_owns_ll(ep, src) && !pw_addr_is_zero(src))
		return PW_DROP_SPOOFED;
	if ((p->nd_type == PW_ICMP6_NA || (p->nd_type == PW_ICMP6_NS && pw_addr_is_zero(src))) &&
	    !pw_ep_owns_any(ep, PW_FAMILY_V6, p->nd_target))
		return PW_DROP_SPOOFED;
	return PW_CONTINUE;
}

/*
 * The tracked flow a packet belongs to: same endpoint, admitted in the packet's direction
 * (original direction, *idx 0) or in the other one for the reversed tuple (reply, *idx 1),
 * found with one lookup (struct pw_ct_key). An ICMP error is looked up by the packet it
 * quotes, which travelled opposite to the error, so the direction swaps. Echo messages keep
 * their roles: the key of an echo flow is its request's orientation and only requests create
 * one, so a request finds only a flow it continues (*idx 0) and a reply only one it answers
 * (*idx 1): a peer's echo request never passes as the "reply" to the pod's own request with
 * the same identifier.
 */
static __always_inline struct pw_ct_entry *pw_tc_ct_find(const struct pw_tc_state *s,
							 struct pw_ct_key *k, int *idx)
{
	const struct pw_pkt *p = &s->pkt;

	if (p->has_inner) {
		/*
		 * An error goes back to the source of the packet it quotes (RFC 792, 4443).
		 * Sent elsewhere, it would carry whatever the pod likes to any address.
		 */
		if (!pw_addr_eq(p->t.daddr, p->inner.saddr))
			return NULL;
		return pw_ct_lookup(k, s->ep->ep_id, pw_dir_other(s->dir), &p->inner,
				    p->inner_echo_reply, idx);
	}
	if (p->frag == PW_FRAG_LATER) /* only accounted, to whichever way it goes */
		return pw_ct_lookup(k, s->ep->ep_id, s->dir, &p->t, -1, idx);
	if (p->no_track && p->echo != PW_ECHO_REPLY)
		return NULL;
	return pw_ct_lookup(k, s->ep->ep_id, s->dir, &p->t, p->echo == PW_ECHO_REPLY, idx);
}

/*
 * A tracked flow admitted under an older policy generation of its endpoint is decided again,
 * for its original direction, before it carries anything more: its packets, its replies and
 * the ICMP errors about it. O(1) when nothing changed.
 */
static __always_inline int pw_tc_recheck(struct pw_tc_state *s, struct pw_ct_key *k,
					 struct pw_ct_entry *e)
{
	const struct pw_endpoint *ep = s->ep;
	struct pw_decision d;
	int r;

	if (e->policy_gen == ep->policy_gen)
		return PW_CONTINUE;
	/*
	 * The flow's original direction, from a key that may hold it reversed. The peer is the
	 * key's destination when its scope is egress, whichever way it is stored; the port is
	 * the original destination's.
	 */
	r = pw_policy_decide(ep, pw_ct_scope(k, e), k->family,
			     k->scope == PW_DIR_EGRESS ? k->daddr : k->saddr, k->proto,
			     e->flags & PW_CT_F_SWAPPED ? k->sport : k->dport, &d);
	if (pw_reason_is_drop(r)) {
		/* ended here, recorded by the sweep; the flow's later packets miss conntrack */
		pw_ct_park(k, e, PW_CT_F_REVOKED);
		s->ev_type = PW_EV_REVOKED;
		return PW_DROP_REVOKED;
	}
	e->policy_gen = ep->policy_gen;
	e->cookie = d.cookie;
	s->cookie = d.cookie;
	/* the reverse direction of a mid-stream pickup is judged again under the new policy */
	e->flags &= ~PW_CT_F_REPLY_CHECKED;
	if (r == PW_OK_AUDIT)
		e->flags |= PW_CT_F_AUDIT;
	else
		e->flags &= ~PW_CT_F_AUDIT;
	return PW_CONTINUE;
}

/*
 * Nobody saw this flow start, so nobody knows which end opened it: its reverse direction
 * is allowed only if policy allows it in its own right (checked once per generation).
 * The price: a flow evicted from a full table and picked up again needs both directions
 * allowed; a revoked flow can never come back through its non-isolated side.
 */
static __always_inline int pw_tc_midstream_reply(struct pw_tc_state *s, struct pw_ct_entry *e)
{
	const struct pw_pkt *p = &s->pkt;
	struct pw_decision d;
	int r;

	r = pw_policy_decide(s->ep, s->dir, p->t.family,
			     s->dir == PW_DIR_EGRESS ? p->t.daddr : p->t.saddr, p->t.proto,
			     p->t.dport, &d);
	if (pw_reason_is_drop(r)) {
		s->cookie = d.cookie;
		return r;
	}
	e->flags |= PW_CT_F_REPLY_CHECKED;
	return PW_CONTINUE;
}

static __always_inline int pw_tc_new_flow(struct __sk_buff *skb, struct pw_tc_state *s)
{
	const struct pw_endpoint *ep = s->ep;
	struct pw_pkt *p = &s->pkt;
	struct pw_decision d;
	struct pw_ct_key k;
	__u8 ct_flags = 0;
	int r;

	r = pw_policy_decide(ep, s->dir, p->t.family,
			     s->dir == PW_DIR_EGRESS ? p->t.daddr : p->t.saddr, p->t.proto,
			     p->t.dport, &d);
	s->cookie = d.cookie;
	pw_tc_identities(s, d.peer_id);
	if (pw_reason_is_drop(r))
		return r;
	if (r == PW_OK_AUDIT) {
		s->ev_type = PW_EV_AUDIT;
		ct_flags = PW_CT_F_AUDIT;
	} else {
		s->ev_type = PW_EV_FLOW_NEW;
	}
	/* errors, echo replies, identifier-less ICMP: judged each time, never tracked */
	if (p->no_track)
		return r;
	if (pw_ct_key_fill(&k, ep->ep_id, s->dir, &p->t, 0))
		ct_flags |= PW_CT_F_SWAPPED;
	pw_ct_create(&k, ep, skb, p->tcp_flags, d.cookie, s->src_id, s->dst_id, ct_flags);
	return r;
}

/*
 * Inlined: a BPF-to-BPF call (and its return, through the return thunk on a CPU with SRSO
 * mitigations) plus the state passed by pointer was a measurable share of the established
 * packet (docs/performance.md). The event record is not on the stack (pw_tc_evbuf_v1), so the
 * one frame holds the lookup keys within the 512-byte BPF stack.
 */
static __always_inline int pw_tc_decide(struct __sk_buff *skb, struct pw_tc_state *s)
{
	struct pw_pkt *p = &s->pkt;
	struct pw_ct_entry *e;
	struct pw_ct_key k;
	int r, idx = 0;

	s->ep = pw_ep_by_ifindex(skb->ifindex);
	if (!s->ep)
		return PW_OK_NO_ENDPOINT;
	s->ep_id = s->ep->ep_id;
	if ((s->ep->flags & (PW_EP_F_QUARANTINE | PW_EP_F_QUARANTINE_DNS)) == PW_EP_F_QUARANTINE)
		return PW_DROP_QUARANTINE;

	r = pw_parse(skb, p);
	if (r != PW_CONTINUE)
		return r;
	/* a packet the node itself sent was never received on an interface */
	r = s->dir == PW_DIR_EGRESS ? pw_l2_egress(s->ep, p)
				    : pw_l2_ingress(s->ep, p, !skb->ingress_ifindex);
	if (r != PW_CONTINUE)
		return r;
	if (s->dir == PW_DIR_EGRESS) {
		/* leaving the node: an ordinary ICMPv6 packet, under the ordinary rules */
		if (p->nd_type && pw_tc_nd_forwarded(skb, s->ep, p))
			p->nd_type = 0;
		r = pw_tc_spoof(s);
		if (r != PW_CONTINUE)
			return r;
	}
	if (p->arp_op || p->nd_type)
		return PW_OK_PASSTHROUGH;
	if (p->frag == PW_FRAG_LATER) {
		r = pw_frag_later(p);
		if (pw_reason_is_drop(r))
			return r;
	}
	/* quarantined, DNS still allowed: only DNS goes on (ICMP errors included: no) */
	if ((s->ep->flags & PW_EP_F_QUARANTINE) &&
	    (p->has_inner || !pw_quar_is_dns(s->dir, p->t.proto, p->t.sport, p->t.dport)))
		return PW_DROP_QUARANTINE;

	e = pw_tc_ct_find(s, &k, &idx);
	if (p->frag == PW_FRAG_LATER) {
		/* counted with its flow (the first fragment's tuple): flow ends hold every byte */
		if (e)
			pw_ct_account(e, idx, skb, p->t.proto, 0);
		return PW_OK_FRAG;
	}
	/*
	 * A new connection on a closed flow's port pair: the old flow ends (closed) and this one
	 * is decided and recorded like any new flow, not merged into the old one's entry.
	 */
	if (e && !p->has_inner && pw_ct_reused(e, idx, p->t.proto, p->tcp_flags)) {
		pw_ct_park(&k, e, 0);
		e = NULL;
	}
	/* ... and of DNS, only the replies to the pod's own queries come in */
	if ((s->ep->flags & PW_EP_F_QUARANTINE) && s->dir == PW_DIR_INGRESS && (!e || !idx))
		return PW_DROP_QUARANTINE;
	if (!e)
		return pw_tc_new_flow(skb, s);

	s->cookie = e->cookie;
	s->src_id = idx ? e->dst_identity : e->src_identity;
	s->dst_id = idx ? e->src_identity : e->dst_identity;
	r = pw_tc_recheck(s, &k, e);
	if (r != PW_CONTINUE)
		return r;
	/* an error about a flow is not one of its packets */
	if (p->has_inner)
		return PW_OK_RELATED;
	if (idx && (e->flags & (PW_CT_F_MIDSTREAM | PW_CT_F_REPLY_CHECKED)) == PW_CT_F_MIDSTREAM) {
		r = pw_tc_midstream_reply(s, e);
		if (r != PW_CONTINUE)
			return r;
	}
	pw_ct_account(e, idx, skb, p->t.proto, p->tcp_flags);
	return idx ? PW_OK_REPLY : PW_OK_ESTABLISHED;
}

/*
 * The event record is built in this CPU's slot, not on the stack: the decision's frame and a
 * 104-byte record do not fit the BPF stack together. Private to this object (never pinned):
 * a record lives there only between its fill and its copy into the ring, on one CPU, and TC
 * programs are not preempted by each other on a CPU.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pw_event);
} pw_tc_evbuf_v1 SEC(".maps");

static __always_inline void pw_tc_event(struct __sk_buff *skb, const struct pw_tc_state *s,
					__u32 type, __u32 reason)
{
	__u32 zero = 0;
	struct pw_event *ev = bpf_map_lookup_elem(&pw_tc_evbuf_v1, &zero);

	if (!ev)
		return;
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->type = type;
	ev->reason = reason;
	ev->direction = s->dir;
	ev->tcp_flags = s->pkt.tcp_flags;
	pw_event_fill_tuple(ev, &s->pkt.t);
	ev->ep_id = s->ep_id;
	ev->src_identity = s->src_id;
	ev->dst_identity = s->dst_id;
	ev->cookie = s->cookie;
	ev->ifindex = skb->ifindex;
	ev->pkt_len = skb->len;
	if (type != PW_EV_DROP) {
		pw_event_emit(skb, ev);
		return;
	}
	if (!pw_fold(skb, ev))
		pw_event_output(skb, ev);
}

static __always_inline int pw_tc_exit(struct __sk_buff *skb, struct pw_tc_state *s, int reason)
{
	__u8 type = s->ev_type;
	int drop = pw_reason_is_drop(reason);

	pw_metrics_count(reason, s->dir, skb->len);
	/*
	 * A spoofed first fragment says nothing about the real owner's datagram; recording it
	 * would let one pod deny another's fragments.
	 */
	if (s->pkt.frag == PW_FRAG_FIRST && reason != PW_DROP_SPOOFED)
		pw_frag_record(&s->pkt, reason);

	if (!type && drop)
		type = PW_EV_DROP;
	if (reason == PW_DROP_QUARANTINE && !pw_quar_ev_allow(s->ep_id, s->dir))
		type = 0;
	if (type)
		pw_tc_event(skb, s, type, reason);
	return drop ? TC_ACT_SHOT : TC_ACT_OK;
}

static __always_inline int pw_tc_main(struct __sk_buff *skb, __u8 dir)
{
	struct pw_tc_state s;

	__builtin_memset(&s, 0, sizeof(s));
	s.dir = dir;
	return pw_tc_exit(skb, &s, pw_tc_decide(skb, &s));
}

/* veth ingress: packets the pod sends */
SEC("tc")
int pw_tc_ingress(struct __sk_buff *skb)
{
	return pw_tc_main(skb, PW_DIR_EGRESS);
}

/* veth egress: packets delivered to the pod */
SEC("tc")
int pw_tc_egress(struct __sk_buff *skb)
{
	return pw_tc_main(skb, PW_DIR_INGRESS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
