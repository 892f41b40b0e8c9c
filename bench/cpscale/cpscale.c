// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bench_ctl (bench/cpscale): the control plane at cluster scale. It generates a cluster (by
 * default 50 namespaces, 10,000 pods, 1,000 NetworkPolicies, 500 of the pods bound to this
 * node by a cgroup), starts podwalld in a private network namespace with a private bpffs
 * directory, cgroup root, socket and state directory, and measures:
 *   - the time from `podwall apply -f` to enforced (apply returns only then), for the whole set
 *     in one call on a fresh daemon, and split (namespaces + pods, then policies) on another;
 *   - the daemon's memory (VmRSS, VmHWM) before and after, and the kernel memory of its maps;
 *   - the map entries used, read back from the pinned maps and compared with `podwall status`;
 *   - identities against pods, and the policy entries a per-endpoint map design would need
 *     for the same endpoints against ours (keyed by subject identity);
 *   - the latency of one change at that scale, as an apply round-trip on the control socket:
 *     a policy's port toggled, a local pod's label toggled, a remote pod's label toggled.
 *
 * The checks it makes (counts against the generated cluster and against `podwall status`,
 * the toggled entries present in the kernel maps) fail the run; timings never do.
 *
 * Nothing is left behind on any path: the daemon lives in an anonymous network namespace that
 * dies with it (and gets SIGTERM if this process dies), `podwalld --uninstall` removes its
 * pins, and the cgroups and work directory carrying this process's pid are removed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <podwall/shared.h>

#include "gen.h"
#include "proto.h"

/*
 * Longest a single request may take before the run fails: a 10,000-pod apply takes seconds; a
 * daemon stuck in a loop must fail the run, with time left to clean up before ctest's timeout.
 */
static int call_timeout_s = 60;

#ifndef CPSCALE_DAEMON
#define CPSCALE_DAEMON "podwalld"
#endif
#ifndef CPSCALE_CLI
#define CPSCALE_CLI "podwall"
#endif

static volatile sig_atomic_t stop_sig;

static void on_signal(int sig)
{
	stop_sig = sig;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double t_start;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "[cpscale %6.1fs] ", now_s() - t_start);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* --- options ---------------------------------------------------------------------------------- */

struct opts {
	struct gen_opts g;
	unsigned int changes;
	double max_seconds;
	const char *markdown;
	const char *daemon;
	const char *cli;
	bool keep;
	bool quick;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: bench_ctl [OPTIONS]\n\n"
		"Control-plane scale: podwalld with a generated cluster, in a private network\n"
		"namespace. Prints a table; --markdown writes it for docs/performance.md.\n\n"
		"  --pods N          pods (default 10000)\n"
		"  --policies N      NetworkPolicies (default 1000)\n"
		"  --namespaces N    namespaces (default 50)\n"
		"  --local N         pods bound to this node by a cgroup (default 500)\n"
		"  --changes N       samples per change-latency series (default 200)\n"
		"  --seed N          generator seed (default 1)\n"
		"  --quick           600 pods, 50 policies, 10 namespaces, 450 local, 20 changes\n"
		"  --max-seconds S   stop the latency series early past S seconds (default 150)\n"
		"  --markdown FILE   write the results as Markdown\n"
		"  --daemon PATH     podwalld (default the build's)\n"
		"  --cli PATH        podwall (default the build's)\n"
		"  --keep            keep the work directory (manifests, daemon log)\n"
		"  -h, --help        this help\n");
}

static int parse_uint(const char *s, unsigned int *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > UINT32_MAX)
		return -EINVAL;
	*out = (unsigned int)v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	enum {
		O_PODS = 256,
		O_POLS,
		O_NS,
		O_LOCAL,
		O_CHANGES,
		O_SEED,
		O_QUICK,
		O_MAX,
		O_MD,
		O_DAEMON,
		O_CLI,
		O_KEEP
	};
	static const struct option lo[] = {
		{"pods", required_argument, NULL, O_PODS},
		{"policies", required_argument, NULL, O_POLS},
		{"namespaces", required_argument, NULL, O_NS},
		{"local", required_argument, NULL, O_LOCAL},
		{"changes", required_argument, NULL, O_CHANGES},
		{"seed", required_argument, NULL, O_SEED},
		{"quick", no_argument, NULL, O_QUICK},
		{"max-seconds", required_argument, NULL, O_MAX},
		{"markdown", required_argument, NULL, O_MD},
		{"daemon", required_argument, NULL, O_DAEMON},
		{"cli", required_argument, NULL, O_CLI},
		{"keep", no_argument, NULL, O_KEEP},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	unsigned int v, seed = 1;
	bool set[O_KEEP + 1] = {0};
	int c;

	*o = (struct opts){
		.g = {.namespaces = 50, .pods = 10000, .policies = 1000, .local = 500},
		.changes = 200,
		.max_seconds = 150,
		.daemon = CPSCALE_DAEMON,
		.cli = CPSCALE_CLI,
	};
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case O_PODS:
		case O_POLS:
		case O_NS:
		case O_LOCAL:
		case O_CHANGES:
		case O_SEED:
		case O_MAX:
			if (parse_uint(optarg, &v)) {
				fprintf(stderr, "bench_ctl: %s: not a number: %s\n",
					lo[c - O_PODS].name, optarg);
				return -EINVAL;
			}
			set[c] = true;
			if (c == O_PODS)
				o->g.pods = v;
			else if (c == O_POLS)
				o->g.policies = v;
			else if (c == O_NS)
				o->g.namespaces = v;
			else if (c == O_LOCAL)
				o->g.local = v;
			else if (c == O_CHANGES)
				o->changes = v;
			else if (c == O_SEED)
				seed = v;
			else
				o->max_seconds = v;
			break;
		case O_QUICK:
			o->quick = true;
			break;
		case O_MD:
			o->markdown = optarg;
			break;
		case O_DAEMON:
			o->daemon = optarg;
			break;
		case O_CLI:
			o->cli = optarg;
			break;
		case O_KEEP:
			o->keep = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bench_ctl: unexpected argument %s\n", argv[optind]);
		return -EINVAL;
	}
	/* --quick sets what was not given explicitly */
	if (o->quick) {
		call_timeout_s = 15;
		if (!set[O_PODS])
			o->g.pods = 600;
		if (!set[O_POLS])
			o->g.policies = 50;
		if (!set[O_NS])
			o->g.namespaces = 10;
		/*
		 * Many local endpoints on purpose: with 450 keys in the endpoint map's 16384
		 * buckets, some share a bucket in practically every run, so code that walks the
		 * map while updating it is exercised on every run, not one in fifteen.
		 */
		if (!set[O_LOCAL])
			o->g.local = 450;
		if (!set[O_CHANGES])
			o->changes = 20;
	}
	o->g.seed = seed;
	if (o->g.local < 1 || o->g.local > PW_EP_MAX_DEFAULT || o->g.pods > 60000) {
		fprintf(stderr,
			"bench_ctl: --local must be 1..%u and --pods at most 60000 (the "
			"addresses come from 198.18.0.0/16)\n",
			PW_EP_MAX_DEFAULT);
		return -EINVAL;
	}
	return 0;
}

/* --- the environment: work directory, cgroups, daemon ----------------------------------------- */

/* short paths: everything else derives from them */
struct env {
	char work[256];
	char cgroot[256];
	bool cgroot_made;
};

struct daemon {
	const struct opts *o;
	const struct env *env;
	char tag[16];
	char bpffs[PATH_MAX];
	char sock[PATH_MAX];
	char state[PATH_MAX];
	char log[PATH_MAX];
	pid_t pid;
	int fd; /* control connection */
	struct pw_linebuf lb;
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) && errno != ENOENT ? -1 : 0;
}

