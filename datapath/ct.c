// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Conntrack housekeeping. The LRU map evicts on pressure by itself; the sweep removes flows
 * that went idle so they end with a flow record and stop admitting packets, and the flush
 * removes an endpoint's flows when it goes away. Flows the datapath ended itself (revoked,
 * or closed and their port pair reused) wait under a parking key (ended != 0) for the next
 * walk, which reports them at once with the reason they ended for.
 *
 * Walking a hash map while deleting from it: the cursor is advanced (get_next_key) before
 * the current key is deleted, so the walk never continues from a key that no longer exists
 * (which would restart it from the first bucket). The walk is bounded anyway, because the
 * kernel may evict the cursor under us.
 *
 * A walk costs two syscalls an entry, about half a second over 200k flows, and the caller's
 * thread is usually the one that reads the event rings: the walk drains them every
 * CT_WALK_DRAIN entries, or a flood of new flows during a sweep would overflow them.
 */
#include <errno.h>
#include <string.h>
#include <netinet/in.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "objects.h"

#define NSEC_PER_SEC  1000000000ull
#define CT_WALK_DRAIN 2048

void pw_ct_timeouts_default(struct pw_ct_timeouts *t)
{
	if (!t)
		return;
	t->sz = sizeof(*t);
	t->tcp_syn_ns = 60 * NSEC_PER_SEC;
	t->tcp_established_ns = 6 * 3600 * NSEC_PER_SEC;
	t->tcp_closing_ns = 10 * NSEC_PER_SEC;
	t->udp_ns = 60 * NSEC_PER_SEC;
	t->other_ns = 30 * NSEC_PER_SEC;
}

static uint64_t ct_timeout(const struct pw_ct_timeouts *t, const struct pw_ct_key *k,
			   const struct pw_ct_entry *v)
{
	if (k->proto == IPPROTO_TCP) {
		switch (v->state) {
		case PW_CT_NEW:
			return t->tcp_syn_ns;
		case PW_CT_CLOSING:
			return t->tcp_closing_ns;
		default:
			return t->tcp_established_ns;
		}
	}
	return k->proto == IPPROTO_UDP ? t->udp_ns : t->other_ns;
}

/* decide(key, val) returns 0 to keep, or the end reason to delete with */
typedef int (*ct_decide_fn)(const void *arg, const struct pw_ct_key *k,
			    const struct pw_ct_entry *v);

/* Why a parked entry ended: the datapath marked revoked ones; the rest were closed and reused. */
static int ct_parked_reason(const struct pw_ct_entry *v)
{
	return v->flags & PW_CT_F_REVOKED ? PW_END_REVOKED : PW_END_CLOSED;
}

static int ct_walk(struct pw_dp *dp, ct_decide_fn decide, const void *arg, pw_flow_end_fn cb,
		   void *ctx, struct pw_ct_sweep_stats *stats)
{
	struct bpf_map *map = pw_dp_map(dp, PW_DPMAP_CT);
	struct pw_ct_key cur, next, flow;
	struct pw_ct_entry v;
	uint64_t limit, scanned = 0, expired = 0;
	bool have;
	int fd, why, err = 0;

	if (!map)
		return -EINVAL;
	fd = bpf_map__fd(map);
	limit = 2ull * bpf_map__max_entries(map) + 16;
	have = bpf_map_get_next_key(fd, NULL, &cur) == 0;
	while (have && scanned < limit) {
		have = bpf_map_get_next_key(fd, &cur, &next) == 0;
		if (++scanned % CT_WALK_DRAIN == 0 && dp->pb)
			pw_dp_events_consume(dp); /* between entries: the callbacks never nest */
		if (bpf_map_lookup_elem(fd, &cur, &v) == 0) {
			/* the flow in its own orientation (struct pw_ct_key) */
			flow = cur;
			if (v.flags & PW_CT_F_SWAPPED) {
				pw_ct_key_flip(&flow);
				v.flags &= ~PW_CT_F_SWAPPED;
			}
			why = decide(arg, &flow, &v);
			if (why) {
				if (bpf_map_delete_elem(fd, &cur) == 0) {
					expired++;
					/* a parked flow named as when live */
					flow.ended = 0;
					if (cb)
						cb(ctx, &flow, &v, why);
				} else if (errno != ENOENT) {
					err = -errno;
					pw_err(dp, "map %s: cannot delete a flow: %s",
					       pw_dp_map_name(PW_DPMAP_CT), strerror(-err));
					break;
				}
			}
		}
		cur = next;
	}
	if (stats) {
		stats->scanned = scanned;
		stats->expired = expired;
	}
	return err;
}

