/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Event records into the per-CPU perf rings. A record that cannot be written is counted here,
 * in the emitting CPU's metrics slot, at once: the kernel tells a reader of a full ring only
 * with the next record that fits, and tells nobody when no reader has a ring on this CPU.
 */
#ifndef PW_BPF_EVENTS_H
#define PW_BPF_EVENTS_H

#include "lib/common.h"
#include "lib/maps.h"
#include "lib/metrics.h"

#define PW_ENOSPC 28 /* the ring is full */

static __always_inline void pw_event_fill_tuple(struct pw_event *ev, const struct pw_tuple *t)
{
	ev->family = t->family;
	ev->proto = t->proto;
	ev->sport = t->sport;
	ev->dport = t->dport;
	pw_addr_copy(ev->saddr, t->saddr);
	pw_addr_copy(ev->daddr, t->daddr);
}

/* write a record whose time is set */
static __always_inline void pw_event_output(void *ctx, struct pw_event *ev)
{
	long err = bpf_perf_event_output(ctx, &PW_MAP_EVENTS, BPF_F_CURRENT_CPU, ev, sizeof(*ev));

	if (err)
		pw_metrics_inc(err == -PW_ENOSPC ? PW_METRIC_EV_FULL : PW_METRIC_EV_NOREADER);
}

static __always_inline void pw_event_emit(void *ctx, struct pw_event *ev)
{
	ev->ts_ns = bpf_ktime_get_ns();
	pw_event_output(ctx, ev);
}

#endif /* PW_BPF_EVENTS_H */
