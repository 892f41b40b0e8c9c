// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The lifecycle: loading, pinning, adopting, closing and destroying the BPF objects. It sits
 * on top: it drives attach.c and events.c, which (like it) look things up in the object
 * table, objects.c; none of them calls back into this file.
 *
 * Both objects declare the same maps (bpf/lib/maps.h). The tc object is loaded first: its
 * maps are created and pinned under <bpffs>/maps/, or adopted from the pins an earlier
 * process left there. The sock object then reuses the tc object's map fds, so both programs
 * always share one set of maps, pinned or not.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "tc.skel.h"
#include "sock.skel.h"
#include "objects.h"
#include "attach.h"
#include "events.h"
#include "upgrade.h"

#define PW_SYS_BPFFS "/sys/fs/bpf"

/* --- bpffs ------------------------------------------------------------------------------- */

static bool is_bpffs(const char *path)
{
	struct statfs st;

	return statfs(path, &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);
	char *p;

	if (len == 0 || len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

/* The deepest existing ancestor of path (path itself when it exists). */
static void existing_ancestor(const char *path, char *out, size_t len)
{
	struct stat st;
	char *slash;

	snprintf(out, len, "%s", path);
	while (stat(out, &st) != 0) {
		slash = strrchr(out, '/');
		if (!slash || slash == out) {
			snprintf(out, len, "/");
			return;
		}
		*slash = '\0';
	}
}

static bool below_sys_bpffs(const char *dir)
{
	size_t n = strlen(PW_SYS_BPFFS);

	return strncmp(dir, PW_SYS_BPFFS, n) == 0 && (dir[n] == '/' || dir[n] == '\0');
}

static int mount_bpffs(struct pw_dp *dp, const char *where)
{
	int err;

	if (mount("bpf", where, "bpf", 0, "mode=0700")) {
		err = -errno;
		pw_err(dp, "cannot mount bpffs on %s: %s%s", where, strerror(-err),
		       err == -EPERM ? " (podwall needs root: CAP_SYS_ADMIN)" : "");
		return err;
	}
	pw_info(dp, "mounted bpffs on %s", where);
	return 0;
}

/* Make bpffs_dir a directory on a bpffs, mounting one where needed, with maps/ and links/. */
static int prepare_bpffs(struct pw_dp *dp)
{
	const char *dir = dp->bpffs_dir;
	char anc[PATH_MAX], sub[PATH_MAX];
	int err;

	existing_ancestor(dir, anc, sizeof(anc));
	if (!is_bpffs(anc)) {
		if (below_sys_bpffs(dir) && !is_bpffs(PW_SYS_BPFFS)) {
			err = mount_bpffs(dp, PW_SYS_BPFFS);
			if (err)
				return err;
		} else {
			err = mkdir_p(dir, 0700);
			if (err) {
				pw_err(dp, "cannot create bpffs directory %s: %s", dir,
				       strerror(-err));
				return err;
			}
			err = mount_bpffs(dp, dir);
			if (err)
				return err;
			dp->mounted_dir = true;
		}
	}
	err = mkdir_p(dir, 0700);
	if (!err && !is_bpffs(dir))
		err = -ENOTSUP;
	if (!err)
		err = pw_dp_path(dp, sub, sizeof(sub), "maps");
	if (!err)
		err = mkdir_p(sub, 0700);
	if (!err)
		err = pw_dp_path(dp, sub, sizeof(sub), "links");
	if (!err)
		err = mkdir_p(sub, 0700);
	if (err)
		pw_err(dp, "cannot prepare bpffs directory %s: %s", dir, strerror(-err));
	return err;
}

/* --- pins -------------------------------------------------------------------------------- */

static uint32_t requested_max(const struct pw_dp_opts *o, enum pw_dp_map m)
{
	switch (m) {
	case PW_DPMAP_IPCACHE:
		return o->ipcache_max;
	case PW_DPMAP_POLICY:
		return o->policy_max;
	case PW_DPMAP_EP_IF:
	case PW_DPMAP_EP_CG:
		return o->ep_max;
	case PW_DPMAP_CT:
		return o->ct_max;
	default:
		return 0;
	}
}

/*
 * Compare a pinned map with what this build declares. libbpf would refuse an incompatible
 * pin with a generic message; this names the pin and the field that differs. A capacity the
 * caller left at 0 follows the pin (adopted pins keep their own size).
 */
static int check_pin(struct pw_dp *dp, const struct pw_dp_opts *o, enum pw_dp_map m,
		     const char *path, bool *exists)
{
	struct bpf_map *map = pw_dp_map(dp, m);
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	uint32_t want = requested_max(o, m);
	int fd, err = 0;

	*exists = false;
	if (access(path, F_OK))
		return 0;
	fd = bpf_obj_get(path);
	if (fd < 0) {
		err = -errno;
		pw_err(dp, "cannot open pinned map %s: %s", path, strerror(-err));
		return err;
	}
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		err = -errno;
		pw_err(dp, "cannot read pinned map %s: %s", path, strerror(-err));
		goto out;
	}
	*exists = true;
	err = -EINVAL;
	if (info.type != bpf_map__type(map))
		pw_err(dp, "pinned map %s is incompatible: type %u, this build needs %u", path,
		       info.type, bpf_map__type(map));
	else if (info.key_size != bpf_map__key_size(map))
		pw_err(dp,
		       "pinned map %s is incompatible: key size %u, this build needs %u "
		       "(old layout: remove the pin)",
		       path, info.key_size, bpf_map__key_size(map));
	else if (info.value_size != bpf_map__value_size(map))
		pw_err(dp,
		       "pinned map %s is incompatible: value size %u, this build needs %u "
		       "(old layout: remove the pin)",
		       path, info.value_size, bpf_map__value_size(map));
	else if (info.map_flags != bpf_map__map_flags(map))
		pw_err(dp, "pinned map %s is incompatible: flags 0x%x, this build needs 0x%x", path,
		       info.map_flags, bpf_map__map_flags(map));
	else if (m == PW_DPMAP_METRICS && info.max_entries != PW_METRICS_SLOTS)
		/* its size is its layout: adopted smaller, the last slots would never count */
		pw_err(dp,
		       "pinned map %s is incompatible: %u counter slots, this build needs %u "
		       "(old layout: remove the pin)",
		       path, info.max_entries, PW_METRICS_SLOTS);
	else if (want && info.max_entries != want)
		pw_err(dp,
		       "pinned map %s is incompatible: capacity %u entries, %u requested "
		       "(a pinned map cannot be resized: remove the pin or request %u)",
		       path, info.max_entries, want, info.max_entries);
	else
		err = 0;
	if (!err)
		err = bpf_map__set_max_entries(map, info.max_entries);
out:
	close(fd);
	return err;
}

static int setup_maps(struct pw_dp *dp, const struct pw_dp_opts *o)
{
	char path[PATH_MAX];
	bool exists;
	int m, err, ncpu, n_adopted = 0;

	ncpu = libbpf_num_possible_cpus();
	if (ncpu < 0)
		return ncpu;
	for (m = 0; m < PW_DPMAP_COUNT; m++) {
		struct bpf_map *map = pw_dp_map(dp, m);
		uint32_t want = requested_max(o, m);

		if (!map) {
			pw_err(dp, "BPF object lacks map %s", pw_dp_map_name(m));
			return -ENOENT;
		}
		/* explicit, so a pinned ring array compares equal on the next load */
		if (m == PW_DPMAP_EVENTS)
			err = bpf_map__set_max_entries(map, ncpu);
		else
			err = want ? bpf_map__set_max_entries(map, want) : 0;
		if (err)
			return err;
		if (!dp->bpffs_dir)
			continue;
		err = pw_dp_path(dp, path, sizeof(path), "maps/%s", pw_dp_map_name(m));
		if (!err)
			err = check_pin(dp, o, m, path, &exists);
		if (!err)
			err = bpf_map__set_pin_path(map, path);
		if (err)
			return err;
		if (exists)
			n_adopted++;
		else
			pw_debug(dp, "map %s: no pin yet, creating it", path);
	}
	dp->adopted = n_adopted > 0;
	if (dp->adopted && n_adopted < PW_DPMAP_COUNT)
		pw_info(dp, "adopted %d pinned maps, created %d new ones", n_adopted,
			PW_DPMAP_COUNT - n_adopted);
	return 0;
}

/* Turn a load failure into something a user can act on. */
static void explain_load_error(struct pw_dp *dp, const char *what, int err)
{
	if (err == -EPERM || err == -EACCES) {
		pw_err(dp,
		       "loading the %s programs was refused (%s): podwall needs root "
		       "(CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN)",
		       what, strerror(-err));
		return;
	}
	if (libbpf_probe_bpf_map_type(BPF_MAP_TYPE_LPM_TRIE, NULL) <= 0) {
		pw_err(dp, "kernel too old: no BPF LPM trie maps (needs Linux 5.10+)");
		return;
	}
	if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_CGROUP_SOCK_ADDR, NULL) <= 0) {
		pw_err(dp, "kernel too old: no cgroup sock_addr BPF programs");
		return;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK))
		pw_err(dp,
		       "loading the %s programs failed: %s (the kernel has no BTF at "
		       "/sys/kernel/btf/vmlinux: too old or built without CONFIG_DEBUG_INFO_BTF)",
		       what, strerror(-err));
	else
		pw_err(dp,
		       "loading the %s programs failed: %s (the verifier log is at debug level)",
		       what, strerror(-err));
}

