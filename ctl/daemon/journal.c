// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwalld: the CLI journal under --state-dir: appended and fsync'ed before each apply's
 * reply, replayed at start, compacted as it grows.
 */
#define _GNU_SOURCE
#include <malloc.h>

#include "daemon.h"

/* --- the CLI journal ------------------------------------------------------------------------ */

/*
 * Each successful apply or delete from the CLI is appended (its documents as sent) and
 * fsync'ed before the reply, so an acknowledged change survives a restart. At start the
 * journal is replayed, then compacted: records that no longer hold the last word on any object
 * are dropped, so the file stays about as large as what the CLI applied, not as long as the
 * node's history.
 */
static int journal_write_line(int fd, enum pw_op op, json_object *docs)
{
	json_object *rec = json_object_new_object();
	char *line = NULL;
	size_t len;
	int err;

	if (!rec)
		return -ENOMEM;
	json_object_object_add(rec, "op", json_object_new_string(pw_op_name(op)));
	json_object_object_add(rec, "docs", json_object_get(docs));
	err = pw_proto_encode(rec, &line, &len);
	if (!err)
		err = pw_write_all(fd, line, len);
	free(line);
	json_object_put(rec);
	return err;
}

void journal_cache_drop(struct daemon *d)
{
	jrecs_free(d->jcache, d->n_jcache);
	d->jcache = NULL;
	d->n_jcache = 0;
	d->jcache_ok = false;
}

/* No journal yet (none, or empty): the cache holds its records from the first append on. */
void journal_cache_start(struct daemon *d)
{
	struct stat st;

	journal_cache_drop(d);
	if (d->journal[0] && !d->journal_records &&
	    (stat(d->journal, &st) ? errno == ENOENT : st.st_size == 0))
		d->jcache_ok = true;
}

/* The cache gains the record just appended: its op and the keys of its objects (s[0..n)). */
static void jcache_push(struct daemon *d, enum pw_op op, const struct snap *s, size_t n)
{
	struct jrec *nv, *r;
	size_t len = 0;
	char *p;

	if (!d->jcache_ok)
		return;
	nv = realloc(d->jcache, (d->n_jcache + 1) * sizeof(*nv));
	if (!nv) {
		journal_cache_drop(d);
		return;
	}
	d->jcache = nv;
	r = &nv[d->n_jcache++];
	memset(r, 0, sizeof(*r));
	r->op = op;
	/* the strings in one block: a strdup each cost twice their size (a whole cluster's) */
	for (size_t i = 0; i < n; i++)
		len += (s[i].ns ? strlen(s[i].ns) + 1 : 0) + strlen(s[i].name) + 1;
	r->keys = calloc(n ? n : 1, sizeof(*r->keys));
	r->strs = p = malloc(len + 1);
	if (!r->keys || !r->strs) {
		journal_cache_drop(d);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct jkey *k = &r->keys[r->n_keys++];

		k->kind = s[i].kind;
		if (s[i].ns) {
			k->ns = strcpy(p, s[i].ns);
			p += strlen(p) + 1;
		}
		k->name = strcpy(p, s[i].name);
		p += strlen(p) + 1;
	}
}

/* s[0..n): the request's objects (snapshot()), whose keys the record holds */
int journal_append(struct daemon *d, enum pw_op op, json_object *docs, const struct snap *s,
		   size_t n)
{
	int fd, err;

	if (!d->journal[0])
		return 0;
	fd = open(d->journal, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		journal_cache_drop(d);
		return -errno;
	}
	err = journal_write_line(fd, op, docs);
	if (!err && fsync(fd))
		err = -errno;
	close(fd);
	if (!err) {
		d->journal_records++;
		jcache_push(d, op, s, n);
	} else {
		journal_cache_drop(d); /* a torn line may be in the file */
	}
	return err;
}

void jrecs_free(struct jrec *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; !v[i].strs && j < v[i].n_keys; j++) {
			free(v[i].keys[j].ns);
			free(v[i].keys[j].name);
		}
		free(v[i].strs);
		free(v[i].keys);
		json_object_put(v[i].rec);
	}
	free(v);
}

static bool jkey_eq(const struct jkey *a, const struct jkey *b)
{
	return a->kind == b->kind && !strcmp(a->ns ?: "", b->ns ?: "") && !strcmp(a->name, b->name);
}

static bool jrec_has(const struct jrec *r, const struct jkey *k)
{
	for (size_t i = 0; i < r->n_keys; i++) {
		if (jkey_eq(&r->keys[i], k))
			return true;
	}
	return false;
}

