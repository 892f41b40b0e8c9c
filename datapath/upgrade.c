// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Carrying state across a map layout change. Most renamed maps start empty without harm
 * (counters), but the endpoint maps are enforcement: if the new programs went live behind
 * the links with empty pw_ep_*_v2 maps, every pod would be "no endpoint" (unenforced) until
 * the daemon reconciled. So before the programs are swapped, every endpoint of the v1 maps
 * is copied into v2, with its MAC and bridge learned from the kernel (v1 had neither).
 *
 * Conntrack too: its v2 keys one flow once for both directions (struct pw_ct_key). A pod's
 * flows lost on an upgrade would be picked up mid-stream, and a flow whose reverse direction
 * no policy allows in its own right (a client's, isolated for ingress) would lose its replies;
 * parked flows would lose their records. So every v1 flow is carried into v2 under its new key.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "upgrade.h"

/* v1 of struct pw_endpoint is the first PW_EP_V1_SIZE bytes of v2, field for field */
#define PW_EP_V1_SIZE 112
_Static_assert(offsetof(struct pw_endpoint, mac) == PW_EP_V1_SIZE,
	       "pw_endpoint v2 extends v1 at its end");

/* Copy one v1 endpoint map into its v2 successor; keys v2 already holds are left alone. */
static int migrate_map(struct pw_dp *dp, const char *old_name, enum pw_dp_map m, size_t *copied)
{
	char path[PATH_MAX];
	uint64_t key = 0, next = 0; /* keys of 4 (ifindex) or 8 bytes (cgroup id); high half 0 */
	void *prev = NULL;
	int old, fd = pw_dp_map_fd(dp, m), err = 0;

	if (fd < 0)
		return fd;
	if (pw_dp_path(dp, path, sizeof(path), "maps/%s", old_name))
		return -ENAMETOOLONG;
	old = bpf_obj_get(path);
	if (old < 0)
		return errno == ENOENT ? 0 : -errno;
	while (!bpf_map_get_next_key(old, prev, &next)) {
		uint8_t raw[PW_EP_V1_SIZE];
		struct pw_endpoint v;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(old, &key, raw))
			continue; /* deleted meanwhile */
		memset(&v, 0, sizeof(v));
		memcpy(&v, raw, sizeof(raw));
		if (v.ifindex)
			pw_dp_endpoint_learn(dp, &v);
		if (bpf_map_update_elem(fd, &key, &v, BPF_NOEXIST) && errno != EEXIST) {
			err = -errno;
			pw_err(dp, "upgrade: cannot copy an endpoint of %s into %s: %s", old_name,
			       pw_dp_map_name(m), strerror(-err));
			break;
		}
		(*copied)++;
		next = 0;
	}
	close(old);
	return err;
}

int pw_upgrade_endpoints(struct pw_dp *dp)
{
	size_t n_if = 0, n_cg = 0;
	int err;

	if (!dp->bpffs_dir)
		return 0;
	err = migrate_map(dp, "pw_ep_if_v1", PW_DPMAP_EP_IF, &n_if);
	if (!err)
		err = migrate_map(dp, "pw_ep_cg_v1", PW_DPMAP_EP_CG, &n_cg);
	if (!err && (n_if || n_cg))
		pw_info(dp,
			"upgrade: %zu endpoints by interface and %zu by cgroup carried into %s "
			"and %s, MACs learned",
			n_if, n_cg, pw_dp_map_name(PW_DPMAP_EP_IF), pw_dp_map_name(PW_DPMAP_EP_CG));
	return err;
}

/* Every flow of pw_ct_v1 (keyed in the flow's own orientation) into v2 under its new key. */
int pw_upgrade_conntrack(struct pw_dp *dp)
{
	struct pw_ct_key cur, next, key;
	struct pw_ct_entry v;
	char path[PATH_MAX];
	size_t copied = 0;
	void *prev = NULL;
	int old, fd = pw_dp_map_fd(dp, PW_DPMAP_CT), err = 0;

	if (!dp->bpffs_dir)
		return 0;
	if (fd < 0)
		return fd;
	if (pw_dp_path(dp, path, sizeof(path), "maps/pw_ct_v1"))
		return -ENAMETOOLONG;
	old = bpf_obj_get(path);
	if (old < 0)
		return errno == ENOENT ? 0 : -errno;
	while (!bpf_map_get_next_key(old, prev, &next)) {
		cur = next;
		prev = &cur;
		if (bpf_map_lookup_elem(old, &cur, &v))
			continue; /* ended meanwhile */
		key = cur;
		if (pw_ct_key_is_rev(&key)) {
			pw_ct_key_flip(&key);
			v.flags |= PW_CT_F_SWAPPED;
		}
		if (bpf_map_update_elem(fd, &key, &v, BPF_NOEXIST) && errno != EEXIST) {
			err = -errno;
			pw_err(dp, "upgrade: cannot carry a flow of pw_ct_v1 into %s: %s",
			       pw_dp_map_name(PW_DPMAP_CT), strerror(-err));
			break;
		}
		copied++;
	}
	close(old);
	if (!err && copied)
		pw_info(dp, "upgrade: %zu flows carried from pw_ct_v1 into %s", copied,
			pw_dp_map_name(PW_DPMAP_CT));
	return err;
}
