// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pwload: the load generator of the peer comparison (netperf is not in Debian main).
 *
 *   pwload server --port P [--max-seconds N]
 *   pwload client --mode rr|crr|stream|udp_rr --addr A --port P --seconds S [--warmup-ms W]
 *   pwload probe --addr A --port P [--timeout-ms T]     exit 0 when a TCP echo works, 1 if not
 *
 * One server process answers everything on one port, TCP and UDP, so one policy entry (and one
 * iptables rule) per protocol admits all four tests:
 *   - a TCP connection whose first byte is 'S' is a sink: the server reads and discards until
 *     EOF, then answers with the 8-byte count it received and closes (single-stream throughput,
 *     measured at the receiver so socket buffers do not inflate it);
 *   - any other TCP connection is echoed; after an echo the server closes only when the client
 *     did (TCP_RR keeps the connection, TCP_CRR closes it after one exchange);
 *   - UDP datagrams are echoed.
 *
 * The client runs one transaction at a time, like netperf's *_RR tests, and prints one line of
 * key=value pairs: the rate, the transaction latency median and 99th percentile, and errors.
 * Everything is bounded: socket timeouts of 1 s, a fixed duration, and a server that exits by
 * itself after --max-seconds.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SAMPLES    (4u << 20) /* latency samples kept per run; later ones are counted only */
#define STREAM_CHUNK   (64 * 1024)
#define SINK_CHUNK     (256 * 1024)
#define IO_TIMEOUT_MS  1000
#define UDP_TIMEOUT_MS 200
#define SERVER_MAX_S   3600

enum conn_mode { CM_NEW = 0, CM_ECHO, CM_SINK };

struct conn {
	int fd;
	enum conn_mode mode;
	uint64_t count;
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	stop_flag = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int set_timeouts(int fd, int ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		return -errno;
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* --- server -------------------------------------------------------------------------------- */

static int listen_socket(int type, uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int one = 1, fd, err;

	fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    (type == SOCK_STREAM && listen(fd, 1024))) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static void conn_close(int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

/* Serve one readable connection; returns false when it is finished (closed by us). */
static bool conn_serve(int ep, struct conn *c, char *buf)
{
	for (;;) {
		ssize_t n = read(c->fd, buf, SINK_CHUNK);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return true;
			conn_close(ep, c);
			return false;
		}
		if (n == 0) {
			if (c->mode == CM_SINK) {
				uint64_t cnt = c->count;
				int fl = fcntl(c->fd, F_GETFL);

				/* 8 bytes fit an empty send buffer: blocking is simplest */
				fcntl(c->fd, F_SETFL, fl & ~O_NONBLOCK);
				set_timeouts(c->fd, IO_TIMEOUT_MS);
				write_full(c->fd, &cnt, sizeof(cnt));
			}
			conn_close(ep, c);
			return false;
		}
		if (c->mode == CM_NEW)
			c->mode = buf[0] == 'S' ? CM_SINK : CM_ECHO;
		if (c->mode == CM_SINK) {
			c->count += (uint64_t)n;
			continue;
		}
		/* echo: the client sends one small request at a time, so this never blocks long */
		if (write_full(c->fd, buf, (size_t)n)) {
			conn_close(ep, c);
			return false;
		}
	}
}

static int run_server(uint16_t port, int max_s)
{
	struct epoll_event ev, evs[64];
	int lfd = -1, ufd = -1, ep = -1, err = 0, i, n;
	uint64_t deadline = now_ns() + (uint64_t)max_s * 1000000000ull;
	char *buf = malloc(SINK_CHUNK);

	if (!buf)
		return -ENOMEM;
	lfd = listen_socket(SOCK_STREAM, port);
	ufd = listen_socket(SOCK_DGRAM, port);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (lfd < 0 || ufd < 0 || ep < 0) {
		err = lfd < 0 ? lfd : ufd < 0 ? ufd : -errno;
		fprintf(stderr, "pwload server: cannot listen on %u: %s\n", port, strerror(-err));
		goto out;
	}
	ev.events = EPOLLIN;
	ev.data.ptr = &lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	ev.data.ptr = &ufd;
	epoll_ctl(ep, EPOLL_CTL_ADD, ufd, &ev);
	/* the driver waits for this line before it starts a client */
	printf("ready port=%u\n", port);
	fflush(stdout);

	while (!stop_flag && now_ns() < deadline) {
		n = epoll_wait(ep, evs, 64, 500);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto out;
		}
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == &lfd) {
				int cfd;

				while ((cfd = accept4(lfd, NULL, NULL,
						      SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					struct conn *c = calloc(1, sizeof(*c));
					int one = 1;

					if (!c) {
						close(cfd);
						continue;
					}
					setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one,
						   sizeof(one));
					c->fd = cfd;
					ev.events = EPOLLIN;
					ev.data.ptr = c;
					if (epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev)) {
						close(cfd);
						free(c);
					}
				}
			} else if (evs[i].data.ptr == &ufd) {
				struct sockaddr_storage from;
				socklen_t fl;
				ssize_t r;

				for (;;) {
					fl = sizeof(from);
					r = recvfrom(ufd, buf, 2048, 0, (struct sockaddr *)&from,
						     &fl);
					if (r < 0)
						break;
					sendto(ufd, buf, (size_t)r, 0, (struct sockaddr *)&from,
					       fl);
				}
			} else {
				conn_serve(ep, evs[i].data.ptr, buf);
			}
		}
	}
