// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cgpath.h"

#define CG_UID_DEPTH 4

static int cat(char *out, size_t len, size_t *at, const char *s, size_t n)
{
	if (*at + n + 1 > len)
		return -ENAMETOOLONG;
	memcpy(out + *at, s, n);
	*at += n;
	out[*at] = '\0';
	return 0;
}

/* systemd: "a-b-c.slice" is /a.slice/a-b.slice/a-b-c.slice; "-.slice" is the root */
static int expand_slice(const char *slice, char *out, size_t len, char *why, size_t why_len)
{
	size_t n = strlen(slice), at = 0, base, i;
	int err;

	out[0] = '\0';
	if (n < 6 || strcmp(slice + n - 6, ".slice") || strchr(slice, '/')) {
		snprintf(why, why_len, "\"%s\" is not a systemd slice name (NAME.slice)", slice);
		return -EINVAL;
	}
	if (!strcmp(slice, "-.slice"))
		return cat(out, len, &at, "/", 1);
	base = n - 6;
	if (!base || slice[0] == '-' || slice[base - 1] == '-' || strstr(slice, "--")) {
		snprintf(why, why_len,
			 "\"%s\": a slice name may not be empty, start or end with '-', or hold "
			 "\"--\"",
			 slice);
		return -EINVAL;
	}
	for (i = 0; i <= base; i++) {
		if (i < base && slice[i] != '-')
			continue;
		err = cat(out, len, &at, "/", 1);
		err = err ?: cat(out, len, &at, slice, i);
		err = err ?: cat(out, len, &at, ".slice", 6);
		if (err)
			return err;
	}
	return 0;
}

int pw_cgpath_expand(const char *cgroup_path, char *out, size_t len, char *why, size_t why_len)
{
	const char *c1, *c2;
	char slice[256];
	size_t n;

	if (!cgroup_path || !*cgroup_path) {
		snprintf(why, why_len, "cgroupPath is empty");
		return -EINVAL;
	}
	if (cgroup_path[0] == '/') {
		if (strstr(cgroup_path, "/../") || strstr(cgroup_path, "/./") ||
		    (strlen(cgroup_path) >= 3 &&
		     !strcmp(cgroup_path + strlen(cgroup_path) - 3, "/.."))) {
			snprintf(why, why_len, "cgroupPath \"%s\" may not hold '.' or '..'",
				 cgroup_path);
			return -EINVAL;
		}
		if (strlen(cgroup_path) >= len)
			return -ENAMETOOLONG;
		strcpy(out, cgroup_path);
		/* no trailing slash: the path is compared against the root below */
		for (n = strlen(out); n > 1 && out[n - 1] == '/'; n--)
			out[n - 1] = '\0';
		return 0;
	}
	c1 = strchr(cgroup_path, ':');
	if (c1) {
		/* runc: slice:prefix:name; the pod is the slice, the container a scope in it */
		c2 = strchr(c1 + 1, ':');
		if (!c2 || strchr(c2 + 1, ':') || c1 == cgroup_path) {
			snprintf(why, why_len,
				 "cgroupPath \"%s\" is neither a path (leading '/'), a slice "
				 "(NAME.slice) nor runc's SLICE:PREFIX:NAME",
				 cgroup_path);
			return -EINVAL;
		}
		n = (size_t)(c1 - cgroup_path);
		if (n >= sizeof(slice))
			return -ENAMETOOLONG;
		memcpy(slice, cgroup_path, n);
		slice[n] = '\0';
		return expand_slice(slice, out, len, why, why_len);
	}
	return expand_slice(cgroup_path, out, len, why, why_len);
}

int pw_cgroup2_mount(char *out, size_t len)
{
	char dev[256], mnt[PATH_MAX], type[64];
	int err = -ENOENT;
	FILE *f;

	f = fopen("/proc/mounts", "re");
	if (!f)
		return -errno;
	while (fscanf(f, "%255s %4095s %63s %*[^\n]", dev, mnt, type) == 3) {
		if (strcmp(type, "cgroup2"))
			continue;
		err = strlen(mnt) < len ? 0 : -ENAMETOOLONG;
		if (!err)
			strcpy(out, mnt);
		break;
	}
	fclose(f);
	return err;
}

