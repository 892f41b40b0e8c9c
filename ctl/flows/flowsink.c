// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Where a finished record goes: the file sink (batched writes, size rotation with retention,
 * fsync policy), the in-memory ring `podwall flows` reads, and live subscribers
 * (`podwall flows --follow`).
 *
 * Batching: with opts.write_buffer the records collect in one buffer that is written with a
 * single write() when the next record would not fit, when a record has waited
 * opts.write_delay_ms, on pw_flowlog_flush_writes() (the daemon calls it after each drain of
 * the event rings), before a rotation, on sync, reopen and free. A record is never split
 * across writes of different files: rotation happens between records, as before.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "flowlog_int.h"

static int write_all(int fd, const struct iovec *iov_in, int cnt)
{
	struct iovec iov[2];
	int i = 0;

	memcpy(iov, iov_in, sizeof(*iov) * cnt);
	while (i < cnt) {
		ssize_t n = writev(fd, iov + i, cnt - i);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (i < cnt && (size_t)n >= iov[i].iov_len) {
			n -= (ssize_t)iov[i].iov_len;
			i++;
		}
		if (i < cnt) {
			iov[i].iov_base = (char *)iov[i].iov_base + n;
			iov[i].iov_len -= (size_t)n;
		}
	}
	return 0;
}

int pw_fl_file_open(struct pw_flowlog *fl)
{
	struct stat st;
	int fd, err;

	fd = open(fl->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st)) {
		err = -errno;
		close(fd);
		return err;
	}
	fl->fd = fd;
	fl->st.file_bytes = (uint64_t)st.st_size;
	return 0;
}

static int sync_dir(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd, err = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd))
		err = -errno;
	close(fd);
	return err;
}

/*
 * path -> path.1 -> ... -> path.keep; what was path.keep is replaced by the rename, so the
 * oldest file goes first. A record is never split: rotation happens between records.
 */
static int file_rotate(struct pw_flowlog *fl)
{
	char from[PATH_MAX], to[PATH_MAX];
	int err = 0;

	if (fl->fsync != PW_FLOWLOG_FSYNC_NONE && fsync(fl->fd))
		pw_fl_logf(fl, PW_LOG_WARN, "flow log %s: fsync before rotation: %s", fl->path,
			   strerror(errno));
	close(fl->fd);
	fl->fd = -1;
	if (!fl->keep) {
		if (unlink(fl->path) && errno != ENOENT)
			err = -errno;
	} else {
		for (unsigned int i = fl->keep - 1; i >= 1; i--) {
			snprintf(from, sizeof(from), "%s.%u", fl->path, i);
			snprintf(to, sizeof(to), "%s.%u", fl->path, i + 1);
			if (rename(from, to) && errno != ENOENT && !err)
				err = -errno;
		}
		snprintf(to, sizeof(to), "%s.1", fl->path);
		if (rename(fl->path, to) && errno != ENOENT && !err)
			err = -errno;
	}
	if (err)
		pw_fl_logf(fl, PW_LOG_WARN, "flow log %s: rotation: %s", fl->path, strerror(-err));
	if (fl->fsync != PW_FLOWLOG_FSYNC_NONE)
		sync_dir(fl->path);
	fl->st.rotations++;
	return pw_fl_file_open(fl);
}

/* Buffered bytes to the file; the records stay counted as written or as write errors. */
static int wbuf_write(struct pw_flowlog *fl)
{
	struct iovec iov = {fl->wbuf, fl->wbuf_len};
	int err = 0;

	if (!fl->wbuf_len)
		return 0;
	if (fl->fd < 0 && !fl->is_stdout) {
		/* a failed rotation or reopen left no file; open counts its size afresh */
		err = pw_fl_file_open(fl);
		if (!err)
			fl->st.file_bytes += fl->wbuf_len;
	}
	if (!err)
		err = write_all(fl->fd, &iov, 1);
	if (err)
		/* records already counted in file_bytes never reached the file */
		fl->st.file_bytes -= fl->wbuf_len < fl->st.file_bytes ? fl->wbuf_len : 0;
	fl->wbuf_len = 0;
	fl->wbuf_recs = 0;
	return err;
}

static void write_result(struct pw_flowlog *fl, int err, uint64_t records)
{
	if (err) {
		fl->st.write_errors += records;
		if (!fl->write_failing)
			pw_fl_logf(fl, PW_LOG_ERROR,
				   "flow log %s: write failed: %s (records stay in memory; "
				   "failures are counted in write_errors)",
				   fl->is_stdout ? "stdout" : fl->path, strerror(-err));
		fl->write_failing = true;
	} else if (fl->write_failing) {
		pw_fl_logf(fl, PW_LOG_INFO, "flow log %s: writing again (%llu failed writes)",
			   fl->is_stdout ? "stdout" : fl->path,
			   (unsigned long long)fl->st.write_errors);
		fl->write_failing = false;
	}
}

