/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Finding a flow in conntrack: its key (one for both directions, struct pw_ct_key) and the
 * lookup. Apart from lib/conntrack.h so the socket programs can look up a flow without the
 * TC object's private maps.
 */
#ifndef PW_BPF_CTKEY_H
#define PW_BPF_CTKEY_H

#include <linux/in6.h>

#include "lib/common.h"
#include "lib/maps.h"

/*
 * The key of the flow a packet of direction dir, travelling as t, belongs to (struct
 * pw_ct_key: one key for both directions). Returns whether the key holds t reversed; a
 * packet of the flow's original direction says so for the flow (PW_CT_F_SWAPPED).
 */
static __always_inline int pw_ct_key_fill(struct pw_ct_key *k, __u32 ep_id, __u8 dir,
					  const struct pw_tuple *t, int echo_reply)
{
	int rev = pw_ct_tuple_rev(t->proto, echo_reply, t->saddr, t->daddr, t->sport, t->dport);

	__builtin_memset(k, 0, sizeof(*k)); /* ended = 0: packets only ever match live flows */
	k->ep_id = ep_id;
	k->family = t->family;
	k->proto = t->proto;
	if (rev) {
		k->scope = pw_dir_other(dir);
		pw_addr_copy(k->saddr, t->daddr);
		pw_addr_copy(k->daddr, t->saddr);
		k->sport = t->dport;
		k->dport = t->sport;
	} else {
		k->scope = dir;
		pw_addr_copy(k->saddr, t->saddr);
		pw_addr_copy(k->daddr, t->daddr);
		k->sport = t->sport;
		k->dport = t->dport;
	}
	return rev;
}

/* The direction of the check that admitted the flow stored at k. */
static __always_inline __u8 pw_ct_scope(const struct pw_ct_key *k, const struct pw_ct_entry *e)
{
	return e->flags & PW_CT_F_SWAPPED ? pw_dir_other(k->scope) : k->scope;
}

/*
 * The flow a packet of direction dir travelling as t belongs to, its key left in k; *idx 0
 * when the packet goes the flow's original way, 1 when it is a reply. echo: 1 for an echo
 * reply, 0 for a request or anything but echo, -1 when unknown (an ICMP fragment after the
 * first). One lookup, and a second only on a miss for two kinds of packet: an ICMP packet of
 * unknown role (tried as the other one) and a tuple equal to its reverse (a hairpin to the
 * same address and port: its two directions differ only by the scope).
 */
static __always_inline struct pw_ct_entry *pw_ct_lookup(struct pw_ct_key *k, __u32 ep_id, __u8 dir,
							const struct pw_tuple *t, int echo,
							int *idx)
{
	int icmp = t->proto == IPPROTO_ICMP || t->proto == IPPROTO_ICMPV6;
	struct pw_ct_entry *e;

	pw_ct_key_fill(k, ep_id, dir, t, echo > 0);
	e = bpf_map_lookup_elem(&PW_MAP_CT, k);
	if (!e) {
		if (icmp && echo < 0)
			pw_ct_key_flip(k);
		else if (!icmp && t->sport == t->dport && pw_addr_eq(t->saddr, t->daddr))
			k->scope = pw_dir_other(k->scope);
		else
			return NULL;
		e = bpf_map_lookup_elem(&PW_MAP_CT, k);
		if (!e)
			return NULL;
	}
	*idx = pw_ct_scope(k, e) != dir;
	return e;
}

#endif /* PW_BPF_CTKEY_H */
