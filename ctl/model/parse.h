/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Manifest parser: unmodified Kubernetes YAML or JSON (libfyaml), several documents per file,
 * `kind: List`, into the validated object model of model.h.
 *
 * Accepted: Namespace (v1), Pod (v1), NetworkPolicy (networking.k8s.io/v1) and List (v1) of
 * those. Anything else is an error, as kubectl rejects kinds it has no mapping for: a
 * manifest that silently skipped a policy would leave traffic open.
 *
 * All or nothing: when any document has an error, the result is -EINVAL, the diagnostics
 * and no objects, so the caller keeps its last good state.
 *
 * Choices worth knowing:
 * - null (or an empty value) is "absent", as Go's JSON decoding gives nil.
 * - Plain scalars are typed after the YAML 1.2 core schema, as Kubernetes decodes them:
 *   `port: 80` is a number, `port: "80"` a string (so an invalid port name), and a label
 *   value `true` or `8080` must be quoted. Unlike YAML 1.1, y/n/yes/no/on/off are strings.
 * - NetworkPolicy objects are decoded strictly (unknown fields are errors: a typo such as
 *   `podSelecter` would otherwise select every pod); Pod and Namespace objects are partly
 *   read and their other fields ignored. Pods need no containers (podwall runs no images).
 * - YAML aliases and tags other than !!str are refused (alias bombs, no use in manifests).
 * - The same object (kind, namespace, name) twice in one input is an error.
 * - Namespaces get the label kubernetes.io/metadata.name=<name>, and a metadata.namespace on
 *   them is dropped with a warning, both as the API server does.
 * - Warnings (host bits in an ipBlock CIDR, rules of a direction policyTypes leaves out) do
 *   not fail the parse.
 */
#ifndef PW_CTL_PARSE_H
#define PW_CTL_PARSE_H

#include <stddef.h>

#include "model.h"

enum pw_diag_level {
	PW_DIAG_ERROR = 0,
	PW_DIAG_WARNING = 1,
};

struct pw_diag {
	enum pw_diag_level level;
	unsigned int doc;  /* 1-based document, 0 when about the whole input */
	unsigned int line; /* 1-based, 0 unknown */
	char *path;	   /* field path, e.g. "spec.ingress[0].ports[0].endPort", or "" */
	char *msg;	   /* the reason alone */
	/*
	 * Full message, e.g. "policies.yaml: document 2 (NetworkPolicy x/allow-b), line 14:
	 * spec.ingress[0].ports[0].endPort: must be >= port (80)"; warnings say "warning: ".
	 */
	char *text;
};

struct pw_diags {
	size_t n;
	size_t n_errors;
	struct pw_diag *v;
};

void pw_diags_clear(struct pw_diags *d);

/*
 * Limits that keep a hostile input from exhausting memory or time. 0 means the default.
 * Parsing stops at the first limit hit, with an error.
 */
struct pw_parse_limits {
	size_t max_bytes;     /* input size, default 16 MiB */
	size_t max_documents; /* default 10000 */
	size_t max_objects;   /* objects in the input, List items included, default 10000 */
	size_t max_nodes;     /* YAML nodes in the input, default 250000 (bounds memory) */
	size_t max_depth;     /* nesting, default 64 (also libfyaml's own) */
	size_t max_list;      /* entries of any list or map we read, default 4096 */
	size_t max_selector;  /* matchLabels + matchExpressions entries, and values, default 256 */
	size_t max_string;    /* any string we keep, default 64 KiB */
	size_t max_diags;     /* diagnostics kept before giving up, default 100 */
};

struct pw_parse_opts {
	size_t sz; /* sizeof(struct pw_parse_opts) */
	struct pw_parse_limits limits;
};

/*
 * Parse len bytes of buf; name is used in messages (e.g. the path the user gave). opts may be
 * NULL. On success returns 0 and *out (warnings may be in diags). On failure returns
 * -EINVAL (the input is invalid) or -EFBIG (over a limit) or -ENOMEM, *out is NULL and diags
 * says why. diags may be NULL; when not, it is appended to (clear it yourself).
 */
int pw_parse_buffer(const char *name, const char *buf, size_t len, const struct pw_parse_opts *opts,
		    struct pw_manifest **out, struct pw_diags *diags);

/*
 * Read and parse a file ("-" is standard input, named "<stdin>"). Besides the above, returns
 * the -errno of a failed open/read, with a diagnostic.
 */
int pw_parse_file(const char *path, const struct pw_parse_opts *opts, struct pw_manifest **out,
		  struct pw_diags *diags);

#endif /* PW_CTL_PARSE_H */
