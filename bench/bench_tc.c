// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bench_tc: per-packet cost of podwall's TC program, measured with BPF_PROG_TEST_RUN, for a
 * new flow (allowed and denied) and for a packet of an established flow, at several ipcache
 * and policy map sizes, each beside an empty TC program measured in the same rounds, and the
 * repeated cases beside their floor: a program doing only the one lookup the verdict needs
 * (a conntrack hash lookup for the established packet, an ipcache LPM lookup for the denied
 * SYN) on the datapath's own maps, also in the same rounds (bench/floor.bpf.c).
 *
 * The datapath is opened without pins or attachments. BPF_PROG_TEST_RUN resolves the skb's
 * ifindex in the caller's network namespace, so the program first moves into a private netns
 * and creates a veth pair there: the endpoint is bound to a real device, and both go away
 * with the process on every path.
 *
 * docs/performance.md describes the method and holds the figures of a run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <net/if.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/netlink.h>
#include <linux/pkt_cls.h>
#include <linux/rtnetlink.h>
#include <linux/tcp.h>
#include <linux/veth.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <libmnl/libmnl.h>

#include <podwall/datapath.h>
#include "empty.skel.h"
#include "floor.skel.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif

#define MAX_SCALES     8
#define MAX_ROUNDS     101
#define MIN_SCALE      1000 /* the measured flow's entries are among the first 1k */
#define FILL_BATCH     4096
#define EVENT_PAGES    512 /* per CPU; holds a whole round of per-packet drop events */
#define V4_BASE        0xc6120000u /* 198.18.0.0/15: the RFC 2544 benchmarking range */
#define V4_CAP_INDEX   100000 /* ipcache entries past this index are IPv6: the /15 is full */
#define POL_BLOCK      64 /* policy entries per subject identity */
#define PEER_ID        (PW_ID_FIRST_LOCAL + 70000) /* outside the filler's peer range */
#define SUBJ_BLOCK     3
#define SUBJ_ID        (PW_ID_FIRST_LOCAL + SUBJ_BLOCK)
#define MEAS_POL_INDEX (SUBJ_BLOCK * POL_BLOCK + 10) /* the entry that allows the flow */
#define ALLOW_PORT     8080
#define DENY_PORT      9999 /* the filler never covers it for any subject */
#define EST_SPORT      40000
#define NEW_SPORT_BASE 20000

/* --- options ----------------------------------------------------------------------------- */

struct opts {
	uint32_t ipc_scales[MAX_SCALES];
	int n_ipc;
	uint32_t pol_scales[MAX_SCALES];
	int n_pol;
	bool diagonal; /* diagonal plus the two extreme corners instead of the full grid */
	int rounds;
	unsigned int repeat; /* test_run repeat for the established and denied cases */
	unsigned int calls;  /* repeat = 1 calls per round for the allowed new flow */
	int families;        /* bit 0: IPv4 flow, bit 1: IPv6 flow */
	int cpu;
	int max_seconds;
	bool verify;
	bool events;
	const char *markdown;
};

/* --- results ----------------------------------------------------------------------------- */

/*
 * The allowed new flow can only be measured one run per call (see measure_single); the
 * denied one is measured both ways, so that allowed and denied compare like for like and the
 * cost of a single cold-ish run shows against the steady state of repeated runs.
 */
enum bench_case {
	CASE_NEW_ALLOW, /* repeat 1 */
	CASE_NEW_DENY1, /* repeat 1 */
	CASE_NEW_DENY,  /* repeat R */
	CASE_EST,       /* repeat R */
	CASE_COUNT,
};

static const char *const case_name[CASE_COUNT] = {
	[CASE_NEW_ALLOW] = "new flow, allowed",
	[CASE_NEW_DENY1] = "new flow, denied (repeat 1)",
	[CASE_NEW_DENY] = "new flow, denied",
	[CASE_EST] = "established",
};

struct series {
	double v[MAX_ROUNDS]; /* ns per packet, one per round */
	int n;
};

struct stat3 {
	double med, min, max;
};

struct point {
	uint32_t ipc_target, pol_target;
	uint64_t ipc_entries, pol_entries; /* trie entries actually in the maps */
	double fill_s;                     /* time spent filling maps to reach this point */
	uint64_t ipc_memlock, pol_memlock; /* fdinfo memlock, bytes */
	int64_t slab_delta_kb;             /* /proc/meminfo Slab against before any fill */
	bool measured;
	/* [family index][case]: the case and the empty program, same rounds */
	struct series prog[2][CASE_COUNT];
	struct series empty[2][CASE_COUNT];
	/* the floor program of the case (CASE_EST, CASE_NEW_DENY only), same rounds */
	struct series floor[2][CASE_COUNT];
};

/* --- the benchmark's state ---------------------------------------------------------------- */

struct ipc_gen {
	uint64_t next; /* index of the next entry */
	uint32_t v4_pod, v4_cidr, v6_pod, v6_cidr;
};

struct bench {
	struct opts o;
	struct pw_dp *dp;
	struct empty *empty;
	struct floor *floor;
	int fd_in, fd_eg, fd_empty, fd_floor_hash, fd_floor_lpm;
	int fd_ipc, fd_pol;
	uint32_t ifindex;
	char if_host[IFNAMSIZ], if_peer[IFNAMSIZ];
	struct ipc_gen ig;
	/* policy: entries 0..pol_next-1 are in the map; pol_n[k] = trie entries of entry k */
	uint8_t *pol_n;
	uint64_t pol_cap, pol_next, pol_count;
	/* the measured flow */
	uint32_t pod4, peer4, pod6[4], peer6[4];
	/* event reader */
	bool events_open;
	uint64_t ev_seen, ev_lost;
	/* verification failures, printed with the results */
	int verify_failures;
	long slab_base_kb;
	struct point pts[MAX_SCALES * MAX_SCALES];
	int n_pts;
	double t_start;
	double load_start;
	double setup_total_s;
	bool truncated;
};

/* --- small helpers ----------------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void log_cb(void *ctx, enum pw_log_level level, const char *msg)
{
	static const char *const lvl[] = { "error", "warning", "info", "debug" };

	fprintf(stderr, "datapath %s: %s\n", lvl[level <= PW_LOG_DEBUG ? level : PW_LOG_DEBUG],
		msg);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static struct stat3 series_stat(const struct series *s)
{
	struct stat3 r = { 0 };
	double v[MAX_ROUNDS];

	if (!s->n)
		return r;
	memcpy(v, s->v, s->n * sizeof(v[0]));
	qsort(v, s->n, sizeof(v[0]), cmp_double);
	r.min = v[0];
	r.max = v[s->n - 1];
	r.med = s->n % 2 ? v[s->n / 2] : (v[s->n / 2 - 1] + v[s->n / 2]) / 2;
	return r;
}

static const char *fmt_scale(uint32_t n, char *buf, size_t len)
{
	if (n >= 1000000 && n % 1000000 == 0)
		snprintf(buf, len, "%uM", n / 1000000);
	else if (n >= 1000 && n % 1000 == 0)
		snprintf(buf, len, "%uk", n / 1000);
	else
		snprintf(buf, len, "%u", n);
	return buf;
}

static int parse_scales(const char *s, uint32_t *out, int *n)
{
	char *dup = strdup(s), *save = NULL, *tok;
	int err = 0;

	if (!dup)
		return -ENOMEM;
	*n = 0;
	for (tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *end;
		double v = strtod(tok, &end);

		if (*end == 'k' || *end == 'K')
			v *= 1e3, end++;
		else if (*end == 'M' || *end == 'm')
			v *= 1e6, end++;
		if (*end || v < MIN_SCALE || v > 16e6 || *n == MAX_SCALES) {
			err = -EINVAL;
			goto out;
		}
		out[(*n)++] = (uint32_t)v;
	}
	if (!*n)
		err = -EINVAL;
out:
	free(dup);
	return err;
}

/* Kernel memory charged to a map, as bpftool shows it. */
static uint64_t map_memlock(int fd)
{
	char path[64], line[256];
	uint64_t v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %" SCNu64, &v) == 1)
			break;
	fclose(f);
	return v;
}

