/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing for the TC programs. A cursor (byte offset) walks the headers; each header
 * is copied with bpf_skb_load_bytes, which fails past skb->len: that one check covers
 * truncation at every layer, works on non-linear skbs (veth GRO), and keeps the verifier
 * simple at the variable offsets IPv4 options and IPv6 extension headers produce. Every L4
 * read is also bounded by the IP payload length, so a short first fragment cannot hide its
 * ports past the end of the datagram.
 */
#ifndef PW_BPF_PARSE_H
#define PW_BPF_PARSE_H

#include "lib/common.h"
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>

/* IPv6 extension headers walked before giving up (PW_DROP_EXTHDR_LIMIT). */
#define PW_IPV6_MAX_EXTHDR 8

/* ICMP types (linux/icmp.h drags libc headers into a BPF build) */
#define PW_ICMP_ECHOREPLY     0
#define PW_ICMP_DEST_UNREACH  3
#define PW_ICMP_ECHO	      8
#define PW_ICMP_TIME_EXCEEDED 11
#define PW_ICMP_PARAMETERPROB 12
#define PW_ICMP6_DEST_UNREACH 1
#define PW_ICMP6_PKT_TOOBIG   2
#define PW_ICMP6_TIME_EXCEED  3
#define PW_ICMP6_PARAMPROB    4
#define PW_ICMP6_ECHO_REQUEST 128
#define PW_ICMP6_ECHO_REPLY   129

#define PW_IP_MF     0x2000
#define PW_IP_OFFSET 0x1fff

enum pw_frag_kind {
	PW_FRAG_NONE = 0,
	PW_FRAG_FIRST = 1, /* offset 0, more fragments: judged, recorded for the rest */
	PW_FRAG_LATER = 2, /* offset != 0: no L4 header, judged by its first fragment */
};

#define PW_TCP_FIN 0x01
#define PW_TCP_SYN 0x02
#define PW_TCP_RST 0x04
#define PW_TCP_ACK 0x10

struct pw_pkt {
	struct pw_tuple t;
	struct pw_tuple inner; /* ICMP error: the offending packet's header, as it was sent */
	__u32 frag_id;
	__u8 frag;	 /* enum pw_frag_kind */
	__u8 frag_proto; /* protocol named where the fragmentation happened */
	__u8 tcp_flags;
	__u8 has_inner;	 /* an ICMP error with a readable inner header */
	__u8 icmp_error; /* an ICMP error, quote readable or not: never a flow of its own */
	__u8 pad[3];
};

struct pw_l4_ports {
	__be16 sport;
	__be16 dport;
};

struct pw_icmp_hdr {
	__u8 type;
	__u8 code;
	__be16 csum;
	__be16 id;
	__be16 seq;
};

struct pw_ipv6_opt_hdr {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct pw_ipv6_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 id;
};

static __always_inline int pw_load(struct __sk_buff *skb, __u32 off, __u32 end, void *to, __u32 len)
{
	if (off + len > end)
		return -1;
	return bpf_skb_load_bytes(skb, off, to, len);
}

static __always_inline int pw_icmp_is_echo(__u8 family, __u8 type)
{
	if (family == PW_FAMILY_V4)
		return type == PW_ICMP_ECHO || type == PW_ICMP_ECHOREPLY;
	return type == PW_ICMP6_ECHO_REQUEST || type == PW_ICMP6_ECHO_REPLY;
}

static __always_inline int pw_icmp_is_error(__u8 family, __u8 type)
{
	if (family == PW_FAMILY_V4)
		return type == PW_ICMP_DEST_UNREACH || type == PW_ICMP_TIME_EXCEEDED ||
		       type == PW_ICMP_PARAMETERPROB;
	return type == PW_ICMP6_DEST_UNREACH || type == PW_ICMP6_PKT_TOOBIG ||
	       type == PW_ICMP6_TIME_EXCEED || type == PW_ICMP6_PARAMPROB;
}

/* Neighbour discovery (133-137) and MLD (130-132, 143): the link needs them to work at all. */
static __always_inline int pw_icmp6_is_nd(__u8 type)
{
	return (type >= 130 && type <= 137) || type == 143;
}

/*
 * The header quoted in an ICMP error. Only what identifies the flow is read; a quote too short
 * to name it leaves has_inner 0 and the error is judged as a flow of its own.
 */
static __always_inline void pw_parse_inner(struct __sk_buff *skb, __u32 off, __u32 end,
					   struct pw_pkt *p)
{
	struct pw_tuple *in = &p->inner;
	struct pw_l4_ports ports;
	struct pw_icmp_hdr icmp;
	__u32 l4;

