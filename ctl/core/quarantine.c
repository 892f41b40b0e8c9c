// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The table of quarantined pods (quarantine.h). A handful of entries: a linear scan. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "quarantine.h"

static void q_clear(struct pw_quarantine *q)
{
	free(q->ns);
	free(q->name);
	free(q->reason);
	memset(q, 0, sizeof(*q));
}

void pw_qtab_clear(struct pw_qtab *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->n; i++)
		q_clear(&t->v[i]);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

struct pw_quarantine *pw_qtab_find(const struct pw_qtab *t, const char *ns, const char *name)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		if (!strcmp(t->v[i].ns, ns) && !strcmp(t->v[i].name, name))
			return &t->v[i];
	}
	return NULL;
}

int pw_qtab_put(struct pw_qtab *t, const char *ns, const char *name, int64_t since,
		const char *reason, bool allow_dns)
{
	struct pw_quarantine q = {0}, *old = pw_qtab_find(t, ns, name);

	q.ns = strdup(ns);
	q.name = strdup(name);
	q.reason = reason ? strdup(reason) : NULL;
	q.since = old ? old->since : since;
	q.allow_dns = allow_dns;
	if (!q.ns || !q.name || (reason && !q.reason)) {
		q_clear(&q);
		return -ENOMEM;
	}
	if (old) {
		q_clear(old);
		*old = q;
		return 0;
	}
	if (t->n == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 8;
		struct pw_quarantine *v = realloc(t->v, nc * sizeof(*v));

		if (!v) {
			q_clear(&q);
			return -ENOMEM;
		}
		t->v = v;
		t->cap = nc;
	}
	t->v[t->n++] = q;
	return 0;
}

int pw_qtab_del(struct pw_qtab *t, const char *ns, const char *name)
{
	struct pw_quarantine *q = pw_qtab_find(t, ns, name);

	if (!q)
		return -ENOENT;
	q_clear(q);
	*q = t->v[--t->n];
	return 0;
}

int pw_qtab_copy(struct pw_qtab *dst, const struct pw_qtab *src)
{
	size_t i;
	int err;

	memset(dst, 0, sizeof(*dst));
	for (i = 0; i < src->n; i++) {
		const struct pw_quarantine *q = &src->v[i];

		err = pw_qtab_put(dst, q->ns, q->name, q->since, q->reason, q->allow_dns);
		if (err) {
			pw_qtab_clear(dst);
			return err;
		}
	}
	return 0;
}
