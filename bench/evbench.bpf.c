/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * bench_events' programs: each writes one podwall event record per packet into its own perf
 * event array, so the userspace side can give each array a differently configured reader
 * and measure what the reader's configuration costs the packet path.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <podwall/shared.h>

#define PERF_ARRAY(name)                                            \
	struct {                                                    \
		__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);        \
		__uint(key_size, sizeof(__u32));                    \
		__uint(value_size, sizeof(__u32));                  \
	} name SEC(".maps")

PERF_ARRAY(ev_none); /* no reader: the output finds no ring */
PERF_ARRAY(ev_each); /* libbpf perf_buffer__new() default: wake up the reader on every sample */
PERF_ARRAY(ev_mark); /* wake up the reader only when the ring passes a watermark */

static __always_inline int emit(struct __sk_buff *skb, void *map)
{
	struct pw_event ev = {};

	ev.ts_ns = bpf_ktime_get_ns();
	ev.type = PW_EV_DROP;
	ev.reason = PW_DROP_POLICY;
	ev.pkt_len = skb->len;
	ev.ifindex = skb->ifindex;
	bpf_perf_event_output(skb, map, BPF_F_CURRENT_CPU, &ev, sizeof(ev));
	return TC_ACT_OK;
}

SEC("tc")
int pw_bench_ev_none(struct __sk_buff *skb)
{
	return emit(skb, &ev_none);
}

SEC("tc")
int pw_bench_ev_each(struct __sk_buff *skb)
{
	return emit(skb, &ev_each);
}

SEC("tc")
int pw_bench_ev_mark(struct __sk_buff *skb)
{
	return emit(skb, &ev_mark);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
