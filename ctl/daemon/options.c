// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwalld: usage and command-line options into struct daemon.
 */
#define _GNU_SOURCE
#include "daemon.h"

/* --- options ------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: podwalld [OPTIONS]\n"
		"\n"
		"The podwall node daemon: turns Namespaces, Pods and NetworkPolicies into eBPF\n"
		"enforcement on this node's network namespace. Runs in the foreground, logs to\n"
		"stderr; SIGTERM exits leaving enforcement in place, SIGHUP re-reads manifests.\n"
		"\n"
		"Options:\n"
		"  --manifests DIR      watch DIR's *.yaml, *.yml, *.json files (inotify)\n"
		"  --socket PATH        control socket for the podwall CLI (default %s)\n"
		"  --bpffs DIR          pin root on a bpffs (default %s)\n"
		"  --cgroup-root PATH   cgroup v2 directory holding pod cgroups; the socket\n"
		"                       programs attach here (never a cgroup2 mount's root)\n"
		"  --flow-log PATH|-    append flow records as JSON lines (- = stdout)\n"
		"  --flow-log-max-size SIZE\n"
		"                       rotate the file before it passes SIZE (K, M, G\n"
		"                       suffixes; default 0: never)\n"
		"  --flow-log-keep N    rotated files kept, PATH.1 newest (default 0: a\n"
		"                       rotation truncates)\n"
		"  --flow-log-fsync rotate|none|always\n"
		"                       when records reach the disk (default rotate)\n"
		"  --flow-sample N      record 1 in N allowed flows (default 1: all); denies\n"
		"                       are never sampled\n"
		"  --deny-window DUR    repeated denies of one key are recorded once per DUR,\n"
		"                       the rest counted into the next record (default 5s;\n"
		"                       0: record every deny)\n"
		"  --deny-burst N       records per key per window (default 1)\n"
		"  --flow-aggregate DUR one flow_aggregate record per (identities, port,\n"
		"                       protocol, direction, verdict, policy) per DUR\n"
		"                       (1s to 1h) instead of a record per allowed flow;\n"
		"                       denies keep their records (default: off)\n"
		"  --node-name NAME     this node's name: the records' node_name, and in\n"
		"                       cluster mode the spec.nodeName of its pods (default:\n"
		"                       the host name)\n"
		"  --etcd URL[,URL...]  cluster mode: objects live in etcd (v3 API) and reach\n"
		"                       every node; http(s)://HOST:PORT, IPv6 as [ADDR]\n"
		"  --etcd-prefix P      the cluster's keys are under P (default /podwall)\n"
		"  --etcd-cacert FILE, --etcd-cert FILE, --etcd-key FILE\n"
		"                       TLS to etcd: CA bundle, client certificate and key\n"
		"  --etcd-lease-ttl DUR this node's lease: a node silent this long is dead to\n"
		"                       the others and its pods leave their maps (default 10s)\n"
		"  --metrics-addr HOST:PORT  serve Prometheus metrics at http://HOST:PORT/metrics\n"
		"  --perf-pages N       event ring pages per CPU, a power of two (default 64)\n"
		"  --ct-sweep-interval DUR\n"
		"                       how often expired flows are removed and their flow_end\n"
		"                       records written (default 5s; 1s to 1h)\n"
		"  --ct-timeout KIND=DUR[,KIND=DUR...]\n"
		"                       idle timeouts: tcp-syn (60s), tcp-established (6h),\n"
		"                       tcp-closing (10s), udp (60s), other (30s)\n"
		"  --service-cidr CIDR[,CIDR...]\n"
		"                       ranges a Service's clusterIP must lie in (default\n"
		"                       10.96.0.0/12,fd00:10:96::/112, as Kubernetes)\n"
		"  --state-dir DIR      where objects applied by the CLI are journaled so a\n"
		"                       restart keeps them (default %s/ + --bpffs escaped:\n"
		"                       one per instance; \"\" for none). A directory\n"
		"                       belongs to the --bpffs that first used it\n"
		"  --socket-group GROUP the control socket is GROUP's too (mode 0660): its\n"
		"                       members can use the CLI without root\n"
		"  --keep-privileges    do not drop capabilities or install the seccomp filter\n"
		"                       once loaded (debugging)\n"
		"  --uninstall          detach every program and remove the pins under --bpffs,\n"
		"                       then exit: enforcement stops\n"
		"  -v, --verbose        debug logging\n"
		"  -h, --help           this help\n",
		PW_SOCKET_DEFAULT, BPFFS_DEFAULT, PW_STATE_ROOT);
}

/* An unsigned number within [min, max], with K/M/G (powers of 1024) when `sizes`. */
static int opt_number(const char *opt, const char *s, uint64_t min, uint64_t max, bool sizes,
		      uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-' || *s == '+')
		goto bad;
	if (sizes && *end) {
		unsigned int shift = *end == 'K' || *end == 'k'	  ? 10
				     : *end == 'M' || *end == 'm' ? 20
				     : *end == 'G' || *end == 'g' ? 30
								  : 0;

		if (!shift || end[1] || v > (UINT64_MAX >> shift))
			goto bad;
		v <<= shift;
		end++;
	}
	if (*end || v < min || v > max)
		goto bad;
	*out = v;
	return 0;
bad:
	fprintf(stderr, "podwalld: %s \"%s\": expected a number from %llu to %llu%s\n", opt, s,
		(unsigned long long)min, (unsigned long long)max,
		sizes ? " (K, M or G suffix allowed)" : "");
	return -EINVAL;
}

