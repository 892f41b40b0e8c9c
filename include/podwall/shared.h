/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Everything the kernel programs and userspace share: map names, keys, values, event records,
 * verdict reasons and constants. This is the only definition; BPF programs, the datapath
 * library, the daemon, the CLI and the tests all include it.
 *
 * Rules: fixed-width types only, explicit pad fields (writers zero them: keys are compared
 * bytewise by the kernel), a _Static_assert on every size. Changing a layout means a new
 * version suffix on the map name, so an old pin is never reinterpreted.
 */
#ifndef PODWALL_SHARED_H
#define PODWALL_SHARED_H

#include <linux/types.h>

/* Map names: the kernel keeps 15 characters. The macro is the BPF object's variable name. */
#define PW_MAP_IPCACHE pw_ipcache_v1 /* LPM trie: address -> identity */
/* v2: struct pw_endpoint carries the pod's MAC and its link (v1 had neither) */
#define PW_MAP_EP_IF   pw_ep_if_v2   /* hash: host-side ifindex -> endpoint */
#define PW_MAP_EP_CG   pw_ep_cg_v2   /* hash: pod cgroup id -> endpoint */
#define PW_MAP_POLICY  pw_policy_v1  /* LPM trie: (subject, peer, dir, proto, port) -> allow */
/* v2: one key for both directions of a flow (v1 keyed each direction's packets apart) */
#define PW_MAP_CT      pw_ct_v2      /* LRU hash: scoped 5-tuple -> flow state */
#define PW_MAP_FRAG    pw_frag_v1    /* LRU hash: fragment id -> L4 ports of its first fragment */
#define PW_MAP_EVENTS  pw_events_v1  /* perf event array, one ring per CPU */
/* v2: counter slots past the (reason, direction) grid (v1 had the grid alone) */
#define PW_MAP_METRICS pw_metrics_v2 /* per-CPU array: (reason, direction) -> packets, bytes */
#define PW_MAP_FOLD    pw_fold_v1    /* per-CPU array, one slot: the open fold window of drops */
#define PW_MAP_FOLDACK pw_foldack_v1 /* per-CPU array, one slot: what the reader took of it */

#define PW__STR(x)  #x
#define PW_STR(x)   PW__STR(x)

/* Default capacities; the library can resize before the first load (pins keep their size). */
#define PW_IPCACHE_MAX_DEFAULT 1048576
#define PW_POLICY_MAX_DEFAULT  1048576
#define PW_EP_MAX_DEFAULT      16384
#define PW_CT_MAX_DEFAULT      262144
#define PW_FRAG_MAX_DEFAULT    8192

/* Pod-relative direction. On the pod's host-side veth, TC ingress sees the pod's egress. */
enum pw_dir {
	PW_DIR_INGRESS = 0,
	PW_DIR_EGRESS = 1,
	PW_DIR_MAX = 2,
};

#define PW_FAMILY_V4 4
#define PW_FAMILY_V6 6

/*
 * Identities. 0 is never a real identity: in a policy key it is the "any peer" wildcard.
 * Label identities are allocated by the control plane from PW_ID_FIRST_LOCAL; identities of
 * ipBlock CIDRs carry PW_ID_CIDR_FLAG so a glance tells them apart.
 */
#define PW_ID_ANY         0u
#define PW_ID_HOST        1u /* the node itself */
#define PW_ID_WORLD       2u /* any address ipcache does not know */
#define PW_ID_UNKNOWN     3u /* a pod address whose identity is not resolved yet */
#define PW_ID_FIRST_LOCAL 256u
#define PW_ID_CIDR_FLAG   0x01000000u

/* --- ipcache: LPM trie over (family, address) ------------------------------------------- */

/* Bits of the key that precede the address: family plus its pad. prefixlen = 32 + mask. */
#define PW_IPCACHE_PREFIX_BITS 32

struct pw_ipcache_key {
	__u32 prefixlen;
	__u8 family; /* PW_FAMILY_V4 / PW_FAMILY_V6 */
	__u8 pad[3];
	__u32 addr[4]; /* network order; IPv4 uses addr[0] only, rest zero */
};
_Static_assert(sizeof(struct pw_ipcache_key) == 24, "pw_ipcache_key layout");

