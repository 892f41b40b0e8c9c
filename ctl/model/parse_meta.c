// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * ObjectMeta, the same for every kind: name, namespace, labels, annotations.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libfyaml.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "parse_int.h"

/* ObjectMeta fields: known, so a typo there is an error rather than a silent no-op. */
static const char *const meta_keys[] = {
	"name",	      "generateName",	 "namespace",	      "selfLink",
	"uid",	      "resourceVersion", "generation",	      "creationTimestamp",
	"labels",     "annotations",	 "deletionTimestamp", "deletionGracePeriodSeconds",
	"finalizers", "ownerReferences", "managedFields",     NULL,
};

void meta_clear(struct meta *m)
{
	free(m->name);
	free(m->namespace);
	pw_labels_clear(&m->labels);
	pw_labels_clear(&m->annotations);
	memset(m, 0, sizeof(*m));
}

int parse_meta(struct pctx *c, struct fy_node *obj, unsigned int line, const char *prefix,
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

