/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * podwalld's internals, shared by its files (one per job) and by nobody else: the options
 * and constants, struct daemon (the state every handler takes), and the functions one file
 * calls in another, grouped by the file that defines them.
 */
#ifndef PW_DAEMON_H
#define PW_DAEMON_H

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>

#include "cluster.h"
#include "cp.h"
#include "fdio.h"
#include "htab.h"
#include "flowfilter.h"
#include "flowlog.h"
#include "instance.h"
#include "privilege.h"
#include "k8sobj.h"
#include "linkwatch.h"
#include "mdir.h"
#include "proto.h"
#include "views.h"

#define BPFFS_DEFAULT	  "/sys/fs/bpf/podwall"
#define JOURNAL_NAME	  "cli-journal.jsonl"
/* podwall-cni's bindings (container -> pod), in --state-dir (core/cnibind.h) */
#define CNI_BINDINGS_NAME "cni-bindings.json"
#define UNREAD_NAME	  "events-unread"  /* the no-reader event counter as last reported */
#define CT_END_LOST_NAME  "flow-ends-lost" /* PW_METRIC_CT_END_LOST as last reported */
#define SWEEP_INTERVAL_S  5		   /* default --ct-sweep-interval */
#define NSEC_PER_MSEC	  1000000ll
#define NSEC_PER_SEC	  1000000000ll
#define TICK_MS		  100 /* bounds how long a flow record waits in the kernel's ring */
#define TICKS_PER_S	  (1000 / TICK_MS)
#define MAX_CLIENTS	  128
/* a follower that lets this much pile up loses records (counted) rather than our memory */
#define FOLLOW_BACKLOG_MAX (4u << 20)

/* --- state ------------------------------------------------------------------------------- */

struct daemon;
struct watch;
typedef void (*watch_fn)(struct daemon *d, struct watch *w, uint32_t events);

struct watch {
	int fd;
	watch_fn fn;
};

struct client {
	struct watch w; /* first: the epoll pointer is the client */
	struct client *next;
	struct pw_linebuf in;
	char *out;
	size_t out_off, out_len, out_cap;
	uint32_t mask; /* epoll events registered */
	int follow;    /* flow log subscription id while streaming flow records, else 0 */
	struct pw_flowfilter *filter; /* what the follower asked for */
	struct daemon *d;
	bool closing; /* close once the output is flushed */
	bool dead;    /* freed at the end of this loop iteration */
	uint64_t dropped;
	pid_t pid;
};

/* What flow records say about a pod, from the core's pod list. */
struct podinfo {
	const char *ns; /* its struct podns's */
	char *name;
	char **labels; /* "key=value" */
	size_t n_labels;
	uint32_t ep_id;
	uint32_t identity;
};

/*
 * The pods of one namespace, as the core listed them. Kept per namespace because a change
 * names the namespaces it can touch (a Pod's, a Namespace's own for its labels): listing all
 * pods again after every apply cost more than the change itself at 10,000 pods.
 */
struct podns {
	char *ns;
	struct podinfo *pods;
	size_t npods;
	bool stale;    /* a change touched it since it was listed */
	bool reloaded; /* during pods_sync(): its addresses are replaced */
};

struct podaddr {
	uint8_t family;
	uint32_t a[4];
	const struct podns *grp;
	const struct podinfo *pod; /* in grp->pods */
};

struct srcerr {
	char *path;
	json_object *diags; /* array of strings */
};

/* A kernel counter of records that never became records, as last reported (state dir). */
struct kcounter {
	const char *what;    /* for messages */
	char path[PATH_MAX]; /* empty: no --state-dir */
	uint64_t seen;	     /* the value last reported */
	uint64_t saved;	     /* the value in the file, when stored */
	bool stored;
};

/* Prometheus metrics (metrics.c) */
#define METRICS_APPLY_BUCKETS 12
struct MHD_Daemon;
struct metrics {
	const char *addr; /* --metrics-addr, or NULL: no metrics */
	struct MHD_Daemon *mhd;
	struct watch w; /* libmicrohttpd's epoll set */
	/* apply/delete request -> reply latency; [METRICS_APPLY_BUCKETS] is +Inf */
	uint64_t apply_buckets[METRICS_APPLY_BUCKETS + 1];
	uint64_t apply_count;
	double apply_sum;
	uint64_t scrapes;
};

