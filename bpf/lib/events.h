/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Event records into the per-CPU perf rings. Lost samples are counted by the reader. */
#ifndef PW_BPF_EVENTS_H
#define PW_BPF_EVENTS_H

#include "lib/common.h"
#include "lib/maps.h"

static __always_inline void pw_event_fill_tuple(struct pw_event *ev, const struct pw_tuple *t)
{
	ev->family = t->family;
	ev->proto = t->proto;
	ev->sport = t->sport;
	ev->dport = t->dport;
	pw_addr_copy(ev->saddr, t->saddr);
	pw_addr_copy(ev->daddr, t->daddr);
}

static __always_inline void pw_event_emit(void *ctx, struct pw_event *ev)
{
	ev->ts_ns = bpf_ktime_get_ns();
	bpf_perf_event_output(ctx, &PW_MAP_EVENTS, BPF_F_CURRENT_CPU, ev, sizeof(*ev));
}

#endif /* PW_BPF_EVENTS_H */