static int cgroup_level_for(struct pw_dp *dp, __u32 *level);

/*
 * A build whose map layout changed uses a new pin name (the _vN suffix): its programs, now
 * behind every link, use the new map, and the older version's pin serves nobody. Remove pins
 * named as an older or other version of one of our maps; anything else in the directory is
 * not ours to judge. A program still holding the old map (one not replaced yet) keeps it alive:
 * unpinning only drops the name.
 */
static void prune_other_versions(struct pw_dp *dp)
{
	char dir[PATH_MAX], path[PATH_MAX + 256];
	struct dirent *de;
	DIR *d;

	if (pw_dp_path(dp, dir, sizeof(dir), "maps"))
		return;
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		const char *v = strrchr(de->d_name, 'v');
		size_t base = v && v > de->d_name && v[-1] == '_' ? (size_t)(v - de->d_name) : 0;
		int m;

		if (!base || !v[1] || strspn(v + 1, "0123456789") != strlen(v + 1))
			continue;
		for (m = 0; m < PW_DPMAP_COUNT; m++) {
			const char *cur = pw_dp_map_name(m);

			if (!strncmp(cur, de->d_name, base) && cur[base] == 'v' &&
			    strcmp(cur, de->d_name))
				break;
		}
		if (m == PW_DPMAP_COUNT)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (unlink(path))
			pw_warn(dp, "cannot remove %s, a pin of another layout of map %s: %s", path,
				pw_dp_map_name(m), strerror(errno));
		else
			pw_info(dp,
				"removed %s: map %s has a new layout and no program uses the "
				"old one any more",
				path, pw_dp_map_name(m));
	}
	closedir(d);
}

