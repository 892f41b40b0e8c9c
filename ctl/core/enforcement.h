/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Audit or enforce: the mode of a NetworkPolicy (annotation podwall.io/enforcement on the
 * policy, else on its Namespace, else enforce). Enforced policies alone decide what passes;
 * audit policies are compiled into the as-if-audit-enforced entry set (PW_POL_DIR_AUDIT) that
 * the datapath consults only where no enforced policy isolates the pod (bpf/lib/policy.h).
 */
#ifndef PW_CTL_ENFORCEMENT_H
#define PW_CTL_ENFORCEMENT_H

#include <stdbool.h>

#include "store.h"

/* true when np is in audit mode, as the store holds it now */
bool pw_np_audit(const struct pw_state *st, const struct pw_netpol *np);
/* "audit" or "enforce" */
const char *pw_np_mode_str(const struct pw_state *st, const struct pw_netpol *np);
/* a Namespace's own annotation says audit (the default of its policies) */
bool pw_ns_audit(const struct pw_namespace *ns);

#endif /* PW_CTL_ENFORCEMENT_H */
