// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

void pw_state_init(struct pw_state *st)
{
	memset(st, 0, sizeof(*st));
	pw_idtab_init(&st->ids);
	st->next_ep_id = 1;
}

static void sobj_free(struct pw_sobj *o)
{
	if (!o)
		return;
	pw_object_clear(&o->obj);
	pw_source_file_put(o->source);
	free(o);
}

void pw_state_clear(struct pw_state *st)
{
	size_t i, k;

	if (!st)
		return;
	for (i = 0; i < st->n_log; i++)
		sobj_free(st->log[i].old);
	free(st->log);
	pw_qtab_clear(&st->qt);
	for (k = 0; k < PW_KIND_COUNT; k++) {
		for (i = 0; i < st->n_objs[k]; i++)
			sobj_free(st->objs[k][i]);
		free(st->objs[k]);
	}
	pw_htab_clear(&st->index);
	pw_idtab_clear(&st->ids);
	pw_source_file_put(st->last_source);
	pw_state_init(st);
}

/* "" rather than NULL for a Namespace: store keys compare namespaces as strings */
const char *pw_obj_ns(const struct pw_object *o)
{
	const char *ns = pw_object_namespace(o);

	return ns ? ns : "";
}

const char *pw_obj_name(const struct pw_object *o)
{
	const char *name = pw_object_name(o);

	return name ? name : "";
}

struct obj_probe {
	enum pw_kind kind;
	const char *ns, *name;
};

static uint32_t obj_hash(enum pw_kind k, const char *ns, const char *name)
{
	uint8_t kb = (uint8_t)k;
	uint32_t h = pw_hash_bytes(PW_FNV32_INIT, &kb, 1);

	h = pw_hash_bytes(h, ns, strlen(ns) + 1);
	return pw_hash_bytes(h, name, strlen(name) + 1);
}

static bool obj_eq(const void *obj, const void *probe)
{
	const struct pw_sobj *o = obj;
	const struct obj_probe *p = probe;

	return o->obj.kind == p->kind && !strcmp(pw_obj_ns(&o->obj), p->ns) &&
	       !strcmp(pw_obj_name(&o->obj), p->name);
}

struct pw_sobj *pw_state_find(const struct pw_state *st, enum pw_kind k, const char *ns,
			      const char *name)
{
	struct obj_probe p = {k, k == PW_KIND_NAMESPACE ? "" : ns, name};

	if (!name || !p.ns)
		return NULL;
	return pw_htab_find(&st->index, obj_hash(k, p.ns, name), obj_eq, &p);
}

const struct pw_labels *pw_state_ns_labels(const struct pw_state *st, const char *ns,
					   struct pw_ns_scratch *scratch)
{
	struct pw_sobj *o = pw_state_find(st, PW_KIND_NAMESPACE, NULL, ns);

	if (o)
		return &o->obj.u.ns.labels;
	/* a pod may come before its Namespace: it still has the label the API server sets */
	scratch->one.key = (char *)PW_LABEL_NS_NAME;
	scratch->one.value = (char *)ns;
	scratch->l.n = 1;
	scratch->l.v = &scratch->one;
	return &scratch->l;
}

/* --- references held by objects --------------------------------------------------------------- */

static int pod_acquire(struct pw_state *st, struct pw_sobj *o)
{
	const struct pw_pod *pod = &o->obj.u.pod;
	struct pw_ns_scratch scratch;
	const struct pw_labels *nsl = pw_state_ns_labels(st, pod->namespace, &scratch);

	return pw_ident_acquire(&st->ids, pod->namespace, nsl, &pod->labels, pod->ports,
				pod->n_ports, pod->ips, pod->n_ips, o->local, &o->ident);
}

