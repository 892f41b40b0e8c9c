// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The manifest parser: Namespace and Pod objects (spec ports, status IPs, podwall.io
 * annotations).
 */
#define _GNU_SOURCE
#include "parse_int.h"

/* --- Namespace -------------------------------------------------------------------------- */

int parse_namespace(struct pctx *c, struct ynode *obj, unsigned int line, const char *prefix,
		    struct pw_namespace *ns)
{
	struct meta m = {0};

	if (parse_meta(c, obj, line, prefix, PW_KIND_NAMESPACE, &m) < 0) {
		meta_clear(&m);
		return -1;
	}
	ns->name = m.name;
	ns->labels = m.labels;
	ns->annotations = m.annotations;
	/* the API server (1.21+) sets it on every namespace and overwrites what the user wrote */
	if (pw_labels_set(&ns->labels, PW_LABEL_NS_NAME, ns->name)) {
		oom(c);
		return -1;
	}
	return 0;
}

/* --- Pod -------------------------------------------------------------------------------- */

static int parse_container_ports(struct pctx *c, struct ynode *seq, unsigned int line,
				 const char *path, size_t count, struct pw_pod *pod, size_t cont)
{
	void *sit = NULL; /* sequence iterator: items in order, O(1) each */
	char ip[PATHSZ], sub[PATHSZ];
	struct pw_container_port *np;
	size_t i, j;
	int ret = 0;

	np = realloc(pod->ports, (pod->n_ports + count + 1) * sizeof(*np));
	if (!np) {
		oom(c);
		return -1;
	}
	pod->ports = np;
	for (i = 0; i < count && !c->stop; i++) {
		struct ynode *item = yn_seq_iterate(seq, &sit);
		struct pw_container_port p = {.proto = IPPROTO_TCP, .container = (uint16_t)cont};
		unsigned int il = node_line(item, line), kl;
		long long port;
		char *proto = NULL;
		const char *why;
		int r;

		pi(ip, path, i);
		r = get_map(c, item, il, ip, NULL);
		if (r == 0)
			perr(c, il, ip, "must be a map");
		if (r <= 0) {
			ret = -1;
			continue;
		}
		r = mget_int(c, item, "containerPort", il, &kl, pj(sub, ip, "containerPort"), 1,
			     65535, &port);
		if (r == 0)
			perr(c, kl, sub, "Required value");
		if (r <= 0)
			ret = -1;
		else
			p.port = (uint16_t)port;
		r = mget_string(c, item, "protocol", il, &kl, pj(sub, ip, "protocol"), &proto);
		if (r < 0) {
			ret = -1;
		} else if (proto && pw_ipproto_parse(proto, &p.proto)) {
			perr(c, kl, sub,
			     "Unsupported value: \"%.40s\": supported values: \"SCTP\", \"TCP\", "
			     "\"UDP\"",
			     proto);
			ret = -1;
		}
		free(proto);
		r = mget_string(c, item, "name", il, &kl, pj(sub, ip, "name"), &p.name);
		if (r < 0) {
			ret = -1;
		} else if (p.name && (why = pw_invalid_port_name(p.name))) {
			perr(c, kl, sub, "Invalid value: \"%.40s\": %s", p.name, why);
			ret = -1;
		} else if (p.name) {
			for (j = 0; j < pod->n_ports; j++) {
				if (pod->ports[j].name && !strcmp(pod->ports[j].name, p.name)) {
					perr(c, kl, sub, "Duplicate value: \"%s\"", p.name);
					ret = -1;
					break;
				}
			}
		}
		/* kept even when bad, so it is freed with the pod */
		pod->ports[pod->n_ports++] = p;
	}
	return c->stop ? -1 : ret;
}

