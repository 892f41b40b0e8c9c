/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The benchmarks' baselines: programs that do nothing. BPF_PROG_TEST_RUN of the TC one measures
 * what every run costs regardless of the program (skb setup is outside the timer, but the
 * dispatch, the loop and the clock reads are inside), so podwall's cost is reported against it.
 * bench/peers attaches all of them live on the hooks podwall uses (the TC one on both
 * directions of the pods' host-side veths, the socket ones on the pods' cgroup root): what the
 * hooks themselves cost, apart from podwall's logic.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int pw_bench_empty(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

/* the socket hooks of bpf/sock.bpf.c, one empty program each: 1 lets the call go on */
#define PW_EMPTY_SOCK(hook, name)           \
	SEC("cgroup/" hook)                 \
	int name(struct bpf_sock_addr *ctx) \
	{                                   \
		return 1;                   \
	}

PW_EMPTY_SOCK("connect4", pw_empty_connect4)
PW_EMPTY_SOCK("connect6", pw_empty_connect6)
PW_EMPTY_SOCK("sendmsg4", pw_empty_sendmsg4)
PW_EMPTY_SOCK("sendmsg6", pw_empty_sendmsg6)
PW_EMPTY_SOCK("recvmsg4", pw_empty_recvmsg4)
PW_EMPTY_SOCK("recvmsg6", pw_empty_recvmsg6)
PW_EMPTY_SOCK("getpeername4", pw_empty_getpeername4)
PW_EMPTY_SOCK("getpeername6", pw_empty_getpeername6)

char LICENSE[] SEC("license") = "Dual BSD/GPL";
