// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Socket-layer egress enforcement, live: a denied connect() or unconnected sendto() fails at
 * once with EPERM from the caller's own cgroup (two levels below --cgroup-root, so the
 * endpoint is found by walking ancestors), and the deny record names the process.
 */
#include "nt_checks.h"

#include <unistd.h>
#include <netinet/in.h>

#define COOKIE_TCP 0x5001
#define COOKIE_UDP 0x5002

/* Pod 1 is isolated for egress and may reach pod 2 on NT_PORT_A only, TCP and UDP. */
static void isolate_pod1(struct nt_env *env)
{
	assert_int_equal(
		nt_policy(env, true, 1, PW_DIR_EGRESS, 2, IPPROTO_TCP, NT_PORT_A, COOKIE_TCP), 0);
	assert_int_equal(
		nt_policy(env, true, 1, PW_DIR_EGRESS, 2, IPPROTO_UDP, NT_PORT_A, COOKIE_UDP), 0);
	assert_int_equal(nt_ep_write(env, 1, PW_EP_F_ISOLATE_EGRESS), 0);
}

static void check_deny_event(struct nt_env *env, const struct nt_result *r, int family,
			     uint8_t proto, uint16_t dport)
{
	struct nt_ev_want w = {.type = PW_EV_SOCK_DENY, .pid = (uint32_t)r->pid, .direction = -1};
	uint32_t daddr[4];
	struct pw_event ev;
	char comm[sizeof(ev.comm) + 1] = {0};

	assert_int_equal(nt_event_wait(env, nt_ev_match, &w, NT_TMO_MS, &ev), 0);
	memcpy(comm, ev.comm, sizeof(ev.comm));
	assert_true(ev.flags & PW_EV_F_SOCK);
	assert_int_equal(ev.pid, r->pid);
	assert_string_equal(comm, "ntprobe");
	/* the caller's own cgroup: the container, one below the pod's endpoint cgroup */
	assert_int_equal(ev.cgroup_id, env->pods[1].cg_c0_id);
	assert_int_equal(ev.reason, PW_DROP_POLICY);
	assert_int_equal(ev.direction, PW_DIR_EGRESS);
	assert_int_equal(ev.ep_id, 1);
	assert_int_equal(ev.src_identity, nt_identity(1));
	assert_int_equal(ev.family, nt_pw_family(family));
	assert_int_equal(ev.proto, proto);
	assert_int_equal(ntohs(ev.dport), dport);
	nt_pod_addr(env, 2, family, daddr);
	assert_memory_equal(ev.daddr, daddr, sizeof(daddr));
}

/* Case 1: a denied connect() fails with EPERM immediately; the event names pid/comm/cgroup. */
static void test_connect_denied_eperm(void **state)
{
	struct nt_env *env = *state;
	uint64_t before, after;
	struct nt_result r;
	size_t f;

	isolate_pod1(env);
	assert_int_equal(nt_metric(env, PW_DROP_POLICY, PW_DIR_EGRESS, &before), 0);
	for (f = 0; f < 2; f++) {
		assert_int_equal(nt_tcp_echo(env, 1, 2, nt_fams[f], NT_PORT_B, NT_TMO_MS, &r), 0);
		assert_int_equal(r.err, -EPERM);
		assert_int_equal(r.stage, NT_ST_CONNECT);
		assert_true(r.elapsed_us < NT_FAST_US);
		check_deny_event(env, &r, nt_fams[f], IPPROTO_TCP, NT_PORT_B);

		/* the allowed port still connects: the deny is the policy's, not a blanket one */
		assert_int_equal(nt_tcp_echo(env, 1, 2, nt_fams[f], NT_PORT_A, NT_TMO_MS, &r), 0);
		nt_assert_ok(r);
		/* a pod nobody allowed: denied whatever the port */
		assert_int_equal(nt_tcp_echo(env, 1, 3, nt_fams[f], NT_PORT_A, NT_TMO_MS, &r), 0);
		assert_int_equal(r.err, -EPERM);
		assert_true(r.elapsed_us < NT_FAST_US);
	}
	assert_int_equal(nt_metric(env, PW_DROP_POLICY, PW_DIR_EGRESS, &after), 0);
	assert_true(after >= before + 4);
	/* pods that are not isolated are untouched */
	assert_int_equal(nt_tcp_echo(env, 2, 3, AF_INET, NT_PORT_B, NT_TMO_MS, &r), 0);
	nt_assert_ok(r);
}

/* Case 6: an unconnected UDP sendto() to a denied destination fails with EPERM. */
static void test_udp_sendto_denied_eperm(void **state)
{
	struct nt_env *env = *state;
	struct nt_result r;
	size_t f;

	isolate_pod1(env);
	for (f = 0; f < 2; f++) {
		assert_int_equal(
			nt_udp_echo(env, 1, 2, nt_fams[f], NT_PORT_B, false, NT_TMO_MS, &r), 0);
		assert_int_equal(r.err, -EPERM);
		assert_int_equal(r.stage, NT_ST_SEND);
		assert_true(r.elapsed_us < NT_FAST_US);
		check_deny_event(env, &r, nt_fams[f], IPPROTO_UDP, NT_PORT_B);

		/* connect() on a UDP socket is judged the same way */
		assert_int_equal(nt_udp_echo(env, 1, 2, nt_fams[f], NT_PORT_B, true, NT_TMO_MS, &r),
				 0);
		assert_int_equal(r.err, -EPERM);
		assert_int_equal(r.stage, NT_ST_CONNECT);

		/* the allowed port gets its reply, both ways of sending */
		assert_int_equal(
			nt_udp_echo(env, 1, 2, nt_fams[f], NT_PORT_A, false, NT_TMO_MS, &r), 0);
		nt_assert_ok(r);
		assert_int_equal(nt_udp_echo(env, 1, 2, nt_fams[f], NT_PORT_A, true, NT_TMO_MS, &r),
				 0);
		nt_assert_ok(r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_connect_denied_eperm, nt_dp_setup,
						nt_dp_teardown),
		cmocka_unit_test_setup_teardown(test_udp_sendto_denied_eperm, nt_dp_setup,
						nt_dp_teardown),
	};

	return cmocka_run_group_tests_name("socket layer", tests, nt_group_setup,
					   nt_group_teardown);
}
