// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwall apply and delete: reading manifests (files, directories, stdin), sending them,
 * printing what each object became. The daemon parses them, once: its errors name file,
 * document and field, and nothing changes when any input is bad. (The CLI used to parse every
 * input first with the same parser: half a second of a 10,000-pod apply, for errors the
 * daemon reports in the same words.)
 */
#include "cli.h"

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
	int err = pw_read_bounded(fd, PW_CLI_MAX_INPUT, 0, out, len);

	if (err == -EFBIG)
		errorf("%s: larger than %u MiB", name, PW_CLI_MAX_INPUT >> 20);
	else if (err && err != -ENOMEM)
		errorf("%s: %s", name, strerror(-err));
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
	if (!strcmp(kind, "Service"))
		return "service";
	if (!strcmp(kind, "EndpointSlice"))
		return "endpointslice.discovery.k8s.io";
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

static int do_apply_delete(struct cli *c, int argc, char **argv, bool del)
{
	static const struct option opts[] = {
		{"filename", required_argument, NULL, 'f'},
		{"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *name = del ? "delete" : "apply";
	int64_t timeout_ns = 0;
	struct docs d = {0};
	json_object *req, *resp = NULL, *result;
	int o, err = 0, nfiles = 0;

	while ((o = next_opt(name, argc, argv, "+f:h", opts)) != -1) {
		switch (o) {
		case 'f':
			nfiles++;
			if (!err)
				err = docs_add(&d, optarg);
			break;
		case 't':
			if (pw_duration_parse(optarg, &timeout_ns) || timeout_ns < 1000000) {
				errorf("--timeout \"%s\": expected a duration such as 30s or 2m",
				       optarg);
				docs_free(&d);
				return 1;
			}
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
	req = pw_proto_request(del ? PW_OP_DELETE : PW_OP_APPLY);
	if (req)
		json_object_object_add(req, "docs", docs_json(&d));
	/* cluster mode: how long to wait for every live node (the daemon's default: 30s) */
	if (req && timeout_ns)
		json_object_object_add(req, "timeout_ms",
				       json_object_new_int64(timeout_ns / 1000000));
	err = call(c, req, &resp, &result);
	if (!err)
		print_outcomes(result);
out:
	json_object_put(resp);
	docs_free(&d);
	return err ? 1 : 0;
}

int cmd_apply(struct cli *c, int argc, char **argv)
{
	return do_apply_delete(c, argc, argv, false);
}

int cmd_delete(struct cli *c, int argc, char **argv)
{
	return do_apply_delete(c, argc, argv, true);
}
