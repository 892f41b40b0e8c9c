// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pwstream: a long-lived TCP connection exchanging stamped messages every few milliseconds,
 * both ways, for the quarantine test and benchmark (run inside pods with pwprobe exec).
 *
 *   pwstream listen PORT LOG [INTERVAL_US]         accept one connection, then exchange
 *   pwstream connect ADDR PORT LOG [INTERVAL_US]   connect, then exchange
 *   pwstream timecmd -- CMD...                     run CMD (stdout discarded); print
 *                                                  "START_NS END_NS EXIT_STATUS"
 *
 * Each side sends a 16-byte message {seq, send time} every INTERVAL_US (default 2000) and
 * appends one line per message it receives to LOG: "SEQ SENT_NS RX_NS", where RX_NS is the
 * kernel's receive time of the segment (SO_TIMESTAMPNS), not when we got round to reading
 * it. All times are CLOCK_REALTIME nanoseconds, comparable across the pods of one machine.
 * "connected" goes to stdout once the connection exists. Runs until killed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>

struct msg {
	uint64_t seq;
	uint64_t sent_ns;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int fail(const char *what)
{
	fprintf(stderr, "pwstream: %s: %s\n", what, strerror(errno));
	return 1;
}

/* Send on schedule, log what arrives; returns when the peer closes or on a hard error. */
static int exchange(int fd, const char *log_path, long interval_us)
{
	char buf[4096], cbuf[CMSG_SPACE(sizeof(struct timespec))];
	size_t have = 0;
	uint64_t seq = 0, next = now_ns(), rx = 0;
	int one = 1, logfd;

	logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0)
		return fail(log_path);
	setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	printf("connected\n");
	fflush(stdout);
	for (;;) {
		uint64_t t = now_ns();
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int wait_ms = t >= next ? 0 : (int)((next - t) / 1000000) + 1;

		if (t >= next) {
			struct msg m = {.seq = ++seq, .sent_ns = t};

			/* a full send buffer (the quarantine holds it back) skips a message */
			if (send(fd, &m, sizeof(m), MSG_NOSIGNAL) < 0 && errno != EAGAIN)
				return 0;
			next += (uint64_t)interval_us * 1000;
			if (next < t)
				next = t + (uint64_t)interval_us * 1000;
			continue;
		}
		if (poll(&p, 1, wait_ms) <= 0)
			continue;
		for (;;) {
			struct iovec iov = {buf + have, sizeof(buf) - have};
			struct msghdr mh = {.msg_iov = &iov,
					    .msg_iovlen = 1,
					    .msg_control = cbuf,
					    .msg_controllen = sizeof(cbuf)};
			struct cmsghdr *c;
			ssize_t n = recvmsg(fd, &mh, 0);
			size_t off = 0;

			if (n == 0)
				return 0;
			if (n < 0)
				break;
			for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
				if (c->cmsg_level == SOL_SOCKET &&
				    c->cmsg_type == SCM_TIMESTAMPNS) {
					struct timespec ts;

					memcpy(&ts, CMSG_DATA(c), sizeof(ts));
					rx = (uint64_t)ts.tv_sec * 1000000000ull +
					     (uint64_t)ts.tv_nsec;
				}
			}
			have += (size_t)n;
			while (have - off >= sizeof(struct msg)) {
				struct msg m;

				memcpy(&m, buf + off, sizeof(m));
				dprintf(logfd, "%llu %llu %llu\n", (unsigned long long)m.seq,
					(unsigned long long)m.sent_ns,
					(unsigned long long)(rx ? rx : now_ns()));
				off += sizeof(m);
			}
			memmove(buf, buf + off, have - off);
			have -= off;
		}
	}
}

static int parse_port(const char *s)
{
	char *end;
	long p = strtol(s, &end, 10);

	return *end || p < 1 || p > 65535 ? -1 : (int)p;
}

static int do_listen(int argc, char **argv)
{
	int port = parse_port(argv[2]), one = 1, fd, c;
	struct sockaddr_in6 a = {.sin6_family = AF_INET6};

	if (port < 0)
		return fprintf(stderr, "pwstream: bad port %s\n", argv[2]), 1;
	a.sin6_port = htons((uint16_t)port);
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 4))
		return fail("bind/listen");
	printf("listening\n");
	fflush(stdout);
	c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return fail("accept");
	close(fd);
	return exchange(c, argv[3], argc > 4 ? atol(argv[4]) : 2000);
}

static int do_connect(int argc, char **argv)
{
	int port = parse_port(argv[3]), fd;
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;

	if (port < 0)
		return fprintf(stderr, "pwstream: bad port %s\n", argv[3]), 1;
	if (inet_pton(AF_INET, argv[2], &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		len = sizeof(*s4);
	} else if (inet_pton(AF_INET6, argv[2], &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		len = sizeof(*s6);
	} else {
		return fprintf(stderr, "pwstream: bad address %s\n", argv[2]), 1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, len))
		return fail("connect");
	return exchange(fd, argv[4], argc > 5 ? atol(argv[5]) : 2000);
}

static int do_timecmd(int argc, char **argv)
{
	uint64_t start, end;
	int status = 0;
	pid_t pid;

	if (argc < 4 || strcmp(argv[2], "--"))
		return fprintf(stderr, "pwstream: timecmd -- CMD...\n"), 1;
	start = now_ns();
	pid = fork();
	if (pid < 0)
		return fail("fork");
	if (!pid) {
		/* its output would mix with ours: only the timing goes to stdout */
		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, STDOUT_FILENO);
		execvp(argv[3], argv + 3);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	end = now_ns();
	printf("%llu %llu %d\n", (unsigned long long)start, (unsigned long long)end,
	       WIFEXITED(status) ? WEXITSTATUS(status) : 128);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "listen"))
		return do_listen(argc, argv);
	if (argc >= 5 && !strcmp(argv[1], "connect"))
		return do_connect(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "timecmd"))
		return do_timecmd(argc, argv);
	fprintf(stderr, "usage: pwstream listen PORT LOG [INTERVAL_US]\n"
			"       pwstream connect ADDR PORT LOG [INTERVAL_US]\n"
			"       pwstream timecmd -- CMD...\n");
	return 2;
}