static void rm_rf(const char *path)
{
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static int find_cgroup2(char *buf, size_t len)
{
	FILE *f = fopen("/proc/mounts", "r");
	char dev[256], dir[PATH_MAX], type[64];
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fscanf(f, "%255s %4095s %63s %*[^\n]", dev, dir, type) == 3) {
		if (!strcmp(type, "cgroup2")) {
			/* the caller's buffer is short on purpose: paths derive from it */
			err = strlen(dir) >= len ? -ENAMETOOLONG : 0;
			if (!err)
				memcpy(buf, dir, strlen(dir) + 1);
			break;
		}
	}
	fclose(f);
	return err;
}

static int env_setup(struct env *e, const struct gen *g)
{
	char cg2[200], path[PATH_MAX], rel[64];
	unsigned int i;
	int err;

	snprintf(e->work, sizeof(e->work), "/tmp/podwall-cpscale-%d.XXXXXX", (int)getpid());
	if (!mkdtemp(e->work)) {
		err = -errno;
		e->work[0] = '\0';
		return err;
	}
	err = find_cgroup2(cg2, sizeof(cg2));
	if (err) {
		say("no cgroup2 mount in /proc/mounts");
		return err;
	}
	/* a directory of our own under the mount, never the mount's root itself */
	snprintf(e->cgroot, sizeof(e->cgroot), "%s/podwall-cpscale-%d", cg2, (int)getpid());
	if (mkdir(e->cgroot, 0755)) {
		err = -errno;
		say("mkdir %s: %s", e->cgroot, strerror(errno));
		return err;
	}
	e->cgroot_made = true;
	for (i = 0; i < g->n_pods; i++) {
		if (!g->pods[i].local)
			continue;
		gen_pod_cgroup(g, i, rel, sizeof(rel));
		snprintf(path, sizeof(path), "%s/%s", e->cgroot, rel);
		if (mkdir(path, 0755)) {
			err = -errno;
			say("mkdir %s: %s", path, strerror(errno));
			return err;
		}
	}
	return 0;
}

static void env_cleanup(struct env *e, bool keep)
{
	char path[PATH_MAX * 2];
	struct dirent *de;
	DIR *d;

	if (e->cgroot_made) {
		/* no process ever joins them: empty cgroups, removed leaf first */
		d = opendir(e->cgroot);
		while (d && (de = readdir(d))) {
			if (de->d_type != DT_DIR || de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", e->cgroot, de->d_name);
			if (rmdir(path))
				say("rmdir %s: %s", path, strerror(errno));
		}
		if (d)
			closedir(d);
		if (rmdir(e->cgroot))
			say("rmdir %s: %s", e->cgroot, strerror(errno));
		e->cgroot_made = false;
	}
	if (e->work[0]) {
		if (keep)
			say("work directory kept: %s", e->work);
		else
			rm_rf(e->work);
		e->work[0] = '\0';
	}
}

/* Run argv with stdout/stderr to log (appended); in a fresh network namespace when netns. */
static pid_t spawn(char *const argv[], const char *log, bool netns, bool pdeath)
{
	pid_t pid = fork();
	int fd;

	if (pid)
		return pid < 0 ? -errno : pid;
	if (pdeath && prctl(PR_SET_PDEATHSIG, SIGTERM))
		_exit(126);
	/* the private netns of the simulated node: it goes away with its last process */
	if (netns && unshare(CLONE_NEWNET))
		_exit(126);
	fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0)
		dup2(fd, 0);
	execv(argv[0], argv);
	_exit(127);
}

/* intr: give up when a signal asked the run to stop (cleanup waits are not) */
static int wait_exit(pid_t pid, double timeout_s, bool intr)
{
	double until = now_s() + timeout_s;
	int status;
	pid_t r;

	for (;;) {
		r = waitpid(pid, &status, timeout_s > 0 ? WNOHANG : 0);
		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (timeout_s > 0 && now_s() > until)
			return -ETIMEDOUT;
		if (intr && stop_sig)
			return -EINTR;
		if (timeout_s > 0)
			usleep(10000);
	}
}

static void daemon_init(struct daemon *d, const struct opts *o, const struct env *env,
			const char *tag)
{
	memset(d, 0, sizeof(*d));
	d->o = o;
	d->env = env;
	d->fd = -1;
	snprintf(d->tag, sizeof(d->tag), "%s", tag);
	snprintf(d->bpffs, sizeof(d->bpffs), "/sys/fs/bpf/podwall-cpscale-%d-%s", (int)getpid(),
		 tag);
	snprintf(d->sock, sizeof(d->sock), "%s/%s.sock", env->work, tag);
	snprintf(d->state, sizeof(d->state), "%s/state-%s", env->work, tag);
	snprintf(d->log, sizeof(d->log), "%s/podwalld-%s.log", env->work, tag);
	pw_linebuf_init(&d->lb, PW_PROTO_MAX_LINE);
}

static void tail_log(const char *path)
{
	char cmd[PATH_MAX + 32];

	snprintf(cmd, sizeof(cmd), "tail -n 20 '%s' >&2", path);
	if (system(cmd) < 0)
		say("cannot show %s", path);
}

static int daemon_start(struct daemon *d)
{
	char *argv[] = {(char *)d->o->daemon,
			"--socket",
			d->sock,
			"--bpffs",
			d->bpffs,
			"--cgroup-root",
			(char *)d->env->cgroot,
			"--state-dir",
			d->state,
			NULL};
	double until = now_s() + 20;
	int r;

	d->pid = spawn(argv, d->log, true, true);
	if (d->pid < 0) {
		r = d->pid;
		d->pid = 0;
		return r;
	}
	/* ready once the socket answers: the daemon binds it after loading everything */
	while (now_s() < until && !stop_sig) {
		d->fd = pw_proto_connect(d->sock);
		if (d->fd >= 0) {
			/* a daemon that stops answering fails the run instead of hanging it */
			struct timeval tv = {.tv_sec = call_timeout_s};

			setsockopt(d->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			return 0;
		}
		r = waitpid(d->pid, NULL, WNOHANG);
		if (r == d->pid) {
			d->pid = 0;
			break;
		}
		usleep(20000);
	}
	say("podwalld did not come up; its log:");
	tail_log(d->log);
	return -ETIMEDOUT;
}

/* Stop the daemon and remove everything it pinned; safe to call twice. */
static int daemon_stop(struct daemon *d)
{
	char *argv[] = {(char *)d->o->daemon, "--uninstall",	      "--bpffs", d->bpffs,
			"--cgroup-root",      (char *)d->env->cgroot, NULL};
	struct stat st, parent;
	int err = 0, r;
	pid_t pid;

	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
	pw_linebuf_free(&d->lb);
	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		if (wait_exit(d->pid, 10, false) < 0) {
			kill(d->pid, SIGKILL);
			wait_exit(d->pid, 0, false);
		}
		d->pid = 0;
	}
	if (access(d->bpffs, F_OK))
		return 0;
	/* SIGTERM leaves enforcement in place by design; --uninstall takes it down */
	pid = spawn(argv, d->log, true, true);
	r = pid > 0 ? wait_exit(pid, 30, false) : pid;
	if (r) {
		say("podwalld --uninstall failed (%d); removing %s by hand", r, d->bpffs);
		err = -EIO;
	}
	if (!stat(d->bpffs, &st) && !stat("/sys/fs/bpf", &parent) && st.st_dev != parent.st_dev)
		umount2(d->bpffs, MNT_DETACH);
	if (!access(d->bpffs, F_OK))
		rm_rf(d->bpffs);
	return err;
}

