// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The reconciler: reads back what the kernel holds (pw_dp_iter_*), diffs it against the
 * desired state and writes the difference in an order that never wrongly allows or denies.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reconcile.h"

/* --- conversions ------------------------------------------------------------------------------ */

static void dipc_to_entry(const struct pw_dipc *d, struct pw_ipcache_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->cidr.family = d->prefix.family;
	e->cidr.prefixlen = d->prefix.prefixlen;
	memcpy(e->cidr.addr, d->prefix.a, sizeof(e->cidr.addr));
	e->val.identity = d->identity;
	e->val.cidr_identity = d->cidr_identity;
}

static void dkey_to_entry(uint32_t subject, const struct pw_dkey *k, struct pw_policy_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->subject = subject;
	e->peer = k->peer;
	e->direction = k->dir;
	e->proto = k->proto;
	pw_dkey_range(k, &e->port_lo, &e->port_hi);
	e->val.flags = PW_POL_F_ALLOW;
	e->val.cookie = k->cookie;
}

/* --- growable batches ------------------------------------------------------------------------- */

struct batch {
	size_t n, cap, sz;
	void *v;
};

static int batch_push(struct batch *b, const void *e)
{
	if (b->n == b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 64;
		void *nv = realloc(b->v, nc * b->sz);

		if (!nv)
			return -ENOMEM;
		b->v = nv;
		b->cap = nc;
	}
	memcpy((char *)b->v + b->n * b->sz, e, b->sz);
	b->n++;
	return 0;
}

/* --- reading the maps ------------------------------------------------------------------------- */

void pw_current_clear(struct pw_current *cur)
{
	if (!cur)
		return;
	pw_desired_clear(&cur->d);
	free(cur->strays);
	memset(cur, 0, sizeof(*cur));
}

static int read_ipcache(struct pw_dp *dp, struct pw_desired *d)
{
	struct batch b = {.sz = sizeof(struct pw_dipc)};
	struct pw_ipcache_key key;
	struct pw_ipcache_val val;
	struct pw_dp_iter it;
	int err, r;

	err = pw_dp_iter_init(dp, PW_DPMAP_IPCACHE, &it);
	if (err)
		return err;
	while ((r = pw_dp_iter_next(&it, &key, &val)) > 0) {
		struct pw_dipc e = {0};

		if (key.prefixlen < PW_IPCACHE_PREFIX_BITS)
			continue;
		e.prefix.family = key.family;
		e.prefix.prefixlen = (uint8_t)(key.prefixlen - PW_IPCACHE_PREFIX_BITS);
		memcpy(e.prefix.a, key.addr, sizeof(e.prefix.a));
		e.identity = val.identity;
		e.cidr_identity = val.cidr_identity;
		err = batch_push(&b, &e);
		if (err)
			goto out;
	}
	if (r < 0) {
		err = r;
		goto out;
	}
	if (b.n)
		qsort(b.v, b.n, b.sz, pw_dipc_cmp);
	d->ipc = b.v;
	d->n_ipc = b.n;
	b.v = NULL;
out:
	free(b.v);
	return err;
}

/* a key read back, with the subject its array will stand for */
struct subject_key {
	uint32_t subject;
	struct pw_dkey k;
};

static int cmp_subject_key(const void *a, const void *b)
{
	const struct subject_key *x = a, *y = b;

	if (x->subject != y->subject)
		return x->subject < y->subject ? -1 : 1;
	return pw_dkey_cmp(&x->k, &y->k);
}

