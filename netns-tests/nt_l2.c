// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Link layer, live, on a gateway node built the way the CNI bridge plugin builds it with
 * isGateway: a Linux bridge in the node netns holds the gateway addresses of the pod subnet
 * (198.18.0.254/24, fd00::fe/64), every pod's host-side veth is enslaved to it, the node
 * forwards (IPv4 and IPv6), and pods route through the gateway. Pods share one segment here,
 * which is what the link-layer attacks need:
 *  - an ARP from pod 1 with pod 2's MAC as source moves pod 2's MAC to pod 1's bridge port,
 *    and a frame flooded for pod 2 reaches every pod: pod 2's datagrams must never reach pod 1;
 *  - a router advertisement from pod 1 must not install a default route in pod 3;
 *  - ND and MLD, which pass without policy, must not carry a payload from an egress-locked
 *    pod to a pod that denies it;
 *  - IPv6 between pods works under egress policy: the bridge's neighbours are on-link.
 * The endpoints are written by the harness; the datapath learns each pod's MAC from its veth
 * peer (in the pod's netns) and its bridge from the veth's master.
 */
#define _GNU_SOURCE /* memmem */
#include "nt_checks.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/udp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>

#define GW4    "198.18.0.254"
#define GW6    "fd00::fe"
#define TAG    "PWCOVERT" /* what the receiver looks for */
#define MARKER TAG "-payload-that-policy-denies"
/* long enough for a frame that passes to cross two veths and a bridge; a drop is silence */
#define QUIET_MS 400

/* --- topology ------------------------------------------------------------------------------ */

static char g_bridge[NT_NAME_LEN];

/* The harness's routed pods, rewired onto one bridge with the gateway on it. */
static int bridge_topology(struct nt_env *env)
{
	const char *n = env->node_ns;
	int i, err;

	snprintf(g_bridge, sizeof(g_bridge), "pw%db", (int)getpid());
	if ((err = nt_cmd(false, "ip -n %s link add %s type bridge", n, g_bridge)) ||
	    (err = nt_cmd(false, "ip -n %s link set %s up", n, g_bridge)) ||
	    (err = nt_cmd(false, "ip -n %s addr add " GW4 "/24 dev %s", n, g_bridge)) ||
	    (err = nt_cmd(false, "ip -n %s addr add " GW6 "/64 dev %s nodad", n, g_bridge)))
		return err;
	for (i = 1; i <= env->npods; i++) {
		const struct nt_pod *p = &env->pods[i];
		char v4[INET_ADDRSTRLEN], v6[INET6_ADDRSTRLEN];

		inet_ntop(AF_INET, &p->v4, v4, sizeof(v4));
		inet_ntop(AF_INET6, &p->v6, v6, sizeof(v6));
		if ((err = nt_cmd(false, "ip -n %s route del %s/32 dev %s", n, v4, p->host_if)) ||
		    (err = nt_cmd(false, "ip -n %s -6 route del %s/128 dev %s", n, v6,
				  p->host_if)) ||
		    (err = nt_cmd(false, "ip -n %s addr flush dev %s", n, p->host_if)) ||
		    (err = nt_cmd(false, "ip -n %s link set %s master %s", n, p->host_if,
				  g_bridge)) ||
		    (err = nt_cmd(false, "ip -n %s route del default", p->netns)) ||
		    (err = nt_cmd(false, "ip -n %s -6 route del default", p->netns)) ||
		    (err = nt_cmd(false, "ip -n %s addr del %s/32 dev eth0", p->netns, v4)) ||
		    (err = nt_cmd(false, "ip -n %s addr add %s/24 dev eth0", p->netns, v4)) ||
		    (err = nt_cmd(false, "ip -n %s -6 addr del %s/128 dev eth0", p->netns, v6)) ||
		    (err = nt_cmd(false, "ip -n %s -6 addr add %s/64 dev eth0 nodad", p->netns,
				  v6)) ||
		    (err = nt_cmd(false, "ip -n %s route add default via " GW4, p->netns)) ||
		    (err = nt_cmd(false, "ip -n %s -6 route add default via " GW6, p->netns)))
			return err;
	}
	/* the harness's node forwards already; said again, as the bridge plugin does */
	if ((err = nt_ns_sysctl(n, "ipv4/ip_forward", "1")) ||
	    (err = nt_ns_sysctl(n, "ipv6/conf/all/forwarding", "1")))
		return err;
	return 0;
}

static int group_setup(void **state)
{
	struct nt_env *env;
	int err;

	err = nt_env_setup(3, &env);
	if (err) {
		fprintf(stderr, "netns environment setup failed: %s\n", strerror(-err));
		return -1;
	}
	*state = env;
	err = bridge_topology(env);
	if (err) {
		fprintf(stderr, "bridge topology: %s\n", strerror(-err));
		return -1;
	}
	return 0;
}

/* Every test starts with empty neighbour tables: ND must work from scratch. */
static int test_setup(void **state)
{
	struct nt_env *env = *state;
	int i;

	for (i = 1; i <= env->npods; i++)
		if (nt_cmd(true, "ip -n %s neigh flush all", env->pods[i].netns))
			return -1;
	if (nt_cmd(true, "ip -n %s neigh flush all", env->node_ns))
		return -1;
	return nt_dp_setup(state);
}

/* --- jobs run inside a pod ------------------------------------------------------------------ */

enum job_kind {
	J_ARP_POISON, /* ARP requests for ip from mac, every interval_ms, until stopped */
	J_COUNT_UDP,  /* count IPv4 UDP frames to ip:port arriving on eth0 for duration_ms */
	J_SEND_UDP,   /* count datagrams to ip:port, interval_ms apart */
	J_ICMP6_SEND, /* one ICMPv6 message msg to dst6 with hop limit hops */
	J_ICMP6_RECV, /* ICMPv6 messages of type icmp_type received for duration_ms */
};

struct job {
	int kind;
	int count;
	int interval_ms;
	int duration_ms;
	uint8_t mac[6];
	struct in_addr ip;
	uint16_t port;
	struct in6_addr dst6;
	int hops;
	uint8_t icmp_type;
	struct in6_addr join; /* ICMPv6 receiver: a group to join first (unspecified: none) */
	uint8_t msg[256];
	size_t msg_len;
};

struct job_result {
	int n;	    /* sent, or received */
	int marked; /* received with MARKER inside */
	int err;
};

static void job_arp_poison(const struct job *j, int res_fd, int cmd_fd)
{
	struct job_result r = {0};
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_halen = ETH_ALEN};
	uint8_t f[42];
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ARP));

	sll.sll_ifindex = (int)if_nametoindex("eth0");
	sll.sll_protocol = htons(ETH_P_ARP);
	memset(sll.sll_addr, 0xff, ETH_ALEN);
	/* Ethernet: broadcast, from mac; ARP request: sender (mac, ip), target ip */
	memset(f, 0xff, 6);
	memcpy(f + 6, j->mac, 6);
	f[12] = 0x08, f[13] = 0x06;
	f[14] = 0, f[15] = 1, f[16] = 0x08, f[17] = 0, f[18] = 6, f[19] = 4, f[20] = 0, f[21] = 1;
	memcpy(f + 22, j->mac, 6);
	memcpy(f + 28, &j->ip, 4);
	memset(f + 32, 0, 6);
	memcpy(f + 38, &j->ip, 4);
	if (fd < 0 || write(res_fd, "R", 1) != 1)
		return;
	for (;;) {
		struct pollfd p = {.fd = cmd_fd, .events = POLLIN};

		if (sendto(fd, f, sizeof(f), 0, (struct sockaddr *)&sll, sizeof(sll)) ==
		    (ssize_t)sizeof(f))
			r.n++;
		if (poll(&p, 1, j->interval_ms) != 0)
			break; /* told to stop (or the parent went away) */
	}
	if (write(res_fd, &r, sizeof(r)) != sizeof(r))
		return;
}

