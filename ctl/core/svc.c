// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Services in the core (svc.h). Tables are small sorted arrays: a sync builds the desired
 * frontends from the store (Service ports x clusterIPs, backends from the EndpointSlices
 * labelled with the Service's name, as kube-proxy reads them) and merges them against what
 * the maps hold. Cost per sync: O(services + slices + frontends log frontends).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svc.h"

/* A frontend as written: (family, ClusterIP, port, proto) and its backends in slot order. */
struct fe {
	struct pw_svc_key key; /* slot 0 */
	uint32_t svc_id;
	const char *ns, *name; /* the Service (desired tables only: valid during the sync) */
	size_t n;
	uint32_t *ids;
	char *label; /* "ns/name" (owned), for records and queries */
};

/* A backend: (family, address, port) for one protocol, with its id in PW_MAP_BACKEND. */
struct be {
	struct pw_backend b;
	uint8_t proto;
	uint32_t id;
};

struct pw_svcs {
	size_t n_cidrs;
	struct pw_prefix *cidrs;
	struct fe *fe; /* what the maps hold, sorted by key */
	size_t n_fe;
	struct be *be; /* sorted by (b, proto) */
	size_t n_be;
	uint32_t next_id, next_svc_id;
	struct pw_svc_stats stats;
};


/* bsearch/qsort on an empty table: C leaves a NULL base undefined even when n is 0 */
static void *bsearch_n(const void *k, const void *v, size_t n, size_t sz,
		       int (*cmp)(const void *, const void *))
{
	return n ? bsearch(k, v, n, sz, cmp) : NULL;
}

static void qsort_n(void *v, size_t n, size_t sz, int (*cmp)(const void *, const void *))
{
	if (n > 1)
		qsort(v, n, sz, cmp);
}

static void fe_free(struct fe *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].ids);
		free(v[i].label);
	}
	free(v);
}

int pw_svcs_new(const char *cidrs, struct pw_svcs **out, char *err, size_t err_len)
{
	struct pw_svcs *s = calloc(1, sizeof(*s));
	char *copy, *item, *save = NULL;
	int ret = 0;

	if (!s)
		return -ENOMEM;
	copy = strdup(cidrs && *cidrs ? cidrs : PW_SVC_CIDRS_DEFAULT);
	if (!copy) {
		free(s);
		return -ENOMEM;
	}
	for (item = strtok_r(copy, ",", &save); item && !ret; item = strtok_r(NULL, ",", &save)) {
		struct pw_prefix p, *nv;
		bool host = false;

		if (pw_prefix_parse(item, &p, &host) || host) {
			snprintf(err, err_len, "service CIDR \"%s\": %s", item,
				 host ? "host bits set" : "not a prefix such as 10.96.0.0/12");
			ret = -EINVAL;
			break;
		}
		nv = realloc(s->cidrs, (s->n_cidrs + 1) * sizeof(*nv));
		if (!nv) {
			ret = -ENOMEM;
			break;
		}
		s->cidrs = nv;
		s->cidrs[s->n_cidrs++] = p;
	}
	free(copy);
	if (ret) {
		pw_svcs_free(s);
		return ret;
	}
	s->next_id = 1;
	s->next_svc_id = 1;
	*out = s;
	return 0;
}

void pw_svcs_free(struct pw_svcs *s)
{
	if (!s)
		return;
	fe_free(s->fe, s->n_fe);
	free(s->be);
	free(s->cidrs);
	free(s);
}

void pw_svcs_stats(const struct pw_svcs *s, struct pw_svc_stats *out)
{
	*out = s->stats;
	out->frontends = s->n_fe;
	out->backends = s->n_be;
}

static int be_cmp(const void *a, const void *b);
static int fe_cmp(const void *a, const void *b);

/* --- restart ---------------------------------------------------------------------------- */

static int fe_slot_cmp(const void *a, const void *b)
{
	const struct pw_svc_key *x = a, *y = b;
	int r = memcmp(x, y, offsetof(struct pw_svc_key, slot));

	return r ? r : (int)x->slot - (int)y->slot;
}

/*
 * Read back what a previous daemon wrote, so the first sync writes only the difference: a
 * restart neither renumbers backends under live frontends nor leaves stale frontends behind.
 */
