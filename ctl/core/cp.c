// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#define _GNU_SOURCE /* asprintf */
/*
 * The control-plane core: store -> compile -> reconcile, one transaction per call.
 *
 * A call stages its changes in the store (which logs what it replaced), compiles the new
 * desired state (incrementally, from the last written one), and writes the difference. If any
 * step fails, the store is rolled back and, when the kernel write failed midway, the previous
 * desired state is written again: the last good policy stays enforced.
 */
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "compile.h"
#include "cp.h"
#include "reconcile.h"
#include "store.h"

struct pw_cp {
	struct pw_dp *dp;
	pw_log_fn log;
	void *log_ctx;
	char *cgroup_root;
	struct pw_state st;
	struct pw_desired cur; /* what the maps hold */
	bool written;	       /* cur is our own compile result (else read back at start) */
	bool hold;
	struct pw_stray_ep *strays;
	size_t n_strays;
	/* endpoints found in the pinned maps at start: pods that come back keep their ep_id */
	struct pw_endpoint *rec_eps;
	size_t n_rec_eps;
	uint64_t mark;
	uint64_t syncs, sync_failures;
	struct pw_rstats last;
	char cookie_buf[512];
};

static void cp_log(struct pw_cp *cp, enum pw_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void cp_log(struct pw_cp *cp, enum pw_log_level lvl, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (!cp->log)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	cp->log(cp->log_ctx, lvl, buf);
}

static void diag_add(struct pw_diags *d, const struct pw_object *o, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void diag_add(struct pw_diags *d, const struct pw_object *o, const char *fmt, ...)
{
	struct pw_diag *v, *g;
	char msg[512];
	va_list ap;

	if (!d)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	v = realloc(d->v, (d->n + 1) * sizeof(*v));
	if (!v)
		return;
	d->v = v;
	g = &v[d->n];
	memset(g, 0, sizeof(*g));
	g->level = PW_DIAG_ERROR;
	g->doc = o ? o->src.doc : 0;
	g->line = o ? o->src.line : 0;
	g->path = strdup("");
	g->msg = strdup(msg);
	if (o && o->src.file) {
		if (asprintf(&g->text, "%s: document %u (%s %s%s%s): %s", o->src.file, o->src.doc,
			     pw_kind_str(o->kind), pw_obj_ns(o), *pw_obj_ns(o) ? "/" : "",
			     pw_obj_name(o), msg) < 0)
			g->text = NULL;
	} else {
		g->text = strdup(msg);
	}
	if (!g->path || !g->msg || !g->text) {
		free(g->path);
		free(g->msg);
		free(g->text);
		return;
	}
	d->n++;
	d->n_errors++;
}

/* --- start-up --------------------------------------------------------------------------------- */

static int recover(struct pw_cp *cp)
{
	struct pw_current cur;
	size_t i;
	int err;

	err = pw_reconcile_read(cp->dp, &cur);
	if (err) {
		cp_log(cp, PW_LOG_ERROR, "cannot read the pinned maps back: %s", strerror(-err));
		return err;
	}
	for (i = 0; i < cur.d.n_ipc && !err; i++) {
		const struct pw_dipc *e = &cur.d.ipc[i];
		unsigned int full = e->prefix.family == PW_FAMILY_V4 ? 32 : 128;

		if (e->identity & PW_ID_CIDR_FLAG) {
			err = pw_idtab_hint_prefix(&cp->st.ids, &e->prefix, e->identity);
		} else if (e->identity >= PW_ID_FIRST_LOCAL && e->prefix.prefixlen == full) {
			struct pw_addr a = {.family = e->prefix.family};

			memcpy(a.a, e->prefix.a, sizeof(a.a));
			err = pw_idtab_hint_addr(&cp->st.ids, &a, e->identity);
		}
	}
	if (err)
		goto out;
	if (cur.d.n_eps) {
		cp->rec_eps = malloc(cur.d.n_eps * sizeof(*cp->rec_eps));
		if (!cp->rec_eps) {
			err = -ENOMEM;
			goto out;
		}
		memcpy(cp->rec_eps, cur.d.eps, cur.d.n_eps * sizeof(*cp->rec_eps));
		cp->n_rec_eps = cur.d.n_eps;
		for (i = 0; i < cur.d.n_eps; i++) {
			if (cur.d.eps[i].ep_id >= cp->st.next_ep_id)
				cp->st.next_ep_id = cur.d.eps[i].ep_id + 1;
		}
	}
	cp_log(cp, PW_LOG_INFO,
	       "adopted %zu ipcache entries, %zu policy entries and %zu endpoints from the "
	       "pinned maps",
	       cur.d.n_ipc, pw_desired_policy_keys(&cur.d), cur.d.n_eps);
	cp->cur = cur.d;
	cp->strays = cur.strays;
	cp->n_strays = cur.n_strays;
	memset(&cur, 0, sizeof(cur));
out:
	pw_current_clear(&cur);
	return err;
}

int pw_cp_new(const struct pw_cp_opts *opts, struct pw_cp **out)
{
	struct pw_cp *cp;
	int err;

	if (!opts || opts->sz < sizeof(size_t) || !out)
		return -EINVAL;
	cp = calloc(1, sizeof(*cp));
	if (!cp)
		return -ENOMEM;
	pw_state_init(&cp->st);
	cp->dp = opts->dp;
	cp->log = opts->log;
	cp->log_ctx = opts->log_ctx;
	if (opts->cgroup_root) {
		cp->cgroup_root = strdup(opts->cgroup_root);
		if (!cp->cgroup_root) {
			err = -ENOMEM;
			goto fail;
		}
	}
	if (cp->dp) {
		err = recover(cp);
		if (err)
			goto fail;
	}
	*out = cp;
	return 0;
fail:
	pw_cp_free(cp);
	return err;
}

void pw_cp_free(struct pw_cp *cp)
{
	if (!cp)
		return;
	pw_state_clear(&cp->st);
	pw_desired_clear(&cp->cur);
	free(cp->strays);
	free(cp->rec_eps);
	free(cp->cgroup_root);
	free(cp);
}

/* --- the transaction -------------------------------------------------------------------------- */

static void resolve_pod(struct pw_cp *cp, struct pw_sobj *o, bool fresh)
{
	const struct pw_pod *pod = &o->obj.u.pod;
	size_t i;

	if (!o->local)
		return;
	if (pod->interface && (fresh || !o->ifindex))
		o->ifindex = if_nametoindex(pod->interface); /* 0: pending until the link appears */
	else if (!pod->interface)
		o->ifindex = 0;
	if (pod->cgroup && cp->cgroup_root && (fresh || !o->cgroup_id)) {
		char path[4096];
		struct stat sb;

		/* cgroup v2: a directory's inode number is what bpf_get_current_cgroup_id() gives
		 */
		snprintf(path, sizeof(path), "%s/%s", cp->cgroup_root, pod->cgroup);
		o->cgroup_id =
			stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) ? (uint64_t)sb.st_ino : 0;
	} else if (!pod->cgroup) {
		o->cgroup_id = 0;
	}
	if (o->ep_id)
		return;
	for (i = 0; i < cp->n_rec_eps; i++) {
		const struct pw_endpoint *r = &cp->rec_eps[i];

		if ((o->ifindex && r->ifindex == o->ifindex) ||
		    (o->cgroup_id && r->cgroup_id == o->cgroup_id)) {
			o->ep_id = r->ep_id;
			cp->rec_eps[i] = cp->rec_eps[--cp->n_rec_eps];
			return;
		}
	}
}

static void resolve_pods(struct pw_cp *cp)
{
	size_t i;

	/* objects this transaction wrote: their interface or cgroup may have changed */
	for (i = 0; i < cp->st.n_log; i++) {
		if (cp->st.log[i].kind == PW_KIND_POD && cp->st.log[i].cur)
			resolve_pod(cp, cp->st.log[i].cur, true);
	}
	for (i = 0; i < pw_state_count(&cp->st, PW_KIND_POD); i++)
		resolve_pod(cp, pw_state_at(&cp->st, PW_KIND_POD, i), false);
	pw_state_assign_ep_ids(&cp->st);
}

/* Compile and write what the store holds now; on failure undo the whole pending log. */
static int cp_sync(struct pw_cp *cp)
{
	struct pw_desired next = {0}, back = {0};
	struct pw_rstats st = {0};
	int err, err2;

	if (cp->hold)
		return 0;
	cp->syncs++;
	resolve_pods(cp);
	err = pw_compile(&cp->st, cp->written ? &cp->cur : NULL, &next);
	if (err)
		goto undo_store;
	if (cp->dp) {
		err = pw_reconcile_write(cp->dp, &cp->cur, &next, cp->strays, cp->n_strays,
					 !cp->written, false, &st);
		if (err) {
			cp_log(cp, PW_LOG_ERROR,
			       "writing the datapath failed (%s): restoring the previous policy",
			       strerror(-err));
			err2 = pw_desired_copy(&back, &cp->cur);
			if (!err2)
				err2 = pw_reconcile_write(cp->dp, &next, &back, NULL, 0, false,
							  false, NULL);
			if (err2) {
				cp_log(cp, PW_LOG_ERROR,
				       "restoring the previous policy failed too (%s): the maps "
				       "hold a "
				       "mix of both until the next change",
				       strerror(-err2));
				pw_desired_clear(&back);
			} else {
				pw_desired_clear(&cp->cur);
				cp->cur = back;
			}
			goto undo_store;
		}
	}
	cp->last = st;
	pw_desired_clear(&cp->cur);
	cp->cur = next;
	cp->written = true;
	free(cp->strays);
	cp->strays = NULL;
	cp->n_strays = 0;
	pw_state_commit(&cp->st);
	cp->st.ids.hints_done = true;
	free(cp->rec_eps);
	cp->rec_eps = NULL;
	cp->n_rec_eps = 0;
	return 0;
undo_store:
	cp->sync_failures++;
	pw_desired_clear(&next);
	pw_state_rollback(&cp->st);
	return err;
}

void pw_cp_hold(struct pw_cp *cp)
{
	cp->hold = true;
}

int pw_cp_flush(struct pw_cp *cp, struct pw_diags *diags)
{
	int err;

	cp->hold = false;
	err = cp_sync(cp);
	if (err)
		diag_add(diags, NULL, "cannot enforce the changes: %s", strerror(-err));
	return err;
}

/* End of one call: write it, or (held) keep it staged; undo this call's part on error. */
static int cp_finish(struct pw_cp *cp, size_t mark, int err, struct pw_diags *diags)
{
	if (err) {
		pw_state_rollback_to(&cp->st, mark);
		return err;
	}
	err = cp_sync(cp);
	if (err)
		diag_add(diags, NULL, "cannot enforce the changes: %s", strerror(-err));
	return err;
}

static int put_all(struct pw_cp *cp, const char *source, struct pw_manifest *m,
		   struct pw_diags *diags)
{
	size_t i;
	int err;

	cp->mark++;
	for (i = 0; i < m->n; i++) {
		struct pw_object *o = &m->objs[i];
		struct pw_sobj *so;
		char ns[256], name[256];
		enum pw_kind k = o->kind;

		if (!k)
			continue; /* moved out already */
		snprintf(ns, sizeof(ns), "%s", pw_obj_ns(o));
		snprintf(name, sizeof(name), "%s", pw_obj_name(o));
		err = pw_state_put(&cp->st, o, source);
		if (err) {
			diag_add(diags, o, "cannot store: %s", strerror(-err));
			return err;
		}
		so = pw_state_find(&cp->st, k, ns, name);
		if (so)
			so->mark = cp->mark;
	}
	return 0;
}

int pw_cp_apply(struct pw_cp *cp, const char *source, struct pw_manifest *m, struct pw_diags *diags)
{
	size_t mark;

	if (!cp || !source || !m)
		return -EINVAL;
	mark = cp->st.n_log;
	return cp_finish(cp, mark, put_all(cp, source, m, diags), diags);
}

int pw_cp_sync_source(struct pw_cp *cp, const char *source, struct pw_manifest *m,
		      struct pw_diags *diags)
{
	struct {
		enum pw_kind k;
		char *ns, *name;
	} *gone = NULL;
	size_t mark, n_gone = 0, i, k;
	int err;

	if (!cp || !source || !m)
		return -EINVAL;
	mark = cp->st.n_log;
	err = put_all(cp, source, m, diags);
	if (err)
		goto out;
	/* what this source wrote before and no longer holds */
	for (k = PW_KIND_NAMESPACE; k <= PW_KIND_NETPOL; k++) {
		for (i = 0; i < pw_state_count(&cp->st, k); i++) {
			struct pw_sobj *o = pw_state_at(&cp->st, k, i);
			void *nv;

			if (o->mark == cp->mark || strcmp(o->source, source))
				continue;
			nv = realloc(gone, (n_gone + 1) * sizeof(*gone));
			if (!nv) {
				err = -ENOMEM;
				goto out;
			}
			gone = nv;
			gone[n_gone].k = (enum pw_kind)k;
			gone[n_gone].ns = strdup(pw_obj_ns(&o->obj));
			gone[n_gone].name = strdup(pw_obj_name(&o->obj));
			n_gone++;
			if (!gone[n_gone - 1].ns || !gone[n_gone - 1].name) {
				err = -ENOMEM;
				goto out;
			}
		}
	}
	for (i = 0; i < n_gone && !err; i++)
		err = pw_state_delete(&cp->st, gone[i].k, gone[i].ns, gone[i].name);
out:
	for (i = 0; i < n_gone; i++) {
		free(gone[i].ns);
		free(gone[i].name);
	}
	free(gone);
	return cp_finish(cp, mark, err, diags);
}

int pw_cp_delete(struct pw_cp *cp, const struct pw_manifest *m, struct pw_diags *diags)
{
	size_t mark, i;
	int err = 0;

	if (!cp || !m)
		return -EINVAL;
	mark = cp->st.n_log;
	for (i = 0; i < m->n; i++) {
		const struct pw_object *o = &m->objs[i];
		int e;

		if (!o->kind)
			continue;
		e = pw_state_delete(&cp->st, o->kind, pw_obj_ns(o), pw_obj_name(o));
		if (e == -ENOENT) {
			/* kubectl's wording */
			diag_add(diags, o, "%s \"%s\" not found", pw_kind_str(o->kind),
				 pw_obj_name(o));
		} else if (e) {
			diag_add(diags, o, "cannot delete: %s", strerror(-e));
		}
		if (e && !err)
			err = e;
	}
	return cp_finish(cp, mark, err, diags);
}

int pw_cp_link_event(struct pw_cp *cp, const char *ifname, uint32_t ifindex)
{
	bool changed = false;
	size_t i, mark;

	if (!cp || !ifname)
		return -EINVAL;
	for (i = 0; i < pw_state_count(&cp->st, PW_KIND_POD); i++) {
		struct pw_sobj *o = pw_state_at(&cp->st, PW_KIND_POD, i);

		if (!o->local || !o->obj.u.pod.interface || strcmp(o->obj.u.pod.interface, ifname))
			continue;
		if (o->ifindex != ifindex) {
			o->ifindex = ifindex;
			changed = true;
		}
	}
	if (!changed)
		return 0;
	mark = cp->st.n_log;
	return cp_finish(cp, mark, 0, NULL);
}

/* --- queries ---------------------------------------------------------------------------------- */

static json_object *jlabels(const struct pw_labels *l)
{
	json_object *o = json_object_new_object();
	size_t i;

	for (i = 0; o && l && i < l->n; i++)
		json_object_object_add(o, l->v[i].key, json_object_new_string(l->v[i].value));
	return o;
}

static json_object *jstr(const char *s)
{
	return s ? json_object_new_string(s) : NULL;
}

static json_object *jpod_ips(const struct pw_pod *pod)
{
	json_object *a = json_object_new_array();
	char buf[64];
	size_t i;

	for (i = 0; a && i < pod->n_ips; i++)
		json_object_array_add(
			a, json_object_new_string(pw_addr_str(&pod->ips[i], buf, sizeof(buf))));
	return a;
}

static const char *pod_state(const struct pw_cp *cp, const struct pw_sobj *o)
{
	if (!o->local)
		return "remote";
	if (o->obj.u.pod.interface && !o->ifindex)
		return "pending";
	if (o->obj.u.pod.cgroup && !o->cgroup_id)
		return "pending";
	return "enforced";
}

static char *selector_text(const struct pw_selector *s)
{
	char *str = NULL;

	if (pw_selector_str(s, &str))
		return NULL;
	if (!*str) {
		free(str);
		return strdup("<none>"); /* as kubectl prints an empty selector */
	}
	return str;
}

static size_t np_selected(const struct pw_cp *cp, const struct pw_netpol *np)
{
	size_t i, n = 0;

	for (i = 0; i < pw_state_count(&cp->st, PW_KIND_POD); i++) {
		const struct pw_pod *p = &pw_state_at(&cp->st, PW_KIND_POD, i)->obj.u.pod;

		if (!strcmp(p->namespace, np->namespace) &&
		    pw_selector_matches(&np->pod_sel, &p->labels))
			n++;
	}
	return n;
}

static json_object *jtypes(unsigned int types)
{
	json_object *a = json_object_new_array();

	if (types & PW_NP_INGRESS)
		json_object_array_add(a, json_object_new_string("Ingress"));
	if (types & PW_NP_EGRESS)
		json_object_array_add(a, json_object_new_string("Egress"));
	return a;
}

static int cmp_obj(const void *a, const void *b)
{
	const struct pw_sobj *x = *(const struct pw_sobj *const *)a;
	const struct pw_sobj *y = *(const struct pw_sobj *const *)b;
	int c = strcmp(pw_obj_ns(&x->obj), pw_obj_ns(&y->obj));

	return c ? c : strcmp(pw_obj_name(&x->obj), pw_obj_name(&y->obj));
}

static json_object *jident_labels(const struct pw_ident *id)
{
	json_object *a = json_object_new_array();
	char *copy = strdup(id->key), *save = NULL, *tok;

	for (tok = copy ? strtok_r(copy, ";", &save) : NULL; tok; tok = strtok_r(NULL, ";", &save))
		json_object_array_add(a, json_object_new_string(tok));
	free(copy);
	return a;
}

static int get_identities(struct pw_cp *cp, const char *ns, json_object *arr)
{
	const struct pw_idtab *t = &cp->st.ids;
	char buf[64];
	size_t i;

	for (i = 0; i < t->n_ids; i++) {
		const struct pw_ident *id = t->ids[i];
		json_object *o;

		if (!id->refs || (ns && strcmp(ns, id->ns)))
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "identity", json_object_new_int64(id->id));
		json_object_object_add(o, "namespace", json_object_new_string(id->ns));
		json_object_object_add(o, "labels", jident_labels(id));
		json_object_object_add(o, "refs", json_object_new_int64(id->refs));
		json_object_object_add(o, "localPods", json_object_new_int64(id->local_refs));
		json_object_array_add(arr, o);
	}
	for (i = 0; !ns && i < t->n_cidrs; i++) {
		const struct pw_cidr_ident *c = t->cidrs[i];
		json_object *o, *l;

		if (!c->refs)
			continue;
		o = json_object_new_object();
		l = json_object_new_array();
		json_object_array_add(
			l, json_object_new_string(pw_prefix_str(&c->prefix, buf, sizeof(buf))));
		json_object_object_add(o, "identity", json_object_new_int64(c->id));
		json_object_object_add(o, "namespace", json_object_new_string(""));
		json_object_object_add(o, "labels", l);
		json_object_object_add(o, "cidr", json_object_new_string(buf));
		json_object_object_add(o, "refs", json_object_new_int64(c->refs));
		json_object_array_add(arr, o);
	}
	return 0;
}

