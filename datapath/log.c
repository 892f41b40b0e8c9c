// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Logging: the library never prints. Messages go to the callback of the pw_dp they concern.
 * libbpf's print hook is process-global, so its output goes to the most recently opened
 * pw_dp's callback at PW_LOG_DEBUG. That routing is deliberately simple and not thread-safe:
 * open and close datapaths from one thread (the daemon has one datapath per process).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <bpf/libbpf.h>

#include "internal.h"

static struct pw_dp *libbpf_log_dp;
static bool libbpf_hooked;

void pw_log(const struct pw_dp *dp, enum pw_log_level level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (!dp || !dp->log || level > dp->log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	dp->log(dp->log_ctx, level, buf);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	struct pw_dp *dp = libbpf_log_dp;
	char buf[1024];
	size_t n;

	if (!dp || !dp->log || dp->log_level < PW_LOG_DEBUG)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	n = strlen(buf);
	while (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	dp->log(dp->log_ctx, PW_LOG_DEBUG, buf);
	return 0;
}

void pw_log_route_libbpf(struct pw_dp *dp)
{
	if (!libbpf_hooked) {
		libbpf_set_print(libbpf_print);
		libbpf_hooked = true;
	}
	libbpf_log_dp = dp;
}

void pw_log_unroute_libbpf(struct pw_dp *dp)
{
	if (libbpf_log_dp == dp)
		libbpf_log_dp = NULL;
}
