// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "k8sobj.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "views.h"

static void add(json_object *o, const char *key, json_object *v)
{
	if (v)
		json_object_object_add(o, key, v);
}

static json_object *labels(const struct pw_labels *l)
{
	json_object *o;

	if (!l || !l->n)
		return NULL;
	o = json_object_new_object();
	for (size_t i = 0; o && i < l->n; i++)
		json_object_object_add(o, l->v[i].key, json_object_new_string(l->v[i].value));
	return o;
}

static json_object *metadata(const char *ns, const char *name, const struct pw_labels *l,
			     const struct pw_labels *a)
{
	json_object *m = json_object_new_object();

	if (!m)
		return NULL;
	add(m, "name", json_object_new_string(name));
	if (ns)
		add(m, "namespace", json_object_new_string(ns));
	add(m, "labels", labels(l));
	add(m, "annotations", labels(a));
	return m;
}

static json_object *selector(const struct pw_selector *s)
{
	json_object *o = json_object_new_object();

	if (!o || !s)
		return o;
	add(o, "matchLabels", labels(&s->match_labels));
	if (s->n_reqs) {
		json_object *a = json_object_new_array();

		for (size_t i = 0; a && i < s->n_reqs; i++) {
			const struct pw_sel_req *r = &s->reqs[i];
			json_object *e = json_object_new_object();

			add(e, "key", json_object_new_string(r->key));
			add(e, "operator", json_object_new_string(pw_sel_op_str(r->op)));
			if (r->op == PW_SEL_IN || r->op == PW_SEL_NOT_IN) {
				json_object *v = json_object_new_array();

				for (size_t j = 0; v && j < r->n_values; j++)
					json_object_array_add(v,
							      json_object_new_string(r->values[j]));
				add(e, "values", v);
			}
			json_object_array_add(a, e);
		}
		add(o, "matchExpressions", a);
	}
	return o;
}

static json_object *peer(const struct pw_np_peer *p)
{
	json_object *o = json_object_new_object();
	char buf[64];

	if (!o)
		return NULL;
	if (p->ipblock) {
		json_object *b = json_object_new_object();

		add(b, "cidr",
		    json_object_new_string(pw_prefix_str(&p->ipblock->cidr, buf, sizeof(buf))));
		if (p->ipblock->n_except) {
			json_object *e = json_object_new_array();

			for (size_t i = 0; e && i < p->ipblock->n_except; i++)
				json_object_array_add(
					e, json_object_new_string(pw_prefix_str(
						   &p->ipblock->except[i], buf, sizeof(buf))));
			add(b, "except", e);
		}
		add(o, "ipBlock", b);
	}
	if (p->ns_sel)
		add(o, "namespaceSelector", selector(p->ns_sel));
	if (p->pod_sel)
		add(o, "podSelector", selector(p->pod_sel));
	return o;
}

static json_object *np_port(const struct pw_np_port *p)
{
	json_object *o = json_object_new_object();
	const char *proto = pw_ipproto_str(p->proto);

	if (!o)
		return NULL;
	/* the API server defaults protocol to TCP and prints it */
	add(o, "protocol", proto ? json_object_new_string(proto) : json_object_new_int(p->proto));
	if (p->port_set && p->port_name)
		add(o, "port", json_object_new_string(p->port_name));
	else if (p->port_set)
		add(o, "port", json_object_new_int(p->port));
	if (p->end_port)
		add(o, "endPort", json_object_new_int(p->end_port));
	return o;
}

static json_object *rules(const struct pw_np_rule *r, size_t n, const char *peers_key)
{
	json_object *a;

	if (!n)
		return NULL; /* omitempty: `ingress: []` comes back without the key */
	a = json_object_new_array();
	for (size_t i = 0; a && i < n; i++) {
		json_object *o = json_object_new_object();

		if (r[i].n_peers) {
			json_object *p = json_object_new_array();

			for (size_t j = 0; p && j < r[i].n_peers; j++)
				json_object_array_add(p, peer(&r[i].peers[j]));
			add(o, peers_key, p);
		}
		if (r[i].n_ports) {
			json_object *p = json_object_new_array();

			for (size_t j = 0; p && j < r[i].n_ports; j++)
				json_object_array_add(p, np_port(&r[i].ports[j]));
			add(o, "ports", p);
		}
		json_object_array_add(a, o);
	}
	return a;
}

static json_object *netpol(const struct pw_netpol *np, json_object *o)
{
	json_object *spec = json_object_new_object(), *types = json_object_new_array();

	add(o, "apiVersion", json_object_new_string("networking.k8s.io/v1"));
	add(o, "kind", json_object_new_string("NetworkPolicy"));
	add(o, "metadata", metadata(np->namespace, np->name, &np->labels, &np->annotations));
	add(spec, "podSelector", selector(&np->pod_sel));
	if (types && (np->types & PW_NP_INGRESS))
		json_object_array_add(types, json_object_new_string("Ingress"));
	if (types && (np->types & PW_NP_EGRESS))
		json_object_array_add(types, json_object_new_string("Egress"));
	add(spec, "policyTypes", types);
	add(spec, "ingress", rules(np->ingress, np->n_ingress, "from"));
	add(spec, "egress", rules(np->egress, np->n_egress, "to"));
	add(o, "spec", spec);
	return o;
}

