// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Services, live: Service and EndpointSlice manifests go through the real parser and core onto
 * the real datapath of a simulated node; a client pod connects to the ClusterIP.
 *
 * Pod 1 is the client. Pods 2..5 run a "who" server on ports 7100 and 7101 (TCP and UDP, IPv4
 * and IPv6) that answers "<pod>:<port>", so every probe knows which backend and which port it
 * reached. Pod 2 names its container port 7100 "echo", pod 3 names 7101 "echo": a named
 * targetPort must resolve per pod.
 */
#define _GNU_SOURCE
#include "nt_checks.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define NT_EXIT_SETUP 101 /* as the harness: the child could not start */
#include <netinet/in.h>

#include "cp.h"
#include "parse.h"

#define NPODS	  5
#define SRV_PORT  7100
#define SRV_PORT2 7101
#define NPROBE	  40
#define LOAD_MAX  30000 /* a few seconds of back-to-back connections */
#define CIP4	  "198.19.96.10"
#define CIP6	  "fd00:96::10"
#define CIP4_B	  "198.19.96.20"
#define SVC_CIDRS "198.19.96.0/24,fd00:96::/112"
/* a probe result: pod << 16 | port when answered, else -errno */
#define RES(pod, port) ((int32_t)((pod) << 16 | (port)))

static void dump_maps(struct nt_env *env);

static struct {
	struct pw_cp *cp;
	struct nt_child srv[NPODS + 1];
} S;

/* --- the "who" server -------------------------------------------------------------------- */

static void who_serve(struct nt_env *env, struct nt_pod *pod, void *arg, int res_fd, int cmd_fd)
{
	static const uint16_t ports[] = {SRV_PORT, SRV_PORT2};
	struct pollfd pfd[8];
	int types[8];
	uint16_t port_of[8];
	int n = 0;

	for (size_t p = 0; p < 2; p++) {
		for (size_t f = 0; f < 2; f++) {
			for (int t = 0; t < 2; t++) {
				int type = t ? SOCK_DGRAM : SOCK_STREAM;
				int fd = nt_server_socket(nt_fams[f], type, ports[p]);

				if (fd < 0)
					_exit(NT_EXIT_SETUP);
				pfd[n] = (struct pollfd){.fd = fd, .events = POLLIN};
				types[n] = type;
				port_of[n++] = ports[p];
			}
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (write(res_fd, "R", 1) != 1)
		_exit(NT_EXIT_SETUP);
	for (;;) {
		if (poll(pfd, (nfds_t)n, -1) < 0)
			continue;
		for (int i = 0; i < n; i++) {
			struct sockaddr_storage from;
			socklen_t fl = sizeof(from);
			char msg[32], buf[64];
			int len, c;

			if (!(pfd[i].revents & POLLIN))
				continue;
			len = snprintf(msg, sizeof(msg), "%d:%u", pod->idx, port_of[i]);
			if (types[i] == SOCK_STREAM) {
				c = accept4(pfd[i].fd, NULL, NULL, SOCK_CLOEXEC);
				if (c >= 0) {
					/* a client that gave up must not kill the server */
					if (send(c, msg, (size_t)len, MSG_NOSIGNAL) < 0) {
						/* nothing to tell it */
					}
					close(c);
				}
			} else if (recvfrom(pfd[i].fd, buf, sizeof(buf), 0,
					    (struct sockaddr *)&from, &fl) >= 0) {
				sendto(pfd[i].fd, msg, (size_t)len, 0, (struct sockaddr *)&from,
				       fl);
			}
		}
	}
}

/* --- the client ------------------------------------------------------------------------------ */

struct probe_req {
	int family;
	int type; /* SOCK_STREAM or SOCK_DGRAM (unconnected sendto/recvfrom) */
	struct sockaddr_storage dst;
	socklen_t dstlen;
	bool connected; /* SOCK_DGRAM: connect() then send()/recv() */
	int n;		/* attempts; with until_cmd, at most this many */
	bool until_cmd; /* stop when the parent writes to cmd_fd */
};

struct probe_out {
	int32_t n;
	int32_t peer_bad; /* answers whose peer name (getpeername, recvfrom) was not dst */
	int32_t res[LOAD_MAX];
	uint64_t t0[LOAD_MAX];	    /* when the attempt started (CLOCK_MONOTONIC, us) */
	uint32_t elapsed[LOAD_MAX]; /* connect (TCP) or sendto (UDP) duration, us */
};

static int32_t parse_answer(const char *buf, ssize_t n)
{
	unsigned int pod, port;
	char tmp[32];

	if (n <= 0 || n >= (ssize_t)sizeof(tmp))
		return -EPROTO;
	memcpy(tmp, buf, (size_t)n);
	tmp[n] = 0;
	if (sscanf(tmp, "%u:%u", &pod, &port) != 2)
		return -EPROTO;
	return RES(pod, port);
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_addr.s_addr == y->sin_addr.s_addr && x->sin_port == y->sin_port;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

	return !memcmp(&x->sin6_addr, &y->sin6_addr, 16) && x->sin6_port == y->sin6_port;
}

static int wait_fd(int fd, short ev, int ms)
{
	struct pollfd p = {.fd = fd, .events = ev};
	int r = poll(&p, 1, ms);

	return r == 1 ? 0 : r == 0 ? -ETIMEDOUT : -errno;
}

static int32_t probe_once(const struct probe_req *rq, struct probe_out *o, int i)
{
	const struct sockaddr *dst = (const struct sockaddr *)&rq->dst;
	bool connected = rq->type == SOCK_STREAM || rq->connected;
	struct sockaddr_storage peer;
	socklen_t pl = sizeof(peer);
	uint64_t t0 = nt_now_us();
	char buf[64];
	ssize_t n;
	int fd, err = 0;
	int32_t r;

	o->t0[i] = t0;
	fd = socket(rq->family, rq->type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connected) {
		/* a connected UDP socket: connect() translates once, send() needs no hook */
		err = connect(fd, dst, rq->dstlen) ? -errno : 0;
		if (err == -EINPROGRESS) {
			socklen_t el = sizeof(err);

			err = wait_fd(fd, POLLOUT, NT_TMO_MS);
			if (!err && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0)
				err = -err;
		}
		if (!err && rq->type == SOCK_DGRAM && send(fd, "?", 1, 0) < 0)
			err = -errno;
	} else if (sendto(fd, "?", 1, 0, dst, rq->dstlen) < 0) {
		err = -errno;
	}
	o->elapsed[i] = (uint32_t)(nt_now_us() - t0);
	if (err) {
		close(fd);
		return err;
	}
	if (connected &&
	    (getpeername(fd, (struct sockaddr *)&peer, &pl) || !same_addr(&peer, &rq->dst)))
		o->peer_bad++;
	err = wait_fd(fd, POLLIN, NT_TMO_MS);
	pl = sizeof(peer);
	n = err ? -1 : recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&peer, &pl);
	/* a UDP reply must seem to come from the ClusterIP, or the client would drop it */
	if (n > 0 && rq->type == SOCK_DGRAM && !same_addr(&peer, &rq->dst))
		o->peer_bad++;
	r = err ? err : parse_answer(buf, n);
	close(fd);
	return r;
}

static void probe_child(struct nt_env *env, struct nt_pod *pod, void *arg, int res_fd, int cmd_fd)
{
	const struct probe_req *rq = arg;
	struct probe_out *o = calloc(1, sizeof(*o));
	size_t off = 0;

	if (!o)
		_exit(NT_EXIT_SETUP);
	for (int i = 0; i < rq->n && i < LOAD_MAX; i++) {
		if (rq->until_cmd && !wait_fd(cmd_fd, POLLIN, 0))
			break;
		o->res[i] = probe_once(rq, o, i);
		o->n = i + 1;
	}
	while (off < sizeof(*o)) {
		ssize_t w = write(res_fd, (char *)o + off, sizeof(*o) - off);

		if (w <= 0)
			_exit(NT_EXIT_SETUP);
		off += (size_t)w;
	}
	_exit(0);
}

static int read_all(int fd, void *p, size_t len, int ms)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r;

		if (wait_fd(fd, POLLIN, ms))
			return -ETIMEDOUT;
		r = read(fd, (char *)p + got, len - got);
		if (r <= 0)
			return -EIO;
		got += (size_t)r;
	}
	return 0;
}

