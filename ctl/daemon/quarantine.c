// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwalld: `podwall quarantine` requests, and the quarantined pods' state file.
 *
 * The kernel half of a quarantine is the endpoint flag in the pinned maps: it holds while no
 * daemon runs. The daemon's half is STATE_DIR/quarantines.json (this instance's own): read at
 * start before the first write, so a restarted daemon keeps every quarantine (with its reason
 * and start time) instead of clearing the flags it does not know about. The file is replaced
 * atomically (write, fsync, rename) before the request is answered.
 *
 * In cluster mode (--etcd) a quarantine is written through etcd, so every node holds it, and
 * the answer waits for every live node (ctl/cluster/quarantine.c); each node's core follows
 * etcd's quarantines and this file follows the core, so a node restarted while etcd is away
 * still holds what it held.
 */
#define _GNU_SOURCE
#include "daemon.h"

#define QUARANTINE_NAME "quarantines.json"

static int quarantine_save(struct daemon *d)
{
	json_object *list = NULL;
	char tmp[PATH_MAX + 8];
	const char *text;
	int fd, err;

	if (!d->quarantines[0])
		return 0;
	err = pw_cp_get_quarantines(d->cp, NULL, &list);
	if (err)
		return err;
	text = json_object_to_json_string_ext(list, JSON_C_TO_STRING_PLAIN);
	snprintf(tmp, sizeof(tmp), "%s.tmp", d->quarantines);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	err = pw_write_all(fd, text, strlen(text));
	if (!err && fsync(fd))
		err = -errno;
	close(fd);
	if (!err && rename(tmp, d->quarantines))
		err = -errno;
	if (err)
		unlink(tmp);
out:
	json_object_put(list);
	return err;
}

/* cluster mode: etcd changed the quarantines this node enforces */
void quarantine_changed(void *ctx)
{
	struct daemon *d = ctx;
	int err = quarantine_save(d);

	if (err)
		dlog(PW_LOG_ERROR,
		     "state: cannot write %s: %s; the quarantines are enforced but a restart "
		     "without etcd will not know them",
		     d->quarantines, strerror(-err));
}

void quarantine_load(struct daemon *d)
{
	json_object *list;
	size_t i, n = 0;

	snprintf(d->quarantines, sizeof(d->quarantines), "%s/%s", d->state_dir, QUARANTINE_NAME);
	list = json_object_from_file(d->quarantines);
	if (!list) {
		if (access(d->quarantines, F_OK) == 0)
			dlog(PW_LOG_ERROR,
			     "state: %s is unreadable: quarantines it held are lifted by the "
			     "first write",
			     d->quarantines);
		return;
	}
	for (i = 0;
	     json_object_is_type(list, json_type_array) && i < json_object_array_length(list);
	     i++) {
		json_object *e = json_object_array_get_idx(list, i);
		struct pw_cp_qref r = {pw_json_str(e, "namespace"), pw_json_str(e, "name")};
		struct pw_cp_qopts o = {
			.reason = pw_json_str(e, "reason"),
			.allow_dns = pw_json_bool(e, "allowDns"),
			.since = pw_json_int(e, "sinceUnix", time(NULL)),
		};
		struct pw_diags diags = {0};

		if (!r.ns || !r.name) {
			dlog(PW_LOG_ERROR, "state: %s: entry %zu has no namespace or name: skipped",
			     d->quarantines, i);
			continue;
		}
		/* held: staged now, written with everything else by the first flush */
		if (pw_cp_quarantine(d->cp, &r, 1, false, &o, &diags))
			log_diags(&diags, "quarantine restore");
		else
			n++;
		pw_diags_clear(&diags);
	}
	json_object_put(list);
	if (n)
		dlog(PW_LOG_INFO, "state: %zu quarantined pod(s) restored from %s", n,
		     d->quarantines);
}

const char *enrich_quarantine(void *ctx, uint32_t ep_id)
{
	struct daemon *d = ctx;

	return pw_cp_quarantine_reason(d->cp, ep_id);
}

/*
 * {"op":"quarantine","pods":[{"namespace","name"}...]} or {"namespace","selector"}, with
 * "lift", "reason", "allow_dns". Answers once the kernel drops everything of those pods.
 */
