/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Inside the flow-log library: the state shared by its files, one job each, each calling only
 * the ones listed before it (no import circle, scripts/check-layers.sh):
 *   flowvocab.c     the words: names, reasons, Summary, times, UTF-8 repair, hash, logging
 *   flowsink.c      file sink (batched writes, rotation, fsync), ring, subscribers
 *   flowrec_jsonc.c the record as a json-c tree (the path before the streaming writer; kept
 *                   behind opts.legacy_json so bench_flowlog measures both in one run)
 *   flowrec.c       the record writer: JSON streamed into a buffer, cached fragments
 *   flowagg.c       deny rate limit and --flow-aggregate
 *   flowlog.c       inputs, accounting, lifecycle
 * Nothing here is API: flowlog.h is.
 */
#ifndef PW_CTL_FLOWLOG_INT_H
#define PW_CTL_FLOWLOG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flowlog.h"

#define NSEC_PER_SEC  1000000000LL
#define NSEC_PER_MSEC 1000000LL
#define MAX_ISOLATING 16 /* policies named in one deny record; the rest are counted */

/* cilium monitor message types, Hubble's event_type.type */
#define MSG_DROP	   1
#define MSG_POLICY_VERDICT 5

/* --- a growable byte buffer the record writer streams into -------------------------------- */

struct jbuf {
	char *p;
	size_t len, cap;
	bool oom; /* an append failed: the record is dropped whole */
};

/* --- fragment caches (flowrec.c) ------------------------------------------------------------ */

/* One rendered piece of JSON, valid while gen matches the library's generation. */
struct frag {
	uint64_t gen; /* 0: empty */
	char *s;
	uint32_t len, cap;
};

struct ep_frag {
	struct frag f;
	uint8_t family;
	uint32_t addr[4];
	uint32_t identity, ep_id;
};

struct pol_frag {
	struct frag f; /* "[{...}]", or len 0 when the enricher does not know the cookie */
	uint32_t cookie;
};

struct iso_frag {
	struct frag f; /* ,"isolated_by":[...]... or len 0 */
	uint32_t ep_id;
	uint8_t dir;
};

#define EP_CACHE  4096 /* direct mapped, power of two */
#define POL_CACHE 1024
#define ISO_CACHE 1024

/* --- rate limiting: a fixed, set-associative table (flowagg.c) ------------------------------ */

struct rl_key {
	uint32_t ep_id;
	uint8_t type;
	uint8_t family;
	uint8_t proto;
	uint8_t direction;
	uint32_t saddr[4];
	uint32_t daddr[4];
	uint16_t dport;
	uint16_t pad;
};

struct rl_slot {
	struct rl_key key;
	bool used;
	uint32_t emitted;     /* records emitted in the current window */
	uint64_t win_start;   /* CLOCK_MONOTONIC ns */
	uint64_t last_ns;     /* last event of this key, for eviction */
	uint64_t pending;     /* denies not recorded yet */
	struct pw_event last; /* the newest of them: what a flush records */
};

/* --- aggregation (flowagg.c) ------------------------------------------------------------------ */

struct agg_key {
	uint32_t src_identity;
	uint32_t dst_identity;
	uint32_t cookie;
	uint16_t dport; /* network order, as the kernel reports it */
	uint8_t proto;
	uint8_t direction;
	uint8_t verdict; /* enum agg_verdict */
	uint8_t pad[3];
};

enum agg_verdict { AGG_FORWARDED, AGG_DROPPED, AGG_AUDIT };

struct agg_entry {
	struct agg_key key;
	bool used;
	uint64_t flows;	      /* new flows admitted (flow_new, audit) */
	uint64_t denied;      /* deny decisions (packets dropped, calls refused) */
	uint64_t flows_ended; /* flow ends */
	uint64_t packets;     /* of the flows that ended, both directions */
	uint64_t octets;
};

#define AGG_SLOTS_DEFAULT 16384 /* power of two; a full table is written out early */

/* --- sink (flowsink.c) ------------------------------------------------------------------------ */

struct ring_rec {
	char *line;
	size_t len, cap;
};

struct sub {
	int id;
	pw_flowlog_sub_fn fn; /* NULL: unsubscribed during a dispatch, reaped after it */
	void *ctx;
};

struct pw_flowlog {
	/* file sink */
	char *path;
	int fd; /* -1: none */
	bool is_stdout;
	uint64_t max_bytes;
	unsigned int keep;
	enum pw_flowlog_fsync fsync;
	bool write_failing; /* log the first failure of a run of them, not each */
	/* batched writes: records wait here until the buffer fills, a timer or a flush */
	char *wbuf;
	size_t wbuf_cap, wbuf_len;
	uint64_t wbuf_recs;	 /* records in wbuf (write_errors counts records) */
	uint64_t wbuf_since;	 /* CLOCK_MONOTONIC_COARSE ns of the oldest buffered byte */
	uint64_t write_delay_ns; /* the longest a record waits in wbuf */

	/* ring */
	struct ring_rec *ring;
	size_t ring_cap, ring_head, ring_len;

	/* subscribers */
	struct sub *subs;
	size_t n_subs, cap_subs;
	int next_sub_id;
	int dispatching;