static void job_count_udp(const struct job *j, int res_fd)
{
	struct job_result r = {0};
	struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP)};
	uint64_t end;
	uint8_t b[2048];
	int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_IP));

	sll.sll_ifindex = (int)if_nametoindex("eth0");
	if (fd < 0 || bind(fd, (struct sockaddr *)&sll, sizeof(sll)) || write(res_fd, "R", 1) != 1)
		return;
	end = nt_now_us() + (uint64_t)j->duration_ms * 1000;
	while (nt_now_us() < end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		const struct iphdr *ip = (const void *)b;
		ssize_t n;

		if (poll(&p, 1, (int)((end - nt_now_us()) / 1000) + 1) <= 0)
			continue;
		n = recvfrom(fd, b, sizeof(b), 0, (struct sockaddr *)&from, &fl);
		if (n < (ssize_t)(sizeof(*ip) + 8) || from.sll_pkttype == PACKET_OUTGOING)
			continue;
		if (ip->protocol == IPPROTO_UDP && ip->daddr == j->ip.s_addr &&
		    ((const struct udphdr *)(b + ip->ihl * 4))->dest == htons(j->port))
			r.n++;
	}
	if (write(res_fd, &r, sizeof(r)) != sizeof(r))
		return;
}

static void job_send_udp(const struct job *j, int res_fd)
{
	struct job_result r = {0};
	struct sockaddr_in to = {
		.sin_family = AF_INET, .sin_addr = j->ip, .sin_port = htons(j->port)};
	int i, fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || write(res_fd, "R", 1) != 1)
		return;
	for (i = 0; i < j->count; i++) {
		if (sendto(fd, "for pod 2", 9, 0, (struct sockaddr *)&to, sizeof(to)) == 9)
			r.n++;
		usleep((useconds_t)j->interval_ms * 1000);
	}
	if (write(res_fd, &r, sizeof(r)) != sizeof(r))
		return;
}

