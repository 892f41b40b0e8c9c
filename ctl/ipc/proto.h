/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The control-socket protocol between podwall (the CLI) and podwalld: JSON lines over an
 * AF_UNIX stream socket. Each request and each response is one JSON object on one line
 * (json-c's plain output never contains a raw newline: strings escape it).
 *
 * Request:  {"v":1,"op":"apply","docs":[{"name":"a.yaml","data":"..."}]}
 * Response: {"ok":true,"result":{...}}
 *       or  {"ok":false,"error":"why","diags":["a.yaml: document 2 ...: spec...: ..."]}
 *
 * One response per request, in order. A client may send several requests on one connection;
 * "flows" with "follow":true turns the connection into a stream of {"flow":{...}} lines that
 * ends when either side closes.
 */
#ifndef PW_CTL_PROTO_H
#define PW_CTL_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <json-c/json.h>

#define PW_PROTO_VERSION  1
#define PW_SOCKET_DEFAULT "/run/podwall/podwall.sock"
#define PW_SOCKET_ENV	  "PODWALL_SOCKET"
/* A line is at most this long: a 16 MiB manifest (the parser's limit) JSON-escaped fits. */
#define PW_PROTO_MAX_LINE (64u << 20)
/* json-c nesting limit for decoding; manifests travel as strings, so results set it. */
#define PW_PROTO_MAX_DEPTH 64

enum pw_op {
	PW_OP_APPLY = 0,
	PW_OP_DELETE,
	PW_OP_GET,
	PW_OP_DESCRIBE,
	PW_OP_EXPLAIN,
	PW_OP_STATUS,
	PW_OP_FLOWS,
	PW_OP_QUARANTINE,
	PW_OP_BIND,   /* podwall-cni ADD: {"binding":{...}} (ctl/daemon/cni.c) */
	PW_OP_UNBIND, /* podwall-cni DEL: {"containerID":...} */
	PW_OP_CHECK,  /* podwall-cni CHECK: {"containerID":...,"interface":...} */
	PW_OP_GC,     /* podwall-cni GC: {"valid":["containerID",...]} */
	PW_OP_COUNT,
};

const char *pw_op_name(enum pw_op op);
/* -EINVAL for an unknown name */
int pw_op_parse(const char *s, enum pw_op *op);

/*
 * A receive buffer that splits a byte stream into lines. Lines longer than max are refused
 * (-EMSGSIZE) before they are buffered whole, so a peer cannot make us allocate unbounded
 * memory.
 */
struct pw_linebuf {
	char *buf;
	size_t start; /* first unconsumed byte */
	size_t len;   /* end of valid data */
	size_t cap;
	size_t scan; /* bytes after start already known to hold no '\n' */
	size_t max;
};

void pw_linebuf_init(struct pw_linebuf *lb, size_t max);
void pw_linebuf_free(struct pw_linebuf *lb);
/* One read(2) from fd: bytes read (> 0), 0 at end of stream, or -errno (-EAGAIN included). */
ssize_t pw_linebuf_fill(struct pw_linebuf *lb, int fd);
/*
 * Take the next complete line (without its '\n', NUL-terminated in place, valid until the
 * next fill/next call): 1 and *line, 0 when no complete line is buffered, -EMSGSIZE when the
 * pending line is already longer than max.
 */
int pw_linebuf_next(struct pw_linebuf *lb, char **line, size_t *len);
/* Bytes buffered but not yet returned as a line. */
size_t pw_linebuf_pending(const struct pw_linebuf *lb);

/* obj as one line ending in '\n'; *out is malloc'ed. */
int pw_proto_encode(json_object *obj, char **out, size_t *len);
/* One line into a JSON object; -EBADMSG unless it is exactly one JSON object. */
int pw_proto_decode(const char *line, size_t len, json_object **out);

/* {"v":1,"op":name} to fill in */
json_object *pw_proto_request(enum pw_op op);
/* Check a request's version and op; *op on success, -EPROTO / -EOPNOTSUPP otherwise. */
int pw_proto_request_op(json_object *req, enum pw_op *op);
/* {"ok":true,"result":result}; takes ownership of result (may be NULL: no result). */
json_object *pw_proto_ok(json_object *result);
/* {"ok":false,"error":msg,"diags":diags}; takes ownership of diags (may be NULL). */
json_object *pw_proto_error(json_object *diags, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/*
 * Split a response: 0 and *result (borrowed, may be NULL) when ok; -EREMOTEIO and *errmsg,
 * *diags (borrowed, either may be NULL) when the daemon refused; -EBADMSG when malformed.
 */
int pw_proto_response(json_object *resp, json_object **result, const char **errmsg,
		      json_object **diags);

/* Connect to the daemon's socket: fd or -errno. */
int pw_proto_connect(const char *path);
/*
 * Send one request on a blocking socket and read one response line with lb (which keeps
 * whatever follows it): 0 and *resp (owned by the caller), or -errno (-ECONNRESET when the
 * daemon closed without answering).
 */
int pw_proto_call(int fd, struct pw_linebuf *lb, json_object *req, json_object **resp);
/* Read the next line as a JSON object from a blocking fd; -ENODATA at a clean end. */
int pw_proto_read(int fd, struct pw_linebuf *lb, json_object **out);

/* Typed accessors: NULL / false / def when absent or of another type. */
const char *pw_json_str(json_object *o, const char *key);
bool pw_json_bool(json_object *o, const char *key);
int64_t pw_json_int(json_object *o, const char *key, int64_t def);
json_object *pw_json_array(json_object *o, const char *key);
json_object *pw_json_object(json_object *o, const char *key);

#endif /* PW_CTL_PROTO_H */
