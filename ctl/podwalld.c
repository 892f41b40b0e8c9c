// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwalld: the node daemon. One thread, one epoll loop over
 *   - signalfd    SIGTERM/SIGINT: exit, leaving enforcement in place; SIGHUP: re-read manifests
 *   - inotify     the --manifests directory: each file is a source synced into the core
 *   - the control socket (podwall CLI): JSON lines, root only
 *   - rtnetlink   link notifications: pods' host-side interfaces coming and going
 *   - perf buffer the datapath's events, written as flow records
 *   - timerfd     every 100 ms: drain the event rings (they wake the loop only when a quarter
 *                 full); every second: the flow log's deny windows; every 5 s: conntrack sweep
 *
 * Every mutation (a manifest file, `podwall apply`) goes through the control-plane core,
 * which is all or nothing and returns once the kernel enforces the result: the CLI's reply
 * is sent only then, so scripts never sleep.
 *
 * Exiting never tears enforcement down (pw_dp_close, not destroy): the pinned maps and links
 * keep policing while the daemon restarts, and the next start adopts them. Objects applied
 * through the CLI are kept in a journal under --state-dir and replayed at start (held in the
 * core and written in one reconcile with the manifests), so a restart rebuilds the same
 * desired state instead of forgetting it; the journal is compacted as it grows.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>

#include "cp.h"
#include "flowfilter.h"
#include "flowlog.h"
#include "linkwatch.h"
#include "mdir.h"
#include "proto.h"

#define BPFFS_DEFAULT	  "/sys/fs/bpf/podwall"
#define STATE_DIR_DEFAULT "/var/lib/podwall"
#define JOURNAL_NAME	  "cli-journal.jsonl"
#define UNREAD_NAME	  "events-unread"  /* the no-reader event counter as last reported */
#define CT_END_LOST_NAME  "flow-ends-lost" /* PW_METRIC_CT_END_LOST as last reported */
#define SWEEP_INTERVAL_S  5		   /* default --ct-sweep-interval */
#define NSEC_PER_MSEC	  1000000ll
#define NSEC_PER_SEC	  1000000000ll
#define TICK_MS		  100 /* bounds how long a flow record waits in the kernel's ring */
#define TICKS_PER_S	  (1000 / TICK_MS)
#define MAX_CLIENTS	  128
/* a follower that lets this much pile up loses records (counted) rather than our memory */
#define FOLLOW_BACKLOG_MAX (4u << 20)

/* --- logging ------------------------------------------------------------------------------- */

static enum pw_log_level g_level = PW_LOG_INFO;

static void vlog(enum pw_log_level lvl, const char *prefix, const char *fmt, va_list ap)
{
	static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
	struct timespec ts;
	struct tm tm;
	char when[32];

	if (lvl > g_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	flockfile(stderr);
	fprintf(stderr, "%s.%03ldZ %-5s %s", when, ts.tv_nsec / 1000000,
		names[lvl <= PW_LOG_DEBUG ? lvl : PW_LOG_DEBUG], prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

static void dlog(enum pw_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void dlog(enum pw_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(lvl, "", fmt, ap);
	va_end(ap);
}

/* pw_log_fn for the libraries: ctx is a prefix naming the layer */
static void lib_log(void *ctx, enum pw_log_level lvl, const char *msg)
{
	if (lvl > g_level)
		return;
	dlog(lvl, "%s%s", (const char *)ctx, msg);
}

/* --- state ------------------------------------------------------------------------------- */

struct daemon;
struct watch;
typedef void (*watch_fn)(struct daemon *d, struct watch *w, uint32_t events);

struct watch {
	int fd;
	watch_fn fn;
};

struct client {
	struct watch w; /* first: the epoll pointer is the client */
	struct client *next;
	struct pw_linebuf in;
	char *out;
	size_t out_off, out_len, out_cap;
	uint32_t mask; /* epoll events registered */
	int follow;    /* flow log subscription id while streaming flow records, else 0 */
	struct pw_flowfilter *filter; /* what the follower asked for */
	struct daemon *d;
	bool closing; /* close once the output is flushed */
	bool dead;    /* freed at the end of this loop iteration */
	uint64_t dropped;
	pid_t pid;
};

/* What flow records say about a pod, from the core's pod list. */
struct podinfo {
	const char *ns; /* its struct podns's */
	char *name;
	char **labels; /* "key=value" */
	size_t n_labels;
	uint32_t ep_id;
	uint32_t identity;
};

/*
 * The pods of one namespace, as the core listed them. Kept per namespace because a change
 * names the namespaces it can touch (a Pod's, a Namespace's own for its labels): listing all
 * pods again after every apply cost more than the change itself at 10,000 pods.
 */
struct podns {
	char *ns;
	struct podinfo *pods;
	size_t npods;
	bool stale;    /* a change touched it since it was listed */
	bool reloaded; /* during pods_sync(): its addresses are replaced */
};

struct podaddr {
	uint8_t family;
	uint32_t a[4];
	const struct podns *grp;
	const struct podinfo *pod; /* in grp->pods */
};

struct srcerr {
	char *path;
	json_object *diags; /* array of strings */
};

/* A kernel counter of records that never became records, as last reported (state dir). */
struct kcounter {
	const char *what;    /* for messages */
	char path[PATH_MAX]; /* empty: no --state-dir */
	uint64_t seen;	     /* the value last reported */
	uint64_t saved;	     /* the value in the file, when stored */
	bool stored;
};

struct daemon {
	/* options */
	const char *manifests;
	const char *socket_path;
	const char *bpffs;
	const char *cgroup_root;
	const char *flow_log;
	const char *state_dir;
	bool uninstall;
	size_t perf_pages;	       /* per CPU; 0: the datapath's default */
	unsigned int sweep_interval_s; /* conntrack sweep period */
	struct pw_flowlog_opts fo;     /* rotation, retention, sampling, deny limit */
	char node_name[256];

	int epfd;
	struct watch sig, timer, listen, events, links, mdir;
	struct pw_dp *dp;
	struct pw_cp *cp;
	struct pw_linkwatch *lw;
	struct pw_mdir *md;
	struct pw_flowlog *fl;
	struct pw_ct_timeouts cto;
	struct client *clients;
	unsigned int nclients;
	bool stop;
	bool socket_bound;
	time_t started;

	/*
	 * address -> pod, for flow records. Brought up to date when a record needs it, and only
	 * for the namespaces changes touched since: an apply's reply never waits for it.
	 */
	struct podns **podns;
	size_t n_podns;
	struct podaddr *addrs; /* sorted by address */
	size_t naddrs;
	bool pods_all_stale; /* list every pod again (start, a manifest file's sync) */
	bool pods_some_stale;
	char cookie_pol[512]; /* the last policy the enricher named, "ns/name" split in place */
	char cookie_rule[128];
	char cidr_buf[64]; /* the prefix the enricher named last */
	struct pw_flow_enricher enricher;
	unsigned int ticks;

	struct srcerr *srcerrs;
	size_t nsrcerrs;

	/* content fingerprints of the objects, by who wrote them last */
	struct fpent **fps;
	size_t fp_cap, fp_used;

	uint64_t sweeps, swept;
	uint64_t requests;
	char journal[PATH_MAX];
	struct kcounter unread, ct_end_lost;
	size_t journal_records; /* records in the file */
	size_t journal_base;	/* records right after the last compaction */
};

static int watch_add(struct daemon *d, struct watch *w, int fd, watch_fn fn, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};

	w->fd = fd;
	w->fn = fn;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev))
		return -errno;
	return 0;
}

/* --- object helpers ------------------------------------------------------------------------ */

static json_object *diags_json(const struct pw_diags *diags, enum pw_diag_level level)
{
	json_object *arr = json_object_new_array();

	for (size_t i = 0; arr && diags && i < diags->n; i++) {
		if (diags->v[i].level == level)
			json_object_array_add(arr, json_object_new_string(diags->v[i].text ?: ""));
	}
	return arr;
}

static void log_diags(const struct pw_diags *diags, const char *what)
{
	for (size_t i = 0; diags && i < diags->n; i++)
		dlog(diags->v[i].level == PW_DIAG_ERROR ? PW_LOG_ERROR : PW_LOG_WARN, "%s: %s",
		     what, diags->v[i].text ?: diags->v[i].msg);
}

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
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		f->h ^= b[i];
		f->h *= 0x100000001b3ull; /* FNV-1a 64 */
	}
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

static uint64_t obj_fingerprint(const struct pw_object *o)
{
	struct fp f = {0xcbf29ce484222325ull};

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
	}
	return f.h;
}

/* "kind/namespace/name" -> fingerprint: a chained hash table that doubles as it fills */
struct fpent {
	struct fpent *next;
	uint64_t fp;
	char key[];
};

static uint64_t str_hash(const char *s)
{
	struct fp f = {0xcbf29ce484222325ull};

	fp_str(&f, s);
	return f.h;
}

static struct fpent **fp_slot(struct daemon *d, const char *key)
{
	struct fpent **pp = &d->fps[str_hash(key) & (d->fp_cap - 1)];

	while (*pp && strcmp((*pp)->key, key))
		pp = &(*pp)->next;
	return pp;
}

static int fp_key(char *buf, size_t len, enum pw_kind k, const char *ns, const char *name)
{
	return snprintf(buf, len, "%d/%s/%s", (int)k, ns ?: "", name ?: "") < (int)len
		       ? 0
		       : -ENAMETOOLONG;
}

static void fp_grow(struct daemon *d)
{
	size_t ncap = d->fp_cap ? d->fp_cap * 2 : 256;
	struct fpent **v = calloc(ncap, sizeof(*v));

	if (!v)
		return;
	for (size_t i = 0; i < d->fp_cap; i++) {
		while (d->fps[i]) {
			struct fpent *e = d->fps[i];

			d->fps[i] = e->next;
			e->next = v[str_hash(e->key) & (ncap - 1)];
			v[str_hash(e->key) & (ncap - 1)] = e;
		}
	}
	free(d->fps);
	d->fps = v;
	d->fp_cap = ncap;
}

static void fp_set(struct daemon *d, enum pw_kind k, const char *ns, const char *name, uint64_t fp)
{
	char key[600];
	struct fpent **pp, *e;

	if (fp_key(key, sizeof(key), k, ns, name))
		return;
	if (d->fp_used >= d->fp_cap)
		fp_grow(d);
	if (!d->fp_cap)
		return;
	pp = fp_slot(d, key);
	if (!*pp) {
		e = malloc(sizeof(*e) + strlen(key) + 1);
		if (!e)
			return;
		strcpy(e->key, key);
		e->next = NULL;
		*pp = e;
		d->fp_used++;
	}
	(*pp)->fp = fp;
}

static bool fp_get(struct daemon *d, enum pw_kind k, const char *ns, const char *name, uint64_t *fp)
{
	char key[600];
	struct fpent **pp;

	if (!d->fp_cap || fp_key(key, sizeof(key), k, ns, name))
		return false;
	pp = fp_slot(d, key);
	if (!*pp)
		return false;
	*fp = (*pp)->fp;
	return true;
}

static void fp_del(struct daemon *d, enum pw_kind k, const char *ns, const char *name)
{
	char key[600];
	struct fpent **pp, *e;

	if (!d->fp_cap || fp_key(key, sizeof(key), k, ns, name))
		return;
	pp = fp_slot(d, key);
	if (!*pp)
		return;
	e = *pp;
	*pp = e->next;
	free(e);
	d->fp_used--;
}

static void fp_clear(struct daemon *d)
{
	for (size_t i = 0; i < d->fp_cap; i++) {
		while (d->fps[i]) {
			struct fpent *e = d->fps[i];

			d->fps[i] = e->next;
			free(e);
		}
	}
	free(d->fps);
	d->fps = NULL;
	d->fp_cap = d->fp_used = 0;
}

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

