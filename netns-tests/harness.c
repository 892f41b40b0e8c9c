// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Topology, processes and probes of the live netns harness (see harness.h). This file does not
 * call the datapath library, so the harness self-test runs even without it.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <mntent.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/tcp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>

extern char **environ;

#define NT_SYS_BPFFS  "/sys/fs/bpf"
#define NT_NETNS_DIR  "/run/netns"
#define NT_CG_PREFIX  "podwall-nt-"
#define NT_SLACK_MS   3000 /* beyond a probe's own timeout: fork, exec, scheduling */
#define NT_EXIT_SETUP 101  /* child could not enter its pod */

/* Environments alive in this process, for atexit and signal cleanup. */
#define NT_MAX_ENVS 4
static struct nt_env *nt_envs[NT_MAX_ENVS];
static bool nt_hooks_installed;

static void nt_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void nt_log(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "[netns %d] %s\n", (int)getpid(), buf);
}

uint64_t nt_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int nt_pathf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int nt_remaining_ms(uint64_t deadline_us)
{
	uint64_t now = nt_now_us();

	return now >= deadline_us ? 0 : (int)((deadline_us - now + 999) / 1000);
}

static int nt_write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read exactly len bytes within timeout_ms: 0, -ETIMEDOUT, or -EPIPE when the writer closed. */
static int nt_read_timeout(int fd, void *buf, size_t len, int timeout_ms)
{
	uint64_t deadline = nt_now_us() + (uint64_t)timeout_ms * 1000;
	char *p = buf;

	while (len) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int n = poll(&pfd, 1, nt_remaining_ms(deadline));
		ssize_t r;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ETIMEDOUT;
		r = read(fd, p, len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -EPIPE;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

static int nt_write_file(const char *path, const char *val)
{
	int fd, err = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		err = -errno;
	close(fd);
	return err;
}

static bool nt_path_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* --- commands ---------------------------------------------------------------------------- */

static int nt_spawn_argv(char *const argv[], bool quiet)
{
	posix_spawn_file_actions_t fa;
	int st, err;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	if (quiet) {
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	}
	err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err)
		return -err;
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return -EIO;
	return 0;
}

int nt_cmd(bool quiet, const char *fmt, ...)
{
	char line[512], words[512], *argv[48], *save = NULL, *tok;
	int argc = 0, n, err;
	va_list ap;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -ENAMETOOLONG;
	memcpy(words, line, (size_t)n + 1);
	for (tok = strtok_r(words, " ", &save); tok && argc < 47; tok = strtok_r(NULL, " ", &save))
		argv[argc++] = tok;
	argv[argc] = NULL;
	if (!argc)
		return -EINVAL;
	err = nt_spawn_argv(argv, quiet);
	if (err && !quiet)
		nt_log("command failed (%s): %s", strerror(-err), line);
	return err;
}

/* --- namespaces ---------------------------------------------------------------------------- */

static int nt_netns_path(const char *ns, char *buf, size_t len)
{
	return nt_pathf(buf, len, NT_NETNS_DIR "/%s", ns);
}

/*
 * Join netns `ns` and prove it: the namespace we are in afterwards must be the one the name
 * refers to, so nothing meant for a test namespace can land in the root one.
 */
static int nt_join_netns(const char *ns)
{
	char path[PATH_MAX];
	struct stat a, b;
	int fd, err = 0;

	err = nt_netns_path(ns, path, sizeof(path));
	if (err)
		return err;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET)) {
		err = -errno;
		goto out;
	}
	if (fstat(fd, &a) || stat("/proc/self/ns/net", &b)) {
		err = -errno;
		goto out;
	}
	if (a.st_ino != b.st_ino || a.st_dev != b.st_dev)
		err = -EXDEV;
out:
	close(fd);
	return err;
}

int nt_ns_sysctl(const char *ns, const char *key, const char *val)
{
	char path[PATH_MAX];
	pid_t pid;
	int st, n;

	n = snprintf(path, sizeof(path), "/proc/sys/net/%s", key);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	/* a child, so the caller's own netns never changes, even for a moment */
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (nt_join_netns(ns))
			_exit(2);
		_exit(nt_write_file(path, val) ? 3 : 0);
	}
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		nt_log("sysctl %s=%s in netns %s failed (status %d)", key, val, ns, st);
		return -EIO;
	}
	return 0;
}

/* --- cgroups ------------------------------------------------------------------------------- */

int nt_cgroup_id(const char *path, uint64_t *id)
{
	union {
		struct file_handle fh;
		char buf[sizeof(struct file_handle) + sizeof(uint64_t)];
	} h;
	int mount_id;

	h.fh.handle_bytes = sizeof(uint64_t);
	if (name_to_handle_at(AT_FDCWD, path, &h.fh, &mount_id, 0))
		return -errno;
	if (h.fh.handle_bytes != sizeof(uint64_t))
		return -EINVAL;
	memcpy(id, h.fh.f_handle, sizeof(*id));
	return 0;
}

static int nt_find_cg2(char *out, size_t len)
{
	struct mntent *m;
	int err = -ENOENT;
	FILE *f;

	f = setmntent("/proc/mounts", "re");
	if (!f)
		return -errno;
	while ((m = getmntent(f))) {
		if (strcmp(m->mnt_type, "cgroup2"))
			continue;
		if (strlen(m->mnt_dir) >= len) {
			err = -ENAMETOOLONG;
			break;
		}
		strcpy(out, m->mnt_dir);
		err = 0;
		break;
	}
	endmntent(f);
	return err;
}

/* Reap every exited child, ours or orphans handed to us as subreaper. */
static void nt_reap_any(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

static bool nt_cg_populated(const char *cg)
{
	char path[PATH_MAX], line[128];
	bool populated = false;
	FILE *f;

	if (nt_pathf(path, sizeof(path), "%s/cgroup.events", cg))
		return false;
	f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "populated ", 10))
			populated = line[10] == '1';
	}
	fclose(f);
	return populated;
}

