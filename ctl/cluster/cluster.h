/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Cluster mode: the objects live in etcd under one prefix, every node's daemon lists them,
 * watches every change and feeds the core (source "etcd"); `podwall apply/delete` write
 * through etcd and return once every live node reports that it enforces the change. Key
 * layout and the reasons behind it: docs/architecture.md, "Cluster mode".
 *
 * Everything runs on the daemon's loop thread: pw_cluster_ready() when pw_cluster_fd() is
 * readable, pw_cluster_tick() from the daemon's timer.
 */
#ifndef PW_CTL_CLUSTER_H
#define PW_CTL_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include <podwall/datapath.h>

#include "cp.h"

struct pw_cluster;

struct pw_cluster_opts {
	size_t sz;	       /* sizeof(struct pw_cluster_opts) */
	const char *endpoints; /* --etcd: URL[,URL...] */
	const char *prefix;    /* --etcd-prefix, default /podwall */
	const char *node_name; /* --node-name */
	const char *cacert, *cert, *key;
	unsigned int lease_ttl_s; /* the node key's lease: how soon a dead node is forgotten */
	/*
	 * The core, held by the caller (pw_cp_hold) until the first listing: the cluster module
	 * calls pw_cp_flush() once it has put etcd's objects in, so a restarted daemon writes
	 * the cluster's state over the adopted maps in one reconcile (no gap).
	 */
	struct pw_cp *cp;
	pw_log_fn log;
	void *log_ctx;
	/* the core's pods changed (flow-record caches are stale) */
	void (*pods_changed)(void *ctx);
	/* the core's quarantines changed through etcd (the node's own state file is stale) */
	void (*quarantines_changed)(void *ctx);
	void *ctx;
};

int pw_cluster_new(const struct pw_cluster_opts *opts, struct pw_cluster **out, char *why,
		   size_t why_len);
void pw_cluster_free(struct pw_cluster *cl);

int pw_cluster_fd(const struct pw_cluster *cl);
void pw_cluster_ready(struct pw_cluster *cl);
void pw_cluster_tick(struct pw_cluster *cl);

/*
 * `podwall apply` / `podwall delete` of docs (the request's [{name, data}], already
 * validated by the caller). Returns a response for at once (an error, or nothing to
 * write), or NULL: reply(ctx, response) runs later, once every live node enforces the
 * change or timeout_ms passed. pw_cluster_forget() drops the pending reply of a client that
 * went away.
 */
typedef void (*pw_cluster_reply_fn)(void *ctx, json_object *response);
json_object *pw_cluster_apply(struct pw_cluster *cl, json_object *docs, bool del,
			      int64_t timeout_ms, pw_cluster_reply_fn reply, void *ctx);
void pw_cluster_forget(struct pw_cluster *cl, void *ctx);
/*
 * `podwall quarantine` (lift: --lift) of pods, through etcd so every node holds it: the
 * answer ({"pods": [{namespace, name, action}], "revision"}) comes as for pw_cluster_apply(),
 * once every live node enforces it. o->must_exist refuses a pod etcd does not hold.
 */
json_object *pw_cluster_quarantine(struct pw_cluster *cl, const struct pw_cp_qref *pods, size_t n,
				   bool lift, const struct pw_cp_qopts *o, int64_t timeout_ms,
				   pw_cluster_reply_fn reply, void *ctx);

/* `podwall get nodes`: [{name, status, revision, lag, self}] */
json_object *pw_cluster_nodes(struct pw_cluster *cl);
/* The figures of the state machine, for metrics. */
struct pw_cluster_stats {
	bool connected;		  /* etcd answers and the watch runs */
	int64_t down_since;	  /* unix seconds etcd has been away, 0 when connected */
	int64_t enforced_revision; /* the etcd revision this node's kernel enforces */
	int64_t etcd_revision;	  /* the newest revision the node has seen */
	size_t live_nodes;	  /* nodes whose lease is current, this one included */
	uint64_t relists, compactions, watch_events;
};
void pw_cluster_get_stats(const struct pw_cluster *cl, struct pw_cluster_stats *out);

/* `podwall status`'s "cluster" section */
json_object *pw_cluster_status(struct pw_cluster *cl);

#endif /* PW_CTL_CLUSTER_H */