static void pods_clear(struct daemon *d)
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
static void pods_touch(struct daemon *d, const char *ns)
{
	struct podns *g;

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
		     const char *addr)
{
	struct podaddr p = {.grp = g, .pod = pod};

	if (inet_pton(AF_INET, addr, p.a) == 1)
		p.family = PW_FAMILY_V4;
	else if (inet_pton(AF_INET6, addr, p.a) == 1)
		p.family = PW_FAMILY_V6;
	else
		return;
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

static json_object *get_any(json_object *o, const char *const *keys)
{
	json_object *v;

	for (; *keys; keys++) {
		if (json_object_object_get_ex(o, *keys, &v) &&
		    !json_object_is_type(v, json_type_null))
			return v;
	}
	return NULL;
}

static void pod_fill(struct podinfo *p, json_object *it)
{
	static const char *const lab_keys[] = {"labels", NULL};
	static const char *const ep_keys[] = {"endpoint", "ep_id", "epId", NULL};
	static const char *const id_keys[] = {"identity", NULL};
	json_object *labels = get_any(it, lab_keys), *v;

	if ((v = get_any(it, ep_keys)) && json_object_is_type(v, json_type_int))
		p->ep_id = (uint32_t)json_object_get_int64(v);
	if ((v = get_any(it, id_keys)) && json_object_is_type(v, json_type_int))
		p->identity = (uint32_t)json_object_get_int64(v);
	if (!json_object_is_type(labels, json_type_object))
		return;
	p->labels = calloc((size_t)json_object_object_length(labels) + 1, sizeof(char *));
	if (!p->labels)
		return;
	json_object_object_foreach(labels, key, val)
	{
		char *kv;

		if (asprintf(&kv, "%s=%s", key, json_object_get_string(val)) >= 0)
			p->labels[p->n_labels++] = kv;
	}
}

/*
 * Fill g with the pods of list (items of the core's pod list, all of g's namespace) and add
 * their addresses to av. On -ENOMEM g keeps what it held.
 */
static int podns_fill(struct podns *g, json_object *items, const size_t *idx, size_t n,
		      struct addrvec *av)
{
	static const char *const ip_keys[] = {"ips", "podIPs", "ip", NULL};
	struct podinfo *pods = calloc(n ? n : 1, sizeof(*pods));
	size_t np = 0;

	if (!pods)
		return -ENOMEM;
	podns_pods_free(g);
	g->pods = pods;
	for (size_t i = 0; i < n; i++) {
		json_object *it = json_object_array_get_idx(items, idx[i]), *ips;
		struct podinfo *p = &pods[np];
		const char *name = pw_json_str(it, "name");

		if (!name)
			continue;
		p->ns = g->ns;
		p->name = strdup(name);
		pod_fill(p, it);
		np++;
		ips = get_any(it, ip_keys);
		if (json_object_is_type(ips, json_type_string))
			addr_add(av, g, p, json_object_get_string(ips));
		for (size_t j = 0;
		     json_object_is_type(ips, json_type_array) && j < json_object_array_length(ips);
		     j++) {
			json_object *e = json_object_array_get_idx(ips, j);
			const char *a = json_object_is_type(e, json_type_string)
						? json_object_get_string(e)
						: pw_json_str(e, "ip");

			if (a)
				addr_add(av, g, p, a);
		}
	}
	g->npods = np;
	return 0;
}

static json_object *pods_list(struct daemon *d, const char *ns, size_t *n)
{
	json_object *list = NULL, *items;

	if (pw_cp_get(d->cp, PW_CP_PODS, ns, &list))
		return NULL;
	items = json_object_is_type(list, json_type_array) ? list : pw_json_array(list, "items");
	if (!items) {
		json_object_put(list);
		return NULL;
	}
	json_object_get(items);
	json_object_put(list);
	*n = json_object_array_length(items);
	return items;
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
	json_object *items;

	pods_clear(d);
	d->pods_all_stale = d->pods_some_stale = false;
	items = pods_list(d, NULL, &n);
	if (!items)
		return;
	v = calloc(n ? n : 1, sizeof(*v));
	idx = calloc(n ? n : 1, sizeof(*idx));
	if (!v || !idx)
		goto out;
	for (i = 0; i < n; i++) {
		const char *ns = pw_json_str(json_object_array_get_idx(items, i), "namespace");

		if (ns)
			v[nv++] = (struct nsitem){.ns = ns, .idx = i};
	}
	/* by namespace, list order within one: what listing that namespace alone gives */
	qsort(v, nv, sizeof(*v), nsitem_cmp);
	for (i = 0; i < nv; i = j) {
		struct podns *g = podns_get(d, v[i].ns, true);

		for (j = i, k = 0; j < nv && !strcmp(v[j].ns, v[i].ns); j++)
			idx[k++] = v[j].idx;
		if (g)
			podns_fill(g, items, idx, k, &av);
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
	json_object_put(items);
}

/* Replace the pods of g (one namespace) with the core's current list; addresses go to av. */
static void pods_load_ns(struct daemon *d, struct podns *g, struct addrvec *av)
{
	size_t n = 0, *idx = NULL;
	json_object *items = pods_list(d, g->ns, &n);

	if (!items)
		return; /* stays stale: the next record tries again */
	idx = calloc(n ? n : 1, sizeof(*idx));
	for (size_t i = 0; idx && i < n; i++)
		idx[i] = i;
	if (idx && !podns_fill(g, items, idx, n, av)) {
		g->stale = false;
		g->reloaded = true;
	}
	free(idx);
	json_object_put(items);
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

static int enrich_endpoint(void *ctx, uint8_t family, const uint32_t addr[4], uint32_t identity,
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

/* The core names a cookie "namespace/name" and a rule such as "ingress[2]". */
static int enrich_policy(void *ctx, uint32_t cookie, struct pw_flow_policy *out)
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
static int enrich_isolating(void *ctx, uint32_t ep_id, uint8_t direction,
			    struct pw_flow_policy *out, size_t max)
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

/* --- flow records -------------------------------------------------------------------------- */

static void client_send_raw(struct daemon *d, struct client *cl, const char *buf, size_t len);

/* A follower gets {"flow":RECORD} lines; a slow one loses records (counted), not our memory. */
static void follower_cb(void *ctx, const char *line, size_t len)
{
	static const char head[] = "{\"flow\":";
	struct client *cl = ctx;
	struct daemon *d = cl->d;
	char *buf;

	/* an empty filter does not parse the line back */
	if (cl->dead || !pw_flowfilter_match_line(cl->filter, line, len))
		return;
	if (cl->out_len - cl->out_off > FOLLOW_BACKLOG_MAX) {
		cl->dropped++;
		return;
	}
	buf = malloc(sizeof(head) + len + 2);
	if (!buf) {
		cl->dropped++;
		return;
	}
	memcpy(buf, head, sizeof(head) - 1);
	memcpy(buf + sizeof(head) - 1, line, len);
	memcpy(buf + sizeof(head) - 1 + len, "}\n", 2);
	client_send_raw(d, cl, buf, sizeof(head) - 1 + len + 2);
	free(buf);
}

static void events_ready(struct daemon *d, struct watch *w, uint32_t events)
{
	int n = pw_dp_events_consume(d->dp);

	if (n < 0 && n != -EINTR)
		dlog(PW_LOG_ERROR, "reading datapath events: %s", strerror(-n));
}

/* --- records the kernel could not hand over ---------------------------------------------- */

/*
 * Two kernel counters stand for records that never became records: events the programs emitted
 * while no daemon read them (pw_dp_events_unread), and flow ends the datapath could not park
 * for the sweep (PW_METRIC_CT_END_LOST: one port pair ended more than PW_CT_PARK_SLOTS times
 * between two sweeps). Both keep counting while no daemon runs, so the daemon keeps each value
 * it has reported in the state directory, updated whenever it moves (a crash then reports
 * nothing twice) and, for the first, at exit after the rings were detached and drained. A
 * start reports the growth since: one `lost` record each.
 */
static int kcounter_load(const struct kcounter *c, uint64_t *v)
{
	char buf[32];
	ssize_t n;
	char *end;
	int fd = open(c->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EINVAL;
	buf[n] = '\0';
	errno = 0;
	*v = strtoull(buf, &end, 10);
	if (errno || end == buf || (*end && *end != '\n'))
		return -EINVAL;
	return 0;
}

static void kcounter_store(struct kcounter *c, uint64_t v)
{
	char tmp[PATH_MAX + 8], buf[32];
	int fd, len, err = 0;

	c->seen = v;
	if (!c->path[0] || (c->stored && v == c->saved))
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", c->path);
	len = snprintf(buf, sizeof(buf), "%llu\n", (unsigned long long)v);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, buf, (size_t)len) != len || fsync(fd))
		err = errno ? -errno : -EIO;
	if (fd >= 0)
		close(fd);
	/* the rename is the commit: a crash leaves the old value whole */
	if (!err && rename(tmp, c->path))
		err = -errno;
	if (err) {
		unlink(tmp);
		dlog(PW_LOG_WARN, "state: cannot save %s: %s (the next start may misreport %s)",
		     c->path, strerror(-err), c->what);
		return;
	}
	c->saved = v;
	c->stored = true;
}

/* At start: the growth since the last daemon's report (0 when unknown, which is logged). */
static uint64_t kcounter_start(struct daemon *d, struct kcounter *c, uint64_t now)
{
	uint64_t prev = 0, grown = 0;
	int err = c->path[0] ? kcounter_load(c, &prev) : -ENOENT;

	if (!pw_dp_adopted(d->dp))
		grown = now; /* new maps: the counter started with them */
	else if (!err)
		grown = now >= prev ? now - prev : now; /* smaller: the maps were made again */
	else if (now)
		dlog(PW_LOG_WARN,
		     "%llu %s since the datapath's maps were created; with no record of the last "
		     "daemon's count (%s) the number new since then is unknown",
		     (unsigned long long)now, c->what, c->path[0] ? c->path : "no --state-dir");
	if (grown)
		dlog(PW_LOG_WARN, "%llu %s while no daemon ran", (unsigned long long)grown,
		     c->what);
	kcounter_store(c, now);
	return grown;
}

static int ct_end_lost_read(struct daemon *d, uint64_t *v)
{
	struct pw_metric m;
	int err = pw_dp_metric_read(d->dp, PW_METRIC_CT_END_LOST, &m);

	if (!err)
		*v = m.packets;
	return err;
}

static void kcounters_start(struct daemon *d)
{
	uint64_t now, grown;

	if (!pw_dp_events_unread(d->dp, &now)) {
		grown = kcounter_start(d, &d->unread, now);
		if (grown)
			pw_flowlog_lost_unread(d->fl, grown);
	}
	if (!ct_end_lost_read(d, &now)) {
		grown = kcounter_start(d, &d->ct_end_lost, now);
		if (grown)
			pw_flowlog_lost_flow_ends(d->fl, grown);
	}
}

/* After a sweep: report flow ends lost since the last look; keep both files current. */
static void kcounters_tick(struct daemon *d)
{
	uint64_t now;

	if (!pw_dp_events_unread(d->dp, &now))
		kcounter_store(&d->unread, now); /* its growth went through on_lost */
	if (!ct_end_lost_read(d, &now) && now > d->ct_end_lost.seen) {
		pw_flowlog_lost_flow_ends(d->fl, now - d->ct_end_lost.seen);
		kcounter_store(&d->ct_end_lost, now);
	}
}

/* At exit: detach the rings, drain them, then save the count the next start begins from. */
static void kcounters_stop(struct daemon *d)
{
	uint64_t now;
	int err;

	if (!d->dp || !d->fl)
		return;
	err = pw_dp_events_close(d->dp);
	if (err)
		dlog(PW_LOG_ERROR, "closing the event reader: %s", strerror(-err));
	if (!pw_dp_events_unread(d->dp, &now))
		kcounter_store(&d->unread, now);
}

static void timer_ready(struct daemon *d, struct watch *w, uint32_t events)
{
	struct pw_ct_sweep_stats st = {0};
	struct timespec now;
	uint64_t ticks, now_ns;
	int err;

	if (read(w->fd, &ticks, sizeof(ticks)) != sizeof(ticks))
		return;
	err = pw_dp_events_consume(d->dp);
	if (err < 0 && err != -EINTR)
		dlog(PW_LOG_ERROR, "reading datapath events: %s", strerror(-err));
	if (++d->ticks % TICKS_PER_S)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	now_ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
	/* suppressed-deny counts whose window ended go out now, not with the next deny */
	err = pw_flowlog_flush(d->fl, now_ns);
	if (err < 0)
		dlog(PW_LOG_ERROR, "flow log: %s", strerror(-err));
	if ((d->ticks / TICKS_PER_S) % d->sweep_interval_s)
		return;
	/* NTP may have stepped the wall clock: keep record times honest */
	pw_flowlog_clock_resync(d->fl);
	err = pw_dp_ct_sweep(d->dp, now_ns, &d->cto, pw_flowlog_on_flow_end, d->fl, &st);
	if (err) {
		dlog(PW_LOG_ERROR, "conntrack sweep: %s", strerror(-err));
		return;
	}
	d->sweeps++;
	d->swept += st.expired;
	kcounters_tick(d);
	if (st.expired)
		dlog(PW_LOG_DEBUG, "conntrack sweep: %llu of %llu entries expired",
		     (unsigned long long)st.expired, (unsigned long long)st.scanned);
}

struct snap;
static struct snap *snapshot(struct daemon *d, const struct pw_manifest *m, bool del);
static void snap_commit(struct daemon *d, const struct snap *s, size_t n, bool del);
static void snap_free(struct snap *s, size_t n);

/* --- manifests directory ------------------------------------------------------------------ */

static void srcerr_set(struct daemon *d, const char *path, json_object *diags)
{
	size_t i;

	for (i = 0; i < d->nsrcerrs; i++) {
		if (!strcmp(d->srcerrs[i].path, path))
			break;
	}
	if (i == d->nsrcerrs) {
		struct srcerr *v;

		if (!diags)
			return;
		v = realloc(d->srcerrs, (d->nsrcerrs + 1) * sizeof(*v));
		if (!v) {
			json_object_put(diags);
			return;
		}
		d->srcerrs = v;
		d->srcerrs[i].path = strdup(path);
		d->srcerrs[i].diags = NULL;
		d->nsrcerrs++;
	}
	json_object_put(d->srcerrs[i].diags);
	d->srcerrs[i].diags = diags;
	if (!diags) {
		free(d->srcerrs[i].path);
		d->srcerrs[i] = d->srcerrs[--d->nsrcerrs];
	}
}

static void source_sync(struct daemon *d, const char *path, bool removed)
{
	struct pw_diags diags = {0};
	struct pw_manifest empty = {0}, *m = NULL;
	struct snap *s = NULL;
	size_t n = 0;
	int err;

	if (!removed) {
		err = pw_parse_file(path, NULL, &m, &diags);
		if (err) {
			/* the last good state of this file stays enforced */
			log_diags(&diags, "manifests");
			if (!diags.n_errors)
				dlog(PW_LOG_ERROR, "manifests: %s: %s", path, strerror(-err));
			dlog(PW_LOG_ERROR,
			     "manifests: %s rejected; its last good version stays "
			     "enforced",
			     path);
			srcerr_set(d, path, diags_json(&diags, PW_DIAG_ERROR));
			goto out;
		}
		log_diags(&diags, "manifests");
		pw_diags_clear(&diags);
	}
	n = m ? m->n : 0;
	s = m ? snapshot(d, m, false) : NULL;
	err = pw_cp_sync_source(d->cp, path, m ? m : &empty, &diags);
	if (err) {
		log_diags(&diags, "manifests");
		dlog(PW_LOG_ERROR, "manifests: %s: %s; its last good version stays enforced", path,
		     strerror(-err));
		srcerr_set(d, path, diags.n ? diags_json(&diags, PW_DIAG_ERROR) : NULL);
		goto out;
	}
	srcerr_set(d, path, NULL);
	if (s)
		snap_commit(d, s, n, false);
	/* what the file held before is not at hand here: every namespace, listed when needed */
	pods_touch(d, NULL);
	if (removed)
		dlog(PW_LOG_INFO, "manifests: %s removed: its objects are gone", path);
	else
		dlog(PW_LOG_INFO, "manifests: %s synced (%zu object%s)", path, n,
		     n == 1 ? "" : "s");
out:
	snap_free(s, n);
	pw_manifest_free(m);
	pw_diags_clear(&diags);
}

static void mdir_event(void *ctx, const char *path, enum pw_mdir_event ev)
{
	struct daemon *d = ctx;

	switch (ev) {
	case PW_MDIR_CHANGED:
		source_sync(d, path, false);
		break;
	case PW_MDIR_REMOVED:
		source_sync(d, path, true);
		break;
	case PW_MDIR_GONE:
		dlog(PW_LOG_WARN,
		     "manifests: directory %s was removed or moved; what it held stays "
		     "enforced, restart podwalld to watch a new one",
		     path);
		break;
	}
}

static void mdir_ready(struct daemon *d, struct watch *w, uint32_t events)
{
	int err = pw_mdir_process(d->md);

	if (err)
		dlog(PW_LOG_ERROR, "manifests: %s", strerror(-err));
}

/* --- links -------------------------------------------------------------------------------- */

static void link_event(void *ctx, const char *ifname, uint32_t ifindex)
{
	struct daemon *d = ctx;
	int err;

	dlog(PW_LOG_DEBUG, "link %s %s (ifindex %u)", ifname, ifindex ? "up" : "gone", ifindex);
	err = pw_cp_link_event(d->cp, ifname, ifindex);
	if (err)
		dlog(PW_LOG_ERROR, "link %s (ifindex %u): %s", ifname, ifindex, strerror(-err));
}

static void links_ready(struct daemon *d, struct watch *w, uint32_t events)
{
	int err = pw_linkwatch_process(d->lw);

	if (err)
		dlog(PW_LOG_ERROR, "link notifications: %s", strerror(-err));
}

/* --- requests ------------------------------------------------------------------------------ */

/* Parse the documents of an apply/delete request into one manifest: all or nothing. */
static int parse_docs(json_object *docs, struct pw_manifest **out, struct pw_diags *diags)
{
	struct pw_manifest *all = calloc(1, sizeof(*all));
	int err = 0;

	*out = NULL;
	if (!all)
		return -ENOMEM;
	if (!docs || !json_object_array_length(docs)) {
		err = -EINVAL;
		goto out;
	}
	for (size_t i = 0; i < json_object_array_length(docs); i++) {
		json_object *doc = json_object_array_get_idx(docs, i), *data;
		const char *name = pw_json_str(doc, "name") ?: "<request>";
		struct pw_manifest *m = NULL;
		struct pw_object *v;
		int e;

		if (!json_object_object_get_ex(doc, "data", &data) ||
		    !json_object_is_type(data, json_type_string)) {
			err = -EINVAL;
			goto out;
		}
		e = pw_parse_buffer(name, json_object_get_string(data),
				    (size_t)json_object_get_string_len(data), NULL, &m, diags);
		if (e) {
			err = e;
			continue; /* collect every file's errors */
		}
		if (err || !m->n) {
			pw_manifest_free(m);
			continue;
		}
		v = realloc(all->objs, (all->n + m->n) * sizeof(*v));
		if (!v) {
			pw_manifest_free(m);
			err = -ENOMEM;
			goto out;
		}
		all->objs = v;
		/* move the objects: the slots of m are zeroed so its free releases nothing */
		memcpy(all->objs + all->n, m->objs, m->n * sizeof(*v));
		all->n += m->n;
		memset(m->objs, 0, m->n * sizeof(*v));
		pw_manifest_free(m);
	}
	if (!err) {
		*out = all;
		all = NULL;
	}
out:
	pw_manifest_free(all);
	return err;
}

/* One object of a request: what kubectl would say about it. */
struct snap {
	enum pw_kind kind;
	char *ns, *name;
	uint64_t fp;
	const char *action;
};

static enum pw_cp_list kind_list(enum pw_kind k)
{
	return k == PW_KIND_NAMESPACE ? PW_CP_NAMESPACES
	       : k == PW_KIND_POD     ? PW_CP_PODS
				      : PW_CP_NETPOLS;
}

static bool list_has(json_object *list, const char *name)
{
	json_object *items =
		json_object_is_type(list, json_type_array) ? list : pw_json_array(list, "items");

	for (size_t i = 0; items && i < json_object_array_length(items); i++) {
		const char *n = pw_json_str(json_object_array_get_idx(items, i), "name");

		if (n && !strcmp(n, name))
			return true;
	}
	return false;
}

/* One listing per (kind, namespace) per request: big applies stay linear. */
struct listing {
	enum pw_kind kind;
	const char *ns;
	json_object *list;
};

static json_object *lookup(struct daemon *d, struct listing **cache, size_t *n, enum pw_kind k,
			   const char *ns)
{
	struct listing *v;
	json_object *list = NULL;

	for (size_t i = 0; i < *n; i++) {
		if ((*cache)[i].kind == k && !strcmp((*cache)[i].ns ?: "", ns ?: ""))
			return (*cache)[i].list;
	}
	if (pw_cp_get(d->cp, kind_list(k), k == PW_KIND_NAMESPACE ? NULL : ns, &list))
		return NULL;
	v = realloc(*cache, (*n + 1) * sizeof(*v));
	if (!v) {
		json_object_put(list);
		return NULL;
	}
	*cache = v;
	v[*n] = (struct listing){k, ns, list};
	(*n)++;
	return list;
}

static void snap_free(struct snap *s, size_t n)
{
	for (size_t i = 0; s && i < n; i++) {
		free(s[i].ns);
		free(s[i].name);
	}
	free(s);
}

/*
 * Before the objects move into the core: their keys, fingerprints and, for an apply, whether
 * each is created (the core lacks it), unchanged (same fingerprint) or configured.
 */
static struct snap *snapshot(struct daemon *d, const struct pw_manifest *m, bool del)
{
	struct snap *s = calloc(m->n ? m->n : 1, sizeof(*s));
	struct listing *cache = NULL;
	size_t ncache = 0;

	for (size_t i = 0; s && i < m->n; i++) {
		const struct pw_object *o = &m->objs[i];
		uint64_t old;

		s[i].kind = o->kind;
		s[i].ns = pw_object_namespace(o) ? strdup(pw_object_namespace(o)) : NULL;
		s[i].name = strdup(pw_object_name(o));
		s[i].fp = obj_fingerprint(o);
		if (!s[i].name || (pw_object_namespace(o) && !s[i].ns)) {
			snap_free(s, i + 1);
			s = NULL;
			break;
		}
		if (del)
			s[i].action = "deleted";
		else if (!list_has(lookup(d, &cache, &ncache, o->kind, s[i].ns), s[i].name))
			s[i].action = "created";
		else if (fp_get(d, o->kind, s[i].ns, s[i].name, &old) && old == s[i].fp)
			s[i].action = "unchanged";
		else
			s[i].action = "configured";
	}
	for (size_t i = 0; i < ncache; i++)
		json_object_put(cache[i].list);
	free(cache);
	return s;
}

/* The namespaces an applied or deleted manifest can have changed pods in. */
static void pods_touch_snap(struct daemon *d, const struct snap *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		/* a Namespace's labels are part of its pods' identities */
		if (s[i].kind == PW_KIND_NAMESPACE)
			pods_touch(d, s[i].name);
		else if (s[i].kind == PW_KIND_POD)
			pods_touch(d, s[i].ns);
	}
}

/* After the core took the change: remember what each object now holds. */
static void snap_commit(struct daemon *d, const struct snap *s, size_t n, bool del)
{
	for (size_t i = 0; i < n; i++) {
		if (del)
			fp_del(d, s[i].kind, s[i].ns, s[i].name);
		else
			fp_set(d, s[i].kind, s[i].ns, s[i].name, s[i].fp);
	}
}

static json_object *outcomes(const struct snap *s, size_t n)
{
	json_object *arr = json_object_new_array();

	for (size_t i = 0; arr && i < n; i++) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "kind", json_object_new_string(pw_kind_str(s[i].kind)));
		if (s[i].ns)
			json_object_object_add(o, "namespace", json_object_new_string(s[i].ns));
		json_object_object_add(o, "name", json_object_new_string(s[i].name));
		json_object_object_add(o, "action", json_object_new_string(s[i].action));
		json_object_array_add(arr, o);
	}
	return arr;
}

