// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The core's typed query results as the control socket's JSON (views.h). Key names and order
 * are the protocol: the CLI's tables and YAML, and scripts reading `-o json`, depend on them.
 */
#define _GNU_SOURCE /* gmtime_r */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "views.h"

static json_object *jlabels(const struct pw_labels *l)
{
	json_object *o = json_object_new_object();
	size_t i;

	for (i = 0; o && l && i < l->n; i++)
		json_object_object_add(o, l->v[i].key, json_object_new_string(l->v[i].value));
	return o;
}

static json_object *jstr(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static json_object *jpod_ips(const struct pw_pod *pod)
{
	json_object *a = json_object_new_array();
	char buf[64];
	size_t i;

	for (i = 0; a && i < pod->n_ips; i++)
		json_object_array_add(
			a, json_object_new_string(pw_addr_str(&pod->ips[i], buf, sizeof(buf))));
	return a;
}

static char *selector_text(const struct pw_selector *s)
{
	char *str = NULL;

	if (pw_selector_str(s, &str))
		return NULL;
	if (!*str) {
		free(str);
		return strdup("<none>"); /* as kubectl prints an empty selector */
	}
	return str;
}

static json_object *jtypes(unsigned int types)
{
	json_object *a = json_object_new_array();

	if (types & PW_NP_INGRESS)
		json_object_array_add(a, json_object_new_string("Ingress"));
	if (types & PW_NP_EGRESS)
		json_object_array_add(a, json_object_new_string("Egress"));
	return a;
}

/* an identity's labels: its key split at ';' */
static json_object *jident_labels(const char *key)
{
	json_object *a = json_object_new_array();
	char *copy = strdup(key), *save = NULL, *tok;

	for (tok = copy ? strtok_r(copy, ";", &save) : NULL; tok; tok = strtok_r(NULL, ";", &save))
		json_object_array_add(a, json_object_new_string(tok));
	free(copy);
	return a;
}

static json_object *jpolicies(const struct pw_netpol *const *v, size_t n)
{
	json_object *a = json_object_new_array();
	char buf[512];

	for (size_t i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "%s/%s", v[i]->namespace, v[i]->name);
		json_object_array_add(a, json_object_new_string(buf));
	}
	return a;
}

static json_object *jpeer(struct pw_cp *cp, uint32_t peer)
{
	char buf[160];

	return json_object_new_string(pw_cp_peer_str(cp, peer, buf, sizeof(buf)));
}

/* "policy" and "rule" of the rule behind a cookie, when there is one */
static void add_cookie(struct pw_cp *cp, json_object *o, uint32_t cookie)
{
	char rule[32];
	const char *pol = pw_cp_cookie_policy(cp, cookie, rule, sizeof(rule));

	if (pol) {
		json_object_object_add(o, "policy", json_object_new_string(pol));
		json_object_object_add(o, "rule", json_object_new_string(rule));
	}
}

static void get_namespaces(struct pw_cp_ns_row *r, size_t n, json_object *arr)
{
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "kind",
				       json_object_new_string(pw_kind_str(PW_KIND_NAMESPACE)));
		json_object_object_add(o, "name", jstr(r[i].ns->name));
		json_object_object_add(o, "source", jstr(r[i].source));
		json_object_object_add(o, "status", json_object_new_string("Active"));
		json_object_object_add(o, "labels", jlabels(&r[i].ns->labels));
		json_object_array_add(arr, o);
	}
}

static void get_pods(struct pw_cp_pod_row *r, size_t n, json_object *arr)
{
	for (size_t i = 0; i < n; i++) {
		const struct pw_pod *p = r[i].pod;
		json_object *o = json_object_new_object();

		json_object_object_add(o, "kind", json_object_new_string(pw_kind_str(PW_KIND_POD)));
		json_object_object_add(o, "namespace", jstr(p->namespace));
		json_object_object_add(o, "name", jstr(p->name));
		json_object_object_add(o, "source", jstr(r[i].source));
		json_object_object_add(o, "ips", jpod_ips(p));
		json_object_object_add(o, "identity", json_object_new_int64(r[i].identity));
		json_object_object_add(o, "interface", jstr(p->interface));
		json_object_object_add(o, "cgroup", jstr(p->cgroup));
		json_object_object_add(o, "state",
				       json_object_new_string(pw_cp_pod_state_str(r[i].state)));
		if (r[i].ep_id)
			json_object_object_add(o, "endpoint", json_object_new_int64(r[i].ep_id));
		if (r[i].ifindex)
			json_object_object_add(o, "ifindex", json_object_new_int64(r[i].ifindex));
		if (r[i].cgroup_id)
			json_object_object_add(o, "cgroupId",
					       json_object_new_int64((int64_t)r[i].cgroup_id));
		json_object_object_add(o, "labels", jlabels(&p->labels));
		json_object_array_add(arr, o);
	}
}