static int jrec_keys(struct jrec *r, const struct pw_manifest *m)
{
	r->keys = calloc(m->n ? m->n : 1, sizeof(*r->keys));
	if (!r->keys)
		return -ENOMEM;
	for (size_t i = 0; i < m->n; i++) {
		struct jkey *k = &r->keys[r->n_keys];

		k->kind = m->objs[i].kind;
		k->ns = pw_object_namespace(&m->objs[i]) ? strdup(pw_object_namespace(&m->objs[i]))
							 : NULL;
		k->name = strdup(pw_object_name(&m->objs[i]));
		r->n_keys++;
		if (!k->name || (pw_object_namespace(&m->objs[i]) && !k->ns))
			return -ENOMEM;
	}
	return 0;
}

/* Delete one object at a time: one already gone must not keep the others alive. */
static void replay_delete(struct daemon *d, struct pw_manifest *m)
{
	for (size_t i = 0; i < m->n; i++) {
		struct pw_manifest one = {.n = 1, .objs = &m->objs[i]};

		if (!pw_cp_delete(d->cp, &one, NULL))
			fp_del(d, m->objs[i].kind, pw_object_namespace(&m->objs[i]),
			       pw_object_name(&m->objs[i]));
	}
}

/*
 * Read the journal's records (and their object keys); replay: apply them to the core too.
 * Without replay, the keys come from d->jcache when it holds them all.
 */
int journal_load(struct daemon *d, bool replay, struct jrec **out, size_t *n_out)
{
	bool cached = !replay && d->jcache_ok && d->n_jcache == d->journal_records;
	struct pw_linebuf lb;
	struct jrec *v = NULL;
	size_t n = 0;
	unsigned int bad = 0;
	int fd, err;

	*out = NULL;
	*n_out = 0;
	fd = open(d->journal, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		if (err != -ENOENT)
			dlog(PW_LOG_ERROR, "state: cannot read %s: %s", d->journal, strerror(-err));
		return err == -ENOENT ? 0 : err;
	}
	pw_linebuf_init(&lb, PW_PROTO_MAX_LINE);
	for (;;) {
		struct pw_diags diags = {0};
		struct pw_manifest *m = NULL;
		json_object *rec = NULL;
		struct jrec *r, *nv;
		enum pw_op op;

		err = pw_proto_read(fd, &lb, &rec);
		if (err == -ENODATA)
			break;
		if (err) {
			/* a torn last line (crash while appending) was never acknowledged */
			dlog(PW_LOG_WARN, "state: %s: stopping at a damaged record: %s", d->journal,
			     strerror(-err));
			break;
		}
		if (cached && n < d->n_jcache && !pw_op_parse(pw_json_str(rec, "op"), &op) &&
		    op == d->jcache[n].op) {
			/* known keys: the record's manifests are not parsed again */
			nv = realloc(v, (n + 1) * sizeof(*v));
			if (!nv) {
				json_object_put(rec);
				break;
			}
			v = nv;
			v[n] = d->jcache[n];
			v[n].rec = rec;
			d->jcache[n].keys = NULL; /* moved; the cache is rebuilt by compaction */
			d->jcache[n].strs = NULL;
			d->jcache[n].n_keys = 0;
			n++;
			continue;
		}
		if (pw_op_parse(pw_json_str(rec, "op"), &op) ||
		    (op != PW_OP_APPLY && op != PW_OP_DELETE) ||
		    parse_docs(pw_json_array(rec, "docs"), &m, &diags)) {
			bad++;
			log_diags(&diags, "state");
			pw_diags_clear(&diags);
			json_object_put(rec);
			continue;
		}
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv) {
			json_object_put(rec);
			pw_manifest_free(m);
			break;
		}
		v = nv;
		r = &v[n++];
		memset(r, 0, sizeof(*r));
		r->op = op;
		r->rec = rec;
		if (jrec_keys(r, m))
			r->op = PW_OP_COUNT; /* no keys known: never kept, never matched */
		if (!replay) {
			/* nothing */
		} else if (op == PW_OP_APPLY) {
			size_t cnt = m->n;
			struct snap *s = snapshot(d, m, false);

			err = pw_cp_apply(d->cp, "cli", m, &diags);
			if (!err && s)
				snap_commit(d, s, cnt, false);
			bad += err != 0;
			snap_free(s, cnt);
		} else {
			replay_delete(d, m);
		}
		log_diags(&diags, "state");
		pw_diags_clear(&diags);
		pw_manifest_free(m);
	}
	pw_linebuf_free(&lb);
	close(fd);
	if (cached)
		journal_cache_drop(d); /* its keys moved to v */
	d->journal_records = n;
	if (replay && (n || bad))
		dlog(bad ? PW_LOG_WARN : PW_LOG_INFO, "state: replayed %zu CLI changes from %s%s",
		     n, d->journal, bad ? " (some failed, see above)" : "");
	*out = v;
	*n_out = n;
	return 0;
}

