// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The event reader: one perf ring per CPU. Lost samples are counted and handed to the
 * caller, never dropped silently; samples shorter than struct pw_event (a program built
 * against another layout) are counted and skipped.
 *
 * The kernel writes PERF_RECORD_LOST into a ring only when the next sample fits, so a burst
 * followed by silence would be reported late or never, and a record emitted on a CPU without
 * a ring is reported to nobody. The BPF side therefore counts its failed outputs per CPU
 * (PW_METRIC_EV_FULL, PW_METRIC_EV_NOREADER) and every drain compares those counters with
 * what the rings said (struct pw_ev_cpu).
 *
 * pw_dp_events_thread() moves the draining to a thread of its own: it copies every sample
 * out of the kernel's rings into a queue (evq.c) as soon as a ring wakes it, so a caller busy
 * writing records, or waiting for a CPU on a loaded machine, no longer lets the rings
 * overflow; the callbacks still run in the caller's thread, from pw_dp_events_consume().
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <linux/perf_event.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "events.h"
#include "evq.h"
#include "fold.h"

/* the longest a record waits below the watermark in pw_dp_events_poll() */
#define PW_EV_DRAIN_MS 20

/* n repeats of ev, in the caller's thread */
static void hand_repeat(struct pw_dp *dp, int cpu, const struct pw_event *ev, uint64_t n)
{
	dp->ev_handled++;
	dp->ev_repeats += n;
	if (dp->on_repeat) {
		dp->on_repeat(dp->ev_ctx, cpu, ev, n);
		return;
	}
	for (uint64_t i = 0; dp->on_event && i < n; i++)
		dp->on_event(dp->ev_ctx, cpu, ev);
}

/* n repeats of ev, where the rings are drained: queued for the caller when the thread reads */
static void push_repeat(struct pw_dp *dp, int cpu, const struct pw_event *ev, uint64_t n)
{
	if (dp->evq) {
		struct pw_evq_item it = {.kind = PW_EVQ_REPEAT, .cpu = cpu, .lost = n, .ev = *ev};

		pw_evq_push(dp->evq, &it); /* room was checked before the drain */
		return;
	}
	hand_repeat(dp, cpu, ev, n);
}

static void on_sample(void *ctx, int cpu, void *data, __u32 size)
{
	struct pw_dp *dp = ctx;
	struct pw_event ev;
	uint64_t repeats;
	int r;

	if (size < sizeof(ev)) {
		__atomic_fetch_add(&dp->ev_short, 1, __ATOMIC_RELAXED);
		return;
	}
	/* perf samples are only 4-byte aligned: copy before reading the __u64 fields */
	memcpy(&ev, data, sizeof(ev));
	r = pw_fold_sample(dp, cpu, &ev, &repeats);
	if (r == PW_FOLD_REPEAT)
		push_repeat(dp, cpu, &ev, repeats);
	if (r != PW_FOLD_EVENT)
		return;
	if (dp->evq) {
		struct pw_evq_item it = {.kind = PW_EVQ_EVENT, .cpu = cpu, .ev = ev};

		pw_evq_push(dp->evq, &it); /* room was checked before the drain */
		return;
	}
	dp->ev_handled++;
	if (dp->on_event)
		dp->on_event(dp->ev_ctx, cpu, &ev);
}

/* noreader: records that found no ring (EV_NOREADER), which pw_dp_events_unread() counts */
static void report_lost_kind(struct pw_dp *dp, int cpu, uint64_t cnt, bool noreader)
{
	if (dp->evq) {
		struct pw_evq_item it = {.kind = noreader ? PW_EVQ_LOST_NOREADER : PW_EVQ_LOST,
					 .cpu = cpu,
					 .lost = cnt};

		pw_evq_push(dp->evq, &it);
		return;
	}
	dp->ev_lost += cnt;
	if (dp->on_lost)
		dp->on_lost(dp->ev_ctx, cpu, cnt);
}

static void report_lost(struct pw_dp *dp, int cpu, uint64_t cnt)
{
	report_lost_kind(dp, cpu, cnt, false);
}