static int read_policy(struct pw_dp *dp, struct pw_desired *d)
{
	struct batch b = {.sz = sizeof(struct subject_key)};
	struct pw_policy_key key;
	struct pw_policy_val val;
	struct pw_dp_iter it;
	size_t i, j, k;
	int err, r;

	err = pw_dp_iter_init(dp, PW_DPMAP_POLICY, &it);
	if (err)
		return err;
	while ((r = pw_dp_iter_next(&it, &key, &val)) > 0) {
		struct subject_key sk = {0};

		if (key.prefixlen < PW_POLICY_BITS_ANY_PROTO)
			continue; /* nobody writes these; a stray would match every subject */
		sk.subject = ntohl(key.subject);
		sk.k.peer = ntohl(key.peer);
		sk.k.dir = key.direction;
		if (key.prefixlen >= PW_POLICY_BITS_PROTO) {
			sk.k.proto = key.proto;
			sk.k.port_bits = (uint8_t)(key.prefixlen - PW_POLICY_BITS_PROTO);
			sk.k.port = ntohs(key.dport);
		}
		sk.k.cookie = val.cookie;
		err = batch_push(&b, &sk);
		if (err)
			goto out;
	}
	if (r < 0) {
		err = r;
		goto out;
	}
	if (b.n)
		qsort(b.v, b.n, b.sz, cmp_subject_key);
	d->subjects = calloc(b.n + 1, sizeof(*d->subjects));
	if (!d->subjects) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < b.n; i = j) {
		const struct subject_key *keys = b.v;
		struct pw_dsubject *s = &d->subjects[d->n_subjects];

		for (j = i; j < b.n && keys[j].subject == keys[i].subject; j++)
			;
		s->id = keys[i].subject;
		s->keys = pw_dkeys_alloc(j - i);
		if (!s->keys) {
			err = -ENOMEM;
			goto out;
		}
		for (k = i; k < j; k++)
			s->keys[k - i] = keys[k].k;
		s->n = j - i;
		d->n_subjects++;
	}
out:
	free(b.v);
	return err;
}

static int cmp_ep(const void *a, const void *b)
{
	const struct pw_endpoint *x = a, *y = b;

	return x->ep_id < y->ep_id ? -1 : x->ep_id > y->ep_id;
}

static int read_endpoints(struct pw_dp *dp, struct pw_current *cur)
{
	struct batch eps = {.sz = sizeof(struct pw_endpoint)};
	struct batch strays = {.sz = sizeof(struct pw_stray_ep)};
	enum pw_dp_map maps[2] = {PW_DPMAP_EP_IF, PW_DPMAP_EP_CG};
	size_t m, i;
	int err = 0;

	for (m = 0; m < 2; m++) {
		uint64_t key = 0; /* the ifindex map's keys are 32 bits: the high half stays 0 */
		struct pw_endpoint v;
		struct pw_dp_iter it;
		int r;

		err = pw_dp_iter_init(dp, maps[m], &it);
		if (err)
			goto out;
		while ((r = pw_dp_iter_next(&it, &key, &v)) > 0) {
			struct pw_endpoint *have = NULL;
			struct pw_stray_ep s = {0};

			/* the keys tell the truth about where an entry is; the values may drift */
			if (m == 0) {
				v.ifindex = (uint32_t)key;
				s.ifindex = (uint32_t)key;
			} else {
				v.cgroup_id = key;
				s.cgroup_id = key;
			}
			for (i = 0; i < eps.n; i++) {
				struct pw_endpoint *e = (struct pw_endpoint *)eps.v + i;

				if (e->ep_id == v.ep_id)
					have = e;
			}
			if (!have) {
				if (m == 1)
					v.ifindex = 0;
				else
					v.cgroup_id = 0;
				err = batch_push(&eps, &v);
			} else if (m == 1 && !have->cgroup_id) {
				have->cgroup_id = key; /* the other half of the same endpoint */
			} else {
				err = batch_push(&strays, &s);
			}
			if (err)
				goto out;
		}
		if (r < 0) {
			err = r;
			goto out;
		}
	}
	if (eps.n)
		qsort(eps.v, eps.n, eps.sz, cmp_ep);
	cur->d.eps = eps.v;
	cur->d.n_eps = eps.n;
	cur->strays = strays.v;
	cur->n_strays = strays.n;
	eps.v = strays.v = NULL;
out:
	free(eps.v);
	free(strays.v);
	return err;
}

int pw_reconcile_read(struct pw_dp *dp, struct pw_current *cur)
{
	int err;

	memset(cur, 0, sizeof(*cur));
	err = read_ipcache(dp, &cur->d);
	if (!err)
		err = read_policy(dp, &cur->d);
	if (!err)
		err = read_endpoints(dp, cur);
	if (err)
		pw_current_clear(cur);
	return err;
}

/* --- writing ---------------------------------------------------------------------------------- */

struct plan {
	struct batch ipc_upd; /* struct pw_ipcache_entry */
	struct batch ipc_del; /* struct pw_cidr */
	struct batch pol_upd; /* struct pw_policy_entry */
	struct batch pol_del;
	struct batch shrunk; /* uint32_t subject ids with a key removed or changed */
	bool ipc_changed;    /* an address now resolves to another identity, or to none */
};