static void np_release(struct pw_state *st, const struct pw_netpol *np, size_t n_in, size_t n_eg,
		       size_t n_rules_cidr, bool all)
{
	size_t i, j, k, seen = 0;
	const struct pw_np_rule *rules[2] = {np->ingress, np->egress};
	size_t nr[2] = {np->n_ingress, np->n_egress};

	/* cookies: the first n_in ingress and n_eg egress rules (all of them when all) */
	for (i = 0; i < (all ? nr[0] : n_in); i++)
		pw_cookie_release(&st->ids, np->namespace, np->name, PW_DIR_INGRESS, (uint32_t)i);
	for (i = 0; i < (all ? nr[1] : n_eg); i++)
		pw_cookie_release(&st->ids, np->namespace, np->name, PW_DIR_EGRESS, (uint32_t)i);
	/* prefixes: in walk order, the first n_rules_cidr of them */
	for (k = 0; k < 2; k++) {
		for (i = 0; i < nr[k]; i++) {
			for (j = 0; j < rules[k][i].n_peers; j++) {
				const struct pw_ipblock *b = rules[k][i].peers[j].ipblock;
				size_t e;

				if (!b)
					continue;
				if (!all && seen >= n_rules_cidr)
					return;
				pw_cidr_release(&st->ids, &b->cidr);
				seen++;
				for (e = 0; e < b->n_except; e++) {
					if (!all && seen >= n_rules_cidr)
						return;
					pw_cidr_release(&st->ids, &b->except[e]);
					seen++;
				}
			}
		}
	}
}

static int np_acquire(struct pw_state *st, const struct pw_netpol *np)
{
	const struct pw_np_rule *rules[2] = {np->ingress, np->egress};
	size_t nr[2] = {np->n_ingress, np->n_egress};
	size_t got[2] = {0, 0}, seen = 0, i, j, k, e;
	uint32_t cookie;
	int err;

	for (k = 0; k < 2; k++) {
		for (i = 0; i < nr[k]; i++) {
			err = pw_cookie_acquire(&st->ids, np->namespace, np->name,
						k ? PW_DIR_EGRESS : PW_DIR_INGRESS, (uint32_t)i,
						&cookie);
			if (err)
				goto fail;
			got[k]++;
		}
	}
	for (k = 0; k < 2; k++) {
		for (i = 0; i < nr[k]; i++) {
			for (j = 0; j < rules[k][i].n_peers; j++) {
				const struct pw_ipblock *b = rules[k][i].peers[j].ipblock;

				if (!b)
					continue;
				err = pw_cidr_acquire(&st->ids, &b->cidr, NULL);
				if (err)
					goto fail;
				seen++;
				for (e = 0; e < b->n_except; e++) {
					err = pw_cidr_acquire(&st->ids, &b->except[e], NULL);
					if (err)
						goto fail;
					seen++;
				}
			}
		}
	}
	return 0;
fail:
	np_release(st, np, got[0], got[1], seen, false);
	return err;
}

static int relabel_ns_pods(struct pw_state *st, const char *ns)
{
	size_t i;
	int err;

	for (i = 0; i < st->n_objs[PW_KIND_POD]; i++) {
		struct pw_sobj *o = st->objs[PW_KIND_POD][i];
		struct pw_ident *old = o->ident;

		if (strcmp(o->obj.u.pod.namespace, ns))
			continue;
		err = pod_acquire(st, o);
		if (err) {
			o->ident = old;
			return err;
		}
		pw_ident_release(&st->ids, old, o->local);
	}
	return 0;
}

static int sobj_acquire(struct pw_state *st, struct pw_sobj *o)
{
	switch (o->obj.kind) {
	case PW_KIND_POD:
		o->local = o->obj.u.pod.interface || o->obj.u.pod.cgroup;
		return pod_acquire(st, o);
	case PW_KIND_NETPOL:
		return np_acquire(st, &o->obj.u.np);
	default:
		return 0;
	}
}

