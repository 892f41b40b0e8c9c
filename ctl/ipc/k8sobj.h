/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Objects as Kubernetes prints them (issue 10, defect 7): `podwall get ... -o json|yaml` gives
 * what `kubectl get -o json|yaml` gives for the same objects (apiVersion, kind, metadata, spec,
 * status), so scripts written for kubectl work. Rendered from the typed model: the fields
 * podwall reads are printed back in the API server's spelling with its defaults filled in
 * (policyTypes, protocol), empty fields left out as the API server's omitempty does.
 */
#ifndef PW_CTL_K8SOBJ_H
#define PW_CTL_K8SOBJ_H

#include <json-c/json.h>

#include "cp.h"
#include "model.h"

/* One object; NULL on -ENOMEM. */
json_object *pw_k8s_object(const struct pw_object *o);

/*
 * podwall's own state of each object (identity, endpoint, enforcement state, source...: the
 * columns of `podwall get`) is under status.podwall, which kubectl scripts never read.
 *
 * The objects of one kind (namespaces, pods, networkpolicies), in namespace/name order, ns
 * NULL for every namespace: an array the caller puts. -EINVAL for identities (no object).
 */
int pw_cp_objects(struct pw_cp *cp, enum pw_cp_list what, const char *ns, json_object **out);

#endif