static json_object *pod(const struct pw_pod *p, json_object *o)
{
	json_object *spec = json_object_new_object(), *status = json_object_new_object();
	json_object *cs = json_object_new_array();
	char buf[64];

	add(o, "apiVersion", json_object_new_string("v1"));
	add(o, "kind", json_object_new_string("Pod"));
	add(o, "metadata", metadata(p->namespace, p->name, &p->labels, &p->annotations));
	for (size_t c = 0; cs && c < p->n_containers; c++) {
		json_object *co = json_object_new_object(), *ports = json_object_new_array();

		add(co, "name", p->containers[c] ? json_object_new_string(p->containers[c]) : NULL);
		for (size_t i = 0; ports && i < p->n_ports; i++) {
			const struct pw_container_port *cp = &p->ports[i];
			json_object *po;

			if (cp->container != c)
				continue;
			po = json_object_new_object();
			if (cp->name)
				add(po, "name", json_object_new_string(cp->name));
			add(po, "containerPort", json_object_new_int(cp->port));
			add(po, "protocol", json_object_new_string(pw_ipproto_str(cp->proto) ?: "TCP"));
			json_object_array_add(ports, po);
		}
		if (ports && json_object_array_length(ports))
			add(co, "ports", ports);
		else
			json_object_put(ports);
		json_object_array_add(cs, co);
	}
	add(spec, "containers", cs);
	add(o, "spec", spec);
	if (p->n_ips) {
		json_object *ips = json_object_new_array();

		add(status, "podIP",
		    json_object_new_string(pw_addr_str(&p->ips[0], buf, sizeof(buf))));
		for (size_t i = 0; ips && i < p->n_ips; i++) {
			json_object *ip = json_object_new_object();

			add(ip, "ip", json_object_new_string(pw_addr_str(&p->ips[i], buf, sizeof(buf))));
			json_object_array_add(ips, ip);
		}
		add(status, "podIPs", ips);
	}
	add(o, "status", status);
	return o;
}

static json_object *namespace(const struct pw_namespace *ns, json_object *o)
{
	json_object *status = json_object_new_object();

	add(o, "apiVersion", json_object_new_string("v1"));
	add(o, "kind", json_object_new_string("Namespace"));
	add(o, "metadata", metadata(NULL, ns->name, &ns->labels, &ns->annotations));
	add(status, "phase", json_object_new_string("Active"));
	add(o, "status", status);
	return o;
}

json_object *pw_k8s_object(const struct pw_object *obj)
{
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	switch (obj->kind) {
	case PW_KIND_NAMESPACE:
		return namespace(&obj->u.ns, o);
	case PW_KIND_POD:
		return pod(&obj->u.pod, o);
	case PW_KIND_NETPOL:
		return netpol(&obj->u.np, o);
	default:
		break; /* Services and EndpointSlices: not rendered here (get -o json gives rows) */
	}
	return o;
}

/* Row i of a typed list query as its Kubernetes object. */
static json_object *row_object(enum pw_cp_list what, const void *rows, size_t i)
{
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	if (what == PW_CP_NAMESPACES)
		return namespace(((const struct pw_cp_ns_row *)rows)[i].ns, o);
	if (what == PW_CP_PODS)
		return pod(((const struct pw_cp_pod_row *)rows)[i].pod, o);
	return netpol(((const struct pw_cp_netpol_row *)rows)[i].np, o);
}

int pw_cp_objects(struct pw_cp *cp, enum pw_cp_list what, const char *ns, json_object **out)
{
	json_object *arr = NULL, *views = NULL;
	void *rows = NULL;
	size_t n = 0;
	int err;

	if (!cp || !out)
		return -EINVAL;
	switch (what) {
	case PW_CP_NAMESPACES:
		err = pw_cp_list_namespaces(cp, (struct pw_cp_ns_row **)&rows, &n);
		break;
	case PW_CP_PODS:
		err = pw_cp_list_pods(cp, ns, (struct pw_cp_pod_row **)&rows, &n);
		break;
	case PW_CP_NETPOLS:
		err = pw_cp_list_netpols(cp, ns, (struct pw_cp_netpol_row **)&rows, &n);
		break;
	default:
		return -EINVAL; /* identities are no Kubernetes objects */
	}
	if (err)
		return err;
	/* podwall's own view of each object (the same query, the same order): status.podwall */
	err = pw_cp_get(cp, what, ns, &views);
	if (!err && json_object_array_length(views) != n)
		err = -EAGAIN;
	if (!err && !(arr = json_object_new_array()))
		err = -ENOMEM;
	for (size_t i = 0; !err && i < n; i++) {
		json_object *o = row_object(what, rows, i), *view = json_object_array_get_idx(views, i);
		json_object *status = NULL;

		if (!o || json_object_array_add(arr, o)) {
			json_object_put(o);
			err = -ENOMEM;
			break;
		}
		/* what the object already says is not repeated */
		json_object_object_del(view, "kind");
		json_object_object_del(view, "namespace");
		json_object_object_del(view, "name");
		json_object_object_del(view, "labels");
		if (!json_object_object_get_ex(o, "status", &status)) {
			status = json_object_new_object();
			add(o, "status", status);
		}
		if (status)
			json_object_object_add(status, "podwall", json_object_get(view));
	}
	json_object_put(views);
	free(rows);
	if (err) {
		json_object_put(arr);
		return err;
	}
	*out = arr;
	return 0;
}
