/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The binding table inside the core (cp.c calls these at its hooks; see cnibind.h).
 */
#ifndef PW_CTL_CNIBIND_INT_H
#define PW_CTL_CNIBIND_INT_H

#include "compile.h"
#include "cp.h"
#include "store.h"

struct pw_binding {
	char *container_id, *ns, *name, *uid, *ifname, *netns;
	char *cgroup; /* relative to --cgroup-root */
	size_t n_ips;
	struct pw_addr ips[PW_POD_MAX_IPS];
	/*
	 * The Pod object's own fields the binding overlays (status.podIPs, and interface and
	 * cgroup: its annotations', or none where cluster mode made it a peer), given back when
	 * the binding goes.
	 */
	size_t n_orig_ips;
	struct pw_addr orig_ips[PW_POD_MAX_IPS];
	char *orig_interface, *orig_cgroup;
	uint32_t ep_id;
	uint32_t ifindex;
	uint64_t cgroup_id;
	/* the pod as `get pods` shows it while no Pod object exists (points into the above) */
	struct pw_pod view;
};

struct pw_binds {
	size_t n, cap;
	struct pw_binding **v;
	char *path; /* persistence file, or NULL */
};

void pw_binds_clear(struct pw_binds *bs);
void pw_binding_free(struct pw_binding *b);
struct pw_binding *pw_binds_by_id(const struct pw_binds *bs, const char *cid);
struct pw_binding *pw_binds_by_pod(const struct pw_binds *bs, const char *ns, const char *name);
int pw_binds_insert(struct pw_binds *bs, struct pw_binding *b);
/* takes b out of the table (not freed) */
void pw_binds_remove(struct pw_binds *bs, const struct pw_binding *b);
/* *dst = strdup(src) (NULL stays NULL), the old value freed */
int pw_bind_set_str(char **dst, const char *src);
/* b remembers pod's own interface, cgroup and IPs (the fields an overlay replaces) */
int pw_binds_save_orig(struct pw_binding *b, const struct pw_pod *pod);
/*
 * Store the Pod object of so again (a logged update): with binding b's interface, cgroup and
 * IPs, or (b NULL) as its manifest has it, with orig's saved status.podIPs.
 */
int pw_binds_restore_pod(struct pw_state *st, struct pw_sobj *so, const struct pw_binding *b,
			 const struct pw_binding *orig);
/* dst takes src's saved Pod object fields */
int pw_binds_copy_orig(struct pw_binding *dst, const struct pw_binding *src);
/* A Pod object about to enter the store: give it its binding's interface, cgroup and IPs. */
void pw_binds_overlay(struct pw_binds *bs, struct pw_pod *pod);
/* The pod just stored: it and its binding share one endpoint number. */
void pw_binds_after_put(struct pw_binds *bs, struct pw_sobj *so);
/* After a compile: the fail-closed endpoints of bindings without a Pod object. */
int pw_binds_failclosed(const struct pw_binds *bs, const struct pw_state *st, struct pw_desired *d);
/* A link came or went: true when a fail-closed endpoint's ifindex changed. */
bool pw_binds_link_event(struct pw_binds *bs, const char *ifname, uint32_t ifindex);
/*
 * Append to *rows (n of them, realloc'ed) the rows of bindings without a Pod object (of ns, or
 * all), state PW_CP_POD_FAIL_CLOSED, sorted by namespace and name among themselves.
 */
int pw_binds_pod_rows(struct pw_binds *bs, const struct pw_state *st, const char *ns,
		      struct pw_cp_pod_row **rows, size_t *n);

#endif /* PW_CTL_CNIBIND_INT_H */