static long meminfo_kb(const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* The 1-minute load average: other work on the machine shows up as spread. */
static double loadavg1(void)
{
	double v = -1;
	FILE *f = fopen("/proc/loadavg", "r");

	if (f) {
		if (fscanf(f, "%lf", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* --- a veth pair in the private netns ---------------------------------------------------- */

static int veth_create(const char *name, const char *peer)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlattr *linkinfo, *data, *peer_nest;
	struct mnl_socket *nl = NULL;
	struct ifinfomsg *ifm;
	struct nlmsghdr *nlh;
	unsigned int seq = (unsigned int)time(NULL), portid;
	int one = 1, err = 0;
	ssize_t ret;

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	peer_nest = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	/* the peer's attributes follow its own ifinfomsg inside the nest */
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, peer);
	mnl_attr_nest_end(nlh, peer_nest);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, linkinfo);

	nl = mnl_socket_open(NETLINK_ROUTE);
	if (!nl) {
		err = -errno;
		goto out;
	}
	mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one));
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		err = -errno;
		goto out;
	}
	ret = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	if (ret < 0) {
		err = -errno;
		goto out;
	}
	if (mnl_cb_run(buf, ret, seq, portid, NULL, NULL) < 0)
		err = -errno;
out:
	if (nl)
		mnl_socket_close(nl);
	return err;
}

/* --- packets ----------------------------------------------------------------------------- */

struct pkt {
	uint8_t buf[128];
	uint32_t len;
};

static uint32_t csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/*
 * A TCP segment the way a Linux client sends it: a SYN carries MSS, SACK-permitted,
 * timestamps and window scale; other segments carry timestamps. Checksums are valid so the
 * packet is what a real veth would deliver.
 */
#define POD_MAC "\x02\x00\x5e\x00\x00\x01"
#define GW_MAC	"\x02\x00\x5e\x00\x00\x02"

static void build_tcp(struct pkt *p, int family, const uint32_t *src, const uint32_t *dst,
		      uint16_t sport, uint16_t dport, uint8_t flags, bool from_pod)
{
	static const uint8_t opt_syn[20] = { 2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1,
					     0, 0, 0, 0, 1, 3, 3, 7 };
	static const uint8_t opt_ts[12] = { 1, 1, 8, 10, 0, 0, 0, 2, 0, 0, 0, 1 };
	const uint8_t *opt = (flags & 0x02) ? opt_syn : opt_ts;
	size_t optlen = (flags & 0x02) ? sizeof(opt_syn) : sizeof(opt_ts);
	size_t l3len = family == PW_FAMILY_V4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr);
	size_t l4len = sizeof(struct tcphdr) + optlen;
	struct ethhdr *eth = (void *)p->buf;
	struct tcphdr *th = (void *)(p->buf + sizeof(*eth) + l3len);
	uint32_t sum = 0;

	memset(p, 0, sizeof(*p));
	/* from the pod to its gateway; a frame for the pod the other way round */
	memcpy(eth->h_dest, from_pod ? GW_MAC : POD_MAC, ETH_ALEN);
	memcpy(eth->h_source, from_pod ? POD_MAC : GW_MAC, ETH_ALEN);
	if (family == PW_FAMILY_V4) {
		struct iphdr *ip = (void *)(eth + 1);

		eth->h_proto = htons(ETH_P_IP);
		ip->version = 4;
		ip->ihl = 5;
		ip->tot_len = htons(sizeof(*ip) + l4len);
		ip->id = htons(0x1234);
		ip->frag_off = htons(0x4000); /* DF */
		ip->ttl = 64;
		ip->protocol = IPPROTO_TCP;
		ip->saddr = src[0];
		ip->daddr = dst[0];
		ip->check = csum_fold(csum_add(0, ip, sizeof(*ip)));
		sum = csum_add(sum, &ip->saddr, 8);
	} else {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		eth->h_proto = htons(ETH_P_IPV6);
		ip6->version = 6;
		ip6->payload_len = htons(l4len);
		ip6->nexthdr = IPPROTO_TCP;
		ip6->hop_limit = 64;
		memcpy(&ip6->saddr, src, 16);
		memcpy(&ip6->daddr, dst, 16);
		sum = csum_add(sum, &ip6->saddr, 32);
	}
	th->source = htons(sport);
	th->dest = htons(dport);
	th->seq = htonl(0x10000000);
	th->ack_seq = (flags & 0x10) ? htonl(0x20000001) : 0;
	th->doff = l4len / 4;
	((uint8_t *)th)[13] = flags;
	th->window = htons(64240);
	memcpy(th + 1, opt, optlen);
	sum += IPPROTO_TCP + l4len;
	th->check = csum_fold(csum_add(sum, th, l4len));
	p->len = sizeof(*eth) + l3len + l4len;
}

#define TCP_SYN    0x02
#define TCP_ACK    0x10
#define TCP_SYNACK 0x12

/* --- map fills --------------------------------------------------------------------------- */

static uint32_t label_id(uint64_t x)
{
	/* an odd multiplier is a bijection mod 2^16: 64 consecutive x never share an identity */
	return PW_ID_FIRST_LOCAL + (uint32_t)((x * 40503u) & 0xffff);
}

/*
 * The ipcache entry at the generator's next index. The first 100k entries are 80% IPv4 pod
 * addresses (/32), 10% IPv4 CIDRs (/26../28, overlapping the pods as ipBlocks do), 5% IPv6
 * pod addresses and 5% IPv6 CIDRs. 198.18.0.0/15 holds no more, so later entries are IPv6:
 * 90% /128 pods, 10% CIDRs (/48, /64, /96, /112).
 */
