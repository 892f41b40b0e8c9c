/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The control-plane core: the object store, identities, selectors, the policy compiler and the
 * reconciler that writes the desired state into the datapath. The daemon (podwalld.c) drives
 * it from its event loop; it never touches libbpf itself.
 *
 * Every mutating call is all or nothing: on error nothing in the store or the kernel changed
 * and diags (when given) says why. On success the change is enforced in the kernel when the
 * call returns.
 */
#ifndef PW_CTL_CP_H
#define PW_CTL_CP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include <podwall/datapath.h>

#include "model.h"
#include "parse.h"

struct pw_cp;

struct pw_cp_opts {
	size_t sz;	 /* sizeof(struct pw_cp_opts) */
	struct pw_dp *dp; /* opened by the caller; the core writes maps and attaches TC */
	pw_log_fn log;
	void *log_ctx;
	/* cgroup v2 directory pods' podwall.io/cgroup paths are relative to (for cgroup ids) */
	const char *cgroup_root;
};

/*
 * Create the core. Identities already in the pinned maps (ipcache, endpoints) are recovered so
 * that a restarted daemon keeps every pod's identity number: conntrack entries and flow
 * records keep their meaning.
 */
int pw_cp_new(const struct pw_cp_opts *opts, struct pw_cp **out);
void pw_cp_free(struct pw_cp *cp);

/*
 * Objects come from sources: each file of the --manifests directory is one source (named by
 * its path), and `podwall apply` is the source "cli". An object (kind, namespace, name) lives
 * in the store once; the last writer wins, as kubectl apply does.
 */

/* Replace every object of `source` with those of m (objects are moved out of m). */
int pw_cp_sync_source(struct pw_cp *cp, const char *source, struct pw_manifest *m,
		      struct pw_diags *diags);
/* Create or update the objects of m (moved out of m) under `source`. */
int pw_cp_apply(struct pw_cp *cp, const char *source, struct pw_manifest *m,
		struct pw_diags *diags);
/* Delete the objects named by m (kind, namespace, name); missing ones are an error. */
int pw_cp_delete(struct pw_cp *cp, const struct pw_manifest *m, struct pw_diags *diags);

/*
 * Start-up: while held, changes go to the store only and nothing is written; pw_cp_flush()
 * then writes them in one reconcile. A restarted daemon holds while it replays its journal and
 * reads every manifest, so the first write never removes what a later source re-adds (no
 * moment of wrong verdicts). pw_cp_flush() releases the hold; on error the held changes are
 * undone and the maps keep what they had.
 */
void pw_cp_hold(struct pw_cp *cp);
int pw_cp_flush(struct pw_cp *cp, struct pw_diags *diags);

/* A host-side interface appeared (ifindex > 0) or went away (ifindex == 0). */
int pw_cp_link_event(struct pw_cp *cp, const char *ifname, uint32_t ifindex);

/* --- queries, as json-c objects the caller puts (owns a reference) ------------------------- */

enum pw_cp_list {
	PW_CP_NAMESPACES,
	PW_CP_PODS,
	PW_CP_NETPOLS,
	PW_CP_IDENTITIES,
};

/* ns == NULL: every namespace */
int pw_cp_get(struct pw_cp *cp, enum pw_cp_list what, const char *ns, json_object **out);
/* the policies selecting the pod and its effective allow list per direction */
int pw_cp_describe_pod(struct pw_cp *cp, const char *ns, const char *name, json_object **out);

struct pw_cp_endpoint_ref {
	const char *ns;	  /* with name: a pod */
	const char *name;
	const char *addr; /* or an address (outside the cluster, or a pod's IP) */
};

/* Verdict for one connection and the policy and rule that decide it (or the isolating ones). */
int pw_cp_explain(struct pw_cp *cp, const struct pw_cp_endpoint_ref *from,
		  const struct pw_cp_endpoint_ref *to, uint8_t proto, uint16_t port,
		  json_object **out);
/* map usage against capacity, counters, pending pods, identities */
int pw_cp_status(struct pw_cp *cp, json_object **out);

/* Map a policy cookie (from an event or a CT entry) to "namespace/name" and rule; NULL if none */
const char *pw_cp_cookie_policy(struct pw_cp *cp, uint32_t cookie, char *rule, size_t rule_len);

/*
 * The NetworkPolicies isolating endpoint ep_id in direction dir (PW_DIR_*): those of its
 * namespace whose podSelector selects it and whose policyTypes include dir, as the maps
 * enforce them now. Fills up to max (pointers valid until the next mutating call); returns
 * how many exist, -ENOENT for an unknown endpoint, -EINVAL.
 */
int pw_cp_isolating(struct pw_cp *cp, uint32_t ep_id, uint8_t dir, const struct pw_netpol **out,
		    size_t max);

/*
 * The most specific ipBlock prefix (cidr or except) holding addr (network order, IPv4 in
 * addr[0]), as the kernel's ipcache lookup finds it: "198.19.0.0/24" into buf. -ENOENT when
 * no policy names a prefix holding it.
 */
int pw_cp_peer_cidr(struct pw_cp *cp, uint8_t family, const uint32_t addr[4], char *buf,
		    size_t len);

#endif /* PW_CTL_CP_H */
