// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwalld: the address -> pod index and the flow-record enricher (pods, policies and
 * prefixes named in records), brought up to date lazily from the core's pod lists.
 */
#define _GNU_SOURCE
#include "daemon.h"

/* --- pods and policies for flow records --------------------------------------------------- */

static void podinfo_clear(struct podinfo *p)
{
	free(p->name);
	for (size_t j = 0; j < p->n_labels; j++)
		free(p->labels[j]);
	free(p->labels);
}

static void podns_pods_free(struct podns *g)
{
	for (size_t i = 0; i < g->npods; i++)
		podinfo_clear(&g->pods[i]);
	free(g->pods);
	g->pods = NULL;
	g->npods = 0;
}

void pods_clear(struct daemon *d)
{
	for (size_t i = 0; i < d->n_podns; i++) {
		podns_pods_free(d->podns[i]);
		free(d->podns[i]->ns);
		free(d->podns[i]);
	}
	free(d->podns);
	free(d->addrs);
	d->podns = NULL;
	d->addrs = NULL;
	d->n_podns = d->naddrs = 0;
}

/* The group of namespace ns (podns is sorted by name), created when asked; NULL: none or ENOMEM */
static struct podns *podns_get(struct daemon *d, const char *ns, bool create)
{
	size_t lo = 0, hi = d->n_podns;
	struct podns *g, **v;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(d->podns[mid]->ns, ns);

		if (!c)
			return d->podns[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!create)
		return NULL;
	g = calloc(1, sizeof(*g));
	v = realloc(d->podns, (d->n_podns + 1) * sizeof(*v));
	if (v)
		d->podns = v;
	if (!g || !v || !(g->ns = strdup(ns))) {
		free(g);
		return NULL;
	}
	memmove(&d->podns[lo + 1], &d->podns[lo], (d->n_podns - lo) * sizeof(*v));
	d->podns[lo] = g;
	d->n_podns++;
	return g;
}

/* A change touched the pods of namespace ns (NULL: of every namespace). */
void pods_touch(struct daemon *d, const char *ns)
{
	struct podns *g;

	/* the flow log's rendered endpoints may name these pods */
	pw_flowlog_invalidate(d->fl);
	if (d->pods_all_stale)
		return; /* everything is listed again anyway */
	g = ns ? podns_get(d, ns, true) : NULL;
	if (g) {
		g->stale = true;
		d->pods_some_stale = true;
	} else {
		d->pods_all_stale = true;
	}
}

static int podaddr_cmp(const void *a, const void *b)
{
	const struct podaddr *x = a, *y = b;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	return memcmp(x->a, y->a, sizeof(x->a));
}

struct addrvec {
	struct podaddr *v;
	size_t n, cap;
};

static void addr_add(struct addrvec *av, const struct podns *g, const struct podinfo *pod,
		     const struct pw_addr *addr)
{
	struct podaddr p = {.grp = g, .pod = pod};

	if (addr->family != PW_FAMILY_V4 && addr->family != PW_FAMILY_V6)
		return;
	p.family = addr->family;
	memcpy(p.a, addr->a, sizeof(p.a));
	if (av->n == av->cap) {
		size_t ncap = av->cap ? av->cap * 2 : 64;
		struct podaddr *v = realloc(av->v, ncap * sizeof(*v));

		if (!v)
			return;
		av->v = v;
		av->cap = ncap;
	}
	av->v[av->n++] = p;
}

static void pod_fill(struct podinfo *p, const struct pw_cp_pod_row *r)
{
	const struct pw_labels *labels = &r->pod->labels;

	p->ep_id = r->ep_id;
	p->identity = r->identity;
	p->labels = calloc(labels->n + 1, sizeof(char *));
	if (!p->labels)
		return;
	for (size_t i = 0; i < labels->n; i++) {
		char *kv;

		if (asprintf(&kv, "%s=%s", labels->v[i].key, labels->v[i].value) >= 0)
			p->labels[p->n_labels++] = kv;
	}
}

/*
 * Fill g with the pods rows[idx[0..n)] (the core's pod list, all of g's namespace) and add
 * their addresses to av. On -ENOMEM g keeps what it held.
 */
static int podns_fill(struct podns *g, const struct pw_cp_pod_row *rows, const size_t *idx,
		      size_t n, struct addrvec *av)
{
	struct podinfo *pods = calloc(n ? n : 1, sizeof(*pods));
	size_t np = 0;

	if (!pods)
		return -ENOMEM;
	podns_pods_free(g);
	g->pods = pods;
	for (size_t i = 0; i < n; i++) {
		const struct pw_cp_pod_row *r = &rows[idx[i]];
		struct podinfo *p = &pods[np];

		p->ns = g->ns;
		p->name = strdup(r->pod->name);
		pod_fill(p, r);
		np++;
		for (size_t j = 0; j < r->pod->n_ips; j++)
			addr_add(av, g, p, &r->pod->ips[j]);
	}
	g->npods = np;
	return 0;
}

struct nsitem {
	const char *ns;
	size_t idx; /* in the list */
};

