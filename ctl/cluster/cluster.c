// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Cluster mode over etcd: list at a revision, watch from the next, feed the core, and keep
 * this node's key (under its lease) at the revision it enforces.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <libfyaml.h>

#include "cluster.h"
#include "etcd.h"
#include "parse.h"
#include "store.h"

#define HASH_BUCKETS	 (1u << 14)
#define TXN_MAX_OPS	 128 /* etcd's default --max-txn-ops */
#define RETRY_MS	 1000
#define CALL_TIMEOUT_MS	 5000
#define SOURCE		 "etcd"

/* One object key: what etcd holds and what the core holds. */
struct ent {
	struct ent *hnext;
	char *key;
	enum pw_kind kind;
	char *ns, *name;
	char *node;	 /* pods: spec.nodeName, or NULL */
	char *value;	 /* the object's JSON in etcd; NULL: deleted there */
	int64_t mod_rev; /* of value */
	int64_t cp_rev;	 /* mod_rev of the version in the core; 0: not in the core */
	int64_t bad_rev; /* a value that does not parse: not retried */
	bool seen;	 /* during a listing */
};

struct node {
	char *name;
	int64_t rev;
	int64_t mod_rev;
	bool seen;
};

struct waiter {
	struct waiter *next;
	void *ctx;
	pw_cluster_reply_fn reply;
	json_object *objects; /* outcomes, for the reply */
	bool del;
	int64_t deadline_ms;
	int64_t timeout_ms;
	int64_t rev;   /* 0 until the last transaction answered */
	json_object *ops; /* array of pending txn bodies (first is in flight) */
	size_t next_op;
	struct pw_cluster *cl;
};

enum phase { PH_DOWN, PH_GRANT, PH_LIST, PH_WATCH };

struct pw_cluster {
	struct pw_cluster_opts o;
	char *prefix;	   /* "<P>/v1/" */
	char *nodes_pfx;   /* "<P>/v1/nodes/" */
	char *node_key;
	struct pw_etcd *etcd;
	struct ent **ht;
	size_t n_ents;
	struct node *nodes;
	size_t n_nodes;
	struct waiter *waiters;

	enum phase phase;
	bool synced_once;  /* the first listing reached the core */
	bool up;	   /* etcd answered last time */
	time_t down_since; /* wall clock, for status */
	char last_error[512];
	int64_t retry_at_ms;
	int64_t lease;
	int64_t keepalive_at_ms;
	bool keepalive_busy;
	int64_t enforced;  /* every object change up to here is in the kernel */
	int64_t newest;	   /* the newest object change this node knows of */
	int64_t etcd_rev;  /* the store's revision, last seen */
	int64_t seen_rev;  /* every change under the prefix up to here was seen: resume after */
	uint64_t relist_changes;    /* objects the last listing passed to the core */
	uint64_t last_sync_changes; /* objects the last core_sync passed */
	bool node_put_busy, node_put_again;
	uint64_t relists, compactions, watch_events;
	uint64_t core_errors;
	int64_t epoch;	   /* bumps on every (re)connect: stale answers are ignored */
};

