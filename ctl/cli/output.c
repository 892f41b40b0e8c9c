// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwall: output: -o json|yaml|wide, and tables of JSON items (kubectl's layout).
 */
#include "cli.h"

/* --- output helpers ----------------------------------------------------------------------- */

int parse_output(const char *s, enum output *o)
{
	if (!strcmp(s, "json"))
		*o = OUT_JSON;
	else if (!strcmp(s, "yaml"))
		*o = OUT_YAML;
	else if (!strcmp(s, "wide"))
		*o = OUT_WIDE;
	else {
		errorf("unable to match a printer suitable for the output format \"%s\", allowed "
		       "formats are: json,wide,yaml",
		       s);
		return -EINVAL;
	}
	return 0;
}

void print_structured(json_object *v, enum output o)
{
	if (o == OUT_JSON) {
		puts(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PRETTY |
							       JSON_C_TO_STRING_SPACED |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	} else {
		pw_yaml_emit(stdout, v);
	}
}

/* Follow a dotted path; "a|b" tries a, then b. */
json_object *jpath(json_object *o, const char *spec)
{
	char buf[256];
	char *alt, *save = NULL;

	snprintf(buf, sizeof(buf), "%s", spec);
	for (alt = strtok_r(buf, "|", &save); alt; alt = strtok_r(NULL, "|", &save)) {
		json_object *cur = o;
		char *part, *save2 = NULL;

		for (part = strtok_r(alt, ".", &save2); part && cur;
		     part = strtok_r(NULL, ".", &save2)) {
			json_object *next;

			if (!json_object_is_type(cur, json_type_object) ||
			    !json_object_object_get_ex(cur, part, &next))
				cur = NULL;
			else
				cur = next;
		}
		if (cur && !json_object_is_type(cur, json_type_null))
			return cur;
	}
	return NULL;
}

/* A table cell: strings as they are, lists joined with ',', maps as k=v,k=v. */
void cell(json_object *v, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	if (!v) {
		snprintf(buf, len, "<none>");
		return;
	}
	switch (json_object_get_type(v)) {
	case json_type_string:
		snprintf(buf, len, "%s", json_object_get_string(v));
		break;
	case json_type_array: {
		size_t n = json_object_array_length(v);

		for (size_t i = 0; i < n && off < len; i++) {
			char sub[256];

			cell(json_object_array_get_idx(v, i), sub, sizeof(sub));
			off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? "," : "", sub);
		}
		if (!n)
			snprintf(buf, len, "<none>");
		break;
	}
	case json_type_object: {
		bool first = true;

		json_object_object_foreach(v, key, val)
		{
			char sub[256];

			if (off >= len)
				break;
			cell(val, sub, sizeof(sub));
			off += (size_t)snprintf(buf + off, len - off, "%s%s=%s", first ? "" : ",",
						key, sub);
			first = false;
		}
		if (first)
			snprintf(buf, len, "<none>");
		break;
	}
	default:
		snprintf(buf, len, "%s", json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
	}
}

int print_table(json_object *items, const struct column *cols, enum output o, bool all_ns)
{
	size_t n = json_object_array_length(items), ncols = 0;
	size_t width[16] = {0};
	char(*cells)[CELL_MAX];
	const struct column *shown[16];

	for (const struct column *c = cols; c->header && ncols < 16; c++) {
		if ((c->wide && o != OUT_WIDE) || (c->ns && !all_ns))
			continue;
		shown[ncols++] = c;
	}
	cells = calloc((n + 1) * ncols, CELL_MAX);
	if (!cells) {
		errorf("out of memory");
		return 1;
	}
	for (size_t j = 0; j < ncols; j++) {
		snprintf(cells[j], CELL_MAX, "%s", shown[j]->header);
		width[j] = strlen(cells[j]);
	}
	for (size_t i = 0; i < n; i++) {
		json_object *it = json_object_array_get_idx(items, i);

		for (size_t j = 0; j < ncols; j++) {
			char *s = cells[(i + 1) * ncols + j];

			cell(jpath(it, shown[j]->path), s, CELL_MAX);
			if (strlen(s) > width[j])
				width[j] = strlen(s);
		}
	}
	for (size_t i = 0; i <= n; i++) {
		for (size_t j = 0; j < ncols; j++) {
			const char *s = cells[i * ncols + j];

			if (j + 1 == ncols)
				printf("%s\n", s);
			else
				printf("%-*s   ", (int)width[j], s);
		}
	}
	free(cells);
	return 0;
}
