// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The core's queries (cp.h): typed results read from the store and from the desired state the
 * maps hold (cur). Nothing here builds JSON: ctl/ipc/views.c does, at the request edge.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_impl.h"
#include "enforcement.h"

const char *pw_cp_pod_state_str(enum pw_cp_pod_state s)
{
	switch (s) {
	case PW_CP_POD_ENFORCED:
		return "enforced";
	case PW_CP_POD_PENDING:
		return "pending";
	case PW_CP_POD_REMOTE:
		return "remote";
	case PW_CP_POD_FAIL_CLOSED:
		return "fail-closed";
	}
	return "unknown";
}

static enum pw_cp_pod_state pod_state(const struct pw_sobj *o)
{
	if (!o->local)
		return PW_CP_POD_REMOTE;
	if (o->obj.u.pod.interface && !o->ifindex)
		return PW_CP_POD_PENDING;
	if (o->obj.u.pod.cgroup && !o->cgroup_id)
		return PW_CP_POD_PENDING;
	return PW_CP_POD_ENFORCED;
}

static size_t np_selected(const struct pw_cp *cp, const struct pw_netpol *np)
{
	size_t i, n = 0;

	for (i = 0; i < pw_state_count(&cp->st, PW_KIND_POD); i++) {
		const struct pw_pod *p = &pw_state_at(&cp->st, PW_KIND_POD, i)->obj.u.pod;

		if (!strcmp(p->namespace, np->namespace) &&
		    pw_selector_matches(&np->pod_sel, &p->labels))
			n++;
	}
	return n;
}

static int cmp_obj(const void *a, const void *b)
{
	const struct pw_sobj *x = *(const struct pw_sobj *const *)a;
	const struct pw_sobj *y = *(const struct pw_sobj *const *)b;
	int c = strcmp(pw_obj_ns(&x->obj), pw_obj_ns(&y->obj));

	return c ? c : strcmp(pw_obj_name(&x->obj), pw_obj_name(&y->obj));
}

/* The objects of kind k (of ns unless NULL or k is Namespace), sorted by namespace and name. */
static int sorted_objs(struct pw_cp *cp, enum pw_kind k, const char *ns,
		       const struct pw_sobj ***out, size_t *n_out)
{
	const struct pw_sobj **v = malloc((pw_state_count(&cp->st, k) + 1) * sizeof(*v));
	size_t i, n = 0;

	if (!v)
		return -ENOMEM;
	for (i = 0; i < pw_state_count(&cp->st, k); i++) {
		const struct pw_sobj *o = pw_state_at(&cp->st, k, i);

		if (ns && k != PW_KIND_NAMESPACE && strcmp(ns, pw_obj_ns(&o->obj)))
			continue;
		v[n++] = o;
	}
	qsort(v, n, sizeof(*v), cmp_obj);
	*out = v;
	*n_out = n;
	return 0;
}

static void pod_row(const struct pw_sobj *so, struct pw_cp_pod_row *r)
{
	r->pod = &so->obj.u.pod;
	r->source = so->source;
	r->identity = so->ident->id;
	r->state = pod_state(so);
	r->ep_id = so->ep_id;
	r->ifindex = so->ifindex;
	r->cgroup_id = so->cgroup_id;
}

static void ns_fill(struct pw_cp *cp, const struct pw_sobj *so, void *row)
{
	*(struct pw_cp_ns_row *)row = (struct pw_cp_ns_row){&so->obj.u.ns, so->source};
}

static void pod_fill(struct pw_cp *cp, const struct pw_sobj *so, void *row)
{
	pod_row(so, row);
}

static void netpol_fill(struct pw_cp *cp, const struct pw_sobj *so, void *row)
{
	struct pw_cp_netpol_row *r = row;

	r->np = &so->obj.u.np;
	r->source = so->source;
	r->selected = np_selected(cp, r->np);
	r->audit = pw_np_audit(&cp->st, r->np);
}

/* One row of row_sz bytes per object of kind k (of ns), filled by fill, in list order. */
static int list_rows(struct pw_cp *cp, enum pw_kind k, const char *ns, size_t row_sz,
		     void (*fill)(struct pw_cp *cp, const struct pw_sobj *so, void *row),
		     void **out, size_t *n)
{
	const struct pw_sobj **v;
	char *r;
	int err;

	if (!cp || !out || !n)
		return -EINVAL;
	err = sorted_objs(cp, k, ns, &v, n);
	if (err)
		return err;
	r = calloc(*n + 1, row_sz);
	for (size_t i = 0; r && i < *n; i++)
		fill(cp, v[i], r + i * row_sz);
	free(v);
	*out = r;
	return r ? 0 : -ENOMEM;
}