int pw_cp_get(struct pw_cp *cp, enum pw_cp_list what, const char *ns, json_object **out)
{
	enum pw_kind k = what == PW_CP_NAMESPACES ? PW_KIND_NAMESPACE
			 : what == PW_CP_PODS	  ? PW_KIND_POD
						  : PW_KIND_NETPOL;
	const struct pw_sobj **v = NULL;
	json_object *arr;
	size_t i, n = 0;

	if (!cp || !out)
		return -EINVAL;
	arr = json_object_new_array();
	if (!arr)
		return -ENOMEM;
	if (what == PW_CP_IDENTITIES) {
		get_identities(cp, ns, arr);
		*out = arr;
		return 0;
	}
	v = malloc((pw_state_count(&cp->st, k) + 1) * sizeof(*v));
	if (!v) {
		json_object_put(arr);
		return -ENOMEM;
	}
	for (i = 0; i < pw_state_count(&cp->st, k); i++) {
		const struct pw_sobj *o = pw_state_at(&cp->st, k, i);

		if (ns && k != PW_KIND_NAMESPACE && strcmp(ns, pw_obj_ns(&o->obj)))
			continue;
		v[n++] = o;
	}
	qsort(v, n, sizeof(*v), cmp_obj);
	for (i = 0; i < n; i++) {
		const struct pw_sobj *so = v[i];
		json_object *o = json_object_new_object();

		json_object_object_add(o, "kind", json_object_new_string(pw_kind_str(k)));
		if (k != PW_KIND_NAMESPACE)
			json_object_object_add(o, "namespace", jstr(pw_obj_ns(&so->obj)));
		json_object_object_add(o, "name", jstr(pw_obj_name(&so->obj)));
		json_object_object_add(o, "source", jstr(so->source));
		if (k == PW_KIND_NAMESPACE) {
			json_object_object_add(o, "status", json_object_new_string("Active"));
			json_object_object_add(o, "labels", jlabels(&so->obj.u.ns.labels));
		} else if (k == PW_KIND_POD) {
			const struct pw_pod *p = &so->obj.u.pod;

			json_object_object_add(o, "ips", jpod_ips(p));
			json_object_object_add(o, "identity", json_object_new_int64(so->ident->id));
			json_object_object_add(o, "interface", jstr(p->interface));
			json_object_object_add(o, "cgroup", jstr(p->cgroup));
			json_object_object_add(o, "state",
					       json_object_new_string(pod_state(cp, so)));
			if (so->ep_id)
				json_object_object_add(o, "endpoint",
						       json_object_new_int64(so->ep_id));
			if (so->ifindex)
				json_object_object_add(o, "ifindex",
						       json_object_new_int64(so->ifindex));
			if (so->cgroup_id)
				json_object_object_add(
					o, "cgroupId",
					json_object_new_int64((int64_t)so->cgroup_id));
			json_object_object_add(o, "labels", jlabels(&p->labels));
		} else {
			const struct pw_netpol *np = &so->obj.u.np;
			char *sel = selector_text(&np->pod_sel);

			json_object_object_add(o, "podSelector", jstr(sel));
			free(sel);
			json_object_object_add(o, "policyTypes", jtypes(np->types));
			json_object_object_add(o, "ingressRules",
					       json_object_new_int64((int64_t)np->n_ingress));
			json_object_object_add(o, "egressRules",
					       json_object_new_int64((int64_t)np->n_egress));
			json_object_object_add(o, "selected",
					       json_object_new_int64((int64_t)np_selected(cp, np)));
		}
		json_object_array_add(arr, o);
	}
	free(v);
	*out = arr;
	return 0;
}

