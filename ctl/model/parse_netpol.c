// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The manifest parser: NetworkPolicy objects, decoded strictly (an unknown field is an
 * error): ports, peers, ipBlocks, rules.
 */
#define _GNU_SOURCE
#include "parse_int.h"

static const char *const np_spec_keys[] = {"podSelector", "policyTypes", "ingress", "egress", NULL};
static const char *const in_rule_keys[] = {"ports", "from", NULL};
static const char *const eg_rule_keys[] = {"ports", "to", NULL};
static const char *const np_port_keys[] = {"protocol", "port", "endPort", NULL};
static const char *const peer_keys[] = {"podSelector", "namespaceSelector", "ipBlock", NULL};
static const char *const ipblock_keys[] = {"cidr", "except", NULL};
/* --- NetworkPolicy ---------------------------------------------------------------------- */

static int parse_np_port(struct pctx *c, struct ynode *n, unsigned int line, const char *path,
			 struct pw_np_port *p)
{
	char sub[PATHSZ], *proto = NULL;
	unsigned int kl, pl, el;
	struct ynode *v;
	long long end = 0;
	const char *s, *why;
	int ret = 0, r, have_end;
	size_t l;
	enum sk k;

	p->proto = IPPROTO_TCP; /* SetDefaults_NetworkPolicy */
	r = get_map(c, n, line, path, np_port_keys);
	if (r < 0)
		return -1;
	line = node_line(n, line);
	r = mget_string(c, n, "protocol", line, &kl, pj(sub, path, "protocol"), &proto);
	if (r < 0) {
		ret = -1;
	} else if (r > 0) {
		if (pw_ipproto_parse(proto, &p->proto)) {
			perr(c, kl, sub,
			     "Unsupported value: \"%.40s\": supported values: \"SCTP\", \"TCP\", "
			     "\"UDP\"",
			     proto);
			ret = -1;
		}
		p->proto_set = true;
	}
	free(proto);

	/* port is an IntOrString: a number, or a named port */
	v = mget(n, "port", line, &pl);
	pj(sub, path, "port");
	k = scalar_kind(v, &s, &l);
	if (k == SK_INT) {
		long long port;

		if (get_int(c, v, pl, sub, 1, 65535, &port) < 0)
			ret = -1;
		else
			p->port = (uint16_t)port;
		p->port_set = true;
	} else if (k == SK_STR) {
		if (get_string(c, v, pl, sub, &p->port_name) < 0)
			ret = -1;
		else if ((why = pw_invalid_port_name(p->port_name))) {
			perr(c, node_line(v, pl), sub, "Invalid value: \"%.40s\": %s", p->port_name,
			     why);
			ret = -1;
		}
		p->port_set = true;
	} else if (k != SK_NULL) {
		perr(c, node_line(v, pl), sub, "must be a port number or a port name, not %s",
		     k == SK_INT_OTHER ? "a non-decimal integer" : sk_name(k));
		ret = -1;
	}

	pj(sub, path, "endPort");
	have_end = mget_int(c, n, "endPort", line, &el, sub, 1, 65535, &end);
	if (have_end < 0)
		return -1;
	if (have_end > 0) {
		if (!p->port_set) {
			perr(c, el, sub, "may not be specified when `port` is not specified");
			ret = -1;
		} else if (p->port_name) {
			perr(c, el, sub, "may not be specified when `port` is non-numeric");
			ret = -1;
		} else if (p->port && end < p->port) {
			perr(c, el, sub, "must be >= port (%u)", p->port);
			ret = -1;
		} else {
			p->end_port = (uint16_t)end;
		}
	}
	return c->stop ? -1 : ret;
}

static int parse_ipblock(struct pctx *c, struct ynode *n, unsigned int line, const char *path,
			 struct pw_ipblock *b)
{
	void *sit = NULL; /* sequence iterator: items in order, O(1) each */
	char sub[PATHSZ], ip[PATHSZ], *s = NULL, buf[PW_PREFIX_STRLEN], buf2[PW_PREFIX_STRLEN];
	struct ynode *ex;
	unsigned int kl, el;
	size_t count = 0, i;
	bool host_bits;
	int ret = 0, r;

	r = get_map(c, n, line, path, ipblock_keys);
	if (r < 0)
		return -1;
	line = node_line(n, line);
	r = mget_string(c, n, "cidr", line, &kl, pj(sub, path, "cidr"), &s);
	if (r == 0 || (s && !*s))
		perr(c, kl, sub, "Required value");
	if (r <= 0 || !*s) {
		free(s);
		return -1;
	}
	if (pw_prefix_parse(s, &b->cidr, &host_bits)) {
		perr(c, kl, sub,
		     "Invalid value: \"%.64s\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or "
		     "2001:db8::/64)",
		     s);
		free(s);
		return -1;
	}
	if (host_bits)
		pwarn(c, kl, sub, "\"%.64s\" has host bits set: read as %s", s,
		      pw_prefix_str(&b->cidr, buf, sizeof(buf)));
	free(s);
	s = NULL;