static void get_netpols(struct pw_cp_netpol_row *r, size_t n, json_object *arr)
{
	for (size_t i = 0; i < n; i++) {
		const struct pw_netpol *np = r[i].np;
		json_object *o = json_object_new_object();
		char *sel = selector_text(&np->pod_sel);

		json_object_object_add(o, "kind",
				       json_object_new_string(pw_kind_str(PW_KIND_NETPOL)));
		json_object_object_add(o, "namespace", jstr(np->namespace));
		json_object_object_add(o, "name", jstr(np->name));
		json_object_object_add(o, "source", jstr(r[i].source));
		json_object_object_add(o, "podSelector", jstr(sel));
		free(sel);
		json_object_object_add(o, "policyTypes", jtypes(np->types));
		json_object_object_add(o, "ingressRules",
				       json_object_new_int64((int64_t)np->n_ingress));
		json_object_object_add(o, "egressRules",
				       json_object_new_int64((int64_t)np->n_egress));
		json_object_object_add(o, "selected",
				       json_object_new_int64((int64_t)r[i].selected));
		json_object_object_add(o, "enforcement",
				       json_object_new_string(r[i].audit ? "audit" : "enforce"));
		json_object_array_add(arr, o);
	}
}

static void get_identities(struct pw_cp_ident_row *r, size_t n, json_object *arr)
{
	char buf[64];

	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_new_object(), *l;

		if (r[i].is_cidr) {
			l = json_object_new_array();
			json_object_array_add(l, json_object_new_string(pw_prefix_str(
							 &r[i].prefix, buf, sizeof(buf))));
			json_object_object_add(o, "identity", json_object_new_int64(r[i].identity));
			json_object_object_add(o, "namespace", json_object_new_string(""));
			json_object_object_add(o, "labels", l);
			json_object_object_add(o, "cidr", json_object_new_string(buf));
			json_object_object_add(o, "refs", json_object_new_int64(r[i].refs));
		} else {
			json_object_object_add(o, "identity", json_object_new_int64(r[i].identity));
			json_object_object_add(o, "namespace", json_object_new_string(r[i].ns));
			json_object_object_add(o, "labels", jident_labels(r[i].key));
			json_object_object_add(o, "refs", json_object_new_int64(r[i].refs));
			json_object_object_add(o, "localPods",
					       json_object_new_int64(r[i].local_refs));
		}
		json_object_array_add(arr, o);
	}
}

int pw_cp_get(struct pw_cp *cp, enum pw_cp_list what, const char *ns, json_object **out)
{
	json_object *arr;
	void *rows = NULL;
	size_t n = 0;
	int err;

	if (!cp || !out)
		return -EINVAL;
	if (what == PW_CP_SERVICES || what == PW_CP_EPSLICES)
		return pw_view_services(cp, what == PW_CP_EPSLICES, ns, out);
	switch (what) {
	case PW_CP_NAMESPACES:
		err = pw_cp_list_namespaces(cp, (struct pw_cp_ns_row **)&rows, &n);
		break;
	case PW_CP_PODS:
		err = pw_cp_list_pods(cp, ns, (struct pw_cp_pod_row **)&rows, &n);
		break;
	case PW_CP_IDENTITIES:
		err = pw_cp_list_identities(cp, ns, (struct pw_cp_ident_row **)&rows, &n);
		break;
	default:
		err = pw_cp_list_netpols(cp, ns, (struct pw_cp_netpol_row **)&rows, &n);
		break;
	}
	if (err)
		return err;
	arr = json_object_new_array();
	if (!arr) {
		free(rows);
		return -ENOMEM;
	}
	switch (what) {
	case PW_CP_NAMESPACES:
		get_namespaces(rows, n, arr);
		break;
	case PW_CP_PODS:
		get_pods(rows, n, arr);
		break;
	case PW_CP_IDENTITIES:
		get_identities(rows, n, arr);
		break;
	default:
		get_netpols(rows, n, arr);
		break;
	}
	free(rows);
	*out = arr;
	return 0;
}

