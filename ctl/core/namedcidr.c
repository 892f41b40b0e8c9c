// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "namedcidr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool pw_rule_named_ipblock(const struct pw_np_rule *r)
{
	bool block = false, named = false;
	size_t i;

	for (i = 0; i < r->n_peers && !block; i++)
		block = r->peers[i].ipblock != NULL;
	for (i = 0; block && i < r->n_ports && !named; i++)
		named = r->ports[i].port_name != NULL;
	return block && named;
}

bool pw_ipblock_holds(const struct pw_ipblock *b, const struct pw_addr *a)
{
	size_t e;

	if (!pw_prefix_contains_addr(&b->cidr, a))
		return false;
	for (e = 0; e < b->n_except; e++) {
		if (pw_prefix_contains_addr(&b->except[e], a))
			return false;
	}
	return true;
}

void pw_host_prefix(const struct pw_addr *a, struct pw_prefix *out)
{
	pw_prefix_of_addr(a, a->family == PW_FAMILY_V4 ? 32 : 128, out);
}

static int cmp_prefix(const void *a, const void *b)
{
	const struct pw_prefix *x = a, *y = b;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	if (x->prefixlen != y->prefixlen)
		return x->prefixlen < y->prefixlen ? -1 : 1;
	return memcmp(x->a, y->a, sizeof(x->a));
}

static int push(struct pw_named_cidrs *s, const struct pw_prefix *p)
{
	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 16;
		struct pw_prefix *nv = realloc(s->v, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		s->v = nv;
		s->cap = nc;
	}
	s->v[s->n++] = *p;
	return 0;
}

/* Does the pod resolve any of the rule's names? */
static bool pod_names_port(const struct pw_pod *pod, const struct pw_np_rule *r)
{
	for (size_t i = 0; i < r->n_ports; i++) {
		if (r->ports[i].port_name &&
		    pw_pod_named_port(pod, r->ports[i].port_name, r->ports[i].proto) > 0)
			return true;
	}
	return false;
}

static int wanted(const struct pw_state *st, struct pw_named_cidrs *w)
{
	size_t n_np = pw_state_count(st, PW_KIND_NETPOL), n_pod = pw_state_count(st, PW_KIND_POD);
	int err = 0;

	for (size_t i = 0; i < n_np && !err; i++) {
		const struct pw_netpol *np = &pw_state_at(st, PW_KIND_NETPOL, i)->obj.u.np;

		if (!(np->types & PW_NP_EGRESS))
			continue;
		for (size_t r = 0; r < np->n_egress && !err; r++) {
			const struct pw_np_rule *rule = &np->egress[r];

			if (!pw_rule_named_ipblock(rule))
				continue;
			for (size_t p = 0; p < rule->n_peers && !err; p++) {
				const struct pw_ipblock *b = rule->peers[p].ipblock;

				for (size_t k = 0; b && k < n_pod && !err; k++) {
					const struct pw_pod *pod =
						&pw_state_at(st, PW_KIND_POD, k)->obj.u.pod;

					if (!pod_names_port(pod, rule))
						continue;
					for (size_t a = 0; a < pod->n_ips && !err; a++) {
						struct pw_prefix hp;

						if (!pw_ipblock_holds(b, &pod->ips[a]))
							continue;
						pw_host_prefix(&pod->ips[a], &hp);
						err = push(w, &hp);
					}
				}
			}
		}
	}
	if (err)
		return err;
	if (w->n)
		qsort(w->v, w->n, sizeof(*w->v), cmp_prefix);
	/* unique */
	size_t k = 0;

	for (size_t i = 0; i < w->n; i++) {
		if (!k || cmp_prefix(&w->v[k - 1], &w->v[i]))
			w->v[k++] = w->v[i];
	}
	w->n = k;
	return 0;
}

int pw_named_cidrs_sync(struct pw_state *st, struct pw_named_cidrs *h)
{
	struct pw_named_cidrs w = {0};
	size_t i = 0, j = 0, got = 0;
	int err = wanted(st, &w);

	if (err)
		goto out;
	/* acquire the new ones first: a failure then leaves the held set as it was */
	for (j = 0; j < w.n; j++) {
		if (h->n && bsearch(&w.v[j], h->v, h->n, sizeof(*h->v), cmp_prefix))
			continue;
		err = pw_cidr_acquire(&st->ids, &w.v[j], NULL);
		if (err)
			break;
		got = j + 1;
	}
	if (err) {
		for (j = 0; j < got; j++) {
			if (!(h->n && bsearch(&w.v[j], h->v, h->n, sizeof(*h->v), cmp_prefix)))
				pw_cidr_release(&st->ids, &w.v[j]);
		}
		goto out;
	}
	for (i = 0; i < h->n; i++) {
		if (!(w.n && bsearch(&h->v[i], w.v, w.n, sizeof(*w.v), cmp_prefix)))
			pw_cidr_release(&st->ids, &h->v[i]);
	}
	free(h->v);
	*h = w;
	return 0;
out:
	free(w.v);
	return err;
}

void pw_named_cidrs_clear(struct pw_state *st, struct pw_named_cidrs *h)
{
	for (size_t i = 0; st && i < h->n; i++)
		pw_cidr_release(&st->ids, &h->v[i]);
	free(h->v);
	memset(h, 0, sizeof(*h));
}
