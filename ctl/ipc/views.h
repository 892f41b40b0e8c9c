/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The JSON views of the core's queries: what `podwall get/describe/explain/status` receive
 * over the control socket. The core answers in typed structures (cp.h); these functions run
 * the query and build the reply's json-c object, the only place the core's results become
 * JSON. Each returns 0 or the query's -errno; *out is the caller's reference.
 */
#ifndef PW_CTL_VIEWS_H
#define PW_CTL_VIEWS_H

#include <json-c/json.h>

#include "cp.h"

/* ns == NULL: every namespace */
int pw_cp_get(struct pw_cp *cp, enum pw_cp_list what, const char *ns, json_object **out);
/* the policies selecting the pod and its effective allow list per direction */
int pw_cp_describe_pod(struct pw_cp *cp, const char *ns, const char *name, json_object **out);
/* Verdict for one connection and the policy and rule that decide it (or the isolating ones). */
int pw_cp_explain(struct pw_cp *cp, const struct pw_cp_endpoint_ref *from,
		  const struct pw_cp_endpoint_ref *to, uint8_t proto, uint16_t port,
		  json_object **out);
/* svcviews.c: Services (slices false) or EndpointSlices (true) of ns (NULL: all) */
int pw_view_services(struct pw_cp *cp, bool slices, const char *ns, json_object **out);
/* a Service: ports, ClusterIPs and the backends each frontend translates to now */
int pw_cp_describe_service(struct pw_cp *cp, const char *ns, const char *name, json_object **out);
/* one backend as text: address:port and its pod */
json_object *pw_view_svc_backend(const struct pw_cp_svc_backend *b);
/* the quarantined pods: [{namespace, name, since, sinceUnix, reason, allowDns}] */
int pw_cp_get_quarantines(struct pw_cp *cp, const char *ns, json_object **out);
/* map usage against capacity, counters, pending pods, identities */
int pw_cp_status(struct pw_cp *cp, json_object **out);

#endif /* PW_CTL_VIEWS_H */