/* Kill every process in the subtree (cgroup.kill) and wait, bounded, until it is empty. */
static int nt_cg_kill(const char *cg)
{
	char path[PATH_MAX];
	uint64_t deadline;

	if (!nt_path_exists(cg))
		return 0;
	if (nt_pathf(path, sizeof(path), "%s/cgroup.kill", cg))
		return -ENAMETOOLONG;
	nt_write_file(path, "1");
	deadline = nt_now_us() + 3000000;
	while (nt_cg_populated(cg)) {
		struct timespec ts = {0, 2000000};

		nt_reap_any();
		if (nt_now_us() > deadline)
			return -EBUSY;
		nanosleep(&ts, NULL);
	}
	nt_reap_any();
	return 0;
}

/* rmdir a cgroup and its descendants, deepest first */
static int nt_cg_rmtree(const char *cg)
{
	char sub[PATH_MAX];
	struct dirent *de;
	int err = 0;
	DIR *d;

	d = opendir(cg);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (nt_pathf(sub, sizeof(sub), "%s/%s", cg, de->d_name) || nt_cg_rmtree(sub))
			err = -EBUSY;
	}
	closedir(d);
	if (rmdir(cg) && errno != ENOENT)
		err = -errno;
	return err;
}

/* --- bpffs --------------------------------------------------------------------------------- */

static bool nt_is_bpffs(const char *path)
{
	struct statfs st;

	return statfs(path, &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

/*
 * Mount bpffs on /sys/fs/bpf when nothing is (as systemd would). Parallel test programs
 * serialise on a lock of the directory itself, so they never stack two mounts there and
 * leave no lock file behind. It stays mounted: that is the system's usual state.
 */
static int nt_bpffs_ensure(void)
{
	int fd, err = 0;

	if (nt_is_bpffs(NT_SYS_BPFFS))
		return 0;
	fd = open(NT_SYS_BPFFS, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX)) {
		err = -errno;
		goto out;
	}
	if (!nt_is_bpffs(NT_SYS_BPFFS) && mount("bpf", NT_SYS_BPFFS, "bpf", 0, "mode=0700"))
		err = -errno;
out:
	close(fd);
	return err;
}

static int nt_rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type == FTW_DP)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* Remove a pin directory: unpinning releases the links, which detaches their programs. */
static void nt_bpffs_rmtree(const char *dir)
{
	if (!nt_path_exists(dir))
		return;
	nftw(dir, nt_rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	if (nt_path_exists(dir)) {
		/* a bpffs the library mounted on the directory itself */
		umount2(dir, MNT_DETACH);
		rmdir(dir);
	}
}

/* --- stale runs ---------------------------------------------------------------------------- */

static bool nt_pid_dead(long pid)
{
	return pid > 0 && pid != getpid() && kill((pid_t)pid, 0) && errno == ESRCH;
}

/* "pw<pid>n" (node) or "pw<pid>p<i>" (pod): returns the pid, or -1 when not one of ours */
static long nt_parse_ns_name(const char *name)
{
	const char *p = name + 2;
	char *end;
	long pid;

	if (strncmp(name, "pw", 2) || *p < '0' || *p > '9')
		return -1;
	pid = strtol(p, &end, 10);
	if (!strcmp(end, "n"))
		return pid;
	if (end[0] != 'p' || end[1] < '0' || end[1] > '9')
		return -1;
	strtol(end + 1, &end, 10);
	return *end ? -1 : pid;
}

static long nt_parse_prefixed(const char *name)
{
	size_t l = strlen(NT_CG_PREFIX);
	char *end;
	long pid;

	if (strncmp(name, NT_CG_PREFIX, l) || name[l] < '0' || name[l] > '9')
		return -1;
	pid = strtol(name + l, &end, 10);
	return *end ? -1 : pid;
}

int nt_cleanup_stale(void)
{
	char path[PATH_MAX], cg2[PATH_MAX];
	struct dirent *de;
	int removed = 0;
	DIR *d;

	/* pins first: releasing pinned links detaches the stale programs */
	d = opendir(NT_SYS_BPFFS);
	while (d && (de = readdir(d))) {
		long pid = nt_parse_prefixed(de->d_name);

		if (pid < 0 || !nt_pid_dead(pid))
			continue;
		if (nt_pathf(path, sizeof(path), NT_SYS_BPFFS "/%s", de->d_name))
			continue;
		nt_log("removing stale bpffs dir %s", path);
		nt_bpffs_rmtree(path);
		removed++;
	}
	if (d)
		closedir(d);

	/* then the stale run's processes (servers orphaned by a killed run) */
	if (!nt_find_cg2(cg2, sizeof(cg2))) {
		d = opendir(cg2);
		while (d && (de = readdir(d))) {
			long pid = nt_parse_prefixed(de->d_name);

			if (pid < 0 || !nt_pid_dead(pid))
				continue;
			if (nt_pathf(path, sizeof(path), "%s/%s", cg2, de->d_name))
				continue;
			nt_log("removing stale cgroup %s", path);
			nt_cg_kill(path);
			nt_cg_rmtree(path);
			removed++;
		}
		if (d)
			closedir(d);
	}

	d = opendir(NT_NETNS_DIR);
	while (d && (de = readdir(d))) {
		long pid = nt_parse_ns_name(de->d_name);

		if (pid < 0 || !nt_pid_dead(pid))
			continue;
		nt_log("removing stale netns %s", de->d_name);
		nt_cmd(true, "ip netns del %s", de->d_name);
		removed++;
	}
	if (d)
		closedir(d);
	return removed;
}

int nt_env_leftovers(const char *node_ns, const char *const *pod_ns, int npods, const char *cgroot,
		     const char *bpffs)
{
	char path[PATH_MAX];
	int left = 0, i;

	if (!nt_netns_path(node_ns, path, sizeof(path)) && nt_path_exists(path))
		left++;
	for (i = 0; i < npods; i++) {
		if (!nt_netns_path(pod_ns[i], path, sizeof(path)) && nt_path_exists(path))
			left++;
	}
	if (cgroot && nt_path_exists(cgroot))
		left++;
	if (bpffs && nt_path_exists(bpffs))
		left++;
	return left;
}

/* --- children ------------------------------------------------------------------------------ */

static void nt_kid_add(struct nt_env *env, pid_t pid)
{
	if (env->nkids < NT_MAX_KIDS)
		env->kids[env->nkids++] = pid;
}

static void nt_kid_del(struct nt_env *env, pid_t pid)
{
	int i;

	for (i = 0; i < env->nkids; i++) {
		if (env->kids[i] == pid) {
			env->kids[i] = env->kids[--env->nkids];
			return;
		}
	}
}

static void nt_kill_reap(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

void nt_kids_kill(struct nt_env *env)
{
	while (env->nkids)
		nt_kill_reap(env->kids[--env->nkids]);
	nt_reap_any();
}

/* Join the pod's container cgroup first (so the socket hooks see the pod), then its netns. */
static int nt_enter_pod(const struct nt_pod *pod)
{
	char path[PATH_MAX], buf[32];
	int err;

	err = nt_pathf(path, sizeof(path), "%s/cgroup.procs", pod->cg_c0);
	if (err)
		return err;
	snprintf(buf, sizeof(buf), "%d", (int)getpid());
	err = nt_write_file(path, buf);
	if (err)
		return err;
	return nt_join_netns(pod->netns);
}

static void nt_child_init(pid_t parent)
{
	/* the test's cleanup handlers and cmocka's crash handlers are not the child's business */
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT,
				   SIGILL, SIGBUS,  SIGFPE, SIGSEGV, SIGSYS};
	size_t i;

	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	/* never outlive the test, even when it is SIGKILLed */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(NT_EXIT_SETUP);
}

int nt_child_start(struct nt_env *env, int pod, const char *comm, nt_child_fn fn, void *arg,
		   struct nt_child *c)
{
	int res[2], cmd[2];
	pid_t parent = getpid(), pid;

	if (pod < 1 || pod > env->npods)
		return -EINVAL;
	if (pipe2(res, O_CLOEXEC))
		return -errno;
	if (pipe2(cmd, O_CLOEXEC)) {
		int err = -errno;

		close(res[0]);
		close(res[1]);
		return err;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		int err = -errno;

		close(res[0]);
		close(res[1]);
		close(cmd[0]);
		close(cmd[1]);
		return err;
	}
	if (pid == 0) {
		close(res[0]);
		close(cmd[1]);
		nt_child_init(parent);
		if (nt_enter_pod(&env->pods[pod]))
			_exit(NT_EXIT_SETUP);
		prctl(PR_SET_NAME, comm);
		fn(env, &env->pods[pod], arg, res[1], cmd[0]);
		_exit(0);
	}
	close(res[1]);
	close(cmd[0]);
	c->pid = pid;
	c->res_fd = res[0];
	c->cmd_fd = cmd[1];
	nt_kid_add(env, pid);
	return 0;
}

void nt_child_stop(struct nt_env *env, struct nt_child *c)
{
	if (c->cmd_fd >= 0)
		close(c->cmd_fd);
	if (c->res_fd >= 0)
		close(c->res_fd);
	c->cmd_fd = c->res_fd = -1;
	if (c->pid > 0) {
		nt_kill_reap(c->pid);
		nt_kid_del(env, c->pid);
		c->pid = 0;
	}
}

socklen_t nt_pod_sockaddr(const struct nt_env *env, int pod, int family, uint16_t port,
			  struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		sin->sin_addr = env->pods[pod].v4;
		return sizeof(*sin);
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	sin6->sin6_addr = env->pods[pod].v6;
	return sizeof(*sin6);
}

/* --- socket primitives (run in children) ------------------------------------------------- */

static int nt_connect_timeout(int fd, const struct sockaddr_storage *sa, socklen_t len,
			      int timeout_ms, uint64_t *elapsed_us)
{
	uint64_t t0 = nt_now_us();
	int err = 0;

	if (connect(fd, (const struct sockaddr *)sa, len) == 0)
		goto out;
	if (errno != EINPROGRESS) {
		err = -errno;
		goto out;
	}
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLOUT};
		int n = poll(&pfd, 1, timeout_ms);
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
		} else if (n == 0) {
			err = -ETIMEDOUT;
		} else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl)) {
			err = -errno;
		} else {
			err = -soerr;
		}
		break;
	}
