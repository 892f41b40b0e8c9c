// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Cluster mode: the local view of etcd (object keys with their revisions, live nodes) and the
 * diff that feeds the core from it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "htab.h"
#include "cluster_int.h"
#include "store.h"

void pwc_log(struct pw_cluster *cl, enum pw_log_level lvl, const char *fmt, ...)
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

int64_t pwc_now_ms(void)
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
	case PW_KIND_SERVICE:
		return "services";
	case PW_KIND_EPSLICE:
		return "endpointslices";
	default:
		break;
	}
	return NULL;
}

char *pwc_obj_key(struct pw_cluster *cl, enum pw_kind k, const char *ns, const char *name)
{
	char *s;
	int n = k == PW_KIND_NAMESPACE
			? asprintf(&s, "%s%s/%s", cl->prefix, kind_dir(k), name)
			: asprintf(&s, "%s%s/%s/%s", cl->prefix, kind_dir(k), ns, name);

	return n < 0 ? NULL : s;
}

char *pwc_quar_key(struct pw_cluster *cl, const char *ns, const char *name)
{
	char *s;

	return asprintf(&s, "%s%s/%s/%s", cl->prefix, QUAR_DIR, ns, name) < 0 ? NULL : s;
}

/* "<prefix>pods/NS/NAME" into kind, ns, name; -EINVAL for anything else */
static int key_split(struct pw_cluster *cl, const char *key, enum pw_kind *k, char **ns,
		     char **name)
{
	const char *rest = key + strlen(cl->prefix), *slash;
	static const enum pw_kind kinds[] = {PW_KIND_NAMESPACE,	   PW_KIND_POD,	    PW_KIND_NETPOL,
					     PW_KIND_SERVICE,	   PW_KIND_EPSLICE, KIND_QUARANTINE};

	if (strncmp(key, cl->prefix, strlen(cl->prefix)))
		return -EINVAL;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const char *d = kinds[i] == KIND_QUARANTINE ? QUAR_DIR : kind_dir(kinds[i]);
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

struct ent *pwc_ent_find(struct pw_cluster *cl, const char *key)
{
	for (struct ent *e = cl->ht[pw_hash_str(key) % HASH_BUCKETS]; e; e = e->hnext)
		if (!strcmp(e->key, key))
			return e;
	return NULL;
}

static struct ent *ent_get(struct pw_cluster *cl, const char *key)
{
	struct ent *e = pwc_ent_find(cl, key);
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
	b = pw_hash_str(key) % HASH_BUCKETS;
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
int pwc_ent_update(struct pw_cluster *cl, const char *key, const char *value, size_t len,
		   int64_t mod_rev)
{
	struct ent *e = value ? ent_get(cl, key) : pwc_ent_find(cl, key);

	if (!e)
		return value ? -EINVAL : 0;
	e->seen = true;
	cl->quar_dirty |= e->kind == KIND_QUARANTINE;
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

int pwc_node_update(struct pw_cluster *cl, const char *name, const char *value, int64_t mod_rev)
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

/*
 * Quarantines (<prefix>quarantines/NS/NAME, value {reason, allowDns, sinceUnix}): the core's
 * quarantine table follows etcd's, every node alike. A quarantine this node restored from its
 * own state file (etcd was away) and that etcd no longer holds is lifted. Runs only after a
 * quarantine key changed or a listing (quar_dirty), not on every object change. Returns the
 * number of changes made to the core.
 */
static size_t quar_sync(struct pw_cluster *cl)
{
	struct pw_cp_quarantine_row *rows = NULL;
	size_t changed = 0, n = 0;
	struct pw_diags diags = {0};

	if (!cl->quar_dirty)
		return 0;
	cl->quar_dirty = false;

	for (size_t b = 0; b < HASH_BUCKETS; b++) {
		for (struct ent *e = cl->ht[b]; e; e = e->hnext) {
			struct pw_cp_qref r = {e->ns, e->name};
			json_object *o;
			int err;

			if (e->kind != KIND_QUARANTINE || (e->value && e->cp_rev == e->mod_rev) ||
			    (!e->value && !e->cp_rev) || (e->value && e->bad_rev == e->mod_rev))
				continue;
			if (!e->value) {
				/* lifted in etcd: not quarantined here either is fine */
				pw_cp_quarantine(cl->o.cp, &r, 1, true, NULL, &diags);
				pw_diags_clear(&diags);
				e->cp_rev = 0;
				changed++;
				continue;
			}
			o = json_tokener_parse(e->value);
			if (!o || !json_object_is_type(o, json_type_object)) {
				pwc_log(cl, PW_LOG_ERROR,
					"%s (revision %lld): not a JSON object; ignored", e->key,
					(long long)e->mod_rev);
				e->bad_rev = e->mod_rev;
				json_object_put(o);
				continue;
			}
			{
				json_object *v;
				struct pw_cp_qopts q = {
					.allow_dns = json_object_object_get_ex(o, "allowDns", &v) &&
						     json_object_get_boolean(v),
					.since = pw_etcd_get_i64(o, "sinceUnix"),
				};

				if (json_object_object_get_ex(o, "reason", &v) &&
				    json_object_is_type(v, json_type_string))
					q.reason = json_object_get_string(v);
				if (!q.since)
					q.since = time(NULL);
				err = pw_cp_quarantine(cl->o.cp, &r, 1, false, &q, &diags);
			}
			json_object_put(o);
			if (err) {
				pwc_log_diags(cl, &diags);
				pw_diags_clear(&diags);
				cl->quar_dirty = true; /* retried by the next sync */
				continue;
			}
			e->cp_rev = e->mod_rev;
			changed++;
		}
	}
	if (pw_cp_list_quarantines(cl->o.cp, NULL, &rows, &n))
		return changed;
	for (size_t i = 0; i < n; i++) {
		char *key = pwc_quar_key(cl, rows[i].ns, rows[i].name);
		struct ent *e = key ? pwc_ent_find(cl, key) : NULL;
		struct pw_cp_qref r = {rows[i].ns, rows[i].name};

		if (key && (!e || !e->value)) {
			pwc_log(cl, PW_LOG_INFO,
				"pod %s/%s: its quarantine is not in etcd any more (lifted while "
				"this node was away): lifted",
				rows[i].ns, rows[i].name);
			if (!pw_cp_quarantine(cl->o.cp, &r, 1, true, NULL, &diags))
				changed++;
			pw_diags_clear(&diags);
		}
		free(key);
	}
	free(rows);
	return changed;
}

static bool ent_wanted(struct pw_cluster *cl, const struct ent *e)
{
	if (!e->value || e->bad_rev == e->mod_rev)
		return false;
	/* a pod of a node whose lease expired is no peer any more */
	return e->kind != PW_KIND_POD || !e->node || node_live(cl, e->node);
}

/* Parse one stored object; a pod of another node keeps no binding here (it is a peer). */
static int ent_parse(struct pw_cluster *cl, struct ent *e, struct pw_manifest *all)
{
	struct pw_diags diags = {0};
	struct pw_manifest *m = NULL;
	int err;

	err = pw_parse_buffer(e->key, e->value, strlen(e->value), NULL, &m, &diags);
	if (!err &&
	    (m->n != 1 || m->objs[0].kind != e->kind || strcmp(pw_obj_name(&m->objs[0]), e->name) ||
	     strcmp(pw_obj_ns(&m->objs[0]), e->ns)))
		err = -EINVAL;
	if (err) {
		pwc_log(cl, PW_LOG_ERROR,
			"%s (revision %lld): not one valid %s named by its key%s%s; ignored",
			e->key, (long long)e->mod_rev, pw_kind_str(e->kind), diags.n ? ": " : "",
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
	err = pw_manifest_take(all, m);
out:
	pw_manifest_free(m);
	pw_diags_clear(&diags);
	return err;
}

void pwc_log_diags(struct pw_cluster *cl, const struct pw_diags *d)
{
	for (size_t i = 0; i < d->n; i++)
		pwc_log(cl, PW_LOG_ERROR, "etcd objects: %s", d->v[i].text);
}

/*
 * Bring the core to the table: every wanted object at its etcd version, nothing else of
 * source etcd. Only what differs is passed, so a re-list changes nothing that did not change.
 */
int pwc_core_sync(struct pw_cluster *cl)
{
	struct pw_manifest puts = {0}, dels = {0};
	struct ent **pv = NULL, **dv = NULL;
	size_t np = 0, nd = 0, cap_p = 0, cap_d = 0;
	struct pw_diags diags = {0};
	int err = 0;

	for (size_t b = 0; b < HASH_BUCKETS && !err; b++) {
		for (struct ent *e = cl->ht[b]; e && !err; e = e->hnext) {
			bool want = ent_wanted(cl, e);

			if (e->kind == KIND_QUARANTINE)
				continue; /* quar_sync(), once the pods are in */

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
				case PW_KIND_SERVICE:
					v->u.svc.namespace = strdup(e->ns);
					v->u.svc.name = strdup(e->name);
					break;
				case PW_KIND_EPSLICE:
					v->u.eps.namespace = strdup(e->ns);
					v->u.eps.name = strdup(e->name);
					break;
				default:
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
			pwc_log_diags(cl, &diags);
			goto out;
		}
		for (size_t i = 0; i < np; i++)
			pv[i]->cp_rev = pv[i]->mod_rev;
	}
	if (dels.n) {
		err = pw_cp_delete(cl->o.cp, &dels, &diags);
		if (err) {
			pwc_log_diags(cl, &diags);
			goto out;
		}
		for (size_t i = 0; i < nd; i++)
			dv[i]->cp_rev = 0;
	}
	cl->last_sync_changes = puts.n + dels.n;
	if ((puts.n || dels.n) && cl->o.pods_changed)
		cl->o.pods_changed(cl->o.ctx);
	if (quar_sync(cl) && cl->o.quarantines_changed)
		cl->o.quarantines_changed(cl->o.ctx);
	ents_prune(cl);
out:
	if (err) {
		cl->core_errors++;
		pwc_log(cl, PW_LOG_ERROR,
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

/* A listing: everything it does not hold was deleted meanwhile (keys and nodes alike). */
void pwc_list_begin(struct pw_cluster *cl)
{
	for (size_t b = 0; b < HASH_BUCKETS; b++)
		for (struct ent *e = cl->ht[b]; e; e = e->hnext)
			e->seen = false;
	for (size_t i = 0; i < cl->n_nodes; i++)
		cl->nodes[i].seen = false;
}

void pwc_list_end(struct pw_cluster *cl)
{
	cl->quar_dirty = true; /* a quarantine may have gone, or be restored from the state file */
	for (size_t b = 0; b < HASH_BUCKETS; b++)
		for (struct ent *e = cl->ht[b]; e; e = e->hnext)
			if (!e->seen && e->value) {
				free(e->value);
				e->value = NULL;
			}
	for (size_t i = 0; i < cl->n_nodes;)
		if (!cl->nodes[i].seen)
			pwc_node_update(cl, cl->nodes[i].name, NULL, 0);
		else
			i++;
}

void pwc_ents_free(struct pw_cluster *cl)
{
	for (size_t b = 0; cl->ht && b < HASH_BUCKETS; b++) {
		struct ent *e = cl->ht[b], *n;

		for (; e; e = n) {
			n = e->hnext;
			ent_free(e);
		}
	}
	free(cl->ht);
	cl->ht = NULL;
	for (size_t i = 0; i < cl->n_nodes; i++)
		free(cl->nodes[i].name);
	free(cl->nodes);
	cl->nodes = NULL;
	cl->n_nodes = 0;
}
