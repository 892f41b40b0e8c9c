/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Socket-layer egress enforcement: cgroup connect4/6 and sendmsg4/6. The pod comes from the
 * caller's cgroup, so no packet field is trusted; a deny fails the call with EPERM before
 * any packet exists and names the process. Allows are silent: the TC layer records the flow
 * (one decision, one record).
 *
 * A Service frontend (ClusterIP:port) is translated to a ready backend first (lib/service.h),
 * so policy judges the backend; a frontend with no ready backend fails with ECONNREFUSED.
 * recvmsg4/6 and getpeername4/6 translate the backend back into the frontend.
 */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/ctkey.h"
#include "lib/endpoint.h"
#include "lib/policy.h"
#include "lib/events.h"
#include "lib/metrics.h"
#include "lib/quarantine.h"
#include "lib/service.h"

/* cgroup v2 level of --cgroup-root; pod cgroups are below it. Set by the loader. */
const volatile __u32 pw_cgroup_root_level = 0;

#define PW_SOCK_ALLOW	1
#define PW_SOCK_DENY	0 /* the kernel turns it into EPERM, unless a retval was set */
#define PW_ECONNREFUSED 111

/* Loopback, unspecified: never leave the pod, nothing to enforce. */
static __always_inline int pw_sock_addr_local(__u8 family, const __u32 *a)
{
	if (family == PW_FAMILY_V4)
		return (bpf_ntohl(a[0]) >> 24) == 127 || a[0] == 0;
	return !a[0] && !a[1] && !a[2] && (!a[3] || a[3] == bpf_htonl(1));
}

/* A flow t admitted by ep's ingress check, t its original direction. */
static __always_inline int pw_sock_ct_ingress(struct pw_ct_key *k, const struct pw_endpoint *ep,
					      const struct pw_tuple *t)
{
	int idx = 0;

	return pw_ct_lookup(k, ep->ep_id, PW_DIR_INGRESS, t, 0, &idx) && !idx;
}

/*
 * A UDP server answering with sendto() is sending a reply, not opening a flow: Kubernetes lets
 * replies pass whatever the pod's egress policy. The request created an entry in this pod's
 * ingress scope at TC; find it from the destination (the client) and the socket's local port.
 * The local address is the bound one, or else each of the pod's own addresses. Only denied
 * sends get here, so allowed traffic pays nothing for it.
 */
static __always_inline int pw_sock_is_reply(struct bpf_sock_addr *ctx, const struct pw_endpoint *ep,
					    __u8 family, const __u32 *addr, __u8 proto,
					    __be16 dport)
{
	struct bpf_sock *sk = ctx->sk;
	struct pw_tuple t;
	struct pw_ct_key k;
	int i;

	if (proto != IPPROTO_UDP || !sk)
		return 0;
	__builtin_memset(&t, 0, sizeof(t));
	t.family = family;
	t.proto = proto;
	pw_addr_copy(t.saddr, addr);
	t.sport = dport;
	t.dport = bpf_htons((__u16)sk->src_port);

	if (family == PW_FAMILY_V4) {
		if (sk->src_ip4) {
			t.daddr[0] = sk->src_ip4;
			return pw_sock_ct_ingress(&k, ep, &t);
		}
		for (i = 0; i < PW_EP_MAX_V4; i++) {
			if (i >= ep->n_v4)
				break;
			t.daddr[0] = ep->v4[i];
			if (pw_sock_ct_ingress(&k, ep, &t))
				return 1;
		}
		return 0;
	}
	for (i = 0; i < PW_EP_MAX_V6; i++) {
		if (i >= ep->n_v6)
			break;
		pw_addr_copy(t.daddr, ep->v6[i]);
		if (pw_sock_ct_ingress(&k, ep, &t))
			return 1;
	}
	return 0;
}

/*
 * addr: 4 words, IPv4 in word 0. On return addr and *dport hold the destination the call goes
 * to (a backend, when the destination was a Service frontend).
 */
