// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwalld: log lines to stderr by level, the datapath's log callback, diagnostics
 * (parser errors and warnings) as JSON for replies and as log lines.
 */
#define _GNU_SOURCE
#include "daemon.h"

/* --- logging ------------------------------------------------------------------------------- */

enum pw_log_level g_level = PW_LOG_INFO;

static void vlog(enum pw_log_level lvl, const char *prefix, const char *fmt, va_list ap)
{
	static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
	struct timespec ts;
	struct tm tm;
	char when[32];

	if (lvl > g_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	flockfile(stderr);
	fprintf(stderr, "%s.%03ldZ %-5s %s", when, ts.tv_nsec / 1000000,
		names[lvl <= PW_LOG_DEBUG ? lvl : PW_LOG_DEBUG], prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

void dlog(enum pw_log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(lvl, "", fmt, ap);
	va_end(ap);
}

/* pw_log_fn for the libraries: ctx is a prefix naming the layer */
void lib_log(void *ctx, enum pw_log_level lvl, const char *msg)
{
	if (lvl > g_level)
		return;
	dlog(lvl, "%s%s", (const char *)ctx, msg);
}

/* --- object helpers ------------------------------------------------------------------------ */

json_object *diags_json(const struct pw_diags *diags, enum pw_diag_level level)
{
	json_object *arr = json_object_new_array();

	for (size_t i = 0; arr && diags && i < diags->n; i++) {
		if (diags->v[i].level == level)
			json_object_array_add(arr, json_object_new_string(diags->v[i].text ?: ""));
	}
	return arr;
}

void log_diags(const struct pw_diags *diags, const char *what)
{
	for (size_t i = 0; diags && i < diags->n; i++)
		dlog(diags->v[i].level == PW_DIAG_ERROR ? PW_LOG_ERROR : PW_LOG_WARN, "%s: %s",
		     what, diags->v[i].text ?: diags->v[i].msg);
}
