// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests of the daemon's plumbing: the control-socket framing and envelopes (proto.c),
 * the manifests-directory watcher (mdir.c, on a private temporary directory) and the link
 * watcher (linkwatch.c, in a network namespace of a child process: it dies with the child,
 * so nothing can be left behind and the machine's own links are never touched).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "linkwatch.h"
#include "mdir.h"
#include "proto.h"
#include "yamlout.h"
#include <libfyaml.h>

/* --- framing ----------------------------------------------------------------------------- */

static void write_str(int fd, const char *s)
{
	assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

static void test_linebuf_split(void **state)
{
	struct pw_linebuf lb;
	int sv[2];
	char *line;
	size_t len;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pw_linebuf_init(&lb, 1024);

	/* a line in two pieces is returned only once complete */
	write_str(sv[0], "{\"a\":");
	assert_true(pw_linebuf_fill(&lb, sv[1]) > 0);
	assert_int_equal(pw_linebuf_next(&lb, &line, &len), 0);
	write_str(sv[0], "1}\n{\"b\":2}\r\n{\"c\"");
	assert_true(pw_linebuf_fill(&lb, sv[1]) > 0);
	assert_int_equal(pw_linebuf_next(&lb, &line, &len), 1);
	assert_string_equal(line, "{\"a\":1}");
	assert_int_equal(len, 7);
	/* CRLF from hand-written clients */
	assert_int_equal(pw_linebuf_next(&lb, &line, &len), 1);
	assert_string_equal(line, "{\"b\":2}");
	assert_int_equal(pw_linebuf_next(&lb, &line, &len), 0);
	assert_int_equal(pw_linebuf_pending(&lb), 4);
	write_str(sv[0], ":3}\n");
	assert_true(pw_linebuf_fill(&lb, sv[1]) > 0);
	assert_int_equal(pw_linebuf_next(&lb, &line, &len), 1);
	assert_string_equal(line, "{\"c\":3}");

	/* end of stream */
	close(sv[0]);
	assert_int_equal(pw_linebuf_fill(&lb, sv[1]), 0);
	close(sv[1]);
	pw_linebuf_free(&lb);
}

static void test_linebuf_limit(void **state)
{
	struct pw_linebuf lb;
	char big[200];
	int sv[2];
	char *line;
	size_t len;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pw_linebuf_init(&lb, 64);
	memset(big, 'x', sizeof(big));
	assert_int_equal(write(sv[0], big, sizeof(big)), (ssize_t)sizeof(big));
	/* refused before the line is complete: a peer cannot make us buffer it whole */
	assert_true(pw_linebuf_fill(&lb, sv[1]) > 0);
	assert_int_equal(pw_linebuf_next(&lb, &line, &len), -EMSGSIZE);
	close(sv[0]);
	close(sv[1]);
	pw_linebuf_free(&lb);

	/* a complete line over the limit is refused too */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pw_linebuf_init(&lb, 8);
	write_str(sv[0], "0123456789\nok\n");
	assert_true(pw_linebuf_fill(&lb, sv[1]) > 0);
	assert_int_equal(pw_linebuf_next(&lb, &line, &len), -EMSGSIZE);
	close(sv[0]);
	close(sv[1]);
	pw_linebuf_free(&lb);
}

static void test_encode_decode(void **state)
{
	json_object *o = json_object_new_object(), *back = NULL;
	char *line = NULL;
	size_t len;

	/* newlines inside strings are escaped: one message stays one line */
	json_object_object_add(o, "data", json_object_new_string("a: 1\n---\nb: 2\n"));
	assert_int_equal(pw_proto_encode(o, &line, &len), 0);
	assert_int_equal(line[len - 1], '\n');
	assert_null(memchr(line, '\n', len - 1));
	assert_int_equal(pw_proto_decode(line, len - 1, &back), 0);
	assert_string_equal(pw_json_str(back, "data"), "a: 1\n---\nb: 2\n");
	json_object_put(back);
	free(line);
	json_object_put(o);

	assert_int_equal(pw_proto_decode("[1,2]", 5, &back), -EBADMSG);
	assert_null(back);
	assert_int_equal(pw_proto_decode("{\"a\":1} x", 9, &back), -EBADMSG);
	assert_int_equal(pw_proto_decode("{\"a\":", 5, &back), -EBADMSG);
	assert_int_equal(pw_proto_decode("{\"a\":1}  ", 9, &back), 0);
	json_object_put(back);
}

static void test_envelopes(void **state)
{
	json_object *req = pw_proto_request(PW_OP_EXPLAIN), *res, *result, *diags, *d;
	const char *msg;
	enum pw_op op;

	assert_non_null(req);
	assert_int_equal(pw_proto_request_op(req, &op), 0);
	assert_int_equal(op, PW_OP_EXPLAIN);
	json_object_object_add(req, "v", json_object_new_int(99));
	assert_int_equal(pw_proto_request_op(req, &op), -EPROTO);
	json_object_object_add(req, "v", json_object_new_int(PW_PROTO_VERSION));
	json_object_object_add(req, "op", json_object_new_string("reboot"));
	assert_int_equal(pw_proto_request_op(req, &op), -EOPNOTSUPP);
	json_object_put(req);

	for (int i = 0; i < PW_OP_COUNT; i++) {
		assert_int_equal(pw_op_parse(pw_op_name((enum pw_op)i), &op), 0);
		assert_int_equal(op, i);
	}

	res = pw_proto_ok(json_object_new_int(7));
	assert_int_equal(pw_proto_response(res, &result, &msg, &diags), 0);
	assert_int_equal(json_object_get_int(result), 7);
	json_object_put(res);

	d = json_object_new_array();
	json_object_array_add(d, json_object_new_string("f.yaml: document 2: spec: bad"));
	res = pw_proto_error(d, "nothing changed (%d)", 3);
	assert_int_equal(pw_proto_response(res, &result, &msg, &diags), -EREMOTEIO);
	assert_string_equal(msg, "nothing changed (3)");
	assert_int_equal(json_object_array_length(diags), 1);
	json_object_put(res);

	res = json_object_new_object();
	assert_int_equal(pw_proto_response(res, &result, &msg, &diags), -EBADMSG);
	json_object_put(res);
}

/* A request/response round trip over a socket pair, the server answering by hand. */
static void test_call(void **state)
{
	struct pw_linebuf lb, srv;
	json_object *req = pw_proto_request(PW_OP_STATUS), *resp = NULL, *got = NULL;
	char *line;
	size_t len;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pw_linebuf_init(&lb, 0);
	pw_linebuf_init(&srv, 0);
	/* the answer is already queued, followed by a streamed line the client keeps */
	write_str(sv[1], "{\"ok\":true,\"result\":{\"n\":1}}\n{\"flow\":{}}\n");
	assert_int_equal(pw_proto_call(sv[0], &lb, req, &resp), 0);
	assert_int_equal(pw_json_int(pw_json_object(resp, "result"), "n", 0), 1);
	assert_int_equal(pw_proto_read(sv[0], &lb, &got), 0);
	assert_non_null(pw_json_object(got, "flow"));
	json_object_put(got);
	/* the server saw the request */
	assert_true(pw_linebuf_fill(&srv, sv[1]) > 0);
	assert_int_equal(pw_linebuf_next(&srv, &line, &len), 1);
	assert_int_equal(pw_proto_decode(line, len, &got), 0);
	assert_string_equal(pw_json_str(got, "op"), "status");
	json_object_put(got);
	/* a daemon that hangs up without answering */
	close(sv[1]);
	json_object_put(resp);
	assert_int_equal(pw_proto_call(sv[0], &lb, req, &resp), -ECONNRESET);
	close(sv[0]);
	json_object_put(req);
	pw_linebuf_free(&lb);
	pw_linebuf_free(&srv);
}

/* --- YAML output ------------------------------------------------------------------------- */

/* Emit v as YAML, read it back with libfyaml (as JSON) and compare. */
static void yaml_roundtrip(const char *json)
{
	json_object *v = json_tokener_parse(json), *back;
	struct fy_document *fyd;
	char *buf = NULL, *out;
	size_t len = 0;
	FILE *f;

	assert_non_null(v);
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	pw_yaml_emit(f, v);
	fclose(f);
	fyd = fy_document_build_from_string(NULL, buf, len);
	if (!fyd)
		fail_msg("libfyaml cannot read back:\n%s", buf);
	out = fy_emit_document_to_string(fyd, FYECF_MODE_JSON_ONELINE);
	assert_non_null(out);
	back = json_tokener_parse(out);
	if (!back || !json_object_equal(v, back))
		fail_msg("YAML round trip changed the value:\n%s\n-> %s\nwas %s", buf, out, json);
	json_object_put(back);
	free(out);
	fy_document_destroy(fyd);
	free(buf);
	json_object_put(v);
}

static void test_yaml_output(void **state)
{
	/* strings a YAML reader would take for something else must come back as strings */
	yaml_roundtrip("{\"a\":\"true\",\"b\":\"80\",\"c\":\"\",\"d\":\"-\",\"e\":\"*x\","
		       "\"f\":\"a: b\",\"g\":\"# c\",\"h\":\"1e3\",\"i\":\"null\",\"j\":\" x\","
		       "\"k\":\"line\\nbreak\",\"l\":\"q\\\"uote\",\"m\":\"198.18.0.1\","
		       "\"n\":\"fd00::1\",\"o\":\"[x]\",\"p\":\"{}\",\"q\":\"~\",\"r\":\"-5\","
		       "\"s\":\"tab\\there\",\"t\":\"k8s:ns.team=x\",\"u\":\"7000\"}");
	/* keys too */
	yaml_roundtrip("{\"80\":1,\"a: b\":2,\"true\":3,\"q\\\"k\":4}");
	/* nesting, empty containers, sequences of maps and of sequences, scalars */
	yaml_roundtrip("{\"items\":[{\"name\":\"a\",\"ips\":[\"198.18.0.1\",\"fd00::1\"],"
		       "\"labels\":{},\"ports\":[]},{\"name\":\"b\",\"n\":-3,\"ok\":false,"
		       "\"none\":null}],\"m\":[[1,2],[],[{\"x\":{\"y\":[true]}}]],\"e\":{}}");
	yaml_roundtrip("[\"a\",1,{\"b\":[{}]}]");
}

/* --- manifests directory ------------------------------------------------------------------ */

struct seen {
	int n;
	char path[16][PATH_MAX];
	enum pw_mdir_event ev[16];
};

static void mdir_cb(void *ctx, const char *path, enum pw_mdir_event ev)
{
	struct seen *s = ctx;

	if (s->n < 16) {
		snprintf(s->path[s->n], PATH_MAX, "%s", strrchr(path, '/') + 1);
		s->ev[s->n] = ev;
	}
	s->n++;
}

static void put_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void expect(struct seen *s, int i, const char *name, enum pw_mdir_event ev)
{
	assert_true(i < s->n);
	assert_string_equal(s->path[i], name);
	assert_int_equal(s->ev[i], ev);
}

static void rm_tree(const char *dir)
{
	char cmd[PATH_MAX + 16];

	/* only ever our own mkdtemp directory */
	assert_non_null(strstr(dir, "/pw-test-mdir."));
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_mdir(void **state)
{
	char dir[] = "/tmp/pw-test-mdir.XXXXXX", a[PATH_MAX], b[PATH_MAX];
	struct pw_mdir *m = NULL;
	struct seen s = {0};

	assert_non_null(mkdtemp(dir));
	put_file(dir, "b.yaml", "kind: Namespace\n");
	put_file(dir, "a.json", "{}");
	put_file(dir, "notes.txt", "ignored");
	assert_int_equal(pw_mdir_open(dir, mdir_cb, &s, &m), 0);

	/* the first scan reports what is there, in name order */
	assert_int_equal(pw_mdir_scan(m), 0);
	assert_int_equal(s.n, 2);
	expect(&s, 0, "a.json", PW_MDIR_CHANGED);
	expect(&s, 1, "b.yaml", PW_MDIR_CHANGED);

	/* a write is reported at close; hidden files and other suffixes never */
	s.n = 0;
	put_file(dir, "c.yml", "x: 1\n");
	put_file(dir, ".c.yml.swp", "junk");
	put_file(dir, "c.yml~", "junk");
	assert_int_equal(pw_mdir_process(m), 0);
	assert_int_equal(s.n, 1);
	expect(&s, 0, "c.yml", PW_MDIR_CHANGED);

	/* atomic replace: written under another name, renamed into place */
	s.n = 0;
	put_file(dir, "d.yaml.tmp", "y: 1\n");
	snprintf(a, sizeof(a), "%s/d.yaml.tmp", dir);
	snprintf(b, sizeof(b), "%s/d.yaml", dir);
	assert_int_equal(rename(a, b), 0);
	assert_int_equal(pw_mdir_process(m), 0);
	assert_int_equal(s.n, 1);
	expect(&s, 0, "d.yaml", PW_MDIR_CHANGED);

	/* a symlink counts when it appears (ConfigMap volumes) */
	s.n = 0;
	snprintf(a, sizeof(a), "%s/e.yaml", dir);
	assert_int_equal(symlink("d.yaml", a), 0);
	assert_int_equal(pw_mdir_process(m), 0);
	assert_int_equal(s.n, 1);
	expect(&s, 0, "e.yaml", PW_MDIR_CHANGED);

	/* removal and moving away */
	s.n = 0;
	snprintf(a, sizeof(a), "%s/c.yml", dir);
	assert_int_equal(unlink(a), 0);
	snprintf(a, sizeof(a), "%s/b.yaml", dir);
	snprintf(b, sizeof(b), "%s/b.yaml.disabled", dir);
	assert_int_equal(rename(a, b), 0);
	assert_int_equal(pw_mdir_process(m), 0);
	assert_int_equal(s.n, 2);
	expect(&s, 0, "c.yml", PW_MDIR_REMOVED);
	expect(&s, 1, "b.yaml", PW_MDIR_REMOVED);

	/* a rescan reports what vanished unseen (as after a queue overflow) */
	pw_mdir_close(m);
	m = NULL;
	s.n = 0;
	assert_int_equal(pw_mdir_open(dir, mdir_cb, &s, &m), 0);
	assert_int_equal(pw_mdir_scan(m), 0);
	assert_int_equal(s.n, 3); /* a.json d.yaml e.yaml */
	s.n = 0;
	snprintf(a, sizeof(a), "%s/a.json", dir);
	assert_int_equal(unlink(a), 0);
	assert_int_equal(pw_mdir_scan(m), 0);
	assert_int_equal(s.n, 3);
	expect(&s, 0, "a.json", PW_MDIR_REMOVED);
	expect(&s, 1, "d.yaml", PW_MDIR_CHANGED);
	expect(&s, 2, "e.yaml", PW_MDIR_CHANGED);

	/* opening something that is not a directory fails cleanly */
	pw_mdir_close(m);
	m = NULL;
	snprintf(a, sizeof(a), "%s/d.yaml", dir);
	assert_int_equal(pw_mdir_open(a, mdir_cb, &s, &m), -ENOTDIR);
	assert_null(m);

	assert_true(pw_mdir_is_manifest("x.yaml"));
	assert_false(pw_mdir_is_manifest(".yaml"));
	assert_false(pw_mdir_is_manifest("x.yaml.bak"));
	rm_tree(dir);
}

/* --- link watcher -------------------------------------------------------------------------- */

struct links {
	int n;
	char name[16][16];
	uint32_t idx[16];
};

static void link_cb(void *ctx, const char *name, uint32_t ifindex)
{
	struct links *l = ctx;

	if (l->n < 16) {
		snprintf(l->name[l->n], 16, "%s", name);
		l->idx[l->n] = ifindex;
	}
	l->n++;
}

/* checks in the child: a failed one exits with its line number */
#define CHECK(c)                                                                                 \
	do {                                                                                     \
		if (!(c)) {                                                                      \
			fprintf(stderr, "linkwatch child: %s:%d: %s\n", __FILE__, __LINE__, #c); \
			_exit(1);                                                                \
		}                                                                                \
	} while (0)

static int find_link(struct links *l, const char *name, bool up)
{
	for (int i = 0; i < l->n && i < 16; i++) {
		if (!strcmp(l->name[i], name) && (l->idx[i] != 0) == up)
			return i;
	}
	return -1;
}

static void linkwatch_child(void)
{
	struct pw_linkwatch *lw = NULL;
	struct links l = {0};
	int i;

	/* a fresh netns holding only lo: whatever we create dies with this process */
	CHECK(unshare(CLONE_NEWNET) == 0);
	CHECK(pw_linkwatch_open(link_cb, &l, &lw) == 0);
	CHECK(pw_linkwatch_count(lw) == 1); /* lo */
	CHECK(l.n == 0);		    /* the initial dump is not reported */
	pw_linkwatch_replay(lw);
	CHECK(l.n == 1 && !strcmp(l.name[0], "lo") && l.idx[0] == 1);

	l.n = 0;
	CHECK(system("ip link add pwt0 type veth peer name pwt1") == 0);
	CHECK(pw_linkwatch_process(lw) == 0);
	CHECK(l.n == 2);
	CHECK(find_link(&l, "pwt0", true) >= 0 && find_link(&l, "pwt1", true) >= 0);

	/* state changes are not link changes */
	l.n = 0;
	CHECK(system("ip link set pwt0 up && ip link set pwt1 up && ip link set pwt0 mtu 1400") ==
	      0);
	CHECK(pw_linkwatch_process(lw) == 0);
	CHECK(l.n == 0);

	/* a rename reports the old name gone and the new one present, same ifindex */
	CHECK(system("ip link set pwt1 down && ip link set pwt1 name pwt2") == 0);
	CHECK(pw_linkwatch_process(lw) == 0);
	CHECK(l.n == 2);
	i = find_link(&l, "pwt1", false);
	CHECK(i >= 0);
	i = find_link(&l, "pwt2", true);
	CHECK(i >= 0 && l.idx[i] > 1);

	l.n = 0;
	CHECK(system("ip link del pwt0") == 0); /* takes its peer with it */
	CHECK(pw_linkwatch_process(lw) == 0);
	CHECK(l.n == 2);
	CHECK(find_link(&l, "pwt0", false) >= 0 && find_link(&l, "pwt2", false) >= 0);
	CHECK(pw_linkwatch_count(lw) == 1);
	pw_linkwatch_close(lw);
	_exit(0);
}

static void test_linkwatch(void **state)
{
	pid_t pid;
	int status;

	if (geteuid() != 0) {
		/* creating a network namespace needs root; the test suite runs as root */
		fail_msg("test_linkwatch needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN)");
	}
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		linkwatch_child();
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_linebuf_split), cmocka_unit_test(test_linebuf_limit),
		cmocka_unit_test(test_encode_decode), cmocka_unit_test(test_envelopes),
		cmocka_unit_test(test_call),	      cmocka_unit_test(test_yaml_output),
		cmocka_unit_test(test_mdir),	      cmocka_unit_test(test_linkwatch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
