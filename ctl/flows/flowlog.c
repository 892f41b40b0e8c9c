// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Flow logs: datapath events, conntrack flow ends and perf-buffer losses into JSON lines
 * (Hubble field names, docs/flowlog.md). This file takes the inputs, keeps the accounting
 * and owns the lifecycle; the record writer is flowrec.c, the sinks flowsink.c, the rate
 * limit and aggregation flowagg.c, the vocabulary flowvocab.c (flowlog_int.h lists them).
 */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "flowlog_int.h"

/* --- helpers ------------------------------------------------------------------------------- */

static int64_t measure_offset(void)
{
	/*
	 * Bracket a CLOCK_REALTIME read between two CLOCK_MONOTONIC reads and keep the
	 * tightest of a few tries, so a preemption between the reads cannot skew the offset.
	 */
	int64_t best = 0, best_gap = INT64_MAX;

	for (int i = 0; i < 5; i++) {
		struct timespec m1, r, m2;
		int64_t a, b, w;

		clock_gettime(CLOCK_MONOTONIC, &m1);
		clock_gettime(CLOCK_REALTIME, &r);
		clock_gettime(CLOCK_MONOTONIC, &m2);
		a = m1.tv_sec * NSEC_PER_SEC + m1.tv_nsec;
		b = m2.tv_sec * NSEC_PER_SEC + m2.tv_nsec;
		w = r.tv_sec * NSEC_PER_SEC + r.tv_nsec;
		if (b - a < best_gap) {
			best_gap = b - a;
			best = w - (a + (b - a) / 2);
		}
	}
	return best;
}

void pw_flowlog_clock_resync(struct pw_flowlog *fl)
{
	if (!fl->offset_fixed)
		fl->offset = measure_offset();
}

int64_t pw_flowlog_clock_offset(const struct pw_flowlog *fl)
{
	return fl->offset;
}

/* --- inputs --------------------------------------------------------------------------------- */

static bool sampled_out(struct pw_flowlog *fl, uint8_t family, uint8_t proto, const uint32_t s[4],
			const uint32_t d[4], uint16_t sp, uint16_t dp)
{
	if (fl->sample <= 1)
		return false;
	if (pw_flow_hash(family, proto, s, d, sp, dp) % fl->sample == 0)
		return false;
	fl->st.sampled_out++;
	return true;
}

/* the checks every event passes first: 0, or -EINVAL counted in bad_events */
static int event_known(struct pw_flowlog *fl, const struct pw_event *ev, uint64_t n)
{
	if (pw_fl_event_kind(ev->type) &&
	    (ev->family == PW_FAMILY_V4 || ev->family == PW_FAMILY_V6))
		return 0;
	fl->st.bad_events += n;
	pw_fl_logf(fl, PW_LOG_DEBUG, "flow log: skipped event of type %u family %u", ev->type,
		   ev->family);
	return -EINVAL;
}

int pw_flowlog_event(struct pw_flowlog *fl, int cpu, const struct pw_event *ev)
{
	uint64_t carried = 0;
	int err;

	fl->st.events++;
	if (event_known(fl, ev, 1))
		return -EINVAL;
	if (fl->agg_interval) {
		pw_fl_agg_event(fl, ev, 1);
		/* allowed and audited flows are in the aggregate only; denies keep their records */
		if (!pw_fl_rl_type(ev->type)) {
			fl->st.aggregated++;
			return 0;
		}
	}
	if (ev->type == PW_EV_FLOW_NEW &&
	    sampled_out(fl, ev->family, ev->proto, ev->saddr, ev->daddr, ev->sport, ev->dport))
		return 0;
	if (!fl->rl_disable && pw_fl_rl_type(ev->type) && !pw_fl_rl_admit(fl, ev, &carried))
		return 0;
	err = pw_fl_emit_event(fl, ev, carried);
	return err == -ENOMEM ? err : 1;
}

/*
 * n more drops identical to ev, folded by the kernel: the first goes through the rate limit
 * as any deny does, the others are what it would have suppressed in the same instant.
 * Without the rate limit one record stands for all n.
 */
int pw_flowlog_repeats(struct pw_flowlog *fl, int cpu, const struct pw_event *ev, uint64_t n)
{
	uint64_t carried = 0;
	int err, admitted;

	if (!n)
		return 0;
	fl->st.events += n;
	fl->st.folded += n;
	if (event_known(fl, ev, n))
		return -EINVAL;
	if (fl->agg_interval)
		pw_fl_agg_event(fl, ev, n);
	/* (only drops fold, a kind the rate limit covers: the second test is a safeguard) */
	if (fl->rl_disable || !pw_fl_rl_type(ev->type)) {
		fl->st.suppressed += n - 1;
		err = pw_fl_emit_event(fl, ev, n - 1);
		return err == -ENOMEM ? err : 1;
	}
	admitted = pw_fl_rl_admit(fl, ev, &carried);
	if (n > 1)
		pw_fl_rl_more(fl, ev, n - 1);
	if (!admitted)
		return 0;
	err = pw_fl_emit_event(fl, ev, carried);
	return err == -ENOMEM ? err : 1;
}