/* --- the CLI journal ------------------------------------------------------------------------ */

/*
 * Each successful apply or delete from the CLI is appended (its documents as sent) and
 * fsync'ed before the reply, so an acknowledged change survives a restart. At start the
 * journal is replayed, then compacted: records that no longer hold the last word on any object
 * are dropped, so the file stays about as large as what the CLI applied, not as long as the
 * node's history.
 */
static int journal_write_line(int fd, enum pw_op op, json_object *docs)
{
	json_object *rec = json_object_new_object();
	char *line = NULL;
	size_t len;
	int err;

	if (!rec)
		return -ENOMEM;
	json_object_object_add(rec, "op", json_object_new_string(pw_op_name(op)));
	json_object_object_add(rec, "docs", json_object_get(docs));
	err = pw_proto_encode(rec, &line, &len);
	if (!err)
		err = pw_proto_write_all(fd, line, len);
	free(line);
	json_object_put(rec);
	return err;
}

static int journal_append(struct daemon *d, enum pw_op op, json_object *docs)
{
	int fd, err;

	if (!d->journal[0])
		return 0;
	fd = open(d->journal, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	err = journal_write_line(fd, op, docs);
	if (!err && fsync(fd))
		err = -errno;
	close(fd);
	if (!err)
		d->journal_records++;
	return err;
}

/* One journal record during replay and compaction. */
struct jrec {
	enum pw_op op;
	json_object *rec;
	size_t n_keys;
	struct jkey {
		enum pw_kind kind;
		char *ns, *name;
	} * keys;
	bool keep;
};

static void jrecs_free(struct jrec *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < v[i].n_keys; j++) {
			free(v[i].keys[j].ns);
			free(v[i].keys[j].name);
		}
		free(v[i].keys);
		json_object_put(v[i].rec);
	}
	free(v);
}

