// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwalld: the control socket's clients: accept, read request lines, queue replies and
 * flow records, close.
 */
#define _GNU_SOURCE
#include <malloc.h>

#include "daemon.h"

/* --- clients ------------------------------------------------------------------------------- */

/* Input until the client is closing (its end of stream stays readable), output while queued. */
static void client_update_events(struct daemon *d, struct client *cl)
{
	uint32_t mask = (cl->closing ? 0 : EPOLLIN | EPOLLRDHUP) |
			(cl->out_len > cl->out_off ? EPOLLOUT : 0);
	struct epoll_event ev = {.events = mask, .data.ptr = &cl->w};

	if (mask == cl->mask)
		return;
	if (!epoll_ctl(d->epfd, EPOLL_CTL_MOD, cl->w.fd, &ev))
		cl->mask = mask;
}

static void client_kill(struct daemon *d, struct client *cl)
{
	if (cl->dead)
		return;
	cl->dead = true;
	pw_cluster_forget(d->cluster, cl);
	epoll_ctl(d->epfd, EPOLL_CTL_DEL, cl->w.fd, NULL);
	if (cl->follow)
		pw_flowlog_unsubscribe(d->fl, cl->follow);
	cl->follow = 0;
}

static void client_flush(struct daemon *d, struct client *cl)
{
	while (cl->out_len > cl->out_off) {
		ssize_t n = send(cl->w.fd, cl->out + cl->out_off, cl->out_len - cl->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			client_kill(d, cl);
			return;
		}
		cl->out_off += (size_t)n;
	}
	if (cl->out_off == cl->out_len) {
		cl->out_off = cl->out_len = 0;
		if (cl->closing) {
			client_kill(d, cl);
			return;
		}
		if (cl->dropped && cl->follow) {
			char note[64];
			uint64_t dropped = cl->dropped;

			cl->dropped = 0;
			snprintf(note, sizeof(note), "{\"dropped\":%llu}\n",
				 (unsigned long long)dropped);
			client_send_raw(d, cl, note, strlen(note));
			return;
		}
	}
	client_update_events(d, cl);
}

void client_send_raw(struct daemon *d, struct client *cl, const char *buf, size_t len)
{
	if (cl->dead)
		return;
	if (cl->out_cap - cl->out_len < len) {
		size_t cap = cl->out_cap ? cl->out_cap : 16384;
		char *p;

		/* reclaim what was already sent before growing */
		if (cl->out_off) {
			memmove(cl->out, cl->out + cl->out_off, cl->out_len - cl->out_off);
			cl->out_len -= cl->out_off;
			cl->out_off = 0;
		}
		while (cap - cl->out_len < len)
			cap *= 2;
		if (cap != cl->out_cap) {
			p = realloc(cl->out, cap);
			if (!p) {
				client_kill(d, cl);
				return;
			}
			cl->out = p;
			cl->out_cap = cap;
		}
	}
	memcpy(cl->out + cl->out_len, buf, len);
	cl->out_len += len;
	client_flush(d, cl);
}

void client_send(struct daemon *d, struct client *cl, json_object *msg)
{
	char *line = NULL;
	size_t len;

	if (!msg || pw_proto_encode(msg, &line, &len)) {
		static const char oom[] = "{\"ok\":false,\"error\":\"out of memory\"}\n";

		client_send_raw(d, cl, oom, sizeof(oom) - 1);
	} else {
		client_send_raw(d, cl, line, len);
	}
	free(line);
	json_object_put(msg);
}

/*
 * A large request (a cluster applied at once: megabytes of JSON, its parse tree, the manifest
 * objects it moved into the core) leaves that much freed memory in the heap, which glibc keeps
 * mapped: the daemon's RSS would stay at its peak for good. Once such a request is answered
 * and its receive buffer dropped, the free pages go back to the kernel (malloc_trim).
 */
#define PW_BIG_REQUEST (256u << 10)

static bool trim_due;

