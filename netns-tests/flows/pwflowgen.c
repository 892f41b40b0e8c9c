// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pwflowgen: traffic that makes the datapath decide, for the flow-log live tests and the flow
 * benchmark. It runs inside a pod (e2e/pwprobe exec puts it in the pod's cgroup and netns)
 * and tells the caller what the records must name: its pid and the local port it used.
 *
 *   pwflowgen tcp ADDR PORT [TIMEOUT_MS]
 *       one short TCP flow: connect, one echo, then an orderly close (FIN both ways).
 *       Prints "WORD LPORT PID": ok, denied (EPERM at connect), timeout, refused, error.
 *   pwflowgen hold ADDR PORT [TIMEOUT_MS]
 *       connect and echo once, print "ok LPORT PID", then wait for a line on stdin, send
 *       again and print "ok" when the echo comes back or "timeout" (a revoked flow), then
 *       reset the connection.
 *   pwflowgen spoof SRC DST DPORT COUNT
 *       COUNT IPv4 TCP SYNs from the foreign address SRC (raw socket), destination ports
 *       DPORT, DPORT+1, ... so each is a distinct deny. Prints "sent COUNT".
 *   pwflowgen repeat SRC DST DPORT COUNT
 *       COUNT copies of one such SYN (the same ports): one deny repeated, which the
 *       datapath folds. Prints "sent COUNT".
 *   pwflowgen malformed SRC DST DPORT
 *       one IPv4 TCP SYN whose header claims 60 bytes in a 20-byte segment (data offset
 *       15): a malformed packet, from SRC (the pod's own address). Prints "sent 1".
 *   pwflowgen flood ADDR PORT SECONDS MAXCONN [FIRST_SPORT]
 *       new TCP connections as fast as one process can, each reset right after the
 *       handshake (no TIME_WAIT, so ports never run out), until SECONDS or MAXCONN.
 *       With FIRST_SPORT, connection k binds source port FIRST_SPORT + k (and the flood
 *       stops at 65535), so no 5-tuple is used twice. Prints "flood CONNECTED FAILED
 *       ELAPSED_US".
 *   pwflowgen sink PORT...
 *       accepts TCP connections and closes them at once; prints "serving" when listening.
 *
 * Exit codes: 0 ok, 1 denied, 2 timeout, 3 refused, 4 error (as e2e/pwprobe).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

enum { R_OK_ = 0, R_DENIED = 1, R_TIMEOUT = 2, R_REFUSED = 3, R_ERROR = 4 };

static const char *const words[] = {"ok", "denied", "timeout", "refused", "error"};

static int classify(int err)
{
	switch (err) {
	case 0:
		return R_OK_;
	case EPERM:
	case EACCES:
		return R_DENIED;
	case ETIMEDOUT:
	case EAGAIN:
		return R_TIMEOUT;
	case ECONNREFUSED:
	case ECONNRESET:
		return R_REFUSED;
	}
	return R_ERROR;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int parse_addr(const char *addr, const char *port, struct sockaddr_storage *ss,
		      socklen_t *len)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
	char *end;
	long p = strtol(port, &end, 10);

	if (*end || p < 1 || p > 65535)
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)p);
		*len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)p);
		*len = sizeof(*s6);
		return 0;
	}
	return -EINVAL;
}

/* 0, or the errno that ended the wait (ETIMEDOUT when nothing came) */
static int wait_fd(int fd, short ev, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = ev};
	int n;

	do {
		n = poll(&pfd, 1, timeout_ms);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno;
	return n ? 0 : ETIMEDOUT;
}

static uint16_t local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/*
 * Connect with a deadline, from source port sport (0: any); 0 or the errno. *fdp is the
 * socket (also on failure, or -1).
 */
static int tcp_connect_from(const char *addr, const char *port, uint16_t sport, int timeout_ms,
			    int *fdp)
{
	struct sockaddr_storage ss;
	socklen_t len, elen = sizeof(int);
	int fd, err, so = 0;

	*fdp = -1;
	if (parse_addr(addr, port, &ss, &len))
		return EINVAL;
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return errno;
	*fdp = fd;
	if (sport) {
		struct sockaddr_storage b;
		int one = 1;

		memset(&b, 0, sizeof(b));
		b.ss_family = ss.ss_family;
		if (ss.ss_family == AF_INET)
			((struct sockaddr_in *)&b)->sin_port = htons(sport);
		else
			((struct sockaddr_in6 *)&b)->sin6_port = htons(sport);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&b, len))
			return errno;
	}
	if (!connect(fd, (struct sockaddr *)&ss, len))
		return 0;
	if (errno != EINPROGRESS)
		return errno;
	err = wait_fd(fd, POLLOUT, timeout_ms);
	if (!err && getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &elen))
		err = errno;
	return err ? err : so;
}