json_object *req_quarantine(struct daemon *d, struct client *cl, json_object *req)
{
	json_object *pods = pw_json_array(req, "pods"), *res, *arr;
	const char *ns = pw_json_str(req, "namespace"), *selector = pw_json_str(req, "selector");
	const char *reason = pw_json_str(req, "reason");
	bool lift = pw_json_bool(req, "lift");
	struct pw_cp_qopts o = {.reason = reason,
				.allow_dns = pw_json_bool(req, "allow_dns"),
				.since = time(NULL),
				.must_exist = true};
	struct pw_diags diags = {0};
	struct pw_cp_qref *refs = NULL;
	const char **names = NULL;
	size_t i, n = 0;
	char why[160] = "";
	int err;

	if (!pods == !selector || (selector && !ns))
		return pw_proto_error(NULL, "quarantine: give \"pods\", or \"namespace\" and "
					    "\"selector\"");
	if (reason && strlen(reason) > 1024)
		return pw_proto_error(NULL, "quarantine: --reason is longer than 1024 bytes");
	if (selector) {
		err = pw_cp_select_pods(d->cp, ns, selector, &names, &n, why, sizeof(why));
		if (err)
			return pw_proto_error(NULL, "quarantine: -l %s: %s", selector,
					      why[0] ? why : strerror(-err));
		if (!n) {
			free(names);
			return pw_proto_error(NULL,
					      "quarantine: no pod in namespace \"%s\" matches "
					      "\"%s\": nothing changed",
					      ns, selector);
		}
	} else {
		n = json_object_array_length(pods);
	}
	refs = calloc(n + 1, sizeof(*refs));
	if (!refs) {
		free(names);
		return pw_proto_error(NULL, "out of memory");
	}
	for (i = 0; i < n; i++) {
		if (names) {
			refs[i].ns = ns;
			refs[i].name = names[i];
		} else {
			json_object *p = json_object_array_get_idx(pods, i);

			refs[i].ns = pw_json_str(p, "namespace");
			refs[i].name = pw_json_str(p, "name");
		}
		if (!refs[i].ns || !refs[i].name) {
			res = pw_proto_error(NULL, "quarantine: pod %zu lacks namespace or name",
					     i);
			goto out;
		}
	}
	if (d->cluster) {
		res = pw_cluster_quarantine(d->cluster, refs, n, lift, &o,
					    pw_json_int(req, "timeout_ms", 0), cluster_reply, cl);
		if (!res)
			for (i = 0; i < n; i++)
				dlog(PW_LOG_INFO, "cli (pid %d): pod %s/%s: %s written to etcd",
				     cl->pid, refs[i].ns, refs[i].name,
				     lift ? "quarantine lift" : "quarantine");
		goto out;
	}
	err = pw_cp_quarantine(d->cp, refs, n, lift, &o, &diags);
	if (err) {
		res = pw_proto_error(diags_json(&diags, PW_DIAG_ERROR), "%s: nothing changed",
				     err == -ENOENT ? "not found" : strerror(-err));
		goto out;
	}
	err = quarantine_save(d);
	if (err)
		dlog(PW_LOG_ERROR,
		     "state: cannot write %s: %s; the change is enforced but a restart will "
		     "forget it",
		     d->quarantines, strerror(-err));
	arr = json_object_new_array();
	for (i = 0; i < n; i++) {
		json_object *e = json_object_new_object();

		json_object_object_add(e, "namespace", json_object_new_string(refs[i].ns));
		json_object_object_add(e, "name", json_object_new_string(refs[i].name));
		json_object_object_add(e, "action",
				       json_object_new_string(lift ? "lifted" : "quarantined"));
		json_object_array_add(arr, e);
		dlog(PW_LOG_INFO, "cli (pid %d): pod %s/%s %s%s%s", cl->pid, refs[i].ns,
		     refs[i].name, lift ? "quarantine lifted" : "quarantined",
		     !lift && reason ? ": " : "", !lift && reason ? reason : "");
	}
	res = json_object_new_object();
	json_object_object_add(res, "pods", arr);
	res = pw_proto_ok(res);
out:
	free(refs);
	free(names);
	pw_diags_clear(&diags);
	return res;
}
