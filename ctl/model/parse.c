// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Two passes over the input. The first walks libfyaml's event stream, which costs bounded
 * memory, and enforces the size limits (documents, nodes, depth) and refuses aliases and
 * tags, so the second pass, which builds one document tree at a time, never sees an input
 * that could blow up: a 16 MiB flow list of one-letter scalars would otherwise cost
 * libfyaml gigabytes.
 *
 * The second pass turns each document into model objects following the API server:
 * decoding (types, null = absent), defaulting, then validation with its rules and, where
 * practical, its messages. Every error names file, document, object, line and field path.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libfyaml.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "parse.h"

#define PATHSZ 512

/* ObjectMeta fields: known, so a typo there is an error rather than a silent no-op. */
static const char *const meta_keys[] = {
	"name",	      "generateName",	 "namespace",	      "selfLink",
	"uid",	      "resourceVersion", "generation",	      "creationTimestamp",
	"labels",     "annotations",	 "deletionTimestamp", "deletionGracePeriodSeconds",
	"finalizers", "ownerReferences", "managedFields",     NULL,
};
static const char *const obj_keys[] = {"apiVersion", "kind", "metadata", "spec", "status", NULL};
static const char *const list_keys[] = {"apiVersion", "kind", "metadata", "items", NULL};
static const char *const np_spec_keys[] = {"podSelector", "policyTypes", "ingress", "egress", NULL};
static const char *const in_rule_keys[] = {"ports", "from", NULL};
static const char *const eg_rule_keys[] = {"ports", "to", NULL};
static const char *const np_port_keys[] = {"protocol", "port", "endPort", NULL};
static const char *const peer_keys[] = {"podSelector", "namespaceSelector", "ipBlock", NULL};
static const char *const ipblock_keys[] = {"cidr", "except", NULL};
static const char *const sel_keys[] = {"matchLabels", "matchExpressions", NULL};
static const char *const req_keys[] = {"key", "operator", "values", NULL};

/* Kubernetes' limit on the total size of an object's annotations */
#define ANNOTATIONS_MAX_BYTES (256 * 1024)

struct pctx {
	const char *file;
	struct pw_diags *diags;
	struct pw_parse_limits lim;
	struct pw_manifest *m;
	unsigned int doc;
	char desc[640];	 /* "NetworkPolicy x/allow-b" once known */
	size_t errors;	 /* errors of this input */
	size_t objects;	 /* objects seen, for max_objects */
	int syserr;	 /* -ENOMEM */
	bool over_limit; /* a size limit was hit */
	bool stop;	 /* give up: limit, memory, too many diagnostics */
};

/* --- diagnostics ------------------------------------------------------------------------ */

void pw_diags_clear(struct pw_diags *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->n; i++) {
		free(d->v[i].path);
		free(d->v[i].msg);
		free(d->v[i].text);
	}
	free(d->v);
	memset(d, 0, sizeof(*d));
}

static void oom(struct pctx *c)
{
	c->syserr = -ENOMEM;
	c->stop = true;
}

static void vdiag(struct pctx *c, enum pw_diag_level lvl, unsigned int line, const char *path,
		  const char *fmt, va_list ap)
{
	struct pw_diag d = {.level = lvl, .doc = c->doc, .line = line};
	char loc[900], *p = loc, *end = loc + sizeof(loc);
	struct pw_diag *nv;

	if (lvl == PW_DIAG_ERROR)
		c->errors++;
	if (c->diags->n >= c->lim.max_diags) {
		c->stop = true;
		return;
	}
	if (vasprintf(&d.msg, fmt, ap) < 0) {
		d.msg = NULL;
		goto fail;
	}
	d.path = strdup(path ? path : "");
	if (!d.path)
		goto fail;
	p += snprintf(p, (size_t)(end - p), "%s", c->file);
	if (c->doc && p < end)
		p += snprintf(p, (size_t)(end - p), ": document %u", c->doc);
	if (c->doc && c->desc[0] && p < end)
		p += snprintf(p, (size_t)(end - p), " (%s)", c->desc);
	if (line && p < end)
		p += snprintf(p, (size_t)(end - p), "%s line %u", c->doc ? "," : ":", line);
	if (asprintf(&d.text, "%s: %s%s%s%s", loc, lvl == PW_DIAG_WARNING ? "warning: " : "",
		     d.path, *d.path ? ": " : "", d.msg) < 0) {
		d.text = NULL;
		goto fail;
	}
	nv = realloc(c->diags->v, (c->diags->n + 1) * sizeof(*nv));
	if (!nv)
		goto fail;
	c->diags->v = nv;
	c->diags->v[c->diags->n++] = d;
	if (lvl == PW_DIAG_ERROR)
		c->diags->n_errors++;
	if (c->diags->n >= c->lim.max_diags) {
		/* stop here: the rest would be noise, and a hostile input could make millions */
		c->stop = true;
	}
	return;
fail:
	free(d.msg);
	free(d.path);
	free(d.text);
	oom(c);
}

__attribute__((format(printf, 4, 5))) static void perr(struct pctx *c, unsigned int line,
						       const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(c, PW_DIAG_ERROR, line, path, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 4, 5))) static void pwarn(struct pctx *c, unsigned int line,
							const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(c, PW_DIAG_WARNING, line, path, fmt, ap);
	va_end(ap);
}

static void limit_err(struct pctx *c, unsigned int line, const char *path, const char *what,
		      size_t limit)
{
	perr(c, line, path, "too many %s (limit %zu)", what, limit);
	c->over_limit = true;
	c->stop = true;
}

