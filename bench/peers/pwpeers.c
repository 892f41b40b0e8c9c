// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pwpeers: the policy set of the peer comparison, compiled for both enforcers from one
 * definition, and the podwall side of the benchmark.
 *
 *   pwpeers shape N                  the policy set at scale N and what each enforcer compiles
 *   pwpeers iptables N DIR           DIR/ipset.N (ipset restore) and DIR/iptables.N
 *                                    (iptables-restore): the same policies in the per-pod chain ->
 *                                    per-policy chain -> ipset layout of kube-router and Calico's
 *                                    iptables mode
 *   pwpeers shape|iptables wP:M ...  the "wide" set instead: P policies all selecting the server,
 *                                    M pods on the node (files DIR/ipset.wP:M, DIR/iptables.wP:M)
 *   pwpeers check                    self-check of the policy sets (ctest runs it)
 *   pwpeers podwall OPTIONS          open the real datapath in the current (node) netns and take
 *                                    commands on stdin: scale N|wP:M | on | off | stats |
 *                                    empty on | empty off | quit
 *                                    (empty: bench/empty.bpf.c's programs on podwall's hooks);
 *                                    between commands it sweeps conntrack every 5 s with the
 *                                    default timeouts, as podwalld does (closed flows and parked
 *                                    ends leave the map; without it TCP_CRR fills the map and
 *                                    every new flow pays an LRU eviction no node would)
 *
 * The policy set at scale N. Every policy is an ingress policy selecting one subject pod and
 * allowing a set of peer pods on TCP ports; policies are spread over subject pods; every peer is
 * a distinct pod with a label identity of its own (the worst case for podwall, whose entries are
 * per peer identity, and the common case for ipsets, whose members are per pod IP):
 *   P = round(sqrt(N / 10)) policies, clamped to 1..100 (kept from when 256 ipsets per netns
 *   was taken for the limit: the wide set below goes far past it);
 *   S = ceil(P / 10) subject pods, the server is the middle one;
 *   one measured policy, the middle of the server's, allows its peers on TCP and UDP port 8080
 *   and its middle peer is the client; every other policy allows its peers on one TCP port;
 *   peers are shared out so that podwall's policy entries (peers x ports) total exactly N
 *   (N even), which makes iptables' rules + set members come out close to N as well.
 * Addresses: client 198.18.0.1, server 198.18.0.2, other subjects 198.18.0.16+, peers from
 * 198.18.1.0 up (120k peers fit below 198.19.240.0).
 *
 * The wide set wP:M, where iptables' linear chains show: P policies, every one selecting the
 * server, each allowing WIDE_PEERS peers on a TCP port of its own (the measured one, in their
 * middle, on TCP and UDP 8080 with the client among its peers), and M pods on the node: the
 * client, the server and M - 2 other isolated pods (198.19.240.0+). iptables renders it as
 * kube-router does: one dispatch rule per pod (the server's in the middle), the server's chain
 * jumps to every policy chain in turn, each policy chain marks a packet its ipset and port match,
 * and only after all of them does the pod chain drop what is unmarked; so a new flow to the
 * server costs about M/2 dispatch rules and P ipset lookups. podwall writes the same policies as
 * entries, the other pods as ipcache entries and endpoints.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <net/if.h>
#include <fcntl.h>
#include <podwall/datapath.h>

#include "empty.skel.h"

#define MEAS_PORT      8080
#define POLICY_PORT0   10000
#define MAX_POLICIES   100
#define PER_SUBJECT    10
#define MAX_SCALE      120000 /* peers must fit 198.18.1.0 .. 198.19.239.255 */
#define WIDE_PEERS     10
#define WIDE_MAX_POL   8192 /* ports 10000.. stay below 65536; peers stay below MAX_SCALE */
#define WIDE_MAX_PODS  4000 /* other pods fit 198.19.240.0 .. 198.19.255.253 */
#define OTHER_IP0      V4(198, 19, 240, 0)
#define OTHER_ID0      (PW_ID_FIRST_LOCAL + 200000)
#define OTHER_CG0      0xfff0000000000000ull /* no cgroup has such an id: cgroup-only entries */
#define EP_OTHER0      1000
#define V4(a, b, c, d) (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (d))
#define CLIENT_IP      V4(198, 18, 0, 1)
#define SERVER_IP      V4(198, 18, 0, 2)
#define SUBJECT_IP0    V4(198, 18, 0, 16)
#define PEER_IP0       V4(198, 18, 1, 0)
#define CLIENT_ID      (PW_ID_FIRST_LOCAL + 1)
#define SERVER_ID      (PW_ID_FIRST_LOCAL + 2)
#define SUBJECT_ID0    (PW_ID_FIRST_LOCAL + 16)
#define PEER_ID0       (PW_ID_FIRST_LOCAL + 1000)
#define EP_CLIENT      1
#define EP_SERVER      2

struct policy {
	uint32_t subject; /* subject pod index */
	uint16_t port;
	bool udp_too;
	uint32_t peer0; /* first global peer index */
	uint32_t npeers;
};

struct shape {
	uint32_t n;
	uint32_t npol, nsubj, server_subj, meas_pol, client_peer; /* client_peer: global index */
	bool wide;
	uint32_t npods; /* wide: pods on the node, client and server included */
	struct policy *pol;
	/* what each enforcer compiles */
	uint32_t pw_policy_entries, pw_ipcache_entries;
	uint32_t ipt_rules, ipt_sets, ipt_members;
};

static int shape_make(uint32_t n, struct shape *s)
{
	uint32_t i, rest, each, km, q0, qn, peer = 0;

	memset(s, 0, sizeof(*s));
	if (n < 2 || n > MAX_SCALE)
		return -EINVAL;
	s->pol = calloc(MAX_POLICIES, sizeof(*s->pol));
	if (!s->pol)
		return -ENOMEM;
	s->n = n;
	s->npol = (uint32_t)lround(sqrt((double)n / 10));
	if (s->npol < 1)
		s->npol = 1;
	if (s->npol > MAX_POLICIES)
		s->npol = MAX_POLICIES;
	s->nsubj = (s->npol + PER_SUBJECT - 1) / PER_SUBJECT;
	s->server_subj = s->nsubj / 2;
	/* the server's policies are [q0, q0 + qn); the measured one sits in their middle */
	q0 = s->server_subj * PER_SUBJECT;
	qn = s->npol - q0 < PER_SUBJECT ? s->npol - q0 : PER_SUBJECT;
	s->meas_pol = q0 + qn / 2;

	km = n / s->npol / 2;
	if (km < 1)
		km = 1;
	rest = n > 2 * km ? n - 2 * km : 0;
	each = s->npol > 1 ? rest / (s->npol - 1) : 0;
	for (i = 0; i < s->npol; i++) {
		struct policy *p = &s->pol[i];

		p->subject = i / PER_SUBJECT;
		p->peer0 = peer;
		if (i == s->meas_pol) {
			p->port = MEAS_PORT;
			p->udp_too = true;
			p->npeers = km;
		} else {
			p->port = (uint16_t)(POLICY_PORT0 + i);
			p->npeers = each;
		}
		peer += p->npeers;
	}
	/* the remainder goes to the last filler policy, so the total is exact */
	if (s->npol > 1) {
		i = s->meas_pol == s->npol - 1 ? s->npol - 2 : s->npol - 1;
		s->pol[i].npeers += rest - each * (s->npol - 1);
		for (peer = 0, i = 0; i < s->npol; i++) {
			s->pol[i].peer0 = peer;
			peer += s->pol[i].npeers;
		}
	}
	s->client_peer = s->pol[s->meas_pol].peer0 + s->pol[s->meas_pol].npeers / 2;

	for (i = 0; i < s->npol; i++) {
		const struct policy *p = &s->pol[i];

		s->pw_policy_entries += p->npeers * (p->udp_too ? 2 : 1);
		s->ipt_members += p->npeers;
		s->ipt_rules += 1 + (p->udp_too ? 2 : 1); /* the pod chain's jump + port rules */
	}
	/* FORWARD: conntrack + jump; per subject: its dispatch rule and its final DROP */
	s->ipt_rules += 2 + 2 * s->nsubj;
	s->ipt_sets = s->npol;
	/* every peer and every subject has an address; the client is a peer */
	s->pw_ipcache_entries = peer + s->nsubj;
	return 0;
}

static void shape_free(struct shape *s)
{
	free(s->pol);
	s->pol = NULL;
}

/* The wide set: npol policies selecting the server, npods pods on the node. */
static int shape_wide(uint32_t npol, uint32_t npods, struct shape *s)
{
	uint32_t i;

	memset(s, 0, sizeof(*s));
	if (npol < 1 || npol > WIDE_MAX_POL || npods < 2 || npods > WIDE_MAX_PODS)
		return -EINVAL;
	s->pol = calloc(npol, sizeof(*s->pol));
	if (!s->pol)
		return -ENOMEM;
	s->wide = true;
	s->npol = npol;
	s->npods = npods;
	s->nsubj = 1;
	s->server_subj = 0;
	s->meas_pol = npol / 2;
	for (i = 0; i < npol; i++) {
		struct policy *p = &s->pol[i];

		p->subject = 0;
		p->peer0 = i * WIDE_PEERS;
		p->npeers = WIDE_PEERS;
		p->udp_too = i == s->meas_pol;
		p->port = p->udp_too ? MEAS_PORT : (uint16_t)(POLICY_PORT0 + i);
		s->pw_policy_entries += p->npeers * (p->udp_too ? 2 : 1);
		s->ipt_members += p->npeers;
		/* the pod chain's jump, the mark rule(s), the RETURN on the mark */
		s->ipt_rules += 1 + (p->udp_too ? 2 : 1) + 1;
	}
	s->n = s->pw_policy_entries;
	s->client_peer = s->pol[s->meas_pol].peer0 + WIDE_PEERS / 2;
	/* FORWARD: conntrack + jump; a dispatch rule per pod; the server's DROP and ACCEPT; the
	 * other pods' shared DROP */
	s->ipt_rules += 2 + npods + 2 + 1;
	s->ipt_sets = npol;
	s->pw_ipcache_entries = npol * WIDE_PEERS + npods - 1; /* the client is a peer */
	return 0;
}

/* "N" (the scaled set) or "wP:M" (the wide set) */
static int shape_parse(const char *arg, struct shape *s)
{
	unsigned long a, b;
	char *end;

	if (arg[0] == 'w') {
		a = strtoul(arg + 1, &end, 10);
		if (end == arg + 1 || *end != ':')
			return -EINVAL;
		b = strtoul(end + 1, &end, 10);
		if (*end || a > WIDE_MAX_POL || b > WIDE_MAX_PODS)
			return -EINVAL;
		return shape_wide((uint32_t)a, (uint32_t)b, s);
	}
	a = strtoul(arg, &end, 10);
	if (end == arg || *end || a > MAX_SCALE)
		return -EINVAL;
	return shape_make((uint32_t)a, s);
}

/* the other pods of a wide set: index 0 .. npods - 3 */
static uint32_t other_ip(uint32_t k)
{
	return OTHER_IP0 + k;
}

static uint32_t subject_ip(const struct shape *s, uint32_t subj)
{
	return subj == s->server_subj ? SERVER_IP : SUBJECT_IP0 + subj;
}

static uint32_t subject_id(const struct shape *s, uint32_t subj)
{
	return subj == s->server_subj ? SERVER_ID : SUBJECT_ID0 + subj;
}

static uint32_t peer_ip(const struct shape *s, uint32_t j)
{
	return j == s->client_peer ? CLIENT_IP : PEER_IP0 + j;
}

static uint32_t peer_id(const struct shape *s, uint32_t j)
{
	return j == s->client_peer ? CLIENT_ID : PEER_ID0 + j;
}

static const char *ipstr(uint32_t ip, char *buf)
{
	struct in_addr a = {.s_addr = htonl(ip)};

	return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

static void shape_print(const struct shape *s, FILE *f)
{
	const struct policy *m = &s->pol[s->meas_pol];

	if (s->wide)
		fprintf(f, "wide=w%u:%u pods=%u ", s->npol, s->npods, s->npods);
	fprintf(f,
		"scale=%u policies=%u subjects=%u server_subject=%u measured_policy=%u "
		"measured_policy_peers=%u pw_policy_entries=%u pw_ipcache_entries=%u "
		"ipt_rules=%u ipt_sets=%u ipt_members=%u ipt_total=%u\n",
		s->n, s->npol, s->nsubj, s->server_subj, s->meas_pol, m->npeers,
		s->pw_policy_entries, s->pw_ipcache_entries, s->ipt_rules, s->ipt_sets,
		s->ipt_members, s->ipt_rules + s->ipt_members);
}

/* --- iptables + ipset ------------------------------------------------------------------------ */

/*
 * The wide set as kube-router renders it: every policy chain of the pod is walked (a match only
 * marks the packet), and the pod chain decides on the mark after the last one.
 */
static void write_wide_rules(const struct shape *s, FILE *f)
{
	char a[INET_ADDRSTRLEN];
	uint32_t i, k, other = 0;

	fprintf(f, "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
		   ":PW-FW - [0:0]\n:PW-POD-0 - [0:0]\n:PW-OTHER - [0:0]\n");
	for (i = 0; i < s->npol; i++)
		fprintf(f, ":PW-POL-%u - [0:0]\n", i);
	fprintf(f, "-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n"
		   "-A FORWARD -j PW-FW\n");
	/* one dispatch rule per pod on the node, the server's in the middle */
	for (k = 0; k < s->npods; k++) {
		if (k == s->npods / 2)
			fprintf(f, "-A PW-FW -d %s/32 -j PW-POD-0\n", ipstr(SERVER_IP, a));
		else if (k == 0)
			fprintf(f, "-A PW-FW -d %s/32 -j PW-OTHER\n", ipstr(CLIENT_IP, a));
		else
			fprintf(f, "-A PW-FW -d %s/32 -j PW-OTHER\n", ipstr(other_ip(other++), a));
	}
	fprintf(f, "-A PW-OTHER -j DROP\n");
	for (i = 0; i < s->npol; i++)
		fprintf(f, "-A PW-POD-0 -j PW-POL-%u\n", i);
	fprintf(f, "-A PW-POD-0 -m mark ! --mark 0x10000/0x10000 -j DROP\n-A PW-POD-0 -j ACCEPT\n");
	for (i = 0; i < s->npol; i++) {
		const struct policy *p = &s->pol[i];

		fprintf(f,
			"-A PW-POL-%u -p tcp -m set --match-set pwp-%u src -m tcp --dport %u "
			"-j MARK --set-xmark 0x10000/0x10000\n",
			i, i, p->port);
		if (p->udp_too)
			fprintf(f,
				"-A PW-POL-%u -p udp -m set --match-set pwp-%u src -m udp --dport "
				"%u -j MARK --set-xmark 0x10000/0x10000\n",
				i, i, p->port);
		fprintf(f, "-A PW-POL-%u -m mark --mark 0x10000/0x10000 -j RETURN\n", i);
	}
	fprintf(f, "COMMIT\n");
}

static int write_iptables(const struct shape *s, const char *dir, const char *name)
{
	char path[4096], a[INET_ADDRSTRLEN];
	uint32_t i, j, subj;
	FILE *f = NULL;
	int err = 0;

	snprintf(path, sizeof(path), "%s/ipset.%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	for (i = 0; i < s->npol; i++) {
		const struct policy *p = &s->pol[i];
		uint32_t hs = 1024, max = 65536;

		while (hs < p->npeers)
			hs <<= 1;
		while (max < 2 * p->npeers)
			max <<= 1;
		/* one set per policy peer selector, as kube-router names one per rule */
		fprintf(f, "create pwp-%u hash:ip family inet hashsize %u maxelem %u\n", i, hs,
			max);
		for (j = p->peer0; j < p->peer0 + p->npeers; j++)
			fprintf(f, "add pwp-%u %s\n", i, ipstr(peer_ip(s, j), a));
	}
	if (fclose(f))
		return -errno;

	snprintf(path, sizeof(path), "%s/iptables.%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	if (s->wide) {
		write_wide_rules(s, f);
		goto close;
	}
	fprintf(f, "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
		   ":PW-FW - [0:0]\n");
	for (subj = 0; subj < s->nsubj; subj++)
		fprintf(f, ":PW-POD-%u - [0:0]\n", subj);
	for (i = 0; i < s->npol; i++)
		fprintf(f, ":PW-POL-%u - [0:0]\n", i);
	/* established and related flows first: only a new flow walks the policy chains */
	fprintf(f, "-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n"
		   "-A FORWARD -j PW-FW\n");
	/* kube-router's dispatch: one rule per isolated pod on the node, by destination address */
	for (subj = 0; subj < s->nsubj; subj++)
		fprintf(f, "-A PW-FW -d %s/32 -j PW-POD-%u\n", ipstr(subject_ip(s, subj), a), subj);
	/*
	 * The pod chain jumps to each policy selecting the pod; a policy chain ACCEPTs on a
	 * match (Calico stops at the first accepting policy too) and otherwise returns; a pod
	 * that some policy isolates ends in DROP.
	 */
	for (i = 0; i < s->npol; i++)
		fprintf(f, "-A PW-POD-%u -j PW-POL-%u\n", s->pol[i].subject, i);
	for (subj = 0; subj < s->nsubj; subj++)
		fprintf(f, "-A PW-POD-%u -j DROP\n", subj);
	for (i = 0; i < s->npol; i++) {
		const struct policy *p = &s->pol[i];

		fprintf(f,
			"-A PW-POL-%u -p tcp -m tcp --dport %u -m set --match-set pwp-%u src "
			"-j ACCEPT\n",
			i, p->port, i);
		if (p->udp_too)
			fprintf(f,
				"-A PW-POL-%u -p udp -m udp --dport %u -m set --match-set "
				"pwp-%u src -j ACCEPT\n",
				i, p->port, i);
	}
	fprintf(f, "COMMIT\n");
close:
	if (fclose(f))
		err = -errno;
	return err;
}

/* --- podwall --------------------------------------------------------------------------------- */

struct pwside {
	struct pw_dp *dp;
	uint32_t if_client, if_server;
	uint64_t cg_client, cg_server;
	bool attached;
	struct pw_policy_entry *pol; /* what the maps hold now, to delete on the next scale */
	size_t npol;
	struct pw_cidr *ipc;
	size_t nipc;
	uint32_t nother; /* the wide set's other pods, written as endpoints */
	/* the empty programs (bench/empty.bpf.c): socket ones always on their own cgroup root */
	struct empty *empty;
	struct bpf_link *empty_sock[8];
	int empty_tc[4]; /* tcx links: client in, client out, server in, server out */
	bool empty_on, tcx;
};

static void log_cb(void *ctx, enum pw_log_level level, const char *msg)
{
	fprintf(stderr, "pwpeers: [podwall] %s\n", msg);
}

static int cgroup_id(const char *path, uint64_t *id)
{
	struct stat st;

	/* on cgroup2 the directory's inode number is the cgroup id */
	if (stat(path, &st))
		return -errno;
	*id = st.st_ino;
	return 0;
}

static void cidr_v4(struct pw_cidr *c, uint32_t ip)
{
	memset(c, 0, sizeof(*c));
	c->family = PW_FAMILY_V4;
	c->prefixlen = 32;
	c->addr[0] = htonl(ip);
}

static int endpoints_write(struct pwside *pw)
{
	struct pw_ipcache_entry ipc[2];
	struct pw_endpoint ep;
	int err;

	memset(ipc, 0, sizeof(ipc));
	cidr_v4(&ipc[0].cidr, CLIENT_IP);
	ipc[0].val.identity = CLIENT_ID;
	cidr_v4(&ipc[1].cidr, SERVER_IP);
	ipc[1].val.identity = SERVER_ID;
	err = pw_dp_ipcache_update(pw->dp, ipc, 2);
	if (err < 0)
		return err;

	/* the client is isolated by nothing; the server by its ingress policies */
	memset(&ep, 0, sizeof(ep));
	ep.ep_id = EP_CLIENT;
	ep.identity = CLIENT_ID;
	ep.ifindex = pw->if_client;
	ep.cgroup_id = pw->cg_client;
	ep.n_v4 = 1;
	ep.v4[0] = htonl(CLIENT_IP);
	err = pw_dp_endpoint_upsert(pw->dp, &ep);
	if (err < 0)
		return err;
	memset(&ep, 0, sizeof(ep));
	ep.ep_id = EP_SERVER;
	ep.identity = SERVER_ID;
	ep.ifindex = pw->if_server;
	ep.cgroup_id = pw->cg_server;
	ep.flags = PW_EP_F_ISOLATE_INGRESS;
	ep.n_v4 = 1;
	ep.v4[0] = htonl(SERVER_IP);
	err = pw_dp_endpoint_upsert(pw->dp, &ep);
	return err < 0 ? err : 0;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void other_endpoint(uint32_t k, struct pw_endpoint *ep)
{
	memset(ep, 0, sizeof(*ep));
	ep->ep_id = EP_OTHER0 + k;
	ep->identity = OTHER_ID0 + k;
	ep->cgroup_id = OTHER_CG0 + k;
	ep->flags = PW_EP_F_ISOLATE_INGRESS;
	ep->n_v4 = 1;
	ep->v4[0] = htonl(other_ip(k));
}

/* The wide set's other pods as endpoints (count: npods - 2), replacing the previous ones. */
static int others_write(struct pwside *pw, uint32_t count)
{
	struct pw_endpoint ep;
	uint32_t k;
	int err;

	for (k = 0; k < pw->nother; k++) {
		other_endpoint(k, &ep);
		err = pw_dp_endpoint_delete(pw->dp, &ep);
		if (err < 0)
			return err;
	}
	pw->nother = 0;
	for (k = 0; k < count; k++) {
		other_endpoint(k, &ep);
		err = pw_dp_endpoint_upsert(pw->dp, &ep);
		if (err < 0)
			return err;
		pw->nother = k + 1;
	}
	return 0;
}

/* Replace the maps' policy set with scale arg's, through the library's batched writers. */
static int pw_scale(struct pwside *pw, const char *arg, char *msg, size_t len)
{
	struct pw_policy_entry *pol = NULL;
	struct pw_ipcache_entry *ipc = NULL;
	struct pw_cidr *cidrs = NULL;
	size_t npol = 0, nipc = 0, k;
	struct shape s;
	uint32_t i, j, subj, nother;
	double t0 = mono_s(), t1;
	int err, written;

	err = shape_parse(arg, &s);
	if (err)
		return err;
	nother = s.wide ? s.npods - 2 : 0;
	pol = calloc(s.pw_policy_entries, sizeof(*pol));
	ipc = calloc(s.pw_ipcache_entries, sizeof(*ipc));
	cidrs = calloc(s.pw_ipcache_entries, sizeof(*cidrs));
	if (!pol || !ipc || !cidrs) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < s.npol; i++) {
		const struct policy *p = &s.pol[i];

		for (j = p->peer0; j < p->peer0 + p->npeers; j++) {
			for (k = 0; k < (p->udp_too ? 2u : 1u); k++) {
				struct pw_policy_entry *e = &pol[npol++];

				e->subject = subject_id(&s, p->subject);
				e->peer = peer_id(&s, j);
				e->direction = PW_DIR_INGRESS;
				e->proto = k ? IPPROTO_UDP : IPPROTO_TCP;
				e->port_lo = e->port_hi = p->port;
				e->val.flags = PW_POL_F_ALLOW;
				e->val.cookie = i + 1;
			}
			/* client and server addresses are written once, with the endpoints */
			if (j != s.client_peer) {
				cidr_v4(&ipc[nipc].cidr, peer_ip(&s, j));
				ipc[nipc].val.identity = peer_id(&s, j);
				cidrs[nipc] = ipc[nipc].cidr;
				nipc++;
			}
		}
	}
	for (subj = 0; subj < s.nsubj; subj++) {
		if (subj == s.server_subj)
			continue;
		cidr_v4(&ipc[nipc].cidr, subject_ip(&s, subj));
		ipc[nipc].val.identity = subject_id(&s, subj);
		cidrs[nipc] = ipc[nipc].cidr;
		nipc++;
	}
	for (k = 0; k < nother; k++) {
		cidr_v4(&ipc[nipc].cidr, other_ip((uint32_t)k));
		ipc[nipc].val.identity = OTHER_ID0 + (uint32_t)k;
		cidrs[nipc] = ipc[nipc].cidr;
		nipc++;
	}

	/* no traffic runs during a switch, so delete-then-add is safe and keeps shared keys */
	if (pw->npol) {
		err = pw_dp_policy_delete(pw->dp, pw->pol, pw->npol);
		if (err < 0)
			goto out;
	}
	if (pw->nipc) {
		err = pw_dp_ipcache_delete(pw->dp, pw->ipc, pw->nipc);
		if (err < 0)
			goto out;
	}
	free(pw->pol);
	free(pw->ipc);
	pw->pol = NULL;
	pw->ipc = NULL;
	pw->npol = pw->nipc = 0;
	t1 = mono_s();

	err = others_write(pw, nother);
	if (err < 0)
		goto out;
	err = pw_dp_ipcache_update(pw->dp, ipc, nipc);
	if (err < 0)
		goto out;
	pw->ipc = cidrs;
	pw->nipc = nipc;
	cidrs = NULL;
	written = pw_dp_policy_update(pw->dp, pol, npol);
	if (written < 0) {
		err = written;
		goto out;
	}
	pw->pol = pol;
	pw->npol = npol;
	pol = NULL;
	/* flows of the previous scale must not pass as established under this one */
	err = pw_dp_ct_flush(pw->dp, 0, NULL, NULL);
	if (err < 0)
		goto out;
	err = 0;
	snprintf(msg, len,
		 "scale=%s policy_entries=%zu trie_entries=%d ipcache_entries=%zu endpoints=%u "
		 "delete_s=%.3f add_s=%.3f",
		 arg, npol, written, nipc + 2, nother + 2, t1 - t0, mono_s() - t1);
out:
	free(pol);
	free(ipc);
	free(cidrs);
	shape_free(&s);
	return err;
}

static int pw_stats(struct pwside *pw, char *msg, size_t len)
{
	struct pw_metric m[PW_METRICS_SLOTS];
	uint64_t drops = 0, allowed = 0, est = 0, reply = 0;
	unsigned int r, d;
	int err;

	err = pw_dp_metrics_read(pw->dp, m);
	if (err < 0)
		return err;
	for (r = 0; r < PW_REASON_MAX; r++)
		for (d = 0; d < PW_DIR_MAX; d++) {
			uint64_t p = m[PW_METRIC_IDX(r, d)].packets;

			if (pw_reason_is_drop(r))
				drops += p;
			else if (r == PW_OK_POLICY)
				allowed += p;
			else if (r == PW_OK_ESTABLISHED)
				est += p;
			else if (r == PW_OK_REPLY)
				reply += p;
		}
	snprintf(msg, len,
		 "allowed_by_policy=%" PRIu64 " established=%" PRIu64 " reply=%" PRIu64
		 " drops=%" PRIu64,
		 allowed, est, reply, drops);
	return 0;
}

static int pw_onoff(struct pwside *pw, bool on)
{
	int err;

	if (on == pw->attached)
		return 0;
	if (on) {
		err = pw_dp_attach_tc(pw->dp, pw->if_client);
		if (!err)
			err = pw_dp_attach_tc(pw->dp, pw->if_server);
	} else {
		err = pw_dp_detach_tc(pw->dp, pw->if_client);
		if (!err)
			err = pw_dp_detach_tc(pw->dp, pw->if_server);
	}
	if (!err)
		pw->attached = on;
	return err;
}

/* --- the empty programs on podwall's hooks ---------------------------------------------------- */

#define TCX_INGRESS  46 /* BPF_TCX_INGRESS / _EGRESS: libbpf 1.1's headers predate them */
#define TCX_EGRESS   47
#define EMPTY_HANDLE 0x7eb1 /* clsact filters of the empty program, distinct from podwall's */

static const enum bpf_attach_type empty_sock_types[8] = {
	BPF_CGROUP_INET4_CONNECT,     BPF_CGROUP_INET6_CONNECT,	    BPF_CGROUP_UDP4_SENDMSG,
	BPF_CGROUP_UDP6_SENDMSG,      BPF_CGROUP_UDP4_RECVMSG,	    BPF_CGROUP_UDP6_RECVMSG,
	BPF_CGROUP_INET4_GETPEERNAME, BPF_CGROUP_INET6_GETPEERNAME,
};

/* Load the empty programs and attach the socket ones to their own cgroup root, for good. */
static int empty_open(struct pwside *pw, const char *cgroot)
{
	struct bpf_program *progs[8];
	int i, cg_fd, err = 0;

	for (i = 0; i < 4; i++)
		pw->empty_tc[i] = -1;
	pw->empty = empty__open_and_load();
	if (!pw->empty)
		return -errno;
	progs[0] = pw->empty->progs.pw_empty_connect4;
	progs[1] = pw->empty->progs.pw_empty_connect6;
	progs[2] = pw->empty->progs.pw_empty_sendmsg4;
	progs[3] = pw->empty->progs.pw_empty_sendmsg6;
	progs[4] = pw->empty->progs.pw_empty_recvmsg4;
	progs[5] = pw->empty->progs.pw_empty_recvmsg6;
	progs[6] = pw->empty->progs.pw_empty_getpeername4;
	progs[7] = pw->empty->progs.pw_empty_getpeername6;
	cg_fd = open(cgroot, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg_fd < 0)
		return -errno;
	for (i = 0; i < 8; i++) {
		pw->empty_sock[i] = bpf_program__attach_cgroup(progs[i], cg_fd);
		if (!pw->empty_sock[i]) {
			err = -errno;
			break;
		}
	}
	close(cg_fd);
	return err;
}

static int empty_tc_one(struct pwside *pw, int slot, uint32_t ifindex, bool ingress, bool on)
{
	int prog = bpf_program__fd(pw->empty->progs.pw_bench_empty);
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, o, .handle = EMPTY_HANDLE, .priority = 1);
	int err;

	if (pw->tcx && on) {
		pw->empty_tc[slot] = bpf_link_create(prog, (int)ifindex,
						     ingress ? TCX_INGRESS : TCX_EGRESS, NULL);
		return pw->empty_tc[slot] < 0 ? -errno : 0;
	}
	if (pw->tcx) { /* the link is this process's only reference: closing it detaches */
		if (pw->empty_tc[slot] >= 0)
			close(pw->empty_tc[slot]);
		pw->empty_tc[slot] = -1;
		return 0;
	}
	if (on) {
		err = bpf_tc_hook_create(&hook);
		if (err && err != -EEXIST)
			return err;
		o.prog_fd = prog;
		return bpf_tc_attach(&hook, &o);
	}
	err = bpf_tc_detach(&hook, &o);
	return err == -ENOENT || err == -ENODEV || err == -EINVAL ? 0 : err;
}

/* What the kernel has attached: TC programs on both veths, socket programs on the root. */
static void empty_count(struct pwside *pw, const char *cgroot, int *ntc, int *nsock)
{
	uint32_t ifs[2] = {pw->if_client, pw->if_server}, cnt;
	int i, d, cg_fd;

	*ntc = *nsock = 0;
	for (i = 0; i < 2 && pw->tcx; i++)
		for (d = 0; d < 2; d++) {
			cnt = 0;
			if (!bpf_prog_query((int)ifs[i], d ? TCX_EGRESS : TCX_INGRESS, 0, NULL,
					    NULL, &cnt))
				*ntc += (int)cnt;
		}
	if (!pw->tcx) /* clsact: count what this process attached */
		*ntc = pw->empty_on ? 4 : 0;
	cg_fd = open(cgroot, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg_fd < 0)
		return;
	for (i = 0; i < 8; i++) {
		cnt = 0;
		if (!bpf_prog_query(cg_fd, empty_sock_types[i], 0, NULL, NULL, &cnt))
			*nsock += (int)cnt;
	}
	close(cg_fd);
}

static int empty_onoff(struct pwside *pw, bool on, const char *cgroot, char *msg, size_t len)
{
	int i, err = 0, ntc, nsock;

	if (on != pw->empty_on) {
		for (i = 0; i < 4 && !err; i++)
			err = empty_tc_one(pw, i, i < 2 ? pw->if_client : pw->if_server, !(i % 2),
					   on);
		if (err && on) /* leave nothing half attached */
			for (i = 0; i < 4; i++)
				empty_tc_one(pw, i, i < 2 ? pw->if_client : pw->if_server, !(i % 2),
					     false);
		if (!err)
			pw->empty_on = on;
	}
	empty_count(pw, cgroot, &ntc, &nsock);
	snprintf(msg, len, "tc_progs=%d sock_progs=%d", ntc, nsock);
	return err;
}

static void empty_close(struct pwside *pw, const char *cgroot)
{
	char msg[64];
	int i;

	if (!pw->empty)
		return;
	empty_onoff(pw, false, cgroot, msg, sizeof(msg));
	for (i = 0; i < 8; i++)
		bpf_link__destroy(pw->empty_sock[i]);
	empty__destroy(pw->empty);
}

#define SWEEP_S 5.0 /* podwalld's default --ct-sweep-interval */

static int run_podwall(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"cgroup-root", required_argument, NULL, 'r'},
		{"client-if", required_argument, NULL, 'c'},
		{"server-if", required_argument, NULL, 's'},
		{"client-cg", required_argument, NULL, 'C'},
		{"server-cg", required_argument, NULL, 'S'},
		{"empty-cgroup-root", required_argument, NULL, 'e'},
		{},
	};
	const char *cgroot = NULL, *cif = NULL, *sif = NULL, *ccg = NULL, *scg = NULL;
	const char *ecg = NULL;
	struct pw_dp_opts o = {.sz = sizeof(o)};
	struct pwside pw = {};
	struct pw_ct_timeouts cto;
	char line[256], msg[512];
	size_t used = 0;
	double next_sweep;
	int ch, err;

	optind = 2;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			cgroot = optarg;
			break;
		case 'c':
			cif = optarg;
			break;
		case 's':
			sif = optarg;
			break;
		case 'C':
			ccg = optarg;
			break;
		case 'S':
			scg = optarg;
			break;
		case 'e':
			ecg = optarg;
			break;
		default:
			return 2;
		}
	}
	if (!cgroot || !cif || !sif || !ccg || !scg || !ecg) {
		fprintf(stderr, "pwpeers podwall: --cgroup-root --client-if --server-if "
				"--client-cg --server-cg --empty-cgroup-root are required\n");
		return 2;
	}
	if ((err = pw_dp_ifindex(cif, &pw.if_client)) ||
	    (err = pw_dp_ifindex(sif, &pw.if_server)) || (err = cgroup_id(ccg, &pw.cg_client)) ||
	    (err = cgroup_id(scg, &pw.cg_server))) {
		fprintf(stderr, "pwpeers podwall: interfaces or cgroups: %s\n", strerror(-err));
		return 1;
	}
	/* no pins: every program and map goes away with this process, whatever ends it */
	o.bpffs_dir = NULL;
	o.cgroup_root = cgroot;
	o.tc_mode = PW_TC_AUTO;
	o.policy_max = 2 * MAX_SCALE;
	o.ipcache_max = 2 * MAX_SCALE;
	o.ep_max = WIDE_MAX_PODS + 64;
	o.ct_max = 262144;
	o.log = log_cb;
	o.log_level = PW_LOG_WARN;
	err = pw_dp_open(&o, &pw.dp);
	if (err) {
		fprintf(stderr, "pwpeers podwall: pw_dp_open: %s\n", strerror(-err));
		return 1;
	}
	err = endpoints_write(&pw);
	if (err) {
		fprintf(stderr, "pwpeers podwall: endpoints: %s\n", strerror(-err));
		goto out;
	}
	pw.tcx = !strcmp(pw_dp_tc_mode_name(pw.dp), "tcx");
	err = empty_open(&pw, ecg);
	if (err) {
		fprintf(stderr, "pwpeers podwall: empty programs on %s: %s\n", ecg, strerror(-err));
		goto out;
	}
	printf("ready tc_mode=%s\n", pw_dp_tc_mode_name(pw.dp));
	fflush(stdout);

	pw_ct_timeouts_default(&cto);
	next_sweep = mono_s() + SWEEP_S;
	for (;;) {
		struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
		double now = mono_s();
		ssize_t r;
		char *nl;

		if (now >= next_sweep) {
			struct timespec ts;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			err = pw_dp_ct_sweep(pw.dp, (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec,
					     &cto, NULL, NULL, NULL);
			if (err)
				fprintf(stderr, "pwpeers podwall: conntrack sweep: %s\n", strerror(-err));
			next_sweep = now + SWEEP_S;
		}
		if (!(nl = memchr(line, '\n', used))) {
			if (poll(&p, 1, (int)((next_sweep - now) * 1000) + 1) <= 0)
				continue;
			if (used == sizeof(line) - 1)
				used = 0; /* a line longer than any command: dropped */
			r = read(STDIN_FILENO, line + used, sizeof(line) - 1 - used);
			if (r <= 0)
				break;
			used += (size_t)r;
			continue;
		}
		*nl = 0;
		msg[0] = 0;
		if (!strncmp(line, "scale ", 6))
			err = pw_scale(&pw, line + 6, msg, sizeof(msg));
		else if (!strcmp(line, "empty on") || !strcmp(line, "empty off"))
			err = empty_onoff(&pw, !strcmp(line, "empty on"), ecg, msg, sizeof(msg));
		else if (!strcmp(line, "on"))
			err = pw_onoff(&pw, true);
		else if (!strcmp(line, "off"))
			err = pw_onoff(&pw, false);
		else if (!strcmp(line, "stats"))
			err = pw_stats(&pw, msg, sizeof(msg));
		else if (!strcmp(line, "quit"))
			break;
		else
			err = -EINVAL;
		if (err)
			printf("err %s: %s\n", line, strerror(-err));
		else
			printf("ok %s\n", msg);
		fflush(stdout);
		used -= (size_t)(nl + 1 - line);
		memmove(line, nl + 1, used);
	}
	err = 0;
out:
	empty_close(&pw, ecg);
	pw_onoff(&pw, false);
	pw_dp_destroy(pw.dp);
	free(pw.pol);
	free(pw.ipc);
	return err ? 1 : 0;
}

