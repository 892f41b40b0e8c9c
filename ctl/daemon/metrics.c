// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwalld: Prometheus metrics at /metrics (--metrics-addr HOST:PORT).
 *
 * HTTP comes from libmicrohttpd, driven by the daemon's own epoll loop: MHD keeps its
 * connections in an epoll set of its own whose fd is one more watch here, and MHD_run() is
 * called when it is readable and on the 100 ms tick (idle timeouts). No thread: a scrape reads
 * the core and the flow log from the loop that owns them, so nothing needs a lock. A
 * hand-written HTTP parser would be podwall's to harden; MHD is maintained, fuzzed and
 * bounded (connection limit, timeouts, request size).
 *
 * The text is the exposition format 0.0.4: HELP and TYPE for every family, counters ending
 * in _total, base units (seconds, bytes), snake_case names, label values from podwall's own
 * tables (reasons, directions, map names), so none needs escaping.
 */
#define _GNU_SOURCE
#include <microhttpd.h>
#include <netdb.h>

#include "daemon.h"

#define METRICS_CONN_LIMIT   16
#define METRICS_CONN_TIMEOUT 10 /* seconds a scrape connection may idle */

/* upper bounds of the apply latency buckets, seconds (+Inf is implied) */
static const double apply_bounds[METRICS_APPLY_BUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
};

/* every reason of the shared table, in its order */
#define PW_REASON_VALUE(r, v, name, hname, hcode) v,
static const unsigned int reasons[] = {PW_REASONS(PW_REASON_VALUE)};
#undef PW_REASON_VALUE

