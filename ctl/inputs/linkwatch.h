/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Link notifications (rtnetlink RTMGRP_LINK, libmnl) for the daemon's network namespace: a
 * pod's host-side interface appearing, being renamed or going away. The kernel sends
 * RTM_NEWLINK for every state change too (up, down, carrier, MTU); the watcher keeps a table
 * of the links it knows and reports only a change of (name, ifindex), so the control plane
 * is not asked to re-attach on every carrier flap.
 */
#ifndef PW_CTL_LINKWATCH_H
#define PW_CTL_LINKWATCH_H

#include <stdint.h>

struct pw_linkwatch;

/*
 * ifindex > 0: `ifname` now has this ifindex (new link, or renamed to ifname).
 * ifindex == 0: `ifname` is gone (deleted, or renamed away).
 */
typedef void (*pw_link_fn)(void *ctx, const char *ifname, uint32_t ifindex);

/* Subscribe and dump the current links into the table (reported by pw_linkwatch_replay). */
int pw_linkwatch_open(pw_link_fn cb, void *ctx, struct pw_linkwatch **out);
void pw_linkwatch_close(struct pw_linkwatch *lw);
/* Non-blocking fd to poll for input. */
int pw_linkwatch_fd(const struct pw_linkwatch *lw);
/*
 * Read every pending notification and report changes. -ENOBUFS (the socket overran and
 * notifications were lost) is handled by dumping again and reporting the differences; the
 * return value is then still 0. Other errors are -errno.
 */
int pw_linkwatch_process(struct pw_linkwatch *lw);
/* Report every known link once (ifindex > 0), e.g. after the control plane was rebuilt. */
void pw_linkwatch_replay(struct pw_linkwatch *lw);
/* Number of links currently known. */
unsigned int pw_linkwatch_count(const struct pw_linkwatch *lw);

#endif /* PW_CTL_LINKWATCH_H */
