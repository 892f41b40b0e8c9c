/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The parser's internals, shared by parse.c (Namespace, Pod, NetworkPolicy, documents) and
 * svcparse.c (Service, EndpointSlice): YAML node access with typed getters and diagnostics that
 * name file, document, object, line and field path. Not for use outside the parser. The short
 * names below are macros onto pw_parse_* symbols, so nothing else in the program clashes.
 */
#ifndef PW_CTL_PARSE_INT_H
#define PW_CTL_PARSE_INT_H

#include <libfyaml.h>
#include <stdbool.h>
#include <stddef.h>

#include "parse.h"

#define oom		 pw_parse_oom
#define limit_err	 pw_parse_limit_err
#define pj		 pw_parse_pj
#define pi		 pw_parse_pi
#define node_line	 pw_parse_node_line
#define scalar_kind	 pw_parse_scalar_kind
#define sk_name		 pw_parse_sk_name
#define is_null		 pw_parse_is_null
#define mget		 pw_parse_mget
#define peek		 pw_parse_peek
#define get_string	 pw_parse_get_string
#define get_int		 pw_parse_get_int
#define mget_string	 pw_parse_mget_string
#define mget_int	 pw_parse_mget_int
#define get_seq		 pw_parse_get_seq
#define get_map		 pw_parse_get_map
#define parse_string_map pw_parse_string_map
#define parse_meta	 pw_parse_meta
#define meta_clear	 pw_parse_meta_clear
#define perr		 pw_parse_perr
#define pwarn		 pw_parse_pwarn

#define PATHSZ 512

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

enum sk {
	SK_NULL,
	SK_STR,
	SK_BOOL,
	SK_INT,	      /* decimal */
	SK_INT_OTHER, /* 0x.., 0o.., 0b.., leading zeros, underscores: numbers, not decimal */
	SK_FLOAT,
	SK_COLLECTION,
};

struct meta {
	char *name;
	char *namespace;
	struct pw_labels labels;
	struct pw_labels annotations;
};

void oom(struct pctx *c);
__attribute__((format(printf, 4, 5))) void perr(struct pctx *c, unsigned int line,
						const char *path, const char *fmt, ...);
__attribute__((format(printf, 4, 5))) void pwarn(struct pctx *c, unsigned int line,
						 const char *path, const char *fmt, ...);
void limit_err(struct pctx *c, unsigned int line, const char *path, const char *what,
	       size_t limit);
/* path building: base.key and base[i] into dst (PATHSZ bytes) */
const char *pj(char *dst, const char *base, const char *key);
const char *pi(char *dst, const char *base, size_t i);
unsigned int node_line(struct fy_node *n, unsigned int hint);
enum sk scalar_kind(struct fy_node *n, const char **s, size_t *len);
const char *sk_name(enum sk k);
bool is_null(struct fy_node *n);
/* Value of key in map (NULL when absent or null); *line gets the key's line. */
struct fy_node *mget(struct fy_node *map, const char *key, unsigned int hint, unsigned int *line);
/* Text of a string scalar under key, for descriptions only (no errors) */
char *peek(struct fy_node *map, const char *key, char *buf, size_t sz);
/* The get_* helpers return 1 (present), 0 (absent or null), or -1 (error reported). */
int get_string(struct pctx *c, struct fy_node *n, unsigned int line, const char *path,
	       char **out);
int get_int(struct pctx *c, struct fy_node *n, unsigned int line, const char *path,
	    long long min, long long max, long long *out);
int mget_string(struct pctx *c, struct fy_node *map, const char *key, unsigned int hint,
		unsigned int *line, const char *path, char **out);
int mget_int(struct pctx *c, struct fy_node *map, const char *key, unsigned int hint,
	     unsigned int *line, const char *path, long long min, long long max, long long *out);
int get_seq(struct pctx *c, struct fy_node *n, unsigned int line, const char *path, size_t max,
	    size_t *count);
/* A map; unknown keys are errors when known is given. */
int get_map(struct pctx *c, struct fy_node *n, unsigned int line, const char *path,
	    const char *const *known);
int parse_string_map(struct pctx *c, struct fy_node *n, unsigned int line, const char *path,
		     struct pw_labels *out, bool labels, size_t max);
int parse_meta(struct pctx *c, struct fy_node *obj, unsigned int line, const char *prefix,
	       enum pw_kind kind, struct meta *m);
void meta_clear(struct meta *m);

/* svcparse.c: the two kinds' top-level keys and decoders (obj, line, prefix as parse_object) */
extern const char *const pw_parse_epslice_keys[];
int pw_parse_service(struct pctx *c, struct fy_node *obj, unsigned int line, const char *prefix,
		     struct pw_service *svc);
int pw_parse_epslice(struct pctx *c, struct fy_node *obj, unsigned int line, const char *prefix,
		     struct pw_epslice *eps);

#endif /* PW_CTL_PARSE_INT_H */
