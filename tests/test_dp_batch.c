// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Batched map writes (datapath/batch.c) against per-key writes: the same calls leave the same
 * maps, a delete that meets absent keys mid-batch resumes after them and counts only what was
 * there, and a failure names the entry it happened at; generation bumps read in batches and
 * by an endpoint's keys. Needs root (BPF).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <bpf/bpf.h>

#include <podwall/datapath.h>

#define N_POL 6000 /* with their ranges, several 8192-key chunks */
#define N_IPC 20000

static char logbuf[4096];

static void test_log(void *ctx, enum pw_log_level level, const char *msg)
{
	snprintf(logbuf, sizeof(logbuf), "%s", msg);
}

static struct pw_dp *open_dp(uint32_t ipc_max, uint32_t pol_max)
{
	struct pw_dp_opts o = {.sz = sizeof(o),
			       .log = test_log,
			       .log_level = PW_LOG_WARN,
			       .ipcache_max = ipc_max,
			       .policy_max = pol_max,
			       .ep_max = 16,
			       .ct_max = 1024};
	struct pw_dp *dp = NULL;

	assert_int_equal(pw_dp_open(&o, &dp), 0);
	return dp;
}

static size_t map_count(struct pw_dp *dp, enum pw_dp_map m, size_t key_size)
{
	char k[64], next[64];
	int fd = pw_dp_map_fd(dp, m);
	size_t n = 0;

	assert_true(key_size <= sizeof(k));
	if (bpf_map_get_next_key(fd, NULL, next))
		return 0;
	do {
		memcpy(k, next, key_size);
		n++;
	} while (!bpf_map_get_next_key(fd, k, next));
	return n;
}

/* entry i: one port in two of three, a range (several trie keys) in the third */
static void pol_entry(size_t i, struct pw_policy_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->subject = 1000 + (uint32_t)(i / 50);
	e->peer = 2000 + (uint32_t)(i % 50);
	e->direction = i & 1 ? PW_DIR_EGRESS : PW_DIR_INGRESS;
	e->proto = 6;
	e->port_lo = (uint16_t)(1000 + i % 7);
	e->port_hi = i % 3 ? e->port_lo : (uint16_t)(e->port_lo + 100);
	e->val.flags = PW_POL_F_ALLOW;
	e->val.cookie = (uint32_t)i;
}

static void ipc_entry(size_t i, struct pw_ipcache_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->cidr.family = PW_FAMILY_V4;
	e->cidr.prefixlen = 32;
	e->cidr.addr[0] = htonl(0xc6120000u + 1 + (uint32_t)i); /* 198.18.0.0/15 */
	e->val.identity = 300 + (uint32_t)(i % 100);
}

/* Write, check, delete with holes; returns the trie keys the updates wrote. */
static int pol_round(struct pw_dp *dp, struct pw_policy_entry *e)
{
	int written, deleted, holes = 0;
	size_t i;

	written = pw_dp_policy_update(dp, e, N_POL);
	assert_true(written > N_POL);
	assert_int_equal(map_count(dp, PW_DPMAP_POLICY, sizeof(struct pw_policy_key)),
			 (size_t)written);
	/* every 97th entry deleted first: the big delete meets absent keys mid-batch */
	for (i = 0; i < N_POL; i += 97) {
		int r = pw_dp_policy_delete(dp, &e[i], 1);

		assert_true(r > 0);
		holes += r;
	}
	deleted = pw_dp_policy_delete(dp, e, N_POL);
	assert_int_equal(deleted + holes, written);
	assert_int_equal(map_count(dp, PW_DPMAP_POLICY, sizeof(struct pw_policy_key)), 0);
	return written;
}

static void test_policy_batches(void **state)
{
	struct pw_policy_entry *e = calloc(N_POL, sizeof(*e));
	struct pw_dp *dp = open_dp(1024, 65536);
	int batched, single;
	size_t i;

	assert_non_null(e);
	for (i = 0; i < N_POL; i++)
		pol_entry(i, &e[i]);
	batched = pol_round(dp, e);
	pw_dp_set_write_batches(dp, false);
	single = pol_round(dp, e);
	assert_int_equal(batched, single);
	pw_dp_set_write_batches(dp, true);
	/* invalid entry in the middle: nothing past it, a message naming it */
	e[4000].port_lo = 9;
	e[4000].port_hi = 8;
	assert_int_equal(pw_dp_policy_update(dp, e, N_POL), -EINVAL);
	assert_non_null(strstr(logbuf, "invalid policy entry 4000"));
	pw_dp_close(dp);
	free(e);
}

