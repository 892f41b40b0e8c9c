/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Drop folding (struct pw_fold in shared.h): a repeated drop is a counter increment, not a
 * perf ring write. TC only: the slot is per CPU and TC programs do not nest on a CPU, while a
 * socket program can be interrupted by a TC program on its own CPU.
 */
#ifndef PW_BPF_FOLD_H
#define PW_BPF_FOLD_H

#include "lib/common.h"
#include "lib/maps.h"
#include "lib/conntrack.h"
#include "lib/events.h"

/*
 * The same drop: the record but for its time and fold fields (kind, reason, direction,
 * family, protocol, TCP flags, record flags, ports, endpoint, addresses, identities, policy,
 * interface, length; the socket fields are zero in TC records). Nine word compares.
 */
#define PW_FOLD_CMP_FIRST 1  /* in words: from type ... */
#define PW_FOLD_CMP_END	  10 /* ... to pkt_len and pid/folded, inclusive */
_Static_assert(__builtin_offsetof(struct pw_event, type) == PW_FOLD_CMP_FIRST * 8, "fold key");
_Static_assert(__builtin_offsetof(struct pw_event, fold_gen) == PW_FOLD_CMP_END * 8, "fold key");

static __always_inline int pw_fold_same(const struct pw_event *a, const struct pw_event *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;
	__u64 d = 0;

#pragma unroll
	for (int i = PW_FOLD_CMP_FIRST; i < PW_FOLD_CMP_END; i++)
		d |= x[i] ^ y[i];
	return !d;
}

/*
 * Fold a drop record (ev: filled but for its time, in a per-CPU slot of the caller's).
 * Returns 1 when it was counted into the open window (nothing to write), 0 when the caller
 * writes ev to the ring with pw_event_output(): its time is set, and it opens a new window
 * (flagged, its number set) or, when the open one could not be closed, goes out on its own.
 */
static __always_inline int pw_fold(void *ctx, struct pw_event *ev)
{
	__u32 zero = 0;
	struct pw_fold *f = bpf_map_lookup_elem(&PW_MAP_FOLD, &zero);
	__u64 now = pw_ct_tick_ns(), gen;

	if (!f) {
		ev->ts_ns = bpf_ktime_get_ns();
		return 0;
	}
	if ((now - f->open_ns < PW_FOLD_NS || now < f->retry_ns) &&
	    PW_FOLD_COUNT(f->word) < 0xffffffffull && PW_FOLD_GEN(f->word) &&
	    pw_fold_same(&f->ev, ev)) {
		f->word++;
		if (now > f->last_ns)
			f->last_ns = now;
		return 1;
	}
	ev->ts_ns = bpf_ktime_get_ns();
	if (PW_FOLD_COUNT(f->word)) {
		long err;

		if (now < f->retry_ns)
			return 0;

		f->ev.type = PW_EV_FOLD;
		f->ev.folded = PW_FOLD_COUNT(f->word);
		f->ev.ts_ns = f->last_ns;
		err = bpf_perf_event_output(ctx, &PW_MAP_EVENTS, BPF_F_CURRENT_CPU, &f->ev,
					    sizeof(f->ev));
		f->ev.type = PW_EV_DROP;
		f->ev.folded = 0;
		/* not closed: it keeps its count for a later close or the reader's look */
		if (err) {
			if (err == -PW_ENOSPC)
				f->close_full++;
			f->retry_ns = now + PW_FOLD_RETRY_NS;
			return 0;
		}
	}
	gen = PW_FOLD_GEN(f->word) + 1;
	ev->fold_gen = gen;
	f->word = gen << 32;
	f->open_ns = now;
	f->last_ns = ev->ts_ns > now ? ev->ts_ns : now;
	__builtin_memcpy(&f->ev, ev, sizeof(*ev));
	ev->flags |= PW_EV_F_FOLD;
	return 0;
}

#endif /* PW_BPF_FOLD_H */
