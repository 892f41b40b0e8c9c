/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The benchmark's baseline: a TC program that does nothing. BPF_PROG_TEST_RUN of it measures
 * what every run costs regardless of the program (skb setup is outside the timer, but the
 * dispatch, the loop and the clock reads are inside), so podwall's cost is reported against it.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int pw_bench_empty(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
