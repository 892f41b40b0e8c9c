// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer target: the control-socket protocol as the daemon reads it. Input: the bytes a
 * client sends, delivered through a pipe in chunks (the first byte picks the chunk size) into
 * the line buffer; every line is decoded, its version and op checked, the fields the handlers
 * read taken with the typed accessors, and the documents of apply/delete parsed as the daemon
 * does; the line is also read as a response, as the CLI does.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parse.h"
#include "proto.h"

static void handle(json_object *req)
{
	json_object *result = NULL, *diags = NULL, *docs;
	const char *errmsg = NULL;
	enum pw_op op;

	pw_proto_response(req, &result, &errmsg, &diags);
	if (pw_proto_request_op(req, &op))
		return;
	(void)pw_json_str(req, "what");
	(void)pw_json_str(req, "namespace");
	(void)pw_json_bool(req, "objects");
	(void)pw_json_int(req, "limit", 0);
	(void)pw_json_object(req, "from");
	docs = pw_json_array(req, "docs");
	for (size_t i = 0; docs && i < json_object_array_length(docs); i++) {
		json_object *doc = json_object_array_get_idx(docs, i), *data;
		struct pw_manifest *m = NULL;
		struct pw_diags d = {0};

		if (!json_object_object_get_ex(doc, "data", &data) ||
		    !json_object_is_type(data, json_type_string))
			continue;
		pw_parse_buffer(pw_json_str(doc, "name") ?: "<request>", json_object_get_string(data),
				(size_t)json_object_get_string_len(data), NULL, &m, &d);
		pw_manifest_free(m);
		pw_diags_clear(&d);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pw_linebuf lb;
	size_t chunk, off = 1;
	int p[2];

	if (size < 1 || pipe2(p, O_CLOEXEC | O_NONBLOCK))
		return 0;
	chunk = (size_t)data[0] % 64 + 1;
	/* a small maximum so the over-long-line path is reached too */
	pw_linebuf_init(&lb, 4096);
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;
		char *line;
		size_t len;
		int r;

		if (write(p[1], data + off, n) != (ssize_t)n)
			break;
		off += n;
		if (pw_linebuf_fill(&lb, p[0]) <= 0)
			break;
		while ((r = pw_linebuf_next(&lb, &line, &len)) == 1) {
			json_object *req = NULL;

			if (!pw_proto_decode(line, len, &req)) {
				handle(req);
				json_object_put(req);
			}
		}
		if (r < 0)
			break; /* the daemon drops such a client */
	}
	(void)pw_linebuf_pending(&lb);
	pw_linebuf_free(&lb);
	close(p[0]);
	close(p[1]);
	return 0;
}