out:
	*elapsed_us = nt_now_us() - t0;
	return err;
}

static uint16_t nt_local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* Wait for exactly len bytes on a stream or one datagram of len bytes; compare with msg. */
static int nt_recv_expect(int fd, const char *msg, size_t len, int timeout_ms, bool stream)
{
	uint64_t deadline = nt_now_us() + (uint64_t)timeout_ms * 1000;
	char buf[256];
	size_t got = 0;

	while (got < len) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int n = poll(&pfd, 1, nt_remaining_ms(deadline));
		ssize_t r;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ETIMEDOUT;
		r = recv(fd, buf + got, sizeof(buf) - got, MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ECONNRESET;
		got += (size_t)r;
		if (!stream && (size_t)r != len)
			return -EBADMSG;
	}
	return got == len && !memcmp(buf, msg, len) ? 0 : -EBADMSG;
}

static int nt_msg(char *buf, size_t len)
{
	static unsigned int seq;

	return snprintf(buf, len, "podwall-nt %d %u %llu", (int)getpid(), ++seq,
			(unsigned long long)nt_now_us());
}

/* One echo round trip on a connected socket. */
static int nt_roundtrip(int fd, int timeout_ms, bool stream, struct nt_result *r)
{
	char msg[96];
	int len = nt_msg(msg, sizeof(msg));
	uint64_t t0 = nt_now_us();

	r->stage = NT_ST_SEND;
	if (send(fd, msg, (size_t)len, MSG_NOSIGNAL) != len) {
		r->err = -errno;
		r->elapsed_us = nt_now_us() - t0;
		return r->err;
	}
	r->stage = NT_ST_RECV;
	r->err = nt_recv_expect(fd, msg, (size_t)len, timeout_ms, stream);
	if (!r->err)
		r->stage = NT_ST_DONE;
	return r->err;
}

/* --- probes -------------------------------------------------------------------------------- */

struct nt_probe_req {
	int family;
	struct sockaddr_storage dst;
	socklen_t dstlen;
	struct sockaddr_storage src; /* raw SYN: the source written into the header */
	uint16_t sport;
	bool connected;
	int timeout_ms;
};

