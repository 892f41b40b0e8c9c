/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Named ports on ipBlock peers (issue 10, defect 6). An egress rule `to: [{ipBlock}]` with
 * `ports: [{port: NAME}]` allows, for each pod whose address lies in the block (outside its
 * excepts), NAME as that pod's own container port: the destination pod resolves the name, as
 * for selector peers. The datapath knows an address's pod identity and its longest referenced
 * prefix (the CIDR identity), and pods sharing labels may sit inside and outside the block or
 * number the name differently: the only exact key is per address. So every such pod address
 * is referenced as a host prefix (/32, /128) CIDR identity of its own, held here, and the
 * compiler allows the resolved port towards that identity (pw_named_cidr_peer_ports).
 *
 * The set is recomputed before each compile from the store (pw_named_cidrs_sync): it only
 * holds addresses while some policy needs them, so a node with no such rule pays nothing.
 */
#ifndef PW_CTL_NAMEDCIDR_H
#define PW_CTL_NAMEDCIDR_H

#include "store.h"

struct pw_named_cidrs {
	size_t n, cap;
	struct pw_prefix *v; /* held references (pw_cidr_acquire), sorted */
};

/* Acquire the host prefixes the store's policies now need, release the others. */
int pw_named_cidrs_sync(struct pw_state *st, struct pw_named_cidrs *h);
/* Release everything held (before the store goes, or with it: then only frees). */
void pw_named_cidrs_clear(struct pw_state *st, struct pw_named_cidrs *h);

/* Whether the rule has an ipBlock peer and a named port: its entries depend on pods. */
bool pw_rule_named_ipblock(const struct pw_np_rule *r);

/* Whether addr lies in the block and in none of its excepts. */
bool pw_ipblock_holds(const struct pw_ipblock *b, const struct pw_addr *a);

/* The host prefix of an address. */
void pw_host_prefix(const struct pw_addr *a, struct pw_prefix *out);

#endif