int pw_cp_list_namespaces(struct pw_cp *cp, struct pw_cp_ns_row **out, size_t *n)
{
	void *rows = NULL;
	int err = out ? list_rows(cp, PW_KIND_NAMESPACE, NULL, sizeof(**out), ns_fill, &rows, n)
		      : -EINVAL;

	if (!err)
		*out = rows;
	return err;
}

int pw_cp_list_pods(struct pw_cp *cp, const char *ns, struct pw_cp_pod_row **out, size_t *n)
{
	void *rows = NULL;
	int err = out ? list_rows(cp, PW_KIND_POD, ns, sizeof(**out), pod_fill, &rows, n) : -EINVAL;

	if (!err) {
		*out = rows;
		/* and the sandboxes CNI bound whose Pod object is not known: fail-closed */
		err = pw_binds_pod_rows(&cp->binds, &cp->st, ns, out, n);
		if (err) {
			free(*out);
			*out = NULL;
		}
	}
	return err;
}

int pw_cp_list_netpols(struct pw_cp *cp, const char *ns, struct pw_cp_netpol_row **out, size_t *n)
{
	void *rows = NULL;
	int err = out ? list_rows(cp, PW_KIND_NETPOL, ns, sizeof(**out), netpol_fill, &rows, n)
		      : -EINVAL;

	if (!err)
		*out = rows;
	return err;
}

static void svc_fill(struct pw_cp *cp, const struct pw_sobj *so, void *row)
{
	struct pw_cp_svc_row *r = row;

	r->svc = &so->obj.u.svc;
	r->source = so->source;
	r->frontends = pw_svcs_of_service(cp->svcs, r->svc->namespace, r->svc->name, &r->backends);
}

static void eps_fill(struct pw_cp *cp, const struct pw_sobj *so, void *row)
{
	struct pw_cp_eps_row *r = row;

	r->eps = &so->obj.u.eps;
	r->source = so->source;
	for (size_t i = 0; i < r->eps->n_eps; i++)
		r->ready += r->eps->eps[i].ready;
}

int pw_cp_list_services(struct pw_cp *cp, const char *ns, struct pw_cp_svc_row **out, size_t *n)
{
	void *rows = NULL;
	int err = out ? list_rows(cp, PW_KIND_SERVICE, ns, sizeof(**out), svc_fill, &rows, n)
		      : -EINVAL;

	if (!err)
		*out = rows;
	return err;
}

int pw_cp_list_epslices(struct pw_cp *cp, const char *ns, struct pw_cp_eps_row **out, size_t *n)
{
	void *rows = NULL;
	int err = out ? list_rows(cp, PW_KIND_EPSLICE, ns, sizeof(**out), eps_fill, &rows, n)
		      : -EINVAL;

	if (!err)
		*out = rows;
	return err;
}

