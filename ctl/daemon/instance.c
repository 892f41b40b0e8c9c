// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#define _GNU_SOURCE
#include "instance.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

int pw_instance_id(const char *bpffs, char *out, size_t n)
{
	char in[PATH_MAX];
	size_t len = 0;
	const char *p;

	if (!bpffs || !*bpffs || strchr(bpffs, '\n'))
		return -EINVAL;
	if (bpffs[0] == '/') {
		if (snprintf(in, sizeof(in), "%s", bpffs) >= (int)sizeof(in))
			return -ENAMETOOLONG;
	} else {
		char cwd[PATH_MAX];

		if (!getcwd(cwd, sizeof(cwd)))
			return -errno;
		if (snprintf(in, sizeof(in), "%s/%s", cwd, bpffs) >= (int)sizeof(in))
			return -ENAMETOOLONG;
	}
	if (n < 2)
		return -ENAMETOOLONG;
	out[0] = '\0';
	/* component by component: the same directory spelt two ways is one instance */
	for (p = in; *p;) {
		const char *e;
		size_t cl;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		e = strchrnul(p, '/');
		cl = (size_t)(e - p);
		if (cl == 1 && p[0] == '.') {
			/* nothing */
		} else if (cl == 2 && p[0] == '.' && p[1] == '.') {
			while (len > 0 && out[len] != '/')
				len--;
			out[len] = '\0';
		} else {
			if (len + 1 + cl + 1 > n)
				return -ENAMETOOLONG;
			out[len++] = '/';
			memcpy(out + len, p, cl);
			len += cl;
			out[len] = '\0';
		}
		p = e;
	}
	if (!len) {
		out[0] = '/';
		out[1] = '\0';
	}
	return 0;
}

int pw_instance_state_dir(const char *bpffs, char *out, size_t n)
{
	char id[PATH_MAX];
	size_t len;
	int err = pw_instance_id(bpffs, id, sizeof(id));

	if (err)
		return err;
	len = (size_t)snprintf(out, n, "%s/", PW_STATE_ROOT);
	if (len >= n)
		return -ENAMETOOLONG;
	/*
	 * systemd's path escaping (systemd-escape --path): '/' -> '-', anything else outside
	 * [A-Za-z0-9:_.] (and a leading '.') -> \xNN, so every path has its own name.
	 */
	if (!id[1]) {
		if (len + 2 > n)
			return -ENAMETOOLONG;
		memcpy(out + len, "-", 2);
		return 0;
	}
	for (const char *p = id + 1; *p; p++) {
		unsigned char ch = (unsigned char)*p;
		char esc[5];

		if (ch == '/')
			snprintf(esc, sizeof(esc), "-");
		else if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			 (ch >= '0' && ch <= '9') || ch == ':' || ch == '_' ||
			 (ch == '.' && p != id + 1))
			snprintf(esc, sizeof(esc), "%c", ch);
		else
			snprintf(esc, sizeof(esc), "\\x%02x", ch);
		if (len + strlen(esc) + 1 > n)
			return -ENAMETOOLONG;
		memcpy(out + len, esc, strlen(esc) + 1);
		len += strlen(esc);
	}
	return 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

/* Whether the directory holds anything besides its instance file: state of an older daemon. */
static bool has_state(const char *dir)
{
	static const char *const names[] = {"cli-journal.jsonl", "events-unread",
					    "flow-ends-lost"};
	char p[PATH_MAX];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		if (!access(p, F_OK))
			return true;
	}
	return false;
}

int pw_instance_claim(const char *state_dir, const char *bpffs, struct pw_instance_claim *c)
{
	char id[PATH_MAX], path[PATH_MAX], buf[PATH_MAX + 64];
	json_object *o = NULL;
	const char *owner;
	ssize_t got;
	int fd = -1, err;

	c->fd = -1;
	c->legacy = 0;
	c->owner[0] = '\0';
	err = pw_instance_id(bpffs, id, sizeof(id));
	if (err)
		return err;
	if (snprintf(path, sizeof(path), "%s/%s", state_dir, PW_INSTANCE_FILE) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	err = mkdir_p(state_dir, 0700);
	if (err)
		return err;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		goto out;
	}
	got = pread(fd, buf, sizeof(buf) - 1, 0);
	if (got < 0) {
		err = -errno;
		goto out;
	}
	buf[got] = '\0';
	if (got == 0) {
		/* a new claim: write it whole before anything else lands in the directory */
		json_object *rec = json_object_new_object();
		const char *s;
		size_t sl;

		if (!rec) {
			err = -ENOMEM;
			goto out;
		}
		json_object_object_add(rec, "bpffs", json_object_new_string(id));
		s = json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PLAIN |
							   JSON_C_TO_STRING_NOSLASHESCAPE);
		sl = strlen(s);
		if (pwrite(fd, s, sl, 0) != (ssize_t)sl || pwrite(fd, "\n", 1, (off_t)sl) != 1 ||
		    fsync(fd))
			err = errno ? -errno : -EIO;
		json_object_put(rec);
		if (err) {
			(void)ftruncate(fd, 0);
			goto out;
		}
		c->legacy = has_state(state_dir);
		goto out;
	}
	o = json_tokener_parse(buf);
	owner = o && json_object_is_type(o, json_type_object)
			? json_object_get_string(json_object_object_get(o, "bpffs"))
			: NULL;
	if (!owner || json_object_get_type(json_object_object_get(o, "bpffs")) !=
			      json_type_string) {
		err = -EBADMSG;
		goto out;
	}
	if (strcmp(owner, id)) {
		snprintf(c->owner, sizeof(c->owner), "%s", owner);
		err = -EEXIST;
	}
out:
	json_object_put(o);
	if (err) {
		if (fd >= 0)
			close(fd);
		return err;
	}
	c->fd = fd;
	return 0;
}

void pw_instance_release(struct pw_instance_claim *c)
{
	if (c && c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
}
