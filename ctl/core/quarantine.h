/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Quarantined pods, by (namespace, name): the compiler sets PW_EP_F_QUARANTINE (and
 * PW_EP_F_QUARANTINE_DNS) on their endpoints. Kept in the store next to the objects, so that
 * every compile (an unrelated apply included) keeps them, and a pod that comes back under the
 * same name is still quarantined.
 */
#ifndef PW_CTL_QUARANTINE_H
#define PW_CTL_QUARANTINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pw_quarantine {
	char *ns;
	char *name;
	int64_t since; /* unix seconds */
	char *reason;  /* may be NULL */
	bool allow_dns;
};

struct pw_qtab {
	size_t n, cap;
	struct pw_quarantine *v; /* unordered */
};

void pw_qtab_clear(struct pw_qtab *t);
struct pw_quarantine *pw_qtab_find(const struct pw_qtab *t, const char *ns, const char *name);
/* Add or replace (since kept when replacing); copies the strings. */
int pw_qtab_put(struct pw_qtab *t, const char *ns, const char *name, int64_t since,
		const char *reason, bool allow_dns);
/* -ENOENT when absent */
int pw_qtab_del(struct pw_qtab *t, const char *ns, const char *name);
int pw_qtab_copy(struct pw_qtab *dst, const struct pw_qtab *src);

#endif /* PW_CTL_QUARANTINE_H */