static json_object *jallow(struct pw_cp *cp, const struct pw_cp_allow *a)
{
	json_object *o = json_object_new_object();
	char buf[32];

	json_object_object_add(o, "peerIdentity", json_object_new_int64(a->peer));
	json_object_object_add(o, "peer", jpeer(cp, a->peer));
	if (!a->proto) {
		json_object_object_add(o, "protocol", json_object_new_string("any"));
	} else {
		const char *ps = pw_ipproto_str(a->proto);

		snprintf(buf, sizeof(buf), "%u", a->proto);
		json_object_object_add(o, "protocol", json_object_new_string(ps ? ps : buf));
		if (a->port_lo == a->port_hi)
			snprintf(buf, sizeof(buf), "%u", a->port_lo);
		else if (a->port_lo == 0 && a->port_hi == 0xffff)
			snprintf(buf, sizeof(buf), "any");
		else
			snprintf(buf, sizeof(buf), "%u-%u", a->port_lo, a->port_hi);
		json_object_object_add(o, "ports", json_object_new_string(buf));
	}
	add_cookie(cp, o, a->cookie);
	return o;
}

static json_object *jquarantine(const struct pw_cp_quarantine_row *q)
{
	json_object *o = json_object_new_object();
	time_t t = (time_t)q->since;
	char buf[32];
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	json_object_object_add(o, "namespace", jstr(q->ns));
	json_object_object_add(o, "name", jstr(q->name));
	json_object_object_add(o, "since", json_object_new_string(buf));
	json_object_object_add(o, "sinceUnix", json_object_new_int64(q->since));
	json_object_object_add(o, "reason", jstr(q->reason));
	json_object_object_add(o, "allowDns", json_object_new_boolean(q->allow_dns));
	return o;
}

int pw_cp_get_quarantines(struct pw_cp *cp, const char *ns, json_object **out)
{
	struct pw_cp_quarantine_row *r;
	size_t i, n;
	int err;

	if (!cp || !out)
		return -EINVAL;
	err = pw_cp_list_quarantines(cp, ns, &r, &n);
	if (err)
		return err;
	*out = json_object_new_array();
	for (i = 0; i < n; i++)
		json_object_array_add(*out, jquarantine(&r[i]));
	free(r);
	return 0;
}

