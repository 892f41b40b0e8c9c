// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Service map writers (layouts in include/podwall/service.h). A frontend's backend list is
 * written so the socket programs never see a slot past the count that does not exist: slots
 * first, then the count, then the slots past the new count go. Conntrack entries of a removed
 * backend are deleted here too, so its flows end with a record.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "objects.h"
#include "internal.h"
#include "svcend.skel.h"

static void front_str(const struct pw_svc_key *k, char *buf, size_t len)
{
	snprintf(buf, len, "service frontend (family %u, proto %u, port %u, slot %u)", k->family,
		 k->proto, (unsigned int)__builtin_bswap16(k->port), k->slot);
}

int pw_dp_backend_update(struct pw_dp *dp, uint32_t id, const struct pw_backend *b)
{
	int fd = pw_dp_map_fd(dp, PW_DPMAP_BACKEND);
	struct pw_backend v;
	char what[64];

	if (fd < 0 || !b || !id)
		return -EINVAL;
	v = *b;
	v.pad = 0;
	if (bpf_map_update_elem(fd, &id, &v, BPF_ANY)) {
		int err = -errno;

		snprintf(what, sizeof(what), "backend %u", id);
		return pw_dp_write_err(dp, PW_DPMAP_BACKEND, err, "add", what);
	}
	return 0;
}

int pw_dp_backend_delete(struct pw_dp *dp, uint32_t id)
{
	int fd = pw_dp_map_fd(dp, PW_DPMAP_BACKEND);
	char what[64];

	if (fd < 0)
		return -EINVAL;
	if (bpf_map_delete_elem(fd, &id) && errno != ENOENT) {
		int err = -errno;

		snprintf(what, sizeof(what), "backend %u", id);
		return pw_dp_write_err(dp, PW_DPMAP_BACKEND, err, "delete", what);
	}
	return 0;
}

static int svc_put(struct pw_dp *dp, int fd, const struct pw_svc_key *k, const struct pw_svc_val *v)
{
	char what[96];

	if (bpf_map_update_elem(fd, k, v, BPF_ANY)) {
		int err = -errno;

		front_str(k, what, sizeof(what));
		return pw_dp_write_err(dp, PW_DPMAP_SVC, err, "add", what);
	}
	return 0;
}

static int svc_del(struct pw_dp *dp, int fd, const struct pw_svc_key *k)
{
	char what[96];

	if (bpf_map_delete_elem(fd, k) && errno != ENOENT) {
		int err = -errno;

		front_str(k, what, sizeof(what));
		return pw_dp_write_err(dp, PW_DPMAP_SVC, err, "delete", what);
	}
	return 0;
}

int pw_dp_svc_write(struct pw_dp *dp, const struct pw_svc_key *front, uint32_t svc_id,
		    const uint32_t *backend_ids, size_t n, size_t old_n)
{
	int fd = pw_dp_map_fd(dp, PW_DPMAP_SVC);
	struct pw_svc_key k;
	struct pw_svc_val v;
	size_t i;
	int err;

	if (fd < 0 || !front || n > PW_SVC_MAX_BACKENDS || old_n > PW_SVC_MAX_BACKENDS ||
	    (n && !backend_ids))
		return -EINVAL;
	k = *front;
	k.pad = 0;
	for (i = 0; i < n; i++) {
		memset(&v, 0, sizeof(v));
		v.backend_id = backend_ids[i];
		k.slot = (uint16_t)(i + 1);
		err = svc_put(dp, fd, &k, &v);
		if (err)
			return err;
	}
	memset(&v, 0, sizeof(v));
	v.count = (uint16_t)n;
	v.svc_id = svc_id;
	k.slot = 0;
	err = svc_put(dp, fd, &k, &v);
	for (i = n; !err && i < old_n; i++) {
		k.slot = (uint16_t)(i + 1);
		err = svc_del(dp, fd, &k);
	}
	return err;
}

