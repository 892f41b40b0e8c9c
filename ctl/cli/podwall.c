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

/* --- commands ------------------------------------------------------------------------------ */

/* What runs each command; its usage and help text are common.c's. */
struct cmd {
	const char *name;
	int (*fn)(struct cli *c, int argc, char **argv);
};

static int cmd_help(struct cli *c, int argc, char **argv);

static const struct cmd cmds[] = {
	{"apply", cmd_apply},	    {"delete", cmd_delete},   {"get", cmd_get},
	{"describe", cmd_describe}, {"explain", cmd_explain}, {"status", cmd_status},
	{"flows", cmd_flows},	    {"suggest", cmd_suggest}, {"quarantine", cmd_quarantine},
	{"help", cmd_help},
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