static int icmp6_socket(int hops)
{
	int fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6);

	if (fd >= 0 && hops &&
	    (setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof(hops)) ||
	     setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof(hops)))) {
		close(fd);
		return -1;
	}
	return fd;
}

static void job_icmp6_send(const struct job *j, int res_fd)
{
	struct job_result r = {0};
	struct sockaddr_in6 to = {.sin6_family = AF_INET6, .sin6_addr = j->dst6};
	int fd = icmp6_socket(j->hops);

	/* link-local and link-local multicast destinations: out of eth0 */
	if (IN6_IS_ADDR_LINKLOCAL(&j->dst6) || IN6_IS_ADDR_MC_LINKLOCAL(&j->dst6))
		to.sin6_scope_id = if_nametoindex("eth0");
	if (fd < 0 || write(res_fd, "R", 1) != 1)
		return;
	/* the kernel fills the checksum of ICMPv6 raw sockets */
	if (sendto(fd, j->msg, j->msg_len, 0, (struct sockaddr *)&to, sizeof(to)) ==
	    (ssize_t)j->msg_len)
		r.n = 1;
	else
		r.err = -errno;
	if (write(res_fd, &r, sizeof(r)) != sizeof(r))
		return;
}

static void job_icmp6_recv(const struct job *j, int res_fd)
{
	struct job_result r = {0};
	uint8_t b[2048];
	uint64_t end;
	int fd = icmp6_socket(0);
	struct ipv6_mreq mr = {.ipv6mr_multiaddr = j->join};

	mr.ipv6mr_interface = if_nametoindex("eth0");
	if (fd < 0 || (!IN6_IS_ADDR_UNSPECIFIED(&j->join) &&
		       setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mr, sizeof(mr))))
		return;
	/* a join sends its own report: let it go by before anything is counted */
	usleep(50 * 1000);
	if (write(res_fd, "R", 1) != 1)
		return;
	end = nt_now_us() + (uint64_t)j->duration_ms * 1000;
	while (nt_now_us() < end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, (int)((end - nt_now_us()) / 1000) + 1) <= 0)
			continue;
		n = recv(fd, b, sizeof(b), 0);
		if (n < 4 || b[0] != j->icmp_type)
			continue;
		r.n++;
		if (memmem(b, (size_t)n, TAG, strlen(TAG)))
			r.marked++;
	}
	if (write(res_fd, &r, sizeof(r)) != sizeof(r))
		return;
}