static void nt_tcp_echo_child(struct nt_env *env, struct nt_pod *pod, void *arg, int res_fd,
			      int cmd_fd)
{
	struct nt_probe_req *rq = arg;
	struct nt_result r = {.pid = getpid(), .stage = NT_ST_SETUP};
	int fd;

	fd = socket(rq->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r.err = -errno;
		goto out;
	}
	r.stage = NT_ST_CONNECT;
	r.err = nt_connect_timeout(fd, &rq->dst, rq->dstlen, rq->timeout_ms, &r.elapsed_us);
	r.local_port = nt_local_port(fd);
	if (r.err)
		goto out;
	nt_roundtrip(fd, rq->timeout_ms, true, &r);
out:
	nt_write_full(res_fd, &r, sizeof(r));
}

static void nt_udp_echo_child(struct nt_env *env, struct nt_pod *pod, void *arg, int res_fd,
			      int cmd_fd)
{
	struct nt_probe_req *rq = arg;
	struct nt_result r = {.pid = getpid(), .stage = NT_ST_SETUP};
	char msg[96];
	int fd, len;
	uint64_t t0;

	fd = socket(rq->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r.err = -errno;
		goto out;
	}
	if (rq->connected) {
		r.stage = NT_ST_CONNECT;
		t0 = nt_now_us();
		if (connect(fd, (struct sockaddr *)&rq->dst, rq->dstlen))
			r.err = -errno;
		r.elapsed_us = nt_now_us() - t0;
		if (r.err)
			goto out;
		nt_roundtrip(fd, rq->timeout_ms, false, &r);
		r.local_port = nt_local_port(fd);
		goto out;
	}
	len = nt_msg(msg, sizeof(msg));
	r.stage = NT_ST_SEND;
	t0 = nt_now_us();
	if (sendto(fd, msg, (size_t)len, 0, (struct sockaddr *)&rq->dst, rq->dstlen) != len)
		r.err = -errno;
	r.elapsed_us = nt_now_us() - t0;
	r.local_port = nt_local_port(fd);
	if (r.err)
		goto out;
	r.stage = NT_ST_RECV;
	r.err = nt_recv_expect(fd, msg, (size_t)len, rq->timeout_ms, false);
	if (!r.err)
		r.stage = NT_ST_DONE;
out:
	nt_write_full(res_fd, &r, sizeof(r));
}

static uint16_t nt_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t nt_csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)(p[0] << 8 | p[1]);
	if (len)
		sum += (uint32_t)(p[0] << 8);
	return sum;
}

static void nt_raw_syn_child(struct nt_env *env, struct nt_pod *pod, void *arg, int res_fd,
			     int cmd_fd)
{
	struct nt_probe_req *rq = arg;
	struct nt_result r = {.pid = getpid(), .stage = NT_ST_SETUP};
	uint8_t pkt[sizeof(struct iphdr) + sizeof(struct tcphdr)] = {0};
	struct tcphdr th = {0};
	int fd = -1;
	uint64_t t0;
	ssize_t n;

	th.source = htons(rq->sport);
	th.dest = ((struct sockaddr_in *)&rq->dst)->sin_port; /* same offset for sin6_port */
	th.seq = htonl((uint32_t)nt_now_us());
	th.doff = sizeof(th) / 4;
	th.syn = 1;
	th.window = htons(64240);

	if (rq->family == AF_INET) {
		struct iphdr *ip = (struct iphdr *)pkt;
		struct sockaddr_in *src = (struct sockaddr_in *)&rq->src;
		struct sockaddr_in dst = *(struct sockaddr_in *)&rq->dst;
		uint8_t pseudo[12];
		uint16_t tcplen = htons(sizeof(th));

		/* IPPROTO_RAW implies IP_HDRINCL: we write the whole header, source included */
		fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
		if (fd < 0) {
			r.err = -errno;
			goto out;
		}
		ip->version = 4;
		ip->ihl = 5;
		ip->ttl = 64;
		ip->protocol = IPPROTO_TCP;
		ip->tot_len = htons(sizeof(pkt));
		ip->frag_off = htons(IP_DF);
		ip->saddr = src->sin_addr.s_addr;
		ip->daddr = dst.sin_addr.s_addr;
		memcpy(pseudo, &ip->saddr, 4);
		memcpy(pseudo + 4, &ip->daddr, 4);
		pseudo[8] = 0;
		pseudo[9] = IPPROTO_TCP;
		memcpy(pseudo + 10, &tcplen, 2);
		th.check = htons(
			nt_csum_fold(nt_csum_add(nt_csum_add(0, pseudo, 12), &th, sizeof(th))));
		memcpy(pkt + sizeof(*ip), &th, sizeof(th));
		dst.sin_port = 0;
		r.stage = NT_ST_SEND;
		t0 = nt_now_us();
		n = sendto(fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&dst, sizeof(dst));
	} else {
		struct sockaddr_in6 dst = *(struct sockaddr_in6 *)&rq->dst;
		int off = offsetof(struct tcphdr, check);

		/* the kernel writes the IPv6 header and, with IPV6_CHECKSUM, the TCP checksum */
		fd = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_TCP);
		if (fd < 0 || setsockopt(fd, IPPROTO_IPV6, IPV6_CHECKSUM, &off, sizeof(off))) {
			r.err = -errno;
			goto out;
		}
		dst.sin6_port = 0;
		r.stage = NT_ST_SEND;
		t0 = nt_now_us();
		n = sendto(fd, &th, sizeof(th), 0, (struct sockaddr *)&dst, sizeof(dst));
	}
	if (n < 0)
		r.err = -errno;
	r.elapsed_us = nt_now_us() - t0;
	if (!r.err)
		r.stage = NT_ST_DONE;
out:
	nt_write_full(res_fd, &r, sizeof(r));
}

static int nt_probe_run(struct nt_env *env, int pod, const char *comm, nt_child_fn fn,
			struct nt_probe_req *rq, struct nt_result *res)
{
	struct nt_child c;
	int err;

	memset(res, 0, sizeof(*res));
	err = nt_child_start(env, pod, comm, fn, rq, &c);
	if (err)
		return err;
	/* connect and echo each have the timeout */
	err = nt_read_timeout(c.res_fd, res, sizeof(*res), 2 * rq->timeout_ms + NT_SLACK_MS);
	if (err)
		nt_log("probe %s in pod %d gave no result: %s", comm, pod, strerror(-err));
	/* it has reported (or failed to): nothing more to wait for */
	nt_child_stop(env, &c);
	return err;
}

