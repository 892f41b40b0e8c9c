// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwall suggest: NetworkPolicies from observed flows, read from flow-log files (rotated ones
 * included) or from the running daemon for a while (--live). The policies come from
 * ctl/suggest; this file reads the inputs, reports every line it cannot use with its file and
 * line, and prints YAML that `podwall apply -f -` takes unchanged.
 */
#include <poll.h>
#include <sys/wait.h>

#include "cli.h"
#include "flowread.h"
#include "suggest.h"

struct sg_cli {
	struct pw_suggest *sg;
	unsigned long bad, unusable;
	bool quiet;
};

/* a line or record not used: said once per line, with where it is */
static void sg_bad(void *ctx, const char *file, unsigned long line, const char *msg)
{
	struct sg_cli *c = ctx;

	c->bad++;
	fprintf(stderr, "warning: %s:%lu: %s\n", file, line, msg);
}

static int sg_record(void *ctx, json_object *rec, const char *file, unsigned long line)
{
	struct sg_cli *c = ctx;
	char msg[160];
	int err = pw_suggest_add_record(c->sg, rec, msg, sizeof(msg));

	if (err == -EINVAL) {
		c->unusable++;
		fprintf(stderr, "warning: %s:%lu: flow record left out: %s\n", file, line, msg);
		return 0;
	}
	return err;
}

static void sg_warn(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "warning: %s\n", msg);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "24" or "24,64": the prefix lengths outside peers are widened to */
static int parse_prefixes(const char *s, struct pw_suggest_opts *o)
{
	char *end;
	long v4 = strtol(s, &end, 10), v6 = o->v6_prefix;

	if (end == s || v4 < 1 || v4 > 32)
		return -EINVAL;
	if (*end == ',') {
		const char *p = end + 1;

		v6 = strtol(p, &end, 10);
		if (end == p || v6 < 1 || v6 > 128)
			return -EINVAL;
	}
	if (*end)
		return -EINVAL;
	o->v4_prefix = (uint8_t)v4;
	o->v6_prefix = (uint8_t)v6;
	return 0;
}

/* Pods from manifests, for their named ports: FILE or DIR (its manifest files). */
static int add_objects(struct pw_suggest *sg, const char *arg)
{
	struct dirent **list = NULL;
	struct pw_diags diags = {0};
	struct pw_manifest *m = NULL;
	struct stat st;
	int n, err = 0;

	if (strcmp(arg, "-") && !stat(arg, &st) && S_ISDIR(st.st_mode)) {
		n = scandir(arg, &list, NULL, alphasort);
		if (n < 0) {
			errorf("the path \"%s\" cannot be read: %s", arg, strerror(errno));
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			char path[PATH_MAX];

			if (!err && pw_mdir_is_manifest(list[i]->d_name)) {
				snprintf(path, sizeof(path), "%s/%s", arg, list[i]->d_name);
				err = add_objects(sg, path);
			}
			free(list[i]);
		}
		free(list);
		return err;
	}
	err = pw_parse_file(arg, NULL, &m, &diags);
	if (err) {
		for (size_t i = 0; i < diags.n; i++)
			if (diags.v[i].level == PW_DIAG_ERROR)
				errorf("%s", diags.v[i].text);
		if (!diags.n)
			errorf("%s: %s", arg, strerror(-err));
	} else {
		err = pw_suggest_add_pods(sg, m);
	}
	pw_manifest_free(m);
	pw_diags_clear(&diags);
	return err;
}