static __always_inline int pw_sock_decide(struct bpf_sock_addr *ctx, __u8 family, __u32 *addr,
					  __be16 *dport_io, int sticky)
{
	struct pw_endpoint *ep;
	struct pw_decision d = {};
	struct pw_svc_hit hit = {};
	struct pw_event ev;
	__u8 proto = ctx->protocol;
	__be16 dport;
	int reason, svc;

	svc = pw_svc_translate(ctx, family, addr, dport_io, proto, sticky, &hit);
	dport = *dport_io;
	ep = pw_ep_by_current_cgroup(pw_cgroup_root_level);
	if (svc == PW_SVC_NO_BACKEND) {
		reason = PW_DROP_NO_BACKEND;
	} else if (!ep) {
		reason = PW_OK_NO_ENDPOINT;
	} else if (pw_sock_addr_local(family, addr) || pw_ep_owns(ep, family, addr)) {
		/* never leaves the pod (TC never sees it either): a quarantine cuts the network */
		reason = PW_OK_LOCAL;
	} else if ((ep->flags & PW_EP_F_QUARANTINE) &&
		   (!(ep->flags & PW_EP_F_QUARANTINE_DNS) ||
		    !pw_quar_is_dns(PW_DIR_EGRESS, proto, 0, dport))) {
		reason = PW_DROP_QUARANTINE;
	} else {
		reason = pw_policy_decide(ep, PW_DIR_EGRESS, family, addr, proto, dport, &d);
		if (pw_reason_is_drop(reason) && svc == PW_SVC_NONE &&
		    pw_sock_is_reply(ctx, ep, family, addr, proto, dport))
			reason = PW_OK_REPLY;
	}

	pw_metrics_count(reason, PW_DIR_EGRESS, 0);
	if (!pw_reason_is_drop(reason)) {
		if (svc == PW_SVC_XLATED && ep)
			pw_svc_note_flow(ep->ep_id, family, addr, dport, proto, &hit);
		return PW_SOCK_ALLOW;
	}
	/* a quarantined pod retrying in a loop: its records are rate limited */
	if (ep && reason == PW_DROP_QUARANTINE && !pw_quar_ev_allow(ep->ep_id, PW_DIR_EGRESS))
		return PW_SOCK_DENY;

	__builtin_memset(&ev, 0, sizeof(ev));
	ev.type = PW_EV_SOCK_DENY;
	ev.reason = reason;
	ev.direction = PW_DIR_EGRESS;
	ev.family = family;
	ev.proto = proto;
	ev.flags = PW_EV_F_SOCK;
	ev.dport = dport;
	pw_addr_copy(ev.daddr, addr);
	if (svc != PW_SVC_NONE) {
		/* a socket record has no source yet: that field names the Service frontend */
		ev.flags |= PW_EV_F_SVC;
		pw_addr_copy(ev.saddr, hit.front);
		ev.sport = hit.front_port;
	}
	if (ep) {
		ev.ep_id = ep->ep_id;
		ev.src_identity = ep->identity;
	}
	ev.dst_identity = d.peer_id;
	ev.cookie = d.cookie;
	ev.pid = bpf_get_current_pid_tgid() >> 32;
	ev.cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(ev.comm, sizeof(ev.comm));
	pw_event_emit(ctx, &ev);
	if (reason == PW_DROP_NO_BACKEND)
		bpf_set_retval(-PW_ECONNREFUSED);
	return PW_SOCK_DENY;
}

static __always_inline int pw_sock4(struct bpf_sock_addr *ctx, int sticky)
{
	__u32 addr[4] = {};
	__be16 port = (__be16)ctx->user_port;
	int ret;

	addr[0] = ctx->user_ip4;
	ret = pw_sock_decide(ctx, PW_FAMILY_V4, addr, &port, sticky);
	if (addr[0] != ctx->user_ip4)
		ctx->user_ip4 = addr[0];
	if (port != (__be16)ctx->user_port)
		ctx->user_port = port;
	return ret;
}

static __always_inline int pw_is_v4mapped(const __u32 *a)
{
	return !a[0] && !a[1] && a[2] == bpf_htonl(0xffff);
}