/* "ingress[0]" for a cookie; the policy's "ns/name" in cp's buffer */
const char *pw_cp_cookie_policy(struct pw_cp *cp, uint32_t cookie, char *rule, size_t rule_len)
{
	const struct pw_cookie *c;

	if (!cp || !cookie)
		return NULL;
	c = pw_cookie_get(&cp->st.ids, cookie);
	if (!c)
		return NULL;
	if (rule && rule_len)
		snprintf(rule, rule_len, "%s[%u]", c->dir == PW_DIR_EGRESS ? "egress" : "ingress",
			 c->rule);
	snprintf(cp->cookie_buf, sizeof(cp->cookie_buf), "%s/%s", c->ns, c->name);
	return cp->cookie_buf;
}

static json_object *jpeer(struct pw_cp *cp, uint32_t peer)
{
	const struct pw_cidr_ident *c;
	const struct pw_ident *id;
	char buf[160];

	if (peer == PW_ID_ANY)
		return json_object_new_string("any");
	if (peer == PW_ID_WORLD)
		return json_object_new_string("world");
	if (peer == PW_ID_HOST)
		return json_object_new_string("host");
	c = pw_cidr_get(&cp->st.ids, peer);
	if (c)
		return json_object_new_string(pw_prefix_str(&c->prefix, buf, sizeof(buf)));
	id = pw_ident_get(&cp->st.ids, peer);
	if (id)
		return json_object_new_string(id->key);
	snprintf(buf, sizeof(buf), "identity %u", peer);
	return json_object_new_string(buf);
}