static int nt_req_init(struct nt_env *env, int to, int family, uint16_t port, int timeout_ms,
		       struct nt_probe_req *rq)
{
	if (to < 1 || to > env->npods || (family != AF_INET && family != AF_INET6))
		return -EINVAL;
	memset(rq, 0, sizeof(*rq));
	rq->family = family;
	rq->dstlen = nt_pod_sockaddr(env, to, family, port, &rq->dst);
	rq->timeout_ms = timeout_ms;
	return 0;
}

int nt_tcp_echo(struct nt_env *env, int from, int to, int family, uint16_t port, int timeout_ms,
		struct nt_result *res)
{
	struct nt_probe_req rq;
	int err = nt_req_init(env, to, family, port, timeout_ms, &rq);

	return err ? err : nt_probe_run(env, from, "ntprobe", nt_tcp_echo_child, &rq, res);
}

int nt_udp_echo(struct nt_env *env, int from, int to, int family, uint16_t port, bool connected,
		int timeout_ms, struct nt_result *res)
{
	struct nt_probe_req rq;
	int err = nt_req_init(env, to, family, port, timeout_ms, &rq);

	rq.connected = connected;
	return err ? err : nt_probe_run(env, from, "ntprobe", nt_udp_echo_child, &rq, res);
}

int nt_raw_syn(struct nt_env *env, int from, int to, int family, uint16_t sport, uint16_t dport,
	       struct nt_result *res)
{
	struct nt_probe_req rq;
	int err = nt_req_init(env, to, family, dport, 1000, &rq);

	if (err)
		return err;
	if (from < 1 || from > env->npods)
		return -EINVAL;
	nt_pod_sockaddr(env, from, family, 0, &rq.src);
	rq.sport = sport;
	return nt_probe_run(env, from, "ntrawsyn", nt_raw_syn_child, &rq, res);
}

int nt_raw_syn_to(struct nt_env *env, int from, const struct sockaddr_storage *dst,
		  socklen_t dstlen, uint16_t sport, struct nt_result *res)
{
	struct nt_probe_req rq = {.family = dst->ss_family, .dstlen = dstlen, .timeout_ms = 1000};

	if (from < 1 || from > env->npods || dstlen > sizeof(rq.dst))
		return -EINVAL;
	memcpy(&rq.dst, dst, dstlen);
	nt_pod_sockaddr(env, from, dst->ss_family, 0, &rq.src);
	rq.sport = sport;
	return nt_probe_run(env, from, "ntrawsyn", nt_raw_syn_child, &rq, res);
}

/* --- sniffer ------------------------------------------------------------------------------- */

struct nt_sniff_req {
	int family;
	uint16_t sport, dport;
};

static bool nt_sniff_match(const struct nt_sniff_req *rq, const uint8_t *p, ssize_t n,
			   uint16_t proto)
{
	const struct tcphdr *th;

	if (rq->family == AF_INET && proto == ETH_P_IP) {
		const struct iphdr *ip = (const void *)p;

		if (n < (ssize_t)sizeof(*ip) || ip->version != 4 || ip->protocol != IPPROTO_TCP ||
		    n < ip->ihl * 4 + (ssize_t)sizeof(*th))
			return false;
		th = (const void *)(p + ip->ihl * 4);
	} else if (rq->family == AF_INET6 && proto == ETH_P_IPV6) {
		const struct ip6_hdr *ip6 = (const void *)p;

		if (n < (ssize_t)(sizeof(*ip6) + sizeof(*th)) || ip6->ip6_nxt != IPPROTO_TCP)
			return false;
		th = (const void *)(p + sizeof(*ip6));
	} else {
		return false;
	}
	return ntohs(th->source) == rq->sport && ntohs(th->dest) == rq->dport && th->syn &&
	       !th->ack;
}

static void nt_sniff_child(struct nt_env *env, struct nt_pod *pod, void *arg, int res_fd,
			   int cmd_fd)
{
	struct nt_sniff_req *rq = arg;
	struct sockaddr_ll sll = {0};
	uint8_t buf[2048];
	int fd;

	fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (fd < 0)
		return;
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = (int)if_nametoindex("eth0");
	if (!sll.sll_ifindex || bind(fd, (struct sockaddr *)&sll, sizeof(sll)))
		return;
	if (nt_write_full(res_fd, "R", 1))
		return;
	for (;;) {
		struct pollfd pfd[2] = {{.fd = fd, .events = POLLIN},
					{.fd = cmd_fd, .events = POLLIN}};
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t n;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (pfd[1].revents)
			return; /* the parent closed: stop */
		n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n <= 0 || from.sll_pkttype == PACKET_OUTGOING)
			continue;
		if (nt_sniff_match(rq, buf, n, ntohs(from.sll_protocol)) &&
		    nt_write_full(res_fd, "M", 1))
			return;
	}
}

int nt_sniff_start(struct nt_env *env, int pod, int family, uint16_t sport, uint16_t dport,
		   struct nt_sniffer *s)
{
	struct nt_sniff_req rq = {.family = family, .sport = sport, .dport = dport};
	char ready;
	int err;

	err = nt_child_start(env, pod, "ntsniff", nt_sniff_child, &rq, &s->c);
	if (err)
		return err;
	/* the socket is bound before "R": nothing sent after this point is missed */
	err = nt_read_timeout(s->c.res_fd, &ready, 1, NT_SLACK_MS);
	if (!err && ready != 'R')
		err = -EPROTO;
	if (err)
		nt_child_stop(env, &s->c);
	return err;
}

int nt_sniff_stop(struct nt_env *env, struct nt_sniffer *s, int wait_ms)
{
	char buf[64];
	int count = 0;
	ssize_t n;

	if (!nt_read_timeout(s->c.res_fd, buf, 1, wait_ms)) {
		count = 1;
		/* the rest, without waiting */
		fcntl(s->c.res_fd, F_SETFL, fcntl(s->c.res_fd, F_GETFL) | O_NONBLOCK);
		while ((n = read(s->c.res_fd, buf, sizeof(buf))) > 0)
			count += (int)n;
	}
	nt_child_stop(env, &s->c);
	return count;
}

/* --- sessions ------------------------------------------------------------------------------ */

struct nt_session_cmd {
	char op; /* 'r': round trip */
	int timeout_ms;
};