int pw_fl_write_out(struct pw_flowlog *fl)
{
	uint64_t recs = fl->wbuf_recs;
	int err = wbuf_write(fl);

	if (recs)
		write_result(fl, err, recs);
	return err;
}

int pw_flowlog_flush_writes(struct pw_flowlog *fl)
{
	return fl ? pw_fl_write_out(fl) : 0;
}

static uint64_t coarse_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* One record to the file: rotation first when it would not fit, then buffered or written. */
static int file_write(struct pw_flowlog *fl, const char *line, size_t len)
{
	struct iovec iov[2] = {{(void *)line, len}, {(void *)"\n", 1}};
	bool buffered = fl->wbuf_cap && fl->fsync != PW_FLOWLOG_FSYNC_ALWAYS;
	int err = 0;

	if (fl->fd < 0 && !fl->is_stdout && !fl->wbuf_len) {
		/* a failed rotation or reopen left no file: try again on every record */
		err = pw_fl_file_open(fl);
		if (err) {
			write_result(fl, err, 1);
			return err;
		}
	}
	if (!fl->is_stdout && fl->max_bytes && fl->st.file_bytes &&
	    fl->st.file_bytes + len + 1 > fl->max_bytes) {
		/* what is buffered belongs in the file being closed */
		pw_fl_write_out(fl);
		err = fl->fd < 0 ? pw_fl_file_open(fl) : file_rotate(fl);
		if (err) {
			write_result(fl, err, 1);
			return err;
		}
	}
	if (buffered && len + 1 <= fl->wbuf_cap) {
		if (fl->wbuf_len + len + 1 > fl->wbuf_cap)
			pw_fl_write_out(fl);
		if (!fl->wbuf_len)
			fl->wbuf_since = coarse_now();
		memcpy(fl->wbuf + fl->wbuf_len, line, len);
		fl->wbuf[fl->wbuf_len + len] = '\n';
		fl->wbuf_len += len + 1;
		fl->wbuf_recs++;
		fl->st.file_bytes += len + 1;
		/* a quiet moment after a burst: the timer of the caller may be far */
		if (coarse_now() - fl->wbuf_since >= fl->write_delay_ns)
			pw_fl_write_out(fl);
		return 0; /* a failed buffered write is counted when it happens */
	}
	pw_fl_write_out(fl);
	if (fl->fd < 0 && !fl->is_stdout)
		err = pw_fl_file_open(fl);
	if (!err)
		err = write_all(fl->fd, iov, 2);
	if (!err) {
		fl->st.file_bytes += len + 1;
		if (fl->fsync == PW_FLOWLOG_FSYNC_ALWAYS && !fl->is_stdout && fsync(fl->fd))
			err = -errno;
	}
	write_result(fl, err, 1);
	return err;
}

/* The ring keeps each slot's buffer: a record costs a copy, not an allocation. */
static void ring_add(struct pw_flowlog *fl, const char *line, size_t len)
{
	size_t idx;
	struct ring_rec *r;

	if (fl->ring_len == fl->ring_cap) {
		idx = fl->ring_head;
		fl->ring_head = (fl->ring_head + 1) % fl->ring_cap;
	} else {
		idx = (fl->ring_head + fl->ring_len) % fl->ring_cap;
		fl->ring_len++;
	}
	r = &fl->ring[idx];
	if (r->cap < len + 1) {
		size_t cap = len + 1 < 1024 ? 1024 : len + 1;
		char *p = realloc(r->line, cap);

		if (!p) {
			/* history is best effort: the file and subscribers still got it */
			r->len = 0;
			if (r->line)
				r->line[0] = '\0';
			return;
		}
		r->line = p;
		r->cap = cap;
	}
	memcpy(r->line, line, len);
	r->line[len] = '\0';
	r->len = len;
}

static void subs_dispatch(struct pw_flowlog *fl, const char *line, size_t len)
{
	size_t i, j;

	fl->dispatching++;
	/* by index: a callback may subscribe (realloc) or unsubscribe */
	for (i = 0; i < fl->n_subs; i++) {
		if (fl->subs[i].fn)
			fl->subs[i].fn(fl->subs[i].ctx, line, len);
	}
	if (--fl->dispatching)
		return;
	for (i = j = 0; i < fl->n_subs; i++) {
		if (fl->subs[i].fn)
			fl->subs[j++] = fl->subs[i];
	}
	fl->n_subs = j;
}

