// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The --manifests directory, watched with inotify. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "mdir.h"

struct pw_mdir {
	char *dir;
	int fd;
	int wd;
	pw_mdir_fn cb;
	void *ctx;
	char **known; /* basenames reported present */
	size_t n_known, cap_known;
};

static bool has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), m = strlen(suf);

	return n > m && !strcmp(s + n - m, suf);
}

bool pw_mdir_is_manifest(const char *name)
{
	/* hidden files are editors' swap files and ConfigMap volumes' ..data internals */
	if (!name[0] || name[0] == '.')
		return false;
	return has_suffix(name, ".yaml") || has_suffix(name, ".yml") || has_suffix(name, ".json");
}

static ssize_t known_find(struct pw_mdir *m, const char *name)
{
	for (size_t i = 0; i < m->n_known; i++) {
		if (!strcmp(m->known[i], name))
			return (ssize_t)i;
	}
	return -1;
}

static int known_add(struct pw_mdir *m, const char *name)
{
	char *dup;

	if (known_find(m, name) >= 0)
		return 0;
	if (m->n_known == m->cap_known) {
		size_t cap = m->cap_known ? m->cap_known * 2 : 32;
		char **v = realloc(m->known, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		m->known = v;
		m->cap_known = cap;
	}
	dup = strdup(name);
	if (!dup)
		return -ENOMEM;
	m->known[m->n_known++] = dup;
	return 0;
}

static bool known_del(struct pw_mdir *m, const char *name)
{
	ssize_t i = known_find(m, name);

	if (i < 0)
		return false;
	free(m->known[i]);
	m->known[i] = m->known[--m->n_known];
	return true;
}

static void emit(struct pw_mdir *m, const char *name, enum pw_mdir_event ev)
{
	char path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/%s", m->dir, name) >= (int)sizeof(path))
		return;
	m->cb(m->ctx, path, ev);
}

/* A regular file (or a symlink to one): directories and sockets named *.yaml are not input. */
static bool is_file(struct pw_mdir *m, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	if (snprintf(path, sizeof(path), "%s/%s", m->dir, name) >= (int)sizeof(path))
		return false;
	return !stat(path, &st) && S_ISREG(st.st_mode);
}

static int changed(struct pw_mdir *m, const char *name)
{
	int err;

	if (!is_file(m, name))
		return 0;
	err = known_add(m, name);
	if (err)
		return err;
	emit(m, name, PW_MDIR_CHANGED);
	return 0;
}

static void removed(struct pw_mdir *m, const char *name)
{
	if (known_del(m, name))
		emit(m, name, PW_MDIR_REMOVED);
}

int pw_mdir_open(const char *dir, pw_mdir_fn cb, void *ctx, struct pw_mdir **out)
{
	struct pw_mdir *m = calloc(1, sizeof(*m));
	struct stat st;
	int err = 0;

	*out = NULL;
	if (!m)
		return -ENOMEM;
	m->fd = -1;
	m->cb = cb;
	m->ctx = ctx;
	m->dir = realpath(dir, NULL);
	if (!m->dir) {
		err = -errno;
		goto out;
	}
	if (stat(m->dir, &st)) {
		err = -errno;
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		err = -ENOTDIR;
		goto out;
	}
	m->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (m->fd < 0) {
		err = -errno;
		goto out;
	}
	m->wd = inotify_add_watch(m->fd, m->dir,
				  IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
					  IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR);
	if (m->wd < 0) {
		err = -errno;
		goto out;
	}
	*out = m;
	m = NULL;
out:
	pw_mdir_close(m);
	return err;
}

void pw_mdir_close(struct pw_mdir *m)
{
	if (!m)
		return;
	if (m->fd >= 0)
		close(m->fd);
	for (size_t i = 0; i < m->n_known; i++)
		free(m->known[i]);
	free(m->known);
	free(m->dir);
	free(m);
}

int pw_mdir_fd(const struct pw_mdir *m)
{
	return m->fd;
}

static int select_manifest(const struct dirent *d)
{
	return pw_mdir_is_manifest(d->d_name);
}

int pw_mdir_scan(struct pw_mdir *m)
{
	struct dirent **list = NULL;
	int n, err = 0;

	n = scandir(m->dir, &list, select_manifest, alphasort);
	if (n < 0)
		return -errno;
	/* first what vanished, so a file renamed a.yaml -> b.yaml never holds objects twice */
	for (size_t i = 0; i < m->n_known;) {
		bool present = false;

		for (int j = 0; j < n; j++) {
			if (!strcmp(list[j]->d_name, m->known[i]) && is_file(m, list[j]->d_name)) {
				present = true;
				break;
			}
		}
		if (present) {
			i++;
			continue;
		}
		char *name = m->known[i];

		m->known[i] = m->known[--m->n_known];
		emit(m, name, PW_MDIR_REMOVED);
		free(name);
	}
	for (int j = 0; j < n; j++) {
		if (!err)
			err = changed(m, list[j]->d_name);
		free(list[j]);
	}
	free(list);
	return err;
}

int pw_mdir_process(struct pw_mdir *m)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool rescan = false;
	int err = 0;

	for (;;) {
		ssize_t n = read(m->fd, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return -errno;
		}
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				rescan = true;
				continue;
			}
			if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
				m->cb(m->ctx, m->dir, PW_MDIR_GONE);
				continue;
			}
			if (!ev->len || (ev->mask & IN_ISDIR) || !pw_mdir_is_manifest(ev->name))
				continue;
			if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
				removed(m, ev->name);
			} else if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) {
				err = changed(m, ev->name);
			} else if (ev->mask & IN_CREATE) {
				/*
				 * A plain file announces itself again at close; a symlink
				 * never closes, so it counts now.
				 */
				char path[PATH_MAX];
				struct stat st;

				snprintf(path, sizeof(path), "%s/%s", m->dir, ev->name);
				if (!lstat(path, &st) && S_ISLNK(st.st_mode))
					err = changed(m, ev->name);
			}
			if (err)
				return err;
		}
	}
	return rescan ? pw_mdir_scan(m) : 0;
}