static socklen_t addr_of(const char *ip, uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *s6 = (void *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		inet_pton(AF_INET6, ip, &s6->sin6_addr);
		return sizeof(*s6);
	}
	struct sockaddr_in *s4 = (void *)ss;

	s4->sin_family = AF_INET;
	s4->sin_port = htons(port);
	inet_pton(AF_INET, ip, &s4->sin_addr);
	return sizeof(*s4);
}

static void req_fill(struct probe_req *rq, const char *ip, uint16_t port, int type, int n)
{
	memset(rq, 0, sizeof(*rq));
	rq->dstlen = addr_of(ip, port, &rq->dst);
	rq->family = rq->dst.ss_family;
	rq->type = type;
	rq->n = n;
}

/* Run n probes from pod 1; the result in *o (caller frees). */
static struct probe_out *probe(struct nt_env *env, const struct probe_req *rq)
{
	struct probe_out *o = calloc(1, sizeof(*o));
	struct nt_child c;

	assert_non_null(o);
	assert_int_equal(nt_child_start(env, 1, "svcprobe", probe_child, (void *)rq, &c), 0);
	assert_int_equal(read_all(c.res_fd, o, sizeof(*o), (rq->n + 2) * 2 * NT_TMO_MS), 0);
	nt_child_stop(env, &c);
	return o;
}

/* --- the core ----------------------------------------------------------------------------------
 */

/* Parse and apply; 0, or the error with every diagnostic's text in err. */
static int apply(const char *yaml, char *err, size_t len)
{
	struct pw_manifest *m = NULL;
	struct pw_diags d = {0};
	size_t off = 0;
	int r;

	r = pw_parse_buffer("svc.yaml", yaml, strlen(yaml), NULL, &m, &d);
	if (!r)
		r = pw_cp_apply(S.cp, "cli", m, &d);
	if (err && len) {
		err[0] = 0;
		for (size_t i = 0; i < d.n && off < len; i++)
			off += (size_t)snprintf(err + off, len - off, "%s\n", d.v[i].text);
	}
	pw_manifest_free(m);
	pw_diags_clear(&d);
	return r;
}

static void apply_ok(const char *yaml)
{
	char err[4096];
	int r = apply(yaml, err, sizeof(err));

	if (r)
		fprintf(stderr, "apply failed: %s\n%s", strerror(-r), err);
	assert_int_equal(r, 0);
}

