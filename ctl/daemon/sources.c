// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwalld: the inputs that are not requests: manifest files of the --manifests
 * directory (one core source each, with their errors kept for status), and links coming and
 * going (pods' host-side interfaces).
 */
#define _GNU_SOURCE
#include "daemon.h"

/* --- manifests directory ------------------------------------------------------------------ */

static void srcerr_set(struct daemon *d, const char *path, json_object *diags)
{
	size_t i;

	for (i = 0; i < d->nsrcerrs; i++) {
		if (!strcmp(d->srcerrs[i].path, path))
			break;
	}
	if (i == d->nsrcerrs) {
		struct srcerr *v;

		if (!diags)
			return;
		v = realloc(d->srcerrs, (d->nsrcerrs + 1) * sizeof(*v));
		if (!v) {
			json_object_put(diags);
			return;
		}
		d->srcerrs = v;
		d->srcerrs[i].path = strdup(path);
		d->srcerrs[i].diags = NULL;
		d->nsrcerrs++;
	}
	json_object_put(d->srcerrs[i].diags);
	d->srcerrs[i].diags = diags;
	if (!diags) {
		free(d->srcerrs[i].path);
		d->srcerrs[i] = d->srcerrs[--d->nsrcerrs];
	}
}

static void source_sync(struct daemon *d, const char *path, bool removed)
{
	struct pw_diags diags = {0};
	struct pw_manifest empty = {0}, *m = NULL;
	struct snap *s = NULL;
	size_t n = 0;
	int err;

	if (!removed) {
		err = pw_parse_file(path, NULL, &m, &diags);
		if (err) {
			/* the last good state of this file stays enforced */
			log_diags(&diags, "manifests");
			if (!diags.n_errors)
				dlog(PW_LOG_ERROR, "manifests: %s: %s", path, strerror(-err));
			dlog(PW_LOG_ERROR,
			     "manifests: %s rejected; its last good version stays "
			     "enforced",
			     path);
			srcerr_set(d, path, diags_json(&diags, PW_DIAG_ERROR));
			goto out;
		}
		log_diags(&diags, "manifests");
		pw_diags_clear(&diags);
	}
	n = m ? m->n : 0;
	s = m ? snapshot(d, m, false) : NULL;
	err = pw_cp_sync_source(d->cp, path, m ? m : &empty, &diags);
	if (err) {
		log_diags(&diags, "manifests");
		dlog(PW_LOG_ERROR, "manifests: %s: %s; its last good version stays enforced", path,
		     strerror(-err));
		srcerr_set(d, path, diags.n ? diags_json(&diags, PW_DIAG_ERROR) : NULL);
		goto out;
	}
	srcerr_set(d, path, NULL);
	if (s)
		snap_commit(d, s, n, false);
	/* what the file held before is not at hand here: every namespace, listed when needed */
	pods_touch(d, NULL);
	if (removed)
		dlog(PW_LOG_INFO, "manifests: %s removed: its objects are gone", path);
	else
		dlog(PW_LOG_INFO, "manifests: %s synced (%zu object%s)", path, n,
		     n == 1 ? "" : "s");
out:
	snap_free(s, n);
	pw_manifest_free(m);
	pw_diags_clear(&diags);
}

void mdir_event(void *ctx, const char *path, enum pw_mdir_event ev)
{
	struct daemon *d = ctx;

	switch (ev) {
	case PW_MDIR_CHANGED:
		source_sync(d, path, false);
		break;
	case PW_MDIR_REMOVED:
		source_sync(d, path, true);
		break;
	case PW_MDIR_GONE:
		dlog(PW_LOG_WARN,
		     "manifests: directory %s was removed or moved; what it held stays "
		     "enforced, restart podwalld to watch a new one",
		     path);
		break;
	}
}

void mdir_ready(struct daemon *d, struct watch *w, uint32_t events)
{
	int err = pw_mdir_process(d->md);

	if (err)
		dlog(PW_LOG_ERROR, "manifests: %s", strerror(-err));
}

/* --- links -------------------------------------------------------------------------------- */

void link_event(void *ctx, const char *ifname, uint32_t ifindex)
{
	struct daemon *d = ctx;
	int err;

	dlog(PW_LOG_DEBUG, "link %s %s (ifindex %u)", ifname, ifindex ? "up" : "gone", ifindex);
	err = pw_cp_link_event(d->cp, ifname, ifindex);
	pw_flowlog_invalidate(d->fl);
	if (err)
		dlog(PW_LOG_ERROR, "link %s (ifindex %u): %s", ifname, ifindex, strerror(-err));
}

void links_ready(struct daemon *d, struct watch *w, uint32_t events)
{
	int err = pw_linkwatch_process(d->lw);

	if (err)
		dlog(PW_LOG_ERROR, "link notifications: %s", strerror(-err));
}