int pw_svcs_recover(struct pw_svcs *s, struct pw_dp *dp)
{
	struct pw_svc_key *keys = NULL;
	struct pw_svc_val *vals = NULL;
	struct pw_dp_iter it;
	struct pw_svc_key k;
	struct pw_svc_val v;
	struct pw_backend b;
	uint32_t id;
	size_t n = 0, cap = 0, i, j;
	int r, err = 0;

	err = pw_dp_iter_init(dp, PW_DPMAP_SVC, &it);
	while (!err && (r = pw_dp_iter_next(&it, &k, &v)) == 1) {
		if (n == cap) {
			size_t nc = cap ? 2 * cap : 64;
			void *nk = realloc(keys, nc * sizeof(*keys)), *nv;

			if (!nk) {
				err = -ENOMEM;
				break;
			}
			keys = nk;
			nv = realloc(vals, nc * sizeof(*vals));
			if (!nv) {
				err = -ENOMEM;
				break;
			}
			vals = nv;
			cap = nc;
		}
		keys[n] = k;
		vals[n++] = v;
	}
	if (!err && r < 0)
		err = r;
	/* (key, slot) order: a key's slot 0 comes first, then its backends */
	if (!err && n) {
		struct kv {
			struct pw_svc_key k;
			struct pw_svc_val v;
		} *kv = calloc(n, sizeof(*kv));

		if (!kv) {
			err = -ENOMEM;
		} else {
			for (i = 0; i < n; i++)
				kv[i] = (struct kv){keys[i], vals[i]};
			if (n > 1) /* NULL when empty (UBSan) */
				qsort_n(kv, n, sizeof(*kv), fe_slot_cmp);
			for (i = 0; i < n; i++) {
				keys[i] = kv[i].k;
				vals[i] = kv[i].v;
			}
			free(kv);
		}
	}
	for (i = 0; !err && i < n; i++) {
		struct fe f = {0}, *nv;

		if (keys[i].slot)
			continue; /* a slot without its frontend: a torn write, rewritten anyway */
		f.key = keys[i];
		f.svc_id = vals[i].svc_id;
		f.ids = calloc(vals[i].count ? vals[i].count : 1, sizeof(*f.ids));
		f.label = strdup("");
		nv = realloc(s->fe, (s->n_fe + 1) * sizeof(*nv));
		if (!f.ids || !f.label || !nv) {
			free(f.ids);
			free(f.label);
			if (nv)
				s->fe = nv;
			err = -ENOMEM;
			break;
		}
		s->fe = nv;
		for (j = i + 1; j < n && f.n < vals[i].count &&
				!memcmp(&keys[j], &keys[i], offsetof(struct pw_svc_key, slot));
		     j++) {
			if (keys[j].slot == f.n + 1)
				f.ids[f.n++] = vals[j].backend_id;
		}
		if (f.svc_id >= s->next_svc_id)
			s->next_svc_id = f.svc_id + 1;
		s->fe[s->n_fe++] = f;
	}
	if (s->n_fe > 1) /* NULL when empty (UBSan) */
		qsort_n(s->fe, s->n_fe, sizeof(*s->fe), fe_cmp);
	err = err ?: pw_dp_iter_init(dp, PW_DPMAP_BACKEND, &it);
	while (!err && (r = pw_dp_iter_next(&it, &id, &b)) == 1) {
		struct be e = {.b = b, .id = id}, *nv;

		/* the protocol is the frontends': one entry per protocol that names the backend */
		for (i = 0; i < s->n_fe && !err; i++) {
			bool named = false;

			for (j = 0; j < s->fe[i].n && !named; j++)
				named = s->fe[i].ids[j] == id;
			if (!named)
				continue;
			e.proto = s->fe[i].key.proto;
			nv = realloc(s->be, (s->n_be + 1) * sizeof(*nv));
			if (!nv) {
				err = -ENOMEM;
				break;
			}
			s->be = nv;
			s->be[s->n_be++] = e;
			break;
		}
		if (id >= s->next_id)
			s->next_id = id + 1;
	}
	if (!err && r < 0)
		err = r;
	if (s->n_be > 1) /* NULL when empty (UBSan) */
		qsort_n(s->be, s->n_be, sizeof(*s->be), be_cmp);
	free(keys);
	free(vals);
	return err;
}

/* --- checks ----------------------------------------------------------------------------- */