static void release_after_big_request(struct client *cl)
{
	if (pw_linebuf_pending(&cl->in) == 0 && cl->in.cap >= PW_BIG_REQUEST) {
		pw_linebuf_free(&cl->in);
		pw_linebuf_init(&cl->in, PW_PROTO_MAX_LINE);
	}
	if (trim_due) {
		malloc_trim(0);
		trim_due = false;
	}
}

static void client_ready(struct daemon *d, struct watch *w, uint32_t events)
{
	struct client *cl = (struct client *)w;

	if (cl->dead)
		return;
	if (events & EPOLLOUT)
		client_flush(d, cl);
	if (cl->dead || cl->closing || !(events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP)))
		return;
	for (;;) {
		ssize_t n = pw_linebuf_fill(&cl->in, w->fd);
		char *line;
		size_t len;
		int r;

		if (n == -EAGAIN)
			break;
		if (n <= 0) {
			/* peer closed (or failed): finish sending what is queued, then go */
			if (n == 0 && cl->out_len > cl->out_off && !cl->follow) {
				cl->closing = true;
				client_flush(d, cl);
			} else {
				client_kill(d, cl);
			}
			return;
		}
		while ((r = pw_linebuf_next(&cl->in, &line, &len)) == 1) {
			/* a follower only listens; anything it sends is ignored */
			if (!cl->follow) {
				json_object *res = d->handle(d, cl, line, len);

				/* NULL: answered later (an apply in cluster mode) */
				if (res)
					client_send(d, cl, res);
			}
			if (len >= PW_BIG_REQUEST)
				trim_due = true;
			if (cl->dead)
				return;
		}
		release_after_big_request(cl);
		if (r < 0) {
			client_send(d, cl,
				    pw_proto_error(NULL, "request longer than %u bytes",
						   PW_PROTO_MAX_LINE));
			cl->closing = true;
			client_flush(d, cl);
			return;
		}
	}
}

void listen_ready(struct daemon *d, struct watch *w, uint32_t events)
{
	for (;;) {
		struct ucred cred;
		struct client *cl;
		int fd;

		fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR)
				dlog(PW_LOG_ERROR, "control socket: accept: %s", strerror(errno));
			return;
		}
		/* root (or --socket-group): the socket's mode says so too, this holds if someone
		 * chmods it */
		if (!pw_priv_peer_allowed(fd, d->socket_group_set, d->socket_gid, &cred.uid,
					  &cred.pid)) {
			static const char msg[] = "{\"ok\":false,\"error\":\"permission denied: "
						  "podwalld accepts root (and --socket-group) "
						  "only\"}\n";

			dlog(PW_LOG_WARN, "control socket: refused uid %d (pid %d): not root%s",
			     (int)cred.uid, (int)cred.pid,
			     d->socket_group_set ? " nor in --socket-group" : "");
			(void)!send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			continue;
		}
		if (d->nclients >= MAX_CLIENTS) {
			static const char msg[] = "{\"ok\":false,\"error\":\"too many clients\"}\n";

			(void)!send(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			continue;
		}
		cl = calloc(1, sizeof(*cl));
		if (!cl) {
			close(fd);
			continue;
		}
		pw_linebuf_init(&cl->in, PW_PROTO_MAX_LINE);
		cl->pid = cred.pid;
		cl->d = d;
		cl->mask = EPOLLIN | EPOLLRDHUP;
		if (watch_add(d, &cl->w, fd, client_ready, EPOLLIN | EPOLLRDHUP)) {
			close(fd);
			free(cl);
			continue;
		}
		cl->next = d->clients;
		d->clients = cl;
		d->nclients++;
	}
}

void clients_reap(struct daemon *d, bool all)
{
	struct client **pp = &d->clients;

	while (*pp) {
		struct client *cl = *pp;

		if (!cl->dead && !all) {
			pp = &cl->next;
			continue;
		}
		*pp = cl->next;
		client_kill(d, cl); /* unsubscribes a follower */
		close(cl->w.fd);
		pw_linebuf_free(&cl->in);
		if (cl->filter) {
			pw_flowfilter_free(cl->filter);
			free(cl->filter);
		}
		free(cl->out);
		free(cl);
		d->nclients--;
	}
	if (trim_due) {
		malloc_trim(0);
		trim_due = false;
	}
}