struct pw_ipcache_val {
	/* label identity for a pod address, CIDR identity otherwise */
	__u32 identity;
	/*
	 * Identity of the longest policy-referenced CIDR that holds this address, or 0. It lets
	 * an ipBlock peer match a pod address without splitting the pod's label identity:
	 * policy is looked up for both.
	 */
	__u32 cidr_identity;
};
_Static_assert(sizeof(struct pw_ipcache_val) == 8, "pw_ipcache_val layout");

/* --- endpoints -------------------------------------------------------------------------- */

#define PW_EP_MAX_V4 4
#define PW_EP_MAX_V6 4

#define PW_EP_F_ISOLATE_INGRESS (1u << 0) /* some policy selects it for ingress */
#define PW_EP_F_ISOLATE_EGRESS  (1u << 1) /* some policy selects it for egress */
#define PW_EP_F_AUDIT           (1u << 2) /* record denies but let them pass */
#define PW_EP_F_QUARANTINE      (1u << 3) /* drop everything but replies of nothing: full stop */
/*
 * Per-policy audit (podwall.io/enforcement: audit): audit policies select it in that direction
 * and no enforced one does. The new-flow decision then also consults the as-if-audit-enforced
 * entry set (PW_POL_DIR_AUDIT keys): a miss there records the flow as AUDIT, and it passes.
 */
#define PW_EP_F_AUDIT_ISOLATE_INGRESS (1u << 4)
#define PW_EP_F_AUDIT_ISOLATE_EGRESS  (1u << 5)
/* with PW_EP_F_QUARANTINE: DNS (UDP/TCP port 53) from the pod and its replies still go */
#define PW_EP_F_QUARANTINE_DNS (1u << 6)
/*
 * No enforced entry of the endpoint's subject allows any peer (PW_ID_ANY) in that direction,
 * so the new-flow decision skips that trie lookup (about a third of a denied flow's cost).
 * Set by the compiler from the subject's entry set. Unset, the default (and what a control
 * plane that predates it writes), means "look": the flag only ever saves a lookup that
 * would miss.
 */
#define PW_EP_F_NO_ANY_PEER_INGRESS (1u << 7)
#define PW_EP_F_NO_ANY_PEER_EGRESS  (1u << 8)

struct pw_endpoint {
	__u32 ep_id; /* stable id chosen by the control plane; scopes conntrack */
	__u32 identity;
	__u32 ifindex; /* host-side veth, in the node netns */
	__u32 flags;   /* PW_EP_F_* */
	/*
	 * Bumped by the control plane whenever this endpoint's effective policy may have
	 * tightened. Conntrack entries remember the generation that admitted them and are
	 * re-checked on their next packet when it differs.
	 */
	__u32 policy_gen;
	__u8 n_v4;
	__u8 n_v6;
	__u8 pad[2];
	__u64 cgroup_id;
	__u32 v4[PW_EP_MAX_V4];    /* network order */
	__u32 v6[PW_EP_MAX_V6][4]; /* network order */
	/*
	 * The MAC of the pod's own interface (the host-side veth's peer), learned from the
	 * kernel when the endpoint is bound, never from packets. All zero: not known, and then
	 * the pod sends nothing (PW_DROP_MAC_UNKNOWN): a missing MAC never opens a hole.
	 */
	__u8 mac[6];
	__u8 pad2[2];
	/*
	 * The host-side veth's link: its bridge (IFLA_MASTER), or 0 when it is a point-to-point
	 * link of its own. ND the node routes out of this link stays on the pod's own segment.
	 */
	__u32 link_ifindex;
	__u32 pad3;
};
_Static_assert(sizeof(struct pw_endpoint) == 128, "pw_endpoint layout");

/* --- policy: LPM trie keyed by subject identity ----------------------------------------- */