static void ipc_gen_next(struct ipc_gen *g, struct pw_ipcache_entry *e)
{
	uint64_t k = g->next++;
	int kind; /* 0 v4 pod, 1 v4 cidr, 2 v6 pod, 3 v6 cidr */

	memset(e, 0, sizeof(*e));
	if (k < V4_CAP_INDEX)
		kind = k % 10 < 8 ? 0 : k % 10 == 8 ? 1 : k % 20 == 9 ? 2 : 3;
	else
		kind = k % 10 ? 2 : 3;

	switch (kind) {
	case 0: {
		uint32_t i = g->v4_pod++;

		e->cidr.family = PW_FAMILY_V4;
		e->cidr.prefixlen = 32;
		e->cidr.addr[0] = htonl(V4_BASE + 1 + i);
		e->val.identity = label_id(i);
		break;
	}
	case 1: {
		/*
		 * j -> (prefix length, index within that length) is a bijection while each
		 * length has room: /28 takes 4 of every 7, /27 two, /26 one.
		 */
		uint32_t j = g->v4_cidr++, r = j % 7, len, idx, bits;

		if (r < 4)
			len = 28, idx = (j / 7) * 4 + r;
		else if (r < 6)
			len = 27, idx = (j / 7) * 2 + (r - 4);
		else
			len = 26, idx = j / 7;
		bits = len - 15;
		idx = (uint32_t)(idx * 2654435761u) & ((1u << bits) - 1);
		e->cidr.family = PW_FAMILY_V4;
		e->cidr.prefixlen = len;
		e->cidr.addr[0] = htonl(V4_BASE + (idx << (32 - len)));
		e->val.identity = PW_ID_CIDR_FLAG | j;
		break;
	}
	case 2: {
		uint32_t p = g->v6_pod++;

		e->cidr.family = PW_FAMILY_V6;
		e->cidr.prefixlen = 128;
		e->cidr.addr[0] = htonl(0xfd000001);
		e->cidr.addr[3] = htonl(p + 1);
		e->val.identity = label_id(p);
		break;
	}
	default: {
		static const uint8_t lens[4] = { 48, 64, 96, 112 };
		uint32_t c = g->v6_cidr++, j = c / 4;

		e->cidr.family = PW_FAMILY_V6;
		e->cidr.prefixlen = lens[c % 4];
		e->cidr.addr[0] = htonl(0xfd000002);
		switch (c % 4) {
		case 0: e->cidr.addr[1] = htonl(j << 16); break;
		case 1: e->cidr.addr[1] = htonl(j); break;
		case 2: e->cidr.addr[2] = htonl(j); break;
		default: e->cidr.addr[3] = htonl(j << 16); break;
		}
		/* v4 CIDR identities stay below 2^20 (at most 10k of them) */
		e->val.identity = PW_ID_CIDR_FLAG | (1u << 20) | c;
		break;
	}
	}
}

static int ipcache_grow(struct bench *b, uint64_t target)
{
	struct pw_ipcache_entry *batch = calloc(FILL_BATCH, sizeof(*batch));
	int err = 0;

	if (!batch)
		return -ENOMEM;
	while (b->ig.next < target) {
		size_t n = 0;

		while (n < FILL_BATCH && b->ig.next < target)
			ipc_gen_next(&b->ig, &batch[n++]);
		err = pw_dp_ipcache_update(b->dp, batch, n);
		if (err < 0) {
			fprintf(stderr, "ipcache update at entry %" PRIu64 ": %s\n", b->ig.next,
				strerror(-err));
			goto out;
		}
	}
	err = 0;
out:
	free(batch);
	return err;
}

/*
 * Policy entry k. Entries come in blocks of 64 per subject identity; within a block the peers
 * are distinct (90% label identities, 10% CIDR identities), so no two entries share a key.
 * Half ingress, half egress; mostly single TCP ports, some UDP, some whole-protocol entries
 * and 1% port ranges (endPort) that expand to several prefixes. No filler entry uses the ANY
 * peer, nor covers DENY_PORT or ALLOW_PORT, and none names PEER_ID: the measured verdicts
 * depend on the one entry the generator places at MEAS_POL_INDEX.
 */
static void pol_gen(uint64_t k, struct pw_policy_entry *e)
{
	static const uint16_t ports[16] = { 80,   443,  53,   5432,  6379,  3306,  9090, 8443,
					    27017, 11211, 2379, 9200, 5672, 6443, 10250, 8000 };
	uint32_t r = (uint32_t)(k % 100);

	memset(e, 0, sizeof(*e));
	e->subject = PW_ID_FIRST_LOCAL + (uint32_t)(k / POL_BLOCK);
	e->val.flags = PW_POL_F_ALLOW;
	e->val.cookie = (uint32_t)k + 1;
	if (k == MEAS_POL_INDEX) {
		e->peer = PEER_ID;
		e->direction = PW_DIR_EGRESS;
		e->proto = IPPROTO_TCP;
		e->port_lo = e->port_hi = ALLOW_PORT;
		return;
	}
	e->peer = (k % 10 == 7) ? (PW_ID_CIDR_FLAG | (uint32_t)((k * 40503u) & 0xffff)) :
				  label_id(k);
	e->direction = k & 1 ? PW_DIR_EGRESS : PW_DIR_INGRESS;
	if (r == 50) {
		e->proto = IPPROTO_TCP;
		e->port_lo = 20000 + (k / 100 % 7) * 1000;
		e->port_hi = e->port_lo + 999;
	} else if (r < 75) {
		e->proto = IPPROTO_TCP;
		e->port_lo = e->port_hi = ports[(k / 3) % 16];
	} else if (r < 95) {
		e->proto = IPPROTO_UDP;
		e->port_lo = e->port_hi = r < 85 ? 53 : 30000 + (uint16_t)(k % 2000);
	} else {
		e->proto = r < 98 ? IPPROTO_TCP : IPPROTO_ICMP;
		e->port_lo = 0;
		e->port_hi = 0xffff;
	}
}

static int pol_expand_count(uint64_t k)
{
	struct pw_policy_key keys[40];
	struct pw_policy_entry e;

	pol_gen(k, &e);
	return pw_policy_expand(&e, keys, 40);
}

/* Index of the first entry at which the running trie count reaches target. */
static uint64_t pol_index_for(struct bench *b, uint64_t target)
{
	uint64_t k, c = 0;

	for (k = 0; k < b->pol_next && c < target; k++)
		c += b->pol_n[k];
	return k;
}

static int policy_resize(struct bench *b, uint64_t target)
{
	struct pw_policy_entry *batch = calloc(FILL_BATCH, sizeof(*batch));
	int err = 0;

	if (!batch)
		return -ENOMEM;
	/* shrink: delete from the end back to where growing to target stopped */
	if (target < b->pol_count) {
		uint64_t stop = pol_index_for(b, target);

		while (b->pol_next > stop) {
			size_t n = 0;

			while (n < FILL_BATCH && b->pol_next > stop) {
				b->pol_next--;
				pol_gen(b->pol_next, &batch[n++]);
				b->pol_count -= b->pol_n[b->pol_next];
			}
			err = pw_dp_policy_delete(b->dp, batch, n);
			if (err < 0) {
				fprintf(stderr, "policy delete: %s\n", strerror(-err));
				goto out;
			}
		}
	}
	while (b->pol_count < target) {
		size_t n = 0;

		while (n < FILL_BATCH && b->pol_count < target) {
			int c;

			if (b->pol_next == b->pol_cap) {
				uint64_t cap = b->pol_cap ? b->pol_cap * 2 : 1 << 16;
				uint8_t *p = realloc(b->pol_n, cap);

				if (!p) {
					err = -ENOMEM;
					goto out;
				}
				b->pol_n = p;
				b->pol_cap = cap;
			}
			c = pol_expand_count(b->pol_next);
			if (c <= 0) {
				err = c ? c : -EINVAL;
				fprintf(stderr, "policy expand of entry %" PRIu64 ": %s\n",
					b->pol_next, strerror(-err));
				goto out;
			}
			b->pol_n[b->pol_next] = (uint8_t)c;
			pol_gen(b->pol_next++, &batch[n++]);
			b->pol_count += c;
		}
		err = pw_dp_policy_update(b->dp, batch, n);
		if (err < 0) {
			fprintf(stderr, "policy update: %s\n", strerror(-err));
			goto out;
		}
	}
	err = 0;
out:
	free(batch);
	return err;
}

