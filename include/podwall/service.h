/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Services: what the socket programs need to turn a ClusterIP:port into a ready backend and
 * back. Shared by the BPF programs and userspace, defined once (same rules as shared.h:
 * fixed-width types, explicit pads that writers zero, a size assert on every structure, a
 * version suffix on every map name).
 *
 * Layout (after Cilium's lb4_services/lb4_backends): a service port is a frontend
 * (family, ClusterIP, port, protocol). Its slot 0 holds the number of ready backends n; slots
 * 1..n hold backend ids, dense, so a uniform choice is one random number and two lookups.
 * A backend (address, port) is stored once, whatever the number of frontends naming it.
 */
#ifndef PODWALL_SERVICE_H
#define PODWALL_SERVICE_H

#include <linux/types.h>

#define PW_MAP_SVC	pw_svc_v1      /* hash: (frontend, slot) -> backend count | backend id */
#define PW_MAP_BACKEND	pw_backend_v1  /* hash: backend id -> address, port */
#define PW_MAP_SVC_REV	pw_svc_rev_v1  /* LRU hash: (socket cookie, backend) -> frontend */
#define PW_MAP_SVC_FLOW pw_svc_flow_v1 /* LRU hash: (client endpoint, backend) -> frontend */

#define PW_SVC_MAX_DEFAULT	262144 /* frontends + their backend slots */
#define PW_BACKEND_MAX_DEFAULT	131072
#define PW_SVC_REV_MAX_DEFAULT	262144
#define PW_SVC_FLOW_MAX_DEFAULT 65536

/* Backends of one service port: slot numbers are 16 bits, and slot 0 is the frontend. */
#define PW_SVC_MAX_BACKENDS 65535

struct pw_svc_key {
	__u32 addr[4]; /* ClusterIP, network order; IPv4 uses addr[0], the rest zero */
	__be16 port;   /* service port */
	__u8 family;   /* PW_FAMILY_V4 / PW_FAMILY_V6 */
	__u8 proto;    /* IPPROTO_TCP / UDP / SCTP */
	__u16 slot;    /* 0: the frontend itself; 1..count: its backends */
	__u16 pad;
};
_Static_assert(sizeof(struct pw_svc_key) == 24, "pw_svc_key layout");

struct pw_svc_val {
	__u32 backend_id; /* slot > 0: key of PW_MAP_BACKEND */
	__u16 count;	  /* slot 0: ready backends (0: connect() fails with ECONNREFUSED) */
	__u16 pad;
	__u32 svc_id; /* slot 0: the control plane's number of this service port, for records */
	__u32 pad2;
};
_Static_assert(sizeof(struct pw_svc_val) == 16, "pw_svc_val layout");

struct pw_backend {
	__u32 addr[4]; /* network order; IPv4 uses addr[0] */
	__be16 port;   /* the backend's target port */
	__u8 family;
	__u8 pad;
};
_Static_assert(sizeof(struct pw_backend) == 20, "pw_backend layout");

/*
 * Reverse translation: recvmsg() and getpeername() on a socket whose peer is a backend the
 * socket layer chose show the frontend instead, so a UDP reply seems to come from the ClusterIP
 * (the client would drop it otherwise) and the application sees the address it connected to.
 */
struct pw_svc_rev_key {
	__u64 cookie;  /* bpf_get_socket_cookie() of the client socket */
	__u32 addr[4]; /* backend */
	__be16 port;
	__u8 family;
	__u8 pad[5];
};
_Static_assert(sizeof(struct pw_svc_rev_key) == 32, "pw_svc_rev_key layout");

struct pw_svc_rev_val {
	__u32 addr[4]; /* frontend */
	__be16 port;
	__u8 family;
	__u8 pad;
	__u32 svc_id;
};
_Static_assert(sizeof(struct pw_svc_rev_val) == 24, "pw_svc_rev_val layout");

/*
 * Which frontend a pod's flow to a backend came through, for flow records: TC records the
 * flow with the backend as destination, and userspace names the Service from this. Keyed by
 * the client endpoint and the backend, the last translation wins: a pod that reaches one
 * backend both directly and through a Service sees its direct flows named after the Service.
 */
struct pw_svc_flow_key {
	__u32 ep_id;   /* the client pod's endpoint */
	__u32 addr[4]; /* backend */
	__be16 port;
	__u8 family;
	__u8 proto;
};
_Static_assert(sizeof(struct pw_svc_flow_key) == 24, "pw_svc_flow_key layout");

/*
 * Backends whose connections are being ended (bpf/svcend.bpf.c): listed, then the sockets of
 * each client pod's netns are walked once, then the list is emptied. Not pinned: it lives only
 * for the walk.
 */
#define PW_MAP_SVC_END pw_svc_end_v1
#define PW_SVC_END_MAX 4096

struct pw_svc_end_key {
	__u32 addr[4]; /* backend, network order; IPv4 in addr[0] */
	__be16 port;
	__u8 family;
	__u8 proto;
};
_Static_assert(sizeof(struct pw_svc_end_key) == 20, "pw_svc_end_key layout");

/* pw_event.flags: a socket record whose saddr/sport hold the Service frontend it was sent to */
#define PW_EV_F_SVC (1u << 1)

#endif /* PODWALL_SERVICE_H */