static bool jkey_eq(const struct jkey *a, const struct jkey *b)
{
	return a->kind == b->kind && !strcmp(a->ns ?: "", b->ns ?: "") && !strcmp(a->name, b->name);
}

static bool jrec_has(const struct jrec *r, const struct jkey *k)
{
	for (size_t i = 0; i < r->n_keys; i++) {
		if (jkey_eq(&r->keys[i], k))
			return true;
	}
	return false;
}

static int jrec_keys(struct jrec *r, const struct pw_manifest *m)
{
	r->keys = calloc(m->n ? m->n : 1, sizeof(*r->keys));
	if (!r->keys)
		return -ENOMEM;
	for (size_t i = 0; i < m->n; i++) {
		struct jkey *k = &r->keys[r->n_keys];

		k->kind = m->objs[i].kind;
		k->ns = pw_object_namespace(&m->objs[i]) ? strdup(pw_object_namespace(&m->objs[i]))
							 : NULL;
		k->name = strdup(pw_object_name(&m->objs[i]));
		r->n_keys++;
		if (!k->name || (pw_object_namespace(&m->objs[i]) && !k->ns))
			return -ENOMEM;
	}
	return 0;
}

/* Delete one object at a time: one already gone must not keep the others alive. */
static void replay_delete(struct daemon *d, struct pw_manifest *m)
{
	for (size_t i = 0; i < m->n; i++) {
		struct pw_manifest one = {.n = 1, .objs = &m->objs[i]};

		if (!pw_cp_delete(d->cp, &one, NULL))
			fp_del(d, m->objs[i].kind, pw_object_namespace(&m->objs[i]),
			       pw_object_name(&m->objs[i]));
	}
}

/* Read the journal's records (and their object keys); replay: apply them to the core too. */
static int journal_load(struct daemon *d, bool replay, struct jrec **out, size_t *n_out)
{
	struct pw_linebuf lb;
	struct jrec *v = NULL;
	size_t n = 0;
	unsigned int bad = 0;
	int fd, err;

	*out = NULL;
	*n_out = 0;
	fd = open(d->journal, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		if (err != -ENOENT)
			dlog(PW_LOG_ERROR, "state: cannot read %s: %s", d->journal, strerror(-err));
		return err == -ENOENT ? 0 : err;
	}
	pw_linebuf_init(&lb, PW_PROTO_MAX_LINE);
	for (;;) {
		struct pw_diags diags = {0};
		struct pw_manifest *m = NULL;
		json_object *rec = NULL;
		struct jrec *r, *nv;
		enum pw_op op;

		err = pw_proto_read(fd, &lb, &rec);
		if (err == -ENODATA)
			break;
		if (err) {
			/* a torn last line (crash while appending) was never acknowledged */
			dlog(PW_LOG_WARN, "state: %s: stopping at a damaged record: %s", d->journal,
			     strerror(-err));
			break;
		}
		if (pw_op_parse(pw_json_str(rec, "op"), &op) ||
		    (op != PW_OP_APPLY && op != PW_OP_DELETE) ||
		    parse_docs(pw_json_array(rec, "docs"), &m, &diags)) {
			bad++;
			log_diags(&diags, "state");
			pw_diags_clear(&diags);
			json_object_put(rec);
			continue;
		}
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv) {
			json_object_put(rec);
			pw_manifest_free(m);
			break;
		}
		v = nv;
		r = &v[n++];
		memset(r, 0, sizeof(*r));
		r->op = op;
		r->rec = rec;
		if (jrec_keys(r, m))
			r->op = PW_OP_COUNT; /* no keys known: never kept, never matched */
		if (!replay) {
			/* nothing */
		} else if (op == PW_OP_APPLY) {
			size_t cnt = m->n;
			struct snap *s = snapshot(d, m, false);

			err = pw_cp_apply(d->cp, "cli", m, &diags);
			if (!err && s)
				snap_commit(d, s, cnt, false);
			bad += err != 0;
			snap_free(s, cnt);
		} else {
			replay_delete(d, m);
		}
		log_diags(&diags, "state");
		pw_diags_clear(&diags);
		pw_manifest_free(m);
	}
	pw_linebuf_free(&lb);
	close(fd);
	d->journal_records = n;
	if (replay && (n || bad))
		dlog(bad ? PW_LOG_WARN : PW_LOG_INFO, "state: replayed %zu CLI changes from %s%s",
		     n, d->journal, bad ? " (some failed, see above)" : "");
	*out = v;
	*n_out = n;
	return 0;
}

/* Whether the core holds the object with the CLI as its last writer. */
static bool live_cli(struct daemon *d, struct listing **cache, size_t *ncache, const struct jkey *k)
{
	json_object *list = lookup(d, cache, ncache, k->kind, k->ns);

	for (size_t i = 0; list && i < json_object_array_length(list); i++) {
		json_object *it = json_object_array_get_idx(list, i);
		const char *name = pw_json_str(it, "name"), *src = pw_json_str(it, "source");

		if (name && !strcmp(name, k->name))
			return src && !strcmp(src, "cli");
	}
	return false;
}

static json_object *synth_delete_docs(const struct jkey *keys, size_t n)
{
	json_object *docs = json_object_new_array();

	for (size_t i = 0; docs && i < n; i++) {
		json_object *doc = json_object_new_object();
		char *text = NULL;
		int r;

		/* names are DNS labels and subdomains: nothing to quote */
		if (keys[i].kind == PW_KIND_NAMESPACE)
			r = asprintf(&text,
				     "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n",
				     keys[i].name);
		else if (keys[i].kind == PW_KIND_POD)
			r = asprintf(&text,
				     "apiVersion: v1\nkind: Pod\nmetadata:\n  namespace: %s\n"
				     "  name: %s\n",
				     keys[i].ns, keys[i].name);
		else
			r = asprintf(&text,
				     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
				     "metadata:\n  namespace: %s\n  name: %s\nspec:\n  "
				     "podSelector: {}\n",
				     keys[i].ns, keys[i].name);
		if (r < 0 || !doc) {
			json_object_put(doc);
			json_object_put(docs);
			return NULL;
		}
		json_object_object_add(doc, "name", json_object_new_string("<journal compaction>"));
		json_object_object_add(doc, "data", json_object_new_string(text));
		free(text);
		json_object_array_add(docs, doc);
	}
	return docs;
}

/*
 * Keep each apply record that is the last CLI writer of an object the CLI still owns, the
 * deletes that follow a kept apply of an object they remove, and end with one delete of
 * whatever the kept records would re-create that is gone now (its owner moved to a manifest
 * file, or the object went). Replaying the result gives the CLI's objects as they are now.
 */
static void journal_compact(struct daemon *d, struct jrec *v, size_t n)
{
	struct listing *cache = NULL;
	size_t ncache = 0, kept = 0, n_extra = 0;
	struct jkey *extra = NULL;
	json_object *extra_docs = NULL;
	char tmp[PATH_MAX + 8];
	int fd = -1, err = 0;

	for (size_t i = 0; i < n; i++) {
		if (v[i].op != PW_OP_APPLY)
			continue;
		for (size_t j = 0; j < v[i].n_keys && !v[i].keep; j++) {
			const struct jkey *k = &v[i].keys[j];
			bool later = false;

			for (size_t l = i + 1; l < n && !later; l++)
				later = v[l].op == PW_OP_APPLY && jrec_has(&v[l], k);
			if (!later && live_cli(d, &cache, &ncache, k))
				v[i].keep = true;
		}
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t l = 0; v[i].op == PW_OP_DELETE && l < i && !v[i].keep; l++) {
			for (size_t j = 0; v[l].keep && v[l].op == PW_OP_APPLY && j < v[i].n_keys;
			     j++)
				v[i].keep |= jrec_has(&v[l], &v[i].keys[j]);
		}
		kept += v[i].keep;
	}
	/* what replaying the kept records would leave that the CLI no longer owns */
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; v[i].keep && v[i].op == PW_OP_APPLY && j < v[i].n_keys; j++) {
			const struct jkey *k = &v[i].keys[j];
			bool removed = false, dup = false;
			struct jkey *nv;

			for (size_t l = i + 1; l < n && !removed; l++)
				removed = v[l].keep && jrec_has(&v[l], k);
			for (size_t e = 0; e < n_extra && !dup; e++)
				dup = jkey_eq(&extra[e], k);
			if (removed || dup || live_cli(d, &cache, &ncache, k))
				continue;
			nv = realloc(extra, (n_extra + 1) * sizeof(*nv));
			if (!nv) {
				err = -ENOMEM;
				goto out;
			}
			extra = nv;
			extra[n_extra++] = *k; /* borrowed strings */
		}
	}
	if (kept == n && !n_extra)
		goto out; /* nothing to gain */
	if (n_extra && !(extra_docs = synth_delete_docs(extra, n_extra))) {
		err = -ENOMEM;
		goto out;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", d->journal);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	for (size_t i = 0; i < n && !err; i++) {
		if (v[i].keep)
			err = journal_write_line(fd, v[i].op, pw_json_array(v[i].rec, "docs"));
	}
	if (!err && extra_docs)
		err = journal_write_line(fd, PW_OP_DELETE, extra_docs);
	if (!err && fsync(fd))
		err = -errno;
	close(fd);
	fd = -1;
	/* the rename is the commit: a crash before it leaves the old journal whole */
	if (!err && rename(tmp, d->journal))
		err = -errno;
	if (err) {
		unlink(tmp);
		goto out;
	}
	d->journal_records = kept + (extra_docs != NULL);
	dlog(PW_LOG_INFO, "state: journal compacted from %zu to %zu records", n,
	     d->journal_records);
