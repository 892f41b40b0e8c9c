// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwalld: the control-socket requests (apply, delete, get, describe, explain, status,
 * flows): parsed from a JSON line, answered from the core, the flow log and the daemon's state.
 */
#define _GNU_SOURCE
#include "cni.h"
#include "cnibind.h"
#include "daemon.h"

/* --- requests ------------------------------------------------------------------------------ */

static json_object *req_apply(struct daemon *d, struct client *cl, json_object *req, bool del)
{
	json_object *docs = pw_json_array(req, "docs"), *res, *objs;
	struct pw_diags diags = {0};
	struct pw_manifest *m = NULL;
	struct snap *s = NULL;
	size_t n = 0;
	int err;

	err = parse_docs(docs, &m, &diags);
	if (err) {
		res = pw_proto_error(diags_json(&diags, PW_DIAG_ERROR), "%s",
				     diags.n_errors ? "the manifests are invalid: nothing changed"
				     : !docs	    ? "request without \"docs\""
						    : strerror(-err));
		goto out;
	}
	if (!m->n) {
		res = pw_proto_error(NULL, "no objects passed to %s", del ? "delete" : "apply");
		goto out;
	}
	if (d->cluster) {
		/* cluster mode: etcd holds the objects; the reply waits for every live node */
		res = pw_cluster_apply(d->cluster, docs, del, pw_json_int(req, "timeout_ms", 0),
				       cluster_reply, cl);
		goto out;
	}
	n = m->n;
	s = snapshot(d, m, del);
	if (!s) {
		res = pw_proto_error(NULL, "out of memory");
		goto out;
	}
	err = del ? pw_cp_delete(d->cp, m, &diags) : pw_cp_apply(d->cp, "cli", m, &diags);
	if (err) {
		dlog(PW_LOG_WARN, "%s from pid %d refused: %s", del ? "delete" : "apply", cl->pid,
		     err == -ENOENT && del ? "not found" : strerror(-err));
		log_diags(&diags, del ? "delete" : "apply");
		res = pw_proto_error(diags_json(&diags, PW_DIAG_ERROR), "%s: nothing changed",
				     err == -ENOENT && del ? "not found" : strerror(-err));
		goto out;
	}
	err = journal_append(d, del ? PW_OP_DELETE : PW_OP_APPLY, docs, s, n);
	if (err)
		dlog(PW_LOG_ERROR,
		     "state: cannot record the change in %s: %s; it is enforced but "
		     "a restart will forget it",
		     d->journal, strerror(-err));
	else
		journal_maybe_compact(d);
	snap_commit(d, s, n, del);
	pods_touch_snap(d, s, n);
	objs = outcomes(s, n);
	for (size_t i = 0; objs && i < json_object_array_length(objs); i++) {
		json_object *o = json_object_array_get_idx(objs, i);

		dlog(PW_LOG_INFO, "cli (pid %d): %s %s%s%s %s", cl->pid, pw_json_str(o, "kind"),
		     pw_json_str(o, "namespace") ?: "", pw_json_str(o, "namespace") ? "/" : "",
		     pw_json_str(o, "name"), pw_json_str(o, "action"));
	}
	res = json_object_new_object();
	json_object_object_add(res, "objects", objs);
	json_object_object_add(res, "warnings", diags_json(&diags, PW_DIAG_WARNING));
	res = pw_proto_ok(res);
out:
	snap_free(s, n);
	pw_manifest_free(m);
	pw_diags_clear(&diags);
	return res;
}

static json_object *req_get(struct daemon *d, json_object *req)
{
	static const struct {
		const char *name;
		enum pw_cp_list what;
	} lists[] = {
		{"namespaces", PW_CP_NAMESPACES},
		{"pods", PW_CP_PODS},
		{"networkpolicies", PW_CP_NETPOLS},
		{"services", PW_CP_SERVICES},
		{"endpointslices", PW_CP_EPSLICES},
		{"identities", PW_CP_IDENTITIES},
	};
	const char *what = pw_json_str(req, "what");
	json_object *out = NULL;

	if (what && !strcmp(what, "quarantines")) {
		int err = pw_cp_get_quarantines(d->cp, pw_json_str(req, "namespace"), &out);

		return err ? pw_proto_error(NULL, "get quarantines: %s", strerror(-err))
			   : pw_proto_ok(out);
	}
	if (what && !strcmp(what, "nodes")) {
		if (!d->cluster)
			return pw_proto_error(NULL, "nodes: this daemon is one node, not in "
						    "cluster mode (no --etcd)");
		return pw_proto_ok(pw_cluster_nodes(d->cluster));
	}

	for (size_t i = 0; what && i < sizeof(lists) / sizeof(lists[0]); i++) {
		int err;

		if (strcmp(what, lists[i].name))
			continue;
		/* "objects": Kubernetes objects (get -o json|yaml), else summary rows */
		if (pw_json_bool(req, "objects") &&
		    (lists[i].what == PW_CP_NAMESPACES || lists[i].what == PW_CP_PODS ||
		     lists[i].what == PW_CP_NETPOLS))
			err = pw_cp_objects(d->cp, lists[i].what, pw_json_str(req, "namespace"),
					    &out);
		else
			err = pw_cp_get(d->cp, lists[i].what, pw_json_str(req, "namespace"), &out);
		if (err)
			return pw_proto_error(NULL, "get %s: %s", what, strerror(-err));
		return pw_proto_ok(out);
	}
	return pw_proto_error(NULL, "the server doesn't have a resource type \"%s\"",
			      what ?: "(none)");
}