static void cl_log(struct pw_cluster *cl, enum pw_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void cl_log(struct pw_cluster *cl, enum pw_log_level lvl, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (!cl->o.log)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	cl->o.log(cl->o.log_ctx, lvl, buf);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- keys ----------------------------------------------------------------------------------- */

static const char *kind_dir(enum pw_kind k)
{
	switch (k) {
	case PW_KIND_NAMESPACE:
		return "namespaces";
	case PW_KIND_POD:
		return "pods";
	case PW_KIND_NETPOL:
		return "networkpolicies";
	}
	return NULL;
}

static char *obj_key(struct pw_cluster *cl, enum pw_kind k, const char *ns, const char *name)
{
	char *s;
	int n = k == PW_KIND_NAMESPACE ? asprintf(&s, "%s%s/%s", cl->prefix, kind_dir(k), name)
				       : asprintf(&s, "%s%s/%s/%s", cl->prefix, kind_dir(k), ns, name);

	return n < 0 ? NULL : s;
}

/* "<prefix>pods/NS/NAME" into kind, ns, name; -EINVAL for anything else */
static int key_split(struct pw_cluster *cl, const char *key, enum pw_kind *k, char **ns,
		     char **name)
{
	const char *rest = key + strlen(cl->prefix), *slash;
	static const enum pw_kind kinds[] = {PW_KIND_NAMESPACE, PW_KIND_POD, PW_KIND_NETPOL};

	if (strncmp(key, cl->prefix, strlen(cl->prefix)))
		return -EINVAL;
	for (size_t i = 0; i < 3; i++) {
		const char *d = kind_dir(kinds[i]);
		size_t n = strlen(d);

		if (strncmp(rest, d, n) || rest[n] != '/')
			continue;
		rest += n + 1;
		*k = kinds[i];
		if (kinds[i] == PW_KIND_NAMESPACE) {
			if (!*rest || strchr(rest, '/'))
				return -EINVAL;
			*ns = strdup("");
			*name = strdup(rest);
		} else {
			slash = strchr(rest, '/');
			if (!slash || slash == rest || !slash[1] || strchr(slash + 1, '/'))
				return -EINVAL;
			*ns = strndup(rest, (size_t)(slash - rest));
			*name = strdup(slash + 1);
		}
		if (!*ns || !*name) {
			free(*ns);
			free(*name);
			return -ENOMEM;
		}
		return 0;
	}
	return -EINVAL;
}

/* --- the object table ----------------------------------------------------------------------- */

static uint32_t str_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static struct ent *ent_find(struct pw_cluster *cl, const char *key)
{
	for (struct ent *e = cl->ht[str_hash(key) % HASH_BUCKETS]; e; e = e->hnext)
		if (!strcmp(e->key, key))
			return e;
	return NULL;
}

static struct ent *ent_get(struct pw_cluster *cl, const char *key)
{
	struct ent *e = ent_find(cl, key);
	uint32_t b;

	if (e)
		return e;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->key = strdup(key);
	if (!e->key || key_split(cl, key, &e->kind, &e->ns, &e->name)) {
		free(e->key);
		free(e);
		return NULL;
	}
	b = str_hash(key) % HASH_BUCKETS;
	e->hnext = cl->ht[b];
	cl->ht[b] = e;
	cl->n_ents++;
	return e;
}

static void ent_free(struct ent *e)
{
	free(e->key);
	free(e->ns);
	free(e->name);
	free(e->node);
	free(e->value);
	free(e);
}

/* Drop entries that are gone from etcd and from the core. */
static void ents_prune(struct pw_cluster *cl)
{
	for (size_t b = 0; b < HASH_BUCKETS; b++) {
		struct ent **pp = &cl->ht[b];

		while (*pp) {
			struct ent *e = *pp;

			if (!e->value && !e->cp_rev) {
				*pp = e->hnext;
				ent_free(e);
				cl->n_ents--;
			} else {
				pp = &e->hnext;
			}
		}
	}
}

/* spec.nodeName of a pod's JSON */
static char *pod_node(const char *value)
{
	json_object *o = json_tokener_parse(value), *spec, *n;
	char *s = NULL;

	if (o && json_object_object_get_ex(o, "spec", &spec) &&
	    json_object_object_get_ex(spec, "nodeName", &n) &&
	    json_object_is_type(n, json_type_string) && json_object_get_string_len(n))
		s = strdup(json_object_get_string(n));
	json_object_put(o);
	return s;
}

/* A put (value) or a delete (NULL) seen in etcd at mod_rev. */
static int ent_update(struct pw_cluster *cl, const char *key, const char *value, size_t len,
		      int64_t mod_rev)
{
	struct ent *e = value ? ent_get(cl, key) : ent_find(cl, key);

	if (!e)
		return value ? -EINVAL : 0;
	e->seen = true;
	if (!value) {
		free(e->value);
		e->value = NULL;
		e->mod_rev = mod_rev;
		return 0;
	}
	if (e->value && e->mod_rev == mod_rev)
		return 0;
	free(e->value);
	free(e->node);
	e->node = NULL;
	e->value = strndup(value, len);
	if (!e->value)
		return -ENOMEM;
	e->mod_rev = mod_rev;
	if (e->kind == PW_KIND_POD)
		e->node = pod_node(e->value);
	return 0;
}

/* --- nodes ---------------------------------------------------------------------------------- */

static struct node *node_find(struct pw_cluster *cl, const char *name)
{
	for (size_t i = 0; i < cl->n_nodes; i++)
		if (!strcmp(cl->nodes[i].name, name))
			return &cl->nodes[i];
	return NULL;
}

/* this node counts as live whatever etcd says: its own pods never leave its maps */
static bool node_live(struct pw_cluster *cl, const char *name)
{
	return !strcmp(name, cl->o.node_name) || node_find(cl, name);
}

static int node_update(struct pw_cluster *cl, const char *name, const char *value, int64_t mod_rev)
{
	struct node *n = node_find(cl, name);
	json_object *o;

	if (!value) {
		if (n) {
			free(n->name);
			*n = cl->nodes[--cl->n_nodes];
		}
		return 0;
	}
	if (!n) {
		struct node *nv = realloc(cl->nodes, (cl->n_nodes + 1) * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		cl->nodes = nv;
		n = &cl->nodes[cl->n_nodes];
		memset(n, 0, sizeof(*n));
		n->name = strdup(name);
		if (!n->name)
			return -ENOMEM;
		cl->n_nodes++;
	}
	o = json_tokener_parse(value);
	n->rev = pw_etcd_get_i64(o, "revision");
	n->mod_rev = mod_rev;
	n->seen = true;
	json_object_put(o);
	return 0;
}

/* --- feeding the core ------------------------------------------------------------------------ */

static bool ent_wanted(struct pw_cluster *cl, const struct ent *e)
{
	if (!e->value || e->bad_rev == e->mod_rev)
		return false;
	/* a pod of a node whose lease expired is no peer any more */
	return e->kind != PW_KIND_POD || !e->node || node_live(cl, e->node);
}

static int manifest_take(struct pw_manifest *all, struct pw_manifest *m)
{
	struct pw_object *v;

	if (!m->n)
		return 0;
	v = realloc(all->objs, (all->n + m->n) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	all->objs = v;
	memcpy(all->objs + all->n, m->objs, m->n * sizeof(*v));
	all->n += m->n;
	memset(m->objs, 0, m->n * sizeof(*v));
	return 0;
}

/* Parse one stored object; a pod of another node keeps no binding here (it is a peer). */
static int ent_parse(struct pw_cluster *cl, struct ent *e, struct pw_manifest *all)
{
	struct pw_diags diags = {0};
	struct pw_manifest *m = NULL;
	int err;

	err = pw_parse_buffer(e->key, e->value, strlen(e->value), NULL, &m, &diags);
	if (!err && (m->n != 1 || m->objs[0].kind != e->kind ||
		     strcmp(pw_obj_name(&m->objs[0]), e->name) ||
		     strcmp(pw_obj_ns(&m->objs[0]), e->ns)))
		err = -EINVAL;
	if (err) {
		cl_log(cl, PW_LOG_ERROR,
		       "%s (revision %lld): not one valid %s named by its key%s%s; ignored", e->key,
		       (long long)e->mod_rev, pw_kind_str(e->kind), diags.n ? ": " : "",
		       diags.n ? diags.v[0].text : "");
		e->bad_rev = e->mod_rev;
		goto out;
	}
	if (e->kind == PW_KIND_POD && (!e->node || strcmp(e->node, cl->o.node_name))) {
		struct pw_pod *p = &m->objs[0].u.pod;

		free(p->interface);
		free(p->cgroup);
		p->interface = p->cgroup = NULL;
	}
	err = manifest_take(all, m);
out:
	pw_manifest_free(m);
	pw_diags_clear(&diags);
	return err;
}

static void log_core_diags(struct pw_cluster *cl, const struct pw_diags *d)
{
	for (size_t i = 0; i < d->n; i++)
		cl_log(cl, PW_LOG_ERROR, "etcd objects: %s", d->v[i].text);
}

/*
 * Bring the core to the table: every wanted object at its etcd version, nothing else of
 * source etcd. Only what differs is passed, so a re-list changes nothing that did not change.
 */
static int core_sync(struct pw_cluster *cl)
{
	struct pw_manifest puts = {0}, dels = {0};
	struct ent **pv = NULL, **dv = NULL;
	size_t np = 0, nd = 0, cap_p = 0, cap_d = 0;
	struct pw_diags diags = {0};
	int err = 0;

	for (size_t b = 0; b < HASH_BUCKETS && !err; b++) {
		for (struct ent *e = cl->ht[b]; e && !err; e = e->hnext) {
			bool want = ent_wanted(cl, e);

			if (want && e->cp_rev != e->mod_rev) {
				size_t before = puts.n;

				err = ent_parse(cl, e, &puts);
				if (err || puts.n == before)
					continue;
				if (np == cap_p) {
					struct ent **nv;

					cap_p = cap_p ? cap_p * 2 : 64;
					nv = realloc(pv, cap_p * sizeof(*nv));
					if (!nv) {
						err = -ENOMEM;
						break;
					}
					pv = nv;
				}
				pv[np++] = e;
			} else if (!want && e->cp_rev) {
				struct pw_object *v;

				if (nd == cap_d) {
					struct ent **nv;

					cap_d = cap_d ? cap_d * 2 : 64;
					nv = realloc(dv, cap_d * sizeof(*nv));
					v = realloc(dels.objs, cap_d * sizeof(*v));
					if (nv)
						dv = nv;
					if (v)
						dels.objs = v;
					if (!nv || !v) {
						err = -ENOMEM;
						break;
					}
				}
				v = &dels.objs[dels.n];
				memset(v, 0, sizeof(*v));
				v->kind = e->kind;
				/* only kind, namespace and name matter to a delete */
				switch (e->kind) {
				case PW_KIND_NAMESPACE:
					v->u.ns.name = strdup(e->name);
					break;
				case PW_KIND_POD:
					v->u.pod.namespace = strdup(e->ns);
					v->u.pod.name = strdup(e->name);
					break;
				case PW_KIND_NETPOL:
					v->u.np.namespace = strdup(e->ns);
					v->u.np.name = strdup(e->name);
					break;
				}
				dels.n++;
				dv[nd++] = e;
			}
		}
	}
	if (err)
		goto out;
	if (puts.n) {
		err = pw_cp_apply(cl->o.cp, SOURCE, &puts, &diags);
		if (err) {
			log_core_diags(cl, &diags);
			goto out;
		}
		for (size_t i = 0; i < np; i++)
			pv[i]->cp_rev = pv[i]->mod_rev;
	}
	if (dels.n) {
		err = pw_cp_delete(cl->o.cp, &dels, &diags);
		if (err) {
			log_core_diags(cl, &diags);
			goto out;
		}
		for (size_t i = 0; i < nd; i++)
			dv[i]->cp_rev = 0;
	}
	cl->last_sync_changes = puts.n + dels.n;
	if ((puts.n || dels.n) && cl->o.pods_changed)
		cl->o.pods_changed(cl->o.ctx);
	ents_prune(cl);
out:
	if (err) {
		cl->core_errors++;
		cl_log(cl, PW_LOG_ERROR,
		       "cannot enforce the cluster's objects: %s; the maps keep what they held",
		       strerror(-err));
	}
	for (size_t i = 0; i < puts.n; i++)
		pw_object_clear(&puts.objs[i]);
	for (size_t i = 0; i < dels.n; i++)
		pw_object_clear(&dels.objs[i]);
	free(puts.objs);
	free(dels.objs);
	free(pv);
	free(dv);
	pw_diags_clear(&diags);
	return err;
}

/* --- the connection ------------------------------------------------------------------------- */

static void check_waiters(struct pw_cluster *cl);
static void start(struct pw_cluster *cl);
static void node_put(struct pw_cluster *cl);
static void mark_up(struct pw_cluster *cl);
static void start_watch(struct pw_cluster *cl);

/* Answers carry the epoch they were asked in; one from before a reconnect is ignored. */
static void *epoch_ctx(struct pw_cluster *cl)
{
	/* the epoch travels in the pointer's place: no allocation per call */
	return (void *)(intptr_t)cl->epoch;
}

static void set_down(struct pw_cluster *cl, const char *why)
{
	if (cl->up || cl->down_since == 0) {
		cl->down_since = time(NULL);
		cl_log(cl, PW_LOG_WARN,
		       "etcd: %s; enforcement stays as it is, retrying every %d ms", why,
		       RETRY_MS);
	}
	cl->up = false;
	snprintf(cl->last_error, sizeof(cl->last_error), "%s", why);
	pw_etcd_watch_stop(cl->etcd);
	cl->phase = PH_DOWN;
	cl->epoch++;
	cl->retry_at_ms = now_ms() + RETRY_MS;
}

static struct pw_cluster *g_cl; /* callbacks find the module here: one per daemon */

static bool stale(void *ctx)
{
	return !g_cl || (intptr_t)ctx != g_cl->epoch;
}

static void on_watch_end(void *ctx, int err, json_object *resp, const char *msg)
{
	(void)resp;
	(void)err;
	if (stale(ctx))
		return;
	set_down(g_cl, msg ? msg : "the watch stream ended");
}

static void relist(struct pw_cluster *cl)
{
	pw_etcd_watch_stop(cl->etcd);
	cl->epoch++;
	cl->relists++;
	cl->phase = PH_LIST;
	start(cl);
}

static void on_watch_msg(void *ctx, int err, json_object *resp, const char *msg)
{
	struct pw_cluster *cl = g_cl;
	json_object *res, *evs, *hdr;
	int64_t max_obj = 0;
	bool nodes_changed = false, objs_changed = false;

	(void)msg;
	if (stale(ctx) || err)
		return;
	if (!json_object_object_get_ex(resp, "result", &res)) {
		json_object *e = json_object_object_get(resp, "error");

		set_down(cl, e ? json_object_get_string(e) : "watch: an answer without a result");
		return;
	}
	if (json_object_object_get_ex(res, "header", &hdr) &&
	    pw_etcd_get_i64(hdr, "revision") > cl->etcd_rev)
		cl->etcd_rev = pw_etcd_get_i64(hdr, "revision");
	if (json_object_get_boolean(json_object_object_get(res, "created"))) {
		/* a resumed watch: up again without a listing */
		mark_up(cl);
		node_put(cl);
	}
	if (pw_etcd_get_i64(res, "compact_revision") > 0) {
		cl->compactions++;
		cl_log(cl, PW_LOG_WARN,
		       "etcd compacted revision %lld away before this node watched it: "
		       "listing again",
		       (long long)pw_etcd_get_i64(res, "compact_revision"));
		relist(cl);
		return;
	}
	if (json_object_get_boolean(json_object_object_get(res, "canceled"))) {
		const char *why = json_object_get_string(json_object_object_get(res, "cancel_reason"));

		cl_log(cl, PW_LOG_WARN, "etcd canceled the watch (%s): listing again",
		       why ? why : "no reason given");
		relist(cl);
		return;
	}
	if (!json_object_object_get_ex(res, "events", &evs))
		return;
	for (size_t i = 0; i < json_object_array_length(evs); i++) {
		json_object *ev = json_object_array_get_idx(evs, i), *kv;
		const char *type = json_object_get_string(json_object_object_get(ev, "type"));
		bool del = type && !strcmp(type, "DELETE");
		char *key = NULL, *val = NULL;
		size_t klen, vlen;
		int64_t rev;

		if (!json_object_object_get_ex(ev, "kv", &kv) ||
		    pw_etcd_get_bytes(kv, "key", &key, &klen) ||
		    (!del && pw_etcd_get_bytes(kv, "value", &val, &vlen))) {
			free(key);
			continue;
		}
		rev = pw_etcd_get_i64(kv, "mod_revision");
		cl->watch_events++;
		if (rev > cl->seen_rev)
			cl->seen_rev = rev;
		if (!strncmp(key, cl->nodes_pfx, strlen(cl->nodes_pfx))) {
			node_update(cl, key + strlen(cl->nodes_pfx), del ? NULL : val, rev);
			nodes_changed = true;
		} else if (!ent_update(cl, key, del ? NULL : val, del ? 0 : vlen, rev)) {
			objs_changed = true;
			if (rev > max_obj)
				max_obj = rev;
		}
		free(key);
		free(val);
	}
	if (max_obj > cl->newest)
		cl->newest = max_obj;
	if (objs_changed || nodes_changed) {
		if (core_sync(cl) == 0 && max_obj > cl->enforced) {
			cl->enforced = max_obj;
			node_put(cl);
		}
	}
	check_waiters(cl);
}

static void mark_up(struct pw_cluster *cl)
{
	if (cl->up)
		return;
	if (cl->down_since)
		cl_log(cl, PW_LOG_INFO, "etcd %s is back after %lld s: resynced",
		       pw_etcd_endpoint(cl->etcd), (long long)(time(NULL) - cl->down_since));
	cl->up = true;
	cl->down_since = 0;
	cl->last_error[0] = '\0';
}

static void start_watch(struct pw_cluster *cl)
{
	json_object *cr = json_object_new_object();

	json_object_object_add(cr, "key", pw_etcd_str(cl->prefix));
	json_object_object_add(cr, "range_end", pw_etcd_prefix_end(cl->prefix));
	json_object_object_add(cr, "start_revision", pw_etcd_i64(cl->seen_rev + 1));
	cl->phase = PH_WATCH;
	if (pw_etcd_watch(cl->etcd, cr, on_watch_msg, on_watch_end, epoch_ctx(cl)))
		set_down(cl, "cannot open the watch stream");
}

static void on_list(void *ctx, int err, json_object *resp, const char *msg)
{
	struct pw_cluster *cl = g_cl;
	json_object *kvs, *hdr;
	int64_t rev, newest = 0;
	bool first;

	if (stale(ctx))
		return;
	if (err) {
		set_down(cl, msg);
		return;
	}
	rev = json_object_object_get_ex(resp, "header", &hdr) ? pw_etcd_get_i64(hdr, "revision")
							       : 0;
	for (size_t b = 0; b < HASH_BUCKETS; b++)
		for (struct ent *e = cl->ht[b]; e; e = e->hnext)
			e->seen = false;
	for (size_t i = 0; i < cl->n_nodes; i++)
		cl->nodes[i].seen = false;
	if (json_object_object_get_ex(resp, "kvs", &kvs)) {
		for (size_t i = 0; i < json_object_array_length(kvs); i++) {
			json_object *kv = json_object_array_get_idx(kvs, i);
			char *key = NULL, *val = NULL;
			size_t klen, vlen;
			int64_t mr = pw_etcd_get_i64(kv, "mod_revision");

			if (pw_etcd_get_bytes(kv, "key", &key, &klen) ||
			    pw_etcd_get_bytes(kv, "value", &val, &vlen)) {
				free(key);
				continue;
			}
			if (!strncmp(key, cl->nodes_pfx, strlen(cl->nodes_pfx))) {
				node_update(cl, key + strlen(cl->nodes_pfx), val, mr);
			} else if (!ent_update(cl, key, val, vlen, mr)) {
				if (mr > newest)
					newest = mr;
			} else {
				cl_log(cl, PW_LOG_WARN, "etcd: %s is no podwall object key; ignored",
				       key);
			}
			free(key);
			free(val);
		}
	}
	/* what the listing no longer holds was deleted meanwhile */
	for (size_t b = 0; b < HASH_BUCKETS; b++)
		for (struct ent *e = cl->ht[b]; e; e = e->hnext)
			if (!e->seen && e->value) {
				free(e->value);
				e->value = NULL;
			}
	for (size_t i = 0; i < cl->n_nodes;)
		if (!cl->nodes[i].seen)
			node_update(cl, cl->nodes[i].name, NULL, 0);
		else
			i++;
	first = !cl->synced_once;
	cl->last_sync_changes = 0;
	err = core_sync(cl);
	cl->relist_changes = cl->last_sync_changes;
	if (first) {
		struct pw_diags diags = {0};

		/* the daemon held the core since start: one reconcile for everything */
		err = pw_cp_flush(cl->o.cp, &diags);
		log_core_diags(cl, &diags);
		pw_diags_clear(&diags);
		cl->synced_once = true;
		if (cl->o.pods_changed)
			cl->o.pods_changed(cl->o.ctx);
	}
	cl->etcd_rev = rev;
	if (newest > cl->newest)
		cl->newest = newest;
	if (!err) {
		/* everything up to the listing's revision is enforced */
		cl->enforced = rev;
		node_put(cl);
	}
	cl_log(cl, first ? PW_LOG_INFO : PW_LOG_DEBUG,
	       "etcd %s: %zu objects, %zu nodes at revision %lld", pw_etcd_endpoint(cl->etcd),
	       cl->n_ents, cl->n_nodes, (long long)rev);
	cl->seen_rev = rev;
	mark_up(cl);
	/* watch from the next revision: nothing between the listing and the watch is missed */
	start_watch(cl);
	check_waiters(cl);
}

static void list(struct pw_cluster *cl)
{
	json_object *b = json_object_new_object();

	json_object_object_add(b, "key", pw_etcd_str(cl->prefix));
	json_object_object_add(b, "range_end", pw_etcd_prefix_end(cl->prefix));
	cl->phase = PH_LIST;
	if (pw_etcd_call(cl->etcd, "/v3/kv/range", b, 30000, on_list, epoch_ctx(cl)))
		set_down(cl, "cannot send the listing request");
}

static void on_grant(void *ctx, int err, json_object *resp, const char *msg)
{
	struct pw_cluster *cl = g_cl;

	if (stale(ctx))
		return;
	if (err || !pw_etcd_get_i64(resp, "ID")) {
		set_down(cl, err ? msg : "lease grant: no lease ID in the answer");
		return;
	}
	cl->lease = pw_etcd_get_i64(resp, "ID");
	cl->keepalive_at_ms = now_ms() + cl->o.lease_ttl_s * 1000 / 3;
	/*
	 * Back after an outage: resume the watch after the last change seen, so a blip costs
	 * no listing; a compacted revision answers with compact_revision and we list then.
	 */
	if (cl->synced_once && cl->seen_rev)
		start_watch(cl);
	else
		list(cl);
}

static void grant(struct pw_cluster *cl)
{
	json_object *b = json_object_new_object();

	json_object_object_add(b, "TTL", pw_etcd_i64(cl->o.lease_ttl_s));
	json_object_object_add(b, "ID", pw_etcd_i64(0));
	cl->phase = PH_GRANT;
	if (pw_etcd_call(cl->etcd, "/v3/lease/grant", b, CALL_TIMEOUT_MS, on_grant, epoch_ctx(cl)))
		set_down(cl, "cannot send the lease request");
}

/* A (re)connect takes a fresh lease: the old one may have expired while etcd was away. */
static void start(struct pw_cluster *cl)
{
	if (cl->phase == PH_LIST && cl->lease)
		list(cl);
	else
		grant(cl);
}

static void on_keepalive(void *ctx, int err, json_object *resp, const char *msg)
{
	struct pw_cluster *cl = g_cl;
	json_object *res;

	if (!cl)
		return;
	cl->keepalive_busy = false;
	if (stale(ctx))
		return;
	if (err) {
		set_down(cl, msg);
		return;
	}
	if (!json_object_object_get_ex(resp, "result", &res) || pw_etcd_get_i64(res, "TTL") <= 0) {
		/* expired: this node's key is gone; a fresh lease and key */
		cl_log(cl, PW_LOG_WARN, "etcd: this node's lease expired: joining again");
		cl->lease = 0;
		cl->epoch++;
		pw_etcd_watch_stop(cl->etcd);
		grant(cl);
	}
}

static void on_node_put(void *ctx, int err, json_object *resp, const char *msg)
{
	struct pw_cluster *cl = g_cl;

	(void)resp;
	if (!cl)
		return;
	cl->node_put_busy = false;
	if (stale(ctx))
		return;
	if (err) {
		cl_log(cl, PW_LOG_WARN, "etcd: cannot write this node's key: %s", msg);
		return;
	}
	if (cl->node_put_again)
		node_put(cl);
}

/* This node's key, under its lease: the revision it enforces. Writes coalesce. */
static void node_put(struct pw_cluster *cl)
{
	json_object *b, *v;

	if (!cl->lease || cl->phase == PH_DOWN)
		return;
	if (cl->node_put_busy) {
		cl->node_put_again = true;
		return;
	}
	cl->node_put_again = false;
	v = json_object_new_object();
	json_object_object_add(v, "name", json_object_new_string(cl->o.node_name));
	json_object_object_add(v, "revision", json_object_new_int64(cl->enforced));
	b = json_object_new_object();
	json_object_object_add(b, "key", pw_etcd_str(cl->node_key));
	json_object_object_add(b, "value",
			       pw_etcd_str(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN)));
	json_object_object_add(b, "lease", pw_etcd_i64(cl->lease));
	json_object_put(v);
	cl->node_put_busy = true;
	if (pw_etcd_call(cl->etcd, "/v3/kv/put", b, CALL_TIMEOUT_MS, on_node_put, epoch_ctx(cl)))
		cl->node_put_busy = false;
}

/* --- apply and delete ----------------------------------------------------------------------- */

static void waiter_reply(struct pw_cluster *cl, struct waiter *w, json_object *res)
{
	struct waiter **pp;

	for (pp = &cl->waiters; *pp && *pp != w; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = w->next;
	if (w->reply)
		w->reply(w->ctx, res);
	else
		json_object_put(res);
	json_object_put(w->objects);
	json_object_put(w->ops);
	free(w);
}

static json_object *error_res(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_object *error_res(const char *fmt, ...)
{
	json_object *o = json_object_new_object();
	char buf[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	json_object_object_add(o, "ok", json_object_new_boolean(false));
	json_object_object_add(o, "error", json_object_new_string(buf));
	return o;
}

static json_object *ok_res(json_object *objects, int64_t rev)
{
	json_object *o = json_object_new_object(), *r = json_object_new_object();

	json_object_object_add(r, "objects", objects);
	json_object_object_add(r, "warnings", json_object_new_array());
	json_object_object_add(r, "revision", json_object_new_int64(rev));
	json_object_object_add(o, "ok", json_object_new_boolean(true));
	json_object_object_add(o, "result", r);
	return o;
}

/* The live nodes that do not enforce rev yet, as "a (at 5), b (at 7)"; 0 when none. */
static size_t laggards(struct pw_cluster *cl, int64_t rev, char *buf, size_t len)
{
	size_t n = 0, off = 0;

	buf[0] = '\0';
	if (cl->enforced < rev) {
		off += (size_t)snprintf(buf + off, len - off, "%s (at revision %lld)",
					cl->o.node_name, (long long)cl->enforced);
		n++;
	}
	for (size_t i = 0; i < cl->n_nodes; i++) {
		const struct node *nd = &cl->nodes[i];

		if (!strcmp(nd->name, cl->o.node_name) || nd->rev >= rev)
			continue;
		if (off < len)
			off += (size_t)snprintf(buf + off, len - off, "%s%s (at revision %lld)",
						n ? ", " : "", nd->name, (long long)nd->rev);
		n++;
	}
	return n;
}

static void check_waiters(struct pw_cluster *cl)
{
	int64_t now = now_ms();
	struct waiter *w, *next;
	char buf[1024];

	for (w = cl->waiters; w; w = next) {
		next = w->next;
		if (!w->rev) {
			if (now >= w->deadline_ms + CALL_TIMEOUT_MS)
				waiter_reply(cl, w, error_res("etcd did not answer the transaction "
							      "in time: the change may or may "
							      "not be stored"));
			continue;
		}
		if (!laggards(cl, w->rev, buf, sizeof(buf))) {
			waiter_reply(cl, w, ok_res(json_object_get(w->objects), w->rev));
		} else if (now >= w->deadline_ms) {
			waiter_reply(cl, w,
				     error_res("timed out after %.3gs: the change is stored in etcd "
					       "(revision %lld) but not yet enforced by: %s%s",
					       (double)w->timeout_ms / 1000, (long long)w->rev, buf,
					       cl->up ? "" : "; etcd is unreachable"));
		}
	}
}

static void txn_next(struct waiter *w);

static void on_txn(void *ctx, int err, json_object *resp, const char *msg)
{
	struct waiter *w = ctx, *it;
	struct pw_cluster *cl = g_cl;
	json_object *hdr;

	if (!cl)
		return;
	for (it = cl->waiters; it && it != w; it = it->next)
		;
	if (!it)
		return; /* its client went away */
	if (err) {
		waiter_reply(cl, w,
			     error_res("%s: %s", msg,
				       w->next_op > 1 ? "the first part of the change is stored, "
							"the rest is not"
						      : "nothing changed"));
		return;
	}
	if (!json_object_get_boolean(json_object_object_get(resp, "succeeded"))) {
		waiter_reply(cl, w,
			     error_res("not found: an object to delete is no longer in etcd: "
				       "nothing changed"));
		return;
	}
	if (json_object_object_get_ex(resp, "header", &hdr))
		w->rev = pw_etcd_get_i64(hdr, "revision");
	if (w->next_op < json_object_array_length(w->ops)) {
		w->rev = 0;
		txn_next(w);
		return;
	}
	check_waiters(cl);
}

static void txn_next(struct waiter *w)
{
	json_object *b = json_object_array_get_idx(w->ops, w->next_op++);

	if (pw_etcd_call(w->cl->etcd, "/v3/kv/txn", json_object_get(b), CALL_TIMEOUT_MS, on_txn,
			 w))
		waiter_reply(w->cl, w, error_res("out of memory: nothing changed"));
}

/* Every object of docs as its own JSON text (kind: List unrolled), in document order. */
struct objtext {
	char *text;
	char *doc; /* the request document's name */
};

static int split_node(struct fy_node *n, const char *doc, struct objtext **v, size_t *nv)
{
	struct fy_node *kind = fy_node_mapping_lookup_by_string(n, "kind", FY_NT);
	const char *k = kind ? fy_node_get_scalar0(kind) : NULL;
	struct objtext *nvv;

	if (k && !strcmp(k, "List")) {
		struct fy_node *items = fy_node_mapping_lookup_by_string(n, "items", FY_NT), *it;
		void *iter = NULL;
		int err;

		while (items && (it = fy_node_sequence_iterate(items, &iter)))
			if ((err = split_node(it, doc, v, nv)))
				return err;
		return 0;
	}
	nvv = realloc(*v, (*nv + 1) * sizeof(**v));
	if (!nvv)
		return -ENOMEM;
	*v = nvv;
	nvv[*nv].doc = strdup(doc);
	nvv[*nv].text =
		fy_emit_node_to_string(n, FYECF_MODE_JSON_ONELINE | FYECF_NO_ENDING_NEWLINE);
	if (!nvv[*nv].text || !nvv[*nv].doc) {
		free(nvv[*nv].doc);
		free(nvv[*nv].text);
		return -ENOMEM;
	}
	(*nv)++;
	return 0;
}

static int split_docs(json_object *docs, struct objtext **out, size_t *n_out)
{
	struct objtext *v = NULL;
	size_t n = 0;
	int err = 0;

	for (size_t i = 0; !err && i < json_object_array_length(docs); i++) {
		json_object *doc = json_object_array_get_idx(docs, i);
		const char *name = json_object_get_string(json_object_object_get(doc, "name"));
		json_object *data = json_object_object_get(doc, "data");
		struct fy_parse_cfg cfg = {.flags = FYPCF_QUIET | FYPCF_DEFAULT_VERSION_1_2};
		struct fy_parser *p = fy_parser_create(&cfg);
		struct fy_document *fyd;

		if (!p || fy_parser_set_string(p, json_object_get_string(data),
					       (size_t)json_object_get_string_len(data))) {
			fy_parser_destroy(p);
			err = -ENOMEM;
			break;
		}
		while (!err && (fyd = fy_parse_load_document(p))) {
			struct fy_node *root = fy_document_root(fyd);

			if (root && fy_node_is_mapping(root))
				err = split_node(root, name ? name : "<request>", &v, &n);
			fy_parse_document_destroy(p, fyd);
		}
		fy_parser_destroy(p);
	}
	*out = v;
	*n_out = n;
	return err;
}

static void objtexts_free(struct objtext *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].text);
		free(v[i].doc);
	}
	free(v);
}

static json_object *outcome(const struct pw_object *o, const char *action)
{
	json_object *j = json_object_new_object();

	json_object_object_add(j, "kind", json_object_new_string(pw_kind_str(o->kind)));
	if (o->kind != PW_KIND_NAMESPACE)
		json_object_object_add(j, "namespace", json_object_new_string(pw_obj_ns(o)));
	json_object_object_add(j, "name", json_object_new_string(pw_obj_name(o)));
	json_object_object_add(j, "action", json_object_new_string(action));
	return j;
}

json_object *pw_cluster_apply(struct pw_cluster *cl, json_object *docs, bool del,
			      int64_t timeout_ms, pw_cluster_reply_fn reply, void *ctx)
{
	struct objtext *tv = NULL;
	size_t nt = 0, nops = 0;
	json_object *objects = json_object_new_array(), *res = NULL, *ops = json_object_new_array();
	json_object *txn = NULL, *succ = NULL, *cmp = NULL;
	struct waiter *w = NULL;
	char **keys = NULL;
	int err;

	if (cl->phase != PH_WATCH || !cl->up) {
		res = error_res("etcd is unreachable%s%s: nothing changed (this node goes on "
				"enforcing what it had)",
				cl->last_error[0] ? ": " : "", cl->last_error);
		goto out;
	}
	err = split_docs(docs, &tv, &nt);
	if (err) {
		res = error_res("cannot split the manifests into objects: %s", strerror(-err));
		goto out;
	}
	keys = calloc(nt + 1, sizeof(*keys));
	if (!keys) {
		res = error_res("out of memory: nothing changed");
		goto out;
	}
	for (size_t i = 0; i < nt; i++) {
		struct pw_diags diags = {0};
		struct pw_manifest *m = NULL;
		const struct pw_object *o;
		struct ent *e;
		const char *action;

		err = pw_parse_buffer(tv[i].doc, tv[i].text, strlen(tv[i].text), NULL, &m, &diags);
		if (err || m->n != 1) {
			res = error_res("%s: an object does not survive its conversion to JSON "
					"(%s): nothing changed",
					tv[i].doc, diags.n ? diags.v[0].text : "not one object");
			pw_manifest_free(m);
			pw_diags_clear(&diags);
			goto out;
		}
		pw_diags_clear(&diags);
		o = &m->objs[0];
		keys[i] = obj_key(cl, o->kind, pw_obj_ns(o), pw_obj_name(o));
		e = keys[i] ? ent_find(cl, keys[i]) : NULL;
		if (del) {
			if (!e || !e->value) {
				res = error_res("%s \"%s\" not found: nothing changed",
						pw_kind_str(o->kind), pw_obj_name(o));
				pw_manifest_free(m);
				goto out;
			}
			action = "deleted";
		} else if (e && e->value && !strcmp(e->value, tv[i].text)) {
			action = "unchanged";
		} else {
			action = e && e->value ? "configured" : "created";
		}
		json_object_array_add(objects, outcome(o, action));
		pw_manifest_free(m);
		if (!strcmp(action, "unchanged"))
			continue;
		/* etcd refuses a transaction of more than --max-txn-ops operations */
		if (!txn || nops == TXN_MAX_OPS) {
			txn = json_object_new_object();
			succ = json_object_new_array();
			cmp = json_object_new_array();
			json_object_object_add(txn, "compare", cmp);
			json_object_object_add(txn, "success", succ);
			json_object_array_add(ops, txn);
			nops = 0;
		}
		{
			json_object *op = json_object_new_object(), *rq = json_object_new_object();

			json_object_object_add(rq, "key", pw_etcd_str(keys[i]));
			if (del) {
				json_object *c = json_object_new_object();

				/* deleted meanwhile through another node: "not found", as kubectl */
				json_object_object_add(c, "key", pw_etcd_str(keys[i]));
				json_object_object_add(c, "target", json_object_new_string("VERSION"));
				json_object_object_add(c, "result", json_object_new_string("GREATER"));
				json_object_object_add(c, "version", pw_etcd_i64(0));
				json_object_array_add(cmp, c);
				json_object_object_add(op, "request_delete_range", rq);
			} else {
				json_object_object_add(rq, "value", pw_etcd_str(tv[i].text));
				json_object_object_add(op, "request_put", rq);
			}
			json_object_array_add(succ, op);
		}
		nops++;
	}
	if (!json_object_array_length(ops)) {
		res = ok_res(objects, cl->enforced);
		objects = NULL;
		goto out;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		res = error_res("out of memory: nothing changed");
		goto out;
	}
	w->cl = cl;
	w->ctx = ctx;
	w->reply = reply;
	w->del = del;
	w->objects = objects;
	w->ops = ops;
	w->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
	w->deadline_ms = now_ms() + w->timeout_ms;
	objects = ops = NULL;
	w->next = cl->waiters;
	cl->waiters = w;
	txn_next(w);
out:
	for (size_t i = 0; keys && i < nt; i++)
		free(keys[i]);
	free(keys);
	objtexts_free(tv, nt);
	json_object_put(objects);
	json_object_put(ops);
	return res;
}

void pw_cluster_forget(struct pw_cluster *cl, void *ctx)
{
	struct waiter *w, *next;

	if (!cl)
		return;
	for (w = cl->waiters; w; w = next) {
		next = w->next;
		if (w->ctx == ctx) {
			w->reply = NULL;
			waiter_reply(cl, w, NULL);
		}
	}
}

/* --- queries -------------------------------------------------------------------------------- */

static int64_t lag_of(struct pw_cluster *cl, int64_t rev)
{
	return cl->newest > rev ? cl->newest - rev : 0;
}

json_object *pw_cluster_nodes(struct pw_cluster *cl)
{
	json_object *arr = json_object_new_array();
	bool self = false;

	for (size_t i = 0; i <= cl->n_nodes; i++) {
		const char *name;
		int64_t rev;
		bool me;
		json_object *o;

		if (i < cl->n_nodes) {
			name = cl->nodes[i].name;
			me = !strcmp(name, cl->o.node_name);
			rev = me ? cl->enforced : cl->nodes[i].rev;
		} else if (!self) {
			name = cl->o.node_name; /* not registered (yet, or etcd is away) */
			me = true;
			rev = cl->enforced;
		} else {
			break;
		}
		self |= me;
		o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(name));
		json_object_object_add(o, "status",
				       json_object_new_string(i < cl->n_nodes ? "Ready"
									      : "NotRegistered"));
		json_object_object_add(o, "revision", json_object_new_int64(rev));
		json_object_object_add(o, "lag", json_object_new_int64(lag_of(cl, rev)));
		json_object_object_add(o, "self", json_object_new_boolean(me));
		json_object_array_add(arr, o);
	}
	return arr;
}

json_object *pw_cluster_status(struct pw_cluster *cl)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "node", json_object_new_string(cl->o.node_name));
	json_object_object_add(o, "etcd", json_object_new_string(pw_etcd_endpoint(cl->etcd)));
	json_object_object_add(o, "prefix", json_object_new_string(cl->o.prefix));
	json_object_object_add(o, "connected", json_object_new_boolean(cl->up &&
								       cl->phase == PH_WATCH));
	if (!cl->up && cl->down_since) {
		char buf[64];
		struct tm tm;

		gmtime_r(&cl->down_since, &tm);
		strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
		json_object_object_add(o, "down_since", json_object_new_string(buf));
	}
	if (cl->last_error[0])
		json_object_object_add(o, "last_error", json_object_new_string(cl->last_error));
	json_object_object_add(o, "enforced_revision", json_object_new_int64(cl->enforced));
	json_object_object_add(o, "etcd_revision", json_object_new_int64(cl->etcd_rev));
	json_object_object_add(o, "objects", json_object_new_int64((int64_t)cl->n_ents));
	json_object_object_add(o, "relists", json_object_new_int64((int64_t)cl->relists));
	json_object_object_add(o, "compactions", json_object_new_int64((int64_t)cl->compactions));
	json_object_object_add(o, "relist_changes",
			       json_object_new_int64((int64_t)cl->relist_changes));
	json_object_object_add(o, "watch_events", json_object_new_int64((int64_t)cl->watch_events));
	json_object_object_add(o, "nodes", pw_cluster_nodes(cl));
	return o;
}