int pw_cp_list_identities(struct pw_cp *cp, const char *ns, struct pw_cp_ident_row **out,
			  size_t *n_out)
{
	const struct pw_idtab *t;
	struct pw_cp_ident_row *r;
	size_t i, n = 0;

	if (!cp || !out || !n_out)
		return -EINVAL;
	t = &cp->st.ids;
	r = calloc(t->n_ids + t->n_cidrs + 1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (i = 0; i < t->n_ids; i++) {
		const struct pw_ident *id = t->ids[i];

		if (!id->refs || (ns && strcmp(ns, id->ns)))
			continue;
		r[n++] = (struct pw_cp_ident_row){.identity = id->id,
						  .ns = id->ns,
						  .key = id->key,
						  .refs = id->refs,
						  .local_refs = id->local_refs};
	}
	for (i = 0; !ns && i < t->n_cidrs; i++) {
		const struct pw_cidr_ident *c = t->cidrs[i];

		if (!c->refs)
			continue;
		r[n++] = (struct pw_cp_ident_row){.identity = c->id,
						  .ns = "",
						  .is_cidr = true,
						  .prefix = c->prefix,
						  .refs = c->refs};
	}
	*out = r;
	*n_out = n;
	return 0;
}

const char *pw_cp_object_source(struct pw_cp *cp, enum pw_kind kind, const char *ns,
				const char *name)
{
	const struct pw_sobj *so = cp ? pw_state_find(&cp->st, kind, ns, name) : NULL;

	return so ? so->source : NULL;
}

/* "ingress[0]" for a cookie; the policy's "ns/name" in cp's buffer */
const char *pw_cp_cookie_policy(struct pw_cp *cp, uint32_t cookie, char *rule, size_t rule_len)
{
	const struct pw_cookie *c;

	if (!cp || !cookie)
		return NULL;
	c = pw_cookie_get(&cp->st.ids, cookie);
	if (!c)
		return NULL;
	if (rule && rule_len)
		snprintf(rule, rule_len, "%s[%u]", c->dir == PW_DIR_EGRESS ? "egress" : "ingress",
			 c->rule);
	snprintf(cp->cookie_buf, sizeof(cp->cookie_buf), "%s/%s", c->ns, c->name);
	return cp->cookie_buf;
}

const char *pw_cp_peer_str(struct pw_cp *cp, uint32_t peer, char *buf, size_t len)
{
	const struct pw_cidr_ident *c;
	const struct pw_ident *id;

	if (peer == PW_ID_ANY)
		return "any";
	if (peer == PW_ID_WORLD)
		return "world";
	if (peer == PW_ID_HOST)
		return "host";
	c = pw_cidr_get(&cp->st.ids, peer);
	if (c)
		return pw_prefix_str(&c->prefix, buf, len);
	id = pw_ident_get(&cp->st.ids, peer);
	if (id)
		return id->key;
	snprintf(buf, len, "identity %u", peer);
	return buf;
}

/* Which policies of a pod a query wants, by mode. */
enum sel_mode { SEL_ENFORCED, SEL_AUDIT, SEL_ANY };

/*
 * The policies of the identity's namespace whose podSelector selects it for `type`: the ones
 * isolating its pods (of the given mode). Fills up to max (out may be NULL when max is 0);
 * returns how many exist.
 */
static size_t policies_selecting(struct pw_cp *cp, const struct pw_ident *id, unsigned int type,
				 enum sel_mode mode, const struct pw_netpol **out, size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < pw_state_count(&cp->st, PW_KIND_NETPOL); i++) {
		const struct pw_netpol *np = &pw_state_at(&cp->st, PW_KIND_NETPOL, i)->obj.u.np;

		if (!(np->types & type) || strcmp(np->namespace, id->ns) ||
		    !pw_selector_matches(&np->pod_sel, &id->pod_labels))
			continue;
		if (mode != SEL_ANY && pw_np_audit(&cp->st, np) != (mode == SEL_AUDIT))
			continue;
		if (n < max)
			out[n] = np;
		n++;
	}
	return n;
}

