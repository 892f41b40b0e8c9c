// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* rtnetlink link watcher: RTMGRP_LINK notifications reduced to (name, ifindex) changes. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/socket.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <libmnl/libmnl.h>

#include "linkwatch.h"

/* libmnl 1.0.4 predates it; the kernel's dump messages fit 32 KiB */
#ifndef MNL_SOCKET_DUMP_SIZE
#define MNL_SOCKET_DUMP_SIZE 32768
#endif
#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif

struct link {
	uint32_t ifindex;
	bool seen; /* during a resync dump */
	char name[IF_NAMESIZE];
};

struct pw_linkwatch {
	struct mnl_socket *mon;	 /* subscribed to RTMGRP_LINK, non-blocking */
	struct mnl_socket *dump; /* request/response, blocking */
	uint32_t dump_portid;
	uint32_t seq;
	pw_link_fn cb;
	void *ctx;
	bool report; /* false while filling the table on open */
	struct link *v;
	unsigned int n, cap;
};

static struct link *find_index(struct pw_linkwatch *lw, uint32_t ifindex)
{
	for (unsigned int i = 0; i < lw->n; i++) {
		if (lw->v[i].ifindex == ifindex)
			return &lw->v[i];
	}
	return NULL;
}

static void drop_at(struct pw_linkwatch *lw, struct link *l)
{
	*l = lw->v[--lw->n];
}

static void report(struct pw_linkwatch *lw, const char *name, uint32_t ifindex)
{
	if (lw->report && lw->cb)
		lw->cb(lw->ctx, name, ifindex);
}

static int link_new(struct pw_linkwatch *lw, uint32_t ifindex, const char *name)
{
	struct link *l = find_index(lw, ifindex);

	if (l) {
		l->seen = true;
		if (!strcmp(l->name, name))
			return 0;
		/* renamed: the old name is gone for whoever used it */
		report(lw, l->name, 0);
		strncpy(l->name, name, sizeof(l->name) - 1);
		report(lw, l->name, ifindex);
		return 0;
	}
	/* a name still held by a stale ifindex means we missed its deletion */
	for (unsigned int i = 0; i < lw->n; i++) {
		if (!strcmp(lw->v[i].name, name)) {
			drop_at(lw, &lw->v[i]);
			break;
		}
	}
	if (lw->n == lw->cap) {
		unsigned int cap = lw->cap ? lw->cap * 2 : 64;
		struct link *v = realloc(lw->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		lw->v = v;
		lw->cap = cap;
	}
	l = &lw->v[lw->n++];
	memset(l, 0, sizeof(*l));
	l->ifindex = ifindex;
	l->seen = true;
	strncpy(l->name, name, sizeof(l->name) - 1);
	report(lw, l->name, ifindex);
	return 0;
}

static void link_del(struct pw_linkwatch *lw, uint32_t ifindex)
{
	struct link *l = find_index(lw, ifindex);
	char name[IF_NAMESIZE];

	if (!l)
		return;
	memcpy(name, l->name, sizeof(name));
	drop_at(lw, l);
	report(lw, name, 0);
}

static int attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(attr);

	if (type == IFLA_IFNAME && mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0)
		tb[IFLA_IFNAME] = attr;
	return MNL_CB_OK;
}

struct msg_ctx {
	struct pw_linkwatch *lw;
	int err;
};

static int msg_cb(const struct nlmsghdr *nlh, void *data)
{
	struct msg_ctx *mc = data;
	const struct nlattr *tb[IFLA_MAX + 1] = {0};
	const struct ifinfomsg *ifm;
	const char *name;
	int err;

	if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
		return MNL_CB_OK;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifm))
		return MNL_CB_OK;
	ifm = mnl_nlmsg_get_payload(nlh);
	if (ifm->ifi_index <= 0)
		return MNL_CB_OK;
	if (nlh->nlmsg_type == RTM_DELLINK) {
		link_del(mc->lw, (uint32_t)ifm->ifi_index);
		return MNL_CB_OK;
	}
	if (mnl_attr_parse(nlh, sizeof(*ifm), attr_cb, tb) < 0 || !tb[IFLA_IFNAME])
		return MNL_CB_OK;
	name = mnl_attr_get_str(tb[IFLA_IFNAME]);
	err = link_new(mc->lw, (uint32_t)ifm->ifi_index, name);
	if (err) {
		mc->err = err;
		return MNL_CB_ERROR;
	}
	return MNL_CB_OK;
}