/*
 * A ring's PERF_RECORD_LOST: summed, and compared with the counters after the drain (it also
 * counts window closes that found the ring full, which lost nothing: sync_counters()).
 */
static void on_ring_lost(struct pw_dp *dp, int cpu, uint64_t cnt)
{
	if (cpu < 0 || cpu >= dp->ev_ncpu) {
		report_lost(dp, cpu, cnt); /* no counter to match it with: never happens */
		return;
	}
	dp->ev_cpu[cpu].ring_lost += cnt;
}

/* One counter slot, every CPU's value, in one syscall. */
static int read_slot(struct pw_dp *dp, __u32 slot, struct pw_metric *vals)
{
	int fd = pw_dp_map_fd(dp, PW_DPMAP_METRICS);

	if (fd < 0)
		return -EINVAL;
	return bpf_map_lookup_elem(fd, &slot, vals) ? -errno : 0;
}

/*
 * After a drain: hand on the folded drops no record closed yet, and report what the BPF side
 * counted beyond what was reported. A full ring's loss is the larger of its counter's growth
 * since open and the ring's own PERF_RECORD_LOST sum less the window closes that found it
 * full (the counter is bumped at once, the ring record comes with a later sample; a socket
 * program preempted between its failed output and its counter may reverse that order).
 */
static int sync_counters(struct pw_dp *dp)
{
	struct pw_metric *v = dp->ev_vals;
	int c, err, ferr;

	ferr = pw_fold_look(dp, push_repeat);
	err = read_slot(dp, PW_METRIC_EV_FULL, v);
	for (c = 0; c < dp->ev_ncpu; c++) {
		struct pw_ev_cpu *e = &dp->ev_cpu[c];
		uint64_t n = 0, ring = e->ring_lost, closes = pw_fold_close_full(dp, c);

		if (!err && v[c].packets > e->full_base)
			n = v[c].packets - e->full_base;
		ring = ring > closes ? ring - closes : 0;
		if (ring > n)
			n = ring;
		if (n > e->reported) {
			report_lost(dp, c, n - e->reported);
			e->reported = n;
		}
	}
	if (!err)
		err = ferr;
	if (err)
		goto out;
	err = read_slot(dp, PW_METRIC_EV_NOREADER, v);
	if (err)
		goto out;
	for (c = 0; c < dp->ev_ncpu; c++) {
		struct pw_ev_cpu *e = &dp->ev_cpu[c];

		if (v[c].packets > e->noreader_seen) {
			report_lost_kind(dp, c, v[c].packets - e->noreader_seen, true);
			/* pw_dp_events_unread() reads it from the caller's thread */
			__atomic_store_n(&e->noreader_seen, v[c].packets, __ATOMIC_RELEASE);
		}
	}
out:
	/* the drain itself worked: say so once, and report the losses at the next good read */
	if (err && !dp->ev_read_failed && dp->evq)
		__atomic_store_n(&dp->ev_thread_err, err, __ATOMIC_RELEASE); /* logged by consume */
	else if (err && !dp->ev_read_failed)
		pw_warn(dp,
			"cannot read the event counters (maps %s, %s): %s; losses and folded "
			"drops are reported late",
			pw_dp_map_name(PW_DPMAP_METRICS), pw_dp_map_name(PW_DPMAP_FOLD),
			strerror(-err));
	dp->ev_read_failed = err != 0;
	return err;
}

/* perf's record layouts for PERF_SAMPLE_RAW samples and lost-record notices */
struct pw_perf_sample {
	struct perf_event_header hdr;
	__u32 size;
	char data[];
};

struct pw_perf_lost {
	struct perf_event_header hdr;
	__u64 id;
	__u64 lost;
};

static enum bpf_perf_event_ret on_raw(void *ctx, int cpu, struct perf_event_header *hdr)
{
	if (hdr->type == PERF_RECORD_SAMPLE) {
		struct pw_perf_sample *s = (struct pw_perf_sample *)hdr;

		on_sample(ctx, cpu, s->data, s->size);
	} else if (hdr->type == PERF_RECORD_LOST) {
		struct pw_perf_lost *l = (struct pw_perf_lost *)hdr;

		on_ring_lost(ctx, cpu, l->lost);
	}
	return LIBBPF_PERF_EVENT_CONT;
}

