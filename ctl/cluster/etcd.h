/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A client of etcd's v3 JSON gateway (/v3/kv/range, /v3/kv/txn, /v3/kv/put, /v3/watch,
 * /v3/lease/grant, /v3/lease/keepalive) over libcurl.
 *
 * libcurl runs in one dedicated thread (a curl multi handle); the daemon's epoll loop never
 * blocks on etcd. Requests are queued to the thread, and their answers (one per call, one per
 * line of a watch stream) come back through an eventfd the loop watches: pw_etcd_dispatch()
 * runs the callbacks on the loop's thread, so the callers need no locking.
 *
 * Several endpoints may name one etcd cluster: a request that cannot connect moves on to the
 * next endpoint, and later requests start from the one that answered last.
 */
#ifndef PW_CTL_ETCD_H
#define PW_CTL_ETCD_H

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

struct pw_etcd;

struct pw_etcd_opts {
	size_t sz;	       /* sizeof(struct pw_etcd_opts) */
	const char *endpoints; /* "http://198.18.0.1:2379,http://[fd00::1]:2379" */
	const char *cacert;    /* TLS: CA bundle, client certificate and key (PEM), or NULL */
	const char *cert;
	const char *key;
	long connect_timeout_ms; /* 0: 2000 */
};

/*
 * err: 0 and resp (borrowed, valid during the call) on success; -errno otherwise with msg
 * saying why in words a user can act on ("etcd at http://...: Connection refused").
 */
typedef void (*pw_etcd_cb)(void *ctx, int err, json_object *resp, const char *msg);

/* Check a --etcd list without starting anything: 0, or -EINVAL and *why naming the bad URL. */
int pw_etcd_check_endpoints(const char *endpoints, char *why, size_t why_len);

/* Checks every URL (-EINVAL and *why naming the bad one) and starts the client thread. */
int pw_etcd_new(const struct pw_etcd_opts *opts, struct pw_etcd **out, char *why, size_t why_len);
void pw_etcd_free(struct pw_etcd *e);

/* Readable when answers are waiting: call pw_etcd_dispatch(). */
int pw_etcd_fd(const struct pw_etcd *e);
void pw_etcd_dispatch(struct pw_etcd *e);

/* POST body (a JSON object, taken) to path; cb runs once. */
int pw_etcd_call(struct pw_etcd *e, const char *path, json_object *body, long timeout_ms,
		 pw_etcd_cb cb, void *ctx);

/*
 * Open the watch stream (at most one; a new one replaces the old, whose lines are dropped):
 * on_msg runs for every response object, on_end once when the stream ends (err < 0).
 */
int pw_etcd_watch(struct pw_etcd *e, json_object *create_request, pw_etcd_cb on_msg,
		  pw_etcd_cb on_end, void *ctx);
void pw_etcd_watch_stop(struct pw_etcd *e);

/* The endpoint the next request starts with. */
const char *pw_etcd_endpoint(const struct pw_etcd *e);

/* --- the gateway's encodings ---------------------------------------------------------------- */

/* bytes fields are base64 (RFC 4648 with padding): a json-c string of the encoding */
json_object *pw_etcd_bytes(const void *p, size_t n);
json_object *pw_etcd_str(const char *s);
/* decode a base64 field: malloc'ed, NUL-terminated; -EINVAL when malformed or absent */
int pw_etcd_get_bytes(json_object *o, const char *field, char **out, size_t *len);
/* int64 fields travel as JSON strings (proto3 JSON mapping); absent = 0 */
int64_t pw_etcd_get_i64(json_object *o, const char *field);
json_object *pw_etcd_i64(int64_t v);
/* the end of the key range holding every key that starts with prefix (prefix + 1) */
json_object *pw_etcd_prefix_end(const char *prefix);

#endif /* PW_CTL_ETCD_H */
