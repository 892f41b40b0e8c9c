// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwall flows: recent flow records, filtered, as a table or JSON lines; -f follows.
 */
#include "cli.h"

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
int cmd_flows(struct cli *c, int argc, char **argv)
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
