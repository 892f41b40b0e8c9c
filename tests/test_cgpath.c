// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The cgroupPath notations podwall-cni receives (design.md, CNI) -> the pod's cgroup below
 * --cgroup-root, on a directory tree in /tmp standing in for the cgroup2 mount.
 */
#define _GNU_SOURCE
#include <errno.h>
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

#include "cgpath.h"

static const struct {
	const char *in, *out; /* out NULL: refused */
} expand_cases[] = {
	{"/kubepods/besteffort/pod1234", "/kubepods/besteffort/pod1234"},
	{"/kubepods/burstable/", "/kubepods/burstable"},
	{"kubepods.slice", "/kubepods.slice"},
	{"kubepods-besteffort-pod12_34.slice",
	 "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12_34.slice"},
	{"kubepods-pod1.slice:cri-containerd:abc", "/kubepods.slice/kubepods-pod1.slice"},
	{"-.slice", "/"},
	{"kube--pods.slice", NULL},
	{"-kubepods.slice", NULL},
	{"kubepods-.slice", NULL},
	{"kubepods", NULL},
	{"a/b.slice", NULL},
	{"a.slice:b", NULL},
	{"a.slice:b:c:d", NULL},
	{":b:c", NULL},
	{"/a/../b", NULL},
	{"", NULL},
};

static void test_expand(void **state)
{
	char out[256], why[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(expand_cases) / sizeof(expand_cases[0]); i++) {
		int err = pw_cgpath_expand(expand_cases[i].in, out, sizeof(out), why, sizeof(why));

		if (expand_cases[i].out) {
			assert_int_equal(err, 0);
			assert_string_equal(out, expand_cases[i].out);
		} else {
			assert_int_equal(err, -EINVAL);
			assert_non_null(strstr(why, expand_cases[i].in[0] ? expand_cases[i].in
									  : "empty"));
		}
	}
}

static char tmp[PATH_MAX];

static void mk(const char *rel)
{
	char p[PATH_MAX + 256];

	snprintf(p, sizeof(p), "mkdir -p '%s/%s'", tmp, rel);
	assert_int_equal(system(p), 0);
}

static void test_resolve(void **state)
{
	char root[PATH_MAX + 64], rel[512], why[512];

	(void)state;
	snprintf(tmp, sizeof(tmp), "/tmp/pw-test-cgpath-%d", getpid());
	mk("kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1_2.slice/"
	   "cri-containerd-abc.scope");
	mk("kubepods.slice/kubepods-pod9_9.slice");
	mk("elsewhere/pod1-2");
	mk("kubepods.slice/burstable/pod7-7");
	snprintf(root, sizeof(root), "%s/kubepods.slice", tmp);

	assert_int_equal(pw_cgpath_resolve(tmp, root,
					   "kubepods-besteffort-pod1_2.slice:cri-containerd:abc",
					   NULL, rel, sizeof(rel), why, sizeof(why)),
			 0);
	assert_string_equal(rel, "kubepods-besteffort.slice/kubepods-besteffort-pod1_2.slice");
	assert_int_equal(pw_cgpath_resolve(tmp, root, "/kubepods.slice/burstable/pod7-7", NULL,
					   rel, sizeof(rel), why, sizeof(why)),
			 0);
	assert_string_equal(rel, "burstable/pod7-7");
	/* by UID: cgroupfs name, then systemd's '_' spelling */
	assert_int_equal(pw_cgpath_resolve(tmp, root, NULL, "7-7", rel, sizeof(rel), why,
					   sizeof(why)),
			 0);
	assert_string_equal(rel, "burstable/pod7-7");
	assert_int_equal(pw_cgpath_resolve(tmp, root, NULL, "9-9", rel, sizeof(rel), why,
					   sizeof(why)),
			 0);
	assert_string_equal(rel, "kubepods-pod9_9.slice");
	/* refused: missing, outside the root, the root itself, no uid */
	assert_int_equal(pw_cgpath_resolve(tmp, root, "/kubepods.slice/none", NULL, rel,
					   sizeof(rel), why, sizeof(why)),
			 -ENOENT);
	assert_non_null(strstr(why, "/kubepods.slice/none"));
	assert_int_equal(pw_cgpath_resolve(tmp, root, "/elsewhere/pod1-2", NULL, rel, sizeof(rel),
					   why, sizeof(why)),
			 -EXDEV);
	assert_int_equal(pw_cgpath_resolve(tmp, root, "kubepods.slice", NULL, rel, sizeof(rel),
					   why, sizeof(why)),
			 -EXDEV);
	assert_int_equal(pw_cgpath_resolve(tmp, root, NULL, "1-2-3", rel, sizeof(rel), why,
					   sizeof(why)),
			 -ENOENT);
	assert_int_equal(pw_cgpath_resolve(tmp, root, NULL, NULL, rel, sizeof(rel), why,
					   sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(why, "K8S_POD_UID"));
	snprintf(root, sizeof(root), "rm -rf '%s'", tmp);
	assert_int_equal(system(root), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expand),
		cmocka_unit_test(test_resolve),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