void metrics_observe_apply(struct daemon *d, double seconds)
{
	struct metrics *m = &d->metrics;
	size_t i = 0;

	while (i < METRICS_APPLY_BUCKETS && seconds > apply_bounds[i])
		i++;
	m->apply_buckets[i]++; /* [METRICS_APPLY_BUCKETS] is +Inf */
	m->apply_count++;
	m->apply_sum += seconds;
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static const char *verdict_of(unsigned int reason)
{
	if (reason == PW_OK_AUDIT)
		return "audit";
	return pw_reason_is_drop(reason) ? "dropped" : "forwarded";
}

static void render_datapath(FILE *f, const struct pw_cp_counts *c)
{
	static const struct {
		uint32_t slot;
		const char *reason;
	} losses[] = {
		{PW_METRIC_EV_FULL, "ring_full"},
		{PW_METRIC_EV_NOREADER, "no_reader"},
		{PW_METRIC_CT_END_LOST, "flow_end_not_kept"},
	};
	const size_t nr = sizeof(reasons) / sizeof(reasons[0]);

	if (!c->has_metrics)
		return;
	family(f, "podwall_packets_total", "counter",
	       "Packets and socket calls the datapath decided, by verdict, reason and direction "
	       "(direction of the pod whose policy decided).");
	for (size_t i = 0; i < nr; i++)
		for (uint8_t dir = 0; dir < PW_DIR_MAX; dir++)
			fprintf(f,
				"podwall_packets_total{verdict=\"%s\",reason=\"%s\",direction="
				"\"%s\"} %llu\n",
				verdict_of(reasons[i]), pw_reason_str(reasons[i]), pw_dir_str(dir),
				(unsigned long long)c->metrics[PW_METRIC_IDX(reasons[i], dir)].packets);
	family(f, "podwall_bytes_total", "counter",
	       "Bytes of the packets the datapath decided, by verdict, reason and direction.");
	for (size_t i = 0; i < nr; i++)
		for (uint8_t dir = 0; dir < PW_DIR_MAX; dir++)
			fprintf(f,
				"podwall_bytes_total{verdict=\"%s\",reason=\"%s\",direction="
				"\"%s\"} %llu\n",
				verdict_of(reasons[i]), pw_reason_str(reasons[i]), pw_dir_str(dir),
				(unsigned long long)c->metrics[PW_METRIC_IDX(reasons[i], dir)].bytes);
	family(f, "podwall_denied_total", "counter",
	       "Packets dropped and connections refused at the socket, by reason and direction.");
	for (size_t i = 0; i < nr; i++) {
		if (!pw_reason_is_drop(reasons[i]))
			continue;
		for (uint8_t dir = 0; dir < PW_DIR_MAX; dir++)
			fprintf(f, "podwall_denied_total{reason=\"%s\",direction=\"%s\"} %llu\n",
				pw_reason_str(reasons[i]), pw_dir_str(dir),
				(unsigned long long)c->metrics[PW_METRIC_IDX(reasons[i], dir)].packets);
	}
	family(f, "podwall_datapath_events_lost_total", "counter",
	       "Flow events the datapath could not hand to the daemon, by reason.");
	for (size_t i = 0; i < sizeof(losses) / sizeof(losses[0]); i++)
		fprintf(f, "podwall_datapath_events_lost_total{reason=\"%s\"} %llu\n",
			losses[i].reason, (unsigned long long)c->metrics[losses[i].slot].packets);
}

static void render_maps(FILE *f, const struct pw_cp_counts *c)
{
	family(f, "podwall_map_entries", "gauge", "Entries in each BPF map.");
	for (size_t i = 0; i < c->n_maps; i++)
		if (c->maps[i].name)
			fprintf(f, "podwall_map_entries{map=\"%s\"} %llu\n", c->maps[i].name,
				(unsigned long long)c->maps[i].entries);
	family(f, "podwall_map_capacity_entries", "gauge",
	       "Capacity (max_entries) of each BPF map.");
	for (size_t i = 0; i < c->n_maps; i++)
		if (c->maps[i].name)
			fprintf(f, "podwall_map_capacity_entries{map=\"%s\"} %u\n", c->maps[i].name,
				c->maps[i].max_entries);
}

static void render_objects(FILE *f, const struct pw_cp_counts *c)
{
	family(f, "podwall_identities", "gauge",
	       "Identities in use, by kind (label sets of pods, ipBlock prefixes).");
	fprintf(f, "podwall_identities{kind=\"labels\"} %zu\n", c->identities);
	fprintf(f, "podwall_identities{kind=\"cidr\"} %zu\n", c->cidr_identities);
	family(f, "podwall_endpoints", "gauge",
	       "Pods of this node, by state: enforced, or pending (waiting for their interface or "
	       "cgroup).");
	fprintf(f, "podwall_endpoints{state=\"enforced\"} %zu\n",
		c->local_pods >= c->n_pending ? c->local_pods - c->n_pending : 0);
	fprintf(f, "podwall_endpoints{state=\"pending\"} %zu\n", c->n_pending);
	family(f, "podwall_objects", "gauge", "Objects in the daemon's store, by kind.");
	fprintf(f, "podwall_objects{kind=\"Namespace\"} %zu\n", c->namespaces);
	fprintf(f, "podwall_objects{kind=\"Pod\"} %zu\n", c->pods);
	fprintf(f, "podwall_objects{kind=\"NetworkPolicy\"} %zu\n", c->netpols);
	family(f, "podwall_policy_entries", "gauge",
	       "Policy map entries the compiler wants (keyed by subject identity).");
	fprintf(f, "podwall_policy_entries %zu\n", c->policy_keys);
	family(f, "podwall_policy_syncs_total", "counter",
	       "Changes written into the kernel (each an all-or-nothing reconcile).");
	fprintf(f, "podwall_policy_syncs_total %llu\n", (unsigned long long)c->syncs);
	family(f, "podwall_policy_sync_failures_total", "counter",
	       "Changes refused or rolled back (the last good policy stayed enforced).");
	fprintf(f, "podwall_policy_sync_failures_total %llu\n",
		(unsigned long long)c->sync_failures);
}

static void render_apply(FILE *f, const struct metrics *m)
{
	uint64_t cum = 0;

	family(f, "podwall_policy_apply_duration_seconds", "histogram",
	       "Time from an apply or delete request to its reply, which comes once the kernel "
	       "enforces the change.");
	for (size_t i = 0; i < METRICS_APPLY_BUCKETS; i++) {
		cum += m->apply_buckets[i];
		fprintf(f, "podwall_policy_apply_duration_seconds_bucket{le=\"%g\"} %llu\n",
			apply_bounds[i], (unsigned long long)cum);
	}
	cum += m->apply_buckets[METRICS_APPLY_BUCKETS];
	fprintf(f, "podwall_policy_apply_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
		(unsigned long long)cum);
	fprintf(f, "podwall_policy_apply_duration_seconds_sum %.9f\n", m->apply_sum);
	fprintf(f, "podwall_policy_apply_duration_seconds_count %llu\n",
		(unsigned long long)m->apply_count);
}

static void render_flowlog(FILE *f, struct daemon *d)
{
	struct pw_flowlog_stats st = {0};

	if (!d->fl)
		return;
	pw_flowlog_get_stats(d->fl, &st);
	family(f, "podwall_flow_records_written_total", "counter",
	       "Flow records written (every kind).");
	fprintf(f, "podwall_flow_records_written_total %llu\n", (unsigned long long)st.records);
	family(f, "podwall_flow_records_lost_total", "counter",
	       "Flow records that never reached the log, by stage: kernel (the event ring was "
	       "full or had no reader) or write (the file refused the write).");
	fprintf(f, "podwall_flow_records_lost_total{stage=\"kernel\"} %llu\n",
		(unsigned long long)st.lost);
	fprintf(f, "podwall_flow_records_lost_total{stage=\"write\"} %llu\n",
		(unsigned long long)st.write_errors);
	family(f, "podwall_flow_records_suppressed_total", "counter",
	       "Repeated denies counted into another record by the rate limit (not lost).");
	fprintf(f, "podwall_flow_records_suppressed_total %llu\n",
		(unsigned long long)st.suppressed);
	family(f, "podwall_flow_drops_folded_total", "counter",
	       "Repeated drops the TC programs counted instead of writing a record each; the "
	       "flow log received them as counts (included in suppressed when rate limited).");
	fprintf(f, "podwall_flow_drops_folded_total %llu\n", (unsigned long long)st.folded);
	family(f, "podwall_flow_records_sampled_out_total", "counter",
	       "Allowed flows skipped by --flow-sample (by design, not lost).");
	fprintf(f, "podwall_flow_records_sampled_out_total %llu\n",
		(unsigned long long)st.sampled_out);
	family(f, "podwall_flow_records_aggregated_total", "counter",
	       "Allowed flows and flow ends counted only in flow_aggregate records "
	       "(--flow-aggregate; by design, not lost).");
	fprintf(f, "podwall_flow_records_aggregated_total %llu\n",
		(unsigned long long)st.aggregated);
	family(f, "podwall_flow_log_rotations_total", "counter", "Flow-log file rotations.");
	fprintf(f, "podwall_flow_log_rotations_total %llu\n", (unsigned long long)st.rotations);
}

static void render_quarantines(FILE *f, struct daemon *d)
{
	struct pw_cp_quarantine_row *rows = NULL;
	size_t n = 0;

	if (pw_cp_list_quarantines(d->cp, NULL, &rows, &n))
		return;
	family(f, "podwall_quarantined_pods", "gauge",
	       "Pods under quarantine (podwall quarantine), on every node that knows them.");
	fprintf(f, "podwall_quarantined_pods %zu\n", n);
	free(rows);
}

static void render_cluster(FILE *f, struct daemon *d)
{
	struct pw_cluster_stats st;

	if (!d->cluster)
		return;
	pw_cluster_get_stats(d->cluster, &st);
	family(f, "podwall_cluster_connected", "gauge",
	       "1 while etcd answers and the watch runs; 0 while enforcement stays as last known.");
	fprintf(f, "podwall_cluster_connected %d\n", st.connected);
	family(f, "podwall_cluster_down_since_seconds", "gauge",
	       "When etcd went away, seconds since the epoch; 0 while connected.");
	fprintf(f, "podwall_cluster_down_since_seconds %lld\n", (long long)st.down_since);
	family(f, "podwall_cluster_enforced_revision", "gauge",
	       "The etcd revision this node's kernel enforces.");
	fprintf(f, "podwall_cluster_enforced_revision %lld\n", (long long)st.enforced_revision);
	family(f, "podwall_cluster_seen_revision", "gauge",
	       "The newest etcd revision this node has seen.");
	fprintf(f, "podwall_cluster_seen_revision %lld\n", (long long)st.etcd_revision);
	family(f, "podwall_cluster_live_nodes", "gauge", "Nodes whose etcd lease is current.");
	fprintf(f, "podwall_cluster_live_nodes %zu\n", st.live_nodes);
	family(f, "podwall_cluster_relists_total", "counter",
	       "Full listings of the prefix (start, compaction, reconnection).");
	fprintf(f, "podwall_cluster_relists_total %llu\n", (unsigned long long)st.relists);
	family(f, "podwall_cluster_watch_events_total", "counter", "etcd watch events received.");
	fprintf(f, "podwall_cluster_watch_events_total %llu\n",
		(unsigned long long)st.watch_events);
}

static void render_daemon(FILE *f, struct daemon *d)
{
	family(f, "podwall_build_info", "gauge",
	       "podwall's version; the value is always 1.");
	fprintf(f, "podwall_build_info{version=\"%s\"} 1\n", PODWALL_VERSION);
	family(f, "podwall_start_time_seconds", "gauge",
	       "When the daemon started, seconds since the epoch.");
	fprintf(f, "podwall_start_time_seconds %lld\n", (long long)d->started);
	family(f, "podwall_control_requests_total", "counter",
	       "Requests received on the control socket.");
	fprintf(f, "podwall_control_requests_total %llu\n", (unsigned long long)d->requests);
	family(f, "podwall_conntrack_expired_total", "counter",
	       "Conntrack entries the sweep ended (timeouts, closed and revoked flows).");
	fprintf(f, "podwall_conntrack_expired_total %llu\n", (unsigned long long)d->swept);
}

/* The whole exposition into a malloc'd buffer. */
static int render(struct daemon *d, char **out, size_t *len)
{
	struct pw_cp_counts c = {0};
	FILE *f = open_memstream(out, len);
	int err;

	if (!f)
		return -ENOMEM;
	err = pw_cp_counts(d->cp, &c);
	render_daemon(f, d);
	if (!err) {
		render_datapath(f, &c);
		render_maps(f, &c);
		render_objects(f, &c);
	}
	render_apply(f, &d->metrics);
	render_flowlog(f, d);
	render_quarantines(f, d);
	render_cluster(f, d);
	pw_cp_counts_free(&c);
	if (fclose(f))
		return -ENOMEM;
	return 0;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_len, void **state)
{
	static const char not_found[] = "podwalld serves /metrics only\n";
	static const char not_allowed[] = "GET or HEAD only\n";
	struct daemon *d = cls;
	struct MHD_Response *r;
	unsigned int status = MHD_HTTP_OK;
	enum MHD_Result ret;
	char *body = NULL;
	size_t len = 0;

	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
		status = MHD_HTTP_METHOD_NOT_ALLOWED;
		r = MHD_create_response_from_buffer(sizeof(not_allowed) - 1, (void *)not_allowed,
						    MHD_RESPMEM_PERSISTENT);
	} else if (strcmp(url, "/metrics")) {
		status = MHD_HTTP_NOT_FOUND;
		r = MHD_create_response_from_buffer(sizeof(not_found) - 1, (void *)not_found,
						    MHD_RESPMEM_PERSISTENT);
	} else if (render(d, &body, &len)) {
		free(body);
		return MHD_NO; /* out of memory: drop the connection */
	} else {
		d->metrics.scrapes++;
		r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	}
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				status == MHD_HTTP_OK ? "text/plain; version=0.0.4; charset=utf-8"
						      : "text/plain; charset=utf-8");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static void metrics_ready(struct daemon *d, struct watch *w, uint32_t events)
{
	if (MHD_run(d->metrics.mhd) != MHD_YES)
		dlog(PW_LOG_WARN, "metrics: serving a scrape failed");
}

