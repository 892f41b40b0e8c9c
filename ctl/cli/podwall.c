// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwall: the command-line client of podwalld, with kubectl's habits: `apply -f`, `get`,
 * `describe`, messages like "networkpolicy.networking.k8s.io/allow-b created", errors as
 * "error: ..." on stderr and exit code 1.
 *
 * Driven by a command table; each command has its own option table, and --help everywhere.
 * Manifests are parsed here first with the daemon's own parser, so a typo is reported
 * without a round trip and without touching anything; the daemon parses them again (it
 * trusts no client) and answers only once the change is enforced in the kernel.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "flowfilter.h"
#include "mdir.h"
#include "parse.h"
#include "proto.h"
#include "yamlout.h"

#define PW_CLI_MAX_INPUT (16u << 20) /* the parser's default max_bytes */

struct cli {
	const char *socket;
	int fd;
	struct pw_linebuf lb;
};

static const char *prog = "podwall";

static void errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void errorf(const char *fmt, ...)
{
	va_list ap;

	fputs("error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* --- talking to the daemon ---------------------------------------------------------------- */

static int cli_connect(struct cli *c)
{
	int fd;

	if (c->fd >= 0)
		return 0;
	fd = pw_proto_connect(c->socket);
	if (fd < 0) {
		if (fd == -ENOENT || fd == -ECONNREFUSED)
			errorf("cannot reach podwalld at %s: %s (is the daemon running? --socket "
			       "or %s selects another)",
			       c->socket, strerror(-fd), PW_SOCKET_ENV);
		else
			errorf("cannot connect to %s: %s", c->socket, strerror(-fd));
		return fd;
	}
	c->fd = fd;
	pw_linebuf_init(&c->lb, PW_PROTO_MAX_LINE);
	return 0;
}

static void print_diags(json_object *diags)
{
	size_t n = diags ? json_object_array_length(diags) : 0;

	for (size_t i = 0; i < n; i++) {
		json_object *d = json_object_array_get_idx(diags, i);

		if (json_object_is_type(d, json_type_string))
			fprintf(stderr, "error: %s\n", json_object_get_string(d));
	}
}

/*
 * One round trip. Returns 0 with *resp (the whole response, owned) and *result (borrowed from
 * it) on success; on failure the error is printed and the return is nonzero.
 */
static int call(struct cli *c, json_object *req, json_object **resp, json_object **result)
{
	const char *msg;
	json_object *diags;
	int err;

	*resp = NULL;
	if (!req) {
		errorf("out of memory");
		return -ENOMEM;
	}
	err = cli_connect(c);
	if (err)
		goto out;
	err = pw_proto_call(c->fd, &c->lb, req, resp);
	if (err) {
		errorf("podwalld at %s: %s", c->socket,
		       err == -ECONNRESET ? "closed the connection without answering"
		       : err == -EBADMSG  ? "sent a malformed response"
					  : strerror(-err));
		goto out;
	}
	err = pw_proto_response(*resp, result, &msg, &diags);
	if (err == -EBADMSG) {
		errorf("podwalld sent a response without \"ok\"");
	} else if (err) {
		/* the diagnostics already name file, document and field: print them first */
		print_diags(diags);
		if (msg && (!diags || !json_object_array_length(diags)))
			errorf("%s", msg);
		else if (msg)
			fprintf(stderr, "error: %s\n", msg);
	}
out:
	json_object_put(req);
	if (err) {
		json_object_put(*resp);
		*resp = NULL;
	}
	return err;
}

/* --- output helpers ----------------------------------------------------------------------- */

enum output {
	OUT_HUMAN = 0,
	OUT_JSON,
	OUT_YAML,
	OUT_WIDE,
};

static int parse_output(const char *s, enum output *o)
{
	if (!strcmp(s, "json"))
		*o = OUT_JSON;
	else if (!strcmp(s, "yaml"))
		*o = OUT_YAML;
	else if (!strcmp(s, "wide"))
		*o = OUT_WIDE;
	else {
		errorf("unable to match a printer suitable for the output format \"%s\", allowed "
		       "formats are: json,wide,yaml",
		       s);
		return -EINVAL;
	}
	return 0;
}

static void print_structured(json_object *v, enum output o)
{
	if (o == OUT_JSON) {
		puts(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_SPACED |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	} else {
		pw_yaml_emit(stdout, v);
	}
}

/* Follow a dotted path; "a|b" tries a, then b. */
static json_object *jpath(json_object *o, const char *spec)
{
	char buf[256];
	char *alt, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", spec);
	for (alt = strtok_r(buf, "|", &save); alt; alt = strtok_r(NULL, "|", &save)) {
		json_object *cur = o;
		char *part, *save2 = NULL;

		for (part = strtok_r(alt, ".", &save2); part && cur;
		     part = strtok_r(NULL, ".", &save2)) {
			json_object *next;

			if (!json_object_is_type(cur, json_type_object) ||
			    !json_object_object_get_ex(cur, part, &next))
				cur = NULL;
			else
				cur = next;
		}
		if (cur && !json_object_is_type(cur, json_type_null))
			return cur;
	}
	return NULL;
}

/* A table cell: strings as they are, lists joined with ',', maps as k=v,k=v. */
static void cell(json_object *v, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	if (!v) {
		snprintf(buf, len, "<none>");
		return;
	}
	switch (json_object_get_type(v)) {
	case json_type_string:
		snprintf(buf, len, "%s", json_object_get_string(v));
		break;
	case json_type_array: {
		size_t n = json_object_array_length(v);

		for (size_t i = 0; i < n && off < len; i++) {
			char sub[256];

			cell(json_object_array_get_idx(v, i), sub, sizeof(sub));
			off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? "," : "", sub);
		}
		if (!n)
			snprintf(buf, len, "<none>");
		break;
	}
	case json_type_object: {
		bool first = true;

		json_object_object_foreach(v, key, val)
		{
			char sub[256];

			if (off >= len)
				break;
			cell(val, sub, sizeof(sub));
			off += (size_t)snprintf(buf + off, len - off, "%s%s=%s", first ? "" : ",",
						key, sub);
			first = false;
		}
		if (first)
			snprintf(buf, len, "<none>");
		break;
	}
	default:
		snprintf(buf, len, "%s", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	}
}

struct column {
	const char *header;
	const char *path; /* jpath spec */
	bool wide;	  /* only with -o wide */
	bool ns;	  /* the NAMESPACE column: only with -A */
};

#define CELL_MAX 512

static int print_table(json_object *items, const struct column *cols, enum output o, bool all_ns)
{
	size_t n = json_object_array_length(items), ncols = 0;
	size_t width[16] = {0};
	char(*cells)[CELL_MAX];
	const struct column *shown[16];

	for (const struct column *c = cols; c->header && ncols < 16; c++) {
		if ((c->wide && o != OUT_WIDE) || (c->ns && !all_ns))
			continue;
		shown[ncols++] = c;
	}
	cells = calloc((n + 1) * ncols, CELL_MAX);
	if (!cells) {
		errorf("out of memory");
		return 1;
	}
	for (size_t j = 0; j < ncols; j++) {
		snprintf(cells[j], CELL_MAX, "%s", shown[j]->header);
		width[j] = strlen(cells[j]);
	}
	for (size_t i = 0; i < n; i++) {
		json_object *it = json_object_array_get_idx(items, i);

		for (size_t j = 0; j < ncols; j++) {
			char *s = cells[(i + 1) * ncols + j];

			cell(jpath(it, shown[j]->path), s, CELL_MAX);
			if (strlen(s) > width[j])
				width[j] = strlen(s);
		}
	}
	for (size_t i = 0; i <= n; i++) {
		for (size_t j = 0; j < ncols; j++) {
			const char *s = cells[i * ncols + j];

			if (j + 1 == ncols)
				printf("%s\n", s);
			else
				printf("%-*s   ", (int)width[j], s);
		}
	}
	free(cells);
	return 0;
}

/* --- reading manifests -------------------------------------------------------------------- */

struct doc {
	char *name;
	char *data;
	size_t len;
};

struct docs {
	size_t n, cap;
	struct doc *v;
};

static void docs_free(struct docs *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].name);
		free(d->v[i].data);
	}
	free(d->v);
	memset(d, 0, sizeof(*d));
}