static void pod_ip(const struct nt_env *env, int pod, int family, char *buf, size_t len)
{
	inet_ntop(family,
		  family == AF_INET ? (const void *)&env->pods[pod].v4
				    : (const void *)&env->pods[pod].v6,
		  buf, (socklen_t)len);
}

/* Pods 1..NPODS with labels app=p<i>, bound to the harness's interfaces and cgroups. */
static void apply_pods(struct nt_env *env)
{
	char *doc = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&doc, &len);

	assert_non_null(f);
	for (int i = 1; i <= NPODS; i++) {
		char v4[64], v6[64];

		pod_ip(env, i, AF_INET, v4, sizeof(v4));
		pod_ip(env, i, AF_INET6, v6, sizeof(v6));
		fprintf(f,
			"---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p%d\n"
			"  labels: {app: p%d}\n  annotations:\n    podwall.io/interface: %s\n"
			"    podwall.io/cgroup: p%d\nspec:\n  containers:\n  - name: c\n"
			"    ports:\n    - {name: echo, containerPort: %d}\n"
			"status:\n  podIPs:\n  - ip: %s\n  - ip: \"%s\"\n",
			i, i, env->pods[i].host_if, i, i == 3 ? SRV_PORT2 : SRV_PORT, v4, v6);
	}
	fclose(f);
	apply_ok(doc);
	free(doc);
}

/* An EndpointSlice document: pods in `ready` are ready, those in `unready` are not. */
static void slice_doc(FILE *f, struct nt_env *env, const char *name, const char *svc, int family,
		      const char *ports, const int *ready, const int *unready)
{
	fprintf(f,
		"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n"
		"  name: %s\n  labels: {kubernetes.io/service-name: %s}\naddressType: %s\n"
		"ports:\n%sendpoints:\n",
		name, svc, family == AF_INET ? "IPv4" : "IPv6", ports);
	for (int k = 0; k < 2; k++) {
		for (const int *p = k ? unready : ready; p && *p; p++) {
			char ip[64];

			pod_ip(env, *p, family, ip, sizeof(ip));
			fprintf(f,
				"- addresses: [\"%s\"]\n  conditions: {ready: %s}\n"
				"  targetRef: {kind: Pod, name: p%d}\n",
				ip, k ? "false" : "true", *p);
		}
	}
}

#define WEB_PORTS                                     \
	"- {name: http, protocol: TCP, port: 7100}\n" \
	"- {name: dns, protocol: UDP, port: 7100}\n"

static const char web_svc[] = "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n"
			      "  clusterIP: " CIP4 "\n  clusterIPs: [" CIP4 ", \"" CIP6 "\"]\n"
			      "  ports:\n  - {name: http, port: 80, targetPort: 7100}\n"
			      "  - {name: dns, port: 53, protocol: UDP, targetPort: 7100}\n";

/* Service web: IPv4 and IPv6; backends `ready` (0-terminated); pod 4 listed, not ready. */
static void apply_web(struct nt_env *env, const int *ready)
{
	static const int unready[] = {4, 0};
	char *doc = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&doc, &len);

	assert_non_null(f);
	fputs(web_svc, f);
	slice_doc(f, env, "web-v4", "web", AF_INET, WEB_PORTS, ready, unready);
	slice_doc(f, env, "web-v6", "web", AF_INET6, WEB_PORTS, ready, unready);
	fclose(f);
	apply_ok(doc);
	free(doc);
	dump_maps(env);
}

static void dump_maps(struct nt_env *env)
{
	struct pw_dp_iter it;
	struct pw_svc_key k;
	struct pw_svc_val v;
	uint32_t id;
	struct pw_backend b;

	if (!getenv("NT_DUMP"))
		return;
	pw_dp_iter_init(env->dp, PW_DPMAP_SVC, &it);
	while (pw_dp_iter_next(&it, &k, &v) == 1)
		fprintf(stderr, "svc %08x:%u/%u slot %u -> be %u count %u id %u\n",
			ntohl(k.addr[0]), ntohs(k.port), k.proto, k.slot, v.backend_id, v.count,
			v.svc_id);
	pw_dp_iter_init(env->dp, PW_DPMAP_BACKEND, &it);
	while (pw_dp_iter_next(&it, &id, &b) == 1)
		fprintf(stderr, "be %u -> %08x:%u fam %u\n", id, ntohl(b.addr[0]), ntohs(b.port),
			b.family);
}

static int svc_setup(void **state)
{
	struct nt_env *env = *state;
	struct pw_cp_opts co = {.sz = sizeof(co)};

	if (nt_dp_open(env, NT_DP_EVENTS))
		return -1;
	co.dp = env->dp;
	co.cgroup_root = env->cgroot;
	co.service_cidrs = SVC_CIDRS;
	if (pw_cp_new(&co, &S.cp)) {
		nt_dp_destroy(env);
		return -1;
	}
	/* the servers are children of the test: the teardown's nt_kids_kill() stops them */
	for (int i = 2; i <= NPODS; i++) {
		char r = 0;

		if (nt_child_start(env, i, "who", who_serve, NULL, &S.srv[i]) ||
		    read_all(S.srv[i].res_fd, &r, 1, 2000) || r != 'R')
			return -1;
	}
	apply_pods(env);
	return 0;
}

