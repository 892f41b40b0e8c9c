// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwalld: content fingerprints of the objects by key, so an apply can say unchanged
 * rather than configured, as kubectl does.
 */
#define _GNU_SOURCE
#include "daemon.h"

/* --- object fingerprints --------------------------------------------------------------------- */

/*
 * kubectl says created, configured or unchanged. The core tells whether an object exists;
 * whether its content changed needs a fingerprint of everything the manifest said (rules,
 * annotations, named ports...), kept per object by whoever wrote it last.
 */
struct fp {
	uint64_t h;
};

static void fp_bytes(struct fp *f, const void *p, size_t n)
{
	f->h = pw_hash64_bytes(f->h, p, n);
}

static void fp_str(struct fp *f, const char *s)
{
	/* the NUL separates fields; NULL differs from "" */
	if (s)
		fp_bytes(f, s, strlen(s) + 1);
	else
		fp_bytes(f, "\xff", 1);
}

static void fp_u64(struct fp *f, uint64_t v)
{
	fp_bytes(f, &v, sizeof(v));
}

static void fp_labels(struct fp *f, const struct pw_labels *l)
{
	fp_u64(f, l->n);
	for (size_t i = 0; i < l->n; i++) {
		fp_str(f, l->v[i].key);
		fp_str(f, l->v[i].value);
	}
}

static void fp_selector(struct fp *f, const struct pw_selector *s)
{
	if (!s) {
		fp_u64(f, UINT64_MAX);
		return;
	}
	fp_labels(f, &s->match_labels);
	fp_u64(f, s->n_reqs);
	for (size_t i = 0; i < s->n_reqs; i++) {
		fp_str(f, s->reqs[i].key);
		fp_u64(f, s->reqs[i].op);
		fp_u64(f, s->reqs[i].n_values);
		for (size_t j = 0; j < s->reqs[i].n_values; j++)
			fp_str(f, s->reqs[i].values[j]);
	}
}

static void fp_rules(struct fp *f, bool set, size_t n, const struct pw_np_rule *r)
{
	fp_u64(f, set);
	fp_u64(f, n);
	for (size_t i = 0; i < n; i++) {
		fp_u64(f, r[i].peers_set);
		fp_u64(f, r[i].n_peers);
		for (size_t j = 0; j < r[i].n_peers; j++) {
			const struct pw_np_peer *p = &r[i].peers[j];

			fp_selector(f, p->pod_sel);
			fp_selector(f, p->ns_sel);
			fp_u64(f, p->ipblock != NULL);
			if (!p->ipblock)
				continue;
			fp_bytes(f, &p->ipblock->cidr, sizeof(p->ipblock->cidr));
			fp_u64(f, p->ipblock->n_except);
			fp_bytes(f, p->ipblock->except,
				 p->ipblock->n_except * sizeof(*p->ipblock->except));
		}
		fp_u64(f, r[i].ports_set);
		fp_u64(f, r[i].n_ports);
		for (size_t j = 0; j < r[i].n_ports; j++) {
			const struct pw_np_port *p = &r[i].ports[j];

			fp_u64(f, p->proto | (uint64_t)p->proto_set << 8 |
					  (uint64_t)p->port_set << 9 | (uint64_t)p->port << 16 |
					  (uint64_t)p->end_port << 32);
			fp_str(f, p->port_name);
		}
	}
}

