// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * v1 Service and discovery.k8s.io/v1 EndpointSlice, decoded and validated as the API server
 * does (pkg/apis/core/validation ValidateService, pkg/apis/discovery/validation), with the
 * parser's typed getters (parse_int.h). Only what podwall enforces is kept; other fields of
 * the spec are accepted by name (so a typo is still an error) and ignored.
 *
 * What needs other objects (clusterIP inside the service CIDRs, one Service per clusterIP, a
 * slice's Service existing) is checked by the core when the objects are stored (svc.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "parse_int.h"

static const char *const svc_spec_keys[] = {
	"ports",
	"selector",
	"clusterIP",
	"clusterIPs",
	"type",
	"externalIPs",
	"sessionAffinity",
	"sessionAffinityConfig",
	"loadBalancerIP",
	"loadBalancerSourceRanges",
	"loadBalancerClass",
	"externalName",
	"externalTrafficPolicy",
	"internalTrafficPolicy",
	"healthCheckNodePort",
	"publishNotReadyAddresses",
	"ipFamilies",
	"ipFamilyPolicy",
	"allocateLoadBalancerNodePorts",
	"trafficDistribution",
	NULL,
};
static const char *const svc_port_keys[] = {"name",	  "protocol", "appProtocol", "port",
					    "targetPort", "nodePort", NULL};
const char *const pw_parse_epslice_keys[] = {"apiVersion", "kind",  "metadata", "addressType",
					     "endpoints",  "ports", NULL};
static const char *const eps_ep_keys[] = {"addresses", "conditions",	     "hostname",
					  "targetRef", "nodeName",	     "zone",
					  "hints",     "deprecatedTopology", NULL};
static const char *const eps_cond_keys[] = {"ready", "serving", "terminating", NULL};
static const char *const eps_port_keys[] = {"name", "protocol", "appProtocol", "port", NULL};
static const char *const ref_keys[] = {"kind",	     "namespace",	"name",	     "uid",
				       "apiVersion", "resourceVersion", "fieldPath", NULL};

/* The API server's limits: EndpointSlice endpoints and ports, addresses per endpoint */
#define EPS_MAX_ENDPOINTS 1000
#define EPS_MAX_PORTS	  100
#define EPS_MAX_ADDRS	  100

/* DNS-1035 label: Service names (they become DNS names, so no leading digit) */
static const char *invalid_dns1035_label(const char *s)
{
	const char *why = pw_invalid_dns1123_label(s);

	if (why)
		return why;
	if (s[0] < 'a' || s[0] > 'z')
		return "a DNS-1035 label must start with an alphabetic character";
	return NULL;
}

static int get_proto(struct pctx *c, struct ynode *map, unsigned int il, const char *ip,
		     uint8_t *proto)
{
	char sub[PATHSZ], *s = NULL;
	unsigned int kl;
	int r;

	*proto = IPPROTO_TCP;
	r = mget_string(c, map, "protocol", il, &kl, pj(sub, ip, "protocol"), &s);
	if (r > 0 && pw_ipproto_parse(s, proto)) {
		perr(c, kl, sub,
		     "Unsupported value: \"%.40s\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
		     s);
		r = -1;
	}
	free(s);
	return r < 0 ? -1 : 0;
}

/* targetPort: an integer 1..65535 or an IANA_SVC_NAME (a container port name) */
static int get_target(struct pctx *c, struct ynode *map, unsigned int il, const char *ip,
		      struct pw_svc_port *p)
{
	char sub[PATHSZ];
	struct ynode *v;
	unsigned int kl;
	const char *s, *why;
	long long n;
	size_t l;
	int r;

	v = mget(map, "targetPort", il, &kl);
	pj(sub, ip, "targetPort");
	if (!v) {
		p->target = p->port; /* the API server's default */
		return 0;
	}
	if (scalar_kind(v, &s, &l) == SK_STR) {
		r = get_string(c, v, kl, sub, &p->target_name);
		if (r < 0)
			return -1;
		why = pw_invalid_port_name(p->target_name);
		if (why) {
			perr(c, node_line(v, kl), sub, "Invalid value: \"%.40s\": %s",
			     p->target_name, why);
			return -1;
		}
		return 0;
	}
	r = get_int(c, v, kl, sub, 1, 65535, &n);
	if (r < 0)
		return -1;
	p->target = (uint16_t)n;
	return 0;
}

static int parse_svc_ports(struct pctx *c, struct ynode *seq, unsigned int line, const char *path,
			   size_t count, struct pw_service *svc)
{
	void *sit = NULL;
	char ip[PATHSZ], sub[PATHSZ];
	size_t i, j;
	int ret = 0, r;

	svc->ports = calloc(count + 1, sizeof(*svc->ports));
	if (!svc->ports) {
		oom(c);
		return -1;
	}
	for (i = 0; i < count && !c->stop; i++) {
		struct ynode *item = yn_seq_iterate(seq, &sit);
		struct pw_svc_port *p = &svc->ports[i];
		unsigned int il = node_line(item, line), kl;
		const char *why;
		long long n;

		svc->n_ports = i + 1; /* freed with the Service even when bad */
		pi(ip, path, i);
		r = get_map(c, item, il, ip, svc_port_keys);
		if (r == 0)
			perr(c, il, ip, "must be a map");
		if (r <= 0) {
			ret = -1;
			continue;
		}
		r = mget_string(c, item, "name", il, &kl, pj(sub, ip, "name"), &p->name);
		if (r < 0) {
			ret = -1;
		} else if (p->name && *p->name && (why = pw_invalid_dns1123_label(p->name))) {
			perr(c, kl, sub, "Invalid value: \"%.80s\": %s", p->name, why);
			ret = -1;
		} else if (count > 1 && (!p->name || !*p->name)) {
			perr(c, il, sub, "Required value: a Service with several ports names each");
			ret = -1;
		}
		if (get_proto(c, item, il, ip, &p->proto) < 0)
			ret = -1;
		r = mget_int(c, item, "port", il, &kl, pj(sub, ip, "port"), 1, 65535, &n);
		if (r == 0)
			perr(c, kl, sub, "Required value");
		if (r <= 0) {
			ret = -1;
		} else {
			p->port = (uint16_t)n;
			if (get_target(c, item, il, ip, p) < 0)
				ret = -1;
		}
		if (ret)
			continue;
		for (j = 0; j < i; j++) {
			const struct pw_svc_port *q = &svc->ports[j];

			if (p->name && q->name && *p->name && !strcmp(p->name, q->name)) {
				perr(c, il, pj(sub, ip, "name"), "Duplicate value: \"%s\"",
				     p->name);
				ret = -1;
			}
			if (p->port == q->port && p->proto == q->proto) {
				perr(c, il, pj(sub, ip, "port"),
				     "Duplicate value: port %u/%s is also ports[%zu]", p->port,
				     pw_ipproto_str(p->proto), j);
				ret = -1;
			}
		}
	}
	return c->stop ? -1 : ret;
}

static int parse_cluster_ips(struct pctx *c, struct ynode *spec, unsigned int sl,
			     const char *path, struct pw_service *svc)
{
	void *sit = NULL;
	char sub[PATHSZ], ip[PATHSZ], *one = NULL;
	struct ynode *seq;
	struct pw_addr a;
	unsigned int kl, ll;
	size_t count = 0, i;
	int ret = 0, r;

	r = mget_string(c, spec, "clusterIP", sl, &kl, pj(sub, path, "clusterIP"), &one);
	if (r < 0)
		return -1;
	seq = mget(spec, "clusterIPs", sl, &ll);
	pj(ip, path, "clusterIPs");
	if (get_seq(c, seq, ll, ip, 8, &count) < 0) {
		free(one);
		return -1;
	}
	if (count > PW_SVC_MAX_IPS) {
		perr(c, ll, ip, "Too many: %zu: must have at most 2 items (one per family)", count);
		free(one);
		return -1;
	}
	if (!one && !count) {
		perr(c, kl, sub,
		     "Required value: podwall does not allocate ClusterIPs: write spec.clusterIP "
		     "(or \"None\" for a headless Service)");
		return -1;
	}
	if (one && (!strcmp(one, "None") || !*one)) {
		svc->headless = !strcmp(one, "None");
		if (!svc->headless) {
			perr(c, kl, sub, "Required value: an IP address or \"None\"");
			ret = -1;
		}
		free(one);
		return ret;
	}
	if (one) {
		if (pw_addr_parse(one, &a)) {
			perr(c, kl, sub, "Invalid value: \"%.60s\": must be a valid IP address",
			     one);
			free(one);
			return -1;
		}
		svc->ips[svc->n_ips++] = a;
	}
	for (i = 0; i < count && !c->stop; i++) {
		struct ynode *item = yn_seq_iterate(seq, &sit);
		unsigned int il = node_line(item, ll);
		char *s = NULL;

		pi(sub, ip, i);
		r = get_string(c, item, il, sub, &s);
		if (r <= 0) {
			if (r == 0)
				perr(c, il, sub, "Required value");
			ret = -1;
			continue;
		}
		if (pw_addr_parse(s, &a)) {
			perr(c, il, sub, "Invalid value: \"%.60s\": must be a valid IP address", s);
			ret = -1;
		} else if (i == 0 && one) {
			if (memcmp(&a, &svc->ips[0], sizeof(a))) {
				perr(c, il, sub,
				     "Invalid value: \"%.60s\": must match spec.clusterIP \"%s\"",
				     s, one);
				ret = -1;
			}
		} else if (svc->n_ips && a.family == svc->ips[0].family) {
			perr(c, il, sub,
			     "Invalid value: \"%.60s\": may specify no more than one IP for each "
			     "IP "
			     "family",
			     s);
			ret = -1;
		} else if (svc->n_ips < PW_SVC_MAX_IPS) {
			svc->ips[svc->n_ips++] = a;
		}
		free(s);
	}
	free(one);
	return c->stop ? -1 : ret;
}

int pw_parse_service(struct pctx *c, struct ynode *obj, unsigned int line, const char *prefix,
		     struct pw_service *svc)
{
	char path[PATHSZ], sub[PATHSZ], *type = NULL;
	struct ynode *spec, *ports;
	struct meta m = {0};
	unsigned int sl, kl;
	const char *why;
	size_t count;
	int ret = 0, r;

	if (parse_meta(c, obj, line, prefix, PW_KIND_SERVICE, &m) < 0) {
		meta_clear(&m);
		return -1;
	}
	svc->namespace = m.namespace;
	svc->name = m.name;
	svc->labels = m.labels;
	svc->annotations = m.annotations;
	if ((why = invalid_dns1035_label(svc->name))) {
		perr(c, line, pj(sub, prefix, "metadata.name"), "Invalid value: \"%.80s\": %s",
		     svc->name, why);
		ret = -1;
	}
	spec = mget(obj, "spec", line, &sl);
	pj(path, prefix, "spec");
	r = get_map(c, spec, sl, path, svc_spec_keys);
	if (r == 0)
		perr(c, sl, path, "Required value");
	if (r <= 0)
		return -1;
	sl = node_line(spec, sl);
	r = mget_string(c, spec, "type", sl, &kl, pj(sub, path, "type"), &type);
	if (r < 0) {
		ret = -1;
	} else if (type && strcmp(type, "ClusterIP")) {
		perr(c, kl, sub,
		     "Unsupported value: \"%.40s\": podwall translates type \"ClusterIP\" Services "
		     "only",
		     type);
		ret = -1;
	}
	free(type);
	if (parse_cluster_ips(c, spec, sl, path, svc) < 0)
		ret = -1;
	ports = mget(spec, "ports", sl, &kl);
	pj(sub, path, "ports");
	r = get_seq(c, ports, kl, sub, c->lim.max_list, &count);
	if (r < 0) {
		ret = -1;
	} else if (!count && !svc->headless) {
		perr(c, kl, sub, "Required value");
		ret = -1;
	} else if (count && parse_svc_ports(c, ports, kl, sub, count, svc) < 0) {
		ret = -1;
	}
	return c->stop ? -1 : ret;
}

/* --- EndpointSlice ---------------------------------------------------------------------- */

static int parse_eps_ports(struct pctx *c, struct ynode *seq, unsigned int line, const char *path,
			   size_t count, struct pw_epslice *eps)
{
	void *sit = NULL;
	char ip[PATHSZ], sub[PATHSZ];
	size_t i, j;
	int ret = 0, r;

	eps->ports = calloc(count + 1, sizeof(*eps->ports));
	if (!eps->ports) {
		oom(c);
		return -1;
	}
	for (i = 0; i < count && !c->stop; i++) {
		struct ynode *item = yn_seq_iterate(seq, &sit);
		struct pw_eps_port *p = &eps->ports[i];
		unsigned int il = node_line(item, line), kl;
		const char *why;
		long long n;

		eps->n_ports = i + 1;
		pi(ip, path, i);
		r = get_map(c, item, il, ip, eps_port_keys);
		if (r <= 0) {
			if (r == 0)
				perr(c, il, ip, "must be a map");
			ret = -1;
			continue;
		}
		r = mget_string(c, item, "name", il, &kl, pj(sub, ip, "name"), &p->name);
		if (r < 0) {
			ret = -1;
			continue;
		}
		if (!p->name && !(p->name = strdup(""))) {
			oom(c);
			return -1;
		}
		if (*p->name && (why = pw_invalid_dns1123_label(p->name))) {
			perr(c, kl, sub, "Invalid value: \"%.80s\": %s", p->name, why);
			ret = -1;
		}
		for (j = 0; j < i; j++) {
			if (eps->ports[j].name && !strcmp(eps->ports[j].name, p->name)) {
				perr(c, kl, sub, "Duplicate value: \"%s\"", p->name);
				ret = -1;
			}
		}
		if (get_proto(c, item, il, ip, &p->proto) < 0)
			ret = -1;
		r = mget_int(c, item, "port", il, &kl, pj(sub, ip, "port"), 0, 65535, &n);
		if (r < 0) {
			ret = -1;
		} else if (r > 0 && n > 0) {
			p->port_set = true;
			p->port = (uint16_t)n;
		}
	}
	return c->stop ? -1 : ret;
}

static int parse_eps_endpoint(struct pctx *c, struct ynode *item, unsigned int il, const char *ip,
			      struct pw_epslice *eps, struct pw_eps_endpoint *e)
{
	void *sit = NULL;
	char sub[PATHSZ], ap[PATHSZ];
	struct ynode *addrs, *cond, *ref, *v;
	unsigned int kl, cl;
	const char *s;
	size_t count, i, l;
	int ret = 0, r;

	r = get_map(c, item, il, ip, eps_ep_keys);
	if (r <= 0) {
		if (r == 0)
			perr(c, il, ip, "must be a map");
		return -1;
	}
	addrs = mget(item, "addresses", il, &kl);
	pj(sub, ip, "addresses");
	r = get_seq(c, addrs, kl, sub, EPS_MAX_ADDRS, &count);
	if (r < 0)
		return -1;
	if (!count) {
		perr(c, kl, sub, "Required value: must contain at least 1 address");
		return -1;
	}
	e->n_addrs = count;
	for (i = 0; i < count && !c->stop; i++) {
		struct ynode *a = yn_seq_iterate(addrs, &sit);
		unsigned int al = node_line(a, kl);
		struct pw_addr addr;
		char *txt = NULL;

		pi(ap, sub, i);
		r = get_string(c, a, al, ap, &txt);
		if (r <= 0) {
			if (r == 0)
				perr(c, al, ap, "Required value");
			ret = -1;
			continue;
		}
		if (pw_addr_parse(txt, &addr)) {
			perr(c, al, ap, "Invalid value: \"%.60s\": must be a valid IP address",
			     txt);
			ret = -1;
		} else if (addr.family != eps->family) {
			perr(c, al, ap, "Invalid value: \"%.60s\": must be an %s address", txt,
			     eps->family == PW_FAMILY_V4 ? "IPv4" : "IPv6");
			ret = -1;
		} else if (i == 0) {
			e->addr = addr;
		}
		free(txt);
	}
	e->ready = true; /* absent: unknown, which consumers take as ready */
	cond = mget(item, "conditions", il, &cl);
	pj(sub, ip, "conditions");
	r = get_map(c, cond, cl, sub, eps_cond_keys);
	if (r < 0) {
		ret = -1;
	} else if (r > 0) {
		v = mget(cond, "ready", cl, &kl);
		r = scalar_kind(v, &s, &l);
		if (r == SK_BOOL) {
			e->ready = s[0] == 't' || s[0] == 'T';
		} else if (r != SK_NULL) {
			perr(c, node_line(v, kl), pj(ap, sub, "ready"), "must be a boolean, not %s",
			     sk_name((enum sk)r));
			ret = -1;
		}
	}
	ref = mget(item, "targetRef", il, &kl);
	pj(sub, ip, "targetRef");
	r = get_map(c, ref, kl, sub, ref_keys);
	if (r < 0) {
		ret = -1;
	} else if (r > 0) {
		char *kind = NULL;

		kl = node_line(ref, kl);
		if (mget_string(c, ref, "kind", kl, &cl, pj(ap, sub, "kind"), &kind) < 0 ||
		    mget_string(c, ref, "namespace", kl, &cl, pj(ap, sub, "namespace"),
				&e->pod_ns) < 0 ||
		    mget_string(c, ref, "name", kl, &cl, pj(ap, sub, "name"), &e->pod_name) < 0)
			ret = -1;
		if (!kind || strcmp(kind, "Pod")) {
			/* only a Pod reference helps: it resolves a named targetPort */
			free(e->pod_ns);
			free(e->pod_name);
			e->pod_ns = e->pod_name = NULL;
		} else if (!e->pod_ns && !(e->pod_ns = strdup(eps->namespace))) {
			oom(c);
		}
		free(kind);
	}
	return c->stop ? -1 : ret;
}

int pw_parse_epslice(struct pctx *c, struct ynode *obj, unsigned int line, const char *prefix,
		     struct pw_epslice *eps)
{
	void *sit = NULL;
	char sub[PATHSZ], ip[PATHSZ], *type = NULL;
	struct ynode *seq;
	struct meta m = {0};
	unsigned int kl;
	const char *svc, *why;
	size_t count, i;
	int ret = 0, r;

	if (parse_meta(c, obj, line, prefix, PW_KIND_EPSLICE, &m) < 0) {
		meta_clear(&m);
		return -1;
	}
	eps->namespace = m.namespace;
	eps->name = m.name;
	eps->labels = m.labels;
	eps->annotations = m.annotations;
	svc = pw_labels_get(&eps->labels, PW_LABEL_SERVICE_NAME);
	pj(sub, prefix, "metadata.labels");
	if (!svc) {
		perr(c, line, sub,
		     "Required value: label \"%s\" names the Service this slice serves",
		     PW_LABEL_SERVICE_NAME);
		ret = -1;
	} else if ((why = invalid_dns1035_label(svc))) {
		perr(c, line, sub, "Invalid value: \"%.80s\": label %s: %s", svc,
		     PW_LABEL_SERVICE_NAME, why);
		ret = -1;
	} else if (!(eps->service = strdup(svc))) {
		oom(c);
		return -1;
	}
	r = mget_string(c, obj, "addressType", line, &kl, pj(sub, prefix, "addressType"), &type);
	if (r == 0)
		perr(c, kl, sub, "Required value");
	if (r <= 0) {
		free(type);
		return -1;
	}
	if (!strcmp(type, "IPv4")) {
		eps->family = PW_FAMILY_V4;
	} else if (!strcmp(type, "IPv6")) {
		eps->family = PW_FAMILY_V6;
	} else {
		perr(c, kl, sub,
		     "Unsupported value: \"%.40s\": supported values: \"IPv4\", \"IPv6\"%s", type,
		     !strcmp(type, "FQDN") ? " (podwall does not translate FQDN slices)" : "");
		free(type);
		return -1;
	}
	free(type);

	seq = mget(obj, "ports", line, &kl);
	pj(sub, prefix, "ports");
	r = get_seq(c, seq, kl, sub, EPS_MAX_PORTS, &count);
	if (r < 0 || (count && parse_eps_ports(c, seq, kl, sub, count, eps) < 0))
		ret = -1;

	seq = mget(obj, "endpoints", line, &kl);
	pj(sub, prefix, "endpoints");
	r = get_seq(c, seq, kl, sub, EPS_MAX_ENDPOINTS, &count);
	if (r < 0)
		return -1;
	if (count) {
		eps->eps = calloc(count, sizeof(*eps->eps));
		if (!eps->eps) {
			oom(c);
			return -1;
		}
	}
	for (i = 0; i < count && !c->stop; i++) {
		struct ynode *item = yn_seq_iterate(seq, &sit);

		eps->n_eps = i + 1;
		if (parse_eps_endpoint(c, item, node_line(item, kl), pi(ip, sub, i), eps,
				       &eps->eps[i]) < 0)
			ret = -1;
	}
	return c->stop ? -1 : ret;
}
