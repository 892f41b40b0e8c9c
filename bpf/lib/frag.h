/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Fragments: the first one carries the ports and is judged like any packet; its verdict and
 * ports are remembered so later fragments (no L4 header) get exactly that verdict, never a
 * better one, and a later fragment whose first was not seen is dropped, not waved through.
 */
#ifndef PW_BPF_FRAG_H
#define PW_BPF_FRAG_H

#include "lib/common.h"
#include "lib/maps.h"
#include "lib/parse.h"

static __always_inline void pw_frag_key_fill(struct pw_frag_key *k, const struct pw_pkt *p)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->family = p->t.family;
	k->proto = p->frag_proto;
	k->id = p->frag_id;
	pw_addr_copy(k->saddr, p->t.saddr);
	pw_addr_copy(k->daddr, p->t.daddr);
}

static __always_inline void pw_frag_record(const struct pw_pkt *p, __u32 reason)
{
	struct pw_frag_val v = {};
	struct pw_frag_key k;

	pw_frag_key_fill(&k, p);
	v.sport = p->t.sport;
	v.dport = p->t.dport;
	v.reason = reason;
	bpf_map_update_elem(&PW_MAP_FRAG, &k, &v, BPF_ANY);
}

/* Verdict of a later fragment; fills the ports of its first fragment for the record. */
static __always_inline int pw_frag_later(struct pw_pkt *p)
{
	struct pw_frag_val *v;
	struct pw_frag_key k;

	pw_frag_key_fill(&k, p);
	v = bpf_map_lookup_elem(&PW_MAP_FRAG, &k);
	if (!v)
		return PW_DROP_FRAG_NO_FIRST;
	p->t.sport = v->sport;
	p->t.dport = v->dport;
	return pw_reason_is_drop(v->reason) ? PW_DROP_FRAG_DENIED : PW_OK_FRAG;
}

#endif /* PW_BPF_FRAG_H */
