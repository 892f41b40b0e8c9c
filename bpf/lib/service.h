/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Socket-level Service translation: connect()/sendmsg() to ClusterIP:port become the same call
 * to a ready backend before policy runs, so policy (here and at TC) judges the backend, and no
 * packet ever carries the ClusterIP. recvmsg()/getpeername() translate the backend back.
 *
 * The backend is chosen uniformly at random among the ready ones (see docs/architecture.md:
 * the choice is made once per connection, at the socket, so nothing downstream needs the
 * per-packet consistency Maglev provides). Unconnected UDP sockets choose by their socket
 * cookie instead, so every datagram of one socket reaches the same backend while the set of
 * backends stays the same: a request/reply protocol sees one server.
 */
#ifndef PW_BPF_SERVICE_H
#define PW_BPF_SERVICE_H

#include "lib/common.h"
#include "lib/maps.h"

#define PW_SVC_NONE	  0    /* not a Service frontend: go on untranslated */
#define PW_SVC_XLATED	  1    /* addr and port now name the chosen backend */
#define PW_SVC_NO_BACKEND (-1) /* a frontend with no ready backend */

struct pw_svc_hit {
	__u32 front[4]; /* the frontend as called, for records */
	__be16 front_port;
	__u8 family;
	__u8 pad;
	__u32 svc_id;
};

static __always_inline __u32 pw_svc_pick(__u64 cookie, __u16 count, int sticky)
{
	__u32 h;

	if (!sticky)
		return bpf_get_prandom_u32() % count + 1;
	/* Fibonacci hashing: the cookie's high-entropy bits spread over the slots */
	h = (__u32)((cookie * 0x9E3779B97F4A7C15ull) >> 32);
	return h % count + 1;
}

/* Remember the frontend for recvmsg()/getpeername(); written only when it changes. */
static __always_inline void pw_svc_remember(__u64 cookie, const struct pw_backend *be,
					    const struct pw_svc_hit *hit)
{
	struct pw_svc_rev_key rk;
	struct pw_svc_rev_val rv, *old;

	__builtin_memset(&rk, 0, sizeof(rk));
	__builtin_memset(&rv, 0, sizeof(rv));
	rk.cookie = cookie;
	pw_addr_copy(rk.addr, be->addr);
	rk.port = be->port;
	rk.family = be->family;
	pw_addr_copy(rv.addr, hit->front);
	rv.port = hit->front_port;
	rv.family = hit->family;
	rv.svc_id = hit->svc_id;
	old = bpf_map_lookup_elem(&PW_MAP_SVC_REV, &rk);
	if (old && pw_addr_eq(old->addr, rv.addr) && old->port == rv.port &&
	    old->svc_id == rv.svc_id)
		return;
	bpf_map_update_elem(&PW_MAP_SVC_REV, &rk, &rv, BPF_ANY);
}

/*
 * Translate (family, addr, port, proto) when it is a Service frontend. addr (4 words, IPv4 in
 * word 0) and port are rewritten to the backend's; hit describes the frontend.
 */
static __always_inline int pw_svc_translate(void *ctx, __u8 family, __u32 *addr, __be16 *port,
					    __u8 proto, int sticky, struct pw_svc_hit *hit)
{
	struct pw_svc_key k;
	struct pw_svc_val *fv, *bv;
	struct pw_backend *be;
	__u64 cookie;
	__u16 count;

	__builtin_memset(&k, 0, sizeof(k));
	pw_addr_copy(k.addr, addr);
	k.port = *port;
	k.family = family;
	k.proto = proto;
	fv = bpf_map_lookup_elem(&PW_MAP_SVC, &k);
	if (!fv)
		return PW_SVC_NONE;
	pw_addr_copy(hit->front, addr);
	hit->front_port = *port;
	hit->family = family;
	hit->svc_id = fv->svc_id;
	count = fv->count;
	if (!count)
		return PW_SVC_NO_BACKEND;
	cookie = bpf_get_socket_cookie(ctx);
	k.slot = (__u16)pw_svc_pick(cookie, count, sticky);
	bv = bpf_map_lookup_elem(&PW_MAP_SVC, &k);
	if (!bv) {
		/* the set shrank between the two lookups: slot 1 goes last */
		k.slot = 1;
		bv = bpf_map_lookup_elem(&PW_MAP_SVC, &k);
		if (!bv)
			return PW_SVC_NO_BACKEND;
	}
	be = bpf_map_lookup_elem(&PW_MAP_BACKEND, &bv->backend_id);
	if (!be || be->family != family)
		return PW_SVC_NO_BACKEND;
	pw_svc_remember(cookie, be, hit);
	pw_addr_copy(addr, be->addr);
	*port = be->port;
	return PW_SVC_XLATED;
}

/* Name the frontend of the client's flow to addr:port (after translation) for its record. */
static __always_inline void pw_svc_note_flow(__u32 ep_id, __u8 family, const __u32 *addr,
					     __be16 port, __u8 proto, const struct pw_svc_hit *hit)
{
	struct pw_svc_flow_key k;
	struct pw_svc_rev_val v, *old;

	__builtin_memset(&k, 0, sizeof(k));
	__builtin_memset(&v, 0, sizeof(v));
	k.ep_id = ep_id;
	pw_addr_copy(k.addr, addr);
	k.port = port;
	k.family = family;
	k.proto = proto;
	old = bpf_map_lookup_elem(&PW_MAP_SVC_FLOW, &k);
	if (old && pw_addr_eq(old->addr, hit->front) && old->port == hit->front_port)
		return;
	pw_addr_copy(v.addr, hit->front);
	v.port = hit->front_port;
	v.family = hit->family;
	v.svc_id = hit->svc_id;
	bpf_map_update_elem(&PW_MAP_SVC_FLOW, &k, &v, BPF_ANY);
}

/* The frontend a backend address stands for on this socket, or NULL. */
static __always_inline struct pw_svc_rev_val *pw_svc_reverse(void *ctx, __u8 family,
							     const __u32 *addr, __be16 port)
{
	struct pw_svc_rev_key rk;

	__builtin_memset(&rk, 0, sizeof(rk));
	rk.cookie = bpf_get_socket_cookie(ctx);
	pw_addr_copy(rk.addr, addr);
	rk.port = port;
	rk.family = family;
	return bpf_map_lookup_elem(&PW_MAP_SVC_REV, &rk);
}

#endif /* PW_BPF_SERVICE_H */
