/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Live network-namespace harness: a simulated node (a netns) with pods (netns + veth + cgroup)
 * routed through it, echo servers in every pod, probes that run inside a pod's cgroup and
 * netns, and glue to open the real datapath on the node.
 *
 * Everything a run creates carries the test process's pid in its name, so parallel runs never
 * collide and a crashed run's leftovers are recognised (name prefix + dead pid) and removed by
 * the next run. Teardown runs on every path: cmocka teardown, atexit, and fatal signals.
 *
 * Addresses: pod i has 198.18.0.i/32 and fd00::i/128 on its eth0; every node-side veth holds
 * the gateway 198.19.255.254/32 and fe80::1. Only 198.18.0.0/15 and fd00::/8 are ever used.
 */
#ifndef PW_NETNS_HARNESS_H
#define PW_NETNS_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <podwall/shared.h>

#define NT_MAX_PODS   9
#define NT_NAME_LEN   16 /* IFNAMSIZ: "pw<pid>v<i>" fits for any pid up to 2^22 */
#define NT_MAX_KIDS   64
#define NT_MAX_EVENTS 1024

/* Every pod runs TCP and UDP echo servers, IPv4 and IPv6, on these ports. */
#define NT_PORT_A      7000
#define NT_PORT_B      7001
#define NT_PORT_CLOSED 7002 /* nothing listens here */

#define NT_GW4 "198.19.255.254"
#define NT_GW6 "fe80::1"

struct pw_dp;
struct pw_event;

struct nt_pod {
	int idx;		   /* 1-based */
	char netns[NT_NAME_LEN];   /* pw<pid>p<i> */
	char host_if[NT_NAME_LEN]; /* pw<pid>v<i>, in the node netns */
	uint32_t host_ifindex;
	char cg[PATH_MAX];    /* <cgroot>/p<i>: the pod's cgroup (its endpoint's cgroup id) */
	char cg_c0[PATH_MAX]; /* <cgroot>/p<i>/c0: the "container" processes run in */
	uint64_t cg_id;
	uint64_t cg_c0_id;
	struct in_addr v4;
	struct in6_addr v6;
	pid_t server;
	bool made;
};

struct nt_env {
	pid_t owner; /* only this process ever tears the environment down */
	char node_ns[NT_NAME_LEN];
	char cg2[PATH_MAX];    /* the cgroup2 mount */
	char cgroot[PATH_MAX]; /* <cg2>/podwall-nt-<pid>: the datapath's cgroup_root */
	char bpffs[PATH_MAX];  /* /sys/fs/bpf/podwall-nt-<pid> */
	int orig_netns;	       /* fd of the netns the process started in, -1 when not joined */
	bool made_cg;	       /* what this env created: teardown removes only that */
	bool made_node;
	int npods;
	struct nt_pod pods[NT_MAX_PODS + 1]; /* pods[1..npods]; [0] unused */
	pid_t kids[NT_MAX_KIDS];	     /* probe/session/sniffer children still running */
	int nkids;

	/* datapath glue (harness_dp.c) */
	struct pw_dp *dp;
	int (*dp_cleanup)(struct nt_env *env);
	struct pw_event *events; /* NT_MAX_EVENTS records collected from the perf buffer */
	size_t nevents;
	uint64_t events_overflow;
	uint64_t events_lost;
};

/* --- environment --------------------------------------------------------------------------- */

/*
 * Build the node netns, npods pods (netns, veth, addresses, routes, cgroups), start an echo
 * server in every pod and join the node netns. Removes a crashed run's leftovers first.
 */
int nt_env_setup(int npods, struct nt_env **out);
/*
 * Kill every child, destroy the datapath, delete the netns and cgroups. Returns 0, or -EBUSY
 * when something was left behind and had to be removed by force (a cleanup bug to report).
 */
int nt_env_teardown(struct nt_env *env);
/* Remove leftovers of runs whose pid is dead: netns, cgroups, bpffs dirs. Returns how many. */
int nt_cleanup_stale(void);
/* Count what still exists of env's names (netns, cgroups, bpffs dir); 0 when all is gone. */
int nt_env_leftovers(const char *node_ns, const char *const *pod_ns, int npods, const char *cgroot,
		     const char *bpffs);

