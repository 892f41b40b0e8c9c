// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Identity allocation: label sets to numbers, refcounting with deferred free, CIDR and cookie
 * tables, and the recovery hints that keep numbers stable across a daemon restart.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "identity.h"
#include "parse.h"
#include "store.h"

static void labels(struct pw_labels *l, const char *kv)
{
	char buf[256], *save = NULL, *tok;

	memset(l, 0, sizeof(*l));
	snprintf(buf, sizeof(buf), "%s", kv);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		*eq = '\0';
		assert_int_equal(pw_labels_set(l, tok, eq + 1), 0);
	}
}

static struct pw_ident *acq(struct pw_idtab *t, const char *ns, const char *nsl, const char *podl,
			    const char *ip)
{
	struct pw_labels a, b;
	struct pw_ident *id = NULL;
	struct pw_addr addr;

	labels(&a, nsl);
	labels(&b, podl);
	if (ip)
		assert_int_equal(pw_addr_parse(ip, &addr), 0);
	assert_int_equal(
		pw_ident_acquire(t, ns, &a, &b, NULL, 0, ip ? &addr : NULL, ip ? 1 : 0, true, &id),
		0);
	pw_labels_clear(&a);
	pw_labels_clear(&b);
	return id;
}

static void test_alloc_and_key(void **state)
{
	struct pw_idtab t;
	struct pw_ident *a, *b, *c, *d;
	char *key = NULL;
	struct pw_labels nsl, podl;

	pw_idtab_init(&t);
	a = acq(&t, "x", "kubernetes.io/metadata.name=x", "app=web", NULL);
	b = acq(&t, "x", "kubernetes.io/metadata.name=x", "app=web", NULL);
	c = acq(&t, "y", "kubernetes.io/metadata.name=y", "app=web", NULL);
	d = acq(&t, "x", "kubernetes.io/metadata.name=x,team=t", "app=web", NULL);
	assert_ptr_equal(a, b);
	assert_int_equal(a->refs, 2);
	assert_int_equal(a->id, PW_ID_FIRST_LOCAL);
	assert_int_not_equal(a->id, c->id);
	assert_int_not_equal(a->id, d->id);
	assert_true(c->id >= PW_ID_FIRST_LOCAL && !(c->id & PW_ID_CIDR_FLAG));
	assert_string_equal(a->key, "app=web;k8s:namespace=x;k8s:ns.kubernetes.io/metadata.name=x");
	/* a pod label cannot pose as a namespace label: the key keeps them apart */
	labels(&nsl, "kubernetes.io/metadata.name=x");
	labels(&podl, "app=web,ns.team=t");
	assert_int_equal(pw_ident_key("x", &nsl, &podl, NULL, 0, &key), 0);
	assert_string_not_equal(key, d->key);
	free(key);
	pw_labels_clear(&nsl);
	pw_labels_clear(&podl);
	assert_ptr_equal(pw_ident_get(&t, c->id), c);
	pw_idtab_clear(&t);
}

static void test_named_ports_in_key(void **state)
{
	struct pw_idtab t;
	struct pw_container_port p1[] = {{"http", 8080, 6}, {NULL, 9000, 6}};
	struct pw_container_port p2[] = {{"http", 9090, 6}};
	struct pw_ident *a, *b, *c;
	struct pw_labels nsl, podl;

	pw_idtab_init(&t);
	labels(&nsl, "kubernetes.io/metadata.name=x");
	labels(&podl, "app=web");
	assert_int_equal(pw_ident_acquire(&t, "x", &nsl, &podl, p1, 2, NULL, 0, false, &a), 0);
	assert_int_equal(pw_ident_acquire(&t, "x", &nsl, &podl, p2, 1, NULL, 0, false, &b), 0);
	assert_int_equal(pw_ident_acquire(&t, "x", &nsl, &podl, NULL, 0, NULL, 0, false, &c), 0);
	/* every pod of an identity resolves a named port identically */
	assert_int_not_equal(a->id, b->id);
	assert_int_not_equal(a->id, c->id);
	assert_int_equal(pw_ident_named_port(a, "http", 6), 8080);
	assert_int_equal(pw_ident_named_port(b, "http", 6), 9090);
	assert_int_equal(pw_ident_named_port(a, "http", 17), -ENOENT);
	assert_int_equal(pw_ident_named_port(c, "http", 6), -ENOENT);
	assert_non_null(strstr(a->key, "k8s:port.http/TCP=8080"));
	pw_labels_clear(&nsl);
	pw_labels_clear(&podl);
	pw_idtab_clear(&t);
}

