// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The manifest parser's tools: diagnostics (file, document, object, line, field path)
 * and typed access to YAML nodes as the API server decodes them (null = absent, strict
 * scalars, known keys).
 */
#define _GNU_SOURCE
#include "parse_int.h"

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

void oom(struct pctx *c)
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

__attribute__((format(printf, 4, 5))) void perr(struct pctx *c, unsigned int line, const char *path,
						const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(c, PW_DIAG_ERROR, line, path, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 4, 5))) void pwarn(struct pctx *c, unsigned int line,
						 const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(c, PW_DIAG_WARNING, line, path, fmt, ap);
	va_end(ap);
}

void limit_err(struct pctx *c, unsigned int line, const char *path, const char *what, size_t limit)
{
	perr(c, line, path, "too many %s (limit %zu)", what, limit);
	c->over_limit = true;
	c->stop = true;
}

const char *pj(char *dst, const char *base, const char *key)
{
	/* a path deeper than PATHSZ is cut, never overflowed; the line still locates it */
	if (snprintf(dst, PATHSZ, "%s%s%s", base, *base ? "." : "", key) >= PATHSZ)
		dst[PATHSZ - 2] = '~';
	return dst;
}

const char *pi(char *dst, const char *base, size_t i)
{
	if (snprintf(dst, PATHSZ, "%s[%zu]", base, i) >= PATHSZ)
		dst[PATHSZ - 2] = '~';
	return dst;
}

/* --- YAML node access ------------------------------------------------------------------- */

/* 1-based line of a node: its own token for scalars, its first key or item otherwise. */
unsigned int node_line(struct ynode *n, unsigned int hint)
{
	while (n && n->type != YN_SCALAR)
		n = !n->n ? NULL : n->type == YN_MAP ? n->pairs[0].key : n->items[0];
	return n && n->line ? n->line : hint;
}

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
enum sk scalar_kind(struct ynode *n, const char **s, size_t *len)
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
	if (!n || n->null)
		return SK_NULL;
	if (!yn_is_scalar(n))
		return SK_COLLECTION;
	t = n->text;
	l = n->n;
	*s = t;
	*len = l;
	if (n->tagged)
		return SK_STR; /* the event pass lets only !!str through */
	if (!n->plain)
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

const char *sk_name(enum sk k)
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

bool is_null(struct ynode *n)
{
	const char *s;
	size_t l;

	return scalar_kind(n, &s, &l) == SK_NULL;
}

/* Key text of a pair, or NULL when the key is not a plain string. */
static const char *pair_key(struct ypair *p, size_t *len)
{
	struct ynode *k = p->key;

	if (!yn_is_scalar(k))
		return NULL;
	*len = k->n;
	return k->text;
}

/* Value of key in map (NULL when absent or null); *line gets the key's line. */
struct ynode *mget(struct ynode *map, const char *key, unsigned int hint, unsigned int *line)
{
	struct ypair *p;
	void *it = NULL;
	size_t n = strlen(key), l;

	*line = hint;
	if (!map || !yn_is_map(map))
		return NULL;
	while ((p = yn_map_iterate(map, &it))) {
		const char *k = pair_key(p, &l);

		if (k && l == n && !memcmp(k, key, n)) {
			struct ynode *v = p->value;

			*line = node_line(p->key, hint);
			return is_null(v) ? NULL : v;
		}
	}
	return NULL;
}

/* Text of a string scalar under key, for descriptions only (no errors). */
char *peek(struct ynode *map, const char *key, char *buf, size_t sz)
{
	struct ynode *v;
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

int get_string(struct pctx *c, struct ynode *n, unsigned int line, const char *path, char **out)
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

int get_int(struct pctx *c, struct ynode *n, unsigned int line, const char *path, long long min,
	    long long max, long long *out)
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
int mget_string(struct pctx *c, struct ynode *map, const char *key, unsigned int hint,
		unsigned int *line, const char *path, char **out)
{
	struct ynode *n = mget(map, key, hint, line);

	return get_string(c, n, *line, path, out);
}

int mget_int(struct pctx *c, struct ynode *map, const char *key, unsigned int hint,
	     unsigned int *line, const char *path, long long min, long long max, long long *out)
{
	struct ynode *n = mget(map, key, hint, line);

	return get_int(c, n, *line, path, min, max, out);
}

int get_seq(struct pctx *c, struct ynode *n, unsigned int line, const char *path, size_t max,
	    size_t *count)
{
	*count = 0;
	if (is_null(n))
		return 0;
	if (!yn_is_seq(n)) {
		const char *s;
		size_t l;

		perr(c, node_line(n, line), path, "must be a list, not %s",
		     yn_is_map(n) ? "a map" : sk_name(scalar_kind(n, &s, &l)));
		return -1;
	}
	*count = (size_t)yn_count(n);
	if (*count > max) {
		limit_err(c, node_line(n, line), path, "entries", max);
		return -1;
	}
	return 1;
}

/* A map; unknown keys are errors when known is given. */
int get_map(struct pctx *c, struct ynode *n, unsigned int line, const char *path,
	    const char *const *known)
{
	struct ypair *p;
	void *it = NULL;
	char sub[PATHSZ];
	int ret = 1;
	size_t l;

	if (is_null(n))
		return 0;
	if (!yn_is_map(n)) {
		const char *s;

		perr(c, node_line(n, line), path, "must be a map, not %s",
		     yn_is_seq(n) ? "a list" : sk_name(scalar_kind(n, &s, &l)));
		return -1;
	}
	if ((size_t)yn_count(n) > c->lim.max_list) {
		limit_err(c, node_line(n, line), path, "entries", c->lim.max_list);
		return -1;
	}
	while ((p = yn_map_iterate(n, &it))) {
		const char *k = pair_key(p, &l);
		unsigned int kl = node_line(p->key, line);

		if (!k || scalar_kind(p->key, &k, &l) != SK_STR) {
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