int pw_dp_events_open(struct pw_dp *dp, size_t pages_per_cpu, pw_event_fn on_event,
		      pw_lost_fn on_lost_cb, void *ctx)
{
	int fd = pw_dp_map_fd(dp, PW_DPMAP_EVENTS), err, ncpu, c;

	if (fd < 0)
		return -EINVAL;
	if (dp->pb)
		return -EBUSY;
	if (!pages_per_cpu)
		pages_per_cpu = 64;
	if (pages_per_cpu & (pages_per_cpu - 1)) {
		pw_err(dp, "event buffer pages per CPU must be a power of two, not %zu",
		       pages_per_cpu);
		return -EINVAL;
	}
	dp->on_event = on_event;
	dp->on_repeat = NULL;
	dp->on_lost = on_lost_cb;
	dp->ev_ctx = ctx;
	dp->ev_ring_bytes = pages_per_cpu * (size_t)sysconf(_SC_PAGESIZE);
	dp->ev_lost = 0;
	dp->ev_short = 0;
	dp->ev_repeats = 0;
	/*
	 * Wake the reader when a ring is a quarter full, not on every record: a wakeup costs the
	 * packet that emits it several microseconds (measured by bench/bench_events), a
	 * watermark a few dozen nanoseconds. What sits below the watermark is drained by
	 * pw_dp_events_poll() and by callers' periodic pw_dp_events_consume().
	 */
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.config = PERF_COUNT_SW_BPF_OUTPUT,
		.sample_type = PERF_SAMPLE_RAW,
		.sample_period = 1,
		.watermark = 1,
		.wakeup_watermark = (__u32)(pages_per_cpu * (size_t)sysconf(_SC_PAGESIZE) / 4),
	};

	ncpu = libbpf_num_possible_cpus();
	if (ncpu < 0)
		return ncpu;
	dp->ev_ncpu = ncpu;
	dp->ev_read_failed = false;
	dp->ev_cpu = calloc(ncpu, sizeof(*dp->ev_cpu));
	dp->ev_vals = calloc(ncpu, sizeof(*dp->ev_vals));
	if (!dp->ev_cpu || !dp->ev_vals) {
		err = -ENOMEM;
		goto out;
	}
	dp->pb = perf_buffer__new_raw(fd, pages_per_cpu, &attr, on_raw, dp, NULL);
	if (!dp->pb) {
		err = -errno;
		pw_err(dp, "cannot open the event buffer (%zu pages per CPU): %s", pages_per_cpu,
		       strerror(-err));
		goto out;
	}
	/*
	 * Baselines, taken once the rings are in place: a record that found no ring before
	 * this point was emitted while no reader was attached (pw_dp_events_unread()), one
	 * after it is this reader's loss.
	 */
	err = read_slot(dp, PW_METRIC_EV_FULL, dp->ev_vals);
	for (c = 0; !err && c < ncpu; c++)
		dp->ev_cpu[c].full_base = dp->ev_vals[c].packets;
	if (!err)
		err = read_slot(dp, PW_METRIC_EV_NOREADER, dp->ev_vals);
	for (c = 0; !err && c < ncpu; c++)
		dp->ev_cpu[c].noreader_seen = dp->ev_vals[c].packets;
	if (err)
		pw_err(dp, "cannot read the event loss counters of map %s: %s",
		       pw_dp_map_name(PW_DPMAP_METRICS), strerror(-err));
	if (!err)
		err = pw_fold_open(dp);
out:
	if (err)
		pw_events_close(dp);
	return err;
}

void pw_dp_events_on_repeat(struct pw_dp *dp, pw_repeat_fn on_repeat)
{
	if (dp)
		dp->on_repeat = on_repeat;
}

uint64_t pw_dp_events_repeats(const struct pw_dp *dp)
{
	return dp ? dp->ev_repeats : 0;
}