/* --- life ----------------------------------------------------------------------------------- */

int pw_cluster_fd(const struct pw_cluster *cl)
{
	return pw_etcd_fd(cl->etcd);
}

void pw_cluster_ready(struct pw_cluster *cl)
{
	pw_etcd_dispatch(cl->etcd);
}

void pw_cluster_tick(struct pw_cluster *cl)
{
	int64_t now = now_ms();

	if (cl->phase == PH_DOWN && now >= cl->retry_at_ms) {
		cl->phase = PH_GRANT;
		grant(cl);
	}
	if (cl->phase == PH_WATCH && cl->lease && !cl->keepalive_busy &&
	    now >= cl->keepalive_at_ms) {
		json_object *b = json_object_new_object();

		json_object_object_add(b, "ID", pw_etcd_i64(cl->lease));
		cl->keepalive_at_ms = now + cl->o.lease_ttl_s * 1000 / 3;
		cl->keepalive_busy = !pw_etcd_call(cl->etcd, "/v3/lease/keepalive", b,
						   CALL_TIMEOUT_MS, on_keepalive, epoch_ctx(cl));
	}
	if (cl->waiters)
		check_waiters(cl);
}

int pw_cluster_new(const struct pw_cluster_opts *opts, struct pw_cluster **out, char *why,
		   size_t why_len)
{
	struct pw_etcd_opts eo = {.sz = sizeof(eo)};
	struct pw_cluster *cl;
	int err;

	*out = NULL;
	if (g_cl) {
		snprintf(why, why_len, "one cluster client per daemon");
		return -EBUSY;
	}
	if (!opts->node_name || !*opts->node_name || strchr(opts->node_name, '/')) {
		snprintf(why, why_len, "--node-name: a non-empty name without '/' is required "
				       "with --etcd");
		return -EINVAL;
	}
	if (!opts->prefix || opts->prefix[0] != '/') {
		snprintf(why, why_len, "--etcd-prefix \"%s\": must start with '/'",
			 opts->prefix ? opts->prefix : "");
		return -EINVAL;
	}
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return -ENOMEM;
	cl->o = *opts;
	if (!cl->o.lease_ttl_s)
		cl->o.lease_ttl_s = 10;
	cl->ht = calloc(HASH_BUCKETS, sizeof(*cl->ht));
	{
		size_t pl = strlen(opts->prefix);

		/* "/podwall" and "/podwall/" name one prefix */
		while (pl > 1 && opts->prefix[pl - 1] == '/')
			pl--;
		if (asprintf(&cl->prefix, "%.*s/v1/", (int)pl, opts->prefix) < 0)
			cl->prefix = NULL;
	}
	if (!cl->ht || !cl->prefix || asprintf(&cl->nodes_pfx, "%snodes/", cl->prefix) < 0 ||
	    asprintf(&cl->node_key, "%s%s", cl->nodes_pfx, opts->node_name) < 0) {
		err = -ENOMEM;
		goto fail;
	}
	eo.endpoints = opts->endpoints;
	eo.cacert = opts->cacert;
	eo.cert = opts->cert;
	eo.key = opts->key;
	err = pw_etcd_new(&eo, &cl->etcd, why, why_len);
	if (err)
		goto fail;
	g_cl = cl;
	cl->up = false;
	cl->epoch = 1;
	grant(cl);
	*out = cl;
	return 0;
fail:
	pw_cluster_free(cl);
	return err;
}

void pw_cluster_free(struct pw_cluster *cl)
{
	if (!cl)
		return;
	while (cl->waiters) {
		cl->waiters->reply = NULL;
		waiter_reply(cl, cl->waiters, NULL);
	}
	/* the thread first: no callback runs after this */
	pw_etcd_free(cl->etcd);
	if (g_cl == cl)
		g_cl = NULL;
	for (size_t b = 0; cl->ht && b < HASH_BUCKETS; b++) {
		struct ent *e = cl->ht[b], *n;

		for (; e; e = n) {
			n = e->hnext;
			ent_free(e);
		}
	}
	free(cl->ht);
	for (size_t i = 0; i < cl->n_nodes; i++)
		free(cl->nodes[i].name);
	free(cl->nodes);
	free(cl->prefix);
	free(cl->nodes_pfx);
	free(cl->node_key);
	free(cl);
}
