/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Pods bound through CNI (podwall-cni): the runtime tells the daemon which container (sandbox)
 * is which pod, its host-side interface, addresses, network namespace and cgroup. A binding
 * is keyed by container ID and names its pod by namespace/name.
 *
 * A binding overlays its Pod object: the pod's interface, cgroup and addresses are the
 * binding's, so a pod bound this way needs no podwall.io annotations and no status.podIPs,
 * and everything downstream (identities, compiler, reconciler, link events, queries) treats
 * it as any local pod. A binding whose Pod object is not known (yet, or any more) is enforced
 * fail-closed: an endpoint with identity PW_ID_UNKNOWN isolated both ways with no policy
 * entries, so nothing passes in or out but replies, until the Pod object's labels arrive.
 *
 * Bindings are kept in <state-dir>/cni-bindings.json (the daemon instance's own state), so a
 * restarted daemon still knows which container is which pod.
 */
#ifndef PW_CTL_CNIBIND_H
#define PW_CTL_CNIBIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "cp.h"

/* What podwall-cni sends on ADD (strings borrowed). */
struct pw_cni_bind {
	const char *container_id;
	const char *ns, *name, *uid; /* CNI_ARGS K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_UID */
	const char *ifname;	     /* host-side interface, in the daemon's netns */
	const char *netns;	     /* CNI_NETNS, for display and CHECK */
	const char *cgroup_path;     /* runtimeConfig.cgroupPath or NULL */
	size_t n_ips;
	struct pw_addr ips[PW_POD_MAX_IPS];
};

struct pw_cni_bound {
	uint32_t ep_id;
	bool fail_closed;     /* no Pod object yet */
	uint32_t replaced_ep; /* an earlier sandbox of the same pod was unbound: flush its CT */
	char cgroup[1024];    /* the pod cgroup, relative to --cgroup-root */
};

/*
 * Where bindings are kept; loads what the file holds (a missing file is no bindings). Call
 * while held (pw_cp_hold), before the journal and manifests, so their pods are overlaid.
 * NULL path: bindings live in memory only.
 */
int pw_cp_binds_open(struct pw_cp *cp, const char *path);

/*
 * ADD: bind (or re-bind) a container. Returns once the datapath enforces the pod. On error
 * nothing changed and why says what is wrong (-EINVAL bad request, -ENOENT no such cgroup,
 * -ENODEV no such interface, -EXDEV cgroup outside --cgroup-root).
 */
int pw_cp_bind(struct pw_cp *cp, const struct pw_cni_bind *req, struct pw_cni_bound *out, char *why,
	       size_t why_len);
/* DEL: 0 and *ep_id (0 when the container was not bound: DEL is idempotent). */
int pw_cp_unbind(struct pw_cp *cp, const char *container_id, uint32_t *ep_id);
/*
 * CHECK: the container is bound to ifname (when given), the interface and cgroup still exist
 * and the datapath holds its endpoint. -ENOENT / -ESTALE with why.
 */
int pw_cp_bind_check(struct pw_cp *cp, const char *container_id, const char *ifname, char *why,
		     size_t why_len);
/*
 * GC (CNI 1.1): unbind every container not in keep, each as its DEL would. *eps (malloc'ed,
 * *n_eps of them) are the endpoints removed, whose conntrack entries the caller flushes.
 * Continues past a failure and returns the first error.
 */
int pw_cp_binds_gc(struct pw_cp *cp, const char *const *keep, size_t n_keep, uint32_t **eps,
		   size_t *n_eps);
/* Number of bindings, and of those enforced fail-closed */
void pw_cp_binds_count(struct pw_cp *cp, size_t *n, size_t *fail_closed);

#endif /* PW_CTL_CNIBIND_H */
