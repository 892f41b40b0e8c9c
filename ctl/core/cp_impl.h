/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The core's own state, shared by its transaction (cp.c) and its queries (query.c) and by
 * nobody outside ctl/core/.
 */
#ifndef PW_CTL_CP_IMPL_H
#define PW_CTL_CP_IMPL_H

#include "compile.h"
#include "cp.h"
#include "reconcile.h"
#include "store.h"
#include "svc.h"

struct pw_cp {
	struct pw_dp *dp;
	pw_log_fn log;
	void *log_ctx;
	char *cgroup_root;
	struct pw_state st;
	struct pw_svcs *svcs;  /* Services: checks, translation tables, queries (svc.h) */
	struct pw_desired cur; /* what the maps hold */
	bool written;	       /* cur is our own compile result (else read back at start) */
	bool hold;
	struct pw_stray_ep *strays;
	size_t n_strays;
	/* endpoints found in the pinned maps at start: pods that come back keep their ep_id */
	struct pw_endpoint *rec_eps;
	size_t n_rec_eps;
	uint64_t mark;
	uint64_t syncs, sync_failures;
	struct pw_rstats last;
	char cookie_buf[512];
};

#endif /* PW_CTL_CP_IMPL_H */