/* All of them in one allocation (NULL when there are none); -ENOMEM. */
static int policies_selecting_all(struct pw_cp *cp, const struct pw_ident *id, unsigned int type,
				  enum sel_mode mode, const struct pw_netpol ***out, size_t *n)
{
	*n = policies_selecting(cp, id, type, mode, NULL, 0);
	*out = NULL;
	if (!*n)
		return 0;
	*out = calloc(*n, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	policies_selecting(cp, id, type, mode, *out, *n);
	return 0;
}

int pw_cp_isolating(struct pw_cp *cp, uint32_t ep_id, uint8_t dir, const struct pw_netpol **out,
		    size_t max)
{
	const struct pw_endpoint *ep;
	const struct pw_ident *id;
	enum sel_mode mode;

	if (!cp || (max && !out) || (dir != PW_DIR_INGRESS && dir != PW_DIR_EGRESS))
		return -EINVAL;
	ep = ep_id ? pw_desired_endpoint(&cp->cur, ep_id) : NULL;
	id = ep ? pw_ident_get(&cp->st.ids, ep->identity) : NULL;
	if (!id)
		return -ENOENT;
	/* enforced policies isolate it; failing those, audit ones (an AUDIT record's) */
	mode = ep->flags & (dir == PW_DIR_EGRESS ? PW_EP_F_ISOLATE_EGRESS : PW_EP_F_ISOLATE_INGRESS)
		       ? SEL_ENFORCED
		       : SEL_AUDIT;
	return (int)policies_selecting(cp, id, dir == PW_DIR_EGRESS ? PW_NP_EGRESS : PW_NP_INGRESS,
				       mode, out, max);
}

int pw_cp_peer_cidr(struct pw_cp *cp, uint8_t family, const uint32_t addr[4], char *buf, size_t len)
{
	const struct pw_cidr_ident *c;
	struct pw_addr a = {0};
	uint32_t identity = 0, cidr_identity = 0;

	if (!cp || !addr || !buf || !len)
		return -EINVAL;
	if (family != PW_FAMILY_V4 && family != PW_FAMILY_V6)
		return -EINVAL;
	a.family = family;
	memcpy(a.a, addr, family == PW_FAMILY_V4 ? 4 : 16);
	pw_desired_ipcache_lookup(&cp->cur, &a, &identity, &cidr_identity);
	c = cidr_identity ? pw_cidr_get(&cp->st.ids, cidr_identity) : NULL;
	if (!c)
		return -ENOENT;
	pw_prefix_str(&c->prefix, buf, len);
	return 0;
}

void pw_cp_pod_info_free(struct pw_cp_pod_info *info)
{
	if (!info)
		return;
	free(info->policies[PW_DIR_INGRESS]);
	free(info->policies[PW_DIR_EGRESS]);
	free(info->audit_policies[PW_DIR_INGRESS]);
	free(info->audit_policies[PW_DIR_EGRESS]);
	free(info->allow);
	memset(info, 0, sizeof(*info));
}

static void quarantine_row(const struct pw_quarantine *q, struct pw_cp_quarantine_row *r)
{
	r->ns = q->ns;
	r->name = q->name;
	r->since = q->since;
	r->reason = q->reason;
	r->allow_dns = q->allow_dns;
}

int pw_cp_pod_info(struct pw_cp *cp, const char *ns, const char *name, struct pw_cp_pod_info *out)
{
	const struct pw_quarantine *q;
	const struct pw_dsubject *s;
	const struct pw_endpoint *ep;
	struct pw_sobj *so;
	int err = 0;

	if (!cp || !ns || !name || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	so = pw_state_find(&cp->st, PW_KIND_POD, ns, name);
	if (!so)
		return -ENOENT;
	pod_row(so, &out->row);
	out->identity_key = so->ident->key;
	ep = so->ep_id ? pw_desired_endpoint(&cp->cur, so->ep_id) : NULL;
	if (ep) {
		out->has_endpoint = true;
		out->ep_id = ep->ep_id;
		out->ep_ifindex = ep->ifindex;
		out->ep_cgroup_id = ep->cgroup_id;
		out->ep_policy_gen = ep->policy_gen;
	}
	for (int d = 0; d < PW_DIR_MAX && !err; d++) {
		unsigned int type = d == PW_DIR_EGRESS ? PW_NP_EGRESS : PW_NP_INGRESS;

		err = policies_selecting_all(cp, so->ident, type, SEL_ENFORCED, &out->policies[d],
					     &out->n_policies[d]);
		if (!err)
			err = policies_selecting_all(cp, so->ident, type, SEL_AUDIT,
						     &out->audit_policies[d],
						     &out->n_audit_policies[d]);
	}
	q = pw_qtab_find(&cp->st.qt, ns, name);
	if (q) {
		out->quarantined = true;
		quarantine_row(q, &out->quarantine);
	}
	s = pw_desired_subject(&cp->cur, so->ident->id);
	out->isolated[PW_DIR_INGRESS] = s && (s->flags & PW_EP_F_ISOLATE_INGRESS);
	out->isolated[PW_DIR_EGRESS] = s && (s->flags & PW_EP_F_ISOLATE_EGRESS);
	if (!err && s && s->n) {
		out->allow = calloc(s->n, sizeof(*out->allow));
		if (!out->allow)
			err = -ENOMEM;
	}
	for (size_t i = 0; !err && s && i < s->n; i++) {
		const struct pw_dkey *k = &s->keys[i];
		struct pw_cp_allow *a = &out->allow[out->n_allow++];

		a->dir = k->dir & ~PW_POL_DIR_AUDIT;
		a->audit = k->dir & PW_POL_DIR_AUDIT;
		a->proto = k->proto;
		a->peer = k->peer;
		a->cookie = k->cookie;
		if (k->proto)
			pw_dkey_range(k, &a->port_lo, &a->port_hi);
	}
	if (err)
		pw_cp_pod_info_free(out);
	return err;
}

/* An explain end: an address, and the local pod behind it (if any). */
struct xend {
	struct pw_addr addr;
	struct pw_sobj *pod;
};

static int resolve_end(struct pw_cp *cp, const struct pw_cp_endpoint_ref *r, struct xend *e)
{
	size_t i, j;

	memset(e, 0, sizeof(*e));
	if (r->addr) {
		if (pw_addr_parse(r->addr, &e->addr))
			return -EINVAL;
		/* an address of a known pod is that pod */
		for (i = 0; i < pw_state_count(&cp->st, PW_KIND_POD) && !e->pod; i++) {
			struct pw_sobj *o = pw_state_at(&cp->st, PW_KIND_POD, i);

			for (j = 0; j < o->obj.u.pod.n_ips; j++) {
				if (!memcmp(&o->obj.u.pod.ips[j], &e->addr, sizeof(e->addr)))
					e->pod = o;
			}
		}
		return 0;
	}
	if (!r->ns || !r->name)
		return -EINVAL;
	e->pod = pw_state_find(&cp->st, PW_KIND_POD, r->ns, r->name);
	if (!e->pod)
		return -ENOENT;
	if (!e->pod->obj.u.pod.n_ips)
		return -EADDRNOTAVAIL;
	e->addr = e->pod->obj.u.pod.ips[0];
	return 0;
}

/* One side of the decision, evaluated on what the maps hold (cur). */
static int explain_side(struct pw_cp *cp, const struct xend *self, const struct xend *peer,
			uint8_t dir, uint8_t proto, uint16_t port, struct pw_cp_side *o)
{
	const struct pw_endpoint *ep = NULL;
	uint32_t cookie = 0, peer_id = 0;
	unsigned int type;
	int r, err = 0;

	memset(o, 0, sizeof(*o));
	o->dir = dir;
	if (self->pod && self->pod->ep_id)
		ep = pw_desired_endpoint(&cp->cur, self->pod->ep_id);
	o->family_mismatch = self->pod && self->addr.family != peer->addr.family;
	if (!ep) {
		o->reason = PW_OK_NO_ENDPOINT;
		return 0;
	}
	r = pw_desired_decide(&cp->cur, ep->identity, ep->flags, dir, &peer->addr, proto, port,
			      &cookie, &peer_id);
	o->enforced = true;
	o->identity = ep->identity;
	o->peer_identity = peer_id;
	o->reason = (unsigned int)r;
	o->cookie = cookie;
	type = dir == PW_DIR_EGRESS ? PW_NP_EGRESS : PW_NP_INGRESS;
	if (pw_reason_is_drop((unsigned)r)) {
		o->denied = true;
		err = policies_selecting_all(cp, self->pod->ident, type, SEL_ENFORCED,
					     &o->isolated_by, &o->n_isolated_by);
	}
	if (pw_qtab_find(&cp->st.qt, self->pod->obj.u.pod.namespace, self->pod->obj.u.pod.name))
		o->quarantined = o->denied = true;
	/* the second verdict: the audit policies enforced too */
	o->audit_reason = (unsigned int)pw_desired_decide_audit(
		&cp->cur, ep->identity, ep->flags, dir, &peer->addr, proto, port, &o->audit_cookie);
	if (!err && pw_reason_is_drop(o->audit_reason)) {
		o->audit_denied = true;
		err = policies_selecting_all(cp, self->pod->ident, type, SEL_ANY,
					     &o->audit_isolated_by, &o->n_audit_isolated_by);
	}
	o->audit_denied |= o->quarantined;
	return err;
}

void pw_cp_verdict_free(struct pw_cp_verdict *v)
{
	if (!v)
		return;
	free(v->egress.isolated_by);
	free(v->ingress.isolated_by);
	free(v->egress.audit_isolated_by);
	free(v->ingress.audit_isolated_by);
	memset(v, 0, sizeof(*v));
}

int pw_cp_verdict(struct pw_cp *cp, const struct pw_cp_endpoint_ref *from,
		  const struct pw_cp_endpoint_ref *to, uint8_t proto, uint16_t port,
		  struct pw_cp_verdict *out)
{
	struct xend f, t;
	int err;

	if (!cp || !from || !to || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	err = resolve_end(cp, from, &f);
	if (!err)
		err = resolve_end(cp, to, &t);
	if (!err)
		err = explain_side(cp, &f, &t, PW_DIR_EGRESS, proto, port, &out->egress);
	if (!err)
		err = explain_side(cp, &t, &f, PW_DIR_INGRESS, proto, port, &out->ingress);
	if (err) {
		pw_cp_verdict_free(out);
		return err;
	}
	out->denied = out->egress.denied || out->ingress.denied;
	/* with more allows this can pass what the enforced policies deny (their union) */
	out->audit_denied = out->egress.audit_denied || out->ingress.audit_denied;
	out->proto = proto;
	out->port = port;
	return 0;
}

void pw_cp_counts_free(struct pw_cp_counts *c)
{
	if (!c)
		return;
	free(c->pending);
	c->pending = NULL;
	c->n_pending = 0;
}

int pw_cp_counts(struct pw_cp *cp, struct pw_cp_counts *out)
{
	size_t i, n_pods;

	if (!cp || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	n_pods = pw_state_count(&cp->st, PW_KIND_POD);
	for (i = 0; cp->dp && i < PW_DPMAP_COUNT; i++) {
		if (i == PW_DPMAP_EVENTS ||
		    pw_dp_map_usage(cp->dp, (enum pw_dp_map)i, &out->maps[out->n_maps]))
			continue;
		out->n_maps++;
	}
	out->pending = calloc(n_pods + 1, sizeof(*out->pending));
	if (!out->pending)
		return -ENOMEM;
	for (i = 0; i < n_pods; i++) {
		const struct pw_sobj *so = pw_state_at(&cp->st, PW_KIND_POD, i);

		if (!so->local)
			continue;
		out->local_pods++;
		if (pod_state(so) == PW_CP_POD_PENDING)
			out->pending[out->n_pending++] = &so->obj.u.pod;
	}
	out->namespaces = pw_state_count(&cp->st, PW_KIND_NAMESPACE);
	out->pods = n_pods;
	out->netpols = pw_state_count(&cp->st, PW_KIND_NETPOL);
	out->identities = cp->st.ids.n_ids;
	out->cidr_identities = cp->st.ids.n_cidrs;
	out->subjects = cp->cur.n_subjects;
	out->policy_keys = pw_desired_policy_keys(&cp->cur);
	out->syncs = cp->syncs;
	out->sync_failures = cp->sync_failures;
	out->last_recompiled = cp->cur.n_recompiled;
	{
		struct pw_svc_stats ss;

		pw_svcs_stats(cp->svcs, &ss);
		out->services = pw_state_count(&cp->st, PW_KIND_SERVICE);
		out->epslices = pw_state_count(&cp->st, PW_KIND_EPSLICE);
		out->svc_frontends = ss.frontends;
		out->svc_backends = ss.backends;
		out->svc_flows_ended = ss.flows_ended;
		out->svc_conns_ended = ss.conns_ended;
		out->svc_end_failures = ss.end_failures;
	}
	if (cp->dp) {
		out->has_metrics = true;
		/* unread: every counter stays zero, so the view lists none, as before */
		if (pw_dp_metrics_read(cp->dp, out->metrics))
			memset(out->metrics, 0, sizeof(out->metrics));
	}
	return 0;
}

/* --- quarantine ------------------------------------------------------------------------------ */

static int cmp_qrow(const void *a, const void *b)
{
	const struct pw_cp_quarantine_row *x = a, *y = b;
	int c = strcmp(x->ns, y->ns);

	return c ? c : strcmp(x->name, y->name);
}

int pw_cp_list_quarantines(struct pw_cp *cp, const char *ns, struct pw_cp_quarantine_row **out,
			   size_t *n)
{
	size_t i;

	if (!cp || !out || !n)
		return -EINVAL;
	*n = 0;
	*out = calloc(cp->st.qt.n + 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (i = 0; i < cp->st.qt.n; i++) {
		if (!ns || !strcmp(ns, cp->st.qt.v[i].ns))
			quarantine_row(&cp->st.qt.v[i], &(*out)[(*n)++]);
	}
	qsort(*out, *n, sizeof(**out), cmp_qrow);
	return 0;
}

const char *pw_cp_quarantine_reason(struct pw_cp *cp, uint32_t ep_id)
{
	const struct pw_quarantine *q;
	size_t i;

	for (i = 0; cp && ep_id && i < pw_state_count(&cp->st, PW_KIND_POD); i++) {
		const struct pw_sobj *o = pw_state_at(&cp->st, PW_KIND_POD, i);

		if (o->ep_id != ep_id)
			continue;
		q = pw_qtab_find(&cp->st.qt, o->obj.u.pod.namespace, o->obj.u.pod.name);
		return q ? (q->reason ? q->reason : "") : NULL;
	}
	return NULL;
}

/*
 * kubectl's equality-based selector text: "k=v", "k==v", "k!=v", "k", "!k", comma-separated
 * (AND). Set-based ones ("k in (a,b)") are refused by name.
 */
static int selector_parse(const char *text, struct pw_selector *out, char *why, size_t why_len)
{
	char *dup = strdup(text), *save = NULL, *tok;
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (!dup)
		return -ENOMEM;
	for (tok = strtok_r(dup, ",", &save); tok && !err; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '='), *val;
		const char *key = tok;
		bool neg = false;

		while (*key == ' ')
			key++;
		if (!eq) {
			enum pw_sel_op op = *key == '!' ? PW_SEL_DOES_NOT_EXIST : PW_SEL_EXISTS;

			key += *key == '!';
			err = pw_invalid_qualified_name(key)
				      ? -EINVAL
				      : pw_selector_add_req(out, key, op, NULL, 0);
			if (err == -EINVAL)
				snprintf(why, why_len, "\"%s\": not a label key", key);
			continue;
		}
		if (eq > tok && eq[-1] == '!') {
			neg = true;
			eq[-1] = 0;
		}
		*eq = 0;
		val = eq + 1 + (eq[1] == '=');
		if (pw_invalid_qualified_name(key) || pw_invalid_label_value(val)) {
			snprintf(why, why_len,
				 "\"%s\": expected key=value, key!=value, key or !key", tok);
			err = -EINVAL;
		} else if (neg) {
			const char *v[1] = {val};

			err = pw_selector_add_req(out, key, PW_SEL_NOT_IN, v, 1);
		} else {
			err = pw_labels_set(&out->match_labels, key, val);
		}
	}
	free(dup);
	if (err)
		pw_selector_clear(out);
	return err;
}

int pw_cp_select_pods(struct pw_cp *cp, const char *ns, const char *selector, const char ***names,
		      size_t *n, char *why, size_t why_len)
{
	struct pw_selector sel;
	size_t i;
	int err;

	if (!cp || !ns || !selector || !names || !n)
		return -EINVAL;
	err = selector_parse(selector, &sel, why, why_len);
	if (err)
		return err;
	*n = 0;
	*names = calloc(pw_state_count(&cp->st, PW_KIND_POD) + 1, sizeof(**names));
	if (!*names) {
		pw_selector_clear(&sel);
		return -ENOMEM;
	}
	for (i = 0; i < pw_state_count(&cp->st, PW_KIND_POD); i++) {
		const struct pw_pod *p = &pw_state_at(&cp->st, PW_KIND_POD, i)->obj.u.pod;

		if (!strcmp(p->namespace, ns) && pw_selector_matches(&sel, &p->labels))
			(*names)[(*n)++] = p->name;
	}
	pw_selector_clear(&sel);
	return 0;
}

/* --- Services ------------------------------------------------------------------------------ */

static const struct pw_pod *pod_of_addr(struct pw_cp *cp, const struct pw_addr *a)
{
	for (size_t i = 0; i < pw_state_count(&cp->st, PW_KIND_POD); i++) {
		const struct pw_pod *p = &pw_state_at(&cp->st, PW_KIND_POD, i)->obj.u.pod;

		for (size_t j = 0; j < p->n_ips; j++) {
			if (!memcmp(&p->ips[j], a, sizeof(*a)))
				return p;
		}
	}
	return NULL;
}

/* The backends of one frontend as pw_cp_svc_backend rows (*out the caller frees). */
static int svc_backends(struct pw_cp *cp, const struct pw_addr *ip, uint16_t port, uint8_t proto,
			struct pw_cp_svc_backend **out, size_t *n, uint32_t *svc_id)
{
	struct pw_svc_backend_ref *refs;
	int err = pw_svcs_backends(cp->svcs, ip, port, proto, &refs, n, svc_id);

	*out = NULL;
	if (err)
		return err;
	*out = calloc(*n + 1, sizeof(**out));
	for (size_t i = 0; *out && i < *n; i++)
		(*out)[i] = (struct pw_cp_svc_backend){refs[i].addr, refs[i].port,
						       pod_of_addr(cp, &refs[i].addr)};
	free(refs);
	return *out ? 0 : -ENOMEM;
}

void pw_cp_service_info_free(struct pw_cp_svc_info *info)
{
	if (!info)
		return;
	for (size_t i = 0; i < info->n_frontends; i++)
		free(info->frontends[i].backends);
	free(info->frontends);
	memset(info, 0, sizeof(*info));
}

int pw_cp_service_info(struct pw_cp *cp, const char *ns, const char *name,
		       struct pw_cp_svc_info *out)
{
	const struct pw_sobj *so;
	const struct pw_service *svc;
	int err = 0;

	if (!cp || !ns || !name || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	so = pw_state_find(&cp->st, PW_KIND_SERVICE, ns, name);
	if (!so)
		return -ENOENT;
	svc = &so->obj.u.svc;
	svc_fill(cp, so, &out->row);
	out->frontends = calloc(svc->n_ips * svc->n_ports + 1, sizeof(*out->frontends));
	if (!out->frontends)
		return -ENOMEM;
	for (size_t a = 0; a < svc->n_ips && !err; a++) {
		for (size_t p = 0; p < svc->n_ports && !err; p++) {
			struct pw_cp_svc_frontend *f = &out->frontends[out->n_frontends++];
			const struct pw_svc_port *sp = &svc->ports[p];

			f->ip = svc->ips[a];
			f->port = sp->port;
			f->proto = sp->proto;
			f->port_name = sp->name ? sp->name : "";
			err = svc_backends(cp, &f->ip, f->port, f->proto, &f->backends,
					   &f->n_backends, &f->svc_id);
			if (err == -ENOENT)
				err = 0; /* not written (yet): no backends */
		}
	}
	if (err)
		pw_cp_service_info_free(out);
	return err;
}

void pw_cp_service_verdict_free(struct pw_cp_svc_verdict *v)
{
	if (!v)
		return;
	for (size_t i = 0; v->v && i < v->n; i++)
		pw_cp_verdict_free(&v->v[i]);
	free(v->v);
	free(v->be);
	memset(v, 0, sizeof(*v));
}

int pw_cp_service_verdict(struct pw_cp *cp, const struct pw_cp_endpoint_ref *from,
			  const struct pw_addr *ip, uint8_t proto, uint16_t port,
			  struct pw_cp_svc_verdict *out)
{
	char label[512], *slash;
	uint32_t svc_id, w[4] = {0};
	int err;

	if (!cp || !from || !ip || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	memcpy(w, ip->a, ip->family == PW_FAMILY_V4 ? 4 : 16);
	err = pw_svcs_name(cp->svcs, ip->family, w, htons(port), proto, label, sizeof(label));
	if (err)
		return err;
	slash = strchr(label, '/');
	if (slash) {
		const struct pw_sobj *so;

		*slash = '\0';
		so = pw_state_find(&cp->st, PW_KIND_SERVICE, label, slash + 1);
		out->svc = so ? &so->obj.u.svc : NULL;
	}
	out->ip = *ip;
	out->proto = proto;
	out->port = port;
	err = svc_backends(cp, ip, port, proto, &out->be, &out->n, &svc_id);
	if (!err) {
		out->v = calloc(out->n + 1, sizeof(*out->v));
		if (!out->v)
			err = -ENOMEM;
	}
	for (size_t i = 0; !err && i < out->n; i++) {
		char a[PW_PREFIX_STRLEN];
		struct pw_cp_endpoint_ref to = {
			.addr = pw_addr_str(&out->be[i].addr, a, sizeof(a))};

		err = pw_cp_verdict(cp, from, &to, proto, out->be[i].port, &out->v[i]);
		out->allowed += !err && !out->v[i].denied;
	}
	if (err)
		pw_cp_service_verdict_free(out);
	return err;
}

int pw_cp_service_name(struct pw_cp *cp, uint8_t family, const uint32_t addr[4], uint16_t port_be,
		       uint8_t proto, char *buf, size_t len)
{
	if (!cp)
		return -EINVAL;
	return pw_svcs_name(cp->svcs, family, addr, port_be, proto, buf, len);
}
