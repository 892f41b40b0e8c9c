// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Several manifest buffers parsed at once, one per core: a cluster applied in one request is
 * one file per namespace, and parsing was the largest part of applying it (about 0.9 s for
 * 10,000 pods, in the CLI's check and again in the daemon). pw_parse_buffer() shares nothing
 * between calls (each has its own libfyaml parser and diagnostics), so the buffers are spread
 * over threads that end before this returns; the results stay in the jobs' order.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parse.h"

/* below this much input, starting threads costs more than it saves */
#define PAR_MIN_BYTES	(256u << 10)
#define PAR_MAX_THREADS 4

struct jobs_run {
	struct pw_parse_job *jobs;
	size_t n;
	atomic_size_t next;
};

static void job_run(struct pw_parse_job *j)
{
	j->err = pw_parse_buffer(j->name, j->buf, j->len, NULL, &j->m, &j->diags);
}

static void *worker(void *arg)
{
	struct jobs_run *r = arg;
	size_t i;

	while ((i = atomic_fetch_add(&r->next, 1)) < r->n)
		job_run(&r->jobs[i]);
	return NULL;
}

void pw_parse_jobs(struct pw_parse_job *jobs, size_t n)
{
	struct jobs_run r = {.jobs = jobs, .n = n};
	pthread_t thr[PAR_MAX_THREADS - 1];
	size_t bytes = 0, started = 0, want = 1;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	for (size_t i = 0; i < n; i++)
		bytes += jobs[i].len;
	if (n > 1 && bytes >= PAR_MIN_BYTES && cpus > 1)
		want = cpus < PAR_MAX_THREADS ? (size_t)cpus : PAR_MAX_THREADS;
	if (want > n)
		want = n;
	atomic_init(&r.next, 0);
	/* a thread that cannot start leaves its share to the others */
	for (; started + 1 < want; started++) {
		if (pthread_create(&thr[started], NULL, worker, &r))
			break;
	}
	worker(&r);
	for (size_t t = 0; t < started; t++)
		pthread_join(thr[t], NULL);
}

void pw_diags_move(struct pw_diags *dst, struct pw_diags *src)
{
	struct pw_diag *v;

	if (!src->n) {
		pw_diags_clear(src);
		return;
	}
	v = realloc(dst->v, (dst->n + src->n) * sizeof(*v));
	if (!v) {
		pw_diags_clear(src); /* what was said is lost, never half-kept */
		return;
	}
	memcpy(v + dst->n, src->v, src->n * sizeof(*v));
	dst->v = v;
	dst->n += src->n;
	dst->n_errors += src->n_errors;
	free(src->v);
	memset(src, 0, sizeof(*src));
}