/* --- the control socket ----------------------------------------------------------------------- */

/* One request: 0 and *result (a new reference, may be NULL), or -errno with the reason said. */
static int call(struct daemon *d, json_object *req, json_object **result)
{
	json_object *resp = NULL, *res = NULL, *diags = NULL;
	const char *msg = NULL;
	int err;

	if (!req)
		return -ENOMEM;
	err = pw_proto_call(d->fd, &d->lb, req, &resp);
	json_object_put(req);
	if (err == -EAGAIN) {
		say("podwalld (pid %d) did not answer within %d s: it hangs "
		    "(gdb -p %d -batch -ex bt shows where)",
		    (int)d->pid, call_timeout_s, (int)d->pid);
		return -ETIMEDOUT;
	}
	if (err) {
		say("control socket: %s", strerror(-err));
		return err;
	}
	err = pw_proto_response(resp, &res, &msg, &diags);
	if (err) {
		say("podwalld refused: %s %s", msg ?: "?",
		    diags ? json_object_to_json_string(diags) : "");
	} else if (result) {
		*result = res ? json_object_get(res) : NULL;
	}
	json_object_put(resp);
	return err;
}

static int apply_text(struct daemon *d, const char *name, const char *data, size_t len)
{
	json_object *req = pw_proto_request(PW_OP_APPLY), *docs, *doc;

	if (!req)
		return -ENOMEM;
	docs = json_object_new_array();
	doc = json_object_new_object();
	json_object_object_add(doc, "name", json_object_new_string(name));
	json_object_object_add(doc, "data", json_object_new_string_len(data, (int)len));
	json_object_array_add(docs, doc);
	json_object_object_add(req, "docs", docs);
	return call(d, req, NULL);
}

static int status(struct daemon *d, json_object **out)
{
	return call(d, pw_proto_request(PW_OP_STATUS), out);
}

static int64_t status_map(json_object *st, const char *name, const char *field)
{
	json_object *maps = pw_json_array(st, "maps");
	size_t i;

	for (i = 0; maps && i < json_object_array_length(maps); i++) {
		json_object *m = json_object_array_get_idx(maps, i);
		const char *n = pw_json_str(m, "name");

		if (n && !strcmp(n, name))
			return pw_json_int(m, field, -1);
	}
	return -1;
}

/* The CLI, as a user runs it: seconds from exec to its exit, or a negative errno. */
static double cli_run(const struct daemon *d, const char *verb, const char *path, const char *path2)
{
	char *argv[] = {(char *)d->o->cli, "--socket",		(char *)d->sock, (char *)verb, "-f",
			(char *)path,	   path2 ? "-f" : NULL, (char *)path2,	 NULL};
	char log[PATH_MAX + 16];
	double t0 = now_s();
	pid_t pid;
	int r;

	snprintf(log, sizeof(log), "%s/cli.log", d->env->work);
	pid = spawn(argv, log, false, true);
	if (pid < 0)
		return pid;
	r = wait_exit(pid, call_timeout_s, true);
	if (r == -ETIMEDOUT || r == -EINTR) {
		kill(pid, SIGKILL);
		wait_exit(pid, 0, false);
		say("podwall %s did not finish within %d s (or was interrupted)", verb,
		    call_timeout_s);
		return r;
	}
	if (r) {
		say("podwall %s -f %s exited with %d; its output:", verb, path, r);
		tail_log(log);
		return -EIO;
	}
	return now_s() - t0;
}

/* --- /proc ------------------------------------------------------------------------------------ */

struct mem {
	long rss_kb, hwm_kb;
};

static int proc_mem(pid_t pid, struct mem *m)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	m->rss_kb = m->hwm_kb = -1;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "VmRSS: %ld", &m->rss_kb);
		sscanf(line, "VmHWM: %ld", &m->hwm_kb);
	}
	fclose(f);
	return m->rss_kb >= 0 ? 0 : -EIO;
}

/* --- the kernel's view: walk the pinned maps -------------------------------------------------- */

struct kmap {
	uint32_t max_entries;
	uint64_t entries;
	uint64_t memlock; /* kernel memory the map holds (fdinfo), bytes */
};

struct kep {
	uint64_t cgroup_id;
	uint32_t identity;
};

struct kview {
	struct kmap ipcache, policy, ep_cg, ep_if;
	uint64_t ip_pod_entries; /* /32 and /128 with a label identity */
	uint64_t ip_cidr_entries;
	/* pods per label identity (IPv4 /32 entries), indexed by identity */
	uint32_t *pods_of;
	size_t n_pods_of;
	/* per subject identity: policy entries */
	uint32_t *per_subject;
	size_t n_subject_slots;
	unsigned int subjects;
	/* local endpoints: identity by cgroup id */
	size_t n_eps;
	struct kep *eps;
};

