// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * podwalld: SIGTERM/SIGINT stop the loop (enforcement stays); SIGHUP re-reads the
 * manifests directory.
 */
#define _GNU_SOURCE
#include "daemon.h"

/* --- signals ------------------------------------------------------------------------------- */

void sig_ready(struct daemon *d, struct watch *w, uint32_t events)
{
	struct signalfd_siginfo si;

	while (read(w->fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			dlog(PW_LOG_INFO, "%s: exiting; enforcement stays in place",
			     strsignal((int)si.ssi_signo));
			d->stop = true;
			break;
		case SIGHUP:
			dlog(PW_LOG_INFO, "SIGHUP: re-reading manifests, reopening the flow log");
			if (d->md) {
				int err = pw_mdir_scan(d->md);

				if (err)
					dlog(PW_LOG_ERROR, "manifests: rescan: %s", strerror(-err));
			}
			if (d->fl && pw_flowlog_reopen(d->fl))
				dlog(PW_LOG_ERROR, "flow log %s: cannot reopen: %s", d->flow_log,
				     strerror(errno));
			break;
		}
	}
}
