// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The object table: what every part of the library looks things up in. Map names, map and
 * program handles, pin paths under the bpffs directory, the counter array, the TC mode's name.
 *
 * It reads the loaded objects and never changes them: loading, pinning, adopting and
 * destroying are dp.c's (the lifecycle), which sits above this file with attach.c and
 * events.c. Nothing here calls into them (scripts/check-layers.sh checks it).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "tc.skel.h"
#include "sock.skel.h"
#include "objects.h"

/* --- names, paths ------------------------------------------------------------------------ */

/* clang-format off */
static const char *const map_names[PW_DPMAP_COUNT] = {
	[PW_DPMAP_IPCACHE] = PW_STR(PW_MAP_IPCACHE),
	[PW_DPMAP_EP_IF] = PW_STR(PW_MAP_EP_IF),
	[PW_DPMAP_EP_CG] = PW_STR(PW_MAP_EP_CG),
	[PW_DPMAP_POLICY] = PW_STR(PW_MAP_POLICY),
	[PW_DPMAP_CT] = PW_STR(PW_MAP_CT),
	[PW_DPMAP_FRAG] = PW_STR(PW_MAP_FRAG),
	[PW_DPMAP_EVENTS] = PW_STR(PW_MAP_EVENTS),
	[PW_DPMAP_METRICS] = PW_STR(PW_MAP_METRICS),
	[PW_DPMAP_SVC] = PW_STR(PW_MAP_SVC),
	[PW_DPMAP_BACKEND] = PW_STR(PW_MAP_BACKEND),
	[PW_DPMAP_SVC_REV] = PW_STR(PW_MAP_SVC_REV),
	[PW_DPMAP_SVC_FLOW] = PW_STR(PW_MAP_SVC_FLOW),
	[PW_DPMAP_FOLD] = PW_STR(PW_MAP_FOLD),
	[PW_DPMAP_FOLDACK] = PW_STR(PW_MAP_FOLDACK),
};
/* clang-format on */

const char *pw_dp_map_name(enum pw_dp_map m)
{
	return (unsigned int)m < PW_DPMAP_COUNT ? map_names[m] : "?";
}

static struct bpf_map *skel_map(struct bpf_object *obj, enum pw_dp_map m)
{
	if ((unsigned int)m >= PW_DPMAP_COUNT || !obj)
		return NULL;
	return bpf_object__find_map_by_name(obj, map_names[m]);
}

struct bpf_map *pw_dp_map(const struct pw_dp *dp, enum pw_dp_map m)
{
	return dp && dp->tc ? skel_map(dp->tc->obj, m) : NULL;
}

int pw_dp_path(const struct pw_dp *dp, char *buf, size_t len, const char *fmt, ...)
{
	size_t n;
	va_list ap;
	int r;

	if (!dp->bpffs_dir)
		return -ENOENT;
	r = snprintf(buf, len, "%s/", dp->bpffs_dir);
	if (r < 0 || (size_t)r >= len)
		return -ENAMETOOLONG;
	n = r;
	va_start(ap, fmt);
	r = vsnprintf(buf + n, len - n, fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= len - n)
		return -ENAMETOOLONG;
	return 0;
}

int pw_dp_write_err(const struct pw_dp *dp, enum pw_dp_map m, int err, const char *op,
		    const char *entry)
{
	struct bpf_map *map = pw_dp_map(dp, m);
	unsigned int cap = map ? bpf_map__max_entries(map) : 0;

	if (err == -ENOSPC || err == -E2BIG)
		pw_err(dp,
		       "map %s is full (capacity %u entries): cannot %s %s; raise its capacity "
		       "(a new capacity needs the pinned map removed)",
		       pw_dp_map_name(m), cap, op, entry);
	else
		pw_err(dp, "map %s: cannot %s %s: %s", pw_dp_map_name(m), op, entry,
		       strerror(-err));
	return err;
}

const char *pw_dp_tc_mode_name(const struct pw_dp *dp)
{
	return dp && dp->tc_mode == PW_TC_TCX ? "tcx" : "clsact";
}