static void test_ipcache_batches(void **state)
{
	struct pw_ipcache_entry *e = calloc(N_IPC, sizeof(*e));
	struct pw_cidr *c = calloc(N_IPC, sizeof(*c));
	struct pw_dp *dp = open_dp(N_IPC + 16, 1024);
	struct pw_ipcache_val v;
	int round;
	size_t i;

	assert_non_null(e);
	assert_non_null(c);
	for (i = 0; i < N_IPC; i++) {
		ipc_entry(i, &e[i]);
		c[i] = e[i].cidr;
	}
	for (round = 0; round < 2; round++) {
		pw_dp_set_write_batches(dp, round == 0);
		assert_int_equal(pw_dp_ipcache_update(dp, e, N_IPC), 0);
		assert_int_equal(map_count(dp, PW_DPMAP_IPCACHE, sizeof(struct pw_ipcache_key)),
				 N_IPC);
		assert_int_equal(pw_dp_ipcache_get(dp, &c[12345], &v), 0);
		assert_int_equal(v.identity, e[12345].val.identity);
		assert_int_equal(pw_dp_ipcache_delete(dp, &c[5000], 1), 0);
		assert_int_equal(pw_dp_ipcache_delete(dp, c, N_IPC), 0); /* absent keys are fine */
		assert_int_equal(map_count(dp, PW_DPMAP_IPCACHE, sizeof(struct pw_ipcache_key)),
				 0);
	}
	pw_dp_close(dp);

	/* full map: the entries before the failing one are in, the message names it */
	dp = open_dp(1000, 1024);
	assert_int_equal(pw_dp_ipcache_update(dp, e, N_IPC), -ENOSPC);
	assert_int_equal(map_count(dp, PW_DPMAP_IPCACHE, sizeof(struct pw_ipcache_key)), 1000);
	assert_non_null(strstr(logbuf, "198.18.3.233/32")); /* entry 1000: 198.18.0.0 + 1001 */
	assert_non_null(strstr(logbuf, "entry 1000 of 20000"));
	pw_dp_close(dp);
	free(e);
	free(c);
}

static uint32_t gen_of(struct pw_dp *dp, enum pw_dp_map m, uint64_t key)
{
	struct pw_endpoint v;

	assert_int_equal(bpf_map_lookup_elem(pw_dp_map_fd(dp, m), &key, &v), 0);
	return v.policy_gen;
}

/* Generation bumps: all endpoints (batched reads, or the walk), and one by its keys. */
static void test_bumps(void **state)
{
	struct pw_dp *dp = open_dp(1024, 1024);
	struct pw_endpoint ep[12];
	uint32_t ifx;
	int i, round;

	for (i = 0; i < 12; i++) {
		memset(&ep[i], 0, sizeof(ep[i]));
		ep[i].ep_id = 100 + i;
		ep[i].identity = 300;
		ep[i].ifindex = i % 3 ? 5000 + i : 0; /* some only in the cgroup map */
		ep[i].cgroup_id = 70000 + i;
		ep[i].policy_gen = 1;
		assert_int_equal(pw_dp_endpoint_upsert(dp, &ep[i]), 0);
	}
	for (round = 0; round < 2; round++) {
		pw_dp_set_write_batches(dp, round == 0);
		assert_int_equal(pw_dp_bump_generation(dp, 0), 0);
		for (i = 0; i < 12; i++) {
			assert_int_equal(gen_of(dp, PW_DPMAP_EP_CG, ep[i].cgroup_id), 2 + round);
			if (ep[i].ifindex)
				assert_int_equal(gen_of(dp, PW_DPMAP_EP_IF, ep[i].ifindex),
						 2 + round);
		}
	}
	/* one endpoint, by its keys: only it moves */
	assert_int_equal(pw_dp_bump_endpoint(dp, &ep[4]), 0);
	for (i = 0; i < 12; i++)
		assert_int_equal(gen_of(dp, PW_DPMAP_EP_CG, ep[i].cgroup_id), i == 4 ? 4 : 3);
	ifx = ep[4].ifindex;
	assert_int_equal(gen_of(dp, PW_DPMAP_EP_IF, ifx), 4);
	/* keys held by another endpoint are left alone */
	ep[4].ep_id = 999;
	assert_int_equal(pw_dp_bump_endpoint(dp, &ep[4]), 0);
	assert_int_equal(gen_of(dp, PW_DPMAP_EP_IF, ifx), 4);
	pw_dp_close(dp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bumps),
		cmocka_unit_test(test_policy_batches),
		cmocka_unit_test(test_ipcache_batches),
	};

	if (geteuid() != 0) {
		fprintf(stderr, "test_dp_batch needs root (BPF)\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