static void job_child(struct nt_env *env, struct nt_pod *pod, void *arg, int res_fd, int cmd_fd)
{
	const struct job *j = arg;

	switch (j->kind) {
	case J_ARP_POISON:
		job_arp_poison(j, res_fd, cmd_fd);
		break;
	case J_COUNT_UDP:
		job_count_udp(j, res_fd);
		break;
	case J_SEND_UDP:
		job_send_udp(j, res_fd);
		break;
	case J_ICMP6_SEND:
		job_icmp6_send(j, res_fd);
		break;
	case J_ICMP6_RECV:
		job_icmp6_recv(j, res_fd);
		break;
	default:
		break;
	}
}

static int read_wait(int fd, void *buf, size_t len, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ssize_t n;

	if (poll(&p, 1, timeout_ms) != 1)
		return -ETIMEDOUT;
	n = read(fd, buf, len);
	return n == (ssize_t)len ? 0 : -EPROTO;
}

/* Start a job in a pod; returns once it is ready (sockets bound). */
static void job_start(struct nt_env *env, int pod, const struct job *j, struct nt_child *c)
{
	char ready = 0;

	assert_int_equal(nt_child_start(env, pod, "ntl2job", job_child, (void *)j, c), 0);
	assert_int_equal(read_wait(c->res_fd, &ready, 1, NT_TMO_MS), 0);
	assert_int_equal(ready, 'R');
}

/* Its result (a stop is sent first: the poisoner runs until told) */
static struct job_result job_end(struct nt_env *env, struct nt_child *c, int timeout_ms)
{
	struct job_result r = {.err = -ETIMEDOUT};

	if (c->cmd_fd >= 0) {
		close(c->cmd_fd);
		c->cmd_fd = -1;
	}
	read_wait(c->res_fd, &r, sizeof(r), timeout_ms);
	nt_child_stop(env, c);
	return r;
}

static void pod_mac(struct nt_env *env, int pod, uint8_t mac[6])
{
	struct pw_endpoint ep;
	static const uint8_t zero[6];

	assert_int_equal(pw_dp_endpoint_lookup_ifindex(env->dp, env->pods[pod].host_ifindex, &ep),
			 0);
	memcpy(mac, ep.mac, 6);
	assert_true(memcmp(mac, zero, 6) != 0);
}

/* fe80::/64 with the modified EUI-64 of the pod's MAC: its kernel's default link-local */
static void pod_ll(struct nt_env *env, int pod, struct in6_addr *a)
{
	uint8_t m[6];

	pod_mac(env, pod, m);
	memset(a, 0, sizeof(*a));
	a->s6_addr[0] = 0xfe;
	a->s6_addr[1] = 0x80;
	a->s6_addr[8] = m[0] ^ 2;
	a->s6_addr[9] = m[1];
	a->s6_addr[10] = m[2];
	a->s6_addr[11] = 0xff;
	a->s6_addr[12] = 0xfe;
	a->s6_addr[13] = m[3];
	a->s6_addr[14] = m[4];
	a->s6_addr[15] = m[5];
}

static uint64_t metric(struct nt_env *env, unsigned int reason, unsigned int dir)
{
	uint64_t n = 0;

	assert_int_equal(nt_metric(env, reason, dir, &n), 0);
	return n;
}

/* --- the cases ------------------------------------------------------------------------------ */

