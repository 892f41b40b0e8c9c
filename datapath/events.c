// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The event reader: one perf ring per CPU. Lost samples are counted and handed to the
 * caller, never dropped silently; samples shorter than struct pw_event (a program built
 * against another layout) are counted and skipped.
 */
#include <errno.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "internal.h"

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
	dp->pb = perf_buffer__new(fd, pages_per_cpu, on_sample, on_lost, dp, NULL);
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
	err = perf_buffer__poll(dp->pb, timeout_ms);
	if (err < 0 && err != -EINTR)
		return err;
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