static json_object *jentry(struct pw_cp *cp, const struct pw_dkey *k)
{
	json_object *o = json_object_new_object();
	char buf[32], rule[32];
	const char *pol;
	uint16_t lo, hi;

	json_object_object_add(o, "peerIdentity", json_object_new_int64(k->peer));
	json_object_object_add(o, "peer", jpeer(cp, k->peer));
	if (!k->proto) {
		json_object_object_add(o, "protocol", json_object_new_string("any"));
	} else {
		const char *ps = pw_proto_str(k->proto);

		snprintf(buf, sizeof(buf), "%u", k->proto);
		json_object_object_add(o, "protocol", json_object_new_string(ps ? ps : buf));
		pw_dkey_range(k, &lo, &hi);
		if (lo == hi)
			snprintf(buf, sizeof(buf), "%u", lo);
		else if (lo == 0 && hi == 0xffff)
			snprintf(buf, sizeof(buf), "any");
		else
			snprintf(buf, sizeof(buf), "%u-%u", lo, hi);
		json_object_object_add(o, "ports", json_object_new_string(buf));
	}
	pol = pw_cp_cookie_policy(cp, k->cookie, rule, sizeof(rule));
	if (pol) {
		json_object_object_add(o, "policy", json_object_new_string(pol));
		json_object_object_add(o, "rule", json_object_new_string(rule));
	}
	return o;
}