int pw_dp_events_fd(struct pw_dp *dp)
{
	if (!dp || !dp->pb)
		return -EINVAL;
	return dp->evq ? pw_evq_fd(dp->evq) : perf_buffer__epoll_fd(dp->pb);
}

/* --- the reader thread ---------------------------------------------------------------------- */

/* the most one consume call hands over, so a caller's other work waits at most that long */
#define PW_EVQ_DELIVER_MAX 65536

static void *reader_main(void *arg)
{
	struct pw_dp *dp = arg;

	struct sched_param sp = {.sched_priority = 1};

	/*
	 * It only copies samples out of the rings, microseconds of CPU per wakeup, then sleeps:
	 * run it ahead of the load that fills them (the flow log's writer, the pods, anything
	 * else on a busy node) so it drains before they overflow: the lowest real-time priority
	 * (its work is bounded: one drain per wakeup, a sleep after an error), else nice -10.
	 * Best effort: without CAP_SYS_NICE it keeps its priority.
	 */
	if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp))
		setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), -10);
	while (!__atomic_load_n(&dp->ev_stop, __ATOMIC_ACQUIRE)) {
		int n;

		/*
		 * Drain only when the queue can take all that the rings can hold: a consumer far
		 * behind leaves the rest in the kernel, which counts what does not fit there.
		 */
		if (pw_evq_room(dp->evq) < dp->ev_room) {
			pw_evq_signal(dp->evq);
			usleep(1000);
			continue;
		}
		uint64_t req;

		n = perf_buffer__poll(dp->pb, PW_EV_DRAIN_MS);
		if (n < 0 && n != -EINTR)
			usleep(PW_EV_DRAIN_MS * 1000); /* never a tight loop, at that priority */
		/* a pw_dp_events_sync() asked before this point is answered by this drain */
		req = __atomic_load_n(&dp->ev_sync_req, __ATOMIC_ACQUIRE);
		perf_buffer__consume(dp->pb);
		sync_counters(dp);
		__atomic_store_n(&dp->ev_sync_done, req, __ATOMIC_RELEASE);
		if (pw_evq_room(dp->evq) < pw_evq_capacity(dp->evq) ||
		    __atomic_load_n(&dp->ev_thread_err, __ATOMIC_ACQUIRE))
			pw_evq_signal(dp->evq);
	}
	return NULL;
}

int pw_dp_events_thread(struct pw_dp *dp, size_t queue_events)
{
	size_t ring_bytes, room;
	int err;

	if (!dp || !dp->pb)
		return -EINVAL;
	if (dp->evq)
		return -EBUSY;
	/*
	 * A sample takes 120 bytes of a ring (header, size, event); a drain also yields a loss
	 * notice or two per CPU. Four drains' worth at least, 256k items (30 MiB, taken only
	 * as it fills) by default: seconds of a flood while the caller is busy elsewhere.
	 */
	ring_bytes = dp->ev_ring_bytes;
	room = (size_t)dp->ev_ncpu * (ring_bytes / 120 + 8);
	if (!queue_events)
		queue_events = 262144;
	if (queue_events < 4 * room)
		queue_events = 4 * room;
	err = pw_evq_new(queue_events, &dp->evq);
	if (err)
		return err;
	dp->ev_room = room;
	dp->ev_stop = 0;
	dp->ev_sync_req = 0;
	dp->ev_sync_done = 0;
	/* from here the thread moves noreader_seen; unread() counts what reached the caller */
	dp->ev_noreader_base = 0;
	dp->ev_noreader_delivered = 0;
	for (int c = 0; c < dp->ev_ncpu; c++)
		dp->ev_noreader_base += dp->ev_cpu[c].noreader_seen;
	dp->ev_thread_err = 0;
	err = -pthread_create(&dp->ev_thread, NULL, reader_main, dp);
	if (err) {
		pw_evq_free(dp->evq);
		dp->evq = NULL;
		pw_err(dp, "cannot start the event reader thread: %s", strerror(-err));
	}
	return err;
}

