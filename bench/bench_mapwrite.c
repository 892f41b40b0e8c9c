// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bench_mapwrite: what the datapath library's map writers cost per key, batched (many keys per
 * syscall, the default) against one key per syscall, on the same maps in alternating rounds.
 * The policy entries have the shape of a compiled cluster (bench/cpscale: about 290,000 trie
 * keys from 10,000 pods and 1,000 policies): per subject identity, peers times ports, some
 * port ranges; the ipcache holds pod addresses, IPv4 and IPv6.
 *
 *   sudo build/bench/bench_mapwrite [--keys N] [--ipcache N] [--rounds N] [--markdown FILE]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <podwall/datapath.h>

#define MAX_ROUNDS 21

enum { OP_POL_ADD, OP_POL_DEL, OP_IPC_ADD, OP_IPC_DEL, OP_COUNT };
static const char *const op_name[OP_COUNT] = { "policy: add", "policy: delete",
					       "ipcache: add", "ipcache: delete" };

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void log_cb(void *ctx, enum pw_log_level level, const char *msg)
{
	fprintf(stderr, "datapath: %s\n", msg);
}

/* entry k: 64 entries per subject, distinct peers; 1 in 50 a port range */
static void pol_gen(uint64_t k, struct pw_policy_entry *e)
{
	static const uint16_t ports[8] = { 80, 443, 53, 5432, 6379, 8080, 9090, 8443 };

	memset(e, 0, sizeof(*e));
	e->subject = PW_ID_FIRST_LOCAL + (uint32_t)(k / 64);
	e->peer = PW_ID_FIRST_LOCAL + (uint32_t)((k * 40503u) & 0xffff);
	e->direction = k & 1 ? PW_DIR_EGRESS : PW_DIR_INGRESS;
	e->proto = 6;
	e->port_lo = e->port_hi = ports[k % 8];
	if (k % 50 == 7) {
		e->port_lo = 20000;
		e->port_hi = 20999;
	}
	e->val.flags = PW_POL_F_ALLOW;
	e->val.cookie = (uint32_t)k + 1;
}