static int svc_teardown(void **state)
{
	struct nt_env *env = *state;

	for (int i = 2; i <= NPODS; i++) {
		if (S.srv[i].pid > 0)
			nt_child_stop(env, &S.srv[i]);
	}
	nt_kids_kill(env);
	pw_cp_free(S.cp);
	S.cp = NULL;
	return nt_dp_destroy(env) ? -1 : 0;
}

static int group_setup(void **state)
{
	struct nt_env *env;

	if (nt_env_setup(NPODS, &env))
		return -1;
	*state = env;
	return 0;
}

/* counts[pod] of answers; fails on anything but an answer from an allowed (pod, port) */
static void tally(const struct probe_out *o, const int32_t *allowed, int *counts)
{
	memset(counts, 0, (NPODS + 1) * sizeof(*counts));
	for (int i = 0; i < o->n; i++) {
		bool ok = false;

		for (const int32_t *a = allowed; *a; a++)
			ok |= o->res[i] == *a;
		if (!ok)
			fprintf(stderr, "probe %d: unexpected result %d (pod %d port %d)\n", i,
				o->res[i], o->res[i] >> 16, o->res[i] & 0xffff);
		assert_true(ok);
		if (o->res[i] > 0)
			counts[o->res[i] >> 16]++;
	}
}

/* --- tests -------------------------------------------------------------------------------------
 */

/* TCP and UDP, IPv4 and IPv6: only ready backends answer, every one of them; UDP replies and
 * getpeername() show the ClusterIP. */
static void test_spread_ready_only(void **state)
{
	static const int ready[] = {2, 3, 0};
	static const int32_t allowed[] = {RES(2, SRV_PORT), RES(3, SRV_PORT), 0};
	struct nt_env *env = *state;
	const char *ips[] = {CIP4, CIP6, "::ffff:" CIP4};
	int counts[NPODS + 1];

	apply_web(env, ready);
	/* IPv4 and IPv6; TCP, unconnected UDP, connected UDP; and a dual-stack socket calling
	 * the IPv4 ClusterIP as ::ffff:a.b.c.d */
	for (int f = 0; f < 3; f++) {
		for (int t = 0; t < 3; t++) {
			struct probe_req rq;
			struct probe_out *o;

			req_fill(&rq, ips[f], t ? 53 : 80, t ? SOCK_DGRAM : SOCK_STREAM, NPROBE);
			rq.connected = t == 2;
			o = probe(env, &rq);
			assert_int_equal(o->n, NPROBE);
			tally(o, allowed, counts);
			assert_int_equal(counts[2] + counts[3], NPROBE);
			assert_true(counts[2] > 0 && counts[3] > 0);
			assert_int_equal(o->peer_bad, 0);
			free(o);
		}
	}
}

/* targetPort "echo" resolves per pod: pod 2's echo is 7100, pod 3's is 7101. */
static void test_named_target_port(void **state)
{
	static const int ready[] = {2, 3, 0};
	static const int32_t allowed[] = {RES(2, SRV_PORT), RES(3, SRV_PORT2), 0};
	struct nt_env *env = *state;
	int counts[NPODS + 1];
	struct probe_req rq;
	struct probe_out *o;
	char *doc = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&doc, &len);

	assert_non_null(f);
	fputs("---\napiVersion: v1\nkind: Service\nmetadata: {name: named}\nspec:\n"
	      "  clusterIP: " CIP4_B "\n  ports:\n  - {name: web, port: 8080, targetPort: echo}\n",
	      f);
	/* the slice port has no number: the controller could not give one for all pods */
	slice_doc(f, env, "named-v4", "named", AF_INET, "- {name: web, protocol: TCP}\n", ready,
		  NULL);
	fclose(f);
	apply_ok(doc);
	free(doc);

	req_fill(&rq, CIP4_B, 8080, SOCK_STREAM, NPROBE);
	o = probe(env, &rq);
	tally(o, allowed, counts);
	assert_true(counts[2] > 0 && counts[3] > 0);
	free(o);
}

static bool deny4_match(const struct pw_event *ev, const void *arg)
{
	(void)arg;
	return ev->type == PW_EV_SOCK_DENY && ev->family == PW_FAMILY_V4;
}

/*
 * Egress policy allowing backend pod 2 only: a connection lands on pod 2 or fails at once
 * with EPERM, never reaches pod 3; the record names the Service frontend and the backend.
 * Allowing only a pod that backs nothing: every connection is denied at connect().
 */
