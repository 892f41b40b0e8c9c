/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* PLACEHOLDER until the TC enforcement program lands: passes everything. */
#include "lib/maps.h"
#include <linux/pkt_cls.h>

SEC("tc")
int pw_tc_ingress(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

SEC("tc")
int pw_tc_egress(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
