// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Label sets and selectors: matching per operator, empty selectors, canonical strings. */
#include <errno.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "selector.h"

/* Build a label set from "k=v" strings. */
static void labels_of(struct pw_labels *l, const char *const *kv)
{
	for (; *kv; kv++) {
		char buf[256], *eq;

		snprintf(buf, sizeof(buf), "%s", *kv);
		eq = strchr(buf, '=');
		assert_non_null(eq);
		*eq = '\0';
		assert_int_equal(pw_labels_set(l, buf, eq + 1), 0);
	}
}

#define LABELS(l, ...) labels_of(l, (const char *const[]){__VA_ARGS__, NULL})
#define VALS(...) \
	(const char *const[]){__VA_ARGS__}, sizeof((const char *[]){__VA_ARGS__}) / sizeof(char *)

static void test_labels_sorted_unique(void **state)
{
	struct pw_labels l = {0}, copy = {0};
	char *s = NULL;

	LABELS(&l, "tier=web", "app=shop", "zone=a", "app=cart");
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[0].key, "app");
	assert_string_equal(pw_labels_get(&l, "app"), "cart"); /* replaced */
	assert_null(pw_labels_get(&l, "missing"));
	assert_null(pw_labels_get(NULL, "app"));
	assert_int_equal(pw_labels_str(&l, &s), 0);
	assert_string_equal(s, "app=cart,tier=web,zone=a");
	free(s);
	assert_int_equal(pw_labels_copy(&copy, &l), 0);
	assert_true(pw_labels_equal(&copy, &l));
	assert_int_equal(pw_labels_set(&copy, "zone", "b"), 0);
	assert_false(pw_labels_equal(&copy, &l));
	assert_int_equal(pw_labels_str(NULL, &s), 0);
	assert_string_equal(s, "");
	free(s);
	pw_labels_clear(&l);
	pw_labels_clear(&copy);
	pw_labels_clear(NULL);
}

static void test_match_labels(void **state)
{
	struct pw_selector sel = {0};
	struct pw_labels a = {0}, b = {0}, none = {0};

	LABELS(&sel.match_labels, "app=web", "tier=front");
	LABELS(&a, "app=web", "tier=front", "extra=1");
	LABELS(&b, "app=web", "tier=back");
	assert_true(pw_selector_matches(&sel, &a));
	assert_false(pw_selector_matches(&sel, &b));
	assert_false(pw_selector_matches(&sel, &none));
	assert_false(pw_selector_matches(&sel, NULL));
	pw_selector_clear(&sel);
	pw_labels_clear(&a);
	pw_labels_clear(&b);
}

static void test_empty_and_null(void **state)
{
	struct pw_selector sel = {0};
	struct pw_labels a = {0};
	char *s = NULL;

	LABELS(&a, "x=y");
	assert_true(pw_selector_is_empty(&sel));
	assert_true(pw_selector_matches(&sel, &a));
	assert_true(pw_selector_matches(&sel, NULL));
	/* no selector at all matches nothing: an absent podSelector in a peer */
	assert_false(pw_selector_matches(NULL, &a));
	assert_false(pw_selector_is_empty(NULL));
	assert_int_equal(pw_selector_str(&sel, &s), 0);
	assert_string_equal(s, "");
	free(s);
	pw_labels_clear(&a);
	pw_selector_free(NULL);
	pw_selector_clear(NULL);
}

struct op_case {
	enum pw_sel_op op;
	const char *labels; /* "k=v" or "" */
	bool want;
};

static void test_operators(void **state)
{
	/* requirement on key "env" with values {prod, stage} for In/NotIn */
	static const struct op_case cases[] = {
		{PW_SEL_IN, "env=prod", true},
		{PW_SEL_IN, "env=stage", true},
		{PW_SEL_IN, "env=dev", false},
		{PW_SEL_IN, "", false},
		{PW_SEL_IN, "other=prod", false},
		{PW_SEL_NOT_IN, "env=prod", false},
		{PW_SEL_NOT_IN, "env=dev", true},
		{PW_SEL_NOT_IN, "", true}, /* absent label is not in the set */
		{PW_SEL_EXISTS, "env=", true},
		{PW_SEL_EXISTS, "env=x", true},
		{PW_SEL_EXISTS, "", false},
		{PW_SEL_DOES_NOT_EXIST, "", true},
		{PW_SEL_DOES_NOT_EXIST, "other=1", true},
		{PW_SEL_DOES_NOT_EXIST, "env=", false},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct op_case *tc = &cases[i];
		struct pw_selector sel = {0};
		struct pw_labels l = {0};
		static const char *const vals[] = {"stage", "prod"};
		bool has_vals = tc->op == PW_SEL_IN || tc->op == PW_SEL_NOT_IN;

		assert_int_equal(pw_selector_add_req(&sel, "env", tc->op, has_vals ? vals : NULL,
						     has_vals ? 2 : 0),
				 0);
		if (*tc->labels)
			LABELS(&l, tc->labels);
		if (pw_selector_matches(&sel, &l) != tc->want)
			fail_msg("case %zu: %s on {%s}: want %d", i, pw_sel_op_str(tc->op),
				 tc->labels, tc->want);
		pw_selector_clear(&sel);
		pw_labels_clear(&l);
	}
}

