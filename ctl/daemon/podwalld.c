// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwalld: the node daemon. One thread, one epoll loop over
 *   - signalfd    SIGTERM/SIGINT: exit, leaving enforcement in place; SIGHUP: re-read manifests
 *   - inotify     the --manifests directory: each file is a source synced into the core
 *   - the control socket (podwall CLI): JSON lines, root only
 *   - rtnetlink   link notifications: pods' host-side interfaces coming and going
 *   - perf buffer the datapath's events, written as flow records
 *   - timerfd     every 100 ms: drain the event rings (they wake the loop only when a quarter
 *                 full); every second: the flow log's deny windows; every 5 s: conntrack sweep
 *
 * Every mutation (a manifest file, `podwall apply`) goes through the control-plane core,
 * which is all or nothing and returns once the kernel enforces the result: the CLI's reply
 * is sent only then, so scripts never sleep.
 *
 * Exiting never tears enforcement down (pw_dp_close, not destroy): the pinned maps and links
 * keep policing while the daemon restarts, and the next start adopts them. Objects applied
 * through the CLI are kept in a journal under --state-dir and replayed at start (held in the
 * core and written in one reconcile with the manifests), so a restart rebuilds the same
 * desired state instead of forgetting it; the journal is compacted as it grows.
 */
#define _GNU_SOURCE
#include <malloc.h>

#include "cnibind.h"
#include "daemon.h"

static int open_datapath(struct daemon *d)
{
	struct pw_dp_opts o = {
		.sz = sizeof(o),
		.bpffs_dir = d->bpffs,
		.cgroup_root = d->cgroup_root,
		.tc_mode = PW_TC_AUTO,
		.log = lib_log,
		.log_ctx = "datapath: ",
		.log_level = g_level,
	};
	int err = pw_dp_open(&o, &d->dp);

	if (err)
		dlog(PW_LOG_ERROR, "cannot open the datapath (bpffs %s): %s", d->bpffs,
		     strerror(-err));
	return err;
}

/* The state directory is the instance's own: another instance's journal is never replayed. */
static int state_claim(struct daemon *d)
{
	int err;

	if (!d->state_dir || !*d->state_dir)
		return 0;
	err = pw_instance_claim(d->state_dir, d->bpffs, &d->claim);
	if (err == -EEXIST)
		dlog(PW_LOG_ERROR,
		     "--state-dir %s belongs to the daemon with --bpffs %s (%s/%s), not to this one "
		     "(--bpffs %s): its journal is not ours to replay; give each daemon its own "
		     "--state-dir",
		     d->state_dir, d->claim.owner, d->state_dir, PW_INSTANCE_FILE, d->bpffs);
	else if (err == -EBUSY)
		dlog(PW_LOG_ERROR, "--state-dir %s is in use by another running podwalld",
		     d->state_dir);
	else if (err == -EBADMSG)
		dlog(PW_LOG_ERROR,
		     "--state-dir %s: %s/%s is damaged or not podwall's (expected {\"bpffs\": ...}); "
		     "remove it if this directory is this daemon's",
		     d->state_dir, d->state_dir, PW_INSTANCE_FILE);
	else if (err)
		dlog(PW_LOG_ERROR, "--state-dir %s: %s", d->state_dir, strerror(-err));
	else if (d->claim.legacy)
		dlog(PW_LOG_WARN,
		     "--state-dir %s holds state from before instance ids: adopted by --bpffs %s",
		     d->state_dir, d->bpffs);
	return err;
}

