// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The manifest parser: label maps, label selectors and ObjectMeta, validated as the API
 * server does.
 */
#define _GNU_SOURCE
#include "parse_int.h"

/* ObjectMeta fields: known, so a typo there is an error rather than a silent no-op. */
static const char *const meta_keys[] = {
	"name",	      "generateName",	 "namespace",	      "selfLink",
	"uid",	      "resourceVersion", "generation",	      "creationTimestamp",
	"labels",     "annotations",	 "deletionTimestamp", "deletionGracePeriodSeconds",
	"finalizers", "ownerReferences", "managedFields",     NULL,
};
static const char *const sel_keys[] = {"matchLabels", "matchExpressions", NULL};
static const char *const req_keys[] = {"key", "operator", "values", NULL};

/* Kubernetes' limit on the total size of an object's annotations */
#define ANNOTATIONS_MAX_BYTES (256 * 1024)
/* --- labels and selectors --------------------------------------------------------------- */

static int parse_string_map(struct pctx *c, struct ynode *n, unsigned int line, const char *path,
			    struct pw_labels *out, bool labels, size_t max)
{
	struct ypair *p;
	size_t bytes = 0, l;
	char sub[PATHSZ];
	void *it = NULL;
	int ret, bad = 0;

	ret = get_map(c, n, line, path, NULL);
	if (ret <= 0)
		return ret;
	if ((size_t)yn_count(n) > max) {
		limit_err(c, node_line(n, line), path, "entries", max);
		return -1;
	}
	while (!c->stop && (p = yn_map_iterate(n, &it))) {
		struct ynode *kn = p->key;
		unsigned int kl = node_line(kn, line);
		const char *why, *ks;
		char *key = NULL, *val = NULL;

		if (get_string(c, kn, kl, path, &key) <= 0) {
			if (!key && !c->stop && scalar_kind(kn, &ks, &l) == SK_NULL)
				perr(c, kl, path, "keys must be non-empty strings");
			bad = -1;
			continue;
		}
		why = pw_invalid_qualified_name(key);
		if (why) {
			perr(c, kl, path, "invalid key \"%.80s\": %s", key, why);
			bad = -1;
			free(key);
			continue;
		}
		pj(sub, path, key);
		/* null decodes to "" in a Go map[string]string */
		if (get_string(c, p->value, kl, sub, &val) < 0) {
			bad = -1;
			free(key);
			continue;
		}
		if (labels && val && (why = pw_invalid_label_value(val))) {
			perr(c, kl, sub, "invalid value \"%.80s\": %s", val, why);
			bad = -1;
		} else {
			bytes += strlen(key) + (val ? strlen(val) : 0);
			if (pw_labels_set(out, key, val ? val : ""))
				oom(c);
		}
		free(key);
		free(val);
	}
	if (!labels && bytes > ANNOTATIONS_MAX_BYTES) {
		perr(c, node_line(n, line), path, "may not be more than %d bytes in total (%zu)",
		     ANNOTATIONS_MAX_BYTES, bytes);
		bad = -1;
	}
	return (bad || c->stop) ? -1 : 1;
}

static int parse_req(struct pctx *c, struct ynode *n, unsigned int line, const char *path,
		     struct pw_selector *sel)
{
	void *sit = NULL; /* sequence iterator: items in order, O(1) each */
	char sub[PATHSZ], *key = NULL, *op_s = NULL, **vals = NULL;
	size_t n_vals = 0, i;
	unsigned int kl;
	enum pw_sel_op op = PW_SEL_IN;
	const char *why;
	struct ynode *v;
	int ret = -1, have_vals;

	if (get_map(c, n, line, path, req_keys) <= 0) {
		if (!c->stop && is_null(n))
			perr(c, line, path, "must be a map with key and operator");
		return -1;
	}
	line = node_line(n, line);
	v = mget(n, "key", line, &kl);
	if (get_string(c, v, kl, pj(sub, path, "key"), &key) == 0)
		perr(c, kl, sub, "Required value");
	else if (key && (why = pw_invalid_qualified_name(key)))
		perr(c, kl, sub, "invalid key \"%.80s\": %s", key, why);
	v = mget(n, "operator", line, &kl);
	if (get_string(c, v, kl, pj(sub, path, "operator"), &op_s) == 0)
		perr(c, kl, sub, "Required value");
	else if (op_s && pw_sel_op_parse(op_s, &op))
		perr(c, kl, sub,
		     "Unsupported value: \"%.40s\": supported values: \"In\", \"NotIn\", "
		     "\"Exists\", \"DoesNotExist\"",
		     op_s);
	v = mget(n, "values", line, &kl);
	pj(sub, path, "values");
	have_vals = get_seq(c, v, kl, sub, c->lim.max_selector, &n_vals);
	if (have_vals < 0)
		goto out;
	if (n_vals) {
		vals = calloc(n_vals, sizeof(*vals));
		if (!vals) {
			oom(c);
			goto out;
		}
	}
	for (i = 0; i < n_vals; i++) {
		char ip[PATHSZ];
		struct ynode *item = yn_seq_iterate(v, &sit);

		pi(ip, sub, i);
		if (get_string(c, item, kl, ip, &vals[i]) <= 0) {
			if (!vals[i] && !c->stop &&
			    scalar_kind(item, &why, &(size_t){0}) == SK_NULL)
				perr(c, node_line(item, kl), ip, "must be a string");
			goto out;
		}
		if ((why = pw_invalid_label_value(vals[i]))) {
			perr(c, node_line(item, kl), ip, "invalid value \"%.80s\": %s", vals[i],
			     why);
			goto out;
		}
	}
	if (!key || !op_s || pw_sel_op_parse(op_s, &op))
		goto out;
	if ((op == PW_SEL_IN || op == PW_SEL_NOT_IN) && !n_vals) {
		perr(c, kl, sub,
		     "Required value: must be specified when `operator` is 'In' or 'NotIn'");
		goto out;
	}
	if ((op == PW_SEL_EXISTS || op == PW_SEL_DOES_NOT_EXIST) && n_vals) {
		perr(c, kl, sub,
		     "Forbidden: may not be specified when `operator` is 'Exists' or "
		     "'DoesNotExist'");
		goto out;
	}
	if (pw_invalid_qualified_name(key))
		goto out;
	if (pw_selector_add_req(sel, key, op, (const char *const *)vals, n_vals)) {
		oom(c);
		goto out;
	}
	ret = 0;
out:
	for (i = 0; vals && i < n_vals; i++)
		free(vals[i]);
	free(vals);
	free(key);
	free(op_s);
	return ret;
}

