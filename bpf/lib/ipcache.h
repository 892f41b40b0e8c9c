/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Address -> identity, longest prefix first. A miss is the world. */
#ifndef PW_BPF_IPCACHE_H
#define PW_BPF_IPCACHE_H

#include "lib/common.h"
#include "lib/maps.h"

static __always_inline void pw_ipcache_lookup(__u8 family, const __u32 *addr,
					      struct pw_ipcache_val *out)
{
	struct pw_ipcache_key k = {};
	struct pw_ipcache_val *v;

	k.family = family;
	if (family == PW_FAMILY_V4) {
		k.prefixlen = PW_IPCACHE_PREFIX_BITS + 32;
		k.addr[0] = addr[0];
	} else {
		k.prefixlen = PW_IPCACHE_PREFIX_BITS + 128;
		pw_addr_copy(k.addr, addr);
	}
	v = bpf_map_lookup_elem(&PW_MAP_IPCACHE, &k);
	if (v) {
		out->identity = v->identity;
		out->cidr_identity = v->cidr_identity;
	} else {
		out->identity = PW_ID_WORLD;
		out->cidr_identity = 0;
	}
}

#endif /* PW_BPF_IPCACHE_H */