/*
 * Byte order of the trie data: subject, peer, direction, protocol, destination port. The
 * prefix always covers subject, peer and direction; it then stops (any protocol, any port),
 * covers the protocol (all ports of it), or covers the protocol and 0..16 bits of the port
 * (an endPort range is a handful of port prefixes).
 */
#define PW_POLICY_BITS_ANY_PROTO 72 /* subject + peer + direction */
#define PW_POLICY_BITS_PROTO     80 /* + protocol */
#define PW_POLICY_BITS_FULL      96 /* + 16 port bits */

struct pw_policy_key {
	__u32 prefixlen;
	__u32 subject; /* network order, so the trie compares the most significant byte first */
	__u32 peer;    /* network order; PW_ID_ANY = any peer */
	__u8 direction;
	__u8 proto; /* IPPROTO_* */
	__be16 dport;
};
_Static_assert(sizeof(struct pw_policy_key) == 16, "pw_policy_key layout");

#define PW_POL_F_ALLOW (1u << 0)

/*
 * Direction byte of a key of the as-if-audit-enforced set: the allow entries of audit
 * policies, kept apart from the enforced ones (which alone decide what passes) by this bit.
 */
#define PW_POL_DIR_AUDIT 0x80u

struct pw_policy_val {
	__u32 flags;  /* PW_POL_F_* */
	__u32 cookie; /* attribution: the control plane maps it to (policy, rule) */
};
_Static_assert(sizeof(struct pw_policy_val) == 8, "pw_policy_val layout");

/* --- conntrack -------------------------------------------------------------------------- */

/*
 * An entry belongs to the endpoint and direction whose check admitted it: pod A's egress
 * entry never satisfies pod B's ingress check, even for the same 5-tuple on the same node.
 * For ICMP echo, sport = dport = the echo identifier, so a reply reverses to the same key.
 *
 * One key for both directions of a flow, so that every packet finds its flow with one lookup
 * (v1 looked up the original direction's key and, on a miss, the reply's: each reply and each
 * new flow paid a miss, a walk of a hash bucket in a table of 100k+ flows). The key holds the
 * tuple in a canonical orientation, pw_ct_tuple_rev(): the lower (address, port) end first;
 * for ICMP echo, the request's orientation (a reply is reversed). A flow stored reversed has
 * PW_CT_F_SWAPPED in its entry and the other direction in `scope`: the scope is always the
 * direction a packet travelling as the key's tuple takes. A packet travelling as the tuple in
 * the other direction, or reversed in the same one, is another flow with another key: pod A's
 * egress flow to itself (a hairpin) and its ingress flow back stay apart. Userspace sees keys
 * in the flow's own orientation (the datapath library flips them, pw_ct_key_flip()).
 *
 * `ended` is 0 for a live flow: every lookup builds its key with 0 there. A flow that ends in
 * the datapath (revoked, or its port pair reused by a new connection) is moved, before its
 * live key goes, to the same key with ended = 1..PW_CT_PARK_SLOTS (the first free): it is
 * "parked" there, never matches a packet, and the next conntrack sweep reports it (one
 * flow_end, its counters intact) and deletes it, whatever its age.
 */
#define PW_CT_PARK_SLOTS 3

struct pw_ct_key {
	__u32 ep_id;
	__u8 scope; /* pw_dir of the admitting check */
	__u8 family;
	__u8 proto;
	__u8 ended; /* 0: live; 1..PW_CT_PARK_SLOTS: a finished flow awaiting its record */
	__u32 saddr[4];
	__u32 daddr[4];
	__be16 sport;
	__be16 dport;
};
_Static_assert(sizeof(struct pw_ct_key) == 44, "pw_ct_key layout");

enum pw_ct_state {
	PW_CT_NEW = 0,         /* only the original direction seen (TCP: SYN sent) */
	PW_CT_ESTABLISHED = 1, /* both directions seen */
	PW_CT_CLOSING = 2,     /* FIN or RST seen */
};