static void errf(pw_svc_err_fn fn, void *ctx, const struct pw_object *o, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void errf(pw_svc_err_fn fn, void *ctx, const struct pw_object *o, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fn(ctx, o, msg);
}

static void cidrs_str(const struct pw_svcs *s, char *buf, size_t len)
{
	char p[PW_PREFIX_STRLEN];
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < s->n_cidrs && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? "," : "",
					pw_prefix_str(&s->cidrs[i], p, sizeof(p)));
}

static int check_service(const struct pw_svcs *s, const struct pw_state *st,
			 const struct pw_sobj *so, pw_svc_err_fn fn, void *ctx)
{
	const struct pw_service *svc = &so->obj.u.svc;
	char a[PW_PREFIX_STRLEN], list[256];
	int ret = 0;

	for (size_t i = 0; i < svc->n_ips; i++) {
		bool in = false;

		for (size_t j = 0; j < s->n_cidrs && !in; j++)
			in = pw_prefix_contains_addr(&s->cidrs[j], &svc->ips[i]);
		if (!in) {
			cidrs_str(s, list, sizeof(list));
			errf(fn, ctx, &so->obj,
			     "spec.clusterIPs[%zu]: Invalid value: \"%s\": not within the service "
			     "CIDRs %s (podwalld --service-cidr)",
			     i, pw_addr_str(&svc->ips[i], a, sizeof(a)), list);
			ret = -EINVAL;
			continue;
		}
		/* the API server allocates each ClusterIP once */
		for (size_t k = 0; k < pw_state_count(st, PW_KIND_SERVICE); k++) {
			const struct pw_sobj *o = pw_state_at(st, PW_KIND_SERVICE, k);
			const struct pw_service *t = &o->obj.u.svc;

			if (o == so)
				continue;
			for (size_t m = 0; m < t->n_ips; m++) {
				if (memcmp(&t->ips[m], &svc->ips[i], sizeof(t->ips[m])))
					continue;
				errf(fn, ctx, &so->obj,
				     "spec.clusterIPs[%zu]: Invalid value: \"%s\": provided IP is "
				     "already allocated (Service %s/%s)",
				     i, pw_addr_str(&svc->ips[i], a, sizeof(a)), t->namespace,
				     t->name);
				ret = -EINVAL;
			}
		}
	}
	return ret;
}

int pw_svcs_check(const struct pw_svcs *s, const struct pw_state *st, size_t from, bool slices,
		  pw_svc_err_fn fn, void *ctx)
{
	int ret = 0;

	for (size_t i = from; i < st->n_log; i++) {
		const struct pw_sobj *so = st->log[i].cur;

		/* an object replaced again later in the log is checked as its last version */
		if (!so || pw_state_find(st, so->obj.kind, pw_object_namespace(&so->obj),
					 pw_object_name(&so->obj)) != so)
			continue;
		if (so->obj.kind == PW_KIND_SERVICE && check_service(s, st, so, fn, ctx))
			ret = -EINVAL;
		if (so->obj.kind == PW_KIND_EPSLICE && slices) {
			const struct pw_epslice *e = &so->obj.u.eps;

			if (!pw_state_find(st, PW_KIND_SERVICE, e->namespace, e->service)) {
				errf(fn, ctx, &so->obj,
				     "metadata.labels: Invalid value: \"%s\": label %s names no "
				     "Service in namespace %s: apply the Service first (or in the "
				     "same input)",
				     e->service, PW_LABEL_SERVICE_NAME, e->namespace);
				ret = -EINVAL;
			}
		}
	}
	return ret;
}

/* --- desired tables --------------------------------------------------------------------- */

static int be_cmp(const void *a, const void *b)
{
	const struct be *x = a, *y = b;
	int r = memcmp(&x->b, &y->b, sizeof(x->b));

	return r ? r : (int)x->proto - (int)y->proto;
}

static int fe_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct fe *)a)->key, &((const struct fe *)b)->key,
		      sizeof(struct pw_svc_key));
}

static void addr_words(const struct pw_addr *a, __u32 w[4])
{
	memset(w, 0, 16);
	memcpy(w, a->a, a->family == PW_FAMILY_V4 ? 4 : 16);
}

