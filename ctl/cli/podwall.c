// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwall: the command-line client of podwalld, with kubectl's habits: `apply -f`, `get`,
 * `describe`, messages like "networkpolicy.networking.k8s.io/allow-b created", errors as
 * "error: ..." on stderr and exit code 1.
 *
 * Driven by a command table; each command has its own option table, and --help everywhere.
 * Manifests are parsed here first with the daemon's own parser, so a typo is reported
 * without a round trip and without touching anything; the daemon parses them again (it
 * trusts no client) and answers only once the change is enforced in the kernel.
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

/* --- commands ------------------------------------------------------------------------------ */

struct cmd {
	const char *name;
	int (*fn)(struct cli *c, int argc, char **argv);
	const char *usage;
	const char *help;
};

static const struct cmd *find_cmd(const char *name);

int usage_of(const char *name, FILE *f)
{
	const struct cmd *cmd = find_cmd(name);

	fprintf(f, "Usage: %s [--socket PATH] %s %s\n\n%s", prog, cmd->name, cmd->usage, cmd->help);
	return f == stdout ? 0 : 1;
}

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

static int cmd_help(struct cli *c, int argc, char **argv);

static const struct cmd cmds[] = {
	{"apply", cmd_apply, "-f FILE|DIR|- [-f ...]",
	 "Create or update the objects of the manifests (Namespace, Pod, NetworkPolicy, List).\n"
	 "Returns once the change is enforced in the kernel.\n\n"
	 "  -f, --filename  a file, a directory (its *.yaml, *.yml, *.json) or - for stdin\n"},
	{"delete", cmd_delete, "-f FILE|DIR|- [-f ...]",
	 "Delete the objects the manifests name (kind, namespace, name).\n\n"
	 "  -f, --filename  a file, a directory (its *.yaml, *.yml, *.json) or - for stdin\n"},
	{"get", cmd_get, "namespaces|pods|networkpolicies|identities [NAME] [-n NS|-A] [-o FMT]",
	 "List objects as a table.\n\n"
	 "  -n, --namespace NS      the namespace (default \"default\")\n"
	 "  -A, --all-namespaces    every namespace\n"
	 "  -o, --output FMT        json, yaml or wide\n"},
	{"describe", cmd_describe, "pod NS/NAME [-o json|yaml]",
	 "The policies that select the pod and its effective allow list per direction.\n\n"
	 "  -n, --namespace NS      namespace when NAME has no NS/ prefix\n"
	 "  -o, --output FMT        json or yaml (default)\n"},
	{"explain", cmd_explain, "--from NS/POD|IP --to NS/POD|IP --port N [--proto tcp|udp|sctp]",
	 "The verdict for one connection and the policy and rule that decide it.\n\n"
	 "  --from NS/POD|IP        the client\n"
	 "  --to NS/POD|IP          the server\n"
	 "  --port N                destination port\n"
	 "  --proto P               tcp (default), udp or sctp\n"
	 "  -o, --output FMT        json or yaml (default)\n"},
	{"status", cmd_status, "[-o json|yaml]",
	 "Daemon and datapath status: map usage against capacity, counters, pending pods.\n"},
	{"flows", cmd_flows, "[FILTERS] [--limit N] [-f] [-o json|table]",
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
	{"suggest", cmd_suggest,
	 "--flows FILE [--flows FILE...] | --live DUR [-n NS] [--since T] [-o yaml|json]",
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
	 "  -o, --output FMT        yaml (default) or json (a List)\n"},
	{"help", cmd_help, "[COMMAND]", "Help about a command.\n"},
};

#define N_CMDS (sizeof(cmds) / sizeof(cmds[0]))

static const struct cmd *find_cmd(const char *name)
{
	for (size_t i = 0; i < N_CMDS; i++) {
		if (!strcmp(cmds[i].name, name))
			return &cmds[i];
	}
	return NULL;
}

static int usage(FILE *f)
{
	fprintf(f,
		"podwall: the command-line client of podwalld (sidecar-free network policy).\n\n"
		"Usage: %s [--socket PATH] COMMAND [OPTIONS]\n\n"
		"Commands:\n",
		prog);
	for (size_t i = 0; i < N_CMDS; i++) {
		/* the first sentence of the command's help */
		const char *h = cmds[i].help;
		int len = (int)strcspn(h, ".\n");

		fprintf(f, "  %-9s %.*s\n", cmds[i].name, len, h);
	}
	fprintf(f,
		"\nOptions:\n"
		"  -s, --socket PATH  podwalld's control socket (default $%s, else %s)\n"
		"  -h, --help         this help; '%s COMMAND --help' for a command\n",
		PW_SOCKET_ENV, PW_SOCKET_DEFAULT, prog);
	return f == stdout ? 0 : 1;
}

static int cmd_help(struct cli *c, int argc, char **argv)
{
	if (argc > 1 && find_cmd(argv[1]))
		return usage_of(argv[1], stdout);
	if (argc > 1) {
		errorf("unknown command \"%s\"", argv[1]);
		return 1;
	}
	return usage(stdout);
}

int main(int argc, char **argv)
{
	struct cli c = {.fd = -1};
	const struct cmd *cmd;
	int i, ret;

	signal(SIGPIPE, SIG_IGN);
	c.socket = getenv(PW_SOCKET_ENV);
	if (!c.socket || !*c.socket)
		c.socket = PW_SOCKET_DEFAULT;
	/* global options stop at the command name, so commands own everything after it */
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return usage(stdout);
		if ((!strcmp(argv[i], "--socket") || !strcmp(argv[i], "-s")) && i + 1 < argc) {
			c.socket = argv[++i];
		} else if (!strncmp(argv[i], "--socket=", 9)) {
			c.socket = argv[i] + 9;
		} else {
			errorf("unknown flag: %s", argv[i]);
			usage(stderr);
			return 1;
		}
	}
	if (i >= argc)
		return usage(stderr);
	cmd = find_cmd(argv[i]);
	if (!cmd) {
		errorf("unknown command \"%s\" for \"%s\"", argv[i], prog);
		fprintf(stderr, "Run '%s --help' for usage.\n", prog);
		return 1;
	}
	optind = 1;
	ret = cmd->fn(&c, argc - i, argv + i);
	if (c.fd >= 0)
		close(c.fd);
	pw_linebuf_free(&c.lb);
	return ret;
}
