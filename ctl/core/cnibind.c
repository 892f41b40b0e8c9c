// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#define _GNU_SOURCE
/*
 * CNI bindings in the core: the table, the overlay of bound Pod objects, the fail-closed
 * endpoints of bindings whose Pod object is unknown, persistence, and the ADD/DEL/CHECK
 * transactions (cnibind.h).
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
#include "cp_int.h"

#define BINDS_VERSION 1

/* --- the table -------------------------------------------------------------------------------- */

static void binding_free(struct pw_binding *b)
{
	if (!b)
		return;
	free(b->container_id);
	free(b->ns);
	free(b->name);
	free(b->uid);
	free(b->ifname);
	free(b->netns);
	free(b->cgroup);
	free(b);
}

void pw_binds_clear(struct pw_binds *bs)
{
	size_t i;

	for (i = 0; i < bs->n; i++)
		binding_free(bs->v[i]);
	free(bs->v);
	free(bs->path);
	memset(bs, 0, sizeof(*bs));
}

static struct pw_binding *by_id(const struct pw_binds *bs, const char *cid)
{
	size_t i;

	for (i = 0; i < bs->n; i++) {
		if (!strcmp(bs->v[i]->container_id, cid))
			return bs->v[i];
	}
	return NULL;
}

static struct pw_binding *by_pod(const struct pw_binds *bs, const char *ns, const char *name)
{
	size_t i;

	for (i = 0; i < bs->n; i++) {
		if (!strcmp(bs->v[i]->ns, ns) && !strcmp(bs->v[i]->name, name))
			return bs->v[i];
	}
	return NULL;
}