/* ------------------------------------------------------------------------------------------ */

int pw_dp_open(const struct pw_dp_opts *opts, struct pw_dp **dpp)
{
	struct pw_dp_opts o = {};
	struct pw_dp *dp;
	__u32 level = 0;
	bool fresh = false; /* this open created the pins (nothing was adopted) */
	int m, err;

	if (!opts || !dpp || opts->sz < offsetof(struct pw_dp_opts, log))
		return -EINVAL;
	memcpy(&o, opts, opts->sz < sizeof(o) ? opts->sz : sizeof(o));
	*dpp = NULL;

	dp = calloc(1, sizeof(*dp));
	if (!dp)
		return -ENOMEM;
	dp->log = o.log;
	dp->log_ctx = o.log_ctx;
	dp->log_level = o.log ? o.log_level : PW_LOG_ERROR;
	pw_log_route_libbpf(dp);

	if (o.bpffs_dir) {
		size_t n = strlen(o.bpffs_dir);

		while (n > 1 && o.bpffs_dir[n - 1] == '/')
			n--;
		dp->bpffs_dir = strndup(o.bpffs_dir, n);
		if (!dp->bpffs_dir || o.bpffs_dir[0] != '/') {
			err = dp->bpffs_dir ? -EINVAL : -ENOMEM;
			if (err == -EINVAL)
				pw_err(dp, "bpffs directory must be an absolute path: %s",
				       o.bpffs_dir);
			goto out;
		}
	}
	if (o.cgroup_root) {
		dp->cgroup_root = strdup(o.cgroup_root);
		if (!dp->cgroup_root) {
			err = -ENOMEM;
			goto out;
		}
		/* validated before anything is loaded or pinned */
		err = cgroup_level_for(dp, &level);
		if (err)
			goto out;
	}
	if (dp->bpffs_dir) {
		err = prepare_bpffs(dp);
		if (err)
			goto out;
	}

	dp->tc = tc__open();
	dp->sock = sock__open();
	if (!dp->tc || !dp->sock) {
		err = -errno ? -errno : -ENOMEM;
		pw_err(dp, "cannot open the BPF objects: %s", strerror(-err));
		goto out;
	}
	err = setup_maps(dp, &o);
	if (err)
		goto out;

	err = tc__load(dp->tc);
	if (err) {
		explain_load_error(dp, "tc", err);
		goto out;
	}
	fresh = dp->bpffs_dir && !dp->adopted;
	for (m = 0; m < PW_DPMAP_COUNT; m++) {
		err = bpf_map__reuse_fd(
			bpf_object__find_map_by_name(dp->sock->obj, pw_dp_map_name(m)),
			bpf_map__fd(pw_dp_map(dp, m)));
		if (err) {
			pw_err(dp, "cannot share map %s with the socket programs: %s",
			       pw_dp_map_name(m), strerror(-err));
			goto out;
		}
	}
	dp->sock->rodata->pw_cgroup_root_level = level;
	err = sock__load(dp->sock);
	if (err) {
		explain_load_error(dp, "socket", err);
		goto out;
	}
	pw_info(dp, "BPF objects loaded%s%s%s", dp->bpffs_dir ? ", maps pinned under " : "",
		dp->bpffs_dir ? dp->bpffs_dir : "", dp->adopted ? " (adopted)" : "");

	err = pw_attach_probe_tcx(dp);
	if (!err && o.tc_mode == PW_TC_TCX && dp->tc_mode != PW_TC_TCX) {
		pw_err(dp, "tcx requested but this kernel has no tcx links (needs Linux 6.6+)");
		err = -EOPNOTSUPP;
	}
	if (err)
		goto out;
	if (o.tc_mode == PW_TC_CLSACT)
		dp->tc_mode = PW_TC_CLSACT;

	/* before the programs behind the links change: they must find every endpoint and flow */
	err = pw_upgrade_endpoints(dp);
	if (!err)
		err = pw_upgrade_conntrack(dp);
	if (!err)
		err = pw_attach_refresh_tc(dp);
	if (!err)
		err = pw_attach_sock(dp);
	if (err)
		goto out;
	if (dp->bpffs_dir)
		prune_other_versions(dp);
	*dpp = dp;
	return 0;
out:
	/*
	 * A first load that failed leaves nothing behind (pins, links, a mount of its own);
	 * a failed adoption leaves the earlier pins, and so enforcement, untouched.
	 */
	if (fresh || (dp->mounted_dir && !dp->adopted))
		pw_dp_destroy(dp);
	else
		pw_dp_close(dp);
	return err;
}