/* Did `cmd` print anything? */
static bool prints(const char *cmd)
{
	char line[256];
	bool any = false;
	FILE *f = popen(cmd, "r");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		any = true;
	pclose(f);
	return any;
}

static void test_setup_learned(void **state)
{
	struct nt_env *env = *state;
	uint32_t br = 0;
	struct pw_endpoint ep;
	int i;

	assert_int_equal(pw_dp_ifindex(g_bridge, &br), 0);
	for (i = 1; i <= env->npods; i++) {
		char cmd[256];
		uint8_t m[6];

		pod_mac(env, i, m);
		assert_int_equal(
			pw_dp_endpoint_lookup_ifindex(env->dp, env->pods[i].host_ifindex, &ep), 0);
		assert_int_equal(ep.link_ifindex, br);
		/* the MAC learned is the pod's eth0, read in the pod's netns */
		snprintf(cmd, sizeof(cmd),
			 "ip -n %s link show eth0 | grep -q 'ether %02x:%02x:%02x:%02x:%02x:%02x' "
			 "&& echo yes",
			 env->pods[i].netns, m[0], m[1], m[2], m[3], m[4], m[5]);
		assert_true(prints(cmd));
	}
}

/*
 * Defect 1: pod 1 sends ARP requests for its own address with pod 2's MAC as Ethernet and
 * ARP source, over and over, while pod 3 sends datagrams to pod 2. Pod 2 gets them all, pod 1
 * none, and pod 2's MAC stays on pod 2's bridge port.
 */
static void test_arp_with_another_pods_mac(void **state)
{
	struct nt_env *env = *state;
	struct job poison = {.kind = J_ARP_POISON, .interval_ms = 5};
	struct job sniff = {.kind = J_COUNT_UDP, .duration_ms = 1500, .port = 9999};
	struct job send = {.kind = J_SEND_UDP, .count = 20, .interval_ms = 25, .port = 9999};
	struct nt_child cp, c1, c2, c3;
	struct job_result rp, r1, r2, r3;
	uint64_t drops0 = metric(env, PW_DROP_SPOOFED_MAC, PW_DIR_EGRESS);
	char cmd[256];
	uint8_t m2[6];
	bool moved;

	pod_mac(env, 2, m2);
	memcpy(poison.mac, m2, 6);
	poison.ip = env->pods[1].v4;
	sniff.ip = send.ip = env->pods[2].v4;

	job_start(env, 1, &sniff, &c1);
	job_start(env, 2, &sniff, &c2);
	job_start(env, 1, &poison, &cp);
	usleep(50 * 1000);
	job_start(env, 3, &send, &c3);
	r3 = job_end(env, &c3, 3000);
	usleep(100 * 1000);
	snprintf(cmd, sizeof(cmd),
		 "ip netns exec %s bridge fdb show br %s | grep -i '^%02x:%02x:%02x:%02x:%02x:%02x "
		 "dev %s '",
		 env->node_ns, g_bridge, m2[0], m2[1], m2[2], m2[3], m2[4], m2[5],
		 env->pods[1].host_if);
	moved = prints(cmd);
	rp = job_end(env, &cp, NT_TMO_MS);
	r1 = job_end(env, &c1, 3000);
	r2 = job_end(env, &c2, 3000);

	fprintf(stderr, "  poison frames %d; pod 2 got %d of %d, pod 1 got %d; mac moved: %s\n",
		rp.n, r2.n, r3.n, r1.n, moved ? "yes" : "no");
	assert_int_equal(r3.n, 20);
	assert_true(rp.n > 20);
	/* pod 2's MAC never moved to pod 1's port */
	assert_false(moved);
	assert_int_equal(r2.n, 20);
	assert_int_equal(r1.n, 0);
	assert_true(metric(env, PW_DROP_SPOOFED_MAC, PW_DIR_EGRESS) >= drops0 + (uint64_t)rp.n);
}