int pw_cp_describe_pod(struct pw_cp *cp, const char *ns, const char *name, json_object **out)
{
	struct pw_cp_pod_info info;
	const struct pw_pod *p;
	json_object *o, *in, *eg, *ain, *aeg;
	int err;

	if (!cp || !ns || !name || !out)
		return -EINVAL;
	err = pw_cp_pod_info(cp, ns, name, &info);
	if (err)
		return err;
	p = info.row.pod;
	o = json_object_new_object();
	json_object_object_add(o, "namespace", json_object_new_string(ns));
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "labels", jlabels(&p->labels));
	json_object_object_add(o, "ips", jpod_ips(p));
	json_object_object_add(o, "identity", json_object_new_int64(info.row.identity));
	json_object_object_add(o, "identityLabels", jident_labels(info.identity_key));
	json_object_object_add(o, "state",
			       json_object_new_string(pw_cp_pod_state_str(info.row.state)));
	json_object_object_add(o, "interface", jstr(p->interface));
	json_object_object_add(o, "cgroup", jstr(p->cgroup));
	if (info.has_endpoint) {
		json_object *e = json_object_new_object();

		json_object_object_add(e, "id", json_object_new_int64(info.ep_id));
		json_object_object_add(e, "ifindex", json_object_new_int64(info.ep_ifindex));
		json_object_object_add(e, "cgroupId",
				       json_object_new_int64((int64_t)info.ep_cgroup_id));
		json_object_object_add(e, "policyGeneration",
				       json_object_new_int64(info.ep_policy_gen));
		json_object_object_add(o, "endpoint", e);
	}
	json_object_object_add(
		o, "ingressPolicies",
		jpolicies(info.policies[PW_DIR_INGRESS], info.n_policies[PW_DIR_INGRESS]));
	json_object_object_add(
		o, "egressPolicies",
		jpolicies(info.policies[PW_DIR_EGRESS], info.n_policies[PW_DIR_EGRESS]));
	json_object_object_add(o, "ingressAuditPolicies",
			       jpolicies(info.audit_policies[PW_DIR_INGRESS],
					 info.n_audit_policies[PW_DIR_INGRESS]));
	json_object_object_add(o, "egressAuditPolicies",
			       jpolicies(info.audit_policies[PW_DIR_EGRESS],
					 info.n_audit_policies[PW_DIR_EGRESS]));
	json_object_object_add(o, "quarantine",
			       info.quarantined ? jquarantine(&info.quarantine) : NULL);
	json_object_object_add(o, "ingressIsolated",
			       json_object_new_boolean(info.isolated[PW_DIR_INGRESS]));
	json_object_object_add(o, "egressIsolated",
			       json_object_new_boolean(info.isolated[PW_DIR_EGRESS]));
	in = json_object_new_array();
	eg = json_object_new_array();
	ain = json_object_new_array();
	aeg = json_object_new_array();
	for (size_t i = 0; i < info.n_allow; i++) {
		bool egress = info.allow[i].dir == PW_DIR_EGRESS;

		json_object_array_add(info.allow[i].audit ? (egress ? aeg : ain)
							  : (egress ? eg : in),
				      jallow(cp, &info.allow[i]));
	}
	json_object_object_add(o, "ingress", in);
	json_object_object_add(o, "egress", eg);
	/* the audit policies' entries: recorded, never enforced */
	json_object_object_add(o, "auditIngress", ain);
	json_object_object_add(o, "auditEgress", aeg);
	pw_cp_pod_info_free(&info);
	*out = o;
	return 0;
}

static json_object *jside(struct pw_cp *cp, const struct pw_cp_side *s)
{
	json_object *o = json_object_new_object(), *a;

	json_object_object_add(o, "direction", json_object_new_string(pw_dir_str(s->dir)));
	if (s->family_mismatch)
		json_object_object_add(o, "error",
				       json_object_new_string("address families differ"));
	if (!s->enforced) {
		json_object_object_add(o, "enforced", json_object_new_boolean(false));
		json_object_object_add(o, "reason",
				       json_object_new_string(pw_reason_str(s->reason)));
		return o;
	}
	json_object_object_add(o, "enforced", json_object_new_boolean(true));
	json_object_object_add(o, "identity", json_object_new_int64(s->identity));
	json_object_object_add(o, "peerIdentity", json_object_new_int64(s->peer_identity));
	json_object_object_add(o, "peer", jpeer(cp, s->peer_identity));
	json_object_object_add(o, "reason", json_object_new_string(pw_reason_str(s->reason)));
	add_cookie(cp, o, s->cookie);
	if (s->denied)
		json_object_object_add(o, "isolatedBy",
				       jpolicies(s->isolated_by, s->n_isolated_by));
	if (s->quarantined)
		json_object_object_add(o, "quarantined", json_object_new_boolean(true));
	/* as if the audit policies were enforced too */
	a = json_object_new_object();
	json_object_object_add(a, "reason", json_object_new_string(pw_reason_str(s->audit_reason)));
	add_cookie(cp, a, s->audit_cookie);
	if (s->audit_denied && s->n_audit_isolated_by)
		json_object_object_add(a, "isolatedBy",
				       jpolicies(s->audit_isolated_by, s->n_audit_isolated_by));
	json_object_object_add(o, "audit", a);
	return o;
}

/*
 * To a ClusterIP: the socket layer picks a ready backend and judges it, so each backend's
 * verdict; -ENOENT when the address is no Service frontend.
 */
