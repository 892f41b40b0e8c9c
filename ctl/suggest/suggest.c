// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* podwall suggest: observed flows -> NetworkPolicies (see suggest.h for the rules). */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowfilter.h"
#include "suggest.h"

#define DIR_INGRESS 0
#define DIR_EGRESS  1

/* a run of at least this many consecutive ports becomes port + endPort */
#define PORT_RUN_MIN 3

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

/* labels whose value names the workload, most specific first */
static const char *const name_labels[] = {
	"app.kubernetes.io/name", "app", "k8s-app", "name", "component", "run", NULL,
};

struct workload {
	char *ns;
	char *key;	       /* "k=v\n..." sorted: the identity of the workload in its ns */
	struct pw_labels labels; /* without per-replica labels */
	char *hint;	       /* the first pod name seen, for naming */
	char *name;	       /* the policy's name, set by build */
};

enum peer_kind { PEER_POD, PEER_ADDR };

struct sg_entry {
	struct workload *w; /* the subject */
	uint8_t dir;
	uint8_t pkind;
	struct workload *peer; /* PEER_POD */
	struct pw_addr addr;   /* PEER_ADDR */
	uint8_t proto;
	uint16_t port;	  /* 0 with all */
	bool all;	  /* a protocol without ports: the peer on every port */
	char *pname;	  /* the destination pods' name for the port, when all agree */
	bool pname_mixed; /* some observed destination pod names it otherwise, or not at all */
};

struct podports {
	char *key; /* "ns/name" */
	size_t n;
	struct pw_container_port *ports;
};

struct pw_suggest {
	struct pw_suggest_opts opts;
	struct pw_suggest_stats st;
	void *wl_tree, *ent_tree, *pod_tree;
	struct workload **wls;
	size_t n_wls, cap_wls;
	struct sg_entry **ents;
	size_t n_ents, cap_ents;
	void *unl_tree; /* "ns/pod" of subject pods without labels: no policy can select them */
	char **unl;
	size_t n_unl, cap_unl;
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

static int wl_cmp(const void *a, const void *b)
{
	const struct workload *x = a, *y = b;
	int c = strcmp(x->ns, y->ns);

	return c ? c : strcmp(x->key, y->key);
}

static int addr_cmp(const struct pw_addr *a, const struct pw_addr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->a, b->a, sizeof(a->a));
}

/* the identity of an entry: everything but the port name */
static int ent_cmp(const void *a, const void *b)
{
	const struct sg_entry *x = a, *y = b;
	int c;

	if ((c = wl_cmp(x->w, y->w)))
		return c;
	if (x->dir != y->dir)
		return x->dir < y->dir ? -1 : 1;
	if (x->pkind != y->pkind)
		return x->pkind < y->pkind ? -1 : 1;
	c = x->pkind == PEER_POD ? wl_cmp(x->peer, y->peer) : addr_cmp(&x->addr, &y->addr);
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
	found = tsearch(w, &s->wl_tree, wl_cmp);
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
		tdelete(w, &s->wl_tree, wl_cmp);
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
	found = tsearch(e, &s->ent_tree, ent_cmp);
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
		tdelete(e, &s->ent_tree, ent_cmp);
		free(e);
		return -ENOMEM;
	}
	if (pname && !(e->pname = strdup(pname))) {
		tdelete(e, &s->ent_tree, ent_cmp);
		free(e);
		return -ENOMEM;
	}
	/* the first sight without a name also decides: a later name cannot be trusted alone */
	e->pname_mixed = !pname;
	s->ents[s->n_ents++] = e;
	return 0;
}

