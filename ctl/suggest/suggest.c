// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwall suggest: observed flows -> NetworkPolicies (see suggest.h for the rules). This file:
 * the state, the pods' named ports and the flow records read into entries; build.c builds.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowfilter.h"
#include "suggest_int.h"

/*
 * Labels that differ between replicas of one workload (set by the Deployment, StatefulSet,
 * DaemonSet and Job controllers): a policy naming them would select one replica.
 */
static const char *const per_replica_labels[] = {
	"pod-template-hash",
	"controller-revision-hash",
	"pod-template-generation",
	"statefulset.kubernetes.io/pod-name",
	"apps.kubernetes.io/pod-index",
	"batch.kubernetes.io/controller-uid",
	"controller-uid",
	"batch.kubernetes.io/job-completion-index",
	NULL,
};

static int grow(void *arr, size_t *cap, size_t n, size_t elem)
{
	void **a = arr, *na;
	size_t nc;

	if (n < *cap)
		return 0;
	nc = *cap ? *cap * 2 : 64;
	na = realloc(*a, nc * elem);
	if (!na)
		return -ENOMEM;
	*a = na;
	*cap = nc;
	return 0;
}

static int cmp_str_null(const char *a, const char *b)
{
	if (!a || !b)
		return (a != NULL) - (b != NULL);
	return strcmp(a, b);
}

int sg_wl_cmp(const void *a, const void *b)
{
	const struct workload *x = a, *y = b;
	int c = strcmp(x->ns, y->ns);

	return c ? c : strcmp(x->key, y->key);
}

int sg_addr_cmp(const struct pw_addr *a, const struct pw_addr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->a, b->a, sizeof(a->a));
}

/* the identity of an entry: everything but the port name */
int sg_ent_cmp(const void *a, const void *b)
{
	const struct sg_entry *x = a, *y = b;
	int c;

	if ((c = sg_wl_cmp(x->w, y->w)))
		return c;
	if (x->dir != y->dir)
		return x->dir < y->dir ? -1 : 1;
	if (x->pkind != y->pkind)
		return x->pkind < y->pkind ? -1 : 1;
	c = x->pkind == PEER_POD ? sg_wl_cmp(x->peer, y->peer) : sg_addr_cmp(&x->addr, &y->addr);
	if (c)
		return c;
	if (x->all != y->all)
		return x->all ? -1 : 1;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	return x->port < y->port ? -1 : x->port > y->port;
}

static int pod_cmp(const void *a, const void *b)
{
	return strcmp(((const struct podports *)a)->key, ((const struct podports *)b)->key);
}

int pw_suggest_new(const struct pw_suggest_opts *opts, struct pw_suggest **out)
{
	struct pw_suggest *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	if (opts)
		memcpy(&s->opts, opts,
		       opts->sz && opts->sz < sizeof(s->opts) ? opts->sz : sizeof(s->opts));
	s->opts.sz = sizeof(s->opts);
	if (s->opts.ns) {
		s->opts.ns = strdup(s->opts.ns);
		if (!s->opts.ns) {
			free(s);
			return -ENOMEM;
		}
	}
	if (!s->opts.v4_prefix || s->opts.v4_prefix > 32)
		s->opts.v4_prefix = 32;
	if (!s->opts.v6_prefix || s->opts.v6_prefix > 128)
		s->opts.v6_prefix = 128;
	*out = s;
	return 0;
}

static void nofree(void *p)
{
	(void)p;
}

static void podports_free(void *p)
{
	struct podports *pp = p;

	for (size_t i = 0; i < pp->n; i++)
		free(pp->ports[i].name);
	free(pp->ports);
	free(pp->key);
	free(pp);
}

void pw_suggest_free(struct pw_suggest *s)
{
	if (!s)
		return;
	tdestroy(s->wl_tree, nofree);
	tdestroy(s->ent_tree, nofree);
	tdestroy(s->pod_tree, podports_free);
	for (size_t i = 0; i < s->n_ents; i++) {
		free(s->ents[i]->pname);
		free(s->ents[i]);
	}
	for (size_t i = 0; i < s->n_wls; i++) {
		pw_labels_clear(&s->wls[i]->labels);
		free(s->wls[i]->ns);
		free(s->wls[i]->key);
		free(s->wls[i]->hint);
		free(s->wls[i]->name);
		free(s->wls[i]);
	}
	tdestroy(s->unl_tree, nofree);
	for (size_t i = 0; i < s->n_unl; i++)
		free(s->unl[i]);
	free(s->unl);
	free(s->ents);
	free(s->wls);
	free((char *)s->opts.ns);
	free(s);
}