int pw_flowlog_flow_end(struct pw_flowlog *fl, const struct pw_ct_key *key,
			const struct pw_ct_entry *val, enum pw_flow_end_reason why)
{
	bool audit = val->flags & PW_CT_F_AUDIT;
	int err;

	fl->st.flow_ends++;
	if (key->family != PW_FAMILY_V4 && key->family != PW_FAMILY_V6) {
		fl->st.bad_events++;
		return -EINVAL;
	}
	if (fl->agg_interval) {
		pw_fl_agg_flow_end(fl, key, val);
		fl->st.aggregated++;
		return 0;
	}
	if (!audit && sampled_out(fl, key->family, key->proto, key->saddr, key->daddr, key->sport,
				  key->dport))
		return 0;
	err = pw_fl_emit_flow_end(fl, key, val, why);
	return err == -ENOMEM ? err : 1;
}

/* A loss record: cpu < 0 when the loss belongs to no one ring (events nobody was reading). */
static int lost_record(struct pw_flowlog *fl, int cpu, uint64_t lost, const char *reason,
		       const char *summary)
{
	int err;

	fl->st.lost += lost;
	fl->st.lost_reports++;
	err = pw_fl_emit_lost(fl, cpu, lost, reason, summary);
	return err == -ENOMEM ? err : 1;
}

int pw_flowlog_lost(struct pw_flowlog *fl, int cpu, uint64_t lost)
{
	return lost_record(fl, cpu, lost, "ring-full", "perf ring buffer overflow: samples lost");
}

int pw_flowlog_lost_flow_ends(struct pw_flowlog *fl, uint64_t lost)
{
	return lost_record(fl, -1, lost, "flow-end-not-kept",
			   "flow ends not recorded: a port pair ended too often between two "
			   "conntrack sweeps");
}

int pw_flowlog_lost_unread(struct pw_flowlog *fl, uint64_t lost)
{
	return lost_record(fl, -1, lost, "no-reader",
			   "events emitted while no reader was attached (daemon not running)");
}

void pw_flowlog_on_event(void *ctx, int cpu, const struct pw_event *ev)
{
	pw_flowlog_event(ctx, cpu, ev);
}

void pw_flowlog_on_repeat(void *ctx, int cpu, const struct pw_event *ev, uint64_t n)
{
	pw_flowlog_repeats(ctx, cpu, ev, n);
}

void pw_flowlog_on_flow_end(void *ctx, const struct pw_ct_key *key, const struct pw_ct_entry *val,
			    enum pw_flow_end_reason why)
{
	pw_flowlog_flow_end(ctx, key, val, why);
}

void pw_flowlog_on_lost(void *ctx, int cpu, uint64_t lost)
{
	pw_flowlog_lost(ctx, cpu, lost);
}

int pw_flowlog_flush(struct pw_flowlog *fl, uint64_t now_ns)
{
	int n = pw_fl_rl_flush(fl, now_ns), m = pw_fl_agg_flush(fl, now_ns, now_ns == UINT64_MAX);

	/* the timer that ends deny windows is also the one that bounds a record's wait */
	pw_fl_write_out(fl);
	return n < 0 ? n : m < 0 ? m : n + m;
}

int pw_flowlog_flush_all(struct pw_flowlog *fl)
{
	return pw_flowlog_flush(fl, UINT64_MAX);
}

/* --- lifecycle ------------------------------------------------------------------------------ */

static void flowlog_destroy(struct pw_flowlog *fl)
{
	pw_fl_sink_free(fl);
	pw_fl_rec_free(fl);
	free(fl->rl);
	free(fl->agg);
	free(fl->path);
	free(fl->node_name);
	free(fl);
}