static int binds_insert(struct pw_binds *bs, struct pw_binding *b)
{
	if (bs->n == bs->cap) {
		size_t nc = bs->cap ? bs->cap * 2 : 16;
		struct pw_binding **nv = realloc(bs->v, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		bs->v = nv;
		bs->cap = nc;
	}
	bs->v[bs->n++] = b;
	return 0;
}

static void binds_remove(struct pw_binds *bs, const struct pw_binding *b)
{
	size_t i;

	for (i = 0; i < bs->n; i++) {
		if (bs->v[i] == b) {
			memmove(&bs->v[i], &bs->v[i + 1], (bs->n - i - 1) * sizeof(*bs->v));
			bs->n--;
			return;
		}
	}
}

/* --- the overlay ------------------------------------------------------------------------------ */

static int set_str(char **dst, const char *src)
{
	char *c = src ? strdup(src) : NULL;

	if (src && !c)
		return -ENOMEM;
	free(*dst);
	*dst = c;
	return 0;
}

static void overlay_fields(const struct pw_binding *b, struct pw_pod *pod)
{
	/* strdup failures leave the old value: the pod then stays pending, never unprotected */
	set_str(&pod->interface, b->ifname);
	set_str(&pod->cgroup, b->cgroup);
	pod->n_ips = b->n_ips;
	memcpy(pod->ips, b->ips, sizeof(pod->ips));
}

void pw_binds_overlay(struct pw_binds *bs, struct pw_pod *pod)
{
	struct pw_binding *b = by_pod(bs, pod->namespace, pod->name);

	if (!b)
		return;
	b->n_orig_ips = pod->n_ips;
	memcpy(b->orig_ips, pod->ips, sizeof(b->orig_ips));
	overlay_fields(b, pod);
}

void pw_binds_after_put(struct pw_binds *bs, struct pw_sobj *so)
{
	struct pw_binding *b = by_pod(bs, so->obj.u.pod.namespace, so->obj.u.pod.name);

	if (!b)
		return;
	/* one number per pod: a fail-closed endpoint becomes the pod's in place */
	if (so->ep_id)
		b->ep_id = so->ep_id;
	else
		so->ep_id = b->ep_id;
}

/* The Pod object as its manifest has it: annotations and status.podIPs, no binding. */
static int unoverlay_fields(const struct pw_binding *b, struct pw_pod *pod)
{
	int err;

	err = set_str(&pod->interface, pw_labels_get(&pod->annotations, PW_ANNOT_INTERFACE));
	err = err ?: set_str(&pod->cgroup, pw_labels_get(&pod->annotations, PW_ANNOT_CGROUP));
	if (err)
		return err;
	pod->n_ips = b->n_orig_ips;
	memcpy(pod->ips, b->orig_ips, sizeof(pod->ips));
	return 0;
}

static int pod_copy(struct pw_pod *dst, const struct pw_pod *src)
{
	size_t i;
	int err = -ENOMEM;

	memset(dst, 0, sizeof(*dst));
	dst->namespace = strdup(src->namespace);
	dst->name = strdup(src->name);
	if (!dst->namespace || !dst->name)
		goto fail;
	if (set_str(&dst->interface, src->interface) || set_str(&dst->cgroup, src->cgroup))
		goto fail;
	err = pw_labels_copy(&dst->labels, &src->labels);
	err = err ?: pw_labels_copy(&dst->annotations, &src->annotations);
	if (err)
		goto fail;
	err = -ENOMEM;
	dst->n_ips = src->n_ips;
	memcpy(dst->ips, src->ips, sizeof(dst->ips));
	if (src->n_ports) {
		dst->ports = calloc(src->n_ports, sizeof(*dst->ports));
		if (!dst->ports)
			goto fail;
		dst->n_ports = src->n_ports;
		for (i = 0; i < src->n_ports; i++) {
			dst->ports[i] = src->ports[i];
			dst->ports[i].name = NULL;
			if (set_str(&dst->ports[i].name, src->ports[i].name))
				goto fail;
		}
	}
	return 0;
fail:
	pw_pod_clear(dst);
	return err;
}

/* Store the Pod object again, with (b given) or without (orig) a binding's fields. */
static int restore_pod(struct pw_cp *cp, struct pw_sobj *so, const struct pw_binding *b,
		       const struct pw_binding *orig)
{
	struct pw_object obj = {.kind = PW_KIND_POD};
	int err;

	obj.src = so->obj.src;
	obj.src.file = NULL;
	err = pod_copy(&obj.u.pod, &so->obj.u.pod);
	if (err)
		return err;
	if (so->obj.src.file) {
		obj.src.file = strdup(so->obj.src.file);
		if (!obj.src.file) {
			err = -ENOMEM;
			goto out;
		}
	}
	if (b)
		overlay_fields(b, &obj.u.pod);
	else
		err = unoverlay_fields(orig, &obj.u.pod);
	if (!err)
		err = pw_state_put(&cp->st, &obj, so->source);
out:
	pw_object_clear(&obj);
	return err;
}

/* --- fail-closed endpoints ---------------------------------------------------------------------- */

static uint32_t longest_cidr(const struct pw_idtab *t, const struct pw_addr *a)
{
	uint32_t id = 0;
	int best = -1;
	size_t i;

	for (i = 0; i < t->n_cidrs; i++) {
		const struct pw_cidr_ident *c = t->cidrs[i];

		if (c->refs && c->prefix.prefixlen > best && pw_prefix_contains_addr(&c->prefix, a)) {
			best = c->prefix.prefixlen;
			id = c->id;
		}
	}
	return id;
}

static int cmp_ep(const void *a, const void *b)
{
	const struct pw_endpoint *x = a, *y = b;

	return x->ep_id < y->ep_id ? -1 : x->ep_id > y->ep_id;
}

int pw_binds_failclosed(const struct pw_binds *bs, const struct pw_state *st,
			struct pw_desired *d)
{
	size_t i, j, k, n_ipc0;
	void *nv;

	/* compile may have carried last time's fail-closed entries over: start from none */
	for (i = k = 0; i < d->n_eps; i++) {
		if (d->eps[i].identity != PW_ID_UNKNOWN)
			d->eps[k++] = d->eps[i];
	}
	d->n_eps = k;
	for (i = k = 0; i < d->n_ipc; i++) {
		if (d->ipc[i].identity != PW_ID_UNKNOWN)
			d->ipc[k++] = d->ipc[i];
	}
	d->n_ipc = k;
	if (!bs->n)
		return 0;
	nv = realloc(d->eps, (d->n_eps + bs->n + 1) * sizeof(*d->eps));
	if (!nv)
		return -ENOMEM;
	d->eps = nv;
	nv = realloc(d->ipc, (d->n_ipc + bs->n * PW_POD_MAX_IPS + 1) * sizeof(*d->ipc));
	if (!nv)
		return -ENOMEM;
	d->ipc = nv;
	n_ipc0 = d->n_ipc;
	for (i = 0; i < bs->n; i++) {
		const struct pw_binding *b = bs->v[i];
		struct pw_endpoint *ep;

		if (pw_state_find(st, PW_KIND_POD, b->ns, b->name))
			continue; /* overlaid on its Pod object */
		if (!b->ep_id || (!b->ifindex && !b->cgroup_id))
			continue;
		ep = &d->eps[d->n_eps++];
		memset(ep, 0, sizeof(*ep));
		ep->ep_id = b->ep_id;
		ep->identity = PW_ID_UNKNOWN;
		ep->ifindex = b->ifindex;
		ep->cgroup_id = b->cgroup_id;
		/* isolated both ways, and identity UNKNOWN has no policy entries: replies only */
		ep->flags = PW_EP_F_ISOLATE_INGRESS | PW_EP_F_ISOLATE_EGRESS;
		for (j = 0; j < b->n_ips; j++) {
			struct pw_dipc e = {0};
			const struct pw_addr *a = &b->ips[j];

			if (a->family == PW_FAMILY_V4 && ep->n_v4 < PW_EP_MAX_V4)
				memcpy(&ep->v4[ep->n_v4++], a->a, 4);
			else if (a->family == PW_FAMILY_V6 && ep->n_v6 < PW_EP_MAX_V6)
				memcpy(ep->v6[ep->n_v6++], a->a, 16);
			e.prefix.family = a->family;
			e.prefix.prefixlen = a->family == PW_FAMILY_V4 ? 32 : 128;
			memcpy(e.prefix.a, a->a, sizeof(e.prefix.a));
			/* an address a Pod object claims keeps that pod's identity */
			if (bsearch(&e, d->ipc, n_ipc0, sizeof(*d->ipc), pw_dipc_cmp))
				continue;
			e.identity = PW_ID_UNKNOWN;
			e.cidr_identity = longest_cidr(&st->ids, a);
			d->ipc[d->n_ipc++] = e;
		}
	}
	qsort(d->eps, d->n_eps, sizeof(*d->eps), cmp_ep);
	qsort(d->ipc, d->n_ipc, sizeof(*d->ipc), pw_dipc_cmp);
	/* two bindings claiming one address: keep one entry */
	for (i = k = 0; i < d->n_ipc; i++) {
		if (k && !pw_dipc_cmp(&d->ipc[k - 1], &d->ipc[i]))
			continue;
		d->ipc[k++] = d->ipc[i];
	}
	d->n_ipc = k;
	return 0;
}

bool pw_binds_link_event(struct pw_binds *bs, const char *ifname, uint32_t ifindex)
{
	bool changed = false;
	size_t i;

	for (i = 0; i < bs->n; i++) {
		struct pw_binding *b = bs->v[i];

		if (strcmp(b->ifname, ifname) || b->ifindex == ifindex)
			continue;
		b->ifindex = ifindex;
		changed = true;
	}
	return changed;
}

static json_object *jips(const struct pw_addr *ips, size_t n)
{
	json_object *a = json_object_new_array();
	char buf[64];
	size_t i;

	for (i = 0; a && i < n; i++)
		json_object_array_add(a, json_object_new_string(pw_addr_str(&ips[i], buf,
									     sizeof(buf))));
	return a;
}

void pw_binds_get_pods(const struct pw_binds *bs, const struct pw_state *st, const char *ns,
		       json_object *arr)
{
	size_t i;

	for (i = 0; i < bs->n; i++) {
		const struct pw_binding *b = bs->v[i];
		json_object *o;

		if ((ns && strcmp(ns, b->ns)) || pw_state_find(st, PW_KIND_POD, b->ns, b->name))
			continue;
		o = json_object_new_object();
		json_object_object_add(o, "kind", json_object_new_string("Pod"));
		json_object_object_add(o, "namespace", json_object_new_string(b->ns));
		json_object_object_add(o, "name", json_object_new_string(b->name));
		json_object_object_add(o, "source", json_object_new_string("cni"));
		json_object_object_add(o, "ips", jips(b->ips, b->n_ips));
		json_object_object_add(o, "identity", json_object_new_int64(PW_ID_UNKNOWN));
		json_object_object_add(o, "interface", json_object_new_string(b->ifname));
		json_object_object_add(o, "cgroup", json_object_new_string(b->cgroup));
		/* no Pod object: no labels, so no policy can name it; nothing passes */
		json_object_object_add(o, "state", json_object_new_string("fail-closed"));
		json_object_object_add(o, "endpoint", json_object_new_int64(b->ep_id));
		json_object_object_add(o, "container", json_object_new_string(b->container_id));
		json_object_object_add(o, "labels", json_object_new_object());
		json_object_array_add(arr, o);
	}
}

/* --- persistence ------------------------------------------------------------------------------ */

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
		if (!cid || !ns || !name || !ifn || !cg || by_id(bs, cid)) {
			cp_log(cp, PW_LOG_ERROR, "%s: binding %zu is incomplete; skipped", path, i);
			free(b);
			continue;
		}
		if (set_str(&b->container_id, cid) || set_str(&b->ns, ns) ||
		    set_str(&b->name, name) || set_str(&b->ifname, ifn) || set_str(&b->cgroup, cg) ||
		    set_str(&b->uid, jstr_or(o, "uid")) || set_str(&b->netns, jstr_or(o, "netns")) ||
		    binds_insert(bs, b)) {
			binding_free(b);
			err = -ENOMEM;
			goto out;
		}
		json_object_object_get_ex(o, "ips", &v);
		b->n_ips = parse_ips(v, b->ips);
		v = NULL;
		json_object_object_get_ex(o, "manifestIPs", &v);
		b->n_orig_ips = parse_ips(v, b->orig_ips);
		v = NULL;
		json_object_object_get_ex(o, "endpoint", &v);
		b->ep_id = (uint32_t)json_object_get_int64(v);
		if (b->ep_id >= cp->st.next_ep_id)
			cp->st.next_ep_id = b->ep_id + 1;
		b->ifindex = if_nametoindex(b->ifname);
		b->cgroup_id = cgroup_id_of(cp, b->cgroup);
	}
	cp_log(cp, PW_LOG_INFO, "%zu CNI bindings from %s", bs->n, path);
