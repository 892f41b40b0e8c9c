// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Reading flow-log files back, line by line, bounded, with file:line for every bad line. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flowread.h"

/* the record kinds of docs/flowlog.md */
static const char *const known_kinds[] = {
	"flow_new", "flow_denied", "sock_deny", "revoked", "audit", "flow_end", "lost",
	"flow_aggregate", NULL,
};

/* json-c's default nesting is 32; records nest 4 deep */
#define FLOWREAD_MAX_DEPTH 16
/* files named FILE.1 .. FILE.N: podwalld keeps at most --flow-log-keep of them */
#define FLOWREAD_MAX_ROTATED 10000

int pw_flowread_line(const char *line, size_t len, json_object **out, char *msg, size_t msglen)
{
	struct json_tokener *tok;
	json_object *o, *kind;
	const char *k;
	int err = -EINVAL;

	*out = NULL;
	if (len > INT_MAX) {
		snprintf(msg, msglen, "line too long");
		return -EINVAL;
	}
	tok = json_tokener_new_ex(FLOWREAD_MAX_DEPTH);
	if (!tok) {
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	o = json_tokener_parse_ex(tok, line, (int)len);
	if (!o) {
		enum json_tokener_error jerr = json_tokener_get_error(tok);

		snprintf(msg, msglen, "not a flow record: %s",
			 jerr == json_tokener_continue ? "truncated JSON"
						       : json_tokener_error_desc(jerr));
		goto out;
	}
	/* one object per line: anything but blanks after it is a second value or garbage */
	for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r') {
			snprintf(msg, msglen, "not a flow record: text after the JSON object");
			goto out;
		}
	}
	if (!json_object_is_type(o, json_type_object)) {
		snprintf(msg, msglen, "not a flow record: a JSON %s, not an object",
			 json_type_to_name(json_object_get_type(o)));
		goto out;
	}
	if (!json_object_object_get_ex(o, "kind", &kind) ||
	    !json_object_is_type(kind, json_type_string)) {
		snprintf(msg, msglen, "not a flow record: no \"kind\" string");
		goto out;
	}
	k = json_object_get_string(kind);
	for (int i = 0; known_kinds[i]; i++) {
		if (!strcmp(k, known_kinds[i])) {
			*out = o;
			o = NULL;
			err = 0;
			goto out;
		}
	}
	snprintf(msg, msglen, "unknown record kind \"%.64s\"", k);
out:
	json_object_put(o);
	json_tokener_free(tok);
	return err;
}

static int read_fd(int fd, const char *name, const struct pw_flowread_ops *ops, void *ctx)
{
	size_t cap = 64 << 10, len = 0, start;
	unsigned long lineno = 0;
	bool skipping = false, eof = false;
	char *buf = malloc(cap), msg[160];
	int err = 0;

	if (!buf)
		return -ENOMEM;
	while (!eof || len) {
		char *nl = len ? memchr(buf, '\n', len) : NULL;
		size_t n;
		ssize_t r;

		if (!nl && !eof) {
			if (len == cap) {
				if (cap >= PW_FLOWREAD_MAX_LINE) {
					/* report once, then drop bytes until the next newline */
					if (!skipping)
						ops->bad(ctx, name, lineno + 1,
							 "line longer than 1 MiB: skipped");
					skipping = true;
					len = 0;
				} else {
					char *nb = realloc(buf, cap * 2);

					if (!nb) {
						err = -ENOMEM;
						goto out;
					}
					buf = nb;
					cap *= 2;
				}
			}
			r = read(fd, buf + len, cap - len);
			if (r < 0) {
				if (errno == EINTR)
					continue;
				err = -errno;
				goto out;
			}
			if (r == 0)
				eof = true;
			len += (size_t)r;
			continue;
		}
		n = nl ? (size_t)(nl - buf) : len;
		lineno++;
		if (skipping) {
			skipping = false;
		} else if (n) {
			json_object *rec = NULL;

			if (pw_flowread_line(buf, n, &rec, msg, sizeof(msg))) {
				if (!nl && !strstr(msg, "unknown"))
					snprintf(msg, sizeof(msg),
						 "truncated record (no newline at the end of the "
						 "file: the writer stopped mid-line?)");
				ops->bad(ctx, name, lineno, msg);
			} else {
				err = ops->record(ctx, rec, name, lineno);
				json_object_put(rec);
				if (err)
					goto out;
			}
		}
		start = nl ? n + 1 : len;
		memmove(buf, buf + start, len - start);
		len -= start;
	}
out:
	free(buf);
	return err;
}

static int read_one(const char *path, const struct pw_flowread_ops *ops, void *ctx)
{
	int fd, err;

	if (!strcmp(path, "-"))
		return read_fd(STDIN_FILENO, "<stdin>", ops, ctx);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = read_fd(fd, path, ops, ctx);
	close(fd);
	return err;
}

int pw_flowread_path(const char *path, bool rotated, const struct pw_flowread_ops *ops, void *ctx)
{
	char rp[PATH_MAX];
	unsigned int n = 0;
	int err;

	if (rotated && strcmp(path, "-")) {
		/* the highest number is the oldest */
		while (n < FLOWREAD_MAX_ROTATED) {
			if (snprintf(rp, sizeof(rp), "%s.%u", path, n + 1) >= (int)sizeof(rp) ||
			    access(rp, F_OK))
				break;
			n++;
		}
		for (; n > 0; n--) {
			snprintf(rp, sizeof(rp), "%s.%u", path, n);
			err = read_one(rp, ops, ctx);
			/* rotation may have renamed it away since we looked: not an error */
			if (err && err != -ENOENT)
				return err;
		}
	}
	return read_one(path, ops, ctx);
}
