/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The queue between the event reader's thread and the caller's thread (evq.c): one producer,
 * one consumer, fixed capacity, an eventfd that tells the consumer there is something.
 */
#ifndef PW_DATAPATH_EVQ_H
#define PW_DATAPATH_EVQ_H

#include <stddef.h>
#include <stdint.h>

#include <podwall/shared.h>

enum pw_evq_kind {
	PW_EVQ_EVENT = 1,
	PW_EVQ_LOST = 2,
	PW_EVQ_LOST_NOREADER = 3,
	PW_EVQ_REPEAT = 4, /* lost: how many more of ev (drop folding) */
};

struct pw_evq_item {
	uint32_t kind; /* enum pw_evq_kind */
	int32_t cpu;
	uint64_t lost;	    /* PW_EVQ_LOST*; PW_EVQ_REPEAT: the count */
	struct pw_event ev; /* PW_EVQ_EVENT, PW_EVQ_REPEAT */
};

struct pw_evq;

/* capacity rounded up to a power of two; 0 or -errno */
int pw_evq_new(size_t capacity, struct pw_evq **out);
void pw_evq_free(struct pw_evq *q);
size_t pw_evq_capacity(const struct pw_evq *q);
/* producer side */
size_t pw_evq_room(const struct pw_evq *q);
/* false when full (the producer checks pw_evq_room() before a drain, so it never is) */
bool pw_evq_push(struct pw_evq *q, const struct pw_evq_item *it);
/* wake the consumer (eventfd) if it was not already woken since its last pw_evq_clear() */
void pw_evq_signal(struct pw_evq *q);
/* consumer side */
int pw_evq_fd(const struct pw_evq *q);
void pw_evq_clear(struct pw_evq *q);
/* the oldest item, or NULL when empty; pw_evq_pop() releases it */
const struct pw_evq_item *pw_evq_peek(struct pw_evq *q);
void pw_evq_pop(struct pw_evq *q);

#endif /* PW_DATAPATH_EVQ_H */