/* depth-first search for the pod's directory; 1 when found (path in buf) */
static int find_uid(char *buf, size_t len, size_t at, const char *n1, const char *n2, int depth)
{
	struct dirent *de;
	DIR *d;
	int found = 0;

	if (depth > CG_UID_DEPTH)
		return 0;
	d = opendir(buf);
	if (!d)
		return 0;
	while (!found && (de = readdir(d))) {
		size_t nl = strlen(de->d_name), l2 = strlen(n2);

		if (de->d_type != DT_DIR || de->d_name[0] == '.')
			continue;
		if (at + 1 + nl + 1 > len)
			continue;
		buf[at] = '/';
		strcpy(buf + at + 1, de->d_name);
		if (!strcmp(de->d_name, n1) || (nl >= l2 && !strcmp(de->d_name + nl - l2, n2)))
			found = 1;
		else
			found = find_uid(buf, len, at + 1 + nl, n1, n2, depth + 1);
		if (!found)
			buf[at] = '\0';
	}
	closedir(d);
	return found;
}

int pw_cgpath_resolve(const char *mount, const char *root, const char *cgroup_path, const char *uid,
		      char *rel, size_t rel_len, char *why, size_t why_len)
{
	char sub[PATH_MAX], abs[PATH_MAX], rroot[PATH_MAX], rabs[PATH_MAX];
	size_t rl;
	struct stat sb;
	int err;

	if (!realpath(root, rroot)) {
		err = -errno;
		snprintf(why, why_len, "the daemon's --cgroup-root %s: %s", root, strerror(-err));
		return err;
	}
	if (cgroup_path && *cgroup_path) {
		err = pw_cgpath_expand(cgroup_path, sub, sizeof(sub), why, why_len);
		if (err)
			return err;
		if (snprintf(abs, sizeof(abs), "%s%s", mount, sub) >= (int)sizeof(abs))
			return -ENAMETOOLONG;
		if (!realpath(abs, rabs) || stat(rabs, &sb) || !S_ISDIR(sb.st_mode)) {
			snprintf(why, why_len,
				 "cgroupPath \"%s\": no cgroup %s (the runtime must create the pod "
				 "cgroup before calling CNI ADD)",
				 cgroup_path, abs);
			return -ENOENT;
		}
	} else {
		char n1[128], n2[160], *p;

		if (!uid || !*uid || strlen(uid) > 64 || strchr(uid, '/')) {
			snprintf(why, why_len,
				 "no runtimeConfig.cgroupPath and no usable K8S_POD_UID in "
				 "CNI_ARGS: "
				 "cannot find the pod's cgroup");
			return -EINVAL;
		}
		snprintf(n1, sizeof(n1), "pod%s", uid);
		snprintf(n2, sizeof(n2), "pod%s.slice", uid);
		for (p = n2; *p; p++)
			*p = *p == '-' ? '_' : *p;
		snprintf(rabs, sizeof(rabs), "%s", rroot);
		if (!find_uid(rabs, sizeof(rabs), strlen(rabs), n1, n2, 1)) {
			snprintf(why, why_len,
				 "no runtimeConfig.cgroupPath, and no cgroup of pod UID %s (%s or "
				 "*%s) under the daemon's --cgroup-root %s",
				 uid, n1, n2, root);
			return -ENOENT;
		}
	}
	rl = strlen(rroot);
	if (strncmp(rabs, rroot, rl) || rabs[rl] != '/' || !rabs[rl + 1]) {
		snprintf(
			why, why_len,
			"the pod cgroup %s is not below the daemon's --cgroup-root %s: its sockets "
			"would not be judged",
			rabs, root);
		return -EXDEV;
	}
	if (strlen(rabs + rl + 1) >= rel_len)
		return -ENAMETOOLONG;
	strcpy(rel, rabs + rl + 1);
	return 0;
}
