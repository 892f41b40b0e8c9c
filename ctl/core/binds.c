// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#define _GNU_SOURCE
/*
 * The CNI binding table and what the core's transactions do with it (cnibind_int.h): the
 * overlay of bound Pod objects, the fail-closed endpoints of bindings whose Pod object is
 * unknown, link events and `get pods` rows. It calls nothing in cp.c (cp.c calls it), so the
 * core's files stay free of import circles; the ADD/DEL/CHECK transactions are in cnibind.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnibind_int.h"

/* --- the table -------------------------------------------------------------------------------- */

void pw_binding_free(struct pw_binding *b)
{
	if (!b)
		return;
	free(b->container_id);
	free(b->ns);
	free(b->name);
	free(b->uid);
	free(b->ifname);
	free(b->netns);
	free(b->cgroup);
	free(b->orig_interface);
	free(b->orig_cgroup);
	free(b);
}

void pw_binds_clear(struct pw_binds *bs)
{
	size_t i;

	for (i = 0; i < bs->n; i++)
		pw_binding_free(bs->v[i]);
	free(bs->v);
	free(bs->path);
	memset(bs, 0, sizeof(*bs));
}

struct pw_binding *pw_binds_by_id(const struct pw_binds *bs, const char *cid)
{
	size_t i;

	for (i = 0; i < bs->n; i++) {
		if (!strcmp(bs->v[i]->container_id, cid))
			return bs->v[i];
	}
	return NULL;
}

struct pw_binding *pw_binds_by_pod(const struct pw_binds *bs, const char *ns, const char *name)
{
	size_t i;

	for (i = 0; i < bs->n; i++) {
		if (!strcmp(bs->v[i]->ns, ns) && !strcmp(bs->v[i]->name, name))
			return bs->v[i];
	}
	return NULL;
}

