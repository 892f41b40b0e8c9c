/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The policy compiler: store + identities -> the desired content of the datapath maps, with
 * no datapath involved (tests inspect it directly; the reconciler diffs two of them).
 *
 * Policy entries are kept as the kernel's trie keys (a port range is already split into its
 * aligned power-of-two blocks), because two ranges can share a block: diffing ranges would
 * delete a block that another rule still needs.
 */
#ifndef PW_CTL_COMPILE_H
#define PW_CTL_COMPILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <podwall/shared.h>

#include "store.h"

/*
 * One trie key of the policy map, in host order, with its value. The subject is the array's
 * (struct pw_dsubject's id), not each key's: at 10,000 pods the desired state holds about
 * 290,000 keys, and 16 bytes rather than 20 is 1.1 MiB less. The pads are zero (keys compare
 * with memcmp).
 */
struct pw_dkey {
	uint32_t peer; /* PW_ID_ANY: any peer */
	uint32_t cookie;
	uint16_t port;
	uint8_t dir;	   /* PW_DIR_*, | PW_POL_DIR_AUDIT in the as-if-audit-enforced set */
	uint8_t proto;	   /* 0: any protocol (port ignored) */
	uint8_t port_bits; /* 0..16 leading bits of port that must match */
	uint8_t pad[3];
};

struct pw_dsubject {
	uint32_t id;
	uint32_t flags; /* PW_EP_F_ISOLATE_*, PW_EP_F_AUDIT_ISOLATE_*, PW_EP_F_NO_ANY_PEER_* */
	size_t n;
	/*
	 * sorted by (dir, peer, proto, port_bits, port), unique; from pw_dkeys_alloc() and
	 * never written after: a carried-over subject shares its array (pw_dkeys_share)
	 */
	struct pw_dkey *keys;
	/* copied unchanged from the desired state numbered carried_from (not recompiled) */
	bool carried;
};

struct pw_dipc {
	struct pw_prefix prefix; /* a pod address as /32 or /128, or a referenced prefix */
	uint32_t identity;
	uint32_t cidr_identity;
};

/* Desired map contents. Every array is sorted, so two of them diff in one pass. */
struct pw_desired {
	size_t n_subjects;
	struct pw_dsubject *subjects; /* by id */
	size_t n_ipc;
	struct pw_dipc *ipc; /* by (family, prefixlen, address) */
	size_t n_eps;
	struct pw_endpoint *eps; /* by ep_id */
	/* subjects recomputed by the last compile (the rest was carried over) */
	size_t n_recompiled;
	/* of which only towards the identities born, died or moved since the last commit */
	size_t n_recompiled_peers;
	/*
	 * gen numbers each compile's result (a copy keeps it); carried_from is the gen of the
	 * state the carried subjects were copied from. The reconciler skips diffing a carried
	 * subject only against that very state.
	 */
	uint64_t gen;
	uint64_t carried_from;
};

/*
 * A subject's key array, reference counted: a compile carries an unchanged subject over and a
 * copy of the desired state shares its arrays instead of copying them (about 4.7 MB at 10,000
 * pods). pw_dkeys_alloc() gives room for n keys (at least one) and one reference;
 * pw_dkeys_put() drops one (NULL: nothing).
 */
struct pw_dkey *pw_dkeys_alloc(size_t n);
struct pw_dkey *pw_dkeys_share(struct pw_dkey *keys);
void pw_dkeys_put(struct pw_dkey *keys);

void pw_desired_clear(struct pw_desired *d);
int pw_desired_copy(struct pw_desired *dst, const struct pw_desired *src);
/* true when the two hold the same map contents */
bool pw_desired_equal(const struct pw_desired *a, const struct pw_desired *b);
size_t pw_desired_policy_keys(const struct pw_desired *d);

/*
 * Compile the state. prev (optional) is the result of compiling the state as it was at the
 * last commit: subjects no change in st's log can touch are copied from it. NULL: compile
 * everything.
 */
int pw_compile(const struct pw_state *st, const struct pw_desired *prev, struct pw_desired *out);

const struct pw_dsubject *pw_desired_subject(const struct pw_desired *d, uint32_t id);
const struct pw_endpoint *pw_desired_endpoint(const struct pw_desired *d, uint32_t ep_id);

/* The ipcache answer for an address, as the kernel's longest-prefix lookup gives it. */
void pw_desired_ipcache_lookup(const struct pw_desired *d, const struct pw_addr *a,
			       uint32_t *identity, uint32_t *cidr_identity);

/*
 * The kernel's decision for subject (flags = its endpoint's) talking to peer address a in
 * direction dir, evaluated on the desired state exactly as bpf/lib/policy.h does it.
 * Returns PW_OK_NOT_ISOLATED, PW_OK_POLICY (cookie set), PW_OK_AUDIT or PW_DROP_POLICY.
 */
int pw_desired_decide(const struct pw_desired *d, uint32_t subject, uint32_t flags, uint8_t dir,
		      const struct pw_addr *a, uint8_t proto, uint16_t port, uint32_t *cookie,
		      uint32_t *peer_id);

/*
 * The verdict as if the audit policies were enforced too: PW_OK_NOT_ISOLATED, PW_OK_POLICY
 * (cookie: the deciding rule, an audit one included) or PW_DROP_POLICY. pw_desired_decide()
 * gives the kernel's answer: PW_OK_AUDIT where this one is a drop and the enforced one a pass.
 */
int pw_desired_decide_audit(const struct pw_desired *d, uint32_t subject, uint32_t flags,
			    uint8_t dir, const struct pw_addr *a, uint8_t proto, uint16_t port,
			    uint32_t *cookie);

/* qsort comparators: the orders the arrays of struct pw_desired are kept in */
int pw_dkey_cmp(const void *a, const void *b); /* within a subject: dir, peer, proto, port */
int pw_dipc_cmp(const void *a, const void *b);

/* dkey <-> the datapath's range entry (an aligned block is exactly one trie key) */
void pw_dkey_range(const struct pw_dkey *k, uint16_t *lo, uint16_t *hi);

#endif /* PW_CTL_COMPILE_H */