out:
	/* open connections are released by the process exit */
	if (ep >= 0)
		close(ep);
	if (lfd >= 0)
		close(lfd);
	if (ufd >= 0)
		close(ufd);
	free(buf);
	return err;
}

/* --- client -------------------------------------------------------------------------------- */

enum mode { M_RR, M_CRR, M_STREAM, M_UDP_RR };
static const char *const mode_names[] = {"rr", "crr", "stream", "udp_rr"};

struct client {
	enum mode mode;
	struct sockaddr_in dst;
	double seconds;
	int warmup_ms;
	uint32_t *lat; /* ns per transaction */
	size_t nlat;
	uint64_t ops;
	uint64_t errors;
};

static void lat_add(struct client *c, uint64_t ns)
{
	if (c->nlat < MAX_SAMPLES)
		c->lat[c->nlat++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int tcp_connect(const struct sockaddr_in *dst, int timeout_ms)
{
	int one = 1, fd, err;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* SO_SNDTIMEO bounds connect() too */
	if ((err = set_timeouts(fd, timeout_ms)))
		goto fail;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)dst, sizeof(*dst))) {
		err = -errno;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return err;
}

/*
 * One request byte out, the same byte back. UDP requests carry a rolling value and a reply of
 * another value is a late answer to a request that already timed out: it is skipped, so a loss
 * never leaves two requests in flight. TCP always sends 'x' (never 'S', the sink's mark).
 */
static int exchange(int fd, char v)
{
	char b;
	ssize_t n;

	if (send(fd, &v, 1, MSG_NOSIGNAL) != 1)
		return -EIO;
	for (;;) {
		n = recv(fd, &b, 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n != 1)
			return n < 0 ? -errno : -EPIPE;
		if (b == v)
			return 0;
	}
}

/* Run the transaction loop until `end`; record only when `record`. */
static int rr_loop(struct client *c, int *fdp, uint64_t end, bool record)
{
	uint64_t t0, t1;
	unsigned char seq = 0;

	while ((t0 = now_ns()) < end && !stop_flag) {
		if (c->mode == M_CRR) {
			int fd = tcp_connect(&c->dst, IO_TIMEOUT_MS);

			if (fd < 0 || exchange(fd, 'x')) {
				if (fd >= 0)
					close(fd);
				if (record)
					c->errors++;
				continue;
			}
			/* the client closes first, as netperf's TCP_CRR does */
			close(fd);
		} else {
			char v = c->mode == M_UDP_RR ? (char)seq++ : 'x';

			if (exchange(*fdp, v)) {
				/* a broken TCP_RR connection ends the run */
				if (c->mode != M_UDP_RR)
					return -EPIPE;
				/* a lost datagram: counted, and its timeout is not a sample */
				if (record)
					c->errors++;
				continue;
			}
		}
		t1 = now_ns();
		if (record) {
			c->ops++;
			lat_add(c, t1 - t0);
		}
	}
	return 0;
}

static int run_rr(struct client *c)
{
	uint64_t start, end, t_end;
	int fd = -1, err = 0;

	if (c->mode == M_RR) {
		fd = tcp_connect(&c->dst, IO_TIMEOUT_MS);
		if (fd < 0)
			return fd;
	} else if (c->mode == M_UDP_RR) {
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (set_timeouts(fd, UDP_TIMEOUT_MS) ||
		    connect(fd, (struct sockaddr *)&c->dst, sizeof(c->dst))) {
			err = -errno;
			goto out;
		}
	}
	start = now_ns();
	if (c->warmup_ms > 0) {
		err = rr_loop(c, &fd, start + (uint64_t)c->warmup_ms * 1000000ull, false);
		if (err)
			goto out;
	}
	start = now_ns();
	end = start + (uint64_t)(c->seconds * 1e9);
	err = rr_loop(c, &fd, end, true);
	t_end = now_ns();
	if (err)
		goto out;
	c->seconds = (double)(t_end - start) / 1e9;
out:
	if (fd >= 0)
		close(fd);
	return err;
}