static json_object *req_describe(struct daemon *d, json_object *req)
{
	const char *ns = pw_json_str(req, "namespace"), *name = pw_json_str(req, "name");
	const char *kind = pw_json_str(req, "kind");
	json_object *out = NULL;
	int err;

	if (!ns || !name)
		return pw_proto_error(NULL, "describe needs \"namespace\" and \"name\"");
	if (kind && !strcmp(kind, "service")) {
		err = pw_cp_describe_service(d->cp, ns, name, &out);
		if (err == -ENOENT)
			return pw_proto_error(NULL, "services \"%s\" not found in namespace \"%s\"",
					      name, ns);
		if (err)
			return pw_proto_error(NULL, "describe service %s/%s: %s", ns, name,
					      strerror(-err));
		return pw_proto_ok(out);
	}
	err = pw_cp_describe_pod(d->cp, ns, name, &out);
	if (err == -ENOENT)
		return pw_proto_error(NULL, "pods \"%s\" not found in namespace \"%s\"", name, ns);
	if (err)
		return pw_proto_error(NULL, "describe pod %s/%s: %s", ns, name, strerror(-err));
	return pw_proto_ok(out);
}

static int endpoint_ref(json_object *o, struct pw_cp_endpoint_ref *r)
{
	memset(r, 0, sizeof(*r));
	r->addr = pw_json_str(o, "addr");
	r->ns = pw_json_str(o, "namespace");
	r->name = pw_json_str(o, "name");
	if (r->addr ? (r->ns || r->name) : (!r->ns || !r->name))
		return -EINVAL;
	return 0;
}

static json_object *req_explain(struct daemon *d, json_object *req)
{
	struct pw_cp_endpoint_ref from, to;
	int64_t port = pw_json_int(req, "port", -1);
	json_object *out = NULL;
	uint8_t proto;
	int err;

	if (endpoint_ref(pw_json_object(req, "from"), &from) ||
	    endpoint_ref(pw_json_object(req, "to"), &to))
		return pw_proto_error(NULL, "explain: \"from\" and \"to\" each need \"addr\", or "
					    "\"namespace\" and \"name\"");
	if (port < 1 || port > 65535)
		return pw_proto_error(NULL, "explain: \"port\" must be in 1..65535");
	if (pw_ipproto_parse(pw_json_str(req, "proto") ?: "TCP", &proto))
		return pw_proto_error(NULL, "explain: \"proto\" must be TCP, UDP or SCTP");
	err = pw_cp_explain(d->cp, &from, &to, proto, (uint16_t)port, &out);
	if (err == -ENOENT)
		return pw_proto_error(NULL, "explain: no such pod or address");
	if (err)
		return pw_proto_error(NULL, "explain: %s", strerror(-err));
	return pw_proto_ok(out);
}