struct sweep_arg {
	uint64_t now;
	const struct pw_ct_timeouts *t;
};

static int sweep_decide(const void *arg, const struct pw_ct_key *k, const struct pw_ct_entry *v)
{
	const struct sweep_arg *a = arg;

	if (k->ended)
		return ct_parked_reason(v);
	/* a packet may have refreshed it after now was taken: never expire the future */
	if (v->last_seen_ns >= a->now || a->now - v->last_seen_ns <= ct_timeout(a->t, k, v))
		return 0;
	return k->proto == IPPROTO_TCP && v->state == PW_CT_CLOSING ? PW_END_CLOSED
								    : PW_END_TIMEOUT;
}

int pw_dp_ct_sweep(struct pw_dp *dp, uint64_t now_ns, const struct pw_ct_timeouts *t,
		   pw_flow_end_fn cb, void *ctx, struct pw_ct_sweep_stats *stats)
{
	struct pw_ct_timeouts def;
	struct sweep_arg a = {.now = now_ns};

	pw_ct_timeouts_default(&def);
	a.t = &def;
	if (t) {
		/* a caller that never set sz would silently get the defaults otherwise */
		if (t->sz < sizeof(def)) {
			pw_err(dp,
			       "conntrack timeouts: sz %zu, expected %zu (start from "
			       "pw_ct_timeouts_default)",
			       t->sz, sizeof(def));
			return -EINVAL;
		}
		a.t = t;
	}
	return ct_walk(dp, sweep_decide, &a, cb, ctx, stats);
}

static int flush_decide(const void *arg, const struct pw_ct_key *k, const struct pw_ct_entry *v)
{
	uint32_t ep_id = *(const uint32_t *)arg;

	if (ep_id && k->ep_id != ep_id)
		return 0;
	return k->ended ? ct_parked_reason(v) : PW_END_FLUSHED;
}

int pw_dp_ct_flush(struct pw_dp *dp, uint32_t ep_id, pw_flow_end_fn cb, void *ctx)
{
	return ct_walk(dp, flush_decide, &ep_id, cb, ctx, NULL);
}

static int peer_decide(const void *arg, const struct pw_ct_key *k, const struct pw_ct_entry *v)
{
	const struct pw_backend *b = ((const void *const *)arg)[0];
	const uint8_t *proto = ((const void *const *)arg)[1];

	if (k->ended || k->family != b->family || k->proto != *proto || k->dport != b->port ||
	    memcmp(k->daddr, b->addr, sizeof(k->daddr)))
		return 0;
	(void)v;
	return PW_END_FLUSHED;
}

int pw_dp_ct_flush_peer(struct pw_dp *dp, const struct pw_backend *b, uint8_t proto,
			pw_flow_end_fn cb, void *ctx, uint64_t *removed)
{
	const void *arg[2] = {b, &proto};
	struct pw_ct_sweep_stats st = {0};
	int err;

	if (!b)
		return -EINVAL;
	err = ct_walk(dp, peer_decide, arg, cb, ctx, &st);
	if (removed)
		*removed = st.expired;
	return err;
}

int pw_dp_ct_count(struct pw_dp *dp, uint64_t *count)
{
	struct pw_map_usage u;
	int err;

	if (!count)
		return -EINVAL;
	err = pw_dp_map_usage(dp, PW_DPMAP_CT, &u);
	if (!err)
		*count = u.entries;
	return err;
}