	/* rate limit */
	struct rl_slot *rl;
	size_t rl_sets; /* power of two */
	uint64_t rl_window;
	unsigned int rl_burst;
	bool rl_disable;

	/* aggregation: 0 interval = off */
	uint64_t agg_interval;
	uint64_t agg_start; /* CLOCK_MONOTONIC ns the current interval began, 0: none yet */
	struct agg_entry *agg;
	size_t agg_slots, agg_used;

	/* record writer */
	bool legacy;	 /* json-c tree per record (bench_flowlog's "old path") */
	struct jbuf rec; /* the record being written */
	uint64_t gen;	 /* fragments rendered under an older generation are stale */
	struct ep_frag *ep_cache;
	struct pol_frag *pol_cache;
	struct iso_frag *iso_cache;
	int64_t tcache_sec; /* the second tcache holds, -1: none */
	char tcache[24];    /* "YYYY-MM-DDTHH:MM:SS." */
	char *node_frag;    /* ,"node_name":"..." rendered once, NULL when none */
	size_t node_frag_len;

	uint32_t sample;
	char *node_name;
	struct pw_flow_enricher enr;
	bool have_enr;
	bool offset_fixed;
	int64_t offset;
	uint64_t seq;

	pw_log_fn log;
	void *log_ctx;
	struct pw_flowlog_stats st;
};

void pw_fl_logf(struct pw_flowlog *fl, enum pw_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline int64_t pw_fl_wall(const struct pw_flowlog *fl, uint64_t mono)
{
	return (int64_t)mono + fl->offset;
}

uint64_t pw_fl_mono_now(void);
uint32_t pw_fl_mix32(uint32_t h);

/* shared vocabulary (flowlog.c) */
const char *pw_fl_event_kind(uint8_t type);
const char *pw_fl_proto_name(uint8_t proto);
const char *pw_fl_reserved_label(uint32_t id);
int pw_fl_drop_reason_code(unsigned int reason);
const char *pw_fl_end_reason(enum pw_flow_end_reason why, int *ipfix, const char **end);
extern const char *const pw_fl_tcp_flag_names[8];
extern const char *const pw_fl_ct_states[3];
size_t pw_fl_summary(const struct pw_event *ev, uint64_t suppressed, char *buf, size_t len);

/* record writers: each emits one record (0, or the file sink's -errno, or -ENOMEM) */
int pw_fl_emit_event(struct pw_flowlog *fl, const struct pw_event *ev, uint64_t suppressed);
int pw_fl_emit_flow_end(struct pw_flowlog *fl, const struct pw_ct_key *key,
			const struct pw_ct_entry *val, enum pw_flow_end_reason why);
int pw_fl_emit_lost(struct pw_flowlog *fl, int cpu, uint64_t lost, const char *reason,
		    const char *summary);
int pw_fl_emit_aggregate(struct pw_flowlog *fl, const struct agg_entry *a, uint64_t start_ns,
			 uint64_t end_ns);
int pw_fl_rec_init(struct pw_flowlog *fl);
void pw_fl_rec_free(struct pw_flowlog *fl);

/* the json-c path (flowrec_jsonc.c) */
int pw_fl_jsonc_event(struct pw_flowlog *fl, const struct pw_event *ev, uint64_t suppressed);
int pw_fl_jsonc_flow_end(struct pw_flowlog *fl, const struct pw_ct_key *key,
			 const struct pw_ct_entry *val, enum pw_flow_end_reason why);
int pw_fl_jsonc_lost(struct pw_flowlog *fl, int cpu, uint64_t lost, const char *reason,
		     const char *summary);

/* Length of the valid UTF-8 sequence at s, or 0 with *bad = the bytes of an invalid one */
size_t pw_fl_utf8_seq(const unsigned char *s, size_t n, size_t *bad);
/* JSON string escaping exactly as json-c writes it (after UTF-8 repair) */
void pw_fl_jb_str(struct jbuf *b, const char *s, size_t maxlen);

/* sink (flowsink.c): takes one finished line (no '\n'); 0 or the file sink's -errno */
int pw_fl_sink_line(struct pw_flowlog *fl, const char *line, size_t len);
int pw_fl_file_open(struct pw_flowlog *fl);
int pw_fl_write_out(struct pw_flowlog *fl);
void pw_fl_sink_free(struct pw_flowlog *fl);

/* rate limit and aggregation (flowagg.c) */
bool pw_fl_rl_type(uint8_t type);
int pw_fl_rl_admit(struct pw_flowlog *fl, const struct pw_event *ev, uint64_t *carried);
/* n more denies of ev's key, counted into a later record (the newest kept) */
void pw_fl_rl_more(struct pw_flowlog *fl, const struct pw_event *ev, uint64_t n);
int pw_fl_rl_flush(struct pw_flowlog *fl, uint64_t now_ns);
void pw_fl_agg_event(struct pw_flowlog *fl, const struct pw_event *ev, uint64_t n);
void pw_fl_agg_flow_end(struct pw_flowlog *fl, const struct pw_ct_key *key,
			const struct pw_ct_entry *val);
int pw_fl_agg_flush(struct pw_flowlog *fl, uint64_t now_ns, bool all);

#endif /* PW_CTL_FLOWLOG_INT_H */
