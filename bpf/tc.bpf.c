/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * TC enforcement on a pod's host-side veth. The veth's ingress sees what the pod sends (its
 * egress), the veth's egress what the pod receives (its ingress). Stages: endpoint,
 * quarantine, parse, anti-spoofing, fragments, conntrack (with revocation), related ICMP
 * errors, policy for a new flow. Every stage returns a pw_reason; one exit turns it into a
 * verdict, a counter and, for drops, new flows, revocations and audits, one event.
 */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/parse.h"
#include "lib/endpoint.h"
#include "lib/policy.h"
#include "lib/conntrack.h"
#include "lib/frag.h"
#include "lib/events.h"
#include "lib/metrics.h"
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
 * Known flow: same endpoint and direction (established), or the reversed tuple admitted in
 * the other direction (reply). A stale policy generation re-runs the decision for the flow's
 * original direction first.
 */
static __always_inline int pw_tc_conntrack(struct __sk_buff *skb, struct pw_tc_state *s)
{
	const struct pw_endpoint *ep = s->ep;
	struct pw_pkt *p = &s->pkt;
	struct pw_decision d;
	struct pw_ct_entry *e;
	struct pw_ct_key k;
	int reason = PW_OK_ESTABLISHED, idx = 0, r;

	pw_ct_key_fill(&k, ep->ep_id, s->dir, &p->t, 0);
	e = bpf_map_lookup_elem(&PW_MAP_CT, &k);
	if (!e) {
		pw_ct_key_fill(&k, ep->ep_id, pw_dir_other(s->dir), &p->t, 1);
		e = bpf_map_lookup_elem(&PW_MAP_CT, &k);
		if (!e)
			return PW_CONTINUE;
		reason = PW_OK_REPLY;
		idx = 1;
	}
	s->cookie = e->cookie;
	s->src_id = idx ? e->dst_identity : e->src_identity;
	s->dst_id = idx ? e->src_identity : e->dst_identity;

	if (e->policy_gen != ep->policy_gen) {
		r = pw_policy_decide(ep, k.scope, k.family,
				     k.scope == PW_DIR_EGRESS ? k.daddr : k.saddr, k.proto, k.dport,
				     &d);
		if (pw_reason_is_drop(r)) {
			bpf_map_delete_elem(&PW_MAP_CT, &k);
			s->ev_type = PW_EV_REVOKED;
			return PW_DROP_REVOKED;
		}
		e->policy_gen = ep->policy_gen;
		e->cookie = d.cookie;
		s->cookie = d.cookie;
		if (r == PW_OK_AUDIT)
			e->flags |= PW_CT_F_AUDIT;
		else
			e->flags &= ~PW_CT_F_AUDIT;
	}
	pw_ct_account(e, idx, skb->len, p->t.proto, p->tcp_flags);
	return reason;
}

/* An ICMP error quoting a packet of a tracked flow of this endpoint, in either scope. */
static __always_inline int pw_tc_related(struct pw_tc_state *s)
{
	struct pw_ct_key k;

	if (!s->pkt.has_inner)
		return PW_CONTINUE;
	/* the quoted packet went out in the flow's original direction: admitted opposite */
	pw_ct_key_fill(&k, s->ep->ep_id, pw_dir_other(s->dir), &s->pkt.inner, 0);
	if (bpf_map_lookup_elem(&PW_MAP_CT, &k))
		return PW_OK_RELATED;
	/* the quoted packet was a reply of a flow admitted in this direction */
	pw_ct_key_fill(&k, s->ep->ep_id, s->dir, &s->pkt.inner, 1);
	if (bpf_map_lookup_elem(&PW_MAP_CT, &k))
		return PW_OK_RELATED;
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
	/* an ICMP error has no flow of its own to follow: judged each time, never tracked */
	if (p->icmp_error)
		return r;
	pw_ct_key_fill(&k, ep->ep_id, s->dir, &p->t, 0);
	pw_ct_create(&k, ep, skb->len, p->tcp_flags, d.cookie, s->src_id, s->dst_id, ct_flags);
	return r;
}

/*
 * Not inlined, nor is the event writer: each gets its own frame, so the deepest call chain
 * holds either the lookup keys or the event record, never both (the BPF stack is 512 bytes).
 */
static __noinline int pw_tc_decide(struct __sk_buff *skb, struct pw_tc_state *s)
{
	struct pw_pkt *p = &s->pkt;
	int r;

	s->ep = pw_ep_by_ifindex(skb->ifindex);
	if (!s->ep)
		return PW_OK_NO_ENDPOINT;
	s->ep_id = s->ep->ep_id;
	if (s->ep->flags & PW_EP_F_QUARANTINE)
		return PW_DROP_QUARANTINE;

	r = pw_parse(skb, p);
	if (r != PW_CONTINUE)
		return r;
	if (s->dir == PW_DIR_EGRESS && !pw_ep_owns(s->ep, p->t.family, p->t.saddr))
		return PW_DROP_SPOOFED;
	if (p->frag == PW_FRAG_LATER)
		return pw_frag_later(p);

	r = pw_tc_related(s);
	if (r != PW_CONTINUE)
		return r;
	r = pw_tc_conntrack(skb, s);
	if (r != PW_CONTINUE)
		return r;
	return pw_tc_new_flow(skb, s);
}

static __noinline void pw_tc_event(struct __sk_buff *skb, const struct pw_tc_state *s, __u32 type,
				   __u32 reason)
{
	struct pw_event ev;

	__builtin_memset(&ev, 0, sizeof(ev));
	ev.type = type;
	ev.reason = reason;
	ev.direction = s->dir;
	ev.tcp_flags = s->pkt.tcp_flags;
	pw_event_fill_tuple(&ev, &s->pkt.t);
	ev.ep_id = s->ep_id;
	ev.src_identity = s->src_id;
	ev.dst_identity = s->dst_id;
	ev.cookie = s->cookie;
	ev.ifindex = skb->ifindex;
	ev.pkt_len = skb->len;
	pw_event_emit(skb, &ev);
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
