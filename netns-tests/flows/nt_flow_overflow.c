// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Perf-buffer overflow, counted exactly: the datapath library's event reader opened with ONE
 * page per CPU feeds the flow-log library, as the daemon wires them. A burst of denies far
 * larger than the ring is made by the real TC program (BPF_PROG_TEST_RUN, pinned to one CPU,
 * nothing reading meanwhile); then every decision the datapath counted in its metrics must be
 * either a record in the file or part of a "lost" record, and the totals must agree
 * everywhere: pw_dp_events_lost(), the flow log's stats, the lost records' sum.
 *
 * The loss is known at the drain that follows the burst (the programs count what they cannot
 * write); the kernel's own report comes with the next sample that fits in that CPU's ring, so
 * one more deny is made and must not count the loss twice. A second, smaller burst that fits
 * must then lose nothing.
 *
 * The process runs in a private network namespace of its own (unshare) holding one veth
 * pair; it vanishes with the process. The flow log file is removed on every path.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>

#include <bpf/bpf.h>
#include <json-c/json.h>
#include <podwall/datapath.h>
#include "flowlog.h"

#define BURST	  1000 /* a 4 KiB ring holds about 34 records of 120 bytes */
#define SMALL	  20
#define EP_ADDR	  "198.18.0.1"
#define SPOOF_SRC "198.18.9.9"
#define DST	  "198.18.0.2"

static int failures;

#define CHECK(cond, ...)                   \
	do {                               \
		if (cond) {                \
			printf("ok   - "); \
		} else {                   \
			printf("FAIL - "); \
			failures++;        \
		}                          \
		printf(__VA_ARGS__);       \
		putchar('\n');             \
	} while (0)

static void lib_log(void *ctx, enum pw_log_level lvl, const char *msg)
{
	if (lvl <= PW_LOG_WARN)
		fprintf(stderr, "%s%s\n", (const char *)ctx, msg);
}

static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd) == 0 ? 0 : -1;
}

static uint16_t csum(const void *p, size_t len, uint32_t sum)
{
	const uint8_t *b = p;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)b[i] << 8 | b[i + 1];
	if (len & 1)
		sum += (uint32_t)b[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

struct frame {
	struct ethhdr eth;
	struct iphdr ip;
	struct tcphdr tcp;
} __attribute__((packed));

/* A SYN from SPOOF_SRC (not the endpoint's address) to DST:dport, as the pod would send it */
static void build_syn(struct frame *f, uint16_t dport)
{
	memset(f, 0, sizeof(*f));
	memcpy(f->eth.h_dest, "\x02\x00\x00\x00\x00\x02", ETH_ALEN);
	memcpy(f->eth.h_source, "\x02\x00\x00\x00\x00\x01", ETH_ALEN);
	f->eth.h_proto = htons(ETH_P_IP);
	f->ip.version = 4;
	f->ip.ihl = 5;
	f->ip.ttl = 64;
	f->ip.protocol = IPPROTO_TCP;
	f->ip.tot_len = htons(sizeof(f->ip) + sizeof(f->tcp));
	inet_pton(AF_INET, SPOOF_SRC, &f->ip.saddr);
	inet_pton(AF_INET, DST, &f->ip.daddr);
	f->ip.check = htons(csum(&f->ip, sizeof(f->ip), 0));
	f->tcp.source = htons(40000);
	f->tcp.dest = htons(dport);
	f->tcp.seq = htonl(1);
	f->tcp.doff = 5;
	f->tcp.syn = 1;
	f->tcp.window = htons(64240);
}

/* n denies through the TC program, each a distinct (rate-limit) key: the port varies */
static int run_denies(int prog_fd, uint32_t ifindex, uint16_t port0, int n)
{
	struct frame f;
	struct __sk_buff skb = {.ifindex = ifindex};
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = &f, .data_size_in = sizeof(f),
		    .ctx_in = &skb, .ctx_size_in = sizeof(skb), .repeat = 1);

	for (int i = 0; i < n; i++) {
		build_syn(&f, (uint16_t)(port0 + i));
		if (bpf_prog_test_run_opts(prog_fd, &opts))
			return -errno;
		if (opts.retval != 2 /* TC_ACT_SHOT */)
			return -EPROTO;
	}
	return 0;
}

