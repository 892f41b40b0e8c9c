// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The audit/enforce mode of a NetworkPolicy: its own annotation, else its Namespace's. */
#include <string.h>

#include "enforcement.h"

static int mode_of(const struct pw_labels *annotations)
{
	const char *v = pw_labels_get(annotations, PW_ANNOT_ENFORCEMENT);

	/* the parser refuses any other value */
	return !v ? -1 : !strcmp(v, "audit");
}

bool pw_ns_audit(const struct pw_namespace *ns)
{
	return ns && mode_of(&ns->annotations) == 1;
}

bool pw_np_audit(const struct pw_state *st, const struct pw_netpol *np)
{
	const struct pw_sobj *ns;
	int m = mode_of(&np->annotations);

	if (m >= 0)
		return m;
	ns = pw_state_find(st, PW_KIND_NAMESPACE, "", np->namespace);
	return ns && pw_ns_audit(&ns->obj.u.ns);
}

const char *pw_np_mode_str(const struct pw_state *st, const struct pw_netpol *np)
{
	return pw_np_audit(st, np) ? "audit" : "enforce";
}