static int read_fd(int fd, const char *name, char **out, size_t *len)
{
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap + 1), *p;
	int err = 0;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t r;

		if (n == cap) {
			if (cap > PW_CLI_MAX_INPUT) {
				errorf("%s: larger than %u MiB", name, PW_CLI_MAX_INPUT >> 20);
				err = -EFBIG;
				goto out;
			}
			cap *= 2;
			p = realloc(buf, cap + 1);
			if (!p) {
				err = -ENOMEM;
				goto out;
			}
			buf = p;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			errorf("%s: %s", name, strerror(-err));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	buf = NULL;
out:
	free(buf);
	return err;
}

static int docs_add_file(struct docs *d, const char *path)
{
	struct doc *doc;
	int fd = -1, err;

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		struct doc *v = realloc(d->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		d->v = v;
		d->cap = cap;
	}
	doc = &d->v[d->n];
	memset(doc, 0, sizeof(*doc));
	if (!strcmp(path, "-")) {
		doc->name = strdup("<stdin>");
		fd = STDIN_FILENO;
	} else {
		doc->name = strdup(path);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			err = -errno;
			errorf("the path \"%s\" cannot be read: %s", path, strerror(-err));
			free(doc->name);
			return err;
		}
	}
	if (!doc->name) {
		err = -ENOMEM;
		goto out;
	}
	err = read_fd(fd, doc->name, &doc->data, &doc->len);
	if (err)
		goto out;
	d->n++;
out:
	if (err)
		free(doc->name);
	if (fd > STDIN_FILENO)
		close(fd);
	return err;
}