/* v[id]++, growing v; -ENOMEM */
static int count_id(uint32_t **v, size_t *slots, uint32_t id, uint32_t *was)
{
	if (id >= *slots) {
		size_t n = id + 1024;
		uint32_t *nv = realloc(*v, n * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		memset(nv + *slots, 0, (n - *slots) * sizeof(*nv));
		*v = nv;
		*slots = n;
	}
	*was = (*v)[id]++;
	return 0;
}

static void kview_free(struct kview *k)
{
	free(k->pods_of);
	free(k->per_subject);
	free(k->eps);
	memset(k, 0, sizeof(*k));
}

static int map_open(const struct daemon *d, const char *name, struct kmap *km)
{
	char path[PATH_MAX * 2], fdinfo[64], line[256];
	struct bpf_map_info info = {0};
	uint32_t len = sizeof(info);
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%s/maps/%s", d->bpffs, name);
	fd = bpf_obj_get(path);
	if (fd < 0) {
		fd = -errno;
		say("cannot open pinned map %s: %s", path, strerror(-fd));
		return fd;
	}
	if (!bpf_obj_get_info_by_fd(fd, &info, &len))
		km->max_entries = info.max_entries;
	snprintf(fdinfo, sizeof(fdinfo), "/proc/self/fdinfo/%d", fd);
	f = fopen(fdinfo, "r");
	while (f && fgets(line, sizeof(line), f))
		sscanf(line, "memlock: %" SCNu64, &km->memlock);
	if (f)
		fclose(f);
	return fd;
}

static int kview_read(const struct daemon *d, struct kview *k)
{
	union {
		struct pw_ipcache_key ip;
		struct pw_policy_key pol;
		uint64_t cg;
		uint32_t ifindex;
	} key, next;
	union {
		struct pw_ipcache_val ip;
		struct pw_endpoint ep;
	} val;
	void *prev;
	int fd, err = 0;

	memset(k, 0, sizeof(*k));
	/* ipcache */
	fd = map_open(d, PW_STR(PW_MAP_IPCACHE), &k->ipcache);
	if (fd < 0)
		return fd;
	for (prev = NULL; !bpf_map_get_next_key(fd, prev, &next); prev = &key) {
		key = next;
		if (bpf_map_lookup_elem(fd, &key, &val))
			continue; /* deleted under us */
		k->ipcache.entries++;
		if (val.ip.identity & PW_ID_CIDR_FLAG)
			k->ip_cidr_entries++;
		else if ((key.ip.family == PW_FAMILY_V4 && key.ip.prefixlen == 32 + 32) ||
			 (key.ip.family == PW_FAMILY_V6 && key.ip.prefixlen == 32 + 128))
			k->ip_pod_entries++;
		if (key.ip.family == PW_FAMILY_V4 && key.ip.prefixlen == 32 + 32 &&
		    !(val.ip.identity & PW_ID_CIDR_FLAG)) {
			uint32_t was;

			err = count_id(&k->pods_of, &k->n_pods_of, val.ip.identity, &was);
			if (err)
				goto out;
		}
	}
	close(fd);
	/* policy, by subject */
	fd = map_open(d, PW_STR(PW_MAP_POLICY), &k->policy);
	if (fd < 0)
		return fd;
	for (prev = NULL; !bpf_map_get_next_key(fd, prev, &next); prev = &key) {
		uint32_t was;

		key = next;
		k->policy.entries++;
		err = count_id(&k->per_subject, &k->n_subject_slots, ntohl(key.pol.subject), &was);
		if (err)
			goto out;
		k->subjects += !was;
	}
	close(fd);
	/* endpoints by cgroup */
	fd = map_open(d, PW_STR(PW_MAP_EP_CG), &k->ep_cg);
	if (fd < 0)
		return fd;
	k->eps = calloc(k->ep_cg.max_entries ?: 1, sizeof(*k->eps));
	if (!k->eps) {
		err = -ENOMEM;
		goto out;
	}
	for (prev = NULL; !bpf_map_get_next_key(fd, prev, &next); prev = &key) {
		key = next;
		if (bpf_map_lookup_elem(fd, &key, &val) || k->n_eps >= k->ep_cg.max_entries)
			continue;
		k->eps[k->n_eps].cgroup_id = key.cg;
		k->eps[k->n_eps].identity = val.ep.identity;
		k->n_eps++;
	}
	k->ep_cg.entries = k->n_eps;
	close(fd);
	fd = map_open(d, PW_STR(PW_MAP_EP_IF), &k->ep_if);
	if (fd < 0)
		return fd;
	for (prev = NULL; !bpf_map_get_next_key(fd, prev, &next); prev = &key) {
		key = next;
		k->ep_if.entries++;
	}
out:
	close(fd);
	return err;
}

/* identity of a pod address in the kernel's ipcache (exact /32), 0 when absent */
static uint32_t kernel_ipcache_id(const struct daemon *d, uint32_t v4)
{
	struct pw_ipcache_key key = {.prefixlen = 32 + 32, .family = PW_FAMILY_V4};
	struct pw_ipcache_val val;
	struct kmap km = {0};
	int fd = map_open(d, PW_STR(PW_MAP_IPCACHE), &km);
	uint32_t id = 0;

	if (fd < 0)
		return 0;
	key.addr[0] = v4;
	if (!bpf_map_lookup_elem(fd, &key, &val))
		id = val.identity;
	close(fd);
	return id;
}

/* identity of the endpoint of a cgroup in the kernel, 0 when absent */
static uint32_t kernel_ep_id(const struct daemon *d, uint64_t cgid)
{
	struct pw_endpoint ep;
	struct kmap km = {0};
	int fd = map_open(d, PW_STR(PW_MAP_EP_CG), &km);
	uint32_t id = 0;

	if (fd < 0)
		return 0;
	if (!bpf_map_lookup_elem(fd, &cgid, &ep))
		id = ep.identity;
	close(fd);
	return id;
}

/* Is the exact policy key (subject, ANY peer, ingress, TCP, port) in the kernel? */
static bool kernel_has_port(const struct daemon *d, uint32_t subject, uint16_t port)
{
	struct pw_policy_key key, next;
	struct kmap km = {0};
	int fd = map_open(d, PW_STR(PW_MAP_POLICY), &km);
	bool found = false;
	void *prev;

	if (fd < 0)
		return false;
	/* an LPM lookup would answer with a covering prefix: walk for the exact key */
	for (prev = NULL; !found && !bpf_map_get_next_key(fd, prev, &next); prev = &key) {
		key = next;
		found = key.prefixlen == PW_POLICY_BITS_FULL && ntohl(key.subject) == subject &&
			key.peer == htonl(PW_ID_ANY) && key.direction == PW_DIR_INGRESS &&
			key.proto == IPPROTO_TCP && key.dport == htons(port);
	}
	close(fd);
	return found;
}

static uint64_t cgroup_id(const struct env *e, const struct gen *g, unsigned int pod)
{
	char rel[64], path[PATH_MAX * 2];
	struct stat st;

	gen_pod_cgroup(g, pod, rel, sizeof(rel));
	snprintf(path, sizeof(path), "%s/%s", e->cgroot, rel);
	/* a cgroup2 directory's inode number is its cgroup id */
	return stat(path, &st) ? 0 : st.st_ino;
}

/* --- checks ----------------------------------------------------------------------------------- */

static unsigned int n_checks, n_failed;

static void check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(bool ok, const char *fmt, ...)
{
	va_list ap;

	n_checks++;
	if (ok)
		return;
	n_failed++;
	fprintf(stderr, "CHECK FAILED: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* What the kernel holds must be the generated cluster, and what `podwall status` says. */
static void check_loaded(const struct env *e, const struct gen *g, json_object *st,
			 const struct kview *k)
{
	unsigned int i, j, missing = 0;

	check(pw_json_int(st, "namespaces", -1) == g->n_ns,
	      "status: %" PRId64 " namespaces, generated %u", pw_json_int(st, "namespaces", -1),
	      g->n_ns);
	check(pw_json_int(st, "pods", -1) == g->n_pods, "status: %" PRId64 " pods, generated %u",
	      pw_json_int(st, "pods", -1), g->n_pods);
	check(pw_json_int(st, "localPods", -1) == g->o.local,
	      "status: %" PRId64 " local pods, generated %u", pw_json_int(st, "localPods", -1),
	      g->o.local);
	check(pw_json_int(st, "networkPolicies", -1) == g->n_pols,
	      "status: %" PRId64 " policies, generated %u", pw_json_int(st, "networkPolicies", -1),
	      g->n_pols);
	check(pw_json_int(st, "identities", -1) == g->label_ids,
	      "status: %" PRId64 " identities, the pods have %u distinct label sets",
	      pw_json_int(st, "identities", -1), g->label_ids);
	check(json_object_array_length(pw_json_array(st, "pendingPods")) == 0,
	      "status: pods pending: %s",
	      json_object_to_json_string(pw_json_array(st, "pendingPods")));
	/* the kernel against the generated cluster */
	check(k->ip_pod_entries == 2ull * g->n_pods,
	      "ipcache: %" PRIu64 " pod addresses, the pods have %u", k->ip_pod_entries,
	      2 * g->n_pods);
	check(k->n_eps == g->o.local, "endpoints: %zu by cgroup, %u local pods", k->n_eps,
	      g->o.local);
	for (i = 0; i < g->n_pods; i++) {
		uint64_t id;

		if (!g->pods[i].local)
			continue;
		id = cgroup_id(e, g, i);
		for (j = 0; j < k->n_eps && k->eps[j].cgroup_id != id; j++)
			;
		missing += j == k->n_eps;
	}
	check(!missing, "endpoints: %u local pods have no endpoint for their cgroup", missing);
	/* policy subjects are local identities only: other nodes enforce for their pods */
	for (i = 0, j = 0; i < k->n_subject_slots; i++) {
		size_t x;

		if (!k->per_subject[i])
			continue;
		for (x = 0; x < k->n_eps && k->eps[x].identity != i; x++)
			;
		j += x == k->n_eps;
	}
	check(!j, "policy: %u subjects are no local endpoint's identity", j);
	/* the kernel against `podwall status` */
	check(status_map(st, PW_STR(PW_MAP_IPCACHE), "entries") == (int64_t)k->ipcache.entries,
	      "ipcache: status says %" PRId64 ", the map holds %" PRIu64,
	      status_map(st, PW_STR(PW_MAP_IPCACHE), "entries"), k->ipcache.entries);
	check(status_map(st, PW_STR(PW_MAP_POLICY), "entries") == (int64_t)k->policy.entries,
	      "policy: status says %" PRId64 ", the map holds %" PRIu64,
	      status_map(st, PW_STR(PW_MAP_POLICY), "entries"), k->policy.entries);
	check(pw_json_int(st, "policyKeys", -1) == (int64_t)k->policy.entries,
	      "policy: the compiler wants %" PRId64 " keys, the map holds %" PRIu64,
	      pw_json_int(st, "policyKeys", -1), k->policy.entries);
	check(status_map(st, PW_STR(PW_MAP_EP_CG), "entries") == (int64_t)k->ep_cg.entries,
	      "endpoints: status says %" PRId64 ", the map holds %" PRIu64,
	      status_map(st, PW_STR(PW_MAP_EP_CG), "entries"), k->ep_cg.entries);
	check(k->policy.entries > 0, "policy: the map is empty");
}

/* --- latency series --------------------------------------------------------------------------- */

struct series {
	const char *what;
	unsigned int n;
	double *v; /* seconds */
	double p50, p99, max, mean;
	unsigned int slowest;  /* its sample number (0-based, in run order) */
	int64_t recompiled[2]; /* subjects the daemon recompiled for the first and last sample */
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* nearest rank */
static double pct(const double *sorted, unsigned int n, unsigned int p)
{
	unsigned int r = (n * p + 99) / 100;

	return n ? sorted[r ? r - 1 : 0] : 0;
}

static void series_stats(struct series *s)
{
	double sum = 0;
	unsigned int i;

	for (i = 0; i < s->n; i++)
		if (s->v[i] > s->v[s->slowest])
			s->slowest = i;
	qsort(s->v, s->n, sizeof(*s->v), cmp_double);
	for (i = 0; i < s->n; i++)
		sum += s->v[i];
	s->p50 = pct(s->v, s->n, 50);
	s->p99 = pct(s->v, s->n, 99);
	s->max = s->n ? s->v[s->n - 1] : 0;
	s->mean = s->n ? sum / s->n : 0;
}

enum change_kind { CH_POLICY_PORT, CH_LOCAL_LABEL, CH_REMOTE_LABEL, CH_COUNT };

static const char *const change_names[CH_COUNT] = {
	[CH_POLICY_PORT] = "policy: one rule's port toggled",
	[CH_LOCAL_LABEL] = "pod label toggled (local pod, selection changes)",
	[CH_REMOTE_LABEL] = "pod label toggled (remote pod, selection changes)",
};

static int change_doc(const struct gen *g, enum change_kind kind, unsigned int i, char **buf,
		      size_t *len)
{
	FILE *f = open_memstream(buf, len);

	if (!f)
		return -errno;
	switch (kind) {
	case CH_POLICY_PORT:
		/* sample 0 moves away from the port the bulk apply wrote */
		gen_write_toggle_policy(g, f, i % 2 ? GEN_TOGGLE_PORT_A : GEN_TOGGLE_PORT_B);
		break;
	case CH_LOCAL_LABEL:
		gen_write_pod(g, f, g->toggle_pod, i % 2 == 0);
		break;
	default:
		gen_write_pod(g, f, g->remote_pod, i % 2 == 0);
		break;
	}
	return fclose(f) ? -errno : 0;
}

/* After sample i the kernel must hold the state it asked for. */
static void check_change(const struct daemon *d, const struct env *e, const struct gen *g,
			 enum change_kind kind, unsigned int i, uint32_t *ids)
{
	const struct gen_pod *tp = &g->pods[g->toggle_pod];
	uint32_t ep = kernel_ep_id(d, cgroup_id(e, g, g->toggle_pod));
	uint32_t ip;

	switch (kind) {
	case CH_POLICY_PORT: {
		uint16_t want = i % 2 ? GEN_TOGGLE_PORT_A : GEN_TOGGLE_PORT_B;
		uint16_t gone = i % 2 ? GEN_TOGGLE_PORT_B : GEN_TOGGLE_PORT_A;

		check(ep && kernel_has_port(d, ep, want) && !kernel_has_port(d, ep, gone),
		      "toggle %u: identity %u should allow TCP %u (not %u) from any peer", i, ep,
		      want, gone);
		break;
	}
	case CH_LOCAL_LABEL:
		ip = kernel_ipcache_id(d, gen_pod_v4(tp->index));
		check(ep && ep == ip, "label %u: endpoint identity %u, ipcache says %u", i, ep, ip);
		ids[i % 2] = ep;
		if (i % 2)
			check(ids[0] != ids[1], "label %u: the canary label kept identity %u", i,
			      ep);
		/* the canary policy selects it: TCP 7443 from some peer */
		break;
	default:
		ip = kernel_ipcache_id(d, gen_pod_v4(g->pods[g->remote_pod].index));
		ids[i % 2] = ip;
		check(ip, "remote label %u: the pod's address left ipcache", i);
		if (i % 2)
			check(ids[0] != ids[1],
			      "remote label %u: the canary label kept identity %u", i, ip);
		break;
	}
}

static int run_series(struct daemon *d, const struct env *e, const struct gen *g,
		      enum change_kind kind, unsigned int n, double deadline, struct series *s)
{
	uint32_t ids[2] = {0};
	unsigned int i;
	int err = 0;

	s->what = change_names[kind];
	s->v = calloc(n ?: 1, sizeof(*s->v));
	if (!s->v)
		return -ENOMEM;
	for (i = 0; i < n && !stop_sig; i++) {
		char *buf = NULL;
		size_t len = 0;
		double t0;

		/* past the time budget: keep what was measured, at least 10 samples */
		if (i >= 10 && now_s() > deadline)
			break;
		err = change_doc(g, kind, i, &buf, &len);
		if (err)
			return err;
		t0 = now_s();
		err = apply_text(d, "cpscale-change.yaml", buf, len);
		s->v[i] = now_s() - t0;
		free(buf);
		if (err)
			return err;
		s->n++;
		/* apply returned: the kernel already holds the change (first, second, last) */
		if (i < 2 || i + 1 == n)
			check_change(d, e, g, kind, i, ids);
		/* how much of the policy the daemon recompiled for it (outside the timing) */
		if (i == 0 || i + 1 == n) {
			json_object *st = NULL;

			err = status(d, &st);
			if (err)
				return err;
			s->recompiled[i != 0] = pw_json_int(st, "lastSyncRecompiled", -1);
			json_object_put(st);
		}
	}
	/* an even count leaves the cluster as the bulk apply made it */
	if (s->n % 2 && !stop_sig) {
		char *buf = NULL;
		size_t len = 0;

		err = change_doc(g, kind, s->n, &buf, &len);
		if (!err)
			err = apply_text(d, "cpscale-change.yaml", buf, len);
		free(buf);
	}
	series_stats(s);
	return err;
}

/* --- the run ---------------------------------------------------------------------------------- */

struct results {
	double t_all, t_nspods, t_pols;
	struct mem idle, loaded, idle2, split_pods, split_all, after_changes;
	struct kview k;
	json_object *st;
	uint64_t naive_entries, naive_max;
	unsigned int local_ids;
	/* a dense node: every replica of the local identities on this node */
	uint64_t dense_eps, dense_entries;
	struct series ch[CH_COUNT];
	double bytes_nspods, bytes_pols;
	double t_total;
	char loadavg[64];
	int compactions; /* journal compactions the daemon logged during the change series */
};

/* Lines of a log holding needle; -errno when it cannot be read. */
static int count_lines(const char *path, const char *needle)
{
	char line[4096];
	FILE *f = fopen(path, "r");
	int n = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

/* dir/ns-NN.yaml for every namespace; bytes written added to *bytes */
static int write_dir(const char *dir, bool policies, const struct gen *g, double *bytes)
{
	char path[PATH_MAX];
	unsigned int n;
	int err = 0;

	if (mkdir(dir, 0755))
		return -errno;
	for (n = 0; n < g->n_ns && !err; n++) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s.yaml", dir, g->ns[n].name);
		f = fopen(path, "w");
		if (!f)
			return -errno;
		err = policies ? gen_write_policies(g, (int)n, f) : gen_write_ns_pods(g, n, f);
		*bytes += ftell(f);
		if (fclose(f) && !err)
			err = -errno;
	}
	return err;
}

static void per_endpoint_baseline(struct results *r)
{
	const struct kview *k = &r->k;
	size_t i, j;

	r->naive_entries = 0;
	r->naive_max = 0;
	r->local_ids = 0;
	r->dense_eps = 0;
	r->dense_entries = 0;
	for (i = 0; i < k->n_eps; i++) {
		uint32_t id = k->eps[i].identity;
		uint64_t n = id < k->n_subject_slots ? k->per_subject[id] : 0;

		r->naive_entries += n;
		if (n > r->naive_max)
			r->naive_max = n;
		for (j = 0; j < i && k->eps[j].identity != id; j++)
			;
		if (j < i)
			continue;
		r->local_ids++;
		if (id < k->n_pods_of) {
			r->dense_eps += k->pods_of[id];
			r->dense_entries += (uint64_t)k->pods_of[id] * n;
		}
	}
}

static double mib(double kb)
{
	return kb / 1024.0;
}

static void machine_line(char *buf, size_t len)
{
	char line[256], model[128] = "?";
	struct utsname u;
	long mem_kb = 0;
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "model name", 10)) {
			char *p = strchr(line, ':');

			if (p)
				snprintf(model, sizeof(model), "%s", p + 2);
			model[strcspn(model, "\n")] = '\0';
			break;
		}
	}
	if (f)
		fclose(f);
	f = fopen("/proc/meminfo", "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %ld", &mem_kb) == 1)
			break;
	if (f)
		fclose(f);
	uname(&u);
	snprintf(buf, len, "%s, %ld CPUs, %.1f GiB, Linux %s", model, sysconf(_SC_NPROCESSORS_ONLN),
		 mem_kb / 1048576.0, u.release);
}

