/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Ending the connections of a removed Service backend. The socket layer chose the backend at
 * connect() and the socket keeps it, so dropping conntrack entries alone would leave the
 * connection running. These iterators walk the TCP and UDP sockets of the network namespace
 * the reader is in (a pod's) and abort (bpf_sock_destroy: RST for TCP, ECONNABORTED to the
 * application) each one connected to an address:port listed in pw_svc_end_v1.
 *
 * Minimal kernel types with CO-RE: field offsets come from the running kernel's BTF, so no
 * vmlinux.h; names are found through the kernel's anonymous unions by libbpf.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <bpf/bpf_helpers.h>
#include <podwall/shared.h>
#include <podwall/service.h>

#define PW_AF_INET  2
#define PW_AF_INET6 10

struct sock_common {
	__be32 skc_daddr;
	__be16 skc_dport;
	unsigned short skc_family;
	struct in6_addr skc_v6_daddr;
} __attribute__((preserve_access_index));

struct bpf_iter__tcp {
	struct sock_common *sk_common;
} __attribute__((preserve_access_index));

struct udp_sock;
struct bpf_iter__udp {
	struct udp_sock *udp_sk;
} __attribute__((preserve_access_index));

extern int bpf_sock_destroy(struct sock_common *sk) __ksym;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PW_SVC_END_MAX);
	__type(key, struct pw_svc_end_key);
	__type(value, __u8);
} PW_MAP_SVC_END SEC(".maps");

/* connections this walk aborted, read by the loader */
__u64 pw_ended = 0;

static __always_inline int pw_end_if_listed(struct sock_common *sk, __u8 proto)
{
	struct pw_svc_end_key k = {};

	if (!sk)
		return 0;
	k.proto = proto;
	k.port = sk->skc_dport;
	if (sk->skc_family == PW_AF_INET) {
		k.family = PW_FAMILY_V4;
		k.addr[0] = sk->skc_daddr;
	} else if (sk->skc_family == PW_AF_INET6) {
		k.addr[0] = sk->skc_v6_daddr.in6_u.u6_addr32[0];
		k.addr[1] = sk->skc_v6_daddr.in6_u.u6_addr32[1];
		k.addr[2] = sk->skc_v6_daddr.in6_u.u6_addr32[2];
		k.addr[3] = sk->skc_v6_daddr.in6_u.u6_addr32[3];
		k.family = PW_FAMILY_V6;
		/* a dual-stack socket connected to ::ffff:a.b.c.d reached an IPv4 backend */
		if (!k.addr[0] && !k.addr[1] && k.addr[2] == __builtin_bswap32(0xffff)) {
			k.family = PW_FAMILY_V4;
			k.addr[0] = k.addr[3];
			k.addr[2] = 0;
			k.addr[3] = 0;
		}
	} else {
		return 0;
	}
	if (bpf_map_lookup_elem(&PW_MAP_SVC_END, &k) && !bpf_sock_destroy(sk))
		__sync_fetch_and_add(&pw_ended, 1);
	return 0;
}

SEC("iter/tcp")
int pw_svc_end_tcp(struct bpf_iter__tcp *ctx)
{
	return pw_end_if_listed(ctx->sk_common, IPPROTO_TCP);
}

SEC("iter/udp")
int pw_svc_end_udp(struct bpf_iter__udp *ctx)
{
	/* struct udp_sock starts with struct inet_sock, which starts with struct sock_common */
	return pw_end_if_listed((struct sock_common *)ctx->udp_sk, IPPROTO_UDP);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