out:
	if (err)
		dlog(PW_LOG_WARN, "state: cannot compact %s: %s (it stays as it was)", d->journal,
		     strerror(-err));
	json_object_put(extra_docs);
	free(extra);
	for (size_t i = 0; i < ncache; i++)
		json_object_put(cache[i].list);
	free(cache);
}

/* Compact at run time too once the journal has grown well past its compacted size. */
static void journal_maybe_compact(struct daemon *d)
{
	struct jrec *v = NULL;
	size_t n = 0;

	if (!d->journal[0] || d->journal_records < 2 * d->journal_base + 256)
		return;
	if (journal_load(d, false, &v, &n) == 0)
		journal_compact(d, v, n);
	jrecs_free(v, n);
	d->journal_base = d->journal_records;
}

static json_object *req_apply(struct daemon *d, struct client *cl, json_object *req, bool del)
{
	json_object *docs = pw_json_array(req, "docs"), *res, *objs;
	struct pw_diags diags = {0};
	struct pw_manifest *m = NULL;
	struct snap *s = NULL;
	size_t n = 0;
	int err;

	err = parse_docs(docs, &m, &diags);
	if (err) {
		res = pw_proto_error(diags_json(&diags, PW_DIAG_ERROR), "%s",
				     diags.n_errors ? "the manifests are invalid: nothing changed"
				     : !docs	    ? "request without \"docs\""
						    : strerror(-err));
		goto out;
	}
	n = m->n;
	s = snapshot(d, m, del);
	if (!s) {
		res = pw_proto_error(NULL, "out of memory");
		goto out;
	}
	err = del ? pw_cp_delete(d->cp, m, &diags) : pw_cp_apply(d->cp, "cli", m, &diags);
	if (err) {
		dlog(PW_LOG_WARN, "%s from pid %d refused: %s", del ? "delete" : "apply", cl->pid,
		     err == -ENOENT && del ? "not found" : strerror(-err));
		log_diags(&diags, del ? "delete" : "apply");
		res = pw_proto_error(diags_json(&diags, PW_DIAG_ERROR), "%s: nothing changed",
				     err == -ENOENT && del ? "not found" : strerror(-err));
		goto out;
	}
	err = journal_append(d, del ? PW_OP_DELETE : PW_OP_APPLY, docs);
	if (err)
		dlog(PW_LOG_ERROR,
		     "state: cannot record the change in %s: %s; it is enforced but "
		     "a restart will forget it",
		     d->journal, strerror(-err));
	else
		journal_maybe_compact(d);
	snap_commit(d, s, n, del);
	pods_touch_snap(d, s, n);
	objs = outcomes(s, n);
	for (size_t i = 0; objs && i < json_object_array_length(objs); i++) {
		json_object *o = json_object_array_get_idx(objs, i);

		dlog(PW_LOG_INFO, "cli (pid %d): %s %s%s%s %s", cl->pid, pw_json_str(o, "kind"),
		     pw_json_str(o, "namespace") ?: "", pw_json_str(o, "namespace") ? "/" : "",
		     pw_json_str(o, "name"), pw_json_str(o, "action"));
	}
	res = json_object_new_object();
	json_object_object_add(res, "objects", objs);
	json_object_object_add(res, "warnings", diags_json(&diags, PW_DIAG_WARNING));
	res = pw_proto_ok(res);
out:
	snap_free(s, n);
	pw_manifest_free(m);
	pw_diags_clear(&diags);
	return res;
}

static json_object *req_get(struct daemon *d, json_object *req)
{
	static const struct {
		const char *name;
		enum pw_cp_list what;
	} lists[] = {
		{"namespaces", PW_CP_NAMESPACES},
		{"pods", PW_CP_PODS},
		{"networkpolicies", PW_CP_NETPOLS},
		{"identities", PW_CP_IDENTITIES},
	};
	const char *what = pw_json_str(req, "what");
	json_object *out = NULL;

	for (size_t i = 0; what && i < sizeof(lists) / sizeof(lists[0]); i++) {
		int err;

		if (strcmp(what, lists[i].name))
			continue;
		err = pw_cp_get(d->cp, lists[i].what, pw_json_str(req, "namespace"), &out);
		if (err)
			return pw_proto_error(NULL, "get %s: %s", what, strerror(-err));
		return pw_proto_ok(out);
	}
	return pw_proto_error(NULL, "the server doesn't have a resource type \"%s\"",
			      what ?: "(none)");
}

static json_object *req_describe(struct daemon *d, json_object *req)
{
	const char *ns = pw_json_str(req, "namespace"), *name = pw_json_str(req, "name");
	json_object *out = NULL;
	int err;

	if (!ns || !name)
		return pw_proto_error(NULL, "describe needs \"namespace\" and \"name\"");
	err = pw_cp_describe_pod(d->cp, ns, name, &out);
	if (err == -ENOENT)
		return pw_proto_error(NULL, "pods \"%s\" not found in namespace \"%s\"", name, ns);
	if (err)
		return pw_proto_error(NULL, "describe pod %s/%s: %s", ns, name, strerror(-err));
	return pw_proto_ok(out);
}

static int endpoint_ref(json_object *o, struct pw_cp_endpoint_ref *r)
{
	memset(r, 0, sizeof(*r));
	r->addr = pw_json_str(o, "addr");
	r->ns = pw_json_str(o, "namespace");
	r->name = pw_json_str(o, "name");
	if (r->addr ? (r->ns || r->name) : (!r->ns || !r->name))
		return -EINVAL;
	return 0;
}

static json_object *req_explain(struct daemon *d, json_object *req)
{
	struct pw_cp_endpoint_ref from, to;
	int64_t port = pw_json_int(req, "port", -1);
	json_object *out = NULL;
	uint8_t proto;
	int err;

	if (endpoint_ref(pw_json_object(req, "from"), &from) ||
	    endpoint_ref(pw_json_object(req, "to"), &to))
		return pw_proto_error(NULL, "explain: \"from\" and \"to\" each need \"addr\", or "
					    "\"namespace\" and \"name\"");
	if (port < 1 || port > 65535)
		return pw_proto_error(NULL, "explain: \"port\" must be in 1..65535");
	if (pw_proto_parse(pw_json_str(req, "proto") ?: "TCP", &proto))
		return pw_proto_error(NULL, "explain: \"proto\" must be TCP, UDP or SCTP");
	err = pw_cp_explain(d->cp, &from, &to, proto, (uint16_t)port, &out);
	if (err == -ENOENT)
		return pw_proto_error(NULL, "explain: no such pod or address");
	if (err)
		return pw_proto_error(NULL, "explain: %s", strerror(-err));
	return pw_proto_ok(out);
}

