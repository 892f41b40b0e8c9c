// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The manifest parser's one pass over the YAML: libfyaml's event stream, checked (limits,
 * aliases, tags, the inputs libfyaml 0.7 mishandles) and built into a compact tree of
 * documents (struct ynode, in an arena) that the object parsers walk.
 *
 * Why not libfyaml's own document tree: it costs a second scan of the input, twice the
 * time of the event pass (a 5 MiB cluster of 11,000 objects: events 180 ms, documents
 * 360 ms more) and several times the memory; the checks must see every event before any
 * tree is built anyway, so that a 16 MiB flow list of one-letter scalars is refused by
 * count instead of costing gigabytes. What the document loader also did, refusing duplicate
 * keys, is done here when a mapping ends.
 */
#define _GNU_SOURCE
#include <libfyaml.h>

#include "parse_int.h"

/* --- arena ------------------------------------------------------------------------------ */

#define YCHUNK (64u << 10)

struct ychunk {
	struct ychunk *next;
	size_t used, cap;
	max_align_t data[];
};

static void *ya_alloc(struct ytree *t, size_t sz)
{
	struct ychunk *ch = t->chunks;
	size_t need = (sz + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	void *p;

	if (!ch || ch->cap - ch->used < need) {
		size_t cap = need > YCHUNK / 4 ? need : YCHUNK;

		ch = malloc(sizeof(*ch) + cap);
		if (!ch)
			return NULL;
		ch->used = 0;
		ch->cap = cap;
		/* a large block gets its own chunk behind the current one, which keeps filling */
		if (cap > YCHUNK && t->chunks) {
			ch->next = t->chunks->next;
			t->chunks->next = ch;
		} else {
			ch->next = t->chunks;
			t->chunks = ch;
		}
	}
	p = (char *)ch->data + ch->used;
	ch->used += need;
	return p;
}

void ytree_free(struct ytree *t)
{
	struct ychunk *ch = t->chunks, *next;

	for (; ch; ch = next) {
		next = ch->next;
		free(ch);
	}
	free(t->roots);
	memset(t, 0, sizeof(*t));
}

/* --- libfyaml ----------------------------------------------------------------------------- */

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

/*
 * libfyaml 0.7 (Debian 12) mis-iterates a single-quoted scalar holding two escaped quotes in a
 * row (''''): its chunk iterator yields extra quotes, the formatted text no longer fits the
 * length the scanner recorded, and the fallback that still returns the right text leaks the
 * iterator's chunk array (libfyaml issue 233; found by fuzz_manifest). A daemon fed such
 * manifests would grow without bound, so they are refused by name, before their text is read.
 * Returns true when the scalar event e is such a scalar; buf is the whole input the marks
 * index.
 */
static bool sq_consecutive_escapes(struct fy_event *e, const char *buf, size_t len)
{
	struct fy_token *t = fy_event_get_token(e);
	const struct fy_mark *s = fy_event_start_mark(e), *end = fy_event_end_mark(e);
	size_t i, run = 0;

	if (!t || !s || !end || fy_token_scalar_style(t) != FYSS_SINGLE_QUOTED)
		return false;
	/* libfyaml's marks bound the text between the quotes */
	for (i = s->input_pos; i < end->input_pos && i < len; i++) {
		run = buf[i] == '\'' ? run + 1 : 0;
		if (run >= 4)
			return true;
	}
	return false;
}

/* --- building ----------------------------------------------------------------------------- */

/* A collection being built: its children gathered here until its end event. */
struct yframe {
	struct ynode *node;
	struct ynode **kids;
	size_t n, cap;
};

struct ybuild {
	struct pctx *c;
	struct ytree *t;
	struct yframe *stack; /* frames [0, depth) open; their kid arrays are reused */
	size_t depth, cap;
	struct ynode *root;
	size_t nodes;
};

/* Room for one more element in *v (n used of *cap, sz bytes each): 0 or -ENOMEM. */
static int grow(void *v, size_t n, size_t *cap, size_t sz)
{
	void **pv = v, *nv;
	size_t nc;

	if (n < *cap)
		return 0;
	nc = *cap ? *cap * 2 : 16;
	nv = realloc(*pv, nc * sz);
	if (!nv)
		return -ENOMEM;
	memset((char *)nv + *cap * sz, 0, (nc - *cap) * sz);
	*pv = nv;
	*cap = nc;
	return 0;
}

static int add_doc(struct ybuild *b, struct ynode *root)
{
	struct ytree *t = b->t;

	if (grow(&t->roots, t->n, &t->cap, sizeof(*t->roots)))
		return -ENOMEM;
	t->roots[t->n++] = root;
	return 0;
}

static int add_kid(struct ybuild *b, struct ynode *n)
{
	struct yframe *f;

	if (!b->depth) {
		b->root = n;
		return 0;
	}
	f = &b->stack[b->depth - 1];
	if (grow(&f->kids, f->n, &f->cap, sizeof(*f->kids)))
		return -ENOMEM;
	f->kids[f->n++] = n;
	return 0;
}

static int open_collection(struct ybuild *b, enum yn_type type)
{
	struct ynode *n = ya_alloc(b->t, sizeof(*n));

	/* frames keep their kid arrays for the next collection at that depth: zeroed when new */
	if (!n || grow(&b->stack, b->depth, &b->cap, sizeof(*b->stack)))
		return -ENOMEM;
	*n = (struct ynode){.type = type};
	b->stack[b->depth].node = n;
	b->stack[b->depth].n = 0;
	b->depth++;
	return 0;
}

static bool same_key(const struct ynode *a, const struct ynode *b)
{
	return a->type == YN_SCALAR && b->type == YN_SCALAR && a->n == b->n &&
	       !memcmp(a->text, b->text, a->n);
}

static int cmp_key(const void *x, const void *y)
{
	const struct ynode *a = ((const struct ypair *)x)->key;
	const struct ynode *b = ((const struct ypair *)y)->key;

	if (a->type != b->type)
		return (int)a->type - (int)b->type;
	if (a->type != YN_SCALAR)
		return a < b ? -1 : a > b; /* collections as keys are never equal */
	if (a->n != b->n)
		return a->n < b->n ? -1 : 1;
	return memcmp(a->text, b->text, a->n);
}

/*
 * *line: the line of a key given twice in one mapping, or 0. Scalar keys are equal when their
 * text is (libfyaml's document loader compared them the same way, style aside). Small
 * mappings are compared pairwise; large ones (a label map may hold thousands) sorted in a copy.
 */
static int dup_key_line(const struct ypair *p, size_t n, unsigned int *line)
{
	struct ypair *s;

	*line = 0;
	if (n <= 16) {
		for (size_t i = 1; i < n && !*line; i++) {
			for (size_t j = 0; j < i && !*line; j++) {
				if (same_key(p[i].key, p[j].key))
					*line = p[i].key->line ? p[i].key->line : 1;
			}
		}
		return 0;
	}
	s = malloc(n * sizeof(*s));
	if (!s)
		return -ENOMEM;
	memcpy(s, p, n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_key);
	for (size_t i = 1; i < n && !*line; i++) {
		if (same_key(s[i].key, s[i - 1].key)) {
			unsigned int a = s[i].key->line, b = s[i - 1].key->line,
				     last = a > b ? a : b;

			*line = last ? last : 1;
		}
	}
	free(s);
	return 0;
}

static int close_collection(struct ybuild *b)
{
	struct yframe *f = &b->stack[--b->depth];
	struct ynode *n = f->node;
	size_t bytes = f->n * sizeof(struct ynode *);
	void *kids = NULL;

	if (f->n) {
		kids = ya_alloc(b->t, bytes);
		if (!kids)
			return -ENOMEM;
		memcpy(kids, f->kids, bytes);
	}
	if (n->type == YN_SEQ) {
		n->items = kids;
		n->n = (uint32_t)f->n;
	} else {
		unsigned int dl;

		/* keys and values alternate: the event stream gives every key a value */
		n->pairs = kids;
		n->n = (uint32_t)(f->n / 2);
		if (dup_key_line(n->pairs, n->n, &dl))
			return -ENOMEM;
		if (dl && !b->t->dup_line) {
			b->t->dup_line = dl;
			b->t->dup_doc = b->c->doc;
		}
	}
	return add_kid(b, n);
}

static int add_scalar(struct ybuild *b, struct fy_event *e, bool tagged)
{
	struct fy_token *tok = fy_event_get_token(e);
	struct ynode *n = ya_alloc(b->t, sizeof(*n));
	const char *s = NULL;
	size_t len = 0;
	char *text;

	if (!n)
		return -ENOMEM;
	*n = (struct ynode){.type = YN_SCALAR, .line = event_line(e), .tagged = tagged};
	if (!tok) {
		/* an empty value ("a:", "? a"): the null libfyaml's nodes reported */
		n->null = true;
		n->text = "";
		n->line = 0;
		return add_kid(b, n);
	}
	n->plain = fy_token_scalar_style(tok) == FYSS_PLAIN;
	s = fy_token_get_text(tok, &len);
	if (!s)
		return -ENOMEM;
	text = ya_alloc(b->t, len + 1);
	if (!text)
		return -ENOMEM;
	memcpy(text, s, len);
	text[len] = '\0';
	n->text = text;
	n->n = (uint32_t)len;
	return add_kid(b, n);
}

/* Only !!str on a scalar: the API server's JSON has no tags, and a tag would change types. */
static int check_tag(struct ybuild *b, struct fy_event *e, bool *tagged)
{
	struct fy_token *tag = fy_event_get_tag_token(e);
	const char *h, *s;

	*tagged = false;
	if (!tag)
		return 0;
	h = fy_tag_token_handle0(tag);
	s = fy_tag_token_suffix0(tag);
	if (e->type != FYET_SCALAR || !h || !s || strcmp(h, "!!") || strcmp(s, "str")) {
		perr(b->c, event_line(e), "", "YAML tag %s%s is not supported (only !!str)",
		     h ? h : "", s ? s : "");
		return -EINVAL;
	}
	*tagged = true;
	return 0;
}

static int count_node(struct ybuild *b, struct fy_event *e)
{
	if (++b->nodes > b->c->lim.max_nodes) {
		limit_err(b->c, event_line(e), "", "YAML nodes", b->c->lim.max_nodes);
		return -EFBIG;
	}
	return 0;
}

static int on_event(struct ybuild *b, struct fy_event *e, const char *buf, size_t len)
{
	struct pctx *c = b->c;
	bool tagged;
	int ret;

	switch (e->type) {
	case FYET_DOCUMENT_START:
		if (++c->doc > c->lim.max_documents) {
			limit_err(c, event_line(e), "", "documents", c->lim.max_documents);
			return -EFBIG;
		}
		b->root = NULL;
		return 0;
	case FYET_DOCUMENT_END:
		return add_doc(b, b->root);
	case FYET_MAPPING_START:
	case FYET_SEQUENCE_START:
		if (b->depth + 1 > c->lim.max_depth) {
			perr(c, event_line(e), "", "nested deeper than %zu levels",
			     c->lim.max_depth);
			c->over_limit = true;
			return -EFBIG;
		}
		ret = count_node(b, e);
		if (!ret)
			ret = check_tag(b, e, &tagged);
		if (!ret)
			ret = open_collection(b, e->type == FYET_MAPPING_START ? YN_MAP : YN_SEQ);
		return ret;
	case FYET_MAPPING_END:
	case FYET_SEQUENCE_END:
		return b->depth ? close_collection(b) : -EINVAL;
	case FYET_SCALAR:
		if (sq_consecutive_escapes(e, buf, len)) {
			perr(c, event_line(e), "",
			     "a single-quoted string with two escaped quotes in a row ('''') is "
			     "not "
			     "supported (the YAML library leaks memory on it): write it "
			     "double-quoted");
			return -EINVAL;
		}
		ret = count_node(b, e);
		if (!ret)
			ret = check_tag(b, e, &tagged);
		if (!ret)
			ret = add_scalar(b, e, tagged);
		return ret;
	case FYET_ALIAS:
		perr(c, event_line(e), "", "YAML aliases (*name) are not supported");
		return -EINVAL;
	default:
		return 0;
	}
}

/*
 * The whole input into t: every document's tree, or an error reported in c (a limit, an
 * alias, a tag, a syntax error; -ENOMEM). A duplicate key does not stop the build: its line
 * is kept in t->dup_doc/dup_line and reported when the walk reaches that document, after the
 * objects of the documents before it, as the document loader did.
 */
int ytree_build(struct pctx *c, const char *buf, size_t len, struct ytree *t)
{
	struct ybuild b = {.c = c, .t = t};
	struct fy_diag *diag = NULL;
	struct fy_parser *p;
	struct fy_event *e;
	int ret = 0;

	memset(t, 0, sizeof(*t));
	p = new_parser(&diag, buf, len);
	if (!p) {
		oom(c);
		return -ENOMEM;
	}
	c->doc = 0;
	while (!ret && (e = fy_parser_parse(p))) {
		ret = on_event(&b, e, buf, len);
		fy_parser_event_free(p, e);
	}
	if (ret == -ENOMEM)
		oom(c);
	if (!ret && fy_parser_get_stream_error(p)) {
		yaml_errors(c, diag);
		ret = -EINVAL;
	}
	for (size_t i = 0; i < b.cap; i++)
		free(b.stack[i].kids);
	free(b.stack);
	fy_parser_destroy(p);
	fy_diag_destroy(diag);
	c->doc = 0;
	if (ret)
		ytree_free(t);
	return ret;
}
