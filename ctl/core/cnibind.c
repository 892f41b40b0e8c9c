// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#define _GNU_SOURCE
/*
 * CNI bindings in the core: the ADD/DEL/CHECK transactions and persistence (cnibind.h);
 * the table itself, the overlay and the fail-closed endpoints are in binds.c.
 *
 * A bind or unbind is one core transaction: the binding table changes, the bound Pod object
 * (if any) is re-stored with or without the binding's fields (so the store's undo log and the
 * compiler's dirty tracking see it like any pod update), and the result is written. On failure
 * the store is rolled back by the core and the table by us: nothing changed.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgpath.h"
#include "cnibind.h"
#include "cnibind_int.h"
#include "cp_impl.h"

#define BINDS_VERSION 1

/* --- persistence ------------------------------------------------------------------------------ */

static json_object *jips(const struct pw_addr *ips, size_t n)
{
	json_object *a = json_object_new_array();
	char buf[64];
	size_t i;

	for (i = 0; a && i < n; i++)
		json_object_array_add(
			a, json_object_new_string(pw_addr_str(&ips[i], buf, sizeof(buf))));
	return a;
}

static json_object *binding_json(const struct pw_binding *b)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "containerID", json_object_new_string(b->container_id));
	json_object_object_add(o, "namespace", json_object_new_string(b->ns));
	json_object_object_add(o, "name", json_object_new_string(b->name));
	json_object_object_add(o, "uid", json_object_new_string(b->uid ?: ""));
	json_object_object_add(o, "interface", json_object_new_string(b->ifname));
	json_object_object_add(o, "netns", json_object_new_string(b->netns ?: ""));
	json_object_object_add(o, "cgroup", json_object_new_string(b->cgroup));
	json_object_object_add(o, "ips", jips(b->ips, b->n_ips));
	json_object_object_add(o, "manifestIPs", jips(b->orig_ips, b->n_orig_ips));
	if (b->orig_interface)
		json_object_object_add(o, "manifestInterface",
				       json_object_new_string(b->orig_interface));
	if (b->orig_cgroup)
		json_object_object_add(o, "manifestCgroup", json_object_new_string(b->orig_cgroup));
	json_object_object_add(o, "endpoint", json_object_new_int64(b->ep_id));
	return o;
}

/* Whole-file rewrite through rename: a crash leaves the old or the new table, never half. */
static int binds_save(struct pw_cp *cp)
{
	struct pw_binds *bs = &cp->binds;
	json_object *root, *arr;
	char tmp[4200];
	const char *s;
	size_t i, len;
	int fd, err = 0;

	if (!bs->path)
		return 0;
	root = json_object_new_object();
	arr = json_object_new_array();
	json_object_object_add(root, "version", json_object_new_int(BINDS_VERSION));
	for (i = 0; i < bs->n; i++)
		json_object_array_add(arr, binding_json(bs->v[i]));
	json_object_object_add(root, "bindings", arr);
	s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	len = strlen(s);
	snprintf(tmp, sizeof(tmp), "%s.tmp", bs->path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	if (write(fd, s, len) != (ssize_t)len || write(fd, "\n", 1) != 1)
		err = errno ? -errno : -EIO;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, bs->path))
		err = -errno;
	if (err)
		unlink(tmp);
out:
	json_object_put(root);
	if (err)
		cp_log(cp, PW_LOG_ERROR,
		       "cannot save the CNI bindings to %s: %s (enforced now, but a restarted "
		       "daemon would not know these containers)",
		       bs->path, strerror(-err));
	return err;
}

static uint64_t cgroup_id_of(struct pw_cp *cp, const char *rel)
{
	char path[4200];
	struct stat sb;

	if (!cp->cgroup_root)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", cp->cgroup_root, rel);
	/* cgroup v2: the directory's inode number is what bpf_get_current_cgroup_id() gives */
	return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) ? (uint64_t)sb.st_ino : 0;
}

static size_t parse_ips(json_object *arr, struct pw_addr *out)
{
	size_t i, n = 0;

	for (i = 0; arr && i < json_object_array_length(arr) && n < PW_POD_MAX_IPS; i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(arr, i));

		if (s && !pw_addr_parse(s, &out[n]))
			n++;
	}
	return n;
}