static void nt_session_child(struct nt_env *env, struct nt_pod *pod, void *arg, int res_fd,
			     int cmd_fd)
{
	struct nt_probe_req *rq = arg;
	struct nt_result r = {.pid = getpid(), .stage = NT_ST_SETUP};
	struct nt_session_cmd cmd;
	int fd;

	fd = socket(rq->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r.err = -errno;
		nt_write_full(res_fd, &r, sizeof(r));
		return;
	}
	r.stage = NT_ST_CONNECT;
	r.err = nt_connect_timeout(fd, &rq->dst, rq->dstlen, rq->timeout_ms, &r.elapsed_us);
	r.local_port = nt_local_port(fd);
	if (!r.err)
		r.stage = NT_ST_DONE;
	if (nt_write_full(res_fd, &r, sizeof(r)) || r.err)
		return;
	while (read(cmd_fd, &cmd, sizeof(cmd)) == (ssize_t)sizeof(cmd)) {
		struct nt_result rr = {.pid = getpid(), .local_port = r.local_port};

		if (cmd.op != 'r')
			break;
		nt_roundtrip(fd, cmd.timeout_ms, true, &rr);
		if (nt_write_full(res_fd, &rr, sizeof(rr)))
			break;
	}
}

int nt_session_open(struct nt_env *env, int from, int to, int family, uint16_t port, int timeout_ms,
		    struct nt_session *s, struct nt_result *res)
{
	struct nt_probe_req rq;
	int err;

	memset(s, 0, sizeof(*s));
	s->c.res_fd = s->c.cmd_fd = -1;
	memset(res, 0, sizeof(*res));
	err = nt_req_init(env, to, family, port, timeout_ms, &rq);
	if (err)
		return err;
	err = nt_child_start(env, from, "ntsession", nt_session_child, &rq, &s->c);
	if (err)
		return err;
	err = nt_read_timeout(s->c.res_fd, res, sizeof(*res), timeout_ms + NT_SLACK_MS);
	if (err)
		nt_child_stop(env, &s->c);
	s->local_port = res->local_port;
	return err;
}

int nt_session_roundtrip(struct nt_env *env, struct nt_session *s, int timeout_ms,
			 struct nt_result *res)
{
	struct nt_session_cmd cmd = {.op = 'r', .timeout_ms = timeout_ms};
	int err;

	memset(res, 0, sizeof(*res));
	if (s->c.pid <= 0)
		return -ESRCH;
	err = nt_write_full(s->c.cmd_fd, &cmd, sizeof(cmd));
	if (err)
		return err;
	return nt_read_timeout(s->c.res_fd, res, sizeof(*res), timeout_ms + NT_SLACK_MS);
}

void nt_session_close(struct nt_env *env, struct nt_session *s)
{
	nt_child_stop(env, &s->c);
}

/* --- echo server --------------------------------------------------------------------------- */

#define NT_SRV_MAX_FDS 512

int nt_server_socket(int family, int type, uint16_t port)
{
	struct sockaddr_storage ss = {0};
	socklen_t len;
	int fd, one = 1;

	fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		len = sizeof(*sin6);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) || (type == SOCK_STREAM && listen(fd, 128))) {
		close(fd);
		return -1;
	}
	return fd;
}