/* The measured flow's addresses carry the subject's and the peer's identities. */
static int write_flow_entries(struct bench *b)
{
	struct pw_ipcache_entry e[4];
	struct pw_endpoint ep;
	int err, i;

	memset(e, 0, sizeof(e));
	for (i = 0; i < 4; i++) {
		e[i].cidr.family = i < 2 ? PW_FAMILY_V4 : PW_FAMILY_V6;
		e[i].cidr.prefixlen = i < 2 ? 32 : 128;
		e[i].val.identity = i % 2 ? PEER_ID : SUBJ_ID;
	}
	e[0].cidr.addr[0] = b->pod4;
	e[1].cidr.addr[0] = b->peer4;
	memcpy(e[2].cidr.addr, b->pod6, 16);
	memcpy(e[3].cidr.addr, b->peer6, 16);
	err = pw_dp_ipcache_update(b->dp, e, 4);
	if (err < 0)
		return err;

	memset(&ep, 0, sizeof(ep));
	ep.ep_id = 1;
	ep.identity = SUBJ_ID;
	ep.ifindex = b->ifindex;
	/*
	 * The flags the compiler gives this subject: isolated both ways, and no entry of its
	 * block names the any-peer wildcard (see the fill), so the datapath skips that lookup.
	 */
	ep.flags = PW_EP_F_ISOLATE_INGRESS | PW_EP_F_ISOLATE_EGRESS | PW_EP_F_NO_ANY_PEER_INGRESS |
		   PW_EP_F_NO_ANY_PEER_EGRESS;
	ep.policy_gen = 1;
	ep.n_v4 = 1;
	ep.v4[0] = b->pod4;
	ep.n_v6 = 1;
	memcpy(ep.v6[0], b->pod6, 16);
	/* the pod's MAC as a CNI result supplies it: the frames below come from it */
	memcpy(ep.mac, POD_MAC, sizeof(ep.mac));
	return pw_dp_endpoint_upsert(b->dp, &ep);
}

/* --- measurement ------------------------------------------------------------------------- */

static int run_prog(int fd, const struct pkt *p, struct __sk_buff *ctx, unsigned int repeat,
		    uint32_t *retval, uint32_t *duration)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->buf, .data_size_in = p->len,
		    .ctx_in = ctx, .ctx_size_in = sizeof(*ctx), .repeat = (int)repeat);
	int err = bpf_prog_test_run_opts(fd, &o);

	if (err)
		return err < 0 ? err : -errno;
	*retval = o.retval;
	*duration = o.duration;
	return 0;
}

static void on_event(void *ctx, int cpu, const struct pw_event *ev)
{
	((struct bench *)ctx)->ev_seen++;
}

static void on_lost(void *ctx, int cpu, uint64_t lost)
{
	((struct bench *)ctx)->ev_lost += lost;
}

static void drain_events(struct bench *b)
{
	if (b->events_open)
		while (pw_dp_events_consume(b->dp) > 0)
			;
}

/* Packets per reason so far, both directions summed. */
static int read_reasons(struct bench *b, uint64_t *out)
{
	struct pw_metric m[PW_METRICS_SLOTS];
	int err, r;

	err = pw_dp_metrics_read(b->dp, m);
	if (err < 0)
		return err;
	for (r = 0; r < PW_REASON_MAX; r++)
		out[r] = m[PW_METRIC_IDX(r, 0)].packets + m[PW_METRIC_IDX(r, 1)].packets;
	return 0;
}

/*
 * The measured packets must have taken the path they stand for: every one of them counted
 * under the expected reason and nothing else. Without this, a packet that misses the
 * endpoint or hits a stale conntrack entry would be timed as something it is not.
 */
static void check_reasons(struct bench *b, const uint64_t *before, unsigned int want,
			  uint64_t pkts, const char *what)
{
	uint64_t after[PW_REASON_MAX], other = 0;
	int r;

	if (!b->o.verify)
		return;
	if (read_reasons(b, after) < 0) {
		b->verify_failures++;
		return;
	}
	for (r = 0; r < PW_REASON_MAX; r++)
		if ((unsigned int)r != want)
			other += after[r] - before[r];
	if (after[want] - before[want] != pkts || other) {
		if (b->verify_failures++ < 5)
			fprintf(stderr,
				"verify: %s: %" PRIu64 " of %" PRIu64
				" packets counted as %s, %" PRIu64 " as something else\n",
				what, after[want] - before[want], pkts, pw_reason_str(want), other);
	}
}

static int expect_ret(struct bench *b, uint32_t got, bool drop, const char *what)
{
	if (!b->o.verify || (got == TC_ACT_SHOT) == drop)
		return 0;
	if (b->verify_failures++ < 5)
		fprintf(stderr, "verify: %s: program returned %u, expected %s\n", what, got,
			drop ? "TC_ACT_SHOT" : "a pass verdict");
	return 0;
}

struct flow {
	int family;
	const uint32_t *pod, *peer;
	struct __sk_buff ctx;
};

/* SYN, SYN-ACK (through the other program), ACK: the flow is established in conntrack. */
static int prime_established(struct bench *b, struct flow *f)
{
	struct pkt p;
	uint32_t ret, dur;
	int err;

	build_tcp(&p, f->family, f->pod, f->peer, EST_SPORT, ALLOW_PORT, TCP_SYN, true);
	err = run_prog(b->fd_in, &p, &f->ctx, 1, &ret, &dur);
	if (!err) {
		expect_ret(b, ret, false, "priming SYN");
		build_tcp(&p, f->family, f->peer, f->pod, ALLOW_PORT, EST_SPORT, TCP_SYNACK, false);
		err = run_prog(b->fd_eg, &p, &f->ctx, 1, &ret, &dur);
	}
	if (!err) {
		expect_ret(b, ret, false, "priming SYN-ACK");
		build_tcp(&p, f->family, f->pod, f->peer, EST_SPORT, ALLOW_PORT, TCP_ACK, true);
		err = run_prog(b->fd_in, &p, &f->ctx, 1, &ret, &dur);
	}
	if (!err)
		expect_ret(b, ret, false, "priming ACK");
	return err;
}

/*
 * One A/B/C triple with repeat = R: podwall, the empty program and the case's floor program;
 * which one goes first rotates with the round. The floor must hit (TC_ACT_OK), as podwall's
 * own lookup does, or it would time a miss.
 */
static int measure_repeat(struct bench *b, struct flow *f, const struct pkt *p, int round,
			  bool drop, unsigned int want, const char *what, int fd_floor,
			  double *prog_ns, double *empty_ns, double *floor_ns)
{
	uint64_t before[PW_REASON_MAX];
	uint32_t ret, dur;
	int i, err = 0;

	for (i = 0; i < 3; i++) {
		int which = (i + round) % 3; /* 0 podwall, 1 empty, 2 floor */

		if (which == 2) {
			err = run_prog(fd_floor, p, &f->ctx, b->o.repeat, &ret, &dur);
			if (err)
				return err;
			if (b->o.verify && ret != TC_ACT_OK && b->verify_failures++ < 5)
				fprintf(stderr, "verify: %s: the floor's lookup missed\n", what);
			*floor_ns = dur;
		} else if (which == 0) {
			if (b->o.verify && (err = read_reasons(b, before)) < 0)
				return err;
			err = run_prog(b->fd_in, p, &f->ctx, b->o.repeat, &ret, &dur);
			if (err)
				return err;
			expect_ret(b, ret, drop, what);
			check_reasons(b, before, want, b->o.repeat, what);
			*prog_ns = dur;
			drain_events(b);
		} else {
			err = run_prog(b->fd_empty, p, &f->ctx, b->o.repeat, &ret, &dur);
			if (err)
				return err;
			*empty_ns = dur;
		}
	}
	return 0;
}

/*
 * An allowed SYN creates a conntrack entry, so with repeat > 1 every run after the first
 * would be an established packet. Each call therefore runs once (repeat = 1) on a flow of
 * its own (the source port changes), and the empty program gets the same treatment: both
 * include the same per-call timer overhead. Calls alternate A/B.
 */