void metrics_tick(struct daemon *d)
{
	/* idle connections time out only when MHD runs */
	if (d->metrics.mhd)
		MHD_run(d->metrics.mhd);
}

/* "HOST:PORT", "[V6]:PORT": a bound, listening, non-blocking socket, or -errno */
static int listen_on(const char *spec)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV},
			*res = NULL;
	char host[256];
	const char *port, *colon;
	int fd = -1, one = 1, err;

	if (spec[0] == '[') {
		const char *rb = strchr(spec, ']');

		if (!rb || rb[1] != ':' || (size_t)(rb - spec - 1) >= sizeof(host))
			return -EINVAL;
		snprintf(host, sizeof(host), "%.*s", (int)(rb - spec - 1), spec + 1);
		port = rb + 2;
	} else {
		colon = strrchr(spec, ':');
		if (!colon || (size_t)(colon - spec) >= sizeof(host) || strchr(spec, ':') != colon)
			return -EINVAL;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
		port = colon + 1;
	}
	if (!*port || strspn(port, "0123456789") != strlen(port))
		return -EINVAL;
	err = getaddrinfo(*host ? host : NULL, port, &hints, &res);
	if (err)
		return -EADDRNOTAVAIL;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, 64)) {
		err = -errno;
		close(fd);
		goto out;
	}
	err = fd;