/* Whether the core holds the object with the CLI as its last writer. */
static bool live_cli(struct daemon *d, const struct jkey *k)
{
	const char *src = pw_cp_object_source(d->cp, k->kind, k->ns, k->name);

	return src && !strcmp(src, "cli");
}

static json_object *synth_delete_docs(const struct jkey *keys, size_t n)
{
	json_object *docs = json_object_new_array();

	for (size_t i = 0; docs && i < n; i++) {
		json_object *doc = json_object_new_object();
		char *text = NULL;
		int r;

		/* names are DNS labels and subdomains: nothing to quote */
		if (keys[i].kind == PW_KIND_NAMESPACE)
			r = asprintf(&text,
				     "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n",
				     keys[i].name);
		else if (keys[i].kind == PW_KIND_POD)
			r = asprintf(&text,
				     "apiVersion: v1\nkind: Pod\nmetadata:\n  namespace: %s\n"
				     "  name: %s\n",
				     keys[i].ns, keys[i].name);
		else if (keys[i].kind == PW_KIND_SERVICE)
			r = asprintf(&text,
				     "apiVersion: v1\nkind: Service\nmetadata:\n  namespace: %s\n"
				     "  name: %s\nspec:\n  clusterIP: None\n",
				     keys[i].ns, keys[i].name);
		else if (keys[i].kind == PW_KIND_EPSLICE)
			/* the label and addressType a slice needs to parse; delete matches names */
			r = asprintf(&text,
				     "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
				     "metadata:\n  namespace: %s\n  name: %s\n  labels:\n"
				     "    kubernetes.io/service-name: x\naddressType: IPv4\n",
				     keys[i].ns, keys[i].name);
		else
			r = asprintf(&text,
				     "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
				     "metadata:\n  namespace: %s\n  name: %s\nspec:\n  "
				     "podSelector: {}\n",
				     keys[i].ns, keys[i].name);
		if (r < 0 || !doc) {
			json_object_put(doc);
			json_object_put(docs);
			return NULL;
		}
		json_object_object_add(doc, "name", json_object_new_string("<journal compaction>"));
		json_object_object_add(doc, "data", json_object_new_string(text));
		free(text);
		json_object_array_add(docs, doc);
	}
	return docs;
}

/*
 * The cache after a compaction: the records of v the file now holds (every one when all, else
 * the kept ones; their keys move out of v), then the delete record of extra, if any.
 */
static void jcache_rebuild(struct daemon *d, struct jrec *v, size_t n, bool all,
			   const struct jkey *extra, size_t n_extra)
{
	struct jrec *c;
	size_t k = 0;

	journal_cache_drop(d);
	c = calloc(n + 2, sizeof(*c));
	if (!c)
		return;
	for (size_t i = 0; i < n; i++) {
		if (!all && !v[i].keep)
			continue;
		c[k].op = v[i].op;
		c[k].keys = v[i].keys;
		c[k].strs = v[i].strs;
		c[k++].n_keys = v[i].n_keys;
		v[i].keys = NULL;
		v[i].strs = NULL;
		v[i].n_keys = 0;
	}
	d->jcache = c;
	d->n_jcache = k;
	if (n_extra) {
		struct jrec *r = &c[d->n_jcache++];

		r->op = PW_OP_DELETE;
		r->keys = calloc(n_extra, sizeof(*r->keys));
		for (size_t e = 0; r->keys && e < n_extra; e++) {
			r->keys[e].kind = extra[e].kind;
			r->keys[e].ns = extra[e].ns ? strdup(extra[e].ns) : NULL;
			r->keys[e].name = strdup(extra[e].name);
			r->n_keys++;
			if (!r->keys[e].name || (extra[e].ns && !r->keys[e].ns))
				return; /* not ok: dropped at the next use */
		}
		if (!r->keys)
			return;
	}
	d->jcache_ok = true;
}