/* Send a line and wait for its echo: 0 or the errno. */
static int echo_once(int fd, const char *msg, int timeout_ms)
{
	char buf[256];
	size_t n = strlen(msg);
	ssize_t r;
	int err;

	if (send(fd, msg, n, MSG_NOSIGNAL) != (ssize_t)n)
		return errno;
	err = wait_fd(fd, POLLIN, timeout_ms);
	if (err)
		return err;
	r = recv(fd, buf, sizeof(buf), 0);
	if (r < 0)
		return errno;
	return r == 0 ? ECONNRESET : 0;
}

static void reset_close(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static int tcp_connect(const char *addr, const char *port, int timeout_ms, int *fdp)
{
	return tcp_connect_from(addr, port, 0, timeout_ms, fdp);
}

static int cmd_tcp(const char *addr, const char *port, int timeout_ms)
{
	uint16_t lport = 0;
	char buf[64];
	int fd, err;

	err = tcp_connect(addr, port, timeout_ms, &fd);
	if (fd >= 0)
		lport = local_port(fd);
	if (!err)
		err = echo_once(fd, "ping\n", timeout_ms);
	if (!err) {
		/* orderly close: our FIN, the server's FIN (its EOF), both ACKed */
		shutdown(fd, SHUT_WR);
		while (!(err = wait_fd(fd, POLLIN, timeout_ms)) &&
		       recv(fd, buf, sizeof(buf), 0) > 0)
			;
		err = err == ETIMEDOUT ? ETIMEDOUT : 0;
	}
	if (fd >= 0)
		close(fd);
	printf("%s %u %d\n", words[classify(err)], lport, (int)getpid());
	return classify(err);
}

static int cmd_hold(const char *addr, const char *port, int timeout_ms)
{
	char line[64];
	int fd, err;

	err = tcp_connect(addr, port, timeout_ms, &fd);
	if (!err)
		err = echo_once(fd, "ping\n", timeout_ms);
	printf("%s %u %d\n", words[classify(err)], fd >= 0 ? local_port(fd) : 0, (int)getpid());
	fflush(stdout);
	if (err) {
		if (fd >= 0)
			close(fd);
		return classify(err);
	}
	if (!fgets(line, sizeof(line), stdin)) {
		reset_close(fd);
		return R_ERROR;
	}
	err = echo_once(fd, "again\n", timeout_ms);
	printf("%s\n", words[classify(err)]);
	fflush(stdout);
	reset_close(fd);
	return classify(err);
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t csum_add(uint32_t sum, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)b[i] << 8 | b[i + 1];
	if (len & 1)
		sum += (uint32_t)b[len - 1] << 8;
	return sum;
}

/*
 * count SYNs from src (any address: a raw socket) to dst, ports dport, dport+1, ... (all
 * dport when same); a data offset of 15 in a 20-byte segment makes them malformed
 */
static int send_syns(const char *src, const char *dst, long dport, long count, int doff, bool same)
{
	struct {
		struct iphdr ip;
		struct tcphdr tcp;
	} __attribute__((packed)) pkt;
	struct sockaddr_in to = {.sin_family = AF_INET};
	struct in_addr s, d;
	long sent = 0, retries = 0;
	int fd;

	if (inet_pton(AF_INET, src, &s) != 1 || inet_pton(AF_INET, dst, &d) != 1 || dport < 1 ||
	    dport > 65535 || count < 1) {
		fprintf(stderr, "pwflowgen: bad addresses, port or count\n");
		return R_ERROR;
	}
	/* IPPROTO_RAW implies IP_HDRINCL: the source address is ours to choose */
	fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (fd < 0) {
		fprintf(stderr, "pwflowgen spoof: socket: %s\n", strerror(errno));
		return R_ERROR;
	}
	to.sin_addr = d;
	for (long i = 0; i < count; i++) {
		uint16_t port = (uint16_t)(1 + (dport - 1 + (same ? 0 : i)) % 65535);
		uint32_t sum;
		struct {
			uint32_t s, d;
			uint8_t z, proto;
			uint16_t len;
		} __attribute__((packed))
		ph = {s.s_addr, d.s_addr, 0, IPPROTO_TCP, htons(sizeof(struct tcphdr))};

		memset(&pkt, 0, sizeof(pkt));
		pkt.ip.version = 4;
		pkt.ip.ihl = 5;
		pkt.ip.ttl = 64;
		pkt.ip.protocol = IPPROTO_TCP;
		pkt.ip.tot_len = htons(sizeof(pkt));
		pkt.ip.id = htons((uint16_t)i);
		pkt.ip.saddr = s.s_addr;
		pkt.ip.daddr = d.s_addr;
		pkt.tcp.source = htons(9); /* below every ephemeral range: no real flow has it */
		pkt.tcp.dest = htons(port);
		pkt.tcp.seq = htonl(0x1000u + (uint32_t)i);
		pkt.tcp.doff = doff;
		pkt.tcp.syn = 1;
		pkt.tcp.window = htons(64240);
		sum = csum_add(0, &ph, sizeof(ph));
		sum = csum_add(sum, &pkt.tcp, sizeof(pkt.tcp));
		pkt.tcp.check = htons(csum_fold(sum));
		/* the kernel fills the IPv4 header checksum of an IP_HDRINCL packet */
		if (sendto(fd, &pkt, sizeof(pkt), 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
			/* the queue is full: a send that did not happen is retried, not counted */
			if ((errno == ENOBUFS || errno == EAGAIN) && retries++ < 10000) {
				i--;
				usleep(100);
				continue;
			}
			fprintf(stderr, "pwflowgen spoof: sendto: %s\n", strerror(errno));
			break;
		}
		sent++;
	}
	close(fd);
	printf("sent %ld\n", sent);
	return sent == count ? R_OK_ : R_ERROR;
}

static int cmd_spoof(const char *src, const char *dst, long dport, long count)
{
	return send_syns(src, dst, dport, count, 5, false);
}

static int cmd_repeat(const char *src, const char *dst, long dport, long count)
{
	return send_syns(src, dst, dport, count, 5, true);
}

static int cmd_malformed(const char *src, const char *dst, long dport)
{
	return send_syns(src, dst, dport, 1, 15, false);
}

static int cmd_flood(const char *addr, const char *port, double seconds, long maxconn, long sport0)
{
	uint64_t t0 = now_us(), limit = (uint64_t)(seconds * 1e6), el;
	long ok = 0, failed = 0;

	if (sport0 < 0 || sport0 > 65535)
		return R_ERROR;
	if (sport0 && maxconn > 65536 - sport0)
		maxconn = 65536 - sport0;
	while ((el = now_us() - t0) < limit && ok + failed < maxconn) {
		uint16_t sp = sport0 ? (uint16_t)(sport0 + ok + failed) : 0;
		int fd, err = tcp_connect_from(addr, port, sp, 1000, &fd);

		if (err)
			failed++;
		else
			ok++;
		if (fd >= 0)
			reset_close(fd);
	}
	printf("flood %ld %ld %llu\n", ok, failed, (unsigned long long)(now_us() - t0));
	return failed && !ok ? R_ERROR : R_OK_;
}

static int listen_on(uint16_t port)
{
	struct sockaddr_in6 sa = {
		.sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = IN6ADDR_ANY_INIT};
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0), zero = 0, one = 1;

	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 4096)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int cmd_sink(int argc, char **argv)
{
	int ep = epoll_create1(0);

	if (ep < 0)
		return R_ERROR;
	for (int i = 0; i < argc; i++) {
		long p = strtol(argv[i], NULL, 10);
		int fd = p > 0 && p < 65536 ? listen_on((uint16_t)p) : -EINVAL;
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};

		if (fd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)) {
			fprintf(stderr, "pwflowgen sink: port %s: %s\n", argv[i],
				strerror(fd < 0 ? -fd : errno));
			return R_ERROR;
		}
	}
	printf("serving\n");
	fflush(stdout);
	for (;;) {
		struct epoll_event evs[16];
		int n = epoll_wait(ep, evs, 16, -1);

		for (int i = 0; i < n; i++) {
			int c;

			while ((c = accept4(evs[i].data.fd, NULL, NULL, 0)) >= 0)
				close(c);
		}
	}
}

