// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Attaching programs: socket programs at the cgroup root, TC programs per host-side veth.
 *
 * Everything attached is a bpf link where the kernel allows it, pinned under
 * <bpffs>/links/ so enforcement outlives the daemon. A restarted daemon does not detach and
 * re-attach (a window without policy): it opens each pinned link and swaps the program
 * behind it (bpf_link_update), which the kernel does atomically.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "tc.skel.h"
#include "sock.skel.h"
#include "attach.h"

static const char *const sock_names[PW_SOCK_COUNT] = {
	[PW_SOCK_CONNECT4] = "pw_connect4",	    [PW_SOCK_CONNECT6] = "pw_connect6",
	[PW_SOCK_SENDMSG4] = "pw_sendmsg4",	    [PW_SOCK_SENDMSG6] = "pw_sendmsg6",
	[PW_SOCK_RECVMSG4] = "pw_recvmsg4",	    [PW_SOCK_RECVMSG6] = "pw_recvmsg6",
	[PW_SOCK_GETPEERNAME4] = "pw_getpeername4", [PW_SOCK_GETPEERNAME6] = "pw_getpeername6",
};

static const char *const dir_names[PW_DIR_MAX] = {"ingress", "egress"};

static struct bpf_program *sock_prog(struct pw_dp *dp, int i)
{
	switch (i) {
	case PW_SOCK_CONNECT4:
		return dp->sock->progs.pw_connect4;
	case PW_SOCK_CONNECT6:
		return dp->sock->progs.pw_connect6;
	case PW_SOCK_SENDMSG4:
		return dp->sock->progs.pw_sendmsg4;
	case PW_SOCK_RECVMSG4:
		return dp->sock->progs.pw_recvmsg4;
	case PW_SOCK_RECVMSG6:
		return dp->sock->progs.pw_recvmsg6;
	case PW_SOCK_GETPEERNAME4:
		return dp->sock->progs.pw_getpeername4;
	case PW_SOCK_GETPEERNAME6:
		return dp->sock->progs.pw_getpeername6;
	default:
		return dp->sock->progs.pw_sendmsg6;
	}
}

/* d is the TC hook: ingress of the host-side veth runs pw_tc_ingress (the pod's egress) */
static int tc_prog_fd(struct pw_dp *dp, int d)
{
	return bpf_program__fd(d == PW_DIR_INGRESS ? dp->tc->progs.pw_tc_ingress
						   : dp->tc->progs.pw_tc_egress);
}

/* --- socket programs --------------------------------------------------------------------- */

static __u64 cgroup_id_of(const char *path)
{
	struct stat st;

	/* cgroup2 inode numbers are the kernel's cgroup ids on 64-bit kernels */
	return stat(path, &st) == 0 ? (__u64)st.st_ino : 0;
}

/*
 * Take over a pinned socket link: swap in the new program. A link left on another cgroup
 * (the daemon restarted with a different --cgroup-root) or defunct (its cgroup was removed)
 * is detached and unpinned instead, so a fresh one is created where it belongs.
 */
static int adopt_sock_link(struct pw_dp *dp, int i, const char *path, __u64 cg_id)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	struct bpf_link *link;
	int err;

	link = bpf_link__open(path);
	if (!link) {
		err = -errno;
		pw_err(dp, "cannot open pinned link %s: %s", path, strerror(-err));
		return err;
	}
	err = bpf_obj_get_info_by_fd(bpf_link__fd(link), &info, &len) ? -errno : 0;
	if (!err && cg_id && info.cgroup.cgroup_id != cg_id) {
		pw_info(dp, "pinned link %s is on another cgroup (id %llu): moving it to %s", path,
			(unsigned long long)info.cgroup.cgroup_id, dp->cgroup_root);
		err = -ESTALE;
	}
	if (!err)
		err = bpf_link__update_program(link, sock_prog(dp, i));
	if (err) {
		if (err != -ESTALE)
			pw_info(dp, "pinned link %s cannot be updated (%s): replacing it", path,
				strerror(-err));
		bpf_link__detach(link);
		bpf_link__unpin(link);
		bpf_link__destroy(link);
		if (unlink(path) && errno != ENOENT)
			return -errno;
		return 0;
	}
	dp->sock_links[i] = link;
	pw_debug(dp, "updated pinned link %s", path);
	return 0;
}

