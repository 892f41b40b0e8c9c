// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer target: the manifest parser, and what the core does with what it accepts.
 * Input: a manifest file (YAML or JSON, several documents, Lists). Accepted objects are
 * applied to a control-plane core without a datapath (store, identities, compiler, named
 * ports on ipBlocks), listed (rows and Kubernetes objects) and deleted again.
 * Invariant: every object `get -o json` prints, the parser takes back.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp.h"
#include "k8sobj.h"
#include "parse.h"
#include "views.h"

static void check_roundtrip(json_object *items)
{
	for (size_t i = 0; i < json_object_array_length(items); i++) {
		const char *s = json_object_to_json_string_ext(json_object_array_get_idx(items, i),
							       JSON_C_TO_STRING_PLAIN);
		struct pw_manifest *m = NULL;
		struct pw_diags d = {0};

		if (pw_parse_buffer("roundtrip.json", s, strlen(s), NULL, &m, &d)) {
			fprintf(stderr, "printed object not accepted back: %s\n", s);
			for (size_t k = 0; k < d.n; k++)
				fprintf(stderr, "  %s\n", d.v[k].text ?: d.v[k].msg);
			abort();
		}
		pw_manifest_free(m);
		pw_diags_clear(&d);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum pw_cp_list lists[] = {PW_CP_NAMESPACES, PW_CP_PODS, PW_CP_NETPOLS,
						 PW_CP_IDENTITIES};
	struct pw_cp_opts co = {.sz = sizeof(co)};
	struct pw_manifest *m = NULL;
	struct pw_diags diags = {0};
	struct pw_cp *cp = NULL;

	if (pw_parse_buffer("fuzz.yaml", (const char *)data, size, NULL, &m, &diags))
		goto out;
	if (pw_cp_new(&co, &cp))
		goto out;
	if (!pw_cp_apply(cp, "fuzz", m, &diags)) {
		for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
			json_object *o = NULL;

			if (!pw_cp_get(cp, lists[i], NULL, &o))
				json_object_put(o);
			o = NULL;
			if (lists[i] != PW_CP_IDENTITIES && !pw_cp_objects(cp, lists[i], NULL, &o)) {
				check_roundtrip(o);
				json_object_put(o);
			}
		}
		pw_diags_clear(&diags);
		pw_manifest_free(m);
		m = NULL;
		/* delete by the same manifest */
		if (!pw_parse_buffer("fuzz.yaml", (const char *)data, size, NULL, &m, &diags))
			pw_cp_delete(cp, m, &diags);
	}
out:
	pw_cp_free(cp);
	pw_manifest_free(m);
	pw_diags_clear(&diags);
	return 0;
}