#define PW_CT_F_MIDSTREAM (1u << 0) /* admitted on a non-SYN TCP packet (picked up mid-flow) */
#define PW_CT_F_AUDIT     (1u << 1) /* admitted only because the endpoint is in audit mode */
/*
 * A mid-stream entry's reverse direction passed policy. Without it, a flow picked up mid-stream
 * in a direction nobody isolates (say the server's retransmission after its client's flow was
 * revoked) would vouch for the client's packets as "replies": revocation would not hold.
 */
#define PW_CT_F_REPLY_CHECKED (1u << 2)
/* parked because it failed its re-check (PW_EV_REVOKED); otherwise parked = reused, closed */
#define PW_CT_F_REVOKED (1u << 3)
/* the key holds the flow's tuple reversed, and the other scope (see struct pw_ct_key) */
#define PW_CT_F_SWAPPED (1u << 4)

struct pw_ct_entry {
	__u64 created_ns; /* bpf_ktime_get_ns() clock (CLOCK_MONOTONIC) */
	__u64 last_seen_ns;
	__u64 packets[2]; /* [0] original direction, [1] reply */
	__u64 bytes[2];
	__u32 policy_gen; /* endpoint generation that admitted or last re-checked it */
	__u32 cookie;     /* policy attribution of the admitting decision */
	__u32 src_identity;
	__u32 dst_identity;
	__u8 tcp_flags[2]; /* OR of TCP flags seen, per direction */
	__u8 state;        /* enum pw_ct_state */
	__u8 flags;        /* PW_CT_F_* */
	__u32 pad;
};
_Static_assert(sizeof(struct pw_ct_entry) == 72, "pw_ct_entry layout");

#ifdef __bpf__
#define PW_SHARED_INLINE static __always_inline
#else
#define PW_SHARED_INLINE static inline
#endif

/*
 * Whether a flow's tuple, given in its own orientation (source first), is stored reversed.
 * Any strict order on (address, port) would do: raw 32-bit words, then raw ports, compared as
 * they are in memory, the same on both sides. ICMP echo (protocols 1 and 58, the only ICMP
 * ever tracked) keeps the request's orientation: echo_reply says the tuple is a reply's. A
 * tuple equal to its reverse (same address and port at both ends) is not reversed, so its two
 * directions share one key only through the other scope: the lookup tries that one too.
 */
PW_SHARED_INLINE int pw_ct_tuple_rev(__u8 proto, int echo_reply, const __u32 *saddr,
				     const __u32 *daddr, __be16 sport, __be16 dport)
{
	int i;

	if (proto == 1 || proto == 58)
		return echo_reply;
	for (i = 0; i < 4; i++) {
		if (saddr[i] != daddr[i])
			return saddr[i] > daddr[i];
	}
	return sport > dport;
}

/* The same flow's key seen from its other end: tuple reversed, the other scope. */
PW_SHARED_INLINE void pw_ct_key_flip(struct pw_ct_key *k)
{
	__u32 a;
	__be16 p;
	int i;

	for (i = 0; i < 4; i++) {
		a = k->saddr[i];
		k->saddr[i] = k->daddr[i];
		k->daddr[i] = a;
	}
	p = k->sport;
	k->sport = k->dport;
	k->dport = p;
	k->scope ^= 1;
}
_Static_assert((PW_DIR_INGRESS ^ 1) == PW_DIR_EGRESS, "pw_ct_key_flip: the other scope by xor");

/* A key in a flow's own orientation (a stored key unflipped, or a key to store flipped). */
PW_SHARED_INLINE int pw_ct_key_is_rev(const struct pw_ct_key *k)
{
	return pw_ct_tuple_rev(k->proto, 0, k->saddr, k->daddr, k->sport, k->dport);
}

/* --- fragments -------------------------------------------------------------------------- */

struct pw_frag_key {
	__u8 family;
	__u8 proto;
	__u8 pad[2];
	__u32 id; /* IPv4: 16-bit id zero-extended; IPv6: fragment header id */
	__u32 saddr[4];
	__u32 daddr[4];
};
_Static_assert(sizeof(struct pw_frag_key) == 40, "pw_frag_key layout");