/*
 * Defect 1, the other way: the bridge does not know pod 2's MAC (learning is off on its port,
 * as after its entry aged out), so frames for pod 2 are flooded to every port. Pod 1, not
 * isolated, must still not receive them.
 */
static void test_flooded_frames_for_another_pod(void **state)
{
	struct nt_env *env = *state;
	struct job sniff = {.kind = J_COUNT_UDP, .duration_ms = 1200, .port = 9998};
	struct job send = {.kind = J_SEND_UDP, .count = 10, .interval_ms = 20, .port = 9998};
	struct nt_child c1, c2, c3;
	struct job_result r1, r2, r3;
	uint64_t drops0 = metric(env, PW_DROP_FOREIGN_DST, PW_DIR_INGRESS);
	uint8_t m2[6];
	int i, err;

	assert_int_equal(nt_cmd(false, "ip netns exec %s bridge link set dev %s learning off",
				env->node_ns, env->pods[2].host_if),
			 0);
	pod_mac(env, 2, m2);
	/* forget pod 2's MAC on every port (iproute2 6.1 has no "fdb flush"): absent is fine */
	for (i = 1; i <= env->npods; i++)
		nt_cmd(true,
		       "ip netns exec %s bridge fdb del %02x:%02x:%02x:%02x:%02x:%02x dev %s "
		       "master",
		       env->node_ns, m2[0], m2[1], m2[2], m2[3], m2[4], m2[5],
		       env->pods[i].host_if);
	sniff.ip = send.ip = env->pods[2].v4;
	job_start(env, 1, &sniff, &c1);
	job_start(env, 2, &sniff, &c2);
	job_start(env, 3, &send, &c3);
	r3 = job_end(env, &c3, 3000);
	r1 = job_end(env, &c1, 3000);
	r2 = job_end(env, &c2, 3000);
	err = nt_cmd(false, "ip netns exec %s bridge link set dev %s learning on", env->node_ns,
		     env->pods[2].host_if);
	fprintf(stderr, "  flooded: pod 2 got %d of %d, pod 1 got %d\n", r2.n, r3.n, r1.n);
	assert_int_equal(err, 0);
	assert_int_equal(r3.n, 10);
	assert_int_equal(r2.n, 10);
	assert_int_equal(r1.n, 0);
	assert_true(metric(env, PW_DROP_FOREIGN_DST, PW_DIR_INGRESS) >= drops0 + 10);
}

/*
 * Defect 2: pod 1 advertises itself as a default router. Pod 3, isolated for ingress,
 * accepts router advertisements (a host's default), and must not get a route via pod 1.
 */
static void test_router_advertisement_from_a_pod(void **state)
{
	struct nt_env *env = *state;
	struct job ra = {.kind = J_ICMP6_SEND, .hops = 255, .msg_len = 16};
	struct job rx = {.kind = J_ICMP6_RECV, .duration_ms = QUIET_MS, .icmp_type = 134};
	struct nt_child c1, c3;
	struct job_result r1, r3;
	uint64_t drops0 = metric(env, PW_DROP_ROUTER_MSG, PW_DIR_EGRESS);
	char cmd[256];

	assert_int_equal(nt_policy(env, true, 3, PW_DIR_INGRESS, 2, IPPROTO_TCP, NT_PORT_A, 61), 0);
	assert_int_equal(nt_ep_write(env, 3, PW_EP_F_ISOLATE_INGRESS), 0);
	assert_int_equal(nt_ns_sysctl(env->pods[3].netns, "ipv6/conf/eth0/accept_ra", "1"), 0);
	/* type 134, code 0, checksum, hop limit 64, flags, router lifetime 1800 s, timers 0 */
	ra.msg[0] = ND_ROUTER_ADVERT;
	ra.msg[4] = 64;
	ra.msg[6] = 1800 >> 8;
	ra.msg[7] = 1800 & 0xff;
	inet_pton(AF_INET6, "ff02::1", &ra.dst6);

	job_start(env, 3, &rx, &c3);
	job_start(env, 1, &ra, &c1);
	r1 = job_end(env, &c1, NT_TMO_MS);
	r3 = job_end(env, &c3, NT_TMO_MS + QUIET_MS);
	assert_int_equal(r1.err, 0);
	assert_int_equal(r1.n, 1); /* it left the pod */
	snprintf(cmd, sizeof(cmd), "ip -n %s -6 route show default proto ra", env->pods[3].netns);
	assert_false(prints(cmd));
	assert_int_equal(r3.n, 0);
	assert_true(metric(env, PW_DROP_ROUTER_MSG, PW_DIR_EGRESS) >= drops0 + 1);
}