static int run(struct daemon *d)
{
	struct pw_cp_opts co = {.sz = sizeof(co), .log = lib_log, .log_ctx = "core: "};
	struct pw_flowlog_opts fo = d->fo;
	struct jrec *jv = NULL;
	char path[PATH_MAX];
	size_t jn = 0;
	/* TICK_MS: event drain; each second the flow log's deny windows; the sweep less often */
	struct itimerspec its = {.it_interval.tv_nsec = TICK_MS * 1000000L,
				 .it_value.tv_nsec = TICK_MS * 1000000L};
	sigset_t mask;
	int fd, err;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);

	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (d->epfd < 0)
		return -errno;
	fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = watch_add(d, &d->sig, fd, sig_ready, EPOLLIN);
	if (err)
		return err;

	d->enricher = (struct pw_flow_enricher){
		.ctx = d,
		.endpoint = enrich_endpoint,
		.policy = enrich_policy,
		.isolating = enrich_isolating,
		.identity = enrich_identity,
		.service = enrich_service,
		.flow_service = enrich_flow_service,
		.quarantine_reason = enrich_quarantine,
	};
	fo.path = d->flow_log;
	fo.node_name = d->node_name[0] ? d->node_name : NULL;
	fo.enricher = &d->enricher;
	fo.log = lib_log;
	fo.log_ctx = "flowlog: ";
	/* one write per drain of the rings, not per record (flushed each tick at the latest) */
	fo.write_buffer = PW_FLOWLOG_WRITE_BUFFER_DEFAULT;
	err = pw_flowlog_new(&fo, &d->fl);
	if (err) {
		dlog(PW_LOG_ERROR, "--flow-log %s: %s", d->flow_log, strerror(-err));
		return err;
	}

	/* before the datapath: a daemon refused its state directory changes nothing */
	err = state_claim(d);
	if (err)
		return err;
	err = open_datapath(d);
	if (err)
		return err;
	dlog(PW_LOG_INFO, "datapath %s under %s (tc: %s)%s%s",
	     pw_dp_adopted(d->dp) ? "adopted" : "loaded", d->bpffs, pw_dp_tc_mode_name(d->dp),
	     d->cgroup_root ? ", socket programs on " : "; no --cgroup-root: socket layer off",
	     d->cgroup_root ?: "");
	err = pw_dp_events_open(d->dp, d->perf_pages, pw_flowlog_on_event, pw_flowlog_on_lost,
				d->fl);
	if (err) {
		dlog(PW_LOG_ERROR, "cannot open the datapath's event buffer (--perf-pages): %s",
		     strerror(-err));
		return err;
	}
	/* a flood of one denied packet arrives as counts, rate limited as its denies are */
	pw_dp_events_on_repeat(d->dp, pw_flowlog_on_repeat);
	/*
	 * The rings are drained by a thread of their own into a queue, so the time this thread
	 * spends writing records, sweeping conntrack or waiting for a CPU never overflows them
	 * (bench/flows: one thread that also wrote lost 1-35 % of a flood on this machine).
	 */
	err = pw_dp_events_thread(d->dp, 0);
	if (err) {
		dlog(PW_LOG_ERROR, "cannot start the event reader thread: %s", strerror(-err));
		return err;
	}
	err = pw_dp_events_fd(d->dp);
	if (err < 0)
		return err;
	err = watch_add(d, &d->events, err, events_ready, EPOLLIN);
	if (err)
		return err;

	co.dp = d->dp;
	co.cgroup_root = d->cgroup_root;
	co.service_cidrs = d->service_cidrs;
	co.derived_ids = d->cluster_opts.endpoints != NULL;
	err = pw_cp_new(&co, &d->cp);
	if (err) {
		dlog(PW_LOG_ERROR, "cannot start the control plane: %s", strerror(-err));
		return err;
	}

	/* links before manifests: an interface created meanwhile is reported, not missed */
	err = pw_linkwatch_open(link_event, d, &d->lw);
	if (err) {
		dlog(PW_LOG_ERROR, "cannot watch links (rtnetlink): %s", strerror(-err));
		return err;
	}
	err = watch_add(d, &d->links, pw_linkwatch_fd(d->lw), links_ready, EPOLLIN);
	if (err)
		return err;

	/*
	 * Everything known at start goes in as one change: a restarted daemon must not write a
	 * half-rebuilt state (first the journal, then the files) over the adopted maps.
	 */
	pw_cp_hold(d->cp);
	if (d->state_dir && *d->state_dir) {
		err = pw_mkdir_p(d->state_dir, 0700);
		if (err) {
			dlog(PW_LOG_ERROR, "--state-dir %s: %s", d->state_dir, strerror(-err));
			return err;
		}
		snprintf(d->journal, sizeof(d->journal), "%s/%s", d->state_dir, JOURNAL_NAME);
		snprintf(d->unread.path, sizeof(d->unread.path), "%s/%s", d->state_dir,
			 UNREAD_NAME);
		snprintf(d->ct_end_lost.path, sizeof(d->ct_end_lost.path), "%s/%s", d->state_dir,
			 CT_END_LOST_NAME);
		/* bindings before the journal: the pods it replays are overlaid */
		snprintf(path, sizeof(path), "%s/%s", d->state_dir, CNI_BINDINGS_NAME);
		err = pw_cp_binds_open(d->cp, path);
		if (err)
			dlog(PW_LOG_ERROR, "%s: %s", path, strerror(-err));
		/* cluster mode: etcd is the record of what the CLI applied */
		if (!d->cluster_opts.endpoints)
			journal_load(d, true, &jv, &jn);
		quarantine_load(d);
	}
	kcounters_start(d);
	/* what the start reported is in the file before the daemon answers anyone */
	pw_flowlog_flush_writes(d->fl);
	if (d->manifests) {
		err = pw_mdir_open(d->manifests, mdir_event, d, &d->md);
		if (err) {
			dlog(PW_LOG_ERROR, "--manifests %s: %s", d->manifests, strerror(-err));
			return err;
		}
		err = watch_add(d, &d->mdir, pw_mdir_fd(d->md), mdir_ready, EPOLLIN);
		if (err)
			return err;
		err = pw_mdir_scan(d->md);
		if (err)
			dlog(PW_LOG_ERROR, "--manifests %s: %s", d->manifests, strerror(-err));
	}
	if (d->cluster_opts.endpoints) {
		/* the core stays held until the first listing from etcd: no gap at a restart */
		d->cluster_opts.quarantines_changed = quarantine_changed;
		err = cluster_start(d);
		if (err)
			return err;
	} else {
		struct pw_diags diags = {0};

		err = pw_cp_flush(d->cp, &diags);
		log_diags(&diags, "start");
		pw_diags_clear(&diags);
		if (err)
			dlog(PW_LOG_ERROR,
			     "cannot enforce the journal and manifests: %s; the maps "
			     "keep what they held",
			     strerror(-err));
		/* only once the replayed state is the real one: compaction reads it */
		else if (jn)
			journal_compact(d, jv, jn);
		else
			journal_cache_start(d);
		jrecs_free(jv, jn);
		d->journal_base = d->journal_records;
	}
	pods_touch(d, NULL);

	fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	timerfd_settime(fd, 0, &its, NULL);
	err = watch_add(d, &d->timer, fd, timer_ready, EPOLLIN);
	if (err)
		return err;

	err = metrics_open(d);
	if (err)
		return err;
	/* last: a client that can connect finds the manifests already enforced */
	err = socket_open(d);
	if (err)
		return err;
	/* loaded: what running needs is far less than root (privilege.h) */
	if (!d->keep_privileges) {
		const char *why = "";

		err = pw_priv_drop(&why);
		if (err) {
			dlog(PW_LOG_ERROR, "least privilege: %s failed: %s", why, strerror(-err));
			return err;
		}
		dlog(PW_LOG_INFO, "least privilege: only %s kept, no_new_privs, seccomp filter on",
		     pw_priv_kept[0]);
	}
	sd_notify_msg("READY=1");
	dlog(PW_LOG_INFO, "ready: control socket %s%s%s%s%s", d->socket_path,
	     d->manifests ? ", manifests " : "", d->manifests ?: "",
	     d->flow_log ? ", flow log " : "", d->flow_log ?: "");

	while (!d->stop) {
		struct epoll_event evs[32];
		int n = epoll_wait(d->epfd, evs, 32, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			dlog(PW_LOG_ERROR, "epoll_wait: %s", strerror(-err));
			return err;
		}
		for (int i = 0; i < n; i++) {
			struct watch *w = evs[i].data.ptr;

			w->fn(d, w, evs[i].events);
		}
		clients_reap(d, false);
	}
	sd_notify_msg("STOPPING=1");
	return 0;
}