static int explain_service(struct pw_cp *cp, const struct pw_cp_endpoint_ref *from,
			   const struct pw_addr *ip, uint8_t proto, uint16_t port,
			   json_object **out)
{
	struct pw_cp_svc_verdict sv;
	json_object *o, *arr;
	char buf[PW_PREFIX_STRLEN + 512];
	int err = pw_cp_service_verdict(cp, from, ip, proto, port, &sv);

	if (err)
		return err;
	o = json_object_new_object();
	arr = json_object_new_array();
	if (sv.svc) {
		snprintf(buf, sizeof(buf), "%s/%s", sv.svc->namespace, sv.svc->name);
		json_object_object_add(o, "service", jstr(buf));
	}
	json_object_object_add(o, "clusterIP", jstr(pw_addr_str(ip, buf, sizeof(buf))));
	for (size_t i = 0; i < sv.n; i++) {
		json_object *b = json_object_new_object();

		json_object_object_add(b, "backend",
				       jstr(pw_addr_str(&sv.be[i].addr, buf, sizeof(buf))));
		json_object_object_add(b, "backendPort", json_object_new_int(sv.be[i].port));
		if (sv.be[i].pod) {
			snprintf(buf, sizeof(buf), "%s/%s", sv.be[i].pod->namespace,
				 sv.be[i].pod->name);
			json_object_object_add(b, "pod", jstr(buf));
		}
		json_object_object_add(b, "egress", jside(cp, &sv.v[i].egress));
		json_object_object_add(b, "ingress", jside(cp, &sv.v[i].ingress));
		json_object_object_add(b, "verdict", jstr(sv.v[i].denied ? "denied" : "allowed"));
		json_object_array_add(arr, b);
	}
	json_object_object_add(o, "backends", arr);
	json_object_object_add(o, "readyBackends", json_object_new_int64((int64_t)sv.n));
	json_object_object_add(o, "allowedBackends", json_object_new_int64((int64_t)sv.allowed));
	json_object_object_add(o, "verdict",
			       jstr(!sv.n	 ? "refused (no ready backend)"
				    : sv.allowed ? "allowed"
						 : "denied"));
	json_object_object_add(o, "protocol", jstr(pw_ipproto_str(proto)));
	json_object_object_add(o, "port", json_object_new_int(port));
	pw_cp_service_verdict_free(&sv);
	*out = o;
	return 0;
}

int pw_cp_explain(struct pw_cp *cp, const struct pw_cp_endpoint_ref *from,
		  const struct pw_cp_endpoint_ref *to, uint8_t proto, uint16_t port,
		  json_object **out)
{
	struct pw_cp_verdict v;
	struct pw_addr ip;
	json_object *o;
	int err;

	if (!cp || !from || !to || !out)
		return -EINVAL;
	if (to->addr && !pw_addr_parse(to->addr, &ip)) {
		err = explain_service(cp, from, &ip, proto, port, out);
		if (err != -ENOENT)
			return err;
	}
	err = pw_cp_verdict(cp, from, to, proto, port, &v);
	if (err)
		return err;
	o = json_object_new_object();
	json_object_object_add(o, "egress", jside(cp, &v.egress));
	json_object_object_add(o, "ingress", jside(cp, &v.ingress));
	json_object_object_add(o, "verdict",
			       json_object_new_string(v.denied ? "denied" : "allowed"));
	/* both verdicts: the enforced one, and as if the audit policies were enforced too */
	json_object_object_add(o, "auditVerdict",
			       json_object_new_string(v.audit_denied ? "denied" : "allowed"));
	json_object_object_add(o, "protocol", jstr(pw_ipproto_str(v.proto)));
	json_object_object_add(o, "port", json_object_new_int(v.port));
	pw_cp_verdict_free(&v);
	*out = o;
	return 0;
}

