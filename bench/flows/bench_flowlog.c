// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bench_flowlog: what one flow record costs the daemon's thread, without the kernel, the perf
 * buffer or the machine's other load: synthetic flow_new events go through pw_flowlog_event()
 * as the daemon's reader hands them over, with an enricher that answers the way the daemon's
 * does (pod, namespace, labels, policy rule). Variants separate the costs: the record built
 * with and without enrichment, with its fragments rendered once or re-rendered every record
 * (pw_flowlog_invalidate() before each), written to a file (batched, as the daemon does) or
 * kept only in the ring.
 *
 * --old adds the path before the streaming writer (opts.legacy_json: a json-c tree per record,
 * one write per record) to the same run, interleaved with the others, and prints how many
 * times cheaper the new path is per record: the same-run ratio docs/performance.md quotes.
 *
 *   bench_flowlog [--records N] [--rounds R] [--dir DIR] [--old] [--markdown FILE]
 *
 * Prints, per variant, records/s and CPU time (utime + stime of this process) per 100k records:
 * the median of R rounds (default 5), the variants interleaved within each round, in an order
 * that rotates from round to round, so a burst of other load on the machine does not land on
 * one variant only.
 * The file is created in DIR (default /tmp) and removed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "flowlog.h"

static const char *const client_labels[] = {"app=client", "tier=front"};
static const char *const server_labels[] = {"app=server"};

/* The daemon's answers: two pods, one rule; strings live as long as the program. */
static int enr_endpoint(void *ctx, uint8_t family, const uint32_t addr[4], uint32_t identity,
			uint32_t ep_id, struct pw_flow_endpoint *out)
{
	bool client = addr && (ntohl(addr[0]) & 0xff) != 100;

	memset(out, 0, sizeof(*out));
	out->ns = client ? "bench-c" : "bench-s";
	out->pod_name = client ? "client-5d8f9c7b4-x2x9q" : "server-0";
	out->labels = client ? client_labels : server_labels;
	out->n_labels = client ? 2 : 1;
	out->ep_id = client ? 2 : 1;
	return 0;
}

static int enr_policy(void *ctx, uint32_t cookie, struct pw_flow_policy *out)
{
	memset(out, 0, sizeof(*out));
	out->ns = "bench-c";
	out->name = "client-egress";
	out->rule = 0;
	out->direction = PW_DIR_EGRESS;
	return 0;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static double wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct variant {
	const char *name;
	bool file;
	bool enrich;
	bool old;  /* json-c tree and one write per record (before the streaming writer) */
	bool cold; /* fragments re-rendered for every record */
};

struct result {
	double rate;	   /* records/s */
	double cpu_100k;   /* CPU s per 100k records */
	double bytes_each; /* bytes per record in the file */
	uint64_t records;
};

static int run(const struct variant *v, const char *dir, unsigned long n, struct result *res)
{
	struct pw_flow_enricher enr = {.endpoint = enr_endpoint, .policy = enr_policy};
	struct pw_flowlog_opts o = {.sz = sizeof(o), .fsync = PW_FLOWLOG_FSYNC_NONE};
	struct pw_flowlog_stats st;
	struct pw_flowlog *fl = NULL;
	struct pw_event ev;
	char path[4096];
	struct stat sb;
	double c0, w0;
	int err;

	snprintf(path, sizeof(path), "%s/bench_flowlog-%d.jsonl", dir, (int)getpid());
	if (v->file)
		o.path = path;
	if (v->enrich)
		o.enricher = &enr;
	o.legacy_json = v->old;
	/* the daemon's write buffer; the old path wrote each record on its own */
	o.write_buffer = v->old ? 0 : PW_FLOWLOG_WRITE_BUFFER_DEFAULT;
	err = pw_flowlog_new(&o, &fl);
	if (err)
		return err;
	memset(&ev, 0, sizeof(ev));
	ev.type = PW_EV_FLOW_NEW;
	ev.reason = PW_OK_POLICY;
	ev.direction = PW_DIR_EGRESS;
	ev.family = PW_FAMILY_V4;
	ev.proto = IPPROTO_TCP;
	ev.tcp_flags = 0x02; /* SYN */
	ev.dport = htons(7000);
	ev.ep_id = 2;
	ev.saddr[0] = htonl(0xc6120811); /* 198.18.8.17 */
	ev.daddr[0] = htonl(0xc6120864); /* 198.18.8.100 */
	ev.src_identity = 257;
	ev.dst_identity = 256;
	ev.cookie = 42;
	ev.ifindex = 3;
	ev.pkt_len = 74;

	c0 = cpu_s();
	w0 = wall_s();
	for (unsigned long i = 0; i < n; i++) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ev.ts_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		ev.sport = htons((uint16_t)(1024 + i % 60000));
		if (v->cold)
			pw_flowlog_invalidate(fl);
		err = pw_flowlog_event(fl, (int)(i & 1), &ev);
		if (err != 1) {
			pw_flowlog_free(fl);
			unlink(path);
			return err < 0 ? err : -EPROTO;
		}
	}
	/* the last buffered records are written inside the timed part */
	pw_flowlog_flush_writes(fl);
	res->rate = n / (wall_s() - w0);
	res->cpu_100k = (cpu_s() - c0) * 100000.0 / n;
	pw_flowlog_get_stats(fl, &st);
	res->records = st.records;
	res->bytes_each = 0;
	if (v->file && !stat(path, &sb))
		res->bytes_each = (double)sb.st_size / n;
	pw_flowlog_free(fl);
	unlink(path);
	return st.records == n && !st.write_errors ? 0 : -EIO;
}