static json_object *jint64(uint64_t v)
{
	return json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

/* What the options made of the flow log, the event ring and conntrack, for `podwall status`. */
static json_object *settings_json(const struct daemon *d)
{
	static const char *const fsync_names[] = {"rotate", "none", "always"};
	json_object *o = json_object_new_object(), *t = json_object_new_object();

	json_object_object_add(o, "flow_log_max_bytes", jint64(d->fo.max_bytes));
	json_object_object_add(o, "flow_log_keep", jint64(d->fo.keep));
	json_object_object_add(o, "flow_log_fsync",
			       json_object_new_string(fsync_names[d->fo.fsync % 3]));
	json_object_object_add(o, "flow_sample", jint64(d->fo.sample_allowed ?: 1));
	json_object_object_add(
		o, "deny_window_ms",
		jint64(d->fo.rl_disable ? 0
					: (d->fo.rl_window_ns ?: PW_FLOWLOG_RL_WINDOW_DEFAULT) /
						  NSEC_PER_MSEC));
	json_object_object_add(o, "deny_burst", jint64(d->fo.rl_burst ?: 1));
	if (d->node_name[0])
		json_object_object_add(o, "node_name", json_object_new_string(d->node_name));
	json_object_object_add(o, "perf_pages_per_cpu", jint64(d->perf_pages ?: 64));
	json_object_object_add(o, "ct_sweep_interval_s", jint64(d->sweep_interval_s));
	json_object_object_add(t, "tcp-syn", jint64(d->cto.tcp_syn_ns / NSEC_PER_SEC));
	json_object_object_add(t, "tcp-established",
			       jint64(d->cto.tcp_established_ns / NSEC_PER_SEC));
	json_object_object_add(t, "tcp-closing", jint64(d->cto.tcp_closing_ns / NSEC_PER_SEC));
	json_object_object_add(t, "udp", jint64(d->cto.udp_ns / NSEC_PER_SEC));
	json_object_object_add(t, "other", jint64(d->cto.other_ns / NSEC_PER_SEC));
	json_object_object_add(o, "ct_timeouts_s", t);
	return o;
}

static json_object *req_status(struct daemon *d)
{
	json_object *core = NULL, *dm = json_object_new_object(), *errs = json_object_new_array();
	int err;

	err = pw_cp_status(d->cp, &core);
	if (err) {
		json_object_put(dm);
		json_object_put(errs);
		return pw_proto_error(NULL, "status: %s", strerror(-err));
	}
	if (!json_object_is_type(core, json_type_object)) {
		json_object *wrap = json_object_new_object();

		json_object_object_add(wrap, "core", core);
		core = wrap;
	}
	json_object_object_add(dm, "pid", json_object_new_int(getpid()));
	json_object_object_add(dm, "uptime_s", json_object_new_int64(time(NULL) - d->started));
	json_object_object_add(dm, "socket", json_object_new_string(d->socket_path));
	json_object_object_add(dm, "bpffs", json_object_new_string(d->bpffs));
	if (d->cgroup_root)
		json_object_object_add(dm, "cgroup_root", json_object_new_string(d->cgroup_root));
	json_object_object_add(dm, "tc_mode", json_object_new_string(pw_dp_tc_mode_name(d->dp)));
	json_object_object_add(dm, "adopted", json_object_new_boolean(pw_dp_adopted(d->dp)));
	if (d->manifests)
		json_object_object_add(dm, "manifests", json_object_new_string(d->manifests));
	for (size_t i = 0; i < d->nsrcerrs; i++) {
		json_object *e = json_object_new_object();

		json_object_object_add(e, "file", json_object_new_string(d->srcerrs[i].path));
		json_object_object_add(e, "errors", json_object_get(d->srcerrs[i].diags));
		json_object_array_add(errs, e);
	}
	json_object_object_add(dm, "manifest_errors", errs);
	json_object_object_add(dm, "links", json_object_new_int(pw_linkwatch_count(d->lw)));
	json_object_object_add(dm, "clients", json_object_new_int((int)d->nclients));
	json_object_object_add(dm, "requests", json_object_new_int64((int64_t)d->requests));
	json_object_object_add(dm, "flow_log",
			       json_object_new_string(d->flow_log ? d->flow_log : "(none)"));
	json_object_object_add(dm, "flow_stats", pw_flowlog_stats_json(d->fl));
	json_object_object_add(dm, "events_short",
			       json_object_new_int64((int64_t)pw_dp_events_short(d->dp)));
	json_object_object_add(dm, "ct_sweeps", json_object_new_int64((int64_t)d->sweeps));
	json_object_object_add(dm, "ct_expired", json_object_new_int64((int64_t)d->swept));
	json_object_object_add(dm, "settings", settings_json(d));
	json_object_object_add(core, "daemon", dm);
	return pw_proto_ok(core);
}

static json_object *req_flows(struct daemon *d, struct client *cl, json_object *req)
{
	json_object *fargs = pw_json_array(req, "filter"), *res;
	int64_t limit = pw_json_int(req, "limit", 100);
	struct pw_flowfilter *f = calloc(1, sizeof(*f));
	size_t n = fargs ? json_object_array_length(fargs) : 0;
	char **argv = calloc(n + 1, sizeof(char *)), msg[256];
	struct timespec now;
	int err;
	/* what the rings hold below their wakeup watermark belongs in this answer */
	pw_dp_events_consume(d->dp);

	if (!f || !argv) {
		free(f);
		free(argv);
		return pw_proto_error(NULL, "out of memory");
	}
	pw_flowfilter_init(f);
	for (size_t i = 0; i < n; i++)
		argv[i] = (char *)json_object_get_string(json_object_array_get_idx(fargs, i));
	clock_gettime(CLOCK_REALTIME, &now);
	err = pw_flowfilter_parse(f, (int)n, argv, (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec,
				  msg, sizeof(msg));
	free(argv);
	if (err) {
		pw_flowfilter_free(f);
		free(f);
		return pw_proto_error(NULL, "flows: %s", msg);
	}
	if (limit < 0)
		limit = 0;
	res = json_object_new_object();
	json_object_object_add(res, "flows",
			       pw_flowlog_recent(d->fl, pw_flowfilter_match_cb, f, (size_t)limit));
	json_object_object_add(res, "lost",
			       json_object_new_int64((int64_t)pw_flowlog_lost_total(d->fl)));
	if (pw_json_bool(req, "follow") && !cl->follow) {
		int id = pw_flowlog_subscribe(d->fl, follower_cb, cl);

		if (id < 0) {
			json_object_put(res);
			pw_flowfilter_free(f);
			free(f);
			return pw_proto_error(NULL, "flows --follow: %s", strerror(-id));
		}
		cl->follow = id;
		cl->filter = f;
		f = NULL;
	}
	if (f) {
		pw_flowfilter_free(f);
		free(f);
	}
	return pw_proto_ok(res);
}

static json_object *handle(struct daemon *d, struct client *cl, const char *line, size_t len)
{
	json_object *req = NULL, *res;
	enum pw_op op;
	int err;

	d->requests++;
	err = pw_proto_decode(line, len, &req);
	if (err)
		return pw_proto_error(NULL, "malformed request: not one JSON object");
	err = pw_proto_request_op(req, &op);
	if (err == -EPROTO) {
		res = pw_proto_error(NULL, "unsupported protocol version (this daemon speaks %d)",
				     PW_PROTO_VERSION);
		goto out;
	}
	if (err) {
		res = pw_proto_error(NULL, "unknown operation \"%s\"",
				     pw_json_str(req, "op") ?: "");
		goto out;
	}
	dlog(PW_LOG_DEBUG, "request %s from pid %d", pw_op_name(op), cl->pid);
	switch (op) {
	case PW_OP_APPLY:
		res = req_apply(d, cl, req, false);
		break;
	case PW_OP_DELETE:
		res = req_apply(d, cl, req, true);
		break;
	case PW_OP_GET:
		res = req_get(d, req);
		break;
	case PW_OP_DESCRIBE:
		res = req_describe(d, req);
		break;
	case PW_OP_EXPLAIN:
		res = req_explain(d, req);
		break;
	case PW_OP_STATUS:
		res = req_status(d);
		break;
	case PW_OP_FLOWS:
		res = req_flows(d, cl, req);
		break;
	default:
		res = pw_proto_error(NULL, "unknown operation");
		break;
	}
out:
	json_object_put(req);
	return res;
}

/* --- clients ------------------------------------------------------------------------------- */

/* Input until the client is closing (its end of stream stays readable), output while queued. */
static void client_update_events(struct daemon *d, struct client *cl)
{
	uint32_t mask = (cl->closing ? 0 : EPOLLIN | EPOLLRDHUP) |
			(cl->out_len > cl->out_off ? EPOLLOUT : 0);
	struct epoll_event ev = {.events = mask, .data.ptr = &cl->w};

	if (mask == cl->mask)
		return;
	if (!epoll_ctl(d->epfd, EPOLL_CTL_MOD, cl->w.fd, &ev))
		cl->mask = mask;
}

static void client_kill(struct daemon *d, struct client *cl)
{
	if (cl->dead)
		return;
	cl->dead = true;
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, cl->w.fd, NULL);
	if (cl->follow)
		pw_flowlog_unsubscribe(d->fl, cl->follow);
	cl->follow = 0;
}

static void client_flush(struct daemon *d, struct client *cl)
{
	while (cl->out_len > cl->out_off) {
		ssize_t n = send(cl->w.fd, cl->out + cl->out_off, cl->out_len - cl->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			client_kill(d, cl);
			return;
		}
		cl->out_off += (size_t)n;
	}
	if (cl->out_off == cl->out_len) {
		cl->out_off = cl->out_len = 0;
		if (cl->closing) {
			client_kill(d, cl);
			return;
		}
		if (cl->dropped && cl->follow) {
			char note[64];
			uint64_t dropped = cl->dropped;

			cl->dropped = 0;
			snprintf(note, sizeof(note), "{\"dropped\":%llu}\n",
				 (unsigned long long)dropped);
			client_send_raw(d, cl, note, strlen(note));
			return;
		}
	}
	client_update_events(d, cl);
}

static void client_send_raw(struct daemon *d, struct client *cl, const char *buf, size_t len)
{
	if (cl->dead)
		return;
	if (cl->out_cap - cl->out_len < len) {
		size_t cap = cl->out_cap ? cl->out_cap : 16384;
		char *p;

		/* reclaim what was already sent before growing */
		if (cl->out_off) {
			memmove(cl->out, cl->out + cl->out_off, cl->out_len - cl->out_off);
			cl->out_len -= cl->out_off;
			cl->out_off = 0;
		}
		while (cap - cl->out_len < len)
			cap *= 2;
		if (cap != cl->out_cap) {
			p = realloc(cl->out, cap);
			if (!p) {
				client_kill(d, cl);
				return;
			}
			cl->out = p;
			cl->out_cap = cap;
		}
	}
	memcpy(cl->out + cl->out_len, buf, len);
	cl->out_len += len;
	client_flush(d, cl);
}

static void client_send(struct daemon *d, struct client *cl, json_object *msg)
{
	char *line = NULL;
	size_t len;

	if (!msg || pw_proto_encode(msg, &line, &len)) {
		static const char oom[] = "{\"ok\":false,\"error\":\"out of memory\"}\n";

		client_send_raw(d, cl, oom, sizeof(oom) - 1);
	} else {
		client_send_raw(d, cl, line, len);
	}
	free(line);
	json_object_put(msg);
}

static void client_ready(struct daemon *d, struct watch *w, uint32_t events)
{
	struct client *cl = (struct client *)w;

	if (cl->dead)
		return;
	if (events & EPOLLOUT)
		client_flush(d, cl);
	if (cl->dead || cl->closing || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)))
		return;
	for (;;) {
		ssize_t n = pw_linebuf_fill(&cl->in, w->fd);
		char *line;
		size_t len;
		int r;

		if (n == -EAGAIN)
			break;
		if (n <= 0) {
			/* peer closed (or failed): finish sending what is queued, then go */
			if (n == 0 && cl->out_len > cl->out_off && !cl->follow) {
				cl->closing = true;
				client_flush(d, cl);
			} else {
				client_kill(d, cl);
			}
			return;
		}
		while ((r = pw_linebuf_next(&cl->in, &line, &len)) == 1) {
			/* a follower only listens; anything it sends is ignored */
			if (!cl->follow)
				client_send(d, cl, handle(d, cl, line, len));
			if (cl->dead)
				return;
		}
		if (r < 0) {
			client_send(d, cl,
				    pw_proto_error(NULL, "request longer than %u bytes",
						   PW_PROTO_MAX_LINE));
			cl->closing = true;
			client_flush(d, cl);
			return;
		}
	}
}

static void listen_ready(struct daemon *d, struct watch *w, uint32_t events)
{
	for (;;) {
		struct ucred cred;
		socklen_t len = sizeof(cred);
		struct client *cl;
		int fd;

		fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR)
				dlog(PW_LOG_ERROR, "control socket: accept: %s", strerror(errno));
			return;
		}
		/* root only: the socket's mode says so too, this holds if someone chmods it */
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) || cred.uid != 0) {
			static const char msg[] = "{\"ok\":false,\"error\":\"permission denied: "
						  "podwalld accepts root only\"}\n";

			dlog(PW_LOG_WARN, "control socket: refused uid %d (pid %d): root only",
			     (int)cred.uid, (int)cred.pid);
			(void)!send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			continue;
		}
		if (d->nclients >= MAX_CLIENTS) {
			static const char msg[] = "{\"ok\":false,\"error\":\"too many clients\"}\n";

			(void)!send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			continue;
		}
		cl = calloc(1, sizeof(*cl));
		if (!cl) {
			close(fd);
			continue;
		}
		pw_linebuf_init(&cl->in, PW_PROTO_MAX_LINE);
		cl->pid = cred.pid;
		cl->d = d;
		cl->mask = EPOLLIN | EPOLLRDHUP;
		if (watch_add(d, &cl->w, fd, client_ready, EPOLLIN | EPOLLRDHUP)) {
			close(fd);
			free(cl);
			continue;
		}
		cl->next = d->clients;
		d->clients = cl;
		d->nclients++;
	}
}

static void clients_reap(struct daemon *d, bool all)
{
	struct client **pp = &d->clients;

	while (*pp) {
		struct client *cl = *pp;

		if (!cl->dead && !all) {
			pp = &cl->next;
			continue;
		}
		*pp = cl->next;
		client_kill(d, cl); /* unsubscribes a follower */
		close(cl->w.fd);
		pw_linebuf_free(&cl->in);
		if (cl->filter) {
			pw_flowfilter_free(cl->filter);
			free(cl->filter);
		}
		free(cl->out);
		free(cl);
		d->nclients--;
	}
}

/* --- control socket ---------------------------------------------------------------------- */

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

static int dirname_of(const char *path, char *buf, size_t len)
{
	char *slash;

	if (snprintf(buf, len, "%s", path) >= (int)len)
		return -ENAMETOOLONG;
	slash = strrchr(buf, '/');
	if (!slash)
		snprintf(buf, len, ".");
	else if (slash == buf)
		buf[1] = '\0';
	else
		*slash = '\0';
	return 0;
}

