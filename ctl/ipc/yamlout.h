/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * JSON values as block-style YAML, the way kubectl prints `-o yaml`: plain scalars where a
 * YAML reader takes them back as the same string, double quotes (JSON escapes, which YAML
 * accepts) where it would not ("true", "80", "", leading '-' or '*', ": " inside...), and
 * sequences under a key at the key's indentation.
 */
#ifndef PW_CTL_YAMLOUT_H
#define PW_CTL_YAMLOUT_H

#include <stdio.h>
#include <json-c/json.h>

void pw_yaml_emit(FILE *f, json_object *v);

#endif /* PW_CTL_YAMLOUT_H */