	ex = mget(n, "except", line, &el);
	pj(sub, path, "except");
	if (get_seq(c, ex, el, sub, c->lim.max_list, &count) < 0)
		return -1;
	if (count) {
		b->except = calloc(count, sizeof(*b->except));
		if (!b->except) {
			oom(c);
			return -1;
		}
	}
	for (i = 0; i < count && !c->stop; i++) {
		struct ynode *item = yn_seq_iterate(ex, &sit);
		unsigned int il = node_line(item, el);
		struct pw_prefix e;

		pi(ip, sub, i);
		r = get_string(c, item, il, ip, &s);
		if (r == 0)
			perr(c, il, ip, "Required value");
		if (r <= 0) {
			ret = -1;
			continue;
		}
		if (pw_prefix_parse(s, &e, NULL)) {
			perr(c, il, ip,
			     "Invalid value: \"%.64s\": must be a valid CIDR value, (e.g. "
			     "10.9.8.0/24 "
			     "or 2001:db8::/64)",
			     s);
			ret = -1;
		} else if (!pw_prefix_contains(&b->cidr, &e) || e.prefixlen <= b->cidr.prefixlen) {
			perr(c, il, ip,
			     "Invalid value: \"%.64s\": must be a strict subset of `cidr` (%s)", s,
			     pw_prefix_str(&b->cidr, buf2, sizeof(buf2)));
			ret = -1;
		} else {
			b->except[b->n_except++] = e;
		}
		free(s);
		s = NULL;
	}
	return c->stop ? -1 : ret;
}

static int parse_peer(struct pctx *c, struct ynode *n, unsigned int line, const char *path,
		      struct pw_np_peer *p)
{
	static const char *const sel_fields[] = {"podSelector", "namespaceSelector"};
	char sub[PATHSZ];
	struct ynode *v;
	unsigned int kl;
	int ret = 0, r, peers = 0;
	size_t i;

	r = get_map(c, n, line, path, peer_keys);
	if (r < 0)
		return -1;
	line = node_line(n, line);
	for (i = 0; i < 2; i++) {
		struct pw_selector **dst = i ? &p->ns_sel : &p->pod_sel;

		v = mget(n, sel_fields[i], line, &kl);
		if (!v)
			continue;
		peers++;
		*dst = calloc(1, sizeof(**dst));
		if (!*dst) {
			oom(c);
			return -1;
		}
		if (parse_selector(c, v, kl, pj(sub, path, sel_fields[i]), *dst) < 0)
			ret = -1;
	}
	v = mget(n, "ipBlock", line, &kl);
	if (v) {
		peers++;
		p->ipblock = calloc(1, sizeof(*p->ipblock));
		if (!p->ipblock) {
			oom(c);
			return -1;
		}
		if (parse_ipblock(c, v, kl, pj(sub, path, "ipBlock"), p->ipblock) < 0)
			ret = -1;
	}
	if (!peers) {
		perr(c, line, path,
		     "Required value: must specify a peer (podSelector, namespaceSelector or "
		     "ipBlock)");
		ret = -1;
	} else if (peers > 1 && p->ipblock) {
		perr(c, line, path, "Forbidden: may not specify both ipBlock and another peer");
		ret = -1;
	}
	return c->stop ? -1 : ret;
}

static int parse_rule(struct pctx *c, struct ynode *n, unsigned int line, const char *path,
		      bool ingress, struct pw_np_rule *rule)
{
	void *sit = NULL; /* sequence iterator: items in order, O(1) each */
	const char *peers_key = ingress ? "from" : "to";
	char sub[PATHSZ], ip[PATHSZ];
	struct ynode *v;
	unsigned int kl;
	size_t count, i;
	int ret = 0, r;

	r = get_map(c, n, line, path, ingress ? in_rule_keys : eg_rule_keys);
	if (r < 0)
		return -1;
	line = node_line(n, line);

	v = mget(n, "ports", line, &kl);
	pj(sub, path, "ports");
	r = get_seq(c, v, kl, sub, c->lim.max_list, &count);
	if (r < 0)
		return -1;
	rule->ports_set = r > 0;
	if (count) {
		rule->ports = calloc(count, sizeof(*rule->ports));
		if (!rule->ports) {
			oom(c);
			return -1;
		}
	}
	for (i = 0; i < count && !c->stop; i++) {
		struct ynode *item = yn_seq_iterate(v, &sit);

		if (parse_np_port(c, item, node_line(item, kl), pi(ip, sub, i),
				  &rule->ports[rule->n_ports++]) < 0)
			ret = -1;
	}

	v = mget(n, peers_key, line, &kl);
	pj(sub, path, peers_key);
	sit = NULL;
	r = get_seq(c, v, kl, sub, c->lim.max_list, &count);
	if (r < 0)
		return -1;
	rule->peers_set = r > 0;
	if (count) {
		rule->peers = calloc(count, sizeof(*rule->peers));
		if (!rule->peers) {
			oom(c);
			return -1;
		}
	}
	for (i = 0; i < count && !c->stop; i++) {
		struct ynode *item = yn_seq_iterate(v, &sit);

		if (parse_peer(c, item, node_line(item, kl), pi(ip, sub, i),
			       &rule->peers[rule->n_peers++]) < 0)
			ret = -1;
	}
	return c->stop ? -1 : ret;
}

