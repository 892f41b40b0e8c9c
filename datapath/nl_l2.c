// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What the link layer checks need to know about a pod's host-side veth, read from the kernel
 * and never from packets: the MAC of its peer (the pod's own eth0, in the pod's netns) and
 * its bridge, if it is enslaved to one.
 *
 * The peer lives in another netns. The host-side link's RTM_GETLINK reply names it by index
 * (IFLA_LINK) relative to a netns id (IFLA_LINK_NETNSID, absent when the peer is in the
 * same netns); a second RTM_GETLINK with IFLA_TARGET_NETNSID reads it there, without
 * entering that netns (which a daemon thread cannot do safely).
 */
#include <errno.h>
#include <string.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include <libmnl/libmnl.h>

#include "internal.h"

struct l2_reply {
	uint32_t ifindex;
	uint32_t master;
	uint32_t link;
	int32_t link_nsid;
	bool has_nsid;
	bool is_veth;
	bool has_addr;
	uint8_t addr[ETH_ALEN];
};

static int info_cb(const struct nlattr *attr, void *data)
{
	struct l2_reply *r = data;

	if (mnl_attr_get_type(attr) == IFLA_INFO_KIND &&
	    mnl_attr_validate(attr, MNL_TYPE_STRING) >= 0)
		r->is_veth =
			!strncmp(mnl_attr_get_str(attr), "veth", mnl_attr_get_payload_len(attr));
	return MNL_CB_OK;
}

static int attr_cb(const struct nlattr *attr, void *data)
{
	struct l2_reply *r = data;

	switch (mnl_attr_get_type(attr)) {
	case IFLA_MASTER:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) >= 0)
			r->master = mnl_attr_get_u32(attr);
		break;
	case IFLA_LINK:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) >= 0)
			r->link = mnl_attr_get_u32(attr);
		break;
	case IFLA_LINK_NETNSID:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) >= 0) {
			r->link_nsid = (int32_t)mnl_attr_get_u32(attr);
			r->has_nsid = true;
		}
		break;
	case IFLA_ADDRESS:
		if (mnl_attr_get_payload_len(attr) == ETH_ALEN) {
			memcpy(r->addr, mnl_attr_get_payload(attr), ETH_ALEN);
			r->has_addr = true;
		}
		break;
	case IFLA_LINKINFO:
		mnl_attr_parse_nested(attr, info_cb, r);
		break;
	default:
		break;
	}
	return MNL_CB_OK;
}

static int link_cb(const struct nlmsghdr *nlh, void *data)
{
	struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	struct l2_reply *r = data;

	r->ifindex = ifi->ifi_index;
	mnl_attr_parse(nlh, sizeof(*ifi), attr_cb, r);
	return MNL_CB_OK;
}

static int get_link_l2(uint32_t ifindex, int32_t nsid, struct l2_reply *r)
{
	int err = pw_nl_getlink(ifindex, NULL, nsid, link_cb, r);

	return !err && !r->ifindex ? -ENODEV : err;
}

int pw_nl_link_l2(uint32_t ifindex, uint8_t mac[ETH_ALEN], uint32_t *master)
{
	struct l2_reply host = {}, peer = {};
	int err;

	if (!ifindex)
		return -ENODEV;
	err = get_link_l2(ifindex, -1, &host);
	if (err)
		return err;
	/* IFLA_LINK of a vlan or macvlan names its lower device, not a peer */
	if (!host.is_veth || !host.link)
		return -EMEDIUMTYPE;
	err = get_link_l2(host.link, host.has_nsid ? host.link_nsid : -1, &peer);
	if (err)
		return err;
	if (!peer.has_addr)
		return -EADDRNOTAVAIL;
	memcpy(mac, peer.addr, ETH_ALEN);
	*master = host.master;
	return 0;
}
