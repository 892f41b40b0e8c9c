// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The etcd JSON gateway's encodings (base64 bytes, int64 as strings, prefix ranges) and the
 * checks of --etcd endpoints. The client against a real etcd: e2e/test_cluster.sh.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "etcd.h"

static char *roundtrip(const void *p, size_t n, size_t *len)
{
	json_object *o = json_object_new_object();
	char *out = NULL;

	json_object_object_add(o, "v", pw_etcd_bytes(p, n));
	assert_int_equal(pw_etcd_get_bytes(o, "v", &out, len), 0);
	json_object_put(o);
	return out;
}

static void test_base64(void **state)
{
	static const struct {
		const char *in, *b64;
	} vec[] = {{"", ""},	    {"f", "Zg=="},	  {"fo", "Zm8="},
		   {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"/podwall/v1/", "L3BvZHdhbGwvdjEv"}};
	unsigned char all[256];
	size_t len;
	char *s;

	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		json_object *j = pw_etcd_str(vec[i].in);

		assert_string_equal(json_object_get_string(j), vec[i].b64);
		json_object_put(j);
	}
	for (size_t i = 0; i < 256; i++)
		all[i] = (unsigned char)(255 - i);
	for (size_t n = 0; n <= 256; n += 1 + n / 8) {
		s = roundtrip(all, n, &len);
		assert_int_equal(len, n);
		assert_memory_equal(s, all, n);
		assert_int_equal(s[n], '\0');
		free(s);
	}
}

static void test_base64_malformed(void **state)
{
	static const char *const bad[] = {"Zm9", "Z===", "Zm9v!A==", "Zg==Zg==", "=Zm9"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_object *o = json_object_new_object();
		char *out = (char *)1;
		size_t len;

		json_object_object_add(o, "v", json_object_new_string(bad[i]));
		assert_int_equal(pw_etcd_get_bytes(o, "v", &out, &len), -EINVAL);
		assert_null(out);
		json_object_put(o);
	}
}

static void test_int64_and_ranges(void **state)
{
	json_object *o = json_tokener_parse("{\"a\":\"9007199254740993\",\"b\":7}"), *e;

	/* past 2^53: proto3 JSON sends int64 as a string for this reason */
	assert_true(pw_etcd_get_i64(o, "a") == 9007199254740993ll);
	assert_int_equal(pw_etcd_get_i64(o, "b"), 7);
	assert_int_equal(pw_etcd_get_i64(o, "absent"), 0);
	json_object_put(o);
	e = pw_etcd_prefix_end("/podwall/v1/");
	assert_string_equal(json_object_get_string(e), "L3BvZHdhbGwvdjEw"); /* "/podwall/v10" */
	json_object_put(e);
}

static void test_endpoints(void **state)
{
	static const struct {
		const char *urls, *why; /* why: NULL when valid */
	} cases[] = {
		{"http://198.18.0.1:2379", NULL},
		{"http://[fd00::1]:2379,http://198.18.0.1:2379", NULL},
		{"https://etcd.example:2379", NULL},
		{"ftp://198.18.0.1:2379", "scheme must be http or https"},
		{"http://198.18.0.1:2379/v3", "has no path"},
		{"http://198.18.0.1:2379,not a url", "is not a URL"},
		{"", "no endpoint"},
		{",", "no endpoint"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pw_etcd_opts o = {.sz = sizeof(o), .endpoints = cases[i].urls};
		struct pw_etcd *e = NULL;
		char why[256] = "";
		int err = pw_etcd_new(&o, &e, why, sizeof(why));

		if (!cases[i].why) {
			assert_int_equal(err, 0);
			assert_non_null(e);
			assert_true(pw_etcd_fd(e) >= 0);
			assert_non_null(strstr(cases[i].urls, pw_etcd_endpoint(e)));
			pw_etcd_free(e);
		} else {
			assert_int_equal(err, -EINVAL);
			assert_null(e);
			if (!strstr(why, cases[i].why))
				fail_msg("%s: \"%s\" does not say \"%s\"", cases[i].urls, why,
					 cases[i].why);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_base64_malformed),
		cmocka_unit_test(test_int64_and_ranges),
		cmocka_unit_test(test_endpoints),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
