// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The control-socket protocol: JSON lines framing, request/response envelopes. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdio.h"
#include "proto.h"

static const char *const op_names[PW_OP_COUNT] = {
	[PW_OP_APPLY] = "apply",       [PW_OP_DELETE] = "delete",   [PW_OP_GET] = "get",
	[PW_OP_DESCRIBE] = "describe", [PW_OP_EXPLAIN] = "explain", [PW_OP_STATUS] = "status",
	[PW_OP_FLOWS] = "flows",       [PW_OP_QUARANTINE] = "quarantine",
	/* podwall-cni: ADD, DEL, CHECK, GC */
	[PW_OP_BIND] = "bind",	       [PW_OP_UNBIND] = "unbind",   [PW_OP_CHECK] = "check",
	[PW_OP_GC] = "gc",
};

const char *pw_op_name(enum pw_op op)
{
	return (unsigned int)op < PW_OP_COUNT ? op_names[op] : "unknown";
}

int pw_op_parse(const char *s, enum pw_op *op)
{
	for (unsigned int i = 0; i < PW_OP_COUNT; i++) {
		if (s && !strcmp(s, op_names[i])) {
			*op = (enum pw_op)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* --- line framing ------------------------------------------------------------------------ */

void pw_linebuf_init(struct pw_linebuf *lb, size_t max)
{
	memset(lb, 0, sizeof(*lb));
	lb->max = max ? max : PW_PROTO_MAX_LINE;
}

void pw_linebuf_free(struct pw_linebuf *lb)
{
	if (!lb)
		return;
	free(lb->buf);
	memset(lb, 0, sizeof(*lb));
}

size_t pw_linebuf_pending(const struct pw_linebuf *lb)
{
	return lb->len - lb->start;
}

ssize_t pw_linebuf_fill(struct pw_linebuf *lb, int fd)
{
	ssize_t n;

	/* Drop consumed bytes before growing, so a long-lived connection stays small. */
	if (lb->start) {
		memmove(lb->buf, lb->buf + lb->start, lb->len - lb->start);
		lb->len -= lb->start;
		lb->start = 0;
	}
	if (lb->cap - lb->len < 4096) {
		/* +1: room for the NUL that pw_linebuf_next writes over the '\n' or at the end */
		size_t cap = lb->cap ? lb->cap * 2 : 16384;
		char *p;

		if (cap > lb->max + 1 + 65536)
			cap = lb->max + 1 + 65536;
		if (cap <= lb->len + 1)
			return -EMSGSIZE;
		p = realloc(lb->buf, cap);
		if (!p)
			return -ENOMEM;
		lb->buf = p;
		lb->cap = cap;
	}
	do {
		n = read(fd, lb->buf + lb->len, lb->cap - lb->len - 1);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	lb->len += (size_t)n;
	return n;
}

int pw_linebuf_next(struct pw_linebuf *lb, char **line, size_t *len)
{
	char *nl;
	size_t avail = lb->len - lb->start;

	if (lb->scan > avail)
		lb->scan = 0;
	nl = avail > lb->scan ? memchr(lb->buf + lb->start + lb->scan, '\n', avail - lb->scan)
			      : NULL;
	if (!nl) {
		lb->scan = avail;
		return avail > lb->max ? -EMSGSIZE : 0;
	}
	*nl = '\0';
	*line = lb->buf + lb->start;
	*len = (size_t)(nl - *line);
	lb->start += *len + 1;
	lb->scan = 0;
	if (*len > lb->max)
		return -EMSGSIZE;
	/* tolerate CRLF from hand-written clients (socat, nc) */
	if (*len && (*line)[*len - 1] == '\r')
		(*line)[--*len] = '\0';
	return 1;
}

/* --- encoding ------------------------------------------------------------------------------ */

int pw_proto_encode(json_object *obj, char **out, size_t *len)
{
	size_t n = 0;
	const char *s = json_object_to_json_string_length(
		obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
	char *p;

	if (!s)
		return -ENOMEM;
	/* json-c escapes control characters in strings, so this never splits a message */
	if (memchr(s, '\n', n))
		return -EINVAL;
	p = malloc(n + 2);
	if (!p)
		return -ENOMEM;
	memcpy(p, s, n);
	p[n] = '\n';
	p[n + 1] = '\0';
	*out = p;
	*len = n + 1;
	return 0;
}

int pw_proto_decode(const char *line, size_t len, json_object **out)
{
	struct json_tokener *tok;
	json_object *o;
	int err = 0;

	*out = NULL;
	if (len > INT32_MAX)
		return -EMSGSIZE;
	tok = json_tokener_new_ex(PW_PROTO_MAX_DEPTH);
	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, line, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object)) {
		err = -EBADMSG;
		goto out;
	}
	/* trailing garbage after the object (other than blanks) is a framing error */
	for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r') {
			err = -EBADMSG;
			goto out;
		}
	}
	*out = o;
	o = NULL;
out:
	json_object_put(o);
	json_tokener_free(tok);
	return err;
}

/* --- envelopes ----------------------------------------------------------------------------- */

json_object *pw_proto_request(enum pw_op op)
{
	json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	if (json_object_object_add(o, "v", json_object_new_int(PW_PROTO_VERSION)) ||
	    json_object_object_add(o, "op", json_object_new_string(pw_op_name(op)))) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

int pw_proto_request_op(json_object *req, enum pw_op *op)
{
	if (pw_json_int(req, "v", -1) != PW_PROTO_VERSION)
		return -EPROTO;
	if (pw_op_parse(pw_json_str(req, "op"), op))
		return -EOPNOTSUPP;
	return 0;
}

json_object *pw_proto_ok(json_object *result)
{
	json_object *o = json_object_new_object();

	if (!o) {
		json_object_put(result);
		return NULL;
	}
	json_object_object_add(o, "ok", json_object_new_boolean(1));
	if (result)
		json_object_object_add(o, "result", result);
	return o;
}

json_object *pw_proto_error(json_object *diags, const char *fmt, ...)
{
	json_object *o = json_object_new_object();
	char msg[1024];
	va_list ap;

	if (!o) {
		json_object_put(diags);
		return NULL;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(msg));
	if (diags)
		json_object_object_add(o, "diags", diags);
	return o;
}

int pw_proto_response(json_object *resp, json_object **result, const char **errmsg,
		      json_object **diags)
{
	json_object *ok;

	*result = NULL;
	*errmsg = NULL;
	*diags = NULL;
	if (!json_object_object_get_ex(resp, "ok", &ok) ||
	    !json_object_is_type(ok, json_type_boolean))
		return -EBADMSG;
	if (json_object_get_boolean(ok)) {
		json_object_object_get_ex(resp, "result", result);
		return 0;
	}
	*errmsg = pw_json_str(resp, "error");
	*diags = pw_json_array(resp, "diags");
	return -EREMOTEIO;
}

/* --- client side --------------------------------------------------------------------------- */

int pw_proto_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

int pw_proto_read(int fd, struct pw_linebuf *lb, json_object **out)
{
	char *line;
	size_t len;
	int err;

	*out = NULL;
	for (;;) {
		ssize_t n;

		err = pw_linebuf_next(lb, &line, &len);
		if (err < 0)
			return err;
		if (err == 1)
			return pw_proto_decode(line, len, out);
		n = pw_linebuf_fill(lb, fd);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return pw_linebuf_pending(lb) ? -ECONNRESET : -ENODATA;
	}
}

int pw_proto_call(int fd, struct pw_linebuf *lb, json_object *req, json_object **resp)
{
	char *buf = NULL;
	size_t len;
	int err;

	*resp = NULL;
	err = pw_proto_encode(req, &buf, &len);
	if (err)
		goto out;
	err = pw_write_all(fd, buf, len);
	if (err == -EPIPE)
		err = -ECONNRESET; /* the daemon hung up before reading: same as no answer */
	if (err)
		goto out;
	err = pw_proto_read(fd, lb, resp);
	if (err == -ENODATA)
		err = -ECONNRESET;
out:
	free(buf);
	return err;
}

/* --- accessors ----------------------------------------------------------------------------- */

const char *pw_json_str(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

bool pw_json_bool(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_boolean))
		return false;
	return json_object_get_boolean(v);
}

int64_t pw_json_int(json_object *o, const char *key, int64_t def)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return def;
	return json_object_get_int64(v);
}

json_object *pw_json_array(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_array))
		return NULL;
	return v;
}

json_object *pw_json_object(json_object *o, const char *key)
{
	json_object *v;

	if (!o || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_object))
		return NULL;
	return v;
}
