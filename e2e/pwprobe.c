// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pwprobe: the small tool the end-to-end tests and the demo run inside simulated pods.
 *
 *   pwprobe exec --cgroup DIR --netns NAME -- CMD...   join a pod: its cgroup FIRST (the
 *       socket programs find the pod by cgroup), then its netns (setns, so /sys stays as
 *       it is, unlike `ip netns exec`), then exec CMD
 *   pwprobe serve PORT...     TCP and UDP echo on every port, IPv4 and IPv6, until killed
 *   pwprobe tcp ADDR PORT [TIMEOUT_MS]   connect, send a line, wait for its echo
 *   pwprobe udp ADDR PORT [TIMEOUT_MS]   send a datagram, wait for its echo
 *   pwprobe hold ADDR PORT SECONDS
 *       one TCP connection, a line echoed every 20 ms for SECONDS; prints "held N" (exit 0)
 *       or "broken after N: WHY" (exit 1): an allowed, established connection must survive
 *       whatever the daemon goes through (the kill -9 test, the churn soak)
 *   pwprobe loop tcp|udp ADDR PORT SECONDS [TIMEOUT_MS]
 *       new connections (or datagrams) back to back for SECONDS, each waiting TIMEOUT_MS
 *       (default 200) for its echo; prints "ok=N denied=N timeout=N refused=N error=N"
 *
 * A probe prints one word and exits with its code: ok 0, denied 1 (EPERM from the socket
 * layer: the connection was refused before any packet left), timeout 2 (dropped on the
 * wire), refused 3 (RST / port unreachable), error 4.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

enum { R_OK_ = 0, R_DENIED = 1, R_TIMEOUT = 2, R_REFUSED = 3, R_ERROR = 4 };

static int report(int code, const char *detail)
{
	static const char *const words[] = {"ok", "denied", "timeout", "refused", "error"};

	if (detail && code == R_ERROR)
		printf("%s: %s\n", words[code], detail);
	else
		printf("%s\n", words[code]);
	return code;
}

static int classify(int err)
{
	switch (err) {
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

static int wait_fd(int fd, short ev, int timeout_ms)
{
	struct pollfd pfd = {.fd = fd, .events = ev};
	int n;

	do {
		n = poll(&pfd, 1, timeout_ms);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n ? 0 : -ETIMEDOUT;
}

static int probe_tcp(const char *addr, const char *port, int timeout_ms)
{
	struct sockaddr_storage ss;
	socklen_t len, elen = sizeof(int);
	char buf[64];
	int fd, err = 0, so = 0;
	ssize_t n;

	if (parse_addr(addr, port, &ss, &len))
		return report(R_ERROR, "bad address or port");
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return report(R_ERROR, strerror(errno));
	if (connect(fd, (struct sockaddr *)&ss, len) && errno != EINPROGRESS) {
		err = errno;
		goto out;
	}
	err = -wait_fd(fd, POLLOUT, timeout_ms);
	if (!err && getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &elen))
		err = errno;
	if (!err)
		err = so;
	if (err)
		goto out;
	if (send(fd, "ping\n", 5, MSG_NOSIGNAL) != 5) {
		err = errno;
		goto out;
	}
	err = -wait_fd(fd, POLLIN, timeout_ms);
	if (err)
		goto out;
	n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0)
		err = errno;
	else if (n == 0)
		err = ECONNRESET;
out:
	close(fd);
	if (!err)
		return report(R_OK_, NULL);
	return report(classify(err), strerror(err));
}

static int probe_udp(const char *addr, const char *port, int timeout_ms)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char buf[64];
	int fd, err = 0;

	if (parse_addr(addr, port, &ss, &len))
		return report(R_ERROR, "bad address or port");
	fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return report(R_ERROR, strerror(errno));
	/* connected, so an ICMP port unreachable comes back as ECONNREFUSED */
	if (connect(fd, (struct sockaddr *)&ss, len) || send(fd, "ping\n", 5, 0) != 5) {
		err = errno;
		goto out;
	}
	err = -wait_fd(fd, POLLIN, timeout_ms);
	if (!err && recv(fd, buf, sizeof(buf), 0) < 0)
		err = errno;
out:
	close(fd);
	if (!err)
		return report(R_OK_, NULL);
	return report(classify(err), strerror(err));
}