/* One ICMPv6 message from pod `from`, while pod `to` listens for its type. */
static struct job_result icmp6_probe(struct nt_env *env, int from, int to,
				     const struct in6_addr *dst, int hops, const uint8_t *msg,
				     size_t len)
{
	struct job tx = {.kind = J_ICMP6_SEND, .hops = hops, .dst6 = *dst, .msg_len = len};
	struct job rx = {.kind = J_ICMP6_RECV, .duration_ms = QUIET_MS, .icmp_type = msg[0]};

	/* a colluding receiver joins the group a multicast probe goes to */
	if (IN6_IS_ADDR_MULTICAST(dst))
		rx.join = *dst;
	struct nt_child ct, cr;
	struct job_result rt, rr;

	memcpy(tx.msg, msg, len);
	job_start(env, to, &rx, &cr);
	job_start(env, from, &tx, &ct);
	rt = job_end(env, &ct, NT_TMO_MS);
	rr = job_end(env, &cr, NT_TMO_MS + QUIET_MS);
	assert_int_equal(rt.err, 0);
	assert_int_equal(rt.n, 1);
	return rr;
}

/*
 * Defect 3: pod 1 is locked for egress (no policy allows it anything), pod 3 denies pod 1 at
 * ingress. ND and MLD still reach pod 3 when they are what the RFCs define (the control
 * below), never when they carry a payload.
 */
static void test_nd_mld_covert_channel(void **state)
{
	struct nt_env *env = *state;
	struct in6_addr ll3, snm3, grp, g3 = env->pods[3].v6;
	uint8_t ns[24 + 64] = {ND_NEIGHBOR_SOLICIT};
	uint8_t mld[8 + 20 + 64] = {143};
	struct job_result r;

	assert_int_equal(nt_policy(env, true, 3, PW_DIR_INGRESS, 2, IPPROTO_TCP, NT_PORT_A, 62), 0);
	assert_int_equal(nt_ep_write(env, 3, PW_EP_F_ISOLATE_INGRESS), 0);
	assert_int_equal(nt_ep_write(env, 1, PW_EP_F_ISOLATE_EGRESS), 0);
	pod_ll(env, 3, &ll3);
	inet_pton(AF_INET6, "ff02::1:ff00:0", &snm3);
	memcpy(&snm3.s6_addr[13], &ll3.s6_addr[13], 3);

	/* control: a plain solicitation for pod 3's link-local address reaches it */
	memcpy(ns + 8, &ll3, 16);
	r = icmp6_probe(env, 1, 3, &snm3, 255, ns, 24);
	assert_true(r.n >= 1);
	assert_int_equal(r.marked, 0);

	/* the same with a payload: to its link-local address, its solicited-node group */
	memcpy(ns + 24, MARKER, strlen(MARKER));
	r = icmp6_probe(env, 1, 3, &ll3, 255, ns, sizeof(ns));
	assert_int_equal(r.marked, 0);
	r = icmp6_probe(env, 1, 3, &snm3, 255, ns, sizeof(ns));
	assert_int_equal(r.marked, 0);
	/* and to its global address, asking for it */
	memcpy(ns + 8, &g3, 16);
	r = icmp6_probe(env, 1, 3, &g3, 255, ns, sizeof(ns));
	assert_int_equal(r.marked, 0);

	/* an MLDv2 report (hop limit 1) to pod 3's address, a record and then the payload */
	mld[7] = 1;
	mld[8] = 4;
	inet_pton(AF_INET6, "ff02::fb", (struct in6_addr *)&mld[12]);
	memcpy(mld + 28, MARKER, strlen(MARKER));
	r = icmp6_probe(env, 1, 3, &g3, 1, mld, sizeof(mld));
	assert_int_equal(r.marked, 0);
	r = icmp6_probe(env, 1, 3, &ll3, 1, mld, sizeof(mld));
	assert_int_equal(r.marked, 0);

	/*
	 * An exact MLDv2 report to the routers' group, its record's group address the payload:
	 * a bridge without a querier floods it to every pod, and pod 3 joined ff02::16. It is
	 * for routers, not for a pod: from another pod it is ordinary ICMPv6, which pod 3 denies.
	 */
	memset(mld + 8, 0, 20);
	mld[8] = 4;
	mld[12] = 0xff;
	mld[13] = 0x0e;
	memcpy(mld + 14, TAG, strlen(TAG));
	inet_pton(AF_INET6, "ff02::16", &grp);
	r = icmp6_probe(env, 1, 3, &grp, 1, mld, 28);
	assert_int_equal(r.marked, 0);
}