/* --live DUR: the daemon's records as they happen, for DUR */
static int read_live(struct cli *c, struct sg_cli *s, int64_t dur_ns)
{
	json_object *req = pw_proto_request(PW_OP_FLOWS), *resp = NULL, *result, *flows;
	int64_t deadline = mono_ms() + dur_ns / 1000000;
	unsigned long n = 0;
	int err;

	if (req) {
		json_object_object_add(req, "limit", json_object_new_int64(0));
		json_object_object_add(req, "follow", json_object_new_boolean(true));
	}
	err = call(c, req, &resp, &result);
	if (err)
		return err;
	/* what the daemon kept from before is observed traffic too */
	flows = pw_json_array(result, "flows");
	for (size_t i = 0; flows && i < json_object_array_length(flows); i++)
		sg_record(s, json_object_array_get_idx(flows, i), "<live>", ++n);
	json_object_put(resp);
	fprintf(stderr, "observing flows from podwalld for %lld s...\n",
		(long long)(dur_ns / 1000000000LL));
	for (;;) {
		int64_t left = deadline - mono_ms();
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		json_object *msg = NULL, *f;

		if (left <= 0)
			break;
		/* a line may already wait in the buffer: poll only when it is empty */
		if (!pw_linebuf_pending(&c->lb)) {
			int r = poll(&pfd, 1, (int)(left > 1000 ? 1000 : left));

			if (r < 0 && errno != EINTR)
				return -errno;
			if (r <= 0)
				continue;
		}
		err = pw_proto_read(c->fd, &c->lb, &msg);
		if (err == -ENODATA) {
			errorf("podwalld closed the flow stream");
			return -ECONNRESET;
		}
		if (err) {
			errorf("reading flows from podwalld: %s", strerror(-err));
			return err;
		}
		f = pw_json_object(msg, "flow");
		if (f)
			sg_record(s, f, "<live>", ++n);
		else if (pw_json_int(msg, "dropped", 0))
			fprintf(stderr, "warning: %lld flow records missed: this client read too "
					"slowly\n",
				(long long)pw_json_int(msg, "dropped", 0));
		json_object_put(msg);
	}
	return 0;
}

/*
 * A spec as compared by --diff: keys sorted, empty lists dropped (the API server omits them;
 * with policyTypes explicit, `ingress: []` and no ingress mean the same).
 */
static int strcmpp(const char *const *a, const char *const *b)
{
	return strcmp(*a, *b);
}

static json_object *normalized(json_object *v)
{
	if (json_object_is_type(v, json_type_object)) {
		json_object *o = json_object_new_object();
		const char *keys[256];
		size_t n = 0;

		json_object_object_foreach(v, k, val)
		{
			if (n < 256 && !(json_object_is_type(val, json_type_array) &&
					 !json_object_array_length(val)))
				keys[n++] = k;
		}
		qsort(keys, n, sizeof(*keys), (int (*)(const void *, const void *))strcmpp);
		for (size_t i = 0; i < n; i++)
			json_object_object_add(o, keys[i],
					       normalized(json_object_object_get(v, keys[i])));
		return o;
	}
	if (json_object_is_type(v, json_type_array)) {
		json_object *a = json_object_new_array();

		for (size_t i = 0; i < json_object_array_length(v); i++)
			json_object_array_add(a, normalized(json_object_array_get_idx(v, i)));
		return a;
	}
	return json_object_get(v);
}

/* the spec's YAML into a temporary file; its path into path (PATH_MAX) */
static int spec_file(json_object *np, char *path)
{
	json_object *spec = normalized(pw_json_object(np, "spec"));
	int fd;
	FILE *f;

	snprintf(path, PATH_MAX, "/tmp/podwall-suggest-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		if (fd >= 0)
			close(fd);
		json_object_put(spec);
		return -errno;
	}
	pw_yaml_emit(f, spec);
	fclose(f);
	json_object_put(spec);
	return 0;
}

/* `diff -u` of two specs, labelled; returns 1 when they differ */
static int diff_specs(json_object *cur, json_object *sug, const char *label)
{
	char a[PATH_MAX], b[PATH_MAX], la[PATH_MAX + 32], lb[PATH_MAX + 32];
	int rc = -1;

	a[0] = b[0] = 0;
	if (spec_file(cur, a) || spec_file(sug, b))
		goto out;
	snprintf(la, sizeof(la), "%s (in force)", label);
	snprintf(lb, sizeof(lb), "%s (suggested)", label);
	fflush(stdout);
	pid_t pid = fork();

	if (pid == 0) {
		execlp("diff", "diff", "-u", "--label", la, "--label", lb, a, b, (char *)NULL);
		_exit(127);
	}
	if (pid > 0) {
		int st;

		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		rc = WIFEXITED(st) && WEXITSTATUS(st) <= 1 ? WEXITSTATUS(st) : -1;
	}
out:
	if (a[0])
		unlink(a);
	if (b[0])
		unlink(b);
	return rc;
}