static int parse_pod_spec(struct pctx *c, struct ynode *obj, unsigned int line,
			  const char *prefix, struct pw_pod *pod)
{
	void *sit = NULL; /* sequence iterator: items in order, O(1) each */
	char path[PATHSZ], cpath[PATHSZ], ip[PATHSZ], sub[PATHSZ];
	struct ynode *spec, *cont;
	unsigned int sl, cl, kl;
	size_t count, i, j;
	char **names = NULL;
	int ret = 0, r;

	spec = mget(obj, "spec", line, &sl);
	pj(path, prefix, "spec");
	r = get_map(c, spec, sl, path, NULL);
	if (r <= 0)
		return r;
	sl = node_line(spec, sl);
	cont = mget(spec, "containers", sl, &cl);
	pj(cpath, path, "containers");
	r = get_seq(c, cont, cl, cpath, c->lim.max_list, &count);
	if (r <= 0)
		return r;
	names = calloc(count + 1, sizeof(*names));
	if (!names) {
		oom(c);
		return -1;
	}
	for (i = 0; i < count && !c->stop; i++) {
		struct ynode *item = yn_seq_iterate(cont, &sit);
		unsigned int il = node_line(item, cl);
		struct ynode *ports;
		const char *why;
		size_t n_ports;

		pi(ip, cpath, i);
		r = get_map(c, item, il, ip, NULL);
		if (r == 0)
			perr(c, il, ip, "must be a map");
		if (r <= 0) {
			ret = -1;
			continue;
		}
		r = mget_string(c, item, "name", il, &kl, pj(sub, ip, "name"), &names[i]);
		if (r == 0)
			perr(c, kl, sub, "Required value");
		if (r <= 0) {
			ret = -1;
		} else if ((why = pw_invalid_dns1123_label(names[i]))) {
			perr(c, kl, sub, "Invalid value: \"%.80s\": %s", names[i], why);
			ret = -1;
		} else {
			for (j = 0; j < i; j++) {
				if (names[j] && !strcmp(names[j], names[i])) {
					perr(c, kl, sub, "Duplicate value: \"%s\"", names[i]);
					ret = -1;
				}
			}
		}
		ports = mget(item, "ports", il, &kl);
		pj(sub, ip, "ports");
		r = get_seq(c, ports, kl, sub, c->lim.max_list, &n_ports);
		if (r < 0 || (r > 0 && parse_container_ports(c, ports, kl, sub, n_ports, pod, i) < 0))
			ret = -1;
	}
	/* kept with the pod (freed with it), so `get -o yaml` prints them back */
	pod->containers = names;
	pod->n_containers = count;
	return c->stop ? -1 : ret;
}

