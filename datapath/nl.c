// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * rtnetlink through libmnl: interface lookups in the caller's network namespace (the node
 * netns the daemon runs in). One request per call; the socket lives only for the call.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>

#include <libmnl/libmnl.h>

#include "internal.h"

struct link_reply {
	uint32_t ifindex;
	char name[IF_NAMESIZE];
};

static int attr_cb(const struct nlattr *attr, void *data)
{
	struct link_reply *r = data;

	if (mnl_attr_get_type(attr) == IFLA_IFNAME &&
	    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0)
		snprintf(r->name, sizeof(r->name), "%s", mnl_attr_get_str(attr));
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	struct link_reply *r = data;

	r->ifindex = ifi->ifi_index;
	mnl_attr_parse(nlh, sizeof(*ifi), attr_cb, r);
	return MNL_CB_OK;
}

/*
 * One RTM_GETLINK by index (ifindex != 0) or by name, in this netns (nsid < 0) or in the
 * netns with that id as seen from here (IFLA_TARGET_NETNSID); cb parses the reply.
 */
int pw_nl_getlink(uint32_t ifindex, const char *name, int32_t nsid,
		  int (*cb)(const struct nlmsghdr *nlh, void *data), void *data)
{
	/* a link message with IFLA_EXT_MASK 0 is small; stay clear of MSG_TRUNC anyway */
	char buf[32768];
	struct mnl_socket *nl;
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	unsigned int seq, portid;
	int one = 1, ret, err = 0;

	nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl)
		return -errno;
	mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one));
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		err = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	seq = (unsigned int)time(NULL);

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = (int)ifindex;
	if (!ifindex)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	if (nsid >= 0)
		mnl_attr_put_u32(nlh, IFLA_TARGET_NETNSID, (uint32_t)nsid);
	/* skip the statistics: only names, addresses and links are wanted */
	mnl_attr_put_u32(nlh, IFLA_EXT_MASK, 0);

	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
		err = -errno;
		goto out;
	}
	ret = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	while (ret > 0) {
		ret = mnl_cb_run(buf, ret, seq, portid, cb, data);
		if (ret <= MNL_CB_STOP)
			break;
		ret = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	}
	if (ret < 0)
		err = -errno;
out:
	mnl_socket_close(nl);
	return err;
}

static int get_link(uint32_t ifindex, const char *name, struct link_reply *r)
{
	int err = pw_nl_getlink(ifindex, name, -1, link_cb, r);

	return !err && !r->ifindex ? -ENODEV : err;
}

int pw_nl_link_name(uint32_t ifindex, char *name, size_t len)
{
	struct link_reply r = {};
	int err;

	if (!ifindex)
		return -ENODEV;
	err = get_link(ifindex, NULL, &r);
	if (err)
		return err;
	if (name && len)
		snprintf(name, len, "%s", r.name);
	return 0;
}

int pw_nl_link_index(const char *name, uint32_t *ifindex)
{
	struct link_reply r = {};
	int err;

	if (!name || !*name || strlen(name) >= IF_NAMESIZE || !ifindex)
		return -EINVAL;
	err = get_link(0, name, &r);
	if (err)
		return err;
	*ifindex = r.ifindex;
	return 0;
}

int pw_dp_ifindex(const char *name, uint32_t *ifindex)
{
	return pw_nl_link_index(name, ifindex);
}