static void cleanup(struct daemon *d)
{
	clients_reap(d, true);
	metrics_close(d);
	if (d->socket_bound)
		unlink(d->socket_path);
	if (d->listen.fn)
		close(d->listen.fd);
	if (d->timer.fn)
		close(d->timer.fd);
	if (d->sig.fn)
		close(d->sig.fd);
	pw_mdir_close(d->md);
	pw_linkwatch_close(d->lw);
	/* the rings' last records, before the flow log that writes them goes */
	kcounters_stop(d);
	/* first: its last records still ask the core for pod and policy names */
	pw_flowlog_free(d->fl);
	d->fl = NULL;
	pw_cluster_free(d->cluster);
	pw_cp_free(d->cp);
	journal_cache_drop(d);
	/* close, never destroy: the pinned programs and maps keep enforcing */
	pw_dp_close(d->dp);
	pw_instance_release(&d->claim);
	for (size_t i = 0; i < d->nsrcerrs; i++) {
		free(d->srcerrs[i].path);
		json_object_put(d->srcerrs[i].diags);
	}
	free(d->srcerrs);
	pods_clear(d);
	fp_clear(d);
	if (d->epfd >= 0)
		close(d->epfd);
}

static int uninstall(struct daemon *d)
{
	int err = open_datapath(d);

	if (err)
		return err;
	err = pw_dp_destroy(d->dp);
	d->dp = NULL;
	if (err)
		dlog(PW_LOG_ERROR, "uninstall: %s", strerror(-err));
	else
		dlog(PW_LOG_INFO, "uninstalled: programs detached, pins under %s removed",
		     d->bpffs);
	return err;
}

int main(int argc, char **argv)
{
	struct daemon d = {
		.epfd = -1,
		.claim = {.fd = -1},
		.unread = {.what = "flow events emitted while no daemon read them"},
		.ct_end_lost = {.what = "flow ends the datapath could not keep for the sweep"},
		.handle = handle,
	};
	int err;

	/*
	 * One malloc arena: an apply's parse threads (changes.c) allocate the objects the core
	 * then keeps for good; in a heap of their own those stay scattered beside freed parse
	 * memory (0.3 MiB more RSS at 10,000 pods), and the threads live for one parse, so the
	 * shared arena's lock costs nothing measurable (bench_ctl: the same apply time).
	 */
	mallopt(M_ARENA_MAX, 1);
	if (parse_args(&d, argc, argv))
		return 2;
	d.started = time(NULL);
	if (d.uninstall)
		return uninstall(&d) ? 1 : 0;
	err = run(&d);
	cleanup(&d);
	if (err)
		dlog(PW_LOG_ERROR, "exiting: %s", strerror(-err));
	return err ? 1 : 0;
}