/* A LabelSelector; n must be present (callers decide what absent means). */
int parse_selector(struct pctx *c, struct ynode *n, unsigned int line, const char *path,
		   struct pw_selector *sel)
{
	void *sit = NULL; /* sequence iterator: items in order, O(1) each */
	char sub[PATHSZ], ip[PATHSZ];
	struct ynode *v;
	unsigned int kl;
	size_t n_req = 0, i;
	int ret = 0, r;

	r = get_map(c, n, line, path, sel_keys);
	if (r < 0)
		return -1;
	line = node_line(n, line);
	v = mget(n, "matchLabels", line, &kl);
	if (parse_string_map(c, v, kl, pj(sub, path, "matchLabels"), &sel->match_labels, true,
			     c->lim.max_selector) < 0)
		ret = -1;
	v = mget(n, "matchExpressions", line, &kl);
	pj(sub, path, "matchExpressions");
	if (get_seq(c, v, kl, sub, c->lim.max_selector, &n_req) < 0)
		return -1;
	if (sel->match_labels.n + n_req > c->lim.max_selector) {
		limit_err(c, kl, path, "selector entries", c->lim.max_selector);
		return -1;
	}
	for (i = 0; i < n_req && !c->stop; i++) {
		struct ynode *item = yn_seq_iterate(v, &sit);

		if (parse_req(c, item, node_line(item, kl), pi(ip, sub, i), sel) < 0)
			ret = -1;
	}
	return c->stop ? -1 : ret;
}

/* --- metadata --------------------------------------------------------------------------- */

void meta_clear(struct meta *m)
{
	free(m->name);
	free(m->namespace);
	pw_labels_clear(&m->labels);
	pw_labels_clear(&m->annotations);
	memset(m, 0, sizeof(*m));
}

int parse_meta(struct pctx *c, struct ynode *obj, unsigned int line, const char *prefix,
	       enum pw_kind kind, struct meta *m)
{
	char path[PATHSZ], sub[PATHSZ];
	struct ynode *n, *v;
	unsigned int ml, kl;
	const char *why;
	int ret = 0, r;

	n = mget(obj, "metadata", line, &ml);
	pj(path, prefix, "metadata");
	r = get_map(c, n, ml, path, meta_keys);
	if (r == 0)
		perr(c, ml, path, "Required value");
	if (r <= 0)
		return -1;
	ml = node_line(n, ml);

	v = mget(n, "name", ml, &kl);
	pj(sub, path, "name");
	r = get_string(c, v, kl, sub, &m->name);
	if (r == 0 || (m->name && !*m->name))
		perr(c, kl, sub, "Required value: name is required");
	if (r <= 0 || !*m->name) {
		ret = -1;
	} else {
		why = kind == PW_KIND_NAMESPACE ? pw_invalid_dns1123_label(m->name)
						: pw_invalid_dns1123_subdomain(m->name);
		if (why) {
			perr(c, kl, sub, "Invalid value: \"%.80s\": %s", m->name, why);
			ret = -1;
		}
	}

	v = mget(n, "namespace", ml, &kl);
	pj(sub, path, "namespace");
	r = get_string(c, v, kl, sub, &m->namespace);
	if (r < 0) {
		ret = -1;
	} else if (kind == PW_KIND_NAMESPACE) {
		/* as the API server does for cluster-scoped objects: cleared, not refused */
		if (m->namespace && *m->namespace)
			pwarn(c, kl, sub, "ignored: a Namespace is not namespaced");
		free(m->namespace);
		m->namespace = NULL;
	} else {
		if (!m->namespace || !*m->namespace) {
			free(m->namespace);
			m->namespace = strdup(PW_DEFAULT_NS);
			if (!m->namespace)
				oom(c);
		} else if ((why = pw_invalid_dns1123_label(m->namespace))) {
			perr(c, kl, sub, "Invalid value: \"%.80s\": %s", m->namespace, why);
			ret = -1;
		}
	}

	v = mget(n, "labels", ml, &kl);
	if (parse_string_map(c, v, kl, pj(sub, path, "labels"), &m->labels, true, c->lim.max_list) <
	    0)
		ret = -1;
	v = mget(n, "annotations", ml, &kl);
	if (parse_string_map(c, v, kl, pj(sub, path, "annotations"), &m->annotations, false,
			     c->lim.max_list) < 0)
		ret = -1;
	if (kind == PW_KIND_NAMESPACE || kind == PW_KIND_NETPOL) {
		const char *mode = pw_labels_get(&m->annotations, PW_ANNOT_ENFORCEMENT);

		if (mode && strcmp(mode, "audit") && strcmp(mode, "enforce")) {
			pj(sub, path, "annotations." PW_ANNOT_ENFORCEMENT);
			perr(c, kl, sub, "Unsupported value: \"%.80s\": supported values: "
				"\"audit\", \"enforce\"", mode);
			ret = -1;
		}
	}
	return c->stop ? -1 : ret;
}