/* The pod behind an endpoint: its targetRef, else the pod of the slice's namespace holding it */
static const struct pw_pod *endpoint_pod(const struct pw_state *st, const struct pw_epslice *e,
					 const struct pw_eps_endpoint *ep)
{
	const struct pw_sobj *o;

	if (ep->pod_name) {
		o = pw_state_find(st, PW_KIND_POD, ep->pod_ns, ep->pod_name);
		return o ? &o->obj.u.pod : NULL;
	}
	for (size_t i = 0; i < pw_state_count(st, PW_KIND_POD); i++) {
		const struct pw_pod *p = &pw_state_at(st, PW_KIND_POD, i)->obj.u.pod;

		if (strcmp(p->namespace, e->namespace))
			continue;
		for (size_t j = 0; j < p->n_ips; j++) {
			if (!memcmp(&p->ips[j], &ep->addr, sizeof(ep->addr)))
				return p;
		}
	}
	return NULL;
}

/*
 * The backend port of one endpoint for Service port sp: the slice port of the same name and
 * protocol (kube-proxy); a slice port without a number falls back on the targetPort, a named
 * one resolved against the endpoint's pod. 0: this endpoint has no port for sp.
 */
static uint16_t backend_port(const struct pw_state *st, const struct pw_epslice *e,
			     const struct pw_eps_port *p, const struct pw_svc_port *sp,
			     const struct pw_eps_endpoint *ep)
{
	const struct pw_pod *pod;
	int r;

	if (p->port_set)
		return p->port;
	if (!sp->target_name)
		return sp->target;
	pod = endpoint_pod(st, e, ep);
	r = pod ? pw_pod_named_port(pod, sp->target_name, sp->proto) : -ENOENT;
	return r > 0 ? (uint16_t)r : 0;
}

struct build {
	struct fe *fe;
	size_t n_fe, cap_fe;
	struct be *be;
	size_t n_be, cap_be;
};

/* Append one element of size sz to the doubling array *v of *n (capacity *cap) elements. */
static int push(void **v, size_t *n, size_t *cap, const void *x, size_t sz)
{
	if (*n == *cap) {
		size_t nc = *cap ? 2 * *cap : 16;
		void *nv = realloc(*v, nc * sz);

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = nc;
	}
	memcpy((char *)*v + *n * sz, x, sz);
	(*n)++;
	return 0;
}

static int add_be(struct build *b, const struct be *v)
{
	return push((void **)&b->be, &b->n_be, &b->cap_be, v, sizeof(*v));
}

static int add_fe(struct build *b, const struct fe *v)
{
	return push((void **)&b->fe, &b->n_fe, &b->cap_fe, v, sizeof(*v));
}

static const struct be *be_find(const struct be *v, size_t n, const struct be *k)
{
	return bsearch_n(k, v, n, sizeof(*v), be_cmp);
}

/* Backends of one frontend (service svc, port sp, family) into b->be as a sorted, unique run. */
static int frontend_backends(const struct pw_state *st, const struct pw_service *svc,
			     const struct pw_svc_port *sp, uint8_t family, struct build *b,
			     size_t *first)
{
	size_t n0 = b->n_be, w;
	int err;

	*first = n0;
	for (size_t i = 0; i < pw_state_count(st, PW_KIND_EPSLICE); i++) {
		const struct pw_epslice *e = &pw_state_at(st, PW_KIND_EPSLICE, i)->obj.u.eps;
		const struct pw_eps_port *p = NULL;

		if (e->family != family || strcmp(e->namespace, svc->namespace) ||
		    strcmp(e->service, svc->name))
			continue;
		for (size_t j = 0; j < e->n_ports && !p; j++) {
			if (!strcmp(e->ports[j].name, sp->name ? sp->name : "") &&
			    e->ports[j].proto == sp->proto)
				p = &e->ports[j];
		}
		if (!p)
			continue;
		for (size_t j = 0; j < e->n_eps; j++) {
			const struct pw_eps_endpoint *ep = &e->eps[j];
			struct be v = {.proto = sp->proto};
			uint16_t port;

			if (!ep->ready)
				continue;
			port = backend_port(st, e, p, sp, ep);
			if (!port)
				continue;
			addr_words(&ep->addr, v.b.addr);
			v.b.port = htons(port);
			v.b.family = family;
			err = add_be(b, &v);
			if (err)
				return err;
		}
	}
	/* sorted and unique: two slices may list one endpoint */
	if (b->n_be - n0 > 1) /* NULL when empty (UBSan) */
		qsort_n(b->be + n0, b->n_be - n0, sizeof(*b->be), be_cmp);
	w = n0;
	for (size_t r = n0; r < b->n_be; r++) {
		if (w > n0 && !be_cmp(&b->be[w - 1], &b->be[r]))
			continue;
		b->be[w++] = b->be[r];
	}
	b->n_be = w;
	return 0;
}

