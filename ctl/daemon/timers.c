// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwalld: the 100 ms timer: drain the event rings and write the flow log's buffer, flush
 * deny windows and aggregates every second, sweep conntrack every --ct-sweep-interval.
 */
#define _GNU_SOURCE
#include "daemon.h"

void timer_ready(struct daemon *d, struct watch *w, uint32_t events)
{
	struct pw_ct_sweep_stats st = {0};
	struct timespec now;
	uint64_t ticks, now_ns;
	int err;

	if (read(w->fd, &ticks, sizeof(ticks)) != sizeof(ticks))
		return;
	err = pw_dp_events_consume(d->dp);
	if (err < 0 && err != -EINTR)
		dlog(PW_LOG_ERROR, "reading datapath events: %s", strerror(-err));
	/* records below the rings' watermark reach the file within one tick */
	pw_flowlog_flush_writes(d->fl);
	if (d->cluster)
		pw_cluster_tick(d->cluster);
	metrics_tick(d);
	if (++d->ticks % TICKS_PER_S)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	now_ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
	/* suppressed-deny counts whose window ended go out now, not with the next deny */
	err = pw_flowlog_flush(d->fl, now_ns);
	if (err < 0)
		dlog(PW_LOG_ERROR, "flow log: %s", strerror(-err));
	if ((d->ticks / TICKS_PER_S) % d->sweep_interval_s)
		return;
	/* NTP may have stepped the wall clock: keep record times honest */
	pw_flowlog_clock_resync(d->fl);
	err = pw_dp_ct_sweep(d->dp, now_ns, &d->cto, pw_flowlog_on_flow_end, d->fl, &st);
	if (err) {
		dlog(PW_LOG_ERROR, "conntrack sweep: %s", strerror(-err));
		return;
	}
	pw_flowlog_flush_writes(d->fl);
	d->sweeps++;
	d->swept += st.expired;
	kcounters_tick(d);
	if (st.expired)
		dlog(PW_LOG_DEBUG, "conntrack sweep: %llu of %llu entries expired",
		     (unsigned long long)st.expired, (unsigned long long)st.scanned);
}
