// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwall: what every command uses: the program's name, error messages, option parsing, and
 * each command's usage and help text (--help, `podwall help`). The command table that runs
 * them is podwall.c's.
 */
#include "cli.h"

const char *prog = "podwall";

void errorf(const char *fmt, ...)
{
	va_list ap;

	fputs("error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* --- help ---------------------------------------------------------------------------------- */

struct help {
	const char *name;
	const char *usage;
	const char *help;
};

static const struct help helps[] = {
	{"apply", "-f FILE|DIR|- [-f ...] [--timeout DUR]",
	 "Create or update the objects of the manifests (Namespace, Pod, NetworkPolicy, List).\n"
	 "Returns once the change is enforced in the kernel; in cluster mode, once every live\n"
	 "node enforces it.\n\n"
	 "  -f, --filename  a file, a directory (its *.yaml, *.yml, *.json) or - for stdin\n"
	 "  --timeout DUR   cluster mode: fail after DUR naming the nodes that do not\n"
	 "                  enforce the change yet (default 30s)\n"},
	{"delete", "-f FILE|DIR|- [-f ...] [--timeout DUR]",
	 "Delete the objects the manifests name (kind, namespace, name).\n\n"
	 "  -f, --filename  a file, a directory (its *.yaml, *.yml, *.json) or - for stdin\n"
	 "  --timeout DUR   cluster mode: as apply's\n"},
	{"get", "namespaces|pods|networkpolicies|services|endpointslices|identities|quarantines|nodes [NAME] "
	 "[-n NS|-A] [-o FMT]",
	 "List objects as a table.\n\n"
	 "  -n, --namespace NS      the namespace (default \"default\")\n"
	 "  -A, --all-namespaces    every namespace\n"
	 "  -o, --output FMT        json, yaml or wide\n"},
	{"describe", "pod|service NS/NAME [-o json|yaml]",
	 "A pod: the policies that select it and its effective allow list per direction.\n"
	 "A service: its ports and ClusterIPs, and the ready backends each translates to.\n\n"
	 "  -n, --namespace NS      namespace when NAME has no NS/ prefix\n"
	 "  -o, --output FMT        json or yaml (default)\n"},
	{"explain", "--from NS/POD|IP --to NS/POD|IP --port N [--proto tcp|udp|sctp]",
	 "The verdict for one connection and the policy and rule that decide it.\n\n"
	 "  --from NS/POD|IP        the client\n"
	 "  --to NS/POD|IP          the server\n"
	 "  --port N                destination port\n"
	 "  --proto P               tcp (default), udp or sctp\n"
	 "  -o, --output FMT        json or yaml (default)\n"},
	{"status", "[-o json|yaml]",
	 "Daemon and datapath status: map usage against capacity, counters, pending pods.\n"},
	{"flows", "[FILTERS] [--limit N] [-f] [-o json|table]",
	 "Recent flow records (new flows, drops, socket-layer denies, ends), oldest first.\n\n"
	 "  -f, --follow              keep printing records as they happen\n"
	 "      --limit N             at most N recent records (default 100, 0: all kept)\n"
	 "  -o, --output json|table   one JSON object per line, or a table (default)\n"
	 "Filters (values of one filter are alternatives, different filters must all hold):\n"
	 "  -n, --namespace NS        either end in namespace NS\n"
	 "      --pod [NS/]POD        either end is the pod (a name prefix; NS/ = any pod of NS)\n"
	 "      --verdict V           FORWARDED, DROPPED or AUDIT\n"
	 "      --direction D         ingress or egress\n"
	 "      --port N              source or destination port\n"
	 "      --since T             a duration (5m, 1h30m) or an RFC 3339 time\n"
	 "      --kind K              flow_new, flow_denied, sock_deny, revoked, ...\n"},
	{"quarantine", "NS/POD... | -l SELECTOR [-n NS] [--lift] [--allow-dns] [--reason TEXT]",
	 "Cut every flow of the pods, both ways, established ones included (or --lift it).\n"
	 "Returns once the kernel drops them; kept across daemon restarts.\n\n"
	 "  -l, --selector SEL      the pods of NS matching k=v,k!=v,k,!k\n"
	 "  -n, --namespace NS      namespace for -l, or for a POD without NS/ (default "
	 "\"default\")\n"
	 "      --lift              end the quarantine of the pods\n"
	 "      --allow-dns         DNS (port 53) queries and their replies still go, as policy "
	 "allows\n"
	 "      --reason TEXT       recorded with the quarantine and in its pods' drop records\n"},
	{"suggest", "--flows FILE [--flows FILE...] | --live DUR [-n NS] [--since T] [-o yaml|json]",
	 "NetworkPolicies that allow exactly the flows observed, one per workload (pods with the\n"
	 "same labels, per-replica labels dropped), isolating it for ingress and egress, so an\n"
	 "unobserved flow is denied once they are applied. `podwall apply -f -` takes the output.\n\n"
	 "      --flows FILE        a podwalld --flow-log file; its rotated files (FILE.1, ...)\n"
	 "                          are read too, oldest first\n"
	 "      --live DUR          observe the running daemon's flows for DUR (30s, 10m)\n"
	 "  -n, --namespace NS      policies for the workloads of NS only (peers anywhere)\n"
	 "      --since T           records at or after T: a duration (1h) or an RFC 3339 time\n"
	 "      --objects FILE|DIR  Pod manifests: ports they name become named ports\n"
	 "      --ipblock-prefix N[,M]  widen outside peers to /N (IPv4) and /M (IPv6) before\n"
	 "                          aggregating (default 32,128: exact addresses)\n"
	 "  -o, --output FMT        yaml (default) or json (a List)\n"
	 "      --diff              what the suggestion would change against the policies in\n"
	 "                          force: new, unchanged, or a diff of each spec (exit 1 when\n"
	 "                          something would change, as kubectl diff)\n"},
	{"help", "[COMMAND]", "Help about a command.\n"},
};

#define N_HELPS (sizeof(helps) / sizeof(helps[0]))

static const struct help *find_help(const char *name)
{
	for (size_t i = 0; i < N_HELPS; i++) {
		if (!strcmp(helps[i].name, name))
			return &helps[i];
	}
	return NULL;
}

int usage_of(const char *name, FILE *f)
{
	const struct help *h = find_help(name);

	fprintf(f, "Usage: %s [--socket PATH] %s %s\n\n%s", prog, h->name, h->usage, h->help);
	return f == stdout ? 0 : 1;
}

int usage(FILE *f)
{
	fprintf(f,
		"podwall: the command-line client of podwalld (sidecar-free network policy).\n\n"
		"Usage: %s [--socket PATH] COMMAND [OPTIONS]\n\n"
		"Commands:\n",
		prog);
	for (size_t i = 0; i < N_HELPS; i++) {
		/* the first sentence of the command's help */
		const char *h = helps[i].help;
		int len = (int)strcspn(h, ".\n");

		fprintf(f, "  %-9s %.*s\n", helps[i].name, len, h);
	}
	fprintf(f,
		"\nOptions:\n"
		"  -s, --socket PATH  podwalld's control socket (default $%s, else %s)\n"
		"  -h, --help         this help; '%s COMMAND --help' for a command\n",
		PW_SOCKET_ENV, PW_SOCKET_DEFAULT, prog);
	return f == stdout ? 0 : 1;
}

/* --- options ------------------------------------------------------------------------------- */

/*
 * getopt_long over a command's own option table; returns the option, -1 at the end, '?' after
 * printing a kubectl-style error for an unknown flag or a missing value.
 */
int next_opt(const char *cmd, int argc, char **argv, const char *shortopts,
	     const struct option *longopts)
{
	char spec[64];
	int o;

	/* a leading ':' (after '+') makes a missing value ':' instead of '?' */
	snprintf(spec, sizeof(spec), "%s:%s", shortopts[0] == '+' ? "+" : "",
		 shortopts + (shortopts[0] == '+'));
	opterr = 0;
	o = getopt_long(argc, argv, spec, longopts, NULL);
	if (o == '?' || o == ':') {
		const char *arg = argv[optind - 1];

		if (o == ':')
			errorf("flag needs an argument: %s", arg);
		else if (optopt && arg[0] == '-' && arg[1] != '-')
			errorf("unknown shorthand flag: '%c' in %s", optopt, arg);
		else
			errorf("unknown flag: %s", arg);
		fprintf(stderr, "See '%s %s --help' for usage.\n", prog, cmd);
		return '?';
	}
	return o;
}
