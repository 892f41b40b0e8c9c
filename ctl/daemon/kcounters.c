// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwalld: the kernel counters of records that never became records (no reader, lost
 * flow ends), persisted in the state directory so each loss is reported once across restarts.
 */
#define _GNU_SOURCE
#include "daemon.h"

/* --- records the kernel could not hand over ---------------------------------------------- */

/*
 * Two kernel counters stand for records that never became records: events the programs emitted
 * while no daemon read them (pw_dp_events_unread), and flow ends the datapath could not park
 * for the sweep (PW_METRIC_CT_END_LOST: one port pair ended more than PW_CT_PARK_SLOTS times
 * between two sweeps). Both keep counting while no daemon runs, so the daemon keeps each value
 * it has reported in the state directory, updated whenever it moves (a crash then reports
 * nothing twice) and, for the first, at exit after the rings were detached and drained. A
 * start reports the growth since: one `lost` record each.
 */
static int kcounter_load(const struct kcounter *c, uint64_t *v)
{
	char buf[32];
	ssize_t n;
	char *end;
	int fd = open(c->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EINVAL;
	buf[n] = '\0';
	errno = 0;
	*v = strtoull(buf, &end, 10);
	if (errno || end == buf || (*end && *end != '\n'))
		return -EINVAL;
	return 0;
}

static void kcounter_store(struct kcounter *c, uint64_t v)
{
	char tmp[PATH_MAX + 8], buf[32];
	int fd, len, err = 0;

	c->seen = v;
	if (!c->path[0] || (c->stored && v == c->saved))
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", c->path);
	len = snprintf(buf, sizeof(buf), "%llu\n", (unsigned long long)v);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		err = -errno;
	else if (!(err = pw_write_all(fd, buf, (size_t)len)) && fsync(fd))
		err = -errno;
	if (fd >= 0)
		close(fd);
	/* the rename is the commit: a crash leaves the old value whole */
	if (!err && rename(tmp, c->path))
		err = -errno;
	if (err) {
		unlink(tmp);
		dlog(PW_LOG_WARN, "state: cannot save %s: %s (the next start may misreport %s)",
		     c->path, strerror(-err), c->what);
		return;
	}
	c->saved = v;
	c->stored = true;
}

/* At start: the growth since the last daemon's report (0 when unknown, which is logged). */
static uint64_t kcounter_start(struct daemon *d, struct kcounter *c, uint64_t now)
{
	uint64_t prev = 0, grown = 0;
	int err = c->path[0] ? kcounter_load(c, &prev) : -ENOENT;

	if (!pw_dp_adopted(d->dp))
		grown = now; /* new maps: the counter started with them */
	else if (!err)
		grown = now >= prev ? now - prev : now; /* smaller: the maps were made again */
	else if (now)
		dlog(PW_LOG_WARN,
		     "%llu %s since the datapath's maps were created; with no record of the last "
		     "daemon's count (%s) the number new since then is unknown",
		     (unsigned long long)now, c->what, c->path[0] ? c->path : "no --state-dir");
	if (grown)
		dlog(PW_LOG_WARN, "%llu %s while no daemon ran", (unsigned long long)grown,
		     c->what);
	kcounter_store(c, now);
	return grown;
}

static int ct_end_lost_read(struct daemon *d, uint64_t *v)
{
	struct pw_metric m;
	int err = pw_dp_metric_read(d->dp, PW_METRIC_CT_END_LOST, &m);

	if (!err)
		*v = m.packets;
	return err;
}

void kcounters_start(struct daemon *d)
{
	uint64_t now, grown;

	if (!pw_dp_events_unread(d->dp, &now)) {
		grown = kcounter_start(d, &d->unread, now);
		if (grown)
			pw_flowlog_lost_unread(d->fl, grown);
	}
	if (!ct_end_lost_read(d, &now)) {
		grown = kcounter_start(d, &d->ct_end_lost, now);
		if (grown)
			pw_flowlog_lost_flow_ends(d->fl, grown);
	}
}

/* After a sweep: report flow ends lost since the last look; keep both files current. */
void kcounters_tick(struct daemon *d)
{
	uint64_t now;

	if (!pw_dp_events_unread(d->dp, &now))
		kcounter_store(&d->unread, now); /* its growth went through on_lost */
	if (!ct_end_lost_read(d, &now) && now > d->ct_end_lost.seen) {
		pw_flowlog_lost_flow_ends(d->fl, now - d->ct_end_lost.seen);
		kcounter_store(&d->ct_end_lost, now);
	}
}

/* At exit: detach the rings, drain them, then save the count the next start begins from. */
void kcounters_stop(struct daemon *d)
{
	uint64_t now;
	int err;

	if (!d->dp || !d->fl)
		return;
	err = pw_dp_events_close(d->dp);
	if (err)
		dlog(PW_LOG_ERROR, "closing the event reader: %s", strerror(-err));
	if (!pw_dp_events_unread(d->dp, &now))
		kcounter_store(&d->unread, now);
}
