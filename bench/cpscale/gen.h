/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The cluster cpscale feeds the daemon: namespaces, Deployment-shaped pods and
 * NetworkPolicies, generated from a seed so every run (and the smoke test) sees the same set.
 */
#ifndef PW_CPSCALE_GEN_H
#define PW_CPSCALE_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct gen_opts {
	unsigned int namespaces;
	unsigned int pods;
	unsigned int policies;
	unsigned int local; /* pods bound to this node by a podwall.io/cgroup annotation */
	uint64_t seed;
};

struct gen_ns {
	char name[16];
	unsigned int team;
	unsigned int env; /* index into env names */
	const char *role; /* "infra", "monitoring" or NULL */
};

/* A Deployment: its ReplicaSets share app and tier, and differ by version during a rollout. */
struct gen_app {
	char name[24];
	unsigned int ns;
	unsigned int tier;
	unsigned int replicas;
	bool rollout; /* half the replicas run v2 */
};

struct gen_pod {
	char name[48];
	unsigned int ns;
	unsigned int app;
	unsigned int version; /* 1 or 2 */
	uint32_t index;	      /* global: addresses derive from it */
	bool local;
};

struct gen_feat {
	unsigned int default_deny_in, default_deny_eg;
	unsigned int pod_sel, ns_sel, pod_and_ns_sel, match_expr;
	unsigned int ipblock, ipblock_except;
	unsigned int named_port, numeric_port, end_port, udp;
	unsigned int ingress_pols, egress_pols;
};

struct gen {
	struct gen_opts o;
	unsigned int n_ns, n_apps, n_pods, n_pols;
	struct gen_ns *ns;
	struct gen_app *apps;
	struct gen_pod *pods;
	/* the objects the change-latency series rewrite */
	unsigned int toggle_pod; /* a local pod selected by the toggled policy */
	unsigned int remote_pod; /* a pod of the same namespace without an annotation */
	char toggle_policy[64];	 /* its name; in toggle_pod's namespace */
	unsigned int label_ids;	 /* distinct label identities the pods should make */
	unsigned int local_label_ids;
	struct gen_feat feat;
};

/* Build the model of the cluster. 0 or -errno. */
int gen_build(const struct gen_opts *o, struct gen *g);
void gen_free(struct gen *g);

/*
 * YAML writers, one file per namespace as teams keep them (the parser caps a file's YAML
 * nodes, so a cluster does not fit in one): a namespace and its pods; a namespace's policies
 * (ns < 0: every namespace's); one pod, or the toggled policy, on its own.
 */
int gen_write_ns_pods(const struct gen *g, unsigned int ns, FILE *f);
int gen_write_policies(const struct gen *g, int ns, FILE *f);
/* canary: with the label that the canary policy selects on */
void gen_write_pod(const struct gen *g, FILE *f, unsigned int pod, bool canary);
/* port: the port its single ingress rule allows (from any peer) */
void gen_write_toggle_policy(const struct gen *g, FILE *f, uint16_t port);

/* addresses, network order: 198.18.0.0/16 + index + 1, fd00:18::index+1 */
uint32_t gen_pod_v4(uint32_t index);
void gen_pod_v6(uint32_t index, uint32_t out[4]);
/* cgroup of a local pod, relative to the cgroup root */
void gen_pod_cgroup(const struct gen *g, unsigned int pod, char *buf, size_t len);

#define GEN_TOGGLE_PORT_A 7001
#define GEN_TOGGLE_PORT_B 7002

#endif /* PW_CPSCALE_GEN_H */
