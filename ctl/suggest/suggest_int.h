/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * podwall suggest's internals, shared by its two files and nobody else:
 *   suggest.c  the state, the pods' named ports and the flow records read into entries
 *   build.c    the policies built from the entries (naming, ports, address aggregation)
 * build.c calls into suggest.c only for the comparisons below.
 */
#ifndef PW_SUGGEST_INT_H
#define PW_SUGGEST_INT_H

#include <json-c/json.h>

#include "suggest.h"

#define DIR_INGRESS 0
#define DIR_EGRESS  1

/* a run of at least this many consecutive ports becomes port + endPort */
#define PORT_RUN_MIN 3



struct workload {
	char *ns;
	char *key;	       /* "k=v\n..." sorted: the identity of the workload in its ns */
	struct pw_labels labels; /* without per-replica labels */
	char *hint;	       /* the first pod name seen, for naming */
	char *name;	       /* the policy's name, set by build */
};

enum peer_kind { PEER_POD, PEER_ADDR };

struct sg_entry {
	struct workload *w; /* the subject */
	uint8_t dir;
	uint8_t pkind;
	struct workload *peer; /* PEER_POD */
	struct pw_addr addr;   /* PEER_ADDR */
	uint8_t proto;
	uint16_t port;	  /* 0 with all */
	bool all;	  /* a protocol without ports: the peer on every port */
	char *pname;	  /* the destination pods' name for the port, when all agree */
	bool pname_mixed; /* some observed destination pod names it otherwise, or not at all */
};

struct podports {
	char *key; /* "ns/name" */
	size_t n;
	struct pw_container_port *ports;
};

struct pw_suggest {
	struct pw_suggest_opts opts;
	struct pw_suggest_stats st;
	void *wl_tree, *ent_tree, *pod_tree;
	struct workload **wls;
	size_t n_wls, cap_wls;
	struct sg_entry **ents;
	size_t n_ents, cap_ents;
	void *unl_tree; /* "ns/pod" of subject pods without labels: no policy can select them */
	char **unl;
	size_t n_unl, cap_unl;
};

int sg_wl_cmp(const void *a, const void *b);
int sg_addr_cmp(const struct pw_addr *a, const struct pw_addr *b);
/* the identity of an entry: everything but the port name */
int sg_ent_cmp(const void *a, const void *b);
int sg_strpp_cmp(const void *a, const void *b);
json_object *sg_member(json_object *o, const char *key);

#endif /* PW_SUGGEST_INT_H */