static int build_desired(struct pw_svcs *s, const struct pw_state *st, struct build *b)
{
	int err;

	for (size_t i = 0; i < pw_state_count(st, PW_KIND_SERVICE); i++) {
		const struct pw_service *svc = &pw_state_at(st, PW_KIND_SERVICE, i)->obj.u.svc;

		for (size_t a = 0; !svc->headless && a < svc->n_ips; a++) {
			for (size_t p = 0; p < svc->n_ports; p++) {
				const struct pw_svc_port *sp = &svc->ports[p];
				struct fe f = {.ns = svc->namespace, .name = svc->name};
				size_t first;

				addr_words(&svc->ips[a], f.key.addr);
				f.key.port = htons(sp->port);
				f.key.family = svc->ips[a].family;
				f.key.proto = sp->proto;
				err = frontend_backends(st, svc, sp, f.key.family, b, &first);
				if (err)
					return err;
				f.n = b->n_be - first;
				if (f.n > PW_SVC_MAX_BACKENDS)
					f.n = PW_SVC_MAX_BACKENDS;
				/* ids later: slot i holds backend be[first + i]; park the index */
				f.svc_id = (uint32_t)first;
				err = add_fe(b, &f);
				if (err)
					return err;
			}
		}
	}
	(void)s;
	return 0;
}

/* --- writing ---------------------------------------------------------------------------- */

static uint32_t be_id(const struct pw_svcs *s, const struct be *v)
{
	const struct be *c = be_find(s->be, s->n_be, v);

	return c ? c->id : 0;
}

static bool ids_equal(const struct fe *a, const struct fe *b)
{
	return a->n == b->n && a->svc_id == b->svc_id &&
	       (!a->n || !memcmp(a->ids, b->ids, a->n * sizeof(*a->ids)));
}

static void ct_flush_backend(struct pw_svcs *s, struct pw_dp *dp, const struct be *v)
{
	uint64_t n = 0;

	if (!pw_dp_ct_flush_peer(dp, &v->b, v->proto, NULL, NULL, &n))
		s->stats.flows_ended += n;
}