static uint64_t spoof_drops(struct pw_dp *dp)
{
	struct pw_metric m[PW_METRICS_SLOTS];

	if (pw_dp_metrics_read(dp, m))
		return UINT64_MAX;
	return m[PW_METRIC_IDX(PW_DROP_SPOOFED, PW_DIR_EGRESS)].packets;
}

struct file_counts {
	uint64_t denied; /* flow_denied records from SPOOF_SRC */
	uint64_t lost;	 /* sum of the lost records' "lost" */
	uint64_t lost_records;
	uint64_t last_lost_total;
	uint64_t bad_lines;
};

static int count_file(const char *path, struct file_counts *c)
{
	char *line = NULL;
	size_t cap = 0;
	FILE *f = fopen(path, "r");

	memset(c, 0, sizeof(*c));
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		json_object *rec = json_tokener_parse(line), *v, *ip;
		const char *kind = NULL;

		if (!rec || !json_object_object_get_ex(rec, "kind", &v)) {
			c->bad_lines++;
			json_object_put(rec);
			continue;
		}
		kind = json_object_get_string(v);
		if (!strcmp(kind, "lost")) {
			c->lost_records++;
			if (json_object_object_get_ex(rec, "lost", &v))
				c->lost += (uint64_t)json_object_get_int64(v);
			if (json_object_object_get_ex(rec, "lost_total", &v))
				c->last_lost_total = (uint64_t)json_object_get_int64(v);
		} else if (!strcmp(kind, "flow_denied") &&
			   json_object_object_get_ex(rec, "IP", &ip) &&
			   json_object_object_get_ex(ip, "source", &v) &&
			   !strcmp(json_object_get_string(v), SPOOF_SRC)) {
			c->denied++;
		}
		json_object_put(rec);
	}
	free(line);
	fclose(f);
	return 0;
}

