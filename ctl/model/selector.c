// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "selector.h"

/* Binary search: index of key, or -(insertion point) - 1. */
static long labels_find(const struct pw_labels *l, const char *key)
{
	size_t lo = 0, hi = l ? l->n : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(l->v[mid].key, key);

		if (c == 0)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -(long)lo - 1;
}

/*
 * A label set is one allocation: its pairs, then their strings. A daemon holding 10,000 pods
 * holds some 100,000 labels and annotations; one block per set instead of two strings per pair
 * plus the array saves most of the allocator's per-chunk overhead, which was larger than the
 * strings themselves (bench/cpscale, "Daemon memory").
 */
static struct pw_label *labels_pack(const struct pw_label *pairs, size_t n)
{
	size_t bytes = n * sizeof(*pairs), i;
	struct pw_label *v;
	char *p;

	for (i = 0; i < n; i++)
		bytes += strlen(pairs[i].key) + strlen(pairs[i].value) + 2;
	v = malloc(bytes);
	if (!v)
		return NULL;
	p = (char *)(v + n);
	for (i = 0; i < n; i++) {
		size_t kl = strlen(pairs[i].key) + 1, vl = strlen(pairs[i].value) + 1;

		memcpy(p, pairs[i].key, kl);
		v[i].key = p;
		p += kl;
		memcpy(p, pairs[i].value, vl);
		v[i].value = p;
		p += vl;
	}
	return v;
}

int pw_labels_set(struct pw_labels *l, const char *key, const char *value)
{
	struct pw_label *tmp, *nv;
	size_t pos, n;
	long idx;

	if (!l || !key || !value)
		return -EINVAL;
	idx = labels_find(l, key);
	n = l->n + (idx < 0);
	/* the new set, pointing at the old strings and the arguments, then packed */
	tmp = malloc(n * sizeof(*tmp));
	if (!tmp)
		return -ENOMEM;
	if (idx >= 0) {
		memcpy(tmp, l->v, l->n * sizeof(*tmp));
		tmp[idx].value = (char *)value;
	} else {
		pos = (size_t)(-idx - 1);
		if (pos)
			memcpy(tmp, l->v, pos * sizeof(*tmp));
		tmp[pos].key = (char *)key;
		tmp[pos].value = (char *)value;
		if (l->n > pos)
			memcpy(&tmp[pos + 1], &l->v[pos], (l->n - pos) * sizeof(*tmp));
	}
	nv = labels_pack(tmp, n);
	free(tmp);
	if (!nv)
		return -ENOMEM;
	free(l->v);
	l->v = nv;
	l->n = n;
	return 0;
}

const char *pw_labels_get(const struct pw_labels *l, const char *key)
{
	long idx = labels_find(l, key);

	return idx >= 0 ? l->v[idx].value : NULL;
}

int pw_labels_copy(struct pw_labels *dst, const struct pw_labels *src)
{
	struct pw_labels tmp = {0};

	if (!dst)
		return -EINVAL;
	if (src && src->n) {
		tmp.v = labels_pack(src->v, src->n);
		if (!tmp.v)
			return -ENOMEM;
		tmp.n = src->n;
	}
	pw_labels_clear(dst);
	*dst = tmp;
	return 0;
}

bool pw_labels_equal(const struct pw_labels *a, const struct pw_labels *b)
{
	size_t na = a ? a->n : 0, nb = b ? b->n : 0, i;

	if (na != nb)
		return false;
	for (i = 0; i < na; i++) {
		if (strcmp(a->v[i].key, b->v[i].key) || strcmp(a->v[i].value, b->v[i].value))
			return false;
	}
	return true;
}

void pw_labels_clear(struct pw_labels *l)
{
	if (!l)
		return;
	free(l->v); /* the strings live in the same block */
	l->v = NULL;
	l->n = 0;
}

/* A growable string; on allocation failure it remembers the error and stops growing. */
struct sbuf {
	char *s;
	size_t len, cap;
	int err;
};

static void sb_add(struct sbuf *b, const char *s)
{
	size_t n = strlen(s);
	char *ns;

	if (b->err)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;

		while (cap < b->len + n + 1)
			cap *= 2;
		ns = realloc(b->s, cap);
		if (!ns) {
			b->err = -ENOMEM;
			return;
		}
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n + 1);
	b->len += n;
}