static int measure_single(struct bench *b, struct flow *f, int round, uint16_t dport, bool drop,
			  unsigned int want, const char *what, double *prog_ns, double *empty_ns)
{
	uint64_t before[PW_REASON_MAX], sum_prog = 0, sum_empty = 0;
	struct pkt p;
	uint32_t ret, dur;
	unsigned int c;
	int err;

	if (b->o.verify && (err = read_reasons(b, before)) < 0)
		return err;
	for (c = 0; c < b->o.calls; c++) {
		bool prog_first = (c + round) % 2 == 0;
		int i;

		build_tcp(&p, f->family, f->pod, f->peer, NEW_SPORT_BASE + c, dport, TCP_SYN, true);
		for (i = 0; i < 2; i++) {
			if ((i == 0) == prog_first) {
				err = run_prog(b->fd_in, &p, &f->ctx, 1, &ret, &dur);
				if (err)
					return err;
				expect_ret(b, ret, drop, what);
				sum_prog += dur;
			} else {
				err = run_prog(b->fd_empty, &p, &f->ctx, 1, &ret, &dur);
				if (err)
					return err;
				sum_empty += dur;
			}
		}
	}
	check_reasons(b, before, want, b->o.calls, what);
	drain_events(b);
	*prog_ns = (double)sum_prog / b->o.calls;
	*empty_ns = (double)sum_empty / b->o.calls;
	return 0;
}

static int measure_round(struct bench *b, struct flow *f, int round, struct point *pt, int fi,
			 bool record)
{
	double pn[CASE_COUNT], en[CASE_COUNT], fn[CASE_COUNT] = { 0 };
	struct pkt est, deny;
	int err, c;

	/* a clean table each round: the allowed SYNs of the previous round are gone */
	err = pw_dp_ct_flush(b->dp, 0, NULL, NULL);
	if (err < 0)
		return err;
	err = prime_established(b, f);
	if (err)
		return err;
	drain_events(b);

	build_tcp(&est, f->family, f->pod, f->peer, EST_SPORT, ALLOW_PORT, TCP_ACK, true);
	build_tcp(&deny, f->family, f->pod, f->peer, EST_SPORT + 1, DENY_PORT, TCP_SYN, true);
	err = measure_repeat(b, f, &est, round, false, PW_OK_ESTABLISHED, case_name[CASE_EST],
			     b->fd_floor_hash, &pn[CASE_EST], &en[CASE_EST], &fn[CASE_EST]);
	if (!err)
		err = measure_repeat(b, f, &deny, round, true, PW_DROP_POLICY,
				     case_name[CASE_NEW_DENY], b->fd_floor_lpm,
				     &pn[CASE_NEW_DENY], &en[CASE_NEW_DENY], &fn[CASE_NEW_DENY]);
	if (!err)
		err = measure_single(b, f, round, DENY_PORT, true, PW_DROP_POLICY,
				     case_name[CASE_NEW_DENY1], &pn[CASE_NEW_DENY1],
				     &en[CASE_NEW_DENY1]);
	if (!err)
		err = measure_single(b, f, round, ALLOW_PORT, false, PW_OK_POLICY,
				     case_name[CASE_NEW_ALLOW], &pn[CASE_NEW_ALLOW],
				     &en[CASE_NEW_ALLOW]);
	if (err || !record)
		return err;
	for (c = 0; c < CASE_COUNT; c++) {
		struct series *sp = &pt->prog[fi][c], *se = &pt->empty[fi][c];
		struct series *sf = &pt->floor[fi][c];

		sp->v[sp->n++] = pn[c];
		se->v[se->n++] = en[c];
		if (c == CASE_EST || c == CASE_NEW_DENY)
			sf->v[sf->n++] = fn[c];
	}
	return 0;
}

static int measure_point(struct bench *b, struct point *pt)
{
	int fi, r, err = 0;

	for (fi = 0; fi < 2; fi++) {
		struct flow f = { .family = fi ? PW_FAMILY_V6 : PW_FAMILY_V4 };

		if (!(b->o.families & (1 << fi)))
			continue;
		f.pod = fi ? b->pod6 : &b->pod4;
		f.peer = fi ? b->peer6 : &b->peer4;
		f.ctx.ifindex = b->ifindex;
		/* round -1 warms caches, the branch predictor and the LRU's free lists */
		for (r = -1; r < b->o.rounds; r++) {
			err = measure_round(b, &f, r < 0 ? 0 : r, pt, fi, r >= 0);
			if (err) {
				fprintf(stderr, "test run: %s\n", strerror(-err));
				return err;
			}
		}
	}
	pt->measured = true;
	return 0;
}

/* --- reporting --------------------------------------------------------------------------- */

static void cell(char *buf, size_t len, const struct series *s)
{
	struct stat3 st = series_stat(s);

	snprintf(buf, len, "%.0f (%.0f..%.0f)", st.med, st.min, st.max);
}

static void machine_info(char *buf, size_t len, int cpu)
{
	char model[128] = "unknown", line[256];
	struct utsname u;
	FILE *f = fopen("/proc/cpuinfo", "r");

	if (f) {
		while (fgets(line, sizeof(line), f)) {
			char *colon = strchr(line, ':');

			if (!strncmp(line, "model name", 10) && colon) {
				snprintf(model, sizeof(model), "%s", colon + 2);
				model[strcspn(model, "\n")] = 0;
				break;
			}
		}
		fclose(f);
	}
	uname(&u);
	snprintf(buf, len, "Linux %s, %ld CPUs (%s), measured on CPU %d", u.release,
		 sysconf(_SC_NPROCESSORS_ONLN), model, cpu);
}

static void report_header(struct bench *b, FILE *out, bool md)
{
	char mach[512];

	machine_info(mach, sizeof(mach), b->o.cpu);
	if (md) {
		fprintf(out, "<!-- generated by bench_tc --markdown -->\n");
		fprintf(out, "Machine: %s.  \n", mach);
		fprintf(out,
			"Parameters: %d rounds after one warm-up round; repeat %u for the "
			"repeated cases; %u calls of repeat 1 per round for the single-run "
			"cases; %s grid.%s  \n",
			b->o.rounds, b->o.repeat, b->o.calls, b->o.diagonal ? "diagonal" : "full",
			b->o.verify ? " Every measured packet's verdict reason was checked." :
				      " Verdict reasons NOT checked (--no-verify).");
		fprintf(out,
			"Setup (map fills) took %.1f s in all; the whole run %.1f s. Load average "
			"%.2f at the start, %.2f at the end.  \n",
			b->setup_total_s, now_s() - b->t_start, b->load_start, loadavg1());
	} else {
		fprintf(out, "\n%s\nsetup (map fills) %.1f s, whole run %.1f s, load %.2f -> "
			     "%.2f\n",
			mach, b->setup_total_s, now_s() - b->t_start, b->load_start, loadavg1());
	}
	if (b->events_open)
		fprintf(out,
			"Event reader open, as in the daemon: %" PRIu64 " events read, %" PRIu64
			" lost.\n\n",
			b->ev_seen, b->ev_lost);
	else
		fprintf(out, "Event reader not open (--no-events): the programs' event output "
			     "finds no ring and returns at once.\n\n");
}

