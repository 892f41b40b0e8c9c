/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Private state of the datapath library. Only datapath/ sees this header (and the skeletons
 * it includes): the daemon and the CLI code against include/podwall/datapath.h.
 *
 * The library's files call downward only (scripts/check-layers.sh checks it):
 *   dp.c                         the lifecycle: open, adopt, pin, close, destroy
 *   attach.c events.c maps.c ct.c  attaching, the event reader, map writers, conntrack
 *   batch.c                      batched map writes with a per-key fallback (under maps.c)
 *   objects.c                    the object table: names, handles, pin paths, metrics
 *   log.c nl.c                   logging, interface lookups
 * This header holds the state they share and the bottom layer; each layer above has its own.
 */
#ifndef PW_DATAPATH_INTERNAL_H
#define PW_DATAPATH_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <podwall/datapath.h>

struct tc;
struct sock;
struct bpf_map;
struct bpf_link;
struct perf_buffer;

/* The kernel's tcx attach types (6.6+); the 6.1 UAPI headers on the build machines lack them. */
#define PW_BPF_TCX_INGRESS 46
#define PW_BPF_TCX_EGRESS  47

/* tc clsact filter identity: fixed, so re-attaching replaces our filter and nothing else. */
#define PW_TC_HANDLE   0x7077 /* "pw" */
#define PW_TC_PRIORITY 1      /* run before other filters: policy first */

enum pw_sock_prog {
	PW_SOCK_CONNECT4,
	PW_SOCK_CONNECT6,
	PW_SOCK_SENDMSG4,
	PW_SOCK_SENDMSG6,
	PW_SOCK_RECVMSG4, /* Services: replies read as from the frontend */
	PW_SOCK_RECVMSG6,
	PW_SOCK_GETPEERNAME4,
	PW_SOCK_GETPEERNAME6,
	PW_SOCK_COUNT,
};

/* An interface this process attached TC programs to. */
struct pw_tc_att {
	uint32_t ifindex;
	int link_fd[PW_DIR_MAX]; /* tcx links held when nothing is pinned; -1 otherwise */
};

/*
 * What the event reader knows of one CPU's lost records since it opened. Ring-full losses
 * reach it twice, by two paths in either order: at once in the PW_METRIC_EV_FULL counter,
 * and later (with the next record that fits) as PERF_RECORD_LOST. The loss is the larger of
 * the two; only its excess over what was reported is reported.
 */
struct pw_ev_cpu {
	uint64_t full_base;	/* PW_METRIC_EV_FULL when the reader opened */
	uint64_t ring_lost;	/* PERF_RECORD_LOST counts from this CPU's ring */
	uint64_t reported;	/* ring-full losses handed to on_lost */
	uint64_t noreader_seen; /* PW_METRIC_EV_NOREADER as last read; later increases: lost */
};

struct pw_dp {
	struct tc *tc;
	struct sock *sock;
	struct svcend *svcend; /* Service backends' connection ender, loaded on first use */
	char *bpffs_dir; /* NULL: nothing pinned */
	char *cgroup_root;
	bool adopted;
	bool mounted_dir;	 /* this process mounted bpffs on bpffs_dir itself */
	enum pw_tc_mode tc_mode; /* resolved: PW_TC_TCX or PW_TC_CLSACT */

	struct bpf_link *sock_links[PW_SOCK_COUNT];

	struct pw_tc_att *tc_att;
	size_t n_tc_att;
	size_t cap_tc_att;

	struct perf_buffer *pb;
	pw_event_fn on_event;
	pw_lost_fn on_lost;
	void *ev_ctx;
	uint64_t ev_lost;
	uint64_t ev_short;
	uint64_t ev_handled;
	struct pw_ev_cpu *ev_cpu;  /* [ev_ncpu], indexed by CPU number */
	struct pw_metric *ev_vals; /* [ev_ncpu]: one per-CPU counter slot as read */
	int ev_ncpu;		   /* possible CPUs */
	bool ev_read_failed;	   /* warned once that the counters cannot be read */
	/*
	 * pw_dp_events_thread(): a thread drains the rings into evq; the callbacks then run in
	 * the caller's thread, from pw_dp_events_consume(). ev_cpu, ev_vals and
	 * ev_read_failed belong to the thread while it runs.
	 */
	struct pw_evq *evq;
	pthread_t ev_thread;
	int ev_stop;	       /* atomic: the thread exits at its next look */
	int ev_thread_err;     /* atomic: a counter read failed in the thread (-errno), to log */
	size_t ev_room;	       /* queue items one drain can make at most */
	size_t ev_ring_bytes;  /* one CPU's ring */
	uint64_t ev_sync_req;  /* atomic: pw_dp_events_sync() calls so far */
	uint64_t ev_sync_done; /* atomic: the last of them a drain has answered */
	uint64_t ev_noreader_base;	/* EV_NOREADER over CPUs when the thread started */
	uint64_t ev_noreader_delivered; /* no-reader losses handed to on_lost since */
	/* drop folding (fold.c): the reader's view per CPU, as in PW_MAP_FOLDACK */
	pw_repeat_fn on_repeat;
	uint64_t ev_repeats;	      /* repeats handed on since the open */
	struct pw_fold_ack *fold_ack; /* [ev_ncpu] */
	struct pw_fold *fold_vals;    /* [ev_ncpu]: the windows as last read */
	uint64_t *fold_full_base;     /* [ev_ncpu]: close_full when the reader opened */
	bool fold_dirty;	      /* fold_ack moved since it was last stored */

	pw_log_fn log;
	void *log_ctx;
	enum pw_log_level log_level;

	/* maps.c: per map, batched writes found unusable (or turned off by the caller) */
	bool batch_off[PW_DPMAP_COUNT];
};

/* svc.c */
void pw_svc_end_close(struct pw_dp *dp);

/* log.c */
void pw_log(const struct pw_dp *dp, enum pw_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void pw_log_route_libbpf(struct pw_dp *dp);
void pw_log_unroute_libbpf(struct pw_dp *dp);

#define pw_err(dp, ...)	  pw_log(dp, PW_LOG_ERROR, __VA_ARGS__)
#define pw_warn(dp, ...)  pw_log(dp, PW_LOG_WARN, __VA_ARGS__)
#define pw_info(dp, ...)  pw_log(dp, PW_LOG_INFO, __VA_ARGS__)
#define pw_debug(dp, ...) pw_log(dp, PW_LOG_DEBUG, __VA_ARGS__)

/* nl.c: does the interface exist in this network namespace? name filled when it does */
int pw_nl_link_name(uint32_t ifindex, char *name, size_t len);
int pw_nl_link_index(const char *name, uint32_t *ifindex);
/* nl.c: one RTM_GETLINK (by ifindex, or by name when 0; nsid >= 0: IFLA_TARGET_NETNSID) */
struct nlmsghdr;
int pw_nl_getlink(uint32_t ifindex, const char *name, int32_t nsid,
		  int (*cb)(const struct nlmsghdr *nlh, void *data), void *data);
/* nl_l2.c: a host-side veth's peer MAC and bridge (0: none); -EMEDIUMTYPE: not a veth */
int pw_nl_link_l2(uint32_t ifindex, uint8_t mac[6], uint32_t *master);

#endif /* PW_DATAPATH_INTERNAL_H */
