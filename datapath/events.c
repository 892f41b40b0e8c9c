// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The event reader: one perf ring per CPU. Lost samples are counted and handed to the
 * caller, never dropped silently; samples shorter than struct pw_event (a program built
 * against another layout) are counted and skipped.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <linux/perf_event.h>

#include <bpf/libbpf.h>

#include "internal.h"

/* the longest a record waits below the watermark in pw_dp_events_poll() */
#define PW_EV_DRAIN_MS 20

static void on_sample(void *ctx, int cpu, void *data, __u32 size)
{
	struct pw_dp *dp = ctx;
	struct pw_event ev;

	if (size < sizeof(ev)) {
		dp->ev_short++;
		return;
	}
	/* perf samples are only 4-byte aligned: copy before reading the __u64 fields */
	memcpy(&ev, data, sizeof(ev));
	dp->ev_handled++;
	if (dp->on_event)
		dp->on_event(dp->ev_ctx, cpu, &ev);
}

static void on_lost(void *ctx, int cpu, __u64 cnt)
{
	struct pw_dp *dp = ctx;

	dp->ev_lost += cnt;
	if (dp->on_lost)
		dp->on_lost(dp->ev_ctx, cpu, cnt);
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

		on_lost(ctx, cpu, l->lost);
	}
	return LIBBPF_PERF_EVENT_CONT;
}

int pw_dp_events_open(struct pw_dp *dp, size_t pages_per_cpu, pw_event_fn on_event,
		      pw_lost_fn on_lost_cb, void *ctx)
{
	int fd = pw_dp_map_fd(dp, PW_DPMAP_EVENTS), err;

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
	dp->on_lost = on_lost_cb;
	dp->ev_ctx = ctx;
	dp->ev_lost = 0;
	dp->ev_short = 0;
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

	dp->pb = perf_buffer__new_raw(fd, pages_per_cpu, &attr, on_raw, dp, NULL);
	if (!dp->pb) {
		err = -errno;
		pw_err(dp, "cannot open the event buffer (%zu pages per CPU): %s", pages_per_cpu,
		       strerror(-err));
		return err;
	}
	return 0;
}

int pw_dp_events_fd(struct pw_dp *dp)
{
	if (!dp || !dp->pb)
		return -EINVAL;
	return perf_buffer__epoll_fd(dp->pb);
}

int pw_dp_events_poll(struct pw_dp *dp, int timeout_ms)
{
	int err;

	if (!dp || !dp->pb)
		return -EINVAL;
	dp->ev_handled = 0;
	/*
	 * Records below the wakeup watermark raise no epoll event: wait in short slices and
	 * drain after each, so a record is seen within PW_EV_DRAIN_MS however full the ring.
	 */
	for (;;) {
		int slice = timeout_ms < 0 || timeout_ms > PW_EV_DRAIN_MS ? PW_EV_DRAIN_MS
									  : timeout_ms;

		err = perf_buffer__poll(dp->pb, slice);
		if (err < 0 && err != -EINTR)
			return err;
		err = perf_buffer__consume(dp->pb);
		if (err < 0)
			return err;
		if (dp->ev_handled || timeout_ms == 0)
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
	err = perf_buffer__consume(dp->pb);
	if (err < 0)
		return err;
	return (int)dp->ev_handled;
}

uint64_t pw_dp_events_lost(const struct pw_dp *dp)
{
	return dp ? dp->ev_lost : 0;
}

uint64_t pw_dp_events_short(const struct pw_dp *dp)
{
	return dp ? dp->ev_short : 0;
}

void pw_events_close(struct pw_dp *dp)
{
	perf_buffer__free(dp->pb);
	dp->pb = NULL;
}
