// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* JSON values as block-style YAML, for `podwall ... -o yaml` and the human views. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "yamlout.h"

/*
 * YAML 1.1 readers (sigs.k8s.io/yaml, PyYAML) also take 0x1F, 0o17, 0b101, 1_000, 1:30 and
 * .inf for numbers; strtod() knows none of those spellings.
 */
static bool yaml11_number(const char *s)
{
	bool digits_only = true, sep = false;

	if (*s == '+' || *s == '-')
		s++;
	if (s[0] == '0' && s[1] && strchr("xXoObB", s[1]))
		return true;
	if (!strcasecmp(s, ".inf") || !strcasecmp(s, ".nan"))
		return true;
	if (*s < '0' || *s > '9')
		return false;
	for (const char *p = s; *p; p++) {
		if (*p == '_' || *p == ':')
			sep = true;
		else if ((*p < '0' || *p > '9') && *p != '.')
			digits_only = false;
	}
	return digits_only && sep;
}

/* YAML plain scalars that a reader would take for something other than a string */
static bool yaml_needs_quotes(const char *s)
{
	static const char *const words[] = {"true", "false", "yes", "no", "on", "off", "null",
					    "True", "False", "Yes", "No", "On", "Off", "Null",
					    "TRUE", "FALSE", "YES", "NO", "ON", "OFF", "NULL",
					    "~",    "y",     "n",   "Y",  "N",	NULL};
	char *end;

	if (!*s)
		return true;
	for (int i = 0; words[i]; i++) {
		if (!strcmp(s, words[i]))
			return true;
	}
	errno = 0;
	(void)strtod(s, &end);
	if (!*end || yaml11_number(s))
		return true;
	if (strchr("-?:,[]{}#&*!|>'\"%@` ", s[0]) && !(s[0] == '-' && s[1] && s[1] != ' '))
		return true;
	for (const char *p = s; *p; p++) {
		if ((unsigned char)*p < 0x20 || *p == '#' || (*p == ':' && (p[1] == ' ' || !p[1])))
			return true;
	}
	return s[strlen(s) - 1] == ' ';
}

static void yaml_scalar(FILE *f, json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		fputs("null", f);
		break;
	case json_type_string: {
		const char *s = json_object_get_string(v);

		if (yaml_needs_quotes(s))
			/* a JSON string is a valid YAML double-quoted scalar */
			fputs(json_object_to_json_string_ext(v, JSON_C_TO_STRING_NOSLASHESCAPE), f);
		else
			fputs(s, f);
		break;
	}
	default:
		fputs(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN), f);
	}
}

/* a JSON string is a valid YAML double-quoted scalar */
static void yaml_quoted(FILE *f, const char *s)
{
	json_object *j = json_object_new_string(s);

	fputs(json_object_to_json_string_ext(j, JSON_C_TO_STRING_NOSLASHESCAPE), f);
	json_object_put(j);
}

static void yaml_key(FILE *f, const char *key)
{
	if (yaml_needs_quotes(key))
		yaml_quoted(f, key);
	else
		fputs(key, f);
	fputc(':', f);
}

static bool yaml_is_empty_container(json_object *v)
{
	if (json_object_is_type(v, json_type_object))
		return json_object_object_length(v) == 0;
	if (json_object_is_type(v, json_type_array))
		return json_object_array_length(v) == 0;
	return false;
}

static void yaml_emit(FILE *f, json_object *v, int indent);

/* the value after "key:" or "- " */
static void yaml_value(FILE *f, json_object *v, int indent, bool in_seq)
{
	if (yaml_is_empty_container(v)) {
		fputs(json_object_is_type(v, json_type_object) ? " {}\n" : " []\n", f);
	} else if (json_object_is_type(v, json_type_object)) {
		fputc('\n', f);
		yaml_emit(f, v, indent + 2);
	} else if (json_object_is_type(v, json_type_array)) {
		/* kubectl style: sequences under a key are not indented further */
		fputc('\n', f);
		yaml_emit(f, v, in_seq ? indent + 2 : indent);
	} else {
		fputc(' ', f);
		yaml_scalar(f, v);
		fputc('\n', f);
	}
}

static void yaml_emit(FILE *f, json_object *v, int indent)
{
	if (json_object_is_type(v, json_type_object)) {
		json_object_object_foreach(v, key, val)
		{
			fprintf(f, "%*s", indent, "");
			yaml_key(f, key);
			yaml_value(f, val, indent, false);
		}
	} else if (json_object_is_type(v, json_type_array)) {
		size_t n = json_object_array_length(v);

		for (size_t i = 0; i < n; i++) {
			json_object *e = json_object_array_get_idx(v, i);

			fprintf(f, "%*s-", indent, "");
			if (json_object_is_type(e, json_type_object) &&
			    !yaml_is_empty_container(e)) {
				/* first key on the dash's line, the rest aligned under it */
				bool first = true;

				json_object_object_foreach(e, key, val)
				{
					fprintf(f, "%*s", first ? 1 : indent + 2, "");
					first = false;
					yaml_key(f, key);
					yaml_value(f, val, indent + 2, false);
				}
			} else {
				yaml_value(f, e, indent, true);
			}
		}
	} else {
		fprintf(f, "%*s", indent, "");
		yaml_scalar(f, v);
		fputc('\n', f);
	}
}

void pw_yaml_emit(FILE *f, json_object *v)
{
	yaml_emit(f, v, 0);
}
