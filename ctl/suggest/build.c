// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* podwall suggest: the policies built from the observed entries (suggest.h). */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suggest_int.h"

/* labels whose value names the workload, most specific first */
static const char *const name_labels[] = {
	"app.kubernetes.io/name", "app", "k8s-app", "name", "component", "run", NULL,
};

/* --- building -------------------------------------------------------------------------------- */

static int ent_sort(const void *a, const void *b)
{
	return sg_ent_cmp(*(struct sg_entry *const *)a, *(struct sg_entry *const *)b);
}

static int wl_sort(const void *a, const void *b)
{
	return sg_wl_cmp(*(struct workload *const *)a, *(struct workload *const *)b);
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

		for (b = a + 1; b < j && !sg_addr_cmp(&e[a]->addr, &e[b]->addr); b++)
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
		qsort(s->unl, s->n_unl, sizeof(*s->unl), sg_strpp_cmp);
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
		while (i < s->n_ents && sg_wl_cmp(s->ents[i]->w, wl) < 0)
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
		spec = sg_member(np, "spec");
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
