/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet builder for the TC program tests: one description (struct tp) per test row, turned
 * into an Ethernet frame. The knobs produce the broken packets the parser must refuse.
 */
#ifndef PW_TESTS_TC_PKT_H
#define PW_TESTS_TC_PKT_H

#include <stddef.h>
#include <stdint.h>

#define TP_MAX 1024

enum tp_frag {
	TP_FRAG_NONE = 0,
	TP_FRAG_FIRST, /* offset 0, more fragments */
	TP_FRAG_LATER, /* offset 1480, last fragment: no L4 header */
};

enum tp_mangle {
	TP_M_NONE = 0,
	TP_M_IHL4,	/* IPv4 ihl = 4 */
	TP_M_LEN_LONG,	/* IP length claims 20 bytes more than the frame has */
	TP_M_LEN_SHORT, /* IPv4 total length smaller than its own header */
	TP_M_BADVER,	/* IP version field disagrees with the ethertype */
	TP_M_DOFF4,	/* TCP data offset 4 */
	TP_M_VLAN,	/* 802.1Q tag in front of the IP packet */
	TP_M_LEN_ZERO,	/* IPv4 total length / IPv6 payload length 0 (BIG TCP, jumbogram) */
	TP_M_IHL15,	/* IPv4 ihl 15: a 60-byte header inside a shorter datagram */
	TP_M_DOFF15,	/* TCP data offset 15: a 60-byte header in a 20-byte segment */
	TP_M_HBH_JUMBO, /* IPv6 hop-by-hop jumbo payload option, payload length 0 (RFC 2675) */
	TP_M_ARP_V6,	/* ARP with protocol type IPv6 and 16-byte protocol addresses */
};

struct tp {
	/*
	 * 0: from family. ETH_P_ARP builds an Ethernet/IPv4 ARP packet: src and dst are its
	 * sender and target protocol addresses (0.0.0.0 when NULL), arp_op its operation.
	 */
	uint16_t ethertype;
	int family; /* 4 or 6 */
	const char *src;
	const char *dst;
	uint8_t proto;
	uint16_t sport;
	uint16_t dport;
	uint8_t tcp_flags;
	uint8_t icmp_type;
	uint8_t icmp_code;
	uint16_t icmp_id;
	int frag; /* enum tp_frag */
	uint32_t frag_id;
	int ext;       /* IPv6: destination-options headers before the L4 (and fragment) header */
	int ip_opts;   /* IPv4: add 4 bytes of options (ihl 6) */
	int keep;      /* > 0: keep only this many bytes after the base IP header, lengths fixed */
	int frame_max; /* > 0: cut the frame to this many bytes, lengths untouched */
	int mangle;    /* enum tp_mangle */
	const struct tp *inner; /* ICMP error: quote this packet (v4: header + 8 bytes, v6: all) */
	uint16_t arp_op;	/* ARP operation; 0: request */
	int hop_limit;		/* IPv6 hop limit; 0: 255 for ND, 1 for MLD, 64 otherwise */
	const char *nd_target;	/* ND solicitation/advertisement target; NULL: the source */
	const uint8_t *smac;	/* Ethernet source (and ARP sender); NULL: 02:00:00:00:00:01 */
	const uint8_t *dmac;	/* Ethernet destination; NULL: 02:00:00:00:00:02 */
	const uint8_t *nd_lla;	/* RS/NS: source, NA: target link-layer address option */
	int nd_nonce;		/* NS: a nonce option (RFC 7527) */
	int nd_extra;		/* ND/MLD: this many bytes after the message (a covert payload) */
	int mld_recs;		/* MLDv2 report: records (no sources); 0: one */
};

/* Build the frame into buf (TP_MAX bytes); returns its length. Aborts on a bad template. */
size_t tp_build(const struct tp *t, uint8_t *buf);

/* Address text to network-order words; IPv4 in word 0. Aborts on a bad literal. */
void tp_addr(int family, const char *s, uint32_t out[4]);

#endif /* PW_TESTS_TC_PKT_H */
