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
#define PW_ICMP6_MLD_QUERY    130
#define PW_ICMP6_MLD_REPORT   131
#define PW_ICMP6_MLD_DONE     132
#define PW_ICMP6_RS	      133
#define PW_ICMP6_RA	      134
#define PW_ICMP6_NS	      135
#define PW_ICMP6_NA	      136
#define PW_ICMP6_REDIRECT     137
#define PW_ICMP6_MLD2_REPORT  143

/* ND options a host sends (RFC 4861 4.6, RFC 7527): each one 8-byte unit */
#define PW_ND_OPT_SLLA	 1
#define PW_ND_OPT_TLLA	 2
#define PW_ND_OPT_NONCE	 14
#define PW_ND_MAX_OPTS	 2  /* a host's NS carries at most SLLA or a nonce, plus one spare */
#define PW_MLD2_MAX_RECS 32 /* records of one MLDv2 report walked; more: not link-scoped */

/* ARP as Ethernet/IPv4 uses it (RFC 826); anything else on ETH_P_ARP is malformed here */
#define PW_ARPHRD_ETHER	 1
#define PW_ARPOP_REQUEST 1
#define PW_ARPOP_REPLY	 2

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

enum pw_echo_kind {
	PW_ECHO_NONE = 0,
	PW_ECHO_REQUEST = 1, /* opens a flow; continues one only in its original direction */
	PW_ECHO_REPLY = 2,   /* answers a flow; never opens one */
};

