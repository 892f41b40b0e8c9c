// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The manifest parser: the input's text checked (UTF-8, the characters YAML allows, the
 * inputs libfyaml 0.7 crashes on), then one pass over libfyaml's event stream that enforces
 * the size limits (documents, nodes, depth), refuses aliases and tags, and builds a compact
 * tree of every document (parse_tree.c), so no input can blow up: a 16 MiB flow list of
 * one-letter scalars is refused by count.
 *
 * Then each document becomes model objects following the API server: decoding (types,
 * null = absent), defaulting, then validation with its rules and, where practical, its
 * messages. Every error names file, document, object, line and field path.
 */
#define _GNU_SOURCE
#include "parse_int.h"

static const char *const obj_keys[] = {"apiVersion", "kind", "metadata", "spec", "status", NULL};
static const char *const list_keys[] = {"apiVersion", "kind", "metadata", "items", NULL};
/* --- documents -------------------------------------------------------------------------- */

static const char *obj_name(const struct pw_object *o, const char **ns)
{
	*ns = pw_object_namespace(o);
	return pw_object_name(o);
}

static void set_desc(struct pctx *c, struct ynode *obj, const char *kind)
{
	char name[256], ns[256];
	struct ynode *meta;
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
static int parse_object(struct pctx *c, struct ynode *n, unsigned int line, const char *prefix,
			bool nested)
{
	void *sit = NULL; /* sequence iterator: items in order, O(1) each */
	struct pw_object o = {0};
	char path[PATHSZ], kind[64], api[64];
	const char *want_api = "v1";
	unsigned int kl;
	int ret = -1, r;

	line = node_line(n, line);
	if (!n || !yn_is_map(n)) {
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
		if (mget_string(c, n, "kind", line, &kl, pj(path, prefix, "kind"), &k) >= 0)
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
	} else if (!strcmp(kind, "Service")) {
		o.kind = PW_KIND_SERVICE;
	} else if (!strcmp(kind, "EndpointSlice")) {
		o.kind = PW_KIND_EPSLICE;
		want_api = "discovery.k8s.io/v1";
	} else if (!strcmp(kind, "List") && !nested) {
		want_api = "v1";
	} else {
		perr(c, kl, pj(path, prefix, "kind"),
		     "unsupported kind \"%s\"%s: podwall accepts Namespace, Pod, NetworkPolicy, "
		     "Service, EndpointSlice and List",
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
	if (get_map(c, n, line, prefix,
		    o.kind == PW_KIND_EPSLICE ? pw_parse_epslice_keys
		    : o.kind		      ? obj_keys
					      : list_keys) < 0)
		return -1;

	if (!o.kind) {
		struct ynode *items = mget(n, "items", line, &kl);
		char ip[PATHSZ];
		size_t count, i;

		pj(path, prefix, "items");
		c->objects--; /* the List itself is no object */
		r = get_seq(c, items, kl, path, c->lim.max_objects, &count);
		if (r < 0)
			return -1;
		ret = 0;
		for (i = 0; i < count && !c->stop; i++) {
			struct ynode *item = yn_seq_iterate(items, &sit);

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
	case PW_KIND_SERVICE:
		ret = pw_parse_service(c, n, line, prefix, &o.u.svc);
		break;
	case PW_KIND_EPSLICE:
		ret = pw_parse_epslice(c, n, line, prefix, &o.u.eps);
		break;
	default:
		break;
	}
	if (!ret) {
		o.src.doc = c->doc;
		o.src.line = line;
		if (!c->src_file)
			c->src_file = pw_source_file_new(c->file);
		o.src.file = pw_source_file_ref(c->src_file);
		if (!o.src.file)
			oom(c);
		else
			ret = add_object(c, &o);
	}
	pw_object_clear(&o);
	return ret;
}

static void parse_document(struct pctx *c, struct ynode *root)
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

/* --- the input ---------------------------------------------------------------------------- */

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

/*
 * libfyaml 0.7 (Debian 12) frees a simple key twice when a tab follows an explicit key's
 * content in some positions ("? a: \t- b", "e: \t:  ? e: \t:", or the key's content on the lines
 * below the "?"; upstream commit 0bb4406, "Fix double free in case of a bad key"), and its
 * parser then crashes when destroyed (found by fuzz_manifest, twice: a rule that looked only at
 * a line's leading indicators missed the second). Kubernetes objects never need explicit keys,
 * so an input with a "?" that can be an explicit-key indicator anywhere (at a line's start or
 * after a blank or a flow or block indicator, and followed by a blank, a line break, a flow
 * indicator or the end) and a tab anywhere after it is refused before libfyaml sees it. A "?"
 * inside a word or right after a quote cannot be one, so "what?\t" still parses. Returns the
 * 1-based line of that tab, or 0.
 */
static bool in_set(char c, const char *set)
{
	return c && strchr(set, c);
}

static unsigned int explicit_key_tab_line(const char *s, size_t len)
{
	unsigned int line = 1;
	bool explicit = false;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '\n' || (c == '\r' && !(i + 1 < len && s[i + 1] == '\n')))
			line++;
		else if (c == '\t' && explicit)
			return line;
		else if (c == '?' && (i == 0 || in_set(s[i - 1], " \t\r\n-:?,[{")) &&
			 (i + 1 == len || in_set(s[i + 1], " \t\r\n,[]{}")))
			explicit = true;
	}
	return 0;
}

/* YAML 1.2's c-printable: tab, line breaks, and no other C0 or C1 control, nor U+FFFE/FFFF */
static bool yaml_printable(uint32_t cp)
{
	if (cp < 0x20)
		return cp == '\t' || cp == '\n' || cp == '\r';
	if (cp >= 0x7f && cp <= 0x9f)
		return cp == 0x85;
	return cp != 0xfffe && cp != 0xffff;
}

/*
 * Manifests are UTF-8 text of printable characters (YAML 1.2 5.1, and the API server's JSON).
 * Checked before libfyaml sees the input: libfyaml loops forever on some invalid sequences (a
 * '%' directive followed by a stray continuation byte) and writes through a NULL pointer
 * when destroying a parser that met NUL bytes in a complex key ("? n:\t\0\0\0 m s"); both found
 * by fuzzing, both would take the daemon down. Returns the offset of the first byte that is
 * not part of a well-formed UTF-8 sequence (*cp = UINT32_MAX) or starts a character YAML does
 * not allow (*cp = that character), or len.
 */
static size_t text_bad_at(const unsigned char *s, size_t len, uint32_t *bad_cp)
{
	size_t i = 0;

	*bad_cp = UINT32_MAX;
	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		uint32_t cp;

		if (c < 0x80) {
			if (!yaml_printable(c)) {
				*bad_cp = c;
				return i;
			}
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return i;
		}
		if (i + n >= len) /* truncated sequence */
			return i;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return i;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		/* overlong forms, surrogates, beyond U+10FFFF */
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return i;
		if (!yaml_printable(cp)) {
			*bad_cp = cp;
			return i;
		}
		i += n + 1;
	}
	return len;
}

/*
 * Line breaks as LF: a copy of buf with every CRLF and lone CR made LF, or NULL when buf has
 * no CR (nothing to copy) or memory ran out (*err). YAML reads the three alike (a line break
 * in a scalar is read as LF, YAML 1.2 5.4), so the manifest means the same and its lines keep
 * their numbers; libfyaml 0.7 leaks the text of a multi-line double-quoted scalar that mixes
 * them ("a: \"x\n\r\n\r\n\n\r\n \"", found by fuzz_manifest once every scalar's text was
 * read), and no input reaches it with CRs.
 */
static char *lf_only(const char *buf, size_t len, size_t *out_len, int *err)
{
	const char *cr = buf ? memchr(buf, '\r', len) : NULL;
	size_t o;
	char *v;

	*err = 0;
	if (!cr)
		return NULL;
	v = malloc(len ? len : 1);
	if (!v) {
		*err = -ENOMEM;
		return NULL;
	}
	o = (size_t)(cr - buf);
	memcpy(v, buf, o);
	for (size_t i = o; i < len; i++) {
		if (buf[i] != '\r') {
			v[o++] = buf[i];
			continue;
		}
		v[o++] = '\n';
		if (i + 1 < len && buf[i + 1] == '\n')
			i++;
	}
	*out_len = o;
	return v;
}

int pw_parse_buffer(const char *name, const char *buf, size_t len, const struct pw_parse_opts *opts,
		    struct pw_manifest **out, struct pw_diags *diags)
{
	struct pw_diags local = {0};
	struct ytree t = {0};
	struct pctx c = {0};
	char *lf = NULL;
	unsigned int line;
	uint32_t bad_cp;
	size_t at;
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
	if (buf && (at = text_bad_at((const unsigned char *)buf, len, &bad_cp)) < len) {
		line = 1;
		for (size_t i = 0; i < at; i++)
			line += buf[i] == '\n';
		if (bad_cp == UINT32_MAX)
			perr(&c, line, "", "not UTF-8 text: byte 0x%02x at offset %zu",
			     (unsigned char)buf[at], at);
		else
			perr(&c, line, "",
			     "character U+%04X at offset %zu is not allowed in YAML (control "
			     "characters other than tab and line breaks)",
			     (unsigned int)bad_cp, at);
		err = -EINVAL;
		goto out;
	}
	lf = lf_only(buf, len, &len, &err);
	if (err) {
		oom(&c);
		goto out;
	}
	if (lf)
		buf = lf;
	if (buf && (line = explicit_key_tab_line(buf, len))) {
		perr(&c, line, "",
		     "a tab after an explicit-key indicator (\"? \", anywhere earlier in the "
		     "input) is not "
		     "supported (the YAML library crashes on some): use spaces, or plain keys");
		err = -EINVAL;
		goto out;
	}
	err = ytree_build(&c, buf ? buf : "", len, &t);
	if (err)
		goto out;
	for (size_t i = 0; i < t.n && !c.stop; i++) {
		c.doc = (unsigned int)i + 1;
		if (c.doc == t.dup_doc) {
			/* libfyaml's document loader refused such a document, and the rest */
			c.desc[0] = '\0';
			perr(&c, t.dup_line, "", "YAML syntax error: duplicate key");
			break;
		}
		parse_document(&c, t.roots[i]);
	}
	if (!c.stop)
		check_duplicates(&c);
	err = c.syserr ? c.syserr : c.over_limit ? -EFBIG : c.errors ? -EINVAL : 0;
out:
	if (c.syserr)
		err = c.syserr;
	ytree_free(&t);
	pw_source_file_put(c.src_file);
	free(lf);
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
	size_t len = 0;
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
	err = pw_read_bounded(fd, lim.max_bytes, S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 0,
			      &buf, &len);
	if (err == -EFBIG) {
		perr(&c, 0, "", "larger than %zu bytes", lim.max_bytes);
		goto out;
	}
	if (err && err != -ENOMEM)
		perr(&c, 0, "", "read: %s", strerror(-err));
	if (err)
		goto out;
	err = pw_parse_buffer(name, buf, len, opts, out, c.diags);
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	pw_diags_clear(&local);
	return err;
}
