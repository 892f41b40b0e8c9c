// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwalld: what an apply or delete changes: its documents parsed into one manifest, then
 * object by object created, configured, unchanged or deleted (the snapshot taken before the
 * core takes the objects). Requests and the journal's replay both go through here.
 */
#define _GNU_SOURCE
#include "daemon.h"

/* Parse the documents of an apply/delete request into one manifest: all or nothing. */
int parse_docs(json_object *docs, struct pw_manifest **out, struct pw_diags *diags)
{
	struct pw_manifest *all = calloc(1, sizeof(*all));
	int err = 0;

	*out = NULL;
	if (!all)
		return -ENOMEM;
	if (!docs || !json_object_array_length(docs)) {
		err = -EINVAL;
		goto out;
	}
	for (size_t i = 0; i < json_object_array_length(docs); i++) {
		json_object *doc = json_object_array_get_idx(docs, i), *data;
		const char *name = pw_json_str(doc, "name") ?: "<request>";
		struct pw_manifest *m = NULL;
		struct pw_object *v;
		int e;

		if (!json_object_object_get_ex(doc, "data", &data) ||
		    !json_object_is_type(data, json_type_string)) {
			err = -EINVAL;
			goto out;
		}
		e = pw_parse_buffer(name, json_object_get_string(data),
				    (size_t)json_object_get_string_len(data), NULL, &m, diags);
		if (e) {
			err = e;
			continue; /* collect every file's errors */
		}
		if (err || !m->n) {
			pw_manifest_free(m);
			continue;
		}
		v = realloc(all->objs, (all->n + m->n) * sizeof(*v));
		if (!v) {
			pw_manifest_free(m);
			err = -ENOMEM;
			goto out;
		}
		all->objs = v;
		/* move the objects: the slots of m are zeroed so its free releases nothing */
		memcpy(all->objs + all->n, m->objs, m->n * sizeof(*v));
		all->n += m->n;
		memset(m->objs, 0, m->n * sizeof(*v));
		pw_manifest_free(m);
	}
	if (!err) {
		*out = all;
		all = NULL;
	}
out:
	pw_manifest_free(all);
	return err;
}

void snap_free(struct snap *s, size_t n)
{
	for (size_t i = 0; s && i < n; i++) {
		free(s[i].ns);
		free(s[i].name);
	}
	free(s);
}

/*
 * Before the objects move into the core: their keys, fingerprints and, for an apply, whether
 * each is created (the core lacks it), unchanged (same fingerprint) or configured.
 */
struct snap *snapshot(struct daemon *d, const struct pw_manifest *m, bool del)
{
	struct snap *s = calloc(m->n ? m->n : 1, sizeof(*s));

	for (size_t i = 0; s && i < m->n; i++) {
		const struct pw_object *o = &m->objs[i];
		uint64_t old;

		s[i].kind = o->kind;
		s[i].ns = pw_object_namespace(o) ? strdup(pw_object_namespace(o)) : NULL;
		s[i].name = strdup(pw_object_name(o));
		s[i].fp = obj_fingerprint(o);
		if (!s[i].name || (pw_object_namespace(o) && !s[i].ns)) {
			snap_free(s, i + 1);
			s = NULL;
			break;
		}
		if (del)
			s[i].action = "deleted";
		else if (!pw_cp_object_source(d->cp, o->kind, s[i].ns, s[i].name))
			s[i].action = "created";
		else if (fp_get(d, o->kind, s[i].ns, s[i].name, &old) && old == s[i].fp)
			s[i].action = "unchanged";
		else
			s[i].action = "configured";
	}
	return s;
}

/* The namespaces an applied or deleted manifest can have changed pods in. */
void pods_touch_snap(struct daemon *d, const struct snap *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		/* a Namespace's labels are part of its pods' identities */
		if (s[i].kind == PW_KIND_NAMESPACE)
			pods_touch(d, s[i].name);
		else if (s[i].kind == PW_KIND_POD)
			pods_touch(d, s[i].ns);
	}
}

/* After the core took the change: remember what each object now holds. */
void snap_commit(struct daemon *d, const struct snap *s, size_t n, bool del)
{
	/* policies and CIDRs the flow log has rendered may have changed with it */
	pw_flowlog_invalidate(d->fl);
	for (size_t i = 0; i < n; i++) {
		if (del)
			fp_del(d, s[i].kind, s[i].ns, s[i].name);
		else
			fp_set(d, s[i].kind, s[i].ns, s[i].name, s[i].fp);
	}
}

json_object *outcomes(const struct snap *s, size_t n)
{
	json_object *arr = json_object_new_array();

	for (size_t i = 0; arr && i < n; i++) {
		json_object *o = json_object_new_object();

		json_object_object_add(o, "kind", json_object_new_string(pw_kind_str(s[i].kind)));
		if (s[i].ns)
			json_object_object_add(o, "namespace", json_object_new_string(s[i].ns));
		json_object_object_add(o, "name", json_object_new_string(s[i].name));
		json_object_object_add(o, "action", json_object_new_string(s[i].action));
		json_object_array_add(arr, o);
	}
	return arr;
}