void nt_echo_serve(int res_fd, const uint16_t *ports, size_t nports)
{
	static const int fams[] = {AF_INET, AF_INET6};
	/* static: a child's stack need not hold them; the caller never returns to use it */
	static struct pollfd pfd[NT_SRV_MAX_FDS];
	static int kind[NT_SRV_MAX_FDS]; /* 1: listener, 2: udp, 3: connection */
	size_t f, p;
	int n = 0, i;
	char buf[2048];

	if (4 * nports > NT_SRV_MAX_FDS / 2)
		return; /* leave room for connections */
	for (f = 0; f < 2; f++) {
		for (p = 0; p < nports; p++) {
			int t = nt_server_socket(fams[f], SOCK_STREAM, ports[p]);
			int u = nt_server_socket(fams[f], SOCK_DGRAM, ports[p]);

			if (t < 0 || u < 0)
				return;
			pfd[n] = (struct pollfd){.fd = t, .events = POLLIN};
			kind[n++] = 1;
			pfd[n] = (struct pollfd){.fd = u, .events = POLLIN};
			kind[n++] = 2;
		}
	}
	if (nt_write_full(res_fd, "R", 1))
		return;
	for (;;) {
		if (poll(pfd, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		for (i = 0; i < n; i++) {
			struct sockaddr_storage from;
			socklen_t fl = sizeof(from);
			ssize_t r;

			if (!pfd[i].revents)
				continue;
			switch (kind[i]) {
			case 1: {
				int c = accept4(pfd[i].fd, NULL, NULL, SOCK_CLOEXEC);

				if (c < 0)
					break;
				if (n == NT_SRV_MAX_FDS) {
					close(c);
					break;
				}
				pfd[n] = (struct pollfd){.fd = c, .events = POLLIN};
				kind[n++] = 3;
				break;
			}
			case 2:
				r = recvfrom(pfd[i].fd, buf, sizeof(buf), MSG_DONTWAIT,
					     (struct sockaddr *)&from, &fl);
				/* a reply the datapath refuses fails with EPERM: nothing to do */
				if (r > 0)
					sendto(pfd[i].fd, buf, (size_t)r, 0,
					       (struct sockaddr *)&from, fl);
				break;
			case 3:
				r = recv(pfd[i].fd, buf, sizeof(buf), MSG_DONTWAIT);
				if (r < 0 && (errno == EAGAIN || errno == EINTR))
					break;
				if (r <= 0 || nt_write_full(pfd[i].fd, buf, (size_t)r)) {
					close(pfd[i].fd);
					pfd[i] = pfd[n - 1];
					kind[i] = kind[n - 1];
					n--;
					i--;
				}
				break;
			}
		}
	}
}

static void nt_server_child(struct nt_env *env, struct nt_pod *pod, void *arg, int res_fd,
			    int cmd_fd)
{
	static const uint16_t ports[] = {NT_PORT_A, NT_PORT_B};

	nt_echo_serve(res_fd, ports, 2);
}

static int nt_server_start(struct nt_env *env, int pod)
{
	struct nt_child c;
	char ready;
	int err;

	err = nt_child_start(env, pod, "ntserver", nt_server_child, NULL, &c);
	if (err)
		return err;
	err = nt_read_timeout(c.res_fd, &ready, 1, NT_SLACK_MS);
	if (err) {
		nt_log("echo server in pod %d did not start: %s", pod, strerror(-err));
		nt_child_stop(env, &c);
		return err;
	}
	/* servers live until teardown; they are not probe kids */
	nt_kid_del(env, c.pid);
	env->pods[pod].server = c.pid;
	/* a server runs until teardown kills it (or the test dies: PR_SET_PDEATHSIG) */
	close(c.res_fd);
	close(c.cmd_fd);
	return 0;
}

/* --- environment --------------------------------------------------------------------------- */

static void nt_cleanup_raw(struct nt_env *env);

static void nt_on_signal(int sig)
{
	int i;

	for (i = 0; i < NT_MAX_ENVS; i++) {
		if (nt_envs[i] && nt_envs[i]->owner == getpid())
			nt_cleanup_raw(nt_envs[i]);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void nt_on_exit(void)
{
	int i;

	for (i = 0; i < NT_MAX_ENVS; i++) {
		if (nt_envs[i] && nt_envs[i]->owner == getpid())
			nt_env_teardown(nt_envs[i]);
	}
}

static void nt_install_hooks(void)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT};
	struct sigaction sa = {.sa_handler = nt_on_signal};
	size_t i;

	if (nt_hooks_installed)
		return;
	nt_hooks_installed = true;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	atexit(nt_on_exit);
}

static int nt_register(struct nt_env *env)
{
	int i;

	for (i = 0; i < NT_MAX_ENVS; i++) {
		if (!nt_envs[i]) {
			nt_envs[i] = env;
			return 0;
		}
	}
	return -ENOSPC;
}

static void nt_unregister(struct nt_env *env)
{
	int i;

	for (i = 0; i < NT_MAX_ENVS; i++) {
		if (nt_envs[i] == env)
			nt_envs[i] = NULL;
	}
}

/*
 * Everything but the datapath library: syscalls and `ip` only, so it also serves the signal
 * path. Idempotent: deleting what is already gone is fine.
 */
static void nt_cleanup_raw(struct nt_env *env)
{
	int i;

	nt_kids_kill(env);
	for (i = 1; i <= env->npods; i++) {
		nt_kill_reap(env->pods[i].server);
		env->pods[i].server = 0;
	}
	/* anything else that ended up in the pods' cgroups */
	if (env->made_cg)
		nt_cg_kill(env->cgroot);
	if (env->made_cg)
		nt_bpffs_rmtree(env->bpffs);
	if (env->orig_netns >= 0) {
		if (setns(env->orig_netns, CLONE_NEWNET))
			nt_log("cannot return to the original netns: %s", strerror(errno));
		close(env->orig_netns);
		env->orig_netns = -1;
	}
	for (i = 1; i <= env->npods; i++) {
		if (env->pods[i].made)
			nt_cmd(true, "ip netns del %s", env->pods[i].netns);
		env->pods[i].made = false;
	}
	if (env->made_node)
		nt_cmd(true, "ip netns del %s", env->node_ns);
	env->made_node = false;
	if (env->made_cg)
		nt_cg_rmtree(env->cgroot);
	env->made_cg = false;
}

static int nt_env_count_leftovers(const struct nt_env *env)
{
	const char *pods[NT_MAX_PODS];
	int i;

	for (i = 1; i <= env->npods; i++)
		pods[i - 1] = env->pods[i].netns;
	return nt_env_leftovers(env->node_ns, pods, env->npods, env->cgroot, env->bpffs);
}

int nt_env_teardown(struct nt_env *env)
{
	int err = 0;

	if (!env || env->owner != getpid())
		return 0;
	if (env->dp_cleanup && env->dp)
		err = env->dp_cleanup(env);
	if (nt_path_exists(env->bpffs)) {
		nt_log("bpffs dir %s survived the datapath's destroy", env->bpffs);
		err = -EBUSY;
	}
	nt_cleanup_raw(env);
	if (nt_env_count_leftovers(env)) {
		nt_log("teardown left %d things behind", nt_env_count_leftovers(env));
		err = -EBUSY;
	}
	nt_unregister(env);
	free(env->events);
	free(env);
	return err;
}

static int nt_setup_node(struct nt_env *env)
{
	const char *n = env->node_ns;
	int err;

	err = nt_cmd(false, "ip netns add %s", n);
	if (err)
		return err;
	env->made_node = true;
	/* routing and no DAD, inside the node netns only (verified by nt_ns_sysctl) */
	if ((err = nt_ns_sysctl(n, "ipv4/ip_forward", "1")) ||
	    (err = nt_ns_sysctl(n, "ipv6/conf/all/forwarding", "1")) ||
	    (err = nt_ns_sysctl(n, "ipv6/conf/default/accept_dad", "0")) ||
	    (err = nt_ns_sysctl(n, "ipv4/conf/all/rp_filter", "0")) ||
	    (err = nt_ns_sysctl(n, "ipv4/conf/default/rp_filter", "0")))
		return err;
	return nt_cmd(false, "ip -n %s link set lo up", n);
}

static int nt_setup_pod(struct nt_env *env, int i)
{
	struct nt_pod *p = &env->pods[i];
	const char *n = env->node_ns, *pn = p->netns, *hv = p->host_if;
	char v4[INET_ADDRSTRLEN], v6[INET6_ADDRSTRLEN];
	int err;

	inet_ntop(AF_INET, &p->v4, v4, sizeof(v4));
	inet_ntop(AF_INET6, &p->v6, v6, sizeof(v6));
	err = nt_cmd(false, "ip netns add %s", pn);
	if (err)
		return err;
	p->made = true;
	/* before eth0 arrives, so it inherits "no DAD": addresses are usable at once */
	if ((err = nt_ns_sysctl(pn, "ipv6/conf/all/accept_dad", "0")) ||
	    (err = nt_ns_sysctl(pn, "ipv6/conf/default/accept_dad", "0")))
		return err;
	/* both ends are created inside the node netns; the root netns is never involved */
	if ((err = nt_cmd(false, "ip -n %s link add %s type veth peer name eth0 netns %s", n, hv,
			  pn)) ||
	    (err = nt_cmd(false, "ip -n %s addr add " NT_GW4 "/32 dev %s", n, hv)) ||
	    (err = nt_cmd(false, "ip -n %s addr add " NT_GW6 "/64 dev %s nodad", n, hv)) ||
	    (err = nt_cmd(false, "ip -n %s link set %s up", n, hv)) ||
	    (err = nt_cmd(false, "ip -n %s route add %s/32 dev %s", n, v4, hv)) ||
	    (err = nt_cmd(false, "ip -n %s -6 route add %s/128 dev %s", n, v6, hv)) ||
	    (err = nt_cmd(false, "ip -n %s link set lo up", pn)) ||
	    (err = nt_cmd(false, "ip -n %s addr add %s/32 dev eth0", pn, v4)) ||
	    (err = nt_cmd(false, "ip -n %s addr add %s/128 dev eth0 nodad", pn, v6)) ||
	    (err = nt_cmd(false, "ip -n %s link set eth0 up", pn)) ||
	    (err = nt_cmd(false, "ip -n %s route add " NT_GW4 "/32 dev eth0 scope link", pn)) ||
	    (err = nt_cmd(false, "ip -n %s route add default via " NT_GW4 " dev eth0", pn)) ||
	    (err = nt_cmd(false, "ip -n %s -6 route add default via " NT_GW6 " dev eth0", pn)))
		return err;
	return 0;
}

static int nt_setup_cgroups(struct nt_env *env)
{
	int i, err;

	if (mkdir(env->cgroot, 0755))
		return -errno;
	env->made_cg = true;
	for (i = 1; i <= env->npods; i++) {
		struct nt_pod *p = &env->pods[i];

		if (mkdir(p->cg, 0755) || mkdir(p->cg_c0, 0755))
			return -errno;
		if ((err = nt_cgroup_id(p->cg, &p->cg_id)) ||
		    (err = nt_cgroup_id(p->cg_c0, &p->cg_c0_id)))
			return err;
	}
	return 0;
}

int nt_env_setup(int npods, struct nt_env **out)
{
	struct nt_env *env;
	int pid = (int)getpid(), i, err;

	*out = NULL;
	if (npods < 1 || npods > NT_MAX_PODS)
		return -EINVAL;
	if (geteuid() != 0) {
		nt_log("the netns tests need root");
		return -EPERM;
	}
	env = calloc(1, sizeof(*env));
	if (!env)
		return -ENOMEM;
	env->owner = getpid();
	env->orig_netns = -1;
	env->npods = npods;
	snprintf(env->node_ns, sizeof(env->node_ns), "pw%dn", pid);
	snprintf(env->bpffs, sizeof(env->bpffs), NT_SYS_BPFFS "/" NT_CG_PREFIX "%d", pid);
	err = nt_find_cg2(env->cg2, sizeof(env->cg2));
	if (err) {
		nt_log("no cgroup2 mount in /proc/mounts");
		free(env);
		return err;
	}
	/* never the machine's root cgroup: our own directory below it */
	err = nt_pathf(env->cgroot, sizeof(env->cgroot), "%s/" NT_CG_PREFIX "%d", env->cg2, pid);
	for (i = 1; i <= npods; i++) {
		struct nt_pod *p = &env->pods[i];

		p->idx = i;
		snprintf(p->netns, sizeof(p->netns), "pw%dp%d", pid, i);
		snprintf(p->host_if, sizeof(p->host_if), "pw%dv%d", pid, i);
		if (!err)
			err = nt_pathf(p->cg, sizeof(p->cg), "%s/p%d", env->cgroot, i);
		if (!err)
			err = nt_pathf(p->cg_c0, sizeof(p->cg_c0), "%s/c0", p->cg);
		p->v4.s_addr = htonl(0xc6120000u | (uint32_t)i); /* 198.18.0.i */
		p->v6.s6_addr[0] = 0xfd;
		p->v6.s6_addr[15] = (uint8_t)i; /* fd00::i */
	}
	if (err) {
		free(env);
		return err;
	}

	nt_install_hooks();
	err = nt_register(env);
	if (err) {
		free(env);
		return err;
	}
	/* orphans of our children come back to us, so teardown reaps them all */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	nt_cleanup_stale();

	err = nt_bpffs_ensure();
	if (err) {
		nt_log("cannot mount bpffs on " NT_SYS_BPFFS ": %s", strerror(-err));
		goto fail;
	}
	err = nt_setup_cgroups(env);
	if (err) {
		nt_log("cannot create cgroups under %s: %s", env->cgroot, strerror(-err));
		goto fail;
	}
	err = nt_setup_node(env);
	for (i = 1; !err && i <= npods; i++)
		err = nt_setup_pod(env, i);
	if (err)
		goto fail;

	/* the test process lives on the node from here on, as the daemon would */
	env->orig_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (env->orig_netns < 0) {
		err = -errno;
		goto fail;
	}
	err = nt_join_netns(env->node_ns);
	if (err) {
		nt_log("cannot join netns %s: %s", env->node_ns, strerror(-err));
		goto fail;
	}
	for (i = 1; i <= npods; i++) {
		env->pods[i].host_ifindex = if_nametoindex(env->pods[i].host_if);
		if (!env->pods[i].host_ifindex) {
			err = -ENODEV;
			goto fail;
		}
		err = nt_server_start(env, i);
		if (err)
			goto fail;
	}
	*out = env;
	return 0;
fail:
	nt_env_teardown(env);
	return err;
}

/* --- cmocka fixtures ------------------------------------------------------------------------ */

int nt_group_setup(void **state)
{
	struct nt_env *env;
	int err;

	err = nt_env_setup(3, &env);
	if (err) {
		nt_log("netns environment setup failed: %s", strerror(-err));
		return -1;
	}
	*state = env;
	return 0;
}

int nt_group_teardown(void **state)
{
	struct nt_env *env = *state;

	*state = NULL;
	return nt_env_teardown(env) ? -1 : 0;
}

int nt_kids_teardown(void **state)
{
	struct nt_env *env = *state;

	nt_kids_kill(env);
	if (env->dp && env->dp_cleanup)
		return env->dp_cleanup(env) ? -1 : 0;
	return 0;
}
