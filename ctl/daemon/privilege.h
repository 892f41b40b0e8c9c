/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Least privilege for podwalld (issue 10). Loading needs much of root (bpffs mount, BPF
 * program loads and cgroup attaches, perf events); running needs little. Once the datapath is
 * loaded and the control socket listens, the daemon
 *   - keeps one capability, CAP_NET_ADMIN (effective and permitted; the bounding set loses
 *     every other, the inheritable and ambient sets are emptied): attaching and detaching the
 *     TC programs of pods' interfaces that appear later (a tcx bpf_link_create, or clsact
 *     qdiscs and filters by netlink) is the one thing the kernel gates at run time. The rest
 *     a running daemon does works on file descriptors it already holds or on its own files:
 *     map updates, lookups and iteration (the kernel checks no capability on a map fd, also
 *     with kernel.unprivileged_bpf_disabled=2), pinning a link in its own bpffs directory,
 *     reading the perf rings opened while loading. So CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN
 *     (program loads, perf_event_open, the bpffs mount, cgroup attaches: all at start) go,
 *     with CAP_SYS_RESOURCE, CAP_DAC_OVERRIDE, CAP_SETUID and the rest. Measured: every e2e
 *     and netns test (late links, restarts, revocation, flow logs) passes with this set.
 *   - sets no_new_privs, so nothing it could exec regains a privilege;
 *   - installs a seccomp filter (libseccomp) refusing, with EPERM, the system calls a running
 *     daemon never makes and an attacker would want: module loading, mount and namespace
 *     changes, ptrace and cross-process memory access, kexec, reboot, keyrings, clock
 *     setting, swap, raw I/O ports, open_by_handle_at, userfaultfd, io_uring... It is a deny
 *     list, not an allow list, on purpose: the daemon links libraries (json-c, libbpf, libfyaml,
 *     and for other features libcurl, an HTTP server) whose system calls change between
 *     versions, and a daemon killed by its own filter stops re-enforcing new pods.
 * /proc/PID/status then shows the result (CapEff, CapBnd, NoNewPrivs: 1, Seccomp: 2).
 *
 * The control socket: root only, or also a group (--socket-group): the socket file is made
 * group-owned 0660 and a peer whose primary or supplementary groups hold the group is
 * accepted (SO_PEERCRED, SO_PEERGROUPS).
 */
#ifndef PW_DAEMON_PRIVILEGE_H
#define PW_DAEMON_PRIVILEGE_H

#include <stdbool.h>
#include <sys/types.h>

/* NULL-terminated names of the capabilities kept, for messages and docs */
extern const char *const pw_priv_kept[];

/* Drop to the kept capabilities, no_new_privs, seccomp. -errno; why names the step. */
int pw_priv_drop(const char **why);

/* "NAME" or "NUMBER" to a gid; -ENOENT when no such group. */
int pw_priv_group(const char *s, gid_t *gid);

/* The socket file becomes group gid, mode 0660. */
int pw_priv_share_socket(const char *path, gid_t gid);

/* Whether the peer on a connected Unix socket may use it: root, or a member of gid. */
bool pw_priv_peer_allowed(int fd, bool group_set, gid_t gid, uid_t *uid, pid_t *pid);

#endif
