/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Per-CPU counters by (reason, direction): plain adds, the slot belongs to this CPU. The
 * datapath's own counters (PW_METRIC_EV_*) are bumped atomically instead, see below.
 */
#ifndef PW_BPF_METRICS_H
#define PW_BPF_METRICS_H

#include "lib/common.h"
#include "lib/maps.h"

static __always_inline void pw_metrics_count(__u32 reason, __u8 dir, __u64 bytes)
{
	__u32 idx = PW_METRIC_IDX(reason, dir);
	struct pw_metric *m;

	if (reason >= PW_REASON_MAX || dir >= PW_DIR_MAX)
		return;
	m = bpf_map_lookup_elem(&PW_MAP_METRICS, &idx);
	if (!m)
		return;
	m->packets++;
	m->bytes += bytes;
}

/*
 * One more in a counter slot past the grid (EV_FULL, EV_NOREADER, CT_END_LOST). Atomic: a cgroup
 * socket program can be preempted on this CPU (PREEMPT kernels) by another that bumps the same
 * slot, and the reader reports these counts as exact losses. They are bumped only on a failure
 * path, so the cost is off the packet path.
 */
static __always_inline void pw_metrics_inc(__u32 idx)
{
	struct pw_metric *m = bpf_map_lookup_elem(&PW_MAP_METRICS, &idx);

	if (m)
		__sync_fetch_and_add(&m->packets, 1);
}

#endif /* PW_BPF_METRICS_H */
