// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Cluster mode: `podwall apply/delete` write through etcd (transactions of at most
 * --max-txn-ops objects) and answer once every live node enforces the change.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libfyaml.h>

#include "cluster_int.h"
#include "store.h"

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

json_object *pwc_error_res(const char *fmt, ...)
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

static json_object *ok_res(json_object *objects, const char *list_key, int64_t rev)
{
	json_object *o = json_object_new_object(), *r = json_object_new_object();

	json_object_object_add(r, list_key, objects);
	if (!strcmp(list_key, "objects"))
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

void pwc_check_waiters(struct pw_cluster *cl)
{
	int64_t now = pwc_now_ms();
	struct waiter *w, *next;
	char buf[1024];

	for (w = cl->waiters; w; w = next) {
		next = w->next;
		if (!w->reply)
			continue; /* orphaned: its transaction's answer frees it */
		if (!w->rev)
			continue; /* its transactions are in flight (each has its own timeout) */
		if (!laggards(cl, w->rev, buf, sizeof(buf))) {
			waiter_reply(cl, w,
				     ok_res(json_object_get(w->objects), w->list_key, w->rev));
		} else if (now >= w->deadline_ms) {
			waiter_reply(
				cl, w,
				pwc_error_res("timed out after %.3gs: the change is stored in etcd "
					  "(revision %lld) but not yet enforced by: %s%s",
					  (double)w->timeout_ms / 1000, (long long)w->rev, buf,
					  cl->up ? "" : "; etcd is unreachable"));
		}
	}
}

static void txn_next(struct waiter *w);

static void on_txn(void *ctx, int err, json_object *resp, const char *msg)
{
	struct waiter *w = ctx;
	struct pw_cluster *cl = w->cl;
	json_object *hdr;

	/* a waiter lives until its transaction answers, even when its client went away */
	w->busy = false;
	if (!w->reply) {
		waiter_reply(cl, w, NULL);
		return;
	}
	if (err) {
		waiter_reply(cl, w,
			     pwc_error_res("%s: %s", msg,
				       w->next_op > 1 ? "the first part of the change is stored, "
							"the rest is not"
						      : "nothing changed"));
		return;
	}
	if (!json_object_get_boolean(json_object_object_get(resp, "succeeded"))) {
		waiter_reply(cl, w,
			     pwc_error_res("not found: %s is no longer in etcd: nothing changed",
				       strcmp(w->list_key, "objects") ? "a quarantine to lift"
								      : "an object to delete"));
		return;
	}
	if (json_object_object_get_ex(resp, "header", &hdr))
		w->rev = pw_etcd_get_i64(hdr, "revision");
	if (w->next_op < json_object_array_length(w->ops)) {
		w->rev = 0;
		txn_next(w);
		return;
	}
	pwc_check_waiters(cl);
}

static void txn_next(struct waiter *w)
{
	json_object *b = json_object_array_get_idx(w->ops, w->next_op++);

	w->busy = true;
	if (pw_etcd_call(w->cl->etcd, "/v3/kv/txn", json_object_get(b), CALL_TIMEOUT_MS, on_txn,
			 w)) {
		w->busy = false;
		waiter_reply(w->cl, w, pwc_error_res("out of memory: nothing changed"));
	}
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

/*
 * One put (value) or delete (NULL: the key must still be there, or the transaction fails
 * and nothing changes: "not found", as kubectl) into the transactions of t; etcd refuses a
 * transaction of more than --max-txn-ops operations, so a new one starts every TXN_MAX_OPS.
 */
void pwc_txn_add(struct pwc_txns *t, const char *key, const char *value)
{
	json_object *op = json_object_new_object(), *rq = json_object_new_object();

	if (!t->txn || t->n == TXN_MAX_OPS) {
		t->txn = json_object_new_object();
		t->succ = json_object_new_array();
		t->cmp = json_object_new_array();
		json_object_object_add(t->txn, "compare", t->cmp);
		json_object_object_add(t->txn, "success", t->succ);
		json_object_array_add(t->ops, t->txn);
		t->n = 0;
	}
	json_object_object_add(rq, "key", pw_etcd_str(key));
	if (!value) {
		json_object *c = json_object_new_object();

		json_object_object_add(c, "key", pw_etcd_str(key));
		json_object_object_add(c, "target", json_object_new_string("VERSION"));
		json_object_object_add(c, "result", json_object_new_string("GREATER"));
		json_object_object_add(c, "version", pw_etcd_i64(0));
		json_object_array_add(t->cmp, c);
		json_object_object_add(op, "request_delete_range", rq);
	} else {
		json_object_object_add(rq, "value", pw_etcd_str(value));
		json_object_object_add(op, "request_put", rq);
	}
	json_object_array_add(t->succ, op);
	t->n++;
}

/*
 * Run the transactions ops (taken, with objects) and answer through reply once every live node
 * enforces them: NULL then. With nothing to write, the answer is returned at once.
 */
json_object *pwc_waiter_start(struct pw_cluster *cl, json_object *objects, json_object *ops,
			      const char *list_key, int64_t timeout_ms, pw_cluster_reply_fn reply,
			      void *ctx)
{
	struct waiter *w;

	if (!json_object_array_length(ops)) {
		json_object_put(ops);
		return ok_res(objects, list_key, cl->enforced);
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		json_object_put(ops);
		json_object_put(objects);
		return pwc_error_res("out of memory: nothing changed");
	}
	w->cl = cl;
	w->ctx = ctx;
	w->reply = reply;
	w->list_key = list_key;
	w->objects = objects;
	w->ops = ops;
	w->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
	w->deadline_ms = pwc_now_ms() + w->timeout_ms;
	w->next = cl->waiters;
	cl->waiters = w;
	txn_next(w);
	return NULL;
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
	size_t nt = 0;
	json_object *objects = json_object_new_array(), *res = NULL;
	struct pwc_txns txb = {.ops = json_object_new_array()};
	char **keys = NULL;
	int err;

	if (cl->phase != PH_WATCH || !cl->up) {
		res = pwc_error_res("etcd is unreachable%s%s: nothing changed (this node goes on "
				"enforcing what it had)",
				cl->last_error[0] ? ": " : "", cl->last_error);
		goto out;
	}
	err = split_docs(docs, &tv, &nt);
	if (err) {
		res = pwc_error_res("cannot split the manifests into objects: %s", strerror(-err));
		goto out;
	}
	keys = calloc(nt + 1, sizeof(*keys));
	if (!keys) {
		res = pwc_error_res("out of memory: nothing changed");
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
			res = pwc_error_res("%s: an object does not survive its conversion to JSON "
					"(%s): nothing changed",
					tv[i].doc, diags.n ? diags.v[0].text : "not one object");
			pw_manifest_free(m);
			pw_diags_clear(&diags);
			goto out;
		}
		pw_diags_clear(&diags);
		o = &m->objs[0];
		keys[i] = pwc_obj_key(cl, o->kind, pw_obj_ns(o), pw_obj_name(o));
		e = keys[i] ? pwc_ent_find(cl, keys[i]) : NULL;
		if (del) {
			if (!e || !e->value) {
				res = pwc_error_res("%s \"%s\" not found: nothing changed",
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
		pwc_txn_add(&txb, keys[i], del ? NULL : tv[i].text);
	}
	res = pwc_waiter_start(cl, objects, txb.ops, "objects", timeout_ms, reply, ctx);
	objects = txb.ops = NULL;
out:
	for (size_t i = 0; keys && i < nt; i++)
		free(keys[i]);
	free(keys);
	objtexts_free(tv, nt);
	json_object_put(objects);
	json_object_put(txb.ops);
	return res;
}

void pw_cluster_forget(struct pw_cluster *cl, void *ctx)
{
	struct waiter *w, *next;

	if (!cl)
		return;
	for (w = cl->waiters; w; w = next) {
		next = w->next;
		if (w->ctx != ctx)
			continue;
		w->reply = NULL;
		/* with a transaction in flight, its answer frees the waiter */
		if (!w->busy)
			waiter_reply(cl, w, NULL);
	}
}

void pwc_waiters_free(struct pw_cluster *cl)
{
	while (cl->waiters) {
		cl->waiters->reply = NULL;
		waiter_reply(cl, cl->waiters, NULL);
	}
}