/*
 * Self-check of the policy set at the scales the benchmark uses, run by ctest: podwall's entries
 * total N and expand to one trie key each, every address stays in 198.18.0.0/15 clear of the
 * pods and the gateway, peers are distinct, and the client is a peer of the measured policy.
 */
static int run_check(void)
{
	static const uint32_t scales[] = {10, 1000, 10000, 100000};
	static const char *const wides[] = {"w1:2", "w16:110", "w256:250", "w8192:4000"};
	struct pw_policy_key keys[32];
	struct pw_policy_entry e = {.port_lo = MEAS_PORT, .port_hi = MEAS_PORT};
	const uint32_t last = V4(198, 19, 254, 255);
	unsigned int i, fails = 0;
	struct shape s;

#define CHECK(cond, ...)                                                \
	do {                                                            \
		if (!(cond)) {                                          \
			fprintf(stderr, "pwpeers check: " __VA_ARGS__); \
			fputc('\n', stderr);                            \
			fails++;                                        \
		}                                                       \
	} while (0)

	for (i = 0; i < sizeof(scales) / sizeof(scales[0]); i++) {
		const struct policy *m;
		uint32_t n = scales[i], j, peers = 0, ports = 0;

		CHECK(!shape_make(n, &s), "scale %u refused", n);
		m = &s.pol[s.meas_pol];
		CHECK(s.pw_policy_entries == n, "scale %u: %u podwall entries", n,
		      s.pw_policy_entries);
		CHECK(s.ipt_sets <= MAX_POLICIES, "scale %u: %u ipsets (at most %d)", n, s.ipt_sets,
		      MAX_POLICIES);
		CHECK(s.pol[s.meas_pol].subject == s.server_subj && m->port == MEAS_PORT &&
			      m->udp_too,
		      "scale %u: measured policy %u is not the server's port %u policy", n,
		      s.meas_pol, MEAS_PORT);
		CHECK(s.client_peer >= m->peer0 && s.client_peer < m->peer0 + m->npeers,
		      "scale %u: the client is not a peer of the measured policy", n);
		for (j = 0; j < s.npol; j++) {
			const struct policy *p = &s.pol[j];

			CHECK(p->npeers > 0, "scale %u: policy %u has no peers", n, j);
			CHECK(p->peer0 == peers, "scale %u: policy %u peers overlap", n, j);
			CHECK(j == s.meas_pol || p->port != MEAS_PORT,
			      "scale %u: filler policy %u allows the measured port", n, j);
			peers += p->npeers;
			ports += p->npeers * (p->udp_too ? 2 : 1);
		}
		CHECK(ports == n, "scale %u: peers x ports = %u", n, ports);
		CHECK(PEER_IP0 + peers - 1 <= last, "scale %u: peer addresses run past %s", n,
		      "198.19.254.255");
		CHECK(s.ipt_members + s.ipt_rules >= n * 9 / 10 &&
			      s.ipt_members + s.ipt_rules <= n * 11 / 10 + 10,
		      "scale %u: iptables entries %u are not comparable", n,
		      s.ipt_members + s.ipt_rules);
		CHECK(subject_ip(&s, s.nsubj - 1) < PEER_IP0, "scale %u: subjects reach the peers",
		      n);
		shape_free(&s);
	}
	/* the wide set: every policy selects the server, the client is the measured policy's */
	for (i = 0; i < sizeof(wides) / sizeof(wides[0]); i++) {
		const struct policy *m;
		uint32_t j, ports = 0;

		memset(&s, 0, sizeof(s));
		CHECK(!shape_parse(wides[i], &s), "%s refused", wides[i]);
		if (!s.pol)
			continue;
		m = &s.pol[s.meas_pol];
		CHECK(s.wide && s.nsubj == 1 && s.server_subj == 0, "%s: not one subject",
		      wides[i]);
		CHECK(m->port == MEAS_PORT && m->udp_too && s.client_peer >= m->peer0 &&
			      s.client_peer < m->peer0 + m->npeers,
		      "%s: the client is not a peer of the measured policy", wides[i]);
		for (j = 0; j < s.npol; j++) {
			CHECK(s.pol[j].subject == 0, "%s: policy %u selects another pod", wides[i],
			      j);
			CHECK(j == s.meas_pol || s.pol[j].port != MEAS_PORT,
			      "%s: filler policy %u allows the measured port", wides[i], j);
			ports += s.pol[j].npeers * (s.pol[j].udp_too ? 2 : 1);
		}
		CHECK(ports == s.pw_policy_entries, "%s: %u entries, %u counted", wides[i], ports,
		      s.pw_policy_entries);
		CHECK(PEER_IP0 + s.npol * WIDE_PEERS <= OTHER_IP0 &&
			      other_ip(s.npods - 3) < V4(198, 19, 255, 254),
		      "%s: addresses overlap", wides[i]);
		shape_free(&s);
	}
	CHECK(shape_parse("w0:10", &s) == -EINVAL && shape_parse("w5", &s) == -EINVAL &&
		      shape_parse("w10:1", &s) == -EINVAL && shape_parse("12x", &s) == -EINVAL,
	      "a malformed scale is accepted");
	/* a single port is one trie entry, so N podwall entries are N map entries */
	e.proto = IPPROTO_TCP;
	CHECK(pw_policy_expand(&e, keys, 32) == 1, "a single port does not expand to one key");
#undef CHECK
	printf("pwpeers check: %s\n", fails ? "FAILED" : "ok");
	return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct shape s;
	int err;

	if (argc >= 3 && (!strcmp(argv[1], "shape") || !strcmp(argv[1], "iptables"))) {
		err = shape_parse(argv[2], &s);
		if (err) {
			fprintf(stderr,
				"pwpeers: %s: a scale is 2..%d, or wP:M with 1..%d policies and "
				"2..%d pods\n",
				argv[2], MAX_SCALE, WIDE_MAX_POL, WIDE_MAX_PODS);
			return 2;
		}
		if (!strcmp(argv[1], "shape")) {
			shape_print(&s, stdout);
			shape_free(&s);
			return 0;
		}
		if (argc != 4) {
			shape_free(&s);
			goto usage;
		}
		err = write_iptables(&s, argv[3], argv[2]);
		if (err)
			fprintf(stderr, "pwpeers iptables: %s: %s\n", argv[3], strerror(-err));
		shape_free(&s);
		return err ? 1 : 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "podwall"))
		return run_podwall(argc, argv);
	if (argc == 2 && !strcmp(argv[1], "check"))
		return run_check();
usage:
	fprintf(stderr,
		"usage: pwpeers shape N|wP:M | iptables N|wP:M DIR | check | podwall "
		"--cgroup-root DIR --client-if IF --server-if IF --client-cg DIR --server-cg DIR "
		"--empty-cgroup-root DIR\n");
	return 2;
}