static int select_manifest(const struct dirent *e)
{
	return pw_mdir_is_manifest(e->d_name);
}

/* -f FILE|DIR|-: a directory contributes its manifest files in name order, as kubectl does */
static int docs_add(struct docs *d, const char *arg)
{
	struct dirent **list = NULL;
	struct stat st;
	int n, err = 0;

	if (strcmp(arg, "-") && !stat(arg, &st) && S_ISDIR(st.st_mode)) {
		n = scandir(arg, &list, select_manifest, alphasort);
		if (n < 0) {
			err = -errno;
			errorf("the path \"%s\" cannot be read: %s", arg, strerror(-err));
			return err;
		}
		if (n == 0)
			errorf("no manifest files (*.yaml, *.yml, *.json) in %s", arg);
		for (int i = 0; i < n; i++) {
			char path[PATH_MAX];

			snprintf(path, sizeof(path), "%s%s%s", arg,
				 arg[strlen(arg) - 1] == '/' ? "" : "/", list[i]->d_name);
			if (!err)
				err = docs_add_file(d, path);
			free(list[i]);
		}
		free(list);
		return n == 0 ? -ENOENT : err;
	}
	return docs_add_file(d, arg);
}

/*
 * Parse every input locally: the same parser as the daemon, so errors come back at once and
 * name file, document and field. Nothing is sent when any input is bad.
 */
static int docs_check(const struct docs *d, size_t *objects)
{
	int bad = 0;

	*objects = 0;
	for (size_t i = 0; i < d->n; i++) {
		struct pw_diags diags = {0};
		struct pw_manifest *m = NULL;
		int err;

		err = pw_parse_buffer(d->v[i].name, d->v[i].data, d->v[i].len, NULL, &m, &diags);
		for (size_t j = 0; j < diags.n; j++) {
			if (diags.v[j].level == PW_DIAG_WARNING)
				fprintf(stderr, "Warning: %s\n", diags.v[j].text);
			else
				fprintf(stderr, "error: %s\n", diags.v[j].text);
		}
		if (err) {
			if (!diags.n_errors)
				errorf("%s: %s", d->v[i].name, strerror(-err));
			bad = err;
		} else {
			*objects += m->n;
		}
		pw_manifest_free(m);
		pw_diags_clear(&diags);
	}
	return bad;
}

static json_object *docs_json(const struct docs *d)
{
	json_object *arr = json_object_new_array();

	for (size_t i = 0; arr && i < d->n; i++) {
		json_object *o = json_object_new_object();

		if (!o) {
			json_object_put(arr);
			return NULL;
		}
		json_object_object_add(o, "name", json_object_new_string(d->v[i].name));
		json_object_object_add(o, "data",
				       json_object_new_string_len(d->v[i].data, (int)d->v[i].len));
		json_object_array_add(arr, o);
	}
	return arr;
}

/* kubectl's resource names: "networkpolicy.networking.k8s.io/allow-b" */
static const char *kind_resource(const char *kind)
{
	if (!kind)
		return "object";
	if (!strcmp(kind, "NetworkPolicy"))
		return "networkpolicy.networking.k8s.io";
	if (!strcmp(kind, "Pod"))
		return "pod";
	if (!strcmp(kind, "Namespace"))
		return "namespace";
	return kind;
}

static void print_outcomes(json_object *result)
{
	json_object *objs = pw_json_array(result, "objects");
	json_object *warn = pw_json_array(result, "warnings");
	size_t n = objs ? json_object_array_length(objs) : 0;

	for (size_t i = 0; warn && i < json_object_array_length(warn); i++)
		fprintf(stderr, "Warning: %s\n",
			json_object_get_string(json_object_array_get_idx(warn, i)));
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(objs, i);

		printf("%s/%s %s\n", kind_resource(pw_json_str(o, "kind")),
		       pw_json_str(o, "name") ?: "?", pw_json_str(o, "action") ?: "?");
	}
}

/* --- commands ------------------------------------------------------------------------------ */

struct cmd {
	const char *name;
	int (*fn)(struct cli *c, int argc, char **argv);
	const char *usage;
	const char *help;
};

static const struct cmd *find_cmd(const char *name);

static int usage_of(const char *name, FILE *f)
{
	const struct cmd *cmd = find_cmd(name);

	fprintf(f, "Usage: %s [--socket PATH] %s %s\n\n%s", prog, cmd->name, cmd->usage, cmd->help);
	return f == stdout ? 0 : 1;
}

/*
 * getopt_long over a command's own option table; returns the option, -1 at the end, '?' after
 * printing a kubectl-style error for an unknown flag or a missing value.
 */