/* Run a command given as space-separated words (none contains a space); 0 or -errno. */
int nt_cmd(bool quiet, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Write a sysctl under /proc/sys/net inside netns `ns` only (verified before writing). */
int nt_ns_sysctl(const char *ns, const char *key, const char *val);
/* cgroup v2 id of a cgroup directory */
int nt_cgroup_id(const char *path, uint64_t *id);
uint64_t nt_now_us(void);
/* snprintf for paths: -ENAMETOOLONG instead of a silently cut path */
int nt_pathf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* --- processes in pods ----------------------------------------------------------------------- */

/* Where a probe stopped */
enum nt_stage {
	NT_ST_SETUP = 1, /* socket(), setsockopt() */
	NT_ST_CONNECT,
	NT_ST_SEND,
	NT_ST_RECV,
	NT_ST_DONE,
};

struct nt_result {
	int err;   /* 0, or -errno of the stage that failed (-ETIMEDOUT when nothing came) */
	int stage; /* enum nt_stage: the last stage entered */
	pid_t pid; /* the probing process: socket-layer events name it */
	uint16_t local_port;
	uint16_t pad;
	uint64_t elapsed_us; /* duration of the connect (TCP, connected UDP) or send (UDP) */
};

/*
 * A child that joins pod `pod`'s container cgroup (c0) FIRST, then its netns, names itself
 * `comm`, and runs fn. res_fd is the child's write end towards the parent, cmd_fd its read
 * end from the parent. The child never returns into the test; it _exit()s.
 */
typedef void (*nt_child_fn)(struct nt_env *env, struct nt_pod *pod, void *arg, int res_fd,
			    int cmd_fd);
struct nt_child {
	pid_t pid;
	int res_fd; /* parent reads */
	int cmd_fd; /* parent writes */
};
int nt_child_start(struct nt_env *env, int pod, const char *comm, nt_child_fn fn, void *arg,
		   struct nt_child *c);
/* Close the pipes, kill the child if still running, reap it. */
void nt_child_stop(struct nt_env *env, struct nt_child *c);
/* Kill and reap every probe child still running (servers stay). */
void nt_kids_kill(struct nt_env *env);

/* Fill a sockaddr for pod `pod`'s address of `family` and port. */
socklen_t nt_pod_sockaddr(const struct nt_env *env, int pod, int family, uint16_t port,
			  struct sockaddr_storage *ss);

/*
 * Probes. Each returns 0 when the probe ran (its outcome is in *res) or -errno when the harness
 * itself failed. Waiting is bounded by timeout_ms and ends as soon as the outcome is known.
 */
/* TCP connect from `from` to `to`, then one echo round trip. */
/* A non-blocking listening (TCP) or bound (UDP) socket on the wildcard address; -1 on failure */
int nt_server_socket(int family, int type, uint16_t port);
/*
 * In a pod's child: TCP and UDP echo on every port, IPv4 and IPv6; writes "R" to res_fd when
 * listening, then serves until killed. Returns only when it cannot start.
 */
void nt_echo_serve(int res_fd, const uint16_t *ports, size_t nports);

int nt_tcp_echo(struct nt_env *env, int from, int to, int family, uint16_t port, int timeout_ms,
		struct nt_result *res);
/* UDP request and reply; connected: connect() first and use send(), else sendto(). */
int nt_udp_echo(struct nt_env *env, int from, int to, int family, uint16_t port, bool connected,
		int timeout_ms, struct nt_result *res);
/* A hand-built TCP SYN through a raw socket (no connect(), so no socket-layer hook). */
int nt_raw_syn(struct nt_env *env, int from, int to, int family, uint16_t sport, uint16_t dport,
	       struct nt_result *res);

/* The same to any address and port (dst's), e.g. a Service ClusterIP no pod owns. */
int nt_raw_syn_to(struct nt_env *env, int from, const struct sockaddr_storage *dst,
		  socklen_t dstlen, uint16_t sport, struct nt_result *res);

/* An AF_PACKET listener on a pod's eth0 that reports TCP SYNs with the given ports. */
struct nt_sniffer {
	struct nt_child c;
};
int nt_sniff_start(struct nt_env *env, int pod, int family, uint16_t sport, uint16_t dport,
		   struct nt_sniffer *s);
/* Wait up to wait_ms for the first match, stop the sniffer; returns matches seen (>= 0). */
int nt_sniff_stop(struct nt_env *env, struct nt_sniffer *s, int wait_ms);

/* A TCP connection held open by a child in a pod, driven by the test. */
struct nt_session {
	struct nt_child c;
	uint16_t local_port;
};
int nt_session_open(struct nt_env *env, int from, int to, int family, uint16_t port, int timeout_ms,
		    struct nt_session *s, struct nt_result *res);
/* Send one message on the connection and wait for its echo. */
int nt_session_roundtrip(struct nt_env *env, struct nt_session *s, int timeout_ms,
			 struct nt_result *res);
void nt_session_close(struct nt_env *env, struct nt_session *s);

/* --- datapath glue (harness_dp.c) ------------------------------------------------------------ */

#define NT_DP_ATTACH (1u << 0) /* attach TC on every pod's host-side veth */
#define NT_DP_EVENTS (1u << 1) /* open the perf buffer reader into env->events */

static inline uint32_t nt_identity(int pod)
{
	return PW_ID_FIRST_LOCAL + (uint32_t)pod;
}

/* pw_dp_open with the run's bpffs dir and cgroup root; sets env->dp. */
int nt_dp_open(struct nt_env *env, unsigned int flags);
/* pw_dp_destroy; -EBUSY when the bpffs dir survived it. */
int nt_dp_destroy(struct nt_env *env);
/* The endpoint record the harness writes for a pod. */
void nt_ep_fill(const struct nt_env *env, int pod, uint32_t flags, struct pw_endpoint *ep);
/* ipcache /32 + /128 for the pod, then its endpoint (keeps the current policy_gen). */
int nt_ep_write(struct nt_env *env, int pod, uint32_t flags);
/* Allow (add) or remove one policy entry; port 0 = all ports, peer 0 = any peer. */
int nt_policy(struct nt_env *env, bool add, int subject, enum pw_dir dir, int peer, uint8_t proto,
	      uint16_t port, uint32_t cookie);
/* Packets counted for (reason, dir), summed over CPUs. */
int nt_metric(struct nt_env *env, unsigned int reason, unsigned int dir, uint64_t *packets);

typedef bool (*nt_ev_match_fn)(const struct pw_event *ev, const void *arg);
/* Wait up to timeout_ms for a collected event matching m; 0 and *out, or -ETIMEDOUT. */
int nt_event_wait(struct nt_env *env, nt_ev_match_fn m, const void *arg, int timeout_ms,
		  struct pw_event *out);

/* cmocka fixtures: group = topology of 3 pods; test = datapath opened, every pod an endpoint */
int nt_group_setup(void **state);
int nt_group_teardown(void **state);
int nt_dp_setup(void **state);
int nt_dp_teardown(void **state);
/* test teardown for tests that manage the datapath themselves */
int nt_kids_teardown(void **state);

#endif /* PW_NETNS_HARNESS_H */