static const char *pj(char *dst, const char *base, const char *key)
{
	/* a path deeper than PATHSZ is cut, never overflowed; the line still locates it */
	if (snprintf(dst, PATHSZ, "%s%s%s", base, *base ? "." : "", key) >= PATHSZ)
		dst[PATHSZ - 2] = '~';
	return dst;
}

static const char *pi(char *dst, const char *base, size_t i)
{
	if (snprintf(dst, PATHSZ, "%s[%zu]", base, i) >= PATHSZ)
		dst[PATHSZ - 2] = '~';
	return dst;
}

/* --- YAML node access ------------------------------------------------------------------- */

/* 1-based line of a node: its own token for scalars, its first key or item otherwise. */
static unsigned int node_line(struct fy_node *n, unsigned int hint)
{
	int guard;

	for (guard = 0; n && guard < 128; guard++) {
		if (fy_node_is_scalar(n)) {
			struct fy_token *t = fy_node_get_scalar_token(n);
			const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;

			return m ? (unsigned int)m->line + 1 : hint;
		}
		if (fy_node_is_mapping(n)) {
			void *it = NULL;
			struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);

			n = p ? fy_node_pair_key(p) : NULL;
		} else {
			void *it = NULL;

			n = fy_node_sequence_iterate(n, &it);
		}
	}
	return hint;
}

enum sk {
	SK_NULL,
	SK_STR,
	SK_BOOL,
	SK_INT,	      /* decimal */
	SK_INT_OTHER, /* 0x.., 0o.., 0b.., leading zeros, underscores: numbers, not decimal */
	SK_FLOAT,
	SK_COLLECTION,
};

static bool in_list(const char *s, size_t n, const char *const *list)
{
	for (; *list; list++) {
		if (strlen(*list) == n && !memcmp(*list, s, n))
			return true;
	}
	return false;
}

static bool all_of(const char *s, size_t n, const char *set, size_t min)
{
	size_t i;

	if (n < min)
		return false;
	for (i = 0; i < n; i++) {
		if (!strchr(set, s[i]) || !s[i])
			return false;
	}
	return true;
}

/* [-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)? or .inf/.nan */
static bool is_float(const char *s, size_t n)
{
	static const char *const special[] = {".inf",  ".Inf",	".INF",	 ".nan",  ".NaN",
					      ".NAN",  "+.inf", "+.Inf", "+.INF", "-.inf",
					      "-.Inf", "-.INF", NULL};
	size_t i = 0, digits = 0;

	if (in_list(s, n, special))
		return true;
	if (i < n && (s[i] == '-' || s[i] == '+'))
		i++;
	for (; i < n && ((s[i] >= '0' && s[i] <= '9') || s[i] == '_'); i++)
		digits++;
	if (i < n && s[i] == '.') {
		for (i++; i < n && ((s[i] >= '0' && s[i] <= '9') || s[i] == '_'); i++)
			digits++;
	}
	if (!digits)
		return false;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '-' || s[i] == '+'))
			i++;
		if (i >= n)
			return false;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			;
	}
	return i == n;
}

/*
 * Type of a plain scalar: null, boolean, integer, float or string, after the YAML 1.2 core
 * schema (plus 1.1's 0b/underscore integers, refused as ambiguous). Quoted, block and
 * !!str-tagged scalars are strings.
 */
static enum sk scalar_kind(struct fy_node *n, const char **s, size_t *len)
{
	static const char *const nulls[] = {"~", "null", "Null", "NULL", NULL};
	/*
	 * YAML 1.2 core schema booleans only: YAML 1.1's y/n/yes/no/on/off stay strings, or
	 * the namespaces "y" and "n" of the upstream conformance model would need quotes.
	 */
	static const char *const bools[] = {"true",  "True",  "TRUE", "false",
					    "False", "FALSE", NULL};
	const char *t;
	size_t l = 0, i;

	*s = "";
	*len = 0;
	if (!n || fy_node_is_null(n))
		return SK_NULL;
	if (!fy_node_is_scalar(n))
		return SK_COLLECTION;
	t = fy_node_get_scalar(n, &l);
	if (!t)
		t = "";
	*s = t;
	*len = l;
	if (fy_node_get_tag_token(n))
		return SK_STR; /* the first pass lets only !!str through */
	if (fy_node_get_style(n) != FYNS_PLAIN)
		return SK_STR;
	if (!l || in_list(t, l, nulls))
		return SK_NULL;
	if (in_list(t, l, bools))
		return SK_BOOL;
	i = (t[0] == '-' || t[0] == '+') ? 1 : 0;
	if (all_of(t + i, l - i, "0123456789", 1)) {
		/* a leading zero makes it octal in YAML 1.1 */
		if (l - i > 1 && t[i] == '0')
			return SK_INT_OTHER;
		return SK_INT;
	}
	if (l - i > 2 && t[i] == '0' &&
	    ((t[i + 1] == 'x' && all_of(t + i + 2, l - i - 2, "0123456789abcdefABCDEF_", 1)) ||
	     (t[i + 1] == 'b' && all_of(t + i + 2, l - i - 2, "01_", 1)) ||
	     (t[i + 1] == 'o' && all_of(t + i + 2, l - i - 2, "01234567_", 1))))
		return SK_INT_OTHER;
	if (all_of(t + i, l - i, "0123456789_", 1))
		return SK_INT_OTHER;
	if (is_float(t, l))
		return SK_FLOAT;
	return SK_STR;
}

