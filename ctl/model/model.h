/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The control plane's object model: Namespaces, Pods and networking.k8s.io/v1 NetworkPolicies
 * as the parser produces them: validated, defaulted (namespace "default", protocol TCP,
 * policyTypes) and normalised (label maps sorted, CIDRs with host bits cleared), so the
 * compiler never re-checks syntax.
 *
 * Lists keep the difference between "absent" (or null) and "empty" in *_set flags, exactly as
 * written. Where Kubernetes gives both the same meaning, the comment says so; the compiler
 * must still read the flag where the meanings differ.
 *
 * Ownership: every pointer is owned by its struct; *_clear() frees the contents and zeroes
 * the struct, and accepts NULL. An object can be moved out of a manifest by copying the
 * struct and zeroing the slot.
 */
#ifndef PW_CTL_MODEL_H
#define PW_CTL_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <podwall/shared.h>

#include "selector.h"

/* Well-known names */
#define PW_ANNOT_INTERFACE "podwall.io/interface"
#define PW_ANNOT_CGROUP	   "podwall.io/cgroup"
/*
 * On a NetworkPolicy or a Namespace (the default of its policies; a policy's own wins):
 * "enforce" (also when absent) or "audit" (evaluated and recorded, never enforced).
 */
#define PW_ANNOT_ENFORCEMENT "podwall.io/enforcement"
/* Set on every Namespace by the API server (1.21+) and by us: name-based namespace selection */
#define PW_LABEL_NS_NAME "kubernetes.io/metadata.name"
#define PW_DEFAULT_NS	 "default"

enum pw_kind {
	PW_KIND_NAMESPACE = 1,
	PW_KIND_POD = 2,
	PW_KIND_NETPOL = 3,
	PW_KIND_SERVICE = 4,
	PW_KIND_EPSLICE = 5, /* discovery.k8s.io/v1 EndpointSlice */
	PW_KIND_COUNT,
};

/* An address; family is PW_FAMILY_V4 or PW_FAMILY_V6, bytes in network order. */
struct pw_addr {
	uint8_t family;
	uint8_t a[16]; /* IPv4 uses a[0..3], the rest is zero */
};

/* A prefix with its host bits cleared. */
struct pw_prefix {
	uint8_t family;
	uint8_t prefixlen;
	uint8_t a[16];
};

/*
 * Where an object came from, for errors, explain and flow attribution. file is one string for
 * every object of an input, reference counted (pw_source_file_*): the store keeps the objects,
 * and a copy of the path each was 80 bytes a pod. An object moves between threads only with
 * the whole manifest (after the parse threads are joined): the count is not atomic.
 */
struct pw_source {
	char *file;
	unsigned int doc;  /* 1-based document index in the file */
	unsigned int line; /* 1-based line of the object, 0 unknown */
};

struct pw_namespace {
	char *name;
	/* always carries kubernetes.io/metadata.name=<name>, as the API server sets it */
	struct pw_labels labels;
	struct pw_labels annotations;
};

struct pw_container_port {
	char *name;    /* IANA_SVC_NAME or NULL; unique within the pod */
	uint16_t port; /* containerPort */
	uint8_t proto; /* IPPROTO_TCP (default), IPPROTO_UDP, IPPROTO_SCTP */
	uint16_t container; /* index into pw_pod.containers (printed back by get -o yaml) */
};

/* Kubernetes allows at most one address per family. */
#define PW_POD_MAX_IPS 2

struct pw_pod {
	char *namespace; /* "default" when absent */
	char *name;
	struct pw_labels labels;
	struct pw_labels annotations; /* all of them, including the two below */
	char *interface;	      /* podwall.io/interface, or NULL: not bound to this node */
	char *cgroup;		      /* podwall.io/cgroup, relative to --cgroup-root, or NULL */
	size_t n_ips;		      /* status.podIPs (or status.podIP), first = primary */
	struct pw_addr ips[PW_POD_MAX_IPS];
	size_t n_ports; /* every spec.containers[].ports[] entry, in order */
	struct pw_container_port *ports;
	size_t n_containers; /* spec.containers[].name, in order */
	char **containers;
};

/* A NetworkPolicyPort. */
struct pw_np_port {
	uint8_t proto;	   /* IPPROTO_*; TCP when the manifest leaves it out */
	bool proto_set;	   /* protocol was written */
	bool port_set;	   /* false: every port of proto */
	uint16_t port;	   /* numeric port, when port_set and !port_name */
	char *port_name;   /* named port, resolved per destination pod (matching proto) */
	uint16_t end_port; /* inclusive end of the range [port, end_port]; 0: no range */
};

struct pw_ipblock {
	struct pw_prefix cidr;
	size_t n_except; /* each a strict subset of cidr, same family */
	struct pw_prefix *except;
};

/*
 * A NetworkPolicyPeer: exactly one of the three, or pod_sel and ns_sel together (AND).
 * pod_sel alone: pods of the policy's namespace. ns_sel alone: every pod of the matching
 * namespaces. NULL means the field is absent; an empty selector matches everything.
 */
struct pw_np_peer {
	struct pw_selector *pod_sel;
	struct pw_selector *ns_sel;
	struct pw_ipblock *ipblock;
};

/*
 * An ingress or egress rule. Kubernetes gives "peers absent" and "peers: []" the same meaning
 * (every peer), and likewise "ports absent" and "ports: []" (every port and protocol).
 */
