// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwall suggest without a kernel: workload grouping (per-replica labels dropped), ipBlock
 * aggregation, named ports, DNS over both protocols, protocols without ports, namespace
 * scope, determinism, output the manifest parser accepts, and the flow-log reader on bad
 * input (truncated lines, foreign JSON, unknown kinds, overlong and binary lines).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "flowread.h"
#include "parse.h"
#include "suggest.h"
#include "yamlout.h"

/* a passing TCP/UDP flow record between two ends; an end is "ns/pod:labels" or an address */
static char *rec(const char *kind, const char *src_ip, const char *src, const char *dst_ip,
		 const char *dst, const char *proto, int dport)
{
	char *out, ends[2][512];
	const char *sides[2] = {src, dst};
	int pnum = !strcmp(proto, "TCP") ? 6 : !strcmp(proto, "UDP") ? 17 : 1;

	for (int i = 0; i < 2; i++) {
		char ns[64], pod[64], labels[256], lj[300] = "";
		const char *s = sides[i];

		if (s && sscanf(s, "%63[^/]/%63[^:]:%255s", ns, pod, labels) == 3) {
			char *save, *tok;
			size_t o = 0;

			for (tok = strtok_r(labels, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
				o += (size_t)snprintf(lj + o, sizeof(lj) - o, "%s\"%s\"", o ? "," : "",
						      tok);
			snprintf(ends[i], sizeof(ends[i]),
				 "{\"namespace\":\"%s\",\"pod_name\":\"%s\",\"labels\":[%s]}", ns, pod,
				 lj);
		} else {
			snprintf(ends[i], sizeof(ends[i]),
				 "{\"identity\":2,\"labels\":[\"reserved:world\"]}");
		}
	}
	assert_true(asprintf(&out,
			     "{\"time\":\"2026-11-22T02:04:49Z\",\"kind\":\"%s\",\"verdict\":\"%s\","
			     "\"IP\":{\"source\":\"%s\",\"destination\":\"%s\"},\"ip_protocol\":%d,"
			     "\"l4\":{\"%s\":{\"source_port\":40000,\"destination_port\":%d}},"
			     "\"source\":%s,\"destination\":%s}",
			     kind,
			     !strcmp(kind, "audit")	 ? "AUDIT"
			     : !strcmp(kind, "flow_denied") ? "DROPPED"
							    : "FORWARDED",
			     src_ip, dst_ip, pnum, pnum == 1 ? "ICMPv4" : proto, dport, ends[0],
			     ends[1]) > 0);
	return out;
}

static void feed(struct pw_suggest *sg, char *line)
{
	json_object *o = NULL;
	char msg[160];

	assert_int_equal(pw_flowread_line(line, strlen(line), &o, msg, sizeof(msg)), 0);
	assert_int_equal(pw_suggest_add_record(sg, o, msg, sizeof(msg)), 0);
	json_object_put(o);
	free(line);
}

static char *yaml_of(struct pw_suggest *sg, size_t *n_policies)
{
	json_object *arr = NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(pw_suggest_build(sg, &arr, NULL, NULL), 0);
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		if (i)
			fputs("---\n", f);
		pw_yaml_emit(f, json_object_array_get_idx(arr, i));
	}
	fclose(f);
	*n_policies = json_object_array_length(arr);
	json_object_put(arr);
	return buf;
}

/* the output is a manifest the daemon's parser accepts, with n NetworkPolicies */
static struct pw_manifest *parse_ok(const char *yaml, size_t n)
{
	struct pw_manifest *m = NULL;
	struct pw_diags d = {0};
	int err = pw_parse_buffer("suggested.yaml", yaml, strlen(yaml), NULL, &m, &d);

	for (size_t i = 0; i < d.n; i++)
		fprintf(stderr, "%s\n", d.v[i].text);
	assert_int_equal(err, 0);
	assert_int_equal(d.n_errors, 0);
	assert_int_equal(m->n, n);
	pw_diags_clear(&d);
	return m;
}

static struct pw_suggest *new_sg(const char *ns, uint8_t v4)
{
	struct pw_suggest_opts o = {.sz = sizeof(o), .ns = ns, .v4_prefix = v4};
	struct pw_suggest *sg = NULL;

	assert_int_equal(pw_suggest_new(&o, &sg), 0);
	return sg;
}

static void test_replicas_one_workload(void **state)
{
	struct pw_suggest *sg = new_sg(NULL, 0);
	struct pw_manifest *m;
	size_t n;
	char *y;

	feed(sg, rec("flow_new", "198.18.0.1", "shop/web-5d8f7c9b4-abcde:app=web,pod-template-hash=5d8f7c9b4",
		     "198.18.0.9", "db/pg-0:app=pg,controller-revision-hash=pg-7c", "TCP", 5432));
	feed(sg, rec("flow_new", "198.18.0.2", "shop/web-77aa8d9f1-xyzab:app=web,pod-template-hash=77aa8d9f1",
		     "198.18.0.9", "db/pg-1:app=pg,controller-revision-hash=pg-7c", "TCP", 5432));
	/* a denied flow is seen but allows nothing */
	feed(sg, rec("flow_denied", "198.18.0.2", "shop/web-77aa8d9f1-xyzab:app=web",
		     "198.18.0.9", "db/pg-1:app=pg", "TCP", 22));
	y = yaml_of(sg, &n);
	assert_int_equal(n, 2); /* web and pg, not four */
	assert_null(strstr(y, "pod-template-hash"));
	assert_null(strstr(y, "controller-revision-hash"));
	assert_null(strstr(y, "port: 22"));
	assert_non_null(strstr(y, "name: suggested-web\n"));
	assert_non_null(strstr(y, "name: suggested-pg\n"));
	assert_non_null(strstr(y, "kubernetes.io/metadata.name: shop"));
	m = parse_ok(y, 2);
	/* pg: ingress from web on 5432, egress nothing (isolated) */
	assert_int_equal(m->objs[0].kind, PW_KIND_NETPOL);
	assert_string_equal(m->objs[0].u.np.name, "suggested-pg");
	assert_int_equal(m->objs[0].u.np.n_ingress, 1);
	assert_true(m->objs[0].u.np.egress_set);
	assert_int_equal(m->objs[0].u.np.n_egress, 0);
	assert_int_equal(m->objs[0].u.np.ingress[0].ports[0].port, 5432);
	pw_manifest_free(m);
	free(y);
	pw_suggest_free(sg);
}

static void test_ipblock_aggregation(void **state)
{
	struct pw_suggest *sg = new_sg("shop", 0);
	const char *web = "shop/web-1:app=web";
	size_t n;
	char *y;

	/* .0-.3 make a /30; .8 stays alone; .20 has another port set: its own rule */
	for (int i = 0; i < 4; i++) {
		char a[32];

		snprintf(a, sizeof(a), "198.19.0.%d", i);
		feed(sg, rec("flow_new", "198.18.0.1", web, a, NULL, "TCP", 443));
	}
	feed(sg, rec("flow_new", "198.18.0.1", web, "198.19.0.8", NULL, "TCP", 443));
	feed(sg, rec("flow_new", "198.18.0.1", web, "198.19.0.20", NULL, "TCP", 80));
	feed(sg, rec("flow_new", "198.18.0.1", web, "fd00::5", NULL, "TCP", 443));
	y = yaml_of(sg, &n);
	assert_int_equal(n, 1);
	assert_non_null(strstr(y, "cidr: 198.19.0.0/30\n"));
	assert_non_null(strstr(y, "cidr: 198.19.0.8/32\n"));
	assert_non_null(strstr(y, "cidr: 198.19.0.20/32\n"));
	assert_non_null(strstr(y, "cidr: fd00::5/128\n"));
	assert_null(strstr(y, "198.19.0.1/32"));
	pw_manifest_free(parse_ok(y, 1));
	free(y);
	pw_suggest_free(sg);

	/* widened to /24: two /24 neighbours merge into a /23 */
	sg = new_sg("shop", 24);
	feed(sg, rec("flow_new", "198.18.0.1", web, "198.19.0.7", NULL, "TCP", 443));
	feed(sg, rec("flow_new", "198.18.0.1", web, "198.19.1.9", NULL, "TCP", 443));
	feed(sg, rec("flow_new", "198.18.0.1", web, "198.19.9.9", NULL, "TCP", 443));
	y = yaml_of(sg, &n);
	assert_non_null(strstr(y, "cidr: 198.19.0.0/23\n"));
	assert_non_null(strstr(y, "cidr: 198.19.9.0/24\n"));
	free(y);
	pw_suggest_free(sg);
}

static void test_named_ports(void **state)
{
	static const char pods[] = "apiVersion: v1\nkind: Pod\nmetadata: {namespace: db, name: pg-0}\n"
				   "spec:\n  containers:\n  - name: c\n    image: x\n    ports:\n"
				   "    - {name: pgsql, containerPort: 5432}\n"
				   "---\napiVersion: v1\nkind: Pod\nmetadata: {namespace: db, name: pg-1}\n"
				   "spec:\n  containers:\n  - name: c\n    image: x\n    ports:\n"
				   "    - {name: pgsql, containerPort: 5432}\n"
				   "---\napiVersion: v1\nkind: Pod\nmetadata: {namespace: db, name: pg-2}\n"
				   "spec:\n  containers:\n  - name: c\n    image: x\n";
	struct pw_manifest *m = NULL;
	struct pw_suggest *sg = new_sg(NULL, 0);
	size_t n;
	char *y;

	assert_int_equal(pw_parse_buffer("pods", pods, sizeof(pods) - 1, NULL, &m, NULL), 0);
	assert_int_equal(pw_suggest_add_pods(sg, m), 0);
	pw_manifest_free(m);
	feed(sg, rec("flow_new", "198.18.0.1", "shop/web-1:app=web", "198.18.0.9", "db/pg-0:app=pg",
		     "TCP", 5432));
	feed(sg, rec("flow_new", "198.18.0.1", "shop/web-1:app=web", "198.18.0.10", "db/pg-1:app=pg",
		     "TCP", 5432));
	y = yaml_of(sg, &n);
	assert_non_null(strstr(y, "port: pgsql"));
	assert_null(strstr(y, "port: 5432"));
	free(y);
	/* a third replica that does not name it: the number, which holds for every replica */
	feed(sg, rec("flow_new", "198.18.0.1", "shop/web-1:app=web", "198.18.0.11", "db/pg-2:app=pg",
		     "TCP", 5432));
	y = yaml_of(sg, &n);
	assert_null(strstr(y, "port: pgsql"));
	assert_non_null(strstr(y, "port: 5432"));
	pw_manifest_free(parse_ok(y, 2));
	free(y);
	pw_suggest_free(sg);
}

static void test_dns_icmp_ranges(void **state)
{
	struct pw_suggest *sg = new_sg("shop", 0);
	size_t n;
	char *y, *icmp;

	feed(sg, rec("flow_new", "198.18.0.1", "shop/web-1:app=web", "198.18.0.53",
		     "kube-system/coredns-1:k8s-app=kube-dns", "UDP", 53));
	/* three consecutive ports: one range; an audit record passed, so it counts */
	for (int p = 8000; p < 8003; p++)
		feed(sg, rec(p == 8001 ? "audit" : "flow_new", "198.18.0.1", "shop/web-1:app=web",
			     "198.18.0.9", "db/pg-0:app=pg", "TCP", p));
	feed(sg, rec("flow_new", "198.18.0.1", "shop/web-1:app=web", "198.18.0.9", "db/pg-0:app=pg",
		     "TCP", 9000));
	/* ICMP to the outside host: NetworkPolicy cannot name ICMP: every port of that peer */
	assert_true(asprintf(&icmp,
			     "{\"kind\":\"flow_new\",\"verdict\":\"FORWARDED\",\"IP\":{\"source\":"
			     "\"198.18.0.1\",\"destination\":\"198.19.0.1\"},\"ip_protocol\":1,"
			     "\"l4\":{\"ICMPv4\":{\"echo_id\":3}},\"source\":{\"namespace\":\"shop\","
			     "\"pod_name\":\"web-1\",\"labels\":[\"app=web\"]},\"destination\":"
			     "{\"identity\":2}}") > 0);
	feed(sg, icmp);
	y = yaml_of(sg, &n);
	assert_int_equal(n, 1); /* -n shop: no policy for kube-system or db */
	/* DNS over both protocols */
	assert_non_null(strstr(y, "- protocol: TCP\n      port: 53\n    - protocol: UDP\n      port: 53\n"));
	assert_non_null(strstr(y, "port: 8000\n      endPort: 8002\n"));
	assert_non_null(strstr(y, "port: 9000\n"));
	/* the ICMP peer's rule has no ports */
	assert_non_null(strstr(y, "cidr: 198.19.0.1/32\n"));
	assert_null(strstr(strstr(y, "cidr: 198.19.0.1/32"), "ports:"));
	pw_manifest_free(parse_ok(y, 1));
	free(y);
	pw_suggest_free(sg);
}

static void test_deterministic(void **state)
{
	static const char *const ips[] = {"198.19.0.4", "198.19.0.5", "198.18.0.9", "fd00::9"};
	static const char *const ends[] = {NULL, NULL, "db/pg-0:app=pg", "db/pg-0:app=pg"};
	char *y[2];
	size_t n;

	for (int run = 0; run < 2; run++) {
		struct pw_suggest *sg = new_sg(NULL, 0);

		for (int k = 0; k < 4; k++) {
			int i = run ? 3 - k : k;

			feed(sg, rec("flow_new", "198.18.0.1", "shop/web-1:app=web,tier=a", ips[i],
				     ends[i], i & 1 ? "UDP" : "TCP", 1000 + i));
			feed(sg, rec("flow_new", "198.18.0.3", "shop/zz-1:app=zz", ips[i], ends[i],
				     "TCP", 7));
		}
		y[run] = yaml_of(sg, &n);
		pw_suggest_free(sg);
	}
	assert_string_equal(y[0], y[1]);
	free(y[0]);
	free(y[1]);
}

struct badlog {
	unsigned long lines[16];
	char msgs[16][160];
	int n_bad, n_rec;
};

static void on_bad(void *ctx, const char *file, unsigned long line, const char *msg)
{
	struct badlog *b = ctx;

	if (b->n_bad < 16) {
		b->lines[b->n_bad] = line;
		snprintf(b->msgs[b->n_bad], sizeof(b->msgs[0]), "%s", msg);
	}
	b->n_bad++;
}

static int on_rec(void *ctx, json_object *rec, const char *file, unsigned long line)
{
	((struct badlog *)ctx)->n_rec++;
	return 0;
}

static void test_reader_bad_input(void **state)
{
	static const struct pw_flowread_ops ops = {.record = on_rec, .bad = on_bad};
	char path[] = "/tmp/pw-test-suggest-XXXXXX", rot[64];
	struct badlog b = {0};
	int fd = mkstemp(path);
	FILE *f;

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs("{\"kind\":\"flow_new\",\"verdict\":\"FORWARDED\"}\n", f); /* 1 ok */
	fputs("\n", f);							      /* 2 blank */
	fputs("{\"kind\":\"bogus\"}\n", f);				      /* 3 */
	fputs("{\"apiVersion\":\"v1\",\"kind\":\"Pod\"}\n", f);		      /* 4 foreign */
	fputs("\x01\xff\xfe garbage\n", f);				      /* 5 binary */
	fputs("{\"kind\":\"lost\"} {\"kind\":\"lost\"}\n", f);		      /* 6 two */
	for (int i = 0; i < (1 << 20) + 10; i++)			      /* 7 overlong */
		fputc('a', f);
	fputs("\n{\"kind\":\"flow_end\",\"verdict\":\"FORWARDED\"}\n", f); /* 8 ok */
	fputs("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n", f); /* 9 deep */
	fputs("{\"kind\":\"flow_new\",\"verd", f);			     /* 10 truncated */
	fclose(f);
	/* a rotated sibling, read first */
	snprintf(rot, sizeof(rot), "%s.1", path);
	f = fopen(rot, "w");
	fputs("{\"kind\":\"audit\",\"verdict\":\"AUDIT\"}\n", f);
	fclose(f);

	assert_int_equal(pw_flowread_path(path, true, &ops, &b), 0);
	assert_int_equal(b.n_rec, 3);
	assert_int_equal(b.n_bad, 7);
	assert_int_equal(b.lines[0], 3);
	assert_non_null(strstr(b.msgs[0], "unknown record kind \"bogus\""));
	assert_int_equal(b.lines[1], 4);
	assert_non_null(strstr(b.msgs[1], "unknown record kind \"Pod\""));
	assert_int_equal(b.lines[2], 5);
	assert_int_equal(b.lines[3], 6);
	assert_non_null(strstr(b.msgs[3], "text after"));
	assert_int_equal(b.lines[4], 7);
	assert_non_null(strstr(b.msgs[4], "longer than 1 MiB"));
	assert_int_equal(b.lines[5], 9);
	assert_int_equal(b.lines[6], 10);
	assert_non_null(strstr(b.msgs[6], "truncated"));

	/* without rotated: only the file itself */
	memset(&b, 0, sizeof(b));
	assert_int_equal(pw_flowread_path(path, false, &ops, &b), 0);
	assert_int_equal(b.n_rec, 2);
	/* a missing file is an error; a missing rotated sibling is not */
	unlink(rot);
	assert_int_equal(pw_flowread_path(path, true, &ops, &b), 0);
	unlink(path);
	assert_int_equal(pw_flowread_path(path, true, &ops, &b), -ENOENT);
}

static void test_unusable_records(void **state)
{
	static const char *const recs[] = {
		/* no source object */
		"{\"kind\":\"flow_new\",\"verdict\":\"FORWARDED\",\"IP\":{\"destination\":\"198.18.0.1\"},\"ip_protocol\":6}",
		/* a port out of range */
		"{\"kind\":\"flow_new\",\"verdict\":\"FORWARDED\",\"IP\":{\"source\":\"198.18.0.1\",\"destination\":\"198.18.0.2\"},\"ip_protocol\":6,\"l4\":{\"TCP\":{\"destination_port\":70000}},\"source\":{},\"destination\":{}}",
		/* an address that is none */
		"{\"kind\":\"flow_new\",\"verdict\":\"FORWARDED\",\"IP\":{\"source\":\"not-an-ip\",\"destination\":\"198.18.0.2\"},\"ip_protocol\":17,\"source\":{},\"destination\":{}}",
		/* labels of the wrong type */
		"{\"kind\":\"flow_new\",\"verdict\":\"FORWARDED\",\"IP\":{\"source\":\"198.18.0.1\",\"destination\":\"198.18.0.2\"},\"ip_protocol\":6,\"source\":{\"namespace\":\"a\",\"pod_name\":\"b\",\"labels\":7},\"destination\":{}}",
		/* protocol is a string */
		"{\"kind\":\"flow_end\",\"verdict\":\"FORWARDED\",\"IP\":{\"source\":\"198.18.0.1\",\"destination\":\"198.18.0.2\"},\"ip_protocol\":\"tcp\",\"source\":{},\"destination\":{}}",
	};
	struct pw_suggest *sg = new_sg(NULL, 0);
	json_object *arr = NULL;
	char msg[160];

	for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++) {
		json_object *o = NULL;

		assert_int_equal(pw_flowread_line(recs[i], strlen(recs[i]), &o, msg, sizeof(msg)), 0);
		msg[0] = 0;
		assert_int_equal(pw_suggest_add_record(sg, o, msg, sizeof(msg)), -EINVAL);
		assert_true(msg[0] != 0);
		json_object_put(o);
	}
	assert_int_equal(pw_suggest_stats(sg)->unusable, 5);
	assert_int_equal(pw_suggest_build(sg, &arr, NULL, NULL), 0);
	assert_int_equal(json_object_array_length(arr), 0);
	json_object_put(arr);
	pw_suggest_free(sg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replicas_one_workload),
		cmocka_unit_test(test_ipblock_aggregation),
		cmocka_unit_test(test_named_ports),
		cmocka_unit_test(test_dns_icmp_ranges),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_reader_bad_input),
		cmocka_unit_test(test_unusable_records),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