int pw_attach_sock(struct pw_dp *dp)
{
	char path[PATH_MAX];
	__u64 cg_id = 0;
	int i, cg_fd = -1, err = 0;

	if (dp->cgroup_root) {
		cg_id = cgroup_id_of(dp->cgroup_root);
		cg_fd = open(dp->cgroup_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (cg_fd < 0) {
			err = -errno;
			pw_err(dp, "cannot open cgroup root %s: %s", dp->cgroup_root,
			       strerror(-err));
			return err;
		}
	}
	for (i = 0; i < PW_SOCK_COUNT; i++) {
		struct bpf_link *link;

		if (dp->bpffs_dir) {
			err = pw_dp_path(dp, path, sizeof(path), "links/%s", sock_names[i]);
			if (!err && access(path, F_OK) == 0)
				err = adopt_sock_link(dp, i, path, cg_id);
			if (err)
				goto out;
		}
		if (dp->sock_links[i] || cg_fd < 0)
			continue;
		link = bpf_program__attach_cgroup(sock_prog(dp, i), cg_fd);
		if (!link) {
			err = -errno;
			pw_err(dp, "cannot attach %s to cgroup %s: %s", sock_names[i],
			       dp->cgroup_root, strerror(-err));
			goto out;
		}
		dp->sock_links[i] = link;
		if (dp->bpffs_dir) {
			err = bpf_link__pin(link, path);
			if (err) {
				pw_err(dp, "cannot pin link %s: %s", path, strerror(-err));
				goto out;
			}
		}
	}
	if (cg_fd >= 0)
		pw_info(dp, "socket programs attached at %s", dp->cgroup_root);
out:
	if (cg_fd >= 0)
		close(cg_fd);
	return err;
}

/* --- TC ---------------------------------------------------------------------------------- */

/*
 * tcx needs a raw BPF_LINK_CREATE (libbpf 1.1 has no helper). Probing with ifindex 0 touches
 * nothing: a kernel with tcx looks the device up and answers ENODEV, an older one rejects
 * the attach type with EINVAL.
 */
int pw_attach_probe_tcx(struct pw_dp *dp)
{
	int fd = bpf_link_create(tc_prog_fd(dp, PW_DIR_INGRESS), 0, PW_BPF_TCX_INGRESS, NULL);

	if (fd >= 0) {
		close(fd);
		dp->tc_mode = PW_TC_TCX;
		return 0;
	}
	dp->tc_mode = errno == ENODEV ? PW_TC_TCX : PW_TC_CLSACT;
	pw_debug(dp, "TC attach mode: %s", pw_dp_tc_mode_name(dp));
	return 0;
}

static struct pw_tc_att *tc_att_find(struct pw_dp *dp, uint32_t ifindex)
{
	size_t i;

	for (i = 0; i < dp->n_tc_att; i++) {
		if (dp->tc_att[i].ifindex == ifindex)
			return &dp->tc_att[i];
	}
	return NULL;
}

static struct pw_tc_att *tc_att_get(struct pw_dp *dp, uint32_t ifindex)
{
	struct pw_tc_att *a = tc_att_find(dp, ifindex), *n;

	if (a)
		return a;
	if (dp->n_tc_att == dp->cap_tc_att) {
		size_t cap = dp->cap_tc_att ? 2 * dp->cap_tc_att : 8;

		n = realloc(dp->tc_att, cap * sizeof(*n));
		if (!n)
			return NULL;
		dp->tc_att = n;
		dp->cap_tc_att = cap;
	}
	a = &dp->tc_att[dp->n_tc_att++];
	a->ifindex = ifindex;
	a->link_fd[0] = a->link_fd[1] = -1;
	return a;
}

static void tc_att_forget(struct pw_dp *dp, uint32_t ifindex)
{
	struct pw_tc_att *a = tc_att_find(dp, ifindex);

	if (!a)
		return;
	*a = dp->tc_att[--dp->n_tc_att];
}

static int tc_link_path(struct pw_dp *dp, char *buf, size_t len, uint32_t ifindex, int d)
{
	return pw_dp_path(dp, buf, len, "links/tc_%u_%s", ifindex, dir_names[d]);
}

/* Attach or update one tcx link. */
static int tcx_attach_one(struct pw_dp *dp, struct pw_tc_att *a, int d, const char *ifname)
{
	char path[PATH_MAX];
	int fd = -1, err;
	bool pinned = dp->bpffs_dir != NULL;

	if (pinned) {
		err = tc_link_path(dp, path, sizeof(path), a->ifindex, d);
		if (err)
			return err;
		fd = bpf_obj_get(path);
		if (fd < 0 && errno != ENOENT) {
			err = -errno;
			pw_err(dp, "cannot open pinned link %s: %s", path, strerror(-err));
			return err;
		}
	} else {
		fd = a->link_fd[d];
	}
	if (fd >= 0) {
		if (bpf_link_update(fd, tc_prog_fd(dp, d), NULL) == 0) {
			if (pinned)
				close(fd);
			return 0;
		}
		/* ENOLINK: the interface went away and the link with it */
		err = -errno;
		pw_debug(dp, "tcx link on %s %s is stale (%s): replacing it", ifname, dir_names[d],
			 strerror(-err));
		bpf_link_detach(fd);
		close(fd);
		if (pinned)
			unlink(path);
		else
			a->link_fd[d] = -1;
	}
	fd = bpf_link_create(tc_prog_fd(dp, d), a->ifindex,
			     d == PW_DIR_INGRESS ? PW_BPF_TCX_INGRESS : PW_BPF_TCX_EGRESS, NULL);
	if (fd < 0) {
		err = -errno;
		pw_err(dp, "cannot attach tcx %s on interface %s (ifindex %u): %s", dir_names[d],
		       ifname, a->ifindex, strerror(-err));
		return err;
	}
	if (pinned) {
		err = bpf_obj_pin(fd, path) ? -errno : 0;
		if (err) {
			pw_err(dp, "cannot pin link %s: %s", path, strerror(-err));
			bpf_link_detach(fd);
		}
		close(fd);
		return err;
	}
	a->link_fd[d] = fd;
	return 0;
}

static int clsact_attach_one(struct pw_dp *dp, uint32_t ifindex, int d, const char *ifname)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = d == PW_DIR_INGRESS ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, o, .prog_fd = tc_prog_fd(dp, d), .handle = PW_TC_HANDLE,
			    .priority = PW_TC_PRIORITY, .flags = BPF_TC_F_REPLACE);
	int err;

	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST) {
		pw_err(dp, "cannot create clsact qdisc on %s (ifindex %u): %s", ifname, ifindex,
		       strerror(-err));
		return err;
	}
	err = bpf_tc_attach(&hook, &o);
	if (err)
		pw_err(dp, "cannot attach tc %s filter on %s (ifindex %u): %s", dir_names[d],
		       ifname, ifindex, strerror(-err));
	return err;
}

