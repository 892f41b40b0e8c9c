// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A single-producer single-consumer ring of event items: the reader thread copies each perf
 * sample out of the kernel's ring into it at once, so the kernel's rings are drained however
 * long the consumer (the flow log, the file) takes; the consumer catches up from here. C11
 * atomics: the producer publishes an item with a release store of the tail, the consumer
 * frees its slot with a release store of the head.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/eventfd.h>

#include "evq.h"

struct pw_evq {
	struct pw_evq_item *v;
	size_t mask;
	_Alignas(64) atomic_size_t head; /* next to read: the consumer's */
	_Alignas(64) atomic_size_t tail; /* next to write: the producer's */
	atomic_bool signalled;
	int efd;
};

int pw_evq_new(size_t capacity, struct pw_evq **out)
{
	struct pw_evq *q;
	size_t cap = 1;

	*out = NULL;
	while (cap < capacity)
		cap <<= 1;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	/* calloc: the pages are only taken as the queue first fills that far */
	q->v = calloc(cap, sizeof(*q->v));
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!q->v || q->efd < 0) {
		int err = q->v ? -errno : -ENOMEM;

		pw_evq_free(q);
		return err;
	}
	q->mask = cap - 1;
	atomic_init(&q->head, 0);
	atomic_init(&q->tail, 0);
	atomic_init(&q->signalled, false);
	*out = q;
	return 0;
}

void pw_evq_free(struct pw_evq *q)
{
	if (!q)
		return;
	if (q->efd >= 0)
		close(q->efd);
	free(q->v);
	free(q);
}

size_t pw_evq_capacity(const struct pw_evq *q)
{
	return q->mask + 1;
}

size_t pw_evq_room(const struct pw_evq *q)
{
	size_t head = atomic_load_explicit(&((struct pw_evq *)q)->head, memory_order_acquire);
	size_t tail = atomic_load_explicit(&((struct pw_evq *)q)->tail, memory_order_relaxed);

	return q->mask + 1 - (tail - head);
}

bool pw_evq_push(struct pw_evq *q, const struct pw_evq_item *it)
{
	size_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);

	if (!pw_evq_room(q))
		return false;
	q->v[tail & q->mask] = *it;
	atomic_store_explicit(&q->tail, tail + 1, memory_order_release);
	return true;
}

void pw_evq_signal(struct pw_evq *q)
{
	uint64_t one = 1;

	/*
	 * Either the consumer's clear comes after this fence and its look at the tail sees
	 * what was pushed, or it came before and this sees signalled false and writes.
	 */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_exchange_explicit(&q->signalled, true, memory_order_acq_rel))
		return;
	/* a full counter (never, at one write per clear) only means it is readable already */
	if (write(q->efd, &one, sizeof(one)) < 0) {
	}
}

int pw_evq_fd(const struct pw_evq *q)
{
	return q->efd;
}

void pw_evq_clear(struct pw_evq *q)
{
	uint64_t n;

	/* cleared before the consumer looks: a push after this signals again */
	if (read(q->efd, &n, sizeof(n)) < 0) {
	}
	atomic_store_explicit(&q->signalled, false, memory_order_release);
	atomic_thread_fence(memory_order_seq_cst);
}

const struct pw_evq_item *pw_evq_peek(struct pw_evq *q)
{
	size_t head = atomic_load_explicit(&q->head, memory_order_relaxed);

	if (head == atomic_load_explicit(&q->tail, memory_order_acquire))
		return NULL;
	return &q->v[head & q->mask];
}

void pw_evq_pop(struct pw_evq *q)
{
	size_t head = atomic_load_explicit(&q->head, memory_order_relaxed);

	atomic_store_explicit(&q->head, head + 1, memory_order_release);
}