static int sb_finish(struct sbuf *b, char **out)
{
	sb_add(b, "");
	if (b->err) {
		free(b->s);
		return b->err;
	}
	*out = b->s;
	return 0;
}

int pw_labels_str(const struct pw_labels *l, char **out)
{
	struct sbuf b = {0};
	size_t i;

	if (!out)
		return -EINVAL;
	for (i = 0; l && i < l->n; i++) {
		if (i)
			sb_add(&b, ",");
		sb_add(&b, l->v[i].key);
		sb_add(&b, "=");
		sb_add(&b, l->v[i].value);
	}
	return sb_finish(&b, out);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void req_clear(struct pw_sel_req *r)
{
	size_t i;

	for (i = 0; i < r->n_values; i++)
		free(r->values[i]);
	free(r->values);
	free(r->key);
	memset(r, 0, sizeof(*r));
}

int pw_selector_add_req(struct pw_selector *s, const char *key, enum pw_sel_op op,
			const char *const *values, size_t n_values)
{
	struct pw_sel_req r = {.op = op}, *nr;
	size_t i, j;
	int err = -ENOMEM;

	if (!s || !key || (n_values && !values) || op > PW_SEL_DOES_NOT_EXIST)
		return -EINVAL;
	r.key = strdup(key);
	if (!r.key)
		goto out;
	if (n_values) {
		r.values = calloc(n_values, sizeof(*r.values));
		if (!r.values)
			goto out;
		for (i = 0; i < n_values; i++) {
			r.values[i] = strdup(values[i]);
			if (!r.values[i])
				goto out;
			r.n_values++;
		}
		/* sorted and unique, so matching can bsearch and the canonical form is stable */
		qsort(r.values, r.n_values, sizeof(*r.values), cmp_str);
		for (i = 1, j = 1; i < r.n_values; i++) {
			if (strcmp(r.values[i], r.values[j - 1]))
				r.values[j++] = r.values[i];
			else
				free(r.values[i]);
		}
		r.n_values = j;
	}
	nr = realloc(s->reqs, (s->n_reqs + 1) * sizeof(*nr));
	if (!nr)
		goto out;
	s->reqs = nr;
	s->reqs[s->n_reqs++] = r;
	return 0;
out:
	req_clear(&r);
	return err;
}

static bool req_has_value(const struct pw_sel_req *r, const char *v)
{
	return r->n_values && bsearch(&v, r->values, r->n_values, sizeof(*r->values), cmp_str) != NULL;
}

bool pw_selector_matches(const struct pw_selector *s, const struct pw_labels *labels)
{
	size_t i;

	if (!s)
		return false;
	for (i = 0; i < s->match_labels.n; i++) {
		const char *v = pw_labels_get(labels, s->match_labels.v[i].key);

		if (!v || strcmp(v, s->match_labels.v[i].value))
			return false;
	}
	for (i = 0; i < s->n_reqs; i++) {
		const struct pw_sel_req *r = &s->reqs[i];
		const char *v = pw_labels_get(labels, r->key);
		bool ok;

		switch (r->op) {
		case PW_SEL_IN:
			ok = v && req_has_value(r, v);
			break;
		case PW_SEL_NOT_IN:
			/* as in Kubernetes: a missing label is "not in" any set */
			ok = !v || !req_has_value(r, v);
			break;
		case PW_SEL_EXISTS:
			ok = v != NULL;
			break;
		case PW_SEL_DOES_NOT_EXIST:
			ok = v == NULL;
			break;
		default:
			ok = false;
		}
		if (!ok)
			return false;
	}
	return true;
}

bool pw_selector_is_empty(const struct pw_selector *s)
{
	return s && !s->match_labels.n && !s->n_reqs;
}

static int req_term(const struct pw_sel_req *r, char **out)
{
	struct sbuf b = {0};
	size_t i;

	switch (r->op) {
	case PW_SEL_IN:
	case PW_SEL_NOT_IN:
		sb_add(&b, r->key);
		if (r->n_values == 1) {
			/* one value: the same term matchLabels would give, so both dedup */
			sb_add(&b, r->op == PW_SEL_IN ? "=" : "!=");
			sb_add(&b, r->values[0]);
			break;
		}
		sb_add(&b, r->op == PW_SEL_IN ? " in (" : " notin (");
		for (i = 0; i < r->n_values; i++) {
			if (i)
				sb_add(&b, ",");
			sb_add(&b, r->values[i]);
		}
		sb_add(&b, ")");
		break;
	case PW_SEL_EXISTS:
		sb_add(&b, r->key);
		break;
	case PW_SEL_DOES_NOT_EXIST:
		sb_add(&b, "!");
		sb_add(&b, r->key);
		break;
	}
	return sb_finish(&b, out);
}

int pw_selector_str(const struct pw_selector *s, char **out)
{
	struct sbuf b = {0};
	char **terms = NULL;
	size_t n = 0, total, i;
	int err = 0;

	if (!s || !out)
		return -EINVAL;
	total = s->match_labels.n + s->n_reqs;
	if (total) {
		terms = calloc(total, sizeof(*terms));
		if (!terms)
			return -ENOMEM;
	}
	for (i = 0; i < s->match_labels.n; i++, n++) {
		const struct pw_label *l = &s->match_labels.v[i];

		terms[n] = malloc(strlen(l->key) + strlen(l->value) + 2);
		if (!terms[n]) {
			err = -ENOMEM;
			goto out;
		}
		strcpy(terms[n], l->key);
		strcat(terms[n], "=");
		strcat(terms[n], l->value);
	}
	for (i = 0; i < s->n_reqs; i++, n++) {
		err = req_term(&s->reqs[i], &terms[n]);
		if (err)
			goto out;
	}
	if (n > 1) /* terms is NULL when empty: qsort needs an array */
		qsort(terms, n, sizeof(*terms), cmp_str);
	for (i = 0; i < n; i++) {
		if (i && !strcmp(terms[i], terms[i - 1]))
			continue;
		if (b.len)
			sb_add(&b, ",");
		sb_add(&b, terms[i]);
	}
	err = sb_finish(&b, out);
out:
	for (i = 0; i < n; i++)
		free(terms[i]);
	free(terms);
	return err;
}

int pw_selector_copy(struct pw_selector *dst, const struct pw_selector *src)
{
	struct pw_selector tmp = {0};
	size_t i;
	int err;

	if (!dst || !src)
		return -EINVAL;
	err = pw_labels_copy(&tmp.match_labels, &src->match_labels);
	for (i = 0; !err && i < src->n_reqs; i++) {
		const struct pw_sel_req *r = &src->reqs[i];

		err = pw_selector_add_req(&tmp, r->key, r->op, (const char *const *)r->values,
					  r->n_values);
	}
	if (err) {
		pw_selector_clear(&tmp);
		return err;
	}
	pw_selector_clear(dst);
	*dst = tmp;
	return 0;
}

void pw_selector_clear(struct pw_selector *s)
{
	size_t i;

	if (!s)
		return;
	pw_labels_clear(&s->match_labels);
	for (i = 0; i < s->n_reqs; i++)
		req_clear(&s->reqs[i]);
	free(s->reqs);
	s->reqs = NULL;
	s->n_reqs = 0;
}

void pw_selector_free(struct pw_selector *s)
{
	pw_selector_clear(s);
	free(s);
}

const char *pw_sel_op_str(enum pw_sel_op op)
{
	switch (op) {
	case PW_SEL_IN:
		return "In";
	case PW_SEL_NOT_IN:
		return "NotIn";
	case PW_SEL_EXISTS:
		return "Exists";
	case PW_SEL_DOES_NOT_EXIST:
		return "DoesNotExist";
	}
	return "unknown";
}

int pw_sel_op_parse(const char *s, enum pw_sel_op *op)
{
	static const enum pw_sel_op ops[] = {PW_SEL_IN, PW_SEL_NOT_IN, PW_SEL_EXISTS,
					     PW_SEL_DOES_NOT_EXIST};
	size_t i;

	for (i = 0; s && i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (!strcmp(s, pw_sel_op_str(ops[i]))) {
			*op = ops[i];
			return 0;
		}
	}
	return -EINVAL;
}