static int clsact_detach_one(struct pw_dp *dp, uint32_t ifindex, int d)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = d == PW_DIR_INGRESS ? BPF_TC_INGRESS : BPF_TC_EGRESS);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, o, .handle = PW_TC_HANDLE, .priority = PW_TC_PRIORITY);
	int err = bpf_tc_detach(&hook, &o);

	/* gone already: no filter, no qdisc, or no interface */
	if (err == -ENOENT || err == -ENODEV || err == -EINVAL)
		return 0;
	return err;
}

int pw_dp_attach_tc(struct pw_dp *dp, uint32_t ifindex)
{
	char ifname[64];
	struct pw_tc_att *a;
	int d, err;

	if (!dp || !ifindex)
		return -EINVAL;
	err = pw_nl_link_name(ifindex, ifname, sizeof(ifname));
	if (err) {
		if (err == -ENODEV)
			pw_err(dp, "no interface with ifindex %u in this network namespace",
			       ifindex);
		else
			pw_err(dp, "cannot look up interface %u: %s", ifindex, strerror(-err));
		return err;
	}
	a = tc_att_get(dp, ifindex);
	if (!a)
		return -ENOMEM;
	for (d = 0; d < PW_DIR_MAX; d++) {
		if (dp->tc_mode == PW_TC_TCX)
			err = tcx_attach_one(dp, a, d, ifname);
		else
			err = clsact_attach_one(dp, ifindex, d, ifname);
		if (err)
			return err;
	}
	pw_debug(dp, "TC programs attached on %s (ifindex %u, %s)", ifname, ifindex,
		 pw_dp_tc_mode_name(dp));
	return 0;
}