bool pw_dp_adopted(const struct pw_dp *dp)
{
	return dp && dp->adopted;
}

void pw_dp_close(struct pw_dp *dp)
{
	if (!dp)
		return;
	pw_events_close(dp);
	pw_attach_release(dp);
	pw_svc_end_close(dp);
	sock__destroy(dp->sock);
	tc__destroy(dp->tc);
	pw_log_unroute_libbpf(dp);
	free(dp->tc_att);
	free(dp->bpffs_dir);
	free(dp->cgroup_root);
	free(dp);
}

static int rmdir_if(struct pw_dp *dp, const char *path)
{
	if (rmdir(path) && errno != ENOENT) {
		int err = -errno;

		pw_warn(dp, "cannot remove %s: %s", path, strerror(-err));
		return err;
	}
	return 0;
}

/* bpffs_dir is a mount point of its own when its device differs from its parent's. */
static bool is_own_mount(const char *dir)
{
	char parent[PATH_MAX];
	struct stat a, b;

	if (strcmp(dir, PW_SYS_BPFFS) == 0)
		return false;
	if (snprintf(parent, sizeof(parent), "%s/..", dir) >= (int)sizeof(parent))
		return false;
	return stat(dir, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev && is_bpffs(dir);
}

int pw_dp_destroy(struct pw_dp *dp)
{
	char path[PATH_MAX];
	int m, err, ret = 0;

	if (!dp)
		return 0;
	pw_events_close(dp);
	ret = pw_attach_detach_all(dp);
	if (dp->bpffs_dir) {
		for (m = 0; m < PW_DPMAP_COUNT; m++) {
			struct bpf_map *map = pw_dp_map(dp, m);

			if (map && bpf_map__pin_path(map)) {
				err = bpf_map__unpin(map, NULL);
				if (err && err != -ENOENT && !ret)
					ret = err;
			}
		}
		if (!pw_dp_path(dp, path, sizeof(path), "maps"))
			err = rmdir_if(dp, path);
		if (!pw_dp_path(dp, path, sizeof(path), "links"))
			err = rmdir_if(dp, path);
		if (is_own_mount(dp->bpffs_dir)) {
			if (umount2(dp->bpffs_dir, MNT_DETACH)) {
				err = -errno;
				pw_warn(dp, "cannot unmount %s: %s", dp->bpffs_dir, strerror(-err));
			}
		}
		/* a bpffs_dir of /sys/fs/bpf itself: the mount point stays */
		err = strcmp(dp->bpffs_dir, PW_SYS_BPFFS) ? rmdir_if(dp, dp->bpffs_dir) : 0;
		if (err && !ret)
			ret = err;
	}
	pw_dp_close(dp);
	return ret;
}

/* --- cgroup root ------------------------------------------------------------------------- */

/*
 * Depth of cgroup_root below the root of the cgroup2 mount holding it (the mount root is 0).
 * Refuses the mount root itself: attaching there would police every process on the machine.
 */
static int cgroup_level_for(struct pw_dp *dp, __u32 *level)
{
	char real[PATH_MAX], best[PATH_MAX] = "";
	char line[4096], dev[512], mnt[PATH_MAX], type[64];
	size_t blen = 0, n;
	struct statfs st;
	__u32 lv = 0;
	FILE *f;
	char *p;
	int err = 0;

	if (!realpath(dp->cgroup_root, real)) {
		err = -errno;
		pw_err(dp, "cgroup root %s: %s", dp->cgroup_root, strerror(-err));
		return err;
	}
	if (statfs(real, &st) || st.f_type != CGROUP2_SUPER_MAGIC) {
		pw_err(dp, "cgroup root %s is not a cgroup v2 directory", dp->cgroup_root);
		return -EINVAL;
	}
	f = fopen("/proc/self/mounts", "re");
	if (!f) {
		err = -errno;
		pw_err(dp, "cannot read /proc/self/mounts: %s", strerror(-err));
		return err;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%511s %4095s %63s", dev, mnt, type) != 3)
			continue;
		if (strcmp(type, "cgroup2"))
			continue;
		n = strlen(mnt);
		if (strcmp(real, mnt) == 0) {
			pw_err(dp,
			       "cgroup root %s is the root of the cgroup2 mount %s: refusing to "
			       "police every process on the machine; use a directory below it",
			       dp->cgroup_root, mnt);
			err = -EINVAL;
			break;
		}
		if (n > blen && strncmp(real, mnt, n) == 0 && (real[n] == '/' || n == 1)) {
			snprintf(best, sizeof(best), "%s", mnt);
			blen = n;
		}
	}
	fclose(f);
	if (err)
		return err;
	if (!blen) {
		pw_err(dp, "cgroup root %s is on no cgroup2 mount listed in /proc/self/mounts",
		       dp->cgroup_root);
		return -EINVAL;
	}
	for (p = real + (blen == 1 ? 0 : blen); *p; p++) {
		if (*p == '/' && p[1] && p[1] != '/')
			lv++;
	}
	free(dp->cgroup_root);
	dp->cgroup_root = strdup(real);
	if (!dp->cgroup_root)
		return -ENOMEM;
	*level = lv;
	pw_debug(dp, "cgroup root %s is at level %u below %s", real, lv, best);
	return 0;
}