	in->family = p->t.family;
	if (p->t.family == PW_FAMILY_V4) {
		struct iphdr ip;

		if (pw_load(skb, off, end, &ip, sizeof(ip)) || ip.version != 4 || ip.ihl < 5)
			return;
		in->saddr[0] = ip.saddr;
		in->daddr[0] = ip.daddr;
		in->proto = ip.protocol;
		l4 = off + ip.ihl * 4;
	} else {
		struct ipv6hdr ip6;

		if (pw_load(skb, off, end, &ip6, sizeof(ip6)) || ip6.version != 6)
			return;
		__builtin_memcpy(in->saddr, &ip6.saddr, 16);
		__builtin_memcpy(in->daddr, &ip6.daddr, 16);
		in->proto = ip6.nexthdr;
		l4 = off + sizeof(ip6);
	}
	switch (in->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
		if (pw_load(skb, l4, end, &ports, sizeof(ports)))
			return;
		in->sport = ports.sport;
		in->dport = ports.dport;
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if (pw_load(skb, l4, end, &icmp, sizeof(icmp)))
			return;
		if (pw_icmp_is_echo(in->family, icmp.type)) {
			in->sport = icmp.id;
			in->dport = icmp.id;
		}
		break;
	default:
		break;
	}
	p->has_inner = 1;
}

static __always_inline int pw_parse_l4(struct __sk_buff *skb, __u32 off, __u32 end,
				       struct pw_pkt *p)
{
	struct pw_icmp_hdr icmp;