int pw_binds_insert(struct pw_binds *bs, struct pw_binding *b)
{
	if (bs->n == bs->cap) {
		size_t nc = bs->cap ? bs->cap * 2 : 16;
		struct pw_binding **nv = realloc(bs->v, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		bs->v = nv;
		bs->cap = nc;
	}
	bs->v[bs->n++] = b;
	return 0;
}

void pw_binds_remove(struct pw_binds *bs, const struct pw_binding *b)
{
	size_t i;

	for (i = 0; i < bs->n; i++) {
		if (bs->v[i] == b) {
			memmove(&bs->v[i], &bs->v[i + 1], (bs->n - i - 1) * sizeof(*bs->v));
			bs->n--;
			return;
		}
	}
}

/* --- the overlay ------------------------------------------------------------------------------ */

int pw_bind_set_str(char **dst, const char *src)
{
	char *c = src ? strdup(src) : NULL;

	if (src && !c)
		return -ENOMEM;
	free(*dst);
	*dst = c;
	return 0;
}

static void overlay_fields(const struct pw_binding *b, struct pw_pod *pod)
{
	/* strdup failures leave the old value: the pod then stays pending, never unprotected */
	pw_bind_set_str(&pod->interface, b->ifname);
	pw_bind_set_str(&pod->cgroup, b->cgroup);
	pod->n_ips = b->n_ips;
	memcpy(pod->ips, b->ips, sizeof(pod->ips));
}

void pw_binds_overlay(struct pw_binds *bs, struct pw_pod *pod)
{
	struct pw_binding *b = pw_binds_by_pod(bs, pod->namespace, pod->name);

	if (!b)
		return;
	/* on failure the old values stay: an unbind then gives back the previous manifest's */
	pw_binds_save_orig(b, pod);
	overlay_fields(b, pod);
}

void pw_binds_after_put(struct pw_binds *bs, struct pw_sobj *so)
{
	struct pw_binding *b = pw_binds_by_pod(bs, so->obj.u.pod.namespace, so->obj.u.pod.name);

	if (!b)
		return;
	/* one number per pod: a fail-closed endpoint becomes the pod's in place */
	if (so->ep_id)
		b->ep_id = so->ep_id;
	else
		so->ep_id = b->ep_id;
}

int pw_binds_save_orig(struct pw_binding *b, const struct pw_pod *pod)
{
	char *ifn = NULL, *cg = NULL;

	if (pw_bind_set_str(&ifn, pod->interface) || pw_bind_set_str(&cg, pod->cgroup)) {
		free(ifn);
		return -ENOMEM;
	}
	free(b->orig_interface);
	free(b->orig_cgroup);
	b->orig_interface = ifn;
	b->orig_cgroup = cg;
	b->n_orig_ips = pod->n_ips;
	memcpy(b->orig_ips, pod->ips, sizeof(b->orig_ips));
	return 0;
}

int pw_binds_copy_orig(struct pw_binding *dst, const struct pw_binding *src)
{
	struct pw_pod p = {.interface = src->orig_interface,
			   .cgroup = src->orig_cgroup,
			   .n_ips = src->n_orig_ips};

	memcpy(p.ips, src->orig_ips, sizeof(p.ips));
	return pw_binds_save_orig(dst, &p);
}

/* The Pod object as it was stored before the binding overlaid it. */
static int unoverlay_fields(const struct pw_binding *b, struct pw_pod *pod)
{
	int err;

	err = pw_bind_set_str(&pod->interface, b->orig_interface);
	err = err ?: pw_bind_set_str(&pod->cgroup, b->orig_cgroup);
	if (err)
		return err;
	pod->n_ips = b->n_orig_ips;
	memcpy(pod->ips, b->orig_ips, sizeof(pod->ips));
	return 0;
}

static int pod_copy(struct pw_pod *dst, const struct pw_pod *src)
{
	size_t i;
	int err = -ENOMEM;

	memset(dst, 0, sizeof(*dst));
	dst->namespace = strdup(src->namespace);
	dst->name = strdup(src->name);
	if (!dst->namespace || !dst->name)
		goto fail;
	if (pw_bind_set_str(&dst->interface, src->interface) ||
	    pw_bind_set_str(&dst->cgroup, src->cgroup))
		goto fail;
	err = pw_labels_copy(&dst->labels, &src->labels);
	err = err ?: pw_labels_copy(&dst->annotations, &src->annotations);
	if (err)
		goto fail;
	err = -ENOMEM;
	dst->n_ips = src->n_ips;
	memcpy(dst->ips, src->ips, sizeof(dst->ips));
	if (src->n_ports) {
		dst->ports = calloc(src->n_ports, sizeof(*dst->ports));
		if (!dst->ports)
			goto fail;
		dst->n_ports = src->n_ports;
		for (i = 0; i < src->n_ports; i++) {
			dst->ports[i] = src->ports[i];
			dst->ports[i].name = NULL;
			if (pw_bind_set_str(&dst->ports[i].name, src->ports[i].name))
				goto fail;
		}
	}
	return 0;
fail:
	pw_pod_clear(dst);
	return err;
}

/* Store the Pod object again, with (b given) or without (orig) a binding's fields. */
int pw_binds_restore_pod(struct pw_state *st, struct pw_sobj *so, const struct pw_binding *b,
			 const struct pw_binding *orig)
{
	struct pw_object obj = {.kind = PW_KIND_POD};
	int err;

	obj.src = so->obj.src;
	obj.src.file = NULL;
	err = pod_copy(&obj.u.pod, &so->obj.u.pod);
	if (err)
		return err;
	obj.src.file = pw_source_file_ref(so->obj.src.file);
	if (b)
		overlay_fields(b, &obj.u.pod);
	else
		err = unoverlay_fields(orig, &obj.u.pod);
	if (!err)
		err = pw_state_put(st, &obj, so->source);
	pw_object_clear(&obj);
	return err;
}

/* --- fail-closed endpoints ----------------------------------------------------------------------
 */

static uint32_t longest_cidr(const struct pw_idtab *t, const struct pw_addr *a)
{
	uint32_t id = 0;
	int best = -1;
	size_t i;

	for (i = 0; i < t->n_cidrs; i++) {
		const struct pw_cidr_ident *c = t->cidrs[i];

		if (c->refs && c->prefix.prefixlen > best &&
		    pw_prefix_contains_addr(&c->prefix, a)) {
			best = c->prefix.prefixlen;
			id = c->id;
		}
	}
	return id;
}

static int cmp_ep(const void *a, const void *b)
{
	const struct pw_endpoint *x = a, *y = b;

	return x->ep_id < y->ep_id ? -1 : x->ep_id > y->ep_id;
}

int pw_binds_failclosed(const struct pw_binds *bs, const struct pw_state *st, struct pw_desired *d)
{
	size_t i, j, k, n_ipc0;
	void *nv;

	/* compile may have carried last time's fail-closed entries over: start from none */
	for (i = k = 0; i < d->n_eps; i++) {
		if (d->eps[i].identity != PW_ID_UNKNOWN)
			d->eps[k++] = d->eps[i];
	}
	d->n_eps = k;
	for (i = k = 0; i < d->n_ipc; i++) {
		if (d->ipc[i].identity != PW_ID_UNKNOWN)
			d->ipc[k++] = d->ipc[i];
	}
	d->n_ipc = k;
	if (!bs->n)
		return 0;
	nv = realloc(d->eps, (d->n_eps + bs->n + 1) * sizeof(*d->eps));
	if (!nv)
		return -ENOMEM;
	d->eps = nv;
	nv = realloc(d->ipc, (d->n_ipc + bs->n * PW_POD_MAX_IPS + 1) * sizeof(*d->ipc));
	if (!nv)
		return -ENOMEM;
	d->ipc = nv;
	n_ipc0 = d->n_ipc;
	for (i = 0; i < bs->n; i++) {
		const struct pw_binding *b = bs->v[i];
		struct pw_endpoint *ep;

		if (pw_state_find(st, PW_KIND_POD, b->ns, b->name))
			continue; /* overlaid on its Pod object */
		if (!b->ep_id || (!b->ifindex && !b->cgroup_id))
			continue;
		ep = &d->eps[d->n_eps++];
		memset(ep, 0, sizeof(*ep));
		ep->ep_id = b->ep_id;
		ep->identity = PW_ID_UNKNOWN;
		ep->ifindex = b->ifindex;
		ep->cgroup_id = b->cgroup_id;
		/* isolated both ways, and identity UNKNOWN has no policy entries: replies only */
		ep->flags = PW_EP_F_ISOLATE_INGRESS | PW_EP_F_ISOLATE_EGRESS;
		for (j = 0; j < b->n_ips; j++) {
			struct pw_dipc e = {0};
			const struct pw_addr *a = &b->ips[j];

			if (a->family == PW_FAMILY_V4 && ep->n_v4 < PW_EP_MAX_V4)
				memcpy(&ep->v4[ep->n_v4++], a->a, 4);
			else if (a->family == PW_FAMILY_V6 && ep->n_v6 < PW_EP_MAX_V6)
				memcpy(ep->v6[ep->n_v6++], a->a, 16);
			e.prefix.family = a->family;
			e.prefix.prefixlen = a->family == PW_FAMILY_V4 ? 32 : 128;
			memcpy(e.prefix.a, a->a, sizeof(e.prefix.a));
			/* an address a Pod object claims keeps that pod's identity */
			if (n_ipc0 && bsearch(&e, d->ipc, n_ipc0, sizeof(*d->ipc), pw_dipc_cmp))
				continue;
			e.identity = PW_ID_UNKNOWN;
			e.cidr_identity = longest_cidr(&st->ids, a);
			d->ipc[d->n_ipc++] = e;
		}
	}
	qsort(d->eps, d->n_eps, sizeof(*d->eps), cmp_ep);
	qsort(d->ipc, d->n_ipc, sizeof(*d->ipc), pw_dipc_cmp);
	/* two bindings claiming one address: keep one entry */
	for (i = k = 0; i < d->n_ipc; i++) {
		if (k && !pw_dipc_cmp(&d->ipc[k - 1], &d->ipc[i]))
			continue;
		d->ipc[k++] = d->ipc[i];
	}
	d->n_ipc = k;
	return 0;
}

bool pw_binds_link_event(struct pw_binds *bs, const char *ifname, uint32_t ifindex)
{
	bool changed = false;
	size_t i;

	for (i = 0; i < bs->n; i++) {
		struct pw_binding *b = bs->v[i];

		if (strcmp(b->ifname, ifname) || b->ifindex == ifindex)
			continue;
		b->ifindex = ifindex;
		changed = true;
	}
	return changed;
}

static int cmp_row(const void *a, const void *b)
{
	const struct pw_cp_pod_row *x = a, *y = b;
	int c = strcmp(x->pod->namespace, y->pod->namespace);

	return c ? c : strcmp(x->pod->name, y->pod->name);
}

int pw_binds_pod_rows(struct pw_binds *bs, const struct pw_state *st, const char *ns,
		      struct pw_cp_pod_row **rows, size_t *n)
{
	struct pw_cp_pod_row *r;
	size_t i, n0 = *n, k = 0;

	for (i = 0; i < bs->n; i++) {
		const struct pw_binding *b = bs->v[i];

		k += (!ns || !strcmp(ns, b->ns)) && !pw_state_find(st, PW_KIND_POD, b->ns, b->name);
	}
	if (!k)
		return 0;
	r = realloc(*rows, (n0 + k + 1) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	*rows = r;
	for (i = 0; i < bs->n; i++) {
		struct pw_binding *b = bs->v[i];
		struct pw_cp_pod_row *row;

		if ((ns && strcmp(ns, b->ns)) || pw_state_find(st, PW_KIND_POD, b->ns, b->name))
			continue;
		/* no labels: no policy can name it, and nothing passes */
		memset(&b->view, 0, sizeof(b->view));
		b->view.namespace = b->ns;
		b->view.name = b->name;
		b->view.interface = b->ifname;
		b->view.cgroup = b->cgroup;
		b->view.n_ips = b->n_ips;
		memcpy(b->view.ips, b->ips, sizeof(b->view.ips));
		row = &r[(*n)++];
		memset(row, 0, sizeof(*row));
		row->pod = &b->view;
		row->source = "cni";
		row->identity = PW_ID_UNKNOWN;
		row->state = PW_CP_POD_FAIL_CLOSED;
		row->ep_id = b->ep_id;
		row->ifindex = b->ifindex;
		row->cgroup_id = b->cgroup_id;
	}
	qsort(r + n0, *n - n0, sizeof(*r), cmp_row);
	return 0;
}