/*
 * The policies of the identity's namespace whose podSelector selects it for `type`: the ones
 * isolating its pods. Fills up to max (out may be NULL when max is 0); returns how many exist.
 */
static size_t policies_selecting(struct pw_cp *cp, const struct pw_ident *id, unsigned int type,
				 const struct pw_netpol **out, size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < pw_state_count(&cp->st, PW_KIND_NETPOL); i++) {
		const struct pw_netpol *np = &pw_state_at(&cp->st, PW_KIND_NETPOL, i)->obj.u.np;

		if (!(np->types & type) || strcmp(np->namespace, id->ns) ||
		    !pw_selector_matches(&np->pod_sel, &id->pod_labels))
			continue;
		if (n < max)
			out[n] = np;
		n++;
	}
	return n;
}

static json_object *jpolicies_selecting(struct pw_cp *cp, const struct pw_ident *id,
					unsigned int type)
{
	json_object *a = json_object_new_array();
	size_t i, n = policies_selecting(cp, id, type, NULL, 0);
	const struct pw_netpol **v = n ? calloc(n, sizeof(*v)) : NULL;
	char buf[512];

	if (n && !v)
		return a; /* json-c aborts on no memory anyway; keep the reply well formed */
	policies_selecting(cp, id, type, v, n);
	for (i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "%s/%s", v[i]->namespace, v[i]->name);
		json_object_array_add(a, json_object_new_string(buf));
	}
	free(v);
	return a;
}

