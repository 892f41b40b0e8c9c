/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Filters and the table format behind `podwall flows`. Both work on flow records as JSON
 * objects (docs/flowlog.md), so the CLI can filter what it reads from the daemon and the
 * daemon can filter its ring and live stream with the same code.
 *
 * Matching follows Hubble: values of one option are alternatives (OR), different options
 * must all hold (AND); --namespace and --pod match either end of the flow; --port matches
 * either port. A "lost" record (perf-buffer loss) matches every filter except --since and
 * --kind: a filtered view must still tell its reader that records may be missing.
 */
#ifndef PW_CTL_FLOWFILTER_H
#define PW_CTL_FLOWFILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#define PW_FF_VERDICT_FORWARDED (1u << 0)
#define PW_FF_VERDICT_DROPPED	(1u << 1)
#define PW_FF_VERDICT_AUDIT	(1u << 2)

#define PW_FF_DIR_INGRESS (1u << 0)
#define PW_FF_DIR_EGRESS  (1u << 1)

struct pw_flowfilter {
	char **namespaces; /* exact namespace of either end */
	size_t n_namespaces;
	char **pods; /* "[namespace/]pod-name-prefix" of either end; "ns/" = any pod of ns */
	size_t n_pods;
	char **kinds; /* record kinds: flow_new, flow_denied, sock_deny, revoked, ... */
	size_t n_kinds;
	unsigned int verdicts;	 /* PW_FF_VERDICT_*; 0 = any */
	unsigned int directions; /* PW_FF_DIR_*; 0 = any */
	uint16_t *ports;	 /* source or destination port */
	size_t n_ports;
	bool has_since;
	int64_t since_ns; /* wall clock ns since the epoch: records at or after it */
};

/* An empty filter matches everything. */
void pw_flowfilter_init(struct pw_flowfilter *f);
void pw_flowfilter_free(struct pw_flowfilter *f);

/*
 * Add one option by its long name without dashes ("namespace", "pod", "verdict",
 * "direction", "port", "since", "kind") and value. now_ns (wall clock) anchors relative
 * --since values. -EINVAL with a message in err for an unknown option or a bad value.
 */
int pw_flowfilter_add(struct pw_flowfilter *f, const char *name, const char *value, int64_t now_ns,
		      char *err, size_t errlen);

/*
 * Parse argv-like options: "--namespace NS", "--namespace=NS", "-n NS", "--pod [NS/]POD",
 * "--verdict FORWARDED|DROPPED|AUDIT", "--direction ingress|egress", "--port N",
 * "--since 5m|1h30m|RFC3339", "--kind KIND". Every element must be consumed:
 * -EINVAL with a message for anything else.
 */
int pw_flowfilter_parse(struct pw_flowfilter *f, int argc, char *const argv[], int64_t now_ns,
			char *err, size_t errlen);

bool pw_flowfilter_match(const struct pw_flowfilter *f, json_object *rec);
/* pw_flowfilter_match with the pw_flow_match_fn signature (ctx is the filter) */
bool pw_flowfilter_match_cb(const void *ctx, json_object *rec);
/* The same on a record's text (a live follower's line); NULL or empty f: true, unparsed. */
bool pw_flowfilter_match_line(const struct pw_flowfilter *f, const char *line, size_t len);

/*
 * "5m", "90s", "1h30m", "2d", "250ms" (a sum of number+unit pairs) into ns; -EINVAL when
 * malformed or negative.
 */
int pw_duration_parse(const char *s, int64_t *ns);
/* RFC 3339 ("2026-11-22T02:04:49Z", fraction and offset optional) into ns since the epoch */
int pw_time_parse_rfc3339(const char *s, int64_t *ns);
/* --since: a duration before now_ns, or an RFC 3339 time */
int pw_since_parse(const char *s, int64_t now_ns, int64_t *ns);

/* --- table ----------------------------------------------------------------------------------- */

/* The header line (no newline) for pw_flow_format_row. */
const char *pw_flow_table_header(void);
/*
 * One record as one table row (no newline): TIME, SOURCE, DESTINATION, PORT, VERDICT,
 * REASON/POLICY. Control characters from the record are shown as '?', so a hostile label or
 * comm cannot drive the terminal. Returns the length (truncated to len - 1).
 */
size_t pw_flow_format_row(json_object *rec, char *buf, size_t len);

#endif /* PW_CTL_FLOWFILTER_H */