int pw_dp_svc_delete(struct pw_dp *dp, const struct pw_svc_key *front, size_t old_n)
{
	int fd = pw_dp_map_fd(dp, PW_DPMAP_SVC);
	struct pw_svc_key k;
	size_t i;
	int err;

	if (fd < 0 || !front)
		return -EINVAL;
	k = *front;
	k.pad = 0;
	k.slot = 0;
	/* the frontend first: from then on no call is translated, so no slot is read */
	err = svc_del(dp, fd, &k);
	for (i = 0; !err && i < old_n; i++) {
		k.slot = (uint16_t)(i + 1);
		err = svc_del(dp, fd, &k);
	}
	return err;
}

int pw_dp_svc_flow_lookup(struct pw_dp *dp, const struct pw_svc_flow_key *k,
			  struct pw_svc_rev_val *out)
{
	int fd = pw_dp_map_fd(dp, PW_DPMAP_SVC_FLOW);

	if (fd < 0 || !k || !out)
		return -EINVAL;
	return bpf_map_lookup_elem(fd, k, out) ? -errno : 0;
}

/* --- ending a removed backend's connections ---------------------------------------------- */

void pw_svc_end_close(struct pw_dp *dp)
{
	if (!dp)
		return;
	svcend__destroy(dp->svcend);
	dp->svcend = NULL;
}

static int svc_end_load(struct pw_dp *dp)
{
	int err;

	if (dp->svcend)
		return 0;
	dp->svcend = svcend__open_and_load();
	if (!dp->svcend) {
		err = -errno ? -errno : -ENOENT;
		pw_warn(dp,
			"cannot load the socket iterators that end a removed backend's "
			"connections (bpf_sock_destroy needs Linux 6.5): %s",
			strerror(-err));
		return err;
	}
	return 0;
}

/* Run one iterator to its end: it walks the sockets of the calling thread's netns. */
static int svc_end_walk(struct bpf_link *link)
{
	char buf[64];
	ssize_t r;
	int fd = bpf_iter_create(bpf_link__fd(link)), err = 0;

	if (fd < 0)
		return -errno;
	while ((r = read(fd, buf, sizeof(buf))) > 0)
		;
	if (r < 0)
		err = -errno;
	close(fd);
	return err;
}

int pw_dp_svc_end_conns(struct pw_dp *dp, const struct pw_svc_end_key *keys, size_t n,
			const int *netns_fds, size_t n_ns, uint64_t *ended)
{
	struct bpf_link *links[2] = {NULL, NULL};
	int self = -1, mfd, err, err2;
	uint8_t one = 1;
	size_t i;

	if (!dp || (n && !keys) || (n_ns && !netns_fds))
		return -EINVAL;
	if (ended)
		*ended = 0;
	if (!n || !n_ns)
		return 0;
	err = svc_end_load(dp);
	if (err)
		return err;
	mfd = bpf_map__fd(dp->svcend->maps.PW_MAP_SVC_END);
	dp->svcend->bss->pw_ended = 0;
	for (i = 0; i < n && !err; i++) {
		if (bpf_map_update_elem(mfd, &keys[i], &one, BPF_ANY))
			err = -errno;
	}
	if (!err) {
		links[0] = bpf_program__attach_iter(dp->svcend->progs.pw_svc_end_tcp, NULL);
		links[1] = bpf_program__attach_iter(dp->svcend->progs.pw_svc_end_udp, NULL);
		if (!links[0] || !links[1])
			err = -errno ? -errno : -EINVAL;
	}
	/* an iterator walks the sockets of the netns it is created in: enter each pod's */
	if (!err) {
		self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
		if (self < 0)
			err = -errno;
	}
	for (i = 0; i < n_ns && !err; i++) {
		if (setns(netns_fds[i], CLONE_NEWNET)) {
			err = -errno;
			break;
		}
		err = svc_end_walk(links[0]);
		err2 = svc_end_walk(links[1]);
		err = err ? err : err2;
		if (setns(self, CLONE_NEWNET)) {
			/* cannot happen with our own netns fd; say so rather than run elsewhere */
			err = -errno;
			pw_err(dp, "cannot return to the daemon's network namespace: %s",
			       strerror(-err));
			break;
		}
	}
	if (self >= 0)
		close(self);
	bpf_link__destroy(links[0]);
	bpf_link__destroy(links[1]);
	for (i = 0; i < n; i++)
		bpf_map_delete_elem(mfd, &keys[i]);
	if (ended)
		*ended = dp->svcend->bss->pw_ended;
	return err;
}
