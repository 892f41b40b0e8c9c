// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Instance-scoped state (issue 10, defect 5): every --bpffs has its own default state
 * directory, and a state directory claimed by one instance is refused to every other (and to
 * a second live daemon of the same instance). Works in a private temporary directory only.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "instance.h"

static char g_tmp[PATH_MAX];

static void id_is(const char *in, const char *want)
{
	char out[PATH_MAX];

	assert_int_equal(pw_instance_id(in, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

static void dir_is(const char *bpffs, const char *want)
{
	char out[PATH_MAX];

	assert_int_equal(pw_instance_state_dir(bpffs, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

static void test_id_normalised(void **state)
{
	id_is("/sys/fs/bpf/podwall", "/sys/fs/bpf/podwall");
	id_is("/sys/fs/bpf/podwall/", "/sys/fs/bpf/podwall");
	id_is("//sys/./fs//bpf/x/../podwall", "/sys/fs/bpf/podwall");
	id_is("/..", "/");
	assert_int_equal(pw_instance_id("", (char[8]){0}, 8), -EINVAL);
	assert_int_equal(pw_instance_id("/a\nb", (char[8]){0}, 8), -EINVAL);
}

static void test_default_state_dir_per_instance(void **state)
{
	char a[PATH_MAX], b[PATH_MAX];

	dir_is("/sys/fs/bpf/podwall", PW_STATE_ROOT "/sys-fs-bpf-podwall");
	dir_is("/sys/fs/bpf/podwall/", PW_STATE_ROOT "/sys-fs-bpf-podwall");
	/* '-' is escaped, so /a-b and /a/b never share a directory */
	dir_is("/a-b", PW_STATE_ROOT "/a\\x2db");
	dir_is("/a/b", PW_STATE_ROOT "/a-b");
	dir_is("/a/.b", PW_STATE_ROOT "/a-.b");
	dir_is("/.b", PW_STATE_ROOT "/\\x2eb");
	dir_is("/", PW_STATE_ROOT "/-");
	/* the defect: two daemons with different --bpffs shared /var/lib/podwall */
	assert_int_equal(pw_instance_state_dir("/sys/fs/bpf/podwall-node1", a, sizeof(a)), 0);
	assert_int_equal(pw_instance_state_dir("/sys/fs/bpf/podwall-node2", b, sizeof(b)), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(pw_instance_state_dir("/x", a, 10), -ENAMETOOLONG);
}

static void test_claim(void **state)
{
	struct pw_instance_claim c1, c2, c3;
	char dir[PATH_MAX + 16], p[PATH_MAX + 64];
	int fd;

	snprintf(dir, sizeof(dir), "%s/state/a", g_tmp);
	/* first use creates the directory and claims it */
	assert_int_equal(pw_instance_claim(dir, "/sys/fs/bpf/pw-test-a", &c1), 0);
	assert_true(c1.fd >= 0);
	assert_int_equal(c1.legacy, 0);
	/* a second live daemon of the same instance */
	assert_int_equal(pw_instance_claim(dir, "/sys/fs/bpf/pw-test-a", &c2), -EBUSY);
	pw_instance_release(&c1);
	assert_int_equal(c1.fd, -1);
	/* another instance: refused, the owner named */
	assert_int_equal(pw_instance_claim(dir, "/sys/fs/bpf/pw-test-b", &c2), -EEXIST);
	assert_string_equal(c2.owner, "/sys/fs/bpf/pw-test-a");
	assert_int_equal(c2.fd, -1);
	/* the same instance, spelt differently, after a restart */
	assert_int_equal(pw_instance_claim(dir, "/sys/fs/bpf//pw-test-a/", &c3), 0);
	pw_instance_release(&c3);

	/* a directory with a journal from before instance ids is adopted, and says so */
	snprintf(dir, sizeof(dir), "%s/state/legacy", g_tmp);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(p, sizeof(p), "%s/cli-journal.jsonl", dir);
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(pw_instance_claim(dir, "/sys/fs/bpf/pw-test-c", &c1), 0);
	assert_int_equal(c1.legacy, 1);
	pw_instance_release(&c1);
	assert_int_equal(pw_instance_claim(dir, "/sys/fs/bpf/pw-test-d", &c1), -EEXIST);

	/* an instance file that is not ours */
	snprintf(dir, sizeof(dir), "%s/state/junk", g_tmp);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(p, sizeof(p), "%s/instance", dir);
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	assert_int_equal(write(fd, "{\"bpffs\": 3}\n", 13), 13);
	close(fd);
	assert_int_equal(pw_instance_claim(dir, "/sys/fs/bpf/pw-test-a", &c1), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id_normalised),
		cmocka_unit_test(test_default_state_dir_per_instance),
		cmocka_unit_test(test_claim),
	};
	char cmd[PATH_MAX + 16];
	int rc;

	snprintf(g_tmp, sizeof(g_tmp), "/tmp/pw-test-instance-%d", (int)getpid());
	if (mkdir(g_tmp, 0700))
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_tmp);
	if (system(cmd))
		rc = rc ? rc : 1;
	return rc;
}