const struct pw_suggest_stats *pw_suggest_stats(const struct pw_suggest *s)
{
	return &s->st;
}

/* --- pods ---------------------------------------------------------------------------------- */

int pw_suggest_add_pods(struct pw_suggest *s, const struct pw_manifest *m)
{
	for (size_t i = 0; m && i < m->n; i++) {
		const struct pw_pod *pod = &m->objs[i].u.pod;
		struct podports *pp, **found;

		if (m->objs[i].kind != PW_KIND_POD)
			continue;
		pp = calloc(1, sizeof(*pp));
		if (!pp || asprintf(&pp->key, "%s/%s", pod->namespace, pod->name) < 0) {
			free(pp);
			return -ENOMEM;
		}
		pp->ports = calloc(pod->n_ports + 1, sizeof(*pp->ports));
		if (!pp->ports) {
			podports_free(pp);
			return -ENOMEM;
		}
		for (size_t j = 0; j < pod->n_ports; j++) {
			pp->ports[j] = pod->ports[j];
			pp->ports[j].name = pod->ports[j].name ? strdup(pod->ports[j].name) : NULL;
			pp->n++;
		}
		found = tsearch(pp, &s->pod_tree, pod_cmp);
		if (!found) {
			podports_free(pp);
			return -ENOMEM;
		}
		if (*found != pp) { /* the later manifest wins, as apply does */
			struct podports *old = *found;

			*found = pp;
			podports_free(old);
		}
	}
	return 0;
}

/* the name the destination pod gives (port, proto), or NULL */
static const char *port_name(struct pw_suggest *s, const char *ns, const char *pod, uint8_t proto,
			     uint16_t port)
{
	struct podports key = {0}, **pp;
	char buf[512];

	if (!ns || !pod || snprintf(buf, sizeof(buf), "%s/%s", ns, pod) >= (int)sizeof(buf))
		return NULL;
	key.key = buf;
	pp = tfind(&key, &s->pod_tree, pod_cmp);
	if (!pp)
		return NULL;
	for (size_t i = 0; i < (*pp)->n; i++) {
		const struct pw_container_port *cp = &(*pp)->ports[i];

		if (cp->port == port && cp->proto == proto && cp->name)
			return cp->name;
	}
	return NULL;
}

/* --- records ------------------------------------------------------------------------------- */

struct end {
	bool pod;
	const char *ns, *pod_name;
	json_object *labels;
	struct pw_addr addr;
	bool has_addr;
};

static bool per_replica(const char *key, size_t len)
{
	for (int i = 0; per_replica_labels[i]; i++) {
		if (strlen(per_replica_labels[i]) == len && !memcmp(per_replica_labels[i], key, len))
			return true;
	}
	return false;
}

static int label_cmp(const void *a, const void *b)
{
	const struct pw_label *x = a, *y = b;

	return strcmp(x->key, y->key);
}

/* the workload of a pod end, created on first sight; NULL with no usable label */
static int workload_of(struct pw_suggest *s, const struct end *e, struct workload **out)
{
	struct workload *w = calloc(1, sizeof(*w)), **found;
	size_t keylen = 1;
	char *p;
	int err = -ENOMEM;

	*out = NULL;
	if (!w)
		return -ENOMEM;
	for (size_t i = 0; e->labels && i < json_object_array_length(e->labels); i++) {
		const char *kv = json_object_get_string(json_object_array_get_idx(e->labels, i));
		const char *eq = kv ? strchr(kv, '=') : NULL;
		char *k;

		/* "reserved:..." and "cidr:..." are podwall's, not the pod's */
		if (!eq || eq == kv || per_replica(kv, (size_t)(eq - kv)))
			continue;
		k = strndup(kv, (size_t)(eq - kv));
		if (!k)
			goto fail;
		err = pw_labels_set(&w->labels, k, eq + 1);
		free(k);
		if (err)
			goto fail;
		err = -ENOMEM;
	}
	if (!w->labels.n) {
		err = 0; /* selectable only by address */
		goto fail;
	}
	qsort(w->labels.v, w->labels.n, sizeof(*w->labels.v), label_cmp);
	for (size_t i = 0; i < w->labels.n; i++)
		keylen += strlen(w->labels.v[i].key) + strlen(w->labels.v[i].value) + 2;
	w->key = malloc(keylen);
	w->ns = strdup(e->ns);
	if (!w->key || !w->ns)
		goto fail;
	p = w->key;
	*p = 0;
	for (size_t i = 0; i < w->labels.n; i++)
		p += sprintf(p, "%s=%s\n", w->labels.v[i].key, w->labels.v[i].value);
	found = tsearch(w, &s->wl_tree, sg_wl_cmp);
	if (!found)
		goto fail;
	if (*found != w) {
		pw_labels_clear(&w->labels);
		free(w->key);
		free(w->ns);
		free(w);
		*out = *found;
		return 0;
	}
	if (grow(&s->wls, &s->cap_wls, s->n_wls, sizeof(*s->wls))) {
		tdelete(w, &s->wl_tree, sg_wl_cmp);
		goto fail;
	}
	w->hint = e->pod_name ? strdup(e->pod_name) : NULL;
	s->wls[s->n_wls++] = w;
	*out = w;
	return 0;
fail:
	pw_labels_clear(&w->labels);
	free(w->key);
	free(w->ns);
	free(w);
	return err;
}

