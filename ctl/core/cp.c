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
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cnibind_int.h"
#include "compile.h"
#include "cp.h"
#include "cp_impl.h"
#include "reconcile.h"
#include "store.h"


void cp_log(struct pw_cp *cp, enum pw_log_level lvl, const char *fmt, ...)
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

static void svc_err(void *ctx, const struct pw_object *o, const char *msg)
{
	diag_add(ctx, o, "%s", msg);
}

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
	cp->st.ids.derived = opts->derived_ids;
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
	{
		char why[256] = "";
		const char *cidrs = opts->sz >= offsetof(struct pw_cp_opts, service_cidrs) +
							    sizeof(opts->service_cidrs)
					    ? opts->service_cidrs
					    : NULL;

		err = pw_svcs_new(cidrs, &cp->svcs, why, sizeof(why));
		if (err) {
			if (why[0])
				cp_log(cp, PW_LOG_ERROR, "%s", why);
			goto fail;
		}
	}
	if (cp->dp) {
		err = recover(cp);
		if (!err)
			err = pw_svcs_recover(cp->svcs, cp->dp);
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
	pw_binds_clear(&cp->binds);
	pw_state_clear(&cp->st);
	pw_svcs_free(cp->svcs);
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
	err = pw_svcs_sync(cp->svcs, cp->dp, &cp->st, cp->cgroup_root);
	if (err) {
		cp_log(cp, PW_LOG_ERROR, "writing the Service maps failed (%s): restoring them",
		       strerror(-err));
		goto undo_store;
	}
	err = pw_compile(&cp->st, cp->written ? &cp->cur : NULL, &next);
	if (!err)
		err = pw_binds_failclosed(&cp->binds, &cp->st, &next);
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
	/* the Service tables follow the store back (they are a function of it) */
	if (pw_svcs_sync(cp->svcs, cp->dp, &cp->st, cp->cgroup_root))
		cp_log(cp, PW_LOG_ERROR,
		       "restoring the Service maps failed: they hold a mix "
		       "until the next change");
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
	/* what the hold deferred: every slice's Service, once every source is in */
	err = pw_svcs_check(cp->svcs, &cp->st, 0, true, svc_err, diags);
	if (err) {
		pw_state_rollback(&cp->st);
		return err;
	}
	err = cp_sync(cp);
	if (err)
		diag_add(diags, NULL, "cannot enforce the changes: %s", strerror(-err));
	return err;
}

/* End of one call: write it, or (held) keep it staged; undo this call's part on error. */
int cp_finish(struct pw_cp *cp, size_t mark, int err, struct pw_diags *diags)
{
	/*
	 * This call's objects: a bad Service refuses its own input, also while holding at
	 * start-up (one bad manifest file must not keep the others out)
	 */
	if (!err)
		err = pw_svcs_check(cp->svcs, &cp->st, mark, !cp->hold, svc_err, diags);
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
		if (k == PW_KIND_POD)
			pw_binds_overlay(&cp->binds, &o->u.pod);
		err = pw_state_put(&cp->st, o, source);
		if (err) {
			diag_add(diags, o, "cannot store: %s", strerror(-err));
			return err;
		}
		so = pw_state_find(&cp->st, k, ns, name);
		if (so)
			so->mark = cp->mark;
		if (so && k == PW_KIND_POD)
			pw_binds_after_put(&cp->binds, so);
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
	for (k = PW_KIND_NAMESPACE; k < PW_KIND_COUNT; k++) {
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
	if (pw_binds_link_event(&cp->binds, ifname, ifindex))
		changed = true;
	if (!changed)
		return 0;
	mark = cp->st.n_log;
	return cp_finish(cp, mark, 0, NULL);
}

/* --- quarantine ---------------------------------------------------------------------------- */

/* The endpoint the maps hold for a pod (by namespace and name), or NULL. */
static const struct pw_endpoint *pod_endpoint(struct pw_cp *cp, const struct pw_cp_qref *r)
{
	const struct pw_sobj *so = pw_state_find(&cp->st, PW_KIND_POD, r->ns, r->name);

	return so && so->ep_id ? pw_desired_endpoint(&cp->cur, so->ep_id) : NULL;
}

/*
 * Cut first, compile after: the quarantined pods' endpoints get their flag in the kernel
 * before the (incremental, but not free) compile and reconcile, which then write the same
 * value. The kernel's own copy is the base, so a generation bumped meanwhile stays. undo
 * (the sync failed): the flags go back to what cur says.
 */
static void quarantine_fast(struct pw_cp *cp, const struct pw_cp_qref *pods, size_t n,
			    const struct pw_cp_qopts *o, bool undo)
{
	size_t i;

	for (i = 0; cp->dp && i < n; i++) {
		const struct pw_endpoint *cur = pod_endpoint(cp, &pods[i]);
		struct pw_endpoint ep;

		if (!cur)
			continue;
		ep = *cur;
		if (ep.ifindex && pw_dp_endpoint_lookup_ifindex(cp->dp, ep.ifindex, &ep))
			ep = *cur;
		ep.flags &= ~(PW_EP_F_QUARANTINE | PW_EP_F_QUARANTINE_DNS);
		if (undo)
			ep.flags |= cur->flags & (PW_EP_F_QUARANTINE | PW_EP_F_QUARANTINE_DNS);
		else
			ep.flags |=
				PW_EP_F_QUARANTINE | (o->allow_dns ? PW_EP_F_QUARANTINE_DNS : 0);
		pw_dp_endpoint_upsert(cp->dp, &ep); /* the sync writes it anyway (or failed) */
	}
}

int pw_cp_quarantine(struct pw_cp *cp, const struct pw_cp_qref *pods, size_t n, bool lift,
		     const struct pw_cp_qopts *o, struct pw_diags *diags)
{
	struct pw_qtab back;
	size_t i;
	int err;

	if (!cp || (n && !pods) || (!lift && !o))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		bool known = lift ? pw_qtab_find(&cp->st.qt, pods[i].ns, pods[i].name) != NULL
				  : pw_state_find(&cp->st, PW_KIND_POD, pods[i].ns, pods[i].name) !=
					     NULL;

		if (!known && (lift || o->must_exist)) {
			diag_add(diags, NULL, "pods \"%s\" %s in namespace \"%s\"", pods[i].name,
				 lift ? "is not quarantined" : "not found", pods[i].ns);
			return -ENOENT;
		}
	}
	err = pw_qtab_copy(&back, &cp->st.qt);
	for (i = 0; i < n && !err; i++) {
		if (lift)
			pw_qtab_del(&cp->st.qt, pods[i].ns, pods[i].name);
		else
			err = pw_qtab_put(&cp->st.qt, pods[i].ns, pods[i].name, o->since, o->reason,
					  o->allow_dns);
	}
	if (!err && !lift && !cp->hold)
		quarantine_fast(cp, pods, n, o, false);
	if (!err)
		err = cp_sync(cp);
	if (err) {
		if (!lift && !cp->hold)
			quarantine_fast(cp, pods, n, o, true);
		diag_add(diags, NULL, "cannot %s: %s", lift ? "lift the quarantine" : "quarantine",
			 strerror(-err));
		pw_qtab_clear(&cp->st.qt);
		cp->st.qt = back;
		return err;
	}
	pw_qtab_clear(&back);
	return 0;
}