/* Hand what the thread queued to the callbacks, in order; returns the events handed. */
static int deliver(struct pw_dp *dp, size_t max)
{
	const struct pw_evq_item *it;
	size_t n = 0;
	int terr;

	pw_evq_clear(dp->evq);
	while (n < max && (it = pw_evq_peek(dp->evq))) {
		if (it->kind == PW_EVQ_EVENT) {
			struct pw_event ev = it->ev;
			int cpu = it->cpu;

			pw_evq_pop(dp->evq);
			dp->ev_handled++;
			if (dp->on_event)
				dp->on_event(dp->ev_ctx, cpu, &ev);
		} else if (it->kind == PW_EVQ_REPEAT) {
			struct pw_event ev = it->ev;
			int cpu = it->cpu;
			uint64_t cnt = it->lost;

			pw_evq_pop(dp->evq);
			hand_repeat(dp, cpu, &ev, cnt);
		} else {
			int cpu = it->cpu;
			uint64_t cnt = it->lost;

			if (it->kind == PW_EVQ_LOST_NOREADER)
				dp->ev_noreader_delivered += cnt;
			pw_evq_pop(dp->evq);
			dp->ev_lost += cnt;
			if (dp->on_lost)
				dp->on_lost(dp->ev_ctx, cpu, cnt);
		}
		n++;
	}
	if (n == max && pw_evq_peek(dp->evq))
		pw_evq_signal(dp->evq); /* more: the caller's loop comes back for it */
	terr = __atomic_exchange_n(&dp->ev_thread_err, 0, __ATOMIC_ACQ_REL);
	if (terr && !dp->ev_read_failed) {
		pw_warn(dp,
			"cannot read the event counters (maps %s, %s): %s; losses and folded "
			"drops are reported late",
			pw_dp_map_name(PW_DPMAP_METRICS), pw_dp_map_name(PW_DPMAP_FOLD),
			strerror(-terr));
		dp->ev_read_failed = true;
	}
	return (int)n;
}

int pw_dp_events_sync(struct pw_dp *dp)
{
	uint64_t req;
	int n = 0;

	if (!dp || !dp->pb)
		return -EINVAL;
	if (!dp->evq)
		return pw_dp_events_consume(dp);
	/* the thread's next drain (within PW_EV_DRAIN_MS) answers it; wait a bounded time */
	req = __atomic_add_fetch(&dp->ev_sync_req, 1, __ATOMIC_ACQ_REL);
	for (int i = 0; i < 50 * PW_EV_DRAIN_MS; i++) {
		n += deliver(dp, PW_EVQ_DELIVER_MAX);
		if (__atomic_load_n(&dp->ev_sync_done, __ATOMIC_ACQUIRE) >= req)
			break;
		usleep(200);
	}
	n += deliver(dp, PW_EVQ_DELIVER_MAX);
	return n;
}

static void thread_stop(struct pw_dp *dp)
{
	if (!dp->evq)
		return;
	__atomic_store_n(&dp->ev_stop, 1, __ATOMIC_RELEASE);
	pthread_join(dp->ev_thread, NULL);
}

int pw_dp_events_poll(struct pw_dp *dp, int timeout_ms)
{
	uint64_t lost0;
	int err;

	if (!dp || !dp->pb)
		return -EINVAL;
	dp->ev_handled = 0;
	lost0 = dp->ev_lost;
	if (dp->evq) {
		struct pollfd p = {.fd = pw_evq_fd(dp->evq), .events = POLLIN};

		if (poll(&p, 1, timeout_ms) < 0 && errno != EINTR)
			return -errno;
		deliver(dp, PW_EVQ_DELIVER_MAX);
		return (int)dp->ev_handled;
	}
	/*
	 * Records below the wakeup watermark raise no epoll event: wait in short slices and
	 * drain after each, so a record is seen within PW_EV_DRAIN_MS however full the ring.
	 */
	for (;;) {
		int slice =
			timeout_ms < 0 || timeout_ms > PW_EV_DRAIN_MS ? PW_EV_DRAIN_MS : timeout_ms;

		err = perf_buffer__poll(dp->pb, slice);
		if (err < 0 && err != -EINTR)
			return err;
		err = perf_buffer__consume(dp->pb);
		if (err < 0)
			return err;
		sync_counters(dp);
		if (dp->ev_handled || dp->ev_lost != lost0 || timeout_ms == 0)
			break;
		if (timeout_ms > 0) {
			timeout_ms -= slice;
			if (timeout_ms <= 0)
				break;
		}
	}
	return (int)dp->ev_handled;
}