/*
 * --diff: each suggested policy against the one of that name in force: new, unchanged, or a
 * unified diff of the specs; and the earlier suggestions (managed-by podwall-suggest) the new
 * one no longer contains. Exit status as kubectl diff: 0 nothing would change, 1 something.
 */
static int print_diff(struct cli *c, json_object *pols, const char *ns)
{
	json_object *req = pw_proto_request(PW_OP_GET), *resp = NULL, *result, *items;
	int changes = 0, err;

	if (req) {
		json_object_object_add(req, "what", json_object_new_string("networkpolicies"));
		if (ns)
			json_object_object_add(req, "namespace", json_object_new_string(ns));
		json_object_object_add(req, "objects", json_object_new_boolean(1));
	}
	err = call(c, req, &resp, &result);
	if (err)
		return -1;
	items = json_object_is_type(result, json_type_array) ? result
							     : pw_json_array(result, "items");
	for (size_t i = 0; i < json_object_array_length(pols); i++) {
		json_object *sug = json_object_array_get_idx(pols, i), *cur = NULL;
		json_object *md = pw_json_object(sug, "metadata");
		const char *sn = pw_json_str(md, "namespace"), *nm = pw_json_str(md, "name");
		char label[512];

		for (size_t j = 0; items && j < json_object_array_length(items) && !cur; j++) {
			json_object *it = json_object_array_get_idx(items, j),
				    *im = pw_json_object(it, "metadata");

			if (!strcmp(pw_json_str(im, "namespace") ?: "", sn) &&
			    !strcmp(pw_json_str(im, "name") ?: "", nm))
				cur = it;
		}
		snprintf(label, sizeof(label), "networkpolicy %s/%s", sn, nm);
		if (!cur) {
			printf("+ %s: new\n", label);
			changes++;
			continue;
		}
		err = diff_specs(cur, sug, label);
		if (err < 0) {
			errorf("cannot compare %s: running diff failed", label);
			json_object_put(resp);
			return -1;
		}
		if (!err)
			printf("= %s: unchanged\n", label);
		changes += err;
	}
	for (size_t j = 0; items && j < json_object_array_length(items); j++) {
		json_object *it = json_object_array_get_idx(items, j),
			    *im = pw_json_object(it, "metadata"), *l = pw_json_object(im, "labels");
		const char *mb = pw_json_str(l, "app.kubernetes.io/managed-by");
		bool kept = false;

		if (!mb || strcmp(mb, "podwall-suggest"))
			continue;
		for (size_t i = 0; i < json_object_array_length(pols) && !kept; i++) {
			json_object *md = pw_json_object(json_object_array_get_idx(pols, i), "metadata");

			kept = !strcmp(pw_json_str(md, "namespace"), pw_json_str(im, "namespace") ?: "") &&
			       !strcmp(pw_json_str(md, "name"), pw_json_str(im, "name") ?: "");
		}
		if (!kept) {
			printf("- networkpolicy %s/%s: suggested before, not by these flows (delete it "
			       "to drop what it allows)\n",
			       pw_json_str(im, "namespace"), pw_json_str(im, "name"));
			changes++;
		}
	}
	json_object_put(resp);
	return changes ? 1 : 0;
}

