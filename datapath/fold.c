// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The reader's half of drop folding (struct pw_fold in shared.h): the TC programs count a
 * repeated drop in their CPU's window instead of writing it to the ring; here those counts
 * become "n more of that drop" for the caller, exactly once each.
 *
 * Per CPU the reader keeps which window it last saw opened (the opening record carries its
 * number) and how many of its repeats it handed on (`taken`). A window's repeats arrive by
 * two paths: its PW_EV_FOLD record when the next window opens, and the reader's own look at
 * the slot after each drain (a window nothing closes, the last drop of a flood). Each path
 * hands on only what the other has not. The reader's view is written back to the pinned
 * PW_MAP_FOLDACK whenever it moves, so the next reader (the daemon restarted) hands on only
 * the rest, and repeats counted while no reader was there still arrive.
 *
 * Everything here runs where the rings are drained: the caller's thread, or the reader's
 * thread while it runs (events.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "fold.h"

/* the record as the caller sees it: a plain PW_EV_DROP */
static void plain(struct pw_event *ev)
{
	ev->type = PW_EV_DROP;
	ev->flags &= ~PW_EV_F_FOLD;
	ev->folded = 0;
	ev->fold_gen = 0;
}

int pw_fold_open(struct pw_dp *dp)
{
	int ack_fd = pw_dp_map_fd(dp, PW_DPMAP_FOLDACK), fd = pw_dp_map_fd(dp, PW_DPMAP_FOLD);
	__u32 zero = 0;
	int err = 0;

	dp->fold_ack = calloc(dp->ev_ncpu, sizeof(*dp->fold_ack));
	dp->fold_vals = calloc(dp->ev_ncpu, sizeof(*dp->fold_vals));
	dp->fold_full_base = calloc(dp->ev_ncpu, sizeof(*dp->fold_full_base));
	if (!dp->fold_ack || !dp->fold_vals || !dp->fold_full_base)
		return -ENOMEM;
	if (ack_fd < 0 || fd < 0)
		return -EINVAL;
	/* what the last reader handed on; all zero on new maps */
	if (bpf_map_lookup_elem(ack_fd, &zero, dp->fold_ack) ||
	    bpf_map_lookup_elem(fd, &zero, dp->fold_vals)) {
		err = -errno;
		pw_err(dp, "cannot read the drop fold maps %s, %s: %s",
		       pw_dp_map_name(PW_DPMAP_FOLD), pw_dp_map_name(PW_DPMAP_FOLDACK),
		       strerror(-err));
		return err;
	}
	for (int c = 0; c < dp->ev_ncpu; c++)
		dp->fold_full_base[c] = dp->fold_vals[c].close_full;
	dp->fold_dirty = false;
	return 0;
}

void pw_fold_free(struct pw_dp *dp)
{
	free(dp->fold_ack);
	dp->fold_ack = NULL;
	free(dp->fold_vals);
	dp->fold_vals = NULL;
	free(dp->fold_full_base);
	dp->fold_full_base = NULL;
}

int pw_fold_sample(struct pw_dp *dp, int cpu, struct pw_event *ev, uint64_t *repeats)
{
	struct pw_fold_ack *a;

	*repeats = 0;
	if (ev->type != PW_EV_FOLD && !(ev->type == PW_EV_DROP && (ev->flags & PW_EV_F_FOLD)))
		return PW_FOLD_EVENT;
	if (cpu < 0 || cpu >= dp->ev_ncpu) { /* no state to match it with: never happens */
		if (ev->type == PW_EV_FOLD)
			*repeats = ev->folded;
		plain(ev);
		return *repeats ? PW_FOLD_REPEAT : PW_FOLD_EVENT;
	}
	a = &dp->fold_ack[cpu];
	dp->fold_dirty = true;
	if (ev->type == PW_EV_FOLD) {
		/* the window's end: whatever the reader's looks did not hand on yet */
		uint64_t n = ev->folded;

		if (a->gen == ev->fold_gen)
			n = n > a->taken ? n - a->taken : 0;
		a->gen = ev->fold_gen;
		a->taken = ev->folded;
		a->has_ev = 0;
		plain(ev);
		*repeats = n;
		return n ? PW_FOLD_REPEAT : PW_FOLD_NONE;
	}
	/* a window opens: its repeats will be counted against this record */
	a->gen = ev->fold_gen;
	a->taken = 0;
	plain(ev);
	a->ev = *ev;
	a->has_ev = 1;
	return PW_FOLD_EVENT;
}

int pw_fold_look(struct pw_dp *dp, pw_fold_repeat_fn fn)
{
	int fd = pw_dp_map_fd(dp, PW_DPMAP_FOLD), ack_fd = pw_dp_map_fd(dp, PW_DPMAP_FOLDACK);
	__u32 zero = 0;
	int err = 0;

	if (bpf_map_lookup_elem(fd, &zero, dp->fold_vals))
		return -errno;
	for (int c = 0; c < dp->ev_ncpu; c++) {
		struct pw_fold_ack *a = &dp->fold_ack[c];
		uint64_t w = dp->fold_vals[c].word, n = PW_FOLD_COUNT(w);

		/*
		 * Only a window whose opening record was read: another one's record is still in
		 * the ring (or was lost), and its close hands on its repeats.
		 */
		if (!a->has_ev || PW_FOLD_GEN(w) != a->gen || n <= a->taken)
			continue;
		struct pw_event ev = a->ev;

		if (dp->fold_vals[c].last_ns > ev.ts_ns)
			ev.ts_ns = dp->fold_vals[c].last_ns;
		fn(dp, c, &ev, n - a->taken);
		a->taken = n;
		dp->fold_dirty = true;
	}
	if (dp->fold_dirty) {
		if (bpf_map_update_elem(ack_fd, &zero, dp->fold_ack, BPF_ANY))
			err = -errno;
		else
			dp->fold_dirty = false;
	}
	return err;
}

uint64_t pw_fold_close_full(const struct pw_dp *dp, int cpu)
{
	const struct pw_fold *f = &dp->fold_vals[cpu];

	return f->close_full > dp->fold_full_base[cpu] ? f->close_full - dp->fold_full_base[cpu]
						       : 0;
}
