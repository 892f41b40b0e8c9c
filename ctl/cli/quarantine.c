// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* podwall quarantine: cut a pod off (or --lift it); `get quarantines` lists them (get.c). */
#include "cli.h"

/*
 * podwall quarantine NS/POD... | -l SELECTOR -n NS [--lift] [--allow-dns] [--reason TEXT]:
 * returns once the kernel drops everything of the pods, established flows included.
 */
int cmd_quarantine(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"selector", required_argument, NULL, 'l'},
		{"namespace", required_argument, NULL, 'n'},
		{"lift", no_argument, NULL, 'L'},
		{"allow-dns", no_argument, NULL, 'D'},
		{"reason", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *selector = NULL, *ns_opt = NULL, *reason = NULL;
	json_object *req, *resp = NULL, *result, *pods = NULL, *done;
	bool lift = false, dns = false;
	char ns[256], name[256];
	int o;

	while ((o = next_opt("quarantine", argc, argv, "l:n:h", opts)) != -1) {
		switch (o) {
		case 'l':
			selector = optarg;
			break;
		case 'n':
			ns_opt = optarg;
			break;
		case 'L':
			lift = true;
			break;
		case 'D':
			dns = true;
			break;
		case 'r':
			reason = optarg;
			break;
		case 'h':
			return usage_of("quarantine", stdout);
		default:
			return 1;
		}
	}
	if (!selector == (optind >= argc)) {
		errorf("quarantine takes NS/POD... or -l SELECTOR (with -n NS), not both");
		return 1;
	}
	if (lift && (dns || reason)) {
		errorf("--lift takes no --allow-dns or --reason");
		return 1;
	}
	req = pw_proto_request(PW_OP_QUARANTINE);
	if (!req)
		return 1;
	if (selector) {
		json_object_object_add(req, "selector", json_object_new_string(selector));
		json_object_object_add(req, "namespace",
				       json_object_new_string(ns_opt ? ns_opt : "default"));
	} else {
		pods = json_object_new_array();
		for (int i = optind; i < argc; i++) {
			json_object *p = json_object_new_object();

			if (split_ref(argv[i], ns_opt, ns, sizeof(ns), name, sizeof(name))) {
				errorf("\"%s\" is not NS/POD", argv[i]);
				json_object_put(p);
				json_object_put(pods);
				json_object_put(req);
				return 1;
			}
			json_object_object_add(p, "namespace", json_object_new_string(ns));
			json_object_object_add(p, "name", json_object_new_string(name));
			json_object_array_add(pods, p);
		}
		json_object_object_add(req, "pods", pods);
	}
	if (lift)
		json_object_object_add(req, "lift", json_object_new_boolean(1));
	if (dns)
		json_object_object_add(req, "allow_dns", json_object_new_boolean(1));
	if (reason)
		json_object_object_add(req, "reason", json_object_new_string(reason));
	if (call(c, req, &resp, &result))
		return 1;
	done = pw_json_array(result, "pods");
	for (size_t i = 0; done && i < json_object_array_length(done); i++) {
		json_object *p = json_object_array_get_idx(done, i);

		printf("pod/%s %s (namespace %s)\n", pw_json_str(p, "name"),
		       pw_json_str(p, "action"), pw_json_str(p, "namespace"));
	}
	json_object_put(resp);
	return 0;
}
