/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The reader's half of drop folding (fold.c), for the event reader (events.c). */
#ifndef PW_DATAPATH_FOLD_H
#define PW_DATAPATH_FOLD_H

#include "objects.h"

/* after pw_fold_sample(): what the caller gets of the sample */
enum { PW_FOLD_NONE, PW_FOLD_EVENT, PW_FOLD_REPEAT };

/* with the rings open and dp->ev_ncpu set: the last reader's view, the counters' bases */
int pw_fold_open(struct pw_dp *dp);
void pw_fold_free(struct pw_dp *dp);
/*
 * A sample from CPU cpu's ring: PW_FOLD_EVENT to hand ev on as a record (made plain),
 * PW_FOLD_REPEAT to hand on *repeats more of ev (a window's close, made plain), PW_FOLD_NONE.
 */
int pw_fold_sample(struct pw_dp *dp, int cpu, struct pw_event *ev, uint64_t *repeats);

typedef void (*pw_fold_repeat_fn)(struct pw_dp *dp, int cpu, const struct pw_event *ev, uint64_t n);
/*
 * After a drain: read every CPU's window, hand on the repeats of the windows whose opening
 * record was read, and store the reader's view in PW_MAP_FOLDACK if it moved. 0 or -errno.
 */
int pw_fold_look(struct pw_dp *dp, pw_fold_repeat_fn fn);
/* PW_EV_FOLD records of cpu that found its ring full since the open, as of the last look */
uint64_t pw_fold_close_full(const struct pw_dp *dp, int cpu);

#endif /* PW_DATAPATH_FOLD_H */