int pw_dp_events_consume(struct pw_dp *dp)
{
	int err;

	if (!dp || !dp->pb)
		return -EINVAL;
	dp->ev_handled = 0;
	if (dp->evq)
		return deliver(dp, PW_EVQ_DELIVER_MAX);
	err = perf_buffer__consume(dp->pb);
	if (err < 0)
		return err;
	sync_counters(dp);
	return (int)dp->ev_handled;
}

int pw_dp_events_unread(struct pw_dp *dp, uint64_t *total)
{
	struct pw_metric m;
	int c, err;

	if (!dp || !total)
		return -EINVAL;
	*total = 0;
	if (dp->evq) {
		/* what the thread saw and the caller did not get yet still goes to on_lost */
		*total = dp->ev_noreader_base + dp->ev_noreader_delivered;
		return 0;
	}
	if (dp->pb) {
		/* as of the last look: whatever grew past it goes to on_lost at the next drain */
		for (c = 0; c < dp->ev_ncpu; c++)
			*total += __atomic_load_n(&dp->ev_cpu[c].noreader_seen, __ATOMIC_ACQUIRE);
		return 0;
	}
	err = pw_dp_metric_read(dp, PW_METRIC_EV_NOREADER, &m);
	if (!err)
		*total = m.packets;
	return err;
}

uint64_t pw_dp_events_lost(const struct pw_dp *dp)
{
	return dp ? dp->ev_lost : 0;
}

uint64_t pw_dp_events_short(const struct pw_dp *dp)
{
	return dp ? __atomic_load_n(&dp->ev_short, __ATOMIC_RELAXED) : 0;
}

int pw_dp_events_close(struct pw_dp *dp)
{
	int fd, c, r, err = 0;

	if (!dp || !dp->pb)
		return -EINVAL;
	/* the thread's queue first (it is older than what the rings hold), then read here */
	if (dp->evq) {
		thread_stop(dp);
		while (deliver(dp, SIZE_MAX) > 0)
			;
		pw_evq_free(dp->evq);
		dp->evq = NULL;
	}
	/*
	 * Detach the rings first: from here on a record finds no ring and is counted in
	 * EV_NOREADER, for the next reader to report (pw_dp_events_unread()). A program that
	 * fetched its ring just before the delete still finishes writing into it: it runs in an
	 * RCU read section of microseconds, so a short wait before the last drain catches it.
	 */
	fd = pw_dp_map_fd(dp, PW_DPMAP_EVENTS);
	for (c = 0; fd >= 0 && c < dp->ev_ncpu; c++) {
		if (bpf_map_delete_elem(fd, &c) && errno != ENOENT && !err) {
			err = -errno;
			pw_err(dp, "cannot detach the event ring of CPU %d: %s", c, strerror(-err));
		}
	}
	usleep(10 * 1000);
	r = perf_buffer__consume(dp->pb);
	if (r < 0 && !err)
		err = r;
	r = sync_counters(dp);
	if (r < 0 && !err)
		err = r;
	pw_events_close(dp);
	return err;
}

void pw_events_close(struct pw_dp *dp)
{
	thread_stop(dp);
	pw_evq_free(dp->evq);
	dp->evq = NULL;
	perf_buffer__free(dp->pb);
	dp->pb = NULL;
	pw_fold_free(dp);
	free(dp->ev_cpu);
	dp->ev_cpu = NULL;
	free(dp->ev_vals);
	dp->ev_vals = NULL;
	dp->ev_ncpu = 0;
}