static void test_refcount_deferred_free(void **state)
{
	struct pw_idtab t;
	struct pw_ident *a, *b;
	uint32_t id;

	pw_idtab_init(&t);
	a = acq(&t, "x", "l=x", "app=a", NULL);
	acq(&t, "x", "l=x", "app=a", NULL);
	id = a->id;
	pw_idtab_commit(&t);
	pw_ident_release(&t, a, true);
	pw_ident_release(&t, a, true);
	assert_int_equal(a->refs, 0);
	/* a zombie until the commit: re-acquiring (an undo) gives the same number back */
	assert_ptr_equal(pw_ident_get(&t, id), a);
	b = acq(&t, "x", "l=x", "app=a", NULL);
	assert_ptr_equal(a, b);
	pw_ident_release(&t, b, true);
	pw_idtab_commit(&t);
	assert_null(pw_ident_get(&t, id));
	assert_int_equal(t.n_ids, 0);
	/* numbers are not reused at once: flow records keep their meaning for a while */
	b = acq(&t, "x", "l=x", "app=b", NULL);
	assert_int_not_equal(b->id, id);
	assert_int_equal(b->local_refs, 1);
	pw_idtab_clear(&t);
}

static void test_cidr_identities(void **state)
{
	struct pw_idtab t;
	struct pw_prefix p, q;
	struct pw_cidr_ident *a, *b;

	pw_idtab_init(&t);
	assert_int_equal(pw_prefix_parse("10.0.0.0/8", &p, NULL), 0);
	assert_int_equal(pw_prefix_parse("fd00::/8", &q, NULL), 0);
	assert_int_equal(pw_cidr_acquire(&t, &p, &a), 0);
	assert_int_equal(pw_cidr_acquire(&t, &p, &b), 0);
	assert_ptr_equal(a, b);
	assert_true(a->id & PW_ID_CIDR_FLAG);
	assert_int_equal(pw_cidr_acquire(&t, &q, &b), 0);
	assert_int_not_equal(a->id, b->id);
	assert_true(pw_idtab_cidrs_changed(&t));
	pw_idtab_commit(&t);
	assert_false(pw_idtab_cidrs_changed(&t));
	pw_cidr_release(&t, &q);
	assert_true(pw_idtab_cidrs_changed(&t));
	pw_idtab_commit(&t);
	assert_null(pw_cidr_find(&t, &q));
	pw_cidr_release(&t, &p);
	assert_false(pw_idtab_cidrs_changed(&t)); /* still one reference */
	assert_ptr_equal(pw_cidr_get(&t, a->id), a);
	pw_idtab_clear(&t);
}

/*
 * Cluster mode: two nodes that meet label sets and prefixes in different orders, one after
 * history (freed identities), number them alike; a cleared table keeps the setting.
 */