static void test_policy_on_backend(void **state)
{
	static const int ready[] = {2, 3, 0};
	static const int32_t allowed[] = {RES(2, SRV_PORT), -EPERM, 0};
	struct nt_env *env = *state;
	int counts[NPODS + 1], denied = 0;
	struct sockaddr_storage cip;
	struct probe_req rq;
	struct probe_out *o;
	struct pw_event ev;
	uint32_t a3[4];

	apply_web(env, ready);
	apply_ok("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: eg}\n"
		 "spec:\n  podSelector: {matchLabels: {app: p1}}\n  policyTypes: [Egress]\n"
		 "  egress:\n  - to: [{podSelector: {matchLabels: {app: p2}}}]\n"
		 "    ports: [{protocol: TCP, port: 7100}]\n");
	for (int f = 0; f < 2; f++) {
		req_fill(&rq, f ? CIP6 : CIP4, 80, SOCK_STREAM, NPROBE);
		o = probe(env, &rq);
		tally(o, allowed, counts);
		assert_true(counts[2] > 0);
		for (int i = 0; i < o->n; i++) {
			if (o->res[i] != -EPERM)
				continue;
			denied++;
			assert_true(o->elapsed[i] < NT_FAST_US);
		}
		assert_true(denied > 0);
		free(o);
	}
	/* the deny record: backend pod 3 as destination, the frontend in the source fields */
	env->nevents = 0;
	req_fill(&rq, CIP4, 80, SOCK_STREAM, NPROBE);
	o = probe(env, &rq);
	free(o);
	assert_int_equal(nt_event_wait(env, deny4_match, NULL, NT_TMO_MS, &ev), 0);
	assert_int_equal(ev.reason, PW_DROP_POLICY);
	assert_true(ev.flags & PW_EV_F_SVC);
	addr_of(CIP4, 80, &cip);
	assert_int_equal(ev.saddr[0], ((struct sockaddr_in *)&cip)->sin_addr.s_addr);
	assert_int_equal(ntohs(ev.sport), 80);
	nt_pod_addr(env, 3, AF_INET, a3);
	assert_memory_equal(ev.daddr, a3, sizeof(a3));
	assert_int_equal(ntohs(ev.dport), SRV_PORT);

	/* only pod 5 allowed, which backs nothing: denied at connect(), every time */
	apply_ok("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: eg}\n"
		 "spec:\n  podSelector: {matchLabels: {app: p1}}\n  policyTypes: [Egress]\n"
		 "  egress:\n  - to: [{podSelector: {matchLabels: {app: p5}}}]\n");
	req_fill(&rq, CIP4, 80, SOCK_STREAM, 10);
	o = probe(env, &rq);
	for (int i = 0; i < o->n; i++) {
		assert_int_equal(o->res[i], -EPERM);
		assert_true(o->elapsed[i] < NT_FAST_US);
	}
	free(o);
}

/* A raw socket never calls connect(): its SYN to the ClusterIP meets TC, which judges it. */
static void test_raw_to_cluster_ip_at_tc(void **state)
{
	static const int ready[] = {2, 3, 0};
	struct nt_env *env = *state;
	struct nt_ev_want w = {.type = PW_EV_DROP, .dport = 80, .direction = PW_DIR_EGRESS};
	struct sockaddr_storage cip;
	struct nt_result r;
	struct pw_event ev;
	socklen_t l;

	apply_web(env, ready);
	apply_ok("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: eg}\n"
		 "spec:\n  podSelector: {matchLabels: {app: p1}}\n  policyTypes: [Egress]\n"
		 "  egress:\n  - to: [{podSelector: {matchLabels: {app: p2}}}]\n");
	l = addr_of(CIP4, 80, &cip);
	env->nevents = 0;
	assert_int_equal(nt_raw_syn_to(env, 1, &cip, l, 40123, &r), 0);
	assert_int_equal(r.err, 0);
	assert_int_equal(nt_event_wait(env, nt_ev_match, &w, NT_TMO_MS, &ev), 0);
	assert_int_equal(ev.reason, PW_DROP_POLICY);
	assert_int_equal(ev.daddr[0], ((struct sockaddr_in *)&cip)->sin_addr.s_addr);
	assert_int_equal(ev.dst_identity, PW_ID_WORLD);
}

/* No ready backend: connect() and sendto() fail at once with ECONNREFUSED, with a record. */
static void test_no_ready_backend(void **state)
{
	static const int none[] = {0};
	struct nt_env *env = *state;
	struct nt_ev_want w = {.type = PW_EV_SOCK_DENY, .direction = -1};
	struct probe_req rq;
	struct probe_out *o;
	struct pw_event ev;

	apply_web(env, none); /* pod 4 listed, not ready */
	/* a Service without any slice has no backend either */
	apply_ok("apiVersion: v1\nkind: Service\nmetadata: {name: lonely}\nspec:\n"
		 "  clusterIP: " CIP4_B "\n  ports: [{port: 80}]\n");
	env->nevents = 0;
	for (int k = 0; k < 3; k++) {
		req_fill(&rq, k == 2 ? CIP4_B : CIP4, k == 1 ? 53 : 80,
			 k == 1 ? SOCK_DGRAM : SOCK_STREAM, 5);
		o = probe(env, &rq);
		for (int i = 0; i < o->n; i++) {
			assert_int_equal(o->res[i], -ECONNREFUSED);
			assert_true(o->elapsed[i] < NT_FAST_US);
		}
		free(o);
	}
	assert_int_equal(nt_event_wait(env, nt_ev_match, &w, NT_TMO_MS, &ev), 0);
	assert_int_equal(ev.reason, PW_DROP_NO_BACKEND);
	assert_true(ev.flags & PW_EV_F_SVC);
}

/* The core's Service counters: frontends, backends, backend flows ended */
static int64_t status_int(const char *key)
{
	struct pw_cp_counts c;
	int64_t n = -1;

	assert_int_equal(pw_cp_counts(S.cp, &c), 0);
	if (!strcmp(key, "frontends"))
		n = (int64_t)c.svc_frontends;
	else if (!strcmp(key, "backends"))
		n = (int64_t)c.svc_backends;
	else if (!strcmp(key, "backendFlowsEnded"))
		n = (int64_t)c.svc_flows_ended;
	else if (!strcmp(key, "backendConnsEnded"))
		n = (int64_t)c.svc_conns_ended;
	else if (!strcmp(key, "backendEndFailures"))
		n = (int64_t)c.svc_end_failures;
	pw_cp_counts_free(&c);
	return n;
}

