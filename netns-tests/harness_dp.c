// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Datapath glue of the netns harness: opens the real library on the simulated node, writes
 * endpoints, ipcache and policy the way the control plane will, collects events and metrics.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <podwall/datapath.h>

static void nt_dp_log(void *ctx, enum pw_log_level level, const char *msg)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};

	fprintf(stderr, "[podwall %s] %s\n", names[level <= PW_LOG_DEBUG ? level : PW_LOG_DEBUG],
		msg);
}

static void nt_on_event(void *ctx, int cpu, const struct pw_event *ev)
{
	struct nt_env *env = ctx;

	if (env->nevents < NT_MAX_EVENTS)
		env->events[env->nevents++] = *ev;
	else
		env->events_overflow++;
}

static void nt_on_lost(void *ctx, int cpu, uint64_t lost)
{
	struct nt_env *env = ctx;

	env->events_lost += lost;
}

static int nt_dp_cleanup(struct nt_env *env)
{
	return nt_dp_destroy(env);
}

int nt_dp_open(struct nt_env *env, unsigned int flags)
{
	struct pw_dp_opts opts = {
		.sz = sizeof(opts),
		.bpffs_dir = env->bpffs,
		.cgroup_root = env->cgroot,
		.tc_mode = PW_TC_AUTO,
		/* small maps: a test needs a handful of entries and loads fast */
		.ipcache_max = 1024,
		.policy_max = 1024,
		.ep_max = 64,
		.ct_max = 4096,
		.log = nt_dp_log,
		.log_level = getenv("NT_VERBOSE") ? PW_LOG_DEBUG : PW_LOG_WARN,
	};
	int i, err;

	if (env->dp)
		return -EBUSY;
	err = pw_dp_open(&opts, &env->dp);
	if (err) {
		fprintf(stderr, "pw_dp_open(%s, %s): %s\n", env->bpffs, env->cgroot,
			strerror(-err));
		env->dp = NULL;
		return err;
	}
	env->dp_cleanup = nt_dp_cleanup;
	if (flags & NT_DP_EVENTS) {
		if (!env->events)
			env->events = calloc(NT_MAX_EVENTS, sizeof(*env->events));
		if (!env->events)
			return -ENOMEM;
		env->nevents = 0;
		env->events_overflow = 0;
		env->events_lost = 0;
		err = pw_dp_events_open(env->dp, 0, nt_on_event, nt_on_lost, env);
		if (err) {
			fprintf(stderr, "pw_dp_events_open: %s\n", strerror(-err));
			return err;
		}
	}
	for (i = 1; (flags & NT_DP_ATTACH) && i <= env->npods; i++) {
		err = pw_dp_attach_tc(env->dp, env->pods[i].host_ifindex);
		if (err) {
			fprintf(stderr, "pw_dp_attach_tc(%s): %s\n", env->pods[i].host_if,
				strerror(-err));
			return err;
		}
	}
	return 0;
}

int nt_dp_destroy(struct nt_env *env)
{
	struct stat st;
	int err;

	if (!env->dp)
		return 0;
	err = pw_dp_destroy(env->dp);
	env->dp = NULL;
	if (err)
		fprintf(stderr, "pw_dp_destroy: %s\n", strerror(-err));
	if (!err && stat(env->bpffs, &st) == 0) {
		fprintf(stderr, "pw_dp_destroy left %s behind\n", env->bpffs);
		err = -EBUSY;
	}
	return err;
}

void nt_ep_fill(const struct nt_env *env, int pod, uint32_t flags, struct pw_endpoint *ep)
{
	const struct nt_pod *p = &env->pods[pod];

	memset(ep, 0, sizeof(*ep));
	ep->ep_id = (uint32_t)pod;
	ep->identity = nt_identity(pod);
	ep->ifindex = p->host_ifindex;
	ep->flags = flags;
	ep->cgroup_id = p->cg_id; /* the pod's cgroup; processes run one level below, in c0 */
	ep->n_v4 = 1;
	ep->v4[0] = p->v4.s_addr;
	ep->n_v6 = 1;
	memcpy(ep->v6[0], &p->v6, sizeof(p->v6));
}

