// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pwchurn: the churn soak's driver (issue 10). Against a running podwalld on a simulated node
 * (e2e/soak_churn.sh builds it), for SECONDS:
 *   - changes at RATE per second, alternating a label change (a client pod's `role` among
 *     a, b, c) and a policy change (the server's `churn` policy: ingress from role X on port
 *     P, X among a, b, c, P among 7000, 7001), each an apply on one held control-socket
 *     connection that returns once the kernel enforces it;
 *   - after a change, one connection from a random client to the server on a random port
 *     (after every change while the pace allows, after every fourth at least: no change is
 *     made while a check is in flight, so a check sees exactly one state), its verdict
 *     compared with a reference evaluation of the objects as applied
 *     (allowed iff the client's role is X and the port is P): an expected allow must connect
 *     within 1 s, an expected deny must not connect within 8 ms;
 *   - the daemon's VmRSS sampled every second.
 * Prints the figures; exits 1 on any wrong verdict, a failed apply, or memory that is not
 * flat: more than 1 MiB of growth over the second half of the run (the first half fills the
 * bounded buffers: the flow ring of `podwall flows`, the journal until its compaction). A run
 * shorter than 5 minutes is allowed 2 MiB: the flow log's fragment caches (4096 + 1024 + 1024
 * fixed slots, each a rendered pod or policy) keep filling for minutes while the churn makes
 * new identities; with 16-slot caches the same 60 s run grew 628 KiB instead of 1,376.
 *
 * usage: pwchurn SOCKET DAEMON_PID SECONDS RATE SERVER_IP CLIENT...
 *   CLIENT is NAME=IP=NETNS_PATH=CGROUP_DIR (a pod of namespace ch, role a at the start)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "proto.h"

#define MAX_CLIENTS 8

struct client {
	char name[64];
	char ip[64];
	int netns;	/* fd of its netns */
	char procs[512]; /* its cgroup's cgroup.procs */
	int role;	/* 0 a, 1 b, 2 c */
};

static const char *const roles[] = {"a", "b", "c"};
static struct client g_cl[MAX_CLIENTS];
static int g_ncl;
static int g_pol_role, g_pol_port = 7000;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kib(int pid)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "VmRSS:", 6))
			v = strtol(line + 6, NULL, 10);
	}
	fclose(f);
	return v;
}

static int apply(int fd, struct pw_linebuf *lb, const char *yaml)
{
	json_object *req = pw_proto_request(PW_OP_APPLY), *docs = json_object_new_array();
	json_object *doc = json_object_new_object(), *resp = NULL, *result, *diags;
	const char *msg = NULL;
	int err;

	json_object_object_add(doc, "name", json_object_new_string("churn.yaml"));
	json_object_object_add(doc, "data", json_object_new_string(yaml));
	json_object_array_add(docs, doc);
	json_object_object_add(req, "docs", docs);
	err = pw_proto_call(fd, lb, req, &resp);
	json_object_put(req);
	if (!err)
		err = pw_proto_response(resp, &result, &msg, &diags);
	if (err)
		fprintf(stderr, "pwchurn: apply failed: %s %s\n", strerror(-err), msg ?: "");
	json_object_put(resp);
	return err;
}

static void pod_yaml(char *buf, size_t len, const struct client *c, const char *ip)
{
	snprintf(buf, len,
		 "apiVersion: v1\nkind: Pod\nmetadata:\n  namespace: ch\n  name: %s\n"
		 "  labels: {role: %s}\n  annotations: {podwall.io/interface: lxc-%s, "
		 "podwall.io/cgroup: ch/%s}\nstatus:\n  podIP: %s\n",
		 c->name, roles[c->role], c->name, c->name, ip);
}

static void policy_yaml(char *buf, size_t len)
{
	snprintf(buf, len,
		 "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {namespace: ch, "
		 "name: churn}\nspec:\n  podSelector: {matchLabels: {app: server}}\n  ingress:\n"
		 "  - from: [{podSelector: {matchLabels: {role: %s}}}]\n    ports: [{port: %d}]\n",
		 roles[g_pol_role], g_pol_port);
}