struct daemon {
	/* options */
	const char *manifests;
	const char *socket_path;
	const char *bpffs;
	const char *cgroup_root;
	const char *service_cidrs; /* --service-cidr, NULL: the core's defaults */
	const char *flow_log;
	const char *state_dir;
	char state_dir_buf[PATH_MAX];	 /* the instance's default --state-dir */
	struct pw_instance_claim claim; /* the state dir, held while we run */
	bool socket_group_set;		 /* --socket-group: that group may use the CLI too */
	gid_t socket_gid;
	bool keep_privileges;		 /* --keep-privileges: no capability drop, no seccomp */
	bool uninstall;
	size_t perf_pages;	       /* per CPU; 0: the datapath's default */
	unsigned int sweep_interval_s; /* conntrack sweep period */
	struct pw_flowlog_opts fo;     /* rotation, retention, sampling, deny limit */
	char node_name[256];
	/* cluster mode (--etcd): endpoints NULL = one node */
	struct pw_cluster_opts cluster_opts;
	struct pw_cluster *cluster;

	int epfd;
	struct watch sig, timer, listen, events, links, mdir, etcd;
	struct pw_dp *dp;
	struct pw_cp *cp;
	struct pw_linkwatch *lw;
	struct pw_mdir *md;
	struct pw_flowlog *fl;
	struct pw_ct_timeouts cto;
	struct client *clients;
	unsigned int nclients;
	/* answers one request line (handlers.c's handle); clients.c calls up through it */
	json_object *(*handle)(struct daemon *d, struct client *cl, const char *line, size_t len);
	bool stop;
	bool socket_bound;
	time_t started;

	/*
	 * address -> pod, for flow records. Brought up to date when a record needs it, and only
	 * for the namespaces changes touched since: an apply's reply never waits for it.
	 */
	struct podns **podns;
	size_t n_podns;
	struct podaddr *addrs; /* sorted by address */
	size_t naddrs;
	bool pods_all_stale; /* list every pod again (start, a manifest file's sync) */
	bool pods_some_stale;
	char cookie_pol[512]; /* the last policy the enricher named, "ns/name" split in place */
	char cookie_rule[128];
	char cidr_buf[64]; /* the prefix the enricher named last */
	struct pw_flow_enricher enricher;
	unsigned int ticks;

	struct srcerr *srcerrs;
	size_t nsrcerrs;

	/* content fingerprints of the objects (struct fpent), by who wrote them last */
	struct pw_htab fps;

	uint64_t sweeps, swept;
	uint64_t requests;
	char journal[PATH_MAX];
	struct kcounter unread, ct_end_lost;
	struct metrics metrics;
	size_t journal_records; /* records in the file */
	size_t journal_base;	/* records right after the last compaction */
	/*
	 * each record's op and object keys, in file order, while jcache_ok: a compaction at run
	 * time then parses no record's manifests again (journal.c)
	 */
	struct jrec *jcache;
	size_t n_jcache;
	bool jcache_ok;
	char quarantines[PATH_MAX]; /* state file of the quarantined pods; empty: none */
};

/* Register fd with the event loop: fn runs when it is ready. */
static inline int watch_add(struct daemon *d, struct watch *w, int fd, watch_fn fn, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};

	w->fd = fd;
	w->fn = fn;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev))
		return -errno;
	return 0;
}

/* One object of a request: what kubectl would say about it. */
struct snap {
	enum pw_kind kind;
	char *ns, *name;
	uint64_t fp;
	const char *action;
};

/* One journal record during replay and compaction. */
struct jrec {
	enum pw_op op;
	json_object *rec;
	size_t n_keys;
	struct jkey {
		enum pw_kind kind;
		char *ns, *name;
	} * keys;
	char *strs; /* non-NULL: the keys' strings, all in this one block */
	bool keep;
};

