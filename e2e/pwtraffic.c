// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pwtraffic: steady traffic for the kill -9 test and the churn soak, run inside a pod (through
 * `pwprobe exec`) against `pwprobe serve`.
 *
 *   pwtraffic hold ADDR PORT SECONDS
 *       one TCP connection, a line echoed every 20 ms for SECONDS; prints "held N" (exit 0)
 *       or "broken after N: WHY" (exit 1): an allowed, established connection must survive
 *       whatever the daemon goes through
 *   pwtraffic loop tcp|udp ADDR PORT SECONDS [TIMEOUT_MS]
 *       new connections (or datagrams) back to back for SECONDS, each waiting TIMEOUT_MS
 *       (default 200) for its echo; prints "ok=N denied=N timeout=N refused=N error=N"
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

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

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

static int hold(const struct sockaddr_storage *ss, socklen_t len, double secs)
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

static int loop(int type, const struct sockaddr_storage *ss, socklen_t len, double secs,
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

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (argc == 5 && !strcmp(argv[1], "hold") && !parse_addr(argv[2], argv[3], &ss, &len))
		return hold(&ss, len, atof(argv[4]));
	if ((argc == 6 || argc == 7) && !strcmp(argv[1], "loop") &&
	    (!strcmp(argv[2], "tcp") || !strcmp(argv[2], "udp")) &&
	    !parse_addr(argv[3], argv[4], &ss, &len))
		return loop(argv[2][0] == 't' ? SOCK_STREAM : SOCK_DGRAM, &ss, len, atof(argv[5]),
			    argc == 7 ? atoi(argv[6]) : 200);
	fprintf(stderr, "usage: pwtraffic hold ADDR PORT SECONDS\n"
			"       pwtraffic loop tcp|udp ADDR PORT SECONDS [TIMEOUT_MS]\n");
	return 2;
}
