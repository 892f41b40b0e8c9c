/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Link-layer checks on a pod's host-side veth (docs/architecture.md "Link layer"). A pod on a
 * bridge shares a segment with other pods: what it sends must carry its own MAC (or the
 * bridge learns another pod's MAC on the attacker's port), what it receives must be for it
 * (or a flooded or misdirected frame hands it another pod's traffic), and ND/MLD, which pass
 * without policy, may carry nothing a pod chose beyond its own addresses.
 *
 * A pod's link-local address is the one its kernel derives from its MAC by default
 * (fe80::/64, modified EUI-64, addr_gen_mode eui64): binding it to the MAC leaves no free
 * bits in a link-local source or target.
 */
#ifndef PW_BPF_L2_H
#define PW_BPF_L2_H

#include "lib/common.h"
#include "lib/parse.h"
#include "lib/endpoint.h"

static __always_inline int pw_mac_eq(const __u8 *a, const __u8 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] && a[4] == b[4] &&
	       a[5] == b[5];
}

static __always_inline int pw_mac_zero(const __u8 *a)
{
	return !(a[0] | a[1] | a[2] | a[3] | a[4] | a[5]);
}

/* the I/G bit: broadcast or multicast */
static __always_inline int pw_mac_group(const __u8 *a)
{
	return a[0] & 1;
}

static __always_inline int pw_mac_bcast(const __u8 *a)
{
	return (a[0] & a[1] & a[2] & a[3] & a[4] & a[5]) == 0xff;
}

/* fe80::/64 with the modified EUI-64 interface id of the pod's MAC (RFC 4291 2.5.1) */
static __always_inline int pw_ep_owns_ll(const struct pw_endpoint *ep, const __u32 *a)
{
	const __u8 *b = (const __u8 *)a;
	const __u8 *m = ep->mac;

	return a[0] == bpf_htonl(0xfe800000) && !a[1] && b[8] == (m[0] ^ 0x02) && b[9] == m[1] &&
	       b[10] == m[2] && b[11] == 0xff && b[12] == 0xfe && b[13] == m[3] && b[14] == m[4] &&
	       b[15] == m[5];
}

/* One of the pod's addresses, its link-local one included (IPv6) */
static __always_inline int pw_ep_owns_any(const struct pw_endpoint *ep, __u8 family, const __u32 *a)
{
	return pw_ep_owns(ep, family, a) || (family == PW_FAMILY_V6 && pw_ep_owns_ll(ep, a));
}

/*
 * What a pod sends: its own MAC, as Ethernet source and as ARP sender; no router messages
 * (a pod is a host: RA and Redirect would reroute its neighbours, an MLD query would make
 * its bridge port a multicast router port that receives every report); ND/MLD passes
 * without policy only when it is exactly its RFC format, and MLD only towards a group.
 */
static __always_inline int pw_l2_egress(const struct pw_endpoint *ep, struct pw_pkt *p)
{
	__u8 t = p->icmp6_type;

	if (pw_mac_zero(ep->mac))
		return PW_DROP_MAC_UNKNOWN;
	if (!pw_mac_eq(p->eth_src, ep->mac) || (p->arp_op && !pw_mac_eq(p->arp_sha, ep->mac)))
		return PW_DROP_SPOOFED_MAC;
	if (t == PW_ICMP6_RA || t == PW_ICMP6_REDIRECT || t == PW_ICMP6_MLD_QUERY)
		return PW_DROP_ROUTER_MSG;
	if (p->nd_type && !p->nd_exact)
		p->nd_type = 0;
	if ((p->nd_type == PW_ICMP6_MLD_REPORT || p->nd_type == PW_ICMP6_MLD_DONE ||
	     p->nd_type == PW_ICMP6_MLD2_REPORT) &&
	    (bpf_ntohl(p->t.daddr[0]) >> 24) != 0xff)
		p->nd_type = 0;
	return PW_CONTINUE;
}

static __always_inline int pw_l2_dst_ours(const struct pw_endpoint *ep, const struct pw_pkt *p)
{
	__u32 d = bpf_ntohl(p->t.daddr[0]);

	if (pw_ep_owns_any(ep, p->t.family, p->t.daddr))
		return 1;
	if (p->t.family == PW_FAMILY_V4)
		/* limited broadcast, multicast, or a subnet broadcast in a broadcast frame */
		return d == 0xffffffff || (d & 0xf0000000) == 0xe0000000 ||
		       pw_mac_bcast(p->eth_dst);
	return (d >> 24) == 0xff;
}

/*
 * What a pod receives: a unicast frame names the pod's MAC, a unicast IP packet one of its
 * addresses (broadcast and multicast go on to policy like any packet), an ARP one of its
 * addresses too. ND/MLD from another pod passes without policy only if a host has a use for
 * it: a solicitation for one of the pod's own addresses, an advertisement; router
 * solicitations and listener reports are for routers, and a solicitation for someone else's
 * address is someone else's business (on a bridge without a querier all of them are flooded
 * to every pod, and their targets and groups are the sender's choice). What the node itself
 * sends (from_node: the skb was never received on any interface) is not a pod's channel.
 */
static __always_inline int pw_l2_ingress(const struct pw_endpoint *ep, struct pw_pkt *p,
					 int from_node)
{
	__u8 t = p->nd_type;

	if (!pw_mac_group(p->eth_dst) && !pw_mac_zero(ep->mac) && !pw_mac_eq(p->eth_dst, ep->mac))
		return PW_DROP_FOREIGN_DST;
	/*
	 * ARP: a request or reply for one of the pod's addresses, or an announcement (sender
	 * and target the same address, which the sender's own egress check bound to it); a
	 * request for someone else's address is no business of this pod's, and its target would
	 * carry 32 bits of the sender's choosing to every pod on the bridge.
	 */
	if (p->arp_op)
		return from_node || pw_ep_owns(ep, PW_FAMILY_V4, p->t.daddr) ||
				       p->t.daddr[0] == p->t.saddr[0]
			       ? PW_CONTINUE
			       : PW_DROP_FOREIGN_DST;
	if (!pw_l2_dst_ours(ep, p))
		return PW_DROP_FOREIGN_DST;
	if (!from_node && ((t == PW_ICMP6_NS && !pw_ep_owns_any(ep, PW_FAMILY_V6, p->nd_target)) ||
			   t == PW_ICMP6_RS || t == PW_ICMP6_MLD_REPORT || t == PW_ICMP6_MLD_DONE ||
			   t == PW_ICMP6_MLD2_REPORT))
		p->nd_type = 0;
	return PW_CONTINUE;
}

#endif /* PW_BPF_L2_H */