/* A duration ("90s", "1h30m", "250ms") within [min_ns, max_ns]. */
static int opt_duration(const char *opt, const char *s, int64_t min_ns, int64_t max_ns,
			int64_t *out)
{
	int64_t ns;

	if (pw_duration_parse(s, &ns) || ns < min_ns || ns > max_ns) {
		bool ms = min_ns % NSEC_PER_SEC;

		fprintf(stderr,
			"podwalld: %s \"%s\": expected a duration such as 90s, 5m or 1h30m, from "
			"%lld%s to %lld s\n",
			opt, s, (long long)(ms ? min_ns / NSEC_PER_MSEC : min_ns / NSEC_PER_SEC),
			ms ? " ms" : " s", (long long)(max_ns / NSEC_PER_SEC));
		return -EINVAL;
	}
	*out = ns;
	return 0;
}

/* "10.96.0.0/12,fd00:10:96::/112": each a prefix without host bits */
static int opt_service_cidrs(const char *s)
{
	char *copy, *save = NULL, *item;
	int err = 0;

	if (!*s) {
		fprintf(stderr, "podwalld: --service-cidr: expected CIDR[,CIDR...]\n");
		return -EINVAL;
	}
	copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	for (item = strtok_r(copy, ",", &save); item && !err; item = strtok_r(NULL, ",", &save)) {
		struct pw_prefix p;
		bool host = false;

		if (pw_prefix_parse(item, &p, &host) || host) {
			fprintf(stderr, "podwalld: --service-cidr \"%s\": %s\n", item,
				host ? "host bits set (write the network, e.g. 10.96.0.0/12)"
				     : "expected CIDR[,CIDR...] such as "
				       "10.96.0.0/12,fd00:10:96::/112");
			err = -EINVAL;
		}
	}
	free(copy);
	return err;
}

