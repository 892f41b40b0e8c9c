/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The core's own state, shared by its transaction (cp.c), its queries (query.c) and the CNI
 * bindings (binds.c, cnibind.c), and by nobody outside ctl/core/.
 */
#ifndef PW_CTL_CP_IMPL_H
#define PW_CTL_CP_IMPL_H

#include "cnibind_int.h"
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
	struct pw_binds binds; /* CNI bindings (binds.c, cnibind.c) */
};

void cp_log(struct pw_cp *cp, enum pw_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* End of one call: write it, or (held) keep it staged; undo this call's part on error. */
int cp_finish(struct pw_cp *cp, size_t mark, int err, struct pw_diags *diags);

#endif /* PW_CTL_CP_IMPL_H */