/* --- steady traffic: hold, loop ------------------------------------------------------------ */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One echo round trip of a line on fd; 0 or -errno. */
static int echo(int fd, int timeout_ms)
{
	char buf[64];
	ssize_t n;
	int err;

	if (send(fd, "ping\n", 5, MSG_NOSIGNAL) != 5)
		return -errno;
	err = wait_fd(fd, POLLIN, timeout_ms);
	if (err)
		return err;
	n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0)
		return -errno;
	return n ? 0 : -ECONNRESET;
}

/* A connected socket (TCP: the handshake done), or -errno. */
static int dial(int type, const struct sockaddr_storage *ss, socklen_t len, int timeout_ms)
{
	socklen_t elen = sizeof(int);
	int fd = socket(ss->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), so = 0, err = 0;

	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)ss, len) && errno != EINPROGRESS)
		err = -errno;
	if (!err && type == SOCK_STREAM) {
		err = wait_fd(fd, POLLOUT, timeout_ms);
		if (!err && getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &elen))
			err = -errno;
		if (!err && so)
			err = -so;
	}
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

static int traffic_hold(const struct sockaddr_storage *ss, socklen_t len, double secs)
{
	double end = now_s() + secs;
	unsigned long n = 0;
	int fd = dial(SOCK_STREAM, ss, len, 2000), err = 0;

	if (fd < 0) {
		printf("broken after 0: connect: %s\n", strerror(-fd));
		return 1;
	}
	while (now_s() < end) {
		/* generous: a loaded machine; a connection that was cut never answers at all */
		err = echo(fd, 3000);
		if (err)
			break;
		n++;
		usleep(20000);
	}
	close(fd);
	if (err) {
		printf("broken after %lu: %s\n", n, strerror(-err));
		return 1;
	}
	printf("held %lu\n", n);
	return 0;
}

static int traffic_loop(int type, const struct sockaddr_storage *ss, socklen_t len, double secs,
		int timeout_ms)
{
	unsigned long c[5] = {0}; /* ok denied timeout refused error */
	double end = now_s() + secs;

	while (now_s() < end) {
		int fd = dial(type, ss, len, timeout_ms), err;

		err = fd < 0 ? fd : echo(fd, timeout_ms);
		if (fd >= 0)
			close(fd);
		switch (-err) {
		case 0:
			c[0]++;
			break;
		case EPERM:
		case EACCES:
			c[1]++;
			break;
		case ETIMEDOUT:
		case EAGAIN:
			c[2]++;
			break;
		case ECONNREFUSED:
		case ECONNRESET:
			c[3]++;
			break;
		default:
			c[4]++;
		}
		if (err == -EPERM)
			usleep(1000); /* a socket-layer deny is instant: do not spin */
	}
	printf("ok=%lu denied=%lu timeout=%lu refused=%lu error=%lu\n", c[0], c[1], c[2], c[3],
	       c[4]);
	return 0;
}

/* --- serve --------------------------------------------------------------------------------- */

#define MAX_FDS 256

static int listen_on(int type, uint16_t port)
{
	struct sockaddr_in6 sa = {
		.sin6_family = AF_INET6, .sin6_port = htons(port), .sin6_addr = IN6ADDR_ANY_INIT};
	int fd = socket(AF_INET6, type | SOCK_NONBLOCK, 0), zero = 0, one = 1;

	if (fd < 0)
		return -errno;
	/* one dual-stack socket serves IPv4 (mapped) and IPv6 */
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    (type == SOCK_STREAM && listen(fd, 128))) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int serve(int argc, char **argv)
{
	struct pollfd pfd[MAX_FDS];
	int kind[MAX_FDS]; /* 0 listener, 1 udp, 2 tcp connection */
	int n = 0;

	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < argc && n + 2 <= MAX_FDS; i++) {
		long p = strtol(argv[i], NULL, 10);
		int t = listen_on(SOCK_STREAM, (uint16_t)p), u = listen_on(SOCK_DGRAM, (uint16_t)p);

		if (p < 1 || p > 65535 || t < 0 || u < 0) {
			fprintf(stderr, "pwprobe serve: port %s: %s\n", argv[i],
				strerror(t < 0	 ? -t
					 : u < 0 ? -u
						 : EINVAL));
			return R_ERROR;
		}
		pfd[n] = (struct pollfd){.fd = t, .events = POLLIN};
		kind[n++] = 0;
		pfd[n] = (struct pollfd){.fd = u, .events = POLLIN};
		kind[n++] = 1;
	}
	/* tell whoever started us that every port is bound */
	printf("serving\n");
	fflush(stdout);
	for (;;) {
		if (poll(pfd, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return R_ERROR;
		}
		for (int i = 0; i < n; i++) {
			char buf[2048];
			struct sockaddr_storage ss;
			socklen_t sl = sizeof(ss);
			ssize_t r;

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (kind[i] == 0) {
				int c = accept4(pfd[i].fd, NULL, NULL, SOCK_NONBLOCK);

				if (c >= 0 && n < MAX_FDS) {
					pfd[n] = (struct pollfd){.fd = c, .events = POLLIN};
					kind[n++] = 2;
				} else if (c >= 0) {
					close(c);
				}
			} else if (kind[i] == 1) {
				r = recvfrom(pfd[i].fd, buf, sizeof(buf), 0, (struct sockaddr *)&ss,
					     &sl);
				if (r > 0)
					(void)!sendto(pfd[i].fd, buf, (size_t)r, 0,
						      (struct sockaddr *)&ss, sl);
			} else {
				r = recv(pfd[i].fd, buf, sizeof(buf), 0);
				if (r > 0 && send(pfd[i].fd, buf, (size_t)r, MSG_NOSIGNAL) == r)
					continue;
				if (r < 0 && errno == EAGAIN)
					continue;
				close(pfd[i].fd);
				pfd[i] = pfd[n - 1];
				kind[i] = kind[n - 1];
				n--;
				i--;
			}
		}
	}
}

