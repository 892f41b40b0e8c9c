// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * A cluster shaped like real ones rather than like a worst case: namespaces owned by teams,
 * Deployments of a few tiers whose replicas share their labels (so they share an identity),
 * some mid-rollout (two ReplicaSets, two identities), named container ports per tier, and
 * NetworkPolicies of the kinds teams write: per-namespace default deny, tier-to-tier allows by
 * podSelector, namespaceSelector and both ANDed, matchExpressions, ipBlocks with except,
 * numeric and named ports, endPort ranges, UDP.
 *
 * Everything is drawn from a seeded generator, so a run is reproducible and the smoke test
 * knows what to expect. Addresses come only from 198.18.0.0/15 and fd00::/8.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

enum tier_id { T_WEB, T_API, T_WORKER, T_DB, T_CACHE, T_DNS, T_COUNT };

struct tier_port {
	const char *name; /* NULL: an unnamed containerPort */
	uint16_t port;
	const char *proto;
};

static const struct tier {
	const char *name;
	unsigned int weight; /* how often a new Deployment has this tier */
	unsigned int n_ports;
	struct tier_port ports[2];
} tiers[T_COUNT] = {
	[T_WEB] = {"web", 3, 2, {{"http", 8080, "TCP"}, {"metrics", 9100, "TCP"}}},
	[T_API] = {"api", 4, 2, {{"grpc", 9090, "TCP"}, {"metrics", 9100, "TCP"}}},
	[T_WORKER] = {"worker", 2, 2, {{NULL, 8000, "TCP"}, {"metrics", 9100, "TCP"}}},
	[T_DB] = {"db", 1, 1, {{"pg", 5432, "TCP"}}},
	[T_CACHE] = {"cache", 1, 1, {{"redis", 6379, "TCP"}}},
	[T_DNS] = {"dns", 0, 2, {{"dns", 53, "UDP"}, {"dns-tcp", 53, "TCP"}}},
};

static const char *const env_names[] = {"prod", "staging", "dev"};

/* xorshift64*: reproducible across libcs, unlike rand() */
static uint64_t rng_state;

static uint32_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static unsigned int pick_tier(void)
{
	unsigned int total = 0, r, t;

	for (t = 0; t < T_COUNT; t++)
		total += tiers[t].weight;
	r = rnd() % total;
	for (t = 0; t < T_COUNT; t++) {
		if (r < tiers[t].weight)
			return t;
		r -= tiers[t].weight;
	}
	return T_API;
}

/* Replica counts of real clusters: mostly small, a tail of big ones (mean about 6). */
static unsigned int pick_replicas(void)
{
	unsigned int r = rnd() % 10;

	if (r < 4)
		return 1 + rnd() % 3;
	if (r < 8)
		return 4 + rnd() % 5;
	return 9 + rnd() % 12;
}

/* what kube-controller-manager derives from the pod template: one per ReplicaSet */
static void template_hash(const struct gen_app *a, unsigned int version, char *buf, size_t len)
{
	static const char alnum[] = "bcdfghjklmnpqrstvwxz2456789";
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; a->name[i]; i++)
		h = (h ^ (uint8_t)a->name[i]) * 16777619u;
	h = (h ^ a->ns) * 16777619u;
	h = (h ^ version) * 16777619u;
	for (i = 0; i + 1 < len && i < 9; i++) {
		buf[i] = alnum[h % (sizeof(alnum) - 1)];
		h = h / (sizeof(alnum) - 1) + (uint32_t)i * 2654435761u;
	}
	buf[i] = '\0';
}

uint32_t gen_pod_v4(uint32_t index)
{
	return htonl((198u << 24 | 18u << 16) + index + 1);
}

void gen_pod_v6(uint32_t index, uint32_t out[4])
{
	out[0] = htonl(0xfd000018u);
	out[1] = 0;
	out[2] = 0;
	out[3] = htonl(index + 1);
}

void gen_pod_cgroup(const struct gen *g, unsigned int pod, char *buf, size_t len)
{
	snprintf(buf, len, "pod-%u", g->pods[pod].index);
}

static int grow(void **v, unsigned int n, unsigned int *cap, size_t sz)
{
	void *nv;

	if (n < *cap)
		return 0;
	*cap = *cap ? *cap * 2 : 64;
	nv = realloc(*v, *cap * sz);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	return 0;
}