static int plan_ipcache(const struct pw_desired *cur, const struct pw_desired *next, bool force,
			struct plan *p)
{
	size_t i = 0, j = 0;
	int err = 0;

	while (!err && (i < cur->n_ipc || j < next->n_ipc)) {
		const struct pw_dipc *c = i < cur->n_ipc ? &cur->ipc[i] : NULL;
		const struct pw_dipc *n = j < next->n_ipc ? &next->ipc[j] : NULL;
		int cmp = !c ? 1 : !n ? -1 : pw_dipc_cmp(c, n);
		struct pw_ipcache_entry e;

		if (cmp < 0) {
			dipc_to_entry(c, &e);
			err = batch_push(&p->ipc_del, &e.cidr);
			p->ipc_changed = true;
			i++;
		} else if (cmp > 0) {
			dipc_to_entry(n, &e);
			err = batch_push(&p->ipc_upd, &e);
			j++;
		} else {
			if (force || c->identity != n->identity ||
			    c->cidr_identity != n->cidr_identity) {
				dipc_to_entry(n, &e);
				err = batch_push(&p->ipc_upd, &e);
				p->ipc_changed = true;
			}
			i++;
			j++;
		}
	}
	return err;
}

static int plan_subject(const struct pw_dsubject *c, const struct pw_dsubject *n, bool force,
			struct plan *p)
{
	size_t i = 0, j = 0, nc = c ? c->n : 0, nn = n ? n->n : 0;
	bool shrunk = false;
	int err = 0;

	if (!force && c && n && c->keys == n->keys)
		return 0; /* one shared array (compile.h): nothing to diff */
	while (!err && (i < nc || j < nn)) {
		const struct pw_dkey *a = i < nc ? &c->keys[i] : NULL;
		const struct pw_dkey *b = j < nn ? &n->keys[j] : NULL;
		int cmp;
		struct pw_policy_entry e;

		/* a recompiled subject keeps most keys: an equal one costs one inlined compare */
		if (!force && a && b && !memcmp(a, b, sizeof(*a))) {
			i++;
			j++;
			continue;
		}
		cmp = !a ? 1 : !b ? -1 : pw_dkey_cmp(a, b);

		if (cmp < 0) {
			dkey_to_entry(c->id, a, &e);
			err = batch_push(&p->pol_del, &e);
			shrunk = true;
			i++;
		} else if (cmp > 0) {
			dkey_to_entry(n->id, b, &e);
			err = batch_push(&p->pol_upd, &e);
			j++;
		} else {
			if (force || a->cookie != b->cookie) {
				dkey_to_entry(n->id, b, &e);
				err = batch_push(&p->pol_upd, &e);
			}
			i++;
			j++;
		}
	}
	if (!err && shrunk) {
		uint32_t id = c->id;

		err = batch_push(&p->shrunk, &id);
	}
	return err;
}

static int plan_policy(const struct pw_desired *cur, const struct pw_desired *next, bool force,
		       struct plan *p)
{
	/*
	 * A subject the compiler carried over from cur itself holds cur's keys: nothing to diff
	 * (a change recompiles a few subjects; diffing all of them was a tenth of its time).
	 */
	bool carried_ok = !force && cur->gen && next->carried_from == cur->gen;
	size_t i = 0, j = 0;
	int err = 0;

	while (!err && (i < cur->n_subjects || j < next->n_subjects)) {
		const struct pw_dsubject *c = i < cur->n_subjects ? &cur->subjects[i] : NULL;
		const struct pw_dsubject *n = j < next->n_subjects ? &next->subjects[j] : NULL;

		if (c && (!n || c->id < n->id)) {
			err = plan_subject(c, NULL, force, p);
			i++;
		} else if (n && (!c || n->id < c->id)) {
			err = plan_subject(NULL, n, force, p);
			j++;
		} else {
			if (!(carried_ok && n->carried))
				err = plan_subject(c, n, force, p);
			i++;
			j++;
		}
	}
	return err;
}

static void plan_free(struct plan *p)
{
	free(p->ipc_upd.v);
	free(p->ipc_del.v);
	free(p->pol_upd.v);
	free(p->pol_del.v);
	free(p->shrunk.v);
}

