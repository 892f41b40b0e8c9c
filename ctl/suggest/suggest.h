/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * podwall suggest: NetworkPolicies from observed flows. Flow records (docs/flowlog.md) go in
 * one at a time; out come, per workload, policies that isolate it for ingress and egress and
 * allow exactly the flows that passed (FORWARDED and AUDIT records), so an unobserved flow is
 * denied once they are applied.
 *
 * - A workload is the pods of one namespace with the same labels once per-replica labels
 *   (pod-template-hash, controller-revision-hash, ...) are dropped.
 * - Peers in the cluster are named by their workload's labels (podSelector) and their
 *   namespace (namespaceSelector on kubernetes.io/metadata.name); peers outside (and the
 *   node itself) by ipBlock, aggregated to the fewest prefixes that hold exactly the observed
 *   addresses once each is widened to the configured prefix length.
 * - Ports are named where every observed destination pod names the port (pods given with
 *   pw_suggest_add_pods); DNS (port 53 to pods, UDP or TCP) is allowed over both protocols,
 *   since resolvers fall back to TCP for large answers.
 * - A protocol without ports (ICMP) seen with a peer allows that peer on every port:
 *   NetworkPolicy cannot name ICMP.
 * Output is sorted, so the same flows always give the same text.
 */
#ifndef PW_CTL_SUGGEST_H
#define PW_CTL_SUGGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "model.h"

struct pw_suggest;

struct pw_suggest_opts {
	size_t sz;	    /* sizeof(struct pw_suggest_opts) */
	const char *ns;	    /* only workloads of this namespace (peers anywhere); NULL: all */
	bool has_since;	    /* only records at or after since_ns */
	int64_t since_ns;   /* wall clock, ns since the epoch */
	uint8_t v4_prefix;  /* outside IPv4 peers widened to this length; 0 = 32 (exact) */
	uint8_t v6_prefix;  /* outside IPv6 peers; 0 = 128 (exact) */
};

struct pw_suggest_stats {
	uint64_t records;   /* records handed in */
	uint64_t flows;	    /* passing flow records used */
	uint64_t passed_over; /* denies, losses, out of --since or -n */
	uint64_t unusable;  /* records with missing or malformed fields */
};

int pw_suggest_new(const struct pw_suggest_opts *opts, struct pw_suggest **out);
void pw_suggest_free(struct pw_suggest *s);

/* Learn the Pods of m (their container ports, for named ports). */
int pw_suggest_add_pods(struct pw_suggest *s, const struct pw_manifest *m);

/*
 * One record. 0: used or passed over (not a passing flow, outside --since or -n). -EINVAL:
 * a flow record without the fields a suggestion needs (msg says which). -ENOMEM.
 */
int pw_suggest_add_record(struct pw_suggest *s, json_object *rec, char *msg, size_t msglen);

typedef void (*pw_suggest_warn_fn)(void *ctx, const char *msg);

/*
 * The policies, one per workload that appeared in a record, sorted by namespace and name, as
 * a JSON array of NetworkPolicy objects (*out, the caller puts it). warn, when set, hears of
 * pods no policy can select alone (they have no labels).
 */
int pw_suggest_build(struct pw_suggest *s, json_object **out, pw_suggest_warn_fn warn, void *ctx);

const struct pw_suggest_stats *pw_suggest_stats(const struct pw_suggest *s);

#endif /* PW_CTL_SUGGEST_H */