/*
 * Keep each apply record that is the last CLI writer of an object the CLI still owns, the
 * deletes that follow a kept apply of an object they remove, and end with one delete of
 * whatever the kept records would re-create that is gone now (its owner moved to a manifest
 * file, or the object went). Replaying the result gives the CLI's objects as they are now.
 */
void journal_compact(struct daemon *d, struct jrec *v, size_t n)
{
	size_t kept = 0, n_extra = 0;
	struct jkey *extra = NULL;
	json_object *extra_docs = NULL;
	char tmp[PATH_MAX + 8];
	int fd = -1, err = 0;

	for (size_t i = 0; i < n; i++) {
		if (v[i].op != PW_OP_APPLY)
			continue;
		for (size_t j = 0; j < v[i].n_keys && !v[i].keep; j++) {
			const struct jkey *k = &v[i].keys[j];
			bool later = false;

			for (size_t l = i + 1; l < n && !later; l++)
				later = v[l].op == PW_OP_APPLY && jrec_has(&v[l], k);
			if (!later && live_cli(d, k))
				v[i].keep = true;
		}
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t l = 0; v[i].op == PW_OP_DELETE && l < i && !v[i].keep; l++) {
			for (size_t j = 0; v[l].keep && v[l].op == PW_OP_APPLY && j < v[i].n_keys;
			     j++)
				v[i].keep |= jrec_has(&v[l], &v[i].keys[j]);
		}
		kept += v[i].keep;
	}
	/* what replaying the kept records would leave that the CLI no longer owns */
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; v[i].keep && v[i].op == PW_OP_APPLY && j < v[i].n_keys; j++) {
			const struct jkey *k = &v[i].keys[j];
			bool removed = false, dup = false;
			struct jkey *nv;

			for (size_t l = i + 1; l < n && !removed; l++)
				removed = v[l].keep && jrec_has(&v[l], k);
			for (size_t e = 0; e < n_extra && !dup; e++)
				dup = jkey_eq(&extra[e], k);
			if (removed || dup || live_cli(d, k))
				continue;
			nv = realloc(extra, (n_extra + 1) * sizeof(*nv));
			if (!nv) {
				err = -ENOMEM;
				goto out;
			}
			extra = nv;
			extra[n_extra++] = *k; /* borrowed strings */
		}
	}
	if (kept == n && !n_extra) {
		jcache_rebuild(d, v, n, true, NULL, 0);
		goto out; /* nothing to gain */
	}
	if (n_extra && !(extra_docs = synth_delete_docs(extra, n_extra))) {
		err = -ENOMEM;
		goto out;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp", d->journal);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	for (size_t i = 0; i < n && !err; i++) {
		if (v[i].keep)
			err = journal_write_line(fd, v[i].op, pw_json_array(v[i].rec, "docs"));
	}
	if (!err && extra_docs)
		err = journal_write_line(fd, PW_OP_DELETE, extra_docs);
	if (!err && fsync(fd))
		err = -errno;
	close(fd);
	fd = -1;
	/* the rename is the commit: a crash before it leaves the old journal whole */
	if (!err && rename(tmp, d->journal))
		err = -errno;
	if (err) {
		unlink(tmp);
		goto out;
	}
	d->journal_records = kept + (extra_docs != NULL);
	jcache_rebuild(d, v, n, false, extra, n_extra);
	dlog(PW_LOG_INFO, "state: journal compacted from %zu to %zu records", n,
	     d->journal_records);
out:
	if (err)
		dlog(PW_LOG_WARN, "state: cannot compact %s: %s (it stays as it was)", d->journal,
		     strerror(-err));
	json_object_put(extra_docs);
	free(extra);
}

/* Compact at run time too once the journal has grown well past its compacted size. */
void journal_maybe_compact(struct daemon *d)
{
	struct jrec *v = NULL;
	size_t n = 0;

	bool cached;

	if (!d->journal[0] || d->journal_records < 2 * d->journal_base + 256)
		return;
	cached = d->jcache_ok && d->n_jcache == d->journal_records;
	if (cached)
		dlog(PW_LOG_INFO,
		     "state: compacting the journal from the object keys kept of its %zu records "
		     "(no manifest parsed again)",
		     d->n_jcache);
	if (journal_load(d, false, &v, &n) == 0)
		journal_compact(d, v, n);
	jrecs_free(v, n);
	d->journal_base = d->journal_records;
	/* the records just read hold the whole cluster: give their pages back (clients.c) */
	malloc_trim(0);
}
