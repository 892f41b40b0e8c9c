// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Cluster mode: `podwall quarantine` writes the quarantine through etcd
 * (<prefix>quarantines/NS/NAME), so it holds on every node, and answers once every live node
 * enforces it (table.c's quar_sync() puts it in each node's core).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_int.h"

static json_object *quar_value(const struct pw_cp_qref *r, const struct pw_cp_qopts *o,
			       int64_t since)
{
	json_object *v = json_object_new_object();

	json_object_object_add(v, "namespace", json_object_new_string(r->ns));
	json_object_object_add(v, "name", json_object_new_string(r->name));
	if (o->reason)
		json_object_object_add(v, "reason", json_object_new_string(o->reason));
	json_object_object_add(v, "allowDns", json_object_new_boolean(o->allow_dns));
	json_object_object_add(v, "sinceUnix", json_object_new_int64(since));
	return v;
}

/* The entry's sinceUnix, so a re-quarantine (a new reason) keeps when it started. */
static int64_t quar_since(const struct ent *e, int64_t dflt)
{
	json_object *o = e && e->value ? json_tokener_parse(e->value) : NULL;
	int64_t since = o ? pw_etcd_get_i64(o, "sinceUnix") : 0;

	json_object_put(o);
	return since ? since : dflt;
}

json_object *pw_cluster_quarantine(struct pw_cluster *cl, const struct pw_cp_qref *pods, size_t n,
				   bool lift, const struct pw_cp_qopts *o, int64_t timeout_ms,
				   pw_cluster_reply_fn reply, void *ctx)
{
	struct pwc_txns txb = {.ops = json_object_new_array()};
	json_object *done = json_object_new_array(), *res = NULL;

	if (cl->phase != PH_WATCH || !cl->up) {
		res = pwc_error_res("etcd is unreachable%s%s: nothing changed (every node goes on "
				    "enforcing the quarantines it had)",
				    cl->last_error[0] ? ": " : "", cl->last_error);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		char *qk = pwc_quar_key(cl, pods[i].ns, pods[i].name);
		char *pk = pwc_obj_key(cl, PW_KIND_POD, pods[i].ns, pods[i].name);
		struct ent *q = qk ? pwc_ent_find(cl, qk) : NULL;
		struct ent *p = pk ? pwc_ent_find(cl, pk) : NULL;
		json_object *e, *v = NULL;

		free(pk);
		if (!qk) {
			res = pwc_error_res("out of memory: nothing changed");
			goto out;
		}
		if (lift && (!q || !q->value)) {
			res = pwc_error_res("not found: pods \"%s\" is not quarantined in namespace "
					    "\"%s\": nothing changed",
					    pods[i].name, pods[i].ns);
			free(qk);
			goto out;
		}
		if (!lift && o->must_exist && (!p || !p->value)) {
			res = pwc_error_res("not found: pods \"%s\" not found in namespace \"%s\": "
					    "nothing changed",
					    pods[i].name, pods[i].ns);
			free(qk);
			goto out;
		}
		if (!lift)
			v = quar_value(&pods[i], o, quar_since(q, o->since));
		pwc_txn_add(&txb, qk, v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN)
				      : NULL);
		json_object_put(v);
		free(qk);
		e = json_object_new_object();
		json_object_object_add(e, "namespace", json_object_new_string(pods[i].ns));
		json_object_object_add(e, "name", json_object_new_string(pods[i].name));
		json_object_object_add(e, "action",
				       json_object_new_string(lift ? "lifted" : "quarantined"));
		json_object_array_add(done, e);
	}
	res = pwc_waiter_start(cl, done, txb.ops, "pods", timeout_ms, reply, ctx);
	done = txb.ops = NULL;
out:
	json_object_put(done);
	json_object_put(txb.ops);
	return res;
}
