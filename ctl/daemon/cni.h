/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The daemon's side of podwall-cni: the control-socket requests bind (CNI ADD), unbind (DEL)
 * and check (CHECK), decoded into the core's typed calls (cnibind.h).
 *
 *   {"v":1,"op":"bind","binding":{"containerID":"..","namespace":"..","name":"..","uid":"..",
 *        "interface":"<host-side veth>","netns":"..","cgroupPath":"..","ips":["a","b"]}}
 *   -> {"ok":true,"result":{"endpoint":N,"state":"enforced|fail-closed","cgroup":"..",
 *        "usec":N}}
 *   {"v":1,"op":"unbind","containerID":".."} -> {"ok":true,"result":{"endpoint":N|0}}
 *   {"v":1,"op":"check","containerID":"..","interface":".."} -> ok, or an error
 *   {"v":1,"op":"gc","valid":["containerID",..]} -> {"ok":true,"result":{"endpoints":[N..]}}
 * Errors carry "code": the CNI error code the plugin should return.
 */
#ifndef PW_CTL_DAEMON_CNI_H
#define PW_CTL_DAEMON_CNI_H

#include <json-c/json.h>

#include <podwall/datapath.h>

#include "cp.h"
#include "proto.h"

struct pw_cnid {
	struct pw_cp *cp;
	struct pw_dp *dp;
	pw_flow_end_fn on_flow_end; /* records of the flows DEL removes */
	void *flow_end_ctx;
};

/* op is PW_OP_BIND, PW_OP_UNBIND, PW_OP_CHECK or PW_OP_GC; ns (256 bytes) gets the pod's namespace */
json_object *pw_cnid_request(const struct pw_cnid *c, enum pw_op op, json_object *req, char *ns);

#endif /* PW_CTL_DAEMON_CNI_H */
