// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Enforcement outlives the process that loaded it: a child opens the datapath, writes state,
 * attaches and exits without destroying anything. The pins must keep both layers enforcing;
 * a later open adopts them without flushing; destroy finally removes it all.
 */
#include "nt_checks.h"

#include <stdlib.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/wait.h>

/*
 * Pod 1: egress-isolated, may reach pod 2 on NT_PORT_A.
 * Pod 3: ingress-isolated, admits pod 2 on NT_PORT_A.
 */
#define N_POLICY_KEYS 2

static int write_state(struct nt_env *env)
{
	int err;

	if ((err = nt_policy(env, true, 1, PW_DIR_EGRESS, 2, IPPROTO_TCP, NT_PORT_A, 71)) ||
	    (err = nt_policy(env, true, 3, PW_DIR_INGRESS, 2, IPPROTO_TCP, NT_PORT_A, 72)) ||
	    (err = nt_ep_write(env, 1, PW_EP_F_ISOLATE_EGRESS)) || (err = nt_ep_write(env, 2, 0)) ||
	    (err = nt_ep_write(env, 3, PW_EP_F_ISOLATE_INGRESS)))
		return err;
	return 0;
}

static uint32_t ep_flags(int pod)
{
	return pod == 1 ? PW_EP_F_ISOLATE_EGRESS : pod == 3 ? PW_EP_F_ISOLATE_INGRESS : 0;
}

/* Both layers enforce: socket deny, TC ingress deny, and the allowed paths work. */
static void check_enforced(struct nt_env *env)
{
	struct nt_result r;

	assert_int_equal(nt_tcp_echo(env, 1, 2, AF_INET, NT_PORT_B, NT_TMO_MS, &r), 0);
	assert_int_equal(r.err, -EPERM);
	assert_true(r.elapsed_us < NT_FAST_US);
	assert_int_equal(nt_tcp_echo(env, 1, 2, AF_INET6, NT_PORT_A, NT_TMO_MS, &r), 0);
	nt_assert_ok(r);
	assert_int_equal(nt_tcp_echo(env, 2, 3, AF_INET, NT_PORT_A, NT_TMO_MS, &r), 0);
	nt_assert_ok(r);
	assert_int_equal(nt_udp_echo(env, 2, 3, AF_INET, NT_PORT_A, false, 300, &r), 0);
	assert_int_equal(r.err, -ETIMEDOUT);
}

static void test_enforcement_outlives_loader(void **state)
{
	struct nt_env *env = *state;
	struct pw_map_usage usage;
	struct pw_ipcache_val val;
	struct pw_endpoint ep, want;
	struct pw_cidr c = {0};
	struct nt_result r;
	struct stat st;
	uint64_t ct;
	pid_t pid;
	int status, i;

	assert_null(env->dp);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* the "daemon": open, write, attach, and exit without close or destroy */
		int err = nt_dp_open(env, NT_DP_ATTACH);

		if (!err)
			err = write_state(env);
		_exit(err ? 1 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(stat(env->bpffs, &st), 0);

	/* nobody holds the datapath now: only the pins keep it */
	check_enforced(env);

	/* a new process adopts it: same state, nothing flushed, still enforcing */
	assert_int_equal(nt_dp_open(env, 0), 0);
	assert_true(pw_dp_adopted(env->dp));
	for (i = 1; i <= env->npods; i++) {
		nt_ep_fill(env, i, ep_flags(i), &want);
		assert_int_equal(pw_dp_endpoint_lookup_ifindex(env->dp, want.ifindex, &ep), 0);
		assert_int_equal(ep.ep_id, want.ep_id);
		assert_int_equal(ep.identity, want.identity);
		assert_int_equal(ep.flags, want.flags);
		assert_int_equal(ep.cgroup_id, want.cgroup_id);
		assert_int_equal(ep.v4[0], want.v4[0]);
		c.family = PW_FAMILY_V6;
		c.prefixlen = 128;
		memcpy(c.addr, &env->pods[i].v6, 16);
		assert_int_equal(pw_dp_ipcache_get(env->dp, &c, &val), 0);
		assert_int_equal(val.identity, nt_identity(i));
	}
	assert_int_equal(pw_dp_map_usage(env->dp, PW_DPMAP_POLICY, &usage), 0);
	assert_int_equal(usage.entries, N_POLICY_KEYS);
	assert_int_equal(pw_dp_ct_count(env->dp, &ct), 0);
	assert_true(ct >= 1); /* the allowed connections made above */
	check_enforced(env);

	/* destroy ends it: pins gone, nothing enforced any more */
	assert_int_equal(nt_dp_destroy(env), 0);
	assert_int_not_equal(stat(env->bpffs, &st), 0);
	assert_int_equal(nt_tcp_echo(env, 1, 2, AF_INET, NT_PORT_B, NT_TMO_MS, &r), 0);
	nt_assert_ok(r);
	assert_int_equal(nt_udp_echo(env, 2, 3, AF_INET, NT_PORT_A, false, NT_TMO_MS, &r), 0);
	nt_assert_ok(r);
}

/* On failure the child's pins may be all that is left: adopt them to destroy them properly. */
static int persist_teardown(void **state)
{
	struct nt_env *env = *state;
	struct stat st;

	nt_kids_kill(env);
	if (!env->dp && !stat(env->bpffs, &st) && nt_dp_open(env, 0))
		return -1;
	return nt_dp_destroy(env) ? -1 : 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_enforcement_outlives_loader, persist_teardown),
	};

	return cmocka_run_group_tests_name("persistence", tests, nt_group_setup, nt_group_teardown);
}
