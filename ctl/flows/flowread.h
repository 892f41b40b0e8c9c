/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Reading flow-log files back: the JSON lines `podwalld --flow-log` writes, with the rotated
 * siblings (FILE.N ... FILE.1, oldest first, then FILE). For `podwall suggest` and anything
 * that replays a log. A file is untrusted input: every line is bounded, must be one JSON
 * object with a known record kind, and a bad line is reported with its file and line and
 * skipped; reading never stops at one.
 */
#ifndef PW_CTL_FLOWREAD_H
#define PW_CTL_FLOWREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <json-c/json.h>

/* A record line longer than this is reported and skipped (records are about 1 KiB). */
#define PW_FLOWREAD_MAX_LINE (1u << 20)

struct pw_flowread_ops {
	/* one valid record; rec is borrowed (put after the call); non-zero stops reading */
	int (*record)(void *ctx, json_object *rec, const char *file, unsigned long line);
	/* a line that is not a record: what is wrong with it */
	void (*bad)(void *ctx, const char *file, unsigned long line, const char *msg);
};

/*
 * Check one line (without its newline): a JSON object whose "kind" is a record kind this
 * version knows. 0 and *out (the caller puts it), or -EINVAL and msg.
 */
int pw_flowread_line(const char *line, size_t len, json_object **out, char *msg, size_t msglen);

/*
 * Read path ("-" is standard input) and, with rotated, its rotated files before it. Returns 0,
 * the non-zero value of ops->record, or -errno when a file cannot be opened or read (a rotated
 * sibling that does not exist is not an error; the named file missing is).
 */
int pw_flowread_path(const char *path, bool rotated, const struct pw_flowread_ops *ops, void *ctx);

#endif /* PW_CTL_FLOWREAD_H */
