// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Event volume control that never loses a count: the deny rate limit (a fixed,
 * set-associative table; the count of what it held back travels in a later record) and
 * --flow-aggregate (one record per key and interval, docs/flowlog.md "Volume control").
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "flowlog_int.h"

/* --- deny rate limit ---------------------------------------------------------------------------
 */

bool pw_fl_rl_type(uint8_t type)
{
	return type == PW_EV_DROP || type == PW_EV_SOCK_DENY || type == PW_EV_REVOKED;
}

static void rl_key_of(const struct pw_event *ev, struct rl_key *k)
{
	memset(k, 0, sizeof(*k));
	k->ep_id = ev->ep_id;
	k->type = ev->type;
	k->family = ev->family;
	k->proto = ev->proto;
	k->direction = ev->direction;
	memcpy(k->saddr, ev->saddr, sizeof(k->saddr));
	memcpy(k->daddr, ev->daddr, sizeof(k->daddr));
	k->dport = ev->dport;
}

/* FNV-1a over a zero-padded key (the rate limit's and the aggregation's) */
static uint64_t key_hash(const void *key, size_t len)
{
	const uint8_t *p = key;
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ull;
	}
	return h ^ (h >> 29);
}

/* Record the newest pending deny of a slot, carrying the others. Returns emit()'s result. */
static int rl_flush_slot(struct pw_flowlog *fl, struct rl_slot *s)
{
	uint64_t carried = s->pending - 1;

	fl->st.suppressed_pending -= s->pending;
	fl->st.suppressed += carried;
	s->pending = 0;
	return pw_fl_emit_event(fl, &s->last, carried);
}

static struct rl_slot *rl_get(struct pw_flowlog *fl, const struct rl_key *k, uint64_t now)
{
	struct rl_slot *set =
		fl->rl + (key_hash(k, sizeof(*k)) & (fl->rl_sets - 1)) * PW_FLOWLOG_RL_WAYS;
	struct rl_slot *victim = NULL;

	for (int w = 0; w < PW_FLOWLOG_RL_WAYS; w++) {
		if (set[w].used && !memcmp(&set[w].key, k, sizeof(*k)))
			return &set[w];
	}
	for (int w = 0; w < PW_FLOWLOG_RL_WAYS; w++) {
		if (!set[w].used) {
			victim = &set[w];
			break;
		}
		if (!victim || set[w].last_ns < victim->last_ns)
			victim = &set[w];
	}
	if (victim->used) {
		/* the least recently seen key of the set goes; its count goes out first */
		fl->st.rl_evictions++;
		if (victim->pending)
			rl_flush_slot(fl, victim);
	}
	memset(victim, 0, sizeof(*victim));
	victim->used = true;
	victim->key = *k;
	victim->win_start = now;
	victim->last_ns = now;
	return victim;
}

/* n denies of slot s counted into a later record, which is the newest of them */
static void rl_pend(struct pw_flowlog *fl, struct rl_slot *s, const struct pw_event *ev, uint64_t n)
{
	/*
	 * The per-CPU rings are drained in turns, so denies arrive out of time order: keep the
	 * newest by the kernel's clock, not the last handed in.
	 */
	if (!s->pending || ev->ts_ns >= s->last.ts_ns)
		s->last = *ev;
	s->pending += n;
	fl->st.suppressed_pending += n;
}

/* 1: record it now carrying *carried suppressed denies; 0: counted into a later record */
int pw_fl_rl_admit(struct pw_flowlog *fl, const struct pw_event *ev, uint64_t *carried)
{
	struct rl_key k;
	struct rl_slot *s;
	uint64_t now = ev->ts_ns;

	*carried = 0;
	rl_key_of(ev, &k);
	s = rl_get(fl, &k, now);
	if (now > s->last_ns)
		s->last_ns = now;
	/* timestamps of different CPUs interleave: an older one belongs to the open window */
	if (now > s->win_start && now - s->win_start >= fl->rl_window) {
		*carried = s->pending;
		fl->st.suppressed_pending -= s->pending;
		fl->st.suppressed += s->pending;
		s->pending = 0;
		s->win_start = now;
		s->emitted = 0;
	}
	if (s->emitted < fl->rl_burst) {
		s->emitted++;
		return 1;
	}
	rl_pend(fl, s, ev, 1);
	return 0;
}

void pw_fl_rl_more(struct pw_flowlog *fl, const struct pw_event *ev, uint64_t n)
{
	struct rl_key k;
	struct rl_slot *s;

	rl_key_of(ev, &k);
	s = rl_get(fl, &k, ev->ts_ns);
	if (ev->ts_ns > s->last_ns)
		s->last_ns = ev->ts_ns;
	rl_pend(fl, s, ev, n);
}

