/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Batched map writes: many keys per syscall (BPF_MAP_UPDATE_BATCH / BPF_MAP_DELETE_BATCH),
 * one at a time where a batch fails, so the caller still learns which key failed and why.
 */
#ifndef PW_DATAPATH_BATCH_H
#define PW_DATAPATH_BATCH_H

#include <stdbool.h>
#include <stddef.h>

/*
 * What a writer needs to know about the map. batch_off: never try batches again (the map
 * type or the kernel has none, or the caller asked for per-element writes); it is set when a
 * batch fails at its first key and the same key then goes through on its own.
 */
struct pw_batch_map {
	int fd;
	size_t key_size, value_size;
	bool *batch_off;
};

/*
 * Write keys[0..n) with vals[0..n) (BPF_ANY). Returns 0, or -errno of the first key that
 * failed on its own, with *failed set to its index (keys before it are written).
 */
int pw_batch_update(const struct pw_batch_map *m, const void *keys, const void *vals, size_t n,
		    size_t *failed);
/*
 * Delete keys[0..n); an absent key is skipped. *deleted: how many were there. Returns 0, or
 * -errno (not ENOENT) of the first key that failed, with *failed set to its index.
 */
int pw_batch_delete(const struct pw_batch_map *m, const void *keys, size_t n, size_t *deleted,
		    size_t *failed);

#endif /* PW_DATAPATH_BATCH_H */
