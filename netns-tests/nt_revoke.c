// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Revocation, live: an established TCP connection is re-checked after a generation bump. It
 * keeps working while some entry still allows it, and its next packet is dropped (with a
 * PW_EV_REVOKED record) once the allowing entry is gone.
 */
#include "nt_checks.h"

#include <unistd.h>
#include <netinet/in.h>

/* PW_DROP_REVOKED drops in both directions */
static int revoked_drops(struct nt_env *env, uint64_t *n)
{
	uint64_t in = 0, out = 0;
	int err;

	err = nt_metric(env, PW_DROP_REVOKED, PW_DIR_INGRESS, &in);
	if (!err)
		err = nt_metric(env, PW_DROP_REVOKED, PW_DIR_EGRESS, &out);
	*n = in + out;
	return err;
}

/*
 * subject/dir: the side whose allow entry is revoked. The connection is pod 1 -> pod 2 on
 * NT_PORT_A; the revoked side is pod 2's ingress or pod 1's egress.
 */
static void revoke_case(struct nt_env *env, int family, enum pw_dir dir)
{
	int subject = dir == PW_DIR_INGRESS ? 2 : 1, peer = dir == PW_DIR_INGRESS ? 1 : 2;
	uint32_t flags = dir == PW_DIR_INGRESS ? PW_EP_F_ISOLATE_INGRESS : PW_EP_F_ISOLATE_EGRESS;
	/*
	 * The flow's own endpoint records it; whichever of its packets comes first after the
	 * bump (the client's data, or a segment the server retransmits) may be the one.
	 */
	struct nt_ev_want w = {.type = PW_EV_REVOKED,
			       .ep_id = (uint32_t)subject,
			       .direction = -1,
			       .dport = NT_PORT_A,
			       .either = true};
	uint64_t before, after;
	struct nt_session s;
	struct nt_result r;
	struct pw_event ev;
	int i;

	assert_int_equal(nt_policy(env, true, subject, dir, peer, IPPROTO_TCP, NT_PORT_A, 81), 0);
	assert_int_equal(nt_ep_write(env, subject, flags), 0);

	assert_int_equal(nt_session_open(env, 1, 2, family, NT_PORT_A, NT_TMO_MS, &s, &r), 0);
	nt_assert_ok(r);
	for (i = 0; i < 2; i++) {
		assert_int_equal(nt_session_roundtrip(env, &s, NT_TMO_MS, &r), 0);
		nt_assert_ok(r);
	}

	/* a change that does not touch this flow: re-checked on the next packet, still allowed */
	assert_int_equal(nt_policy(env, true, subject, dir, 3, IPPROTO_TCP, NT_PORT_B, 82), 0);
	assert_int_equal(pw_dp_bump_generation(env->dp, 0), 0);
	assert_int_equal(nt_session_roundtrip(env, &s, NT_TMO_MS, &r), 0);
	nt_assert_ok(r);

	/* revoke: the data is dropped, the echo never comes, and the drop is recorded */
	assert_int_equal(revoked_drops(env, &before), 0);
	assert_int_equal(nt_policy(env, false, subject, dir, peer, IPPROTO_TCP, NT_PORT_A, 81), 0);
	assert_int_equal(pw_dp_bump_generation(env->dp, (uint32_t)subject), 0);
	assert_int_equal(nt_session_roundtrip(env, &s, NT_TMO_MS, &r), 0);
	assert_int_equal(r.err, -ETIMEDOUT);
	assert_int_equal(r.stage, NT_ST_RECV);
	w.sport = s.local_port;
	assert_int_equal(nt_event_wait(env, nt_ev_match, &w, NT_TMO_MS, &ev), 0);
	assert_int_equal(ev.reason, PW_DROP_REVOKED);
	assert_int_equal(ev.family, nt_pw_family(family));
	assert_int_equal(ev.proto, IPPROTO_TCP);
	assert_int_equal(revoked_drops(env, &after), 0);
	assert_true(after >= before + 1);
	nt_session_close(env, &s);

	/* a new connection is refused too (times out on ingress, EPERM at pod 1's socket) */
	assert_int_equal(nt_tcp_echo(env, 1, 2, family, NT_PORT_A, 300, &r), 0);
	assert_int_equal(r.err, dir == PW_DIR_INGRESS ? -ETIMEDOUT : -EPERM);
}

static void test_revoke_ingress_v4(void **state)
{
	revoke_case(*state, AF_INET, PW_DIR_INGRESS);
}

static void test_revoke_egress_v6(void **state)
{
	revoke_case(*state, AF_INET6, PW_DIR_EGRESS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_revoke_ingress_v4, nt_dp_setup,
						nt_dp_teardown),
		cmocka_unit_test_setup_teardown(test_revoke_egress_v6, nt_dp_setup, nt_dp_teardown),
	};

	return cmocka_run_group_tests_name("revocation", tests, nt_group_setup, nt_group_teardown);
}
