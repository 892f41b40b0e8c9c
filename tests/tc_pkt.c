// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Frame builder for test_tc; checksums stay zero: the programs never look at them. */
#include "tc_pkt.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

void tp_addr(int family, const char *s, uint32_t out[4])
{
	memset(out, 0, 16);
	if (inet_pton(family == 4 ? AF_INET : AF_INET6, s, out) != 1) {
		fprintf(stderr, "tc_pkt: bad address %s\n", s);
		abort();
	}
}

static size_t build_ip(const struct tp *t, uint8_t *buf);

/* ND (RFC 4861) and MLD (RFC 2710, 3810) messages a host sends, with the knobs' extras. */
static size_t build_nd(const struct tp *t, uint8_t *buf)
{
	uint32_t a[4];
	size_t n = 8;
	int i, recs = t->mld_recs ? t->mld_recs : 1;

	switch (t->icmp_type) {
	case 135:
	case 136:
		/* 4 bytes of flags/reserved, then the target address */
		tp_addr(6, t->nd_target ? t->nd_target : t->src, a);
		memcpy(buf + 8, a, 16);
		n = 24;
		break;
	case 130:
	case 131:
	case 132:
		/* max response delay, reserved, then the group */
		tp_addr(6, t->dst, a);
		memcpy(buf + 8, a, 16);
		n = 24;
		break;
	case 143:
		put16(buf + 6, recs);
		for (i = 0; i < recs; i++) {
			memset(buf + n, 0, 20);
			buf[n] = 4; /* CHANGE_TO_EXCLUDE: a join */
			tp_addr(6, "ff02::fb", a);
			memcpy(buf + n + 4, a, 16);
			n += 20;
		}
		break;
	default:
		break;
	}
	if (t->nd_lla) {
		buf[n] = t->icmp_type == 136 ? 2 : 1;
		buf[n + 1] = 1;
		memcpy(buf + n + 2, t->nd_lla, 6);
		n += 8;
	}
	if (t->nd_nonce) {
		buf[n] = 14;
		buf[n + 1] = 1;
		memset(buf + n + 2, 0x42, 6);
		n += 8;
	}
	memset(buf + n, 0x5a, t->nd_extra);
	return n + t->nd_extra;
}

/* L4 header (or a later fragment's data) into buf; returns its length. */
static size_t build_l4(const struct tp *t, uint8_t *buf)
{
	uint8_t quote[TP_MAX];
	size_t n = 0, qlen;

	if (t->frag == TP_FRAG_LATER) {
		memset(buf, 0xab, 16); /* mid-datagram bytes: no header here */
		return 16;
	}
	switch (t->proto) {
	case IPPROTO_TCP:
		memset(buf, 0, 20);
		put16(buf, t->sport);
		put16(buf + 2, t->dport);
		put32(buf + 4, 1000);
		buf[12] = (t->mangle == TP_M_DOFF4 ? 4 : t->mangle == TP_M_DOFF15 ? 15 : 5) << 4;
		buf[13] = t->tcp_flags;
		put16(buf + 14, 65535);
		n = 20;
		break;
	case IPPROTO_UDP:
		memset(buf, 0, 8);
		put16(buf, t->sport);
		put16(buf + 2, t->dport);
		put16(buf + 4, 8);
		n = 8;
		break;
	case IPPROTO_SCTP:
		memset(buf, 0, 12);
		put16(buf, t->sport);
		put16(buf + 2, t->dport);
		put32(buf + 4, 0x12345678);
		n = 12;
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		memset(buf, 0, 8);
		buf[0] = t->icmp_type;
		buf[1] = t->icmp_code;
		if (t->proto == IPPROTO_ICMPV6 && t->icmp_type >= 130 && t->icmp_type <= 143)
			return build_nd(t, buf);
		put16(buf + 4, t->icmp_id);
		put16(buf + 6, 1);
		n = 8;
		if (t->inner) {
			/*
			 * RFC 792 quotes the IP header and the first 8 bytes of its payload;
			 * RFC 4443 as much as fits in 1280 bytes: the whole packet here.
			 */
			qlen = build_ip(t->inner, quote);
			if (t->inner->family == 4 && qlen > 28u)
				qlen = 28;
			memcpy(buf + n, quote, qlen);
			n += qlen;
		}
		break;
	default:
		memset(buf, 0x5a, 8); /* opaque payload */
		n = 8;
		break;
	}
	return n;
}

static size_t build_ip4(const struct tp *t, uint8_t *buf)
{
	size_t hl = t->ip_opts ? 24 : 20, l4len;
	uint32_t a[4];
	uint16_t tot, frag = 0;
	uint8_t ihl;

	memset(buf, 0, hl);
	l4len = build_l4(t, buf + hl);
	if (t->keep > 0 && (size_t)t->keep < l4len)
		l4len = t->keep;
	ihl = hl / 4;
	if (t->mangle == TP_M_IHL4)
		ihl = 4;
	else if (t->mangle == TP_M_IHL15)
		ihl = 15;
	buf[0] = (t->mangle == TP_M_BADVER ? 0x50 : 0x40) | ihl;
	tot = hl + l4len;
	if (t->mangle == TP_M_LEN_LONG)
		tot += 20;
	if (t->mangle == TP_M_LEN_SHORT)
		tot = 16;
	if (t->mangle == TP_M_LEN_ZERO)
		tot = 0;
	put16(buf + 2, tot);
	put16(buf + 4, (uint16_t)t->frag_id);
	if (t->frag == TP_FRAG_FIRST)
		frag = 0x2000;
	else if (t->frag == TP_FRAG_LATER)
		frag = 1480 / 8;
	put16(buf + 6, frag);
	buf[8] = 64;
	buf[9] = t->proto;
	tp_addr(4, t->src, a);
	memcpy(buf + 12, &a[0], 4);
	tp_addr(4, t->dst, a);
	memcpy(buf + 16, &a[0], 4);
	if (t->ip_opts)
		memset(buf + 20, 1, 4); /* four NOPs */
	return hl + l4len;
}