static void report(FILE *f, bool md, const struct opts *o, const struct gen *g,
		   const struct results *r)
{
	const struct kview *k = &r->k;
	const struct gen_feat *ft = &g->feat;
	char machine[512], date[64];
	time_t now = time(NULL);
	unsigned int i;
	const char *h = md ? "### " : "== ";

	machine_line(machine, sizeof(machine));
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M UTC", gmtime(&now));
	if (md) {
		fprintf(f,
			"Measured by `bench/cpscale` (`build/bench/bench_ctl%s`) on %s, %s. "
			"Every figure below is from that run.\n\n",
			o->quick ? " --quick" : "", machine, date);
		fprintf(f, "Load average (1, 5, 15 min) at the start: %s.\n\n", r->loadavg);
		if (strcmp(o->daemon, CPSCALE_DAEMON) || strcmp(o->cli, CPSCALE_CLI))
			fprintf(f,
				"Daemon and CLI of this run: `%s`, `%s` (given by --daemon/--cli, "
				"not this build's).\n\n",
				o->daemon, o->cli);
		fprintf(f,
			"**Method.** The benchmark generates a cluster, starts `podwalld` in a "
			"private network namespace (its own bpffs directory, cgroup root, socket "
			"and "
			"state directory; default map capacities), and applies the cluster with "
			"`podwall apply -f`, which returns only once the kernel maps hold the "
			"result. "
			"Pods are endpoints without interfaces: most are peers only (no podwall "
			"annotation: another node's pods), and %u are bound to this node by a "
			"`podwall.io/cgroup` annotation (an empty cgroup each), so the endpoint "
			"map "
			"and per-subject policy entries are exercised as on a node. Memory is the "
			"daemon's VmRSS/VmHWM from `/proc/PID/status`; map entries are read back "
			"from "
			"the pinned maps and must match `podwall status -o json`; map memory is "
			"the "
			"kernel's own accounting (`memlock` in the map fd's fdinfo). A change's "
			"latency is one apply round-trip on the control socket (the request "
			"`podwall apply` sends, on a held connection, so without the CLI's process "
			"start), repeated %u times per kind.\n\n",
			g->o.local, o->changes);
		fprintf(f,
			"**The cluster.** %u namespaces (team, env and role labels), %u pods in %u "
			"Deployments of five tiers (web, api, worker, db, cache; a DNS Deployment "
			"in "
			"ns-00): replicas 1 to 20, a fifth of the Deployments mid-rollout (two "
			"ReplicaSets: version and pod-template-hash labels differ), named "
			"container "
			"ports per tier, an IPv4 and an IPv6 podIP each (198.18.0.0/16, "
			"fd00:18::/64). "
			"%u NetworkPolicies (%u ingress, %u egress): %u default-deny ingress, %u "
			"default-deny egress with a DNS allow; peers by podSelector (%u), "
			"namespaceSelector (%u), both ANDed (%u), matchExpressions (%u), ipBlock "
			"(%u, %u with except); ports named (%u), numeric (%u), endPort ranges "
			"(%u), "
			"UDP (%u). Seed %" PRIu64 ".\n\n",
			g->n_ns, g->n_pods, g->n_apps, g->n_pols, ft->ingress_pols, ft->egress_pols,
			ft->default_deny_in, ft->default_deny_eg, ft->pod_sel, ft->ns_sel,
			ft->pod_and_ns_sel, ft->match_expr, ft->ipblock, ft->ipblock_except,
			ft->named_port, ft->numeric_port, ft->end_port, ft->udp, g->o.seed);
	} else {
		fprintf(f, "\ncpscale: %s\n", machine);
		fprintf(f,
			"cluster: %u namespaces, %u pods (%u local), %u deployments, %u policies\n",
			g->n_ns, g->n_pods, g->o.local, g->n_apps, g->n_pols);
	}

	fprintf(f, "%sFrom apply to enforced\n\n", h);
	fprintf(f, "| apply | objects | manifest | time | daemon VmRSS after | VmHWM |\n");
	fprintf(f, "|---|---:|---:|---:|---:|---:|\n");
	fprintf(f,
		"| whole set, one `podwall apply -f pods/ -f networkpolicies/` | %u | %.1f MiB | "
		"%.2f s | %.1f MiB | "
		"%.1f MiB |\n",
		g->n_ns + g->n_pods + g->n_pols, (r->bytes_nspods + r->bytes_pols) / 1048576.0,
		r->t_all, mib(r->loaded.rss_kb), mib(r->loaded.hwm_kb));
	fprintf(f,
		"| split, 1: namespaces + pods (fresh daemon) | %u | %.1f MiB | %.2f s | "
		"%.1f MiB | %.1f MiB |\n",
		g->n_ns + g->n_pods, r->bytes_nspods / 1048576.0, r->t_nspods,
		mib(r->split_pods.rss_kb), mib(r->split_pods.hwm_kb));
	fprintf(f,
		"| split, 2: then the policies | %u | %.1f MiB | %.2f s | %.1f MiB | %.1f MiB "
		"|\n\n",
		g->n_pols, r->bytes_pols / 1048576.0, r->t_pols, mib(r->split_all.rss_kb),
		mib(r->split_all.hwm_kb));

	fprintf(f, "%sDaemon memory\n\n", h);
	fprintf(f, "| | VmRSS | VmHWM |\n|---|---:|---:|\n");
	fprintf(f, "| idle (maps loaded, no objects) | %.1f MiB | %.1f MiB |\n",
		mib(r->idle.rss_kb), mib(r->idle.hwm_kb));
	fprintf(f, "| after the whole set | %.1f MiB | %.1f MiB |\n", mib(r->loaded.rss_kb),
		mib(r->loaded.hwm_kb));
	fprintf(f, "| after the change series | %.1f MiB | %.1f MiB |\n",
		mib(r->after_changes.rss_kb), mib(r->after_changes.hwm_kb));
	fprintf(f, "| **per pod** (RSS growth / pods) | **%.2f KiB** | %.2f KiB |\n\n",
		(double)(r->loaded.rss_kb - r->idle.rss_kb) / g->n_pods,
		(double)(r->loaded.hwm_kb - r->idle.hwm_kb) / g->n_pods);

	fprintf(f, "%sMap entries\n\n", h);
	fprintf(f, "| map | entries | capacity | kernel memory |\n|---|---:|---:|---:|\n");
	/* kernel memory: fdinfo's memlock, the map's own accounting (6.4+: what it really holds) */
	fprintf(f,
		"| ipcache (`%s`) | %" PRIu64 " (%" PRIu64 " pod addresses, %" PRIu64
		" CIDRs) | %u | %.2f MiB |\n",
		PW_STR(PW_MAP_IPCACHE), k->ipcache.entries, k->ip_pod_entries, k->ip_cidr_entries,
		k->ipcache.max_entries, k->ipcache.memlock / 1048576.0);
	fprintf(f, "| policy (`%s`) | %" PRIu64 " | %u | %.2f MiB |\n", PW_STR(PW_MAP_POLICY),
		k->policy.entries, k->policy.max_entries, k->policy.memlock / 1048576.0);
	fprintf(f, "| endpoints by cgroup (`%s`) | %" PRIu64 " | %u | %.1f MiB |\n",
		PW_STR(PW_MAP_EP_CG), k->ep_cg.entries, k->ep_cg.max_entries,
		k->ep_cg.memlock / 1048576.0);
	fprintf(f, "| endpoints by interface (`%s`) | %" PRIu64 " | %u | %.1f MiB |\n\n",
		PW_STR(PW_MAP_EP_IF), k->ep_if.entries, k->ep_if.max_entries,
		k->ep_if.memlock / 1048576.0);

	fprintf(f, "%sIdentities, and policy entries against a per-endpoint design\n\n", h);
	fprintf(f, "| | count |\n|---|---:|\n");
	fprintf(f,
		"| pods / label identities (sharing factor) | %u / %" PRId64 " (%.1f pods per "
		"identity) |\n",
		g->n_pods, pw_json_int(r->st, "identities", -1),
		(double)g->n_pods / (double)(pw_json_int(r->st, "identities", 1) ?: 1));
	fprintf(f, "| CIDR identities (ipBlock prefixes) | %" PRId64 " |\n",
		pw_json_int(r->st, "cidrIdentities", -1));
	fprintf(f, "| local endpoints / their identities | %zu / %u (%.1f per identity) |\n",
		k->n_eps, r->local_ids, r->local_ids ? (double)k->n_eps / r->local_ids : 0);
	fprintf(f, "| subject identities with policy entries | %u |\n", k->subjects);
	fprintf(f, "| policy entries, ours (one set per subject identity) | **%" PRIu64 "** |\n",
		k->policy.entries);
	fprintf(f,
		"| policy entries, per-endpoint maps (Cilium-style: each endpoint's own) | "
		"**%" PRIu64 "** (%.1fx) |\n",
		r->naive_entries,
		k->policy.entries ? (double)r->naive_entries / k->policy.entries : 0);
	fprintf(f,
		"| largest single endpoint's entries (a per-endpoint map must hold it) | %" PRIu64
		" |\n",
		r->naive_max);
	fprintf(f,
		"| dense node: every replica of those identities here (%" PRIu64 " endpoints), "
		"per-endpoint maps | %" PRIu64 " (%.1fx ours, which stays %" PRIu64 ") |\n\n",
		r->dense_eps, r->dense_entries,
		k->policy.entries ? (double)r->dense_entries / k->policy.entries : 0,
		k->policy.entries);
	fprintf(f,
		"The per-endpoint figures are computed from the same kernel state: for every "
		"local endpoint, the entries of its identity in our policy map, summed; it is what "
		"a design with one policy map per endpoint would store for the same policies. "
		"The local pods here are spread evenly over the cluster (every %uth pod), as a "
		"scheduler spreading replicas over nodes places them, so few share an identity on "
		"this node and the two designs store about the same. The dense-node row counts "
		"every replica of the same identities (pods per identity from the ipcache) as if "
		"they all ran here: the per-endpoint design grows with them, ours does not.\n\n",
		g->o.local ? g->n_pods / g->o.local : 0);

	fprintf(f, "%sOne change at this scale (apply round-trip)\n\n", h);
	fprintf(f, "| change | samples | p50 | p99 | max (sample #) | mean | subjects recompiled "
		   "(first, last sample) |\n|---|---:|---:|---:|---:|---:|---:|\n");
	for (i = 0; i < CH_COUNT; i++) {
		const struct series *s = &r->ch[i];

		fprintf(f,
			"| %s | %u | %.1f ms | %.1f ms | %.1f ms (#%u) | %.1f ms | %" PRId64
			", %" PRId64 " |\n",
			s->what, s->n, s->p50 * 1e3, s->p99 * 1e3, s->max * 1e3, s->slowest,
			s->mean * 1e3, s->recompiled[0], s->recompiled[1]);
	}
	fprintf(f, "\n");
	if (md) {
		fprintf(f,
			"The policy change rewrites `cps-toggle` in %s (it selects the local pod's "
			"Deployment), moving its one rule between TCP %u and %u. The label changes "
			"add and remove `canary: \"true\"` on a local pod and on a remote pod of "
			"the "
			"same namespace: a new label set, so a new identity for its addresses (and "
			"its endpoint), and the `cps-canary` policy starts or stops selecting it. "
			"After each kind's first, second and last sample the benchmark reads the "
			"kernel maps and checks the change is there. Every change is journaled to "
			"the state directory before it is answered, as for a user; the daemon "
			"compacted that journal %d times during the series (its log says so), each "
			"time rewriting the record that holds the whole cluster. \"Subjects "
			"recompiled\" is the daemon's own `lastSyncRecompiled` after the "
			"sample.\n\n",
			g->ns[g->pods[g->toggle_pod].ns].name, GEN_TOGGLE_PORT_A, GEN_TOGGLE_PORT_B,
			r->compactions);
		fprintf(f, "Checks: %u made, %u failed. Run time %.0f s.\n\n", n_checks, n_failed,
			r->t_total);
		fprintf(f, "Reproduce: `sudo build/bench/bench_ctl --markdown out.md` "
			   "(`--help` for the scale options; `--quick` is the ctest smoke run).\n");
	} else {
		fprintf(f, "checks: %u made, %u failed; run time %.0f s\n", n_checks, n_failed,
			r->t_total);
	}
}