static int usage(void)
{
	fprintf(stderr, "usage: pwflowgen tcp|hold ADDR PORT [TIMEOUT_MS]\n"
			"       pwflowgen spoof SRC DST DPORT COUNT\n"
			"       pwflowgen repeat SRC DST DPORT COUNT\n"
			"       pwflowgen malformed SRC DST DPORT\n"
			"       pwflowgen flood ADDR PORT SECONDS MAXCONN [FIRST_SPORT]\n"
			"       pwflowgen sink PORT...\n");
	return R_ERROR;
}

int main(int argc, char **argv)
{
	int timeout = 1000;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		return usage();
	if ((!strcmp(argv[1], "tcp") || !strcmp(argv[1], "hold")) && (argc == 4 || argc == 5)) {
		if (argc == 5)
			timeout = atoi(argv[4]);
		return argv[1][0] == 't' ? cmd_tcp(argv[2], argv[3], timeout)
					 : cmd_hold(argv[2], argv[3], timeout);
	}
	if (!strcmp(argv[1], "spoof") && argc == 6)
		return cmd_spoof(argv[2], argv[3], strtol(argv[4], NULL, 10),
				 strtol(argv[5], NULL, 10));
	if (!strcmp(argv[1], "repeat") && argc == 6)
		return cmd_repeat(argv[2], argv[3], strtol(argv[4], NULL, 10),
				  strtol(argv[5], NULL, 10));
	if (!strcmp(argv[1], "malformed") && argc == 5)
		return cmd_malformed(argv[2], argv[3], strtol(argv[4], NULL, 10));
	if (!strcmp(argv[1], "flood") && (argc == 6 || argc == 7))
		return cmd_flood(argv[2], argv[3], strtod(argv[4], NULL), strtol(argv[5], NULL, 10),
				 argc == 7 ? strtol(argv[6], NULL, 10) : 0);
	if (!strcmp(argv[1], "sink") && argc > 2)
		return cmd_sink(argc - 2, argv + 2);
	return usage();
}
