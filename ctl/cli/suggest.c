// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwall suggest: NetworkPolicies from observed flows, read from flow-log files (rotated ones
 * included) or from the running daemon for a while (--live). The policies come from
 * ctl/suggest; this file reads the inputs, reports every line it cannot use with its file and
 * line, and prints YAML that `podwall apply -f -` takes unchanged.
 */
#include <poll.h>

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
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct pw_suggest_opts opts = {.sz = sizeof(opts)};
	struct sg_cli s = {0};
	const char **files = calloc((size_t)argc + 1, sizeof(char *)), **objects;
	size_t nfiles = 0, nobjects = 0;
	enum output out = OUT_YAML;
	int64_t live_ns = 0;
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
