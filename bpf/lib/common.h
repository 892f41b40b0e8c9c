/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Includes and small helpers every podwall BPF program uses. */
#ifndef PW_BPF_COMMON_H
#define PW_BPF_COMMON_H

#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <podwall/shared.h>

/* Helpers return a pw_reason (>= 0) to stop, or PW_CONTINUE to go on to the next stage. */
#define PW_CONTINUE (-1)

#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif

/* A packet's or a connection's addresses and ports; IPv4 uses word 0 of each address. */
struct pw_tuple {
	__u32 saddr[4];
	__u32 daddr[4];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 family;
	__u8 pad[2];
};

static __always_inline void pw_addr_copy(__u32 *dst, const __u32 *src)
{
	dst[0] = src[0];
	dst[1] = src[1];
	dst[2] = src[2];
	dst[3] = src[3];
}

static __always_inline int pw_addr_eq(const __u32 *a, const __u32 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
}

/* Protocols whose destination port is part of the policy key; others match port 0 only. */
static __always_inline __be16 pw_policy_port(__u8 proto, __be16 dport)
{
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP)
		return dport;
	return 0;
}

static __always_inline __u8 pw_dir_other(__u8 dir)
{
	return dir == PW_DIR_EGRESS ? PW_DIR_INGRESS : PW_DIR_EGRESS;
}

#endif /* PW_BPF_COMMON_H */