int pw_flowlog_new(const struct pw_flowlog_opts *opts, struct pw_flowlog **out)
{
	struct pw_flowlog_opts o = {0};
	struct pw_flowlog *fl;
	size_t slots;
	int err = 0;

	*out = NULL;
	if (!opts || opts->sz < sizeof(opts->sz))
		return -EINVAL;
	/* a caller built against a newer, larger struct: what we don't know must be unset */
	for (size_t i = sizeof(o); i < opts->sz; i++) {
		if (((const char *)opts)[i])
			return -EINVAL;
	}
	memcpy(&o, opts, opts->sz < sizeof(o) ? opts->sz : sizeof(o));
	if (o.fsync > PW_FLOWLOG_FSYNC_ALWAYS)
		return -EINVAL;
	fl = calloc(1, sizeof(*fl));
	if (!fl)
		return -ENOMEM;
	fl->fd = -1;
	fl->max_bytes = o.max_bytes;
	fl->keep = o.keep;
	fl->fsync = o.fsync;
	fl->log = o.log;
	fl->log_ctx = o.log_ctx;
	fl->sample = o.sample_allowed;
	fl->rl_window = o.rl_window_ns ? o.rl_window_ns : PW_FLOWLOG_RL_WINDOW_DEFAULT;
	fl->rl_burst = o.rl_burst ? o.rl_burst : 1;
	fl->rl_disable = o.rl_disable;
	fl->legacy = o.legacy_json;
	fl->agg_interval = o.aggregate_ns;
	fl->write_delay_ns =
		(o.write_delay_ms ? o.write_delay_ms : PW_FLOWLOG_WRITE_DELAY_MS_DEFAULT) *
		(uint64_t)NSEC_PER_MSEC;
	fl->next_sub_id = 1;
	if (o.enricher) {
		fl->enr = *o.enricher;
		fl->have_enr = true;
	}
	fl->offset_fixed = o.clock_offset_set;
	fl->offset = o.clock_offset_set ? o.clock_offset_ns : measure_offset();

	fl->ring_cap = o.ring_size ? o.ring_size : PW_FLOWLOG_RING_DEFAULT;
	fl->ring = calloc(fl->ring_cap, sizeof(*fl->ring));
	slots = o.rl_slots ? o.rl_slots : PW_FLOWLOG_RL_SLOTS_DEFAULT;
	if (slots < PW_FLOWLOG_RL_WAYS)
		slots = PW_FLOWLOG_RL_WAYS;
	fl->rl_sets = 1;
	while (fl->rl_sets * PW_FLOWLOG_RL_WAYS < slots)
		fl->rl_sets <<= 1;
	fl->rl = calloc(fl->rl_sets * PW_FLOWLOG_RL_WAYS, sizeof(*fl->rl));
	if (fl->agg_interval) {
		fl->agg_slots = AGG_SLOTS_DEFAULT;
		fl->agg = calloc(fl->agg_slots, sizeof(*fl->agg));
	}
	if (o.write_buffer) {
		fl->wbuf_cap = o.write_buffer;
		fl->wbuf = malloc(fl->wbuf_cap);
	}
	if (!fl->ring || !fl->rl || (fl->agg_interval && !fl->agg) ||
	    (o.write_buffer && !fl->wbuf) ||
	    (o.node_name && !(fl->node_name = strdup(o.node_name)))) {
		err = -ENOMEM;
		goto out;
	}
	err = pw_fl_rec_init(fl);
	if (err)
		goto out;
	if (o.path && !strcmp(o.path, "-")) {
		fl->fd = STDOUT_FILENO;
		fl->is_stdout = true;
	} else if (o.path) {
		fl->path = strdup(o.path);
		if (!fl->path) {
			err = -ENOMEM;
			goto out;
		}
		err = pw_fl_file_open(fl);
		if (err) {
			pw_fl_logf(fl, PW_LOG_ERROR, "flow log %s: %s", o.path, strerror(-err));
			goto out;
		}
	}
	*out = fl;
	fl = NULL;
out:
	if (fl) {
		fl->fd = -1; /* nothing to sync: it never opened */
		flowlog_destroy(fl);
	}
	return err;
}

void pw_flowlog_free(struct pw_flowlog *fl)
{
	if (!fl)
		return;
	/* suppressed counts and open aggregates are never dropped: shutdown records them */
	pw_flowlog_flush_all(fl);
	flowlog_destroy(fl);
}

/* --- accounting ----------------------------------------------------------------------------- */

void pw_flowlog_get_stats(const struct pw_flowlog *fl, struct pw_flowlog_stats *out)
{
	*out = fl->st;
}

uint64_t pw_flowlog_lost_total(const struct pw_flowlog *fl)
{
	return fl->st.lost;
}

static void add_u64(json_object *o, const char *key, uint64_t v)
{
	/* json-c 0.16 prints uint64 exactly; int64 would wrap counters above 2^63 */
	json_object_object_add(o, key, json_object_new_uint64(v));
}

json_object *pw_flowlog_stats_json(const struct pw_flowlog *fl)
{
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	add_u64(o, "events", fl->st.events);
	add_u64(o, "folded", fl->st.folded);
	add_u64(o, "flow_ends", fl->st.flow_ends);
	add_u64(o, "records", fl->st.records);
	add_u64(o, "suppressed", fl->st.suppressed);
	add_u64(o, "suppressed_pending", fl->st.suppressed_pending);
	add_u64(o, "sampled_out", fl->st.sampled_out);
	add_u64(o, "aggregated", fl->st.aggregated);
	add_u64(o, "aggregates", fl->st.aggregates);
	add_u64(o, "lost", fl->st.lost);
	add_u64(o, "lost_reports", fl->st.lost_reports);
	add_u64(o, "rl_evictions", fl->st.rl_evictions);
	add_u64(o, "bad_events", fl->st.bad_events);
	add_u64(o, "write_errors", fl->st.write_errors);
	add_u64(o, "rotations", fl->st.rotations);
	add_u64(o, "file_bytes", fl->st.file_bytes);
	return o;
}