static int next_opt(const char *cmd, int argc, char **argv, const char *shortopts,
		    const struct option *longopts)
{
	char spec[64];
	int o;

	/* a leading ':' (after '+') makes a missing value ':' instead of '?' */
	snprintf(spec, sizeof(spec), "%s:%s", shortopts[0] == '+' ? "+" : "",
		 shortopts + (shortopts[0] == '+'));
	opterr = 0;
	o = getopt_long(argc, argv, spec, longopts, NULL);
	if (o == '?' || o == ':') {
		const char *arg = argv[optind - 1];

		if (o == ':')
			errorf("flag needs an argument: %s", arg);
		else if (optopt && arg[0] == '-' && arg[1] != '-')
			errorf("unknown shorthand flag: '%c' in %s", optopt, arg);
		else
			errorf("unknown flag: %s", arg);
		fprintf(stderr, "See '%s %s --help' for usage.\n", prog, cmd);
		return '?';
	}
	return o;
}

static int do_apply_delete(struct cli *c, int argc, char **argv, bool del)
{
	static const struct option opts[] = {
		{"filename", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *name = del ? "delete" : "apply";
	struct docs d = {0};
	json_object *req, *resp = NULL, *result;
	size_t objects;
	int o, err = 0, nfiles = 0;

	while ((o = next_opt(name, argc, argv, "+f:h", opts)) != -1) {
		switch (o) {
		case 'f':
			nfiles++;
			if (!err)
				err = docs_add(&d, optarg);
			break;
		case 'h':
			docs_free(&d);
			return usage_of(name, stdout);
		default:
			docs_free(&d);
			return 1;
		}
	}
	if (optind < argc) {
		errorf("unexpected argument \"%s\": %s takes its input with -f", argv[optind],
		       name);
		err = -EINVAL;
		goto out;
	}
	if (!nfiles) {
		errorf("must specify -f FILE|DIR|- (what to %s)", name);
		err = -EINVAL;
		goto out;
	}
	if (err)
		goto out;
	err = docs_check(&d, &objects);
	if (err)
		goto out;
	if (!objects) {
		errorf("no objects passed to %s", name);
		err = -EINVAL;
		goto out;
	}
	req = pw_proto_request(del ? PW_OP_DELETE : PW_OP_APPLY);
	if (req)
		json_object_object_add(req, "docs", docs_json(&d));
	err = call(c, req, &resp, &result);
	if (!err)
		print_outcomes(result);
out:
	json_object_put(resp);
	docs_free(&d);
	return err ? 1 : 0;
}

static int cmd_apply(struct cli *c, int argc, char **argv)
{
	return do_apply_delete(c, argc, argv, false);
}

static int cmd_delete(struct cli *c, int argc, char **argv)
{
	return do_apply_delete(c, argc, argv, true);
}

struct resource {
	const char *names[6]; /* accepted spellings, the canonical plural first */
	const char *what;     /* the protocol's name */
	bool namespaced;
	const struct column *cols;
};

static const struct column ns_cols[] = {
	{"NAME", "name"},
	{"STATUS", "status|phase"},
	{"LABELS", "labels", true},
	{NULL},
};

static const struct column pod_cols[] = {
	{"NAMESPACE", "namespace", false, true},
	{"NAME", "name"},
	{"IP", "ips|podIPs|ip"},
	{"IDENTITY", "identity"},
	{"INTERFACE", "interface"},
	{"STATE", "state|status"},
	{"ENDPOINT", "endpoint|ep_id", true},
	{"CGROUP", "cgroup", true},
	{"LABELS", "labels", true},
	{NULL},
};

static const struct column np_cols[] = {
	{"NAMESPACE", "namespace", false, true},      {"NAME", "name"},
	{"POD-SELECTOR", "podSelector|pod_selector"}, {"POLICY-TYPES", "policyTypes|types"},
	{"SELECTED", "selected|selected_pods", true}, {NULL},
};

static const struct column id_cols[] = {
	{"IDENTITY", "identity|id"},
	{"NAMESPACE", "namespace"},
	{"LABELS", "labels"},
	{"REFS", "refs|refcount|pods", true},
	{NULL},
};

static const struct resource resources[] = {
	{{"namespaces", "namespace", "ns"}, "namespaces", false, ns_cols},
	{{"pods", "pod", "po"}, "pods", true, pod_cols},
	{{"networkpolicies", "networkpolicy", "netpol", "netpols",
	  "networkpolicies.networking.k8s.io", "networkpolicy.networking.k8s.io"},
	 "networkpolicies",
	 true,
	 np_cols},
	{{"identities", "identity", "id", "ids"}, "identities", false, id_cols},
};

static const struct resource *find_resource(const char *s)
{
	for (size_t i = 0; i < sizeof(resources) / sizeof(resources[0]); i++) {
		for (size_t j = 0; j < 6 && resources[i].names[j]; j++) {
			if (!strcasecmp(s, resources[i].names[j]))
				return &resources[i];
		}
	}
	return NULL;
}

/* The list in a result: the result itself when it is an array, else its "items". */
static json_object *result_items(json_object *result)
{
	if (json_object_is_type(result, json_type_array))
		return result;
	return pw_json_array(result, "items");
}

static int cmd_get(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"namespace", required_argument, NULL, 'n'},
		{"all-namespaces", no_argument, NULL, 'A'},
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *ns = NULL, *name = NULL;
	const struct resource *r;
	enum output out = OUT_HUMAN;
	json_object *req, *resp = NULL, *result, *items, *filtered = NULL;
	bool all = false;
	int o, err;

	while ((o = next_opt("get", argc, argv, "n:Ao:h", opts)) != -1) {
		switch (o) {
		case 'n':
			ns = optarg;
			break;
		case 'A':
			all = true;
			break;
		case 'o':
			if (parse_output(optarg, &out))
				return 1;
			break;
		case 'h':
			return usage_of("get", stdout);
		default:
			return 1;
		}
	}
	if (optind >= argc) {
		errorf("you must specify the type of resource to get: namespaces, pods, "
		       "networkpolicies, identities");
		return 1;
	}
	r = find_resource(argv[optind]);
	if (!r) {
		errorf("the server doesn't have a resource type \"%s\"", argv[optind]);
		return 1;
	}
	if (optind + 1 < argc)
		name = argv[optind + 1];
	if (optind + 2 < argc) {
		errorf("get takes one resource type and at most one name");
		return 1;
	}
	if (all && ns) {
		errorf("--namespace and --all-namespaces are exclusive");
		return 1;
	}
	/* kubectl's default namespace, unless -A */
	if (r->namespaced && !all && !ns)
		ns = "default";
	req = pw_proto_request(PW_OP_GET);
	if (req) {
		json_object_object_add(req, "what", json_object_new_string(r->what));
		if (ns && (r->namespaced || !all))
			json_object_object_add(req, "namespace", json_object_new_string(ns));
	}
	err = call(c, req, &resp, &result);
	if (err)
		return 1;
	items = result_items(result);
	if (!items) {
		errorf("podwalld answered get %s without a list", r->what);
		err = 1;
		goto out;
	}
	if (name) {
		filtered = json_object_new_array();
		for (size_t i = 0; filtered && i < json_object_array_length(items); i++) {
			json_object *it = json_object_array_get_idx(items, i);
			json_object *id = jpath(it, "name|identity|id");
			char buf[64];

			cell(id, buf, sizeof(buf));
			if (!strcmp(buf, name))
				json_object_array_add(filtered, json_object_get(it));
		}
		if (!filtered || !json_object_array_length(filtered)) {
			errorf("%s \"%s\" not found", r->names[1], name);
			err = 1;
			goto out;
		}
		items = filtered;
	}
	if (out == OUT_JSON || out == OUT_YAML) {
		json_object *list = json_object_new_object();

		json_object_object_add(list, "kind", json_object_new_string("List"));
		json_object_object_add(list, "items", json_object_get(items));
		print_structured(list, out);
		json_object_put(list);
	} else if (!json_object_array_length(items)) {
		if (ns && r->namespaced)
			fprintf(stderr, "No resources found in %s namespace.\n", ns);
		else
			fprintf(stderr, "No resources found\n");
	} else {
		err = print_table(items, r->cols, out, all || !r->namespaced);
	}
out:
	json_object_put(filtered);
	json_object_put(resp);
	return err ? 1 : 0;
}

/* "NS/NAME", or "NAME" with -n NS (default "default") */
static int split_ref(const char *arg, const char *ns_opt, char *ns, size_t nslen, char *name,
		     size_t namelen)
{
	const char *slash = strchr(arg, '/');

	if (slash) {
		if (slash == arg || !slash[1] || strchr(slash + 1, '/'))
			return -EINVAL;
		snprintf(ns, nslen, "%.*s", (int)(slash - arg), arg);
		snprintf(name, namelen, "%s", slash + 1);
	} else {
		snprintf(ns, nslen, "%s", ns_opt ? ns_opt : "default");
		snprintf(name, namelen, "%s", arg);
	}
	return 0;
}

static int cmd_describe(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"namespace", required_argument, NULL, 'n'},
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *ns_opt = NULL;
	char ns[256], name[256];
	enum output out = OUT_YAML;
	json_object *req, *resp = NULL, *result;
	int o;

	while ((o = next_opt("describe", argc, argv, "n:o:h", opts)) != -1) {
		switch (o) {
		case 'n':
			ns_opt = optarg;
			break;
		case 'o':
			if (parse_output(optarg, &out))
				return 1;
			break;
		case 'h':
			return usage_of("describe", stdout);
		default:
			return 1;
		}
	}
	if (argc - optind != 2 || find_resource(argv[optind]) != &resources[1]) {
		errorf("describe takes: pod NS/NAME (or pod NAME -n NS)");
		return 1;
	}
	if (split_ref(argv[optind + 1], ns_opt, ns, sizeof(ns), name, sizeof(name))) {
		errorf("\"%s\" is not NS/NAME", argv[optind + 1]);
		return 1;
	}
	req = pw_proto_request(PW_OP_DESCRIBE);
	if (req) {
		json_object_object_add(req, "namespace", json_object_new_string(ns));
		json_object_object_add(req, "name", json_object_new_string(name));
	}
	if (call(c, req, &resp, &result))
		return 1;
	if (result)
		print_structured(result, out == OUT_JSON ? OUT_JSON : OUT_YAML);
	json_object_put(resp);
	return 0;
}

