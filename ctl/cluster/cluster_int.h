/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Cluster mode's internals, shared by its files and by nobody else:
 *   table.c    the local view of etcd (object keys, nodes) and feeding the core from it
 *   apply.c    podwall apply/delete: transactions, then waiting for every live node
 *   quarantine.c  podwall quarantine through etcd (above apply.c)
 *   cluster.c  the connection: lease, list, watch, node key; queries; life
 * Files call downward only: cluster.c, quarantine.c -> apply.c -> table.c.
 */
#ifndef PW_CLUSTER_INT_H
#define PW_CLUSTER_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "cluster.h"
#include "etcd.h"
#include "parse.h"

#define HASH_BUCKETS	(1u << 14)
#define TXN_MAX_OPS	128 /* etcd's default --max-txn-ops */
#define RETRY_MS	1000
#define CALL_TIMEOUT_MS 5000
#define SOURCE		"etcd"
/* quarantines are no Kubernetes kind: their entries carry this one (model kinds start at 1) */
#define KIND_QUARANTINE ((enum pw_kind)0)
#define QUAR_DIR	"quarantines"

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
	const char *list_key; /* their key in the reply: "objects", or "pods" (quarantine) */
	int64_t deadline_ms;
	int64_t timeout_ms;
	int64_t rev;	  /* 0 until the last transaction answered */
	json_object *ops; /* array of pending txn bodies (first is in flight) */
	size_t next_op;
	bool busy; /* a transaction is in flight: its answer needs the waiter */
	struct pw_cluster *cl;
};

enum phase { PH_DOWN, PH_GRANT, PH_LIST, PH_WATCH };

struct pw_cluster {
	struct pw_cluster_opts o;
	char *prefix;	 /* "<P>/v1/" */
	char *nodes_pfx; /* "<P>/v1/nodes/" */
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
	int64_t enforced; /* every object change up to here is in the kernel */
	int64_t newest;	  /* the newest object change this node knows of */
	int64_t etcd_rev; /* the store's revision, last seen */
	int64_t seen_rev; /* every change under the prefix up to here was seen: resume after */
	uint64_t relist_changes;    /* objects the last listing passed to the core */
	uint64_t last_sync_changes; /* objects the last pwc_core_sync passed */
	bool node_put_busy, node_put_again;
	bool quar_dirty; /* a quarantine key changed, or a listing ended: quar_sync() has work */
	uint64_t relists, compactions, watch_events;
	uint64_t core_errors;
	int64_t epoch; /* bumps on every (re)connect: stale answers are ignored */
};

/* table.c */
void pwc_log(struct pw_cluster *cl, enum pw_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int64_t pwc_now_ms(void);
char *pwc_obj_key(struct pw_cluster *cl, enum pw_kind k, const char *ns, const char *name);
char *pwc_quar_key(struct pw_cluster *cl, const char *ns, const char *name);
struct ent *pwc_ent_find(struct pw_cluster *cl, const char *key);
/* a put (value) or a delete (NULL) seen in etcd at mod_rev */
int pwc_ent_update(struct pw_cluster *cl, const char *key, const char *value, size_t len,
		   int64_t mod_rev);
/* a listing between these two: what it did not hold is deleted */
void pwc_list_begin(struct pw_cluster *cl);
void pwc_list_end(struct pw_cluster *cl);
void pwc_ents_free(struct pw_cluster *cl);
int pwc_node_update(struct pw_cluster *cl, const char *name, const char *value, int64_t mod_rev);
/* bring the core to the table: only objects whose revision differs reach it */
int pwc_core_sync(struct pw_cluster *cl);
void pwc_log_diags(struct pw_cluster *cl, const struct pw_diags *d);

/* apply.c */
void pwc_check_waiters(struct pw_cluster *cl);
void pwc_waiters_free(struct pw_cluster *cl);
/* transactions being built: ops is the array of transaction bodies */
struct pwc_txns {
	json_object *ops, *txn, *succ, *cmp;
	size_t n; /* operations in txn */
};
void pwc_txn_add(struct pwc_txns *t, const char *key, const char *value);
json_object *pwc_waiter_start(struct pw_cluster *cl, json_object *objects, json_object *ops,
			      const char *list_key, int64_t timeout_ms, pw_cluster_reply_fn reply,
			      void *ctx);
json_object *pwc_error_res(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* PW_CLUSTER_INT_H */