static int run_stream(struct client *c, double *gbps, uint64_t *bytes)
{
	char *buf = malloc(STREAM_CHUNK);
	uint64_t start, end, t_end, cnt = 0, warm_end;
	int fd, err = 0;
	ssize_t n;

	if (!buf)
		return -ENOMEM;
	memset(buf, 'S', STREAM_CHUNK);
	fd = tcp_connect(&c->dst, IO_TIMEOUT_MS);
	if (fd < 0) {
		free(buf);
		return fd;
	}
	start = now_ns();
	warm_end = start + (uint64_t)c->warmup_ms * 1000000ull;
	end = warm_end + (uint64_t)(c->seconds * 1e9);
	/* the receiver counts everything; the warm-up only lets the window open first */
	while (now_ns() < end && !stop_flag) {
		if (write_full(fd, buf, STREAM_CHUNK)) {
			err = -EPIPE;
			goto out;
		}
	}
	shutdown(fd, SHUT_WR);
	do
		n = recv(fd, &cnt, sizeof(cnt), MSG_WAITALL);
	while (n < 0 && errno == EINTR);
	t_end = now_ns();
	if (n != (ssize_t)sizeof(cnt)) {
		err = -EPIPE;
		goto out;
	}
	*bytes = cnt;
	*gbps = (double)cnt * 8 / (double)(t_end - start);
	c->seconds = (double)(t_end - start) / 1e9;
out:
	close(fd);
	free(buf);
	return err;
}

static int run_client(struct client *c)
{
	int err;

	if (c->mode == M_STREAM) {
		double gbps = 0;
		uint64_t bytes = 0;

		err = run_stream(c, &gbps, &bytes);
		if (err)
			goto fail;
		printf("mode=stream secs=%.3f bytes=%" PRIu64 " gbps=%.4f\n", c->seconds, bytes,
		       gbps);
		return 0;
	}
	c->lat = malloc(MAX_SAMPLES * sizeof(*c->lat));
	if (!c->lat)
		return -ENOMEM;
	err = run_rr(c);
	if (err)
		goto fail;
	if (!c->nlat) {
		err = -ETIMEDOUT;
		goto fail;
	}
	qsort(c->lat, c->nlat, sizeof(*c->lat), cmp_u32);
	printf("mode=%s secs=%.3f ops=%" PRIu64 " rate=%.1f p50_us=%.2f p99_us=%.2f errors=%" PRIu64
	       "\n",
	       mode_names[c->mode], c->seconds, c->ops, (double)c->ops / c->seconds,
	       c->lat[c->nlat / 2] / 1e3, c->lat[(size_t)((double)c->nlat * 0.99)] / 1e3,
	       c->errors);
	free(c->lat);
	return 0;
fail:
	fprintf(stderr, "pwload client %s: %s\n", mode_names[c->mode], strerror(-err));
	free(c->lat);
	return err;
}

/* --- main ---------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: pwload server --port P [--max-seconds N]\n"
		   "       pwload client --mode rr|crr|stream|udp_rr --addr IPV4 --port P "
		   "--seconds S [--warmup-ms W]\n"
		   "       pwload probe --addr IPV4 --port P [--timeout-ms T]\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"port", required_argument, NULL, 'p'},
		{"addr", required_argument, NULL, 'a'},
		{"mode", required_argument, NULL, 'm'},
		{"seconds", required_argument, NULL, 's'},
		{"warmup-ms", required_argument, NULL, 'w'},
		{"max-seconds", required_argument, NULL, 'M'},
		{"timeout-ms", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{},
	};
	struct client c = {.seconds = 1.0, .dst = {.sin_family = AF_INET}};
	int ch, port = 0, max_s = SERVER_MAX_S, timeout_ms = 300, err, i;
	const char *cmd;
	bool have_addr = false;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	cmd = argv[1];
	optind = 2;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			port = atoi(optarg);
			break;
		case 'a':
			have_addr = inet_pton(AF_INET, optarg, &c.dst.sin_addr) == 1;
			break;
		case 's':
			c.seconds = atof(optarg);
			break;
		case 'w':
			c.warmup_ms = atoi(optarg);
			break;
		case 'M':
			max_s = atoi(optarg);
			break;
		case 't':
			timeout_ms = atoi(optarg);
			break;
		case 'm':
			for (i = 0; i < 4; i++)
				if (!strcmp(optarg, mode_names[i]))
					break;
			if (i == 4) {
				usage(stderr);
				return 2;
			}
			c.mode = (enum mode)i;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (port <= 0 || port > 65535 || c.seconds <= 0 || c.seconds > 600 || max_s <= 0) {
		usage(stderr);
		return 2;
	}
	c.dst.sin_port = htons((uint16_t)port);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);

	if (!strcmp(cmd, "server"))
		return run_server((uint16_t)port, max_s) ? 1 : 0;
	if (!have_addr) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(cmd, "probe")) {
		int fd = tcp_connect(&c.dst, timeout_ms);

		err = fd < 0 ? fd : exchange(fd, 'x');
		if (fd >= 0)
			close(fd);
		printf("probe %s:%d %s\n", inet_ntoa(c.dst.sin_addr), port,
		       err ? strerror(-err) : "ok");
		return err ? 1 : 0;
	}
	if (!strcmp(cmd, "client"))
		return run_client(&c) ? 1 : 0;
	usage(stderr);
	return 2;
}