static __always_inline int pw_sock6(struct bpf_sock_addr *ctx, int sticky)
{
	__u32 addr[4];
	__be16 port = (__be16)ctx->user_port;
	int ret;

	addr[0] = ctx->user_ip6[0];
	addr[1] = ctx->user_ip6[1];
	addr[2] = ctx->user_ip6[2];
	addr[3] = ctx->user_ip6[3];
	/* ::ffff:a.b.c.d reaches an IPv4 peer: judge (and translate) it as IPv4 */
	if (pw_is_v4mapped(addr)) {
		__u32 v4[4] = {addr[3], 0, 0, 0};

		ret = pw_sock_decide(ctx, PW_FAMILY_V4, v4, &port, sticky);
		if (v4[0] != addr[3])
			ctx->user_ip6[3] = v4[0];
	} else {
		ret = pw_sock_decide(ctx, PW_FAMILY_V6, addr, &port, sticky);
		if (addr[0] != ctx->user_ip6[0] || addr[1] != ctx->user_ip6[1] ||
		    addr[2] != ctx->user_ip6[2] || addr[3] != ctx->user_ip6[3]) {
			ctx->user_ip6[0] = addr[0];
			ctx->user_ip6[1] = addr[1];
			ctx->user_ip6[2] = addr[2];
			ctx->user_ip6[3] = addr[3];
		}
	}
	if (port != (__be16)ctx->user_port)
		ctx->user_port = port;
	return ret;
}

/* recvmsg/getpeername: a backend this socket was sent to reads as its frontend. */
static __always_inline int pw_sock_rev4(struct bpf_sock_addr *ctx)
{
	__u32 addr[4] = {ctx->user_ip4, 0, 0, 0};
	struct pw_svc_rev_val *rv;

	rv = pw_svc_reverse(ctx, PW_FAMILY_V4, addr, (__be16)ctx->user_port);
	if (rv && rv->family == PW_FAMILY_V4) {
		ctx->user_ip4 = rv->addr[0];
		ctx->user_port = rv->port;
	}
	return 1;
}

static __always_inline int pw_sock_rev6(struct bpf_sock_addr *ctx)
{
	__u32 addr[4];
	struct pw_svc_rev_val *rv;

	addr[0] = ctx->user_ip6[0];
	addr[1] = ctx->user_ip6[1];
	addr[2] = ctx->user_ip6[2];
	addr[3] = ctx->user_ip6[3];
	if (pw_is_v4mapped(addr)) {
		__u32 v4[4] = {addr[3], 0, 0, 0};

		rv = pw_svc_reverse(ctx, PW_FAMILY_V4, v4, (__be16)ctx->user_port);
		if (rv && rv->family == PW_FAMILY_V4) {
			ctx->user_ip6[3] = rv->addr[0];
			ctx->user_port = rv->port;
		}
		return 1;
	}
	rv = pw_svc_reverse(ctx, PW_FAMILY_V6, addr, (__be16)ctx->user_port);
	if (rv && rv->family == PW_FAMILY_V6) {
		ctx->user_ip6[0] = rv->addr[0];
		ctx->user_ip6[1] = rv->addr[1];
		ctx->user_ip6[2] = rv->addr[2];
		ctx->user_ip6[3] = rv->addr[3];
		ctx->user_port = rv->port;
	}
	return 1;
}

SEC("cgroup/connect4")
int pw_connect4(struct bpf_sock_addr *ctx)
{
	return pw_sock4(ctx, 0);
}

SEC("cgroup/connect6")
int pw_connect6(struct bpf_sock_addr *ctx)
{
	return pw_sock6(ctx, 0);
}

/* unconnected UDP: every datagram of one socket goes to the same backend */
SEC("cgroup/sendmsg4")
int pw_sendmsg4(struct bpf_sock_addr *ctx)
{
	return pw_sock4(ctx, 1);
}

SEC("cgroup/sendmsg6")
int pw_sendmsg6(struct bpf_sock_addr *ctx)
{
	return pw_sock6(ctx, 1);
}

SEC("cgroup/recvmsg4")
int pw_recvmsg4(struct bpf_sock_addr *ctx)
{
	return pw_sock_rev4(ctx);
}

SEC("cgroup/recvmsg6")
int pw_recvmsg6(struct bpf_sock_addr *ctx)
{
	return pw_sock_rev6(ctx);
}

SEC("cgroup/getpeername4")
int pw_getpeername4(struct bpf_sock_addr *ctx)
{
	return pw_sock_rev4(ctx);
}

SEC("cgroup/getpeername6")
int pw_getpeername6(struct bpf_sock_addr *ctx)
{
	return pw_sock_rev6(ctx);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