static const char *sk_name(enum sk k)
{
	switch (k) {
	case SK_NULL:
		return "null";
	case SK_STR:
		return "a string";
	case SK_BOOL:
		return "a boolean";
	case SK_INT:
	case SK_INT_OTHER:
		return "an integer";
	case SK_FLOAT:
		return "a number";
	case SK_COLLECTION:
		return "a list or map";
	}
	return "?";
}

static bool is_null(struct fy_node *n)
{
	const char *s;
	size_t l;

	return scalar_kind(n, &s, &l) == SK_NULL;
}

/* Key text of a pair, or NULL when the key is not a plain string. */
static const char *pair_key(struct fy_node_pair *p, size_t *len)
{
	struct fy_node *k = fy_node_pair_key(p);

	if (!k || !fy_node_is_scalar(k) || fy_node_is_alias(k))
		return NULL;
	return fy_node_get_scalar(k, len);
}

/* Value of key in map (NULL when absent or null); *line gets the key's line. */
static struct fy_node *mget(struct fy_node *map, const char *key, unsigned int hint,
			    unsigned int *line)
{
	struct fy_node_pair *p;
	void *it = NULL;
	size_t n = strlen(key), l;

	*line = hint;
	if (!map || !fy_node_is_mapping(map))
		return NULL;
	while ((p = fy_node_mapping_iterate(map, &it))) {
		const char *k = pair_key(p, &l);

		if (k && l == n && !memcmp(k, key, n)) {
			struct fy_node *v = fy_node_pair_value(p);

			*line = node_line(fy_node_pair_key(p), hint);
			return is_null(v) ? NULL : v;
		}
	}
	return NULL;
}

/* Text of a string scalar under key, for descriptions only (no errors). */
static char *peek(struct fy_node *map, const char *key, char *buf, size_t sz)
{
	struct fy_node *v;
	unsigned int line;
	const char *s;
	size_t l;

	v = mget(map, key, 0, &line);
	buf[0] = '\0';
	if (scalar_kind(v, &s, &l) != SK_STR || memchr(s, '\0', l))
		return NULL;
	snprintf(buf, sz, "%.*s", (int)(l > 253 ? 253 : l), s);
	return buf;
}

/* The get_* helpers return 1 (present), 0 (absent or null), or -1 (error reported). */

static int get_string(struct pctx *c, struct fy_node *n, unsigned int line, const char *path,
		      char **out)
{
	const char *s;
	size_t l;
	enum sk k = scalar_kind(n, &s, &l);

	*out = NULL;
	if (k == SK_NULL)
		return 0;
	line = node_line(n, line);
	if (k == SK_COLLECTION) {
		perr(c, line, path, "must be a string, not a list or map");
		return -1;
	}
	if (k != SK_STR) {
		perr(c, line, path, "must be a string: quote it (%.*s reads as %s)",
		     (int)(l > 64 ? 64 : l), s, sk_name(k));
		return -1;
	}
	if (l > c->lim.max_string) {
		perr(c, line, path, "longer than %zu bytes", c->lim.max_string);
		return -1;
	}
	if (memchr(s, '\0', l)) {
		perr(c, line, path, "must not contain NUL characters");
		return -1;
	}
	*out = strndup(s, l);
	if (!*out) {
		oom(c);
		return -1;
	}
	return 1;
}

static int get_int(struct pctx *c, struct fy_node *n, unsigned int line, const char *path,
		   long long min, long long max, long long *out)
{
	const char *s;
	size_t l;
	enum sk k = scalar_kind(n, &s, &l);
	char buf[32];
	long long v;

	if (k == SK_NULL)
		return 0;
	line = node_line(n, line);
	if (k != SK_INT || l >= sizeof(buf)) {
		if (k == SK_STR)
			perr(c, line, path, "must be an integer, not a string (\"%.*s\")",
			     (int)(l > 64 ? 64 : l), s);
		else if (k == SK_INT_OTHER || k == SK_INT)
			perr(c, line, path, "must be a decimal integer (%.*s)",
			     (int)(l > 64 ? 64 : l), s);
		else
			perr(c, line, path, "must be an integer, not %s", sk_name(k));
		return -1;
	}
	memcpy(buf, s, l);
	buf[l] = '\0';
	errno = 0;
	v = strtoll(buf, NULL, 10);
	if (errno || v < min || v > max) {
		perr(c, line, path, "must be between %lld and %lld, inclusive (%s)", min, max, buf);
		return -1;
	}
	*out = v;
	return 1;
}

/*
 * mget() then get_string()/get_int(), in that order: passing mget(..., &line) and line as two
 * arguments of one call would read line before mget sets it (argument order is unspecified).
 */
static int mget_string(struct pctx *c, struct fy_node *map, const char *key, unsigned int hint,
		       unsigned int *line, const char *path, char **out)
{
	struct fy_node *n = mget(map, key, hint, line);

	return get_string(c, n, *line, path, out);
}

static int mget_int(struct pctx *c, struct fy_node *map, const char *key, unsigned int hint,
		    unsigned int *line, const char *path, long long min, long long max,
		    long long *out)
{
	struct fy_node *n = mget(map, key, hint, line);

	return get_int(c, n, *line, path, min, max, out);
}

static int get_seq(struct pctx *c, struct fy_node *n, unsigned int line, const char *path,
		   size_t max, size_t *count)
{
	*count = 0;
	if (is_null(n))
		return 0;
	if (!fy_node_is_sequence(n)) {
		const char *s;
		size_t l;

		perr(c, node_line(n, line), path, "must be a list, not %s",
		     fy_node_is_mapping(n) ? "a map" : sk_name(scalar_kind(n, &s, &l)));
		return -1;
	}
	*count = (size_t)fy_node_sequence_item_count(n);
	if (*count > max) {
		limit_err(c, node_line(n, line), path, "entries", max);
		return -1;
	}
	return 1;
}