static int parse_rules(struct pctx *c, struct ynode *spec, unsigned int line, const char *path,
		       bool ingress, bool *set, size_t *n_rules, struct pw_np_rule **rules)
{
	void *sit = NULL; /* sequence iterator: items in order, O(1) each */
	const char *key = ingress ? "ingress" : "egress";
	char sub[PATHSZ], ip[PATHSZ];
	struct ynode *v;
	unsigned int kl;
	size_t count, i;
	int ret = 0, r;

	v = mget(spec, key, line, &kl);
	pj(sub, path, key);
	r = get_seq(c, v, kl, sub, c->lim.max_list, &count);
	if (r < 0)
		return -1;
	*set = r > 0;
	if (count) {
		*rules = calloc(count, sizeof(**rules));
		if (!*rules) {
			oom(c);
			return -1;
		}
	}
	for (i = 0; i < count && !c->stop; i++) {
		struct ynode *item = yn_seq_iterate(v, &sit);

		/* a null rule ("- ") decodes to the empty rule {} */
		if (parse_rule(c, item, node_line(item, kl), pi(ip, sub, i), ingress,
			       &(*rules)[(*n_rules)++]) < 0)
			ret = -1;
	}
	return c->stop ? -1 : ret;
}

int parse_netpol(struct pctx *c, struct ynode *obj, unsigned int line, const char *prefix,
		 struct pw_netpol *np)
{
	void *sit = NULL; /* sequence iterator: items in order, O(1) each */
	char path[PATHSZ], sub[PATHSZ], ip[PATHSZ];
	struct ynode *spec, *v;
	unsigned int sl, kl;
	struct meta m = {0};
	size_t count, i;
	int ret, r;

	ret = parse_meta(c, obj, line, prefix, PW_KIND_NETPOL, &m);
	np->name = m.name;
	np->namespace = m.namespace;
	np->labels = m.labels;
	np->annotations = m.annotations;

	spec = mget(obj, "spec", line, &sl);
	pj(path, prefix, "spec");
	r = get_map(c, spec, sl, path, np_spec_keys);
	if (r < 0)
		return -1;
	sl = node_line(spec, sl);

	/* absent or null: the empty selector, every pod of the namespace */
	v = mget(spec, "podSelector", sl, &kl);
	if (v && parse_selector(c, v, kl, pj(sub, path, "podSelector"), &np->pod_sel) < 0)
		ret = -1;

	v = mget(spec, "policyTypes", sl, &kl);
	pj(sub, path, "policyTypes");
	r = get_seq(c, v, kl, sub, c->lim.max_list, &count);
	if (r < 0) {
		ret = -1;
	} else if (count > 2) {
		perr(c, kl, sub, "may not specify more than two policyTypes");
		ret = -1;
	}
	for (i = 0; r > 0 && count <= 2 && i < count; i++) {
		struct ynode *item = yn_seq_iterate(v, &sit);
		char *t = NULL;
		int rt;

		pi(ip, sub, i);
		rt = get_string(c, item, kl, ip, &t);
		if (rt < 0) {
			ret = -1;
		} else if (rt > 0 && !strcmp(t, "Ingress")) {
			np->types |= PW_NP_INGRESS;
		} else if (rt > 0 && !strcmp(t, "Egress")) {
			np->types |= PW_NP_EGRESS;
		} else {
			perr(c, node_line(item, kl), ip,
			     "Unsupported value: \"%.40s\": supported values: \"Egress\", "
			     "\"Ingress\"",
			     t ? t : "");
			ret = -1;
		}
		free(t);
	}
	np->types_set = np->types != 0;

	if (parse_rules(c, spec, sl, path, true, &np->ingress_set, &np->n_ingress, &np->ingress) <
	    0)
		ret = -1;
	if (parse_rules(c, spec, sl, path, false, &np->egress_set, &np->n_egress, &np->egress) < 0)
		ret = -1;
	if (ret || c->stop)
		return -1;

	/*
	 * SetDefaults_NetworkPolicy: without policyTypes (absent or empty) a policy is always of
	 * type Ingress, and of type Egress too only when spec.egress is non-empty. So
	 * `egress: []` without policyTypes isolates nothing for egress, while `ingress` absent
	 * still isolates for ingress.
	 */
	if (!np->types_set) {
		np->types = PW_NP_INGRESS;
		if (np->n_egress)
			np->types |= PW_NP_EGRESS;
	}
	if (!(np->types & PW_NP_INGRESS) && np->n_ingress)
		pwarn(c, sl, pj(sub, path, "ingress"),
		      "ignored: policyTypes does not include Ingress");
	if (!(np->types & PW_NP_EGRESS) && np->n_egress)
		pwarn(c, sl, pj(sub, path, "egress"),
		      "ignored: policyTypes does not include Egress");
	return c->stop ? -1 : 0;
}
