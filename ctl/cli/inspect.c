// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwall explain and status: one connection's verdict, the daemon's state.
 */
#include "cli.h"

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

int cmd_explain(struct cli *c, int argc, char **argv)
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
	if (pw_ipproto_parse(protobuf, &ipproto)) {
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

int cmd_status(struct cli *c, int argc, char **argv)
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