struct pw_frag_val {
	__be16 sport;
	__be16 dport;
	/* verdict of the first fragment: later fragments never get a better one */
	__u8 reason;
	__u8 pad[3];
};
_Static_assert(sizeof(struct pw_frag_val) == 8, "pw_frag_val layout");

/* --- verdict reasons -------------------------------------------------------------------- */

/* enum pw_reason, pw_reason_is_drop(), pw_reason_str(): one table, PW_REASONS, in reasons.h */
#include "reasons.h"

/* --- events (perf buffer) --------------------------------------------------------------- */

enum pw_event_type {
	PW_EV_FLOW_NEW = 1,  /* TC: a new flow was admitted (one record per flow) */
	PW_EV_DROP = 2,      /* TC: a packet was dropped */
	PW_EV_SOCK_DENY = 3, /* socket layer: connect()/sendmsg() refused with EPERM */
	PW_EV_REVOKED = 4,   /* TC: an established flow failed its re-check */
	PW_EV_AUDIT = 5,     /* a deny that audit mode let through */
	/*
	 * TC: the close of a fold window (struct pw_fold): the window's opening PW_EV_DROP
	 * record again, with `folded` the identical drops it stood for after that record and
	 * ts_ns the newest one's time. Only the datapath library reads it.
	 */
	PW_EV_FOLD = 6,
};

#define PW_EV_F_SOCK (1u << 0) /* pid, comm and cgroup_id are valid */
/* PW_EV_F_SVC (1u << 1) is in service.h */
#define PW_EV_F_FOLD (1u << 2) /* a PW_EV_DROP that opened a fold window: fold_gen is valid */

struct pw_event {
	__u64 ts_ns; /* bpf_ktime_get_ns() */
	__u8 type;   /* enum pw_event_type */
	__u8 reason; /* enum pw_reason */
	__u8 direction;
	__u8 family;
	__u8 proto;
	__u8 tcp_flags;
	__u8 flags; /* PW_EV_F_* */
	__u8 pad;
	__be16 sport;
	__be16 dport;
	__u32 ep_id;
	__u32 saddr[4];
	__u32 daddr[4];
	__u32 src_identity;
	__u32 dst_identity;
	__u32 cookie; /* policy attribution, 0 when no entry decided */
	__u32 ifindex;
	__u32 pkt_len;
	union {
		__u32 pid;    /* PW_EV_F_SOCK: tgid of the caller */
		__u32 folded; /* PW_EV_FOLD: identical drops after the window's opening record */
	};
	union {
		__u64 cgroup_id; /* PW_EV_F_SOCK */
		__u64 fold_gen;	 /* PW_EV_F_FOLD, PW_EV_FOLD: the window, per CPU */
	};
	char comm[16];
};
_Static_assert(sizeof(struct pw_event) == 104, "pw_event layout");

/*
 * Drop folding. A dropped packet identical to the one before it on the same CPU (same kind,
 * reason, direction, endpoint, 5-tuple, TCP flags, identities, policy, interface, length) within
 * PW_FOLD_NS of the first is counted here instead of written to the perf ring: a flood of
 * one denied packet costs a counter increment per packet, not a ring write (about 140 ns on
 * the development machine, docs/performance.md). Nothing is lost and every count is exact:
 *   - the first drop of a window goes out as its own record, flagged PW_EV_F_FOLD with the
 *     window's number (fold_gen; the CPU's windows are numbered 1, 2, ...);
 *   - the window's repeats go out as one PW_EV_FOLD record when a different drop (or the
 *     same one after PW_FOLD_NS) opens the next window on that CPU; if that record cannot
 *     be written, the window stays open and keeps counting (the new drop goes out on its
 *     own, unfolded; no new attempt for PW_FOLD_RETRY_NS, while the window's own repeats
 *     keep folding), so a full ring or an absent reader never loses a count;
 *   - a window that nothing closes is read by the reader itself (`word`), which remembers in
 *     PW_MAP_FOLDACK how much of which window it has handed on, so a FOLD record, or the
 *     next reader after a restart, hands on only the rest.
 * Only the CPU owning a slot writes it (TC programs do not nest on a CPU); the reader reads
 * `word` in one 8-byte load, so a window's number and count are always read together.
 */