int main(void)
{
	char veth[IFNAMSIZ], peer[IFNAMSIZ], path[64];
	struct pw_dp_opts dopts = {.sz = sizeof(dopts), .log = lib_log, .log_ctx = "datapath: "};
	struct pw_flowlog_opts fopts = {
		.sz = sizeof(fopts), .log = lib_log, .log_ctx = "flowlog: "};
	struct pw_endpoint ep = {.ep_id = 1, .identity = 256, .n_v4 = 1};
	struct pw_flowlog_stats st;
	struct file_counts fc;
	struct pw_dp *dp = NULL;
	struct pw_flowlog *fl = NULL;
	uint64_t m0, m1, lost1, decisions;
	uint32_t ifindex;
	cpu_set_t cpus;
	int prog, err;

	snprintf(path, sizeof(path), "/tmp/pw-flowov-%d.jsonl", (int)getpid());
	snprintf(veth, sizeof(veth), "pwfo%da", (int)getpid());
	snprintf(peer, sizeof(peer), "pwfo%db", (int)getpid());
	if (geteuid()) {
		fprintf(stderr, "nt_flow_overflow: needs root\n");
		return 1;
	}
	/* one ring fills: every test run (and so every sample) happens on CPU 0 */
	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	if (sched_setaffinity(0, sizeof(cpus), &cpus) || unshare(CLONE_NEWNET)) {
		fprintf(stderr, "nt_flow_overflow: affinity or private netns: %s\n",
			strerror(errno));
		return 1;
	}
	/* in the private netns only: it and the veths vanish with this process */
	if (sh("ip link add %s type veth peer name %s && ip link set %s up && ip link set %s up",
	       veth, peer, veth, peer)) {
		fprintf(stderr, "nt_flow_overflow: cannot make a veth pair\n");
		return 1;
	}
	ifindex = if_nametoindex(veth);

	err = pw_dp_open(&dopts, &dp);
	if (err) {
		fprintf(stderr, "pw_dp_open: %s\n", strerror(-err));
		return 1;
	}
	ep.ifindex = ifindex;
	inet_pton(AF_INET, EP_ADDR, &ep.v4[0]);
	/* the pod's MAC as a CNI result supplies it: the frames come from it */
	memcpy(ep.mac, "\x02\x00\x00\x00\x00\x01", sizeof(ep.mac));
	fopts.path = path;
	err = pw_dp_endpoint_upsert(dp, &ep);
	if (!err)
		err = pw_flowlog_new(&fopts, &fl);
	if (!err)
		err = pw_dp_events_open(dp, 1, pw_flowlog_on_event, pw_flowlog_on_lost, fl);
	prog = pw_dp_prog_fd(dp, PW_PROG_TC_INGRESS);
	if (err || prog < 0) {
		fprintf(stderr, "setup: %s\n", strerror(err ? -err : -prog));
		failures++;
		goto out;
	}

	/* 1. a burst with nobody reading: most of it cannot fit */
	m0 = spoof_drops(dp);
	err = run_denies(prog, ifindex, 1000, BURST);
	CHECK(!err, "%d spoofed SYNs dropped by the TC program (%s)", BURST,
	      err ? strerror(-err) : "TC_ACT_SHOT");
	err = pw_dp_events_consume(dp);
	CHECK(err >= 0, "the reader drained the ring: %d samples", err);
	CHECK(err >= 0 && pw_dp_events_lost(dp) == (uint64_t)(BURST - err),
	      "the loss is known before any later sample (%llu)",
	      (unsigned long long)pw_dp_events_lost(dp));
	/* the next sample carries the kernel's loss report, already counted */
	err = run_denies(prog, ifindex, 1000 + BURST, 1);
	CHECK(!err && pw_dp_events_consume(dp) >= 0, "one more deny, read");
	m1 = spoof_drops(dp);
	decisions = m1 - m0;
	lost1 = pw_dp_events_lost(dp);
	pw_flowlog_get_stats(fl, &st);
	CHECK(decisions == BURST + 1, "the datapath counted %llu decisions (want %d)",
	      (unsigned long long)decisions, BURST + 1);
	CHECK(lost1 > 0 && lost1 < decisions, "the 1-page ring overflowed: %llu lost",
	      (unsigned long long)lost1);
	CHECK(st.lost == lost1, "flow log lost total %llu == reader's %llu",
	      (unsigned long long)st.lost, (unsigned long long)lost1);
	CHECK(st.events + st.lost == decisions, "events %llu + lost %llu == decisions %llu",
	      (unsigned long long)st.events, (unsigned long long)st.lost,
	      (unsigned long long)decisions);
	CHECK(st.records == st.events + st.lost_reports,
	      "every event is a record (no rate limiting of distinct keys) plus %llu lost records",
	      (unsigned long long)st.lost_reports);
	pw_flowlog_sync(fl);
	err = count_file(path, &fc);
	CHECK(!err && !fc.bad_lines, "the file parses: %llu lines not JSON records",
	      (unsigned long long)fc.bad_lines);
	CHECK(fc.denied + fc.lost == decisions,
	      "file: %llu flow_denied + %llu in lost records == %llu decisions",
	      (unsigned long long)fc.denied, (unsigned long long)fc.lost,
	      (unsigned long long)decisions);
	CHECK(fc.lost_records == st.lost_reports && fc.last_lost_total == lost1,
	      "file: %llu lost records, the last carries lost_total %llu",
	      (unsigned long long)fc.lost_records, (unsigned long long)fc.last_lost_total);

	/* 2. a burst that fits loses nothing more */
	m0 = spoof_drops(dp);
	err = run_denies(prog, ifindex, 3000, SMALL);
	CHECK(!err && pw_dp_events_consume(dp) == SMALL, "%d denies that fit, all read", SMALL);
	decisions = spoof_drops(dp) - m0;
	pw_flowlog_get_stats(fl, &st);
	CHECK(decisions == SMALL && pw_dp_events_lost(dp) == lost1 && st.lost == lost1,
	      "no new loss (%llu lost in all)", (unsigned long long)st.lost);
	pw_flowlog_sync(fl);
	err = count_file(path, &fc);
	CHECK(!err && fc.denied + fc.lost == BURST + 1 + SMALL,
	      "file: %llu + %llu == every decision since the start (%d)",
	      (unsigned long long)fc.denied, (unsigned long long)fc.lost, BURST + 1 + SMALL);
out:
	pw_flowlog_free(fl);
	pw_dp_close(dp);
	unlink(path);
	printf("%s\n", failures ? "FAILED" : "PASSED");
	return failures ? 1 : 0;
}
