/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The reconciler: writes the difference between two desired states into the datapath in an
 * order under which every flow both states allow stays allowed throughout (add before delete):
 *   1. policy adds and updates         (entries for identities no address has yet are inert)
 *   2. ipcache adds and updates        (addresses move to identities already allowed)
 *   3. endpoint upserts, then TC attach (isolation flags land after their entries)
 *   4. endpoint deletes and TC detach
 *   5. ipcache deletes                 (addresses fall back to a shorter prefix, still allowed)
 *   6. policy deletes
 *   7. policy generation bumps         (established flows re-checked against the result)
 * The issue listed ipcache before policy adds; that order denies, for a moment, a pod whose
 * identity changes and every address a new ipBlock prefix takes over from a shorter one.
 */
#ifndef PW_CTL_RECONCILE_H
#define PW_CTL_RECONCILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <podwall/datapath.h>

#include "compile.h"

struct pw_rstats {
	size_t ipc_upd, ipc_del;
	size_t pol_upd, pol_del; /* trie keys */
	size_t ep_upd, ep_del;
	size_t attached, detached;
	size_t bumped;	 /* endpoints re-checked one by one */
	bool bumped_all; /* or all at once */
};

/* An endpoint key in the maps that no endpoint of the current state accounts for. */
struct pw_stray_ep {
	uint32_t ifindex; /* or */
	uint64_t cgroup_id;
};

struct pw_current {
	struct pw_desired d;
	size_t n_strays;
	struct pw_stray_ep *strays;
};

/* Read what the datapath's maps hold now: the state a restarted daemon starts from. */
int pw_reconcile_read(struct pw_dp *dp, struct pw_current *cur);
void pw_current_clear(struct pw_current *cur);

/*
 * Write cur -> next. next's endpoints get the policy generation the maps hold once written
 * (carried over from cur, bumped where the allowed set may have shrunk), so next can be the
 * next call's cur. attach_all: (re)attach TC on every endpoint with an ifindex, not only on
 * new ones (the first write after a start). strays (optional) are deleted with step 4.
 * On error the maps hold a mix of cur and next: write next -> cur (with force) to go back.
 * force: rewrite every entry of next, not only those that differ (a rollback after a partial
 * write does not know which writes landed).
 */
int pw_reconcile_write(struct pw_dp *dp, const struct pw_desired *cur, struct pw_desired *next,
		       const struct pw_stray_ep *strays, size_t n_strays, bool attach_all,
		       bool force, struct pw_rstats *stats);

#endif /* PW_CTL_RECONCILE_H */