/* A row's first cells: the scale point and the flow's family. */
static void row_labels(FILE *out, bool md, const struct point *pt, int fi)
{
	char a[16], c[16];

	fprintf(out, md ? "| %s | %s | IPv%d |" : "%-8s%-8sIPv%d ",
		fmt_scale(pt->ipc_target, a, sizeof(a)), fmt_scale(pt->pol_target, c, sizeof(c)),
		fi ? 6 : 4);
}

/* One cell per case: median (min..max), then x the empty program's median. */
static void report_row(struct bench *b, FILE *out, bool md, const struct point *pt, int fi)
{
	char buf[64];
	int k;

	row_labels(out, md, pt, fi);
	for (k = 0; k < CASE_COUNT; k++) {
		double ratio = series_stat(&pt->prog[fi][k]).med /
			       series_stat(&pt->empty[fi][k]).med;
		char full[96];

		cell(buf, sizeof(buf), &pt->prog[fi][k]);
		snprintf(full, sizeof(full), "%s %s%.1f", buf, md ? "×" : "x", ratio);
		fprintf(out, md ? " %s |" : " %-25s", full);
	}
	cell(buf, sizeof(buf), &pt->empty[fi][CASE_NEW_ALLOW]);
	fprintf(out, md ? " %s |" : " %-16s", buf);
	cell(buf, sizeof(buf), &pt->empty[fi][CASE_EST]);
	fprintf(out, md ? " %s |\n" : " %s\n", buf);
}

static void report_figures(struct bench *b, FILE *out, bool md)
{
	int i, fi;

	if (md) {
		fprintf(out, "ns per packet: median (min..max) over the rounds, × the empty TC "
			     "program's median in the same rounds at the same repeat.\n\n");
		fprintf(out,
			"| ipcache | policy | flow | new flow, allowed (repeat 1) "
			"| new flow, denied (repeat 1) | new flow, denied (repeat %u) "
			"| established (repeat %u) | empty (repeat 1) | empty (repeat %u) |\n",
			b->o.repeat, b->o.repeat, b->o.repeat);
		fprintf(out, "|---:|---:|:---|---:|---:|---:|---:|---:|---:|\n");
	} else {
		fprintf(out, "ns/packet median (min..max) xempty; r1 = repeat 1, rR = repeat %u\n",
			b->o.repeat);
		fprintf(out, "%-8s%-8s%-5s%-26s%-26s%-26s%-26s%-17s%s\n", "ipcache", "policy",
			"flow", " new allowed r1", " new denied r1", " new denied rR",
			" established rR", " empty r1", " empty rR");
	}
	for (i = 0; i < b->n_pts; i++)
		for (fi = 0; fi < 2; fi++)
			if (b->pts[i].measured && (b->o.families & (1 << fi)))
				report_row(b, out, md, &b->pts[i], fi);
}

/*
 * The program's own cost: median minus the empty program's median. For the repeat-1 cases
 * the ratio is diluted by the per-call timer overhead both programs pay; the difference is
 * not.
 */
static void report_delta(struct bench *b, FILE *out, bool md)
{
	int i, fi, k;

	if (md) {
		fprintf(out, "\nCost above the empty program: median minus the empty program's "
			     "median at the same repeat, ns per packet.\n\n");
		fprintf(out, "| ipcache | policy | flow | new flow, allowed (repeat 1) "
			     "| new flow, denied (repeat 1) | new flow, denied (repeat %u) "
			     "| established (repeat %u) |\n",
			b->o.repeat, b->o.repeat);
		fprintf(out, "|---:|---:|:---|---:|---:|---:|---:|\n");
	} else {
		fprintf(out, "\nabove empty, ns\n%-8s%-8s%-5s%16s%16s%16s%16s\n", "ipcache",
			"policy", "flow", "new allowed r1", "new denied r1", "new denied rR",
			"established rR");
	}
	for (i = 0; i < b->n_pts; i++) {
		const struct point *pt = &b->pts[i];

		for (fi = 0; fi < 2; fi++) {
			if (!pt->measured || !(b->o.families & (1 << fi)))
				continue;
			row_labels(out, md, pt, fi);
			for (k = 0; k < CASE_COUNT; k++)
				fprintf(out, md ? " %.0f |" : "%16.0f",
					series_stat(&pt->prog[fi][k]).med -
						series_stat(&pt->empty[fi][k]).med);
			fputc('\n', out);
		}
	}
}

/*
 * Each repeated case against its floor, same rounds: the ratio of the medians (both include
 * the per-run cost every program pays, the empty program's), and the ratio of the costs above
 * the empty program (the program's own work against the lookup's own work).
 */
