/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The CLI's internals, shared by its files and by nobody else: one file per command group
 * (apply.c, get.c, inspect.c, flows.c, quarantine.c), the daemon connection (client.c), output and tables
 * (output.c); podwall.c holds the command table and main().
 */
#ifndef PW_CLI_H
#define PW_CLI_H

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fdio.h"
#include "flowfilter.h"
#include "mdir.h"
#include "parse.h"
#include "proto.h"
#include "yamlout.h"

#define PW_CLI_MAX_INPUT (16u << 20) /* the parser's default max_bytes */

struct cli {
	const char *socket;
	int fd;
	struct pw_linebuf lb;
};

enum output {
	OUT_HUMAN = 0,
	OUT_JSON,
	OUT_YAML,
	OUT_WIDE,
};

struct column {
	const char *header;
	const char *path; /* jpath spec */
	bool wide;	  /* only with -o wide */
	bool ns;	  /* the NAMESPACE column: only with -A */
};

#define CELL_MAX 512

/* common.c */
extern const char *prog;
void errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int usage_of(const char *name, FILE *f);
int usage(FILE *f);
int next_opt(const char *cmd, int argc, char **argv, const char *shortopts,
	     const struct option *longopts);

/* client.c */
int call(struct cli *c, json_object *req, json_object **resp, json_object **result);

/* output.c */
int parse_output(const char *s, enum output *o);
void print_structured(json_object *v, enum output o);
json_object *jpath(json_object *o, const char *spec);
void cell(json_object *v, char *buf, size_t len);
int print_table(json_object *items, const struct column *cols, enum output o, bool all_ns);

/* apply.c */
int cmd_apply(struct cli *c, int argc, char **argv);
int cmd_delete(struct cli *c, int argc, char **argv);

/* get.c */
int cmd_get(struct cli *c, int argc, char **argv);
int split_ref(const char *arg, const char *ns_opt, char *ns, size_t nslen, char *name,
	      size_t namelen);
int cmd_describe(struct cli *c, int argc, char **argv);

/* inspect.c */
int cmd_explain(struct cli *c, int argc, char **argv);
int cmd_status(struct cli *c, int argc, char **argv);

/* flows.c */
int cmd_flows(struct cli *c, int argc, char **argv);

/* suggest.c */
int cmd_suggest(struct cli *c, int argc, char **argv);

/* quarantine.c */
int cmd_quarantine(struct cli *c, int argc, char **argv);

#endif /* PW_CLI_H */