static int tcx_detach_one(struct pw_dp *dp, struct pw_tc_att *a, uint32_t ifindex, int d)
{
	char path[PATH_MAX];
	int fd, err = 0;

	if (a && a->link_fd[d] >= 0) {
		bpf_link_detach(a->link_fd[d]);
		close(a->link_fd[d]);
		a->link_fd[d] = -1;
	}
	if (!dp->bpffs_dir || tc_link_path(dp, path, sizeof(path), ifindex, d))
		return 0;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	/* ENOLINK: detached already with its interface */
	if (bpf_link_detach(fd) && errno != ENOLINK)
		err = -errno;
	close(fd);
	if (unlink(path) && errno != ENOENT && !err)
		err = -errno;
	return err;
}

int pw_dp_detach_tc(struct pw_dp *dp, uint32_t ifindex)
{
	struct pw_tc_att *a;
	int d, err, ret = 0;

	if (!dp || !ifindex)
		return -EINVAL;
	a = tc_att_find(dp, ifindex);
	for (d = 0; d < PW_DIR_MAX; d++) {
		err = tcx_detach_one(dp, a, ifindex, d);
		if (!err && dp->tc_mode == PW_TC_CLSACT)
			err = clsact_detach_one(dp, ifindex, d);
		if (err) {
			pw_err(dp, "cannot detach TC %s program from ifindex %u: %s", dir_names[d],
			       ifindex, strerror(-err));
			if (!ret)
				ret = err;
		}
	}
	tc_att_forget(dp, ifindex);
	return ret;
}

/* Calls fn for every pinned tc_<ifindex>_<dir> link. */
static int for_each_tc_pin(struct pw_dp *dp, int (*fn)(struct pw_dp *, uint32_t, int))
{
	char path[PATH_MAX], dname[16];
	struct dirent *de;
	unsigned int ifindex;
	int d, err = 0, ret = 0;
	DIR *dir;

	if (!dp->bpffs_dir || pw_dp_path(dp, path, sizeof(path), "links"))
		return 0;
	dir = opendir(path);
	if (!dir)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(dir))) {
		if (sscanf(de->d_name, "tc_%u_%15s", &ifindex, dname) != 2)
			continue;
		for (d = 0; d < PW_DIR_MAX; d++) {
			if (strcmp(dname, dir_names[d]) == 0)
				break;
		}
		if (d == PW_DIR_MAX)
			continue;
		err = fn(dp, ifindex, d);
		if (err && !ret)
			ret = err;
	}
	closedir(dir);
	return ret;
}

