/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Identities: label sets -> numbers, CIDR prefixes -> numbers, and policy rules -> cookies.
 *
 * All three tables are refcounted with a deferred free: a release that drops an entry to zero
 * keeps it (a "zombie") until pw_idtab_commit(). So a change that fails to reach the kernel can
 * be undone by re-acquiring what it released, and every number comes back unchanged; and a
 * commit knows exactly which entries were born and which died since the last one (the
 * compiler's incremental work list).
 */
#ifndef PW_CTL_IDENTITY_H
#define PW_CTL_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "htab.h"
#include "model.h"

/* --- label identities ------------------------------------------------------------------------- */

/* Identity labels take this prefix for namespace labels, so a pod label cannot pose as one. */
#define PW_ID_NS_LABEL_PREFIX "k8s:ns."
#define PW_ID_NS_NAME_LABEL   "k8s:namespace"
#define PW_ID_PORT_PREFIX     "k8s:port."

struct pw_ident {
	uint32_t id;
	char *key; /* canonical label string: the identity's name */
	char *ns;
	struct pw_labels pod_labels;
	struct pw_labels ns_labels;
	/* the named container ports of its pods (named ports resolve per destination identity) */
	size_t n_ports;
	struct pw_container_port *ports;
	uint32_t refs;	      /* pods holding it */
	uint32_t local_refs;  /* of which bound to this node (interface or cgroup annotation) */
	uint32_t refs_synced; /* values at the last commit: born/died/local changes since */
	uint32_t local_synced;
	uint32_t hash;
};

struct pw_cidr_ident {
	uint32_t id; /* PW_ID_CIDR_FLAG | n */
	struct pw_prefix prefix;
	uint32_t refs; /* ipBlock fields (cidr and each except) referencing it */
	uint32_t refs_synced;
	uint32_t hash;
};

struct pw_cookie {
	uint32_t cookie;
	char *ns;
	char *name;
	uint8_t dir; /* PW_DIR_* */
	uint32_t rule;
	uint32_t refs;
	uint32_t refs_synced;
	uint32_t hash;
};

struct pw_addr_hint {
	struct pw_addr addr;
	uint32_t id;
};

struct pw_prefix_hint {
	struct pw_prefix prefix;
	uint32_t id;
};

struct pw_idtab {
	/* label identities, sorted by id */
	size_t n_ids, cap_ids;
	struct pw_ident **ids;
	struct pw_htab by_key;
	uint32_t next_id;
	/* CIDR identities, sorted by id */
	size_t n_cidrs, cap_cidrs;
	struct pw_cidr_ident **cidrs;
	struct pw_htab by_prefix;
	uint32_t next_cidr;
	/* cookies: by cookie value and by (ns, name, dir, rule) */
	size_t n_cookies, cap_cookies;
	struct pw_cookie **cookies;
	struct pw_htab cookie_by_rule;
	struct pw_htab cookie_by_val;
	/*
	 * Recovered from the pinned maps at start: which identity an address had, which CIDR
	 * identity a prefix had. Used for first allocations until the first commit.
	 */
	size_t n_addr_hints;
	struct pw_addr_hint *addr_hints;
	size_t n_prefix_hints;
	struct pw_prefix_hint *prefix_hints;
	bool hints_done; /* set by the first commit */
	/*
	 * Cluster mode: a new number is derived from the label key (or the prefix), probing
	 * upward only on a collision, so every node gives one label set the same number
	 * without asking anyone. Otherwise numbers are handed out in order.
	 */
	bool derived;
};

void pw_idtab_init(struct pw_idtab *t);
void pw_idtab_clear(struct pw_idtab *t);

/* Canonical key and the label list of an identity, for display */
int pw_ident_key(const char *ns, const struct pw_labels *ns_labels,
		 const struct pw_labels *pod_labels, const struct pw_container_port *ports,
		 size_t n_ports, char **out);

/*
 * Take a reference on the identity of a pod with these labels in namespace ns (whose labels
 * are ns_labels) and named ports. ips (optional) are the pod's addresses, used to reuse the
 * number the address had before a restart. local: the pod is bound to this node.
 */
int pw_ident_acquire(struct pw_idtab *t, const char *ns, const struct pw_labels *ns_labels,
		     const struct pw_labels *pod_labels, const struct pw_container_port *ports,
		     size_t n_ports, const struct pw_addr *ips, size_t n_ips, bool local,
		     struct pw_ident **out);
void pw_ident_release(struct pw_idtab *t, struct pw_ident *id, bool local);
struct pw_ident *pw_ident_get(const struct pw_idtab *t, uint32_t id);
/* Named port of an identity, matching protocol: 1..65535 or -ENOENT */
int pw_ident_named_port(const struct pw_ident *id, const char *name, uint8_t proto);
static inline bool pw_ident_alive(const struct pw_ident *id)
{
	return id->refs > 0;
}

int pw_cidr_acquire(struct pw_idtab *t, const struct pw_prefix *p, struct pw_cidr_ident **out);
void pw_cidr_release(struct pw_idtab *t, const struct pw_prefix *p);
struct pw_cidr_ident *pw_cidr_find(const struct pw_idtab *t, const struct pw_prefix *p);
struct pw_cidr_ident *pw_cidr_get(const struct pw_idtab *t, uint32_t id);

/* Cookies are a hash of the rule's name, so they survive a restart (flow records keep them). */
int pw_cookie_acquire(struct pw_idtab *t, const char *ns, const char *name, uint8_t dir,
		      uint32_t rule, uint32_t *cookie);
void pw_cookie_release(struct pw_idtab *t, const char *ns, const char *name, uint8_t dir,
		       uint32_t rule);
const struct pw_cookie *pw_cookie_get(const struct pw_idtab *t, uint32_t cookie);
/* cookie of a rule that holds one, 0 otherwise */
uint32_t pw_cookie_find(const struct pw_idtab *t, const char *ns, const char *name, uint8_t dir,
			uint32_t rule);

/* Recovery hints (before any acquire) */
int pw_idtab_hint_addr(struct pw_idtab *t, const struct pw_addr *a, uint32_t id);
int pw_idtab_hint_prefix(struct pw_idtab *t, const struct pw_prefix *p, uint32_t id);

/* true when some CIDR identity was born or died since the last commit */
bool pw_idtab_cidrs_changed(const struct pw_idtab *t);
/* Free every zombie and remember the current counts as synced. */
void pw_idtab_commit(struct pw_idtab *t);

#endif /* PW_CTL_IDENTITY_H */