/* b is sorted (subjects are planned in id order) */
static bool u32_in(const struct batch *b, uint32_t v)
{
	size_t lo = 0, hi = b->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		uint32_t m = ((const uint32_t *)b->v)[mid];

		if (m == v)
			return true;
		if (m < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static bool ep_same(const struct pw_endpoint *a, const struct pw_endpoint *b)
{
	struct pw_endpoint x = *a, y = *b;

	x.policy_gen = y.policy_gen = 0;
	return !memcmp(&x, &y, sizeof(x));
}

static bool ifindex_in(const struct pw_desired *d, uint32_t ifindex)
{
	size_t i;

	for (i = 0; i < d->n_eps; i++) {
		if (d->eps[i].ifindex == ifindex)
			return true;
	}
	return false;
}

static bool cgroup_in(const struct pw_desired *d, uint64_t cg)
{
	size_t i;

	for (i = 0; i < d->n_eps; i++) {
		if (d->eps[i].cgroup_id == cg)
			return true;
	}
	return false;
}

/* Remove the map keys old holds that nothing in next holds. */
static int delete_stale_keys(struct pw_dp *dp, const struct pw_endpoint *old,
			     const struct pw_desired *next, struct pw_rstats *st)
{
	struct pw_endpoint k = *old;
	int err;

	if (k.ifindex && ifindex_in(next, k.ifindex))
		k.ifindex = 0;
	if (k.cgroup_id && cgroup_in(next, k.cgroup_id))
		k.cgroup_id = 0;
	if (!k.ifindex && !k.cgroup_id)
		return 0;
	err = pw_dp_endpoint_delete(dp, &k);
	if (err)
		return err;
	if (k.ifindex) {
		/* the veth may be gone with its pod: nothing left to detach */
		err = pw_dp_detach_tc(dp, k.ifindex);
		if (err && err != -ENODEV && err != -ENOENT)
			return err;
		st->detached++;
	}
	return 0;
}

static int write_endpoints(struct pw_dp *dp, const struct pw_desired *cur, struct pw_desired *next,
			   bool attach_all, bool force, const struct plan *p, struct batch *bump,
			   struct pw_rstats *st)
{
	size_t i = 0, j;
	int err;

	/* upserts (and the TC programs of new interfaces) */
	for (j = 0; j < next->n_eps; j++) {
		struct pw_endpoint *n = &next->eps[j];
		const struct pw_endpoint *c = NULL;

		while (i < cur->n_eps && cur->eps[i].ep_id < n->ep_id)
			i++;
		if (i < cur->n_eps && cur->eps[i].ep_id == n->ep_id)
			c = &cur->eps[i];
		n->policy_gen = c ? c->policy_gen : 0;
		/*
		 * The MAC is learned once, when the endpoint is bound to its interface (a pod
		 * that changes it later only cuts itself off); not learned yet: try again.
		 */
		if (c && c->ifindex == n->ifindex && (c->mac[0] | c->mac[1] | c->mac[2] |
						      c->mac[3] | c->mac[4] | c->mac[5])) {
			memcpy(n->mac, c->mac, sizeof(n->mac));
			n->link_ifindex = c->link_ifindex;
		} else if (n->ifindex) {
			pw_dp_endpoint_learn(dp, n); /* fails closed: logged by the library */
		}
		if (force || !c || !ep_same(c, n)) {
			err = pw_dp_endpoint_upsert(dp, n);
			if (err)
				return err;
			st->ep_upd++;
		}
		if (n->ifindex && (attach_all || !c || c->ifindex != n->ifindex)) {
			err = pw_dp_attach_tc(dp, n->ifindex);
			if (err)
				return err;
			st->attached++;
		}
		/* new identity or isolation bit: flows admitted before need a re-check */
		if (c && (c->identity != n->identity || (n->flags & ~c->flags) ||
			  u32_in(&p->shrunk, n->identity))) {
			err = batch_push(bump, &n->ep_id);
			if (err)
				return err;
		}
	}
	/* deletes: endpoints gone, and keys an endpoint moved away from */
	for (i = j = 0; i < cur->n_eps; i++) {
		const struct pw_endpoint *c = &cur->eps[i];

		while (j < next->n_eps && next->eps[j].ep_id < c->ep_id)
			j++;
		if (j < next->n_eps && next->eps[j].ep_id == c->ep_id &&
		    next->eps[j].ifindex == c->ifindex && next->eps[j].cgroup_id == c->cgroup_id)
			continue;
		err = delete_stale_keys(dp, c, next, st);
		if (err)
			return err;
		if (!(j < next->n_eps && next->eps[j].ep_id == c->ep_id))
			st->ep_del++;
	}
	return 0;
}

int pw_reconcile_write(struct pw_dp *dp, const struct pw_desired *cur, struct pw_desired *next,
		       const struct pw_stray_ep *strays, size_t n_strays, bool attach_all,
		       bool force, struct pw_rstats *stats)
{
	struct plan p = {
		.ipc_upd = {.sz = sizeof(struct pw_ipcache_entry)},
		.ipc_del = {.sz = sizeof(struct pw_cidr)},
		.pol_upd = {.sz = sizeof(struct pw_policy_entry)},
		.pol_del = {.sz = sizeof(struct pw_policy_entry)},
		.shrunk = {.sz = sizeof(uint32_t)},
	};
	struct batch bump = {.sz = sizeof(uint32_t)};
	struct pw_rstats st = {0};
	size_t i, k;
	int err;

	err = plan_ipcache(cur, next, force, &p);
	if (!err)
		err = plan_policy(cur, next, force, &p);
	if (err)
		goto out;

	/*
	 * 1, 2: every allow of the new state, then the addresses that resolve to it. Entries
	 * naming an identity no address has yet are inert, so they go first: a pod that changes
	 * identity, or an address a new ipBlock prefix takes over, is never looked up before the
	 * entries allowing its new identity exist.
	 */
	if (p.pol_upd.n) {
		err = pw_dp_policy_update(dp, p.pol_upd.v, p.pol_upd.n);
		if (err < 0)
			goto out;
		st.pol_upd = (size_t)err;
	}
	if (p.ipc_upd.n) {
		err = pw_dp_ipcache_update(dp, p.ipc_upd.v, p.ipc_upd.n);
		if (err < 0)
			goto out;
		st.ipc_upd = p.ipc_upd.n;
	}
	/* 3, 4: endpoints (their isolation flags find their entries in place) */
	err = write_endpoints(dp, cur, next, attach_all, force, &p, &bump, &st);
	if (err)
		goto out;
	for (i = 0; i < n_strays; i++) {
		struct pw_endpoint e = {.ifindex = strays[i].ifindex,
					.cgroup_id = strays[i].cgroup_id};

		if (e.ifindex && ifindex_in(next, e.ifindex))
			continue;
		if (e.cgroup_id && cgroup_in(next, e.cgroup_id))
			continue;
		err = pw_dp_endpoint_delete(dp, &e);
		if (err)
			goto out;
		st.ep_del++;
	}
	/*
	 * 5, 6: addresses first, so an address whose prefix goes falls back to the shorter prefix
	 * (whose old and new entries are both still there), then the entries nothing resolves to.
	 */
	if (p.ipc_del.n) {
		err = pw_dp_ipcache_delete(dp, p.ipc_del.v, p.ipc_del.n);
		if (err < 0)
			goto out;
		st.ipc_del = p.ipc_del.n;
	}
	if (p.pol_del.n) {
		err = pw_dp_policy_delete(dp, p.pol_del.v, p.pol_del.n);
		if (err < 0)
			goto out;
		st.pol_del = (size_t)err;
	}
	/*
	 * 7: an address that changed identity (or left the ipcache) can change any verdict, and
	 * a walk of the endpoint maps per endpoint costs more than one walk past a few of them.
	 */
	if (p.ipc_changed || bump.n > 8) {
		err = pw_dp_bump_generation(dp, 0);
		if (err)
			goto out;
		st.bumped_all = true;
		for (i = 0; i < next->n_eps; i++)
			next->eps[i].policy_gen++;
	} else {
		for (k = 0; k < bump.n; k++) {
			uint32_t ep_id = ((uint32_t *)bump.v)[k];

			/* by its keys: a walk of the endpoint maps per endpoint was most of a change */
			for (i = 0; i < next->n_eps; i++) {
				if (next->eps[i].ep_id != ep_id)
					continue;
				err = pw_dp_bump_endpoint(dp, &next->eps[i]);
				if (err)
					goto out;
				next->eps[i].policy_gen++;
			}
			st.bumped++;
		}
	}
	err = 0;
out:
	if (stats)
		*stats = st;
	plan_free(&p);
	free(bump.v);
	return err;
}