int cmd_suggest(struct cli *c, int argc, char **argv)
{
	static const struct option longopts[] = {
		{"flows", required_argument, NULL, 'F'},
		{"namespace", required_argument, NULL, 'n'},
		{"since", required_argument, NULL, 's'},
		{"output", required_argument, NULL, 'o'},
		{"objects", required_argument, NULL, 'O'},
		{"ipblock-prefix", required_argument, NULL, 'P'},
		{"live", required_argument, NULL, 'L'},
		{"diff", no_argument, NULL, 'D'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct pw_suggest_opts opts = {.sz = sizeof(opts)};
	struct sg_cli s = {0};
	const char **files = calloc((size_t)argc + 1, sizeof(char *)), **objects;
	size_t nfiles = 0, nobjects = 0;
	enum output out = OUT_YAML;
	int64_t live_ns = 0;
	bool diff = false;
	json_object *pols = NULL;
	int o, err = 0;

	objects = calloc((size_t)argc + 1, sizeof(char *));
	if (!files || !objects) {
		errorf("out of memory");
		err = -ENOMEM;
		goto out;
	}
	optind = 1;
	while ((o = next_opt("suggest", argc, argv, "n:o:h", longopts)) != -1) {
		switch (o) {
		case 'F':
			files[nfiles++] = optarg;
			break;
		case 'n':
			opts.ns = optarg;
			break;
		case 's':
			if (pw_since_parse(optarg, now_ns(), &opts.since_ns)) {
				errorf("--since %s: a duration (5m, 1h30m) or an RFC 3339 time", optarg);
				err = -EINVAL;
				goto out;
			}
			opts.has_since = true;
			break;
		case 'o':
			if (!strcmp(optarg, "yaml"))
				out = OUT_YAML;
			else if (!strcmp(optarg, "json"))
				out = OUT_JSON;
			else {
				errorf("--output %s: suggest prints yaml or json", optarg);
				err = -EINVAL;
				goto out;
			}
			break;
		case 'O':
			objects[nobjects++] = optarg;
			break;
		case 'P':
			if (parse_prefixes(optarg, &opts)) {
				errorf("--ipblock-prefix %s: a prefix length 1-32, optionally \",\" and "
				       "one 1-128 for IPv6 (24,64)",
				       optarg);
				err = -EINVAL;
				goto out;
			}
			break;
		case 'L':
			if (pw_duration_parse(optarg, &live_ns) || live_ns <= 0) {
				errorf("--live %s: a duration such as 30s or 10m", optarg);
				err = -EINVAL;
				goto out;
			}
			break;
		case 'D':
			diff = true;
			break;
		case 'h':
			err = usage_of("suggest", stdout);
			goto out;
		default:
			err = -EINVAL;
			goto out;
		}
	}
	if (optind < argc) {
		errorf("unexpected argument \"%s\"", argv[optind]);
		err = -EINVAL;
		goto out;
	}
	if (!nfiles && !live_ns) {
		errorf("say where the flows come from: --flows FILE (a --flow-log file of "
		       "podwalld) or --live DURATION");
		fprintf(stderr, "See '%s suggest --help' for usage.\n", prog);
		err = -EINVAL;
		goto out;
	}
	err = pw_suggest_new(&opts, &s.sg);
	if (err)
		goto out;
	for (size_t i = 0; !err && i < nobjects; i++)
		err = add_objects(s.sg, objects[i]);
	for (size_t i = 0; !err && i < nfiles; i++) {
		static const struct pw_flowread_ops ops = {.record = sg_record, .bad = sg_bad};

		err = pw_flowread_path(files[i], true, &ops, &s);
		if (err < 0)
			errorf("%s: %s", files[i], strerror(-err));
	}
	if (!err && live_ns)
		err = read_live(c, &s, live_ns);
	if (err)
		goto out;
	err = pw_suggest_build(s.sg, &pols, sg_warn, &s);
	if (err) {
		errorf("building the policies: %s", strerror(-err));
		goto out;
	}
	if (diff) {
		int rc = print_diff(c, pols, opts.ns);

		json_object_put(pols);
		pw_suggest_free(s.sg);
		free(files);
		free(objects);
		return rc < 0 ? 2 : rc;
	}
	if (out == OUT_JSON) {
		json_object *list = json_object_new_object();

		json_object_object_add(list, "apiVersion", json_object_new_string("v1"));
		json_object_object_add(list, "kind", json_object_new_string("List"));
		json_object_object_add(list, "items", json_object_get(pols));
		puts(json_object_to_json_string_ext(list, JSON_C_TO_STRING_PRETTY |
								  JSON_C_TO_STRING_SPACED |
								  JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(list);
	} else {
		for (size_t i = 0; i < json_object_array_length(pols); i++) {
			if (i)
				puts("---");
			pw_yaml_emit(stdout, json_object_array_get_idx(pols, i));
		}
	}
	{
		const struct pw_suggest_stats *st = pw_suggest_stats(s.sg);

		fprintf(stderr,
			"%zu policies from %llu flows (%llu records read, %llu passed over, %lu "
			"lines and %lu records unusable)\n",
			json_object_array_length(pols), (unsigned long long)st->flows,
			(unsigned long long)st->records, (unsigned long long)st->passed_over,
			s.bad, s.unusable);
	}
out:
	json_object_put(pols);
	pw_suggest_free(s.sg);
	free(files);
	free(objects);
	return err ? 1 : 0;
}
