// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwalld: what an apply or delete changes, object by object: created, configured,
 * unchanged or deleted (the snapshot taken before the core takes the objects).
 */
#define _GNU_SOURCE
#include "daemon.h"

static enum pw_cp_list kind_list(enum pw_kind k)
{
	return k == PW_KIND_NAMESPACE ? PW_CP_NAMESPACES
	       : k == PW_KIND_POD     ? PW_CP_PODS
				      : PW_CP_NETPOLS;
}

static bool list_has(json_object *list, const char *name)
{
	json_object *items =
		json_object_is_type(list, json_type_array) ? list : pw_json_array(list, "items");

	for (size_t i = 0; items && i < json_object_array_length(items); i++) {
		const char *n = pw_json_str(json_object_array_get_idx(items, i), "name");

		if (n && !strcmp(n, name))
			return true;
	}
	return false;
}

json_object *lookup(struct daemon *d, struct listing **cache, size_t *n, enum pw_kind k,
		    const char *ns)
{
	struct listing *v;
	json_object *list = NULL;

	for (size_t i = 0; i < *n; i++) {
		if ((*cache)[i].kind == k && !strcmp((*cache)[i].ns ?: "", ns ?: ""))
			return (*cache)[i].list;
	}
	if (pw_cp_get(d->cp, kind_list(k), k == PW_KIND_NAMESPACE ? NULL : ns, &list))
		return NULL;
	v = realloc(*cache, (*n + 1) * sizeof(*v));
	if (!v) {
		json_object_put(list);
		return NULL;
	}
	*cache = v;
	v[*n] = (struct listing){k, ns, list};
	(*n)++;
	return list;
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
	struct listing *cache = NULL;
	size_t ncache = 0;

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
		else if (!list_has(lookup(d, &cache, &ncache, o->kind, s[i].ns), s[i].name))
			s[i].action = "created";
		else if (fp_get(d, o->kind, s[i].ns, s[i].name, &old) && old == s[i].fp)
			s[i].action = "unchanged";
		else
			s[i].action = "configured";
	}
	for (size_t i = 0; i < ncache; i++)
		json_object_put(cache[i].list);
	free(cache);
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
