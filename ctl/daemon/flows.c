// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwalld: flow records to the CLI's followers, and the event ring's epoll handler.
 */
#define _GNU_SOURCE
#include "daemon.h"

/* --- flow records -------------------------------------------------------------------------- */

/* A follower gets {"flow":RECORD} lines; a slow one loses records (counted), not our memory. */
void follower_cb(void *ctx, const char *line, size_t len)
{
	static const char head[] = "{\"flow\":";
	struct client *cl = ctx;
	struct daemon *d = cl->d;
	char *buf;

	/* an empty filter does not parse the line back */
	if (cl->dead || !pw_flowfilter_match_line(cl->filter, line, len))
		return;
	if (cl->out_len - cl->out_off > FOLLOW_BACKLOG_MAX) {
		cl->dropped++;
		return;
	}
	buf = malloc(sizeof(head) + len + 2);
	if (!buf) {
		cl->dropped++;
		return;
	}
	memcpy(buf, head, sizeof(head) - 1);
	memcpy(buf + sizeof(head) - 1, line, len);
	memcpy(buf + sizeof(head) - 1 + len, "}\n", 2);
	client_send_raw(d, cl, buf, sizeof(head) - 1 + len + 2);
	free(buf);
}

void events_ready(struct daemon *d, struct watch *w, uint32_t events)
{
	int n = pw_dp_events_consume(d->dp);

	if (n < 0 && n != -EINTR)
		dlog(PW_LOG_ERROR, "reading datapath events: %s", strerror(-n));
	/* a drain is a batch: its records go to the file in one write */
	pw_flowlog_flush_writes(d->fl);
}
