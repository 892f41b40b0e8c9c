/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The object store: Namespaces, Pods and NetworkPolicies by (kind, namespace, name), with the
 * identity, CIDR and cookie references they hold, and an undo log of every change since the
 * last commit.
 *
 * A change is staged: put/delete update the store and the reference counts at once, and log
 * the replaced object. pw_state_commit() forgets the log once the kernel holds the result;
 * pw_state_rollback() puts every replaced object back, so the store, the identity numbers and
 * the cookies are exactly as at the last commit. The log is also what the compiler reads to
 * know which subjects a change touched.
 */
#ifndef PW_CTL_STORE_H
#define PW_CTL_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "identity.h"
#include "model.h"
#include "quarantine.h"

struct pw_sobj {
	struct pw_object obj;
	/*
	 * "cli" or a manifest path: who wrote it last. A counted string (pw_source_file_*):
	 * the objects one source writes in a row share it.
	 */
	char *source;
	uint32_t hash;
	/* pods: what the identity and the datapath need */
	struct pw_ident *ident; /* held reference */
	bool local;		/* bound to this node (interface or cgroup annotation) */
	uint32_t ep_id;		/* stable per pod, 0 until assigned */
	uint32_t ifindex;	/* 0: pending (interface unknown or absent) */
	uint64_t cgroup_id;	/* 0: unknown */
	uint64_t mark;		/* scratch for the caller (pw_cp_sync_source) */
};

struct pw_change {
	enum pw_kind kind;
	struct pw_sobj *old; /* owned by the log; NULL when the object is new */
	struct pw_sobj *cur; /* in the store; NULL when deleted */
};

struct pw_state {
	struct pw_idtab ids;
	struct pw_htab index; /* (kind, namespace, name) */
	size_t n_objs[PW_KIND_COUNT], cap_objs[PW_KIND_COUNT];
	struct pw_sobj **objs[PW_KIND_COUNT]; /* by enum pw_kind; unordered */
	size_t n_log, cap_log;
	struct pw_change *log;
	uint32_t next_ep_id;
	char *last_source; /* the source of the last put, one reference */
	/* quarantined pods: not objects, not logged; the core undoes its own changes of it */
	struct pw_qtab qt;
};

void pw_state_init(struct pw_state *st);
void pw_state_clear(struct pw_state *st);

static inline size_t pw_state_count(const struct pw_state *st, enum pw_kind k)
{
	return st->n_objs[k];
}
static inline struct pw_sobj *pw_state_at(const struct pw_state *st, enum pw_kind k, size_t i)
{
	return st->objs[k][i];
}

/* Namespace of a namespaced object, "" for a Namespace; name of any object */
const char *pw_obj_ns(const struct pw_object *o);
const char *pw_obj_name(const struct pw_object *o);

/* ns is ignored for namespaces */
struct pw_sobj *pw_state_find(const struct pw_state *st, enum pw_kind k, const char *ns,
			      const char *name);
/*
 * The namespace labels pods of ns see: the Namespace object's, or only
 * kubernetes.io/metadata.name when no Namespace object exists (yet).
 */
struct pw_ns_scratch {
	struct pw_labels l;
	struct pw_label one;
};
const struct pw_labels *pw_state_ns_labels(const struct pw_state *st, const char *ns,
					   struct pw_ns_scratch *scratch);

/*
 * Create or replace the object (moved out of *obj, which is zeroed). A pod that stays the same
 * pod keeps its ep_id, ifindex and cgroup id; the caller re-resolves them if it wants.
 */
int pw_state_put(struct pw_state *st, struct pw_object *obj, const char *source);
/* -ENOENT when absent */
int pw_state_delete(struct pw_state *st, enum pw_kind k, const char *ns, const char *name);

/* Give every local pod without one a fresh ep_id. */
void pw_state_assign_ep_ids(struct pw_state *st);

void pw_state_commit(struct pw_state *st);
void pw_state_rollback(struct pw_state *st);
/* Undo only the changes logged after the first mark ones (one call's worth); no commit. */
void pw_state_rollback_to(struct pw_state *st, size_t mark);

#endif /* PW_CTL_STORE_H */
