/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Services in the core: the checks that need other objects (clusterIP inside the service
 * CIDRs and owned by one Service, a slice's Service existing), the translation tables written
 * into the datapath (frontends, backend slots, backends: include/podwall/service.h), and the
 * queries (get services, describe service, the backends behind a ClusterIP).
 *
 * The tables are recomputed from the store on every sync and written as a difference, in an
 * order that never lets a socket read a slot that does not exist. A backend that leaves every
 * frontend loses its conntrack entries (counted), so its flows end with a record.
 */
#ifndef PW_CTL_SVC_H
#define PW_CTL_SVC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <podwall/datapath.h>

#include "model.h"
#include "store.h"

struct pw_svcs;

/* Kubernetes' defaults (kube-apiserver --service-cluster-ip-range; kind's IPv6 range) */
#define PW_SVC_CIDRS_DEFAULT "10.96.0.0/12,fd00:10:96::/112"

/* cidrs: comma-separated prefixes ("" or NULL: the defaults); -EINVAL names the bad one in err */
int pw_svcs_new(const char *cidrs, struct pw_svcs **out, char *err, size_t err_len);
void pw_svcs_free(struct pw_svcs *s);
/* Adopt the tables a previous daemon left in the pinned maps (before the first sync). */
int pw_svcs_recover(struct pw_svcs *s, struct pw_dp *dp);

typedef void (*pw_svc_err_fn)(void *ctx, const struct pw_object *o, const char *msg);
/*
 * Check the Services and EndpointSlices the pending log created or changed from entry `from`
 * on; 0 or -EINVAL. slices: also that each slice's Service exists (off while the core holds
 * at start-up, where a slice's file may be read before its Service's).
 */
int pw_svcs_check(const struct pw_svcs *s, const struct pw_state *st, size_t from, bool slices,
		  pw_svc_err_fn err, void *ctx);
/*
 * Write the tables the store implies (dp may be NULL: compute only). The connections of a
 * backend that leaves every frontend end: its conntrack entries go, and its sockets in the
 * local pods' network namespaces (found from their cgroups under cgroup_root) are aborted.
 */
int pw_svcs_sync(struct pw_svcs *s, struct pw_dp *dp, const struct pw_state *st,
		 const char *cgroup_root);

struct pw_svc_stats {
	size_t frontends;
	size_t backends;
	uint64_t flows_ended;  /* conntrack entries removed with their backend */
	uint64_t conns_ended;  /* client sockets aborted with their backend */
	uint64_t end_failures; /* walks that could not end connections (see the log) */
	uint64_t syncs_written;
};
void pw_svcs_stats(const struct pw_svcs *s, struct pw_svc_stats *out);

struct pw_svc_backend_ref {
	struct pw_addr addr;
	uint16_t port;
};
/*
 * The backends frontend (a, port, proto) translates to now, in slot order: *out (the caller
 * frees) and *n; *svc_id its number in records. -ENOENT when no frontend matches.
 */
int pw_svcs_backends(const struct pw_svcs *s, const struct pw_addr *a, uint16_t port, uint8_t proto,
		     struct pw_svc_backend_ref **out, size_t *n, uint32_t *svc_id);
/* Frontends the maps hold for Service ns/name; *backends: their backends summed */
size_t pw_svcs_of_service(const struct pw_svcs *s, const char *ns, const char *name,
			  size_t *backends);
/* The Service (namespace/name into buf) of a frontend address and port; -ENOENT */
int pw_svcs_name(const struct pw_svcs *s, uint8_t family, const uint32_t addr[4], uint16_t port_be,
		 uint8_t proto, char *buf, size_t len);

#endif /* PW_CTL_SVC_H */