/* distinct (app, version) pairs among the pods, all of them or the local ones */
static unsigned int count_identities(const struct gen *g, bool local_only)
{
	unsigned char *seen = calloc(g->n_apps, 1);
	unsigned int i, n = 0;

	if (!seen)
		return 0;
	for (i = 0; i < g->n_pods; i++) {
		const struct gen_pod *p = &g->pods[i];
		unsigned char bit = (unsigned char)(1u << p->version);

		if (local_only && !p->local)
			continue;
		if (!(seen[p->app] & bit))
			n++;
		seen[p->app] |= bit;
	}
	free(seen);
	return n;
}

int gen_build(const struct gen_opts *o, struct gen *g)
{
	unsigned int cap_apps = 0, n, idx = 0, i, t;
	int err = 0;

	memset(g, 0, sizeof(*g));
	g->o = *o;
	if (!o->namespaces || o->pods < o->namespaces || o->local > o->pods ||
	    o->policies < o->namespaces)
		return -EINVAL;
	rng_state = o->seed ? o->seed : 0x9e3779b97f4a7c15ull;
	g->n_ns = o->namespaces;
	g->ns = calloc(g->n_ns, sizeof(*g->ns));
	g->pods = calloc(o->pods, sizeof(*g->pods));
	if (!g->ns || !g->pods) {
		err = -ENOMEM;
		goto out;
	}
	for (n = 0; n < g->n_ns; n++) {
		struct gen_ns *ns = &g->ns[n];
		unsigned int want = o->pods / g->n_ns + (n < o->pods % g->n_ns);
		unsigned int have = 0, per_tier[T_COUNT] = {0};

		snprintf(ns->name, sizeof(ns->name), "ns-%02u", n);
		ns->team = n % 8;
		ns->env = n % 5 < 3 ? 0 : n % 5 == 3 ? 1 : 2;
		ns->role = n == 0 ? "infra" : n == 1 ? "monitoring" : NULL;
		while (have < want) {
			struct gen_app *a;

			err = grow((void **)&g->apps, g->n_apps, &cap_apps, sizeof(*g->apps));
			if (err)
				goto out;
			a = &g->apps[g->n_apps];
			memset(a, 0, sizeof(*a));
			a->ns = n;
			if (n == 0 && have == 0) {
				a->tier = T_DNS;
				snprintf(a->name, sizeof(a->name), "dns");
				a->replicas = 2;
			} else if (n == 1 && have == 0) {
				a->tier = T_WORKER;
				snprintf(a->name, sizeof(a->name), "prometheus");
				a->replicas = 2;
			} else {
				a->tier = pick_tier();
				snprintf(a->name, sizeof(a->name), "%s-%u", tiers[a->tier].name,
					 per_tier[a->tier]++);
				a->replicas = pick_replicas();
				a->rollout = a->replicas >= 2 && rnd() % 5 == 0;
			}
			if (a->replicas > want - have)
				a->replicas = want - have;
			for (i = 0; i < a->replicas; i++) {
				struct gen_pod *p = &g->pods[idx];
				char hash[16];

				p->ns = n;
				p->app = g->n_apps;
				p->version = a->rollout && i >= a->replicas / 2 ? 2 : 1;
				p->index = idx;
				/* exactly o->local pods, spread evenly over the cluster */
				p->local = (uint64_t)(idx + 1) * o->local / o->pods >
					   (uint64_t)idx * o->local / o->pods;
				template_hash(a, p->version, hash, sizeof(hash));
				snprintf(p->name, sizeof(p->name), "%s-%s-%05x", a->name, hash,
					 idx & 0xfffff);
				idx++;
			}
			have += a->replicas;
			g->n_apps++;
		}
	}
	g->n_pods = idx;

	/* the change-latency targets: a local api pod (several policies select it) if any */
	g->toggle_pod = UINT32_MAX;
	for (t = 0; t < 2 && g->toggle_pod == UINT32_MAX; t++) {
		for (i = 0; i < g->n_pods; i++) {
			if (g->pods[i].local && (t || g->apps[g->pods[i].app].tier == T_API)) {
				g->toggle_pod = i;
				break;
			}
		}
	}
	g->remote_pod = UINT32_MAX;
	for (i = 0; g->toggle_pod != UINT32_MAX && i < g->n_pods; i++) {
		if (!g->pods[i].local && g->pods[i].ns == g->pods[g->toggle_pod].ns) {
			g->remote_pod = i;
			break;
		}
	}
	if (g->toggle_pod == UINT32_MAX || g->remote_pod == UINT32_MAX) {
		err = -EINVAL; /* needs a local pod and a remote one in its namespace */
		goto out;
	}
	snprintf(g->toggle_policy, sizeof(g->toggle_policy), "cps-toggle");
	g->label_ids = count_identities(g, false);
	g->local_label_ids = count_identities(g, true);
	/* counted by the writer; a dry run fills g->feat and n_pols */
	{
		FILE *null = fopen("/dev/null", "w");

		if (!null) {
			err = -errno;
			goto out;
		}
		err = gen_write_policies(g, -1, null);
		fclose(null);
	}
out:
	if (err)
		gen_free(g);
	return err;
}