static json_object *jmetrics(const struct pw_metric *m)
{
	json_object *met = json_object_new_array();

	for (unsigned int r = 0; r < PW_REASON_MAX; r++) {
		for (unsigned int d = 0; d < PW_DIR_MAX; d++) {
			const struct pw_metric *x = &m[PW_METRIC_IDX(r, d)];
			json_object *e;

			if (!x->packets)
				continue;
			e = json_object_new_object();
			json_object_object_add(e, "reason",
					       json_object_new_string(pw_reason_str(r)));
			json_object_object_add(e, "direction",
					       json_object_new_string(pw_dir_str(d)));
			json_object_object_add(e, "packets",
					       json_object_new_int64((int64_t)x->packets));
			json_object_object_add(e, "bytes",
					       json_object_new_int64((int64_t)x->bytes));
			json_object_array_add(met, e);
		}
	}
	return met;
}

int pw_cp_status(struct pw_cp *cp, json_object **out)
{
	struct pw_cp_counts *c;
	json_object *o, *maps, *pend;
	char buf[512];
	int err;

	if (!cp || !out)
		return -EINVAL;
	c = calloc(1, sizeof(*c)); /* the metrics make it too large for the stack */
	if (!c)
		return -ENOMEM;
	err = pw_cp_counts(cp, c);
	if (err) {
		free(c);
		return err;
	}
	o = json_object_new_object();
	maps = json_object_new_array();
	pend = json_object_new_array();
	for (size_t i = 0; i < c->n_maps; i++) {
		json_object *m = json_object_new_object();

		json_object_object_add(m, "name", jstr(c->maps[i].name));
		json_object_object_add(m, "maxEntries",
				       json_object_new_int64(c->maps[i].max_entries));
		json_object_object_add(m, "entries",
				       json_object_new_int64((int64_t)c->maps[i].entries));
		json_object_array_add(maps, m);
	}
	json_object_object_add(o, "maps", maps);
	for (size_t i = 0; i < c->n_pending; i++) {
		snprintf(buf, sizeof(buf), "%s/%s", c->pending[i]->namespace, c->pending[i]->name);
		json_object_array_add(pend, json_object_new_string(buf));
	}
	json_object_object_add(o, "pendingPods", pend);
	json_object_object_add(o, "namespaces", json_object_new_int64((int64_t)c->namespaces));
	json_object_object_add(o, "pods", json_object_new_int64((int64_t)c->pods));
	json_object_object_add(o, "localPods", json_object_new_int64((int64_t)c->local_pods));
	json_object_object_add(o, "networkPolicies", json_object_new_int64((int64_t)c->netpols));
	json_object_object_add(o, "identities", json_object_new_int64((int64_t)c->identities));
	json_object_object_add(o, "cidrIdentities",
			       json_object_new_int64((int64_t)c->cidr_identities));
	json_object_object_add(o, "subjects", json_object_new_int64((int64_t)c->subjects));
	json_object_object_add(o, "policyKeys", json_object_new_int64((int64_t)c->policy_keys));
	json_object_object_add(o, "syncs", json_object_new_int64((int64_t)c->syncs));
	json_object_object_add(o, "syncFailures", json_object_new_int64((int64_t)c->sync_failures));
	json_object_object_add(o, "lastSyncRecompiled",
			       json_object_new_int64((int64_t)c->last_recompiled));
	{
		json_object *js = json_object_new_object();

		json_object_object_add(js, "services", json_object_new_int64((int64_t)c->services));
		json_object_object_add(js, "endpointSlices",
				       json_object_new_int64((int64_t)c->epslices));
		json_object_object_add(js, "frontends",
				       json_object_new_int64((int64_t)c->svc_frontends));
		json_object_object_add(js, "backends",
				       json_object_new_int64((int64_t)c->svc_backends));
		/* conntrack entries removed with their backend: flows that ended */
		json_object_object_add(js, "backendFlowsEnded",
				       json_object_new_int64((int64_t)c->svc_flows_ended));
		/* client sockets aborted with their backend, and walks that failed to */
		json_object_object_add(js, "backendConnsEnded",
				       json_object_new_int64((int64_t)c->svc_conns_ended));
		json_object_object_add(js, "backendEndFailures",
				       json_object_new_int64((int64_t)c->svc_end_failures));
		json_object_object_add(o, "services", js);
	}
	if (c->has_metrics)
		json_object_object_add(o, "metrics", jmetrics(c->metrics));
	pw_cp_counts_free(c);
	free(c);
	*out = o;
	return 0;
}