/* Dump every link; with the seen marks, links absent from the dump are reported gone. */
static int resync(struct pw_linkwatch *lw)
{
	char buf[MNL_SOCKET_DUMP_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifm;
	struct msg_ctx mc = {.lw = lw};
	uint32_t seq = ++lw->seq;
	int ret;

	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = seq;
	ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;

	for (unsigned int i = 0; i < lw->n; i++)
		lw->v[i].seen = false;
	if (mnl_socket_sendto(lw->dump, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(lw->dump, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		ret = mnl_cb_run(buf, (size_t)n, seq, lw->dump_portid, msg_cb, &mc);
		if (ret < 0)
			return mc.err ? mc.err : -errno;
		if (ret == MNL_CB_STOP)
			break;
	}
	for (unsigned int i = 0; i < lw->n;) {
		if (lw->v[i].seen) {
			i++;
			continue;
		}
		link_del(lw, lw->v[i].ifindex); /* moves the last entry into slot i */
	}
	return 0;
}

int pw_linkwatch_open(pw_link_fn cb, void *ctx, struct pw_linkwatch **out)
{
	struct pw_linkwatch *lw = calloc(1, sizeof(*lw));
	int one = 1, rcvbuf = 1 << 20, err;

	*out = NULL;
	if (!lw)
		return -ENOMEM;
	lw->cb = cb;
	lw->ctx = ctx;
	lw->seq = (uint32_t)time(NULL);
	/* subscribe before the dump, so nothing between the two is missed */
	lw->mon = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!lw->mon) {
		err = -errno;
		goto out;
	}
	/* a burst of pods (hundreds of veths) must not overrun us; ENOBUFS is handled anyway */
	setsockopt(mnl_socket_get_fd(lw->mon), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (mnl_socket_bind(lw->mon, RTMGRP_LINK, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		goto out;
	}
	lw->dump = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!lw->dump) {
		err = -errno;
		goto out;
	}
	mnl_socket_setsockopt(lw->dump, NETLINK_EXT_ACK, &one, sizeof(one));
	if (mnl_socket_bind(lw->dump, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		goto out;
	}
	lw->dump_portid = mnl_socket_get_portid(lw->dump);
	err = resync(lw);
	if (err)
		goto out;
	lw->report = true;
	*out = lw;
	lw = NULL;
out:
	pw_linkwatch_close(lw);
	return err;
}

void pw_linkwatch_close(struct pw_linkwatch *lw)
{
	if (!lw)
		return;
	if (lw->mon)
		mnl_socket_close(lw->mon);
	if (lw->dump)
		mnl_socket_close(lw->dump);
	free(lw->v);
	free(lw);
}

int pw_linkwatch_fd(const struct pw_linkwatch *lw)
{
	return mnl_socket_get_fd(lw->mon);
}

int pw_linkwatch_process(struct pw_linkwatch *lw)
{
	char buf[MNL_SOCKET_DUMP_SIZE];
	struct msg_ctx mc = {.lw = lw};

	for (;;) {
		ssize_t n = mnl_socket_recvfrom(lw->mon, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == ENOBUFS)
				return resync(lw);
			return -errno;
		}
		/* notifications carry seq 0 and the kernel's port id: skip those checks */
		if (mnl_cb_run(buf, (size_t)n, 0, 0, msg_cb, &mc) < 0 && mc.err)
			return mc.err;
	}
}

void pw_linkwatch_replay(struct pw_linkwatch *lw)
{
	for (unsigned int i = 0; i < lw->n; i++)
		report(lw, lw->v[i].name, lw->v[i].ifindex);
}

unsigned int pw_linkwatch_count(const struct pw_linkwatch *lw)
{
	return lw->n;
}
