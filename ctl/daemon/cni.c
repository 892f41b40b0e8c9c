// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cnibind.h"
#include "cni.h"

/* CNI spec error codes (SPEC.md, "Error") */
#define CNI_E_ENV	4 /* invalid necessary environment variables */
#define CNI_E_IO	5
#define CNI_E_CONFIG	7 /* invalid network configuration */
#define CNI_E_TRY_AGAIN 11

static json_object *cni_error(int code, const char *msg)
{
	json_object *res = pw_proto_error(NULL, "%s", msg);

	json_object_object_add(res, "code", json_object_new_int(code));
	return res;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static json_object *do_bind(const struct pw_cnid *c, json_object *req, char *ns)
{
	json_object *b = pw_json_object(req, "binding"), *ips, *res;
	struct pw_cni_bind r = {0};
	struct pw_cni_bound out;
	uint64_t t0 = now_us();
	char why[1024] = "";
	size_t i;
	int err;

	if (!b)
		return cni_error(CNI_E_CONFIG, "bind: no \"binding\" object in the request");
	r.container_id = pw_json_str(b, "containerID");
	r.ns = pw_json_str(b, "namespace");
	r.name = pw_json_str(b, "name");
	r.uid = pw_json_str(b, "uid");
	r.ifname = pw_json_str(b, "interface");
	r.netns = pw_json_str(b, "netns");
	r.cgroup_path = pw_json_str(b, "cgroupPath");
	ips = pw_json_array(b, "ips");
	for (i = 0; ips && i < json_object_array_length(ips); i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(ips, i));

		if (r.n_ips == PW_POD_MAX_IPS) {
			return cni_error(CNI_E_CONFIG,
					 "prevResult gives the pod more than one address per "
					 "family; Kubernetes allows at most one IPv4 and one IPv6");
		}
		if (!s || pw_addr_parse(s, &r.ips[r.n_ips])) {
			snprintf(why, sizeof(why), "prevResult address \"%s\" is not an IP address",
				 s ?: "");
			return cni_error(CNI_E_CONFIG, why);
		}
		r.n_ips++;
	}
	if (r.ns)
		snprintf(ns, 256, "%s", r.ns);
	err = pw_cp_bind(c->cp, &r, &out, why, sizeof(why));
	if (err) {
		int code = err == -EINVAL && (!r.ns || !r.name) ? CNI_E_ENV
			   : err == -ENOMEM || err == -EIO	? CNI_E_TRY_AGAIN
								: CNI_E_CONFIG;

		if (!why[0])
			snprintf(why, sizeof(why), "%s", strerror(-err));
		return cni_error(code, why);
	}
	if (out.replaced_ep && c->dp)
		pw_dp_ct_flush(c->dp, out.replaced_ep, c->on_flow_end, c->flow_end_ctx);
	res = json_object_new_object();
	json_object_object_add(res, "endpoint", json_object_new_int64(out.ep_id));
	json_object_object_add(
		res, "state", json_object_new_string(out.fail_closed ? "fail-closed" : "enforced"));
	json_object_object_add(res, "cgroup", json_object_new_string(out.cgroup));
	json_object_object_add(res, "usec", json_object_new_int64((int64_t)(now_us() - t0)));
	return pw_proto_ok(res);
}

static json_object *do_unbind(const struct pw_cnid *c, json_object *req)
{
	const char *cid = pw_json_str(req, "containerID");
	json_object *res;
	uint32_t ep_id;
	char why[512];
	int err;

	if (!cid || !*cid)
		return cni_error(CNI_E_ENV, "unbind: CNI_CONTAINERID is missing");
	err = pw_cp_unbind(c->cp, cid, &ep_id);
	if (err) {
		snprintf(why, sizeof(why), "cannot unbind container %s: %s", cid, strerror(-err));
		return cni_error(CNI_E_TRY_AGAIN, why);
	}
	/* its flows end with it: no entry of a dead sandbox may admit the next one's packets */
	if (ep_id && c->dp)
		pw_dp_ct_flush(c->dp, ep_id, c->on_flow_end, c->flow_end_ctx);
	res = json_object_new_object();
	json_object_object_add(res, "endpoint", json_object_new_int64(ep_id));
	return pw_proto_ok(res);
}

static json_object *do_check(const struct pw_cnid *c, json_object *req)
{
	const char *cid = pw_json_str(req, "containerID");
	char why[512] = "";
	int err;

	if (!cid || !*cid)
		return cni_error(CNI_E_ENV, "check: CNI_CONTAINERID is missing");
	err = pw_cp_bind_check(c->cp, cid, pw_json_str(req, "interface"), why, sizeof(why));
	if (err)
		return cni_error(CNI_E_CONFIG, why[0] ? why : strerror(-err));
	return pw_proto_ok(NULL);
}

/* every binding whose container the runtime no longer lists goes, as by its DEL */
static json_object *do_gc(const struct pw_cnid *c, json_object *req)
{
	json_object *valid = pw_json_array(req, "valid"), *res, *gone;
	const char **keep = NULL;
	uint32_t *eps = NULL;
	size_t i, n, n_eps = 0;
	char why[256];
	int err;

	if (!valid)
		return cni_error(CNI_E_CONFIG, "gc: no \"cni.dev/valid-attachments\" list");
	n = json_object_array_length(valid);
	keep = calloc(n + 1, sizeof(*keep));
	if (!keep)
		return cni_error(CNI_E_TRY_AGAIN, "gc: out of memory");
	for (i = 0; i < n; i++)
		keep[i] = json_object_get_string(json_object_array_get_idx(valid, i));
	err = pw_cp_binds_gc(c->cp, keep, n, &eps, &n_eps);
	free(keep);
	for (i = 0; c->dp && i < n_eps; i++)
		pw_dp_ct_flush(c->dp, eps[i], c->on_flow_end, c->flow_end_ctx);
	gone = json_object_new_array();
	for (i = 0; i < n_eps; i++)
		json_object_array_add(gone, json_object_new_int64(eps[i]));
	free(eps);
	if (err) {
		json_object_put(gone);
		snprintf(why, sizeof(why), "gc: %s (what could be removed was)", strerror(-err));
		return cni_error(CNI_E_TRY_AGAIN, why);
	}
	res = json_object_new_object();
	json_object_object_add(res, "endpoints", gone);
	return pw_proto_ok(res);
}

json_object *pw_cnid_request(const struct pw_cnid *c, enum pw_op op, json_object *req, char *ns)
{
	ns[0] = '\0';
	switch (op) {
	case PW_OP_BIND:
		return do_bind(c, req, ns);
	case PW_OP_UNBIND:
		return do_unbind(c, req);
	case PW_OP_CHECK:
		return do_check(c, req);
	case PW_OP_GC:
		return do_gc(c, req);
	default:
		return cni_error(CNI_E_CONFIG, "not a CNI request");
	}
}