/* --from/--to: NS/POD, or an address (anything with ':' or only digits and dots) */
static json_object *endpoint_ref(const char *arg)
{
	json_object *o = json_object_new_object();
	char ns[256], name[256];

	if (!o)
		return NULL;
	if (strchr(arg, ':') || strspn(arg, "0123456789.") == strlen(arg)) {
		json_object_object_add(o, "addr", json_object_new_string(arg));
	} else if (!split_ref(arg, NULL, ns, sizeof(ns), name, sizeof(name))) {
		json_object_object_add(o, "namespace", json_object_new_string(ns));
		json_object_object_add(o, "name", json_object_new_string(name));
	} else {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static int cmd_explain(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"from", required_argument, NULL, 'F'},
		{"to", required_argument, NULL, 'T'},
		{"port", required_argument, NULL, 'p'},
		{"proto", required_argument, NULL, 'P'},
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *from = NULL, *to = NULL, *proto = "TCP";
	enum output out = OUT_YAML;
	json_object *req, *resp = NULL, *result, *jf, *jt;
	char protobuf[8];
	uint8_t ipproto;
	long port = -1;
	char *end;
	int o;

	while ((o = next_opt("explain", argc, argv, "o:h", opts)) != -1) {
		switch (o) {
		case 'F':
			from = optarg;
			break;
		case 'T':
			to = optarg;
			break;
		case 'p':
			errno = 0;
			port = strtol(optarg, &end, 10);
			if (errno || *end || port < 1 || port > 65535) {
				errorf("--port %s: must be a number in 1..65535", optarg);
				return 1;
			}
			break;
		case 'P':
			proto = optarg;
			break;
		case 'o':
			if (parse_output(optarg, &out))
				return 1;
			break;
		case 'h':
			return usage_of("explain", stdout);
		default:
			return 1;
		}
	}
	if (!from || !to || port < 0 || optind < argc) {
		errorf("explain needs --from, --to and --port (and takes no other argument)");
		return 1;
	}
	snprintf(protobuf, sizeof(protobuf), "%s", proto);
	for (char *p = protobuf; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	if (pw_proto_parse(protobuf, &ipproto)) {
		errorf("--proto %s: must be tcp, udp or sctp", proto);
		return 1;
	}
	jf = endpoint_ref(from);
	jt = endpoint_ref(to);
	if (!jf || !jt) {
		errorf("%s: expected NAMESPACE/POD or an IP address", !jf ? from : to);
		json_object_put(jf);
		json_object_put(jt);
		return 1;
	}
	req = pw_proto_request(PW_OP_EXPLAIN);
	if (req) {
		json_object_object_add(req, "from", jf);
		json_object_object_add(req, "to", jt);
		json_object_object_add(req, "proto", json_object_new_string(protobuf));
		json_object_object_add(req, "port", json_object_new_int((int)port));
	} else {
		json_object_put(jf);
		json_object_put(jt);
	}
	if (call(c, req, &resp, &result))
		return 1;
	if (result)
		print_structured(result, out == OUT_JSON ? OUT_JSON : OUT_YAML);
	json_object_put(resp);
	return 0;
}

static int cmd_status(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	enum output out = OUT_YAML;
	json_object *resp = NULL, *result;
	int o;

	while ((o = next_opt("status", argc, argv, "o:h", opts)) != -1) {
		switch (o) {
		case 'o':
			if (parse_output(optarg, &out))
				return 1;
			break;
		case 'h':
			return usage_of("status", stdout);
		default:
			return 1;
		}
	}
	if (optind < argc) {
		errorf("status takes no argument");
		return 1;
	}
	if (call(c, pw_proto_request(PW_OP_STATUS), &resp, &result))
		return 1;
	if (result)
		print_structured(result, out == OUT_JSON ? OUT_JSON : OUT_YAML);
	json_object_put(resp);
	return 0;
}

static int64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void print_flow(json_object *f, enum output out)
{
	char row[1024];

	if (out == OUT_JSON) {
		puts(json_object_to_json_string_ext(f, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	} else {
		pw_flow_format_row(f, row, sizeof(row));
		puts(row);
	}
	fflush(stdout);
}

/*
 * Our own options (--follow, --limit, --output) are taken here; every other one is a filter
 * (flowfilter.h: --namespace, --pod, --verdict, --direction, --port, --since, --kind) and
 * goes to the daemon as written, which filters its ring and its live stream with the same
 * code. It is parsed here first so a typo fails before any round trip.
 */
static int cmd_flows(struct cli *c, int argc, char **argv)
{
	struct pw_flowfilter filter;
	bool follow = false;
	long limit = 100;
	enum output out = OUT_HUMAN;
	json_object *req, *resp = NULL, *result, *flows, *fargs;
	char **fv = calloc((size_t)argc + 1, sizeof(char *)), *end, msg[256];
	int fn = 0, err = 0;

	pw_flowfilter_init(&filter);
	if (!fv) {
		errorf("out of memory");
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			free(fv);
			return usage_of("flows", stdout);
		} else if (!strcmp(a, "-f") || !strcmp(a, "--follow")) {
			follow = true;
		} else if (!strcmp(a, "--limit") || !strncmp(a, "--limit=", 8)) {
			val = a[7] == '=' ? a + 8 : i + 1 < argc ? argv[++i] : NULL;
			errno = 0;
			limit = val ? strtol(val, &end, 10) : -1;
			if (!val || errno || *end || limit < 0) {
				errorf("--limit: must be a number >= 0");
				err = -EINVAL;
				goto out;
			}
		} else if (!strcmp(a, "-o") || !strcmp(a, "--output") ||
			   !strncmp(a, "--output=", 9)) {
			val = a[8] == '=' ? a + 9 : i + 1 < argc ? argv[++i] : NULL;
			if (!val) {
				errorf("%s needs a value", a);
				err = -EINVAL;
				goto out;
			}
			if (!strcmp(val, "table"))
				out = OUT_HUMAN;
			else if (!strcmp(val, "json"))
				out = OUT_JSON;
			else {
				errorf("--output %s: flows prints json or table", val);
				err = -EINVAL;
				goto out;
			}
		} else {
			fv[fn++] = argv[i];
		}
	}
	err = pw_flowfilter_parse(&filter, fn, fv, wall_ns(), msg, sizeof(msg));
	if (err) {
		errorf("%s", msg);
		fprintf(stderr, "See '%s flows --help' for usage.\n", prog);
		goto out;
	}
	req = pw_proto_request(PW_OP_FLOWS);
	fargs = json_object_new_array();
	for (int i = 0; fargs && i < fn; i++)
		json_object_array_add(fargs, json_object_new_string(fv[i]));
	if (req) {
		json_object_object_add(req, "limit", json_object_new_int64(limit));
		json_object_object_add(req, "follow", json_object_new_boolean(follow));
		json_object_object_add(req, "filter", fargs);
	} else {
		json_object_put(fargs);
	}
	err = call(c, req, &resp, &result);
	if (err)
		goto out;
	flows = pw_json_array(result, "flows");
	if (out == OUT_HUMAN)
		puts(pw_flow_table_header());
	for (size_t i = 0; flows && i < json_object_array_length(flows); i++) {
		json_object *f = json_object_array_get_idx(flows, i);

		/* the daemon filtered already; an older daemon may not have */
		if (pw_flowfilter_match(&filter, f))
			print_flow(f, out);
	}
	if (pw_json_int(result, "lost", 0))
		fprintf(stderr,
			"Warning: the kernel's event buffer lost %lld records since the "
			"daemon started\n",
			(long long)pw_json_int(result, "lost", 0));
	while (follow) {
		json_object *msgo = NULL, *f;

		err = pw_proto_read(c->fd, &c->lb, &msgo);
		if (err == -ENODATA) {
			errorf("podwalld closed the flow stream");
			err = -ECONNRESET;
			break;
		}
		if (err) {
			errorf("reading flows from podwalld: %s", strerror(-err));
			break;
		}
		f = pw_json_object(msgo, "flow");
		if (f && pw_flowfilter_match(&filter, f))
			print_flow(f, out);
		else if (pw_json_int(msgo, "dropped", 0))
			fprintf(stderr,
				"Warning: %lld flow records dropped: this client reads too "
				"slowly\n",
				(long long)pw_json_int(msgo, "dropped", 0));
		json_object_put(msgo);
	}
out:
	json_object_put(resp);
	pw_flowfilter_free(&filter);
	free(fv);
	return err ? 1 : 0;
}

static int cmd_help(struct cli *c, int argc, char **argv);

static const struct cmd cmds[] = {
	{"apply", cmd_apply, "-f FILE|DIR|- [-f ...]",
	 "Create or update the objects of the manifests (Namespace, Pod, NetworkPolicy, List).\n"
	 "Returns once the change is enforced in the kernel.\n\n"
	 "  -f, --filename  a file, a directory (its *.yaml, *.yml, *.json) or - for stdin\n"},
	{"delete", cmd_delete, "-f FILE|DIR|- [-f ...]",
	 "Delete the objects the manifests name (kind, namespace, name).\n\n"
	 "  -f, --filename  a file, a directory (its *.yaml, *.yml, *.json) or - for stdin\n"},
	{"get", cmd_get, "namespaces|pods|networkpolicies|identities [NAME] [-n NS|-A] [-o FMT]",
	 "List objects as a table.\n\n"
	 "  -n, --namespace NS      the namespace (default \"default\")\n"
	 "  -A, --all-namespaces    every namespace\n"
	 "  -o, --output FMT        json, yaml or wide\n"},
	{"describe", cmd_describe, "pod NS/NAME [-o json|yaml]",
	 "The policies that select the pod and its effective allow list per direction.\n\n"
	 "  -n, --namespace NS      namespace when NAME has no NS/ prefix\n"
	 "  -o, --output FMT        json or yaml (default)\n"},
	{"explain", cmd_explain, "--from NS/POD|IP --to NS/POD|IP --port N [--proto tcp|udp|sctp]",
	 "The verdict for one connection and the policy and rule that decide it.\n\n"
	 "  --from NS/POD|IP        the client\n"
	 "  --to NS/POD|IP          the server\n"
	 "  --port N                destination port\n"
	 "  --proto P               tcp (default), udp or sctp\n"
	 "  -o, --output FMT        json or yaml (default)\n"},
	{"status", cmd_status, "[-o json|yaml]",
	 "Daemon and datapath status: map usage against capacity, counters, pending pods.\n"},
	{"flows", cmd_flows, "[FILTERS] [--limit N] [-f] [-o json|table]",
	 "Recent flow records (new flows, drops, socket-layer denies, ends), oldest first.\n\n"
	 "  -f, --follow              keep printing records as they happen\n"
	 "      --limit N             at most N recent records (default 100, 0: all kept)\n"
	 "  -o, --output json|table   one JSON object per line, or a table (default)\n"
	 "Filters (values of one filter are alternatives, different filters must all hold):\n"
	 "  -n, --namespace NS        either end in namespace NS\n"
	 "      --pod [NS/]POD        either end is the pod (a name prefix; NS/ = any pod of NS)\n"
	 "      --verdict V           FORWARDED, DROPPED or AUDIT\n"
	 "      --direction D         ingress or egress\n"
	 "      --port N              source or destination port\n"
	 "      --since T             a duration (5m, 1h30m) or an RFC 3339 time\n"
	 "      --kind K              flow_new, flow_denied, sock_deny, revoked, ...\n"},
	{"help", cmd_help, "[COMMAND]", "Help about a command.\n"},
};

#define N_CMDS (sizeof(cmds) / sizeof(cmds[0]))

static const struct cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < N_CMDS; i++) {
		if (!strcmp(cmds[i].name, name))
			return &cmds[i];
	}
	return NULL;
}

static int usage(FILE *f)
{
	fprintf(f,
		"podwall: the command-line client of podwalld (sidecar-free network policy).\n\n"
		"Usage: %s [--socket PATH] COMMAND [OPTIONS]\n\n"
		"Commands:\n",
		prog);
	for (size_t i = 0; i < N_CMDS; i++) {
		/* the first sentence of the command's help */
		const char *h = cmds[i].help;
		int len = (int)strcspn(h, ".\n");

		fprintf(f, "  %-9s %.*s\n", cmds[i].name, len, h);
	}
	fprintf(f,
		"\nOptions:\n"
		"  -s, --socket PATH  podwalld's control socket (default $%s, else %s)\n"
		"  -h, --help         this help; '%s COMMAND --help' for a command\n",
		PW_SOCKET_ENV, PW_SOCKET_DEFAULT, prog);
	return f == stdout ? 0 : 1;
}

static int cmd_help(struct cli *c, int argc, char **argv)
{
	if (argc > 1 && find_cmd(argv[1]))
		return usage_of(argv[1], stdout);
	if (argc > 1) {
		errorf("unknown command \"%s\"", argv[1]);
		return 1;
	}
	return usage(stdout);
}

int main(int argc, char **argv)
{
	struct cli c = {.fd = -1};
	const struct cmd *cmd;
	int i, ret;

	signal(SIGPIPE, SIG_IGN);
	c.socket = getenv(PW_SOCKET_ENV);
	if (!c.socket || !*c.socket)
		c.socket = PW_SOCKET_DEFAULT;
	/* global options stop at the command name, so commands own everything after it */
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return usage(stdout);
		if ((!strcmp(argv[i], "--socket") || !strcmp(argv[i], "-s")) && i + 1 < argc) {
			c.socket = argv[++i];
		} else if (!strncmp(argv[i], "--socket=", 9)) {
			c.socket = argv[i] + 9;
		} else {
			errorf("unknown flag: %s", argv[i]);
			usage(stderr);
			return 1;
		}
	}
	if (i >= argc)
		return usage(stderr);
	cmd = find_cmd(argv[i]);
	if (!cmd) {
		errorf("unknown command \"%s\" for \"%s\"", argv[i], prog);
		fprintf(stderr, "Run '%s --help' for usage.\n", prog);
		return 1;
	}
	optind = 1;
	ret = cmd->fn(&c, argc - i, argv + i);
	if (c.fd >= 0)
		close(c.fd);
	pw_linebuf_free(&c.lb);
	return ret;
}