static json_object *jint64(uint64_t v)
{
	return json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

/* What the options made of the flow log, the event ring and conntrack, for `podwall status`. */
static json_object *settings_json(const struct daemon *d)
{
	static const char *const fsync_names[] = {"rotate", "none", "always"};
	json_object *o = json_object_new_object(), *t = json_object_new_object();

	json_object_object_add(o, "flow_log_max_bytes", jint64(d->fo.max_bytes));
	json_object_object_add(o, "flow_log_keep", jint64(d->fo.keep));
	json_object_object_add(o, "flow_log_fsync",
			       json_object_new_string(fsync_names[d->fo.fsync % 3]));
	json_object_object_add(o, "flow_sample", jint64(d->fo.sample_allowed ?: 1));
	json_object_object_add(
		o, "deny_window_ms",
		jint64(d->fo.rl_disable ? 0
					: (d->fo.rl_window_ns ?: PW_FLOWLOG_RL_WINDOW_DEFAULT) /
						  NSEC_PER_MSEC));
	json_object_object_add(o, "deny_burst", jint64(d->fo.rl_burst ?: 1));
	json_object_object_add(o, "flow_aggregate_s",
			       jint64((int64_t)(d->fo.aggregate_ns / NSEC_PER_SEC)));
	if (d->node_name[0])
		json_object_object_add(o, "node_name", json_object_new_string(d->node_name));
	json_object_object_add(o, "perf_pages_per_cpu", jint64(d->perf_pages ?: 64));
	json_object_object_add(o, "ct_sweep_interval_s", jint64(d->sweep_interval_s));
	json_object_object_add(t, "tcp-syn", jint64(d->cto.tcp_syn_ns / NSEC_PER_SEC));
	json_object_object_add(t, "tcp-established",
			       jint64(d->cto.tcp_established_ns / NSEC_PER_SEC));
	json_object_object_add(t, "tcp-closing", jint64(d->cto.tcp_closing_ns / NSEC_PER_SEC));
	json_object_object_add(t, "udp", jint64(d->cto.udp_ns / NSEC_PER_SEC));
	json_object_object_add(t, "other", jint64(d->cto.other_ns / NSEC_PER_SEC));
	json_object_object_add(o, "ct_timeouts_s", t);
	return o;
}

static json_object *req_status(struct daemon *d)
{
	json_object *core = NULL, *dm = json_object_new_object(), *errs = json_object_new_array();
	int err;

	err = pw_cp_status(d->cp, &core);
	if (err) {
		json_object_put(dm);
		json_object_put(errs);
		return pw_proto_error(NULL, "status: %s", strerror(-err));
	}
	if (!json_object_is_type(core, json_type_object)) {
		json_object *wrap = json_object_new_object();

		json_object_object_add(wrap, "core", core);
		core = wrap;
	}
	json_object_object_add(dm, "pid", json_object_new_int(getpid()));
	json_object_object_add(dm, "uptime_s", json_object_new_int64(time(NULL) - d->started));
	json_object_object_add(dm, "socket", json_object_new_string(d->socket_path));
	json_object_object_add(dm, "bpffs", json_object_new_string(d->bpffs));
	if (d->cgroup_root)
		json_object_object_add(dm, "cgroup_root", json_object_new_string(d->cgroup_root));
	{
		/* podwall-cni: containers bound, and those still waiting for their Pod object */
		json_object *cni = json_object_new_object();
		size_t nb, nfc;

		pw_cp_binds_count(d->cp, &nb, &nfc);
		json_object_object_add(cni, "bindings", json_object_new_int64((int64_t)nb));
		json_object_object_add(cni, "failClosed", json_object_new_int64((int64_t)nfc));
		json_object_object_add(dm, "cni", cni);
	}
	json_object_object_add(dm, "tc_mode", json_object_new_string(pw_dp_tc_mode_name(d->dp)));
	json_object_object_add(dm, "adopted", json_object_new_boolean(pw_dp_adopted(d->dp)));
	if (d->manifests)
		json_object_object_add(dm, "manifests", json_object_new_string(d->manifests));
	for (size_t i = 0; i < d->nsrcerrs; i++) {
		json_object *e = json_object_new_object();

		json_object_object_add(e, "file", json_object_new_string(d->srcerrs[i].path));
		json_object_object_add(e, "errors", json_object_get(d->srcerrs[i].diags));
		json_object_array_add(errs, e);
	}
	json_object_object_add(dm, "manifest_errors", errs);
	json_object_object_add(dm, "links", json_object_new_int(pw_linkwatch_count(d->lw)));
	json_object_object_add(dm, "clients", json_object_new_int((int)d->nclients));
	json_object_object_add(dm, "requests", json_object_new_int64((int64_t)d->requests));
	json_object_object_add(dm, "flow_log",
			       json_object_new_string(d->flow_log ? d->flow_log : "(none)"));
	json_object_object_add(dm, "flow_stats", pw_flowlog_stats_json(d->fl));
	json_object_object_add(dm, "events_short",
			       json_object_new_int64((int64_t)pw_dp_events_short(d->dp)));
	json_object_object_add(dm, "ct_sweeps", json_object_new_int64((int64_t)d->sweeps));
	json_object_object_add(dm, "ct_expired", json_object_new_int64((int64_t)d->swept));
	json_object_object_add(dm, "settings", settings_json(d));
	json_object_object_add(core, "daemon", dm);
	if (d->cluster)
		json_object_object_add(core, "cluster", pw_cluster_status(d->cluster));
	return pw_proto_ok(core);
}

static json_object *req_flows(struct daemon *d, struct client *cl, json_object *req)
{
	json_object *fargs = pw_json_array(req, "filter"), *res;
	int64_t limit = pw_json_int(req, "limit", 100);
	struct pw_flowfilter *f = calloc(1, sizeof(*f));
	size_t n = fargs ? json_object_array_length(fargs) : 0;
	char **argv = calloc(n + 1, sizeof(char *)), msg[256];
	struct timespec now;
	int err;
	/* what the rings hold below their wakeup watermark belongs in this answer */
	pw_dp_events_sync(d->dp);

	if (!f || !argv) {
		free(f);
		free(argv);
		return pw_proto_error(NULL, "out of memory");
	}
	pw_flowfilter_init(f);
	for (size_t i = 0; i < n; i++)
		argv[i] = (char *)json_object_get_string(json_object_array_get_idx(fargs, i));
	clock_gettime(CLOCK_REALTIME, &now);
	err = pw_flowfilter_parse(f, (int)n, argv, (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec,
				  msg, sizeof(msg));
	free(argv);
	if (err) {
		pw_flowfilter_free(f);
		free(f);
		return pw_proto_error(NULL, "flows: %s", msg);
	}
	if (limit < 0)
		limit = 0;
	res = json_object_new_object();
	json_object_object_add(res, "flows",
			       pw_flowlog_recent(d->fl, pw_flowfilter_match_cb, f, (size_t)limit));
	json_object_object_add(res, "lost",
			       json_object_new_int64((int64_t)pw_flowlog_lost_total(d->fl)));
	if (pw_json_bool(req, "follow") && !cl->follow) {
		int id = pw_flowlog_subscribe(d->fl, follower_cb, cl);

		if (id < 0) {
			json_object_put(res);
			pw_flowfilter_free(f);
			free(f);
			return pw_proto_error(NULL, "flows --follow: %s", strerror(-id));
		}
		cl->follow = id;
		cl->filter = f;
		f = NULL;
	}
	if (f) {
		pw_flowfilter_free(f);
		free(f);
	}
	return pw_proto_ok(res);
}

json_object *handle(struct daemon *d, struct client *cl, const char *line, size_t len)
{
	json_object *req = NULL, *res;
	enum pw_op op;
	int err;

	d->requests++;
	err = pw_proto_decode(line, len, &req);
	if (err)
		return pw_proto_error(NULL, "malformed request: not one JSON object");
	err = pw_proto_request_op(req, &op);
	if (err == -EPROTO) {
		res = pw_proto_error(NULL, "unsupported protocol version (this daemon speaks %d)",
				     PW_PROTO_VERSION);
		goto out;
	}
	if (err) {
		res = pw_proto_error(NULL, "unknown operation \"%s\"",
				     pw_json_str(req, "op") ?: "");
		goto out;
	}
	dlog(PW_LOG_DEBUG, "request %s from pid %d", pw_op_name(op), cl->pid);
	switch (op) {
	case PW_OP_APPLY:
	case PW_OP_DELETE: {
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		res = req_apply(d, cl, req, op == PW_OP_DELETE);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		metrics_observe_apply(d, (double)(t1.tv_sec - t0.tv_sec) +
						 (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
		break;
	}
	case PW_OP_GET:
		res = req_get(d, req);
		break;
	case PW_OP_DESCRIBE:
		res = req_describe(d, req);
		break;
	case PW_OP_EXPLAIN:
		res = req_explain(d, req);
		break;
	case PW_OP_STATUS:
		res = req_status(d);
		break;
	case PW_OP_FLOWS:
		res = req_flows(d, cl, req);
		break;
	case PW_OP_QUARANTINE:
		res = req_quarantine(d, cl, req);
		break;
	case PW_OP_BIND:
	case PW_OP_UNBIND:
	case PW_OP_CHECK:
	case PW_OP_GC: {
		struct pw_cnid c = {d->cp, d->dp, pw_flowlog_on_flow_end, d->fl};
		char ns[256];

		res = pw_cnid_request(&c, op, req, ns);
		pods_touch(d, ns[0] ? ns : NULL);
		break;
	}
	default:
		res = pw_proto_error(NULL, "unknown operation");
		break;
	}
out:
	json_object_put(req);
	return res;
}