	switch (p->t.proto) {
	case IPPROTO_TCP: {
		struct tcphdr_min {
			__be16 sport;
			__be16 dport;
			__be32 seq;
			__be32 ack;
			__u8 doff_res;
			__u8 flags;
			__be16 window;
			__be16 csum;
			__be16 urg;
		} th;

		if (pw_load(skb, off, end, &th, sizeof(th)))
			return PW_DROP_MALFORMED;
		if ((th.doff_res >> 4) < 5)
			return PW_DROP_MALFORMED;
		p->t.sport = th.sport;
		p->t.dport = th.dport;
		p->tcp_flags = th.flags;
		return PW_CONTINUE;
	}
	case IPPROTO_UDP: {
		struct pw_l4_ports uh[2]; /* ports, then length and checksum */

		if (pw_load(skb, off, end, uh, sizeof(uh)))
			return PW_DROP_MALFORMED;
		p->t.sport = uh[0].sport;
		p->t.dport = uh[0].dport;
		return PW_CONTINUE;
	}
	case IPPROTO_SCTP: {
		struct pw_l4_ports sh[3]; /* ports, verification tag, checksum */

		if (pw_load(skb, off, end, sh, sizeof(sh)))
			return PW_DROP_MALFORMED;
		p->t.sport = sh[0].sport;
		p->t.dport = sh[0].dport;
		return PW_CONTINUE;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if ((p->t.proto == IPPROTO_ICMP) != (p->t.family == PW_FAMILY_V4))
			return PW_CONTINUE; /* the other family's ICMP: an opaque protocol here */
		if (pw_load(skb, off, end, &icmp, sizeof(icmp)))
			return PW_DROP_MALFORMED;
		if (p->t.family == PW_FAMILY_V6 && pw_icmp6_is_nd(icmp.type))
			return PW_OK_PASSTHROUGH;
		if (pw_icmp_is_echo(p->t.family, icmp.type)) {
			p->t.sport = icmp.id;
			p->t.dport = icmp.id;
		} else if (pw_icmp_is_error(p->t.family, icmp.type)) {
			p->icmp_error = 1;
			pw_parse_inner(skb, off + sizeof(icmp), end, p);
		}
		return PW_CONTINUE;
	default:
		return PW_CONTINUE;
	}
}

static __always_inline int pw_parse_ipv4(struct __sk_buff *skb, __u32 off, struct pw_pkt *p)
{
	struct iphdr ip;
	__u32 hl, tot, end;
	__u16 frag;

	if (pw_load(skb, off, skb->len, &ip, sizeof(ip)))
		return PW_DROP_MALFORMED;
	if (ip.version != 4 || ip.ihl < 5)
		return PW_DROP_MALFORMED;
	hl = ip.ihl * 4;
	tot = bpf_ntohs(ip.tot_len);
	/* trailing bytes (Ethernet padding) are fine, a datagram longer than the frame is not */
	if (tot < hl || off + tot > skb->len)
		return PW_DROP_MALFORMED;
	end = off + tot;
	p->t.family = PW_FAMILY_V4;
	p->t.proto = ip.protocol;
	p->t.saddr[0] = ip.saddr;
	p->t.daddr[0] = ip.daddr;

	frag = bpf_ntohs(ip.frag_off);
	if (frag & (PW_IP_MF | PW_IP_OFFSET)) {
		p->frag_id = bpf_ntohs(ip.id);
		p->frag_proto = ip.protocol;
		if (frag & PW_IP_OFFSET) {
			p->frag = PW_FRAG_LATER;
			return PW_CONTINUE;
		}
		p->frag = PW_FRAG_FIRST;
	}
	return pw_parse_l4(skb, off + hl, end, p);
}

static __always_inline int pw_parse_ipv6(struct __sk_buff *skb, __u32 off, struct pw_pkt *p)
{
	struct pw_ipv6_frag_hdr fh;
	struct pw_ipv6_opt_hdr oh;
	struct ipv6hdr ip6;
	__u32 end;
	__u16 fo;
	__u8 nh;
	int i;

	if (pw_load(skb, off, skb->len, &ip6, sizeof(ip6)))
		return PW_DROP_MALFORMED;
	if (ip6.version != 6)
		return PW_DROP_MALFORMED;
	end = off + sizeof(ip6) + bpf_ntohs(ip6.payload_len);
	if (end > skb->len)
		return PW_DROP_MALFORMED;
	p->t.family = PW_FAMILY_V6;
	__builtin_memcpy(p->t.saddr, &ip6.saddr, 16);
	__builtin_memcpy(p->t.daddr, &ip6.daddr, 16);
	nh = ip6.nexthdr;
	off += sizeof(ip6);

	for (i = 0; i < PW_IPV6_MAX_EXTHDR; i++) {
		switch (nh) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			if (pw_load(skb, off, end, &oh, sizeof(oh)))
				return PW_DROP_MALFORMED;
			nh = oh.nexthdr;
			off += (oh.hdrlen + 1) * 8;
			break;
		case IPPROTO_AH:
			if (pw_load(skb, off, end, &oh, sizeof(oh)))
				return PW_DROP_MALFORMED;
			nh = oh.nexthdr;
			off += (oh.hdrlen + 2) * 4;
			break;
		case IPPROTO_FRAGMENT:
			if (pw_load(skb, off, end, &fh, sizeof(fh)))
				return PW_DROP_MALFORMED;
			fo = bpf_ntohs(fh.frag_off);
			/* offset 0 without more fragments is an atomic fragment: a whole packet */
			if (fo & 0xfff9) {
				p->frag_id = bpf_ntohl(fh.id);
				p->frag_proto = fh.nexthdr;
				if (fo & 0xfff8) {
					p->frag = PW_FRAG_LATER;
					p->t.proto = fh.nexthdr;
					return PW_CONTINUE;
				}
				p->frag = PW_FRAG_FIRST;
			}
			nh = fh.nexthdr;
			off += sizeof(fh);
			break;
		default:
			goto l4;
		}
	}
	/* still an extension header after the walk's bound */
	if (nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS ||
	    nh == IPPROTO_AH || nh == IPPROTO_FRAGMENT)
		return PW_DROP_EXTHDR_LIMIT;
l4:
	p->t.proto = nh;
	return pw_parse_l4(skb, off, end, p);
}

/* Fill p from the packet. Returns PW_CONTINUE, PW_OK_PASSTHROUGH or a drop reason. */
static __always_inline int pw_parse(struct __sk_buff *skb, struct pw_pkt *p)
{
	__be16 proto;

	if (bpf_skb_load_bytes(skb, offsetof(struct ethhdr, h_proto), &proto, sizeof(proto)) ||
	    skb->len < ETH_HLEN)
		return PW_DROP_MALFORMED;
	switch (proto) {
	case bpf_htons(ETH_P_IP):
		return pw_parse_ipv4(skb, ETH_HLEN, p);
	case bpf_htons(ETH_P_IPV6):
		return pw_parse_ipv6(skb, ETH_HLEN, p);
	case bpf_htons(ETH_P_ARP):
		return PW_OK_PASSTHROUGH;
	default:
		/* 802.1Q/802.1ad included: a pod has no business tagging frames */
		return PW_DROP_UNSUPPORTED_L3;
	}
}

#endif /* PW_BPF_PARSE_H */