static void test_combination_is_and(void **state)
{
	struct pw_selector sel = {0};
	struct pw_labels l = {0};

	LABELS(&sel.match_labels, "app=db");
	assert_int_equal(pw_selector_add_req(&sel, "tier", PW_SEL_IN, VALS("a", "b")), 0);
	assert_int_equal(pw_selector_add_req(&sel, "legacy", PW_SEL_DOES_NOT_EXIST, NULL, 0), 0);
	assert_int_equal(pw_selector_add_req(&sel, "zone", PW_SEL_NOT_IN, VALS("x")), 0);

	LABELS(&l, "app=db", "tier=b", "zone=y");
	assert_true(pw_selector_matches(&sel, &l));
	assert_int_equal(pw_labels_set(&l, "legacy", "1"), 0);
	assert_false(pw_selector_matches(&sel, &l));
	pw_labels_clear(&l);
	LABELS(&l, "app=db", "tier=c");
	assert_false(pw_selector_matches(&sel, &l));
	pw_labels_clear(&l);
	LABELS(&l, "app=db", "tier=a", "zone=x");
	assert_false(pw_selector_matches(&sel, &l));
	pw_labels_clear(&l);
	LABELS(&l, "app=web", "tier=a");
	assert_false(pw_selector_matches(&sel, &l));
	pw_labels_clear(&l);
	pw_selector_clear(&sel);
}

static void test_values_sorted_deduplicated(void **state)
{
	struct pw_selector sel = {0};

	assert_int_equal(pw_selector_add_req(&sel, "k", PW_SEL_IN, VALS("c", "a", "c", "b", "a")),
			 0);
	assert_int_equal(sel.reqs[0].n_values, 3);
	assert_string_equal(sel.reqs[0].values[0], "a");
	assert_string_equal(sel.reqs[0].values[1], "b");
	assert_string_equal(sel.reqs[0].values[2], "c");
	assert_int_equal(pw_selector_add_req(&sel, "k", 42, NULL, 0), -EINVAL);
	assert_int_equal(pw_selector_add_req(NULL, "k", PW_SEL_EXISTS, NULL, 0), -EINVAL);
	pw_selector_clear(&sel);
}

static char *canon(const struct pw_selector *s)
{
	char *out = NULL;

	assert_int_equal(pw_selector_str(s, &out), 0);
	return out;
}

static void test_canonical(void **state)
{
	struct pw_selector a = {0}, b = {0}, c = {0}, copy = {0};
	char *sa, *sb, *sc, *scopy;

	/* same meaning written two ways: matchLabels vs In with one value, other order */
	LABELS(&a.match_labels, "tier=web", "app=shop");
	assert_int_equal(pw_selector_add_req(&a, "env", PW_SEL_NOT_IN, VALS("dev", "ci")), 0);
	assert_int_equal(pw_selector_add_req(&a, "gone", PW_SEL_DOES_NOT_EXIST, NULL, 0), 0);

	assert_int_equal(pw_selector_add_req(&b, "gone", PW_SEL_DOES_NOT_EXIST, NULL, 0), 0);
	assert_int_equal(pw_selector_add_req(&b, "env", PW_SEL_NOT_IN, VALS("ci", "dev", "ci")), 0);
	assert_int_equal(pw_selector_add_req(&b, "app", PW_SEL_IN, VALS("shop")), 0);
	LABELS(&b.match_labels, "tier=web");
	assert_int_equal(pw_selector_add_req(&b, "tier", PW_SEL_IN, VALS("web")), 0); /* dup */

	assert_int_equal(pw_selector_add_req(&c, "app", PW_SEL_IN, VALS("shop", "cart")), 0);
	assert_int_equal(pw_selector_add_req(&c, "x", PW_SEL_EXISTS, NULL, 0), 0);
	assert_int_equal(pw_selector_add_req(&c, "y", PW_SEL_NOT_IN, VALS("1")), 0);

	sa = canon(&a);
	sb = canon(&b);
	sc = canon(&c);
	assert_string_equal(sa, "!gone,app=shop,env notin (ci,dev),tier=web");
	assert_string_equal(sa, sb);
	assert_string_equal(sc, "app in (cart,shop),x,y!=1");

	assert_int_equal(pw_selector_copy(&copy, &c), 0);
	scopy = canon(&copy);
	assert_string_equal(scopy, sc);
	free(sa);
	free(sb);
	free(sc);
	free(scopy);
	pw_selector_clear(&a);
	pw_selector_clear(&b);
	pw_selector_clear(&c);
	pw_selector_clear(&copy);
}

static void test_op_names(void **state)
{
	enum pw_sel_op op;

	assert_int_equal(pw_sel_op_parse("NotIn", &op), 0);
	assert_int_equal(op, PW_SEL_NOT_IN);
	assert_int_equal(pw_sel_op_parse("DoesNotExist", &op), 0);
	assert_int_equal(op, PW_SEL_DOES_NOT_EXIST);
	assert_int_equal(pw_sel_op_parse("notin", &op), -EINVAL);
	assert_int_equal(pw_sel_op_parse("Gt", &op), -EINVAL);
	assert_string_equal(pw_sel_op_str(PW_SEL_EXISTS), "Exists");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_labels_sorted_unique),
		cmocka_unit_test(test_match_labels),
		cmocka_unit_test(test_empty_and_null),
		cmocka_unit_test(test_operators),
		cmocka_unit_test(test_combination_is_and),
		cmocka_unit_test(test_values_sorted_deduplicated),
		cmocka_unit_test(test_canonical),
		cmocka_unit_test(test_op_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