/*
 * Slice change under load: a client connects in a loop while pod 3 leaves the slice. No
 * connection that starts after apply returns reaches pod 3; its conntrack entries go.
 */
static void test_slice_change_under_load(void **state)
{
	static const int both[] = {2, 3, 0}, one[] = {2, 0};
	struct nt_env *env = *state;
	struct timespec ts = {0, 300 * 1000 * 1000};
	int before3 = 0, after2 = 0, after3 = 0;
	struct probe_req rq;
	struct probe_out *o = calloc(1, sizeof(*o));
	struct nt_child c;
	int64_t ended0;
	uint64_t t_apply;

	assert_non_null(o);
	apply_web(env, both);
	ended0 = status_int("backendFlowsEnded");
	req_fill(&rq, CIP4, 80, SOCK_STREAM, LOAD_MAX);
	rq.until_cmd = true;
	assert_int_equal(nt_child_start(env, 1, "svcload", probe_child, &rq, &c), 0);
	nanosleep(&ts, NULL);
	apply_web(env, one);
	t_apply = nt_now_us();
	nanosleep(&ts, NULL);
	assert_int_equal(write(c.cmd_fd, "x", 1), 1);
	assert_int_equal(read_all(c.res_fd, o, sizeof(*o), 10000), 0);
	nt_child_stop(env, &c);
	for (int i = 0; i < o->n; i++) {
		int pod = o->res[i] > 0 ? o->res[i] >> 16 : 0;

		if (o->t0[i] < t_apply) {
			before3 += pod == 3;
			continue;
		}
		after2 += pod == 2;
		after3 += pod == 3;
		/* after the apply, every connection is answered, by pod 2 */
		assert_int_equal(o->res[i], RES(2, SRV_PORT));
	}
	assert_true(before3 > 0);
	assert_true(after2 > 0);
	assert_int_equal(after3, 0);
	/* pod 3's flows (closing, not yet swept) ended with it */
	assert_true(status_int("backendFlowsEnded") > ended0);
	assert_int_equal(status_int("backends"), 4); /* pod 2: TCP + UDP, IPv4 + IPv6 */
	free(o);
}

/* A TCP connection held through a ClusterIP: 'R' when connected, then one echo per command. */
static void held_child(struct nt_env *env, struct nt_pod *pod, void *arg, int res_fd, int cmd_fd)
{
	const struct probe_req *rq = arg;
	char c, buf[8];
	int32_t r;
	int fd = socket(rq->family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || connect(fd, (const struct sockaddr *)&rq->dst, rq->dstlen))
		_exit(NT_EXIT_SETUP);
	if (write(res_fd, "R", 1) != 1)
		_exit(NT_EXIT_SETUP);
	while (read(cmd_fd, &c, 1) == 1) {
		r = send(fd, "x", 1, MSG_NOSIGNAL) < 0 ? -errno : 0;
		if (!r)
			r = wait_fd(fd, POLLIN, NT_TMO_MS);
		if (!r) {
			ssize_t n = read(fd, buf, sizeof(buf));

			r = n > 0 ? 0 : n == 0 ? -ECONNRESET : -errno;
		}
		if (write(res_fd, &r, sizeof(r)) != sizeof(r))
			_exit(NT_EXIT_SETUP);
	}
	_exit(0);
}

static int32_t held_roundtrip(struct nt_child *c)
{
	int32_t r = -EIO;

	assert_int_equal(write(c->cmd_fd, "x", 1), 1);
	assert_int_equal(read_all(c->res_fd, &r, sizeof(r), 3 * NT_TMO_MS), 0);
	return r;
}

/*
 * A backend removed from its slice: an established connection to it through the ClusterIP
 * ends (the client's socket is aborted in its netns, its conntrack entries go), counted.
 */
static void test_removed_backend_conns_end(void **state)
{
	struct nt_env *env = *state;
	char doc[2048], ip2[64], ip3[64];
	int64_t ended0, flows0;
	struct probe_req rq;
	struct nt_child c;
	char r = 0;
	int32_t got;
	static const char svc[] =
		"---\napiVersion: v1\nkind: Service\nmetadata: {name: held}\nspec:\n"
		"  clusterIP: " CIP4_B "\n  ports: [{port: 70, targetPort: 7000}]\n";
	static const char slice[] =
		"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n"
		"  name: held-1\n  labels: {kubernetes.io/service-name: held}\n"
		"addressType: IPv4\nports: [{port: 7000}]\nendpoints:\n- addresses: [\"%s\"]\n";

	pod_ip(env, 2, AF_INET, ip2, sizeof(ip2));
	pod_ip(env, 3, AF_INET, ip3, sizeof(ip3));
	snprintf(doc, sizeof(doc), "%s", svc);
	snprintf(doc + strlen(doc), sizeof(doc) - strlen(doc), slice, ip3);
	apply_ok(doc);
	req_fill(&rq, CIP4_B, 70, SOCK_STREAM, 1);
	assert_int_equal(nt_child_start(env, 1, "svcheld", held_child, &rq, &c), 0);
	assert_int_equal(read_all(c.res_fd, &r, 1, 2 * NT_TMO_MS), 0);
	assert_int_equal(r, 'R');
	assert_int_equal(held_roundtrip(&c), 0);
	ended0 = status_int("backendConnsEnded");
	flows0 = status_int("backendFlowsEnded");
	/* pod 2 replaces pod 3 */
	snprintf(doc, sizeof(doc), slice, ip2);
	apply_ok(doc);
	got = held_roundtrip(&c);
	if (got != -ECONNABORTED && got != -ECONNRESET && got != -EPIPE)
		fprintf(stderr, "the held connection to the removed backend: %d (%s)\n", got,
			strerror(-got));
	assert_true(got == -ECONNABORTED || got == -ECONNRESET || got == -EPIPE);
	assert_true(status_int("backendConnsEnded") > ended0);
	assert_true(status_int("backendFlowsEnded") > flows0);
	assert_int_equal(status_int("backendEndFailures"), 0);
	nt_child_stop(env, &c);
}