/*
 * Defect 4: pod 2 has an egress policy (it may reach pod 3 only). On a gateway node pod 1's
 * neighbour solicitation for pod 2 (from pod 1's global address) must be answered, so IPv6
 * from pod 1 to pod 2 works; pod 2 reaches pod 3, and not pod 1.
 */
static void test_v6_between_pods_with_egress_policy(void **state)
{
	struct nt_env *env = *state;
	struct nt_result r;

	assert_int_equal(nt_policy(env, true, 2, PW_DIR_EGRESS, 3, IPPROTO_TCP, NT_PORT_A, 63), 0);
	assert_int_equal(nt_ep_write(env, 2, PW_EP_F_ISOLATE_EGRESS), 0);

	assert_int_equal(nt_tcp_echo(env, 1, 2, AF_INET6, NT_PORT_A, NT_TMO_MS, &r), 0);
	nt_assert_ok(r);
	assert_int_equal(nt_tcp_echo(env, 3, 2, AF_INET6, NT_PORT_A, NT_TMO_MS, &r), 0);
	nt_assert_ok(r);
	assert_int_equal(nt_tcp_echo(env, 2, 3, AF_INET6, NT_PORT_A, NT_TMO_MS, &r), 0);
	nt_assert_ok(r);
	assert_int_equal(nt_tcp_echo(env, 2, 1, AF_INET6, NT_PORT_A, NT_TMO_MS, &r), 0);
	assert_int_not_equal(r.err, 0);
	/* and IPv4 across the bridge, for good measure */
	assert_int_equal(nt_tcp_echo(env, 1, 3, AF_INET, NT_PORT_A, NT_TMO_MS, &r), 0);
	nt_assert_ok(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_setup_learned, test_setup, nt_dp_teardown),
		cmocka_unit_test_setup_teardown(test_arp_with_another_pods_mac, test_setup,
						nt_dp_teardown),
		cmocka_unit_test_setup_teardown(test_flooded_frames_for_another_pod, test_setup,
						nt_dp_teardown),
		cmocka_unit_test_setup_teardown(test_router_advertisement_from_a_pod, test_setup,
						nt_dp_teardown),
		cmocka_unit_test_setup_teardown(test_nd_mld_covert_channel, test_setup,
						nt_dp_teardown),
		cmocka_unit_test_setup_teardown(test_v6_between_pods_with_egress_policy, test_setup,
						nt_dp_teardown),
	};

	return cmocka_run_group_tests_name("link layer on a gateway bridge", tests, group_setup,
					   nt_group_teardown);
}