/* "tcp-closing=2s,udp=30s": each named timeout set; the others keep their defaults. */
static int opt_ct_timeouts(const char *s, struct pw_ct_timeouts *t)
{
	static const struct {
		const char *name;
		size_t off;
	} kinds[] = {
		{"tcp-syn", offsetof(struct pw_ct_timeouts, tcp_syn_ns)},
		{"tcp-established", offsetof(struct pw_ct_timeouts, tcp_established_ns)},
		{"tcp-closing", offsetof(struct pw_ct_timeouts, tcp_closing_ns)},
		{"udp", offsetof(struct pw_ct_timeouts, udp_ns)},
		{"other", offsetof(struct pw_ct_timeouts, other_ns)},
	};
	char *copy = strdup(s), *save = NULL, *item;
	int err = 0;

	if (!copy)
		return -ENOMEM;
	for (item = strtok_r(copy, ",", &save); item && !err; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		size_t k;
		int64_t ns;

		for (k = 0; eq && k < sizeof(kinds) / sizeof(kinds[0]); k++) {
			if ((size_t)(eq - item) == strlen(kinds[k].name) &&
			    !strncmp(item, kinds[k].name, (size_t)(eq - item)))
				break;
		}
		if (!eq || k == sizeof(kinds) / sizeof(kinds[0])) {
			fprintf(stderr,
				"podwalld: --ct-timeout \"%s\": expected KIND=DURATION with KIND "
				"one "
				"of tcp-syn, tcp-established, tcp-closing, udp, other\n",
				item);
			err = -EINVAL;
			break;
		}
		err = opt_duration("--ct-timeout", eq + 1, NSEC_PER_SEC, 7 * 86400 * NSEC_PER_SEC,
				   &ns);
		if (!err)
			*(uint64_t *)((char *)t + kinds[k].off) = (uint64_t)ns;
	}
	free(copy);
	return err;
}