out:
	json_object_put(root);
	return err;
}

/* --- transactions ------------------------------------------------------------------------------ */

static int new_binding(struct pw_cp *cp, const struct pw_cni_bind *r, const char *cgroup,
		       struct pw_binding **out)
{
	struct pw_binding *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	if (set_str(&b->container_id, r->container_id) || set_str(&b->ns, r->ns) ||
	    set_str(&b->name, r->name) || set_str(&b->uid, r->uid) ||
	    set_str(&b->ifname, r->ifname) || set_str(&b->netns, r->netns) ||
	    set_str(&b->cgroup, cgroup)) {
		binding_free(b);
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
				snprintf(why, why_len,
					 "prevResult holds two addresses of one family for the pod; "
					 "Kubernetes allows one per family");
				return -EINVAL;
			}
		}
	}
	return 0;
}

int pw_cp_bind(struct pw_cp *cp, const struct pw_cni_bind *req, struct pw_cni_bound *out,
	       char *why, size_t why_len)
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
		snprintf(why, why_len, "the daemon runs without --cgroup-root: it cannot bind pods");
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
	old_id = by_id(bs, b->container_id);
	old_pod = by_pod(bs, b->ns, b->name);
	if (old_id && (strcmp(old_id->ns, b->ns) || strcmp(old_id->name, b->name))) {
		snprintf(why, why_len, "container %s is already bound to pod %s/%s",
			 b->container_id, old_id->ns, old_id->name);
		err = -EEXIST;
		goto fail;
	}
	so = pw_state_find(&cp->st, PW_KIND_POD, b->ns, b->name);
	if (old_pod) {
		b->ep_id = old_pod == old_id ? old_pod->ep_id : 0;
		b->n_orig_ips = old_pod->n_orig_ips;
		memcpy(b->orig_ips, old_pod->orig_ips, sizeof(b->orig_ips));
		if (old_pod != old_id)
			out->replaced_ep = old_pod->ep_id;
	} else if (so) {
		b->n_orig_ips = so->obj.u.pod.n_ips;
		memcpy(b->orig_ips, so->obj.u.pod.ips, sizeof(b->orig_ips));
	}
	if (!b->ep_id) {
		if (so && so->ep_id && !old_pod)
			b->ep_id = so->ep_id;
		else {
			if (!cp->st.next_ep_id)
				cp->st.next_ep_id = 1;
			b->ep_id = cp->st.next_ep_id++;
		}
	}
	err = binds_insert(bs, b);
	if (err)
		goto fail;
	if (old_pod)
		binds_remove(bs, old_pod);
	mark = cp->st.n_log;
	if (so) {
		err = restore_pod(cp, so, b, NULL);
		if (!err) {
			/* a replaced sandbox's endpoint goes, the new one has its own number */
			so = pw_state_find(&cp->st, PW_KIND_POD, b->ns, b->name);
			so->ep_id = b->ep_id;
		}
	}
	err = cp_finish(cp, mark, err, NULL);
	if (err) {
		binds_remove(bs, b);
		if (old_pod)
			binds_insert(bs, old_pod); /* room was there */
		snprintf(why, why_len, "cannot enforce the pod: %s", strerror(-err));
		goto fail;
	}
	binding_free(old_pod);
	out->ep_id = b->ep_id;
	out->fail_closed = !so;
	binds_save(cp);
	return 0;