void gen_free(struct gen *g)
{
	if (!g)
		return;
	free(g->ns);
	free(g->apps);
	free(g->pods);
	memset(g, 0, sizeof(*g));
}

/* --- YAML ------------------------------------------------------------------------------------- */

int gen_write_ns_pods(const struct gen *g, unsigned int n, FILE *f)
{
	const struct gen_ns *ns = &g->ns[n];
	unsigned int i;

	fprintf(f,
		"---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels:\n"
		"    team: t%u\n    env: %s\n",
		ns->name, ns->team, env_names[ns->env]);
	if (ns->role)
		fprintf(f, "    role: %s\n", ns->role);
	for (i = 0; i < g->n_pods; i++)
		if (g->pods[i].ns == n)
			gen_write_pod(g, f, i, false);
	return ferror(f) ? -EIO : 0;
}

void gen_write_pod(const struct gen *g, FILE *f, unsigned int pod, bool canary)
{
	const struct gen_pod *p = &g->pods[pod];
	const struct gen_app *a = &g->apps[p->app];
	const struct tier *t = &tiers[a->tier];
	char hash[16], v6[INET6_ADDRSTRLEN], v4[INET_ADDRSTRLEN], cg[32];
	uint32_t a4 = gen_pod_v4(p->index), a6[4];
	unsigned int i;

	gen_pod_v6(p->index, a6);
	inet_ntop(AF_INET, &a4, v4, sizeof(v4));
	inet_ntop(AF_INET6, a6, v6, sizeof(v6));
	template_hash(a, p->version, hash, sizeof(hash));
	fprintf(f,
		"---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: %s\n"
		"  labels:\n    app: %s\n    tier: %s\n    version: v%u\n"
		"    pod-template-hash: %s\n",
		p->name, g->ns[p->ns].name, a->name, t->name, p->version, hash);
	if (canary)
		fprintf(f, "    canary: \"true\"\n");
	if (p->local) {
		gen_pod_cgroup(g, pod, cg, sizeof(cg));
		fprintf(f, "  annotations:\n    podwall.io/cgroup: %s\n", cg);
	}
	fprintf(f, "spec:\n  containers:\n  - name: main\n    image: registry.example/%s:%u\n",
		t->name, p->version);
	fprintf(f, "    ports:\n");
	for (i = 0; i < t->n_ports; i++) {
		if (t->ports[i].name)
			fprintf(f, "    - name: %s\n      containerPort: %u\n      protocol: %s\n",
				t->ports[i].name, t->ports[i].port, t->ports[i].proto);
		else
			fprintf(f, "    - containerPort: %u\n      protocol: %s\n",
				t->ports[i].port, t->ports[i].proto);
	}
	fprintf(f, "status:\n  phase: Running\n  podIP: %s\n  podIPs:\n  - ip: %s\n  - ip: %s\n",
		v4, v4, v6);
}

void gen_write_toggle_policy(const struct gen *g, FILE *f, uint16_t port)
{
	const struct gen_pod *p = &g->pods[g->toggle_pod];

	fprintf(f,
		"---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n"
		"  name: %s\n  namespace: %s\nspec:\n  podSelector:\n    matchLabels:\n"
		"      app: %s\n  ingress:\n  - ports:\n    - protocol: TCP\n      port: %u\n",
		g->toggle_policy, g->ns[p->ns].name, g->apps[p->app].name, port);
}

static void np_head(FILE *f, const char *name, const char *ns, const char *sel_key,
		    const char *sel_val, const char *types)
{
	fprintf(f,
		"---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n"
		"  name: %s\n  namespace: %s\nspec:\n",
		name, ns);
	if (sel_key)
		fprintf(f, "  podSelector:\n    matchLabels:\n      %s: \"%s\"\n", sel_key,
			sel_val);
	else
		fprintf(f, "  podSelector: {}\n");
	if (types)
		fprintf(f, "  policyTypes: [%s]\n", types);
}