int nt_ep_write(struct nt_env *env, int pod, uint32_t flags)
{
	const struct nt_pod *p = &env->pods[pod];
	struct pw_ipcache_entry ipc[2];
	struct pw_endpoint ep, cur;
	int err;

	memset(ipc, 0, sizeof(ipc));
	ipc[0].cidr.family = PW_FAMILY_V4;
	ipc[0].cidr.prefixlen = 32;
	ipc[0].cidr.addr[0] = p->v4.s_addr;
	ipc[0].val.identity = nt_identity(pod);
	ipc[1].cidr.family = PW_FAMILY_V6;
	ipc[1].cidr.prefixlen = 128;
	memcpy(ipc[1].cidr.addr, &p->v6, sizeof(p->v6));
	ipc[1].val.identity = nt_identity(pod);
	err = pw_dp_ipcache_update(env->dp, ipc, 2);
	if (err < 0)
		return err;
	nt_ep_fill(env, pod, flags, &ep);
	/* rewriting an endpoint must not undo a generation bump */
	if (!pw_dp_endpoint_lookup_ifindex(env->dp, ep.ifindex, &cur))
		ep.policy_gen = cur.policy_gen;
	err = pw_dp_endpoint_upsert(env->dp, &ep);
	return err < 0 ? err : 0;
}

int nt_policy(struct nt_env *env, bool add, int subject, enum pw_dir dir, int peer, uint8_t proto,
	      uint16_t port, uint32_t cookie)
{
	struct pw_policy_entry e = {
		.subject = nt_identity(subject),
		.peer = peer ? nt_identity(peer) : PW_ID_ANY,
		.direction = (uint8_t)dir,
		.proto = proto,
		.port_lo = port,
		.port_hi = port ? port : 0xffff,
		.val = {.flags = PW_POL_F_ALLOW, .cookie = cookie},
	};
	int err;

	err = add ? pw_dp_policy_update(env->dp, &e, 1) : pw_dp_policy_delete(env->dp, &e, 1);
	return err < 0 ? err : 0;
}

int nt_metric(struct nt_env *env, unsigned int reason, unsigned int dir, uint64_t *packets)
{
	struct pw_metric m[PW_METRICS_SLOTS];
	int err;

	if (reason >= PW_REASON_MAX || dir >= PW_DIR_MAX)
		return -EINVAL;
	err = pw_dp_metrics_read(env->dp, m);
	if (err < 0)
		return err;
	*packets = m[PW_METRIC_IDX(reason, dir)].packets;
	return 0;
}

int nt_event_wait(struct nt_env *env, nt_ev_match_fn m, const void *arg, int timeout_ms,
		  struct pw_event *out)
{
	uint64_t deadline = nt_now_us() + (uint64_t)timeout_ms * 1000;
	size_t i, seen = 0;

	if (!env->dp || !env->events)
		return -EINVAL;
	for (;;) {
		uint64_t now;
		int err;

		for (i = seen; i < env->nevents; i++) {
			if (m(&env->events[i], arg)) {
				*out = env->events[i];
				return 0;
			}
		}
		seen = env->nevents;
		now = nt_now_us();
		if (now >= deadline)
			return -ETIMEDOUT;
		err = pw_dp_events_poll(env->dp, (int)((deadline - now + 999) / 1000));
		if (err < 0 && err != -EINTR)
			return err;
	}
}

/* --- cmocka fixtures ------------------------------------------------------------------------ */

int nt_dp_setup(void **state)
{
	struct nt_env *env = *state;
	int i, err;

	err = nt_dp_open(env, NT_DP_ATTACH | NT_DP_EVENTS);
	for (i = 1; !err && i <= env->npods; i++)
		err = nt_ep_write(env, i, 0);
	if (err) {
		fprintf(stderr, "datapath setup failed: %s\n", strerror(-err));
		nt_dp_destroy(env);
		return -1;
	}
	return 0;
}

int nt_dp_teardown(void **state)
{
	struct nt_env *env = *state;

	nt_kids_kill(env);
	return nt_dp_destroy(env) ? -1 : 0;
}