uint64_t obj_fingerprint(const struct pw_object *o)
{
	struct fp f = {PW_FNV64_INIT};

	fp_u64(&f, o->kind);
	switch (o->kind) {
	case PW_KIND_NAMESPACE:
		fp_str(&f, o->u.ns.name);
		fp_labels(&f, &o->u.ns.labels);
		fp_labels(&f, &o->u.ns.annotations);
		break;
	case PW_KIND_POD: {
		const struct pw_pod *p = &o->u.pod;

		fp_str(&f, p->namespace);
		fp_str(&f, p->name);
		fp_labels(&f, &p->labels);
		fp_labels(&f, &p->annotations);
		fp_u64(&f, p->n_ips);
		fp_bytes(&f, p->ips, p->n_ips * sizeof(p->ips[0]));
		fp_u64(&f, p->n_ports);
		for (size_t i = 0; i < p->n_ports; i++) {
			fp_str(&f, p->ports[i].name);
			fp_u64(&f, p->ports[i].port | (uint64_t)p->ports[i].proto << 16);
		}
		break;
	}
	case PW_KIND_NETPOL: {
		const struct pw_netpol *np = &o->u.np;

		fp_str(&f, np->namespace);
		fp_str(&f, np->name);
		fp_labels(&f, &np->labels);
		fp_labels(&f, &np->annotations);
		fp_selector(&f, &np->pod_sel);
		fp_u64(&f, np->types_set | (uint64_t)np->types << 1);
		fp_rules(&f, np->ingress_set, np->n_ingress, np->ingress);
		fp_rules(&f, np->egress_set, np->n_egress, np->egress);
		break;
	}
	case PW_KIND_SERVICE: {
		const struct pw_service *s = &o->u.svc;

		fp_str(&f, s->namespace);
		fp_str(&f, s->name);
		fp_labels(&f, &s->labels);
		fp_labels(&f, &s->annotations);
		fp_u64(&f, s->headless | (uint64_t)s->n_ips << 1);
		fp_bytes(&f, s->ips, s->n_ips * sizeof(s->ips[0]));
		for (size_t i = 0; i < s->n_ports; i++) {
			fp_str(&f, s->ports[i].name);
			fp_str(&f, s->ports[i].target_name);
			fp_u64(&f, s->ports[i].port | (uint64_t)s->ports[i].proto << 16 |
					   (uint64_t)s->ports[i].target << 24);
		}
		break;
	}
	case PW_KIND_EPSLICE: {
		const struct pw_epslice *e = &o->u.eps;

		fp_str(&f, e->namespace);
		fp_str(&f, e->name);
		fp_labels(&f, &e->labels);
		fp_labels(&f, &e->annotations);
		fp_u64(&f, e->family);
		for (size_t i = 0; i < e->n_ports; i++) {
			fp_str(&f, e->ports[i].name);
			fp_u64(&f, e->ports[i].port | (uint64_t)e->ports[i].proto << 16 |
					   (uint64_t)e->ports[i].port_set << 24);
		}
		for (size_t i = 0; i < e->n_eps; i++) {
			fp_bytes(&f, &e->eps[i].addr, sizeof(e->eps[i].addr));
			fp_u64(&f, e->eps[i].ready | (uint64_t)e->eps[i].n_addrs << 1);
			fp_str(&f, e->eps[i].pod_ns);
			fp_str(&f, e->eps[i].pod_name);
		}
		break;
	}
	default:
		break;
	}
	return f.h;
}

/* "kind/namespace/name" -> fingerprint, in d->fps */
struct fpent {
	uint32_t hash;
	uint64_t fp;
	char key[];
};

static bool fpent_eq(const void *obj, const void *probe)
{
	return !strcmp(((const struct fpent *)obj)->key, probe);
}

static int fp_key(char *buf, size_t len, enum pw_kind k, const char *ns, const char *name)
{
	return snprintf(buf, len, "%d/%s/%s", (int)k, ns ?: "", name ?: "") < (int)len
		       ? 0
		       : -ENAMETOOLONG;
}

void fp_set(struct daemon *d, enum pw_kind k, const char *ns, const char *name, uint64_t fp)
{
	char key[600];
	struct fpent *e;
	uint32_t h;

	if (fp_key(key, sizeof(key), k, ns, name))
		return;
	h = pw_hash_str(key);
	e = pw_htab_find(&d->fps, h, fpent_eq, key);
	if (!e) {
		e = malloc(sizeof(*e) + strlen(key) + 1);
		if (!e)
			return;
		strcpy(e->key, key);
		e->hash = h;
		if (pw_htab_insert(&d->fps, h, e)) {
			free(e);
			return;
		}
	}
	e->fp = fp;
}

bool fp_get(struct daemon *d, enum pw_kind k, const char *ns, const char *name, uint64_t *fp)
{
	char key[600];
	struct fpent *e;

	if (fp_key(key, sizeof(key), k, ns, name))
		return false;
	e = pw_htab_find(&d->fps, pw_hash_str(key), fpent_eq, key);
	if (!e)
		return false;
	*fp = e->fp;
	return true;
}

void fp_del(struct daemon *d, enum pw_kind k, const char *ns, const char *name)
{
	char key[600];
	struct fpent *e;

	if (fp_key(key, sizeof(key), k, ns, name))
		return;
	e = pw_htab_find(&d->fps, pw_hash_str(key), fpent_eq, key);
	if (e && pw_htab_remove(&d->fps, e->hash, e))
		free(e);
}

void fp_clear(struct daemon *d)
{
	for (size_t i = 0; i < d->fps.cap; i++)
		free(pw_htab_slot(&d->fps, i));
	pw_htab_clear(&d->fps);
}
