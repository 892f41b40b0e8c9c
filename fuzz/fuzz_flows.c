// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer target: the flow-record reader of `podwall flows`. Input: a first line of filter
 * options (as typed after `podwall flows`, split on blanks), then flow records as JSON lines
 * (the --flow-log format the daemon streams). Each record is decoded, matched against the
 * filter and formatted as a table row, as the CLI does.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flowfilter.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *save = NULL, *line, *argv[16], errbuf[256], row[512];
	struct pw_flowfilter f;
	int argc = 0;
	char *nl, *rest;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	nl = strchr(buf, '\n');
	rest = nl ? nl + 1 : NULL;
	if (nl)
		*nl = '\0';
	for (char *t = strtok_r(buf, " \t", &save); t && argc < 16; t = strtok_r(NULL, " \t", &save))
		argv[argc++] = t;
	pw_flowfilter_init(&f);
	if (pw_flowfilter_parse(&f, argc, argv, 1764728000000000000ll, errbuf, sizeof(errbuf))) {
		pw_flowfilter_free(&f);
		pw_flowfilter_init(&f); /* a bad filter: the records are still read */
	}
	for (line = rest; line && *line;) {
		char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		json_object *rec = NULL;

		if (!pw_proto_decode(line, len, &rec)) {
			(void)pw_flowfilter_match(&f, rec);
			pw_flow_format_row(rec, row, sizeof(row));
			json_object_put(rec);
		}
		line = end ? end + 1 : NULL;
	}
	pw_flowfilter_free(&f);
	free(buf);
	return 0;
}