/* --- exec ---------------------------------------------------------------------------------- */

static int do_exec(int argc, char **argv)
{
	const char *cg = NULL, *ns = NULL;
	char path[4096];
	int i, fd;

	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--cgroup") && i + 1 < argc)
			cg = argv[++i];
		else if (!strcmp(argv[i], "--netns") && i + 1 < argc)
			ns = argv[++i];
		else if (!strcmp(argv[i], "--"))
			break;
		else
			break;
	}
	if (i >= argc || strcmp(argv[i], "--") || i + 1 >= argc) {
		fprintf(stderr, "usage: pwprobe exec [--cgroup DIR] [--netns NAME] -- CMD...\n");
		return R_ERROR;
	}
	/* cgroup first: /sys/fs/cgroup is reachable whatever netns we join next */
	if (cg) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
		f = fopen(path, "w");
		if (!f || fprintf(f, "%d\n", getpid()) < 0 || fclose(f)) {
			fprintf(stderr, "pwprobe exec: joining %s: %s\n", cg, strerror(errno));
			return R_ERROR;
		}
	}
	if (ns) {
		snprintf(path, sizeof(path), "/run/netns/%s", ns);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWNET)) {
			fprintf(stderr, "pwprobe exec: joining netns %s: %s\n", ns,
				strerror(errno));
			return R_ERROR;
		}
		close(fd);
	}
	execvp(argv[i + 1], argv + i + 1);
	fprintf(stderr, "pwprobe exec: %s: %s\n", argv[i + 1], strerror(errno));
	return R_ERROR;
}

static int usage(void)
{
	fprintf(stderr, "usage: pwprobe exec [--cgroup DIR] [--netns NAME] -- CMD...\n"
			"       pwprobe serve PORT...\n"
			"       pwprobe tcp|udp ADDR PORT [TIMEOUT_MS]\n"
			"       pwprobe hold ADDR PORT SECONDS\n"
			"       pwprobe loop tcp|udp ADDR PORT SECONDS [TIMEOUT_MS]\n");
	return R_ERROR;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int timeout = 1000;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "exec"))
		return do_exec(argc - 2, argv + 2);
	if (!strcmp(argv[1], "serve") && argc > 2)
		return serve(argc - 2, argv + 2);
	if (argc == 5 && !strcmp(argv[1], "hold") && !parse_addr(argv[2], argv[3], &ss, &len))
		return traffic_hold(&ss, len, atof(argv[4]));
	if ((argc == 6 || argc == 7) && !strcmp(argv[1], "loop") &&
	    (!strcmp(argv[2], "tcp") || !strcmp(argv[2], "udp")) &&
	    !parse_addr(argv[3], argv[4], &ss, &len))
		return traffic_loop(argv[2][0] == 't' ? SOCK_STREAM : SOCK_DGRAM, &ss, len,
				    atof(argv[5]), argc == 7 ? atoi(argv[6]) : 200);
	if ((!strcmp(argv[1], "tcp") || !strcmp(argv[1], "udp")) && (argc == 4 || argc == 5)) {
		if (argc == 5)
			timeout = atoi(argv[4]);
		return argv[1][0] == 't' ? probe_tcp(argv[2], argv[3], timeout)
					 : probe_udp(argv[2], argv[3], timeout);
	}
	return usage();
}
