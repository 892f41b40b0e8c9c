/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The --manifests directory: its manifest files (*.yaml, *.yml, *.json; hidden files and
 * editor leftovers are ignored) watched with inotify. Each file is one control-plane source,
 * named by its path.
 *
 * A file counts as changed when a writer closes it or when it is renamed or symlinked into
 * the directory (the atomic-replace pattern of editors and of Kubernetes ConfigMap volumes),
 * never on a half-written state. The watcher remembers which files it reported present, so a
 * rescan (after an inotify queue overflow, or on SIGHUP) also reports files that vanished
 * while nobody was looking.
 */
#ifndef PW_CTL_MDIR_H
#define PW_CTL_MDIR_H

#include <stdbool.h>

struct pw_mdir;

enum pw_mdir_event {
	PW_MDIR_CHANGED = 1, /* path is new or was rewritten: parse it again */
	PW_MDIR_REMOVED = 2, /* path is gone: its objects go too */
	PW_MDIR_GONE = 3,    /* the directory itself was removed or moved away (path = dir) */
};

typedef void (*pw_mdir_fn)(void *ctx, const char *path, enum pw_mdir_event ev);

int pw_mdir_open(const char *dir, pw_mdir_fn cb, void *ctx, struct pw_mdir **out);
void pw_mdir_close(struct pw_mdir *m);
/* Non-blocking inotify fd to poll for input. */
int pw_mdir_fd(const struct pw_mdir *m);
/* Handle pending inotify events. An event queue overflow turns into a rescan. */
int pw_mdir_process(struct pw_mdir *m);
/*
 * Report every manifest file present (CHANGED, in name order) and every file reported
 * present before that is gone now (REMOVED).
 */
int pw_mdir_scan(struct pw_mdir *m);
/* Whether a directory entry's name is a manifest file name. */
bool pw_mdir_is_manifest(const char *name);

#endif /* PW_CTL_MDIR_H */