struct pw_pkt {
	/* ARP: family v4, saddr = sender, daddr = target protocol address, no ports */
	struct pw_tuple t;
	union {
		struct pw_tuple inner; /* ICMP error: the offending packet's header, as sent */
		__u32 nd_target[4];    /* neighbour advertisement: the address it claims */
	};
	__u32 frag_id;
	/* the Ethernet header as it is on the wire: read in one piece (even offset, no hole) */
	__u8 eth_dst[6];
	__u8 eth_src[6];
	__be16 eth_proto;
	__u8 frag;	 /* enum pw_frag_kind */
	__u8 frag_proto; /* protocol named where the fragmentation happened */
	__u8 tcp_flags;
	__u8 has_inner;	 /* an ICMP error with a readable inner header */
	__u8 icmp_error; /* an ICMP error, quote readable or not */
	/*
	 * Judged each time, never a flow of its own: ICMP errors, echo replies and every ICMP
	 * type without an identifier. Tracking them would let any message of the type pass as a
	 * "reply" to an unrelated one (an echo request answering the pod's own echo request).
	 */
	__u8 no_track;
	__u8 echo;	/* enum pw_echo_kind */
	__u8 arp_op;	/* ARP: its (validated) operation; 0 for IP */
	__u8 nd_type;	/* ICMPv6 ND/MLD that may bypass policy (link-scoped, whole); 0 otherwise */
	__u8 hop_limit; /* IPv6 hop limit (ND/MLD link-scope check) */
	__u8 ext_other; /* IPv6: a routing, destination-options or AH header was walked */
	__u8 icmp6_type; /* ICMPv6 type whenever its header was read, else 0 */
	/*
	 * nd_type's message is exactly its fixed part and the options a host sends, its
	 * link-layer address option (if any) the frame's own source: nothing else to read.
	 */
	__u8 nd_exact;
	__u8 arp_sha[6]; /* ARP: sender hardware address */
	__u8 inner_echo_reply; /* has_inner: the quoted packet is an echo reply */
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

/*
 * skb->data and skb->data_end read with one instruction each from the context pointer itself:
 * clang may otherwise fold the field offset into the pointer first, and the verifier refuses
 * a context access through a modified pointer.
 */
#define PW_SKB_FIELD(skb, field)                                                            \
	({                                                                                  \
		void *_v;                                                                   \
		asm volatile("%0 = *(u32 *)(%1 + %2)"                                       \
			     : "=r"(_v)                                                     \
			     : "r"(skb), "i"(__builtin_offsetof(struct __sk_buff, field))); \
		_v;                                                                         \
	})

/* Bounds the variable offset of a direct read for the verifier; headers lie far before. */
#define PW_DIRECT_MAX 1024

/*
 * pw_load for the headers every packet has (Ethernet, the IP base header, the L4 header):
 * straight from the linear part when they lie there, as the stack leaves them on a veth, else
 * with the helper. A helper call per header was a measurable share of an established packet
 * (docs/performance.md). Only there: in the loops (extension headers, ND options, MLD
 * records) the second path would multiply the verifier's states.
 */
static __always_inline int pw_load_hdr(struct __sk_buff *skb, __u32 off, __u32 end, void *to,
				       __u32 len)
{
	void *data = PW_SKB_FIELD(skb, data), *data_end = PW_SKB_FIELD(skb, data_end);

	if (off + len > end)
		return -1;
	if (off <= PW_DIRECT_MAX && data + off + len <= data_end) {
		/*
		 * Word loads, not byte loads: the packet's alignment is unknown to clang (it would
		 * copy byte by byte and reassemble), and the CPUs podwall runs on (x86-64, arm64)
		 * load unaligned words, which the verifier then allows on packet data.
		 */
		__builtin_memcpy(to, __builtin_assume_aligned(data + off, 4), len);
		return 0;
	}
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

/*
 * Neighbour discovery (133-137) and MLD (130-132, 143): the link needs them to work at all,
 * so they pass without policy, but only when they cannot leave the link: RFC 4861 makes
 * receivers drop ND below hop limit 255 and MLD is sent with hop limit 1 (RFC 2710, 3810),
 * so a forwarded copy is dead on arrival. A fragmented one is never valid (RFC 6980), nor one
 * behind a routing, destination-options or AH header (hosts send ND bare and MLD behind a
 * hop-by-hop Router Alert only; fuzz_tc found MLD behind AH passing). MLD comes from a
 * link-local source, or :: before the host has one (RFC 2710 3, RFC 3810 5.2.13: receivers
 * ignore any other, so passing it would only carry bytes). Any other packet of these types is
 * an ordinary ICMPv6 packet under policy: otherwise a pod could reach any address, and any
 * host could reach the pod, with a "neighbour solicitation".
 */
static __always_inline int pw_icmp6_nd_passes(__u8 type, const struct pw_pkt *p)
{
	__u32 s0 = bpf_ntohl(p->t.saddr[0]);

	if (p->frag != PW_FRAG_NONE || p->ext_other)
		return 0;
	if (type >= 133 && type <= 137)
		return p->hop_limit == 255;
	if ((type >= 130 && type <= 132) || type == 143)
		return p->hop_limit == 1 &&
		       ((s0 & 0xffc00000) == 0xfe800000 ||
			!(p->t.saddr[0] | p->t.saddr[1] | p->t.saddr[2] | p->t.saddr[3]));
	return 0;
}

/*
 * Is the ND/MLD message at off..end exactly what RFC 4861 and 3810 define, so it carries no
 * byte a pod chose beyond addresses the link-layer checks bind? RS, NS, NA: the fixed part,
 * then only the options a host sends, each of one unit (a link-layer address equal to the
 * frame's source; a DAD nonce only from ::); MLDv1: 24 bytes; MLDv2 report: records without
 * auxiliary data that end with the message. Router messages are judged elsewhere: a pod may
 * not send them at all.
 */
static __always_inline int pw_nd_exact(struct __sk_buff *skb, __u32 off, __u32 end, __u8 type,
				       struct pw_pkt *p)
{
	__u8 opt[8], want;
	__u32 cur;
	int i;

	switch (type) {
	case PW_ICMP6_RS:
		cur = off + 8;
		want = PW_ND_OPT_SLLA;
		break;
	case PW_ICMP6_NS:
		cur = off + 24;
		want = PW_ND_OPT_SLLA;
		break;
	case PW_ICMP6_NA:
		cur = off + 24;
		want = PW_ND_OPT_TLLA;
		break;
	case PW_ICMP6_MLD_REPORT:
	case PW_ICMP6_MLD_DONE:
		return end - off == 24;
	case PW_ICMP6_MLD2_REPORT: {
		struct {
			__u8 type;
			__u8 aux_len;
			__be16 nsrc;
		} rec;
		__be16 nrec;
		__u16 n;

		if (pw_load(skb, off + 6, end, &nrec, sizeof(nrec)))
			return 0;
		n = bpf_ntohs(nrec);
		cur = off + 8;
		for (i = 0; i < PW_MLD2_MAX_RECS; i++) {
			if (i >= n)
				break;
			if (pw_load(skb, cur, end, &rec, sizeof(rec)) || rec.aux_len)
				return 0;
			cur += 20 + 16 * (__u32)bpf_ntohs(rec.nsrc);
			if (cur > end)
				return 0;
		}
		return i == n && cur == end;
	}
	default:
		return 1;
	}
	for (i = 0; i < PW_ND_MAX_OPTS; i++) {
		if (cur >= end)
			break;
		if (pw_load(skb, cur, end, opt, sizeof(opt)) || opt[1] != 1)
			return 0;
		if (opt[0] == want) {
			if (opt[2] != p->eth_src[0] || opt[3] != p->eth_src[1] ||
			    opt[4] != p->eth_src[2] || opt[5] != p->eth_src[3] ||
			    opt[6] != p->eth_src[4] || opt[7] != p->eth_src[5])
				return 0;
		} else if (opt[0] != PW_ND_OPT_NONCE || type != PW_ICMP6_NS ||
			   (p->t.saddr[0] | p->t.saddr[1] | p->t.saddr[2] | p->t.saddr[3])) {
			return 0;
		}
		cur += 8;
	}
	return cur == end;
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
		/* a later fragment quotes mid-datagram bytes, not ports */
		if (bpf_ntohs(ip.frag_off) & PW_IP_OFFSET)
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
		/*
		 * A fragment's error (Packet Too Big for fragmented UDP, say) quotes the fragment
		 * header first; a first fragment's ports follow it, a later one has none. Other
		 * extension headers in a quote are not walked: such an error is judged on its own.
		 */
		if (in->proto == IPPROTO_FRAGMENT) {
			struct pw_ipv6_frag_hdr fh;

			if (pw_load(skb, l4, end, &fh, sizeof(fh)) ||
			    (bpf_ntohs(fh.frag_off) & 0xfff8))
				return;
			in->proto = fh.nexthdr;
			l4 += sizeof(fh);
		}
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
			p->inner_echo_reply = icmp.type == PW_ICMP_ECHOREPLY ||
					      icmp.type == PW_ICMP6_ECHO_REPLY;
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

		if (pw_load_hdr(skb, off, end, &th, sizeof(th)))
			return PW_DROP_MALFORMED;
		/*
		 * A header longer than the segment is refused by every receiver; checked only
		 * on a whole datagram, a first fragment may end inside TCP options.
		 */
		if ((th.doff_res >> 4) < 5 ||
		    (p->frag == PW_FRAG_NONE && off + (th.doff_res >> 4) * 4 > end))
			return PW_DROP_MALFORMED;
		p->t.sport = th.sport;
		p->t.dport = th.dport;
		p->tcp_flags = th.flags;
		return PW_CONTINUE;
	}
	case IPPROTO_UDP: {
		struct pw_l4_ports uh[2]; /* ports, then length and checksum */

		if (pw_load_hdr(skb, off, end, uh, sizeof(uh)))
			return PW_DROP_MALFORMED;
		p->t.sport = uh[0].sport;
		p->t.dport = uh[0].dport;
		return PW_CONTINUE;
	}
	case IPPROTO_SCTP: {
		struct pw_l4_ports sh[3]; /* ports, verification tag, checksum */

		if (pw_load_hdr(skb, off, end, sh, sizeof(sh)))
			return PW_DROP_MALFORMED;
		p->t.sport = sh[0].sport;
		p->t.dport = sh[0].dport;
		return PW_CONTINUE;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if ((p->t.proto == IPPROTO_ICMP) != (p->t.family == PW_FAMILY_V4))
			return PW_CONTINUE; /* the other family's ICMP: an opaque protocol here */
		if (pw_load_hdr(skb, off, end, &icmp, sizeof(icmp)))
			return PW_DROP_MALFORMED;
		if (p->t.family == PW_FAMILY_V6)
			p->icmp6_type = icmp.type;
		if (pw_icmp_is_echo(p->t.family, icmp.type)) {
			p->t.sport = icmp.id;
			p->t.dport = icmp.id;
			if (icmp.type == PW_ICMP_ECHO || icmp.type == PW_ICMP6_ECHO_REQUEST) {
				p->echo = PW_ECHO_REQUEST;
			} else {
				p->echo = PW_ECHO_REPLY;
				p->no_track = 1;
			}
			return PW_CONTINUE;
		}
		p->no_track = 1;
		if (pw_icmp_is_error(p->t.family, icmp.type)) {
			p->icmp_error = 1;
			pw_parse_inner(skb, off + sizeof(icmp), end, p);
		} else if (p->t.family == PW_FAMILY_V6 &&
			   pw_icmp6_nd_passes(icmp.type, p)) {
			/* the 4 bytes after the header are flags/reserved; the target follows */
			if ((icmp.type == PW_ICMP6_NA || icmp.type == PW_ICMP6_NS) &&
			    pw_load(skb, off + sizeof(icmp), end, p->nd_target, 16))
				return PW_DROP_MALFORMED;
			p->nd_type = icmp.type;
			p->nd_exact = pw_nd_exact(skb, off, end, icmp.type, p);
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

	if (pw_load_hdr(skb, off, skb->len, &ip, sizeof(ip)))
		return PW_DROP_MALFORMED;
	if (ip.version != 4 || ip.ihl < 5)
		return PW_DROP_MALFORMED;
	hl = ip.ihl * 4;
	tot = bpf_ntohs(ip.tot_len);
	/*
	 * BIG TCP: a GSO packet over 64 KiB carries total length 0 and its real length is the
	 * skb's (the kernel's iph_totlen()). Only then; elsewhere 0 is malformed.
	 */
	if (!tot && skb->gso_size && skb->len > off)
		tot = skb->len - off;
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

	if (pw_load_hdr(skb, off, skb->len, &ip6, sizeof(ip6)))
		return PW_DROP_MALFORMED;
	if (ip6.version != 6)
		return PW_DROP_MALFORMED;
	end = off + sizeof(ip6) + bpf_ntohs(ip6.payload_len);
	/*
	 * Payload length 0: a BIG TCP GSO packet (its length is the skb's) or a jumbogram,
	 * whose hop-by-hop jumbo option this parser does not read: it ends at the base header
	 * and its upper-layer header is then truncated (malformed).
	 */
	if (!ip6.payload_len && skb->gso_size)
		end = skb->len;
	if (end > skb->len)
		return PW_DROP_MALFORMED;
	p->t.family = PW_FAMILY_V6;
	p->hop_limit = ip6.hop_limit;
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
			p->ext_other |= nh != IPPROTO_HOPOPTS;
			nh = oh.nexthdr;
			off += (oh.hdrlen + 1) * 8;
			break;
		case IPPROTO_AH:
			if (pw_load(skb, off, end, &oh, sizeof(oh)))
				return PW_DROP_MALFORMED;
			p->ext_other = 1;
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

struct pw_arp {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 op;
	__u8 sha[6];
	__u8 spa[4];
	__u8 tha[6];
	__u8 tpa[4];
};

/*
 * ARP passes without policy (the link needs it), but its sender address is checked like an
 * IP source: a pod claiming another pod's address would poison the node's neighbour table.
 */
static __always_inline int pw_parse_arp(struct __sk_buff *skb, __u32 off, struct pw_pkt *p)
{
	struct pw_arp a;

	if (pw_load(skb, off, skb->len, &a, sizeof(a)))
		return PW_DROP_MALFORMED;
	if (a.htype != bpf_htons(PW_ARPHRD_ETHER) || a.ptype != bpf_htons(ETH_P_IP) ||
	    a.hlen != ETH_ALEN || a.plen != 4)
		return PW_DROP_MALFORMED;
	if (a.op != bpf_htons(PW_ARPOP_REQUEST) && a.op != bpf_htons(PW_ARPOP_REPLY))
		return PW_DROP_MALFORMED;
	p->arp_op = bpf_ntohs(a.op);
	__builtin_memcpy(p->arp_sha, a.sha, 6);
	p->t.family = PW_FAMILY_V4;
	__builtin_memcpy(&p->t.saddr[0], a.spa, 4);
	__builtin_memcpy(&p->t.daddr[0], a.tpa, 4);
	return PW_CONTINUE;
}

/*
 * Fill p from the packet. Returns PW_CONTINUE (ARP and link-scoped ND/MLD included: they
 * pass once the source checks are done) or a drop reason.
 */
static __always_inline int pw_parse(struct __sk_buff *skb, struct pw_pkt *p)
{
	_Static_assert(__builtin_offsetof(struct pw_pkt, eth_proto) ==
			       __builtin_offsetof(struct pw_pkt, eth_dst) + 12,
		       "eth_dst, eth_src, eth_proto: an Ethernet header");

	if (pw_load_hdr(skb, 0, skb->len, p->eth_dst, ETH_HLEN))
		return PW_DROP_MALFORMED;
	switch (p->eth_proto) {
	case bpf_htons(ETH_P_IP):
		return pw_parse_ipv4(skb, ETH_HLEN, p);
	case bpf_htons(ETH_P_IPV6):
		return pw_parse_ipv6(skb, ETH_HLEN, p);
	case bpf_htons(ETH_P_ARP):
		return pw_parse_arp(skb, ETH_HLEN, p);
	default:
		/* 802.1Q/802.1ad included: a pod has no business tagging frames */
		return PW_DROP_UNSUPPORTED_L3;
	}
}

#endif /* PW_BPF_PARSE_H */
