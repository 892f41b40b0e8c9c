/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Endpoint lookup (by host-side ifindex or by the caller's cgroup) and address ownership. */
#ifndef PW_BPF_ENDPOINT_H
#define PW_BPF_ENDPOINT_H

#include "lib/common.h"
#include "lib/maps.h"

/* Pod cgroups sit at most this many levels below --cgroup-root (pod, then containers). */
#define PW_CGROUP_MAX_DEPTH 8

static __always_inline struct pw_endpoint *pw_ep_by_ifindex(__u32 ifindex)
{
	return bpf_map_lookup_elem(&PW_MAP_EP_IF, &ifindex);
}

/*
 * The pod is the first ancestor below root_level that the control plane registered:
 * containers are child cgroups of the pod cgroup, so walking from the top finds the pod.
 */
static __always_inline struct pw_endpoint *pw_ep_by_current_cgroup(__u32 root_level)
{
	struct pw_endpoint *ep;
	__u64 id;
	int i;

	for (i = 1; i <= PW_CGROUP_MAX_DEPTH; i++) {
		id = bpf_get_current_ancestor_cgroup_id(root_level + i);
		if (!id)
			break; /* deeper than the task itself */
		ep = bpf_map_lookup_elem(&PW_MAP_EP_CG, &id);
		if (ep)
			return ep;
	}
	return NULL;
}

/* Does addr (PW_FAMILY_V4: word 0) belong to the endpoint? Bounded by the array sizes. */
static __always_inline int pw_ep_owns(const struct pw_endpoint *ep, __u8 family, const __u32 *addr)
{
	int i;

	if (family == PW_FAMILY_V4) {
		for (i = 0; i < PW_EP_MAX_V4; i++) {
			if (i >= ep->n_v4)
				break;
			if (ep->v4[i] == addr[0])
				return 1;
		}
		return 0;
	}
	for (i = 0; i < PW_EP_MAX_V6; i++) {
		if (i >= ep->n_v6)
			break;
		if (pw_addr_eq(ep->v6[i], addr))
			return 1;
	}
	return 0;
}

static __always_inline int pw_addr_is_zero(const __u32 *a)
{
	return !(a[0] | a[1] | a[2] | a[3]);
}

/* fe80::/10: link-local, meaningful only on the pod's own point-to-point link */
static __always_inline int pw_addr_is_v6_ll(const __u32 *a)
{
	return (bpf_ntohl(a[0]) & 0xffc00000) == 0xfe800000;
}

#endif /* PW_BPF_ENDPOINT_H */