/* log.c */
extern enum pw_log_level g_level;
void dlog(enum pw_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lib_log(void *ctx, enum pw_log_level lvl, const char *msg);
json_object *diags_json(const struct pw_diags *diags, enum pw_diag_level level);
void log_diags(const struct pw_diags *diags, const char *what);

/* fingerprint.c */
uint64_t obj_fingerprint(const struct pw_object *o);
void fp_set(struct daemon *d, enum pw_kind k, const char *ns, const char *name, uint64_t fp);
bool fp_get(struct daemon *d, enum pw_kind k, const char *ns, const char *name, uint64_t *fp);
void fp_del(struct daemon *d, enum pw_kind k, const char *ns, const char *name);
void fp_clear(struct daemon *d);

/* pods.c */
void pods_clear(struct daemon *d);
void pods_touch(struct daemon *d, const char *ns);
int enrich_endpoint(void *ctx, uint8_t family, const uint32_t addr[4], uint32_t identity,
		    uint32_t ep_id, struct pw_flow_endpoint *out);
int enrich_policy(void *ctx, uint32_t cookie, struct pw_flow_policy *out);
int enrich_identity(void *ctx, uint32_t identity, struct pw_flow_endpoint *out);
int enrich_service(void *ctx, uint8_t family, const uint32_t addr[4], uint16_t port_be,
		   uint8_t proto, char *buf, size_t len);
int enrich_flow_service(void *ctx, uint32_t ep_id, uint8_t family, uint8_t proto,
			const uint32_t daddr[4], uint16_t dport_be, uint32_t front[4],
			uint16_t *front_port_be);
int enrich_isolating(void *ctx, uint32_t ep_id, uint8_t direction, struct pw_flow_policy *out,
		     size_t max);

/* flows.c */
void follower_cb(void *ctx, const char *line, size_t len);
void events_ready(struct daemon *d, struct watch *w, uint32_t events);

/* kcounters.c */
void kcounters_start(struct daemon *d);
void kcounters_tick(struct daemon *d);
void kcounters_stop(struct daemon *d);

/* timers.c */
void timer_ready(struct daemon *d, struct watch *w, uint32_t events);

/* sources.c */
void mdir_event(void *ctx, const char *path, enum pw_mdir_event ev);
void mdir_ready(struct daemon *d, struct watch *w, uint32_t events);
void link_event(void *ctx, const char *ifname, uint32_t ifindex);
void links_ready(struct daemon *d, struct watch *w, uint32_t events);

/* changes.c */
int parse_docs(json_object *docs, struct pw_manifest **out, struct pw_diags *diags);
void snap_free(struct snap *s, size_t n);
struct snap *snapshot(struct daemon *d, const struct pw_manifest *m, bool del);
void pods_touch_snap(struct daemon *d, const struct snap *s, size_t n);
void snap_commit(struct daemon *d, const struct snap *s, size_t n, bool del);
json_object *outcomes(const struct snap *s, size_t n);

/* journal.c */
int journal_append(struct daemon *d, enum pw_op op, json_object *docs, const struct snap *s,
		   size_t n);
void journal_cache_drop(struct daemon *d);
void journal_cache_start(struct daemon *d);
void jrecs_free(struct jrec *v, size_t n);
int journal_load(struct daemon *d, bool replay, struct jrec **out, size_t *n_out);
void journal_compact(struct daemon *d, struct jrec *v, size_t n);
void journal_maybe_compact(struct daemon *d);

/* quarantine.c */
void quarantine_load(struct daemon *d);
void quarantine_changed(void *ctx);
json_object *req_quarantine(struct daemon *d, struct client *cl, json_object *req);
const char *enrich_quarantine(void *ctx, uint32_t ep_id);

/* handlers.c */
json_object *handle(struct daemon *d, struct client *cl, const char *line, size_t len);

/* clients.c */
void client_send_raw(struct daemon *d, struct client *cl, const char *buf, size_t len);
void client_send(struct daemon *d, struct client *cl, json_object *msg);
void listen_ready(struct daemon *d, struct watch *w, uint32_t events);
void clients_reap(struct daemon *d, bool all);

/* socket.c */
int socket_open(struct daemon *d);
void sd_notify_msg(const char *msg);

/* signals.c */
void sig_ready(struct daemon *d, struct watch *w, uint32_t events);

/* cluster.c */
int cluster_options_check(struct daemon *d);
int cluster_start(struct daemon *d);
void cluster_reply(void *ctx, json_object *res);

/* metrics.c */
int metrics_check_addr(const char *spec);
int metrics_open(struct daemon *d);
void metrics_close(struct daemon *d);
void metrics_tick(struct daemon *d);
void metrics_observe_apply(struct daemon *d, double seconds);

/* options.c */
int parse_args(struct daemon *d, int argc, char **argv);

/* podwalld.c */

#endif /* PW_DAEMON_H */