static void ipc_gen(uint64_t k, struct pw_ipcache_entry *e)
{
	memset(e, 0, sizeof(*e));
	if (k % 2 == 0 && k / 2 < 100000) {
		e->cidr.family = PW_FAMILY_V4;
		e->cidr.prefixlen = 32;
		e->cidr.addr[0] = htonl(0xc6120000u + 1 + (uint32_t)(k / 2));
	} else {
		e->cidr.family = PW_FAMILY_V6;
		e->cidr.prefixlen = 128;
		e->cidr.addr[0] = htonl(0xfd000018);
		e->cidr.addr[3] = htonl((uint32_t)k + 1);
	}
	e->val.identity = PW_ID_FIRST_LOCAL + (uint32_t)(k % 2000);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "keys", required_argument, NULL, 'k' },    { "ipcache", required_argument, NULL, 'i' },
		{ "rounds", required_argument, NULL, 'r' },  { "markdown", required_argument, NULL, 'm' },
		{ "quick", no_argument, NULL, 'q' },	     { "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint64_t want_keys = 290000, n_ipc = 20000;
	double t[2][OP_COUNT][MAX_ROUNDS];
	struct pw_policy_entry *pe = NULL;
	struct pw_ipcache_entry *ie = NULL;
	struct pw_cidr *ic = NULL;
	const char *md_path = NULL;
	struct pw_dp *dp = NULL;
	int rounds = 7, ch, r, mode, op, err = 0, keys = 0;
	size_t n_pol = 0, i;
	FILE *md;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'k': want_keys = strtoull(optarg, NULL, 0); break;
		case 'i': n_ipc = strtoull(optarg, NULL, 0); break;
		case 'r': rounds = atoi(optarg); break;
		case 'm': md_path = optarg; break;
		case 'q': want_keys = 20000, n_ipc = 2000, rounds = 3; break;
		case 'h':
		default:
			fprintf(ch == 'h' ? stdout : stderr,
				"usage: %s [--keys N (policy trie keys, default 290000)] "
				"[--ipcache N (default 20000)] [--rounds N (default 7)] "
				"[--markdown FILE] [--quick]\n",
				argv[0]);
			return ch == 'h' ? 0 : 2;
		}
	}
	if (rounds < 1 || rounds > MAX_ROUNDS || want_keys < 100 || n_ipc < 10 ||
	    n_ipc > 4000000 || want_keys > 4000000) {
		fprintf(stderr, "bench_mapwrite: rounds 1..%d, keys >= 100, ipcache >= 10\n",
			MAX_ROUNDS);
		return 2;
	}
	/* entries until their expansion reaches the wanted key count */
	pe = calloc(want_keys, sizeof(*pe));
	ie = calloc(n_ipc, sizeof(*ie));
	ic = calloc(n_ipc, sizeof(*ic));
	if (!pe || !ie || !ic) {
		err = -ENOMEM;
		goto out;
	}
	for (n_pol = 0; (uint64_t)keys < want_keys; n_pol++) {
		struct pw_policy_key kb[32];

		pol_gen(n_pol, &pe[n_pol]);
		keys += pw_policy_expand(&pe[n_pol], kb, 32);
	}
	for (i = 0; i < n_ipc; i++) {
		ipc_gen(i, &ie[i]);
		ic[i] = ie[i].cidr;
	}
	{
		struct pw_dp_opts o = { .sz = sizeof(o),
					.ipcache_max = (uint32_t)n_ipc + 16,
					.policy_max = (uint32_t)keys + 16,
					.log = log_cb,
					.log_level = PW_LOG_WARN };

		err = pw_dp_open(&o, &dp);
		if (err) {
			fprintf(stderr, "pw_dp_open: %s (needs root)\n", strerror(-err));
			goto out;
		}
	}
	/* round -1 warms the allocator; batched and single alternate which goes first */
	for (r = -1; r < rounds; r++) {
		for (int k = 0; k < 2; k++) {
			double t0, t1, t2, t3, t4;
			int a, d;

			mode = (k + (r < 0 ? 0 : r)) % 2; /* 0 batched, 1 single */
			pw_dp_set_write_batches(dp, mode == 0);
			t0 = now_s();
			a = pw_dp_policy_update(dp, pe, n_pol);
			t1 = now_s();
			d = pw_dp_policy_delete(dp, pe, n_pol);
			t2 = now_s();
			if (a != keys || d != keys) {
				fprintf(stderr, "policy: %d written, %d deleted, %d expected\n", a, d,
					keys);
				err = -EIO;
				goto out;
			}
			err = pw_dp_ipcache_update(dp, ie, n_ipc);
			t3 = now_s();
			if (!err)
				err = pw_dp_ipcache_delete(dp, ic, n_ipc);
			t4 = now_s();
			if (err)
				goto out;
			if (r < 0)
				continue;
			t[mode][OP_POL_ADD][r] = (t1 - t0) / keys * 1e9;
			t[mode][OP_POL_DEL][r] = (t2 - t1) / keys * 1e9;
			t[mode][OP_IPC_ADD][r] = (t3 - t2) / n_ipc * 1e9;
			t[mode][OP_IPC_DEL][r] = (t4 - t3) / n_ipc * 1e9;
		}
	}
	md = md_path ? fopen(md_path, "w") : NULL;
	if (md_path && !md) {
		err = -errno;
		fprintf(stderr, "%s: %s\n", md_path, strerror(errno));
		goto out;
	}
	printf("%d policy trie keys (%zu entries), %" PRIu64 " ipcache entries, %d rounds\n",
	       keys, n_pol, n_ipc, rounds);
	printf("%-18s %14s %14s %8s   (ns per key, median)\n", "operation", "batched",
	       "one per call", "ratio");
	if (md) {
		fprintf(md,
			"Map writes, ns per key (median of %d rounds, batched and one-per-call "
			"alternating on the same maps): %d policy trie keys from %zu entries, "
			"%" PRIu64 " ipcache entries.\n\n",
			rounds, keys, n_pol, n_ipc);
		fprintf(md, "| operation | batched | one key per syscall | one per call / batched |\n"
			    "|---|---:|---:|---:|\n");
	}
	for (op = 0; op < OP_COUNT; op++) {
		double b = median(t[0][op], rounds), s = median(t[1][op], rounds);

		printf("%-18s %14.0f %14.0f %8.2f\n", op_name[op], b, s, s / b);
		if (md)
			fprintf(md, "| %s | %.0f | %.0f | %.2f× |\n", op_name[op], b, s, s / b);
	}
	if (md && fclose(md))
		err = -errno;
out:
	pw_dp_close(dp);
	free(pe);
	free(ie);
	free(ic);
	return err ? 1 : 0;
}
