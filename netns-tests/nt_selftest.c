// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The harness itself, without the datapath: pods reach each other through the node over TCP
 * and UDP, IPv4 and IPv6; probes report refusals and timeouts; children land in the right
 * cgroup and netns; the sniffer sees a raw SYN; teardown and stale cleanup leave nothing.
 * When these fail, the live enforcement tests cannot be trusted, so they run first.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#define TMO 1000

static void test_pod_to_pod(void **state)
{
	struct nt_env *env = *state;
	static const int fams[] = {AF_INET, AF_INET6};
	struct nt_result r;
	size_t f;

	for (f = 0; f < 2; f++) {
		assert_int_equal(nt_tcp_echo(env, 1, 2, fams[f], NT_PORT_A, TMO, &r), 0);
		assert_int_equal(r.err, 0);
		assert_int_equal(r.stage, NT_ST_DONE);
		assert_int_equal(nt_tcp_echo(env, 3, 1, fams[f], NT_PORT_B, TMO, &r), 0);
		assert_int_equal(r.err, 0);
		assert_int_equal(nt_udp_echo(env, 2, 3, fams[f], NT_PORT_A, false, TMO, &r), 0);
		assert_int_equal(r.err, 0);
		assert_int_equal(r.stage, NT_ST_DONE);
		assert_int_equal(nt_udp_echo(env, 2, 1, fams[f], NT_PORT_B, true, TMO, &r), 0);
		assert_int_equal(r.err, 0);
		/* the probes tell a refusal from success: nothing listens on NT_PORT_CLOSED */
		assert_int_equal(nt_tcp_echo(env, 1, 2, fams[f], NT_PORT_CLOSED, TMO, &r), 0);
		assert_int_equal(r.err, -ECONNREFUSED);
		assert_int_equal(r.stage, NT_ST_CONNECT);
	}
}

struct where {
	char cgroup[256];
	unsigned long long netns_ino;
};

static void where_child(struct nt_env *env, struct nt_pod *pod, void *arg, int res_fd, int cmd_fd)
{
	struct where w = {0};
	char line[512];
	struct stat st;
	FILE *f;

	f = fopen("/proc/self/cgroup", "re");
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = 0;
			nt_pathf(w.cgroup, sizeof(w.cgroup), "%s", line + 3);
		}
	}
	if (f)
		fclose(f);
	if (!stat("/proc/self/ns/net", &st))
		w.netns_ino = st.st_ino;
	if (write(res_fd, &w, sizeof(w)) != sizeof(w))
		_exit(1);
}

static void test_child_placement(void **state)
{
	struct nt_env *env = *state;
	char path[PATH_MAX], expect[PATH_MAX];
	struct nt_child c;
	struct where w;
	struct stat st;
	int i;

	for (i = 1; i <= env->npods; i++) {
		assert_int_equal(nt_child_start(env, i, "ntwhere", where_child, NULL, &c), 0);
		assert_int_equal(read(c.res_fd, &w, sizeof(w)), sizeof(w));
		nt_child_stop(env, &c);
		/* cgroup path relative to the cgroup2 mount */
		snprintf(expect, sizeof(expect), "%s", env->pods[i].cg_c0 + strlen(env->cg2));
		assert_string_equal(w.cgroup, expect);
		snprintf(path, sizeof(path), "/run/netns/%s", env->pods[i].netns);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(w.netns_ino, (unsigned long long)st.st_ino);
		/* the endpoint's cgroup id is the pod directory's, an ancestor of c0 */
		assert_int_not_equal(env->pods[i].cg_id, 0);
		assert_int_not_equal(env->pods[i].cg_id, env->pods[i].cg_c0_id);
	}
}

static void test_sniffer(void **state)
{
	struct nt_env *env = *state;
	static const int fams[] = {AF_INET, AF_INET6};
	struct nt_sniffer s;
	struct nt_result r;
	size_t f;

	for (f = 0; f < 2; f++) {
		/* seen when it is addressed to the sniffing pod */
		assert_int_equal(nt_sniff_start(env, 2, fams[f], 41000, NT_PORT_B, &s), 0);
		assert_int_equal(nt_raw_syn(env, 1, 2, fams[f], 41000, NT_PORT_B, &r), 0);
		assert_int_equal(r.err, 0);
		assert_true(nt_sniff_stop(env, &s, TMO) >= 1);
		/* not seen when it goes to another pod: the sniffer's filter is specific */
		assert_int_equal(nt_sniff_start(env, 2, fams[f], 41001, NT_PORT_B, &s), 0);
		assert_int_equal(nt_raw_syn(env, 1, 3, fams[f], 41001, NT_PORT_B, &r), 0);
		assert_int_equal(r.err, 0);
		assert_int_equal(nt_sniff_stop(env, &s, 200), 0);
	}
}