struct pw_np_rule {
	bool peers_set; /* from/to present and not null */
	size_t n_peers;
	struct pw_np_peer *peers;
	bool ports_set; /* ports present and not null */
	size_t n_ports;
	struct pw_np_port *ports;
};

#define PW_NP_INGRESS (1u << 0)
#define PW_NP_EGRESS  (1u << 1)

struct pw_netpol {
	char *namespace; /* "default" when absent */
	char *name;
	struct pw_labels labels;
	struct pw_labels annotations;
	struct pw_selector pod_sel; /* spec.podSelector; absent = {} = every pod of namespace */
	bool types_set;		    /* spec.policyTypes written (and non-empty) */
	/*
	 * PW_NP_INGRESS | PW_NP_EGRESS after the API server's defaulting: when policyTypes is
	 * absent or empty, Ingress always, plus Egress when spec.egress is non-empty.
	 */
	unsigned int types;
	/*
	 * ingress absent, null or [] isolates (when types has Ingress) and allows nothing;
	 * [{}] allows everything. Same for egress.
	 */
	bool ingress_set;
	size_t n_ingress;
	struct pw_np_rule *ingress;
	bool egress_set;
	size_t n_egress;
	struct pw_np_rule *egress;
};

#include "svcmodel.h"

struct pw_object {
	enum pw_kind kind;
	struct pw_source src;
	union {
		struct pw_namespace ns;
		struct pw_pod pod;
		struct pw_netpol np;
		struct pw_service svc;
		struct pw_epslice eps;
	} u;
};

/* Every object of one input, in document order. */
struct pw_manifest {
	size_t n;
	struct pw_object *objs;
};

/* A counted copy of name (NULL: out of memory); another reference to file; drop one (NULL ok) */
char *pw_source_file_new(const char *name);
char *pw_source_file_ref(char *file);
void pw_source_file_put(char *file);

void pw_namespace_clear(struct pw_namespace *ns);
void pw_pod_clear(struct pw_pod *pod);
void pw_netpol_clear(struct pw_netpol *np);
void pw_object_clear(struct pw_object *obj);
void pw_manifest_free(struct pw_manifest *m);
/* Move m's objects to the end of all (m is left empty, still to be freed): 0 or -ENOMEM. */
int pw_manifest_take(struct pw_manifest *all, struct pw_manifest *m);

/* The object's name; its namespace, or NULL for a cluster-scoped object (a Namespace). */
const char *pw_object_name(const struct pw_object *obj);
const char *pw_object_namespace(const struct pw_object *obj);

/* "Namespace", "Pod", "NetworkPolicy", "Service", "EndpointSlice" */
const char *pw_kind_str(enum pw_kind kind);
/*
 * IP protocols: "TCP", "UDP", "SCTP", or NULL for another number. (pw_proto_* is the control
 * socket's protocol, ctl/ipc/proto.h.)
 */
const char *pw_ipproto_str(uint8_t proto);
/* Kubernetes spelling (case-sensitive) to IPPROTO_*; -EINVAL otherwise */
int pw_ipproto_parse(const char *s, uint8_t *proto);

/*
 * Resolve a named port against a destination pod, as NetworkPolicy does: the containerPort
 * whose name and protocol match. Returns the port (1..65535) or -ENOENT.
 */
int pw_pod_named_port(const struct pw_pod *pod, const char *name, uint8_t proto);

/* --- addresses -------------------------------------------------------------------------- */

/* Dotted quad or IPv6 text; an IPv4-mapped IPv6 address becomes IPv4 (as Go's net.IP). */
int pw_addr_parse(const char *s, struct pw_addr *out);
/* "a.b.c.d/n" or "v6/n". host_bits (optional) reports whether bits past n were set. */
int pw_prefix_parse(const char *s, struct pw_prefix *out, bool *host_bits);
bool pw_prefix_contains_addr(const struct pw_prefix *c, const struct pw_addr *a);
/* The /len prefix holding a: the address with its host bits cleared (len <= its family's bits) */
void pw_prefix_of_addr(const struct pw_addr *a, unsigned int len, struct pw_prefix *out);
/* inner lies inside outer (same family, prefix at least as long) */
bool pw_prefix_contains(const struct pw_prefix *outer, const struct pw_prefix *inner);
/* buf of at least PW_PREFIX_STRLEN bytes; returns buf */
#define PW_PREFIX_STRLEN 52
char *pw_addr_str(const struct pw_addr *a, char *buf, size_t len);
char *pw_prefix_str(const struct pw_prefix *c, char *buf, size_t len);

/* --- Kubernetes syntax rules: each returns NULL when s is valid, else why it is not -------- */

const char *pw_invalid_dns1123_label(const char *s);	 /* namespace names, container names */
const char *pw_invalid_dns1123_subdomain(const char *s); /* pod and policy names */
const char *pw_invalid_qualified_name(const char *s);	 /* label and annotation keys */
const char *pw_invalid_label_value(const char *s);
const char *pw_invalid_port_name(const char *s); /* IANA_SVC_NAME */
const char *pw_invalid_ifname(const char *s);	 /* Linux interface name */
const char *pw_invalid_cgroup_path(const char *s);

#endif /* PW_CTL_MODEL_H */
