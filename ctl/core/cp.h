/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The control-plane core: the object store, identities, selectors, the policy compiler and the
 * reconciler that writes the desired state into the datapath. The daemon (ctl/daemon/) drives
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

#include <podwall/datapath.h>

#include "model.h"
#include "parse.h"

struct pw_cp;

struct pw_cp_opts {
	size_t sz;	  /* sizeof(struct pw_cp_opts) */
	struct pw_dp *dp; /* opened by the caller; the core writes maps and attaches TC */
	pw_log_fn log;
	void *log_ctx;
	/* cgroup v2 directory pods' podwall.io/cgroup paths are relative to (for cgroup ids) */
	const char *cgroup_root;
	/* comma-separated service CIDRs a clusterIP must lie in; NULL: Kubernetes' defaults */
	const char *service_cidrs;
	/* cluster mode: identity numbers derived from the labels, equal on every node */
	bool derived_ids;
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

/*
 * --- queries: typed results --------------------------------------------------------------
 *
 * Pointers in a result (names, labels, policies) point into the core's store: they are valid
 * until the next mutating call (apply, delete, sync, flush, link event). The caller frees
 * only what the result's own free function says. JSON views of these results, for the
 * control socket, are in ctl/ipc/views.h.
 */

enum pw_cp_list {
	PW_CP_NAMESPACES,
	PW_CP_PODS,
	PW_CP_NETPOLS,
	PW_CP_IDENTITIES,
	PW_CP_SERVICES,
	PW_CP_EPSLICES,
};

enum pw_cp_pod_state {
	PW_CP_POD_ENFORCED, /* its endpoint is in the maps */
	PW_CP_POD_PENDING,  /* bound to this node, its interface or cgroup not there yet */
	PW_CP_POD_REMOTE,   /* not bound to this node: known for its labels and addresses */
	/* bound through CNI, its Pod object not known (yet): nothing in or out but replies */
	PW_CP_POD_FAIL_CLOSED,
};
const char *pw_cp_pod_state_str(enum pw_cp_pod_state s);

struct pw_cp_ns_row {
	const struct pw_namespace *ns;
	const char *source;
};

struct pw_cp_pod_row {
	const struct pw_pod *pod; /* namespace, name, labels, ips, interface, cgroup */
	const char *source;
	uint32_t identity;
	enum pw_cp_pod_state state;
	uint32_t ep_id;	    /* 0: no endpoint */
	uint32_t ifindex;   /* 0: no interface yet */
	uint64_t cgroup_id; /* 0: none */
};

struct pw_cp_netpol_row {
	const struct pw_netpol *np;
	const char *source;
	size_t selected; /* pods of its namespace its podSelector selects */
	bool audit;	 /* podwall.io/enforcement: audit (its own, else its namespace's) */
};

struct pw_cp_ident_row {
	uint32_t identity;
	const char *ns;	 /* "" for a CIDR identity */
	const char *key; /* the identity's labels, ';'-separated; NULL for a CIDR identity */
	bool is_cidr;
	struct pw_prefix prefix; /* a CIDR identity's prefix */
	uint32_t refs;
	uint32_t local_refs; /* pod identities only */
};

/*
 * The objects of one kind, sorted by namespace then name; ns == NULL: every namespace
 * (namespaces are never filtered). *out is one allocation the caller frees.
 */
int pw_cp_list_namespaces(struct pw_cp *cp, struct pw_cp_ns_row **out, size_t *n);
int pw_cp_list_pods(struct pw_cp *cp, const char *ns, struct pw_cp_pod_row **out, size_t *n);
int pw_cp_list_netpols(struct pw_cp *cp, const char *ns, struct pw_cp_netpol_row **out, size_t *n);
/* pod identities in use (of ns, or all), then, when ns == NULL, CIDR identities in use */
int pw_cp_list_identities(struct pw_cp *cp, const char *ns, struct pw_cp_ident_row **out,
			  size_t *n);

/*
 * The source that last wrote the object (kind, namespace, name): "cli" or a manifest file's
 * path; NULL when the core lacks the object. ns is ignored for a Namespace.
 */
const char *pw_cp_object_source(struct pw_cp *cp, enum pw_kind kind, const char *ns,
				const char *name);

/* One allow-list entry of a subject as the maps hold it. */
struct pw_cp_allow {
	uint8_t dir;   /* PW_DIR_* */
	bool audit;    /* an audit policy's entry: recorded, never enforced */
	uint8_t proto; /* 0: any protocol (ports ignored) */
	uint16_t port_lo, port_hi;
	uint32_t peer;	 /* peer identity; PW_ID_ANY: any peer */
	uint32_t cookie; /* the rule that put it there (pw_cp_cookie_policy), 0: none */
};

/* A quarantined pod (the table is keyed by name: the pod may be gone). */
struct pw_cp_quarantine_row {
	const char *ns;
	const char *name;
	int64_t since;	    /* unix seconds */
	const char *reason; /* NULL: none given */
	bool allow_dns;
};

/* A pod, the policies that select it and its effective allow list per direction. */
struct pw_cp_pod_info {
	struct pw_cp_pod_row row;
	const char *identity_key; /* its identity's labels, ';'-separated */
	bool has_endpoint;	  /* the endpoint as the maps hold it: */
	uint32_t ep_id, ep_ifindex, ep_policy_gen;
	uint64_t ep_cgroup_id;
	const struct pw_netpol **policies[2]; /* [PW_DIR_INGRESS], [PW_DIR_EGRESS]: enforced */
	size_t n_policies[2];
	const struct pw_netpol **audit_policies[2]; /* the audit ones selecting it */
	size_t n_audit_policies[2];
	bool isolated[2];
	bool quarantined; /* then: */
	struct pw_cp_quarantine_row quarantine;
	struct pw_cp_allow *allow; /* in the maps' order (direction, peer, protocol, port) */
	size_t n_allow;
};
int pw_cp_pod_info(struct pw_cp *cp, const char *ns, const char *name, struct pw_cp_pod_info *out);
void pw_cp_pod_info_free(struct pw_cp_pod_info *info);

struct pw_cp_endpoint_ref {
	const char *ns; /* with name: a pod */
	const char *name;
	const char *addr; /* or an address (outside the cluster, or a pod's IP) */
};

/* One side of a connection's verdict, evaluated on what the maps hold. */
struct pw_cp_side {
	uint8_t dir;	      /* PW_DIR_* */
	bool family_mismatch; /* the two ends' address families differ */
	bool enforced;	      /* this end is a local endpoint; else reason is no-endpoint */
	uint32_t identity;    /* enforced only: */
	uint32_t peer_identity;
	unsigned int reason; /* PW_* reason */
	uint32_t cookie;     /* the deciding rule, 0: none */
	bool denied;
	const struct pw_netpol **isolated_by; /* denied only: the policies isolating this end */
	size_t n_isolated_by;
	bool quarantined; /* this end is a quarantined pod: denied whatever the reason says */
	/* as if the audit policies were enforced too (enforced only): */
	unsigned int audit_reason; /* PW_OK_NOT_ISOLATED, PW_OK_POLICY or PW_DROP_POLICY */
	uint32_t audit_cookie;	   /* the deciding rule, an audit one included; 0: none */
	bool audit_denied;
	const struct pw_netpol **audit_isolated_by; /* audit_denied only: every selecting policy */
	size_t n_audit_isolated_by;
};

struct pw_cp_verdict {
	struct pw_cp_side egress, ingress;
	bool denied;
	bool audit_denied; /* the verdict if the audit policies were enforced too */
	uint8_t proto;
	uint16_t port;
};
/* Verdict for one connection and the policy and rule that decide it (or the isolating ones). */
int pw_cp_verdict(struct pw_cp *cp, const struct pw_cp_endpoint_ref *from,
		  const struct pw_cp_endpoint_ref *to, uint8_t proto, uint16_t port,
		  struct pw_cp_verdict *out);
void pw_cp_verdict_free(struct pw_cp_verdict *v);

/* Map usage against capacity, counters, pending pods, identities. */
struct pw_cp_counts {
	struct pw_map_usage maps[PW_DPMAP_COUNT]; /* every map but the event ring */
	size_t n_maps;
	const struct pw_pod **pending; /* local pods waiting for their interface or cgroup */
	size_t n_pending;
	size_t namespaces, pods, local_pods, netpols, identities, cidr_identities, subjects;
	size_t policy_keys;
	uint64_t syncs, sync_failures, last_recompiled;
	/* Services: objects, the frontends and backends the maps hold, backend flows ended */
	size_t services, epslices, svc_frontends, svc_backends;
	uint64_t svc_flows_ended, svc_conns_ended, svc_end_failures;
	bool has_metrics; /* a datapath is open: metrics[] is what it counts (zeroed if unread) */
	struct pw_metric metrics[PW_METRICS_SLOTS];
};
int pw_cp_counts(struct pw_cp *cp, struct pw_cp_counts *out);
void pw_cp_counts_free(struct pw_cp_counts *c);

/* --- Services --------------------------------------------------------------------------- */

struct pw_cp_svc_row {
	const struct pw_service *svc;
	const char *source;
	size_t frontends; /* (clusterIP, port) pairs the maps translate */
	size_t backends;  /* ready backends over those frontends */
};

struct pw_cp_eps_row {
	const struct pw_epslice *eps;
	const char *source;
	size_t ready; /* endpoints whose conditions.ready is not false */
};

int pw_cp_list_services(struct pw_cp *cp, const char *ns, struct pw_cp_svc_row **out, size_t *n);
int pw_cp_list_epslices(struct pw_cp *cp, const char *ns, struct pw_cp_eps_row **out, size_t *n);

struct pw_cp_svc_backend {
	struct pw_addr addr;
	uint16_t port;
	const struct pw_pod *pod; /* the pod holding the address, or NULL */
};

/* One (clusterIP, Service port) as the maps translate it now. */
struct pw_cp_svc_frontend {
	struct pw_addr ip;
	uint16_t port;
	uint8_t proto;
	const char *port_name; /* "" when unnamed */
	uint32_t svc_id;       /* the frontend's number in records; 0 when not written */
	size_t n_backends;
	struct pw_cp_svc_backend *backends;
};

struct pw_cp_svc_info {
	struct pw_cp_svc_row row;
	size_t n_frontends;
	struct pw_cp_svc_frontend *frontends;
};
/* -ENOENT when the core lacks the Service */
int pw_cp_service_info(struct pw_cp *cp, const char *ns, const char *name,
		       struct pw_cp_svc_info *out);
void pw_cp_service_info_free(struct pw_cp_svc_info *info);

/*
 * A connection to a ClusterIP: the socket layer picks one ready backend and judges it, so the
 * answer is the verdict for each (the connection works when it lands on an allowed one).
 * -ENOENT when to is no frontend (addr, port, proto) of a Service.
 */
struct pw_cp_svc_verdict {
	const struct pw_service *svc;
	struct pw_addr ip;
	uint8_t proto;
	uint16_t port;
	size_t n;		      /* ready backends */
	size_t allowed;		      /* of which policy allows */
	struct pw_cp_svc_backend *be; /* [n] */
	struct pw_cp_verdict *v;      /* [n]: the verdict to each backend at its port */
};
int pw_cp_service_verdict(struct pw_cp *cp, const struct pw_cp_endpoint_ref *from,
			  const struct pw_addr *ip, uint8_t proto, uint16_t port,
			  struct pw_cp_svc_verdict *out);
void pw_cp_service_verdict_free(struct pw_cp_svc_verdict *v);

/* The Service ("namespace/name") of a frontend (address, port in network order, proto) */
int pw_cp_service_name(struct pw_cp *cp, uint8_t family, const uint32_t addr[4], uint16_t port_be,
		       uint8_t proto, char *buf, size_t len);

/*
 * A peer identity in words: "any", "world", "host", a CIDR identity's prefix, a pod
 * identity's labels, else "identity N". Returns buf or a string of the store.
 */
const char *pw_cp_peer_str(struct pw_cp *cp, uint32_t peer, char *buf, size_t len);

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

/* --- quarantine (the pods' endpoints get PW_EP_F_QUARANTINE; enforced when the call returns) */

struct pw_cp_qref {
	const char *ns;
	const char *name;
};

struct pw_cp_qopts {
	const char *reason; /* may be NULL */
	bool allow_dns;
	int64_t since;	 /* unix seconds; an entry already there keeps its own */
	bool must_exist; /* refuse a pod the store does not hold (a restore passes false) */
};

/* Quarantine the pods (lift: end their quarantine), all or nothing. -ENOENT names the pod. */
int pw_cp_quarantine(struct pw_cp *cp, const struct pw_cp_qref *pods, size_t n, bool lift,
		     const struct pw_cp_qopts *o, struct pw_diags *diags);
/* The quarantined pods by namespace, name; ns NULL: all. *out is one allocation to free. */
int pw_cp_list_quarantines(struct pw_cp *cp, const char *ns, struct pw_cp_quarantine_row **out,
			   size_t *n);
/*
 * The names of the pods of ns an equality-based label selector text ("k=v,k!=v,k,!k")
 * selects, in one allocation to free (strings of the store). -EINVAL with why filled.
 */
int pw_cp_select_pods(struct pw_cp *cp, const char *ns, const char *selector,
		      const char ***names, size_t *n, char *why, size_t why_len);
/* The quarantine reason of endpoint ep_id ("" when none was given); NULL: not quarantined */
const char *pw_cp_quarantine_reason(struct pw_cp *cp, uint32_t ep_id);

#endif /* PW_CTL_CP_H */