static void test_derived_agree(void **state)
{
	static const char *const sets[] = {"app=a", "app=b,tier=web", "app=c", "app=a,v=2",
					   "app=d", "app=e,x=y"};
	const size_t n = sizeof(sets) / sizeof(sets[0]);
	struct pw_ident *x[6], *y[6], *tmp;
	struct pw_idtab t1, t2;
	struct pw_prefix p;
	struct pw_cidr_ident *c1, *c2;

	pw_idtab_init(&t1);
	pw_idtab_init(&t2);
	t1.derived = t2.derived = true;
	/* t2 saw and forgot other label sets first */
	tmp = acq(&t2, "ns", "", "app=old", NULL);
	pw_ident_release(&t2, tmp, true);
	pw_idtab_commit(&t2);
	for (size_t i = 0; i < n; i++) {
		x[i] = acq(&t1, "ns", "team=x", sets[i], NULL);
		y[n - 1 - i] = acq(&t2, "ns", "team=x", sets[n - 1 - i], NULL);
	}
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(x[i]->id, y[i]->id);
		assert_true(x[i]->id >= PW_ID_FIRST_LOCAL && x[i]->id < PW_ID_CIDR_FLAG);
	}
	assert_int_equal(pw_prefix_parse("198.51.100.0/24", &p, NULL), 0);
	assert_int_equal(pw_cidr_acquire(&t1, &p, &c1), 0);
	assert_int_equal(pw_prefix_parse("10.0.0.0/8", &p, NULL), 0);
	assert_int_equal(pw_cidr_acquire(&t2, &p, &c2), 0);
	assert_int_equal(pw_prefix_parse("198.51.100.0/24", &p, NULL), 0);
	assert_int_equal(pw_cidr_acquire(&t2, &p, &c2), 0);
	assert_int_equal(c1->id, c2->id);
	pw_idtab_clear(&t1);
	assert_true(t1.derived);
	pw_idtab_clear(&t2);
}

static void test_cookies_stable(void **state)
{
	struct pw_idtab t1, t2;
	uint32_t c1, c2, c3, c4;

	pw_idtab_init(&t1);
	pw_idtab_init(&t2);
	assert_int_equal(pw_cookie_acquire(&t1, "x", "p", PW_DIR_INGRESS, 0, &c1), 0);
	assert_int_equal(pw_cookie_acquire(&t1, "x", "p", PW_DIR_INGRESS, 1, &c2), 0);
	assert_int_equal(pw_cookie_acquire(&t1, "x", "p", PW_DIR_EGRESS, 0, &c3), 0);
	assert_true(c1 && c2 && c3 && c1 != c2 && c1 != c3 && c2 != c3);
	/* a restarted daemon (a fresh table) names the same rule with the same cookie */
	assert_int_equal(pw_cookie_acquire(&t2, "x", "p", PW_DIR_INGRESS, 1, &c4), 0);
	assert_int_equal(c2, c4);
	assert_string_equal(pw_cookie_get(&t1, c3)->name, "p");
	assert_int_equal(pw_cookie_get(&t1, c3)->dir, PW_DIR_EGRESS);
	assert_int_equal(pw_cookie_find(&t1, "x", "p", PW_DIR_INGRESS, 1), c2);
	pw_cookie_release(&t1, "x", "p", PW_DIR_INGRESS, 1);
	pw_idtab_commit(&t1);
	assert_null(pw_cookie_get(&t1, c2));
	assert_int_equal(pw_cookie_find(&t1, "x", "p", PW_DIR_INGRESS, 1), 0);
	pw_idtab_clear(&t1);
	pw_idtab_clear(&t2);
}

