// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#define _GNU_SOURCE /* asprintf */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "identity.h"

/* --- sorted pointer arrays -------------------------------------------------------------------- */

/* Insert p (whose id is id) into a pointer array sorted by the uint32 id at offset 0. */
static int sorted_insert(void ***v, size_t *n, size_t *cap, void *p, uint32_t id)
{
	size_t lo = 0, hi = *n;

	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		void **nv = realloc(*v, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = nc;
	}
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (*(uint32_t *)(*v)[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(&(*v)[lo + 1], &(*v)[lo], (*n - lo) * sizeof(**v));
	(*v)[lo] = p;
	(*n)++;
	return 0;
}

static void *sorted_find(void *const *v, size_t n, uint32_t id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		uint32_t m = *(const uint32_t *)v[mid];

		if (m == id)
			return v[mid];
		if (m < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* --- label identities ------------------------------------------------------------------------- */

void pw_idtab_init(struct pw_idtab *t)
{
	memset(t, 0, sizeof(*t));
	t->next_id = PW_ID_FIRST_LOCAL;
	t->next_cidr = 1;
}

static void ident_free(struct pw_ident *id)
{
	size_t i;

	if (!id)
		return;
	free(id->key);
	free(id->ns);
	pw_labels_clear(&id->pod_labels);
	pw_labels_clear(&id->ns_labels);
	for (i = 0; i < id->n_ports; i++)
		free(id->ports[i].name);
	free(id->ports);
	free(id);
}

static void cookie_free(struct pw_cookie *c)
{
	if (!c)
		return;
	free(c->ns);
	free(c->name);
	free(c);
}

void pw_idtab_clear(struct pw_idtab *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->n_ids; i++)
		ident_free(t->ids[i]);
	free(t->ids);
	for (i = 0; i < t->n_cidrs; i++)
		free(t->cidrs[i]);
	free(t->cidrs);
	for (i = 0; i < t->n_cookies; i++)
		cookie_free(t->cookies[i]);
	free(t->cookies);
	pw_htab_clear(&t->by_key);
	pw_htab_clear(&t->by_prefix);
	pw_htab_clear(&t->cookie_by_rule);
	pw_htab_clear(&t->cookie_by_val);
	free(t->addr_hints);
	free(t->prefix_hints);
	{
		bool derived = t->derived; /* a setting, not content */

		pw_idtab_init(t);
		t->derived = derived;
	}
}

/* asprintf that leaves *out NULL on failure, so cleanup can free every slot */
static int xasprintf(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int xasprintf(char **out, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(out, fmt, ap);
	va_end(ap);
	if (r < 0)
		*out = NULL;
	return r;
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_port(const void *a, const void *b)
{
	const struct pw_container_port *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	return (int)x->port - (int)y->port;
}

int pw_ident_key(const char *ns, const struct pw_labels *ns_labels,
		 const struct pw_labels *pod_labels, const struct pw_container_port *ports,
		 size_t n_ports, char **out)
{
	size_t n = 0, cap, i, len = 1;
	char **terms = NULL, *s = NULL, *p;
	int err = 0;

	cap = 1 + (pod_labels ? pod_labels->n : 0) + (ns_labels ? ns_labels->n : 0) + n_ports;
	terms = calloc(cap, sizeof(*terms));
	if (!terms)
		return -ENOMEM;
	if (xasprintf(&terms[n++], "%s=%s", PW_ID_NS_NAME_LABEL, ns) < 0)
		goto nomem;
	for (i = 0; pod_labels && i < pod_labels->n; i++) {
		if (xasprintf(&terms[n++], "%s=%s", pod_labels->v[i].key, pod_labels->v[i].value) <
		    0)
			goto nomem;
	}
	for (i = 0; ns_labels && i < ns_labels->n; i++) {
		if (xasprintf(&terms[n++], "%s%s=%s", PW_ID_NS_LABEL_PREFIX, ns_labels->v[i].key,
			      ns_labels->v[i].value) < 0)
			goto nomem;
	}
	for (i = 0; i < n_ports; i++) {
		const char *proto = pw_ipproto_str(ports[i].proto);

		if (!ports[i].name)
			continue;
		if (xasprintf(&terms[n++], "%s%s/%s=%u", PW_ID_PORT_PREFIX, ports[i].name,
			      proto ? proto : "?", ports[i].port) < 0)
			goto nomem;
	}
	qsort(terms, n, sizeof(*terms), cmp_strp);
	for (i = 0; i < n; i++)
		len += strlen(terms[i]) + 1;
	s = malloc(len);
	if (!s)
		goto nomem;
	p = s;
	for (i = 0; i < n; i++) {
		/* label values cannot hold ';' so the join is unambiguous */
		p += sprintf(p, "%s%s", i ? ";" : "", terms[i]);
	}
	*p = '\0';
	*out = s;
	goto out;
nomem:
	err = -ENOMEM;
out:
	for (i = 0; i < cap; i++)
		free(terms[i]);
	free(terms);
	return err;
}

static bool ident_key_eq(const void *obj, const void *probe)
{
	return !strcmp(((const struct pw_ident *)obj)->key, probe);
}

struct pw_ident *pw_ident_get(const struct pw_idtab *t, uint32_t id)
{
	return sorted_find((void *const *)t->ids, t->n_ids, id);
}

static uint32_t ident_pick_id(struct pw_idtab *t, const char *key, const struct pw_addr *ips,
			      size_t n_ips)
{
	size_t i, j;

	for (i = 0; !t->hints_done && ips && i < n_ips; i++) {
		for (j = 0; j < t->n_addr_hints; j++) {
			struct pw_addr_hint *h = &t->addr_hints[j];

			if (h->id && !memcmp(&h->addr, &ips[i], sizeof(h->addr)) &&
			    !pw_ident_get(t, h->id))
				return h->id;
		}
	}
	if (t->derived) {
		uint32_t span = PW_ID_CIDR_FLAG - PW_ID_FIRST_LOCAL;
		/* pw_hash_str is FNV-1a by its contract (htab.h): numbers stay stable */
		uint32_t id = PW_ID_FIRST_LOCAL + pw_hash_str(key) % span;

		while (pw_ident_get(t, id))
			id = id + 1 < PW_ID_CIDR_FLAG ? id + 1 : PW_ID_FIRST_LOCAL;
		return id;
	}
	while (pw_ident_get(t, t->next_id) || t->next_id >= PW_ID_CIDR_FLAG) {
		if (t->next_id >= PW_ID_CIDR_FLAG)
			t->next_id = PW_ID_FIRST_LOCAL;
		else
			t->next_id++;
	}
	return t->next_id++;
}

int pw_ident_acquire(struct pw_idtab *t, const char *ns, const struct pw_labels *ns_labels,
		     const struct pw_labels *pod_labels, const struct pw_container_port *ports,
		     size_t n_ports, const struct pw_addr *ips, size_t n_ips, bool local,
		     struct pw_ident **out)
{
	struct pw_ident *id = NULL;
	char *key = NULL;
	uint32_t h;
	size_t i;
	int err;

	err = pw_ident_key(ns, ns_labels, pod_labels, ports, n_ports, &key);
	if (err)
		return err;
	h = pw_hash_str(key);
	id = pw_htab_find(&t->by_key, h, ident_key_eq, key);
	if (id) {
		free(key);
		goto out;
	}
	err = -ENOMEM;
	id = calloc(1, sizeof(*id));
	if (!id)
		goto fail;
	id->key = key;
	key = NULL;
	id->hash = h;
	id->ns = strdup(ns);
	if (!id->ns || pw_labels_copy(&id->pod_labels, pod_labels) ||
	    pw_labels_copy(&id->ns_labels, ns_labels))
		goto fail;
	for (i = 0; i < n_ports; i++) {
		if (ports[i].name)
			id->n_ports++;
	}
	if (id->n_ports) {
		size_t k = 0;

		id->ports = calloc(id->n_ports, sizeof(*id->ports));
		if (!id->ports)
			goto fail;
		for (i = 0; i < n_ports; i++) {
			if (!ports[i].name)
				continue;
			id->ports[k] = ports[i];
			id->ports[k].name = strdup(ports[i].name);
			if (!id->ports[k++].name)
				goto fail;
		}
		qsort(id->ports, id->n_ports, sizeof(*id->ports), cmp_port);
	}
	id->id = ident_pick_id(t, id->key, ips, n_ips);
	err = sorted_insert((void ***)&t->ids, &t->n_ids, &t->cap_ids, id, id->id);
	if (err)
		goto fail;
	err = pw_htab_insert(&t->by_key, h, id);
	if (err) {
		struct pw_ident **pos = (struct pw_ident **)&t->ids[0];
		size_t k;

		for (k = 0; k < t->n_ids && pos[k] != id; k++)
			;
		memmove(&pos[k], &pos[k + 1], (t->n_ids - k - 1) * sizeof(*pos));
		t->n_ids--;
		goto fail;
	}
out:
	id->refs++;
	if (local)
		id->local_refs++;
	*out = id;
	return 0;
fail:
	free(key);
	ident_free(id);
	return err;
}

void pw_ident_release(struct pw_idtab *t, struct pw_ident *id, bool local)
{
	if (!id)
		return;
	if (id->refs)
		id->refs--;
	if (local && id->local_refs)
		id->local_refs--;
}

int pw_ident_named_port(const struct pw_ident *id, const char *name, uint8_t proto)
{
	size_t i;

	for (i = 0; id && name && i < id->n_ports; i++) {
		if (id->ports[i].proto == proto && !strcmp(id->ports[i].name, name))
			return id->ports[i].port;
	}
	return -ENOENT;
}

/* --- CIDR identities -------------------------------------------------------------------------- */

static uint32_t prefix_hash(const struct pw_prefix *p)
{
	uint32_t h = pw_hash_bytes(PW_FNV32_INIT, &p->family, 1);

	h = pw_hash_bytes(h, &p->prefixlen, 1);
	return pw_hash_bytes(h, p->a, sizeof(p->a));
}

static bool prefix_eq(const struct pw_prefix *a, const struct pw_prefix *b)
{
	return a->family == b->family && a->prefixlen == b->prefixlen && !memcmp(a->a, b->a, 16);
}

static bool cidr_eq(const void *obj, const void *probe)
{
	return prefix_eq(&((const struct pw_cidr_ident *)obj)->prefix, probe);
}

struct pw_cidr_ident *pw_cidr_find(const struct pw_idtab *t, const struct pw_prefix *p)
{
	return pw_htab_find(&t->by_prefix, prefix_hash(p), cidr_eq, p);
}

struct pw_cidr_ident *pw_cidr_get(const struct pw_idtab *t, uint32_t id)
{
	return sorted_find((void *const *)t->cidrs, t->n_cidrs, id);
}

int pw_cidr_acquire(struct pw_idtab *t, const struct pw_prefix *p, struct pw_cidr_ident **out)
{
	struct pw_cidr_ident *c = pw_cidr_find(t, p);
	uint32_t id = 0;
	size_t i;
	int err;

	if (c)
		goto out;
	for (i = 0; !t->hints_done && i < t->n_prefix_hints; i++) {
		if (prefix_eq(&t->prefix_hints[i].prefix, p) &&
		    !pw_cidr_get(t, t->prefix_hints[i].id)) {
			id = t->prefix_hints[i].id;
			break;
		}
	}
	if (!id && t->derived) {
		uint32_t n = 1 + prefix_hash(p) % (PW_ID_CIDR_FLAG - 1);
		while (pw_cidr_get(t, PW_ID_CIDR_FLAG | n))
			n = n + 1 < PW_ID_CIDR_FLAG ? n + 1 : 1;
		id = PW_ID_CIDR_FLAG | n;
	}
	while (!id) {
		if (t->next_cidr >= PW_ID_CIDR_FLAG)
			t->next_cidr = 1;
		if (!pw_cidr_get(t, PW_ID_CIDR_FLAG | t->next_cidr))
			id = PW_ID_CIDR_FLAG | t->next_cidr;
		t->next_cidr++;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->id = id;
	c->prefix = *p;
	c->hash = prefix_hash(p);
	err = sorted_insert((void ***)&t->cidrs, &t->n_cidrs, &t->cap_cidrs, c, id);
	if (!err) {
		err = pw_htab_insert(&t->by_prefix, c->hash, c);
		if (err) {
			for (i = 0; t->cidrs[i] != c; i++)
				;
			memmove(&t->cidrs[i], &t->cidrs[i + 1], (t->n_cidrs - i - 1) * sizeof(c));
			t->n_cidrs--;
		}
	}
	if (err) {
		free(c);
		return err;
	}
out:
	c->refs++;
	if (out)
		*out = c;
	return 0;
}

void pw_cidr_release(struct pw_idtab *t, const struct pw_prefix *p)
{
	struct pw_cidr_ident *c = pw_cidr_find(t, p);

	if (c && c->refs)
		c->refs--;
}

bool pw_idtab_cidrs_changed(const struct pw_idtab *t)
{
	size_t i;

	for (i = 0; i < t->n_cidrs; i++) {
		if (!t->cidrs[i]->refs != !t->cidrs[i]->refs_synced)
			return true;
	}
	return false;
}

/* --- cookies ---------------------------------------------------------------------------------- */

struct cookie_probe {
	const char *ns, *name;
	uint8_t dir;
	uint32_t rule;
};

static uint32_t cookie_rule_hash(const char *ns, const char *name, uint8_t dir, uint32_t rule)
{
	uint32_t h = pw_hash_bytes(PW_FNV32_INIT, ns, strlen(ns) + 1);

	h = pw_hash_bytes(h, name, strlen(name) + 1);
	h = pw_hash_bytes(h, &dir, 1);
	return pw_hash_bytes(h, &rule, sizeof(rule));
}

static bool cookie_rule_eq(const void *obj, const void *probe)
{
	const struct pw_cookie *c = obj;
	const struct cookie_probe *p = probe;

	return c->dir == p->dir && c->rule == p->rule && !strcmp(c->ns, p->ns) &&
	       !strcmp(c->name, p->name);
}

static bool cookie_val_eq(const void *obj, const void *probe)
{
	return ((const struct pw_cookie *)obj)->cookie == *(const uint32_t *)probe;
}

static uint32_t cookie_val_hash(uint32_t v)
{
	return pw_hash_bytes(PW_FNV32_INIT, &v, sizeof(v));
}

const struct pw_cookie *pw_cookie_get(const struct pw_idtab *t, uint32_t cookie)
{
	return pw_htab_find(&t->cookie_by_val, cookie_val_hash(cookie), cookie_val_eq, &cookie);
}

int pw_cookie_acquire(struct pw_idtab *t, const char *ns, const char *name, uint8_t dir,
		      uint32_t rule, uint32_t *cookie)
{
	struct cookie_probe p = {ns, name, dir, rule};
	uint32_t h = cookie_rule_hash(ns, name, dir, rule), v;
	struct pw_cookie *c;
	int err = -ENOMEM;

	c = pw_htab_find(&t->cookie_by_rule, h, cookie_rule_eq, &p);
	if (c)
		goto out;
	if (t->n_cookies == t->cap_cookies) {
		size_t nc = t->cap_cookies ? t->cap_cookies * 2 : 16;
		struct pw_cookie **nv = realloc(t->cookies, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		t->cookies = nv;
		t->cap_cookies = nc;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->ns = strdup(ns);
	c->name = strdup(name);
	if (!c->ns || !c->name)
		goto fail;
	c->dir = dir;
	c->rule = rule;
	c->hash = h;
	/* the rule's hash, probing past 0 (no cookie) and values taken by other rules */
	for (v = h; !v || pw_cookie_get(t, v); v++)
		;
	c->cookie = v;
	err = pw_htab_insert(&t->cookie_by_rule, h, c);
	if (err)
		goto fail;
	err = pw_htab_insert(&t->cookie_by_val, cookie_val_hash(v), c);
	if (err) {
		pw_htab_remove(&t->cookie_by_rule, h, c);
		goto fail;
	}
	t->cookies[t->n_cookies++] = c;
out:
	c->refs++;
	*cookie = c->cookie;
	return 0;
fail:
	cookie_free(c);
	return err;
}

uint32_t pw_cookie_find(const struct pw_idtab *t, const char *ns, const char *name, uint8_t dir,
			uint32_t rule)
{
	struct cookie_probe p = {ns, name, dir, rule};
	struct pw_cookie *c;

	c = pw_htab_find(&t->cookie_by_rule, cookie_rule_hash(ns, name, dir, rule), cookie_rule_eq,
			 &p);
	return c ? c->cookie : 0;
}

void pw_cookie_release(struct pw_idtab *t, const char *ns, const char *name, uint8_t dir,
		       uint32_t rule)
{
	struct cookie_probe p = {ns, name, dir, rule};
	struct pw_cookie *c;

	c = pw_htab_find(&t->cookie_by_rule, cookie_rule_hash(ns, name, dir, rule), cookie_rule_eq,
			 &p);
	if (c && c->refs)
		c->refs--;
}

/* --- recovery and commit ---------------------------------------------------------------------- */

int pw_idtab_hint_addr(struct pw_idtab *t, const struct pw_addr *a, uint32_t id)
{
	struct pw_addr_hint *v;

	v = realloc(t->addr_hints, (t->n_addr_hints + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	t->addr_hints = v;
	v[t->n_addr_hints].addr = *a;
	v[t->n_addr_hints++].id = id;
	/* never hand out a recovered number to another label set */
	if (id >= t->next_id && id < PW_ID_CIDR_FLAG)
		t->next_id = id + 1;
	return 0;
}

int pw_idtab_hint_prefix(struct pw_idtab *t, const struct pw_prefix *p, uint32_t id)
{
	struct pw_prefix_hint *v;

	v = realloc(t->prefix_hints, (t->n_prefix_hints + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	t->prefix_hints = v;
	v[t->n_prefix_hints].prefix = *p;
	v[t->n_prefix_hints++].id = id;
	if ((id & ~PW_ID_CIDR_FLAG) >= t->next_cidr)
		t->next_cidr = (id & ~PW_ID_CIDR_FLAG) + 1;
	return 0;
}

void pw_idtab_commit(struct pw_idtab *t)
{
	size_t i, k;

	for (i = k = 0; i < t->n_ids; i++) {
		struct pw_ident *id = t->ids[i];

		if (!id->refs) {
			pw_htab_remove(&t->by_key, id->hash, id);
			ident_free(id);
			continue;
		}
		id->refs_synced = id->refs;
		id->local_synced = id->local_refs;
		t->ids[k++] = id;
	}
	t->n_ids = k;
	for (i = k = 0; i < t->n_cidrs; i++) {
		struct pw_cidr_ident *c = t->cidrs[i];

		if (!c->refs) {
			pw_htab_remove(&t->by_prefix, c->hash, c);
			free(c);
			continue;
		}
		c->refs_synced = c->refs;
		t->cidrs[k++] = c;
	}
	t->n_cidrs = k;
	for (i = k = 0; i < t->n_cookies; i++) {
		struct pw_cookie *c = t->cookies[i];

		if (!c->refs) {
			pw_htab_remove(&t->cookie_by_rule, c->hash, c);
			pw_htab_remove(&t->cookie_by_val, cookie_val_hash(c->cookie), c);
			cookie_free(c);
			continue;
		}
		c->refs_synced = c->refs;
		t->cookies[k++] = c;
	}
	t->n_cookies = k;
}
