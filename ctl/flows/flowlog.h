/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Flow logs for audits: every decision the datapath reports (perf-buffer events, conntrack
 * flow ends, perf-buffer losses) becomes one JSON line whose field names follow Hubble's
 * flow JSON where Hubble has the field (docs/flowlog.md is the schema).
 *
 * Nothing is lost silently: repeated denies of one (source, destination, port, protocol) are
 * rate limited, but the number suppressed travels in the next record of that key or in the
 * record pw_flowlog_flush() emits when the key's window ends; perf-buffer losses become
 * records and a running total; sink write failures are counted in the stats.
 *
 * The library is single-threaded (the daemon's event loop) and never prints: it logs through
 * the callback in the options. The enricher (implemented by the daemon) turns addresses,
 * identities and policy cookies into namespaces, pod names, labels and policy names; without
 * it records still carry addresses and identities.
 */
#ifndef PW_CTL_FLOWLOG_H
#define PW_CTL_FLOWLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include <podwall/shared.h>
#include <podwall/datapath.h>

struct pw_flowlog;

/* --- enrichment (implemented by the daemon) ---------------------------------------------- */

/*
 * What the daemon knows about one end of a flow. Every pointer is borrowed: it must stay
 * valid until the pw_flowlog_* call that invoked the enricher returns (the daemon is single
 * threaded, so strings owned by its store are fine). Strings need not be valid UTF-8: the
 * library replaces invalid sequences before they reach JSON.
 */
struct pw_flow_endpoint {
	const char *ns;		   /* pod namespace, NULL when the address is not a pod's */
	const char *pod_name;	   /* NULL when not a pod */
	const char *const *labels; /* "key=value" strings, Hubble style */
	size_t n_labels;
	uint32_t ep_id;	   /* the pod's endpoint id (Hubble "ID"), 0 when unknown */
	uint32_t identity; /* 0: keep the identity the datapath reported */
	const char *cidr;  /* outside the cluster: the policy CIDR holding the address, or NULL */
};

/* A NetworkPolicy rule (Hubble "Policy", plus the rule index). */
struct pw_flow_policy {
	const char *ns;
	const char *name;
	const char *kind;  /* NULL: "NetworkPolicy" */
	int32_t rule;	   /* index in spec.ingress / spec.egress, -1 when not known */
	uint8_t direction; /* enum pw_dir */
};

struct pw_flow_enricher {
	void *ctx;
	/*
	 * Describe the end holding addr (network order; IPv4 in addr[0]) whose datapath identity
	 * is `identity`. ep_id != 0 when the datapath knows this end is that endpoint (the
	 * subject of the decision; a socket-layer deny has no source address, only this).
	 * 0 filled, -ENOENT unknown (the record keeps address and identity). NULL: not asked.
	 */
	int (*endpoint)(void *ctx, uint8_t family, const uint32_t addr[4], uint32_t identity,
			uint32_t ep_id, struct pw_flow_endpoint *out);
	/* The rule behind a policy cookie: 0 filled, -ENOENT unknown. NULL: not asked. */
	int (*policy)(void *ctx, uint32_t cookie, struct pw_flow_policy *out);
	/*
	 * The policies isolating endpoint ep_id in `direction` (those that select it; none of
	 * them allowed a denied flow). Fill up to max, return how many exist (may exceed max)
	 * or -errno. NULL: not asked.
	 */
	int (*isolating)(void *ctx, uint32_t ep_id, uint8_t direction, struct pw_flow_policy *out,
			 size_t max);
	/*
	 * Describe an identity alone (the ends of --flow-aggregate records): namespace and
	 * labels; 0 filled, -ENOENT unknown. NULL: aggregate ends carry the identity only.
	 */
	int (*identity)(void *ctx, uint32_t identity, struct pw_flow_endpoint *out);
	/*
	 * The Service (namespace/name into buf) of a frontend: ClusterIP addr, port (network
	 * order), proto. 0 filled, -ENOENT unknown. NULL: not asked.
	 */
	int (*service)(void *ctx, uint8_t family, const uint32_t addr[4], uint16_t port_be,
		       uint8_t proto, char *buf, size_t len);
	/*
	 * The Service frontend endpoint ep_id's egress flow to daddr:dport (a backend) came
	 * through: 0 and front/front_port filled, -ENOENT when none. NULL: not asked.
	 */
	int (*flow_service)(void *ctx, uint32_t ep_id, uint8_t family, uint8_t proto,
			    const uint32_t daddr[4], uint16_t dport_be, uint32_t front[4],
			    uint16_t *front_port_be);
	/*
	 * The reason endpoint ep_id was quarantined for ("" when none was given), NULL when it
	 * is not (any more). Asked for quarantine drops. NULL: not asked.
	 */
	const char *(*quarantine_reason)(void *ctx, uint32_t ep_id);
};

/*
 * The library renders each endpoint, identity, policy rule and isolating set once and reuses
 * the text (flowrec.c). Call this whenever what the enricher answers may have changed (pods,
 * namespaces, policies): every cached answer is asked again. O(1).
 */
void pw_flowlog_invalidate(struct pw_flowlog *fl);

/* --- options ------------------------------------------------------------------------------ */

enum pw_flowlog_fsync {
	/* fsync the file before each rotation and on pw_flowlog_sync()/free (default) */
	PW_FLOWLOG_FSYNC_ROTATE = 0,
	/* never: records survive a daemon crash (page cache), not a machine crash */
	PW_FLOWLOG_FSYNC_NONE = 1,
	/* after every record: survives power loss, costs a disk flush per record */
	PW_FLOWLOG_FSYNC_ALWAYS = 2,
};

#define PW_FLOWLOG_RING_DEFAULT	     1024
#define PW_FLOWLOG_RL_WINDOW_DEFAULT (5ull * 1000000000ull)
#define PW_FLOWLOG_RL_SLOTS_DEFAULT  4096
#define PW_FLOWLOG_RL_WAYS	     4
#define PW_FLOWLOG_WRITE_BUFFER_DEFAULT	  (1u << 20) /* what the daemon uses */
#define PW_FLOWLOG_WRITE_DELAY_MS_DEFAULT 100

struct pw_flowlog_opts {
	size_t sz; /* sizeof(struct pw_flowlog_opts) */
	/* file sink: NULL none, "-" standard output, else a path (created 0640, appended to) */
	const char *path;
	/* rotate when the next record would take the file past max_bytes; 0: never rotate */
	uint64_t max_bytes;
	/* rotated files kept: path.1 (newest) .. path.keep (oldest); 0: rotation truncates */
	unsigned int keep;
	enum pw_flowlog_fsync fsync;
	/* records kept in memory for `podwall flows`; 0: PW_FLOWLOG_RING_DEFAULT */
	unsigned int ring_size;
	/* deny rate limit: at most rl_burst records per key per window (0: defaults 1 / 5 s) */
	uint64_t rl_window_ns;
	unsigned int rl_burst;
	/* rate-limit table slots, rounded up to a power of two (0: default); fixed memory */
	unsigned int rl_slots;
	bool rl_disable; /* record every deny */
	/* keep 1 in N allowed flows (flow_new and flow_end), chosen by pw_flow_hash; 0/1: all */
	uint32_t sample_allowed;
	const char *node_name;			 /* Hubble "node_name"; NULL: omitted */
	const struct pw_flow_enricher *enricher; /* copied; NULL: none */
	/*
	 * wall = CLOCK_MONOTONIC + offset. Measured at pw_flowlog_new() unless
	 * clock_offset_set (tests use a fixed offset to predict times).
	 */
	bool clock_offset_set;
	int64_t clock_offset_ns;
	pw_log_fn log;
	void *log_ctx;
	/*
	 * Batched writes: records collect in a buffer of this many bytes, written when full,
	 * when one has waited write_delay_ms (0: PW_FLOWLOG_WRITE_DELAY_MS_DEFAULT), on
	 * pw_flowlog_flush_writes()/flush/sync/reopen/free and before a rotation. 0: one write
	 * per record. Ignored with PW_FLOWLOG_FSYNC_ALWAYS (each record is written and synced).
	 */
	size_t write_buffer;
	unsigned int write_delay_ms;
	/*
	 * --flow-aggregate: one flow_aggregate record per (source identity, destination
	 * identity, destination port, protocol, direction, verdict, policy) per interval of this
	 * many ns; allowed and audited flows (flow_new, audit, flow_end) are then counted there
	 * instead of written one by one; denies keep their rate-limited records. 0: off.
	 */
	uint64_t aggregate_ns;
	/*
	 * Build each record as a json-c object tree (the path before the streaming writer). For
	 * bench_flowlog's same-run comparison and the equivalence test only; slower, same bytes.
	 */
	bool legacy_json;
};

int pw_flowlog_new(const struct pw_flowlog_opts *opts, struct pw_flowlog **out);
/* Emits every pending suppressed count, syncs per the fsync policy, closes. NULL is fine. */
void pw_flowlog_free(struct pw_flowlog *fl);

/* --- inputs ------------------------------------------------------------------------------- */

/*
 * One perf-buffer event. Returns 1 when a record was emitted (the ring and subscribers always
 * take it; a failed file write is logged and counted in write_errors), 0 when it was rate
 * limited (counted, recorded later) or sampled out, -EINVAL for an event of an unknown type
 * or family (counted in bad_events), -ENOMEM.
 */
int pw_flowlog_event(struct pw_flowlog *fl, int cpu, const struct pw_event *ev);
/*
 * n more drops identical to ev that the kernel folded (pw_dp_events_on_repeat): counted as
 * n events, rate limited as n denies at ev's time. Same returns.
 */
int pw_flowlog_repeats(struct pw_flowlog *fl, int cpu, const struct pw_event *ev, uint64_t n);
/* One conntrack flow end (pw_dp_ct_sweep / pw_dp_ct_flush). Same returns. */
int pw_flowlog_flow_end(struct pw_flowlog *fl, const struct pw_ct_key *key,
			const struct pw_ct_entry *val, enum pw_flow_end_reason why);
/* One perf-buffer loss report: a {"kind":"lost","lost_reason":"ring-full"} record. */
int pw_flowlog_lost(struct pw_flowlog *fl, int cpu, uint64_t lost);
/*
 * Events the programs emitted while no reader was attached (the daemon was not running):
 * a {"kind":"lost","lost_reason":"no-reader"} record without a cpu. Both kinds add to the
 * running total (stats.lost).
 */
int pw_flowlog_lost_unread(struct pw_flowlog *fl, uint64_t lost);
/*
 * Flow ends the datapath could not keep for the sweep (PW_METRIC_CT_END_LOST): lost_reason
 * "flow-end-not-kept", no cpu, added to the running total.
 */
int pw_flowlog_lost_flow_ends(struct pw_flowlog *fl, uint64_t lost);

/* Adapters with the datapath callback signatures; ctx is the struct pw_flowlog. */
void pw_flowlog_on_event(void *ctx, int cpu, const struct pw_event *ev);
void pw_flowlog_on_repeat(void *ctx, int cpu, const struct pw_event *ev, uint64_t n);
void pw_flowlog_on_flow_end(void *ctx, const struct pw_ct_key *key, const struct pw_ct_entry *val,
			    enum pw_flow_end_reason why);
void pw_flowlog_on_lost(void *ctx, int cpu, uint64_t lost);

/*
 * Emit the suppressed counts of every key whose window ended by now_ns (CLOCK_MONOTONIC,
 * the clock of event timestamps). Call it on a timer (once a second is plenty). Returns
 * the number of records emitted or -errno.
 */
int pw_flowlog_flush(struct pw_flowlog *fl, uint64_t now_ns);
/* Same for every key, window ended or not (shutdown). */
int pw_flowlog_flush_all(struct pw_flowlog *fl);

/* Write what the write buffer holds now (the daemon calls it after each drain of the rings). */
int pw_flowlog_flush_writes(struct pw_flowlog *fl);
/* fsync the file sink (whatever the policy). */
int pw_flowlog_sync(struct pw_flowlog *fl);
/* Close and reopen the file (after an external rotation, SIGHUP). */
int pw_flowlog_reopen(struct pw_flowlog *fl);
/* Measure the monotonic -> wall clock offset again (after a clock step). */
void pw_flowlog_clock_resync(struct pw_flowlog *fl);
int64_t pw_flowlog_clock_offset(const struct pw_flowlog *fl);

/* --- live stream and history ------------------------------------------------------------- */

/*
 * A subscriber sees every record as it is emitted: the line (NUL-terminated at len, no
 * trailing '\n'), before it reaches the file. The library never parses it back: a subscriber
 * that filters parses what it needs (json_tokener_parse), so records cost nothing extra while
 * nobody follows. It may unsubscribe itself from the callback.
 */
typedef void (*pw_flowlog_sub_fn)(void *ctx, const char *line, size_t len);
/* Returns a subscription id (> 0) or -errno. */
int pw_flowlog_subscribe(struct pw_flowlog *fl, pw_flowlog_sub_fn fn, void *ctx);
int pw_flowlog_unsubscribe(struct pw_flowlog *fl, int id);

/* Visit the in-memory ring, oldest first; fn returns non-zero to stop (returned as is). */
typedef int (*pw_flowlog_ring_fn)(void *ctx, const char *line, size_t len);
int pw_flowlog_ring_foreach(const struct pw_flowlog *fl, pw_flowlog_ring_fn fn, void *ctx);

/*
 * The last `limit` records of the ring (0: all) that match (match NULL: every record), oldest
 * first, as a JSON array the caller owns; NULL on allocation failure. pw_flowfilter_match_cb
 * (flowfilter.h) is a ready-made match.
 */
typedef bool (*pw_flow_match_fn)(const void *ctx, json_object *rec);
json_object *pw_flowlog_recent(const struct pw_flowlog *fl, pw_flow_match_fn match,
			       const void *match_ctx, size_t limit);

/* --- accounting ---------------------------------------------------------------------------- */

struct pw_flowlog_stats {
	uint64_t events;	     /* perf-buffer events handed in, a repeat count as its n */
	uint64_t folded;	     /* of those, handed in as repeat counts (kernel drop folding) */
	uint64_t flow_ends;	     /* conntrack flow ends handed in */
	uint64_t records;	     /* records emitted (every kind) */
	uint64_t suppressed;	     /* denies counted into another record by the rate limit */
	uint64_t suppressed_pending; /* of those, not yet carried by an emitted record */
	uint64_t sampled_out;	     /* allowed flows skipped by sampling (by design, not loss) */
	uint64_t aggregated; /* allowed/audited flows and flow ends counted in aggregates only */
	uint64_t aggregates; /* flow_aggregate records written */
	uint64_t lost;		     /* perf-buffer samples lost (running total) */
	uint64_t lost_reports;	     /* loss reports received */
	uint64_t rl_evictions;	     /* rate-limit slots reused for another key */
	uint64_t bad_events;	     /* events with an unknown type or family, skipped */
	uint64_t write_errors;	     /* failed writes to the file or stdout */
	uint64_t rotations;
	uint64_t file_bytes; /* size of the current file */
};

void pw_flowlog_get_stats(const struct pw_flowlog *fl, struct pw_flowlog_stats *out);
/* The stats as a JSON object for `podwall status` (caller owns the reference). */
json_object *pw_flowlog_stats_json(const struct pw_flowlog *fl);
uint64_t pw_flowlog_lost_total(const struct pw_flowlog *fl);

/* --- helpers ------------------------------------------------------------------------------ */

/*
 * Sampling hash of a flow's original-direction 5-tuple (addresses network order as in the
 * event / conntrack key, ports network order). A flow is kept when hash % N == 0, so flow_new
 * and flow_end of one flow are kept or skipped together, and tests can predict the choice.
 */
uint32_t pw_flow_hash(uint8_t family, uint8_t proto, const uint32_t saddr[4],
		      const uint32_t daddr[4], uint16_t sport_be, uint16_t dport_be);

/*
 * Copy s (at most n bytes, stopping at a NUL) into dst (dstlen bytes, NUL-terminated),
 * replacing every invalid UTF-8 sequence with U+FFFD. Returns the length written. A
 * truncated result never ends in a partial sequence.
 */
size_t pw_utf8_sanitize(const char *s, size_t n, char *dst, size_t dstlen);

/* RFC 3339 UTC with nanoseconds: "2026-11-22T02:04:49.123456789Z" (buf >= 32 bytes). */
const char *pw_flowlog_format_time(int64_t wall_ns, char *buf, size_t len);

/* Hubble DropReason name for a podwall drop reason ("POLICY_DENIED", ...). */
const char *pw_flowlog_drop_reason_desc(unsigned int reason);

#endif /* PW_CTL_FLOWLOG_H */
