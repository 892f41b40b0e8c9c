// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * pwgen: writes the generated cluster of bench/cpscale (namespaces, Deployment-shaped pods,
 * NetworkPolicies; the same generator and seed) as manifest files, for the cluster-mode
 * benchmark (run.sh), which applies them through a node of a three-node cluster.
 *
 *   pwgen --out DIR [--pods N] [--policies N] [--namespaces N] [--seed N]
 *
 * DIR/load/ns-NN.yaml        a namespace with its pods, and its policies (one file each)
 * DIR/toggle-a.yaml, -b.yaml the toggled policy, allowing one port or the other
 * DIR/pod-canary.yaml, pod-plain.yaml   one pod with and without the canary label
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gen.h"

static int write_file(const char *dir, const char *name, const struct gen *g,
		      void (*fn)(const struct gen *g, FILE *f, unsigned int arg, int arg2),
		      unsigned int arg, int arg2)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "pwgen: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	fn(g, f, arg, arg2);
	if (fclose(f)) {
		fprintf(stderr, "pwgen: %s: %s\n", path, strerror(errno));
		return -EIO;
	}
	return 0;
}

static void w_ns(const struct gen *g, FILE *f, unsigned int ns, int unused)
{
	gen_write_ns_pods(g, ns, f);
}

static void w_pols(const struct gen *g, FILE *f, unsigned int ns, int unused)
{
	gen_write_policies(g, (int)ns, f);
}

static void w_toggle(const struct gen *g, FILE *f, unsigned int port, int unused)
{
	gen_write_toggle_policy(g, f, (uint16_t)port);
}

static void w_pod(const struct gen *g, FILE *f, unsigned int pod, int canary)
{
	gen_write_pod(g, f, pod, canary);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"out", required_argument, NULL, 'o'},
		{"pods", required_argument, NULL, 'p'},
		{"policies", required_argument, NULL, 'P'},
		{"namespaces", required_argument, NULL, 'n'},
		{"seed", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct gen_opts o = {
		.namespaces = 50, .pods = 10000, .policies = 1000, .local = 1, .seed = 1};
	const char *out = NULL;
	char load[4096], name[64];
	struct gen g;
	int c, err;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'o':
			out = optarg;
			break;
		case 'p':
			o.pods = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'P':
			o.policies = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'n':
			o.namespaces = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 's':
			o.seed = strtoull(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: pwgen --out DIR [--pods N] [--policies N] "
					"[--namespaces N] [--seed N]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (!out) {
		fprintf(stderr, "pwgen: --out DIR is required\n");
		return 2;
	}
	err = gen_build(&o, &g);
	if (err) {
		fprintf(stderr, "pwgen: cannot generate that cluster: %s\n", strerror(-err));
		return 1;
	}
	snprintf(load, sizeof(load), "%s/load", out);
	if ((mkdir(out, 0755) && errno != EEXIST) || (mkdir(load, 0755) && errno != EEXIST)) {
		fprintf(stderr, "pwgen: %s: %s\n", load, strerror(errno));
		gen_free(&g);
		return 1;
	}
	err = 0;
	for (unsigned int i = 0; !err && i < g.n_ns; i++) {
		snprintf(name, sizeof(name), "ns-%03u.yaml", i);
		err = write_file(load, name, &g, w_ns, i, 0);
		snprintf(name, sizeof(name), "ns-%03u-policies.yaml", i);
		if (!err)
			err = write_file(load, name, &g, w_pols, i, 0);
	}
	if (!err)
		err = write_file(out, "toggle-a.yaml", &g, w_toggle, GEN_TOGGLE_PORT_A, 0);
	if (!err)
		err = write_file(out, "toggle-b.yaml", &g, w_toggle, GEN_TOGGLE_PORT_B, 0);
	if (!err)
		err = write_file(out, "pod-canary.yaml", &g, w_pod, g.remote_pod, 1);
	if (!err)
		err = write_file(out, "pod-plain.yaml", &g, w_pod, g.remote_pod, 0);
	printf("%u namespaces, %u pods, %u policies, %u label identities\n", g.n_ns, g.n_pods,
	       g.n_pols, g.label_ids);
	gen_free(&g);
	return err ? 1 : 0;
}