static void report_floor(struct bench *b, FILE *out, bool md)
{
	static const int cases[2] = { CASE_EST, CASE_NEW_DENY };
	static const char *const floor_name[2] = { "bare hash lookup", "bare LPM lookup" };
	char buf[64];
	int i, fi, k;

	if (md) {
		fprintf(out,
			"\nAgainst the floor: the repeated cases beside a program doing only the one "
			"lookup the verdict needs, on the same maps, in the same rounds "
			"(`bench/floor.bpf.c`): a conntrack hash lookup (`pw_ct_key`, %zu bytes) for "
			"the established packet, an ipcache LPM lookup of the destination for the "
			"denied SYN. ns per packet, median (min..max); ×floor is podwall's median "
			"over the floor's; above empty is (podwall - empty) / (floor - empty).\n\n",
			sizeof(struct pw_ct_key));
		fprintf(out, "| ipcache | policy | flow | established | %s | ×floor | above empty "
			     "| new flow, denied | %s | ×floor | above empty |\n",
			floor_name[0], floor_name[1]);
		fprintf(out, "|---:|---:|:---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	} else {
		fprintf(out, "\nagainst the floor (repeat %u): xfloor = median / floor median; "
			     "above = (prog - empty) / (floor - empty)\n%-8s%-8s%-5s%-18s%-18s%8s%8s  "
			     "%-18s%-18s%8s%8s\n",
			b->o.repeat, "ipcache", "policy", "flow", " established", " bare hash",
			"xfloor", "above", " denied", " bare LPM", "xfloor", "above");
	}
	for (i = 0; i < b->n_pts; i++) {
		const struct point *pt = &b->pts[i];

		for (fi = 0; fi < 2; fi++) {
			if (!pt->measured || !(b->o.families & (1 << fi)))
				continue;
			row_labels(out, md, pt, fi);
			for (k = 0; k < 2; k++) {
				double pm = series_stat(&pt->prog[fi][cases[k]]).med;
				double em = series_stat(&pt->empty[fi][cases[k]]).med;
				double fm = series_stat(&pt->floor[fi][cases[k]]).med;

				cell(buf, sizeof(buf), &pt->prog[fi][cases[k]]);
				fprintf(out, md ? " %s |" : " %-17s", buf);
				cell(buf, sizeof(buf), &pt->floor[fi][cases[k]]);
				fprintf(out, md ? " %s |" : " %-17s", buf);
				fprintf(out, md ? " %.2f |" : "%8.2f", pm / fm);
				if (fm > em)
					fprintf(out, md ? " %.1f |" : "%8.1f", (pm - em) / (fm - em));
				else
					fprintf(out, md ? " n/a |" : "%8s", "n/a");
				if (!md && k == 0)
					fputs("  ", out);
			}
			fputc('\n', out);
		}
	}
}

static void report_setup(struct bench *b, FILE *out, bool md)
{
	const char *fmt = md ? "| %s | %s | %" PRIu64 " | %" PRIu64
			       " | %.2f s | %.1f MiB | %.1f MiB | %.1f MiB |\n" :
			       "%-8s%-8s%12" PRIu64 " %12" PRIu64
			       " %9.2f %10.1f MiB %10.1f MiB %8.1f MiB\n";
	char a[16], c[16];
	int i;

	if (md) {
		fprintf(out, "\nMap fills and memory: memlock as /proc/self/fdinfo shows it "
			     "(what the map charges); Slab growth from /proc/meminfo since before "
			     "the first fill (the slab keeps freed trie nodes for a while after a "
			     "shrink).\n\n");
		fprintf(out, "| ipcache | policy | ipcache entries | policy trie entries "
			     "| fill time | ipcache memlock | policy memlock | Slab growth |\n");
		fprintf(out, "|---:|---:|---:|---:|---:|---:|---:|---:|\n");
	} else {
		fprintf(out, "\n%-8s%-8s%12s %12s %9s %14s %14s %12s\n", "ipcache", "policy",
			"ipc entries", "pol entries", "fill s", "ipc memlock", "pol memlock",
			"slab +");
	}
	for (i = 0; i < b->n_pts; i++) {
		struct point *pt = &b->pts[i];

		if (!pt->measured)
			continue;
		fprintf(out, fmt, fmt_scale(pt->ipc_target, a, sizeof(a)),
			fmt_scale(pt->pol_target, c, sizeof(c)), pt->ipc_entries, pt->pol_entries,
			pt->fill_s, pt->ipc_memlock / 1048576.0, pt->pol_memlock / 1048576.0,
			pt->slab_delta_kb / 1024.0);
	}
}

static void report(struct bench *b, FILE *out, bool md)
{
	char a[16], c[16];
	int i;

	report_header(b, out, md);
	report_figures(b, out, md);
	report_delta(b, out, md);
	report_floor(b, out, md);
	report_setup(b, out, md);
	if (b->truncated) {
		fprintf(out,
			"\n%sStopped at the time bound (--max-seconds %d): these points were not "
			"measured:\n",
			md ? "**Note:** " : "", b->o.max_seconds);
		for (i = 0; i < b->n_pts; i++)
			if (!b->pts[i].measured)
				fprintf(out, "%s%s x %s\n", md ? "- " : "  ",
					fmt_scale(b->pts[i].ipc_target, a, sizeof(a)),
					fmt_scale(b->pts[i].pol_target, c, sizeof(c)));
	}
	if (b->o.verify && b->verify_failures)
		fprintf(out,
			"\n%sWARNING: %d measured calls did not take the expected path; the "
			"figures above do not stand for what they are labelled.%s\n",
			md ? "**" : "", b->verify_failures, md ? "**" : "");
	fflush(out);
}

/* --- the run ----------------------------------------------------------------------------- */

static void plan_points(struct bench *b)
{
	const struct opts *o = &b->o;
	int i, j;

	b->n_pts = 0;
	for (i = 0; i < o->n_ipc; i++) {
		/* snake order: the policy map alternately grows and shrinks, never refilled */
		for (j = 0; j < o->n_pol; j++) {
			int jj = i % 2 ? o->n_pol - 1 - j : j;
			bool on_diag = o->n_ipc == o->n_pol ? i == jj :
				       (o->n_pol - 1) * i == (o->n_ipc - 1) * jj;
			bool corner = (i == 0 && jj == o->n_pol - 1) ||
				      (i == o->n_ipc - 1 && jj == 0);

			if (o->diagonal && !on_diag && !corner)
				continue;
			b->pts[b->n_pts].ipc_target = o->ipc_scales[i];
			b->pts[b->n_pts].pol_target = o->pol_scales[jj];
			b->n_pts++;
		}
	}
}

static int run(struct bench *b)
{
	int i, err = 0;

	b->slab_base_kb = meminfo_kb("Slab");
	for (i = 0; i < b->n_pts; i++) {
		struct point *pt = &b->pts[i];
		double t0 = now_s();
		char a[16], c[16];

		if (t0 - b->t_start > b->o.max_seconds) {
			b->truncated = true;
			break;
		}
		fprintf(stderr, "[%6.1fs] ipcache %s, policy %s: filling...",
			t0 - b->t_start, fmt_scale(pt->ipc_target, a, sizeof(a)),
			fmt_scale(pt->pol_target, c, sizeof(c)));
		err = ipcache_grow(b, pt->ipc_target);
		if (!err)
			err = policy_resize(b, pt->pol_target);
		if (!err && i == 0)
			err = write_flow_entries(b);
		if (err) {
			fprintf(stderr, "\nfill: %s\n", strerror(-err));
			return err;
		}
		pt->fill_s = now_s() - t0;
		b->setup_total_s += pt->fill_s;
		pt->ipc_entries = b->ig.next;
		pt->pol_entries = b->pol_count;
		pt->ipc_memlock = map_memlock(b->fd_ipc);
		pt->pol_memlock = map_memlock(b->fd_pol);
		pt->slab_delta_kb = meminfo_kb("Slab") - b->slab_base_kb;
		fprintf(stderr, " %.2f s; measuring...", pt->fill_s);
		t0 = now_s();
		err = measure_point(b, pt);
		if (err)
			return err;
		fprintf(stderr, " %.2f s\n", now_s() - t0);
	}
	return 0;
}

/* The floors look up the datapath's own conntrack and ipcache maps: the same fill. */
static int floor_load(struct bench *b)
{
	int err;

	b->floor = floor__open();
	if (!b->floor) {
		err = -errno;
		fprintf(stderr, "opening the floor programs: %s\n", strerror(-err));
		return err;
	}
	b->floor->rodata->floor_ep_id = 1; /* write_flow_entries' endpoint */
	b->floor->rodata->floor_scope = PW_DIR_EGRESS; /* pw_tc_ingress: what the pod sends */
	err = bpf_map__reuse_fd(b->floor->maps.floor_ct, pw_dp_map_fd(b->dp, PW_DPMAP_CT));
	if (!err)
		err = bpf_map__reuse_fd(b->floor->maps.floor_ipc, b->fd_ipc);
	if (!err)
		err = floor__load(b->floor);
	if (err) {
		fprintf(stderr, "loading the floor programs on the datapath's maps: %s\n",
			strerror(-err));
		return err;
	}
	b->fd_floor_hash = bpf_program__fd(b->floor->progs.pw_floor_hash);
	b->fd_floor_lpm = bpf_program__fd(b->floor->progs.pw_floor_lpm);
	return 0;
}

static void usage(FILE *f, const char *argv0)
{
	fprintf(f,
		"usage: %s [options]\n"
		"  --ipcache LIST      ipcache sizes, e.g. 1k,100k,1M (default); each >= 1k\n"
		"  --policy LIST       policy sizes in trie entries (default 1k,100k,1M)\n"
		"  --diagonal          only the diagonal plus the two extreme corners\n"
		"  --rounds N          measured A/B rounds per point (default 15)\n"
		"  --repeat N          test_run repeat for established and denied (default 5000)\n"
		"  --calls N           repeat-1 calls per round for the allowed new flow "
		"(default 1000)\n"
		"  --family 4|6|46     which flows to measure (default 46)\n"
		"  --cpu N             CPU to run on (default: the last one)\n"
		"  --max-seconds N     stop starting new points after N s (default 240)\n"
		"  --no-events         do not open the event reader\n"
		"  --no-verify         do not check each measured packet's verdict reason\n"
		"  --quick             ipcache and policy 1k,10k, 5 rounds: a smoke run\n"
		"  --markdown FILE     also write the results as Markdown\n",
		argv0);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "ipcache", required_argument, NULL, 'i' },
		{ "policy", required_argument, NULL, 'p' },
		{ "diagonal", no_argument, NULL, 'd' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "repeat", required_argument, NULL, 'R' },
		{ "calls", required_argument, NULL, 'c' },
		{ "family", required_argument, NULL, 'f' },
		{ "cpu", required_argument, NULL, 'C' },
		{ "max-seconds", required_argument, NULL, 't' },
		{ "no-events", no_argument, NULL, 'E' },
		{ "no-verify", no_argument, NULL, 'V' },
		{ "quick", no_argument, NULL, 'q' },
		{ "markdown", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int ch;

	parse_scales("1k,100k,1M", o->ipc_scales, &o->n_ipc);
	parse_scales("1k,100k,1M", o->pol_scales, &o->n_pol);
	o->rounds = 15;
	o->repeat = 5000;
	o->calls = 1000;
	o->families = 3;
	o->cpu = (int)sysconf(_SC_NPROCESSORS_ONLN) - 1;
	o->max_seconds = 240;
	o->verify = true;
	o->events = true;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'i':
			if (parse_scales(optarg, o->ipc_scales, &o->n_ipc))
				goto bad;
			break;
		case 'p':
			if (parse_scales(optarg, o->pol_scales, &o->n_pol))
				goto bad;
			break;
		case 'd': o->diagonal = true; break;
		case 'r': o->rounds = atoi(optarg); break;
		case 'R': o->repeat = (unsigned int)atoi(optarg); break;
		case 'c': o->calls = (unsigned int)atoi(optarg); break;
		case 'f':
			o->families = (strchr(optarg, '4') ? 1 : 0) | (strchr(optarg, '6') ? 2 : 0);
			break;
		case 'C': o->cpu = atoi(optarg); break;
		case 't': o->max_seconds = atoi(optarg); break;
		case 'E': o->events = false; break;
		case 'V': o->verify = false; break;
		case 'q':
			parse_scales("1k,10k", o->ipc_scales, &o->n_ipc);
			parse_scales("1k,10k", o->pol_scales, &o->n_pol);
			o->rounds = 5;
			o->repeat = 1000;
			o->calls = 200;
			break;
		case 'm': o->markdown = optarg; break;
		case 'h': usage(stdout, argv[0]); exit(0);
		default: goto bad;
		}
	}
	if (optind != argc || o->rounds < 1 || o->rounds > MAX_ROUNDS || o->repeat < 1 ||
	    o->repeat > 1000000 || o->calls < 1 || o->calls > 20000 || !o->families ||
	    o->max_seconds < 1)
		goto bad;
	return 0;
