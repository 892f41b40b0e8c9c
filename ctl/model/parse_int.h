/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The manifest parser's internals, shared by parse*.c and by nobody else: the parse context,
 * scalar kinds, ObjectMeta, and the functions one file calls in another.
 */
#ifndef PW_CTL_PARSE_INT_H
#define PW_CTL_PARSE_INT_H

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

#include "fdio.h"
#include "parse.h"

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

/* parse_yaml.c */
__attribute__((format(printf, 4, 5))) void perr(struct pctx *c, unsigned int line, const char *path,
						const char *fmt, ...);
__attribute__((format(printf, 4, 5))) void pwarn(struct pctx *c, unsigned int line,
						 const char *path, const char *fmt, ...);
void oom(struct pctx *c);
void limit_err(struct pctx *c, unsigned int line, const char *path, const char *what, size_t limit);
const char *pj(char *dst, const char *base, const char *key);
const char *pi(char *dst, const char *base, size_t i);
unsigned int node_line(struct fy_node *n, unsigned int hint);
enum sk scalar_kind(struct fy_node *n, const char **s, size_t *len);
const char *sk_name(enum sk k);
bool is_null(struct fy_node *n);
struct fy_node *mget(struct fy_node *map, const char *key, unsigned int hint, unsigned int *line);
char *peek(struct fy_node *map, const char *key, char *buf, size_t sz);
int get_string(struct pctx *c, struct fy_node *n, unsigned int line, const char *path, char **out);
int get_int(struct pctx *c, struct fy_node *n, unsigned int line, const char *path, long long min,
	    long long max, long long *out);
int mget_string(struct pctx *c, struct fy_node *map, const char *key, unsigned int hint,
		unsigned int *line, const char *path, char **out);
int mget_int(struct pctx *c, struct fy_node *map, const char *key, unsigned int hint,
	     unsigned int *line, const char *path, long long min, long long max, long long *out);
int get_seq(struct pctx *c, struct fy_node *n, unsigned int line, const char *path, size_t max,
	    size_t *count);
int get_map(struct pctx *c, struct fy_node *n, unsigned int line, const char *path,
	    const char *const *known);

/* parse_meta.c */
int parse_selector(struct pctx *c, struct fy_node *n, unsigned int line, const char *path,
		   struct pw_selector *sel);
void meta_clear(struct meta *m);
int parse_meta(struct pctx *c, struct fy_node *obj, unsigned int line, const char *prefix,
	       enum pw_kind kind, struct meta *m);

/* parse_pod.c */
int parse_namespace(struct pctx *c, struct fy_node *obj, unsigned int line, const char *prefix,
		    struct pw_namespace *ns);
int parse_pod(struct pctx *c, struct fy_node *obj, unsigned int line, const char *prefix,
	      struct pw_pod *pod);

/* parse_netpol.c */
int parse_netpol(struct pctx *c, struct fy_node *obj, unsigned int line, const char *prefix,
		 struct pw_netpol *np);

/* svcparse.c: Service and EndpointSlice (an EndpointSlice has no spec: its own top keys) */
extern const char *const pw_parse_epslice_keys[];
int pw_parse_service(struct pctx *c, struct fy_node *obj, unsigned int line, const char *prefix,
		     struct pw_service *svc);
int pw_parse_epslice(struct pctx *c, struct fy_node *obj, unsigned int line, const char *prefix,
		     struct pw_epslice *eps);

#endif /* PW_CTL_PARSE_INT_H */