static void sobj_release(struct pw_state *st, struct pw_sobj *o)
{
	switch (o->obj.kind) {
	case PW_KIND_POD:
		pw_ident_release(&st->ids, o->ident, o->local);
		o->ident = NULL;
		break;
	case PW_KIND_NETPOL:
		np_release(st, &o->obj.u.np, 0, 0, 0, true);
		break;
	default:
		break;
	}
}

/* --- arrays and index ------------------------------------------------------------------------- */

static int link_obj(struct pw_state *st, struct pw_sobj *o)
{
	enum pw_kind k = o->obj.kind;
	int err;

	if (st->n_objs[k] == st->cap_objs[k]) {
		size_t nc = st->cap_objs[k] ? st->cap_objs[k] * 2 : 16;
		struct pw_sobj **nv = realloc(st->objs[k], nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		st->objs[k] = nv;
		st->cap_objs[k] = nc;
	}
	o->hash = obj_hash(k, pw_obj_ns(&o->obj), pw_obj_name(&o->obj));
	err = pw_htab_insert(&st->index, o->hash, o);
	if (err)
		return err;
	st->objs[k][st->n_objs[k]++] = o;
	return 0;
}

static void unlink_obj(struct pw_state *st, struct pw_sobj *o)
{
	enum pw_kind k = o->obj.kind;
	size_t i;

	pw_htab_remove(&st->index, o->hash, o);
	for (i = 0; i < st->n_objs[k]; i++) {
		if (st->objs[k][i] == o) {
			st->objs[k][i] = st->objs[k][--st->n_objs[k]];
			break;
		}
	}
}

/*
 * A bulk apply grows the log to one entry per object (16,384 of them, 384 KiB, at 10,000
 * pods); kept, that room would stay resident for good while a change logs a handful. An
 * emptied log past its first allocation goes, and the next change allocates it again.
 */
#define LOG_KEEP 16 /* the first allocation */

static int log_change(struct pw_state *st, enum pw_kind k, struct pw_sobj *old, struct pw_sobj *cur)
{
	if (st->n_log == st->cap_log) {
		size_t nc = st->cap_log ? st->cap_log * 2 : LOG_KEEP;
		struct pw_change *nv = realloc(st->log, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		st->log = nv;
		st->cap_log = nc;
	}
	st->log[st->n_log].kind = k;
	st->log[st->n_log].old = old;
	st->log[st->n_log++].cur = cur;
	return 0;
}

/*
 * Swap old (may be NULL) for cur (may be NULL) in the store, moving references. On failure
 * the store is as before.
 */
static int swap_obj(struct pw_state *st, enum pw_kind k, const char *ns, struct pw_sobj *old,
		    struct pw_sobj *cur)
{
	int err;

	if (cur) {
		err = sobj_acquire(st, cur);
		if (err)
			return err;
	}
	if (old)
		unlink_obj(st, old);
	if (cur) {
		err = link_obj(st, cur);
		if (err) {
			sobj_release(st, cur);
			if (old)
				/* the slot and index room it left are still there */
				link_obj(st, old);
			return err;
		}
	}
	if (old)
		sobj_release(st, old);
	if (k == PW_KIND_NAMESPACE) {
		err = relabel_ns_pods(st, ns);
		if (err) {
			/* out of memory: swap back, so the caller still owns cur */
			if (cur) {
				unlink_obj(st, cur);
				sobj_release(st, cur);
			}
			if (old && !sobj_acquire(st, old))
				link_obj(st, old);
			relabel_ns_pods(st, ns);
			return err;
		}
	}
	return 0;
}

int pw_state_put(struct pw_state *st, struct pw_object *obj, const char *source)
{
	struct pw_sobj *cur, *old;
	char *ns;
	int err = -ENOMEM;

	if (!obj || !source)
		return -EINVAL;
	cur = calloc(1, sizeof(*cur));
	if (!cur)
		return -ENOMEM;
	/* one string per source, not per object: a bulk apply's 10,000 pods share "cli" */
	if (!st->last_source || strcmp(st->last_source, source)) {
		char *s = pw_source_file_new(source);

		if (!s)
			goto fail;
		pw_source_file_put(st->last_source);
		st->last_source = s;
	}
	cur->source = pw_source_file_ref(st->last_source);
	if (st->n_log == st->cap_log) {
		err = log_change(st, obj->kind, NULL, NULL); /* reserve room: cannot fail later */
		if (err)
			goto fail;
		st->n_log--;
	}
	cur->obj = *obj;
	memset(obj, 0, sizeof(*obj));
	old = pw_state_find(st, cur->obj.kind, pw_obj_ns(&cur->obj), pw_obj_name(&cur->obj));
	if (old && cur->obj.kind == PW_KIND_POD) {
		cur->ep_id = old->ep_id;
		cur->ifindex = old->ifindex;
		cur->cgroup_id = old->cgroup_id;
	}
	ns = cur->obj.kind == PW_KIND_NAMESPACE ? cur->obj.u.ns.name : NULL;
	err = swap_obj(st, cur->obj.kind, ns, old, cur);
	if (err) {
		*obj = cur->obj; /* give it back */
		memset(&cur->obj, 0, sizeof(cur->obj));
		goto fail;
	}
	log_change(st, cur->obj.kind, old, cur);
	return 0;
fail:
	sobj_free(cur);
	return err;
}

int pw_state_delete(struct pw_state *st, enum pw_kind k, const char *ns, const char *name)
{
	struct pw_sobj *old = pw_state_find(st, k, ns, name);
	int err;

	if (!old)
		return -ENOENT;
	if (st->n_log == st->cap_log) {
		err = log_change(st, k, NULL, NULL);
		if (err)
			return err;
		st->n_log--;
	}
	err = swap_obj(st, k, k == PW_KIND_NAMESPACE ? old->obj.u.ns.name : NULL, old, NULL);
	if (err)
		return err;
	log_change(st, k, old, NULL);
	return 0;
}

void pw_state_assign_ep_ids(struct pw_state *st)
{
	size_t i;

	/* monotonic: recovery moves next_ep_id past every number the pinned endpoints hold */
	for (i = 0; i < st->n_objs[PW_KIND_POD]; i++) {
		struct pw_sobj *o = st->objs[PW_KIND_POD][i];

		if (!o->local || o->ep_id)
			continue;
		if (!st->next_ep_id)
			st->next_ep_id = 1;
		o->ep_id = st->next_ep_id++;
	}
}

static void log_shrink(struct pw_state *st)
{
	if (!st->n_log && st->cap_log > LOG_KEEP) {
		free(st->log);
		st->log = NULL;
		st->cap_log = 0;
	}
}

void pw_state_commit(struct pw_state *st)
{
	size_t i;

	for (i = 0; i < st->n_log; i++)
		sobj_free(st->log[i].old);
	st->n_log = 0;
	log_shrink(st);
	pw_idtab_commit(&st->ids);
}

void pw_state_rollback_to(struct pw_state *st, size_t mark)
{
	size_t i;

	for (i = st->n_log; i-- > mark;) {
		struct pw_change *c = &st->log[i];
		const char *ns = NULL;

		if (c->kind == PW_KIND_NAMESPACE)
			ns = c->cur ? c->cur->obj.u.ns.name : c->old->obj.u.ns.name;
		/*
		 * Putting back what was there re-acquires references the change released; they
		 * are zombies until the next commit, so the numbers come back unchanged.
		 */
		if (swap_obj(st, c->kind, ns, c->cur, c->old))
			sobj_free(c->old); /* out of memory: the newer object stays */
		else
			sobj_free(c->cur);
	}
	if (mark < st->n_log)
		st->n_log = mark;
}

void pw_state_rollback(struct pw_state *st)
{
	pw_state_rollback_to(st, 0);
	log_shrink(st);
	pw_idtab_commit(&st->ids);
}
