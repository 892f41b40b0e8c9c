// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwall get and describe: the resources (namespaces, pods, networkpolicies,
 * identities), their table columns, and one pod described.
 */
#include "cli.h"

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
	{"NAMESPACE", "namespace", false, true},
	{"NAME", "name"},
	{"POD-SELECTOR", "podSelector|pod_selector"},
	{"POLICY-TYPES", "policyTypes|types"},
	{"ENFORCEMENT", "enforcement"},
	{"SELECTED", "selected|selected_pods", true},
	{NULL},
};

/* every namespace unless -n: a quarantine anywhere is what a security team looks for */
static const struct column q_cols[] = {
	{"NAMESPACE", "namespace"}, {"NAME", "name"},	       {"SINCE", "since"},
	{"REASON", "reason"},	    {"DNS", "allowDns", true}, {NULL},
};

static const struct column node_cols[] = {
	{"NAME", "name"},
	{"STATUS", "status"},
	{"REVISION", "revision"},
	{"LAG", "lag"},
	{NULL},
};

static const struct column id_cols[] = {
	{"IDENTITY", "identity|id"},
	{"NAMESPACE", "namespace"},
	{"LABELS", "labels"},
	{"REFS", "refs|refcount|pods", true},
	{NULL},
};

static const struct column svc_cols[] = {
	{"NAMESPACE", "namespace", false, true},
	{"NAME", "name"},
	{"CLUSTER-IPS", "clusterIPs"},
	{"PORTS", "portsText"},
	{"BACKENDS", "backends"},
	{NULL},
};

static const struct column eps_cols[] = {
	{"NAMESPACE", "namespace", false, true},
	{"NAME", "name"},
	{"SERVICE", "service"},
	{"ADDRESSTYPE", "addressType"},
	{"ENDPOINTS", "endpoints"},
	{"READY", "ready"},
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
	{{"services", "service", "svc", "services.v1"}, "services", true, svc_cols},
	{{"endpointslices", "endpointslice", "eps", "endpointslices.discovery.k8s.io"},
	 "endpointslices",
	 true,
	 eps_cols},
	{{"quarantines", "quarantine", "q"}, "quarantines", false, q_cols},
	{{"nodes", "node", "no"}, "nodes", false, node_cols},
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

int cmd_get(struct cli *c, int argc, char **argv)
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
		       "networkpolicies, services, endpointslices, identities, quarantines, nodes");
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
int split_ref(const char *arg, const char *ns_opt, char *ns, size_t nslen, char *name,
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

int cmd_describe(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"namespace", required_argument, NULL, 'n'},
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *ns_opt = NULL;
	const struct resource *r;
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
	r = argc - optind == 2 ? find_resource(argv[optind]) : NULL;
	if (!r || (strcmp(r->what, "pods") && strcmp(r->what, "services"))) {
		errorf("describe takes: pod|service NS/NAME (or pod|service NAME -n NS)");
		return 1;
	}
	if (split_ref(argv[optind + 1], ns_opt, ns, sizeof(ns), name, sizeof(name))) {
		errorf("\"%s\" is not NS/NAME", argv[optind + 1]);
		return 1;
	}
	req = pw_proto_request(PW_OP_DESCRIBE);
	if (req) {
		json_object_object_add(
			req, "kind",
			json_object_new_string(strcmp(r->what, "services") ? "pod" : "service"));
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