/* The first pid of a cgroup (or of one of its children: the pod's containers), 0 if none. */
static long cgroup_pid(const char *dir, int depth)
{
	char path[4096];
	struct dirent *de;
	long pid = 0;
	FILE *f;
	DIR *d;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "re");
	if (f) {
		if (fscanf(f, "%ld", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	if (pid || depth <= 0 || !(d = opendir(dir)))
		return pid;
	while (!pid && (de = readdir(d))) {
		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		pid = cgroup_pid(path, depth - 1);
	}
	closedir(d);
	return pid;
}

/* The network namespaces of the local pods that run a process: fds into *out (distinct). */
static size_t pod_netns_fds(const struct pw_state *st, const char *root, int **out)
{
	size_t n_pods = pw_state_count(st, PW_KIND_POD), n = 0;
	dev_t *dev = calloc(n_pods + 1, sizeof(*dev));
	ino_t *ino = calloc(n_pods + 1, sizeof(*ino));
	int *fds = calloc(n_pods + 1, sizeof(*fds));

	*out = NULL;
	for (size_t i = 0; root && fds && dev && ino && i < n_pods; i++) {
		const struct pw_sobj *o = pw_state_at(st, PW_KIND_POD, i);
		char path[4096];
		struct stat sb;
		bool seen = false;
		long pid;
		int fd;

		if (!o->local || !o->obj.u.pod.cgroup)
			continue;
		snprintf(path, sizeof(path), "%s/%s", root, o->obj.u.pod.cgroup);
		pid = cgroup_pid(path, 2);
		if (!pid)
			continue; /* nothing runs: no socket to end */
		snprintf(path, sizeof(path), "/proc/%ld/ns/net", pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue; /* it exited meanwhile */
		if (fstat(fd, &sb)) {
			close(fd);
			continue;
		}
		for (size_t j = 0; j < n && !seen; j++)
			seen = dev[j] == sb.st_dev && ino[j] == sb.st_ino;
		if (seen) {
			close(fd);
			continue;
		}
		dev[n] = sb.st_dev;
		ino[n] = sb.st_ino;
		fds[n++] = fd;
	}
	free(dev);
	free(ino);
	*out = fds;
	return fds ? n : 0;
}

/*
 * The connections of backends no frontend names any more: conntrack entries (all scopes) and
 * the client sockets in the local pods. A failure to end sockets is counted, not fatal: the
 * tables are already right for new connections.
 */
static void end_backends(struct pw_svcs *s, struct pw_dp *dp, const struct pw_state *st,
			 const char *cgroup_root, const struct be *gone, size_t n)
{
	struct pw_svc_end_key *keys;
	uint64_t ended = 0;
	int *fds = NULL;
	size_t n_fds;

	if (!n)
		return;
	for (size_t i = 0; i < n; i++)
		ct_flush_backend(s, dp, &gone[i]);
	keys = calloc(n, sizeof(*keys));
	n_fds = pod_netns_fds(st, cgroup_root, &fds);
	for (size_t i = 0; keys && i < n; i++) {
		memcpy(keys[i].addr, gone[i].b.addr, sizeof(keys[i].addr));
		keys[i].port = gone[i].b.port;
		keys[i].family = gone[i].b.family;
		keys[i].proto = gone[i].proto;
	}
	if (!keys || (n_fds && pw_dp_svc_end_conns(dp, keys, n, fds, n_fds, &ended)))
		s->stats.end_failures++;
	s->stats.conns_ended += ended;
	for (size_t i = 0; i < n_fds; i++)
		close(fds[i]);
	free(fds);
	free(keys);
}

int pw_svcs_sync(struct pw_svcs *s, struct pw_dp *dp, const struct pw_state *st,
		 const char *cgroup_root)
{
	struct build b = {0};
	struct be *nbe = NULL, *gone;
	struct fe *nfe = NULL;
	size_t n_nbe = 0, n_gone = 0, i, j;
	int err;

	err = build_desired(s, st, &b);
	if (err)
		goto out;
	/* the new backend table: every backend any frontend uses, with its old id or a new one */
	nbe = malloc((b.n_be ? b.n_be : 1) * sizeof(*nbe));
	nfe = calloc(b.n_fe ? b.n_fe : 1, sizeof(*nfe));
	if (!nbe || !nfe) {
		err = -ENOMEM;
		goto out;
	}
	if (b.n_be) /* b.be is NULL when empty (UBSan) */
		memcpy(nbe, b.be, b.n_be * sizeof(*nbe));
	if (b.n_be > 1) /* NULL when empty (UBSan) */
		qsort_n(nbe, b.n_be, sizeof(*nbe), be_cmp);
	for (i = 0; i < b.n_be; i++) {
		if (n_nbe && !be_cmp(&nbe[n_nbe - 1], &nbe[i]))
			continue;
		nbe[n_nbe] = nbe[i];
		nbe[n_nbe].id = be_id(s, &nbe[i]);
		if (!nbe[n_nbe].id)
			nbe[n_nbe].id = s->next_id++;
		n_nbe++;
	}
	for (i = 0; i < b.n_fe; i++) {
		struct fe *f = &nfe[i];
		const struct fe *old;
		size_t first = b.fe[i].svc_id;

		*f = b.fe[i];
		f->ids = calloc(f->n ? f->n : 1, sizeof(*f->ids));
		if (!f->ids || asprintf(&f->label, "%s/%s", f->ns, f->name) < 0) {
			f->label = NULL;
			err = -ENOMEM;
			goto out;
		}
		for (j = 0; j < f->n; j++)
			f->ids[j] = be_find(nbe, n_nbe, &b.be[first + j])->id;
		old = bsearch_n(f, s->fe, s->n_fe, sizeof(*s->fe), fe_cmp);
		f->svc_id = old ? old->svc_id : s->next_svc_id++;
	}
	if (b.n_fe > 1) /* NULL when empty (UBSan) */
		qsort_n(nfe, b.n_fe, sizeof(*nfe), fe_cmp);

	if (dp) {
		/* backends first: a slot never names a backend the map lacks */
		for (i = 0; i < n_nbe && !err; i++) {
			if (!be_find(s->be, s->n_be, &nbe[i]))
				err = pw_dp_backend_update(dp, nbe[i].id, &nbe[i].b);
		}
		for (i = 0; i < b.n_fe && !err; i++) {
			const struct fe *old =
				bsearch_n(&nfe[i], s->fe, s->n_fe, sizeof(*s->fe), fe_cmp);

			if (!old || !ids_equal(old, &nfe[i]))
				err = pw_dp_svc_write(dp, &nfe[i].key, nfe[i].svc_id, nfe[i].ids,
						      nfe[i].n, old ? old->n : 0);
		}
		for (i = 0; i < s->n_fe && !err; i++) {
			if (!bsearch_n(&s->fe[i], nfe, b.n_fe, sizeof(*nfe), fe_cmp))
				err = pw_dp_svc_delete(dp, &s->fe[i].key, s->fe[i].n);
		}
		/* backends no frontend names any more: gone, and their flows with them */
		gone = calloc(s->n_be + 1, sizeof(*gone));
		if (!gone)
			err = -ENOMEM;
		for (i = 0; i < s->n_be && !err; i++) {
			if (be_find(nbe, n_nbe, &s->be[i]))
				continue;
			err = pw_dp_backend_delete(dp, s->be[i].id);
			if (!err)
				gone[n_gone++] = s->be[i];
		}
		if (!err)
			end_backends(s, dp, st, cgroup_root, gone, n_gone);
		free(gone);
		if (err)
			goto out;
		s->stats.syncs_written++;
	}
	fe_free(s->fe, s->n_fe);
	free(s->be);
	for (i = 0; i < b.n_fe; i++)
		nfe[i].ns = nfe[i].name = NULL; /* the store's strings: not kept */
	s->fe = nfe;
	s->n_fe = b.n_fe;
	s->be = nbe;
	s->n_be = n_nbe;
	nfe = NULL;
	nbe = NULL;
out:
	if (nfe)
		fe_free(nfe, b.n_fe);
	free(nbe);
	free(b.fe);
	free(b.be);
	return err;
}

/* --- queries ---------------------------------------------------------------------------- */

static const struct be *be_by_id(const struct pw_svcs *s, uint32_t id)
{
	for (size_t i = 0; i < s->n_be; i++) {
		if (s->be[i].id == id)
			return &s->be[i];
	}
	return NULL;
}

static void be_addr(const struct be *v, struct pw_addr *a)
{
	memset(a, 0, sizeof(*a));
	a->family = v->b.family;
	memcpy(a->a, v->b.addr, v->b.family == PW_FAMILY_V4 ? 4 : 16);
}

static const struct fe *fe_lookup(const struct pw_svcs *s, uint8_t family, const uint32_t addr[4],
				  uint16_t port_be, uint8_t proto)
{
	struct fe k = {0};

	memcpy(k.key.addr, addr, sizeof(k.key.addr));
	k.key.port = port_be;
	k.key.family = family;
	k.key.proto = proto;
	return bsearch_n(&k, s->fe, s->n_fe, sizeof(*s->fe), fe_cmp);
}

int pw_svcs_name(const struct pw_svcs *s, uint8_t family, const uint32_t addr[4], uint16_t port_be,
		 uint8_t proto, char *buf, size_t len)
{
	const struct fe *f = fe_lookup(s, family, addr, port_be, proto);

	if (!f)
		return -ENOENT;
	snprintf(buf, len, "%s", f->label);
	return 0;
}

int pw_svcs_backends(const struct pw_svcs *s, const struct pw_addr *a, uint16_t port, uint8_t proto,
		     struct pw_svc_backend_ref **out, size_t *n, uint32_t *svc_id)
{
	const struct fe *f;
	__u32 w[4];

	*out = NULL;
	*n = 0;
	addr_words(a, w);
	f = fe_lookup(s, a->family, w, htons(port), proto);
	if (!f)
		return -ENOENT;
	*svc_id = f->svc_id;
	*out = calloc(f->n ? f->n : 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (size_t i = 0; i < f->n; i++) {
		const struct be *v = be_by_id(s, f->ids[i]);

		if (!v)
			continue;
		be_addr(v, &(*out)[*n].addr);
		(*out)[(*n)++].port = ntohs(v->b.port);
	}
	return 0;
}

size_t pw_svcs_of_service(const struct pw_svcs *s, const char *ns, const char *name,
			  size_t *backends)
{
	size_t fronts = 0, nl = strlen(ns);

	*backends = 0;
	for (size_t i = 0; i < s->n_fe; i++) {
		const char *l = s->fe[i].label;

		if (strncmp(l, ns, nl) || l[nl] != '/' || strcmp(l + nl + 1, name))
			continue;
		*backends += s->fe[i].n;
		fronts++;
	}
	return fronts;
}
