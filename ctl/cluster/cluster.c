// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Cluster mode over etcd: grant a lease, list at a revision, watch from the next, feed the
 * core, and keep this node's key (under its lease) at the revision it enforces.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_int.h"

/* --- the connection ------------------------------------------------------------------------- */

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
		pwc_log(cl, PW_LOG_WARN,
			"etcd: %s; enforcement stays as it is, retrying every %d ms", why,
			RETRY_MS);
	}
	cl->up = false;
	snprintf(cl->last_error, sizeof(cl->last_error), "%s", why);
	pw_etcd_watch_stop(cl->etcd);
	cl->phase = PH_DOWN;
	cl->epoch++;
	cl->retry_at_ms = pwc_now_ms() + RETRY_MS;
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
		pwc_log(cl, PW_LOG_WARN,
			"etcd compacted revision %lld away before this node watched it: "
			"listing again",
			(long long)pw_etcd_get_i64(res, "compact_revision"));
		relist(cl);
		return;
	}
	if (json_object_get_boolean(json_object_object_get(res, "canceled"))) {
		const char *why =
			json_object_get_string(json_object_object_get(res, "cancel_reason"));

		pwc_log(cl, PW_LOG_WARN, "etcd canceled the watch (%s): listing again",
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
			pwc_node_update(cl, key + strlen(cl->nodes_pfx), del ? NULL : val, rev);
			nodes_changed = true;
		} else if (!pwc_ent_update(cl, key, del ? NULL : val, del ? 0 : vlen, rev)) {
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
		if (pwc_core_sync(cl) == 0 && max_obj > cl->enforced) {
			cl->enforced = max_obj;
			node_put(cl);
		}
	}
	pwc_check_waiters(cl);
}

static void mark_up(struct pw_cluster *cl)
{
	if (cl->up)
		return;
	if (cl->down_since)
		pwc_log(cl, PW_LOG_INFO, "etcd %s is back after %lld s: resynced",
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
	pwc_list_begin(cl);
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
				pwc_node_update(cl, key + strlen(cl->nodes_pfx), val, mr);
			} else if (!pwc_ent_update(cl, key, val, vlen, mr)) {
				if (mr > newest)
					newest = mr;
			} else {
				pwc_log(cl, PW_LOG_WARN,
					"etcd: %s is no podwall object key; ignored", key);
			}
			free(key);
			free(val);
		}
	}
	pwc_list_end(cl);
	first = !cl->synced_once;
	cl->last_sync_changes = 0;
	err = pwc_core_sync(cl);
	cl->relist_changes = cl->last_sync_changes;
	if (first) {
		struct pw_diags diags = {0};

		/* the daemon held the core since start: one reconcile for everything */
		err = pw_cp_flush(cl->o.cp, &diags);
		pwc_log_diags(cl, &diags);
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
	pwc_log(cl, first ? PW_LOG_INFO : PW_LOG_DEBUG,
		"etcd %s: %zu objects, %zu nodes at revision %lld", pw_etcd_endpoint(cl->etcd),
		cl->n_ents, cl->n_nodes, (long long)rev);
	cl->seen_rev = rev;
	mark_up(cl);
	/* watch from the next revision: nothing between the listing and the watch is missed */
	start_watch(cl);
	pwc_check_waiters(cl);
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
	cl->keepalive_at_ms = pwc_now_ms() + cl->o.lease_ttl_s * 1000 / 3;
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
		pwc_log(cl, PW_LOG_WARN, "etcd: this node's lease expired: joining again");
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
		pwc_log(cl, PW_LOG_WARN, "etcd: cannot write this node's key: %s", msg);
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
	json_object_object_add(
		b, "value", pw_etcd_str(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN)));
	json_object_object_add(b, "lease", pw_etcd_i64(cl->lease));
	json_object_put(v);
	cl->node_put_busy = true;
	if (pw_etcd_call(cl->etcd, "/v3/kv/put", b, CALL_TIMEOUT_MS, on_node_put, epoch_ctx(cl)))
		cl->node_put_busy = false;
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
		json_object_object_add(
			o, "status",
			json_object_new_string(i < cl->n_nodes ? "Ready" : "NotRegistered"));
		json_object_object_add(o, "revision", json_object_new_int64(rev));
		json_object_object_add(o, "lag", json_object_new_int64(lag_of(cl, rev)));
		json_object_object_add(o, "self", json_object_new_boolean(me));
		json_object_array_add(arr, o);
	}
	return arr;
}

void pw_cluster_get_stats(const struct pw_cluster *cl, struct pw_cluster_stats *out)
{
	bool self = false;

	memset(out, 0, sizeof(*out));
	out->connected = cl->up && cl->phase == PH_WATCH;
	out->down_since = cl->up ? 0 : (int64_t)cl->down_since;
	out->enforced_revision = cl->enforced;
	out->etcd_revision = cl->etcd_rev;
	for (size_t i = 0; i < cl->n_nodes; i++)
		self |= !strcmp(cl->nodes[i].name, cl->o.node_name);
	out->live_nodes = cl->n_nodes + !self;
	out->relists = cl->relists;
	out->compactions = cl->compactions;
	out->watch_events = cl->watch_events;
}

json_object *pw_cluster_status(struct pw_cluster *cl)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "node", json_object_new_string(cl->o.node_name));
	json_object_object_add(o, "etcd", json_object_new_string(pw_etcd_endpoint(cl->etcd)));
	json_object_object_add(o, "prefix", json_object_new_string(cl->o.prefix));
	json_object_object_add(o, "connected",
			       json_object_new_boolean(cl->up && cl->phase == PH_WATCH));
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
	int64_t now = pwc_now_ms();

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
		pwc_check_waiters(cl);
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
		snprintf(why, why_len,
			 "--node-name: a non-empty name without '/' is required "
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
	/* the thread first: no callback runs after this, so every waiter can go */
	pw_etcd_free(cl->etcd);
	pwc_waiters_free(cl);
	if (g_cl == cl)
		g_cl = NULL;
	pwc_ents_free(cl);
	free(cl->prefix);
	free(cl->nodes_pfx);
	free(cl->node_key);
	free(cl);
}