int pw_fl_rl_flush(struct pw_flowlog *fl, uint64_t now_ns)
{
	size_t n = fl->rl_sets * PW_FLOWLOG_RL_WAYS;
	int emitted = 0;

	for (size_t i = 0; fl->rl && i < n; i++) {
		struct rl_slot *s = &fl->rl[i];

		if (!s->used || !s->pending)
			continue;
		if (now_ns != UINT64_MAX &&
		    (now_ns < s->win_start || now_ns - s->win_start < fl->rl_window))
			continue;
		rl_flush_slot(fl, s);
		emitted++;
	}
	return emitted;
}

/* --- aggregation -------------------------------------------------------------------------------
 */

/*
 * One entry per (source identity, destination identity, destination port, protocol,
 * direction, verdict, policy cookie), open addressing with linear probes. The table is written
 * out whole when the interval ends, and early when it is three quarters full (the records
 * then cover a shorter interval; nothing is dropped).
 */
static struct agg_entry *agg_get(struct pw_flowlog *fl, const struct agg_key *k)
{
	size_t mask = fl->agg_slots - 1, i;

	if (fl->agg_used * 4 >= fl->agg_slots * 3)
		pw_fl_agg_flush(fl, pw_fl_mono_now(), true);
	if (!fl->agg_start)
		fl->agg_start = pw_fl_mono_now();
	for (i = key_hash(k, sizeof(*k)) & mask;; i = (i + 1) & mask) {
		struct agg_entry *e = &fl->agg[i];

		if (!e->used) {
			memset(e, 0, sizeof(*e));
			e->used = true;
			e->key = *k;
			fl->agg_used++;
			return e;
		}
		if (!memcmp(&e->key, k, sizeof(*k)))
			return e;
	}
}

void pw_fl_agg_event(struct pw_flowlog *fl, const struct pw_event *ev, uint64_t n)
{
	struct agg_key k = {
		.src_identity = ev->src_identity,
		.dst_identity = ev->dst_identity,
		.cookie = ev->cookie,
		.dport = ev->dport,
		.proto = ev->proto,
		.direction = ev->direction,
	};
	struct agg_entry *e;

	switch (ev->type) {
	case PW_EV_FLOW_NEW:
		k.verdict = AGG_FORWARDED;
		break;
	case PW_EV_AUDIT:
		k.verdict = AGG_AUDIT;
		break;
	default:
		k.verdict = AGG_DROPPED;
		break;
	}
	/* ICMP keeps the echo identifier in the port fields: not a service, not part of a key */
	if (ev->proto == IPPROTO_ICMP || ev->proto == IPPROTO_ICMPV6)
		k.dport = 0;
	e = agg_get(fl, &k);
	if (k.verdict == AGG_DROPPED)
		e->denied += n;
	else
		e->flows += n;
}

void pw_fl_agg_flow_end(struct pw_flowlog *fl, const struct pw_ct_key *key,
			const struct pw_ct_entry *val)
{
	struct agg_key k = {
		.src_identity = val->src_identity,
		.dst_identity = val->dst_identity,
		.cookie = val->cookie,
		.dport =
			key->proto == IPPROTO_ICMP || key->proto == IPPROTO_ICMPV6 ? 0 : key->dport,
		.proto = key->proto,
		.direction = key->scope,
		.verdict = val->flags & PW_CT_F_AUDIT ? AGG_AUDIT : AGG_FORWARDED,
	};
	struct agg_entry *e = agg_get(fl, &k);

	e->flows_ended++;
	e->packets += val->packets[0] + val->packets[1];
	e->octets += val->bytes[0] + val->bytes[1];
}

/* Write every entry out when the interval has ended by now_ns (or at once: all). */
int pw_fl_agg_flush(struct pw_flowlog *fl, uint64_t now_ns, bool all)
{
	uint64_t start = fl->agg_start;
	int n = 0;

	if (!fl->agg_interval || !fl->agg_used)
		return 0;
	if (!all && (now_ns < start || now_ns - start < fl->agg_interval))
		return 0;
	if (now_ns == UINT64_MAX)
		now_ns = pw_fl_mono_now();
	for (size_t i = 0; i < fl->agg_slots; i++) {
		struct agg_entry *e = &fl->agg[i];

		if (!e->used)
			continue;
		if (pw_fl_emit_aggregate(fl, e, start, now_ns) != -ENOMEM)
			fl->st.aggregates++;
		e->used = false;
		n++;
	}
	fl->agg_used = 0;
	/* the next interval begins with its first decision */
	fl->agg_start = 0;
	return n;
}
