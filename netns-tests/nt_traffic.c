// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Allowed traffic flows, live: TCP and UDP, IPv4 and IPv6, pod to pod across the node with
 * both ends isolated; replies pass for a server that may not send anything on its own.
 */
#include "nt_checks.h"

#include <unistd.h>
#include <netinet/in.h>

/* Case 2: pod 1 (egress-isolated) to pod 2 (ingress-isolated), allowed on NT_PORT_A. */
static void test_allowed_tcp_udp_v4_v6(void **state)
{
	struct nt_env *env = *state;
	struct nt_ev_want w = {.type = PW_EV_FLOW_NEW, .dport = NT_PORT_A, .direction = -1};
	uint64_t ok_before, ok_after;
	struct nt_result r;
	struct pw_event ev;
	size_t f;

	assert_int_equal(nt_policy(env, true, 1, PW_DIR_EGRESS, 2, IPPROTO_TCP, NT_PORT_A, 11), 0);
	assert_int_equal(nt_policy(env, true, 1, PW_DIR_EGRESS, 2, IPPROTO_UDP, NT_PORT_A, 12), 0);
	assert_int_equal(nt_policy(env, true, 2, PW_DIR_INGRESS, 1, IPPROTO_TCP, NT_PORT_A, 21), 0);
	assert_int_equal(nt_policy(env, true, 2, PW_DIR_INGRESS, 1, IPPROTO_UDP, NT_PORT_A, 22), 0);
	assert_int_equal(nt_ep_write(env, 1, PW_EP_F_ISOLATE_EGRESS), 0);
	assert_int_equal(nt_ep_write(env, 2, PW_EP_F_ISOLATE_INGRESS), 0);
	assert_int_equal(nt_metric(env, PW_OK_POLICY, PW_DIR_INGRESS, &ok_before), 0);

	for (f = 0; f < 2; f++) {
		int fam = nt_fams[f];

		assert_int_equal(nt_tcp_echo(env, 1, 2, fam, NT_PORT_A, NT_TMO_MS, &r), 0);
		nt_assert_ok(r);
		assert_int_equal(nt_udp_echo(env, 1, 2, fam, NT_PORT_A, false, NT_TMO_MS, &r), 0);
		nt_assert_ok(r);
		assert_int_equal(nt_udp_echo(env, 1, 2, fam, NT_PORT_A, true, NT_TMO_MS, &r), 0);
		nt_assert_ok(r);
	}
	/* the ingress side admitted the flows by policy, and said so once per flow */
	assert_int_equal(nt_metric(env, PW_OK_POLICY, PW_DIR_INGRESS, &ok_after), 0);
	assert_true(ok_after >= ok_before + 6);
	w.ep_id = 2;
	w.direction = PW_DIR_INGRESS;
	assert_int_equal(nt_event_wait(env, nt_ev_match, &w, NT_TMO_MS, &ev), 0);
	assert_int_equal(ev.cookie, ev.proto == IPPROTO_TCP ? 21 : 22);
	assert_int_equal(ev.src_identity, nt_identity(1));
	assert_int_equal(ev.dst_identity, nt_identity(2));

	/* controls: the other port is denied at pod 1's socket layer ... */
	assert_int_equal(nt_tcp_echo(env, 1, 2, AF_INET6, NT_PORT_B, NT_TMO_MS, &r), 0);
	assert_int_equal(r.err, -EPERM);
	/* ... and pod 3, not allowed into pod 2, is dropped on pod 2's ingress */
	assert_int_equal(nt_udp_echo(env, 3, 2, AF_INET, NT_PORT_A, false, 300, &r), 0);
	assert_int_equal(r.err, -ETIMEDOUT);
	assert_int_equal(r.stage, NT_ST_RECV);
}

/*
 * Case 5: pod 3 is isolated both ways with no egress at all; pod 1 may reach it. Its replies,
 * TCP and UDP (sent with an unconnected sendto(), through the socket hook), still pass.
 */
static void test_replies_pass(void **state)
{
	struct nt_env *env = *state;
	struct nt_result r;
	size_t f;

	assert_int_equal(nt_policy(env, true, 3, PW_DIR_INGRESS, 1, IPPROTO_TCP, NT_PORT_A, 31), 0);
	assert_int_equal(nt_policy(env, true, 3, PW_DIR_INGRESS, 1, IPPROTO_UDP, NT_PORT_A, 32), 0);
	assert_int_equal(nt_ep_write(env, 3, PW_EP_F_ISOLATE_INGRESS | PW_EP_F_ISOLATE_EGRESS), 0);

	for (f = 0; f < 2; f++) {
		int fam = nt_fams[f];

		assert_int_equal(nt_tcp_echo(env, 1, 3, fam, NT_PORT_A, NT_TMO_MS, &r), 0);
		nt_assert_ok(r);
		assert_int_equal(nt_udp_echo(env, 1, 3, fam, NT_PORT_A, false, NT_TMO_MS, &r), 0);
		nt_assert_ok(r);
		assert_int_equal(nt_udp_echo(env, 1, 3, fam, NT_PORT_A, true, NT_TMO_MS, &r), 0);
		nt_assert_ok(r);

		/* controls: pod 3 starting anything itself is refused */
		assert_int_equal(nt_tcp_echo(env, 3, 1, fam, NT_PORT_A, NT_TMO_MS, &r), 0);
		assert_int_equal(r.err, -EPERM);
		assert_int_equal(nt_udp_echo(env, 3, 1, fam, NT_PORT_A, false, NT_TMO_MS, &r), 0);
		assert_int_equal(r.err, -EPERM);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_allowed_tcp_udp_v4_v6, nt_dp_setup,
						nt_dp_teardown),
		cmocka_unit_test_setup_teardown(test_replies_pass, nt_dp_setup, nt_dp_teardown),
	};

	return cmocka_run_group_tests_name("allowed traffic", tests, nt_group_setup,
					   nt_group_teardown);
}