static void test_recovery_hints(void **state)
{
	struct pw_idtab t;
	struct pw_addr a;
	struct pw_prefix p;
	struct pw_ident *id, *other;
	struct pw_cidr_ident *c;

	pw_idtab_init(&t);
	/* what the pinned ipcache said before the restart */
	assert_int_equal(pw_addr_parse("198.18.0.7", &a), 0);
	assert_int_equal(pw_idtab_hint_addr(&t, &a, 4242), 0);
	assert_int_equal(pw_prefix_parse("10.0.0.0/8", &p, NULL), 0);
	assert_int_equal(pw_idtab_hint_prefix(&t, &p, PW_ID_CIDR_FLAG | 77), 0);
	/* a pod without that address gets a number above every recovered one */
	other = acq(&t, "x", "l=x", "app=other", "198.18.0.8");
	assert_true(other->id > 4242);
	/* the pod that had 198.18.0.7 gets its number back */
	id = acq(&t, "x", "l=x", "app=web", "198.18.0.7");
	assert_int_equal(id->id, 4242);
	assert_int_equal(pw_cidr_acquire(&t, &p, &c), 0);
	assert_int_equal(c->id, PW_ID_CIDR_FLAG | 77);
	/* once committed, stale hints are no longer used */
	pw_idtab_commit(&t);
	t.hints_done = true;
	pw_ident_release(&t, id, true);
	pw_idtab_commit(&t);
	id = acq(&t, "x", "l=x", "app=new", "198.18.0.7");
	assert_int_not_equal(id->id, 4242);
	pw_idtab_clear(&t);
}

static void test_store_namespace_relabels(void **state)
{
	const char *yaml =
		"apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: x, labels: {app: a}}\n"
		"status: {podIP: 198.18.0.1}\n---\n"
		"apiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: x, labels: {app: a}}\n"
		"status: {podIP: 198.18.0.2}\n";
	const char *ns = "apiVersion: v1\nkind: Namespace\nmetadata: {name: x, labels: {t: '1'}}\n";
	struct pw_manifest *m = NULL;
	struct pw_state st;
	struct pw_sobj *a, *b;
	uint32_t before;
	size_t i;

	pw_state_init(&st);
	assert_int_equal(pw_parse_buffer("t", yaml, strlen(yaml), NULL, &m, NULL), 0);
	for (i = 0; i < m->n; i++)
		assert_int_equal(pw_state_put(&st, &m->objs[i], "t"), 0);
	pw_manifest_free(m);
	pw_state_commit(&st);
	a = pw_state_find(&st, PW_KIND_POD, "x", "a");
	b = pw_state_find(&st, PW_KIND_POD, "x", "b");
	/* no Namespace object yet: the pods still carry the metadata.name label */
	assert_string_equal(pw_labels_get(&a->ident->ns_labels, "kubernetes.io/metadata.name"),
			    "x");
	assert_ptr_equal(a->ident, b->ident);
	assert_int_equal(a->ident->refs, 2);
	assert_false(a->local);
	before = a->ident->id;
	/* the namespace's labels join the identity: both pods move to a new one together */
	assert_int_equal(pw_parse_buffer("t", ns, strlen(ns), NULL, &m, NULL), 0);
	assert_int_equal(pw_state_put(&st, &m->objs[0], "t"), 0);
	pw_manifest_free(m);
	assert_int_not_equal(a->ident->id, before);
	assert_ptr_equal(a->ident, b->ident);
	assert_string_equal(pw_labels_get(&a->ident->ns_labels, "t"), "1");
	assert_int_equal(pw_ident_get(&st.ids, before)->refs, 0);
	pw_state_commit(&st);
	assert_null(pw_ident_get(&st.ids, before));
	/* deleting the namespace object goes back to the implicit label set, new number */
	assert_int_equal(pw_state_delete(&st, PW_KIND_NAMESPACE, NULL, "x"), 0);
	assert_null(pw_labels_get(&a->ident->ns_labels, "t"));
	pw_state_rollback(&st);
	assert_string_equal(pw_labels_get(&a->ident->ns_labels, "t"), "1");
	assert_int_equal(st.ids.n_ids, 1);
	assert_int_equal(pw_state_delete(&st, PW_KIND_POD, "x", "zz"), -ENOENT);
	pw_state_clear(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_and_key),
		cmocka_unit_test(test_named_ports_in_key),
		cmocka_unit_test(test_refcount_deferred_free),
		cmocka_unit_test(test_cidr_identities),
		cmocka_unit_test(test_cookies_stable),
		cmocka_unit_test(test_derived_agree),
		cmocka_unit_test(test_recovery_hints),
		cmocka_unit_test(test_store_namespace_relabels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