#define PW_FOLD_NS	 1000000000ull
#define PW_FOLD_RETRY_NS 100000000ull

struct pw_fold {
	__u64 word;    /* window number << 32 | repeats folded into it so far */
	__u64 open_ns; /* the window's start, this CPU's tick clock */
	__u64 last_ns; /* the newest repeat's time (the opening record's before one) */
	struct pw_event ev; /* the opening record as it was written, fold_gen set */
	/*
	 * PW_EV_FOLD records that found the ring full: the kernel counts them in the ring's
	 * PERF_RECORD_LOST with the records really lost, so the reader takes them out again.
	 */
	__u64 close_full;
	/*
	 * After a close that could not be written (no reader, or a full ring), no new attempt
	 * before this time: the window keeps folding its repeats meanwhile, and other drops go
	 * out on their own, so a flood with nobody reading costs an increment, not two failed
	 * writes a packet.
	 */
	__u64 retry_ns;
};
_Static_assert(sizeof(struct pw_fold) == 144, "pw_fold layout");

#define PW_FOLD_GEN(w)	 ((w) >> 32)
#define PW_FOLD_COUNT(w) ((w) & 0xffffffffull)

/* Written by the reader only: the window it last handed on, and how many repeats of it. */
struct pw_fold_ack {
	__u64 gen;
	__u64 taken;
	__u32 has_ev; /* ev is that window's opening record */
	__u32 pad;
	struct pw_event ev;
};
_Static_assert(sizeof(struct pw_fold_ack) == 128, "pw_fold_ack layout");

/* --- metrics ---------------------------------------------------------------------------- */

/*
 * Slots of the per-CPU counter array: the (reason, direction) grid first, then the datapath's
 * own counters, whose `packets` field is the count (`bytes` stays 0).
 */
#define PW_METRICS_GRID		   (PW_REASON_MAX * PW_DIR_MAX)
#define PW_METRIC_IDX(reason, dir) ((reason) * PW_DIR_MAX + (dir))
/*
 * Event records bpf_perf_event_output() could not write, counted by the CPU that emitted them.
 * EV_FULL: -ENOSPC, that CPU's ring was full; the kernel reports the same samples in that
 * ring as PERF_RECORD_LOST, but only once a later sample fits. EV_NOREADER: any other failure,
 * mainly -ENOENT: no reader had a ring on that CPU (the daemon was stopped, say).
 */
#define PW_METRIC_EV_FULL     (PW_METRICS_GRID + 0)
#define PW_METRIC_EV_NOREADER (PW_METRICS_GRID + 1)
/*
 * Flow ends the TC program could not park (see struct pw_ct_key): the same port pair ended
 * more than PW_CT_PARK_SLOTS times between two sweeps. Each is a flow_end never recorded.
 */
#define PW_METRIC_CT_END_LOST (PW_METRICS_GRID + 2)
#define PW_METRICS_SLOTS      (PW_METRICS_GRID + 3)

_Static_assert(PW_METRIC_IDX(PW_REASON_MAX - 1, PW_DIR_MAX - 1) < PW_METRIC_EV_FULL,
	       "the event counters lie past the (reason, direction) grid");
/* the slot count is part of the layout: a pin of another size is refused, not adopted */
_Static_assert(PW_METRICS_SLOTS == 67, "pw_metrics_v2 slots");

struct pw_metric {
	__u64 packets; /* or calls, for the socket layer; the count, for the slots past the grid */
	__u64 bytes;
};
_Static_assert(sizeof(struct pw_metric) == 16, "pw_metric layout");

/* --- userspace-only helpers ------------------------------------------------------------- */
#ifndef __bpf__
static inline const char *pw_dir_str(unsigned int dir)
{
	return dir == PW_DIR_INGRESS ? "ingress" : dir == PW_DIR_EGRESS ? "egress" : "unknown";
}
#endif

#endif /* PODWALL_SHARED_H */