out:
	freeaddrinfo(res);
	return err;
}

int metrics_check_addr(const char *spec)
{
	/* the syntax alone, before anything is loaded: exit 2 for a typo */
	const char *c = spec[0] == '[' ? strstr(spec, "]:") : strrchr(spec, ':');

	if (!c || (spec[0] != '[' && strchr(spec, ':') != c))
		return -EINVAL;
	c += spec[0] == '[' ? 2 : 1;
	if (!*c || strspn(c, "0123456789") != strlen(c) || atoi(c) > 65535)
		return -EINVAL;
	return 0;
}

int metrics_open(struct daemon *d)
{
	const union MHD_DaemonInfo *info;
	int fd, err;

	if (!d->metrics.addr)
		return 0;
	fd = listen_on(d->metrics.addr);
	if (fd < 0) {
		dlog(PW_LOG_ERROR, "--metrics-addr %s: cannot listen: %s", d->metrics.addr,
		     fd == -EINVAL ? "expected HOST:PORT or [IPV6]:PORT" : strerror(-fd));
		return fd;
	}
	d->metrics.mhd = MHD_start_daemon(
		MHD_USE_EPOLL | MHD_USE_TURBO, 0, NULL, NULL, answer, d, MHD_OPTION_LISTEN_SOCKET,
		fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)METRICS_CONN_LIMIT,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)METRICS_CONN_TIMEOUT, MHD_OPTION_END);
	if (!d->metrics.mhd) {
		close(fd);
		dlog(PW_LOG_ERROR, "--metrics-addr %s: libmicrohttpd would not start",
		     d->metrics.addr);
		return -EIO;
	}
	info = MHD_get_daemon_info(d->metrics.mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info) {
		metrics_close(d);
		return -EIO;
	}
	err = watch_add(d, &d->metrics.w, info->epoll_fd, metrics_ready, EPOLLIN);
	if (err) {
		metrics_close(d);
		return err;
	}
	dlog(PW_LOG_INFO, "metrics: http://%s/metrics", d->metrics.addr);
	return 0;
}

void metrics_close(struct daemon *d)
{
	if (!d->metrics.mhd)
		return;
	/* MHD closes the listening socket it was given */
	MHD_stop_daemon(d->metrics.mhd);
	d->metrics.mhd = NULL;
}