static void test_session(void **state)
{
	struct nt_env *env = *state;
	struct nt_session s;
	struct nt_result r;
	int i;

	assert_int_equal(nt_session_open(env, 1, 3, AF_INET6, NT_PORT_A, TMO, &s, &r), 0);
	assert_int_equal(r.err, 0);
	assert_int_not_equal(s.local_port, 0);
	for (i = 0; i < 3; i++) {
		assert_int_equal(nt_session_roundtrip(env, &s, TMO, &r), 0);
		assert_int_equal(r.err, 0);
		assert_int_equal(r.local_port, s.local_port);
	}
	nt_session_close(env, &s);
}

struct second_env {
	char node[NT_NAME_LEN];
	char pod[NT_NAME_LEN];
	char cgroot[PATH_MAX];
	int before; /* leftovers counted while it is up */
	int teardown;
};

/* A second environment, in a child so that its names (from its pid) differ from ours. */
static void second_env_child(int fd)
{
	struct second_env s = {0};
	const char *pods[1];
	struct nt_env *e2;

	s.teardown = nt_env_setup(1, &e2);
	if (!s.teardown) {
		snprintf(s.node, sizeof(s.node), "%s", e2->node_ns);
		snprintf(s.pod, sizeof(s.pod), "%s", e2->pods[1].netns);
		snprintf(s.cgroot, sizeof(s.cgroot), "%s", e2->cgroot);
		pods[0] = s.pod;
		s.before = nt_env_leftovers(s.node, pods, 1, s.cgroot, NULL);
		s.teardown = nt_env_teardown(e2);
	}
	_exit(write(fd, &s, sizeof(s)) == sizeof(s) ? 0 : 1);
}

/* A second environment torn down, then a fake crashed run removed by the stale sweep. */
static void test_cleanup(void **state)
{
	struct nt_env *env = *state;
	char node[NT_NAME_LEN], pod[NT_NAME_LEN], cgroot[PATH_MAX], bpffs[PATH_MAX];
	char sub[PATH_MAX + 8], procs[PATH_MAX + 32], buf[32];
	const char *pods[1] = {pod};
	struct second_env s;
	int st, fd, p[2];
	pid_t dead, sleeper, kid;
	char c;

	assert_int_equal(pipe(p), 0);
	kid = fork();
	assert_true(kid >= 0);
	if (!kid) {
		close(p[0]);
		second_env_child(p[1]);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &s, sizeof(s)), sizeof(s));
	close(p[0]);
	assert_int_equal(waitpid(kid, &st, 0), kid);
	assert_int_equal(s.teardown, 0);
	assert_int_equal(s.before, 3);
	pods[0] = s.pod;
	assert_int_equal(nt_env_leftovers(s.node, pods, 1, s.cgroot, NULL), 0);
	pods[0] = pod;

	/* a pid that is certainly dead: a child we reaped */
	dead = fork();
	assert_true(dead >= 0);
	if (!dead)
		_exit(0);
	assert_int_equal(waitpid(dead, &st, 0), dead);
	snprintf(node, sizeof(node), "pw%dn", (int)dead);
	snprintf(pod, sizeof(pod), "pw%dp1", (int)dead);
	assert_int_equal(nt_pathf(cgroot, sizeof(cgroot), "%s/podwall-nt-%d", env->cg2, (int)dead),
			 0);
	snprintf(bpffs, sizeof(bpffs), "/sys/fs/bpf/podwall-nt-%d", (int)dead);
	assert_int_equal(nt_cmd(false, "ip netns add %s", node), 0);
	assert_int_equal(nt_cmd(false, "ip netns add %s", pod), 0);
	assert_int_equal(mkdir(cgroot, 0755), 0);
	snprintf(sub, sizeof(sub), "%s/p1", cgroot);
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(mkdir(bpffs, 0700), 0);
	/* an orphaned server of the crashed run, still in its cgroup */
	assert_int_equal(pipe(p), 0);
	sleeper = fork();
	assert_true(sleeper >= 0);
	if (!sleeper) {
		snprintf(procs, sizeof(procs), "%s/cgroup.procs", sub);
		fd = open(procs, O_WRONLY);
		snprintf(buf, sizeof(buf), "%d", (int)getpid());
		if (fd < 0 || write(fd, buf, strlen(buf)) < 0)
			_exit(1);
		if (write(p[1], "R", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);

	assert_int_equal(nt_env_leftovers(node, pods, 1, cgroot, bpffs), 4);
	assert_true(nt_cleanup_stale() >= 4);
	assert_int_equal(nt_env_leftovers(node, pods, 1, cgroot, bpffs), 0);
	/* the orphan was killed with its cgroup */
	assert_int_equal(waitpid(sleeper, &st, WNOHANG) == sleeper || kill(sleeper, 0) != 0, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_pod_to_pod, nt_kids_teardown),
		cmocka_unit_test_teardown(test_child_placement, nt_kids_teardown),
		cmocka_unit_test_teardown(test_sniffer, nt_kids_teardown),
		cmocka_unit_test_teardown(test_session, nt_kids_teardown),
		cmocka_unit_test_teardown(test_cleanup, nt_kids_teardown),
	};

	return cmocka_run_group_tests_name("netns harness", tests, nt_group_setup,
					   nt_group_teardown);
}