static int services_count(void)
{
	struct pw_cp_svc_row *rows = NULL;
	size_t n = 0;

	assert_int_equal(pw_cp_list_services(S.cp, NULL, &rows, &n), 0);
	free(rows);
	return (int)n;
}

static void expect_bad(const char *yaml, const char *want)
{
	char err[4096];
	int n0 = services_count();

	assert_int_not_equal(apply(yaml, err, sizeof(err)), 0);
	if (!strstr(err, want))
		fprintf(stderr, "want \"%s\" in:\n%s", want, err);
	assert_non_null(strstr(err, want));
	/* the file is named, and nothing of the input was stored */
	assert_non_null(strstr(err, "svc.yaml"));
	assert_int_equal(services_count(), n0);
}

/* Bad input: clear errors naming file, document and field; nothing changes. */
static void test_bad_input(void **state)
{
	static const int ready[] = {2, 3, 0};
	static const int32_t allowed[] = {RES(2, SRV_PORT), RES(3, SRV_PORT), 0};
	struct nt_env *env = *state;
	int counts[NPODS + 1];
	struct probe_req rq;
	struct probe_out *o;

	apply_web(env, ready);
	expect_bad("apiVersion: v1\nkind: Service\nmetadata: {name: far}\nspec:\n"
		   "  clusterIP: 10.0.0.1\n  ports: [{port: 80}]\n",
		   "spec.clusterIPs[0]: Invalid value: \"10.0.0.1\": not within the service "
		   "CIDRs 198.19.96.0/24,fd00:96::/112");
	expect_bad("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
		   "metadata: {name: ghost-1, labels: {kubernetes.io/service-name: ghost}}\n"
		   "addressType: IPv4\nendpoints: [{addresses: [198.18.0.2]}]\n",
		   "names no Service in namespace default");
	expect_bad("apiVersion: v1\nkind: Service\nmetadata: {name: dup}\nspec:\n"
		   "  clusterIP: 198.19.96.30\n  ports:\n  - {name: a, port: 80}\n"
		   "  - {name: b, port: 80}\n",
		   "document 1 (Service default/dup), line 8: spec.ports[1].port: Duplicate "
		   "value: port 80/TCP is also ports[0]");
	expect_bad("apiVersion: v1\nkind: Service\nmetadata: {name: twin}\nspec:\n"
		   "  clusterIP: " CIP4 "\n  ports: [{port: 80}]\n",
		   "provided IP is already allocated (Service default/web)");
	/* a good Service with a bad slice in one input: neither is stored */
	expect_bad(
		"apiVersion: v1\nkind: Service\nmetadata: {name: good}\nspec:\n"
		"  clusterIP: 198.19.96.31\n  ports: [{port: 80}]\n---\n"
		"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
		"metadata: {name: bad-1, labels: {kubernetes.io/service-name: good}}\n"
		"addressType: IPv4\nendpoints: [{addresses: [\"fd00::2\"]}]\n",
		"endpoints[0].addresses[0]: Invalid value: \"fd00::2\": must be an IPv4 address");
	/* the last good state still translates */
	req_fill(&rq, CIP4, 80, SOCK_STREAM, 10);
	o = probe(env, &rq);
	tally(o, allowed, counts);
	free(o);
}

/* pw_cp_sync_source() of one YAML text as source `name`; its diagnostics into err */
static int sync_source(const char *name, const char *yaml, char *err, size_t len)
{
	struct pw_manifest *m = NULL;
	struct pw_diags d = {0};
	size_t off = 0;
	int r;

	r = pw_parse_buffer(name, yaml, strlen(yaml), NULL, &m, &d);
	if (!r)
		r = pw_cp_sync_source(S.cp, name, m, &d);
	err[0] = 0;
	for (size_t i = 0; i < d.n && off < len; i++)
		off += (size_t)snprintf(err + off, len - off, "%s\n", d.v[i].text);
	pw_manifest_free(m);
	pw_diags_clear(&d);
	return r;
}

/*
 * Start-up (the core holds while it reads every source): a manifest file with a bad Service
 * is refused alone, a slice read before its Service's file is fine, the rest is enforced.
 */
