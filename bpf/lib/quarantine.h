/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Quarantine (PW_EP_F_QUARANTINE): everything of the pod stops, in both directions, tracked
 * flows included, at the socket layer and at TC. The check comes before conntrack, so an
 * established flow is cut by its next packet. What never leaves the pod (loopback, its own
 * addresses) goes on: the pod keeps running, cut off from the network. With PW_EP_F_QUARANTINE_DNS the pod may still
 * resolve names: DNS it sends (UDP/TCP to port 53) goes on to the ordinary policy checks, and
 * only replies of flows it opened come back.
 *
 * A quarantined pod can flood (a worm, a retrying client): its drop records are rate limited
 * here, per endpoint and direction, before they reach the perf ring. The counters still see
 * every packet (pw_metrics_count), so nothing is invisible.
 */
#ifndef PW_BPF_QUARANTINE_H
#define PW_BPF_QUARANTINE_H

#include "lib/common.h"

/* At most PW_QUAR_EV_BURST records per (endpoint slot, direction) per window. */
#define PW_QUAR_EV_WINDOW_NS 1000000000ull
#define PW_QUAR_EV_BURST     32
#define PW_QUAR_EV_SLOTS     256 /* endpoints hashed by ep_id; a collision only shares a window */

/*
 * Window start and records in it, per slot, this program load's own (.bss): a restart
 * forgets them, which at worst lets one more burst through. Racing CPUs may let a record or
 * two more by; no lock on the packet path for that.
 */
__u64 pw_quar_ev_start[PW_QUAR_EV_SLOTS * PW_DIR_MAX];
__u32 pw_quar_ev_count[PW_QUAR_EV_SLOTS * PW_DIR_MAX];

/* May this quarantine drop be recorded (1), or is its slot's burst spent (0)? */
static __always_inline int pw_quar_ev_allow(__u32 ep_id, __u8 dir)
{
	__u32 i = ((ep_id & (PW_QUAR_EV_SLOTS - 1)) << 1) | (dir & 1);
	__u64 now = bpf_ktime_get_ns();

	if (i >= PW_QUAR_EV_SLOTS * PW_DIR_MAX)
		return 1;
	if (now - pw_quar_ev_start[i] >= PW_QUAR_EV_WINDOW_NS) {
		pw_quar_ev_start[i] = now;
		pw_quar_ev_count[i] = 1;
		return 1;
	}
	if (pw_quar_ev_count[i] >= PW_QUAR_EV_BURST)
		return 0;
	pw_quar_ev_count[i]++;
	return 1;
}

/* A DNS query from the pod's point of view (dir = the pod's direction of the packet). */
static __always_inline int pw_quar_is_dns(__u8 dir, __u8 proto, __be16 sport, __be16 dport)
{
	if (proto != IPPROTO_UDP && proto != IPPROTO_TCP)
		return 0;
	return (dir == PW_DIR_EGRESS ? dport : sport) == bpf_htons(53);
}

#endif /* PW_BPF_QUARANTINE_H */
