// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwall: talking to podwalld: connect to the control socket, one request, its reply
 * and its diagnostics.
 */
#include "cli.h"

/* --- talking to the daemon ---------------------------------------------------------------- */

static int cli_connect(struct cli *c)
{
	int fd;

	if (c->fd >= 0)
		return 0;
	fd = pw_proto_connect(c->socket);
	if (fd < 0) {
		if (fd == -ENOENT || fd == -ECONNREFUSED)
			errorf("cannot reach podwalld at %s: %s (is the daemon running? --socket "
			       "or %s selects another)",
			       c->socket, strerror(-fd), PW_SOCKET_ENV);
		else
			errorf("cannot connect to %s: %s", c->socket, strerror(-fd));
		return fd;
	}
	c->fd = fd;
	pw_linebuf_init(&c->lb, PW_PROTO_MAX_LINE);
	return 0;
}

static void print_diags(json_object *diags)
{
	size_t n = diags ? json_object_array_length(diags) : 0;

	for (size_t i = 0; i < n; i++) {
		json_object *d = json_object_array_get_idx(diags, i);

		if (json_object_is_type(d, json_type_string))
			fprintf(stderr, "error: %s\n", json_object_get_string(d));
	}
}

/*
 * One round trip. Returns 0 with *resp (the whole response, owned) and *result (borrowed from
 * it) on success; on failure the error is printed and the return is nonzero.
 */
int call(struct cli *c, json_object *req, json_object **resp, json_object **result)
{
	const char *msg;
	json_object *diags;
	int err;

	*resp = NULL;
	if (!req) {
		errorf("out of memory");
		return -ENOMEM;
	}
	err = cli_connect(c);
	if (err)
		goto out;
	err = pw_proto_call(c->fd, &c->lb, req, resp);
	if (err) {
		errorf("podwalld at %s: %s", c->socket,
		       err == -ECONNRESET ? "closed the connection without answering"
		       : err == -EBADMSG  ? "sent a malformed response"
					  : strerror(-err));
		goto out;
	}
	err = pw_proto_response(*resp, result, &msg, &diags);
	if (err == -EBADMSG) {
		errorf("podwalld sent a response without \"ok\"");
	} else if (err) {
		/* the diagnostics already name file, document and field: print them first */
		print_diags(diags);
		if (msg && (!diags || !json_object_array_length(diags)))
			errorf("%s", msg);
		else if (msg)
			fprintf(stderr, "error: %s\n", msg);
	}
out:
	json_object_put(req);
	if (err) {
		json_object_put(*resp);
		*resp = NULL;
	}
	return err;
}