int pw_cp_isolating(struct pw_cp *cp, uint32_t ep_id, uint8_t dir, const struct pw_netpol **out,
		    size_t max)
{
	const struct pw_endpoint *ep;
	const struct pw_ident *id;

	if (!cp || (max && !out) || (dir != PW_DIR_INGRESS && dir != PW_DIR_EGRESS))
		return -EINVAL;
	ep = ep_id ? pw_desired_endpoint(&cp->cur, ep_id) : NULL;
	id = ep ? pw_ident_get(&cp->st.ids, ep->identity) : NULL;
	if (!id)
		return -ENOENT;
	return (int)policies_selecting(cp, id, dir == PW_DIR_EGRESS ? PW_NP_EGRESS : PW_NP_INGRESS,
				       out, max);
}

int pw_cp_peer_cidr(struct pw_cp *cp, uint8_t family, const uint32_t addr[4], char *buf, size_t len)
{
	const struct pw_cidr_ident *c;
	struct pw_addr a = {0};
	uint32_t identity = 0, cidr_identity = 0;

	if (!cp || !addr || !buf || !len)
		return -EINVAL;
	if (family != PW_FAMILY_V4 && family != PW_FAMILY_V6)
		return -EINVAL;
	a.family = family;
	memcpy(a.a, addr, family == PW_FAMILY_V4 ? 4 : 16);
	pw_desired_ipcache_lookup(&cp->cur, &a, &identity, &cidr_identity);
	c = cidr_identity ? pw_cidr_get(&cp->st.ids, cidr_identity) : NULL;
	if (!c)
		return -ENOENT;
	pw_prefix_str(&c->prefix, buf, len);
	return 0;
}