static int add_entry(struct pw_suggest *s, const struct sg_entry *tmpl, const char *pname)
{
	struct sg_entry *e = malloc(sizeof(*e)), **found;

	if (!e)
		return -ENOMEM;
	*e = *tmpl;
	e->pname = NULL;
	e->pname_mixed = false;
	found = tsearch(e, &s->ent_tree, sg_ent_cmp);
	if (!found) {
		free(e);
		return -ENOMEM;
	}
	if (*found != e) {
		struct sg_entry *old = *found;

		free(e);
		if (!old->pname_mixed && cmp_str_null(old->pname, pname)) {
			free(old->pname);
			old->pname = NULL;
			old->pname_mixed = true;
		}
		return 0;
	}
	if (grow(&s->ents, &s->cap_ents, s->n_ents, sizeof(*s->ents))) {
		tdelete(e, &s->ent_tree, sg_ent_cmp);
		free(e);
		return -ENOMEM;
	}
	if (pname && !(e->pname = strdup(pname))) {
		tdelete(e, &s->ent_tree, sg_ent_cmp);
		free(e);
		return -ENOMEM;
	}
	/* the first sight without a name also decides: a later name cannot be trusted alone */
	e->pname_mixed = !pname;
	s->ents[s->n_ents++] = e;
	return 0;
}