static int socket_open(struct daemon *d)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char dir[PATH_MAX];
	mode_t old;
	int fd, err;

	if (strlen(d->socket_path) >= sizeof(sa.sun_path)) {
		dlog(PW_LOG_ERROR, "--socket %s: longer than %zu bytes", d->socket_path,
		     sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, d->socket_path);
	err = dirname_of(d->socket_path, dir, sizeof(dir));
	if (!err)
		err = mkdir_p(dir, 0755);
	if (err) {
		dlog(PW_LOG_ERROR, "--socket %s: cannot create its directory: %s", d->socket_path,
		     strerror(-err));
		return err;
	}
	/* a socket file nobody listens on is a crashed daemon's: take it over */
	fd = pw_proto_connect(d->socket_path);
	if (fd >= 0) {
		close(fd);
		dlog(PW_LOG_ERROR, "--socket %s: another podwalld is listening there",
		     d->socket_path);
		return -EADDRINUSE;
	}
	if (fd == -ECONNREFUSED)
		unlink(d->socket_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	old = umask(0177); /* born 0600: no window where others could connect */
	err = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	umask(old);
	if (!err && chmod(d->socket_path, 0600))
		err = -errno;
	if (!err && listen(fd, 64))
		err = -errno;
	if (err) {
		dlog(PW_LOG_ERROR, "--socket %s: %s", d->socket_path, strerror(-err));
		close(fd);
		return err;
	}
	d->socket_bound = true;
	err = watch_add(d, &d->listen, fd, listen_ready, EPOLLIN);
	if (err)
		close(fd);
	return err;
}

/* systemd Type=notify, without libsystemd: one datagram to $NOTIFY_SOCKET */
static void sd_notify_msg(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	socklen_t len;
	int fd;

	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, strlen(path));
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0'; /* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	(void)!sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
	close(fd);
}

/* --- signals ------------------------------------------------------------------------------- */

static void sig_ready(struct daemon *d, struct watch *w, uint32_t events)
{
	struct signalfd_siginfo si;

	while (read(w->fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			dlog(PW_LOG_INFO, "%s: exiting; enforcement stays in place",
			     strsignal((int)si.ssi_signo));
			d->stop = true;
			break;
		case SIGHUP:
			dlog(PW_LOG_INFO, "SIGHUP: re-reading manifests, reopening the flow log");
			if (d->md) {
				int err = pw_mdir_scan(d->md);

				if (err)
					dlog(PW_LOG_ERROR, "manifests: rescan: %s", strerror(-err));
			}
			if (d->fl && pw_flowlog_reopen(d->fl))
				dlog(PW_LOG_ERROR, "flow log %s: cannot reopen: %s", d->flow_log,
				     strerror(errno));
			break;
		}
	}
}

/* --- main ---------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: podwalld [OPTIONS]\n"
		"\n"
		"The podwall node daemon: turns Namespaces, Pods and NetworkPolicies into eBPF\n"
		"enforcement on this node's network namespace. Runs in the foreground, logs to\n"
		"stderr; SIGTERM exits leaving enforcement in place, SIGHUP re-reads manifests.\n"
		"\n"
		"Options:\n"
		"  --manifests DIR      watch DIR's *.yaml, *.yml, *.json files (inotify)\n"
		"  --socket PATH        control socket for the podwall CLI (default %s)\n"
		"  --bpffs DIR          pin root on a bpffs (default %s)\n"
		"  --cgroup-root PATH   cgroup v2 directory holding pod cgroups; the socket\n"
		"                       programs attach here (never a cgroup2 mount's root)\n"
		"  --flow-log PATH|-    append flow records as JSON lines (- = stdout)\n"
		"  --flow-log-max-size SIZE\n"
		"                       rotate the file before it passes SIZE (K, M, G\n"
		"                       suffixes; default 0: never)\n"
		"  --flow-log-keep N    rotated files kept, PATH.1 newest (default 0: a\n"
		"                       rotation truncates)\n"
		"  --flow-log-fsync rotate|none|always\n"
		"                       when records reach the disk (default rotate)\n"
		"  --flow-sample N      record 1 in N allowed flows (default 1: all); denies\n"
		"                       are never sampled\n"
		"  --deny-window DUR    repeated denies of one key are recorded once per DUR,\n"
		"                       the rest counted into the next record (default 5s;\n"
		"                       0: record every deny)\n"
		"  --deny-burst N       records per key per window (default 1)\n"
		"  --node-name NAME     the records' node_name (default: the host name)\n"
		"  --perf-pages N       event ring pages per CPU, a power of two (default 64)\n"
		"  --ct-sweep-interval DUR\n"
		"                       how often expired flows are removed and their flow_end\n"
		"                       records written (default 5s; 1s to 1h)\n"
		"  --ct-timeout KIND=DUR[,KIND=DUR...]\n"
		"                       idle timeouts: tcp-syn (60s), tcp-established (6h),\n"
		"                       tcp-closing (10s), udp (60s), other (30s)\n"
		"  --state-dir DIR      where objects applied by the CLI are journaled so a\n"
		"                       restart keeps them (default %s)\n"
		"  --uninstall          detach every program and remove the pins under --bpffs,\n"
		"                       then exit: enforcement stops\n"
		"  -v, --verbose        debug logging\n"
		"  -h, --help           this help\n",
		PW_SOCKET_DEFAULT, BPFFS_DEFAULT, STATE_DIR_DEFAULT);
}

/* An unsigned number within [min, max], with K/M/G (powers of 1024) when `sizes`. */
static int opt_number(const char *opt, const char *s, uint64_t min, uint64_t max, bool sizes,
		      uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-' || *s == '+')
		goto bad;
	if (sizes && *end) {
		unsigned int shift = *end == 'K' || *end == 'k'	  ? 10
				     : *end == 'M' || *end == 'm' ? 20
				     : *end == 'G' || *end == 'g' ? 30
								  : 0;

		if (!shift || end[1] || v > (UINT64_MAX >> shift))
			goto bad;
		v <<= shift;
		end++;
	}
	if (*end || v < min || v > max)
		goto bad;
	*out = v;
	return 0;
bad:
	fprintf(stderr, "podwalld: %s \"%s\": expected a number from %llu to %llu%s\n", opt, s,
		(unsigned long long)min, (unsigned long long)max,
		sizes ? " (K, M or G suffix allowed)" : "");
	return -EINVAL;
}

/* A duration ("90s", "1h30m", "250ms") within [min_ns, max_ns]. */
static int opt_duration(const char *opt, const char *s, int64_t min_ns, int64_t max_ns,
			int64_t *out)
{
	int64_t ns;

	if (pw_duration_parse(s, &ns) || ns < min_ns || ns > max_ns) {
		bool ms = min_ns % NSEC_PER_SEC;

		fprintf(stderr,
			"podwalld: %s \"%s\": expected a duration such as 90s, 5m or 1h30m, from "
			"%lld%s to %lld s\n",
			opt, s, (long long)(ms ? min_ns / NSEC_PER_MSEC : min_ns / NSEC_PER_SEC),
			ms ? " ms" : " s", (long long)(max_ns / NSEC_PER_SEC));
		return -EINVAL;
	}
	*out = ns;
	return 0;
}

/* "tcp-closing=2s,udp=30s": each named timeout set; the others keep their defaults. */
static int opt_ct_timeouts(const char *s, struct pw_ct_timeouts *t)
{
	static const struct {
		const char *name;
		size_t off;
	} kinds[] = {
		{"tcp-syn", offsetof(struct pw_ct_timeouts, tcp_syn_ns)},
		{"tcp-established", offsetof(struct pw_ct_timeouts, tcp_established_ns)},
		{"tcp-closing", offsetof(struct pw_ct_timeouts, tcp_closing_ns)},
		{"udp", offsetof(struct pw_ct_timeouts, udp_ns)},
		{"other", offsetof(struct pw_ct_timeouts, other_ns)},
	};
	char *copy = strdup(s), *save = NULL, *item;
	int err = 0;

	if (!copy)
		return -ENOMEM;
	for (item = strtok_r(copy, ",", &save); item && !err; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		size_t k;
		int64_t ns;

		for (k = 0; eq && k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			if ((size_t)(eq - item) == strlen(kinds[k].name) &&
			    !strncmp(item, kinds[k].name, (size_t)(eq - item)))
				break;
		}
		if (!eq || k == sizeof(kinds) / sizeof(kinds[0])) {
			fprintf(stderr,
				"podwalld: --ct-timeout \"%s\": expected KIND=DURATION with KIND "
				"one "
				"of tcp-syn, tcp-established, tcp-closing, udp, other\n",
				item);
			err = -EINVAL;
			break;
		}
		err = opt_duration("--ct-timeout", eq + 1, NSEC_PER_SEC, 7 * 86400 * NSEC_PER_SEC,
				   &ns);
		if (!err)
			*(uint64_t *)((char *)t + kinds[k].off) = (uint64_t)ns;
	}
	free(copy);
	return err;
}

