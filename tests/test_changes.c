// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwalld's parse of an apply (ctl/daemon/changes.c parse_docs): large requests are parsed on
 * several threads, and what comes out must not show it. Diagnostics come in request order
 * (file by file, each file's in its own order), objects in request order, all or nothing.
 * No kernel, no daemon: the function alone, on requests big enough for its threads.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon.h"

/* One file of n Namespaces named f<file>-<i>; bad[i] makes the i-th name invalid. */
static char *namespaces(int file, int n, int bad_every)
{
	size_t cap = (size_t)n * 96 + 1, len = 0;
	char *s = malloc(cap);

	assert_non_null(s);
	for (int i = 0; i < n; i++)
		len += (size_t)snprintf(s + len, cap - len,
					"---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: "
					"%sf%d-%d\n",
					bad_every && i % bad_every == 0 ? "X" : "", file, i);
	return s;
}

static json_object *request(int files, int per_file, const int *bad_every)
{
	json_object *docs = json_object_new_array();

	for (int f = 0; f < files; f++) {
		json_object *d = json_object_new_object();
		char name[32], *text = namespaces(f, per_file, bad_every ? bad_every[f] : 0);

		snprintf(name, sizeof(name), "f%d.yaml", f);
		json_object_object_add(d, "name", json_object_new_string(name));
		json_object_object_add(d, "data", json_object_new_string(text));
		json_object_array_add(docs, d);
		free(text);
	}
	return docs;
}

/* 8 files of 800 Namespaces (about 70 KiB each, 560 KiB in all): over the threads' threshold */
static void test_objects_in_order(void **state)
{
	json_object *docs = request(8, 800, NULL);
	struct pw_diags d = {0};
	struct pw_manifest *m = NULL;
	char want[32];

	assert_int_equal(parse_docs(docs, &m, &d), 0);
	assert_int_equal(d.n, 0);
	assert_int_equal(m->n, 6400);
	for (size_t i = 0; i < m->n; i++) {
		snprintf(want, sizeof(want), "f%zu-%zu", i / 800, i % 800);
		assert_string_equal(pw_object_name(&m->objs[i]), want);
		assert_int_equal(m->objs[i].src.doc, i % 800 + 1);
	}
	pw_manifest_free(m);
	json_object_put(docs);
	(void)state;
}

/* errors in files 1, 4 and 6: all of them, file by file, and no objects */
static void test_errors_in_order(void **state)
{
	static const int bad[8] = {0, 100, 0, 0, 50, 0, 400, 0};
	json_object *docs = request(8, 800, bad);
	struct pw_diags d = {0};
	struct pw_manifest *m = NULL;
	size_t want = 8 + 16 + 2, k = 0;

	assert_int_equal(parse_docs(docs, &m, &d), -EINVAL);
	assert_null(m);
	assert_int_equal(d.n, want);
	assert_int_equal(d.n_errors, want);
	for (int f = 0; f < 8; f++) {
		for (int i = 0; bad[f] && i < 800; i += bad[f], k++) {
			char where[64];

			snprintf(where, sizeof(where), "f%d.yaml: document %d (Namespace Xf%d-%d)",
				 f, i + 1, f, i);
			assert_non_null(strstr(d.v[k].text, where));
		}
	}
	assert_int_equal(k, want);
	pw_diags_clear(&d);
	json_object_put(docs);
	(void)state;
}

/* small requests stay on the caller's thread and behave the same */
static void test_small(void **state)
{
	static const int bad[2] = {0, 3};
	json_object *docs = request(2, 5, bad);
	struct pw_diags d = {0};
	struct pw_manifest *m = NULL;

	assert_int_equal(parse_docs(docs, &m, &d), -EINVAL);
	assert_int_equal(d.n, 2);
	assert_non_null(strstr(d.v[0].text, "f1.yaml: document 1 "));
	assert_non_null(strstr(d.v[1].text, "f1.yaml: document 4 "));
	pw_diags_clear(&d);
	json_object_put(docs);
	docs = request(2, 5, NULL);
	assert_int_equal(parse_docs(docs, &m, &d), 0);
	assert_int_equal(m->n, 10);
	assert_string_equal(pw_object_name(&m->objs[9]), "f1-4");
	pw_manifest_free(m);
	json_object_put(docs);
	(void)state;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_objects_in_order),
		cmocka_unit_test(test_errors_in_order),
		cmocka_unit_test(test_small),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