static void test_startup_sources(void **state)
{
	static const char svc_file[] =
		"apiVersion: v1\nkind: Service\nmetadata: {name: late}\nspec:\n"
		"  clusterIP: " CIP4_B "\n  ports: [{port: 80, targetPort: 7100}]\n";
	static const char bad_file[] =
		"apiVersion: v1\nkind: Service\nmetadata: {name: far}\nspec:\n"
		"  clusterIP: 10.0.0.1\n  ports: [{port: 80}]\n";
	static const int32_t allowed[] = {RES(2, SRV_PORT), 0};
	struct nt_env *env = *state;
	char err[4096], slice[1024];
	int counts[NPODS + 1];
	struct probe_req rq;
	struct probe_out *o;

	snprintf(slice, sizeof(slice),
		 "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n"
		 "  name: late-1\n  labels: {kubernetes.io/service-name: late}\n"
		 "addressType: IPv4\nports: [{port: 7100}]\nendpoints:\n"
		 "- addresses: [\"%s\"]\n",
		 inet_ntoa(env->pods[2].v4));
	pw_cp_hold(S.cp);
	assert_int_equal(sync_source("a-slice.yaml", slice, err, sizeof(err)), 0);
	assert_int_not_equal(sync_source("b-bad.yaml", bad_file, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "b-bad.yaml: document 1 (Service default/far)"));
	assert_int_equal(sync_source("c-svc.yaml", svc_file, err, sizeof(err)), 0);
	assert_int_equal(pw_cp_flush(S.cp, NULL), 0);
	assert_int_equal(services_count(), 1);
	req_fill(&rq, CIP4_B, 80, SOCK_STREAM, 5);
	o = probe(env, &rq);
	tally(o, allowed, counts);
	assert_int_equal(counts[2], 5);
	free(o);
}

static size_t map_entries(struct nt_env *env, enum pw_dp_map m)
{
	uint8_t k[64], v[64];
	struct pw_dp_iter it;
	size_t n = 0;

	assert_int_equal(pw_dp_iter_init(env->dp, m, &it), 0);
	while (pw_dp_iter_next(&it, k, v) == 1)
		n++;
	return n;
}

/*
 * A restarted core adopts the tables in the pinned maps: the same input writes nothing new
 * (backend ids stay), and what the new input lacks is removed rather than left behind.
 */
static void test_restart_adopts_tables(void **state)
{
	static const int ready[] = {2, 3, 0};
	static const int32_t allowed[] = {RES(2, SRV_PORT), RES(3, SRV_PORT), 0};
	struct nt_env *env = *state;
	struct pw_cp_opts co = {.sz = sizeof(co)};
	int counts[NPODS + 1];
	struct probe_req rq;
	struct probe_out *o;
	size_t fe, be;

	apply_web(env, ready);
	fe = map_entries(env, PW_DPMAP_SVC);
	be = map_entries(env, PW_DPMAP_BACKEND);
	assert_int_equal(fe, 4 * 3); /* 2 families x 2 ports, each its count + 2 slots */
	assert_int_equal(be, 8);
	pw_cp_free(S.cp);
	co.dp = env->dp;
	co.cgroup_root = env->cgroot;
	co.service_cidrs = SVC_CIDRS;
	assert_int_equal(pw_cp_new(&co, &S.cp), 0);
	assert_int_equal(status_int("frontends"), 4);
	assert_int_equal(status_int("backends"), 8);
	apply_pods(env);
	apply_web(env, ready);
	assert_int_equal(map_entries(env, PW_DPMAP_SVC), fe);
	assert_int_equal(map_entries(env, PW_DPMAP_BACKEND), be);
	req_fill(&rq, CIP6, 80, SOCK_STREAM, 10);
	o = probe(env, &rq);
	tally(o, allowed, counts);
	free(o);

	/* a restart whose input has no Service: the old frontends and backends go */
	pw_cp_free(S.cp);
	assert_int_equal(pw_cp_new(&co, &S.cp), 0);
	apply_pods(env);
	assert_int_equal(map_entries(env, PW_DPMAP_SVC), 0);
	assert_int_equal(map_entries(env, PW_DPMAP_BACKEND), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_spread_ready_only, svc_setup, svc_teardown),
		cmocka_unit_test_setup_teardown(test_named_target_port, svc_setup, svc_teardown),
		cmocka_unit_test_setup_teardown(test_policy_on_backend, svc_setup, svc_teardown),
		cmocka_unit_test_setup_teardown(test_raw_to_cluster_ip_at_tc, svc_setup,
						svc_teardown),
		cmocka_unit_test_setup_teardown(test_no_ready_backend, svc_setup, svc_teardown),
		cmocka_unit_test_setup_teardown(test_slice_change_under_load, svc_setup,
						svc_teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, svc_setup, svc_teardown),
		cmocka_unit_test_setup_teardown(test_restart_adopts_tables, svc_setup,
						svc_teardown),
		cmocka_unit_test_setup_teardown(test_startup_sources, svc_setup, svc_teardown),
		cmocka_unit_test_setup_teardown(test_removed_backend_conns_end, svc_setup,
						svc_teardown),
	};

	/* NT_FILTER=test_name runs one case (cmocka's own filter) */
	if (getenv("NT_FILTER"))
		cmocka_set_test_filter(getenv("NT_FILTER"));
	return cmocka_run_group_tests_name("services", tests, group_setup, nt_group_teardown);
}