static int refresh_tc_pin(struct pw_dp *dp, uint32_t ifindex, int d)
{
	char path[PATH_MAX];
	int fd, err = 0;

	if (tc_link_path(dp, path, sizeof(path), ifindex, d))
		return 0;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	if (bpf_link_update(fd, tc_prog_fd(dp, d), NULL)) {
		err = -errno;
		if (err == -ENOLINK) {
			/* its interface is gone: the pin is all that is left */
			pw_info(dp, "removing stale link %s (interface gone)", path);
			unlink(path);
			err = 0;
		} else {
			pw_err(dp, "cannot update pinned link %s: %s", path, strerror(-err));
		}
	} else {
		pw_debug(dp, "updated pinned link %s", path);
	}
	close(fd);
	return err;
}

/*
 * After a load: swap the new programs into every pinned tcx link; in clsact mode re-attach
 * (replace) the filters of every endpoint interface known to the maps.
 */
int pw_attach_refresh_tc(struct pw_dp *dp)
{
	int fd = pw_dp_map_fd(dp, PW_DPMAP_EP_IF);
	__u32 key, next, *prev = NULL;
	char ifname[64];
	int d, err;

	err = for_each_tc_pin(dp, refresh_tc_pin);
	if (err || dp->tc_mode != PW_TC_CLSACT)
		return err;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (pw_nl_link_name(key, ifname, sizeof(ifname))) {
			pw_warn(dp, "endpoint interface %u is gone: not re-attaching", key);
			continue;
		}
		for (d = 0; d < PW_DIR_MAX; d++) {
			err = clsact_attach_one(dp, key, d, ifname);
			if (err)
				return err;
		}
		if (!tc_att_get(dp, key))
			return -ENOMEM;
	}
	return 0;
}

static int detach_tc_pin(struct pw_dp *dp, uint32_t ifindex, int d)
{
	return tcx_detach_one(dp, NULL, ifindex, d);
}

int pw_attach_detach_all(struct pw_dp *dp)
{
	int fd = pw_dp_map_fd(dp, PW_DPMAP_EP_IF);
	char path[PATH_MAX];
	__u32 key, next, *prev = NULL;
	int i, err, ret = 0;

	for (i = 0; i < PW_SOCK_COUNT; i++) {
		if (dp->sock_links[i]) {
			bpf_link__detach(dp->sock_links[i]);
			bpf_link__unpin(dp->sock_links[i]);
			bpf_link__destroy(dp->sock_links[i]);
			dp->sock_links[i] = NULL;
		}
		/* a pin this process did not adopt (no cgroup root given this time) */
		if (dp->bpffs_dir &&
		    !pw_dp_path(dp, path, sizeof(path), "links/%s", sock_names[i])) {
			int lfd = bpf_obj_get(path);

			if (lfd >= 0) {
				bpf_link_detach(lfd);
				close(lfd);
				unlink(path);
			}
		}
	}
	while (dp->n_tc_att) {
		err = pw_dp_detach_tc(dp, dp->tc_att[0].ifindex);
		if (err && !ret)
			ret = err;
	}
	err = for_each_tc_pin(dp, detach_tc_pin);
	if (err && !ret)
		ret = err;
	if (fd >= 0 && dp->tc_mode == PW_TC_CLSACT) {
		while (bpf_map_get_next_key(fd, prev, &next) == 0) {
			key = next;
			prev = &key;
			for (i = 0; i < PW_DIR_MAX; i++) {
				err = clsact_detach_one(dp, key, i);
				if (err && !ret)
					ret = err;
			}
		}
	}
	return ret;
}

/* Drop this process's handles; pinned links (and so enforcement) stay. */
void pw_attach_release(struct pw_dp *dp)
{
	size_t i;
	int d;

	for (i = 0; i < PW_SOCK_COUNT; i++) {
		bpf_link__destroy(dp->sock_links[i]);
		dp->sock_links[i] = NULL;
	}
	for (i = 0; i < dp->n_tc_att; i++) {
		for (d = 0; d < PW_DIR_MAX; d++) {
			if (dp->tc_att[i].link_fd[d] >= 0)
				close(dp->tc_att[i].link_fd[d]);
		}
	}
	dp->n_tc_att = 0;
}