/* One Deployment's policy; pass 0 is what its tier needs, later passes add the extras. */
static void app_policy(const struct gen *g, struct gen_feat *ft, FILE *f, unsigned int app,
		       unsigned int pass)
{
	const struct gen_app *a = &g->apps[app];
	const char *ns = g->ns[a->ns].name;
	char name[64];

	if (pass == 0) {
		snprintf(name, sizeof(name), "allow-%s", a->name);
		switch (a->tier) {
		case T_WEB:
			np_head(f, name, ns, "app", a->name, NULL);
			fprintf(f, "  ingress:\n  - from:\n"
				   "    - ipBlock:\n        cidr: 198.19.0.0/16\n"
				   "        except: [198.19.128.0/17]\n"
				   "    - ipBlock:\n        cidr: fd00:19::/32\n"
				   "        except: [\"fd00:19:8000::/33\"]\n"
				   "    ports:\n    - port: http\n");
			ft->ipblock += 2;
			ft->ipblock_except += 2;
			ft->named_port++;
			ft->ingress_pols++;
			return;
		case T_API:
			np_head(f, name, ns, "app", a->name, NULL);
			fprintf(f,
				"  ingress:\n  - from:\n    - podSelector:\n        matchLabels:\n"
				"          tier: web\n    ports:\n    - port: grpc\n"
				"  - from:\n    - namespaceSelector:\n        matchLabels:\n"
				"          role: monitoring\n    ports:\n    - port: metrics\n");
			ft->pod_sel++;
			ft->ns_sel++;
			ft->named_port += 2;
			ft->ingress_pols++;
			return;
		case T_DB:
			np_head(f, name, ns, "app", a->name, NULL);
			fprintf(f,
				"  ingress:\n  - from:\n    - namespaceSelector:\n"
				"        matchLabels:\n          team: t%u\n      podSelector:\n"
				"        matchLabels:\n          tier: api\n    ports:\n"
				"    - protocol: TCP\n      port: 5432\n",
				g->ns[a->ns].team);
			ft->pod_and_ns_sel++;
			ft->numeric_port++;
			ft->ingress_pols++;
			return;
		case T_CACHE:
			np_head(f, name, ns, "app", a->name, NULL);
			fprintf(f, "  ingress:\n  - from:\n    - podSelector:\n"
				   "        matchExpressions:\n        - key: tier\n"
				   "          operator: In\n          values: [api, worker]\n"
				   "    ports:\n    - port: redis\n");
			ft->match_expr++;
			ft->named_port++;
			ft->ingress_pols++;
			return;
		case T_WORKER:
			np_head(f, name, ns, "app", a->name, "Egress");
			fprintf(f, "  egress:\n  - to:\n    - podSelector:\n        matchLabels:\n"
				   "          tier: db\n    ports:\n    - port: 5432\n"
				   "  - to:\n    - ipBlock:\n        cidr: 198.18.0.0/20\n"
				   "        except: [198.18.4.0/24]\n    ports:\n"
				   "    - port: 30000\n      endPort: 32767\n"
				   "  - to:\n    - namespaceSelector:\n        matchLabels:\n"
				   "          env: prod\n    ports:\n"
				   "    - protocol: TCP\n      port: 8000\n      endPort: 8999\n");
			ft->pod_sel++;
			ft->ipblock++;
			ft->ipblock_except++;
			ft->ns_sel++;
			ft->numeric_port++;
			ft->end_port += 2;
			ft->egress_pols++;
			return;
		case T_DNS:
		default:
			np_head(f, name, ns, "app", a->name, NULL);
			fprintf(f, "  ingress:\n  - from:\n    - namespaceSelector: {}\n"
				   "    ports:\n    - protocol: UDP\n      port: 53\n"
				   "    - port: dns-tcp\n");
			ft->ns_sel++;
			ft->udp++;
			ft->named_port++;
			ft->ingress_pols++;
			return;
		}
	}
	switch (pass % 3) {
	case 1:
		snprintf(name, sizeof(name), "%s-scrape", a->name);
		break;
	case 2:
		snprintf(name, sizeof(name), "%s-egress-ext", a->name);
		break;
	default:
		snprintf(name, sizeof(name), "%s-peers", a->name);
		break;
	}
	/* a namespace with few Deployments and many policies goes round more than once */
	if (pass > 3)
		snprintf(name + strlen(name), sizeof(name) - strlen(name), "-%u", pass / 3);
	switch (pass % 3) {
	case 1:
		np_head(f, name, ns, "app", a->name, NULL);
		fprintf(f, "  ingress:\n  - from:\n    - namespaceSelector:\n        matchLabels:\n"
			   "          role: monitoring\n      podSelector:\n        matchLabels:\n"
			   "          app: prometheus\n    ports:\n    - port: metrics\n");
		ft->pod_and_ns_sel++;
		ft->named_port++;
		ft->ingress_pols++;
		return;
	case 2:
		np_head(f, name, ns, "app", a->name, "Egress");
		fprintf(f, "  egress:\n  - to:\n    - ipBlock:\n        cidr: 198.19.0.0/16\n"
			   "        except: [198.19.128.0/17]\n"
			   "    - ipBlock:\n        cidr: fd00:19::/32\n"
			   "        except: [\"fd00:19:8000::/33\"]\n"
			   "    ports:\n    - protocol: TCP\n      port: 443\n"
			   "    - protocol: UDP\n      port: 10000\n      endPort: 10100\n");
		ft->ipblock += 2;
		ft->ipblock_except += 2;
		ft->numeric_port++;
		ft->end_port++;
		ft->udp++;
		ft->egress_pols++;
		return;
	default:
		np_head(f, name, ns, "app", a->name, NULL);
		fprintf(f,
			"  ingress:\n  - from:\n    - podSelector:\n        matchLabels:\n"
			"          app: %s\n    - podSelector:\n        matchLabels:\n"
			"          tier: %s\n    ports:\n    - port: 8080\n"
			"    - protocol: UDP\n      port: 8125\n",
			a->name, tiers[(a->tier + 1) % T_DNS].name);
		ft->pod_sel += 2;
		ft->numeric_port++;
		ft->udp++;
		ft->ingress_pols++;
		return;
	}
}