static int parse_pod_status(struct pctx *c, struct ynode *obj, unsigned int line,
			    const char *prefix, struct pw_pod *pod)
{
	void *sit = NULL; /* sequence iterator: items in order, O(1) each */
	char path[PATHSZ], sub[PATHSZ], ip[PATHSZ], isub[PATHSZ];
	struct pw_addr primary = {0};
	struct ynode *st, *ips;
	unsigned int sl, kl, pl;
	char *s = NULL;
	size_t count = 0, i, j;
	bool have_primary = false;
	int ret = 0, r;

	st = mget(obj, "status", line, &sl);
	pj(path, prefix, "status");
	r = get_map(c, st, sl, path, NULL);
	if (r <= 0)
		return r;
	sl = node_line(st, sl);

	r = mget_string(c, st, "podIP", sl, &pl, pj(sub, path, "podIP"), &s);
	if (r < 0)
		return -1;
	if (r > 0 && *s) {
		if (pw_addr_parse(s, &primary)) {
			perr(c, pl, sub, "Invalid value: \"%.64s\": must be a valid IP address", s);
			free(s);
			return -1;
		}
		have_primary = true;
	}
	free(s);
	s = NULL;

	ips = mget(st, "podIPs", sl, &kl);
	pj(sub, path, "podIPs");
	r = get_seq(c, ips, kl, sub, c->lim.max_list, &count);
	if (r < 0)
		return -1;
	for (i = 0; i < count && !c->stop; i++) {
		struct ynode *item = yn_seq_iterate(ips, &sit);
		unsigned int il = node_line(item, kl), vl;
		struct pw_addr a;

		pi(ip, sub, i);
		r = get_map(c, item, il, ip, NULL);
		if (r == 0)
			perr(c, il, ip, "must be a map with ip");
		if (r <= 0) {
			ret = -1;
			continue;
		}
		r = mget_string(c, item, "ip", il, &vl, pj(isub, ip, "ip"), &s);
		if (r == 0)
			perr(c, vl, isub, "Required value");
		if (r <= 0) {
			ret = -1;
			continue;
		}
		if (pw_addr_parse(s, &a)) {
			perr(c, vl, isub, "Invalid value: \"%.64s\": must be a valid IP address",
			     s);
			ret = -1;
		} else if (pod->n_ips >= PW_POD_MAX_IPS) {
			perr(c, vl, sub, "may specify no more than one IP for each IP family");
			ret = -1;
		} else {
			for (j = 0; j < pod->n_ips; j++) {
				if (pod->ips[j].family != a.family)
					continue;
				if (!memcmp(pod->ips[j].a, a.a, sizeof(a.a)))
					perr(c, vl, isub, "Duplicate value: \"%.64s\"", s);
				else
					perr(c, vl, sub,
					     "may specify no more than one IP for each IP family");
				ret = -1;
			}
			if (!ret)
				pod->ips[pod->n_ips++] = a;
		}
		free(s);
		s = NULL;
	}
	if (ret)
		return -1;
	if (have_primary) {
		/* the API server keeps podIP == podIPs[0]; either may come alone */
		if (!pod->n_ips) {
			pod->ips[pod->n_ips++] = primary;
		} else if (pod->ips[0].family != primary.family ||
			   memcmp(pod->ips[0].a, primary.a, sizeof(primary.a))) {
			perr(c, pl, pj(sub, path, "podIP"), "must be the same as podIPs[0]");
			return -1;
		}
	}
	return c->stop ? -1 : 0;
}

int parse_pod(struct pctx *c, struct ynode *obj, unsigned int line, const char *prefix,
	      struct pw_pod *pod)
{
	unsigned int ml, al, kl;
	struct ynode *meta, *ann;
	char path[PATHSZ];
	struct meta m = {0};
	const char *v, *why;
	int ret = 0;

	ret = parse_meta(c, obj, line, prefix, PW_KIND_POD, &m);
	pod->name = m.name;
	pod->namespace = m.namespace;
	pod->labels = m.labels;
	pod->annotations = m.annotations;
	/* the annotation's own line, for the messages below */
	meta = mget(obj, "metadata", line, &ml);
	ann = mget(meta, "annotations", ml, &al);
	pj(path, prefix, "metadata.annotations." PW_ANNOT_INTERFACE);
	v = pw_labels_get(&pod->annotations, PW_ANNOT_INTERFACE);
	if (v && (why = pw_invalid_ifname(v))) {
		mget(ann, PW_ANNOT_INTERFACE, al, &kl);
		perr(c, kl, path, "Invalid value: \"%.64s\": %s", v, why);
		ret = -1;
	} else if (v && !(pod->interface = strdup(v))) {
		oom(c);
	}
	pj(path, prefix, "metadata.annotations." PW_ANNOT_CGROUP);
	v = pw_labels_get(&pod->annotations, PW_ANNOT_CGROUP);
	if (v && (why = pw_invalid_cgroup_path(v))) {
		mget(ann, PW_ANNOT_CGROUP, al, &kl);
		perr(c, kl, path, "Invalid value: \"%.64s\": %s", v, why);
		ret = -1;
	} else if (v && !(pod->cgroup = strdup(v))) {
		oom(c);
	}
	if (parse_pod_spec(c, obj, line, prefix, pod) < 0)
		ret = -1;
	if (parse_pod_status(c, obj, line, prefix, pod) < 0)
		ret = -1;
	return c->stop ? -1 : ret;
}
