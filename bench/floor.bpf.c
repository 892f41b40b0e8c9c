/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The benchmark's floors: TC programs that do only the one map lookup a podwall verdict cannot
 * do without, on the datapath's own maps (bench_tc hands their fds over before load, so the
 * fill is the very same), with the key read straight from the packet at fixed offsets.
 *
 *   pw_floor_hash  one conntrack lookup: the established packet's key, pw_ct_key-sized,
 *                  in the conntrack LRU hash as the measured flow left it
 *   pw_floor_lpm   one ipcache lookup: the destination address in the ipcache LPM trie
 *
 * Each returns TC_ACT_OK on a hit and TC_ACT_SHOT on a miss, so the benchmark checks that the
 * floor it times is a hit, as podwall's own lookup is. Only the measured packet shapes are
 * handled (Ethernet, IPv4 without options or IPv6 without extension headers, TCP).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <podwall/shared.h>

/* both replaced by the datapath's maps (bpf_map__reuse_fd) before load */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1);
	__type(key, struct pw_ct_key);
	__type(value, struct pw_ct_entry);
} floor_ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1);
	__type(key, struct pw_ipcache_key);
	__type(value, struct pw_ipcache_val);
} floor_ipc SEC(".maps");

/* the measured endpoint and the scope its flow was admitted in (set before load) */
const volatile __u32 floor_ep_id = 1;
const volatile __u8 floor_scope = PW_DIR_EGRESS;

#define L3 sizeof(struct ethhdr)

SEC("tc")
int pw_floor_hash(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct pw_ct_key k;
	struct tcphdr *th;

	if (data + L3 > end)
		return TC_ACT_SHOT;
	__builtin_memset(&k, 0, sizeof(k));
	k.ep_id = floor_ep_id;
	k.scope = floor_scope;
	k.proto = IPPROTO_TCP;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data + L3;

		th = data + L3 + sizeof(*ip);
		if ((void *)(th + 1) > end)
			return TC_ACT_SHOT;
		k.family = PW_FAMILY_V4;
		k.saddr[0] = ip->saddr;
		k.daddr[0] = ip->daddr;
	} else {
		struct ipv6hdr *ip6 = data + L3;

		th = data + L3 + sizeof(*ip6);
		if ((void *)(th + 1) > end)
			return TC_ACT_SHOT;
		k.family = PW_FAMILY_V6;
		__builtin_memcpy(k.saddr, &ip6->saddr, 16);
		__builtin_memcpy(k.daddr, &ip6->daddr, 16);
	}
	k.sport = th->source;
	k.dport = th->dest;
	/* the key as podwall stores it: one orientation for both directions (pw_ct_key) */
	if (pw_ct_key_is_rev(&k))
		pw_ct_key_flip(&k);
	return bpf_map_lookup_elem(&floor_ct, &k) ? TC_ACT_OK : TC_ACT_SHOT;
}

SEC("tc")
int pw_floor_lpm(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct pw_ipcache_key k;

	if (data + L3 > end)
		return TC_ACT_SHOT;
	__builtin_memset(&k, 0, sizeof(k));
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data + L3;

		if ((void *)(ip + 1) > end)
			return TC_ACT_SHOT;
		k.family = PW_FAMILY_V4;
		k.prefixlen = PW_IPCACHE_PREFIX_BITS + 32;
		k.addr[0] = ip->daddr;
	} else {
		struct ipv6hdr *ip6 = data + L3;

		if ((void *)(ip6 + 1) > end)
			return TC_ACT_SHOT;
		k.family = PW_FAMILY_V6;
		k.prefixlen = PW_IPCACHE_PREFIX_BITS + 128;
		__builtin_memcpy(k.addr, &ip6->daddr, 16);
	}
	return bpf_map_lookup_elem(&floor_ipc, &k) ? TC_ACT_OK : TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