/* A map; unknown keys are errors when known is given. */
static int get_map(struct pctx *c, struct fy_node *n, unsigned int line, const char *path,
		   const char *const *known)
{
	struct fy_node_pair *p;
	void *it = NULL;
	char sub[PATHSZ];
	int ret = 1;
	size_t l;

	if (is_null(n))
		return 0;
	if (!fy_node_is_mapping(n)) {
		const char *s;

		perr(c, node_line(n, line), path, "must be a map, not %s",
		     fy_node_is_sequence(n) ? "a list" : sk_name(scalar_kind(n, &s, &l)));
		return -1;
	}
	if ((size_t)fy_node_mapping_item_count(n) > c->lim.max_list) {
		limit_err(c, node_line(n, line), path, "entries", c->lim.max_list);
		return -1;
	}
	while ((p = fy_node_mapping_iterate(n, &it))) {
		const char *k = pair_key(p, &l);
		unsigned int kl = node_line(fy_node_pair_key(p), line);

		if (!k || scalar_kind(fy_node_pair_key(p), &k, &l) != SK_STR) {
			perr(c, kl, path, "keys must be strings");
			ret = -1;
			continue;
		}
		if (known && !in_list(k, l, known)) {
			snprintf(sub, sizeof(sub), "%.*s", (int)(l > 64 ? 64 : l), k);
			perr(c, kl, path, "unknown field \"%s\"", sub);
			ret = -1;
		}
	}
	return ret;
}

/* --- labels and selectors --------------------------------------------------------------- */

static int parse_string_map(struct pctx *c, struct fy_node *n, unsigned int line, const char *path,
			    struct pw_labels *out, bool labels, size_t max)
{
	struct fy_node_pair *p;
	size_t bytes = 0, l;
	char sub[PATHSZ];
	void *it = NULL;
	int ret, bad = 0;

