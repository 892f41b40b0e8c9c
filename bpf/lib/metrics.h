/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-CPU counters by (reason, direction): plain adds, the slot belongs to this CPU. */
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

#endif /* PW_BPF_METRICS_H */
