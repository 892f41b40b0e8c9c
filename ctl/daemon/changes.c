// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwalld: what an apply or delete changes: its documents parsed into one manifest, then
 * object by object created, configured, unchanged or deleted (the snapshot taken before the
 * core takes the objects). Requests and the journal's replay both go through here.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>

#include "daemon.h"

/* One document (file) of a request, parsed on its own, by whichever thread takes it. */
struct doc_job {
	const char *name, *data;
	size_t len;
	struct pw_manifest *m;
	struct pw_diags diags;
	int err;
};

struct doc_jobs {
	struct doc_job *v;
	size_t n;
	atomic_size_t next;
};

static void *parse_worker(void *arg)
{
	struct doc_jobs *jobs = arg;
	size_t i;

	while ((i = atomic_fetch_add(&jobs->next, 1)) < jobs->n) {
		struct doc_job *j = &jobs->v[i];

		j->err = pw_parse_buffer(j->name, j->data, j->len, NULL, &j->m, &j->diags);
	}
	return NULL;
}

/*
 * Below this much text, or with one document, the parse stays on the daemon's thread: a
 * thread costs more than it saves on a small change, whose latency matters most.
 */
#define PARSE_PARALLEL_BYTES (256u << 10)
#define PARSE_MAX_THREADS    8

/*
 * The documents' parses spread over the node's CPUs (the parser is reentrant; libfyaml keeps
 * no global state): a 10,000-pod apply in 53 files is mostly parsing. Every thread takes the
 * next unparsed document; results are merged in request order, so diagnostics and objects come
 * out as from one thread. A thread that cannot start leaves its share to the others.
 */
static void parse_all(struct doc_jobs *jobs, size_t bytes)
{
	pthread_t tid[PARSE_MAX_THREADS];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	size_t want = 0, started = 0;

	if (jobs->n > 1 && bytes >= PARSE_PARALLEL_BYTES && cpus > 1) {
		want = (size_t)cpus - 1;
		if (want > PARSE_MAX_THREADS)
			want = PARSE_MAX_THREADS;
		if (want > jobs->n - 1)
			want = jobs->n - 1;
	}
	for (; started < want; started++) {
		if (pthread_create(&tid[started], NULL, parse_worker, jobs))
			break;
	}
	parse_worker(jobs);
	for (size_t i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
}

/* Move src's diagnostics to the end of dst (src is left empty). */
static int diags_move(struct pw_diags *dst, struct pw_diags *src)
{
	struct pw_diag *v;

	if (!src->n)
		return 0;
	v = realloc(dst->v, (dst->n + src->n) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	memcpy(v + dst->n, src->v, src->n * sizeof(*v));
	dst->v = v;
	dst->n += src->n;
	dst->n_errors += src->n_errors;
	free(src->v);
	memset(src, 0, sizeof(*src));
	return 0;
}

/* Parse the documents of an apply/delete request into one manifest: all or nothing. */
int parse_docs(json_object *docs, struct pw_manifest **out, struct pw_diags *diags)
{
	struct pw_manifest *all = calloc(1, sizeof(*all));
	struct doc_jobs jobs = {0};
	size_t n = docs ? json_object_array_length(docs) : 0, bytes = 0;
	int err = 0;

	*out = NULL;
	if (!all)
		return -ENOMEM;
	if (!n) {
		err = -EINVAL;
		goto out;
	}
	jobs.v = calloc(n, sizeof(*jobs.v));
	if (!jobs.v) {
		err = -ENOMEM;
		goto out;
	}
	jobs.n = n;
	for (size_t i = 0; i < n; i++) {
		json_object *doc = json_object_array_get_idx(docs, i), *data;

		if (!json_object_object_get_ex(doc, "data", &data) ||
		    !json_object_is_type(data, json_type_string)) {
			err = -EINVAL;
			goto out;
		}
		jobs.v[i].name = pw_json_str(doc, "name") ?: "<request>";
		jobs.v[i].data = json_object_get_string(data);
		jobs.v[i].len = (size_t)json_object_get_string_len(data);
		bytes += jobs.v[i].len;
	}
	atomic_init(&jobs.next, 0);
	parse_all(&jobs, bytes);

	/* every file's errors, in request order */
	for (size_t i = 0; i < n; i++) {
		if (diags_move(diags, &jobs.v[i].diags) && !err)
			err = -ENOMEM;
		if (jobs.v[i].err && !err)
			err = jobs.v[i].err;
	}
	/* the objects of every file, in request order, into one manifest */
	for (size_t i = 0; !err && i < n; i++)
		err = pw_manifest_take(all, jobs.v[i].m);
out:
	for (size_t i = 0; jobs.v && i < n; i++) {
		pw_manifest_free(jobs.v[i].m);
		pw_diags_clear(&jobs.v[i].diags);
	}
	free(jobs.v);
	if (!err) {
		*out = all;
		all = NULL;
	}
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