static int parse_args(struct daemon *d, int argc, char **argv)
{
	enum {
		O_MANIFESTS = 256,
		O_SOCKET,
		O_BPFFS,
		O_CGROUP,
		O_FLOWLOG,
		O_STATE,
		O_UNINSTALL,
		O_FL_MAX,
		O_FL_KEEP,
		O_FL_FSYNC,
		O_SAMPLE,
		O_DENY_WINDOW,
		O_DENY_BURST,
		O_NODE,
		O_PERF_PAGES,
		O_SWEEP,
		O_CT_TIMEOUT,
	};
	static const struct option opts[] = {
		{"manifests", required_argument, NULL, O_MANIFESTS},
		{"socket", required_argument, NULL, O_SOCKET},
		{"bpffs", required_argument, NULL, O_BPFFS},
		{"cgroup-root", required_argument, NULL, O_CGROUP},
		{"flow-log", required_argument, NULL, O_FLOWLOG},
		{"flow-log-max-size", required_argument, NULL, O_FL_MAX},
		{"flow-log-keep", required_argument, NULL, O_FL_KEEP},
		{"flow-log-fsync", required_argument, NULL, O_FL_FSYNC},
		{"flow-sample", required_argument, NULL, O_SAMPLE},
		{"deny-window", required_argument, NULL, O_DENY_WINDOW},
		{"deny-burst", required_argument, NULL, O_DENY_BURST},
		{"node-name", required_argument, NULL, O_NODE},
		{"perf-pages", required_argument, NULL, O_PERF_PAGES},
		{"ct-sweep-interval", required_argument, NULL, O_SWEEP},
		{"ct-timeout", required_argument, NULL, O_CT_TIMEOUT},
		{"state-dir", required_argument, NULL, O_STATE},
		{"uninstall", no_argument, NULL, O_UNINSTALL},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	uint64_t v;
	int64_t ns;
	int o, err = 0;

	d->socket_path = PW_SOCKET_DEFAULT;
	d->bpffs = BPFFS_DEFAULT;
	d->state_dir = STATE_DIR_DEFAULT;
	d->sweep_interval_s = SWEEP_INTERVAL_S;
	d->fo.sz = sizeof(d->fo);
	pw_ct_timeouts_default(&d->cto);
	if (gethostname(d->node_name, sizeof(d->node_name) - 1))
		d->node_name[0] = '\0';
	while (!err && (o = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (o) {
		case O_FL_MAX:
			err = opt_number("--flow-log-max-size", optarg, 0, UINT64_MAX >> 1, true,
					 &d->fo.max_bytes);
			break;
		case O_FL_KEEP:
			err = opt_number("--flow-log-keep", optarg, 0, 1000, false, &v);
			d->fo.keep = (unsigned int)v;
			break;
		case O_FL_FSYNC:
			if (!strcmp(optarg, "rotate")) {
				d->fo.fsync = PW_FLOWLOG_FSYNC_ROTATE;
			} else if (!strcmp(optarg, "none")) {
				d->fo.fsync = PW_FLOWLOG_FSYNC_NONE;
			} else if (!strcmp(optarg, "always")) {
				d->fo.fsync = PW_FLOWLOG_FSYNC_ALWAYS;
			} else {
				fprintf(stderr,
					"podwalld: --flow-log-fsync \"%s\": expected rotate, none "
					"or "
					"always\n",
					optarg);
				err = -EINVAL;
			}
			break;
		case O_SAMPLE:
			err = opt_number("--flow-sample", optarg, 1, UINT32_MAX, false, &v);
			d->fo.sample_allowed = (uint32_t)v;
			break;
		case O_DENY_WINDOW:
			/* 0 turns the limit off; anything else is a window of 1 ms or more */
			if (!strcmp(optarg, "0")) {
				d->fo.rl_disable = true;
				break;
			}
			err = opt_duration("--deny-window", optarg, NSEC_PER_MSEC,
					   3600 * NSEC_PER_SEC, &ns);
			d->fo.rl_window_ns = (uint64_t)ns;
			break;
		case O_DENY_BURST:
			err = opt_number("--deny-burst", optarg, 1, 1000000, false, &v);
			d->fo.rl_burst = (unsigned int)v;
			break;
		case O_NODE:
			if (!*optarg || strlen(optarg) >= sizeof(d->node_name)) {
				fprintf(stderr, "podwalld: --node-name: expected 1 to %zu bytes\n",
					sizeof(d->node_name) - 1);
				err = -EINVAL;
				break;
			}
			snprintf(d->node_name, sizeof(d->node_name), "%s", optarg);
			break;
		case O_PERF_PAGES:
			err = opt_number("--perf-pages", optarg, 1, 4096, false, &v);
			if (!err && (v & (v - 1))) {
				fprintf(stderr,
					"podwalld: --perf-pages %s: must be a power of two (1, 2, "
					"4, ... 4096)\n",
					optarg);
				err = -EINVAL;
			}
			d->perf_pages = (size_t)v;
			break;
		case O_SWEEP:
			err = opt_duration("--ct-sweep-interval", optarg, NSEC_PER_SEC,
					   3600 * NSEC_PER_SEC, &ns);
			if (!err && ns % NSEC_PER_SEC) {
				fprintf(stderr,
					"podwalld: --ct-sweep-interval %s: whole seconds only\n",
					optarg);
				err = -EINVAL;
			}
			d->sweep_interval_s = (unsigned int)(ns / NSEC_PER_SEC);
			break;
		case O_CT_TIMEOUT:
			err = opt_ct_timeouts(optarg, &d->cto);
			break;
		case O_MANIFESTS:
			d->manifests = optarg;
			break;
		case O_SOCKET:
			d->socket_path = optarg;
			break;
		case O_BPFFS:
			d->bpffs = optarg;
			break;
		case O_CGROUP:
			d->cgroup_root = optarg;
			break;
		case O_FLOWLOG:
			d->flow_log = optarg;
			break;
		case O_STATE:
			d->state_dir = optarg;
			break;
		case O_UNINSTALL:
			d->uninstall = true;
			break;
		case 'v':
			g_level = PW_LOG_DEBUG;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (err)
		return err;
	if ((d->fo.max_bytes || d->fo.keep) && (!d->flow_log || !strcmp(d->flow_log, "-"))) {
		fprintf(stderr, "podwalld: --flow-log-max-size and --flow-log-keep need --flow-log "
				"with a file path\n");
		return -EINVAL;
	}
	if (d->fo.keep && !d->fo.max_bytes) {
		fprintf(stderr, "podwalld: --flow-log-keep needs --flow-log-max-size (files "
				"are rotated by size)\n");
		return -EINVAL;
	}
	if (optind < argc) {
		fprintf(stderr, "podwalld: unexpected argument \"%s\"\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

static int open_datapath(struct daemon *d)
{
	struct pw_dp_opts o = {
		.sz = sizeof(o),
		.bpffs_dir = d->bpffs,
		.cgroup_root = d->cgroup_root,
		.tc_mode = PW_TC_AUTO,
		.log = lib_log,
		.log_ctx = "datapath: ",
		.log_level = g_level,
	};
	int err = pw_dp_open(&o, &d->dp);

	if (err)
		dlog(PW_LOG_ERROR, "cannot open the datapath (bpffs %s): %s", d->bpffs,
		     strerror(-err));
	return err;
}

static int run(struct daemon *d)
{
	struct pw_cp_opts co = {.sz = sizeof(co), .log = lib_log, .log_ctx = "core: "};
	struct pw_flowlog_opts fo = d->fo;
	struct jrec *jv = NULL;
	size_t jn = 0;
	/* TICK_MS: event drain; each second the flow log's deny windows; the sweep less often */
	struct itimerspec its = {.it_interval.tv_nsec = TICK_MS * 1000000L,
				 .it_value.tv_nsec = TICK_MS * 1000000L};
	sigset_t mask;
	int fd, err;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0)
		return -errno;
	fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = watch_add(d, &d->sig, fd, sig_ready, EPOLLIN);
	if (err)
		return err;

	d->enricher = (struct pw_flow_enricher){
		.ctx = d,
		.endpoint = enrich_endpoint,
		.policy = enrich_policy,
		.isolating = enrich_isolating,
	};
	fo.path = d->flow_log;
	fo.node_name = d->node_name[0] ? d->node_name : NULL;
	fo.enricher = &d->enricher;
	fo.log = lib_log;
	fo.log_ctx = "flowlog: ";
	err = pw_flowlog_new(&fo, &d->fl);
	if (err) {
		dlog(PW_LOG_ERROR, "--flow-log %s: %s", d->flow_log, strerror(-err));
		return err;
	}

	err = open_datapath(d);
	if (err)
		return err;
	dlog(PW_LOG_INFO, "datapath %s under %s (tc: %s)%s%s",
	     pw_dp_adopted(d->dp) ? "adopted" : "loaded", d->bpffs, pw_dp_tc_mode_name(d->dp),
	     d->cgroup_root ? ", socket programs on " : "; no --cgroup-root: socket layer off",
	     d->cgroup_root ?: "");
	err = pw_dp_events_open(d->dp, d->perf_pages, pw_flowlog_on_event, pw_flowlog_on_lost,
				d->fl);
	if (err) {
		dlog(PW_LOG_ERROR, "cannot open the datapath's event buffer (--perf-pages): %s",
		     strerror(-err));
		return err;
	}
	err = pw_dp_events_fd(d->dp);
	if (err < 0)
		return err;
	err = watch_add(d, &d->events, err, events_ready, EPOLLIN);
	if (err)
		return err;

	co.dp = d->dp;
	co.cgroup_root = d->cgroup_root;
	err = pw_cp_new(&co, &d->cp);
	if (err) {
		dlog(PW_LOG_ERROR, "cannot start the control plane: %s", strerror(-err));
		return err;
	}

	/* links before manifests: an interface created meanwhile is reported, not missed */
	err = pw_linkwatch_open(link_event, d, &d->lw);
	if (err) {
		dlog(PW_LOG_ERROR, "cannot watch links (rtnetlink): %s", strerror(-err));
		return err;
	}
	err = watch_add(d, &d->links, pw_linkwatch_fd(d->lw), links_ready, EPOLLIN);
	if (err)
		return err;

	/*
	 * Everything known at start goes in as one change: a restarted daemon must not write a
	 * half-rebuilt state (first the journal, then the files) over the adopted maps.
	 */
	pw_cp_hold(d->cp);
	if (d->state_dir && *d->state_dir) {
		err = mkdir_p(d->state_dir, 0700);
		if (err) {
			dlog(PW_LOG_ERROR, "--state-dir %s: %s", d->state_dir, strerror(-err));
			return err;
		}
		snprintf(d->journal, sizeof(d->journal), "%s/%s", d->state_dir, JOURNAL_NAME);
		snprintf(d->unread.path, sizeof(d->unread.path), "%s/%s", d->state_dir,
			 UNREAD_NAME);
		snprintf(d->ct_end_lost.path, sizeof(d->ct_end_lost.path), "%s/%s", d->state_dir,
			 CT_END_LOST_NAME);
		journal_load(d, true, &jv, &jn);
	}
	kcounters_start(d);
	if (d->manifests) {
		err = pw_mdir_open(d->manifests, mdir_event, d, &d->md);
		if (err) {
			dlog(PW_LOG_ERROR, "--manifests %s: %s", d->manifests, strerror(-err));
			return err;
		}
		err = watch_add(d, &d->mdir, pw_mdir_fd(d->md), mdir_ready, EPOLLIN);
		if (err)
			return err;
		err = pw_mdir_scan(d->md);
		if (err)
			dlog(PW_LOG_ERROR, "--manifests %s: %s", d->manifests, strerror(-err));
	}
	{
		struct pw_diags diags = {0};

		err = pw_cp_flush(d->cp, &diags);
		log_diags(&diags, "start");
		pw_diags_clear(&diags);
		if (err)
			dlog(PW_LOG_ERROR,
			     "cannot enforce the journal and manifests: %s; the maps "
			     "keep what they held",
			     strerror(-err));
		/* only once the replayed state is the real one: compaction reads it */
		else if (jn)
			journal_compact(d, jv, jn);
		jrecs_free(jv, jn);
		d->journal_base = d->journal_records;
	}
	pods_touch(d, NULL);

	fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	timerfd_settime(fd, 0, &its, NULL);
	err = watch_add(d, &d->timer, fd, timer_ready, EPOLLIN);
	if (err)
		return err;

	/* last: a client that can connect finds the manifests already enforced */
	err = socket_open(d);
	if (err)
		return err;
	sd_notify_msg("READY=1");
	dlog(PW_LOG_INFO, "ready: control socket %s%s%s%s%s", d->socket_path,
	     d->manifests ? ", manifests " : "", d->manifests ?: "",
	     d->flow_log ? ", flow log " : "", d->flow_log ?: "");

	while (!d->stop) {
		struct epoll_event evs[32];
		int n = epoll_wait(d->epfd, evs, 32, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			dlog(PW_LOG_ERROR, "epoll_wait: %s", strerror(-err));
			return err;
		}
		for (int i = 0; i < n; i++) {
			struct watch *w = evs[i].data.ptr;

			w->fn(d, w, evs[i].events);
		}
		clients_reap(d, false);
	}
	sd_notify_msg("STOPPING=1");
	return 0;
}

static void cleanup(struct daemon *d)
{
	clients_reap(d, true);
	if (d->socket_bound)
		unlink(d->socket_path);
	if (d->listen.fn)
		close(d->listen.fd);
	if (d->timer.fn)
		close(d->timer.fd);
	if (d->sig.fn)
		close(d->sig.fd);
	pw_mdir_close(d->md);
	pw_linkwatch_close(d->lw);
	/* the rings' last records, before the flow log that writes them goes */
	kcounters_stop(d);
	/* first: its last records still ask the core for pod and policy names */
	pw_flowlog_free(d->fl);
	d->fl = NULL;
	pw_cp_free(d->cp);
	/* close, never destroy: the pinned programs and maps keep enforcing */
	pw_dp_close(d->dp);
	for (size_t i = 0; i < d->nsrcerrs; i++) {
		free(d->srcerrs[i].path);
		json_object_put(d->srcerrs[i].diags);
	}
	free(d->srcerrs);
	pods_clear(d);
	fp_clear(d);
	if (d->epfd >= 0)
		close(d->epfd);
}

static int uninstall(struct daemon *d)
{
	int err = open_datapath(d);

	if (err)
		return err;
	err = pw_dp_destroy(d->dp);
	d->dp = NULL;
	if (err)
		dlog(PW_LOG_ERROR, "uninstall: %s", strerror(-err));
	else
		dlog(PW_LOG_INFO, "uninstalled: programs detached, pins under %s removed",
		     d->bpffs);
	return err;
}

int main(int argc, char **argv)
{
	struct daemon d = {
		.epfd = -1,
		.unread = {.what = "flow events emitted while no daemon read them"},
		.ct_end_lost = {.what = "flow ends the datapath could not keep for the sweep"},
	};
	int err;

	if (parse_args(&d, argc, argv))
		return 2;
	d.started = time(NULL);
	if (d.uninstall)
		return uninstall(&d) ? 1 : 0;
	err = run(&d);
	cleanup(&d);
	if (err)
		dlog(PW_LOG_ERROR, "exiting: %s", strerror(-err));
	return err ? 1 : 0;
}
