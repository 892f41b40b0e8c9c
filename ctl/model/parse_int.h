/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The manifest parser's internals, shared by parse*.c and by nobody else: the parse context,
 * scalar kinds, ObjectMeta, and the functions one file calls in another.
 */
#ifndef PW_CTL_PARSE_INT_H
#define PW_CTL_PARSE_INT_H

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdio.h"
#include "parse.h"

#define PATHSZ 512

struct pctx {
	const char *file;
	char *src_file; /* file as the objects hold it (pw_source_file_new), once one is made */
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

enum sk {
	SK_NULL,
	SK_STR,
	SK_BOOL,
	SK_INT,	      /* decimal */
	SK_INT_OTHER, /* 0x.., 0o.., 0b.., leading zeros, underscores: numbers, not decimal */
	SK_FLOAT,
	SK_COLLECTION,
};

/*
 * A YAML node as the object parsers read it, built from libfyaml's event stream in the one
 * pass over the input (parse_tree.c); every node lives in its tree's arena.
 */
enum yn_type {
	YN_SCALAR,
	YN_SEQ,
	YN_MAP,
};

struct ynode;

struct ypair {
	struct ynode *key, *value;
};

struct ynode {
	union {
		const char *text;     /* scalar: its text, NUL-terminated ("" when null) */
		struct ynode **items; /* sequence */
		struct ypair *pairs;  /* mapping */
	};
	uint32_t n;    /* scalar: text length; sequence: items; mapping: pairs */
	uint32_t line; /* scalar: 1-based line of its token (0: unknown); collections: 0 */
	uint8_t type;  /* enum yn_type */
	bool plain;    /* a plain scalar: not quoted, not a block scalar */
	bool tagged;   /* a scalar tagged !!str, the only tag let through */
	bool null;     /* an empty value without a token ("a:", "? a") */
};

struct ytree {
	struct ynode **roots; /* one per document; NULL for an empty one */
	size_t n, cap;
	struct ychunk *chunks; /* the arena */
	unsigned int dup_doc;  /* the first document with a key given twice in a mapping */
	unsigned int dup_line; /* and that key's line */
};

/* parse_tree.c */
int ytree_build(struct pctx *c, const char *buf, size_t len, struct ytree *t);
void ytree_free(struct ytree *t);

static inline bool yn_is_scalar(const struct ynode *n)
{
	return n && n->type == YN_SCALAR;
}

static inline bool yn_is_seq(const struct ynode *n)
{
	return n && n->type == YN_SEQ;
}

static inline bool yn_is_map(const struct ynode *n)
{
	return n && n->type == YN_MAP;
}

static inline size_t yn_count(const struct ynode *n)
{
	return n && n->type != YN_SCALAR ? n->n : 0;
}

/* The next item of a sequence; *it starts NULL (it holds the next index) */
static inline struct ynode *yn_seq_iterate(struct ynode *n, void **it)
{
	uintptr_t i = (uintptr_t)*it;

	if (!yn_is_seq(n) || i >= n->n)
		return NULL;
	*it = (void *)(i + 1);
	return n->items[i];
}

static inline struct ypair *yn_map_iterate(struct ynode *n, void **it)
{
	uintptr_t i = (uintptr_t)*it;

	if (!yn_is_map(n) || i >= n->n)
		return NULL;
	*it = (void *)(i + 1);
	return &n->pairs[i];
}

struct meta {
	char *name;
	char *namespace;
	struct pw_labels labels;
	struct pw_labels annotations;
};

/* parse_yaml.c */
__attribute__((format(printf, 4, 5))) void perr(struct pctx *c, unsigned int line, const char *path,
						const char *fmt, ...);
__attribute__((format(printf, 4, 5))) void pwarn(struct pctx *c, unsigned int line,
						 const char *path, const char *fmt, ...);
void oom(struct pctx *c);
void limit_err(struct pctx *c, unsigned int line, const char *path, const char *what, size_t limit);
const char *pj(char *dst, const char *base, const char *key);
const char *pi(char *dst, const char *base, size_t i);
unsigned int node_line(struct ynode *n, unsigned int hint);
enum sk scalar_kind(struct ynode *n, const char **s, size_t *len);
const char *sk_name(enum sk k);
bool is_null(struct ynode *n);
struct ynode *mget(struct ynode *map, const char *key, unsigned int hint, unsigned int *line);
char *peek(struct ynode *map, const char *key, char *buf, size_t sz);
int get_string(struct pctx *c, struct ynode *n, unsigned int line, const char *path, char **out);
int get_int(struct pctx *c, struct ynode *n, unsigned int line, const char *path, long long min,
	    long long max, long long *out);
int mget_string(struct pctx *c, struct ynode *map, const char *key, unsigned int hint,
		unsigned int *line, const char *path, char **out);
int mget_int(struct pctx *c, struct ynode *map, const char *key, unsigned int hint,
	     unsigned int *line, const char *path, long long min, long long max, long long *out);
int get_seq(struct pctx *c, struct ynode *n, unsigned int line, const char *path, size_t max,
	    size_t *count);
int get_map(struct pctx *c, struct ynode *n, unsigned int line, const char *path,
	    const char *const *known);

/* parse_meta.c */
int parse_selector(struct pctx *c, struct ynode *n, unsigned int line, const char *path,
		   struct pw_selector *sel);
void meta_clear(struct meta *m);
int parse_meta(struct pctx *c, struct ynode *obj, unsigned int line, const char *prefix,
	       enum pw_kind kind, struct meta *m);

/* parse_pod.c */
int parse_namespace(struct pctx *c, struct ynode *obj, unsigned int line, const char *prefix,
		    struct pw_namespace *ns);
int parse_pod(struct pctx *c, struct ynode *obj, unsigned int line, const char *prefix,
	      struct pw_pod *pod);

/* parse_netpol.c */
int parse_netpol(struct pctx *c, struct ynode *obj, unsigned int line, const char *prefix,
		 struct pw_netpol *np);

/* svcparse.c: Service and EndpointSlice (an EndpointSlice has no spec: its own top keys) */
extern const char *const pw_parse_epslice_keys[];
int pw_parse_service(struct pctx *c, struct ynode *obj, unsigned int line, const char *prefix,
		     struct pw_service *svc);
int pw_parse_epslice(struct pctx *c, struct ynode *obj, unsigned int line, const char *prefix,
		     struct pw_epslice *eps);

#endif /* PW_CTL_PARSE_INT_H */