bad:
	usage(stderr, argv[0]);
	return -EINVAL;
}

int main(int argc, char **argv)
{
	struct bench *b = calloc(1, sizeof(*b));
	uint32_t ipc_max = 0, pol_max = 0;
	cpu_set_t cpus;
	FILE *md = NULL;
	int err, i;

	if (!b)
		return 1;
	b->t_start = now_s();
	b->load_start = loadavg1();
	if (parse_args(argc, argv, &b->o)) {
		free(b);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	/*
	 * A private network namespace: test_run looks the skb's ifindex up in the caller's
	 * netns, and the veth made here disappears with the process, whatever happens.
	 */
	if (unshare(CLONE_NEWNET)) {
		err = -errno;
		fprintf(stderr, "unshare(CLONE_NEWNET): %s (needs root)\n", strerror(-err));
		goto out;
	}
	snprintf(b->if_host, sizeof(b->if_host), "pwb%dh", getpid());
	snprintf(b->if_peer, sizeof(b->if_peer), "pwb%dp", getpid());
	err = veth_create(b->if_host, b->if_peer);
	if (err) {
		fprintf(stderr, "creating veth %s: %s\n", b->if_host, strerror(-err));
		goto out;
	}
	b->ifindex = if_nametoindex(b->if_host);
	if (!b->ifindex) {
		err = -errno;
		fprintf(stderr, "if_nametoindex(%s): %s\n", b->if_host, strerror(-err));
		goto out;
	}

	CPU_ZERO(&cpus);
	CPU_SET(b->o.cpu, &cpus);
	if (sched_setaffinity(0, sizeof(cpus), &cpus)) {
		err = -errno;
		fprintf(stderr, "pinning to CPU %d: %s\n", b->o.cpu, strerror(-err));
		goto out;
	}

	for (i = 0; i < b->o.n_ipc; i++)
		ipc_max = b->o.ipc_scales[i] > ipc_max ? b->o.ipc_scales[i] : ipc_max;
	for (i = 0; i < b->o.n_pol; i++)
		pol_max = b->o.pol_scales[i] > pol_max ? b->o.pol_scales[i] : pol_max;
	{
		struct pw_dp_opts dopts = {
			.sz = sizeof(dopts),
			.ipcache_max = ipc_max + 1024,
			/* the last range entry may overshoot the target by its expansion */
			.policy_max = pol_max + 1024,
			.log = log_cb,
			.log_level = PW_LOG_WARN,
		};

		err = pw_dp_open(&dopts, &b->dp);
		if (err) {
			fprintf(stderr, "pw_dp_open: %s\n", strerror(-err));
			goto out;
		}
	}
	b->fd_in = pw_dp_prog_fd(b->dp, PW_PROG_TC_INGRESS);
	b->fd_eg = pw_dp_prog_fd(b->dp, PW_PROG_TC_EGRESS);
	b->fd_ipc = pw_dp_map_fd(b->dp, PW_DPMAP_IPCACHE);
	b->fd_pol = pw_dp_map_fd(b->dp, PW_DPMAP_POLICY);
	if (b->fd_in < 0 || b->fd_eg < 0 || b->fd_ipc < 0 || b->fd_pol < 0) {
		err = -EBADF;
		fprintf(stderr, "datapath has no program or map fd\n");
		goto out;
	}
	b->empty = empty__open_and_load();
	if (!b->empty) {
		err = -errno;
		fprintf(stderr, "loading the empty program: %s\n", strerror(-err));
		goto out;
	}
	b->fd_empty = bpf_program__fd(b->empty->progs.pw_bench_empty);
	err = floor_load(b);
	if (err)
		goto out;
	if (b->o.events) {
		err = pw_dp_events_open(b->dp, EVENT_PAGES, on_event, on_lost, b);
		if (err) {
			fprintf(stderr, "event reader: %s (continuing without)\n", strerror(-err));
			err = 0;
		} else {
			b->events_open = true;
		}
	}

	/* the measured flow: addresses the fills place within their first 1k entries */
	b->pod4 = htonl(V4_BASE + 1 + 7);
	b->peer4 = htonl(V4_BASE + 1 + 500);
	b->pod6[0] = b->peer6[0] = htonl(0xfd000001);
	b->pod6[3] = htonl(3 + 1);
	b->peer6[3] = htonl(30 + 1);

	plan_points(b);
	err = run(b);
	if (err)
		goto out;
	report(b, stdout, false);
	if (b->o.markdown) {
		md = fopen(b->o.markdown, "w");
		if (!md) {
			err = -errno;
			fprintf(stderr, "%s: %s\n", b->o.markdown, strerror(-err));
			goto out;
		}
		report(b, md, true);
		if (fclose(md)) {
			err = -errno;
			fprintf(stderr, "%s: %s\n", b->o.markdown, strerror(-err));
		}
	}
	if (b->o.verify && b->verify_failures)
		err = -EPROTO;
out:
	empty__destroy(b->empty);
	floor__destroy(b->floor);
	pw_dp_close(b->dp);
	free(b->pol_n);
	free(b);
	return err ? 1 : 0;
}