fail:
	binding_free(b);
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
	b = by_id(&cp->binds, container_id);
	if (!b)
		return 0;
	binds_remove(&cp->binds, b);
	mark = cp->st.n_log;
	so = pw_state_find(&cp->st, PW_KIND_POD, b->ns, b->name);
	if (so)
		err = restore_pod(cp, so, NULL, b);
	err = cp_finish(cp, mark, err, NULL);
	if (err) {
		binds_insert(&cp->binds, b);
		return err;
	}
	*ep_id = b->ep_id;
	binding_free(b);
	binds_save(cp);
	return 0;
}

int pw_cp_bind_check(struct pw_cp *cp, const char *container_id, const char *ifname,
		     char *why, size_t why_len)
{
	const struct pw_endpoint *ep;
	struct pw_binding *b;
	uint32_t ifindex;

	if (!cp || !container_id)
		return -EINVAL;
	b = by_id(&cp->binds, container_id);
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

void pw_cp_binds_count(struct pw_cp *cp, size_t *n, size_t *fail_closed)
{
	size_t i, f = 0;

	for (i = 0; i < cp->binds.n; i++)
		f += !pw_state_find(&cp->st, PW_KIND_POD, cp->binds.v[i]->ns,
				    cp->binds.v[i]->name);
	*n = cp->binds.n;
	*fail_closed = f;
}
