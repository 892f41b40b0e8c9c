/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Shared by the live test programs: cmocka includes, event matchers, address checks. */
#ifndef PW_NT_CHECKS_H
#define PW_NT_CHECKS_H

#include "harness.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <cmocka.h>
#include <podwall/datapath.h>

/* Probe timeout for outcomes that must arrive (and for "expect dropped" waits). */
#define NT_TMO_MS 1000
/* A socket-layer refusal must come "immediately": far below NT_TMO_MS. */
#define NT_FAST_US 100000

static const int nt_fams[] = {AF_INET, AF_INET6};

static inline uint8_t nt_pw_family(int family)
{
	return family == AF_INET ? PW_FAMILY_V4 : PW_FAMILY_V6;
}

/* A pod's address in the event/conntrack layout (network order, IPv4 in [0]). */
static inline void nt_pod_addr(const struct nt_env *env, int pod, int family, uint32_t a[4])
{
	memset(a, 0, 4 * sizeof(uint32_t));
	if (family == AF_INET)
		a[0] = env->pods[pod].v4.s_addr;
	else
		memcpy(a, &env->pods[pod].v6, 16);
}

struct nt_ev_want {
	uint8_t type;
	uint32_t pid;	/* 0: any */
	uint16_t sport; /* host order; 0: any */
	uint16_t dport; /* host order; 0: any */
	uint32_t ep_id; /* 0: any */
	int direction;	/* -1: any */
	bool either;	/* ports may also be swapped (a packet of the reply direction) */
};

static inline bool nt_ev_match(const struct pw_event *ev, const void *arg)
{
	const struct nt_ev_want *w = arg;

	uint16_t sp = ntohs(ev->sport), dp = ntohs(ev->dport);
	bool fwd = (!w->sport || sp == w->sport) && (!w->dport || dp == w->dport);
	bool rev = w->either && (!w->sport || dp == w->sport) && (!w->dport || sp == w->dport);

	return ev->type == w->type && (!w->pid || ev->pid == w->pid) && (fwd || rev) &&
	       (!w->ep_id || ev->ep_id == w->ep_id) &&
	       (w->direction < 0 || ev->direction == w->direction);
}

#define nt_assert_ok(res)                                  \
	do {                                               \
		assert_int_equal((res).err, 0);            \
		assert_int_equal((res).stage, NT_ST_DONE); \
	} while (0)

#endif /* PW_NT_CHECKS_H */
