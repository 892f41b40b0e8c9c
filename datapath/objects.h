/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The object table (objects.c): names, handles, pin paths and counters of the loaded BPF
 * objects, for every part of the library above it. It calls nothing above itself.
 *
 * Its public half is in include/podwall/datapath.h: pw_dp_map_fd, pw_dp_prog_fd,
 * pw_dp_metrics_read, pw_dp_metric_read, pw_dp_map_usage, pw_dp_tc_mode_name.
 */
#ifndef PW_DATAPATH_OBJECTS_H
#define PW_DATAPATH_OBJECTS_H

#include "internal.h"

struct bpf_map *pw_dp_map(const struct pw_dp *dp, enum pw_dp_map m);
const char *pw_dp_map_name(enum pw_dp_map m);
/* <bpffs_dir>/<fmt...> into buf; -ENOENT when nothing is pinned */
int pw_dp_path(const struct pw_dp *dp, char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* -ENOSPC / -E2BIG from a writer: name the map and its capacity */
int pw_dp_write_err(const struct pw_dp *dp, enum pw_dp_map m, int err, const char *op,
		    const char *entry);

#endif /* PW_DATAPATH_OBJECTS_H */