int pw_cp_describe_pod(struct pw_cp *cp, const char *ns, const char *name, json_object **out)
{
	const struct pw_dsubject *s;
	const struct pw_endpoint *ep;
	struct pw_sobj *so;
	json_object *o, *in, *eg;
	size_t i;

	if (!cp || !ns || !name || !out)
		return -EINVAL;
	so = pw_state_find(&cp->st, PW_KIND_POD, ns, name);
	if (!so)
		return -ENOENT;
	o = json_object_new_object();
	json_object_object_add(o, "namespace", json_object_new_string(ns));
	json_object_object_add(o, "name", json_object_new_string(name));
	json_object_object_add(o, "labels", jlabels(&so->obj.u.pod.labels));
	json_object_object_add(o, "ips", jpod_ips(&so->obj.u.pod));
	json_object_object_add(o, "identity", json_object_new_int64(so->ident->id));
	json_object_object_add(o, "identityLabels", jident_labels(so->ident));
	json_object_object_add(o, "state", json_object_new_string(pod_state(cp, so)));
	json_object_object_add(o, "interface", jstr(so->obj.u.pod.interface));
	json_object_object_add(o, "cgroup", jstr(so->obj.u.pod.cgroup));
	ep = so->ep_id ? pw_desired_endpoint(&cp->cur, so->ep_id) : NULL;
	if (ep) {
		json_object *e = json_object_new_object();

		json_object_object_add(e, "id", json_object_new_int64(ep->ep_id));
		json_object_object_add(e, "ifindex", json_object_new_int64(ep->ifindex));
		json_object_object_add(e, "cgroupId",
				       json_object_new_int64((int64_t)ep->cgroup_id));
		json_object_object_add(e, "policyGeneration",
				       json_object_new_int64(ep->policy_gen));
		json_object_object_add(o, "endpoint", e);
	}
	json_object_object_add(o, "ingressPolicies",
			       jpolicies_selecting(cp, so->ident, PW_NP_INGRESS));
	json_object_object_add(o, "egressPolicies",
			       jpolicies_selecting(cp, so->ident, PW_NP_EGRESS));
	s = pw_desired_subject(&cp->cur, so->ident->id);
	json_object_object_add(o, "ingressIsolated",
			       json_object_new_boolean(s && (s->flags & PW_EP_F_ISOLATE_INGRESS)));
	json_object_object_add(o, "egressIsolated",
			       json_object_new_boolean(s && (s->flags & PW_EP_F_ISOLATE_EGRESS)));
	in = json_object_new_array();
	eg = json_object_new_array();
	for (i = 0; s && i < s->n; i++)
		json_object_array_add(s->keys[i].dir == PW_DIR_EGRESS ? eg : in,
				      jentry(cp, &s->keys[i]));
	json_object_object_add(o, "ingress", in);
	json_object_object_add(o, "egress", eg);
	*out = o;
	return 0;
}

/* An explain end: an address, and the local pod behind it (if any). */
struct xend {
	struct pw_addr addr;
	struct pw_sobj *pod;
};

static int resolve_end(struct pw_cp *cp, const struct pw_cp_endpoint_ref *r, struct xend *e)
{
	size_t i, j;

	memset(e, 0, sizeof(*e));
	if (r->addr) {
		if (pw_addr_parse(r->addr, &e->addr))
			return -EINVAL;
		/* an address of a known pod is that pod */
		for (i = 0; i < pw_state_count(&cp->st, PW_KIND_POD) && !e->pod; i++) {
			struct pw_sobj *o = pw_state_at(&cp->st, PW_KIND_POD, i);

			for (j = 0; j < o->obj.u.pod.n_ips; j++) {
				if (!memcmp(&o->obj.u.pod.ips[j], &e->addr, sizeof(e->addr)))
					e->pod = o;
			}
		}
		return 0;
	}
	if (!r->ns || !r->name)
		return -EINVAL;
	e->pod = pw_state_find(&cp->st, PW_KIND_POD, r->ns, r->name);
	if (!e->pod)
		return -ENOENT;
	if (!e->pod->obj.u.pod.n_ips)
		return -EADDRNOTAVAIL;
	e->addr = e->pod->obj.u.pod.ips[0];
	return 0;
}

/* One side of the decision, evaluated on what the maps hold (cur). */
static json_object *explain_side(struct pw_cp *cp, const struct xend *self, const struct xend *peer,
				 uint8_t dir, uint8_t proto, uint16_t port, bool *denied)
{
	json_object *o = json_object_new_object();
	const struct pw_endpoint *ep = NULL;
	uint32_t cookie = 0, peer_id = 0;
	char rule[32];
	const char *pol;
	int r;

	*denied = false;
	json_object_object_add(o, "direction", json_object_new_string(pw_dir_str(dir)));
	if (self->pod && self->pod->ep_id)
		ep = pw_desired_endpoint(&cp->cur, self->pod->ep_id);
	if (self->pod && self->addr.family != peer->addr.family) {
		json_object_object_add(o, "error",
				       json_object_new_string("address families differ"));
	}
	if (!ep) {
		json_object_object_add(o, "enforced", json_object_new_boolean(false));
		json_object_object_add(o, "reason",
				       json_object_new_string(pw_reason_str(PW_OK_NO_ENDPOINT)));
		return o;
	}
	r = pw_desired_decide(&cp->cur, ep->identity, ep->flags, dir, &peer->addr, proto, port,
			      &cookie, &peer_id);
	json_object_object_add(o, "enforced", json_object_new_boolean(true));
	json_object_object_add(o, "identity", json_object_new_int64(ep->identity));
	json_object_object_add(o, "peerIdentity", json_object_new_int64(peer_id));
	json_object_object_add(o, "peer", jpeer(cp, peer_id));
	json_object_object_add(o, "reason", json_object_new_string(pw_reason_str((unsigned)r)));
	pol = pw_cp_cookie_policy(cp, cookie, rule, sizeof(rule));
	if (pol) {
		json_object_object_add(o, "policy", json_object_new_string(pol));
		json_object_object_add(o, "rule", json_object_new_string(rule));
	}
	if (pw_reason_is_drop((unsigned)r)) {
		*denied = true;
		json_object_object_add(
			o, "isolatedBy",
			jpolicies_selecting(cp, self->pod->ident,
					    dir == PW_DIR_EGRESS ? PW_NP_EGRESS : PW_NP_INGRESS));
	}
	return o;
}