static int run(const struct opts *o, struct gen *g, struct env *e, struct results *r)
{
	char nspods[PATH_MAX], pols[PATH_MAX], alldir[300];
	char l1[PATH_MAX * 2], l2[PATH_MAX * 2];
	struct daemon d1, d2;
	double deadline;
	unsigned int i;
	int err;

	daemon_init(&d1, o, e, "a");
	daemon_init(&d2, o, e, "b");
	/* manifests: a file per namespace in two directories, applied together or one by one */
	snprintf(alldir, sizeof(alldir), "%s/cluster", e->work);
	snprintf(nspods, sizeof(nspods), "%s/pods", alldir);
	snprintf(pols, sizeof(pols), "%s/networkpolicies", alldir);
	if (mkdir(alldir, 0755)) {
		err = -errno;
		goto out;
	}
	err = write_dir(nspods, false, g, &r->bytes_nspods);
	if (!err)
		err = write_dir(pols, true, g, &r->bytes_pols);
	if (err)
		goto out;
	say("cluster: %u namespaces, %u pods (%u local, %u label sets), %u policies: %.1f MiB",
	    g->n_ns, g->n_pods, g->o.local, g->label_ids, g->n_pols,
	    (r->bytes_nspods + r->bytes_pols) / 1048576.0);

	/* 1. the whole set at once */
	err = daemon_start(&d1);
	if (err)
		goto out;
	err = proc_mem(d1.pid, &r->idle);
	if (err)
		goto out;
	say("apply the whole set");
	r->t_all = cli_run(&d1, "apply", nspods, pols);
	if (r->t_all < 0) {
		err = (int)r->t_all;
		goto out;
	}
	say("  enforced in %.2f s", r->t_all);
	err = proc_mem(d1.pid, &r->loaded);
	if (!err)
		err = status(&d1, &r->st);
	if (!err)
		err = kview_read(&d1, &r->k);
	if (err)
		goto out;
	check_loaded(e, g, r->st, &r->k);
	per_endpoint_baseline(r);

	/* 2. one change at a time; the budget keeps the whole run bounded */
	deadline = t_start + o->max_seconds;
	for (i = 0; i < CH_COUNT && !stop_sig; i++) {
		say("%s x %u", change_names[i], o->changes);
		err = run_series(&d1, e, g, i, o->changes, deadline, &r->ch[i]);
		if (err)
			goto out;
		say("  p50 %.2f ms, p99 %.2f ms, max %.2f ms", r->ch[i].p50 * 1e3,
		    r->ch[i].p99 * 1e3, r->ch[i].max * 1e3);
	}
	err = proc_mem(d1.pid, &r->after_changes);
	if (err)
		goto out;
	/* informational: the daemon rewrites its CLI journal now and then (see podwalld.c) */
	r->compactions = count_lines(d1.log, "journal compacted");
	/* back where the bulk apply left it: the same entries */
	{
		struct kview k2;

		err = kview_read(&d1, &k2);
		if (err)
			goto out;
		check(k2.policy.entries == r->k.policy.entries &&
			      k2.ipcache.entries == r->k.ipcache.entries,
		      "after the change series: policy %" PRIu64 " (was %" PRIu64
		      "), ipcache %" PRIu64 " (was %" PRIu64 ")",
		      k2.policy.entries, r->k.policy.entries, k2.ipcache.entries,
		      r->k.ipcache.entries);
		kview_free(&k2);
	}
	err = daemon_stop(&d1);
	if (err || stop_sig)
		goto out;

	/* 3. split, on a fresh daemon: what the policies cost once the pods are known */
	err = daemon_start(&d2);
	if (err)
		goto out;
	err = proc_mem(d2.pid, &r->idle2);
	if (err)
		goto out;
	say("apply namespaces + pods, then the policies (fresh daemon)");
	r->t_nspods = cli_run(&d2, "apply", nspods, NULL);
	if (r->t_nspods < 0) {
		err = (int)r->t_nspods;
		goto out;
	}
	proc_mem(d2.pid, &r->split_pods);
	r->t_pols = cli_run(&d2, "apply", pols, NULL);
	if (r->t_pols < 0) {
		err = (int)r->t_pols;
		goto out;
	}
	proc_mem(d2.pid, &r->split_all);
	say("  %.2f s + %.2f s", r->t_nspods, r->t_pols);
	{
		struct kview k3;

		err = kview_read(&d2, &k3);
		if (err)
			goto out;
		check(k3.policy.entries == r->k.policy.entries &&
			      k3.ipcache.entries == r->k.ipcache.entries && k3.n_eps == r->k.n_eps,
		      "split apply: policy %" PRIu64 " ipcache %" PRIu64 " endpoints %zu, whole "
		      "set: %" PRIu64 " %" PRIu64 " %zu",
		      k3.policy.entries, k3.ipcache.entries, k3.n_eps, r->k.policy.entries,
		      r->k.ipcache.entries, r->k.n_eps);
		kview_free(&k3);
	}
out:
	if (err || n_failed) {
		snprintf(l1, sizeof(l1), "%s", d1.log);
		snprintf(l2, sizeof(l2), "%s", d2.log);
		if (!access(l1, F_OK)) {
			say("podwalld (whole set) log, last lines:");
			tail_log(l1);
		}
		if (!access(l2, F_OK)) {
			say("podwalld (split) log, last lines:");
			tail_log(l2);
		}
	}
	if (daemon_stop(&d1) && !err)
		err = -EIO;
	if (daemon_stop(&d2) && !err)
		err = -EIO;
	if (stop_sig && !err)
		err = -EINTR;
	return err;
}