static int nsitem_cmp(const void *a, const void *b)
{
	const struct nsitem *x = a, *y = b;
	int c = strcmp(x->ns, y->ns);

	if (c)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Every pod again, grouped by namespace. */
static void pods_load_all(struct daemon *d)
{
	struct addrvec av = {0};
	struct nsitem *v = NULL;
	size_t n = 0, nv = 0, *idx = NULL, i, j, k;
	struct pw_cp_pod_row *rows = NULL;

	pods_clear(d);
	d->pods_all_stale = d->pods_some_stale = false;
	if (pw_cp_list_pods(d->cp, NULL, &rows, &n))
		return;
	v = calloc(n ? n : 1, sizeof(*v));
	idx = calloc(n ? n : 1, sizeof(*idx));
	if (!v || !idx)
		goto out;
	for (i = 0; i < n; i++) {
		v[nv++] = (struct nsitem){.ns = rows[i].pod->namespace, .idx = i};
	}
	/* by namespace, list order within one: what listing that namespace alone gives */
	qsort(v, nv, sizeof(*v), nsitem_cmp);
	for (i = 0; i < nv; i = j) {
		struct podns *g = podns_get(d, v[i].ns, true);

		for (j = i, k = 0; j < nv && !strcmp(v[j].ns, v[i].ns); j++)
			idx[k++] = v[j].idx;
		if (g)
			podns_fill(g, rows, idx, k, &av);
	}
	if (av.n)
		qsort(av.v, av.n, sizeof(*av.v), podaddr_cmp);
	d->addrs = av.v;
	d->naddrs = av.n;
	av.v = NULL;
out:
	free(av.v);
	free(v);
	free(idx);
	free(rows);
}

/* Replace the pods of g (one namespace) with the core's current list; addresses go to av. */
static void pods_load_ns(struct daemon *d, struct podns *g, struct addrvec *av)
{
	size_t n = 0, *idx = NULL;
	struct pw_cp_pod_row *rows = NULL;

	if (pw_cp_list_pods(d->cp, g->ns, &rows, &n))
		return; /* stays stale: the next record tries again */
	idx = calloc(n ? n : 1, sizeof(*idx));
	for (size_t i = 0; idx && i < n; i++)
		idx[i] = i;
	if (idx && !podns_fill(g, rows, idx, n, av)) {
		g->stale = false;
		g->reloaded = true;
	}
	free(idx);
	free(rows);
}

/* Bring the address table up to date with the changes since it was last used. */
static void pods_sync(struct daemon *d)
{
	struct addrvec av = {0};
	struct podaddr *m;
	size_t i, j, k, n;

	if (d->pods_all_stale) {
		pods_load_all(d);
		return;
	}
	if (!d->pods_some_stale)
		return;
	d->pods_some_stale = false;
	for (i = 0; i < d->n_podns; i++) {
		if (d->podns[i]->stale)
			pods_load_ns(d, d->podns[i], &av);
		if (d->podns[i]->stale)
			d->pods_some_stale = true;
	}
	/* the reloaded namespaces' old addresses out, their new ones merged in: no full sort */
	for (i = k = 0; i < d->naddrs; i++) {
		if (!d->addrs[i].grp->reloaded)
			d->addrs[k++] = d->addrs[i];
	}
	d->naddrs = k;
	if (av.n)
		qsort(av.v, av.n, sizeof(*av.v), podaddr_cmp);
	n = d->naddrs + av.n;
	m = malloc((n ? n : 1) * sizeof(*m));
	if (m) {
		for (i = j = k = 0; i < d->naddrs || j < av.n;) {
			if (j == av.n ||
			    (i < d->naddrs && podaddr_cmp(&d->addrs[i], &av.v[j]) <= 0))
				m[k++] = d->addrs[i++];
			else
				m[k++] = av.v[j++];
		}
		free(d->addrs);
		d->addrs = m;
		d->naddrs = n;
	} else {
		/* keep what is consistent; the namespaces come back on the next record */
		for (i = 0; i < d->n_podns; i++) {
			if (d->podns[i]->reloaded)
				d->podns[i]->stale = d->pods_some_stale = true;
		}
	}
	free(av.v);
	/* namespaces without pods any more: nothing points at them now */
	for (i = k = 0; i < d->n_podns; i++) {
		struct podns *g = d->podns[i];

		g->reloaded = false;
		if (!g->npods && !g->stale) {
			podns_pods_free(g);
			free(g->ns);
			free(g);
			continue;
		}
		d->podns[k++] = g;
	}
	d->n_podns = k;
}

int enrich_endpoint(void *ctx, uint8_t family, const uint32_t addr[4], uint32_t identity,
		    uint32_t ep_id, struct pw_flow_endpoint *out)
{
	struct daemon *d = ctx;
	struct podaddr key = {.family = family}, *a = NULL;
	const struct podinfo *p = NULL;

	pods_sync(d);
	if (addr && (family == PW_FAMILY_V4 || family == PW_FAMILY_V6)) {
		memcpy(key.a, addr, family == PW_FAMILY_V4 ? 4 : 16);
		a = d->naddrs ? bsearch(&key, d->addrs, d->naddrs, sizeof(*d->addrs), podaddr_cmp)
			      : NULL;
	}
	if (a) {
		p = a->pod;
	} else if (ep_id) {
		for (size_t i = 0; i < d->n_podns && !p; i++) {
			const struct podns *g = d->podns[i];

			for (size_t j = 0; j < g->npods && !p; j++) {
				if (g->pods[j].ep_id == ep_id)
					p = &g->pods[j];
			}
		}
	}
	if (!p) {
		/*
		 * Outside the pods: the ipBlock prefix the kernel's ipcache matched, which is
		 * what a policy about this address speaks of. The buffer is ours; the library
		 * copies the string before it asks about the other end.
		 */
		if (!addr || pw_cp_peer_cidr(d->cp, family, addr, d->cidr_buf, sizeof(d->cidr_buf)))
			return -ENOENT;
		memset(out, 0, sizeof(*out));
		out->cidr = d->cidr_buf;
		return 0;
	}
	memset(out, 0, sizeof(*out));
	out->ns = p->ns;
	out->pod_name = p->name;
	out->labels = (const char *const *)p->labels;
	out->n_labels = p->n_labels;
	out->ep_id = p->ep_id;
	return 0;
}

/*
 * An identity alone (the ends of --flow-aggregate records): pods of one identity share their
 * namespace and labels, so any pod holding it describes it. The library keeps the answer until
 * pw_flowlog_invalidate(), so the walk runs once per identity and change, not per record.
 */
int enrich_identity(void *ctx, uint32_t identity, struct pw_flow_endpoint *out)
{
	struct daemon *d = ctx;

	pods_sync(d);
	for (size_t i = 0; identity && i < d->n_podns; i++) {
		const struct podns *g = d->podns[i];

		for (size_t j = 0; j < g->npods; j++) {
			const struct podinfo *p = &g->pods[j];

			if (p->identity != identity)
				continue;
			memset(out, 0, sizeof(*out));
			out->ns = p->ns;
			out->labels = (const char *const *)p->labels;
			out->n_labels = p->n_labels;
			return 0;
		}
	}
	return -ENOENT;
}

/* The core names a cookie "namespace/name" and a rule such as "ingress[2]". */
int enrich_policy(void *ctx, uint32_t cookie, struct pw_flow_policy *out)
{
	struct daemon *d = ctx;
	const char *pol =
		pw_cp_cookie_policy(d->cp, cookie, d->cookie_rule, sizeof(d->cookie_rule));
	const char *r = d->cookie_rule, *br;
	char *slash;

	if (!pol)
		return -ENOENT;
	snprintf(d->cookie_pol, sizeof(d->cookie_pol), "%s", pol);
	memset(out, 0, sizeof(*out));
	slash = strchr(d->cookie_pol, '/');
	if (slash) {
		*slash = '\0';
		out->ns = d->cookie_pol;
		out->name = slash + 1;
	} else {
		out->name = d->cookie_pol;
	}
	out->rule = -1;
	out->direction = strstr(r, "egress") ? PW_DIR_EGRESS : PW_DIR_INGRESS;
	br = strchr(r, '[');
	if (br && br[1] >= '0' && br[1] <= '9')
		out->rule = (int32_t)strtol(br + 1, NULL, 10);
	return 0;
}

/* A deny names the policies that isolate the endpoint in that direction (none allowed it). */
int enrich_service(void *ctx, uint8_t family, const uint32_t addr[4], uint16_t port_be,
		   uint8_t proto, char *buf, size_t len)
{
	struct daemon *d = ctx;

	return pw_cp_service_name(d->cp, family, addr, port_be, proto, buf, len);
}

int enrich_flow_service(void *ctx, uint32_t ep_id, uint8_t family, uint8_t proto,
			const uint32_t daddr[4], uint16_t dport_be, uint32_t front[4],
			uint16_t *front_port_be)
{
	struct daemon *d = ctx;
	struct pw_svc_flow_key k = {
		.ep_id = ep_id, .port = dport_be, .family = family, .proto = proto};
	struct pw_svc_rev_val v;
	int err;

	if (!d->dp)
		return -ENOENT;
	memcpy(k.addr, daddr, sizeof(k.addr));
	err = pw_dp_svc_flow_lookup(d->dp, &k, &v);
	if (err)
		return err;
	memcpy(front, v.addr, sizeof(v.addr));
	*front_port_be = v.port;
	return 0;
}

int enrich_isolating(void *ctx, uint32_t ep_id, uint8_t direction, struct pw_flow_policy *out,
		     size_t max)
{
	struct daemon *d = ctx;
	const struct pw_netpol *v[16];
	size_t cap = max < 16 ? max : 16;
	int n = pw_cp_isolating(d->cp, ep_id, direction, v, cap);

	for (int i = 0; i < n && (size_t)i < cap; i++) {
		out[i] = (struct pw_flow_policy){
			.ns = v[i]->namespace,
			.name = v[i]->name,
			.rule = -1,
			.direction = direction,
		};
	}
	return n;
}