/* A TCP connect from client c to ip:port: 1 connected, 0 not within wait_ms, -errno. */
static int probe(const struct client *c, const char *ip, int port, int wait_ms)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	char pid[32];
	int fd, pfd, n, so = 0, r;
	socklen_t sl = sizeof(so);
	struct pollfd p;

	/* its cgroup first (the socket programs find the pod by it), then its netns */
	pfd = open(c->procs, O_WRONLY | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	n = snprintf(pid, sizeof(pid), "%d", (int)getpid());
	r = write(pfd, pid, (size_t)n) == n ? 0 : -errno;
	close(pfd);
	if (r)
		return r;
	if (setns(c->netns, CLONE_NEWNET))
		return -errno;
	inet_pton(AF_INET, ip, &sa.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) && errno != EINPROGRESS) {
		r = errno == EPERM ? 0 : -errno;
		close(fd);
		return r;
	}
	p = (struct pollfd){.fd = fd, .events = POLLOUT};
	n = poll(&p, 1, wait_ms);
	if (n > 0 && !getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &sl) && !so)
		r = 1;
	else
		r = 0;
	close(fd);
	return r;
}

int main(int argc, char **argv)
{
	struct pw_linebuf lb;
	double start, end, next, last_sample = 0;
	long rss_first = -1, rss_warm = -1, rss_half = -1, rss_max = 0, rss_last = -1, trace[10];
	int n_trace = 0;
	unsigned long changes = 0, probes = 0, wrong = 0, allowed = 0, failed = 0;
	int fd, dpid, secs, rate, i;
	const char *ip;
	char buf[2048];
	unsigned int seed = 20261203;

	if (argc < 7) {
		fprintf(stderr, "usage: pwchurn SOCKET DAEMON_PID SECONDS RATE SERVER_IP "
				"NAME=IP=NETNS_PATH=CGROUP_DIR...\n");
		return 2;
	}
	dpid = atoi(argv[2]);
	secs = atoi(argv[3]);
	rate = atoi(argv[4]);
	ip = argv[5];
	for (i = 6; i < argc && g_ncl < MAX_CLIENTS; i++) {
		struct client *c = &g_cl[g_ncl++];
		char *a = strdup(argv[i]), *ip = strchr(a, '='), *ns = ip ? strchr(ip + 1, '=') : NULL;
		char *cg = ns ? strchr(ns + 1, '=') : NULL;

		if (!cg) {
			fprintf(stderr, "pwchurn: client \"%s\": expected NAME=IP=NETNS=CGROUP\n",
				argv[i]);
			return 2;
		}
		*ip++ = '\0';
		*ns++ = '\0';
		*cg++ = '\0';
		snprintf(c->name, sizeof(c->name), "%s", a);
		snprintf(c->ip, sizeof(c->ip), "%s", ip);
		snprintf(c->procs, sizeof(c->procs), "%s/cgroup.procs", cg);
		c->netns = open(ns, O_RDONLY | O_CLOEXEC);
		if (c->netns < 0) {
			fprintf(stderr, "pwchurn: %s: %s\n", ns, strerror(errno));
			return 2;
		}
		free(a);
	}
	fd = pw_proto_connect(argv[1]);
	if (fd < 0) {
		fprintf(stderr, "pwchurn: %s: %s\n", argv[1], strerror(-fd));
		return 2;
	}
	pw_linebuf_init(&lb, PW_PROTO_MAX_LINE);
	/* the starting state: every client role a, the policy on a/7000 */
	policy_yaml(buf, sizeof(buf));
	if (apply(fd, &lb, buf))
		return 1;
	start = now_s();
	end = start + secs;
	next = start;
	while (now_s() < end) {
		int k = (int)(rand_r(&seed) % (unsigned)g_ncl), port, want, got;
		double t = now_s();

		if (t - last_sample >= 1.0) {
			long r = rss_kib(dpid);

			last_sample = t;
			if (rss_first < 0)
				rss_first = r;
			if (rss_warm < 0 && t - start >= secs / 10.0)
				rss_warm = r;
			if (rss_half < 0 && t - start >= secs / 2.0)
				rss_half = r;
			if (r > rss_max)
				rss_max = r;
			rss_last = r;
			while (n_trace < 10 && t - start >= secs * n_trace / 10.0)
				trace[n_trace++] = r;
		}
		/* the change */
		if (changes % 2 == 0) {
			g_cl[k].role = (int)(rand_r(&seed) % 3);
			pod_yaml(buf, sizeof(buf), &g_cl[k], g_cl[k].ip);
		} else {
			g_pol_role = (int)(rand_r(&seed) % 3);
			g_pol_port = 7000 + (int)(rand_r(&seed) % 2);
			policy_yaml(buf, sizeof(buf));
		}
		if (apply(fd, &lb, buf)) {
			failed++;
			break;
		}
		changes++;
		next += 1.0 / rate;
		if (now_s() > next && changes % 4)
			continue; /* behind the pace: this change goes unchecked */
		/* the check, against the reference: the objects as applied */
		k = (int)(rand_r(&seed) % (unsigned)g_ncl);
		port = 7000 + (int)(rand_r(&seed) % 2);
		want = g_cl[k].role == g_pol_role && port == g_pol_port;
		got = probe(&g_cl[k], ip, port, want ? 1000 : 8);
		if (got < 0) {
			fprintf(stderr, "pwchurn: probe from %s: %s\n", g_cl[k].name, strerror(-got));
			failed++;
			break;
		}
		probes++;
		allowed += got;
		if (got != want) {
			wrong++;
			fprintf(stderr,
				"pwchurn: WRONG after change %lu: %s (role %s) -> %s:%d %s, reference "
				"says %s (policy: role %s port %d)\n",
				changes, g_cl[k].name, roles[g_cl[k].role], ip, port,
				got ? "connected" : "no answer", want ? "allow" : "deny",
				roles[g_pol_role], g_pol_port);
		}
		/* pace: RATE changes per second, never faster */
		t = now_s();
		if (next > t)
			usleep((useconds_t)((next - t) * 1e6));
	}
	if (rss_warm < 0)
		rss_warm = rss_first;
	printf("churn: %lu changes in %.1f s (%.1f/s, target %d/s), %lu verdicts checked "
	       "(%lu allowed), %lu wrong, %lu failures\n",
	       changes, now_s() - start, changes / (now_s() - start), rate, probes, allowed, wrong,
	       failed);
	printf("daemon VmRSS: %ld KiB at start, %ld KiB after the first tenth, %ld KiB max, "
	       "%ld KiB at the end\n",
	       rss_first, rss_warm, rss_max, rss_last);
	printf("daemon VmRSS by tenth of the run (KiB):");
	for (i = 0; i < n_trace; i++)
		printf(" %ld", trace[i]);
	printf("\n");
	pw_linebuf_free(&lb);
	close(fd);
	if (rss_half < 0)
		rss_half = rss_warm;
	printf("daemon VmRSS over the second half: %+ld KiB\n", rss_last - rss_half);
	/* under AddressSanitizer the allocator's quarantine keeps freed memory (up to 256 MiB):
	 * RSS says nothing about leaks there, LeakSanitizer does */
	if (getenv("ASAN_OPTIONS")) {
		printf("daemon VmRSS not judged: an AddressSanitizer run\n");
	} else if (rss_last - rss_half > (secs >= 300 ? 1024 : 2048)) {
		printf("churn: memory is not flat: %ld KiB more over the second half\n",
		       rss_last - rss_half);
		return 1;
	}
	return wrong || failed ? 1 : 0;
}