json_object *sg_member(json_object *o, const char *key)
{
	json_object *v = NULL;

	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static const char *member_str(json_object *o, const char *key)
{
	json_object *v = sg_member(o, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static int bad(char *msg, size_t len, const char *what)
{
	snprintf(msg, len, "%s", what);
	return -EINVAL;
}

static int read_end(json_object *rec, const char *side, const char *ipkey, struct end *e,
		    char *msg, size_t msglen)
{
	json_object *ep = sg_member(rec, side), *ip = sg_member(rec, "IP");
	const char *a = member_str(ip, ipkey);

	memset(e, 0, sizeof(*e));
	if (!json_object_is_type(ep, json_type_object)) {
		snprintf(msg, msglen, "no \"%s\" object", side);
		return -EINVAL;
	}
	e->ns = member_str(ep, "namespace");
	e->pod_name = member_str(ep, "pod_name");
	e->labels = sg_member(ep, "labels");
	if (e->labels && !json_object_is_type(e->labels, json_type_array)) {
		snprintf(msg, msglen, "%s.labels is not a list", side);
		return -EINVAL;
	}
	e->pod = e->ns && e->pod_name && *e->ns;
	if (a) {
		if (pw_addr_parse(a, &e->addr)) {
			snprintf(msg, msglen, "IP.%s \"%.64s\" is not an address", ipkey, a);
			return -EINVAL;
		}
		e->has_addr = true;
	}
	if (!e->pod && !e->has_addr) {
		snprintf(msg, msglen, "no address for the %s (IP.%s)", side, ipkey);
		return -EINVAL;
	}
	return 0;
}

static bool passing(const char *kind, const char *verdict)
{
	if (!verdict)
		return false;
	if (!strcmp(kind, "flow_new"))
		return !strcmp(verdict, "FORWARDED");
	if (!strcmp(kind, "audit"))
		return !strcmp(verdict, "AUDIT");
	if (!strcmp(kind, "flow_end"))
		return !strcmp(verdict, "FORWARDED") || !strcmp(verdict, "AUDIT");
	return false;
}

static int strp_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int note_unlabelled(struct pw_suggest *s, const struct end *e)
{
	char *k, **found;

	if (asprintf(&k, "%s/%s", e->ns, e->pod_name) < 0)
		return -ENOMEM;
	found = tsearch(k, &s->unl_tree, strp_cmp);
	if (!found || *found != k || grow(&s->unl, &s->cap_unl, s->n_unl, sizeof(*s->unl))) {
		if (found && *found == k)
			tdelete(k, &s->unl_tree, strp_cmp);
		free(k);
		return found ? 0 : -ENOMEM;
	}
	s->unl[s->n_unl++] = k;
	return 0;
}

int sg_strpp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* the subject's side of one flow: the entry for workload (from its end) toward the peer */
static int add_side(struct pw_suggest *s, const struct end *subj, const struct end *peer,
		    uint8_t dir, const struct sg_entry *l4, const char *pname)
{
	struct sg_entry t = *l4;
	int err;

	if (!subj->pod || (s->opts.ns && strcmp(s->opts.ns, subj->ns)))
		return 0;
	err = workload_of(s, subj, &t.w);
	if (err)
		return err;
	if (!t.w)
		return note_unlabelled(s, subj);
	t.dir = dir;
	t.pkind = PEER_ADDR;
	if (peer->pod) {
		err = workload_of(s, peer, &t.peer);
		if (err)
			return err;
		if (t.peer)
			t.pkind = PEER_POD;
	}
	if (t.pkind == PEER_ADDR) {
		if (!peer->has_addr)
			return 0;
		t.addr = peer->addr;
	}
	return add_entry(s, &t, pname);
}

int pw_suggest_add_record(struct pw_suggest *s, json_object *rec, char *msg, size_t msglen)
{
	const char *kind = member_str(rec, "kind"), *t;
	json_object *l4, *pr;
	struct end src, dst;
	struct sg_entry tmpl = {0};
	const char *pname = NULL;
	int64_t ns;
	int err;

	s->st.records++;
	if (!kind || !passing(kind, member_str(rec, "verdict"))) {
		s->st.passed_over++;
		return 0;
	}
	if (s->opts.has_since) {
		t = member_str(rec, "time");
		if (!t || pw_time_parse_rfc3339(t, &ns)) {
			s->st.unusable++;
			return bad(msg, msglen, "no RFC 3339 \"time\"");
		}
		if (ns < s->opts.since_ns) {
			s->st.passed_over++;
			return 0;
		}
	}
	if ((err = read_end(rec, "source", "source", &src, msg, msglen)) ||
	    (err = read_end(rec, "destination", "destination", &dst, msg, msglen))) {
		s->st.unusable++;
		return err;
	}
	pr = sg_member(rec, "ip_protocol");
	if (!pr || !json_object_is_type(pr, json_type_int) || json_object_get_int(pr) < 0 ||
	    json_object_get_int(pr) > 255) {
		s->st.unusable++;
		return bad(msg, msglen, "no \"ip_protocol\" number");
	}
	tmpl.proto = (uint8_t)json_object_get_int(pr);
	l4 = sg_member(rec, "l4");
	if (tmpl.proto == IPPROTO_TCP || tmpl.proto == IPPROTO_UDP || tmpl.proto == IPPROTO_SCTP) {
		json_object *x = sg_member(l4, pw_ipproto_str(tmpl.proto));
		json_object *dp = sg_member(x, "destination_port");
		int64_t port = dp && json_object_is_type(dp, json_type_int) ? json_object_get_int64(dp)
									   : -1;

		if (port < 1 || port > 65535) {
			s->st.unusable++;
			return bad(msg, msglen, "no l4 destination_port for a TCP/UDP/SCTP flow");
		}
		tmpl.port = (uint16_t)port;
		pname = port_name(s, dst.ns, dst.pod_name, tmpl.proto, tmpl.port);
	} else {
		tmpl.all = true;
		tmpl.proto = 0;
	}
	s->st.flows++;
	err = add_side(s, &src, &dst, DIR_EGRESS, &tmpl, pname);
	if (!err)
		err = add_side(s, &dst, &src, DIR_INGRESS, &tmpl, pname);
	return err;
}