int parse_args(struct daemon *d, int argc, char **argv)
{
	enum {
		O_MANIFESTS = 256,
		O_SOCKET,
		O_BPFFS,
		O_CGROUP,
		O_FLOWLOG,
		O_STATE,
		O_UNINSTALL,
		O_SOCKET_GROUP,
		O_KEEP_PRIVS,
		O_FL_MAX,
		O_FL_KEEP,
		O_FL_FSYNC,
		O_SAMPLE,
		O_DENY_WINDOW,
		O_DENY_BURST,
		O_AGGREGATE,
		O_NODE,
		O_PERF_PAGES,
		O_SWEEP,
		O_CT_TIMEOUT,
		O_SVC_CIDR,
		O_ETCD,
		O_ETCD_PREFIX,
		O_ETCD_CACERT,
		O_ETCD_CERT,
		O_ETCD_KEY,
		O_ETCD_TTL,
		O_METRICS,
	};
	static const struct option opts[] = {
		{"manifests", required_argument, NULL, O_MANIFESTS},
		{"socket", required_argument, NULL, O_SOCKET},
		{"bpffs", required_argument, NULL, O_BPFFS},
		{"cgroup-root", required_argument, NULL, O_CGROUP},
		{"flow-log", required_argument, NULL, O_FLOWLOG},
		{"flow-log-max-size", required_argument, NULL, O_FL_MAX},
		{"flow-log-keep", required_argument, NULL, O_FL_KEEP},
		{"flow-log-fsync", required_argument, NULL, O_FL_FSYNC},
		{"flow-sample", required_argument, NULL, O_SAMPLE},
		{"deny-window", required_argument, NULL, O_DENY_WINDOW},
		{"deny-burst", required_argument, NULL, O_DENY_BURST},
		{"flow-aggregate", required_argument, NULL, O_AGGREGATE},
		{"node-name", required_argument, NULL, O_NODE},
		{"perf-pages", required_argument, NULL, O_PERF_PAGES},
		{"ct-sweep-interval", required_argument, NULL, O_SWEEP},
		{"ct-timeout", required_argument, NULL, O_CT_TIMEOUT},
		{"service-cidr", required_argument, NULL, O_SVC_CIDR},
		{"metrics-addr", required_argument, NULL, O_METRICS},
		{"state-dir", required_argument, NULL, O_STATE},
		{"etcd", required_argument, NULL, O_ETCD},
		{"etcd-prefix", required_argument, NULL, O_ETCD_PREFIX},
		{"etcd-cacert", required_argument, NULL, O_ETCD_CACERT},
		{"etcd-cert", required_argument, NULL, O_ETCD_CERT},
		{"etcd-key", required_argument, NULL, O_ETCD_KEY},
		{"etcd-lease-ttl", required_argument, NULL, O_ETCD_TTL},
		{"uninstall", no_argument, NULL, O_UNINSTALL},
		{"socket-group", required_argument, NULL, O_SOCKET_GROUP},
		{"keep-privileges", no_argument, NULL, O_KEEP_PRIVS},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	uint64_t v;
	int64_t ns = 0; /* set on every path read; the initialiser quiets -Wmaybe-uninitialized */
	int o, err = 0;

	d->socket_path = PW_SOCKET_DEFAULT;
	d->bpffs = BPFFS_DEFAULT;
	d->state_dir = NULL; /* derived from --bpffs once the options are read */
	d->sweep_interval_s = SWEEP_INTERVAL_S;
	d->fo.sz = sizeof(d->fo);
	pw_ct_timeouts_default(&d->cto);
	if (gethostname(d->node_name, sizeof(d->node_name) - 1))
		d->node_name[0] = '\0';
	while (!err && (o = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (o) {
		case O_FL_MAX:
			err = opt_number("--flow-log-max-size", optarg, 0, UINT64_MAX >> 1, true,
					 &d->fo.max_bytes);
			break;
		case O_FL_KEEP:
			err = opt_number("--flow-log-keep", optarg, 0, 1000, false, &v);
			d->fo.keep = (unsigned int)v;
			break;
		case O_FL_FSYNC:
			if (!strcmp(optarg, "rotate")) {
				d->fo.fsync = PW_FLOWLOG_FSYNC_ROTATE;
			} else if (!strcmp(optarg, "none")) {
				d->fo.fsync = PW_FLOWLOG_FSYNC_NONE;
			} else if (!strcmp(optarg, "always")) {
				d->fo.fsync = PW_FLOWLOG_FSYNC_ALWAYS;
			} else {
				fprintf(stderr,
					"podwalld: --flow-log-fsync \"%s\": expected rotate, none "
					"or "
					"always\n",
					optarg);
				err = -EINVAL;
			}
			break;
		case O_SAMPLE:
			err = opt_number("--flow-sample", optarg, 1, UINT32_MAX, false, &v);
			d->fo.sample_allowed = (uint32_t)v;
			break;
		case O_DENY_WINDOW:
			/* 0 turns the limit off; anything else is a window of 1 ms or more */
			if (!strcmp(optarg, "0")) {
				d->fo.rl_disable = true;
				break;
			}
			err = opt_duration("--deny-window", optarg, NSEC_PER_MSEC,
					   3600 * NSEC_PER_SEC, &ns);
			d->fo.rl_window_ns = (uint64_t)ns;
			break;
		case O_DENY_BURST:
			err = opt_number("--deny-burst", optarg, 1, 1000000, false, &v);
			d->fo.rl_burst = (unsigned int)v;
			break;
		case O_AGGREGATE:
			err = opt_duration("--flow-aggregate", optarg, NSEC_PER_SEC,
					   3600 * NSEC_PER_SEC, &ns);
			d->fo.aggregate_ns = (uint64_t)ns;
			break;
		case O_ETCD:
			d->cluster_opts.endpoints = optarg;
			break;
		case O_ETCD_PREFIX:
			d->cluster_opts.prefix = optarg;
			break;
		case O_ETCD_CACERT:
			d->cluster_opts.cacert = optarg;
			break;
		case O_ETCD_CERT:
			d->cluster_opts.cert = optarg;
			break;
		case O_ETCD_KEY:
			d->cluster_opts.key = optarg;
			break;
		case O_ETCD_TTL:
			err = opt_duration("--etcd-lease-ttl", optarg, NSEC_PER_SEC,
					   3600 * NSEC_PER_SEC, &ns);
			d->cluster_opts.lease_ttl_s = (unsigned int)(ns / NSEC_PER_SEC);
			break;
		case O_NODE:
			if (!*optarg || strlen(optarg) >= sizeof(d->node_name)) {
				fprintf(stderr, "podwalld: --node-name: expected 1 to %zu bytes\n",
					sizeof(d->node_name) - 1);
				err = -EINVAL;
				break;
			}
			snprintf(d->node_name, sizeof(d->node_name), "%s", optarg);
			break;
		case O_PERF_PAGES:
			err = opt_number("--perf-pages", optarg, 1, 4096, false, &v);
			if (!err && (v & (v - 1))) {
				fprintf(stderr,
					"podwalld: --perf-pages %s: must be a power of two (1, 2, "
					"4, ... 4096)\n",
					optarg);
				err = -EINVAL;
			}
			d->perf_pages = (size_t)v;
			break;
		case O_SWEEP:
			err = opt_duration("--ct-sweep-interval", optarg, NSEC_PER_SEC,
					   3600 * NSEC_PER_SEC, &ns);
			if (!err && ns % NSEC_PER_SEC) {
				fprintf(stderr,
					"podwalld: --ct-sweep-interval %s: whole seconds only\n",
					optarg);
				err = -EINVAL;
			}
			d->sweep_interval_s = (unsigned int)(ns / NSEC_PER_SEC);
			break;
		case O_CT_TIMEOUT:
			err = opt_ct_timeouts(optarg, &d->cto);
			break;
		case O_SVC_CIDR:
			d->service_cidrs = optarg;
			err = opt_service_cidrs(optarg);
			break;
		case O_METRICS:
			err = metrics_check_addr(optarg);
			if (err)
				fprintf(stderr,
					"podwalld: --metrics-addr \"%s\": expected HOST:PORT or "
					"[IPV6]:PORT (127.0.0.1:9464)\n",
					optarg);
			d->metrics.addr = optarg;
			break;
		case O_MANIFESTS:
			d->manifests = optarg;
			break;
		case O_SOCKET:
			d->socket_path = optarg;
			break;
		case O_BPFFS:
			d->bpffs = optarg;
			break;
		case O_CGROUP:
			d->cgroup_root = optarg;
			break;
		case O_FLOWLOG:
			d->flow_log = optarg;
			break;
		case O_STATE:
			d->state_dir = optarg;
			break;
		case O_SOCKET_GROUP:
			err = pw_priv_group(optarg, &d->socket_gid);
			if (err)
				fprintf(stderr, "podwalld: --socket-group \"%s\": no such group\n",
					optarg);
			d->socket_group_set = true;
			break;
		case O_KEEP_PRIVS:
			d->keep_privileges = true;
			break;
		case O_UNINSTALL:
			d->uninstall = true;
			break;
		case 'v':
			g_level = PW_LOG_DEBUG;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (err)
		return err;
	if ((d->fo.max_bytes || d->fo.keep) && (!d->flow_log || !strcmp(d->flow_log, "-"))) {
		fprintf(stderr, "podwalld: --flow-log-max-size and --flow-log-keep need --flow-log "
				"with a file path\n");
		return -EINVAL;
	}
	if (d->fo.keep && !d->fo.max_bytes) {
		fprintf(stderr, "podwalld: --flow-log-keep needs --flow-log-max-size (files "
				"are rotated by size)\n");
		return -EINVAL;
	}
	if (optind < argc) {
		fprintf(stderr, "podwalld: unexpected argument \"%s\"\n", argv[optind]);
		return -EINVAL;
	}
	if (!d->state_dir) {
		err = pw_instance_state_dir(d->bpffs, d->state_dir_buf, sizeof(d->state_dir_buf));
		if (err) {
			fprintf(stderr, "podwalld: --bpffs \"%s\": no state directory: %s\n",
				d->bpffs, strerror(-err));
			return err;
		}
		d->state_dir = d->state_dir_buf;
	}
	return cluster_options_check(d);
}