static json_object *member(json_object *o, const char *key)
{
	json_object *v = NULL;

	return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static const char *member_str(json_object *o, const char *key)
{
	json_object *v = member(o, key);

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
	json_object *ep = member(rec, side), *ip = member(rec, "IP");
	const char *a = member_str(ip, ipkey);

	memset(e, 0, sizeof(*e));
	if (!json_object_is_type(ep, json_type_object)) {
		snprintf(msg, msglen, "no \"%s\" object", side);
		return -EINVAL;
	}
	e->ns = member_str(ep, "namespace");
	e->pod_name = member_str(ep, "pod_name");
	e->labels = member(ep, "labels");
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

static int strpp_cmp(const void *a, const void *b)
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
	pr = member(rec, "ip_protocol");
	if (!pr || !json_object_is_type(pr, json_type_int) || json_object_get_int(pr) < 0 ||
	    json_object_get_int(pr) > 255) {
		s->st.unusable++;
		return bad(msg, msglen, "no \"ip_protocol\" number");
	}
	tmpl.proto = (uint8_t)json_object_get_int(pr);
	l4 = member(rec, "l4");
	if (tmpl.proto == IPPROTO_TCP || tmpl.proto == IPPROTO_UDP || tmpl.proto == IPPROTO_SCTP) {
		json_object *x = member(l4, pw_ipproto_str(tmpl.proto));
		json_object *dp = member(x, "destination_port");
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

/* --- building -------------------------------------------------------------------------------- */

static int ent_sort(const void *a, const void *b)
{
	return ent_cmp(*(struct sg_entry *const *)a, *(struct sg_entry *const *)b);
}

static int wl_sort(const void *a, const void *b)
{
	return wl_cmp(*(struct workload *const *)a, *(struct workload *const *)b);
}

/* "web-5d8f7c9b4-x2x9q" -> "web": ReplicaSet hash and pod suffix, or a StatefulSet ordinal */
static void strip_pod_suffix(char *n)
{
	for (int i = 0; i < 2; i++) {
		char *dash = strrchr(n, '-');
		size_t len;
		bool alnum = true, digits = true;

		if (!dash || dash == n)
			return;
		len = strlen(dash + 1);
		for (const char *p = dash + 1; *p; p++) {
			alnum &= isalnum((unsigned char)*p) != 0;
			digits &= isdigit((unsigned char)*p) != 0;
		}
		if (!alnum || !len || !((len == 5) || (len >= 8 && len <= 10) || digits))
			return;
		*dash = 0;
		if (digits)
			return;
	}
}

static char *base_name(const struct workload *w)
{
	const char *v = NULL;
	char *n, *o;

	for (int i = 0; name_labels[i] && !v; i++)
		v = pw_labels_get(&w->labels, name_labels[i]);
	if (!v)
		v = w->hint ? w->hint : "workload";
	n = malloc(strlen(v) + sizeof("suggested-"));
	if (!n)
		return NULL;
	o = n + sprintf(n, "suggested-");
	for (const char *p = v; *p && o - n < 200; p++)
		*o++ = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '-';
	*o = 0;
	if (!pw_labels_get(&w->labels, "app") && !pw_labels_get(&w->labels, "k8s-app") &&
	    v == w->hint)
		strip_pod_suffix(n + strlen("suggested-"));
	for (o = n + strlen(n); o > n && !isalnum((unsigned char)o[-1]);)
		*--o = 0;
	return n;
}

/* the first workload of a namespace keeps the base name, later ones get -2, -3, ... */
static bool name_taken(struct pw_suggest *s, size_t upto, const char *ns, const char *name)
{
	for (size_t j = 0; j < upto; j++) {
		if (!strcmp(s->wls[j]->ns, ns) && !strcmp(s->wls[j]->name, name))
			return true;
	}
	return false;
}

static int name_workloads(struct pw_suggest *s)
{
	for (size_t i = 0; i < s->n_wls; i++) {
		struct workload *w = s->wls[i];
		char *base = base_name(w), *n;

		if (!base)
			return -ENOMEM;
		n = strdup(base);
		for (unsigned int k = 2; n && name_taken(s, i, w->ns, n); k++) {
			free(n);
			if (asprintf(&n, "%s-%u", base, k) < 0)
				n = NULL;
		}
		free(base);
		if (!n)
			return -ENOMEM;
		free(w->name); /* a second build names them again */
		w->name = n;
	}
	return 0;
}

static json_object *match_labels(const struct pw_labels *l)
{
	json_object *ml = json_object_new_object(), *sel = json_object_new_object();

	for (size_t i = 0; ml && i < l->n; i++)
		json_object_object_add(ml, l->v[i].key, json_object_new_string(l->v[i].value));
	json_object_object_add(sel, "matchLabels", ml);
	return sel;
}

static json_object *pod_peer(const struct workload *p)
{
	json_object *peer = json_object_new_object(), *nsl = json_object_new_object();

	json_object_object_add(peer, "podSelector", match_labels(&p->labels));
	json_object_object_add(nsl, PW_LABEL_NS_NAME, json_object_new_string(p->ns));
	json_object *nss = json_object_new_object();

	json_object_object_add(nss, "matchLabels", nsl);
	json_object_object_add(peer, "namespaceSelector", nss);
	return peer;
}

struct portref {
	uint8_t proto;
	uint16_t port;
	const char *name;
};

static int portref_cmp(const void *a, const void *b)
{
	const struct portref *x = a, *y = b;

	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	if (!x->name != !y->name) /* named ports after numbered ones */
		return x->name ? 1 : -1;
	if (x->name)
		return strcmp(x->name, y->name);
	return x->port < y->port ? -1 : x->port > y->port;
}

/* the ports of entries [i, j); NULL when one of them allows every port */
static json_object *ports_json(struct sg_entry **e, size_t i, size_t j, bool dns_both)
{
	struct portref *v = calloc((j - i) * 2 + 1, sizeof(*v));
	json_object *arr;
	size_t n = 0;

	if (!v)
		return NULL;
	for (size_t k = i; k < j; k++) {
		if (e[k]->all) {
			free(v);
			return NULL;
		}
		v[n++] = (struct portref){e[k]->proto, e[k]->port,
					  e[k]->pname_mixed ? NULL : e[k]->pname};
		if (dns_both && e[k]->port == 53 &&
		    (e[k]->proto == IPPROTO_UDP || e[k]->proto == IPPROTO_TCP))
			v[n++] = (struct portref){
				e[k]->proto == IPPROTO_UDP ? IPPROTO_TCP : IPPROTO_UDP, 53, NULL};
	}
	qsort(v, n, sizeof(*v), portref_cmp);
	/* DNS adds what may be there already */
	for (size_t k = 1, o = 1; k <= n; k++) {
		if (k == n) {
			n = o;
			break;
		}
		if (portref_cmp(&v[o - 1], &v[k]))
			v[o++] = v[k];
	}
	arr = json_object_new_array();
	for (size_t k = 0, last; arr && k < n; k = last + 1) {
		json_object *p = json_object_new_object();

		json_object_object_add(p, "protocol", json_object_new_string(pw_ipproto_str(v[k].proto)));
		last = k;
		if (v[k].name) {
			json_object_object_add(p, "port", json_object_new_string(v[k].name));
			json_object_array_add(arr, p);
			continue;
		}
		/* consecutive numbers of one protocol: one range */
		while (last + 1 < n && !v[last + 1].name && v[last + 1].proto == v[k].proto &&
		       v[last + 1].port == v[last].port + 1)
			last++;
		if (last - k + 1 < PORT_RUN_MIN)
			last = k;
		json_object_object_add(p, "port", json_object_new_int(v[k].port));
		if (last > k)
			json_object_object_add(p, "endPort", json_object_new_int(v[last].port));
		json_object_array_add(arr, p);
	}
	free(v);
	return arr;
}

/* signature of a port list, to group outside addresses that share one */
static char *ports_sig(json_object *ports)
{
	return strdup(ports ? json_object_to_json_string_ext(ports, JSON_C_TO_STRING_PLAIN) : "*");
}

struct addrgroup {
	char *sig;
	json_object *ports;
	struct pw_prefix *pfx;
	size_t n;
};

static int prefix_cmp(const void *a, const void *b)
{
	const struct pw_prefix *x = a, *y = b;
	int c;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	c = memcmp(x->a, y->a, sizeof(x->a));
	if (c)
		return c;
	return x->prefixlen < y->prefixlen ? -1 : x->prefixlen > y->prefixlen;
}

/* Fewest prefixes holding exactly the given ones: merge sibling pairs until none is left. */
static size_t aggregate(struct pw_prefix *p, size_t n)
{
	bool merged = true;

	while (merged) {
		size_t o = 0;

		merged = false;
		qsort(p, n, sizeof(*p), prefix_cmp);
		for (size_t i = 0; i < n; i++) {
			if (o && !prefix_cmp(&p[o - 1], &p[i]))
				continue; /* duplicate */
			if (o && p[o - 1].family == p[i].family &&
			    p[o - 1].prefixlen == p[i].prefixlen && p[i].prefixlen > 0) {
				struct pw_prefix a, b;
				struct pw_addr x = {.family = p[o - 1].family},
					       y = {.family = p[i].family};

				memcpy(x.a, p[o - 1].a, sizeof(x.a));
				memcpy(y.a, p[i].a, sizeof(y.a));
				pw_prefix_of_addr(&x, p[i].prefixlen - 1u, &a);
				pw_prefix_of_addr(&y, p[i].prefixlen - 1u, &b);
				if (!prefix_cmp(&a, &b)) {
					p[o - 1] = a;
					merged = true;
					continue;
				}
			}
			p[o++] = p[i];
		}
		n = o;
	}
	return n;
}

static int addr_rules(struct pw_suggest *s, struct sg_entry **e, size_t i, size_t j,
		      json_object *rules, const char *peer_key)
{
	struct addrgroup *g = calloc(j - i + 1, sizeof(*g));
	size_t ng = 0;
	int err = -ENOMEM;

	if (!g)
		return -ENOMEM;
	/* one address at a time: entries [a, b) share it */
	for (size_t a = i, b; a < j; a = b) {
		json_object *ports;
		struct addrgroup *grp = NULL;
		struct pw_prefix pfx;
		char *sig;

		for (b = a + 1; b < j && !addr_cmp(&e[a]->addr, &e[b]->addr); b++)
			;
		ports = ports_json(e, a, b, false);
		sig = ports_sig(ports);
		if (!sig) {
			json_object_put(ports);
			goto out;
		}
		for (size_t k = 0; k < ng && !grp; k++) {
			if (!strcmp(g[k].sig, sig))
				grp = &g[k];
		}
		if (grp) {
			free(sig);
			json_object_put(ports);
		} else {
			grp = &g[ng++];
			grp->sig = sig;
			grp->ports = ports;
			grp->pfx = calloc(j - i, sizeof(*grp->pfx));
			if (!grp->pfx)
				goto out;
		}
		pw_prefix_of_addr(&e[a]->addr,
				  e[a]->addr.family == PW_FAMILY_V4 ? s->opts.v4_prefix
								    : s->opts.v6_prefix,
				  &pfx);
		grp->pfx[grp->n++] = pfx;
	}
	for (size_t k = 0; k < ng; k++) {
		json_object *rule = json_object_new_object(), *peers = json_object_new_array();
		size_t n = aggregate(g[k].pfx, g[k].n);

		for (size_t q = 0; q < n; q++) {
			char buf[PW_PREFIX_STRLEN];
			json_object *peer = json_object_new_object(), *ib = json_object_new_object();

			json_object_object_add(
				ib, "cidr",
				json_object_new_string(pw_prefix_str(&g[k].pfx[q], buf, sizeof(buf))));
			json_object_object_add(peer, "ipBlock", ib);
			json_object_array_add(peers, peer);
		}
		json_object_object_add(rule, peer_key, peers);
		if (g[k].ports) {
			json_object_object_add(rule, "ports", g[k].ports);
			g[k].ports = NULL;
		}
		json_object_array_add(rules, rule);
	}
	err = 0;
out:
	for (size_t k = 0; k < ng; k++) {
		free(g[k].sig);
		free(g[k].pfx);
		json_object_put(g[k].ports);
	}
	free(g);
	return err;
}

/* the rules of one direction of one workload: entries [i, j) */
static int rules_json(struct pw_suggest *s, struct sg_entry **e, size_t i, size_t j, uint8_t dir,
		      json_object **out)
{
	const char *peer_key = dir == DIR_INGRESS ? "from" : "to";
	json_object *rules = json_object_new_array();
	size_t a = i, b;
	int err = 0;

	if (!rules)
		return -ENOMEM;
	/* pod peers first (PEER_POD sorts first), one rule per peer workload */
	for (; a < j && e[a]->pkind == PEER_POD; a = b) {
		json_object *rule = json_object_new_object(), *peers = json_object_new_array(),
			    *ports;

		for (b = a + 1; b < j && e[b]->pkind == PEER_POD && e[b]->peer == e[a]->peer; b++)
			;
		json_object_array_add(peers, pod_peer(e[a]->peer));
		json_object_object_add(rule, peer_key, peers);
		ports = ports_json(e, a, b, dir == DIR_EGRESS);
		if (ports)
			json_object_object_add(rule, "ports", ports);
		json_object_array_add(rules, rule);
	}
	if (a < j)
		err = addr_rules(s, e, a, j, rules, peer_key);
	if (err) {
		json_object_put(rules);
		return err;
	}
	*out = rules;
	return 0;
}

static json_object *policy_json(const struct workload *w)
{
	json_object *np = json_object_new_object(), *md = json_object_new_object(),
		    *labels = json_object_new_object(), *spec = json_object_new_object(),
		    *types = json_object_new_array();

	json_object_object_add(np, "apiVersion", json_object_new_string("networking.k8s.io/v1"));
	json_object_object_add(np, "kind", json_object_new_string("NetworkPolicy"));
	json_object_object_add(md, "name", json_object_new_string(w->name));
	json_object_object_add(md, "namespace", json_object_new_string(w->ns));
	json_object_object_add(labels, "app.kubernetes.io/managed-by",
			       json_object_new_string("podwall-suggest"));
	json_object_object_add(md, "labels", labels);
	json_object_object_add(np, "metadata", md);
	json_object_object_add(spec, "podSelector", match_labels(&w->labels));
	json_object_array_add(types, json_object_new_string("Ingress"));
	json_object_array_add(types, json_object_new_string("Egress"));
	json_object_object_add(spec, "policyTypes", types);
	json_object_object_add(np, "spec", spec);
	return np;
}

int pw_suggest_build(struct pw_suggest *s, json_object **out, pw_suggest_warn_fn warn, void *ctx)
{
	json_object *arr = json_object_new_array();
	size_t i = 0;
	int err;

	if (!arr)
		return -ENOMEM;
	if (s->n_unl > 1) /* NULL when empty: qsort needs an array (UBSan) */
		qsort(s->unl, s->n_unl, sizeof(*s->unl), strpp_cmp);
	for (size_t u = 0; warn && u < s->n_unl; u++) {
		char msg[600];

		snprintf(msg, sizeof(msg),
			 "pod %s has no labels: no policy can select it alone (give its workload "
			 "labels); its flows are left out",
			 s->unl[u]);
		warn(ctx, msg);
	}
	if (s->n_wls > 1)
		qsort(s->wls, s->n_wls, sizeof(*s->wls), wl_sort);
	if (s->n_ents > 1)
		qsort(s->ents, s->n_ents, sizeof(*s->ents), ent_sort);
	err = name_workloads(s);
	if (err)
		goto fail;
	for (size_t w = 0; w < s->n_wls; w++) {
		struct workload *wl = s->wls[w];
		json_object *np, *spec, *rules[2] = {NULL, NULL};

		if (s->opts.ns && strcmp(s->opts.ns, wl->ns))
			continue; /* a peer only */
		/* entries are sorted by workload as the workloads are */
		while (i < s->n_ents && wl_cmp(s->ents[i]->w, wl) < 0)
			i++;
		for (uint8_t d = DIR_INGRESS; d <= DIR_EGRESS; d++) {
			size_t j = i;

			while (j < s->n_ents && s->ents[j]->w == wl && s->ents[j]->dir == d)
				j++;
			err = rules_json(s, s->ents, i, j, d, &rules[d]);
			if (err) {
				json_object_put(rules[0]);
				goto fail;
			}
			i = j;
		}
		np = policy_json(wl);
		spec = member(np, "spec");
		json_object_object_add(spec, "ingress", rules[DIR_INGRESS]);
		json_object_object_add(spec, "egress", rules[DIR_EGRESS]);
		json_object_array_add(arr, np);
	}
	*out = arr;
	return 0;
fail:
	json_object_put(arr);
	return err;
}