/* line is NUL-terminated at len. Returns 0, or the file sink's -errno (ring and subs got it). */
int pw_fl_sink_line(struct pw_flowlog *fl, const char *line, size_t len)
{
	int err = 0;

	if (fl->fd >= 0 || fl->path)
		err = file_write(fl, line, len);
	ring_add(fl, line, len);
	if (fl->n_subs)
		subs_dispatch(fl, line, len);
	fl->st.records++;
	return err;
}

void pw_fl_sink_free(struct pw_flowlog *fl)
{
	pw_fl_write_out(fl);
	if (fl->fd >= 0 && !fl->is_stdout) {
		if (fl->fsync != PW_FLOWLOG_FSYNC_NONE)
			fsync(fl->fd);
		close(fl->fd);
	}
	for (size_t i = 0; i < fl->ring_cap; i++)
		free(fl->ring[i].line);
	free(fl->ring);
	free(fl->wbuf);
	free(fl->subs);
}

int pw_flowlog_sync(struct pw_flowlog *fl)
{
	int err = pw_fl_write_out(fl);

	if (fl->fd < 0 || fl->is_stdout)
		return err;
	return fsync(fl->fd) ? -errno : 0;
}

int pw_flowlog_reopen(struct pw_flowlog *fl)
{
	pw_fl_write_out(fl);
	if (!fl->path)
		return 0;
	if (fl->fd >= 0) {
		if (fl->fsync != PW_FLOWLOG_FSYNC_NONE)
			fsync(fl->fd);
		close(fl->fd);
		fl->fd = -1;
	}
	return pw_fl_file_open(fl);
}

/* --- live stream, history, stats ------------------------------------------------------------- */

int pw_flowlog_subscribe(struct pw_flowlog *fl, pw_flowlog_sub_fn fn, void *ctx)
{
	if (!fn)
		return -EINVAL;
	if (fl->n_subs == fl->cap_subs) {
		size_t cap = fl->cap_subs ? 2 * fl->cap_subs : 8;
		struct sub *s = realloc(fl->subs, cap * sizeof(*s));

		if (!s)
			return -ENOMEM;
		fl->subs = s;
		fl->cap_subs = cap;
	}
	if (fl->next_sub_id == INT_MAX)
		fl->next_sub_id = 1;
	fl->subs[fl->n_subs] = (struct sub){.id = fl->next_sub_id++, .fn = fn, .ctx = ctx};
	return fl->subs[fl->n_subs++].id;
}

int pw_flowlog_unsubscribe(struct pw_flowlog *fl, int id)
{
	for (size_t i = 0; i < fl->n_subs; i++) {
		if (fl->subs[i].id != id || !fl->subs[i].fn)
			continue;
		if (fl->dispatching) {
			fl->subs[i].fn = NULL; /* reaped when the dispatch ends */
		} else {
			memmove(&fl->subs[i], &fl->subs[i + 1],
				(fl->n_subs - i - 1) * sizeof(*fl->subs));
			fl->n_subs--;
		}
		return 0;
	}
	return -ENOENT;
}

int pw_flowlog_ring_foreach(const struct pw_flowlog *fl, pw_flowlog_ring_fn fn, void *ctx)
{
	for (size_t i = 0; i < fl->ring_len; i++) {
		const struct ring_rec *r = &fl->ring[(fl->ring_head + i) % fl->ring_cap];
		int ret = r->len ? fn(ctx, r->line, r->len) : 0;

		if (ret)
			return ret;
	}
	return 0;
}

json_object *pw_flowlog_recent(const struct pw_flowlog *fl, pw_flow_match_fn match,
			       const void *match_ctx, size_t limit)
{
	json_object *arr = json_object_new_array();
	json_object **keep = calloc(fl->ring_len ? fl->ring_len : 1, sizeof(*keep));
	size_t i = fl->ring_len, n = 0;

	if (!arr || !keep) {
		json_object_put(arr);
		free(keep);
		return NULL;
	}
	/* newest first until `limit` matched, then handed out oldest first */
	while (i-- > 0 && (!limit || n < limit)) {
		const struct ring_rec *r = &fl->ring[(fl->ring_head + i) % fl->ring_cap];
		json_object *rec = r->len ? json_tokener_parse(r->line) : NULL;

		if (!rec)
			continue;
		if (match && !match(match_ctx, rec)) {
			json_object_put(rec);
			continue;
		}
		keep[n++] = rec;
	}
	while (n-- > 0)
		json_object_array_add(arr, keep[n]);
	free(keep);
	return arr;
}