int gen_write_policies(const struct gen *g, int only_ns, FILE *f)
{
	struct gen *gw = (struct gen *)g; /* the counters are a by-product of writing */
	struct gen_feat ft = {0};
	unsigned int n, total = 0, first_app = 0;
	unsigned int toggle_ns = g->pods[g->toggle_pod].ns;

	for (n = 0; n < g->n_ns; n++) {
		unsigned int want = g->o.policies / g->n_ns + (n < g->o.policies % g->n_ns);
		unsigned int have = 0, n_apps = 0, j;
		bool mine = only_ns < 0 || (unsigned int)only_ns == n;

		while (first_app + n_apps < g->n_apps && g->apps[first_app + n_apps].ns == n)
			n_apps++;
		/* the counters need every namespace's choices: other namespaces go nowhere */
		if (!mine) {
			first_app += n_apps;
			continue;
		}
		/* every team isolates its namespace for ingress */
		np_head(f, "default-deny-ingress", g->ns[n].name, NULL, NULL, "Ingress");
		ft.default_deny_in++;
		ft.ingress_pols++;
		have++;
		/* a third also isolate egress, and then let DNS out (both selectors ANDed) */
		if (n % 3 == 0 && have < want) {
			np_head(f, "default-deny-egress", g->ns[n].name, NULL, NULL, "Egress");
			fprintf(f, "  egress:\n  - to:\n    - namespaceSelector:\n"
				   "        matchLabels:\n"
				   "          kubernetes.io/metadata.name: ns-00\n"
				   "      podSelector:\n        matchLabels:\n          app: dns\n"
				   "    ports:\n    - protocol: UDP\n      port: 53\n"
				   "    - protocol: TCP\n      port: 53\n");
			ft.default_deny_eg++;
			ft.pod_and_ns_sel++;
			ft.numeric_port++;
			ft.udp++;
			ft.egress_pols++;
			have++;
		}
		/* the two policies the change-latency series rewrite or select through */
		if (n == toggle_ns && have < want) {
			gen_write_toggle_policy(g, f, GEN_TOGGLE_PORT_A);
			ft.numeric_port++;
			ft.ingress_pols++;
			have++;
		}
		if (n == toggle_ns && have < want) {
			np_head(f, "cps-canary", g->ns[n].name, "canary", "true", NULL);
			fprintf(f, "  ingress:\n  - from:\n    - podSelector: {}\n    ports:\n"
				   "    - port: 7443\n");
			ft.pod_sel++;
			ft.numeric_port++;
			ft.ingress_pols++;
			have++;
		}
		for (j = 0; have < want && n_apps; j++, have++)
			app_policy(g, &ft, f, first_app + j % n_apps, j / n_apps);
		total += have;
		first_app += n_apps;
	}
	if (only_ns < 0) {
		gw->feat = ft;
		gw->n_pols = total;
	}
	return ferror(f) ? -EIO : 0;
}