	ret = get_map(c, n, line, path, NULL);
	if (ret <= 0)
		return ret;
	if ((size_t)fy_node_mapping_item_count(n) > max) {
		limit_err(c, node_line(n, line), path, "entries", max);
		return -1;
	}
	while (!c->stop && (p = fy_node_mapping_iterate(n, &it))) {
		struct fy_node *kn = fy_node_pair_key(p);
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
		if (get_string(c, fy_node_pair_value(p), kl, sub, &val) < 0) {
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

static int parse_req(struct pctx *c, struct fy_node *n, unsigned int line, const char *path,
		     struct pw_selector *sel)
{
	void *sit = NULL; /* sequence iterator: items in order, O(1) each */
	char sub[PATHSZ], *key = NULL, *op_s = NULL, **vals = NULL;
	size_t n_vals = 0, i;
	unsigned int kl;
	enum pw_sel_op op = PW_SEL_IN;
	const char *why;
	struct fy_node *v;
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
		struct fy_node *item = fy_node_sequence_iterate(v, &sit);

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
static int parse_selector(struct pctx *c, struct fy_node *n, unsigned int line, const char *path,
			  struct pw_selector *sel)
{
	void *sit = NULL; /* sequence iterator: items in order, O(1) each */
	char sub[PATHSZ], ip[PATHSZ];
	struct fy_node *v;
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
		struct fy_node *item = fy_node_sequence_iterate(v, &sit);

		if (parse_req(c, item, node_line(item, kl), pi(ip, sub, i), sel) < 0)
			ret = -1;
	}
	return c->stop ? -1 : ret;
}

/* --- metadata --------------------------------------------------------------------------- */

struct meta {
	char *name;
	char *namespace;
	struct pw_labels labels;
	struct pw_labels annotations;
};

static void meta_clear(struct meta *m)
{
	free(m->name);
	free(m->namespace);
	pw_labels_clear(&m->labels);
	pw_labels_clear(&m->annotations);
	memset(m, 0, sizeof(*m));
}

static int parse_meta(struct pctx *c, struct fy_node *obj, unsigned int line, const char *prefix,
		      enum pw_kind kind, struct meta *m)
{
	char path[PATHSZ], sub[PATHSZ];
	struct fy_node *n, *v;
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
	return c->stop ? -1 : ret;
}

/* --- Namespace -------------------------------------------------------------------------- */

static int parse_namespace(struct pctx *c, struct fy_node *obj, unsigned int line,
			   const char *prefix, struct pw_namespace *ns)
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

static int parse_container_ports(struct pctx *c, struct fy_node *seq, unsigned int line,
				 const char *path, size_t count, struct pw_pod *pod)
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
		struct fy_node *item = fy_node_sequence_iterate(seq, &sit);
		struct pw_container_port p = {.proto = IPPROTO_TCP};
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
		r = mget_int(c, item, "containerPort", il, &kl,
			    pj(sub, ip, "containerPort"), 1, 65535, &port);
		if (r == 0)
			perr(c, kl, sub, "Required value");
		if (r <= 0)
			ret = -1;
		else
			p.port = (uint16_t)port;
		r = mget_string(c, item, "protocol", il, &kl, pj(sub, ip, "protocol"),
			       &proto);
		if (r < 0) {
			ret = -1;
		} else if (proto && pw_proto_parse(proto, &p.proto)) {
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

static int parse_pod_spec(struct pctx *c, struct fy_node *obj, unsigned int line,
			  const char *prefix, struct pw_pod *pod)
{
	void *sit = NULL; /* sequence iterator: items in order, O(1) each */
	char path[PATHSZ], cpath[PATHSZ], ip[PATHSZ], sub[PATHSZ];
	struct fy_node *spec, *cont;
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
		struct fy_node *item = fy_node_sequence_iterate(cont, &sit);
		unsigned int il = node_line(item, cl);
		struct fy_node *ports;
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
		if (r < 0 || (r > 0 && parse_container_ports(c, ports, kl, sub, n_ports, pod) < 0))
			ret = -1;
	}
	for (i = 0; i < count; i++)
		free(names[i]);
	free(names);
	return c->stop ? -1 : ret;
}

static int parse_pod_status(struct pctx *c, struct fy_node *obj, unsigned int line,
			    const char *prefix, struct pw_pod *pod)
{
	void *sit = NULL; /* sequence iterator: items in order, O(1) each */
	char path[PATHSZ], sub[PATHSZ], ip[PATHSZ], isub[PATHSZ];
	struct pw_addr primary = {0};
	struct fy_node *st, *ips;
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
		struct fy_node *item = fy_node_sequence_iterate(ips, &sit);
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

static int parse_pod(struct pctx *c, struct fy_node *obj, unsigned int line, const char *prefix,
		     struct pw_pod *pod)
{
	unsigned int ml, al, kl;
	struct fy_node *meta, *ann;
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

/* --- NetworkPolicy ---------------------------------------------------------------------- */

static int parse_np_port(struct pctx *c, struct fy_node *n, unsigned int line, const char *path,
			 struct pw_np_port *p)
{
	char sub[PATHSZ], *proto = NULL;
	unsigned int kl, pl, el;
	struct fy_node *v;
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
		if (pw_proto_parse(proto, &p->proto)) {
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

static int parse_ipblock(struct pctx *c, struct fy_node *n, unsigned int line, const char *path,
			 struct pw_ipblock *b)
{
	void *sit = NULL; /* sequence iterator: items in order, O(1) each */
	char sub[PATHSZ], ip[PATHSZ], *s = NULL, buf[PW_PREFIX_STRLEN], buf2[PW_PREFIX_STRLEN];
	struct fy_node *ex;
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
		struct fy_node *item = fy_node_sequence_iterate(ex, &sit);
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

static int parse_peer(struct pctx *c, struct fy_node *n, unsigned int line, const char *path,
		      struct pw_np_peer *p)
{
	static const char *const sel_fields[] = {"podSelector", "namespaceSelector"};
	char sub[PATHSZ];
	struct fy_node *v;
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

static int parse_rule(struct pctx *c, struct fy_node *n, unsigned int line, const char *path,
		      bool ingress, struct pw_np_rule *rule)
{
	void *sit = NULL; /* sequence iterator: items in order, O(1) each */
	const char *peers_key = ingress ? "from" : "to";
	char sub[PATHSZ], ip[PATHSZ];
	struct fy_node *v;
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
		struct fy_node *item = fy_node_sequence_iterate(v, &sit);

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
		struct fy_node *item = fy_node_sequence_iterate(v, &sit);

		if (parse_peer(c, item, node_line(item, kl), pi(ip, sub, i),
			       &rule->peers[rule->n_peers++]) < 0)
			ret = -1;
	}
	return c->stop ? -1 : ret;
}

static int parse_rules(struct pctx *c, struct fy_node *spec, unsigned int line, const char *path,
		       bool ingress, bool *set, size_t *n_rules, struct pw_np_rule **rules)
{
	void *sit = NULL; /* sequence iterator: items in order, O(1) each */
	const char *key = ingress ? "ingress" : "egress";
	char sub[PATHSZ], ip[PATHSZ];
	struct fy_node *v;
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
		struct fy_node *item = fy_node_sequence_iterate(v, &sit);

		/* a null rule ("- ") decodes to the empty rule {} */
		if (parse_rule(c, item, node_line(item, kl), pi(ip, sub, i), ingress,
			       &(*rules)[(*n_rules)++]) < 0)
			ret = -1;
	}
	return c->stop ? -1 : ret;
}

static int parse_netpol(struct pctx *c, struct fy_node *obj, unsigned int line, const char *prefix,
			struct pw_netpol *np)
{
	void *sit = NULL; /* sequence iterator: items in order, O(1) each */
	char path[PATHSZ], sub[PATHSZ], ip[PATHSZ];
	struct fy_node *spec, *v;
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
		struct fy_node *item = fy_node_sequence_iterate(v, &sit);
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

/* --- documents -------------------------------------------------------------------------- */

static const char *obj_name(const struct pw_object *o, const char **ns)
{
	*ns = pw_object_namespace(o);
	return pw_object_name(o);
}

static void set_desc(struct pctx *c, struct fy_node *obj, const char *kind)
{
	char name[256], ns[256];
	struct fy_node *meta;
	unsigned int l;

	c->desc[0] = '\0';
	meta = mget(obj, "metadata", 0, &l);
	if (!kind[0] || !peek(meta, "name", name, sizeof(name)))
		return;
	if (!strcmp(kind, "Namespace") || !strcmp(kind, "List")) {
		snprintf(c->desc, sizeof(c->desc), "%s %s", kind, name);
		return;
	}
	if (!peek(meta, "namespace", ns, sizeof(ns)) || !ns[0])
		snprintf(ns, sizeof(ns), "%s", PW_DEFAULT_NS);
	snprintf(c->desc, sizeof(c->desc), "%s %s/%s", kind, ns, name);
}

static int add_object(struct pctx *c, struct pw_object *o)
{
	struct pw_object *nv;

	nv = realloc(c->m->objs, (c->m->n + 1) * sizeof(*nv));
	if (!nv) {
		oom(c);
		return -1;
	}
	c->m->objs = nv;
	c->m->objs[c->m->n++] = *o;
	memset(o, 0, sizeof(*o));
	return 0;
}

static int cmp_obj(const void *a, const void *b, void *arg)
{
	const struct pw_object *objs = arg, *x = &objs[*(const size_t *)a],
			       *y = &objs[*(const size_t *)b];
	const char *xns, *yns, *xn = obj_name(x, &xns), *yn = obj_name(y, &yns);
	int r;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	r = strcmp(xns ? xns : "", yns ? yns : "");
	if (!r)
		r = strcmp(xn, yn);
	if (!r) /* stable: the first definition sorts first */
		r = *(const size_t *)a < *(const size_t *)b ? -1 : 1;
	return r;
}

/* The same object twice in one input is an error: which one would the user mean? */
static void check_duplicates(struct pctx *c)
{
	size_t *idx, i;

	if (c->m->n < 2)
		return;
	idx = calloc(c->m->n, sizeof(*idx));
	if (!idx) {
		oom(c);
		return;
	}
	for (i = 0; i < c->m->n; i++)
		idx[i] = i;
	/* sorting keeps this O(n log n) for inputs of many thousand objects */
	qsort_r(idx, c->m->n, sizeof(*idx), cmp_obj, c->m->objs);
	for (i = 1; i < c->m->n && !c->stop; i++) {
		const struct pw_object *a = &c->m->objs[idx[i - 1]], *b = &c->m->objs[idx[i]];
		const char *ans, *bns, *an = obj_name(a, &ans), *bn = obj_name(b, &bns);

		if (a->kind != b->kind || strcmp(an, bn) || strcmp(ans ? ans : "", bns ? bns : ""))
			continue;
		c->doc = b->src.doc;
		if (bns)
			snprintf(c->desc, sizeof(c->desc), "%s %s/%s", pw_kind_str(b->kind), bns,
				 bn);
		else
			snprintf(c->desc, sizeof(c->desc), "%s %s", pw_kind_str(b->kind), bn);
		perr(c, b->src.line, "metadata.name",
		     "Duplicate value: %s defined again (first in document %u, line %u)",
		     pw_kind_str(b->kind), a->src.doc, a->src.line);
	}
	c->desc[0] = '\0';
	free(idx);
}

/* One object (a document root or a List item); prefix is "" or "items[i]". */
static int parse_object(struct pctx *c, struct fy_node *n, unsigned int line, const char *prefix,
			bool nested)
{
	void *sit = NULL; /* sequence iterator: items in order, O(1) each */
	struct pw_object o = {0};
	char path[PATHSZ], kind[64], api[64];
	const char *want_api = "v1";
	unsigned int kl;
	int ret = -1, r;

	line = node_line(n, line);
	if (!n || !fy_node_is_mapping(n)) {
		perr(c, line, prefix,
		     "must be a Kubernetes object (a map with apiVersion and kind)");
		return -1;
	}
	if (++c->objects > c->lim.max_objects) {
		limit_err(c, line, prefix, "objects", c->lim.max_objects);
		return -1;
	}
	peek(n, "kind", kind, sizeof(kind));
	set_desc(c, n, kind);
	mget(n, "kind", line, &kl);
	if (!kind[0]) {
		char *k = NULL;

		/* not a string (or absent): get_string says which */
		if (mget_string(c, n, "kind", line, &kl, pj(path, prefix, "kind"), &k) >=
		    0)
			perr(c, kl, path, "Required value");
		free(k);
		return -1;
	}
	if (!strcmp(kind, "Namespace")) {
		o.kind = PW_KIND_NAMESPACE;
	} else if (!strcmp(kind, "Pod")) {
		o.kind = PW_KIND_POD;
	} else if (!strcmp(kind, "NetworkPolicy")) {
		o.kind = PW_KIND_NETPOL;
		want_api = "networking.k8s.io/v1";
	} else if (!strcmp(kind, "List") && !nested) {
		want_api = "v1";
	} else {
		perr(c, kl, pj(path, prefix, "kind"),
		     "unsupported kind \"%s\"%s: podwall accepts Namespace, Pod, NetworkPolicy and "
		     "List",
		     kind, nested ? " in a List" : "");
		return -1;
	}
	peek(n, "apiVersion", api, sizeof(api));
	pj(path, prefix, "apiVersion");
	if (!api[0]) {
		char *a = NULL;

		r = mget_string(c, n, "apiVersion", line, &kl, path, &a);
		if (r >= 0)
			perr(c, kl, path, "Required value");
		free(a);
		return -1;
	}
	if (strcmp(api, want_api)) {
		mget(n, "apiVersion", line, &kl);
		perr(c, kl, path, "unsupported apiVersion \"%s\" for %s (want %s)", api, kind,
		     want_api);
		return -1;
	}
	if (get_map(c, n, line, prefix, o.kind ? obj_keys : list_keys) < 0)
		return -1;

	if (!o.kind) {
		struct fy_node *items = mget(n, "items", line, &kl);
		char ip[PATHSZ];
		size_t count, i;

		pj(path, prefix, "items");
		c->objects--; /* the List itself is no object */
		r = get_seq(c, items, kl, path, c->lim.max_objects, &count);
		if (r < 0)
			return -1;
		ret = 0;
		for (i = 0; i < count && !c->stop; i++) {
			struct fy_node *item = fy_node_sequence_iterate(items, &sit);

			if (parse_object(c, item, kl, pi(ip, path, i), true) < 0)
				ret = -1;
		}
		c->desc[0] = '\0';
		return ret;
	}

	switch (o.kind) {
	case PW_KIND_NAMESPACE:
		ret = parse_namespace(c, n, line, prefix, &o.u.ns);
		break;
	case PW_KIND_POD:
		ret = parse_pod(c, n, line, prefix, &o.u.pod);
		break;
	case PW_KIND_NETPOL:
		ret = parse_netpol(c, n, line, prefix, &o.u.np);
		break;
	}
	if (!ret) {
		o.src.doc = c->doc;
		o.src.line = line;
		o.src.file = strdup(c->file);
		if (!o.src.file)
			oom(c);
		else
			ret = add_object(c, &o);
	}
	pw_object_clear(&o);
	return ret;
}

static void parse_document(struct pctx *c, struct fy_node *root)
{
	const char *s;
	size_t l;

	c->desc[0] = '\0';
	/* empty documents (a stray ---, only comments) are skipped, as kubectl does */
	if (scalar_kind(root, &s, &l) == SK_NULL)
		return;
	parse_object(c, root, 0, "", false);
	c->desc[0] = '\0';
}

/* --- the two passes --------------------------------------------------------------------- */

static struct fy_parser *new_parser(struct fy_diag **diag, const char *buf, size_t len)
{
	struct fy_parse_cfg cfg = {0};
	struct fy_diag_cfg dc;
	struct fy_parser *p;

	fy_diag_cfg_default(&dc);
	dc.fp = NULL; /* the library never prints: errors are collected */
	dc.colorize = false;
	dc.level = FYET_ERROR;
	*diag = fy_diag_create(&dc);
	if (!*diag)
		return NULL;
	fy_diag_set_collect_errors(*diag, true);
	cfg.flags = FYPCF_QUIET | FYPCF_DEFAULT_VERSION_1_2;
	cfg.diag = *diag;
	p = fy_parser_create(&cfg);
	if (p && fy_parser_set_string(p, buf, len)) {
		fy_parser_destroy(p);
		p = NULL;
	}
	if (!p) {
		fy_diag_destroy(*diag);
		*diag = NULL;
	}
	return p;
}

static void yaml_errors(struct pctx *c, struct fy_diag *diag)
{
	struct fy_diag_error *e;
	void *it = NULL;
	bool any = false;

	c->desc[0] = '\0';
	while ((e = fy_diag_errors_iterate(diag, &it))) {
		perr(c, e->line > 0 ? (unsigned int)e->line : 0, "", "YAML syntax error: %s",
		     e->msg ? e->msg : "?");
		any = true;
	}
	if (!any)
		perr(c, 0, "", "YAML syntax error");
}

static unsigned int event_line(struct fy_event *e)
{
	const struct fy_mark *m = fy_event_start_mark(e);

	return m ? (unsigned int)m->line + 1 : 0;
}

/* Pass 1: limits, aliases and tags over the event stream. */
static int prescan(struct pctx *c, const char *buf, size_t len)
{
	struct fy_diag *diag = NULL;
	struct fy_parser *p;
	struct fy_event *e;
	size_t nodes = 0, depth = 0;
	int ret = 0;

	p = new_parser(&diag, buf, len);
	if (!p) {
		oom(c);
		return -ENOMEM;
	}
	c->doc = 0;
	while (!ret && (e = fy_parser_parse(p))) {
		struct fy_token *tag = fy_event_get_tag_token(e);

		switch (e->type) {
		case FYET_DOCUMENT_START:
			if (++c->doc > c->lim.max_documents) {
				limit_err(c, event_line(e), "", "documents", c->lim.max_documents);
				ret = -EFBIG;
			}
			break;
		case FYET_MAPPING_START:
		case FYET_SEQUENCE_START:
			if (++depth > c->lim.max_depth) {
				perr(c, event_line(e), "", "nested deeper than %zu levels",
				     c->lim.max_depth);
				c->over_limit = true;
				ret = -EFBIG;
			}
			/* fall through */
		case FYET_SCALAR:
			if (++nodes > c->lim.max_nodes) {
				limit_err(c, event_line(e), "", "YAML nodes", c->lim.max_nodes);
				ret = -EFBIG;
			}
			break;
		case FYET_MAPPING_END:
		case FYET_SEQUENCE_END:
			depth--;
			break;
		case FYET_ALIAS:
			perr(c, event_line(e), "", "YAML aliases (*name) are not supported");
			ret = -EINVAL;
			break;
		default:
			break;
		}
		if (!ret && tag) {
			const char *h = fy_tag_token_handle0(tag), *s = fy_tag_token_suffix0(tag);

			if (e->type != FYET_SCALAR || !h || !s || strcmp(h, "!!") ||
			    strcmp(s, "str")) {
				perr(c, event_line(e), "",
				     "YAML tag %s%s is not supported (only !!str)", h ? h : "",
				     s ? s : "");
				ret = -EINVAL;
			}
		}
		fy_parser_event_free(p, e);
	}
	if (!ret && fy_parser_get_stream_error(p)) {
		yaml_errors(c, diag);
		ret = -EINVAL;
	}
	fy_parser_destroy(p);
	fy_diag_destroy(diag);
	c->doc = 0;
	return ret;
}

static void limits_default(struct pw_parse_limits *l, const struct pw_parse_opts *opts)
{
	static const struct pw_parse_limits def = {
		.max_bytes = 16u << 20,
		.max_documents = 10000,
		.max_objects = 10000,
		.max_nodes = 250000,
		.max_depth = 64,
		.max_list = 4096,
		.max_selector = 256,
		.max_string = 64 << 10,
		.max_diags = 100,
	};
	struct pw_parse_limits u = {0};

	if (opts && opts->sz >= offsetof(struct pw_parse_opts, limits) + sizeof(u))
		u = opts->limits;
	*l = def;
#define PW_LIM(f) \
	if (u.f)  \
	l->f = u.f
	PW_LIM(max_bytes);
	PW_LIM(max_documents);
	PW_LIM(max_objects);
	PW_LIM(max_nodes);
	PW_LIM(max_depth);
	PW_LIM(max_list);
	PW_LIM(max_selector);
	PW_LIM(max_string);
	PW_LIM(max_diags);
#undef PW_LIM
}

int pw_parse_buffer(const char *name, const char *buf, size_t len, const struct pw_parse_opts *opts,
		    struct pw_manifest **out, struct pw_diags *diags)
{
	struct pw_diags local = {0};
	struct fy_diag *diag = NULL;
	struct fy_document *fyd;
	struct fy_parser *p = NULL;
	struct pctx c = {0};
	int err;

	if (!out || (!buf && len))
		return -EINVAL;
	*out = NULL;
	c.file = name ? name : "<input>";
	c.diags = diags ? diags : &local;
	limits_default(&c.lim, opts);
	c.m = calloc(1, sizeof(*c.m));
	if (!c.m) {
		err = -ENOMEM;
		goto out;
	}
	if (len > c.lim.max_bytes) {
		perr(&c, 0, "", "larger than %zu bytes", c.lim.max_bytes);
		err = -EFBIG;
		goto out;
	}
	err = prescan(&c, buf ? buf : "", len);
	if (err)
		goto out;

	p = new_parser(&diag, buf ? buf : "", len);
	if (!p) {
		err = -ENOMEM;
		goto out;
	}
	while (!c.stop && (fyd = fy_parse_load_document(p))) {
		c.doc++;
		parse_document(&c, fy_document_root(fyd));
		fy_parse_document_destroy(p, fyd);
	}
	if (!c.stop && fy_parser_get_stream_error(p)) {
		c.doc++;
		yaml_errors(&c, diag); /* duplicate keys are found here, not in pass 1 */
	}
	if (!c.stop)
		check_duplicates(&c);
	err = c.syserr ? c.syserr : c.over_limit ? -EFBIG : c.errors ? -EINVAL : 0;
out:
	if (c.syserr)
		err = c.syserr;
	fy_parser_destroy(p);
	fy_diag_destroy(diag);
	if (!err)
		*out = c.m;
	else
		pw_manifest_free(c.m);
	pw_diags_clear(&local);
	return err;
}

int pw_parse_file(const char *path, const struct pw_parse_opts *opts, struct pw_manifest **out,
		  struct pw_diags *diags)
{
	struct pw_diags local = {0};
	struct pw_parse_limits lim;
	struct pctx c = {0};
	const char *name;
	char *buf = NULL;
	size_t len = 0, cap;
	struct stat st;
	int fd = -1, err = 0;

	if (!path || !out)
		return -EINVAL;
	*out = NULL;
	limits_default(&lim, opts);
	c.lim = lim;
	c.diags = diags ? diags : &local;
	name = strcmp(path, "-") ? path : "<stdin>";
	c.file = name;
	if (strcmp(path, "-")) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			err = -errno;
			perr(&c, 0, "", "%s", strerror(-err));
			goto out;
		}
	} else {
		fd = dup(STDIN_FILENO);
		if (fd < 0) {
			err = -errno;
			perr(&c, 0, "", "%s", strerror(-err));
			goto out;
		}
	}
	if (fstat(fd, &st)) {
		err = -errno;
		perr(&c, 0, "", "%s", strerror(-err));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		err = -EISDIR;
		perr(&c, 0, "", "is a directory");
		goto out;
	}
	if (S_ISREG(st.st_mode) && (size_t)st.st_size > lim.max_bytes) {
		err = -EFBIG;
		perr(&c, 0, "", "larger than %zu bytes", lim.max_bytes);
		goto out;
	}
	/* read at most max_bytes + 1, so a pipe cannot make us buffer more */
	cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536;
	if (cap > lim.max_bytes + 1)
		cap = lim.max_bytes + 1;
	buf = malloc(cap);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t r;

		if (len == cap) {
			char *nb;

			if (cap > lim.max_bytes) {
				err = -EFBIG;
				perr(&c, 0, "", "larger than %zu bytes", lim.max_bytes);
				goto out;
			}
			cap = cap * 2 > lim.max_bytes + 1 ? lim.max_bytes + 1 : cap * 2;
			nb = realloc(buf, cap);
			if (!nb) {
				err = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			perr(&c, 0, "", "read: %s", strerror(-err));
			goto out;
		}
		if (!r)
			break;
		len += (size_t)r;
	}
	if (len > lim.max_bytes) {
		err = -EFBIG;
		perr(&c, 0, "", "larger than %zu bytes", lim.max_bytes);
		goto out;
	}
	err = pw_parse_buffer(name, buf, len, opts, out, c.diags);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	pw_diags_clear(&local);
	return err;
}
