/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The policy decision for a new flow, shared by the TC and socket programs so that both
 * layers decide identically. Cost: one ipcache lookup and at most three policy lookups
 * (exact peer, the peer's CIDR identity, any peer), whatever the number of policies, audit
 * policies included (see pw_policy_decide).
 */
#ifndef PW_BPF_POLICY_H
#define PW_BPF_POLICY_H

#include "lib/common.h"
#include "lib/maps.h"
#include "lib/ipcache.h"

struct pw_decision {
	__u32 cookie;  /* attribution of the allowing entry, 0 when none decided */
	__u32 peer_id; /* identity of the remote address */
};

static __always_inline int pw_policy_allows(__u32 subject, __u32 peer, __u8 dir, __u8 proto,
					    __be16 dport, __u32 *cookie)
{
	struct pw_policy_key k = {
		.prefixlen = PW_POLICY_BITS_FULL,
		.subject = bpf_htonl(subject),
		.peer = bpf_htonl(peer),
		.direction = dir,
		.proto = proto,
		.dport = dport,
	};
	struct pw_policy_val *v;

	v = bpf_map_lookup_elem(&PW_MAP_POLICY, &k);
	if (v && (v->flags & PW_POL_F_ALLOW)) {
		*cookie = v->cookie;
		return 1;
	}
	return 0;
}

/*
 * Does the entry set of (subject, dir) allow the flow: the exact peer, the peer's CIDR
 * identity, then any peer (at most three trie lookups; the last only when any_peer: the set
 * may hold an any-peer entry). dir carries PW_POL_DIR_AUDIT for the as-if-audit-enforced set.
 */
static __always_inline int pw_policy_match(__u32 subject, const struct pw_ipcache_val *peer,
					   __u8 dir, __u8 proto, __be16 dport, int any_peer,
					   __u32 *cookie)
{
	if (pw_policy_allows(subject, peer->identity, dir, proto, dport, cookie))
		return 1;
	if (peer->cidr_identity && peer->cidr_identity != peer->identity &&
	    pw_policy_allows(subject, peer->cidr_identity, dir, proto, dport, cookie))
		return 1;
	return any_peer && pw_policy_allows(subject, PW_ID_ANY, dir, proto, dport, cookie);
}

/*
 * Decide a flow of endpoint ep in direction dir with the remote address remote. Returns
 * PW_OK_NOT_ISOLATED, PW_OK_POLICY, PW_OK_AUDIT or PW_DROP_POLICY.
 *
 * Enforced policies alone decide. Audit policies count only where no enforced policy isolates
 * the endpoint (PW_EP_F_AUDIT_ISOLATE_*): where one does, adding the audit policies' allows
 * cannot turn its allow into a deny, so their verdict is the enforced one. Hence the
 * as-if-audit-enforced set is consulted in exactly the case the enforced set was not: a
 * subject with audit policies pays at most the lookups of an isolated one, others nothing.
 */
static __always_inline int pw_policy_decide(const struct pw_endpoint *ep, __u8 dir, __u8 family,
					    const __u32 *remote, __u8 proto, __be16 dport,
					    struct pw_decision *d)
{
	__u32 isolate = dir == PW_DIR_EGRESS ? PW_EP_F_ISOLATE_EGRESS : PW_EP_F_ISOLATE_INGRESS;
	__u32 audit =
		dir == PW_DIR_EGRESS ? PW_EP_F_AUDIT_ISOLATE_EGRESS : PW_EP_F_AUDIT_ISOLATE_INGRESS;
	__u32 no_any =
		dir == PW_DIR_EGRESS ? PW_EP_F_NO_ANY_PEER_EGRESS : PW_EP_F_NO_ANY_PEER_INGRESS;
	struct pw_ipcache_val peer;
	__u32 subject = ep->identity, unused;

	pw_ipcache_lookup(family, remote, &peer);
	d->peer_id = peer.identity;
	d->cookie = 0;
	dport = pw_policy_port(proto, dport);
	if (!(ep->flags & isolate)) {
		if (!(ep->flags & audit) ||
		    pw_policy_match(subject, &peer, dir | PW_POL_DIR_AUDIT, proto, dport, 1, &unused))
			return PW_OK_NOT_ISOLATED;
		return PW_OK_AUDIT; /* cookie 0: no rule decided; the audit policies isolate it */
	}
	if (pw_policy_match(subject, &peer, dir, proto, dport, !(ep->flags & no_any), &d->cookie))
		return PW_OK_POLICY;
	return ep->flags & PW_EP_F_AUDIT ? PW_OK_AUDIT : PW_DROP_POLICY;
}

#endif /* PW_BPF_POLICY_H */