int main(int argc, char **argv)
{
	struct results r = {0};
	struct sigaction sa = {.sa_handler = on_signal};
	struct opts o;
	struct gen g;
	struct env e = {0};
	unsigned int i;
	int err;

	t_start = now_s();
	if (parse_opts(argc, argv, &o))
		return 2;
	/* other work on the machine moves the figures: say how busy it was */
	{
		FILE *f = fopen("/proc/loadavg", "r");
		double l1, l5, l15;

		if (f && fscanf(f, "%lf %lf %lf", &l1, &l5, &l15) == 3)
			snprintf(r.loadavg, sizeof(r.loadavg), "%.2f, %.2f, %.2f", l1, l5, l15);
		else
			snprintf(r.loadavg, sizeof(r.loadavg), "?");
		if (f)
			fclose(f);
	}
	if (geteuid()) {
		fprintf(stderr, "bench_ctl: needs root (BPF, network namespaces, cgroups)\n");
		return 1;
	}
	/* an interrupted run still cleans up */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	err = gen_build(&o.g, &g);
	if (err) {
		fprintf(stderr, "bench_ctl: cannot generate the cluster: %s\n", strerror(-err));
		return 1;
	}
	err = env_setup(&e, &g);
	if (!err)
		err = run(&o, &g, &e, &r);
	r.t_total = now_s() - t_start;
	if (!err) {
		report(stdout, false, &o, &g, &r);
		if (o.markdown) {
			FILE *f = fopen(o.markdown, "w");

			if (!f) {
				err = -errno;
				say("%s: %s", o.markdown, strerror(errno));
			} else {
				report(f, true, &o, &g, &r);
				if (fclose(f))
					err = -errno;
			}
		}
	} else {
		say("failed: %s", strerror(-err));
	}
	env_cleanup(&e, o.keep);
	kview_free(&r.k);
	json_object_put(r.st);
	for (i = 0; i < CH_COUNT; i++)
		free(r.ch[i].v);
	gen_free(&g);
	if (n_failed)
		say("%u of %u checks failed", n_failed, n_checks);
	return err || n_failed ? 1 : 0;
}
