// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Batched map writes. A reconcile of a whole cluster writes about 300,000 trie entries; one
 * syscall per entry spends a large part of the time entering and leaving the kernel
 * (bench/bench_mapwrite measures both ways on the same maps). The kernel's generic batch
 * stops at the first key that fails and says how many went through, so a failed batch
 * resumes one key at a time from there: the error (or, for a delete, an absent key) is that
 * key's own, then batches resume after it.
 */
#include <errno.h>

#include <bpf/bpf.h>

#include "batch.h"

/* keys per syscall: bounds the time the kernel spends in one call */
#define PW_BATCH_MAX 16384

static const void *at(const void *base, size_t i, size_t sz)
{
	return (const char *)base + i * sz;
}

static int batch_call(const struct pw_batch_map *m, const void *keys, const void *vals,
		      size_t n, size_t *done)
{
	LIBBPF_OPTS(bpf_map_batch_opts, o, .elem_flags = BPF_ANY);
	__u32 count = n > PW_BATCH_MAX ? PW_BATCH_MAX : (__u32)n;
	int err;

	if (vals)
		err = bpf_map_update_batch(m->fd, keys, vals, &count, &o);
	else
		err = bpf_map_delete_batch(m->fd, keys, &count, &o);
	/* count is what went through, also on failure */
	*done = count > n ? 0 : count;
	return err ? -errno : 0;
}

/*
 * The shared loop: batches while they work; after one fails, the key it stopped at goes on
 * its own. one() returns 0 (written), 1 (delete of an absent key) or -errno.
 */
static int batch_run(const struct pw_batch_map *m, const void *keys, const void *vals, size_t n,
		     size_t *written, size_t *failed)
{
	size_t pos = 0, done;
	int err;

	*written = 0;
	while (pos < n) {
		if (!*m->batch_off) {
			err = batch_call(m, at(keys, pos, m->key_size),
					 vals ? at(vals, pos, m->value_size) : NULL, n - pos, &done);
			pos += done;
			*written += done;
			if (!err) {
				continue;
			}
		} else {
			done = 1; /* no batch tried: not a batch failure */
		}
		if (pos == n)
			break;
		/* the key the batch stopped at (or every key, batches off) on its own */
		if (vals)
			err = bpf_map_update_elem(m->fd, at(keys, pos, m->key_size),
						  at(vals, pos, m->value_size), BPF_ANY);
		else
			err = bpf_map_delete_elem(m->fd, at(keys, pos, m->key_size));
		if (err && !(errno == ENOENT && !vals)) {
			*failed = pos;
			return -errno;
		}
		/* a batch that failed at once on a key that then went through: no batches here */
		if (!err && !done)
			*m->batch_off = true;
		if (!err)
			(*written)++;
		pos++;
	}
	return 0;
}

int pw_batch_update(const struct pw_batch_map *m, const void *keys, const void *vals, size_t n,
		    size_t *failed)
{
	size_t written;

	return batch_run(m, keys, vals, n, &written, failed);
}

int pw_batch_delete(const struct pw_batch_map *m, const void *keys, size_t n, size_t *deleted,
		    size_t *failed)
{
	return batch_run(m, keys, NULL, n, deleted, failed);
}