/* --- handles, metrics -------------------------------------------------------------------- */

int pw_dp_map_fd(struct pw_dp *dp, enum pw_dp_map m)
{
	struct bpf_map *map = pw_dp_map(dp, m);

	return map ? bpf_map__fd(map) : -EINVAL;
}

int pw_dp_prog_fd(struct pw_dp *dp, enum pw_dp_prog p)
{
	struct bpf_program *prog;

	if (!dp)
		return -EINVAL;
	switch (p) {
	case PW_PROG_TC_INGRESS:
		prog = dp->tc->progs.pw_tc_ingress;
		break;
	case PW_PROG_TC_EGRESS:
		prog = dp->tc->progs.pw_tc_egress;
		break;
	case PW_PROG_CONNECT4:
		prog = dp->sock->progs.pw_connect4;
		break;
	case PW_PROG_CONNECT6:
		prog = dp->sock->progs.pw_connect6;
		break;
	case PW_PROG_SENDMSG4:
		prog = dp->sock->progs.pw_sendmsg4;
		break;
	case PW_PROG_SENDMSG6:
		prog = dp->sock->progs.pw_sendmsg6;
		break;
	default:
		return -EINVAL;
	}
	return bpf_program__fd(prog);
}

/* Slot `slot` summed over the CPUs into out; vals has room for ncpu values. */
static int metric_sum(struct pw_dp *dp, int fd, __u32 slot, struct pw_metric *vals, int ncpu,
		      struct pw_metric *out)
{
	int c, err;

	if (bpf_map_lookup_elem(fd, &slot, vals)) {
		err = -errno;
		pw_err(dp, "cannot read metrics slot %u of map %s: %s", slot,
		       pw_dp_map_name(PW_DPMAP_METRICS), strerror(-err));
		return err;
	}
	out->packets = 0;
	out->bytes = 0;
	for (c = 0; c < ncpu; c++) {
		out->packets += vals[c].packets;
		out->bytes += vals[c].bytes;
	}
	return 0;
}

/* Slots [first, first + n) into out[0..n). */
static int metrics_read(struct pw_dp *dp, __u32 first, __u32 n, struct pw_metric *out)
{
	int fd = pw_dp_map_fd(dp, PW_DPMAP_METRICS);
	int ncpu = libbpf_num_possible_cpus();
	struct pw_metric *vals;
	__u32 i;
	int err = 0;

	if (fd < 0 || !out)
		return -EINVAL;
	if (ncpu < 0)
		return ncpu;
	vals = calloc(ncpu, sizeof(*vals));
	if (!vals)
		return -ENOMEM;
	for (i = 0; i < n && !err; i++)
		err = metric_sum(dp, fd, first + i, vals, ncpu, &out[i]);
	free(vals);
	return err;
}

int pw_dp_metrics_read(struct pw_dp *dp, struct pw_metric *out)
{
	return metrics_read(dp, 0, PW_METRICS_SLOTS, out);
}

int pw_dp_metric_read(struct pw_dp *dp, uint32_t slot, struct pw_metric *out)
{
	if (slot >= PW_METRICS_SLOTS)
		return -EINVAL;
	return metrics_read(dp, slot, 1, out);
}

int pw_dp_map_usage(struct pw_dp *dp, enum pw_dp_map m, struct pw_map_usage *out)
{
	struct bpf_map *map = pw_dp_map(dp, m);
	unsigned char key[64], next[64];
	void *prev = NULL;
	uint64_t n = 0, limit;
	int fd;

	if (!map || !out || bpf_map__key_size(map) > sizeof(key))
		return -EINVAL;
	fd = bpf_map__fd(map);
	out->name = pw_dp_map_name(m);
	out->max_entries = bpf_map__max_entries(map);
	/* bounded: a hash walk restarts when its cursor is deleted under it */
	limit = 2ull * out->max_entries + 16;
	while (n < limit && bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(key, next, bpf_map__key_size(map));
		prev = key;
		n++;
	}
	if (n >= limit)
		n = out->max_entries;
	out->entries = n;
	return 0;
}
