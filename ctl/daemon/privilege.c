// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#define _GNU_SOURCE
#include "privilege.h"

#include <errno.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <seccomp.h>
#include <sys/capability.h>

const char *const pw_priv_kept[] = {"cap_net_admin", NULL};

static const cap_value_t kept[] = {CAP_NET_ADMIN};

static bool is_kept(cap_value_t c)
{
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		if (kept[i] == c)
			return true;
	}
	return false;
}

static int caps_drop(void)
{
	cap_t caps = NULL;
	int err = 0;

	/* the bounding set first: dropping from it needs CAP_SETPCAP, still ours here */
	for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++) {
		/* gone already (a systemd CapabilityBoundingSet): nothing to drop, and without
		 * CAP_SETPCAP there nothing could be */
		if (is_kept(c) || !CAP_IS_SUPPORTED(c) || cap_get_bound(c) <= 0)
			continue;
		if (cap_drop_bound(c) && errno != EINVAL) {
			err = -errno;
			goto out;
		}
	}
	if (cap_reset_ambient() && errno != EINVAL) {
		err = -errno;
		goto out;
	}
	caps = cap_init(); /* every flag clear */
	if (!caps) {
		err = -errno;
		goto out;
	}
	if (cap_set_flag(caps, CAP_EFFECTIVE, sizeof(kept) / sizeof(kept[0]), kept, CAP_SET) ||
	    cap_set_flag(caps, CAP_PERMITTED, sizeof(kept) / sizeof(kept[0]), kept, CAP_SET) ||
	    cap_set_proc(caps)) {
		err = -errno;
		goto out;
	}
out:
	if (caps)
		cap_free(caps);
	return err;
}

/* LeakSanitizer stops the world with ptrace: sanitizer builds leave it allowed */
#if defined(__SANITIZE_ADDRESS__)
#define PW_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PW_ASAN 1
#endif
#endif

/* What a running daemon never calls; each refused with EPERM. */
static const char *const denied[] = {
	/* kernel code and the machine itself */
	"init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot",
	"swapon", "swapoff", "iopl", "ioperm", "acct", "syslog", "vhangup", "quotactl",
	"quotactl_fd", "lookup_dcookie", "settimeofday", "clock_settime", "clock_adjtime",
	"adjtimex", "personality", "uselib", "nfsservctl", "sysfs", "_sysctl",
	/* mounts and namespaces: the bpffs is mounted before */
	"mount", "umount2", "pivot_root", "chroot", "setns", "unshare", "fsopen", "fsmount",
	"fsconfig", "fspick", "move_mount", "open_tree", "mount_setattr",
	/* other processes (ptrace stays for LeakSanitizer's stop-the-world in sanitizer builds) */
#ifndef PW_ASAN
	"ptrace",
#endif
	"process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
	"process_madvise",
	/* keys, handles, fault and ring tricks */
	"keyctl", "add_key", "request_key", "open_by_handle_at", "userfaultfd", "io_uring_setup",
	"io_uring_enter", "io_uring_register",
	/* identities: the daemon stays who it is */
	"setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setfsuid",
	"setfsgid", "setgroups", "capset",
	/* devices */
	"mknod", "mknodat",
};

static int seccomp_install(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int err = 0;

	if (!ctx)
		return -ENOMEM;
	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
		int nr = seccomp_syscall_resolve_name(denied[i]);

		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
		if (err)
			goto out;
	}
	err = seccomp_load(ctx);
out:
	seccomp_release(ctx);
	return err;
}

int pw_priv_drop(const char **why)
{
	int err;

	*why = "no_new_privs";
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	*why = "dropping capabilities";
	err = caps_drop();
	if (err)
		return err;
	*why = "installing the seccomp filter";
	return seccomp_install();
}

int pw_priv_group(const char *s, gid_t *gid)
{
	char *end;
	unsigned long v;
	struct group *g;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s && !*end && !errno) {
		*gid = (gid_t)v;
		return 0;
	}
	g = getgrnam(s);
	if (!g)
		return errno ? -errno : -ENOENT;
	*gid = g->gr_gid;
	return 0;
}

int pw_priv_share_socket(const char *path, gid_t gid)
{
	if (chown(path, (uid_t)-1, gid) || chmod(path, 0660))
		return -errno;
	return 0;
}

bool pw_priv_peer_allowed(int fd, bool group_set, gid_t gid, uid_t *uid, pid_t *pid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	gid_t groups[256];

	*uid = (uid_t)-1;
	*pid = 0;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len))
		return false;
	*uid = cred.uid;
	*pid = cred.pid;
	if (cred.uid == 0)
		return true;
	if (!group_set)
		return false;
	if (cred.gid == gid)
		return true;
	/* supplementary groups, as the peer had them when it connected */
	len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len))
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++) {
		if (groups[i] == gid)
			return true;
	}
	return false;
}
