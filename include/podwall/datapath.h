/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The datapath library: loads and pins podwall's BPF objects, adopts what an earlier process
 * pinned, attaches programs per endpoint and at the cgroup root, writes the maps, sweeps
 * conntrack and reads the event buffer.
 *
 * Conventions: functions return 0 (or an fd / count >= 0) on success and -errno on failure.
 * The library never prints: it reports through the log callback in the options, with a
 * message a user can act on. Options structs start with their size so they can grow.
 */
#ifndef PODWALL_DATAPATH_H
#define PODWALL_DATAPATH_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <podwall/shared.h>
#include <podwall/service.h>

#ifdef __cplusplus
extern "C" {
#endif

struct pw_dp;

enum pw_log_level {
	PW_LOG_ERROR = 0,
	PW_LOG_WARN = 1,
	PW_LOG_INFO = 2,
	PW_LOG_DEBUG = 3,
};

typedef void (*pw_log_fn)(void *ctx, enum pw_log_level level, const char *msg);

enum pw_tc_mode {
	PW_TC_AUTO = 0, /* tcx links where the kernel has them (6.6+), else tc clsact */
	PW_TC_TCX = 1,
	PW_TC_CLSACT = 2,
};

struct pw_dp_opts {
	size_t sz; /* sizeof(struct pw_dp_opts) */
	/*
	 * bpffs directory owning every pin of this datapath (maps, links). NULL: nothing is
	 * pinned and everything goes away with the process (unit tests, benchmarks). Mounted
	 * as bpffs when it is not on one already.
	 */
	const char *bpffs_dir;
	/*
	 * cgroup v2 directory under which pod cgroups live; the socket programs attach here.
	 * NULL: socket programs are loaded but not attached. Refused when it is a cgroup2
	 * mount's root.
	 */
	const char *cgroup_root;
	enum pw_tc_mode tc_mode;
	/* capacities for a first load; 0 = default. Adopted pins keep their own. */
	uint32_t ipcache_max;
	uint32_t policy_max;
	uint32_t ep_max;
	uint32_t ct_max;
	pw_log_fn log;
	void *log_ctx;
	enum pw_log_level log_level; /* messages above it are not formatted */
};

/*
 * Load the BPF objects, adopting maps pinned under bpffs_dir (nothing is flushed), pin what
 * is new, attach the socket programs at cgroup_root and replace the programs behind every
 * pinned link atomically with the freshly loaded ones.
 */
int pw_dp_open(const struct pw_dp_opts *opts, struct pw_dp **out);

/* Release this process's handles. Pinned state, and so enforcement, stays. NULL is fine. */
void pw_dp_close(struct pw_dp *dp);

/*
 * Detach everything this datapath attached (socket programs, every endpoint's TC programs)
 * and remove its pins and bpffs_dir. For uninstall and test cleanup; enforcement stops.
 */
int pw_dp_destroy(struct pw_dp *dp);

/* true when this open adopted maps pinned by an earlier process */
bool pw_dp_adopted(const struct pw_dp *dp);
/* "tcx" or "clsact": how TC programs attach on this kernel */
const char *pw_dp_tc_mode_name(const struct pw_dp *dp);

/* --- endpoints --------------------------------------------------------------------------- */

/*
 * Write the endpoint into the ifindex and cgroup maps (ep->ifindex / ep->cgroup_id may be 0
 * when that side is unknown). Writing an existing endpoint replaces it in place. An endpoint
 * with an ifindex and an all-zero mac is written with what pw_dp_endpoint_learn() finds; when
 * it finds nothing, the endpoint keeps a zero MAC and its pod sends nothing (fail closed).
 */
int pw_dp_endpoint_upsert(struct pw_dp *dp, const struct pw_endpoint *ep);
/*
 * Fill ep->mac and ep->link_ifindex from the kernel: the MAC of the peer of the host-side
 * veth ep->ifindex (the pod's own interface, read in the pod's netns through the veth's
 * link-netnsid) and the bridge the veth is enslaved to (0: none). Learned once, when the
 * endpoint is bound: a pod that changes its MAC afterwards only cuts itself off.
 * -EMEDIUMTYPE: the interface is not a veth.
 */
int pw_dp_endpoint_learn(struct pw_dp *dp, struct pw_endpoint *ep);
int pw_dp_endpoint_delete(struct pw_dp *dp, const struct pw_endpoint *ep);
int pw_dp_endpoint_lookup_ifindex(struct pw_dp *dp, uint32_t ifindex, struct pw_endpoint *out);

/*
 * Attach the TC programs to the host-side interface (ingress and egress), pinning tcx links
 * under bpffs_dir. Attaching again replaces the programs atomically. -ENODEV: no such
 * interface in this network namespace.
 */
int pw_dp_attach_tc(struct pw_dp *dp, uint32_t ifindex);
int pw_dp_detach_tc(struct pw_dp *dp, uint32_t ifindex);

/* --- ipcache ----------------------------------------------------------------------------- */

struct pw_cidr {
	uint8_t family; /* PW_FAMILY_V4 / PW_FAMILY_V6 */
	uint8_t prefixlen;
	uint32_t addr[4]; /* network order; IPv4 in addr[0] */
};

struct pw_ipcache_entry {
	struct pw_cidr cidr;
	struct pw_ipcache_val val;
};

/* Batched writers. Add-before-delete is the caller's ordering; each call is one batch. */
int pw_dp_ipcache_update(struct pw_dp *dp, const struct pw_ipcache_entry *e, size_t n);
int pw_dp_ipcache_delete(struct pw_dp *dp, const struct pw_cidr *c, size_t n);
/* exact-prefix lookup (not longest match); -ENOENT when absent */
int pw_dp_ipcache_get(struct pw_dp *dp, const struct pw_cidr *c, struct pw_ipcache_val *out);

/* --- policy ------------------------------------------------------------------------------ */

struct pw_policy_entry {
	uint32_t subject; /* host order */
	uint32_t peer;    /* host order; PW_ID_ANY = any peer */
	uint8_t direction;  /* PW_DIR_*, | PW_POL_DIR_AUDIT: the as-if-audit-enforced set */
	uint8_t proto;      /* 0 = any protocol (then ports are ignored) */
	uint16_t port_lo;   /* host order; port_lo = 0 and port_hi = 0xffff: all ports */
	uint16_t port_hi;   /* inclusive */
	struct pw_policy_val val;
};

/*
 * Each entry expands to the minimal set of port prefixes covering [port_lo, port_hi]
 * (at most 30 trie entries). Returns the number of trie entries written, or -errno.
 */
int pw_dp_policy_update(struct pw_dp *dp, const struct pw_policy_entry *e, size_t n);
/*
 * Deletes the trie entries each entry expands to; returns how many existed (absent ones are
 * fine). Two entries whose ranges share a prefix share its trie entry: the caller deletes
 * only what no remaining entry needs.
 */
int pw_dp_policy_delete(struct pw_dp *dp, const struct pw_policy_entry *e, size_t n);
/* Expand a port range into LPM keys: fills up to max keys, returns how many (or -ENOSPC). */
int pw_policy_expand(const struct pw_policy_entry *e, struct pw_policy_key *keys, size_t max);

/*
 * Re-check established flows: set a new policy generation on every endpoint (ep_id == 0) or
 * on one. Call after the policy writes that tightened it have landed.
 */
int pw_dp_bump_generation(struct pw_dp *dp, uint32_t ep_id);
/*
 * The same for one endpoint found by its keys (ep->ifindex, ep->cgroup_id; either may be 0)
 * instead of a walk of both maps: a few syscalls. A key whose entry is another endpoint's, or
 * absent, is left alone.
 */
int pw_dp_bump_endpoint(struct pw_dp *dp, const struct pw_endpoint *ep);

/* --- conntrack --------------------------------------------------------------------------- */

struct pw_ct_timeouts {
	size_t sz;
	uint64_t tcp_syn_ns;         /* only the SYN seen */
	uint64_t tcp_established_ns;
	uint64_t tcp_closing_ns;     /* FIN or RST seen */
	uint64_t udp_ns;
	uint64_t other_ns;           /* ICMP, SCTP, ... */
};

/* Defaults: SYN 60 s, established 6 h, closing 10 s, UDP 60 s, other 30 s. */
void pw_ct_timeouts_default(struct pw_ct_timeouts *t);

enum pw_flow_end_reason {
	PW_END_TIMEOUT = 1,  /* idle past its timeout */
	/*
	 * FIN/RST seen and closing timeout passed, or a closing flow whose port pair a new
	 * connection reused (parked by the datapath: its record comes at the next sweep)
	 */
	PW_END_CLOSED = 2,
	PW_END_FLUSHED = 3,  /* removed by pw_dp_ct_flush */
	PW_END_REVOKED = 4,  /* failed its re-check after a policy change (PW_EV_REVOKED) */
};

/*
 * One call per flow that ends. key is the flow's live key (ended = 0) even for a parked entry,
 * so a flow is named the same way whether it ended in the datapath or in the sweep.
 */
typedef void (*pw_flow_end_fn)(void *ctx, const struct pw_ct_key *key,
			       const struct pw_ct_entry *val, enum pw_flow_end_reason why);

struct pw_ct_sweep_stats {
	uint64_t scanned;
	uint64_t expired;
};

/*
 * Delete expired entries, reporting each through cb (may be NULL), and every parked entry (a
 * flow the datapath ended: revoked or reused, see struct pw_ct_key) whatever its age.
 * now_ns: CLOCK_MONOTONIC.
 */
int pw_dp_ct_sweep(struct pw_dp *dp, uint64_t now_ns, const struct pw_ct_timeouts *t,
		   pw_flow_end_fn cb, void *ctx, struct pw_ct_sweep_stats *stats);
/*
 * Remove every entry of one endpoint (ep_id != 0) or all; cb as above. Live flows end with
 * PW_END_FLUSHED, parked ones with the reason they already ended for.
 */
int pw_dp_ct_flush(struct pw_dp *dp, uint32_t ep_id, pw_flow_end_fn cb, void *ctx);
/* Number of entries, parked ones included, by walking the map */
int pw_dp_ct_count(struct pw_dp *dp, uint64_t *count);
/*
 * Remove every live entry whose destination is b (address, port) for proto, in every scope:
 * the client's egress entry and the backend pod's ingress entry. *removed gets the count.
 */
int pw_dp_ct_flush_peer(struct pw_dp *dp, const struct pw_backend *b, uint8_t proto,
			pw_flow_end_fn cb, void *ctx, uint64_t *removed);

/* --- Services (include/podwall/service.h) ------------------------------------------------ */

/* A backend by id (> 0); ids are the control plane's, one per (family, address, port). */
int pw_dp_backend_update(struct pw_dp *dp, uint32_t id, const struct pw_backend *b);
int pw_dp_backend_delete(struct pw_dp *dp, uint32_t id);
/*
 * Point frontend `front` (slot ignored) at backend_ids[0..n): slots 1..n, then the count in
 * slot 0, then the slots n+1..old_n (the previous count) go. n == 0: ECONNREFUSED.
 */
int pw_dp_svc_write(struct pw_dp *dp, const struct pw_svc_key *front, uint32_t svc_id,
		    const uint32_t *backend_ids, size_t n, size_t old_n);
/* Remove the frontend, then its old_n slots. */
int pw_dp_svc_delete(struct pw_dp *dp, const struct pw_svc_key *front, size_t old_n);
/*
 * Abort every TCP and UDP socket connected to one of keys[0..n) (a removed backend), in each
 * network namespace of netns_fds (the client pods'); *ended gets how many. Needs Linux 6.5
 * (bpf_sock_destroy); the iterators load on first use.
 */
int pw_dp_svc_end_conns(struct pw_dp *dp, const struct pw_svc_end_key *keys, size_t n,
			const int *netns_fds, size_t n_ns, uint64_t *ended);
/* The frontend a client endpoint last reached backend k through; -ENOENT if none. */
int pw_dp_svc_flow_lookup(struct pw_dp *dp, const struct pw_svc_flow_key *k,
			  struct pw_svc_rev_val *out);

/* --- events ------------------------------------------------------------------------------ */

typedef void (*pw_event_fn)(void *ctx, int cpu, const struct pw_event *ev);
/*
 * lost records emitted on `cpu` that this reader will never see, each reported once: records
 * that found that CPU's ring full, and records that found no ring there (a CPU that came
 * online after the reader opened, say).
 */
typedef void (*pw_lost_fn)(void *ctx, int cpu, uint64_t lost);
/*
 * n more drops identical to ev (a PW_EV_DROP record this reader handed on, or lost), the
 * newest at ev->ts_ns: the TC programs fold repeated drops (struct pw_fold in shared.h).
 */
typedef void (*pw_repeat_fn)(void *ctx, int cpu, const struct pw_event *ev, uint64_t n);

/*
 * Open the perf buffer reader: pages per CPU must be a power of two (0 = 64). The epoll fd
 * becomes readable when a ring is a quarter full, not on every record (a wakeup per record
 * costs the emitting packet microseconds): a caller that waits on the fd must also call
 * pw_dp_events_consume() periodically (podwalld: every 100 ms) to bound record latency.
 *
 * Losses are known at the drain that follows them, not only when the kernel's
 * PERF_RECORD_LOST arrives (it does so with the next record that fits in that ring, which
 * may never come): the BPF programs count every record they fail to write, per CPU, in
 * PW_METRIC_EV_FULL and PW_METRIC_EV_NOREADER, and every pw_dp_events_poll() and
 * pw_dp_events_consume() reads those counters (two map lookups) after draining the rings.
 * A CPU's ring-full loss is the larger of its counter's growth since the open and the sum
 * of that ring's PERF_RECORD_LOST counts; on_lost receives only its growth, so a
 * PERF_RECORD_LOST that arrives after the counter reported the same records adds nothing.
 * Growth of EV_NOREADER past the open goes to on_lost too. Records emitted before the open
 * found no ring: see pw_dp_events_unread().
 */
int pw_dp_events_open(struct pw_dp *dp, size_t pages_per_cpu, pw_event_fn on_event,
		      pw_lost_fn on_lost, void *ctx);
/*
 * Receive folded drops as counts (after pw_dp_events_open, before the thread starts).
 * Without it each repeat reaches on_event as a record of its own: the same record, the
 * newest repeat's time.
 */
void pw_dp_events_on_repeat(struct pw_dp *dp, pw_repeat_fn on_repeat);
/* repeats handed on (as counts or as records) since the open */
uint64_t pw_dp_events_repeats(const struct pw_dp *dp);
/* epoll fd to wait on, or -errno */
int pw_dp_events_fd(struct pw_dp *dp);
/*
 * Wait up to timeout_ms for records and hand them to the callbacks, draining what sits below
 * the wakeup watermark every 20 ms; returns as soon as any were handled or lost. Returns the
 * number handled or -errno.
 */
int pw_dp_events_poll(struct pw_dp *dp, int timeout_ms);
/* Consume what is ready without waiting, then report losses; returns the number handled */
int pw_dp_events_consume(struct pw_dp *dp);
/*
 * Read the rings from a thread of the library's own (after pw_dp_events_open): it copies each
 * record out of the kernel's rings into a queue of queue_events items (0: 262144, at least
 * four rings' worth; memory is taken as it fills) as soon as a ring wakes it, and at least
 * every 20 ms, at the lowest real-time priority where allowed (else nice -10). The callbacks
 * keep running in the caller's thread, from pw_dp_events_consume()/poll(), in the order the
 * records were read;
 * pw_dp_events_fd() then returns an eventfd readable while the queue holds items. So the
 * caller may spend seconds on other work (writing records, a conntrack sweep, no CPU on a
 * loaded machine) without the rings overflowing; losses still happen only in the kernel (the
 * thread stops draining while the queue could not take a full drain) and are reported as
 * before. pw_dp_events_close() stops the thread and hands over what it queued first.
 */
int pw_dp_events_thread(struct pw_dp *dp, size_t queue_events);
/*
 * Hand over every record emitted before the call, below the wakeup watermark too (an answer
 * to `podwall flows` must include the probe that just ran): with the thread, wait (at most
 * a fifth of a second; one drain, 20 ms at most, normally) until it has drained the rings once
 * more, then deliver; without it, pw_dp_events_consume(). Returns the number handed over.
 */
int pw_dp_events_sync(struct pw_dp *dp);
/*
 * Close the reader without losing what it holds: detach the rings from the programs (later
 * records count as unread, for the next reader), drain them into the callbacks, report the
 * last losses, free. pw_dp_close() without it frees the rings with whatever they held.
 */
int pw_dp_events_close(struct pw_dp *dp);
/* total records lost since the reader opened: the sum of what on_lost received */
uint64_t pw_dp_events_lost(const struct pw_dp *dp);
/*
 * Records the BPF programs emitted while no reader had a ring on their CPU: the sum over CPUs
 * of PW_METRIC_EV_NOREADER, monotonic since the maps were created (pinned maps outlive the
 * daemon). Works with no reader open. While one is open it gives the value as of the
 * reader's last look (its open, then each drain), past which every record is reported
 * through on_lost: a daemon that stores the value after its last drain at shutdown and
 * subtracts it from the value right after pw_dp_events_open() at its next start gets exactly
 * the records emitted while it was away, none counted twice.
 */
int pw_dp_events_unread(struct pw_dp *dp, uint64_t *total);
/* samples shorter than struct pw_event (another layout): skipped, counted here */
uint64_t pw_dp_events_short(const struct pw_dp *dp);

/* --- metrics and introspection ------------------------------------------------------------- */

/*
 * Sum per-CPU counters into out[PW_METRICS_SLOTS]: index PW_METRIC_IDX(reason, dir), and the
 * counters PW_METRIC_EV_FULL, PW_METRIC_EV_NOREADER and PW_METRIC_CT_END_LOST (in .packets).
 */
int pw_dp_metrics_read(struct pw_dp *dp, struct pw_metric *out);
/* One slot (PW_METRIC_IDX(reason, dir) or PW_METRIC_*) summed over CPUs: one map lookup. */
int pw_dp_metric_read(struct pw_dp *dp, uint32_t slot, struct pw_metric *out);

enum pw_dp_map {
	PW_DPMAP_IPCACHE,
	PW_DPMAP_EP_IF,
	PW_DPMAP_EP_CG,
	PW_DPMAP_POLICY,
	PW_DPMAP_CT,
	PW_DPMAP_FRAG,
	PW_DPMAP_EVENTS,
	PW_DPMAP_METRICS,
	PW_DPMAP_SVC,	   /* Services: frontends and their backend slots */
	PW_DPMAP_BACKEND,  /* Services: backend addresses */
	PW_DPMAP_SVC_REV,  /* Services: socket -> frontend, for replies */
	PW_DPMAP_SVC_FLOW, /* Services: (client, backend) -> frontend, for flow records */
	PW_DPMAP_FOLD,	   /* drop folding: each CPU's open window (struct pw_fold) */
	PW_DPMAP_FOLDACK,  /* drop folding: what the reader handed on of it */
	PW_DPMAP_COUNT,
};

struct pw_map_usage {
	const char *name;
	uint32_t max_entries;
	uint64_t entries; /* counted by walking the keys */
};

int pw_dp_map_usage(struct pw_dp *dp, enum pw_dp_map m, struct pw_map_usage *out);

enum pw_dp_prog {
	PW_PROG_TC_INGRESS, /* host-side veth ingress: the pod's egress */
	PW_PROG_TC_EGRESS,  /* host-side veth egress: the pod's ingress */
	PW_PROG_CONNECT4,
	PW_PROG_CONNECT6,
	PW_PROG_SENDMSG4,
	PW_PROG_SENDMSG6,
	PW_PROG_COUNT,
};

/* fd of a loaded program, for BPF_PROG_TEST_RUN in tests and benchmarks */
int pw_dp_prog_fd(struct pw_dp *dp, enum pw_dp_prog p);
/* fd of a map, for tests and the benchmark only */
int pw_dp_map_fd(struct pw_dp *dp, enum pw_dp_map m);
/*
 * Map writers (ipcache, policy) send many entries per syscall where the kernel takes batches,
 * and generation bumps read the endpoint maps in batches (the default); with on = false, one
 * entry per syscall: for benchmarks and tests comparing the two.
 */
void pw_dp_set_write_batches(struct pw_dp *dp, bool on);

/*
 * Walk the entries of a hash or LPM map (keys and values as defined in shared.h), e.g. to read
 * back what an earlier daemon wrote. Entries deleted during the walk are skipped; entries
 * added during it may or may not be seen.
 */
struct pw_dp_iter {
	int fd;
	uint32_t key_size;
	uint32_t val_size;
	bool started;
	uint8_t key[64]; /* the last key returned: the cursor */
};

int pw_dp_iter_init(struct pw_dp *dp, enum pw_dp_map m, struct pw_dp_iter *it);
/* Copy the next entry into key and val: 1 = an entry, 0 = the end, -errno on failure */
int pw_dp_iter_next(struct pw_dp_iter *it, void *key, void *val);

/* --- helpers ----------------------------------------------------------------------------- */

/*
 * Parse "198.18.0.1" (= /32), "198.18.0.0/15", "fd00::/64" into a pw_cidr; -EINVAL when
 * malformed, and when host bits are set ("198.18.0.1/15" is a typo more often than not).
 */
int pw_cidr_parse(const char *s, struct pw_cidr *out);
/* Format into buf (at least 64 bytes) */
const char *pw_cidr_format(const struct pw_cidr *c, char *buf, size_t len);
/* ifindex of an interface in the caller's network namespace (rtnetlink); -ENODEV if none */
int pw_dp_ifindex(const char *name, uint32_t *ifindex);

#ifdef __cplusplus
}
#endif

#endif /* PODWALL_DATAPATH_H */