static const char *jstr_or(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

int pw_cp_binds_open(struct pw_cp *cp, const char *path)
{
	size_t dropped = 0;
	struct pw_binds *bs;
	json_object *root = NULL, *arr, *v;
	size_t i;
	int err = 0;

	if (!cp)
		return -EINVAL;
	bs = &cp->binds;
	free(bs->path);
	bs->path = path ? strdup(path) : NULL;
	if (path && !bs->path)
		return -ENOMEM;
	if (!path || access(path, F_OK))
		return 0;
	root = json_object_from_file(path);
	if (!root || !json_object_object_get_ex(root, "bindings", &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		cp_log(cp, PW_LOG_ERROR, "%s: not a CNI binding table; starting with none", path);
		err = -EBADMSG;
		goto out;
	}
	for (i = 0; i < json_object_array_length(arr); i++) {
		json_object *o = json_object_array_get_idx(arr, i);
		struct pw_binding *b = calloc(1, sizeof(*b));
		const char *cid = jstr_or(o, "containerID"), *ns = jstr_or(o, "namespace"),
			   *name = jstr_or(o, "name"), *ifn = jstr_or(o, "interface"),
			   *cg = jstr_or(o, "cgroup");

		if (!b)
			return -ENOMEM;
		if (!cid || !ns || !name || !ifn || !cg || pw_binds_by_id(bs, cid)) {
			cp_log(cp, PW_LOG_ERROR, "%s: binding %zu is incomplete; skipped", path, i);
			free(b);
			continue;
		}
		if (pw_bind_set_str(&b->container_id, cid) || pw_bind_set_str(&b->ns, ns) ||
		    pw_bind_set_str(&b->name, name) || pw_bind_set_str(&b->ifname, ifn) ||
		    pw_bind_set_str(&b->cgroup, cg) ||
		    pw_bind_set_str(&b->uid, jstr_or(o, "uid")) ||
		    pw_bind_set_str(&b->netns, jstr_or(o, "netns")) || pw_binds_insert(bs, b)) {
			pw_binding_free(b);
			err = -ENOMEM;
			goto out;
		}
		json_object_object_get_ex(o, "ips", &v);
		b->n_ips = parse_ips(v, b->ips);
		v = NULL;
		json_object_object_get_ex(o, "manifestIPs", &v);
		b->n_orig_ips = parse_ips(v, b->orig_ips);
		if (pw_bind_set_str(&b->orig_interface, jstr_or(o, "manifestInterface")) ||
		    pw_bind_set_str(&b->orig_cgroup, jstr_or(o, "manifestCgroup"))) {
			err = -ENOMEM;
			goto out;
		}
		v = NULL;
		json_object_object_get_ex(o, "endpoint", &v);
		b->ep_id = (uint32_t)json_object_get_int64(v);
		if (b->ep_id >= cp->st.next_ep_id)
			cp->st.next_ep_id = b->ep_id + 1;
		b->ifindex = if_nametoindex(b->ifname);
		b->cgroup_id = cgroup_id_of(cp, b->cgroup);
		if (!b->ifindex && !b->cgroup_id) {
			/* the runtime's DEL came while we were down: the sandbox is gone */
			cp_log(cp, PW_LOG_INFO,
			       "container %s (pod %s/%s) is gone (no interface %s, no cgroup %s): "
			       "its binding is dropped",
			       b->container_id, b->ns, b->name, b->ifname, b->cgroup);
			pw_binds_remove(bs, b);
			pw_binding_free(b);
			dropped++;
		}
	}
	cp_log(cp, PW_LOG_INFO, "%zu CNI bindings from %s", bs->n, path);
	if (dropped)
		binds_save(cp);
out:
	json_object_put(root);
	return err;
}

/* --- transactions ------------------------------------------------------------------------------
 */

static int new_binding(struct pw_cp *cp, const struct pw_cni_bind *r, const char *cgroup,
		       struct pw_binding **out)
{
	struct pw_binding *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	if (pw_bind_set_str(&b->container_id, r->container_id) || pw_bind_set_str(&b->ns, r->ns) ||
	    pw_bind_set_str(&b->name, r->name) || pw_bind_set_str(&b->uid, r->uid) ||
	    pw_bind_set_str(&b->ifname, r->ifname) || pw_bind_set_str(&b->netns, r->netns) ||
	    pw_bind_set_str(&b->cgroup, cgroup)) {
		pw_binding_free(b);
		return -ENOMEM;
	}
	b->n_ips = r->n_ips < PW_POD_MAX_IPS ? r->n_ips : PW_POD_MAX_IPS;
	memcpy(b->ips, r->ips, b->n_ips * sizeof(b->ips[0]));
	*out = b;
	return 0;
}

static int check_request(const struct pw_cni_bind *r, char *why, size_t why_len)
{
	const char *bad;
	size_t i, j;

	if (!r->container_id || !*r->container_id || strlen(r->container_id) > 255) {
		snprintf(why, why_len, "CNI_CONTAINERID is missing or longer than 255 bytes");
		return -EINVAL;
	}
	if (!r->ns || (bad = pw_invalid_dns1123_label(r->ns))) {
		snprintf(why, why_len, "K8S_POD_NAMESPACE \"%s\": %s", r->ns ?: "",
			 r->ns ? bad : "missing from CNI_ARGS");
		return -EINVAL;
	}
	if (!r->name || (bad = pw_invalid_dns1123_subdomain(r->name))) {
		snprintf(why, why_len, "K8S_POD_NAME \"%s\": %s", r->name ?: "",
			 r->name ? bad : "missing from CNI_ARGS");
		return -EINVAL;
	}
	if (!r->ifname || (bad = pw_invalid_ifname(r->ifname))) {
		snprintf(why, why_len, "host-side interface \"%s\": %s", r->ifname ?: "",
			 r->ifname ? bad : "missing");
		return -EINVAL;
	}
	for (i = 0; i < r->n_ips; i++) {
		for (j = 0; j < i; j++) {
			if (r->ips[j].family == r->ips[i].family) {
				snprintf(
					why, why_len,
					"prevResult holds two addresses of one family for the pod; "
					"Kubernetes allows one per family");
				return -EINVAL;
			}
		}
	}
	return 0;
}

int pw_cp_bind(struct pw_cp *cp, const struct pw_cni_bind *req, struct pw_cni_bound *out, char *why,
	       size_t why_len)
{
	struct pw_binds *bs;
	struct pw_binding *b = NULL, *old_id, *old_pod;
	struct pw_sobj *so;
	char mount[4096];
	size_t mark;
	int err;

	if (!cp || !req || !out)
		return -EINVAL;
	bs = &cp->binds;
	memset(out, 0, sizeof(*out));
	err = check_request(req, why, why_len);
	if (err)
		return err;
	if (!cp->cgroup_root) {
		snprintf(why, why_len,
			 "the daemon runs without --cgroup-root: it cannot bind pods");
		return -EINVAL;
	}
	err = pw_cgroup2_mount(mount, sizeof(mount));
	if (err) {
		snprintf(why, why_len, "no cgroup2 mount in /proc/mounts");
		return err;
	}
	err = pw_cgpath_resolve(mount, cp->cgroup_root, req->cgroup_path, req->uid, out->cgroup,
				sizeof(out->cgroup), why, why_len);
	if (err)
		return err;
	err = new_binding(cp, req, out->cgroup, &b);
	if (err)
		return err;
	b->ifindex = if_nametoindex(b->ifname);
	if (!b->ifindex) {
		snprintf(why, why_len,
			 "host-side interface %s does not exist in the daemon's network namespace",
			 b->ifname);
		err = -ENODEV;
		goto fail;
	}
	b->cgroup_id = cgroup_id_of(cp, b->cgroup);
	if (!b->cgroup_id) {
		snprintf(why, why_len, "pod cgroup %s vanished", b->cgroup);
		err = -ENOENT;
		goto fail;
	}
	/* a retried ADD of one container, or a new sandbox of a pod whose old one is still bound */
	old_id = pw_binds_by_id(bs, b->container_id);
	old_pod = pw_binds_by_pod(bs, b->ns, b->name);
	if (old_id && (strcmp(old_id->ns, b->ns) || strcmp(old_id->name, b->name))) {
		snprintf(why, why_len, "container %s is already bound to pod %s/%s",
			 b->container_id, old_id->ns, old_id->name);
		err = -EEXIST;
		goto fail;
	}
	so = pw_state_find(&cp->st, PW_KIND_POD, b->ns, b->name);
	if (old_pod) {
		b->ep_id = old_pod == old_id ? old_pod->ep_id : 0;
		err = pw_binds_copy_orig(b, old_pod);
		if (old_pod != old_id)
			out->replaced_ep = old_pod->ep_id;
	} else if (so) {
		err = pw_binds_save_orig(b, &so->obj.u.pod);
	}
	if (err)
		goto fail;
	if (!b->ep_id) {
		if (so && so->ep_id && !old_pod)
			b->ep_id = so->ep_id;
		else {
			if (!cp->st.next_ep_id)
				cp->st.next_ep_id = 1;
			b->ep_id = cp->st.next_ep_id++;
		}
	}
	err = pw_binds_insert(bs, b);
	if (err)
		goto fail;
	if (old_pod)
		pw_binds_remove(bs, old_pod);
	mark = cp->st.n_log;
	if (so) {
		err = pw_binds_restore_pod(&cp->st, so, b, NULL);
		if (!err) {
			/* a replaced sandbox's endpoint goes, the new one has its own number */
			so = pw_state_find(&cp->st, PW_KIND_POD, b->ns, b->name);
			so->ep_id = b->ep_id;
		}
	}
	err = cp_finish(cp, mark, err, NULL);
	if (err) {
		pw_binds_remove(bs, b);
		if (old_pod)
			pw_binds_insert(bs, old_pod); /* room was there */
		snprintf(why, why_len, "cannot enforce the pod: %s", strerror(-err));
		goto fail;
	}
	pw_binding_free(old_pod);
	out->ep_id = b->ep_id;
	out->fail_closed = !so;
	binds_save(cp);
	return 0;
fail:
	pw_binding_free(b);
	return err;
}

int pw_cp_unbind(struct pw_cp *cp, const char *container_id, uint32_t *ep_id)
{
	struct pw_binding *b;
	struct pw_sobj *so;
	size_t mark;
	int err = 0;

	if (!cp || !container_id || !ep_id)
		return -EINVAL;
	*ep_id = 0;
	b = pw_binds_by_id(&cp->binds, container_id);
	if (!b)
		return 0;
	pw_binds_remove(&cp->binds, b);
	mark = cp->st.n_log;
	so = pw_state_find(&cp->st, PW_KIND_POD, b->ns, b->name);
	if (so)
		err = pw_binds_restore_pod(&cp->st, so, NULL, b);
	err = cp_finish(cp, mark, err, NULL);
	if (err) {
		pw_binds_insert(&cp->binds, b);
		return err;
	}
	*ep_id = b->ep_id;
	pw_binding_free(b);
	binds_save(cp);
	return 0;
}

int pw_cp_bind_check(struct pw_cp *cp, const char *container_id, const char *ifname, char *why,
		     size_t why_len)
{
	const struct pw_endpoint *ep;
	struct pw_binding *b;
	uint32_t ifindex;

	if (!cp || !container_id)
		return -EINVAL;
	b = pw_binds_by_id(&cp->binds, container_id);
	if (!b) {
		snprintf(why, why_len, "container %s is not bound to any pod", container_id);
		return -ENOENT;
	}
	if (ifname && strcmp(ifname, b->ifname)) {
		snprintf(why, why_len, "container %s is bound to interface %s, not %s",
			 container_id, b->ifname, ifname);
		return -ESTALE;
	}
	ifindex = if_nametoindex(b->ifname);
	if (!ifindex) {
		snprintf(why, why_len, "the host-side interface %s of container %s is gone",
			 b->ifname, container_id);
		return -ESTALE;
	}
	if (!cgroup_id_of(cp, b->cgroup)) {
		snprintf(why, why_len, "the cgroup %s of container %s is gone", b->cgroup,
			 container_id);
		return -ESTALE;
	}
	ep = pw_desired_endpoint(&cp->cur, b->ep_id);
	if (!ep || ep->ifindex != ifindex) {
		snprintf(why, why_len, "the datapath holds no endpoint for %s on %s", container_id,
			 b->ifname);
		return -ESTALE;
	}
	if (cp->dp) {
		struct pw_endpoint k;

		if (pw_dp_endpoint_lookup_ifindex(cp->dp, ifindex, &k) || k.ep_id != b->ep_id) {
			snprintf(why, why_len,
				 "the endpoint map has no entry for interface %s of container %s",
				 b->ifname, container_id);
			return -ESTALE;
		}
	}
	return 0;
}

int pw_cp_binds_gc(struct pw_cp *cp, const char *const *keep, size_t n_keep, uint32_t **eps,
		   size_t *n_eps)
{
	size_t i, j, n_stale = 0;
	char **stale;
	int err = 0;

	if (!cp || (n_keep && !keep) || !eps || !n_eps)
		return -EINVAL;
	*eps = NULL;
	*n_eps = 0;
	/* the IDs first: each unbind changes the table */
	stale = calloc(cp->binds.n + 1, sizeof(*stale));
	*eps = calloc(cp->binds.n + 1, sizeof(**eps));
	if (!stale || !*eps) {
		free(stale);
		free(*eps);
		*eps = NULL;
		return -ENOMEM;
	}
	for (i = 0; i < cp->binds.n; i++) {
		const char *cid = cp->binds.v[i]->container_id;

		for (j = 0; j < n_keep && (!keep[j] || strcmp(keep[j], cid)); j++)
			;
		if (j == n_keep && !(stale[n_stale++] = strdup(cid)) && !err)
			err = -ENOMEM;
	}
	for (i = 0; i < n_stale; i++) {
		uint32_t ep = 0;
		int e = stale[i] ? pw_cp_unbind(cp, stale[i], &ep) : 0;

		if (e && !err)
			err = e;
		if (ep)
			(*eps)[(*n_eps)++] = ep;
		if (stale[i] && !e)
			cp_log(cp, PW_LOG_INFO, "GC: container %s is no longer valid: unbound",
			       stale[i]);
		free(stale[i]);
	}
	free(stale);
	return err;
}

void pw_cp_binds_count(struct pw_cp *cp, size_t *n, size_t *fail_closed)
{
	size_t i, f = 0;

	for (i = 0; i < cp->binds.n; i++)
		f += !pw_state_find(&cp->st, PW_KIND_POD, cp->binds.v[i]->ns, cp->binds.v[i]->name);
	*n = cp->binds.n;
	*fail_closed = f;
}