static size_t build_ip6(const struct tp *t, uint8_t *buf)
{
	uint8_t *p = buf + 40, *nh = buf + 6;
	size_t len, plen;
	uint32_t a[4];
	int i;

	memset(buf, 0, 40);
	buf[0] = t->mangle == TP_M_BADVER ? 0x40 : 0x60;
	buf[7] = 64;
	if (t->hop_limit)
		buf[7] = t->hop_limit;
	else if (t->proto == IPPROTO_ICMPV6 && t->icmp_type >= 133 && t->icmp_type <= 137)
		buf[7] = 255; /* RFC 4861 */
	else if (t->proto == IPPROTO_ICMPV6 &&
		 ((t->icmp_type >= 130 && t->icmp_type <= 132) || t->icmp_type == 143))
		buf[7] = 1; /* RFC 2710, 3810 */
	tp_addr(6, t->src, a);
	memcpy(buf + 8, a, 16);
	tp_addr(6, t->dst, a);
	memcpy(buf + 24, a, 16);
	if (t->mangle == TP_M_HBH_JUMBO) {
		*nh = 0; /* hop-by-hop options */
		memset(p, 0, 8);
		p[2] = 0xc2; /* jumbo payload */
		p[3] = 4;
		nh = p;
		p += 8;
	}
	for (i = 0; i < t->ext; i++) {
		*nh = 60; /* destination options */
		memset(p, 0, 8);
		p[2] = 1; /* PadN covering the rest */
		p[3] = 4;
		nh = p;
		p += 8;
	}
	if (t->frag != TP_FRAG_NONE) {
		*nh = 44;
		memset(p, 0, 8);
		put16(p + 2, t->frag == TP_FRAG_FIRST ? 1 : (1480 / 8) << 3);
		put32(p + 4, t->frag_id);
		nh = p;
		p += 8;
	}
	*nh = t->proto;
	p += build_l4(t, p);
	plen = p - (buf + 40);
	if (t->keep > 0 && (size_t)t->keep < plen)
		plen = t->keep;
	len = 40 + plen;
	if (t->mangle == TP_M_LEN_LONG)
		plen += 20;
	if (t->mangle == TP_M_HBH_JUMBO)
		put32(buf + 40 + 4, plen); /* the real length lives in the option */
	if (t->mangle == TP_M_LEN_ZERO || t->mangle == TP_M_HBH_JUMBO)
		plen = 0;
	put16(buf + 4, plen);
	return len;
}

static size_t build_ip(const struct tp *t, uint8_t *buf)
{
	return t->family == 4 ? build_ip4(t, buf) : build_ip6(t, buf);
}

size_t tp_build(const struct tp *t, uint8_t *buf)
{
	static const uint8_t dmac0[6] = {0x02, 0, 0, 0, 0, 0x02}, smac0[6] = {0x02, 0, 0, 0, 0, 0x01};
	const uint8_t *dmac = t->dmac ? t->dmac : dmac0, *smac = t->smac ? t->smac : smac0;
	uint16_t et = t->ethertype;
	size_t n = ETH_HLEN;

	memset(buf, 0, TP_MAX);
	memcpy(buf, dmac, 6);
	memcpy(buf + 6, smac, 6);
	if (!et)
		et = t->family == 4 ? ETH_P_IP : ETH_P_IPV6;
	if (t->mangle == TP_M_VLAN) {
		put16(buf + 12, ETH_P_8021Q);
		put16(buf + 14, 42); /* VLAN id */
		put16(buf + 16, et);
		n += 4;
		n += build_ip(t, buf + n);
	} else if (et == ETH_P_ARP && t->mangle == TP_M_ARP_V6) {
		put16(buf + 12, et);
		put16(buf + n, 1); /* Ethernet */
		put16(buf + n + 2, ETH_P_IPV6);
		buf[n + 4] = 6;
		buf[n + 5] = 16;
		put16(buf + n + 6, 1);
		n += 8 + 2 * (6 + 16);
	} else if (et == ETH_P_ARP) {
		uint32_t a[4] = {0};

		put16(buf + 12, et);
		put16(buf + n, 1); /* Ethernet */
		put16(buf + n + 2, ETH_P_IP);
		buf[n + 4] = 6;
		buf[n + 5] = 4;
		put16(buf + n + 6, t->arp_op ? t->arp_op : 1);
		memcpy(buf + n + 8, smac, 6);
		if (t->src)
			tp_addr(4, t->src, a);
		memcpy(buf + n + 14, &a[0], 4);
		a[0] = 0;
		if (t->dst)
			tp_addr(4, t->dst, a);
		memcpy(buf + n + 24, &a[0], 4);
		n += 28;
	} else if (et == ETH_P_IP || et == ETH_P_IPV6) {
		put16(buf + 12, et);
		n += build_ip(t, buf + n);
	} else {
		put16(buf + 12, et);
		memset(buf + n, 0x5a, 46);
		n += 46;
	}
	if (t->frame_max > 0 && (size_t)t->frame_max < n)
		n = t->frame_max;
	return n;
}
