// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * TC-layer enforcement, live: what the socket hooks cannot see. A raw-socket SYN never calls
 * connect() and must be dropped on the pod's host-side veth; ingress policy is enforced where
 * the packet enters the destination pod.
 */
#include "nt_checks.h"

#include <unistd.h>
#include <netinet/in.h>

/* Long enough for a packet that passes to cross two veths; a drop shows as silence. */
#define SNIFF_WAIT_MS 500

/* Case 3: a raw SYN to a denied destination is dropped at TC; the allowed one arrives. */
static void test_raw_syn_dropped_at_tc(void **state)
{
	struct nt_env *env = *state;
	struct nt_ev_want w = {.type = PW_EV_DROP, .ep_id = 1, .direction = PW_DIR_EGRESS};
	uint64_t before, after;
	struct nt_sniffer s;
	struct nt_result r;
	struct pw_event ev;
	size_t f;

	assert_int_equal(nt_policy(env, true, 1, PW_DIR_EGRESS, 2, IPPROTO_TCP, NT_PORT_A, 41), 0);
	assert_int_equal(nt_ep_write(env, 1, PW_EP_F_ISOLATE_EGRESS), 0);

	for (f = 0; f < 2; f++) {
		int fam = nt_fams[f];
		uint16_t sport = (uint16_t)(42000 + f * 10);

		/* control: the sniffer in pod 2 does see a raw SYN that policy allows */
		assert_int_equal(nt_sniff_start(env, 2, fam, sport, NT_PORT_A, &s), 0);
		assert_int_equal(nt_raw_syn(env, 1, 2, fam, sport, NT_PORT_A, &r), 0);
		nt_assert_ok(r);
		assert_true(nt_sniff_stop(env, &s, NT_TMO_MS) >= 1);

		/* denied port: sent fine (no socket hook for raw sockets), never arrives */
		assert_int_equal(nt_metric(env, PW_DROP_POLICY, PW_DIR_EGRESS, &before), 0);
		assert_int_equal(nt_sniff_start(env, 2, fam, sport + 1, NT_PORT_B, &s), 0);
		assert_int_equal(nt_raw_syn(env, 1, 2, fam, sport + 1, NT_PORT_B, &r), 0);
		nt_assert_ok(r);
		assert_int_equal(nt_sniff_stop(env, &s, SNIFF_WAIT_MS), 0);
		assert_int_equal(nt_metric(env, PW_DROP_POLICY, PW_DIR_EGRESS, &after), 0);
		assert_true(after >= before + 1);

		w.sport = sport + 1;
		assert_int_equal(nt_event_wait(env, nt_ev_match, &w, NT_TMO_MS, &ev), 0);
		assert_int_equal(ev.reason, PW_DROP_POLICY);
		assert_int_equal(ntohs(ev.dport), NT_PORT_B);
		assert_int_equal(ev.ifindex, env->pods[1].host_ifindex);
	}
}

/*
 * Case 4: pod 3 is isolated for ingress and admits pod 2 only. Pod 1 (not isolated, so its
 * connect() passes its own socket layer) times out: dropped on pod 3's ingress.
 */
static void test_ingress_deny(void **state)
{
	struct nt_env *env = *state;
	uint64_t before, after;
	struct nt_result r;
	size_t f;

	assert_int_equal(nt_policy(env, true, 3, PW_DIR_INGRESS, 2, IPPROTO_TCP, NT_PORT_A, 43), 0);
	assert_int_equal(nt_ep_write(env, 3, PW_EP_F_ISOLATE_INGRESS), 0);
	assert_int_equal(nt_metric(env, PW_DROP_POLICY, PW_DIR_INGRESS, &before), 0);

	for (f = 0; f < 2; f++) {
		int fam = nt_fams[f];

		assert_int_equal(nt_tcp_echo(env, 1, 3, fam, NT_PORT_A, NT_TMO_MS, &r), 0);
		assert_int_equal(r.err, -ETIMEDOUT);
		assert_int_equal(r.stage, NT_ST_CONNECT);
		assert_true(r.elapsed_us >= (uint64_t)NT_TMO_MS * 1000);

		assert_int_equal(nt_tcp_echo(env, 2, 3, fam, NT_PORT_A, NT_TMO_MS, &r), 0);
		nt_assert_ok(r);
		/* and only on the allowed port */
		assert_int_equal(nt_udp_echo(env, 2, 3, fam, NT_PORT_A, false, 300, &r), 0);
		assert_int_equal(r.err, -ETIMEDOUT);
	}
	assert_int_equal(nt_metric(env, PW_DROP_POLICY, PW_DIR_INGRESS, &after), 0);
	assert_true(after >= before + 4);
	/* pod 3 is not isolated for egress: it still reaches pod 1 */
	assert_int_equal(nt_tcp_echo(env, 3, 1, AF_INET, NT_PORT_A, NT_TMO_MS, &r), 0);
	nt_assert_ok(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_raw_syn_dropped_at_tc, nt_dp_setup,
						nt_dp_teardown),
		cmocka_unit_test_setup_teardown(test_ingress_deny, nt_dp_setup, nt_dp_teardown),
	};

	return cmocka_run_group_tests_name("tc layer", tests, nt_group_setup, nt_group_teardown);
}