int pw_cp_explain(struct pw_cp *cp, const struct pw_cp_endpoint_ref *from,
		  const struct pw_cp_endpoint_ref *to, uint8_t proto, uint16_t port,
		  json_object **out)
{
	struct xend f, t;
	json_object *o;
	bool d1, d2;
	int err;

	if (!cp || !from || !to || !out)
		return -EINVAL;
	err = resolve_end(cp, from, &f);
	if (!err)
		err = resolve_end(cp, to, &t);
	if (err)
		return err;
	o = json_object_new_object();
	json_object_object_add(o, "egress",
			       explain_side(cp, &f, &t, PW_DIR_EGRESS, proto, port, &d1));
	json_object_object_add(o, "ingress",
			       explain_side(cp, &t, &f, PW_DIR_INGRESS, proto, port, &d2));
	json_object_object_add(o, "verdict",
			       json_object_new_string(d1 || d2 ? "denied" : "allowed"));
	json_object_object_add(o, "protocol", jstr(pw_proto_str(proto)));
	json_object_object_add(o, "port", json_object_new_int(port));
	*out = o;
	return 0;
}

int pw_cp_status(struct pw_cp *cp, json_object **out)
{
	json_object *o, *maps, *pend, *met;
	size_t i, n_pods = pw_state_count(&cp->st, PW_KIND_POD), n_local = 0;

	if (!cp || !out)
		return -EINVAL;
	o = json_object_new_object();
	maps = json_object_new_array();
	pend = json_object_new_array();
	for (i = 0; cp->dp && i < PW_DPMAP_COUNT; i++) {
		struct pw_map_usage u;
		json_object *m;

		if (i == PW_DPMAP_EVENTS || pw_dp_map_usage(cp->dp, (enum pw_dp_map)i, &u))
			continue;
		m = json_object_new_object();
		json_object_object_add(m, "name", jstr(u.name));
		json_object_object_add(m, "maxEntries", json_object_new_int64(u.max_entries));
		json_object_object_add(m, "entries", json_object_new_int64((int64_t)u.entries));
		json_object_array_add(maps, m);
	}
	json_object_object_add(o, "maps", maps);
	for (i = 0; i < n_pods; i++) {
		const struct pw_sobj *so = pw_state_at(&cp->st, PW_KIND_POD, i);
		char buf[512];

		if (!so->local)
			continue;
		n_local++;
		if (strcmp(pod_state(cp, so), "pending"))
			continue;
		snprintf(buf, sizeof(buf), "%s/%s", so->obj.u.pod.namespace, so->obj.u.pod.name);
		json_object_array_add(pend, json_object_new_string(buf));
	}
	json_object_object_add(o, "pendingPods", pend);
	json_object_object_add(
		o, "namespaces",
		json_object_new_int64((int64_t)pw_state_count(&cp->st, PW_KIND_NAMESPACE)));
	json_object_object_add(o, "pods", json_object_new_int64((int64_t)n_pods));
	json_object_object_add(o, "localPods", json_object_new_int64((int64_t)n_local));
	json_object_object_add(
		o, "networkPolicies",
		json_object_new_int64((int64_t)pw_state_count(&cp->st, PW_KIND_NETPOL)));
	json_object_object_add(o, "identities", json_object_new_int64((int64_t)cp->st.ids.n_ids));
	json_object_object_add(o, "cidrIdentities",
			       json_object_new_int64((int64_t)cp->st.ids.n_cidrs));
	json_object_object_add(o, "subjects", json_object_new_int64((int64_t)cp->cur.n_subjects));
	json_object_object_add(o, "policyKeys",
			       json_object_new_int64((int64_t)pw_desired_policy_keys(&cp->cur)));
	json_object_object_add(o, "syncs", json_object_new_int64((int64_t)cp->syncs));
	json_object_object_add(o, "syncFailures",
			       json_object_new_int64((int64_t)cp->sync_failures));
	json_object_object_add(o, "lastSyncRecompiled",
			       json_object_new_int64((int64_t)cp->cur.n_recompiled));
	if (cp->dp) {
		struct pw_metric m[PW_METRICS_SLOTS];

		met = json_object_new_array();
		if (!pw_dp_metrics_read(cp->dp, m)) {
			unsigned int r, d;

			for (r = 0; r < PW_REASON_MAX; r++) {
				for (d = 0; d < PW_DIR_MAX; d++) {
					const struct pw_metric *x = &m[PW_METRIC_IDX(r, d)];
					json_object *e;

					if (!x->packets)
						continue;
					e = json_object_new_object();
					json_object_object_add(
						e, "reason",
						json_object_new_string(pw_reason_str(r)));
					json_object_object_add(
						e, "direction",
						json_object_new_string(pw_dir_str(d)));
					json_object_object_add(
						e, "packets",
						json_object_new_int64((int64_t)x->packets));
					json_object_object_add(
						e, "bytes",
						json_object_new_int64((int64_t)x->bytes));
					json_object_array_add(met, e);
				}
			}
		}
		json_object_object_add(o, "metrics", met);
	}
	*out = o;
	return 0;
}
