/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A CNI pod's cgroup: runtimeConfig.cgroupPath as container runtimes pass it, or the pod's UID,
 * to a cgroup v2 directory below the daemon's --cgroup-root (the socket programs attach there,
 * so a pod cgroup anywhere else would never be judged).
 *
 * cgroupPath notations (design.md, CNI):
 *   "/kubepods/besteffort/pod<uid>"       cgroupfs: relative to the cgroup2 mount
 *   "kubepods-besteffort-pod<uid>.slice"  systemd: /kubepods.slice/kubepods-besteffort.slice/...
 *   "<slice>:<prefix>:<name>"             runc's systemd form; the pod cgroup is <slice>, the
 *                                         container runs in <prefix>-<name>.scope below it
 * Container processes live in child cgroups of the pod cgroup; the socket programs walk a
 * task's ancestors, so binding the pod cgroup covers every container of the pod.
 */
#ifndef PW_CTL_CGPATH_H
#define PW_CTL_CGPATH_H

#include <stddef.h>

/*
 * cgroupPath -> a path relative to the cgroup2 mount with a leading '/', in out. -EINVAL with
 * a reason in why (a message naming the value) when the notation is not one of the above.
 */
int pw_cgpath_expand(const char *cgroup_path, char *out, size_t len, char *why, size_t why_len);

/* The first cgroup2 mount point in /proc/mounts; -ENOENT when there is none. */
int pw_cgroup2_mount(char *out, size_t len);

/*
 * The pod cgroup, relative to root (no leading '/', as podwall.io/cgroup), into rel:
 * from cgroup_path when given (it must exist and lie strictly below root), else found from
 * uid under root (a directory named pod<uid>, or a systemd slice ending in
 * pod<uid with '_' for '-'>.slice, at most four levels down). mount: the cgroup2 mount.
 * -EINVAL (bad notation), -ENOENT (no such cgroup), -EXDEV (not below root), with why set.
 */
int pw_cgpath_resolve(const char *mount, const char *root, const char *cgroup_path, const char *uid,
		      char *rel, size_t rel_len, char *why, size_t why_len);

#endif /* PW_CTL_CGPATH_H */