static const struct variant variants[] = {
	{"file sink, enriched (the daemon's path)", true, true, false, false},
	{"file sink, enriched, fragments re-rendered every record", true, true, false, true},
	{"file sink, not enriched", true, false, false, false},
	{"ring only, enriched (no write)", false, true, false, false},
	/* --old only: the path before the streaming writer */
	{"before: json-c tree, a write per record; file sink, enriched", true, true, true, false},
	{"before: json-c tree; ring only, enriched", false, true, true, false},
};
#define N_OLD	   2
#define NV	   (sizeof(variants) / sizeof(variants[0]))
#define MAX_ROUNDS 31

static int cmp_cpu(const void *a, const void *b)
{
	const struct result *x = a, *y = b;

	return x->cpu_100k < y->cpu_100k ? -1 : x->cpu_100k > y->cpu_100k;
}

/* the round with the median CPU time stands for the variant */
static void median(struct result *r, int n, struct result *out)
{
	qsort(r, (size_t)n, sizeof(*r), cmp_cpu);
	*out = r[n / 2];
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"records", required_argument, NULL, 'n'},
		{"rounds", required_argument, NULL, 'r'},
		{"dir", required_argument, NULL, 'd'},
		{"markdown", required_argument, NULL, 'm'},
		{"old", no_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct result res[NV], all[NV][MAX_ROUNDS];
	const char *dir = "/tmp", *md = NULL;
	unsigned long n = 100000;
	int o, err, rounds = 5;
	size_t nv = NV - N_OLD;
	FILE *f;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'n':
			n = strtoul(optarg, NULL, 10);
			break;
		case 'r':
			rounds = (int)strtol(optarg, NULL, 10);
			break;
		case 'd':
			dir = optarg;
			break;
		case 'm':
			md = optarg;
			break;
		case 'o':
			nv = NV;
			break;
		default:
			fprintf(o == 'h' ? stdout : stderr, "usage: bench_flowlog [--records N] "
							    "[--rounds R] [--dir DIR] [--old] "
							    "[--markdown FILE]\n");
			return o == 'h' ? 0 : 2;
		}
	}
	if (!n || rounds < 1 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "bench_flowlog: --records must be > 0, --rounds 1..%d\n",
			MAX_ROUNDS);
		return 2;
	}
	for (int r = 0; r < rounds; r++) {
		/*
		 * The order rotates each round: whatever the machine does to the first writer of
		 * a round (reclaiming the page cache the last one filled, say) lands on each
		 * variant in turn, and the median leaves it out.
		 */
		for (size_t k = 0; k < nv; k++) {
			size_t i = (k + (size_t)r) % nv;

			err = run(&variants[i], dir, n, &all[i][r]);
			if (err) {
				fprintf(stderr, "bench_flowlog: %s: %s\n", variants[i].name,
					strerror(-err));
				return 1;
			}
		}
	}
	printf("%-62s %12s %16s %14s\n", "variant", "records/s", "CPU s/100k rec", "bytes/record");
	for (size_t i = 0; i < nv; i++) {
		median(all[i], rounds, &res[i]);
		printf("%-62s %12.0f %16.3f %14.0f\n", variants[i].name, res[i].rate,
		       res[i].cpu_100k, res[i].bytes_each);
	}
	if (nv == NV)
		printf("same run, CPU per record, before / now: file sink, enriched x%.1f; ring "
		       "only, "
		       "enriched x%.1f\n",
		       res[NV - 2].cpu_100k / res[0].cpu_100k,
		       res[NV - 1].cpu_100k / res[3].cpu_100k);
	if (!md)
		return 0;
	f = fopen(md, "w");
	if (!f) {
		fprintf(stderr, "bench_flowlog: %s: %s\n", md, strerror(errno));
		return 1;
	}
	fprintf(f,
		"| variant (%lu synthetic flow_new records, median of %d rounds) | records/s "
		"| CPU per record | bytes/record |\n|---|---:|---:|---:|\n",
		n, rounds);
	for (size_t i = 0; i < nv; i++)
		fprintf(f, "| %s | %.0f | %.2f µs | %.0f |\n", variants[i].name, res[i].rate,
			res[i].cpu_100k * 10.0, res[i].bytes_each);
	if (nv == NV)
		fprintf(f,
			"\nSame run, CPU per record before / now: file sink, enriched ×%.1f; ring "
			"only, enriched ×%.1f.\n",
			res[NV - 2].cpu_100k / res[0].cpu_100k,
			res[NV - 1].cpu_100k / res[3].cpu_100k);
	return fclose(f) ? 1 : 0;
}
